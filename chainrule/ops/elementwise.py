"""Elementwise ops. Jacobians are diagonal, so every rule is a product, never a matrix.

Binary ops broadcast like NumPy. Their rules return gradients in the broadcast (output)
shape; the engine sums each one back to its input's shape with the one shared helper
``sum_to`` (see ``autograd/engine.py``), so no rule repeats that bookkeeping.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.errors import ShapeError
from chainrule.ops._util import shape_of


def _broadcast_error(op: str, *xs: Any) -> ShapeError:
    """The error for operands NumPy cannot broadcast together (instead of NumPy's own)."""
    shapes = " and ".join(str(tuple(shape_of(x))) for x in xs)
    return ShapeError(f"{op}: shapes {shapes} cannot be broadcast together")


class Add(Op):
    name = "add"

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, g

    @staticmethod
    def jvp(ctx, ta, tb):
        return ta + tb


class Sub(Op):
    name = "sub"

    @staticmethod
    def forward(ctx, a, b):
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        return ta - tb


class Mul(Op):
    name = "mul"
    reads_other_operand = True  # dL/da = g * b, dL/db = g * a

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved
        return ta * b + a * tb


class Div(Op):
    name = "div"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (g / b if na else None), (-g * a / (b * b) if nb else None)

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved
        return ta / b - a * tb / (b * b)


class Pow(Op):
    """``a ** b``. d/da is 0 where ``b == 0`` and d/db is ``y * log(a)``, taken as 0 where
    ``a == 0`` (both as PyTorch does)."""

    name = "pow"

    @staticmethod
    def forward(ctx, a, b):
        try:
            y = a**b
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        na, nb = ctx.needs_input_grad
        xp = ctx.xp
        ga = g * _d_base(xp, a, b) if na else None
        gb = g * _d_exponent(xp, a, y) if nb else None
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b, y = ctx.saved
        xp = ctx.xp
        out = ta * _d_base(xp, a, b)
        if isinstance(tb, int | float) and tb == 0:  # a literal exponent: no second term
            return out
        # the exponent's term only where its tangent is nonzero: a constant exponent's zero
        # tangent must not meet the NaN log of a negative base (nor warn about it)
        still = tb == 0
        return out + xp.where(still, 0, tb * _d_exponent(xp, xp.where(still, 1, a), y))


def _d_base(xp: Any, a: Any, b: Any) -> Any:
    """``b * a ** (b - 1)``, taken as 0 where ``b == 0`` (so 0 ** 0 has slope 0, as PyTorch)."""
    if isinstance(b, (int, float)):
        return 0 * a if b == 0 else b * a ** (b - 1)
    return xp.where(b == 0, 0, b * a ** (b - 1))


def _d_exponent(xp: Any, a: Any, y: Any) -> Any:
    if isinstance(a, (int, float)):
        return y * (math.log(a) if a > 0 else math.nan if a < 0 else 0.0)
    zero = a == 0
    return xp.where(zero, 0, y * xp.log(xp.where(zero, 1, a)))


class Maximum(Op):
    """Elementwise max; at ties each input gets half the gradient (as PyTorch)."""

    name = "maximum"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return ctx_xp(a, b).maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return _split_by_weight(ctx, g, _tie_weight(a > b, a == b, g))

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved
        w = _tie_weight(a > b, a == b, ta if hasattr(ta, "dtype") else tb)
        return ta * w + tb * (1 - w)


class Minimum(Op):
    """Elementwise min; at ties each input gets half the gradient (as PyTorch)."""

    name = "minimum"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return ctx_xp(a, b).minimum(a, b)
        except ValueError:
            raise _broadcast_error("minimum", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return _split_by_weight(ctx, g, _tie_weight(a < b, a == b, g))

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved
        w = _tie_weight(a < b, a == b, ta if hasattr(ta, "dtype") else tb)  # (ta: 0 for a number)
        return ta * w + tb * (1 - w)


def _tie_weight(wins: Any, ties: Any, like: Any) -> Any:
    """1 where ``a`` wins, 0.5 at ties, 0 where ``b`` wins, in ``like``'s dtype."""
    return wins.astype(like.dtype) + ties.astype(like.dtype) * 0.5


def _split_by_weight(ctx: Any, g: Any, w: Any) -> tuple:
    na, nb = ctx.needs_input_grad
    return (g * w if na else None), (g * (1 - w) if nb else None)


def ctx_xp(*xs: Any) -> Any:
    """The array library of the first array among ``xs`` (NumPy for plain numbers)."""
    for x in xs:
        if backend.is_array(x):
            return backend.array_module(x)
    return backend.array_module(None)


class Where(Op):
    """``where(cond, a, b)``: ``a`` where ``cond`` holds, else ``b``; no gradient to cond."""

    name = "where"

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        try:
            return ctx_xp(cond, a, b).where(cond, a, b)
        except ValueError:
            raise _broadcast_error("where", cond, a, b) from None

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        _, na, nb = ctx.needs_input_grad
        xp = ctx.xp
        return None, (xp.where(cond, g, 0) if na else None), (xp.where(cond, 0, g) if nb else None)

    @staticmethod
    def jvp(ctx, tc, ta, tb):
        (cond,) = ctx.saved
        return ctx.xp.where(cond, ta, tb)


# ---- unary ops --------------------------------------------------------------------------


class Neg(Op):
    name = "neg"

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g

    @staticmethod
    def jvp(ctx, t):
        return -t


class Clone(Op):
    """A copy with its own memory (the gradient passes through unchanged): what to save
    instead of a tensor that is about to be written in place."""

    name = "clone"

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def jvp(ctx, t):
        return t


class Exp(Op):
    name = "exp"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * y


class Log(Op):
    name = "log"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t / x


class Log2(Op):
    """``log2`` by NumPy's own function (exact at powers of two); ``d/dx = 1 / (x ln 2)``."""

    name = "log2"
    ufunc = "log2"
    ln_base = math.log(2)

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        return getattr(array_module(x), cls.ufunc)(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (x * ctx.fn.ln_base)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t / (x * ctx.fn.ln_base)


class Log10(Log2):
    name = "log10"
    ufunc = "log10"
    ln_base = math.log(10)


class Exp2(Op):
    """``2 ** x`` by NumPy's ``exp2``; ``d/dx = 2 ** x ln 2``."""

    name = "exp2"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp2(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * math.log(2)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * y * math.log(2)


class Sqrt(Op):
    name = "sqrt"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g / (y + y)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t / (y + y)


class Abs(Op):
    name = "abs"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * ctx.xp.sign(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * ctx.xp.sign(x)


class Sin(Op):
    name = "sin"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * ctx.xp.cos(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * ctx.xp.cos(x)


class Cos(Op):
    name = "cos"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return -g * ctx.xp.sin(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return -t * ctx.xp.sin(x)


class Log1p(Op):
    """``log(1 + x)``, accurate for small ``x``."""

    name = "log1p"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (x + 1)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t / (x + 1)


class Expm1(Op):
    """``exp(x) - 1``, accurate for small ``x``; the slope is ``y + 1``."""

    name = "expm1"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (y + 1)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * (y + 1)


class Tan(Op):
    """``tan(x)``; the slope is ``1 + y^2``."""

    name = "tan"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tan(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 + y * y)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * (1 + y * y)


class Arctan(Op):
    """``arctan(x)``; the slope is ``1 / (1 + x^2)``."""

    name = "arctan"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arctan(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (1 + x * x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t / (1 + x * x)


class Arcsin(Op):
    """``arcsin(x)`` on [-1, 1]; the slope ``1 / sqrt(1 - x^2)`` is infinite at +-1."""

    name = "arcsin"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arcsin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / ctx.xp.sqrt(1 - x * x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t / ctx.xp.sqrt(1 - x * x)


class Arccos(Op):
    """``arccos(x)`` on [-1, 1]; the slope is ``-1 / sqrt(1 - x^2)``."""

    name = "arccos"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).arccos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return -g / ctx.xp.sqrt(1 - x * x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return -t / ctx.xp.sqrt(1 - x * x)


class Sinh(Op):
    name = "sinh"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sinh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * ctx.xp.cosh(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * ctx.xp.cosh(x)


class Cosh(Op):
    name = "cosh"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cosh(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * ctx.xp.sinh(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * ctx.xp.sinh(x)


class Tanh(Op):
    name = "tanh"

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 - y * y)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * (1 - y * y)


def sigmoid_array(x: Any) -> Any:
    """``1 / (1 + exp(-x))`` on a raw array, for any ``x``: with ``e = exp(-|x|)``, which
    never overflows, it is ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` below, exact
    down to subnormal results (3x faster than ``exp(-logaddexp(0, -x))``, and as exact)."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


class Sigmoid(Op):
    """``1 / (1 + exp(-x))``, computed by :func:`sigmoid_array`."""

    name = "sigmoid"

    @staticmethod
    def forward(ctx, x):
        y = sigmoid_array(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (y * (1 - y))

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * (y * (1 - y))


# NumPy's maximum runs its SIMD loop only when both operands are arrays; against the scalar 0
# it falls back to a scalar NaN-checking loop, ~2x slower than allocating a zero array and
# taking the maximum in place (measured: 10 -> 4.6 us at 128x256 float32). Below this size the
# extra allocation costs more than it saves (0.5 -> 1.0 us at 7 elements).
_RELU_SIMD_SIZE = 4096


class Relu(Op):
    """``max(x, 0)``; the derivative at 0 is taken as 0 (as PyTorch)."""

    name = "relu"

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        if x.size < _RELU_SIMD_SIZE:
            y = xp.maximum(x, 0)
        else:  # the same values, ~2x faster: see _RELU_SIMD_SIZE
            y = xp.zeros_like(x)
            xp.maximum(x, y, out=y)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (y > 0)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t * (y > 0)


class Clip(Op):
    """``clip(x, min, max)``; the gradient passes where ``min <= x <= max``."""

    name = "clip"

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return array_module(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * _inside(x, *ctx.bounds)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * _inside(x, *ctx.bounds)


def _inside(x: Any, lo: Any, hi: Any) -> Any:
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)


class Astype(Op):
    name = "astype"

    @staticmethod
    def forward(ctx, x, *, dtype):
        ctx.dtypes = (x.dtype, dtype)
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtypes[0])

    @staticmethod
    def jvp(ctx, t):
        return t.astype(ctx.dtypes[1])


class ToDevice(Op):
    name = "to_device"

    @staticmethod
    def forward(ctx, x, *, device):
        ctx.devices = (backend.device_of(x), device)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.devices[0]) if ctx.xp.is_graph else _move(g, ctx.devices[0])

    @staticmethod
    def jvp(ctx, t):
        return _move(t, ctx.devices[1])


def _move(x: Any, device: str) -> Any:
    return backend.to_device(x, device)
