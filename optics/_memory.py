"""Transparent huge pages for large CPU tensors.

Every CPU tensor of 2 MiB or more that torch allocates from fresh memory costs one page fault
per 4 KiB page on first touch: 16,384 faults for one 512 × 512 × 32 complex64 field. Above
glibc's largest reuse threshold (32 MiB) that is every call, not only the first. Backed by
transparent huge pages (THP, 2 MiB), the same tensor takes 32 faults.

torch's CPU allocator does this when the environment variable ``THP_MEM_ALLOC_ENABLE`` is 1:
it aligns allocations of ≥ 2 MiB to pages and advises the kernel to use huge pages for them
(``madvise(MADV_HUGEPAGE)``; PyTorch ``c10/core/impl/alloc_cpu.cpp``). torch reads the
variable once, at the process's first allocation, so it has to be set before that:

* ``python -m experiments run`` re-executes itself once with ``THP_MEM_ALLOC_ENABLE=1`` unless
  the variable is set (as it does for OpenMP's spin count; ``experiments/__main__.py``);
* a script calls :func:`use_huge_pages` before it creates its first tensor, or sets the
  variable in its environment. Importing :mod:`optics` sets nothing.

``THP_MEM_ALLOC_ENABLE=0`` keeps 4 KiB pages. Only where a tensor lives changes, never a
value: results are bit-identical either way (tests/optics/test_huge_pages.py).

Measured on the 2-core machine (bench/huge_pages.py; docs/performance.md): see the section
"Large tensors on transparent huge pages" there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["ENV", "use_huge_pages", "huge_pages", "kernel_mode"]

ENV = "THP_MEM_ALLOC_ENABLE"
_SYSFS = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def use_huge_pages() -> bool:
    """Ask torch to put CPU tensors of ≥ 2 MiB on transparent huge pages (``THP_MEM_ALLOC_ENABLE=1``)
    unless the environment already decides; returns :func:`huge_pages`. Effective only when
    called before the process allocates its first tensor (torch reads the variable then)."""
    if sys.platform.startswith("linux"):
        os.environ.setdefault(ENV, "1")
    return huge_pages()


def kernel_mode() -> str | None:
    """The kernel's THP mode (``always``, ``madvise`` or ``never``), None where it has none."""
    try:
        text = _SYSFS.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def huge_pages() -> bool:
    """Whether large CPU tensors of this process are on transparent huge pages: torch's THP
    allocation is on (its allocations of ≥ 2 MiB start on a page boundary, which they do not
    otherwise) and the kernel grants huge pages on request."""
    import torch

    if kernel_mode() not in ("always", "madvise"):
        return False
    probes = [torch.empty((2 << 20) + k * 4096, dtype=torch.uint8) for k in range(3)]
    return all(p.data_ptr() % 4096 == 0 for p in probes)
