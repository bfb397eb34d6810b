"""Importing ``experiments`` changes nothing global; only the command line sets the OpenMP spin
count and torch's huge-page allocation, by re-executing ``run`` once with ``GOMP_SPINCOUNT``
(libgomp reads it at load) and ``THP_MEM_ALLOC_ENABLE`` (torch reads it at its first allocation)."""

import os
import subprocess
import sys

import pytest

THP = "THP_MEM_ALLOC_ENABLE"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", THP)}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, "OMP_NUM_THREADS": "1", **env},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_leaves_the_environment_alone():
    out = _python("import os; before = dict(os.environ); import experiments, experiments.__main__, optics; "
                  "print(dict(os.environ) == before, len(experiments.EXPERIMENTS) > 0, optics.huge_pages())")
    assert out == "True True False"


@pytest.mark.parametrize("argv, env, execs", [
    (["run", "x"], {}, ("20000", "1")),                                    # run: once more, with both
    (["list"], {}, None),                                                  # other commands: as they are
    (["run", "x"], {"GOMP_SPINCOUNT": "300000", THP: "0"}, None),          # the user's choices stand
    (["run", "x"], {"OMP_WAIT_POLICY": "passive", THP: "1"}, None),
    (["run", "x"], {"GOMP_SPINCOUNT": "300000"}, ("300000", "1")),         # only what is unset is set
    (["run", "x"], {THP: "0"}, ("20000", "0")),
])
def test_only_run_re_executes_with_its_settings(argv, env, execs, monkeypatch):
    import experiments.__main__ as cli

    for key in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", THP):  # unset here, restored afterwards
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls = []
    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.setattr(cli.os, "execv", lambda exe, args: calls.append(
        (exe, args, os.environ.get("GOMP_SPINCOUNT"), os.environ.get(THP))))
    cli._process_settings(argv)
    if execs:
        assert calls == [(sys.executable, sys.orig_argv, *execs)]  # the same command line, same interpreter
    else:
        assert calls == [] and all(os.environ.get(k) == env.get(k) for k in ("GOMP_SPINCOUNT", THP))


def test_run_gets_huge_pages():
    """What ``run``'s re-execution sets reaches torch's allocator through the whole import chain
    (where the kernel grants huge pages)."""
    from optics import _memory

    if _memory.kernel_mode() not in ("always", "madvise"):
        pytest.skip(f"the kernel grants no transparent huge pages (mode {_memory.kernel_mode()})")
    assert _python("import experiments, experiments.__main__, optics; print(optics.huge_pages())",
                   THP_MEM_ALLOC_ENABLE="1") == "True"
