"""checkpoint(fn, *args): recompute a segment in backward instead of storing it."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import graph_stats


def f64(data, requires_grad=True):
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


class Segment:
    """A deep tanh segment closing over parameters; counts its calls."""

    def __init__(self, width=8, depth=10, seed=0):
        rng = np.random.default_rng(seed)
        self.ws = [f64(rng.standard_normal((width, width)) / np.sqrt(width)) for _ in range(depth)]
        self.b = f64(rng.standard_normal(width) * 0.1)
        self.calls = 0

    def __call__(self, h):
        self.calls += 1
        for w in self.ws:
            h = (h @ w + self.b).tanh()
        return h

    def params(self):
        return [*self.ws, self.b]


def grads(tensors):
    return [t.grad.numpy().copy() for t in tensors]


def test_same_gradients_as_without_checkpoint():
    seg = Segment()
    x = f64(np.random.default_rng(1).standard_normal((4, 8)))
    plain = (seg(x) ** 2).sum()
    plain.backward()
    want = grads([x, *seg.params()])
    for t in [x, *seg.params()]:
        t.grad = None
    ckpt = (cr.checkpoint(seg, x) ** 2).sum()
    np.testing.assert_allclose(ckpt.item(), plain.item())
    ckpt.backward()
    got = grads([x, *seg.params()])
    for g, w in zip(got, want):  # input and closed-over parameters alike
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_recomputes_in_backward():
    seg = Segment(depth=3)
    x = f64(np.ones((2, 8)))
    y = cr.checkpoint(seg, x).sum()
    assert seg.calls == 1
    y.backward()
    assert seg.calls == 2
    assert x.grad is not None


def test_lowers_saved_memory_of_deep_chain():
    seg = Segment(width=64, depth=20)
    x = f64(np.random.default_rng(2).standard_normal((32, 64)))
    plain = seg(x).sum()
    ckpt = cr.checkpoint(seg, x).sum()
    plain_bytes = graph_stats(plain)["saved_bytes"]
    ckpt_bytes = graph_stats(ckpt)["saved_bytes"]
    # without: every layer keeps its input and tanh output (2 x 32x64 floats per layer);
    # with: only the segment's input is kept
    assert plain_bytes >= 20 * 32 * 64 * 8
    assert ckpt_bytes <= 32 * 64 * 8 + 1024
    assert ckpt_bytes * 10 < plain_bytes
    assert graph_stats(ckpt)["nodes"] < graph_stats(plain)["nodes"]
    plain.backward()
    ckpt.backward()  # and the gradients still arrive (each backward accumulates)
    assert seg.b.grad is not None


def test_preserves_rng_state_for_random_ops():
    def noisy(h):
        return h * cr.rand(*h.shape) + cr.randn(*h.shape, dtype=cr.float64)

    x = f64(np.linspace(1.0, 2.0, 6))
    cr.manual_seed(7)
    y = cr.checkpoint(noisy, x)
    after_forward = cr.rand(3).numpy()
    y.sum().backward()
    after_backward = cr.rand(3).numpy()
    # the gradient uses the same mask as the forward: d(x*m + n)/dx = m = (y - n) / x
    cr.manual_seed(7)
    mask = cr.rand(6).numpy()
    noise = cr.randn(6, dtype=cr.float64).numpy()
    np.testing.assert_allclose(y.numpy(), x.numpy() * mask + noise)
    np.testing.assert_allclose(x.grad.numpy(), mask)
    # and the recomputation left the global stream where plain execution would have
    np.testing.assert_array_equal(after_forward, cr.rand(3).numpy())
    np.testing.assert_array_equal(after_backward, cr.rand(3).numpy())


def test_multiple_outputs_and_non_tensor_args():
    w = f64([2.0, 3.0])

    def fn(a, b, scale):
        return (a * w * scale, (a + b).exp())

    a, b = f64([0.1, 0.2]), f64([0.3, 0.4])
    p, q = cr.checkpoint(fn, a, b, 2.0)
    (p.sum() + q.sum()).backward()
    e = np.exp(a.numpy() + b.numpy())
    np.testing.assert_allclose(a.grad.numpy(), w.numpy() * 2 + e)
    np.testing.assert_allclose(b.grad.numpy(), e)
    np.testing.assert_allclose(w.grad.numpy(), a.numpy() * 2)


def test_nested_checkpoints():
    seg = Segment(depth=2)
    x = f64(np.ones((1, 8)) * 0.5)
    want_y = seg(seg(x)).sum()
    want_y.backward()
    want = grads([x, *seg.params()])
    for t in [x, *seg.params()]:
        t.grad = None
    y = cr.checkpoint(lambda h: cr.checkpoint(seg, seg(h)), x).sum()
    y.backward()
    for g, w in zip(grads([x, *seg.params()]), want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_under_no_grad_just_calls():
    seg = Segment(depth=2)
    with cr.no_grad():
        y = cr.checkpoint(seg, f64(np.ones((1, 8))))
    assert not y.requires_grad and seg.calls == 1


def test_create_graph_through_checkpoint_raises():
    x = f64([1.0, 2.0])
    y = cr.checkpoint(lambda a: a * a * a, x).sum()
    with pytest.raises(cr.GraphError, match="checkpoint"):
        y.backward(create_graph=True)
    with pytest.raises(cr.GraphError, match="checkpoint"):
        cr.hessian(lambda a: cr.checkpoint(lambda b: (b * b * b).sum(), a), x.detach())


def test_input_that_is_a_later_output_of_a_multi_output_op():
    # the segment's input was once recorded as the whole split node (output 0), so its
    # gradient reached split's backward in the wrong slot
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    _, b = cr.split(x, 2)
    cr.checkpoint(lambda t: t * 2, b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 2.0, 2.0])


def test_segment_must_return_tensors():
    x = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(cr.ShapeError, match="checkpoint: f must return a Tensor"):
        cr.checkpoint(lambda t: 3.0, x)


def test_input_that_is_a_view_of_a_tensor_written_in_place():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    v = y[0:1]
    y *= 3.0  # v reads 6x now
    cr.checkpoint(lambda t: t * 1.0, v).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 0.0])
