"""LBFGS: trajectories against torch.optim.LBFGS, convergence, state dicts and errors.

LBFGS needs a closure, so it has its own tests rather than a row in the generic tables
(test_optim_oracle.py and test_optimizer_base.py feed gradients and call ``step()``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import OptimizerError

ROSENBROCK_START = [np.array([-1.2, 1.0, -0.5, 0.8, 1.5])]


def rosenbrock(lib: Any, ps: list) -> Any:
    x = ps[0]
    return lib.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _data(dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Badly scaled features (so that the curvature matters) and 0/1 targets."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)) * np.array([1.0, 3.0, 0.3, 5.0])
    y = (x @ np.array([[1.0, -1.0], [-0.5, 0.3], [2.0, 1.0], [0.2, -0.4]]) > 0).astype(float)
    return x.astype(dtype), y.astype(dtype)


def regression_start(dtype: Any = np.float64, unused: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    shapes = [(4, 2), (2,)] + ([(3,)] if unused else [])
    return [(0.1 * rng.standard_normal(s)).astype(dtype) for s in shapes]


def logistic(lib: Any, ps: list) -> Any:
    """Logistic regression with two outputs and an L2 penalty, on weights ``ps[0]`` and
    bias ``ps[1]`` (a third parameter, if any, is not used: its gradient stays None)."""
    w, b = ps[0], ps[1]
    x, y = _data(w.data.dtype if lib is cr else w.detach().numpy().dtype)
    x, y = (cr.Tensor(x), cr.Tensor(y)) if lib is cr else (lib.tensor(x), lib.tensor(y))
    z = x @ w + b
    return lib.mean(lib.log(1.0 + lib.exp(-z)) + (1.0 - y) * z) + 0.01 * lib.sum(w * w)


def make_closure(opt: Any, problem: Callable, lib: Any, ps: list, calls: list) -> Callable:
    def closure() -> Any:
        opt.zero_grad()
        loss = problem(lib, ps)
        loss.backward()
        calls.append(1)
        return loss

    return closure


def run(init: list[np.ndarray], problem: Callable, kw: dict, steps: int) -> list[list]:
    """The parameters (copies) after each of ``steps`` calls of ``step``."""
    ps = [cr.Tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.LBFGS(ps, **kw)
    closure = make_closure(opt, problem, cr, ps, [])
    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append([p.data.copy() for p in ps])
    return out


# ---- against PyTorch --------------------------------------------------------------------
ROSENBROCK_CASES = [
    {"lr": 0.5},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "history_size": 3, "max_iter": 7},  # the history wraps
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 10, "max_eval": 14},
    {"lr": 0.2, "max_iter": 6, "max_eval": 4},  # max_eval stops it before max_iter
    {"line_search_fn": "strong_wolfe", "max_iter": 30, "max_eval": 6},  # cuts a search short
    {"line_search_fn": "strong_wolfe", "lr": 0.01},  # extrapolates; out of evaluations
    {"line_search_fn": "strong_wolfe", "lr": 10.0, "history_size": 2},  # zooms both ways
    {"lr": 0.5, "tolerance_change": 1e-3},
    {"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-2, "tolerance_change": 1e-5},
]
LOGISTIC_CASES = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"history_size": 2, "max_iter": 5},
    {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 4, "lr": 0.7},
]


def _ids(kw: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "defaults"


def compare_with_torch(init: list[np.ndarray], problem: Callable, kw: dict, steps: int,
                       rtol: float = 1e-10, atol: float = 1e-12) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    ours = [cr.Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt, topt = optim.LBFGS(ours, **kw), torch.optim.LBFGS(theirs, **kw)
    calls: list = []
    closure = make_closure(opt, problem, cr, ours, calls)
    tclosure = make_closure(topt, problem, torch, theirs, [])
    for k in range(steps):
        where = f"{kw} step {k}"
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert isinstance(loss, cr.Tensor)  # the closure's first result, as torch returns
        np.testing.assert_allclose(float(loss), tloss.item(), rtol=rtol, atol=1e-12, err_msg=where)
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert p.data.dtype == init[i].dtype
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{where}, param {i}")  # fmt: skip
        state, tstate = opt.state[ours[0]], topt.state[theirs[0]]
        assert state["func_evals"] == tstate["func_evals"] == len(calls), where
        assert state["n_iter"] == tstate["n_iter"], where
        assert len(state.get("old_dirs", [])) == len(tstate.get("old_dirs", [])), where
        if "old_dirs" in tstate:
            assert len(tstate["old_dirs"]) <= opt.param_groups[0]["history_size"]
            h_diag = float(tstate["H_diag"])
            np.testing.assert_allclose(state["H_diag"], h_diag, rtol=100 * rtol, err_msg=where)
            np.testing.assert_allclose(state["d"], tstate["d"].numpy(), rtol=100 * rtol,
                                       atol=100 * atol, err_msg=where)  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize("kw", ROSENBROCK_CASES, ids=_ids)
def test_rosenbrock_trajectory_matches_torch(kw: dict) -> None:
    compare_with_torch(ROSENBROCK_START, rosenbrock, kw, steps=6)


@pytest.mark.torch
@pytest.mark.parametrize("kw", LOGISTIC_CASES, ids=_ids)
def test_logistic_regression_trajectory_matches_torch(kw: dict) -> None:
    compare_with_torch(regression_start(), logistic, kw, steps=5)


@pytest.mark.torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_unused_parameter_matches_torch(line_search_fn: str | None) -> None:
    """A parameter the loss does not use has grad None: a zero gradient, as in torch."""
    init = regression_start(unused=True)
    compare_with_torch(init, logistic, {"line_search_fn": line_search_fn, "max_iter": 6}, 3)


@pytest.mark.torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_float32_trajectory_matches_torch(line_search_fn: str | None) -> None:
    """In float32 the losses differ in the last bits (chainrule's ops are not torch's), so
    only closely, but the same iterations and evaluations happen."""
    init = regression_start(np.float32)
    kw = {"line_search_fn": line_search_fn, "history_size": 3, "max_iter": 5}
    compare_with_torch(init, logistic, kw, steps=4, rtol=1e-4, atol=1e-5)


# ---- convergence -----------------------------------------------------------------------
def _quadratic() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    a = q @ np.diag([0.5, 1.0, 2.0, 5.0, 10.0, 40.0]) @ q.T  # SPD, condition number 80
    return a, rng.standard_normal(6)


def quadratic(lib: Any, ps: list) -> Any:
    """``x.A x / 2 - b.x`` with ``x`` the 2x2 matrix ``ps[0]`` then the 2-vector ``ps[1]``."""
    a, b = _quadratic()
    x = cr.cat([cr.reshape(ps[0], (4,)), ps[1]])
    return 0.5 * cr.sum(x * (cr.Tensor(a) @ x)) - cr.sum(cr.Tensor(b) * x)


@pytest.mark.parametrize("kw", [{}, {"line_search_fn": "strong_wolfe"}, {"history_size": 2}],
                         ids=_ids)  # fmt: skip
def test_converges_on_a_quadratic(kw: dict) -> None:
    a, b = _quadratic()
    ps = [
        cr.Tensor(np.zeros((2, 2)), requires_grad=True),
        cr.Tensor(np.zeros(2), requires_grad=True),
    ]
    opt = optim.LBFGS(ps, max_iter=50, tolerance_grad=1e-10, tolerance_change=0, **kw)
    calls: list = []
    closure = make_closure(opt, quadratic, cr, ps, calls)
    first = opt.step(closure)
    assert float(first) == 0.0  # the loss at the start: the first evaluation's
    for _ in range(5):
        opt.step(closure)
    x = np.concatenate([ps[0].data.reshape(-1), ps[1].data])
    # (to ~sqrt(eps): the line search compares losses, flat to rounding near the minimum)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=0, atol=2e-8)
    assert opt.state[ps[0]]["func_evals"] == len(calls)
    # at the minimum the gradient is below tolerance_grad: one evaluation, no move
    opt.param_groups[0]["tolerance_grad"] = 1e-6
    before = [p.data.copy() for p in ps]
    n = len(calls)
    opt.step(closure)
    assert len(calls) == n + 1
    for p, q in zip(ps, before):
        np.testing.assert_array_equal(p.data, q)


def test_params_change_in_place_and_without_a_graph() -> None:
    ps = [cr.Tensor(np.array([3.0, -2.0]), requires_grad=True)]
    ids, version = id(ps[0].data), ps[0]._version[0]
    opt = optim.LBFGS(ps, line_search_fn="strong_wolfe")
    opt.step(make_closure(opt, lambda lib, ps: cr.sum(ps[0] * ps[0]), cr, ps, []))
    assert id(ps[0].data) == ids and ps[0]._version[0] > version
    assert ps[0]._node is None and ps[0].is_leaf
    np.testing.assert_allclose(ps[0].data, [0.0, 0.0], atol=1e-12)


def test_grad_none_counts_as_zero() -> None:
    used = cr.Tensor(np.array([2.0, -1.0]), requires_grad=True)
    unused = cr.Tensor(np.array([5.0]), requires_grad=True)
    opt = optim.LBFGS([unused, used], line_search_fn="strong_wolfe")  # the state's owner unused
    closure = make_closure(opt, lambda lib, ps: cr.sum((used - 1.0) ** 2), cr, [], [])
    opt.step(closure)
    assert unused.grad is None
    np.testing.assert_array_equal(unused.data, [5.0])
    np.testing.assert_allclose(used.data, [1.0, 1.0], atol=1e-10)
    assert opt.state_dict()["state"][0]["d"].shape == (3,)
    # no gradient at all: a zero gradient, below every tolerance, so nothing moves
    calls: list = []
    alone = optim.LBFGS([unused])
    other = cr.Tensor(np.array(1.0), requires_grad=True)
    closure = make_closure(alone, lambda lib, ps: other * 7.0, cr, [], calls)
    assert float(alone.step(closure)) == 7.0
    assert calls == [1] and alone.state[unused] == {"func_evals": 1, "n_iter": 0}
    np.testing.assert_array_equal(unused.data, [5.0])


# ---- state dicts ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [{"history_size": 2, "max_iter": 4},
     {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 3}],
    ids=_ids,
)  # fmt: skip
def test_state_dict_round_trip_resumes_identically(kw: dict, tmp_path: Any) -> None:
    init = regression_start(unused=True)
    ref = run(init, logistic, kw, steps=6)  # the uninterrupted run

    ps = [cr.Tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.LBFGS(ps, **kw)
    closure = make_closure(opt, logistic, cr, ps, [])
    for _ in range(2):
        opt.step(closure)
    saved = opt.state_dict()
    snapshot = [p.data.copy() for p in ps]
    for k in range(2, 6):  # stepping on must not change the snapshot
        opt.step(closure)
        for p, r in zip(ps, ref[k]):
            np.testing.assert_array_equal(p.data, r)

    assert list(saved["state"]) == [0]  # all of it under the first parameter
    entry = saved["state"][0]
    assert 2 < entry["n_iter"] <= entry["func_evals"] and isinstance(entry["func_evals"], int)
    assert entry["d"].shape == entry["prev_flat_grad"].shape == (13,)
    assert len(entry["old_dirs"]) == len(entry["old_stps"]) == len(entry["ro"])
    assert len(entry["old_dirs"]) == kw["history_size"]  # full: it wrapped
    assert all(isinstance(entry[k], float) for k in ("t", "H_diag", "prev_loss"))
    assert all(isinstance(r, float) for r in entry["ro"])

    cr.save(saved, tmp_path / "opt.crt")
    for state in (saved, cr.load(tmp_path / "opt.crt")):
        again = [cr.Tensor(a.copy(), requires_grad=True) for a in snapshot]
        opt2 = optim.LBFGS(again, lr=0.25, history_size=50)  # the state's values replace these
        opt2.load_state_dict(state)
        assert (
            opt2.param_groups[0]["lr"] == 1
            and opt2.param_groups[0]["history_size"] == kw["history_size"]
        )
        closure2 = make_closure(opt2, logistic, cr, again, [])
        for k in range(2, 6):
            opt2.step(closure2)
            for p, r in zip(again, ref[k]):
                np.testing.assert_array_equal(p.data, r)


def test_state_dict_before_and_after_an_early_return() -> None:
    p = cr.Tensor(np.ones(3), requires_grad=True)
    opt = optim.LBFGS([p])
    assert opt.state_dict()["state"] == {}
    opt.load_state_dict(opt.state_dict())
    opt.step(make_closure(opt, lambda lib, ps: cr.sum(p * 0.0), cr, [], []))
    sd = opt.state_dict()
    assert sd["state"] == {0: {"func_evals": 1, "n_iter": 0}}
    assert (
        sd["param_groups"][0]["max_eval"] == 25 and sd["param_groups"][0]["line_search_fn"] is None
    )
    opt.load_state_dict(sd)
    assert opt.state[p] == {"func_evals": 1, "n_iter": 0}


def test_load_state_dict_validates() -> None:
    init = regression_start()
    ps = [cr.Tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.LBFGS(ps, history_size=3)
    opt.step(make_closure(opt, logistic, cr, ps, []))
    sd = opt.state_dict()
    before = copy.deepcopy(sd)

    def broken(change: Callable[[dict], None]) -> dict:
        bad = copy.deepcopy(sd)
        change(bad["state"][0])
        return bad

    cases = [
        (broken(lambda e: e.update(d=np.zeros(5))), r"'d' has shape \(5,\).*10 elements"),
        (broken(lambda e: e["old_dirs"].append(np.zeros(10))), "different lengths"),
        (broken(lambda e: e["old_stps"].__setitem__(0, np.zeros(9))), r"'old_stps\[0\]'"),
        (broken(lambda e: e.update(momentum_buffer=np.zeros(10))), "unexpected.*momentum"),
        (broken(lambda e: e.pop("prev_flat_grad")), r"lacks \['prev_flat_grad'\]"),
        (broken(lambda e: e.pop("func_evals")), r"lacks \['func_evals'\]"),
        (broken(lambda e: e.update(t="fast")), "malformed"),
        ({"state": {1: sd["state"][0]}, "param_groups": sd["param_groups"]}, "parameter 0 only"),
        ({"state": {0: [1, 2]}, "param_groups": sd["param_groups"]}, "not a dict"),
        (
            {"state": sd["state"], "param_groups": [{**sd["param_groups"][0], "max_iter": 0}]},
            "max_iter",
        ),
        ({"state": {}}, "'state' and 'param_groups'"),
    ]
    for bad, message in cases:
        with pytest.raises(OptimizerError, match=message):
            opt.load_state_dict(bad)
    after = opt.state_dict()  # the failed loads changed nothing
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["d"], before["state"][0]["d"])
    assert len(after["state"][0]["old_dirs"]) == len(before["state"][0]["old_dirs"])
    # PyTorch's scratch list "al" is accepted and dropped; a list of ro values as arrays too
    opt.load_state_dict(
        broken(lambda e: e.update(al=[None] * 3, ro=[np.array(r) for r in e["ro"]]))
    )
    assert "al" not in opt.state[ps[0]] and isinstance(opt.state[ps[0]]["ro"][0], float)


# ---- errors -----------------------------------------------------------------------------
def test_errors() -> None:
    def p() -> list[cr.Tensor]:
        return [cr.Tensor(np.ones(3), requires_grad=True)]

    bad = [
        ({"lr": -1.0}, "learning rate"),
        ({"lr": "1"}, "must be a number"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1, got 0"),
        ({"max_iter": 2.5}, "max_iter must be an integer"),
        ({"max_eval": 0}, "max_eval must be an integer >= 1"),
        ({"history_size": 0}, "history_size must be an integer"),
        ({"history_size": True}, "history_size must be an integer"),
        ({"tolerance_grad": -1e-7}, "tolerance_grad"),
        ({"tolerance_change": "small"}, "tolerance_change must be a number"),
        (
            {"line_search_fn": "armijo"},
            "line_search_fn must be None or 'strong_wolfe', got 'armijo'",
        ),
    ]
    for kw, message in bad:
        with pytest.raises(OptimizerError, match=message):
            optim.LBFGS(p(), **kw)
    with pytest.raises(OptimizerError, match="only one parameter group"):
        optim.LBFGS([{"params": p()}, {"params": p()}])
    opt = optim.LBFGS(p())
    with pytest.raises(OptimizerError, match="only one parameter group"):
        opt.add_param_group({"params": p()})
    with pytest.raises(OptimizerError, match="needs a closure"):
        opt.step()
    with pytest.raises(OptimizerError, match="needs a closure"):
        opt.step(3.0)
    with pytest.raises(OptimizerError, match=r"closure must return the loss.*NoneType"):
        opt.step(lambda: None)
    with pytest.raises(ValueError):  # torch-style except clauses still catch them
        optim.LBFGS(p(), history_size=-1)
    assert optim.LBFGS(p()).param_groups[0]["max_eval"] == 25  # max_iter * 5 // 4
    assert optim.LBFGS(p(), max_iter=10).param_groups[0]["max_eval"] == 12
    assert optim.LBFGS(p(), max_iter=1).param_groups[0]["max_eval"] == 1
    assert "line_search_fn: strong_wolfe" in repr(optim.LBFGS(p(), line_search_fn="strong_wolfe"))
