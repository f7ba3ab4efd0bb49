"""Matrix multiplication with NumPy's rules: batched, broadcast batch axes, 1-D operands."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.backend import array_module
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


class Einsum(Op):
    """``einsum(spec, *operands)`` with an explicit ``spec = (input subscripts, output)``
    (letters only; :func:`chainrule.ops.einsum` expands ``...`` and the implicit output).
    Each operand's vjp is again an einsum: the output gradient with the other operands,
    broadcast over the letters only that operand had (it summed them out); the jvp is the
    sum of the spec with each tangent in its operand's place."""

    name = "einsum"

    @staticmethod
    def forward(ctx, *operands, spec):
        ctx.save_for_backward(*operands)
        ctx.spec = spec
        ins, out = spec
        return array_module(operands[0]).einsum(",".join(ins) + "->" + out, *operands)

    @staticmethod
    def backward(ctx, g):
        operands, (ins, out) = ctx.saved, ctx.spec
        xp, grads = ctx.xp, []
        for i, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            others = [o for j, o in enumerate(operands) if j != i]
            subs = [s for j, s in enumerate(ins) if j != i]
            seen = set(out).union(*subs)
            kept = "".join(c for c in ins[i] if c in seen)
            gi = xp.einsum(",".join([out, *subs]) + "->" + kept, g, *others)
            shape = tuple(operands[i].shape)
            if kept != ins[i]:  # letters only this operand had: broadcast back over them
                ones = tuple(n if c in seen else 1 for c, n in zip(ins[i], shape))
                gi = xp.broadcast_to(xp.reshape(gi, ones), shape)
            grads.append(xp.sum_to(gi, shape) if tuple(gi.shape) != shape else gi)
        return tuple(grads)

    @staticmethod
    def jvp(ctx, *tangents):
        operands, (ins, out) = ctx.saved, ctx.spec
        xp, total = array_module(operands[0]), None
        for i, t in enumerate(tangents):
            if not backend.is_array(t):
                continue  # an operand without a tangent
            args = [t if j == i else o for j, o in enumerate(operands)]
            term = xp.einsum(",".join(ins) + "->" + out, *args)
            total = term if total is None else total + term
        return total
