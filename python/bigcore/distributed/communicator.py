"""The collectives data-parallel training needs, behind one small interface.

`Communicator` is all the strategy uses: an in-place sum all-reduce, a broadcast from rank 0 and
an abort. `MPICommunicator` implements it on host buffers through mpi4py. An NCCL implementation
(device buffers, for a CUDA training backend) would slot in beside it; there is none yet because
bigcore has no CUDA training backend.

Every collective has a deadline: when another rank has died, hung, or stopped taking part (it
raised, or ran fewer steps), the wait ends after `timeout` seconds instead of blocking forever,
in one of two ways (`catchable`):
- False: a blocking MPI call (MPI's tuned algorithms: several times faster than the non-blocking
  ones for arenas of 100K floats and up) watched by a thread that, at the deadline, prints the
  DistributedError and aborts the job. Needs MPI_THREAD_MULTIPLE (mpi4py's default), else it
  falls back to the other way.
- True: a non-blocking call polled by this thread, which raises DistributedError at the deadline
  (the job is aborted when the process exits, as MPI cannot finish cleanly then).
"""

import os
import sys
import threading
import time

INSTALL_HINT = ('bigcore.distributed needs mpi4py and an MPI library. Install them with '
                'pip install "bigcore[distributed]" (mpi4py builds against the MPI it finds; on Debian/Ubuntu '
                'first: apt-get install openmpi-bin libopenmpi-dev)')


class DistributedError(RuntimeError):
    """A collective did not complete in time: another rank died, hung or left the training loop."""


def import_mpi():
    """mpi4py.MPI (importing it initializes MPI), or an ImportError saying what to install."""
    try:
        from mpi4py import MPI  # noqa: PLC0415  (optional: the distributed extra; importing it starts MPI)
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT}. ({e})") from e
    return MPI


class Communicator:
    """One process per rank. Buffers are C-contiguous numpy arrays, reduced or filled in place;
    `what` names the collective in the timeout message."""

    rank, size = 0, 1

    def allreduce_sum(self, bufs, what, timeout, catchable=False):
        """Sums each array of `bufs` over all ranks, in place, every rank getting the same result."""

    def allreduce_max(self, bufs, what, timeout, catchable=False):
        """The same with the maximum."""

    def broadcast(self, bufs, what, timeout, catchable=False):
        """Overwrites each array of `bufs` with rank 0's."""

    def abort(self, code=1):
        """Ends every rank of the job."""


class LocalCommunicator(Communicator):
    """A single process: every collective is the identity."""


class MPICommunicator(Communicator):
    def __init__(self, MPI, comm):
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.failed = False
        self._watchdog = _Watchdog(self) if MPI.Query_thread() == MPI.THREAD_MULTIPLE else None

    def allreduce_sum(self, bufs, what, timeout, catchable=False):
        self._allreduce(bufs, what, timeout, catchable, self.MPI.SUM)

    def allreduce_max(self, bufs, what, timeout, catchable=False):
        self._allreduce(bufs, what, timeout, catchable, self.MPI.MAX)

    def broadcast(self, bufs, what, timeout, catchable=False):
        if catchable or self._watchdog is None:
            self._poll([self.comm.Ibcast(b, root=0) for b in bufs], what, timeout)
            return
        with self._watchdog.armed(what, timeout):
            for b in bufs:
                self.comm.Bcast(b, root=0)

    def abort(self, code=1):
        self.comm.Abort(code)

    def _allreduce(self, bufs, what, timeout, catchable, op):
        IN_PLACE = self.MPI.IN_PLACE
        if catchable or self._watchdog is None:
            self._poll([self.comm.Iallreduce(IN_PLACE, b, op=op) for b in bufs], what, timeout)
            return
        with self._watchdog.armed(what, timeout):
            for b in bufs:
                self.comm.Allreduce(IN_PLACE, b, op=op)

    def timeout_message(self, what, timeout):
        return (f"rank {self.rank} of {self.size}: {what} did not complete within {timeout:g} s. Another rank has "
                "died, hung, or stopped taking part (it raised an error, or ran a different number of steps). "
                "The MPI job will be aborted.")

    def _poll(self, reqs, what, timeout):
        # Open MPI progresses a non-blocking collective only inside MPI calls, and every rank must
        # keep calling for a multi-round algorithm to advance: so never sleep while the others may
        # be waiting on us; yield the core instead (the ranks may outnumber the cores).
        test = self.MPI.Request.Testall
        if test(reqs):
            return
        start = time.monotonic()
        deadline = start + timeout
        while not test(reqs):
            now = time.monotonic()
            if now > deadline:
                self.failed = True
                raise DistributedError(self.timeout_message(what, timeout))
            if now - start > 1e-3:
                _yield()


_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


class _Watchdog:
    """A thread that aborts the job when a blocking collective outlives its deadline (mpi4py
    releases the GIL inside MPI calls, so it runs while the main thread waits there)."""

    PERIOD = 0.05  # seconds between checks: the bound on how late past the deadline the abort comes

    def __init__(self, comm):
        self.comm = comm
        self.current = None  # (deadline, what, timeout) while a collective runs
        self.thread = None

    def armed(self, what, timeout):
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="bigcore-distributed-watchdog", daemon=True)
            self.thread.start()
        return _Armed(self, (time.monotonic() + timeout, what, timeout))

    def _run(self):
        while True:
            time.sleep(self.PERIOD)
            cur = self.current
            if cur is not None and time.monotonic() > cur[0] and self.current is cur:
                self.comm.failed = True
                sys.stderr.write(f"bigcore.distributed.DistributedError: {self.comm.timeout_message(cur[1], cur[2])}\n")
                sys.stderr.flush()
                self.comm.abort(1)


class _Armed:
    __slots__ = ("dog", "entry")

    def __init__(self, dog, entry):
        self.dog, self.entry = dog, entry

    def __enter__(self):
        self.dog.current = self.entry

    def __exit__(self, *exc):
        self.dog.current = None
