"""int8 LSTM and GRU (cpp/qrecurrent.*, bigcore.quantization) against NumPy references.

Exactness is checked step by step: the reference quantizes x and h_prev by quant.h's rule,
multiplies in integers, dequantizes in float32 as the epilogue does, and runs the cell in float64,
with h_prev taken from the native layer's own previous output (teacher forcing). Re-quantizing a
free-running float64 h would flip an int8 rounding now and then (h differs from the native
float32 h in the last ulp), and one flipped step moves the rest of the sequence by ~1e-3; forced
steps leave only the cell's float rounding, so the tolerance is 1e-5. The option variants
(return_state, last output, Bidirectional) must then equal the sequence model's bits exactly.
"""

import os

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore._native import _core
from bigcore.quantization import QuantizedGRU, QuantizedLSTM, quantize
from reference_quant import QISAS, SUPPORTED, forced, qrnn_steps, quantize_weights_np

RNN = {"lstm": layers.LSTM, "gru": layers.GRU}
QRNN = {"lstm": QuantizedLSTM, "gru": QuantizedGRU}


@pytest.fixture(params=QISAS)
def qisa(request):
    if request.param not in SUPPORTED:
        pytest.skip(f"this CPU cannot run the {request.param} int8 path")
    with forced(request.param):
        yield request.param


# ---- models and data --------------------------------------------------------------------------

def float_model(kind, D, U, T, mask=False, seed=0, **rnn_kw):
    """Input (B, T, D) -> LSTM/GRU(U); with mask, ids (B, T) -> Embedding(mask_zero) -> the layer.
    Random biases so every gate's bias matters."""
    bigcore.utils.set_random_seed(seed)
    if mask:
        inp = layers.Input(shape=(T,))
        x = layers.Embedding(13, D, mask_zero=True, embeddings_initializer="random_normal")(inp)
    else:
        inp = x = layers.Input(shape=(T, D))
    layer = RNN[kind](U, **rnn_kw)
    model = bigcore.Model(inp, layer(x))
    if layer.use_bias:
        rng = np.random.default_rng(seed + 1)
        ws = layer.get_weights()
        ws[2] = rng.normal(scale=0.5, size=ws[2].shape).astype(np.float32)
        layer.set_weights(ws)
    return model, layer


def same_weights(model, kind, D, U, T, mask=False, **rnn_kw):
    """Another float model of the same weights, with other layer options."""
    other, _ = float_model(kind, D, U, T, mask=mask, **rnn_kw)
    other.set_weights(model.get_weights())
    return other


def inputs(B, T, D, mask=False, seed=3):
    rng = np.random.default_rng(seed)
    if not mask:
        return rng.normal(scale=1.5, size=(B, T, D)).astype(np.float32)
    ids = rng.integers(1, 13, size=(B, T)).astype(np.float32)
    ids[rng.random((B, T)) < 0.3] = 0  # masked steps anywhere, first and last included
    ids[0, 0] = ids[0, -1] = 0
    if B > 2:
        ids[-1, :] = 0                 # a fully masked row
    return ids


def layer_input(model, x, mask):
    """(the recurrent layer's input (B, T, D), its mask (B, T) or None)."""
    if not mask:
        return x, None
    table = model.layers[1].get_weights()[0]
    return table[x.astype(np.int64)], x != 0


# ---- the reference: one step of int8 math, h_prev from the native layer (reference_quant.py) ------

def int8_steps(kind, qlayer, x, h_seq, mask=None, go_backwards=False):
    """Each step's output and the final cell state of `qlayer`, as cpp/qrecurrent.h computes them."""
    return qrnn_steps(kind, x, qlayer.kernel.value, qlayer.recurrent_kernel.value,
                      qlayer.bias.value if qlayer.use_bias else None, qlayer.kernel_scale.value,
                      qlayer.recurrent_scale.value, h_seq, mask, go_backwards, qlayer.activation_scale)


# ---- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_weights_are_per_column_int8(kind):
    model, layer = float_model(kind, 7, 9, 4)
    q = quantize(model)
    ql = q.layers[1]
    assert type(ql) is QRNN[kind]
    for w, wq, s in ((layer.kernel, ql.kernel, ql.kernel_scale),
                     (layer.recurrent_kernel, ql.recurrent_kernel, ql.recurrent_scale)):
        want_q, want_s = quantize_weights_np(w.value)
        assert wq.value.dtype == np.int8
        np.testing.assert_array_equal(wq.value, want_q)
        np.testing.assert_array_equal(s.value, want_s)
    np.testing.assert_array_equal(ql.bias.value, layer.bias.value)
    assert q.trainable_weights == []


SIZES = [(1, 1, 3, 1), (3, 6, 5, 9), (40, 5, 33, 17)]  # B, T, D, U: odd, and B > 16 (two chunks)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("B,T,D,U", SIZES)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", [False, True])
def test_steps_match_the_int8_reference(qisa, kind, B, T, D, U, go_backwards, mask):
    model, _ = float_model(kind, D, U, T, mask=mask, return_sequences=True, return_state=True,
                           go_backwards=go_backwards)
    q = quantize(model)
    x = inputs(B, T, D, mask)
    seq, h, *c = q.predict(x, verbose=0)
    xin, m = layer_input(model, x, mask)
    want, c_ref = int8_steps(kind, q.layers[-1], xin, seq, m, go_backwards)
    np.testing.assert_allclose(seq, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(h, seq[:, -1])
    if kind == "lstm":
        np.testing.assert_allclose(c[0], c_ref, rtol=0, atol=1e-5)
    if mask and B > 2:  # a fully masked row keeps its zero state
        assert not seq[-1].any() and not h[-1].any()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_without_bias(kind):
    B, T, D, U = 5, 4, 7, 6
    model, _ = float_model(kind, D, U, T, return_sequences=True, use_bias=False)
    q = quantize(model)
    assert q.layers[-1].bias is None and len(q.layers[-1].weights) == 4
    x = inputs(B, T, D)
    seq = q.predict(x, verbose=0)
    np.testing.assert_allclose(seq, int8_steps(kind, q.layers[-1], x, seq)[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_calibrated_input_scale(qisa, kind):
    B, T, D, U = 12, 5, 6, 8
    model, _ = float_model(kind, D, U, T, return_sequences=True)
    x = inputs(B, T, D)
    q = quantize(model, calibration_data=x)
    ql = q.layers[-1]
    assert ql.activation_scale == pytest.approx(np.abs(x).max() / 127, rel=1e-6)
    x2 = inputs(B, T, D, seed=9) * np.float32(1.5)  # beyond the calibrated range: clamps
    seq = q.predict(x2, verbose=0)
    np.testing.assert_allclose(seq, int8_steps(kind, ql, x2, seq)[0], rtol=0, atol=1e-5)
    # with its own data, calibrated and dynamic scales answer alike
    dyn = quantize(model).predict(x, verbose=0)
    assert np.abs(q.predict(x, verbose=0) - dyn).max() < 0.05


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", [False, True])
def test_output_options_agree_with_the_sequence(kind, go_backwards, mask):
    B, T, D, U = 20, 6, 5, 7
    x = inputs(B, T, D, mask)
    base, _ = float_model(kind, D, U, T, mask=mask, return_sequences=True, go_backwards=go_backwards)
    seq = quantize(base).predict(x, verbose=0)
    last = quantize(same_weights(base, kind, D, U, T, mask, go_backwards=go_backwards)).predict(x, verbose=0)
    np.testing.assert_array_equal(last, seq[:, -1])
    states = quantize(same_weights(base, kind, D, U, T, mask, go_backwards=go_backwards,
                                   return_state=True)).predict(x, verbose=0)
    assert len(states) == (3 if kind == "lstm" else 2)
    np.testing.assert_array_equal(states[0], seq[:, -1])
    np.testing.assert_array_equal(states[1], seq[:, -1])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("mask", [False, True])
def test_bidirectional_is_both_directions(kind, mask):
    """concat(forward, backward re-reversed), zeros at masked steps: as Keras with the same
    quantized sub-layers run alone."""
    B, T, D, U = 18, 7, 6, 5
    x = inputs(B, T, D, mask)
    bigcore.utils.set_random_seed(4)
    if mask:
        inp = layers.Input(shape=(T,))
        h = layers.Embedding(13, D, mask_zero=True, embeddings_initializer="random_normal")(inp)
    else:
        inp = h = layers.Input(shape=(T, D))
    bi = bigcore.Model(inp, layers.Bidirectional(RNN[kind](U, return_sequences=True))(h))
    qbi = quantize(bi)
    assert type(qbi.layers[-1].forward_layer) is QRNN[kind] and type(qbi.layers[-1].backward_layer) is QRNN[kind]
    got = qbi.predict(x, verbose=0)
    n = len(bi.layers[-1].forward_layer.get_weights())
    halves = []
    for go_backwards, ws in ((False, bi.get_weights()[:-n]), (True, bi.get_weights()[:-2 * n] + bi.get_weights()[-n:])):
        one, _ = float_model(kind, D, U, T, mask=mask, return_sequences=True, go_backwards=go_backwards)
        one.set_weights(ws)
        halves.append(quantize(one).predict(x, verbose=0))
    want = np.concatenate([halves[0], halves[1][:, ::-1]], axis=-1)
    if mask:
        want = np.where((x != 0)[:, :, None], want, 0.0)
    np.testing.assert_array_equal(got, want)
    if kind == "lstm":  # and close to the float layer
        assert np.abs(got - bi.predict(x, verbose=0)).max() < 0.05


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_every_int8_path_gives_the_same_bits(kind):
    model, _ = float_model(kind, 19, 21, 8, mask=True, return_sequences=True)
    q = quantize(model)
    x = inputs(33, 8, 19, mask=True)
    outs = {}
    for isa in SUPPORTED:
        with forced(isa):
            outs[isa] = q.predict(x, verbose=0)
    for isa in SUPPORTED:
        np.testing.assert_array_equal(outs[isa], outs["ref"], err_msg=isa)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_close_to_the_float_layer(kind):
    """Stated bound: with per-channel int8 weights and per-row int8 activations (steps of
    max|row| / 127), the outputs of these layers (|h| < 1) stay within 0.03 of the float layer's
    over 20 steps, and within 0.01 on average."""
    B, T, D, U = 64, 20, 16, 32
    model, _ = float_model(kind, D, U, T, return_sequences=True)
    x = inputs(B, T, D)
    err = np.abs(quantize(model).predict(x, verbose=0) - model.predict(x, verbose=0))
    assert err.max() < 0.03 and err.mean() < 0.01, (err.max(), err.mean())


def test_rows_do_not_depend_on_the_batch():
    model, _ = float_model("lstm", 10, 12, 6, return_sequences=True)
    q = quantize(model)
    x = inputs(50, 6, 10)
    full = q.predict(x, verbose=0)
    for lo, hi in [(0, 1), (7, 8), (3, 40), (49, 50)]:
        np.testing.assert_array_equal(q.predict(x[lo:hi], verbose=0), full[lo:hi])



@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_large_batches_project_step_by_step_with_the_same_bits(kind):
    # B*T*G*U floats over 2 MB: the input projection runs per step on strided rows (recurrent.cpp)
    model, _ = float_model(kind, 10, 64, 20, mask=True, return_sequences=True)
    q = quantize(model)
    x = inputs(160, 20, 10, mask=True)
    full = q.predict(x, batch_size=160, verbose=0)
    for lo, hi in [(0, 8), (77, 80), (152, 160)]:
        np.testing.assert_array_equal(q.predict(x[lo:hi], verbose=0), full[lo:hi])

def _mlp():
    bigcore.utils.set_random_seed(2)
    m = bigcore.Sequential([layers.Input(shape=(300,)), layers.Dense(200, activation="relu"),
                            layers.Dense(130, activation="tanh"), layers.Dense(10, activation="softmax")])
    return m, np.random.default_rng(5).normal(size=(300, 300)).astype(np.float32)


def _lstm():
    bigcore.utils.set_random_seed(2)
    m = bigcore.Sequential([layers.Input(shape=(12,)), layers.Embedding(50, 24, mask_zero=True),
                            layers.LSTM(40, return_sequences=True), layers.GRU(20), layers.Dense(3)])
    x = np.random.default_rng(5).integers(0, 50, (100, 12)).astype(np.float32)
    return m, x


@pytest.mark.parametrize("make", [_mlp, _lstm], ids=["mlp", "lstm"])
def test_predict_bits_do_not_depend_on_thread_count(restore_threads, make):
    model, x = make()
    q = quantize(model)
    runs = []
    for n in (1, 2, 3):
        bigcore.config.set_num_threads(n)
        runs.append(q.predict(x, batch_size=64, verbose=0))
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])


def test_quantized_lstm_saves_int8_and_loads_identically(tmp_path):
    model, x = _lstm()
    model.compile(optimizer="adam", loss="mse")
    q = quantize(model)
    path = tmp_path / "q.bigcore"
    q.save(str(path))
    again = bigcore.models.load_model(str(path))
    assert [type(layer) for layer in again.layers] == [type(layer) for layer in q.layers]
    assert again.layers[1].kernel.value.dtype == np.int8 and again.layers[1].recurrent_kernel.value.dtype == np.int8
    np.testing.assert_array_equal(again.predict(x, verbose=0), q.predict(x, verbose=0))
    assert np.isfinite(again.evaluate(x, np.zeros((len(x), 3), np.float32), verbose=0))


def test_quantized_lstm_file_is_about_4x_smaller(tmp_path):
    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([layers.Input(shape=(10, 64)), layers.LSTM(128), layers.Dense(8)])
    q = quantize(model)
    sizes = []
    for m, name in ((model, "f"), (q, "q")):
        m.save(str(tmp_path / f"{name}.bigcore"))
        sizes.append(os.path.getsize(tmp_path / f"{name}.bigcore"))
    assert 3.4 < sizes[0] / sizes[1] < 4.1, sizes


def test_training_a_quantized_lstm_is_refused():
    model, x = _lstm()
    model.compile(optimizer="adam", loss="mse")
    q = quantize(model)
    y = np.zeros((len(x), 3), np.float32)
    with pytest.raises(ValueError, match="quantized model is for inference"):
        q.train_on_batch(x[:8], y[:8])
    assert np.isfinite(q.evaluate(x, y, verbose=0))
    assert np.isfinite(q.predict(x[:8], verbose=0)).all()


def test_bad_activation_scale_and_arrays_are_refused():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="activation_scale"):
            QuantizedLSTM(4, activation_scale=bad)
    prog = _core.Program()
    x = prog.add_tensor(3 * 5, True)
    out = prog.add_tensor(4, False)
    ok = {"wq": np.zeros((5, 16), np.int8), "w_scale": np.ones(16, np.float32), "rq": np.zeros((4, 16), np.int8),
          "r_scale": np.ones(16, np.float32)}
    bad_cases = [{"wq": np.zeros((5, 16), np.float32)}, {"wq": np.zeros((5, 12), np.int8)},
                 {"rq": np.zeros((4, 16), np.int16)}, {"w_scale": np.ones(15, np.float32)},
                 {"r_scale": np.ones(16, np.float64)}, {"r_scale": np.zeros(16, np.float32)}]
    for case in bad_cases:
        args = {**ok, **case}
        with pytest.raises(ValueError):
            _core.add_qrecurrent(prog, "lstm", x, -1, [out], args["wq"], args["w_scale"], args["rq"],
                                 args["r_scale"], -1, 5, 4, 3, 3, 2, False, False, False, False, False, 0.0)
    with pytest.raises(ValueError, match="kind"):
        _core.add_qrecurrent(prog, "rnn", x, -1, [out], *ok.values(), -1, 5, 4, 3, 3, 2,
                             False, False, False, False, False, 0.0)


def test_new_int8_weights_take_effect_after_predict(tmp_path):
    """The ops hold copies of the int8 kernels and scales: assigning them (set_weights,
    load_weights) after the model ran must re-lower it, never leave the old copies in use."""
    model, x = _lstm()
    model.compile(optimizer="adam", loss="mse")
    q = quantize(model)
    before = q.predict(x, verbose=0)
    path = str(tmp_path / "q.weights.safetensors")
    q.save_weights(path)
    ws = q.get_weights()
    ws = [(w // 2).astype(np.int8) if w.dtype == np.int8 else w for w in ws]
    q.set_weights(ws)
    fresh = quantize(model)
    fresh.set_weights(ws)
    halved = q.predict(x, verbose=0)
    assert np.abs(halved - before).max() > 1e-3
    np.testing.assert_array_equal(halved, fresh.predict(x, verbose=0))
    q.load_weights(path)
    np.testing.assert_array_equal(q.predict(x, verbose=0), before)
    assert np.isfinite(q.evaluate(x, np.zeros((len(x), 3), np.float32), verbose=0))


@pytest.mark.parametrize("bidi", [False, True])
def test_simple_rnn_stays_float_in_quantize(bidi):
    """quantize() converts the LSTM and Dense around a SimpleRNN and leaves the SimpleRNN float
    (weights and outputs unchanged), inside Bidirectional too."""
    inp = bigcore.Input((6, 4))
    rnn = layers.SimpleRNN(5, return_sequences=True)
    x = (layers.Bidirectional(rnn) if bidi else rnn)(inp)
    model = bigcore.Model(inp, [x, layers.Dense(3)(layers.LSTM(4)(x))])
    x_in = np.random.default_rng(0).standard_normal((7, 6, 4)).astype(np.float32)
    q = quantize(model)
    kinds = [type(layer).__name__ for layer in q.layers]
    assert "QuantizedLSTM" in kinds and "QuantizedDense" in kinds
    first = q.layers[1]
    assert type(first).__name__ == ("Bidirectional" if bidi else "SimpleRNN")
    for a, b in zip(first.get_weights(), model.layers[1].get_weights()):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    (seq, out), (qseq, qout) = model.predict(x_in, verbose=0), q.predict(x_in, verbose=0)
    np.testing.assert_array_equal(qseq, seq)
    assert np.abs(qout - out).max() > 0  # the int8 LSTM and Dense did run
    np.testing.assert_allclose(qout, out, atol=0.05)
