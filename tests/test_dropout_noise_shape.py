"""Dropout(noise_shape=...): the input's shape (None entries filled from it) is plain dropout;
(None, 1, ..., 1, then the input's own sizes) draws once per sample and kept position, shared over
the axes of 1 (SpatialDropout's op: (None, 1, 1, channels) per channel, (None, 1, 1, 1) per sample,
as stochastic depth); other shapes raise by name. Keras files carrying noise_shape load."""

import numpy as np
import pytest

import bigcore
from bigcore import layers


def _train_mode_output(layer, x):
    inp = bigcore.Input(x.shape[1:])
    return np.asarray(bigcore.Model(inp, layer(inp))(x, training=True))


@pytest.mark.parametrize("shape,noise", [((6, 5), (None, 1, 5)), ((3, 4, 8), (None, 1, 1, 8))])
def test_channel_masks(shape, noise):
    x = np.ones((64,) + shape, np.float32)
    y = _train_mode_output(layers.Dropout(0.5, noise_shape=noise, seed=3), x)
    flat = y.reshape(64, -1, shape[-1])
    assert np.all(flat == flat[:, :1, :])  # the same draw over every position of a channel
    assert set(np.unique(flat)) <= {0.0, 2.0}
    assert 0.35 < np.mean(flat[:, 0, :] == 0.0) < 0.65


@pytest.mark.parametrize("shape,noise,kept", [((4, 4, 3), (None, 1, 1, 1), 1), ((5,), (None, 1), 1),
                                              ((3, 4, 2), (None, 1, 4, 2), 8)])
def test_shared_masks(shape, noise, kept):
    """One draw per sample (stochastic depth's (None, 1, 1, 1)), or per sample and kept trailing
    position, the same over the leading axes of 1."""
    x = np.ones((200,) + shape, np.float32)
    y = _train_mode_output(layers.Dropout(0.5, noise_shape=noise, seed=5), x).reshape(200, -1, kept)
    assert np.all(y == y[:, :1, :])
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.35 < np.mean(y[:, 0, :] == 0.0) < 0.65


def test_per_sample_mask_in_training():
    inp = bigcore.Input((2, 3))
    model = bigcore.Model(inp, layers.Dropout(0.5, noise_shape=(None, 1, 1), seed=1)(inp))
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((64, 2, 3), np.float32)
    # mse against y = 0 from x = 1: the loss is the mean of the masked outputs' squares, so a kept
    # sample contributes 4 per value and a dropped one 0; the mean is 4 * (kept fraction)
    loss = model.train_on_batch(x, np.zeros_like(x))
    assert 4 * 0.3 < float(loss) < 4 * 0.7


def test_full_noise_shape_is_plain_dropout():
    x = np.ones((64, 6, 5), np.float32)
    y = _train_mode_output(layers.Dropout(0.5, noise_shape=(None, 6, 5), seed=3), x)
    assert not np.all(y == y[:, :1, :])  # draws differ along time
    assert 0.35 < np.mean(y == 0.0) < 0.65


def test_inference_is_the_identity_and_training_masks_the_gradient():
    inp = bigcore.Input((4, 3))
    model = bigcore.Model(inp, layers.Dense(2)(layers.Dropout(0.5, noise_shape=(None, 1, 3))(inp)))
    x = np.random.default_rng(0).normal(size=(8, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ model.layers[-1].kernel.numpy()
                               + model.layers[-1].bias.numpy(), rtol=1e-6, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((8, 4, 2), np.float32), epochs=2, verbose=0)  # trains through the masked op


def test_other_noise_shapes_are_refused():
    with pytest.raises(ValueError, match="not supported yet"):
        layers.Dropout(0.5, noise_shape=(None, 4, 1))(bigcore.Input((4, 3)))
    with pytest.raises(ValueError, match="rank"):
        layers.Dropout(0.5, noise_shape=(None, 3))(bigcore.Input((4, 3)))
    with pytest.raises(ValueError, match="positive ints"):
        layers.Dropout(0.5, noise_shape=(None, 0, 3))


def test_keras_file_with_noise_shape_loads(keras, tmp_path):
    inp = keras.Input((4, 3))
    km = keras.Model(inp, keras.layers.Dropout(0.3, noise_shape=(None, 1, 3))(inp))
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(str(tmp_path / "k.keras"))
    assert ours.layers[-1].noise_shape == (None, 1, 3)
    x = np.ones((2, 4, 3), np.float32)
    np.testing.assert_array_equal(ours.predict(x, verbose=0), x)
