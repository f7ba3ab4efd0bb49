"""EarlyStopping (Keras semantics) and ModelCheckpoint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.train import EarlyStopping, ModelCheckpoint, TrainError

from ._helpers import blobs, params, setup


class Script(cr.train.Callback):
    """Replaces ``logs["score"]`` with scripted values (callbacks after it see them) and
    records the weights after every epoch."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values
        self.weights: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        assert logs is not None
        logs["score"] = self.values[epoch]
        self.weights.append(params(self.model))


def run(values: list[float], *callbacks: cr.train.Callback, epochs: int | None = None) -> tuple:
    X, y = blobs(30)
    model, loss_fn, opt, _ = setup(dropout=0.0)
    script = Script(values)
    h = cr.train.fit(
        model,
        loss_fn,
        opt,
        (X, y),
        epochs=epochs or len(values),
        callbacks=[script, *callbacks],
        progress=False,
    )
    return h, script, model


class FakeTrainer:
    stop_training = False


def feed(es: EarlyStopping, values: list[float]) -> int:
    """Epochs run before ``es`` stops a run that reports ``values`` (all if it never does)."""
    trainer = FakeTrainer()
    es.set_trainer(trainer)  # type: ignore[arg-type]
    es.on_train_begin()
    for epoch, v in enumerate(values):
        es.on_epoch_end(epoch, {"val_loss": v})
        if trainer.stop_training:
            return epoch + 1
    return len(values)


def test_early_stopping_waits_patience_epochs_after_the_best() -> None:
    # best at epoch 2 (0-based); epochs 3, 4, 5 do not improve; patience 3 -> stop after 5
    assert feed(EarlyStopping(patience=3), [5, 4, 3, 3.5, 3, 4, 1, 1]) == 6
    # patience 0: stop at the first epoch that does not improve
    assert feed(EarlyStopping(patience=0), [5, 4, 4.5, 1]) == 3
    # an improvement restarts the count
    assert feed(EarlyStopping(patience=2), [5, 6, 4, 7, 3, 8, 9, 1]) == 7
    # never stops after the first epoch, even with patience 0 and a NaN
    assert feed(EarlyStopping(patience=0), [math.nan, 1.0]) == 2


def test_early_stopping_min_delta_and_modes() -> None:
    # improvements smaller than min_delta do not count
    assert feed(EarlyStopping(patience=2, min_delta=0.1), [1.0, 0.95, 0.91, 0.5]) == 3
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    assert es.mode == "max"
    trainer = FakeTrainer()
    es.set_trainer(trainer)  # type: ignore[arg-type]
    es.on_train_begin()
    for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        es.on_epoch_end(epoch, {"val_accuracy": acc})
    assert trainer.stop_training and es.best == 0.7 and es.best_epoch == 1
    assert es.stopped_epoch == 2
    with pytest.raises(TrainError, match="mode must be"):
        EarlyStopping(mode="up")
    with pytest.raises(TrainError, match="patience must be"):
        EarlyStopping(patience=-1)


def test_early_stopping_baseline() -> None:
    values = [3, 2.5, 2.8, 2.9, 2.6, 2.7]
    assert feed(EarlyStopping(patience=2), values) == 4
    # improvements that do not beat the baseline do not restart the count (Keras 3)
    assert feed(EarlyStopping(patience=2, baseline=1.0), values) == 3
    assert feed(EarlyStopping(patience=2, baseline=2.6), values) == 4


def test_early_stopping_in_fit_and_restore_best_weights() -> None:
    values = [5.0, 3.0, 4.0, 3.5, 3.2, 0.1, 0.1]
    es = EarlyStopping(monitor="score", patience=3, restore_best_weights=True)
    h, script, model = run(values, es)
    assert len(h) == 5  # best after epoch 1 (0-based); 2, 3, 4 do not improve; stop
    assert h.stopped_early and es.stopped_epoch == 4 and es.best_epoch == 1
    best = script.weights[1]
    assert all(np.array_equal(best[k], v) for k, v in params(model).items())
    assert not np.array_equal(script.weights[-1]["0.weight"], best["0.weight"])


def test_restore_best_weights_also_without_stopping() -> None:
    es = EarlyStopping(monitor="score", patience=10, restore_best_weights=True)
    h, script, model = run([3.0, 1.0, 2.0], es)
    assert len(h) == 3 and not h.stopped_early
    assert all(np.array_equal(script.weights[1][k], v) for k, v in params(model).items())


def test_early_stopping_without_the_monitored_value_warns() -> None:
    X, y = blobs(30)
    model, loss_fn, opt, _ = setup()
    with pytest.warns(RuntimeWarning, match="did you pass val_data"):
        h = cr.train.fit(
            model,
            loss_fn,
            opt,
            (X, y),
            epochs=3,
            progress=False,
            callbacks=[EarlyStopping(patience=0)],
        )
    assert len(h) == 3


def test_model_checkpoint_every_epoch_fills_in_epoch(tmp_path: Path) -> None:
    mc = ModelCheckpoint(tmp_path / "ckpt" / "e{epoch:02d}.crt", save_best_only=False)
    h, script, _ = run([1.0, 2.0, 3.0], mc)
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["e01.crt", "e02.crt", "e03.crt"]
    for epoch in range(3):
        saved = cr.load(tmp_path / "ckpt" / f"e{epoch + 1:02d}.crt")
        assert set(saved) == set(script.weights[epoch])
        for k, v in saved.items():
            assert np.array_equal(v.numpy(), script.weights[epoch][k])
    assert len(h) == 3


def test_model_checkpoint_best_only(tmp_path: Path) -> None:
    mc = ModelCheckpoint(
        str(tmp_path / "best-{epoch}-{score:.1f}.crt"), monitor="score", mode="min"
    )
    _, script, _ = run([3.0, 2.0, 2.5, 1.0, 4.0], mc)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best-1-3.0.crt",
        "best-2-2.0.crt",
        "best-4-1.0.crt",
    ]
    assert mc.best == 1.0 and mc.best_path == tmp_path / "best-4-1.0.crt"
    model, *_ = setup(seed=9, dropout=0.0)
    model.load_state_dict(cr.load(mc.best_path))
    assert all(np.array_equal(script.weights[3][k], v) for k, v in params(model).items())


def test_model_checkpoint_monitors_val_loss_by_default(tmp_path: Path) -> None:
    X, y = blobs(60)
    model, loss_fn, opt, _ = setup()
    mc = ModelCheckpoint(tmp_path / "m.crt")
    h = cr.train.fit(
        model, loss_fn, opt, (X, y), val_data=(X, y), epochs=3, callbacks=[mc], progress=False
    )
    assert mc.best == min(h["val_loss"])
    assert (tmp_path / "m.crt").is_file()


def test_model_checkpoint_bad_path_field(tmp_path: Path) -> None:
    mc = ModelCheckpoint(tmp_path / "{nope}.crt", save_best_only=False)
    with pytest.raises(TrainError, match="cannot fill in the path"):
        run([1.0], mc)
