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


def _ok_rows(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.split()[-1:] == ["ok"]]


def test_gradcheck_prints_one_row_per_module(capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "--module", "Linear", "--module", "Tanh"]) == 0
    out = capsys.readouterr().out
    assert _ok_rows(out) == ["Linear", "Linear[bias=False]", "Tanh"]  # Linear's entries
    header = next(line.split() for line in out.splitlines() if line.startswith("module"))
    assert header[2:6] == ["input_jac", "param_jac", "fwd_rev", "backward"]
    assert "3 modules passed, 0 failed" in out
    assert "ops passed" not in out  # naming modules only runs no ops


def test_gradcheck_ops_and_modules_together(capsys: pytest.CaptureFixture) -> None:
    """A class name picks all its entries; --checks takes names from both tables."""
    argv = ["gradcheck", "--op", "exp", "--module", "MSELoss", "--checks", "fwd_rev,backward"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert _ok_rows(out) == ["exp", "MSELoss[mean]", "MSELoss[sum]", "MSELoss[none]"]
    assert "1 ops passed, 0 failed; 3 modules passed, 0 failed" in out
    assert "gradgrad" not in out and "input_jac" not in out
    assert main(["gradcheck", "--ops-only", "--op", "exp", "--checks", "numpy"]) == 0
    assert _ok_rows(capsys.readouterr().out) == ["exp"]
    assert main(["gradcheck", "--modules-only", "--module", "ReLU", "--checks", "backward"]) == 0
    assert _ok_rows(capsys.readouterr().out) == ["ReLU"]


def test_gradcheck_module_selection_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["gradcheck", "--module", "Nope"]) == 2
    assert "unknown module(s) Nope" in capsys.readouterr().err
    assert main(["gradcheck", "--op", "exp", "--modules-only"]) == 2
    assert "--op selects ops" in capsys.readouterr().err
    assert main(["gradcheck", "--module", "Tanh", "--checks", "gradgrad"]) == 2
    assert "none of the checks gradgrad applies" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", "--ops-only", "--modules-only"])
    assert exc.value.code == 2


def test_bad_command_is_a_usage_error_not_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "bogus"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "usage: chainrule" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_dash_m_runs_the_command() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "gradcheck" in done.stdout
