"""Keras's temporal sample weights: sample_weight of shape (samples, timesteps) weighs each
timestep's loss of a sequence output (Keras: the per-timestep losses times the weights, summed over
samples x timesteps). Against Keras 3 (same weights in: the same loss, and the same weights after a
few SGD steps) and a NumPy reference; the shapes it refuses."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's torch variables and NumPy 2

N, T, V, C = 12, 6, 20, 4


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, (N, T)).astype(np.float32)
    y = rng.integers(0, C, (N, T)).astype(np.float32)
    sw = rng.integers(0, 3, (N, T)).astype(np.float32)  # zeros among them: padding-like timesteps
    return x, y, sw


def _tagger(lib):
    model = lib.Sequential([lib.Input((T,)), lib.layers.Embedding(V, 8), lib.layers.Dense(C, activation="softmax")])
    model.compile(optimizer=lib.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["sparse_categorical_accuracy"])
    return model


def test_loss_is_the_weighted_mean_over_samples_and_timesteps():
    x, y, sw = _data()
    model = _tagger(bigcore)
    p = model.predict(x, verbose=0).astype(np.float64)
    ce = -np.log(np.take_along_axis(p, y.astype(int)[..., None], -1)[..., 0])
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=5, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx((ce * sw).sum() / (N * T), rel=1e-5)
    hit = (p.argmax(-1) == y)
    assert logs["sparse_categorical_accuracy"] == pytest.approx((hit * sw).sum() / sw.sum(), rel=1e-6)
    # (n, 1) still means one weight per sample
    per_sample = sw[:, :1]
    logs = model.evaluate(x, y, sample_weight=per_sample, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx((ce * per_sample).sum() / (N * T), rel=1e-5)


def test_same_loss_and_weights_as_keras(keras):
    x, y, sw = _data(1)
    ours, theirs = _tagger(bigcore), _tagger(keras)
    theirs.set_weights(ours.get_weights())
    got = ours.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    want = theirs.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(float(want["loss"]), rel=1e-5)
    assert got["sparse_categorical_accuracy"] == pytest.approx(float(want["sparse_categorical_accuracy"]), rel=1e-5)
    for model in (ours, theirs):  # three full-batch SGD steps
        model.fit(x, y, sample_weight=sw, batch_size=N, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # shuffled rows keep their weights; the validation split takes the last rows' weights
    hist = ours.fit(x, y, sample_weight=sw, batch_size=5, epochs=1, shuffle=True, validation_split=0.25, verbose=0)
    held = ours.evaluate(x[9:], y[9:], sample_weight=sw[9:], verbose=0, return_dict=True)
    assert hist.history["val_loss"][0] == pytest.approx(held["loss"], rel=1e-6)


def test_refuses_weights_that_fit_no_output():
    x, y, sw = _data()
    model = _tagger(bigcore)
    with pytest.raises(ValueError, match="one per timestep"):
        model.evaluate(x, y, sample_weight=np.ones((N, T + 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match="one per timestep"):
        model.fit(x, y, sample_weight=np.ones((N, T, 2), np.float32), verbose=0)
    flat = bigcore.Sequential([bigcore.Input((T,)), layers.Dense(C, activation="softmax")])
    flat.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="one per timestep"):
        flat.evaluate(x, y[:, 0], sample_weight=sw, verbose=0)
