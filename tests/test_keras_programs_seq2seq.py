"""Keras-style sequence-to-sequence programs as users write them: a Transformer decoder whose
causal mask is built from the run-time shape (ops.shape, arange, tile by a tensor of multiples), and
the LSTM encoder-decoder whose inference models are rebuilt from a loaded model's layers. Each checks
a property that fails when the program computes the wrong thing, not only that it runs."""

import numpy as np

import bigcore as keras
from bigcore import layers, ops


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(vocab_size, embed_dim)
        self.position_embeddings = layers.Embedding(sequence_length, embed_dim)

    def call(self, inputs):
        positions = ops.arange(0, ops.shape(inputs)[-1], 1)
        return self.token_embeddings(inputs) + self.position_embeddings(positions)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential([layers.Dense(latent_dim, activation="relu"), layers.Dense(embed_dim)])
        self.norms = [layers.LayerNormalization() for _ in range(3)]
        self.supports_masking = True

    def call(self, inputs, encoder_outputs, mask=None):
        causal_mask = self.causal_mask(inputs)
        padding_mask = None
        if mask is not None:
            padding_mask = ops.minimum(ops.cast(mask[:, None, :], dtype="int32"), causal_mask)
        a1 = self.attention_1(query=inputs, value=inputs, key=inputs, attention_mask=causal_mask)
        o1 = self.norms[0](inputs + a1)
        a2 = self.attention_2(query=o1, value=encoder_outputs, key=encoder_outputs, attention_mask=padding_mask)
        o2 = self.norms[1](o1 + a2)
        return self.norms[2](o2 + self.dense_proj(o2))

    def causal_mask(self, inputs):
        shape = ops.shape(inputs)
        batch_size, length = shape[0], shape[1]
        i = ops.arange(length)[:, None]
        j = ops.arange(length)
        mask = ops.reshape(ops.cast(i >= j, dtype="int32"), (1, length, length))
        mult = ops.concatenate([ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])], axis=0)
        return ops.tile(mask, mult)


def test_transformer_decoder_with_a_run_time_causal_mask(seed):
    V, L, D = 40, 12, 16
    enc_in = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(L, V, D)(enc_in)
    enc_out = layers.MultiHeadAttention(2, D)(x, x)
    dec_in = keras.Input(shape=(None,), dtype="int64")
    y = TransformerDecoder(D, 32, 2)(PositionalEmbedding(L, V, D)(dec_in), enc_out)
    out = layers.Dense(V, activation="softmax")(layers.Dropout(0.5)(y))
    model = keras.Model([enc_in, dec_in], out)
    model.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, V, (48, L)), rng.integers(1, V, (48, L))
    b[:, -3:] = 0
    loss0 = model.evaluate([a, b], np.roll(b, -1, 1), verbose=0)[0]
    model.fit([a, b], np.roll(b, -1, 1), epochs=3, batch_size=16, verbose=0)
    assert model.evaluate([a, b], np.roll(b, -1, 1), verbose=0)[0] < loss0
    # causal: position t of the decoder never sees later tokens, at any length and batch size
    full = model.predict([a[:5], b[:5, :8]], verbose=0)
    changed = b[:5, :8].copy()
    changed[:, 5:] = rng.integers(1, V, (5, 3))
    other = model.predict([a[:5], changed], verbose=0)
    np.testing.assert_allclose(other[:, :5], full[:, :5], rtol=1e-5, atol=1e-6)
    assert np.abs(other[:, 5:] - full[:, 5:]).max() > 1e-4
    short = model.predict([a[:3], b[:3, :5]], verbose=0)
    np.testing.assert_allclose(short, full[:3, :5], rtol=1e-5, atol=1e-6)


def test_lstm_encoder_decoder_inference_models_from_a_loaded_model(tmp_path, seed):
    ne, nd, ld = 7, 9, 16
    enc_in = keras.Input(shape=(None, ne))
    _, h, c = layers.LSTM(ld, return_state=True)(enc_in)
    dec_in = keras.Input(shape=(None, nd))
    dec_seq, _, _ = layers.LSTM(ld, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], layers.Dense(nd, activation="softmax")(dec_seq))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x1, x2 = np.eye(ne)[rng.integers(0, ne, (32, 5))], np.eye(nd)[rng.integers(0, nd, (32, 6))]
    model.fit([x1, x2], x2, batch_size=8, epochs=2, validation_split=0.2, verbose=0)
    model.save(tmp_path / "s2s.keras")
    model = keras.models.load_model(tmp_path / "s2s.keras")
    _, h_enc, c_enc = model.layers[2].output
    encoder_model = keras.Model(model.input[0], [h_enc, c_enc])
    state_in = [keras.Input(shape=(ld,)), keras.Input(shape=(ld,))]
    seq, h_dec, c_dec = model.layers[3](model.input[1], initial_state=state_in)
    decoder_model = keras.Model([model.input[1]] + state_in, [model.layers[4](seq), h_dec, c_dec])
    full = model.predict([x1[:2], x2[:2]], verbose=0)
    states = encoder_model.predict(x1[:2], verbose=0)
    steps = []
    for t in range(6):  # one token at a time, the states carried by hand, as a sampling loop does
        out, h, c = decoder_model.predict([x2[:2, t:t + 1]] + states, verbose=0)
        states = [h, c]
        steps.append(out[:, 0])
    np.testing.assert_allclose(np.stack(steps, 1), full, rtol=1e-5, atol=1e-6)
