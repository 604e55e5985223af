"""Sparse vs dense Dense kernels, side by side: a K x N layer (default 1024 x 1024, relu, bias) pruned
to 50/80/90/95% zeros (unstructured, uniformly random), float32 and int8, batch 1 and 64. Each time
is one native predict_step of a one-op program (bigcore.sparse_select.measure: what sparsify uses),
the best of several alternating rounds; "ratio" is dense / sparse (> 1: the sparse kernel wins).

    PYTHONPATH=python python bench/bench_sparse.py [--threads 1] [--isa avx2] [--size 1024 1024]
        [--sparsity 0.5 0.8 0.9 0.95] [--batch 1 64] [--rounds 5] [--min-time 0.01]

On a shared machine use --threads 1 and read the ratios rather than the absolute times.
"""

import argparse

import numpy as np

import bigcore
from bigcore import layers
from bigcore.quantization import quantize
from bigcore.sparse_select import measure


def pruned_layer(K, N, sparsity, int8, seed=0):
    rng = np.random.default_rng(seed)
    m = bigcore.Sequential([layers.Input(shape=(K,)), layers.Dense(N, activation="relu")])
    w = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)
    w[rng.random((K, N)) < sparsity] = 0
    m.set_weights([w, rng.standard_normal(N).astype(np.float32) * 0.1])
    return (quantize(m) if int8 else m).layers[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--isa", default=None, help="force a path: ref, avx2, avx512 (default: the best)")
    ap.add_argument("--size", type=int, nargs=2, default=(1024, 1024), metavar=("K", "N"))
    ap.add_argument("--sparsity", type=float, nargs="+", default=(0.5, 0.8, 0.9, 0.95))
    ap.add_argument("--batch", type=int, nargs="+", default=(1, 64))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.01)
    a = ap.parse_args()
    if a.threads:
        bigcore.config.set_num_threads(a.threads)
    if a.isa:
        bigcore.config.set_cpu_isa(a.isa)
    feats = bigcore.config.cpu_features()
    K, N = a.size
    print(f"# {K}x{N} relu, threads={bigcore.config.get_num_threads()}, path={feats['paths']['sparse']}, "
          f"int8 path={feats['paths']['int8']}")
    head = f"{'dtype':7} {'sparsity':>8} {'batch':>5} {'dense us':>10} {'sparse us':>10} {'ratio':>6}  winner"
    print(head)
    print("-" * len(head))
    for int8 in (False, True):
        for sp in a.sparsity:
            layer = pruned_layer(K, N, sp, int8)
            for b in a.batch:
                td, ts = measure(layer, b, min_time=a.min_time, rounds=a.rounds)
                r = td / ts
                print(f"{'int8' if int8 else 'float32':7} {sp:8.0%} {b:5d} {td * 1e6:10.1f} {ts * 1e6:10.1f} "
                      f"{r:6.2f}  {'sparse' if r > 1 else 'dense'}", flush=True)


if __name__ == "__main__":
    main()
