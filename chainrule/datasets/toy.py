"""Small synthetic datasets for seeing a network learn: 2-D classification sets
(``xor``, ``circles``, ``moons``, ``spirals``, ``gaussians``) and a 1-D regression set
(``sine``).

Every function takes ``n`` (the total number of points), ``noise`` and ``seed``. With
``seed=None`` the points are drawn from chainrule's global generator, so
``cr.manual_seed`` makes them repeatable; an int seed gives the same set every time.
Classification sets return ``X`` float32 of shape (n, 2) and ``y`` int64 in 0..K-1 with
the classes as equal in size as ``n`` allows, in shuffled order.
"""

from __future__ import annotations

import numpy as np

from chainrule import backend
from chainrule.datasets._files import DatasetError

__all__ = ["circles", "gaussians", "moons", "sine", "spirals", "xor"]


def _rng(seed: int | None) -> np.random.Generator:
    return backend.rng() if seed is None else np.random.default_rng(seed)


def _check(name: str, n: int, noise: float, classes: int = 2) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise DatasetError(f"{name}: n must be a positive int, got {n!r}")
    if not np.isfinite(noise) or noise < 0:
        raise DatasetError(f"{name}: noise must be >= 0, got {noise!r}")
    if isinstance(classes, bool) or not isinstance(classes, int | np.integer) or classes < 1:
        raise DatasetError(f"{name}: classes must be a positive int, got {classes!r}")


def _class_sizes(n: int, k: int) -> list[int]:
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def _finish(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, shuffle: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    if shuffle:
        perm = rng.permutation(len(y))
        X, y = X[perm], y[perm]
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)


def xor(n: int = 200, noise: float = 0.1, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The XOR problem: points near the corners (0,0), (0,1), (1,0), (1,1), labelled
    ``x1 XOR x2``, with Gaussian noise of standard deviation ``noise`` on each coordinate.

    The corners are taken in that order, cyclically, so ``xor(4, noise=0)`` is the truth
    table itself: X = [[0,0],[0,1],[1,0],[1,1]], y = [0,1,1,0].
    """
    _check("xor", n, noise)
    rng = _rng(seed)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    which = np.arange(n) % 4
    X = corners[which] + noise * rng.standard_normal((n, 2))
    y = np.array([0, 1, 1, 0])[which]
    return _finish(X, y, rng, shuffle=False)


def circles(
    n: int = 200, noise: float = 0.05, seed: int | None = None, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: class 0 on the unit circle, class 1 on a circle of radius
    ``factor`` inside it, with Gaussian noise ``noise`` (as sklearn's ``make_circles``)."""
    _check("circles", n, noise)
    if not 0 < factor < 1:
        raise DatasetError(f"circles: factor must be in (0, 1), got {factor!r}")
    rng = _rng(seed)
    parts_X, parts_y = [], []
    for label, (size, radius) in enumerate(zip(_class_sizes(n, 2), (1.0, factor))):
        t = np.linspace(0, 2 * np.pi, size, endpoint=False)
        parts_X.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
        parts_y.append(np.full(size, label))
    X = np.concatenate(parts_X) + noise * rng.standard_normal((n, 2))
    return _finish(X, np.concatenate(parts_y), rng)


def moons(
    n: int = 200, noise: float = 0.1, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as sklearn's ``make_moons``): class 0 is the upper
    arc centred at (0, 0), class 1 the lower arc centred at (1, 0.5); Gaussian noise
    ``noise``."""
    _check("moons", n, noise)
    rng = _rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _finish(X, y, rng)


def spirals(
    n: int = 300, noise: float = 0.2, seed: int | None = None, classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms (as in the CS231n notes): along arm ``k`` the
    radius grows from 0 to 1 while the angle turns through 4 radians, starting at
    ``2*pi*k/classes`` so the arms are evenly spaced; ``noise`` is the standard deviation
    of Gaussian noise added to the angle."""
    _check("spirals", n, noise, classes)
    rng = _rng(seed)
    parts_X, parts_y = [], []
    for k, size in enumerate(_class_sizes(n, classes)):
        r = np.linspace(0.0, 1.0, size)
        start = 2 * np.pi * k / classes
        t = np.linspace(start, start + 4.0, size) + noise * rng.standard_normal(size)
        parts_X.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        parts_y.append(np.full(size, k))
    return _finish(np.concatenate(parts_X), np.concatenate(parts_y), rng)


def gaussians(
    n: int = 300, noise: float = 0.5, seed: int | None = None, classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` round Gaussian blobs of standard deviation ``noise`` whose centres are
    evenly spaced on a circle of radius 2 (class ``k`` at angle ``2*pi*k/classes``)."""
    _check("gaussians", n, noise, classes)
    rng = _rng(seed)
    angles = 2 * np.pi * np.arange(classes) / classes
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = np.concatenate([np.full(s, k) for k, s in enumerate(_class_sizes(n, classes))])
    X = centres[y] + noise * rng.standard_normal((n, 2))
    return _finish(X, y, rng)


def sine(
    n: int = 200, noise: float = 0.1, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Regression: ``x`` uniform in [-pi, pi], target ``sin(x)`` plus Gaussian noise
    ``noise``. Returns ``X`` float32 (n, 1) and ``y`` float32 (n, 1)."""
    _check("sine", n, noise)
    rng = _rng(seed)
    x = rng.uniform(-np.pi, np.pi, size=(n, 1))
    y = np.sin(x) + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)
