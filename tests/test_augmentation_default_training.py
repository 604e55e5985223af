"""Keras's image augmentation layers default to training=True in call(): where neither the call nor
a model's run gives a mode (layer(x) on arrays, model(x), a Dataset.map), they augment, and every
other layer (Dropout) infers; training=False, predict and evaluate leave the images as they are.
Each eager call draws anew, as Keras's seed generator advances."""

import os

import numpy as np
import pytest

import bigcore
from bigcore import layers

X = np.random.default_rng(0).random((8, 12, 12, 3)).astype(np.float32)

MAKERS = {
    "flip": lambda: layers.RandomFlip("horizontal", seed=1),
    "rotation": lambda: layers.RandomRotation(0.2, seed=2),
    "zoom": lambda: layers.RandomZoom(0.3, seed=3),
    "translation": lambda: layers.RandomTranslation(0.2, 0.2, seed=4),
    "contrast": lambda: layers.RandomContrast(0.5, seed=5),
    "brightness": lambda: layers.RandomBrightness(0.3, value_range=(0, 1), seed=6),
    "erasing": lambda: layers.RandomErasing(factor=1.0, value_range=(0, 1), seed=7),
    "pipeline": lambda: layers.Pipeline([layers.RandomFlip("vertical", seed=8), layers.RandomContrast(0.4, seed=9)]),
}


def changed(a, b=X):
    return not np.allclose(np.asarray(a), b)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_eager_calls_augment_unless_told_not_to(kind):
    layer = MAKERS[kind]()
    first, second = np.asarray(layer(X)), np.asarray(layer(X))
    assert changed(first) and changed(second)
    assert changed(first, second), "two eager calls drew the same"
    np.testing.assert_array_equal(np.asarray(layer(X, training=False)), X)
    model = bigcore.Sequential([bigcore.Input(X.shape[1:]), MAKERS[kind]()])
    assert changed(model(X))
    np.testing.assert_array_equal(np.asarray(model(X, training=False)), X)
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)


def test_a_model_call_augments_but_its_dropout_infers():
    model = bigcore.Sequential([bigcore.Input(X.shape[1:]), layers.RandomFlip("horizontal", seed=3),
                                layers.Dropout(0.5)])
    y = np.asarray(model(X))
    flipped = [np.array_equal(y[i], X[i, :, ::-1]) for i in range(len(X))]
    kept = [np.array_equal(y[i], X[i]) for i in range(len(X))]
    assert all(f or k for f, k in zip(flipped, kept)), "Dropout ran, or the flip was not a flip"
    assert any(flipped) and any(kept)


def test_a_functional_classifier_augments_on_call_trains_and_predicts_plainly():
    inp = bigcore.Input(X.shape[1:])
    h = layers.RandomFlip("horizontal", seed=11)(inp)
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    model = bigcore.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    plain = model.predict(X, verbose=0)
    assert changed(model(X), plain)  # some images flipped before the Dense layer
    model.fit(X, np.arange(len(X)) % 2, epochs=1, batch_size=4, verbose=0)
    again = model.predict(X, verbose=0)
    np.testing.assert_array_equal(again, model.predict(X[::-1], verbose=0)[::-1])  # no draw in predict


def test_a_dataset_map_augments_every_batch():
    aug = layers.RandomRotation(0.25, seed=12)
    ds = bigcore.data.Dataset.from_tensor_slices((X, np.arange(len(X)))).batch(4).map(lambda a, b: (aug(a), b))
    for epoch in range(2):
        for i, (a, b) in enumerate(ds):
            assert changed(a, X[4 * i:4 * i + 4]), f"epoch {epoch}, batch {i} was not augmented"


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_augments_on_the_same_calls(keras):
    """What the tests above expect is Keras 3's behaviour (torch backend)."""
    kl, np_of, xt = keras.layers, keras.ops.convert_to_numpy, keras.ops.convert_to_tensor(X)
    layer = kl.RandomFlip("horizontal", seed=1)
    assert changed(np_of(layer(xt)))
    np.testing.assert_array_equal(np_of(layer(xt, training=False)), X)
    model = keras.Sequential([keras.Input(X.shape[1:]), kl.RandomFlip("horizontal", seed=3), kl.Dropout(0.5)])
    y = np_of(model(xt))
    assert all(np.array_equal(y[i], X[i]) or np.array_equal(y[i], X[i, :, ::-1]) for i in range(len(X)))
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)
