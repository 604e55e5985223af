"""Normalization after a native layer (nested in a Sequential, after Reshape): lowered into the
program, reading its mean and variance weights in place."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from keras_training_checks import trains_like_keras

RNG = np.random.default_rng(3)
X = RNG.normal(3.0, 2.0, (40, 6)).astype("float32")


def _reference(x, mean, var, invert=False):
    std = np.maximum(np.sqrt(np.float32(var)), np.float32(1e-7))
    return (mean + x * std) if invert else (x - mean) / std


@pytest.mark.parametrize("kwargs", [{}, {"axis": None}, {"invert": True},
                                    {"mean": [1.0, 2, 3, 4, 5, 6], "variance": [1.0, 4, 9, 1, 1e-20, 0.5]},
                                    {"mean": 2.0, "variance": 3.0}])
def test_nested_normalization_matches_numpy(kwargs):
    norm = layers.Normalization(**kwargs)
    inp = bigcore.Input((6,))
    model = bigcore.Model(inp, bigcore.Sequential([norm, layers.Dense(3, kernel_initializer="ones")])(inp))
    if "mean" not in kwargs:
        norm.adapt(X)
        mean, var = (X.mean(), X.var()) if "axis" in kwargs else (X.mean(0), X.var(0))
    else:
        mean, var = np.float32(kwargs["mean"]), np.float32(kwargs["variance"])
    want = _reference(X, np.float32(mean), np.float32(var), kwargs.get("invert", False)) @ np.ones((6, 3), np.float32)
    np.testing.assert_allclose(model.predict(X, verbose=0), want, rtol=1e-5, atol=1e-4)


def test_adapt_after_the_program_exists_is_used():
    norm = layers.Normalization()
    inp = bigcore.Input((3, 2))
    model = bigcore.Model(inp, norm(layers.Reshape((6,))(inp)))
    model.compile("sgd", "mse")
    before = model.predict(X.reshape(-1, 3, 2), verbose=0)
    np.testing.assert_array_equal(before, X)  # mean 0, variance 1
    norm.adapt(X)
    after = model.predict(X.reshape(-1, 3, 2), verbose=0)
    np.testing.assert_allclose(after, _reference(X, X.mean(0), X.var(0)), rtol=1e-5, atol=1e-5)
    model.fit(X.reshape(-1, 3, 2), np.zeros_like(X), epochs=1, verbose=0)
    np.testing.assert_allclose(norm.get_weights()[0], X.mean(0), rtol=1e-6)  # fit leaves the statistics alone


def test_kept_axis_of_a_3d_tensor():
    data = RNG.normal(1.0, 3.0, (20, 4, 5)).astype("float32")
    norm = layers.Normalization(axis=1)
    inp = bigcore.Input((20,))
    model = bigcore.Model(inp, norm(layers.Reshape((4, 5))(inp)))
    norm.adapt(data)
    want = _reference(data, data.mean(axis=(0, 2))[:, None], data.var(axis=(0, 2))[:, None])
    np.testing.assert_allclose(model.predict(data.reshape(20, 20), verbose=0), want, rtol=1e-5, atol=1e-5)


# Keras's own Normalization under the torch backend converts a Variable through numpy's old __array__
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_training_through_it_matches_keras(keras):
    y = RNG.normal(size=(40, 2)).astype("float32")

    def build(lib):
        norm = lib.layers.Normalization(mean=[0.5] * 6, variance=[2.0, 1, 3, 1, 0.5, 4])
        return lib.Sequential([lib.Input((6,)), lib.layers.Dense(6, use_bias=False), norm,
                               lib.layers.Dense(2, use_bias=False)])

    trains_like_keras(keras, build, X, y, learning_rate=0.05, batch_size=8)
