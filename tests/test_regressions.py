"""Bugs found once, kept as examples so they stay fixed."""

import numpy as np
import pytest

import chainrule as cr


def test_pow_base_gradient_at_zero_exponent_is_zero_not_nan() -> None:
    # d/da a**b = b * a**(b-1) is 0 * inf = nan at a = 0, b = 0; PyTorch takes it as 0.
    x = cr.tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    b = cr.tensor(np.array([0.0, 3.0]), requires_grad=True)
    (cr.tensor(np.array([0.0, 0.0])) ** b).sum().backward()
    assert np.isfinite(b.grad.numpy()).all()


def test_a_function_without_forward_raises_a_chainrule_error() -> None:
    class Empty(cr.Function):
        pass

    with pytest.raises(cr.GraphError, match="must define forward"):
        Empty.apply(cr.ones(2, requires_grad=True))


def test_softmax_works_without_recording() -> None:
    # forward rules once read back attributes from a ctx that drops them (no-grad path)
    with cr.no_grad():
        y = cr.softmax(cr.tensor([1.0, 2.0]))
    np.testing.assert_allclose(y.numpy().sum(), 1.0, rtol=1e-6)


def test_to_device_cpu_accepts_numpy_scalars() -> None:
    from chainrule import backend

    out = backend.to_device(np.float64(1.5), "cpu")
    assert isinstance(out, np.ndarray) and out.shape == () and out == 1.5


@pytest.mark.parametrize(
    ("shape", "axis", "out_shape"),
    [((2, 0), 1, (2,)), ((0, 3), 0, (3,)), ((0,), None, ()), ((0, 3), 1, (0,))],
)
def test_logsumexp_and_softmax_over_an_empty_axis(shape, axis, out_shape) -> None:
    # NumPy's max has no identity on an empty axis: these raised a bare ValueError. As
    # torch: logsumexp of no terms is -inf, softmax of nothing is empty.
    x = cr.tensor(np.zeros(shape), requires_grad=True)
    with np.errstate(all="raise"):  # and no spurious divide-by-zero warning
        y = cr.logsumexp(x, axis=axis)
        np.testing.assert_array_equal(y.numpy(), np.full(out_shape, -np.inf))
        y.sum().backward()
        assert x.grad.shape == shape
        if axis is not None:
            for f in (cr.softmax, cr.log_softmax):
                out = f(x, axis=axis)
                assert out.shape == shape and out.dtype == np.float64


def test_the_version_error_advice_to_clone_works() -> None:
    # the in-place error says "clone it before the in-place op", but Tensor had no clone()
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    y += 1
    with pytest.raises(cr.GraphError, match="clone it"):
        z.backward()
    y = x * 2
    c = y.clone()
    assert c.data is not y.data and not np.shares_memory(c.data, y.data)
    z = (c * c).sum()
    y += 1  # writes y, not the clone that the product saved
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])
    assert cr.clone(np.ones(2)).shape == (2,)


def test_forward_mode_through_ops_with_a_constant_array_operand() -> None:
    # a NumPy array operand got the tangent 0 (a Python int): matmul's jvp did `0 @ b`
    # and failed; concatenate and stack could not join it either
    rng = np.random.default_rng(0)
    a, x0 = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    cases = [
        (lambda x: cr.matmul(a, x), lambda t: a @ t),
        (lambda x: cr.matmul(x.T, a.T), lambda t: t.T @ a.T),
        (
            lambda x: cr.concatenate([x, a.T], axis=1),
            lambda t: np.concatenate([t, np.zeros((3, 2))], axis=1),
        ),
        (lambda x: cr.stack([x, x0]), lambda t: np.stack([t, np.zeros_like(t)])),
        (lambda x: cr.where(x0 > 0, x, a[0, 0]), lambda t: np.where(x0 > 0, t, 0.0)),
    ]
    for f, expect in cases:
        t = rng.standard_normal(x0.shape)
        _, tangent = cr.jvp(f, (cr.tensor(x0),), (cr.tensor(t),))
        np.testing.assert_allclose(tangent.numpy(), expect(t), rtol=1e-12, atol=1e-12)


def test_forward_mode_through_maximum_and_minimum_of_a_number() -> None:
    # maximum(0.5, x): the number's tangent is 0, and the tie weight took its dtype from it
    x, t = cr.tensor([0.2, 1.0, 0.5]), cr.tensor([1.0, 1.0, 1.0])
    for f, expect in [
        (lambda v: cr.maximum(0.5, v), [0.0, 1.0, 0.5]),
        (lambda v: cr.minimum(0.5, v), [1.0, 0.0, 0.5]),
        (lambda v: cr.maximum(np.float32(0.5), v), [0.0, 1.0, 0.5]),
        (lambda v: cr.minimum(v, 0.5), [1.0, 0.0, 0.5]),
    ]:
        _, tangent = cr.jvp(f, (x,), (t,))
        np.testing.assert_allclose(tangent.numpy(), expect)


def test_ceil_mode_pool_whose_dilated_window_overhangs_the_input() -> None:
    """Regression: with ceil_mode a window may reach past the (padded) input as long as it
    starts inside it; max_pool2d(4x4, 3, dilation=2, ceil_mode=True) is PyTorch's one
    output (the max of rows and columns 0 and 2), not a ShapeError."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = cr.nn.functional.max_pool2d(x, 3, dilation=2, ceil_mode=True)
    np.testing.assert_array_equal(y.numpy(), [[[[10.0]]]])
    with pytest.raises(cr.ShapeError, match="larger than the padded input"):
        cr.nn.functional.max_pool2d(x, 3, dilation=2)  # floor mode: no window fits
    with pytest.raises(cr.ShapeError, match=r"output size \(0, 0\)"):  # as torch: too small
        cr.nn.functional.max_pool2d(x, 3, stride=1, dilation=2, ceil_mode=True)


def test_forward_mode_through_a_constant_power_of_a_negative_base() -> None:
    """Regression: jvp of ``x ** 2`` at x < 0 was NaN: the exponent's (zero) tangent was
    multiplied by ``y * log(x)``, NaN for a negative base. The exponent term now counts
    only where the exponent has a tangent."""
    x, v = np.array([-1.5, 2.0]), np.array([1.0, 0.5])
    cases = [(lambda t: t**2, 2 * x), (lambda t: t ** np.array([2.0, 2.0]), 2 * x),
             (lambda t: t**3.0, 3 * x**2)]  # fmt: skip
    for f, slope in cases:
        _, tangent = cr.jvp(f, (cr.tensor(x),), (cr.tensor(v),))
        np.testing.assert_allclose(tangent.numpy(), slope * v)


def test_a_1d_pool_names_a_wrong_rank_once() -> None:
    """Regression: max_pool1d's rank error was renamed as if the 2-D pool had raised it,
    "max_pool1d: input (...): max_pool1d: expected ..."; the 1-D ops now share one helper
    that checks the rank first."""
    with pytest.raises(cr.ShapeError) as info:
        cr.nn.functional.max_pool1d(np.zeros((2, 3, 4, 5)), 2)
    assert str(info.value).count("max_pool1d") == 1, str(info.value)
