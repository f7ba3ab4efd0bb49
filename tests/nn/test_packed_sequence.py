"""Packed sequences (``cr.nn.utils.rnn``: PackedSequence, pack_padded_sequence,
pad_packed_sequence, pack_sequence, unpack_sequence) and RNN/LSTM/GRU on packed input:
the layout, derivatives (gradcheck, forward against reverse mode, second order), the
padded path, clear errors, and torch's functions and modules with the same weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.rnn import GRU, LSTM, RNN
from chainrule.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    unpack_sequence,
)
from chainrule.ops.nn import ArgumentError

CLASSES = {"RNN": RNN, "RNN_RELU": RNN, "LSTM": LSTM, "GRU": GRU}
# unsorted, two pairs of equal lengths and a length-1 sequence
LENGTHS = [3, 5, 3, 1, 5, 2]


def _make(kind: str, *args: Any, **kwargs: Any) -> Any:
    extra = {"nonlinearity": "relu"} if kind == "RNN_RELU" else {}
    return CLASSES[kind](*args, **kwargs, **extra)


def _padded(lengths: list[int], features: int = 3, batch_first: bool = False, seed: int = 0,
            total: int | None = None) -> np.ndarray:  # fmt: skip
    """A random padded batch with NaN past each sequence's end (nothing may read it)."""
    rng = np.random.default_rng(seed)
    T = total or max(lengths)
    x = rng.standard_normal((T, len(lengths), features))
    for b, n in enumerate(lengths):
        x[n:, b] = np.nan
    return x.transpose(1, 0, 2) if batch_first else x


def _ints(t: Any) -> Any:
    return None if t is None else t.numpy()


# ---- the layout -------------------------------------------------------------------------------


def test_layout_by_hand_and_tuple_unpacking() -> None:
    seqs = [np.arange(1.0, 4.0)[:, None], np.array([[10.0]]), np.array([[20.0], [21.0]])]
    packed = pack_sequence(seqs, enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert isinstance(packed, PackedSequence) and isinstance(packed, tuple)
    assert packed._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    # time-major: step 0 of the sequences longest first, then step 1 of those still running
    np.testing.assert_array_equal(data.numpy()[:, 0], [1, 20, 10, 2, 21, 3])
    assert batch_sizes.dtype == np.int64 and batch_sizes.tolist() == [3, 2, 1]
    assert sorted_indices.tolist() == [0, 2, 1] and unsorted_indices.tolist() == [0, 2, 1]
    padded, lengths = pad_packed_sequence(packed, batch_first=True, padding_value=-1.0)
    assert lengths.dtype == np.int64 and lengths.tolist() == [3, 1, 2]
    np.testing.assert_array_equal(padded.numpy()[..., 0], [[1, 2, 3], [10, -1, -1], [20, 21, -1]])
    repacked = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    np.testing.assert_array_equal(repacked.data.numpy(), data.numpy())
    assert repacked.sorted_indices.tolist() == [0, 2, 1]
    back = unpack_sequence(packed)
    for s, b in zip(seqs, back):
        np.testing.assert_array_equal(s, b.numpy())
    sorted_pack = pack_sequence([seqs[0], seqs[2], seqs[1]])
    assert sorted_pack.sorted_indices is None and sorted_pack.unsorted_indices is None
    np.testing.assert_array_equal(sorted_pack.data.numpy(), data.numpy())


def test_constructor_forms_and_dtype_methods() -> None:
    data = cr.tensor(np.arange(6.0).reshape(3, 2))
    a = PackedSequence(data, [2, 1], sorted_indices=[1, 0])
    assert a.unsorted_indices.tolist() == [1, 0] and a.batch_sizes.dtype == np.int64
    b = PackedSequence((data, cr.tensor(np.array([2, 1]))))  # PyTorch's legacy pair
    assert b.sorted_indices is None and b.batch_sizes.tolist() == [2, 1]
    assert a.double().data.dtype == np.float64 and a.float().data.dtype == np.float32
    assert a.to(dtype=np.float32).data.dtype == np.float32
    assert a.float().sorted_indices.tolist() == [1, 0]
    with pytest.raises(cr.ShapeError, match=r"sum to the 3 rows of data, got \[2, 2\]"):
        PackedSequence(data, [2, 2])
    with pytest.raises(cr.ShapeError, match=r"non-increasing .* got \[1, 2\]"):
        PackedSequence(data, [1, 2])
    with pytest.raises(cr.ShapeError, match=r"sorted_indices must be a permutation of 0..1"):
        PackedSequence(data, [2, 1], sorted_indices=[0, 0])
    with pytest.raises(ArgumentError, match=r"unsorted_indices \[0, 1\] is not the inverse"):
        PackedSequence(data, [2, 1], sorted_indices=[1, 0], unsorted_indices=[0, 1])


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("total_length", [None, 7])
def test_pack_and_pad_match_torch(batch_first: bool, enforce_sorted: bool,
                                  total_length: int | None) -> None:  # fmt: skip
    torch = pytest.importorskip("torch")
    tr = torch.nn.utils.rnn
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    x = np.nan_to_num(_padded(lengths, 2, batch_first, seed=1, total=6), nan=7.0)
    ours = pack_padded_sequence(cr.tensor(x), lengths, batch_first, enforce_sorted)
    theirs = tr.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first,
                                     enforce_sorted)  # fmt: skip
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
    for a, b in zip(ours[1:], theirs[1:]):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == np.int64
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    padded, lens = pad_packed_sequence(ours, batch_first, -2.5, total_length)
    tpadded, tlens = tr.pad_packed_sequence(theirs, batch_first, -2.5, total_length)
    np.testing.assert_array_equal(padded.numpy(), tpadded.numpy())
    np.testing.assert_array_equal(lens.numpy(), tlens.numpy())
    seqs = unpack_sequence(ours)
    tseqs = tr.unpack_sequence(theirs)
    assert [s.shape for s in seqs] == [tuple(t.shape) for t in tseqs]
    for s, t in zip(seqs, tseqs):
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    again = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    tagain = tr.pack_sequence(tseqs, enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(again.data.numpy(), tagain.data.numpy())
    np.testing.assert_array_equal(again.batch_sizes.numpy(), tagain.batch_sizes.numpy())


def test_packing_is_differentiable_and_padding_gets_no_gradient() -> None:
    lengths = [2, 4, 1]
    x_np = np.nan_to_num(_padded(lengths, 2, seed=2))
    x = cr.tensor(x_np, requires_grad=True)

    def round_trip(x: cr.Tensor) -> cr.Tensor:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        return pad_packed_sequence(packed, batch_first=True, total_length=5)[0] * 1.5

    assert cr.gradcheck(round_trip, (x,))
    assert cr.gradgradcheck(lambda x: round_trip(x) ** 2, (x,))
    round_trip(x).sum().backward()
    mask = np.arange(4)[:, None] < np.array(lengths)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(mask[..., None], 1.5, 0.0) + 0 * x_np)
    seqs = [cr.tensor(np.ones((n, 2)), requires_grad=True) for n in lengths]
    out = unpack_sequence(pack_sequence(seqs, enforce_sorted=False))
    sum((o * (i + 1)).sum() for i, o in enumerate(out)).backward()
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(s.grad.numpy(), np.full(s.shape, i + 1.0))


# ---- recurrent layers on packed input ------------------------------------------------------


def _run(m: Any, x: cr.Tensor, lengths: list[int], hx: Any = None, batch_first: bool = False,
         enforce_sorted: bool = False) -> tuple:  # fmt: skip
    packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    out, h = m(packed, hx)
    return out, (h if isinstance(h, tuple) else (h,))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_forward_direction_matches_the_padded_path(kind: str) -> None:
    """Valid outputs equal the padded module's, and each h_n is the padded output at the
    sequence's own last step (last layer) -- the padded path cannot see where a sequence
    ends, so its h_n differs for all but the longest ones."""
    m = _make(kind, 3, 4, num_layers=2).double()
    x_np = np.nan_to_num(_padded(LENGTHS, seed=3))
    out, h = _run(m, cr.tensor(x_np), LENGTHS)
    padded, lens = pad_packed_sequence(out)
    assert lens.tolist() == LENGTHS
    ref, _ = m(cr.tensor(x_np))
    for b, n in enumerate(LENGTHS):
        np.testing.assert_allclose(padded.numpy()[:n, b], ref.numpy()[:n, b], rtol=1e-12)
        np.testing.assert_array_equal(padded.numpy()[n:, b], 0.0)
        np.testing.assert_allclose(h[0].numpy()[1, b], ref.numpy()[n - 1, b], rtol=1e-12)
        _, h1 = m(cr.tensor(x_np[:n, b : b + 1]))  # the sequence alone
        h1 = h1 if isinstance(h1, tuple) else (h1,)
        for s, s1 in zip(h, h1):
            np.testing.assert_allclose(s.numpy()[:, b], s1.numpy()[:, 0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_padding_values_change_nothing(kind: str) -> None:
    m = _make(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x_np = np.nan_to_num(_padded(LENGTHS, batch_first=True, seed=4), nan=0.0)
    noisy = np.where(np.isnan(_padded(LENGTHS, batch_first=True, seed=4)), 1e3, x_np)
    a, ha = _run(m, cr.tensor(x_np, requires_grad=True), LENGTHS, batch_first=True)
    xb = cr.tensor(noisy, requires_grad=True)
    b, hb = _run(m, xb, LENGTHS, batch_first=True)
    np.testing.assert_array_equal(a.data.numpy(), b.data.numpy())
    for s, t in zip(ha, hb):
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    (b.data.sum() + sum(s.sum() for s in hb)).backward()
    for i, n in enumerate(LENGTHS):
        np.testing.assert_array_equal(xb.grad.numpy()[i, n:], 0.0)
        assert np.abs(xb.grad.numpy()[i, :n]).min() > 0


def test_gradcheck_and_forward_mode_through_pack_lstm_pad() -> None:
    lengths = [2, 3, 1]
    rng = np.random.default_rng(5)
    m = LSTM(2, 2, bidirectional=True).double()
    x = cr.tensor(np.nan_to_num(_padded(lengths, 2, seed=5)))
    h0 = cr.tensor(rng.standard_normal((2, 3, 2)) * 0.5)
    c0 = cr.tensor(rng.standard_normal((2, 3, 2)) * 0.5)
    w = cr.tensor(rng.standard_normal((3, 3, 4)))

    def f(x: cr.Tensor, h0: cr.Tensor, c0: cr.Tensor) -> tuple:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, (h, c) = m(packed, (h0, c0))
        return (pad_packed_sequence(out)[0] * w).sum(axis=(0, 2)), h, c

    assert cr.gradcheck(f, (x, h0, c0), atol=1e-6, rtol=1e-5)  # reverse, forward and numeric
    assert cr.gradgradcheck(lambda x: f(x, h0, c0)[0], (x,), atol=1e-5, rtol=1e-4)

    gru = GRU(2, 2, bidirectional=True, batch_first=True).double()

    def g(x: cr.Tensor) -> cr.Tensor:
        packed = pack_padded_sequence(x, [3, 1, 2], batch_first=True, enforce_sorted=False)
        out, h = gru(packed)
        return cr.concatenate([out.data.reshape((-1,)), h.reshape((-1,))])

    x2 = cr.tensor(np.nan_to_num(_padded([3, 1, 2], 2, batch_first=True, seed=6)))
    fwd = cr.jacobian(g, x2, mode="fwd").numpy()
    rev = cr.jacobian(g, x2, mode="rev").numpy()
    np.testing.assert_allclose(fwd, rev, rtol=1e-10, atol=1e-12)
    assert np.abs(fwd[:, 1, 1:]).max() == 0 < np.abs(fwd[:, 1, 0]).max()  # 1-step sequence


def test_dropout_between_layers_on_packed_input() -> None:
    m = GRU(3, 4, num_layers=2, dropout=0.5).double()
    x = cr.tensor(np.nan_to_num(_padded(LENGTHS, seed=7)))
    m.eval()
    a, _ = _run(m, x, LENGTHS)
    b, _ = _run(m, x, LENGTHS)
    np.testing.assert_array_equal(a.data.numpy(), b.data.numpy())
    m.train()
    cr.manual_seed(0)
    c, _ = _run(m, x, LENGTHS)
    assert c.data.shape == a.data.shape and not np.allclose(a.data.numpy(), c.data.numpy())


# ---- errors ---------------------------------------------------------------------------------


def test_bad_inputs_are_clear_errors() -> None:
    x = cr.zeros(4, 3, 2)
    with pytest.raises(ArgumentError, match=r"decreasing order .* \[2, 4, 1\]; pass "
                                            r"enforce_sorted=False"):  # fmt: skip
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ArgumentError, match=r"at least one step, but lengths\[1\] = 0"):
        pack_padded_sequence(x, [4, 0, 1], enforce_sorted=False)
    with pytest.raises(cr.ShapeError, match=r"lengths\[0\] = 5 is longer than the 4 steps"):
        pack_padded_sequence(x, [5, 4, 1])
    with pytest.raises(cr.ShapeError, match=r"got 2 lengths for a batch of 3 sequences"):
        pack_padded_sequence(x, [4, 1])
    with pytest.raises(cr.ShapeError, match=r"got 2 lengths for a batch of 3 .*\(3, 4, 2\)"):
        pack_padded_sequence(cr.zeros(3, 4, 2), [4, 1], batch_first=True)
    with pytest.raises(cr.ShapeError, match=r"lengths must be 1-D .* shape \(1, 3\)"):
        pack_padded_sequence(x, [[4, 2, 1]])
    with pytest.raises(cr.DTypeError, match=r"lengths must be integers, got dtype float64"):
        pack_padded_sequence(x, [4, 2.5, 1])
    with pytest.raises(cr.ShapeError, match=r"expected a padded batch \(T, B, \*\)"):
        pack_padded_sequence(cr.zeros(4), [4])
    packed = pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(cr.ShapeError, match=r"total_length=3 is shorter than the longest "
                                            r"sequence \(4 steps\)"):  # fmt: skip
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(ArgumentError, match="expected a PackedSequence, got Tensor"):
        pad_packed_sequence(x)
    with pytest.raises(cr.ShapeError, match="empty list of sequences"):
        pack_sequence([])
    with pytest.raises(ArgumentError, match=r"lengths\[1\] = 0"):
        pack_sequence([np.ones((2, 1)), np.ones((0, 1))])
    with pytest.raises(ArgumentError, match=r"got \[1, 2\]; pass enforce_sorted=False"):
        pack_sequence([np.ones((1, 1)), np.ones((2, 1))])
    with pytest.raises(cr.ShapeError, match=r"sequence 1 has shape \(2, 2\)"):
        pack_sequence([np.ones((2, 1)), np.ones((2, 2))])
    m = LSTM(2, 5, num_layers=2)
    h = cr.zeros(2, 2, 5)
    with pytest.raises(cr.ShapeError, match=r"h0 must have shape \(2, 3, 5\) .* packed input "
                                            r"of 3 sequences, got \(2, 2, 5\)"):  # fmt: skip
        m(packed, (h, h))
    with pytest.raises(cr.ShapeError, match=r"c0 must have shape \(2, 3, 5\)"):
        m(packed, (cr.zeros(2, 3, 5), h))
    with pytest.raises(cr.ShapeError, match=r"\(sum\(lengths\), input_size=3\), got shape "
                                            r"\(7, 2\)"):  # fmt: skip
        GRU(3, 4)(packed)


# ---- against torch --------------------------------------------------------------------------

CONFIGS = [
    {"num_layers": 1},
    {"num_layers": 2, "bidirectional": True},
    {"num_layers": 1, "bidirectional": True, "batch_first": True},
    {"num_layers": 2, "batch_first": True, "sorted": True},
]


def _torch_module(torch: Any, kind: str, m: Any, kwargs: dict) -> Any:
    cls = {"RNN": torch.nn.RNN, "RNN_RELU": torch.nn.RNN, "LSTM": torch.nn.LSTM,
           "GRU": torch.nn.GRU}[kind]  # fmt: skip
    extra = {"nonlinearity": "relu"} if kind == "RNN_RELU" else {}
    tm = cls(m.input_size, m.hidden_size, **kwargs, **extra)
    tm.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in m.state_dict().items()})
    return tm


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["RNN", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_modules_match_torch(kind: str, config: int, with_state: bool) -> None:
    torch = pytest.importorskip("torch")
    kwargs = dict(CONFIGS[config])
    enforce_sorted = kwargs.pop("sorted", False)
    batch_first = kwargs.get("batch_first", False)
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    cr.manual_seed(config)
    m = _make(kind, 3, 4, **kwargs).double()
    tm = _torch_module(torch, kind, m, kwargs).double()
    rng = np.random.default_rng(config)
    x_np = np.nan_to_num(_padded(lengths, batch_first=batch_first, seed=config))
    D = 2 if kwargs.get("bidirectional") else 1
    states = [rng.standard_normal((D * kwargs["num_layers"], len(lengths), 4))
              for _ in range(2 if kind == "LSTM" else 1)]  # fmt: skip
    x, tx = cr.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    hs = [cr.tensor(s, requires_grad=True) for s in states]
    ths = [torch.tensor(s, requires_grad=True) for s in states]
    hx = thx = None
    if with_state:
        hx, thx = (tuple(hs), tuple(ths)) if kind == "LSTM" else (hs[0], ths[0])
    tr = torch.nn.utils.rnn
    out, h_n = _run(m, x, lengths, hx, batch_first, enforce_sorted)
    tout, th_n = tm(tr.pack_padded_sequence(tx, torch.tensor(lengths), batch_first,
                                            enforce_sorted), thx)  # fmt: skip
    th_n = th_n if isinstance(th_n, tuple) else (th_n,)
    assert isinstance(out, PackedSequence)
    for a, b in zip(out[1:], tout[1:]):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    padded, lens = pad_packed_sequence(out, batch_first)
    tpadded, tlens = tr.pad_packed_sequence(tout, batch_first)
    assert lens.tolist() == tlens.tolist()
    np.testing.assert_allclose(padded.numpy(), tpadded.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(h_n, th_n):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    cts = [rng.standard_normal(o.shape) for o in (out.data, *h_n)]
    sum((o * cr.tensor(c)).sum() for o, c in zip((out.data, *h_n), cts)).backward()
    sum((o * torch.from_numpy(c)).sum() for o, c in zip((tout.data, *th_n), cts)).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    if with_state:
        for a, b in zip(hs, ths):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)  # fmt: skip


@pytest.mark.torch
def test_float32_packed_lstm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    m = LSTM(3, 4, num_layers=2, bidirectional=True)
    tm = _torch_module(torch, "LSTM", m, {"num_layers": 2, "bidirectional": True})
    seqs = [np.random.default_rng(i).standard_normal((n, 3)).astype(np.float32)
            for i, n in enumerate(LENGTHS)]  # fmt: skip
    out, (h, c) = m(pack_sequence(seqs, enforce_sorted=False))
    tout, (th, tc) = tm(torch.nn.utils.rnn.pack_sequence([torch.from_numpy(s) for s in seqs],
                                                         enforce_sorted=False))  # fmt: skip
    assert out.data.dtype == np.float32
    for a, b in ((out.data, tout.data), (h, th), (c, tc)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
