"""``dat_fusion="reference"``: the DAT reference code's rule, checked against a hand-built
chain of vector–Jacobian products (float64), plus ``jacobian_at`` and the reference
similarity loss against closed forms."""

import copy

import pytest
import torch
import torch.nn.functional as F

from hardware import PhysicalSystem
from photonics.functional import jacobian_at
from training.losses import reference_similarity_loss
from training.trainer import TrainConfig, Trainer

from _synthetic import diffractive_task, mesh_task, synthetic_images


def test_jacobian_at_value_is_f_of_z_and_gradient_is_taken_at_the_other_point():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, dtype=torch.complex128, generator=g).requires_grad_(True)
    z_at = torch.randn(5, dtype=torch.complex128, generator=g)
    w = torch.rand(5, dtype=torch.float64, generator=g)
    y = jacobian_at(lambda u: u.real.square() + u.imag.square(), z, z_at)
    assert torch.equal(y.detach(), z.detach().real.square() + z.detach().imag.square())  # the value: f(z), exactly
    (gz,) = torch.autograd.grad((w * y).sum(), z)
    # d(Σ w|u|²) in torch's convention for a real loss of a complex input is 2 w u, here at u = z_at
    assert torch.allclose(gz, 2 * w * z_at, rtol=1e-14, atol=0)
    assert not torch.allclose(gz, 2 * w * z.detach())


def test_reference_similarity_loss_closed_form():
    task = mesh_task(modes=16, meshes=3, classes=4, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    num = [torch.rand(6, 16, dtype=torch.float64, generator=g) for _ in range(3)]
    meas = [torch.rand(6, 16, dtype=torch.float64, generator=g) for _ in range(3)]

    def unit(v):
        return v / v.pow(2).sum(-1, keepdim=True).sqrt()

    expect = ((unit(num[2])[:, :4] - unit(meas[2])[:, :4]) ** 2).mean()  # output: class ports only
    for i in range(2):  # internal states: every port, summed over layers
        expect = expect + ((unit(num[i]) - unit(meas[i])) ** 2).mean()
    got = reference_similarity_loss(task, num, meas)
    assert torch.allclose(got, expect, rtol=1e-13, atol=0)


def _recorded_step(task, device, images, labels, **cfg):
    """Run one DAT step; return the measurement, the SEPNs before and after their update, and
    the gradients of both updates (optimizer steps recorded, then applied)."""
    trainer = Trainer(task, TrainConfig(method="dat", internal_states=True, **cfg), physical=device)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():  # a non-zero output conv, so that the SEPNs act on the gradients
        for sepn in trainer.sepns:
            sepn.out.weight.copy_(0.3 * torch.randn(sepn.out.weight.shape, generator=gen, dtype=torch.float64))
    rec = {"sepns_before": copy.deepcopy(trainer.sepns)}
    measure, sepn_step, pnn_step = trainer._measure, trainer.sepn_opt.step, trainer.pnn_opt.step

    def measured(*a, **k):
        rec["measured"] = measure(*a, **k)
        return rec["measured"]

    def sepn_stepped(*a, **k):
        rec["sepn_grads"] = [p.grad.clone() for p in trainer.sepns.parameters()]
        sepn_step(*a, **k)
        rec["sepns_after"] = copy.deepcopy(trainer.sepns)

    def pnn_stepped(*a, **k):
        rec["pnn_grads"] = [p.grad.clone() for p in task.pnn_parameters()]

    trainer._measure, trainer.sepn_opt.step, trainer.pnn_opt.step = measured, sepn_stepped, pnn_stepped
    params_before = [p.detach().clone() for p in task.pnn_parameters()]
    trainer.step(images, labels)
    assert all(torch.equal(a, b) for a, b in zip(params_before, task.pnn_parameters()))
    return rec


def _corrected(task, sepns, i, z):
    return z + task.from_image(sepns[i](task.to_image(z)), z)


def _fused(z, intensity):
    return torch.polar(intensity.clamp_min(0).sqrt(), torch.angle(z)).detach()


def test_reference_fusion_gradients_equal_the_hand_built_chain():
    task = mesh_task(modes=16, meshes=3, classes=4, seed=2, dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
    images, labels = synthetic_images(8, seed=5)
    images = images.double()
    model, params = task.model, task.pnn_parameters()
    snapshot = copy.deepcopy(task.state_dict())
    rec = _recorded_step(task, device, images, labels, dat_fusion="reference")
    task.load_state_dict(snapshot)
    reading, taps = rec["measured"]
    x = task.encode(images)
    n = len(model.meshes)

    # similarity step (SEPNs as they were, weight 1): reference loss by hand, gradients to the
    # SEPNs and — the reference is joint — to the photonic parameters
    sepns = rec["sepns_before"]
    z, states = x, []
    for i, mesh in enumerate(model.meshes):
        z = mesh(model.activation(z) if i else z)
        z = _corrected(task, sepns, i, z)
        states.append(z)

    def unit(v):
        return v / v.pow(2).sum(-1, keepdim=True).sqrt()

    inten = [s.real ** 2 + s.imag ** 2 for s in states]
    sim = ((unit(inten[-1])[:, :4] - unit(taps[-1])[:, :4]) ** 2).mean()
    for i in range(n - 1):
        sim = sim + ((unit(inten[i]) - unit(taps[i])) ** 2).mean()
    sim_pnn = torch.autograd.grad(sim, params, retain_graph=True)
    sim_sepn = torch.autograd.grad(sim, list(sepns.parameters()), allow_unused=True)
    for got, want in zip(rec["sepn_grads"], sim_sepn):
        want = torch.zeros_like(got) if want is None else want
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-13)

    # task step (updated SEPNs, weight 1): forward values numerical; the chain backward takes
    # CE at the measured scores, the normalisation at the numerical intensities, |u|² at the
    # fused output field and every activation at the fused internal field
    sepns = rec["sepns_after"]
    inputs, outs = [], []  # per layer: its input (leaf) and its corrected output
    a = x
    for i, mesh in enumerate(model.meshes):
        a_in = a.detach().requires_grad_(i > 0)
        z = _corrected(task, sepns, i, mesh(a_in))
        inputs.append(a_in)
        outs.append(z)
        if i < n - 1:
            a = model.activation(z.detach())
    s_leaf = task.scores(reading).clone().requires_grad_(True)
    (g_s,) = torch.autograd.grad(F.cross_entropy(s_leaf, labels), s_leaf)
    v_leaf = (outs[-1].real ** 2 + outs[-1].imag ** 2).detach().requires_grad_(True)
    (g_v,) = torch.autograd.grad(task.scores(v_leaf), v_leaf, g_s)
    g_z = 2 * g_v * _fused(outs[-1], reading.reshape(outs[-1].shape))
    task_grads = [torch.zeros_like(p) for p in params]
    for i in reversed(range(n)):
        wrt = params + ([inputs[i]] if i > 0 else [])
        grads = torch.autograd.grad(outs[i], wrt, g_z, allow_unused=True)
        for k, gp in enumerate(grads[:len(params)]):
            if gp is not None:
                task_grads[k] += gp
        if i > 0:
            zf = _fused(outs[i - 1], taps[i - 1].reshape(outs[i - 1].shape)).requires_grad_(True)
            (g_z,) = torch.autograd.grad(model.activation(zf), zf, grads[-1])
    for got, s_g, t_g in zip(rec["pnn_grads"], sim_pnn, task_grads):
        assert torch.allclose(got, s_g + t_g, rtol=1e-9, atol=1e-12)

    # the carry rule is a different rule (the test can tell them apart)
    task.load_state_dict(snapshot)
    carry = _recorded_step(task, PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3), images, labels)
    assert not torch.allclose(carry["pnn_grads"][0], rec["pnn_grads"][0], rtol=1e-6, atol=1e-9)


def test_reference_fusion_refuses_a_diffractive_task():
    task = diffractive_task()
    device = PhysicalSystem(task.system, preset="medium", seed=1) if hasattr(task, "system") else None
    with pytest.raises(ValueError, match="dat_fusion='reference'"):
        Trainer(task, TrainConfig(method="dat", dat_fusion="reference"), physical=device)


def test_bad_dat_fusion_is_a_one_line_error():
    with pytest.raises(ValueError, match="dat_fusion must be 'carry' or 'reference'"):
        TrainConfig(method="dat", dat_fusion="inplace")
