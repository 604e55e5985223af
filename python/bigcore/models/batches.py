"""Where fit/evaluate/predict get their batches from.

A batch is (source, idx, start, count): the rows idx[start:start + count] (idx None: start:start +
count) of a native batch source, the arrays bound to the program and checked once
(`Program.bind`). In-memory arrays are converted and bound once per call; the native step then
gathers each batch's rows itself (through the shuffled index), so nothing about the arrays is
done per batch. Datasets, generators and memory-mapped arrays are converted and bound batch by
batch as they arrive.
"""

import itertools
import math

import numpy as np

from bigcore import py_dataset
from bigcore.data import SHUFFLE_STREAM, Dataset
from bigcore._native import _core
from bigcore.models import data_adapter


def is_streamed(x):
    """True for inputs that arrive batch by batch rather than as whole arrays."""
    if isinstance(x, Dataset) or _is_iterator(x):
        return True
    flat = list(x.values()) if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x])
    return any(isinstance(a, np.memmap) for a in flat)


def _is_iterator(x):
    """A generator or other iterable of batches; an array-like (anything with __array__: a pandas
    DataFrame or Series, a tensor of another library) is data, however it iterates."""
    if hasattr(x, "__next__"):
        return True
    return hasattr(x, "__iter__") and not hasattr(x, "__array__") and not isinstance(x, (np.ndarray, list, tuple, dict))


class ArrayBatches:
    """Whole arrays, bound once to the native program `native`: yields (source, idx, start, count)."""

    def __init__(self, native, xs, ys, sw, batch_size, shuffle, seed, limit=None):
        self.native, self.xs, self.ys, self.sw = native, xs, ys, sw
        self.n = xs[0].shape[0]
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.steps = math.ceil(self.n / batch_size)
        if limit is not None:  # steps= of evaluate / predict, validation_steps: the first `limit` batches
            self.steps = min(self.steps, limit)
        self._source = None

    def bind(self, outs=None):
        """The native source of these arrays (and of predict's output arrays `outs`)."""
        self._source = self.native.bind(self.xs, self.ys, self.sw, outs)
        return self._source

    def epoch(self, epoch, limit=None):
        source = self._source or self.bind()
        idx = _core.permutation(self.n, self.seed, SHUFFLE_STREAM, epoch) if self.shuffle else None
        for step in range(self.steps if limit is None else min(limit, self.steps)):
            start = step * self.batch_size
            yield source, idx, start, min(self.batch_size, self.n - start)


class StreamBatches:
    """Batches converted as they arrive. make_epoch(epoch) returns the epoch's iterator of
    (x, y[, sample_weight]) tuples (or x alone when there are no targets); steps: batches per
    epoch, or None to run until it ends. `persistent`: a generator that goes on across epochs."""

    def __init__(self, model, make_epoch, steps, with_targets, class_weight=None, persistent=False):
        self.model, self.make_epoch, self.with_targets = model, make_epoch, with_targets
        self.steps, self.class_weight, self.persistent = steps, class_weight, persistent
        self.current_xs = None

    @classmethod
    def from_source(cls, model, source, steps, with_targets, class_weight=None, shuffle=False):
        if isinstance(source, py_dataset.PyDataset):
            return cls.from_py_dataset(model, source, steps, with_targets, class_weight, shuffle)
        if isinstance(source, Dataset):
            card = source.cardinality()
            return cls(model, lambda e: iter(source), steps if steps is not None else (card if card >= 0 else None),
                       with_targets, class_weight)
        it = iter(source)
        return cls(model, lambda e: it, steps, with_targets, class_weight, persistent=True)

    @classmethod
    def from_py_dataset(cls, model, ds, steps, with_targets, class_weight=None, shuffle=False):
        """A PyDataset: its batches by index (shuffled per epoch with fit(shuffle=True), as Keras),
        on its workers; on_epoch_begin / on_epoch_end around each pass."""
        n = ds.num_batches
        seed = model._seed

        def make_epoch(epoch):
            ds.on_epoch_begin()
            try:
                if n is None:
                    order = itertools.count()
                else:
                    order = _core.permutation(n, seed, SHUFFLE_STREAM, epoch) if shuffle else range(n)
                for batch in py_dataset.batches(ds, (int(i) for i in order)):
                    yield _standardize(batch)
            finally:
                ds.on_epoch_end()

        return cls(model, make_epoch, steps if steps is not None else n, with_targets, class_weight)

    @classmethod
    def from_memmap(cls, model, x, y, sw, batch_size, shuffle, seed, with_targets, class_weight=None):
        """Memory-mapped arrays: batches in the same order as ArrayBatches, read when needed."""
        flat_x = isinstance(x, (list, tuple))
        n = len(x[0] if flat_x else x)

        def make_epoch(epoch):
            idx = _core.permutation(n, seed, SHUFFLE_STREAM, epoch) if shuffle else np.arange(n)
            for s in range(0, n, batch_size):
                rows = idx[s:s + batch_size]
                xb = [a[rows] for a in x] if flat_x else x[rows]
                if not with_targets:
                    yield xb
                    continue
                yb = [a[rows] for a in y] if isinstance(y, (list, tuple)) else y[rows]
                yield (xb, yb) if sw is None else (xb, yb, np.asarray(sw)[rows])

        return cls(model, make_epoch, math.ceil(n / batch_size), with_targets, class_weight)

    def epoch(self, epoch, limit=None):
        it = self.make_epoch(epoch)
        steps = limit if limit is not None else self.steps
        step = 0
        try:
            while steps is None or step < steps:
                try:
                    batch = next(it)
                except StopIteration:
                    if self.persistent and steps is not None:
                        raise ValueError(f"The generator ran out of data after {step} batches of an epoch of "
                                         f"{steps} steps; make it loop, or lower steps_per_epoch") from None
                    return
                xs, ys, sw = self._convert(batch)
                self.current_xs = xs  # predict sizes this batch's outputs from them (variable lengths)
                yield self.model._program.native.bind(xs, ys, sw), None, 0, xs[0].shape[0]
                step += 1
        finally:
            if not self.persistent and hasattr(it, "close"):  # ends a cut-short epoch (PyDataset.on_epoch_end)
                it.close()

    def _convert(self, batch):
        if self.with_targets:
            if not isinstance(batch, tuple) or len(batch) not in (2, 3):
                raise ValueError("A training/evaluation batch must be a tuple (x, y) or (x, y, sample_weight), "
                                 f"got {type(batch).__name__}")
            xs = data_adapter.prepare_inputs(self.model, batch[0])
            n = xs[0].shape[0]
            ys = data_adapter.prepare_targets(self.model, batch[1], n)
            sw = data_adapter.sample_weights(self.model, ys, n, batch[2] if len(batch) == 3 else None,
                                             self.class_weight)
            return xs, ys, sw
        x = batch[0] if isinstance(batch, tuple) else batch
        return data_adapter.prepare_inputs(self.model, x), None, None


def _standardize(batch):
    """A PyDataset batch as fit reads it: a list becomes a tuple, a lone array a 1-tuple (Keras)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        batch = (batch,)
    if not 1 <= len(batch) <= 3:
        raise ValueError("PyDataset.__getitem__() must return x, (x,), (x, y) or (x, y, sample_weight). "
                         f"Received a tuple of {len(batch)} items")
    return batch
