"""The modular-backprop contract: after y = m(x), m.backward(dL_dy) returns dL_dx and
accumulates parameter gradients, exactly as autodiff does; and the engine extension it
rests on (inputs= with accumulate=True)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import engine

from ._helpers import ReLU, Tanh, assert_grads_close, grads, rand


# ---- the engine: capture at inputs, stop there, accumulate elsewhere ----------------------
def test_engine_inputs_with_accumulate_stops_at_an_intermediate():
    x = rand(3, 4, requires_grad=True)
    w = rand(4, 5, seed=1, requires_grad=True)
    v = rand(5, seed=2, requires_grad=True)
    h = (x @ w).tanh()  # made by earlier work: the walk must stop here
    y = (h * v).sum()
    (gh,) = engine.backward([y], [None], inputs=[h], accumulate=True)
    assert v.grad is not None  # accumulated downstream of h
    assert w.grad is None and x.grad is None  # upstream of h: untouched
    np.testing.assert_allclose(gh.numpy(), np.broadcast_to(v.numpy(), (3, 5)))
    # the op that made h was not run, so it was not freed: backprop from h still works
    h.backward(gh)
    want_w, want_x = w.grad.numpy().copy(), x.grad.numpy().copy()
    x.grad = w.grad = v.grad = None
    ((x @ w).tanh() * v).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), want_w, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), want_x, rtol=1e-6)


def test_engine_leaf_input_is_captured_not_accumulated():
    x = rand(3, requires_grad=True)
    w = rand(3, seed=1, requires_grad=True)
    y = (x * w).sum()
    (gx,) = engine.backward([y], [None], inputs=[x], accumulate=True)
    assert x.grad is None
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    np.testing.assert_allclose(w.grad.numpy(), x.numpy())


def test_engine_inputs_without_accumulate_is_unchanged():
    x = rand(3, requires_grad=True)
    w = rand(3, seed=1, requires_grad=True)
    y = (x * w).sum()
    (gx,) = engine.backward([y], [None], inputs=[x], retain_graph=True)
    assert w.grad is None and x.grad is None
    np.testing.assert_allclose(gx.numpy(), w.numpy())
    # an input that is not in the graph: None; accumulation still happens
    z = rand(2)
    got = engine.backward([y], [None], inputs=[z, x], accumulate=True)
    assert got[0] is None and got[1] is not None
    np.testing.assert_allclose(w.grad.numpy(), x.numpy())


def test_engine_accumulate_with_create_graph():
    x = rand(3, requires_grad=True)
    w = rand(3, seed=1, requires_grad=True)
    y = (x * w * w).sum()
    (gx,) = engine.backward([y], [None], inputs=[x], accumulate=True, create_graph=True)
    assert gx.requires_grad and w.grad.requires_grad  # both differentiable
    np.testing.assert_allclose(w.grad.numpy(), 2 * x.numpy() * w.numpy(), rtol=1e-6)


# ---- the module contract ---------------------------------------------------------------------
def autodiff(module: nn.Module, xs: list, g: np.ndarray) -> tuple[list, dict]:
    """dL/dx and parameter grads of L = sum(g * module(*xs)) by plain autodiff."""
    module.zero_grad()
    leaves = [cr.tensor(x.numpy(), requires_grad=True) for x in xs]
    out = module(*leaves)
    (out * cr.tensor(g)).sum().backward()
    result = [x.grad.numpy().copy() for x in leaves], grads(module)
    module.zero_grad()
    return result


def test_linear_backward_equals_autodiff():
    cr.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = rand(5, 4, requires_grad=True)
    g = rand(5, 3, seed=3).numpy()
    (want_x,), want_p = autodiff(lin, [x], g)
    y = lin(x)
    dx = lin.backward(g)
    np.testing.assert_allclose(dx.numpy(), want_x, rtol=1e-5, atol=1e-6)
    assert_grads_close(grads(lin), want_p)
    assert x.grad is None  # dL/dx is returned, not accumulated into x
    assert y.shape == (5, 3)


def test_input_without_grad_gives_none_but_parameters_accumulate():
    lin = nn.Linear(4, 3)
    x = rand(5, 4)  # a plain batch
    g = rand(5, 3, seed=3).numpy()
    _, want_p = autodiff(lin, [x], g)
    lin(x)
    assert lin.backward(g) is None
    assert_grads_close(grads(lin), want_p)
    lin(x)
    lin.backward(g)  # gradients accumulate across backward calls
    assert_grads_close(grads(lin), {k: 2 * v for k, v in want_p.items()})


def test_sequential_backward_equals_autodiff_and_chaining_children_by_hand():
    cr.manual_seed(1)
    seq = nn.Sequential(nn.Linear(4, 8), ReLU(), nn.Linear(8, 8), Tanh(), nn.Linear(8, 2))
    x = rand(6, 4, requires_grad=True)
    g = rand(6, 2, seed=5).numpy()
    (want_x,), want_p = autodiff(seq, [x], g)
    seq(x)
    np.testing.assert_allclose(seq.backward(g).numpy(), want_x, rtol=1e-5, atol=1e-6)
    assert_grads_close(grads(seq), want_p)
    # by hand: each child's backward in reverse order, chaining dL/dx
    seq.zero_grad()
    seq(x)
    d = g
    for child in reversed(list(seq)):
        d = child.backward(d)
    np.testing.assert_allclose(d.numpy(), want_x, rtol=1e-5, atol=1e-6)
    assert_grads_close(grads(seq), want_p)


def test_graph_backward_with_branches_skip_and_two_heads():
    cr.manual_seed(2)
    g = nn.Graph(inputs=["x", "c"], outputs=["y1", "y2"])
    g.add("h", nn.Linear(4, 8), inputs=["x"])
    g.add("a", ReLU(), inputs=["h"])
    g.add("skip", nn.Linear(4, 8), inputs=["x"])
    g.add("s", nn.Add(), inputs=["a", "skip"])
    g.add("m", nn.Multiply(), inputs=["s", "c"])
    g.add("y1", nn.Linear(8, 1), inputs=["m"])
    g.add("y2", nn.Linear(8, 3), inputs=["s"])
    x = rand(5, 4, requires_grad=True)
    c = rand(5, 8, seed=1, requires_grad=True)
    g1, g2 = rand(5, 1, seed=2).numpy(), rand(5, 3, seed=3).numpy()
    y1, y2 = g(x, c)
    ((y1 * cr.tensor(g1)).sum() + (y2 * cr.tensor(g2)).sum()).backward()
    want_x, want_c, want_p = x.grad.numpy(), c.grad.numpy(), grads(g)
    g.zero_grad()
    g(c=c, x=x)  # by name
    dx, dc = g.backward((g1, g2))
    np.testing.assert_allclose(dx.numpy(), want_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dc.numpy(), want_c, rtol=1e-5, atol=1e-6)
    assert_grads_close(grads(g), want_p)
    # one head only: None for the other output
    g.zero_grad()
    g(x, c)
    dx, _ = g.backward(g1, None)
    x.grad = None
    g.zero_grad()
    y1, _ = g(x, c)
    (y1 * cr.tensor(g1)).sum().backward()
    np.testing.assert_allclose(dx.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_multi_input_module_returns_a_tuple_and_scalar_output_needs_no_grad():
    a, b = rand(3, requires_grad=True), rand(3, seed=1)
    add = nn.Add()
    add(a, b)
    da, db = add.backward(np.ones(3, np.float32))
    np.testing.assert_array_equal(da.numpy(), 1)
    assert db is None

    class SumSq(nn.Module):
        def forward(self, x):
            return (x * x).sum()

    m = SumSq()
    m(a)
    np.testing.assert_allclose(m.backward().numpy(), 2 * a.numpy())


def test_same_tensor_passed_twice():
    x = rand(3, requires_grad=True)
    mul = nn.Multiply()
    mul(x, x)
    d1, d2 = mul.backward(np.ones(3, np.float32))
    np.testing.assert_allclose(d1.numpy(), 2 * x.numpy())
    assert d2 is d1


def test_graph_is_freed_unless_retained():
    lin = nn.Linear(2, 2)
    x = rand(3, 2, requires_grad=True)
    g = np.ones((3, 2), np.float32)
    lin(x)
    first = lin.backward(g, retain_graph=True).numpy().copy()
    second = lin.backward(g)
    np.testing.assert_allclose(second.numpy(), first)
    with pytest.raises(cr.GraphError, match="forward call"):
        lin.backward(g)
    y = lin(x)
    y.backward(g)  # autodiff freed the graph: the modular backward says so
    with pytest.raises(cr.GraphError, match="second time"):
        lin.backward(g)


def test_backward_needs_a_recorded_call():
    lin = nn.Linear(2, 2)
    with pytest.raises(cr.GraphError, match="forward call"):
        lin.backward(np.ones((1, 2), np.float32))
    with cr.no_grad():
        lin(rand(1, 2))
    with pytest.raises(RuntimeError, match="grad mode"):
        lin.backward(np.ones((1, 2), np.float32))


def test_backward_gradient_shape_is_checked():
    lin = nn.Linear(2, 2)
    lin(rand(3, 2))
    with pytest.raises(cr.ShapeError):
        lin.backward(np.ones((2, 2), np.float32))


# ---- check_module: a hand-written backward checked in one call -----------------------------------
class _Scale(cr.Function):
    """y = x * w (w of shape (F,)), with a hand-written backward that can be broken."""

    wrong_dx = False
    wrong_dw = False

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        dx = g * w * (2.0 if _Scale.wrong_dx else 1.0)
        dw = (g * x).sum(axis=0) + (1.0 if _Scale.wrong_dw else 0.0)
        return dx, dw


class ScaleLayer(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.linspace(0.5, 1.5, features).astype(np.float32))

    def forward(self, x):
        return _Scale.apply(x, self.weight).tanh()


@pytest.fixture
def scale_rule():
    yield _Scale
    _Scale.wrong_dx = _Scale.wrong_dw = False


def test_check_module_passes_correct_modules(scale_rule):
    assert nn.utils.check_module(nn.Linear(3, 2), rand(4, 3))
    seq = nn.Sequential(nn.Linear(3, 4), Tanh(), ScaleLayer(4))
    assert nn.utils.check_module(seq, rand(4, 3))
    assert seq[0].weight.dtype == np.float32  # the module itself is untouched
    assert nn.utils.check_module(nn.Add(), rand(2, 3), rand(2, 3, seed=1))


def test_check_module_catches_a_wrong_input_gradient(scale_rule):
    scale_rule.wrong_dx = True
    with pytest.raises(cr.GradcheckError, match="input Jacobian"):
        nn.utils.check_module(ScaleLayer(3), rand(4, 3))


def test_check_module_catches_a_wrong_parameter_gradient(scale_rule):
    scale_rule.wrong_dw = True
    with pytest.raises(cr.GradcheckError, match="parameter 'weight' Jacobian"):
        nn.utils.check_module(ScaleLayer(3), rand(4, 3))


def test_check_module_catches_a_wrong_modular_backward():
    class Liar(nn.Linear):
        def backward(self, *grads, retain_graph=False):
            dx = super().backward(*grads, retain_graph=retain_graph)
            return dx * 3

    with pytest.raises(cr.GradcheckError, match="modular backward"):
        nn.utils.check_module(Liar(3, 2), rand(4, 3))


def test_identity_and_keyword_inputs_stop_the_walk():
    x = rand(3, requires_grad=True)
    ident = nn.Identity()
    ident(x)  # the output is the (leaf) input itself
    np.testing.assert_array_equal(ident.backward(np.full(3, 2, np.float32)).numpy(), 2)
    h = x * 3
    ident(h)  # an intermediate input: its producer is not run
    np.testing.assert_array_equal(ident.backward(np.ones(3, np.float32)).numpy(), 1)
    assert x.grad is None

    class Scaled(nn.Module):
        def forward(self, x, scale=None):
            return x * scale

    m = Scaled()
    s = rand(3, seed=1, requires_grad=True)
    m(x, scale=s * 1)
    dx = m.backward(np.ones(3, np.float32))
    np.testing.assert_allclose(dx.numpy(), s.numpy())
    assert s.grad is None  # the walk stopped at the keyword input
