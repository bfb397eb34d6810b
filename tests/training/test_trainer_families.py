"""Every method runs on diffractive networks too, and digital baselines share the loop."""

import pytest
import torch

from hardware import PhysicalSystem, error_model
from training import LeNet5, ComplexLinearNetwork, DigitalTask, TrainConfig, Trainer, evaluate

from _synthetic import diffractive_task, synthetic_images


# random initial masks on a 32×32 grid throw light out of the window: expected here
@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
@pytest.mark.parametrize("method,internal", [("ideal", False), ("noise", False), ("pat", True), ("pat", False),
                                             ("dat", True), ("dat", False)])
def test_methods_on_a_diffractive_classifier(method, internal):
    task = diffractive_task()
    device = PhysicalSystem(task.device_model, preset="medium", seed=1)
    em = error_model("diffractive", "medium", pitch=0.4e-3, gap=0.02)
    cfg = TrainConfig(method=method, epochs=1, batch_size=20, lr=0.05, internal_states=internal,
                      sepn_features=(2, 2, 2))
    trainer = Trainer(task, cfg, physical=device, error_model=em)
    before = [p.detach().clone() for p in task.pnn_parameters()]
    images, labels = synthetic_images(60, seed=2)
    result = trainer.fit(images, labels, progress=False)
    assert len(result["history"]) == 1
    for k in ("loss", "val_accuracy"):
        assert torch.isfinite(torch.tensor(result["history"][0][k]))
    changed = any(not torch.equal(a, b.detach()) for a, b in zip(before, task.pnn_parameters()))
    assert changed
    steps = 3  # 54 training samples in batches of 20
    assert result["queries"]["train"] == (steps if method in ("pat", "dat") else 0)
    # 6 validation samples, one physical batch; direct deployment and noise training select
    # on the numerical model (no hardware before deployment)
    assert result["queries"]["validation"] == (1 if method in ("pat", "dat") else 0)


def test_digital_baselines_train_in_the_same_loop():
    images, labels = synthetic_images(300, seed=3)
    for model, enc in ((LeNet5(4, generator=torch.Generator().manual_seed(0)), "pixels"),
                       (ComplexLinearNetwork(16, 2, n_classes=4, generator=torch.Generator().manual_seed(0)),
                        "fourier")):
        task = DigitalTask(model, encoding=enc, crop=4)
        trainer = Trainer(task, TrainConfig(method="ideal", epochs=3, batch_size=30, lr=1e-2))
        trainer.fit(images, labels, progress=False)
        trainer.load_best()
        assert evaluate(task, *synthetic_images(100, seed=4))["accuracy"] > 0.5
    with pytest.raises(ValueError, match="pass physical="):
        Trainer(DigitalTask(LeNet5(4)), TrainConfig(method="pat"))


def test_ideal_step_gradient_on_a_diffractive_classifier_matches_finite_differences():
    # the gradient the trainer's step leaves on the phase masks is the derivative of the
    # cross-entropy of the numerical model (central differences, float64)
    import torch.nn.functional as F

    task = diffractive_task()
    task.double()
    images, labels = synthetic_images(8, seed=4)
    trainer = Trainer(task, TrainConfig(method="ideal", lr=0.05), physical=None)
    trainer.pnn_opt.step = lambda *a, **k: None
    trainer.step(images.double(), labels)
    params = list(task.pnn_parameters())
    grads = [p.grad.detach().clone() for p in params]

    def loss():
        with torch.no_grad():
            out, _ = task.numeric(task.encode(images.double()))
            return float(F.cross_entropy(task.scores(task.intensity(out)), labels))

    gen = torch.Generator().manual_seed(5)
    checked = 0
    for p, g in zip(params, grads):
        flat = p.data.view(-1)
        for i in torch.randint(0, flat.numel(), (4,), generator=gen).tolist():
            h = 1e-5
            flat[i] += h
            up = loss()
            flat[i] -= 2 * h
            down = loss()
            flat[i] += h
            fd = (up - down) / (2 * h)
            assert abs(fd - float(g.view(-1)[i])) <= 1e-6 + 1e-4 * abs(fd), (fd, float(g.view(-1)[i]))
            checked += abs(fd) > 1e-6
    assert checked >= 3  # the check saw non-trivial derivatives


@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
@pytest.mark.parametrize("method", ["ideal", "pat", "dat"])
def test_repeated_steps_on_one_batch_reduce_its_loss(method):
    task = diffractive_task()
    device = PhysicalSystem(task.device_model, preset="medium", seed=1)
    trainer = Trainer(task, TrainConfig(method=method, lr=0.05, sepn_features=(2, 2, 2), internal_states=False),
                      physical=device if method != "ideal" else None)
    images, labels = synthetic_images(20, seed=6)
    losses = [trainer.step(images, labels)["loss"] for _ in range(12)]
    # gradient descent on a fixed batch: the loss it reports falls well below where it started
    assert min(losses[-3:]) < 0.8 * losses[0], losses


@pytest.mark.filterwarnings("ignore::optics.SamplingWarning")
@pytest.mark.parametrize("eps", [1e-8, 1e-20])
def test_first_adam_step_follows_its_closed_form_with_the_configured_eps(eps):
    """Adam's first step is lr·g/(|g| + ε) per parameter (m̂ = g, v̂ = g² after bias correction;
    Kingma & Ba 2015, Algorithm 1). With the loss scaled by 1e-9 the gradients fall below
    torch's ε = 1e-8 and the steps shrink; a small ε keeps them at lr·sign(g)."""

    class Tiny(type(diffractive_task())):  # the same classifier, its loss in small units
        def objective(self, out, x, y):
            import torch.nn.functional as F

            return 1e-9 * F.cross_entropy(self.scores(self.intensity(out)), y)

    task = diffractive_task()
    task.__class__ = Tiny
    task.double()
    images, labels = synthetic_images(8, seed=4)
    before = [p.detach().clone() for p in task.pnn_parameters()]
    trainer = Trainer(task, TrainConfig(method="ideal", lr=0.05, adam_eps=eps), physical=None)
    trainer.step(images.double(), labels)
    for p, p0 in zip(task.pnn_parameters(), before):
        g = p.grad.detach()
        torch.testing.assert_close(p.detach() - p0, -0.05 * g / (g.abs() + eps), rtol=1e-9, atol=1e-15)
    steps = torch.cat([(p.detach() - p0).abs().flatten() for p, p0 in zip(task.pnn_parameters(), before)])
    grads = torch.cat([p.grad.abs().flatten() for p in task.pnn_parameters()])
    moved = steps[grads > 0]
    if eps < 1e-15:
        assert float(moved.min()) > 0.049  # every parameter with a gradient took a full step
    else:
        assert float(grads.max()) < 1e-8 and float(moved.max()) < 0.025  # all below ε: all shortened


def test_adam_eps_must_be_a_positive_number():
    with pytest.raises(ValueError, match="adam_eps must be a finite number > 0, got 0"):
        TrainConfig(adam_eps=0)
