"""bigcore.data.Dataset: a small tf.data-style input pipeline that yields numpy arrays.

A pipeline that starts from arrays (`from_tensor_slices`) and is shuffled with a buffer at least
as large as the data and then batched stays vectorized: each batch is one fancy-index of the
arrays, not a Python loop over samples. `prefetch` runs the upstream pipeline on a background
thread, so loading overlaps the native training step (which releases the GIL).
"""

import concurrent.futures
import itertools
import queue
import threading

import numpy as np

from bigcore import _random, _tensor
from bigcore._native import _core

AUTOTUNE = -1
INFINITE = -1
UNKNOWN = -2
SHUFFLE_STREAM = 0  # the stream of every shuffle; model.fit(shuffle=True) uses it too


def _flatten(structure):
    """(leaves, how): a dict's values by sorted key, a tuple's or list's items, or the value itself;
    dicts and tuples inside them (tf.data's (features dict, labels) elements) are flattened too."""
    if isinstance(structure, dict):
        keys = sorted(structure)
        parts = [_flatten_inner(structure[k]) for k in keys]
        if all(h is None for _, h in parts):
            return [structure[k] for k in keys], ("dict", keys)
        return [v for f, _ in parts for v in f], ("nested_dict", [(k, h, len(f)) for k, (f, h) in zip(keys, parts)])
    if isinstance(structure, (tuple, list)):
        parts = [_flatten_inner(v) for v in structure]
        if all(h is None for _, h in parts):
            return list(structure), ("tuple", len(structure))
        return [v for f, _ in parts for v in f], ("nested_tuple", [(h, len(f)) for f, h in parts])
    return [structure], ("single", None)


def _flatten_inner(value):
    """A component inside a structure: a nested dict or tuple flattened (with its how), else a leaf (how None)."""
    if isinstance(value, (dict, tuple)):
        return _flatten(value)
    return [value], None


def _pack(flat, how):
    kind, info = how
    if kind == "dict":
        return dict(zip(info, flat))
    if kind == "tuple":
        return tuple(flat)
    if kind in ("nested_dict", "nested_tuple"):
        out, i = [], 0
        for entry in info:
            sub, n = entry[-2], entry[-1]
            out.append(flat[i] if sub is None else _pack(flat[i:i + n], sub))
            i += n
        return dict(zip((e[0] for e in info), out)) if kind == "nested_dict" else tuple(out)
    return flat[0]


def _stack_elements(chunk, first):
    """One batch from the elements `chunk` (stream indices first, first + 1, ...): each component
    stacked; elements of different structures or shapes are refused naming both."""
    flat0, how = _flatten(chunk[0])
    flats = []
    for i, el in enumerate(chunk):
        flat, el_how = _flatten(el)
        if el_how != how:
            raise ValueError(f"Dataset.batch: element {first + i} has the structure {el_how}, but element {first} "
                             f"of the same batch has {how}: every element must have the same structure")
        flats.append([np.asarray(v) for v in flat])
    cols = []
    for k in range(len(flat0)):
        shape0 = flats[0][k].shape
        for i, flat in enumerate(flats):
            if flat[k].shape != shape0:
                part = f" (component {k})" if len(flat0) > 1 else ""
                raise ValueError(f"Dataset.batch: element {first + i} has shape {flat[k].shape}{part}, but element "
                                 f"{first} of the same batch has shape {shape0}: the elements of a batch must have "
                                 "one shape (pad or crop them first, e.g. with .map)")
        cols.append(np.stack([flat[k] for flat in flats]))
    return _pack(cols, how)


class Dataset:
    """An iterable pipeline; each `__iter__` starts a new pass (a new epoch for shuffles)."""

    def __init__(self, make_iter, cardinality=UNKNOWN, slices=None):
        self._make_iter = make_iter
        self._cardinality = cardinality
        self._slices = slices  # (flat arrays, how, order function or None) while still vectorizable
        self._passes = 0

    # -- sources --
    @staticmethod
    def from_tensor_slices(tensors):
        flat, how = _flatten(tensors)
        flat = [np.asarray(a) for a in flat]
        n = {len(a) for a in flat}
        if len(n) != 1:
            raise ValueError(f"from_tensor_slices: all arrays need the same first dimension, got {sorted(n)}")
        n = n.pop()

        def make_iter():
            for i in range(n):
                yield _pack([a[i] for a in flat], how)

        return Dataset(make_iter, n, slices=(flat, how, None))

    @staticmethod
    def from_generator(generator, output_signature=None, output_types=None, output_shapes=None, args=None):
        if not callable(generator):
            raise TypeError("from_generator expects a callable that returns an iterator (e.g. a generator function)")
        return Dataset(lambda: iter(generator(*(args or ()))), UNKNOWN)

    @staticmethod
    def range(*args):
        r = range(*args)
        return Dataset.from_tensor_slices(np.arange(r.start, r.stop, r.step, dtype=np.int64))

    # -- transformations --
    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        if not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"shuffle: buffer_size must be a positive int, got {buffer_size!r}")
        seed = _random.seed() if seed is None else int(seed)
        state = {"passes": 0}

        def epoch():
            e = state["passes"] if reshuffle_each_iteration else 0
            state["passes"] += 1
            return e

        if self._slices is not None and self._slices[2] is None and buffer_size >= self._cardinality:
            flat, how, _ = self._slices
            n = self._cardinality

            def order():
                return _core.permutation(n, seed, SHUFFLE_STREAM, epoch())

            def make_iter():
                idx = order()
                for i in idx:
                    yield _pack([a[i] for a in flat], how)

            return Dataset(make_iter, n, slices=(flat, how, order))

        upstream = self._make_iter

        def make_buffered():  # tf.data's buffer shuffle, driven by the counter-based RNG
            rng = np.random.default_rng([seed, epoch()])
            buf = []
            for el in upstream():
                if len(buf) < buffer_size:
                    buf.append(el)
                    continue
                j = int(rng.integers(len(buf)))
                yield buf[j]
                buf[j] = el
            while buf:
                yield buf.pop(int(rng.integers(len(buf))))

        return Dataset(make_buffered, self._cardinality)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch: batch_size must be a positive int, got {batch_size!r}")
        card = self._cardinality
        if card >= 0:
            card = card // batch_size if drop_remainder else -(-card // batch_size)
        if self._slices is not None:
            flat, how, order = self._slices
            n = self._cardinality

            def make_iter():
                idx = order() if order else None
                stop = n - n % batch_size if drop_remainder else n
                for s in range(0, stop, batch_size):
                    sel = idx[s:s + batch_size] if idx is not None else slice(s, s + batch_size)
                    yield _pack([a[sel] for a in flat], how)

            return Dataset(make_iter, card)._batched(batch_size)
        upstream = self._make_iter

        def make_batches():
            it = upstream()
            first = 0  # the stream index of the chunk's first element
            while True:
                chunk = list(itertools.islice(it, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield _stack_elements(chunk, first)
                first += len(chunk)

        return Dataset(make_batches, card)._batched(batch_size)

    def _batched(self, batch_size):
        self._batch_size = batch_size  # read by utils.split_dataset, as Keras reads tf.data's
        return self

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        upstream = self._make_iter

        def call(el):
            return map_func(*el) if isinstance(el, tuple) else map_func(el)

        if num_parallel_calls in (None, 1):
            return Dataset(lambda: (call(el) for el in upstream()), self._cardinality)
        workers = 4 if num_parallel_calls == AUTOTUNE else int(num_parallel_calls)

        def make_iter():  # order-preserving thread pool, at most 2*workers elements in flight
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                pending = []
                for el in upstream():
                    pending.append(pool.submit(call, el))
                    if len(pending) >= 2 * workers:
                        yield pending.pop(0).result()
                for f in pending:
                    yield f.result()

        return Dataset(make_iter, self._cardinality)

    def repeat(self, count=None):
        upstream = self._make_iter

        def make_iter():
            for _ in itertools.count() if count is None or count < 0 else range(count):
                yield from upstream()

        card = INFINITE if count is None or count < 0 else (self._cardinality * count if self._cardinality >= 0 else UNKNOWN)
        return Dataset(make_iter, card)

    def take(self, count):
        upstream = self._make_iter
        if self._cardinality >= 0:
            card = min(count, self._cardinality)
        else:
            card = count if self._cardinality == INFINITE else UNKNOWN
        return Dataset(lambda: itertools.islice(upstream(), count), card)

    def skip(self, count):
        """All but the first `count` elements (tf.data's; a negative count skips everything)."""
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
            raise TypeError(f"skip: count must be an int, got {count!r}")
        count = int(count)
        upstream = self._make_iter

        def make_iter():
            it = upstream()
            if count < 0:
                return iter(())
            return itertools.islice(it, count, None)

        if self._cardinality >= 0:
            card = 0 if count < 0 else max(0, self._cardinality - count)
        else:
            card = self._cardinality if count >= 0 else 0
        return Dataset(make_iter, card)

    def filter(self, predicate):
        """The elements for which predicate(*element) (a tuple's components as arguments) is true."""
        if not callable(predicate):
            raise TypeError(f"filter: predicate must be callable, got {predicate!r}")
        upstream = self._make_iter

        def keep(el):
            v = predicate(*el) if isinstance(el, tuple) else predicate(el)
            v = np.asarray(v)
            if v.shape != () or v.dtype != np.bool_:
                raise ValueError(f"filter: the predicate must return one boolean, got {v.dtype} of shape {v.shape}")
            return bool(v)

        return Dataset(lambda: (el for el in upstream() if keep(el)), UNKNOWN if self._cardinality >= 0
                       else self._cardinality)

    def cache(self, filename=""):
        """Keeps the elements of the first complete pass in memory; later passes replay them (a pass
        left unfinished keeps nothing, as tf.data). Files (filename) are not supported: refused."""
        if filename not in ("", None):
            raise ValueError(f"cache: caching to a file is not supported by bigcore.data (only in memory, "
                             f"cache()). Received: filename={filename!r}")
        upstream = self._make_iter
        store = {"elements": None}

        def make_iter():
            if store["elements"] is not None:
                yield from store["elements"]
                return
            seen = []
            for el in upstream():
                seen.append(el)
                yield el
            store["elements"] = seen

        return Dataset(make_iter, self._cardinality)

    def prefetch(self, buffer_size=AUTOTUNE):
        size = 2 if buffer_size in (None, AUTOTUNE) else max(1, int(buffer_size))
        upstream = self._make_iter
        return Dataset(lambda: _Prefetcher(upstream(), size), self._cardinality)

    # -- consumption --
    def __iter__(self):
        """Each element's arrays as eager tensors (they answer .numpy(), as tf.data's do)."""
        self._passes += 1
        return map(_tensor.wrap, self._make_iter())

    def as_numpy_iterator(self):
        self._passes += 1
        return iter(self._make_iter())

    def cardinality(self):
        return self._cardinality

    def __len__(self):
        if self._cardinality < 0:
            raise TypeError("The length of this Dataset is unknown or infinite")
        return self._cardinality


class _Prefetcher:
    """Runs an iterator on a daemon thread, `size` elements ahead; errors are re-raised here."""

    _DONE = object()

    def __init__(self, it, size):
        self._q = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(it,), daemon=True)
        self._thread.start()

    def _run(self, it):
        try:
            for el in it:
                while not self._stop.is_set():
                    try:
                        self._q.put((el, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._q.put((self._DONE, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._q.put((self._DONE, e))

    def __iter__(self):
        return self

    def __next__(self):
        el, err = self._q.get()
        if el is self._DONE:
            if err is not None:
                raise err
            raise StopIteration
        return el

    def close(self):
        self._stop.set()

    def __del__(self):
        self._stop.set()
