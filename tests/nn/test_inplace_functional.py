"""PyTorch's in-place functional activations (``F.relu_``, ``F.elu_``, ...): they write into
their input through Tensor's in-place machinery and return it, so autograd records them
(a non-leaf is differentiable, a leaf that requires grad refuses, version counters bump,
a tensor saved for backward and then overwritten is caught). Every derivative of every
sample is also checked by the oracle table (tests/test_nn_functional.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

# (name, keyword arguments): PyTorch's in-place functional activations
IN_PLACE = [
    ("relu_", {}),
    ("elu_", {}),
    ("elu_", {"alpha": 0.5}),
    ("celu_", {"alpha": 2.0}),
    ("selu_", {}),
    ("leaky_relu_", {"negative_slope": 0.2}),
    ("hardtanh_", {"min_val": -0.5, "max_val": 0.7}),
    ("rrelu_", {"lower": 0.1, "upper": 0.4}),
    ("threshold_", {"threshold": 0.1, "value": -2.0}),
]
IDS = [f"{name}{kw}" for name, kw in IN_PLACE]


def _x(shape: tuple = (3, 4), dtype: Any = np.float64) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return np.where(np.abs(x) < 0.05, 0.3, x)  # away from the kinks at 0 and 0.1


def test_every_torch_in_place_activation_exists() -> None:
    for name in ["relu_", "elu_", "celu_", "selu_", "leaky_relu_", "hardtanh_", "rrelu_",
                 "threshold_"]:  # fmt: skip
        assert callable(getattr(F, name)) and name in F.__all__


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kwargs"), IN_PLACE, ids=IDS)
def test_values_and_gradients_match_torch_on_a_non_leaf(name: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    x = _x()
    a = cr.tensor(x, requires_grad=True)
    h = a * 1.5  # a non-leaf in the graph
    version = h._version[0]
    out = getattr(F, name)(h, **kwargs)
    assert out is h and h._version[0] == version + 1 and h.requires_grad
    (out * out).sum().backward()
    at = torch.tensor(x, requires_grad=True)
    ht = at * 1.5
    tout = getattr(torch.nn.functional, name)(ht, **kwargs)
    (tout * tout).sum().backward()
    np.testing.assert_allclose(h.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-12, atol=1e-15)
    # the same as the out-of-place function
    ref = getattr(F, name[:-1])(cr.tensor(x) * 1.5, **kwargs)
    np.testing.assert_allclose(h.numpy(), ref.numpy(), rtol=1e-15)


@pytest.mark.parametrize(("name", "kwargs"), IN_PLACE, ids=IDS)
def test_a_leaf_that_requires_grad_refuses_and_is_left_unchanged(name: str, kwargs: dict) -> None:
    x = _x()
    leaf = cr.tensor(x, requires_grad=True)
    with pytest.raises(cr.GraphError, match="in-place op on a leaf tensor that requires grad"):
        getattr(F, name)(leaf, **kwargs)
    np.testing.assert_array_equal(leaf.numpy(), x)
    assert leaf._version[0] == 0 and leaf._node is None
    # inside no_grad the write is allowed (as PyTorch's), and records nothing
    with cr.no_grad():
        out = getattr(F, name)(leaf, **kwargs)
    assert out is leaf and leaf._version[0] == 1 and leaf._node is None and leaf.requires_grad
    if name != "rrelu_":
        np.testing.assert_allclose(leaf.numpy(), getattr(F, name[:-1])(x, **kwargs).numpy())


@pytest.mark.parametrize(("name", "kwargs"), IN_PLACE, ids=IDS)
def test_a_tensor_outside_any_graph_is_written_and_keeps_its_dtype(name: str, kwargs: dict) -> None:
    x = _x(dtype=np.float32)
    t = cr.tensor(x)
    memory = t.data
    out = getattr(F, name)(t, **kwargs)
    assert out is t and t.data is memory and t.dtype == np.float32 and t._version[0] == 1
    assert not t.requires_grad and t._node is None
    if name != "rrelu_":
        np.testing.assert_allclose(t.numpy(), getattr(F, name[:-1])(x, **kwargs).numpy(),
                                   rtol=1e-6)  # fmt: skip


def test_overwriting_a_tensor_saved_for_backward_is_caught() -> None:
    a = cr.tensor(_x(), requires_grad=True)
    h = a * 2.0
    y = h * h  # saves h
    F.relu_(h)
    with pytest.raises(cr.GraphError, match=r"saved by 'mul' for backward was modified in place"):
        y.sum().backward()


@pytest.mark.torch
def test_a_write_through_a_view_reaches_the_base() -> None:
    torch = pytest.importorskip("torch")
    x = _x((3, 4))
    a = cr.tensor(x, requires_grad=True)
    h = a * 2.0
    F.elu_(h[1], alpha=0.5)  # a view of h
    (h * h).sum().backward()
    at = torch.tensor(x, requires_grad=True)
    ht = at * 2.0
    torch.nn.functional.elu_(ht[1], alpha=0.5)
    (ht * ht).sum().backward()
    np.testing.assert_allclose(h.numpy(), ht.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-12)


def test_forward_mode_and_double_backward_see_the_write() -> None:
    x = _x((5,))

    def f(t: cr.Tensor) -> cr.Tensor:
        return F.selu_(t * 1.0) * t

    fwd = cr.jacobian(f, cr.tensor(x), mode="fwd").numpy()
    rev = cr.jacobian(f, cr.tensor(x), mode="rev").numpy()
    np.testing.assert_allclose(fwd, rev, rtol=1e-12)
    expected = np.diag(F.selu(x).numpy() + x * np.where(x > 0, 1.0507009873554805,
                                                       1.7580993408473766 * np.exp(x)))  # fmt: skip
    np.testing.assert_allclose(rev, expected, rtol=1e-10)
    # second order: d/dx of the gradient, through the recorded in-place write
    t = cr.tensor(x, requires_grad=True)
    F.elu_(t * 1.0).sum().backward(create_graph=True)
    g, t.grad = t.grad, None
    np.testing.assert_allclose(g.numpy(), np.where(x > 0, 1.0, np.exp(x)), rtol=1e-12)
    g.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.where(x > 0, 0.0, np.exp(x)), rtol=1e-12)


def test_rrelu_training_draws_one_slope_per_negative_element() -> None:
    x = _x((50,))
    a = cr.tensor(x, requires_grad=True)
    h = a * 1.0
    F.rrelu_(h, 0.1, 0.3, training=True)
    h.sum().backward()
    y, slope = h.numpy(), a.grad.numpy()
    np.testing.assert_array_equal(y[x >= 0], x[x >= 0])
    assert np.all(slope[x >= 0] == 1.0)
    neg = x < 0
    np.testing.assert_allclose(slope[neg], y[neg] / x[neg], rtol=1e-12)  # the slope it drew
    assert np.all((slope[neg] >= 0.1) & (slope[neg] <= 0.3)) and np.unique(slope[neg]).size > 1


def test_bad_inputs_raise_before_anything_is_written() -> None:
    with pytest.raises(cr.DTypeError, match=r"relu_: input must be a Tensor .*got ndarray"):
        F.relu_(np.ones(3))
    ints = cr.tensor(np.array([1, -2, 3]))
    with pytest.raises(cr.DTypeError, match="elu_: the result has dtype float64, which cannot "
                       "be written in place into a int64 input"):  # fmt: skip
        F.elu_(ints)
    np.testing.assert_array_equal(ints.numpy(), [1, -2, 3])
    assert ints._version[0] == 0
    np.testing.assert_array_equal(F.relu_(ints).numpy(), [1, 0, 3])  # as torch.relu_ on int64
    t = cr.tensor(_x())
    before = t.numpy().copy()
    with pytest.raises(F.ArgumentError, match="hardtanh: min_val 2 is greater than max_val 1"):
        F.hardtanh_(t, 2, 1)
    with pytest.raises(F.ArgumentError, match="celu: alpha must be nonzero"):
        F.celu_(t, 0.0)
    with pytest.raises(F.ArgumentError, match="rrelu: need 0 <= lower <= upper"):
        F.rrelu_(t, 0.5, 0.1)
    np.testing.assert_array_equal(t.numpy(), before)
    assert t._version[0] == 0
