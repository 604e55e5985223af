"""Checks the Keras-file tests share: outputs close to float32 round-off, and the layout of an
HDF5 weights file."""

import numpy as np


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=atol)


def h5_layout(path):
    """{dataset path: shape} of an HDF5 weights file (the `vars` groups' contents)."""
    import h5py  # noqa: PLC0415  (the keras extra; the tests that call this skip without it)
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return out
