"""The documentation site builds with `mkdocs build --strict` (docs/testing.md#documentation-site):
no broken link or anchor, every page in the navigation, every API docstring consistent with its
signature. Built offline into a temporary directory; nothing is written to the repository."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    """(The test extra pulls in the docs extra: a missing mkdocs fails here rather than skip.)"""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        line for line in log.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line)
    for page in ("index.html", "design/index.html", "api/optics/index.html", "api/training/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "api" / "photonics" / "index.html").read_text()
    assert 'id="photonics.ClementsMesh"' in api  # generated from the docstrings, not an empty page
    assert not (ROOT / "site").exists() or (ROOT / "site").stat().st_mtime < start
