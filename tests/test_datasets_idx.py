"""read_idx on IDX files the tests write themselves, and mnist()/fashion_mnist() with the
download replaced by a fake server (there is no network in CI)."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.datasets import DatasetError, _files, idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}  # fmt: skip


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode ``arr`` in the IDX format (big-endian), as the MNIST files are."""
    code = CODES[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool | None = None) -> Path:
    data = idx_bytes(arr)
    if gz if gz is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download a test does not fake fails like a machine without a network."""

    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(_files, "_open_url", offline)


# ---- read_idx -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(dtype: type, gz: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((4, 3, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), arr)
    back = cr.datasets.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == (4, 3, 5)
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable


def test_read_idx_1d_and_gzip_detected_by_content(tmp_path: Path) -> None:
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    path = write_idx(tmp_path / "labels-no-suffix", labels, gz=True)
    np.testing.assert_array_equal(cr.datasets.read_idx(path), labels)
    plain = write_idx(tmp_path / "named.gz", labels, gz=False)  # a server already unzipped it
    np.testing.assert_array_equal(cr.datasets.read_idx(str(plain)), labels)


def test_read_idx_empty_dimension(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "e.idx", np.zeros((0, 28, 28), np.uint8))
    assert cr.datasets.read_idx(path).shape == (0, 28, 28)


def _expect(path: Path, *phrases: str) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        cr.datasets.read_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    for p in phrases:
        assert p in msg, msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, cr.ChainruleError)
    return info.value


def test_read_idx_bad_magic(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((2, 2), np.uint8))
    path = tmp_path / "m.idx"
    path.write_bytes(b"\x01" + good[1:])
    _expect(path, "bad magic number", "0x01000802")
    path.write_bytes(b"<html>404 Not Found</html>")
    _expect(path, "bad magic number", "not an IDX file")


def test_read_idx_unknown_type_code(tmp_path: Path) -> None:
    path = tmp_path / "t.idx"
    path.write_bytes(bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 3) + b"abc")
    _expect(path, "unknown data-type code 0x0A")


def test_read_idx_zero_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "z.idx"
    path.write_bytes(bytes([0, 0, 0x08, 0]))
    _expect(path, "0 dimensions")


def test_read_idx_truncated(tmp_path: Path) -> None:
    raw = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    path = tmp_path / "t.idx"
    path.write_bytes(raw[:-1])
    _expect(path, "truncated", "(3, 4, 5)", "60 bytes", "found 59")
    path.write_bytes(raw[:10])  # inside the dimension list
    _expect(path, "truncated in its header")
    path.write_bytes(raw[:3])
    _expect(path, "truncated")
    path.write_bytes(b"")
    _expect(path, "truncated")


def test_read_idx_trailing_bytes_mean_wrong_dims(tmp_path: Path) -> None:
    path = tmp_path / "w.idx"
    path.write_bytes(idx_bytes(np.zeros((2, 3), np.int32)) + b"\0" * 8)
    _expect(path, "8 unexpected bytes", "wrong dimensions")


def test_read_idx_dims_that_promise_too_much(tmp_path: Path) -> None:
    arr = np.zeros((2, 3), np.uint8)
    raw = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2, 4) + arr.tobytes()
    path = tmp_path / "d.idx"
    path.write_bytes(raw)
    _expect(path, "truncated", "(2, 4)")


def test_read_idx_corrupt_or_truncated_gzip(tmp_path: Path) -> None:
    gz = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int16)))
    path = tmp_path / "c.idx.gz"
    path.write_bytes(gz[: len(gz) // 2])
    _expect(path, "gzip data is corrupt or truncated")
    bad = bytearray(gz)
    bad[len(bad) // 2] ^= 0xFF
    path.write_bytes(bytes(bad))
    _expect(path, "gzip")


def test_read_idx_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.idx", "missing")
    _expect(tmp_path, "not a regular file")


# ---- MNIST-style loaders ------------------------------------------------------------------


def fake_set(n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict[str, bytes]:
    """The four .gz files of a tiny MNIST-like set."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = (np.arange(n) % 10).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=0)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=0)
    return files


def pin_hashes(monkeypatch: pytest.MonkeyPatch, source: idx.IdxSource, files: dict) -> None:
    for name, data in files.items():
        monkeypatch.setitem(source.sha256, name, hashlib.sha256(data).hexdigest())


def put(root: Path, files: dict[str, bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)


LOADERS = [(cr.datasets.mnist, idx.MNIST), (cr.datasets.fashion_mnist, idx.FASHION_MNIST)]


@pytest.mark.parametrize("loader, source", LOADERS)
def test_loads_files_found_in_root(
    loader: Callable, source: idx.IdxSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, source, files)
    put(tmp_path, files)
    X, y = loader(root=tmp_path, download=False)
    assert X.shape == (5, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (5,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert X[0, 0, 0, 0] == 0.0 and X[0, 0, 0, 1] == 1.0
    assert y.tolist() == [0, 1, 2, 3, 4]
    images = cr.datasets.read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(X[:, 0], images / np.float32(255), rtol=0, atol=0)
    Xt, yt = loader(root=str(tmp_path), train=False, download=False)
    assert Xt.shape == (3, 1, 28, 28) and yt.tolist() == [0, 1, 2]


def test_published_hashes_are_pinned() -> None:
    for source in (idx.MNIST, idx.FASHION_MNIST):
        assert sorted(source.sha256) == sorted(fake_set())
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in source.sha256.values())
    assert idx.MNIST.sha256["train-images-idx3-ubyte.gz"].startswith("440fcabf73cc546f")
    assert idx.FASHION_MNIST.sha256["train-images-idx3-ubyte.gz"].startswith("3aede38d6186")


def test_wrong_hash_is_refused_and_moved_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, idx.MNIST, files)
    put(tmp_path, files)
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(fake_set(seed=1)["train-labels-idx1-ubyte.gz"][:-3])  # truncated copy
    with pytest.raises(DatasetError, match="SHA-256") as info:
        cr.datasets.mnist(root=tmp_path, download=False)
    msg = str(info.value)
    assert str(bad) in msg and "moved aside" in msg and str(tmp_path) in msg
    assert not bad.exists()
    assert (tmp_path / "train-labels-idx1-ubyte.gz.bad").exists()
    # the good file is untouched and the test split still loads
    assert (tmp_path / "train-images-idx3-ubyte.gz").exists()
    assert cr.datasets.mnist(root=tmp_path, train=False, download=False)[0].shape[0] == 3


def test_verify_false_skips_the_hash_but_still_parses(tmp_path: Path) -> None:
    put(tmp_path, fake_set())  # hashes are the real MNIST ones: these files do not match
    with pytest.raises(DatasetError, match="SHA-256"):
        cr.datasets.mnist(root=tmp_path, download=False)
    put(tmp_path, fake_set())
    X, _ = cr.datasets.mnist(root=tmp_path, download=False, verify=False)
    assert X.shape == (5, 1, 28, 28)


@pytest.mark.parametrize(
    "images, labels, phrase",
    [
        (np.zeros((4, 28, 27), np.uint8), np.zeros(4, np.uint8), "(N, 28, 28)"),
        (np.zeros((4, 784), np.uint8), np.zeros(4, np.uint8), "(N, 28, 28)"),
        (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "uint8 images"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "4 images but"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), "labels of shape (N,)"),
        (np.zeros((4, 28, 28), np.uint8), np.full(4, 10, np.uint8), "label 10"),
    ],
)
def test_wrong_contents_are_refused(
    images: np.ndarray, labels: np.ndarray, phrase: str, tmp_path: Path
) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError) as info:
        cr.datasets.mnist(root=tmp_path, download=False, verify=False)
    assert phrase in str(info.value)


def test_missing_files_without_download_say_where_to_put_them(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as info:
        cr.datasets.fashion_mnist(root=root, download=False)
    msg = str(info.value)
    assert "download=False" in msg and str(root) in msg
    for name in fake_set():
        assert name in msg
    assert idx.FASHION_MNIST.mirrors[0] in msg


def test_default_root_is_under_the_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for loader, sub in ((cr.datasets.mnist, "mnist"), (cr.datasets.fashion_mnist, "fashion-mnist")):
        with pytest.raises(DatasetError) as info:
            loader(download=False)
        assert str(tmp_path / ".cache" / "chainrule" / sub) in str(info.value)


class FakeServer:
    """Stands in for urllib: maps URLs to bytes, or to an exception to raise."""

    def __init__(self, routes: dict[str, bytes | Exception]) -> None:
        self.routes = routes
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.calls.append(url)
        answer = self.routes.get(url, urllib.error.HTTPError(url, 404, "Not Found", None, None))
        if isinstance(answer, Exception):
            raise answer
        return io.BytesIO(answer)


def test_download_once_from_the_first_working_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, idx.MNIST, files)
    first, second = idx.MNIST.mirrors[:2]
    routes: dict[str, bytes | Exception] = {}
    for name, data in files.items():
        routes[first + name] = urllib.error.URLError("connection refused")
        routes[second + name] = data
    server = FakeServer(routes)
    monkeypatch.setattr(_files, "_open_url", server)
    root = tmp_path / "cache" / "mnist"  # created on demand
    X, _ = cr.datasets.mnist(root=root)
    assert X.shape == (5, 1, 28, 28)
    assert len(server.calls) == 4  # two files, two mirrors each
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    )
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert (root / name).read_bytes() == files[name]
    cr.datasets.mnist(root=root)  # cached: no more downloads
    assert len(server.calls) == 4


def test_download_with_wrong_bytes_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, idx.MNIST, files)
    wrong = fake_set(seed=7)
    server = FakeServer({m + n: wrong[n] for m in idx.MNIST.mirrors for n in files})
    monkeypatch.setattr(_files, "_open_url", server)
    with pytest.raises(DatasetError) as info:
        cr.datasets.mnist(root=tmp_path)
    msg = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert "SHA-256" in msg and "discarded" in msg and str(tmp_path) in msg
    assert list(tmp_path.iterdir()) == []  # nothing half-written or wrong is left


def test_interrupted_download_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, idx.MNIST, files)

    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(10)

    monkeypatch.setattr(_files, "_open_url", lambda url, timeout: Broken(b"x" * 100))
    with pytest.raises(DatasetError, match="connection reset"):
        cr.datasets.mnist(root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_network_error_says_where_to_put_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        cr.datasets.mnist(root=tmp_path / "m")
    msg = str(info.value)
    assert "network is unreachable" in msg
    for url in idx.MNIST.urls("train-images-idx3-ubyte.gz"):
        assert url in msg
    assert f"put them, still gzipped and under those names, in {tmp_path / 'm'}" in msg


def test_bad_cached_file_is_replaced_by_a_fresh_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = fake_set()
    pin_hashes(monkeypatch, idx.MNIST, files)
    put(tmp_path, files)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    server = FakeServer({idx.MNIST.mirrors[0] + n: d for n, d in files.items()})
    monkeypatch.setattr(_files, "_open_url", server)
    X, _ = cr.datasets.mnist(root=tmp_path)
    assert X.shape == (5, 1, 28, 28)
    assert server.calls == [idx.MNIST.mirrors[0] + "train-images-idx3-ubyte.gz"]
    assert (tmp_path / "train-images-idx3-ubyte.gz.bad").read_bytes() == b"garbage"
