"""ONNX export: every exported model passes onnx.checker and, run in onnxruntime on random inputs
at batch sizes 1 and 7 (one file, a dynamic batch), answers what model.predict answers: within
1e-5 for float models, within the stated rounding bound for int8 ones.
"""

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers
from bigcore.quantization import QuantizedDense, quantize

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

BATCHES = (1, 7)


def session(model, **kw):
    proto = bigcore.export.to_onnx(model, **kw)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return proto, sess


def run(sess, xs):
    feeds = {}
    for spec, x in zip(sess.get_inputs(), xs):
        feeds[spec.name] = x.astype(np.int64) if spec.type == "tensor(int64)" else x.astype(np.float32)
    return sess.run(None, feeds)


def predict(model, xs):
    out = model.predict(xs if len(xs) > 1 else xs[0], batch_size=len(xs[0]), verbose=0)
    return out if isinstance(out, list) else [out]


def check(model, make_inputs, atol=1e-5, reference=None, **kw):
    """Exports `model` once and compares onnxruntime with model.predict (or reference.predict) at
    every batch size."""
    proto, sess = session(model, **kw)
    dims = [i.type.tensor_type.shape.dim[0] for i in proto.graph.input] + \
           [o.type.tensor_type.shape.dim[0] for o in proto.graph.output]
    assert all(d.dim_param == "batch" for d in dims)  # the batch dimension is symbolic
    for b in BATCHES:
        xs = make_inputs(b)
        got, want = run(sess, xs), predict(model if reference is None else reference, xs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)
    return proto, sess


def randomize(model, seed=0, scale=0.5):
    """Random weights everywhere (biases too), so no gate or bias is trivially zero."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def normal(*shape, seed=1):
    rng = np.random.default_rng(seed)
    return lambda b: [rng.normal(size=(b,) + s).astype(np.float32) for s in shape]


def ids(T, vocab, padding=None, seed=2):
    """(b, T) token ids in [1, vocab); padding: None, "post", "pre" or "holes" (0 = masked). The
    last sample of a batch larger than 2 is all padding."""
    rng = np.random.default_rng(seed)

    def make(b):
        x = rng.integers(1, vocab, size=(b, T)).astype(np.float32)
        for i in range(b):
            n = int(rng.integers(1, T + 1))
            if padding == "post":
                x[i, n:] = 0
            elif padding == "pre":
                x[i, :T - n] = 0
            elif padding == "holes":
                x[i, rng.random(T) < 0.4] = 0
        if padding and b > 2:
            x[-1] = 0
        return [x]

    return make


# --- feed-forward -------------------------------------------------------------------------------

@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense_activations(act):
    model = bigcore.Sequential([layers.Input(shape=(12,)), layers.Dense(9, activation=act),
                                layers.Dropout(0.5), layers.Dense(5, activation=act, use_bias=False),
                                layers.Activation(act)])
    check(randomize(model), normal((12,)))


def test_seed_mlp_softmax_output():
    model = bigcore.Sequential([layers.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                                layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    proto, sess = check(model, lambda b: [np.random.default_rng(b).random((b, 784), dtype=np.float32)])
    out = run(sess, [np.random.default_rng(3).random((7, 784), dtype=np.float32)])[0]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    assert [o.name for o in proto.graph.output] == [model.layers[-1].name]


def test_flatten_reshape_and_dense_on_3d():
    model = bigcore.Sequential([layers.Input(shape=(4, 6)), layers.Dense(5, activation="tanh"), layers.Flatten(),
                                layers.Reshape((2, 10)), layers.Dense(3), layers.Reshape((-1,)),
                                layers.Dense(2, activation="softmax")])
    check(randomize(model), normal((4, 6)))


def test_functional_merges_multiple_inputs_outputs_and_a_shared_layer():
    a, b = bigcore.Input(shape=(6,), name="a"), bigcore.Input(shape=(6,), name="b")
    shared = layers.Dense(6, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    add = layers.Add()([sa, sb])
    ave = layers.Average()([sa, sb, add])
    mul = layers.Multiply()([sa, sb])
    cat = layers.Concatenate()([add, ave, mul, a])
    out1 = layers.Dense(3, activation="softmax", name="probs")(cat)
    out2 = layers.Dense(1, activation="sigmoid", name="score")(layers.Dropout(0.2)(mul))
    model = randomize(bigcore.Model([a, b], [out1, out2, add]))
    proto, _ = check(model, normal((6,), (6,)))
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["probs", "score", add.node.layer.name]


def test_embedding_is_a_gather_with_int64_ids():
    model = bigcore.Sequential([layers.Input(shape=(5,)), layers.Embedding(40, 3), layers.Flatten(),
                                layers.Dense(4, activation="relu")])
    proto, _ = check(model, ids(5, 40))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert "Gather" in {n.op_type for n in proto.graph.node}


# --- recurrent ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_float_inputs(kind, return_sequences, go_backwards):
    inp = bigcore.Input(shape=(6, 5))
    outs = kind(4, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)(inp)
    check(randomize(bigcore.Model(inp, outs)), normal((6, 5)))


@pytest.mark.parametrize("kind", [layers.LSTM, layers.GRU])
@pytest.mark.parametrize("act,rec_act", [("relu", "sigmoid"), ("linear", "tanh"), ("tanh", "linear")])
def test_rnn_activations_and_no_bias(kind, act, rec_act):
    model = bigcore.Sequential([layers.Input(shape=(5, 3)),
                                kind(4, activation=act, recurrent_activation=rec_act, return_sequences=True),
                                kind(3, use_bias=False)])
    check(randomize(model, scale=0.3), normal((5, 3)))


@pytest.mark.parametrize("kind", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("padding", ["post", "pre", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_with_masks(kind, padding, go_backwards):
    """Masked steps keep the state and repeat the previous output, whatever the padding."""
    inp = bigcore.Input(shape=(8,))
    x = layers.Embedding(20, 5, mask_zero=True)(inp)
    x = layers.Dense(5, activation="tanh")(x)  # the mask passes through Dense
    seq = kind(4, return_sequences=True, go_backwards=go_backwards)(x)
    last = kind(3, return_state=True, go_backwards=go_backwards)(seq)
    check(randomize(bigcore.Model(inp, [seq] + last)), ids(8, 20, padding))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", [None, "pre", "holes"])
def test_bidirectional(merge_mode, return_sequences, padding):
    inp = bigcore.Input(shape=(7,))
    x = layers.Embedding(15, 4, mask_zero=padding is not None)(inp)
    out = layers.Bidirectional(layers.LSTM(3, return_sequences=return_sequences, return_state=True),
                               merge_mode=merge_mode)(x)
    gru = layers.Bidirectional(layers.GRU(2, return_sequences=return_sequences), merge_mode=merge_mode)(x)
    gru = gru if isinstance(gru, list) else [gru]
    check(randomize(bigcore.Model(inp, out + gru)), ids(7, 15, padding))


@pytest.mark.parametrize("act", ["relu", "linear", "sigmoid"])
def test_simple_rnn_activations_and_no_bias(act):
    """SimpleRNN is ONNX's RNN op (one activation; Keras's single bias as ONNX's input half)."""
    model = bigcore.Sequential([layers.Input(shape=(5, 3)), layers.SimpleRNN(4, activation=act, return_sequences=True),
                                layers.SimpleRNN(3, use_bias=False)])
    proto, _ = check(randomize(model, scale=0.3), normal((5, 3)))
    assert [n.op_type for n in proto.graph.node].count("RNN") == 2


@pytest.mark.parametrize("padding", [None, "holes"])
def test_bidirectional_simple_rnn(padding):
    inp = bigcore.Input(shape=(7,))
    x = layers.Embedding(15, 4, mask_zero=padding is not None)(inp)
    out = layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True, return_state=True), merge_mode="concat")(x)
    check(randomize(bigcore.Model(inp, out)), ids(7, 15, padding))


@pytest.mark.parametrize("merge", [layers.Add, layers.Multiply, layers.Concatenate, layers.Subtract, layers.Maximum,
                                   layers.Minimum])
@pytest.mark.parametrize("b_masked", [True, False])
def test_merged_masks_are_keras_3s(merge, b_masked):
    """Keras 3's merge masks (the or; Concatenate's unmasked input unmasks everywhere; Multiply's
    masked steps count as 1) in the exported graph as in bigcore."""
    a, b = bigcore.Input(shape=(6,), name="a"), bigcore.Input(shape=(6,), name="b")
    ea = layers.Embedding(10, 4, mask_zero=True)(a)
    eb = layers.Embedding(10, 4, mask_zero=b_masked)(b)
    out = layers.GRU(3, return_sequences=True)(merge()([ea, eb]))
    make_a, make_b = ids(6, 10, "holes", seed=5), ids(6, 10, "post", seed=6)
    model = randomize(bigcore.Model([a, b], out))
    proto, sess = check(model, lambda n: make_a(n) + make_b(n))
    xa, xb = make_a(7)[0], make_b(7)[0]  # and both are Keras 3's (reference_rnn)
    wa, wb, *gru = model.get_weights()
    va, ma = rref.embedding_forward(xa, wa, True)
    vb, mb = rref.embedding_forward(xb, wb, b_masked)
    mode = {layers.Add: "sum", layers.Multiply: "mul", layers.Concatenate: "concat", layers.Subtract: "sub",
            layers.Maximum: "max", layers.Minimum: "min"}[merge]
    want = rref.gru_forward(rref.keras_merge(mode, [va, vb], [ma, mb]), *gru, return_sequences=True,
                            mask=rref.keras_merge_mask(mode, [va, vb], [ma, mb]))
    np.testing.assert_allclose(run(sess, [xa, xb])[0], want, rtol=1e-4, atol=2e-5)


def test_shared_recurrent_layers_on_two_inputs():
    a, b = bigcore.Input(shape=(6,), name="query"), bigcore.Input(shape=(6,), name="document")
    embed, lstm = layers.Embedding(25, 5, mask_zero=True), layers.LSTM(4)
    qa, da = lstm(embed(a)), lstm(embed(b))
    score = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([qa, da, layers.Multiply()([qa, da])]))
    model = randomize(bigcore.Model([a, b], [score, layers.Dense(3, activation="softmax")(qa)]))
    make_a, make_b = ids(6, 25, "post", seed=3), ids(6, 25, "pre", seed=4)
    check(model, lambda n: make_a(n) + make_b(n))


def test_text_lstm_seed_model():
    from bigcore.examples import text_lstm

    model = text_lstm.build_model()
    x, _ = text_lstm.make_reviews(7, seed=0)
    check(model, lambda b: [x[:b].astype(np.float32)])


# --- int8 ---------------------------------------------------------------------------------------

def quantized_mlp():
    model = bigcore.Sequential([layers.Input(shape=(20,)), layers.Dense(32, activation="relu"),
                                layers.Dense(16, activation="tanh"), layers.Dense(3, activation="softmax")])
    return quantize(randomize(model, scale=0.3))


def test_int8_per_row_gives_bigcores_integers():
    """Per-row int8 activations as bigcore quantizes them: the int32 sums are bigcore's, so the
    outputs differ by float rounding only (a value exactly on k + 0.5 could differ by a step;
    normal random inputs have none)."""
    q = quantized_mlp()
    proto, _ = check(q, normal((20,)), atol=1e-6)
    ops = {n.op_type for n in proto.graph.node}
    assert "MatMulInteger" in ops and "MatMul" not in ops
    kernels = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.UINT8 and t.dims]
    assert len(kernels) == 3  # int8 weights + 128, one byte each
    assert sum(len(t.raw_data) for t in kernels) == 20 * 32 + 32 * 16 + 16 * 3
    for t, layer in zip(kernels, q.layers):
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(t).astype(np.int16) - 128, layer.kernel.numpy())


def test_int8_calibrated_scale_and_3d_input():
    inp = bigcore.Input(shape=(5,))
    x = layers.Embedding(30, 8)(inp)
    x = layers.Dense(6, activation="relu")(x)  # on (batch, 5, 8): rows are (sample, timestep)
    out = layers.Dense(4, activation="softmax")(layers.Flatten()(x))
    model = randomize(bigcore.Model(inp, out), scale=0.3)
    calib = ids(5, 30, seed=9)(64)[0]
    for q in (quantize(model), quantize(model, calibration_data=calib)):
        check(q, ids(5, 30, seed=4), atol=1e-6)


def test_int8_per_tensor_within_its_rounding_bound():
    """DynamicQuantizeLinear: uint8 with one scale s_t = (max(x, 0) - min(x, 0)) / 255 for the
    whole tensor. Each activation is off by at most s_t from x (rounding plus the rounded zero
    point), bigcore's by at most s_row / 2, so |y_onnx - y_bigcore| <= sum_k |w_kn| (s_t + s_row / 2).

    The int8 weights stay within 7 bits here: onnxruntime's uint8 x int8 kernel on AVX2 without
    VNNI saturates 16-bit pair sums (2 * 255 * 127 > 32767), which this bound does not cover.
    """
    q = bigcore.Sequential([layers.Input(shape=(24,)), QuantizedDense(10)])
    rng = np.random.default_rng(0)
    q.set_weights([rng.integers(-63, 64, (24, 10)).astype(np.int8), rng.normal(size=10).astype(np.float32),
                   rng.uniform(0.005, 0.02, 10).astype(np.float32)])
    proto, sess = session(q, int8_activations="per_tensor")
    assert "DynamicQuantizeLinear" in {n.op_type for n in proto.graph.node}
    layer = q.layers[0]
    w = np.abs(layer.kernel.numpy().astype(np.float64) * layer.kernel_scale.numpy())
    for b in BATCHES:
        x = normal((24,), seed=b)(b)[0] * np.linspace(0.1, 3, b, dtype=np.float32)[:, None]
        got, want = run(sess, [x])[0], predict(q, [x])[0]
        s_t = (max(x.max(), 0) - min(x.min(), 0)) / 255
        s_row = np.abs(x).max(axis=1, keepdims=True) / 127
        bound = (s_t + s_row / 2) @ w.sum(axis=0, keepdims=True) + 1e-5
        assert np.all(np.abs(got - want) <= bound)
        assert np.abs(got - want).max() > 0  # it really is another quantization
    with pytest.raises(ValueError, match="int8_activations"):
        bigcore.export.to_onnx(q, int8_activations="per_channel")


@pytest.mark.parametrize("opset", [17, 18, 21])
def test_opsets(opset):
    """Ops whose signature changed across opsets (ReduceMax's axes, ...) are written for the one asked."""
    inp = bigcore.Input(shape=(6,))
    x = layers.Embedding(15, 4, mask_zero=True)(inp)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    x = QuantizedDense(4, activation="relu")(layers.LSTM(5)(x))
    model = bigcore.Model(inp, layers.Dense(2, activation="softmax")(x))
    rng = np.random.default_rng(opset)
    model.set_weights([rng.integers(-127, 128, w.shape).astype(np.int8) if w.dtype == np.int8 else
                       rng.uniform(0.01, 0.02, w.shape).astype(np.float32) if "scale" in w.path else
                       rng.normal(scale=0.4, size=w.shape).astype(np.float32) for w in model.weights])
    proto, _ = check(model, ids(6, 15, "holes"), opset=opset, atol=1e-6)
    assert proto.opset_import[0].version == opset


def test_opset_out_of_range():
    model = bigcore.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="opsets 17 to"):
        bigcore.export.to_onnx(model, opset=16)


# --- errors and files ---------------------------------------------------------------------------

class Scale(layers.Layer):
    """A custom layer with no ONNX rule."""

    def lower(self, prog, inputs, outputs):
        raise AssertionError("not reached")


class MyLSTM(layers.LSTM):
    """A subclass may compute something else: it has no rule of its own."""


def test_unsupported_layers_are_named():
    model = bigcore.Sequential([layers.Input(shape=(4,)), layers.Dense(3), Scale(name="my_scale")])
    with pytest.raises(NotImplementedError, match=r'layer "my_scale" \(Scale\).*Supported layers: .*Dense'):
        bigcore.export.to_onnx(model)
    model = bigcore.Sequential([layers.Input(shape=(3, 4)), layers.Bidirectional(MyLSTM(2, name="mine"))])
    with pytest.raises(NotImplementedError, match=r'"forward_mine" \(MyLSTM\)'):
        bigcore.export.to_onnx(model)


def test_explicit_mask_is_refused_and_training_is_not():
    """A layer exported without its explicit mask= would answer differently from predict: the export
    refuses the call, naming the keyword and the layer (initial_state: tests/test_initial_state.py).
    training= is no refusal (export is inference, as predict)."""
    x_in, m_in = layers.Input(shape=(3, 2)), layers.Input(shape=(3,))
    model = bigcore.Model([x_in, m_in], layers.GRU(2, name="masked")(x_in, mask=m_in))
    with pytest.raises(NotImplementedError, match=r"\['mask'\] yet \(layer 'masked'\)"):
        bigcore.export.to_onnx(model)
    x_in = layers.Input(shape=(4,))
    model = bigcore.Model(x_in, layers.Dense(2)(layers.Dropout(0.5)(x_in, training=True)))
    check(model, lambda n: [np.ones((n, 4), np.float32)])


class Int8LSTM(layers.LSTM):
    """An LSTM with int8 kernels and per-column scales, as quantize() makes them (no native op:
    only exported here)."""

    def build(self, input_shape):
        GU, U = 4 * self.units, self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], GU), "zeros", trainable=False, dtype="int8")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (U, GU), "zeros", trainable=False, dtype="int8")
        self.bias = self.add_weight("bias", (GU,), "zeros", trainable=False)
        self.kernel_scale = self.add_weight("kernel_scale", (GU,), "ones", trainable=False)
        self.recurrent_scale = self.add_weight("recurrent_scale", (GU,), "ones", trainable=False)
        self.built = True


def recurrent_model(lstm):
    inp = bigcore.Input(shape=(6,))
    x = layers.Embedding(12, 4, mask_zero=True)(inp)
    x = layers.Bidirectional(lstm(3, return_sequences=True, name="bi"))(x)
    return bigcore.Model(inp, lstm(2, name="last")(x))


def dequantized(layer):
    """A layer's weights with each int8 kernel times its scales (float LSTM/GRU order)."""
    if isinstance(layer, layers.Bidirectional):
        return dequantized(layer.forward_layer) + dequantized(layer.backward_layer)
    if getattr(layer, "recurrent_scale", None) is None:
        return layer.get_weights()
    k, rk = layer.kernel.numpy().astype(np.float32), layer.recurrent_kernel.numpy().astype(np.float32)
    return [k * layer.kernel_scale.numpy(), rk * layer.recurrent_scale.numpy()] + \
           ([layer.bias.numpy()] if layer.use_bias else [])


def float_twin(qmodel, model):
    """`model` (the float architecture of qmodel) given qmodel's weights, dequantized."""
    model.set_weights([w for layer in qmodel.layers for w in dequantized(layer)])
    return model


def test_int8_recurrent_layers_export_as_float_only_when_asked():
    qmodel = recurrent_model(Int8LSTM)
    rng = np.random.default_rng(0)
    qmodel.set_weights([rng.integers(-127, 128, w.shape).astype(np.int8) if w.dtype == np.int8 else
                        rng.uniform(0.002, 0.01, w.shape).astype(np.float32) if "scale" in w.path else
                        rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in qmodel.weights])
    with pytest.raises(NotImplementedError, match=r'"forward_bi" \(Int8LSTM\).*quantized_recurrent="float"'):
        bigcore.export.to_onnx(qmodel)
    reference = float_twin(qmodel, recurrent_model(layers.LSTM))
    check(qmodel, ids(6, 12, "holes"), quantized_recurrent="float", reference=reference)
    with pytest.raises(ValueError, match="quantized_recurrent"):
        bigcore.export.to_onnx(qmodel, quantized_recurrent="int8")


def test_quantized_lstm_gru_from_quantize():
    """Where quantize() makes int8 LSTM/GRU layers: refused by default, float with dequantized
    weights on request, near the int8 model's own answers."""
    def build():
        inp = bigcore.Input(shape=(7,))
        x = layers.Embedding(20, 6, mask_zero=True)(inp)
        x = layers.LSTM(5, return_sequences=True)(x)
        x = layers.Bidirectional(layers.GRU(4, return_sequences=True))(x)
        return bigcore.Model(inp, layers.GRU(3, go_backwards=True)(x))

    qmodel = quantize(randomize(build(), scale=0.4))
    with pytest.raises(NotImplementedError, match='quantized_recurrent="float"'):
        bigcore.export.to_onnx(qmodel)
    _, sess = check(qmodel, ids(7, 20, "pre"), quantized_recurrent="float", reference=float_twin(qmodel, build()))
    x = ids(7, 20, "pre", seed=8)(7)
    assert np.abs(run(sess, x)[0] - qmodel.predict(x[0], verbose=0)).max() < 0.05  # int8 rounding only


def test_model_export_writes_a_file(tmp_path):
    model = randomize(bigcore.Sequential([layers.Input(shape=(3,)), layers.Dense(2, activation="softmax")]))
    model.export(tmp_path / "m.onnx")
    model.export(str(tmp_path / "m.bin"), format="onnx")
    x = normal((3,))(7)[0]
    for name in ("m.onnx", "m.bin"):
        loaded = onnx.load(str(tmp_path / name))
        onnx.checker.check_model(loaded)
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(run(sess, [x])[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="format='onnx'"):
        model.export(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="format='onnx' only"):
        model.export(tmp_path / "m.onnx", format="tf_saved_model")
    with pytest.raises(ValueError, match="has not been built"):
        bigcore.Sequential([layers.Dense(2)]).export(tmp_path / "x.onnx")


def test_concatenate_on_the_time_axis():
    a, b = bigcore.Input(shape=(3, 4), name="a"), bigcore.Input(shape=(2, 4), name="b")
    cat = layers.Concatenate(axis=1)([layers.Dense(4)(a), b])
    check(randomize(bigcore.Model([a, b], layers.Dense(2)(cat))), normal((3, 4), (2, 4)))


@pytest.mark.parametrize("padding,strides", [("valid", 2), ("same", 1), ("same", 2), ("causal", 1)])
def test_conv1d_over_a_run_time_length(padding, strides):
    """Input((None,)) -> Embedding -> Conv1D -> 1-D pooling -> GlobalMaxPooling1D: pads that hold for every length
    (same: SAME_UPPER, Keras's odd padding at the end); onnxruntime agrees at several lengths."""
    inp = bigcore.Input(shape=(None,))
    x = layers.Embedding(11, 4)(inp)
    x = layers.Conv1D(6, 3, strides=strides, padding=padding, activation="relu")(x)
    x = layers.MaxPooling1D(2, padding="same")(x) if padding != "valid" else layers.AveragePooling1D(2, strides=1)(x)
    x = layers.AveragePooling1D(3, strides=2, padding="same")(x)
    model = randomize(bigcore.Model(inp, layers.Dense(2)(layers.GlobalMaxPooling1D()(x))))
    _, sess = session(model)
    for T in (5, 9, 10):
        xs = [np.random.default_rng(T).integers(0, 11, (3, T)).astype(np.int64)]
        np.testing.assert_allclose(run(sess, xs)[0], predict(model, xs)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("merge", ["Add", "Average", "Multiply", "Subtract", "Maximum", "Minimum"])
def test_merges_that_broadcast(merge):
    """(5, 3) with (1, 3) and a lower-rank (3,): Keras's broadcast, the (3,) input expanded after the batch axis."""
    a, b, c = bigcore.Input((5, 3)), bigcore.Input((1, 3)), bigcore.Input((3,))
    ins = [a, b] if merge == "Subtract" else [a, b, c]
    model = bigcore.Model(ins, getattr(layers, merge)()(ins))
    check(model, normal((5, 3), (1, 3)) if merge == "Subtract" else normal((5, 3), (1, 3), (3,)))


@pytest.mark.parametrize("masked", [False, True])
def test_rnn_of_cells(masked):
    """RNN(LSTMCell) then RNN([GRUCell, SimpleRNNCell]) with states: one ONNX recurrent op per cell."""
    inp = bigcore.Input((6,) if masked else (6, 4))
    x = layers.Embedding(9, 4, mask_zero=True)(inp) if masked else inp
    h = layers.RNN(layers.LSTMCell(5), return_sequences=True)(x)
    out, s1, s2 = layers.RNN([layers.GRUCell(3), layers.SimpleRNNCell(2)], return_state=True)(h)
    model = randomize(bigcore.Model(inp, [out, s1, s2]))
    check(model, ids(6, 9, padding="holes") if masked else normal((6, 4)))


# --- image layers -------------------------------------------------------------------------------

IMAGE_MODELS = [
    lambda: [layers.RandomFlip(), layers.RandomRotation(0.2), layers.RandomZoom(0.2), layers.RandomTranslation(0.1, 0.1),
             layers.RandomContrast(0.3), layers.RandomBrightness(0.2)],
    lambda: [layers.Resizing(7, 13)],
    lambda: [layers.Resizing(17, 5, interpolation="nearest")],
    lambda: [layers.Resizing(8, 8, crop_to_aspect_ratio=True)],
    lambda: [layers.Resizing(6, 6, pad_to_aspect_ratio=True, fill_value=0.5)],
    lambda: [layers.Resizing(9, 4, pad_to_aspect_ratio=True, interpolation="nearest")],
    lambda: [layers.CenterCrop(6, 4)],
    lambda: [layers.CenterCrop(14, 4)],
    lambda: [layers.RandomCrop(5, 7)],
    lambda: [layers.RandomFlip(), layers.Resizing(8, 8), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(2)],
]


@pytest.mark.parametrize("make", IMAGE_MODELS)
def test_image_layers(make):
    """Random augmentations export as the identity; Resizing / CenterCrop / RandomCrop (inference)
    as Slice or Pad then Resize, matching bigcore's (Keras's) outputs."""
    model = bigcore.Sequential([bigcore.Input((10, 12, 3))] + make())
    check(model, normal((10, 12, 3)), atol=1e-4)


def test_additive_attention_with_masks():
    """AdditiveAttention (a traced layer: its ops' rules) with Keras masks and a causal mask."""
    q_in, v_in = bigcore.Input((5,)), bigcore.Input((6,))
    q = layers.Embedding(9, 4, mask_zero=True)(q_in)
    v = layers.Embedding(9, 4, mask_zero=True)(v_in)
    out = layers.AdditiveAttention()([q, v], use_causal_mask=True)
    model = randomize(bigcore.Model([q_in, v_in], layers.GlobalAveragePooling1D()(out)))
    check(model, lambda b: [ids(5, 9, padding="post")(b)[0], ids(6, 9, padding="holes", seed=5)(b)[0]])
