"""timeseries_dataset_from_array: sliding windows over a time series, as a bigcore.data.Dataset."""

import numpy as np

from bigcore.data import Dataset


def _check_index(name, value, n, low=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < low:
        raise ValueError(f"`{name}` must be {low} or greater. Received: {name}={value}")
    if value >= n:
        raise ValueError(f"`{name}` must be lower than the length of the data. Received: {name}={value}, "
                         f"for data of length {n}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Batches of windows over `data` (axis 0 is time), as keras.utils.timeseries_dataset_from_array.

    Window i holds data[start + p_i + k * sampling_rate] for k < sequence_length, where start is
    start_index (0) and p_i = i * sequence_stride; its target is targets[start + p_i]. Windows that
    would reach end_index (len(data)) or past the end of `targets` are not made. Yields (x, y)
    batches, or x alone when targets is None; batch_size=None yields single windows.

    shuffle=True: the window order is NumPy's RandomState(seed) shuffle of the start positions (as
    Keras), then shuffled again on every pass over the dataset (Keras's buffered tf.data shuffle,
    whose exact order depends on TensorFlow, is not reproduced). Each batch is one fancy-index of
    the arrays: no window is copied before it is asked for.
    """
    data = np.asarray(data) if not hasattr(data, "shape") else data
    n = len(data)
    if start_index:
        _check_index("start_index", start_index, n)
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: start_index={start_index}, "
                             f"and end_index={end_index}")
        _check_index("end_index", end_index, n, low=1)
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride),
                        ("sequence_length", sequence_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value!r}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value >= n:
            raise ValueError(f"`{name}` must be lower than the length of the data. Received: {name}={value}, "
                             f"for data of length {n}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size <= 0):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: batch_size={batch_size!r}")
    start = start_index or 0
    stop = end_index or n
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        if len(targets) == 0:
            raise ValueError("`targets` is empty")
        count = min(count, len(targets) - start)
    positions = np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(positions)
    offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate
    step = 1 if batch_size is None else int(batch_size)
    passes = [0]

    def make_iter():
        order = positions
        if shuffle and passes[0]:
            order = positions[np.random.default_rng([seed, passes[0]]).permutation(len(positions))]
        passes[0] += 1
        for s in range(0, len(order), step):
            starts = start + order[s:s + step]
            x = data[starts[:, None] + offsets]
            y = None if targets is None else np.asarray(targets[starts] if hasattr(targets, "shape")
                                                        else [targets[int(i)] for i in starts])
            if batch_size is None:
                x, y = x[0], None if y is None else y[0]
            yield x if y is None else (x, y)

    return Dataset(make_iter, -(-len(positions) // step))
