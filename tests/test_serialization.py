"""cnnpy.serialization (save/load): exact round trips of nested checkpoints (dtypes, shapes, 0-d and
empty arrays, numpy scalars, Python scalars, None, strings, int keys, container types and order),
path handling, atomic writes (a failure at any step leaves the old file and no temporary file), and
every kind of bad file — missing, truncated, bit-flipped, garbage, foreign zip, bad manifest —
refused with the documented exception naming the file, never a wrong answer and never a pickle."""
import io
import json
import math
import os
import re
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from cnnpy import serialization
from cnnpy.nn.module import Module, Parameter
from cnnpy.serialization import load, save


def assert_same(a, b, where="obj"):
    """Deep equality that also checks types, key types, order, dtypes, shapes and NaNs."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes() or np.array_equal(a, b), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and np.asarray(a).tobytes() == np.asarray(b).tobytes(), where
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), where
        assert math.copysign(1, a) == math.copysign(1, b), where
    else:
        assert a == b, where


def checkpoint():
    """A realistic checkpoint: model state_dict, optimizer state with int keys, misc scalars."""
    rng = np.random.default_rng(0)
    model = OrderedDict([("0.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                         ("0.bias", np.zeros(4, np.float32)),
                         ("2.weight", rng.standard_normal((10, 36)).astype(np.float32)),
                         ("2.bias", np.arange(10, dtype=np.float32))])
    optimizer = {
        "state": {0: {"step": 3, "exp_avg": rng.standard_normal((4, 3, 3, 3)),
                      "exp_avg_sq": np.zeros((4, 3, 3, 3))},
                  2: {"step": np.int64(3), "momentum_buffer": None}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                          "amsgrad": False, "params": [0, 1, 2, 3], "name": None}],
    }
    return {"model": model, "optimizer": optimizer, "epoch": 3, "loss": 0.125,
            "history": [0.5, 0.25, 0.125], "note": "lecture 7 ✓"}


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---- round trips ---------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path):
    obj = checkpoint()
    path = tmp_path / "ckpt.npz"
    assert save(obj, path) is None
    assert_same(obj, load(path))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


ARRAYS = {
    "f32": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
    "f64": np.array([0.1, -0.0, np.nan, np.inf, -np.inf, 5e-324]),
    "f16": np.array([1.5, -2], dtype=np.float16),
    "i64": np.arange(-3, 3, dtype=np.int64),
    "i32-3d": np.arange(24, dtype=np.int32).reshape(2, 3, 4),
    "u8": np.array([0, 255], dtype=np.uint8),
    "bool": np.array([[True, False]]),
    "complex": np.array([1 + 2j, -3j]),
    "text": np.array(["a", "héllo"]),
    "bytes": np.array([b"x", b"yz"]),
    "0d-f64": np.array(2.5),
    "0d-i8": np.array(-7, dtype=np.int8),
    "empty-f32": np.empty((0, 3), dtype=np.float32),
    "empty-i64": np.empty(0, dtype=np.int64),
    "empty-3d": np.zeros((2, 0, 5)),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "big-endian": np.arange(4, dtype=">f8"),
    "strided-view": np.arange(20.0).reshape(4, 5)[::2, 1::2],
}


@pytest.mark.parametrize("arr", list(ARRAYS.values()), ids=list(ARRAYS))
def test_array_round_trip(tmp_path, arr):
    save({"a": arr, "nested": [arr]}, tmp_path / "a.npz")
    out = load(tmp_path / "a.npz")
    for got in (out["a"], out["nested"][0]):
        assert type(got) is np.ndarray
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)


SCALARS = [None, True, False, 0, -1, 2 ** 100, -(2 ** 70), 0.0, -0.0, 0.1, 1e308, 5e-324,
           float("nan"), float("inf"), -float("inf"), "", "text", "ünïcødé ✓ \U0001F600", "\ud800",
           np.float32(1.5), np.float64(0.1), np.int64(-5), np.uint8(200), np.bool_(True),
           np.complex128(1 - 1j), np.str_("s")]


@pytest.mark.parametrize("value", SCALARS, ids=[f"{type(v).__name__}-{i}" for i, v in enumerate(SCALARS)])
def test_scalar_round_trip(tmp_path, value):
    save({"v": value, "l": [value], "t": (value,)}, tmp_path / "s.npz")
    assert_same({"v": value, "l": [value], "t": (value,)}, load(tmp_path / "s.npz"))


def test_containers_keys_and_order(tmp_path):
    obj = OrderedDict([("b", 1), ("a", 2), ("10", 3), ("2", 4)])
    obj["dict"] = {3: "three", 1: "one", "1": "str one", 2.5: "float", None: "none",
                   (1, "a"): "tuple", -7: "negative"}
    obj["bool keys"] = {False: 0, True: 1}  # not 0 and 1 (True == 1 in a dict)
    obj["od"] = OrderedDict([(5, [1, (2, [3, {}])]), (0, ())])
    obj["empties"] = [{}, [], (), OrderedDict(), np.empty(0)]
    obj["same array twice"] = [ARRAYS["f32"], ARRAYS["f32"]]
    save(obj, tmp_path / "c.npz")
    out = load(tmp_path / "c.npz")
    assert_same(obj, out)
    assert type(out) is OrderedDict and type(out["dict"]) is dict
    assert list(out["dict"]) == [3, 1, "1", 2.5, None, (1, "a"), -7]
    assert [type(k) for k in out["bool keys"]] == [bool, bool]
    assert out["same array twice"][0] is not out["same array twice"][1]  # stored twice, loaded twice


@pytest.mark.parametrize("root", [None, 3, "s", [], {}, (), np.arange(3), np.float32(2)],
                         ids=["None", "int", "str", "list", "dict", "tuple", "array", "np-scalar"])
def test_any_root(tmp_path, root):
    save(root, tmp_path / "r.npz")
    assert_same(root, load(tmp_path / "r.npz"))


def test_loaded_arrays_are_plain_and_writeable(tmp_path):
    save({"w": np.ones((2, 2), np.float32)}, tmp_path / "w.npz")
    w = load(tmp_path / "w.npz")["w"]
    assert type(w) is np.ndarray and w.flags.writeable and w.flags.c_contiguous
    w += 1  # not a view of a closed file


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.random.default_rng(1).standard_normal((3, 2)))
        self.bias = Parameter(np.zeros(3, np.float32))


def test_module_state_dict_round_trip(tmp_path):
    src, dst = Tiny(), Tiny()
    dst.weight.data[...] = 0
    save({"model": src.state_dict(), "epoch": 1}, tmp_path / "m.npz")
    ckpt = load(tmp_path / "m.npz")
    assert list(ckpt["model"]) == ["weight", "bias"] and type(ckpt["model"]) is OrderedDict
    dst.load_state_dict(ckpt["model"])
    np.testing.assert_array_equal(dst.weight.data, src.weight.data)
    assert dst.bias.data.dtype == np.float32


# ---- paths ---------------------------------------------------------------------------------------

class MyPath:
    def __init__(self, p):
        self.p = p

    def __fspath__(self):
        return str(self.p)


@pytest.mark.parametrize("kind", ["str", "pathlib", "PathLike", "bytes"])
@pytest.mark.parametrize("name", ["model.npz", "model.ckpt", "model", "with space.v2.npz"])
def test_paths_used_exactly(tmp_path, kind, name):
    target = tmp_path / name
    path = {"str": str(target), "pathlib": target, "PathLike": MyPath(target),
            "bytes": os.fsencode(str(target))}[kind]
    save([1, np.arange(2)], path)
    assert os.listdir(tmp_path) == [name]  # no ".npz" appended, no temporary file left
    assert_same([1, np.arange(2)], load(path))


def test_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save({"x": 1}, "rel.ckpt")
    assert load("rel.ckpt") == {"x": 1} and os.listdir(".") == ["rel.ckpt"]


def test_overwrite_keeps_permissions(tmp_path):
    path = tmp_path / "o.npz"
    save({"v": 1}, path)
    os.chmod(path, 0o640)
    save({"v": 2}, path)
    assert load(path) == {"v": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["o.npz"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_save_through_symlink(tmp_path):
    real, link = tmp_path / "real.npz", tmp_path / "link.npz"
    save({"v": 1}, real)
    os.symlink(real, link)
    save({"v": 2}, link)
    assert os.path.islink(link) and load(real) == {"v": 2}
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real.npz"]


def test_path_type_errors(tmp_path):
    for bad in (None, 3, ["a.npz"]):
        with pytest.raises(TypeError, match=r"save: path must be a str or os.PathLike"):
            save({}, bad)
        with pytest.raises(TypeError, match=r"load: path must be a str or os.PathLike"):
            load(bad)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))) as info:
        load(path)
    assert info.value.filename == str(path)
    missing_dir = tmp_path / "no_such_dir" / "x.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "no_such_dir"))):
        save({}, missing_dir)
    assert os.listdir(tmp_path) == []


def test_load_directory_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        load(tmp_path)


# ---- what cannot be saved ------------------------------------------------------------------------

class Unpicklable:
    pass


loop = []
loop.append(loop)

UNSUPPORTED = [
    ("object-array", {"a": np.array([1, "x"], dtype=object)},
     TypeError, r"obj\['a'\] is an array of dtype object"),
    ("structured", [np.zeros(2, dtype=[("x", "f4")])], TypeError, r"obj\[0\] is an array of dtype"),
    ("datetime", np.array(["2020-01-01"], dtype="datetime64[D]"),
     TypeError, r"obj is an array of dtype datetime64"),
    ("set", {"s": {1, 2}}, TypeError, r"obj\['s'\] has unsupported type set"),
    ("object", {"m": {0: Unpicklable()}}, TypeError, r"obj\['m'\]\[0\] has unsupported type Unpicklable"),
    ("parameter", {"w": Parameter(np.zeros(2))},
     TypeError, r"unsupported type Parameter \(save its \.data array instead\)"),
    ("module", Tiny(), TypeError, r"unsupported type Tiny \(save its state_dict\(\) instead\)"),
    ("bytes", b"raw", TypeError, r"obj has unsupported type bytes"),
    ("masked", np.ma.masked_array([1, 2], mask=[0, 1]), TypeError, r"obj is a masked array"),
    ("frozenset-key", {frozenset(): 1}, TypeError, r"key frozenset\(\) has unsupported type frozenset"),
    ("cycle", {"loop": loop}, ValueError, r"obj\['loop'\]\[0\] contains itself"),
]


@pytest.mark.parametrize("obj,exc,match", [u[1:] for u in UNSUPPORTED], ids=[u[0] for u in UNSUPPORTED])
def test_unsupported_leaves_old_file(tmp_path, obj, exc, match):
    path = tmp_path / "keep.npz"
    save({"old": np.arange(3)}, path)
    before = file_bytes(path)
    with pytest.raises(exc, match=match):
        save(obj, path)
    assert file_bytes(path) == before and os.listdir(tmp_path) == ["keep.npz"]
    with pytest.raises(exc):
        save(obj, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["keep.npz"]


def test_torch_tensor_refused_with_hint(tmp_path):
    torch = pytest.importorskip("torch")
    hint = re.escape("unsupported type Tensor (convert it with .detach().cpu().numpy())")
    with pytest.raises(TypeError, match=hint):
        save({"w": torch.zeros(2)}, tmp_path / "t.npz")


# ---- atomic writes -------------------------------------------------------------------------------

def _partial_savez(f, **entries):
    f.write(b"PK\x03\x04 half a zip")
    raise OSError(28, "No space left on device")


def _interrupted_savez(f, **entries):
    f.write(b"PK\x03\x04")
    raise KeyboardInterrupt


def _failing(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


FAILURES = [  # (id, attribute of cnnpy.serialization to patch, replacement, exception)
    ("savez-disk-full", (np, "savez"), _partial_savez, OSError),
    ("savez-interrupt", (np, "savez"), _interrupted_savez, KeyboardInterrupt),
    ("fsync", (os, "fsync"), _failing(OSError(5, "I/O error")), OSError),
    ("chmod", (os, "chmod"), _failing(PermissionError(1, "not permitted")), PermissionError),
    ("replace", (os, "replace"), _failing(OSError(18, "cross-device")), OSError),
]


@pytest.mark.parametrize("target,replacement,exc", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch, target, replacement, exc):
    path = tmp_path / "model.npz"
    old = checkpoint()
    save(old, path)
    os.chmod(path, 0o644)
    before = file_bytes(path)
    monkeypatch.setattr(*target, replacement)
    with pytest.raises(exc):
        save({"new": np.ones(3)}, path)
    monkeypatch.undo()
    assert file_bytes(path) == before
    assert os.listdir(tmp_path) == ["model.npz"]
    assert_same(old, load(path))


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _partial_savez)
    with pytest.raises(OSError, match="No space left"):
        save({"x": np.ones(3)}, tmp_path / "fresh.npz")
    assert os.listdir(tmp_path) == []


def test_save_fsyncs_before_replace(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    save({"x": 1}, tmp_path / "f.npz")
    assert calls.index("fsync") < calls.index("replace")


# ---- bad files -----------------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    """(path, bytes, object) of a small valid checkpoint."""
    obj = {"model": OrderedDict([("w", np.arange(6, dtype=np.float32).reshape(2, 3)),
                                 ("b", np.array([0.5, -1.0]))]),
           "optimizer": {0: {"step": 3}}, "epoch": 1.5}
    path = tmp_path / "good.npz"
    save(obj, path)
    return path, file_bytes(path), obj


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def refused(path, match=None):
    with pytest.raises(ValueError, match=re.escape(repr(str(path)))) as info:
        load(path)
    if match:
        assert re.search(match, str(info.value)), str(info.value)
    return info.value


def test_truncated(saved, tmp_path):
    path, raw, _ = saved
    bad = tmp_path / "cut.npz"
    for cut in sorted({0, 1, 4, 30, 64, len(raw) // 3, len(raw) // 2, len(raw) - 23, len(raw) - 22,
                       len(raw) - 1}):
        refused(write(bad, raw[:cut]), r"truncated or corrupt")


def _data_offsets(raw):
    """(member name, first byte, end) of every member's stored data in a zip."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        out = []
        for info in zf.infolist():
            name_len, extra_len = np.frombuffer(raw[info.header_offset + 26:info.header_offset + 30], "<u2")
            start = info.header_offset + 30 + int(name_len) + int(extra_len)
            out.append((info.filename, start, start + info.compress_size))
        return out


def test_flipped_bytes_in_data_refused(saved, tmp_path):
    path, raw, _ = saved
    bad = tmp_path / "flip.npz"
    for name, start, end in _data_offsets(raw):
        for pos in sorted({start, start + 9, (start + end) // 2, end - 1}):  # .npy header and payload
            data = bytearray(raw)
            data[pos] ^= 0x10
            err = refused(write(bad, bytes(data)))
            assert "CRC" in str(err) or "corrupt" in str(err), name


def test_every_single_byte_flip_is_refused_or_harmless(saved, tmp_path):
    """Flipping any byte either fails with ValueError naming the file, or (zip metadata that no
    checksum covers, such as timestamps) loads exactly the saved object: never a wrong result."""
    path, raw, obj = saved
    bad = tmp_path / "flip.npz"
    refusals = 0
    for pos in range(len(raw)):
        data = bytearray(raw)
        data[pos] ^= 0xFF
        write(bad, bytes(data))
        try:
            out = load(bad)
        except ValueError as exc:
            assert repr(str(bad)) in str(exc)
            refusals += 1
        else:
            assert_same(obj, out)
    assert refusals > len(raw) // 2


@pytest.mark.parametrize("seed", range(5))
def test_random_garbage(tmp_path, seed):
    data = np.random.default_rng(seed).integers(0, 256, size=50 + 300 * seed, dtype=np.uint8).tobytes()
    refused(write(tmp_path / "garbage.npz", data), r"truncated or corrupt")
    refused(write(tmp_path / "garbage.npz", b"PK\x03\x04" + data), r"truncated or corrupt")


def test_other_files_refused(tmp_path):
    np.save(tmp_path / "plain.npy", np.arange(3))
    refused(tmp_path / "plain.npy", r"truncated or corrupt")
    refused(write(tmp_path / "text.npz", b"hello\n"), r"truncated or corrupt")
    refused(write(tmp_path / "empty.npz", b""), r"truncated or corrupt")
    np.savez(tmp_path / "foreign.npz", w=np.ones(3))  # a valid npz, but not ours
    refused(tmp_path / "foreign.npz", r"no manifest")
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "not a checkpoint")
    refused(tmp_path / "docs.zip", r"no manifest")


def craft(path, manifest, **arrays):
    """An npz whose manifest entry holds `manifest` (a dict, JSON text or an array) verbatim."""
    if isinstance(manifest, dict):
        manifest = json.dumps(manifest)
    if isinstance(manifest, str):
        manifest = np.frombuffer(manifest.encode(), dtype=np.uint8)
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in dict(arrays, __cnnpy_manifest__=manifest).items():
            with zf.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=True)
    return path


def node_array(key="arr_0", dtype="<f8", shape=(3,)):
    return {"type": "array", "key": key, "dtype": dtype, "shape": list(shape)}


def manifest(root, version=1, fmt="cnnpy.save"):
    return {"format": fmt, "version": version, "root": root}


BAD_MANIFESTS = [
    ("not-json", "{not json", {}, r"manifest is not valid JSON"),
    ("not-utf8", np.frombuffer(b"\xff\xfe{}", np.uint8), {}, r"manifest is not valid JSON"),
    ("wrong-dtype", np.zeros(3, np.float32), {}, r"manifest must be uint8 bytes"),
    ("json-list", "[1, 2]", {}, r"does not name the format"),
    ("other-format", manifest(None, fmt="other"), {}, r"does not name the format"),
    ("newer-version", manifest(None, version=2), {}, r"format version 2; this cnnpy reads version 1"),
    ("no-version", {"format": "cnnpy.save", "root": None}, {}, r"format version None"),
    ("no-root", {"format": "cnnpy.save", "version": 1}, {}, r"no 'root'"),
    ("bad-node", manifest({"type": "pickle", "value": "x"}), {}, r"bad manifest node"),
    ("node-not-dict", manifest([1, 2]), {}, r"bad manifest node"),
    ("int-as-str", manifest({"type": "int", "value": "3"}), {}, r"bad manifest node"),
    ("missing-entry", manifest(node_array("arr_7")), {}, r"missing entry 'arr_7'"),
    ("entry-twice", manifest({"type": "list", "items": [node_array(), node_array()]}),
     {"arr_0": np.zeros(3)}, r"entry 'arr_0' twice"),
    ("unused-entry", manifest({"type": "none"}), {"arr_0": np.zeros(3)}, r"\['arr_0'\] are not described"),
    ("dtype-mismatch", manifest(node_array(dtype="<f4")), {"arr_0": np.zeros(3)}, r"manifest says dtype <f4"),
    ("shape-mismatch", manifest(node_array(shape=(4,))), {"arr_0": np.zeros(3)}, r"shape \[4\]"),
    ("scalar-not-0d", manifest(dict(node_array(), type="scalar")), {"arr_0": np.zeros(3)},
     r"should hold a scalar"),
    ("bad-dict-item", manifest({"type": "dict", "items": [[{"type": "none"}]]}), {}, r"bad dict item"),
    ("unhashable-key",
     manifest({"type": "dict", "items": [[{"type": "list", "items": []}, {"type": "none"}]]}),
     {}, r"unhashable dict key"),
    ("bad-float", manifest({"type": "float", "value": "one"}), {}, r"truncated or corrupt"),
    ("object-entry", manifest(node_array(dtype="|O")), {"arr_0": np.array([None, 1, "x"], dtype=object)},
     r"truncated or corrupt.*allow_pickle"),
]


@pytest.mark.parametrize("content,arrays,match", [b[1:] for b in BAD_MANIFESTS],
                         ids=[b[0] for b in BAD_MANIFESTS])
def test_bad_manifest(tmp_path, content, arrays, match):
    refused(craft(tmp_path / "crafted.npz", content, **arrays), match)


def test_crafted_valid_file_loads(tmp_path):
    """The format is exactly what the module docstring says: a hand-built file loads."""
    root = {"type": "dict", "items": [[{"type": "int", "value": 0}, node_array()],
                                      [{"type": "str", "value": "lr"}, {"type": "float", "value": "0.5"}]]}
    out = load(craft(tmp_path / "ok.npz", manifest(root), arr_0=np.arange(3.0)))
    assert_same({0: np.arange(3.0), "lr": 0.5}, out)


def test_manifest_layout(saved):
    path, _, _ = saved
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__cnnpy_manifest__", "arr_0", "arr_1"]
        m = json.loads(npz["__cnnpy_manifest__"].tobytes())
    assert m["format"] == serialization.FORMAT == "cnnpy.save" and m["version"] == 1
    assert m["root"]["type"] == "dict"
