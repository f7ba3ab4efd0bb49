"""Metrics reported by :func:`chainrule.train.fit`: ``"accuracy"``, ``"mae"``, ``"mse"`` or
any callable ``fn(outputs, targets) -> float``.

A metric is computed on every batch from the model's outputs and the targets, both as
NumPy arrays, and averaged over the epoch weighted by batch size, so the epoch value is
the value over the whole set (exactly, for all three built-in metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError

__all__ = ["Metric", "TrainError", "accuracy", "mae", "mse", "resolve_metrics"]


class TrainError(ChainruleError, ValueError, TypeError):
    """A bad argument to ``fit``, a callback or ``random_search``, or a training-state file
    that does not fit the run it is resumed into.

    It subclasses both ``ValueError`` and ``TypeError`` (as ``OptimizerError`` does), since
    both kinds of mistakes end up here.
    """


def _binary_view(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = outputs.shape[0] if outputs.ndim else 1
    out = outputs.reshape(n, -1)
    tgt = targets.reshape(n, -1)
    if out.shape != tgt.shape:
        raise TrainError(
            f"accuracy: binary outputs of shape {outputs.shape} do not match targets of shape "
            f"{targets.shape}"
        )
    return out.reshape(-1), tgt.reshape(-1)


def accuracy(outputs: Any, targets: Any, threshold: float | None = None) -> float:
    """The fraction of samples whose predicted class is the target.

    * Class scores ``(N, C)`` with ``C > 1`` (logits or probabilities; any leading shape
      ``(..., C)``): the prediction is the argmax over the last axis; targets are integer
      labels ``(N,)`` (``(...)``), or one-hot / probability rows of the outputs' shape
      (their argmax is the label).
    * One score per sample, ``(N,)`` or ``(N, 1)``: binary classification. Targets in
      {0, 1} are predicted as ``score > threshold``; targets in {-1, +1} (hinge-loss style)
      as ``+1`` when ``score > threshold`` and ``-1`` otherwise. ``threshold=None`` means
      0 for {-1, +1} targets and 0.5 otherwise (probabilities); ``fit`` passes 0 when the
      loss takes logits (``BCEWithLogitsLoss``, ``HingeLoss``).
    """
    out = np.asarray(outputs)
    tgt = np.asarray(targets)
    if out.ndim >= 2 and out.shape[-1] > 1:
        pred = out.argmax(axis=-1)
        if tgt.shape == out.shape:  # one-hot or probability targets
            tgt = tgt.argmax(axis=-1)
        if tgt.shape != pred.shape:
            raise TrainError(
                f"accuracy: outputs of shape {out.shape} (class scores) need integer labels of "
                f"shape {pred.shape} or targets of shape {out.shape}; got {tgt.shape}"
            )
        return float(np.mean(pred == tgt)) if pred.size else float("nan")
    out, tgt = _binary_view(out, tgt)
    if not out.size:
        return float("nan")
    signed = bool(np.any(tgt < 0))
    if threshold is None:
        threshold = 0.0 if signed else 0.5
    above = out > threshold
    pred = np.where(above, 1, -1) if signed else above.astype(np.int64)
    return float(np.mean(pred == tgt))


def _regression_pair(outputs: Any, targets: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    out = np.asarray(outputs, dtype=np.float64)
    tgt = np.asarray(targets, dtype=np.float64)
    if out.size != tgt.size:
        raise TrainError(
            f"{name}: outputs of shape {out.shape} and targets of shape {tgt.shape} have "
            "different sizes"
        )
    return out.reshape(-1), tgt.reshape(-1)


def mae(outputs: Any, targets: Any) -> float:
    """Mean absolute error over every element (outputs and targets of one size)."""
    out, tgt = _regression_pair(outputs, targets, "mae")
    return float(np.mean(np.abs(out - tgt))) if out.size else float("nan")


def mse(outputs: Any, targets: Any) -> float:
    """Mean squared error over every element (outputs and targets of one size)."""
    out, tgt = _regression_pair(outputs, targets, "mse")
    return float(np.mean((out - tgt) ** 2)) if out.size else float("nan")


class Metric:
    """A named metric: ``metric(outputs, targets) -> float`` on NumPy arrays."""

    def __init__(self, name: str, fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
        self.name = name
        self.fn = fn

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(self.fn(outputs, targets))

    def __repr__(self) -> str:
        return f"Metric({self.name!r})"


_BUILTIN: dict[str, Callable[..., float]] = {"accuracy": accuracy, "mae": mae, "mse": mse}
_ALIASES = {"acc": "accuracy"}


def resolve_metrics(metrics: Iterable[Any] | None, logits: bool = False) -> list[Metric]:
    """Turn ``fit``'s ``metrics`` argument into :class:`Metric` objects.

    Each entry is a name (``"accuracy"``/``"acc"``, ``"mae"``, ``"mse"``), a callable
    ``fn(outputs, targets) -> float`` (named by its ``__name__``) or a ``Metric``.
    ``logits=True`` makes binary accuracy threshold scores at 0 instead of 0.5.
    """
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    out: list[Metric] = []
    for m in metrics:
        if isinstance(m, Metric):
            out.append(m)
        elif isinstance(m, str):
            name = _ALIASES.get(m, m)
            if name not in _BUILTIN:
                raise TrainError(
                    f"unknown metric {m!r}; use one of {', '.join(_BUILTIN)} or a callable "
                    "fn(outputs, targets) -> float"
                )
            fn = _BUILTIN[name]
            if name == "accuracy" and logits:
                out.append(Metric(name, lambda o, t: accuracy(o, t, threshold=0.0)))
            else:
                out.append(Metric(name, fn))
        elif callable(m):
            out.append(Metric(getattr(m, "__name__", type(m).__name__), m))
        else:
            raise TrainError(
                f"a metric must be a name or a callable fn(outputs, targets), got {m!r:.80}"
            )
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TrainError(f"metrics named more than once: {', '.join(dupes)}")
    for n in names:
        if n == "loss" or n.startswith("val_") or n == "lr":
            raise TrainError(f"a metric may not be called {n!r} (a name fit reports itself)")
    return out
