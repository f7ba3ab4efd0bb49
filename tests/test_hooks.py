"""Tensor hooks and retained gradients (``Tensor.register_hook``, ``retain_grad``), with
PyTorch's semantics: a hook sees the gradient summed over all uses, once per backward, and
may replace it; a leaf's hook runs before accumulation into ``.grad``; a non-leaf's
retained gradient is stored after its hooks and accumulates."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import engine, hooks


def f64(values: list) -> cr.Tensor:
    return cr.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_non_leaf_hook_sees_the_summed_gradient_and_may_replace_it() -> None:
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    (y * y + y).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * y.numpy() + 1)  # both uses, summed: called once
    assert len(seen) == 1
    np.testing.assert_allclose(x.grad.numpy(), 2 * 10 * (2 * y.numpy() + 1))


def test_leaf_hook_runs_once_before_accumulation() -> None:
    x = f64([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.numpy().copy()) or g * 3)
    (x * x + x).sum().backward()  # x reaches the loss by two paths
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [3.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), [9.0, 15.0])
    (x * x + x).sum().backward()  # .grad accumulates what the hook returns
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 30.0])


def test_hook_returning_none_observes_only_and_handles_remove() -> None:
    x = f64([1.0, 2.0])
    y = x * x
    calls = []
    handle = y.register_hook(calls.append)
    y.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    handle.remove()
    y.sum().backward()
    assert len(calls) == 1
    with x.register_hook(lambda g: g * 0) as h:  # a handle is a context manager too
        assert isinstance(h, hooks.RemovableHandle)
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_retain_grad_keeps_non_leaf_gradients_after_hooks_and_accumulates() -> None:
    x = f64([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g * 100)  # registered after retain_grad: still runs first
    s = y.sum()
    s.backward(retain_graph=True)
    np.testing.assert_allclose(y.grad.numpy(), [100.0, 100.0])
    s.backward()
    np.testing.assert_allclose(y.grad.numpy(), [200.0, 200.0])
    np.testing.assert_allclose(x.grad.numpy(), [600.0, 600.0])
    assert y.retains_grad and not x.retains_grad
    z = x * 2
    z.sum().backward()
    assert z.grad is None and not z.retains_grad  # only where asked
    x.retain_grad()  # a leaf: nothing to do


def test_hook_on_one_output_of_a_multi_output_op() -> None:
    x = f64([1.0, 2.0, 3.0, 4.0])
    a, b = cr.split(x, 2)
    b.register_hook(lambda g: g * 5)
    b.retain_grad()
    a.retain_grad()
    (a.sum() + (b * b).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 30.0, 40.0])
    np.testing.assert_allclose(b.grad.numpy(), [30.0, 40.0])
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0])


def test_hooks_in_recorded_backward_fire_again_in_the_second() -> None:
    # as PyTorch: the hook's output uses y, so the second backward passes y's node again
    x = f64([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * y)
    y.sum().backward(create_graph=True)
    gx = x.grad
    np.testing.assert_allclose(gx.numpy(), [2.0, 16.0])  # 2 x^3
    x.grad = None
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 72.0])  # torch's values


def test_hooks_run_for_requested_inputs_of_grad() -> None:
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: g * 3)
    g = cr.grad(lambda t: (t * t).sum() + t.sum())(x)
    np.testing.assert_allclose(g.numpy(), [9.0, 15.0])
    assert x.grad is None
    a = x * 2
    a.register_hook(lambda g: g * 0 + 7)
    (ga,) = engine.backward([(a * a).sum()], [None], inputs=[a])
    np.testing.assert_allclose(ga.numpy(), [7.0, 7.0])


def test_hook_errors() -> None:
    with pytest.raises(cr.GraphError, match="does not require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(cr.GraphError, match="retain_grad"):
        cr.tensor([1.0]).retain_grad()
    with pytest.raises(TypeError, match="callable"):
        f64([1.0]).register_hook(3)
    x = f64([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g.sum())
    with pytest.raises(
        cr.ShapeError, match=r"hook returned shape \(\) for a gradient of shape \(2,\)"
    ):
        y.sum().backward()


def test_hook_changing_the_dtype_is_an_error() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)  # float32
    y = x * 2
    y.register_hook(lambda g: g.astype(np.float64))
    with pytest.raises(cr.DTypeError, match="dtype float64 for a gradient of dtype float32"):
        y.sum().backward()


def test_leaf_hook_table_forgets_dead_tensors() -> None:
    before = len(hooks._leaf_hooks)
    for _ in range(20):
        f64([1.0]).register_hook(lambda g: g)
    gc.collect()
    assert len(hooks._leaf_hooks) == before


def test_hooks_match_torch_on_a_small_network() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x0, w0, v0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    results = []
    for lib in ("cr", "torch"):
        if lib == "cr":
            x, w, v = (cr.tensor(a, requires_grad=True) for a in (x0, w0, v0))
            act = cr.tanh
        else:
            x, w, v = (torch.tensor(a, requires_grad=True) for a in (x0, w0, v0))
            act = torch.tanh
        h = x @ w
        h.register_hook(lambda g: g * 2)
        h.retain_grad()
        w.register_hook(lambda g: g - g.mean())
        out = (act(h) * v).sum() + (h * h).mean()
        out.backward()
        results.append([t.grad.numpy() for t in (x, w, v, h)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
