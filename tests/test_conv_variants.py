"""Conv1DTranspose/Conv2DTranspose, DepthwiseConv1D/2D and SeparableConv1D/2D through the one harness:
output sizes for every padding / stride / dilation / output_padding setting, forward against
tests/reference_conv.py, gradients by central differences, threads, round trips, Keras 3 parity."""

import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = [pytest.mark.filterwarnings(KERAS_WARNING),
              pytest.mark.filterwarnings("ignore:You might experience inconsistencies:UserWarning")]


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


def _ids(e):
    return "-".join(f"{k}={v}" for k, v in e.items()) or "default"


TRANSPOSE1D = [
    {},
    {"padding": "same"},
    {"strides": 2},
    {"strides": 2, "padding": "same"},
    {"strides": 3, "padding": "same", "output_padding": 1},
    {"strides": 2, "output_padding": 1, "activation": "relu"},
    {"dilation_rate": 2, "padding": "same"},
    {"kernel_size": 2, "strides": 3},
    {"use_bias": False, "activation": "tanh"},
]


@pytest.mark.parametrize("extra", TRANSPOSE1D, ids=_ids)
def test_conv1d_transpose(request, extra):
    kw = {"filters": 3, "kernel_size": 3, **extra}
    k = kw["kernel_size"]

    def forward(w, x, mask):
        return cref.conv_transpose_forward(x, w[0], w[1] if kw.get("use_bias", True) else None, kw.get("strides", 1),
                                           kw.get("padding", "valid"), kw.get("output_padding"),
                                           kw.get("dilation_rate", 1), kw.get("activation") or "linear")

    run_layer_test(layers.Conv1DTranspose, kw, (3, 5, 4), forward,
                   weight_shapes=[(k, 3, 4)] + ([(3,)] if kw.get("use_bias", True) else []),
                   keras=optional_keras(request))


TRANSPOSE2D = [
    {},
    {"strides": 2, "padding": "same"},
    {"strides": (2, 1), "activation": "relu"},
    {"kernel_size": (2, 3), "strides": 2, "padding": "same", "output_padding": (1, 0)},
    {"dilation_rate": (1, 2), "padding": "same"},
]


@pytest.mark.parametrize("extra", TRANSPOSE2D, ids=_ids)
def test_conv2d_transpose(request, extra):
    kw = {"filters": 3, "kernel_size": 3, **extra}
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2

    def forward(w, x, mask):
        return cref.conv_transpose_forward(x, w[0], w[1], kw.get("strides", 1), kw.get("padding", "valid"),
                                           kw.get("output_padding"), kw.get("dilation_rate", 1),
                                           kw.get("activation") or "linear")

    run_layer_test(layers.Conv2DTranspose, kw, (2, 4, 3, 2), forward, weight_shapes=[k + (3, 2), (3,)],
                   keras=optional_keras(request))


TRANSPOSE3D = [
    {},
    {"strides": 2, "padding": "same"},
    {"strides": (2, 1, 2), "output_padding": (1, 0, 1), "activation": "relu"},
    {"kernel_size": (2, 3, 2), "dilation_rate": (2, 1, 1), "padding": "same", "use_bias": False},
]


@pytest.mark.parametrize("extra", TRANSPOSE3D, ids=_ids)
def test_conv3d_transpose(request, extra):
    kw = {"filters": 3, "kernel_size": 2, **extra}
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 3
    bias = kw.get("use_bias", True)

    def forward(w, x, mask):
        return cref.conv_transpose_forward(x, w[0], w[1] if bias else None, kw.get("strides", 1),
                                           kw.get("padding", "valid"), kw.get("output_padding"),
                                           kw.get("dilation_rate", 1), kw.get("activation") or "linear")

    run_layer_test(layers.Conv3DTranspose, kw, (2, 3, 4, 3, 2), forward,
                   weight_shapes=[k + (3, 2)] + ([(3,)] if bias else []), keras=optional_keras(request))


def test_transpose_aliases():
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose


DEPTHWISE = [
    (layers.DepthwiseConv1D, {"kernel_size": 3}, (3, 7, 4)),
    (layers.DepthwiseConv1D, {"kernel_size": 3, "padding": "same", "depth_multiplier": 2, "activation": "relu"},
     (3, 7, 4)),
    (layers.DepthwiseConv1D, {"kernel_size": 2, "strides": 2, "use_bias": False}, (3, 7, 4)),
    (layers.DepthwiseConv2D, {"kernel_size": 3}, (2, 5, 6, 3)),
    (layers.DepthwiseConv2D, {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}, (2, 5, 6, 3)),
    (layers.DepthwiseConv2D, {"kernel_size": (2, 3), "dilation_rate": 2, "activation": "tanh"}, (2, 5, 7, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", DEPTHWISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_depthwise_conv(request, cls, kw, shape):
    rank = len(shape) - 2
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * rank
    C, M, use_bias = shape[-1], kw.get("depth_multiplier", 1), kw.get("use_bias", True)

    def forward(w, x, mask):
        return cref.depthwise_forward(x, w[0], w[1] if use_bias else None, kw.get("strides", 1),
                                      kw.get("padding", "valid"), kw.get("dilation_rate", 1),
                                      kw.get("activation") or "linear")

    run_layer_test(cls, kw, shape, forward, weight_shapes=[k + (C, M)] + ([(C * M,)] if use_bias else []),
                   keras=optional_keras(request))


SEPARABLE = [
    (layers.SeparableConv1D, {"filters": 5, "kernel_size": 3}, (3, 7, 4)),
    (layers.SeparableConv1D, {"filters": 5, "kernel_size": 3, "padding": "same", "depth_multiplier": 2,
                              "activation": "relu"}, (3, 7, 4)),
    (layers.SeparableConv2D, {"filters": 4, "kernel_size": 3}, (2, 5, 6, 3)),
    (layers.SeparableConv2D, {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False},
     (2, 5, 6, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", SEPARABLE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_separable_conv(request, cls, kw, shape):
    rank = len(shape) - 2
    k = (kw["kernel_size"],) * rank
    C, M, F, use_bias = shape[-1], kw.get("depth_multiplier", 1), kw["filters"], kw.get("use_bias", True)

    def forward(w, x, mask):
        return cref.separable_forward(x, w[0], w[1], w[2] if use_bias else None, kw.get("strides", 1),
                                      kw.get("padding", "valid"), 1, kw.get("activation") or "linear")

    run_layer_test(cls, kw, shape, forward,
                   weight_shapes=[k + (C, M), (1,) * rank + (C * M, F)] + ([(F,)] if use_bias else []),
                   keras=optional_keras(request))


def test_variant_errors():
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv2DTranspose(3, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="depth_multiplier"):
        layers.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match="padding"):
        layers.DepthwiseConv1D(3, padding="causal")
    with pytest.raises(ValueError, match="ndim=4"):
        layers.SeparableConv2D(4, 3)(bigcore.Input((5, 3)))
