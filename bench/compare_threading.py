"""bigcore's deterministic GEMM threading vs OpenBLAS's own threads, on the seed MLP's GEMM shapes.

    PYTHONPATH=python python bench/compare_threading.py [--threads 1,2] [--batches 32,256]
                                                        [--seconds 0.1] [--rounds 7] [--settle 0.3]
                                                        [--no-step]

Issue 10: bigcore cuts each GEMM into tiles whose shape depends on (M, N, K) only and runs
single-threaded OpenBLAS per tile on its own OpenMP threads (cpp/gemm.cpp); "measure that this is
not slower than letting OpenBLAS thread (it should be faster at batch 32)". For every shape and
thread count n this times, in one process and on the same library:

- bigcore: `bigcore._core.gemm` with `bigcore.config.set_num_threads(n)`;
- OpenBLAS: one `scipy_cblas_sgemm` call through ctypes with `scipy_openblas_set_num_threads(n)`,
  OpenBLAS's own threading (restored to 1 afterwards: bigcore relies on it).

Each round times every shape on one side and thread count as a block, then the other side, so
machine noise hits both alike; each figure is the median over rounds of the mean call time in a
round (about --seconds of calls), less that side's call floor (a 1x1x1 GEMM: the Python call,
pybind11 or ctypes, and the BLAS's entry). Blocks, not call-by-call alternation, and a --settle
pause whenever the threading changes hands: OpenBLAS's idle workers keep spinning for a while
after each threaded call, and on 2 cores they starve bigcore's OpenMP worker (seen: alternating
one OpenBLAS 2-thread call with one bigcore 2-thread 256x784 @ 784x128, bigcore's took 7 ms
instead of 0.18 ms; a threaded numpy matmul in between does the same). The best-round table is
the figure without other processes; on a shared machine the median can be many times slower at
2 threads (other programs' spinning threads delay whichever worker is not running).

Then it checks bits: OpenBLAS's result at 1 vs 2 threads and bigcore's at 1, 2 and 3 threads, per
shape. Last (unless --no-step), a whole MLP training step (the native `train_step`, batch 32 and
256) both ways: bigcore threads n with the BLAS at 1, and bigcore at 1 thread with OpenBLAS
threading each GEMM call on n threads.
"""

import argparse
import ctypes
import os
import statistics
import time

import numpy as np
import scipy_openblas32

import bigcore
from bigcore._native import _core

from _mlp import SIZES, RawTrainer, build_mlp, synthetic_data

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

# cpp/gemm.cpp plan(): 1 tile below 16 MFLOP, 2 below 128, else 4 (the number, not the bits, is shown)
PARALLEL_FLOPS, FOUR_TILE_FLOPS = 1.6e7, 1.28e8


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--batches", default="32,256", help="MLP batch sizes whose GEMM shapes are timed")
    p.add_argument("--seconds", type=float, default=0.1, help="time per shape, side and round")
    p.add_argument("--rounds", type=int, default=7, help="rounds; the median is reported")
    p.add_argument("--settle", type=float, default=0.3,
                   help="pause (s) when the threading changes hands, so the idle pool stops spinning")
    p.add_argument("--no-step", action="store_true", help="skip the whole-training-step comparison")
    return p.parse_args()


def mlp_gemms(B):
    """The GEMMs of one MLP training step at batch B, as cpp/dense.cpp calls them:
    (label, trans_a, trans_b, M, N, K). Forward x (B,K) @ W (K,N); weight gradient x^T (K,B) @
    dz (B,N); input gradient dz (B,N) @ W^T (N,K), for every layer but the first."""
    out = []
    for k, n in zip(SIZES[:-1], SIZES[1:]):
        out.append((f"fwd {B}x{k} @ {k}x{n}", False, False, B, n, k))
    for k, n in zip(SIZES[:-1], SIZES[1:]):
        out.append((f"dW  {k}x{B} @ {B}x{n}", True, False, k, n, B))
    for k, n in list(zip(SIZES[:-1], SIZES[1:]))[1:]:
        out.append((f"dx  {B}x{n} @ {n}x{k}", False, True, B, k, n))
    return out


def extra_gemms():
    return [("1024x784 @ 784x128", False, False, 1024, 128, 784),
            ("512^3", False, False, 512, 512, 512),
            ("1024^3", False, False, 1024, 1024, 1024)]


FLOOR = ("1x1x1 (call floor)", False, False, 1, 1, 1)


def tiles(M, N, K):
    f = 2.0 * M * N * K
    return 1 if f < PARALLEL_FLOPS else (2 if f < FOUR_TILE_FLOPS else 4)


class OpenBLAS:
    """scipy_openblas32 through ctypes: the library bigcore links (checked in /proc/self/maps)."""

    def __init__(self):
        path = os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas.so")
        self.lib = ctypes.CDLL(path)
        self.same_as_bigcore = self._loaded_once(path)
        # No argtypes: with them ctypes converts 14 arguments per call (3.4 us); ctypes objects
        # prepared once cost 1.1 us, closer to the 0.5 us of a pybind11 call.
        self.sgemm = self.lib.scipy_cblas_sgemm
        self.sgemm.restype = None
        self.lib.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
        self.lib.scipy_openblas_get_num_threads.restype = ctypes.c_int

    @staticmethod
    def _loaded_once(path):
        """True when exactly one libscipy_openblas is mapped in this process, and it is `path`."""
        try:
            with open("/proc/self/maps") as f:
                maps = {line.split()[-1] for line in f if line.rstrip().endswith("/libscipy_openblas.so")}
        except OSError:
            return None
        return maps == {os.path.realpath(path)}

    def set_threads(self, n):
        self.lib.scipy_openblas_set_num_threads(n)

    def get_threads(self):
        return self.lib.scipy_openblas_get_num_threads()

    def gemm_fn(self, ta, tb, A, B, C):
        """A no-argument callable computing C = op(A) @ op(B), row-major, as _core.gemm does."""
        M, N = C.shape
        K = A.shape[0] if ta else A.shape[1]
        f32, ptr = ctypes.c_float, ctypes.c_void_p
        args = (ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, M, N, K, f32(1.0),
                ptr(A.ctypes.data), A.shape[1], ptr(B.ctypes.data), B.shape[1], f32(0.0), ptr(C.ctypes.data), N)
        sgemm = self.sgemm
        return lambda keep=(A, B, C): sgemm(*args)  # keep: the arrays outlive the raw pointers


def operands(ta, tb, M, N, K, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
    return A, B, np.zeros((M, N), np.float32)


def mean_call(fn, seconds):
    """Mean microseconds per call over about `seconds` of calls (after one warm-up call)."""
    fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    calls = max(3, int(seconds / one))
    t = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - t) / calls / 1e3


class Sides:
    """Switches the threading between bigcore's pool (BLAS at 1) and OpenBLAS's, one at a time."""

    def __init__(self, ob_lib, settle):
        self.ob_lib, self.settle, self.now = ob_lib, settle, None

    def use(self, side, n):
        if (side, n) == self.now:
            return
        bigcore.config.set_num_threads(n if side == "bigcore" else 1)
        self.ob_lib.set_threads(n if side == "openblas" else 1)
        if self.now is not None and max(self.now[1], n) > 1:
            time.sleep(self.settle)
        self.now = (side, n)


def procs_running():
    """Runnable threads on the machine now (this one included), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


RUNNING = []  # procs_running sampled at every block: shows whether other processes competed


def time_blocks(items, counts, sides, args):
    """items: {key: {"bigcore": fn, "openblas": fn}} -> ({(key, side, n): median us over rounds},
    {...: best round}). Noise only ever slows a round down, so the best round is the machine's
    figure when nothing else ran; the median is what a user sees on this machine today."""
    times = {}
    for _ in range(args.rounds):
        for n in counts:
            for side in ("bigcore", "openblas"):
                sides.use(side, n)
                RUNNING.append(procs_running())
                for key, fns in items.items():
                    times.setdefault((key, side, n), []).append(mean_call(fns[side], args.seconds))
    return ({k: statistics.median(v) for k, v in times.items()}, {k: min(v) for k, v in times.items()})


def header(first, counts):
    return f"  {first:<26}" + "".join(f"{'bigcore ' + str(n) + 't':>13}{'OpenBLAS ' + str(n) + 't':>14}{'O/b':>7}"
                                      for n in counts)


def cells(pairs):
    return "".join(f"{b:>13.1f}{o:>14.1f}{o / b:>7.2f}" for b, o in pairs)


def gemm_tables(groups, counts, sides, args):
    """groups: lists of shapes, one table each; all timed in the same rounds, floor subtracted.
    Printed twice: median over rounds, then best round."""
    items = {}
    for shape in [FLOOR] + [s for g in groups for s in g]:
        label, ta, tb, M, N, K = shape
        A, B, C = operands(ta, tb, M, N, K)
        items[label] = {"bigcore": (lambda ta=ta, tb=tb, A=A, B=B, C=C: _core.gemm(ta, tb, A, B, C, 1.0, 0.0)),
                        "openblas": sides.ob_lib.gemm_fn(ta, tb, A, B, C.copy())}
    for stat, med in zip(("median over rounds", "best round"), time_blocks(items, counts, sides, args)):
        floor = {(side, n): med[(FLOOR[0], side, n)] for n in counts for side in ("bigcore", "openblas")}
        print(f"\n{stat}; call floor (1x1x1 GEMM), subtracted: " + "; ".join(
            f"{n}t bigcore {floor[('bigcore', n)]:.2f} us, OpenBLAS (ctypes) {floor[('openblas', n)]:.2f} us"
            for n in counts))
        for group in groups:
            print(header("GEMM (M x K @ K x N)", counts) + f"{'MFLOP':>9}{'tiles':>6}")
            for label, ta, tb, M, N, K in group:
                net = lambda side, n: max(med[(label, side, n)] - floor[(side, n)], 0.05)
                pairs = [(net("bigcore", n), net("openblas", n)) for n in counts]
                print(f"  {label:<26}" + cells(pairs) + f"{2 * M * N * K / 1e6:>9.2f}{tiles(M, N, K):>6}")


def bits_table(shapes, ob_lib):
    """Does the result change with the thread count? OpenBLAS 1 vs 2 threads; bigcore 1 vs 2 vs 3."""
    print(f"  {'GEMM':<26}{'OpenBLAS 1t vs 2t':>32}{'bigcore 1t/2t/3t':>32}")
    for label, ta, tb, M, N, K in shapes:
        A, B, C = operands(ta, tb, M, N, K, seed=1)
        ob = []
        for n in (1, 2):
            C[...] = 0
            ob_lib.set_threads(n)
            try:
                ob_lib.gemm_fn(ta, tb, A, B, C)()
            finally:
                ob_lib.set_threads(1)
            ob.append(C.copy())
        big = []
        for n in (1, 2, 3):
            bigcore.config.set_num_threads(n)
            C[...] = 0
            _core.gemm(ta, tb, A, B, C, 1.0, 0.0)
            big.append(C.copy())
        print(f"  {label:<26}{describe_diff(ob[0], ob[1]):>32}"
              f"{describe_diff(big[0], big[1], big[2]):>32}")
        if not np.array_equal(ob[0], big[0]):  # bigcore 1 thread, 1 tile is the same single call
            if tiles(M, N, K) == 1:
                print(f"    note: bigcore (1 tile) and OpenBLAS at 1 thread differ: {describe_diff(ob[0], big[0])}")


def describe_diff(first, *rest):
    bad = [np.count_nonzero(first != r) for r in rest]
    if not any(bad):
        return "identical"
    worst = max(float(np.max(np.abs(first - r))) for r in rest)
    return f"DIFFER {max(bad)}/{first.size} (max {worst:.1e})"


def step_table(batches, counts, sides, args):
    """Per-step microseconds of the native MLP train_step: bigcore's threading (BLAS at 1) vs
    bigcore at 1 thread with each GEMM one OpenBLAS call threaded on n threads. (GEMMs over 16
    MFLOP are still cut into 2 or 4 tiles, run one after another, each OpenBLAS-threaded; bigcore's
    own loops run on 1 thread in the second mode, as the MLP's are all single-threaded anyway:
    its 118 k parameters are below the parallel-update threshold.)"""
    items = {}
    for B in batches:
        x, y = synthetic_data(max(4096, 16 * B))
        raw = RawTrainer(build_mlp(0), x, y)
        steps, state = raw.n // B, {"s": 0}

        def one_step(raw=raw, B=B, steps=steps, state=state):
            s = state["s"] % steps
            state["s"] += 1
            raw.step(s * B, B)

        items[B] = {"bigcore": one_step, "openblas": one_step}
    for stat, med in zip(("median", "best"), time_blocks(items, counts, sides, args)):
        print(header(f"MLP train_step, {stat}", counts))
        for B in batches:
            pairs = [(med[(B, "bigcore", n)], med[(B, "openblas", n)]) for n in counts]
            print(f"  {'batch ' + str(B):<26}" + cells(pairs))


def main():
    args = parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    before = bigcore.config.get_num_threads()
    feats = bigcore.config.cpu_features()
    try:
        ob_lib = OpenBLAS()
    except (ImportError, OSError, AttributeError) as e:
        print(f"scipy_openblas32 cannot be reached through ctypes ({e}): nothing to compare")
        return
    load = lambda: " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"bigcore {bigcore.__version__} (isa {feats['isa']}; {feats['blas']})")
    print(f"OpenBLAS via ctypes: same library as bigcore's: {ob_lib.same_as_bigcore}; "
          f"OpenBLAS threads now {ob_lib.get_threads()} (bigcore sets 1); {os.cpu_count()} CPUs; load average {load()}")
    print(f"us per call (median over {args.rounds} rounds of ~{args.seconds}s); "
          f"O/b = OpenBLAS / bigcore (> 1: bigcore faster); tiles = bigcore's tile count (any thread count)")
    sides = Sides(ob_lib, args.settle)
    try:
        gemm_tables([mlp_gemms(B) for B in batches] + [extra_gemms()], counts, sides, args)
        print()
        print("bits across thread counts (seed-1 operands, beta 0):")
        sides.use("bigcore", 1)
        bits_table([s for B in batches for s in mlp_gemms(B)] + extra_gemms(), ob_lib)
        sides.now = None
        if not args.no_step:
            print()
            step_table(batches, counts, sides, args)
    finally:
        ob_lib.set_threads(1)
        bigcore.config.set_num_threads(before)
    seen = [r for r in RUNNING if r is not None]
    if seen:
        print(f"\nrunnable threads at the start of each timed block (this one included): median "
              f"{statistics.median(seen)}, max {max(seen)}, blocks with > 1: {sum(r > 1 for r in seen)}/{len(seen)}")
    print(f"load average at end {load()}; OpenBLAS threads restored to {ob_lib.get_threads()}")


if __name__ == "__main__":
    main()
