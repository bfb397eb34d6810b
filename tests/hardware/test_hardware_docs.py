"""The example in docs/hardware.md runs as written."""

import re
from pathlib import Path


def test_docs_example_runs():
    text = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(block, "docs/hardware.md", "exec"), namespace)
    assert namespace["reading"].shape == (4, 64, 64)
    assert len(namespace["taps"]) == 2
    assert namespace["ports"].shape == (8, 16)
    assert namespace["device"].queries == 1 and namespace["chip"].samples == 8
