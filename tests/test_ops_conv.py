"""keras.ops' convolutions and poolings (bigcore/ops/conv.py): conv, depthwise_conv, separable_conv,
conv_transpose, max_pool, average_pool, 1-D / 2-D / 3-D. Each case runs as a custom layer whose call()
applies the op to its input with its weights as kernels, through the layer harness: forward against
tests/reference_conv.py (float64), gradients of the kernels and the input by central differences,
threads, round trips, and Keras 3 parity (the same layer written with keras.ops: same outputs, same
weights after Adam steps). Then: the ops on arrays, a computed kernel, ops.nn's names, refusals."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers, ops
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = [pytest.mark.filterwarnings(KERAS_WARNING),
              pytest.mark.filterwarnings("ignore:You might experience inconsistencies:UserWarning")]


def _conv(kw):
    return lambda o, x, k: o.conv(x, k, **kw), lambda w, x: cref.conv_forward(
        x, w[0], None, kw.get("strides", 1), kw.get("padding", "valid"), kw.get("dilation_rate", 1),
        groups=x.shape[-1] // w[0].shape[-2])


def _depthwise(kw):
    return lambda o, x, k: o.depthwise_conv(x, k, **kw), lambda w, x: cref.depthwise_forward(
        x, w[0], None, kw.get("strides", 1), kw.get("padding", "valid"), kw.get("dilation_rate", 1))


def _separable(kw):
    return lambda o, x, dk, pk: o.separable_conv(x, dk, pk, **kw), lambda w, x: cref.separable_forward(
        x, w[0], w[1], None, kw.get("strides", 1), kw.get("padding", "valid"), kw.get("dilation_rate", 1))


def _transpose(kw):
    return lambda o, x, k: o.conv_transpose(x, k, **kw), lambda w, x: cref.conv_transpose_forward(
        x, w[0], None, kw.get("strides", 1), kw.get("padding", "valid"), kw.get("output_padding"),
        kw.get("dilation_rate", 1))


def _pool(mode, kw):
    fn = "max_pool" if mode == "max" else "average_pool"
    return lambda o, x: getattr(o, fn)(x, **kw), lambda w, x: cref.pool_forward(
        x, kw["pool_size"], kw.get("strides"), kw.get("padding", "valid"), mode)


# name: (input shape, kernel shapes, (op, reference))
CASES = {
    "conv1d_same_s2": ((3, 9, 4), [(3, 4, 5)], _conv({"strides": 2, "padding": "same"})),
    "conv1d_dilated": ((2, 9, 3), [(3, 3, 2)], _conv({"dilation_rate": 2})),
    "conv2d_same": ((2, 6, 5, 3), [(3, 2, 3, 4)], _conv({"strides": (2, 1), "padding": "same"})),
    "conv2d_groups": ((2, 5, 5, 4), [(3, 3, 2, 6)], _conv({})),
    "conv2d_dilated_same": ((2, 6, 6, 2), [(2, 3, 2, 3)], _conv({"dilation_rate": 2, "padding": "same"})),
    "conv3d_same_s2": ((2, 4, 5, 4, 2), [(2, 3, 2, 2, 3)], _conv({"strides": 2, "padding": "same"})),
    "conv3d_valid": ((2, 4, 4, 3, 3), [(2, 2, 2, 3, 2)], _conv({})),
    "depthwise1d_same": ((3, 8, 3), [(3, 3, 2)], _depthwise({"padding": "same"})),
    "depthwise2d_s2": ((2, 6, 5, 3), [(3, 3, 3, 2)], _depthwise({"strides": 2})),
    "separable2d_same": ((2, 6, 6, 3), [(3, 3, 3, 2), (1, 1, 6, 4)], _separable({"padding": "same"})),
    "separable1d": ((3, 7, 2), [(3, 2, 2), (1, 4, 3)], _separable({"strides": 2})),
    "transpose1d_same_s2": ((3, 5, 4), [(3, 2, 4)], _transpose({"strides": 2, "padding": "same"})),
    "transpose2d_out_pad": ((2, 4, 3, 2), [(3, 3, 3, 2)], _transpose({"strides": 2, "output_padding": 1})),
    "transpose2d_dilated": ((2, 4, 4, 2), [(2, 3, 2, 2)], _transpose({"dilation_rate": (1, 2), "padding": "same"})),
    "transpose3d_same_s2": ((2, 3, 3, 2, 2), [(2, 3, 2, 3, 2)], _transpose({"strides": 2, "padding": "same"})),
    "max_pool1d_same": ((3, 7, 2), [], _pool("max", {"pool_size": 3, "strides": 2, "padding": "same"})),
    "max_pool2d": ((2, 6, 5, 3), [], _pool("max", {"pool_size": 2})),
    "max_pool3d_same": ((2, 4, 5, 3, 2), [], _pool("max", {"pool_size": 2, "padding": "same"})),
    "average_pool1d": ((3, 8, 2), [], _pool("avg", {"pool_size": 3, "strides": 2})),
    "average_pool2d": ((2, 6, 5, 3), [], _pool("avg", {"pool_size": (2, 3), "strides": (2, 1)})),
    "average_pool3d": ((2, 4, 4, 4, 2), [], _pool("avg", {"pool_size": 2})),
}


def _make_layer(base, ops_module):
    class OpsWindow(base):
        """A custom layer applying one case's op with its weights as kernels."""

        def __init__(self, case, **kw):
            super().__init__(**kw)
            self.case = case

        def build(self, input_shape):
            self.ks = [self.add_weight(shape=s, initializer="glorot_uniform", name=f"kernel{i}")
                       for i, s in enumerate(CASES[self.case][1])]

        def call(self, x):
            return CASES[self.case][2][0](ops_module, x, *self.ks)

        def compute_output_shape(self, input_shape):  # the reference's, on zeros
            _, kernels, (_, reference) = CASES[self.case]
            x = np.zeros((1,) + tuple(input_shape[1:]))
            return (input_shape[0],) + reference([np.zeros(s) for s in kernels], x).shape[1:]

        def get_config(self):
            return {**super().get_config(), "case": self.case}

    return OpsWindow


OpsWindow = bigcore.saving.register_keras_serializable(package="ops_conv")(
    type("OpsWindow", (_make_layer(layers.Layer, ops),), {}))


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_in_custom_layer(case, request):
    keras = optional_keras(request)
    shape, kernels, (_, reference) = CASES[case]
    keras_class = None
    if keras is not None:
        keras_class = type("OpsWindow", (_make_layer(keras.layers.Layer, keras.ops),), {})
    run_layer_test(OpsWindow, {"case": case}, shape, lambda w, x, mask: reference(w, x), weight_shapes=kernels,
                   keras=keras, keras_class=keras_class)


@pytest.mark.parametrize("case", ["conv2d_groups", "transpose1d_same_s2", "depthwise2d_s2", "max_pool1d_same",
                                  "average_pool3d", "conv3d_same_s2", "transpose3d_same_s2", "separable1d"])
def test_op_on_arrays(case):
    shape, kernels, (op, reference) = CASES[case]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    ws = [rng.standard_normal(s).astype(np.float32) for s in kernels]
    got = op(ops, x, *ws)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, reference(ws, x), rtol=1e-5, atol=1e-5)


def test_nn_names_are_the_ops():
    for name in ("conv", "depthwise_conv", "separable_conv", "conv_transpose", "max_pool", "average_pool"):
        assert getattr(ops.nn, name) is getattr(ops, name)


class KernelTimesMask(layers.Layer):
    """A computed kernel: the weight times a fixed mask (the centre tap zeroed), as in masked convolutions."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, input_shape[-1], 2), initializer="glorot_uniform", name="kernel")

    def call(self, x):
        mask = np.ones((3, 1, 1), np.float32)
        mask[1] = 0.0
        return ops.conv(x, self.kernel * mask, padding="same")


def test_computed_kernel_trains_to_its_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    y = rng.standard_normal((4, 6, 2)).astype(np.float32)
    inp = bigcore.Input((6, 3))
    model = bigcore.Model(inp, KernelTimesMask()(inp))
    model.compile(optimizer=bigcore.optimizers.SGD(learning_rate=1.0), loss="mse")
    w = model.get_weights()[0].astype(np.float64)
    mask = np.ones((3, 1, 1))
    mask[1] = 0

    def loss(wk):
        return np.mean((cref.conv_forward(x, wk * mask, padding="same") - y) ** 2)

    np.testing.assert_allclose(model.predict(x, verbose=0), cref.conv_forward(x, w * mask, padding="same"),
                               rtol=1e-5, atol=1e-5)
    eps, want = 1e-6, np.zeros_like(w)
    for i in np.ndindex(*w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        want[i] = (loss(w + d) - loss(w - d)) / (2 * eps)
    model.train_on_batch(x, y)
    got = w - model.get_weights()[0]
    assert np.all(got[1] == 0)  # the masked tap gets no gradient
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def test_symbolic_op_in_functional_model_round_trips():
    inp = bigcore.Input((6, 5, 2))
    out = ops.max_pool(inp, 2, padding="same")
    model = bigcore.Model(inp, ops.average_pool(out, (2, 1)))
    x = np.random.default_rng(2).standard_normal((3, 6, 5, 2)).astype(np.float32)
    want = cref.pool_forward(cref.pool_forward(x, 2, None, "same", "max"), (2, 1), None, "valid", "avg")
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    again = bigcore.Model.from_config(model.get_config())
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_refusals():
    x = np.zeros((2, 6, 6, 3), np.float32)
    k = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match="channels_last only"):
        ops.conv(x, k, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_last only"):
        ops.max_pool(x, 2, data_format="channels_first")
    with pytest.raises(ValueError, match="rank 4"):
        ops.conv(x, np.zeros((3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="multiple of the kernel's input"):
        ops.conv(x, np.zeros((3, 3, 2, 4), np.float32))
    with pytest.raises(ValueError, match="padding"):
        ops.conv(x, k, padding="causal")
    with pytest.raises(ValueError, match="dilation_rate > 1"):
        ops.conv(x, k, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="larger than the input"):
        ops.conv(x, np.zeros((7, 7, 3, 4), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        ops.depthwise_conv(np.zeros((2, 4, 4, 4, 3), np.float32), np.zeros((2, 2, 2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        ops.conv_transpose(x, np.zeros((3, 3, 4, 3), np.float32), strides=2, output_padding=2)
    with pytest.raises(ValueError, match="last axis"):
        ops.conv_transpose(x, np.zeros((3, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="must be"):
        ops.max_pool(np.zeros((2, 3), np.float32), 2)
    seq = bigcore.Input((None, 3))
    with pytest.raises(ValueError, match="known when the call is traced"):
        ops.max_pool(seq, 2)
