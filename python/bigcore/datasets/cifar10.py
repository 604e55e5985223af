"""CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 training, 10,000 test).

Classes: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.
Files and where they are looked for: _cifar.py.
"""

from __future__ import annotations

import numpy as np

from . import _cifar

NAME = "cifar10"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# Keras's published hash of the tarball (keras.datasets.cifar10).
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
SPEC = _cifar.Spec(
    name=NAME, py_dir="cifar-10-batches-py", bin_dir="cifar-10-batches-bin", tarball="cifar-10-python.tar.gz",
    url=URL, sha256=SHA256, train=tuple(f"data_batch_{i}" for i in range(1, 6)), test="test_batch",
    bin_train=tuple(f"data_batch_{i}.bin" for i in range(1, 6)), bin_test="test_batch.bin", label_bytes=1)


def load_data():
    """Return `(x_train, y_train), (x_test, y_test)` as uint8 numpy arrays, as Keras.

    Shapes: x_train (50000, 32, 32, 3) (channels last), y_train (50000, 1), x_test
    (10000, 32, 32, 3), y_test (10000, 1); the training set is data_batch_1 .. 5 in order.
    """
    (x_train, y_train), (x_test, y_test) = _cifar.load(SPEC, "labels", 0)
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))
