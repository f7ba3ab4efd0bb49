"""Normalisation, embedding, maxout and attention ops: the NORM_OPS oracle table through
the same generic checks as tests/test_oracle.py, plus the behaviour the table cannot
express (running statistics over several steps, evaluation mode, masks, errors)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.inspect import walk_nodes
from chainrule.autograd.function import Op
from chainrule.ops import attention as attn_ops
from chainrule.ops import norm as norm_ops
from chainrule.ops.attention import multi_head_attention_forward, scaled_dot_product_attention
from chainrule.ops.norm import batch_norm, embedding, layer_norm, maxout, normalize
from chainrule.testing import oracle
from chainrule.testing.oracle import (
    OpInfo,
    Sample,
    check_fwd_rev,
    check_gradcheck,
    check_gradgrad,
    check_reference,
    check_torch,
)
from chainrule.testing.oracle_norm import NORM_OPS, get_norm_op


def _cases(keep: Callable[[OpInfo], bool] = lambda op: True) -> list:
    return [
        pytest.param(op, sample, id=f"{op.name}-{k}")
        for op in NORM_OPS
        if keep(op)
        for k, sample in enumerate(op.samples())
    ]


# ---- the table, case by case ------------------------------------------------------------


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_gradcheck))
def test_gradcheck(op: OpInfo, sample: Sample) -> None:
    assert check_gradcheck(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.supports_fwd))
def test_forward_vs_reverse_jacobian(op: OpInfo, sample: Sample) -> None:
    assert check_fwd_rev(op, sample) is not None


@pytest.mark.parametrize(
    ("op", "sample"), _cases(lambda op: op.supports_double and op.supports_gradcheck)
)
def test_double_backward(op: OpInfo, sample: Sample) -> None:
    assert check_gradgrad(op, sample) is not None


@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.ref_fn is not None))
def test_forward_vs_numpy(op: OpInfo, sample: Sample) -> None:
    assert check_reference(op, sample) is not None


@pytest.mark.torch
@pytest.mark.parametrize(("op", "sample"), _cases(lambda op: op.torch_fn is not None))
def test_vs_torch(op: OpInfo, sample: Sample) -> None:
    pytest.importorskip("torch")
    assert check_torch(op, sample) is not None


def test_every_norm_op_class_is_exercised() -> None:
    """Each Op class of ops/norm.py and ops/attention.py is recorded by a table sample."""
    classes = {
        c
        for mod in (norm_ops, attn_ops)
        for c in vars(mod).values()
        if isinstance(c, type)
        and issubclass(c, Op)
        and c.__module__ == mod.__name__
        and not c.__name__.startswith("_")
    }
    assert classes  # BatchNorm, LayerNorm
    seen: set[type] = set()
    for op in NORM_OPS:
        for sample in op.samples():
            f, xs = oracle.bind(op, sample)
            out = f(*[cr.tensor(x, requires_grad=True) for x in xs])
            for o in out if isinstance(out, tuple) else (out,):
                seen |= {node.fn for node in walk_nodes(o)}
    assert not {c.__name__ for c in classes - seen}


def test_table_functions_are_pure() -> None:
    """The training batch_norm entry updates copies, never the sample's running arrays."""
    op = get_norm_op("batch_norm_train")
    sample = op.samples()[0]
    before = [a.copy() for a in sample.kwargs["running"]]
    f, xs = oracle.bind(op, sample)
    first = f(*[cr.tensor(x) for x in xs]).numpy()
    second = f(*[cr.tensor(x) for x in xs]).numpy()
    np.testing.assert_array_equal(first, second)
    for a, b in zip(sample.kwargs["running"], before):
        np.testing.assert_array_equal(a, b)


# ---- batch norm: running statistics and evaluation mode ----------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_running_stats_follow_torch_over_steps(shape: tuple, dtype: type) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    c = shape[1]
    rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    for step in range(5):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        momentum = 0.1 if step < 3 else 0.5
        y = batch_norm(x, rm, rv, w, b, training=True, momentum=momentum)
        ty = torch.nn.functional.batch_norm(
            torch.from_numpy(x),
            trm,
            trv,
            torch.from_numpy(w),
            torch.from_numpy(b),
            training=True,
            momentum=momentum,
        )
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(rm, trm.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(rv, trv.numpy(), rtol=tol, atol=tol)
        assert y.dtype == dtype and rm.dtype == dtype and rv.dtype == dtype
    # evaluation with the accumulated statistics
    x = rng.standard_normal(shape).astype(dtype)
    y = batch_norm(x, rm, rv, w, b, training=False)
    ty = torch.nn.functional.batch_norm(
        torch.from_numpy(x), trm, trv, torch.from_numpy(w), torch.from_numpy(b), training=False
    )
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


def test_running_stats_as_tensors_update_in_place() -> None:
    rm, rv = cr.zeros(2), cr.ones(2)
    data_m, version = rm.data, rm._version[0]
    x = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    batch_norm(x, rm, rv, training=True, momentum=0.5)
    assert rm.data is data_m and rm._version[0] == version + 1
    np.testing.assert_allclose(rm.numpy(), [1.0, 2.0])  # 0.5 * 0 + 0.5 * mean
    np.testing.assert_allclose(rv.numpy(), [0.5 + 0.5 * 2.0, 0.5 + 0.5 * 8.0])  # unbiased var


def test_eval_uses_running_stats_and_leaves_them() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 2))
    rm, rv = rng.standard_normal(3), 0.5 + rng.random(3)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm0, rv0 = rm.copy(), rv.copy()
    xt = cr.tensor(x, requires_grad=True)
    y = batch_norm(xt, rm, rv, w, b, training=False, eps=1e-3)
    inv = 1 / np.sqrt(rv + 1e-3)
    expected = (x - rm[:, None]) * (inv * w)[:, None] + b[:, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    y.sum().backward()  # an affine map of x: the gradient is the per-channel scale
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to((inv * w)[:, None], x.shape))
    # a batch of one is fine in evaluation mode
    assert batch_norm(x[:1, :, :1], rm, rv, training=False).shape == (1, 3, 1)


def test_training_normalises_each_channel() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4, 3, 3)) * 5 + 3
    y = batch_norm(x, None, None, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)


@pytest.mark.torch
def test_batch_norm_float32_large_offset_is_stable() -> None:
    """Statistics are taken around the mean (two passes), so a large common offset does
    not wash out the signal in float32."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 4)) + 1e4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xt = cr.tensor(x, requires_grad=True)
    y = batch_norm(xt, None, None, training=True)
    y.backward(g)
    tx = torch.from_numpy(x).double().requires_grad_(True)
    ty = torch.nn.functional.batch_norm(tx, None, None, training=True)
    ty.backward(torch.from_numpy(g).double())
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=2e-3)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), atol=2e-3)


@pytest.mark.torch
@pytest.mark.parametrize("which", ["batch_norm", "layer_norm"])
def test_second_derivatives_match_torch(which: str) -> None:
    """grad of (grad . v) through the fused backward (create_graph=True) equals torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    v = rng.standard_normal((4, 3))

    def cr_f(x: cr.Tensor, w: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        if which == "batch_norm":
            return batch_norm(x, None, None, w, b, training=True)
        return layer_norm(x, 3, w, b)

    def t_f(x, w, b):
        if which == "batch_norm":
            return torch.nn.functional.batch_norm(x, None, None, w, b, training=True)
        return torch.nn.functional.layer_norm(x, (3,), w, b)

    xs = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = cr_f(*xs)
    (y * cr.tensor(np.sin(x))).sum().backward(create_graph=True)
    gsum = sum((t.grad * cr.tensor(vv)).sum() for t, vv in zip(xs, (v, v[0], v[1])))
    gx, gw, gb = (g.numpy() for g in _grads(gsum, xs))
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = t_f(*ts)
    tg = torch.autograd.grad((ty * torch.sin(torch.tensor(x))).sum(), ts, create_graph=True)
    tsum = sum((g * torch.tensor(vv)).sum() for g, vv in zip(tg, (v, v[0], v[1])))
    tgx, tgw, tgb = torch.autograd.grad(tsum, ts, allow_unused=True)
    np.testing.assert_allclose(gx, tgx.numpy(), atol=1e-10)
    np.testing.assert_allclose(gw, tgw.numpy(), atol=1e-10)
    assert tgb is None or np.allclose(gb, tgb.numpy())


def _grads(out: cr.Tensor, xs: list) -> list:
    for t in xs:
        t.grad = None
    out.backward()
    return [t.grad if t.grad is not None else cr.zeros_like(t) for t in xs]


# ---- embedding, normalize, maxout --------------------------------------------------------


def test_embedding_accumulates_repeated_rows() -> None:
    w = cr.tensor(np.arange(8.0).reshape(4, 2), requires_grad=True)
    idx = np.array([[1, 3, 1], [1, 0, 3]])
    out = embedding(idx, w)
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [3, 3], [0, 0], [2, 2]])
    assert embedding(cr.tensor(np.array([2])), w).shape == (1, 2)  # a Tensor of indices
    assert embedding([0, 0], w).shape == (2, 2)  # a list


@pytest.mark.torch
def test_normalize_all_zero_slice_has_finite_gradient() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    g = np.array([[1.0, -1.0, 0.5], [0.3, 0.2, -0.1]])
    for p in (1, 2):
        xt = cr.tensor(x, requires_grad=True)
        y = normalize(xt, p=p, axis=1)
        y.backward(g)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.normalize(tx, p=p, dim=1)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy())
        assert np.isfinite(xt.grad.numpy()).all()


def test_normalize_rows_have_unit_norm() -> None:
    x = np.random.default_rng(5).standard_normal((4, 6))
    np.testing.assert_allclose(np.linalg.norm(normalize(x).numpy(), axis=1), 1.0)
    np.testing.assert_allclose(np.abs(normalize(x, p=1).numpy()).sum(axis=1), 1.0)
    np.testing.assert_allclose(
        normalize(x, p=float("inf")).numpy(), x / np.abs(x).max(axis=1, keepdims=True)
    )


def test_maxout_gradient_goes_to_first_max() -> None:
    x = cr.tensor(np.array([[1.0, 3.0, 3.0, 0.0, -1.0, -1.0]]), requires_grad=True)
    y = maxout(x, 3)
    np.testing.assert_array_equal(y.numpy(), [[3.0, 0.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0, 1, 0, 0]])


# ---- masks ------------------------------------------------------------------------------


def _qkv(rng: np.random.Generator, lead: tuple = (2,), n_q: int = 3, n_k: int = 4) -> tuple:
    return tuple(rng.standard_normal((*lead, n, 4)) for n in (n_q, n_k, n_k))


def test_bool_mask_equals_float_minus_inf_mask() -> None:
    rng = np.random.default_rng(6)
    q, k, v = _qkv(rng)
    mask = rng.random((3, 4)) < 0.4
    mask[:, 0] = False
    a = scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy()
    b = scaled_dot_product_attention(q, k, v, attn_mask=np.where(mask, -np.inf, 0.0)).numpy()
    np.testing.assert_allclose(a, b)


def test_masked_keys_do_not_matter() -> None:
    """Keys hidden by key_padding_mask have zero weight: changing them changes nothing,
    and no gradient reaches them."""
    rng = np.random.default_rng(7)
    q, k, v = _qkv(rng)
    kpm = np.array([[False, False, True, True], [False, True, False, True]])
    out, w = scaled_dot_product_attention(q, k, v, key_padding_mask=kpm, return_weights=True)
    np.testing.assert_array_equal(w.numpy()[np.broadcast_to(kpm[:, None, :], w.shape)], 0.0)
    k2, v2 = k.copy(), v.copy()
    k2[kpm] += 10.0
    v2[kpm] -= 5.0
    out2 = scaled_dot_product_attention(q, k2, v2, key_padding_mask=kpm)
    np.testing.assert_allclose(out.numpy(), out2.numpy())
    kt, vt = cr.tensor(k, requires_grad=True), cr.tensor(v, requires_grad=True)
    scaled_dot_product_attention(q, kt, vt, key_padding_mask=kpm).sum().backward()
    assert (kt.grad.numpy()[kpm] == 0).all() and (vt.grad.numpy()[kpm] == 0).all()


@pytest.mark.torch
def test_sdpa_matches_torch_with_inverted_bool_mask() -> None:
    """torch's F.scaled_dot_product_attention reads bool masks as 'may attend'; ours as
    'masked out' (MultiheadAttention's convention)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    q, k, v = _qkv(rng, lead=(2, 2))
    mask = rng.random((3, 4)) < 0.5
    mask[:, 1] = False
    ours = scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy()
    theirs = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(~mask)
    )
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-12)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fully_masked_row_is_nan_like_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    e, h = 4, 2
    q = rng.standard_normal((3, 2, e))
    w_in, b_in = rng.standard_normal((3 * e, e)), rng.standard_normal(3 * e)
    w_out, b_out = rng.standard_normal((e, e)), rng.standard_normal(e)
    kpm = np.array([[True, True, True], [False, False, True]])
    out, w = multi_head_attention_forward(
        q, q, q, h, w_in, b_in, w_out, b_out, key_padding_mask=kpm
    )
    tq = torch.tensor(q)
    t_out, t_w = torch.nn.functional.multi_head_attention_forward(
        tq,
        tq,
        tq,
        e,
        h,
        torch.tensor(w_in),
        torch.tensor(b_in),
        None,
        None,
        False,
        0.0,
        torch.tensor(w_out),
        torch.tensor(b_out),
        training=False,
        key_padding_mask=torch.tensor(kpm),
    )
    np.testing.assert_array_equal(np.isnan(out.numpy()), np.isnan(t_out.numpy()))
    np.testing.assert_array_equal(np.isnan(w.numpy()), np.isnan(t_w.numpy()))
    assert np.isnan(out.numpy()[:, 0]).all() and not np.isnan(out.numpy()[:, 1]).any()
    np.testing.assert_allclose(out.numpy()[:, 1], t_out.numpy()[:, 1], atol=1e-12)


def test_mha_weights_rows_sum_to_one_and_need_weights() -> None:
    rng = np.random.default_rng(10)
    e, h = 6, 3
    q, kv = rng.standard_normal((2, 5, e)), rng.standard_normal((2, 4, e))
    w_in, w_out = rng.standard_normal((3 * e, e)), rng.standard_normal((e, e))
    out, w = multi_head_attention_forward(q, kv, kv, h, w_in, None, w_out, None, batch_first=True)
    assert out.shape == (2, 5, e) and w.shape == (2, 5, 4)
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0)
    _, none = multi_head_attention_forward(
        q, kv, kv, h, w_in, None, w_out, None, batch_first=True, need_weights=False
    )
    assert none is None
    _, per_head = multi_head_attention_forward(
        q, kv, kv, h, w_in, None, w_out, None, batch_first=True, average_attn_weights=False
    )
    assert per_head.shape == (2, h, 5, 4)
    np.testing.assert_allclose(per_head.numpy().mean(1), w.numpy())


def test_float32_stays_float32() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert batch_norm(x, None, None, training=True).dtype == np.float32
    assert layer_norm(x, 3).dtype == np.float32
    assert normalize(x).dtype == np.float32
    w32 = rng.standard_normal((9, 3)).astype(np.float32)
    mask = np.zeros((4, 4))  # a float64 additive mask does not widen float32 scores
    out, w = multi_head_attention_forward(
        x[:, None], x[:, None], x[:, None], 3, w32, None, w32[:3], None, attn_mask=mask
    )
    assert out.dtype == np.float32 and w.dtype == np.float32


# ---- errors ------------------------------------------------------------------------------


def test_batch_norm_errors_name_shapes() -> None:
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(cr.ShapeError, match=r"weight has shape \(4,\), expected \(3,\).*\(4, 3\)"):
        batch_norm(x, None, None, np.ones(4, np.float32), training=True)
    with pytest.raises(cr.ShapeError, match=r"running_mean has shape \(2,\)"):
        batch_norm(x, np.zeros(2), np.ones(3), training=True)
    with pytest.raises(cr.ShapeError, match=r"\(N, C, \*\).*\(3,\)"):
        batch_norm(np.zeros(3), None, None, training=True)
    with pytest.raises(cr.ShapeError, match="more than 1 value per channel"):
        batch_norm(np.zeros((1, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="evaluation mode"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(cr.DTypeError):
        batch_norm(np.zeros((4, 3), dtype=np.int64), None, None, training=True)


def test_layer_norm_errors_name_shapes() -> None:
    with pytest.raises(cr.ShapeError, match=r"\(2, 3, 4\) does not end with.*\(3,\)"):
        layer_norm(np.zeros((2, 3, 4)), 3)
    with pytest.raises(cr.ShapeError, match=r"weight has shape \(4,\), expected \(3, 4\)"):
        layer_norm(np.zeros((2, 3, 4)), (3, 4), np.ones(4))


def test_embedding_errors() -> None:
    w = np.zeros((5, 2))
    with pytest.raises(cr.IndexingError, match=r"index 7 .* table of 5 embeddings"):
        embedding(np.array([0, 7, 2]), w)
    with pytest.raises(cr.IndexingError, match=r"index -1 .*0\.\.4"):
        embedding(np.array([-1]), w)
    with pytest.raises(IndexError):  # the built-in class too
        embedding(np.array([5]), w)
    with pytest.raises(cr.DTypeError, match="integers"):
        embedding(np.array([0.0, 1.0]), w)
    with pytest.raises(cr.ShapeError, match=r"\(num_embeddings, dim\).*\(5,\)"):
        embedding(np.array([0]), np.zeros(5))


def test_maxout_and_normalize_errors() -> None:
    with pytest.raises(cr.ShapeError, match=r"\(2, 7\) is not divisible by pieces=3"):
        maxout(np.zeros((2, 7)), 3)
    with pytest.raises(ValueError, match="pieces"):
        maxout(np.zeros((2, 6)), 0)
    with pytest.raises(cr.ShapeError, match="axis 2 is out of range"):
        normalize(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="positive"):
        normalize(np.zeros((2, 3)), p=0)


def test_attention_errors_name_shapes() -> None:
    rng = np.random.default_rng(12)
    q, k, v = _qkv(rng)
    with pytest.raises(cr.ShapeError, match=r"q \(2, 3, 4\), k \(2, 4, 3\)"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(cr.ShapeError, match=r"attn_mask of shape \(3, 5\).*\(2, 3, 4\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.zeros((3, 5), bool))
    with pytest.raises(cr.ShapeError, match=r"key_padding_mask of shape \(3, 4\)"):
        scaled_dot_product_attention(q, k, v, key_padding_mask=np.zeros((3, 4), bool))
    e = 4
    x = rng.standard_normal((3, 2, e))
    w_in, w_out = np.zeros((3 * e, e)), np.zeros((e, e))
    with pytest.raises(cr.ShapeError, match="embed_dim 4 is not divisible by num_heads 3"):
        multi_head_attention_forward(x, x, x, 3, w_in, None, w_out, None)
    with pytest.raises(cr.ShapeError, match=r"in_proj_weight has shape \(12, 5\)"):
        multi_head_attention_forward(x, x, x, 2, np.zeros((12, 5)), None, w_out, None)
    with pytest.raises(cr.ShapeError, match=r"key \(3, 1, 4\)"):
        multi_head_attention_forward(x, x[:, :1], x[:, :1], 2, w_in, None, w_out, None)
    with pytest.raises(cr.ShapeError, match=r"attn_mask has shape \(2, 2\), expected \(3, 3\)"):
        multi_head_attention_forward(
            x, x, x, 2, w_in, None, w_out, None, attn_mask=np.zeros((2, 2), bool)
        )
    with pytest.raises(cr.ShapeError, match=r"key_padding_mask of shape \(2, 2\)"):
        multi_head_attention_forward(
            x, x, x, 2, w_in, None, w_out, None, key_padding_mask=np.zeros((2, 2), bool)
        )
