"""Boston Housing: 506 Boston suburbs (1970s), 13 attributes each, median home value in k$.

As Keras warns: the data set has an ethical problem (its variable "B" may appear to
assume that racial self-segregation influences house prices); use it to illustrate
regression mechanics or ethical issues in data science, not as a model of house prices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _files

NAME = "boston_housing"
URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
# Keras's published hash of boston_housing.npz (keras.datasets.boston_housing).
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
_NPZ_KEYS = ("x", "y")


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """Return `(x_train, y_train), (x_test, y_test)` as float numpy arrays, like Keras.

    x has shape (n, 13) and y (n,): with the real file and the default `test_split`,
    404 training and 102 test samples. The rows are shuffled with
    `np.random.RandomState(seed)` before the first `int(n * (1 - test_split))` become
    the training set, exactly as in Keras, so the same seed gives the same split.

    `path` names the .npz (arrays `x` and `y`) relative to the cache
    (~/.bigcore/datasets/boston_housing), also looked for in $BIGCORE_DATA and
    $BIGCORE_DATA/boston_housing; an absolute path is used as is. Otherwise the file is
    downloaded from Keras's bucket into the cache and checked against its SHA-256.
    """
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. "
            "It must be between 0 and 1 (exclusive of 1)."
        )
    dirs, name, dest = _files.resolve(NAME, path)
    found = _files.first_file(dirs, name)
    if found is None:
        try:
            found = _files.download([URL], dest, SHA256)
        except OSError as exc:
            raise _files.not_found(NAME, dirs, [name], exc, forms="") from exc
    x, y = _load_npz(found)

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    # Copies, as in Keras: each returned array owns its memory.
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
