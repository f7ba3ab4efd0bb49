"""Learning-rate schedules, with PyTorch's semantics.

A scheduler changes ``optimizer.param_groups[i]["lr"]``; call ``scheduler.step()`` once
per epoch, after that epoch's ``optimizer.step()`` calls (``ReduceLROnPlateau`` takes the
monitored metric: ``scheduler.step(val_loss)``; ``OneCycleLR`` is stepped after every
batch, and ``CosineAnnealingWarmRestarts`` may be, with fractional epochs).
``get_last_lr()`` lists the rates it set last, ``last_epoch`` counts its steps, and
``state_dict()`` / ``load_state_dict()`` save and restore it (plain Python numbers only).
Making a scheduler records each group's starting rate as ``group["initial_lr"]``.

The epoch-to-epoch (chainable) formulas are torch's, so rates match torch's to the last
bit. ``step(epoch)`` (deprecated in torch) jumps to ``epoch`` with the closed form.
"""

from __future__ import annotations

import bisect
import math
import types
from typing import Any

from chainrule.optim.optimizer import Optimizer, OptimizerError, check_number


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise OptimizerError(
            f"a scheduler needs a chainrule optimiser, got {type(optimizer).__name__}"
        )


def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` after checking it is an int (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise OptimizerError(f"{name} must be {what}, got {value!r}")
    return value


class LRScheduler:
    """Base class of the epoch-indexed schedules (all but ReduceLROnPlateau).

    Subclasses define ``get_lr()`` (the rates for ``last_epoch`` given the current
    ones) and ``_closed_form_lr()`` (the rates for ``last_epoch`` from ``base_lrs``).
    ``last_epoch=-1`` starts fresh; another value resumes and needs ``"initial_lr"`` in
    every group.
    """

    per_batch = False  # stepped once per batch rather than per epoch (``fit`` reads this)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise OptimizerError(
                        f"param_groups[{i}] has no 'initial_lr', needed to resume a scheduler "
                        "with last_epoch >= 0 (load the optimiser's state dict first)"
                    )
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._is_initial = False
        self._initial_step()

    def _initial_step(self) -> None:
        """The step a scheduler takes when it is made (or restarted by SequentialLR)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def _closed_form_lr(self) -> list[float]:
        """The rates for ``last_epoch`` from ``base_lrs``; schedules whose ``get_lr`` needs
        no history use it as is (PyTorch's fallback)."""
        return self.get_lr()

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or, deprecated, jump to ``epoch``) and set the new rates."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = int(epoch)
            values = self._closed_form_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates (one per group) this scheduler set last."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimiser (numbers and lists of numbers)."""
        return {
            k: (list(v) if isinstance(v, list) else v)
            for k, v in self.__dict__.items()
            if k != "optimizer"
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state_dict, dict):
            raise OptimizerError(f"{type(self).__name__}.load_state_dict needs a dict")
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "optimizer"})


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs:
    ``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _check_int("step_size", step_size)
        check_number("gamma", gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: ``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        check_number("gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (SGDR without restarts) from ``initial_lr`` down to ``eta_min``
    over ``T_max`` epochs: ``lr = eta_min + (initial_lr - eta_min)(1 + cos(π·epoch/T_max))/2``.

    Like torch it uses the recursive form, so past ``T_max`` the rate climbs back up
    (a cosine of period ``2·T_max``), and it follows changes made to ``lr`` by hand.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _check_int("T_max", T_max)
        check_number("eta_min", eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        e, t, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [g["lr"] for g in groups]
        if self._step_count == 1 and e > 0:
            return [eta + (b - eta) * (1 + math.cos(e * math.pi / t)) / 2 for b in self.base_lrs]
        if (e - 1 - t) % (2 * t) == 0:
            return [
                g["lr"] + (b - eta) * (1 - math.cos(math.pi / t)) / 2
                for b, g in zip(self.base_lrs, groups)
            ]
        return [
            (1 + math.cos(math.pi * e / t))
            / (1 + math.cos(math.pi * (e - 1) / t))
            * (g["lr"] - eta)
            + eta
            for g in groups
        ]

    def _closed_form_lr(self) -> list[float]:
        e, t, eta = self.last_epoch, self.T_max, self.eta_min
        return [eta + (b - eta) * (1 + math.cos(math.pi * e / t)) / 2 for b in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter): cosine annealing from ``initial_lr`` to ``eta_min`` over
    ``T_i`` epochs, then a restart, with ``T_0`` for the first cycle and each next cycle
    ``T_mult`` times longer: ``lr = eta_min + (initial_lr - eta_min)(1 + cos(π·T_cur/T_i))/2``.
    ``step(epoch)`` takes fractional epochs (``step(epoch + i / batches)`` anneals per
    batch), as PyTorch's."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_int("T_0", T_0)
        _check_int("T_mult", T_mult)
        check_number("eta_min", eta_min)
        self.T_0, self.T_i, self.T_mult = T_0, T_0, T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        eta = self.eta_min
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return [eta + (b - eta) * (1 + cos) / 2 for b in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to ``epoch`` (a float: fractions of an epoch count)."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            check_number("epoch", epoch)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:  # the cycle that contains epoch, and how far into it
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per *batch*: the rate rises from
    ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``
    (or ``epochs * steps_per_epoch``), then falls to ``initial_lr / final_div_factor``
    (``three_phase``: back to the start first, then down); with ``cycle_momentum`` the
    momentum (Adam's beta1) moves the opposite way between ``max_momentum`` and
    ``base_momentum``. ``anneal_strategy`` "cos" or "linear". PyTorch's semantics and
    arguments; stepping past ``total_steps`` is an error. ``cr.train.fit`` steps it after
    every batch."""

    per_batch = True

    def __init__(self, optimizer: Optimizer, max_lr: Any, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: Any = 0.85,
                 max_momentum: Any = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_optimizer(optimizer)
        self.total_steps = _one_cycle_steps(total_steps, epochs, steps_per_epoch)
        check_number("pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise OptimizerError(
                f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        for name, factor in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            check_number(name, factor)
            if factor <= 0:
                raise OptimizerError(f"{name} must be positive, got {factor}")
        self.anneal_strategy = anneal_strategy
        n = self.total_steps
        # (end step, start rate, end rate, start momentum, end momentum) per phase
        if three_phase:
            self.phases = [
                [float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum",
                 "max_momentum"],
                [n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]  # fmt: skip
        else:
            self.phases = [
                [float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]  # fmt: skip
        groups = optimizer.param_groups
        max_lrs = _per_group("max_lr", max_lr, groups)
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum:
            _check_cycle_momentum("OneCycleLR", optimizer)
            highs = _per_group("max_momentum", max_momentum, groups)
            lows = _per_group("base_momentum", base_momentum, groups)
            if last_epoch == -1:
                for group, high, low in zip(groups, highs, lows):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, value: float) -> None:
        _set_momentum(group, value, self.use_beta1)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise OptimizerError(
                f"OneCycleLR stepped {step} times, past its total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr0], group[lr1], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
                    break
                start_step = end_step
        return lrs


def _set_momentum(group: dict, value: float, use_beta1: bool) -> None:
    """Set a group's momentum: SGD's ``momentum``, or Adam's ``beta1``."""
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _check_cycle_momentum(owner: str, optimizer: Optimizer) -> bool:
    """Whether the optimiser's momentum is Adam's beta1 (else SGD's momentum); an error if
    it has neither."""
    use_beta1 = "betas" in optimizer.defaults
    if "momentum" not in optimizer.defaults and not use_beta1:
        raise OptimizerError(f"{owner}: cycle_momentum needs an optimiser with momentum or "
                             f"betas; {type(optimizer).__name__} has neither (pass "
                             "cycle_momentum=False)")  # fmt: skip
    return use_beta1


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), stepped once per *batch*: the rate moves
    linearly from ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back down
    over ``step_size_down`` (default the same), cycle after cycle; ``mode`` scales each
    cycle's height: "triangular" (constant), "triangular2" (halved each cycle),
    "exp_range" (``gamma ** step``), or ``scale_fn(x)`` of the cycle number or the step
    (``scale_mode``). With ``cycle_momentum`` the momentum (Adam's beta1) moves the other
    way between ``max_momentum`` and ``base_momentum``. PyTorch's semantics and arguments;
    ``cr.train.fit`` steps it after every batch."""

    per_batch = True
    _MODES = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}

    def __init__(self, optimizer: Optimizer, base_lr: Any, max_lr: Any, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Any = None, scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: Any = 0.8, max_momentum: Any = 0.9,
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_optimizer(optimizer)
        groups = optimizer.param_groups
        base_lrs = _per_group("base_lr", base_lr, groups)
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs):
                group["lr"] = lr
        self.max_lrs = _per_group("max_lr", max_lr, groups)
        up = float(_check_int("step_size_up", step_size_up))
        down = up if step_size_down is None else float(_check_int("step_size_down", step_size_down))
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if scale_fn is None and mode not in self._MODES:
            raise OptimizerError(f"mode must be one of {sorted(self._MODES)} (or give scale_fn), "
                                 f"got {mode!r}")  # fmt: skip
        if scale_mode not in ("cycle", "iterations"):
            raise OptimizerError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        check_number("gamma", gamma)
        self.mode, self.gamma, self.scale_fn = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else self._MODES[mode]
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _check_cycle_momentum("CyclicLR", optimizer)
            self.base_momentums = _per_group("base_momentum", base_momentum, groups)
            self.max_momentums = _per_group("max_momentum", max_momentum, groups)
            if last_epoch == -1:
                for group, high, low in zip(groups, self.max_momentums, self.base_momentums):
                    _set_momentum(group, high, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _scale(self, x: float) -> float:
        if self.scale_fn is not None:
            return self.scale_fn(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self._scale(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [low + (high - low) * factor * scale
               for low, high in zip(self.base_lrs, self.max_lrs)]  # fmt: skip
        if self.cycle_momentum:
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums):  # fmt: skip
                _set_momentum(group, high - (high - low) * factor * scale, self.use_beta1)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """As the base's; a ``scale_fn`` function is left out (callable objects keep their
        attributes), as PyTorch's."""
        state = {k: v for k, v in super().state_dict().items() if k != "scale_fn"}
        fn = self.scale_fn
        state["scale_fn"] = None if fn is None or isinstance(fn, types.FunctionType) else (
            dict(vars(fn)))  # fmt: skip
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise OptimizerError("CyclicLR.load_state_dict needs a dict")
        attrs = state_dict.get("scale_fn")
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "scale_fn"})
        if attrs is not None and self.scale_fn is not None:
            vars(self.scale_fn).update(attrs)


def _one_cycle_steps(total_steps: Any, epochs: Any, steps_per_epoch: Any) -> int:
    if total_steps is not None:
        return _check_int("total_steps", total_steps)
    if epochs is not None and steps_per_epoch is not None:
        return _check_int("epochs", epochs) * _check_int("steps_per_epoch", steps_per_epoch)
    raise OptimizerError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")


def _per_group(name: str, value: Any, groups: list) -> list[float]:
    """``value`` for each parameter group: one number for all, or a list of one each."""
    values = list(value) if isinstance(value, list | tuple) else [value] * len(groups)
    if len(values) != len(groups):
        raise OptimizerError(f"{name}: expected {len(groups)} values, got {len(values)}")
    for v in values:
        check_number(name, v)
    return [float(v) for v in values]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch in ``milestones`` (a milestone listed
    twice multiplies twice): ``lr = initial_lr * gamma ** (milestones passed)``."""

    def __init__(self, optimizer: Optimizer, milestones: Any, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:  # fmt: skip
        try:
            steps = sorted(milestones)
        except TypeError:
            steps = None
        if steps is None or not all(
            isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in steps
        ):
            raise OptimizerError(f"milestones must be ints >= 0, got {milestones!r}")
        check_number("gamma", gamma)
        self.milestones = steps  # a sorted list (repeats kept): plain numbers in state_dict
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma**hits for g in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [b * self.gamma**passed for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor * initial_lr`` to
    ``end_factor * initial_lr`` over ``total_iters`` epochs (a warm-up), then keep it."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1) -> None:  # fmt: skip
        check_number("start_factor", start_factor)
        check_number("end_factor", end_factor)
        if not 0 < start_factor <= 1:
            raise OptimizerError(f"start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise OptimizerError(f"end_factor must be in [0, 1], got {end_factor}")
        _check_int("total_iters", total_iters)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [g["lr"] for g in groups]
        a, b, n = self.start_factor, self.end_factor, self.total_iters
        ratio = 1.0 + (b - a) / (n * a + (self.last_epoch - 1) * (b - a))  # torch's chain
        return [g["lr"] * ratio for g in groups]

    def _closed_form_lr(self) -> list[float]:
        a, b, n = self.start_factor, self.end_factor, self.total_iters
        factor = a + (b - a) * min(n, self.last_epoch) / n
        return [base * factor for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiply the rate by ``factor`` for the first ``total_iters`` epochs, then restore
    it (a constant warm-up): ``lr = initial_lr * factor`` while ``epoch < total_iters``."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:  # fmt: skip
        check_number("factor", factor)
        if not 0 < factor <= 1:
            raise OptimizerError(f"factor must be in (0, 1], got {factor}")
        self.factor, self.total_iters = factor, _check_int("total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return [g["lr"] for g in groups]
        return [g["lr"] * (1.0 / self.factor) for g in groups]

    def _closed_form_lr(self) -> list[float]:
        f = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * f for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the rate to 0 over ``total_iters`` epochs:
    ``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:  # fmt: skip
        check_number("power", power)
        self.total_iters, self.power = _check_int("total_iters", total_iters), power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial or self.last_epoch > self.total_iters:
            return [g["lr"] for g in groups]
        n, t = self.total_iters, self.last_epoch
        decay = ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power  # torch's chain
        return [g["lr"] * decay for g in groups]

    def _closed_form_lr(self) -> list[float]:
        n = self.total_iters
        return [base * (1.0 - min(n, self.last_epoch) / n) ** self.power for base in self.base_lrs]


def _check_children(owner: str, optimizer: Optimizer, schedulers: Any) -> list:
    schedulers = list(schedulers)
    if not schedulers:
        raise OptimizerError(f"{owner} needs at least one scheduler")
    for i, s in enumerate(schedulers):
        if not isinstance(s, LRScheduler) or isinstance(s, ReduceLROnPlateau):
            raise OptimizerError(f"{owner}: scheduler {i} must be an epoch schedule (not "
                                 f"ReduceLROnPlateau), got {type(s).__name__}")  # fmt: skip
        if s.optimizer is not optimizer:
            raise OptimizerError(f"{owner}: scheduler {i} ({type(s).__name__}) belongs to "
                                 "another optimiser")  # fmt: skip
    return schedulers


class _Composite(LRScheduler):
    """State dicts of schedulers made of schedulers: their own, under ``_schedulers``."""

    _schedulers: list

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in super().state_dict().items() if k != "_schedulers"}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise OptimizerError(f"{type(self).__name__}.load_state_dict needs a dict")
        saved = state_dict.get("_schedulers", [])
        if len(saved) != len(self._schedulers):
            raise OptimizerError(f"{type(self).__name__}.load_state_dict: {len(saved)} saved "
                                 f"schedulers for {len(self._schedulers)}")  # fmt: skip
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for s, entry in zip(self._schedulers, saved):
            s.load_state_dict(entry)


class SequentialLR(_Composite):
    """Run ``schedulers`` one after another: ``schedulers[i]`` from epoch
    ``milestones[i - 1]`` (where it restarts at its own epoch 0) until ``milestones[i]``,
    e.g. ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt,
    95)], milestones=[5])`` for a warm-up then cosine decay. PyTorch's semantics: the
    schedulers are made first (each records and may change the rate); this one resets the
    rates to ``initial_lr`` and replays the first scheduler's initial step."""

    def __init__(self, optimizer: Optimizer, schedulers: Any, milestones: Any,
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_optimizer(optimizer)
        self._schedulers = _check_children("SequentialLR", optimizer, schedulers)
        self._milestones = [int(m) for m in milestones]
        if len(self._milestones) != len(self._schedulers) - 1:
            raise OptimizerError(f"SequentialLR: {len(self._schedulers)} schedulers need "
                                 f"{len(self._schedulers) - 1} milestones, got "
                                 f"{self._milestones}")  # fmt: skip
        self.optimizer, self.last_epoch = optimizer, last_epoch + 1
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:  # undo the step each took when it was made
            s.last_epoch -= 1
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self, epoch: int | None = None) -> None:
        if epoch is not None:
            raise OptimizerError("SequentialLR.step takes no epoch")
        self.last_epoch += 1
        i = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler.step(0)  # restart it, at its own epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step every one of ``schedulers`` at each step, so their factors multiply (e.g. a
    ``ConstantLR`` warm-up times an ``ExponentialLR`` decay)."""

    def __init__(self, schedulers: Any, optimizer: Optimizer | None = None) -> None:
        schedulers = list(schedulers)
        optimizer = optimizer or (schedulers[0].optimizer if schedulers else None)
        self._schedulers = _check_children("ChainedScheduler", optimizer, schedulers)
        self.optimizer = optimizer
        self.last_epoch, self._step_count = 0, 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        if epoch is not None:
            raise OptimizerError("ChainedScheduler.step takes no epoch")
        self.last_epoch += 1  # (the steps taken; its schedulers keep their own counts)
        for s in self._schedulers:
            s.step()
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``; ``lr_lambda`` is one function, or one per
    parameter group. ``state_dict`` leaves the functions out (as PyTorch: functions are
    not data); callable objects keep their attributes."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        fns = list(lr_lambda) if isinstance(lr_lambda, list | tuple) else [lr_lambda] * n
        if len(fns) != n or not all(callable(f) for f in fns):
            raise OptimizerError(
                f"lr_lambda must be a function or a list of {n} functions (one per parameter "
                f"group), got {lr_lambda!r}"
            )
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        state["lr_lambdas"] = [
            None if isinstance(f, types.FunctionType) else dict(vars(f)) for f in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            raise OptimizerError(f"{type(self).__name__}.load_state_dict needs a dict")
        saved = state_dict.get("lr_lambdas", [])
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for f, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                vars(f).update(attrs)


class MultiplicativeLR(LambdaLR):
    """``lr = lr * lr_lambda(epoch)`` on each step after the first (PyTorch's
    ``MultiplicativeLR``): the factors compound, so ``lambda e: 0.95`` is ExponentialLR.
    ``lr_lambda`` is one function or one per group; ``state_dict`` as LambdaLR's."""

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch > 0:
            return [g["lr"] * f(self.last_epoch) for f, g in zip(self.lr_lambdas, groups)]
        return [g["lr"] for g in groups]


class ReduceLROnPlateau(LRScheduler):
    """Divide the rate when a metric stops improving: ``step(metric)`` once per epoch.

    After more than ``patience`` epochs without improvement, each group's rate becomes
    ``max(lr * factor, min_lr)`` (changes smaller than ``eps`` are skipped), then
    ``cooldown`` epochs pass before bad epochs count again. Improvement means
    ``metric < best * (1 - threshold)`` ("min", "rel"), ``metric < best - threshold``
    ("min", "abs"), or the mirror images for ``mode="max"``. ``min_lr`` is a number or
    one number per group. (It shares only ``get_last_lr``, ``last_epoch`` and the state
    dict methods with the epoch-indexed schedules.)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(optimizer)
        check_number("factor", factor, 0.0, 1.0, high_open=True)
        if mode not in ("min", "max"):
            raise OptimizerError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise OptimizerError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        _check_int("patience", patience, 0)
        _check_int("cooldown", cooldown, 0)
        check_number("threshold", threshold)
        check_number("eps", eps)
        self.optimizer = optimizer
        self.factor = factor
        n = len(optimizer.param_groups)
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != n:
                raise OptimizerError(f"expected {n} min_lrs (one per group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            check_number("min_lr", min_lr)
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (a number or a 0-d Tensor) and reduce the rate if it
        has plateaued."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise OptimizerError(
                    f"the optimiser has {len(groups)} parameter groups but min_lr lists "
                    f"{len(self.min_lrs)} (was a group added?); set scheduler.min_lrs"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new
