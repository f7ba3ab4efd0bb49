"""Matrix multiplication with NumPy's rules: batched, broadcast batch axes, 1-D operands."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Op
from chainrule.errors import ShapeError
from chainrule.ops._util import shape_of


def check_matmul_shapes(sa: tuple, sb: tuple) -> None:
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension, got {sa} and {sb}")
    inner_a = sa[-1]
    inner_b = sb[-2] if len(sb) > 1 else sb[0]
    if inner_a != inner_b:
        raise ShapeError(f"matmul: shapes {sa} and {sb} are not aligned ({inner_a} != {inner_b})")
    batch_a, batch_b = sa[:-2], sb[:-2]
    for x, y in zip(reversed(batch_a), reversed(batch_b)):
        if x != y and x != 1 and y != 1:
            raise ShapeError(f"matmul: batch shapes of {sa} and {sb} do not broadcast")


def _mT(xp: Any, x: Any) -> Any:
    """Swap the last two axes (``.T`` for a matrix, the cheap case)."""
    return x.T if x.ndim == 2 else xp.swapaxes(x, -1, -2)


class MatMul(Op):
    name = "matmul"
    reads_other_operand = True  # dL/da = g @ b^T, dL/db = a^T @ g

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            check_matmul_shapes(shape_of(a), shape_of(b))
            raise

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, a layer's weights
            return (g @ b.T if na else None), (a.T @ g if nb else None)
        xp = ctx.xp
        if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
            return (g * b if na else None), (g * a if nb else None)
        if a.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
            g2 = xp.expand_dims(g, -2)
            ga = xp.squeeze(g2 @ _mT(xp, b), -2) if na else None
            gb = xp.expand_dims(a, -1) * g2 if nb else None
            return ga, gb
        if b.ndim == 1:  # (..., n, m) @ (m,) -> (..., n)
            g2 = xp.expand_dims(g, -1)
            ga = g2 * b if na else None
            gb = xp.squeeze(_mT(xp, a) @ g2, -1) if nb else None
            return ga, gb
        ga = g @ _mT(xp, b) if na else None
        gb = _mT(xp, a) @ g if nb else None
        return ga, gb

    @staticmethod
    def jvp(ctx, ta, tb):
        a, b = ctx.saved
        return ta @ b + a @ tb
