"""Deployment rounds with recalibration (training/recalibration.py): query accounting in closed
form, and what each strategy changes (an in-process physical system stands in for the device)."""

import pytest
import torch
from _synthetic import mesh_task, synthetic_images

from hardware import PhysicalSystem
from training import Deployment, TrainConfig, Trainer, deploy


def _setup(method="pat"):
    task = mesh_task(seed=2)
    device = PhysicalSystem(task.device_model, preset="bs=0.1,ps=0.1", seed=3)
    trainer = Trainer(task, TrainConfig(method=method, batch_size=20, lr=1e-2, device="cpu"), physical=device)
    x, y = synthetic_images(120, seed=5)
    xt, yt = synthetic_images(40, seed=6)
    return task, trainer, device, (x, y, xt, yt)


def _phases(task):
    return torch.cat([p.detach().reshape(-1).clone() for p in task.device_model.parameters()])


# recalibration queries per round: adapt every round; a fine-tune once finetune_every (1) queries
# have passed since deployment began, i.e. from the second round on
@pytest.mark.parametrize("strategy, per_round", [(None, [0] * 4), ("adapt", [2] * 4), ("finetune", [0, 3, 3, 3])])
def test_every_round_spends_its_queries_and_recalibration_is_counted(strategy, per_round):
    task, trainer, device, data = _setup()
    before, q0 = _phases(task), device.queries
    # a PAT step measures one batch (one query)
    plan = Deployment(rounds=4, round_queries=5, strategy=strategy, adapt_steps=2, finetune_every=1,
                      finetune_steps=3, learning_rate=1e-2, batch_size=10, seed=7)
    r = deploy(task, trainer, device, *data, plan)
    # one evaluation before the rounds and one after each (a single batch: one query each)
    assert device.queries == q0 + 1 + plan.rounds * (plan.round_queries + 1)
    assert r["recalibration_queries"] == sum(per_round)
    assert [c["queries"] for c in r["curve"]] == [q0 + 1 + k * (plan.round_queries + 1) for k in range(plan.rounds + 1)]
    assert [c["recalibration_queries"] for c in r["curve"]] == [sum(per_round[:k]) for k in range(plan.rounds + 1)]
    accs = [c["accuracy"] for c in r["curve"]]
    assert r["static_accuracy"] == accs[0] and r["final_accuracy"] == accs[-1] and r["min_accuracy"] == min(accs)
    assert r["late_accuracy"] == pytest.approx(accs[-1])  # the last quarter of 4 rounds is the last round
    changed = not torch.equal(_phases(task), before)
    assert changed == (strategy is not None)  # only recalibration trains; traffic never does


def test_finetune_waits_for_its_query_interval():
    task, trainer, device, data = _setup()
    # 5 queries of traffic + 1 evaluation per round; the interval counts from the end of the last
    # fine-tune (or the first evaluation): 12 queries have passed at the start of round 3
    # (2 × 6), then 2 steps, and again at round 6 (16 since then), not at round 5 (10)
    plan = Deployment(rounds=6, round_queries=5, strategy="finetune", finetune_every=12, finetune_steps=2,
                      batch_size=10)
    r = deploy(task, trainer, device, *data, plan)
    steps = [b["recalibration_queries"] - a["recalibration_queries"] for a, b in zip(r["curve"], r["curve"][1:])]
    assert steps == [0, 0, 2, 0, 0, 2]


@pytest.mark.parametrize("kw", [dict(strategy="retrain"), dict(rounds=0), dict(strategy="adapt", adapt_steps=5),
                                dict(strategy="finetune", finetune_steps=0)])
def test_bad_plans_are_refused(kw):
    with pytest.raises(ValueError):
        Deployment(**({"rounds": 2, "round_queries": 5} | kw))
