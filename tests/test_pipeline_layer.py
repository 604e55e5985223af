"""keras.layers.Pipeline: its layers in turn (each lowered natively), Keras's training default
(an eager call augments, a model's predict does not), a model with it trained, saved and loaded by
bigcore and by Keras, its config as Keras's, refusals."""

import os

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


def make(L):
    return L.Pipeline([L.RandomFlip("horizontal", seed=1), L.RandomContrast((0.3, 0.3)), L.Rescaling(1 / 255.0)])


def test_pipeline_applies_its_layers_in_turn_with_keras_training_default(keras):
    x = images((4, 8, 6, 3), 1)
    p = make(bigcore.layers)
    assert [type(layer).__name__ for layer in p.layers] == ["RandomFlip", "RandomContrast", "Rescaling"]
    ident = layers.Pipeline([layers.RandomContrast(0.0), layers.Rescaling(2.0)])
    np.testing.assert_allclose(np.asarray(ident(x)), 2 * np.clip(x, 0, 255), rtol=1e-6, atol=1e-4)
    for lib in (bigcore, keras):  # eager: training by default, so the contrast applies
        y = np.asarray(make(lib.layers)(x))
        assert not np.allclose(y, x / 255.0, atol=1e-3), lib.__name__
        y = np.asarray(make(lib.layers)(x, training=False))
        np.testing.assert_allclose(y, x / 255.0, rtol=1e-6, atol=1e-7)
    theirs = np.asarray(keras.layers.Pipeline([keras.layers.RandomContrast(0.0), keras.layers.Rescaling(2.0)])(x))
    np.testing.assert_allclose(np.asarray(ident(x)), theirs, rtol=1e-6, atol=1e-4)


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")  # Keras's own Pipeline on load
def test_pipeline_in_a_model_trains_saves_and_loads(keras, tmp_path):
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 32).astype(np.float32)
    x = images((32, 8, 8, 3), 2)
    x[:, :, :, 0] = np.clip(x[:, :, :, 0] * (0.5 + y[:, None, None]), 0, 255)
    inp = bigcore.Input((8, 8, 3))
    out = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling2D()(make(bigcore.layers)(inp)))
    model = bigcore.Model(inp, out)
    model.compile(optimizer=bigcore.optimizers.Adam(0.05), loss="binary_crossentropy")
    hist = model.fit(x, y, epochs=15, batch_size=8, verbose=0).history["loss"]
    assert min(hist[-3:]) < hist[0], hist
    want = model.predict(x[:5], verbose=0)
    x5 = x[:5] / 255.0
    w, b = model.layers[-1].get_weights()
    np.testing.assert_allclose(want, 1 / (1 + np.exp(-(x5.mean(axis=(1, 2)) @ w + b))), rtol=1e-5, atol=1e-6)
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    np.testing.assert_array_equal(bigcore.models.load_model(path).predict(x[:5], verbose=0), want)
    km = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(km.predict(x[:5], verbose=0)), want, rtol=1e-5, atol=1e-6)


def test_pipeline_config_as_keras(keras):
    ours, theirs = make(bigcore.layers).get_config(), make(keras.layers).get_config()
    assert set(ours) == set(theirs) == {"layers", "name"}
    assert [e["class_name"] for e in ours["layers"]] == [e["class_name"] for e in theirs["layers"]]
    again = layers.Pipeline.from_config(make(bigcore.layers).get_config())
    assert [type(layer) for layer in again.layers] == [layers.RandomFlip, layers.RandomContrast, layers.Rescaling]
    assert again.layers[1].factor == (0.3, 0.3)


def test_pipeline_refusals():
    with pytest.raises(ValueError, match="expects a list of layers"):
        layers.Pipeline([layers.RandomFlip(), "not a layer"])
    with pytest.raises(ValueError, match="must contain a `layers` key"):
        layers.Pipeline.from_config({"name": "p"})
