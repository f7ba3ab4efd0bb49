"""Weight averaging: stochastic weight averaging (SWA, Izmailov et al., 2018) and
exponential moving averages (EMA) of a model's weights, as ``torch.optim.swa_utils``.

``AveragedModel(model)`` keeps a deep copy of ``model`` whose weights are a running
average of the weights ``model`` passes through (``update_parameters(model)`` after each
epoch, or each step); ``SWALR`` anneals the learning rate to a constant while averaging;
``update_bn(loader, averaged)`` recomputes BatchNorm statistics for the averaged weights::

    swa_model = cr.optim.swa_utils.AveragedModel(model)
    swa_sched = cr.optim.swa_utils.SWALR(opt, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, opt)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_sched.step()
        else:
            sched.step()
    cr.optim.swa_utils.update_bn(loader, swa_model)
    predictions = swa_model(x)

An EMA of the weights (and buffers) instead::

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import no_grad
from chainrule.errors import ShapeError
from chainrule.nn.layers import _BatchNorm, _InstanceNorm
from chainrule.nn.module import Module
from chainrule.optim.adam import lerp_
from chainrule.optim.lr_scheduler import LRScheduler, _check_int, _check_optimizer, _per_group
from chainrule.optim.optimizer import Optimizer, OptimizerError, check_number
from chainrule.tensor import Tensor

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

AvgFn = Callable[[Tensor, Tensor, Any], Any]
MultiAvgFn = Callable[[list[Tensor], list[Tensor], Any], None]


def _check_decay(decay: Any) -> float:
    check_number("decay", decay, 0.0, 1.0)
    return float(decay)


def _count(num_averaged: Any) -> int:
    """The number of models averaged so far, from a Tensor (``n_averaged``) or an int."""
    return int(num_averaged.item() if isinstance(num_averaged, Tensor) else num_averaged)


def _assign(dst: Any, value: Any) -> None:
    """``dst[...] = value``, a float written to an integer array truncated towards zero
    (as torch's ``copy_``)."""
    if dst.dtype.kind in "iub" and getattr(value, "dtype", np.dtype(float)).kind == "f":
        value = backend.array_module(dst).trunc(value)
    dst[...] = value


def _ema_(avg: Any, cur: Any, decay: float) -> None:
    """``avg <- decay * avg + (1 - decay) * cur`` in place (a lerp for floating arrays,
    rounded as ``torch.lerp``; integer arrays in float32 and truncated, as torch)."""
    if avg.dtype.kind in "fc":
        lerp_(avg, cur, 1 - decay, backend.array_module(avg).empty_like(avg))
    else:
        f32 = np.float32
        _assign(avg, avg.astype(f32) * f32(decay) + cur.astype(f32) * f32(1 - decay))


def _swa_(avg: Any, cur: Any, n: int) -> None:
    """``avg <- avg + (cur - avg) / (n + 1)`` in place, the equal-weight running mean of
    ``n + 1`` values (integer arrays in float32 and truncated, as torch)."""
    if avg.dtype.kind in "fc":
        t = cur - avg
        t /= n + 1
        avg += t
    else:
        f32 = np.float32
        _assign(avg, avg.astype(f32) + (cur - avg).astype(f32) / f32(n + 1))


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """An exponential moving average for :class:`AveragedModel`'s ``multi_avg_fn``:
    ``avg <- decay * avg + (1 - decay) * current`` for every tensor of the list, in place
    (``decay`` in [0, 1]; rounded as ``torch.lerp`` with weight ``1 - decay``)."""
    decay = _check_decay(decay)

    def ema_update(averaged: list[Tensor], current: list[Tensor], num_averaged: Any) -> None:
        for a, c in zip(averaged, current, strict=True):
            _ema_(a.data, c.data, decay)

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The equal-weight average for :class:`AveragedModel`'s ``multi_avg_fn``: every
    tensor in place, ``avg <- lerp(avg, current, 1 / (num_averaged + 1))`` (rounded as
    torch's ``_foreach_lerp_``; integer tensors, which torch refuses here, as the default
    average: ``avg + (current - avg) / (num_averaged + 1)``, truncated)."""

    def swa_update(averaged: list[Tensor], current: list[Tensor], num_averaged: Any) -> None:
        n = _count(num_averaged)
        for a, c in zip(averaged, current, strict=True):
            if a.data.dtype.kind in "fc":
                lerp_(a.data, c.data, 1 / (n + 1), backend.array_module(a.data).empty_like(a.data))
            else:
                _swa_(a.data, c.data, n)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """An exponential moving average for :class:`AveragedModel`'s ``avg_fn``: returns
    ``decay * averaged + (1 - decay) * current`` (a new Tensor)."""
    decay = _check_decay(decay)

    def ema_update(averaged: Tensor, current: Tensor, num_averaged: Any) -> Tensor:
        return decay * averaged + (1 - decay) * current

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The equal-weight average for :class:`AveragedModel`'s ``avg_fn``: returns
    ``averaged + (current - averaged) / (num_averaged + 1)`` (a new Tensor)."""

    def swa_update(averaged: Tensor, current: Tensor, num_averaged: Any) -> Tensor:
        return averaged + (current - averaged) / (_count(num_averaged) + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of a model whose weights are a running average of the model's weights
    (``torch.optim.swa_utils.AveragedModel``).

    ``AveragedModel(model, device=None, avg_fn=None, multi_avg_fn=None,
    use_buffers=False)`` deep-copies ``model`` into ``self.module`` (moved to ``device``,
    "cpu" or "cuda", if given) and registers the buffer ``n_averaged`` (an int64 scalar,
    0), so ``state_dict()`` has the keys ``n_averaged`` and ``module.<name>``, as in
    PyTorch. Calling it calls the copy.

    ``update_parameters(model)`` copies ``model``'s parameters the first time, then
    averages them in: by default with equal weights (SWA; ``avg + (cur - avg) / (n + 1)``,
    torch's formula on the CPU, used on every device), otherwise with
    ``avg_fn(averaged, current, n_averaged)``, which returns the new value of one tensor,
    or ``multi_avg_fn(averaged_list, current_list, n_averaged)``, which updates the
    ``.data`` of a list of tensors (those of one device and dtype) in place; see
    :func:`get_ema_multi_avg_fn` and friends. With ``use_buffers=True`` the buffers
    (BatchNorm statistics) are averaged with the parameters; otherwise they are copied
    from ``model`` on every call. Then ``n_averaged`` grows by one.
    """

    def __init__(
        self,
        model: Module,
        device: str | None = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(model, Module):
            raise OptimizerError(
                f"AveragedModel needs a chainrule Module, got {type(model).__name__}"
            )
        if avg_fn is not None and multi_avg_fn is not None:
            raise OptimizerError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise OptimizerError(f"AveragedModel: {name} must be callable, got {fn!r}")
        if not isinstance(use_buffers, bool):
            raise OptimizerError(f"AveragedModel: use_buffers must be a bool, got {use_buffers!r}")
        self.module = copy.deepcopy(model)
        n_averaged = np.zeros((), dtype=np.int64)
        if device is not None:
            self.module.to(device=device)
            n_averaged = backend.to_device(n_averaged, device)
        self.register_buffer("n_averaged", n_averaged)
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _pairs(self, model: Module, buffers: bool) -> list[tuple[Tensor, Any]]:
        """(tensor of the copy, array of ``model`` on the copy's device) for every
        parameter (or buffer), after checking that the two models match."""
        kind = "buffers" if buffers else "parameters"
        mine = list(self.module.buffers() if buffers else self.module.parameters())
        theirs = list(model.buffers() if buffers else model.parameters())
        if len(mine) != len(theirs):
            raise OptimizerError(
                f"AveragedModel.update_parameters: the model has {len(theirs)} {kind}, the "
                f"averaged copy {len(mine)} (is it the model the copy was made from?)"
            )
        pairs = []
        for i, (a, b) in enumerate(zip(mine, theirs)):
            if a.shape != b.shape:
                raise ShapeError(
                    f"AveragedModel.update_parameters: {kind[:-1]} {i} has shape {b.shape} "
                    f"in the model but {a.shape} in the averaged copy"
                )
            pairs.append((a, backend.to_device_of(b.data, a.data)))
        return pairs

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current parameters (and, with ``use_buffers``, buffers)
        into the copy's; see the class docstring."""
        if not isinstance(model, Module):
            raise OptimizerError(
                "AveragedModel.update_parameters needs a chainrule Module, got "
                f"{type(model).__name__}"
            )
        pairs = self._pairs(model, False)
        if self.use_buffers:
            pairs += self._pairs(model, True)
        n = int(self.n_averaged.item())
        with no_grad():
            if n == 0:
                for a, b in pairs:
                    _assign(a.data, b)
            elif self.avg_fn is not None:
                for a, b in pairs:
                    out = self.avg_fn(a.detach(), Tensor(b), self.n_averaged)
                    _assign(a.data, out.data if isinstance(out, Tensor) else out)
            elif self.multi_avg_fn is not None:
                groups: dict[tuple, tuple[list, list]] = {}
                for a, b in pairs:
                    key = (a.device, a.dtype.str)
                    mine, theirs = groups.setdefault(key, ([], []))
                    mine.append(a.detach())
                    theirs.append(Tensor(b))
                for mine, theirs in groups.values():
                    self.multi_avg_fn(mine, theirs, self.n_averaged)
            else:
                for a, b in pairs:
                    _swa_(a.data, b, n)
        for a, _ in pairs:
            a._version[0] += 1  # written in place: stale graphs notice
        if not self.use_buffers:
            for a, b in self._pairs(model, True):
                _assign(a.data, b)
        self.n_averaged.data += 1


def update_bn(loader: Iterable[Any], model: Module, device: str | None = None) -> None:
    """Recompute the running statistics of every BatchNorm layer of ``model`` with one
    pass over ``loader`` (``torch.optim.swa_utils.update_bn``): the statistics are reset,
    each layer's momentum is set to None (a cumulative average over the batches: the
    running mean is the mean of the batch means, the running variance the mean of the
    unbiased batch variances), ``model`` is run in training mode without recording a
    graph, and then the momenta and the training mode are restored (also if the pass
    fails). A batch may be a Tensor or a list or tuple whose first element is the input;
    ``device`` moves each input there first. InstanceNorm layers are left alone, as in
    PyTorch. A model without BatchNorm is not run at all.
    """
    if not isinstance(model, Module):
        raise OptimizerError(f"update_bn needs a chainrule Module, got {type(model).__name__}")
    layers = [
        m for m in model.modules() if isinstance(m, _BatchNorm) and not isinstance(m, _InstanceNorm)
    ]
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, list | tuple):
                    batch = batch[0]
                if device is not None:
                    if isinstance(batch, Tensor):
                        batch = batch.to(device)
                    else:
                        batch = Tensor(backend.to_device(np.asarray(batch), device))
                model(batch)
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's rate to ``swa_lr`` over ``anneal_epochs`` epochs, then hold it
    (``torch.optim.swa_utils.SWALR``); meant for the averaging phase of SWA.

    ``swa_lr`` is one rate for all groups or a list of one per group (stored as
    ``group["swa_lr"]``); ``anneal_strategy`` is "cos" (``(1 - cos(pi t)) / 2``) or
    "linear" (``t``), for ``t`` the fraction of the annealing done; ``anneal_epochs=0``
    switches to ``swa_lr`` at the first step. Like torch it works from the current rate
    (it can follow another schedule, or a rate changed by hand), so the rates match
    torch's bit for bit. ``state_dict()`` holds numbers and the strategy's name.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        swa_lrs = _per_group("swa_lr", swa_lr, optimizer.param_groups)
        if anneal_strategy not in ("cos", "linear"):
            raise OptimizerError(
                f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_epochs = _check_int("anneal_epochs", anneal_epochs, minimum=0)
        self._anneal_strategy = anneal_strategy
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t: float) -> float:
        """The fraction of the way from the starting rate to ``swa_lr`` at ``t``."""
        if self._anneal_strategy == "cos":
            return (1 - math.cos(math.pi * t)) / 2
        return t

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        """The starting rate that ``lr = swa_lr * alpha + start * (1 - alpha)`` implies."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / span)))
        groups = self.optimizer.param_groups
        starts = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        alpha = self.anneal_func(max(0, min(1, step / span)))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, starts)]
