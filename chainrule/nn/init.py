"""Weight initialisers (PyTorch's ``torch.nn.init``), and LSUV.

Each ``*_`` function fills its tensor in place (no graph is recorded, the array keeps its
dtype and device) and returns it. Random draws come from ``chainrule.backend.rng()``, so
``cr.manual_seed(n)`` makes them reproducible.

Fans of a weight of shape (out, in, *kernel): ``fan_in = in * prod(kernel)``,
``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import no_grad
from chainrule.errors import ChainruleError, ShapeError
from chainrule.nn.module import ModuleTypeError
from chainrule.ops.nn import normal_cdf
from chainrule.tensor import Tensor, to_array

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lsuv_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


class InitError(ChainruleError, ValueError):
    """A bad argument to an initialiser (unknown nonlinearity or mode, too few axes)."""


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear, conv and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope
    ``param``, default 0.01), 3/4 for selu."""
    linear = {"linear", "identity", "sigmoid"}
    linear |= {f"conv{k}d" for k in (1, 2, 3)} | {f"conv_transpose{k}d" for k in (1, 2, 3)}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, int | float) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise InitError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InitError(f"unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ShapeError(
            f"fan in and fan out need a tensor with at least 2 axes, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise InitError(f"mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, values: Any) -> Tensor:
    """Write ``values`` into ``tensor`` in place (cast to its dtype, on its device)."""
    if not isinstance(tensor, Tensor):
        raise ModuleTypeError(
            f"initialisers fill a Tensor or Parameter, got {type(tensor).__name__}"
        )
    with no_grad():
        arr = np.asarray(values, dtype=tensor.dtype)
        tensor.data[...] = backend.to_device(arr, tensor.device)
        tensor._version[0] += 1
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    if not a <= b:
        raise InitError(f"uniform_: the lower bound a={a} is above the upper bound b={b}")
    return _fill(tensor, backend.rng().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    if not std >= 0:
        raise InitError(f"normal_: std must be >= 0, got {std}")
    return _fill(tensor, backend.rng().normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``
    (std ``gain * sqrt(2 / (fan_in + fan_out))``)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He et al. (2015): U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, ``gain =
    calculate_gain(nonlinearity, a)``. With ``a=sqrt(5)`` (PyTorch's Linear and Conv
    default) the bound is ``1 / sqrt(fan_in)``."""
    if 0 in tensor.shape:
        return tensor
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """N(0, std^2) with ``std = gain / sqrt(fan)``, ``gain = calculate_gain(nonlinearity, a)``."""
    if 0 in tensor.shape:
        return tensor
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix times ``gain``; axes after the first
    are flattened, so rows of an (out, in, *kernel) weight are orthonormal when
    ``out <= in*prod(kernel)`` (``W W^T = I``), columns otherwise (``W^T W = I``)."""
    if tensor.ndim < 2:
        raise ShapeError(f"orthogonal_ needs a tensor with at least 2 axes, got {tensor.shape}")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    flat = backend.rng().normal(size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes the draw uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:  # fmt: skip
    """N(mean, std^2) truncated to ``[a, b]`` (PyTorch's ``trunc_normal_``: ``a`` and ``b``
    are absolute bounds, not multiples of ``std``). Exact for any interval: rejection of
    normal draws where it keeps at least a quarter of them, the inverse CDF (by bisection
    on chainrule's erfc) where the interval holds less mass, e.g. deep in a tail."""
    if not std > 0:
        raise InitError(f"trunc_normal_: std must be > 0, got {std}")
    if not a < b:
        raise InitError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    lo, hi = max((a - mean) / std, -40.0), min((b - mean) / std, 40.0)  # standardised
    cdf_lo, cdf_hi = (float(normal_cdf(np.asarray(v))) for v in (lo, hi))
    n, rng = tensor.size, backend.rng()
    if cdf_hi - cdf_lo >= 0.25:
        kept: list = []
        left = n
        while left > 0:
            z = rng.standard_normal(int(left / (cdf_hi - cdf_lo) * 1.1) + 8)
            z = z[(z >= lo) & (z <= hi)][:left]
            kept.append(z)
            left -= z.size
        z = np.concatenate(kept) if kept else np.zeros(0)
    else:
        u = rng.uniform(cdf_lo, cdf_hi, n)
        below, above = np.full(n, lo), np.full(n, hi)
        for _ in range(60):  # bisection: 2^-60 of the interval
            mid = (below + above) / 2
            low_side = normal_cdf(mid) < u
            below, above = np.where(low_side, mid, below), np.where(low_side, above, mid)
        z = (below + above) / 2
    return _fill(tensor, np.clip(mean + std * z, a, b).reshape(tensor.shape))


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix, for a 2-D tensor (1 on the diagonal of a rectangular one)."""
    if tensor.ndim != 2:
        raise ShapeError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta for a convolution weight (out, in, *kernel) with 1 to 3 kernel axes:
    channel ``d`` of each of the ``groups`` groups passes through unchanged (a 1 at the
    kernel's centre) for ``d < min(out / groups, in)``; zeros elsewhere."""
    if tensor.ndim not in (3, 4, 5):
        raise ShapeError(f"dirac_ needs a 3-, 4- or 5-D tensor (out, in, *kernel), got shape "
                         f"{tensor.shape}")  # fmt: skip
    if not isinstance(groups, int) or groups < 1 or tensor.shape[0] % groups:
        raise InitError(f"dirac_: groups must be an int >= 1 that divides the {tensor.shape[0]} "
                        f"output channels, got {groups!r}")  # fmt: skip
    out_per_group = tensor.shape[0] // groups
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            values[(g * out_per_group + d, d, *centre)] = 1
    return _fill(tensor, values)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01) -> Tensor:
    """Martens (2010): N(0, std^2) with ``ceil(sparsity * rows)`` entries of every column of
    a 2-D tensor set to zero, at rows drawn at random per column."""
    if tensor.ndim != 2:
        raise ShapeError(f"sparse_ needs a 2-D tensor, got shape {tensor.shape}")
    if not 0 <= sparsity <= 1:
        raise InitError(f"sparse_: sparsity must be in [0, 1], got {sparsity}")
    if not std >= 0:
        raise InitError(f"sparse_: std must be >= 0, got {std}")
    rows, cols = tensor.shape
    rng = backend.rng()
    values = rng.normal(0.0, std, size=(rows, cols))
    zeros = math.ceil(sparsity * rows)
    for c in range(cols):
        values[rng.permutation(rows)[:zeros], c] = 0
    return _fill(tensor, values)


# ---------------------------------------------------------------------------------------
# LSUV


def _lsuv_layers(model: Any) -> list:
    from chainrule.nn.linear import Linear

    out = []
    for m in model.modules():
        w = m._parameters.get("weight")
        if w is None or w.ndim < 2:
            continue
        if isinstance(m, Linear) or type(m).__name__.startswith("Conv"):
            out.append(m)
    return out


def lsuv_(
    model: Any,
    batch: Any,
    tol: float = 0.1,
    max_iter: int = 10,
    layers: list | None = None,
) -> Any:
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, 2016).

    Every Linear and Conv weight (or those of ``layers``) first gets ``orthogonal_``; then,
    in the order the layers run in the forward pass, each weight is divided by the standard
    deviation of that layer's output on ``batch`` until the output variance is within
    ``tol`` of 1 (at most ``max_iter`` rescalings per layer). Outputs are read with forward
    hooks; the passes run in eval mode under ``no_grad`` (the training flags are restored).
    Returns the model.
    """
    todo = _lsuv_layers(model) if layers is None else list(layers)
    if not todo:
        raise InitError(f"lsuv_: {type(model).__name__} has no Linear or Conv layer")
    x = batch if isinstance(batch, Tensor | tuple | list) else Tensor(to_array(batch))
    args = tuple(x) if isinstance(x, tuple | list) else (x,)
    for m in todo:
        orthogonal_(m.weight)
    flags = {id(m): m.training for m in model.modules()}
    model.eval()
    try:
        order = _forward_order(model, args, todo)
        for m in order:
            _rescale(model, args, m, tol, max_iter)
    finally:
        for m in model.modules():
            m.__dict__["training"] = flags.get(id(m), m.training)
    return model


def _run(model: Any, args: tuple) -> None:
    with no_grad():
        model(*args)


def _forward_order(model: Any, args: tuple, layers: list) -> list:
    seen: list = []

    def record(m: Any, inputs: tuple, out: Any) -> None:
        if all(m is not s for s in seen):
            seen.append(m)

    handles = [m.register_forward_hook(record) for m in layers]
    try:
        _run(model, args)
    finally:
        for h in handles:
            h.remove()
    return seen


def _rescale(model: Any, args: tuple, layer: Any, tol: float, max_iter: int) -> None:
    var: list = []

    def grab(m: Any, inputs: tuple, out: Any) -> None:
        o = out[0] if isinstance(out, tuple | list) else out
        var.append(float(np.asarray(o.numpy(), dtype=np.float64).var()))

    handle: Callable = layer.register_forward_hook(grab).remove
    try:
        for _ in range(max_iter):
            var.clear()
            _run(model, args)
            v = var[0]
            if abs(v - 1.0) < tol or v <= 0:
                break
            with no_grad():
                layer.weight.data[...] /= np.sqrt(v).astype(layer.weight.dtype)
                layer.weight._version[0] += 1
    finally:
        handle()
