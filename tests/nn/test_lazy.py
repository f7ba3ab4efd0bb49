"""Lazy modules and uninitialized parameters (PyTorch's ``torch.nn.modules.lazy``): shapes,
outputs and gradients against torch's lazy modules, the switch to the regular class,
state dicts both ways, optimisers created before the first forward, initialisation, and
the errors."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import DTypeError, ShapeError
from chainrule.nn.parameter import is_lazy
from chainrule.ops.nn import ArgumentError

# (lazy class, positional args, keyword args, input shape, regular class)
CASES = [
    ("LazyLinear", (3,), {}, (4, 5), "Linear"),
    ("LazyLinear", (3,), {"bias": False}, (2, 4, 5), "Linear"),
    ("LazyConv1d", (4, 3), {"padding": 1}, (2, 3, 7), "Conv1d"),
    ("LazyConv1d", (4, 3), {"dilation": 2}, (3, 9), "Conv1d"),  # unbatched
    ("LazyConv2d", (4, 3), {"stride": 2, "groups": 2}, (2, 6, 7, 7), "Conv2d"),
    ("LazyConv2d", (4, (2, 3)), {"padding": 1, "padding_mode": "reflect"}, (2, 5, 6),
     "Conv2d"),  # unbatched
    ("LazyConv3d", (2, 2), {"bias": False}, (1, 3, 4, 4, 4), "Conv3d"),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2, "output_padding": 1}, (2, 3, 5),
     "ConvTranspose1d"),
    ("LazyConvTranspose2d", (4, 3), {"groups": 2, "dilation": 2}, (2, 6, 4, 4),
     "ConvTranspose2d"),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 3, 3, 3, 3), "ConvTranspose3d"),
    ("LazyBatchNorm1d", (), {}, (6, 3), "BatchNorm1d"),
    ("LazyBatchNorm1d", (), {"momentum": None, "affine": False}, (6, 3, 4), "BatchNorm1d"),
    ("LazyBatchNorm2d", (), {}, (4, 3, 5, 5), "BatchNorm2d"),
    ("LazyBatchNorm3d", (), {"track_running_stats": False}, (2, 3, 3, 3, 3), "BatchNorm3d"),
    ("LazyInstanceNorm1d", (), {"affine": True, "track_running_stats": True}, (2, 3, 6),
     "InstanceNorm1d"),
    ("LazyInstanceNorm2d", (), {}, (2, 3, 4, 4), "InstanceNorm2d"),
    ("LazyInstanceNorm2d", (), {"affine": False, "track_running_stats": False}, (3, 4, 4),
     "InstanceNorm2d"),  # unbatched
    ("LazyInstanceNorm3d", (), {"affine": True}, (2, 3, 3, 3, 3), "InstanceNorm3d"),
]  # fmt: skip
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]
LAZY_SIZE = {c[0]: "in_features" if c[0] == "LazyLinear" else
             "num_features" if "Norm" in c[0] else "in_channels" for c in CASES}  # fmt: skip


def _input(shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _in_size(name: str, shape: tuple) -> int:
    """The size a lazy module reads from an input of ``shape``."""
    if name == "LazyLinear":
        return shape[-1]
    batched = {"1d": 3, "2d": 4, "3d": 5}[name[-2:]]
    return shape[1] if len(shape) == batched or "BatchNorm" in name else shape[0]


def _regular(name: str, args: tuple, kwargs: dict, size: int) -> nn.Module:
    """The regular module the lazy one should become, built directly."""
    if name.startswith("LazyInstanceNorm"):  # PyTorch's lazy defaults, not InstanceNorm's
        kwargs = {"affine": True, "track_running_stats": True, **kwargs}
    return getattr(nn, name.removeprefix("Lazy"))(size, *args, **kwargs)


def _state(m: nn.Module) -> dict:
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def _to_torch(state: dict) -> dict:
    import torch

    return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


# ---- the first forward pass ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "args", "kwargs", "shape", "regular"), CASES, ids=IDS)
def test_first_forward_materialises_and_becomes_the_regular_module(name, args, kwargs, shape,
                                                                   regular):  # fmt: skip
    size = _in_size(name, shape)
    cr.manual_seed(7)
    want = _regular(name, args, kwargs, size)
    cr.manual_seed(7)
    m = getattr(nn, name)(*args, **kwargs)
    lazy = [k for k, v in m.state_dict().items() if is_lazy(v)]
    assert m.has_uninitialized_params() == bool(lazy)
    assert set(lazy) <= set(want.state_dict())
    params = list(m.parameters())
    y = m(cr.tensor(_input(shape).astype(np.float32)))
    assert type(m) is getattr(nn, regular)
    assert not any(is_lazy(v) for v in m.state_dict().values())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]  # the same objects
    assert all(type(p) is nn.Parameter for p in params)
    assert getattr(m, LAZY_SIZE[name]) == size
    assert m.extra_repr() == want.extra_repr() and repr(want).split("  #")[0] in repr(m)
    # the regular module's initialisation, drawn from the same generator state
    got, ref = m.state_dict(), want.state_dict()
    assert list(got) == list(ref)
    for k in ref:
        if k not in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_array_equal(got[k].numpy(), ref[k].numpy(), err_msg=k)
    np.testing.assert_allclose(y.numpy(), want(cr.tensor(_input(shape).astype(np.float32)))
                               .numpy(), rtol=1e-6, atol=1e-6)  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize(("name", "args", "kwargs", "shape", "regular"), CASES, ids=IDS)
def test_matches_torch_lazy_module(name, args, kwargs, shape, regular):
    torch = pytest.importorskip("torch")
    if name.startswith("LazyInstanceNorm") and len(shape) == int(name[-2]) + 1:
        pytest.skip("torch reads num_features from axis 1 of an unbatched input")
    x = _input(shape)
    m = getattr(nn, name)(*args, **kwargs).double()  # recorded for the materialisation
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    assert list(m.state_dict()) == list(tm.state_dict())
    assert m.has_uninitialized_params() == tm.has_uninitialized_params()
    m(cr.tensor(x))
    tm(torch.from_numpy(x))
    assert type(m) is getattr(nn, regular) and type(tm) is getattr(torch.nn, regular)
    shapes = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == shapes
    assert all(p.dtype == np.float64 for p in m.parameters())
    # the same weights (and running statistics) in torch: the same outputs and gradients
    tm.load_state_dict(_to_torch(_state(m)))
    xs = cr.tensor(x, requires_grad=True)
    txs = torch.tensor(x, requires_grad=True)
    y, ty = m(xs), tm(txs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-9, atol=1e-10)
    w = _input(y.shape, seed=1)
    (y * cr.tensor(w)).sum().backward()
    (ty * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), rtol=1e-8, atol=1e-10)
    for (k, p), (tk, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-10)
    for k, v in tm.state_dict().items():  # running statistics after a training step
        np.testing.assert_allclose(m.state_dict()[k].numpy(), v.numpy(), rtol=1e-9, err_msg=k)


def test_unbatched_norm_reads_the_channel_axis():
    x = _input((3, 6))
    m = nn.LazyInstanceNorm1d()
    y = m(cr.tensor(x))
    assert m.num_features == 3 and m.weight.shape == (3,) and m.running_mean.shape == (3,)
    ref = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)
    np.testing.assert_allclose(y.numpy(), ref(cr.tensor(x)).numpy(), rtol=1e-6)
    bn = nn.LazyBatchNorm1d()
    bn(cr.tensor(x))  # (N, C): BatchNorm1d has no unbatched form
    assert bn.num_features == 6


def test_initialisation_bounds_follow_the_regular_modules():
    cr.manual_seed(0)
    lin = nn.LazyLinear(400)
    lin(cr.ones((2, 25)))
    bound = 1 / math.sqrt(25)
    for p in (lin.weight, lin.bias):
        a = p.numpy()
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
    assert abs(lin.weight.numpy().std() - bound / math.sqrt(3)) < 0.03 * bound
    conv = nn.LazyConv2d(64, 3, groups=2)
    conv(cr.ones((1, 8, 5, 5)))
    convt = nn.LazyConvTranspose2d(8, 3, groups=2)
    convt(cr.ones((1, 64, 5, 5)))
    assert conv.weight.shape == (64, 4, 3, 3) and convt.weight.shape == (64, 4, 3, 3)
    for m in (conv, convt):  # fan_in = weight.shape[1] * prod(kernel) = 36, as PyTorch
        w = m.weight.numpy()
        assert 0.9 / 6 < np.abs(w).max() <= 1 / 6 and np.abs(m.bias.numpy()).max() <= 1 / 6
    bn = nn.LazyBatchNorm2d()
    bn(cr.ones((2, 5, 3, 3)))
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(5))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(5))
    assert int(bn.num_batches_tracked.item()) == 1


# ---- state dicts --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "args", "kwargs", "shape", "regular"), CASES, ids=IDS)
def test_lazy_module_loads_a_materialised_state_dict(name, args, kwargs, shape, regular):
    x = cr.tensor(_input(shape))
    src = getattr(nn, name)(*args, **kwargs).double()
    src(x)
    src.eval()
    dst = getattr(nn, name)(*args, **kwargs).double().eval()
    assert dst.load_state_dict(_state(src)) == ([], [])
    assert not dst.has_uninitialized_params() and type(dst) is getattr(nn, name)
    np.testing.assert_allclose(dst(x).numpy(), src(x).numpy(), rtol=1e-12)
    assert type(dst) is getattr(nn, regular)
    assert getattr(dst, LAZY_SIZE[name]) == getattr(src, LAZY_SIZE[name])
    assert all(np.array_equal(v.numpy(), _state(src)[k]) for k, v in dst.state_dict().items())


@pytest.mark.torch
@pytest.mark.parametrize(("name", "args", "kwargs", "shape", "regular"), CASES, ids=IDS)
def test_state_dicts_cross_with_torch(name, args, kwargs, shape, regular):
    torch = pytest.importorskip("torch")
    if name.startswith("LazyInstanceNorm") and len(shape) == int(name[-2]) + 1:
        pytest.skip("torch reads num_features from axis 1 of an unbatched input")
    x = _input(shape)
    # torch's materialised module -> (NumPy) -> a chainrule lazy module
    tsrc = getattr(torch.nn, name)(*args, **kwargs).double()
    tsrc(torch.from_numpy(x))
    tsrc.eval()
    m = getattr(nn, name)(*args, **kwargs).double().eval()
    m.load_state_dict({k: v.numpy() for k, v in tsrc.state_dict().items()})
    np.testing.assert_allclose(m(cr.tensor(x)).numpy(),
                               tsrc(torch.from_numpy(x)).detach().numpy(), rtol=1e-9,
                               atol=1e-12)  # fmt: skip
    # a chainrule materialised module -> a torch lazy module
    if name.startswith("LazyInstanceNorm"):
        return  # torch leaves num_features 0 after loading, and its forward then refuses
    src = getattr(nn, name)(*args, **kwargs).double()
    src(cr.tensor(x))
    src.eval()
    tm = getattr(torch.nn, name)(*args, **kwargs).double().eval()
    tm.load_state_dict(_to_torch(_state(src)))
    np.testing.assert_allclose(tm(torch.from_numpy(x)).detach().numpy(),
                               src(cr.tensor(x)).numpy(), rtol=1e-9, atol=1e-12)  # fmt: skip


def test_state_dict_before_materialisation():
    m = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyBatchNorm1d())
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean",
                        "2.running_var", "2.num_batches_tracked"]  # fmt: skip
    assert sd["0.weight"] is m[0].weight and type(sd["2.running_mean"]) is nn.UninitializedBuffer
    assert int(sd["2.num_batches_tracked"].item()) == 0
    # lazy into lazy: nothing to copy, both stay lazy
    other = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyBatchNorm1d())
    assert other.load_state_dict(sd) == ([], [])
    assert other[0].has_uninitialized_params() and other[2].has_uninitialized_params()
    # uninitialized into initialized: a size mismatch
    done = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4))
    with pytest.raises(nn.StateDictError, match="uninitialized"):
        done.load_state_dict(sd)


def test_container_of_lazy_modules_loads_and_runs():
    x = cr.tensor(_input((5, 6)))
    src = nn.Sequential(nn.LazyLinear(4), nn.Tanh(), nn.LazyLinear(2))
    src(x)
    dst = nn.Sequential(nn.LazyLinear(4), nn.Tanh(), nn.LazyLinear(2))
    dst.load_state_dict(src.state_dict())
    assert dst[0].in_features == 6 and dst[2].in_features == 4
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    assert type(dst[0]) is nn.Linear and type(dst[2]) is nn.Linear


def test_load_checks_the_checkpoint_against_the_lazy_module():
    m = nn.LazyLinear(3)
    bad = {"weight": np.zeros((5, 4), np.float32), "bias": np.zeros(5, np.float32)}
    with pytest.raises(nn.StateDictError, match=r"expects \(3, 4\)"):
        m.load_state_dict(bad)
    assert m.has_uninitialized_params() and m.in_features == 0  # nothing changed
    with pytest.raises(nn.StateDictError, match="cannot tell"):
        m.load_state_dict({"bias": np.zeros(3, np.float32)}, strict=False)
    convt = nn.LazyConvTranspose2d(4, 3, groups=2)
    with pytest.raises(nn.StateDictError, match="divisible by groups=2"):
        convt.load_state_dict({"weight": np.zeros((5, 2, 3, 3), np.float32),
                               "bias": np.zeros(4, np.float32)})  # fmt: skip
    # strict=False with only the weight: the bias gets the regular initialisation
    w = np.full((3, 4), 0.25, np.float32)
    assert m.load_state_dict({"weight": w}, strict=False).missing_keys == ["bias"]
    np.testing.assert_array_equal(m.weight.numpy(), w)
    assert m.bias.shape == (3,) and np.abs(m.bias.numpy()).max() <= 0.5


# ---- optimisers created before the first forward --------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(("opt", "kw"), [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                         ("Adam", {"lr": 0.01})])  # fmt: skip
def test_optimizer_created_before_materialisation(opt, kw):
    torch = pytest.importorskip("torch")
    x = _input((8, 5))
    m = nn.Sequential(nn.LazyLinear(4), nn.Tanh(), nn.LazyBatchNorm1d(), nn.LazyLinear(2))
    m.double()
    optimizer = getattr(cr.optim, opt)(m.parameters(), **kw)
    y = m(cr.tensor(x))  # materialises the parameters the optimiser holds
    tm = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.BatchNorm1d(4),
                             torch.nn.Linear(4, 2)).double()  # fmt: skip
    before = _state(m)
    before["2.running_mean"], before["2.running_var"] = np.zeros(4), np.ones(4)
    before["2.num_batches_tracked"] = np.zeros((), np.int64)
    tm.load_state_dict(_to_torch(before))
    topt = getattr(torch.optim, opt)(tm.parameters(), **kw)
    for step in range(3):
        if step:
            y = m(cr.tensor(x))
        optimizer.zero_grad()
        (y**2).sum().backward()
        optimizer.step()
        topt.zero_grad()
        (tm(torch.from_numpy(x)) ** 2).sum().backward()
        topt.step()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(m.state_dict()[k].numpy(), v.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=k)  # fmt: skip


# ---- uninitialized parameters -------------------------------------------------------------


def test_uninitialized_parameter_refuses_shape_data_and_ops():
    m = nn.LazyLinear(3)
    p = m.weight
    assert isinstance(p, nn.Parameter) and isinstance(p, nn.UninitializedParameter)
    assert p.dtype == np.float32 and p.device == "cpu" and p.requires_grad and p.is_leaf
    assert repr(p) == "<UninitializedParameter>"
    x = cr.ones((2, 4))
    for use in (lambda: p.shape, lambda: p.size, lambda: p.ndim, lambda: p.data,
                lambda: p.numpy(), lambda: p * 2, lambda: p.sum(), lambda: x @ p.T,
                lambda: nn.functional.linear(x, p), lambda: np.asarray(p),
                lambda: p.detach(), lambda: m.num_parameters()):  # fmt: skip
        with pytest.raises(nn.UninitializedParameterError, match="forward pass"):
            use()
    with pytest.raises(ValueError):  # PyTorch raises ValueError/RuntimeError: both work
        p + 1
    with pytest.raises(RuntimeError):
        p.shape  # noqa: B018


def test_in_place_ops_on_an_uninitialized_parameter_raise():
    p = nn.LazyLinear(3).weight
    with cr.no_grad(), pytest.raises(nn.UninitializedParameterError, match=r"in place \('\+='"):
        p += 1
    with cr.no_grad(), pytest.raises(nn.UninitializedParameterError, match="in place"):
        p[0] = 1.0
    with pytest.raises(nn.UninitializedParameterError, match="shape"):
        nn.init.uniform_(p)
    with pytest.raises(nn.UninitializedParameterError, match="materialize"):
        p.data = np.zeros(3)


def test_materialize_in_place():
    p = nn.UninitializedParameter(dtype=np.float64)
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64
    assert p.requires_grad and not p.numpy().any()
    b = nn.UninitializedBuffer()
    b.materialize(4, dtype=np.float64)
    assert type(b) is cr.Tensor and b.shape == (4,) and not b.requires_grad
    for bad, err in ((-1, ShapeError), ((2, -3), ShapeError), ((2.5,), nn.ModuleTypeError),
                     ("ab", nn.ModuleTypeError), (None, nn.ModuleTypeError)):  # fmt: skip
        with pytest.raises(err, match="materialize"):
            nn.UninitializedParameter().materialize(bad)
    with pytest.raises(DTypeError):
        nn.UninitializedParameter().materialize((2,), dtype=np.int64)
    with pytest.raises(DTypeError):
        nn.UninitializedParameter(dtype=np.int64)


def test_dtype_conversion_before_materialisation_is_recorded():
    m = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d())
    m.double()
    assert m[0].weight.dtype == np.float64 and m[1].running_mean.dtype == np.float64
    m(cr.ones((1, 2, 5, 5), dtype=np.float64))
    assert all(t.dtype == np.float64 for t in m.parameters())
    assert m[1].running_var.dtype == np.float64 and m[1].num_batches_tracked.dtype == np.int64
    with pytest.raises(DTypeError):
        nn.LazyLinear(2).to(np.int32)
    lin = nn.LazyLinear(2, dtype=np.float64)
    lin(cr.ones((1, 3), dtype=np.float64))
    assert lin.weight.dtype == np.float64


def test_repr_copy_and_pickle_before_materialisation():
    m = nn.Sequential(nn.LazyLinear(4), nn.Linear(4, 2))
    assert "LazyLinear(in_features=0, out_features=4, bias=True)" in repr(m)
    assert "2 uninitialized params" in repr(m) and "10 params" in repr(m)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(clone[0].weight) is nn.UninitializedParameter
        assert clone[0].weight is not m[0].weight
        assert clone(cr.ones((3, 7))).shape == (3, 2) and clone[0].in_features == 7
    assert m[0].has_uninitialized_params()  # the copies' forward left m alone


def test_initialize_parameters_then_forward_and_hooks():
    m = nn.LazyConv1d(2, 3)
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(type(mod).__name__))
    m.initialize_parameters(cr.ones((1, 4, 6)))
    assert not m.has_uninitialized_params() and m.in_channels == 4
    assert type(m) is nn.LazyConv1d  # the class changes at the first call, as in PyTorch
    w = m.weight.numpy().copy()
    x = cr.ones((1, 4, 6), requires_grad=True)
    m(x)
    assert type(m) is nn.Conv1d and seen == ["Conv1d"]
    np.testing.assert_array_equal(m.weight.numpy(), w)  # not initialised twice
    dx = m.backward(np.ones((1, 2, 4)))  # the modular backward of the call
    assert dx.shape == (1, 4, 6) and m.weight.grad.shape == (2, 4, 3)


def test_wrong_inputs_name_the_shape():
    cases = [
        (nn.LazyLinear(3), (), r"\(\*, in_features\).*shape \(\)"),
        (nn.LazyConv2d(4, 3), (2, 3), r"\(N, C_in, H, W\) or \(C_in, H, W\).*\(2, 3\)"),
        (nn.LazyConvTranspose1d(4, 3), (1, 2, 3, 4), r"\(1, 2, 3, 4\)"),
        (nn.LazyBatchNorm2d(), (2, 3), r"\(N, C, H, W\).*\(2, 3\)"),
        (nn.LazyInstanceNorm3d(), (2, 3), r"\(2, 3\)"),
    ]
    for m, shape, msg in cases:
        with pytest.raises(ShapeError, match=msg):
            m(cr.ones(shape))
        assert m.has_uninitialized_params() or type(m).__name__.startswith("Lazy")
    with pytest.raises(ArgumentError, match="divisible by groups=2"):
        nn.LazyConv2d(4, 3, groups=2)(cr.ones((1, 3, 5, 5)))
    with pytest.raises(ArgumentError, match="divisible by groups"):
        nn.LazyConv2d(3, 3, groups=2)  # out_channels is checked at construction
    with pytest.raises(nn.ModuleTypeError):
        nn.LazyLinear(2.5)
    with pytest.raises(nn.ModuleTypeError, match="first positional input"):
        nn.LazyLinear(2)()
