"""Custom differentiable functions: cr.Function subclasses."""

import numpy as np
import pytest

import chainrule as cr


def f64(data, requires_grad=False):
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


class Cube(cr.Function):
    seen = {}

    @staticmethod
    def forward(ctx, x):
        Cube.seen["forward_input"] = type(x)
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        saved = ctx.saved_tensors
        Cube.seen["saved"] = saved
        Cube.seen["grad"] = g
        (x,) = saved
        return 3 * x * x * g  # chainrule ops, so this backward is itself differentiable

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * x * x * t


class Scale(cr.Function):
    """x * k for a Python number k (a non-tensor input gets a None gradient)."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x * k

    @staticmethod
    def backward(ctx, g):
        return g * ctx.k, None


class SinCos(cr.Function):
    """Two outputs from one input."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x), np.cos(x)

    @staticmethod
    def backward(ctx, gs, gc):
        (x,) = ctx.saved_tensors
        return gs * x.cos() - gc * x.sin()

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * x.cos(), -t * x.sin()


class NoJvp(cr.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_forward_gets_arrays_backward_gets_tensors():
    x = f64([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    assert issubclass(Cube.seen["forward_input"], np.ndarray)
    np.testing.assert_allclose(y.numpy(), [1.0, 8.0])
    y.sum().backward()
    saved = Cube.seen["saved"]
    assert isinstance(saved, tuple) and len(saved) == 1
    assert isinstance(saved[0], cr.Tensor)
    assert isinstance(Cube.seen["grad"], cr.Tensor)
    np.testing.assert_allclose(saved[0].numpy(), [1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_function_composes_with_builtin_ops():
    x = f64([0.5, -1.5], requires_grad=True)
    y = (Cube.apply(x.tanh()) * x).sum()
    y.backward()
    t = np.tanh(x.numpy())
    want = 3 * t**2 * (1 - t**2) * x.numpy() + t**3
    np.testing.assert_allclose(x.grad.numpy(), want)


def test_no_graph_without_requires_grad():
    y = Cube.apply(f64([2.0]))
    assert not y.requires_grad and y.is_leaf
    with cr.no_grad():
        z = Cube.apply(f64([2.0], requires_grad=True))
    assert not z.requires_grad


def test_backward_is_double_differentiable():
    x = f64([0.5, 1.0, 2.0])
    d1 = cr.grad(lambda t: Cube.apply(t).sum())
    d2 = cr.grad(lambda t: d1(t).sum())
    np.testing.assert_allclose(d1(x).numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(d2(x).numpy(), 6 * x.numpy())
    h = cr.hessian(lambda t: Cube.apply(t).sum(), x)
    np.testing.assert_allclose(h.numpy(), np.diag(6 * x.numpy()))


def test_create_graph_through_function():
    x = f64([1.0, 3.0], requires_grad=True)
    Cube.apply(x).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_optional_jvp():
    x = f64([1.0, 2.0])
    v = f64([1.0, -1.0])
    out, tout = cr.jvp(lambda t: Cube.apply(t), (x,), (v,))
    np.testing.assert_allclose(out.numpy(), [1.0, 8.0])
    np.testing.assert_allclose(tout.numpy(), [3.0, -12.0])
    jf = cr.jacobian(lambda t: Cube.apply(t), x, mode="fwd")
    jr = cr.jacobian(lambda t: Cube.apply(t), x, mode="rev")
    np.testing.assert_allclose(jf.numpy(), jr.numpy())
    assert cr.gradcheck(lambda t: Cube.apply(t), (x,))


def test_missing_jvp_is_a_clear_error():
    x = f64([1.0, 2.0])
    # reverse mode needs no jvp
    np.testing.assert_allclose(cr.grad(lambda t: NoJvp.apply(t).sum())(x).numpy(), [2.0, 2.0])
    # NotImplementedError (and GraphError) are RuntimeErrors; the message names the op
    with pytest.raises(RuntimeError, match="nojvp") as info:
        cr.jvp(lambda t: NoJvp.apply(t), (x,), (x,))
    assert "jvp" in str(info.value)
    assert cr.gradcheck(lambda t: NoJvp.apply(t), (x,), check_forward=False)


def test_non_tensor_argument_and_ctx_attributes():
    x = f64([1.0, 2.0], requires_grad=True)
    y = Scale.apply(x, 4.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_needs_input_grad():
    seen = []

    class Probe(cr.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.needs_input_grad)
            return g, g

    a = f64([1.0], requires_grad=True)
    b = f64([2.0])
    Probe.apply(a, b).sum().backward()
    assert seen == [(True, False)]
    assert b.grad is None


def test_multiple_outputs():
    x = f64([0.3, 1.2], requires_grad=True)
    s, c = SinCos.apply(x)
    np.testing.assert_allclose(s.numpy(), np.sin(x.numpy()))
    (s * 2 + c * 3).sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(xv) - 3 * np.sin(xv))
    x.grad = None
    s, c = SinCos.apply(x)
    s.sum().backward()  # the unused output's gradient arrives as zeros
    np.testing.assert_allclose(x.grad.numpy(), np.cos(xv))
    _, (ts, tc) = cr.jvp(lambda t: SinCos.apply(t), (f64(xv),), (f64([1.0, 1.0]),))
    np.testing.assert_allclose(ts.numpy(), np.cos(xv))
    np.testing.assert_allclose(tc.numpy(), -np.sin(xv))
    assert cr.gradcheck(lambda t: SinCos.apply(t), (f64(xv),))


def test_wrong_gradient_shape_is_shape_error_naming_op():
    class BadShape(cr.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # should be broadcast back to x's shape

    x = f64([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(cr.ShapeError) as info:
        BadShape.apply(x).backward()
    msg = str(info.value)
    assert "badshape" in msg
    assert "(2, 2)" in msg and "()" in msg
    assert isinstance(info.value, ValueError)


def test_wrong_number_of_gradients_is_graph_error():
    class TooMany(cr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = f64([1.0], requires_grad=True)
    with pytest.raises(cr.GraphError, match="toomany"):
        TooMany.apply(x).sum().backward()


def test_custom_name():
    class Fancy(cr.Function):
        name = "my_fancy_op"

        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    x = f64([1.0, 2.0], requires_grad=True)
    y = Fancy.apply(x)
    assert "my_fancy_op" in repr(y)
    with pytest.raises(cr.ShapeError, match="my_fancy_op"):
        y.sum().backward()


def test_saved_tensor_modified_in_place_is_caught():
    x = f64([1.0, 2.0], requires_grad=True)
    a = x * 1
    y = Cube.apply(a)
    a += 1
    with pytest.raises(cr.GraphError, match="cube"):
        y.sum().backward()
