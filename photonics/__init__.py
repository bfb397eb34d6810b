"""onnsim.photonics — guided-wave meshes acting on complex mode vectors ``(*batch, n_modes)``."""

__all__: list[str] = []
