"""Learning-rate schedulers against torch.optim.lr_scheduler, and without torch."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import OptimizerError, lr_scheduler, swa_utils

EPOCHS = 120


def our_opt(lrs: tuple = (0.1,)) -> optim.SGD:
    groups = [{"params": [cr.Tensor(np.zeros(2, np.float32), requires_grad=True)], "lr": lr}
              for lr in lrs]  # fmt: skip
    return optim.SGD(groups, lr=lrs[0], momentum=0.9)


def torch_opt(torch: Any, lrs: tuple = (0.1,)) -> Any:
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


SCHEDULES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.97}),
    ("CosineAnnealingLR", {"T_max": 25}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
    ("MultiStepLR", {"milestones": [30, 10, 80, 80]}),
    ("MultiStepLR", {"milestones": [0, 5], "gamma": 0.5}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.7, "total_iters": 40}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 100}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e / (1 + e % 7)}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.9 + 0.02 * (e % 5)}),
    ("CosineAnnealingWarmRestarts", {"T_0": 10}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.001}),
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 30}),
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 100, "power": 2.0}),
]


def _id(value: Any) -> str:
    """A stable test id (a function's repr holds its address, which differs per process)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_id(v)}" for k, v in value.items()) + "}"
    return "fn" if callable(value) else str(value)


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kw"), SCHEDULES, ids=_id)
def test_schedule_matches_torch(name: str, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = our_opt((0.1, 0.03)), torch_opt(torch, (0.1, 0.03))
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == tsched.get_last_lr()
    for _ in range(EPOCHS):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.last_epoch == tsched.last_epoch
        assert sched.get_last_lr() == tsched.get_last_lr()  # the same floats, bit for bit
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
    assert opt.param_groups[0]["initial_lr"] == 0.1


@pytest.mark.torch
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"patience": 3, "factor": 0.5},
        {"patience": 2, "cooldown": 3, "min_lr": 0.004},
        {"mode": "max", "patience": 1, "threshold": 0.05},
        {"threshold_mode": "abs", "threshold": 0.02, "patience": 2, "factor": 0.3},
        {"mode": "max", "threshold_mode": "abs", "patience": 0, "min_lr": [0.01, 0.001]},
        {"patience": 1, "eps": 0.05},
    ],
    ids=lambda v: str(v),
)
def test_reduce_on_plateau_matches_torch(kw: dict) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # a loss that falls, stalls, wiggles and rises again
    metrics = np.concatenate(
        [
            np.linspace(1.0, 0.5, 20),
            0.5 + 0.01 * rng.standard_normal(30),
            np.linspace(0.5, 0.3, 10),
            0.3 + 0.05 * np.abs(rng.standard_normal(40)),
            np.linspace(0.3, 0.8, 20),
        ]
    )
    opt, topt = our_opt((0.1, 0.02)), torch_opt(torch, (0.1, 0.02))
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    changes = 0
    for m in metrics:
        before = sched.get_last_lr()
        metric = float(m) if changes % 2 else cr.tensor(float(m))  # a 0-d tensor works too
        sched.step(metric)
        tsched.step(float(m))
        changes += before != sched.get_last_lr()
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        assert sched.num_bad_epochs == tsched.num_bad_epochs
        assert sched.cooldown_counter == tsched.cooldown_counter
        assert sched.best == pytest.approx(tsched.best)
        assert sched.last_epoch == tsched.last_epoch
    assert changes > 0
    assert isinstance(sched, lr_scheduler.LRScheduler)


def test_schedulers_without_torch() -> None:
    opt = our_opt((1.0,))
    step = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = [step.get_last_lr()[0]]
    for _ in range(6):
        step.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]

    opt = our_opt((1.0,))
    cos = lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.2)
    got = [cos.get_last_lr()[0]]
    for _ in range(8):
        cos.step()
        got.append(cos.get_last_lr()[0])
    expect = [0.2 + 0.8 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(9)]
    assert got == pytest.approx(expect, abs=1e-12)  # down to eta_min at T_max, then back up

    opt = our_opt((1.0,))
    exp = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        exp.step()
    assert exp.get_last_lr() == [0.125] and exp.last_epoch == 3


@pytest.mark.torch
@pytest.mark.parametrize(
    ("name", "kw"),
    [s for s in SCHEDULES if s[0] in ("MultiStepLR", "LinearLR", "ConstantLR", "PolynomialLR")],
    ids=str,
)
def test_explicit_epoch_matches_torch(name: str, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = our_opt((0.1,)), torch_opt(torch, (0.1,))
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for epoch in (3, 12, 45, 90):
        sched.step(epoch)
        with pytest.warns(UserWarning):  # (torch deprecates the argument)
            tsched.step(epoch)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("kw", [{"T_0": 4}, {"T_0": 3, "T_mult": 2, "eta_min": 0.01}])
def test_warm_restarts_per_batch_match_torch(kw: dict) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = our_opt((0.1, 0.02)), torch_opt(torch, (0.1, 0.02))
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, **kw)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, **kw)
    for epoch in range(30):
        for i in range(5):  # the per-batch use: fractional epochs
            sched.step(epoch + i / 5)
            tsched.step(epoch + i / 5)
            assert sched.get_last_lr() == tsched.get_last_lr()
            assert sched.last_epoch == tsched.last_epoch


def _momentum_pair(torch: Any, opt_name: str) -> tuple[Any, Any, str]:
    """The same two-group optimiser in both libraries (SGD with momentum, or Adam), and the
    key of the momentum a cycling schedule moves."""
    params = [cr.Tensor(np.zeros(2, np.float32), requires_grad=True) for _ in range(2)]
    tparams = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    opt = getattr(optim, opt_name)([{"params": [p]} for p in params], lr=0.1, **extra)
    topt = getattr(torch.optim, opt_name)([{"params": [p]} for p in tparams], lr=0.1, **extra)
    return opt, topt, "momentum" if opt_name == "SGD" else "betas"


@pytest.mark.torch
@pytest.mark.parametrize(
    ("opt_name", "kw"),
    [
        ("SGD", {"max_lr": 0.5, "total_steps": 40}),
        ("SGD", {"max_lr": [0.5, 0.1], "epochs": 4, "steps_per_epoch": 9,
                 "anneal_strategy": "linear", "pct_start": 0.25}),
        ("Adam", {"max_lr": 0.01, "total_steps": 50, "three_phase": True}),
        ("Adam", {"max_lr": 0.01, "total_steps": 30, "cycle_momentum": False,
                  "div_factor": 10.0, "final_div_factor": 100.0}),
        ("SGD", {"max_lr": 1.0, "total_steps": 25, "base_momentum": [0.8, 0.7],
                 "max_momentum": 0.99}),
    ],
    ids=str,
)  # fmt: skip
def test_one_cycle_matches_torch(opt_name: str, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    opt, topt, key = _momentum_pair(torch, opt_name)
    sched = lr_scheduler.OneCycleLR(opt, **kw)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, **kw)
    for _ in range(tsched.total_steps - 1):
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert [g[key] for g in opt.param_groups] == [g[key] for g in topt.param_groups]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert sched.get_last_lr() == tsched.get_last_lr()
    sched.step()  # the last allowed step, then one too many
    with pytest.raises(OptimizerError, match="total_steps"):
        sched.step()


def test_new_schedules_without_torch() -> None:
    opt = our_opt((1.0,))
    multi = lr_scheduler.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.5)
    got = [multi.get_last_lr()[0]]
    for _ in range(5):
        multi.step()
        got.append(multi.get_last_lr()[0])
    assert got == [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
    opt = our_opt((1.0,))
    warm = lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    got = [warm.get_last_lr()[0]]
    for _ in range(4):
        warm.step()
        got.append(warm.get_last_lr()[0])
    assert got == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    opt = our_opt((2.0, 1.0))
    lam = lr_scheduler.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5])
    lam.step()
    assert lam.get_last_lr() == [1.0, 0.5]


def test_lambda_lr_state_dict_keeps_callable_objects_only() -> None:
    class Decay:
        def __init__(self) -> None:
            self.rate = 0.5

        def __call__(self, epoch: int) -> float:
            return self.rate**epoch

    opt = our_opt((1.0, 1.0))
    obj = Decay()
    sched = lr_scheduler.LambdaLR(opt, [obj, lambda e: 1.0])
    sched.step()
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}, None]
    obj2 = Decay()
    obj2.rate = 0.9
    sched2 = lr_scheduler.LambdaLR(our_opt((1.0, 1.0)), [obj2, lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert obj2.rate == 0.5 and sched2.last_epoch == 1


def test_explicit_epoch_uses_closed_form() -> None:
    opt = our_opt((1.0,))
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
    sched.step(7)
    assert sched.last_epoch == 7
    assert sched.get_last_lr() == pytest.approx([0.01])
    opt = our_opt((1.0,))
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    sched.step(5)
    assert sched.get_last_lr() == pytest.approx([0.5])


@pytest.mark.parametrize(
    ("make", "steps"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5), 10),
        (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), 10),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.001), 10),
        (lambda o: lr_scheduler.MultiStepLR(o, milestones=[3, 12, 12, 20]), 10),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=15), 10),
        (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), 10),
        (
            lambda o: lr_scheduler.SequentialLR(
                o,
                [lr_scheduler.LinearLR(o, 0.1, total_iters=4), lr_scheduler.ExponentialLR(o, 0.9)],
                [4],
            ),
            6,
        ),
        (
            lambda o: lr_scheduler.ChainedScheduler(
                [lr_scheduler.ConstantLR(o, 0.5, 3), lr_scheduler.ExponentialLR(o, 0.9)]
            ),
            5,
        ),
    ],
    ids=[
        "StepLR",
        "ExponentialLR",
        "CosineAnnealingLR",
        "MultiStepLR",
        "LinearLR",
        "SGDR",
        "SequentialLR",
        "ChainedScheduler",
    ],
)
def test_scheduler_state_dict_resume(make: Any, steps: int) -> None:
    opt = our_opt((0.2, 0.05))
    sched = make(opt)
    for _ in range(steps):
        sched.step()
    sd = json.loads(json.dumps(sched.state_dict()))  # plain numbers: JSON round trips
    opt_sd = opt.state_dict()
    assert "optimizer" not in sd

    opt2 = our_opt((0.2, 0.05))
    sched2 = make(opt2)  # make the scheduler first, then load (torch's advice)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == steps and sched2.get_last_lr() == sched.get_last_lr()
    for _ in range(25):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_resume_with_last_epoch() -> None:
    opt = our_opt((1.0,))
    with pytest.raises(OptimizerError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=5)
    opt.param_groups[0]["initial_lr"] = 1.0
    sched = lr_scheduler.StepLR(opt, step_size=2, last_epoch=5)
    assert sched.last_epoch == 6 and sched.base_lrs == [1.0]


def test_plateau_state_dict_resume() -> None:
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    opt = our_opt((0.1,))
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for m in metrics[:5]:
        sched.step(m)
    sd = sched.state_dict()
    opt2 = our_opt((0.1,))
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(sd)
    for m in metrics[5:]:
        sched.step(m)
        sched2.step(m)
        assert sched.get_last_lr() == sched2.get_last_lr()
    assert sched.get_last_lr()[0] < 0.1 * 0.1 * 0.99  # reduced at least twice


def test_scheduler_errors() -> None:
    opt = our_opt()
    with pytest.raises(OptimizerError, match="chainrule optimiser"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(OptimizerError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(OptimizerError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(OptimizerError, match="gamma"):
        lr_scheduler.ExponentialLR(opt, gamma=-0.5)
    with pytest.raises(OptimizerError, match="milestones"):
        lr_scheduler.MultiStepLR(opt, milestones=[3, "x"])
    with pytest.raises(OptimizerError, match="milestones"):
        lr_scheduler.MultiStepLR(opt, milestones=5)
    with pytest.raises(OptimizerError, match="start_factor"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(OptimizerError, match="end_factor"):
        lr_scheduler.LinearLR(opt, end_factor=1.5)
    with pytest.raises(OptimizerError, match="total_iters"):
        lr_scheduler.LinearLR(opt, total_iters=0)
    with pytest.raises(OptimizerError, match="lr_lambda"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(OptimizerError, match="lr_lambda"):
        lr_scheduler.LambdaLR(opt, 0.5)
    with pytest.raises(OptimizerError, match="total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(OptimizerError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5, anneal_strategy="exp")
    with pytest.raises(OptimizerError, match="div_factor"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5, div_factor=0)
    with pytest.raises(OptimizerError, match="max_lr"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=5)
    with pytest.raises(OptimizerError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad(opt.param_groups[0]["params"]), max_lr=0.1,
                                total_steps=5)  # fmt: skip
    with pytest.raises(OptimizerError, match="T_0"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(OptimizerError, match="T_mult"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5)
    with pytest.raises(OptimizerError, match="epoch"):
        lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(OptimizerError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(OptimizerError, match="mode"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(OptimizerError, match="threshold_mode"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(OptimizerError, match="patience"):
        lr_scheduler.ReduceLROnPlateau(opt, patience=-1)
    with pytest.raises(OptimizerError, match="min_lrs"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    with pytest.raises((TypeError, ValueError)):
        plateau.step("not a number")


def _composites(lib: Any, opt: Any) -> dict[str, Any]:
    """The same composite schedules made in either library."""
    ls = lib.optim.lr_scheduler if hasattr(lib, "optim") else lib
    return {
        "warmup-cosine": lambda: ls.SequentialLR(
            opt, [ls.LinearLR(opt, 0.1, total_iters=5), ls.CosineAnnealingLR(opt, 20)], [5]),
        "three stages": lambda: ls.SequentialLR(
            opt, [ls.ConstantLR(opt, 0.5, 3), ls.ExponentialLR(opt, 0.9),
                  ls.StepLR(opt, 4, 0.5)], [3, 12]),
        "chained": lambda: ls.ChainedScheduler(
            [ls.ConstantLR(opt, 0.25, 4), ls.ExponentialLR(opt, 0.95)]),
        "sequence of a chain": lambda: ls.SequentialLR(
            opt, [ls.LinearLR(opt, 0.5, total_iters=2), ls.PolynomialLR(opt, 10, 2.0)], [2]),
    }  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["warmup-cosine", "three stages", "chained",
                                  "sequence of a chain"])  # fmt: skip
def test_composite_schedules_match_torch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = our_opt((0.1, 0.03)), torch_opt(torch, (0.1, 0.03))
    sched = _composites(lr_scheduler, opt)[kind]()
    tsched = _composites(torch, topt)[kind]()
    assert sched.get_last_lr() == tsched.get_last_lr()
    for _ in range(40):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr()  # bit for bit
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]


def test_composite_schedule_errors() -> None:
    opt, other = our_opt(), our_opt()
    exp = lr_scheduler.ExponentialLR(opt, 0.9)
    with pytest.raises(OptimizerError, match="2 schedulers need 1 milestones"):
        lr_scheduler.SequentialLR(opt, [exp, lr_scheduler.StepLR(opt, 3)], [2, 4])
    with pytest.raises(OptimizerError, match="belongs to another optimiser"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(other, 3)], [])
    with pytest.raises(OptimizerError, match="not ReduceLROnPlateau"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt)])
    with pytest.raises(OptimizerError, match="at least one scheduler"):
        lr_scheduler.ChainedScheduler([], opt)
    with pytest.raises(OptimizerError, match="factor must be in"):
        lr_scheduler.ConstantLR(opt, factor=0)


class _Halving:
    """A callable object as scale_fn: its attributes survive a state dict."""

    def __init__(self) -> None:
        self.base = 0.5

    def __call__(self, x: float) -> float:
        return self.base ** (x - 1)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("opt_name", "kw"),
    [
        ("SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5}),
        ("SGD", {"base_lr": [0.01, 0.02], "max_lr": 0.2, "step_size_up": 3,
                 "step_size_down": 7, "mode": "triangular2"}),
        ("Adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 4, "mode": "exp_range",
                  "gamma": 0.97, "base_momentum": 0.85, "max_momentum": 0.95}),
        ("SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4,
                 "scale_fn": lambda x: 1 / (1 + x), "scale_mode": "iterations"}),
        ("Adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 6,
                  "cycle_momentum": False}),
    ],
    ids=_id,
)  # fmt: skip
def test_cyclic_lr_matches_torch(opt_name: str, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    opt, topt, key = _momentum_pair(torch, opt_name)
    sched = lr_scheduler.CyclicLR(opt, **kw)
    tsched = torch.optim.lr_scheduler.CyclicLR(topt, **kw)
    for _ in range(40):
        assert sched.get_last_lr() == tsched.get_last_lr()  # bit for bit
        assert [g[key] for g in opt.param_groups] == [g[key] for g in topt.param_groups]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_cyclic_lr_state_dict_and_errors() -> None:
    opt = our_opt((0.1, 0.05))
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=3, scale_fn=_Halving())
    for _ in range(5):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    assert state["scale_fn"] == {"base": 0.5}
    again = lr_scheduler.CyclicLR(our_opt((0.1, 0.05)), 0.01, 0.1, step_size_up=3,
                                  scale_fn=_Halving())  # fmt: skip
    again.load_state_dict(state)
    for _ in range(8):
        sched.step()
        again.step()
        assert again.get_last_lr() == sched.get_last_lr()
    assert lr_scheduler.CyclicLR.per_batch
    with pytest.raises(OptimizerError, match="mode must be one of"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="sine")
    with pytest.raises(OptimizerError, match="step_size_up"):
        lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=0)
    with pytest.raises(OptimizerError, match="CyclicLR: cycle_momentum needs"):
        lr_scheduler.CyclicLR(optim.Adagrad(opt.param_groups[0]["params"]), 0.01, 0.1)


# ---- SWALR (optim.swa_utils) --------------------------------------------------------------
SWALR_CASES = [
    {"swa_lr": 0.05},
    {"swa_lr": 0.05, "anneal_epochs": 5, "anneal_strategy": "linear"},
    {"swa_lr": [0.01, 0.2], "anneal_epochs": 1},
    {"swa_lr": 0.02, "anneal_epochs": 0},
    {"swa_lr": 0.3, "anneal_epochs": 7, "anneal_strategy": "cos"},
    {"swa_lr": [0.0, 0.5], "anneal_epochs": 3, "anneal_strategy": "linear"},
]


@pytest.mark.torch
@pytest.mark.parametrize("warmup", [0, 8])
@pytest.mark.parametrize("kw", SWALR_CASES, ids=_id)
def test_swalr_matches_torch(kw: dict, warmup: int) -> None:
    torch = pytest.importorskip("torch")
    opt, topt = our_opt((0.1, 0.03)), torch_opt(torch, (0.1, 0.03))
    # torch's recipe: another schedule first, then SWALR from the rate it left
    pre = lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    tpre = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=20)
    for _ in range(warmup):
        pre.step()
        tpre.step()
    sched = swa_utils.SWALR(opt, **kw)
    tsched = torch.optim.swa_utils.SWALR(topt, **kw)
    assert sched.get_last_lr() == tsched.get_last_lr()
    assert [g["swa_lr"] for g in opt.param_groups] == [g["swa_lr"] for g in topt.param_groups]
    for t in range(30):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.last_epoch == tsched.last_epoch
        assert sched.get_last_lr() == tsched.get_last_lr(), t  # the same floats, bit for bit
        if t == 10:  # a rate changed by hand is followed, as in torch
            for g in (*opt.param_groups, *topt.param_groups):
                g["lr"] *= 3
    assert sched.get_last_lr() == pytest.approx([g["swa_lr"] for g in opt.param_groups])


def test_swalr_without_torch() -> None:
    opt = our_opt((1.0,))
    sched = swa_utils.SWALR(opt, swa_lr=0.2, anneal_epochs=4, anneal_strategy="linear")
    got = [sched.get_last_lr()[0]]
    for _ in range(6):
        sched.step()
        got.append(sched.get_last_lr()[0])
    assert got == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2, 0.2])
    opt = our_opt((1.0,))
    sched = swa_utils.SWALR(opt, swa_lr=0.0, anneal_epochs=2)  # cosine: halfway at 1/2
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.5])
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.0], abs=1e-15)
    opt = our_opt((1.0,))
    sched = swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=0)
    sched.step()
    assert sched.get_last_lr() == [0.1]


def test_swalr_state_dict_resume_and_errors() -> None:
    opt = our_opt((0.2, 0.05))
    sched = swa_utils.SWALR(opt, swa_lr=[0.01, 0.02], anneal_epochs=6, anneal_strategy="linear")
    for _ in range(3):
        sched.step()
    sd = json.loads(json.dumps(sched.state_dict()))  # plain numbers and a name
    assert sd["_anneal_strategy"] == "linear" and "optimizer" not in sd
    opt_sd = opt.state_dict()
    opt2 = our_opt((0.2, 0.05))
    sched2 = swa_utils.SWALR(opt2, swa_lr=0.5)  # cosine, other rates: the state replaces them
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    for _ in range(6):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(OptimizerError, match="anneal_strategy must be 'cos' or 'linear'"):
        swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
    with pytest.raises(OptimizerError, match="anneal_epochs must be an int >= 0"):
        swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
    with pytest.raises(OptimizerError, match="anneal_epochs"):
        swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=2.5)
    with pytest.raises(OptimizerError, match="swa_lr: expected 2 values, got 3"):
        swa_utils.SWALR(opt, swa_lr=[0.1, 0.2, 0.3])
    with pytest.raises(OptimizerError, match="swa_lr"):
        swa_utils.SWALR(opt, swa_lr=-0.1)
    with pytest.raises(OptimizerError, match="chainrule optimiser"):
        swa_utils.SWALR(object(), swa_lr=0.1)
    assert [g["swa_lr"] for g in opt.param_groups] == [0.01, 0.02]  # failures changed nothing
