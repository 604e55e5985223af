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
from bigcore.utils.plotting import model_to_dot, plot_history, plot_model  # noqa: E402
from bigcore.utils.progbar import Progbar  # noqa: E402
from bigcore.utils.sequence import pad_sequences  # noqa: E402
from bigcore.utils.text_dataset import text_dataset_from_directory  # noqa: E402
from bigcore.utils.timeseries import timeseries_dataset_from_array  # noqa: E402

__all__ = ["Progbar", "PyDataset", "Sequence", "get_file", "model_to_dot", "pad_sequences", "plot_history",
           "plot_model", "set_random_seed", "split_dataset", "text_dataset_from_directory",
           "timeseries_dataset_from_array", "to_categorical"]
