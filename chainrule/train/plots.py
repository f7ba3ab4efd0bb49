"""PNG plots of a run: learning curves and, for 2-D data, the decision boundary.

matplotlib is an optional dependency (``pip install "chainrule[plot]"``);
:func:`matplotlib_available` says whether it can be imported. Figures are drawn on
``matplotlib.figure.Figure`` objects, never through ``pyplot``, so no GUI backend or
global state is touched.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.tensor import Tensor
from chainrule.train.history import History

__all__ = ["INSTALL_HINT", "matplotlib_available", "plot_decision_boundary", "plot_history"]

INSTALL_HINT = 'pip install "chainrule[plot]"  (or: pip install matplotlib)'


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return importlib.util.find_spec("matplotlib.figure") is not None


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_history(history: History, path: str | os.PathLike, title: str = "") -> None:
    """Loss (left) and, if recorded, accuracy (right) per epoch, training and validation,
    written to ``path`` as a PNG."""
    epochs = np.arange(1, len(history) + 1)
    panels = [("loss", "loss")]
    if "accuracy" in history:
        panels.append(("accuracy", "accuracy"))
    fig = _figure(5.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(epochs, history[key], label="train", color="tab:blue")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation", color="tab:orange")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if key == "loss" and min(history[key]) > 0:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path))


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    resolution: int = 250,
) -> None:
    """The classes ``predict`` assigns over the plane around the 2-D points ``X``, with
    the points coloured by their labels ``y``, written to ``path`` as a PNG.

    ``predict`` maps an ``(n, 2)`` float32 array of points (in ``X``'s coordinates) to
    ``n`` integer classes."""
    X = np.asarray(X)
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo) + 1e-3
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    zz = np.asarray(predict(grid)).reshape(gx.shape)
    classes = int(max(zz.max(), np.max(y))) + 1
    fig = _figure(5.5, 5.0)
    ax = fig.subplots()
    levels = np.arange(classes + 1) - 0.5
    ax.contourf(gx, gy, zz, levels=levels, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
    ax.scatter(
        X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=12, edgecolors="k", linewidths=0.3
    )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    fig.savefig(os.fspath(path))


def classifier(model: Any, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Any:
    """A ``predict(points) -> classes`` function for a classification model (argmax of
    its outputs, or ``output > 0`` for one output), in eval mode under ``no_grad``, on the
    model's device."""
    params = list(model.parameters())
    device = params[0].device if params else "cpu"

    def predict(points: np.ndarray) -> np.ndarray:
        inputs = transform(points) if transform is not None else points
        x = Tensor(np.ascontiguousarray(inputs, dtype=np.float32))
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                out = model(x.to(device) if device != "cpu" else x).numpy()
        finally:
            model.train(was_training)
        if out.ndim == 2 and out.shape[1] > 1:
            return out.argmax(axis=1)
        return (out.reshape(len(points)) > 0).astype(np.int64)

    return predict
