"""CIFAR-100: 60,000 32x32 colour images in 100 fine classes grouped in 20 coarse ones (50,000
training, 10,000 test). Files and where they are looked for: _cifar.py.
"""

from __future__ import annotations

from . import _cifar

NAME = "cifar100"
URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
# Keras's published hash of the tarball (keras.datasets.cifar100).
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
SPEC = _cifar.Spec(
    name=NAME, py_dir="cifar-100-python", bin_dir="cifar-100-binary", tarball="cifar-100-python.tar.gz",
    url=URL, sha256=SHA256, train=("train",), test="test", bin_train=("train.bin",), bin_test="test.bin",
    label_bytes=2)


def load_data(label_mode="fine"):
    """Return `(x_train, y_train), (x_test, y_test)`, as Keras: x uint8 (50000 / 10000, 32, 32, 3)
    (channels last), y int64 (n, 1): the fine labels (0-99) or, with label_mode="coarse", the
    superclasses (0-19)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    # a binary record is coarse label, fine label, pixels
    return _cifar.load(SPEC, f"{label_mode}_labels", 1 if label_mode == "fine" else 0)
