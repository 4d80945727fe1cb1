"""cnnpy.save / cnnpy.load: checkpoints as one ``.npz`` file, written atomically, never pickled.

``save(obj, path)`` takes a (possibly nested) dict, OrderedDict, list or tuple of NumPy arrays,
NumPy scalars, Python ints, floats, bools, strings and None — typically
``{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}``. Each array becomes
one ``.npy`` entry of the archive (``arr_0``, ``arr_1``, ...); the structure around them is a JSON
manifest entry (``__cnnpy_manifest__``, UTF-8 bytes stored as a uint8 array) with a format name
and version. Dict keys keep their type (an optimizer's int keys stay ints) and their order, and
containers keep their type (dict, OrderedDict, list, tuple). Saving the same array object twice
stores it twice; it loads as two arrays.

The file is written to a temporary file beside the target, flushed and fsynced, and only then
renamed over it (``os.replace``): a save that fails — an unsupported object, a full disk, an
interrupt — leaves any existing file as it was and no temporary file behind. The path is used
exactly as given (no ``.npz`` is appended).

``load(path)`` refuses a missing file with ``FileNotFoundError`` and a truncated, corrupt (zip
CRC), foreign or version-mismatched file with ``ValueError``, each naming the file. Arrays come back
as NumPy arrays with the saved dtype and shape; nothing is ever unpickled.

>>> import os, shutil, tempfile
>>> import numpy as np
>>> from cnnpy.serialization import save, load
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "checkpoint.npz")
>>> save({"model": {"0.weight": np.ones((2, 3), np.float32)}, "state": {0: None}, "epoch": 3}, path)
>>> ckpt = load(path)
>>> ckpt["model"]["0.weight"].dtype, ckpt["model"]["0.weight"].shape, ckpt["state"], ckpt["epoch"]
(dtype('float32'), (2, 3), {0: None}, 3)
>>> shutil.rmtree(folder)

PyTorch: ``torch.save(obj, path)`` / ``torch.load(path, weights_only=True)``.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import struct
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

__all__ = ["save", "load"]

FORMAT = "cnnpy.save"
VERSION = 1
MANIFEST = "__cnnpy_manifest__"

# Array dtypes that .npy stores without pickling: bool, integers, floats, complex, fixed-width text.
_ARRAY_KINDS = "biufcUS"


class _Corrupt(Exception):
    """A reason why a file is not a valid checkpoint (turned into ValueError naming the file)."""


def _fspath(op: str, path) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{op}: path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    return os.fsdecode(path) if isinstance(path, bytes) else path


# ---- save ----------------------------------------------------------------------------------------

class _Encoder:
    """Turns an object into a JSON-able manifest node, collecting its arrays along the way."""

    def __init__(self):
        self.arrays = {}
        self._active = set()  # ids of the containers being encoded (to refuse cycles)

    def _array(self, value: np.ndarray, where: str, kind: str) -> dict:
        if value.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"save: {where} is an array of dtype {value.dtype}, which cannot be "
                            f"saved without pickling (use bool, integer, float, complex or text)")
        key = f"arr_{len(self.arrays)}"
        self.arrays[key] = value
        return {"type": kind, "key": key, "dtype": value.dtype.str, "shape": list(value.shape)}

    def encode(self, value, where: str = "obj") -> dict:
        if value is None:
            return {"type": "none"}
        if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
            return self._array(np.asarray(value), where, "scalar")
        if isinstance(value, bool):
            return {"type": "bool", "value": value}
        if isinstance(value, int):
            return {"type": "int", "value": int(value)}
        if isinstance(value, float):
            return {"type": "float", "value": repr(float(value))}  # repr round-trips, nan/inf too
        if isinstance(value, str):
            return {"type": "str", "value": value}
        if isinstance(value, np.ndarray):
            if isinstance(value, np.ma.MaskedArray):
                raise TypeError(f"save: {where} is a masked array; save its .data and .mask instead")
            return self._array(np.asarray(value), where, "array")
        if isinstance(value, (dict, list, tuple)):
            if id(value) in self._active:
                raise ValueError(f"save: {where} contains itself")
            self._active.add(id(value))
            try:
                if isinstance(value, dict):
                    kind = "OrderedDict" if isinstance(value, OrderedDict) else "dict"
                    items = [[self.encode(k, f"{where} key {k!r}"), self.encode(v, f"{where}[{k!r}]")]
                             for k, v in value.items()]
                else:
                    kind = "tuple" if isinstance(value, tuple) else "list"
                    items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            finally:
                self._active.discard(id(value))
            return {"type": kind, "items": items}
        hint = ""
        if hasattr(value, "state_dict"):
            hint = " (save its state_dict() instead)"
        elif hasattr(value, "detach") and hasattr(value, "numpy"):
            hint = " (convert it with .detach().cpu().numpy())"
        elif hasattr(value, "data") and isinstance(value.data, np.ndarray):
            hint = " (save its .data array instead)"
        raise TypeError(f"save: {where} has unsupported type {type(value).__name__}{hint}; "
                        f"only dicts, lists and tuples of arrays, numbers, strings, bools and None "
                        f"can be saved")


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts, OrderedDicts, lists and tuples of arrays, numbers, strings,
    bools and None) to ``path`` as one ``.npz`` file, atomically: on any failure the old file is
    untouched and no temporary file remains. ``path`` (str or os.PathLike) is used as given.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from cnnpy.serialization import save, load
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save([np.arange(3), 2.5], os.path.join(folder, "run.ckpt"))
    ...     os.listdir(folder), load(os.path.join(folder, "run.ckpt"))
    (['run.ckpt'], [array([0, 1, 2]), 2.5])

    PyTorch: ``torch.save(obj, path)``.
    """
    path = _fspath("save", path)
    encoder = _Encoder()
    root = encoder.encode(obj)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root},
                          allow_nan=False).encode("utf-8")
    entries = dict(encoder.arrays)
    entries[MANIFEST] = np.frombuffer(manifest, dtype=np.uint8)

    target = os.path.realpath(path)  # write through a symlink, not over it
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"save: directory {folder!r} does not exist", path)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None
    tmp, fd = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _create_temp(target: str):
    """A new file beside `target`, opened for writing, with the permissions a plain open() gives."""
    folder, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "save: could not create a temporary file", folder)


def _fsync_dir(folder: str) -> None:
    """Make the rename durable (POSIX); not possible or needed everywhere, so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load ----------------------------------------------------------------------------------------

def load(path):
    """Read a file written by ``save``: the same structure, with arrays of the saved dtype and
    shape. A missing file raises FileNotFoundError; a truncated, corrupt or foreign file
    ValueError, each naming the file.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from cnnpy.serialization import save, load
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save({1: np.zeros((), np.float64), "lr": 0.1}, os.path.join(folder, "opt.npz"))
    ...     load(os.path.join(folder, "opt.npz"))
    {1: array(0.), 'lr': 0.1}

    PyTorch: ``torch.load(path, weights_only=True)``.
    """
    path = _fspath("load", path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "load: no such file", path) from None
    with f:
        try:
            return _read(f)
        except _Corrupt as exc:
            raise ValueError(f"load: {path!r} is not a valid cnnpy checkpoint: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, ValueError,
                KeyError, IndexError, TypeError, NotImplementedError, RuntimeError,
                OverflowError) as exc:
            raise ValueError(f"load: {path!r} is truncated or corrupt "
                             f"({type(exc).__name__}: {exc})") from exc


def _read(f):
    # Check every entry's CRC first, so nothing is parsed from damaged bytes.
    with zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        bad = zf.testzip()
    if bad is not None:
        raise _Corrupt(f"entry {bad!r} fails its CRC check (the file is damaged)")
    if MANIFEST + ".npy" not in names:
        raise _Corrupt("it has no manifest (it was not written by cnnpy.save)")
    f.seek(0)
    with np.load(f, allow_pickle=False) as npz:
        manifest = _manifest(npz[MANIFEST])
        arrays = {k: npz[k] for k in npz.files if k != MANIFEST}
    decoder = _Decoder(arrays)
    obj = decoder.decode(manifest["root"])
    unused = sorted(set(arrays) - decoder.used)
    if unused:
        raise _Corrupt(f"entries {unused} are not described by the manifest")
    return obj


def _manifest(raw: np.ndarray) -> dict:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Corrupt(f"the manifest must be uint8 bytes, got dtype {raw.dtype} shape {raw.shape}")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Corrupt(f"the manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _Corrupt(f"the manifest does not name the format {FORMAT!r}")
    version = manifest.get("version")
    if version != VERSION:
        raise _Corrupt(f"it has format version {version!r}; this cnnpy reads version {VERSION}")
    if "root" not in manifest:
        raise _Corrupt("the manifest has no 'root'")
    return manifest


class _Decoder:
    """Rebuilds the saved object from manifest nodes and the archive's arrays."""

    def __init__(self, arrays: dict):
        self.arrays = arrays
        self.used = set()

    def _array(self, node: dict) -> np.ndarray:
        key = node.get("key")
        if key not in self.arrays:
            raise _Corrupt(f"the manifest refers to a missing entry {key!r}")
        if key in self.used:
            raise _Corrupt(f"the manifest refers to entry {key!r} twice")
        self.used.add(key)
        arr = self.arrays[key]
        if not isinstance(arr, np.ndarray):
            raise _Corrupt(f"entry {key!r} is not a .npy array")
        if arr.dtype.str != node.get("dtype") or list(arr.shape) != node.get("shape"):
            raise _Corrupt(f"entry {key!r} has dtype {arr.dtype.str} shape {arr.shape}, the manifest "
                           f"says dtype {node.get('dtype')} shape {node.get('shape')}")
        return arr

    def decode(self, node):
        if not isinstance(node, dict):
            raise _Corrupt(f"bad manifest node {node!r}")
        kind = node.get("type")
        value = node.get("value")
        if kind == "none":
            return None
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "float" and isinstance(value, str):
            return float(value)
        if kind == "str" and isinstance(value, str):
            return value
        if kind == "array":
            return self._array(node)
        if kind == "scalar":
            arr = self._array(node)
            if arr.ndim != 0:
                raise _Corrupt(f"entry {node['key']!r} should hold a scalar, got shape {arr.shape}")
            return arr[()]
        items = node.get("items")
        if kind in ("list", "tuple") and isinstance(items, list):
            values = [self.decode(v) for v in items]
            return tuple(values) if kind == "tuple" else values
        if kind in ("dict", "OrderedDict") and isinstance(items, list):
            out = OrderedDict() if kind == "OrderedDict" else {}
            for pair in items:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise _Corrupt(f"bad dict item {pair!r} in the manifest")
                key = self.decode(pair[0])
                try:
                    hash(key)
                except TypeError:
                    raise _Corrupt(f"unhashable dict key {key!r} in the manifest") from None
                out[key] = self.decode(pair[1])
            return out
        raise _Corrupt(f"bad manifest node {node!r}")
