"""Keras-style programs of the classic kinds, written once against a `lib` that is either bigcore or
keras (the same code, only the import differs): image classification with a ConvNet, a 1-D conv
time-series classifier, a conv autoencoder with transposed convolutions, and sequence-to-sequence
addition with RepeatVector + TimeDistributed. Each runs in bigcore, trains (the loss falls), and with
Keras's weights predicts what Keras predicts."""

import numpy as np
import pytest

import bigcore
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


# --------------------------------------------------------------------------- the programs


def image_classifier(lib, num_classes=10):
    """Keras's "Simple MNIST convnet"."""
    layers = lib.layers
    model = lib.Sequential([
        lib.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def time_series_classifier(lib, input_shape, num_classes):
    """Keras's "Timeseries classification from scratch" (FordA)."""
    layers = lib.layers
    input_layer = lib.Input(input_shape)
    x = input_layer
    for _ in range(3):
        x = layers.Conv1D(filters=64, kernel_size=3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    gap = layers.GlobalAveragePooling1D()(x)
    output_layer = layers.Dense(num_classes, activation="softmax")(gap)
    model = lib.Model(inputs=input_layer, outputs=output_layer)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return model


def autoencoder(lib):
    """Keras's "Convolutional autoencoder for image denoising"."""
    layers = lib.layers
    inp = lib.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inp)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    model = lib.Model(inp, x)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def addition_seq2seq(lib, maxlen, digits, chars):
    """Keras's "Sequence to sequence learning for performing number addition" (the TimeDistributed form)."""
    layers = lib.layers
    model = lib.Sequential()
    model.add(lib.Input((maxlen, chars)))
    model.add(layers.LSTM(64))
    model.add(layers.RepeatVector(digits + 1))
    model.add(layers.LSTM(64, return_sequences=True))
    model.add(layers.TimeDistributed(layers.Dense(chars, activation="softmax")))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


# --------------------------------------------------------------------------- data


def shapes_images(n, seed=0):
    """28x28 images of 3 classes (a bright square, a bar, a cross) at random places, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, (n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 3, n)
    for i in range(n):
        r, c = rng.integers(4, 20, 2)
        if y[i] == 0:
            x[i, r:r + 6, c:c + 6] = 1.0
        elif y[i] == 1:
            x[i, r:r + 2, 2:26] = 1.0
        else:
            x[i, r:r + 8, c + 3] = 1.0
            x[i, r + 3, c:c + 8] = 1.0
    return x, y


def series(n, T=120, seed=0):
    """Two classes of noisy series: a slow or a fast sine burst somewhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(40)
    x = rng.normal(0, 0.3, (n, T, 1)).astype(np.float32)
    for i in range(n):
        start = rng.integers(0, T - 40)
        x[i, start:start + 40, 0] += np.sin(t * (0.3 if y[i] == 0 else 1.5))
    return x, y


def additions(n, digits=2, seed=0):
    chars = "0123456789+ "
    idx = {c: i for i, c in enumerate(chars)}
    maxlen = 2 * digits + 1
    rng = np.random.default_rng(seed)
    x = np.zeros((n, maxlen, len(chars)), np.float32)
    y = np.zeros((n, digits + 1, len(chars)), np.float32)
    for i in range(n):
        a, b = rng.integers(0, 10 ** digits, 2)
        q = f"{a}+{b}".ljust(maxlen)
        ans = str(a + b).ljust(digits + 1)
        for j, c in enumerate(q):
            x[i, j, idx[c]] = 1
        for j, c in enumerate(ans):
            y[i, j, idx[c]] = 1
    return x, y, maxlen, digits, len(chars)


# --------------------------------------------------------------------------- the checks


def _same_predictions_as_keras(keras, build, x, rtol=1e-4, atol=1e-5):
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=rtol, atol=atol)


def _loss_falls(model, x, y, epochs, batch_size, factor=0.7):
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < factor * losses[0], f"the loss did not fall: {losses}"
    return history


def test_image_classifier(request):
    bigcore.utils.set_random_seed(0)
    x, y = shapes_images(1000)
    keras = optional_keras(request)
    if keras is not None:
        _same_predictions_as_keras(keras, lambda lib: image_classifier(lib, 3), x[:16])
    model = image_classifier(bigcore, 3)
    _loss_falls(model, x[:800], y[:800], epochs=4, batch_size=32, factor=0.5)
    assert model.evaluate(x[800:], y[800:], verbose=0)[1] > 0.9
    q = bigcore.quantization.quantize(model)
    assert q.evaluate(x[800:], y[800:], verbose=0)[1] > 0.9


def test_time_series_classifier(request):
    bigcore.utils.set_random_seed(0)
    x, y = series(300)
    keras = optional_keras(request)
    if keras is not None:
        _same_predictions_as_keras(keras, lambda lib: time_series_classifier(lib, x.shape[1:], 2), x[:16])
    model = time_series_classifier(bigcore, x.shape[1:], 2)
    _loss_falls(model, x[:250], y[:250], epochs=4, batch_size=32)
    assert model.evaluate(x[250:], y[250:], verbose=0)[1] > 0.9


def test_time_series_classifier_trains_like_keras(keras):
    """With BatchNormalization in training mode: three steps, the same losses and weights as Keras."""
    x, y = series(32, T=60)
    ours = time_series_classifier(bigcore, x.shape[1:], 2)
    theirs = time_series_classifier(keras, x.shape[1:], 2)
    theirs.set_weights(ours.get_weights())
    for step in range(3):
        a = ours.train_on_batch(x, y)[0]
        b = float(theirs.train_on_batch(x, y)[0])
        assert a == pytest.approx(b, rel=1e-4), f"step {step}"
    for w, a, b in zip(ours.weights, ours.get_weights(), theirs.get_weights()):
        if w.path.startswith("conv1d") and w.path.endswith("/bias"):
            # a bias right before a BatchNormalization has a zero gradient; Adam's steps on it follow
            # each framework's round-off (the outputs do not depend on it)
            continue
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=w.path)


def test_conv_autoencoder(request):
    bigcore.utils.set_random_seed(0)
    x, _ = shapes_images(200)
    noisy = np.clip(x + np.random.default_rng(1).normal(0, 0.3, x.shape), 0, 1).astype(np.float32)
    keras = optional_keras(request)
    if keras is not None:
        _same_predictions_as_keras(keras, autoencoder, noisy[:8])
    model = autoencoder(bigcore)
    assert model.outputs[0].shape == (None, 28, 28, 1)
    _loss_falls(model, noisy, x, epochs=4, batch_size=32, factor=0.8)


def test_addition_seq2seq(request):
    bigcore.utils.set_random_seed(0)
    x, y, maxlen, digits, chars = additions(2000)
    keras = optional_keras(request)
    if keras is not None:
        _same_predictions_as_keras(keras, lambda lib: addition_seq2seq(lib, maxlen, digits, chars), x[:16])
    model = addition_seq2seq(bigcore, maxlen, digits, chars)
    assert model.outputs[0].shape == (None, digits + 1, chars)
    _loss_falls(model, x, y, epochs=6, batch_size=64, factor=0.75)
