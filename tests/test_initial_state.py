"""`initial_state` on SimpleRNN, LSTM, GRU and Bidirectional: the state tensors enter the native recurrent
op, its gradients flow back into whatever produced them, and the encoder-decoder (seq2seq)
pattern matches Keras 3.

References: tests/reference_rnn.py (float64, Keras's masking rule: states start at the given
values, the output before the first unmasked step is zeros). Gradients: one SGD(lr=1) step
against central differences (tests/layer_test.py).
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

RNN = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}
N_STATES = {"lstm": 2, "gru": 1, "simple_rnn": 1}
KINDS = list(RNN)
KERAS_RNN = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}


V = 9  # vocabulary of the masked inputs


def masked_ids(B, T, seed):
    """(B, T) ids in [1, V) with zeros (masked by Embedding(mask_zero)) by mask_pattern's rows:
    holes at the start, middle and end, pre- and post-padding, fully masked, none."""
    ids = np.random.default_rng(seed).integers(1, V, (B, T))
    ids[~mask_pattern(B, T)] = 0
    return ids


def sequences(masking, T, D):
    """(model input, the RNN's input tensor): ids -> Embedding(mask_zero) when masking."""
    if masking:
        inp = bigcore.Input((T,))
        return inp, layers.Embedding(V, D, mask_zero=True)(inp)
    inp = bigcore.Input((T, D))
    return inp, inp


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


# --- forward ---------------------------------------------------------------------------------

def state_call_inputs(masking, T, D, n_states, U):
    """(model inputs, RNN input tensor, call keywords but initial_state, state Inputs).
    masking: "none"; "propagated" (Embedding(mask_zero) ids; Keras 3 does not apply a propagated
    mask in a call with initial_state, see recurrent._call_mask); "explicit" (float x and a
    `mask=` Input of shape (T,), fed 0/1)."""
    s_in = [bigcore.Input((U,)) for _ in range(n_states)]
    if masking == "explicit":
        x_in, m_in = bigcore.Input((T, D)), bigcore.Input((T,))
        return [x_in, m_in] + s_in, x_in, {"mask": m_in}, s_in
    x_in, x = sequences(masking == "propagated", T, D)
    return [x_in] + s_in, x, {}, s_in


def state_call_data(masking, B, T, D, seed):
    """(arrays for the inputs but the states, the mask the computation applies or None)."""
    if masking == "explicit":
        m = mask_pattern(B, T)
        return [normal((B, T, D), seed), m.astype(np.float32)], m
    if masking == "propagated":
        return [masked_ids(B, T, seed)], None
    return [normal((B, T, D), seed)], None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("masking", ["none", "propagated", "explicit"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("B", [3, 40])
def test_forward_from_given_states_matches_reference(seed, kind, masking, go_backwards, return_sequences, B):
    """States as model inputs. With a mask, rows fully masked and masked at the start keep the
    given state and output zeros there (Keras's prev_output starts at zeros). B=40 runs the time
    loop in several row chunks."""
    T, D, U = 6, 4, 5
    ins, x, kw, s_in = state_call_inputs(masking, T, D, N_STATES[kind], U)
    layer = RNN[kind](U, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    outs = layer(x, initial_state=s_in, **kw)
    model = bigcore.Model(ins, outs)
    ws = randomize(model, seed=2)
    data, m = state_call_data(masking, B, T, D, 1)
    xs = rref.embedding_forward(data[0], ws[0])[0] if masking == "propagated" else data[0]
    ws = ws[1:] if masking == "propagated" else ws
    states = [normal((B, U), 10 + i) for i in range(len(s_in))]
    got = model.predict(data + states, verbose=0)
    want = rref.rnn_forward(kind, xs, *ws, mask=m, initial_state=states,
                            return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"output {i}")
    zero = model.predict(data + [np.zeros_like(s) for s in states], verbose=0)
    assert not np.allclose(got[0], zero[0], atol=1e-3)  # the states did act
    if masking == "propagated" and return_sequences:  # the output still carries the mask (for the loss)
        assert outs[0]._mask is x._mask


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_splits_the_states_in_halves(seed, kind, merge_mode):
    T, D, U, B = 5, 3, 4, 7
    ins, x, kw, s_in = state_call_inputs("explicit", T, D, 2 * N_STATES[kind], U)
    layer = layers.Bidirectional(RNN[kind](U, return_sequences=True, return_state=True), merge_mode=merge_mode)
    model = bigcore.Model(ins, layer(x, initial_state=s_in, **kw))
    ws = randomize(model, seed=3)
    data, m = state_call_data("explicit", B, T, D, 4)
    xs = data[0]
    states = [normal((B, U), 20 + i) for i in range(len(s_in))]
    got = model.predict(data + states, verbose=0)
    n = len(ws) // 2
    want = rref.bidirectional_forward(kind, xs, ws[:n], ws[n:], mask=m, merge_mode=merge_mode, return_sequences=True,
                                      return_state=True, initial_state=states)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"output {i}")


@pytest.mark.parametrize("kind", KINDS)
def test_eager_call_takes_state_arrays(seed, kind):
    """layer(numpy, initial_state=[numpy arrays]) as Keras's eager call."""
    T, D, U, B = 4, 3, 5, 6
    layer = RNN[kind](U, return_sequences=True)
    x = normal((B, T, D), 1)
    states = [normal((B, U), 2 + i) for i in range(N_STATES[kind])]
    layer(x)  # builds it
    rng = np.random.default_rng(0)
    ws = [(0.4 * rng.standard_normal(w.shape)).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(ws)
    got = layer(x, initial_state=states)
    want = rref.rnn_forward(kind, x, *ws, initial_state=states, return_sequences=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


# --- gradients into the states ----------------------------------------------------------------

GB, GT, GD, GU = 5, 5, 3, 3


def state_model(kind, bidi=False, masking="explicit", go_backwards=False, return_sequences=False,
                recurrent_dropout=0.0):
    """[z, x (, mask)] -> the states = tanh(Dense(z)) each -> RNN(x, initial_state) -> Dense(2):
    the states are computed, so their gradient reaches the Dense weights that made them.
    masking as state_call_inputs."""
    z_in = bigcore.Input((4,))
    n = N_STATES[kind] * (2 if bidi else 1)
    states = [layers.Dense(GU, activation="tanh")(z_in) for _ in range(n)]
    ins, x, kw, _ = state_call_inputs(masking, GT, GD, 0, GU)
    layer = RNN[kind](GU, go_backwards=go_backwards, return_sequences=return_sequences,
                      recurrent_dropout=recurrent_dropout)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode="concat")
    model = bigcore.Model([z_in] + ins, layers.Dense(2)(layer(x, initial_state=states, **kw)))
    randomize(model, seed=6)
    return model, n


def first_weight(model, layer):
    """The index in model.weights of the layer's first weight."""
    return [id(w) for w in model.weights].index(id(layer.weights[0]))


def of_type(model, cls):
    return next(l for l in model.layers if isinstance(l, cls))


def state_layers(model):
    """The Dense layers that make the initial states, in the order the RNN call lists them."""
    node = next(n for n in model._nodes if "initial_state" in n.call_kwargs)
    return [t.node.layer for t in node.call_kwargs["initial_state"]]


GRAD_CASES = {
    "mask": {},
    "nomask_seq": dict(masking="none", return_sequences=True),
    "bwd_mask_seq": dict(go_backwards=True, return_sequences=True),
    "propagated_seq": dict(masking="propagated", return_sequences=True),  # the loss masked, the RNN not
    "bidi_mask": dict(bidi=True),
    "bidi_mask_seq": dict(bidi=True, return_sequences=True),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_state_gradients_match_finite_differences(seed, kind, case):
    opts = GRAD_CASES[case]
    model, n = state_model(kind, **opts)
    masking, seq, bidi = opts.get("masking", "explicit"), opts.get("return_sequences", False), opts.get("bidi", False)
    data, m = state_call_data(masking, GB, GT, GD, 7)
    z = normal((GB, 4), 8)
    y = normal((GB, GT, 2) if seq else (GB, 2), 9)

    names = [w.path for w in model.weights]
    makers = [first_weight(model, l) for l in state_layers(model)]
    r = first_weight(model, of_type(model, (layers.LSTM, layers.GRU, layers.SimpleRNN, layers.Bidirectional)))
    head = first_weight(model, model.layers[-1])
    emb = first_weight(model, of_type(model, layers.Embedding)) if masking == "propagated" else None

    def loss_fn(ws):
        states = [np.tanh(z @ ws[i] + ws[i + 1]) for i in makers]
        if emb is None:
            x, loss_mask = data[0], m
        else:
            x, loss_mask = rref.embedding_forward(data[0], ws[emb], mask_zero=True)
        if bidi:
            h = rref.bidirectional_forward(kind, x, ws[r:r + 3], ws[r + 3:r + 6], mask=m, initial_state=states,
                                           return_sequences=seq)
        else:
            h = rref.rnn_forward(kind, x, *ws[r:r + 3], mask=m, initial_state=states, return_sequences=seq,
                                 go_backwards=opts.get("go_backwards", False))
        out = rref.dense_forward(h, ws[head], ws[head + 1])
        return rref.masked_mean(rref.mse_rows(y, out), loss_mask if seq else None)

    compile_for_gradients(model)
    ws = model.get_weights()
    value, got = sgd_gradients(model, [z] + data, y)
    np.testing.assert_allclose(value, loss_fn([w.astype(np.float64) for w in ws]), rtol=1e-5)
    assert_gradients_close(got, fd_gradients(loss_fn, ws), names)
    for i in makers:  # every state maker gets a gradient
        assert np.abs(got[i]).max() > 1e-5, names[i]


def seq2seq(kind, T_enc=6, T_dec=5, D=4, U=5, C=4):
    """ids -> Embedding(mask_zero) -> encoder RNN(return_state) -> its states -> decoder
    RNN(initial_state) over its own embedded ids -> Dense softmax per step."""
    enc_in, dec_in = bigcore.Input((T_enc,)), bigcore.Input((T_dec,))
    enc = RNN[kind](U, return_state=True, name="encoder")(layers.Embedding(V, D, mask_zero=True)(enc_in))
    dec = RNN[kind](U, return_sequences=True, name="decoder")
    y = dec(layers.Embedding(V, D, mask_zero=True)(dec_in), initial_state=enc[1:])
    return bigcore.Model([enc_in, dec_in], layers.Dense(C, activation="softmax", name="head")(y))


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_holds_and_trains_the_encoder(seed, kind):
    """The decoder's initial state is the encoder's final state: the model holds the encoder's
    weights, and its gradients (central differences) reach them through the states. The ids
    carry masks: the encoder applies its own, the decoder's call (with initial_state) does not,
    as in Keras 3, but its output carries it to the loss."""
    model = seq2seq(kind, T_enc=4, T_dec=3, D=3, U=3, C=3)
    assert "encoder" in [l.name for l in model.layers]
    ws = randomize(model, seed=11)
    names = [w.path for w in model.weights]
    assert [n.split("/")[0] for n in names].count("encoder") == 3
    B = 5
    ide, idd = masked_ids(B, 4, 12), masked_ids(B, 3, 13)
    idd[3] = [1, 2, 3]  # the fully masked decoder row gets tokens: its state is the encoder's
    y = np.random.default_rng(15).integers(0, 3, (B, 3))
    onehot = np.eye(3)[y]
    at = {l.name: first_weight(model, l) for l in model.layers if l.weights}
    enc_emb = first_weight(model, model.get_layer("encoder")._inbound[0].inputs[0].node.layer)
    dec_emb = first_weight(model, model.get_layer("decoder")._inbound[0].inputs[0].node.layer)

    def loss_fn(w):
        xe, me = rref.embedding_forward(ide, w[enc_emb], True)
        xd, md = rref.embedding_forward(idd, w[dec_emb], True)
        e, d = at["encoder"], at["decoder"]
        _, h, *c = rref.rnn_forward(kind, xe, *w[e:e + 3], mask=me, return_state=True)
        # Keras 3 applies no propagated mask in a call with initial_state; the loss still uses it
        seq = rref.rnn_forward(kind, xd, *w[d:d + 3], initial_state=[h] + c, return_sequences=True)
        p = rref.dense_forward(seq, w[at["head"]], w[at["head"] + 1])
        p = np.exp(p - p.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        rows = -(onehot * np.log(p)).sum(-1)
        return (rows * md).sum() / md.sum()

    compile_for_gradients(model, "sparse_categorical_crossentropy")
    value, got = sgd_gradients(model, [ide, idd], y)
    np.testing.assert_allclose(value, loss_fn([w.astype(np.float64) for w in ws]), rtol=1e-5)
    assert_gradients_close(got, fd_gradients(loss_fn, ws), names)
    for i in (enc_emb, at["encoder"], at["encoder"] + 1):  # the encoder learns
        assert np.abs(got[i]).max() > 1e-4, names[i]


@pytest.mark.parametrize("kind", KINDS)
def test_states_with_recurrent_dropout_train_reproducibly(restore_threads, kind):
    """Recurrent dropout applies to the given initial state as to every h_prev (Keras's cell); the
    same seed gives the same bits with 1 and 3 threads (B=40: three row chunks)."""
    data, _ = state_call_data("explicit", 40, GT, GD, 1)
    z, y = normal((40, 4), 2), normal((40, 2), 3)
    runs = []
    for threads in (1, 3):
        bigcore.config.set_num_threads(threads)
        bigcore.utils.set_random_seed(0)
        model, _ = state_model(kind, recurrent_dropout=0.3)
        before = model.get_weights()
        model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
        for _ in range(2):
            model.train_on_batch([z] + data, y)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    for layer in state_layers(model):  # the state makers trained
        i = first_weight(model, layer)
        assert np.abs(runs[0][i] - before[i]).max() > 1e-6, layer.name


# --- Keras 3 parity -----------------------------------------------------------------------------

def keras_seq2seq(keras, kind, T_enc=6, T_dec=5, D=4, U=5, C=4):
    rnn = getattr(keras.layers, KERAS_RNN[kind])
    enc_in, dec_in = keras.Input((T_enc,), dtype="int32"), keras.Input((T_dec,), dtype="int32")
    enc = rnn(U, return_state=True)(keras.layers.Embedding(V, D, mask_zero=True)(enc_in))
    y = rnn(U, return_sequences=True)(keras.layers.Embedding(V, D, mask_zero=True)(dec_in),
                                      initial_state=list(enc[1:]))
    return keras.Model([enc_in, dec_in], keras.layers.Dense(C, activation="softmax")(y))


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_matches_keras(keras, seed, kind):
    """The same weights give the same predictions; three Adam steps give the same losses,
    accuracies and weights."""
    B, C = 9, 4
    model = seq2seq(kind)
    km = keras_seq2seq(keras, kind)
    assert [w.shape for w in model.weights] == [tuple(w.shape) for w in km.weights]
    km.set_weights(randomize(model, seed=21))
    ide, idd = masked_ids(B, 6, 22), masked_ids(B, 5, 23)
    np.testing.assert_allclose(model.predict([ide, idd], verbose=0),
                               np.asarray(km.predict([ide.astype(np.int32), idd.astype(np.int32)], verbose=0)),
                               rtol=1e-5, atol=1e-6)
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    for step in range(3):
        ide, idd = masked_ids(B, 6, 30 + step), masked_ids(B, 5, 40 + step)
        y = rng.integers(0, C, (B, 5))
        got = model.train_on_batch([ide, idd], y)
        want = km.train_on_batch([ide.astype(np.int32), idd.astype(np.int32)], y)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, err_msg=f"loss, step {step}")
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6, err_msg=f"accuracy, step {step}")
    for i, (g, w) in enumerate(zip(model.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"weight {i}")


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_states_match_keras(keras, seed, kind):
    T, D, U, B = 5, 3, 4, 6
    n = 2 * N_STATES[kind]
    x_in, x = sequences(True, T, D)
    s_in = [bigcore.Input((U,)) for _ in range(n)]
    model = bigcore.Model([x_in] + s_in, layers.Bidirectional(RNN[kind](U, return_sequences=True))(x, initial_state=s_in))
    kx = keras.Input((T,), dtype="int32")
    ks = [keras.Input((U,)) for _ in range(n)]
    rnn = getattr(keras.layers, KERAS_RNN[kind])
    kout = keras.layers.Bidirectional(rnn(U, return_sequences=True))(
        keras.layers.Embedding(V, D, mask_zero=True)(kx), initial_state=ks)
    km = keras.Model([kx] + ks, kout)
    km.set_weights(randomize(model, seed=5))
    ids = masked_ids(B, T, 6)
    states = [normal((B, U), 7 + i) for i in range(n)]
    np.testing.assert_allclose(model.predict([ids] + states, verbose=0),
                               np.asarray(km.predict([ids.astype(np.int32)] + states, verbose=0)),
                               rtol=1e-5, atol=1e-6)


# --- int8 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru"])  # quantize() leaves SimpleRNN float
def test_quantized_seq2seq_uses_the_states(seed, kind):
    """quantize() keeps the call keywords: the int8 decoder starts from the encoder's states. Its
    predictions stay near the float model's, and far from a decoder started at zeros."""
    model = seq2seq(kind)
    randomize(model, seed=31)
    ide, idd = masked_ids(16, 6, 32), masked_ids(16, 5, 33)
    q = bigcore.quantization.quantize(model)
    assert sum(type(l).__name__ in ("QuantizedLSTM", "QuantizedGRU") for l in q.layers) == 2
    want = model.predict([ide, idd], verbose=0)
    got = q.predict([ide, idd], verbose=0)
    np.testing.assert_allclose(got, want, atol=2e-2)
    no_encoder = model.predict([np.zeros_like(ide), idd], verbose=0)
    assert np.abs(want - no_encoder).max() > 10 * np.abs(got - want).max()


# --- refused ---------------------------------------------------------------------------------

def test_wrong_number_of_states_is_refused():
    x = bigcore.Input((4, 3))
    h = bigcore.Input((5,))
    with pytest.raises(ValueError, match=r"expects 2 initial state tensor\(s\) \(\[h, c\]\), got 1"):
        layers.LSTM(5)(x, initial_state=[h])
    with pytest.raises(ValueError, match=r"initial state 0 must have shape \(batch, 5\), got \(None, 6\)"):
        layers.GRU(5)(x, initial_state=bigcore.Input((6,)))
    with pytest.raises(ValueError, match="expects 2 initial state"):
        layers.Bidirectional(layers.GRU(5))(x, initial_state=[h])


def test_gru_takes_a_single_state_tensor(seed):
    x_in, h_in = bigcore.Input((4, 3)), bigcore.Input((5,))
    model = bigcore.Model([x_in, h_in], layers.GRU(5)(x_in, initial_state=h_in))
    ws = randomize(model)
    x, h = normal((3, 4, 3), 1), normal((3, 5), 2)
    np.testing.assert_allclose(model.predict([x, h], verbose=0), rref.rnn_forward("gru", x, *ws, initial_state=[h]),
                               rtol=1e-4, atol=2e-5)


def test_onnx_export_refuses_initial_state_rather_than_dropping_it(tmp_path):
    pytest.importorskip("onnx")
    x_in, h_in = bigcore.Input((4, 3)), bigcore.Input((5,))
    model = bigcore.Model([x_in, h_in], layers.GRU(5)(x_in, initial_state=[h_in]))
    with pytest.raises(NotImplementedError, match=r"call argument\(s\) \['initial_state'\].*layer 'gru"):
        model.export(str(tmp_path / "m.onnx"))
