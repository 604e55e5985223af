"""predict reads a model input in place (no copy) when only Dense layers read it: the results must
be those of the copying path, for any row offset or alignment, and the caller's array untouched."""
import numpy as np
import pytest

import bigcore
from bigcore import layers


def _mlp(seed=0):
    bigcore.utils.set_random_seed(seed)
    return bigcore.Sequential([layers.Input((37,)), layers.Dense(24, activation="relu"), layers.Dense(5)])


def _reference(m, x):
    (w1, b1), (w2, b2) = (l.get_weights() for l in m.layers)
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
    return h @ w2 + b2


@pytest.mark.parametrize("offset", [0, 1, 3])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_unaligned_rows_and_batch_offsets(offset, batch_size):
    m = _mlp()
    buf = np.random.default_rng(1).standard_normal(150 * 37 + offset).astype(np.float32)
    x = buf[offset:].reshape(150, 37)  # rows starting off any 64-byte boundary
    before = x.copy()
    got = m.predict(x, batch_size=batch_size, verbose=0)
    np.testing.assert_allclose(got, _reference(m, x), rtol=1e-5, atol=1e-5)
    assert np.array_equal(x, before)  # read, never written
    on_batch = m.predict_on_batch(x)
    assert on_batch.tobytes() == got.tobytes()  # a row's bits do not depend on its batch


def test_same_bits_as_a_copied_input():
    """The same weights behind a model whose input another layer also reads (so it is copied in)."""
    m = _mlp()
    inp = layers.Input((37,))
    d1, d2 = layers.Dense(24, activation="relu"), layers.Dense(5)
    out = d2(d1(inp))
    side = layers.Dense(1)(layers.Activation("linear")(inp))  # a non-Dense reader of the input
    two = bigcore.Model(inp, [out, side])
    two(np.zeros((1, 37), np.float32))
    d1.set_weights(m.layers[0].get_weights())
    d2.set_weights(m.layers[1].get_weights())
    x = np.random.default_rng(2).standard_normal((90, 37)).astype(np.float32)
    assert two.predict(x, batch_size=32, verbose=0)[0].tobytes() == m.predict(x, batch_size=32, verbose=0).tobytes()


def test_training_after_predict_sees_its_own_batch():
    """The borrowed rows are given back after each call: training copies its batches as before."""
    x = np.random.default_rng(3).standard_normal((64, 37)).astype(np.float32)
    y = np.random.default_rng(4).standard_normal((64, 5)).astype(np.float32)
    a, b = _mlp(5), _mlp(5)
    for m in (a, b):
        m.compile(optimizer="adam", loss="mse")
    a.predict(x[::-1].copy(), verbose=0)
    a.train_on_batch(x, y)
    b.train_on_batch(x, y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.tobytes() == wb.tobytes()
    z = np.random.default_rng(6).standard_normal((10, 37)).astype(np.float32)
    assert a.predict(z, verbose=0).tobytes() == b.predict(z, verbose=0).tobytes()


def test_nonfinite_rows_still_refused_in_place():
    m = _mlp()
    x = np.random.default_rng(7).standard_normal((40, 37)).astype(np.float32)
    m.predict_on_batch(x)
    bad = x.copy()
    bad[33, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf.*\(33, 2\)"):
        m.predict_on_batch(bad)
    assert np.array_equal(m.predict_on_batch(x), m.predict_on_batch(x.copy()))
