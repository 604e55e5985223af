"""bigcore vs PyTorch on recurrent sequence models, per training step and per predict batch, in
one process.

    PYTHONPATH=python python bench/compare_torch_lstm.py [--sizes text,large] [--cells lstm,gru]
                                                         [--threads N] [--repeats 3] [--steps 20]

The models are bench_lstm.py's (text: Embedding(10000, 64) -> LSTM/GRU(64) -> Dense(2), batch 32;
large: (100, 256) features -> LSTM/GRU(256) -> Dense(2), batch 128; T = 100, every timestep
classified, Adam(1e-3, eps 1e-7), CE averaged over batch and time). Torch runs the same shapes:
nn.Embedding + nn.LSTM/nn.GRU(batch_first=True) + nn.Linear, CrossEntropyLoss on the logits of all
timesteps, torch.optim.Adam(eps=1e-7), torch.set_num_threads = bigcore's threads; predict under
torch.no_grad() with a softmax (bigcore's Dense returns probabilities). bigcore's step is the
native train_step call fit makes per batch; its predict is model.predict_on_batch.

Each repeat times --steps training steps after a few warm-up steps and --predict-calls predict
calls, bigcore and torch alternating so machine noise hits both alike; a repeat's figure is its
median; the tables show the median over repeats and the best repeat (noise only ever slows a run
down, so on a loaded machine the best is the steadier figure). Without torch it prints bigcore's
figures alone.
"""

import argparse
import os
import statistics
import time

import numpy as np

import bigcore
from bigcore._native import _core
from _mlp import RawTrainer
from bench_lstm import GATES, SIZES, build_rnn, forward_flops, synthetic_data, train_flops

try:
    import torch
except ImportError:
    torch = None

WARMUP_STEPS = 3


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="text,large", help=f"comma-separated, of {sorted(SIZES)}")
    p.add_argument("--cells", default="lstm,gru", help=f"comma-separated, of {sorted(GATES)}")
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: bigcore's default)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per framework and model (median reported)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps per repeat")
    p.add_argument("--predict-calls", type=int, default=10, help="timed predict calls per repeat")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.sizes, args.cells = args.sizes.split(","), args.cells.split(",")
    for what, given, known in (("--sizes", args.sizes, SIZES), ("--cells", args.cells, GATES)):
        bad = [g for g in given if g not in known]
        if bad:
            p.error(f"{what}: unknown {bad}; expected some of {sorted(known)}")
    return args


def median_ms(fn, calls, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


# -- bigcore --

class BigcoreRun:
    def __init__(self, size, cell, x, y, seed):
        s = SIZES[size]
        self.raw = RawTrainer(build_rnn(size, cell, seed), x, y)
        self.batch, self.n, self.next = s.batch, len(x), 0
        self.model, self.xb = self.raw.model, x[:s.batch]

    def step(self):
        self.raw.step(self.next, self.batch)
        self.next = (self.next + self.batch) % self.n

    def predict(self):
        self.model.predict_on_batch(self.xb)


def gemm_gflops(shape, reps=5):
    """Best-of-reps GFLOP/s of bigcore._core.gemm at (M, N, K): the GEMM rate bigcore can reach."""
    M, N, K = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
    c = np.zeros((M, N), np.float32)
    inner = max(1, int(2e8 // (2 * M * N * K)))
    _core.gemm(False, False, a, b, c, 1.0, 0.0)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            _core.gemm(False, False, a, b, c, 1.0, 0.0)
        best = min(best, (time.perf_counter() - t) / inner)
    return 2 * M * N * K / best / 1e9


# -- torch --

class TorchRun:
    def __init__(self, size, cell, x, y, seed):
        nn = torch.nn
        s = SIZES[size]
        torch.manual_seed(seed)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](s.D, s.U, batch_first=True)
        self.embed = nn.Embedding(s.vocab, s.D) if s.vocab else None
        self.rnn, self.head = rnn, nn.Linear(s.U, s.C)
        params = [p for m in (self.embed, rnn, self.head) if m is not None for p in m.parameters()]
        self.opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
        self.loss = nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.perm = torch.randperm(len(x))
        self.batch, self.n, self.C, self.next = s.batch, len(x), s.C, 0
        self.xb = self.x[:s.batch].clone()

    def logits(self, x):
        h, _ = self.rnn(self.embed(x) if self.embed is not None else x)
        return self.head(h)  # (B, T, C)

    def step(self):
        i = self.perm[self.next:self.next + self.batch]
        self.next = (self.next + self.batch) % self.n
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.logits(self.x[i]).reshape(-1, self.C), self.y[i].reshape(-1)).backward()
        self.opt.step()

    def predict(self):
        with torch.no_grad():
            torch.softmax(self.logits(self.xb), dim=-1)


# -- the comparison --

def compare(args, size, cell):
    """{framework: ([step ms per repeat], [predict ms per repeat])}"""
    x, y = synthetic_data(size, seed=args.seed)
    runs = {"bigcore": BigcoreRun(size, cell, x, y, args.seed)}
    if torch is not None:
        runs["torch"] = TorchRun(size, cell, x, y, args.seed)
    times = {name: ([], []) for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            steps, predicts = times[name]
            steps.append(median_ms(run.step, args.steps, WARMUP_STEPS))
            predicts.append(median_ms(run.predict, args.predict_calls, 1))
    return times


def main():
    args = parse_args()
    if args.threads is not None:
        bigcore.config.set_num_threads(args.threads)
    threads = bigcore.config.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    feats = bigcore.config.cpu_features()
    print(f"bigcore {bigcore.__version__} (isa {feats['isa']}; {feats['blas']})")
    print(f"torch {torch.__version__}" if torch is not None else "torch: not installed -- bigcore figures only")
    print(f"threads {threads}; T=100, Adam(1e-3, eps=1e-7), CE over all timesteps; per repeat the median of "
          f"{args.steps} steps ({WARMUP_STEPS} warm-up) and {args.predict_calls} predict calls; "
          f"{args.repeats} repeats")
    for size in args.sizes:
        s = SIZES[size]
        embed = f"Embedding({s.vocab}, {s.D}) -> " if s.vocab else f"({s.T}, {s.D}) -> "
        print(f"  {size}: {embed}LSTM/GRU({s.U}) -> Dense({s.C}), batch {s.batch}")

    details = [(size, cell, compare(args, size, cell)) for size in args.sizes for cell in args.cells]
    has_torch = torch is not None
    for label, pick in (("median of repeats", statistics.median), ("best repeat", min)):
        head = f"  {label:<20}{'train step ms':>14}"
        head += f"{'torch':>9}{'t/b':>7}" if has_torch else ""
        head += f"{'GFLOP/s':>9}{'predict ms':>12}"
        head += f"{'torch':>9}{'t/b':>7}" if has_torch else ""
        print()
        print(head + f"{'GFLOP/s':>9}")
        for size, cell, times in details:
            b_step, b_pred = (pick(v) for v in times["bigcore"])
            line = f"    {size + ' ' + cell:<18}{b_step:>14.2f}"
            if has_torch:
                t_step = pick(times["torch"][0])
                line += f"{t_step:>9.2f}{t_step / b_step:>6.2f}x"
            line += f"{train_flops(size, cell) / b_step / 1e6:>9.1f}{b_pred:>12.2f}"
            if has_torch:
                t_pred = pick(times["torch"][1])
                line += f"{t_pred:>9.2f}{t_pred / b_pred:>6.2f}x"
            print(line + f"{forward_flops(size, cell) / b_pred / 1e6:>9.1f}")
    if has_torch:
        print("  t/b = torch time / bigcore time (> 1: bigcore faster); GFLOP/s: bigcore's")

    print()
    print("  per-repeat medians, train step / predict (ms):")
    for size, cell, times in details:
        fmt = lambda v: " ".join(f"{t:.1f}" for t in v)
        print(f"    {size + ' ' + cell:<12}" + "; ".join(f"{name} {fmt(st)} / {fmt(pr)}"
                                                       for name, (st, pr) in times.items()))
    print()
    print("  FLOPs per train step / predict batch (M): "
          + ", ".join(f"{size} {cell} {train_flops(size, cell) / 1e6:.0f} / {forward_flops(size, cell) / 1e6:.0f}"
                      for size, cell, _ in details))
    print(f"  load average (1 min) at start {load:.2f}, at end {os.getloadavg()[0]:.2f}, on {os.cpu_count()} CPUs")
    rates = [(f"{g}^3", (g, g, g)) for g in (1024,)]
    rates += [(f"recurrent {SIZES[size].batch}x{SIZES[size].U} @ {SIZES[size].U}x{4 * SIZES[size].U}",
               (SIZES[size].batch, 4 * SIZES[size].U, SIZES[size].U)) for size in args.sizes]
    print(f"  bigcore._core.gemm GFLOP/s at {threads} thread(s), best of 5: "
          + ", ".join(f"{label} {gemm_gflops(shape):.1f}" for label, shape in rates))


if __name__ == "__main__":
    main()
