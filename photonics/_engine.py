"""Column engine of the MZI meshes: a reference path and a fast matrix path.

Input: per-column 2×2 blocks ``t`` of shape ``(L, P, 2, 2)`` on ``n_pad = 2P`` modes; column
``l`` couples the pairs ``(2m + l % 2, 2m + l % 2 + 1) mod n_pad`` (the last pair of odd
columns wraps to ``(n_pad - 1, 0)``). The whole mesh is ``C_{L-1} ... C_1 C_0``.

* :func:`apply_columns` (reference): applies the columns one after the other to a state
  ``(n_pad, K)``, each column as vectorised 2×2 arithmetic on all its pairs.
* :func:`columns_matrix` (fast): builds the ``n_pad × n_pad`` matrix with few, large ops:
  pairs of columns are multiplied in closed form into banded "window" blocks, blocks are
  doubled (k columns -> 2k columns) a few times in that banded form, folded into dense
  matrices and multiplied as a binary tree with batched matmuls. The number of sequential
  torch ops is O(log L) instead of O(L), which is what dominates on CPU. Both are plain
  differentiable torch code and are tested against each other.

Window form of a block of ``k`` columns (``k`` even, first column even): its rows come in
the odd pairs ``(2m+1, 2m+2)``; pair ``m`` is nonzero only in columns
``2m + 2 - k + w`` (``w = 0 .. 2k-1``, mod ``n_pad``), stored as ``W[m, i, w]``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

_MAX_WINDOW_COLUMNS = 8  # doubling stops at blocks of this many columns, then dense tree


def apply_columns(state: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Reference: apply the columns ``t`` ``(L, P, 2, 2)`` to ``state`` ``(2P, K)``."""
    n_pad, k = state.shape
    pairs = n_pad // 2
    for col in range(t.shape[0]):
        odd = col % 2
        if odd:
            state = torch.roll(state, -1, dims=0)  # pair m is now rows (2m, 2m+1)
        x = state.reshape(pairs, 1, 2, k)
        blk = t[col].unsqueeze(-1)  # (P, 2, 2, 1)
        state = (blk[:, :, 0:1] * x[:, :, 0:1] + blk[:, :, 1:2] * x[:, :, 1:2]).reshape(n_pad, k)
        if odd:
            state = torch.roll(state, 1, dims=0)
    return state


@lru_cache(maxsize=64)
def _gather_index(pairs: int, k: int, device: str) -> torch.Tensor:
    """Index that expands a window block B (k columns) into ``Bext[m, w, v]``: the rows of B
    that pair ``m`` of the next block reads, placed in the doubled window ``v < 4k``."""
    w = torch.arange(2 * k)[:, None]
    v = torch.arange(4 * k)[None, :]
    m = torch.arange(pairs)[:, None, None]
    odd = w % 2
    # row 2m+2-k+w of B: even w -> pair m+(w-k)/2, second row; odd w -> pair m+(w-k+1)/2, first
    pair = (m + torch.where(odd == 1, (w - k + 1) // 2, (w - k) // 2)) % pairs
    row = 1 - odd
    col = v - w - odd
    flat = (pair * 2 + row) * (2 * k) + col
    valid = ((col >= 0) & (col < 2 * k)).expand(pairs, -1, -1)
    return torch.where(valid, flat, pairs * 4 * k).flatten().to(device)  # last index: a zero


@lru_cache(maxsize=64)
def _fold_index(pairs: int, k: int, device: str) -> torch.Tensor:
    """Flat dense positions ``row * n_pad + col`` of the window entries ``W[m, i, w]``."""
    n_pad = 2 * pairs
    m = torch.arange(pairs)[:, None, None]
    i = torch.arange(2)[None, :, None]
    w = torch.arange(2 * k)[None, None, :]
    rows = (2 * m + 1 + i) % n_pad
    cols = (2 * m + 2 - k + w) % n_pad
    return (rows * n_pad + cols).flatten().to(device)


def _tree_product(mats: torch.Tensor) -> torch.Tensor:
    """``mats[-1] @ ... @ mats[1] @ mats[0]`` by pairwise batched matmuls (power-of-two count)."""
    while mats.shape[0] > 1:
        earlier, later = mats.unflatten(0, (-1, 2)).unbind(1)
        mats = torch.matmul(later, earlier)
    return mats[0]


def _plan(n_cols: int, pairs: int) -> tuple[int, int]:
    """(k_final, padded column count): blocks of ``k_final`` columns, a power-of-two count."""
    k_final = 2
    while k_final < _MAX_WINDOW_COLUMNS and 8 * k_final <= 2 * pairs and 2 * k_final <= n_cols:
        k_final *= 2
    blocks = 1
    while blocks * k_final < n_cols:
        blocks *= 2
    return k_final, blocks * k_final


def _pad_columns(t: torch.Tensor, total: int) -> torch.Tensor:
    extra = total - t.shape[0]
    if not extra:
        return t
    eye = torch.eye(2, dtype=t.dtype, device=t.device).expand(extra, t.shape[1], 2, 2)
    return torch.cat([t, eye])


def _two_column_windows(even: torch.Tensor, odd: torch.Tensor):
    """Closed form of (odd column) @ (even column) in window form ``(nb, P, 2, 4)``: row 2m+1
    of the even column is even[m][1, :] on columns (2m, 2m+1), row 2m+2 is even[m+1][0, :]
    on columns (2m+2, 2m+3)."""
    nxt = torch.roll(even[:, :, 0, :], -1, dims=1)  # (nb, P, 2)
    win = torch.cat([odd[..., :, 0:1] * even[:, :, 1:2, :], odd[..., :, 1:2] * nxt.unsqueeze(-2)], dim=-1)
    return win


def columns_matrix(t: torch.Tensor) -> torch.Tensor:
    """Fast path: the ``(2P, 2P)`` matrix ``C_{L-1} ... C_0`` of the columns ``t`` ``(L, P, 2, 2)``.

    Plain differentiable torch ops. (A hand-written backward for the whole build was tried
    and measured no faster: the cost is the small batched matmuls, not autograd bookkeeping.)
    """
    n_cols, pairs = t.shape[:2]
    n_pad = 2 * pairs
    device = str(t.device)
    k_final, total = _plan(n_cols, pairs)
    even, odd = _pad_columns(t, total).unflatten(0, (-1, 2)).unbind(1)
    win = _two_column_windows(even, odd)
    k = 2
    while k < k_final:
        earlier, later = win.unflatten(0, (-1, 2)).unbind(1)
        nb = earlier.shape[0]
        flat = torch.cat([earlier.reshape(nb, -1), earlier.new_zeros(nb, 1)], dim=1)
        ext = torch.index_select(flat, 1, _gather_index(pairs, k, device)).view(nb, pairs, 2 * k, 4 * k)
        win = torch.matmul(later, ext)  # (nb, P, 2, 4k)
        k *= 2
    nb = win.shape[0]
    dense = win.new_zeros(nb, n_pad * n_pad)
    dense = dense.index_add(1, _fold_index(pairs, k, device), win.reshape(nb, -1))
    return _tree_product(dense.view(nb, n_pad, n_pad))


