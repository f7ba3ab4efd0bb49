"""optim.swa_utils: AveragedModel, the averaging functions and update_bn, against
torch.optim.swa_utils and without torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.optim import OptimizerError, swa_utils


def our_model() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def torch_model(torch: Any, ours: nn.Module) -> Any:
    m = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )
    copy_weights(torch, ours, m)
    return m


def copy_weights(torch: Any, ours: nn.Module, theirs: Any) -> None:
    """Every parameter and buffer of ``ours`` into ``theirs`` (same architecture)."""
    with torch.no_grad():
        for t, v in zip(theirs.state_dict().values(), ours.state_dict().values()):
            t.copy_(torch.from_numpy(np.array(v.numpy())))


def perturb(ours: nn.Module, rng: np.random.Generator, k: int) -> None:
    """New weights and buffers, as training would leave them."""
    for p in ours.parameters():
        p.data[...] = rng.standard_normal(p.shape).astype(np.float32)
    bn = ours[1]
    bn.running_mean.data[...] = rng.standard_normal(6).astype(np.float32)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    bn.num_batches_tracked.data[...] = 7 * k + 3


def assert_same_state(ours: nn.Module, theirs: Any, exact: bool = True) -> None:
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for key in sd:
        a, b = np.asarray(sd[key].numpy()), tsd[key].numpy()
        assert a.dtype == b.dtype, key
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=key)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=key)


AVERAGES = ["swa", "swa-avg_fn", "swa-multi", "ema-avg_fn", "ema-multi"]


def averaging(lib: Any, kind: str) -> dict[str, Any]:
    if kind == "swa":
        return {}
    if kind == "swa-avg_fn":
        return {"avg_fn": lib.get_swa_avg_fn()}
    if kind == "swa-multi":
        return {"multi_avg_fn": lib.get_swa_multi_avg_fn()}
    if kind == "ema-avg_fn":
        return {"avg_fn": lib.get_ema_avg_fn(0.9)}
    return {"multi_avg_fn": lib.get_ema_multi_avg_fn(0.8)}


# ---- against torch --------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("kind", AVERAGES)
def test_averaged_model_matches_torch(kind: str, use_buffers: bool) -> None:
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tswa

    if kind == "swa-multi" and use_buffers:
        pytest.skip("torch's swa multi_avg_fn refuses integer buffers (addcdiv)")
    ours = our_model()
    theirs = torch_model(torch, ours)
    avg = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **averaging(swa_utils, kind))
    tavg = tswa.AveragedModel(theirs, use_buffers=use_buffers, **averaging(tswa, kind))
    assert_same_state(avg, tavg)
    rng = np.random.default_rng(0)
    for k in range(7):
        perturb(ours, rng, k)
        copy_weights(torch, ours, theirs)
        avg.update_parameters(ours)
        tavg.update_parameters(theirs)
        # the equal-weight formula is bit for bit torch's; torch fuses the lerps
        # (multiply-add, one rounding) and rounds the EMA of an int buffer in float32
        assert_same_state(avg, tavg, exact=kind in ("swa", "swa-avg_fn"))
        assert int(avg.n_averaged.item()) == k + 1
    x = rng.standard_normal((5, 4)).astype(np.float32)
    avg.eval()
    tavg.eval()
    np.testing.assert_allclose(
        avg(cr.Tensor(x)).numpy(), tavg(torch.from_numpy(x)).detach().numpy(), rtol=1e-5
    )


@pytest.mark.torch
@pytest.mark.parametrize("decay", [0.0, 0.3, 0.5, 0.999, 1.0])
def test_average_functions_match_torch(decay: float) -> None:
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tswa

    rng = np.random.default_rng(1)
    a, c = (rng.standard_normal((3, 5)).astype(np.float32) for _ in range(2))
    n = 4
    tn = torch.tensor(n)
    pairs = [
        (swa_utils.get_ema_avg_fn(decay), tswa.get_ema_avg_fn(decay)),
        (swa_utils.get_swa_avg_fn(), tswa.get_swa_avg_fn()),
    ]
    for ours, theirs in pairs:
        got = ours(cr.Tensor(a), cr.Tensor(c), cr.Tensor(np.int64(n)))
        want = theirs(torch.from_numpy(a), torch.from_numpy(c), tn)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    multis = [
        (swa_utils.get_ema_multi_avg_fn(decay), tswa.get_ema_multi_avg_fn(decay)),
        (swa_utils.get_swa_multi_avg_fn(), tswa.get_swa_multi_avg_fn()),
    ]
    for ours, theirs in multis:
        mine = [cr.Tensor(a.copy()), cr.Tensor(a[0].copy())]
        tmine = [torch.from_numpy(a.copy()), torch.from_numpy(a[0].copy())]
        ours(mine, [cr.Tensor(c), cr.Tensor(c[0])], n)
        theirs(tmine, [torch.from_numpy(c), torch.from_numpy(c[0])], tn)
        for x, y in zip(mine, tmine):  # (torch's lerp is one fused multiply-add)
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=3e-7, atol=1e-8)


def bn_net(cr_or_torch: Any) -> Any:
    m = cr_or_torch.nn
    return m.Sequential(
        m.Linear(5, 8),
        m.BatchNorm1d(8, momentum=0.3),
        m.ReLU(),
        m.Linear(8, 4),
        m.BatchNorm1d(4),
    )


def batches(rng: np.random.Generator) -> list[np.ndarray]:
    return [(2.0 * rng.standard_normal((n, 5)) + 1.0).astype(np.float32) for n in (16, 9, 16, 3)]


@pytest.mark.torch
def test_update_bn_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as tswa

    cr.manual_seed(3)
    ours = bn_net(cr)
    theirs = bn_net(torch)
    copy_weights(torch, ours, theirs)
    data = batches(np.random.default_rng(3))
    ours.eval()
    theirs.eval()
    swa_utils.update_bn([(cr.Tensor(x), 0) for x in data], ours)
    tswa.update_bn([(torch.from_numpy(x), 0) for x in data], theirs)
    assert_same_state(ours, theirs, exact=False)
    assert not ours.training and not ours[1].training  # the mode is restored
    assert ours[1].momentum == 0.3 and ours[4].momentum == 0.1
    # an AveragedModel goes through it too (its copy's BatchNorm layers)
    avg = swa_utils.AveragedModel(ours)
    tavg = tswa.AveragedModel(theirs)
    swa_utils.update_bn([cr.Tensor(x) for x in data[:2]], avg)
    tswa.update_bn([torch.from_numpy(x) for x in data[:2]], tavg)
    assert_same_state(avg, tavg, exact=False)


# ---- without torch --------------------------------------------------------------------
def test_state_dict_keys_and_round_trip() -> None:
    model = our_model()
    avg = swa_utils.AveragedModel(model)
    keys = list(avg.state_dict())
    assert keys[0] == "n_averaged"
    assert keys[1:] == [f"module.{k}" for k in model.state_dict()]
    assert avg.n_averaged.dtype == np.int64 and avg.n_averaged.shape == ()
    rng = np.random.default_rng(2)
    for k in range(3):
        perturb(model, rng, k)
        avg.update_parameters(model)
    saved = {k: cr.Tensor(np.array(v.numpy())) for k, v in avg.state_dict().items()}
    again = swa_utils.AveragedModel(our_model())
    again.load_state_dict(saved)
    assert int(again.n_averaged.item()) == 3
    perturb(model, rng, 3)
    avg.update_parameters(model)
    again.update_parameters(model)
    for (k, a), b in zip(avg.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_swa_is_the_mean_and_buffers_follow_the_model() -> None:
    model = our_model()
    avg = swa_utils.AveragedModel(model)
    rng = np.random.default_rng(4)
    seen = []
    for k in range(5):
        perturb(model, rng, k)
        seen.append([p.data.copy() for p in model.parameters()])
        avg.update_parameters(model)
    for i, p in enumerate(avg.module.parameters()):
        want = np.mean([s[i] for s in seen], axis=0)
        np.testing.assert_allclose(p.data, want, rtol=1e-5, atol=1e-6)
    # use_buffers=False: the buffers are the model's latest, not averaged
    np.testing.assert_array_equal(avg.module[1].running_mean.data, model[1].running_mean.data)
    assert int(avg.module[1].num_batches_tracked.item()) == 7 * 4 + 3
    # the copy is independent of the model
    assert all(a is not b for a, b in zip(avg.parameters(), model.parameters()))


def test_ema_with_buffers() -> None:
    model = our_model()
    ema = swa_utils.AveragedModel(
        model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.5), use_buffers=True
    )
    rng = np.random.default_rng(5)
    perturb(model, rng, 0)
    ema.update_parameters(model)  # the first call copies
    first = model[1].running_mean.data.copy()
    np.testing.assert_array_equal(ema.module[1].running_mean.data, first)
    perturb(model, rng, 1)
    ema.update_parameters(model)
    np.testing.assert_allclose(
        ema.module[1].running_mean.data, 0.5 * first + 0.5 * model[1].running_mean.data, rtol=1e-6
    )
    assert int(ema.module[1].num_batches_tracked.item()) == (3 + 10) // 2


def test_forward_calls_the_copy_and_avg_fn_gets_tensors() -> None:
    model = nn.Linear(3, 2)
    calls = []

    def avg_fn(a: cr.Tensor, c: cr.Tensor, n: cr.Tensor) -> cr.Tensor:
        calls.append((type(a), type(c), int(n.item())))
        return c * 0.0 + 1.0

    avg = swa_utils.AveragedModel(model, avg_fn=avg_fn)
    x = cr.Tensor(np.ones((4, 3), np.float32))
    np.testing.assert_array_equal(avg(x).numpy(), model(x).numpy())
    avg.update_parameters(model)
    assert calls == []  # the first call copies
    avg.update_parameters(model)
    assert calls == [(cr.Tensor, cr.Tensor, 1)] * 2
    assert all(np.all(p.data == 1.0) for p in avg.parameters())
    assert not any(np.all(p.data == 1.0) for p in model.parameters())


def test_averaged_model_errors() -> None:
    model = our_model()
    with pytest.raises(OptimizerError, match="not both"):
        swa_utils.AveragedModel(
            model, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=swa_utils.get_swa_multi_avg_fn()
        )
    with pytest.raises(OptimizerError, match="avg_fn must be callable"):
        swa_utils.AveragedModel(model, avg_fn=0.9)
    with pytest.raises(OptimizerError, match="chainrule Module"):
        swa_utils.AveragedModel([1, 2])
    avg = swa_utils.AveragedModel(model)
    with pytest.raises(OptimizerError, match="has 2 parameters, the averaged copy 6"):
        avg.update_parameters(nn.Linear(4, 6))
    with pytest.raises(cr.ShapeError, match="shape"):
        avg.update_parameters(
            nn.Sequential(nn.Linear(4, 7), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
        )
    for bad in (-0.1, 1.5, "0.9"):
        with pytest.raises(OptimizerError, match="decay"):
            swa_utils.get_ema_avg_fn(bad)
        with pytest.raises(OptimizerError, match="decay"):
            swa_utils.get_ema_multi_avg_fn(bad)


def test_update_bn_is_the_cumulative_average() -> None:
    bn = nn.BatchNorm1d(3, momentum=0.2)
    bn.running_mean.data[...] = 5.0
    rng = np.random.default_rng(6)
    data = [rng.standard_normal((n, 3)).astype(np.float32) + 2.0 for n in (8, 5, 11)]
    swa_utils.update_bn([cr.Tensor(x) for x in data], bn)
    np.testing.assert_allclose(
        bn.running_mean.data, np.mean([x.mean(0) for x in data], axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.running_var.data, np.mean([x.var(0, ddof=1) for x in data], axis=0), rtol=1e-5
    )
    assert int(bn.num_batches_tracked.item()) == 3 and bn.momentum == 0.2 and bn.training


def test_update_bn_leaves_other_models_and_instance_norm_alone() -> None:
    class Exploding:
        def __iter__(self) -> Any:
            raise AssertionError("update_bn should not read the loader")

    swa_utils.update_bn(Exploding(), nn.Linear(2, 2))  # no BatchNorm: nothing to do
    inorm = nn.InstanceNorm1d(3, track_running_stats=True)
    inorm.running_mean.data[...] = 4.0
    swa_utils.update_bn(Exploding(), nn.Sequential(inorm))
    assert np.all(inorm.running_mean.data == 4.0)


def test_update_bn_restores_momentum_when_the_model_fails() -> None:
    model = nn.Sequential(nn.BatchNorm1d(3, momentum=0.4), nn.Linear(3, 2))
    model.eval()
    with pytest.raises(cr.ShapeError):
        swa_utils.update_bn([cr.Tensor(np.ones((4, 3), np.float32)),
                             cr.Tensor(np.ones((4, 5), np.float32))], model)  # fmt: skip
    assert model[0].momentum == 0.4 and not model.training
    with pytest.raises(OptimizerError, match="chainrule Module"):
        swa_utils.update_bn([], object())
