"""The ConvNet layers through the one harness (tests/layer_test.py): Conv1D/Conv2D over every padding,
stride, dilation and group setting, pooling, global pooling, BatchNormalization (batch statistics in
training, moving statistics after Keras's steps) and the activation layers; forward against
tests/reference_conv.py, gradients by central differences, threads, config and file round trips,
Keras 3 parity where Keras is installed."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
import reference_quant as qref
from bigcore import layers, regularizers
from bigcore.quantization import QuantizedConv1D, QuantizedConv2D
from layer_test import KERAS_WARNING, mask_pattern, pass_mask, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


def conv_ref(kw):
    def forward(w, x, mask):
        return cref.conv_forward(x, w[0], w[1] if kw.get("use_bias", True) else None, kw.get("strides", 1),
                                 kw.get("padding", "valid"), kw.get("dilation_rate", 1), kw.get("groups", 1),
                                 kw.get("activation") or "linear")
    return forward


def conv_shapes(k, C, F, groups=1, use_bias=True):
    return [tuple(k) + (C // groups, F)] + ([(F,)] if use_bias else [])


# --------------------------------------------------------------------------- Conv1D

CONV1D = [
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "causal"},
    {"padding": "valid", "strides": 2},
    {"padding": "same", "strides": 2},
    {"padding": "causal", "strides": 3},
    {"padding": "same", "dilation_rate": 2},
    {"padding": "causal", "dilation_rate": 2, "activation": "relu"},
    {"padding": "valid", "groups": 2, "activation": "tanh"},
    {"padding": "same", "use_bias": False, "activation": "sigmoid"},
]


@pytest.mark.parametrize("extra", CONV1D, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_conv1d(request, extra):
    kw = {"filters": 4, "kernel_size": 3, **extra}
    C = 4
    run_layer_test(layers.Conv1D, kw, (3, 9, C), conv_ref(kw),
                   weight_shapes=conv_shapes((3,), C, 4, kw.get("groups", 1), kw.get("use_bias", True)),
                   keras=optional_keras(request))


GEMM_PATH = [  # windows of more than 32 values: im2col + the tiled GEMM (smaller ones run the direct kernels)
    (layers.Conv1D, {"filters": 5, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (3, 9, 12)),
    (layers.Conv1D, {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same", "groups": 2,
                     "activation": "relu"}, (3, 9, 24)),
    (layers.Conv2D, {"filters": 4, "kernel_size": 3, "padding": "same", "strides": 2}, (2, 7, 6, 5)),
    (layers.Conv2D, {"filters": 4, "kernel_size": 1, "groups": 2}, (2, 4, 5, 70)),
]


DIRECT_WIDE = [  # the direct kernels (windows of up to 32 values) with filters over several vectors of every
    # path, row counts that are not a multiple of the 4 rows they take at once, and 1, 3 and 5 channels
    (layers.Conv2D, {"filters": 40, "kernel_size": 3, "padding": "same"}, (3, 5, 5, 3)),
    (layers.Conv1D, {"filters": 20, "kernel_size": 3, "padding": "same", "activation": "relu"}, (3, 9, 1)),
    (layers.Conv1D, {"filters": 37, "kernel_size": 3, "padding": "causal", "strides": 2}, (2, 11, 5)),
]


@pytest.mark.parametrize("cls,kw,shape", GEMM_PATH + DIRECT_WIDE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_conv_gemm_and_wide_direct_paths(request, cls, kw, shape):
    rank = len(shape) - 2
    k = (kw["kernel_size"],) * rank
    run_layer_test(cls, kw, shape, conv_ref(kw), weight_shapes=conv_shapes(k, shape[-1], kw["filters"],
                                                                           kw.get("groups", 1)),
                   rtol=2e-5, atol=2e-5, keras=optional_keras(request))


def test_conv1d_pointwise_and_regularized(request):
    """kernel_size 1 (the GEMM on the input itself, no im2col), L2 on the kernel and bias."""
    kw = {"filters": 5, "kernel_size": 1, "kernel_regularizer": regularizers.l2(0.01),
          "bias_regularizer": regularizers.l1(0.02)}
    run_layer_test(layers.Conv1D, kw, (3, 6, 4), conv_ref(kw), weight_shapes=conv_shapes((1,), 4, 5),
                   keras=optional_keras(request))


# --------------------------------------------------------------------------- Conv2D

CONV2D = [
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "valid", "strides": (2, 1)},
    {"padding": "same", "strides": 2},
    {"padding": "same", "dilation_rate": (2, 1)},
    {"padding": "valid", "dilation_rate": 2, "activation": "relu"},
    {"padding": "same", "groups": 2, "activation": "tanh"},
    {"padding": "valid", "kernel_size": (1, 1), "groups": 2},
    {"padding": "same", "kernel_size": (2, 3), "use_bias": False, "activation": "softmax"},
]


@pytest.mark.parametrize("extra", CONV2D, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_conv2d(request, extra):
    kw = {"filters": 4, "kernel_size": 3, **extra}
    C = 4
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
    run_layer_test(layers.Conv2D, kw, (2, 7, 6, C), conv_ref(kw),
                   weight_shapes=conv_shapes(k, C, 4, kw.get("groups", 1), kw.get("use_bias", True)),
                   keras=optional_keras(request))


def test_conv2d_large_batch_is_thread_invariant(restore_threads):
    """Many samples: the work splits into several items, the weight gradient is summed over them in
    a fixed order; 1 and 2 threads give the same bits (outputs and gradients) and match the reference.
    Finite differences run on the small cases above: over 31,680 input values here they took minutes."""
    kw = {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}
    run_layer_test(layers.Conv2D, kw, (40, 12, 11, 6), conv_ref(kw), weight_shapes=conv_shapes((3, 3), 6, 8),
                   rtol=1e-4, atol=1e-4, gradients=False)


def test_conv_errors():
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(6, 3, groups=4)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="dilation_rate"):
        layers.Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="channels_first"):
        layers.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="ndim=4"):
        layers.Conv2D(4, 3)(bigcore.Input((9, 3)))
    with pytest.raises(ValueError, match="larger than the input"):
        layers.Conv2D(4, 5)(bigcore.Input((3, 3, 2)))
    with pytest.raises(ValueError, match="divisible by the number of groups"):
        layers.Conv1D(4, 3, groups=2)(bigcore.Input((9, 3)))


# --------------------------------------------------------------------------- pooling


POOL = [
    (layers.MaxPooling1D, {}, (3, 9, 4)),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 1, "padding": "same"}, (3, 8, 4)),
    (layers.AveragePooling1D, {"pool_size": 3, "strides": 2}, (3, 9, 4)),
    (layers.AveragePooling1D, {"pool_size": 3, "strides": 1, "padding": "same"}, (3, 8, 4)),
    (layers.MaxPooling2D, {}, (2, 7, 6, 3)),
    (layers.MaxPooling2D, {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"}, (2, 7, 6, 3)),
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 2}, (2, 7, 7, 3)),
    (layers.AveragePooling2D, {"pool_size": 2}, (2, 7, 6, 3)),
    (layers.AveragePooling2D, {"pool_size": 3, "strides": 1, "padding": "same"}, (2, 5, 6, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", POOL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_pooling(request, cls, kw, shape):
    mode = "max" if "Max" in cls.__name__ else "avg"
    default = 2 if cls.__name__.endswith("1D") else (2, 2)
    run_layer_test(cls, {"pool_size": default, **kw} if mode == "avg" else kw, shape,
                   lambda w, x, mask: cref.pool_forward(x, kw.get("pool_size", default), kw.get("strides"),
                                                        kw.get("padding", "valid"), mode),
                   weight_shapes=[], keras=optional_keras(request))


def test_average_pooling_same_counts_only_the_input():
    """An odd total padding ("same", even pool, stride 1): the mean is over the window's positions
    inside the input (Keras's TensorFlow and JAX semantics; its torch backend repeats the edge)."""
    run_layer_test(layers.AveragePooling2D, {"pool_size": 2, "strides": 1, "padding": "same"}, (2, 4, 5, 3),
                   lambda w, x, mask: cref.pool_forward(x, 2, 1, "same", "avg"), weight_shapes=[])


def test_max_pooling_ties_send_the_gradient_to_the_first():
    """Equal values in a window: the gradient goes to the first (row-major), as torch and Keras."""
    inp = bigcore.Input((4,))
    emb = layers.Embedding(4, 1)
    out = layers.Flatten()(layers.MaxPooling2D()(layers.Reshape((2, 2, 1))(emb(inp))))
    model = bigcore.Model(inp, out)
    emb.set_weights([np.zeros((4, 1), np.float32)])
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    model.train_on_batch(np.array([[0, 1, 2, 3]], np.float32), np.ones((1, 1), np.float32))
    np.testing.assert_array_equal(emb.get_weights()[0][:, 0], [2.0, 0.0, 0.0, 0.0])


GLOBAL = [
    (layers.GlobalAveragePooling1D, {}, (3, 6, 4)),
    (layers.GlobalAveragePooling1D, {"keepdims": True}, (3, 6, 4)),
    (layers.GlobalMaxPooling1D, {}, (3, 6, 4)),
    (layers.GlobalMaxPooling1D, {"keepdims": True}, (3, 6, 4)),
    (layers.GlobalAveragePooling2D, {}, (2, 4, 5, 3)),
    (layers.GlobalAveragePooling2D, {"keepdims": True}, (2, 4, 5, 3)),
    (layers.GlobalMaxPooling2D, {}, (2, 4, 5, 3)),
    (layers.GlobalMaxPooling2D, {"keepdims": True}, (2, 4, 5, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", GLOBAL, ids=lambda v: getattr(v, "__name__", str(v)))
def test_global_pooling(request, cls, kw, shape):
    mode = "max" if "Max" in cls.__name__ else "avg"
    run_layer_test(cls, kw, shape, lambda w, x, mask: cref.global_pool(x, mode, kw.get("keepdims", False)),
                   weight_shapes=[], keras=optional_keras(request))


def test_global_average_pooling1d_masked(request):
    """The mean over the unmasked steps; the mask stops here. Every row keeps a step (Keras gives NaN
    for a row with none, and so does bigcore: test_global_average_pooling1d_all_masked)."""
    m = mask_pattern(5, 6)
    m[3, 0] = True  # mask_pattern's fully masked row keeps one step here
    run_layer_test(layers.GlobalAveragePooling1D, {}, (5, 6, 3),
                   lambda w, x, mask: cref.global_pool(x, "avg", mask=mask), weight_shapes=[], masked=m,
                   keras=optional_keras(request))


def test_global_average_pooling1d_all_masked():
    inp = bigcore.Input((4,))
    x = layers.Embedding(5, 2, mask_zero=True)(inp)
    model = bigcore.Model(inp, layers.GlobalAveragePooling1D()(x))
    out = model.predict(np.array([[0, 0, 0, 0], [1, 2, 0, 0]], np.float32), verbose=0)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


# --------------------------------------------------------------------------- BatchNormalization


def bn_weights(scale=True, center=True):
    def make(rng):
        C = make.C
        ws = []
        if scale:
            ws.append(rng.uniform(0.5, 1.5, C).astype(np.float32))
        if center:
            ws.append(rng.normal(0, 0.5, C).astype(np.float32))
        ws.append(rng.normal(0, 0.5, C).astype(np.float32))
        ws.append(rng.uniform(0.5, 2.0, C).astype(np.float32))
        return ws
    return make


def bn_refs(kw, C):
    scale, center = kw.get("scale", True), kw.get("center", True)
    eps = kw.get("epsilon", 1e-3)

    def split(w):
        it = iter(w)
        g = next(it) if scale else None
        b = next(it) if center else None
        return g, b, next(it), next(it)

    def infer(w, x, mask):
        g, b, mm, mv = split(w)
        return cref.batch_norm(x, g, b, mm, mv, eps)

    def train(w, x, mask):
        g, b, _, _ = split(w)
        mean, var = cref.batch_moments(x, mask)
        return cref.batch_norm(x, g, b, mean, var, eps)

    return infer, train


BN = [
    ({}, (6, 5)),
    ({"momentum": 0.9, "epsilon": 1e-2}, (3, 4, 5)),
    ({"center": False}, (2, 5, 4, 3)),
    ({"scale": False, "momentum": 0.5}, (2, 5, 4, 3)),
    ({"gamma_regularizer": regularizers.l2(0.05)}, (3, 4, 4)),
]


@pytest.mark.parametrize("kw,shape", BN, ids=str)
def test_batch_normalization(request, kw, shape):
    C = shape[-1]
    make = bn_weights(kw.get("scale", True), kw.get("center", True))
    make.C = C
    infer, train = bn_refs(kw, C)
    n = int(kw.get("scale", True)) + int(kw.get("center", True))
    run_layer_test(layers.BatchNormalization, kw, shape, infer, train_reference=train,
                   weight_shapes=[(C,)] * (n + 2), n_trainable=n, weights=make, rtol=1e-4, atol=1e-5,
                   keras=optional_keras(request))


def test_batch_normalization_masked(request):
    """A mask from an Embedding: the batch statistics over the kept steps only; the mask passes on."""
    C = 3
    make = bn_weights()
    make.C = C
    infer, train = bn_refs({}, C)
    run_layer_test(layers.BatchNormalization, {"momentum": 0.8}, (5, 6, C), infer, train_reference=train,
                   weight_shapes=[(C,)] * 4, n_trainable=2, weights=make, masked=True, output_mask=pass_mask,
                   rtol=1e-4, atol=1e-5, keras=optional_keras(request))


def test_batch_normalization_moving_statistics_follow_keras_over_steps(keras):
    """Conv2D -> BatchNormalization -> ReLU -> Dense trained 5 Adam steps in bigcore and Keras from the
    same weights: the same losses, the same moving statistics, the same inference outputs. (The
    convolution has no bias, as usual before a BatchNormalization: a bias there has a zero gradient, on
    which Adam's steps follow round-off, differently in each framework, and the moving mean with them.)"""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(16, 3)).astype(np.float32)

    def build(lib):
        inp = lib.Input((6, 6, 2))
        h = lib.layers.Conv2D(4, 3, padding="same", use_bias=False)(inp)
        h = lib.layers.BatchNormalization(momentum=0.7)(h)
        h = lib.layers.ReLU()(h)
        out = lib.layers.Dense(3)(lib.layers.Flatten()(h))
        m = lib.Model(inp, out)
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
        return m

    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    for step in range(5):
        a = ours.train_on_batch(x, y)
        b = float(theirs.train_on_batch(x, y))
        assert a == pytest.approx(b, rel=1e-4), f"loss at step {step}"
    bn = ours.layers[2]
    kbn = theirs.layers[2]
    for w, kw in zip(bn.get_weights(), kbn.get_weights()):
        np.testing.assert_allclose(w, kw, rtol=1e-4, atol=1e-5)
    assert not np.allclose(bn.get_weights()[2], 0.0), "the moving mean never moved"
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_batch_normalization_frozen_uses_moving_statistics():
    """trainable=False (Keras): training normalizes with the moving statistics, which do not move."""
    C = 3
    bn = layers.BatchNormalization(trainable=False)
    inp = bigcore.Input((4, C))
    model = bigcore.Model(inp, bn(inp))
    rng = np.random.default_rng(0)
    weights = [np.ones(C, np.float32), np.zeros(C, np.float32), rng.normal(size=C).astype(np.float32),
               rng.uniform(0.5, 2, C).astype(np.float32)]
    bn.set_weights(weights)
    model.compile(optimizer="sgd", loss="mse")
    x = rng.normal(size=(8, 4, C)).astype(np.float32)
    model.train_on_batch(x, np.zeros_like(x))
    for a, b in zip(bn.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.predict(x, verbose=0), cref.batch_norm(x, *weights), rtol=1e-5, atol=1e-6)


def test_batch_normalization_errors():
    with pytest.raises(ValueError, match="last axis"):
        layers.BatchNormalization(axis=1)(bigcore.Input((4, 3)))
    with pytest.raises(ValueError, match="renorm"):
        layers.BatchNormalization(renorm=True)


# --------------------------------------------------------------------------- activation layers

ACT = [
    (layers.ReLU, {}, lambda x: cref.relu(x)),
    (layers.ReLU, {"max_value": 0.8}, lambda x: cref.relu(x, max_value=0.8)),
    (layers.ReLU, {"negative_slope": 0.1}, lambda x: cref.relu(x, 0.1)),
    (layers.ReLU, {"threshold": 0.3, "negative_slope": 0.2, "max_value": 1.2},
     lambda x: cref.relu(x, 0.2, 1.2, 0.3)),
    (layers.LeakyReLU, {}, lambda x: cref.relu(x, 0.3)),
    (layers.LeakyReLU, {"negative_slope": 0.05}, lambda x: cref.relu(x, 0.05)),
    (layers.ELU, {}, lambda x: cref.elu(x)),
    (layers.ELU, {"alpha": 0.5}, lambda x: cref.elu(x, 0.5)),
    (layers.Softmax, {}, lambda x: cref.softmax(x)),
    (layers.Softmax, {"axis": 1}, lambda x: cref.softmax(x, axis=1)),
]


@pytest.mark.parametrize("cls,kw,fn", ACT, ids=lambda v: getattr(v, "__name__", str(v)))
def test_activation_layers(request, cls, kw, fn):
    run_layer_test(cls, kw, (3, 4, 5), lambda w, x, mask: fn(x), weight_shapes=[], keras=optional_keras(request))


def test_activation_layers_pass_masks(request):
    run_layer_test(layers.LeakyReLU, {"negative_slope": 0.2}, (5, 4, 3), lambda w, x, mask: cref.relu(x, 0.2),
                   weight_shapes=[], masked=True, output_mask=pass_mask, keras=optional_keras(request))


def test_softmax_rejects_a_mask_that_does_not_broadcast():
    """Keras broadcasts the mask from the last axis: a (batch, T) mask on (batch, T, C) inputs raises."""
    inp = bigcore.Input((6,))
    x = layers.Embedding(8, 3, mask_zero=True)(inp)
    with pytest.raises(ValueError, match="broadcastable"):
        bigcore.Model(inp, layers.Softmax()(x))._native()


@pytest.mark.parametrize("shared", [None, [1], [1, 2]])
def test_prelu(request, shared):
    shape = (3, 4, 5)
    alpha_shape = tuple(1 if (shared and i + 1 in shared) else s for i, s in enumerate(shape[1:]))
    run_layer_test(layers.PReLU, {"shared_axes": shared}, shape, lambda w, x, mask: cref.prelu(x, w[0]),
                   weight_shapes=[alpha_shape], keras=optional_keras(request))


# --------------------------------------------------------------------------- int8 convolutions


def int8_conv_weights(k, C, F, use_bias=True):
    def make(rng):
        kernel = rng.integers(-127, 128, tuple(k) + (C, F)).astype(np.int8)
        bias = [(0.3 * rng.standard_normal(F)).astype(np.float32)] if use_bias else []
        return [kernel] + bias + [rng.uniform(0.002, 0.02, F).astype(np.float32)]
    return make


QCONV = [
    (QuantizedConv1D, {"filters": 4, "kernel_size": 3}, (3, 9, 5)),
    (QuantizedConv1D, {"filters": 4, "kernel_size": 3, "padding": "causal", "activation": "relu",
                       "dilation_rate": 2}, (3, 9, 5)),
    (QuantizedConv2D, {"filters": 6, "kernel_size": 3, "padding": "same", "strides": 2}, (2, 7, 6, 3)),
    (QuantizedConv2D, {"filters": 5, "kernel_size": (2, 3), "activation": "tanh", "use_bias": False}, (2, 5, 6, 3)),
    (QuantizedConv2D, {"filters": 4, "kernel_size": 1, "activation_scale": 0.02}, (2, 4, 5, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", QCONV, ids=lambda v: getattr(v, "__name__", str(v)))
def test_quantized_conv(cls, kw, shape):
    """The int8 convolution is im2col + the exact int8 GEMM: each window row quantized with its own scale."""
    rank = len(shape) - 2
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * rank
    C, F, use_bias = shape[-1], kw["filters"], kw.get("use_bias", True)
    act = kw.get("activation", "linear")

    def forward(w, x, mask):
        cols = cref.im2col(x, k, kw.get("strides", 1), kw.get("padding", "valid"), kw.get("dilation_rate", 1))
        y = qref.qdense_forward(cols.reshape(-1, cols.shape[-1]), w[0].reshape(-1, F), w[1] if use_bias else None,
                                w[-1], act, kw.get("activation_scale", 0.0))
        return y.reshape(cols.shape[:-1] + (F,))

    exact = act in ("linear", "relu")
    run_layer_test(cls, kw, shape, forward, weight_shapes=[tuple(k) + (C, F)] + ([(F,)] if use_bias else []) + [(F,)],
                   n_trainable=0, weights=int8_conv_weights(k, C, F, use_bias), gradients=False,
                   rtol=0 if exact else 1e-6, atol=0 if exact else 1e-6)


def test_quantize_converts_convolutions():
    """quantize() turns Conv1D/Conv2D (groups 1) into the int8 layers, keeps grouped ones float, and the
    int8 model answers close to the float one."""
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((10, 10, 4))
    h = layers.Conv2D(8, 3, activation="relu")(inp)
    h = layers.Conv2D(8, 3, groups=2, padding="same")(h)
    h = layers.MaxPooling2D()(h)
    out = layers.Dense(3)(layers.Flatten()(h))
    model = bigcore.Model(inp, out)
    q = bigcore.quantization.quantize(model)
    kinds = [type(layer).__name__ for layer in q.layers]
    assert kinds[1:4] == ["QuantizedConv2D", "Conv2D", "MaxPooling2D"]
    x = np.random.default_rng(0).normal(size=(6, 10, 10, 4)).astype(np.float32)
    want, got = model.predict(x, verbose=0), q.predict(x, verbose=0)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert not np.array_equal(got, want)


def test_fold_batch_norm_and_quantize_fold_it():
    """Conv2D -> BatchNormalization -> ReLU and Dense -> BatchNormalization: fold_batch_norm gives a model
    without them (Identity in their place) that predicts as the original; quantize() folds them too."""
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((8, 8, 3))
    h = layers.Conv2D(6, 3, use_bias=False)(inp)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    h = layers.Conv2D(4, 3, activation="relu")(h)
    h = layers.BatchNormalization(center=False)(h)  # after a relu: not folded
    h = layers.Flatten()(h)
    h = layers.Dense(5)(h)
    out = layers.BatchNormalization(scale=False)(h)
    model = bigcore.Model(inp, out)
    rng = np.random.default_rng(0)
    ws = []
    for w in model.weights:
        v = rng.normal(scale=0.5, size=w.shape).astype(np.float32)
        ws.append(np.abs(v) + 0.3 if w.name.endswith("moving_variance") else v)
    model.set_weights(ws)
    x = rng.normal(size=(5, 8, 8, 3)).astype(np.float32)
    folded = bigcore.quantization.fold_batch_norm(model)
    kinds = [type(layer).__name__ for layer in folded.layers[1:]]
    assert kinds == ["Conv2D", "Identity", "ReLU", "Conv2D", "BatchNormalization", "Flatten", "Dense", "Identity"]
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    q = bigcore.quantization.quantize(model)
    qk = [type(layer).__name__ for layer in q.layers[1:]]
    assert qk == ["QuantizedConv2D", "Identity", "ReLU", "QuantizedConv2D", "BatchNormalization", "Flatten",
                  "QuantizedDense", "Identity"]
    want = model.predict(x, verbose=0)
    assert np.abs(q.predict(x, verbose=0) - want).max() < 0.05 * np.abs(want).max()
