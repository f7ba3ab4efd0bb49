"""Linear, Flatten, Identity; Linear against torch.nn.Linear with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

from ._helpers import rand


def test_linear_shapes_and_layout():
    lin = nn.Linear(4, 3)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,)
    assert lin(rand(5, 4)).shape == (5, 3)
    assert lin(rand(4)).shape == (3,)
    assert lin(rand(2, 5, 4)).shape == (2, 5, 3)
    x = rand(5, 4)
    want = x.numpy() @ lin.weight.numpy().T + lin.bias.numpy()
    np.testing.assert_allclose(lin(x).numpy(), want, rtol=1e-6)
    assert lin.extra_repr() == "in_features=4, out_features=3, bias=True"


def test_linear_without_bias_and_float64():
    lin = nn.Linear(4, 3, bias=False, dtype=cr.float64)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin.weight.dtype == np.float64
    assert lin(cr.tensor(np.ones((2, 4)))).dtype == np.float64
    assert "bias=False" in repr(lin)


def test_linear_batched_backward_sums_over_leading_axes():
    lin = nn.Linear(4, 3)
    x = rand(2, 5, 4, requires_grad=True)
    g = rand(2, 5, 3, seed=1).numpy()
    lin(x)
    dx = lin.backward(g)
    np.testing.assert_allclose(dx.numpy(), g @ lin.weight.numpy(), rtol=1e-5, atol=1e-6)
    want_w = np.einsum("bto,bti->oi", g, x.numpy())
    np.testing.assert_allclose(lin.weight.grad.numpy(), want_w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), g.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)


def test_flatten_and_identity():
    x = rand(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    ident = nn.Identity(54, unused=True)
    assert ident(x) is x


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    lin = nn.Linear(6, 4, bias=bias)
    ref = torch.nn.Linear(6, 4, bias=bias)
    with torch.no_grad():
        for name, p in lin.named_parameters():
            getattr(ref, name).copy_(torch.from_numpy(p.numpy().copy()))
    x_np = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    g_np = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    x = cr.tensor(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    y, yt = lin(x), ref(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    yt.backward(torch.from_numpy(g_np))
    dx = lin.backward(g_np)  # the modular backward
    np.testing.assert_allclose(dx.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for name, p in lin.named_parameters():
        want = getattr(ref, name).grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-5, atol=1e-5, err_msg=name)
    # and autodiff agrees too
    lin.zero_grad()
    (lin(x) * cr.tensor(g_np)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    # a state dict moves between the two
    lin2 = nn.Linear(6, 4, bias=bias)
    lin2.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    np.testing.assert_allclose(lin2(x).numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
