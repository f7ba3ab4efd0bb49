"""cr.data: TensorDataset, DataLoader (batching, per-epoch reshuffle, determinism, the
no-copy fast path, resumable state) and random_split."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataError, DataLoader, Dataset, Subset, TensorDataset, random_split


def _xy(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


def _epoch(loader: DataLoader) -> list[np.ndarray]:
    return [b[1].data.copy() for b in loader]


# ---- TensorDataset ------------------------------------------------------------------------


def test_tensor_dataset_indexing_and_length() -> None:
    X, y = _xy()
    ds = TensorDataset(X, y)
    assert len(ds) == 10
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3, X[3])
    assert y3 == 3
    assert ds.arrays[0] is X  # no copy of the data


def test_tensor_dataset_accepts_tensors_and_lists() -> None:
    ds = TensorDataset(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), [0, 1])
    assert ds.arrays[0].dtype == np.float32
    assert ds.arrays[1].dtype == np.int64
    assert len(ds) == 2


def test_tensor_dataset_shape_errors() -> None:
    with pytest.raises(cr.ShapeError, match="same first dimension") as info:
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    msg = str(info.value)
    assert "5" in msg and "4" in msg and "(5, 2)" in msg
    with pytest.raises(cr.ShapeError, match="0-d"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(DataError):
        TensorDataset()


def test_dataset_is_abstract() -> None:
    with pytest.raises(TypeError):
        Dataset()  # type: ignore[abstract]

    class OnlyLen(Dataset):
        def __len__(self) -> int:
            return 1

    with pytest.raises(TypeError):
        OnlyLen()  # type: ignore[abstract]


# ---- batching -----------------------------------------------------------------------------


def test_batches_in_order_with_short_last_batch() -> None:
    X, y = _xy(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert all(isinstance(t, cr.Tensor) for b in batches for t in b)
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), y)


@pytest.mark.parametrize(
    "n, bs, drop, expected",
    [(10, 4, True, 2), (12, 4, True, 3), (12, 4, False, 3), (3, 5, True, 0), (3, 5, False, 1),
     (0, 2, False, 0)],
)  # fmt: skip
def test_len_and_drop_last(n: int, bs: int, drop: bool, expected: int) -> None:
    X, y = _xy(n)
    for shuffle in (False, True):
        loader = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop, shuffle=shuffle)
        assert len(loader) == expected
        batches = list(loader)
        assert len(batches) == expected
        if drop:
            assert all(b[0].shape[0] == bs for b in batches)


def test_batch_dtypes() -> None:
    n = 6
    ds = TensorDataset(
        np.zeros((n, 2), np.float32),
        np.zeros((n, 2), np.float64),
        np.arange(n, dtype=np.int32),
        np.arange(n, dtype=np.uint8),
        np.ones(n, dtype=bool),
        np.arange(n, dtype=np.int64),
    )
    for shuffle in (False, True):
        (batch,) = list(DataLoader(ds, batch_size=n, shuffle=shuffle, seed=0))
        assert [t.dtype for t in batch] == [np.float32, np.float64, np.int64, np.int64,
                                            np.bool_, np.int64]  # fmt: skip


def test_batches_never_alias_the_dataset() -> None:
    X, y = _xy(8)
    X0 = X.copy()
    for shuffle in (False, True):
        for xb, yb in DataLoader(TensorDataset(X, y), batch_size=3, shuffle=shuffle, seed=1):
            xb.data[:] = -1
            yb.data[:] = -1
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, np.arange(8))


def test_bad_arguments() -> None:
    ds = TensorDataset(*_xy())
    for bs in (0, -1, 2.5, True, "4"):
        with pytest.raises(DataError, match="batch_size"):
            DataLoader(ds, batch_size=bs)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="seed"):
        DataLoader(ds, seed=1.5)  # type: ignore[arg-type]
    assert isinstance(DataError("x"), cr.ChainruleError) and isinstance(DataError("x"), ValueError)


@pytest.mark.parametrize("dataset", [5, None, iter([1, 2]), {1, 2}])
def test_loader_over_something_that_is_not_a_dataset(dataset: object) -> None:
    # DataLoader(5) used to fail at the first iteration with "object of type 'int' has no len()"
    name = type(dataset).__name__
    with pytest.raises(DataError, match=f"DataLoader: dataset must .* got {name}"):
        DataLoader(dataset, batch_size=2)  # type: ignore[arg-type]


def test_tensor_dataset_index_out_of_range() -> None:
    ds = TensorDataset(*_xy(4))
    with pytest.raises(cr.IndexingError, match="TensorDataset: index 10 is out of range for 4"):
        ds[10]
    with pytest.raises(cr.IndexingError, match="index -5"):
        ds[-5]
    assert ds[-1][1] == 3 and ds[np.int64(2)][1] == 2
    assert [int(y) for _, y in ds] == [0, 1, 2, 3]  # iteration stops at IndexError


# ---- shuffling and determinism ------------------------------------------------------------


def test_each_epoch_is_a_new_permutation() -> None:
    loader = DataLoader(TensorDataset(*_xy(50)), batch_size=8, shuffle=True, seed=3)
    epochs = [np.concatenate(_epoch(loader)) for _ in range(4)]
    for e in epochs:
        assert sorted(e.tolist()) == list(range(50))
    assert len({tuple(e.tolist()) for e in epochs}) == 4
    assert epochs[0].tolist() != list(range(50))


def test_same_seed_same_batches_other_seed_other_batches() -> None:
    ds = TensorDataset(*_xy(40))
    a = DataLoader(ds, batch_size=5, shuffle=True, seed=11)
    b = DataLoader(ds, batch_size=5, shuffle=True, seed=11)
    c = DataLoader(ds, batch_size=5, shuffle=True, seed=12)
    for _ in range(3):
        ea, eb, ec = _epoch(a), _epoch(b), _epoch(c)
        assert all((u == v).all() for u, v in zip(ea, eb))
        assert not all((u == v).all() for u, v in zip(ea, ec))


def test_seed_none_follows_manual_seed() -> None:
    ds = TensorDataset(*_xy(30))
    cr.manual_seed(123)
    first = [_epoch(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    cr.manual_seed(123)
    second = [_epoch(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    for e1, e2 in zip(first, second):
        assert all((u == v).all() for u, v in zip(e1, e2))
    # two loaders made one after the other draw different seeds
    assert not all((u == v).all() for u, v in zip(first[0], first[1]))


def test_unshuffled_loader_does_not_touch_the_global_rng() -> None:
    cr.manual_seed(0)
    expected = cr.randn(3).data.copy()
    cr.manual_seed(0)
    DataLoader(TensorDataset(*_xy()), batch_size=2)
    np.testing.assert_array_equal(cr.randn(3).data, expected)


# ---- the fast path ------------------------------------------------------------------------


def test_tensor_dataset_is_batched_without_per_sample_indexing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = _xy(20)
    ds = TensorDataset(X, y)
    subset = Subset(ds, np.arange(19, -1, -2))  # rows 19, 17, ..., 1

    def no(*args: object) -> None:
        raise AssertionError("per-sample __getitem__ called")

    monkeypatch.setattr(TensorDataset, "__getitem__", no)
    monkeypatch.setattr(Subset, "__getitem__", no)
    got = np.concatenate([b[1].data for b in DataLoader(ds, batch_size=6, shuffle=True, seed=0)])
    assert sorted(got.tolist()) == list(range(20))
    got = [b[1].data for b in DataLoader(subset, batch_size=4)]
    assert np.concatenate(got).tolist() == list(range(19, -1, -2))
    xb = next(iter(DataLoader(subset, batch_size=3)))[0]
    np.testing.assert_array_equal(xb.data, X[[19, 17, 15]])


def test_an_epoch_never_copies_the_whole_set() -> None:
    X = np.zeros((100_000, 100), dtype=np.float32)  # 40 MB
    y = np.zeros(100_000, dtype=np.int64)
    loader = DataLoader(TensorDataset(X, y), batch_size=500, shuffle=True, seed=0)
    tracemalloc.start()
    try:
        for _ in loader:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB for a 40 MB dataset"


# ---- generic datasets ---------------------------------------------------------------------


class Squares(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, float]:
        self.calls += 1
        return np.full((2, 2), i, dtype=np.float32), i, float(i) ** 2

    def __len__(self) -> int:
        return self.n


def test_generic_dataset_collates_with_stack() -> None:
    ds = Squares(7)
    loader = DataLoader(ds, batch_size=3, shuffle=True, seed=5)
    batches = list(loader)
    assert ds.calls == 7
    assert [b[0].shape for b in batches] == [(3, 2, 2), (3, 2, 2), (1, 2, 2)]
    xb, ib, sq = batches[0]
    assert (xb.dtype, ib.dtype, sq.dtype) == (np.float32, np.int64, np.float32)
    np.testing.assert_array_equal(xb.data[:, 0, 0], ib.data)
    np.testing.assert_array_equal(sq.data, ib.data.astype(np.float32) ** 2)
    # same order as the fast path would give for the same seed
    fast = DataLoader(TensorDataset(np.arange(7)), batch_size=3, shuffle=True, seed=5)
    assert [b[0].data.tolist() for b in fast] == [b[1].data.tolist() for b in batches]


def test_generic_single_field_and_tensor_samples() -> None:
    class Single(Dataset):
        def __getitem__(self, i: int) -> cr.Tensor:
            return cr.tensor([float(i), 2.0 * i])

        def __len__(self) -> int:
            return 3

    (batch,) = list(DataLoader(Single(), batch_size=3))
    assert isinstance(batch, tuple) and len(batch) == 1
    np.testing.assert_array_equal(batch[0].data, [[0, 0], [1, 2], [2, 4]])


def test_generic_ragged_samples_give_a_shape_error() -> None:
    class Ragged(Dataset):
        def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
            return np.zeros(i + 1), i

        def __len__(self) -> int:
            return 3

    with pytest.raises(cr.ShapeError, match="field 0"):
        list(DataLoader(Ragged(), batch_size=3))


# ---- random_split -------------------------------------------------------------------------


def test_random_split_counts_and_fractions() -> None:
    ds = TensorDataset(*_xy(10))
    parts = random_split(ds, [3, 7], seed=0)
    assert [len(p) for p in parts] == [3, 7]
    everything = np.concatenate([p.indices for p in parts])
    assert sorted(everything.tolist()) == list(range(10))
    assert [len(p) for p in random_split(ds, [0.3, 0.3, 0.4], seed=0)] == [3, 3, 4]
    assert [len(p) for p in random_split(TensorDataset(*_xy(11)), [0.5, 0.5])] == [6, 5]
    assert [len(p) for p in random_split(ds, [0.25, 0.25, 0.5])] == [3, 2, 5]
    x, _ = parts[0][0]
    np.testing.assert_array_equal(x, ds[int(parts[0].indices[0])][0])


@pytest.mark.torch
def test_random_split_matches_torch_lengths() -> None:
    torch = pytest.importorskip("torch")
    cases = [(10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.1, 0.2, 0.7]),
             (100, [0.8, 0.1, 0.1]), (10, [0.25, 0.25, 0.5])]  # fmt: skip
    for n, fracs in cases:
        theirs = torch.utils.data.random_split(range(n), fracs)
        ours = random_split(TensorDataset(np.arange(n)), fracs, seed=0)
        assert [len(p) for p in ours] == [len(p) for p in theirs]


def test_random_split_is_deterministic() -> None:
    ds = TensorDataset(*_xy(20))
    a = random_split(ds, [5, 15], seed=4)
    b = random_split(ds, [5, 15], seed=4)
    assert a[0].indices.tolist() == b[0].indices.tolist()
    cr.manual_seed(9)
    c = random_split(ds, [5, 15])
    cr.manual_seed(9)
    d = random_split(ds, [5, 15])
    assert c[0].indices.tolist() == d[0].indices.tolist()


@pytest.mark.parametrize("lengths", [[3, 3], [5, 6], [0.5, 0.6], [0.5, 0.4], [-1, 11],
                                     [], [2.0, "x"], [1.5, -0.5]])  # fmt: skip
def test_random_split_bad_lengths(lengths: list) -> None:
    with pytest.raises(DataError):
        random_split(TensorDataset(*_xy(10)), lengths)


# ---- resuming -----------------------------------------------------------------------------


def _train(loader: DataLoader, epochs: int, w: np.ndarray, stop_at: tuple[int, int] | None,
           save_to: Path | None) -> np.ndarray:  # fmt: skip
    """A stand-in for a training loop whose result depends on the exact batch order."""
    for epoch in range(loader.epoch, epochs):
        for step, (xb, yb) in enumerate(loader):
            w = 0.9 * w + (xb.data.sum(axis=0) * (yb.data + 1).sum()).astype(np.float32)
            if stop_at == (epoch, step) and save_to is not None:
                cr.save({"loader": loader.state_dict(), "w": w}, save_to)
                return w
    return w


@pytest.mark.parametrize("stop_at", [(0, 0), (1, 2), (2, 4), (1, 5)])
def test_resume_mid_epoch_is_bit_for_bit(stop_at: tuple[int, int], tmp_path: Path) -> None:
    ds = TensorDataset(*_xy(23))
    w0 = np.zeros(3, np.float32)
    full = _train(DataLoader(ds, batch_size=4, shuffle=True, seed=42), 3, w0, None, None)

    ckpt = tmp_path / "ck.st"
    first = DataLoader(ds, batch_size=4, shuffle=True, seed=42)
    _train(first, 3, w0, stop_at, ckpt)
    state = cr.load(ckpt)
    assert state["loader"]["epoch"] == stop_at[0]
    assert state["loader"]["batch"] == stop_at[1] + 1

    cr.manual_seed(777)  # a fresh process: the new loader draws some other seed
    resumed = DataLoader(ds, batch_size=4, shuffle=True)
    resumed.load_state_dict(state["loader"])
    w = state["w"]
    epoch, batch = resumed.epoch, state["loader"]["batch"]
    for xb, yb in resumed:  # the rest of the interrupted epoch
        w = 0.9 * w + (xb.data.sum(axis=0) * (yb.data + 1).sum()).astype(np.float32)
    assert batch <= len(resumed) and epoch == stop_at[0]
    w = _train(resumed, 3, w, None, None)
    assert w.tobytes() == full.tobytes()


def test_state_between_epochs_and_after_break() -> None:
    loader = DataLoader(TensorDataset(*_xy(10)), batch_size=3, shuffle=True, seed=1)
    assert loader.state_dict() == {"epoch": 0, "batch": 0, "seed": 1}
    list(loader)
    assert loader.state_dict() == {"epoch": 1, "batch": 0, "seed": 1}
    for i, _ in enumerate(loader):
        assert loader.state_dict() == {"epoch": 1, "batch": i + 1, "seed": 1}
        if i == 1:
            break
    # an abandoned epoch is over: the next iteration is epoch 2
    assert loader.state_dict() == {"epoch": 2, "batch": 0, "seed": 1}
    expected = _epoch(DataLoader(TensorDataset(*_xy(10)), batch_size=3, shuffle=True, seed=1))
    other = DataLoader(TensorDataset(*_xy(10)), batch_size=3, shuffle=True, seed=99)
    other.load_state_dict({"epoch": 0, "batch": 0, "seed": 1})
    assert all((u == v).all() for u, v in zip(_epoch(other), expected))


def test_load_state_dict_validates() -> None:
    loader = DataLoader(TensorDataset(*_xy(10)), batch_size=3, shuffle=True, seed=1)
    for bad in ({}, {"epoch": 0, "batch": 9, "seed": 1}, {"epoch": -1, "batch": 0, "seed": 1},
                {"epoch": 0, "batch": 0, "seed": None}, {"epoch": 0, "batch": 0, "seed": "x"},
                None):  # fmt: skip
        with pytest.raises(DataError):
            loader.load_state_dict(bad)  # type: ignore[arg-type]
