"""The ``chainrule`` command line."""

import subprocess
import sys

import pytest

from chainrule.cli import main


def test_gradcheck_prints_one_row_per_op(capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "--op", "exp", "--op", "matmul"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line.split()[-1:] == ["ok"]]
    assert rows == ["exp", "matmul"]
    assert "2 ops passed, 0 failed" in out


def test_gradcheck_rejects_unknown_op_and_check(capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "--op", "nope"]) == 2
    assert "unknown op(s) nope" in capsys.readouterr().err
    assert main(["gradcheck", "--op", "exp", "--checks", "gradcheck,bogus"]) == 2
    assert "unknown check(s) bogus" in capsys.readouterr().err


def test_bad_command_is_a_usage_error_not_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "bogus"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "usage: chainrule" in proc.stderr
    assert "Traceback" not in proc.stderr
