"""The regression data sets' shared steps (Boston and California housing): one .npz of arrays
`x` (n, features) and `y` (n,), found or downloaded as _files does, then Keras's seeded split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _files

_NPZ_KEYS = ("x", "y")


def check_test_split(test_split) -> None:
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. "
            "It must be between 0 and 1 (exclusive of 1)."
        )


def load_xy(name: str, url: str, sha256: str, path: str, *extra: Path):
    """(x, y) of the .npz `path` (_files.resolve, with the extra folders last), downloaded from url
    when not found."""
    return _load_npz(_files.find_or_download(name, path, url, sha256, *extra))


def split(x, y, test_split: float, seed: int):
    """Keras's split: rows shuffled by np.random.RandomState(seed), the first
    int(n * (1 - test_split)) for training; copies, each owning its memory."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return ((x[:n_train].copy(), y[:n_train].copy()),
            (x[n_train:].copy(), y[n_train:].copy()))


def _load_npz(path: Path):
    arrays = _files.read_npz(path, _NPZ_KEYS)
    missing = [key for key in _NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}, expected {list(_NPZ_KEYS)}")
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 2 or y.ndim != 1 or x.dtype.kind not in "iuf" or y.dtype.kind not in "iuf":
        raise ValueError(
            f"{path}: expected numeric x of shape (n, features) and y of shape (n,), "
            f"got {x.shape} {x.dtype} and {y.shape} {y.dtype}"
        )
    if len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} samples in x but {len(y)} targets in y")
    return x, y
