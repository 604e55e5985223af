"""The collectives data-parallel training needs, behind one small interface.

`Communicator` is all the strategy uses: an in-place sum all-reduce, a broadcast from rank 0 and
an abort. `MPICommunicator` implements it on host buffers through mpi4py. An NCCL implementation
(device buffers, for a CUDA training backend) would slot in beside it; there is none yet because
bigcore has no CUDA training backend.

Every collective is non-blocking and waited for with a deadline: when another rank has died,
hung, or stopped taking part (it raised, or ran fewer steps), the wait ends with a
`DistributedError` after `timeout` seconds instead of blocking forever.
"""

import time

INSTALL_HINT = ('bigcore.distributed needs mpi4py and an MPI library. Install them with '
                'pip install "bigcore[distributed]" (mpi4py builds against the MPI it finds; on Debian/Ubuntu '
                'first: apt-get install openmpi-bin libopenmpi-dev)')


class DistributedError(RuntimeError):
    """A collective did not complete in time: another rank died, hung or left the training loop."""


def import_mpi():
    """mpi4py.MPI (importing it initializes MPI), or an ImportError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT}. ({e})") from e
    return MPI


class Communicator:
    """One process per rank. Buffers are C-contiguous numpy arrays, reduced or filled in place."""

    rank, size = 0, 1

    def allreduce_sum(self, bufs, what, timeout):
        """Sums each array of `bufs` over all ranks, in place, every rank getting the same result."""

    def allreduce_max(self, bufs, what, timeout):
        """The same with the maximum."""

    def broadcast(self, bufs, what, timeout):
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

    def allreduce_sum(self, bufs, what, timeout):
        MPI = self.MPI
        self._wait([self.comm.Iallreduce(MPI.IN_PLACE, b, op=MPI.SUM) for b in bufs], what, timeout)

    def allreduce_max(self, bufs, what, timeout):
        MPI = self.MPI
        self._wait([self.comm.Iallreduce(MPI.IN_PLACE, b, op=MPI.MAX) for b in bufs], what, timeout)

    def broadcast(self, bufs, what, timeout):
        self._wait([self.comm.Ibcast(b, root=0) for b in bufs], what, timeout)

    def abort(self, code=1):
        self.comm.Abort(code)

    def _wait(self, reqs, what, timeout):
        # Open MPI progresses a non-blocking collective only inside MPI calls, so poll: spin first
        # (a step's all-reduce takes microseconds to milliseconds), then back off to sleeps so a
        # rank waiting for a slow one leaves it the CPU.
        test = self.MPI.Request.Testall
        if test(reqs):
            return
        start = time.monotonic()
        spin_until, deadline = start + 0.02, start + timeout
        pause = 1e-4
        while not test(reqs):
            now = time.monotonic()
            if now > deadline:
                self.failed = True
                raise DistributedError(
                    f"rank {self.rank} of {self.size}: {what} did not complete within {timeout:g} s. Another rank "
                    "has died, hung, or stopped taking part (it raised an error, or ran a different number of "
                    "steps). The MPI job will be aborted.")
            if now > spin_until:
                time.sleep(pause)
                pause = min(pause * 2, 0.01)
