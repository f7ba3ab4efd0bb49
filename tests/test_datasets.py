"""cr.datasets.digits(): the data shipped inside the package, and its integrity check."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import datasets


def test_digits_shapes_dtypes_and_range() -> None:
    X, y = cr.datasets.digits()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert y.shape == (1797,)
    assert y.dtype == np.int64
    assert X.min() == 0.0
    assert X.max() == 1.0
    # intensities were 0..16, so every value is a multiple of 1/16
    np.testing.assert_array_equal(X * 16, np.round(X * 16))


def test_digits_labels_are_balanced_0_to_9() -> None:
    _, y = cr.datasets.digits()
    counts = np.bincount(y)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert counts.sum() == 1797


def test_digits_first_image_is_a_zero() -> None:
    X, y = cr.datasets.digits()
    assert y[0] == 0
    first = X[0].reshape(8, 8) * 16
    assert first[0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]


def test_digits_returns_fresh_arrays() -> None:
    X1, y1 = cr.datasets.digits()
    X1[:] = -1
    y1[:] = -1
    X2, y2 = cr.datasets.digits()
    assert X2.min() == 0.0
    assert y2.min() == 0


def test_shipped_file_matches_its_hash() -> None:
    assert datasets.sha256_of(datasets.DIGITS_PATH) == datasets.DIGITS_SHA256


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "digits.csv.gz"
    shutil.copyfile(datasets.DIGITS_PATH, dst)
    return dst


def test_corrupted_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(datasets, "DIGITS_PATH", path)
    with pytest.raises(datasets.DatasetError) as info:
        cr.datasets.digits()
    msg = str(info.value)
    assert str(path) in msg
    assert datasets.DIGITS_SHA256 in msg
    assert datasets.sha256_of(path) in msg
    assert isinstance(info.value, cr.ChainruleError)
    assert isinstance(info.value, ValueError)


def test_truncated_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _copy(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    monkeypatch.setattr(datasets, "DIGITS_PATH", path)
    with pytest.raises(datasets.DatasetError, match="SHA-256"):
        cr.datasets.digits()


def test_altered_but_valid_gzip_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-formed file with one label changed still fails: the hash covers the content."""
    path = _copy(tmp_path)
    text = gzip.decompress(path.read_bytes()).replace(b",0\n", b",1\n", 1)
    path.write_bytes(gzip.compress(text))
    monkeypatch.setattr(datasets, "DIGITS_PATH", path)
    with pytest.raises(ValueError, match="integrity"):
        cr.datasets.digits()


def test_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "DIGITS_PATH", tmp_path / "nowhere.csv.gz")
    with pytest.raises(datasets.DatasetError, match="missing"):
        cr.datasets.digits()
