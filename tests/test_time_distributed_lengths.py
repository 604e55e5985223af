"""TimeDistributed over a time axis of run-time length (Input((None, ...)), as Keras 3 takes it: a
seq2seq decoder's TimeDistributed(Dense)): the folded op reads the timesteps from its input each call.
Checked against the wrapped layer applied frame by frame, and against the same model with a fixed
length (outputs, and weights after SGD steps)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers

rng = np.random.default_rng(0)


def conv_model(T):
    inp = bigcore.Input((T, 6, 6, 2))
    x = layers.TimeDistributed(layers.Conv2D(3, 3, activation="relu"))(inp)
    x = layers.TimeDistributed(layers.Flatten())(x)
    return bigcore.Model(inp, layers.TimeDistributed(layers.Dense(4))(x))


def frame_by_frame(model, x):
    conv, dense = model.layers[1].layer, model.layers[3].layer
    k, b = conv.kernel.numpy(), conv.bias.numpy()
    out = []
    for t in range(x.shape[1]):
        f = x[:, t]
        y = np.zeros((len(x), 4, 4, 3), np.float64)
        for i in range(4):
            for j in range(4):
                y[:, i, j] = np.einsum("bhwc,hwcf->bf", f[:, i:i + 3, j:j + 3], k) + b
        y = np.maximum(y, 0).reshape(len(x), -1)
        out.append(y @ dense.kernel.numpy() + dense.bias.numpy())
    return np.stack(out, 1)


@pytest.mark.parametrize("T", [1, 3, 7])
def test_each_call_takes_its_own_length(T):
    model = conv_model(None)
    x = rng.normal(size=(4, T, 6, 6, 2)).astype(np.float32)
    got = model.predict(x, verbose=0)
    assert got.shape == (4, T, 4)
    np.testing.assert_allclose(got, frame_by_frame(model, x), rtol=1e-4, atol=1e-5)


def test_trains_as_the_fixed_length_model():
    free, fixed = conv_model(None), conv_model(5)
    fixed.set_weights(free.get_weights())
    x = rng.normal(size=(8, 5, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(8, 5, 4)).astype(np.float32)
    for m in (free, fixed):
        m.compile(optimizer=bigcore.optimizers.SGD(0.05), loss="mse")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(free.get_weights(), fixed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # then a batch of another length through the same program
    x3 = rng.normal(size=(2, 3, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(free.predict(x3, verbose=0), frame_by_frame(free, x3), rtol=1e-4, atol=1e-5)


def test_a_seq2seq_decoder_with_time_distributed_dense():
    """The Keras seq2seq pattern: decoder LSTM states from the encoder, TimeDistributed(Dense) on
    sequences of any length; the teacher-forced decoder learns to copy its input."""
    enc_in = bigcore.Input((None,), dtype="int32")
    _, h, c = layers.LSTM(16, return_state=True)(layers.Embedding(6, 8)(enc_in))
    dec_in = bigcore.Input((None,), dtype="int32")
    y = layers.LSTM(16, return_sequences=True)(layers.Embedding(6, 8)(dec_in), initial_state=[h, c])
    out = layers.TimeDistributed(layers.Dense(6, activation="softmax"))(y)
    model = bigcore.Model([enc_in, dec_in], out)
    model.compile(optimizer=bigcore.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    src = rng.integers(0, 6, size=(256, 4)).astype(np.int32)
    dec = rng.integers(0, 6, size=(256, 5)).astype(np.int32)
    model.fit([src, dec], dec, batch_size=32, epochs=15, verbose=0)
    for T in (3, 7):  # other lengths than trained on
        d = rng.integers(0, 6, size=(64, T)).astype(np.int32)
        pred = model.predict([src[:64], d], verbose=0)
        assert pred.shape == (64, T, 6)
        assert np.mean(pred.argmax(-1) == d) > 0.9


def test_unknown_inner_axes_are_refused():
    with pytest.raises(ValueError, match="after the time axis must be known"):
        layers.TimeDistributed(layers.Dense(2))(bigcore.Input((None, None)))
