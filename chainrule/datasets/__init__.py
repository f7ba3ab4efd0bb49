"""Datasets as NumPy arrays ``(X, y)``: the digits shipped inside the package, MNIST and
Fashion-MNIST (downloaded once into a cache), and small synthetic sets.

Every file is checked against its SHA-256 before it is parsed, so a truncated or altered
copy fails loudly instead of training on garbage. ``read_idx`` reads the IDX format
MNIST-style data comes in.

Data credit: ``digits()`` is the test set of the UCI "Optical Recognition of Handwritten
Digits" data (E. Alpaydin and C. Kaynak, 1998; UCI Machine Learning Repository,
https://archive.ics.uci.edu/dataset/80), licensed under CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/).
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from chainrule.datasets._files import DatasetError, sha256_of, verify_sha256
from chainrule.datasets.idx import fashion_mnist, mnist, read_idx
from chainrule.datasets.toy import circles, gaussians, moons, sine, spirals, xor

__all__ = [
    "DatasetError", "circles", "digits", "fashion_mnist", "gaussians", "mnist", "moons",
    "read_idx", "sha256_of", "sine", "spirals", "verify_sha256", "xor",
]  # fmt: skip

DATA_DIR = Path(__file__).resolve().parent / "data"

DIGITS_PATH = DATA_DIR / "digits.csv.gz"
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
DIGITS_SHAPE = (1797, 65)  # 64 pixels (0..16, row by row) and the label last


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten digits (8x8 images) that ship with chainrule; works offline.

    Returns ``(X, y)``: ``X`` float32 of shape (1797, 64), the pixel intensities 0..16
    scaled to [0, 1] by dividing by 16 (row-major 8x8 images, so ``X.reshape(-1, 8, 8)``
    gives the pictures); ``y`` int64 of shape (1797,), the digit 0..9. The file's SHA-256
    is checked before parsing; a mismatch raises :class:`DatasetError` (a ``ValueError``).

    Source: the test set of the UCI "Optical Recognition of Handwritten Digits" data,
    E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository; licensed under
    Creative Commons Attribution 4.0 (CC BY 4.0). This is the same set that
    ``sklearn.datasets.load_digits`` returns.
    """
    path = DIGITS_PATH
    verify_sha256(path, DIGITS_SHA256)
    try:
        with open(path, "rb") as fh:
            text = gzip.decompress(fh.read())
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DatasetError(f"data file {path} could not be parsed: {exc}") from exc
    if table.shape != DIGITS_SHAPE:
        raise DatasetError(f"data file {path}: expected shape {DIGITS_SHAPE}, got {table.shape}")
    X = (table[:, :64] / 16.0).astype(np.float32)
    y = table[:, 64].astype(np.int64)
    return X, y
