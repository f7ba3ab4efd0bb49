"""The one seam between chainrule and an array library (NumPy on the CPU, CuPy on a GPU).

Every op asks :func:`array_module` for the library that owns its arrays instead of
importing NumPy directly, so a CuPy array flows through the same op code.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from chainrule.errors import ChainruleError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_cupy: Any = None  # set by _load_cupy() the first time a "cuda" device is asked for


def _load_cupy() -> Any:
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ChainruleError(
                "device 'cuda' needs CuPy: pip install cupy-cuda12x (or the build for your CUDA)"
            ) from exc
        _cupy = cupy
    return _cupy


def array_module(x: Any) -> Any:
    """The array library (``numpy`` or ``cupy``) that owns ``x``."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy
    return np


def device_of(x: Any) -> str:
    return "cuda" if _cupy is not None and isinstance(x, _cupy.ndarray) else "cpu"


def to_device(x: Any, device: str) -> Any:
    """Copy ``x`` to ``device`` ("cpu" or "cuda"); returns ``x`` itself if it is already there."""
    if device == "cpu":
        if _cupy is not None and isinstance(x, _cupy.ndarray):
            return _cupy.asnumpy(x)
        return x if isinstance(x, np.ndarray) else np.asarray(x)
    if device == "cuda":
        return _load_cupy().asarray(x)
    raise ChainruleError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


def is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))


# ---------------------------------------------------------------------------------------
# Random numbers: one generator per process, reseeded by cr.manual_seed.
_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed every random number chainrule draws (weights, dropout masks, shuffles)."""
    global _rng
    _rng = np.random.default_rng(seed)
    if _cupy is not None:
        _cupy.random.seed(seed)


def rng() -> np.random.Generator:
    return _rng


def get_rng_state() -> dict:
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


# ---------------------------------------------------------------------------------------
# Array namespaces for derivative rules. A rule written against ``ctx.xp`` runs on raw
# arrays with one of these (the fast path), or on Tensors with ``chainrule.ops`` (the
# differentiable path used by create_graph=True). The few names NumPy lacks are added here
# and mirrored, with the same signatures, in ``chainrule.ops``.


def _sum_to(x: Any, shape: tuple) -> Any:
    """Sum ``x`` down to ``shape``, undoing NumPy broadcasting."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if x.shape[lead:] == shape:  # only leading axes were added (a bias): the common case
        return x.sum(axis=0) if lead == 1 else x.sum(axis=tuple(range(lead)))
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1
    )
    return x.sum(axis=axes, keepdims=True).reshape(shape)


def _broadcast_to(xp: Any) -> Any:
    def broadcast_to(x: Any, shape: tuple) -> Any:
        """NumPy's broadcast_to, but a scalar is filled into a fresh array (much faster)."""
        if x.shape == shape:
            return x
        if x.size == 1:
            return xp.full(shape, x.reshape(()))
        return xp.broadcast_to(x, shape)

    return broadcast_to


def _make_namespace(xp: Any) -> types.SimpleNamespace:
    def scatter_add(shape: tuple, index: Any, values: Any, basic: bool) -> Any:
        """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate)."""
        out = xp.zeros(shape, dtype=values.dtype)
        if basic:
            out[index] = values
        else:
            xp.add.at(out, index, values)
        return out

    ns = types.SimpleNamespace(**{name: getattr(xp, name) for name in _NUMPY_NAMES})
    ns.sum_to = _sum_to
    ns.broadcast_to = _broadcast_to(xp)
    ns.scatter_add = scatter_add
    ns.is_graph = False
    return ns


_NUMPY_NAMES = (
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sign", "where", "maximum",
    "minimum", "sum", "mean", "matmul", "reshape", "transpose", "swapaxes",
    "expand_dims", "squeeze", "broadcast_to", "concatenate", "split", "zeros_like",
    "ones_like",
)  # fmt: skip

numpy_ops = _make_namespace(np)
_cupy_ops: Any = None


def ops_for(x: Any) -> types.SimpleNamespace:
    """The array namespace for derivative rules on ``x``'s library."""
    global _cupy_ops
    if _cupy is None or not isinstance(x, _cupy.ndarray):
        return numpy_ops
    if _cupy_ops is None:
        _cupy_ops = _make_namespace(_cupy)
    return _cupy_ops
