"""Data-parallel scaling on this machine: training throughput of the benchmark MLP with 1 process
vs N MPI ranks (the global batch fixed), the time per step inside the gradient all-reduce, and
the all-reduce's cost against arena size (10K .. 10M floats), fitted to a latency + bandwidth
model to estimate how it grows with parameters and ranks.

    PYTHONPATH=python python bench/distributed_scaling.py [--ranks 2] [--batch-size 32 256]
                                                          [--samples 16384] [--epochs 2]

Launches its own `mpirun` (Open MPI, shared memory on loopback); needs mpi4py and openmpi-bin.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bigcore  # noqa: E402
from bigcore import distributed  # noqa: E402
from _mlp import build_mlp, synthetic_data  # noqa: E402

SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)
MPI_ENV = dict(OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


# -- run inside each process --

def worker_fit(a):
    """Throughput of fit: one warm-up epoch of 20 steps, then a.epochs timed epochs."""
    strategy = distributed.DataParallel(catchable=a.catchable)
    if a.threads:
        bigcore.config.set_num_threads(a.threads)
    x, y = synthetic_data(a.samples)
    out = []
    for batch in a.batch_size:
        with strategy.scope():
            model = build_mlp()
        model.fit(x, y, batch_size=batch, epochs=1, steps_per_epoch=20, verbose=0)
        strategy.comm_seconds, strategy.comm_calls = 0.0, 0
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=a.epochs, verbose=0)
        seconds = time.perf_counter() - t
        steps = a.epochs * -(-a.samples // batch)
        out.append(dict(batch=batch, ranks=distributed.world_size(), threads=bigcore.config.get_num_threads(),
                        samples_per_s=a.epochs * a.samples / seconds, step_ms=seconds / steps * 1e3,
                        comm_ms=strategy.comm_seconds / max(1, strategy.comm_calls) * 1e3,
                        arena=int(model._program.native.arena_size)))
    if distributed.rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)


def worker_allreduce(a):
    """Median seconds of one in-place sum all-reduce per arena size, as training runs it
    (blocking + watchdog) and polled (catchable=True); ranks enter together (a barrier)."""
    comm = distributed.initialize()
    world = comm.comm
    out = []
    for n in SIZES:
        buf = np.ones(n, np.float32)
        reps = int(min(200, max(5, 3e7 / n)))
        row = dict(n=n)
        for name, catchable in (("block_us", False), ("poll_us", True)):
            times = []
            for _ in range(reps):
                world.Barrier()
                t = time.perf_counter()
                comm.allreduce_sum([buf], "bench", 60.0, catchable)
                times.append(time.perf_counter() - t)
            row[name] = float(np.median(times)) * 1e6
        out.append(row)
    if comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


# -- the driver --

def launch(ranks, args, timeout=900):
    script = os.path.abspath(__file__)
    env = dict(os.environ, **MPI_ENV)
    if ranks == 1:
        cmd = [sys.executable, script] + args
    else:
        cmd = [shutil.which("mpirun"), "--oversubscribe", "-np", str(ranks), sys.executable, script] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")


def fit_model(rows):
    """t = alpha + beta * bytes over the sizes (2 ranks), least squares in relative error so the
    small sizes set the latency and the large ones the bandwidth."""
    nbytes = np.array([r["n"] * 4.0 for r in rows])
    t = np.array([r["block_us"] * 1e-6 for r in rows])
    A = np.stack([np.ones_like(nbytes), nbytes], 1) / t[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return max(alpha, 0.0), beta


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", type=int, nargs="+", default=[2])
    p.add_argument("--batch-size", type=int, nargs="+", default=[32, 256])
    p.add_argument("--samples", type=int, default=16384)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="threads per process (0: bigcore's choice)")
    p.add_argument("--catchable", action="store_true", help="polled non-blocking all-reduce (DataParallel option)")
    p.add_argument("--worker", choices=["fit", "allreduce"])
    a = p.parse_args(argv)
    if a.worker == "fit":
        return worker_fit(a)
    if a.worker == "allreduce":
        return worker_allreduce(a)
    if shutil.which("mpirun") is None:
        sys.exit("needs mpirun: apt-get install openmpi-bin libopenmpi-dev; pip install mpi4py")

    common = ["--samples", str(a.samples), "--epochs", str(a.epochs), "--batch-size"] + [str(b) for b in a.batch_size]
    if a.catchable:
        common.append("--catchable")
    cores = len(os.sched_getaffinity(0))
    runs = [("1 process", launch(1, ["--worker", "fit", "--threads", str(a.threads or cores)] + common))]
    if cores > 1:
        runs.append(("1 process", launch(1, ["--worker", "fit", "--threads", "1"] + common)))
    for r in a.ranks:
        extra = ["--threads", str(a.threads)] if a.threads else []
        runs.append((f"{r} ranks", launch(r, ["--worker", "fit"] + extra + common)))
    arena = runs[0][1][0]["arena"]
    print(f"MLP 784-128-128-10 (arena {arena:,} floats = {arena * 4 / 1e6:.2f} MB), {a.samples} samples, "
          f"{a.epochs} epochs, {cores} cores; the batch is the global batch")
    print(f"{'run':<12}{'threads':>8}{'batch':>7}{'samples/s':>12}{'step ms':>10}{'allreduce ms/step':>19}")
    base = {}
    for name, rows in runs:
        for r in rows:
            base.setdefault(r["batch"], r["samples_per_s"])
            comm = f"{r['comm_ms']:.3f}" if r["ranks"] > 1 else "-"
            print(f"{name:<12}{r['threads']:>8}{r['batch']:>7}{r['samples_per_s']:>12,.0f}{r['step_ms']:>10.3f}"
                  f"{comm:>19}   x{r['samples_per_s'] / base[r['batch']]:.2f}")

    for r in a.ranks:
        rows = launch(r, ["--worker", "allreduce"])
        print(f"\nAll-reduce (sum, float32, in place), {r} ranks, median per call:")
        print(f"{'floats':>12}{'MB':>8}{'blocking us':>13}{'polled us':>11}{'GB/s (blocking)':>17}")
        for row in rows:
            mb = row["n"] * 4 / 1e6
            print(f"{row['n']:>12,}{mb:>8.2f}{row['block_us']:>13.0f}{row['poll_us']:>11.0f}"
                  f"{mb / 1e3 / (row['block_us'] * 1e-6):>17.2f}")
        if r == 2:
            alpha, beta = fit_model(rows)
            print(f"\nFit (2 ranks): t = {alpha * 1e6:.0f} us + bytes / ({1 / beta / 1e9:.2f} GB/s)."
                  " A ring all-reduce over p ranks moves 2(p-1)/p of the arena through each link in 2(p-1)"
                  " latency-bound rounds: t(p, n) ~ (p-1) alpha + 2 (p-1)/p * 4n / bandwidth, so the cost grows"
                  " linearly with the parameter count and tends to 2x the 2-rank figure as ranks grow"
                  " (the latency term grows with p). Estimates at this bandwidth:")
            print(f"{'floats':>12}" + "".join(f"{f'p={q} ms':>11}" for q in (2, 4, 8, 16)))
            for n in (100_000, 1_000_000, 10_000_000):
                print(f"{n:>12,}" + "".join(f"{((q - 1) * alpha + 2 * (q - 1) / q * 4 * n * beta) * 1e3:>11.2f}"
                                           for q in (2, 4, 8, 16)))


if __name__ == "__main__":
    main()
