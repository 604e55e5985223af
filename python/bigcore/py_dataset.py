"""PyDataset (and its older name Sequence): a dataset of batches written in Python, which fit /
evaluate / predict read by index, on worker threads or processes as Keras 3 does.

A subclass implements __len__ (the number of batches) and __getitem__(i) (batch i: x, (x,),
(x, y) or (x, y, sample_weight)); on_epoch_begin / on_epoch_end run around each pass. `workers`,
`use_multiprocessing` and `max_queue_size` are given to the constructor, as in Keras 3: with
workers > 1 (or use_multiprocessing) up to max_queue_size batches are prepared ahead, in order.
"""

import concurrent.futures
import itertools
import multiprocessing
import warnings

_DEFAULTS = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}


class PyDataset:
    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "workers" else 1):
                raise ValueError(f"PyDataset expects {name} to be an int >= {0 if name == 'workers' else 1}. "
                                 f"Received: {name}={value!r}")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    def _setting(self, attr):
        if attr not in self.__dict__:  # a subclass that did not call super().__init__(), as Keras warns
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
                          "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`.",
                          stacklevel=3)
            self.__dict__[attr] = _DEFAULTS[attr]
        return self.__dict__[attr]

    @property
    def workers(self):
        return self._setting("_workers")

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return self._setting("_use_multiprocessing")

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return self._setting("_max_queue_size")

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index): batch `index`")

    @property
    def num_batches(self):
        """The number of batches (len(self)), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (or the num_batches property)")

    def __iter__(self):
        n = self.num_batches
        for i in itertools.count() if n is None else range(n):
            yield self[i]

    def on_epoch_begin(self):
        """Called before each pass over the batches."""

    def on_epoch_end(self):
        """Called after each pass over the batches."""


Sequence = PyDataset


# The datasets worker processes read, by id: set before a pool forks (a spawned worker gets its
# dataset pickled instead), so a validation pool never sees the training one's.
_WORKER_DATASETS = {}
_next_uid = itertools.count()


def _init_worker(uid, dataset):
    if dataset is not None:
        _WORKER_DATASETS[uid] = dataset


def _get_item(uid, i):
    return _WORKER_DATASETS[uid][i]


def batches(dataset, indices):
    """The batches dataset[i] for i in `indices` (an iterable; it may be endless), in that order,
    fetched ahead by the dataset's workers (threads, or processes with use_multiprocessing)."""
    workers, processes = dataset.workers, dataset.use_multiprocessing
    if workers <= 1 and not processes:
        for i in indices:
            yield dataset[i]
        return
    ahead = dataset.max_queue_size
    workers = max(1, workers)
    if processes:
        yield from _process_batches(dataset, indices, workers, ahead)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = []
        try:
            for i in indices:
                pending.append(pool.submit(dataset.__getitem__, i))
                if len(pending) >= ahead:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for f in pending:
                f.cancel()


def _process_batches(dataset, indices, workers, ahead):
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    forked = ctx.get_start_method() == "fork"
    uid = next(_next_uid)
    _WORKER_DATASETS[uid] = dataset
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(uid, None if forked else dataset))
    pending = []
    try:
        for i in indices:
            pending.append(pool.apply_async(_get_item, (uid, i)))
            if len(pending) >= ahead:
                yield pending.pop(0).get()
        while pending:
            yield pending.pop(0).get()
    finally:
        pool.terminate()
        pool.join()
        del _WORKER_DATASETS[uid]
