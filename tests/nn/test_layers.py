"""Normalisation, embedding, dropout, maxout, normalize and attention modules against the
torch modules with the same weights copied across, in train and eval mode (plus the reprs
of the pooling modules)."""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.conv import AvgPool2d, MaxPool2d
from chainrule.nn.layers import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Dropout,
    Embedding,
    EmbeddingBag,
    LayerNorm,
    Maxout,
    Normalize,
)

from ._helpers import rand

TOL = {"rtol": 1e-10, "atol": 1e-10}  # float64 on both sides


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _copy_into_torch(ours: Any, theirs: Any) -> None:
    """Copy every parameter and buffer of ``ours`` into the same-named one of ``theirs``
    (the names must be exactly torch's)."""
    import torch

    ours_state = {n: p for n, p in ours.named_parameters()} | dict(ours.named_buffers())
    t_state = theirs.state_dict()
    assert set(ours_state) == set(t_state), (sorted(ours_state), sorted(t_state))
    with torch.no_grad():
        for name, t in t_state.items():
            t.copy_(torch.from_numpy(np.array(ours_state[name].numpy())))


def _run_both(ours: Any, theirs: Any, *inputs: np.ndarray, kwargs: dict | None = None,
              grad_inputs: bool = True) -> None:  # fmt: skip
    """One forward and backward (random cotangent) through both modules; outputs, input
    gradients (our modular backward) and parameter gradients must agree, and so must
    every buffer afterwards."""
    import torch

    kwargs = kwargs or {}
    theirs.zero_grad()
    xs = [cr.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f") for x in inputs]
    txs = [torch.tensor(x, requires_grad=grad_inputs and x.dtype.kind == "f") for x in inputs]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out, t_out = ours(*xs, **kwargs), theirs(*txs, **tkw)
    outs = out if isinstance(out, tuple) else (out,)
    t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
    rng = _rng(99)
    cts = [rng.standard_normal(o.shape) for o in outs]
    for o, t in zip(outs, t_outs):
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), **TOL)
    t_roots = [(t, torch.tensor(c)) for t, c in zip(t_outs, cts) if t.requires_grad]
    torch.autograd.backward([t for t, _ in t_roots], [c for _, c in t_roots])
    ours.zero_grad()
    grads_in = ours.backward(tuple(cts) if isinstance(out, tuple) else cts[0])
    grads_in = grads_in if isinstance(grads_in, tuple) else (grads_in,)
    if grad_inputs:
        for g, tx in zip(grads_in, txs):
            if tx.requires_grad:
                np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), **TOL)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        tg = t_params[name].grad
        want = np.zeros(p.shape) if tg is None else tg.numpy()
        got = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        np.testing.assert_allclose(got, want, err_msg=name, **TOL)
    t_bufs = dict(theirs.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), t_bufs[name].numpy(), err_msg=name, **TOL)


# ---- batch norm ------------------------------------------------------------------------------

BN_CASES = [
    (BatchNorm1d, "BatchNorm1d", (6, 3)),
    (BatchNorm1d, "BatchNorm1d", (4, 3, 5)),
    (BatchNorm2d, "BatchNorm2d", (3, 3, 2, 4)),
    (BatchNorm3d, "BatchNorm3d", (2, 3, 2, 3, 2)),
]


@pytest.mark.torch
@pytest.mark.parametrize(("cls", "tname", "shape"), BN_CASES)
@pytest.mark.parametrize(
    "kw",
    [{}, {"affine": False}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3},
     {"track_running_stats": False}],
)  # fmt: skip
def test_batch_norm_matches_torch_train_then_eval(cls: type, tname: str, shape: tuple,
                                                  kw: dict) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    ours = cls(shape[1], **kw).double()
    theirs = getattr(torch.nn, tname)(shape[1], **kw).double()
    if ours.weight is not None:  # non-trivial affine parameters
        ours.weight.data[...] = _rng(1).standard_normal(shape[1])
        ours.bias.data[...] = _rng(2).standard_normal(shape[1])
    _copy_into_torch(ours, theirs)
    rng = _rng(3)
    for step in range(3):  # running statistics over several steps
        _run_both(ours, theirs, rng.standard_normal(shape) * (step + 1) + step)
    if ours.track_running_stats:
        assert int(ours.num_batches_tracked.item()) == 3
    ours.eval()
    theirs.eval()
    _run_both(ours, theirs, rng.standard_normal(shape))


def test_batch_norm_layout_defaults_and_repr() -> None:
    bn = BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == [
        "running_mean", "running_var", "num_batches_tracked",
    ]  # fmt: skip
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4, np.float32))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(4, np.float32))
    assert bn.running_mean.dtype == np.float32 and bn.num_batches_tracked.dtype == np.int64
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"}  # fmt: skip
    assert "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True" in repr(bn)
    bn(rand(2, 4, 3, 3))
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and bn.running_mean.numpy().sum() == 0
    plain = BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(plain.parameters()) == [] and list(plain.buffers()) == []


def test_batch_norm_eval_uses_running_stats_and_modular_backward() -> None:
    bn = BatchNorm1d(3)
    bn.running_mean.data[...] = [1.0, -1.0, 0.5]
    bn.running_var.data[...] = [4.0, 1.0, 0.25]
    bn.eval()
    x = rand(5, 3, requires_grad=True)
    y = bn(x)
    want = (x.numpy() - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5)
    dx = bn.backward(np.ones((5, 3), np.float32))
    np.testing.assert_allclose(dx.numpy(), np.broadcast_to(1 / np.sqrt([4.0, 1.0, 0.25]), (5, 3)),
                               rtol=1e-4)  # fmt: skip
    assert bn.num_batches_tracked.item() == 0  # eval does not count batches


def test_batch_norm_shape_errors() -> None:
    with pytest.raises(cr.ShapeError, match=r"BatchNorm1d\(3\): input of shape \(4, 5\) has 5"):
        BatchNorm1d(3)(rand(4, 5))
    with pytest.raises(cr.ShapeError, match=r"\(N, C, H, W\), got \(4, 3\)"):
        BatchNorm2d(3)(rand(4, 3))
    with pytest.raises(cr.ShapeError, match=r"\(N, C\) or \(N, C, L\)"):
        BatchNorm1d(3)(rand(4, 3, 2, 2))
    with pytest.raises(cr.ShapeError, match="more than 1 value per channel"):
        BatchNorm1d(3)(rand(1, 3))


# ---- layer norm, embedding, normalize, maxout ------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    ("ns", "shape", "kw"),
    [(4, (3, 4), {}), ((3, 4), (2, 3, 4), {}), (4, (2, 3, 4), {"elementwise_affine": False}),
     ((2, 3), (2, 2, 3), {"bias": False, "eps": 1e-3})],
)  # fmt: skip
def test_layer_norm_matches_torch(ns: Any, shape: tuple, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    ours = LayerNorm(ns, **kw).double()
    theirs = torch.nn.LayerNorm(ns, **kw).double()
    for i, p in enumerate(ours.parameters()):
        p.data[...] = _rng(i).standard_normal(p.shape)
    _copy_into_torch(ours, theirs)
    _run_both(ours, theirs, _rng(5).standard_normal(shape) + 2)
    ours.eval()
    theirs.eval()
    _run_both(ours, theirs, _rng(6).standard_normal(shape))


@pytest.mark.torch
@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding_matches_torch(padding_idx: int | None) -> None:
    torch = pytest.importorskip("torch")
    ours = Embedding(5, 3, padding_idx=padding_idx).double()
    theirs = torch.nn.Embedding(5, 3, padding_idx=padding_idx).double()
    _copy_into_torch(ours, theirs)
    idx = np.array([[0, 1, 1], [4, 1, 0]])
    _run_both(ours, theirs, idx)
    if padding_idx is not None:
        assert (ours.weight.grad.numpy()[padding_idx] == 0).all()


def test_embedding_init_and_errors() -> None:
    cr.manual_seed(0)
    emb = Embedding(200, 50, padding_idx=-1)
    w = emb.weight.numpy()
    assert emb.padding_idx == 199 and (w[199] == 0).all()
    assert abs(w[:199].std() - 1) < 0.05 and abs(w[:199].mean()) < 0.05  # N(0, 1)
    assert repr(emb).startswith("Embedding(200, 50, padding_idx=199)")
    with pytest.raises(cr.IndexingError, match="index 200 is out of range for a table of 200"):
        emb(np.array([3, 200]))
    frozen = Embedding.from_pretrained(np.eye(3, dtype=np.float32))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([2])).numpy(), [[0, 0, 1]])


_BAG_IDX, _BAG_OFF = np.array([1, 4, 4, 0, 2, 2, 1, 3]), np.array([0, 3, 3, 6])


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("opts", [{}, {"padding_idx": 2}, {"include_last_offset": True},
                                  {"padding_idx": -1, "include_last_offset": True}])  # fmt: skip
def test_embedding_bag_matches_torch(mode: str, opts: dict) -> None:
    torch = pytest.importorskip("torch")
    ours = EmbeddingBag(5, 3, mode=mode, **opts).double()
    theirs = torch.nn.EmbeddingBag(5, 3, mode=mode, **opts).double()
    _copy_into_torch(ours, theirs)
    off = np.append(_BAG_OFF, len(_BAG_IDX)) if opts.get("include_last_offset") else _BAG_OFF
    _run_both(ours, theirs, _BAG_IDX, off)  # an empty bag, repeated indices
    _run_both(ours, theirs, np.array([[0, 2, 2], [4, 1, 0]]))  # 2-D: bags of 3
    if mode == "sum":  # per-sample weights, differentiated
        _run_both(ours, theirs, _BAG_IDX, off, _rng(4).standard_normal(8))
    if "padding_idx" in opts:
        assert (ours.weight.grad.numpy()[ours.padding_idx] == 0).all()


def test_embedding_bag_shapes_init_padding_and_errors() -> None:
    cr.manual_seed(0)
    bag = EmbeddingBag(200, 50, padding_idx=-1)
    w = bag.weight.numpy()
    assert bag.padding_idx == 199 and (w[199] == 0).all() and w.dtype == np.float32
    assert abs(w[:199].std() - 1) < 0.05 and abs(w[:199].mean()) < 0.05  # N(0, 1)
    assert repr(bag).startswith("EmbeddingBag(200, 50, mode='mean', padding_idx=199)")
    assert [n for n, _ in bag.named_parameters()] == ["weight"]
    assert bag(np.array([[0, 1, 2], [3, 4, 5]])).shape == (2, 50)
    out = bag(np.array([3, 199, 199, 5]), np.array([0, 1, 1, 3]))  # empty, all padding
    assert out.shape == (4, 50)
    np.testing.assert_array_equal(out.numpy()[1:3], 0)
    np.testing.assert_allclose(out.numpy()[[0, 3]], w[[3, 5]])
    ilo = EmbeddingBag(5, 2, mode="sum", include_last_offset=True)
    assert ilo(np.array([0, 1, 2]), np.array([0, 1, 3])).shape == (2, 2)
    assert "include_last_offset=True" in repr(ilo)
    table = np.arange(6.0).reshape(3, 2)
    frozen = EmbeddingBag.from_pretrained(table, mode="max")
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([[0, 2]])).numpy(), [[4, 5]])
    given = EmbeddingBag(3, 2, _weight=table, mode="sum", padding_idx=0)  # used as is
    np.testing.assert_array_equal(given.weight.numpy(), table)
    with pytest.raises(cr.IndexingError, match="index 5 is out of range for a table of 3"):
        given(np.array([[1, 5]]))
    bad = [({"mode": "avg"}, "mode must be 'sum', 'mean' or 'max', got 'avg'"),
           ({"max_norm": 0.0}, "max_norm must be None or a positive number, got 0.0"),
           ({"scale_grad_by_freq": True}, "scale_grad_by_freq=True is not supported"),
           ({"sparse": True}, "sparse=True is not supported"),
           ({"padding_idx": 3}, "padding_idx 3 must be within \\[-3, 2\\]")]  # fmt: skip
    for kw, words in bad:
        with pytest.raises(cr.nn.functional.ArgumentError, match=f"EmbeddingBag: {words}"):
            EmbeddingBag(3, 2, **kw)
    with pytest.raises(cr.ShapeError, match=r"_weight must have shape \(3, 2\).*\(2, 3\)"):
        EmbeddingBag(3, 2, _weight=np.zeros((2, 3)))
    with pytest.raises(cr.nn.ModuleTypeError, match="EmbeddingBag: embedding_dim"):
        EmbeddingBag(3, 2.0)


@pytest.mark.torch
def test_triplet_margin_with_distance_loss_matches_torch_with_a_module_distance() -> None:
    torch = pytest.importorskip("torch")
    rng = _rng(7)
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    ours = cr.nn.TripletMarginWithDistanceLoss(
        distance_function=cr.nn.PairwiseDistance(p=1.0), margin=0.5, swap=True, reduction="none"
    )
    theirs = torch.nn.TripletMarginWithDistanceLoss(
        distance_function=torch.nn.PairwiseDistance(p=1.0), margin=0.5, swap=True,
        reduction="none")  # fmt: skip
    xs = [cr.tensor(x, requires_grad=True) for x in (a, p, n)]
    txs = [torch.tensor(x, requires_grad=True) for x in (a, p, n)]
    y, ty = ours(*xs), theirs(*txs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
    y.sum().backward()
    ty.sum().backward()
    for x, tx in zip(xs, txs):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **TOL)
    assert "reduction='none'" in repr(ours)


@pytest.mark.torch
@pytest.mark.parametrize("p", [1, 2])
def test_normalize_matches_torch(p: int) -> None:
    torch = pytest.importorskip("torch")
    x = _rng(7).standard_normal((4, 5))
    m = Normalize(p=p)
    xt = cr.tensor(x, requires_grad=True)
    y = m(xt)
    g = _rng(8).standard_normal(x.shape)
    dx = m.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.normalize(tx, p=p, dim=1)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx.numpy(), tx.grad.numpy(), **TOL)
    assert repr(Normalize(p=1, axis=-1)).startswith("Normalize(p=1, axis=-1, eps=1e-12)")


@pytest.mark.torch
def test_maxout_matches_torch_composition() -> None:
    torch = pytest.importorskip("torch")
    ours = Maxout(4, 3, pieces=2).double()
    assert ours.linear.weight.shape == (6, 4)
    lin = torch.nn.Linear(4, 6).double()

    class TorchMaxout(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = lin

        def forward(self, x: Any) -> Any:
            return self.linear(x).reshape(*x.shape[:-1], 3, 2).max(dim=-1).values

    theirs = TorchMaxout()
    _copy_into_torch(ours, theirs)
    _run_both(ours, theirs, _rng(9).standard_normal((5, 4)))
    _run_both(ours, theirs, _rng(10).standard_normal((2, 3, 4)))
    assert "pieces=2" in repr(ours)


# ---- dropout --------------------------------------------------------------------------------


def test_dropout_train_and_eval() -> None:
    cr.manual_seed(0)
    d = Dropout(0.25)
    x = cr.tensor(np.ones((200, 100), np.float32), requires_grad=True)
    y = d(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    dx = d.backward(np.ones_like(y)).numpy()
    np.testing.assert_array_equal(dx != 0, kept)  # the same mask in backward
    d.eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())
    assert repr(d).startswith("Dropout(p=0.25)")
    with pytest.raises(ValueError, match="probability"):
        Dropout(1.5)


# ---- pooling reprs --------------------------------------------------------------------------


def test_pool_repr_shows_every_argument() -> None:
    """Regression: the reprs dropped padding (and dilation / count_include_pad), so
    ``AvgPool2d(3, stride=2, padding=1)`` printed as ``AvgPool2d(kernel_size=3, stride=2)``.
    Like PyTorch's, they now list every argument, with stride None shown as kernel_size."""
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)"
    assert (
        repr(MaxPool2d(3, stride=2, padding=1, dilation=2))
        == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2)"
    )
    assert (
        repr(AvgPool2d(3, stride=2, padding=1))
        == "AvgPool2d(kernel_size=3, stride=2, padding=1, count_include_pad=True)"
    )
    assert (
        repr(AvgPool2d((2, 3), padding=(1, 0), count_include_pad=False))
        == "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=(1, 0), count_include_pad=False)"
    )

    assert (
        repr(MaxPool2d(2, ceil_mode=True))
        == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=True)"
    )
    assert repr(AvgPool2d(2, ceil_mode=True, divisor_override=3)).endswith(
        "count_include_pad=True, ceil_mode=True, divisor_override=3)"
    )


def test_padding_modes_pad_as_named_and_check_the_size() -> None:
    x = cr.tensor(np.arange(4.0).reshape(1, 1, 4))
    for mode, left in [("reflect", [2, 1]), ("replicate", [0, 0]), ("circular", [2, 3])]:
        m = cr.nn.Conv1d(1, 1, 1, padding=2, padding_mode=mode, bias=False).double()
        m.weight.data[...] = 1
        np.testing.assert_array_equal(m(x).numpy()[0, 0, :2], left)
    assert "padding_mode='circular'" in repr(m)
    with pytest.raises(cr.ShapeError, match=r"reflect.*less than the input size.*\(1, 1, 4\)"):
        cr.nn.Conv1d(1, 1, 1, padding=4, padding_mode="reflect")(x)
    with pytest.raises(cr.ShapeError, match="circular"):
        cr.nn.Conv1d(1, 1, 1, padding=5, padding_mode="circular")(x)


def test_ceil_mode_adds_the_partial_last_window() -> None:
    x = cr.tensor(np.arange(25.0).reshape(1, 1, 5, 5))
    assert MaxPool2d(2)(x).shape == (1, 1, 2, 2)
    y = MaxPool2d(2, ceil_mode=True)(x)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    # the last window holds 2 (then 1) elements, and averages only those
    z = AvgPool2d(2, ceil_mode=True)(x).numpy()[0, 0]
    np.testing.assert_allclose(z[2], [20.5, 22.5, 24])
    # a window may not start in the right padding: 3 windows, not 4, as PyTorch
    assert MaxPool2d(2, stride=2, padding=1, ceil_mode=True)(
        cr.tensor(np.zeros((1, 1, 4, 4)))
    ).shape == (1, 1, 3, 3)
    with pytest.raises(cr.ChainruleError, match="divisor_override"):
        cr.nn.functional.avg_pool2d(x, 2, divisor_override=1.5)


# ---- multi-head attention -------------------------------------------------------------------


def _t_mha(ours: MultiheadAttention, **kw: Any) -> Any:
    import torch

    theirs = torch.nn.MultiheadAttention(ours.embed_dim, ours.num_heads, **kw).double()
    _copy_into_torch(ours, theirs)
    return theirs


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_mha_matches_torch_train_and_eval(batch_first: bool, bias: bool) -> None:
    pytest.importorskip("torch")
    cr.manual_seed(1)
    ours = MultiheadAttention(6, 2, bias=bias, batch_first=batch_first).double()
    theirs = _t_mha(ours, bias=bias, batch_first=batch_first)
    rng = _rng(11)
    qs, ks = ((2, 3, 6), (2, 4, 6)) if batch_first else ((3, 2, 6), (4, 2, 6))
    q, k, v = rng.standard_normal(qs), rng.standard_normal(ks), rng.standard_normal(ks)
    _run_both(ours, theirs, q, k, v)
    ours.eval()
    theirs.eval()
    _run_both(ours, theirs, q, k, v)


@pytest.mark.torch
@pytest.mark.parametrize(
    "masks",
    ["bool", "float", "kpm", "both", "per_head"],
)
def test_mha_masks_match_torch(masks: str) -> None:
    pytest.importorskip("torch")
    cr.manual_seed(2)
    ours = MultiheadAttention(4, 2).double()
    theirs = _t_mha(ours)
    rng = _rng(12)
    x = rng.standard_normal((3, 2, 4))
    mem = rng.standard_normal((5, 2, 4))
    am = rng.random((3, 5)) < 0.4
    am[:, 0] = False
    kpm = np.array([[False, False, True, False, True], [False, True, True, True, False]])
    kwargs = {
        "bool": {"attn_mask": am},
        "float": {"attn_mask": rng.standard_normal((3, 5))},
        "kpm": {"key_padding_mask": kpm},
        "both": {"attn_mask": am, "key_padding_mask": kpm},
        "per_head": {"attn_mask": np.broadcast_to(am, (4, 3, 5)).copy(),
                     "average_attn_weights": False},
    }[masks]  # fmt: skip
    _run_both(ours, theirs, x, mem, mem, kwargs=kwargs)


@pytest.mark.torch
def test_mha_self_attention_and_unbatched_match_torch() -> None:
    torch = pytest.importorskip("torch")
    cr.manual_seed(3)
    ours = MultiheadAttention(4, 2).double()
    theirs = _t_mha(ours)
    x = _rng(13).standard_normal((3, 2, 4))
    xt, tt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, w = ours(xt, xt, xt)
    t_out, t_w = theirs(tt, tt, tt)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), **TOL)
    (out.sum() + w.sum()).backward()
    (t_out.sum() + t_w.sum()).backward()
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), **TOL)
    _run_both(ours, theirs, x[:, 0], x[:, 1], x[:, 1])  # unbatched (L, E)


def test_mha_layout_init_and_need_weights() -> None:
    cr.manual_seed(4)
    e = 16
    m = MultiheadAttention(e, 4)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    w = m.in_proj_weight.numpy()
    bound = np.sqrt(6 / (e + 3 * e))  # xavier_uniform_ on (3E, E)
    assert w.shape == (3 * e, e) and np.abs(w).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert (m.in_proj_bias.numpy() == 0).all() and (m.out_proj.bias.numpy() == 0).all()
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1 / np.sqrt(e)  # Linear's default
    x = rand(5, 2, e)
    out, none = m(x, x, x, need_weights=False)
    assert out.shape == (5, 2, e) and none is None
    assert "num_heads=4" in repr(m)
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(6, 4)
    with pytest.raises(TypeError):
        MultiheadAttention(6, 2, False)  # everything after num_heads is keyword-only
    no_bias = MultiheadAttention(8, 2, bias=False)
    assert no_bias.in_proj_bias is None and no_bias.out_proj.bias is None


def test_mha_dropout_only_in_training() -> None:
    cr.manual_seed(5)
    m = MultiheadAttention(4, 2, dropout=0.5)
    x = rand(6, 3, 4)
    _, w_train = m(x, x, x, average_attn_weights=False)
    assert (w_train.numpy() == 0).any()  # some weights dropped
    m.eval()
    _, w_eval = m(x, x, x)
    np.testing.assert_allclose(w_eval.numpy().sum(-1), 1.0, rtol=1e-5)


def _modular_vs_autodiff(module: Any, make_inputs: Callable[[], tuple]) -> None:
    """m.backward(g) returns what autodiff gives for the input and the parameters."""
    xs = make_inputs()
    out = module(*xs)
    first = out[0] if isinstance(out, tuple) else out
    g = np.asarray(_rng(20).standard_normal(first.shape), dtype=first.dtype)
    module.zero_grad()
    grads = module.backward((g, None) if isinstance(out, tuple) else g)
    dx = (grads[0] if isinstance(grads, tuple) else grads).numpy()
    mod_params = {n: p.grad.numpy().copy() for n, p in module.named_parameters()}
    module.zero_grad()
    xs2 = make_inputs()
    out2 = module(*xs2)
    first2 = out2[0] if isinstance(out2, tuple) else out2
    (first2 * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(dx, xs2[0].grad.numpy(), rtol=1e-5, atol=1e-6)
    for n, p in module.named_parameters():
        np.testing.assert_allclose(mod_params[n], p.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "shape"),
    [(lambda: BatchNorm2d(3), (4, 3, 2, 2)), (lambda: LayerNorm((2, 3)), (4, 2, 3)),
     (lambda: Maxout(4, 2, 3), (5, 4)), (lambda: MultiheadAttention(4, 2), (3, 2, 4))],
)  # fmt: skip
def test_modular_backward_equals_autodiff(make: Callable[[], Any], shape: tuple) -> None:
    cr.manual_seed(6)
    module = make()
    x = rand(*shape, seed=21).numpy()
    n_in = 3 if isinstance(module, MultiheadAttention) else 1

    def inputs() -> tuple:
        return tuple(cr.tensor(x, requires_grad=True) for _ in range(n_in))

    if isinstance(module, BatchNorm2d):  # both calls must see the same running stats
        module.eval()
    _modular_vs_autodiff(module, inputs)


# ---- constructor arguments ---------------------------------------------------------------

_BAD_VALUES = {
    "Linear(-1, 2)": (lambda: cr.nn.Linear(-1, 2), "Linear", "in_features", "-1"),
    "Linear(2, -3)": (lambda: cr.nn.Linear(2, -3), "Linear", "out_features", "-3"),
    "Embedding(-1, 3)": (lambda: Embedding(-1, 3), "Embedding", "num_embeddings", "-1"),
    "BatchNorm1d(-2)": (lambda: BatchNorm1d(-2), "BatchNorm1d", "num_features", "-2"),
    "LayerNorm(-3)": (lambda: LayerNorm(-3), "LayerNorm", "normalized_shape", "-3"),
    "MHA(0, 1)": (lambda: MultiheadAttention(0, 1), "MultiheadAttention", "embed_dim", "0"),
    "MHA(8, 0)": (lambda: MultiheadAttention(8, 0), "MultiheadAttention", "num_heads", "0"),
    "MHA(10, 3)": (lambda: MultiheadAttention(10, 3), "MultiheadAttention", "divisible", "3"),
    "Dropout(1.5)": (lambda: Dropout(1.5), "Dropout", "p", "1.5"),
    "Maxout(pieces=0)": (lambda: Maxout(4, 2, 0), "Maxout", "pieces", "0"),
    "Normalize(p=0)": (lambda: Normalize(p=0), "Normalize", "p", "0"),
    "Conv2d(-1, 2, 3)": (lambda: cr.nn.Conv2d(-1, 2, 3), "Conv2d", "in_channels", "-1"),
    "Conv2d(kernel 0)": (lambda: cr.nn.Conv2d(1, 2, 0), "Conv2d", "kernel_size", "0"),
    "Conv1d(kernel 0)": (lambda: cr.nn.Conv1d(1, 2, 0), "Conv1d", "kernel_size", "0"),
    "Conv2d(stride 0)": (lambda: cr.nn.Conv2d(1, 2, 3, stride=0), "Conv2d", "stride", "0"),
    "Conv2d(dilation 0)": (lambda: cr.nn.Conv2d(1, 2, 3, dilation=0), "Conv2d", "dilation", "0"),
    "Conv2d(padding -1)": (lambda: cr.nn.Conv2d(1, 2, 3, padding=-1), "Conv2d", "padding", "-1"),
    "Conv2d(groups 0)": (lambda: cr.nn.Conv2d(1, 2, 3, groups=0), "Conv2d", "groups", "0"),
    "Conv2d(groups 2)": (lambda: cr.nn.Conv2d(3, 4, 3, groups=2), "Conv2d", "groups=2", "3"),
    "Conv2d(kernel 3-D)": (lambda: cr.nn.Conv2d(1, 2, (3, 3, 3)), "Conv2d", "kernel_size", "3"),
    "LSTM(4, 0)": (lambda: cr.nn.LSTM(4, 0), "LSTM", "hidden_size", "0"),
    "GRU(layers 0)": (lambda: cr.nn.GRU(4, 8, num_layers=0), "GRU", "num_layers", "0"),
    "RNN(dropout 2)": (lambda: cr.nn.RNN(4, 8, dropout=2.0), "RNN", "dropout", "2"),
    "MaxPool2d(stride 0)": (lambda: MaxPool2d(2, stride=0), "MaxPool2d", "stride", "0"),
    "AvgPool2d(kernel 0)": (lambda: AvgPool2d(0), "AvgPool2d", "kernel_size", "0"),
    "Conv2d(padding_mode)": (
        lambda: cr.nn.Conv2d(1, 2, 3, padding_mode="mirror"),
        "Conv2d",
        "padding_mode",
        "mirror",
    ),
    "GroupNorm(3, 4)": (lambda: cr.nn.GroupNorm(3, 4), "GroupNorm", "num_channels 4", "3"),
    "GroupNorm(0, 4)": (lambda: cr.nn.GroupNorm(0, 4), "GroupNorm", "num_groups", "0"),
    "ConvTranspose2d(output_padding 2)": (
        lambda: cr.nn.ConvTranspose2d(1, 2, 3, stride=2, output_padding=2),
        "ConvTranspose2d",
        "output_padding (2, 2)",
        "stride (2, 2)",
    ),
    "ConvTranspose1d(padding 'same')": (
        lambda: cr.nn.ConvTranspose1d(1, 2, 3, padding="same"),
        "ConvTranspose1d",
        "padding",
        "'same'",
    ),
    "ConvTranspose2d(padding_mode)": (
        lambda: cr.nn.ConvTranspose2d(1, 2, 3, padding_mode="reflect"),
        "ConvTranspose2d",
        "padding_mode='zeros'",
        "reflect",
    ),
    "AvgPool2d(divisor 0)": (
        lambda: AvgPool2d(2, divisor_override=0),
        "AvgPool2d",
        "divisor_override",
        "0",
    ),
    "LPPool2d(norm_type 0)": (lambda: cr.nn.LPPool2d(0, 2), "LPPool2d", "norm_type", "0"),
    "LPPool1d(kernel 0)": (lambda: cr.nn.LPPool1d(2, 0), "LPPool1d", "kernel_size", "0"),
    "MaxUnpool2d(stride 0)": (lambda: cr.nn.MaxUnpool2d(2, 0), "MaxUnpool2d", "stride", "0"),
    "ChannelShuffle(0)": (lambda: cr.nn.ChannelShuffle(0), "ChannelShuffle", "groups", "0"),
    "LocalResponseNorm(0)": (lambda: cr.nn.LocalResponseNorm(0), "LocalResponseNorm", "size"),
    "RReLU(0.5, 0.1)": (lambda: cr.nn.RReLU(0.5, 0.1), "RReLU", "lower <= upper", "0.5"),
    "AlphaDropout(2)": (lambda: cr.nn.AlphaDropout(2.0), "AlphaDropout", "p", "2.0"),
}


@pytest.mark.parametrize("case", sorted(_BAD_VALUES))
def test_bad_constructor_values_are_argument_errors(case: str) -> None:
    # these used to be NumPy's "negative dimensions are not allowed", a ZeroDivisionError,
    # a plain ValueError, or no error at all (a zero-size kernel gave an output of zeros)
    make, *words = _BAD_VALUES[case]
    with pytest.raises(cr.nn.functional.ArgumentError) as info:
        make()
    msg = str(info.value)
    assert all(w in msg for w in words), msg


_BAD_TYPES = {
    "Linear(2.5, 3)": (lambda: cr.nn.Linear(2.5, 3), "Linear", "in_features", "2.5"),
    "Linear('4', 3)": (lambda: cr.nn.Linear("4", 3), "Linear", "in_features", "'4'"),
    "Embedding(10, 2.0)": (lambda: Embedding(10, 2.0), "Embedding", "embedding_dim", "2.0"),
    "Conv2d(kernel 'a')": (lambda: cr.nn.Conv2d(1, 1, "a"), "Conv2d", "kernel_size", "'a'"),
    "LSTM(4.5, 8)": (lambda: cr.nn.LSTM(4.5, 8), "LSTM", "input_size", "4.5"),
    "MHA(8, 2.0)": (lambda: MultiheadAttention(8, 2.0), "MultiheadAttention", "num_heads", "2.0"),
}


@pytest.mark.parametrize("case", sorted(_BAD_TYPES))
def test_non_integer_sizes_are_type_errors(case: str) -> None:
    # Linear(2.5, 3) used to truncate silently to Linear(2, 3)
    make, *words = _BAD_TYPES[case]
    with pytest.raises(cr.nn.ModuleTypeError) as info:
        make()
    msg = str(info.value)
    assert all(w in msg for w in words), msg


def test_sizes_accept_numpy_integers_and_zero() -> None:
    assert cr.nn.Linear(np.int64(3), 0).weight.shape == (0, 3)  # PyTorch allows 0 features
    assert Embedding(np.int32(5), 0).weight.shape == (5, 0)
    assert cr.nn.Conv2d(2, 4, (np.int64(3), 1)).weight.shape == (4, 2, 3, 1)


# ---- bad input to the adaptive pool and the recurrent cells ----------------------------------


def test_adaptive_pool_bad_input_names_the_problem() -> None:
    x = cr.tensor(np.zeros((1, 2, 4, 4)))
    for bad in (0, (2,), (1.5, 2), True):
        with pytest.raises(cr.nn.functional.ArgumentError, match="AdaptiveAvgPool2d: output_size"):
            cr.nn.AdaptiveAvgPool2d(bad)
        with pytest.raises(cr.nn.functional.ArgumentError, match="adaptive_avg_pool2d"):
            cr.nn.functional.adaptive_avg_pool2d(x, bad)
    with pytest.raises(cr.ShapeError, match=r"adaptive_avg_pool2d.*\(4, 4\)"):
        cr.nn.functional.adaptive_avg_pool2d(cr.tensor(np.zeros((4, 4))), 2)


def test_cell_bad_input_names_the_shapes() -> None:
    cell = cr.nn.GRUCell(3, 4)
    with pytest.raises(cr.ShapeError, match=r"GRUCell: input must be \(batch, 3\).*\(2, 5\)"):
        cell(np.zeros((2, 5)))
    with pytest.raises(
        cr.ShapeError, match=r"GRUCell: state 0 has shape \(4,\), expected \(2, 4\)"
    ):
        cell(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(cr.ShapeError, match="LSTMCell: hx must be a pair"):
        cr.nn.LSTMCell(3, 4)(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(cr.nn.functional.ArgumentError, match="RNNCell: nonlinearity"):
        cr.nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(cr.nn.ModuleTypeError, match="LSTMCell: hidden_size"):
        cr.nn.LSTMCell(3, 2.5)


# ---- transposed convolutions ----------------------------------------------------------------


def test_conv_transpose_output_size_repr_and_layout_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = cr.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2).double()
    theirs = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, groups=2).double()
    assert ours.weight.shape == tuple(theirs.weight.shape) == (4, 3, 3, 2)
    assert ours.extra_repr() == theirs.extra_repr()
    assert cr.nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1).extra_repr() == (
        torch.nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1).extra_repr()
    )
    _copy_into_torch(ours, theirs)
    x = _rng().standard_normal((2, 4, 3, 4))
    for size in [None, (6, 6), (6, 7), (2, 6, 5, 7), [5, 6]]:
        want = theirs(torch.tensor(x), output_size=size).detach().numpy()
        np.testing.assert_allclose(ours(x, output_size=size).numpy(), want, **TOL)
    with pytest.raises(cr.ShapeError, match=r"output_size \(7, 6\).*from \(5, 6\) to \(6, 7\)"):
        ours(x, output_size=(7, 6))
    with pytest.raises(cr.ShapeError, match="output_size must have 2 or 4 elements"):
        ours(x, output_size=(6,))
    # unbatched, and the default initialisation's bounds (fan_in = C_out/groups * kH * kW)
    assert ours(x[0]).shape == (6, 5, 6)
    fresh = cr.nn.ConvTranspose2d(4, 6, (3, 2), groups=2)
    assert np.abs(fresh.bias.numpy()).max() <= 1 / np.sqrt(3 * 3 * 2)
    assert np.abs(fresh.weight.numpy()).max() <= 1 / np.sqrt(3 * 3 * 2)


def test_conv_transpose_is_the_input_gradient_of_conv() -> None:
    """conv_transpose2d(g, w) is d/dx <conv2d(x, w), g>: the adjoint relation, checked with
    the weight used by both."""
    rng = _rng(3)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    xt = cr.tensor(x, requires_grad=True)
    y = cr.nn.functional.conv2d(xt, w, stride=2, padding=1, dilation=(1, 2))
    g = rng.standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    back = cr.nn.functional.conv_transpose2d(g, w, stride=2, padding=1, output_padding=(0, 1),
                                             dilation=(1, 2))  # fmt: skip
    np.testing.assert_allclose(back.numpy(), xt.grad.numpy(), **TOL)


def test_conv_transpose_bad_input_names_the_shapes() -> None:
    F = cr.nn.functional
    x = np.zeros((1, 3, 4, 4))
    with pytest.raises(cr.ShapeError, match=r"input \(1, 3, 4, 4\) has 3 channels but weight "
                       r"\(2, 1, 3, 3\) expects 2"):  # fmt: skip
        F.conv_transpose2d(x, np.zeros((2, 1, 3, 3)))
    with pytest.raises(cr.ShapeError, match=r"bias shape \(3,\).*2 output channels"):
        F.conv_transpose2d(x, np.zeros((3, 2, 3, 3)), np.zeros(3))
    with pytest.raises(cr.ShapeError, match=r"output size \(-2, -2\), below 1"):
        F.conv_transpose2d(x, np.zeros((3, 1, 1, 1)), padding=3)
    with pytest.raises(cr.nn.functional.ArgumentError, match="output_padding"):
        F.conv_transpose2d(x, np.zeros((3, 1, 2, 2)), output_padding=1)
    with pytest.raises(cr.ShapeError, match=r"conv_transpose1d: expected input \(N, C_in, L\)"):
        F.conv_transpose1d(x, np.zeros((3, 1, 2)))
    with pytest.raises(cr.ShapeError, match=r"conv_transpose1d: input \(1, 3, 4\).*channels"):
        F.conv_transpose1d(x[..., 0], np.zeros((2, 1, 2)))
    with pytest.raises(cr.ShapeError, match=r"conv_transpose2d.*got shape \(4, 4\)"):
        cr.nn.ConvTranspose2d(3, 1, 2)(np.zeros((4, 4)))


def test_group_norm_bad_input_names_the_problem() -> None:
    F = cr.nn.functional
    with pytest.raises(cr.ShapeError, match=r"GroupNorm: expected input \(N, 4, \*\), got shape "
                       r"\(2, 3, 5\)"):  # fmt: skip
        cr.nn.GroupNorm(2, 4)(np.zeros((2, 3, 5)))
    with pytest.raises(cr.ShapeError, match=r"6 channels of input \(1, 6\).*num_groups=4"):
        F.group_norm(np.zeros((1, 6)), 4)
    with pytest.raises(cr.ShapeError, match=r"weight has shape \(3,\), expected \(6,\)"):
        F.group_norm(np.zeros((1, 6)), 2, np.ones(3))
    with pytest.raises(cr.ShapeError, match=r"\(N, C, \*\).*shape \(6,\)"):
        F.group_norm(np.zeros(6), 2)
    with pytest.raises(cr.DTypeError, match=r"group_norm.*int64"):
        F.group_norm(np.zeros((2, 4), dtype=np.int64), 2)


def test_group_norm_extremes_match_layer_and_instance_norm() -> None:
    """One group is a layer norm over (C, *); one channel per group normalises each channel
    of each sample on its own (instance norm)."""
    x = _rng(5).standard_normal((2, 4, 3, 5))
    whole = cr.nn.functional.group_norm(x, 1).numpy()
    np.testing.assert_allclose(whole, cr.nn.functional.layer_norm(x, (4, 3, 5)).numpy(), **TOL)
    each = cr.nn.functional.group_norm(x, 4).numpy()
    mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(each, (x - mean) / np.sqrt(var + 1e-5), **TOL)
    assert repr(cr.nn.GroupNorm(2, 4)).startswith("GroupNorm(2, 4, eps=1e-05, affine=True)")


# ---- upsampling -------------------------------------------------------------------------------


def test_interpolate_bad_arguments_name_the_problem() -> None:
    F = cr.nn.functional
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(F.ArgumentError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(F.ArgumentError, match="exactly one of size and scale_factor"):
        cr.nn.Upsample(size=3, scale_factor=2)
    with pytest.raises(F.ArgumentError, match="mode must be one of"):
        F.interpolate(x, scale_factor=2, mode="cubic")
    with pytest.raises(F.ArgumentError, match="align_corners is only for the linear modes"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(cr.ShapeError, match=r"mode='bilinear' takes 4-D input.*\(1, 2, 4\)"):
        F.interpolate(x[:, :, 0], scale_factor=2, mode="bilinear")
    with pytest.raises(F.ArgumentError, match=r"size must be one value or 2 values.*\(3, 3, 3\)"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(F.ArgumentError, match=r"scale_factor.*a number > 0, got -1"):
        F.interpolate(x, scale_factor=-1)
    with pytest.raises(cr.ShapeError, match=r"shrinks input size \(4, 4\) to \(0, 0\)"):
        F.interpolate(x, scale_factor=0.2)
    ints = np.arange(16).reshape(1, 1, 4, 4)
    with pytest.raises(cr.DTypeError, match="mode='bilinear' needs a floating-point input"):
        F.interpolate(ints, scale_factor=2, mode="bilinear")
    assert F.interpolate(ints, scale_factor=2).dtype == np.int64  # nearest copies any dtype


def test_upsample_nearest_repeats_and_its_gradient_sums_the_copies() -> None:
    x = cr.tensor(np.arange(4.0).reshape(1, 1, 2, 2), requires_grad=True)
    y = cr.nn.Upsample(scale_factor=2)(x)
    np.testing.assert_array_equal(y.numpy()[0, 0], np.kron(np.arange(4.0).reshape(2, 2),
                                                           np.ones((2, 2))))  # fmt: skip
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 1, 2, 2), 4.0))


def test_nearest_gradient_is_the_forward_s_where_torch_s_1d_backward_is_not() -> None:
    """With scale_factor 1.2 a length-2 axis stays length 2 and both outputs read input 0
    (torch's forward agrees); the gradient therefore all goes to input 0. torch 2.13's 1-D
    backward copies instead (gives [10, 100]); chainrule follows its forward."""
    x = cr.tensor(np.array([[[1.0, 2.0]]]), requires_grad=True)
    y = cr.nn.functional.interpolate(x, scale_factor=1.2)
    np.testing.assert_array_equal(y.numpy(), [[[1.0, 1.0]]])
    (y * cr.tensor(np.array([10.0, 100.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[110.0, 0.0]]])


# ---- the losses added after the first table -------------------------------------------------


def test_new_losses_bad_input_names_the_problem() -> None:
    F = cr.nn.functional
    x = np.zeros((2, 3))
    with pytest.raises(F.LabelError, match=r"kl_div: target probabilities must be >= 0.*-0\.5"):
        F.kl_div(x, np.full((2, 3), -0.5))
    with pytest.raises(F.ArgumentError, match="'batchmean'"):
        cr.nn.KLDivLoss(reduction="batch")
    with pytest.raises(cr.ShapeError, match=r"target shape \(3,\) does not match input shape"):
        F.margin_ranking_loss(x, x, np.ones(3))
    with pytest.raises(F.ArgumentError, match="beta must be >= 0, got -1"):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(F.ArgumentError, match="var has a negative entry"):
        F.gaussian_nll_loss(x, x, np.full((2, 3), -1.0))
    with pytest.raises(cr.ShapeError, match=r"var shape \(3,\) must be input's shape \(2, 3\)"):
        F.gaussian_nll_loss(x, x, np.ones(3))


def test_kl_div_batchmean_is_the_divergence_per_sample() -> None:
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([[0.4, 0.6], [0.1, 0.9]])
    want = np.mean([np.sum(pi * np.log(pi / qi)) for pi, qi in zip(p, q)])
    got = cr.nn.KLDivLoss(reduction="batchmean")(np.log(q), p).item()
    assert got == pytest.approx(want, rel=1e-12)
    # a zero target probability adds nothing (0 log 0 = 0) and leaves the gradient finite
    logq = cr.tensor(np.log(q), requires_grad=True)
    cr.nn.functional.kl_div(logq, np.array([[0.0, 1.0], [0.5, 0.5]]), reduction="sum").backward()
    assert np.isfinite(logq.grad.numpy()).all()


def test_gaussian_nll_clamps_the_variance_but_not_its_gradient() -> None:
    """As PyTorch: a variance below eps counts as eps in the value, while the gradient is
    taken as if the clamp were not there (torch clamps a copy under no_grad)."""
    var = cr.tensor(np.array([1e-9, 2.0]), requires_grad=True)
    loss = cr.nn.functional.gaussian_nll_loss(np.zeros(2), np.ones(2), var, reduction="sum")
    clamped = np.array([1e-6, 2.0])
    assert loss.item() == pytest.approx(np.sum(0.5 * (np.log(clamped) + 1 / clamped)))
    loss.backward()
    np.testing.assert_allclose(var.grad.numpy(), 0.5 * (1 / clamped - 1 / clamped**2))


# ---- transformer layers -----------------------------------------------------------------------


def test_transformer_state_dicts_load_into_torch_key_for_key() -> None:
    torch = pytest.importorskip("torch")
    ours = cr.nn.TransformerDecoder(cr.nn.TransformerDecoderLayer(8, 2, 16), 2,
                                    norm=cr.nn.LayerNorm(8))  # fmt: skip
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, 16), 2,
                                         norm=torch.nn.LayerNorm(8))  # fmt: skip
    state = {k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    # the copies are independent, as torch's deep copies
    enc = cr.nn.TransformerEncoder(cr.nn.TransformerEncoderLayer(8, 2, 16), 3)
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight


def test_is_causal_without_a_mask_uses_the_causal_mask() -> None:
    torch = pytest.importorskip("torch")
    mask = cr.nn.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(
        mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    )
    layer = cr.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0).double()
    x = _rng(9).standard_normal((4, 2, 4))
    np.testing.assert_allclose(layer(x, is_causal=True).numpy(),
                               layer(x, src_mask=mask.numpy().astype(np.float64)).numpy(),
                               **TOL)  # fmt: skip
    # causal: changing the last position leaves the outputs at earlier positions alone
    y = x.copy()
    y[-1] += 1.0
    np.testing.assert_allclose(layer(x, is_causal=True).numpy()[:-1],
                               layer(y, is_causal=True).numpy()[:-1], **TOL)  # fmt: skip


def test_transformer_bad_arguments_name_the_problem() -> None:
    with pytest.raises(cr.nn.functional.ArgumentError, match="activation must be 'relu', 'gelu'"):
        cr.nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(cr.nn.functional.ArgumentError, match="num_heads"):
        cr.nn.TransformerEncoderLayer(6, 4)
    with pytest.raises(cr.nn.functional.ArgumentError, match="TransformerEncoder: num_layers"):
        cr.nn.TransformerEncoder(cr.nn.TransformerEncoderLayer(4, 2), 0)
    layer = cr.nn.TransformerEncoderLayer(4, 2, 8)
    with pytest.raises(cr.ShapeError, match=r"attn_mask has shape \(3, 3\)"):
        layer(np.zeros((2, 1, 4), dtype=np.float32), src_mask=np.zeros((3, 3), dtype=bool))


def test_whole_transformer_keys_init_and_bad_input() -> None:
    model = cr.nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, batch_first=True)
    torch = importlib.import_module("torch") if importlib.util.find_spec("torch") else None
    if torch is not None:
        theirs = torch.nn.Transformer(8, 2, 2, 1, 16)
        state = {k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()}
        theirs.load_state_dict(state, strict=True)  # the same keys and shapes
    # Xavier-uniform matrices, each layer drawn separately; vectors as their layers made them
    w0 = model.encoder.layers[0].self_attn.in_proj_weight.numpy()
    w1 = model.encoder.layers[1].self_attn.in_proj_weight.numpy()
    bound = np.sqrt(6 / (8 + 24))
    assert np.abs(w0).max() <= bound and not np.array_equal(w0, w1)
    assert np.all(model.decoder.norm.weight.numpy() == 1)
    src = _rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    tgt = _rng(2).standard_normal((2, 3, 8)).astype(np.float32)
    mask = cr.nn.Transformer.generate_square_subsequent_mask(3)
    out = model(src, tgt, tgt_is_causal=True)
    assert out.shape == (2, 3, 8)
    np.testing.assert_allclose(out.numpy(), model(src, tgt, tgt_mask=mask).numpy(), rtol=1e-6)
    with pytest.raises(cr.ShapeError, match=r"Transformer: src \(2, 5, 8\) and tgt \(1, 3, 8\) "
                       r"have different batch sizes \(axis 0\)"):  # fmt: skip
        model(src, tgt[:1])
    with pytest.raises(cr.ShapeError, match=r"must both end with d_model=8 features"):
        model(src, tgt[..., :4])


# ---- padding ----------------------------------------------------------------------------------


def test_pad_bad_arguments_name_the_problem() -> None:
    F = cr.nn.functional
    x = np.zeros((2, 3))
    with pytest.raises(cr.ShapeError, match=r"pad \(1, 1, 1, 1, 1, 1\) must hold"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(cr.ShapeError, match=r"pad \(1,\) must hold"):
        F.pad(x, (1,))
    with pytest.raises(F.ArgumentError, match="mode must be one of"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(F.ArgumentError, match="'reflect' takes no value"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)
    with pytest.raises(F.ArgumentError, match=r"negative widths.*'constant' mode only"):
        F.pad(x, (-1, 1), mode="replicate")
    with pytest.raises(cr.ShapeError, match=r"reflect padding \(3, 0\) of axis 1 must be smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(cr.ShapeError, match=r"circular padding \(0, 4\) of axis 1 must be at most"):
        F.pad(x, (0, 4), mode="circular")
    with pytest.raises(F.ArgumentError, match=r"ReflectionPad2d: padding must be >= 0"):
        cr.nn.ReflectionPad2d(-1)
    with pytest.raises(F.ArgumentError, match=r"ZeroPad2d: padding must be an int or 4 ints"):
        cr.nn.ZeroPad2d((1, 2))
    with pytest.raises(F.ArgumentError, match=r"ZeroPad2d: expected a 3-D or 4-D input"):
        cr.nn.ZeroPad2d(1)(np.zeros(3))


def test_pad_crops_with_negative_widths_and_sums_the_gradient_of_copies() -> None:
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    np.testing.assert_array_equal(cr.nn.functional.pad(x, (-1, 2)).numpy(), [1, 2, 3, 0, 0])
    y = cr.nn.functional.pad(x, (2, 1), mode="replicate")
    np.testing.assert_array_equal(y.numpy(), [0, 0, 0, 1, 2, 3, 3])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 1, 1, 2])


# ---- distances, Unflatten, channel dropout ----------------------------------------------------


def test_cosine_similarity_of_a_zero_vector_is_zero_with_torch_s_gradient() -> None:
    torch = pytest.importorskip("torch")
    rng = _rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a[1] = 0.0
    ours = [cr.tensor(v, requires_grad=True) for v in (a, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (a, b)]
    y = cr.nn.functional.cosine_similarity(*ours)
    y.sum().backward()
    want = torch.nn.functional.cosine_similarity(*theirs)
    want.sum().backward()
    assert y.numpy()[1] == 0.0
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), **TOL)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), **TOL)


def test_unflatten_and_distances_bad_input() -> None:
    with pytest.raises(cr.nn.functional.ArgumentError, match="at most one -1"):
        cr.nn.Unflatten(1, (-1, -1))
    with pytest.raises(cr.ShapeError, match=r"has 12 elements, which \(5, -1\) cannot hold"):
        cr.nn.Unflatten(1, (5, -1))(np.zeros((2, 12)))
    with pytest.raises(cr.ShapeError, match=r"dim 2 is out of range for input \(2, 12\)"):
        cr.nn.Unflatten(2, (3, 4))(np.zeros((2, 12)))
    with pytest.raises(cr.ShapeError, match=r"shapes \(2, 3\) and \(2, 4\) do not broadcast"):
        cr.nn.functional.cosine_similarity(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(cr.nn.functional.ArgumentError, match="p must be > 0"):
        cr.nn.functional.pairwise_distance(np.zeros((2, 3)), np.zeros((2, 3)), p=0)


def test_channel_dropout_drops_whole_channels() -> None:
    cr.manual_seed(3)
    y = cr.nn.Dropout2d(0.5)(np.ones((64, 8, 3, 3))).numpy()
    assert (y == y[:, :, :1, :1]).all()  # one decision per (sample, channel)
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.4 < (y[:, :, 0, 0] == 0).mean() < 0.6
    m = cr.nn.Dropout1d(0.5).eval()
    x = np.ones((2, 3, 4))
    assert np.array_equal(m(x).numpy(), x)
    with pytest.raises(cr.ShapeError, match=r"dropout1d: expected input \(N, C, L\) or unbatched"):
        cr.nn.Dropout1d()(np.ones((2, 3, 4, 5)))


def test_instance_norm_running_statistics_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = cr.nn.InstanceNorm2d(3, track_running_stats=True, momentum=0.2).double()
    theirs = torch.nn.InstanceNorm2d(3, track_running_stats=True, momentum=0.2).double()
    rng = _rng(6)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 5)) * 3 + 1
        ours(x)
        theirs(torch.tensor(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy())
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 2, 5))
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).numpy(), **TOL)
    with pytest.raises(cr.ShapeError, match=r"InstanceNorm2d\(3\): input of shape \(2, 4, 2, 5\)"):
        ours(np.zeros((2, 4, 2, 5)))
    with pytest.raises(cr.ShapeError, match="more than 1 position per channel"):
        cr.nn.InstanceNorm1d(2)(np.zeros((3, 2, 1)))


def test_fold_of_unfold_counts_each_pixel_s_windows_and_bad_input() -> None:
    F = cr.nn.functional
    x = np.ones((1, 2, 4, 5))
    counts = F.fold(F.unfold(x, 3, padding=1), (4, 5), 3, padding=1).numpy()
    np.testing.assert_array_equal(counts[0, 0], [[4, 6, 6, 6, 4], [6, 9, 9, 9, 6],
                                                 [6, 9, 9, 9, 6], [4, 6, 6, 6, 4]])  # fmt: skip
    with pytest.raises(cr.ShapeError, match=r"fold: input \(1, 5, 4\) must be \(N, C\*4, 4\)"):
        F.fold(np.zeros((1, 5, 4)), (3, 3), 2)
    with pytest.raises(cr.ShapeError, match=r"pixel_shuffle: input \(1, 6, 2, 2\) must be"):
        F.pixel_shuffle(np.zeros((1, 6, 2, 2)), 2)
    with pytest.raises(cr.ShapeError, match=r"pixel_unshuffle: input \(1, 1, 3, 4\) must be"):
        F.pixel_unshuffle(np.zeros((1, 1, 3, 4)), 2)
    with pytest.raises(F.ArgumentError, match="factor must be an int >= 1, got 0"):
        F.pixel_shuffle(np.zeros((1, 4, 2, 2)), 0)


def test_functional_sdpa_uses_torch_s_mask_convention() -> None:
    """F.scaled_dot_product_attention is PyTorch's function: a bool mask says where
    attention is allowed (MultiheadAttention's says where it is not)."""
    rng = _rng(8)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    allowed = np.zeros((3, 5), dtype=bool)
    allowed[:, 2] = True  # every query may look at key 2 only
    out = cr.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(v[2], (3, 2)), **TOL)
    causal = cr.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    np.testing.assert_allclose(causal[0], v[0], **TOL)  # query 0 sees key 0 alone
    with pytest.raises(cr.nn.functional.ArgumentError, match="not both"):
        cr.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=True)


def test_rms_norm_bad_input_names_the_problem_and_eps_follows_the_dtype() -> None:
    F = cr.nn.functional
    with pytest.raises(cr.ShapeError, match=r"rms_norm: input of shape \(2, 3\) does not end "
                       r"with normalized_shape \(4,\)"):  # fmt: skip
        cr.nn.RMSNorm(4)(np.zeros((2, 3), np.float32))
    with pytest.raises(cr.ShapeError, match=r"rms_norm: weight has shape \(3,\), expected \(4,\)"):
        F.rms_norm(np.zeros((2, 4)), 4, np.ones(3))
    with pytest.raises(cr.DTypeError, match=r"rms_norm.*int64"):
        F.rms_norm(np.zeros((2, 4), dtype=np.int64), 4)
    # eps=None: the dtype's epsilon, so an all-zero row stays finite (0) in both dtypes
    for dtype in (np.float32, np.float64):
        y = cr.nn.RMSNorm(3)(np.zeros((1, 3), dtype))
        assert y.dtype == dtype and np.all(y.numpy() == 0)
    assert "RMSNorm((4,), eps=None, elementwise_affine=True)" in repr(cr.nn.RMSNorm(4))


def test_softmax2d_and_unpool_modules_bad_input() -> None:
    with pytest.raises(cr.ShapeError, match=r"Softmax2d: expected input \(N, C, H, W\) or "
                       r"\(C, H, W\), got shape \(2, 3\)"):  # fmt: skip
        cr.nn.Softmax2d()(np.ones((2, 3)))
    pool, unpool = cr.nn.MaxPool2d(2, return_indices=True), cr.nn.MaxUnpool2d(2)
    x = cr.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)))
    y, idx = pool(x)
    with pytest.raises(cr.nn.functional.LabelError, match=r"outside the output plane of size"):
        unpool(y, idx)  # the pool dropped a row and a column: the indices need output_size
    assert unpool(y, idx, output_size=x.shape).shape == x.shape


# ---- 3-D layers --------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    ("args", "kw", "shape"),
    [((2, 4, 3), {}, (2, 2, 4, 5, 4)),
     ((4, 2, (2, 3, 1)), {"stride": (1, 2, 2), "padding": (1, 0, 2), "dilation": (2, 1, 1),
                          "groups": 2, "bias": False}, (1, 4, 5, 5, 6)),
     ((2, 3, (2, 2, 3)), {"padding": "same", "padding_mode": "reflect"}, (2, 3, 4, 5)),
     ((2, 2, 3), {"padding": 1, "padding_mode": "replicate"}, (1, 2, 3, 3, 3))],
)  # fmt: skip
def test_conv3d_matches_torch(args: tuple, kw: dict, shape: tuple) -> None:
    torch = pytest.importorskip("torch")
    ours = cr.nn.Conv3d(*args, **kw).double()
    theirs = torch.nn.Conv3d(*args, **kw).double()
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    _copy_into_torch(ours, theirs)
    _run_both(ours, theirs, _rng(4).standard_normal(shape))


def test_conv3d_default_init_bounds_as_torch() -> None:
    # kaiming_uniform_(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    conv = cr.nn.Conv3d(6, 8, (3, 2, 4), groups=2)
    fan_in = 3 * 3 * 2 * 4
    assert conv.weight.shape == (8, 3, 3, 2, 4) and conv.weight.dtype == np.float32
    for p in (conv.weight, conv.bias):
        values = p.numpy()
        assert np.abs(values).max() <= 1 / np.sqrt(fan_in)
        assert np.abs(values).max() > 0.5 / np.sqrt(fan_in)  # spread over the range
    assert repr(conv).startswith("Conv3d(6, 8, kernel_size=(3, 2, 4), stride=(1, 1, 1), "
                                 "groups=2)")  # fmt: skip


@pytest.mark.torch
@pytest.mark.parametrize(
    ("name", "args", "kw", "shape"),
    [("MaxPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 2, 4, 5, 6)),
     ("MaxPool3d", ((2, 1, 3),), {"stride": 1, "dilation": (2, 1, 1)}, (2, 4, 3, 5)),
     ("AvgPool3d", (3,), {"stride": (2, 1, 2), "padding": 1, "ceil_mode": True,
                          "count_include_pad": False}, (2, 2, 4, 5, 6)),
     ("AvgPool3d", (2,), {"padding": (1, 0, 1), "divisor_override": 5}, (1, 2, 3, 3, 4)),
     ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (2, 2, 5, 3, 7)),
     ("AdaptiveAvgPool3d", (1,), {}, (2, 3, 4, 5)),
     ("InstanceNorm3d", (2,), {"affine": True, "track_running_stats": True}, (2, 2, 3, 2, 3)),
     ("ZeroPad3d", ((1, 0, 2, 1, 0, 1),), {}, (1, 2, 2, 3, 3)),
     ("ReflectionPad3d", (1,), {}, (2, 2, 3, 3)),
     ("ReplicationPad3d", ((0, 1, 2, 0, 1, 1),), {}, (1, 1, 2, 2, 3)),
     ("CircularPad3d", ((1, 2, 0, 1, 2, 0),), {}, (1, 2, 2, 3, 3)),
     ("ConstantPad3d", ((1, 0, 0, 1, 1, 0), -2.5), {}, (2, 1, 2, 2))],
)  # fmt: skip
def test_3d_pool_norm_and_pad_modules_match_torch(name: str, args: tuple, kw: dict,
                                                  shape: tuple) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(cr.nn, name)(*args, **kw).double(), getattr(torch.nn, name)(*args, **kw)
    theirs = theirs.double()
    if name == "MaxPool3d":  # distinct values: one maximum per window
        x = _rng(5).permutation(math.prod(shape)).reshape(shape) / 7.0
    else:
        x = _rng(5).standard_normal(shape)
    _copy_into_torch(ours, theirs)
    _run_both(ours, theirs, x)
    ours.eval()
    theirs.eval()
    _run_both(ours, theirs, x)


def test_dropout3d_zeroes_whole_volumes() -> None:
    cr.manual_seed(0)
    d = cr.nn.Dropout3d(0.5)
    x = cr.ones((6, 5, 2, 3, 2))
    y = d(x).numpy()
    per_channel = y.reshape(6, 5, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1))  # one decision each
    assert 0 < (per_channel[..., 0] == 0).sum() < 30
    unbatched = d(cr.ones((5, 2, 3, 2))).numpy().reshape(5, -1)
    assert np.all(unbatched.min(axis=-1) == unbatched.max(axis=-1))
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    assert repr(d).startswith("Dropout3d(p=0.5)")
