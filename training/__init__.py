"""onnsim.training — data, losses, metrics and training loops (ideal, noise-aware, PAT, DAT),
SEPNs and digital baselines.

Not built yet: see the training issue. Depends on ``optics``, ``photonics`` and ``hardware``.
"""

__all__: list[str] = []
