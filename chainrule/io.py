"""``cr.save`` / ``cr.load``: tensors, state dicts and training state in a file that cannot
run code when it is loaded.

The file is a safetensors file (https://github.com/huggingface/safetensors): 8 bytes
(little-endian u64) giving the length of a JSON header, the header, then the raw
little-endian bytes of every array. The header maps each array's name to its ``dtype``,
``shape`` and ``data_offsets`` and has a ``"__metadata__"`` map of strings. chainrule puts
three things there: ``"format": "chainrule"``, ``"structure"`` -- everything that is not
an array (nested dicts, lists, tuples, ints of any size, floats, strings, None, bools,
with arrays replaced by references to their names) as JSON -- and ``"sha256"``, a digest
of the structure, the array table and the array bytes, checked on every load. Loading
uses only ``json`` and ``numpy.frombuffer``-style reads: no pickle, no imports, no code.

Writes are atomic: the file is written to a temporary file in the same directory,
flushed and fsynced, renamed over the target with ``os.replace`` and the directory is
fsynced, so a process killed mid-save leaves the previous file intact. Any other
safetensors reader (``safetensors.numpy.load_file``) can read the arrays, named by
their place in the saved object (``"model.fc.weight"``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from math import prod
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from chainrule import backend
from chainrule.errors import CheckpointError
from chainrule.tensor import Tensor

__all__ = ["load", "save"]

FORMAT = "chainrule"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors library itself enforces
_CHUNK = 8 << 20  # bytes written per write() call

# NumPy dtype <-> safetensors dtype code
_CODES: dict[np.dtype, str] = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "U8",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint16): "U16",
    np.dtype(np.int16): "I16",
    np.dtype(np.uint32): "U32",
    np.dtype(np.int32): "I32",
    np.dtype(np.uint64): "U64",
    np.dtype(np.int64): "I64",
    np.dtype(np.float16): "F16",
    np.dtype(np.float32): "F32",
    np.dtype(np.float64): "F64",
}
_DTYPES: dict[str, np.dtype] = {code: dt for dt, code in _CODES.items()}

# Test seam: called with the number of bytes written so far after each chunk of a save.
_write_hook: Callable[[int], None] | None = None

_UMASK = os.umask(0)
os.umask(_UMASK)


# ---------------------------------------------------------------------------------------
# Encoding: Python object -> (JSON-able structure, named arrays)


def _where(path: tuple) -> str:
    return "obj" + "".join(f"[{p!r}]" for p in path)


class _Arrays:
    """Collects the arrays of an object, naming each by its place in the object."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.arrays: list[np.ndarray] = []
        self._by_id: dict[int, str] = {}
        self._keep: list[Any] = []  # keep objects alive so their ids stay unique

    def add(self, array: Any, path: tuple) -> str:
        key = id(array)
        if key in self._by_id:  # the same array twice (tied weights): stored once
            return self._by_id[key]
        self._keep.append(array)
        arr = np.asarray(backend.to_device(array, "cpu"))
        if arr.dtype.newbyteorder("=") not in _CODES:
            kinds = ", ".join(sorted(dt.name for dt in _CODES))
            raise CheckpointError(
                f"cannot save the {arr.dtype} array at {_where(path)}: supported dtypes are {kinds}"
            )
        base = ".".join(str(p) for p in path) or "tensor"
        if base == "__metadata__":
            base = "__metadata__.tensor"
        name, k = base, 0
        taken = set(self.names)
        while name in taken:
            k += 1
            name = f"{base}#{k}"
        self.names.append(name)
        # little-endian and C-ordered, copied only if it is not already (shape kept: 0-d too)
        self.arrays.append(arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False))
        self._by_id[key] = name
        return name


def _encode_key(key: Any, path: tuple) -> Any:
    if key is None or isinstance(key, bool | str):
        return key
    if isinstance(key, int | float) and not isinstance(key, np.generic):
        return _encode_number(key)
    if isinstance(key, tuple):
        return {"tuple": [_encode_key(k, path) for k in key]}
    raise CheckpointError(
        f"cannot save a dict key of type {type(key).__name__} ({key!r:.60}) at "
        f"{_where(path)}: keys must be str, int, float, bool, None or tuples of those"
    )


def _encode_number(x: int | float) -> Any:
    if isinstance(x, int):
        x = int(x)  # IntEnum and friends become plain ints
        return x if -(2**63) <= x < 2**63 else {"int": hex(x)}
    x = float(x)
    return x if math.isfinite(x) else {"float": repr(x)}


def _encode(x: Any, path: tuple, arrays: _Arrays, active: set[int]) -> Any:
    if isinstance(x, Tensor):
        return {"tensor": arrays.add(x.data, path), "requires_grad": bool(x.requires_grad)}
    if backend.is_array(x):
        return {"ndarray": arrays.add(x, path)}
    if isinstance(x, np.generic) and not isinstance(x, np.str_ | np.bytes_):
        return {"scalar": arrays.add(np.asarray(x), path)}
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, str):
        return str(x)
    if isinstance(x, int | float):
        return _encode_number(x)
    if isinstance(x, dict | list | tuple):
        if id(x) in active:
            raise CheckpointError(f"cannot save a circular reference at {_where(path)}")
        active.add(id(x))
        try:
            if isinstance(x, dict):
                return {
                    "dict": [
                        [_encode_key(k, path), _encode(v, (*path, k), arrays, active)]
                        for k, v in x.items()
                    ]
                }
            items = [_encode(v, (*path, i), arrays, active) for i, v in enumerate(x)]
            return {"tuple": items} if isinstance(x, tuple) else {"list": items}
        finally:
            active.discard(id(x))
    raise CheckpointError(
        f"cannot save an object of type {type(x).__name__} at {_where(path)}: cr.save takes "
        "Tensors, NumPy arrays and scalars, and dicts, lists and tuples of those and of "
        "ints, floats, strings, bools and None"
    )


def _digest(structure: str, table: dict[str, list], chunks: Any) -> str:
    """SHA-256 over the structure, the array table and the array bytes, in file order."""
    h = hashlib.sha256(b"chainrule-checkpoint-v1\0")
    canon = json.dumps(
        {"structure": structure, "tensors": table}, sort_keys=True, separators=(",", ":")
    ).encode()
    h.update(len(canon).to_bytes(8, "little"))
    h.update(canon)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _byte_view(arr: np.ndarray) -> np.ndarray:
    return arr.reshape(-1).view(np.uint8)


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to ``path`` atomically, in a file that cannot run code when loaded.

    ``obj`` may be a Tensor, a NumPy array or scalar, or any nesting of dicts, lists and
    tuples holding those and Python ints (any size), floats, strings, bools and None --
    a model's ``state_dict()``, an optimizer's state dict, ``{"epoch": 3, "rng":
    np_generator.bit_generator.state, ...}``. ``cr.load`` returns it with every type,
    dtype and value exactly as saved (Tensors, Parameters included, come back as plain
    Tensors with their ``requires_grad``; dict keys keep their types and order). Raises
    :class:`~chainrule.CheckpointError` for objects it cannot store, a directory path or
    a missing parent directory.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        raise CheckpointError(f"cannot save to {path}: it is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise CheckpointError(f"cannot save to {path}: directory {parent} does not exist")

    arrays = _Arrays()
    structure = json.dumps(_encode(obj, (), arrays, set()), separators=(",", ":"))
    # lay the data out widest dtype first, so every array starts aligned to its item size
    order = sorted(range(len(arrays.arrays)), key=lambda i: -arrays.arrays[i].dtype.itemsize)
    table: dict[str, list] = {}
    offset = 0
    for i in order:
        arr = arrays.arrays[i]
        code = _CODES[arr.dtype.newbyteorder("=")]
        table[arrays.names[i]] = [code, list(arr.shape), [offset, offset + arr.nbytes]]
        offset += arr.nbytes
    ordered = [arrays.arrays[i] for i in order]
    digest = _digest(structure, table, (_byte_view(a) for a in ordered))
    header: dict[str, Any] = {
        "__metadata__": {
            "format": FORMAT,
            "chainrule_format_version": FORMAT_VERSION,
            "structure": structure,
            "sha256": digest,
        }
    }
    for name, (code, shape, offsets) in table.items():
        header[name] = {"dtype": code, "shape": shape, "data_offsets": offsets}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned, as safetensors does

    mode = (path.stat().st_mode & 0o7777) if path.is_file() else (0o666 & ~_UMASK)
    fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_all(fh, head, ordered)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(parent)


def _write_all(fh: BinaryIO, head: bytes, arrays: list[np.ndarray]) -> None:
    written = 0
    fh.write(len(head).to_bytes(8, "little"))
    fh.write(head)
    written += 8 + len(head)
    for arr in arrays:
        raw = _byte_view(arr)
        for start in range(0, raw.size, _CHUNK):
            piece = raw[start : start + _CHUNK]
            fh.write(piece.data)
            written += piece.size
            if _write_hook is not None:
                _write_hook(written)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories cannot be opened
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# Loading


def _sniff(head: bytes) -> str | None:
    """What a file that is not a safetensors file at all probably is (None: no idea)."""
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return (
            "it looks like a Python pickle (e.g. torch.save or pickle.dump output); "
            "chainrule never unpickles, since loading a pickle can run arbitrary code"
        )
    if head[:4] == b"PK\x03\x04":
        return "it is a zip archive (a torch.save or .npz file?), not a chainrule checkpoint"
    if head[:6] == b"\x93NUMPY":
        return "it is a NumPy .npy file, not a chainrule checkpoint"
    return None


def _fail(path: Path, problem: str) -> CheckpointError:
    return CheckpointError(f"cannot load {path}: {problem}")


def _read_header(path: Path, fh: BinaryIO, size: int) -> tuple[dict, int]:
    head = fh.read(8)
    if len(head) < 8:
        raise _fail(path, f"the file is truncated or empty ({size} bytes)")
    n = int.from_bytes(head, "little")
    if n > size - 8 or n > MAX_HEADER_BYTES or n < 2:
        raise _fail(
            path,
            _sniff(head)
            or f"the header length field says {n} bytes but the file has {size} bytes: it is "
            "truncated, or it is not a chainrule (safetensors) file",
        )
    raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(
            path,
            _sniff(head)
            or "its header is not valid JSON: the file is corrupted or tampered with, or it is "
            "not a chainrule (safetensors) file",
        ) from exc
    if not isinstance(header, dict):
        raise _fail(path, "its header is not a JSON object (corrupted or tampered)")
    return header, 8 + n


def _table(path: Path, header: dict, data_size: int) -> list[tuple[str, np.dtype, tuple, int]]:
    """Validate the array entries; returns (name, dtype, shape, nbytes) in file order."""
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _fail(path, f"malformed header entry for tensor {name!r}: {info!r:.200}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _DTYPES:
            raise _fail(
                path,
                f"tensor {name!r} has unknown or unsupported dtype {code!r} "
                f"(supported: {', '.join(_DTYPES)})",
            )
        ints = (isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)
        if not isinstance(shape, list) or not all(ints):
            raise _fail(path, f"tensor {name!r} has a malformed shape {shape!r:.100}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise _fail(path, f"tensor {name!r} has malformed data_offsets {offsets!r:.100}")
        dtype = _DTYPES[code]
        nbytes = prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise _fail(
                path,
                f"tensor {name!r}: shape {shape} of {code} needs {nbytes} bytes but its "
                f"data_offsets {offsets} span {offsets[1] - offsets[0]}",
            )
        entries.append((offsets[0], offsets[1], name, dtype, tuple(shape), code))
    entries.sort(key=lambda e: (e[0], e[1]))
    end = 0
    for begin, stop, name, *_ in entries:
        if begin != end:
            raise _fail(path, f"tensor {name!r} does not start where the previous one ends")
        end = stop
    if data_size < end:
        raise _fail(
            path,
            f"the file is truncated: the header promises {end} bytes of tensor data, the "
            f"file holds {data_size}",
        )
    if data_size > end:
        raise _fail(path, f"{data_size - end} unexpected bytes after the tensor data")
    return [(name, dtype, shape, code) for _, _, name, dtype, shape, code in entries]


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, dict) and len(node) in (1, 2):
        if "tensor" in node:
            arr = _array(node["tensor"], arrays, used)
            return Tensor(arr, requires_grad=bool(node.get("requires_grad", False)))
        if len(node) == 1:
            tag, value = next(iter(node.items()))
            if tag == "ndarray":
                return _array(value, arrays, used)
            if tag == "scalar":
                return _array(value, arrays, used)[()]
            if tag == "dict" and isinstance(value, list):
                out = {}
                for pair in value:
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise ValueError(f"bad dict item {pair!r:.80}")
                    out[_decode_key(pair[0])] = _decode(pair[1], arrays, used)
                return out
            if tag == "list" and isinstance(value, list):
                return [_decode(v, arrays, used) for v in value]
            if tag == "tuple" and isinstance(value, list):
                return tuple(_decode(v, arrays, used) for v in value)
            if tag == "int" and isinstance(value, str):
                return int(value, 16)
            if tag == "float" and value in ("nan", "inf", "-inf"):
                return float(value)
    raise ValueError(f"unexpected node {node!r:.80}")


def _decode_key(node: Any) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, dict) and len(node) == 1:
        tag, value = next(iter(node.items()))
        if tag == "tuple" and isinstance(value, list):
            return tuple(_decode_key(v) for v in value)
        if tag == "int" and isinstance(value, str):
            return int(value, 16)
        if tag == "float" and value in ("nan", "inf", "-inf"):
            return float(value)
    raise ValueError(f"unexpected dict key {node!r:.80}")


def _array(name: Any, arrays: dict[str, np.ndarray], used: set[str]) -> np.ndarray:
    if not isinstance(name, str) or name not in arrays:
        raise ValueError(f"reference to a missing tensor {name!r:.80}")
    used.add(name)
    return arrays[name]


def load(path: str | os.PathLike) -> Any:
    """Read an object written by :func:`save`.

    Only JSON is parsed and raw bytes copied into fresh arrays: no pickle, no imports,
    so loading a file cannot run code. Raises :class:`~chainrule.CheckpointError` naming
    the file and the problem if it is missing, a directory, truncated, tampered with
    (its SHA-256 no longer matches), not a chainrule file (a pickle, a zip, a plain
    safetensors file), or uses an unknown dtype.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        raise _fail(path, "it is a directory")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; the error needs wrapping first
    except FileNotFoundError as exc:
        raise _fail(path, "no such file") from exc
    except OSError as exc:
        raise _fail(path, f"it cannot be read ({exc})") from exc
    with fh:
        size = os.fstat(fh.fileno()).st_size
        header, data_start = _read_header(path, fh, size)
        meta = header.pop("__metadata__", None)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _fail(
                path,
                "it is a safetensors file but not a chainrule checkpoint (no chainrule "
                "metadata); read it with safetensors.numpy.load_file instead",
            )
        if meta.get("chainrule_format_version") != FORMAT_VERSION:
            raise _fail(
                path,
                f"unsupported chainrule format version "
                f"{meta.get('chainrule_format_version')!r} (this chainrule reads "
                f"{FORMAT_VERSION!r})",
            )
        structure, expected = meta.get("structure"), meta.get("sha256")
        if not isinstance(structure, str) or not isinstance(expected, str):
            raise _fail(path, "its chainrule metadata is incomplete (tampered?)")
        entries = _table(path, header, size - data_start)
        arrays: dict[str, np.ndarray] = {}
        table: dict[str, list] = {}
        offset = 0
        for name, dtype, shape, code in entries:
            arr = np.empty(shape, dtype=dtype.newbyteorder("<"))
            raw = _byte_view(arr)
            if fh.readinto(raw) != raw.size:
                raise _fail(path, "the file is truncated (it shrank while being read)")
            arrays[name] = arr if arr.dtype.isnative else arr.astype(dtype)
            table[name] = [code, list(shape), [offset, offset + raw.size]]
            offset += raw.size
    # the file order of the arrays is the order the digest covers them in
    actual = _digest(structure, table, (_byte_view(arrays[name]) for name, *_ in entries))
    if actual != expected:
        raise _fail(
            path,
            "it failed its SHA-256 check: the header or the tensor data was changed "
            f"(tampered or corrupted; expected {expected}, got {actual})",
        )
    try:
        return _decode(json.loads(structure), arrays, set())
    except (ValueError, TypeError, RecursionError) as exc:
        raise _fail(path, f"its structure metadata is malformed ({exc})") from exc
