"""nn.utils.parametrize and nn.utils.parametrizations: weight_norm and spectral_norm against
torch.nn.utils.parametrizations, register/remove_parametrizations, cached, errors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import parametrize as P
from chainrule.nn.utils.parametrizations import spectral_norm, weight_norm

from ._helpers import rand


def _np(t):  # a chainrule or torch tensor as an array
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _load_from_torch(m, tm):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _make(kind, torch):
    if kind == "linear":
        return nn.Linear(4, 3), torch.nn.Linear(4, 3), (5, 4)
    return nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)


# ---------------------------------------------------------------------------------------
# weight_norm


@pytest.mark.parametrize("dim", [0, 1, None, -1, -2])
def test_weight_norm_values_and_shapes(dim):
    lin = nn.Linear(4, 3)
    w0 = lin.weight.numpy().copy()
    weight_norm(lin, dim=dim)
    assert type(lin).__name__ == "ParametrizedLinear" and isinstance(lin, nn.Linear)
    assert P.is_parametrized(lin) and P.is_parametrized(lin, "weight")
    assert not P.is_parametrized(lin, "bias")
    g = lin.parametrizations.weight.original0
    v = lin.parametrizations.weight.original1
    want_g = {0: (3, 1), 1: (1, 4), None: (), -1: (), -2: (3, 1)}[dim]
    assert g.shape == want_g and v.shape == (3, 4)
    np.testing.assert_allclose(lin.weight.numpy(), w0, rtol=1e-6)  # unchanged at start
    g.data[...] = 2.0  # w = g v / ||v||
    axes = {0: 1, 1: 0, None: None, -1: None, -2: 1}[dim]
    vn = np.linalg.norm(v.numpy(), axis=axes, keepdims=axes is not None)
    np.testing.assert_allclose(lin.weight.numpy(), 2 * v.numpy() / vn, rtol=1e-5)
    assert sorted(lin.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"
    ]  # fmt: skip


def test_weight_norm_gradients_check_module():
    lin = weight_norm(nn.Linear(4, 3), dim=0)
    assert nn.utils.check_module(lin, rand(2, 4))
    conv = weight_norm(nn.Conv2d(2, 3, 3), dim=None)
    assert nn.utils.check_module(conv, rand(1, 2, 4, 4))


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_against_torch(kind, dim):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.parametrizations import weight_norm as t_weight_norm

    torch.manual_seed(0)
    m, tm, xshape = _make(kind, torch)
    _load_from_torch(m, tm)
    weight_norm(m, dim=dim)
    t_weight_norm(tm, dim=dim)
    assert set(m.state_dict()) == set(tm.state_dict())
    # perturb g so that w != v, load torch's state into chainrule's module
    with torch.no_grad():
        tm.parametrizations.weight.original0.mul_(1.5).add_(0.1)
    _load_from_torch(m, tm)
    x = rand(*xshape)
    tx = torch.tensor(x.numpy())
    y, ty = m(x), tm(tx)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.weight.numpy(), _np(tm.weight), rtol=1e-5, atol=1e-6)
    u = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * cr.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for i in (0, 1):
        name = f"original{i}"
        got = getattr(m.parametrizations.weight, name).grad.numpy()
        want = getattr(tm.parametrizations.weight, name).grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.bias.grad.numpy(), tm.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
    # and back: chainrule's state dict into torch's module
    m.parametrizations.weight.original1.data[...] *= 0.5
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(_np(tm.weight), m.weight.numpy(), rtol=1e-5, atol=1e-6)


def test_weight_norm_errors_name_module_and_tensor():
    with pytest.raises(P.ParametrizationError, match=r"Linear has no parameter .*'wieght'"):
        weight_norm(nn.Linear(4, 3), name="wieght")
    with pytest.raises(IndexError, match=r"dim 2 is out of range for 'weight' of Linear"):
        weight_norm(nn.Linear(4, 3), dim=2)
    with pytest.raises(P.ParametrizationError, match=r"dim 5 .*'weight' of Conv2d"):
        spectral_norm(nn.Conv2d(1, 2, 3), dim=5)
    lin = weight_norm(nn.Linear(4, 3))
    with pytest.raises(P.ParametrizationError, match=r"'weight' of ParametrizedLinear is already"):
        weight_norm(lin)
    with pytest.raises(ValueError, match="n_power_iterations"):
        spectral_norm(nn.Linear(4, 3), n_power_iterations=0)
    with pytest.raises(P.ParametrizationError, match=r"Linear has no parameter, buffer .*'foo'"):
        P.register_parametrization(nn.Linear(2, 2), "foo", nn.Identity())
    with pytest.raises(P.ParametrizationError, match=r"no parametrization on 'weight'"):
        P.remove_parametrizations(nn.Linear(2, 2), "weight")
    with pytest.raises(nn.ModuleNameError, match="'weight' already exists"):  # as torch's
        lin.weight = nn.Parameter(np.zeros((3, 4), np.float32))


# ---------------------------------------------------------------------------------------
# spectral_norm


@pytest.mark.parametrize("dim", [0, 1])
def test_spectral_norm_sigma_is_largest_singular_value(dim):
    cr.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3)
    w = conv.weight.numpy().copy()
    spectral_norm(conv, n_power_iterations=30, dim=dim)
    conv.weight  # noqa: B018  (training: 30 more iterations)
    mat = np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)
    sigma = np.linalg.svd(mat, compute_uv=False)[0]
    np.testing.assert_allclose(conv.weight.numpy(), w / sigma, rtol=1e-4, atol=1e-6)
    mat_n = np.moveaxis(conv.weight.numpy(), dim, 0).reshape(w.shape[dim], -1)
    np.testing.assert_allclose(np.linalg.svd(mat_n, compute_uv=False)[0], 1.0, rtol=1e-4)
    assert conv.parametrizations.weight[0]._u.shape == (mat.shape[0],)
    assert sorted(conv.state_dict()) == [
        "bias", "parametrizations.weight.0._u", "parametrizations.weight.0._v",
        "parametrizations.weight.original",
    ]  # fmt: skip


def test_spectral_norm_rng_reproducible_and_buffers_only_updated_in_training():
    cr.manual_seed(3)
    a = spectral_norm(nn.Linear(6, 4))
    cr.manual_seed(3)
    b = spectral_norm(nn.Linear(6, 4))
    sa, sb = a.parametrizations.weight[0], b.parametrizations.weight[0]
    np.testing.assert_array_equal(sa._u.numpy(), sb._u.numpy())
    # perturb u, v so an iteration visibly changes them
    sa._u.data[...] = np.ones(4, np.float32) / 2
    sa._v.data[...] = np.ones(6, np.float32) / np.sqrt(6)
    a.eval()
    u0, v0 = sa._u.numpy().copy(), sa._v.numpy().copy()
    a(rand(2, 6))
    np.testing.assert_array_equal(sa._u.numpy(), u0)
    np.testing.assert_array_equal(sa._v.numpy(), v0)
    a.train()
    a(rand(2, 6))
    assert not np.allclose(sa._u.numpy(), u0) and not np.allclose(sa._v.numpy(), v0)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_against_torch(kind, training):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.parametrizations import spectral_norm as t_spectral_norm

    torch.manual_seed(0)
    m, tm, xshape = _make(kind, torch)
    _load_from_torch(m, tm)
    spectral_norm(m, n_power_iterations=2)
    t_spectral_norm(tm, n_power_iterations=2)
    assert set(m.state_dict()) == set(tm.state_dict())
    # torch's u, v (its random start differs); perturb them so iterations matter
    with torch.no_grad():
        sn = tm.parametrizations.weight[0]
        sn._u.add_(0.3 * torch.randn_like(sn._u))
        sn._v.add_(0.3 * torch.randn_like(sn._v))
    _load_from_torch(m, tm)
    m.train(training)
    tm.train(training)
    x = rand(*xshape)
    tx = torch.tensor(x.numpy())
    y, ty = m(x), tm(tx)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-4, atol=1e-5)
    for b in ("_u", "_v"):
        got = getattr(m.parametrizations.weight[0], b).numpy()
        want = getattr(tm.parametrizations.weight[0], b).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    u = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * cr.tensor(u)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    got = m.parametrizations.weight.original.grad.numpy()
    want = tm.parametrizations.weight.original.grad.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def test_spectral_norm_gradients_check_module_eval():
    lin = spectral_norm(nn.Linear(4, 3)).eval()  # eval: u, v frozen, a fixed function
    assert nn.utils.check_module(lin, rand(2, 4))


def test_spectral_norm_1d_and_transposed_conv_dim():
    b = spectral_norm(nn.Linear(3, 4), name="bias")
    np.testing.assert_allclose(np.linalg.norm(b.bias.numpy()), 1.0, rtol=1e-5)
    t = spectral_norm(nn.ConvTranspose2d(2, 5, 3))  # weight (2, 5, 3, 3): dim 1
    assert t.parametrizations.weight[0]._u.shape == (5,)


# ---------------------------------------------------------------------------------------
# the parametrize machinery


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).T


class Scale(nn.Module):
    def forward(self, x):
        return 2.0 * x

    def right_inverse(self, x):
        return x / 2.0


def test_register_parametrization_symmetric_and_gradcheck():
    lin = nn.Linear(3, 3, dtype=cr.float64)
    p = lin.weight
    P.register_parametrization(lin, "weight", Symmetric())
    assert lin.parametrizations.weight.original is p  # the same Parameter object
    w = lin.weight.numpy()
    np.testing.assert_array_equal(w, w.T)
    assert [n for n, _ in lin.named_parameters()] == ["bias", "parametrizations.weight.original"]
    assert nn.utils.check_module(lin, rand(2, 3))
    x = cr.tensor(np.random.default_rng(0).standard_normal((3, 3)), requires_grad=True)
    assert cr.gradcheck(lambda a: Symmetric()(a), [x])


def test_right_inverse_assignment_and_chaining():
    lin = nn.Linear(3, 3, dtype=cr.float64)
    w0 = lin.weight.numpy().copy()
    P.register_parametrization(lin, "weight", Scale())
    np.testing.assert_allclose(lin.weight.numpy(), w0)  # right_inverse: value unchanged
    np.testing.assert_allclose(lin.parametrizations.weight.original.numpy(), w0 / 2)
    target = np.arange(9.0).reshape(3, 3)
    lin.weight = target  # through right_inverse
    np.testing.assert_allclose(lin.weight.numpy(), target)
    P.register_parametrization(lin, "weight", Symmetric())  # chained after Scale
    assert len(lin.parametrizations.weight) == 2
    want = np.triu(target) + np.triu(target, 1).T  # Symmetric(Scale(original))
    np.testing.assert_allclose(lin.weight.numpy(), want)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(leave):
    lin = nn.Linear(3, 3, dtype=cr.float64)
    p = lin.weight
    w0 = p.numpy().copy()
    P.register_parametrization(lin, "weight", Symmetric())
    sym = lin.weight.numpy().copy()
    P.remove_parametrizations(lin, "weight", leave_parametrized=leave)
    assert type(lin) is nn.Linear and not P.is_parametrized(lin)
    assert "parametrizations" not in lin._modules
    assert lin.weight is p  # the same Parameter again
    np.testing.assert_allclose(lin.weight.numpy(), sym if leave else w0)
    assert sorted(lin.state_dict()) == ["bias", "weight"]


def test_remove_weight_norm_leaves_the_weight():
    lin = weight_norm(nn.Linear(4, 3))
    lin.parametrizations.weight.original0.data[...] = 3.0
    w = lin.weight.numpy().copy()
    x = rand(2, 4)
    y = lin(x).numpy()
    with pytest.raises(P.ParametrizationError, match="2 original tensors"):
        P.remove_parametrizations(lin, "weight", leave_parametrized=False)
    P.remove_parametrizations(lin, "weight")
    assert type(lin) is nn.Linear and isinstance(lin.weight, nn.Parameter)
    np.testing.assert_allclose(lin.weight.numpy(), w)
    np.testing.assert_allclose(lin(x).numpy(), y, rtol=1e-6)


def test_two_tensors_parametrized_and_copies():
    lin = weight_norm(nn.Linear(4, 3))
    P.register_parametrization(lin, "bias", Scale())
    assert P.is_parametrized(lin, "bias")
    x = rand(2, 4)
    y = lin(x).numpy()
    for other in (copy.deepcopy(lin), pickle.loads(pickle.dumps(lin))):
        assert type(other).__name__ == "ParametrizedLinear" and type(other) is not type(lin)
        np.testing.assert_allclose(other(x).numpy(), y, rtol=1e-6)
        other.parametrizations.weight.original1.data[...] = 0.0  # independent
    np.testing.assert_allclose(lin(x).numpy(), y, rtol=1e-6)
    P.remove_parametrizations(lin, "weight")
    assert type(lin).__name__ == "ParametrizedLinear"  # bias still parametrized
    P.remove_parametrizations(lin, "bias")
    assert type(lin) is nn.Linear


def test_cached_computes_once():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    lin = P.register_parametrization(nn.Linear(2, 2), "weight", Counting())
    calls.clear()
    with P.cached():
        a, b = lin.weight, lin.weight
        assert a is b
    assert len(calls) == 1
    lin.weight  # noqa: B018
    assert len(calls) == 2


def test_parametrization_that_changes_shape_is_refused():
    class Bad(nn.Module):
        def forward(self, x):
            return x.sum(0)

    with pytest.raises(P.ParametrizationError, match=r"shape \(2, 3\).*became shape \(3,\)"):
        P.register_parametrization(nn.Linear(3, 2), "weight", Bad())
