"""Callbacks: code that :func:`chainrule.train.fit` calls at fixed points of a run.

``Callback`` is the base class (Keras's hooks); ``EarlyStopping`` and ``ModelCheckpoint``
follow Keras's semantics; ``TrainingCheckpoint`` writes the full training state so that
``fit(..., resume_from=path)`` continues the run exactly; ``TerminateOnNaN`` stops on a
non-finite loss.
"""

from __future__ import annotations

import math
import os
import string
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import backend
from chainrule.io import save
from chainrule.train.metrics import TrainError

if TYPE_CHECKING:
    from chainrule.nn import Module
    from chainrule.train.loop import Trainer

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN", "TrainingCheckpoint"]


class Callback:
    """Base class of callbacks; override the hooks you need.

    ``fit`` calls, in this order: ``on_train_begin(logs)``; for every epoch
    ``on_epoch_begin(epoch, logs)``, then for every training batch
    ``on_batch_begin(batch, logs)`` / ``on_batch_end(batch, logs)`` (``logs`` has the
    batch's ``"loss"`` and ``"size"``), then ``on_epoch_end(epoch, logs)`` with the epoch's
    results (``{"loss": ..., "accuracy": ..., "val_loss": ..., "lr": ...}``, the values
    appended to the History); finally ``on_train_end(logs)`` with the last epoch's
    results. ``epoch`` and ``batch`` are 0-based.

    Before ``on_train_begin``, ``self.trainer`` is set to the running
    :class:`~chainrule.train.Trainer`: ``self.trainer.model``, ``.optimizer``,
    ``.scheduler``, ``.history``, ``.epoch`` (epochs completed) and ``.epochs`` are there,
    and setting ``self.trainer.stop_training = True`` ends the run after the current batch
    (from a batch hook) or epoch. ``self.model`` is short for ``self.trainer.model``.

    A callback that keeps state across epochs (a best value, a counter) should return it
    from ``state_dict()`` and take it back in ``load_state_dict()``, so that a resumed run
    (``fit(..., resume_from=path)``) behaves as an uninterrupted one. Callbacks with
    ``run_last = True`` get ``on_epoch_end`` after all the others.
    """

    run_last: bool = False

    def __init__(self) -> None:
        self.trainer: Trainer | None = None

    def set_trainer(self, trainer: Trainer) -> None:
        """Attach the running trainer (``fit`` calls this first)."""
        self.trainer = trainer

    @property
    def model(self) -> Module:
        if self.trainer is None:
            raise TrainError(f"{type(self).__name__} is not attached to a training run")
        return self.trainer.model

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Before the first epoch (and, when resuming, before the state is restored)."""

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """After the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """After epoch ``epoch``, with its results in ``logs``."""

    def on_batch_begin(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """Before training batch ``batch`` of the epoch."""

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """After training batch ``batch`` (``logs``: its ``"loss"`` and ``"size"``)."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue this callback (``cr.save``-able)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode == "auto":
        name = monitor.lower()
        return "max" if "acc" in name or "auc" in name else "min"
    if mode not in ("min", "max"):
        raise TrainError(f"{who}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _check_monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TrainError(
            f"{who}: monitor must be a metric name such as 'val_loss', got {monitor!r}"
        )
    return monitor


def _warn_missing(who: str, monitor: str, logs: dict[str, float]) -> None:
    warnings.warn(
        f"{who} monitors {monitor!r}, which this run does not report (it reports "
        f"{', '.join(logs) or 'nothing'}); did you pass val_data?",
        RuntimeWarning,
        stacklevel=3,
    )


def _weights(model: Module) -> dict[str, np.ndarray]:
    """A copy of the model's parameters and buffers, as NumPy arrays."""
    return {
        k: np.array(backend.to_device(v.data, "cpu"), copy=True)
        for k, v in model.state_dict().items()
    }


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras's semantics).

    After every epoch the monitored value is compared with the best so far: it improves
    when it is lower by more than ``min_delta`` (``mode="min"``) or higher by more than
    ``min_delta`` (``"max"``; ``"auto"`` means max for accuracies and AUCs, min otherwise).
    A counter of epochs without improvement restarts at 0 on every improvement; training
    stops at the end of the epoch where it reaches ``patience`` (never after the first
    epoch). So with the best epoch ``b`` (0-based) and no improvement afterwards, the last
    epoch run is ``b + patience``: ``patience`` epochs without improvement, then stop.

    ``baseline``: the counter only restarts on improvements that also beat the baseline
    (an improvement still updates the best value and does not stop the run that epoch).
    ``start_from_epoch``: epochs
    before it are not monitored (warm-up). ``restore_best_weights=True``: at the end of
    training -- stopped early or not -- the model gets the weights (parameters and
    buffers) it had after the best epoch (Keras 3 does the same).

    After the run, ``stopped_epoch`` is the 0-based epoch it stopped after (0 if it did
    not stop), ``best`` the best value and ``best_epoch`` its epoch. Unlike Keras, ``best``
    is reset by every ``fit``, so one instance can be reused across runs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        who = "EarlyStopping"
        self.monitor = _check_monitor(monitor, who)
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TrainError(f"{who}: {name} must be an int >= 0, got {value!r}")
        if not isinstance(min_delta, int | float) or not math.isfinite(min_delta):
            raise TrainError(f"{who}: min_delta must be a finite number, got {min_delta!r}")
        self.patience = patience
        self.min_delta = abs(float(min_delta))
        self.mode = _resolve_mode(mode, monitor, who)
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self._warned = False
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value - (-self.min_delta) < reference  # value < reference - min_delta
        return value - self.min_delta > reference

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                _warn_missing("EarlyStopping", self.monitor, logs)
                self._warned = True
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _weights(self.model)  # until something better comes
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = float(current)
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _weights(self.model)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            assert self.trainer is not None
            self.trainer.stop_training = True
            if self.verbose:
                print(
                    f"EarlyStopping: no improvement of {self.monitor} for {self.wait} epochs; "
                    f"stopped after epoch {epoch + 1} (best {self.best:.4g} after epoch "
                    f"{self.best_epoch + 1})"
                )

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        weights = state["best_weights"]
        self.best_weights = (
            None if weights is None else {k: np.asarray(v) for k, v in weights.items()}
        )


def _fill_path(template: str, epoch: int, logs: dict[str, float], who: str) -> Path:
    try:
        return Path(template.format(epoch=epoch + 1, **logs))
    except (KeyError, IndexError, ValueError) as exc:
        raise TrainError(
            f"{who}: cannot fill in the path {template!r} ({type(exc).__name__}: {exc}); "
            f"it may use {{epoch}} (1-based) and {', '.join('{' + k + '}' for k in logs)}"
        ) from exc


def _check_template(template: Any, who: str) -> str:
    if not isinstance(template, str | os.PathLike):
        raise TrainError(f"{who}: path must be a str or a path, got {template!r}")
    template = os.fspath(template)
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TrainError(f"{who}: bad path template {template!r}: {exc}") from exc
    return template


class ModelCheckpoint(Callback):
    """Write the model's ``state_dict()`` with ``cr.save`` after epochs (Keras's
    ``ModelCheckpoint`` with ``save_weights_only=True``).

    ``path`` may contain ``{epoch}`` (filled in 1-based, so ``"ckpt-{epoch:02d}.crt"``
    gives ``ckpt-03.crt`` after the third epoch) and any key of the epoch's results
    (``"{val_loss:.3f}"``); missing parent directories are created. With
    ``save_best_only=True`` (the default) a file is written only when ``monitor``
    improved on the best value so far (``mode`` as in :class:`EarlyStopping`); with
    ``False``, after every epoch. Load one back with
    ``model.load_state_dict(cr.load(path))``.

    After the run, ``saved`` lists the paths written, ``best`` is the best monitored
    value and ``best_path`` the file holding it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str = "val_loss",
        save_best_only: bool = True,
        mode: str = "auto",
        verbose: bool = False,
    ) -> None:
        super().__init__()
        who = "ModelCheckpoint"
        self.path = _check_template(path, who)
        self.monitor = _check_monitor(monitor, who)
        self.save_best_only = bool(save_best_only)
        self.mode = _resolve_mode(mode, monitor, who)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_path: Path | None = None
        self.saved: list[Path] = []
        self._warned = False

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_path = None
        self.saved = []

    def _better(self, value: float) -> bool:
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None and self.save_best_only:
            if not self._warned:
                _warn_missing("ModelCheckpoint", self.monitor, logs)
                self._warned = True
            return
        improved = current is not None and self._better(current)
        if self.save_best_only and not improved:
            return
        path = _fill_path(self.path, epoch, logs, "ModelCheckpoint")
        path.parent.mkdir(parents=True, exist_ok=True)
        save(self.model.state_dict(), path)
        self.saved.append(path)
        if improved:
            assert current is not None
            self.best = float(current)
            self.best_path = path
        if self.verbose:
            print(f"ModelCheckpoint: wrote {path}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_path": None if self.best_path is None else str(self.best_path),
            "saved": [str(p) for p in self.saved],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_path = None if state["best_path"] is None else Path(state["best_path"])
        self.saved = [Path(p) for p in state["saved"]]


class TrainingCheckpoint(Callback):
    """Write the full training state (model, optimizer, scheduler, epoch, data-loader
    positions, chainrule's RNG state, history and every callback's state) with
    ``cr.save`` after every ``every`` epochs, and after the last one.

    Continue an interrupted run with ``fit(..., epochs=N, resume_from=path)``: given the
    same model, optimizer, scheduler, data and callbacks (freshly built), it goes on from
    the saved epoch and produces, bit for bit, the parameters and history of an
    uninterrupted run. ``path`` may contain ``{epoch}`` (1-based); the file is written
    atomically, so a crash during a save leaves the previous one intact. This callback
    runs after all the others at the end of an epoch, so their states are up to date.
    """

    run_last = True

    def __init__(self, path: str | os.PathLike, every: int = 1) -> None:
        super().__init__()
        self.path = _check_template(path, "TrainingCheckpoint")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise TrainError(f"TrainingCheckpoint: every must be an int >= 1, got {every!r}")
        self.every = every
        self.last_path: Path | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        from chainrule.train.state import save_training_state

        trainer = self.trainer
        assert trainer is not None
        done = epoch + 1
        if done % self.every and not trainer.stop_training and done < trainer.epochs:
            return
        path = _fill_path(self.path, epoch, logs or {}, "TrainingCheckpoint")
        save_training_state(trainer, path)
        self.last_path = path


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            assert self.trainer is not None
            print(f"TerminateOnNaN: batch {batch} has loss {loss}; stopping")
            self.trainer.stop_training = True
