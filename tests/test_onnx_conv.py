"""ONNX export of the ConvNet and everyday layers: each model passes onnx.checker and, in onnxruntime
at batch sizes 1 and 7, answers what model.predict answers within 1e-5 (tests/test_onnx_export.py's
check)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from test_onnx_export import check

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def model_of(shape, *stack):
    inp = bigcore.Input(shape)
    x = inp
    for layer in stack:
        x = layer(x)
    return bigcore.Model(inp, x)


def random_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    ws = []
    for w in model.weights:
        v = rng.normal(scale=0.5, size=w.shape).astype(np.float32)
        if w.name.endswith("moving_variance"):
            v = np.abs(v) + 0.5
        ws.append(v)
    model.set_weights(ws)
    return model


def inputs(shape, seed=1):
    return lambda b: [np.random.default_rng(seed + b).normal(size=(b,) + shape).astype(np.float32)]


CASES = {
    "conv2d_valid_relu": ((9, 8, 3), [layers.Conv2D(4, 3, activation="relu")]),
    "conv2d_same_strided": ((9, 8, 3), [layers.Conv2D(4, 3, strides=2, padding="same")]),
    "conv2d_dilated_groups": ((9, 8, 4), [layers.Conv2D(4, (3, 2), dilation_rate=2, groups=2, padding="same")]),
    "conv1d_causal": ((10, 3), [layers.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="tanh")]),
    "conv1d_same_stride": ((10, 3), [layers.Conv1D(5, 4, strides=3, padding="same")]),
    "conv2d_transpose_same": ((4, 5, 3), [layers.Conv2DTranspose(2, 3, strides=2, padding="same")]),
    "conv1d_transpose_valid_op": ((5, 3), [layers.Conv1DTranspose(2, 3, strides=2, output_padding=1)]),
    "conv1d_transpose_k2s3": ((5, 3), [layers.Conv1DTranspose(2, 2, strides=3, activation="relu")]),
    "depthwise2d": ((7, 6, 3), [layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")]),
    "separable1d": ((8, 3), [layers.SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2)]),
    "pools2d": ((9, 8, 3), [layers.MaxPooling2D((3, 2), strides=(2, 1), padding="same"),
                            layers.AveragePooling2D(2, strides=1, padding="same")]),
    "pools1d": ((9, 3), [layers.MaxPooling1D(), layers.AveragePooling1D(3, strides=1, padding="same")]),
    "global2d_keepdims": ((5, 4, 3), [layers.GlobalAveragePooling2D(keepdims=True), layers.Flatten()]),
    "global_max1d": ((5, 3), [layers.GlobalMaxPooling1D()]),
    "batchnorm_relu6": ((5, 4, 3), [layers.BatchNormalization(), layers.ReLU(max_value=6.0, negative_slope=0.1,
                                                                              threshold=0.2)]),
    "leaky_elu_prelu": ((5, 3), [layers.LeakyReLU(0.2), layers.ELU(0.7), layers.PReLU(shared_axes=[1])]),
    "softmax_axis1": ((5, 3), [layers.Softmax(axis=1)]),
    "layernorm_groupnorm_unitnorm": ((5, 4), [layers.LayerNormalization(), layers.GroupNormalization(2),
                                              layers.UnitNormalization()]),
    "index_maps": ((4, 3, 2), [layers.ZeroPadding2D(((1, 0), (2, 1))), layers.Cropping2D(((0, 1), (1, 0))),
                               layers.UpSampling2D((2, 1)), layers.Permute((2, 1, 3))]),
    "upsampling_bilinear": ((4, 3, 2), [layers.UpSampling2D((2, 3), interpolation="bilinear"),
                                        layers.Conv2D(2, 2)]),
    "repeat_vector": ((6,), [layers.RepeatVector(3), layers.UpSampling1D(2), layers.Cropping1D((1, 2)),
                             layers.ZeroPadding1D(1)]),
    "noise_is_identity": ((6, 3), [layers.GaussianNoise(0.5), layers.GaussianDropout(0.3), layers.AlphaDropout(0.2),
                                   layers.SpatialDropout1D(0.3)]),
    "time_distributed": ((4, 6, 5, 2), [layers.TimeDistributed(layers.Conv2D(3, 3, padding="same")),
                                        layers.TimeDistributed(layers.MaxPooling2D()),
                                        layers.TimeDistributed(layers.Flatten()),
                                        layers.TimeDistributed(layers.Dense(3, activation="softmax"))]),
}


@pytest.mark.parametrize("case", CASES)
def test_export_matches_predict(case):
    shape, stack = CASES[case]
    model = random_weights(model_of(shape, *stack))
    check(model, inputs(shape), atol=2e-5)


def test_export_masked_global_average_and_masking():
    inp = bigcore.Input((6, 3))
    m = layers.Masking()(inp)
    model = bigcore.Model(inp, [layers.GlobalAveragePooling1D()(m), layers.LSTM(2)(m)])
    random_weights(model)

    def make(b):
        x = np.random.default_rng(b).normal(size=(b, 6, 3)).astype(np.float32)
        x[0, 4:] = 0.0
        if b > 2:
            x[2, :2] = 0.0
        return [x]

    check(model, make)


QUANTIZED = {
    "conv2d_valid_relu_pool": ((9, 8, 3), lambda: [layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                                                   layers.Conv2D(5, 2, padding="same"), layers.Flatten(),
                                                   layers.Dense(3, activation="softmax")]),
    "conv2d_same_strided_then_dilated": ((9, 8, 3), lambda: [layers.Conv2D(4, (3, 2), strides=(2, 3), padding="same",
                                                                           use_bias=False),
                                                             layers.Conv2D(3, 2, dilation_rate=(2, 1),
                                                                           padding="same")]),
    "conv1d_causal_dilated": ((10, 3), lambda: [layers.Conv1D(5, 3, padding="causal", dilation_rate=2,
                                                              activation="tanh")]),
    "conv1d_same_stride_pointwise": ((10, 3), lambda: [layers.Conv1D(5, 4, strides=3, padding="same"),
                                                       layers.Conv1D(2, 1)]),
}


@pytest.mark.parametrize("case", QUANTIZED)
def test_quantized_conv_gives_bigcores_integers(case):
    """Per-window int8 activations as bigcore quantizes them (the im2col rows): the int32 sums are
    bigcore's, so the outputs differ by float rounding only, the bound of the int8 Dense export
    test (tests/test_onnx_export.py). Calibrated (one static scale) as well."""
    shape, stack = QUANTIZED[case]
    model = random_weights(model_of(shape, *stack()))
    calib = inputs(shape, seed=7)(32)[0]
    for q in (bigcore.quantization.quantize(model), bigcore.quantization.quantize(model, calibration_data=calib)):
        kinds = {type(layer).__name__ for layer in q.layers}
        assert kinds & {"QuantizedConv1D", "QuantizedConv2D"}
        proto, _ = check(q, inputs(shape), atol=1e-6)
        ops = {n.op_type for n in proto.graph.node}
        assert "MatMulInteger" in ops and "Conv" not in ops


def test_quantized_conv_kernel_is_the_int8_kernel():
    model = random_weights(model_of((6, 6, 2), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(2)))
    q = bigcore.quantization.quantize(model)
    proto = bigcore.export.to_onnx(q)
    kernels = {t.name: t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.UINT8 and t.dims}
    conv = next(layer for layer in q.layers if type(layer).__name__ == "QuantizedConv2D")
    got = onnx.numpy_helper.to_array(kernels[f"{conv.name}/kernel_uint8"]).astype(np.int16) - 128
    np.testing.assert_array_equal(got, conv.kernel.numpy().reshape(-1, 3))


def test_quantized_conv_per_tensor_within_its_rounding_bound():
    """DynamicQuantizeLinear over the whole tensor of windows: each activation is off by at most
    s_t = (max(x, 0) - min(x, 0)) / 255, bigcore's by at most s_row / 2 with s_row = max|window| / 127,
    so |y_onnx - y_bigcore| <= sum_k |w_kf| (s_t + s_row / 2): the int8 Dense per-tensor bound,
    k over the window. Weights within 7 bits, as there (onnxruntime's AVX2 kernel saturates)."""
    model = model_of((7, 3), layers.Conv1D(4, 3, padding="same"))
    q = bigcore.quantization.quantize(model)
    rng = np.random.default_rng(0)
    q.set_weights([rng.integers(-63, 64, (3, 3, 4)).astype(np.int8), rng.normal(size=4).astype(np.float32),
                   rng.uniform(0.005, 0.02, 4).astype(np.float32)])
    proto = bigcore.export.to_onnx(q, int8_activations="per_tensor")
    onnx.checker.check_model(proto, full_check=True)
    assert "DynamicQuantizeLinear" in {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    layer = next(layer for layer in q.layers if type(layer).__name__ == "QuantizedConv1D")
    w = np.abs(layer.kernel.numpy().reshape(9, 4).astype(np.float64) * layer.kernel_scale.numpy())
    for b in (1, 7):
        x = inputs((7, 3), seed=b)(b)[0] * np.linspace(0.1, 3, b, dtype=np.float32)[:, None, None]
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        want = q.predict(x, batch_size=b, verbose=0)
        s_t = (max(x.max(), 0) - min(x.min(), 0)) / 255
        xp = np.pad(x, ((0, 0), (1, 1), (0, 0)))  # "same", kernel 3: one step each side
        s_row = np.stack([np.abs(xp[:, t:t + 3]).max(axis=(1, 2)) for t in range(7)], axis=1)[..., None] / 127
        bound = (s_t + s_row / 2) * w.sum(axis=0) + 1e-5
        assert np.all(np.abs(got - want) <= bound)
        assert np.abs(got - want).max() > 0  # it really is another quantization


def test_export_time_distributed_over_a_run_time_length():
    """(batch, None, ...) input: the unfold reads the timesteps from the model input (checked at two
    lengths)."""
    stack = [layers.TimeDistributed(layers.Conv2D(3, 3, padding="same")), layers.TimeDistributed(layers.Flatten()),
             layers.TimeDistributed(layers.Dense(3))]
    model = random_weights(model_of((None, 5, 4, 2), *stack))
    for T in (2, 5):
        check(model, lambda b, T=T: [np.random.default_rng(b).normal(size=(b, T, 5, 4, 2)).astype(np.float32)],
              atol=2e-5)
