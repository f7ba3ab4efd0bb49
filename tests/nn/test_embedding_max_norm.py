"""``max_norm`` of Embedding, EmbeddingBag and their functions: the looked-up rows whose
norm exceeds it are rescaled in place before the lookup, as PyTorch's
``embedding_renorm_``; the options chainrule refuses are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.ops.nn import ArgumentError


def _table(dtype: type = np.float64) -> np.ndarray:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4))
    w[[1, 5]] *= 4  # rows well above any max_norm below
    w[2] = 0  # a zero row stays zero
    return w.astype(dtype)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, np.inf])
def test_rows_above_max_norm_are_rescaled_in_place(norm_type: float) -> None:
    w0 = _table()
    w = cr.tensor(w0, requires_grad=True)
    idx = np.array([[1, 2, 1], [3, 0, 2]])
    version = w._version[0]
    out = F.embedding(idx, w, max_norm=1.5, norm_type=norm_type)
    norms = np.linalg.norm(w0, ord=norm_type, axis=1)
    named = np.zeros(8, bool)
    named[idx.ravel()] = True
    big = named & (norms > 1.5)
    want = w0.copy()
    want[big] *= (1.5 / (norms[big] + 1e-7))[:, None]
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-15)
    np.testing.assert_array_equal(w.numpy()[~big], w0[~big])  # the rest is untouched
    assert np.all(np.linalg.norm(w.numpy()[big], ord=norm_type, axis=1) <= 1.5)
    np.testing.assert_array_equal(out.numpy(), w.numpy()[idx])  # the lookup reads new rows
    assert w._version[0] == version + (1 if big.any() else 0)
    out.sum().backward()
    counts = np.bincount(idx.ravel(), minlength=8)[:, None] * np.ones((1, 4))
    np.testing.assert_array_equal(w.grad.numpy(), counts)  # the renorm is not differentiated


def test_nothing_written_when_no_row_exceeds() -> None:
    w = cr.tensor(_table(np.float32))
    before, version = w.numpy().copy(), w._version[0]
    F.embedding(np.array([0, 3]), w, max_norm=100.0)
    np.testing.assert_array_equal(w.numpy(), before)
    assert w._version[0] == version


def test_renorm_after_a_saved_use_is_caught_in_backward() -> None:
    w = cr.tensor(_table(), requires_grad=True)
    y = (w * w).sum()  # saves w
    F.embedding(np.array([1]), w.detach(), max_norm=1.0)  # the detached view shares memory
    with pytest.raises(cr.GraphError, match="modified in place"):
        y.backward()


def test_embedding_bag_renorms_before_pooling() -> None:
    w0 = _table()
    w = cr.tensor(w0, requires_grad=True)
    idx = np.array([5, 0, 1, 5])
    out = F.embedding_bag(idx, w, np.array([0, 2]), max_norm=2.0, mode="sum")
    norms = np.linalg.norm(w0, axis=1)
    want = w0.copy()
    for r in (0, 1, 5):
        if norms[r] > 2.0:
            want[r] *= 2.0 / (norms[r] + 1e-7)
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-15)
    np.testing.assert_allclose(out.numpy(), [want[5] + want[0], want[1] + want[5]], rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_norm": 0.0}, "max_norm must be None or a positive number, got 0.0"),
        ({"max_norm": -1}, "max_norm must be None or a positive number, got -1"),
        ({"max_norm": True}, "max_norm must be None or a positive number, got True"),
        ({"max_norm": "1"}, "max_norm must be None or a positive number, got '1'"),
        ({"max_norm": 1.0, "norm_type": 0}, "norm_type must be a positive number, got 0"),
        ({"scale_grad_by_freq": True}, "scale_grad_by_freq=True is not supported"),
        ({"sparse": True}, "sparse=True is not supported"),
    ],
)
def test_refused_options(kwargs: dict, match: str) -> None:
    w = cr.tensor(_table())
    with pytest.raises(ArgumentError, match=f"embedding: {match}"):
        F.embedding(np.array([0]), w, **kwargs)
    with pytest.raises(ArgumentError, match=f"embedding_bag: {match}"):
        F.embedding_bag(np.array([[0]]), w, **kwargs)
    with pytest.raises(ArgumentError, match=f"Embedding: {match}"):
        nn.Embedding(3, 2, **kwargs)
    with pytest.raises(ArgumentError, match=f"EmbeddingBag: {match}"):
        nn.EmbeddingBag(3, 2, **kwargs)


def test_reprs_show_the_options_as_torch() -> None:
    assert nn.Embedding(5, 3, max_norm=1.0).extra_repr() == "5, 3, max_norm=1.0"
    assert nn.Embedding(5, 3, 0, 2.0, 1.0).extra_repr() == (
        "5, 3, padding_idx=0, max_norm=2.0, norm_type=1.0"
    )
    bag = nn.EmbeddingBag(5, 3, max_norm=1.0, mode="sum")
    assert bag.extra_repr() == "5, 3, max_norm=1.0, mode='sum'"


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [1.0, 2.0, np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_max_norm_matches_torch(norm_type: float, dtype: type) -> None:
    torch = pytest.importorskip("torch")
    w0 = _table(dtype)
    ours = nn.Embedding.from_pretrained(w0, freeze=False, max_norm=1.2, norm_type=norm_type)
    theirs = torch.nn.Embedding.from_pretrained(
        torch.from_numpy(w0.copy()), freeze=False, max_norm=1.2, norm_type=norm_type
    )
    g = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(dtype)
    for idx in (np.array([[1, 2, 1], [3, 0, 5]]), np.array([[5, 7, 4], [4, 4, 6]])):
        out = ours(idx)
        ref = theirs(torch.from_numpy(idx))
        (out * cr.tensor(g)).sum().backward()
        (ref * torch.from_numpy(g)).sum().backward()
        rtol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=rtol)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_max_norm_matches_torch(mode: str) -> None:
    torch = pytest.importorskip("torch")
    w0 = _table()
    ours = nn.EmbeddingBag.from_pretrained(w0, freeze=False, max_norm=1.0, mode=mode)
    theirs = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(w0.copy()), freeze=False, max_norm=1.0, mode=mode
    )
    idx, off = np.array([5, 0, 1, 5, 7, 2]), np.array([0, 2, 2, 5])
    out = ours(idx, off)
    ref = theirs(torch.from_numpy(idx), torch.from_numpy(off))
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-13)
