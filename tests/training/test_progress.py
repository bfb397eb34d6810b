"""Progress bars (training/progress.py): every bar comes from one helper, and on a stream that
is not a terminal it refreshes at most once per LOG_INTERVAL_S (logs stay small)."""

import ast
import io
from pathlib import Path

from training import progress
from training.progress import LOG_INTERVAL_S, progress_bar

ROOT = Path(__file__).resolve().parents[2]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(stream, steps=600, seconds_per_step=1.0):
    """Iterate a bar over ``steps`` items on a fake clock advancing ``seconds_per_step`` per item;
    returns how many times the bar was drawn."""
    clock = [0.0]
    bar = progress_bar(range(steps), desc="train", file=stream)
    bar._time = lambda: clock[0]  # tqdm reads its clock through this attribute
    bar.start_t = bar.last_print_t = 0.0
    for _ in bar:
        clock[0] += seconds_per_step
    bar.close()
    return stream.getvalue().count("\r")


def test_log_stream_is_throttled():
    assert LOG_INTERVAL_S >= 30
    bar = progress_bar(range(3), file=io.StringIO())
    assert bar.mininterval == LOG_INTERVAL_S and bar.maxinterval >= LOG_INTERVAL_S
    bar.close()
    draws = _run(io.StringIO())  # 600 s of training
    assert draws <= 600 / LOG_INTERVAL_S + 3, draws


def test_terminal_keeps_live_updates():
    bar = progress_bar(range(3), file=_Terminal())
    assert bar.mininterval < 1
    bar.close()
    assert _run(_Terminal()) >= 300  # one refresh per (fake) second at least


def test_disabled_bar_writes_nothing():
    stream = io.StringIO()
    assert list(progress_bar(range(5), enabled=False, file=stream)) == list(range(5))
    assert stream.getvalue() == ""


def test_only_the_helper_imports_tqdm():
    """Library code makes bars through training.progress (experiments may still be migrating)."""
    users = []
    for package in ("optics", "photonics", "hardware", "training"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] == "tqdm" for n in names):
                    users.append(str(path.relative_to(ROOT)))
    assert users == [str(Path(progress.__file__).relative_to(ROOT))], users
