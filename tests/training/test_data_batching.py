"""Splits, subsets and batches: deterministic given the generator, complete, disjoint."""

from __future__ import annotations

import pytest
import torch

from training import iterate_batches, subset, train_val_split


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_train_val_split_is_a_deterministic_partition():
    tr, va = train_val_split(1000, 0.1, generator=_gen(1))
    assert len(va) == 100 and len(tr) == 900
    assert torch.equal(torch.cat([tr, va]).sort().values, torch.arange(1000))
    assert torch.equal(tr, tr.sort().values) and torch.equal(va, va.sort().values)
    tr2, va2 = train_val_split(1000, 0.1, generator=_gen(1))
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    assert not torch.equal(va, train_val_split(1000, 0.1, generator=_gen(2))[1])
    assert len(train_val_split(10, 0.0, generator=_gen())[1]) == 0


def test_train_val_split_errors():
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \[0, 1\)"):
        train_val_split(10, 1.0, generator=_gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        train_val_split(10, 0.1, generator=0)
    with pytest.raises(TypeError, match="generator"):
        train_val_split(10, 0.1)  # keyword-only and required


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_iterate_batches_in_order(drop_last, sizes):
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    batches = list(iterate_batches(x, y, batch_size=4, shuffle=False, drop_last=drop_last))
    assert [len(b[1]) for b in batches] == sizes
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.arange(sum(sizes)))
    assert all(torch.equal(bx[:, 0].long(), by) for bx, by in batches)


def test_iterate_batches_shuffled_is_a_permutation_fixed_by_the_generator():
    x, y = torch.arange(23.0) * 2, torch.arange(23)
    runs = [list(iterate_batches(x, y, batch_size=5, shuffle=True, generator=_gen(7))) for _ in range(2)]
    order = torch.cat([b[1] for b in runs[0]])
    assert torch.equal(order, torch.cat([b[1] for b in runs[1]]))
    assert not torch.equal(order, torch.arange(23)) and torch.equal(order.sort().values, torch.arange(23))
    assert all(torch.equal(bx, by * 2.0) for bx, by in runs[0])
    (single,) = next(iterate_batches(x, batch_size=3, shuffle=False))
    assert torch.equal(single, x[:3])


def test_iterate_batches_errors():
    with pytest.raises(ValueError, match="explicit generator"):
        next(iterate_batches(torch.zeros(3), batch_size=2, shuffle=True))
    with pytest.raises(ValueError, match=r"share their first dimension, got \[3, 4\]"):
        next(iterate_batches(torch.zeros(3), torch.zeros(4), batch_size=2, shuffle=False))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        next(iterate_batches(torch.zeros(3), batch_size=0, shuffle=False))


def test_stratified_subset_keeps_class_proportions():
    labels = torch.repeat_interleave(torch.arange(4), torch.tensor([50, 30, 15, 5]))
    images = torch.arange(100.0)[:, None].expand(100, 3)
    x, y = subset(images, labels, 20, generator=_gen(3))
    assert y.bincount().tolist() == [10, 6, 3, 1]
    assert torch.equal(labels[x[:, 0].long()], y)  # rows stay paired
    assert torch.equal(x[:, 0], x[:, 0].sort().values) and len(x[:, 0].unique()) == 20
    # largest remainder: 7 of [50, 30, 15, 5] -> quotas 3.5, 2.1, 1.05, 0.35 -> [4, 2, 1, 0]
    assert subset(images, labels, 7, generator=_gen(3))[1].bincount(minlength=4).tolist() == [4, 2, 1, 0]
    again = subset(images, labels, 20, generator=_gen(3))
    assert torch.equal(again[0], x)


def test_random_subset_and_errors():
    labels = torch.arange(50) % 5
    images = torch.arange(50)
    x, y = subset(images, labels, 12, generator=_gen(), stratified=False)
    assert len(x) == 12 and len(x.unique()) == 12 and torch.equal(y, labels[x])
    with pytest.raises(ValueError, match="n = 51 exceeds the 50 samples"):
        subset(images, labels, 51, generator=_gen())
    with pytest.raises(ValueError, match="with N = 50 labels"):
        subset(images[:10], labels, 5, generator=_gen())
