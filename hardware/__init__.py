"""onnsim.hardware — simulated physical systems with systematic errors (error models, frozen
realizations, ``PhysicalSystem``, device specs, fabrication export, FDTD bridge).

Not built yet: see the hardware, export and FDTD issues. Depends on ``optics`` and ``photonics``.
"""

__all__: list[str] = []
