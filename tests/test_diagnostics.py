"""cr.diagnostics: per-layer report (rows, dead units, flags, update ratios, table, plot)
and the overfit check; both leave the model as they found it."""

from __future__ import annotations

import builtins
import math
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import (
    DiagnosticsError,
    MissingDependencyError,
    OverfitResult,
    Report,
    Thresholds,
    overfit_check,
    report,
)

KEYS = {"layer", "act_mean", "act_std", "dead_fraction", "grad_norm", "update_ratio", "flags"}


def batch(n: int = 64, d: int = 8, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, k, n)


def mlp(d: int = 8, h: int = 16, k: int = 3) -> nn.Sequential:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, k))


def dead_relu_net(d: int = 8, h: int = 16, k: int = 3) -> nn.Sequential:
    """The first ReLU never fires: a bias of -100 swamps every input."""
    net = mlp(d, h, k)
    nn.init.constant_(net[0].bias, -100.0)
    return net


# ---- rows --------------------------------------------------------------------------------


def test_one_row_per_leaf_in_forward_order() -> None:
    x, y = batch()
    rep = report(mlp(), x, y, nn.CrossEntropyLoss())
    assert isinstance(rep, Report)
    assert [r["layer"] for r in rep.rows] == ["0", "1", "2", "3", "4"]
    assert rep.module_types == ["Linear", "ReLU", "Linear", "Tanh", "Linear"]
    for r in rep.rows:
        assert set(r) == KEYS
        assert isinstance(r["flags"], list)
    assert rep["2"] is rep.rows[2]
    assert len(rep) == 5


def test_order_is_the_forward_order_not_the_registration_order() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 2)  # registered first, called last
            self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
            self.unused = nn.Linear(9, 9)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.head(self.body(x))

    x = np.ones((5, 3), dtype=np.float32)
    rep = report(Net(), x, np.zeros((5, 2), np.float32), nn.MSELoss())
    assert [r["layer"] for r in rep.rows] == ["body.0", "body.1", "head"]


def test_activation_statistics_match_the_layer_outputs() -> None:
    x, y = batch()
    net = mlp()
    rep = report(net, x, y, nn.CrossEntropyLoss())
    with cr.no_grad():
        h = net[0](cr.tensor(x)).numpy().astype(np.float64)
    assert rep.rows[0]["act_mean"] == pytest.approx(h.mean(), rel=1e-6, abs=1e-9)
    assert rep.rows[0]["act_std"] == pytest.approx(h.std(), rel=1e-6)
    r = np.maximum(h, 0)
    assert rep.rows[1]["act_mean"] == pytest.approx(r.mean(), rel=1e-6, abs=1e-9)
    assert rep.rows[1]["dead_fraction"] == pytest.approx(np.mean(~(r > 0).any(axis=0)))


def test_a_module_without_parameters_has_no_gradient_columns() -> None:
    x, y = batch()
    rep = report(mlp(), x, y, nn.CrossEntropyLoss())
    for r in (rep.rows[1], rep.rows[3]):
        assert r["grad_norm"] is None and r["update_ratio"] is None
    for r in (rep.rows[0], rep.rows[2], rep.rows[4]):
        assert r["grad_norm"] > 0 and r["update_ratio"] > 0


def test_grad_norm_is_the_norm_of_the_layer_gradients() -> None:
    x, y = batch()
    net = mlp()
    rep = report(net, x, y, nn.CrossEntropyLoss())
    loss = nn.CrossEntropyLoss()(net(cr.tensor(x)), cr.tensor(y))
    loss.backward()
    for i in (0, 2, 4):
        w, b = net[i].weight.grad.numpy(), net[i].bias.grad.numpy()
        want = math.sqrt(
            float((w.astype(np.float64) ** 2).sum() + (b.astype(np.float64) ** 2).sum())
        )
        assert rep.rows[i]["grad_norm"] == pytest.approx(want, rel=1e-5)


def test_update_ratio_is_lr_times_grad_norm_over_param_norm() -> None:
    x, y = batch()
    net = mlp()
    lr = 0.05
    rep = report(net, x, y, nn.CrossEntropyLoss(), lr=lr)
    for i in (0, 2, 4):
        params = np.concatenate([p.numpy().ravel() for p in net[i].parameters()])
        want = lr * rep.rows[i]["grad_norm"] / np.linalg.norm(params.astype(np.float64))
        assert rep.rows[i]["update_ratio"] == pytest.approx(want, rel=1e-6)
    rep2 = report(net, x, y, nn.CrossEntropyLoss(), lr=2 * lr)
    assert rep2.rows[0]["update_ratio"] == pytest.approx(2 * rep.rows[0]["update_ratio"])
    assert rep.lr == lr


def test_lr_from_an_optimiser_uses_each_group_rate() -> None:
    x, y = batch()
    net = mlp()
    opt = cr.optim.SGD(
        [{"params": net[0].parameters(), "lr": 0.1}, {"params": list(net[2:].parameters())}],
        lr=0.01,
    )
    rep = report(net, x, y, nn.CrossEntropyLoss(), lr=opt)
    ref = report(net, x, y, nn.CrossEntropyLoss(), lr=0.01)
    assert rep.lr is None  # two different rates
    assert rep.rows[0]["update_ratio"] == pytest.approx(10 * ref.rows[0]["update_ratio"])
    assert rep.rows[2]["update_ratio"] == pytest.approx(ref.rows[2]["update_ratio"])
    single = report(net, x, y, nn.CrossEntropyLoss(), lr=cr.optim.Adam(net.parameters(), lr=3e-4))
    assert single.lr == pytest.approx(3e-4)


# ---- dead units and flags -------------------------------------------------------------


def test_dead_relus_are_found_and_flagged() -> None:
    x, y = batch()
    rep = report(dead_relu_net(), x, y, nn.CrossEntropyLoss())
    relu = rep.rows[1]
    assert relu["dead_fraction"] == 1.0
    assert relu["act_mean"] == 0.0 and relu["act_std"] == 0.0
    assert "dead" in relu["flags"]
    # no unit passes a gradient back, so the first layer learns nothing
    first = rep.rows[0]
    assert first["grad_norm"] == 0.0
    assert "vanishing" in first["flags"] and "update_too_small" in first["flags"]
    assert rep.rows[0]["dead_fraction"] == 0.0  # a Linear's negative outputs are not dead


def test_healthy_net_has_no_dead_or_gradient_flags() -> None:
    x, y = batch()
    rep = report(mlp(), x, y, nn.CrossEntropyLoss(), lr=0.01)
    assert rep.flagged == []
    assert all(r["flags"] == [] for r in rep.rows)


def test_partly_dead_layer_below_the_threshold_is_not_flagged() -> None:
    x, y = batch()
    net = mlp()
    with cr.no_grad():
        net[0].bias.data[:4] = -100.0  # 4 of 16 units dead
    rep = report(net, x, y, nn.CrossEntropyLoss())
    assert rep.rows[1]["dead_fraction"] == pytest.approx(0.25)
    assert "dead" not in rep.rows[1]["flags"]
    strict = report(net, x, y, nn.CrossEntropyLoss(), thresholds=Thresholds(dead=0.2))
    assert "dead" in strict.rows[1]["flags"]


def test_update_ratio_flags_follow_the_thresholds() -> None:
    x, y = batch()
    net = mlp()
    small = report(net, x, y, nn.CrossEntropyLoss(), lr=1e-9)
    large = report(net, x, y, nn.CrossEntropyLoss(), lr=1e3)
    for i in (0, 2, 4):
        assert "update_too_small" in small.rows[i]["flags"]
        assert "update_too_large" in large.rows[i]["flags"]
        assert small.rows[i]["update_ratio"] < 1e-5 < 1e-1 < large.rows[i]["update_ratio"]


def four_linears() -> nn.Sequential:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3))


def test_vanishing_relative_to_the_output_layer() -> None:
    net = four_linears()
    with cr.no_grad():
        net[3].weight.data[...] *= 1e-4  # the gradient reaching layers 0..2 shrinks 1e4-fold
    x, y = batch()
    rep = report(net, x, y, nn.CrossEntropyLoss())
    norms = [r["grad_norm"] for r in rep.rows]
    assert norms[3] > 1e3 * max(norms[:3]) and min(norms) > 1e-7  # relative, not absolute
    assert [("vanishing" in r["flags"]) for r in rep.rows] == [True, True, True, False]
    assert not any("exploding" in r["flags"] for r in rep.rows)
    loose = report(net, x, y, nn.CrossEntropyLoss(), thresholds=Thresholds(vanishing_ratio=1e-6))
    assert not any("vanishing" in r["flags"] for r in loose.rows)


def test_exploding_relative_to_the_output_layer() -> None:
    net = four_linears()
    x, y = batch()
    with cr.no_grad():
        net[0].weight.data[...] *= 1e-4  # unnormalised inputs: x 1e4 times too large, the
    big = x * 1e4  # first layer's weights 1e4 times too small; the forward pass is unchanged
    rep = report(net, big, y, nn.CrossEntropyLoss())
    assert [("exploding" in r["flags"]) for r in rep.rows] == [True, False, False, False]
    assert rep.rows[0]["grad_norm"] < 1e4  # caught relative to the output layer


def test_absolute_thresholds_apply_to_a_single_layer() -> None:
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 3))
    x, y = batch()
    assert report(net, x, y, nn.CrossEntropyLoss()).rows[0]["flags"] == []
    rep = report(net, x * 1e6, y, nn.CrossEntropyLoss())
    assert rep.rows[0]["grad_norm"] > 1e4 and "exploding" in rep.rows[0]["flags"]
    rep = report(net, x * 0, np.zeros((64, 3), np.float32), lambda out, t: (out * 0).sum())
    assert rep.rows[0]["grad_norm"] == 0 and "vanishing" in rep.rows[0]["flags"]


def test_nonfinite_gradients_count_as_exploding() -> None:
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 3))
    with cr.no_grad():
        net[0].weight.data[0, 0] = np.inf
    x, y = batch()
    with np.errstate(all="ignore"):
        rep = report(net, x, y, nn.CrossEntropyLoss())
    assert "exploding" in rep.rows[0]["flags"]
    assert "update_too_large" in rep.rows[0]["flags"]


def test_frozen_layer_has_no_gradient_columns() -> None:
    x, y = batch()
    net = mlp()
    net[0].requires_grad_(False)
    rep = report(net, x, y, nn.CrossEntropyLoss())
    assert rep.rows[0]["grad_norm"] is None and rep.rows[0]["update_ratio"] is None
    assert rep.rows[2]["grad_norm"] > 0


def test_every_flag_is_a_known_name() -> None:
    x, y = batch()
    for net in (mlp(), dead_relu_net()):
        for lr in (1e-9, 0.01, 1e3):
            rep = report(net, x, y, nn.CrossEntropyLoss(), lr=lr)
            for r in rep.rows:
                assert set(r["flags"]) <= set(cr.diagnostics.FLAGS)


# ---- models of other shapes -------------------------------------------------------------


def test_conv_like_outputs_count_units_per_element() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()
            self.flat = nn.Flatten()

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.flat(self.act(x))

    x = np.ones((4, 2, 3, 3), dtype=np.float32)
    x[:, 0] = -1.0  # channel 0 never positive: 9 of 18 units dead
    rep = report(Net(), x, np.zeros((4, 18), np.float32), nn.MSELoss())
    assert rep.rows[0]["dead_fraction"] == 0.5
    assert rep.rows[1]["dead_fraction"] == 0.5


def test_graph_model_and_multi_input() -> None:
    g = nn.Graph(inputs=["a", "b"], outputs=["y"])
    g.add("ha", nn.Linear(3, 4), inputs=["a"])
    g.add("hb", nn.Linear(2, 4), inputs=["b"])
    g.add("s", nn.Add(), inputs=["ha", "hb"])
    g.add("y", nn.Linear(4, 1), inputs=["s"])
    a = np.ones((6, 3), np.float32)
    b = np.ones((6, 2), np.float32)
    rep = report(g, (a, b), np.zeros((6, 1), np.float32), nn.MSELoss())
    assert {r["layer"] for r in rep.rows} == {"ha", "hb", "s", "y"}
    assert rep.rows[-1]["layer"] == "y"


def test_container_owning_parameters_gets_a_row_for_its_own() -> None:
    cr.manual_seed(0)

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.attn(x, x, x)[0]

    net = Wrap()
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    target = np.zeros((2, 5, 8), np.float32)
    rep = report(net, x, target, nn.MSELoss())
    # MultiheadAttention owns in_proj_* and uses out_proj's weights without calling it:
    # one row, covering all of them
    assert [r["layer"] for r in rep.rows] == ["attn"]
    nn.MSELoss()(net(cr.tensor(x)), cr.tensor(target)).backward()
    own = list(net.attn.parameters())
    assert len(own) == 4
    want = math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in own))
    assert rep.rows[0]["grad_norm"] == pytest.approx(want, rel=1e-5)


def test_container_with_its_own_parameter_and_a_called_child() -> None:
    cr.manual_seed(0)

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(np.full((3,), 2.0, np.float32))
            self.fc = nn.Linear(8, 3)

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.fc(x) * self.scale

    net = Scaled()
    x, y = batch()
    rep = report(net, x, y, nn.CrossEntropyLoss())
    assert [r["layer"] for r in rep.rows] == ["Scaled", "fc"]
    nn.CrossEntropyLoss()(net(cr.tensor(x)), cr.tensor(y)).backward()
    assert rep.rows[0]["grad_norm"] == pytest.approx(np.linalg.norm(net.scale.grad.numpy()))
    fc = np.concatenate([p.grad.numpy().ravel() for p in net.fc.parameters()])
    assert rep.rows[1]["grad_norm"] == pytest.approx(np.linalg.norm(fc), rel=1e-5)


def test_a_module_called_twice_pools_both_calls() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x: cr.Tensor) -> cr.Tensor:
            return self.act(x) + self.act(-x)

    x = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32)
    rep = report(Twice(), x, np.zeros((2, 2), np.float32), nn.MSELoss())
    assert len(rep.rows) == 1
    values = np.array([1.0, 0, 3, 0, 0, 2, 0, 4])
    assert rep.rows[0]["act_mean"] == pytest.approx(values.mean())
    # each call's units count separately: unit 1 of call 1 and unit 0 of call 2 are dead
    assert rep.rows[0]["dead_fraction"] == 0.5


def test_a_bare_leaf_model_is_named_by_its_class() -> None:
    cr.manual_seed(0)
    x, y = batch()
    rep = report(nn.Linear(8, 3), x, y, nn.CrossEntropyLoss())
    assert [r["layer"] for r in rep.rows] == ["Linear"]


def test_loss_function_and_tensor_inputs() -> None:
    x, y = batch()
    rep = report(mlp(), cr.tensor(x), cr.tensor(y), cr.nn.functional.cross_entropy)
    assert len(rep.rows) == 5 and rep.loss > 0
    lists = report(mlp(), x.tolist(), y.tolist(), nn.CrossEntropyLoss())
    assert lists.loss == pytest.approx(rep.loss)


def test_bad_arguments() -> None:
    x, y = batch()
    with pytest.raises(DiagnosticsError, match=r"nn\.Module"):
        report(lambda t: t, x, y, nn.CrossEntropyLoss())
    with pytest.raises(DiagnosticsError, match="one-element Tensor"):
        report(mlp(), x, y, nn.CrossEntropyLoss(reduction="none"))
    with pytest.raises(DiagnosticsError, match="lr"):
        report(mlp(), x, y, nn.CrossEntropyLoss(), lr=-1)
    with pytest.raises(ValueError):  # DiagnosticsError is a ValueError
        report(mlp(), x, y, nn.CrossEntropyLoss(), lr="fast")


# ---- nothing changes --------------------------------------------------------------------


def test_report_leaves_grads_modes_buffers_and_rng_alone() -> None:
    cr.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)
    )
    x, y = batch()
    loss = nn.CrossEntropyLoss()(net(cr.tensor(x)), cr.tensor(y))
    loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in net.named_parameters()}
    grad_objects = {n: p.grad for n, p in net.named_parameters()}
    net.eval()
    net[3].train()  # mixed modes survive too
    modes = [m.training for m in net.modules()]
    buffers = {n: b.numpy().copy() for n, b in net.named_buffers()}
    params = {n: p.numpy().copy() for n, p in net.named_parameters()}
    rng_before = cr.backend.get_rng_state()
    rng_before = {"state": dict(rng_before["state"])}

    xt = cr.tensor(x, requires_grad=True)
    report(net, xt, y, nn.CrossEntropyLoss())  # train=True: BatchNorm would update its stats

    assert [m.training for m in net.modules()] == modes
    for n, p in net.named_parameters():
        assert p.grad is grad_objects[n]
        np.testing.assert_array_equal(p.grad.numpy(), grads[n])
        np.testing.assert_array_equal(p.numpy(), params[n])
    for n, b in net.named_buffers():
        np.testing.assert_array_equal(b.numpy(), buffers[n])
    assert xt.grad is None
    assert cr.backend.get_rng_state()["state"] == rng_before["state"]


def test_report_keeps_a_recorded_call_for_modular_backward() -> None:
    net = mlp()
    x, y = batch()
    out = net(cr.tensor(x))
    report(net, x, y, nn.CrossEntropyLoss())
    net.backward(np.ones(out.shape, np.float32))  # the user's call is still the recorded one
    assert net[0].weight.grad is not None


def test_report_in_eval_mode_uses_running_statistics() -> None:
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    x, y = batch(k=4)
    train_rep = report(net, x, y, nn.CrossEntropyLoss())
    eval_rep = report(net, x, y, nn.CrossEntropyLoss(), train=False)
    assert train_rep.rows[1]["act_std"] == pytest.approx(1.0, abs=1e-2)  # batch statistics
    assert eval_rep.rows[1]["act_std"] == pytest.approx(train_rep.rows[0]["act_std"], rel=1e-3)
    assert net.training


# ---- the table and the plot -------------------------------------------------------------


def test_str_is_an_aligned_table() -> None:
    x, y = batch()
    rep = report(dead_relu_net(), x, y, nn.CrossEntropyLoss())
    text = str(rep)
    lines = text.splitlines()
    header = lines[0].split()
    assert header == [
        "layer", "module", "act_mean", "act_std", "dead", "grad_norm", "update_ratio", "flags"
    ]  # fmt: skip
    assert set(lines[1].replace(" ", "")) == {"-"}
    body = lines[2 : 2 + len(rep.rows)]
    assert len(body) == 5
    # every numeric column ends at the same character in every row
    end = lines[0].index("update_ratio") + len("update_ratio")
    for line in body:
        assert line[end - 1] != " "
    assert "100.0%" in body[1] and "dead" in body[1]
    assert "vanishing" in body[0]
    assert body[1].split()[5] == "-"  # no grad_norm for ReLU
    assert "layers flagged" in lines[-1]
    assert "Report(" in repr(rep) or "rows=" in repr(rep)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    x, y = batch()
    rep = report(dead_relu_net(), x, y, nn.CrossEntropyLoss())
    path = tmp_path / "hist.png"
    assert rep.plot(str(path)) == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000


def test_plot_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    x, y = batch()
    rep = report(mlp(), x, y, nn.CrossEntropyLoss())
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(MissingDependencyError, match=r"matplotlib.*chainrule\[plot\]") as info:
        rep.plot(str(tmp_path / "x.png"))
    assert isinstance(info.value, cr.ChainruleError) and isinstance(info.value, ImportError)
    assert not (tmp_path / "x.png").exists()


# ---- overfit_check ----------------------------------------------------------------------


def test_overfit_check_passes_on_a_small_net() -> None:
    x, y = batch(n=16)
    net = mlp(h=32)
    opt = cr.optim.Adam(net.parameters(), lr=1e-2)
    res = overfit_check(net, nn.CrossEntropyLoss(), opt, x, y, steps=200)
    assert isinstance(res, OverfitResult)
    assert res.passed and bool(res)
    assert len(res.losses) == 200
    assert res.final_loss < 0.01 * res.first_loss or res.final_loss < 1e-2
    assert "passed" in str(res)


def test_overfit_check_fails_on_a_frozen_net() -> None:
    x, y = batch(n=16)
    net = mlp()
    net.requires_grad_(False)
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    res = overfit_check(net, nn.CrossEntropyLoss(), opt, x, y, steps=20)
    assert not res.passed
    assert res.losses[0] == pytest.approx(res.losses[-1])
    assert "FAILED" in str(res)


def test_overfit_check_fails_with_zero_learning_rate() -> None:
    x, y = batch(n=16)
    net = mlp()
    res = overfit_check(net, nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.0), x, y)
    assert not res.passed
    assert len(res.losses) == 200


def test_overfit_check_stops_on_a_nonfinite_loss() -> None:
    x, _ = batch(n=16)
    net = mlp()
    opt = cr.optim.SGD(net.parameters(), lr=1e30)
    with np.errstate(all="ignore"):
        res = overfit_check(net, nn.MSELoss(), opt, x, np.zeros((16, 3), np.float32))
    assert not res.passed
    assert not math.isfinite(res.losses[-1]) and len(res.losses) < 200


def test_overfit_check_restores_the_model_and_optimiser() -> None:
    x, y = batch(n=16)
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    opt = cr.optim.Adam(net.parameters(), lr=1e-2)
    loss = nn.CrossEntropyLoss()(net(cr.tensor(x)), cr.tensor(y))
    loss.backward()
    opt.step()  # some optimiser state to keep
    net.eval()
    params = {n: p.numpy().copy() for n, p in net.named_parameters()}
    grads = {n: p.grad for n, p in net.named_parameters()}
    buffers = {n: b.numpy().copy() for n, b in net.named_buffers()}
    opt_state = opt.state_dict()

    res = overfit_check(net, nn.CrossEntropyLoss(), opt, x, y, steps=50)
    assert res.losses[-1] < res.losses[0]
    assert not net.training and not any(m.training for m in net.modules())
    for n, p in net.named_parameters():
        np.testing.assert_array_equal(p.numpy(), params[n])
        assert p.grad is grads[n]
    for n, b in net.named_buffers():
        np.testing.assert_array_equal(b.numpy(), buffers[n])
    after = opt.state_dict()
    assert after["state"].keys() == opt_state["state"].keys()
    for k in opt_state["state"]:
        assert after["state"][k]["step"] == opt_state["state"][k]["step"]
        np.testing.assert_array_equal(
            after["state"][k]["exp_avg"], opt_state["state"][k]["exp_avg"]
        )


def test_overfit_check_without_restore_keeps_the_training() -> None:
    x, y = batch(n=16)
    net = mlp(h=32)
    net.eval()
    opt = cr.optim.Adam(net.parameters(), lr=1e-2)
    res = overfit_check(net, nn.CrossEntropyLoss(), opt, x, y, restore=False)
    assert res.passed
    assert not net.training  # the mode is restored either way
    with cr.no_grad():
        final = nn.CrossEntropyLoss()(net(cr.tensor(x)), cr.tensor(y)).item()
    assert final < 0.01 * res.first_loss or final < 1e-2


def test_overfit_check_bad_steps() -> None:
    x, y = batch(n=4)
    net = mlp()
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    for steps in (0, -1, 2.5, True):
        with pytest.raises(DiagnosticsError, match="steps"):
            overfit_check(net, nn.CrossEntropyLoss(), opt, x, y, steps=steps)
