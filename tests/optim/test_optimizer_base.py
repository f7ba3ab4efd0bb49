"""The Optimizer machinery: groups, zero_grad, state dicts, errors, no graph, training."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.autograd import function as _function
from chainrule.optim import OptimizerError

ALL = [
    (optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (optim.SGD, {"lr": 0.1}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    (optim.AdamW, {"lr": 0.01}),
    (optim.RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.9}),
    (optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    (optim.Adadelta, {"lr": 0.5, "weight_decay": 0.01}),
    (optim.Adamax, {"lr": 0.01}),
    (optim.NAdam, {"lr": 0.01, "weight_decay": 0.01, "decoupled_weight_decay": True}),
    (optim.RAdam, {"lr": 0.01}),
    (optim.Rprop, {"lr": 0.01, "etas": (0.4, 1.3)}),
    (optim.ASGD, {"lr": 0.01, "t0": 5, "weight_decay": 0.01}),
    (optim.Adafactor, {"lr": 0.01, "weight_decay": 0.01}),
    (optim.Adafactor, {"lr": 0.02, "eps": (1e-20, 1e-3), "maximize": True}),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(ALL)]


def params(seed: int = 0, shapes: tuple = ((4, 3), (3,), ())) -> list[cr.Tensor]:
    rng = np.random.default_rng(seed)
    return [
        cr.Tensor(np.asarray(rng.standard_normal(s), dtype=np.float32), requires_grad=True)
        for s in shapes
    ]


def grads(ps: list[cr.Tensor], steps: int, seed: int = 1) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [np.asarray(rng.standard_normal(p.shape), dtype=np.float32) for p in ps]
        for _ in range(steps)
    ]


def run(opt: optim.Optimizer, ps: list[cr.Tensor], seq: list) -> None:
    for row in seq:
        for p, g in zip(ps, row):
            p.grad = cr.Tensor(g.copy())
        opt.step()


# ---- state dicts ---------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "kw"), ALL, ids=IDS)
def test_state_dict_round_trip_is_bit_identical(cls: type, kw: dict) -> None:
    ref = params()
    seq = grads(ref, 40)
    opt = cls(ref, **kw)
    run(opt, ref, seq)  # the uninterrupted run

    first = params()
    opt1 = cls(first, **kw)
    run(opt1, first, seq[:17])
    saved = opt1.state_dict()
    snapshot = [p.data.copy() for p in first]
    run(opt1, first, seq[17:])  # stepping on must not change the saved snapshot
    second = [cr.Tensor(a, requires_grad=True) for a in snapshot]
    opt2 = cls(second, lr=123.0)  # other hyper-parameters: the state's replace them
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    run(opt2, second, seq[17:])
    for a, b, c in zip(ref, first, second):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.data, c.data)


@pytest.mark.parametrize(("cls", "kw"), ALL, ids=IDS)
def test_state_dict_is_plain_numpy_and_json_friendly(cls: type, kw: dict) -> None:
    ps = params()
    opt = cls(ps, **kw)
    run(opt, ps, grads(ps, 3))
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    for entry in sd["state"].values():
        for value in entry.values():
            assert isinstance(value, np.ndarray | int | float)  # (NAdam's mu_product)
    # the arrays apart, everything is JSON (what cr.save writes beside the tensors)
    meta = {
        "param_groups": sd["param_groups"],
        "state": {
            k: {n: v for n, v in e.items() if not isinstance(v, np.ndarray)}
            for k, e in sd["state"].items()
        },
    }
    back = json.loads(json.dumps(meta))
    arrays = {
        k: {n: v for n, v in e.items() if isinstance(v, np.ndarray)} for k, e in sd["state"].items()
    }
    restored = {
        "param_groups": back["param_groups"],
        "state": {k: {**back["state"][str(k)], **arrays[k]} for k in arrays},
    }
    ps2 = [cr.Tensor(p.data.copy(), requires_grad=True) for p in ps]
    opt2 = cls(ps2, **kw)
    opt2.load_state_dict(restored)  # string keys, lists for tuples: still loads
    seq = grads(ps, 5, seed=9)
    run(opt, ps, seq)
    run(opt2, ps2, seq)
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_with_several_groups_numbers_params_in_order() -> None:
    ps = params(shapes=((2,), (3,), (4,), (5,)))
    opt = optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.5}])
    run(opt, ps, grads(ps, 2))
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["state"][3]["exp_avg"].shape == (5,)
    assert sd["state"][0]["step"] == 2


def test_load_state_dict_validates() -> None:
    ps = params()
    opt = optim.Adam(ps, lr=0.01)
    run(opt, ps, grads(ps, 2))
    sd = opt.state_dict()
    before = copy.deepcopy(opt.state_dict())

    with pytest.raises(OptimizerError, match="parameter groups"):
        optim.Adam([{"params": ps[:1]}, {"params": ps[1:]}]).load_state_dict(sd)
    with pytest.raises(OptimizerError, match="3 parameters in the state but 2"):
        optim.Adam(params()[:2]).load_state_dict(sd)
    other = params(shapes=((4, 3), (2,), ()))
    with pytest.raises(OptimizerError, match=r"shape \(3,\).*shape \(2,\)"):
        optim.Adam(other).load_state_dict(sd)
    with pytest.raises(OptimizerError, match="different kind of optimiser"):
        optim.SGD(params(), lr=0.1).load_state_dict(sd)  # Adam groups lack "momentum"
    sgd_params = params()
    sgd = optim.SGD(sgd_params, lr=0.1, momentum=0.9)
    run(sgd, sgd_params, grads(sgd_params, 1))
    mixed = {"state": sgd.state_dict()["state"], "param_groups": sd["param_groups"]}
    with pytest.raises(OptimizerError, match="unexpected state 'momentum_buffer'"):
        optim.Adam(params()).load_state_dict(mixed)
    with pytest.raises(OptimizerError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    bad = copy.deepcopy(sd)
    bad["state"][7] = bad["state"][0]
    with pytest.raises(OptimizerError, match="no parameter group lists"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    del bad["state"][1]["exp_avg_sq"]
    with pytest.raises(OptimizerError, match="lacks \\['exp_avg_sq'\\]"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(OptimizerError, match="learning rate"):
        opt.load_state_dict(bad)
    after = opt.state_dict()  # failed loads changed nothing
    assert after["param_groups"] == before["param_groups"]
    for k in before["state"]:
        for n in before["state"][k]:
            np.testing.assert_array_equal(after["state"][k][n], before["state"][k][n])


def test_loaded_state_is_a_copy() -> None:
    ps = params()
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    run(opt, ps, grads(ps, 2))
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    sd["state"][0]["momentum_buffer"][...] = 99.0
    assert not np.any(opt.state[ps[0]]["momentum_buffer"] == 99.0)


# ---- steps ---------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "kw"), ALL, ids=IDS)
def test_step_builds_no_graph(cls: type, kw: dict) -> None:
    ps = params()
    # a real backward first, so the gradients come from the engine
    loss = cr.sum(ps[0] * ps[0]) + cr.sum(cr.exp(ps[1])) + ps[2] * 3.0
    loss.backward()
    opt = cls(ps, **kw)
    ids = [id(p.data) for p in ps]
    before = next(_function._node_numbers)
    for _ in range(3):
        opt.step()
    assert next(_function._node_numbers) == before + 1  # no Node was made in between
    for p, i in zip(ps, ids):
        assert p._node is None and p.is_leaf and p.requires_grad
        assert id(p.data) == i  # updated in place, not rebound
        assert p.grad._node is None


def test_step_changes_data_in_place_and_bumps_version() -> None:
    p = cr.Tensor(np.ones(3, np.float32), requires_grad=True)
    view = p.data
    y = cr.sum(p * p)  # saves p for backward
    y.backward(retain_graph=True)
    opt = optim.SGD([p], lr=0.5)
    opt.step()
    np.testing.assert_array_equal(view, np.zeros(3, np.float32))  # 1 - 0.5 * 2
    with pytest.raises(cr.GraphError, match="modified in place"):
        y.backward()


def test_params_without_grad_are_skipped() -> None:
    ps = params()
    opt = optim.Adam(ps, lr=0.1)
    ps[0].grad = cr.Tensor(np.ones((4, 3), np.float32))
    before = [p.data.copy() for p in ps]
    opt.step()
    assert not np.array_equal(ps[0].data, before[0])
    np.testing.assert_array_equal(ps[1].data, before[1])
    assert ps[1] not in opt.state and ps[2] not in opt.state
    assert opt.state[ps[0]]["step"] == 1


def test_zero_grad() -> None:
    ps = params()
    for p in ps:
        p.grad = cr.Tensor(np.ones(p.shape, np.float32))
    opt = optim.SGD(ps, lr=0.1)
    g0 = ps[0].grad
    opt.zero_grad(set_to_none=False)
    assert ps[0].grad is g0
    assert all(np.all(p.grad.data == 0) for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    opt.zero_grad()  # nothing to do: fine


def test_step_with_closure() -> None:
    w = cr.Tensor(np.array([3.0, -2.0], np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure() -> cr.Tensor:
        opt.zero_grad()
        loss = cr.sum(w * w)
        loss.backward()
        calls.append(1)
        return loss

    with cr.no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert float(loss) == pytest.approx(13.0)
    np.testing.assert_allclose(w.data, [1.5, -1.0])
    assert calls == [1]
    assert opt.step() is None


def test_named_params_and_generators() -> None:
    ps = params()
    opt = optim.SGD(((f"p{i}", p) for i, p in enumerate(ps)), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["p0", "p1", "p2"]
    assert opt.param_groups[0]["params"] == ps or all(
        a is b for a, b in zip(opt.param_groups[0]["params"], ps)
    )
    opt = optim.Adam(iter(ps))
    assert len(opt.param_groups[0]["params"]) == 3
    opt = optim.SGD([{"params": ps[0]}], lr=0.1)  # a single tensor as a group's params
    assert opt.param_groups[0]["params"][0] is ps[0]


def test_parameter_subclass_works() -> None:
    class MyParam(cr.Tensor):
        __slots__ = ()

    p = MyParam(np.ones(2, np.float32), requires_grad=True)
    p.grad = cr.Tensor(np.ones(2, np.float32))
    optim.Adam([p], lr=0.1).step()
    assert type(p) is MyParam
    np.testing.assert_allclose(p.data, [0.9, 0.9], rtol=1e-6)


def test_repr() -> None:
    text = repr(optim.Adam(params(), lr=0.01))
    assert text.startswith("Adam (") and "lr: 0.01" in text and "betas: (0.9, 0.999)" in text


# ---- errors ----------------------------------------------------------------------------
def test_errors() -> None:
    ps = params()
    p = ps[0]
    with pytest.raises(OptimizerError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(OptimizerError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(OptimizerError, match="is a ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(OptimizerError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(OptimizerError, match="not a leaf"):
        optim.SGD([p * 2.0], lr=0.1)
    with pytest.raises(OptimizerError, match="floating-point"):
        optim.SGD([cr.Tensor(np.arange(3))], lr=0.1)
    with pytest.raises(OptimizerError, match="floating-point"):
        optim.Adam([cr.Tensor(np.ones(3, np.complex64))])
    with pytest.raises(OptimizerError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(OptimizerError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(OptimizerError, match="'params'"):
        optim.SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(OptimizerError, match="must be a dict"):
        optim.SGD([p], lr=0.1).add_param_group([ps[1]])
    bad = [
        (optim.SGD, {"lr": -0.1}, "learning rate"),
        (optim.SGD, {"lr": float("nan")}, "learning rate"),
        (optim.SGD, {"lr": "0.1"}, "must be a number"),
        (optim.SGD, {"lr": 0.1, "momentum": -0.5}, "momentum"),
        (optim.SGD, {"lr": 0.1, "weight_decay": -1}, "weight_decay"),
        (optim.SGD, {"lr": 0.1, "nesterov": True}, "Nesterov"),
        (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "Nesterov"),
        (optim.Adam, {"lr": -1e-3}, "learning rate"),
        (optim.Adam, {"betas": (1.0, 0.999)}, "beta1"),
        (optim.Adam, {"betas": (0.9, -0.1)}, "beta2"),
        (optim.Adam, {"betas": (0.9,)}, "pair"),
        (optim.Adam, {"eps": -1e-8}, "eps"),
        (optim.AdamW, {"weight_decay": -0.01}, "weight_decay"),
        (optim.RMSprop, {"alpha": -0.1}, "alpha"),
        (optim.RMSprop, {"momentum": -0.1}, "momentum"),
        (optim.Adagrad, {"lr_decay": -0.1}, "lr_decay"),
        (optim.Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        (optim.Adadelta, {"rho": 1.5}, "rho"),
        (optim.Adamax, {"betas": (0.9, 1.0)}, "beta2"),
        (optim.NAdam, {"momentum_decay": -1.0}, "momentum_decay"),
        (optim.RAdam, {"eps": -1.0}, "eps"),
        (optim.Rprop, {"etas": (1.5, 1.2)}, "etaminus"),
        (optim.Rprop, {"etas": (0.5, 0.9)}, "etaplus"),
        (optim.Rprop, {"etas": (0.5,)}, "etas must be a pair"),
        (optim.Rprop, {"step_sizes": (1.0, 0.1)}, r"step_sizes\[1\]"),
        (optim.ASGD, {"lr": -0.01}, "learning rate"),
        (optim.ASGD, {"lambd": -1e-4}, "lambd"),
        (optim.ASGD, {"alpha": -0.5}, "alpha"),
        (optim.ASGD, {"t0": float("nan")}, "t0"),
        (optim.ASGD, {"weight_decay": -0.1}, "weight_decay"),
        (optim.ASGD, {"maximize": 1}, "maximize must be a bool"),
        (optim.Adafactor, {"lr": -0.01}, "learning rate"),
        (optim.Adafactor, {"beta2_decay": 0.5}, "beta2_decay"),
        (optim.Adafactor, {"eps": (-1e-30, 1e-3)}, r"eps1 \(eps\[0\]\)"),
        (optim.Adafactor, {"eps": (None, -1e-3)}, r"eps2 \(eps\[1\]\)"),
        (optim.Adafactor, {"eps": 1e-3}, "eps must be a pair"),
        (optim.Adafactor, {"d": 0.5}, "invalid d"),
        (optim.Adafactor, {"weight_decay": -0.1}, "weight_decay"),
        (optim.Adafactor, {"foreach": "yes"}, "foreach must be a bool"),
        (optim.Adafactor, {"maximize": None}, "maximize must be a bool"),
    ]
    for cls, kw, msg in bad:
        with pytest.raises(OptimizerError, match=msg):
            cls(params(), **kw)
    with pytest.raises(OptimizerError, match="learning rate"):
        optim.Adam(ps).add_param_group({"params": params(5), "lr": -1.0})
    # torch-style except clauses still catch them
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD([1.0], lr=0.1)
    assert issubclass(OptimizerError, cr.ChainruleError)


def test_gradient_of_wrong_shape() -> None:
    p = cr.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    p.grad = cr.Tensor(np.zeros((3, 2), np.float32))
    with pytest.raises(cr.ShapeError, match=r"\(2, 3\).*\(3, 2\)"):
        optim.Adam([p]).step()


# ---- L1 penalty --------------------------------------------------------------------------
def test_l1_penalty_value_and_gradient() -> None:
    a = cr.Tensor(np.array([[1.0, -2.0], [0.0, 3.0]], np.float32), requires_grad=True)
    b = cr.Tensor(np.array([-0.5], np.float32), requires_grad=True)
    pen = optim.l1_penalty([a, b], 0.1)
    assert isinstance(pen, cr.Tensor) and pen.shape == ()
    assert float(pen) == pytest.approx(0.65)
    pen.backward()
    np.testing.assert_allclose(a.grad.data, [[0.1, -0.1], [0.0, 0.1]])
    np.testing.assert_allclose(b.grad.data, [-0.1])
    assert float(optim.l1_penalty(a, 1.0)) == pytest.approx(6.0)
    with pytest.raises(OptimizerError, match="no parameters"):
        optim.l1_penalty([], 0.1)
    with pytest.raises(OptimizerError, match="L1 penalty weight"):
        optim.l1_penalty([a], -1.0)
    with pytest.raises(OptimizerError, match="is a list"):
        optim.l1_penalty([[1.0]], 0.1)


def test_l1_penalty_drives_weights_to_zero() -> None:
    """Lasso on a problem whose second feature is useless: its weight goes to ~0."""
    rng = np.random.default_rng(0)
    x = cr.Tensor(rng.standard_normal((200, 2)).astype(np.float32))
    y = cr.Tensor((2.0 * x.data[:, :1]).astype(np.float32))
    w = cr.Tensor(np.ones((2, 1), np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        loss = cr.mean((x @ w - y) ** 2) + optim.l1_penalty([w], 0.05)
        loss.backward()
        opt.step()
    assert abs(float(w.data[1, 0])) < 0.03
    assert float(w.data[0, 0]) == pytest.approx(2.0, abs=0.05)


# ---- end to end ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        (optim.Adam, {"lr": 0.05}),
        (optim.AdamW, {"lr": 0.05, "weight_decay": 1e-4}),
        (optim.RMSprop, {"lr": 0.02}),
        (optim.Adagrad, {"lr": 0.5}),
        (optim.ASGD, {"lr": 0.1}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_linear_regression_fits(cls: type, kw: dict) -> None:
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3)).astype(np.float32)
    true_w = np.array([[1.5], [-2.0], [0.5]], np.float32)
    y = (x @ true_w + 0.7 + 0.01 * rng.standard_normal((256, 1))).astype(np.float32)
    X, Y = cr.Tensor(x), cr.Tensor(y)
    w = cr.Tensor(np.zeros((3, 1), np.float32), requires_grad=True)
    b = cr.Tensor(np.zeros((1,), np.float32), requires_grad=True)
    opt = cls([w, b], **kw)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = cr.mean((X @ w + b - Y) ** 2)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 1e-2 * losses[0]
    np.testing.assert_allclose(w.data, true_w, atol=0.05)
    np.testing.assert_allclose(b.data, [0.7], atol=0.05)


# ---- ASGD and Adafactor ------------------------------------------------------------------------
def test_asgd_ax_is_the_mean_of_the_iterates_after_t0() -> None:
    """With lambd=0 the rate stays lr; from step t0 + 2 on, ax is the running mean."""
    ps = params(shapes=((3, 2), (4,)))
    opt = optim.ASGD(ps, lr=0.05, lambd=0.0, t0=3)
    seen = []
    for row in grads(ps, 12):
        for p, g in zip(ps, row):
            p.grad = cr.Tensor(g)
        before = [p.data.copy() for p in ps]
        opt.step()
        for p, b, g in zip(ps, before, row):
            np.testing.assert_allclose(p.data, b - np.float32(0.05) * g, rtol=1e-6, atol=1e-7)
        seen.append([p.data.copy() for p in ps])
    for i, p in enumerate(ps):
        state = opt.state[p]
        assert state["step"] == 12 and state["eta"] == pytest.approx(0.05)
        assert state["mu"] == pytest.approx(1 / (12 - 3))
        want = np.mean([s[i] for s in seen[4:]], axis=0)  # steps t0 + 2 = 5 ... 12
        np.testing.assert_allclose(state["ax"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (optim.ASGD, {"lr": 0.05, "t0": 2, "weight_decay": 0.1}),
        (optim.Adafactor, {"lr": 0.05, "weight_decay": 0.1}),
    ],
    ids=["ASGD", "Adafactor"],
)
def test_maximize_is_minimising_the_negation(cls: type, kw: dict) -> None:
    up, down = params(3), params(3)
    opt_up, opt_down = cls(up, maximize=True, **kw), cls(down, **kw)
    for row in grads(up, 10):
        for p, q, g in zip(up, down, row):
            p.grad = cr.Tensor(-g)
            q.grad = cr.Tensor(g)
        opt_up.step()
        opt_down.step()
    for p, q in zip(up, down):
        np.testing.assert_array_equal(p.data, q.data)


def test_adafactor_factored_state_and_convergence() -> None:
    rng = np.random.default_rng(7)
    target = [rng.standard_normal(s).astype(np.float32) for s in ((6, 4), (2, 3, 5), (4,))]
    ps = [cr.Tensor(rng.standard_normal(t.shape).astype(np.float32), requires_grad=True)
          for t in target]  # fmt: skip
    opt = optim.Adafactor(ps, lr=0.05)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = sum(cr.sum((p - cr.Tensor(t)) ** 2) for p, t in zip(ps, target))
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(loss) < 1e-3 * first
    assert opt.state[ps[0]]["row_var"].shape == (6, 1)
    assert opt.state[ps[0]]["col_var"].shape == (1, 4)
    assert opt.state[ps[1]]["row_var"].shape == (2, 3, 1)
    assert opt.state[ps[1]]["col_var"].shape == (2, 1, 5)
    assert set(opt.state[ps[2]]) == {"step", "variance"}
    assert opt.param_groups[0]["eps"] == (None, 1e-3) and opt.param_groups[0]["foreach"] is None


def test_adafactor_load_state_dict_checks_factored_shapes() -> None:
    ps = params()  # (4, 3), (3,), ()
    opt = optim.Adafactor(ps, lr=0.01)
    run(opt, ps, grads(ps, 2))
    sd = opt.state_dict()
    before = copy.deepcopy(sd)

    bad = copy.deepcopy(sd)
    bad["state"][0]["row_var"] = np.zeros((4, 3), np.float32)
    with pytest.raises(OptimizerError, match=r"'row_var' of parameter 0 has shape \(4, 3\)"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    del bad["state"][0]["col_var"]
    with pytest.raises(OptimizerError, match=r"lacks \['col_var'\]"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][0]["variance"] = np.zeros((4, 3), np.float32)
    with pytest.raises(OptimizerError, match=r"unexpected state 'variance' for parameter 0 "
                       r"\(Adafactor keeps \['col_var', 'row_var', 'step'\]"):  # fmt: skip
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["state"][1]["row_var"] = np.zeros((1,), np.float32)
    with pytest.raises(OptimizerError, match=r"unexpected state 'row_var' for parameter 1 "
                       r"\(Adafactor keeps \['step', 'variance'\]"):  # fmt: skip
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    del bad["state"][2]["variance"]
    with pytest.raises(OptimizerError, match=r"lacks \['variance'\]"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["lr"] = 0.5
    bad["state"][0]["col_var"] = np.zeros((1, 4), np.float32)
    with pytest.raises(OptimizerError, match="col_var"):
        opt.load_state_dict(bad)
    with pytest.raises(OptimizerError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    after = opt.state_dict()  # failed loads changed nothing
    assert after["param_groups"] == before["param_groups"]
    for k in before["state"]:
        assert after["state"][k].keys() == before["state"][k].keys()
        for n in before["state"][k]:
            np.testing.assert_array_equal(after["state"][k][n], before["state"][k][n])
