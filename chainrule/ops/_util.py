"""Small helpers shared by the op families (and :func:`graph_vjp`, the double backward of
the fused ops: recompute with core ops, let the engine differentiate)."""

from __future__ import annotations

import functools
import math
from typing import Any

from chainrule.errors import ShapeError
from chainrule.tensor import Tensor


def shape_of(x: Any) -> tuple:
    """The shape of an array, a Tensor, or () for a Python number."""
    return getattr(x, "shape", ())


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple:
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return _all_axes(ndim)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if (
            not isinstance(a, int)
            or not -ndim <= a < max(ndim, 1)
            or (ndim == 0 and a not in (0, -1))
        ):
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else ()


@functools.lru_cache(maxsize=64)
def _all_axes(ndim: int) -> tuple:
    return tuple(range(ndim))


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of {ndim} dimensions")
    return axis % ndim


# The two below run in every reduction's forward; a cache makes them a dict lookup
# (generator expressions cost more than the NumPy reduction of a small array).
@functools.lru_cache(maxsize=4096)
def kept_shape(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced ``axes`` set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


@functools.lru_cache(maxsize=4096)
def count(shape: tuple, axes: tuple) -> int:
    """How many elements a reduction over ``axes`` of ``shape`` combines."""
    return math.prod(shape[i] for i in axes)


def graph_vjp(ctx: Any, composite: Any, n_inputs: int, grads: tuple, **params: Any) -> tuple:
    """The vjp as a recorded graph: ``composite`` (the layer written with differentiable
    core ops) is rerun on the saved inputs (Tensors connected to the outer graph) and the
    engine takes its vjp with ``create_graph=True``."""
    from chainrule.autograd import engine

    inputs = ctx.saved[:n_inputs]
    outs = composite(*inputs, **params)
    roots, cts = [], []
    for o, g in zip(outs, grads):
        if isinstance(o, Tensor) and o.requires_grad:
            roots.append(o)
            cts.append(g)
    result: list = [None] * n_inputs
    keys: dict = {}  # one gradient per distinct tensor (an input passed twice gets it once)
    targets: list = []
    slots: list = []
    for k in range(n_inputs):
        t = inputs[k]
        if not (ctx.needs_input_grad[k] and isinstance(t, Tensor) and t.requires_grad):
            continue
        key = id(t) if t._node is None else (t._node, t._index)
        if key in keys:
            continue
        keys[key] = len(targets)
        targets.append(t)
        slots.append(k)
    if roots and targets:
        got = engine.backward(roots, cts, create_graph=True, inputs=targets)
        for k, g in zip(slots, got):
            result[k] = g
    return tuple(result)
