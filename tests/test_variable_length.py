"""Variable-length axes (`Input(shape=(None,))`, `(None, features)`) through the built-in layers:
one native program runs batches of any length (symbols resolved per call, no re-lowering), and
gives the bits a program lowered for that fixed length gives (same kernels, same order).

References: the fixed-length twin (exact), tests/reference_rnn.py in float64, central differences
for gradients (tests/layer_test.py), Keras 3 for the masked text model.
"""

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers, optimizers
from layer_test import assert_gradients_close, compile_for_gradients, fd_gradients, mask_pattern, sgd_gradients
from rnn_inputs import normal, randomize

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

RNN = {"lstm": layers.LSTM, "gru": layers.GRU}
V = 11  # vocabulary; id 0 is padding (Embedding(mask_zero=True))
LENGTHS = (5, 1, 9, 3, 9)


def padded_ids(B, T, seed):
    """(B, T) ids in [1, V) with zeros where mask_pattern says (holes, pre/post padding, all masked)."""
    ids = np.random.default_rng(seed).integers(1, V, (B, T)).astype(np.float32)
    if T > 1:
        ids[~mask_pattern(B, T)] = 0
    return ids


def program_of(model):
    return model._program


# --- recurrent layers ------------------------------------------------------------------------

def rnn_model(kind, T, D, U, masking, **kw):
    if masking:
        inp = bigcore.Input((T,))
        x = layers.Embedding(V, D, mask_zero=True)(inp)
    else:
        inp = x = bigcore.Input((T, D))
    return bigcore.Model(inp, RNN[kind](U, **kw)(x))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("masking", [False, True])
@pytest.mark.parametrize("rnn_kw", [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
                                    {"return_state": True}])
def test_rnn_lengths_per_call(seed, kind, masking, rnn_kw):
    """One program, lengths 5, 1, 9, 3, 9: each equals the fixed-length program's bits and the float64
    reference; the program is the same object throughout (no re-lowering)."""
    D, U, B = 3, 4, 7
    model = rnn_model(kind, None, D, U, masking, **rnn_kw)
    ws = randomize(model)
    first = None
    for i, T in enumerate(LENGTHS):
        x = padded_ids(B, T, 10 + i) if masking else normal((B, T, D), 10 + i)
        got = model.predict(x, verbose=0)
        first = first or program_of(model)
        assert program_of(model) is first
        twin = rnn_model(kind, T, D, U, masking, **rnn_kw)
        twin.set_weights(ws)
        want = twin.predict(x, verbose=0)
        for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
            assert g.shape == w.shape
            np.testing.assert_array_equal(g, w)
        if masking:
            emb = ws[0][x.astype(int)]
            ref = rref.rnn_forward(kind, emb, *ws[1:], mask=x != 0, **rnn_kw)
        else:
            ref = rref.rnn_forward(kind, x, *ws, **rnn_kw)
        for g, r in zip(got if isinstance(got, list) else [got], ref if isinstance(ref, list) else [ref]):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_gradients_by_central_differences(seed, kind):
    """ids -> Embedding(mask_zero) -> RNN(sequences) -> Dense over (B, T, C): one SGD(lr=1) step
    gives the float64 central-difference gradient at two lengths of one program."""
    D, U, C, B = 3, 4, 2, 5
    inp = bigcore.Input((None,))
    h = RNN[kind](U, return_sequences=True)(layers.Embedding(V, D, mask_zero=True)(inp))
    model = bigcore.Model(inp, layers.Dense(C)(h))
    randomize(model, seed=3)
    compile_for_gradients(model)
    for T, s in ((4, 1), (7, 2)):
        ids, y = padded_ids(B, T, s), normal((B, T, C), s + 50)
        ws = model.get_weights()
        m = (ids != 0).astype(np.float64)

        def loss(wts):
            emb = wts[0][ids.astype(int)]
            seq = rref.rnn_forward(kind, emb, wts[1], wts[2], wts[3], mask=ids != 0, return_sequences=True)
            out = seq @ wts[4] + wts[5]
            err = ((out - y) ** 2).mean(axis=-1)
            return (err * m).sum() / m.sum()  # Keras: the mask weights the (B, T) losses

        _, got = sgd_gradients(model, ids, y)
        assert_gradients_close(got, fd_gradients(loss, ws))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_and_seq2seq_train_like_fixed_programs(seed, kind):
    """An encoder and a decoder of independent lengths (two symbols), the decoder started from the
    encoder's states, a Bidirectional layer, Dense on (B, T, C) and a masked loss with a metric:
    SGD steps on batches of changing lengths give the fixed-length programs' losses and weights."""
    D, U, C, B = 3, 4, 3, 6

    def build(Te, Td):
        enc_in, dec_in = bigcore.Input((Te,)), bigcore.Input((Td,))
        enc = RNN[kind](U, return_state=True)(layers.Embedding(V, D, mask_zero=True)(enc_in))
        dec = RNN[kind](U, return_sequences=True)(layers.Embedding(V, D, mask_zero=True)(dec_in),
                                                   initial_state=list(enc[1:]))
        dec = layers.Bidirectional(RNN[kind](U, return_sequences=True), merge_mode="sum")(dec)
        m = bigcore.Model([enc_in, dec_in], layers.Dense(C, activation="softmax")(dec))
        m.compile(optimizer=optimizers.SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    model = build(None, None)
    randomize(model, seed=4)
    prog = None
    rng = np.random.default_rng(0)
    for step, (Te, Td) in enumerate(((5, 3), (2, 6), (5, 3), (8, 1))):
        ide, idd = padded_ids(B, Te, 20 + step), padded_ids(B, Td, 30 + step)
        idd[:, 0] = np.maximum(idd[:, 0], 1)  # each decoder row has a step that counts
        y = rng.integers(0, C, (B, Td))
        twin = build(Te, Td)
        twin.set_weights(model.get_weights())
        got = model.train_on_batch([ide, idd], y)
        prog = prog or program_of(model)
        assert program_of(model) is prog
        want = twin.train_on_batch([ide, idd], y)
        assert got == want
        for a, b in zip(model.get_weights(), twin.get_weights()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(model.predict([ide, idd], verbose=0), twin.predict([ide, idd], verbose=0))


# --- the text model of the issue -------------------------------------------------------------

def text_model(T, dropout=0.0):
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, 4, mask_zero=True)(inp)
    x = layers.LSTM(6)(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return bigcore.Model(inp, layers.Dense(3, activation="softmax")(x))


def batches(lengths, B=8, seed=0):
    rng = np.random.default_rng(seed)
    for i, T in enumerate(lengths):
        ids = padded_ids(B, T, 100 + i)
        ids[:, -1] = rng.integers(1, V, B)  # post-padding rows still end on a token
        yield ids, rng.integers(0, 3, B).astype(np.float32)


def assert_steps_match_fixed_twins(build, data, optimizer, loss, weight_seed):
    """Trains build(None) batch by batch; before each step a twin lowered for that batch's length, with
    the same weights, gives the same outputs, and its step the same loss and weights, bit for bit."""
    model = build(None)
    model.compile(optimizer=optimizer(), loss=loss)
    randomize(model, seed=weight_seed)
    for x, y in data:
        twin = build(x.shape[1])
        twin.compile(optimizer=optimizer(), loss=loss)
        twin.set_weights(model.get_weights())
        twin.optimizer.iterations = model.optimizer.iterations  # the step the noise layers draw at
        np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))
        assert model.train_on_batch(x, y) == twin.train_on_batch(x, y)
        for a, b in zip(model.get_weights(), twin.get_weights()):
            np.testing.assert_array_equal(a, b)


def assert_matches_keras_on_lengths(model, km, lengths, B, prepare=lambda x: x):
    """model and the Keras model km (the same weights) predict alike on padded batches of these lengths."""
    for T in lengths:
        x = prepare(next(batches([T], B=B, seed=T))[0])
        np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(km.predict(x.astype(np.int32), verbose=0)),
                                   rtol=1e-5, atol=1e-6)


def test_text_model_fits_batches_of_different_lengths(seed):
    """Input((None,)) -> Embedding(mask_zero) -> LSTM -> Dropout -> Dense: one fit over a generator of
    lengths 3..12 trains in one program; the loss falls; predict and evaluate take any length."""
    model = text_model(None, dropout=0.2)
    model.compile(optimizer=optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = list(batches([3, 12, 7, 5, 12, 4] * 4))
    prog = None
    losses = []
    for epoch in range(4):
        h = model.fit(iter(data), epochs=1, verbose=0)
        prog = prog or program_of(model)
        assert program_of(model) is prog
        losses.append(h.history["loss"][0])
    assert losses[-1] < losses[0]
    for T in (2, 15):
        x, y = next(batches([T], B=5, seed=T))
        p = model.predict(x, verbose=0)
        assert p.shape == (5, 3)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        assert np.isfinite(model.evaluate(x, y, verbose=0)).all()
    assert program_of(model) is prog


def test_text_model_matches_fixed_programs_step_by_step(seed):
    """SGD on batches of lengths 4, 9, 2, 9: the variable-length program's losses and weights are the
    bits of a program lowered for each length."""
    assert_steps_match_fixed_twins(text_model, batches([4, 9, 2, 9]), lambda: optimizers.SGD(0.3),
                                   "sparse_categorical_crossentropy", 8)


def test_text_model_matches_keras(keras, seed):
    """The same weights: Keras 3's predictions on padded batches of two lengths."""
    model = text_model(None)
    ws = randomize(model, seed=9)
    kin = keras.Input((None,), dtype="int32")
    kx = keras.layers.LSTM(6)(keras.layers.Embedding(V, 4, mask_zero=True)(kin))
    km = keras.Model(kin, keras.layers.Dense(3, activation="softmax")(kx))
    km.set_weights(ws)
    assert_matches_keras_on_lengths(model, km, (5, 11), B=6)


def test_threads_do_not_change_the_bits(seed, restore_threads):
    runs = []
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        bigcore.utils.set_random_seed(0)  # the same dropout streams
        model = text_model(None, dropout=0.3)
        model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        randomize(model, seed=2)
        model.fit(iter(list(batches([6, 40, 3, 40], B=40))), verbose=0)
        runs.append(model.get_weights())
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


# --- Dense on 3-D, merges, Dropout ------------------------------------------------------------

def merge_model(T):
    x_in = bigcore.Input((T, 4))
    a = layers.Dense(4, activation="tanh")(x_in)
    b = layers.Dropout(0.5)(layers.Activation("relu")(x_in))
    y = layers.Concatenate()([layers.Add()([x_in, a]), layers.Multiply()([a, b]), layers.Average()([x_in, b])])
    return bigcore.Model(x_in, layers.Dense(2)(y))


def test_dense_and_merges_follow_the_length(seed):
    model = merge_model(None)
    ws = randomize(model, seed=6)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    for i, T in enumerate((3, 8, 1)):
        x, y = normal((5, T, 4), i), normal((5, T, 2), i + 10)
        twin = merge_model(T)
        twin.set_weights(model.get_weights())
        np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))
        twin.compile(optimizer=optimizers.SGD(0.1), loss="mse")
        model.train_on_batch(x, y)
        twin.train_on_batch(x, y)  # Dropout: another stream than the twin's, so compare inference only
    assert not all(np.array_equal(a, b) for a, b in zip(ws, model.get_weights()))
    x = normal((4, 6, 4), 3)
    a, = [w for w in model.layers if isinstance(w, layers.Dense) and w.units == 4]
    ref = np.tanh(x @ a.kernel.numpy() + a.bias.numpy())
    h = np.concatenate([x + ref, ref * np.maximum(x, 0), (x + np.maximum(x, 0)) / 2], axis=-1)
    out = [w for w in model.layers if isinstance(w, layers.Dense) and w.units == 2][0]
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ out.kernel.numpy() + out.bias.numpy(),
                               rtol=1e-5, atol=1e-5)


def test_inputs_of_independent_lengths_must_agree_where_merged():
    a_in, b_in = bigcore.Input((None, 3)), bigcore.Input((None, 3))
    model = bigcore.Model([a_in, b_in], layers.Add()([a_in, b_in]))
    x = normal((2, 4, 3))
    np.testing.assert_array_equal(model.predict([x, x], verbose=0), x + x)
    one = normal((2, 1, 3), seed=3)
    np.testing.assert_array_equal(model.predict([x, one], verbose=0), x + one)  # Keras broadcasts a length of 1
    with pytest.raises(ValueError, match="shapes do not broadcast: .* = 4 against .* = 5"):
        model.predict([x, normal((2, 5, 3))], verbose=0)


# --- int8 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_quantized_rnn_follows_the_length(seed, kind):
    model = rnn_model(kind, None, 3, 5, True, return_sequences=True)
    ws = randomize(model, seed=12)
    q = bigcore.quantization.quantize(model)
    for T in (6, 2, 9):
        x = padded_ids(4, T, T)
        twin = rnn_model(kind, T, 3, 5, True, return_sequences=True)
        twin.set_weights(ws)
        got = q.predict(x, verbose=0)
        np.testing.assert_array_equal(got, bigcore.quantization.quantize(twin).predict(x, verbose=0))
        np.testing.assert_allclose(got, twin.predict(x, verbose=0), atol=3e-2)


# --- refused ---------------------------------------------------------------------------------

def test_layers_without_variable_length_support_say_so():
    x_in = bigcore.Input((None, 4))
    model = bigcore.Model(x_in, layers.GroupNormalization(2)(x_in))
    with pytest.raises(ValueError, match=r"layer 'group_normalization.*' \(GroupNormalization\) does not "
                                         r"support variable-length axes"):
        model.predict(normal((2, 3, 4)), verbose=0)
    flat = bigcore.Model(x_in, layers.Flatten()(x_in))  # Flatten does (a view: tests/test_reshape_views.py)
    x = normal((2, 3, 4))
    np.testing.assert_array_equal(flat.predict(x, verbose=0), x.reshape(2, 12))


def test_wrong_fixed_axis_and_mismatched_targets_are_refused(seed):
    inp = bigcore.Input((None, 3))
    model = bigcore.Model(inp, layers.Dense(2)(inp))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="expected shape=\\(None, None, 3\\), found shape=\\(2, 4, 5\\)"):
        model.predict(normal((2, 4, 5)), verbose=0)
    with pytest.raises(ValueError, match="target width"):
        model.train_on_batch(normal((2, 4, 3)), normal((2, 5, 2)))


def test_sequential_and_save_load_keep_the_variable_length(seed, tmp_path):
    model = bigcore.Sequential([bigcore.Input((None,)), layers.Embedding(V, 4, mask_zero=True),
                                layers.GRU(5, return_sequences=True), layers.Dense(2)])
    randomize(model, seed=14)
    xs = [padded_ids(3, T, T) for T in (4, 10)]
    want = [model.predict(x, verbose=0) for x in xs]
    assert [w.shape for w in want] == [(3, 4, 2), (3, 10, 2)]
    path = str(tmp_path / "m.bigcore")
    model.save(path)
    loaded = bigcore.saving.load_model(path)
    assert loaded.inputs[0].shape == (None, None)
    for x, w in zip(xs, want):
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), w)


def pooled_text_model(T, pool):
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, 4, mask_zero=True)(inp)
    x = layers.Dense(5, activation="tanh")(x)
    pooled = {"avg": layers.GlobalAveragePooling1D(), "max": layers.GlobalMaxPooling1D()}[pool](x)
    return bigcore.Model(inp, layers.Dense(3, activation="softmax")(pooled))


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_global_pooling_follows_the_length(seed, pool):
    """Embedding(mask_zero) -> Dense -> global pooling on Input((None,)): the bits of programs lowered
    for each length, training step by step (the average skips masked steps)."""
    assert_steps_match_fixed_twins(lambda T: pooled_text_model(T, pool), batches([4, 9, 2, 9]),
                                   lambda: optimizers.SGD(0.3), "sparse_categorical_crossentropy", 3)


@pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d.*does not support masking:UserWarning")
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_global_pooling_on_variable_lengths_matches_keras(keras, seed, pool):
    model = pooled_text_model(None, pool)
    ws = randomize(model, seed=4)
    kin = keras.Input((None,), dtype="int32")
    kx = keras.layers.Dense(5, activation="tanh")(keras.layers.Embedding(V, 4, mask_zero=True)(kin))
    kx = {"avg": keras.layers.GlobalAveragePooling1D(), "max": keras.layers.GlobalMaxPooling1D()}[pool](kx)
    km = keras.Model(kin, keras.layers.Dense(3, activation="softmax")(kx))
    km.set_weights(ws)

    def no_row_fully_masked(x):  # Keras's average divides by zero there
        x[:, 0] = np.maximum(x[:, 0], 1)
        return x

    assert_matches_keras_on_lengths(model, km, (5, 11), B=6, prepare=no_row_fully_masked)


def text_cnn(T, lib=bigcore, dtype="float32"):
    """Keras's text-CNN pattern: Input((None,)) -> Embedding -> Conv1D (valid, strides 2) -> MaxPooling1D
    (same) -> Conv1D (same, dilation 2) -> AveragePooling1D (valid) -> Conv1D (causal) ->
    GlobalMaxPooling1D -> Dense."""
    inp = lib.Input((T,), dtype=dtype)
    x = lib.layers.Embedding(V, 4)(inp)
    x = lib.layers.Conv1D(6, 3, strides=2, activation="relu")(x)
    x = lib.layers.MaxPooling1D(2, padding="same")(x)
    x = lib.layers.Conv1D(5, 3, padding="same", dilation_rate=2, activation="tanh")(x)
    x = lib.layers.AveragePooling1D(2, strides=1)(x)
    x = lib.layers.Conv1D(4, 2, padding="causal")(x)
    return lib.Model(inp, lib.layers.Dense(3, activation="softmax")(lib.layers.GlobalMaxPooling1D()(x)))


def test_conv1d_follows_the_length(seed):
    """SGD steps on lengths 7, 12, 9, 12: the variable-length program's outputs, losses and weights
    are the bits of programs lowered for each length."""
    assert_steps_match_fixed_twins(text_cnn, batches([7, 12, 9, 12]), lambda: optimizers.SGD(0.3),
                                   "sparse_categorical_crossentropy", 5)


def noisy_text_model(T):
    """The noise layers on a run-time length: SpatialDropout1D (one draw per sample and channel),
    GaussianNoise and GaussianDropout (one per value), seeded."""
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, 4)(inp)
    x = layers.SpatialDropout1D(0.4, seed=2)(x)
    x = layers.GaussianNoise(0.3, seed=3)(x)
    x = layers.GaussianDropout(0.2, seed=4)(layers.Conv1D(5, 2, activation="tanh")(x))
    return bigcore.Model(inp, layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling1D()(x)))


def test_noise_layers_follow_the_length(seed):
    """SGD steps (noise drawn) on lengths 6, 11, 3, 11: the bits of programs lowered for each length."""
    assert_steps_match_fixed_twins(noisy_text_model, batches([6, 11, 3, 11]), lambda: optimizers.SGD(0.3),
                                   "sparse_categorical_crossentropy", 9)


def test_conv1d_on_variable_lengths_matches_keras(keras, seed):
    model = text_cnn(None)
    ws = randomize(model, seed=6)
    km = text_cnn(None, keras, "int32")
    km.set_weights(ws)
    assert_matches_keras_on_lengths(model, km, (8, 13), B=5)


def test_conv1d_refuses_inputs_shorter_than_its_window():
    inp = bigcore.Input((None, 2))
    model = bigcore.Model(inp, layers.Conv1D(3, 5)(inp))
    assert model.predict(normal((2, 5, 2)), verbose=0).shape == (2, 1, 3)
    with pytest.raises(ValueError, match=r"resolves to 0 for these inputs"):  # the output would have no steps
        model.predict(normal((2, 4, 2)), verbose=0)
    with pytest.raises(ValueError, match="known sizes"):  # Conv2D takes run-time sizes, Conv3D a run-time depth only
        layers.Conv3D(3, 2)(bigcore.Input((4, None, 4, 2)))


def test_int8_conv1d_refuses_a_run_time_length():
    from bigcore.quantization import quantize

    q = quantize(text_cnn(None))
    with pytest.raises(ValueError, match="int8 convolution needs a fixed length"):
        q.predict(np.ones((2, 7), np.float32), verbose=0)


def normed_model(T):
    """Input((None, 3)) -> Dense -> BatchNormalization -> LayerNormalization on (x + Dense(x)) (the
    fused residual) -> RMSNormalization -> GRU: the normalizations read the rows per call."""
    inp = bigcore.Input((T, 3))
    h = layers.Dense(4)(inp)
    h = layers.BatchNormalization()(h)
    h = layers.LayerNormalization()(layers.Add()([h, layers.Dense(4)(h)]))
    h = layers.RMSNormalization()(h)
    return bigcore.Model(inp, layers.Dense(2)(layers.GRU(3)(h)))


def test_normalizations_follow_the_length(seed):
    """SGD steps on lengths 3, 8, 1, 8: outputs, losses, weights (BatchNormalization's moving
    statistics among them) are the bits of programs lowered for each length."""
    data = [(normal((6, T, 3), seed=i), normal((6, 2), seed=10 + i)) for i, T in enumerate([3, 8, 1, 8])]
    assert_steps_match_fixed_twins(normed_model, data, lambda: optimizers.SGD(0.1), "mse", 7)


def attention_pooling_model(T, lib=bigcore):
    """A softmax over the features (rows per call) and one over the run-time time axis itself
    (attention pooling: Dense(1) scores, Reshape((-1,)), Softmax, the weights broadcast over the
    features by Multiply, GlobalAveragePooling1D); beside it Masking -> LSTM on the raw steps."""
    L = lib.layers
    inp = lib.Input((T, 3))
    h = L.LSTM(4, return_sequences=True)(L.Softmax(axis=-1)(L.Dense(5)(inp)))
    weights = L.Softmax()(L.Reshape((-1,))(L.Dense(1)(h)))
    pooled = L.GlobalAveragePooling1D()(L.Multiply()([h, L.Reshape((-1, 1))(weights)]))
    masked = L.LSTM(2)(L.Masking(0.0)(inp))
    return lib.Model(inp, L.Dense(3, activation="softmax")(L.Concatenate()([pooled, masked])))


def feature_batches(lengths, B=6):
    rng = np.random.default_rng(4)
    for T in lengths:
        x = rng.standard_normal((B, T, 3)).astype(np.float32)
        x[0, T // 2:] = 0.0  # masked steps at the end of one row
        yield x, rng.integers(0, 3, B).astype(np.float32)


def test_masking_and_softmax_follow_the_length(seed):
    assert_steps_match_fixed_twins(attention_pooling_model, feature_batches([5, 9, 2, 9]), lambda: optimizers.SGD(0.3),
                                   "sparse_categorical_crossentropy", 10)


def test_masking_and_softmax_on_run_time_lengths_match_keras(keras, seed):
    model = attention_pooling_model(None)
    ws = randomize(model, seed=11)
    km = attention_pooling_model(None, keras)
    km.set_weights(ws)
    for x, _ in feature_batches([4, 10]):
        np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-5,
                                   atol=1e-6)
