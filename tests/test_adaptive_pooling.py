"""AdaptiveAveragePooling1D/2D/3D, AdaptiveMaxPooling1D/2D/3D and ops.adaptive_average_pool /
adaptive_max_pool (bigcore/layers/adaptive_pooling.py, bigcore/ops/adaptive_pool.py, native
cpp/ops/adaptive_pool.h): forward against a float64 NumPy reference of Keras's bins (divisible,
overlapping and output-larger-than-input cases, channels last and first), gradients of the input by
central differences, threads, round trips and Keras 3 parity through the layer harness; the ops on
arrays, in a custom layer's call() and against Keras's ops; refusals."""

import math

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def adaptive_ref(x, output_size, data_format="channels_last", mode="avg"):
    """float64: output cell i of an axis of n inputs, m outputs pools [floor(i*n/m), ceil((i+1)*n/m))."""
    x = np.asarray(x, np.float64)
    if data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    spatial = x.shape[1:-1]
    out = np.zeros((x.shape[0],) + tuple(output_size) + (x.shape[-1],))
    for cell in np.ndindex(*output_size):
        sl = tuple(slice(math.floor(i * n / m), math.ceil((i + 1) * n / m))
                   for i, n, m in zip(cell, spatial, output_size))
        win = x[(slice(None),) + sl + (slice(None),)]
        axes = tuple(range(1, 1 + len(spatial)))
        out[(slice(None),) + cell + (slice(None),)] = win.mean(axis=axes) if mode == "avg" else win.max(axis=axes)
    return np.moveaxis(out, -1, 1) if data_format == "channels_first" else out


_CLASSES = {(r, m): getattr(layers, f"Adaptive{'Average' if m == 'avg' else 'Max'}Pooling{r}D")
            for r in (1, 2, 3) for m in ("avg", "max")}

# (rank, input shape, output_size, data_format)
LAYER_CASES = [
    (1, (3, 10, 4), 4, "channels_last"),             # 10 -> 4: bins of 3 overlapping
    (1, (2, 3, 7), (5,), "channels_first"),         # more outputs than inputs
    (2, (2, 7, 6, 3), (3, 4), "channels_last"),
    (2, (2, 3, 8, 5), 2, "channels_first"),
    (2, (2, 4, 4, 2), (4, 4), "channels_last"),      # identity bins
    (3, (2, 5, 4, 3, 2), (2, 3, 2), "channels_last"),
    (3, (2, 2, 3, 4, 5), (3, 2, 2), "channels_first"),
]


def _sizes(rank, output_size):
    return (output_size,) * rank if isinstance(output_size, int) else tuple(output_size)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_layer(case, mode, request):
    try:
        keras = request.getfixturevalue("keras")
    except pytest.skip.Exception:
        keras = None
    rank, shape, output_size, fmt = LAYER_CASES[case]
    sizes = _sizes(rank, output_size)
    run_layer_test(_CLASSES[(rank, mode)], {"output_size": output_size, "data_format": fmt}, shape,
                   lambda w, x, mask: adaptive_ref(x, sizes, fmt, mode), weight_shapes=[], keras=keras)


def test_output_size_forms_and_config():
    layer = layers.AdaptiveAveragePooling2D(3)
    assert layer.output_size == (3, 3) and layer.data_format == "channels_last"
    assert layers.AdaptiveMaxPooling1D([4]).output_size == (4,)
    cfg = layers.AdaptiveMaxPooling3D((1, 2, 3), data_format="channels_first").get_config()
    assert cfg["output_size"] == (1, 2, 3) and cfg["data_format"] == "channels_first"
    with pytest.raises(ValueError, match="length 2"):
        layers.AdaptiveAveragePooling2D((2, 2, 2))
    with pytest.raises(TypeError, match="output_size"):
        layers.AdaptiveMaxPooling1D("3")
    with pytest.raises(ValueError, match="data_format"):
        layers.AdaptiveMaxPooling1D(2, data_format="nhwc")
    with pytest.raises(ValueError, match="known sizes"):
        layers.AdaptiveAveragePooling2D(2)(bigcore.Input((None, 5, 3)))


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape,output_size,fmt", [((2, 9, 3), 4, "channels_last"),
                                                   ((2, 3, 5, 7), (3, 2), "channels_first"),
                                                   ((1, 4, 6, 5, 2), 3, "channels_last")])
def test_ops_on_arrays(shape, output_size, fmt, mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    fn = ops.adaptive_average_pool if mode == "avg" else ops.adaptive_max_pool
    got = fn(x, output_size, data_format=fmt)
    assert np.asarray(got).dtype == np.float32
    want = adaptive_ref(x, _sizes(len(shape) - 2, output_size), fmt, mode)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)
    assert ops.nn.adaptive_average_pool is ops.adaptive_average_pool
    assert ops.nn.adaptive_max_pool is ops.adaptive_max_pool


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_ops_match_keras(keras, mode):
    rng = np.random.default_rng(4)
    for shape, size, fmt in [((2, 11, 3), 4, "channels_last"), ((2, 3, 7, 9), (4, 5), "channels_first"),
                             ((2, 5, 6, 4, 2), (2, 4, 3), "channels_last"), ((1, 2, 3, 4), 6, "channels_first")]:
        x = rng.standard_normal(shape).astype(np.float32)
        name = "adaptive_average_pool" if mode == "avg" else "adaptive_max_pool"
        want = keras.ops.convert_to_numpy(getattr(keras.ops, name)(x, size, data_format=fmt))
        np.testing.assert_allclose(np.asarray(getattr(ops, name)(x, size, data_format=fmt)), want,
                                   rtol=1e-6, atol=1e-6)


@bigcore.saving.register_keras_serializable(package="adaptive_test")
class PoolThenScale(layers.Layer):
    """ops.adaptive_*_pool inside a custom call(), times a weight: the op's gradient reaches both."""

    def __init__(self, mode="avg", **kw):
        super().__init__(**kw)
        self.mode = mode

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        fn = ops.adaptive_average_pool if self.mode == "avg" else ops.nn.adaptive_max_pool
        return fn(x, (2, 3)) * self.scale

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2, 3, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_op_in_custom_layer(mode):
    run_layer_test(PoolThenScale, {"mode": mode}, (2, 5, 7, 3),
                   lambda w, x, mask: adaptive_ref(x, (2, 3), "channels_last", mode) * w[0], weight_shapes=[(3,)],
                   weights=lambda rng: [rng.uniform(0.5, 1.5, 3)])


def test_symbolic_in_functional_model_round_trips(tmp_path):
    inp = bigcore.Input((6, 5, 2))
    out = ops.adaptive_max_pool(inp, (4, 3))
    model = bigcore.Model(inp, ops.adaptive_average_pool(out, 2))
    x = np.random.default_rng(5).standard_normal((3, 6, 5, 2)).astype(np.float32)
    want = adaptive_ref(adaptive_ref(x, (4, 3), mode="max"), (2, 2))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    again = bigcore.Model.from_config(model.get_config())
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_op_refusals():
    with pytest.raises(ValueError, match="ndim=3, 4 or 5"):
        ops.adaptive_average_pool(np.zeros((2, 3), np.float32), 2)
    with pytest.raises(ValueError, match="length 2"):
        ops.adaptive_max_pool(np.zeros((2, 4, 4, 1), np.float32), (2, 2, 2))
    with pytest.raises(ValueError, match="positive"):
        ops.adaptive_max_pool(np.zeros((2, 4, 1), np.float32), 0)


def test_we_read_a_keras_file(keras, tmp_path):
    inp = keras.Input((6, 7, 2))
    out = keras.layers.AdaptiveAveragePooling2D((2, 3))(inp)
    kmodel = keras.Model(inp, keras.layers.AdaptiveMaxPooling2D(1, data_format="channels_first")(out))
    path = str(tmp_path / "k.keras")
    kmodel.save(path)
    model = bigcore.models.load_model(path)
    x = np.random.default_rng(6).standard_normal((2, 6, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)),
                               rtol=1e-6, atol=1e-6)
