"""Metric names and functions Keras 3 resolves that bigcore had not: "bce" (BinaryCrossentropy),
"f_beta_score" (Keras's snake case of FBetaScore), and keras.metrics.binary_focal_crossentropy /
categorical_focal_crossentropy (the loss functions, re-exported as Keras's metrics module does)."""

import numpy as np
import pytest

import bigcore
from bigcore import metrics

rng = np.random.default_rng(5)
X = rng.normal(size=(32, 4)).astype(np.float32)
Y = (rng.random((32, 1)) > 0.5).astype(np.float32)


def _evaluate(mod, metric):
    inp = mod.Input((4,))
    model = mod.Model(inp, mod.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(inp))
    model.compile(optimizer="sgd", loss="mse", metrics=[metric])
    return model.evaluate(X, Y, verbose=0, return_dict=True)


def test_names_resolve():
    assert isinstance(metrics.get("bce"), metrics.BinaryCrossentropy)
    assert isinstance(metrics.get("f_beta_score", output_width=1), metrics.FBetaScore)
    assert metrics.binary_focal_crossentropy is bigcore.losses.binary_focal_crossentropy
    assert metrics.categorical_focal_crossentropy is bigcore.losses.categorical_focal_crossentropy


@pytest.mark.parametrize("name", ["bce", "binary_focal_crossentropy"])
def test_values_match_keras(keras, name):
    ours = _evaluate(bigcore, name if name == "bce" else metrics.binary_focal_crossentropy)
    theirs = _evaluate(keras, name if name == "bce" else keras.metrics.binary_focal_crossentropy)
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key] == pytest.approx(float(theirs[key]), rel=1e-5)
