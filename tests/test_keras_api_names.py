"""Keras 3 names programs import beside the layers: keras.Layer and the other top-level base
classes, keras.backend, utils (custom objects, normalize, x/y/sample_weight packing), the
snake-case initializers, random.randint / shuffle / categorical, CosineDecayRestarts; each
checked against Keras 3 where it computes something."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def test_top_level_base_classes_are_the_library_ones():
    assert bigcore.Layer is layers.Layer and bigcore.Loss is bigcore.losses.Loss
    assert bigcore.Metric is bigcore.metrics.Metric and bigcore.Optimizer is bigcore.optimizers.Optimizer
    assert bigcore.Initializer is bigcore.initializers.Initializer
    assert bigcore.Regularizer is bigcore.regularizers.Regularizer
    assert bigcore.version() == bigcore.__version__

    class Doubler(bigcore.Layer):  # keras.Layer, as Keras 3 examples subclass it
        def call(self, x):
            return x * 2.0

    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, Doubler()(inp))
    np.testing.assert_allclose(model.predict(np.ones((2, 3), "float32"), verbose=0), 2.0)
    assert bigcore.backend.is_keras_tensor(inp) and not bigcore.backend.is_keras_tensor(np.ones(2))


def test_clear_session_restarts_layer_names():
    bigcore.backend.clear_session()
    first = layers.Dense(2).name
    bigcore.utils.clear_session()
    assert layers.Dense(2).name == first == "dense"
    assert layers.Dense(2).name == "dense_1"
    assert bigcore.backend.floatx() == "float32" and bigcore.backend.image_data_format() == "channels_last"


def _custom_model():
    class Offset(layers.Layer):
        def call(self, x):
            return x + 1.0

    inp = bigcore.Input((2,))
    return bigcore.Model(inp, Offset()(inp)), Offset


def test_global_custom_objects_and_scopes_reach_load_model(tmp_path):
    model, cls = _custom_model()
    path = str(tmp_path / "m.keras")
    model.save(path)
    with pytest.raises(ValueError, match="Offset"):
        bigcore.models.load_model(path)
    with bigcore.utils.custom_object_scope({"Offset": cls}):
        back = bigcore.models.load_model(path)
    np.testing.assert_allclose(back.predict(np.zeros((1, 2), "float32"), verbose=0), 1.0)
    with pytest.raises(ValueError, match="Offset"):  # the scope ended
        bigcore.models.load_model(path)
    bigcore.utils.get_custom_objects()["Offset"] = cls
    try:
        assert bigcore.saving.load_model(path).predict(np.zeros((1, 2), "float32"), verbose=0)[0, 0] == 1.0
    finally:
        del bigcore.utils.get_custom_objects()["Offset"]
    assert bigcore.utils.CustomObjectScope is bigcore.saving.custom_object_scope


def test_utils_match_keras(keras):
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]], "float32")
    for axis, order in ((-1, 2), (-1, 1)):
        np.testing.assert_allclose(bigcore.utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order),
                                   rtol=1e-6)
    for data in ((1,), (1, 2), (1, 2, 3), [1, 2], 5):
        assert bigcore.utils.unpack_x_y_sample_weight(data) == keras.utils.unpack_x_y_sample_weight(data)
    assert bigcore.utils.pack_x_y_sample_weight(1, 2) == keras.utils.pack_x_y_sample_weight(1, 2)
    assert bigcore.utils.pack_x_y_sample_weight(1) == keras.utils.pack_x_y_sample_weight(1)


@pytest.mark.parametrize("name", ["zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "orthogonal", "random_normal", "random_uniform",
                                  "truncated_normal", "variance_scaling", "identity", "constant"])
def test_snake_case_initializers_are_the_classes(keras, name):
    ours, theirs = getattr(bigcore.initializers, name), getattr(keras.initializers, name)
    assert isinstance(ours, type) and issubclass(ours, bigcore.initializers.Initializer)
    assert ours.__name__.lower().replace("_", "") in theirs.__name__.lower().replace("initializer", "") or \
        theirs.__name__ in ("IdentityInitializer", "OrthogonalInitializer")
    dense = layers.Dense(4, kernel_initializer=ours())
    bigcore.Sequential([bigcore.Input((4,)), dense])
    w = dense.get_weights()[0]
    assert w.shape == (4, 4) and np.all(np.isfinite(w))


def test_random_randint_shuffle_categorical():
    r = bigcore.random.randint((20000,), 3, 7, seed=1)
    assert r.dtype == np.int32 and r.min() == 3 and r.max() == 6
    np.testing.assert_allclose(np.bincount(r - 3) / r.size, 0.25, atol=0.02)
    np.testing.assert_array_equal(r, bigcore.random.randint((20000,), 3, 7, seed=1))
    x = np.arange(40).reshape(10, 4)
    s = bigcore.random.shuffle(x, seed=2)
    assert sorted(map(tuple, s)) == sorted(map(tuple, x)) and not np.array_equal(s, x)
    probs = np.array([[0.7, 0.2, 0.1], [0.0001, 0.0001, 0.9998]])
    c = bigcore.random.categorical(np.log(probs), 20000, seed=3)
    assert c.shape == (2, 20000) and c.dtype == np.int32
    np.testing.assert_allclose(np.bincount(c[0], minlength=3) / 20000, probs[0], atol=0.02)
    assert np.mean(c[1] == 2) > 0.99
    with pytest.raises(ValueError, match="maxval > minval"):
        bigcore.random.randint((2,), 3, 3)
    inp = bigcore.Input((3,))
    with pytest.raises(NotImplementedError, match="arrays only"):
        bigcore.random.shuffle(inp)


@pytest.mark.parametrize("kw", [{}, {"t_mul": 1.0, "m_mul": 0.5}, {"t_mul": 1.5, "m_mul": 0.8, "alpha": 0.1}])
def test_cosine_decay_restarts_matches_keras(keras, kw):
    ours = bigcore.optimizers.schedules.CosineDecayRestarts(0.1, 7, **kw)
    theirs = keras.optimizers.schedules.CosineDecayRestarts(0.1, 7, **kw)
    got = [ours(s) for s in range(60)]
    want = [float(keras.ops.convert_to_numpy(theirs(s))) for s in range(60)]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    again = bigcore.optimizers.schedules.deserialize(bigcore.optimizers.schedules.serialize(ours))
    assert [again(s) for s in range(60)] == got
    model = bigcore.Sequential([bigcore.Input((2,)), layers.Dense(1)])
    model.compile(optimizer=bigcore.optimizers.SGD(ours), loss="mse")
    model.fit(np.ones((8, 2), "float32"), np.ones((8, 1), "float32"), batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(model.evaluate(np.ones((8, 2), "float32"), np.ones((8, 1), "float32"), verbose=0))
    assert ops is bigcore.ops


def test_flash_attention_switch_keeps_keras_values(keras):
    try:
        assert bigcore.config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled() is None
        bigcore.config.disable_flash_attention()
        keras.config.disable_flash_attention()
        assert bigcore.config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled() is False
        # the switch selects nothing in bigcore: attention gives the same numbers either way
        rng = np.random.default_rng(0)
        q, k, v = (rng.normal(size=(1, 5, 2, 4)).astype("float32") for _ in range(3))
        off = np.asarray(ops.dot_product_attention(q, k, v))
        bigcore.config.enable_flash_attention()
        keras.config.enable_flash_attention()
        assert bigcore.config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled() is None
        np.testing.assert_array_equal(np.asarray(ops.dot_product_attention(q, k, v)), off)
    finally:
        bigcore.config.enable_flash_attention()
        keras.config.enable_flash_attention()


def test_result_type_is_keras_promotion(keras):
    import itertools

    names = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64", "bfloat16", "float16",
             "float32", "float64", "complex64", int, float, bool, None]
    for combo in itertools.chain(itertools.product(names, repeat=1), itertools.product(names, repeat=2),
                                 [("int8", "uint8", float), ("uint32", "int8", int), (int, float, bool)]):
        try:
            want = keras.backend.result_type(*combo)
        except ValueError:
            with pytest.raises(ValueError):
                bigcore.backend.result_type(*combo)
            continue
        assert bigcore.backend.result_type(*combo) == want, combo
    assert bigcore.backend.result_type() == "float32"
    assert bigcore.backend.result_type(np.dtype("int16"), "uint8") == "int16"
    with pytest.raises(ValueError, match="float8"):
        bigcore.backend.result_type("float8_e4m3fn", "float32")
