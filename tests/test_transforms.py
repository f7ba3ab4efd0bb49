"""Function transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, gradcheck."""

import re

import numpy as np
import pytest

import chainrule as cr


def f64(data, requires_grad=False):
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def numeric_jacobian(f, x, eps=1e-6):
    """Central differences, shaped f(x).shape + x.shape (float64)."""
    x0 = np.asarray(x.numpy(), dtype=np.float64)
    out_shape = f(f64(x0)).shape
    jac = np.zeros((int(np.prod(out_shape)), x0.size))
    for j in range(x0.size):
        d = np.zeros(x0.size)
        d[j] = eps
        d = d.reshape(x0.shape)
        hi = f(f64(x0 + d)).numpy().ravel()
        lo = f(f64(x0 - d)).numpy().ravel()
        jac[:, j] = (hi - lo) / (2 * eps)
    return jac.reshape(out_shape + x0.shape)


RNG = np.random.default_rng(7)
X23 = RNG.standard_normal((2, 3))
A34 = RNG.standard_normal((3, 4))

FUNCTIONS = {
    "matmul": lambda x: x @ f64(A34),
    "matmul_left": lambda x: f64(A34.T) @ x.T,
    "softmax": lambda x: x.softmax(axis=-1),
    "log_softmax_axis0": lambda x: x.log_softmax(axis=0),
    "elementwise": lambda x: x.sin() * x + x.exp() / (1 + x * x),
    "broadcast": lambda x: x * f64([1.0, 2.0, 3.0]) + x.sum(axis=0, keepdims=True),
    "sum_axis": lambda x: x.sum(axis=1),
    "mean": lambda x: x.mean(),
    "var": lambda x: x.var(axis=0),
    "max": lambda x: x.max(axis=1),
    "logsumexp": lambda x: x.logsumexp(axis=-1),
    "reshape_transpose": lambda x: x.reshape(3, 2).T * 2,
    "tanh_sigmoid": lambda x: x.tanh() * x.sigmoid(),
    "index": lambda x: x[np.array([1, 1, 0]), np.array([2, 0, 0])] * 3,
}


# ---- grad / value_and_grad -----------------------------------------------------------------


def test_grad_single_argument():
    x = f64([1.0, 2.0, 3.0])
    g = cr.grad(lambda t: (t**3).sum())(x)
    assert isinstance(g, cr.Tensor) and g.shape == (3,)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    assert x.grad is None  # transforms do not touch .grad


def test_grad_argnums_int_and_tuple():
    def h(a, b, c):
        return (a * b).sum() + (a**2).sum() + c

    a, b = f64([1.0, 2.0]), f64([3.0, -1.0])
    ga = cr.grad(h)(a, b, 5.0)
    gb = cr.grad(h, argnums=1)(a, b, 5.0)
    both = cr.grad(h, argnums=(0, 1))(a, b, 5.0)
    assert isinstance(both, tuple) and len(both) == 2
    np.testing.assert_allclose(ga.numpy(), b.numpy() + 2 * a.numpy())
    np.testing.assert_allclose(gb.numpy(), a.numpy())
    np.testing.assert_allclose(both[0].numpy(), ga.numpy())
    np.testing.assert_allclose(both[1].numpy(), gb.numpy())
    single = cr.grad(h, argnums=(1,))(a, b, 5.0)
    assert isinstance(single, tuple) and len(single) == 1
    with pytest.raises(IndexError):
        cr.grad(h, argnums=3)(a, b, 5.0)


def test_grad_of_unused_argument_is_zeros():
    g = cr.grad(lambda a, b: (a * 2).sum(), argnums=1)(f64([1.0]), f64([1.0, 2.0]))
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])


def test_value_and_grad():
    x = f64([0.5, -1.0])
    value, g = cr.value_and_grad(lambda t: (t.exp() * t).sum())(x)
    xv = x.numpy()
    np.testing.assert_allclose(value.item(), (np.exp(xv) * xv).sum())
    np.testing.assert_allclose(g.numpy(), np.exp(xv) * (1 + xv))
    assert not value.requires_grad
    v2, (g0, g1) = cr.value_and_grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, 2 * x)
    np.testing.assert_allclose(v2.item(), 2 * (xv * xv).sum())
    np.testing.assert_allclose(g0.numpy(), 2 * xv)
    np.testing.assert_allclose(g1.numpy(), xv)


def test_grad_of_non_scalar_function_raises():
    with pytest.raises(cr.ShapeError, match=r"\(2,\)"):
        cr.grad(lambda t: t * 2)(f64([1.0, 2.0]))


def test_grad_accepts_arrays_and_numbers():
    np.testing.assert_allclose(cr.grad(lambda t: t * t)(3.0).item(), 6.0)
    np.testing.assert_allclose(
        cr.grad(lambda t: (t * t).sum())(np.array([1.0, 2.0])).numpy(), [2, 4]
    )


# ---- vjp ---------------------------------------------------------------------------------


def test_vjp_multiple_outputs_called_twice():
    x, y = f64([1.0, 2.0, 3.0]), f64([4.0, 5.0, 6.0])
    (p, s), vjp_fn = cr.vjp(lambda a, b: (a * b, a + b.sin()), x, y)
    np.testing.assert_allclose(p.numpy(), x.numpy() * y.numpy())
    np.testing.assert_allclose(s.numpy(), x.numpy() + np.sin(y.numpy()))
    u = f64([1.0, 0.0, -1.0])
    w = f64([0.5, 0.5, 2.0])
    gx, gy = vjp_fn((u, w))
    np.testing.assert_allclose(gx.numpy(), u.numpy() * y.numpy() + w.numpy())
    np.testing.assert_allclose(gy.numpy(), u.numpy() * x.numpy() + w.numpy() * np.cos(y.numpy()))
    gx2, gy2 = vjp_fn((w, u))  # a second call with other cotangents
    np.testing.assert_allclose(gx2.numpy(), w.numpy() * y.numpy() + u.numpy())
    np.testing.assert_allclose(gy2.numpy(), w.numpy() * x.numpy() + u.numpy() * np.cos(y.numpy()))
    gx3, _ = vjp_fn((u, w))
    np.testing.assert_allclose(gx3.numpy(), gx.numpy())  # nothing accumulated between calls


def test_vjp_wrong_cotangent_shape():
    _, vjp_fn = cr.vjp(lambda a: a * 2, f64([1.0, 2.0]))
    with pytest.raises(cr.ShapeError):
        vjp_fn(f64([1.0, 2.0, 3.0]))


# ---- jvp ---------------------------------------------------------------------------------


def test_jvp_is_forward_mode_without_backward(monkeypatch):
    from chainrule.autograd import engine

    def no_backward(*args, **kwargs):
        raise AssertionError("jvp must not run a backward pass")

    monkeypatch.setattr(engine, "backward", no_backward)
    x = f64([0.3, -1.2])
    v = f64([1.0, 2.0])
    out, tout = cr.jvp(lambda t: (t.sin() * t).sum(), (x,), (v,))
    xv = x.numpy()
    np.testing.assert_allclose(out.item(), (np.sin(xv) * xv).sum())
    np.testing.assert_allclose(tout.item(), ((np.cos(xv) * xv + np.sin(xv)) * v.numpy()).sum())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jvp_matches_vjp_products(name):
    f = FUNCTIONS[name]
    x = f64(X23)
    rng = np.random.default_rng(3)
    v = rng.standard_normal(x.shape)
    out, jv = cr.jvp(f, (x,), (v,))
    out2, vjp_fn = cr.vjp(f, x)
    np.testing.assert_allclose(out.numpy(), out2.numpy())
    u = rng.standard_normal(out.shape)
    (ujt,) = vjp_fn(f64(u))
    # u . (J v) == (u^T J) . v
    np.testing.assert_allclose((u * jv.numpy()).sum(), (ujt.numpy() * v).sum(), rtol=1e-10)


def test_jvp_several_primals():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    ta, tb = f64([1.0, 0.0]), f64([0.0, 1.0])
    out, tout = cr.jvp(lambda x, y: x * y, (a, b), (ta, tb))
    np.testing.assert_allclose(out.numpy(), [3.0, 8.0])
    np.testing.assert_allclose(tout.numpy(), [3.0, 2.0])


def test_jvp_tangent_shape_mismatch():
    with pytest.raises(cr.ShapeError):
        cr.jvp(lambda x: x * 2, (f64([1.0, 2.0]),), (f64([1.0]),))


def test_nested_jvp_raises():
    x = f64([1.0, 2.0])
    with pytest.raises(cr.GraphError, match="nested"):
        cr.jvp(lambda a: cr.jvp(lambda b: b * 2, (a,), (a,))[1], (x,), (x,))


def test_grad_inside_jvp_raises():
    x = f64([1.0, 2.0])
    with pytest.raises(cr.GraphError):
        cr.jvp(lambda a: cr.grad(lambda b: (b * b).sum())(a), (x,), (x,))


def test_state_clean_after_jvp_error():
    x = f64([1.0, 2.0])
    with pytest.raises(cr.GraphError):
        cr.jvp(lambda a: cr.jvp(lambda b: b, (a,), (a,)), (x,), (x,))
    _, t = cr.jvp(lambda a: a * 3, (x,), (f64([1.0, 1.0]),))  # forward mode still usable
    np.testing.assert_allclose(t.numpy(), [3.0, 3.0])
    g = cr.grad(lambda a: (a * a).sum())(x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])


# ---- jacobian ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jacobian_fwd_equals_rev_and_numeric(name):
    f = FUNCTIONS[name]
    x = f64(X23)
    jr = cr.jacobian(f, x, mode="rev")
    jf = cr.jacobian(f, x, mode="fwd")
    out_shape = f(x).shape
    assert jr.shape == jf.shape == out_shape + x.shape
    np.testing.assert_allclose(jf.numpy(), jr.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jr.numpy(), numeric_jacobian(f, x), rtol=1e-5, atol=1e-7)


def test_jacobian_of_matmul_is_analytic():
    x = f64(X23)
    jac = cr.jacobian(lambda t: t @ f64(A34), x, mode="fwd").numpy()
    # d(xA)[i, k] / dx[j, l] = delta_ij A[l, k]
    want = np.einsum("ij,lk->ikjl", np.eye(2), A34)
    np.testing.assert_allclose(jac, want, atol=1e-14)


def test_jacobian_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        cr.jacobian(lambda t: t, f64([1.0]), mode="sideways")


# ---- higher order --------------------------------------------------------------------------


def test_grad_of_grad():
    x = f64([0.5, 1.0, 2.0])
    d1 = cr.grad(lambda t: (t**3).sum())
    d2 = cr.grad(lambda t: d1(t).sum())
    np.testing.assert_allclose(d2(x).numpy(), 6 * x.numpy())
    d3 = cr.grad(lambda t: d2(t).sum())
    np.testing.assert_allclose(d3(x).numpy(), [6.0, 6.0, 6.0])
    sin2 = cr.grad(lambda t: cr.grad(lambda u: u.sin().sum())(t).sum())
    np.testing.assert_allclose(sin2(x).numpy(), -np.sin(x.numpy()))


def test_hessian_of_sum_of_cubes():
    x = f64([0.5, -1.0, 2.0])
    h = cr.hessian(lambda t: (t**3).sum(), x)
    assert h.shape == (3, 3)
    np.testing.assert_allclose(h.numpy(), np.diag(6 * x.numpy()), atol=1e-12)


def test_hessian_of_quadratic_form():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    x = f64(rng.standard_normal(4))
    h = cr.hessian(lambda t: t @ f64(a) @ t, x)
    np.testing.assert_allclose(h.numpy(), a + a.T, atol=1e-12)


def test_hessian_matrix_input_shape():
    x = f64(X23)
    h = cr.hessian(lambda t: (t * t).sum() * 0.5, x)
    assert h.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(h.numpy().reshape(6, 6), np.eye(6), atol=1e-12)


SOFTMAX_FNS = {  # (chainrule, torch): the same function in each library's spelling
    "softmax_weighted": (
        lambda t, c: (t.softmax(axis=-1) * c).sum(),
        lambda t, c: (t.softmax(-1) * c).sum(),
    ),
    "log_softmax_nll": (
        lambda t, c: -(t.log_softmax(axis=-1) * c).sum(),
        lambda t, c: -(t.log_softmax(-1) * c).sum(),
    ),
    "logsumexp_sq": (
        lambda t, c: t.logsumexp() ** 2 + (t * c).sum(),
        lambda t, c: t.logsumexp(-1) ** 2 + (t * c).sum(),
    ),
    "tanh_sigmoid": (
        lambda t, c: ((t.tanh() * c).sum() * t.sigmoid()).sum(),
        lambda t, c: ((t.tanh() * c).sum() * t.sigmoid()).sum(),
    ),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(SOFTMAX_FNS))
def test_hessian_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours_f, torch_f = SOFTMAX_FNS[name]
    rng = np.random.default_rng(5)
    xv, cv = rng.standard_normal(5), rng.standard_normal(5)
    ours = cr.hessian(lambda t: ours_f(t, f64(cv)), f64(xv)).numpy()
    theirs = torch.autograd.functional.hessian(
        lambda t: torch_f(t, torch.tensor(cv)), torch.tensor(xv)
    ).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_hessian_of_softmax_function_analytic():
    # f = sum(c * softmax(x)); H = d2f/dx2 analytic for a 3-vector
    rng = np.random.default_rng(2)
    xv, cv = rng.standard_normal(3), rng.standard_normal(3)
    p = np.exp(xv - xv.max())
    p /= p.sum()
    m = (cv * p).sum()
    # df/dx_i = p_i (c_i - m); differentiate again
    want = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            dp_i = p[i] * ((i == j) - p[j])
            dm = p[j] * (cv[j] - m)
            want[i, j] = dp_i * (cv[i] - m) - p[i] * dm
    got = cr.hessian(lambda t: (t.softmax() * f64(cv)).sum(), f64(xv)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_backward_create_graph_gives_differentiable_grad():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.requires_grad and not gx.is_leaf
    np.testing.assert_allclose(gx.numpy(), [3.0, 12.0])
    x.grad = None
    (gx * gx).sum().backward()  # d/dx sum((3x^2)^2) = 36 x^3
    np.testing.assert_allclose(x.grad.numpy(), 36 * x.numpy() ** 3)


def test_create_graph_retains_graph():
    x = f64([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    y.backward(create_graph=True)
    y.backward()  # create_graph implies retain_graph
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.numpy()))


def test_create_graph_through_many_ops_is_double_differentiable():
    x = f64([0.3, 0.7], requires_grad=True)
    w = f64([[1.0, -0.5], [0.25, 2.0]], requires_grad=True)
    y = ((x @ w).tanh() * x).logsumexp()
    y.backward(create_graph=True)
    gx = x.grad
    x.grad, w.grad = None, None
    gx.sum().backward()
    h = cr.hessian(lambda t: ((t @ w.detach()).tanh() * t).logsumexp(), x.detach())
    np.testing.assert_allclose(x.grad.numpy(), h.numpy().sum(axis=0), rtol=1e-10)


# ---- gradcheck -----------------------------------------------------------------------------


def test_gradcheck_passes_for_good_functions():
    rng = np.random.default_rng(0)
    assert cr.gradcheck(lambda a: (a.tanh() * a).sum(), (f64(rng.standard_normal(4)),)) is True
    assert cr.gradcheck(
        lambda a, b: (a @ b).softmax(), (f64(rng.standard_normal((2, 3))), f64(A34))
    )
    big = f64(rng.standard_normal((40, 40)))  # large: random projections
    assert cr.gradcheck(lambda a: a.sin() * 2, (big,))
    assert cr.gradcheck(lambda a: a * 3, (cr.tensor([1.0, 2.0]),))  # float32 in, checked in f64


class _OffByOne(cr.Function):
    """d(x^2)/dx with element 1 of the gradient deliberately wrong (jvp is right)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        bump = cr.tensor(np.array([0.0, 1.0, 0.0]))
        return 2 * a * g + bump * g

    @staticmethod
    def jvp(ctx, t):
        (a,) = ctx.saved_tensors
        return 2 * a * t


def _numbers(msg):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", msg)]


def test_gradcheck_names_input_index_and_values():
    a = f64([1.0, 2.0, 3.0])
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(lambda t: _OffByOne.apply(t), (a,))
    msg = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "input 0" in msg
    assert "(1,)" in msg
    nums = _numbers(msg.split(":", 1)[1])
    # reverse mode 2*2+1 = 5; forward mode and central differences 4
    assert 5.0 in nums and 4.0 in nums, msg
    assert "reverse" in msg and "forward" in msg and "central" in msg


def test_gradcheck_names_second_input():
    def f(x, y):
        return x * 2 + _OffByOne.apply(y)

    with pytest.raises(cr.GradcheckError, match="input 1"):
        cr.gradcheck(f, (f64([1.0, 1.0, 1.0]), f64([1.0, 2.0, 3.0])))


def test_gradcheck_catches_wrong_jvp():
    class WrongJvp(cr.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * a * g

        @staticmethod
        def jvp(ctx, t):
            (a,) = ctx.saved_tensors
            return 3 * a * t

    x = f64([1.0, 2.0])
    with pytest.raises(cr.GradcheckError, match="forward mode"):
        cr.gradcheck(lambda t: WrongJvp.apply(t), (x,))
    assert cr.gradcheck(lambda t: WrongJvp.apply(t), (x,), check_forward=False)


def test_gradcheck_large_input_wrong_gradient_caught():
    class Scaled(cr.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2.1

        @staticmethod
        def jvp(ctx, t):
            return t * 2

    big = f64(np.random.default_rng(0).standard_normal((50, 50)))
    with pytest.raises(cr.GradcheckError, match="input 0"):
        cr.gradcheck(lambda t: Scaled.apply(t), (big,))


def test_gradgradcheck():
    x = f64([0.3, -0.4, 1.1], requires_grad=True)
    assert cr.gradgradcheck(lambda t: (t.sin() * t.exp()).sum(), (x,))


# ---- misuse --------------------------------------------------------------------------------


def test_jacobian_bad_mode_is_a_chainrule_error():
    with pytest.raises(cr.ChainruleError, match="'rev' or 'fwd'"):
        cr.jacobian(lambda t: t, f64([1.0]), mode="sideways")


def test_argnums_out_of_range_is_an_indexing_error():
    with pytest.raises(cr.IndexingError, match="argnums 2 is out of range for 1 argument"):
        cr.grad(lambda t: t.sum(), argnums=2)(f64([1.0]))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda f, x: cr.jacobian(f, x), "jacobian"),
        (lambda f, x: cr.jacobian(f, x, mode="fwd"), "jacobian"),
        (lambda f, x: cr.vjp(f, x), "vjp"),
        (lambda f, x: cr.jvp(f, (x,), (x,)), "jvp"),
        (lambda f, x: cr.gradcheck(f, (x,)), "gradcheck"),
    ],
    ids=["jacobian_rev", "jacobian_fwd", "vjp", "jvp", "gradcheck"],
)
@pytest.mark.parametrize(
    ("f", "kind"),
    [(lambda t: 3.0, "float"), (lambda t: t.numpy() * 2, "ndarray"), (lambda t: (t, 1.0), "float")],
    ids=["float", "ndarray", "tuple_with_float"],
)
def test_transforms_need_f_to_return_tensors(call, name, f, kind):
    # a NumPy result used to give a Jacobian of zeros; a float, an AttributeError
    with pytest.raises(cr.ShapeError, match=rf"{name}: f must return a Tensor.*got {kind}"):
        call(f, f64([1.0, 2.0]))


@pytest.mark.parametrize("inputs", [(3.0,), (np.array([1.0, 2.0]),), (cr.tensor([1, 2]),), ()])
def test_gradcheck_with_nothing_to_check_is_an_error(inputs):
    # it used to return True without checking anything
    with pytest.raises(cr.ChainruleError, match="gradcheck: no floating-point Tensor") as info:
        cr.gradcheck(lambda *a: a[0] * 2 if a else cr.tensor(1.0), inputs)
    assert isinstance(info.value, ValueError)


# ---- jacrev, jacfwd and the cr.func namespace ----------------------------------------------


def test_jacrev_and_jacfwd_are_jacobian_functions_over_argnums() -> None:
    rng = np.random.default_rng(0)
    x, y = cr.tensor(rng.standard_normal(3)), cr.tensor(rng.standard_normal((2, 3)))

    def f(x, y):
        return cr.tanh(y @ x) * cr.sum(x * x)

    want_x = cr.jacobian(lambda a: f(a, y), x).numpy()
    want_y = cr.jacobian(lambda b: f(x, b), y).numpy()
    for jac in (cr.jacrev, cr.jacfwd):
        np.testing.assert_allclose(jac(f)(x, y).numpy(), want_x, rtol=1e-12, atol=1e-14)
        got_x, got_y = jac(f, argnums=(0, -1))(x, y)
        assert got_y.shape == (2, 2, 3)
        np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got_y.numpy(), want_y, rtol=1e-12, atol=1e-14)
        with pytest.raises(cr.nn.functional.ArgumentError, match="argnums 2 out of range"):
            jac(f, argnums=2)(x, y)
    h = cr.func.hessian(lambda x: cr.sum(cr.sin(x) * x))(x)
    np.testing.assert_allclose(h.numpy(), cr.hessian(lambda x: cr.sum(cr.sin(x) * x), x).numpy(),
                               rtol=1e-12)  # fmt: skip


def test_functional_call_swaps_weights_for_one_call() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.Linear(4, 1))
    model.double().eval()
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 3)))
    own = {name: p.numpy().copy() for name, p in model.named_parameters()}
    w = cr.tensor(np.ones((4, 3)), requires_grad=True)
    mean = np.full(4, 2.0)
    out = cr.func.functional_call(model, [{"0.weight": w}, {"1.running_mean": mean}], x)
    with cr.no_grad():  # the same model, its first weight and the mean replaced by hand
        bn = model[1]
        h = (x @ w.T + model[0].bias - mean) / cr.sqrt(bn.running_var + bn.eps)
        want = model[2](h * bn.weight + bn.bias)
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-12)
    out.sum().backward()
    assert w.grad is not None and model[0].weight.grad is None  # the given tensor learns
    for name, p in model.named_parameters():  # and the module has its own back
        np.testing.assert_array_equal(p.numpy(), own[name])
    assert float(model[1].running_mean.numpy().max()) == 0.0
    # the module's tensors come back even when the call fails
    with pytest.raises(cr.ShapeError):
        cr.func.functional_call(model, {"0.weight": np.ones((4, 7))}, (x,))
    assert model[0].weight.shape == (4, 3)
    with pytest.raises(cr.nn.ModuleNameError, match=r"no parameter or buffer '0\.weigth'"):
        cr.func.functional_call(model, {"0.weigth": w}, (x,))
    with pytest.raises(cr.nn.ModuleNameError, match="strict=True and no tensor given for"):
        cr.func.functional_call(model, {"0.weight": w}, (x,), strict=True)
    with pytest.raises(cr.nn.ModuleNameError, match="given in more than one dict"):
        cr.func.functional_call(model, [{"0.weight": w}, {"0.weight": w}], (x,))
