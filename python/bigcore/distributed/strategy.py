"""DataParallel: Keras MirroredStrategy semantics over MPI processes.

Every rank holds the whole model and the same data. `fit`'s batch_size is the global batch:
each rank takes its contiguous slice of every global batch of one shuffled order (the seed is
rank 0's), computes the gradient of its slice, the gradient arenas are summed across ranks in
place, and every rank applies the same update with the sum scaled by 1 / ranks (weighted by
slice size when a short last batch splits unevenly). Losses and metric counts are summed across
ranks, so the logs equal a one-process run's; validation and `evaluate` are sharded the same way.
"""

import contextlib
import time

import numpy as np

from bigcore import callbacks as cb
from bigcore.distributed import runtime
from bigcore.distributed.communicator import DistributedError

_current = []  # strategies whose scope() is open, innermost last


def current_strategy():
    return _current[-1] if _current else None


class DataParallel:
    """Data-parallel training across the processes of an MPI job (one process: plain training).

    timeout: seconds any collective may wait for the other ranks. Past it, the job is aborted
    with a DistributedError message; catchable=True makes it an exception raised in this process
    first (non-blocking collectives polled from Python: slower for arenas of 100K floats and up).
    Use as `with strategy.scope():` around building and compiling the model, or pass
    `compile(..., distribute=strategy)`.
    """

    def __init__(self, timeout=runtime.DEFAULT_TIMEOUT, catchable=False):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"DataParallel expects timeout to be a number of seconds > 0. Received: timeout={timeout!r}")
        self.timeout, self.catchable = float(timeout), bool(catchable)
        self.comm = runtime.initialize()
        self.rank, self.world_size = self.comm.rank, self.comm.size
        self.comm_seconds, self.comm_calls = 0.0, 0  # time spent in training-step all-reduces

    @property
    def num_replicas_in_sync(self):  # Keras's name
        return self.world_size

    @contextlib.contextmanager
    def scope(self):
        _current.append(self)
        try:
            yield self
        finally:
            _current.remove(self)

    # -- what fit / evaluate call when world_size > 1 --
    def shard(self, start, count):
        """This rank's contiguous slice of a global batch of rows start .. start + count - 1:
        (its first row, its row count, its offset in the batch)."""
        lo = count * self.rank // self.world_size
        hi = count * (self.rank + 1) // self.world_size
        return start + lo, hi - lo, lo

    def sync_model(self, model):
        """Rank 0's seed, weights, optimizer state and step count on every rank."""
        native = model._program.native
        opt = model.optimizer
        head = np.array([model._seed, opt._iterations if opt else 0], np.int64)
        bufs = [head, native.params()] + [native.opt_slot(s) for s in range(opt.slots if opt else 0)]
        self.comm.broadcast(bufs, "broadcasting rank 0's weights", self.timeout, self.catchable)
        model._seed = int(head[0])
        if opt:
            opt.iterations = int(head[1])
        model._dist_synced = native

    def check_same(self, what, **values):
        """Raises on every rank when the ranks disagree on any of `values` (ints)."""
        v = np.array(list(values.values()), np.int64)
        mx = np.concatenate([v, -v])  # max over ranks of v and of -v: all equal iff max(v) == min(v)
        self.comm.allreduce_max([mx], what, self.timeout, self.catchable)
        n = len(v)
        bad = [k for i, k in enumerate(values) if mx[i] != -mx[n + i]]
        if bad:
            raise ValueError(f"{what}: the ranks disagree on {bad} (this rank: "
                             f"{ {k: int(x) for k, x in values.items()} }). Every rank must pass the same data "
                             "and arguments; each takes its own slice of every batch.")

    def train_step(self, model, batch, stats):
        """One step on this rank's slice of a global batch (source, idx, start, count); stats
        become the global batch's. Returns the global batch size."""
        if hasattr(model.optimizer, "inner_optimizer"):
            raise ValueError("LossScaleOptimizer is not supported in data-parallel training yet: compile with its "
                             "inner optimizer (in float32 the loss scale changes no gradient that stays finite)")
        src, idx, start, count = batch
        native = model._program.native
        grads, red = self._buffers(model)
        first, n, row0 = self.shard(start, count)
        # equal slices: every rank's mean gradient weighs 1 / ranks, folded into apply_update;
        # unequal (a short last batch): slice r's weighs n_r / count, i.e. n_r * ranks / count here
        local_scale = 1.0 if count % self.world_size == 0 else n * self.world_size / count
        opt = model.optimizer
        opt._send_to(native)  # the constants, if one was set since they last crossed
        lr, step = opt._current_lr(), opt._iterations
        opt.iterations = step + 1
        try:
            native.compute_gradients(src, idx, first, n, model._seed, step, row0, local_scale, stats)
        except Exception:
            opt.iterations = step
            raise
        _pack(red, stats, n)
        t = time.perf_counter()
        self.comm.allreduce_sum([grads, red], f"the gradient all-reduce of step {step}", self.timeout,
                                self.catchable)
        self.comm_seconds += time.perf_counter() - t
        self.comm_calls += 1
        native.apply_update(lr, step, 1.0 / self.world_size)
        return _unpack(red, stats)

    def evaluate_step(self, model, batch, stats):
        """Evaluates this rank's slice of a batch; stats become the whole batch's. Returns its size."""
        src, idx, start, count = batch
        first, n, _ = self.shard(start, count)
        _, red = self._buffers(model)
        if n:
            model._program.native.evaluate_step(src, idx, first, n, stats)
        else:
            stats[:] = 0.0
        _pack(red, stats, n)
        self.comm.allreduce_sum([red], "the evaluation reduction", self.timeout, self.catchable)
        return _unpack(red, stats)

    def local_callbacks(self, callbacks):
        """Ranks other than 0 drop the callbacks that write (progress bar, checkpoints, logs) and
        keep EarlyStopping & co. (they steer training, identically on every rank), silenced."""
        if self.rank == 0 or not isinstance(callbacks, (list, tuple)):
            return callbacks
        writers = (cb.ProgbarLogger, cb.ModelCheckpoint, cb.CSVLogger, cb.TensorBoard)
        kept = [c for c in callbacks if not isinstance(c, writers)]
        for c in kept:
            if isinstance(c, cb.Callback) and getattr(c, "verbose", 0):
                c.verbose = 0
        return kept

    def _buffers(self, model):
        """The gradient arena as a numpy view (all-reduced in place) and the stats buffer."""
        native = model._program.native
        cached = getattr(model, "_dist_buffers", None)
        if cached is None or cached[0] is not native or cached[2].size != native.stats_size + 1:
            cached = (native, native.grads(), np.zeros(native.stats_size + 1, np.float64))
            model._dist_buffers = cached
        return cached[1], cached[2]


def _pack(red, stats, n):
    """[loss x rows, rows, metric counts...]: what sums across ranks into the global batch's."""
    red[0] = stats[0] * n
    red[1] = n
    red[2:] = stats[1:]


def _unpack(red, stats):
    stats[0] = red[0] / red[1] if red[1] else 0.0
    stats[1:] = red[2:]
    return int(red[1])


__all__ = ["DataParallel", "DistributedError", "current_strategy"]
