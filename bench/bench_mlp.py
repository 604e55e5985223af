"""MLP 784-128-128-10 throughput: training (fit epoch and the raw native step), predict, evaluate.

    PYTHONPATH=python python -m pytest bench/bench_mlp.py --benchmark-only [--bigcore-threads N]

Each benchmark puts samples/s (from its median) into extra_info; `--benchmark-json out.json`
keeps it, `--benchmark-columns median,ops` is a compact table.
"""

import itertools

import numpy as np
import pytest

from _mlp import SIZES, RawTrainer, build_mlp, param_slice, synthetic_data

N = 8192  # samples per fit / evaluate call; a multiple of every batch size below
TRAIN_BATCHES = (32, 256)


@pytest.fixture(scope="module")
def data():
    return synthetic_data(N)


@pytest.mark.parametrize("batch", TRAIN_BATCHES)
def test_fit_epoch(benchmark, record, data, batch):
    """model.fit(epochs=1, verbose=0) over N samples: the user's view, Python loop included."""
    x, y = data
    model = build_mlp()
    model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)  # lowering, thread pool
    benchmark.group = "fit epoch (8192 samples)"
    benchmark.pedantic(model.fit, args=(x, y), kwargs={"batch_size": batch, "epochs": 1, "verbose": 0},
                       rounds=7, warmup_rounds=1, iterations=1)
    record(N)


@pytest.mark.parametrize("batch", TRAIN_BATCHES)
def test_train_step(benchmark, record, data, batch):
    """One native train_step call (forward, loss, backward, Adam) as fit makes it, without the loop."""
    x, y = data
    raw = RawTrainer(build_mlp(), x, y)
    starts = itertools.cycle(range(0, N, batch))

    def step():
        raw.step(next(starts), batch)

    benchmark.group = "train step"
    benchmark(step)
    record(batch)


@pytest.mark.parametrize("batch", (1, 256))
def test_predict_on_batch(benchmark, record, data, batch):
    model = build_mlp()
    xb = np.ascontiguousarray(data[0][:batch])
    model.predict_on_batch(xb)
    benchmark.group = "predict"
    benchmark(model.predict_on_batch, xb)
    record(batch)


def test_predict_step_native_batch1(benchmark, record, data):
    """The native predict call alone at batch 1: the gap to predict_on_batch is Python overhead."""
    model = build_mlp()
    xs = [np.ascontiguousarray(data[0][:1])]
    outs = [np.empty((1, 10), np.float32)]
    native = model._native().native
    benchmark.group = "predict"
    benchmark(native.predict_step, xs, 0, 1, outs)
    record(1)


@pytest.mark.parametrize("moments", ["zero", "denormal"])
def test_train_steps_zero_grad_rows(benchmark, record, data, moments):
    """128 batch-32 steps where half the inputs are always 0 (like image borders), so half of the
    first kernel's rows get exactly zero gradient. Adam then decays their first moments by 0.9 a
    step; on real data they pass through the denormal range (Fashion-MNIST: from about step 700 on,
    every step ~3x slower). 'denormal' starts those moments at 1e-38, 'zero' at 0: the ratio of the
    two is the denormal penalty (1.0 when the kernels flush denormals to zero)."""
    x, y = data
    x = x.copy()
    x[:, :SIZES[0] // 2] = 0.0
    model = build_mlp()
    raw = RawTrainer(model, x, y)
    kernel = param_slice(model, (SIZES[0], SIZES[1]))
    rows = slice(kernel.start, kernel.start + (SIZES[0] // 2) * SIZES[1])  # row-major (in, out)
    m = raw.native.opt_slot(0)  # Adam's first moments, a view of the native arena

    def prime():
        m[rows] = 1e-38 if moments == "denormal" else 0.0  # 1e-38 * 0.9**128 is still denormal

    def steps():
        for s in range(128):
            raw.step(32 * s, 32)

    benchmark.group = "zero-gradient rows (128 steps, batch 32)"
    benchmark.pedantic(steps, setup=prime, rounds=7, warmup_rounds=1, iterations=1)
    record(128 * 32)


def test_evaluate(benchmark, record, data):
    """model.evaluate(batch_size=256) over N samples."""
    x, y = data
    model = build_mlp()
    model.evaluate(x[:512], y[:512], batch_size=256, verbose=0)
    benchmark.group = "evaluate (8192 samples)"
    benchmark.pedantic(model.evaluate, args=(x, y), kwargs={"batch_size": 256, "verbose": 0},
                       rounds=7, warmup_rounds=1, iterations=1)
    record(N)
