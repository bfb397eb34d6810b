"""Importing ``experiments`` changes nothing global; only the command line sets the OpenMP spin
count, by re-executing ``run`` once with ``GOMP_SPINCOUNT`` (libgomp reads it at load)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, "OMP_NUM_THREADS": "1", **env},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_leaves_the_environment_alone():
    out = _python("import os; before = dict(os.environ); import experiments, experiments.__main__; "
                  "print(dict(os.environ) == before, len(experiments.EXPERIMENTS) > 0)")
    assert out == "True True"


@pytest.mark.parametrize("argv, env, execs", [
    (["run", "x"], {}, True),                                   # run: once more, with a short spin
    (["list"], {}, False),                                      # other commands: as they are
    (["run", "x"], {"GOMP_SPINCOUNT": "300000"}, False),        # the user's choice stands
    (["run", "x"], {"OMP_WAIT_POLICY": "passive"}, False),
])
def test_only_run_re_executes_with_a_short_spin(argv, env, execs, monkeypatch):
    import experiments.__main__ as cli

    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):  # unset here, restored afterwards
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls = []
    monkeypatch.setattr(cli.os, "execv", lambda exe, args: calls.append((exe, args, os.environ.get("GOMP_SPINCOUNT"))))
    cli._short_openmp_spin(argv)
    if execs:
        assert calls == [(sys.executable, sys.orig_argv, "20000")]  # the same command line, same interpreter
    else:
        assert calls == [] and os.environ.get("GOMP_SPINCOUNT") == env.get("GOMP_SPINCOUNT")
