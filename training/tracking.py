"""Optional experiment tracking: per-epoch scalars to TensorBoard.

``TensorBoardLogger(dir)`` is a callable for :class:`training.Trainer`'s ``logger=``; every
numeric entry of an epoch record (loss, validation metrics, learning rate) becomes a scalar
at step ``epoch``. TensorBoard is not a dependency of onnsim: without the ``tensorboard``
package the constructor raises a clear error saying how to install it.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["TensorBoardLogger", "require_tensorboard"]


def require_tensorboard() -> None:
    """Raise a clear ``RuntimeError`` unless TensorBoard logging is possible."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise RuntimeError("--tensorboard needs the tensorboard package: pip install tensorboard "
                           "(or install onnsim with the 'track' extra)") from None


class TensorBoardLogger:
    """Write epoch records as TensorBoard scalars under ``log_dir``."""

    def __init__(self, log_dir):
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter
        self.log_dir = Path(log_dir)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def __call__(self, record: dict) -> None:
        step = int(record.get("epoch", 0))
        for k, v in record.items():
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                self._writer.add_scalar(k, v, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
