"""initialize(), rank(), world_size(): the process group, from the MPI environment.

A script started with `python train.py` is one process and never touches MPI (mpi4py need not
be installed). Started with `mpirun -np N python train.py` (or srun, or any launcher that sets
the PMI/PMIx environment), it joins the N-process group through mpi4py.
"""

import atexit
import os
import sys

from bigcore import config
from bigcore.distributed.communicator import LocalCommunicator, MPICommunicator, import_mpi

# Variables MPI launchers set in each process they start (Open MPI, MPICH/Hydra and Intel MPI,
# PMIx, MVAPICH).
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "MPI_LOCALNRANKS",
                  "MV2_COMM_WORLD_SIZE")

DEFAULT_TIMEOUT = 300.0
_comm = None


def launched_by_mpi():
    return "mpi4py.MPI" in sys.modules or any(v in os.environ for v in _LAUNCHER_VARS)


def initialize(num_threads="auto"):
    """Joins the MPI process group if a launcher started this process; a no-op otherwise.

    Idempotent. Under MPI, each rank's native thread count is set to its share of the cores
    (`num_threads="auto"`), or to `num_threads`, or left alone (None); an unhandled exception on
    any rank then aborts the whole job, so the other ranks do not wait for it.
    Returns the Communicator.
    """
    global _comm
    if _comm is not None:
        return _comm
    if not launched_by_mpi():
        _comm = LocalCommunicator()
        return _comm
    MPI = import_mpi()
    world = MPI.COMM_WORLD
    if world.Get_size() == 1:
        _comm = LocalCommunicator()
        return _comm
    comm = MPICommunicator(MPI, world)
    if num_threads is not None:
        if num_threads == "auto":
            local = world.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
            num_threads = max(1, len(os.sched_getaffinity(0)) // local) if hasattr(os, "sched_getaffinity") \
                else max(1, (os.cpu_count() or 1) // local)
        config.set_num_threads(num_threads)
    _install_abort_hooks(comm)
    _comm = comm
    return comm


def _install_abort_hooks(comm):
    """An unhandled exception on one rank ends the job (the others would wait for it until their
    timeout); so does exiting after a failed collective (MPI cannot finalize cleanly then)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.flush()
        sys.stdout.flush()
        comm.abort(1)

    sys.excepthook = hook
    atexit.register(lambda: comm.abort(1) if comm.failed else None)


def rank():
    """This process's rank, 0 .. world_size() - 1 (0 for a single process)."""
    return initialize().rank


def world_size():
    """The number of processes training together (1 for a single process)."""
    return initialize().size
