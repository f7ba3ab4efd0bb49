"""The leanest define-by-run engine that can run the tiny-MLP benchmark: a ceiling.

It records a graph and walks it backwards like chainrule (a node per op, a heap in reverse
creation order, fan-in summed, broadcast bias gradients summed back), but has nothing else:
no dtype or shape checks, no version counters, no forward mode, no hooks, no errors, six
ops. ``bench_core.py`` times its MLP step beside chainrule's to show how much of
chainrule's time is the bookkeeping of a real library and how much any Python engine pays
for recording a graph at all. Not part of chainrule; do not use it for anything else.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

_seq = itertools.count()
_grad_on = [True]


class _Node:
    __slots__ = ("fn", "parents", "saved", "seq", "shape")

    def __init__(self, fn: Any, parents: tuple, saved: Any, shape: tuple) -> None:
        self.fn, self.parents, self.saved, self.shape = fn, parents, saved, shape
        self.seq = next(_seq)


class T:
    """A tensor: data, grad, whether it requires grad, and the node that made it."""

    __slots__ = ("data", "grad", "rg", "node")

    def __init__(self, data: Any, rg: bool = False, node: _Node | None = None) -> None:
        self.data, self.grad, self.rg, self.node = data, None, rg, node

    def __matmul__(self, o: T) -> T:
        return _binary(_MatMul, self, o)

    def __add__(self, o: T) -> T:
        return _binary(_Add, self, o)

    def __sub__(self, o: T) -> T:
        return _binary(_Sub, self, o)

    def __mul__(self, o: Any) -> T:
        return _binary(_Mul, self, o)

    def tanh(self) -> T:
        return _unary(_Tanh, self)

    def mean(self) -> T:
        return _unary(_Mean, self)


def _parent(t: Any) -> Any:
    if type(t) is not T or not t.rg:
        return None
    return t.node if t.node is not None else t


def _binary(fn: Any, a: T, b: Any) -> T:
    if type(b) is not T:  # a Python number: a constant, kept as is (as chainrule keeps it)
        b = T(b)
    out, saved = fn.fwd(a.data, b.data)
    if _grad_on[0] and (a.rg or b.rg):
        return T(out, True, _Node(fn, (_parent(a), _parent(b)), saved, out.shape))
    return T(out)


def _unary(fn: Any, a: T) -> T:
    out, saved = fn.fwd(a.data)
    if _grad_on[0] and a.rg:
        return T(out, True, _Node(fn, (_parent(a),), saved, out.shape))
    return T(out)


class _MatMul:
    fwd = staticmethod(lambda a, b: (a @ b, (a, b)))

    @staticmethod
    def bwd(saved: Any, g: Any, parents: tuple) -> tuple:
        a, b = saved
        return (g @ b.T if parents[0] is not None else None,
                a.T @ g if parents[1] is not None else None)  # fmt: skip


class _Add:
    fwd = staticmethod(lambda a, b: (a + b, None))
    bwd = staticmethod(lambda saved, g, parents: (g, g))


class _Sub:
    fwd = staticmethod(lambda a, b: (a - b, None))
    bwd = staticmethod(lambda saved, g, parents: (g, -g if parents[1] is not None else None))


class _Mul:
    fwd = staticmethod(lambda a, b: (a * b, (a, b)))
    bwd = staticmethod(lambda saved, g, parents: (g * saved[1], g * saved[0]))


class _Tanh:
    @staticmethod
    def fwd(a: Any) -> tuple:
        y = np.tanh(a)
        return y, y

    bwd = staticmethod(lambda y, g, parents: (g * (1 - y * y),))


class _Mean:
    fwd = staticmethod(lambda a: (a.sum() / a.size, (a.shape, a.size)))

    @staticmethod
    def bwd(saved: Any, g: Any, parents: tuple) -> tuple:
        shape, n = saved
        return (np.full(shape, g / n, dtype=g.dtype),)


def _sum_to(g: Any, shape: tuple) -> Any:
    return g.sum(axis=tuple(range(g.ndim - len(shape))))  # only leading axes are added here


def backward(root: T) -> None:
    """Accumulate d(root)/d(leaf) into the ``.grad`` of every leaf that requires grad."""
    pending = {root.node: np.ones((), root.data.dtype)}
    heap = [(-root.node.seq, root.node)]
    while heap:
        node = heapq.heappop(heap)[1]
        grads = node.fn.bwd(node.saved, pending.pop(node), node.parents)
        node.saved = None
        for p, gi in zip(node.parents, grads):
            if p is None or gi is None:
                continue
            if type(p) is _Node:
                if gi.shape != p.shape:
                    gi = _sum_to(gi, p.shape)
                prev = pending.get(p)
                if prev is None:
                    pending[p] = gi
                    heapq.heappush(heap, (-p.seq, p))
                else:
                    pending[p] = prev + gi
            else:
                if gi.shape != p.data.shape:
                    gi = _sum_to(gi, p.data.shape)
                if p.grad is None:
                    p.grad = T(gi if gi.base is None else gi.copy())
                else:
                    p.grad = T(p.grad.data + gi)


def make_mlp_step(x0: Any, t0: Any, p0: list, lr: float) -> Callable[[], Any]:
    """The benchmark's tiny-MLP SGD step on this engine (returns the loss as a T)."""
    x, t = T(x0), T(t0)
    params = [T(p.copy(), True) for p in p0]
    w1, b1, w2, b2, w3, b3 = params

    def step() -> T:
        h1 = (x @ w1 + b1).tanh()
        h2 = (h1 @ w2 + b2).tanh()
        out = h2 @ w3 + b3
        d = out - t
        loss = (d * d).mean()
        backward(loss)
        _grad_on[0] = False
        for p in params:
            p.data -= lr * p.grad.data
            p.grad = None
        _grad_on[0] = True
        return loss

    return step
