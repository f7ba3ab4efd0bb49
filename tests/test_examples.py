"""The examples run as a user would run them: as scripts, in a fresh interpreter.

Every script in examples/ runs here with ``--quick`` (a reduced size that takes seconds),
and the claim it demonstrates is checked from what it prints.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

import chainrule as cr

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

TESTED = {
    "char_lstm.py",
    "custom_module.py",
    "dead_relus.py",
    "digits_autoencoder.py",
    "forward_vs_reverse.py",
    "logistic_regression.py",
    "mnist_cnn.py",
    "mnist_mlp.py",
    "modular_backprop.py",
    "pointer_transformer.py",
    "xor.py",
}


def run_example(
    name: str, *args: str, timeout: float = 120, check: bool = True
) -> str | subprocess.CompletedProcess:
    """Run ``examples/<name>`` with this interpreter and return its stdout (with
    ``check=False``, the finished process, whatever its exit status)."""
    env = dict(os.environ)
    # the checkout's package, whether or not it is installed in this interpreter
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # the examples' matrices are small and pytest -n already uses every core: BLAS threads
    # on top only oversubscribe the machine (OpenBLAS's spinning threads then make small
    # products many times slower)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    if not check:
        return proc
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number(pattern: str, out: str) -> float:
    """The number captured by ``pattern`` (one group) in a line of ``out``."""
    match = re.search(pattern, out, re.M)
    assert match, f"no line matching {pattern!r} in:\n{out}"
    return float(match.group(1))


def test_every_example_is_tested_and_has_a_quick_mode() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == TESTED, f"untested examples: {scripts - TESTED}"
    readme = (EXAMPLES / "README.md").read_text()
    for name in scripts:
        assert "--quick" in (EXAMPLES / name).read_text(), name
        assert f"`{name}`" in readme, f"{name} is missing from examples/README.md"


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


def test_xor_reaches_100_percent() -> None:
    out = run_example("xor.py", "--quick")
    assert number(r"^accuracy: (\d\.\d+)$", out) == 1.0
    assert re.search(r"^  1  0 \|  1  \| 0\.9\d\d$", out, re.M)


def test_modular_backprop_matches_autodiff_exactly() -> None:
    out = run_example("modular_backprop.py", "--quick")
    assert "gradients identical: True" in out
    assert "trained weights identical: True" in out
    assert "matches (softmax - onehot)/N: True" in out
    assert "largest gradient difference 0\n" in out
    losses = [float(v) for v in re.findall(r"^epoch \d+: mean loss (\d+\.\d+)$", out, re.M)]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_custom_module_is_checked_and_trains() -> None:
    out = run_example("custom_module.py", "--quick")
    assert "check_module(SoftplusLinear): passed" in out
    assert "check_module(BuggySoftplusLinear): FAILED" in out
    assert "parameter 'weight' Jacobian" in out  # the message names what is wrong
    assert "wrong backward caught: True" in out
    assert "forward matches softplus(linear(x)): True" in out
    m = re.search(r"loss (\d+\.\d+) -> (\d+\.\d+) in 100 steps", out)
    assert m and float(m.group(2)) < float(m.group(1)) / 10


def test_forward_vs_reverse_each_wins_where_it_should() -> None:
    out = run_example("forward_vs_reverse.py", "--quick")
    assert out.count("same matrix both ways: True") == 2
    assert "reverse mode faster on the wide function: True" in out
    assert "forward mode faster on the tall function: True" in out
    assert "Jacobian 4 x 300" in out and "Jacobian 300 x 4" in out


def test_dead_relus_diagnosed_and_fixed(tmp_path: Path) -> None:
    png = tmp_path / "hist.png"
    out = run_example("dead_relus.py", "--quick", "--plot", str(png))
    assert number(r"^dead before: (\d\.\d+)$", out) > 0.9
    assert number(r"^dead after: (\d\.\d+)$", out) < 0.2
    assert number(r"^test accuracy broken: (\d\.\d+)$", out) < 0.3
    assert number(r"^test accuracy fixed: (\d\.\d+)$", out) > 0.9
    assert "vanishing, update_too_small" in out and "dead" in out
    flagged = re.search(r"^flagged layers: (\d+) -> (\d+)$", out, re.M)
    assert flagged and int(flagged.group(1)) >= 4 and int(flagged.group(2)) == 0
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes()[:4] == b"\x89PNG"
    else:
        assert "needs matplotlib" in out


def test_mnist_mlp_quick_runs_with_or_without_the_files() -> None:
    out = run_example("mnist_mlp.py", "--quick")
    if "(digits stand-in)" in out:
        assert "MNIST is not available here" in out and "put them" in out
    assert number(r"^test accuracy: (\d\.\d+) ", out) > 0.9


def test_mnist_mlp_without_files_explains_and_stops(tmp_path: Path) -> None:
    proc = run_example("mnist_mlp.py", "--root", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert "was not found in" in proc.stdout and str(tmp_path) in proc.stdout
    assert "--download" in proc.stdout and "Traceback" not in proc.stderr


def _write_idx(path: Path, arr: np.ndarray) -> None:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


def fake_mnist(root: Path) -> Path:
    """The shipped digits written as the four MNIST IDX files (28x28 uint8 images)."""
    X, y = cr.datasets.digits()
    images = np.kron(X.reshape(-1, 8, 8), np.ones((3, 3), np.float32))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    pixels = np.round(images * 255).astype(np.uint8)
    for prefix, sl in (("train", slice(0, 1400)), ("t10k", slice(1400, None))):
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", pixels[sl])
        _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", y[sl].astype(np.uint8))
    return root


def test_mnist_mlp_reads_idx_files(tmp_path: Path) -> None:
    root = fake_mnist(tmp_path)
    out = run_example("mnist_mlp.py", "--quick", "--root", str(root), "--no-verify",
                      "--epochs", "4")  # fmt: skip
    assert "data: MNIST, 1400 train / 397 test images" in out
    assert number(r"^test accuracy: (\d\.\d+) \(MNIST\)$", out) > 0.85


def test_mnist_cnn_quick() -> None:
    out = run_example("mnist_cnn.py", "--quick")
    if not hasattr(cr.nn, "Conv2d") or not hasattr(cr.nn, "MaxPool2d"):
        assert "which the CNN needs" in out
        return
    assert number(r"^test accuracy: (\d\.\d+) ", out) > 0.8


def test_char_lstm_learns_the_text() -> None:
    out = run_example("char_lstm.py", "--quick")
    m = re.search(r"^loss: (\d+\.\d+) -> (\d+\.\d+)", out, re.M)
    assert m and float(m.group(2)) < 0.6 * float(m.group(1))
    assert re.search(r"^sample: 'the ", out, re.M)
    if hasattr(cr.nn, "LSTM"):
        assert "using nn.LSTM" in out
        assert "hand-written cell matches nn.LSTM: True" in out
    else:
        assert "written with core ops" in out


def test_char_lstm_hand_written_cell() -> None:
    out = run_example("char_lstm.py", "--quick", "--manual", "--steps", "60")
    assert "written with core ops" in out
    m = re.search(r"^loss: (\d+\.\d+) -> (\d+\.\d+)", out, re.M)
    assert m and float(m.group(2)) < float(m.group(1)) - 0.3


def test_pointer_transformer_learns_to_attend_where_the_pointer_says() -> None:
    out = run_example("pointer_transformer.py", "--quick")
    acc = float(re.search(r"^test accuracy: (\d+\.\d)%", out, re.M).group(1))
    assert acc >= 95.0, out
    shares = [float(v) for v in re.findall(r"pointed-to position in (\d+\.\d)%", out)]
    assert len(shares) == 2 and max(shares) >= 90.0, out


def test_digits_autoencoder_beats_pca_with_the_same_code_size() -> None:
    out = run_example("digits_autoencoder.py", "--quick")
    m = re.search(r"^test error: autoencoder (\d\.\d+), PCA with 8 components (\d\.\d+), "
                  r"mean image (\d\.\d+)", out, re.M)  # fmt: skip
    assert m, out
    ours, pca, mean = (float(v) for v in m.groups())
    assert ours < 0.9 * pca and ours < 0.5 * mean, out
