"""GRU(reset_after=False) and GRUCell(reset_after=False): the reset gate multiplies h_prev before the
candidate's recurrent product, one bias (3U,) (cpp/ops/gru.h, GruBeforeOp). Against the float64
reference (tests/reference_rnn.py, kind "gru_reset_before"), central differences, Keras 3, and
through saving and ONNX export. Gradients are read off one SGD(1) step (layer_test.py's rule);
input gradients through an Embedding table or a Dense layer before the GRU."""

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers, optimizers, saving
from bigcore.quantization import quantize
from layer_test import assert_gradients_close, compile_for_gradients, fd_gradients, sgd_gradients
from rnn_inputs import normal, randomize

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

T, D, V, U = 6, 4, 9, 5
KIND = "gru_reset_before"


def masked_ids(B, seed=0):
    """(B, T) ids with zeros at the start, in the middle, at the end, a fully masked row."""
    ids = np.random.default_rng(seed).integers(1, V, size=(B, T))
    for b in range(B):
        k = b % 4
        if k == 0:
            ids[b, :2] = 0
            ids[b, T // 2] = 0
        elif k == 1:
            ids[b, -2:] = 0
        elif k == 2:
            ids[b] = 0
    return ids


def gru_model(masking, bidi=None, **kw):
    if masking:
        inp = bigcore.Input((T,))
        x = layers.Embedding(V, D, mask_zero=True)(inp)
    else:
        inp = x = bigcore.Input((T, D))
    layer = layers.GRU(U, reset_after=False, **kw)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode=bidi)
    model = bigcore.Model(inp, layer(x))
    randomize(model)
    return model


def data_for(masking, B, seed=0):
    return masked_ids(B, seed) if masking else normal((B, T, D), seed)


def features(masking, data, ws):
    """(x, mask, the GRU's weights) as the reference takes them."""
    if masking:
        x, mask = rref.embedding_forward(data, ws[0], mask_zero=True)
        return x, mask, ws[1:]
    return np.asarray(data, np.float64), None, ws


def gru_weights(ws, use_bias=True):
    return ws[0], ws[1], ws[2] if use_bias else None


def as_list(v):
    return v if isinstance(v, list) else [v]


def assert_close(got, want, rtol=1e-4, atol=2e-5):
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# --- layout and config ----------------------------------------------------------------------

def test_weight_layout_and_config():
    layer = layers.GRU(U, reset_after=False)
    layer.build((None, T, D))
    assert [w.shape for w in layer.weights] == [(D, 3 * U), (U, 3 * U), (3 * U,)]
    cfg = layer.get_config()
    assert cfg["reset_after"] is False
    again = layers.GRU.from_config(cfg)
    assert again.reset_after is False
    default = layers.GRU(U)
    default.build((None, T, D))
    assert default.reset_after is True and default.bias.shape == (2, 3 * U)


# --- forward against the reference ---------------------------------------------------------

FORWARD_CASES = {
    "last": dict(),
    "seq": dict(return_sequences=True),
    "mask_seq_state": dict(masking=True, return_sequences=True, return_state=True),
    "backwards": dict(go_backwards=True),
    "mask_backwards_seq": dict(masking=True, go_backwards=True, return_sequences=True),
    "nobias_acts": dict(use_bias=False, activation="sigmoid", recurrent_activation="hard_sigmoid",
                        return_sequences=True),
}


@pytest.mark.parametrize("case", list(FORWARD_CASES))
def test_forward_matches_reference(case):
    kw = dict(FORWARD_CASES[case])
    masking = kw.pop("masking", False)
    use_bias = kw.pop("use_bias", True)
    model = gru_model(masking, use_bias=use_bias, **kw)
    data = data_for(masking, 9)
    x, mask, ws = features(masking, data, model.get_weights())
    want = rref.rnn_forward(KIND, x, *gru_weights(ws, use_bias), mask=mask, **kw)
    assert_close(model.predict(data, verbose=0), want)


def test_initial_state_and_large_batch_inference():
    """initial_state; and a batch large enough that inference projects per step (step_proj_)."""
    inp, h0 = bigcore.Input((T, D)), bigcore.Input((U,))
    out = layers.GRU(U, reset_after=False, return_sequences=True, return_state=True)(inp, initial_state=[h0])
    model = bigcore.Model([inp, h0], out)
    ws = randomize(model)
    for B in (3, 900):
        x, s = normal((B, T, D), 1), normal((B, U), 2, 0.5)
        want = rref.rnn_forward(KIND, x, *ws, initial_state=[s], return_sequences=True, return_state=True)
        assert_close(model.predict([x, s], batch_size=B, verbose=0), want)


def test_variable_length_and_few_rows_on_two_threads(restore_threads):
    """Input((None, D)): T read per call; a batch of 2 with 64 units on two threads (where an LSTM or a
    reset_after=True GRU takes the unit split, this layer runs the chunked loop)."""
    bigcore.config.set_num_threads(2)
    inp = bigcore.Input((None, D))
    model = bigcore.Model(inp, layers.GRU(64, reset_after=False, return_sequences=True)(inp))
    ws = randomize(model)
    for B, steps in ((2, 3), (2, 9), (7, 5)):
        x = normal((B, steps, D), steps)
        assert_close(model.predict(x, batch_size=B, verbose=0), rref.rnn_forward(KIND, x, *ws, return_sequences=True))


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_bidirectional_forward(merge_mode):
    model = gru_model(True, bidi=merge_mode, return_sequences=True)
    data = data_for(True, 8)
    x, mask, ws = features(True, data, model.get_weights())
    want = rref.bidirectional_forward(KIND, x, ws[0:3], ws[3:6], mask=mask, merge_mode=merge_mode,
                                      return_sequences=True)
    assert_close(model.predict(data, verbose=0), want)


def test_gru_cell_in_rnn():
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, layers.RNN(layers.GRUCell(U, reset_after=False), return_sequences=True)(inp))
    ws = randomize(model)
    assert ws[2].shape == (3 * U,)
    x = normal((4, T, D), 3)
    assert_close(model.predict(x, verbose=0), rref.rnn_forward(KIND, x, *ws, return_sequences=True))


def test_stateful_continues_the_sequence():
    p1, p2 = normal((4, T, D), 1), normal((4, T, D), 2)
    layer = layers.GRU(3, reset_after=False, stateful=True)
    layer(p1)
    second = layer(p2)
    whole = layers.GRU(3, reset_after=False)
    whole.build((None, 2 * T, D))
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(second, whole(np.concatenate([p1, p2], axis=1)), rtol=1e-5, atol=1e-6)


def test_every_isa_and_thread_count(restore_threads, restore_isa, supported_isas):
    """The same bits on every path and thread count (chunks of fixed rows)."""
    model = gru_model(True, return_sequences=True)
    data = data_for(True, 40)
    runs = []
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2):
            bigcore.config.set_num_threads(threads)
            runs.append(model.predict(data, batch_size=40, verbose=0))
    x, mask, ws = features(True, data, model.get_weights())
    assert_close(runs[0], rref.rnn_forward(KIND, x, *ws, mask=mask, return_sequences=True))
    for r in runs[1:]:
        np.testing.assert_allclose(r, runs[0], rtol=1e-6, atol=1e-7)


# --- gradients by central differences -------------------------------------------------------

GB, GO = 5, 2
GRAD_CASES = {
    "mask": dict(masking=True),
    "mask_seq": dict(masking=True, return_sequences=True),
    "dense_in_seq": dict(masking=False, return_sequences=True),
    "backwards_mask_seq": dict(masking=True, go_backwards=True, return_sequences=True),
    "nobias_acts": dict(masking=True, use_bias=False, activation="sigmoid", recurrent_activation="tanh"),
    "bidi_concat": dict(masking=True, bidi="concat"),
}


@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_gradients_match_finite_differences(case):
    kw = dict(GRAD_CASES[case])
    masking, bidi = kw.pop("masking"), kw.pop("bidi", None)
    use_bias, seq = kw.get("use_bias", True), kw.get("return_sequences", False)
    if masking:
        inp = bigcore.Input((T,))
        x = layers.Embedding(V, D, mask_zero=True)(inp)
    else:  # a Dense before the GRU: its kernel's gradient needs dL/dx of the GRU
        inp = bigcore.Input((T, D))
        x = layers.Dense(D)(inp)
    layer = layers.GRU(3, reset_after=False, **kw)
    if bidi:
        layer = layers.Bidirectional(layer, merge_mode=bidi)
    model = bigcore.Model(inp, layers.Dense(GO)(layer(x)))
    randomize(model, seed=7)
    data = masked_ids(GB, seed=2) if masking else normal((GB, T, D), 2)
    y = normal((GB, T, GO) if seq else (GB, GO), 3)
    rk = {k: kw[k] for k in ("activation", "recurrent_activation", "return_sequences", "go_backwards") if k in kw}

    def loss_fn(ws):
        if masking:
            xe, mask = rref.embedding_forward(data, ws[0], True)
        else:
            xe, mask = rref.dense_forward(np.asarray(data, np.float64), ws[0], ws[1]), None
        h, (kernel, bias) = rref.forward_from_weights(KIND, xe, ws[1 if masking else 2:], use_bias, bool(bidi), bidi,
                                                      mask=mask, **rk)
        out = rref.dense_forward(h, kernel, bias)
        return rref.masked_mean(rref.mse_rows(y, out), mask if seq else None)

    compile_for_gradients(model)
    ws = model.get_weights()
    value, got = sgd_gradients(model, data, y)
    np.testing.assert_allclose(value, loss_fn([w.astype(np.float64) for w in ws]), rtol=1e-5)
    assert_gradients_close(got, fd_gradients(loss_fn, ws), [w.path for w in model.weights])
    assert all(np.abs(g).max() > 1e-5 for g in got)  # every weight, inputs' (table / Dense) included


def test_gradient_through_initial_state():
    inp, h0 = bigcore.Input((T, D)), bigcore.Input((U,))
    h0d = layers.Dense(U)(h0)  # its kernel's gradient needs dL/dh_0
    out = layers.GRU(U, reset_after=False)(inp, initial_state=[h0d])
    model = bigcore.Model([inp, h0], layers.Dense(GO)(out))
    randomize(model, seed=5)
    x, s, y = normal((GB, T, D), 1), normal((GB, U), 2), normal((GB, GO), 3)

    def loss_fn(ws):
        h = rref.rnn_forward(KIND, x, *ws[2:5], initial_state=[rref.dense_forward(s, ws[0], ws[1])])
        return rref.masked_mean(rref.mse_rows(y, rref.dense_forward(h, ws[5], ws[6])))

    compile_for_gradients(model)
    ws = model.get_weights()
    _, got = sgd_gradients(model, [x, s], y)
    assert_gradients_close(got, fd_gradients(loss_fn, ws), [w.path for w in model.weights])


def test_dropout_gradient_matches_its_own_loss():
    """With dropout and recurrent_dropout the masks are keyed by (seed, step): pinning
    optimizer.iterations replays them, so the SGD(1) step is the gradient of that training loss
    (central differences of the native loss along a random direction)."""
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, D, mask_zero=True)(inp)
    x = layers.GRU(6, reset_after=False, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)(x)
    model = bigcore.Model(inp, layers.Dense(2)(x))
    randomize(model, seed=9)
    model.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    ids, y = masked_ids(9), normal((9, T, 2), 1)
    w0 = model.get_weights()
    sizes = [w.size for w in w0]

    def loss_at(flat, lr):
        parts = np.split(flat.astype(np.float32), np.cumsum(sizes)[:-1])
        model.set_weights([p.reshape(w.shape) for p, w in zip(parts, w0)])
        model.optimizer.learning_rate = lr
        model.optimizer.iterations = 5
        return model.train_on_batch(ids, y)

    wf = np.concatenate([w.ravel() for w in w0]).astype(np.float64)
    loss0 = loss_at(wf, 1.0)
    g = wf - np.concatenate([w.ravel() for w in model.get_weights()])
    assert loss_at(wf, 0.0) == loss0
    assert model.predict(ids, verbose=0).shape == (9, T, 2)
    v = np.random.default_rng(1).standard_normal(wf.size)
    v /= np.linalg.norm(v)
    h = 1e-2
    fd = (loss_at(wf + h * v, 0.0) - loss_at(wf - h * v, 0.0)) / (2 * h)
    assert g @ v == pytest.approx(fd, rel=5e-3, abs=5e-4 * np.linalg.norm(g))


# --- Keras 3 ----------------------------------------------------------------------------------

KERAS_CASES = {
    "seq": dict(masking=False, return_sequences=True),
    "mask_seq": dict(masking=True, return_sequences=True),
    "backwards": dict(masking=False, go_backwards=True),
    "mask_backwards": dict(masking=True, go_backwards=True),
}


def keras_weights(km):
    return [w.value.detach().cpu().numpy() for w in km.weights]


def keras_model(keras, masking, head=None, **kw):
    if masking:
        inp = keras.Input((T,), dtype="int32")
        x = keras.layers.Embedding(V, D, mask_zero=True)(inp)
    else:
        inp = x = keras.Input((T, D))
    out = keras.layers.GRU(U, reset_after=False, **kw)(x)
    if head:
        out = keras.layers.Dense(head, activation="softmax")(out)
    return keras.Model(inp, out)


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_forward_matches_keras(keras, case):
    kw = dict(KERAS_CASES[case])
    masking = kw.pop("masking")
    model = gru_model(masking, **kw)
    km = keras_model(keras, masking, **kw)
    assert [w.shape for w in km.weights] == [w.shape for w in model.get_weights()]
    km.set_weights(model.get_weights())
    data = data_for(masking, 8, seed=4)
    want = np.asarray(km(data.astype(np.int32) if masking else data).detach().cpu().numpy())
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(KERAS_CASES))
def test_adam_training_matches_keras(keras, case):
    kw = dict(KERAS_CASES[case])
    masking = kw.pop("masking")
    C, B, seq = 3, 8, kw.get("return_sequences", False)
    base = gru_model(masking, **kw)
    model = bigcore.Model(base.inputs[0], layers.Dense(C, activation="softmax")(base.outputs[0]))
    randomize(model, seed=4)
    km = keras_model(keras, masking, head=C, **kw)
    km.set_weights(model.get_weights())
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    for step in range(3):
        data = data_for(masking, B, seed=step)
        y = rng.integers(0, C, (B, T) if seq else (B,))
        got = model.train_on_batch(data, y)
        want = km.train_on_batch(data.astype(np.int32) if masking else data, y)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"loss, step {step}")
    for i, (g, w) in enumerate(zip(model.get_weights(), keras_weights(km))):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"weight {i}")


def test_keras_reads_our_keras_file(keras, tmp_path):
    model = gru_model(True, return_sequences=True)
    model.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    assert km.layers[-1].get_config()["reset_after"] is False
    for a, b in zip(model.get_weights(), keras_weights(km)):
        np.testing.assert_array_equal(a, b)
    data = data_for(True, 6)
    want = km(data.astype(np.int32)).detach().cpu().numpy()
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_we_read_a_keras_file(keras, tmp_path):
    keras.utils.set_random_seed(2)
    km = keras_model(keras, True, return_sequences=True)
    km.layers[-1].cell.bias.assign(normal((3 * U,), 5, 0.5))  # Keras's zeros would hide a misplaced bias
    km.save(tmp_path / "theirs.keras")
    model = saving.load_model(tmp_path / "theirs.keras")
    assert model.layers[-1].reset_after is False
    for a, b in zip(model.get_weights(), keras_weights(km)):
        np.testing.assert_array_equal(a, b)
    data = data_for(True, 6)
    want = km(data.astype(np.int32)).detach().cpu().numpy()
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)


# --- files, quantization, ONNX --------------------------------------------------------------

@pytest.mark.parametrize("name", ["m.keras", "m.bigcore"])
def test_save_and_load_round_trip(tmp_path, name):
    model = gru_model(True, bidi="concat", return_sequences=True)
    data = data_for(True, 5)
    want = model.predict(data, verbose=0)
    model.save(tmp_path / name)
    loaded = saving.load_model(tmp_path / name)
    gru = loaded.layers[-1].forward_layer
    assert gru.reset_after is False and gru.bias.shape == (3 * U,)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), want)


def test_weights_h5_round_trip(tmp_path):
    model = gru_model(False, return_sequences=True)
    model.save_weights(tmp_path / "m.weights.h5")
    other = gru_model(False, return_sequences=True)
    randomize(other, seed=11)
    other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_int8_quantization_is_refused():
    with pytest.raises(NotImplementedError, match="reset_after=False"):
        quantize(gru_model(False))


@pytest.mark.parametrize("masking", [False, True])
def test_onnx_export_is_linear_before_reset_0(masking):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = gru_model(masking, return_sequences=True, go_backwards=masking)
    proto = bigcore.export.to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    (node,) = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert {a.name: a.i for a in node.attribute}["linear_before_reset"] == 0
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    data = data_for(masking, 5)
    feed = data.astype(np.int64) if masking else data
    got = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    np.testing.assert_allclose(got, model.predict(data, verbose=0), rtol=1e-5, atol=1e-5)
