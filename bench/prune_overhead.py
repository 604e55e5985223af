"""What pruning costs per training step: the seed MLP (784-128-128-10, Adam, batch 32) fitted
plain, pruned with masks in place (a ConstantSparsity that fires once), and pruned with a mask
update every 100 steps (tfmot's default frequency). Prints ms per step and the ratios.

    PYTHONPATH=python python bench/prune_overhead.py [--steps 1500] [--repeats 3]
"""

import argparse
import time

import bigcore
import numpy as np
from bigcore import compression, layers


def _model():
    m = bigcore.Sequential([layers.Input((784,)), layers.Dense(128, activation="relu"),
                            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _time(model, x, y, repeats):
    model.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        best = min(best, time.perf_counter() - t)
    return 1e3 * best / (len(x) // 32)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((32 * a.steps, 784), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    plain = _time(_model(), x, y, a.repeats)
    held = _time(compression.prune_low_magnitude(
        _model(), pruning_schedule=compression.ConstantSparsity(0.8, 0, frequency=10 ** 9)), x, y, a.repeats)
    updating = _time(compression.prune_low_magnitude(
        _model(), pruning_schedule=compression.ConstantSparsity(0.8, 0, frequency=100)), x, y, a.repeats)
    print(f"{bigcore.config.get_num_threads()} thread(s), {bigcore.config.cpu_features()['isa']} kernels")
    print(f"plain                     {plain:.4f} ms/step")
    print(f"pruned, masks held        {held:.4f} ms/step  ({held / plain:.3f}x)")
    print(f"pruned, update every 100  {updating:.4f} ms/step  ({updating / plain:.3f}x)")


if __name__ == "__main__":
    main()
