"""dat-mpnn's mesh layout and error-draw options, and resuming runs made before they existed."""

import json
import warnings

import pytest
import torch

from experiments.dat.mpnn import REFERENCE_DAT, DatMpnnConfig, arms_for, physical_seed
from training.records import RunDirError, claim_run_dir


def _errors(cfg):
    task, device, _ = arms_for(cfg, f"bs={cfg.bs_sigma},ps={cfg.ps_sigma}")[0].build()
    return task, device


def _bs_draws(device):
    """The beam-splitter errors the physical system hides, one flat vector."""
    hidden = device._PhysicalSystem__errors  # hidden from training code on purpose; a test may look
    return torch.cat([e.bs_in.flatten() for e in hidden.meshes])


def test_shared_draws_scale_one_draw_and_per_level_draws_are_independent():
    small = dict(modes=16, meshes=2, methods="ideal")
    a = _bs_draws(_errors(DatMpnnConfig(bs_sigma=0.04, error_draws="shared", **small))[1])
    b = _bs_draws(_errors(DatMpnnConfig(bs_sigma=0.08, error_draws="shared", **small))[1])
    assert torch.allclose(b, 2 * a, rtol=1e-5, atol=1e-7)  # one draw, scaled by σ
    c = _bs_draws(_errors(DatMpnnConfig(bs_sigma=0.04, error_draws="per-level", **small))[1])
    d = _bs_draws(_errors(DatMpnnConfig(bs_sigma=0.08, error_draws="per-level", **small))[1])
    corr = torch.corrcoef(torch.stack([c, d]))[0, 1]
    assert abs(float(corr)) < 0.5  # independent draws (|r| of ~60 pairs of independent normals)
    # deterministic: the same level gives the same seed, another level another one
    assert physical_seed(DatMpnnConfig(bs_sigma=0.04)) == physical_seed(DatMpnnConfig(bs_sigma=0.04))
    assert physical_seed(DatMpnnConfig(bs_sigma=0.04)) != physical_seed(DatMpnnConfig(bs_sigma=0.06))
    assert physical_seed(DatMpnnConfig(error_draws="shared", error_seed=7)) == 7


def test_wrap_around_reaches_the_meshes():
    on, _ = _errors(DatMpnnConfig(modes=16, meshes=2, methods="ideal"))
    off, _ = _errors(DatMpnnConfig(modes=16, meshes=2, methods="ideal", wrap_around=False))
    assert all(m.layout.wrap_around for m in on.model.meshes)
    assert not any(m.layout.wrap_around for m in off.model.meshes)


def test_bad_error_draws_is_refused():
    with pytest.raises(ValueError, match="error_draws must be 'per-level' or 'shared'"):
        DatMpnnConfig(error_draws="independent")


def _stored_run(tmp_path, config: dict):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"experiment": "dat-mpnn", "config": config}))
    return tmp_path


def test_a_run_from_before_the_options_resumes_only_with_their_old_values(tmp_path):
    old = {k: v for k, v in DatMpnnConfig().__dict__.items()
           if k not in ("wrap_around", "error_draws", "dat_fusion", "dat_lr_step_epochs", "selection")}
    run = _stored_run(tmp_path, old)
    with pytest.raises(RunDirError, match="wrap_around: False -> True"):
        claim_run_dir(run, experiment="dat-mpnn", config=DatMpnnConfig(), resume=True, overwrite=False)
    with pytest.raises(RunDirError, match="dat_fusion: 'carry' -> 'reference'"):
        claim_run_dir(run, experiment="dat-mpnn", config=DatMpnnConfig(wrap_around=False, error_draws="shared"),
                      resume=True, overwrite=False)
    with pytest.raises(RunDirError, match="dat_lr_step_epochs: 10 -> 20"):
        claim_run_dir(run, experiment="dat-mpnn", resume=True, overwrite=False,
                      config=DatMpnnConfig(wrap_around=False, error_draws="shared", dat_fusion="carry",
                                           dat_lr_step_epochs=20))
    lock = claim_run_dir(run, experiment="dat-mpnn", resume=True, overwrite=False,
                         config=DatMpnnConfig(wrap_around=False, error_draws="shared", dat_fusion="carry"))
    lock.release()


def test_dat_arms_take_the_default_fusion_rule_unless_the_method_names_one():
    def rules(**kw):
        cfg = DatMpnnConfig(modes=16, meshes=2, methods="ideal,pat,dat,dat-is,dat-ref,dat-carry-is", **kw)
        return {a.label: a.config.dat_fusion for a in arms_for(cfg, "bs=0.06,ps=0.06")}

    assert rules() == {"mesh-ideal": "carry", "mesh-pat": "carry", "mesh-dat": "reference", "mesh-dat-is": "reference",
                       "mesh-dat-ref": "reference", "mesh-dat-carry-is": "carry"}  # non-DAT arms: the unused default
    assert rules(dat_fusion="carry") == {"mesh-ideal": "carry", "mesh-pat": "carry", "mesh-dat": "carry",
                                         "mesh-dat-is": "carry", "mesh-dat-ref": "reference",
                                         "mesh-dat-carry-is": "carry"}
    with pytest.raises(ValueError, match="dat_fusion must be 'reference' or 'carry'"):
        DatMpnnConfig(dat_fusion="inplace")


def test_selection_on_the_test_set_trains_on_every_image_and_reports_the_best_test_epoch(tmp_path):
    """The reference code's protocol: no held-out split (every training image trains, so the
    physical samples of training are epochs × n_train) and the reported physical test accuracy
    is the best over the epochs' test accuracies (each epoch's validation is the test set)."""
    from experiments.__main__ import main

    small = ["--methods", "ideal,pat", "--epochs", "3", "--n-train", "200", "--n-test", "80"]
    for name, extra in (("t", ["--selection", "test"]), ("v", [])):
        assert main(["run", "dat-mpnn", "--scale", "smoke", *small, *extra, "--out", str(tmp_path / name)]) == 0
    pat_t = json.loads((tmp_path / "t" / "progress.json").read_text())["mesh-pat"]
    pat_v = json.loads((tmp_path / "v" / "progress.json").read_text())["mesh-pat"]
    assert pat_t["samples_train"] == 3 * 200
    assert pat_v["samples_train"] == 3 * (200 - 20)  # 10 % held out
    assert pat_t["selected_on"] == "test" and pat_v["selected_on"] == "validation"
    # every epoch validated on the 80 test images: accuracies are multiples of 1/80
    val = [h["val_accuracy"] for h in pat_t["history"]]
    assert all(abs(80 * a - round(80 * a)) < 1e-9 for a in val)
    assert pat_t["physical_accuracy"] == pytest.approx(max(val), abs=1e-12)
    with pytest.raises(ValueError, match="selection must be 'validation' or 'test'"):
        DatMpnnConfig(selection="best")


def test_dat_arms_with_internal_states_halve_their_learning_rate_on_their_own_schedule():
    """--dat-lr-step-epochs sets the DAT w/ IS arms' step alone (the reference's MNIST DAT w/ IS logs: 20)."""
    from experiments.dat.mpnn import SCALES

    def steps(**kw):
        cfg = DatMpnnConfig(modes=16, meshes=2, methods="ideal,pat,dat,dat-is", **kw)
        return {a.label: (a.config.lr_step_epochs, a.config.dat_warmup_epochs) for a in arms_for(cfg, "bs=0.06,ps=0.06")}

    # (lr step, SEPN warm-up)
    assert steps() == {"mesh-ideal": (10, 20), "mesh-pat": (10, 20), "mesh-dat": (10, 20), "mesh-dat-is": (10, 20)}
    assert steps(dat_lr_step_epochs=20) == {"mesh-ideal": (10, 20), "mesh-pat": (10, 20), "mesh-dat": (10, 20),
                                            "mesh-dat-is": (20, 20)}
    assert steps(dat_lr_step_epochs=20, dat_warmup_epochs=50)["mesh-dat-is"] == (20, 50)
    cpu = steps(**{k: v for k, v in SCALES["cpu"].items() if "step" in k or "warmup" in k})
    assert set(cpu.values()) == {(2, 0)}
    # the trainer's schedules follow: after 20 epochs' steps the DAT arm's PNN and SEPN rates are halved once
    arm = arms_for(DatMpnnConfig(modes=16, meshes=2, methods="dat-is", dat_lr_step_epochs=20, dat_is_sepn_lr_gamma=0.5,
                                 dat_is_sepn_lr_factor=1.0), "bs=0.06,ps=0.06")[0]
    from training import Trainer

    task, device, model = arm.build()
    t = Trainer(task, arm.config, physical=device, error_model=model)
    rates = []
    with warnings.catch_warnings():  # the schedulers step without optimizer steps here, on purpose
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(41):
            rates.append((t.pnn_opt.param_groups[0]["lr"], t.sepn_opt.param_groups[0]["lr"]))
            t.pnn_sched.step()
            t.sepn_sched.step()
    assert rates[19] == (1e-3, 1e-3) and rates[20] == (5e-4, 5e-4) and rates[40] == (2.5e-4, 2.5e-4)


def test_dat_arms_with_internal_states_take_their_own_similarity_rule_and_rates():
    """The DAT w/ IS arms: no joint leak, a constant SEPN rate twice the shared one, the phases' full
    rate by default (the w/o IS arms: the reference code's leak and SEPN rate, the phases' rate ×0.25
    from the switch-on); each set of keys sets its arms alone."""
    def rule(**kw):
        cfg = DatMpnnConfig(modes=16, meshes=2, methods="pat,dat,dat-is,dat-carry-is", **kw)
        return {a.label: (a.config.reference_joint, a.config.sepn_lr_gamma, a.config.dat_lr_factor, a.config.sepn_lr)
                for a in arms_for(cfg, "bs=0.06,ps=0.06") if a.method == "dat"}

    assert rule() == {"mesh-dat": (True, 0.5, 0.25, 1e-3), "mesh-dat-is": (False, 1.0, 1.0, 2e-3),
                      "mesh-dat-carry-is": (False, 1.0, 1.0, 2e-3)}
    assert rule(reference_joint=False, sepn_lr_gamma=1.0, dat_lr_factor=0.5) == {
        "mesh-dat": (False, 1.0, 0.5, 1e-3), "mesh-dat-is": (False, 1.0, 1.0, 2e-3),
        "mesh-dat-carry-is": (False, 1.0, 1.0, 2e-3)}
    assert rule(dat_is_reference_joint=True, dat_is_sepn_lr_gamma=0.5, dat_is_lr_factor=0.25,
                dat_is_sepn_lr_factor=1.0)["mesh-dat-is"] == (True, 0.5, 0.25, 1e-3)


def test_a_run_from_before_the_w_is_keys_resumes_with_what_its_w_is_arms_used(tmp_path):
    """Runs stored before the ``dat_is_*`` keys gave their w/ IS arms the shared keys' values: a
    resume compares the new keys with those (here a run started with --reference-joint false
    --sepn-lr-gamma 1 --dat-lr-factor 0.25 --methods dat-is, and one with the old defaults)."""
    new_keys = ("dat_is_reference_joint", "dat_is_sepn_lr_gamma", "dat_is_lr_factor", "dat_is_sepn_lr_factor",
                "score_scale")
    old = {k: v for k, v in DatMpnnConfig(methods="dat-is", reference_joint=False, sepn_lr_gamma=1.0,
                                          dat_lr_factor=0.25).__dict__.items() if k not in new_keys}
    run = _stored_run(tmp_path / "a", old)
    same = DatMpnnConfig(methods="dat-is", reference_joint=False, sepn_lr_gamma=1.0, dat_lr_factor=0.25,
                         dat_is_lr_factor=0.25, dat_is_sepn_lr_factor=1.0, score_scale=1.0)
    claim_run_dir(run, experiment="dat-mpnn", config=same, resume=True, overwrite=False).release()
    default_before = {k: v for k, v in DatMpnnConfig(dat_lr_factor=1.0).__dict__.items() if k not in new_keys}
    run = _stored_run(tmp_path / "b", default_before)
    with pytest.raises(RunDirError, match="dat_is_reference_joint: True -> False.*dat_is_sepn_lr_factor: 1.0 -> 2.0.*"
                       "dat_lr_factor: 1.0 -> 0.25"):
        claim_run_dir(run, experiment="dat-mpnn", config=DatMpnnConfig(), resume=True, overwrite=False)
    with pytest.raises(RunDirError, match=r"\(score_scale: 1.0 -> 12.0\)"):  # stored before the key: × 1
        claim_run_dir(run, experiment="dat-mpnn", config=DatMpnnConfig(**{**REFERENCE_DAT, "score_scale": 12.0}),
                      resume=True, overwrite=False)
    as_it_ran = DatMpnnConfig(**REFERENCE_DAT)
    claim_run_dir(run, experiment="dat-mpnn", config=as_it_ran, resume=True, overwrite=False).release()


def test_the_w_is_arms_sepn_rate_is_the_shared_one_times_their_factor():
    cfg = DatMpnnConfig(modes=16, meshes=2, methods="dat,dat-is", sepn_learning_rate=3e-3, dat_is_sepn_lr_factor=2.0)
    rates = {a.label: a.config.sepn_lr for a in arms_for(cfg, "bs=0.06,ps=0.06")}
    assert rates == {"mesh-dat": 3e-3, "mesh-dat-is": 6e-3}
    ref = {a.label: a.config.sepn_lr for a in arms_for(DatMpnnConfig(methods="dat,dat-is", **REFERENCE_DAT),
                                                        "bs=0.06,ps=0.06")}
    assert ref == {"mesh-dat": 1e-3, "mesh-dat-is": 1e-3}  # the reference code: one SEPN rate
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="--dat-is-sepn-lr-factor must be a finite number > 0"):
            DatMpnnConfig(dat_is_sepn_lr_factor=bad)
