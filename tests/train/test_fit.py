"""cr.train.fit: learning, History, metrics, validation, progress output, determinism."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.train import TrainError

from ._helpers import blobs, mlp, params, setup


def test_xor_2_8_1_reaches_100_percent() -> None:
    X, y = cr.datasets.xor(200, noise=0.1, seed=0)
    cr.manual_seed(0)
    model = mlp((2, 8, 1), act=nn.Tanh)
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
    history = cr.train.fit(
        model,
        nn.BCEWithLogitsLoss(),
        opt,
        (X, y.astype(np.float32)[:, None]),
        val_data=(X, y.astype(np.float32)[:, None]),
        epochs=40,
        progress=False,
        seed=0,
    )
    assert history["val_accuracy"][-1] == 1.0
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < 0.05


def test_xor_truth_table_2_2_1() -> None:
    """The classic 2-2-1 net learns the four XOR points."""
    X, y = cr.datasets.xor(4, noise=0.0)
    cr.manual_seed(1)
    model = mlp((2, 2, 1), act=nn.Tanh)
    opt = cr.optim.Adam(model.parameters(), lr=0.1)
    t = y.astype(np.float32)[:, None]
    history = cr.train.fit(
        model, nn.BCEWithLogitsLoss(), opt, (X, t), epochs=300, batch_size=4, progress=False
    )
    assert history["accuracy"][-1] == 1.0
    with cr.no_grad():
        out = model(cr.tensor(X)).numpy().ravel()
    assert np.array_equal(out > 0, y == 1)


def test_spirals_reach_95_percent() -> None:
    X, y = cr.datasets.spirals(600, seed=0)
    Xt, yt = cr.datasets.spirals(300, seed=1)
    cr.manual_seed(0)
    model = mlp((2, 64, 64, 3))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    history = cr.train.fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (X, y),
        val_data=(Xt, yt),
        epochs=60,
        progress=False,
        seed=0,
    )
    assert history["val_accuracy"][-1] >= 0.95


def test_history_contents() -> None:
    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    h = cr.train.fit(
        model, loss_fn, opt, (X, y), val_data=(X[:30], y[:30]), epochs=3, progress=False
    )
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert all(len(v) == 3 for v in h.history.values())
    assert h["loss"] is h.history["loss"]
    assert "val_loss" in h and "nope" not in h
    assert h.epoch == [0, 1, 2] and len(h) == 3 and len(h.epoch_times) == 3
    assert h["lr"] == [0.01, 0.01, 0.01]
    assert not h.stopped_early
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    assert h.best("val_loss")[1] == min(h["val_loss"])
    assert h.best("val_accuracy")[1] == max(h["val_accuracy"])
    with pytest.raises(KeyError, match="has loss, accuracy"):
        h["nope"]
    # the validation numbers are those of evaluate() on the final weights
    final = cr.train.evaluate(model, loss_fn, (X[:30], y[:30]))
    assert final["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-6)
    assert final["accuracy"] == h["val_accuracy"][-1]


def test_no_val_data_means_no_val_keys_and_epoch_loss_is_sample_weighted() -> None:
    X, y = blobs(50)
    model, loss_fn, opt, _ = setup(dropout=0.0, lr=0.0)  # lr 0: the weights never change
    h = cr.train.fit(
        model, loss_fn, opt, (X, y), epochs=1, batch_size=16, progress=False, metrics=()
    )
    assert list(h.history) == ["loss", "lr"]
    with cr.no_grad():
        whole = loss_fn(model(cr.tensor(X)), cr.tensor(y)).item()
    assert h["loss"][0] == pytest.approx(whole, rel=1e-5)  # batches of 16, 16, 16, 2


def test_regression_metrics_and_default_accuracy_dropped() -> None:
    X, y = cr.datasets.sine(200, seed=0)
    cr.manual_seed(0)
    model = mlp((1, 32, 1), act=nn.Tanh)
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    h = cr.train.fit(model, nn.MSELoss(), opt, (X, y), val_data=(X, y), epochs=30, progress=False)
    assert "accuracy" not in h and "val_accuracy" not in h
    assert h["val_loss"][-1] < 0.05
    h2 = cr.train.fit(
        model,
        nn.MSELoss(),
        opt,
        (X, y),
        val_data=(X, y),
        epochs=1,
        metrics=("mae", "mse"),
        progress=False,
    )
    assert list(h2.history) == ["loss", "mae", "mse", "val_loss", "val_mae", "val_mse", "lr"]
    assert h2["val_mse"][0] == pytest.approx(h2["val_loss"][0], rel=1e-5)


def test_custom_metric_and_dataloader_input() -> None:
    X, y = blobs()
    model, loss_fn, opt, _ = setup()

    def error_rate(outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(np.mean(outputs.argmax(1) != targets))

    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=10, shuffle=True, seed=1)
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        loader,
        val_data=cr.data.TensorDataset(X, y),
        metrics=["accuracy", error_rate],
        epochs=2,
        progress=False,
    )
    for prefix in ("", "val_"):
        for a, e in zip(h[prefix + "accuracy"], h[prefix + "error_rate"]):
            assert a + e == pytest.approx(1.0)


def test_validation_runs_in_eval_mode_without_grad() -> None:
    seen = []

    class Spy(nn.Module):
        def forward(self, x: cr.Tensor) -> cr.Tensor:
            seen.append((self.training, cr.is_grad_enabled()))
            return x

    X, y = blobs(20)
    model = nn.Sequential(nn.Linear(4, 3), Spy())
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    cr.train.fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (X, y),
        val_data=(X, y),
        epochs=1,
        batch_size=20,
        progress=False,
    )
    assert seen == [(True, True), (False, False)]
    assert model.training  # back in training mode afterwards


def test_same_seed_same_history_and_weights() -> None:
    X, y = blobs()
    runs = []
    for _ in range(2):
        model, loss_fn, opt, sched = setup(seed=4, dropout=0.3)
        h = cr.train.fit(
            model,
            loss_fn,
            opt,
            (X, y),
            val_data=(X, y),
            epochs=3,
            scheduler=sched,
            seed=7,
            progress=False,
        )
        runs.append((h.history, params(model)))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    model, loss_fn, opt, sched = setup(seed=4, dropout=0.3)
    h = cr.train.fit(model, loss_fn, opt, (X, y), epochs=3, scheduler=sched, seed=8, progress=False)
    assert h["loss"] != runs[0][0]["loss"]  # another shuffle and other dropout masks


def test_manual_seed_alone_makes_runs_repeatable() -> None:
    X, y = blobs()
    losses = []
    for _ in range(2):
        model, loss_fn, opt, _ = setup(seed=2, dropout=0.5)
        losses.append(cr.train.fit(model, loss_fn, opt, (X, y), epochs=2, progress=False)["loss"])
    assert losses[0] == losses[1]


def test_scheduler_steps_once_per_epoch_and_plateau_gets_val_loss() -> None:
    X, y = blobs()
    model, loss_fn, opt, sched = setup()
    h = cr.train.fit(model, loss_fn, opt, (X, y), epochs=3, scheduler=sched, progress=False)
    assert h["lr"] == pytest.approx([0.01, 0.009, 0.0081])
    assert sched.get_last_lr() == pytest.approx([0.01 * 0.9**3])

    model, loss_fn, opt, _ = setup(lr=0.0)
    plateau = cr.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    opt.param_groups[0]["lr"] = 0.0
    h = cr.train.fit(
        model, loss_fn, opt, (X, y), val_data=(X, y), epochs=3, scheduler=plateau, progress=False
    )
    assert plateau.best == pytest.approx(h["val_loss"][0])


def test_one_cycle_schedule_steps_once_per_batch() -> None:
    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=16)
    sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=3,
                                            steps_per_epoch=len(loader))  # fmt: skip
    h = cr.train.fit(model, loss_fn, opt, loader, epochs=3, scheduler=sched, progress=False)
    assert sched.last_epoch == 3 * len(loader)  # every batch, and no extra step per epoch
    assert h["lr"][0] == pytest.approx(0.1 / 25)  # each epoch logs its starting rate
    _, _, opt2, _ = setup()
    alone = cr.optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=3 * len(loader))
    for _ in range(3 * len(loader)):
        alone.step()
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]


def test_progress_lines_when_not_a_terminal(capsys: pytest.CaptureFixture) -> None:
    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    cr.train.fit(model, loss_fn, opt, (X, y), val_data=(X, y), epochs=3)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {i}/3  loss ")
        assert "accuracy" in line and "val_loss" in line and "val_accuracy" in line
        assert "\r" not in line


def test_progress_false_is_silent(capsys: pytest.CaptureFixture) -> None:
    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    cr.train.fit(model, loss_fn, opt, (X, y), epochs=2, progress=False)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the whole postfix
    assert cr.train.progress.resolve_mode(True) == "bar"
    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    cr.train.fit(model, loss_fn, opt, (X, y), val_data=(X, y), epochs=2)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "\r" in text  # tqdm redraws in place
    assert "val_acc=" in text and "loss=" in text


def test_resolve_mode() -> None:
    from chainrule.train.progress import resolve_mode

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert resolve_mode(True, Pipe()) == "line"
    assert resolve_mode(False) is None
    assert resolve_mode("bar") == "bar"
    with pytest.raises(TrainError, match="progress must be"):
        resolve_mode("fancy")


def test_stop_training_from_a_batch_hook() -> None:
    class StopAfter(cr.train.Callback):
        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch == 1:
                self.trainer.stop_training = True

    X, y = blobs()
    model, loss_fn, opt, _ = setup()
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X, y),
        epochs=5,
        batch_size=10,
        callbacks=[StopAfter()],
        progress=False,
    )
    assert len(h) == 1 and h.stopped_early


def test_callback_hook_order() -> None:
    calls: list[str] = []

    class Recorder(cr.train.Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_batch_begin(self, batch, logs=None):
            calls.append(f"batch_begin {batch}")

        def on_batch_end(self, batch, logs=None):
            assert set(logs) == {"loss", "size"}
            calls.append(f"batch_end {batch}")

        def on_epoch_end(self, epoch, logs=None):
            assert self.trainer.epoch == epoch + 1
            calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    X, y = blobs(20)
    model, loss_fn, opt, _ = setup()
    cr.train.fit(
        model, loss_fn, opt, (X, y), epochs=2, batch_size=10, callbacks=[Recorder()], progress=False
    )
    keys = "['accuracy', 'loss', 'lr']"
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        f"epoch_end 0 {keys}",
        "epoch_begin 1",
        "batch_begin 0",
        "batch_end 0",
        "batch_begin 1",
        "batch_end 1",
        f"epoch_end 1 {keys}",
        "train_end",
    ]


def test_terminate_on_nan() -> None:
    X, y = blobs()
    X = X.copy()
    X[5] = np.nan
    model, loss_fn, opt, _ = setup()
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X, y),
        epochs=3,
        batch_size=10,
        shuffle=False,
        callbacks=[cr.train.TerminateOnNaN()],
        progress=False,
    )
    assert len(h) == 1 and h.stopped_early and math.isnan(h["loss"][0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": lambda x: x}, "must be a chainrule.nn.Module"),
        ({"callbacks": [cr.train.EarlyStopping]}, "instead of an instance"),
        ({"metrics": ["f1"]}, "unknown metric 'f1'"),
        ({"metrics": ["accuracy", "acc"]}, "more than once"),
        ({"epochs": -1}, "epochs must be an int >= 0"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"train_data": 5}, "train_data must be a DataLoader"),
        ({"optimizer": object()}, "optimizer must be"),
        ({"progress": "loud"}, "progress must be"),
        # an empty set used to "train" one epoch on nothing and report no loss
        ({"train_data": (np.zeros((0, 4)), np.zeros(0, np.int64))}, "train_data gives no batch"),
        (
            {"val_data": (np.zeros((0, 4)), np.zeros(0, np.int64))},
            "val_data gives no batch.*0 samples",
        ),
        (
            {
                "train_data": cr.data.DataLoader(
                    cr.data.TensorDataset(*blobs(20)), 32, drop_last=True
                )
            },
            "train_data gives no batch.*20 samples.*batch_size 32.*drop_last",
        ),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    X, y = blobs(20)
    model, loss_fn, opt, _ = setup()
    args = {"model": model, "loss_fn": loss_fn, "optimizer": opt, "train_data": (X, y)}
    args.update(kwargs)
    with pytest.raises(TrainError, match=match):
        cr.train.fit(**args)


def test_loss_must_be_scalar() -> None:
    X, y = blobs(20)
    model, _, opt, _ = setup()
    with pytest.raises(TrainError, match="scalar Tensor"):
        cr.train.fit(model, nn.CrossEntropyLoss(reduction="none"), opt, (X, y), progress=False)


def test_zero_epochs_trains_nothing() -> None:
    X, y = blobs(20)
    model, loss_fn, opt, _ = setup()
    before = params(model)
    h = cr.train.fit(model, loss_fn, opt, (X, y), epochs=0, progress=False)
    assert len(h) == 0 and h.history == {}
    assert all(np.array_equal(before[k], v) for k, v in params(model).items())


@pytest.mark.parametrize("progress", [False, "bar"])
def test_fit_reads_an_iterable_dataset_in_its_own_order(progress, capsys) -> None:
    X, y = blobs(64, seed=3)

    class Stream(cr.data.IterableDataset):
        def __iter__(self):
            yield from zip(X, y)  # no __len__: a stream of unknown length

    cr.manual_seed(0)
    model = mlp((4, 8, 3))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    history = cr.train.fit(model, nn.CrossEntropyLoss(), opt, Stream(), epochs=20,
                           batch_size=16, progress=progress)  # fmt: skip
    assert len(history.history["loss"]) == 20
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
