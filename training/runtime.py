"""Where and how a study runs: device, ranks, tracking and the stop request.

The CLI builds one :class:`Runtime` per invocation and hands it to the experiment's
``run(config, out_dir, *, resume, runtime)``; called from Python without one, an experiment
runs in one process on ``auto`` (CUDA when available). Nothing here is global: signal
handlers are installed by :meth:`Runtime.catch_signals` for the duration of a run only.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.distributed import DistContext, single

__all__ = ["Runtime", "Interrupted", "ECHO_S"]

#: seconds after a stop request in which a repeated signal under torchrun is its echo, not a second request
ECHO_S = 5.0


class Interrupted(Exception):
    """The run stopped at a safe point after SIGINT/SIGTERM; its checkpoints are on disk."""


@dataclass
class Runtime:
    ctx: DistContext = field(default_factory=single)
    tensorboard: Path | None = None
    progress: bool = True
    _stop: list = field(default_factory=list)

    @property
    def device(self) -> str:
        return str(self.ctx.device)

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def record(self) -> dict:
        """What config.json notes about the runtime (not compared on resume)."""
        return {"device": self.device, "world_size": self.ctx.world_size}

    # -- training settings ------------------------------------------------------------------
    def train_config(self, cfg):
        """``cfg`` (a TrainConfig) on this runtime's device."""
        return dataclasses.replace(cfg, device=self.device)

    def logger(self, label: str):
        """A per-arm epoch logger (TensorBoard under ``tensorboard/label``), or None."""
        if self.tensorboard is None or not self.is_main:
            return None
        from training.tracking import TensorBoardLogger

        return TensorBoardLogger(Path(self.tensorboard) / label)

    # -- stopping ----------------------------------------------------------------------------
    def should_stop(self) -> bool:
        return bool(self._stop)

    def request_stop(self, signum=None, _frame=None) -> None:
        """Signal handler: the first signal requests a stop at the next safe point, a second
        one stops at once. Under torchrun a repeat within :data:`ECHO_S` of the first is the
        same request: the agent forwards every signal it gets to its workers, so a signal
        sent to the agent and its workers alike (``pkill``, a batch scheduler) arrives twice."""
        now = time.monotonic()
        if self._stop:
            if "TORCHELASTIC_RUN_ID" in os.environ and now - self._stop[0][1] < ECHO_S:
                return
            raise KeyboardInterrupt  # a second signal: stop now
        self._stop.append((signum, now))
        if self.is_main:
            print("\n[onnsim] stopping at the next safe point (a second Ctrl-C stops at once)", flush=True)

    def catch_signals(self):
        """Context manager: SIGINT/SIGTERM request a stop at the next safe point."""
        rt = self

        class _Catch:
            def __enter__(self):
                self.old = {s: signal.signal(s, rt.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
                return rt

            def __exit__(self, *exc):
                for s, h in self.old.items():
                    signal.signal(s, h)
                return False

        return _Catch()

    def check_stop(self) -> None:
        """Raise :class:`Interrupted` if a stop was requested (call between units of work)."""
        if self.ctx.broadcast(self.should_stop()):
            raise Interrupted()
