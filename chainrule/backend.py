"""The one seam between chainrule and an array library (NumPy on the CPU, CuPy on a GPU).

Every op asks :func:`array_module` for the library that owns its arrays instead of
importing NumPy directly, so a CuPy array flows through the same op code.
"""

from __future__ import annotations

import ctypes
import os
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


def to_device_of(x: Any, ref: Any) -> Any:
    """``x`` on the device of the array ``ref`` (copied only when the devices differ): how
    the autodiff transforms accept NumPy tangents, cotangents and probes for CUDA inputs."""
    if _cupy is None:
        return x
    return to_device(x, device_of(ref)) if device_of(x) != device_of(ref) else x


def is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))


# ---------------------------------------------------------------------------------------
# The C allocator. glibc's malloc serves every block above M_MMAP_THRESHOLD (128 KiB at
# start) with a fresh mmap and hands it back with munmap on free, and it returns the top of
# the heap to the OS whenever more than M_TRIM_THRESHOLD (128 KiB) is free there. A training
# step allocates and frees the same multi-megabyte arrays every step (im2col columns,
# activations, gradients), so with those defaults every step pays page faults on freshly
# zeroed pages: measured here, a LeNet-like CNN step went from 6.0 to 3.9 ms (the issue
# reports 13.9 -> 9.1 ms for a plain NumPy CNN) once both thresholds were raised.
MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024
malloc_tuned = False  # whether tune_malloc() changed the allocator (for reports)


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds so freed large blocks stay in the heap and
    are reused, instead of going back to the OS and faulting in again on the next step.

    Called once when chainrule is imported. It changes the process's malloc (NumPy's and
    every other library's large allocations), keeps up to ``MALLOC_TRIM_THRESHOLD`` bytes of
    freed memory in the heap, and does nothing on other C libraries (macOS, musl, Windows).
    Set ``CHAINRULE_MALLOC_TUNING=0`` in the environment to leave the allocator alone.
    Returns whether the thresholds were set."""
    global malloc_tuned
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1") == "0":
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # not a glibc system
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    malloc_tuned = bool(
        mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD)
        and mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD)
    )
    return malloc_tuned


tune_malloc()


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
        """NumPy's broadcast_to, but a one-element ``x`` is filled into a fresh array (faster)."""
        if x.shape == shape:
            return x
        if x.size == 1:  # empty + fill: a third of np.full's cost on small arrays
            out = xp.empty(shape, x.dtype)
            out[...] = x
            return out
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
    "exp", "log", "sqrt", "abs", "sin", "cos", "sinh", "cosh", "tanh", "sign", "where", "maximum",
    "minimum", "sum", "mean", "matmul", "reshape", "transpose", "swapaxes",
    "expand_dims", "squeeze", "broadcast_to", "concatenate", "split", "zeros_like",
    "ones_like", "flip", "roll", "cumsum", "cumprod", "einsum",
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
