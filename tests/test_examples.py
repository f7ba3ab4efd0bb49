"""The examples run as a user would run them: as scripts, in a fresh interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, timeout: float = 120) -> str:
    """Run ``examples/<name>`` with this interpreter and return its stdout."""
    env = dict(os.environ)
    # the checkout's package, whether or not it is installed in this interpreter
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_logistic_regression_quick_learns_the_digits() -> None:
    out = run_example("logistic_regression.py", "--quick")
    losses = [float(v) for v in re.findall(r"^epoch .* loss (\d+\.\d+)$", out, re.M)]
    assert len(losses) == 10
    assert losses[-1] < losses[0] / 3
    train_acc = float(re.search(r"^train accuracy: (\d\.\d+)$", out, re.M).group(1))
    test_acc = float(re.search(r"^test accuracy: (\d\.\d+)$", out, re.M).group(1))
    assert train_acc >= 0.93
    assert test_acc >= 0.93


def test_logistic_regression_flags(tmp_path: Path) -> None:
    dot = tmp_path / "loss.dot"
    out = run_example("logistic_regression.py", "--epochs", "2", "--lr", "0.1", "--graph", str(dot))
    assert len(re.findall(r"^epoch ", out, re.M)) == 2
    text = dot.read_text()
    assert "matmul" in text and "log_softmax" in text
