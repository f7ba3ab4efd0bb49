# ruff: noqa: A002  (PyTorch's argument name `input`)
"""Loss modules: ``loss_fn(input, target)`` -> a scalar (``reduction="mean"`` or ``"sum"``)
or per-element losses (``"none"``), with PyTorch's semantics (see ``nn.functional``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss", "CrossEntropyLoss",
    "GaussianNLLLoss", "HingeEmbeddingLoss", "HingeLoss", "HuberLoss", "KLDivLoss", "L1Loss",
    "MSELoss", "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
    "MultiMarginLoss", "NLLLoss", "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss",
    "TripletMarginLoss", "TripletMarginWithDistanceLoss",
]  # fmt: skip


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error; input and target of one shape (*); "none" returns (*)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; input and target of one shape (*); "none" returns (*)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Squared error below ``delta``, linear above (PyTorch's ``HuberLoss``); input and
    target of one shape (*); "none" returns (*)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    """``0.5 d^2 / beta`` below ``beta``, ``|d| - 0.5 beta`` above (PyTorch's
    ``SmoothL1Loss``); input and target of one shape (*); "none" returns (*)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(Module):
    """KL divergence of ``target`` (probabilities, or log-probabilities with
    ``log_target=True``) from ``input`` log-probabilities; one shape (*). ``reduction`` also
    takes "batchmean" (sum / batch size: the KL divergence per sample)."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        if reduction not in ("mean", "batchmean", "sum", "none"):
            raise F.ArgumentError(f"KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' "
                                  f"or 'none', got {reduction!r}")  # fmt: skip
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MarginRankingLoss(_Loss):
    """``max(0, -target * (input1 - input2) + margin)``; ``forward(input1, input2, target)``,
    all of one shape (*), targets 1 or -1."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)  # fmt: skip


class SoftMarginLoss(_Loss):
    """``log(1 + exp(-target * input))``, targets 1 or -1 of input's shape (*)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood of counts ``target`` with rate ``exp(input)``
    (``log_input=True``) or ``input``; ``full`` adds Stirling's term. One shape (*)."""

    def __init__(self, log_input: bool = True, full: bool = False, eps: float = 1e-8,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.poisson_nll_loss(input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)  # fmt: skip


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood of ``target`` with mean ``input`` and variance
    ``var``: ``forward(input, target, var)``; input and target (*), var (*) or with the last
    axis 1 or dropped."""

    def __init__(self, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Any, target: Any, var: Any) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)  # fmt: skip


class CosineEmbeddingLoss(_Loss):
    """``1 - cos(x1, x2)`` for pairs labelled 1, ``max(0, cos(x1, x2) - margin)`` for pairs
    labelled -1: ``forward(x1, x2, target)`` with x1, x2 (N, D) or (D,), target (N,) or ()."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)  # fmt: skip


class HingeEmbeddingLoss(_Loss):
    """``x`` for pairs labelled 1, ``max(0, margin - x)`` for pairs labelled -1 (``x`` a
    distance); input and target of one shape (*)."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(d(anchor, positive) - d(anchor, negative) + margin, 0)`` with the ``p``-norm
    distance; ``forward(anchor, positive, negative)``, each (N, D) or (D,)."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return F.triplet_margin_loss(
            anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
            swap=self.swap, reduction=self.reduction,
        )  # fmt: skip


class TripletMarginWithDistanceLoss(_Loss):
    """``max(d(anchor, positive) - d(anchor, negative) + margin, 0)`` with any distance
    ``d = distance_function(x1, x2)`` (None: ``F.pairwise_distance``, Euclidean);
    ``swap`` uses ``min(d(a, n), d(p, n))``. ``forward(anchor, positive, negative)``, each
    of one number of dimensions ((N, D) or (D,) for the default distance); "none" returns
    the distances' shape. Keyword-only arguments, as PyTorch's."""

    def __init__(self, *, distance_function: Any = None, margin: float = 1.0,
                 swap: bool = False, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(reduction)
        name = type(self).__name__
        if distance_function is not None and not callable(distance_function):
            raise F.ArgumentError(f"{name}: distance_function must be callable or None, got "
                                  f"{distance_function!r}")  # fmt: skip
        number = isinstance(margin, int | float | np.integer | np.floating)
        if isinstance(margin, bool) or not number or not margin > 0:
            raise F.ArgumentError(f"{name}: margin must be a number > 0, got {margin!r}")
        self.distance_function = distance_function
        self.margin, self.swap = margin, swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction,
        )  # fmt: skip


def _as_buffer(weight: Any) -> Tensor | None:
    return weight if weight is None or isinstance(weight, Tensor) else Tensor(weight)


class _WeightedLoss(_Loss):
    """A loss with PyTorch's optional ``weight``, kept as a buffer (in ``state_dict``, moved
    by ``to``)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-label binary cross-entropy from logits, averaged over the C labels: input
    (N, C) or (C,), 0/1 targets of its shape, ``weight`` (C,); "none" returns (N,)."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """The multi-class hinge loss (PyTorch's ``nn.MultiMarginLoss``): scores (N, C) or (C,),
    integer labels (N,) or (); per sample, the sum over wrong classes of
    ``w[y] * max(0, margin - x[y] + x[i]) ** p`` over C. ``p`` 1 or 2; "none" gives (N,)."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, reduction)
        self.p, self.margin = p, margin

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                   reduction=self.reduction)  # fmt: skip


class MultiLabelMarginLoss(_Loss):
    """The multi-label hinge loss (PyTorch's ``nn.MultiLabelMarginLoss``): scores (N, C) or
    (C,), integer targets of the same shape listing each sample's classes up to the first
    negative entry; per sample, the sum over listed classes ``j`` and unlisted ``i`` of
    ``max(0, 1 - (x[j] - x[i]))`` over C. "none" gives (N,) or ()."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits (N, C), (N, C, d1, ...) or unbatched (C,) against integer
    labels (N,), (N, d1, ...) or () or class probabilities shaped like the logits;
    log-softmax is fused in, so it is finite for any logits. Its gradient is
    ``softmax - onehot`` (scaled by the reduction). "none" returns (N,), (N, d1, ...) or
    (). ``weight`` (C,), ``ignore_index`` and ``label_smoothing`` as PyTorch's (see
    ``nn.functional.cross_entropy``)."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:  # fmt: skip
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = F._check_smoothing(type(self).__name__, label_smoothing)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        extra = "" if self.ignore_index == -100 else f", ignore_index={self.ignore_index}"
        if self.label_smoothing:
            extra += f", label_smoothing={self.label_smoothing}"
        return super().extra_repr() + extra


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C), (N, C, d1, ...) or unbatched
    (C,) at integer labels (N,), (N, d1, ...) or (); "none" returns the labels' shape.
    ``weight`` (C,) and ``ignore_index`` as PyTorch's."""

    def __init__(self, weight: Any = None, *, ignore_index: int = -100,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)  # fmt: skip


class CTCLoss(_Loss):
    """The connectionist temporal classification loss (PyTorch's ``CTCLoss``): called
    with ``(log_probs, targets, input_lengths, target_lengths)``, log-probabilities (T, N, C)
    or unbatched (T, C), targets padded (N, S) or concatenated ``(sum(target_lengths),)``,
    lengths (N,); "mean" divides each sample's loss by its target length, then averages;
    "none" returns (N,). ``zero_infinity`` zeroes impossible alignments' infinite losses
    (see :func:`chainrule.nn.functional.ctc_loss`)."""

    def __init__(self, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> None:  # fmt: skip
        super().__init__(reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Any, targets: Any, input_lengths: Any,
                target_lengths: Any) -> Tensor:  # fmt: skip
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                          reduction=self.reduction, zero_infinity=self.zero_infinity)  # fmt: skip

    def extra_repr(self) -> str:
        return f"blank={self.blank}, " + super().extra_repr() + (
            f", zero_infinity={self.zero_infinity}")  # fmt: skip


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100, as torch);
    input and target of one shape (*); "none" returns (*). ``weight`` (broadcast to the
    input's shape) scales each element's loss."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy from logits, stable for any logit; input and target of one
    shape (*); "none" returns (*). ``weight`` scales each element's loss, ``pos_weight``
    (e.g. (C,) for (N, C) logits) the positive term, as PyTorch's."""

    def __init__(self, weight: Any = None, *, reduction: str = "mean",
                 pos_weight: Any = None) -> None:  # fmt: skip
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)  # fmt: skip


class HingeLoss(_Loss):
    """1-D scores with targets in {-1, +1}: ``max(0, margin - t*y)``; (N, C) scores with
    integer labels: PyTorch's ``MultiMarginLoss`` (sum over wrong classes, divided by C)."""

    def __init__(self, reduction: str = "mean", margin: float = 1.0) -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.hinge_loss(input, target, reduction=self.reduction, margin=self.margin)
