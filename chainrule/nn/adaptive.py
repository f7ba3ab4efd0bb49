# ruff: noqa: A002  (PyTorch's argument name `input`)
"""``AdaptiveLogSoftmaxWithLoss``: Grave et al.'s efficient softmax approximation
(PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss``), composed from chainrule's differentiable ops,
so reverse mode, forward mode and double backward need no rules of its own."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from chainrule import backend, ops
from chainrule.autograd.mode import no_grad
from chainrule.errors import ShapeError
from chainrule.nn import _checks
from chainrule.nn import functional as F
from chainrule.nn.containers import ModuleList, Sequential
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, ModuleTypeError
from chainrule.ops.nn import ArgumentError, LabelError
from chainrule.tensor import Tensor

__all__ = ["AdaptiveLogSoftmaxWithLoss"]


class _ASMoutput(NamedTuple):
    """What :meth:`AdaptiveLogSoftmaxWithLoss.forward` returns (PyTorch's ``_ASMoutput``)."""

    output: Tensor
    loss: Tensor


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax (Grave et al., 2016) with its negative log-likelihood loss, as
    PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss``.

    The classes are split by ``cutoffs`` into a shortlist ``0..cutoffs[0]-1`` and clusters
    ``cutoffs[i]..cutoffs[i+1]-1`` (the last ends at ``n_classes``). The ``head`` scores the
    shortlist classes and one column per cluster; cluster ``i``'s ``tail[i]`` (a projection
    to ``in_features // div_value ** (i + 1)`` features, then to the cluster's size) scores
    the classes inside it, so ``log p(c) = head_logprob[cluster of c] + tail_logprob[c]``.

    Args:
        in_features: size of each input sample.
        n_classes: number of classes.
        cutoffs: increasing, unique ints in ``1..n_classes-1`` (``n_classes`` is appended).
        div_value: a positive number; the tails' hidden sizes shrink by it per cluster.
        head_bias: give the head a bias (default False).
        dtype: parameter dtype (default float32).

    Shapes:
        ``forward(input, target)``: input (N, in_features) with integer target (N,), or
        unbatched (in_features,) with target (); returns ``(output, loss)``, a named tuple:
        ``output`` (N,) / () is the log-probability of each target, ``loss`` the mean of
        ``-output``. ``log_prob(input)``: (N, n_classes) / (n_classes,). ``predict(input)``:
        (N,) / () int64 classes.

    Attributes:
        head: ``Linear(in_features, shortlist_size + n_clusters, bias=head_bias)``.
        tail: ``ModuleList`` of ``Sequential(Linear(in_features, hsz, bias=False),
            Linear(hsz, osz, bias=False))``, one per cluster (state_dict keys as PyTorch's:
            ``head.weight``, ``tail.0.0.weight``, ``tail.0.1.weight``...).
        shortlist_size, n_clusters, head_size, cutoffs (with ``n_classes`` appended).

    Differences from PyTorch: errors are chainrule's (a target out of ``0..n_classes-1`` is
    a LabelError, mismatched shapes a ShapeError, bad ``cutoffs`` or ``div_value`` an
    ArgumentError), ``div_value`` is checked, and ``predict`` is the argmax of
    :meth:`log_prob` (PyTorch skips the tails for rows whose head argmax is a shortlist
    class; the classes chosen are the same, ties included).
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Any, div_value: float = 4.0,
                 head_bias: bool = False, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        name = type(self).__name__
        self.in_features = _checks.size(name, "in_features", in_features)
        self.n_classes = _checks.size(name, "n_classes", n_classes, minimum=2)
        self.cutoffs = [*_check_cutoffs(name, cutoffs, self.n_classes), self.n_classes]
        if isinstance(div_value, bool) or not isinstance(
                div_value, int | float | np.integer | np.floating):  # fmt: skip
            raise ModuleTypeError(f"{name}: div_value must be a number, got {div_value!r}")
        if not (math.isfinite(div_value) and div_value > 0):
            raise ArgumentError(f"{name}: div_value must be a finite number > 0, got {div_value}")
        self.div_value = float(div_value)
        self.head_bias = bool(head_bias)
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, dtype=dtype)
        tails = []
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tails.append(Sequential(Linear(self.in_features, hsz, bias=False, dtype=dtype),
                                    Linear(hsz, osz, bias=False, dtype=dtype)))  # fmt: skip
        self.tail = ModuleList(tails)

    def reset_parameters(self) -> None:
        """Re-initialise the head and every tail (PyTorch's ``Linear`` defaults)."""
        self.head.reset_parameters()
        for seq in self.tail:
            for lin in seq:
                lin.reset_parameters()

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_classes={self.n_classes}, "
                f"cutoffs={self.cutoffs[:-1]}, div_value={self.div_value}, "
                f"head_bias={self.head_bias}")  # fmt: skip

    # ---- checks -----------------------------------------------------------------------

    def _input(self, input: Any, what: str) -> tuple[Tensor, bool]:
        """``input`` as a 2-D Tensor and whether it was batched, after the shape checks."""
        x = input if isinstance(input, Tensor) else Tensor(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"{type(self).__name__}.{what}: input shape {x.shape} does not fit: expected "
                f"(N, {self.in_features}) or unbatched ({self.in_features},)"
            )
        return (x, True) if x.ndim == 2 else (ops.reshape(x, (1, -1)), False)

    def _target(self, target: Any, x: Tensor, batched: bool) -> Any:
        """The checked int64 labels (N,) on ``x``'s device."""
        name = type(self).__name__
        t = backend.to_device_of(F._data(target), x.data)
        if t.dtype.kind not in "iu":
            raise LabelError(f"{name}: target must have an integer dtype, got {t.dtype} of "
                             f"shape {t.shape}")  # fmt: skip
        want = (x.shape[0],) if batched else ()
        if t.shape != want:
            raise ShapeError(
                f"{name}: target shape {t.shape} does not match input shape "
                f"{x.shape if batched else x.shape[1:]}: expected "
                f"{'(N,) with the same N as the input' if batched else '() for an unbatched input'}"
            )
        t = t.reshape(-1).astype(np.int64, copy=False)
        if t.size:
            lo, hi = int(t.min()), int(t.max())
            bad = lo if lo < 0 else hi if hi >= self.n_classes else None
            if bad is not None:
                raise LabelError(
                    f"{name}: target {bad} is outside the valid range "
                    f"0..{self.n_classes - 1} (n_classes={self.n_classes})"
                )
        return t

    # ---- the computation --------------------------------------------------------------

    def forward(self, input: Any, target: Any) -> _ASMoutput:
        """``(output, loss)``: the log-probability of each target and the mean of its
        negative, by PyTorch's algorithm (each cluster's tail runs on its rows only)."""
        x, batched = self._input(input, "forward")
        t = self._target(target, x, batched)
        xp = backend.array_module(t)
        n = t.shape[0]
        head_logprob = F.log_softmax(self.head(x), dim=1)
        # the head column of each target: its own class, or its cluster's column
        gather_inds = t.copy()
        parts = []
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            rows = xp.nonzero((t >= low) & (t < high))[0]
            if rows.size == 0:
                continue
            gather_inds[rows] = self.shortlist_size + i
            cluster_logprob = F.log_softmax(self.tail[i](x[rows]), dim=1)
            local = ops.gather(cluster_logprob, 1, (t[rows] - low)[:, None])
            parts.append(ops.scatter_add((n,), rows, ops.reshape(local, (-1,))))
        output = ops.reshape(ops.gather(head_logprob, 1, gather_inds[:, None]), (-1,))
        for part in parts:
            output = output + part
        loss = ops.mean(-output)
        return _ASMoutput(output if batched else ops.reshape(output, ()), loss)

    def _full_log_prob(self, x: Tensor) -> Tensor:
        head_logprob = F.log_softmax(self.head(x), dim=1)
        cols = [head_logprob[:, : self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](x), dim=1)
            col = self.shortlist_size + i
            cols.append(cluster_logprob + head_logprob[:, col : col + 1])
        return ops.concatenate(cols, axis=1)

    def log_prob(self, input: Any) -> Tensor:
        """Log-probabilities of every class: (N, n_classes), or (n_classes,) unbatched."""
        x, batched = self._input(input, "log_prob")
        out = self._full_log_prob(x)
        return out if batched else ops.reshape(out, (self.n_classes,))

    def predict(self, input: Any) -> Tensor:
        """The most likely class of each sample, (N,) int64 (() unbatched): the argmax of
        :meth:`log_prob` (the same classes as PyTorch's shortcut through the head)."""
        x, batched = self._input(input, "predict")
        with no_grad():
            out = ops.argmax(self._full_log_prob(x), axis=1)
        return out if batched else ops.reshape(out, ())


def _check_cutoffs(name: str, cutoffs: Any, n_classes: int) -> list[int]:
    """``cutoffs`` as a list of ints, after PyTorch's checks: a non-empty sequence of
    unique ints sorted in increasing order, each in ``1..n_classes-1``."""
    if isinstance(cutoffs, str) or not isinstance(cutoffs, list | tuple | range | np.ndarray):
        raise ModuleTypeError(f"{name}: cutoffs must be a sequence of ints, got {cutoffs!r}")
    values = list(cutoffs.tolist() if isinstance(cutoffs, np.ndarray) else cutoffs)
    if not values:
        raise ArgumentError(f"{name}: cutoffs must be a sequence of length larger than 0")
    if not all(_checks.is_int(c) for c in values):
        raise ArgumentError(f"{name}: cutoffs must be ints, got {values!r}")
    values = [int(c) for c in values]
    if values != sorted(values) or len(set(values)) != len(values):
        raise ArgumentError(f"{name}: cutoffs must be unique and sorted in increasing order, "
                            f"got {values}")  # fmt: skip
    bad = [c for c in values if not 1 <= c <= n_classes - 1]
    if bad:
        raise ArgumentError(f"{name}: cutoffs must lie in 1..n_classes-1 = 1..{n_classes - 1}, "
                            f"got {bad} in {values}")  # fmt: skip
    return values
