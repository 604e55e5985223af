"""Sequence layers (SimpleRNN, LSTM, GRU, Bidirectional, Embedding, the merge layers) against the float64
references in tests/reference_rnn.py, against PyTorch and Keras 3 where installed, and their
gradients against central differences.

Gradients are read off one SGD step: with learning_rate=1 and no momentum, w_after = w - g, so
g = w_before - w_after (the rule in tests/layer_test.py). Ids for masked models carry zeros at the
start, the middle and the end of rows, and one row is all zeros (fully masked).
"""

import numpy as np
import pytest

import bigcore
import reference as ref
import reference_rnn as rref
from bigcore import layers, optimizers
from layer_test import assert_gradients_close, compile_for_gradients, fd_gradients, sgd_gradients
from rnn_inputs import normal, randomize

# Keras 3 on torch 2.13 + NumPy 2 warns from its own predict/fit internals (an __array__ without
# copy=); pyproject turns warnings into errors, so this one third-party warning is let through.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

T, D, V = 7, 5, 11          # timesteps, features, vocabulary
RTOL, ATOL = 1e-4, 2e-5     # float32 native vs float64 reference, forward
KINDS = ["lstm", "gru", "simple_rnn"]


def simple_rnn(units, recurrent_activation=None, **kw):
    """SimpleRNN from the cases written for every kind: Keras's SimpleRNN has no
    recurrent_activation (the reference ignores it for this cell too)."""
    return layers.SimpleRNN(units, **kw)


RNN = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": simple_rnn}


# --- data and weights -------------------------------------------------------------------------

def masked_ids(B, T=T, V=V, seed=0):
    """(B, T) ids in [1, V) with zeros by row pattern: start+middle+end, pre-padding,
    post-padding, all zeros (fully masked), none."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, V, size=(B, T))
    for b in range(B):
        k = b % 5
        if k == 0:
            ids[b, :2] = 0
            ids[b, T // 2] = 0
            ids[b, -1] = 0
        elif k == 1:
            ids[b, :3] = 0
        elif k == 2:
            ids[b, -3:] = 0
        elif k == 3:
            ids[b] = 0
    return ids


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_outputs_close(got, want, rtol=RTOL, atol=ATOL):
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {i}: shape {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")


def ref_kwargs(kw):
    keys = ("activation", "recurrent_activation", "return_sequences", "return_state", "go_backwards")
    return {k: kw[k] for k in keys if k in kw}


# --- models -----------------------------------------------------------------------------------

def sequence_input(masking, T=T, D=D):
    """(input tensor, features tensor, embedding layer or None)."""
    if masking:
        inp = bigcore.Input((T,))
        emb = layers.Embedding(V, D, mask_zero=True)
        return inp, emb(inp), emb
    inp = bigcore.Input((T, D))
    return inp, inp, None


def sequence_data(masking, B, T=T, D=D, seed=0):
    return masked_ids(B, T, seed=seed) if masking else normal((B, T, D), seed)


def ref_features(masking, data, table):
    """(x, mask) the recurrent layer sees."""
    if masking:
        return rref.embedding_forward(data, table, mask_zero=True)
    return np.asarray(data, np.float64), None


def reference_input(masking, data, ws):
    """For a loss over a model's weights ws: ref_features (the Embedding's table ws[0] with masking)
    and the weights after the Embedding's."""
    x, mask = ref_features(masking, data, ws[0])
    return x, mask, ws[1:] if masking else ws


def rnn_model(kind, masking, U, bidi=False, merge_mode="concat", **kw):
    """Embedding(mask_zero) or a float Input -> LSTM/GRU (or Bidirectional of it). Weights random."""
    inp, x, emb = sequence_input(masking)
    layer = RNN[kind](U, **kw)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode=merge_mode)
    out = layer(x)
    model = bigcore.Model(inp, out)
    randomize(model)
    return model, layer, emb


def rnn_reference(kind, masking, data, layer, emb, bidi=False, merge_mode="concat", **kw):
    x, mask = ref_features(masking, data, emb.get_weights()[0] if emb else None)
    want, rest = rref.forward_from_weights(kind, x, layer.get_weights(), kw.get("use_bias", True), bidi, merge_mode,
                                           mask=mask, **ref_kwargs(kw))
    assert not rest  # the layer's weights, all of them
    return want


# --- (1) forward against the reference ---------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
def test_forward_matches_reference(seed, kind, masking, return_sequences, go_backwards, return_state, use_bias):
    kw = dict(return_sequences=return_sequences, go_backwards=go_backwards, return_state=return_state,
              use_bias=use_bias)
    model, layer, emb = rnn_model(kind, masking, 3, **kw)
    data = sequence_data(masking, 9)
    got = model.predict(data, verbose=0)
    want = rnn_reference(kind, masking, data, layer, emb, **kw)
    assert_outputs_close(got, want)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation,recurrent_activation", [
    ("tanh", "sigmoid"), ("relu", "sigmoid"), ("sigmoid", "tanh"), ("linear", "sigmoid"), ("tanh", "linear"),
    ("relu", "relu")])
@pytest.mark.parametrize("B,U", [(1, 3), (9, 33), (1, 33)])
def test_forward_activations_and_sizes(seed, kind, activation, recurrent_activation, B, U):
    kw = dict(activation=activation, recurrent_activation=recurrent_activation, return_sequences=True,
              return_state=True)
    model, layer, emb = rnn_model(kind, True, U, **kw)
    data = masked_ids(B, seed=B + U)
    assert_outputs_close(model.predict(data, verbose=0), rnn_reference(kind, True, data, layer, emb, **kw))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("return_state", [False, True], ids=["nostate", "state"])
def test_bidirectional_forward(seed, kind, merge_mode, masking, return_sequences, return_state):
    kw = dict(return_sequences=return_sequences, return_state=return_state)
    model, layer, emb = rnn_model(kind, masking, 3, bidi=True, merge_mode=merge_mode, **kw)
    data = sequence_data(masking, 9)
    want = rnn_reference(kind, masking, data, layer, emb, bidi=True, merge_mode=merge_mode, **kw)
    assert_outputs_close(model.predict(data, verbose=0), want)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_of_a_go_backwards_layer(seed, kind):
    """Either both halves in one time order (tf.keras 2 flips the backward copy's sequence
    whatever go_backwards says) or a ValueError at construction, as Keras 3 gives."""
    kw = dict(return_sequences=True, go_backwards=True)
    try:
        model, layer, emb = rnn_model(kind, True, 3, bidi=True, merge_mode="concat", **kw)
    except ValueError:
        return
    data = sequence_data(True, 9)
    want = rnn_reference(kind, True, data, layer, emb, bidi=True, merge_mode="concat", **kw)
    assert_outputs_close(model.predict(data, verbose=0), want)


def test_masked_steps_carry_state_and_output(seed):
    """Hand-checkable facts of Keras masking, independent of the reference's formulas."""
    model, layer, emb = rnn_model("lstm", True, 4, return_sequences=True, return_state=True)
    ids = masked_ids(5)
    y, h, c = model.predict(ids, verbose=0)
    np.testing.assert_array_equal(y[3], 0.0)                     # fully masked row: all zeros
    np.testing.assert_array_equal(h[3], 0.0)
    np.testing.assert_array_equal(c[3], 0.0)
    np.testing.assert_array_equal(y[1, :3], 0.0)                 # pre-padding: zeros before the first id
    np.testing.assert_array_equal(y[2, -3:], np.repeat(y[2, -4:-3], 3, axis=0))  # post: last h carried
    np.testing.assert_array_equal(y[0, T // 2], y[0, T // 2 - 1])  # a hole in the middle carries h
    np.testing.assert_array_equal(h, y[np.arange(5), -1])
    assert np.abs(y[4]).min() > 0


@pytest.mark.parametrize("batch", [1, 9, 40])
def test_embedding_lookup_and_mask(seed, batch):
    inp = bigcore.Input((T,))
    emb = layers.Embedding(V, 6, mask_zero=True)
    out = layers.LSTM(2, return_sequences=True)(emb(inp))
    model = bigcore.Model(inp, [emb(inp), out])
    (table,) = randomize(emb)
    ids = masked_ids(batch)
    vectors, y = model.predict(ids, verbose=0)
    np.testing.assert_array_equal(vectors, table[ids])  # masked ids still look up row 0
    assert y.shape == (batch, T, 2)


def test_embedding_accepts_float_and_int_ids(seed):
    model = bigcore.Sequential([bigcore.Input((T,)), layers.Embedding(V, 3)])
    (table,) = randomize(model)
    ids = masked_ids(4)
    for a in (ids, ids.astype(np.int32), ids.astype(np.float64), ids.astype(np.uint8)):
        np.testing.assert_array_equal(model.predict(a, verbose=0), table[ids])


@pytest.mark.parametrize("mode", ["sum", "mul", "concat"])
def test_merge_of_two_masks_is_their_or(request, seed, mode):
    """A merge of two masked embeddings: the LSTM sees the logical or of both masks (Keras 3;
    tf.keras 2 took their and), and Multiply counts a masked input as 1. Checked against the
    reference and, where installed, against Keras."""
    a, b = bigcore.Input((T,)), bigcore.Input((T,))
    ea, eb = layers.Embedding(V, D, mask_zero=True), layers.Embedding(V, D, mask_zero=True)
    lstm = layers.LSTM(3, return_sequences=True)
    merged = MERGES[mode]()([ea(a), eb(b)])
    model = bigcore.Model([a, b], lstm(merged))
    ws = randomize(model)
    ids_a, ids_b = masked_ids(9, seed=0), masked_ids(9, seed=1)[::-1].copy()
    xa, ma = rref.embedding_forward(ids_a, ea.get_weights()[0], True)
    xb, mb = rref.embedding_forward(ids_b, eb.get_weights()[0], True)
    mask = rref.keras_merge_mask(mode, [xa, xb], [ma, mb])
    assert np.array_equal(mask, ma | mb) and not np.array_equal(mask, ma & mb)
    want = rref.lstm_forward(rref.keras_merge(mode, [xa, xb], [ma, mb]), *lstm.get_weights(), mask=mask,
                             return_sequences=True)
    got = model.predict([ids_a, ids_b], verbose=0)
    assert_outputs_close(got, want)
    try:
        keras = request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return
    ka, kb = keras.Input((T,), dtype="int32"), keras.Input((T,), dtype="int32")
    kmerge = {"sum": keras.layers.Add, "mul": keras.layers.Multiply, "concat": keras.layers.Concatenate}[mode]
    k_out = keras.layers.LSTM(3, return_sequences=True)(kmerge()([keras.layers.Embedding(V, D, mask_zero=True)(ka),
                                                                   keras.layers.Embedding(V, D, mask_zero=True)(kb)]))
    km = keras.Model([ka, kb], k_out)
    km.set_weights(ws)
    assert_outputs_close(got, np.asarray(km.predict([ids_a.astype(np.int32), ids_b.astype(np.int32)], verbose=0)),
                         rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_single_timestep(seed, kind, go_backwards):
    inp = bigcore.Input((1,))
    emb = layers.Embedding(V, D, mask_zero=True)
    layer = RNN[kind](4, return_sequences=True, return_state=True, go_backwards=go_backwards)
    model = bigcore.Model(inp, layer(emb(inp)))
    randomize(model)
    ids = np.array([[3], [0], [7]])
    x, mask = rref.embedding_forward(ids, emb.get_weights()[0], True)
    want = rref.rnn_forward(kind, x, *layer.get_weights(), mask=mask, return_sequences=True, return_state=True,
                            go_backwards=go_backwards)
    got = model.predict(ids, verbose=0)
    assert_outputs_close(got, want)
    for out in got:
        np.testing.assert_array_equal(out[1], 0.0)  # the masked sample never leaves the zero state


@pytest.mark.parametrize("kind", KINDS)
def test_sequential_built_from_data(seed, kind):
    model = bigcore.Sequential([layers.Embedding(V, D, mask_zero=True), RNN[kind](3, go_backwards=True),
                                layers.Dense(2, activation="tanh")])
    ids = masked_ids(9)
    model.predict(ids, verbose=0)  # builds
    table, k, r, b, dk, db = randomize(model)
    x, mask = rref.embedding_forward(ids, table, True)
    h = rref.rnn_forward(kind, x, k, r, b, mask=mask, go_backwards=True)
    assert_outputs_close(model.predict(ids, verbose=0), rref.dense_forward(h, dk, db, "tanh"))


@pytest.mark.parametrize("kind", KINDS)
def test_batch_size_changes_between_calls(seed, kind):
    """predict in batches of 4 (the last one short) and others, after a training step on a batch
    of another size: the per-batch buffers are resized and nothing leaks between calls."""
    model, layer, emb = rnn_model(kind, True, 6, return_sequences=True, return_state=True)
    ids = masked_ids(41, seed=4)
    want = rnn_reference(kind, True, ids, layer, emb, return_sequences=True, return_state=True)
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")  # lr 0: the weights stay
    model.train_on_batch(ids[:9], [np.ones_like(w[:9], np.float32) for w in want])
    assert_outputs_close(model.predict(ids, batch_size=4, verbose=0), want)
    assert_outputs_close(model.predict(ids, batch_size=41, verbose=0), want)
    assert_outputs_close(model.predict(ids[:3], batch_size=2, verbose=0), [w[:3] for w in want])
    assert_outputs_close(model.predict(ids, batch_size=17, verbose=0), want)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("U", [256, 260])
def test_forward_more_units_than_one_kernel_block(seed, kind, U):
    """The cell kernels work in blocks of 256 units: 260 runs a second, short block."""
    model, layer, emb = rnn_model(kind, True, U, return_sequences=True, return_state=True)
    ids = masked_ids(3)
    want = rnn_reference(kind, True, ids, layer, emb, return_sequences=True, return_state=True)
    assert_outputs_close(model.predict(ids, verbose=0), want)


@pytest.mark.parametrize("kind", KINDS)
def test_default_initialization_is_keras(seed, kind):
    """glorot_uniform kernel, orthogonal recurrent kernel (orthonormal rows for (U, G*U)),
    zero biases except Keras's unit_forget_bias ones for the LSTM forget gate."""
    U, G = 8, {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
    layer = RNN[kind](U)
    inp = bigcore.Input((T, D))
    bigcore.Model(inp, layer(inp))
    k, r, b = layer.get_weights()
    assert k.shape == (D, G * U) and r.shape == (U, G * U)
    limit = np.sqrt(6.0 / (D + G * U))
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.5 * limit
    np.testing.assert_allclose(r @ r.T, np.eye(U), atol=1e-5)
    if kind == "lstm":
        np.testing.assert_array_equal(b, np.r_[np.zeros(U), np.ones(U), np.zeros(2 * U)])
    else:
        assert b.shape == ((2, 3 * U) if kind == "gru" else (U,))
        np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("make", [
    lambda: layers.LSTM(4, activation="relu", return_sequences=True, go_backwards=True, use_bias=False),
    lambda: layers.GRU(4, recurrent_activation="tanh", return_state=True, dropout=0.25),
    lambda: layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="ave"),
    lambda: layers.Bidirectional(layers.LSTM(4, return_state=True), merge_mode="mul"),
    lambda: layers.SimpleRNN(4, activation="relu", return_sequences=True, recurrent_dropout=0.2, go_backwards=True),
    lambda: layers.Bidirectional(layers.SimpleRNN(4, return_state=True, use_bias=False), merge_mode="concat"),
], ids=["lstm", "gru", "bidi_gru", "bidi_lstm", "simple_rnn", "bidi_simple_rnn"])
def test_config_round_trip_gives_the_same_layer(seed, make):
    layer = make()
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, layer(inp))
    randomize(model)
    clone = type(layer).from_config(layer.get_config())
    inp2 = bigcore.Input((T, D))
    model2 = bigcore.Model(inp2, clone(inp2))
    model2.set_weights(model.get_weights())
    x = normal((3, T, D), 1)
    for a, b in zip(as_list(model.predict(x, verbose=0)), as_list(model2.predict(x, verbose=0))):
        np.testing.assert_array_equal(a, b)


# --- (1b) every CPU path, every thread count ----------------------------------------------------

def train_steps(model, x, y, steps=2):
    for i in range(steps):
        model.train_on_batch(x, y)
    return model.get_weights()


@pytest.mark.parametrize("kind,bidi", [("lstm", False), ("gru", False), ("lstm", True), ("gru", True),
                                       ("simple_rnn", False), ("simple_rnn", True)])
def test_every_isa_and_thread_count(restore_threads, isa, kind, bidi):
    """Each path matches the reference; 1, 2 and 3 threads give bit-identical predictions and
    training (B=40 runs the time loop in three row chunks)."""
    kw = dict(return_sequences=True, return_state=True, go_backwards=not bidi)
    ids = masked_ids(40, seed=3)
    preds, trained = [], []
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        bigcore.utils.set_random_seed(0)
        model, layer, emb = rnn_model(kind, True, 33, bidi=bidi, **kw)
        preds.append(model.predict(ids, verbose=0))
        if threads == 1:
            want = rnn_reference(kind, True, ids, layer, emb, bidi=bidi, **kw)
        targets = [normal(p.shape, seed=i) for i, p in enumerate(preds[-1])]
        model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
        trained.append(train_steps(model, ids, targets))
    assert_outputs_close(preds[0], want)
    for threads, (p, w) in zip((2, 3), zip(preds[1:], trained[1:])):
        for a, b in zip(preds[0], p):
            np.testing.assert_array_equal(a, b, err_msg=f"predict, {threads} threads")
        for a, b in zip(trained[0], w):
            np.testing.assert_array_equal(a, b, err_msg=f"training, {threads} threads")


@pytest.mark.parametrize("units", [1, 21, 64])
def test_lstm_same_bits_on_every_isa(restore_isa, supported_isas, units):
    """The LSTM cell's vector sigmoid and tanh give each unit the same bits on every CPU path (the
    product's bits are the same already), at widths that leave a partial vector and with
    pre-activations out where the exponential clamps (|z| up to ~10^3), both cell states' signs;
    the float64 cell agrees where the values are not saturated (reference test above)."""
    T, D = 6, 5
    x = normal((4, T, D), seed=units) * np.array([1.0, 30.0, 300.0, 0.01], np.float32)[:, None, None]
    runs = {}
    for isa_name in supported_isas:
        bigcore.config.set_cpu_isa(isa_name)
        bigcore.utils.set_random_seed(1)
        model = bigcore.Sequential([layers.Input((T, D)), layers.LSTM(units, return_sequences=True,
                                                                      return_state=True)])
        model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
        pred = model.predict(x, verbose=0)
        model.train_on_batch(x, [normal(p.shape, seed=7) for p in pred])
        runs[isa_name] = (pred, model.get_weights())
    z = x @ runs["ref"][1][0]  # the input part of the pre-activations (the kernel after one step)
    assert np.abs(z[2]).max() > 100 and np.abs(z[3]).max() < 0.1  # past the exp clamps, and small
    for isa_name, (pred, weights) in runs.items():
        for a, b in zip(runs["ref"][0] + runs["ref"][1], pred + weights):
            np.testing.assert_array_equal(a, b, err_msg=isa_name)


# --- (2) gradients by central differences ----------------------------------------------------

def check_gradients(model, x, y, loss_fn, loss="mse"):
    compile_for_gradients(model, loss)
    ws = model.get_weights()
    value, got = sgd_gradients(model, x, y)
    np.testing.assert_allclose(value, loss_fn([w.astype(np.float64) for w in ws]), rtol=1e-5)
    assert_gradients_close(got, fd_gradients(loss_fn, ws), [w.path for w in model.weights])
    assert any(np.abs(g).max() > 1e-4 for g in got)


GB, GT, GD, GU, GO = 5, 5, 3, 3, 2  # small sizes for finite differences

GRAD_CASES = {
    "mask": dict(masking=True),
    "mask_seq": dict(masking=True, return_sequences=True),
    "nomask_seq": dict(masking=False, return_sequences=True),
    "backwards": dict(masking=False, go_backwards=True),
    "backwards_mask_seq": dict(masking=True, go_backwards=True, return_sequences=True),
    "nobias_sigmoid": dict(masking=True, use_bias=False, activation="sigmoid", recurrent_activation="tanh"),
    "linear": dict(masking=False, activation="linear", recurrent_activation="sigmoid", return_sequences=True),
    "bidi_concat": dict(masking=True, bidi="concat"),
    "bidi_sum_seq": dict(masking=True, bidi="sum", return_sequences=True),
    "bidi_mul_seq": dict(masking=False, bidi="mul", return_sequences=True),
    "bidi_ave": dict(masking=True, bidi="ave"),
}


def grad_chain_case(kind, masking, bidi=None, **kw):
    """Embedding(mask_zero)/Input -> RNN or Bidirectional -> Dense(GO); MSE (masked when the
    output is a masked sequence). Returns (model, x, y, loss_fn)."""
    inp, x, _ = sequence_input(masking, GT, GD)
    layer = RNN[kind](GU, **kw)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode=bidi)
    model = bigcore.Model(inp, layers.Dense(GO)(layer(x)))
    randomize(model, seed=7)
    data = masked_ids(GB, GT, seed=2) if masking else normal((GB, GT, GD), 2)
    seq = kw.get("return_sequences", False)
    y = normal((GB, GT, GO) if seq else (GB, GO), 3)
    use_bias = kw.get("use_bias", True)
    rk = ref_kwargs(kw)

    def loss_fn(ws):
        xe, mask, ws = reference_input(masking, data, ws)
        h, (kernel, bias) = rref.forward_from_weights(kind, xe, ws, use_bias, bool(bidi), bidi, mask=mask, **rk)
        out = rref.dense_forward(h, kernel, bias)
        return rref.masked_mean(rref.mse_rows(y, out), mask if seq else None)

    return model, data, y, loss_fn


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_gradients_match_finite_differences(seed, kind, case):
    check_gradients(*grad_chain_case(kind, **GRAD_CASES[case]))


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_on_every_isa(seed, isa, kind):
    check_gradients(*grad_chain_case(kind, masking=True, return_sequences=True, go_backwards=True))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masking,go_backwards,bidi", [
    (False, False, False), (True, False, False), (True, True, False), (True, False, True)])
def test_gradients_through_returned_states(seed, kind, masking, go_backwards, bidi):
    """return_state outputs feed their own losses: a model with outputs [Dense(y), *states]."""
    inp, x, _ = sequence_input(masking, GT, GD)
    layer = RNN[kind](GU, return_state=True, go_backwards=go_backwards)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode="concat")
    outs = layer(x)
    model = bigcore.Model(inp, [layers.Dense(GO)(outs[0])] + outs[1:])
    randomize(model, seed=5)
    data = masked_ids(GB, GT, seed=4) if masking else normal((GB, GT, GD), 4)
    ys = [normal((GB, GO), 10)] + [normal((GB, GU), 11 + i) for i in range(len(outs) - 1)]

    def loss_fn(ws):
        xe, mask, ws = reference_input(masking, data, ws)
        res, (kernel, bias) = rref.forward_from_weights(kind, xe, ws, bidi=bidi, mask=mask, return_state=True,
                                                        go_backwards=go_backwards)
        preds = [rref.dense_forward(res[0], kernel, bias)] + res[1:]
        return sum(rref.mse_rows(t, p).mean() for t, p in zip(ys, preds))

    check_gradients(model, data, ys, loss_fn)


@pytest.mark.parametrize("kind", KINDS)
def test_shared_embedding_and_rnn_get_both_branches_gradients(seed, kind):
    """Two id inputs through one Embedding and one RNN (weights shared), then Concatenate."""
    a, b = bigcore.Input((GT,)), bigcore.Input((GT,))
    emb, rnn = layers.Embedding(V, GD, mask_zero=True), RNN[kind](GU)
    model = bigcore.Model([a, b], layers.Dense(GO)(layers.Concatenate()([rnn(emb(a)), rnn(emb(b))])))
    randomize(model, seed=8)
    ids = [masked_ids(GB, GT, seed=5), masked_ids(GB, GT, seed=6)[::-1].copy()]
    y = normal((GB, GO), 12)

    def loss_fn(ws, wb=None):  # wb: separate weights for branch b (None: shared)
        wb = ws if wb is None else wb
        hs = []
        for w, i in ((ws, ids[0]), (wb, ids[1])):
            xe, mask = rref.embedding_forward(i, w[0], True)
            hs.append(rref.rnn_forward(kind, xe, *w[1:4], mask=mask))
        out = rref.dense_forward(np.concatenate(hs, -1), ws[4], ws[5])
        return rref.mse_rows(y, out).mean()

    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    ws = [w.astype(np.float64) for w in model.get_weights()]
    _, got = sgd_gradients(model, ids, y)
    # the shared weights' gradient is the sum of each branch's (untied copies, differentiated apart)
    via_a = fd_gradients(lambda w: loss_fn(w, ws), ws)
    via_b = fd_gradients(lambda w: loss_fn(ws, w), ws)
    for i in range(4):
        assert np.abs(via_a[i]).max() > 1e-4 and np.abs(via_b[i]).max() > 1e-4
    assert_gradients_close(got[:4], [ga + gb for ga, gb in zip(via_a[:4], via_b[:4])])
    assert_gradients_close(got, fd_gradients(loss_fn, ws))


@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("first,second", [("lstm", "gru"), ("gru", "lstm"), ("lstm", "lstm"),
                                          ("simple_rnn", "lstm"), ("gru", "simple_rnn")])
def test_gradients_through_stacked_rnns(seed, masking, first, second):
    """RNN(return_sequences) -> RNN: the upper layer's input gradient drives the lower layer
    (the mask reaches both). A Dense over time feeds the lower layer, so its dx is used too."""
    inp, x, _ = sequence_input(masking, GT, GD)
    x = layers.Dense(GD, activation="tanh")(x)
    x = RNN[first](GU, return_sequences=True)(x)
    x = RNN[second](GU, go_backwards=True)(x)
    model = bigcore.Model(inp, layers.Dense(GO)(x))
    randomize(model, seed=11)
    data = masked_ids(GB, GT, seed=7) if masking else normal((GB, GT, GD), 7)
    y = normal((GB, GO), 13)

    def loss_fn(ws):
        k = 0
        if masking:
            xe, mask = rref.embedding_forward(data, ws[0], True)
            k = 1
        else:
            xe, mask = data, None
        h = rref.dense_forward(xe, ws[k], ws[k + 1], "tanh")
        h = rref.rnn_forward(first, h, *ws[k + 2:k + 5], mask=mask, return_sequences=True)
        h = rref.rnn_forward(second, h, *ws[k + 5:k + 8], mask=mask, go_backwards=True)
        return rref.mse_rows(y, rref.dense_forward(h, ws[k + 8], ws[k + 9])).mean()

    check_gradients(model, data, y, loss_fn)


def flat(ws):
    return np.concatenate([np.ravel(w) for w in ws])


def unflat(v, like):
    out, o = [], 0
    for w in like:
        out.append(v[o:o + w.size].reshape(w.shape))
        o += w.size
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_with_more_units_than_one_kernel_block(seed, kind):
    """U=260: central differences along directions (the gradient's own and a random one),
    since one difference per weight would take too long."""
    data = masked_ids(GB, GT, seed=2)
    inp = bigcore.Input((GT,))
    layer = RNN[kind](260, return_sequences=True)
    model = bigcore.Model(inp, layers.Dense(GO)(layer(layers.Embedding(V, GD, mask_zero=True)(inp))))
    randomize(model, seed=12)
    y = normal((GB, GT, GO), 14)

    def loss_fn(ws):
        xe, mask = rref.embedding_forward(data, ws[0], True)
        h = rref.rnn_forward(kind, xe, *ws[1:4], mask=mask, return_sequences=True)
        return rref.masked_mean(rref.mse_rows(y, rref.dense_forward(h, ws[4], ws[5])), mask)

    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    ws = [w.astype(np.float64) for w in model.get_weights()]
    _, got = sgd_gradients(model, data, y)
    g = flat(got)
    rng = np.random.default_rng(0)
    for v in (g / np.linalg.norm(g), rng.standard_normal(g.size) / np.sqrt(g.size)):
        h = 1e-4
        w0 = flat(ws)
        fd = (loss_fn(unflat(w0 + h * v, ws)) - loss_fn(unflat(w0 - h * v, ws))) / (2 * h)
        assert g @ v == pytest.approx(fd, rel=1e-3, abs=1e-5 * np.linalg.norm(g))


# --- (3) parity with PyTorch ------------------------------------------------------------------

def torch_gru_blocks(w, U):
    """Keras z, r, h blocks along the last axis -> torch's r, z, n."""
    return np.concatenate([w[..., U:2 * U], w[..., :U], w[..., 2 * U:]], axis=-1)


def load_torch_rnn(torch, net, kind, ws, U, suffix=""):
    k, r, b = ws
    if kind == "gru":
        k, r, b = torch_gru_blocks(k, U), torch_gru_blocks(r, U), torch_gru_blocks(b, U)
        b_ih, b_hh = b[0], b[1]
    else:
        b_ih, b_hh = b, np.zeros_like(b)
    with torch.no_grad():
        for name, v in (("weight_ih", k.T), ("weight_hh", r.T), ("bias_ih", b_ih), ("bias_hh", b_hh)):
            getattr(net, f"{name}_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(v)))


def torch_rnn_class(torch, kind):
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[kind]  # RNN: tanh


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("B,U", [(1, 3), (9, 33)])
def test_matches_torch(torch, seed, kind, B, U):
    model, layer, _ = rnn_model(kind, False, U, return_sequences=True, return_state=True)
    x = normal((B, T, D), 1)
    got = model.predict(x, verbose=0)
    net = torch_rnn_class(torch, kind)(D, U, batch_first=True)
    load_torch_rnn(torch, net, kind, layer.get_weights(), U)
    with torch.no_grad():
        y, state = net(torch.from_numpy(x))
    states = state if kind == "lstm" else (state,)
    want = [y.numpy()] + [s[0].numpy() for s in states]
    assert_outputs_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_concat_matches_torch_bidirectional(torch, seed, kind):
    U = 4
    model, layer, _ = rnn_model(kind, False, U, bidi=True, return_sequences=True)
    x = normal((6, T, D), 2)
    net = torch_rnn_class(torch, kind)(D, U, batch_first=True, bidirectional=True)
    ws = layer.get_weights()
    load_torch_rnn(torch, net, kind, ws[:3], U)
    load_torch_rnn(torch, net, kind, ws[3:], U, suffix="_reverse")
    with torch.no_grad():
        y, _ = net(torch.from_numpy(x))
    assert_outputs_close(model.predict(x, verbose=0), y.numpy(), rtol=1e-5, atol=1e-5)


# --- (4) parity with Keras --------------------------------------------------------------------

KERAS_CASES = {
    "last": dict(),
    "seq": dict(return_sequences=True),
    "seq_bwd": dict(return_sequences=True, go_backwards=True),
    "state_bwd": dict(return_state=True, go_backwards=True),
    "seq_state_nobias_relu": dict(return_sequences=True, return_state=True, use_bias=False, activation="relu"),
    "bidi_concat_seq": dict(bidi="concat", return_sequences=True),
    "bidi_sum": dict(bidi="sum"),
    "bidi_ave_seq_state": dict(bidi="ave", return_sequences=True, return_state=True),
    "bidi_mul_seq": dict(bidi="mul", return_sequences=True),
}


def keras_model_like(keras, kind, masking, U, bidi=None, **kw):
    if masking:
        inp = keras.Input((T,), dtype="int32")
        x = keras.layers.Embedding(V, D, mask_zero=True)(inp)
    else:
        inp = keras.Input((T, D))
        x = inp
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}[kind](U, **kw)
    if bidi:
        layer = keras.layers.Bidirectional(layer, merge_mode=bidi)
    return keras.Model(inp, layer(x))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("case", list(KERAS_CASES))
@pytest.mark.parametrize("direction", ["bigcore_to_keras", "keras_to_bigcore"])
def test_weights_exchange_with_keras(keras, seed, kind, masking, case, direction):
    kw = dict(KERAS_CASES[case])
    bidi = kw.pop("bidi", None)
    U = 5
    km = keras_model_like(keras, kind, masking, U, bidi=bidi, **kw)
    model, _, _ = rnn_model(kind, masking, U, bidi=bool(bidi), merge_mode=bidi or "concat", **kw)
    if direction == "bigcore_to_keras":
        km.set_weights(model.get_weights())
    else:
        keras.utils.set_random_seed(3)
        km = keras_model_like(keras, kind, masking, U, bidi=bidi, **kw)
        model.set_weights(km.get_weights())
    data = sequence_data(masking, 9)
    want = [np.asarray(o) for o in as_list(km.predict(data.astype(np.int32) if masking else data, verbose=0))]
    assert_outputs_close(model.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("sequence_loss", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("bidi", [None, "concat"])
def test_adam_training_matches_keras(keras, seed, kind, masking, sequence_loss, bidi):
    """Three train_on_batch steps with Adam: the same losses, accuracies and weights. With a
    sequence output the loss and accuracy are Keras's masked means."""
    C, U, B = 4, 5, 9
    model, _, _ = rnn_model(kind, masking, U, bidi=bool(bidi), return_sequences=sequence_loss)
    inp = model.inputs[0]
    model = bigcore.Model(inp, layers.Dense(C, activation="softmax")(model.outputs[0]))
    randomize(model, seed=4)
    km = keras_model_like(keras, kind, masking, U, bidi=bidi, return_sequences=sequence_loss)
    km = keras.Model(km.input, keras.layers.Dense(C, activation="softmax")(km.outputs[0]))
    km.set_weights(model.get_weights())
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    for step in range(3):
        data = sequence_data(masking, B, seed=step)
        y = rng.integers(0, C, (B, T) if sequence_loss else (B,))
        got = model.train_on_batch(data, y)
        want = km.train_on_batch(data.astype(np.int32) if masking else data, y)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, err_msg=f"loss, step {step}")
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, err_msg=f"accuracy, step {step}")
    for i, (g, w) in enumerate(zip(model.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"weight {i}")


# --- (5) dropout ----------------------------------------------------------------------------

def dropout_model(kind, rate, recurrent_rate, seed=0):
    bigcore.utils.set_random_seed(seed)
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, D, mask_zero=True)(inp)
    x = RNN[kind](6, dropout=rate, recurrent_dropout=recurrent_rate, return_sequences=True)(x)
    model = bigcore.Model(inp, layers.Dense(2)(x))
    randomize(model, seed=9)
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    return model


RATES = [(0.3, 0.0), (0.0, 0.3), (0.4, 0.25)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate,recurrent_rate", RATES)
def test_dropout_is_ignored_by_predict_and_evaluate(kind, rate, recurrent_rate):
    ids, y = masked_ids(9), normal((9, T, 2), 1)
    plain, dropped = dropout_model(kind, 0.0, 0.0), dropout_model(kind, rate, recurrent_rate)
    p = dropped.predict(ids, verbose=0)
    np.testing.assert_array_equal(p, dropped.predict(ids, verbose=0))
    np.testing.assert_array_equal(p, plain.predict(ids, verbose=0))
    assert dropped.evaluate(ids, y, verbose=0) == plain.evaluate(ids, y, verbose=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate,recurrent_rate", RATES)
def test_dropout_changes_training_reproducibly(restore_threads, kind, rate, recurrent_rate):
    ids, y = masked_ids(40), normal((40, T, 2), 1)
    plain = train_steps(dropout_model(kind, 0.0, 0.0), ids, y)
    runs = []
    for seed, threads in ((0, 1), (0, 3), (1, 1)):
        bigcore.config.set_num_threads(threads)
        runs.append(train_steps(dropout_model(kind, rate, recurrent_rate, seed=seed), ids, y))
    assert any(not np.allclose(a, b) for a, b in zip(plain, runs[0]))
    for a, b in zip(runs[0], runs[1]):  # the same seed: the same bits, whatever the thread count
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))  # another seed: other masks


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_differ_between_steps(kind):
    """Each step draws new masks (from the seed and the step): with lr=0 the loss still changes
    from step to step, and a model built with the same seed repeats the sequence."""
    ids, y = masked_ids(9), normal((9, T, 2), 1)
    a, b = dropout_model(kind, 0.5, 0.0), dropout_model(kind, 0.5, 0.0)
    la = [a.train_on_batch(ids, y) for _ in range(3)]
    lb = [b.train_on_batch(ids, y) for _ in range(3)]
    assert la == lb
    model = dropout_model(kind, 0.5, 0.0)
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")  # no update: only the mask changes
    losses = [model.train_on_batch(ids, y) for _ in range(3)]
    assert len(set(losses)) == 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate,recurrent_rate", RATES)
def test_dropout_gradient_matches_its_own_loss(kind, rate, recurrent_rate):
    """The masks are keyed by (seed, step): pinning optimizer.iterations replays one set of
    masks, so the training loss is a function of the weights that the SGD(lr=1) step must
    differentiate. Checked by central differences (of the native float32 loss) along the
    gradient and along a random direction."""
    ids, y = masked_ids(9), normal((9, T, 2), 1)
    model = dropout_model(kind, rate, recurrent_rate)
    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    w0 = model.get_weights()

    def loss_at(ws, lr):
        model.set_weights(ws)
        model.optimizer.learning_rate = lr
        model.optimizer.iterations = 5
        return model.train_on_batch(ids, y)

    loss0 = loss_at(w0, 1.0)
    g = flat(w0).astype(np.float64) - flat(model.get_weights())
    assert loss_at(w0, 0.0) == loss0  # the same masks again
    model.optimizer.iterations = 6
    assert model.train_on_batch(ids, y) != loss0  # other masks at another step
    plain = dropout_model(kind, 0.0, 0.0)
    assert plain.evaluate(ids, y, verbose=0) != pytest.approx(loss0, rel=1e-4)  # dropout did act
    rng = np.random.default_rng(1)
    for v in (g / np.linalg.norm(g), rng.standard_normal(g.size) / np.sqrt(g.size)):
        h = 1e-2
        wf = flat(w0).astype(np.float64)
        lp = loss_at(unflat((wf + h * v).astype(np.float32), w0), 0.0)
        lm = loss_at(unflat((wf - h * v).astype(np.float32), w0), 0.0)
        assert g @ v == pytest.approx((lp - lm) / (2 * h), rel=5e-3, abs=5e-4 * np.linalg.norm(g))


# --- (6) merge layers -------------------------------------------------------------------------

MERGES = {"concat": layers.Concatenate, "sum": layers.Add, "ave": layers.Average, "mul": layers.Multiply}


@pytest.mark.parametrize("mode", list(MERGES))
@pytest.mark.parametrize("shape", [(4,), (T, 3)], ids=["2d", "3d"])
def test_merge_forward(seed, mode, shape):
    a, b = bigcore.Input(shape), bigcore.Input(shape)
    model = bigcore.Model([a, b], MERGES[mode]()([a, b]))
    xa, xb = normal((9,) + shape, 1), normal((9,) + shape, 2)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), rref.merge(mode, xa, xb), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layer_cls,fn", [
    (layers.Add, lambda xs: sum(xs)), (layers.Average, lambda xs: sum(xs) / 3),
    (layers.Multiply, lambda xs: xs[0] * xs[1] * xs[2]), (layers.Concatenate, lambda xs: np.concatenate(xs, -1))])
def test_merge_of_three_inputs(seed, layer_cls, fn):
    ins = [bigcore.Input((5,)) for _ in range(3)]
    model = bigcore.Model(ins, layer_cls()(ins))
    xs = [normal((4, 5), i) for i in range(3)]
    np.testing.assert_allclose(model.predict(xs, verbose=0), fn([x.astype(np.float64) for x in xs]), rtol=1e-6)


@pytest.mark.parametrize("mode", list(MERGES))
@pytest.mark.parametrize("n_inputs", [2, 3])
def test_merge_gradients(seed, mode, n_inputs):
    ins = [bigcore.Input((4,)) for _ in range(n_inputs)]
    hidden = [layers.Dense(3, activation="tanh")(x) for x in ins]
    model = bigcore.Model(ins, layers.Dense(GO)(MERGES[mode]()(hidden)))
    randomize(model, seed=2)
    xs = [normal((6, 4), 20 + i) for i in range(n_inputs)]
    y = normal((6, GO), 30)

    def combine(hs):
        if mode == "concat":
            return np.concatenate(hs, -1)
        if mode == "mul":
            return np.prod(hs, axis=0)
        return sum(hs) / (len(hs) if mode == "ave" else 1)

    def loss_fn(ws):
        hs = [rref.dense_forward(x, ws[2 * i], ws[2 * i + 1], "tanh") for i, x in enumerate(xs)]
        return rref.mse_rows(y, rref.dense_forward(combine(hs), ws[-2], ws[-1])).mean()

    check_gradients(model, xs, y, loss_fn)


@pytest.mark.parametrize("mode", list(MERGES))
def test_shared_dense_gets_the_sum_of_both_branches(seed, mode):
    a, b = bigcore.Input((4,)), bigcore.Input((4,))
    shared = layers.Dense(3, activation="tanh")
    model = bigcore.Model([a, b], layers.Dense(GO)(MERGES[mode]()([shared(a), shared(b)])))
    randomize(model, seed=3)
    xa, xb, y = normal((6, 4), 1), normal((6, 4), 2), normal((6, GO), 3)

    def loss_fn(ws, wb=None):
        wb = ws if wb is None else wb
        ha, hb = rref.dense_forward(xa, ws[0], ws[1], "tanh"), rref.dense_forward(xb, wb[0], wb[1], "tanh")
        return rref.mse_rows(y, rref.dense_forward(rref.merge(mode, ha, hb), ws[2], ws[3])).mean()

    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    ws = [w.astype(np.float64) for w in model.get_weights()]
    _, got = sgd_gradients(model, [xa, xb], y)
    via_a = fd_gradients(lambda w: loss_fn(w, ws), ws)[:2]
    via_b = fd_gradients(lambda w: loss_fn(ws, w), ws)[:2]
    for g in via_a + via_b:
        assert np.abs(g).max() > 1e-4
    assert_gradients_close(got[:2], [ga + gb for ga, gb in zip(via_a, via_b)])
    assert_gradients_close(got, fd_gradients(loss_fn, ws))


@pytest.mark.parametrize("mode", list(MERGES))
def test_merge_of_a_tensor_with_itself(seed, mode):
    """merge([h, h]): both input slots are one tensor, so its gradient is the sum of both slots'."""
    inp = bigcore.Input((4,))
    h = layers.Dense(3, activation="tanh")(inp)
    model = bigcore.Model(inp, layers.Dense(GO)(MERGES[mode]()([h, h])))
    randomize(model, seed=4)
    x, y = normal((6, 4), 5), normal((6, GO), 6)

    def loss_fn(ws):
        hh = rref.dense_forward(x, ws[0], ws[1], "tanh")
        return rref.mse_rows(y, rref.dense_forward(rref.merge(mode, hh, hh), ws[2], ws[3])).mean()

    check_gradients(model, x, y, loss_fn)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["sum", "mul", "concat"])
def test_gradients_with_merged_masks(seed, kind, mode):
    """Two masked embeddings merged: the RNN sees the or of the masks (Keras 3), and Multiply's
    masked steps count as 1, in training too (the loss masked by the or)."""
    a, b = bigcore.Input((GT,)), bigcore.Input((GT,))
    ea, eb = layers.Embedding(V, GD, mask_zero=True), layers.Embedding(V, GD, mask_zero=True)
    rnn = RNN[kind](GU, return_sequences=True)
    model = bigcore.Model([a, b], layers.Dense(GO)(rnn(MERGES[mode]()([ea(a), eb(b)]))))
    randomize(model, seed=13)
    ids = [masked_ids(GB, GT, seed=8), masked_ids(GB, GT, seed=9)[::-1].copy()]
    y = normal((GB, GT, GO), 15)

    def loss_fn(ws):
        xa, ma = rref.embedding_forward(ids[0], ws[0], True)
        xb, mb = rref.embedding_forward(ids[1], ws[1], True)
        mask = rref.keras_merge_mask(mode, [xa, xb], [ma, mb])
        h = rref.rnn_forward(kind, rref.keras_merge(mode, [xa, xb], [ma, mb]), *ws[2:5], mask=mask,
                             return_sequences=True)
        return rref.masked_mean(rref.mse_rows(y, rref.dense_forward(h, ws[5], ws[6])), mask)

    check_gradients(model, ids, y, loss_fn)


# --- (7) errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(5,), (T, D, 2)])
def test_rnn_rejects_non_3d_input(kind, shape):
    with pytest.raises(ValueError, match="3-D input"):
        RNN[kind](3)(bigcore.Input(shape))


def test_rnn_rejects_wrong_feature_size_once_built():
    lstm = layers.LSTM(3)
    lstm(bigcore.Input((T, D)))
    with pytest.raises(ValueError, match=f"value {D}"):
        lstm(bigcore.Input((T, D + 1)))


def test_gru_reset_after_false_has_one_bias():
    """reset_after=False is supported (tests/test_gru_reset_before.py): Keras's (3U,) bias."""
    gru = layers.GRU(3, reset_after=False)
    gru.build((None, T, D))
    assert gru.bias.shape == (9,) and gru.get_config()["reset_after"] is False


@pytest.mark.parametrize("bad", [layers.Dense(3), layers.Embedding(V, 3), "lstm"])
def test_bidirectional_needs_an_rnn(bad):
    with pytest.raises(ValueError, match="LSTM or GRU"):
        layers.Bidirectional(bad)


def test_bidirectional_rejects_unknown_merge_mode():
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")


@pytest.mark.parametrize("kw", [dict(units=0), dict(units=3, dropout=1.0), dict(units=3, recurrent_dropout=-0.1),
                                dict(units=3, activation="softmax")])
def test_rnn_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        layers.LSTM(**kw)


@pytest.mark.parametrize("kw", [dict(units=0), dict(units=3, dropout=1.0), dict(units=3, activation="softmax")])
def test_simple_rnn_rejects_bad_arguments(kw):  # stateful=True is supported now (test_stateful_rnn.py)
    with pytest.raises(ValueError):
        layers.SimpleRNN(**kw)


def test_simple_rnn_has_no_recurrent_activation(keras):
    """Keras's SimpleRNN refuses the keyword (it has one activation), and its config has none."""
    with pytest.raises(TypeError, match="recurrent_activation"):
        layers.SimpleRNN(3, recurrent_activation="tanh")
    with pytest.raises(ValueError, match="recurrent_activation"):
        keras.layers.SimpleRNN(3, recurrent_activation="tanh")
    assert "recurrent_activation" not in layers.SimpleRNN(3).get_config()
    # seed: Keras's SimpleRNN takes it as an argument but leaves it out of its config; kept here so a
    # config round trip keeps the dropout stream
    assert set(layers.SimpleRNN(3).get_config()) - {"trainable", "dtype", "seed"} <= \
        set(keras.layers.SimpleRNN(3).get_config())


@pytest.mark.parametrize("bad_id", [V, V + 100, -1, 2.5])
def test_embedding_ids_out_of_range(seed, bad_id):
    model = bigcore.Sequential([bigcore.Input((T,)), layers.Embedding(V, 3, mask_zero=True), layers.LSTM(2)])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    ids = masked_ids(4).astype(np.float64)
    good = model.predict(ids, verbose=0)
    weights = model.get_weights()
    ids[2, 3] = bad_id
    with pytest.raises(ValueError, match=rf"\[0, {V}\)"):
        model.predict(ids, verbose=0)
    with pytest.raises(ValueError, match=rf"\[0, {V}\)"):
        model.train_on_batch(ids, np.zeros((4, 2)))
    for a, b in zip(weights, model.get_weights()):  # the failed step changed nothing
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(masked_ids(4), verbose=0), good)  # still usable


def test_embedding_ids_beyond_float32_precision(seed):
    """A vocabulary over 2**24 rows: ids must look up their own row, or be refused."""
    big = 2 ** 24 + 3
    try:
        model = bigcore.Sequential([bigcore.Input((2,)), layers.Embedding(big, 1)])
    except ValueError as e:  # refused up front, saying why
        assert "2**24" in str(e)
        return
    table = (np.arange(big) % 1000).astype(np.float32).reshape(big, 1)
    model.set_weights([table])
    ids = np.array([[2 ** 24 + 1, 2 ** 24 + 2]], np.int64)
    try:
        got = model.predict(ids, verbose=0)
    except ValueError:
        return
    np.testing.assert_array_equal(got[..., 0], table[ids, 0])


# --- (8) Dense over time, masked losses and metrics ---------------------------------------------

@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "softmax"])
def test_dense_on_3d_input_is_per_timestep(seed, activation):
    inp = bigcore.Input((T, D))
    dense = layers.Dense(4, activation=activation)
    model = bigcore.Model(inp, dense(inp))
    kernel, bias = randomize(model)
    x = normal((9, T, D), 1)
    got = model.predict(x, verbose=0)
    step = bigcore.Sequential([bigcore.Input((D,)), layers.Dense(4, activation=activation)])
    step.set_weights([kernel, bias])
    for t in range(T):
        np.testing.assert_allclose(got[:, t], step.predict(x[:, t], verbose=0), rtol=1e-6, atol=1e-7,
                                   err_msg=f"timestep {t}")
        np.testing.assert_allclose(got[:, t], rref.dense_forward(x[:, t], kernel, bias, activation),
                                   rtol=1e-5, atol=1e-6, err_msg=f"timestep {t}")


def masked_classifier(loss, C=4):
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, D, mask_zero=True)(inp)
    x = layers.LSTM(5, return_sequences=True)(x)
    model = bigcore.Model(inp, layers.Dense(C, activation="softmax")(x))
    randomize(model, seed=6)
    model.compile(optimizer=optimizers.SGD(0.1), loss=loss, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_masked_sequence_loss_and_accuracy(seed, loss):
    C, B = 4, 9
    model = masked_classifier(loss, C)
    ids = masked_ids(B, seed=1)
    labels = np.random.default_rng(2).integers(0, C, (B, T))
    y = labels if loss.startswith("sparse") else np.eye(C, dtype=np.float32)[labels]
    p = model.predict(ids, verbose=0).astype(np.float64)
    q = np.clip(np.take_along_axis(p / p.sum(-1, keepdims=True), labels[..., None], -1)[..., 0],
                ref.EPSILON, 1 - ref.EPSILON)
    mask = ids != 0
    want_loss = rref.masked_mean(-np.log(q), mask)
    want_acc = rref.masked_mean(p.argmax(-1) == labels, mask)
    assert want_loss != pytest.approx(float(-np.log(q).mean()), rel=1e-3)  # the mask matters here
    logs = model.evaluate(ids, y, batch_size=B, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(want_loss, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(want_acc, rel=1e-12)
    loss_value, acc = model.train_on_batch(ids, y)  # the loss and accuracy before the update
    assert loss_value == pytest.approx(want_loss, rel=1e-5)
    assert acc == pytest.approx(want_acc, rel=1e-12)


def test_masked_loss_over_several_batches_weights_batches_by_size(seed):
    """evaluate over batches: each batch's masked mean, averaged by sample count (Keras 3 weights
    the per-batch loss by batch size in its running mean)."""
    C = 4
    model = masked_classifier("sparse_categorical_crossentropy", C)
    ids = masked_ids(10, seed=3)
    labels = np.random.default_rng(4).integers(0, C, (10, T))
    per_batch = [model.evaluate(ids[i:i + 4], labels[i:i + 4], batch_size=4, verbose=0)[0] for i in (0, 4, 8)]
    total = model.evaluate(ids, labels, batch_size=4, verbose=0)[0]
    assert total == pytest.approx((4 * per_batch[0] + 4 * per_batch[1] + 2 * per_batch[2]) / 10, rel=1e-6)


def test_sample_weight_with_mask(seed):
    """Keras 3: sum(l * sw * m) / sum(m); the accuracy ignores sample weights here as bigcore's
    and Keras's compiled (unweighted) metrics do."""
    C, B = 4, 9
    model = masked_classifier("sparse_categorical_crossentropy", C)
    ids = masked_ids(B, seed=8)
    labels = np.random.default_rng(9).integers(0, C, (B, T))
    sw = np.random.default_rng(10).uniform(0.2, 2.0, B)
    p = model.predict(ids, verbose=0).astype(np.float64)
    l = -np.log(np.take_along_axis(p / p.sum(-1, keepdims=True), labels[..., None], -1)[..., 0])
    m = (ids != 0).astype(np.float64)
    want = (l * sw[:, None] * m).sum() / m.sum()
    got = model.evaluate(ids, labels, sample_weight=sw, batch_size=B, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(want, rel=1e-5)
    assert got["accuracy"] == pytest.approx(rref.masked_mean(p.argmax(-1) == labels, m), rel=1e-12)


def test_bidirectional_merge_none_masks_both_outputs(seed):
    model, _, _ = rnn_model("lstm", True, 3, bidi=True, merge_mode=None, return_sequences=True)
    ids = masked_ids(9)
    yf, yb = model.predict(ids, verbose=0)
    tf_, tb = normal(yf.shape, 1), normal(yb.shape, 2)
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    m = ids != 0
    parts = [rref.masked_mean(rref.mse_rows(tf_, yf), m), rref.masked_mean(rref.mse_rows(tb, yb), m)]
    # Keras 3 lists [loss, each output's loss]; both outputs are one layer's, so both losses carry its
    # name ("<layer>_loss") and, as in Keras, the later one is what that name reports
    assert model.evaluate(ids, [tf_, tb], batch_size=9, verbose=0) == pytest.approx([sum(parts), parts[1], parts[1]],
                                                                                   rel=1e-5)


def test_fully_masked_batch_has_zero_loss_and_no_gradient(seed):
    model = masked_classifier("sparse_categorical_crossentropy")
    ids = np.zeros((3, T), np.int64)
    labels = np.ones((3, T), np.int64)
    logs = model.evaluate(ids, labels, verbose=0, return_dict=True)
    assert logs["loss"] == 0.0 and logs["accuracy"] == 0.0
    before = model.get_weights()
    assert model.train_on_batch(ids, labels)[0] == 0.0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_masked_sequence_loss_matches_keras(keras, seed):
    C, B = 4, 9
    model = masked_classifier("sparse_categorical_crossentropy", C)
    inp = keras.Input((T,), dtype="int32")
    x = keras.layers.Embedding(V, D, mask_zero=True)(inp)
    x = keras.layers.LSTM(5, return_sequences=True)(x)
    km = keras.Model(inp, keras.layers.Dense(C, activation="softmax")(x))
    km.set_weights(model.get_weights())
    km.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ids = masked_ids(B, seed=5)
    labels = np.random.default_rng(6).integers(0, C, (B, T))
    got = model.evaluate(ids, labels, batch_size=B, verbose=0)
    want = km.evaluate(ids.astype(np.int32), labels, batch_size=B, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
