"""The training loop: :func:`fit`, :func:`evaluate` and the :class:`Trainer` behind them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import no_grad
from chainrule.data import DataLoader, Dataset, IterableDataset, TensorDataset
from chainrule.nn import BCEWithLogitsLoss, HingeLoss, Module
from chainrule.optim.lr_scheduler import ReduceLROnPlateau
from chainrule.tensor import Tensor
from chainrule.train.callbacks import Callback
from chainrule.train.history import History
from chainrule.train.metrics import Metric, TrainError, resolve_metrics
from chainrule.train.progress import Progress, resolve_mode

__all__ = ["DEFAULT_METRICS", "Trainer", "evaluate", "fit"]

DEFAULT_METRICS: tuple[str, ...] = ("accuracy",)
STATE_FORMAT = "chainrule.train"
STATE_VERSION = 1


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise TrainError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _host(x: Any) -> Any:
    if isinstance(x, Tensor):
        x = x.data
    return backend.to_device(x, "cpu") if backend.is_array(x) else np.asarray(x)


def as_loader(
    data: Any, batch_size: int = 32, shuffle: bool = False, name: str = "data"
) -> DataLoader:
    """``data`` as a DataLoader: a DataLoader is used as it is; a Dataset or an ``(X, y)``
    pair (arrays or Tensors) is wrapped in one with ``batch_size`` and ``shuffle`` (its
    shuffling seed drawn from chainrule's generator, so ``cr.manual_seed`` fixes it); an
    IterableDataset is batched in its own order (``shuffle`` does not apply to a stream)."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, IterableDataset):  # a stream is read in its own order
        return DataLoader(data, batch_size=batch_size)
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
    if isinstance(data, tuple | list) and len(data) >= 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle)
    raise TrainError(
        f"{name} must be a DataLoader, a Dataset or an (inputs, targets) pair of arrays, got "
        f"{type(data).__name__}"
    )


def _length(loader: DataLoader) -> int | None:
    """Batches per epoch, or None for a stream of unknown length."""
    try:
        return len(loader)
    except TypeError:
        return None


def _split_batch(batch: Any) -> tuple[tuple[Tensor, ...], Tensor]:
    if not isinstance(batch, tuple | list) or len(batch) < 2:
        raise TrainError(
            "fit needs batches of (inputs..., targets); the loader gave "
            f"{type(batch).__name__} of {len(batch) if isinstance(batch, tuple | list) else 1} "
            "field(s)"
        )
    return tuple(batch[:-1]), batch[-1]


def _looks_like_regression(targets: np.ndarray) -> bool:
    """Float targets that are not all whole numbers (so not labels, one-hot rows or +-1)."""
    return targets.dtype.kind == "f" and not bool(np.all(targets == np.round(targets)))


class _Totals:
    """Running sums of per-batch values weighted by batch size."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float], n: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * n
        self.count += n

    def means(self, prefix: str = "") -> dict[str, float]:
        c = self.count
        return {prefix + k: (s / c if c else math.nan) for k, s in self.sums.items()}


class Trainer:
    """One training run: the state :func:`fit` works on, and what callbacks see.

    Attributes: ``model``, ``loss_fn``, ``optimizer``, ``scheduler``, ``train_loader``,
    ``val_loader`` (or None), ``metrics`` (list of :class:`Metric`), ``callbacks``,
    ``history``, ``epoch`` (epochs completed so far), ``epochs`` (the epoch count ``fit``
    trains up to) and ``stop_training`` (set it to True to end the run).
    ``state_dict()``/``load_state_dict()`` capture and restore everything a resumed run
    needs (see :func:`chainrule.train.save_training_state`).

    Most code calls :func:`fit`, which builds a Trainer and runs it; the arguments are
    documented there.
    """

    def __init__(
        self,
        model: Module,
        loss_fn: Callable[[Any, Any], Tensor],
        optimizer: Any,
        train_data: Any,
        val_data: Any = None,
        *,
        callbacks: Iterable[Callback] = (),
        metrics: Sequence[Any] | None = DEFAULT_METRICS,
        progress: Any = True,
        batch_size: int = 32,
        scheduler: Any = None,
        seed: int | None = None,
        shuffle: bool = True,
    ) -> None:
        if not isinstance(model, Module):
            raise TrainError(
                f"model must be a chainrule.nn.Module (fit needs its parameters, train/eval "
                f"modes and state_dict), got {type(model).__name__}"
            )
        if not callable(loss_fn):
            raise TrainError(f"loss_fn must be callable (outputs, targets), got {loss_fn!r:.80}")
        for attr in ("zero_grad", "step", "state_dict", "load_state_dict", "param_groups"):
            if not hasattr(optimizer, attr):
                raise TrainError(
                    f"optimizer must be a chainrule.optim optimiser (it has no {attr!r}), got "
                    f"{type(optimizer).__name__}"
                )
        if scheduler is not None and not hasattr(scheduler, "step"):
            raise TrainError(f"scheduler must have step(), got {type(scheduler).__name__}")
        batch_size = _check_int("batch_size", batch_size, 1)
        if seed is not None:
            backend.manual_seed(_check_int("seed", seed, 0))
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        # schedules written per batch (OneCycleLR) step after every optimiser step
        self._per_batch_schedule = bool(getattr(scheduler, "per_batch", False))
        self.train_loader = as_loader(train_data, batch_size, bool(shuffle), "train_data")
        self.val_loader = (
            None if val_data is None else as_loader(val_data, batch_size, False, "val_data")
        )
        for name, loader in (("train_data", self.train_loader), ("val_data", self.val_loader)):
            if loader is not None and _length(loader) == 0:
                n = len(loader.dataset)
                why = (f" and batch_size {loader.batch_size} with drop_last=True"
                       if n and loader.drop_last else "")  # fmt: skip
                raise TrainError(f"{name} gives no batches: it has {n} samples{why}")
        logits = isinstance(loss_fn, BCEWithLogitsLoss | HingeLoss)
        self.metrics: list[Metric] = resolve_metrics(metrics, logits=logits)
        self._default_metrics = metrics is DEFAULT_METRICS
        self._metrics_checked = False
        self.callbacks: list[Callback] = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TrainError(
                    f"callbacks must be chainrule.train.Callback instances, got "
                    f"{type(cb).__name__} (did you pass the class instead of an instance?)"
                )
        self.progress_mode = resolve_mode(progress)
        self.history = History()
        self.epoch = 0
        self.epochs = 0
        self.stop_training = False
        self._resume: dict[str, Any] | None = None
        params = list(model.parameters())
        self._device = params[0].device if params else "cpu"
        self._batch_callbacks = [
            cb
            for cb in self.callbacks
            if type(cb).on_batch_begin is not Callback.on_batch_begin
            or type(cb).on_batch_end is not Callback.on_batch_end
        ]

    # ---- running --------------------------------------------------------------------------
    def _call(self, hook: str, *args: Any) -> None:
        if hook == "on_epoch_end":  # run_last callbacks (checkpoints) after the others
            order = [cb for cb in self.callbacks if not cb.run_last]
            order += [cb for cb in self.callbacks if cb.run_last]
        else:
            order = self.callbacks
        for cb in order:
            getattr(cb, hook)(*args)

    def fit(self, epochs: int) -> History:
        """Train until ``epochs`` epochs are complete (counting those of a resumed run) or
        a callback stops the run; returns the History."""
        self.epochs = _check_int("epochs", epochs, 0)
        for cb in self.callbacks:
            cb.set_trainer(self)
        self._call("on_train_begin", {})
        if self._resume is not None:
            state, self._resume = self._resume, None
            self.load_state_dict(state)
        progress = Progress(self.progress_mode, show_lr=self.scheduler is not None)
        logs: dict[str, float] = {}
        try:
            while self.epoch < self.epochs and not self.stop_training:
                logs = self._run_epoch(self.epoch, progress)
        finally:
            progress.close()
        self.history.stopped_early = self.stop_training
        last = {k: v[-1] for k, v in self.history.history.items() if v}
        self._call("on_train_end", last or logs)
        return self.history

    def _to_device(self, t: Tensor) -> Tensor:
        return t if self._device == "cpu" else t.to(self._device)

    def _check_metrics(self, targets: np.ndarray) -> None:
        """Drop the default accuracy for regression targets (on the first batch)."""
        self._metrics_checked = True
        if self._default_metrics and _looks_like_regression(targets):
            self.metrics = [m for m in self.metrics if m.name != "accuracy"]

    def _batch_metrics(self, out: Any, target: Tensor) -> dict[str, float]:
        if not self.metrics:
            return {}
        if not isinstance(out, Tensor):
            raise TrainError(
                f"metrics need the model to return one Tensor, it returned "
                f"{type(out).__name__}; pass metrics=() or a model with one output"
            )
        o, t = _host(out), _host(target)
        return {m.name: m(o, t) for m in self.metrics}

    def _run_epoch(self, epoch: int, progress: Progress) -> dict[str, float]:
        start = time.perf_counter()
        self._call("on_epoch_begin", epoch, {})
        self.model.train()
        lr = float(self.optimizer.param_groups[0]["lr"])
        totals = _Totals()
        progress.start_epoch(epoch, self.epochs, _length(self.train_loader))
        for b, batch in enumerate(self.train_loader):
            inputs, target = _split_batch(batch)
            inputs = tuple(self._to_device(x) for x in inputs)
            target = self._to_device(target)
            if not self._metrics_checked:
                self._check_metrics(_host(target))
            for cb in self._batch_callbacks:
                cb.on_batch_begin(b, {})
            self.optimizer.zero_grad()
            out = self.model(*inputs)
            loss = self.loss_fn(out, target)
            if not isinstance(loss, Tensor) or loss.size != 1:
                raise TrainError(
                    "loss_fn must return a scalar Tensor (a loss with reduction='mean'), got "
                    f"{type(loss).__name__}{getattr(loss, 'shape', '')}"
                )
            loss.backward()
            self.optimizer.step()
            if self._per_batch_schedule:
                self.scheduler.step()
            n = int(target.shape[0]) if target.ndim else 1
            value = float(loss.item())
            values = {"loss": value}
            values.update(self._batch_metrics(out, target))
            totals.add(values, n)
            progress.batch(totals.means())
            for cb in self._batch_callbacks:
                cb.on_batch_end(b, {"loss": value, "size": n})
            if self.stop_training:
                break
        logs = totals.means()
        if self.val_loader is not None:
            logs.update(self._evaluate(self.val_loader, prefix="val_"))
        logs["lr"] = lr
        seconds = time.perf_counter() - start
        self.history.append(epoch, logs, seconds)
        progress.end_epoch(epoch, self.epochs, logs, seconds)
        if self.scheduler is not None and not self._per_batch_schedule:
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                self.scheduler.step()
        self.epoch = epoch + 1
        self._call("on_epoch_end", epoch, dict(logs))
        return logs

    def _evaluate(self, loader: DataLoader, prefix: str = "") -> dict[str, float]:
        return _evaluate(self.model, self.loss_fn, loader, self.metrics, prefix, self._to_device)

    # ---- resuming -------------------------------------------------------------------------
    def resume(self, path: str | os.PathLike) -> None:
        """Read the training state at ``path`` now (so a bad file fails early) and restore
        it when :meth:`fit` starts, after the callbacks' ``on_train_begin``."""
        from chainrule.train.state import load_training_state

        self._resume = load_training_state(path)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (``cr.save``-able): the epoch, the
        model's, optimizer's, scheduler's, loaders' and callbacks' states, the history and
        chainrule's RNG state."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "stop_training": self.stop_training,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "train_loader": self.train_loader.state_dict(),
            "val_loader": None if self.val_loader is None else self.val_loader.state_dict(),
            "metrics": [m.name for m in self.metrics],
            "metrics_checked": self._metrics_checked,
            "history": self.history.to_dict(),
            "callbacks": [[type(cb).__name__, cb.state_dict()] for cb in self.callbacks],
            "rng": backend.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (usually via ``fit(resume_from=...)``).

        Callback states are matched to this run's callbacks by class name, in order; a
        callback with no saved state keeps its fresh one. Raises TrainError if the state
        does not fit (no scheduler where one was saved, or the other way round).
        """
        check_state(state)
        if (state["scheduler"] is None) != (self.scheduler is None):
            saved = "no scheduler" if state["scheduler"] is None else "a scheduler"
            now = "none" if self.scheduler is None else type(self.scheduler).__name__
            raise TrainError(
                f"the training state was saved with {saved}, but this run has {now}; "
                "resume with the same setup"
            )
        if (state["val_loader"] is None) != (self.val_loader is None):
            raise TrainError(
                "the training state and this run differ in having val_data; resume with the "
                "same setup"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.train_loader.load_state_dict(state["train_loader"])
        if self.val_loader is not None:
            self.val_loader.load_state_dict(state["val_loader"])
        names = list(state["metrics"])
        if [m.name for m in self.metrics] != names:
            kept = [m for m in self.metrics if m.name in names]
            if [m.name for m in kept] != names:
                raise TrainError(
                    f"the training state reports metrics {names}, this run "
                    f"{[m.name for m in self.metrics]}; resume with the same metrics"
                )
            self.metrics = kept
        self._metrics_checked = bool(state["metrics_checked"])
        self.history = History.from_dict(state["history"])
        self.epoch = int(state["epoch"])
        self.stop_training = bool(state["stop_training"])
        saved_cbs = [(str(name), s) for name, s in state["callbacks"]]
        used = [False] * len(saved_cbs)
        for cb in self.callbacks:
            for i, (name, s) in enumerate(saved_cbs):
                if not used[i] and name == type(cb).__name__:
                    used[i] = True
                    cb.load_state_dict(s)
                    break
        backend.set_rng_state(state["rng"])


def check_state(state: Any) -> None:
    """Raise TrainError unless ``state`` looks like a :meth:`Trainer.state_dict`."""
    keys = {
        "format",
        "version",
        "epoch",
        "stop_training",
        "model",
        "optimizer",
        "scheduler",
        "train_loader",
        "val_loader",
        "metrics",
        "metrics_checked",
        "history",
        "callbacks",
        "rng",
    }
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise TrainError(
            "not a chainrule training state (written by cr.train.save_training_state or "
            "TrainingCheckpoint); a model's state dict is loaded with model.load_state_dict"
        )
    if state.get("version") != STATE_VERSION:
        raise TrainError(f"unsupported training-state version {state.get('version')!r}")
    missing = sorted(keys - state.keys())
    if missing:
        raise TrainError(f"the training state lacks {', '.join(missing)}")


def _evaluate(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    loader: DataLoader,
    metrics: list[Metric],
    prefix: str = "",
    to_device: Callable[[Tensor], Tensor] = lambda t: t,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    totals = _Totals()
    try:
        with no_grad():
            for batch in loader:
                inputs, target = _split_batch(batch)
                inputs = tuple(to_device(x) for x in inputs)
                target = to_device(target)
                out = model(*inputs)
                loss = loss_fn(out, target)
                values = {"loss": float(loss.item())}
                if metrics:
                    o, t = _host(out), _host(target)
                    values.update({m.name: m(o, t) for m in metrics})
                totals.add(values, int(target.shape[0]) if target.ndim else 1)
    finally:
        model.train(was_training)
    return totals.means(prefix)


def evaluate(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    data: Any,
    metrics: Sequence[Any] | None = DEFAULT_METRICS,
    batch_size: int = 256,
) -> dict[str, float]:
    """The loss and metrics of ``model`` on ``data`` (a DataLoader, Dataset or ``(X, y)``
    pair), in eval mode under ``no_grad``: ``{"loss": ..., "accuracy": ...}``, averaged
    over samples. The model's train/eval mode is restored afterwards. As in ``fit``, the
    default accuracy is left out for regression targets."""
    if not isinstance(model, Module):
        raise TrainError(f"model must be a chainrule.nn.Module, got {type(model).__name__}")
    loader = as_loader(data, _check_int("batch_size", batch_size, 1), False, "data")
    logits = isinstance(loss_fn, BCEWithLogitsLoss | HingeLoss)
    resolved = resolve_metrics(metrics, logits=logits)
    if metrics is DEFAULT_METRICS:
        first = next(iter(loader), None)
        if first is not None and _looks_like_regression(_host(_split_batch(first)[1])):
            resolved = [m for m in resolved if m.name != "accuracy"]
    params = list(model.parameters())
    device = params[0].device if params else "cpu"
    return _evaluate(
        model,
        loss_fn,
        loader,
        resolved,
        "",
        (lambda t: t) if device == "cpu" else (lambda t: t.to(device)),
    )


def fit(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer: Any,
    train_data: Any,
    val_data: Any = None,
    epochs: int = 1,
    callbacks: Iterable[Callback] = (),
    metrics: Sequence[Any] | None = DEFAULT_METRICS,
    progress: Any = True,
    batch_size: int = 32,
    scheduler: Any = None,
    seed: int | None = None,
    resume_from: str | os.PathLike | None = None,
    shuffle: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return a :class:`History`.

    Every epoch: ``model.train()``, then for each batch ``(inputs..., targets)`` of the
    training data ``optimizer.zero_grad(); loss = loss_fn(model(*inputs), targets);
    loss.backward(); optimizer.step()``; then, if ``val_data`` is given, the loss and
    metrics on it in eval mode under ``no_grad``; then ``scheduler.step()`` (for
    ``ReduceLROnPlateau``, ``scheduler.step(val_loss)``, or the training loss without
    validation data); then the callbacks' ``on_epoch_end``.

    Args:
        model: a ``cr.nn.Module``; batches' inputs are moved to its device.
        loss_fn: ``loss_fn(outputs, targets)`` -> a scalar Tensor (a loss module with
            ``reduction="mean"``; the reported loss is the batch losses' mean weighted by
            batch size, i.e. the mean over the epoch's samples).
        optimizer: a ``cr.optim`` optimiser over the model's parameters.
        train_data, val_data: a ``DataLoader``, a ``Dataset`` or an ``(X, y)`` pair of
            arrays or Tensors (then batched by ``batch_size``; the training pair is
            reshuffled every epoch when ``shuffle``, from a seed drawn from chainrule's
            generator). Batches are ``(inputs..., targets)``: the last field is the target.
        epochs: the number of epochs to train up to (with ``resume_from``, counting the
            epochs already done, as Keras's ``epochs`` with ``initial_epoch``).
        callbacks: :class:`Callback` instances (``EarlyStopping``, ``ModelCheckpoint``,
            ``TrainingCheckpoint``, your own).
        metrics: names (``"accuracy"``, ``"mae"``, ``"mse"``) or callables
            ``fn(outputs, targets) -> float`` on NumPy arrays, computed on every batch and
            averaged per epoch; validation ones are reported as ``"val_<name>"``. The
            default ``("accuracy",)`` is dropped silently when the targets are floats that
            are not whole numbers (regression); ``metrics=()`` reports the loss only.
        progress: ``True`` shows a tqdm bar per epoch (loss and metrics in the bar) when
            ``sys.stdout`` is a terminal and prints one summary line per epoch otherwise;
            ``"bar"`` or ``"line"`` force one; ``False`` is silent.
        batch_size: the batch size for data given as pairs or Datasets.
        scheduler: a ``cr.optim.lr_scheduler`` scheduler, stepped once per epoch (once
            per batch for the per-batch schedules: ``OneCycleLR``).
        seed: if given, ``cr.manual_seed(seed)`` is called first, so shuffling and dropout
            are repeatable (seed before building the model, too, for repeatable weights).
            Without it, a run is repeatable under an earlier ``cr.manual_seed``.
        resume_from: a file written by :class:`TrainingCheckpoint` or
            :func:`save_training_state`: the run continues from the epoch saved there, with
            the model, optimizer, scheduler, loader positions, callback states, history and
            RNG state restored, so the result is bit for bit that of an uninterrupted run.
            Pass freshly built objects of the same kinds and shapes as the saved run.
        shuffle: whether data given as pairs or Datasets is reshuffled each epoch.

    Returns:
        The :class:`History`: ``history.history["loss"]``, ``history["val_accuracy"]``...
    """
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        train_data,
        val_data,
        callbacks=callbacks,
        metrics=metrics,
        progress=progress,
        batch_size=batch_size,
        scheduler=scheduler,
        seed=seed,
        shuffle=shuffle,
    )
    if resume_from is not None:
        trainer.resume(resume_from)
    return trainer.fit(epochs)
