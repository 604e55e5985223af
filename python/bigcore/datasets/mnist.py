"""MNIST: 70,000 28x28 grayscale images of handwritten digits 0-9."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import _files

NAME = "mnist"
URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# Keras's published hash of mnist.npz (keras.datasets.mnist).
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(path: str = "mnist.npz"):
    """Return `(x_train, y_train), (x_test, y_test)` as uint8 numpy arrays.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28),
    y_test (10000,). As in Keras, `path` names the .npz file relative to the cache
    (~/.bigcore/datasets/mnist); an absolute path is used as is. A relative name is
    also looked for in $BIGCORE_DATA and $BIGCORE_DATA/mnist, and any of those
    folders may hold the four IDX files instead (plain or .gz). Otherwise the .npz
    is downloaded from Keras's bucket into the cache.
    """
    target = Path(path).expanduser()
    if target.is_absolute():
        dirs, name, dest = [target.parent], target.name, target
    else:
        dirs, name, dest = _files.search_dirs(NAME), path, _files.cache_dir(NAME) / path
    found = _find(dirs, name)
    if found is not None:
        return found
    try:
        _files.download([URL], dest, SHA256)
    except OSError as exc:
        raise _files.not_found(NAME, dirs, [name, *_files.IDX_STEMS], exc) from exc
    return _load_npz(dest)


def _find(dirs: list[Path], name: str):
    # Per folder, the .npz wins over IDX files; earlier folders win over later ones.
    for folder in dirs:
        if (folder / name).is_file():
            return _load_npz(folder / name)
        paths = _files.find_set([folder], _files.IDX_STEMS)
        if paths is not None:
            return _files.load_idx_set(paths)
    return None


def _load_npz(path: Path):
    try:
        arrays = _read_npz(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    missing = [key for key in _NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}, expected {list(_NPZ_KEYS)}")
    _files.check_split(arrays["x_train"], arrays["y_train"], f"{path} (train)")
    _files.check_split(arrays["x_test"], arrays["y_test"], f"{path} (test)")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _read_npz(path: Path) -> dict:
    # allow_pickle=False: a data file must never be able to run code on load.
    # We own the file handle because np.load leaks its own when the zip is corrupt.
    with open(path, "rb") as f:
        data = np.load(f, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not an .npz archive")
        with data:
            return {key: data[key] for key in _NPZ_KEYS if key in data.files}
