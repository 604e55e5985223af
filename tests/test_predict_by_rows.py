"""predict by blocks of samples (runtime/program_rows.cpp): where every op of the forward is
row-local (Dense), each thread runs its samples through all the layers. The bits must be the ones the
op-by-op forward gives (which the program runs while profiling), on every CPU path, at any batch and
thread count, and the values those of a float64 NumPy forward."""

import numpy as np
import pytest

import bigcore
from bigcore import layers


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTS = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "linear": lambda z: z, "softmax": _softmax,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z))}

MODELS = {
    # (input shape, [(units, activation, use_bias)]): the seed MLP; a 3-D input (rows = samples x 6
    # timesteps); no biases and a one-column head (the kernel's narrow cases)
    "mlp": ((784,), [(128, "relu", True), (128, "relu", True), (10, "softmax", True)]),
    "sequence": ((6, 128), [(96, "tanh", True), (24, "softmax", True), (16, "linear", True)]),
    "narrow_head": ((784,), [(160, "sigmoid", False), (1, "linear", True)]),
}


def _model(name):
    shape, spec = MODELS[name]
    m = bigcore.Sequential([bigcore.Input(shape)] + [layers.Dense(u, activation=a, use_bias=b) for u, a, b in spec])
    rng = np.random.default_rng(1)  # biases too (they start at zero)
    m.set_weights([(rng.normal(size=w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 8)).astype(np.float32)
                   for w in m.get_weights()])
    return m


def _numpy_forward(name, m, x):
    h = x.astype(np.float64)
    weights = iter(m.get_weights())
    for _, act, use_bias in MODELS[name][1]:
        h = h @ next(weights).astype(np.float64)
        if use_bias:
            h = h + next(weights)
        h = ACTS[act](h)
    return h


# The blocks run on the own GEMM only, which a CPU without FMA does not take (kernels/gemm/gemm.cpp).
OWN_GEMM = "fma" in bigcore.config.cpu_features()["features"]


def _ran_by_rows(m):
    """Whether m's last predict ran by blocks of samples (else op by op)."""
    return m._program.native.ran_by_rows


def _op_by_op(m, x):
    native = m._program.native
    native.set_profile(True)  # a profiled forward times each op: it never runs by blocks of samples
    try:
        return m.predict_on_batch(x)
    finally:
        native.set_profile(False)


@pytest.mark.parametrize("name", list(MODELS))
def test_blocks_of_samples_give_the_op_by_op_bits(isa, restore_threads, name):
    m = _model(name)
    rng = np.random.default_rng(0)
    for threads in (2, 3):
        bigcore.config.set_num_threads(threads)
        for batch in (64, 101, 257):  # (work enough to wake the team) even and uneven blocks
            x = rng.normal(size=(batch,) + MODELS[name][0]).astype(np.float32)
            got = m.predict_on_batch(x)
            assert _ran_by_rows(m) == OWN_GEMM, f"{name}, batch {batch}, {threads} threads: not by blocks"
            want = _op_by_op(m, x)
            assert not _ran_by_rows(m)
            assert np.array_equal(got, want), f"{name} on {isa}, batch {batch}, {threads} threads"
            np.testing.assert_allclose(got, _numpy_forward(name, m, x), rtol=2e-5, atol=2e-6)


def test_dropout_activation_and_relu_layers_run_by_blocks_too(isa, restore_threads):
    """Dropout (a copy in inference), Activation and ReLU/LeakyReLU layers between the Dense layers:
    the same bits as op by op (a mutated copy or activation in their block forms fails here), and
    NumPy's values."""
    bigcore.config.set_num_threads(2)
    m = bigcore.Sequential([bigcore.Input((300,)), layers.Dense(200), layers.Dropout(0.3), layers.Activation("tanh"),
                            layers.Dense(64), layers.ReLU(max_value=0.5), layers.Dense(32), layers.LeakyReLU(0.2),
                            layers.Dense(7), layers.Activation("softmax")])
    rng = np.random.default_rng(5)
    m.set_weights([(rng.normal(size=w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 4)).astype(np.float32)
                   for w in m.get_weights()])
    x = rng.normal(size=(90, 300)).astype(np.float32)
    got = m.predict_on_batch(x)
    assert np.array_equal(got, _op_by_op(m, x))
    w1, b1, w2, b2, w3, b3, w4, b4 = (w.astype(np.float64) for w in m.get_weights())
    h = np.clip(np.tanh(x @ w1 + b1) @ w2 + b2, 0, 0.5)
    h = h @ w3 + b3
    h = np.where(h > 0, h, 0.2 * h)
    np.testing.assert_allclose(got, _softmax(h @ w4 + b4), rtol=2e-5, atol=2e-6)


def test_batch_normalization_runs_by_blocks_with_its_moving_statistics(isa, restore_threads):
    """BatchNormalization in inference (the moving statistics, moved by a fit first; one with its
    ReLU fused, one without gamma/beta): the op-by-op bits and NumPy's values."""
    bigcore.config.set_num_threads(2)
    bigcore.utils.set_random_seed(6)
    m = bigcore.Sequential([bigcore.Input((256,)), layers.Dense(160), layers.BatchNormalization(), layers.ReLU(),
                            layers.Dense(96), layers.BatchNormalization(center=False, scale=False, epsilon=0.01),
                            layers.Dense(5, activation="softmax")])
    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, size=(120, 256)).astype(np.float32)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    m.fit(x, rng.integers(0, 5, 120), epochs=2, batch_size=40, verbose=0)
    got = m.predict_on_batch(x)
    assert np.array_equal(got, _op_by_op(m, x))
    w1, b1, g1, be1, mm1, mv1, w2, b2, mm2, mv2, w3, b3 = (w.astype(np.float64) for w in m.get_weights())
    assert not np.allclose(mm1, 0) and not np.allclose(mv2, 1)  # the statistics moved
    h = np.maximum((x @ w1 + b1 - mm1) / np.sqrt(mv1 + 1e-3) * g1 + be1, 0)
    h = (h @ w2 + b2 - mm2) / np.sqrt(mv2 + 0.01)
    np.testing.assert_allclose(got, _softmax(h @ w3 + b3), rtol=1e-4, atol=1e-5)


def test_a_model_with_an_op_that_is_not_row_local_still_predicts(restore_threads):
    """LayerNormalization between the Dense layers keeps the op-by-op forward; the values stay right."""
    bigcore.config.set_num_threads(2)
    bigcore.utils.set_random_seed(2)
    m = bigcore.Sequential([bigcore.Input((64,)), layers.Dense(96, activation="relu"),
                            layers.LayerNormalization(epsilon=1e-3), layers.Dense(8)])
    x = np.random.default_rng(3).normal(size=(200, 64)).astype(np.float32)
    w1, b1, gamma, beta, w2, b2 = (w.astype(np.float64) for w in m.get_weights())
    h = np.maximum(x @ w1 + b1, 0)
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-3) * gamma + beta
    np.testing.assert_allclose(m.predict_on_batch(x), h @ w2 + b2, rtol=1e-4, atol=1e-5)
    assert not _ran_by_rows(m)
    assert np.array_equal(m.predict_on_batch(x), _op_by_op(m, x))


@pytest.mark.parametrize("width, by_rows", [(1100, False), (512, True)])
def test_wide_weights_run_op_by_op(isa, restore_threads, width, by_rows):
    """Dense weights over 4 MB (784-1100-1100-10: 8.3 MB) keep the op-by-op forward, whose column cut
    has each thread read part of each layer's weights: by blocks, every thread read all of them, a
    few rows at a time in place (1.2-2.5x the time at batch 8-64). 784-512-512-10 (2.7 MB) still runs
    by blocks. Either way the bits are the op-by-op ones and the values NumPy's."""
    bigcore.config.set_num_threads(2)
    m = bigcore.Sequential([bigcore.Input((784,)), layers.Dense(width, activation="relu"),
                            layers.Dense(width, activation="relu"), layers.Dense(10)])
    rng = np.random.default_rng(8)
    m.set_weights([(rng.normal(size=w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 8)).astype(np.float32)
                   for w in m.get_weights()])
    x = rng.normal(size=(32, 784)).astype(np.float32)
    got = m.predict_on_batch(x)
    assert _ran_by_rows(m) == (by_rows and OWN_GEMM)
    assert np.array_equal(got, _op_by_op(m, x))
    w1, b1, w2, b2, w3, b3 = (w.astype(np.float64) for w in m.get_weights())
    want = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2 + b2, 0) @ w3 + b3
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_after_training_the_blocks_read_the_new_weights(restore_threads):
    """fit between two predicts: the second one's blocks read the updated arena, as the op path does."""
    bigcore.config.set_num_threads(2)
    m = _model("mlp")
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 784)).astype(np.float32)
    before = m.predict_on_batch(x)
    m.fit(x, rng.integers(0, 10, 64), epochs=1, batch_size=16, verbose=0)
    after = m.predict_on_batch(x)
    assert not np.allclose(before, after)
    assert np.array_equal(after, _op_by_op(m, x))
    np.testing.assert_allclose(after, _numpy_forward("mlp", m, x), rtol=2e-5, atol=2e-6)
