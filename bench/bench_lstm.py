"""Recurrent models: one training step and one predict batch, LSTM and GRU.

    PYTHONPATH=python python -m pytest bench/bench_lstm.py --benchmark-only [--bigcore-threads N]

Sizes (every model returns sequences and classifies each timestep, softmax over C=2; Adam(1e-3,
eps 1e-7); sparse categorical CE averaged over batch and time):
  text:  Input((100,)) -> Embedding(10000, 64) -> LSTM|GRU(64) -> Dense(2)      batch 32
  large: Input((100, 256)) -> LSTM|GRU(256) -> Dense(2)                         batch 128
This file also holds the models, data and FLOP counts that compare_torch_lstm.py uses. Each
benchmark puts samples/s and GFLOP/s (from its median) into extra_info.
"""

import functools
import itertools
from collections import namedtuple

import numpy as np
import pytest

import bigcore
from bigcore import layers
from _mlp import RawTrainer

Size = namedtuple("Size", "batch T D U C vocab")  # vocab None: float features in, no Embedding
SIZES = {"text": Size(32, 100, 64, 64, 2, 10000), "large": Size(128, 100, 256, 256, 2, None)}
GATES = {"lstm": 4, "gru": 3}
BATCHES_OF_DATA = 4  # samples per data set = this many batches; steps cycle through them


def build_rnn(size, cell, seed=0):
    """A fresh compiled model; the same seed gives the same weights."""
    s = SIZES[size]
    bigcore.utils.set_random_seed(seed)
    if s.vocab:
        inp = bigcore.Input((s.T,))
        h = layers.Embedding(s.vocab, s.D)(inp)
    else:
        inp = h = bigcore.Input((s.T, s.D))
    h = {"lstm": layers.LSTM, "gru": layers.GRU}[cell](s.U, return_sequences=True)(h)
    out = layers.Dense(s.C, activation="softmax")(h)
    model = bigcore.Model(inp, out)
    model.compile(optimizer=bigcore.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy")
    return model


def synthetic_data(size, n=None, seed=0):
    """x: token ids in [1, vocab) (int64) or N(0, 1) features (float32); y: (n, T) labels in [0, C)."""
    s = SIZES[size]
    n = n or BATCHES_OF_DATA * s.batch
    rng = np.random.default_rng(seed)
    if s.vocab:
        x = rng.integers(1, s.vocab, (n, s.T))
    else:
        x = rng.standard_normal((n, s.T, s.D), dtype=np.float32)
    return x, rng.integers(0, s.C, (n, s.T))


def forward_flops(size, cell, batch=None):
    """Input projection 2*B*T*D*GU + recurrent 2*B*T*U*GU + Dense 2*B*T*U*C (pointwise work and
    the embedding gather not counted)."""
    s = SIZES[size]
    BT, GU = (batch or s.batch) * s.T, GATES[cell] * s.U
    return 2 * BT * GU * (s.D + s.U) + 2 * BT * s.U * s.C


def train_flops(size, cell, batch=None):
    """Forward, then backward at twice the forward (each GEMM gives a weight gradient and an input
    gradient), less the recurrent layer's input gradient 2*B*T*D*GU where nothing consumes it
    (no Embedding below)."""
    s = SIZES[size]
    unused = 0 if s.vocab else 2 * (batch or s.batch) * s.T * s.D * GATES[cell] * s.U
    return 3 * forward_flops(size, cell, batch) - unused


CASES = [("text", "lstm"), ("text", "gru"), ("large", "lstm")]
ROUNDS = {"text": 20, "large": 7}  # a large LSTM step is ~0.5 s on 2 cores
IDS = [f"{size}-{cell}" for size, cell in CASES]


@pytest.fixture(scope="module")
def datasets():
    """datasets(size) -> (x, y), made once per module (the large one is 52 MB)."""
    return functools.cache(synthetic_data)


def _record_flops(benchmark, flops):
    if benchmark.stats is not None:
        benchmark.extra_info["gflops"] = round(flops / benchmark.stats.stats.median / 1e9, 2)


@pytest.mark.parametrize("size,cell", CASES, ids=IDS)
def test_train_step(benchmark, record, datasets, size, cell):
    """One native train_step call (forward, loss, backward through time, Adam) as fit makes it."""
    s = SIZES[size]
    x, y = datasets(size)
    raw = RawTrainer(build_rnn(size, cell), x, y)
    starts = itertools.cycle(range(0, len(x), s.batch))

    def step():
        raw.step(next(starts), s.batch)

    benchmark.group = "train step"
    benchmark.pedantic(step, rounds=ROUNDS[size], warmup_rounds=2, iterations=1)
    record(s.batch)
    _record_flops(benchmark, train_flops(size, cell))


@pytest.mark.parametrize("size,cell", CASES, ids=IDS)
def test_predict_on_batch(benchmark, record, datasets, size, cell):
    """model.predict_on_batch on one batch: the user's view, input checks included."""
    s = SIZES[size]
    x, _ = datasets(size)
    model = build_rnn(size, cell)
    xb = x[:s.batch]
    model.predict_on_batch(xb)
    benchmark.group = "predict batch"
    benchmark.pedantic(model.predict_on_batch, args=(xb,), rounds=ROUNDS[size], warmup_rounds=1, iterations=1)
    record(s.batch)
    _record_flops(benchmark, forward_flops(size, cell))


@pytest.mark.parametrize("size,cell", CASES, ids=IDS)
def test_predict_step_native(benchmark, record, datasets, size, cell):
    """The native predict_step alone on the same batch: the gap to predict_on_batch is Python
    (the input's float32 conversion and finiteness check)."""
    s = SIZES[size]
    x, _ = datasets(size)
    model = build_rnn(size, cell)
    xs = [np.ascontiguousarray(x[:s.batch], dtype=np.float32)]
    outs = [np.empty((s.batch, s.T, s.C), np.float32)]
    native = model._native().native
    native.predict_step(xs, 0, s.batch, outs)
    benchmark.group = "predict batch"
    benchmark.pedantic(native.predict_step, args=(xs, 0, s.batch, outs), rounds=ROUNDS[size], warmup_rounds=1,
                       iterations=1)
    record(s.batch)
    _record_flops(benchmark, forward_flops(size, cell))
