"""MobileNet, InceptionResNetV2 and EfficientNetV2 against keras.applications: layer names, classes,
output and weight shapes; Keras's weights in -> Keras's predictions; Keras's pretrained-file names
and argument errors."""

import re

import numpy as np
import pytest

import bigcore
from bigcore import applications
from layer_test import KERAS_WARNING
from test_applications import _assert_close, _copy_weights, _input, _kpredict, _pair, _structure, \
    _write_keras2_weights

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)
_IDS = lambda v: v if isinstance(v, str) else "-".join(f"{k}={v}" for k, v in v.items())  # noqa: E731

CASES = [
    ("MobileNet", dict(input_shape=(32, 32, 3), classes=10)),
    ("MobileNet", dict(input_shape=(32, 40, 3), alpha=0.5, depth_multiplier=2, include_top=False, pooling="avg")),
    ("MobileNet", dict(input_shape=(33, 33, 3), alpha=0.25, dropout=0.5, classes=3, classifier_activation=None)),
    ("InceptionResNetV2", dict(input_shape=(75, 75, 3), classes=10)),
    ("InceptionResNetV2", dict(input_shape=(80, 75, 3), include_top=False, pooling="max")),
    ("EfficientNetV2B0", dict(input_shape=(32, 32, 3), classes=10)),
    ("EfficientNetV2B2", dict(input_shape=(32, 40, 3), include_top=False, pooling="avg")),
    ("EfficientNetV2S", dict(input_shape=(32, 32, 3), classes=5, include_preprocessing=False)),
    ("EfficientNetV2B1", dict(input_shape=(32, 32, 1), include_top=False, pooling="max")),  # 1 channel: -1..1
]

# the big variants repeat the blocks checked above: their structure only (keeps the file fast)
DEEP = [
    ("EfficientNetV2B3", dict(input_shape=(32, 32, 3), include_top=False)),
]


def test_efficientnet_v2_stages_match_keras(keras):
    """Every variant's stage table (M and L are only built in the slow path, so their tables are
    checked here against Keras's)."""
    from keras.src.applications.efficientnet_v2 import DEFAULT_BLOCKS_ARGS
    keys = ("kernel_size", "num_repeat", "input_filters", "output_filters", "expand_ratio", "se_ratio", "strides")
    for variant in ("b0", "b1", "b2", "b3", "-s", "-m", "-l"):
        theirs = [tuple(a[k] for k in keys) + (a["conv_type"] == 1,) for a in DEFAULT_BLOCKS_ARGS[
            f"efficientnetv2{'-' if variant[0] == 'b' else ''}{variant}"]]
        ours = applications.efficientnet_v2.DEFAULT_BLOCKS_ARGS["b" if variant[0] == "b" else variant]
        assert [tuple(a) for a in ours] == theirs, variant


@pytest.mark.parametrize("ctor,kwargs", DEEP, ids=_IDS)
def test_structure_matches_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()


def _perturb_batchnorm(kmodel, seed=1):
    """Nonzero means and betas, variances and gammas away from 1, so a wrongly loaded or wrongly
    applied BatchNormalization shows; mild, so the deep swish models' activations stay near 1."""
    rng = np.random.default_rng(seed)
    for w in kmodel.weights:
        kind = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        if kind in ("moving_variance", "gamma"):
            w.assign(rng.uniform(0.8, 1.2, shape).astype("float32"))
        elif kind in ("moving_mean", "beta"):
            w.assign(rng.normal(0, 0.05, shape).astype("float32"))


def _batchnorm_configs(model):
    return [tuple(layer.get_config()[k] for k in ("axis", "momentum", "epsilon", "center", "scale"))
            for layer in model.layers if type(layer).__name__ == "BatchNormalization"]


@pytest.mark.parametrize("ctor,kwargs", CASES, ids=_IDS)
def test_structure_and_predictions_match_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()
    assert _batchnorm_configs(model) == _batchnorm_configs(kmodel)
    _perturb_batchnorm(kmodel)
    _copy_weights(kmodel, model)
    x = _input(model)
    _assert_close(np.asarray(model.predict(x, verbose=0)), _kpredict(kmodel, x))


@pytest.mark.parametrize("ctor,kwargs,file_name", [
    ("MobileNet", dict(input_shape=(128, 128, 3), alpha=0.25, include_top=False), "mobilenet_2_5_128_tf_no_top.h5"),
    ("EfficientNetV2B0", dict(input_shape=(32, 32, 3), include_top=False), "efficientnetv2-b0_notop.h5"),
], ids=_IDS)
def test_imagenet_weights_come_from_keras_cache(keras, tmp_path, monkeypatch, ctor, kwargs, file_name):
    """weights="imagenet" reads Keras's file name in $KERAS_HOME/models (a Keras 2 layout file)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    monkeypatch.setattr(applications.efficientnet_v2, "WEIGHTS_HASHES", {"b0": (None, None)})
    kmodel = getattr(keras.applications, ctor)(weights=None, **kwargs)
    _perturb_batchnorm(kmodel)
    _write_keras2_weights(kmodel, tmp_path / "models" / file_name)
    model = getattr(applications, ctor)(weights="imagenet", **kwargs)
    for kw, bw in zip(kmodel.weights, model.weights):
        np.testing.assert_array_equal(bw.numpy(), kw.value.detach().cpu().numpy())


def test_keras_weights_file_loads_by_path(keras, tmp_path):
    kmodel = keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3), alpha=0.25, classes=4)
    _perturb_batchnorm(kmodel)
    path = str(tmp_path / "w.weights.h5")
    kmodel.save_weights(path)
    model = applications.MobileNet(weights=path, input_shape=(32, 32, 3), alpha=0.25, classes=4)
    for kw, bw in zip(kmodel.weights, model.weights):
        np.testing.assert_array_equal(bw.numpy(), kw.value.detach().cpu().numpy())


@pytest.mark.parametrize("ctor,kwargs,file_name", [
    ("MobileNet", dict(include_top=False, input_shape=(160, 160, 3), alpha=0.75), "mobilenet_7_5_160_tf_no_top.h5"),
    ("MobileNet", dict(), "mobilenet_1_0_224_tf.h5"),
    ("InceptionResNetV2", dict(include_top=False, input_shape=(75, 75, 3)),
     "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("EfficientNetV2S", dict(include_top=False, input_shape=(32, 32, 3)), "efficientnetv2-s_notop.h5"),
    ("EfficientNetV2B1", dict(include_top=False, input_shape=(32, 32, 3)), "efficientnetv2-b1_notop.h5"),
    ("NASNetMobile", dict(), "nasnet_mobile.h5"),
    ("NASNetLarge", dict(include_top=False, input_shape=(32, 32, 3)), "nasnet_large_no_top.h5"),
], ids=_IDS)
def test_imagenet_weights_missing_names_the_file(tmp_path, monkeypatch, ctor, kwargs, file_name):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    seen = []

    def no_file(name, origin, file_hash=None):
        seen.append((name, origin))
        raise OSError(f"{name} missing")
    monkeypatch.setattr(applications.imagenet_utils, "cached_file", no_file)
    with pytest.raises(OSError, match=re.escape(file_name)):
        getattr(applications, ctor)(weights="imagenet", **kwargs)
    assert seen[0][0] == file_name and seen[0][1].startswith("https://storage.googleapis.com/")


def test_mobilenet_imagenet_odd_size_warns_and_takes_224(monkeypatch):
    def no_file(name, origin, file_hash=None):
        raise OSError(f"{name} missing")
    monkeypatch.setattr(applications.imagenet_utils, "cached_file", no_file)
    with pytest.warns(UserWarning, match=re.escape("Weights for input shape (224, 224)")), \
            pytest.raises(OSError, match=re.escape("mobilenet_5_0_224_tf_no_top.h5")):
        applications.MobileNet(weights="imagenet", include_top=False, alpha=0.5, input_shape=(100, 100, 3))


@pytest.mark.parametrize("ctor,kwargs,match", [
    ("MobileNet", dict(weights="imagenet", alpha=0.6), "alpha can be one of"),
    ("MobileNet", dict(weights="imagenet", depth_multiplier=2), "depth multiplier must be 1"),
    ("MobileNet", dict(weights=None, input_shape=(31, 64, 3)), "at least 32x32"),
    ("MobileNet", dict(weights="imagenet", classes=10), "`classes` should be 1000"),
    ("InceptionResNetV2", dict(weights=None, include_top=False, input_shape=(74, 80, 3)), "at least 75x75"),
    ("InceptionResNetV2", dict(weights="nowhere.h5"), "The `weights` argument should be either"),
    ("EfficientNetV2B0", dict(weights="imagenet", classes=10), "`classes` should be 1000"),
    ("EfficientNetV2S", dict(weights=None, input_shape=(32, 31, 3)), "at least 32x32"),
    ("EfficientNetV2B1", dict(weights="imagenet", classifier_activation="relu"), "Only `None` and `softmax`"),
], ids=_IDS)
def test_argument_errors(keras, ctor, kwargs, match, monkeypatch):
    monkeypatch.setattr(applications.imagenet_utils, "cached_file", lambda *a, **k: pytest.fail("no file read"))
    with pytest.raises(ValueError, match=re.escape(match)):
        getattr(keras.applications, ctor)(**kwargs)
    with pytest.raises(ValueError, match=re.escape(match)):
        getattr(applications, ctor)(**kwargs)


def test_modules_export_as_keras(keras):
    for module in ("mobilenet", "inception_resnet_v2", "efficientnet_v2", "nasnet"):
        ours, theirs = getattr(applications, module), getattr(keras.applications, module)
        public = {n for n in dir(theirs) if not n.startswith("_")}
        assert public <= set(dir(ours)), public - set(dir(ours))
    x = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    for module in ("mobilenet", "inception_resnet_v2", "nasnet"):
        np.testing.assert_allclose(getattr(applications, module).preprocess_input(x.copy()),
                                   getattr(keras.applications, module).preprocess_input(x.copy()), atol=1e-6)
    assert applications.efficientnet_v2.preprocess_input(x) is x


def test_custom_scale_layer_config_and_value():
    layer = applications.inception_resnet_v2.CustomScaleLayer(0.17, name="s")
    assert layer.get_config()["scale"] == 0.17
    a, b = np.ones((1, 2, 2, 3), "float32"), np.full((1, 2, 2, 3), 2.0, "float32")
    np.testing.assert_allclose(bigcore.ops.convert_to_numpy(layer([a, b])), 1.34, rtol=1e-6)
    # in a traced model's fit: the gradient reaches the layer feeding the scaled branch
    inp = bigcore.Input((4,))
    dense = bigcore.layers.Dense(4)
    out = applications.inception_resnet_v2.CustomScaleLayer.from_config(layer.get_config())([inp, dense(inp)])
    model = bigcore.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    before = dense.kernel.numpy().copy()
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.fit(x, np.zeros((8, 4), "float32"), epochs=1, verbose=0)
    assert not np.allclose(dense.kernel.numpy(), before)
    np.testing.assert_allclose(model.predict(x, verbose=0), x + 0.17 * (x @ dense.kernel.numpy() + dense.bias.numpy()),
                               rtol=1e-5, atol=1e-5)


# NASNet-A at small widths through the family's builder (Keras's torch backend refuses NASNetMobile)
NASNET = [
    dict(input_shape=(32, 32, 3), penultimate_filters=96, num_blocks=1, stem_block_filters=8, skip_reduction=False,
         classes=5),
    dict(input_shape=(33, 40, 3), penultimate_filters=192, num_blocks=2, stem_block_filters=8, skip_reduction=True,
         include_top=False, pooling="avg"),
]


@pytest.mark.parametrize("kwargs", NASNET, ids=_IDS)
def test_nasnet_matches_keras(keras, kwargs):
    from keras.src.applications.nasnet import NASNet
    kmodel = NASNet(weights=None, **kwargs)
    model = applications.nasnet.NASNet(weights=None, **kwargs)
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()
    assert _batchnorm_configs(model) == _batchnorm_configs(kmodel)
    assert _batchnorm_configs(model) == _batchnorm_configs(kmodel)
    _perturb_batchnorm(kmodel)
    _copy_weights(kmodel, model)
    x = _input(model)
    _assert_close(np.asarray(model.predict(x, verbose=0)), _kpredict(kmodel, x))


def test_nasnet_mobile_matches_keras_builder(keras):
    from keras.src.applications.nasnet import NASNet
    kmodel = NASNet((32, 32, 3), penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                    include_top=False, weights=None, default_size=224, name="nasnet_mobile")
    model = applications.NASNetMobile(input_shape=(32, 32, 3), include_top=False, weights=None)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()


def test_nasnet_large_matches_keras(keras):
    kmodel = keras.applications.NASNetLarge(input_shape=(32, 32, 3), include_top=False, weights=None)
    model = applications.NASNetLarge(input_shape=(32, 32, 3), include_top=False, weights=None)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()


def test_nasnet_argument_errors(keras, monkeypatch):
    from keras.src.applications.nasnet import NASNet
    for ours, theirs in ((applications.nasnet.NASNet, NASNet),):
        for kwargs, match in ((dict(weights=None, penultimate_filters=100, input_shape=(32, 32, 3)),
                               "must be a multiple of 24"),
                              (dict(weights="imagenet", default_size=64, include_top=False, input_shape=(64, 64, 3)),
                               "ImageNet weights can only be loaded with NASNetLarge or NASNetMobile")):
            monkeypatch.setattr(applications.imagenet_utils, "cached_file", lambda *a, **k: pytest.fail("no file"))
            with pytest.raises(ValueError, match=re.escape(match)):
                ours(**kwargs)
            if "default_size" not in kwargs:  # Keras checks that one only after building the model
                with pytest.raises(ValueError, match=re.escape(match)):
                    theirs(**kwargs)
    monkeypatch.setattr(bigcore.config, "image_data_format", lambda: "channels_first")
    with pytest.raises(ValueError, match="does not support the `channels_first`"):
        applications.NASNetMobile(weights=None)
