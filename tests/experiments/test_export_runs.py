"""``python -m experiments export`` on every kind of run that holds a diffractive design, and a
one-line refusal (exit 2) for a run that holds none."""

import json
import math

import pytest
import torch

from experiments.__main__ import main
from hardware.writers import read_hdf5


def _wrapped_distance(a, b):
    d = torch.remainder(a - b, 2 * math.pi)
    return torch.minimum(d, 2 * math.pi - d)


def _check_export(run_dir, phases, wavelength, pitch, capsys, levels=8):
    rc = main(["export", str(run_dir), "--format", "hdf5,csv", "--levels", str(levels)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "no tolerance report" in out.out  # phase-mask designs: fabrication files only, said plainly
    hmap = read_hdf5(run_dir / "export" / "heights.h5")
    assert hmap.height.shape == phases.shape
    assert hmap.wavelength == pytest.approx(wavelength) and hmap.pitch == pytest.approx(pitch)
    # the printed relief delays by the trained phase (mod 2π), up to half a quantization step
    got = hmap.phase().double()
    assert float(_wrapped_distance(got, phases.double()).max()) <= math.pi / levels + 1e-6
    assert (run_dir / "export" / "height_layer0.csv").exists()


def _write_json(path, obj):
    path.write_text(json.dumps(obj))


def test_beam_splitter_run(tmp_path, capsys):
    run = tmp_path / "bs"
    assert main(["run", "beam-splitter", "--scale", "smoke", "--steps", "2", "--out", str(run)]) == 0
    state = torch.load(run / "model.pt", weights_only=True)
    phases = torch.stack([state[k] for k in sorted(state) if k.endswith(".phase")])
    assert phases.shape[0] == json.loads((run / "config.json").read_text())["config"]["layers"]
    cfg = json.loads((run / "config.json").read_text())["config"]
    _check_export(run, phases, cfg["wavelength_m"], cfg["pitch_m"], capsys)


def test_diffuser_imaging_run_layout(tmp_path, capsys):
    # the files diffuser-imaging writes: model.pt = {"phase": (L, ny, nx), "known_diffusers", "config"}
    run = tmp_path / "di"
    run.mkdir()
    cfg = {"wavelength_m": 0.75e-3, "pitch_m": 0.3e-3, "grid_px": 12, "layers": 2}
    _write_json(run / "config.json", {"experiment": "diffuser-imaging", "seed": 0, "config": cfg})
    _write_json(run / "summary.json", {"pcc_known": 0.5, "wall_time_s": 1.0})
    phases = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    torch.save({"phase": phases, "known_diffusers": torch.ones(2, 12, 12, dtype=torch.complex64), "config": cfg},
               run / "model.pt")
    _check_export(run, phases, 0.75e-3, 0.3e-3, capsys)


def test_vaccination_imaging_arms(tmp_path, capsys):
    run = tmp_path / "vac"
    run.mkdir()
    _write_json(run / "config.json", {"experiment": "vaccination", "seed": 0, "config": {"wavelength_m": 1.0}})
    _write_json(run / "imaging_config.json", {"experiment": "diffuser-imaging (vaccination part)", "seed": 0,
                                              "config": {"wavelength_m": 0.75e-3, "pitch_m": 0.4e-3}})
    _write_json(run / "summary.json", {"imaging-standard": {"pcc": 0.4}, "imaging-vaccinated": {"pcc": 0.5},
                                       "criterion": None, "wall_time_total_s": 3.0})
    gen = torch.Generator().manual_seed(1)
    std, vac = (torch.rand(2, 10, 10, generator=gen) * 6 for _ in range(2))
    torch.save({"imaging-standard": {"phase": std}, "imaging-vaccinated": {"phase": vac}}, run / "model.pt")
    assert main(["export", str(run), "--arm", "imaging-vaccinated", "--format", "hdf5", "--levels", "16"]) == 0
    got = read_hdf5(run / "export" / "heights.h5").phase().double()
    assert float(_wrapped_distance(got, vac.double()).max()) <= math.pi / 16 + 1e-6
    capsys.readouterr()
    assert main(["export", str(run), "--arm", "classifier-standard", "--no-tolerance"]) == 2
    assert "unknown diffractive arm 'classifier-standard'; available: imaging-standard, imaging-vaccinated" in \
        capsys.readouterr().err


def test_mesh_only_run_is_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "mpnn"
    run.mkdir()
    _write_json(run / "config.json", {"experiment": "dat-mpnn", "seed": 0, "config": {}})
    _write_json(run / "summary.json", {"mesh-dat": {"family": "mesh", "physical_accuracy": 0.5}})
    assert main(["export", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: run ") and "holds no diffractive design" in err


def test_corrupt_model_file_names_the_path(tmp_path, capsys):
    run = tmp_path / "bad"
    run.mkdir()
    _write_json(run / "config.json", {"experiment": "beam-splitter", "seed": 0,
                                      "config": {"wavelength_m": 1e-3, "pitch_m": 1e-3}})
    _write_json(run / "summary.json", {"efficiency": 0.1})
    (run / "model.pt").write_bytes(b"not a torch file")
    assert main(["export", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(run / "model.pt") in err
