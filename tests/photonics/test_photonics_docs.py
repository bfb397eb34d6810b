"""The quick-start example of docs/photonics.md runs and does what it says."""

import pathlib
import re

import torch

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "photonics.md"


def test_quickstart_example_runs_and_training_compensates_errors():
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    env = {}
    exec(compile(code, str(DOC), "exec"), env)  # noqa: S102 - our own documentation
    assert env["after"] < 0.5 * env["before"]  # training on the imperfect chip recovers fidelity
    assert env["y"].shape == (512, 64) and env["y"].dtype == torch.complex64
