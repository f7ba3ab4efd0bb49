"""The README's quickstart runs and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_python_block(text: str) -> str:
    start = text.index("```python\n") + len("```python\n")
    return text[start : text.index("```", start)]


def test_quickstart_runs_and_prints_its_comments() -> None:
    code = _first_python_block(README.read_text())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md quickstart", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "tensor([2., 4., 6.])"  # x.grad
    assert lines[1].startswith("tensor([1.") and "0.5403" in lines[1]  # cos at 0 and 1
    assert lines[2] == "tensor(12.)"  # d2/dt2 t^3 at 2
