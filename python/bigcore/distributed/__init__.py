"""Data-parallel training across processes and machines, on MPI through mpi4py.

The same script runs as one process (`python train.py`) or as N (`mpirun -np N python train.py`):

    import bigcore
    from bigcore import distributed

    strategy = distributed.DataParallel()
    with strategy.scope():
        model = bigcore.Sequential([...])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=256, epochs=5)   # 256 = the global batch, split across ranks
    if distributed.rank() == 0:
        model.save("model.bigcore")

Semantics are Keras MirroredStrategy's: every rank passes the same data; each computes the
gradient of its contiguous slice of every global batch (one shuffled order from rank 0's seed);
the gradient arenas are summed in place with one all-reduce per step and every rank applies the
same update, so N ranks at batch B/N give the weights of one process at batch B (to float32
round-off), dropout included. Losses and metrics are reduced across ranks; only rank 0 prints the
progress bar and runs ModelCheckpoint, CSVLogger and TensorBoard. If a rank dies or hangs, the
others raise DistributedError after DataParallel(timeout=...) seconds and the job is aborted.
Masked losses are averaged per rank, which equals the one-process value when the ranks' mask
sums are equal. `predict` is not sharded: every rank predicts all rows.

Needs mpi4py and an MPI library only when started under an MPI launcher:
pip install "bigcore[distributed]" (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev).
The all-reduce runs on host buffers over MPI; bigcore has no CUDA training backend yet, so there
is no NCCL path (communicator.Communicator is the interface one would implement).
"""

from bigcore.distributed.communicator import INSTALL_HINT, Communicator, DistributedError
from bigcore.distributed.runtime import initialize, rank, world_size
from bigcore.distributed.strategy import DataParallel, current_strategy

__all__ = ["Communicator", "DataParallel", "DistributedError", "INSTALL_HINT", "current_strategy", "initialize",
           "rank", "world_size"]
