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


def test_quantized_conv_is_refused():
    model = random_weights(model_of((6, 6, 2), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(2)))
    q = bigcore.quantization.quantize(model)
    with pytest.raises(NotImplementedError, match="QuantizedConv2D"):
        bigcore.export.to_onnx(q)
