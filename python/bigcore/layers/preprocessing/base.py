"""InputSideLayer: the base of the preprocessing layers, which run in NumPy on the input side.

Strings never enter a native program, and these layers hold state learned by adapt()
(vocabularies, means) rather than trained weights, so they run before it: standalone on arrays
(`layer(x)`), in a Dataset pipeline (`ds.map(layer)`), or as a model's first layers, which the
model runs in NumPy before each native call (models/input_side.py). A model whose preprocessing
layer comes after a native layer is refused when it is built.
"""

import numpy as np

from bigcore.data import Dataset
from bigcore.layers.base import KerasTensor, Layer
from bigcore.py_dataset import PyDataset


class InputSideLayer(Layer):
    input_side = True  # models/input_side.py splits the graph on this
    output_dtype = "float32"

    def __init__(self, name=None, dtype=None, **kwargs):
        # dtype: Keras's compute dtype (a name or a DTypePolicy's config); outputs are float32 or
        # int64 whatever it says, as here the values cross into float32 native programs anyway
        super().__init__(name=name, **kwargs)

    def __call__(self, inputs, **kwargs):
        if isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple)) and inputs
                                               and all(isinstance(x, KerasTensor) for x in inputs)):
            if kwargs:
                raise TypeError(f"{type(self).__name__} takes no keyword arguments in a model. Received: {sorted(kwargs)}")
            out = super().__call__(inputs)
            out.dtype = self.output_dtype
            return out
        return self.call(inputs, **kwargs)  # call() refuses what it does not take

    def call(self, inputs):
        """The layer on an array (or list) of values: a NumPy array."""
        raise NotImplementedError

    def lower(self, prog, inputs, outputs):
        raise ValueError(f"{type(self).__name__} {self.name!r} runs on the input side, in NumPy before the native "
                         "program; it cannot take the output of a native layer")

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return config


def batches_of(data, steps=None, lists_are_batches=False):
    """adapt()'s data as a sequence of NumPy batches: an array is one batch, and so is a list or
    tuple (the lookups' data) unless lists_are_batches (Normalization, Discretization: Keras reads a
    list as batches there); a Dataset, a PyDataset or any other iterable yields batches (the x of
    (x, y) tuples); at most `steps`."""
    if isinstance(data, np.ndarray) or np.isscalar(data) or (isinstance(data, (list, tuple))
                                                             and not lists_are_batches):
        if steps is not None:
            raise ValueError("adapt(steps=...) is for datasets and iterables, not for arrays or lists")
        yield np.asarray(data)
        return
    if not (isinstance(data, (Dataset, PyDataset)) or hasattr(data, "__iter__")):
        raise TypeError("adapt() expects an array, a list, a bigcore Dataset, a PyDataset or an iterable of "
                        f"batches. Received: {type(data).__name__}")
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            return
        if isinstance(batch, tuple):
            batch = batch[0]
        yield np.asarray(batch)


def check_int(name, value, low, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}{' or None' if allow_none else ''}. "
                         f"Received: {name}={value!r}")
    return int(value)


def encode_categorical(ids, mode, depth, count_weights=None):
    """int ids (any shape) -> float32 encodings, as Keras's encode_categorical_inputs: one_hot adds a
    depth axis (replacing a trailing axis of 1), multi_hot / count reduce the last axis (a 1-D input
    is one sample). Ids must lie in [0, depth)."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= depth):
        raise ValueError(f"Encoded values must lie in [0, {depth}); received values in [{ids.min()}, {ids.max()}]")
    ids = ids.astype(np.int64)
    if ids.ndim == 0:
        ids = ids[None]
    if mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids[..., 0]
        out = np.zeros(ids.shape + (depth,), np.float32)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out
    flat = ids.reshape(-1, ids.shape[-1])
    out = np.zeros((flat.shape[0], depth), np.float32)
    rows = np.repeat(np.arange(flat.shape[0]), flat.shape[1])
    if mode == "multi_hot":
        out[rows, flat.reshape(-1)] = 1.0
    elif count_weights is not None:
        np.add.at(out, (rows, flat.reshape(-1)), np.asarray(count_weights, np.float32).reshape(-1))
    else:
        np.add.at(out, (rows, flat.reshape(-1)), 1.0)
    return out.reshape(ids.shape[:-1] + (depth,))


def encoded_shape(input_shape, mode, depth):
    """The output shape of encode_categorical for an input shape (batch first)."""
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    return shape[:-1] + (depth,)
