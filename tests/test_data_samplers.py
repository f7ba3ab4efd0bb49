"""cr.data samplers, dataset combinators, default_collate and the DataLoader's sampler=,
batch_sampler=, collate_fn= and IterableDataset support (semantics, and torch where it is
deterministic)."""

from __future__ import annotations

from collections import Counter, namedtuple

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataError,
    DataLoader,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
)


class Stream(IterableDataset):
    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(self.start, self.stop):
            yield np.float32(i), i


class SizedStream(Stream):
    def __len__(self) -> int:
        return self.stop - self.start


# ---- samplers -----------------------------------------------------------------------------


def test_sequential_sampler() -> None:
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5
    assert isinstance(s, Sampler)


def test_random_sampler_permutations_and_num_samples() -> None:
    data = list(range(20))
    s = RandomSampler(data)
    a, b = list(s), list(s)
    assert sorted(a) == data and sorted(b) == data and a != b and len(s) == 20
    assert all(type(i) is int for i in a)
    s = RandomSampler(data, num_samples=45)  # two whole permutations, then 5
    got = list(s)
    assert len(got) == 45 == len(s)
    assert sorted(got[:20]) == data and sorted(got[20:40]) == data
    assert len(set(got[40:])) == 5
    s = RandomSampler(range(3), replacement=True, num_samples=3000)
    got = list(s)
    assert len(got) == 3000 and set(got) == {0, 1, 2}
    assert max(Counter(got).values()) < 1200


def test_random_sampler_rng() -> None:
    cr.manual_seed(5)
    a = list(RandomSampler(range(50)))
    cr.manual_seed(5)
    b = list(RandomSampler(range(50)))
    assert a == b
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    cr.manual_seed(0)
    c = list(RandomSampler(range(50), generator=g1))
    cr.manual_seed(99)
    assert c == list(RandomSampler(range(50), generator=g2))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_samples": 0}, "num_samples=0"), ({"num_samples": -3}, "num_samples=-3"),
     ({"num_samples": 2.5}, "num_samples=2.5"), ({"replacement": 1}, "replacement=1"),
     ({"generator": 3}, "generator")],
)  # fmt: skip
def test_random_sampler_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        RandomSampler(range(5), **kwargs)


def test_random_sampler_on_empty_dataset() -> None:
    with pytest.raises(DataError, match="num_samples"):
        RandomSampler([])


def test_subset_random_sampler() -> None:
    idx = [3, 7, 11, 42]
    s = SubsetRandomSampler(idx)
    orders = {tuple(s) for _ in range(30)}
    assert all(sorted(o) == idx for o in orders) and len(orders) > 1 and len(s) == 4
    g = np.random.default_rng(0)
    assert sorted(SubsetRandomSampler(np.array(idx), generator=g)) == idx


def test_weighted_sampler_frequencies() -> None:
    w = np.array([1.0, 0.0, 3.0, 6.0])
    n = 20_000
    got = list(WeightedRandomSampler(w, n, generator=np.random.default_rng(0)))
    assert len(got) == n and all(type(i) is int for i in got)
    counts = np.bincount(got, minlength=4)
    assert counts[1] == 0
    expected = n * w / w.sum()
    mask = w > 0
    chi2 = (((counts - expected) ** 2)[mask] / expected[mask]).sum()
    assert chi2 < 16.3  # chi-square, 2 degrees of freedom, p = 0.0003


def test_weighted_sampler_without_replacement() -> None:
    w = [0.5, 0.0, 1.0, 2.0, 0.1]
    for _ in range(20):
        got = list(WeightedRandomSampler(w, 4, replacement=False))
        assert sorted(got) == [0, 2, 3, 4]
    got = list(WeightedRandomSampler(cr.tensor(w), 2, replacement=False))
    assert len(set(got)) == 2 and 1 not in got


@pytest.mark.parametrize(
    "weights, num_samples, replacement, match",
    [([1.0, -1.0], 2, True, r"weights\[1\] = -1.0"), ([0.0, 0.0], 2, True, "sum to 0"),
     ([1.0, float("nan")], 2, True, "finite"), ([[1.0]], 1, True, "1-D"),
     ([], 1, True, "1-D"), ([1.0, 2.0], 0, True, "num_samples=0"),
     ([1.0, 2.0], -1, True, "num_samples=-1"), ([1.0, 2.0], 1.0, True, "num_samples=1.0"),
     ([1.0, 0.0], 2, False, "without replacement"), ([1.0], 1, "yes", "replacement='yes'")],
)  # fmt: skip
def test_weighted_sampler_bad_arguments(
    weights: list, num_samples: object, replacement: object, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        WeightedRandomSampler(weights, num_samples, replacement=replacement)  # type: ignore[arg-type]


def test_batch_sampler() -> None:
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    for bs in (0, -2, 1.5, True, None):
        with pytest.raises(DataError, match="batch_size"):
            BatchSampler(range(7), bs, False)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="drop_last=0"):
        BatchSampler(range(7), 2, 0)  # type: ignore[arg-type]


@pytest.mark.torch
@pytest.mark.parametrize("n", [0, 1, 7, 12])
@pytest.mark.parametrize("bs", [1, 3, 5, 12, 13])
@pytest.mark.parametrize("drop", [False, True])
def test_batch_sampler_matches_torch(n: int, bs: int, drop: bool) -> None:
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    theirs = tu.BatchSampler(tu.SequentialSampler(range(n)), bs, drop)
    ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


# ---- combinators --------------------------------------------------------------------------


def test_concat_dataset() -> None:
    a, b, c = list(range(3)), list(range(10, 15)), list(range(20, 22))
    ds = ConcatDataset([a, b, c])
    assert len(ds) == 10 and ds.cumulative_sizes == [3, 8, 10]
    assert [ds[i] for i in range(10)] == a + b + c
    assert [ds[i] for i in range(-10, 0)] == a + b + c
    with pytest.raises(cr.IndexingError, match="index 10 is out of range"):
        ds[10]
    with pytest.raises(cr.IndexingError, match="index -11"):
        ds[-11]
    assert list(ds) == a + b + c  # iteration ends at IndexError
    with pytest.raises(DataError, match="empty"):
        ConcatDataset([])
    with pytest.raises(DataError, match=r"datasets\[1\] is an IterableDataset"):
        ConcatDataset([a, Stream(0, 2)])
    with pytest.raises(DataError, match=r"datasets\[0\] must support len"):
        ConcatDataset([5])
    both = TensorDataset(np.arange(3)) + TensorDataset(np.arange(4))
    assert isinstance(both, ConcatDataset) and len(both) == 7


@pytest.mark.torch
def test_concat_dataset_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    parts = [list(range(4)), [], list(range(100, 103)), list(range(200, 201))]
    theirs = torch.utils.data.ConcatDataset(parts)
    ours = ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert len(ours) == len(theirs)
    for i in range(-len(ours), len(ours)):
        assert ours[i] == theirs[i]


def test_chain_dataset() -> None:
    ch = ChainDataset([SizedStream(0, 3), SizedStream(10, 12)])
    assert [y for _, y in ch] == [0, 1, 2, 10, 11]
    assert [y for _, y in ch] == [0, 1, 2, 10, 11]  # iterable again
    assert len(ch) == 5
    with pytest.raises(TypeError):
        len(ChainDataset([Stream(0, 3)]))
    with pytest.raises(DataError, match=r"datasets\[1\] must be an IterableDataset"):
        ChainDataset([Stream(0, 1), [1, 2]])
    lazy = ChainDataset(d for d in [Stream(0, 1), [1, 2]])
    with pytest.raises(DataError, match="IterableDataset"):
        list(lazy)
    both = Stream(0, 2) + Stream(5, 6)
    assert isinstance(both, ChainDataset) and [y for _, y in both] == [0, 1, 5]


def test_iterable_dataset_is_abstract_and_unindexable() -> None:
    with pytest.raises(TypeError):
        IterableDataset()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="cannot be indexed"):
        Stream(0, 2)[0]


def test_stack_dataset() -> None:
    X, y = np.arange(12).reshape(4, 3), list("abcd")
    t = StackDataset(X, y)
    assert len(t) == 4
    x1, y1 = t[1]
    assert x1.tolist() == [3, 4, 5] and y1 == "b"
    d = StackDataset(image=X, label=y)
    assert len(d) == 4 and d[2]["label"] == "c" and d[2]["image"].tolist() == [6, 7, 8]
    with pytest.raises(DataError, match=r"different lengths .*0: 4, 1: 3"):
        StackDataset(X, y[:3])
    with pytest.raises(DataError, match="image: 4, label: 2"):
        StackDataset(image=X, label=y[:2])
    with pytest.raises(DataError, match="not both"):
        StackDataset(X, label=y)
    with pytest.raises(DataError, match="at least one"):
        StackDataset()


@pytest.mark.torch
def test_stack_dataset_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    a, b = list(range(5)), list(range(10, 15))
    assert [StackDataset(a, b)[i] for i in range(5)] == [
        torch.utils.data.StackDataset(a, b)[i] for i in range(5)
    ]
    assert [StackDataset(p=a, q=b)[i] for i in range(5)] == [
        torch.utils.data.StackDataset(p=a, q=b)[i] for i in range(5)
    ]
    with pytest.raises(ValueError):
        torch.utils.data.StackDataset(a, b[:2])
    with pytest.raises(ValueError):  # DataError is a ValueError, like torch's
        StackDataset(a, b[:2])


# ---- default_collate ----------------------------------------------------------------------


def _np(x: object) -> object:
    """torch or chainrule output -> nested Python/NumPy for comparison."""
    if isinstance(x, cr.Tensor):
        return ("T", x.data.dtype.str, x.data.tolist())
    if hasattr(x, "numpy"):
        return ("T", x.numpy().dtype.str, x.numpy().tolist())
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_np(v) for v in x])
    return x


Point = namedtuple("Point", ["x", "y"])


@pytest.mark.torch
def test_default_collate_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tc = torch.utils.data.default_collate
    batches = [
        [np.arange(3, dtype=np.int32) + i for i in range(4)],
        [np.float64(i) for i in range(3)],
        [(np.ones(2, np.float32) * i, i) for i in range(3)],
        [{"a": np.full((2, 2), i, np.float32), "b": [i, i + 1], "s": f"n{i}"} for i in range(2)],
        [[np.arange(2) + i, {"k": (i, True)}] for i in range(3)],
        [Point(np.int64(i), np.zeros(1, np.uint8)) for i in range(2)],
        ["x", "y"],
        [True, False],
    ]
    for batch in batches:
        assert _np(default_collate(batch)) == _np(tc(batch)), batch
    # Python floats: float32 in chainrule (torch gives float64); values agree
    ours, theirs = default_collate([0.5, 1.5]), tc([0.5, 1.5])
    assert ours.dtype == np.float32 and ours.data.tolist() == theirs.tolist()
    # chainrule Tensors are stacked like torch tensors
    tensors = [cr.tensor([1.0, 2.0]) * i for i in range(3)]
    np.testing.assert_array_equal(
        default_collate(tensors).data, tc([torch.tensor([1.0, 2.0]) * i for i in range(3)])
    )
    assert isinstance(default_collate([Point(1, 2)] * 2), Point)


def test_default_collate_errors() -> None:
    with pytest.raises(DataError, match="same length"):
        default_collate([[1, 2], [1]])
    with pytest.raises(cr.ShapeError, match=r"\(2,\), \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="found"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="dtype"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(DataError, match="empty"):
        default_collate([])


# ---- DataLoader with samplers, batch samplers, collate_fn, IterableDataset ----------------


def _ys(loader: DataLoader) -> list[list[int]]:
    return [b[1].data.tolist() for b in loader]


def test_loader_with_sampler_and_batch_sampler() -> None:
    X, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    ds = TensorDataset(X, y)
    loader = DataLoader(ds, batch_size=3, sampler=SubsetRandomSampler([1, 4, 5, 8, 9]))
    got = _ys(loader)
    assert [len(b) for b in got] == [3, 2] and sorted(i for b in got for i in b) == [1, 4, 5, 8, 9]
    assert len(loader) == 2
    bs = BatchSampler(SequentialSampler(ds), 4, drop_last=True)
    loader = DataLoader(ds, batch_sampler=bs)
    assert _ys(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(loader) == 2
    assert loader.batch_size is None and loader.drop_last is False
    # a generic dataset goes through the same sampler path
    loader = DataLoader(list(zip(X, y)), batch_sampler=[[9, 0], [3]])
    assert _ys(loader) == [[9, 0], [3]]
    xb = next(iter(loader))[0]
    np.testing.assert_array_equal(xb.data, X[[9, 0]])
    cr.manual_seed(3)
    a = _ys(DataLoader(ds, batch_size=4, sampler=RandomSampler(ds)))
    cr.manual_seed(3)
    assert a == _ys(DataLoader(ds, batch_size=4, sampler=RandomSampler(ds)))
    w = WeightedRandomSampler([0, 1, 0, 0, 0, 0, 0, 0, 0, 1], 6)
    assert {i for b in _ys(DataLoader(ds, batch_size=2, sampler=w)) for i in b} <= {1, 9}


def test_loader_with_collate_fn() -> None:
    ds = TensorDataset(np.arange(6, dtype=np.float32), np.arange(6))
    loader = DataLoader(ds, batch_size=4, collate_fn=lambda samples: len(samples))
    assert list(loader) == [4, 2]
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0, collate_fn=default_collate)
    plain = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    for ours, ref in zip(loader, plain):
        assert isinstance(ours, list)
        assert ours[1].data.tolist() == ref[1].data.tolist()
    dicts = StackDataset(x=np.arange(4.0), y=np.arange(4))
    batch = next(iter(DataLoader(dicts, batch_size=4, collate_fn=default_collate)))
    assert batch["y"].data.tolist() == [0, 1, 2, 3]


def test_loader_over_iterable_dataset() -> None:
    loader = DataLoader(Stream(0, 7), batch_size=3)
    assert _ys(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _ys(DataLoader(Stream(0, 7), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError):
        len(loader)
    assert len(DataLoader(SizedStream(0, 7), batch_size=3)) == 3
    assert len(DataLoader(SizedStream(0, 7), batch_size=3, drop_last=True)) == 2
    chained = DataLoader(ChainDataset([Stream(0, 2), Stream(5, 7)]), batch_size=3)
    assert _ys(chained) == [[0, 1, 5], [6]]
    loader = DataLoader(Stream(0, 7), batch_size=2)
    state = None
    for i, _ in enumerate(loader):
        if i == 1:
            state = loader.state_dict()
            break
    assert state == {"epoch": 0, "batch": 2, "seed": None}
    resumed = DataLoader(Stream(0, 7), batch_size=2)
    resumed.load_state_dict(state)
    assert _ys(resumed) == [[4, 5], [6]]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"shuffle": True}, "shuffle"), ({"sampler": [0, 1]}, "sampler"),
     ({"batch_sampler": [[0]]}, "batch_sampler")],
)  # fmt: skip
def test_iterable_dataset_rejects_order_options(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=f"IterableDataset: expected unspecified {match}"):
        DataLoader(Stream(0, 3), **kwargs)


def test_incompatible_loader_arguments() -> None:
    ds = TensorDataset(np.arange(5))
    with pytest.raises(DataError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SequentialSampler(ds))
    bs = BatchSampler(SequentialSampler(ds), 2, False)
    for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"drop_last": True},
                   {"sampler": SequentialSampler(ds)}):  # fmt: skip
        with pytest.raises(DataError, match="batch_sampler option is mutually exclusive"):
            DataLoader(ds, batch_sampler=bs, **kwargs)
    with pytest.raises(DataError, match="collate_fn must be callable"):
        DataLoader(ds, collate_fn=3)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="sampler must be an iterable"):
        DataLoader(ds, sampler=3)  # type: ignore[arg-type]


def test_loader_without_batching_yields_samples() -> None:
    X = np.arange(10, dtype=np.float32).reshape(5, 2)
    y = np.arange(5, dtype=np.int32)
    ds = TensorDataset(X, y)
    loader = DataLoader(ds, batch_size=None)
    assert len(loader) == 5 and loader.batch_size is None and loader.drop_last is False
    items = list(loader)
    assert len(items) == 5
    for i, (xi, yi) in enumerate(items):
        assert (
            xi.shape == (2,) and xi.dtype == np.float32 and yi.shape == () and yi.dtype == np.int64
        )
        np.testing.assert_array_equal(xi.data, X[i])
        assert int(yi.item()) == i
    items[0][0].data[...] = -1  # samples are copies: the dataset keeps its values
    assert X[0, 0] == 0
    # shuffle uses the epoch's permutation, the same one batch_size=1 walks through
    one = [int(b[1].item()) for b in DataLoader(ds, batch_size=1, shuffle=True, seed=4)]
    none = [int(b[1].item()) for b in DataLoader(ds, batch_size=None, shuffle=True, seed=4)]
    assert none == one and sorted(none) == [0, 1, 2, 3, 4] and none != [0, 1, 2, 3, 4]
    picked = DataLoader(ds, batch_size=None, sampler=[4, 0, 4])
    assert len(picked) == 3 and [int(b[1].item()) for b in picked] == [4, 0, 4]
    raw = DataLoader(ds, batch_size=None, collate_fn=lambda sample: sample)
    assert all(type(s) is tuple and s[1].dtype == np.int32 for s in raw)
    floats = list(DataLoader([0.5, 1.5], batch_size=None))
    assert [(f.dtype, f.shape, float(f.item())) for (f,) in floats] == [
        (np.float32, (), 0.5), (np.float32, (), 1.5)]  # fmt: skip
    stream = DataLoader(Stream(0, 3), batch_size=None)
    assert [int(b[1].item()) for b in stream] == [0, 1, 2]


def test_loader_without_batching_resumes() -> None:
    ds = TensorDataset(np.arange(6))
    loader = DataLoader(ds, batch_size=None, shuffle=True, seed=1)
    seen = []
    for (v,) in loader:
        seen.append(int(v.item()))
        if len(seen) == 2:
            state = loader.state_dict()
            break
    assert state == {"epoch": 0, "batch": 2, "seed": 1}
    resumed = DataLoader(ds, batch_size=None, shuffle=True, seed=1)
    resumed.load_state_dict(state)
    full = [int(v.item()) for (v,) in DataLoader(ds, batch_size=None, shuffle=True, seed=1)]
    assert seen + [int(v.item()) for (v,) in resumed] == full


def test_loader_takes_torch_worker_arguments() -> None:
    ds = TensorDataset(np.arange(4))
    loader = DataLoader(ds, batch_size=2, num_workers=0, pin_memory=True)
    assert [b[0].data.tolist() for b in loader] == [[0, 1], [2, 3]]
    assert loader.num_workers == 0 and loader.pin_memory is True
    with pytest.raises(DataError, match="num_workers=2 is not supported"):
        DataLoader(ds, num_workers=2)
    with pytest.raises(DataError, match="num_workers must be a non-negative int, got -1"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(DataError, match="pin_memory must be a bool, got 'yes'"):
        DataLoader(ds, pin_memory="yes")


def test_loader_without_batching_rejects_drop_last() -> None:
    with pytest.raises(DataError, match="batch_size=None turns batching off"):
        DataLoader(list(range(3)), batch_size=None, drop_last=True)
    with pytest.raises(DataError, match="positive int or None, got 0"):
        DataLoader(list(range(3)), batch_size=0)


@pytest.mark.torch
def test_loader_without_batching_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    order = [5, 1, 3, 0]
    theirs = tu.DataLoader(tu.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                           batch_size=None, sampler=order)  # fmt: skip
    ours = DataLoader(TensorDataset(X, y), batch_size=None, sampler=order)
    assert len(ours) == len(theirs) == 4
    for (tx, ty), (ox, oy) in zip(theirs, ours, strict=True):
        np.testing.assert_array_equal(ox.data, tx.numpy())
        assert ox.shape == tuple(tx.shape) and oy.shape == tuple(ty.shape) == ()
        assert int(oy.item()) == int(ty.item())


@pytest.mark.torch
def test_loader_errors_match_torch() -> None:
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    ds = list(range(5))
    cases = [
        {"shuffle": True, "sampler": tu.SequentialSampler(ds)},
        {"batch_size": 2, "batch_sampler": [[0]]},
        {"drop_last": True, "batch_sampler": [[0]]},
        {"batch_size": None, "drop_last": True},
        {"batch_size": None, "batch_sampler": [[0]]},
    ]
    for kwargs in cases:
        with pytest.raises(ValueError):
            tu.DataLoader(ds, **kwargs)
        with pytest.raises(ValueError):
            DataLoader(ds, **kwargs)


@pytest.mark.torch
def test_loader_with_sequential_batch_sampler_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tu = torch.utils.data
    X = np.arange(22, dtype=np.float32).reshape(11, 2)
    theirs = tu.DataLoader(tu.TensorDataset(torch.from_numpy(X)), batch_size=4)
    ours = DataLoader(TensorDataset(X), sampler=SequentialSampler(range(11)), batch_size=4)
    for (t,), (o,) in zip(theirs, ours, strict=True):
        np.testing.assert_array_equal(o.data, t.numpy())
