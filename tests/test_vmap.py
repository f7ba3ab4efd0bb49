"""vmap: torch.func.vmap's semantics as a loop of differentiable slices and a stack."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from chainrule.nn import functional as F
from chainrule.ops.nn import ArgumentError

RNG = np.random.default_rng(11)


def f64(data, requires_grad=False):
    return cr.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def randn(*shape):
    return f64(RNG.standard_normal(shape))


def close(a, b, tol=1e-10):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.numpy() if isinstance(b, cr.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---- against the batched op --------------------------------------------------------------


def test_dot_and_matvec_equal_the_batched_ops():
    x, y, m = randn(5, 3), randn(5, 3), randn(5, 4, 3)
    close(cr.vmap(lambda a, b: (a * b).sum())(x, y), (x * y).sum(axis=1))
    close(cr.vmap(lambda a, v: a @ v)(m, x), cr.einsum("bij,bj->bi", m, x))
    close(cr.vmap(lambda a, v: a @ v, in_dims=(None, 0))(m[0], x), x @ m[0].T)


def mlp(params, x):
    w1, b1, w2, b2 = params
    return (cr.tanh(x @ w1 + b1) @ w2 + b2).sum()


def test_mlp_on_one_example_equals_the_batch():
    params = (randn(3, 8), randn(8), randn(8, 2), randn(2))
    xs = randn(6, 3)
    w1, b1, w2, b2 = params
    batched = (cr.tanh(xs @ w1 + b1) @ w2 + b2).sum(axis=1)
    close(cr.vmap(mlp, in_dims=(None, 0))(params, xs), batched)


@pytest.mark.parametrize("in_dim", [0, 1, 2, -1, -2, -3])
def test_in_dim_maps_that_axis(in_dim):
    x = randn(2, 3, 4)
    out = cr.vmap(lambda a: a * 2 + 1, in_dims=in_dim)(x)
    close(out, cr.moveaxis(x * 2 + 1, in_dim, 0))


@pytest.mark.parametrize("out_dim", [0, 1, 2, -1, -2, -3])
def test_out_dim_puts_the_mapped_axis_there(out_dim):
    x = randn(4, 2, 3)
    out = cr.vmap(lambda a: a.exp(), out_dims=out_dim)(x)
    close(out, cr.moveaxis(x.exp(), 0, out_dim))


def test_per_argument_in_dims_and_unmapped_arguments():
    x, y, c = randn(3, 5), randn(5, 3, 4), randn(4)
    expected = cr.einsum("ib,bij->bj", x, y) + c
    close(cr.vmap(lambda a, b, s: a @ b + s, in_dims=(1, 0, None))(x, y, c), expected)
    close(cr.vmap(lambda a, b, s: a @ b + s, in_dims=[1, 0, None])(x, y, c), expected)


def test_nested_tuple_and_dict_inputs():
    x, y, z = randn(4, 3), randn(3, 4), randn(4)

    def f(pair, d, scale):
        return (pair[0] + pair[1]) * d["s"] + d["t"] * scale

    t = randn(3)
    out = cr.vmap(f, in_dims=((0, 1), {"s": 0, "t": None}, None))((x, y), {"s": z, "t": t}, 2.0)
    close(out, (x + y.T) * z[:, None] + t * 2.0)
    # an int for a whole structure maps every Tensor in it
    out = cr.vmap(lambda p: p[0] * p[1]["w"])((x, {"w": z}))
    close(out, x * z[:, None])


def test_multiple_and_nested_outputs_with_out_dims():
    x = randn(4, 3)
    a, b = cr.vmap(lambda v: (v.sin(), v.sum()), out_dims=(1, 0))(x)
    close(a, x.sin().T)
    close(b, x.sum(axis=1))
    out = cr.vmap(lambda v: {"u": v * 2, "w": [v, v.sum()]}, out_dims={"u": -1, "w": 0})(x)
    assert set(out) == {"u", "w"} and isinstance(out["w"], list)
    close(out["u"], (x * 2).T)
    close(out["w"][0], x)
    close(out["w"][1], x.sum(axis=1))
    (single,) = [cr.vmap(lambda v: v * 3, out_dims=(1,))(x)]  # torch accepts (d,) for one
    close(single, (x * 3).T)


def test_out_dims_none_returns_the_unmapped_value_once():
    x, c = randn(4, 3), randn(2)
    out, const = cr.vmap(lambda v, k: (v * 2, k + 1), in_dims=(0, None), out_dims=(0, None))(x, c)
    close(out, x * 2)
    close(const, c + 1)
    label = cr.vmap(lambda v: (v, "tag"), out_dims=(0, None))(x)[1]
    assert label == "tag"
    with pytest.raises(cr.ShapeError, match=r"out_dim is None .* different values"):
        cr.vmap(lambda v: v * 2, out_dims=None)(x)


def test_kwargs_pass_through_unmapped():
    x = randn(4, 3)
    out = cr.vmap(lambda v, *, power, shift=0.0: v**power + shift)(x, power=2, shift=randn(3))
    assert out.shape == (4, 3)
    out = cr.vmap(lambda v, *, axis: v.sum(axis=axis))(randn(4, 3, 2), axis=0)
    assert out.shape == (4, 2)


def test_nested_vmap_is_an_outer_product():
    x, y = randn(4), randn(5)
    outer = cr.vmap(cr.vmap(lambda a, b: a * b, (None, 0)), (0, None))(x, y)
    close(outer, cr.outer(x, y))
    m = randn(3, 4, 2)
    close(cr.vmap(cr.vmap(lambda v: v.sum()))(m), m.sum(axis=-1))
    close(cr.vmap(cr.vmap(lambda v: v.sum()), in_dims=2)(m), m.sum(axis=1).T)


def test_integer_and_numpy_inputs_and_dtypes():
    table = randn(5, 7)
    idx = cr.tensor(np.array([0, 6, 3, 3, 1]))
    picked = cr.vmap(lambda row, i: row[i])(table, idx)
    close(picked, table.numpy()[np.arange(5), idx.numpy()])
    arr = RNG.standard_normal((4, 3)).astype(np.float32)
    out = cr.vmap(lambda v: v * 2)(arr)
    assert isinstance(out, cr.Tensor) and out.dtype == cr.float32
    close(out, arr * 2)
    assert cr.vmap(lambda v: v.sum())(f64(arr)).dtype == cr.float64


def test_no_grad_and_wraps():
    x = randn(3, 2)
    x.requires_grad = True
    with cr.no_grad():
        out = cr.vmap(lambda v: v * 2)(x)
    assert not out.requires_grad
    assert cr.vmap(lambda v: v * 2)(x).requires_grad

    def per_example(v):
        """Doc."""
        return v

    wrapped = cr.vmap(per_example)
    assert wrapped.__name__ == "per_example" and wrapped.__doc__ == "Doc."
    assert wrapped.__wrapped__ is per_example
    assert cr.func.vmap is cr.vmap


def test_chunk_size_does_not_change_results():
    x = randn(7, 3)
    f = lambda v: v.softmax()  # noqa: E731
    close(cr.vmap(f, chunk_size=2)(x), cr.vmap(f)(x))
    close(cr.vmap(f, chunk_size=1)(x), x.softmax(axis=-1))


# ---- composition -------------------------------------------------------------------------


def loss(w, x, y):
    return (cr.tanh(x @ w) - y).square().sum()


def test_per_example_gradients_equal_a_loop_of_grads():
    w, X, y = randn(3, 2), randn(5, 3), randn(5, 2)
    got = cr.vmap(cr.grad(loss), in_dims=(None, 0, 0))(w, X, y)
    assert got.shape == (5, 3, 2)
    for i in range(5):
        close(got[i], cr.grad(loss)(w, X[i], y[i]))


@pytest.mark.torch
def test_per_example_gradients_match_torch():
    torch = pytest.importorskip("torch")
    from torch.func import grad as tgrad
    from torch.func import vmap as tvmap

    wv, Xv, yv = (RNG.standard_normal(s) for s in ((3, 2), (5, 3), (5, 2)))
    ours = cr.vmap(cr.grad(loss), in_dims=(None, 0, 0))(f64(wv), f64(Xv), f64(yv))

    def tloss(w, x, y):
        return (torch.tanh(x @ w) - y).square().sum()

    theirs = tvmap(tgrad(tloss), in_dims=(None, 0, 0))(*map(torch.tensor, (wv, Xv, yv)))
    close(ours, theirs.numpy())


def test_grad_of_a_vmapped_sum():
    w, X, y = randn(3, 2), randn(5, 3), randn(5, 2)
    total = cr.grad(lambda w: cr.vmap(loss, in_dims=(None, 0, 0))(w, X, y).sum())(w)
    close(total, cr.grad(lambda w: loss(w, X, y))(w))
    # gradient to a mapped input lands in its slices
    g = cr.grad(lambda X: cr.vmap(loss, in_dims=(None, 0, 0))(w, X, y).sum())(X)
    close(g, cr.grad(lambda X: loss(w, X, y))(X))


def test_jacrev_and_jvp_through_vmap():
    x = randn(3, 4)
    f = cr.vmap(lambda v: v.sin() * v.sum(), in_dims=1, out_dims=1)
    jac = cr.jacrev(f)(x)
    assert jac.shape == (3, 4, 3, 4)
    close(jac, cr.jacfwd(f)(x))
    t = randn(3, 4)
    out, tangent = cr.jvp(f, (x,), (t,))
    close(out, f(x))
    close(tangent, cr.einsum("ijkl,kl->ij", jac, t))
    # columns do not interact: the Jacobian is block diagonal across the mapped axis
    j = jac.numpy()
    assert np.all(j[:, 0, :, 1] == 0)


def test_gradcheck_through_vmap():
    def f(w, xs):
        return cr.vmap(lambda w, x: cr.tanh(x @ w).sum(), in_dims=(None, 0))(w, xs)

    assert cr.gradcheck(f, (randn(3, 2), randn(4, 3)))


def test_vmap_of_jacrev_and_hessian_per_example():
    x = randn(4, 3)
    jacs = cr.vmap(cr.jacrev(lambda v: v.sin()))(x)
    close(jacs, np.stack([np.diag(np.cos(r)) for r in x.numpy()]))
    hs = cr.vmap(cr.func.hessian(lambda v: (v**3).sum()))(x)
    close(hs, np.stack([np.diag(6 * r) for r in x.numpy()]))


# ---- against torch.func.vmap ---------------------------------------------------------------

# (chainrule function, torch function, input shapes, in_dims, out_dims)
TORCH_CASES = {
    "softmax_rows": (lambda v: v.softmax(axis=-1), lambda v: v.softmax(-1), [(4, 5)], 0, 0),
    "matvec_in1": (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 6), (6, 3)], (None, 1), -1),
    "norm_out1": (
        lambda v: v / v.square().sum().sqrt(),
        lambda v: v / v.square().sum().sqrt(),
        [(5, 2, 3)],
        -1,
        1,
    ),
    "two_outputs": (
        lambda a, b: (a * b, (a - b).sum()),
        lambda a, b: (a * b, (a - b).sum()),
        [(4, 3), (3, 4)],
        (0, 1),
        (1, 0),
    ),
    "logsumexp_tuple_arg": (
        lambda p: p[0].logsumexp() + p[1],
        lambda p: p[0].logsumexp(0) + p[1],
        [((6, 2), (2,))],
        ((1, None),),
        0,
    ),
    "outer_nested": (
        cr.vmap(lambda a, b: a * b, (None, 0)),
        "nested",
        [(3,), (4,)],
        (0, None),
        0,
    ),
}


def _make(shape):
    if isinstance(shape[0], tuple):
        return tuple(RNG.standard_normal(s) for s in shape)
    return RNG.standard_normal(shape)


def _convert(value, fn):
    return tuple(fn(v) for v in value) if isinstance(value, tuple) else fn(value)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_func_vmap(name):
    torch = pytest.importorskip("torch")
    from torch.func import vmap as tvmap

    ours_f, torch_f, shapes, in_dims, out_dims = TORCH_CASES[name]
    if torch_f == "nested":
        torch_f = tvmap(lambda a, b: a * b, (None, 0))
    values = [_make(s) for s in shapes]
    ours = cr.vmap(ours_f, in_dims, out_dims)(*[_convert(v, f64) for v in values])
    theirs = tvmap(torch_f, in_dims, out_dims)(*[_convert(v, torch.tensor) for v in values])
    ours, theirs = _convert(ours, lambda t: t.numpy()), _convert(theirs, lambda t: t.numpy())
    assert type(ours) is type(theirs)
    for a, b in zip(*[v if isinstance(v, tuple) else (v,) for v in (ours, theirs)]):
        close(a, b, tol=1e-12)


# ---- randomness --------------------------------------------------------------------------


def test_randomness_error_raises_and_leaves_the_generator_alone():
    x = randn(4, 3)
    cr.manual_seed(0)
    before = backend.get_rng_state()
    with pytest.raises(cr.GraphError, match="random operation while in randomness error mode"):
        cr.vmap(lambda v: v + cr.randn(3))(x)
    assert backend.get_rng_state() == before
    with pytest.raises(cr.GraphError, match="randomness error mode"):
        cr.vmap(lambda v: F.dropout(v, 0.5, training=True), randomness="error")(x)
    cr.vmap(lambda v: F.dropout(v, 0.5, training=False))(x)  # no draw, no error


def test_randomness_different_and_same():
    x = cr.zeros((5, 3), dtype=cr.float64)
    cr.manual_seed(1)
    diff = cr.vmap(lambda v: v + cr.randn(3), randomness="different")(x).numpy()
    assert len({tuple(r) for r in diff}) == 5
    cr.manual_seed(1)
    expected = np.stack([cr.randn(3).numpy() for _ in range(5)])
    close(diff, expected)  # "different" is the plain loop's draws

    cr.manual_seed(2)
    same = cr.vmap(lambda v: v + cr.randn(3), randomness="same")(x).numpy()
    after_vmap = cr.randn(2).numpy()
    cr.manual_seed(2)
    one = cr.randn(3).numpy()
    after_one = cr.randn(2).numpy()
    close(same, np.broadcast_to(one, (5, 3)))
    close(after_vmap, after_one)  # the generator is left where one call leaves it

    masks = cr.vmap(lambda v: F.dropout(v + 1, 0.5), randomness="same")(cr.zeros((4, 50)))
    assert np.all(masks.numpy() == masks.numpy()[0])


def test_bad_randomness_is_an_argument_error():
    with pytest.raises(ArgumentError, match="randomness must be 'error', 'different' or 'same'"):
        cr.vmap(lambda v: v, randomness="sometimes")


# ---- errors ------------------------------------------------------------------------------


def test_mapped_sizes_must_agree():
    with pytest.raises(cr.ShapeError, match=r"same size in the mapped dimension.*argument 0: "
                       r"3, argument 1: 4"):  # fmt: skip
        cr.vmap(lambda a, b: a + b)(randn(3, 2), randn(4, 2))


def test_something_must_be_mapped():
    with pytest.raises(ArgumentError, match="at least one input must be mapped over"):
        cr.vmap(lambda a, b: a + b, in_dims=(None, None))(randn(3), randn(3))
    with pytest.raises(ArgumentError, match="at least one input must be mapped over"):
        cr.vmap(lambda a: a, in_dims=None)(randn(3))
    with pytest.raises(ArgumentError, match="got no positional inputs"):
        cr.vmap(lambda: cr.ones(2))()


def test_in_dim_out_of_range_names_the_argument_and_shape():
    with pytest.raises(cr.ShapeError, match=r"in_dim=2 for argument 1 of shape \(3, 2\)"):
        cr.vmap(lambda a, b: a + b, in_dims=(0, 2))(randn(3, 2), randn(3, 2))
    with pytest.raises(cr.ShapeError, match=r"in_dim=-3 for argument 0\[1\] of shape"):
        cr.vmap(lambda p: p[0], in_dims=((0, -3),))((randn(3, 2), randn(3, 2)))
    with pytest.raises(cr.ShapeError, match="0-d Tensor has no dimension to map over"):
        cr.vmap(lambda a, b: a + b)(randn(3), f64(1.0))


def test_in_dims_structure_must_match():
    with pytest.raises(ArgumentError, match="in_dims has 1 entries for 2 positional arguments"):
        cr.vmap(lambda a, b: a + b, in_dims=(0,))(randn(3), randn(3))
    with pytest.raises(ArgumentError, match="not compatible with the structure"):
        cr.vmap(lambda p: p[0], in_dims=((0, 0, 0),))((randn(3), randn(3)))
    with pytest.raises(ArgumentError, match="not compatible with the structure"):
        cr.vmap(lambda d: d["a"], in_dims=({"b": 0},))({"a": randn(3)})
    with pytest.raises(ArgumentError, match="in_dims must be an int, None"):
        cr.vmap(lambda a: a, in_dims=1.5)
    with pytest.raises(ArgumentError, match="out_dims must be an int, None"):
        cr.vmap(lambda a: a, out_dims="0")


def test_non_tensors_cannot_be_mapped():
    with pytest.raises(ArgumentError, match="in_dim=0 for argument 1 of type float"):
        cr.vmap(lambda a, s: a * s)(randn(3), 2.0)
    with pytest.raises(ArgumentError, match="in_dim=0 for argument 0 of type NoneType"):
        cr.vmap(lambda n, a: a)(None, randn(3))
    assert cr.vmap(lambda a, s: a * s, in_dims=(0, None))(randn(3), 2.0).shape == (3,)


def test_func_must_return_tensors():
    with pytest.raises(cr.ShapeError, match="must only return Tensors, got float for output"):
        cr.vmap(lambda a: a.sum().item())(randn(3, 2))
    with pytest.raises(cr.ShapeError, match=r"got ndarray for output\[1\]"):
        cr.vmap(lambda a: (a, a.numpy()))(randn(3, 2))


def test_output_shape_and_out_dims_errors():
    x = randn(3, 2)
    with pytest.raises(cr.ShapeError, match=r"out_dim=2 for output of per-index shape \(2,\)"):
        cr.vmap(lambda a: a, out_dims=2)(x)
    with pytest.raises(ArgumentError, match="out_dims is not compatible with the structure"):
        cr.vmap(lambda a: (a, a), out_dims=(0, 0, 0))(x)
    with pytest.raises(cr.ShapeError, match=r"shape \(1,\) for output at index 0 but \(2,\)"):
        cr.vmap(lambda a, n: a[: int(n.item()) + 1])(x, cr.tensor(np.arange(3)))
    with pytest.raises(cr.ShapeError, match="outputs of different structures at index 0 and"):
        cr.vmap(lambda a, n: (a,) * (int(n.item()) + 1))(x, cr.tensor(np.arange(3)))
    close(cr.vmap(lambda a: a, out_dims=[1])(x), x.T)


def test_bad_chunk_size_and_empty_mapped_dimension():
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ArgumentError, match="chunk_size must be None or a positive int"):
            cr.vmap(lambda a: a, chunk_size=bad)
    with pytest.raises(cr.ShapeError, match="mapped dimension has size 0"):
        cr.vmap(lambda a: a)(cr.zeros((0, 3)))


def test_partial_functions_get_a_name_in_errors():
    f = cr.vmap(functools.partial(lambda a, b: a + b, b=1.0))
    with pytest.raises(ArgumentError, match=r"vmap\(partial, in_dims=0"):
        f(2.0)
