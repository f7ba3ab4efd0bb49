"""The synthetic datasets: shapes, dtypes, balance, geometry and seeding."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import DatasetError

D = cr.datasets
CLASSIFIERS = [(D.xor, 2), (D.circles, 2), (D.moons, 2), (D.spirals, 3), (D.gaussians, 3)]


@pytest.mark.parametrize("fn, k", CLASSIFIERS)
def test_classification_sets_shapes_dtypes_balance(fn: Callable, k: int) -> None:
    for n in (1, 7, 200, 301):
        X, y = fn(n=n, seed=0)
        assert X.shape == (n, 2) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert set(y.tolist()) <= set(range(k))
        counts = np.bincount(y, minlength=k)
        assert counts.max() - counts.min() <= 1
        assert np.isfinite(X).all()


@pytest.mark.parametrize("fn", [D.xor, D.circles, D.moons, D.spirals, D.gaussians, D.sine])
def test_seeds(fn: Callable) -> None:
    a, b, c = fn(n=50, seed=1), fn(n=50, seed=1), fn(n=50, seed=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    cr.manual_seed(3)
    d = fn(n=50)
    cr.manual_seed(3)
    e = fn(n=50)
    assert np.array_equal(d[0], e[0]) and np.array_equal(d[1], e[1])


def test_xor_truth_table() -> None:
    X, y = D.xor(n=4, noise=0.0)
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y.tolist() == [0, 1, 1, 0]
    X, y = D.xor(n=400, noise=0.1, seed=0)
    corner = np.round(X).astype(int)
    assert (np.logical_xor(corner[:, 0], corner[:, 1]) == y).mean() > 0.99


def test_circles_geometry() -> None:
    X, y = D.circles(n=100, noise=0.0, factor=0.3, seed=0)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)
    with pytest.raises(DatasetError, match="factor"):
        D.circles(factor=1.5)


def test_moons_geometry() -> None:
    X, y = D.moons(n=100, noise=0.0, seed=0)
    np.testing.assert_allclose(np.linalg.norm(X[y == 0], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(X[y == 1] - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    assert (X[y == 0, 1] >= -1e-6).all() and (X[y == 1, 1] <= 0.5 + 1e-6).all()


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_spirals_and_gaussians_take_classes(classes: int) -> None:
    for fn in (D.spirals, D.gaussians):
        X, y = fn(n=100, classes=classes, seed=0)
        assert sorted(set(y.tolist())) == list(range(classes))
    X, y = D.spirals(n=300, noise=0.0, classes=classes, seed=0)
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6


def test_gaussians_are_separable_when_tight() -> None:
    X, y = D.gaussians(n=300, noise=0.1, classes=4, seed=0)
    centres = np.stack([X[y == k].mean(axis=0) for k in range(4)])
    nearest = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).all()


def test_sine_regression() -> None:
    X, y = D.sine(n=64, noise=0.0, seed=0)
    assert X.shape == (64, 1) and y.shape == (64, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert (np.abs(X) <= np.pi).all()
    np.testing.assert_allclose(y, np.sin(X), atol=1e-6)
    _, noisy = D.sine(n=2000, noise=0.5, seed=0)
    Xn, _ = D.sine(n=2000, noise=0.5, seed=0)
    assert 0.4 < float(np.std(noisy - np.sin(Xn))) < 0.6


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": -3}, {"n": 2.5}, {"noise": -0.1},
                                    {"noise": float("nan")}])  # fmt: skip
def test_bad_arguments(kwargs: dict) -> None:
    for fn in (D.xor, D.circles, D.moons, D.spirals, D.gaussians, D.sine):
        with pytest.raises(DatasetError):
            fn(**kwargs)
    with pytest.raises(DatasetError, match="classes"):
        D.spirals(classes=0)
