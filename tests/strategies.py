"""Hypothesis strategies for the oracle property tests: broadcastable shapes, matmul
shapes, reduction axes (None, int, negative, tuples) with keepdims, and float arrays whose
values stay away from an op's kinks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule.testing.oracle import OpInfo, Sample

LOW, HIGH = -3.0, 3.0


def finite_floats(
    low: float = LOW, high: float = HIGH, avoid: Sequence[float] = (), margin: float = 0.1
) -> st.SearchStrategy[float]:
    """Finite float64 values in ``[low, high]`` at least ``margin`` from every kink in
    ``avoid`` (e.g. 0 for abs and relu, the bounds for clip)."""
    values = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if avoid:
        values = values.filter(lambda v: all(abs(v - k) >= margin for k in avoid))
    return values


def float_arrays(
    shape: tuple, avoid: Sequence[float] = (), margin: float = 0.1
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with values from :func:`finite_floats`."""
    return hnp.arrays(np.float64, shape, elements=finite_floats(avoid=avoid, margin=margin))


def bool_arrays(shape: tuple) -> st.SearchStrategy[np.ndarray]:
    """Boolean masks (``where`` conditions) of ``shape``."""
    return hnp.arrays(np.bool_, shape)


def broadcastable_shapes(
    num_shapes: int = 2, max_dims: int = 3, max_side: int = 3
) -> st.SearchStrategy[tuple]:
    """``num_shapes`` shapes that broadcast together (0-d and size-1 axes included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=0, max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda r: r.input_shapes)


def matmul_shapes(max_dims: int = 2, max_side: int = 3) -> st.SearchStrategy[tuple]:
    """Operand shapes for ``matmul``: 1-D on either side, batched with broadcast batches."""
    return hnp.mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda r: r.input_shapes)


@st.composite
def reduction_args(draw: Any, max_dims: int = 3, max_side: int = 4) -> tuple[tuple, dict]:
    """``(shape, {"axis": ..., "keepdims": ...})``: axis None, one axis (possibly negative)
    or a tuple of distinct axes in any order and sign."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=1, max_side=max_side))
    ndim = len(shape)
    axis_choices = [st.none()]
    if ndim:
        one = st.integers(-ndim, ndim - 1)
        axis_choices += [one, st.lists(one, min_size=1, max_size=ndim,
                                       unique_by=lambda a: a % ndim).map(tuple)]  # fmt: skip
    kwargs: dict[str, Any] = {"axis": draw(st.one_of(axis_choices))}
    if draw(st.booleans()):
        kwargs["keepdims"] = True
    return shape, kwargs


@st.composite
def softmax_args(draw: Any, max_dims: int = 3, max_side: int = 4) -> tuple[tuple, dict]:
    """``(shape, {"axis": a})`` with one axis, negative or not, of an at least 1-D shape."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side))
    return shape, {"axis": draw(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def op_sample(
    draw: Any, op: OpInfo, shapes: Sequence[tuple], kwargs: dict | None = None,
    avoid: Sequence[float] = (),
) -> Sample:  # fmt: skip
    """A :class:`Sample` for ``op`` with float arrays of ``shapes``, mapped into the op's own
    domain (positive for log, no ties for max/min, away from kinks for abs/relu...)."""
    args = tuple(draw(float_arrays(s, avoid=avoid)) for s in shapes)
    if op.domain is not None:
        args = tuple(np.asarray(a) for a in op.domain(args))
    return Sample(args, dict(kwargs or {}))
