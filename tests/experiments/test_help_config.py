"""`--help-config` gives every key of every registered experiment a meaning, and a unit where
the key names a physical quantity; fields with a fixed set of values are ``Literal``s whose
choices are shown and enforced."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import experiments  # noqa: F401  (registers every experiment)
from experiments.registry import EXPERIMENTS, build_config, check_values, field_help, help_config, parse_overrides
from training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
# names that announce a physical or numerical quantity with a unit: lengths, times, angles,
# wavelengths, pixel counts, learning rates, spreads, fractions, refractive indices …
PHYSICAL = re.compile(r"(_m|_s|_mm|_wl|_lambda|_px|_rad\w*)$|wavelength|pitch|^lr|_lr$|learning_rate|sigma|gap"
                      r"|fraction|index|delta_n|temperature|radius|waist|resolution|epochs|factor|tolerance")
UNIT = re.compile(r"\[[^\]]+\]")
CASES = [(name, f.name) for name, exp in sorted(EXPERIMENTS.items()) for f in dataclasses.fields(exp.config_type)]


def test_every_key_of_every_experiment_has_help():
    missing = [f"{name}: --{key}" for name, key in CASES if not field_help(EXPERIMENTS[name].config_type)[key].strip()]
    assert not missing, "keys without help text (add a '# meaning [unit]' comment to the field):\n" + "\n".join(missing)


def test_physical_keys_state_their_unit():
    bad = [f"{name}: --{key}: {field_help(EXPERIMENTS[name].config_type)[key]!r}" for name, key in CASES
           if PHYSICAL.search(key) and not UNIT.search(field_help(EXPERIMENTS[name].config_type)[key])]
    assert not bad, "physical keys whose help names no unit in [brackets]:\n" + "\n".join(bad)


def test_train_config_fields_have_help_and_units():
    docs = field_help(TrainConfig)
    assert all(docs[f.name] for f in dataclasses.fields(TrainConfig)), docs
    assert all(UNIT.search(docs[k]) for k in docs if PHYSICAL.search(k)), docs


def test_help_config_prints_meaning_for_every_key():
    exp = EXPERIMENTS["dat-mpnn"]
    text = help_config(exp, "cpu")
    rows = [line for line in text.splitlines() if line.startswith("  --")]
    assert len(rows) == len(dataclasses.fields(exp.config_type))
    for row in rows:
        assert re.search(r"\)\s{2}\S", row), row  # "(type)  meaning"
    assert "[rad]" in text and "choices: mnist, fashion-mnist" in text


def test_help_config_cli_lists_units():
    out = subprocess.run([sys.executable, "-m", "experiments", "run", "beam-splitter", "--help-config"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--wavelength-m" in out.stdout and "[m]" in out.stdout


@dataclasses.dataclass(frozen=True)
class _Cfg:
    mode: Literal["fast", "exact"] = "fast"  # how to compute
    n_steps: int = 3  # steps [count]


def test_literal_fields_accept_their_values_and_reject_others_in_one_line():
    assert parse_overrides(_Cfg, ["--mode", "exact"]).mode == "exact"
    with pytest.raises(ValueError) as info:
        parse_overrides(_Cfg, ["--mode", "slow"])
    msg = str(info.value)
    assert "\n" not in msg and "--mode" in msg and "fast, exact" in msg and "'slow'" in msg
    with pytest.raises(ValueError, match="fast, exact"):  # a bad value from a scale is caught as well
        check_values(_Cfg, {"mode": "slow"})


def test_literal_choices_reach_help_config():
    from experiments.registry import Experiment

    exp = Experiment("t", "", _Cfg, run=lambda *a, **k: None, runtime={})
    assert "(choices: fast, exact)" in help_config(exp, "smoke")


def test_experiment_literals_are_enforced():
    """Every Literal field of a registered experiment rejects a value outside its choices."""
    import typing

    seen = 0
    for name, exp in sorted(EXPERIMENTS.items()):
        for key, hint in typing.get_type_hints(exp.config_type).items():
            if typing.get_origin(hint) is typing.Literal:
                seen += 1
                with pytest.raises(ValueError, match=f"--{key.replace('_', '-')} must be one of"):
                    build_config(exp, "smoke", [f"--{key.replace('_', '-')}", "no-such-choice"])
    assert seen >= 1
