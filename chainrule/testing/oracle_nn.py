"""Oracle table for ``chainrule.nn.functional``: activations, dropout, linear and losses.

:data:`NN_OPS` is a list of :class:`~chainrule.testing.oracle.OpInfo` entries built exactly
like the core table (:data:`chainrule.testing.oracle.OPS`), so every generic check there
(gradcheck, forward vs reverse, double backward, PyTorch, NumPy) runs over it unchanged:
``oracle.run_table(NN_OPS)``.

Conventions of the samples:

* every loss is sampled with each ``reduction`` ("mean", "sum", "none");
* integer arrays (class labels, +-1 hinge targets) pass to ``fn`` unchanged; floating
  targets (regression targets, class probabilities, binary targets) are differentiated
  like the inputs, and compared with PyTorch's target gradients;
* domains keep samples away from kinks (``|input - target|`` from 0 for ``l1_loss`` and
  from ``delta`` for ``huber_loss``, hinge margins from 0, the softplus threshold...);
* random functions (``dropout`` and ``noisy_relu`` in training) reseed chainrule's RNG
  inside the call (and restore its state afterwards), so every evaluation sees the same
  mask; the PyTorch and NumPy references rebuild that mask from the same seed.
  ``noisy_relu`` in training is not gradchecked: its noise scale depends on ``x`` but is a
  constant in backward by definition, so central differences measure another function;
  its gradient is checked against PyTorch with the noise detached, and forward mode
  against reverse mode.

Torch equivalents come from ``torch.nn.functional``; torch is imported lazily.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn import functional as F
from chainrule.testing.oracle import OpInfo, Sample, away_from, compose, distinct

REDUCTIONS = ("mean", "sum", "none")
SEED = 1234  # the seed inside the random functions' table entries


# ---- torch (imported lazily) -------------------------------------------------------------


def _torch() -> Any:
    import torch

    return torch


def _tf(name: str) -> Callable[..., Any]:
    """``torch.nn.functional.<name>`` looked up at call time."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        return getattr(_torch().nn.functional, name)(*args, **kwargs)

    fn.__name__ = name
    return fn


def _t_reduce(loss: Any, reduction: str) -> Any:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


# ---- sample generators ---------------------------------------------------------------------


def _r(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def _unary(shapes: tuple = ((3, 4), (), (2, 1, 3)), kwargs: tuple = ({},),
           shifts: tuple = ()) -> Callable:  # fmt: skip
    """One sample per shape and kwargs; plus (3, 4) samples shifted by each of ``shifts``."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = [Sample((_r(rng, s),), dict(kw)) for kw in kwargs for s in shapes]
        out += [Sample((_r(rng, (3, 4)) + d,), dict(kwargs[0]), note=f"(3, 4) {d:+g}")
                for d in shifts]  # fmt: skip
        return out

    return gen


def _pairs(shapes: tuple = ((3, 4), (5,), ()), extra: tuple = ({},)) -> Callable:
    """(input, target) float pairs of one shape, with every reduction."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        return [Sample((_r(rng, s), _r(rng, s)), {"reduction": red, **kw})
                for kw in extra for s in shapes for red in REDUCTIONS]  # fmt: skip

    return gen


def _softmax_rows(rng: np.random.Generator, shape: tuple, axis: int) -> np.ndarray:
    z = np.exp(_r(rng, shape))
    return z / z.sum(axis=axis, keepdims=True)


def _ce_inputs(rng: np.random.Generator) -> list[Sample]:
    """Labels (N, C) and (N, C, d) with every reduction, probabilities alike, unbatched (C,)
    and large (+500) logits."""
    out = []
    for red in REDUCTIONS:
        kw = {"reduction": red}
        out += [
            Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))), kw),
            Sample((_r(rng, (2, 3, 2)), rng.integers(0, 3, (2, 2))), kw),
            Sample((_r(rng, (4, 5)), _softmax_rows(rng, (4, 5), 1)), kw, note=f"probs {red}"),
            Sample(
                (_r(rng, (2, 3, 2)), _softmax_rows(rng, (2, 3, 2), 1)),
                kw,
                note=f"probs (2,3,2) {red}",
            ),
        ]
    out += [
        Sample((_r(rng, (5,)), np.asarray(rng.integers(0, 5))), {}, note="unbatched (5,)"),
        Sample((_r(rng, (4,)), _softmax_rows(rng, (4,), 0)), {}, note="unbatched probs"),
        Sample(
            (_r(rng, (3, 4)) + 500, rng.integers(0, 4, (3,))),
            {"reduction": "sum"},
            note="logits +500",
        ),
    ]
    return out


def _nll_inputs(rng: np.random.Generator) -> list[Sample]:
    out = []
    for red in REDUCTIONS:
        out += [
            Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))), {"reduction": red}),
            Sample((_r(rng, (2, 3, 2, 2)), rng.integers(0, 3, (2, 2, 2))), {"reduction": red}),
        ]
    return out + [Sample((_r(rng, (5,)), np.asarray(rng.integers(0, 5))), {}, note="unbatched")]


_CE_OPTIONS = (
    {"weight": True}, {"ignore_index": 2}, {"label_smoothing": 0.2},
    {"weight": True, "ignore_index": 2, "label_smoothing": 0.2},
)  # fmt: skip


def _with_labels_ignored(rng: np.random.Generator, shape: tuple, n_classes: int) -> np.ndarray:
    """Labels in 0..C-1 where the first is 2 (the ignore_index of the option samples)."""
    labels = rng.integers(0, n_classes, shape)
    labels.flat[0] = 2
    return labels


def _class_options(rng: np.random.Generator, weight_as_input: bool, probs: bool) -> list[Sample]:
    """PyTorch's options of cross_entropy / nll_loss over 4 classes: class weights,
    ignore_index=2 (some labels are 2), label smoothing and all three, with every reduction;
    (N, C), (N, C, d) and unbatched (C,) logits; with ``probs``, probability targets too.
    The weight is an input (differentiated) or a keyword."""

    def case(x: np.ndarray, t: np.ndarray, opts: dict, red: str) -> Sample:
        kw = {k: v for k, v in opts.items() if k != "weight"} | {"reduction": red}
        w = rng.uniform(0.2, 2.0, 4) if opts.get("weight") else None
        if w is not None and not weight_as_input:
            kw["weight"] = w
        args = (x, t, w) if weight_as_input else (x, t)
        note = " ".join(f"{k}={_short_opt(v)}" for k, v in {**opts, "reduction": red}.items())
        return Sample(args, kw, note=f"{x.shape} {note}")

    options = [o for o in _CE_OPTIONS if not weight_as_input or o.get("weight")]
    if not probs:
        options = [{k: v for k, v in o.items() if k != "label_smoothing"} for o in options]
        options = [o for i, o in enumerate(options) if o and o not in options[:i]]
    out = []
    for opts in options:
        for red in REDUCTIONS:
            out.append(case(_r(rng, (5, 4)), _with_labels_ignored(rng, (5,), 4), opts, red))
            out.append(case(_r(rng, (2, 4, 3)), _with_labels_ignored(rng, (2, 3), 4), opts, red))
        # (an ignored unbatched label would leave 0/0: tests/test_nn_functional.py has it)
        out.append(case(_r(rng, (4,)), np.asarray(rng.choice([0, 1, 3])), opts, "mean"))
        if probs and "ignore_index" not in opts:
            for red in REDUCTIONS:
                out.append(case(_r(rng, (5, 4)), _softmax_rows(rng, (5, 4), 1), opts, red))
    return out


def _short_opt(v: Any) -> str:
    return "yes" if v is True else repr(v)


def _bce_options(rng: np.random.Generator, logits: bool, as_inputs: bool) -> list[Sample]:
    """(input, target) (4, 3) with every reduction, a weight (4, 3) and (logits only) a
    pos_weight (3,): keywords, or inputs (differentiated) after input and target."""
    out = []
    for red in REDUCTIONS:
        x = 3 * _r(rng, (4, 3)) if logits else _r(rng, (4, 3))
        opts = {"weight": rng.uniform(0.2, 2.0, (4, 3))}
        if logits:
            opts["pos_weight"] = rng.uniform(0.2, 2.0, (3,))
        if as_inputs:
            out.append(Sample((x, _r(rng, (4, 3)), *opts.values()), {"reduction": red}))
        else:
            out.append(Sample((x, _r(rng, (4, 3))), {**opts, "reduction": red}))
    return out


def _binary_hinge_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (6,)), rng.choice(np.array([-1, 1]), 6)), {"reduction": red})
            for red in REDUCTIONS]  # fmt: skip


def _multi_hinge_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))), {"reduction": red})
            for red in REDUCTIONS]  # fmt: skip


def _linear_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), (5, 4), (5,)), ((4,), (2, 4), (2,)), ((2, 3, 4), (5, 4), (5,)),
             ((3, 4), (5, 4), None), ((1, 1), (1, 1), (1,))]  # fmt: skip
    return [Sample(tuple(_r(rng, s) for s in (x, w, b) if s is not None)) for x, w, b in specs]


# ---- domains -------------------------------------------------------------------------------


def _squash(lo: float, hi: float, args: tuple) -> Callable[[tuple], tuple]:
    """Floating arguments at ``args`` mapped into (lo, hi) by a sigmoid (probabilities)."""

    def domain(xs: tuple) -> tuple:
        return tuple(lo + (hi - lo) / (1 + np.exp(-a)) if i in args else a
                     for i, a in enumerate(xs))  # fmt: skip

    return domain


def _diff_away(*points: float, margin: float = 0.1) -> Callable[[tuple], tuple]:
    """``target`` (argument 1) moved so that ``input - target`` keeps ``margin`` from each
    of ``+-points`` (the kinks of l1 and Huber losses)."""
    push = away_from(*sorted({p for q in points for p in (q, -q)}), margin=margin)

    def domain(xs: tuple) -> tuple:
        x, t = xs[0], xs[1]
        (d,) = push((x - t,))
        return (x, x - d, *xs[2:])

    return domain


def _margins_apart(xs: tuple) -> tuple:
    """Multi-class hinge: every margin ``1 - x[y] + x[i]`` (i != y) at least 0.1 from 0."""
    x, y = xs[0].copy(), xs[1]
    rows, labels = np.atleast_2d(x), np.atleast_1d(y)  # (views: an unbatched (C,) too)
    for n in range(rows.shape[0]):
        for i in range(rows.shape[1]):
            v = 1 - rows[n, labels[n]] + rows[n, i]
            if i != labels[n] and abs(v) < 0.1:
                rows[n, i] += 0.2
    return (x, y)


def _multi_margin_inputs(rng: np.random.Generator) -> list[Sample]:
    """(N, C) scores and labels, unbatched (C,) with a 0-d label, p 1 and 2, weights."""
    w = rng.uniform(0.2, 2.0, 5)
    return [Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,)))),
            Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))),
                   {"p": 2, "weight": w, "reduction": "sum"}, note="p=2, weight, sum"),
            Sample((_r(rng, (5,)), np.array(3)), {"reduction": "none"}, note="unbatched"),
            Sample((_r(rng, (3, 5)), rng.integers(0, 5, (3,))),
                   {"weight": w, "reduction": "none"}, note="weight, none")]  # fmt: skip


def _np_multi_margin(x: np.ndarray, y: np.ndarray, p: int = 1, margin: float = 1.0,
                     weight: Any = None, reduction: str = "mean") -> np.ndarray:  # fmt: skip
    """Sample by sample, class by class, as PyTorch's CPU kernel loops."""
    xs, ys = np.atleast_2d(x), np.atleast_1d(y)
    out = np.zeros(len(xs))
    for n, (row, label) in enumerate(zip(xs, ys)):
        for i, v in enumerate(row):
            z = margin - row[label] + v
            if i != label and z > 0:
                out[n] += z**p * (1.0 if weight is None else weight[label])
    out /= xs.shape[1]
    out = out.reshape(()) if x.ndim == 1 else out
    return {"mean": out.mean(), "sum": out.sum(), "none": out}[reduction]


# ---- random functions, seeded inside the call ------------------------------------------------


def _seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run right after ``cr.manual_seed(SEED)``, the RNG state restored afterwards."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        state = backend.get_rng_state()
        backend.manual_seed(SEED)
        try:
            return fn(*args, **kwargs)
        finally:
            backend.set_rng_state(state)

    return call


def _dropout_scale(shape: tuple, p: float, dtype: Any) -> np.ndarray:
    """The mask times 1/(1-p) that ``F.dropout`` draws after ``manual_seed(SEED)``."""
    keep = np.random.default_rng(SEED).random(shape, dtype=np.float32) >= p
    return np.asarray(keep * (1.0 / (1.0 - p)), dtype=dtype)


def _noise(x: np.ndarray) -> np.ndarray:
    """The noise ``F.noisy_relu`` draws for ``x`` after ``manual_seed(SEED)``."""
    std = np.sqrt(1 / (1 + np.exp(-x)))
    return np.asarray(np.random.default_rng(SEED).standard_normal(x.shape) * std, dtype=x.dtype)


@_seeded
def _dropout_train(x: Any, p: float) -> Any:
    return F.dropout(x, p=p, training=True)


def _t_dropout_train(x: Any, p: float) -> Any:
    return x * _torch().from_numpy(_dropout_scale(tuple(x.shape), p, np.float64))


def _np_dropout_train(x: np.ndarray, p: float) -> np.ndarray:
    return x * _dropout_scale(x.shape, p, x.dtype)


def _channel_mask_shape(shape: tuple, spatial: int) -> tuple:
    return tuple(shape[: len(shape) - spatial]) + (1,) * spatial


@_seeded
def _channel_dropout_train(x: Any, p: float, spatial: int) -> Any:
    return (F.dropout1d if spatial == 1 else F.dropout2d)(x, p=p, training=True)


def _t_channel_dropout_train(x: Any, p: float, spatial: int) -> Any:
    mask = _dropout_scale(_channel_mask_shape(tuple(x.shape), spatial), p, np.float64)
    return x * _torch().from_numpy(mask)


def _np_channel_dropout_train(x: np.ndarray, p: float, spatial: int) -> np.ndarray:
    return x * _dropout_scale(_channel_mask_shape(x.shape, spatial), p, x.dtype)


@_seeded
def _noisy_relu_train(x: Any) -> Any:
    return F.noisy_relu(x, training=True)


def _t_noisy_relu_train(x: Any) -> Any:
    return _torch().relu(x + _torch().from_numpy(_noise(x.detach().numpy())))


def _np_noisy_relu_train(x: np.ndarray) -> np.ndarray:
    return np.maximum(x + _noise(x), 0)


# ---- pooling, channels, distances and multi-label margins by composition ---------------------


def _np_channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    n, c, *rest = x.shape
    return x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2).reshape(x.shape)


def _np_local_response_norm(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75,
                            k: float = 1.0) -> np.ndarray:  # fmt: skip
    """Channel by channel, the window clipped to the channels that exist."""
    out = np.empty_like(x)
    c = x.shape[1]
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c, ch + (size - 1) // 2 + 1)
        s = (x[:, lo:hi] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return out


def _windows(n: int, k: int, s: int, ceil_mode: bool) -> list[tuple[int, int]]:
    """Pooling windows (start, stop) along one axis without padding, stops clipped to n; with
    ``ceil_mode`` a last partial window that starts inside the input."""
    count = (n - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (count - 1) * s >= n:
        count -= 1
    return [(i * s, min(i * s + k, n)) for i in range(count)]


def _np_lp_pool(x: np.ndarray, norm_type: float, kernel: tuple, stride: tuple,
                ceil_mode: bool) -> np.ndarray:  # fmt: skip
    """Window by window over the trailing ``len(kernel)`` axes: the mean of ``x^p`` over the
    window's elements inside the input, times the full window size, to the power 1/p."""
    nd = len(kernel)
    axes = [_windows(n, k, s, ceil_mode) for n, k, s in zip(x.shape[-nd:], kernel, stride)]
    out = np.empty(x.shape[:-nd] + tuple(len(a) for a in axes))
    for pos in np.ndindex(*out.shape[-nd:]):
        win = x[(...,) + tuple(slice(*axes[d][i]) for d, i in enumerate(pos))]
        mean = (win**norm_type).reshape(win.shape[:-nd] + (-1,)).mean(axis=-1)
        out[(...,) + pos] = (mean * np.prod(kernel)) ** (1.0 / norm_type)
    return out


def _lp_pool_inputs(nd: int) -> Callable:
    def gen(rng: np.random.Generator) -> list[Sample]:
        shape = (2, 3, 5) if nd == 1 else (2, 2, 5, 4)
        pos = np.abs(_r(rng, shape)) + 0.1  # positive: odd and fractional powers are real
        k = 2 if nd == 1 else (2, 3)
        return [Sample((pos,), {"norm_type": 2, "kernel_size": k}),
                Sample((pos,), {"norm_type": 3, "kernel_size": k, "stride": 1}),
                Sample((pos,), {"norm_type": 1.5, "kernel_size": 2, "ceil_mode": True},
                       note="ceil_mode"),
                Sample((_r(rng, shape[1:]),), {"norm_type": 2, "kernel_size": 2},
                       note="unbatched")]  # fmt: skip

    return gen


def _np_lp_pool1d(x: np.ndarray, norm_type: float, kernel_size: int, stride: Any = None,
                  ceil_mode: bool = False) -> np.ndarray:  # fmt: skip
    return _np_lp_pool(x, norm_type, (kernel_size,), (stride or kernel_size,), ceil_mode)


def _np_lp_pool2d(x: np.ndarray, norm_type: float, kernel_size: Any, stride: Any = None,
                  ceil_mode: bool = False) -> np.ndarray:  # fmt: skip
    k = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * 2
    st = k if stride is None else stride if isinstance(stride, tuple) else (stride,) * 2
    return _np_lp_pool(x, norm_type, k, st, ceil_mode)


def _np_lp_pool3d(x: np.ndarray, norm_type: float, kernel_size: Any, stride: Any = None,
                  ceil_mode: bool = False) -> np.ndarray:  # fmt: skip
    k = _np_triple(kernel_size)
    return _np_lp_pool(x, norm_type, k, k if stride is None else _np_triple(stride), ceil_mode)


def _lp_pool3d_inputs(rng: np.random.Generator) -> list[Sample]:
    pos = np.abs(_r(rng, (1, 2, 4, 3, 5))) + 0.1  # positive: odd and fractional powers are real
    return [Sample((pos,), {"norm_type": 2, "kernel_size": (2, 3, 2)}),
            Sample((pos,), {"norm_type": 3, "kernel_size": 2, "stride": (1, 2, 2)}),
            Sample((pos,), {"norm_type": 1.5, "kernel_size": 2, "ceil_mode": True},
                   note="ceil_mode"),
            Sample((_r(rng, (2, 3, 2, 4)),), {"norm_type": 2, "kernel_size": (1, 2, 2)},
                   note="unbatched")]  # fmt: skip


def _pooled_and_indices(rng: np.random.Generator, nd: int, shape: tuple,
                        kernel: Any) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Random values of a max pool's output shape and the indices of that pool (windows
    apart, so no index repeats) over a random input of ``shape``: max-unpool arguments."""
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    _, idx = pool(_r(rng, shape), kernel, return_indices=True)
    return _r(rng, idx.shape), idx.numpy()


_UNPOOL_CASES = {  # per dimension: (input shape of the pool, kernel, extra keywords)
    1: (((2, 3, 6), 2, {}), ((2, 3, 7), 3, {"output_size": (7,)}), ((3, 6), 2, {})),
    2: (((2, 2, 4, 6), 2, {}), ((1, 2, 5, 7), (2, 3), {"output_size": (5, 7)}),
        ((2, 4, 4), 2, {})),
    3: (((1, 2, 4, 4, 6), 2, {}), ((1, 1, 3, 5, 4), (1, 2, 3), {"output_size": (3, 5, 4)}),
        ((2, 2, 4, 2), 2, {})),
}  # fmt: skip


def _unpool_inputs(nd: int) -> Callable:
    """Values of a pooled shape and the indices of a max pool (windows apart, so no index
    repeats) of a random input; the output size given when the pool dropped a remainder."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = []
        for shape, k, extra in _UNPOOL_CASES[nd]:
            out.append(Sample(_pooled_and_indices(rng, nd, shape, k), {"kernel_size": k, **extra}))
        return out

    return gen


def _np_max_unpool(x: np.ndarray, indices: np.ndarray, kernel_size: Any, stride: Any = None,
                   padding: Any = 0, output_size: Any = None,
                   nd: int = 2) -> np.ndarray:  # fmt: skip
    k = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * nd
    st = k if stride is None else stride if isinstance(stride, tuple) else (stride,) * nd
    pad = padding if isinstance(padding, tuple) else (padding,) * nd
    size = tuple(output_size) if output_size is not None else tuple(
        (n - 1) * s - 2 * q + kk for n, s, q, kk in zip(x.shape[-nd:], st, pad, k))  # fmt: skip
    lead = x.shape[:-nd]
    out = np.zeros((int(np.prod(lead)), int(np.prod(size))))
    for row, (vals, idx) in enumerate(zip(x.reshape(len(out), -1), indices.reshape(len(out), -1))):
        out[row, idx] = vals
    return out.reshape(lead + size)


def _np_pdist(x: np.ndarray, p: float = 2.0) -> np.ndarray:
    n = len(x)
    d = [x[i] - x[j] for i in range(n) for j in range(i + 1, n)]
    if p == 0:
        return np.array([np.count_nonzero(v) for v in d], dtype=x.dtype)
    return np.array([np.linalg.norm(v, ord=p) for v in d]).reshape(-1)


def _pdist_inputs(rng: np.random.Generator) -> list[Sample]:
    x = _r(rng, (5, 3))
    return [Sample((x,)), Sample((x,), {"p": 1.0}), Sample((x,), {"p": 1.5}),
            Sample((x,), {"p": math.inf}), Sample((_r(rng, (4, 2)),), {"p": 3.0}),
            Sample((_r(rng, (1, 3)),), note="one row: no pairs")]  # fmt: skip


def _multilabel_targets(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Rows listing a few classes (one listed twice somewhere) then -1 and leftovers."""
    t = rng.integers(0, c, (n, c))
    for row in t:
        stop = int(rng.integers(1, c))
        row[stop] = -1
    t[0, :3] = [1, 1, -1]  # a class listed twice counts twice
    return t


def _multilabel_margin_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (4, 5)), _multilabel_targets(rng, 4, 5))),
            Sample((_r(rng, (3, 4)), _multilabel_targets(rng, 3, 4)), {"reduction": "sum"},
                   note="sum"),
            Sample((_r(rng, (3, 4)), _multilabel_targets(rng, 3, 4)), {"reduction": "none"},
                   note="none"),
            Sample((_r(rng, (5,)), np.array([2, 0, -1, 4, 4])), {"reduction": "none"},
                   note="unbatched")]  # fmt: skip


def _listed(target: np.ndarray) -> list[list[int]]:
    lists = []
    for row in np.atleast_2d(target):
        stop = next((k for k, v in enumerate(row) if v < 0), len(row))
        lists.append([int(v) for v in row[:stop]])
    return lists


def _np_multilabel_margin(x: np.ndarray, target: np.ndarray,
                          reduction: str = "mean") -> np.ndarray:  # fmt: skip
    """Sample by sample, listed entry by entry, as PyTorch's CPU kernel loops."""
    rows = np.atleast_2d(x)
    out = np.zeros(len(rows))
    for n, (row, listed) in enumerate(zip(rows, _listed(target))):
        for j in listed:
            for i in range(len(row)):
                if i not in listed:
                    out[n] += max(0.0, 1 - (row[j] - row[i]))
    out /= rows.shape[1]
    return _np_reduce(out.reshape(()) if x.ndim == 1 else out, reduction)


def _multilabel_margins_apart(xs: tuple) -> tuple:
    """Every hinge argument ``1 - x[j] + x[i]`` at least 0.1 from its kink at 0."""
    x, t = xs[0].copy(), xs[1]
    rows = np.atleast_2d(x)  # a view: an unbatched (C,) too
    for row, listed in zip(rows, _listed(t)):
        for j in listed:
            for i in range(len(row)):
                if i not in listed and abs(1 - row[j] + row[i]) < 0.1:
                    row[i] += 0.2
    return (x, t)


# ---- random functions by composition, seeded inside the call -----------------------------------


@_seeded
def _rrelu_train(x: Any, lower: float, upper: float) -> Any:
    return F.rrelu(x, lower, upper, training=True)


def _rrelu_slope(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.random.default_rng(SEED).uniform(lower, upper, x.shape).astype(x.dtype)


def _np_rrelu_train(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.where(x >= 0, x, x * _rrelu_slope(x, lower, upper))


def _t_rrelu_train(x: Any, lower: float, upper: float) -> Any:
    slope = _torch().from_numpy(_rrelu_slope(x.detach().numpy(), lower, upper))
    return _torch().where(x >= 0, x, x * slope)


@_seeded
def _rrelu_train_(x: Any, lower: float, upper: float) -> Any:
    return F.rrelu_(F._tensor(x).clone(), lower, upper, training=True)


def _on_a_copy(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An in-place function ``fn`` applied to a copy (``clone``) of its input: a non-leaf
    when the input requires grad, so the write is recorded and differentiated."""

    @functools.wraps(fn)
    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(F._tensor(x).clone(), *args, **kwargs)

    return call


def _t_on_a_copy(name: str) -> Callable[..., Any]:
    """``torch.nn.functional.<name>`` (in place) applied to ``x.clone()``."""

    def fn(x: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(_torch().nn.functional, name)(x.clone(), *args, **kwargs)

    fn.__name__ = name
    return fn


def _alpha_affine(shape: tuple, p: float, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's alpha-dropout affine map ``x * a_mask + b`` for the mask ``F.alpha_dropout``
    draws after ``manual_seed(SEED)``."""
    keep = np.random.default_rng(SEED).random(shape, dtype=np.float32) >= p
    alpha = 1.7580993408473766
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    b = (keep - 1.0) * alpha * a + alpha * a * p
    return np.asarray(keep * a, dtype=dtype), np.asarray(b, dtype=dtype)


def _alpha_mask_shape(shape: tuple, feature: bool) -> tuple:
    return tuple(shape[:2]) + (1,) * (len(shape) - 2) if feature else tuple(shape)


@_seeded
def _alpha_dropout_train(x: Any, p: float, feature: bool) -> Any:
    return (F.feature_alpha_dropout if feature else F.alpha_dropout)(x, p, training=True)


def _np_alpha_dropout_train(x: np.ndarray, p: float, feature: bool) -> np.ndarray:
    scale, shift = _alpha_affine(_alpha_mask_shape(x.shape, feature), p, x.dtype)
    return x * scale + shift


def _t_alpha_dropout_train(x: Any, p: float, feature: bool) -> Any:
    scale, shift = _alpha_affine(_alpha_mask_shape(tuple(x.shape), feature), p, np.float64)
    return x * _torch().from_numpy(scale) + _torch().from_numpy(shift)


def _gumbels(shape: tuple, dtype: Any) -> np.ndarray:
    return -np.log(np.random.default_rng(SEED).standard_exponential(shape)).astype(dtype)


@_seeded
def _gumbel_softmax(x: Any, tau: float = 1.0, hard: bool = False, dim: int = -1) -> Any:
    return F.gumbel_softmax(x, tau, hard, dim)


def _np_gumbel_softmax(x: np.ndarray, tau: float = 1.0, hard: bool = False,
                       dim: int = -1) -> np.ndarray:  # fmt: skip
    y = np.exp(_np_log_softmax((x + _gumbels(x.shape, x.dtype)) / tau, dim))
    if not hard:
        return y
    one_hot = np.zeros_like(y)
    np.put_along_axis(one_hot, np.expand_dims(y.argmax(axis=dim), dim), 1.0, axis=dim)
    return one_hot


def _t_gumbel_softmax(x: Any, tau: float = 1.0, hard: bool = False, dim: int = -1) -> Any:
    g = _torch().from_numpy(_gumbels(tuple(x.shape), np.float64))
    y = _torch().softmax((x + g) / tau, dim)
    if not hard:
        return y
    one_hot = _torch().zeros_like(y).scatter_(dim, y.argmax(dim, keepdim=True), 1.0)
    return one_hot - y.detach() + y


# ---- torch equivalents needing more than a name ------------------------------------------


def _t_hinge(x: Any, t: Any, reduction: str = "mean") -> Any:
    if x.ndim == 1:
        return _t_reduce(_torch().clamp(1 - t * x, min=0), reduction)
    return _torch().nn.functional.multi_margin_loss(x, t, reduction=reduction)


def _t_soft_margin(x: Any, t: Any, reduction: str = "mean") -> Any:
    """torch's ``soft_margin_loss`` refuses a gradient for ``target``: its definition in
    torch ops (tests/test_nn_functional.py checks the values against the function)."""
    return _t_reduce(_torch().nn.functional.softplus(-t * x), reduction)


# ---- NumPy references ----------------------------------------------------------------------


def _np_kl_div(x: np.ndarray, t: np.ndarray, reduction: str = "mean",
               log_target: bool = False) -> np.ndarray:  # fmt: skip
    v = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
    return v.sum() / x.shape[0] if reduction == "batchmean" else _np_reduce(v, reduction)


def _np_margin_ranking(a: np.ndarray, b: np.ndarray, y: np.ndarray, reduction: str = "mean",
                       margin: float = 0.0) -> np.ndarray:  # fmt: skip
    return _np_reduce(np.maximum(0.0, -y * (a - b) + margin), reduction)


def _np_poisson_nll(x: np.ndarray, t: np.ndarray, log_input: bool = True, full: bool = False,
                    reduction: str = "mean") -> np.ndarray:  # fmt: skip
    v = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
    if full:
        safe = np.maximum(t, 1.0)
        v = v + np.where(t > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0)
    return _np_reduce(v, reduction)


def _np_gaussian_nll(x: np.ndarray, t: np.ndarray, var: np.ndarray, full: bool = False,
                     reduction: str = "mean") -> np.ndarray:  # fmt: skip
    var = var if var.shape == x.shape else var.reshape(x.shape[:-1] + (-1,))
    v = 0.5 * (np.log(var) + (x - t) ** 2 / var) + (0.5 * np.log(2 * np.pi) if full else 0)
    return _np_reduce(v, reduction)


def _np_reduce(v: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(v.mean())
    return np.asarray(v.sum()) if reduction == "sum" else v


def _np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _np_nll(logp: np.ndarray, labels: np.ndarray, axis: int) -> np.ndarray:
    return -np.take_along_axis(logp, np.expand_dims(labels, axis), axis=axis).squeeze(axis)


def _np_cross_entropy(x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    axis = 1 if x.ndim >= 2 else 0
    logp = _np_log_softmax(x, axis)
    loss = -(t * logp).sum(axis=axis) if t.dtype.kind == "f" else _np_nll(logp, t, axis)
    return _np_reduce(loss, reduction)


def _np_nll_loss(x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    return _np_reduce(_np_nll(x, t, 1 if x.ndim >= 2 else 0), reduction)


def _np_class_options(
    x: np.ndarray,
    t: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    log_probs: bool = False,
) -> np.ndarray:
    """Cross-entropy (or, with ``log_probs``, NLL) with PyTorch's options: each element's
    target distribution is ``(1 - e) * onehot + e / C``, each class weighs ``weight[c]``;
    with labels, ignored ones add nothing and "mean" divides by the summed weights of the
    labels that count."""
    axis = 1 if x.ndim >= 2 else 0
    c, e = x.shape[axis], label_smoothing
    logp = x if log_probs else _np_log_softmax(x, axis)
    w = np.ones(c) if weight is None else weight
    wlogp = logp * w.reshape((-1,) + (1,) * (x.ndim - axis - 1))
    if t.dtype.kind == "f":
        q = t * (1 - e) + e / c
        return _np_reduce(-(q * wlogp).sum(axis=axis), reduction)
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    wy = w[safe] * keep
    loss = ((1 - e) * _np_nll(wlogp, safe, axis) - e / c * wlogp.sum(axis=axis)) * keep
    return np.asarray(loss.sum() / wy.sum()) if reduction == "mean" else _np_reduce(loss, reduction)


def _np_bce_weighted(
    p: np.ndarray, t: np.ndarray, weight: np.ndarray, *, reduction: str = "mean"
) -> np.ndarray:
    return _np_reduce(-weight * (t * np.log(p) + (1 - t) * np.log(1 - p)), reduction)


def _np_bce_logits_weighted(
    x: np.ndarray,
    t: np.ndarray,
    weight: np.ndarray,
    pos_weight: np.ndarray,
    *,
    reduction: str = "mean",
) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    loss = -weight * (pos_weight * t * np.log(s) + (1 - t) * np.log(1 - s))
    return _np_reduce(loss, reduction)


def _np_bce(p: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    return _np_reduce(-(t * np.log(p) + (1 - t) * np.log(1 - p)), reduction)


def _np_bce_logits(x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    return _np_bce(s, t, reduction)


def _np_huber(x: np.ndarray, t: np.ndarray, reduction: str = "mean", delta: float = 1.0) -> Any:
    a = np.abs(x - t)
    return _np_reduce(np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta)), reduction)


def _np_hinge(x: np.ndarray, t: np.ndarray, reduction: str = "mean") -> np.ndarray:
    if x.ndim == 1:
        return _np_reduce(np.maximum(0, 1 - t * x), reduction)
    picked = np.take_along_axis(x, t[:, None], axis=1)
    m = np.maximum(0, 1 - picked + x)
    np.put_along_axis(m, t[:, None], 0.0, axis=1)
    return _np_reduce(m.sum(axis=1) / x.shape[1], reduction)


_np_erf = np.vectorize(math.erf, otypes=[np.float64])


def _np_gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _np_erf(x / math.sqrt(2)))


def _np_softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    return np.where(beta * x > threshold, x, np.logaddexp(0, beta * x) / beta)


def _np_elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _np_softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    return np.exp(_np_log_softmax(x, dim))


def _np_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    y = x @ w.T
    return y if b is None else y + b


def _np_prelu(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    shape = (-1,) + (1,) * (x.ndim - 2) if w.size > 1 else (1,)
    return np.where(x > 0, x, w.reshape(shape) * x)


def _prelu_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (3, 4)), _r(rng, (1,)))), Sample((_r(rng, (2, 3, 4)), _r(rng, (3,)))),
            Sample((_r(rng, (5,)), _r(rng, (1,))))]  # fmt: skip


def _np_glu(x: np.ndarray, dim: int = -1) -> np.ndarray:
    a, b = np.split(x, 2, axis=dim)
    return a / (1 + np.exp(-b))


def _signs(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _kl_inputs(rng: np.random.Generator) -> list[Sample]:
    out = []
    for red in (*REDUCTIONS, "batchmean"):
        p = np.abs(_r(rng, (3, 4))) + 0.1
        out.append(Sample((np.log(_softmax_rows(rng, (3, 4), 1)), p), {"reduction": red}))
    kw = {"reduction": "batchmean", "log_target": True}
    out.append(Sample((_r(rng, (2, 3)), _r(rng, (2, 3))), kw, note="log_target"))
    return out


def _ranking_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, s), _r(rng, s), _signs(rng, s)), {"reduction": red, **kw})
            for s, kw in (((3, 4), {}), ((5,), {"margin": 0.3}))
            for red in REDUCTIONS]  # fmt: skip


def _ranking_apart(xs: tuple) -> tuple:
    """``input1 - input2`` kept 0.1 from the kinks at ``+-margin`` (0 and 0.3 here)."""
    (d,) = away_from(-0.3, 0.0, 0.3)((xs[0] - xs[1],))
    return (xs[1] + d, *xs[1:])


def _soft_margin_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, s) * 3, _signs(rng, s)), {"reduction": red})
            for s in ((3, 4), ()) for red in REDUCTIONS]  # fmt: skip


def _poisson_inputs(rng: np.random.Generator) -> list[Sample]:
    counts = rng.integers(0, 5, (3, 4)).astype(float)
    # targets for ``full`` stay off 1, where PyTorch's Stirling term switches on
    off_one = rng.choice([0.3, 0.6, 1.5, 2.5, 4.0], (3, 4))
    out = [Sample((_r(rng, (3, 4)), counts), {"reduction": red}) for red in REDUCTIONS]
    out.append(Sample((np.abs(_r(rng, (3, 4))) + 0.2, counts),
                      {"log_input": False}, note="rates"))  # fmt: skip
    out.append(Sample((_r(rng, (3, 4)), off_one), {"full": True, "reduction": "none"},
                      note="full"))  # fmt: skip
    return out


def _gaussian_inputs(rng: np.random.Generator) -> list[Sample]:
    def var(shape: tuple) -> np.ndarray:
        return np.abs(_r(rng, shape)) + 0.3

    x, t = _r(rng, (3, 4)), _r(rng, (3, 4))
    out = [Sample((x, t, var((3, 4))), {"reduction": red}) for red in REDUCTIONS]
    out.append(Sample((x, t, var((3, 1))), {"full": True}, note="one variance per row"))
    out.append(Sample((x, t, var((3,))), {"reduction": "none"}, note="var (N,)"))
    return out


def _pad_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((2, 3), (1, 2), {}), ((2, 3, 4), (2, 0, 1, 1), {"value": 1.5}),
             ((1, 2, 3, 4), (-1, 2, 0, -1), {}), ((2, 4), (1, 3), {"mode": "reflect"}),
             ((1, 2, 3, 4), (2, 1, 0, 2), {"mode": "replicate"}),
             ((2, 3, 4), (4, 1), {"mode": "circular"})]  # fmt: skip
    return [Sample((_r(rng, shape),), {"pad": widths, **kw}) for shape, widths, kw in specs]


def _np_torch_pad(x: np.ndarray, pad: tuple, mode: str = "constant",
                  value: float | None = None) -> np.ndarray:  # fmt: skip
    """torch's (before, after)-from-the-last-axis widths with NumPy's pad; negative widths
    crop first."""
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
    widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    np_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
    if mode == "constant":
        return np.pad(x, widths, constant_values=value or 0.0)
    return np.pad(x, widths, mode=np_mode)


def _similarity_inputs(rng: np.random.Generator) -> list[Sample]:
    # (a zero vector, where the function has no derivative, is tests/nn/test_layers.py's)
    return [Sample((_r(rng, (3, 4)), _r(rng, (3, 4)))),
            Sample((_r(rng, (2, 3, 4)), _r(rng, (1, 3, 4))), {"dim": -1}, note="broadcast"),
            Sample((_r(rng, (2, 5, 2)), _r(rng, (2, 5, 2))), {"dim": 1})]  # fmt: skip


def _distance_inputs(rng: np.random.Generator) -> list[Sample]:
    kws = ({}, {"p": 1.0}, {"p": 3.0, "keepdim": True}, {"p": math.inf})
    return [Sample((_r(rng, (4, 3)), _r(rng, (4, 3))), kw) for kw in kws]


def _np_cosine_similarity(a: np.ndarray, b: np.ndarray, dim: int = 1,
                          eps: float = 1e-8) -> np.ndarray:  # fmt: skip
    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=dim, keepdims=True), eps)

    return np.sum(unit(a) * unit(b), axis=dim)


def _np_pairwise_distance(a: np.ndarray, b: np.ndarray, p: float = 2.0, eps: float = 1e-6,
                          keepdim: bool = False) -> np.ndarray:  # fmt: skip
    return np.linalg.norm(a - b + eps, ord=p, axis=-1, keepdims=keepdim)


def _torch_sdpa_inputs(rng: np.random.Generator) -> list[Sample]:
    """PyTorch's conventions: bool masks True where attention is allowed."""
    q, k, v = _r(rng, (2, 2, 3, 4)), _r(rng, (2, 2, 5, 4)), _r(rng, (2, 2, 5, 3))
    allowed = rng.random((3, 5)) < 0.7
    allowed[:, 0] = True  # every query keeps a key
    return [
        Sample((q, k, v)),
        Sample((q, k, v), {"is_causal": True}, note="causal, L != S"),
        Sample((q, k, v), {"attn_mask": allowed}, note="bool mask (True: attend)"),
        Sample((q, k, v), {"attn_mask": _r(rng, (2, 1, 3, 5)), "scale": 0.3}, note="float mask"),
        Sample((_r(rng, (1, 4, 3, 4)), _r(rng, (1, 2, 5, 4)), _r(rng, (1, 2, 5, 3))),
               {"enable_gqa": True}, note="grouped query heads"),
    ]  # fmt: skip


def _t_sdpa_torch(q: Any, k: Any, v: Any, attn_mask: Any = None, **kw: Any) -> Any:
    return _torch().nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                                               **kw)  # fmt: skip


def _bilinear_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (4, 3)), _r(rng, (4, 2)), _r(rng, (5, 3, 2)), _r(rng, (5,)))),
            Sample((_r(rng, (2, 2, 3)), _r(rng, (2, 2, 4)), _r(rng, (2, 3, 4))))]  # fmt: skip


def _np_bilinear(a: np.ndarray, b: np.ndarray, w: np.ndarray,
                 bias: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    y = np.einsum("...i,kij,...j->...k", a, w, b)
    return y if bias is None else y + bias


def _cosine_embedding_inputs(rng: np.random.Generator) -> list[Sample]:
    y = np.array([1.0, -1.0, -1.0, 1.0, -1.0])
    out = [Sample((_r(rng, (5, 3)), _r(rng, (5, 3)), y), {"reduction": red, "margin": 0.1})
           for red in REDUCTIONS]  # fmt: skip
    return out + [Sample((_r(rng, (4,)), _r(rng, (4,)), np.array(-1.0)), note="unbatched")]


def _cosine_apart(xs: tuple) -> tuple:
    """Dissimilar pairs (label -1) keep their cosine 0.1 away from the margin (0 or 0.1)."""
    a, b, y = xs[0].copy(), xs[1], xs[2]
    for _ in range(20):  # nudge a along b until every such cosine is clear of the kinks
        cos = np.sum(a * b, -1) / np.sqrt(np.sum(a * a, -1) * np.sum(b * b, -1))
        near = (y == -1) & ((np.abs(cos) < 0.12) | (np.abs(cos - 0.1) < 0.12))
        if not near.any():
            break
        a[near] = a[near] + 0.3 * b[near]
    return (a, b, y)


def _np_cosine_embedding(a: np.ndarray, b: np.ndarray, y: np.ndarray, reduction: str = "mean",
                         margin: float = 0.0) -> np.ndarray:  # fmt: skip
    cos = np.sum(a * b, -1) / np.sqrt((np.sum(a * a, -1) + 1e-12) * (np.sum(b * b, -1) + 1e-12))
    return _np_reduce(np.where(y == 1, 1 - cos, np.maximum(0, cos - margin)), reduction)


def _hinge_embedding_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((np.abs(_r(rng, (3, 4))) * 2, np.where(rng.random((3, 4)) < 0.5, -1.0, 1.0)),
                   {"reduction": red, "margin": 0.5}) for red in REDUCTIONS]  # fmt: skip


def _np_hinge_embedding(x: np.ndarray, y: np.ndarray, reduction: str = "mean",
                        margin: float = 1.0) -> np.ndarray:  # fmt: skip
    return _np_reduce(np.where(y == 1, x, np.maximum(0, margin - x)), reduction)


def _triplet_inputs(rng: np.random.Generator) -> list[Sample]:
    out = [Sample((_r(rng, (4, 3)), _r(rng, (4, 3)), _r(rng, (4, 3))), {"reduction": red})
           for red in REDUCTIONS]  # fmt: skip
    out.append(Sample((_r(rng, (4, 3)), _r(rng, (4, 3)), _r(rng, (4, 3))),
                      {"margin": 0.5, "p": 1.0, "swap": True}, note="swap, p=1"))  # fmt: skip
    return out


def _triplet_apart_for(*distances: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      margins: tuple = (1.0, 0.5)) -> Callable[[tuple], tuple]:  # fmt: skip
    """A domain that moves the negatives until, for each distance, every hinge
    ``d(a, p) - d(a, n) + margin`` (and the swap's ``d(a, p) - d(p, n) + margin``) is clear
    of 0 and the swap's two negative distances are clear of each other."""

    def domain(xs: tuple) -> tuple:
        a, p, n = xs[0], xs[1], xs[2].copy()
        for _ in range(100):
            near = np.zeros(a.shape[:-1], dtype=bool)
            for dist in distances:
                d_ap, d_an, d_pn = dist(a, p), dist(a, n), dist(p, n)
                near |= np.abs(d_an - d_pn) < 0.1
                for margin in margins:
                    near |= np.abs(d_ap - d_an + margin) < 0.1
                    near |= np.abs(d_ap - d_pn + margin) < 0.1
            if not near.any():
                break
            n[near] = n[near] + 0.37
        return (a, p, n)

    return domain


def _pnorm_distance(order: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``F.pairwise_distance``'s distance: the p-norm of ``u - v + 1e-6``, last axis."""
    return lambda u, v: np.linalg.norm(u - v + 1e-6, ord=order, axis=-1)


# the triplet samples' norms p = 1 and 2 (their margins 1 and 0.5 are the default)
_triplet_apart = _triplet_apart_for(_pnorm_distance(1), _pnorm_distance(2))


def _np_triplet(a: np.ndarray, pos: np.ndarray, neg: np.ndarray, reduction: str = "mean",
                margin: float = 1.0, p: float = 2.0, swap: bool = False) -> np.ndarray:  # fmt: skip
    d_ap = np.linalg.norm(a - pos + 1e-6, ord=p, axis=-1)
    d_an = np.linalg.norm(a - neg + 1e-6, ord=p, axis=-1)
    if swap:
        d_an = np.minimum(d_an, np.linalg.norm(pos - neg + 1e-6, ord=p, axis=-1))
    return _np_reduce(np.maximum(d_ap - d_an + margin, 0), reduction)


def _multilabel_inputs(rng: np.random.Generator) -> list[Sample]:
    t = (rng.random((4, 3)) < 0.5).astype(float)
    out = [Sample((_r(rng, (4, 3)), t), {"reduction": red}) for red in REDUCTIONS]
    out.append(Sample((_r(rng, (4, 3)), t, rng.random(3) + 0.5), note="weight"))
    return out


def _np_multilabel(x: np.ndarray, t: np.ndarray, weight: Any = None,
                   reduction: str = "mean") -> np.ndarray:  # fmt: skip
    loss = t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x)
    loss = loss if weight is None else loss * weight
    return _np_reduce(loss.mean(axis=-1), reduction)


# ---- embedding bags and triplet losses with a distance function --------------------------------


def _embedding_bag(input: Any, weight: Any, offsets: Any = None,  # noqa: A002
                   per_sample_weights: Any = None, **kw: Any) -> Any:  # fmt: skip
    """``F.embedding_bag`` with the per-sample weights positional (so they are an input)."""
    return F.embedding_bag(input, weight, offsets, per_sample_weights=per_sample_weights, **kw)


def _t_embedding_bag(input: Any, weight: Any, offsets: Any = None,  # noqa: A002
                     per_sample_weights: Any = None, **kw: Any) -> Any:  # fmt: skip
    return _torch().nn.functional.embedding_bag(
        input, weight, offsets, per_sample_weights=per_sample_weights, **kw)  # fmt: skip


def _np_embedding_bag(input: np.ndarray, weight: np.ndarray, offsets: Any = None,  # noqa: A002
                      per_sample_weights: Any = None, mode: str = "mean",
                      include_last_offset: bool = False,
                      padding_idx: Any = None) -> np.ndarray:  # fmt: skip
    """Bag by bag, entry by entry, as PyTorch's CPU kernel loops: padding entries skipped,
    "max" keeps the first maximum (a later entry replaces it only if strictly larger), an
    empty bag is zeros."""
    psw = per_sample_weights
    if input.ndim == 2:
        bounds = [(b * input.shape[1], (b + 1) * input.shape[1]) for b in range(input.shape[0])]
        flat, psw = input.ravel(), None if psw is None else psw.ravel()
    else:
        ends = [*offsets[1:], *([] if include_last_offset else [len(input)])]
        bounds = list(zip(offsets, ends))
        flat = input
    pad = None if padding_idx is None else padding_idx % weight.shape[0]
    out = np.zeros((len(bounds), weight.shape[1]), dtype=weight.dtype)
    for b, (lo, hi) in enumerate(bounds):
        count = 0
        for j in range(lo, hi):
            if flat[j] == pad:
                continue
            row = weight[flat[j]] * (1.0 if psw is None else psw[j])
            if mode == "max":
                out[b] = row if count == 0 else np.where(row > out[b], row, out[b])
            else:
                out[b] += row
            count += 1
        if mode == "mean" and count:
            out[b] /= count
    return out


def _bag_inputs(rng: np.random.Generator) -> list[Sample]:
    """A table (6, 3); each mode with 2-D indices (repeated in a bag), 1-D indices with
    offsets and an empty bag, ``include_last_offset``, ``padding_idx`` (one bag all
    padding) and no indices at all; per-sample weights ("sum") with 2-D and 1-D indices."""
    out = []
    for mode in ("sum", "mean", "max"):
        kw = {"mode": mode}
        out += [
            Sample((np.array([[0, 2, 2], [5, 1, 0]]), _r(rng, (6, 3))), kw,
                   note=f"{mode}: (2, 3) indices, repeated"),
            Sample((np.array([1, 4, 4, 0, 3, 2, 5]), _r(rng, (6, 3)), np.array([0, 3, 3, 6])),
                   kw, note=f"{mode}: offsets, an empty bag"),
            Sample((np.array([1, 4, 0, 3, 2, 5]), _r(rng, (6, 3)), np.array([0, 2, 2, 6])),
                   {**kw, "include_last_offset": True}, note=f"{mode}: include_last_offset"),
            Sample((np.array([1, 3, 3, 0, 3, 2, 1]), _r(rng, (6, 3)), np.array([0, 2, 3, 5])),
                   {**kw, "padding_idx": 3}, note=f"{mode}: padding_idx, an all-padding bag"),
            Sample((np.array([[4, 1], [1, 1]]), _r(rng, (6, 3))), {**kw, "padding_idx": -5},
                   note=f"{mode}: (2, 2) indices, padding_idx=-5"),
            Sample((np.zeros(0, dtype=np.int64), _r(rng, (6, 3)), np.array([0, 0])), kw,
                   note=f"{mode}: no indices, two empty bags"),
        ]  # fmt: skip
    return out + [
        Sample((np.array([[0, 2, 2], [5, 1, 0]]), _r(rng, (6, 3)), None, _r(rng, (2, 3))),
               {"mode": "sum"}, note="sum: per_sample_weights (2, 3)"),
        Sample((np.array([1, 3, 3, 0, 2, 1]), _r(rng, (6, 3)), np.array([0, 3, 3]),
                _r(rng, (6,))), {"mode": "sum", "padding_idx": 3},
               note="sum: per_sample_weights, offsets, padding_idx"),
    ]  # fmt: skip


def _sq_distance(x: Any, y: Any) -> Any:
    """The squared Euclidean distance along the last axis, written so that chainrule
    Tensors, torch tensors and NumPy arrays all take it."""
    return ((x - y) ** 2).sum(-1)


_DISTANCES: dict[str | None, Any] = {None: None, "sqeuclidean": _sq_distance}


def _triplet_distance(a: Any, p: Any, n: Any, distance: str | None = None, **kw: Any) -> Any:
    """``F.triplet_margin_with_distance_loss`` with the distance named by a sample keyword."""
    return F.triplet_margin_with_distance_loss(a, p, n, distance_function=_DISTANCES[distance],
                                               **kw)  # fmt: skip


def _t_triplet_distance(a: Any, p: Any, n: Any, distance: str | None = None, **kw: Any) -> Any:
    return _torch().nn.functional.triplet_margin_with_distance_loss(
        a, p, n, distance_function=_DISTANCES[distance], **kw)  # fmt: skip


def _np_distance(distance: str | None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if distance is None:
        return lambda u, v: np.linalg.norm(u - v + 1e-6, axis=-1)
    return _sq_distance


def _np_triplet_distance(a: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                         distance: str | None = None, margin: float = 1.0, swap: bool = False,
                         reduction: str = "mean") -> np.ndarray:  # fmt: skip
    d = _np_distance(distance)
    d_an = d(a, neg)
    if swap:
        d_an = np.minimum(d_an, d(pos, neg))
    return _np_reduce(np.maximum(d(a, pos) - d_an + margin, 0), reduction)


def _triplet_distance_inputs(rng: np.random.Generator) -> list[Sample]:
    def abc(shape: tuple = (4, 3)) -> tuple:
        return (_r(rng, shape), _r(rng, shape), _r(rng, shape))

    out = [Sample(abc(), {"reduction": red}) for red in REDUCTIONS]
    out += [Sample(abc(), {"distance": "sqeuclidean", "margin": 0.5, "swap": True,
                           "reduction": red}, note=f"squared distance, swap, {red}")
            for red in REDUCTIONS]  # fmt: skip
    return out + [Sample(abc(), {"swap": True}, note="swap"),
                  Sample(abc((3,)), {"reduction": "none"}, note="unbatched (3,)")]  # fmt: skip


_triplet_distance_apart = _triplet_apart_for(_np_distance(None), _sq_distance)


# ---- the table -------------------------------------------------------------------------------

_SOFTMAX_CASES = _unary(shapes=(), kwargs=({"dim": -1},), shifts=(500.0,))


def _softmax_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (3, 4)),), {"dim": -1}),
        Sample((_r(rng, (2, 3, 4)),), {"dim": 1}),
        Sample((_r(rng, (3, 4)),), {"dim": 0}),
        Sample((_r(rng, (5,)),), {"dim": 0}),
        *_SOFTMAX_CASES(rng),
    ]


# ---- ctc_loss: log_probs (T, N, C) or (T, C), padded or concatenated targets -------------


def _ctc_targets(rng: np.random.Generator, n: int, s: int, c: int) -> np.ndarray:
    """Padded labels (N, S) in 1..C-1 (blank 0), with a repeated label in the first row."""
    t = rng.integers(1, c, (n, s))
    if s >= 2:
        t[0, 1] = t[0, 0]  # a repeat: the alignment needs a blank between them
    return t


def _ctc_inputs(rng: np.random.Generator) -> list[Sample]:
    """Logits (log_softmax'd inside the entries), every reduction, padded and concatenated
    targets, repeats, different lengths per sample, blank other than 0, unbatched, and an
    impossible alignment with zero_infinity=True."""
    out = []
    il, tl = np.array([6, 5, 3]), np.array([3, 2, 0])
    for red in REDUCTIONS:
        tg = _ctc_targets(rng, 3, 3, 4)
        out.append(Sample((_r(rng, (6, 3, 4)), tg, il, tl), {"reduction": red},
                          note=f"padded {red}"))  # fmt: skip
        flat = np.concatenate([row[:k] for row, k in zip(tg, tl)])
        out.append(Sample((_r(rng, (6, 3, 4)), flat, il, tl), {"reduction": red},
                          note=f"concatenated {red}"))  # fmt: skip
    tg = _ctc_targets(rng, 2, 2, 5) - 1  # labels 0..3, blank 4
    out += [
        Sample((_r(rng, (5, 2, 5)), tg, np.array([5, 4]), np.array([2, 1])),
               {"blank": 4, "reduction": "sum"}, note="blank=4"),
        Sample((_r(rng, (5, 4)), np.array([1, 1, 2]), np.asarray(5), np.asarray(3)),
               {"reduction": "none"}, note="unbatched"),
        Sample((_r(rng, (4, 2, 3)), np.array([[1, 1, 1], [2, 1, 0]]), np.array([4, 4]),
                np.array([3, 2])), {"zero_infinity": True, "reduction": "none"},
               note="impossible, zero_infinity"),
        Sample((_r(rng, (4, 2, 3)), np.array([[1, 1, 1], [2, 1, 0]]), np.array([4, 4]),
                np.array([3, 2])), {"zero_infinity": True}, note="impossible, mean"),
    ]  # fmt: skip
    return out


def _np_ctc_sample(lp: np.ndarray, labels: list[int], blank: int) -> float:
    """-log p(labels) of one sample's (T, C) log-probabilities: the alpha recursion
    position by position in float64."""
    ext = [blank]
    for k in labels:
        ext += [k, blank]
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = lp[0, blank]
    if len(ext) > 1:
        alpha[1] = lp[0, ext[1]]
    for t in range(1, len(lp)):
        new = np.full(len(ext), -np.inf)
        for s in range(len(ext)):
            a = alpha[s]
            if s >= 1:
                a = np.logaddexp(a, alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                a = np.logaddexp(a, alpha[s - 2])
            new[s] = a + lp[t, ext[s]]
        alpha = new
    p = alpha[-1] if len(ext) == 1 else np.logaddexp(alpha[-1], alpha[-2])
    return float(-p)


def _np_ctc_loss(log_probs: np.ndarray, targets: np.ndarray, input_lengths: Any,
                 target_lengths: Any, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> np.ndarray:  # fmt: skip
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs[:, None, :]
    il = np.atleast_1d(input_lengths)
    tl = np.atleast_1d(target_lengths)
    tg = np.atleast_2d(targets) if batched or targets.ndim == 1 else targets
    if batched and targets.ndim == 1:  # concatenated
        ends = np.cumsum(tl)
        rows = [list(targets[e - k : e]) for e, k in zip(ends, tl)]
    else:
        rows = [list(row[:k]) for row, k in zip(tg, tl)]
    loss = np.array([
        0.0 if il[n] == 0 and not rows[n] else np.inf if il[n] == 0
        else _np_ctc_sample(lp[: il[n], n], rows[n], blank) for n in range(len(rows))
    ])  # fmt: skip
    if zero_infinity:
        loss[np.isinf(loss)] = 0.0
    if reduction == "mean":
        return np.asarray((loss / np.maximum(tl, 1)).mean())
    if reduction == "sum":
        return np.asarray(loss.sum())
    return loss if batched else loss.reshape(())


def _ctc_of_logits(x: Any, *args: Any, **kwargs: Any) -> Any:
    return F.ctc_loss(F.log_softmax(x, dim=-1), *args, **kwargs)


def _t_ctc_of_logits(x: Any, *args: Any, **kwargs: Any) -> Any:
    return _torch().nn.functional.ctc_loss(x.log_softmax(-1), *args, **kwargs)


def _np_ctc_of_logits(x: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    return _np_ctc_loss(_np_log_softmax(x, -1), *args, **kwargs)


def _ctc_log_prob_inputs(rng: np.random.Generator) -> list[Sample]:
    """:func:`_ctc_inputs` with log_softmax'd log-probabilities as the input."""
    return [dataclasses.replace(s, args=(_np_log_softmax(s.args[0], -1), *s.args[1:]))
            for s in _ctc_inputs(rng)]  # fmt: skip


# ---- 3-D convolution and pools: loops over output positions (tiny samples) ---------------


def _np_triple(v: Any) -> tuple[int, int, int]:
    return tuple(int(u) for u in v) if isinstance(v, tuple | list) else (int(v),) * 3


def _np_unbatched_3d(fn: Callable) -> Callable:
    """``fn`` on (N, C, D, H, W), taking an unbatched (C, D, H, W) input too."""

    @functools.wraps(fn)
    def call(x: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        return fn(x[None], *args, **kwargs)[0] if x.ndim == 4 else fn(x, *args, **kwargs)

    return call


@_np_unbatched_3d
def _np_conv3d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Any = 1,
               padding: Any = 0, dilation: Any = 1, groups: int = 1) -> np.ndarray:  # fmt: skip
    """Output position by output position: each group's window (C_in/groups, kD, kH, kW)
    of the zero-padded input against each of its filters."""
    s, d, k = _np_triple(stride), _np_triple(dilation), w.shape[2:]
    if padding == "same":  # total d*(k-1) split with any odd extra after, as PyTorch
        pads = [(dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for dd, kk in zip(d, k)]
    elif padding == "valid":
        pads = [(0, 0)] * 3
    else:
        pads = [(p, p) for p in _np_triple(padding)]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    out = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(3)]
    o, cg = w.shape[:2]
    og = o // groups
    y = np.zeros((x.shape[0], o, *out), dtype=np.result_type(x, w))
    for i, j, m in np.ndindex(*out):
        win = xp[:, :, i * s[0] :: d[0], j * s[1] :: d[1], m * s[2] :: d[2]][
            :, :, : k[0], : k[1], : k[2]
        ]
        for g in range(groups):
            y[:, g * og : (g + 1) * og, i, j, m] = np.einsum(
                "ncdhw,ocdhw->no", win[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og]
            )
    return y if b is None else y + b[:, None, None, None]


def _np_pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    return out - 1 if ceil_mode and (out - 1) * s >= size + p else out


@_np_unbatched_3d
def _np_max_pool3d(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0,
                   dilation: Any = 1, ceil_mode: bool = False) -> np.ndarray:  # fmt: skip
    """Window by window: the max over the window's taps that fall inside the input."""
    k = _np_triple(kernel_size)
    s = k if stride is None else _np_triple(stride)
    p, d = _np_triple(padding), _np_triple(dilation)
    sizes = x.shape[2:]
    out = [_np_pool_out(sizes[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(3)]
    y = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    for pos in np.ndindex(*out):
        taps = [[pos[a] * s[a] - p[a] + t * d[a] for t in range(k[a])] for a in range(3)]
        taps = [[q for q in axis if 0 <= q < sizes[a]] for a, axis in enumerate(taps)]
        y[(..., *pos)] = x[:, :, taps[0]][:, :, :, taps[1]][..., taps[2]].max(axis=(2, 3, 4))
    return y


@_np_unbatched_3d
def _np_avg_pool3d(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0,
                   ceil_mode: bool = False, count_include_pad: bool = True,
                   divisor_override: int | None = None) -> np.ndarray:  # fmt: skip
    """Window by window, as PyTorch's CPU kernel: the divisor is the window clipped to the
    padded input (``count_include_pad``) or to the input itself."""
    k = _np_triple(kernel_size)
    s = k if stride is None else _np_triple(stride)
    p, sizes = _np_triple(padding), x.shape[2:]
    out = [_np_pool_out(sizes[i], k[i], s[i], p[i], 1, ceil_mode) for i in range(3)]
    y = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    for pos in np.ndindex(*out):
        lo = [pos[a] * s[a] - p[a] for a in range(3)]
        hi = [min(lo[a] + k[a], sizes[a] + p[a]) for a in range(3)]
        padded_count = math.prod(h - lo_ for h, lo_ in zip(hi, lo))
        lo, hi = [max(v, 0) for v in lo], [min(h, n) for h, n in zip(hi, sizes)]
        total = x[:, :, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].sum(axis=(2, 3, 4))
        count = padded_count if count_include_pad else math.prod(h - v for h, v in zip(hi, lo))
        y[(..., *pos)] = total / (divisor_override or count)
    return y


def _np_adaptive_pool3d(x: np.ndarray, output_size: Any, reduce: str) -> np.ndarray:
    """Window by window: ``x.mean`` or ``x.max`` (``reduce``) over PyTorch's adaptive
    windows ``floor(i*D/OD)..ceil((i+1)*D/OD)`` on each axis."""
    sizes = x.shape[2:]
    triple = output_size if isinstance(output_size, tuple) else (output_size,) * 3
    out = [n if o is None else o for n, o in zip(sizes, triple)]
    y = np.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    for pos in np.ndindex(*out):
        sl = [slice(pos[a] * sizes[a] // out[a], math.ceil((pos[a] + 1) * sizes[a] / out[a]))
              for a in range(3)]  # fmt: skip
        window = x[(slice(None), slice(None), *sl)]
        y[(..., *pos)] = getattr(window, reduce)(axis=(2, 3, 4))
    return y


@_np_unbatched_3d
def _np_adaptive_avg_pool3d(x: np.ndarray, output_size: Any) -> np.ndarray:
    return _np_adaptive_pool3d(x, output_size, "mean")


@_np_unbatched_3d
def _np_adaptive_max_pool3d(x: np.ndarray, output_size: Any) -> np.ndarray:
    return _np_adaptive_pool3d(x, output_size, "max")


@_np_unbatched_3d
def _np_conv_transpose3d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                         stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                         groups: int = 1, dilation: Any = 1) -> np.ndarray:  # fmt: skip
    """By the definition: input voxel ``(i, j, m)`` times kernel offset ``(a, b, c)`` lands
    on canvas voxel ``(i*sD + a*dD, j*sH + b*dH, m*sW + c*dW)``; the output is the canvas
    cropped by ``padding`` at the front, ``(D-1)*sD - 2*pD + dD*(kD-1) + output_padding + 1``
    long on each axis (voxels past the canvas are zero)."""
    s, p = _np_triple(stride), _np_triple(padding)
    e, d = _np_triple(output_padding), _np_triple(dilation)
    n, c, sizes = x.shape[0], x.shape[1], x.shape[2:]
    og, k = w.shape[1], w.shape[2:]
    reach = [(sizes[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i in range(3)]
    out = [reach[i] - 2 * p[i] + e[i] for i in range(3)]
    canvas = np.zeros((n, og * groups, *(p[i] + max(out[i], reach[i]) for i in range(3))),
                      dtype=np.result_type(x, w))  # fmt: skip
    cg = c // groups
    for g in range(groups):
        xg = x[:, g * cg : (g + 1) * cg]
        for off in np.ndindex(*k):
            part = np.einsum("ncdhw,co->nodhw", xg, w[g * cg : (g + 1) * cg, :, *off])
            at = tuple(slice(off[i] * d[i], off[i] * d[i] + (sizes[i] - 1) * s[i] + 1, s[i])
                       for i in range(3))  # fmt: skip
            canvas[(slice(None), slice(g * og, (g + 1) * og), *at)] += part
    y = canvas[:, :, p[0] : p[0] + out[0], p[1] : p[1] + out[1], p[2] : p[2] + out[2]]
    return y if b is None else y + b[:, None, None, None]


def _conv_transpose3d_inputs(rng: np.random.Generator) -> list[Sample]:
    cases = [  # (x shape, weight shape, bias?, kwargs)
        ((1, 2, 2, 3, 2), (2, 3, 2, 2, 2), True, {}),
        ((1, 4, 2, 2, 2), (4, 1, 2, 1, 2), False,
         {"stride": (2, 1, 2), "padding": (1, 0, 1), "output_padding": (1, 0, 1),
          "groups": 2, "dilation": (1, 2, 1)}),
        # unbatched; output padding below the dilation
        ((2, 2, 2, 2), (2, 2, 2, 2, 1), True,
         {"padding": (1, 0, 0), "dilation": 2, "output_padding": (1, 0, 0)}),
        # output padding past the canvas (zero there, plus the bias)
        ((1, 3, 2, 2, 1), (3, 1, 3, 2, 2), True,
         {"stride": 3, "padding": 1, "groups": 3, "output_padding": (2, 0, 1)}),
    ]  # fmt: skip
    return [Sample((_r(rng, xs), _r(rng, ws), *((_r(rng, (ws[1] * kw.get("groups", 1),)),)
                                                if bias else ())), kw)
            for xs, ws, bias, kw in cases]  # fmt: skip


def _conv3d_inputs(rng: np.random.Generator) -> list[Sample]:
    cases = [  # (x shape, weight shape, bias?, kwargs)
        ((1, 2, 3, 4, 3), (3, 2, 2, 2, 2), True, {}),
        ((2, 4, 3, 3, 4), (2, 2, 2, 1, 3), False,
         {"stride": (1, 2, 1), "padding": (1, 0, 1), "dilation": (2, 1, 1), "groups": 2}),
        ((1, 2, 3, 3, 3), (2, 2, 2, 3, 2), True, {"padding": "same"}),  # asymmetric split
        ((2, 3, 4, 3), (2, 2, 3, 2, 2), True, {"stride": 2, "padding": 1}),  # unbatched
        ((1, 3, 2, 3, 3), (3, 1, 2, 2, 2), True, {"padding": "valid", "groups": 3}),
    ]  # fmt: skip
    return [Sample((_r(rng, xs), _r(rng, ws), *((_r(rng, (ws[0],)),) if bias else ())), kw)
            for xs, ws, bias, kw in cases]  # fmt: skip


_POOL3D_MAX = [
    ((1, 2, 4, 4, 4), {"kernel_size": 2}),
    ((1, 2, 4, 3, 5), {"kernel_size": (3, 2, 3), "stride": 2, "padding": (1, 0, 1),
                       "ceil_mode": True}),
    ((2, 3, 3, 4), {"kernel_size": 2, "stride": 1, "dilation": (2, 1, 1)}),  # unbatched
]  # fmt: skip

_POOL3D_AVG = [
    ((1, 2, 4, 4, 4), {"kernel_size": 2}),
    ((1, 2, 4, 3, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 4, 3, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                       "count_include_pad": False}),
    ((2, 3, 3, 2), {"kernel_size": (2, 2, 1), "padding": (1, 0, 0), "divisor_override": 3}),
]  # fmt: skip

_POOL3D_ADAPTIVE = [
    ((1, 2, 3, 4, 5), {"output_size": 2}),
    ((2, 5, 3, 2), {"output_size": (3, None, 1)}),  # unbatched; D upsampled (overlaps)
]


_POOL3D_ADAPTIVE_MAX = [
    ((1, 2, 4, 4, 6), {"output_size": 2}),  # windows that tile the input
    ((1, 2, 3, 5, 4), {"output_size": (2, 3, None)}),  # overlapping windows
    ((2, 3, 2, 5), {"output_size": (3, 2, 2)}),  # unbatched; D upsampled
]


def _pool3d_inputs(cases: list) -> Callable:
    return lambda rng: [Sample((_r(rng, xs),), dict(kw)) for xs, kw in cases]


# ---- grid_sample / affine_grid (chainrule/ops/grid.py) ----------------------------------------

_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDINGS = ("zeros", "border", "reflection")


def _grid_points(rng: np.random.Generator, shape: tuple, sizes: tuple, align: bool,
                 avoid: float) -> np.ndarray:  # fmt: skip
    """Normalised grid points in [-1.4, 1.4] whose pixel positions keep >= 0.1 from
    ``k + avoid`` (whole numbers: the kinks of linear/cubic interpolation and the borders;
    halves: nearest's rounding); ``sizes`` per coordinate, x first."""
    g = rng.uniform(-1.4, 1.4, shape)
    for i, n in enumerate(sizes):
        scale, shift = ((n - 1) / 2, 0.0) if align else (n / 2, 0.5)
        pos = (g[..., i] + 1) * scale - shift - avoid
        pos = np.floor(pos) + np.clip(pos - np.floor(pos), 0.1, 0.9) + avoid
        g[..., i] = (pos + shift) / scale - 1
    return g


def _grid_sample_inputs(mode: str, rank: int) -> Callable:
    """2-D bilinear and nearest: every padding mode with both align_corners values; 3-D
    and bicubic: each padding mode once or twice. Two batches, small sizes (the
    gradgradcheck of the 16-tap bicubic is the slow one)."""
    combos = [(pad, align) for pad in _GRID_PADDINGS for align in (False, True)]
    if rank == 3:
        combos = [("zeros", False), ("border", True), ("reflection", False)]
    elif mode == "bicubic":
        combos = [("zeros", False), ("border", True), ("reflection", False), ("reflection", True)]

    def gen(rng: np.random.Generator) -> list[Sample]:
        avoid = 0.5 if mode == "nearest" else 0.0
        spatial, out = ((3, 4), (2, 2)) if rank == 2 else ((2, 2, 3), (1, 2, 2))
        samples = []
        for k, (pad, align) in enumerate(combos):
            x = _r(rng, (2, 1 + k % 2, *spatial))
            g = _grid_points(rng, (2, *out, rank), spatial[::-1], align, avoid)
            samples.append(Sample((x, g), {"mode": mode, "padding_mode": pad,
                                           "align_corners": align}))  # fmt: skip
        return samples

    return gen


def _np_unnormalize(g: float, n: int, align: bool) -> float:
    return (g + 1) * (n - 1) / 2 if align else ((g + 1) * n - 1) / 2


def _np_pad_coord(c: float, n: int, pad: str, align: bool) -> float:
    """ATen's compute_coordinates, one scalar at a time."""
    if pad == "reflection":
        lo, hi = (0.0, n - 1.0) if align else (-0.5, n - 0.5)
        if hi == lo:
            c = 0.0
        else:
            span = hi - lo
            d = abs(c - lo)
            flips, extra = math.floor(d / span), math.fmod(d, span)
            c = lo + extra if flips % 2 == 0 else hi - extra
    if pad in ("border", "reflection"):
        c = min(max(c, 0.0), n - 1.0)
    return c


def _np_cubic(t: float) -> list[float]:
    a = -0.75

    def k(s: float) -> float:
        s = abs(s)
        if s <= 1:
            return ((a + 2) * s - (a + 3)) * s * s + 1
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a if s < 2 else 0.0

    return [k(t + 1), k(t), k(1 - t), k(2 - t)]


def _np_grid_sample(x: np.ndarray, grid: np.ndarray, mode: str = "bilinear",
                    padding_mode: str = "zeros", align_corners: bool = False,
                    ) -> np.ndarray:  # fmt: skip
    """Reference grid_sample: a loop over batch and output points, each axis's taps and
    weights from the scalar formulas of ATen's GridSampler.h."""
    n, c, *spatial = x.shape
    r = len(spatial)
    out = np.zeros((n, c, *grid.shape[1:-1]))
    for b in range(n):
        for o in np.ndindex(*grid.shape[1:-1]):
            taps = []  # per spatial axis: [(index or None, weight)]
            for a, size in enumerate(spatial):
                p = _np_unnormalize(float(grid[(b, *o, r - 1 - a)]), size, align_corners)
                if mode == "bicubic":
                    f = math.floor(p)
                    idx = [_np_pad_coord(float(f + k), size, padding_mode, align_corners)
                           for k in (-1, 0, 1, 2)]  # fmt: skip
                    taps.append(list(zip((int(i) for i in idx), _np_cubic(p - f))))
                    continue
                p = _np_pad_coord(p, size, padding_mode, align_corners)
                if mode == "nearest":
                    taps.append([(int(np.round(p)), 1.0)])
                else:
                    f = math.floor(p)
                    taps.append([(f, f + 1 - p), (f + 1, p - f)])
            for combo in itertools.product(*taps):
                if all(0 <= i < s for (i, _), s in zip(combo, spatial)):
                    w = math.prod(wt for _, wt in combo)
                    out[(b, slice(None), *o)] += w * x[(b, slice(None), *(i for i, _ in combo))]
    return out


def _np_affine_grid(theta: np.ndarray, size: Any, align_corners: bool = False) -> np.ndarray:
    def coords(m: int) -> np.ndarray:
        if m == 1:
            return np.zeros(1)
        v = np.linspace(-1, 1, m)
        return v if align_corners else v * (m - 1) / m

    spatial = tuple(size[2:])
    mesh = np.meshgrid(*(coords(m) for m in spatial), indexing="ij")
    base = np.stack([*mesh[::-1], np.ones(spatial)], axis=-1)
    return np.einsum("...k,njk->n...j", base, theta)


def _affine_grid_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (2, 2, 3)),), {"size": (2, 3, 3, 4), "align_corners": align})
            for align in (False, True)] + [
        Sample((_r(rng, (1, 3, 4)),), {"size": (1, 2, 2, 1, 3), "align_corners": align})
        for align in (False, True)]  # fmt: skip


NN_OPS: list[OpInfo] = [
    # activations
    OpInfo(name="F.relu", fn=F.relu, torch_fn=_tf("relu"), ref_fn=lambda x: np.maximum(x, 0),
           inputs=_unary(), domain=away_from(0.0)),
    OpInfo(name="F.leaky_relu", fn=F.leaky_relu, torch_fn=_tf("leaky_relu"),
           ref_fn=lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
           inputs=_unary(kwargs=({}, {"negative_slope": 0.2})), domain=away_from(0.0)),
    OpInfo(name="F.noisy_relu_eval", fn=lambda x: F.noisy_relu(x, training=False),
           torch_fn=_tf("relu"), ref_fn=lambda x: np.maximum(x, 0), inputs=_unary(),
           domain=away_from(0.0)),
    OpInfo(name="F.noisy_relu_train", fn=_noisy_relu_train, torch_fn=_t_noisy_relu_train,
           ref_fn=_np_noisy_relu_train, inputs=_unary(), supports_gradcheck=False),
    OpInfo(name="F.elu", fn=F.elu, torch_fn=_tf("elu"), ref_fn=_np_elu,
           inputs=_unary(kwargs=({}, {"alpha": 0.5}, {"alpha": 2.0})), domain=away_from(0.0)),
    OpInfo(name="F.softplus", fn=F.softplus, torch_fn=_tf("softplus"), ref_fn=_np_softplus,
           inputs=_unary(shifts=(25.0, -25.0)), domain=away_from(20.0, margin=0.5)),
    OpInfo(name="F.softplus_beta", fn=F.softplus, torch_fn=_tf("softplus"), ref_fn=_np_softplus,
           inputs=_unary(shapes=((3, 4), (2, 1, 3)),
                         kwargs=({"beta": 2.0, "threshold": 1.0},
                                 {"beta": 0.5, "threshold": 0.25}),
                         shifts=(0.5,)),
           domain=away_from(0.5, margin=0.1)),
    OpInfo(name="F.sigmoid", fn=F.sigmoid, torch_fn=_tf("sigmoid"),
           ref_fn=lambda x: 1 / (1 + np.exp(-x)), inputs=_unary(shifts=(30.0, -30.0))),
    OpInfo(name="F.silu", fn=F.silu, torch_fn=_tf("silu"),
           ref_fn=lambda x: x / (1 + np.exp(-x)), inputs=_unary(shifts=(30.0, -30.0))),
    OpInfo(name="F.tanh", fn=F.tanh, torch_fn=_tf("tanh"), ref_fn=np.tanh, inputs=_unary()),
    OpInfo(name="F.hardtanh", fn=F.hardtanh, torch_fn=_tf("hardtanh"),
           ref_fn=lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val),
           inputs=_unary(kwargs=({"min_val": -1.0, "max_val": 1.0},
                                 {"min_val": -0.5, "max_val": 2.0})),
           domain=away_from(-1.0, 1.0, -0.5, 2.0, margin=0.05)),
    OpInfo(name="F.threshold", fn=F.threshold, torch_fn=_tf("threshold"),
           ref_fn=lambda x, threshold, value: np.where(x > threshold, x, value),
           inputs=_unary(kwargs=({"threshold": 0.1, "value": 20.0},
                                 {"threshold": -0.5, "value": -3.0})),
           domain=away_from(0.1, -0.5, margin=0.05)),
    OpInfo(name="F.multi_margin_loss", fn=F.multi_margin_loss,
           torch_fn=_tf("multi_margin_loss"), ref_fn=_np_multi_margin,
           inputs=_multi_margin_inputs, domain=_margins_apart),
    OpInfo(name="F.gelu", fn=F.gelu, torch_fn=_tf("gelu"), ref_fn=_np_gelu,
           inputs=_unary(shifts=(3.0, -3.0, -6.0))),
    OpInfo(name="F.gelu_tanh", fn=F.gelu, torch_fn=_tf("gelu"), ref_fn=_np_gelu,
           inputs=_unary(kwargs=({"approximate": "tanh"},))),
    OpInfo(name="F.relu6", fn=F.relu6, torch_fn=_tf("relu6"),
           ref_fn=lambda x: np.clip(x, 0, 6), inputs=_unary(shifts=(5.5, 2.0)),
           domain=away_from(0.0, 6.0)),
    OpInfo(name="F.hardsigmoid", fn=F.hardsigmoid, torch_fn=_tf("hardsigmoid"),
           ref_fn=lambda x: np.clip(x / 6 + 0.5, 0, 1), inputs=_unary(shifts=(2.5, -2.5)),
           domain=away_from(-3.0, 3.0)),
    OpInfo(name="F.hardswish", fn=F.hardswish, torch_fn=_tf("hardswish"),
           ref_fn=lambda x: x * np.clip(x + 3, 0, 6) / 6, inputs=_unary(shifts=(2.5, -2.5)),
           domain=away_from(-3.0, 3.0)),
    OpInfo(name="F.mish", fn=F.mish, torch_fn=_tf("mish"),
           ref_fn=lambda x: x * np.tanh(np.logaddexp(0, x)), inputs=_unary(shifts=(30.0, -30.0))),
    OpInfo(name="F.softsign", fn=F.softsign, torch_fn=_tf("softsign"),
           ref_fn=lambda x: x / (1 + np.abs(x)), inputs=_unary(), domain=away_from(0.0)),
    OpInfo(name="F.logsigmoid", fn=F.logsigmoid, torch_fn=_tf("logsigmoid"),
           ref_fn=lambda x: -np.logaddexp(0, -x), inputs=_unary(shifts=(30.0, -30.0))),
    OpInfo(name="F.selu", fn=F.selu, torch_fn=_tf("selu"),
           ref_fn=lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772),
           inputs=_unary(), domain=away_from(0.0)),
    OpInfo(name="F.celu", fn=F.celu, torch_fn=_tf("celu"),
           ref_fn=lambda x, alpha=1.0: alpha * _np_elu(x / alpha),
           inputs=_unary(kwargs=({}, {"alpha": 0.5})), domain=away_from(0.0)),
    OpInfo(name="F.prelu", fn=F.prelu, torch_fn=_tf("prelu"), ref_fn=_np_prelu,
           inputs=_prelu_inputs, domain=away_from(0.0, args=(0,))),
    OpInfo(name="F.tanhshrink", fn=F.tanhshrink, torch_fn=_tf("tanhshrink"),
           ref_fn=lambda x: x - np.tanh(x), inputs=_unary()),
    OpInfo(name="F.hardshrink", fn=F.hardshrink, torch_fn=_tf("hardshrink"),
           ref_fn=lambda x, lambd=0.5: np.where(np.abs(x) > lambd, x, 0.0),
           inputs=_unary(kwargs=({}, {"lambd": 0.2})), domain=away_from(-0.5, 0.5, -0.2, 0.2,
                                                                           margin=0.05)),
    OpInfo(name="F.softshrink", fn=F.softshrink, torch_fn=_tf("softshrink"),
           ref_fn=lambda x, lambd=0.5: np.sign(x) * np.maximum(np.abs(x) - lambd, 0.0),
           inputs=_unary(kwargs=({}, {"lambd": 0.2})), domain=away_from(-0.5, 0.5, -0.2, 0.2,
                                                                           margin=0.05)),
    OpInfo(name="F.glu", fn=F.glu, torch_fn=_tf("glu"), ref_fn=_np_glu,
           inputs=_unary(shapes=((3, 4), (2, 6, 2)), kwargs=({}, {"dim": 1}))),
    OpInfo(name="F.softmin", fn=F.softmin, torch_fn=_tf("softmin"),
           ref_fn=lambda x, dim=-1: _np_softmax(-x, dim), inputs=_softmax_inputs),
    OpInfo(name="F.cosine_similarity", fn=F.cosine_similarity, torch_fn=_tf("cosine_similarity"),
           ref_fn=_np_cosine_similarity, inputs=_similarity_inputs),
    OpInfo(name="F.pairwise_distance", fn=F.pairwise_distance,
           torch_fn=_tf("pairwise_distance"), ref_fn=_np_pairwise_distance,
           inputs=_distance_inputs,
           domain=_diff_away(0.0)),
    OpInfo(name="F.scaled_dot_product_attention", fn=F.scaled_dot_product_attention,
           torch_fn=_t_sdpa_torch, inputs=_torch_sdpa_inputs),
    OpInfo(name="F.bilinear", fn=F.bilinear, torch_fn=_tf("bilinear"), ref_fn=_np_bilinear,
           inputs=_bilinear_inputs),
    OpInfo(name="F.pad", fn=F.pad, torch_fn=_tf("pad"), ref_fn=_np_torch_pad, inputs=_pad_inputs),
    OpInfo(name="F.softmax", fn=F.softmax, torch_fn=_tf("softmax"), ref_fn=_np_softmax,
           inputs=_softmax_inputs),
    OpInfo(name="F.log_softmax", fn=F.log_softmax, torch_fn=_tf("log_softmax"),
           ref_fn=lambda x, dim=-1: _np_log_softmax(x, dim), inputs=_softmax_inputs),
    # dropout: identity in eval; a fixed mask (seeded inside the call) in training
    OpInfo(name="F.dropout_eval", fn=F.dropout, torch_fn=_tf("dropout"),
           ref_fn=lambda x, p, training: x,
           inputs=_unary(kwargs=({"p": 0.5, "training": False},))),
    OpInfo(name="F.dropout_train", fn=_dropout_train, torch_fn=_t_dropout_train,
           ref_fn=_np_dropout_train,
           inputs=_unary(shapes=((3, 4), (2, 1, 3)), kwargs=({"p": 0.5}, {"p": 0.2}))),
    OpInfo(name="F.dropout1d/2d_train", fn=_channel_dropout_train,
           torch_fn=_t_channel_dropout_train, ref_fn=_np_channel_dropout_train,
           inputs=lambda rng: [Sample((_r(rng, (4, 6, 3)),), {"p": 0.5, "spatial": 1}),
                               Sample((_r(rng, (5, 2)),), {"p": 0.3, "spatial": 1}),
                               Sample((_r(rng, (3, 4, 2, 2)),), {"p": 0.5, "spatial": 2}),
                               Sample((_r(rng, (6, 2, 3)),), {"p": 0.5, "spatial": 2})]),
    OpInfo(name="F.dropout2d_eval", fn=F.dropout2d, torch_fn=_tf("dropout2d"),
           ref_fn=lambda x, p, training: x,
           inputs=_unary(shapes=((2, 3, 2, 2),), kwargs=({"p": 0.5, "training": False},))),
    # linear: x (..., in), weight (out, in), bias (out,) or none
    OpInfo(name="F.linear", fn=F.linear, torch_fn=_tf("linear"), ref_fn=_np_linear,
           inputs=_linear_inputs),
    # losses, each with every reduction
    OpInfo(name="F.mse_loss", fn=F.mse_loss, torch_fn=_tf("mse_loss"),
           ref_fn=lambda x, t, reduction="mean": _np_reduce((x - t) ** 2, reduction),
           inputs=_pairs()),
    OpInfo(name="F.l1_loss", fn=F.l1_loss, torch_fn=_tf("l1_loss"),
           ref_fn=lambda x, t, reduction="mean": _np_reduce(np.abs(x - t), reduction),
           inputs=_pairs(), domain=_diff_away(0.0)),
    OpInfo(name="F.huber_loss", fn=F.huber_loss, torch_fn=_tf("huber_loss"), ref_fn=_np_huber,
           inputs=_pairs(shapes=((3, 4), ()), extra=({}, {"delta": 0.5})),
           domain=_diff_away(1.0, 0.5, margin=0.05)),
    OpInfo(name="F.smooth_l1_loss", fn=F.smooth_l1_loss, torch_fn=_tf("smooth_l1_loss"),
           ref_fn=lambda x, t, reduction="mean", beta=1.0: _np_huber(x, t, reduction, beta) / beta,
           inputs=_pairs(shapes=((3, 4), ()), extra=({}, {"beta": 0.5})),
           domain=_diff_away(1.0, 0.5, margin=0.05)),
    OpInfo(name="F.kl_div", fn=F.kl_div, torch_fn=_tf("kl_div"), ref_fn=_np_kl_div,
           inputs=_kl_inputs),
    OpInfo(name="F.margin_ranking_loss", fn=F.margin_ranking_loss,
           torch_fn=_tf("margin_ranking_loss"), ref_fn=_np_margin_ranking,
           inputs=_ranking_inputs, domain=_ranking_apart),
    OpInfo(name="F.soft_margin_loss", fn=F.soft_margin_loss, torch_fn=_t_soft_margin,
           ref_fn=lambda x, t, reduction="mean": _np_reduce(np.logaddexp(0, -t * x), reduction),
           inputs=_soft_margin_inputs),
    OpInfo(name="F.poisson_nll_loss", fn=F.poisson_nll_loss, torch_fn=_tf("poisson_nll_loss"),
           ref_fn=_np_poisson_nll, inputs=_poisson_inputs),
    OpInfo(name="F.gaussian_nll_loss", fn=F.gaussian_nll_loss,
           torch_fn=_tf("gaussian_nll_loss"), ref_fn=_np_gaussian_nll, inputs=_gaussian_inputs),
    OpInfo(name="F.cosine_embedding_loss", fn=F.cosine_embedding_loss,
           torch_fn=_tf("cosine_embedding_loss"),
           ref_fn=_np_cosine_embedding, inputs=_cosine_embedding_inputs,
           domain=_cosine_apart),
    OpInfo(name="F.hinge_embedding_loss", fn=F.hinge_embedding_loss,
           torch_fn=_tf("hinge_embedding_loss"),
           ref_fn=_np_hinge_embedding, inputs=_hinge_embedding_inputs,
           domain=away_from(0.5, args=(0,))),
    OpInfo(name="F.triplet_margin_loss", fn=F.triplet_margin_loss,
           torch_fn=_tf("triplet_margin_loss"), ref_fn=_np_triplet, inputs=_triplet_inputs,
           domain=_triplet_apart),
    OpInfo(name="F.triplet_margin_with_distance_loss", fn=_triplet_distance,
           torch_fn=_t_triplet_distance, ref_fn=_np_triplet_distance,
           inputs=_triplet_distance_inputs, domain=_triplet_distance_apart),
    # embedding bags: the table's values kept apart, so that no two tie for a maximum
    OpInfo(name="F.embedding_bag", fn=_embedding_bag, torch_fn=_t_embedding_bag,
           ref_fn=_np_embedding_bag, inputs=_bag_inputs, domain=distinct()),
    OpInfo(name="F.multilabel_soft_margin_loss", fn=F.multilabel_soft_margin_loss,
           torch_fn=_tf("multilabel_soft_margin_loss"),
           ref_fn=_np_multilabel, inputs=_multilabel_inputs),
    OpInfo(name="F.cross_entropy", fn=F.cross_entropy, torch_fn=_tf("cross_entropy"),
           ref_fn=_np_cross_entropy, inputs=_ce_inputs),
    OpInfo(name="F.nll_loss", fn=F.nll_loss, torch_fn=_tf("nll_loss"), ref_fn=_np_nll_loss,
           inputs=_nll_inputs),
    OpInfo(name="F.cross_entropy[weight, ignore_index, label_smoothing]",
           fn=F.cross_entropy, torch_fn=_tf("cross_entropy"), ref_fn=_np_class_options,
           inputs=lambda rng: _class_options(rng, weight_as_input=False, probs=True)),
    # torch refuses gradients for the class weights: central differences and forward mode check them
    OpInfo(name="F.cross_entropy[weight as input]", fn=F.cross_entropy,
           ref_fn=_np_class_options,
           inputs=lambda rng: _class_options(rng, weight_as_input=True, probs=True)),
    OpInfo(name="F.nll_loss[weight, ignore_index]", fn=F.nll_loss, torch_fn=_tf("nll_loss"),
           ref_fn=functools.partial(_np_class_options, log_probs=True),
           inputs=lambda rng: _class_options(rng, weight_as_input=False, probs=False)),
    # ctc_loss behind log_softmax (its use): PyTorch's gradient w.r.t. log_probs adds
    # exp(log_probs), which log_softmax's backward cancels; the exact derivative w.r.t.
    # log_probs themselves is checked numerically (no torch) by the second entry
    OpInfo(name="F.ctc_loss", fn=_ctc_of_logits, torch_fn=_t_ctc_of_logits,
           ref_fn=_np_ctc_of_logits, inputs=_ctc_inputs),
    OpInfo(name="F.ctc_loss[log_probs]", fn=F.ctc_loss, ref_fn=_np_ctc_loss,
           inputs=_ctc_log_prob_inputs),
    OpInfo(name="F.binary_cross_entropy", fn=F.binary_cross_entropy,
           torch_fn=_tf("binary_cross_entropy"), ref_fn=_np_bce,
           inputs=_pairs(shapes=((3, 4), ())),
           domain=compose(_squash(0.05, 0.95, (0,)), _squash(0.0, 1.0, (1,)))),
    OpInfo(name="F.binary_cross_entropy_with_logits", fn=F.binary_cross_entropy_with_logits,
           torch_fn=_tf("binary_cross_entropy_with_logits"), ref_fn=_np_bce_logits,
           inputs=_pairs(shapes=((3, 4), ())), domain=_squash(0.0, 1.0, (1,))),
    OpInfo(name="F.binary_cross_entropy[weight]", fn=F.binary_cross_entropy,
           torch_fn=_tf("binary_cross_entropy"), ref_fn=_np_bce_weighted,
           inputs=lambda rng: _bce_options(rng, logits=False, as_inputs=False),
           domain=compose(_squash(0.05, 0.95, (0,)), _squash(0.0, 1.0, (1,)))),
    OpInfo(name="F.binary_cross_entropy[weight as input]", fn=F.binary_cross_entropy,
           ref_fn=_np_bce_weighted,
           inputs=lambda rng: _bce_options(rng, logits=False, as_inputs=True),
           domain=compose(_squash(0.05, 0.95, (0,)), _squash(0.0, 1.0, (1,)))),
    OpInfo(name="F.binary_cross_entropy_with_logits[weight, pos_weight]",
           fn=F.binary_cross_entropy_with_logits,
           torch_fn=_tf("binary_cross_entropy_with_logits"), ref_fn=_np_bce_logits_weighted,
           inputs=lambda rng: _bce_options(rng, logits=True, as_inputs=False),
           domain=_squash(0.0, 1.0, (1,))),
    OpInfo(name="F.binary_cross_entropy_with_logits[weights as inputs]",
           fn=lambda x, t, w, pw, **kw: F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw,
                                                                           **kw),
           ref_fn=_np_bce_logits_weighted,
           inputs=lambda rng: _bce_options(rng, logits=True, as_inputs=True),
           domain=_squash(0.0, 1.0, (1,))),
    OpInfo(name="F.hinge_loss_binary", fn=F.hinge_loss, torch_fn=_t_hinge, ref_fn=_np_hinge,
           inputs=_binary_hinge_inputs, domain=away_from(-1.0, 1.0, args=(0,))),
    OpInfo(name="F.hinge_loss_multiclass", fn=F.hinge_loss, torch_fn=_t_hinge,
           ref_fn=_np_hinge, inputs=_multi_hinge_inputs, domain=_margins_apart),
    # pooling, channels, distances by composition
    OpInfo(name="F.channel_shuffle", fn=F.channel_shuffle, torch_fn=_tf("channel_shuffle"),
           ref_fn=_np_channel_shuffle,
           inputs=lambda rng: [Sample((_r(rng, (2, 6, 3)),), {"groups": 3}),
                               Sample((_r(rng, (1, 4, 2, 2)),), {"groups": 2})]),
    OpInfo(name="F.local_response_norm", fn=F.local_response_norm,
           torch_fn=_tf("local_response_norm"), ref_fn=_np_local_response_norm,
           inputs=lambda rng: [Sample((_r(rng, (2, 5, 3)),), {"size": 3, "alpha": 0.5}),
                               Sample((_r(rng, (2, 4, 2, 3)),),
                                      {"size": 2, "alpha": 0.3, "beta": 0.6, "k": 2.0}),
                               Sample((_r(rng, (1, 3, 2)),), {"size": 5, "alpha": 1.0})]),
    OpInfo(name="F.lp_pool1d", fn=F.lp_pool1d, torch_fn=_tf("lp_pool1d"), ref_fn=_np_lp_pool1d,
           inputs=_lp_pool_inputs(1)),
    OpInfo(name="F.lp_pool2d", fn=F.lp_pool2d, torch_fn=_tf("lp_pool2d"), ref_fn=_np_lp_pool2d,
           inputs=_lp_pool_inputs(2)),
    OpInfo(name="F.max_unpool1d", fn=F.max_unpool1d, torch_fn=_tf("max_unpool1d"),
           ref_fn=functools.partial(_np_max_unpool, nd=1), inputs=_unpool_inputs(1)),
    OpInfo(name="F.max_unpool2d", fn=F.max_unpool2d, torch_fn=_tf("max_unpool2d"),
           ref_fn=functools.partial(_np_max_unpool, nd=2), inputs=_unpool_inputs(2)),
    OpInfo(name="F.max_unpool3d", fn=F.max_unpool3d, torch_fn=_tf("max_unpool3d"),
           ref_fn=functools.partial(_np_max_unpool, nd=3), inputs=_unpool_inputs(3)),
    # spatial transformers (chainrule/ops/grid.py); nearest's grid gradient is 0 (the
    # samples keep nearest's positions off half pixels, the others' off whole pixels)
    OpInfo(name="F.affine_grid", fn=F.affine_grid, torch_fn=_tf("affine_grid"),
           ref_fn=_np_affine_grid, inputs=_affine_grid_inputs),
    *[OpInfo(name=f"F.grid_sample[{mode}, {rank}-D]", fn=F.grid_sample,
             torch_fn=_tf("grid_sample"), ref_fn=_np_grid_sample,
             inputs=_grid_sample_inputs(mode, rank))
      for mode in _GRID_MODES for rank in (2, 3) if not (mode == "bicubic" and rank == 3)],
    OpInfo(name="F.conv3d", fn=F.conv3d, torch_fn=_tf("conv3d"), ref_fn=_np_conv3d,
           inputs=_conv3d_inputs),
    OpInfo(name="F.max_pool3d", fn=F.max_pool3d, torch_fn=_tf("max_pool3d"),
           ref_fn=_np_max_pool3d, inputs=_pool3d_inputs(_POOL3D_MAX), domain=distinct()),
    OpInfo(name="F.avg_pool3d", fn=F.avg_pool3d, torch_fn=_tf("avg_pool3d"),
           ref_fn=_np_avg_pool3d, inputs=_pool3d_inputs(_POOL3D_AVG)),
    OpInfo(name="F.adaptive_avg_pool3d", fn=F.adaptive_avg_pool3d,
           torch_fn=_tf("adaptive_avg_pool3d"), ref_fn=_np_adaptive_avg_pool3d,
           inputs=_pool3d_inputs(_POOL3D_ADAPTIVE)),
    OpInfo(name="F.conv_transpose3d", fn=F.conv_transpose3d, torch_fn=_tf("conv_transpose3d"),
           ref_fn=_np_conv_transpose3d, inputs=_conv_transpose3d_inputs),
    OpInfo(name="F.adaptive_max_pool3d", fn=F.adaptive_max_pool3d,
           torch_fn=_tf("adaptive_max_pool3d"), ref_fn=_np_adaptive_max_pool3d,
           inputs=_pool3d_inputs(_POOL3D_ADAPTIVE_MAX), domain=distinct()),
    OpInfo(name="F.lp_pool3d", fn=F.lp_pool3d, torch_fn=_tf("lp_pool3d"), ref_fn=_np_lp_pool3d,
           inputs=_lp_pool3d_inputs),
    OpInfo(name="F.pdist", fn=F.pdist, torch_fn=_tf("pdist"), ref_fn=_np_pdist,
           inputs=_pdist_inputs),
    OpInfo(name="F.multilabel_margin_loss", fn=F.multilabel_margin_loss,
           torch_fn=_tf("multilabel_margin_loss"), ref_fn=_np_multilabel_margin,
           inputs=_multilabel_margin_inputs, domain=_multilabel_margins_apart),
    # random by composition: eval is deterministic; training seeded inside the call
    OpInfo(name="F.rrelu_eval", fn=F.rrelu, torch_fn=_tf("rrelu"),
           ref_fn=lambda x, lower=1 / 8, upper=1 / 3: np.where(x >= 0, x, x * (lower + upper) / 2),
           inputs=_unary(kwargs=({}, {"lower": 0.1, "upper": 0.5})), domain=away_from(0.0)),
    OpInfo(name="F.rrelu_train", fn=_rrelu_train, torch_fn=_t_rrelu_train,
           ref_fn=_np_rrelu_train,
           inputs=_unary(shapes=((3, 4), (2, 1, 3)), kwargs=({"lower": 0.1, "upper": 0.5},)),
           domain=away_from(0.0)),
    # in place, on a copy of the input (a non-leaf, so the write is recorded): the values and
    # every derivative are the out-of-place function's
    OpInfo(name="F.relu_", fn=_on_a_copy(F.relu_), torch_fn=_t_on_a_copy("relu_"),
           ref_fn=lambda x: np.maximum(x, 0), inputs=_unary(), domain=away_from(0.0)),
    OpInfo(name="F.elu_", fn=_on_a_copy(F.elu_), torch_fn=_t_on_a_copy("elu_"), ref_fn=_np_elu,
           inputs=_unary(kwargs=({}, {"alpha": 0.5})), domain=away_from(0.0)),
    OpInfo(name="F.celu_", fn=_on_a_copy(F.celu_), torch_fn=_t_on_a_copy("celu_"),
           ref_fn=lambda x, alpha=1.0: alpha * _np_elu(x / alpha),
           inputs=_unary(kwargs=({}, {"alpha": 2.0})), domain=away_from(0.0)),
    OpInfo(name="F.selu_", fn=_on_a_copy(F.selu_), torch_fn=_t_on_a_copy("selu_"),
           ref_fn=lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772),
           inputs=_unary(), domain=away_from(0.0)),
    OpInfo(name="F.leaky_relu_", fn=_on_a_copy(F.leaky_relu_),
           torch_fn=_t_on_a_copy("leaky_relu_"),
           ref_fn=lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
           inputs=_unary(kwargs=({}, {"negative_slope": 0.2})), domain=away_from(0.0)),
    OpInfo(name="F.hardtanh_", fn=_on_a_copy(F.hardtanh_), torch_fn=_t_on_a_copy("hardtanh_"),
           ref_fn=lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val),
           inputs=_unary(kwargs=({}, {"min_val": -0.5, "max_val": 2.0})),
           domain=away_from(-1.0, 1.0, -0.5, 2.0, margin=0.05)),
    OpInfo(name="F.rrelu_[eval]", fn=_on_a_copy(F.rrelu_), torch_fn=_t_on_a_copy("rrelu_"),
           ref_fn=lambda x, lower=1 / 8, upper=1 / 3: np.where(x >= 0, x, x * (lower + upper) / 2),
           inputs=_unary(kwargs=({}, {"lower": 0.1, "upper": 0.5})), domain=away_from(0.0)),
    OpInfo(name="F.rrelu_[train]", fn=_rrelu_train_, torch_fn=_t_rrelu_train,
           ref_fn=_np_rrelu_train,
           inputs=_unary(shapes=((3, 4), (2, 1, 3)), kwargs=({"lower": 0.1, "upper": 0.5},)),
           domain=away_from(0.0)),
    OpInfo(name="F.threshold_", fn=_on_a_copy(F.threshold_), torch_fn=_t_on_a_copy("threshold_"),
           ref_fn=lambda x, threshold, value: np.where(x > threshold, x, value),
           inputs=_unary(kwargs=({"threshold": 0.1, "value": 20.0},)),
           domain=away_from(0.1, margin=0.05)),
    OpInfo(name="F.alpha_dropout_eval", fn=F.alpha_dropout, torch_fn=_tf("alpha_dropout"),
           ref_fn=lambda x, p, training: x,
           inputs=_unary(kwargs=({"p": 0.5, "training": False},))),
    OpInfo(name="F.alpha_dropout_train", fn=_alpha_dropout_train, torch_fn=_t_alpha_dropout_train,
           ref_fn=_np_alpha_dropout_train,
           inputs=lambda rng: [Sample((_r(rng, (3, 4)),), {"p": 0.5, "feature": False}),
                               Sample((_r(rng, (2, 1, 3)),), {"p": 0.2, "feature": False}),
                               Sample((_r(rng, (3, 4, 2)),), {"p": 0.5, "feature": True}),
                               Sample((_r(rng, (2, 3, 2, 2)),), {"p": 0.3, "feature": True})]),
    OpInfo(name="F.gumbel_softmax", fn=_gumbel_softmax, torch_fn=_t_gumbel_softmax,
           ref_fn=_np_gumbel_softmax,
           inputs=lambda rng: [Sample((_r(rng, (3, 4)),)),
                               Sample((_r(rng, (2, 3, 2)),), {"tau": 0.5, "dim": 1})]),
    # hard samples: the straight-through gradient is the soft sample's, which central
    # differences of the (locally constant) one-hot cannot see; values and torch only
    OpInfo(name="F.gumbel_softmax_hard", fn=_gumbel_softmax, torch_fn=_t_gumbel_softmax,
           ref_fn=_np_gumbel_softmax, supports_gradcheck=False,
           inputs=lambda rng: [Sample((_r(rng, (3, 4)),), {"hard": True}),
                               Sample((_r(rng, (2, 3, 2)),),
                                      {"tau": 2.0, "hard": True, "dim": 0})]),
]  # fmt: skip

_BY_NAME = {op.name: op for op in NN_OPS}
if len(_BY_NAME) != len(NN_OPS):  # pragma: no cover - a table edit mistake
    raise RuntimeError("duplicate op names in the nn oracle table")


def get_nn_op(name: str) -> OpInfo:
    """The entry of :data:`NN_OPS` called ``name``."""
    return _BY_NAME[name]


__all__ = ["NN_OPS", "REDUCTIONS", "SEED", "get_nn_op"]
