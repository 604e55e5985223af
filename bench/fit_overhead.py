"""The Python fit loop's overhead per step next to the native step, for the seed MLP at batch 32:
the bare native call, fit on arrays (verbose 0 and with the progress bar), and fit on a
bigcore.data pipeline with and without prefetch.

    PYTHONPATH=python python bench/fit_overhead.py [--samples 16384] [--repeats 5] [--threads 1]
"""

import argparse
import io
import os
import statistics
import sys
import time
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bigcore  # noqa: E402
from bigcore.data import Dataset  # noqa: E402
from _mlp import RawTrainer, build_mlp, synthetic_data  # noqa: E402


def per_step(run, steps, repeats):
    run()  # warm-up: buffers, first touch
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) / steps)
    return statistics.median(times) * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=16384)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if a.threads:
        bigcore.config.set_num_threads(a.threads)
    x, y = synthetic_data(a.samples)
    B = a.batch_size
    steps = a.samples // B
    model = build_mlp()
    raw = RawTrainer(model, x, y)

    def native():
        for s in range(steps):
            raw.step(s * B, B)

    def fit_arrays(verbose=0):
        def run():
            with redirect_stdout(io.StringIO()):
                model.fit(x[:steps * B], y[:steps * B], batch_size=B, epochs=1, verbose=verbose)
        return run

    def fit_dataset(prefetch):
        def run():
            ds = Dataset.from_tensor_slices((x[:steps * B], y[:steps * B])).shuffle(steps * B, seed=0).batch(B)
            model.fit(ds.prefetch(2) if prefetch else ds, epochs=1, verbose=0)
        return run

    rows = [("native train_step call", native), ("fit, arrays, verbose=0", fit_arrays(0)),
            ("fit, arrays, progress bar", fit_arrays(1)), ("fit, Dataset", fit_dataset(False)),
            ("fit, Dataset + prefetch", fit_dataset(True))]
    print(f"seed MLP, batch {B}, {steps} steps, {bigcore.config.get_num_threads()} thread(s), "
          f"load {os.getloadavg()[0]:.1f}; median of {a.repeats}")
    base = None
    for name, run in rows:
        us = per_step(run, steps, a.repeats)
        base = us if base is None else base
        extra = "" if us is base else f"   +{us - base:6.1f} us over the native call"
        print(f"  {name:28s} {us:8.1f} us/step{extra}")


if __name__ == "__main__":
    main()
