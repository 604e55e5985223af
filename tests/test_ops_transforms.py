"""keras.ops.view (dtype bitcast on arrays), keras.ops.vectorize (eager, NumPy's rules, gufunc
signatures) and keras.ops.associative_scan (eager and traced inside a model, trained against
Keras 3), with their refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(11)
X = RNG.normal(size=(2, 4)).astype(np.float32)


def _np(t):
    if isinstance(t, (list, tuple)):
        return [_np(a) for a in t]
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "int16", "float32", "uint32", "float16"])
def test_view_matches_keras_and_numpy(keras, dtype):
    got = ops.view(X, dtype)
    np.testing.assert_array_equal(got, X.view(dtype))
    if dtype != "uint32":  # Keras's torch backend stores uint32 as int64 (NumPy's / JAX's answer is this one)
        np.testing.assert_array_equal(got, _np(keras.ops.view(keras.ops.convert_to_tensor(X), dtype)))
    assert got.dtype == np.dtype(dtype)


def test_view_of_lists_and_refusals(keras):
    np.testing.assert_array_equal(ops.view([1, 2, 3], "float32"), _np(keras.ops.view(keras.ops.array([1, 2, 3]),
                                                                                      "float32")))
    with pytest.raises(ValueError, match="last axis"):
        ops.view(np.zeros((2, 3), np.int8), "int32")
    with pytest.raises(NotImplementedError, match="bfloat16"):
        ops.view(X, "bfloat16")
    with pytest.raises(NotImplementedError, match="eagerly only"):
        ops.view(bigcore.Input((4,)), "int32")


def test_vectorize_matches_keras(keras):
    a, b = np.array([1.0, 2.0, 3.0], np.float32), np.array([[1.0], [2.0]], np.float32)
    ours = ops.vectorize(lambda p, q: p * q + 1)(a, b)
    np.testing.assert_allclose(ours, _np(keras.ops.vectorize(lambda p, q: p * q + 1)(a, b)))
    np.testing.assert_allclose(ours, a * b + 1)
    m, v = RNG.normal(size=(4, 2, 3)).astype(np.float32), RNG.normal(size=(3,)).astype(np.float32)
    mv = ops.vectorize(lambda p, q: ops.matmul(p, q), signature="(m,n),(n)->(m)")(m, v)
    np.testing.assert_allclose(mv, m @ v, rtol=1e-5, atol=1e-6)
    theirs = keras.ops.vectorize(lambda p, q: keras.ops.matmul(p, q), signature="(m,n),(n)->(m)")(m, v)
    np.testing.assert_allclose(mv, _np(theirs), rtol=1e-5, atol=1e-6)
    scaled = ops.vectorize(lambda p, s: p * s[0], excluded={1})(a, [10.0])  # the list passed unchanged
    np.testing.assert_allclose(scaled, a * 10)
    with pytest.raises(ValueError, match="callable"):
        ops.vectorize(3)
    with pytest.raises(NotImplementedError, match="eagerly only"):
        ops.vectorize(lambda p: p)(bigcore.Input((3,)))


def _affine(left, right):  # x -> a x + b composed: associative, not commutative
    return left[0] * right[0], right[0] * left[1] + right[1]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_associative_scan_matches_keras(keras, reverse, axis):
    xs = RNG.normal(size=(5, 3)).astype(np.float32)
    got = ops.associative_scan(lambda p, q: p + q, xs, reverse=reverse, axis=axis)
    want = np.flip(np.cumsum(np.flip(xs, axis), axis), axis) if reverse else np.cumsum(xs, axis)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, _np(keras.ops.associative_scan(lambda p, q: p + q, xs, reverse=reverse, axis=axis)),
                               rtol=1e-5, atol=1e-6)
    pair = (RNG.uniform(size=(6, 2)).astype(np.float32), RNG.normal(size=(6, 2)).astype(np.float32))
    for g, w in zip(ops.associative_scan(_affine, pair, reverse=reverse),
                    keras.ops.associative_scan(_affine, pair, reverse=reverse)):
        np.testing.assert_allclose(g, _np(w), rtol=1e-5, atol=1e-6)


def test_associative_scan_traced_trains_like_keras(keras):
    def build(mod):
        class CumMax(mod.layers.Layer):
            def call(self, x):
                return mod.ops.associative_scan(lambda p, q: p + q, x, axis=1)

        inp = mod.Input((5, 3))
        h = mod.layers.Dense(4)(inp)
        return mod.Model(inp, mod.layers.Dense(1)(CumMax()(h)))

    x = RNG.normal(size=(8, 5, 3)).astype(np.float32)
    y = RNG.normal(size=(8, 5, 1)).astype(np.float32)
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    ours.compile(bigcore.optimizers.Adam(0.01), "mse")
    theirs.compile(keras.optimizers.Adam(0.01), "mse")
    for _ in range(3):
        assert ours.train_on_batch(x, y) == pytest.approx(float(theirs.train_on_batch(x, y)), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def test_associative_scan_refusals():
    with pytest.raises(ValueError, match="same first dimension"):
        ops.associative_scan(lambda p, q: p, (np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="scalar"):
        ops.associative_scan(lambda p, q: p, np.float32(1.0))
