"""The connectionist temporal classification loss (CTC) as one fused op.

:func:`ctc_nll` ``(log_probs, ext, input_lengths, target_lengths) -> (N,)``: each sample's
negative log-likelihood ``-log p(target | log_probs)`` summed over every alignment, with
PyTorch's conventions (``torch.nn.functional.ctc_loss`` with ``reduction="none"``):

* ``log_probs`` (T, N, C), floating, the log-probabilities of the classes per time step;
* ``ext`` (N, L) int64, the extended label sequences ``(blank, l1, blank, l2, ..., blank)``
  with ``L = 2 * S + 1`` for the longest target length ``S`` (entries past a sample's own
  ``2 * target_length + 1`` are ignored; :func:`extend_targets` builds it);
* ``input_lengths``, ``target_lengths`` (N,) int64: the time steps and labels that count.

An impossible alignment (too few time steps for the labels and the blanks that separate
repeated labels) gives ``inf``, with a zero gradient (PyTorch's is NaN there, zero with
``zero_infinity=True``).

How: the forward (alpha) recursion in log space over the extended labels, vectorised over
the batch and the labels, a Python loop over time only. The backward runs the beta
recursion the same way; the posterior occupancy ``w[t, n, s] = alpha * beta / y / p`` of
each extended label is scattered onto its class with one ``bincount``, so the vjp is
``-g[n] * sum_{s: ext[n, s] = c} w[t, n, s]``.

The gradient is the exact derivative with respect to ``log_probs``. PyTorch's kernel adds
``exp(log_probs)`` to it (for ``t < input_length``): the derivative through a
``log_softmax`` is the same either way, since both sum to the same per-step total after
``log_softmax``'s backward, which is how CTC is used (PyTorch requires normalised
log-probabilities).

Forward mode: the jvp is ``sum_{t,c} grad[t, n, c] * tangent[t, n, c]`` from the same
alpha-beta quantities. Double backward: the loss is recomputed with differentiable core ops
(:func:`ctc_nll_composite`) and the engine takes its vjp with ``create_graph=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.ops._util import graph_vjp

_NEG = -1e30  # "minus infinity" of the composite: finite, so its gradients are not NaN


def extend_targets(xp: Any, targets: Any, target_lengths: Any, blank: int) -> Any:
    """The (N, 2 * S + 1) extended label sequences of padded targets (N, S): blanks at
    the even positions, the labels at the odd ones, blanks past each target's length."""
    n, s = targets.shape
    ext = xp.full((n, 2 * s + 1), blank, dtype=np.int64)
    labels = xp.where(xp.arange(s)[None, :] < target_lengths[:, None], targets, blank)
    ext[:, 1::2] = labels
    return ext


def _masks(xp: Any, ext: Any, target_lengths: Any) -> tuple[Any, Any]:
    """``(valid, skip)`` (N, L): the positions inside each sample's extended sequence, and
    those that may be reached from two positions back (a label unlike the previous one)."""
    n, L = ext.shape
    pos = xp.arange(L)[None, :]
    valid = pos < 2 * target_lengths[:, None] + 1
    skip = xp.zeros((n, L), dtype=bool)
    if L > 2:
        skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (pos[:, 2:] % 2 == 1)
    return valid, skip


def _lse3(xp: Any, a: Any, b: Any, c: Any) -> Any:
    """``log(exp(a) + exp(b) + exp(c))`` elementwise, -inf where all three are -inf."""
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(xp.isneginf(m), 0, m)
    return m + xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m))


def _gather_ext(xp: Any, log_probs: Any, ext: Any) -> Any:
    """``log_probs[t, n, ext[n, s]]`` as a (T, N, L) array."""
    n = ext.shape[0]
    return log_probs[:, xp.arange(n)[:, None], ext]


def _alpha(lpe: Any, valid: Any, skip: Any) -> Any:
    """The forward variables (T, N, L) in log space."""
    xp = array_module(lpe)
    T, N, L = lpe.shape
    alpha = xp.full((T, N, L), -np.inf, dtype=lpe.dtype)
    alpha[0, :, :2] = lpe[0, :, :2]
    alpha[0] = xp.where(valid, alpha[0], -np.inf)
    neg = xp.full((N, L), -np.inf, dtype=lpe.dtype)
    for t in range(1, T):
        a = alpha[t - 1]
        a1, a2 = neg.copy(), neg.copy()
        a1[:, 1:] = a[:, :-1]
        a2[:, 2:] = a[:, :-2]
        a2 = xp.where(skip, a2, -np.inf)
        alpha[t] = xp.where(valid, _lse3(xp, a, a1, a2) + lpe[t], -np.inf)
    return alpha


def _nll(alpha: Any, il: Any, tl: Any) -> Any:
    """``-log p`` per sample from the forward variables at each sample's last step."""
    xp = array_module(alpha)
    n = xp.arange(alpha.shape[1])
    t = xp.maximum(il - 1, 0)
    s1, s2 = 2 * tl, xp.maximum(2 * tl - 1, 0)
    a1 = alpha[t, n, s1]
    a2 = xp.where(tl > 0, alpha[t, n, s2], -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        nll = -xp.logaddexp(a1, a2)
    # no time steps: the empty target has probability 1, any other 0
    return xp.where(il == 0, xp.where(tl == 0, 0.0, np.inf), nll).astype(alpha.dtype)


def _beta(lpe: Any, valid: Any, skip: Any, il: Any, tl: Any) -> Any:
    """The backward variables (T, N, L) in log space (they include ``y_t``, as alpha does),
    -inf from each sample's input length on."""
    xp = array_module(lpe)
    T, N, L = lpe.shape
    pos = xp.arange(L)[None, :]
    end = (pos == 2 * tl[:, None]) | ((pos == 2 * tl[:, None] - 1) & (tl[:, None] > 0))
    beta = xp.full((T, N, L), -np.inf, dtype=lpe.dtype)
    neg = xp.full((N, L), -np.inf, dtype=lpe.dtype)
    # skip[s + 2]: position s may jump to s + 2
    skip_from = xp.zeros((N, L), dtype=bool)
    skip_from[:, :-2] = skip[:, 2:]
    b = neg
    for t in range(T - 1, -1, -1):
        b1, b2 = neg.copy(), neg.copy()
        b1[:, :-1] = b[:, 1:]
        b2[:, :-2] = b[:, 2:]
        b2 = xp.where(skip_from, b2, -np.inf)
        step = xp.where(valid, _lse3(xp, b, b1, b2) + lpe[t], -np.inf)
        start = xp.where(end, lpe[t], -np.inf)
        last = (il - 1 == t)[:, None]
        after = (il - 1 < t)[:, None]
        b = xp.where(last, start, xp.where(after, -np.inf, step))
        beta[t] = b
    return beta


def _occupancy(log_probs: Any, alpha: Any, nll: Any, ext: Any, il: Any, tl: Any) -> Any:
    """``w`` (T, N, L): ``alpha * beta / (y * p)``, the posterior probability of being at
    extended label ``s`` at step ``t``; 0 for impossible samples."""
    xp = array_module(log_probs)
    lpe = _gather_ext(xp, log_probs, ext)
    valid, skip = _masks(xp, ext, tl)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        beta = _beta(lpe, valid, skip, il, tl)
        ab = alpha + beta
        reach = ~xp.isneginf(ab) & xp.isfinite(nll)[None, :, None]
        logw = xp.where(reach, ab + nll[None, :, None] - lpe, -np.inf)
        return xp.exp(logw)


def _scatter(w: Any, ext: Any, C: int) -> Any:
    """``out[t, n, c] = sum_{s: ext[n, s] = c} w[t, n, s]`` (T, N, C)."""
    xp = array_module(w)
    T, N, _ = w.shape
    base = (xp.arange(T)[:, None, None] * N + xp.arange(N)[None, :, None]) * C
    idx = (base + ext[None, :, :]).ravel()
    out = xp.bincount(idx, weights=w.ravel().astype(np.float64), minlength=T * N * C)
    return out.reshape(T, N, C).astype(w.dtype)


def ctc_nll_composite(log_probs: Any, ext: Any, il: Any, tl: Any) -> tuple:
    """:func:`ctc_nll` written with differentiable core ops (the recorded double backward;
    a finite stand-in for -inf keeps its gradients finite). Returns a 1-tuple."""
    from chainrule import ops

    xp = array_module(ext)
    T, N, _ = log_probs.shape
    L = ext.shape[1]
    valid, skip = _masks(xp, ext, tl)
    lpe = log_probs[:, xp.arange(N)[:, None], ext]  # (T, N, L)
    neg_col = xp.full((N, 1), _NEG, dtype=log_probs.dtype)
    neg_col2 = xp.full((N, 2), _NEG, dtype=log_probs.dtype)
    first = xp.zeros((N, L), dtype=bool)
    first[:, :2] = True
    a = ops.where(valid & first, lpe[0], _NEG)
    alphas = [a]
    for t in range(1, T):
        a1 = ops.concatenate([neg_col, a[:, :-1]], axis=1)
        cand = [a, a1]
        if L > 2:
            cand.append(ops.where(skip, ops.concatenate([neg_col2, a[:, :-2]], axis=1), _NEG))
        a = ops.where(valid, ops.logsumexp(ops.stack(cand), axis=0) + lpe[t], _NEG)
        alphas.append(a)
    alpha = ops.stack(alphas)
    n = xp.arange(N)
    t_last = xp.maximum(il - 1, 0)
    a_end = alpha[t_last, n, 2 * tl]
    a_pre = ops.where(tl > 0, alpha[t_last, n, xp.maximum(2 * tl - 1, 0)], _NEG)
    nll = -ops.logsumexp(ops.stack([a_end, a_pre]), axis=0)
    return (ops.where(il == 0, 0.0, nll),)


class CTCLoss(Op):
    """``log_probs`` (T, N, C) -> per-sample negative log-likelihood (N,); the labels and
    lengths are static keyword arrays."""

    name = "ctc_loss"

    @staticmethod
    def forward(ctx, log_probs, *, ext, il, tl):
        xp = array_module(log_probs)
        lpe = _gather_ext(xp, log_probs, ext)
        valid, skip = _masks(xp, ext, tl)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            alpha = _alpha(lpe, valid, skip)
        nll = _nll(alpha, il, tl)
        ctx.save_for_backward(log_probs, alpha, nll)
        ctx.ext, ctx.il, ctx.tl = ext, il, tl
        return nll

    @staticmethod
    def backward(ctx, g):
        if ctx.xp.is_graph:
            return graph_vjp(ctx, ctc_nll_composite, 1, (g,), ext=ctx.ext, il=ctx.il, tl=ctx.tl)
        log_probs, alpha, nll = ctx.saved
        w = _occupancy(log_probs, alpha, nll, ctx.ext, ctx.il, ctx.tl)
        grad = _scatter(w, ctx.ext, log_probs.shape[2])
        grad *= -g[None, :, None]
        return (grad,)

    @staticmethod
    def jvp(ctx, tangent):
        log_probs, alpha, nll = ctx.saved
        xp = array_module(log_probs)
        w = _occupancy(log_probs, alpha, nll, ctx.ext, ctx.il, ctx.tl)
        te = _gather_ext(xp, tangent, ctx.ext)
        return -(w * te).sum(axis=(0, 2)).astype(nll.dtype)


def ctc_nll(log_probs: Any, ext: Any, input_lengths: Any, target_lengths: Any) -> Any:
    """Per-sample CTC negative log-likelihood (N,) of ``log_probs`` (T, N, C) for the
    extended labels ``ext`` (N, L) (see the module docstring); arguments are checked by
    :func:`chainrule.nn.functional.ctc_loss`."""
    return CTCLoss.apply(log_probs, ext=ext, il=input_lengths, tl=target_lengths)


__all__ = ["CTCLoss", "ctc_nll", "ctc_nll_composite", "extend_targets"]
