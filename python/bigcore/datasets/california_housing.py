"""California Housing (the 1990 US census): 20,640 block groups, 8 features each (median
income, house age, average rooms and bedrooms, population, average occupancy, latitude,
longitude), target the median house value in dollars."""

from __future__ import annotations

from . import _files, _xy

NAME = "california_housing"
URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
# Keras's published hash of california_housing.npz (keras.datasets.california_housing).
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
SMALL = 600  # rows of version="small": the file's first 600, as Keras


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Return `(x_train, y_train), (x_test, y_test)` as Keras does: x (n, 8), y (n,); "large" is
    all 20,640 rows (16,512 train, 4,128 test at test_split 0.2), "small" the first 600 (480, 120).
    The rows are shuffled with np.random.RandomState(seed), the first int(n * (1 - test_split))
    for training. `path`: as boston_housing's, also looked for in Keras's cache (~/.keras/datasets).
    """
    _xy.check_test_split(test_split)
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    x, y = _xy.load_xy(NAME, URL, SHA256, path, _files.keras_cache())
    if version == "small":
        x, y = x[:SMALL], y[:SMALL]
    return _xy.split(x, y, test_split, seed)
