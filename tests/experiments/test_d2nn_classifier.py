"""d2nn-classifier: Lin et al.'s MSE target and loss against hand computations, the detector
energy bookkeeping against closed forms, the published geometry, the CLI's errors, a smoke run
with its report page, and interrupt/resume."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import experiments  # noqa: F401  (registers every experiment)
from experiments.d2nn.runner import D2nnConfig, SCALES, build_task
from experiments.registry import EXPERIMENTS, build_config
from training.runtime import Interrupted, Runtime
from optics import FreeSpace, Grid, PhaseMask
from optics.functional import ten_region_layout
from training.losses import detector_targets, lin_mse
from training.metrics import energy_distribution

ROOT = Path(__file__).resolve().parents[2]


def _squares(n: int, size_px: int, spacing_px: int) -> np.ndarray:
    """The 3-4-3 detector squares drawn by hand: pixel centres at (i − (n−1)/2) px, rows at
    y = −s, 0, +s, the 3-rows at x = −s, 0, s and the 4-row at ±s/2, ±3s/2."""
    c = np.arange(n) - (n - 1) / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    s = spacing_px
    centres = [(-s, k * s) for k in (-1, 0, 1)] + [(0, k * s) for k in (-1.5, -0.5, 0.5, 1.5)] \
        + [(s, k * s) for k in (-1, 0, 1)]
    return np.stack([(np.abs(yy - cy) < size_px / 2) & (np.abs(xx - cx) < size_px / 2) for cy, cx in centres])


def test_detector_targets_are_the_true_detector_drawn_by_hand():
    grid = Grid(40, 1e-3)
    regions, _ = ten_region_layout(grid, size=4e-3, spacing=8e-3)  # edges fall between pixel centres
    ref = _squares(40, 4, 8)
    labels = torch.tensor([0, 3, 6, 9, 5])
    g = detector_targets(regions, labels)
    assert g.shape == (5, 40, 40) and g.dtype == torch.float32
    np.testing.assert_array_equal(g.numpy(), ref[labels.numpy()].astype(np.float32))
    assert torch.all(g.flatten(1).sum(1) == 16)  # 4 × 4 pixels each


def test_lin_mse_matches_a_hand_computation_and_its_closed_forms():
    rng = np.random.default_rng(1)
    n, b = 20, 3
    regions = torch.from_numpy(_squares(n, 2, 4))
    labels = torch.tensor([2, 7, 4])
    out = rng.random((b, n, n))
    ref = []
    for i in range(b):
        g = _squares(n, 2, 4)[labels[i]].astype(float)
        s = out[i] * g.sum() / out[i].sum()
        ref.append(((s - g) ** 2).mean())
    got = lin_mse(torch.from_numpy(out), regions, labels)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(float(got), np.mean(ref), rtol=1e-12)
    # all the output power spread evenly over the true detector, at any brightness: zero loss
    ideal = detector_targets(regions, labels).double() * torch.tensor([0.3, 2.0, 7.0])[:, None, None]
    assert float(lin_mse(ideal, regions, labels)) == pytest.approx(0, abs=1e-24)
    # a uniform plane: s = A/K everywhere, so E = (A/K)(1 − A/K) whatever its brightness
    a_k = 4 / n**2
    flat = torch.full((b, n, n), 5.0, dtype=torch.float64)
    assert float(lin_mse(flat, regions, labels)) == pytest.approx(a_k * (1 - a_k), rel=1e-12)
    # the loss cannot be lowered by throwing light away: scaling the plane changes nothing
    scaled = lin_mse(torch.from_numpy(out) * 1e-3, regions, labels)
    assert float(scaled) == pytest.approx(float(got), rel=1e-12)


def test_lin_mse_scaled_by_the_detectors_matches_a_hand_computation_and_its_closed_forms():
    rng = np.random.default_rng(2)
    n, b = 20, 3
    sq = _squares(n, 2, 4)
    regions = torch.from_numpy(sq)
    labels = torch.tensor([1, 9, 5])
    out = rng.random((b, n, n))
    on_detectors = sq.any(0)
    ref = []
    for i in range(b):
        g = sq[labels[i]].astype(float)
        s = out[i] * g.sum() / out[i][on_detectors].sum()
        ref.append(((s - g) ** 2).mean())
    got = lin_mse(torch.from_numpy(out), regions, labels, scale="detectors")
    np.testing.assert_allclose(float(got), np.mean(ref), rtol=1e-12)
    # all the detectors' light on the true one, evenly: zero loss at any brightness
    ideal = detector_targets(regions, labels).double() * torch.tensor([0.3, 2.0, 7.0])[:, None, None]
    assert float(lin_mse(ideal, regions, labels, scale="detectors")) == pytest.approx(0, abs=1e-24)
    # a uniform plane: the ten detectors hold 10 A pixels, so s = 1/10 everywhere and
    # E = (A (1 − 1/10)² + (K − A)(1/10)²) / K
    a, k = 4, n**2
    flat = torch.full((b, n, n), 5.0, dtype=torch.float64)
    want = (a * 0.81 + (k - a) * 0.01) / k
    assert float(lin_mse(flat, regions, labels, scale="detectors")) == pytest.approx(want, rel=1e-12)
    # light added off the detectors leaves s on them as it was and only adds its own (s − 0)²
    extra = torch.zeros(b, n, n, dtype=torch.float64)
    extra[:, 0, 0] = 3.0  # the corner pixel is on no detector
    assert not on_detectors[0, 0]
    s0 = 3.0 * a / ideal.flatten(1).sum(1)  # its scaled value (the detectors' power is unchanged)
    more = lin_mse(ideal + extra, regions, labels, scale="detectors")
    assert float(more) == pytest.approx(float((s0**2).mean()) / k, rel=1e-12)
    with pytest.raises(ValueError, match="scale must be one of output, detectors"):
        lin_mse(flat, regions, labels, scale="input")
    # light only off the detectors: P is floored at 1e-6 of the plane's light, so s = 1e6 · A
    # on the lit pixel and E = ((1e6 A)² + A) / K (the true region, dark, misses its 1s): large
    # and finite, with finite gradients, in float32 as in float64
    for dtype in (torch.float32, torch.float64):
        dark = extra.to(dtype).requires_grad_(True)
        e = lin_mse(dark, regions, labels, scale="detectors")
        assert float(e.detach()) == pytest.approx(((1e6 * a) ** 2 + a) / k, rel=1e-5)
        e.backward()
        assert torch.isfinite(dark.grad).all()


def test_detector_energies_of_a_uniform_plane_are_the_areas():
    grid = Grid(40, 1e-3)
    regions, _ = ten_region_layout(grid, size=4e-3, spacing=8e-3)
    task = build_task(D2nnConfig(grid_px=40, pitch_m=1e-3, active_px=40, layers=1, region_px=4, region_spacing_px=8))
    torch.testing.assert_close(task.regions, regions.float())
    e = task.detector_energies(torch.full((2, 40, 40), 0.5))
    assert e.shape == (2, 10)
    torch.testing.assert_close(e, torch.full((2, 10), 8.0))  # 16 pixels × 0.5


def test_energy_distribution_fractions_are_consistent_and_conserve_energy():
    cfg = build_config(EXPERIMENTS["d2nn-classifier"], "smoke", [])
    task = build_task(cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in task.system.layers:
            if isinstance(layer, PhaseMask):
                layer.phase.uniform_(0, 6.283, generator=g)
    images = torch.rand(23, 28, 28, generator=g)
    labels = torch.arange(23) % 10
    e = energy_distribution(task, images, labels, batch_size=7, progress=False)
    m = torch.tensor(e["fraction_of_output_by_class"], dtype=torch.float64)
    assert m.shape == (10, 10) and torch.all(m >= 0) and torch.all(m.sum(1) <= 1 + 1e-9)
    assert 0 <= e["correct_of_output"] <= e["detectors_of_output"] <= 1
    assert 0 <= e["correct_of_detectors"] <= 1
    assert 0 < e["output_of_input"] <= 1 + 1e-5  # passive: light only leaves through the aperture
    counts = torch.tensor(e["n_by_class"], dtype=torch.float64)
    assert e["n"] == 23 and counts.tolist() == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    # the class means weighted by their counts give the overall means
    assert float((m.diag() * counts).sum() / 23) == pytest.approx(e["correct_of_output"], rel=1e-9)
    assert float((m.sum(1) * counts).sum() / 23) == pytest.approx(e["detectors_of_output"], rel=1e-9)
    # the same numbers one sample at a time
    x = task.encode(images[:1])
    out, _ = task.numeric(x)
    i = task.intensity(out).double()
    ratio = float((i.sum() / task.intensity(x).double().sum()).detach())
    e1 = energy_distribution(task, images[:1], labels[:1], progress=False)
    assert e1["output_of_input"] == pytest.approx(ratio, rel=1e-9)
    pat = e1["mean_output_intensity_by_class"]
    assert float(pat[0].sum()) == pytest.approx(ratio, rel=1e-5) and float(pat[1:].abs().sum()) == 0


def test_published_geometry_is_lin_et_al():
    cfg = D2nnConfig()
    parts = list(build_task(cfg).system.layers)
    gaps = [p for p in parts if isinstance(p, FreeSpace)]
    masks = [p for p in parts if isinstance(p, PhaseMask)]
    assert isinstance(parts[0], FreeSpace) and isinstance(parts[-1], FreeSpace)  # input gap, detector gap
    assert [g.distance for g in gaps] == [0.03] * 6 and len(masks) == 5
    assert all(g.wavelength == 0.75e-3 and g.pad_factor == 2 for g in gaps)
    assert all(m.phase.shape == (200, 200) for m in masks) and gaps[0].grid.shape == (200, 200)
    assert gaps[0].grid.dx == 0.4e-3
    pub = build_config(EXPERIMENTS["d2nn-classifier"], "published", [])
    assert (pub.n_train, pub.n_test, pub.grid_px, pub.layers) == (60000, 10000, 200, 5)
    assert round(pub.val_fraction * pub.n_train) == 5000  # Lin et al.: 55,000 / 5,000
    assert set(SCALES["published"]) <= {"epochs", "lr_step_epochs"}  # only the budget differs from paper


def test_phases_start_at_zero_or_uniform_below_phase_init_rad_from_the_seed():
    def phases(**kw):
        cfg = dataclasses.replace(D2nnConfig(), grid_px=64, active_px=64, image_px=32, region_px=4,
                                  region_spacing_px=10, **kw)
        return torch.stack([m.phase.detach().double() for m in build_task(cfg).system.layers
                            if isinstance(m, PhaseMask)])

    assert float(phases().abs().max()) == 0  # the default: every phase 0
    a = phases(phase_init_rad=1.0, seed=3)
    assert a.shape == (5, 64, 64) and float(a.min()) >= 0 and float(a.max()) < 1.0
    # U[0, 1): mean 1/2, variance 1/12 (4,096 samples per layer: sd of the mean 0.0045)
    assert a.mean(dim=(1, 2)).sub(0.5).abs().max() < 0.025
    assert float(a.var()) == pytest.approx(1 / 12, rel=0.05)
    assert not torch.equal(a[0], a[1])  # each layer its own draw
    assert torch.equal(a, phases(phase_init_rad=1.0, seed=3))  # the same seed, the same start (every rank)
    assert not torch.equal(a, phases(phase_init_rad=1.0, seed=4))


@pytest.mark.parametrize("args, needle", [
    (["--loss", "hinge"], "--loss must be one of ce, mse"),
    (["--methods", "pat"], "error-free model only"),
    (["--input-gap-m", "-0.01"], "--input-gap-m must be ≥ 0"),
    (["--phase-init-rad", "7"], "--phase-init-rad must lie in [0, 2π] rad"),
    (["--adam-eps", "-1e-9"], "--adam-eps must be a finite number ≥ 0 (0: the loss's own)"),
])
def test_bad_options_are_one_line_errors_with_exit_2(args, needle, tmp_path, capsys):
    from experiments.__main__ import main

    assert main(["run", "d2nn-classifier", "--scale", "smoke", "--out", str(tmp_path / "r"), *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_cli_rejects_a_bad_loss_with_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "experiments", "run", "d2nn-classifier", "--scale", "smoke",
                        "--loss", "l1", "--out", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _run(loss, out, runtime=None, resume=False, extra=()):
    exp = EXPERIMENTS["d2nn-classifier"]
    cfg = build_config(exp, "smoke", ["--loss", loss, *extra])
    Path(out).mkdir(parents=True, exist_ok=True)
    return exp.run(cfg, out, resume=resume, runtime=runtime or Runtime(progress=False))


def test_smoke_runs_record_energy_and_the_report_page_is_written(tmp_path):
    from experiments.__main__ import main

    for loss in ("mse", "ce"):  # mse with its own schedule: the page states each run's
        summary = _run(loss, tmp_path / loss, extra=("--epochs", "2", "--lr-step-epochs", "1") if loss == "mse" else ())
        r = summary[f"d2nn-{loss}"]
        assert 0 <= r["numeric_accuracy"] <= 1 and set(r["energy"]) >= {"correct_of_output", "output_of_input"}
        energy = json.loads((tmp_path / loss / "energy.json").read_text())[f"d2nn-{loss}"]
        assert len(energy["fraction_of_output_by_class"]) == 10
        import h5py

        with h5py.File(tmp_path / loss / "results.h5", "r") as f:  # the loss's own units
            units = f[f"d2nn-{loss}/train_loss"].attrs["units"]
        assert ("mean squared error" if loss == "mse" else "cross-entropy") in units
    page = tmp_path / "docs" / "d2nn.md"
    assert main(["report", "d2nn", str(tmp_path / "ce"), str(tmp_path / "mse"), "--out", str(page)]) == 0
    text = page.read_text()
    assert "Not final" not in text and "| `mse` (detector scaling) |" in text and "| `ce` |" in text
    assert "s is the output intensity scaled so that the light on the ten detectors" in text  # the default
    for ref in [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]:
        assert (page.parent / ref).is_file(), ref
    assert "d2nn_figures/d2nn-mse_energy.png" in text and "91.75" in text and "97.18" in text and "≥ 97.0" in text
    assert "`mse` (detector scaling) learning rate 0.05 halved every 1 epoch(s), 2 epochs; `ce` learning rate" in text
    assert "- `mse` (detector scaling) (one process, one thread): 2 epoch(s)" in text and "the epochs (here `mse` 2, `ce` 1;" in text
    # each run's line says how many epochs fit 2 h at its own pace (wall time per epoch from its record)
    res = json.loads((tmp_path / "mse" / "summary.json").read_text())["d2nn-mse"]
    fit = int(2 * 3600 // (res["wall_time_s"] / 2))
    assert f"2 epoch(s), {res['wall_time_s'] / 3600:.2f} h wall" in text and f"about {fit} epochs fit the 2 h budget" in text
    # a second mse run on the same page: each keeps its own name, curves and figure files
    _run("mse", tmp_path / "mse-b", extra=("--epochs", "2", "--lr-step-epochs", "1", "--mse-learning-rate", "0.1"))
    assert main(["report", "d2nn", str(tmp_path / "mse"), str(tmp_path / "mse-b"), str(tmp_path / "ce"),
                 "--out", str(page)]) == 0
    text = page.read_text()
    assert "| `mse` (detector scaling), lr 0.05, 2 epochs |" in text and "| `mse` (detector scaling), lr 0.1, 2 epochs |" in text
    refs = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(refs) == len(set(refs)) == 2 + 3 * 3 and all((page.parent / ref).is_file() for ref in refs)
    assert "d2nn_figures/mse_energy.png" in refs and "d2nn_figures/mse-b_energy.png" in refs


def test_report_rejects_a_foreign_directory_in_one_line(tmp_path, capsys):
    from experiments.__main__ import main

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"experiment": "dat-mpnn", "config": {}}')
    assert main(["report", "d2nn", str(tmp_path / "other"), "--out", str(tmp_path / "p.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reads runs of d2nn-classifier" in err[0], err


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole = _run("mse", tmp_path / "whole")
    stop = Runtime(progress=False)
    stop.request_stop()  # stops at the first safe point: after the first step of the epoch
    with pytest.raises(Interrupted):
        _run("mse", tmp_path / "cut", runtime=stop)
    assert (tmp_path / "cut" / "checkpoints" / "d2nn-mse.pt").exists()
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = _run("mse", tmp_path / "cut", resume=True)
    assert resumed["d2nn-mse"]["numeric_accuracy"] == whole["d2nn-mse"]["numeric_accuracy"]
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["d2nn-mse"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["d2nn-mse"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_export_rebuilds_the_d2nn_geometry(tmp_path):
    from experiments.export import load_design

    _run("ce", tmp_path / "r")
    task, dcfg, arm = load_design(tmp_path / "r")
    assert arm == "d2nn-ce" and type(dcfg).__name__ == "D2nnConfig"
    assert isinstance(task.system.layers[0], FreeSpace)  # the input gap
    saved = torch.load(tmp_path / "r" / "model.pt", weights_only=True)["d2nn-ce"]
    for k, v in saved.items():
        torch.testing.assert_close(task.state_dict()[k], v, rtol=0, atol=0)


def test_the_page_names_each_mse_runs_scaling_and_older_records_scaled_by_the_output_plane():
    from experiments.d2nn.report import _label, _losses_paragraph

    old, new, ce = ({"loss": "mse", "config": {}}, {"loss": "mse", "config": {"mse_scale": "detectors"}},
                    {"loss": "ce", "config": {}})
    assert _label(old) == "`mse` (output-plane scaling)" and _label(new) == "`mse` (detector scaling)"
    both = _losses_paragraph([old, new, ce])
    assert "`detectors` (detector scaling)" in both and "`output` (output-plane scaling)" in both
    assert "`mse`" not in _losses_paragraph([ce]) and "`ce` is the softmax cross-entropy" in both


def test_adam_eps_is_the_losss_own_unless_given_and_older_records_used_torchs():
    from experiments.d2nn.runner import adam_eps_of, d2nn_arms
    from training.records import config_differences

    assert adam_eps_of(D2nnConfig(loss="mse")) == 1e-12 and adam_eps_of(D2nnConfig(loss="ce")) == 1e-8
    assert adam_eps_of(D2nnConfig(loss="mse", adam_eps=3e-9)) == 3e-9
    assert adam_eps_of({"loss": "mse"}) == 1e-8  # a record from before the option: torch's default
    assert d2nn_arms(D2nnConfig(loss="mse"))[0].config.adam_eps == 1e-12
    # resuming such a record with today's default is a changed setting, named in the refusal
    old = dataclasses.asdict(D2nnConfig(loss="mse"))
    del old["adam_eps"]
    diff = config_differences(old, dataclasses.asdict(D2nnConfig(loss="mse")), legacy=D2nnConfig.LEGACY_DEFAULTS)
    assert diff == ["adam_eps: 1e-08 -> 0.0"]
    assert config_differences(old, dataclasses.asdict(D2nnConfig(loss="mse", adam_eps=1e-8)),
                              legacy=D2nnConfig.LEGACY_DEFAULTS) == []
