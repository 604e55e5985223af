"""bigcore vs PyTorch on one Fashion-MNIST epoch of the MLP 784-128-128-10 (Adam, sparse CE), in
one process, plus batch-1 predict latency and the machine's SGEMM peak for scale.

    PYTHONPATH=python python bench/compare_torch.py [--batch-size 32] [--epochs 1] [--threads N]
                                                    [--repeats 5] [--profile]

Both train on all 60000 training images (x/255, flattened; no validation split) with a fresh
model per repeat; the two frameworks alternate repeats so machine noise hits both alike. Times
are medians over repeats, with the best run beside them (noise only ever slows a run down).
Without torch installed it prints bigcore's figures alone.
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
from bigcore.models import data_adapter
from _mlp import SIZES, RawTrainer, build_mlp, train_flops

try:
    import torch
except ImportError:
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: bigcore's default)")
    p.add_argument("--repeats", type=int, default=5, help="training runs per framework (median reported)")
    p.add_argument("--predict-calls", type=int, default=2000, help="batch-1 predict calls (median reported)")
    p.add_argument("--gemm-size", type=int, default=1024, help="M = N = K of the SGEMM peak measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true",
                   help="also time bigcore's native train_step alone vs the fit loop, per step")
    return p.parse_args()


def load_fashion_mnist():
    (x, y), (xt, yt) = bigcore.datasets.fashion_mnist.load_data()
    flat = lambda a: np.ascontiguousarray((a.reshape(len(a), -1) / 255.0).astype(np.float32))
    return flat(x), y.astype(np.int64), flat(xt), yt.astype(np.int64)


def steps_per_epoch(n, batch):
    return -(-n // batch)


def epoch_flops(n, batch):
    full, rest = divmod(n, batch)
    return full * train_flops(batch) + train_flops(rest)


# -- bigcore --

def bigcore_train(args, x, y, xt, yt):
    """(seconds for fit(epochs), test accuracy) of a fresh model."""
    model = build_mlp(args.seed)
    model.fit(x[:4 * args.batch_size], y[:4 * args.batch_size], batch_size=args.batch_size, epochs=1, verbose=0)
    model = build_mlp(args.seed)  # the warm-up above only primed threads and caches
    model._native()
    t = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - t
    _, acc = model.evaluate(xt, yt, batch_size=1000, verbose=0)
    return seconds, acc


def bigcore_predict_latency(args, x):
    model = build_mlp(args.seed)
    x1 = np.ascontiguousarray(x[:1])
    return median_call(lambda: model.predict_on_batch(x1), args.predict_calls)


def bigcore_profile(args, x, y):
    """Per-step microseconds (medians over repeats, one epoch each) of: the native train_step call
    alone, a bare loop around it (the learning rate, counters), and fit's loop
    (callbacks, logs, and once per fit the input checks); plus the native call's time early and
    late in the epoch, and batch-1 predict native vs predict_on_batch."""
    n, B = len(x), args.batch_size
    steps = steps_per_epoch(n, B)
    calls, loops, fits, early, late = [], [], [], [], []
    for _ in range(args.repeats):
        raw = RawTrainer(build_mlp(args.seed), x, y)
        native, model, opt = raw.native, raw.model, raw.opt
        per_call = []
        for s in range(steps):
            lr = opt._current_lr()
            t = time.perf_counter()
            native.train_step(raw.src, raw.idx, s * B, min(B, n - s * B), lr, model._seed, opt.iterations,
                              model._stats)
            per_call.append(time.perf_counter() - t)
            opt.iterations += 1
        calls.append(sum(per_call) / steps)
        quarter = max(1, steps // 4)
        early.append(statistics.median(per_call[:quarter]))
        late.append(statistics.median(per_call[-quarter:]))

        raw = RawTrainer(build_mlp(args.seed), x, y)
        t = time.perf_counter()
        for s in range(steps):
            raw.step(s * B, min(B, n - s * B))
        loops.append((time.perf_counter() - t) / steps)

        model = build_mlp(args.seed)
        model._native()
        t = time.perf_counter()
        model.fit(x, y, batch_size=B, epochs=1, verbose=0)
        fits.append((time.perf_counter() - t) / steps)
    model = build_mlp(args.seed)
    model._native()
    t = time.perf_counter()
    data_adapter.prepare_inputs(model, x)
    data_adapter.prepare_targets(model, y, n)
    checks = time.perf_counter() - t
    x1 = np.ascontiguousarray(x[:1])
    out = [np.empty((1, SIZES[-1]), np.float32)]
    native = model._program.native
    pnative = median_call(lambda: native.predict_step([x1], 0, 1, out), args.predict_calls)
    pfull = median_call(lambda: model.predict_on_batch(x1), args.predict_calls)
    us = lambda v: statistics.median(v) * 1e6
    return {"call": us(calls), "loop": us(loops), "fit": us(fits), "early": us(early), "late": us(late),
            "checks_ms": checks * 1e3, "predict_native": pnative, "predict_full": pfull}


def gemm_gflops(shape, threads, reps=7):
    """Best-of-reps SGEMM GFLOP/s of bigcore._core.gemm (OpenBLAS tiles over `threads` threads).
    shape: (M, N, K). Best, not median: on a shared machine noise only ever slows a run down."""
    before = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        return _time_gemm(shape, lambda a, b, c: _core.gemm(False, False, a, b, c, 1.0, 0.0), reps)
    finally:
        _core.set_num_threads(before)


def openblas_gflops(shape, threads, reps=7):
    """The same through scipy_cblas_sgemm itself, with OpenBLAS's own threads: the BLAS's limit
    without bigcore's tiling. None where the library cannot be reached."""
    try:
        lib = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), "libscipy_openblas.so"))
        sgemm = lib.scipy_cblas_sgemm
    except (ImportError, OSError, AttributeError):
        return None
    ptr, i32, f32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    sgemm.argtypes = [i32] * 6 + [f32, ptr, i32, ptr, i32, f32, ptr, i32]
    M, N, K = shape

    def run(a, b, c):  # row-major, no transposes
        sgemm(101, 111, 111, M, N, K, 1.0, a.ctypes.data, K, b.ctypes.data, N, 0.0, c.ctypes.data, N)

    lib.scipy_openblas_set_num_threads(threads)
    try:
        return _time_gemm(shape, run, reps)
    finally:
        lib.scipy_openblas_set_num_threads(1)  # bigcore runs the BLAS single-threaded per tile


def _time_gemm(shape, fn, reps):
    M, N, K = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    c = np.zeros((M, N), np.float32)
    inner = max(1, int(2e8 // (2 * M * N * K)))  # >= ~0.2 GFLOP per timed sample
    fn(a, b, c)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            fn(a, b, c)
        best = min(best, (time.perf_counter() - t) / inner)
    return 2 * M * N * K / best / 1e9


# -- torch --

def torch_mlp():
    nn = torch.nn
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                         nn.Linear(SIZES[2], SIZES[3]))


def torch_train(args, x, y, xt, yt):
    B, n = args.batch_size, len(x)
    torch.manual_seed(args.seed)
    model = torch_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(xs, ys, count):
        perm = torch.randperm(count)
        for start in range(0, count, B):
            i = perm[start:start + B]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xs[i]), ys[i]).backward()
            opt.step()

    epoch(x, y, 4 * B)  # warm-up on a fresh model below
    torch.manual_seed(args.seed)
    model = torch_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    t = time.perf_counter()
    for _ in range(args.epochs):
        epoch(x, y, n)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).double().mean().item()
    return seconds, acc


def torch_predict_latency(args, x):
    model = torch_mlp().eval()
    x1 = x[:1].clone()
    with torch.no_grad():
        return median_call(lambda: model(x1), args.predict_calls)


# -- helpers --

def median_call(fn, calls):
    """Median microseconds of `calls` calls of fn (after a few warm-up calls)."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1e3


def row(label, big, tch, fmt, ratio=False):
    b = format(big, fmt)
    if tch is None:
        return f"  {label:<22}{b:>12}"
    r = f"{tch / big:>13.2f}x" if ratio else ""
    return f"  {label:<22}{b:>12}{format(tch, fmt):>12}{r}"


def main():
    args = parse_args()
    if args.threads is not None:
        bigcore.config.set_num_threads(args.threads)
    threads = bigcore.config.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)

    x, y, xt, yt = load_fashion_mnist()
    n, B = len(x), args.batch_size
    steps = steps_per_epoch(n, B)
    feats = bigcore.config.cpu_features()
    print(f"bigcore {bigcore.__version__} (isa {feats['isa']}; {feats['blas']})")
    print(f"torch {torch.__version__}" if torch is not None else "torch: not installed -- bigcore figures only")
    print(f"threads {threads}; Fashion-MNIST {n} train / {len(xt)} test; MLP {'-'.join(map(str, SIZES))}, "
          f"Adam(1e-3, eps=1e-7); batch {B}, {steps} steps/epoch, {args.epochs} epoch(s), "
          f"median of {args.repeats} repeats")

    big, tch = [], []
    for _ in range(args.repeats):
        big.append(bigcore_train(args, x, y, xt, yt))
        if torch is not None:
            tch.append(torch_train(args, torch.from_numpy(x), torch.from_numpy(y),
                                   torch.from_numpy(xt), torch.from_numpy(yt)))
    total_steps = steps * args.epochs
    flops = epoch_flops(n, B) * args.epochs
    b_med, b_min = statistics.median(s for s, _ in big), min(s for s, _ in big)
    t_med, t_min = (statistics.median(s for s, _ in tch), min(s for s, _ in tch)) if tch else (None, None)
    per = lambda s, k: None if s is None else s * k

    print()
    print(f"  {'training':<22}{'bigcore':>12}" + (f"{'torch':>12}{'torch/bigcore':>14}" if tch else ""))
    print(row("epoch (s), median", b_med / args.epochs, per(t_med, 1 / args.epochs), ".3f", ratio=True))
    print(row("epoch (s), best", b_min / args.epochs, per(t_min, 1 / args.epochs), ".3f", ratio=True))
    print(row("per step (ms), median", b_med / total_steps * 1e3, per(t_med, 1e3 / total_steps), ".4f", ratio=True))
    print(row("samples/s, median", n * args.epochs / b_med, n * args.epochs / t_med if tch else None, ",.0f"))
    print(row("GFLOP/s, median", flops / b_med / 1e9, flops / t_med / 1e9 if tch else None, ".1f"))
    print(row("GFLOP/s, best", flops / b_min / 1e9, flops / t_min / 1e9 if tch else None, ".1f"))
    print(row("test accuracy (mean)", statistics.mean(a for _, a in big),
              statistics.mean(a for _, a in tch) if tch else None, ".4f"))
    print(f"  runs (s): bigcore {' '.join(f'{s:.3f}' for s, _ in big)}"
          + (f"; torch {' '.join(f'{s:.3f}' for s, _ in tch)}" if tch else ""))

    print()
    g = args.gemm_size
    counts = sorted({1, 2, threads})
    plural = lambda t: f"{t} thread" + ("s" if t > 1 else "")
    big_shape = (B, SIZES[1], SIZES[0])
    table = [(f"OpenBLAS direct {g}^3", [openblas_gflops((g, g, g), t) for t in counts]),
             (f"bigcore._core.gemm {g}^3", [gemm_gflops((g, g, g), t) for t in counts]),
             (f"_core.gemm {B}x{SIZES[0]} @ {SIZES[0]}x{SIZES[1]}", [gemm_gflops(big_shape, t) for t in counts])]
    print(f"  {'SGEMM GFLOP/s, best of 7':<36}" + "".join(f"{plural(t):>12}" for t in counts))
    for label, vals in table:
        print(f"    {label:<34}" + "".join(f"{v:>12.1f}" if v is not None else f"{'n/a':>12}" for v in vals))
    at = counts.index(threads)
    peak = max(v[at] for _, v in table if v[at] is not None)  # the best rate seen at this thread count
    share = lambda s: flops / s / 1e9 / peak
    print(f"  training FLOPs/step {train_flops(B) / 1e6:.2f} M; of the {threads}-thread SGEMM peak "
          f"({peak:.0f} GFLOP/s) bigcore reaches {share(b_med):.1%} (best run {share(b_min):.1%})"
          + (f", torch {share(t_med):.1%} ({share(t_min):.1%})" if tch else ""))

    print()
    b_lat = bigcore_predict_latency(args, x)
    line = f"  predict batch 1, median of {args.predict_calls} (us): bigcore {b_lat:.1f}"
    if torch is not None:
        t_lat = torch_predict_latency(args, torch.from_numpy(x))
        line += f", torch {t_lat:.1f} (no_grad), torch/bigcore {t_lat / b_lat:.2f}x"
    print(line)

    if args.profile:
        print_profile(bigcore_profile(args, x, y), B, steps)


def print_profile(p, B, steps):
    print()
    print(f"  profile, bigcore, batch {B}, one epoch, per step (us):")
    print(f"    native train_step call   {p['call']:8.1f}   ({train_flops(B) / p['call'] / 1e3:.1f} GFLOP/s)")
    note = " (the rise: Adam moments decaying into denormals)" if p["late"] > 1.5 * p["early"] else ""
    print(f"      median, first quarter  {p['early']:8.1f}   last quarter {p['late']:.1f}{note}")
    print(f"    bare loop around it      {p['loop']:8.1f}   ({p['loop'] - p['call']:+.1f}: optimizer args, counters)")
    print(f"    model.fit loop           {p['fit']:8.1f}   ({p['fit'] - p['call']:+.1f} over the call, "
          f"{(p['fit'] - p['call']) / p['fit']:.1%} of the step; input checks {p['checks_ms']:.1f} ms "
          f"per fit = {p['checks_ms'] * 1e3 / steps:.1f} per step)")
    print(f"    predict batch 1: native predict_step {p['predict_native']:.1f}, predict_on_batch "
          f"{p['predict_full']:.1f} ({p['predict_full'] - p['predict_native']:+.1f})")


if __name__ == "__main__":
    main()
