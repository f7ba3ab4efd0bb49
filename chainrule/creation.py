"""Making tensors: from data, filled, ranges, and random draws from ``cr.manual_seed``'s
generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor, as_dtype, to_array


def _shape(shape: tuple) -> tuple:
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = tuple(shape[0])
    shape = tuple(shape)
    if any(isinstance(n, (int, np.integer)) and n < 0 for n in shape):
        raise ShapeError(f"cannot make a tensor of shape {shape}: negative dimensions")
    return shape


def _finish(arr: Any, dtype: Any, requires_grad: bool, device: str) -> Tensor:
    if dtype is not None:
        arr = arr.astype(as_dtype(dtype), copy=False)
    if device != "cpu":
        arr = backend.to_device(arr, device)
    return Tensor(arr, requires_grad=requires_grad)


def tensor(
    data: Any, dtype: Any = None, requires_grad: bool = False, device: str = "cpu"
) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats and lists of them become float32, Python ints int64, bools bool; a NumPy
    array keeps its dtype unless ``dtype`` is given.
    """
    return _finish(to_array(data, dtype, copy=True), None, requires_grad, device)


def zeros(*shape: Any, dtype: Any = backend.float32, requires_grad: bool = False,
          device: str = "cpu") -> Tensor:  # fmt: skip
    return _finish(np.zeros(_shape(shape), dtype=as_dtype(dtype)), None, requires_grad, device)


def ones(*shape: Any, dtype: Any = backend.float32, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:  # fmt: skip
    return _finish(np.ones(_shape(shape), dtype=as_dtype(dtype)), None, requires_grad, device)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:  # fmt: skip
    """``shape`` filled with ``fill_value`` (float32 for a float, int64 for an int)."""
    dtype = dtype if dtype is not None else to_array(fill_value).dtype
    arr = np.full(_shape((shape,)), fill_value, dtype=as_dtype(dtype))
    return _finish(arr, None, requires_grad, device)


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, device=x.device)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad, device=x.device)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False, device: str = "cpu") -> Tensor:  # fmt: skip
    """NumPy's arange; int64 for integer arguments, float32 otherwise."""
    arr = np.arange(start, stop, step) if stop is not None else np.arange(start)
    arr = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float32)
    return _finish(arr, dtype, requires_grad, device)


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True, dtype: Any = None,
             requires_grad: bool = False, device: str = "cpu") -> Tensor:  # fmt: skip
    """NumPy's linspace: ``num`` evenly spaced numbers from ``start`` to ``stop`` (float32
    unless ``dtype`` says otherwise)."""
    if not isinstance(num, int | np.integer) or isinstance(num, bool) or num < 0:
        raise ShapeError(f"linspace: num must be an int >= 0, got {num!r}")
    arr = np.linspace(start, stop, num, endpoint=endpoint)
    return _finish(arr, dtype if dtype is not None else backend.float32, requires_grad, device)


def eye(n: int, m: int | None = None, k: int = 0, dtype: Any = backend.float32,
        requires_grad: bool = False, device: str = "cpu") -> Tensor:  # fmt: skip
    """An ``n`` by ``m`` (default ``n``) matrix with ones on diagonal ``k`` (NumPy's eye)."""
    shape = _shape((n, n if m is None else m))
    return _finish(np.eye(*shape, k=k, dtype=as_dtype(dtype)), None, requires_grad, device)


def randn(*shape: Any, dtype: Any = backend.float32, requires_grad: bool = False,
          device: str = "cpu") -> Tensor:  # fmt: skip
    """Standard normal draws."""
    arr = backend.rng().standard_normal(_shape(shape), dtype=np.float64)
    return _finish(arr, dtype, requires_grad, device)


def rand(*shape: Any, dtype: Any = backend.float32, requires_grad: bool = False,
         device: str = "cpu") -> Tensor:  # fmt: skip
    """Uniform draws in [0, 1)."""
    arr = backend.rng().random(_shape(shape), dtype=np.float64)
    return _finish(arr, dtype, requires_grad, device)
