"""CIFAR-10 and CIFAR-100 files, shared by cifar10.py and cifar100.py.

Keras downloads the "python version" tarball, whose batches are Python 2 pickles of a dict
(b"data": a uint8 array (n, 3072), the labels: lists of ints, plus a batch label and file
names). They are read with _pickle_data (no unpickling; any other content is refused). The
"binary version" is read too: records of the label byte(s) then 3072 pixel bytes.

Looked for, per folder (in the order of _files.search_dirs, then Keras's own cache
$KERAS_HOME/datasets or ~/.keras/datasets): the extracted python batches (<folder>/<py dir>/ or
Keras's <folder>/<py dir>-target/<py dir>/), the extracted binary batches, then the tarball (read
in place, never extracted). Otherwise the tarball is downloaded into the cache and checked against
Keras's SHA-256.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _files
from ._pickle_data import read_pickled_data

PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class Spec:
    name: str  # the cache folder: cifar10, cifar100
    py_dir: str  # the tarball's folder of python batches
    bin_dir: str  # the binary version's folder
    tarball: str
    url: str
    sha256: str
    train: tuple  # batch file names, in order
    test: str
    bin_train: tuple
    bin_test: str
    label_bytes: int  # per binary record: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)


def _batch_dict(data: bytes, source: str) -> dict:
    """A python batch's dict with str keys, its structure checked (module docstring)."""
    d = read_pickled_data(data, source)
    if not isinstance(d, dict) or not all(isinstance(k, (bytes, str)) for k in d):
        raise ValueError(f"{source}: expected a pickled dict with string keys (a CIFAR python batch), "
                         f"got {type(d).__name__}")
    out = {}
    for k, v in d.items():
        key = k.decode("utf8") if isinstance(k, bytes) else k
        ok = (isinstance(v, bytes) or (isinstance(v, np.ndarray) and v.dtype == np.uint8)
              or (isinstance(v, list) and all(isinstance(e, (int, bytes)) and not isinstance(e, bool) for e in v)))
        if not ok:
            raise ValueError(f"{source}: unexpected value for {key!r} in a CIFAR batch: {type(v).__name__}")
        out[key] = v
    return out


def parse_python_batch(data: bytes, label_key: str, source: str):
    """(x (n, 3, 32, 32) uint8, labels (n,) int64) of one python batch."""
    d = _batch_dict(data, source)
    for key in ("data", label_key):
        if key not in d:
            raise ValueError(f"{source}: no {key!r} in this CIFAR batch (keys: {sorted(d)})")
    x, labels = d["data"], d[label_key]
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != PIXELS:
        raise ValueError(f"{source}: expected 'data' of shape (n, {PIXELS}) uint8, got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(labels, list) or len(labels) != len(x) or not all(isinstance(v, int) for v in labels):
        raise ValueError(f"{source}: expected {len(x)} integer labels in {label_key!r}")
    return x.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def parse_binary_batch(data: bytes, label_bytes: int, label_index: int, source: str):
    """(x (n, 3, 32, 32) uint8, labels (n,) int64) of one binary batch."""
    rec = label_bytes + PIXELS
    if len(data) == 0 or len(data) % rec:
        raise ValueError(f"{source}: {len(data)} bytes is not a whole number of {rec}-byte CIFAR records")
    rows = np.frombuffer(data, np.uint8).reshape(-1, rec)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32).copy(), rows[:, label_index].astype(np.int64)


def _folder_readers(spec: Spec, folder: Path, label_key: str, label_index: int):
    """(read, binary) for what `folder` holds: read(batch name) -> (x, labels); binary: whether
    the names are the binary version's. None when the folder holds no complete set."""
    for py in (folder / spec.py_dir, folder / f"{spec.py_dir}-target" / spec.py_dir):
        if all((py / n).is_file() for n in (*spec.train, spec.test)):
            return lambda n, py=py: parse_python_batch((py / n).read_bytes(), label_key, str(py / n)), False
    b = folder / spec.bin_dir
    if all((b / n).is_file() for n in (*spec.bin_train, spec.bin_test)):
        return lambda n: parse_binary_batch((b / n).read_bytes(), spec.label_bytes, label_index, str(b / n)), True
    for tar in (folder / spec.tarball, folder / f"{spec.py_dir}-target_archive"):
        if tar.is_file():
            return _tar_reader(spec, tar, label_key), False
    return None


def _tar_reader(spec: Spec, tar: Path, label_key: str):
    def read(n):
        member = f"{spec.py_dir}/{n}"
        try:
            with tarfile.open(tar, "r:*") as archive:
                f = archive.extractfile(member)
                if f is None:
                    raise KeyError(member)
                data = f.read()
        except (tarfile.TarError, OSError, KeyError, EOFError) as exc:
            raise ValueError(f"{tar}: no readable {member} in this archive ({exc})") from exc
        return parse_python_batch(data, label_key, f"{tar}:{member}")
    return read


def load(spec: Spec, label_key: str, label_index: int):
    """((x_train, y_train), (x_test, y_test)): x (n, 32, 32, 3) uint8 (channels last, as Keras's
    default), y (n, 1) int64; the caller casts y as Keras does."""
    dirs = _files.search_dirs(spec.name, _files.keras_cache())
    reader = None
    for folder in dirs:
        reader = _folder_readers(spec, folder, label_key, label_index)
        if reader is not None:
            break
    if reader is None:
        dest = _files.cache_dir(spec.name) / spec.tarball
        try:
            _files.download([spec.url], dest, spec.sha256)
        except OSError as exc:
            raise _files.not_found(spec.name, dirs, [spec.py_dir + "/", spec.bin_dir + "/", spec.tarball], exc,
                                   forms="") from exc
        reader = _tar_reader(spec, dest, label_key), False
    read, binary = reader
    names = (spec.bin_train, spec.bin_test) if binary else (spec.train, spec.test)
    train = [read(n) for n in names[0]]
    x_test, y_test = read(names[1])
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return ((np.ascontiguousarray(x_train.transpose(0, 2, 3, 1)), y_train.reshape(-1, 1)),
            (np.ascontiguousarray(x_test.transpose(0, 2, 3, 1)), y_test.reshape(-1, 1)))
