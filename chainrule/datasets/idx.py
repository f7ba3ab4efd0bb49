"""The IDX file format and the MNIST-style datasets stored in it.

IDX (LeCun et al.) is a 4-byte magic number -- two zero bytes, a data-type code and the
number of dimensions -- then one big-endian uint32 per dimension, then the values,
big-endian, row-major. ``read_idx`` checks every part of that and the exact size.

``mnist()`` and ``fashion_mnist()`` keep the four standard gzipped IDX files in a cache
directory, download missing ones once from the mirrors below, and check every file by
SHA-256 before parsing it. MNIST: Y. LeCun, C. Cortes and C. J. C. Burges; Fashion-MNIST:
H. Xiao, K. Rasul and R. Vollgraf (Zalando Research, MIT licence).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np

from chainrule.datasets._files import DatasetError, download_file, sha256_of

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "IDX_DTYPES",
    "default_root",
    "fashion_mnist",
    "mnist",
    "read_idx",
]

# data-type code -> NumPy dtype (big-endian, as stored)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain, or gzip-compressed -- recognised by its content) into a
    NumPy array in native byte order with the file's dtype and shape.

    Raises :class:`DatasetError` naming the file and the fault: a missing file, a corrupt
    or truncated gzip stream, a bad magic number, an unknown data-type code, zero
    dimensions, a truncated header, or data that is shorter or longer than the dimensions
    say.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file {path} is missing (or is not a regular file)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"IDX file {path} could not be read: {exc}") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(
                f"IDX file {path}: the gzip data is corrupt or truncated ({exc})"
            ) from exc
    where = f"IDX file {path}"
    if len(raw) < 4:
        raise DatasetError(
            f"{where} is truncated: {len(raw)} bytes, too short for the 4-byte magic number"
        )
    magic = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0:
        raise DatasetError(
            f"{where} has a bad magic number 0x{magic:08X}: an IDX file starts with two zero "
            "bytes, a data-type code and the number of dimensions (not an IDX file?)"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_DTYPES.items())
        raise DatasetError(
            f"{where} has unknown data-type code 0x{code:02X} in its magic number "
            f"0x{magic:08X} (IDX codes: {known})"
        )
    if ndim == 0:
        raise DatasetError(f"{where} declares 0 dimensions in its magic number 0x{magic:08X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(
            f"{where} is truncated in its header: {ndim} dimensions need {header} bytes, "
            f"the file has {len(raw)}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = prod(dims) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DatasetError(
            f"{where} is truncated: shape {dims} of {dtype.name} needs {expected} bytes of "
            f"data after the {header}-byte header, found {found}"
        )
    if found > expected:
        raise DatasetError(
            f"{where} has {found - expected} unexpected bytes after the data for shape {dims} "
            f"of {dtype.name} ({expected} bytes expected; wrong dimensions?)"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=prod(dims), offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native order, a fresh writable array


# ---------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST


@dataclass(frozen=True)
class IdxSource:
    """Where a set of IDX files comes from and what their SHA-256 sums must be."""

    title: str
    subdir: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]  # file name -> hex SHA-256 of the .gz file
    n_classes: int = 10

    def urls(self, name: str) -> list[str]:
        return [m + name for m in self.mirrors]


# SHA-256 sums of the standard .gz files, as listed by torchvision (pytorch/vision,
# torchvision/prototype/datasets/_builtin/mnist.py) and, identically, by many other
# projects that download these files.
MNIST = IdxSource(
    title="MNIST",
    subdir="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
        "http://yann.lecun.com/exdb/mnist/",  # the original home
    ),
    sha256={
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
)

FASHION_MNIST = IdxSource(
    title="Fashion-MNIST",
    subdir="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras's mirror
    ),
    sha256={
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
)


def default_root() -> Path:
    """The cache directory the datasets live under: ``~/.cache/chainrule``."""
    return Path.home() / ".cache" / "chainrule"


def _file_names(train: bool) -> tuple[str, str]:
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _where_to_put(source: IdxSource, root: Path) -> str:
    names = ", ".join(source.sha256)
    mirrors = "\n  ".join(source.mirrors)
    return (
        f"To use {source.title} without a network, download {names} from one of\n  {mirrors}\n"
        f"and put them, still gzipped and under those names, in {root}"
    )


def _ensure_file(source: IdxSource, root: Path, name: str, download: bool, verify: bool) -> Path:
    """The path of a present (and, with ``verify``, checked) copy of ``name``, downloading
    it when allowed. A copy that fails its check is renamed to ``<name>.bad``."""
    path = root / name
    expected = source.sha256[name]
    advice = _where_to_put(source, root)
    if path.exists() and not path.is_file():
        raise DatasetError(f"{source.title} file {path} is not a regular file")
    if path.is_file():
        if not verify:
            return path
        actual = sha256_of(path)
        if actual == expected:
            return path
        bad = path.with_name(name + ".bad")
        os.replace(path, bad)
        problem = (
            f"{source.title} file {path} failed its SHA-256 check (expected {expected}, got "
            f"{actual}; truncated, corrupt or not the standard file) and was moved aside to "
            f"{bad}"
        )
        if not download:
            raise DatasetError(f"{problem}.\n{advice}")
    elif not download:
        raise DatasetError(
            f"{source.title} file {name} was not found in {root} and download=False.\n{advice}"
        )
    download_file(source.urls(name), path, expected if verify else None, advice=advice)
    return path


def _load(
    source: IdxSource, root: str | os.PathLike | None, train: bool, download: bool, verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    base = default_root() / source.subdir if root is None else Path(root).expanduser()
    image_name, label_name = _file_names(train)
    image_path = _ensure_file(source, base, image_name, download, verify)
    label_path = _ensure_file(source, base, label_name, download, verify)
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(
            f"{source.title} file {image_path} holds {images.dtype} data of shape "
            f"{images.shape}; expected uint8 images of shape (N, 28, 28)"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(
            f"{source.title} file {label_path} holds {labels.dtype} data of shape "
            f"{labels.shape}; expected uint8 labels of shape (N,)"
        )
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(
            f"{source.title}: {image_path} has {images.shape[0]} images but {label_path} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) >= source.n_classes:
        raise DatasetError(
            f"{source.title} file {label_path} has label {int(labels.max())}; expected "
            f"0..{source.n_classes - 1}"
        )
    X = images.reshape(-1, 1, 28, 28).astype(np.float32)
    X /= np.float32(255.0)
    return X, labels.astype(np.int64)


def mnist(
    root: str | os.PathLike | None = None,
    train: bool = True,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST handwritten digits: 60,000 training or (``train=False``) 10,000 test images.

    Returns ``(X, y)``: ``X`` float32 of shape (N, 1, 28, 28) in [0, 1], ``y`` int64 0..9.
    The files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` are kept in ``root``
    (default ``~/.cache/chainrule/mnist``). A missing file is downloaded once (when
    ``download``) from the mirrors in ``MNIST.mirrors`` and written atomically. Every
    file, downloaded or found, is checked against its published SHA-256 unless
    ``verify=False``; a file that fails is moved aside (``<name>.bad``) and never parsed.
    Without the files and without a network, the :class:`DatasetError` says where to
    put them.
    """
    return _load(MNIST, root, train, download, verify)


def fashion_mnist(
    root: str | os.PathLike | None = None,
    train: bool = True,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Zalando): 28x28 grey clothing images in 10 classes, as :func:`mnist`.

    Same file names, shapes, checks and errors as :func:`mnist`; files live in ``root``
    (default ``~/.cache/chainrule/fashion-mnist``) and come from ``FASHION_MNIST.mirrors``.
    Classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
    7 sneaker, 8 bag, 9 ankle boot.
    """
    return _load(FASHION_MNIST, root, train, download, verify)
