"""Eager results as Keras's eager tensors: NumPy arrays that also answer `.numpy()` (TensorFlow's
tensors do, and torch's without a gradient), so `print(layer(x).numpy())` and `for x, y in
ds.take(1): x.numpy()` run unchanged. bigcore.ops on arrays, layer and model calls on arrays and
Dataset iteration return them; `model.predict` returns plain arrays, as Keras does."""

import numpy as np


class Tensor(np.ndarray):
    """An ndarray (every NumPy function takes it) with Keras's eager-tensor `numpy()`."""

    def numpy(self):
        return self.view(np.ndarray)

    def __repr__(self):  # printed as the array it is
        return repr(self.view(np.ndarray))


def wrap(value):
    """value with its arrays (also inside lists, tuples and dicts) seen as Tensors, without copies."""
    if isinstance(value, np.ndarray):
        return value if isinstance(value, Tensor) else value.view(Tensor)
    if type(value) in (list, tuple):
        return type(value)(wrap(v) for v in value)
    if type(value) is dict:
        return {k: wrap(v) for k, v in value.items()}
    return value
