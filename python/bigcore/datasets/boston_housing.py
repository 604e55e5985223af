"""Boston Housing: 506 Boston suburbs (1970s), 13 attributes each, median home value in k$.

As Keras warns: the data set has an ethical problem (its variable "B" may appear to
assume that racial self-segregation influences house prices); use it to illustrate
regression mechanics or ethical issues in data science, not as a model of house prices.
"""

from __future__ import annotations

from . import _xy

NAME = "boston_housing"
URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
# Keras's published hash of boston_housing.npz (keras.datasets.boston_housing).
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


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
    _xy.check_test_split(test_split)
    x, y = _xy.load_xy(NAME, URL, SHA256, path)
    return _xy.split(x, y, test_split, seed)
