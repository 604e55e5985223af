"""activity_regularizer and kernel_constraint=max_norm: NumPy references, and Keras 3 parity."""

import numpy as np
import pytest

import bigcore
from bigcore import constraints, layers, optimizers, regularizers


def data(n=12, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)


def one_dense(**kw):
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input(shape=(5,)), layers.Dense(3, **kw)])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    return m


@pytest.mark.parametrize("reg", [regularizers.l1(0.05), regularizers.l2(0.1), regularizers.l1_l2(0.02, 0.03)])
def test_activity_regularizer_adds_its_penalty_and_gradient(reg):
    x, y = data()
    m = one_dense(activity_regularizer=reg)
    W, b = [w.astype(np.float64) for w in m.get_weights()]
    a = x @ W + b
    n = len(x)
    want_loss = np.mean(np.mean((a - y) ** 2, axis=1)) + (reg.l1 * np.abs(a).sum() + reg.l2 * (a ** 2).sum()) / n
    da = 2 * (a - y) / (n * 3) + (reg.l1 * np.sign(a) + 2 * reg.l2 * a) / n
    loss = m.train_on_batch(x, y)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    W1, b1 = m.get_weights()
    np.testing.assert_allclose(W1, W - 0.1 * x.T.astype(np.float64) @ da, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b - 0.1 * da.sum(axis=0), rtol=1e-5, atol=1e-6)
    assert m.evaluate(x, y, verbose=0) > np.mean((m.predict(x, verbose=0) - y) ** 2)  # evaluate includes it


def test_max_norm_caps_each_column_after_every_update():
    x, y = data(n=32)
    m = one_dense(kernel_constraint=constraints.MaxNorm(0.5))
    m.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="mse")
    for _ in range(5):
        m.train_on_batch(x * 10, y * 10)
        norms = np.sqrt((m.get_weights()[0].astype(np.float64) ** 2).sum(axis=0))
        assert norms.max() <= 0.5 + 1e-5
    assert norms.min() > 0.4  # the big updates pushed every column to the cap


def test_max_norm_leaves_small_columns_alone():
    x, y = data()
    m = one_dense(kernel_constraint="max_norm")  # max_value 2
    before = m.get_weights()[0]
    m.compile(optimizer=optimizers.SGD(learning_rate=1e-6), loss="mse")
    m.train_on_batch(x, y)
    assert np.abs(m.get_weights()[0] - before).max() < 1e-4


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_activity_regularizer_and_max_norm_match_keras(keras):
    x, y = data(n=16)
    kw = dict(activity_regularizer=regularizers.l2(0.01), kernel_constraint=constraints.MaxNorm(0.7))
    m = one_dense(**kw)
    m.compile(optimizer=optimizers.Adam(0.05), loss="mse")
    ki = keras.Input(shape=(5,))
    km = keras.Model(ki, keras.layers.Dense(3, activity_regularizer=keras.regularizers.L2(0.01),
                                            kernel_constraint=keras.constraints.MaxNorm(0.7))(ki))
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    for _ in range(4):
        ours = m.train_on_batch(x, y)
        theirs = float(np.asarray(km.train_on_batch(x, y)).reshape(-1)[0])
        assert ours == pytest.approx(theirs, rel=1e-4)
    for a, b in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_lstm_activity_regularizer_raises_the_loss():
    bigcore.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
    y = np.zeros((4, 2), np.float32)
    plain = bigcore.Sequential([layers.Input(shape=(6, 3)), layers.LSTM(2)])
    plain.compile(optimizer="sgd", loss="mse")
    bigcore.utils.set_random_seed(0)
    reg = bigcore.Sequential([layers.Input(shape=(6, 3)), layers.LSTM(2, activity_regularizer=regularizers.l2(1.0))])
    reg.compile(optimizer="sgd", loss="mse")
    reg.set_weights(plain.get_weights())
    h = plain.predict(x, verbose=0).astype(np.float64)
    assert reg.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + (h ** 2).sum() / 4, rel=1e-5)
