"""DAT's SEPN schedule: the correction weight's warm-up and linear ramp, and the SEPN learning
rate's own decay factor (TrainConfig.sepn_ramp_epochs, sepn_lr_gamma)."""

import pytest
import torch

from hardware import PhysicalSystem
from training import TrainConfig, Trainer

from _synthetic import frozen_dat_trainer, mesh_task, pnn_gradient, synthetic_images


def _trainer(**kw):
    task = mesh_task(modes=16, meshes=2)
    cfg = TrainConfig(**{"method": "dat", "batch_size": 50, "lr": 1e-2, "sepn_features": (2, 2, 2), **kw})
    return Trainer(task, cfg, physical=PhysicalSystem(task.model, preset="bs=0.06,ps=0.06", seed=1))


IMAGES, LABELS = synthetic_images(16, seed=5)


def _frozen_trainer(**kw):
    """:func:`frozen_dat_trainer` with its SEPNs drawn at random (the output conv starts at zero)."""
    t = frozen_dat_trainer(**kw)
    _draw(t.sepns.parameters(), torch.Generator().manual_seed(0))
    return t


def _draw(params, gen):
    with torch.no_grad():
        for p in params:
            p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))


@pytest.mark.parametrize("warmup, ramp, expected", [
    (3, 4, [0, 0, 0, 0.25, 0.5, 0.75, 1, 1]),  # k/R in the k-th epoch after the warm-up
    (2, 0, [0, 0, 1, 1, 1, 1, 1, 1]),  # no ramp: the reference code's jump
    (2, 1, [0, 0, 1, 1, 1, 1, 1, 1]),
    (0, 2, [0.5, 1, 1, 1, 1, 1, 1, 1]),
])
def test_sepn_weight_per_epoch(warmup, ramp, expected):
    t = _trainer(dat_warmup_epochs=warmup, sepn_ramp_epochs=ramp)
    assert [t.sepn_weight(e) for e in range(8)] == expected


def _pnn_gradient(*, warmup, ramp, epoch, out_scale):
    """The PNN gradient of one ``dat`` step with every SEPN's linear output conv scaled by
    ``out_scale``."""
    t = _frozen_trainer(dat_warmup_epochs=warmup, sepn_ramp_epochs=ramp)
    with torch.no_grad():
        for sepn in t.sepns:
            sepn.out.weight.mul_(out_scale)
            sepn.out.bias.mul_(out_scale)
    t.epoch = epoch
    return pnn_gradient(t, IMAGES, LABELS)


def test_the_task_step_adds_the_ramped_fraction_of_the_sepn_correction():
    """Halfway up the ramp (w = 1/2) a step's PNN gradient is that of w = 1 with every SEPN's
    (linear) output conv halved: the task step adds ½·SEPN(z). (``carry`` without joint: the PNN
    gradient comes from the task step alone.)"""
    ramped = _pnn_gradient(warmup=1, ramp=2, epoch=1, out_scale=1.0)
    halved = _pnn_gradient(warmup=0, ramp=0, epoch=0, out_scale=0.5)
    full = _pnn_gradient(warmup=0, ramp=0, epoch=0, out_scale=1.0)
    for a, b in zip(ramped, halved):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)
    assert max(float((a - b).abs().max()) for a, b in zip(ramped, full)) > 1e-4  # w matters at this size


@pytest.mark.parametrize("sepn_gamma, sepn_rates", [(None, [1e-3, 5e-4, 2.5e-4]), (1.0, [1e-3, 1e-3, 1e-3]),
                                                    (0.25, [1e-3, 2.5e-4, 6.25e-5])])
def test_the_sepn_rate_decays_by_its_own_factor_and_the_history_records_it(sepn_gamma, sepn_rates):
    t = _trainer(epochs=3, lr_step_epochs=1, sepn_lr=1e-3, sepn_lr_gamma=sepn_gamma, dat_warmup_epochs=1,
                 sepn_ramp_epochs=2)
    images, labels = synthetic_images(120, seed=5)
    hist = t.fit(images, labels, progress=False)["history"]
    assert [h["lr"] for h in hist] == pytest.approx([1e-2, 5e-3, 2.5e-3], rel=1e-12)  # lr_gamma 0.5 throughout
    assert [h["sepn_lr"] for h in hist] == pytest.approx(sepn_rates, rel=1e-12)
    assert [h["sepn_weight"] for h in hist] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("kw, msg", [(dict(sepn_ramp_epochs=-1), "sepn_ramp_epochs must be an int ≥ 0"),
                                     (dict(sepn_ramp_epochs=1.5), "sepn_ramp_epochs must be an int ≥ 0"),
                                     (dict(sepn_lr_gamma=0.0), "sepn_lr_gamma must be None or a finite number > 0"),
                                     (dict(sepn_lr_gamma=float("nan")), "sepn_lr_gamma must be None")])
def test_bad_schedule_settings_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TrainConfig(method="dat", **kw)


def _gradient_moves(sepn_layers, layer):
    """Whether a step's PNN gradient changes when the SEPN of ``layer`` is redrawn (w = 1)."""
    t = _frozen_trainer(sepn_layers=sepn_layers)
    gen = torch.Generator().manual_seed(1)
    grads = []
    for _ in range(2):
        _draw(t.sepns[layer].parameters(), gen)
        grads.append(torch.cat([g.flatten() for g in pnn_gradient(t, IMAGES, LABELS)]))
    return float((grads[0] - grads[1]).abs().max()) > 1e-8


def test_sepn_layers_last_corrects_only_the_output():
    assert _gradient_moves("all", 0) and _gradient_moves("all", 1)
    assert not _gradient_moves("last", 0)  # the inner SEPN takes no part
    assert _gradient_moves("last", 1)
    with pytest.raises(ValueError, match="sepn_layers must be 'all' or 'last'"):
        TrainConfig(method="dat", sepn_layers="inner")


def test_reference_rule_without_the_joint_leak_drops_exactly_the_similarity_gradient():
    """Under the reference rule the PNN gradient of a step is task + similarity (the joint leak);
    with ``reference_joint=False`` the similarity part is gone: the difference of the two is the
    similarity loss's own PNN gradient, computed here by hand (float64, optimizers frozen)."""
    from training.losses import reference_similarity_loss

    def trainer(leak):
        return _frozen_trainer(dat_fusion="reference", reference_joint=leak, internal_states=True)

    with_leak, without = (pnn_gradient(trainer(leak), IMAGES, LABELS) for leak in (True, False))
    t = trainer(True)
    x = t.task.encode(IMAGES)
    t._program()
    reading, taps = t.physical.measure(x, internal_states=True)
    measured = list(taps[:-1]) + [reading.reshape(taps[-1].shape)]
    _, states = t.task.numeric(x, hook=t._sepn_hook(1.0))
    sim = reference_similarity_loss(t.task, [t.task.intensity(s) for s in states], measured)
    by_hand = torch.autograd.grad(sim, t.task.pnn_parameters(), allow_unused=True)
    for a, b, g in zip(with_leak, without, by_hand):
        torch.testing.assert_close(a - b, torch.zeros_like(a) if g is None else g, rtol=1e-9, atol=1e-15)
    assert any(g is not None and float(g.abs().max()) > 0 for g in by_hand)


def _lr_history(tmp_path, *, stop_in_epoch=None, **kw):
    """The photonic learning rate of every epoch of a 5-epoch ``dat`` run (warm-up 2, decay ×0.5
    every 2 epochs, ``dat_lr_factor`` 0.25); ``stop_in_epoch``: interrupt after the first step of
    that epoch (0-based), then resume from the checkpoint in a new trainer."""
    images, labels = synthetic_images(60, seed=3)
    cfg = dict(dat_warmup_epochs=2, lr_step_epochs=2, dat_lr_factor=0.25, epochs=5, batch_size=20, **kw)
    ckpt = tmp_path / "dat.pt"
    t = _trainer(**cfg)
    polls = []  # should_stop is polled at the end of every epoch and after every step but an epoch's last

    def stop():  # True at the poll after the first step of epoch ``stop_in_epoch``
        polls.append(t.epoch)
        return polls.count(stop_in_epoch) == 2

    fit = t.fit(images, labels, checkpoint=ckpt, progress=False, should_stop=None if stop_in_epoch is None else stop)
    if stop_in_epoch is not None:
        assert fit["interrupted"] and t.epoch == stop_in_epoch and t._partial["step"] == 1
        t = _trainer(**cfg)
        fit = t.fit(images, labels, checkpoint=ckpt, resume=True, progress=False)
    return [h["lr"] for h in fit["history"]]


@pytest.mark.parametrize("stop_in_epoch", [None, 2, 3])
def test_dat_lr_factor_lowers_the_phase_rate_once_when_the_sepns_switch_on(tmp_path, stop_in_epoch):
    # StepLR halves after epochs 2 and 4 (1-based); the factor joins from epoch 3, the first with SEPNs,
    # also when a run stops inside that epoch or the next one and resumes
    expected = [1e-2, 1e-2, 1e-2 * 0.5 * 0.25, 1e-2 * 0.5 * 0.25, 1e-2 * 0.25 * 0.25]
    assert _lr_history(tmp_path, stop_in_epoch=stop_in_epoch) == pytest.approx(expected, rel=1e-12)


def test_dat_lr_factor_must_be_positive():
    for bad in (0, -0.5, float("nan"), True):
        with pytest.raises(ValueError, match="dat_lr_factor must be a finite number > 0"):
            TrainConfig(method="dat", dat_lr_factor=bad)
