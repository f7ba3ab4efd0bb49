"""cr.save / cr.load: exact round trips, the safetensors layout, atomic writes under a
killed process, and clear CheckpointErrors for truncated, tampered and foreign files."""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import io as crio

REPO = Path(__file__).resolve().parents[1]


def _same(a: object, b: object) -> bool:
    """Exact structural equality: types, dtypes, shapes, values (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, cr.Tensor):
        return a.requires_grad == b.requires_grad and _same(a.data, b.data)
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (np.isnan(a) and np.isnan(b)))
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            type(k1) is type(k2) and _same(a[k1], b[k2]) for k1, k2 in zip(a, b)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def _roundtrip(obj: object, tmp_path: Path) -> object:
    path = tmp_path / "obj.safetensors"
    cr.save(obj, path)
    return cr.load(path)


# ---- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "uint16",
     "uint32", "uint64", "bool"],
)  # fmt: skip
def test_array_dtypes_and_values_survive(dtype: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    back = _roundtrip(arr, tmp_path)
    assert isinstance(back, np.ndarray)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()
    assert back.flags.writeable and back.flags.c_contiguous


def test_tensor_roundtrip_keeps_dtype_values_and_requires_grad(tmp_path: Path) -> None:
    t = cr.tensor([[1.5, -2.0], [3.25, 0.1]], requires_grad=True)
    back = _roundtrip(t, tmp_path)
    assert isinstance(back, cr.Tensor)
    assert back.dtype == np.float32
    assert back.requires_grad
    assert back.data.tobytes() == t.data.tobytes()
    labels = _roundtrip(cr.tensor([1, 2, 3]), tmp_path)
    assert labels.dtype == np.int64 and not labels.requires_grad


def test_odd_shapes_and_layouts(tmp_path: Path) -> None:
    obj = {
        "scalar0d": np.array(3.5, dtype=np.float64),
        "empty": np.zeros((0, 3), np.float32),
        "transposed": np.arange(12, dtype=np.int64).reshape(3, 4).T,
        "strided": np.arange(20, dtype=np.float32)[::3],
        "bigendian": np.arange(5, dtype=">i4"),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    }
    back = _roundtrip(obj, tmp_path)
    for k, v in obj.items():
        assert back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k], v)
    assert back["scalar0d"].ndim == 0
    assert back["bigendian"].dtype == np.int32 and back["bigendian"].dtype.isnative


def test_nested_training_state_roundtrips_exactly(tmp_path: Path) -> None:
    gen = np.random.default_rng(1234)
    gen.standard_normal(10)
    mt = np.random.Generator(np.random.MT19937(7))
    state = {
        "epoch": 7,
        "step": 12_345,
        "model": {
            "0.weight": cr.tensor(np.ones((4, 3), np.float32), requires_grad=True),
            "0.bias": cr.zeros(4),
            "bn.num_batches_tracked": np.array(17, dtype=np.int64),
        },
        "optimizer": {
            "state": {0: {"step": 5, "exp_avg": np.full(3, 0.25)}, 1: {"step": 5}},
            "param_groups": [
                {
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0.0,
                    "amsgrad": False,
                    "params": [0, 1],
                    "name": None,
                },
            ],
        },
        "rng": gen.bit_generator.state,
        "mt": mt.bit_generator.state,
        "global_rng": cr.backend.get_rng_state(),
        "history": {"loss": [2.3, 1.1, 0.5], "val_accuracy": [0.5, 0.75, float("nan")]},
        "floats": [0.1, -0.0, 1e308, 5e-324, float("inf"), float("-inf"), 1 / 3],
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**63, -(2**64) - 5, 3**500, -(7**300), 2**20_000 + 1],
        "strings": ["", "plain", "ünïcödé ✓ 漢字", 'quotes " and \\ and \n newline'],
        "flags": [True, False, None],
        "np_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.uint8(255)],
        "keys": {1: "int", "1": "str", 2.5: "float", None: "none", (1, "a"): "tuple", False: "b"},
        "tuple": (1, (2, [3, {"x": ()}])),
        "empty": {"dict": {}, "list": [], "tuple": ()},
    }
    back = _roundtrip(state, tmp_path)
    assert _same(back, state)
    assert type(back["tuple"]) is tuple and type(back["tuple"][1][1]) is list
    # the restored RNG states continue the same streams
    gen2 = np.random.default_rng()
    gen2.bit_generator.state = back["rng"]
    np.testing.assert_array_equal(gen2.standard_normal(5), gen.standard_normal(5))
    mt2 = np.random.Generator(np.random.MT19937())
    mt2.bit_generator.state = back["mt"]
    assert mt2.integers(1 << 40) == mt.integers(1 << 40)


def test_global_rng_resumes_bit_for_bit(tmp_path: Path) -> None:
    cr.manual_seed(5)
    cr.randn(3)
    cr.save({"rng": cr.backend.get_rng_state()}, tmp_path / "rng.st")
    expected = cr.randn(4).data.copy()
    cr.manual_seed(999)
    cr.backend.set_rng_state(cr.load(tmp_path / "rng.st")["rng"])
    np.testing.assert_array_equal(cr.randn(4).data, expected)


def test_loaded_arrays_are_fresh_and_independent(tmp_path: Path) -> None:
    shared = np.arange(4.0)
    back = _roundtrip({"a": shared, "b": shared, "c": np.arange(4.0)}, tmp_path)
    np.testing.assert_array_equal(back["a"], shared)
    back["c"][0] = 99.0
    assert shared[0] == 0.0
    # the same array object is stored once
    header = _header(tmp_path / "obj.safetensors")
    assert len([k for k in header if k != "__metadata__"]) == 2


def test_overwrite_replaces_and_keeps_a_sane_mode(tmp_path: Path) -> None:
    path = tmp_path / "ck.st"
    cr.save({"v": 1}, path)
    mode = stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    cr.save({"v": 2}, path)
    assert cr.load(path) == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.st"]  # no temp files left
    cr.save(cr.zeros(2), str(path))  # str paths too
    assert isinstance(cr.load(str(path)), cr.Tensor)


# ---- the file format ----------------------------------------------------------------------


def _header(path: Path) -> dict:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n])


def test_file_is_plain_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, 2], dtype=np.int64)
    cr.save({"model": {"fc.weight": cr.Tensor(w), "fc.bias": b}, "epoch": 3}, path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0  # data starts 8-byte aligned
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["format"] == "chainrule"
    assert set(header) == {"model.fc.weight", "model.fc.bias"}
    data = raw[8 + n :]
    for name, arr, code in (("model.fc.weight", w, "F32"), ("model.fc.bias", b, "I64")):
        info = header[name]
        assert info["dtype"] == code and info["shape"] == list(arr.shape)
        lo, hi = info["data_offsets"]
        assert data[lo:hi] == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_readable_by_the_safetensors_package(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "m.safetensors"
    obj = {"w": np.ones((2, 2), np.float32), "n": np.arange(3), "flag": np.array([True])}
    cr.save(obj, path)
    loaded = st.load_file(str(path))
    assert set(loaded) == {"w", "n", "flag"}
    for k, v in obj.items():
        np.testing.assert_array_equal(loaded[k], v)
        assert loaded[k].dtype == v.dtype


# ---- what cannot be saved -----------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, where",
    [
        ({"a": {1, 2}}, "obj['a']"),
        ({"a": [object()]}, "obj['a'][0]"),
        ({"z": np.zeros(2, dtype=np.complex64)}, "obj['z']"),
        ({"o": np.array([None, 1], dtype=object)}, "obj['o']"),
        ({"s": np.array(["x"])}, "obj['s']"),
        ({"b": b"bytes"}, "obj['b']"),
        ({frozenset(): 1}, "obj"),
    ],
)
def test_unsupported_objects_are_refused(obj: object, where: str, tmp_path: Path) -> None:
    path = tmp_path / "x.st"
    with pytest.raises(cr.CheckpointError) as info:
        cr.save(obj, path)
    assert where in str(info.value)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_circular_reference_is_refused(tmp_path: Path) -> None:
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(cr.CheckpointError, match="circular"):
        cr.save({"loop": loop}, tmp_path / "x.st")


def test_directory_paths_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(cr.CheckpointError, match="directory") as info:
        cr.save({"a": 1}, tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(cr.CheckpointError, match="directory"):
        cr.load(tmp_path)
    with pytest.raises(cr.CheckpointError, match="does not exist"):
        cr.save({"a": 1}, tmp_path / "no" / "such" / "dir" / "x.st")
    with pytest.raises(cr.CheckpointError, match="no such file") as info:
        cr.load(tmp_path / "missing.st")
    assert "missing.st" in str(info.value)
    assert isinstance(info.value, cr.ChainruleError) and isinstance(info.value, ValueError)


# ---- damaged and foreign files ------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.st"
    cr.save(
        {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.arange(3), "epoch": 2},
        path,
    )
    return path


def test_truncation_anywhere_is_detected(good_file: Path) -> None:
    raw = good_file.read_bytes()
    cuts = sorted({0, 1, 7, 8, 9, 20, len(raw) // 2, len(raw) - 9, len(raw) - 1})
    for cut in cuts:
        good_file.write_bytes(raw[:cut])
        with pytest.raises(cr.CheckpointError) as info:
            cr.load(good_file)
        assert str(good_file) in str(info.value), cut
    good_file.write_bytes(raw[:-4])
    with pytest.raises(cr.CheckpointError, match="truncated"):
        cr.load(good_file)


def test_trailing_garbage_is_detected(good_file: Path) -> None:
    good_file.write_bytes(good_file.read_bytes() + b"\0\0\0\0")
    with pytest.raises(cr.CheckpointError, match="unexpected bytes"):
        cr.load(good_file)


def test_every_flipped_byte_is_detected(good_file: Path) -> None:
    raw = good_file.read_bytes()
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x01 if pos % 2 else 0x80  # the lowest and the highest bit
        good_file.write_bytes(bytes(bad))
        with pytest.raises(cr.CheckpointError):
            cr.load(good_file)


def test_changed_data_names_the_hash_check(good_file: Path) -> None:
    raw = bytearray(good_file.read_bytes())
    raw[-3] ^= 0x10  # inside the tensor data
    good_file.write_bytes(bytes(raw))
    with pytest.raises(cr.CheckpointError, match="SHA-256") as info:
        cr.load(good_file)
    assert "tampered" in str(info.value)


def test_consistent_header_edit_is_detected(good_file: Path) -> None:
    """Relabel the float32 data as int32 (sizes still agree): only the digest catches it."""
    raw = good_file.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    head = raw[8 : 8 + n].replace(b'"dtype":"F32"', b'"dtype":"I32"')
    assert head != raw[8 : 8 + n]
    good_file.write_bytes(raw[:8] + head + raw[8 + n :])
    with pytest.raises(cr.CheckpointError, match="SHA-256"):
        cr.load(good_file)


def _write_safetensors(path: Path, header: dict, data: bytes) -> None:
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + data)


class _Boom:
    """Unpickling this would create a marker file: it must never happen."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def test_pickle_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.st"
    path.write_bytes(pickle.dumps({"w": _Boom(str(marker))}, protocol=4))
    with pytest.raises(cr.CheckpointError, match="pickle") as info:
        cr.load(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # a pickle hidden in the metadata is only ever parsed as JSON text
    blob = pickle.dumps(_Boom(str(marker))).hex()
    _write_safetensors(path, {"__metadata__": {"format": "chainrule", "structure": blob}}, b"")
    with pytest.raises(cr.CheckpointError):
        cr.load(path)
    assert not marker.exists()


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    cases = {
        b"": "empty",
        b"PK\x03\x04" + b"\0" * 60: "zip",
        b"\x93NUMPY" + b"\0" * 60: "NumPy",
        b"hello world, this is text\n" * 4: "not a chainrule",
        os.urandom(200): None,
    }
    for content, phrase in cases.items():
        path.write_bytes(content)
        with pytest.raises(cr.CheckpointError, match=phrase) as info:
            cr.load(path)
        assert str(path) in str(info.value)
    # a header that is JSON but not an object
    path.write_bytes((8).to_bytes(8, "little") + b"[1,2,3] ")
    with pytest.raises(cr.CheckpointError, match="JSON object"):
        cr.load(path)


def test_plain_safetensors_without_chainrule_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    data = np.arange(3, dtype=np.float32).tobytes()
    _write_safetensors(path, {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, data)
    with pytest.raises(cr.CheckpointError, match="not a chainrule checkpoint"):
        cr.load(path)


def test_unknown_dtype_is_refused(tmp_path: Path, good_file: Path) -> None:
    header = _header(good_file)
    name = next(k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32")
    for code in ("BF16", "C64", "F8_E4M3", "PICKLE"):
        header[name]["dtype"] = code
        _write_safetensors(tmp_path / "u.st", header, b"\0" * 72)
        with pytest.raises(cr.CheckpointError, match="unknown or unsupported dtype") as info:
            cr.load(tmp_path / "u.st")
        assert code in str(info.value)


def test_malformed_entries_are_refused(tmp_path: Path) -> None:
    meta = {"format": "chainrule", "chainrule_format_version": "1", "structure": "null",
            "sha256": "0" * 64}  # fmt: skip
    bad_entries = [
        {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]},  # size disagrees with shape
        {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
        {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},  # a hole before it
        {"dtype": "F32", "shape": [1]},
        "not a dict",
    ]
    for entry in bad_entries:
        _write_safetensors(tmp_path / "m.st", {"__metadata__": meta, "w": entry}, b"\0" * 8)
        with pytest.raises(cr.CheckpointError, match="tensor 'w'"):
            cr.load(tmp_path / "m.st")
    meta2 = dict(meta, chainrule_format_version="99")
    _write_safetensors(tmp_path / "v.st", {"__metadata__": meta2}, b"")
    with pytest.raises(cr.CheckpointError, match="version"):
        cr.load(tmp_path / "v.st")


# ---- atomic writes ------------------------------------------------------------------------

_KILL_MID_SAVE = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import chainrule as cr
    from chainrule import io as crio

    def hook(written):
        if written > 10_000_000:  # well inside the big array
            print("MIDWAY", flush=True)
            time.sleep(60)

    crio._write_hook = hook
    big = np.full(6_000_000, 7.0, dtype=np.float32)  # 24 MB: three 8 MB chunks
    cr.save({"epoch": 2, "w": big}, sys.argv[1])
    print("FINISHED", flush=True)
    """
)


def test_process_killed_mid_save_leaves_previous_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    old = {"epoch": 1, "w": np.arange(10, dtype=np.float32)}
    cr.save(old, path)
    before = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_MID_SAVE, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "MIDWAY", proc.stderr.read()
        temps = [p for p in tmp_path.iterdir() if p.name != path.name]
        assert len(temps) == 1 and temps[0].stat().st_size > 10_000_000  # half-written
        assert path.read_bytes() == before
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert _same(cr.load(path), old)
    # the leftover temporary file does not get in the way of the next save
    cr.save({"epoch": 3}, path)
    assert cr.load(path) == {"epoch": 3}


_SAVE_FOREVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import chainrule as cr
    i = 0
    print("START", flush=True)
    while True:
        i += 1
        cr.save({"i": i, "w": np.full(500_000, i, dtype=np.float64)}, sys.argv[1])
    """
)


def test_kill_at_an_arbitrary_moment_leaves_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "loop.st"
    cr.save({"i": 0, "w": np.full(500_000, 0, dtype=np.float64)}, path)
    for delay in (0.05, 0.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVE_FOREVER, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "START"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        state = cr.load(path)
        assert (state["w"] == state["i"]).all()


def test_failed_write_cleans_up_and_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.st"
    cr.save({"v": 1}, path)

    def fail(written: int) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(crio, "_write_hook", fail)
    with pytest.raises(OSError, match="disk full"):
        cr.save({"v": np.zeros(10)}, path)
    assert cr.load(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.st"]
