"""Optimiser trajectories against torch.optim, given the same gradient sequence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SHAPES = [(7, 5), (5,), (), (3, 1, 4)]
STEPS = 60

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.01}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "betas": (0.6, 0.9), "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9, "weight_decay": 0.05}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.005, "centered": True}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.05, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "eps": 1e-6, "lr_decay": 0.001, "weight_decay": 0.01}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.05}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.05}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.05}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-3, "alpha": 0.5, "t0": 10}),
    ("ASGD", {"lr": 0.02, "t0": 0, "weight_decay": 0.05}),
    ("ASGD", {"lr": 0.05, "t0": 5.5, "maximize": True, "weight_decay": 0.01}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "beta2_decay": -0.5, "eps": (1e-30, 1e-3), "d": 2.0}),
    ("Adafactor", {"lr": 0.02, "eps": (1e-3, 0.1), "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.02, "beta2_decay": 0.0, "maximize": True}),
]


def _ids(case: tuple) -> str:
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def make_pair(shapes: list[tuple], seed: int) -> tuple[list[cr.Tensor], list[Any]]:
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(s), dtype=np.float32) for s in shapes]
    ours = [cr.Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    return ours, theirs


def grad_sequence(shapes: list[tuple], steps: int, seed: int, holes: bool) -> list[list]:
    """Random gradients, with an occasional None (a parameter left out of a step)."""
    rng = np.random.default_rng(seed + 1000)
    seq = []
    for t in range(steps):
        row = []
        for i, s in enumerate(shapes):
            if holes and (t + i) % 7 == 3:
                row.append(None)
            else:
                scale = 10.0 ** rng.uniform(-2, 1)  # varying magnitudes
                row.append(np.asarray(scale * rng.standard_normal(s), dtype=np.float32))
        seq.append(row)
    return seq


def feed(ours: list, theirs: list, grads: list) -> None:
    for p, q, g in zip(ours, theirs, grads):
        p.grad = None if g is None else cr.Tensor(g.copy())
        q.grad = None if g is None else torch.from_numpy(g.copy())


def assert_close(ours: list, theirs: list, where: str) -> None:
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(
            p.data, q.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=f"{where}, param {i}"
        )
        assert p.data.dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_trajectory_matches_torch(case: tuple) -> None:
    name, kw = case
    ours, theirs = make_pair(SHAPES, seed=0)
    opt = getattr(optim, name)(ours, **kw)
    topt = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    grads = grad_sequence(SHAPES, STEPS, seed=0, holes=True)
    for t, row in enumerate(grads):
        feed(ours, theirs, row)
        opt.step()
        topt.step()
        assert_close(ours, theirs, f"{name} {kw} step {t}")


@pytest.mark.parametrize(
    "case",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("AdamW", {"lr": 0.01}),
        ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
        ("ASGD", {"lr": 0.05, "t0": 10}),
        ("Adafactor", {"lr": 0.05}),
    ],
    ids=_ids,
)
def test_param_groups_with_different_lrs(case: tuple) -> None:
    name, kw = case
    shapes = [(4, 3), (3,), (2, 2)]
    ours, theirs = make_pair(shapes, seed=1)
    kw = dict(kw)
    lr = kw.pop("lr")

    def groups(ps: list) -> list[dict]:
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": lr / 7, "weight_decay": 0.02}]

    opt = getattr(optim, name)(groups(ours), lr=lr, **kw)
    topt = getattr(torch.optim, name)(groups(theirs), lr=lr, foreach=False, **kw)
    assert opt.param_groups[1]["lr"] == lr / 7
    assert opt.param_groups[0]["weight_decay"] == topt.param_groups[0]["weight_decay"]
    for t, row in enumerate(grad_sequence(shapes, STEPS, seed=1, holes=False)):
        feed(ours, theirs, row)
        opt.step()
        topt.step()
        assert_close(ours, theirs, f"{name} groups step {t}")


def test_lr_changed_between_steps_is_used() -> None:
    shapes = [(6,)]
    ours, theirs = make_pair(shapes, seed=2)
    opt = optim.Adam(ours, lr=0.1)
    topt = torch.optim.Adam(theirs, lr=0.1, foreach=False)
    for t, row in enumerate(grad_sequence(shapes, 30, seed=2, holes=False)):
        for g in (opt.param_groups[0], topt.param_groups[0]):
            g["lr"] = 0.1 / (1 + t)
        feed(ours, theirs, row)
        opt.step()
        topt.step()
    assert_close(ours, theirs, "lr changed by hand")


def test_add_param_group_matches_torch() -> None:
    shapes = [(3, 3), (4,)]
    ours, theirs = make_pair(shapes, seed=3)
    opt = optim.SGD(ours[:1], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs[:1], lr=0.1, momentum=0.9, foreach=False)
    grads = grad_sequence(shapes, 40, seed=3, holes=False)
    for t, row in enumerate(grads):
        if t == 10:
            opt.add_param_group({"params": ours[1:], "lr": 0.01, "nesterov": True})
            topt.add_param_group({"params": theirs[1:], "lr": 0.01, "nesterov": True})
        feed(ours, theirs, row)
        opt.step()
        topt.step()
    assert_close(ours, theirs, "after add_param_group")


def test_float64_params_match_torch() -> None:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((5, 4))
    p = cr.Tensor(a.copy(), requires_grad=True)
    q = torch.tensor(a.copy(), requires_grad=True)
    opt = optim.RMSprop([p], lr=0.01, centered=True, momentum=0.5)
    topt = torch.optim.RMSprop([q], lr=0.01, centered=True, momentum=0.5, foreach=False)
    for _ in range(STEPS):
        g = rng.standard_normal((5, 4))
        p.grad = cr.Tensor(g.copy())
        q.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    assert p.data.dtype == np.float64
    np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_state_layout_matches_torch() -> None:
    """Same state names per parameter, same step counts, same buffers."""
    for name, kw in [
        ("SGD", {"momentum": 0.9}),
        ("Adam", {"amsgrad": True}),
        ("RMSprop", {"centered": True, "momentum": 0.1}),
        ("Adagrad", {}),
        ("ASGD", {"t0": 2}),
        ("Adafactor", {}),
    ]:
        ours, theirs = make_pair([(3,), (2, 2)], seed=5)
        opt = getattr(optim, name)(ours, lr=0.01, **kw)
        topt = getattr(torch.optim, name)(theirs, lr=0.01, foreach=False, **kw)
        for row in grad_sequence([(3,), (2, 2)], 5, seed=5, holes=False):
            feed(ours, theirs, row)
            opt.step()
            topt.step()
        sd, tsd = opt.state_dict(), topt.state_dict()
        assert sd["state"].keys() == tsd["state"].keys()
        for k in sd["state"]:
            assert sd["state"][k].keys() == tsd["state"][k].keys(), name
            for key, value in sd["state"][k].items():
                expected = tsd["state"][k][key]
                if key == "step":
                    assert value == int(expected.item())
                else:
                    np.testing.assert_allclose(value, expected.numpy(), rtol=1e-5, atol=1e-7)
        assert [g["params"] for g in sd["param_groups"]] == [
            g["params"] for g in tsd["param_groups"]
        ]
