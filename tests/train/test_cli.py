"""``chainrule train``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.train import cli as train_cli
from chainrule.train.plots import matplotlib_available

HAS_MPL = matplotlib_available()


def run_ok(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(["train", *args]) == 0
    return capsys.readouterr().out


def test_train_writes_checkpoint_history_and_plots(tmp_path: Path, capsys) -> None:
    out = run_ok(["--epochs", "2", "--out", str(tmp_path)], capsys)
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2  # captured output is not a terminal: one line per epoch
    assert "split" in out and "test" in out and "trained 2 epochs" in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(history)
    assert len(history["loss"]) == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["results"]) == {"train", "val", "test"}
    assert metrics["config"]["dataset"] == "digits"
    ckpt = cr.load(tmp_path / "model.ckpt")
    cfg = ckpt["config"]
    model = train_cli.build_model(
        cfg["model"], tuple(cfg["in_shape"]), cfg["classes"], tuple(cfg["hidden"]), cfg["dropout"]
    )
    model.load_state_dict(ckpt["model"])
    # the reloaded model reproduces the reported test accuracy
    X, y = cr.datasets.digits()
    *_, X_test, y_test = train_cli._split(X, y, val=0.1, test=0.2, seed=0)
    norm = ckpt["normalize"]
    Z = (X_test - norm["mean"]) / norm["std"]
    model.eval()
    with cr.no_grad():
        acc = float(np.mean(model(cr.tensor(Z)).numpy().argmax(1) == y_test))
    assert acc == pytest.approx(metrics["results"]["test"]["accuracy"])
    if HAS_MPL:
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not (tmp_path / "decision_boundary.png").exists()


@pytest.mark.skipif(not HAS_MPL, reason="matplotlib is not installed")
def test_toy_dataset_gets_a_decision_boundary(tmp_path: Path, capsys) -> None:
    out = run_ok(
        [
            "--dataset",
            "moons",
            "--epochs",
            "3",
            "--hidden",
            "16",
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        capsys,
    )
    assert not any(line.startswith("epoch ") for line in out.splitlines())  # --no-progress
    for name in ("curves.png", "decision_boundary.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_without_matplotlib_the_plots_are_skipped_with_one_line(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = run_ok(["--dataset", "xor", "--epochs", "1", "--out", str(tmp_path)], capsys)
    skipped = [line for line in out.splitlines() if "matplotlib is not installed" in line]
    assert len(skipped) == 1
    assert "curves.png" in skipped[0] and 'pip install "chainrule[plot]"' in skipped[0]
    assert (tmp_path / "model.ckpt").is_file() and (tmp_path / "history.json").is_file()
    assert not list(tmp_path.glob("*.png"))


def test_linear_and_sgd_options(tmp_path: Path, capsys) -> None:
    out = run_ok(
        [
            "--model",
            "linear",
            "--optimizer",
            "sgd",
            "--lr",
            "0.2",
            "--batch-size",
            "64",
            "--epochs",
            "2",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert "model linear" in out and "sgd lr 0.2" in out and "batch 64" in out
    cfg = json.loads((tmp_path / "metrics.json").read_text())["config"]
    assert cfg["seed"] == 3 and cfg["batch_size"] == 64 and cfg["hidden"] == []


def test_default_output_directory_is_runs_timestamp(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_ok(["--dataset", "gaussians", "--epochs", "1"], capsys)
    run_ok(["--dataset", "gaussians", "--epochs", "1"], capsys)
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2  # a second run in the same second gets its own directory
    assert all((r / "model.ckpt").is_file() for r in runs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "--lr: expected a positive number"),
        (["--lr", "nan"], "--lr: expected a positive number"),
        (["--hidden", "abc"], "--hidden: expected comma-separated positive layer sizes"),
        (["--hidden", "64,0"], "--hidden: expected comma-separated"),
        (["--dataset", "imagenet"], "--dataset: invalid choice: 'imagenet'"),
        (["--model", "resnet"], "--model: invalid choice"),
        (["--epochs", "0"], "--epochs: expected a positive integer"),
        (["--batch-size", "two"], "--batch-size: expected a positive integer"),
        (["--seed", "-3"], "--seed: expected an integer >= 0"),
        (["--dropout", "1"], "--dropout: expected a number in [0, 1)"),
        (["--optimizer", "lbfgs"], "--optimizer: invalid choice"),
        (["--dataset", "spirals", "--model", "cnn"], "--model cnn needs an image dataset"),
        (["--model", "linear", "--hidden", "8"], "--hidden does not apply"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: chainrule")  # the train subcommand's usage, bar --bogus
    assert message in err


def test_cnn_trains(tmp_path: Path, capsys) -> None:
    out = run_ok(["--model", "cnn", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert "model cnn" in out and (tmp_path / "model.ckpt").is_file()


def test_device_cuda_without_cupy_is_a_clear_error(tmp_path: Path, capsys, monkeypatch) -> None:
    if cr.backend._cupy is not None:
        pytest.skip("CuPy is loaded here: tests/test_cuda.py trains on the GPU")
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "chainrule train: error: device 'cuda' needs CuPy: pip install" in err
    assert not (tmp_path / "run").exists()


def test_mnist_without_files_says_where_to_put_them(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "mnist-files"
    code = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            str(empty),
            "--no-download",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("chainrule train: error: ")
    assert "train-images-idx3-ubyte.gz" in err and str(empty) in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unusable_out_directory_fails_before_training(tmp_path: Path, capsys) -> None:
    # it used to train every epoch first, then fail to create the directory
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    code = main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(blocker / "run")])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("chainrule train: error: --out ")
    assert str(blocker) in captured.err and "not a directory" in captured.err
    assert "epoch" not in captured.out and "Traceback" not in captured.err


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_style_sets_with_stand_in_files(name: str, tmp_path: Path, capsys, monkeypatch):
    """The MNIST path (global normalisation, flattening, a 5,000-image validation split,
    the official test set) on small random stand-ins for the real files."""
    calls = []

    def fake(root=None, train=True, download=True, verify=True):
        calls.append((root, train, download))
        rng = np.random.default_rng(0 if train else 1)
        n = 5200 if train else 300
        X = rng.random((n, 1, 28, 28), dtype=np.float32)
        return X, (np.arange(n) % 10).astype(np.int64)

    monkeypatch.setattr(cr.datasets, "mnist" if name == "mnist" else "fashion_mnist", fake)
    out = run_ok(["--dataset", name, "--hidden", "16", "--epochs", "1", "--data-dir",
                  str(tmp_path / "files"), "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    assert "200 train / 5000 val / 300 test" in out
    assert calls == [(str(tmp_path / "files"), True, True), (str(tmp_path / "files"), False, True)]
    cfg = json.loads((tmp_path / "out" / "metrics.json").read_text())["config"]
    assert cfg["in_shape"] == [784] and cfg["batch_size"] == 128
    norm = cr.load(tmp_path / "out" / "model.ckpt")["normalize"]
    assert norm["mean"].shape == () and norm["std"].shape == ()


def test_usage_error_from_a_real_process_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "train", "--lr", "-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "usage: chainrule train" in proc.stderr and "Traceback" not in proc.stderr


def test_default_command_reaches_97_percent_on_digits(tmp_path: Path, capsys) -> None:
    """The README's main command: the defaults, end to end (about 1-2 s of training)."""
    start = time.perf_counter()
    run_ok(["--out", str(tmp_path)], capsys)
    took = time.perf_counter() - start
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["results"]["test"]["accuracy"] >= 0.97
    assert metrics["results"]["test"]["samples"] == 359
    assert took < 60  # the target is 30 s on 2 cores; leave room for a loaded CI machine
