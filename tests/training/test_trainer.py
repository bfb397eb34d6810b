"""The shared training loop: PAT gradients, DAT steps, resume equivalence, method ordering
under strong errors, bad configuration."""


import pytest
import torch
import torch.nn.functional as F

from hardware import PhysicalSystem, mesh_error_model
from training.fusion import fuse_amplitude, physical_forward
from training.losses import similarity_loss
from training.metrics import evaluate
from training.trainer import TrainConfig, Trainer

from _synthetic import mesh_task, synthetic_images


def test_physical_forward_gradient_by_hand():
    # numeric y = a·θ, measured m: L = (y_fused − t)² has dL/dθ = 2 (m − t) a (hand computation)
    theta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    a, m, t = 3.0, torch.tensor(5.0, dtype=torch.float64), 1.5
    y = physical_forward(a * theta, m)
    assert float(y.detach()) == 5.0
    (g,) = torch.autograd.grad((y - t) ** 2, theta)
    assert float(g) == pytest.approx(2 * (5.0 - t) * a)


def test_pat_gradient_is_ideal_gradient_at_physical_outputs():
    task = mesh_task(dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
    images, labels = synthetic_images(8)
    x = task.encode(images.double())
    measured = device.measure(x)
    # PAT as the trainer computes it
    out, _ = task.numeric(x)
    loss = F.cross_entropy(task.scores(physical_forward(task.intensity(out), measured)), labels)
    params = task.pnn_parameters()
    pat = torch.autograd.grad(loss, params)
    # reference: dL/dI at I = measured, pulled back through the ideal model's Jacobian
    i_leaf = measured.clone().requires_grad_(True)
    (dl_di,) = torch.autograd.grad(F.cross_entropy(task.scores(i_leaf), labels), i_leaf)
    out, _ = task.numeric(x)
    ref = torch.autograd.grad(task.intensity(out), params, grad_outputs=dl_di)
    for a, b in zip(pat, ref):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    # and it differs from the ideal gradient (the errors matter)
    out, _ = task.numeric(x)
    ideal = torch.autograd.grad(F.cross_entropy(task.scores(task.intensity(out)), labels), params)
    assert not torch.allclose(pat[0], ideal[0])


def _pat_step_gradients(fusion: str, task, device, images, labels):
    """Gradients the trainer's PAT step leaves on the PNN parameters (optimizer step disabled)."""
    trainer = Trainer(task, TrainConfig(method="pat", pat_fusion=fusion), physical=device)
    trainer.pnn_opt.step = lambda *a, **k: None
    trainer.step(images, labels)
    return [p.grad.clone() for p in task.pnn_parameters()]


def test_pat_step_scores_and_field_fusion_match_their_definitions():
    task = mesh_task(dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=3)
    images, labels = synthetic_images(8)
    images = images.double()
    x = task.encode(images)
    measured = device.measure(x)
    params = task.pnn_parameters()
    # "scores" (reference PAT): dL/ds at the measured scores, pulled back through the
    # numerical model's own scores(intensity(out))
    s_leaf = task.scores(measured).clone().requires_grad_(True)
    (dl_ds,) = torch.autograd.grad(F.cross_entropy(s_leaf, labels), s_leaf)
    out, _ = task.numeric(x)
    ref_scores = torch.autograd.grad(task.scores(task.intensity(out)), params, grad_outputs=dl_ds)
    # "field": the output field's amplitude replaced by the measured one (numerical phase), then
    # dL/dI at I = measured pulled back through |z_fused|² and the numerical model before it
    fused_leaf = None

    def hook(i, z):
        nonlocal fused_leaf
        if i == task.n_layers - 1:
            fused_leaf = fuse_amplitude(z, measured.reshape(z.shape))
            return fused_leaf
        return z

    out, _ = task.numeric(x, hook=hook)
    i_leaf = measured.clone().requires_grad_(True)
    (dl_di,) = torch.autograd.grad(F.cross_entropy(task.scores(i_leaf), labels), i_leaf)
    ref_field = torch.autograd.grad(task.intensity(out), params, grad_outputs=dl_di)
    got_scores = _pat_step_gradients("scores", task, device, images, labels)
    got_field = _pat_step_gradients("field", task, device, images, labels)
    for a, b in zip(got_scores, ref_scores):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)
    for a, b in zip(got_field, ref_field):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)
    assert not torch.allclose(got_scores[0], got_field[0])  # two different rules


def test_auto_selection_is_numerical_for_direct_deployment_and_physical_for_pat():
    images, labels = synthetic_images(60, seed=4)
    queries = {}
    for method in ("ideal", "pat"):
        task = mesh_task(seed=5)
        device = PhysicalSystem(task.model, preset="bs=0.2,ps=0.2", seed=6)
        trainer = Trainer(task, TrainConfig(method=method, epochs=2, batch_size=20, val_fraction=0.25),
                          physical=device)
        trainer.fit(images, labels, progress=False)
        queries[method] = trainer.queries["validation"]
    # direct deployment never touches the hardware before deployment
    assert queries == {"ideal": 0, "pat": 2}, queries  # one batched query per validation pass
    task = mesh_task(seed=5)
    device = PhysicalSystem(task.model, preset="bs=0.2,ps=0.2", seed=6)
    forced = Trainer(task, TrainConfig(epochs=1, batch_size=20, val_fraction=0.25, select_on="physical"),
                     physical=device)
    forced.fit(images, labels, progress=False)
    assert forced.queries["validation"] == 1


def test_state_fusion_takes_measured_amplitude_and_numerical_phase():
    z = torch.tensor([1 + 1j, -2.0 + 0j], dtype=torch.complex128, requires_grad=True)
    fused = fuse_amplitude(z, torch.tensor([4.0, 9.0], dtype=torch.float64))
    assert torch.allclose(fused.abs(), torch.tensor([2.0, 3.0], dtype=torch.float64))
    assert torch.allclose(torch.angle(fused), torch.angle(z.detach()))
    (g,) = torch.autograd.grad(fused.real.sum(), z)
    assert torch.allclose(g, torch.ones_like(g))  # straight through


def test_dat_step_lowers_the_similarity_loss():
    task = mesh_task(modes=16, meshes=2)
    device = PhysicalSystem(task.model, preset="bs=0.15,ps=0.15", seed=4)
    images, labels = synthetic_images(64, seed=5)
    trainer = Trainer(task, TrainConfig(method="dat", internal_states=True, sepn_lr=1e-2, lr=1e-4,
                                        sepn_features=(4, 6, 8)), physical=device)
    first = []
    for i in range(30):
        st = trainer.step(images, labels)
        first.append(st["similarity"])
    assert sum(first[-5:]) / 5 < 0.5 * sum(first[:5]) / 5, first
    assert trainer.queries["train"] == 30  # one physical query per DAT step


def _fit(method, epochs, tmp_path=None, resume_from=None, **kw):
    task = mesh_task(modes=16, meshes=2)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1,read_noise=0.01", seed=6)
    cfg = TrainConfig(method=method, epochs=epochs, batch_size=40, lr=1e-2, sepn_features=(4, 6, 8), **kw)
    trainer = Trainer(task, cfg, physical=device, error_model=mesh_error_model("bs=0.1,ps=0.1"))
    images, labels = synthetic_images(240, seed=7)
    ckpt = None if tmp_path is None else tmp_path / "ckpt.pt"
    trainer.fit(images, labels, checkpoint=ckpt, resume=resume_from is not None, progress=False)
    return trainer


@pytest.mark.parametrize("method", ["noise", "dat"])
def test_resume_gives_the_same_final_parameters(tmp_path, method):
    full = _fit(method, 3)
    _fit(method, 2, tmp_path)  # interrupted after two epochs (checkpoint on disk)
    resumed = _fit(method, 3, tmp_path, resume_from=True)
    assert resumed.epoch == 3 and len(resumed.history) == 3
    for (k, a), (_, b) in zip(full.task.state_dict().items(), resumed.task.state_dict().items()):
        assert torch.equal(a, b), k
    assert full.history == resumed.history
    assert full.queries == resumed.queries


def test_dat_beats_ideal_on_the_physical_system_under_strong_errors():
    images, labels = synthetic_images(600, seed=8)
    test_x, test_y = synthetic_images(300, seed=9)
    acc = {}
    for method in ("ideal", "dat"):
        task = mesh_task(modes=16, meshes=2, seed=2)
        device = PhysicalSystem(task.model, preset="bs=0.2,ps=0.2", seed=10)
        cfg = TrainConfig(method=method, epochs=4, batch_size=50, lr=1e-2, sepn_lr=1e-2, internal_states=True,
                          sepn_features=(4, 6, 8))
        trainer = Trainer(task, cfg, physical=device)
        trainer.fit(images, labels, progress=False)
        trainer.load_best()
        device.load_parameters(task.device_model.state_dict())
        acc[method] = evaluate(task, test_x, test_y, physical=device)["accuracy"]
    assert acc["dat"] > acc["ideal"] + 0.1, acc


def test_joint_dat_gradients_do_not_accumulate_across_steps():
    # reference code: PNN grads zeroed at each iteration start; the similarity gradients leak
    # into the PNN step of the same iteration only
    images, labels = synthetic_images(20, seed=3)
    task = mesh_task(modes=16, meshes=2, seed=2, dtype=torch.float64)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=4)
    grads = {}
    for joint in (False, True):
        trainer = Trainer(task, TrainConfig(method="dat", joint=joint, sepn_features=(4, 6, 8)), physical=device)
        trainer.pnn_opt.step = trainer.sepn_opt.step = lambda *a, **k: None
        runs = []
        for _ in range(2):
            trainer.step(images, labels)
            runs.append([p.grad.clone() for p in task.pnn_parameters()])
        for a, b in zip(*runs):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-15)  # same batch, same parameters
        grads[joint] = runs[0]
    assert not torch.allclose(grads[True][0], grads[False][0])  # the leak is there in joint mode


def test_similarity_loss_zero_for_proportional_intensities():
    a = torch.rand(3, 16, dtype=torch.float64)
    assert float(similarity_loss([a], [2.5 * a])) == pytest.approx(0.0, abs=1e-20)


def test_bad_configuration():
    task = mesh_task()
    with pytest.raises(ValueError, match="unknown training method 'sgd'; choose one of ideal, noise, pat, dat"):
        TrainConfig(method="sgd")
    with pytest.raises(ValueError, match="pass physical=PhysicalSystem"):
        Trainer(task, TrainConfig(method="dat"))
    with pytest.raises(ValueError, match="pass error_model="):
        Trainer(task, TrainConfig(method="noise"))
    with pytest.raises(ValueError, match="pat_fusion must be 'scores' or 'field', got 'logits'"):
        TrainConfig(method="pat", pat_fusion="logits")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(batch_size=0)
    odd = mesh_task(modes=9, meshes=1, classes=3)  # 3×3 states: SEPN needs multiples of 4
    device = PhysicalSystem(odd.model)
    trainer = Trainer(odd, TrainConfig(method="dat"), physical=device)
    images, labels = synthetic_images(10, classes=3)
    with pytest.raises(ValueError, match="multiples of 4"):
        trainer.step(images, labels)
    with pytest.raises(ValueError, match="validation split is empty"):
        Trainer(task, TrainConfig(val_fraction=0.0)).fit(*synthetic_images(10), progress=False)


@pytest.mark.parametrize("bad,error,match", [
    (lambda x, y: (x, y.float()), TypeError, "labels must be an integer tensor of class indices, got torch.float32"),
    (lambda x, y: (x, torch.full_like(y, 12)), ValueError, r"class indices in \[0, 3\], got values from 12 to 12"),
    (lambda x, y: (x, y - 1), ValueError, r"class indices in \[0, 3\], got values from -1"),
    (lambda x, y: (x.flatten(1), y), ValueError, r"batch \(B, H, W\) of 2-D images, got \(10, 784\)"),
])
def test_bad_data_is_named_before_it_reaches_the_loss(bad, error, match):
    # these failed inside torch's cross-entropy (or, flattened, trained one image of B x 784 pixels)
    x, y = bad(*synthetic_images(40))
    trainer = Trainer(mesh_task(), TrainConfig(epochs=1, batch_size=10))
    with pytest.raises(error, match=match):
        trainer.fit(x, y, progress=False)
    if x.dim() == 3:
        with pytest.raises(error, match=match):
            evaluate(mesh_task(), x, y)
