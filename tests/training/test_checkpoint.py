"""Verified checkpoints: atomic writes, checksums, fallback to the previous checkpoint, and
one-line errors naming the file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hardware import PhysicalSystem
from training import TrainConfig, Trainer
from training.checkpoint import (CheckpointError, atomic_directory, atomic_json, atomic_torch_save, load_checkpoint,
                                 read_json, read_torch, save_checkpoint, sha256)

from _synthetic import mesh_task, synthetic_images


def _flip(path, at=100):
    data = bytearray(path.read_bytes())
    data[min(at, len(data) - 1)] ^= 0xFF
    path.write_bytes(bytes(data))


def _fit(epochs, ckpt, resume=False, **kw):
    task = mesh_task(modes=16, meshes=2)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1,read_noise=0.01", seed=6)
    cfg = TrainConfig(method="dat", epochs=epochs, batch_size=40, lr=1e-2, sepn_features=(4, 6, 8), **kw)
    trainer = Trainer(task, cfg, physical=device)
    images, labels = synthetic_images(200, seed=7)
    trainer.fit(images, labels, checkpoint=ckpt, resume=resume, progress=False)
    return trainer


def test_atomic_directory_replaces_the_whole_directory_or_nothing(tmp_path):
    d = tmp_path / "export"
    with atomic_directory(d) as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("2")
        assert not d.exists()  # nothing is visible before the block ends
    with atomic_directory(d) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(str(p.relative_to(d)) for p in d.rglob("*")) == ["c.txt"]  # no file of the first filling
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_directory(d) as tmp:
            (tmp / "d.txt").write_text("4")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in d.iterdir()) == ["c.txt"] and (d / "c.txt").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no hidden leftovers
    # what a killed filling left (a process that is gone) is cleared by the next one; a live one's is not
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / f".export.{int(dead.stdout)}.tmp").mkdir()
    (tmp_path / f".export.{os.getppid()}.tmp").mkdir()
    with atomic_directory(d) as tmp:
        (tmp / "e.txt").write_text("5")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".export.{os.getppid()}.tmp", "export"]


def test_the_same_tensors_are_the_same_bytes_in_every_process(tmp_path):
    """A saved file's bytes (and so its recorded checksum) do not depend on the process that wrote
    it: torch names the archive's folder after the file, which was a temporary name with the pid."""
    script = ("import sys, torch; from training.checkpoint import atomic_torch_save, save_checkpoint; "
              "x = {'w': torch.arange(6.0)}; atomic_torch_save(x, sys.argv[1] + '/a.pt'); "
              "save_checkpoint(x, sys.argv[1] + '/c.pt')")
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        subprocess.run([sys.executable, "-c", script, str(tmp_path / d)], check=True,
                       cwd=Path(__file__).resolve().parents[2])
    for name in ("a.pt", "c.pt"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert torch.equal(torch.load(tmp_path / "one" / "a.pt", weights_only=True)["w"], torch.arange(6.0))


def test_checkpoint_round_trip_and_checksum(tmp_path):
    p = tmp_path / "c.pt"
    digest = save_checkpoint({"a": torch.arange(5)}, p)
    assert digest == sha256(p) == (tmp_path / "c.pt.sha256").read_text().strip()
    assert torch.equal(load_checkpoint(p)["a"], torch.arange(5))
    assert load_checkpoint(tmp_path / "missing.pt") is None


def test_corrupt_checkpoint_without_fallback_names_the_file(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint({"a": 1}, p)
    _flip(p, 10)
    with pytest.raises(CheckpointError, match=r"c\.pt is corrupt .*no good checkpoint left"):
        load_checkpoint(p)


def test_corrupt_json_names_the_file(tmp_path):
    p = tmp_path / "progress.json"
    atomic_json(p, {"x": 1})
    p.write_text('{"x": ')
    with pytest.raises(CheckpointError, match=r"progress.json cannot be read \(JSONDecodeError.*--overwrite"):
        read_json(p)


def test_read_json_default_wording_and_error_class(tmp_path):
    class Custom(ValueError):
        pass

    p = tmp_path / "sweep.json"
    assert read_json(p, default={}) == {}  # missing, with a default
    with pytest.raises(Custom, match=r"^sweep record .*sweep\.json does not exist: not a finished run$"):
        read_json(p, what="sweep record", missing="not a finished run", error=Custom)
    p.write_bytes(b"\xff\xfe{")
    with pytest.raises(Custom, match=r"sweep\.json cannot be read \(UnicodeDecodeError: [^\n]*\)$"):
        read_json(p, default={}, hint=None, error=Custom)  # a default covers only a missing file


def test_read_torch_names_a_missing_or_corrupt_state(tmp_path):
    p = tmp_path / "arm.best.pt"
    assert read_torch(p, default=None) is None
    with pytest.raises(CheckpointError, match=r"arm\.best\.pt does not exist: the run did not finish$"):
        read_torch(p, missing="the run did not finish")
    atomic_torch_save({"w": torch.arange(3.0)}, p)
    assert torch.equal(read_torch(p)["w"], torch.arange(3.0))
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])  # a torn file
    torn = r"^[^\n]*arm\.best\.pt cannot be read \(\w+: [^\n]*\); restore it .*--overwrite$"
    with pytest.raises(CheckpointError, match=torn):
        read_torch(p)


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    full = _fit(3, None)
    ckpt = tmp_path / "ckpt.pt"
    _fit(2, ckpt)
    assert (tmp_path / "ckpt.pt.prev").exists()  # the epoch-1 checkpoint was kept
    _flip(ckpt)
    with pytest.warns(UserWarning, match="resuming from the previous checkpoint"):
        resumed = _fit(3, ckpt, resume=True)
    assert resumed.history == full.history
    for k, v in full.task.state_dict().items():
        assert torch.equal(v, resumed.task.state_dict()[k]), k


def test_resume_with_other_settings_is_refused_with_the_keys(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _fit(1, ckpt)
    with pytest.raises(CheckpointError, match=r"lr: 0\.01 -> 0\.02"):
        _refit(ckpt)


def test_resume_into_another_model_layout_names_the_file_and_the_keys(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _fit(1, ckpt)
    task = mesh_task(modes=16, meshes=3)  # one mesh more: a model the checkpoint was not written for
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1,read_noise=0.01", seed=6)
    cfg = TrainConfig(method="dat", epochs=2, batch_size=40, lr=1e-2, sepn_features=(4, 6, 8))
    images, labels = synthetic_images(200, seed=7)
    with pytest.raises(CheckpointError, match=r"ckpt\.pt holds a model that does not fit this run's \(missing .*2.*\)"
                                              r".*start again"):
        Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=ckpt, resume=True, progress=False)


def _refit(ckpt):
    task = mesh_task(modes=16, meshes=2)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1,read_noise=0.01", seed=6)
    cfg = TrainConfig(method="dat", epochs=2, batch_size=40, lr=2e-2, sepn_features=(4, 6, 8))
    images, labels = synthetic_images(200, seed=7)
    Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=ckpt, resume=True, progress=False)


def _two_epoch_dat():
    """The set-up of ``_fit(2, …)``, for runs that call ``fit`` themselves."""
    task = mesh_task(modes=16, meshes=2)
    device = PhysicalSystem(task.model, preset="bs=0.1,ps=0.1,read_noise=0.01", seed=6)
    cfg = TrainConfig(method="dat", epochs=2, batch_size=40, lr=1e-2, sepn_features=(4, 6, 8))
    images, labels = synthetic_images(200, seed=7)
    return task, device, cfg, images, labels


def test_stop_inside_an_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    full = _fit(2, None)
    task, device, cfg, images, labels = _two_epoch_dat()
    polls = {"n": 0}

    def stop_after_three_steps():
        polls["n"] += 1
        return polls["n"] == 3

    first = Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=tmp_path / "c.pt",
                                                    progress=False, should_stop=stop_after_three_steps)
    assert first["interrupted"] and first["history"] == []  # stopped inside epoch 1 (5 batches)
    resumed = _fit(2, tmp_path / "c.pt", resume=True)
    assert resumed.history == full.history
    assert resumed.queries == full.queries
    for k, v in full.task.state_dict().items():
        assert torch.equal(v, resumed.task.state_dict()[k]), k


class _TickClock:
    """Stands for ``time`` in the trainer: every reading of either clock is one second later."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def perf_counter(self):
        self.wall += 1.0
        return self.wall

    def process_time(self):
        self.cpu += 1.0
        return self.cpu

    def monotonic(self):
        return 0.0


def test_training_time_adds_up_over_a_stop_and_a_resume(tmp_path, monkeypatch):
    """A resumed run's training time is the checkpointed time of the invocations before plus its
    own, wall and CPU alike (the arm records reported the last invocation alone)."""
    import training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "time", _TickClock())
    task, device, cfg, images, labels = _two_epoch_dat()
    first = Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=tmp_path / "c.pt", progress=False,
                                                    should_stop=lambda: True, save_every_s=None)
    assert first["interrupted"] and first["wall_time_s"] > 0 and first["cpu_time_s"] > 0
    state = torch.load(tmp_path / "c.pt", weights_only=False)
    assert (state["wall_time_s"], state["cpu_time_s"]) == (first["wall_time_s"], first["cpu_time_s"])
    monkeypatch.setattr(trainer_module, "time", _TickClock())  # a new process: its clocks start again
    task, device, cfg, images, labels = _two_epoch_dat()
    second = Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=tmp_path / "c.pt", resume=True,
                                                     progress=False)
    assert second["wall_time_s"] > first["wall_time_s"] and second["cpu_time_s"] > first["cpu_time_s"]
    # both clocks are read together, one tick a reading: the resumed run adds the same to each
    assert second["cpu_time_s"] - first["cpu_time_s"] == second["wall_time_s"] - first["wall_time_s"]


def test_an_arm_record_counts_the_training_before_a_resume(tmp_path):
    """study.run_arms: an arm stopped after its first epoch and resumed records at least the
    training time its checkpoint held at the stop (the record counted only the last invocation)."""
    from training.runtime import Interrupted, Runtime
    from training.study import Arm, run_arms

    def build():
        task = mesh_task(modes=16, meshes=2)
        return task, PhysicalSystem(task.model, preset="bs=0.1,ps=0.1", seed=6), None

    arm = Arm("mesh-dat", "mesh", "dat", build, TrainConfig(method="dat", epochs=3, batch_size=40, lr=1e-2,
                                                            sepn_features=(4, 6, 8)))
    images, labels = synthetic_images(200, seed=7)
    data = (images, labels, *synthetic_images(60, seed=8))
    rt, ckpt = Runtime(), tmp_path / "checkpoints" / "mesh-dat.pt"
    rt.should_stop = lambda: ckpt.exists() and torch.load(ckpt, weights_only=False)["epoch"] >= 2  # inside epoch 3
    with pytest.raises(Interrupted):
        run_arms(tmp_path, [arm], data, resume=False, progress=False, runtime=rt)
    held = torch.load(tmp_path / "checkpoints" / "mesh-dat.pt", weights_only=False)
    assert held["epoch"] < 3 and held["wall_time_s"] > 0 and held["cpu_time_s"] > 0
    r = run_arms(tmp_path, [arm], data, resume=True, progress=False, runtime=Runtime())["mesh-dat"]
    assert r["wall_time_s"] >= held["wall_time_s"] and r["cpu_time_s"] >= held["cpu_time_s"]


class _Killed(Exception):
    """Stands for SIGKILL: the run ends without writing anything."""


def test_periodic_checkpoint_inside_an_epoch_survives_a_kill(tmp_path):
    full = _fit(2, None)
    task, device, cfg, images, labels = _two_epoch_dat()
    polls = {"n": 0}

    def killed_at_step_four():  # polled after each step but the last of an epoch
        polls["n"] += 1
        if polls["n"] == 4:
            raise _Killed
        return False

    with pytest.raises(_Killed):
        # save_every_s=0: a checkpoint at every safe point, the last one after step 3 of epoch 1
        Trainer(task, cfg, physical=device).fit(images, labels, checkpoint=tmp_path / "c.pt", progress=False,
                                                should_stop=killed_at_step_four, save_every_s=0)
    resumed = _fit(2, tmp_path / "c.pt", resume=True)
    assert resumed.history == full.history
    assert resumed.queries == full.queries
    for k, v in full.task.state_dict().items():
        assert torch.equal(v, resumed.task.state_dict()[k]), k


def test_periodic_checkpoints_leave_one_process_bit_for_bit_unchanged(tmp_path):
    full = _fit(2, None)
    task, device, cfg, images, labels = _two_epoch_dat()
    every = Trainer(task, cfg, physical=device)
    every.fit(images, labels, checkpoint=tmp_path / "c.pt", progress=False, save_every_s=0)
    assert every.history == full.history and every.queries == full.queries
    for k, v in full.task.state_dict().items():
        assert torch.equal(v, every.task.state_dict()[k]), k


def test_save_every_epochs_saves_every_nth_and_resumes_from_it_to_the_same_result(tmp_path):
    import dataclasses

    full = _fit(5, None)
    task, device, cfg, images, labels = _two_epoch_dat()
    cfg = dataclasses.replace(cfg, epochs=5)
    ckpt = tmp_path / "c.pt"
    trainer = Trainer(task, cfg, physical=device)

    def killed_after_epoch_three():  # polled inside epochs and after each but the last
        if trainer.epoch == 3:
            raise _Killed
        return False

    with pytest.raises(_Killed):
        trainer.fit(images, labels, checkpoint=ckpt, progress=False, should_stop=killed_after_epoch_three,
                    save_every_s=None, save_every_epochs=2)
    assert len(load_checkpoint(ckpt)["history"]) == 2  # epoch 3 was not saved
    resumed = _fit(5, ckpt, resume=True)  # repeats epoch 3, then carries on
    assert resumed.history == full.history and resumed.queries == full.queries
    for k, v in full.task.state_dict().items():
        assert torch.equal(v, resumed.task.state_dict()[k]), k


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_save_every_epochs_must_be_a_positive_int(bad):
    task, device, cfg, images, labels = _two_epoch_dat()
    with pytest.raises(ValueError, match="save_every_epochs must be an int ≥ 1"):
        Trainer(task, cfg, physical=device).fit(images, labels, progress=False, save_every_epochs=bad)


def test_a_checkpoint_from_before_an_option_resumes_with_the_value_its_run_used(tmp_path):
    """Checkpoints written before ``adam_eps`` existed trained with torch's 1e-8: they resume under
    that value and are refused, naming the key, under another."""
    ckpt = tmp_path / "ckpt.pt"
    _fit(1, ckpt)
    old = load_checkpoint(ckpt)
    del old["config"]["adam_eps"]
    save_checkpoint(old, ckpt)
    _fit(2, ckpt, resume=True)  # 1e-8, the default
    old = load_checkpoint(ckpt)
    del old["config"]["adam_eps"]
    save_checkpoint(old, ckpt)
    with pytest.raises(CheckpointError, match=r"adam_eps: 1e-08 -> 1e-12"):
        _fit(3, ckpt, resume=True, adam_eps=1e-12)


@pytest.mark.parametrize("key, other, shown", [("sepn_ramp_epochs", 5, "0 -> 5"), ("sepn_lr_gamma", 1.0, "0.5 -> 1.0"),
                                               ("sepn_layers", "last", "'all' -> 'last'"),
                                               ("reference_joint", False, "True -> False")])
def test_a_checkpoint_from_before_the_sepn_schedule_options_resumes_as_its_run_trained(tmp_path, key, other, shown):
    """Runs before ``sepn_ramp_epochs`` / ``sepn_lr_gamma`` / ``sepn_layers`` switched the SEPN
    weight straight to 1, decayed the SEPN rate with ``lr_gamma`` and corrected every layer: those
    are their values on resume."""
    ckpt = tmp_path / "ckpt.pt"
    _fit(1, ckpt)
    old = load_checkpoint(ckpt)
    del old["config"][key]
    save_checkpoint(old, ckpt)
    _fit(2, ckpt, resume=True)
    old = load_checkpoint(ckpt)
    del old["config"][key]
    save_checkpoint(old, ckpt)
    with pytest.raises(CheckpointError, match=f"{key}: {shown}"):
        _fit(3, ckpt, resume=True, **{key: other})


def test_the_sepn_rate_factor_compares_as_the_one_in_effect(tmp_path):
    """``sepn_lr_gamma=None`` means ``lr_gamma``'s factor: a run saved with None resumes under the same
    factor given explicitly, and one saved with it explicitly resumes under None; another is refused."""
    ckpt = tmp_path / "ckpt.pt"
    _fit(1, ckpt)  # None: lr_gamma's 0.5
    _fit(2, ckpt, resume=True, sepn_lr_gamma=0.5)
    _fit(3, ckpt, resume=True)
    with pytest.raises(CheckpointError, match=r"sepn_lr_gamma: 0.5 -> 0.25"):
        _fit(4, ckpt, resume=True, sepn_lr_gamma=0.25)
