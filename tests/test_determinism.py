"""Bit-identical training and prediction for any thread count (DESIGN.md, "Numerics and determinism").

Each test trains the same seeded model with set_num_threads(1), (2) and (3) -- 3 oversubscribes a
2-core machine -- and requires bit-identical weights (np.array_equal on every weight), identical
loss histories (per batch and per epoch, compared with ==) and bit-identical predictions at batch
sizes 1, 7 and 256 (predict, predict_on_batch and model(x)).

The threaded paths run only where there is something to split (cpp/gemm.cpp, cpp/recurrent.cpp):
- a GEMM is cut into tiles from 2*M*N*K >= 8 MFLOP: the MLP at batch 256 (256x784 @ 784x128 forward,
  784x256 @ 256x128 weight gradient) and the recurrent models at batch 128 (the input projection
  B*T x D @ D x 4U and its weight gradient) get there; batch 32 and 64 do not;
- the recurrent time loop runs in batch chunks of chunk_rows(B) rows on threads: B=32 gives 2
  chunks, 64 and 128 give 4;
- the fused optimizer update runs its 32K-float chunks on threads only for arenas of 1M floats and
  up (cpp/program.cpp kParallelUpdate): the seed models are far smaller (the MLP has 118 k
  parameters), so a wide MLP (784-1024-1024-10, 1.86 M) covers it, with 2- and 4-tile GEMMs.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers

THREADS = (1, 2, 3)
PREDICT_BATCHES = (1, 7, 256)


def _mlp(dropout, hidden=128):
    """The seed MLP 784-128-128-10 (relu, relu, softmax), Adam, sparse CE; Dropout after each hidden layer."""
    inp = bigcore.Input((784,))
    h = layers.Dense(hidden, activation="relu")(inp)
    if dropout:
        h = layers.Dropout(dropout)(h)
    h = layers.Dense(hidden, activation="relu")(h)
    if dropout:
        h = layers.Dropout(dropout)(h)
    out = layers.Dense(10, activation="softmax")(h)
    model = bigcore.Model(inp, out)
    model.compile(optimizer=bigcore.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _text(cell, T):
    """Embedding(1000, 32) -> LSTM|GRU(32, return_sequences=True) -> Dense(2, softmax), per-timestep labels."""
    rnn = layers.LSTM if cell == "lstm" else layers.GRU
    model = bigcore.Sequential([layers.Input((T,)), layers.Embedding(1000, 32), rnn(32, return_sequences=True),
                                layers.Dense(2, activation="softmax")])
    model.compile(optimizer=bigcore.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _mlp_data(n=2000, seed=0):
    """x ~ N(0, 1), labels from a random linear teacher: the ReLUs stay alive, the loss falls."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 784), dtype=np.float32)
    return x, np.argmax(x @ rng.standard_normal((784, 10), dtype=np.float32), axis=1)


def _text_data(T, n=2000, seed=0):
    """Token ids in [0, 1000); the label of each step says whether its token is below 500."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1000, (n, T))
    return x, (x < 500).astype(np.int64)


def _run(build, x, y, threads, batch_size, epochs):
    """Trains a fresh model from seed 0 on `threads` threads; returns everything that must not change."""
    bigcore.config.set_num_threads(threads)
    assert bigcore.config.get_num_threads() == threads
    bigcore.utils.set_random_seed(0)
    model = build()
    batch_losses = []
    record = bigcore.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batch_losses.append(logs["loss"]))
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[record])
    xp = x[:256]
    preds = [model.predict(xp, batch_size=bs, verbose=0) for bs in PREDICT_BATCHES]
    preds += [model.predict_on_batch(xp[:bs]) for bs in PREDICT_BATCHES]
    preds += [model(xp[:bs]) for bs in PREDICT_BATCHES]
    return model.get_weights(), batch_losses, history.history, preds


def _assert_same_for_all_thread_counts(build, x, y, batch_size, epochs):
    runs = {t: _run(build, x, y, t, batch_size, epochs) for t in THREADS}
    w1, losses1, hist1, preds1 = runs[1]
    assert len(losses1) == epochs * -(-len(x) // batch_size)
    assert all(np.isfinite(losses1))
    assert losses1[-1] < losses1[0]  # it trained: a deterministic no-op would prove nothing
    for t in THREADS[1:]:
        w, losses, hist, preds = runs[t]
        assert len(w) == len(w1)
        for i, (a, b) in enumerate(zip(w1, w)):
            assert np.array_equal(a, b), f"weight {i} {a.shape}: 1 vs {t} threads differ " \
                                         f"(max |diff| {np.max(np.abs(a - b)):.3g})"
        assert losses == losses1, f"per-batch losses differ between 1 and {t} threads"
        assert hist == hist1, f"History differs between 1 and {t} threads"
        for i, (a, b) in enumerate(zip(preds1, preds)):
            assert a.shape == b.shape
            assert np.array_equal(a, b), f"prediction {i} (predict/on_batch/call at {PREDICT_BATCHES}) " \
                                         f"differs between 1 and {t} threads"


# 2000 samples: batch 32 -> 63 steps an epoch, 4 epochs = 252 steps; batch 64 -> 32 steps, 8 epochs.
@pytest.mark.parametrize("batch_size,epochs", [(32, 4), (64, 8)])
def test_mlp_with_dropout_bit_identical_across_threads(restore_threads, batch_size, epochs):
    x, y = _mlp_data()
    _assert_same_for_all_thread_counts(lambda: _mlp(0.2), x, y, batch_size, epochs)


def test_mlp_batch256_tiled_gemms_bit_identical_across_threads(restore_threads):
    """Batch 256: the first layer's forward and weight-gradient GEMMs (51 MFLOP) run as 2 tiles, and
    so the Adam update of its 118K parameters runs in chunks on threads too (runtime/optim.cpp)."""
    x, y = _mlp_data()
    _assert_same_for_all_thread_counts(lambda: _mlp(0.2), x, y, 256, 20)  # 8 steps an epoch, 160 steps


def test_wide_mlp_threaded_update_bit_identical_across_threads(restore_threads):
    """784-1024-1024-10 (1.86 M parameters): the Adam update runs in chunks on threads, and at batch
    64 the GEMMs run as 2 tiles (64x784 @ 784x1024: 103 MFLOP) and 4 (64x1024 @ 1024x1024: 134)."""
    x, y = _mlp_data(n=512)
    _assert_same_for_all_thread_counts(lambda: _mlp(0.2, hidden=1024), x, y, 64, 5)  # 40 steps


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("batch_size,epochs", [(32, 4), (64, 8)])
def test_text_rnn_bit_identical_across_threads(restore_threads, cell, batch_size, epochs):
    """Batch 32 runs the time loop in 2 chunks of 16 rows, batch 64 in 4."""
    T = 20
    x, y = _text_data(T)
    _assert_same_for_all_thread_counts(lambda: _text(cell, T), x, y, batch_size, epochs)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_text_rnn_batch128_tiled_gemms_bit_identical_across_threads(restore_threads, cell):
    """Batch 128, T 32: 4 chunks of 32 rows in the time loop, and the input projection (4096 x 32 @
    32 x 4U: 34 MFLOP for the LSTM, 25 for the GRU) and its weight gradient run as tiles."""
    T = 32
    x, y = _text_data(T, n=768)
    _assert_same_for_all_thread_counts(lambda: _text(cell, T), x, y, 128, 25)  # 6 steps an epoch, 150 steps


def test_bias_gradient_split_by_columns_matches_float64_and_thread_counts(restore_threads):
    """A bias gradient over many rows (B x N >= 64K values) is summed on the team in blocks of 16
    columns (ops/parallel.cpp col_sum_team), 40 = 16 + 16 + 8 here: each column still adds its rows
    in order, so one SGD step leaves the same bias bits on 1, 2 and 3 threads, and the float64 sum."""
    rng = np.random.default_rng(3)
    B, N = 2048, 40
    x = rng.standard_normal((B, 3)).astype(np.float32)
    y = rng.standard_normal((B, N)).astype(np.float32)
    got = {}
    for t in (1, 2, 3):
        bigcore.config.set_num_threads(t)
        bigcore.utils.set_random_seed(0)
        model = bigcore.Sequential([layers.Input((3,)), layers.Dense(N, kernel_initializer="zeros")])
        model.compile(optimizer=bigcore.optimizers.SGD(learning_rate=1.0), loss="mse")
        model.train_on_batch(x, y)
        got[t] = model.layers[-1].get_weights()[1]
    assert got[2].tobytes() == got[1].tobytes() and got[3].tobytes() == got[1].tobytes()
    # zero kernel and bias: z = 0, so dL/db = sum over rows of 2 (0 - y) / (B N); the bias is -that
    want = (2.0 * y.astype(np.float64)).sum(axis=0) / (B * N)
    np.testing.assert_allclose(got[1], want, rtol=1e-5, atol=1e-7)
