"""2-D ConvNets over run-time image sizes (Input(shape=(None, None, C))): every layer checked against
tests/reference_conv.py at several sizes through one model, training against Keras 3 (torch), a too
small image refused with ValueError, a file round trip predicting at a new size, ONNX export."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

SIZES = [(7, 9), (12, 5), (6, 6)]


def model_of(layer, channels=4, shape=(None, None)):
    inp = bigcore.Input(shape + (channels,))
    return bigcore.Model(inp, layer(inp))


def images(h, w, channels=4, batch=2, seed=0):
    return np.random.default_rng(seed + 31 * h + w).standard_normal((batch, h, w, channels)).astype(np.float32)


def keras_weights(model):  # Keras's get_weights() warns under numpy 2 (the suite makes warnings errors)
    return [w.value.detach().cpu().numpy() for w in model.weights]


def adam_fit_like_keras_at_sizes(keras, build, seed, sizes, rows, channels, batch_size):
    """build(lib) -> a model of lib over images of run-time size, built from the same weights in both
    libraries, Adam(0.01) and mse; at each (h, w) of sizes in turn, 2 epochs on `rows` random images
    (default_rng(seed)) and targets of the model's output shape leave bigcore's weights as Keras's."""
    bigcore.utils.set_random_seed(seed)
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    for model, lib in ((ours, bigcore), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(seed)
    for h, wd in sizes:
        x = rng.standard_normal((rows, h, wd, channels)).astype(np.float32)
        y = rng.standard_normal(ours.predict(x, verbose=0).shape).astype(np.float32)
        for model in (ours, theirs):
            model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(ours.get_weights(), keras_weights(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


CONV2D = [
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "valid", "strides": 2},
    {"padding": "same", "strides": (2, 3)},
    {"padding": "same", "dilation_rate": 2, "activation": "relu"},
    {"padding": "valid", "dilation_rate": (1, 2)},
    {"padding": "valid", "groups": 2, "activation": "tanh"},
    {"padding": "same", "use_bias": False, "activation": "sigmoid"},
    {"padding": "same", "kernel_size": 1},
    {"padding": "same", "kernel_size": 5, "filters": 3},  # a window of 5*5*4 > 32 values: im2col + GEMM
]


@pytest.mark.parametrize("extra", CONV2D, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_conv2d_forward_at_several_sizes(extra):
    kw = {"filters": 6, "kernel_size": 3, "bias_initializer": "glorot_uniform", **extra}
    layer = layers.Conv2D(**kw)
    model = model_of(layer)
    assert model.output.shape[1:3] == (None, None)
    w = layer.get_weights()
    for h, wd in SIZES:
        x = images(h, wd)
        want = cref.conv_forward(x, w[0], w[1] if kw.get("use_bias", True) else None, kw.get("strides", 1),
                                 kw["padding"], kw.get("dilation_rate", 1), kw.get("groups", 1),
                                 kw.get("activation") or "linear")
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_only_width_run_time():
    layer = layers.Conv2D(3, (2, 3), padding="valid")
    model = model_of(layer, 2, (5, None))
    assert model.output.shape == (None, 4, None, 3)
    for wd in (4, 11):
        x = images(5, wd, 2)
        np.testing.assert_allclose(model.predict(x, verbose=0), cref.conv_forward(x, *layer.get_weights()),
                                   rtol=1e-4, atol=1e-4)


POOLS = [
    (layers.MaxPooling2D, {"pool_size": 2}, "max"),
    (layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, "max"),
    (layers.AveragePooling2D, {"pool_size": (2, 3), "padding": "valid"}, "avg"),
    (layers.AveragePooling2D, {"pool_size": 3, "strides": (1, 2), "padding": "same"}, "avg"),
]


@pytest.mark.parametrize("cls,kw,mode", POOLS, ids=lambda v: str(v))
def test_pooling2d_at_several_sizes(cls, kw, mode):
    model = model_of(cls(**kw))
    for h, wd in SIZES:
        x = images(h, wd)
        want = cref.pool_forward(x, kw["pool_size"], kw.get("strides"), kw.get("padding", "valid"), mode)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls,mode", [(layers.GlobalAveragePooling2D, "avg"), (layers.GlobalMaxPooling2D, "max")])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling2d_at_several_sizes(cls, mode, keepdims):
    model = model_of(cls(keepdims=keepdims))
    assert model.output.shape == ((None, 1, 1, 4) if keepdims else (None, 4))
    for h, wd in SIZES:
        x = images(h, wd)
        np.testing.assert_allclose(model.predict(x, verbose=0), cref.global_pool(x, mode, keepdims), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("kw", [{"padding": "valid"}, {"padding": "same", "strides": 2, "depth_multiplier": 2},
                                {"padding": "same", "dilation_rate": 2, "activation": "relu"}])
def test_depthwise_and_separable_at_several_sizes(kw):
    dw = layers.DepthwiseConv2D(3, bias_initializer="glorot_uniform", **kw)
    sep = layers.SeparableConv2D(5, 3, bias_initializer="glorot_uniform", **kw)
    inp = bigcore.Input((None, None, 4))
    model = bigcore.Model(inp, [dw(inp), sep(inp)])
    args = (kw.get("strides", 1), kw["padding"], kw.get("dilation_rate", 1), kw.get("activation") or "linear")
    for h, wd in SIZES:
        x = images(h, wd)
        got_dw, got_sep = model.predict(x, verbose=0)
        np.testing.assert_allclose(got_dw, cref.depthwise_forward(x, *dw.get_weights(), *args), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got_sep, cref.separable_forward(x, *sep.get_weights(), *args), rtol=1e-4,
                                   atol=1e-4)


INDEX_MAPS = [
    (layers.ZeroPadding2D(((1, 2), (0, 3))), lambda x: np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0)))),
    (layers.Cropping2D(((1, 0), (2, 1))), lambda x: x[:, 1:, 2:-1]),
    (layers.UpSampling2D((2, 3)), lambda x: np.repeat(np.repeat(x, 2, axis=1), 3, axis=2)),
]


@pytest.mark.parametrize("layer,ref", INDEX_MAPS, ids=lambda v: type(v).__name__)
def test_padding_cropping_upsampling_at_several_sizes(layer, ref):
    model = model_of(layer)
    assert model.output.shape[1:] == (None, None, 4)
    for h, wd in SIZES:
        x = images(h, wd)
        np.testing.assert_allclose(model.predict(x, verbose=0), ref(x))


def test_batchnorm_merges_and_activations_at_several_sizes():
    inp = bigcore.Input((None, None, 4))
    bn = layers.BatchNormalization()
    a = layers.ReLU(max_value=6.0)(bn(inp))
    b = layers.Activation("tanh")(layers.Dropout(0.5)(inp))
    s = layers.Add()([a, b])
    model = bigcore.Model(inp, layers.Concatenate()([s, a]))
    rng = np.random.default_rng(5)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    bn.set_weights([w.astype(np.float32) for w in (gamma, beta, mean, var)])
    for h, wd in SIZES:
        x = 3 * images(h, wd)
        relu6 = cref.relu(cref.batch_norm(x, gamma, beta, mean, var), max_value=6.0)
        want = np.concatenate([relu6 + np.tanh(x), relu6], axis=-1)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    # batch statistics in training: the moving mean moves toward the batch's, whatever its image size
    model.compile(optimizer="sgd", loss="mse")
    x = 3 * images(5, 11, batch=4) + 2.0
    model.fit(x, np.zeros((4, 5, 11, 8), np.float32), batch_size=4, verbose=0)
    batch_mean = cref.batch_moments(x)[0]
    np.testing.assert_allclose(bn.get_weights()[2], 0.99 * mean + 0.01 * batch_mean, rtol=1e-4, atol=1e-5)


def fcn(lib):
    """A fully-convolutional net with the everyday layers, the same code for bigcore and Keras. (Dropout's
    draws differ between the libraries: rate 0 here; test_save_load trains through a real one.)"""
    L = lib.layers
    inp = lib.Input((None, None, 3))
    x = L.ZeroPadding2D(((0, 1), (0, 1)))(inp)
    x = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(max_value=6.0)(x)
    a = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    b = L.Conv2D(8, 1)(x)
    x = L.Add()([a, b])
    x = L.Concatenate()([x, L.SeparableConv2D(4, 3, padding="same")(x)])
    x = L.Dropout(0.0)(x)
    x = L.MaxPooling2D(2, padding="same")(x)
    x = L.AveragePooling2D(2, strides=1)(x)  # Keras's torch backend pads an odd "same" average by the edge
    x = L.Activation("tanh")(L.Conv2D(6, 3, padding="same", dilation_rate=2)(x))
    y = L.GlobalAveragePooling2D()(x)
    return lib.Model(inp, L.Dense(3, activation="softmax")(y))


def test_fully_convolutional_net_matches_keras_in_predict_fit_and_evaluate(keras):
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ours, theirs = fcn(bigcore), fcn(keras)
    theirs.set_weights(ours.get_weights())
    for h, wd in ((16, 16), (21, 13), (9, 30)):
        x = rng.standard_normal((3, h, wd, 3)).astype(np.float32)
        np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4,
                                   atol=1e-5)
    for model, lib in ((ours, bigcore), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    for h, wd in ((12, 12), (17, 10)):
        x = rng.standard_normal((8, h, wd, 3)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        for model in (ours, theirs):
            model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(ours.get_weights(), keras_weights(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4)
    x = rng.standard_normal((2, 25, 19, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("kw", [{"padding": "valid"}, {"padding": "same", "strides": 2}, {"padding": "valid", "groups": 2}])
def test_conv2d_training_matches_keras_at_two_sizes(keras, kw):
    def build(lib):
        inp = lib.Input((None, None, 4))
        x = lib.layers.Conv2D(6, 3, activation="relu", **kw)(inp)
        x = lib.layers.Conv2D(4, (2, 3), dilation_rate=(2, 1))(x)
        return lib.Model(inp, lib.layers.GlobalMaxPooling2D()(x))
    adam_fit_like_keras_at_sizes(keras, build, 1, ((9, 11), (14, 8)), rows=6, channels=4, batch_size=3)


def test_too_small_image_raises_and_model_still_runs():
    model = model_of(layers.Conv2D(2, 3, dilation_rate=2, name="dilated"))  # spans 5 x 5
    with pytest.raises(ValueError, match=r"rows of the output of Conv2D 'dilated' .*window spans, 5"):
        model.predict(images(4, 9), verbose=0)
    with pytest.raises(ValueError, match="columns of the output of Conv2D 'dilated'"):
        model.predict(images(9, 3), verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="fewer rows than its window"):
        model.fit(images(3, 9), np.zeros((2, 1, 5, 2), np.float32), verbose=0)
    x = images(5, 6)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               cref.conv_forward(x, *model.layers[1].get_weights(), dilation_rate=2), rtol=1e-4,
                               atol=1e-4)
    pool = model_of(layers.MaxPooling2D(3))
    with pytest.raises(ValueError, match="MaxPooling2D"):
        pool.predict(images(2, 8), verbose=0)
    crop = model_of(layers.Cropping2D(((0, 0), (2, 2))))
    with pytest.raises(ValueError, match="no more columns than the cropping"):
        crop.predict(images(6, 4), verbose=0)


def test_save_load_then_predict_at_a_new_size(tmp_path):
    inp = bigcore.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D()(x)
    x = layers.DepthwiseConv2D(3)(layers.Dropout(0.5)(x))
    model = bigcore.Model(inp, layers.GlobalAveragePooling2D()(x))
    model.compile(optimizer="adam", loss="mse")
    model.fit(images(10, 12, 3, 4), np.zeros((4, 4), np.float32), verbose=0)
    path = tmp_path / "fcn.keras"
    bigcore.saving.save_model(model, path)
    loaded = bigcore.saving.load_model(path)
    assert loaded.input.shape == (None, None, None, 3)
    x = images(19, 11, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_channels_first_is_refused():
    with pytest.raises(ValueError, match="channels_last"):
        layers.Conv2D(2, 3, data_format="channels_first")


TRANSPOSE = [{"padding": "valid"}, {"padding": "same", "strides": 2}, {"padding": "valid", "strides": (2, 3)},
             {"padding": "same", "strides": 2, "output_padding": 1, "activation": "relu"},
             {"padding": "same", "dilation_rate": 2, "use_bias": False}]


@pytest.mark.parametrize("kw", TRANSPOSE, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_conv2d_transpose_at_several_sizes(kw):
    layer = layers.Conv2DTranspose(3, 3, bias_initializer="glorot_uniform", **kw)
    model = model_of(layer)
    w = layer.get_weights()
    for h, wd in SIZES:
        x = images(h, wd)
        want = cref.conv_transpose_forward(x, w[0], w[1] if kw.get("use_bias", True) else None, kw.get("strides", 1),
                                           kw["padding"], kw.get("output_padding"), kw.get("dilation_rate", 1),
                                           kw.get("activation") or "linear")
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_upsampling_decoder_trains_like_keras(keras):
    def build(lib):
        L = lib.layers
        inp = lib.Input((None, None, 3))
        x = L.Conv2D(6, 3, strides=2, padding="same", activation="relu")(inp)
        x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
        x = L.UpSampling2D(2)(L.Cropping2D(((1, 0), (0, 1)))(x))
        return lib.Model(inp, L.Conv2D(2, 1)(x))
    adam_fit_like_keras_at_sizes(keras, build, 3, ((8, 10), (11, 6)), rows=4, channels=3, batch_size=2)


def test_conv3d_transpose_needs_known_sizes():
    with pytest.raises(ValueError, match="known sizes"):
        model_of(layers.Conv3DTranspose(2, 3), 2, (None, 4, 4))


def test_onnx_export_with_run_time_sizes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    inp = bigcore.Input((None, None, 3))
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(inp)
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = layers.Conv2D(4, 3, padding="same", dilation_rate=2)(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.SeparableConv2D(5, 3)(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.AveragePooling2D(2, strides=1)(x)
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same")(layers.Cropping2D(((0, 1), (1, 0)))(x))
    model = bigcore.Model(inp, [x, layers.GlobalAveragePooling2D(keepdims=True)(x)])
    path = tmp_path / "fcn.onnx"
    bigcore.export.export(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for h, wd in ((20, 17), (23, 29)):
        x = images(h, wd, 3)
        for got, want in zip(session.run(None, {name: x}), model.predict(x, verbose=0)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_onnx_export_refuses_upsampling_with_run_time_sizes():
    pytest.importorskip("onnx")
    model = model_of(layers.UpSampling2D(2))
    with pytest.raises(NotImplementedError, match="run-time"):
        bigcore.export.to_onnx(model)


def test_mobilenet_v2_without_input_shape_matches_keras(keras):
    bigcore.utils.set_random_seed(2)
    ours = bigcore.applications.MobileNetV2(alpha=0.35, weights=None, include_top=False)
    theirs = keras.applications.MobileNetV2(alpha=0.35, weights=None, include_top=False)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(2)
    for h, wd in ((64, 48), (45, 71)):
        x = rng.uniform(-1, 1, (2, h, wd, 3)).astype(np.float32)
        want = np.asarray(theirs.predict(x, verbose=0))
        got = ours.predict(x, verbose=0)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
