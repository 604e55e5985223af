"""The activations beyond relu / sigmoid / tanh / softmax / gelu / silu (Keras 3's elu, selu,
softplus, ... log_softmax, sparse_plus): the native kernels against float64 references on every
CPU path, bigcore.activations' functions, names and configs, and the layers that fuse them
against Keras 3 (Dense, Conv2D, Activation, the recurrent cells), a function of one's own as
activation, and saved models."""

import json

import numpy as np
import pytest

import bigcore
import reference_activations as aref
import reference_conv as cref
import reference_rnn as rref
from bigcore import activations, layers, ops
from bigcore._native import _core
from bigcore.models.generation import Generator
from layer_test import KERAS_WARNING, optional_keras, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

# values where the kinds change branch, overflow or saturate, planted in row 0
SPECIAL = [0.0, -0.0, 100.0, -100.0, 88.5, -88.5, 30.0, -30.0, 1e-3, -1e-3, 3.0, -3.0, 6.0, 1.0, -1.0, 0.5, -0.5,
           20.0, -20.0]


def native_id(act):
    return activations.native_id(act)


def native_forward(z, act):
    y = np.array(z, np.float32, copy=True)
    _core.bias_act_forward(y, None, native_id(act))
    return y


def native_backward(z, y, dy, act):
    """dL/dz through the kernel, given its input z or output y as act_needs_input says."""
    d = np.array(dy, np.float32, copy=True)
    _core.act_backward(d, z if _core.act_needs_input(native_id(act)) else y, native_id(act))
    return d


def inputs(shape, seed=0, special=True):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 4).astype(np.float32)
    if special:
        n = min(len(SPECIAL), shape[1])
        z[0, :n] = SPECIAL[:n]
    return z


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("shape", [(1, 1), (7, 37), (3, 1100), (2, 2100)], ids=str)
@pytest.mark.parametrize("act", aref.NEW)
def test_forward_matches_reference(isa, act, shape):
    z = inputs(shape)
    y = native_forward(z, act)
    want = aref.forward(z, act)
    big = np.abs(z.astype(np.float64)) > 88 if act == "exponential" else np.zeros(z.shape, bool)
    # float32 against float64: a few ulp of the result, or of the input where the function is
    # about z (a difference of two values near z: tanh_shrink, squareplus for z << 0)
    tol = 1e-6 * np.maximum(np.abs(want), np.abs(z.astype(np.float64)) if act != "exponential" else 0) + 1e-37
    if act == "log_softmax":  # z - max rounds to float32 first: up to |z - max| * 2^-24
        tol = tol + 1e-7 * np.abs(z - z.max(axis=-1, keepdims=True))
    assert np.all(np.abs(y - want)[~big] <= 3 * tol[~big]), (
        f"{act}: worst {np.max(np.abs(y - want)[~big] / tol[~big]):.2f} of the tolerance at "
        f"z={z[~big][np.argmax(np.abs(y - want)[~big] / tol[~big])]}")
    if act == "exponential":  # float32 overflow: inf, as keras.ops.exp; underflow: 0
        assert np.all(y[z > 88.8] == np.inf) and np.all(y[z < -88] < 1e-37)
    else:
        assert np.isfinite(y).all()


@pytest.mark.parametrize("act", aref.NEW)
def test_backward_matches_finite_differences(isa, act):
    rng = np.random.default_rng(1)
    z = aref.away_from_kinks(inputs((6, 53), special=False) * np.float32(0.75), act).astype(np.float32)
    dy = rng.standard_normal(z.shape).astype(np.float32)
    got = native_backward(z, native_forward(z, act), dy, act)
    want = aref.backward_fd(z, dy, act)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("act", aref.NEW)
def test_backward_at_the_extremes(isa, act):
    """Gradients stay finite (and the saturated ones exact) where the function saturates or grows."""
    z = np.array([[100.0, -100.0, 88.5, -88.5, 30.0, -30.0, 20.0, -20.0]], np.float32)
    if act == "exponential":
        z = z / 2  # exp(50) is finite in float32
    dy = np.ones_like(z)
    got = native_backward(z, native_forward(z, act), dy, act)
    assert np.isfinite(got).all()
    if act not in aref.ROW_WISE:
        want = aref.backward_fd(z.astype(np.float64), dy, act, h=1e-4)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("act", aref.NEW)
def test_isa_paths_bit_identical(restore_isa, supported_isas, act):
    if len(supported_isas) < 2:
        pytest.skip("only one ISA path on this CPU")
    rng = np.random.default_rng(5)
    results = {}
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        out = []
        for shape in [(7, 37), (3, 1025), (2, 2100), (4, 3)]:
            z = inputs(shape)
            y = native_forward(z, act)
            dy = rng.standard_normal(shape).astype(np.float32) if isa == supported_isas[0] else None
            results.setdefault(("dy", shape), dy)
            out.append((y.tobytes(), native_backward(z, y, results[("dy", shape)], act).tobytes()))
        results[isa] = out
    for isa in supported_isas[1:]:
        assert results[isa] == results[supported_isas[0]], f"{act}: {isa} differs from {supported_isas[0]}"


def test_log_softmax_rows_are_log_probabilities(isa):
    """exp(log_softmax) sums to 1 over each row, for long rows (chunked sums) and huge logits."""
    z = inputs((3, 2100), special=False)
    z[1] += 1e4
    z[2] = -1e4
    y = native_forward(z, "log_softmax")
    np.testing.assert_allclose(np.exp(y.astype(np.float64)).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y[2], -np.log(2100), rtol=1e-6)


def test_nan_passes(isa):
    z = np.full((1, 5), np.nan, np.float32)
    for act in aref.NEW:
        assert np.isnan(native_forward(z, act)).all(), act


def test_unknown_native_ids_are_refused():
    for bad in (-1, 27, 1000):
        with pytest.raises(ValueError, match="unknown activation id"):
            _core.bias_act_forward(np.zeros((2, 3), np.float32), None, bad)
        with pytest.raises(ValueError, match="unknown activation id"):
            _core.act_needs_input(bad)


# --------------------------------------------------------------------------- layers against Keras


def act_ref(act):
    return lambda z: aref.forward(z, act)


@pytest.mark.parametrize("act", aref.NEW)
def test_dense(request, act):
    f = act_ref(act)
    run_layer_test(layers.Dense, {"units": 6, "activation": act}, (5, 4), lambda w, x, mask: f(x @ w[0] + w[1]),
                   weight_shapes=[(4, 6), (6,)], input_scale=2.0, keras=optional_keras(request))


@pytest.mark.parametrize("act", aref.NEW)
def test_conv2d(request, act):
    f = act_ref(act)
    kw = {"filters": 3, "kernel_size": 2, "padding": "same", "activation": act}
    run_layer_test(layers.Conv2D, kw, (2, 4, 5, 3),
                   lambda w, x, mask: f(cref.conv_forward(x, w[0], w[1], padding="same")),
                   weight_shapes=[(2, 2, 3, 3), (3,)], input_scale=2.0, keras=optional_keras(request))


@pytest.mark.parametrize("act", aref.NEW)
def test_activation_layer(request, act):
    f = act_ref(act)
    run_layer_test(layers.Activation, {"activation": act}, (3, 4, 7), lambda w, x, mask: f(x), weight_shapes=[],
                   input_scale=2.5, keras=optional_keras(request))


@pytest.mark.parametrize("act", ["elu", "mish", "hard_silu", "log_softmax"])
def test_conv_transpose_and_depthwise_differentiate_from_the_input(request, act):
    """The other convolution ops keep z for the kinds whose gradient needs it (act_needs_input)."""
    f = act_ref(act)
    kw = {"filters": 2, "kernel_size": 2, "strides": 2, "activation": act}
    run_layer_test(layers.Conv2DTranspose, kw, (2, 3, 2, 3),
                   lambda w, x, mask: f(cref.conv_transpose_forward(x, w[0], w[1], strides=2)),
                   weight_shapes=[(2, 2, 2, 3), (2,)], keras=optional_keras(request))
    kw = {"kernel_size": 2, "depth_multiplier": 2, "activation": act}
    run_layer_test(layers.DepthwiseConv2D, kw, (2, 4, 3, 2),
                   lambda w, x, mask: f(cref.depthwise_forward(x, w[0], w[1])),
                   weight_shapes=[(2, 2, 2, 2), (4,)], keras=optional_keras(request))


RECURRENT_CASES = [("LSTM", "hard_tanh", "hard_sigmoid", 1.5), ("GRU", "leaky_relu", "hard_sigmoid", 1.5),
                   ("SimpleRNN", "relu6", None, 3.0), ("LSTM", "relu6", "hard_sigmoid", 3.0),
                   ("GRU", "soft_shrink", "hard_sigmoid", 3.0), ("SimpleRNN", "hard_shrink", None, 3.0),
                   ("GRU", "exponential", "sigmoid", 0.5)]


@pytest.mark.parametrize("kind,act,rec_act,scale", RECURRENT_CASES, ids=lambda v: str(v))
def test_recurrent_cells(request, kind, act, rec_act, scale):
    """The cells share the kernels every layer uses, for the kinds their outputs differentiate."""
    kw = {"units": 3, "activation": act, "return_sequences": True, **({"recurrent_activation": rec_act} if rec_act
                                                                         else {})}
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    bias = [(2, 3 * 3)] if kind == "GRU" else [(gates * 3,)]
    cell = {k: kw[k] for k in ("activation", "recurrent_activation") if k in kw}
    run_layer_test(getattr(layers, kind), kw, (3, 4, 2),
                   lambda w, x, mask: rref.rnn_forward(kind.lower().replace("simplernn", "simple_rnn"), x, w[0], w[1],
                                                       w[2], return_sequences=True, **cell),
                   weight_shapes=[(2, gates * 3), (3, gates * 3)] + bias, input_scale=scale, atol=2e-5, rtol=1e-4,
                   keras=optional_keras(request))


REFUSED = [("activation", "elu"), ("recurrent_activation", "mish"), ("activation", "log_softmax"),
           ("activation", "softmax"), ("recurrent_activation", lambda x: ops.square(x))]


@pytest.mark.parametrize("kind,arg,value", [(k, a, v) for k in ("LSTM", "GRU", "SimpleRNN") for a, v in REFUSED
                                            if k != "SimpleRNN" or a == "activation"])  # SimpleRNN has one
def test_recurrent_cells_refuse_the_others_by_name(kind, arg, value):
    shown = "<lambda>" if callable(value) else value
    with pytest.raises(ValueError, match=rf"{kind}: {arg}='{shown}' is not supported in a recurrent cell; "
                                         "supported: linear, relu, sigmoid, tanh, hard_sigmoid"):
        getattr(layers, kind)(3, **{arg: value})


def test_recurrent_op_refuses_other_kinds_natively():
    p = _core.Program()
    x = p.add_tensor(8)
    out = p.add_tensor(2)
    w, r = p.add_param(8), p.add_param(16)
    for act, ract in ((native_id("elu"), native_id("sigmoid")), (native_id("tanh"), native_id("log_softmax"))):
        with pytest.raises(ValueError, match=f"activation id {act if act == native_id('elu') else ract} is not one"):
            p.add_recurrent("lstm", x, -1, [out], w, r, -1, 2, 2, 4, act, ract, False, False, False, False, False,
                            0.0, 0.0, 0)


def test_log_softmax_output_is_not_fused_with_the_loss(request):
    """A log_softmax output trains like Keras with SparseCategoricalCrossentropy(from_logits=True)
    (only softmax and sigmoid fuse their gradient with a cross-entropy)."""
    keras = request.getfixturevalue("keras")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    ours = bigcore.Sequential([layers.Input((5,)), layers.Dense(8, activation="mish"),
                               layers.Dense(4, activation="log_softmax")])
    theirs = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="mish"),
                               keras.layers.Dense(4, activation="log_softmax")])
    theirs.set_weights(ours.get_weights())
    ours.compile(bigcore.optimizers.Adam(0.01), bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(3):
        assert ours.train_on_batch(x, y) == pytest.approx(float(theirs.train_on_batch(x, y)), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- a function of one's own


@bigcore.saving.register_keras_serializable(package="acts_test", name="gated_square")
def gated_square(x):
    """x tanh(x) + x^2 / 10, written with bigcore.ops."""
    return ops.add(ops.multiply(x, ops.tanh(x)), ops.multiply(ops.square(x), 0.1))


def gated_square_ref(z):
    return z * np.tanh(z) + 0.1 * z * z


@pytest.fixture
def keras_gated_square(keras):
    """The same function in keras.ops, registered in Keras under the same name."""
    def fn(x):
        return keras.ops.tanh(x) * x + 0.1 * keras.ops.square(x)

    fn.__name__ = "gated_square"
    return keras.saving.register_keras_serializable(package="acts_test", name="gated_square")(fn)


def test_dense_with_a_function_of_ones_own(keras_gated_square, keras):
    """Forward, gradients, threads, config and save round trips, and Keras (outputs, three Adam
    steps) with the function as Dense's activation."""
    run_layer_test(layers.Dense, {"units": 5, "activation": gated_square}, (4, 3),
                   lambda w, x, mask: gated_square_ref(x @ w[0] + w[1]), weight_shapes=[(3, 5), (5,)],
                   input_scale=2.0, keras=keras)


def test_conv_and_activation_with_a_function_of_ones_own(keras_gated_square, keras):
    kw = {"filters": 2, "kernel_size": 3, "activation": gated_square}
    run_layer_test(layers.Conv1D, kw, (2, 6, 3), lambda w, x, mask: gated_square_ref(cref.conv_forward(x, w[0], w[1])),
                   weight_shapes=[(3, 3, 2), (2,)], keras=keras)
    kw = {"filters": 2, "kernel_size": 2, "activation": gated_square}
    run_layer_test(layers.Conv2D, kw, (2, 4, 3, 2),
                   lambda w, x, mask: gated_square_ref(cref.conv_forward(x, w[0], w[1])),
                   weight_shapes=[(2, 2, 2, 2), (2,)], keras=keras)
    run_layer_test(layers.Activation, {"activation": gated_square}, (3, 4, 5),
                   lambda w, x, mask: gated_square_ref(x), weight_shapes=[], input_scale=2.0, keras=keras)


def test_the_other_fused_layers_with_a_function_of_ones_own(keras_gated_square, keras):
    kw = {"equation": "abc,cde->abde", "output_shape": (None, 2, 3), "bias_axes": "de", "activation": gated_square}
    run_layer_test(layers.EinsumDense, kw, (3, 4, 5),
                   lambda w, x, mask: gated_square_ref(np.einsum("abc,cde->abde", x, w[0]) + w[1]),
                   weight_shapes=[(5, 2, 3), (2, 3)], keras=keras)
    kw = {"filters": 2, "kernel_size": 2, "strides": 2, "activation": gated_square}
    run_layer_test(layers.Conv2DTranspose, kw, (2, 3, 2, 3),
                   lambda w, x, mask: gated_square_ref(cref.conv_transpose_forward(x, w[0], w[1], strides=2)),
                   weight_shapes=[(2, 2, 2, 3), (2,)], keras=keras)
    kw = {"filters": 3, "kernel_size": 2, "activation": gated_square}
    run_layer_test(layers.SeparableConv2D, kw, (2, 4, 3, 2),
                   lambda w, x, mask: gated_square_ref(cref.separable_forward(x, w[0], w[1], w[2])),
                   weight_shapes=[(2, 2, 2, 1), (1, 1, 2, 3), (3,)], keras=keras)


def test_a_lambda_trains_as_in_keras(keras):
    """An unregistered lambda (no config, so no save) in Dense and Activation, against Keras."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.standard_normal((12, 3)).astype(np.float32)
    ours = bigcore.Sequential([layers.Input((4,)), layers.Dense(6, activation=lambda t: ops.multiply(t, ops.sigmoid(t))),
                               layers.Dense(3), layers.Activation(lambda t: ops.sin(t))])
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation=lambda t: t * keras.ops.sigmoid(t)),
                               keras.layers.Dense(3), keras.layers.Activation(lambda t: keras.ops.sin(t))])
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    ours.compile(bigcore.optimizers.Adam(0.01), "mse")
    theirs.compile(keras.optimizers.Adam(0.01), "mse")
    for _ in range(3):
        assert ours.train_on_batch(x, y) == pytest.approx(float(theirs.train_on_batch(x, y)), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="lambda.*has no name a config can hold.*register_keras_serializable"):
        ours.get_config()


def test_int8_and_sparse_layers_with_a_function_of_ones_own():
    """quantize() keeps a registered function; the int8 and sparse kernels run it after their product."""
    rng = np.random.default_rng(9)
    w = rng.normal(scale=0.4, size=(16, 12)).astype(np.float32)
    w[rng.random(w.shape) < 0.7] = 0.0  # pruned: sparsify times the sparse kernel too
    b = rng.normal(scale=0.3, size=12).astype(np.float32)
    x = rng.standard_normal((6, 16)).astype(np.float32)

    def model(act):
        m = bigcore.Sequential([layers.Input((16,)), layers.Dense(12, activation=act)])
        m.set_weights([w, b])
        return m

    q = bigcore.quantization.quantize(model(gated_square))
    assert q.layers[0].activation is gated_square
    linear = bigcore.quantization.quantize(model("linear"), sparse_kernels=False).predict(x, verbose=0)
    np.testing.assert_array_equal(q.predict(x, verbose=0), gated_square(linear))  # bigcore.ops on arrays
    sparse = bigcore.Sequential([layers.Input((16,)), bigcore.layers.sparse.SparseDense(12, activation=gated_square)])
    sparse.set_weights([w, b])
    np.testing.assert_allclose(sparse.predict(x, verbose=0), model(gated_square).predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_functions_elsewhere_are_refused_clearly():
    with pytest.raises(ValueError, match="'gated_square' is a function of your own, which has no native kind"):
        activations.native_id(gated_square)
    bad = layers.Dense(3, activation=lambda t: np.tanh(t))  # NumPy on a symbolic tensor
    with pytest.raises(TypeError):
        bigcore.Sequential([layers.Input((4,)), bad]).predict(np.zeros((2, 4), np.float32), verbose=0)
    reshaping = layers.Dense(4, activation=lambda t: ops.reshape(t, (-1, 2, 2)))
    with pytest.raises(ValueError, match="changes the shape"):
        bigcore.Sequential([layers.Input((4,)), reshaping]).predict(np.zeros((2, 4), np.float32), verbose=0)
    # keras.activations' own functions are not "elsewhere": on a symbolic tensor they record bigcore.ops
    model = bigcore.Sequential([layers.Input((4,)), layers.Dense(3, activation=lambda t: activations.elu(t, 0.5))])
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    kernel, bias = (w.numpy() for w in model.layers[-1].weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), activations.elu(x @ kernel + bias, 0.5), rtol=1e-5,
                               atol=1e-6)


# --------------------------------------------------------------------------- bigcore.activations


FUNCTION_CASES = [(name, {}) for name in aref.NEW] + [
    ("relu", {}), ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 6.0}), ("relu", {"max_value": 2.5}),
    ("relu", {"threshold": 0.5}), ("relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 0.5}),
    ("relu", {"threshold": -1.0, "max_value": 2.0}), ("relu", {"negative_slope": 0.3, "threshold": -0.5}),
    ("elu", {"alpha": 0.5}), ("celu", {"alpha": 2.0}), ("leaky_relu", {"negative_slope": 0.05}),
    ("squareplus", {"b": 2}), ("soft_shrink", {"threshold": 1.0}), ("hard_shrink", {"threshold": 0.2}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}), ("softmax", {}), ("softmax", {"axis": 0}),
    ("log_softmax", {"axis": 0}), ("log_softmax", {"axis": 1}), ("gelu", {}), ("gelu", {"approximate": True}),
    ("hard_swish", {}), ("swish", {}), ("sigmoid", {}), ("tanh", {}), ("linear", {})]


@pytest.mark.parametrize("name,kw", FUNCTION_CASES, ids=lambda v: str(v) if v else "")
def test_functions_match_keras(keras, name, kw):
    x = (np.random.default_rng(2).standard_normal((3, 5, 7)) * 3).astype(np.float32)
    ours = getattr(activations, name)(x, **kw)
    theirs = keras.ops.convert_to_numpy(getattr(keras.activations, name)(x, **kw))
    assert ours.dtype == np.float32 and ours.shape == x.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_functions_take_lists_and_scalars():
    np.testing.assert_allclose(activations.elu([-1.0, 0.0, 2.0]), [np.expm1(-1.0), 0.0, 2.0], rtol=1e-6)
    assert activations.relu6(7.5) == 6.0
    assert activations.log_softmax([1.0, 1.0]) == pytest.approx(np.log([0.5, 0.5]))


# every name Keras 3's keras.activations.get takes
KERAS_NAMES = ("celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
               "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
               "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
               "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold")
NOT_NATIVE = ("glu", "sparse_sigmoid", "sparsemax", "threshold")
TRACED = ("glu", "sparse_sigmoid", "sparsemax")  # a layer applies the bigcore.ops function


def test_get_takes_every_keras_name():
    for name in KERAS_NAMES:
        if name in TRACED:
            fn = activations.get(name)
            assert fn is getattr(activations, name) and activations.get(fn) is fn
            assert layers.Dense(2, activation=name).activation is fn
            assert activations.serialize(name) == name and activations.deserialize(name) is fn
            continue
        if name in NOT_NATIVE:
            with pytest.raises(ValueError, match=rf"Activation '{name}' is not supported as a layer activation: .*"
                                                 "Supported: .*or pass a function of your own"):
                activations.get(name)
            continue
        canonical = activations.get(name)
        assert canonical == {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
        assert activations.get(getattr(activations, name)) == canonical  # the function itself
        assert layers.Dense(2, activation=name).activation == canonical


def test_get_takes_keras_functions_and_forms(keras):
    for name in KERAS_NAMES:
        if name in TRACED:  # Keras's function and its serialized form stand for bigcore's
            assert activations.get(getattr(keras.activations, name)) is getattr(activations, name)
            assert activations.get(keras.activations.serialize(getattr(keras.activations, name))) is \
                getattr(activations, name)
        if name not in NOT_NATIVE:
            assert activations.get(getattr(keras.activations, name)) == activations.get(name)
            assert activations.get(keras.activations.serialize(getattr(keras.activations, name))) == \
                activations.get(name)
    # a layer given Keras's function has Keras's default arguments: slope 0.2, exact gelu
    assert layers.Dense(2, activation=keras.activations.leaky_relu).activation == "leaky_relu"
    assert layers.Dense(2, activation=keras.activations.gelu).activation == "gelu"
    with pytest.raises(ValueError, match="'threshold' is not supported as a layer activation"):
        activations.get(keras.activations.threshold)


def test_unknown_activations_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Unknown activation: 'eluu'. Supported: .*celu, elu, exponential"):
        layers.Dense(2, activation="eluu")
    with pytest.raises(ValueError, match="Could not interpret activation function identifier: 3"):
        activations.get(3)
    with pytest.raises(ValueError, match="'threshold' is not supported as a layer activation: it takes"):
        layers.Activation(activations.threshold)
    with pytest.raises(ValueError, match="Unknown activation function 'nowhere'"):
        activations.deserialize({"module": "builtins", "class_name": "function", "config": "nowhere",
                                 "registered_name": "function"})
    with pytest.raises(ValueError, match="Python bytecode"):
        activations.deserialize({"class_name": "__lambda__", "config": {"code": "..."}})


def test_serialize_round_trips():
    for name in set(KERAS_NAMES) - set(NOT_NATIVE) | {"gelu_approximate"}:
        text = activations.serialize(name)
        assert text == activations.get(name) and activations.deserialize(text) == text
    form = activations.serialize(gated_square)
    assert form == {"module": "builtins", "class_name": "function", "config": "acts_test>gated_square",
                    "registered_name": "function"}
    assert activations.deserialize(json.loads(json.dumps(form))) is gated_square

    def mine(x):
        return ops.square(x)

    assert activations.deserialize(activations.serialize(mine), custom_objects={"mine": mine}) is mine
    with pytest.raises(ValueError, match="Unknown activation function 'mine'"):
        activations.deserialize(activations.serialize(mine))
    with pytest.raises(ValueError, match="has no name a config can hold"):
        activations.serialize(lambda x: x)
    layer = layers.Dense(3, activation=gated_square)
    assert layers.Dense.from_config(json.loads(json.dumps(layer.get_config()))).activation is gated_square


SAVED = [("Dense", "selu"), ("Dense", "leaky_relu"), ("Dense", "mish"), ("Activation", "log_softmax"),
         ("Dense", "hard_silu"), ("Dense", gated_square)]


def saved_model():
    inp = layers.Input((5,))
    x = inp
    for i, (kind, act) in enumerate(SAVED):
        x = layers.Dense(6, activation=act, name=f"d{i}")(x) if kind == "Dense" else layers.Activation(act)(x)
    model = bigcore.Model(inp, x)
    rng = np.random.default_rng(6)
    model.set_weights([rng.normal(scale=0.6, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("suffix", [".keras", ".bigcore"])
def test_saved_models_keep_their_activations(tmp_path, suffix):
    model = saved_model()
    x = np.random.default_rng(7).standard_normal((4, 5)).astype(np.float32)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    assert [getattr(lay, "activation", None) for lay in loaded.layers[1:]] == [a for _, a in SAVED]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keras_loads_the_saved_model(tmp_path, keras, keras_gated_square):
    model = saved_model()
    x = np.random.default_rng(7).standard_normal((4, 5)).astype(np.float32)
    path = str(tmp_path / "model.keras")
    model.save(path)
    theirs = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    theirs.save(str(tmp_path / "theirs.keras"))  # and back: Keras's own file
    back = bigcore.models.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("act", ["mish", "log_softmax", "elu", "sparse_plus", "hard_silu"])
def test_int8_and_sparse_layers_apply_the_same_kernels(act):
    """QuantizedDense / QuantizedConv2D (from quantize) and SparseDense run the activation after
    their products, through the kernels above: act(their linear output), bit for bit."""
    rng = np.random.default_rng(8)

    def model(make, shape, activation):
        m = bigcore.Sequential([layers.Input(shape), make(activation)])
        m.set_weights([np.random.default_rng(1).normal(scale=0.3, size=w.shape).astype(np.float32)
                       for w in m.get_weights()])
        return m

    for make, shape in ((lambda a: layers.Dense(12, activation=a), (16,)),
                        (lambda a: layers.Conv2D(4, 3, activation=a), (6, 6, 3))):
        x = rng.standard_normal((5,) + shape).astype(np.float32)
        q = bigcore.quantization.quantize(model(make, shape, act), sparse_kernels=False)
        linear = bigcore.quantization.quantize(model(make, shape, "linear"), sparse_kernels=False)
        assert type(q.layers[0]).__name__.startswith("Quantized")
        np.testing.assert_array_equal(q.predict(x, verbose=0), getattr(activations, act)(linear.predict(x, verbose=0)))
    x = rng.standard_normal((5, 16)).astype(np.float32)
    dense = model(lambda a: layers.Dense(12, activation=a), (16,), act)
    sparse = bigcore.Sequential([layers.Input((16,)), bigcore.layers.sparse.SparseDense(12, activation=act)])
    sparse.set_weights(dense.get_weights())
    np.testing.assert_allclose(sparse.predict(x, verbose=0), dense.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_generation_decodes_the_new_kinds():
    """The key/value-cache decoder runs Dense layers through the same kernels: a mish feed-forward and a
    log_softmax output (log-probabilities: logits to sample from) give the full model's outputs."""
    V, T, D = 11, 8, 8
    tok = layers.Input((T,))
    x = layers.Embedding(V, D)(tok)
    h = layers.LayerNormalization()(x)
    x = layers.Add()([x, layers.MultiHeadAttention(2, 4)(h, h, use_causal_mask=True)])
    x = layers.Add()([x, layers.Dense(D)(layers.Dense(2 * D, activation="mish")(layers.LayerNormalization()(x)))])
    model = bigcore.Model(tok, layers.Dense(V, activation="log_softmax")(x))
    seq = np.random.default_rng(2).integers(0, V, T)
    want = model.predict(seq[None].astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(Generator(model).logits(seq), want, rtol=1e-5, atol=1e-5)
    own = bigcore.Model(tok, layers.Dense(V, activation=gated_square, name="head")(x))
    with pytest.raises(ValueError, match="layer 'head' .* has an activation function of its own"):
        Generator(own)


def test_glu_sparsemax_sparse_sigmoid_on_arrays():
    x = np.random.default_rng(3).normal(size=(5, 4, 6)).astype(np.float32) * 2
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(activations.glu(x), x64[..., :3] / (1 + np.exp(-x64[..., 3:])), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.glu(x, axis=1), x64[:, :2] / (1 + np.exp(-x64[:, 2:])), rtol=1e-6,
                               atol=1e-7)
    with pytest.raises(ValueError, match="divisible by 2"):
        activations.glu(x[..., :5])
    np.testing.assert_allclose(activations.sparse_sigmoid(x), np.clip((x64 + 1) / 2, 0, 1), rtol=1e-7)
    for axis in (-1, 1, 0):
        got = activations.sparsemax(x, axis=axis)
        np.testing.assert_allclose(got, aref.sparsemax(x, axis), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.sum(axis), 1.0, rtol=1e-5)  # a point of the simplex
    # several values in the support (Keras before keras-team/keras#23469 got tau wrong here)
    np.testing.assert_allclose(activations.sparsemax([[0.0, 0.5, 1.0]]), [[0.0, 0.25, 0.75]], atol=1e-7)


@pytest.mark.parametrize("name", ["sparsemax", "sparse_sigmoid"])
def test_traced_activations_in_a_dense_layer(keras, name, seed):
    """Dense(activation=name): the ops function after the product; Keras's outputs and weights after
    Adam for sparse_sigmoid; sparsemax against the float64 reference (Keras's own was wrong before
    keras-team/keras#23469), its gradient by finite differences."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 6)).astype(np.float32)
    model = bigcore.Sequential([layers.Input((5,)), layers.Dense(6, activation=name)])
    w, b = model.layers[0].get_weights()
    ref = {"sparsemax": aref.sparsemax, "sparse_sigmoid": lambda z: np.clip((z + 1) / 2, 0, 1)}[name]
    np.testing.assert_allclose(model.predict(x, verbose=0), ref(x.astype(np.float64) @ w + b), rtol=1e-5, atol=1e-6)
    assert model.layers[0].get_config()["activation"] == name
    again = bigcore.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert again.layers[0].activation is getattr(activations, name)
    if name == "sparse_sigmoid":
        km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation=name)])
        km.set_weights([w, b])
        km.compile(keras.optimizers.Adam(0.05), "mse")
        model.compile(bigcore.optimizers.Adam(0.05), "mse")
        km.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
        model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False)
        for a, kw in zip(model.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, np.asarray(kw), rtol=1e-4, atol=1e-5)
        return
    # the loss's gradient of the kernel by central differences (float64 reference of the loss)
    model.compile(bigcore.optimizers.SGD(1.0), "mse")

    def loss(wk):
        return float(np.mean((aref.sparsemax(x.astype(np.float64) @ wk + b) - y) ** 2))

    eps, num = 1e-3, np.zeros_like(w, dtype=np.float64)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            d = np.zeros_like(w, dtype=np.float64)
            d[i, j] = eps
            num[i, j] = (loss(w + d) - loss(w - d)) / (2 * eps)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    step = w - model.layers[0].get_weights()[0]  # SGD(1.0): the gradient itself
    np.testing.assert_allclose(step, num, rtol=2e-2, atol=2e-4)
