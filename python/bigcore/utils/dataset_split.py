"""split_dataset: one dataset (arrays, or a Dataset of samples) into two, as keras.utils.split_dataset."""

import random

import numpy as np

from bigcore.data import Dataset, _flatten, _pack


def _split_sizes(left, right, total):
    """Keras's _rescale_dataset_split_sizes: fractions or counts -> two positive counts."""
    for name, v in (("left_size", left), ("right_size", right)):
        if v is not None and type(v) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, Received: type({name})={type(v)}")
    if left == 0 and right == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the split sizes must be "
                         "non-zero.")
    for name, v in (("left_size", left), ("right_size", right)):
        if (type(v) is int and not 0 < v < total) or (type(v) is float and not 0 < v < 1):
            raise ValueError(f"`{name}` should be either a positive integer smaller than {total}, or a float "
                             f"within the range `[0, 1]`. Received: {name}={v}")
    if type(left) is float and type(right) is float and left + right > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be less than or "
                         "equal to 1.")
    left = round(left * total) if type(left) is float else left
    right = round(right * total) if type(right) is float else right
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the {total}. "
                         f"Received: left_size + right_size = {left + right} and total_length = {total}")
    for v, side in ((left, "left"), (right, "right")):
        if v == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and `right_size`={right}. "
                             f"Resulting {side} side dataset split will be empty. Adjust any of the "
                             "aforementioned parameters")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """(left, right) Datasets of samples: the first left_size samples and the last right_size ones
    (fractions of the whole when floats; one may be None: the rest). `dataset` is an array, a
    list/tuple (or dict) of arrays with one length, or a bigcore Dataset (a batched one is split
    by samples and each half batched again alike). shuffle=True shuffles the samples first with
    Python's random.Random(seed), as Keras does."""
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. Received: "
                         "left_size=None and right_size=None")
    batch_size = None
    if isinstance(dataset, Dataset):
        batch_size = getattr(dataset, "_batch_size", None)
        elements = list(dataset)
        if not elements:
            raise ValueError("split_dataset got an empty Dataset")
        flat0, how = _flatten(elements[0])
        cols = [[_flatten(e)[0][k] for e in elements] for k in range(len(flat0))]
        cols = [np.concatenate(c) if batch_size else np.stack(c) for c in cols]
    elif isinstance(dataset, (np.ndarray, list, tuple, dict)):
        if isinstance(dataset, np.ndarray) or (isinstance(dataset, list) and dataset
                                               and not hasattr(dataset[0], "__len__")):
            dataset = np.asarray(dataset)
        cols, how = _flatten(dataset) if not isinstance(dataset, np.ndarray) else ([dataset], ("single", None))
        cols = [np.asarray(c) for c in cols]
    else:
        raise TypeError("The `dataset` argument must be either a bigcore.data.Dataset or a list/tuple of arrays. "
                        f"Received: dataset={dataset!r} of type {type(dataset)}")
    lengths = {len(c) for c in cols}
    if len(lengths) != 1:
        raise ValueError(f"The arrays of `dataset` must have one length; got {sorted(lengths)}")
    total = lengths.pop()
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    left, right = _split_sizes(left_size, right_size, total)
    order = np.asarray(order, dtype=np.int64)
    halves = []
    for rows in (order[:left], order[total - right:]):
        ds = Dataset.from_tensor_slices(_pack([c[rows] for c in cols], how))
        halves.append(ds.batch(batch_size) if batch_size else ds)
    return tuple(halves)
