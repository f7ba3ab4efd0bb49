"""Reverse mode: how gradients flow, accumulate and are freed; graph misuse; grad mode."""

import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import graph_stats


def f64(data, requires_grad=True):
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


# ---- how gradients combine -----------------------------------------------------------------


def test_fan_out_gradients_sum():
    x = f64([1.0, 2.0, 3.0])
    y = x * x + x.exp() + 3 * x  # x used four times
    y.sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + np.exp(xv) + 3)


def test_fan_out_through_shared_intermediate():
    x = f64(0.7)
    h = x.sin()
    y = h * h + h  # h feeds two ops; its gradients must be summed before sin's rule runs
    y.backward()
    np.testing.assert_allclose(x.grad.item(), (2 * np.sin(0.7) + 1) * np.cos(0.7))


def test_broadcasting_is_undone():
    a = f64(np.ones((2, 3)))
    b = f64(np.arange(3.0))
    c = f64(np.arange(2.0).reshape(2, 1))
    s = f64(2.0)
    y = (a * b + c) * s
    y.sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,)
    assert c.grad.shape == (2, 1) and s.grad.shape == ()
    np.testing.assert_allclose(b.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_allclose(c.grad.numpy(), [[6.0], [6.0]])
    np.testing.assert_allclose(a.grad.numpy(), np.tile(2 * np.arange(3.0), (2, 1)))
    np.testing.assert_allclose(s.grad.item(), (np.arange(3.0) + np.arange(2.0)[:, None]).sum())


def test_gradients_accumulate_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0])
    y = (x**3).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0 + 6.0, 7.0 + 24.0])
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_grad_dtype_matches_leaf():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32
    assert isinstance(x.grad, cr.Tensor) and not x.grad.requires_grad


def test_explicit_grad_argument():
    x = f64([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -6.0])
    x.grad = None
    (x * 2).backward(cr.tensor([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_unused_input_gets_no_grad_and_constants_none():
    x = f64([1.0])
    y = f64([2.0])
    c = cr.tensor([3.0])
    (x * c).sum().backward()
    assert y.grad is None and c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [3.0])


# ---- graph misuse --------------------------------------------------------------------------


def test_second_backward_through_freed_graph_raises():
    x = f64([1.0, 2.0])
    y = x.exp().sum()
    y.backward()
    with pytest.raises(cr.GraphError, match="sum") as info:
        y.backward()
    assert isinstance(info.value, RuntimeError)
    assert "retain_graph" in str(info.value)


def test_freed_interior_node_is_named():
    x = f64([1.0, 2.0])
    h = x.tanh()
    a = (h * 2).sum()
    b = (h * 3).sum()
    a.backward()  # frees tanh's saved output (and a's nodes)
    with pytest.raises(cr.GraphError, match="tanh"):
        b.backward()


def test_retain_graph_allows_second_backward():
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_backward_on_non_scalar_needs_grad():
    x = f64(np.ones((2, 3)))
    with pytest.raises(cr.GraphError, match=r"\(2, 3\)"):
        (x * 2).backward()
    one = f64([[5.0]])
    (one * 2).backward()  # a one-element tensor is fine
    np.testing.assert_allclose(one.grad.numpy(), [[2.0]])


def test_backward_grad_wrong_shape():
    x = f64(np.ones((2, 3)))
    with pytest.raises(cr.ShapeError) as info:
        (x * 2).backward(np.ones((3, 2)))
    msg = str(info.value)
    assert "(3, 2)" in msg and "(2, 3)" in msg
    assert isinstance(info.value, ValueError)


def test_backward_without_grad_raises():
    x = cr.tensor([1.0, 2.0])
    with pytest.raises(cr.GraphError, match="requires_grad"):
        (x * 2).sum().backward()


# ---- in-place ------------------------------------------------------------------------------


def test_inplace_add_after_save_raises_naming_op():
    x = f64([1.0, 2.0])
    a = x * 1
    b = a * a  # mul saves a
    a += 1
    with pytest.raises(cr.GraphError, match="'mul'") as info:
        b.sum().backward()
    assert "in place" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_inplace_on_either_saved_operand_raises():
    # mul and matmul save both operands (the short path of the engine's saved-value map);
    # with both requiring grad, each is read for the other's gradient
    for op, name in ((lambda a, w: a * w, "'mul'"), (lambda a, w: a @ w, "'matmul'")):
        for which in (0, 1):
            a, w = f64([[1.0, 2.0], [3.0, 4.0]]) * 1, f64([[0.5, 1.0], [2.0, 1.0]]) * 1
            out = op(a, w)
            (a, w)[which].__iadd__(1.0)
            with pytest.raises(cr.GraphError, match=name):
                out.sum().backward()
    # one operand a constant: a Tensor operand the backward reads is still checked
    for op in (lambda a: a / 3.0, lambda a: 3.0 / a):
        a = f64([1.0, 2.0]) * 1
        out = op(a)
        a += 1.0
        with pytest.raises(cr.GraphError, match="in place"):
            out.sum().backward()
    # mul by a constant never reads its Tensor operand (as in torch): writing it is fine
    for op in (lambda a: a * 2.0, lambda a: 2.0 * a):
        a = f64([1.0, 2.0]) * 1
        out = op(a)
        a += 1.0
        out.sum().backward()


def test_setitem_after_save_raises_naming_op():
    x = f64([1.0, 2.0, 3.0])
    a = x * 1
    b = a.sin()  # sin saves its input a
    a[0] = 5.0
    with pytest.raises(cr.GraphError, match="'sin'"):
        b.sum().backward()


def test_inplace_on_a_view_of_a_saved_tensor_raises():
    x = f64([1.0, 2.0, 3.0])
    a = x * 1
    b = a.log()
    v = a[0:2]  # a basic-indexing view shares a's memory and version counter
    v += 1.0
    with pytest.raises(cr.GraphError, match="'log'"):
        b.sum().backward()


def test_inplace_on_saved_output_raises_naming_op():
    # exp saves its *output*: modifying that output in place must not go unnoticed
    # (otherwise exp's gradient would silently use the modified values).
    x = f64([0.5, 1.0])
    y = x.exp()
    y += 1.0
    with pytest.raises(cr.GraphError, match="'exp'"):
        y.sum().backward()


def test_inplace_on_saved_output_setitem_raises():
    x = f64([0.5, 1.0, 1.5])
    y = x.tanh()
    y[1] = 0.0
    with pytest.raises(cr.GraphError, match="'tanh'"):
        y.sum().backward()


def test_inplace_arith_on_non_leaf_is_differentiable():
    # `a *= 2` and `a /= 4` on an intermediate must work, as in PyTorch.
    x = f64([1.0, 2.0])
    a = x + 0.0
    a *= 2.0
    a /= 4.0
    a -= 1.0
    a += x
    a.sum().backward()
    np.testing.assert_allclose(a.numpy(), [1.0 * 0.5 - 1 + 1, 2.0 * 0.5 - 1 + 2])
    np.testing.assert_allclose(x.grad.numpy(), [1.5, 1.5])


def test_inplace_mul_by_tensor_requiring_grad():
    x = f64([1.0, 2.0])
    w = f64([3.0, 5.0])
    a = x * 1.0
    a *= w
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])  # the value of a *before* *=


def test_setitem_routes_gradients():
    x = f64([1.0, 2.0, 3.0])
    v = f64(10.0)
    a = x * 2
    a[1] = v * 3
    (a * cr.tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_allclose(a.numpy(), [2.0, 30.0, 6.0])
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 6.0])
    np.testing.assert_allclose(v.grad.item(), 6.0)


def test_inplace_on_leaf_requiring_grad_raises():
    w = f64([1.0, 2.0])
    with pytest.raises(cr.GraphError, match="no_grad"):
        w += 1.0
    with pytest.raises(cr.GraphError):
        w[0] = 3.0
    np.testing.assert_allclose(w.numpy(), [1.0, 2.0])  # nothing was written


def test_inplace_under_no_grad_works():
    w = f64([1.0, 2.0])
    (w * w).sum().backward()
    with cr.no_grad():
        w -= 0.5 * w.grad
        w[0] = 7.0
    assert w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy(), [7.0, 0.0])
    w.grad = None
    (w * 3).sum().backward()  # still a usable leaf
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


def test_inplace_on_plain_tensor():
    t = cr.tensor([1.0, 2.0])
    t += 1
    t *= 3
    t[0] = -1.0
    np.testing.assert_allclose(t.numpy(), [-1.0, 9.0])
    assert not t.requires_grad


# ---- define-by-run -------------------------------------------------------------------------


def test_loop_with_data_dependent_trip_count():
    x = f64(1.5)
    y = x
    steps = 0
    while y.item() < 100:  # how many multiplications depends on the value
        y = y * x
        steps += 1
    y.backward()
    # y = x ** (steps + 1)
    assert steps == 11
    np.testing.assert_allclose(x.grad.item(), (steps + 1) * 1.5**steps)


@pytest.mark.parametrize(("v", "want"), [(2.0, 2 * 2.0), (-2.0, np.cos(-2.0))])
def test_branches(v, want):
    x = f64(v)
    y = x * x if x.item() > 0 else x.sin()
    y.backward()
    np.testing.assert_allclose(x.grad.item(), want)


def test_recursion():
    def power(x, n):
        return x if n == 1 else x * power(x, n - 1)

    x = f64(1.1)
    power(x, 20).backward()
    np.testing.assert_allclose(x.grad.item(), 20 * 1.1**19)


def test_chain_of_100k_ops_backprops():
    n = 100_000
    x = f64(1.0)
    y = x
    for _ in range(n):
        y = y * 1.00001
    assert graph_stats(y)["nodes"] == n
    y.backward()  # an engine that recursed would raise RecursionError here
    np.testing.assert_allclose(x.grad.item(), 1.00001**n, rtol=1e-9)


def test_rnn_like_chain_of_100k_ops():
    steps = 34_000  # three ops per step (mul, tanh, add): 102,000 in the chain
    w = f64(np.full(3, 0.5))
    h = cr.zeros(3, dtype=cr.float64)
    for _ in range(steps):
        h = (h * w).tanh() + 0.1
    # a tanh RNN with w shared over the whole sequence
    h.sum().backward()
    # h converges to the fixed point h = tanh(h w) + c; its derivative in w follows by
    # implicit differentiation: dh/dw = (1 - t^2) h / (1 - (1 - t^2) w), t = tanh(h w).
    hv = h.numpy()[0]
    t = np.tanh(hv * 0.5)
    want = (1 - t**2) * hv / (1 - (1 - t**2) * 0.5)
    np.testing.assert_allclose(w.grad.numpy(), np.full(3, want), rtol=1e-8)


def test_deep_graph_can_be_dropped_without_backward():
    x = f64(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    del y
    gc.collect()  # freeing a deep chain must not overflow the C stack


# ---- indexing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [np.array([0, 0, 2, 0]), [0, 0, 2, 0], cr.tensor([0, 0, 2, 0])],
    ids=["ndarray", "list", "tensor"],
)
def test_repeated_integer_indices_accumulate(index):
    x = f64([1.0, 2.0, 3.0])
    y = x[index]
    (y * cr.tensor(np.array([1.0, 10.0, 100.0, 1000.0]))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1011.0, 0.0, 100.0])


def test_repeated_indices_2d():
    x = f64(np.zeros((3, 2)))
    rows = np.array([2, 2, 0])
    cols = np.array([1, 1, 0])
    x[rows, cols].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0], [0, 0], [0, 2]])


def test_bool_mask_gradient():
    x = f64([1.0, -2.0, 3.0, -4.0])
    y = x[x > 0]
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 6.0, 0.0])


# ---- .grad ownership -----------------------------------------------------------------------


def test_grads_of_two_leaves_are_not_aliased():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    (x + y).sum().backward()
    x.grad.data += 100.0
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])
    assert not np.shares_memory(x.grad.data, y.grad.data)


def test_grads_not_aliased_with_given_gradient():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    g = np.array([1.0, 1.0])
    (x + y).backward(g)
    x.grad.data *= 5
    y.grad.data *= 7
    np.testing.assert_allclose(g, [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])
    np.testing.assert_allclose(y.grad.numpy(), [7.0, 7.0])


def test_grad_not_aliased_with_views_or_saved_arrays():
    x = f64(np.ones((2, 2)))
    y = f64(np.ones(4))
    out = x.reshape(4) + y.reshape(2, 2).reshape(4)
    out.sum().backward()
    x.grad.data[0, 0] = 42.0
    assert y.grad.numpy()[0] == 1.0
    assert not np.shares_memory(x.grad.data, y.grad.data)


def test_grad_owns_its_memory_across_accumulation():
    x = f64([1.0, 2.0])
    y = f64([1.0, 2.0])
    z = x + y
    z.sum().backward(retain_graph=True)
    gx_first = x.grad.data
    z.sum().backward()
    gx_first += 1000.0  # writing into the old array must not reach either .grad
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 2.0])


# ---- grad mode -----------------------------------------------------------------------------


def test_no_grad_and_enable_grad_context_managers_nested():
    x = f64([1.0])
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        a = x * 2
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            b = x * 2
            with cr.no_grad():
                c = x * 2
            d = x * 2
        e = x * 2
    f = x * 2
    assert cr.is_grad_enabled()
    assert [t.requires_grad for t in (a, b, c, d, e, f)] == [False, True, False, True, False, True]
    assert a.is_leaf and not b.is_leaf


def test_grad_mode_decorators():
    x = f64([1.0])

    @cr.no_grad()
    def infer(t):
        return t * 2, cr.is_grad_enabled()

    @cr.enable_grad()
    def train(t):
        return t * 2, cr.is_grad_enabled()

    y, enabled = infer(x)
    assert not y.requires_grad and not enabled
    assert cr.is_grad_enabled()
    with cr.no_grad():
        y, enabled = train(x)
        assert y.requires_grad and enabled
        y2, _ = infer(x)
        assert not y2.requires_grad
        assert not cr.is_grad_enabled()
    assert infer.__name__ == "infer"


def test_grad_mode_restored_after_exception():
    @cr.no_grad()
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert cr.is_grad_enabled()
    with pytest.raises(KeyError), cr.no_grad():
        raise KeyError("y")
    assert cr.is_grad_enabled()


def test_detach():
    x = f64([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (d * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])  # no gradient through d
    e = x.detach()
    assert np.shares_memory(e.data, x.data)


def test_requires_grad_():
    t = cr.tensor([1.0, 2.0])
    assert t.requires_grad_() is t
    assert t.requires_grad
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [2.0, 4.0])
    t.requires_grad_(False)
    assert not (t * t).requires_grad
    with pytest.raises(cr.DTypeError):
        cr.tensor([1, 2]).requires_grad_()


# ---- freeing -------------------------------------------------------------------------------


def test_saved_intermediates_freed_after_backward():
    x = f64(np.ones(1000))
    y = (x * x).exp().tanh().sum()
    before = graph_stats(y)["saved_bytes"]
    assert before >= 2 * 8000  # mul's operands, exp's and tanh's outputs
    y.backward()
    assert graph_stats(y)["saved_bytes"] == 0


def test_retain_graph_keeps_saved_intermediates():
    x = f64(np.ones(100))
    y = (x * x).exp().sum()
    before = graph_stats(y)["saved_bytes"]
    y.backward(retain_graph=True)
    assert graph_stats(y)["saved_bytes"] == before > 0


def test_backward_frees_op_attributes_too():
    # the arrays an op keeps outside save_for_backward (masks, shapes...) also go
    x = f64(np.arange(6.0).reshape(2, 3))
    y = x.max(axis=1).sum()
    node = y._node
    y.backward()
    assert node.released
    assert graph_stats(y)["saved_bytes"] == 0


# ---- ops that record nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t.softmax(),
        lambda t: t.log_softmax(axis=0),
        lambda t: t.logsumexp(axis=1),
        lambda t: t.max(axis=0),
        lambda t: t.var(axis=-1, ddof=1),
        lambda t: cr.concatenate([t, t], axis=1),
        lambda t: cr.split(t, 3, axis=1)[0],
        lambda t: t.clip(-0.5, 0.5),
        lambda t: t.pad(((1, 0), (0, 2))),
    ],
)
def test_ops_on_constants_and_under_no_grad_match_recorded(op):
    # an op must compute the same thing whether or not it records a node
    data = np.random.default_rng(0).standard_normal((2, 3))
    recorded = op(f64(data)).numpy()
    constant = op(f64(data, requires_grad=False)).numpy()
    with cr.no_grad():
        no_grad = op(f64(data)).numpy()
    np.testing.assert_array_equal(constant, recorded)
    np.testing.assert_array_equal(no_grad, recorded)


# ---- in-place writes through views -------------------------------------------------------
# A view shares its base's memory. A recorded in-place write through the view rewrites the
# base's history too (base[region] = view, recorded), as PyTorch's CopySlices does;
# otherwise the base would carry the new values with the old graph: a wrong gradient.


@pytest.mark.parametrize(
    ("make_view", "region"),
    [
        (lambda y: y[0:1], (0,)),
        (lambda y: y.reshape(6)[0:2], (0, slice(0, 2))),
        (lambda y: y.T[:, 1], (1, slice(None))),
        (lambda y: cr.split(y, [1], axis=0)[1], (1, slice(None))),
        (lambda y: y[1][::2], (1, slice(None, None, 2))),
    ],
    ids=["getitem", "reshape-then-slice", "transpose", "split", "view-of-view"],
)
def test_inplace_write_through_a_view_reaches_the_base(make_view, region):
    x = f64(np.arange(1.0, 7.0).reshape(2, 3))
    y = x * 2
    v = make_view(y)
    v *= 3.0
    w = np.arange(10.0, 16.0).reshape(2, 3)
    (y * cr.tensor(w)).sum().backward()
    scale = np.full((2, 3), 2.0)
    scale[region] = 6.0
    np.testing.assert_allclose(y.numpy(), x.numpy() * scale)
    np.testing.assert_allclose(x.grad.numpy(), w * scale)


def test_inplace_write_through_a_view_of_a_plain_tensor_makes_it_require_grad():
    c = cr.tensor(np.ones(3))
    w = f64([2.0, 5.0])
    v = c[0:2]
    v *= w
    assert c.requires_grad
    (c * cr.tensor(np.array([1.0, 10.0, 100.0]))).sum().backward()
    np.testing.assert_allclose(c.numpy(), [2.0, 5.0, 1.0])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 10.0])


def test_saved_tensor_modified_through_a_view_made_without_recording_raises():
    # views made where nothing is recorded shared no version counter: this went unnoticed
    # and the gradient silently used the new values
    x = f64([1.0, 1.0, 1.0])
    c = cr.tensor(np.array([2.0, 2.0, 2.0]))
    z = x * c  # saves c
    v = c[0:1]
    v += 5.0
    with pytest.raises(cr.GraphError, match="'mul'"):
        z.sum().backward()


def test_a_view_used_after_its_base_was_written_in_place_follows_the_base():
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    v = y[0:2]
    y *= 3.0  # v now reads 3x the values it was made from
    (v * cr.tensor(np.array([10.0, 20.0]))).sum().backward()
    np.testing.assert_allclose(v.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [60.0, 120.0, 0.0])


def test_in_place_write_through_a_view_whose_base_was_written_first():
    # found by the random programs: mul's in-place path copied the view's stale node
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    t = x + 0.0
    v = t[0:1]
    t += t
    v *= 1.5
    (t * cr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[3.0, 6.0], [6.0, 8.0]])  # as torch


def test_forward_mode_sees_writes_through_views_and_to_bases():
    def through_view(x):
        y = x * 2
        v = y[0:1]
        v *= 3.0
        return y * 1.0

    def to_base(x):
        y = x * 2
        v = y[0:2]
        y *= 3.0
        return v * 1.0

    x, t = cr.tensor(np.array([1.0, 2.0, 3.0])), cr.tensor(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(cr.jvp(through_view, (x,), (t,))[1].numpy(), [6.0, 20.0, 200.0])
    np.testing.assert_allclose(cr.jvp(to_base, (x,), (t,))[1].numpy(), [6.0, 60.0])


def test_forward_mode_write_through_a_view_of_a_reduction():
    # a full reduction's tangent was a NumPy scalar, which index_put's jvp cannot write into
    def f(x):
        b = (-cr.logsumexp(x, axis=-1)).reshape(-1)
        v = b[0:1]
        v *= 1.5
        return b * 1.0

    x = np.array([1.0, 2.0])
    _, t = cr.jvp(f, (cr.tensor(x),), (cr.tensor(np.array([1.0, 1.0])),))
    np.testing.assert_allclose(t.numpy(), [-1.5])  # d lse along (1, 1) is 1


def test_a_plain_view_follows_its_base_into_the_graph():
    c = cr.tensor(np.array([1.0, 2.0, 3.0]))
    v = c[1:]
    w = f64([2.0, 3.0, 4.0])
    c *= w  # c, and the view with it, now depend on w
    (v * 1.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [0.0, 2.0, 3.0])


def test_in_place_write_into_an_expanded_view_is_a_clear_error():
    x = f64([1.0, 2.0, 3.0])
    for y in (cr.expand(x * 2, (2, 3)), cr.expand(cr.tensor(np.ones(3)), (2, 3))):
        with pytest.raises(cr.GraphError, match=r"read-only tensor of shape \(2, 3\).*clone"):
            y *= 3.0


def test_mul_and_matmul_check_only_the_operands_their_backward_reads():
    # each operand is read only for the other's gradient (torch saves it only then), so an
    # in-place write to an operand whose partner needs no gradient is fine ...
    x = f64([1.0, 2.0])
    h = x * 1.0
    y = h * 3.0  # the gradient of h is 3.0: h's value is never read
    h += 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    a = cr.tensor(np.ones((2, 3)))  # an input that needs no gradient
    w = f64(np.ones((3, 2)))
    out = a @ w  # dL/dw reads a; w is not read
    with cr.no_grad():
        w -= 1.0
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 2), 2.0))
    # ... and a write to an operand that is read is still caught
    p, q = f64([1.0, 2.0]), f64([3.0, 4.0])
    hp = p * 1.0
    z = hp * q  # dL/dq reads hp
    hp += 1.0
    with pytest.raises(cr.GraphError, match="'mul'"):
        z.sum().backward()
