"""Masks through custom layers, as the Keras masking guide uses them: a layer with
supports_masking passes its input's mask on even when its call() takes no mask; a call() that asks
a sub-layer for its mask (Embedding / Masking .compute_mask on the traced input) and hands it to an
LSTM; a user's compute_mask on an eager call sets each output's _keras_mask. Keras 3 parity where
the answer is a number (the same weights, the same outputs)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

pytestmark = pytest.mark.filterwarnings(  # Keras on torch converting its own tensors
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _relu_layer(lib):
    class PassMask(lib.layers.Layer):  # no mask argument: Keras still passes the mask on
        def __init__(self, **kw):
            super().__init__(**kw)
            self.supports_masking = True

        def call(self, inputs):
            return lib.ops.relu(inputs)

    return PassMask()


def _encoder_layer(lib):
    class Encoder(lib.layers.Layer):  # the masking guide's MyLayer: the mask asked for, given to the LSTM
        def __init__(self, **kw):
            super().__init__(**kw)
            self.embedding = lib.layers.Embedding(input_dim=20, output_dim=4, mask_zero=True)
            self.lstm = lib.layers.LSTM(3)

        def call(self, inputs):
            x = self.embedding(inputs)
            mask = self.embedding.compute_mask(inputs)
            return self.lstm(x, mask=mask)

    return Encoder()


_IDS = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6], [7, 0, 0, 0, 0, 0]])


def _pass_mask_model(lib, length=6):
    ids = lib.Input((length,), dtype="int32")
    x = lib.layers.Embedding(20, 4, mask_zero=True)(ids)
    x = _relu_layer(lib)(x)
    return lib.Model(ids, lib.layers.LSTM(3)(x))


def _encoder_model(lib, length=6):
    ids = lib.Input((length,), dtype="int32")
    return lib.Model(ids, _encoder_layer(lib)(ids))


@pytest.mark.parametrize("make", [_pass_mask_model, _encoder_model])
def test_masked_rows_stop_at_their_last_token(make):
    bigcore.utils.set_random_seed(3)
    model = make(bigcore)
    out = model.predict(_IDS, verbose=0)
    # the same weights on each row's real tokens alone: equal only if the padding was masked
    for row, n in ((0, 3), (2, 1)):
        short = make(bigcore, length=n)
        short.set_weights(model.get_weights())
        np.testing.assert_allclose(short.predict(_IDS[row:row + 1, :n], verbose=0)[0], out[row], rtol=1e-5,
                                   atol=1e-6)


def test_pass_mask_layer_keeps_the_mask_on_the_symbolic_tensor():
    ids = bigcore.Input((6,))
    x = layers.Embedding(20, 4, mask_zero=True)(ids)
    y = _relu_layer(bigcore)(x)
    assert y._keras_mask is not None and tuple(y._keras_mask.shape) == (None, 6)
    assert layers.Dense(2)(ids)._keras_mask is None


@pytest.mark.parametrize("make", [_pass_mask_model, _encoder_model])
def test_custom_mask_paths_match_keras(keras, make):
    bigcore.utils.set_random_seed(5)
    ours = make(bigcore)
    theirs = make(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(_IDS, verbose=0), np.asarray(theirs.predict(_IDS, verbose=0)),
                               rtol=1e-5, atol=1e-6)


def test_masking_compute_mask_inside_a_call():
    class Masked(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.masking = layers.Masking(mask_value=0.0)
            self.rnn = layers.SimpleRNN(2)

        def call(self, x):
            return self.rnn(self.masking(x), mask=self.masking.compute_mask(x))

    bigcore.utils.set_random_seed(1)
    inp = bigcore.Input((5, 3))
    model = bigcore.Model(inp, Masked()(inp))
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    x[0, 2:] = 0.0
    out = model.predict(x, verbose=0)
    inp3 = bigcore.Input((2, 3))
    short = bigcore.Model(inp3, Masked()(inp3))
    short.set_weights(model.get_weights())
    np.testing.assert_allclose(short.predict(x[:1, :2], verbose=0)[0], out[0], rtol=1e-5, atol=1e-6)


class _TemporalSplit(layers.Layer):
    def call(self, inputs):
        return ops.split(inputs, 2, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.split(mask, 2, axis=1)


def test_eager_call_sets_the_masks_a_user_compute_mask_makes():
    padded = np.array([[5, 6, 0, 0], [1, 2, 3, 0], [1, 2, 3, 4]])
    emb = layers.Embedding(10, 3, mask_zero=True)(padded)
    first, second = _TemporalSplit()(emb)
    np.testing.assert_array_equal(first._keras_mask, padded[:, :2] != 0)
    np.testing.assert_array_equal(second._keras_mask, padded[:, 2:] != 0)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), emb)

    class WrongCount(_TemporalSplit):
        def compute_mask(self, inputs, mask=None):
            return [mask, mask, mask]

    with pytest.raises(ValueError, match="3 masks for 2 outputs"):
        WrongCount()(emb)


def test_eager_compute_mask_of_a_custom_embedding():
    class CustomEmbedding(layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kw):
            super().__init__(**kw)
            self.mask_zero = mask_zero
            self.embeddings = self.add_weight(shape=(input_dim, output_dim), initializer="random_normal")

        def call(self, inputs):
            return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0) if self.mask_zero else None

    layer = CustomEmbedding(10, 4, mask_zero=True)
    x = np.array([[1, 0, 3], [0, 0, 2]])
    y = layer(x)
    np.testing.assert_array_equal(layer.compute_mask(x), x != 0)
    np.testing.assert_array_equal(y._keras_mask, x != 0)
    np.testing.assert_allclose(y, layer.embeddings.numpy()[x])
