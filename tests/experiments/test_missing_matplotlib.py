"""Without matplotlib (installed by the ``experiments`` extra) the CLI says so on one line."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# hide matplotlib from importlib's lookup, then run `python -m experiments …` in this interpreter
_HIDE = ("import importlib.util as u, runpy, sys; orig = u.find_spec; "
         "u.find_spec = lambda n, *a, **k: None if n.split('.')[0] == 'matplotlib' else orig(n, *a, **k); ")


def test_cli_without_matplotlib_is_a_one_line_error():
    code = _HIDE + "sys.argv = ['-m', 'list']; runpy.run_module('experiments', run_name='__main__', alter_sys=False)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "matplotlib" in lines[0] and "onnsim[experiments]" in lines[0], r.stderr


def test_import_without_matplotlib_raises_a_clear_import_error():
    code = _HIDE + "import experiments"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1
    assert "ImportError: onnsim's experiments draw their figures with matplotlib" in r.stderr
