"""bigcore.applications against keras.applications: every layer's name, class, output shape and
weight shapes; the same weights in -> the same predictions; Keras's weights files load by
weights=path; Keras's argument errors; preprocess_input and decode_predictions."""

import hashlib
import json
import re

import numpy as np
import pytest

import bigcore
from bigcore import applications
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

_AUTO = re.compile(r"_\d+$")


def _structure(model):
    """[(name, class, output shape, weight shapes)] per layer; auto-numbered names lose their number
    (Keras's and bigcore's counters differ)."""
    out = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)[1:]
        out.append((_AUTO.sub("", layer.name) if not layer.name[-1:].isdigit() or "_" in layer.name else layer.name,
                    type(layer).__name__, shape, [tuple(w.shape) for w in layer.weights]))
    return out


def _names(model):
    return [layer.name for layer in model.layers]


def _copy_weights(kmodel, model):
    """Keras's weights into bigcore's model, layer by layer in order (the names may differ only in
    auto-numbered suffixes)."""
    assert len(kmodel.layers) == len(model.layers)
    for kl, bl in zip(kmodel.layers, model.layers):
        values = [w.value.detach().cpu().numpy() for w in kl.weights]
        assert len(values) == len(bl.weights), kl.name
        for w, v in zip(bl.weights, values):
            w.assign(v)


# (constructor name, keras module, kwargs for a small fast model, marks)
CASES = [
    ("MobileNetV2", dict(input_shape=(32, 32, 3))),
    ("MobileNetV2", dict(input_shape=(40, 40, 3), alpha=0.35, classes=7)),
    ("MobileNetV2", dict(input_shape=(32, 32, 3), alpha=1.4, include_top=False, pooling="max")),
    ("ResNet50", dict(input_shape=(32, 32, 3), classes=10)),
    ("ResNet50", dict(input_shape=(40, 40, 3), include_top=False, pooling="avg")),
    ("ResNet50V2", dict(input_shape=(32, 32, 3), classes=10)),
    ("VGG16", dict(input_shape=(32, 32, 3), classes=10)),
    ("VGG16", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
    ("VGG19", dict(input_shape=(32, 48, 3), include_top=False, pooling="avg")),
    ("DenseNet121", dict(input_shape=(32, 32, 3), classes=10)),
    ("Xception", dict(input_shape=(71, 71, 3), classes=10)),
    ("Xception", dict(input_shape=(71, 80, 3), include_top=False, pooling="avg")),
    ("InceptionV3", dict(input_shape=(75, 75, 3), classes=10)),
    ("InceptionV3", dict(input_shape=(80, 75, 3), include_top=False, pooling="max")),
    ("MobileNetV3Small", dict(input_shape=(32, 32, 3), classes=10)),
    ("MobileNetV3Small", dict(input_shape=(32, 40, 3), minimalistic=True, alpha=0.75, include_top=False,
                              pooling="avg")),
    ("MobileNetV3Large", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
    ("MobileNetV3Large", dict(input_shape=(32, 32, 3), alpha=1.25, classes=5, include_preprocessing=False)),
    ("ConvNeXtTiny", dict(input_shape=(32, 32, 3), classes=10)),
    ("EfficientNetB0", dict(input_shape=(32, 32, 3), classes=10)),
    ("EfficientNetB1", dict(input_shape=(32, 40, 3), include_top=False, pooling="avg")),
    ("ConvNeXtTiny", dict(input_shape=(32, 48, 3), include_top=False, pooling="avg", include_preprocessing=False)),
]

# the deep variants repeat the blocks checked above: their structure only (keeps the file fast)
DEEP = [
    ("ResNet101", dict(input_shape=(32, 32, 3), include_top=False)),
    ("ResNet152", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
    ("ResNet101V2", dict(input_shape=(32, 32, 3), include_top=False)),
    ("ResNet152V2", dict(input_shape=(32, 32, 3), include_top=False, pooling="avg")),
    ("DenseNet169", dict(input_shape=(32, 32, 3), include_top=False)),
    ("DenseNet201", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
    ("ConvNeXtSmall", dict(input_shape=(32, 32, 3), include_top=False)),
    ("ConvNeXtBase", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
    ("EfficientNetB3", dict(input_shape=(32, 32, 3), include_top=False)),
    ("EfficientNetB7", dict(input_shape=(32, 32, 3), include_top=False, pooling="max")),
]
_IDS = lambda v: v if isinstance(v, str) else "-".join(f"{k}={v}" for k, v in v.items())  # noqa: E731


def _pair(keras, ctor, kwargs):
    kmodel = getattr(keras.applications, ctor)(weights=None, **kwargs)
    model = getattr(applications, ctor)(weights=None, **kwargs)
    return kmodel, model


def _kpredict(kmodel, x):
    import torch
    return kmodel(torch.from_numpy(x), training=False).detach().cpu().numpy()


def _assert_close(got, expected):
    """float32 sums over a hundred layers in two frameworks: 1e-4 of the outputs' scale (a deep model with
    randomized statistics reaches outputs near 10, where an element near 0 may differ by ~1e-4)."""
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


def _input(model, seed=0):
    shape = tuple(model.inputs[0].shape)[1:]
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (2,) + shape).astype("float32")


@pytest.mark.parametrize("ctor,kwargs", DEEP, ids=_IDS)
def test_structure_matches_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)


@pytest.mark.parametrize("ctor,kwargs", CASES, ids=_IDS)
def test_structure_and_predictions_match_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()
    _copy_weights(kmodel, model)
    x = _input(model)
    expected = _kpredict(kmodel, x)
    _assert_close(np.asarray(model.predict(x, verbose=0)), expected)


def _randomize(kmodel, seed=1):
    """Nonzero statistics and betas so a wrongly loaded BatchNormalization shows."""
    rng = np.random.default_rng(seed)
    for w in kmodel.weights:
        v = w.value.detach().cpu().numpy()
        if "variance" in w.path:
            w.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        else:
            w.assign((v + rng.normal(0, 0.05, v.shape)).astype("float32"))


@pytest.mark.parametrize("ctor,kwargs,suffix", [
    ("MobileNetV2", dict(input_shape=(32, 32, 3), alpha=0.5, classes=10), ".weights.h5"),
    ("MobileNetV2", dict(input_shape=(32, 32, 3), alpha=0.5, classes=10), ".h5"),
    ("ConvNeXtTiny", dict(input_shape=(32, 32, 3), include_top=False, pooling="avg"), ".weights.h5"),  # Sequentials
    ("InceptionV3", dict(input_shape=(75, 75, 3), include_top=False, pooling="avg"), ".weights.h5"),  # unnamed
], ids=_IDS)
def test_keras_weights_file_loads_by_path(keras, tmp_path, suffix, ctor, kwargs):
    kmodel = getattr(keras.applications, ctor)(weights=None, **kwargs)
    _randomize(kmodel)
    path = str(tmp_path / f"w{suffix}")
    if suffix == ".h5":
        kmodel.save(path)  # the legacy full-model file: its model_weights group
    else:
        kmodel.save_weights(path)
    model = getattr(applications, ctor)(weights=path, **kwargs)
    for kw, bw in zip(kmodel.weights, model.weights):
        np.testing.assert_array_equal(bw.numpy(), kw.value.detach().cpu().numpy())
    x = _input(model)
    _assert_close(np.asarray(model.predict(x, verbose=0)), _kpredict(kmodel, x))


def _write_keras2_weights(kmodel, path, rename=lambda name: name):
    """The layout of Keras's pretrained files (Keras 2's save_weights to .h5): layer_names at the
    root, one group per layer with its weight_names, trainable weights before non-trainable."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [rename(layer.name).encode() for layer in kmodel.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer in kmodel.layers:
            g = f.create_group(rename(layer.name))
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{rename(layer.name)}/{w.name}:0".encode() for w in weights]
            g.attrs["weight_names"] = names
            for n, w in zip(names, weights):
                g.create_dataset(n.decode(), data=w.value.detach().cpu().numpy())


def test_imagenet_weights_come_from_keras_cache(keras, tmp_path, monkeypatch):
    """weights="imagenet" reads Keras's file name in $KERAS_HOME/models (here written by Keras)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    kmodel = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35, include_top=False)
    _randomize(kmodel)
    _write_keras2_weights(kmodel,
                          tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5")
    model = applications.MobileNetV2(weights="imagenet", input_shape=(96, 96, 3), alpha=0.35, include_top=False)
    for kw, bw in zip(kmodel.weights, model.weights):
        np.testing.assert_array_equal(bw.numpy(), kw.value.detach().cpu().numpy())


def test_imagenet_weights_match_layers_by_order(keras, tmp_path, monkeypatch):
    """Keras loads a legacy weights file by the order of the layers that hold weights, not by name:
    Xception's unnamed layers carry Keras 2's counter names in the pretrained file."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    monkeypatch.setattr(applications.xception, "_HASHES", (None, None))
    kmodel = keras.applications.Xception(weights=None, input_shape=(71, 71, 3), include_top=False)
    _randomize(kmodel)
    _write_keras2_weights(kmodel, tmp_path / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          rename=lambda n: re.sub(r"^(conv2d|batch_normalization)(_\d+)?$", r"\1_9\2", n))
    model = applications.Xception(weights="imagenet", input_shape=(71, 71, 3), include_top=False)
    for kw, bw in zip(kmodel.weights, model.weights):
        np.testing.assert_array_equal(bw.numpy(), kw.value.detach().cpu().numpy())


def test_imagenet_weights_missing_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def no_network(*a, **k):
        raise OSError("no network")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(OSError, match=r"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top\.h5.*models"):
        applications.MobileNetV2(weights="imagenet", include_top=False, input_shape=(96, 96, 3))


@pytest.mark.parametrize("kwargs,match", [
    (dict(weights="nowhere.h5"), "The `weights` argument should be either"),
    (dict(weights="imagenet", classes=10), "`classes` should be 1000"),
    (dict(weights=None, input_shape=(16, 16, 3)), "Input size must be at least 32x32"),
    (dict(weights=None, input_shape=(32, 32)), "must be a tuple of three integers"),
    (dict(weights=None, input_shape=(None, None, 3)), "you should specify a static `input_shape`"),
    (dict(weights="imagenet", input_shape=(100, 100, 3)), "`input_shape` should be"),
    (dict(weights="imagenet", include_top=False, input_shape=(96, 96, 1)), "must have 3 channels"),
    (dict(weights="imagenet", classifier_activation="relu"), "Only `None` and `softmax`"),
])
def test_bad_arguments_raise_as_keras(keras, kwargs, match, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(bigcore.applications.imagenet_utils, "cached_file",
                        lambda *a, **k: pytest.fail("no file should be read"))
    with pytest.raises(ValueError, match=re.escape(match)):
        keras.applications.MobileNetV2(**kwargs)
    with pytest.raises(ValueError, match=re.escape(match)):
        applications.MobileNetV2(**kwargs)


def test_mobilenet_v2_alpha_checked_for_imagenet():
    with pytest.raises(ValueError, match="alpha must be one of"):
        applications.MobileNetV2(weights="imagenet", alpha=0.6)


def test_include_top_false_pooling(keras):
    for pooling, expected in [(None, (1, 1, 1280)), ("avg", (1280,)), ("max", (1280,))]:
        model = applications.MobileNetV2(weights=None, include_top=False, pooling=pooling, input_shape=(32, 32, 3))
        assert tuple(model.output.shape)[1:] == expected


def test_include_top_false_any_input_size():
    model = applications.MobileNetV2(weights=None, include_top=False)
    assert tuple(model.input.shape) == (None, None, None, 3)
    y = model.predict(np.zeros((1, 64, 48, 3), "float32"), verbose=0)
    # Keras 3 gives (1, 2, 1, 1280): the width 48 -> 24 -> 12 -> 6 -> 3 -> 1 (correct_pad pads a run-time
    # size by (0, 1) before each strided 3x3 'valid' convolution)
    assert y.shape == (1, 2, 1, 1280)
    assert model.predict(np.zeros((2, 96, 96, 3), "float32"), verbose=0).shape == (2, 3, 3, 1280)


def test_input_tensor(keras):
    inp = bigcore.Input((32, 32, 3))
    model = applications.MobileNetV2(weights=None, input_tensor=inp, include_top=False, pooling="avg")
    assert model.inputs[0] is inp


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_matches_keras(keras, mode, data_format):
    rng = np.random.default_rng(0)
    shape = (2, 5, 4, 3) if data_format == "channels_last" else (2, 3, 5, 4)
    x = rng.uniform(0, 255, shape).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    got = applications.imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    tensor = applications.imagenet_utils.preprocess_input(bigcore.ops.convert_to_tensor(x), data_format=data_format,
                                                         mode=mode)
    np.testing.assert_allclose(bigcore.ops.convert_to_numpy(tensor), expected, rtol=1e-6, atol=1e-5)
    ints = x.astype("uint8")
    np.testing.assert_allclose(applications.imagenet_utils.preprocess_input(ints, data_format=data_format, mode=mode),
                               keras.applications.imagenet_utils.preprocess_input(ints, data_format=data_format,
                                                                                  mode=mode), rtol=1e-6, atol=1e-5)


def test_preprocess_input_bad_mode():
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        applications.imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="x")
    with pytest.raises(ValueError, match="Expected data_format"):
        applications.imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), data_format="x")


def test_decode_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(applications.imagenet_utils, "CLASS_INDEX", None)
    (tmp_path / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    digest = hashlib.md5((tmp_path / "models" / "imagenet_class_index.json").read_bytes()).hexdigest()
    monkeypatch.setattr(applications.imagenet_utils, "_CLASS_INDEX_HASH", digest)
    preds = np.zeros((2, 1000), "float32")
    preds[0, [5, 900, 17]] = [0.5, 0.3, 0.2]
    preds[1, 999] = 1.0
    out = applications.mobilenet_v2.decode_predictions(preds, top=3)
    assert [r[:2] for r in out[0]] == [("n00000005", "class_5"), ("n00000900", "class_900"), ("n00000017", "class_17")]
    assert out[1][0][:2] == ("n00000999", "class_999") and len(out[1]) == 3
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        applications.imagenet_utils.decode_predictions(np.zeros((2, 10)))


def test_decode_predictions_missing_index(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(applications.imagenet_utils, "CLASS_INDEX", None)

    def no_network(*a, **k):
        raise OSError("no network")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(OSError, match=r"imagenet_class_index\.json"):
        applications.imagenet_utils.decode_predictions(np.zeros((1, 1000)))


@pytest.mark.parametrize("ctor,kwargs,match", [
    ("Xception", dict(weights=None, include_top=False, input_shape=(70, 70, 3)), "at least 71x71"),
    ("InceptionV3", dict(weights=None, include_top=False, input_shape=(74, 80, 3)), "at least 75x75"),
    ("ResNet50", dict(weights=None, include_top=True, input_shape=(None, 64, 3)), "static `input_shape`"),
    ("MobileNetV3Small", dict(weights="imagenet", alpha=0.5), "alpha can be one of"),
    ("MobileNetV3Large", dict(weights=None, input_shape=(31, 64, 3)), "at least 32x32"),
    ("VGG16", dict(weights="imagenet", classes=3), "`classes` should be 1000"),
    ("DenseNet121", dict(weights="missing.weights.h5"), "The `weights` argument should be either"),
    ("ConvNeXtTiny", dict(weights="imagenet", name="mine", include_top=False, input_shape=(32, 32, 3)),
     "does not match weights variant"),
], ids=_IDS)
def test_argument_errors_of_each_family(keras, ctor, kwargs, match, monkeypatch):
    monkeypatch.setattr(applications.imagenet_utils, "cached_file", lambda *a, **k: pytest.fail("no file read"))
    with pytest.raises(ValueError, match=re.escape(match)):
        getattr(keras.applications, ctor)(**kwargs)
    with pytest.raises(ValueError, match=re.escape(match)):
        getattr(applications, ctor)(**kwargs)


def test_legacy_file_of_another_architecture_is_refused(tmp_path):
    """Matched by order, a file with another count of weighted layers raises Keras's error."""
    pytest.importorskip("h5py")
    path = str(tmp_path / "m.h5")
    saved = applications.MobileNetV2(weights=None, alpha=0.35, include_top=False, input_shape=(32, 32, 3))
    saved.save(path)
    with pytest.raises(ValueError, match="Layer count mismatch when loading weights from file"):
        applications.VGG16(weights=path, include_top=False, input_shape=(32, 32, 3))
    model = applications.MobileNetV2(weights=path, alpha=0.35, include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(saved.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
