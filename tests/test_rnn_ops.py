"""The fused recurrent ops (chainrule.ops.rnn): the oracle table RNN_OPS under every generic
check, plus long sequences, agreement with a step-by-step composition of core ops, partial
gradients, chained states, double backward through chained layers, and shape errors."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.rnn import (
    gru_layer,
    gru_layer_composite,
    lstm_layer,
    lstm_layer_composite,
    rnn_layer,
    rnn_layer_composite,
)
from chainrule.testing import oracle
from chainrule.testing.oracle import OpInfo, Sample
from chainrule.testing.oracle_rnn import RNN_OPS


def _cases(keep: Callable[[OpInfo], bool] = lambda op: True) -> list:
    return [
        pytest.param(op, sample, id=f"{op.name}-{k}")
        for op in RNN_OPS
        if keep(op)
        for k, sample in enumerate(op.samples())
    ]


# ---- the table, case by case (the checks of tests/test_oracle.py) ---------------------------


@pytest.mark.parametrize(("op", "sample"), _cases())
def test_gradcheck(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_gradcheck(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases())
def test_forward_vs_reverse_jacobian(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_fwd_rev(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases())
def test_double_backward(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_gradgrad(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases())
def test_forward_vs_numpy(op: OpInfo, sample: Sample) -> None:
    assert oracle.check_reference(op, sample) is not None


@pytest.mark.torch
@pytest.mark.parametrize(("op", "sample"), _cases())
def test_vs_torch(op: OpInfo, sample: Sample) -> None:
    pytest.importorskip("torch")
    assert oracle.check_torch(op, sample) is not None


def test_run_table_is_green() -> None:
    rows = oracle.run_table(RNN_OPS, checks=["torch", "numpy"])
    assert all(r["ok"] for r in rows), [r["failures"] for r in rows]


# ---- helpers ----------------------------------------------------------------------------------

KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _arrays(kind: str, T: int, B: int, F: int, H: int, seed: int = 0, dtype: Any = np.float64,
            scale: float = 0.5) -> list:  # fmt: skip
    """(x, h0, [c0,] w_ih, w_hh, b_ih, b_hh) as arrays."""
    rng = np.random.default_rng(seed)
    G = GATES[kind]

    def r(*s: int) -> np.ndarray:
        return (rng.standard_normal(s) * scale).astype(dtype)

    states = [r(B, H), r(B, H)] if kind == "lstm" else [r(B, H)]
    return [r(T, B, F), *states, r(G * H, F), r(G * H, H), r(G * H), r(G * H)]


def _fused(kind: str) -> Callable[..., tuple]:
    if kind == "lstm":
        return lstm_layer
    if kind == "gru":
        return gru_layer
    return lambda *a: rnn_layer(*a, nonlinearity=kind[4:])


def _sigmoid(a: Any) -> Any:
    return 1 / (1 + cr.exp(-a))


def _step_by_step(kind: str, sigmoid: Callable = _sigmoid) -> Callable[..., tuple]:
    """The layer written independently of chainrule.ops.rnn: per-gate weight blocks,
    per-step matmuls on x_t, sigmoid as 1 / (1 + exp(-a)) unless given, core ops only."""

    def f(x: Any, h: Any, *rest: Any) -> tuple:
        c = None
        if kind == "lstm":
            c, *rest = rest
        w_ih, w_hh, b_ih, b_hh = rest
        H = w_hh.shape[1]
        G = GATES[kind]
        wi = [w_ih[k * H : (k + 1) * H] for k in range(G)]
        wh = [w_hh[k * H : (k + 1) * H] for k in range(G)]
        bi = [b_ih[k * H : (k + 1) * H] for k in range(G)]
        bh = [b_hh[k * H : (k + 1) * H] for k in range(G)]

        def lin(k: int, xt: Any, h: Any) -> tuple:
            return xt @ wi[k].T + bi[k], h @ wh[k].T + bh[k]

        outs = []
        for t in range(x.shape[0]):
            xt = x[t]
            if kind == "lstm":
                i, f_, g, o = (sum(lin(k, xt, h)) for k in range(4))
                c = sigmoid(f_) * c + sigmoid(i) * cr.tanh(g)
                h = sigmoid(o) * cr.tanh(c)
            elif kind == "gru":
                (xr, hr), (xz, hz), (xn, hn) = (lin(k, xt, h) for k in range(3))
                r, z = sigmoid(xr + hr), sigmoid(xz + hz)
                n = cr.tanh(xn + r * hn)
                h = (1 - z) * n + z * h
            else:
                a = sum(lin(0, xt, h))
                h = cr.tanh(a) if kind == "rnn_tanh" else cr.relu(a)
            outs.append(h)
        return (cr.stack(outs), h) + ((c,) if kind == "lstm" else ())

    return f


def _values_and_grads(f: Callable, arrays: list, cts: list, requires: list | None = None,
                      ) -> tuple[list, list]:  # fmt: skip
    ts = [cr.tensor(a, requires_grad=requires is None or requires[k])
          for k, a in enumerate(arrays)]  # fmt: skip
    outs = f(*ts)
    loss = sum((o * cr.tensor(c)).sum() for o, c in zip(outs, cts))
    loss.backward()
    return [o.numpy() for o in outs], [None if t.grad is None else t.grad.numpy() for t in ts]


def _cotangents(kind: str, T: int, B: int, H: int, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    n = 3 if kind == "lstm" else 2
    return [rng.standard_normal((T, B, H) if k == 0 else (B, H)) for k in range(n)]


# ---- against a step-by-step composition of core ops ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_equals_step_by_step_composition(kind: str) -> None:
    T, B, F, H = 5, 3, 4, 6
    arrays = _arrays(kind, T, B, F, H)
    cts = _cotangents(kind, T, B, H)
    vals, grads = _values_and_grads(_fused(kind), arrays, cts)
    ref_vals, ref_grads = _values_and_grads(_step_by_step(kind), arrays, cts)
    for v, w in zip(vals, ref_vals):
        np.testing.assert_allclose(v, w, rtol=1e-12, atol=1e-12)
    for g, w in zip(grads, ref_grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32_and_matches_float64(kind: str) -> None:
    T, B, F, H = 6, 4, 5, 8
    arrays = _arrays(kind, T, B, F, H, dtype=np.float32)
    cts = [c.astype(np.float32) for c in _cotangents(kind, T, B, H)]
    vals, grads = _values_and_grads(_fused(kind), arrays, cts)
    assert all(v.dtype == np.float32 for v in vals)
    assert all(g.dtype == np.float32 for g in grads)
    ref_vals, ref_grads = _values_and_grads(
        _step_by_step(kind), [a.astype(np.float64) for a in arrays], cts
    )
    for v, w in zip(vals, ref_vals):
        np.testing.assert_allclose(v, w, rtol=1e-4, atol=2e-6)
    for g, w in zip(grads, ref_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_composite_used_for_double_backward_matches_fast_op(kind: str) -> None:
    composite = {"lstm": lstm_layer_composite, "gru": gru_layer_composite}.get(kind)
    if composite is None:
        composite = lambda *a: rnn_layer_composite(*a, nonlinearity=kind[4:])  # noqa: E731
    T, B, F, H = 4, 2, 3, 5
    arrays = _arrays(kind, T, B, F, H, seed=3)
    cts = _cotangents(kind, T, B, H)
    vals, grads = _values_and_grads(_fused(kind), arrays, cts)
    ref_vals, ref_grads = _values_and_grads(composite, arrays, cts)
    for a, b in zip(vals + grads, ref_vals + ref_grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_only_some_inputs_require_grad(kind: str) -> None:
    """Weights only (the training case), and x / h0 only: the same partial gradients."""
    T, B, F, H = 4, 3, 2, 3
    arrays = _arrays(kind, T, B, F, H, seed=5)
    cts = _cotangents(kind, T, B, H)
    n = len(arrays)
    _, full = _values_and_grads(_fused(kind), arrays, cts)
    for wanted in ({n - 4, n - 3}, {0, 1}, {n - 1}):
        _, got = _values_and_grads(_fused(kind), arrays, cts, [k in wanted for k in range(n)])
        for k in range(n):
            if k in wanted:
                np.testing.assert_allclose(got[k], full[k], rtol=1e-12, atol=1e-12)
            else:
                assert got[k] is None


@pytest.mark.parametrize("kind", KINDS)
def test_absent_states_and_biases_are_zeros(kind: str) -> None:
    T, B, F, H = 3, 2, 3, 4
    arrays = _arrays(kind, T, B, F, H, seed=7)
    n_states = 2 if kind == "lstm" else 1
    zero = list(arrays)
    for k in range(1, 1 + n_states):
        zero[k] = np.zeros_like(arrays[k])
    zero[-1] = np.zeros_like(arrays[-1])
    absent = list(arrays)
    for k in range(1, 1 + n_states):
        absent[k] = None
    absent[-1] = None
    f = _fused(kind)
    with cr.no_grad():
        want = f(*[cr.tensor(a) for a in zero])
        got = f(*[None if a is None else cr.tensor(a) for a in absent])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_saturated_gates_are_exact_limits_without_warnings(kind: str, dtype: Any) -> None:
    # Pre-activations up to ~1e4: the fused layers take sigmoids as 1 / (1 + exp(-a)), whose
    # exp overflows to inf on the way; that must give the limits 0 and 1 quietly, as the
    # step-by-step reference does, with finite gradients.
    T, B, F, H = 4, 3, 5, 6
    arrays = _arrays(kind, T, B, F, H, seed=5, dtype=dtype, scale=40.0)
    cts = [c.astype(dtype) for c in _cotangents(kind, T, B, H)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals, grads = _values_and_grads(_fused(kind), arrays, cts)
    ref_vals, ref_grads = _values_and_grads(  # core sigmoid: 1 / (1 + exp(-a)) has NaN grads
        _step_by_step(kind, cr.sigmoid), [a.astype(np.float64) for a in arrays], cts
    )
    assert np.abs(arrays[0] @ arrays[-4].T).max() > 1000  # exp(-a) overflows float64 too
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for v, w in zip(vals, ref_vals):
        assert np.isfinite(v).all()
        np.testing.assert_allclose(v, w, rtol=tol, atol=tol)
    for g, w in zip(grads, ref_grads):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * 1e3)


# ---- long sequences ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_thousand_step_sequence_backprops(kind: str) -> None:
    T, B, F, H = 1000, 2, 3, 4
    arrays = _arrays(kind, T, B, F, H, seed=11, dtype=np.float32)
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    outs = _fused(kind)(*ts)
    assert outs[0].shape == (T, B, H)
    (outs[0].mean() + outs[1].sum()).backward()
    for t in ts:
        assert t.grad is not None and t.grad.shape == t.shape
        assert np.isfinite(t.grad.numpy()).all()


def test_thousand_step_lstm_matches_composition() -> None:
    """The composition also backprops 1,000 steps (an iterative engine), and agrees."""
    T, B, F, H = 1000, 1, 2, 3
    arrays = _arrays("lstm", T, B, F, H, seed=13)
    cts = _cotangents("lstm", T, B, H)
    vals, grads = _values_and_grads(lstm_layer, arrays, cts)
    ref_vals, ref_grads = _values_and_grads(lstm_layer_composite, arrays, cts)
    for a, b in zip(vals + grads, ref_vals + ref_grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


# ---- chained layers, shared inputs, double backward through the graph fallback ----------------


def test_double_backward_through_chained_lstm_layers() -> None:
    """States of one call feed the next (inputs that are outputs of a multi-output node)
    and a stacked layer reads the first's output; second derivatives are exact."""
    rng = np.random.default_rng(0)
    T, B, F, H = 2, 2, 2, 2

    def r(*s: int) -> cr.Tensor:
        return cr.tensor(rng.standard_normal(s) * 0.5, requires_grad=True)

    x, w1, w2 = r(T, B, F), r(4 * H, F), r(4 * H, H)
    v1, v2 = r(4 * H, H), r(4 * H, H)

    def f(x: Any, w1: Any, w2: Any, v1: Any, v2: Any) -> Any:
        _, h, c = lstm_layer(x, None, None, w1, w2)
        out2, h2, c2 = lstm_layer(x, h, c, w1, w2)  # states carried over
        top, _, _ = lstm_layer(out2, None, None, v1, v2)  # a second layer
        return top.sum() + (h2 * c2).sum()

    assert cr.gradgradcheck(f, [x, w1, w2, v1, v2])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_same_tensor_for_both_biases(kind: str) -> None:
    T, B, F, H = 2, 2, 2, 3
    arrays = _arrays(kind, T, B, F, H, seed=17)
    f = _fused(kind)
    n = len(arrays)

    def shared(*xs: Any) -> Any:
        return f(*xs, xs[-1])  # b_ih and b_hh are one tensor

    ts = [cr.tensor(a, requires_grad=True) for a in arrays[:-1]]
    assert cr.gradcheck(shared, ts)
    assert cr.gradgradcheck(shared, ts)
    _, vjp_fn = cr.vjp(shared, *ts)
    outs = shared(*ts)
    got = vjp_fn(tuple(cr.ones_like(o) for o in outs))
    _, sep = _values_and_grads(f, arrays[: n - 1] + [arrays[n - 2]],
                               [np.ones(o.shape) for o in outs])  # fmt: skip
    np.testing.assert_allclose(got[-1].numpy(), sep[-1] + sep[-2], rtol=1e-12)


def test_jvp_matches_vjp_on_random_directions() -> None:
    T, B, F, H = 4, 3, 2, 3
    for kind in KINDS:
        arrays = _arrays(kind, T, B, F, H, seed=19)
        rng = np.random.default_rng(2)
        tangents = [rng.standard_normal(a.shape) for a in arrays]
        cts = _cotangents(kind, T, B, H)
        f = _fused(kind)
        _, touts = cr.jvp(f, [cr.tensor(a) for a in arrays], [cr.tensor(t) for t in tangents])
        lhs = sum(float((to.numpy() * c).sum()) for to, c in zip(touts, cts))
        _, grads = _values_and_grads(f, arrays, cts)
        rhs = sum(float((g * t).sum()) for g, t in zip(grads, tangents))
        assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(rhs)), kind


# ---- errors -------------------------------------------------------------------------------------


def _shape_error(match: str) -> Any:
    return pytest.raises(cr.ShapeError, match=re.escape(match))


def test_wrong_weight_shapes_name_the_shapes() -> None:
    T, B, F, H = 3, 2, 4, 5
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = (cr.tensor(a) for a in _arrays("lstm", T, B, F, H))
    with _shape_error("w_hh must have shape (4*hidden, hidden), got (20, 4)"):
        lstm_layer(x, h0, c0, w_ih, w_hh[:, :4], b_ih, b_hh)
    with _shape_error("w_ih must have shape (4*hidden, input_size) = (20, 4)"):
        lstm_layer(x, h0, c0, w_ih[:, :3], w_hh, b_ih, b_hh)
    with _shape_error("got (20, 3)"):
        lstm_layer(x, h0, c0, w_ih[:, :3], w_hh, b_ih, b_hh)
    with _shape_error("b_hh must have shape (20,) for hidden size 5, got (19,)"):
        lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh[:19])
    with _shape_error("c0 must have shape (batch, hidden) = (2, 5)"):
        lstm_layer(x, h0, c0[:1], w_ih, w_hh, b_ih, b_hh)
    with _shape_error("input must be 3-D (seq_len, batch, features), got (2, 4)"):
        lstm_layer(x[0], h0, c0, w_ih, w_hh, b_ih, b_hh)
    gx, gh0, g_ih, g_hh, gb_ih, gb_hh = (cr.tensor(a) for a in _arrays("gru", T, B, F, H))
    with _shape_error("gru_layer: w_hh must have shape (3*hidden, hidden), got (20, 5)"):
        gru_layer(gx, gh0, g_ih, w_hh, gb_ih, gb_hh)
    with _shape_error("rnn_layer: w_ih must have shape (hidden, input_size) = (5, 4)"):
        rnn_layer(gx, gh0, g_ih, g_hh[:5], None, None)
    with _shape_error("h0 must have shape (batch, hidden) = (2, 5)"):
        gru_layer(gx, gh0[:, :2], g_ih, g_hh, gb_ih, gb_hh)
    with pytest.raises(ValueError, match="nonlinearity 'sigmoid'"):
        rnn_layer(gx, gh0, g_ih[:5], g_hh[:5, :5], nonlinearity="sigmoid")


def test_integer_input_is_a_dtype_error() -> None:
    arrays = _arrays("rnn_tanh", 2, 2, 3, 4)
    x = cr.tensor(np.ones((2, 2, 3), dtype=np.int64))
    with pytest.raises(cr.DTypeError, match="rnn_layer"):
        rnn_layer(cr.tensor(np.ones((2, 2, 3), dtype=np.int64)), None,
                  np.ones((4, 3), np.int64), np.ones((4, 4), np.int64))  # fmt: skip
    assert rnn_layer(x, *[cr.tensor(a) for a in arrays[1:]])[0].dtype == np.float64


def test_in_place_write_to_output_is_caught() -> None:
    arrays = _arrays("lstm", 3, 2, 2, 3)
    ts = [cr.tensor(a, requires_grad=True) for a in arrays]
    out, _, _ = lstm_layer(*ts)
    loss = out.sum()
    with cr.no_grad():
        out += 1.0
    with pytest.raises(cr.GraphError, match="lstm_layer"):
        loss.backward()


def test_one_graph_node_per_layer() -> None:
    from chainrule.autodiff.inspect import walk_nodes

    arrays = _arrays("lstm", 50, 2, 2, 3)
    _, h, _ = lstm_layer(*[cr.tensor(a, requires_grad=True) for a in arrays])
    assert [n.name for n in walk_nodes(h)] == ["lstm_layer"]
