"""Utilities with Keras names."""

import numpy as np

from bigcore import _random


def set_random_seed(seed):
    """Same seed, same weights, shuffles and dropout masks, bit for bit, whatever the thread count."""
    _random.set_seed(seed)


def to_categorical(x, num_classes=None):
    x = np.asarray(x)
    if x.dtype.kind not in "iuf" or (x.size and np.any(x != np.floor(x))) or (x.size and x.min() < 0):
        raise ValueError("to_categorical expects non-negative integer class ids")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    n = int(num_classes if num_classes is not None else (x.max() + 1 if x.size else 0))
    if x.size and x.max() >= n:
        raise ValueError(f"to_categorical: class id {x.max()} does not fit num_classes={n}")
    out = np.zeros(x.shape + (n,), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


from bigcore.py_dataset import PyDataset, Sequence  # noqa: E402
from bigcore.utils.dataset_split import split_dataset  # noqa: E402
from bigcore.utils.file_utils import get_file  # noqa: E402
from bigcore.utils.audio_dataset import audio_dataset_from_directory  # noqa: E402
from bigcore.utils.image_dataset import image_dataset_from_directory  # noqa: E402
from bigcore.utils.image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: E402
from bigcore.utils.plotting import model_to_dot, plot_history, plot_model  # noqa: E402
from bigcore.utils.progbar import Progbar  # noqa: E402
from bigcore.utils.sequence import pad_sequences  # noqa: E402
from bigcore.utils.text_dataset import text_dataset_from_directory  # noqa: E402
from bigcore.utils.timeseries import timeseries_dataset_from_array  # noqa: E402

__all__ = ["Config", "CustomObjectScope", "FeatureSpace", "Progbar", "PyDataset", "Sequence", "array_to_img", "clear_session",
           "custom_object_scope", "deserialize_keras_object", "disable_interactive_logging",
           "enable_interactive_logging", "get_custom_objects", "get_file", "get_source_inputs", "get_registered_name", "get_registered_object",
           "audio_dataset_from_directory", "image_dataset_from_directory", "img_to_array", "is_interactive_logging_enabled", "is_keras_tensor", "load_img", "model_to_dot", "normalize",
           "pack_x_y_sample_weight", "pad_sequences", "plot_history", "plot_model", "register_keras_serializable",
           "save_img", "serialize_keras_object", "set_random_seed", "split_dataset", "standardize_dtype", "text_dataset_from_directory",
           "timeseries_dataset_from_array", "to_categorical", "unpack_x_y_sample_weight"]
from bigcore.backend import clear_session, is_keras_tensor, standardize_dtype  # noqa: E402
from bigcore.config import (disable_interactive_logging, enable_interactive_logging,  # noqa: E402
                            is_interactive_logging_enabled)
from bigcore.layers.base import KerasTensor  # noqa: E402
from bigcore.saving import (CustomObjectScope, custom_object_scope, deserialize_keras_object,  # noqa: E402
                            get_custom_objects, get_registered_name, get_registered_object,
                            register_keras_serializable, serialize_keras_object)


def get_source_inputs(tensor):
    """Keras's utils.get_source_inputs: the Input tensors `tensor` (a symbolic tensor) is computed
    from, each once, in the order the graph reaches them."""
    if not isinstance(tensor, KerasTensor):
        raise TypeError(f"get_source_inputs expects a symbolic tensor (bigcore.Input or a layer's output), got "
                        f"{type(tensor).__name__}")
    out, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        node = t.node
        if node is None or not node.inputs:  # an Input (or a tensor no layer made)
            if id(t) not in seen:
                seen.add(id(t))
                out.append(t)
            continue
        stack.extend(reversed(node.inputs))
    return out


def normalize(x, axis=-1, order=2):
    """Keras's utils.normalize: x divided by its `order`-norm along `axis` (zero norms left as 0)."""
    x = np.asarray(x, np.float32)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """x, (x, y) or (x, y, sample_weight), as Keras packs a batch; a lone tuple or list x is wrapped."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) from a batch as fit reads it (missing parts None)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: "
                     f"{data}")


from bigcore.utils.config import Config  # noqa: E402
from bigcore.utils.feature_space import FeatureSpace  # noqa: E402
