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
