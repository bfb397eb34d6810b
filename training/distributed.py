"""Devices and data parallelism on ``torch.distributed`` (gloo on CPU, NCCL on CUDA).

One process trains alone unless it was started by ``torchrun`` (the ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` variables torchrun sets; see
https://pytorch.org/docs/stable/elastic/run.html). Then :func:`init` joins the process group
and every rank trains the same model on a shard of every *global* batch:

* the global batches come from the same seeded permutation as in one process, and rank ``r``
  of ``W`` takes ``torch.tensor_split(batch, W)[r]`` (:func:`DistContext.shard`): one process
  and ``W`` processes see the same global batches;
* every rank scales its mean loss by ``n_local / n_global`` (:meth:`DistContext.loss_scale`)
  and the gradients are summed over ranks (:meth:`DistContext.all_reduce_grads`), so the
  optimiser sees the gradient of the global-batch mean, as in one process (up to the float
  summation order);
* metrics are sums reduced over ranks; only rank 0 writes files.

The gradient all-reduce is written out instead of wrapping the model in
``DistributedDataParallel``: the training methods run the model several times per step
(measurement, SEPN update, fused task pass) through hooks, which DDP's one-forward-one-backward
contract does not cover. With one process every collective is skipped, so a CPU run is bit
for bit what it was before this module existed.

A rank ends with :func:`exit_process` (``os._exit`` once its own cleanup has run), not through
interpreter teardown: see there for the abort that teardown can cause.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass
from typing import NoReturn

import torch

__all__ = ["DistContext", "resolve_device", "init", "single", "exit_process"]

_JOINED = False  # set by init() when this process is one rank of several


def resolve_device(spec: str | torch.device | None = "auto", *, local_rank: int = 0) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Under torchrun, ``"auto"``/``"cuda"`` mean the GPU of the local rank (``cuda:LOCAL_RANK``).
    Raises a clear ``ValueError`` for anything else, or for CUDA on a machine without it.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "auto" if spec is None else str(spec).strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} asked for, but CUDA is not available here "
                             "(use --device cpu or auto)")
        index = local_rank if spec == "cuda" else int(spec[5:])
        if index >= torch.cuda.device_count():
            raise ValueError(f"device cuda:{index} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` ranks and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes checkpoints, records and figures."""
        return self.rank == 0

    # -- data ----------------------------------------------------------------------------
    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch: contiguous, sizes differ by at most one."""
        if not self.distributed:
            return indices
        return torch.tensor_split(indices, self.world_size)[self.rank]

    def loss_scale(self, n_local: int, n_global: int) -> float | None:
        """Factor turning a local mean loss into this rank's share of the global mean
        (``None`` in one process: leave the loss untouched)."""
        return n_local / n_global if self.distributed else None

    # -- collectives (no-ops in one process) ---------------------------------------------
    def all_reduce_grads(self, params) -> None:
        """Sum the gradients of ``params`` over ranks (a missing gradient counts as zero)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        params = [p for p in params if p.requires_grad]
        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) if not g.is_complex() else torch.view_as_real(g).reshape(-1)
                          for g in grads])
        dist.all_reduce(flat)
        i = 0
        for g in grads:
            view = torch.view_as_real(g) if g.is_complex() else g
            n = view.numel()
            view.copy_(flat[i:i + n].view_as(view))
            i += n

    def sum(self, values):
        """Sum of a number, a list of numbers or a tensor over ranks (float64 on the wire)."""
        return self._reduce(values, "sum")

    def max(self, values):
        return self._reduce(values, "max")

    def _reduce(self, values, op: str):
        if not self.distributed:
            return values
        import torch.distributed as dist

        is_tensor = isinstance(values, torch.Tensor)
        t = (values.detach().to(self.device, torch.float64) if is_tensor
             else torch.tensor(values, dtype=torch.float64, device=self.device))
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
        if is_tensor:
            return t.to(values.dtype).cpu() if values.device.type == "cpu" else t.to(values.dtype)
        out = t.tolist()
        if isinstance(values, int):
            return int(round(out))
        if isinstance(values, (list, tuple)) and all(isinstance(v, int) for v in values):
            return [int(round(v)) for v in out]
        return out

    def gather(self, obj) -> list:
        """Every rank's ``obj`` (picklable, small), in rank order."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group (no collective: safe when another rank has died). A rank
        that exits with its gloo group alive can abort in the group's destructor ("terminate
        called without an active exception"), failing a finished run."""
        if self.distributed:
            _leave_group()


def _leave_group() -> None:
    """Destroy this process's group at exit if it is still alive (see :meth:`DistContext.close`):
    without it, a worker that simply returns can abort in the gloo group's destructor."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def single(device: str | torch.device | None = "auto") -> DistContext:
    """A one-process context on ``device`` (see :func:`resolve_device`)."""
    return DistContext(device=resolve_device(device))


def init(device: str | torch.device | None = "auto", *, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group that torchrun describes in the environment, or return a
    one-process context when there is none (``WORLD_SIZE`` unset or 1).

    The backend is NCCL when the device is CUDA and gloo otherwise. Idempotent: a group that
    is already initialised is reused.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return single(device)
    import datetime

    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device, local_rank=local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
        atexit.register(_leave_group)  # every process that joins leaves before interpreter teardown
    global _JOINED
    _JOINED = True
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def exit_process(code: int = 0) -> NoReturn:
    """End this process with exit status ``code``: ``sys.exit`` in one process; a rank of a
    distributed run (:func:`init` joined a group) ends without interpreter teardown.

    Why: gloo runs every collective on its own C++ worker threads, and a worker can hold the
    last reference to a finished collective's tensors for a moment after the caller has moved
    on (a barrier's work keeps the all-reduces queued before it). When it lets go of a tensor
    whose Python object is gone, it takes the GIL to free that object. If the main thread has
    meanwhile reached interpreter teardown (``Py_FinalizeEx``), Python ends the worker thread
    inside C++ code (``pthread_exit``), the unwinding hits a ``noexcept`` frame, and the rank
    aborts with SIGABRT, "terminate called without an active exception": a finished run then
    fails under torchrun. A core dump of such a rank showed exactly this stack
    (``ProcessGroupGloo::runLoop`` → ``~AsyncBarrierWork`` → ``~AsyncAllreduceWork`` →
    ``TensorImpl::decref_pyobject`` → ``take_gil`` → ``PyThread_exit_thread``). Destroying the
    process group does not stop gloo's threads, so only skipping teardown avoids the race.

    So a rank does its own cleanup and then ``os._exit``, as Python's ``multiprocessing``
    ends its child processes: non-daemon threads are joined, the ``atexit`` handlers run
    (they leave the process group), stdout and stderr are flushed. Files must be closed by
    then: every record of a run is written and closed before this point.
    """
    if not _JOINED:
        sys.exit(code)
    _exit_without_teardown(code)


def _exit_without_teardown(code: int) -> NoReturn:
    """Join non-daemon threads, run the atexit handlers, flush stdout/stderr, ``os._exit(code)``."""
    try:
        main = threading.main_thread()
        for t in threading.enumerate():
            if t is not main and not t.daemon:
                t.join()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):  # closed or replaced by the caller
                pass
        os._exit(code)
