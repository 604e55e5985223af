"""Lengths known only when the model runs, used as Keras code uses them inside a custom call():
`ops.shape(x)[1]` sizes `ops.arange`, `ops.ones`, `ops.reshape`, `ops.tile`, `ops.tril` ..., and
MultiHeadAttention takes such inputs with masks that broadcast. One program serves every length.

References: NumPy on each length (the ops), Keras 3 with the same weights (an encoder-decoder
Transformer written as the Keras guides write them, with learned positions over run-time lengths
and causal masks built from ops.shape, trained a few Adam steps), the fixed-length twin program
(bit for bit).
"""

import re

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def traced_model(fn, shape):
    """A model whose custom layer's call() is fn(x) (traced once)."""
    class Fn(layers.Layer):
        def call(self, x):
            return fn(x)
    inp = bigcore.Input(shape)
    return bigcore.Model(inp, Fn()(inp))


# --- ops sized by a run-time length ----------------------------------------------------------

def test_shape_gives_run_time_lengths_inside_a_call_and_none_outside():
    seen = {}

    def fn(x):
        seen["shape"] = ops.shape(x)
        return x * 1.0
    x = bigcore.Input((None, 3))
    traced_model(fn, (None, 3))
    assert ops.shape(x) == (None, None, 3)
    b, t, f = seen["shape"]
    assert f == 3 and isinstance(b, bigcore.layers.dims.Dim) and isinstance(t, bigcore.layers.dims.Dim)
    with pytest.raises(TypeError, match="known only when the model runs"):
        int(t)
    with pytest.raises(TypeError, match="known only when the model runs"):
        range(t)


def test_positions_over_a_run_time_length():
    """arange(length), arange(start, length + 2, step), arithmetic on the length, and the length as
    a number, per call."""
    def fn(x):
        n = ops.shape(x)[1]
        a = ops.cast(ops.arange(n), "float32")                        # (T,)
        b = ops.cast(ops.arange(1, n * 2 + 1, 3), "float32")          # ceil(2T / 3) values
        c = ops.cast(ops.arange(0, n - 1), "float32")                 # T - 1 values
        return ops.sum(x, axis=-1) + a[None, :] + ops.sum(b) + ops.sum(c) + (n * 10 - a) / n
    m = traced_model(fn, (None, 2))
    for T in (2, 5, 8):
        x = rand(3, T, 2, seed=T)
        want = x.sum(-1) + np.arange(T) + np.arange(1, 2 * T + 1, 3).sum() + np.arange(0, T - 1).sum() + \
            (T * 10 - np.arange(T)) / T
        np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="dimension .* resolves to 0"):
        m.predict(rand(3, 1, 2), verbose=0)  # arange(0, T - 1) is empty at T = 1


@pytest.mark.parametrize("style", ["tril_of_ones", "compare_positions", "tile_by_batch", "broadcast_to", "zeros",
                                   "triu"])
def test_square_masks_over_a_run_time_length(style):
    """(T, T) masks built the ways Keras code builds them, applied to a (batch, T, T) product."""
    def fn(x):
        shape = ops.shape(x)
        B, T = shape[0], shape[1]
        s = ops.matmul(x, ops.transpose(x, (0, 2, 1)))                # (B, T, T)
        if style == "tril_of_ones":
            mask = ops.tril(ops.ones((T, T)))
        elif style == "compare_positions":
            mask = ops.cast(ops.arange(T)[:, None] >= ops.arange(T), "float32")
        elif style == "tile_by_batch":
            m = ops.reshape(ops.cast(ops.arange(T)[:, None] >= ops.arange(T)[None, :], "float32"), (1, T, T))
            mask = ops.tile(m, ops.concatenate([ops.expand_dims(B, -1), ops.convert_to_tensor([1, 1])], axis=0))
        elif style == "broadcast_to":
            mask = ops.broadcast_to(ops.tril(ops.ones((T, T)), -1), (B, T, T))
        elif style == "zeros":
            mask = ops.zeros((B, T, T)) + ops.full((T, 1), 2.0) + ops.ones((1, T))
        else:
            mask = ops.triu(ops.ones((T, T)), 1)
        return ops.reshape(s * mask, (B, T * T))
    m = traced_model(fn, (None, 3))
    for T in (1, 4, 6):
        x = rand(2, T, 3, seed=T)
        s = x @ x.transpose(0, 2, 1)
        mask = {"tril_of_ones": np.tril(np.ones((T, T))), "compare_positions": np.tril(np.ones((T, T))),
                "tile_by_batch": np.tril(np.ones((T, T))), "broadcast_to": np.tril(np.ones((T, T)), -1),
                "zeros": np.full((T, T), 3.0), "triu": np.triu(np.ones((T, T)), 1)}[style]
        np.testing.assert_allclose(m.predict(x, verbose=0), (s * mask).reshape(2, T * T), rtol=1e-5, atol=1e-5)


def test_reshape_by_run_time_lengths_splits_heads():
    """The head split Keras code writes with ops.shape: (B, T, 6) -> (B, T, 2, 3) -> (B, 2, T, 3)."""
    def fn(x):
        B, T = ops.shape(x)[0], ops.shape(x)[1]
        h = ops.transpose(ops.reshape(x, (B, T, 2, 3)), (0, 2, 1, 3))
        return ops.reshape(ops.transpose(h * 2.0, (0, 2, 1, 3)), (B, T, 6))
    m = traced_model(fn, (None, 6))
    for T in (1, 3, 7):
        x = rand(2, T, 6, seed=T)
        np.testing.assert_allclose(m.predict(x, verbose=0), 2 * x, rtol=1e-6)


def test_run_time_lengths_refuse_what_they_cannot_size():
    def build(fn):
        return traced_model(fn, (None, 2))
    with pytest.raises(ValueError, match="only stop may be one"):
        build(lambda x: x + ops.cast(ops.arange(ops.shape(x)[1], 9), "float32")[None, :, None])
    with pytest.raises(ValueError, match="axes of length 1 only"):
        build(lambda x: ops.tile(x, (1, ops.shape(x)[1], 1)))
    # (a length's value, ops.cast(ops.shape(x)[1], "float32") or x + ops.shape(x)[0], is computed now:
    # tests/test_length_values.py; one derived from the batch size is not)
    with pytest.raises(ValueError, match="computed from the batch size"):
        build(lambda x: x * ops.cast(ops.shape(x)[0] * ops.shape(x)[1], "float32"))
    with pytest.raises(ValueError, match="batch axis must stay first"):
        build(lambda x: ops.reshape(x, (ops.shape(x)[1], ops.shape(x)[0], 2)))


def test_a_reshape_that_would_merge_the_batch_says_so():
    """(-1, 8) on (None, 10, 8), the batch folded into the rows, reads the -1 as the batch: the
    message says so instead of naming a target the user did not write."""
    with pytest.raises(ValueError, match=re.escape(
            "reshape: cannot reshape (None, 10, 8) to (-1, 8) (the leading -1 is the batch axis, kept whole: "
            "the other lengths must hold a sample's values, (10, 8); the batch cannot merge with another axis)")):
        traced_model(lambda x: ops.reshape(x, (-1, 8)) * 2.0, (10, 8))
    with pytest.raises(ValueError, match=re.escape("to (None, 3, 7) (the leading None is the batch axis")):
        traced_model(lambda x: ops.reshape(x, (None, 3, 7)), (4, 5))
    m = traced_model(lambda x: ops.reshape(x, (-1, 5, 8)), (10, 4))  # a whole sample per row: fine
    x = rand(3, 10, 4, seed=1)
    np.testing.assert_array_equal(m.predict(x, verbose=0), x.reshape(3, 5, 8))


def test_an_unbatched_tensor_reaches_only_layers_that_take_one():
    class Bad(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.norm = layers.LayerNormalization()  # Dense and Embedding take one; a norm does not

        def call(self, x):
            return x + self.norm(ops.cast(ops.arange(ops.shape(x)[1]), "float32")[:, None])
    with pytest.raises(TypeError, match="without a batch axis"):
        Bad()(bigcore.Input((None, 2)))


# --- an encoder-decoder Transformer on run-time lengths, against Keras ------------------------

V, W = 23, 8  # vocabulary (0 pads), model width


def seq2seq(M, causal_style):
    """Encoder and decoder blocks as custom layers; positions and the decoder's causal mask come from
    the run-time length. M: bigcore or keras."""
    L, O = M.layers, M.ops

    class TokensAndPlaces(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.tok = L.Embedding(V, W)
            self.place = L.Embedding(16, W)

        def call(self, ids):
            return self.tok(ids) + self.place(O.arange(0, O.shape(ids)[-1], 1))

        def compute_mask(self, ids, mask=None):
            return O.not_equal(ids, 0)

    class Encoder(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.att = L.MultiHeadAttention(num_heads=2, key_dim=4)
            self.ff = M.Sequential([L.Dense(12, activation="relu"), L.Dense(W)])
            self.n1, self.n2 = L.LayerNormalization(), L.LayerNormalization()
            self.supports_masking = True

        def call(self, x, mask=None):
            keep = None if mask is None else O.cast(mask[:, None, :], "int32")
            h = self.n1(x + self.att(x, x, attention_mask=keep))
            return self.n2(h + self.ff(h))

    class Decoder(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.self_att = L.MultiHeadAttention(num_heads=2, key_dim=4)
            self.cross_att = L.MultiHeadAttention(num_heads=2, key_dim=4)
            self.ff = M.Sequential([L.Dense(12, activation="relu"), L.Dense(W)])
            self.n1, self.n2, self.n3 = L.LayerNormalization(), L.LayerNormalization(), L.LayerNormalization()
            self.supports_masking = True

        def causal(self, x):
            dims = O.shape(x)
            B, T = dims[0], dims[1]
            if causal_style == "tril":
                return O.tril(O.ones((T, T), dtype="int32"))
            rows = O.arange(T)[:, None]
            lower = O.reshape(O.cast(rows >= O.arange(T), "int32"), (1, T, T))
            return O.tile(lower, O.concatenate([O.expand_dims(B, -1), O.convert_to_tensor([1, 1])], axis=0))

        def call(self, inputs, mask=None):
            x, memory = inputs
            memory_keep = None if mask is None else mask[1]
            h = self.n1(x + self.self_att(x, x, attention_mask=self.causal(x)))
            h = self.n2(h + self.cross_att(h, memory, key_mask=memory_keep, value_mask=memory_keep))
            return self.n3(h + self.ff(h))

    src = M.Input((None,), dtype="int32", name="src")
    tgt = M.Input((None,), dtype="int32", name="tgt")
    memory = Encoder()(TokensAndPlaces()(src))
    y = Decoder()([TokensAndPlaces()(tgt), memory])
    return M.Model([src, tgt], L.Dense(V, activation="softmax")(y))


def seq2seq_batch(B, S, T, seed):
    rng = np.random.default_rng(seed)
    src = rng.integers(1, V, (B, S))
    tgt = rng.integers(1, V, (B, T))
    src[0, S - 2:] = 0  # padded sources
    src[1, S - 1:] = 0
    return {"src": src.astype(np.int32), "tgt": tgt.astype(np.int32)}, rng.integers(1, V, (B, T)).astype(np.int32)


@pytest.mark.parametrize("causal_style", ["tril", "tile"])
def test_seq2seq_transformer_on_run_time_lengths_matches_keras(keras, causal_style):
    """Same weights: Keras's predictions at three (source, target) lengths, then three Adam steps on
    batches of different lengths give Keras's losses and weights."""
    bigcore.utils.set_random_seed(4)
    model = seq2seq(bigcore, causal_style)
    km = seq2seq(keras, causal_style)
    ws = model.get_weights()
    assert [w.shape for w in ws] == [tuple(w.shape) for w in km.get_weights()]
    km.set_weights(ws)
    for S, T in ((6, 4), (3, 9), (11, 11)):
        x, _ = seq2seq_batch(4, S, T, seed=S)
        np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)),
                                   rtol=1e-4, atol=1e-5)
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    for S, T in ((5, 7), (9, 3), (5, 7)):
        x, y = seq2seq_batch(4, S, T, seed=10 + S)
        np.testing.assert_allclose(model.train_on_batch(x, y), km.train_on_batch(x, y), rtol=1e-4)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-4)


def test_seq2seq_transformer_matches_its_fixed_length_twin():
    """The run-time-length program gives, bit for bit, what programs lowered for fixed lengths give."""
    bigcore.utils.set_random_seed(5)
    model = seq2seq(bigcore, "tile")
    x, _ = seq2seq_batch(3, 7, 5, seed=1)
    got = model.predict(x, verbose=0)
    twin = fixed_seq2seq(7, 5)
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(got, twin.predict(x, verbose=0))


def fixed_seq2seq(S, T):
    """seq2seq's graph with fixed lengths: rebuilt with Inputs of known shape."""
    model = seq2seq(bigcore, "tril")
    blocks = [lay for lay in model.layers if not isinstance(lay, layers.InputLayer)]
    src = bigcore.Input((S,), dtype="int32", name="src")
    tgt = bigcore.Input((T,), dtype="int32", name="tgt")
    emb_s, emb_t, enc, dec, head = (blocks[i] for i in range(5))
    return bigcore.Model([src, tgt], head(dec([emb_t(tgt), enc(emb_s(src))])))


def cross_attention(M, causal):
    """MultiHeadAttention over two run-time lengths with Keras masks from Embedding(mask_zero), its
    scores returned."""
    L = M.layers
    q_in, v_in = M.Input((None,), dtype="int32"), M.Input((None,), dtype="int32")
    q, v = L.Embedding(V, W, mask_zero=True)(q_in), L.Embedding(V, W, mask_zero=True)(v_in)
    out, scores = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5)(
        q, v, return_attention_scores=True, use_causal_mask=causal)
    return M.Model([q_in, v_in], [L.GlobalAveragePooling1D()(out), scores])


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_on_two_run_time_lengths_matches_keras(keras, causal):
    bigcore.utils.set_random_seed(6)
    model, km = cross_attention(bigcore, causal), cross_attention(keras, causal)
    km.set_weights(model.get_weights())
    assert model.outputs[1].shape == (None, 2, None, None)
    for Tq, S in ((3, 8), (6, 2), (5, 5)):
        x, _ = seq2seq_batch(3, S, Tq, seed=Tq)
        xs = [x["tgt"], x["src"]]
        for got, want in zip(model.predict(xs, verbose=0), km.predict(xs, verbose=0)):
            assert got.shape == np.asarray(want).shape
            np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build", ["cross_attention", "seq2seq_tile", "seq2seq_tril"])
def test_onnx_export_serves_every_length(build):
    """One ONNX file (Range for the positions, Trilu / Expand for the masks, masks that broadcast)
    answers what predict answers at several (query, key) lengths."""
    onnx_export = pytest.importorskip("test_onnx_export")
    bigcore.utils.set_random_seed(7)
    model = cross_attention(bigcore, True) if build == "cross_attention" else seq2seq(bigcore, build[8:])
    _, sess = onnx_export.session(model)
    for a, b in ((3, 8), (6, 2), (4, 4)):
        x, _ = seq2seq_batch(3, a, b, seed=a)
        xs = [x["tgt"], x["src"]] if build == "cross_attention" else [x["src"], x["tgt"]]
        xs = [v.astype(np.int64) for v in xs]
        got, want = onnx_export.run(sess, xs), onnx_export.predict(model, xs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def tiny_gpt(M):
    """A decoder-only block whose causal mask compares positions with lengths used as numbers
    (j - n_src + n_dest), tiled over the batch; it serves its hidden states as a second output."""
    L, O = M.layers, M.ops

    def lower_left(batch, n_dest, n_src):
        i = O.arange(n_dest)[:, None]
        j = O.arange(n_src)
        keep = O.reshape(O.cast(i >= j - n_src + n_dest, "bool"), [1, n_dest, n_src])
        return O.tile(keep, O.concatenate([O.expand_dims(batch, -1), O.convert_to_tensor([1, 1])], 0))

    class Block(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.att = L.MultiHeadAttention(2, 4)
            self.norm = L.LayerNormalization(epsilon=1e-6)

        def call(self, x):
            s = O.shape(x)
            return self.norm(x + self.att(x, x, attention_mask=lower_left(s[0], s[1], s[1])))

    class Places(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.tok, self.pos = L.Embedding(V, W), L.Embedding(16, W)

        def call(self, ids):
            return self.tok(ids) + self.pos(O.arange(O.shape(ids)[-1]))

    ids = M.Input((None,), dtype="int32")
    h = Block()(Places()(ids))
    return M.Model(ids, [L.Dense(V)(h), h])


def test_causal_mask_from_lengths_as_numbers_matches_keras(keras):
    bigcore.utils.set_random_seed(8)
    model, km = tiny_gpt(bigcore), tiny_gpt(keras)
    km.set_weights(model.get_weights())
    for T in (2, 7):
        x = np.random.default_rng(T).integers(1, V, (3, T)).astype(np.int32)
        for got, want in zip(model.predict(x, verbose=0), km.predict(x, verbose=0)):
            np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-5)
    loss = [bigcore.losses.SparseCategoricalCrossentropy(from_logits=True), None]
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss=loss)
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss=[keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                                            None])
    for T in (6, 3):
        ids = np.random.default_rng(20 + T).integers(1, V, (4, T + 1)).astype(np.int32)
        np.testing.assert_allclose(model.train_on_batch(ids[:, :-1], ids[:, 1:]),
                                   km.train_on_batch(ids[:, :-1], ids[:, 1:]), rtol=1e-4)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("equation", ["btd,bsd->bts", "bts,bsd->btd", "bt,btd->bd", "btd,de->bte", "bthd,bshd->bhts"])
def test_einsum_over_run_time_lengths(equation):
    """einsum with run-time lengths free (attention scores), contracted (weights . values) or merged:
    NumPy's einsum at several lengths."""
    lhs = equation.split("->")[0].split(",")

    def fn(x):
        B, T = ops.shape(x)[0], ops.shape(x)[1]
        operands = {"btd": x, "bsd": x * 0.5 + 1.0, "bts": ops.matmul(x, ops.transpose(x, (0, 2, 1))),
                    "bt": ops.sum(x, axis=-1), "de": ops.reshape(ops.arange(12, dtype="float32"), (3, 4)) * 0.1,
                    "bthd": ops.reshape(ops.tile(x, (1, 1, 2)), (B, T, 2, 3)),
                    "bshd": ops.reshape(ops.tile(x * 2.0, (1, 1, 2)), (B, T, 2, 3))}
        return ops.einsum(equation, *[operands[t] for t in lhs])

    m = traced_model(fn, (None, 3))
    for T in (2, 5):
        x = rand(2, T, 3, seed=T)
        arrays = {"btd": x, "bsd": x * 0.5 + 1.0, "bts": x @ x.transpose(0, 2, 1), "bt": x.sum(-1),
                  "de": np.arange(12, dtype=np.float32).reshape(3, 4) * 0.1,
                  "bthd": np.tile(x, (1, 1, 2)).reshape(2, T, 2, 3), "bshd": np.tile(x * 2.0, (1, 1, 2)).reshape(2, T, 2, 3)}
        want = np.einsum(equation, *[arrays[t] for t in lhs])
        np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_dot_over_a_run_time_axis_matches_keras(keras):
    """Dot(axes=1) of softmax weights (batch, T) with values (batch, T, F): attention pooling."""
    def build(M):
        inp = M.Input((None, 3))
        h = M.layers.Dense(4, activation="tanh")(inp)
        w = M.layers.Softmax()(M.layers.Reshape((-1,))(M.layers.Dense(1)(h)))
        return M.Model(inp, M.layers.Dot(axes=1)([w, h]))
    model, km = build(bigcore), build(keras)
    km.set_weights(model.get_weights())
    for T in (3, 8):
        x = rand(2, T, 3, seed=T)
        np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-5,
                                   atol=1e-6)
