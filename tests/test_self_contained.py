"""The repository stands on its own: no tracked file cites design notes that are not part of it
(the documentation it relies on lives in docs/, see docs/design.md and docs/references.md), and
no text points at numbered tracker items, which a reader of the repository cannot see."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Assembled from pieces so that this file does not match its own patterns.
_REF, _DES = "REFERENCE", "DESIGN"
PATTERNS = [
    re.compile(re.escape(_REF + ".md")),
    re.compile(re.escape(_DES + ".md")),
    re.compile(_REF + r" §"),
    re.compile(_DES + r" §"),
    re.compile(re.escape("../" + "shared")),
    re.compile(r"\bissues? \d+", re.IGNORECASE),
]


def _tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (git ls-files failed)")
    return [p for p in out.decode().split("\0") if p and p != SELF]


def offending_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` for every line that matches one of :data:`PATTERNS`."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1)
            if any(p.search(line) for p in PATTERNS)]


def test_patterns_catch_what_they_should():
    bad = ["see " + _REF + ".md §A", "(" + _DES + " §8)", "path ../" + "shared/x", "fixed in issue 12",
           "Issues 9 and 11"]
    good = ["docs/references.md#dat", "docs/design.md#conventions", "tissue 12", "the issue's text"]
    assert all(offending_lines(s) for s in bad)
    assert not any(offending_lines(s) for s in good)


def test_no_tracked_file_cites_outside_documents():
    hits = []
    for rel in _tracked_files():
        path = ROOT / rel
        if not path.is_file():
            continue  # deleted in the working tree
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (figures, HDF5)
        for line_no, line in offending_lines(data.decode("utf-8", errors="replace")):
            hits.append(f"{rel}:{line_no}: {line[:120]}")
    assert not hits, "cite docs/design.md or docs/references.md instead:\n" + "\n".join(hits)
