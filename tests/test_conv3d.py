"""Conv3D through the layer harness (tests/layer_test.py): every padding, stride, dilation and group
setting against the float64 reference (tests/reference_conv.py, rank-generic), gradients by central
differences, threads, config and file round trips, Keras 3 parity where Keras is installed; then a
small 3-D classifier (Conv3D -> MaxPooling3D -> GlobalAveragePooling3D -> Dense) against Keras, and
the errors a misuse gets."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, optional_keras, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def conv_ref(kw):
    def forward(w, x, mask):
        return cref.conv_forward(x, w[0], w[1] if kw.get("use_bias", True) else None, kw.get("strides", 1),
                                 kw.get("padding", "valid"), kw.get("dilation_rate", 1), kw.get("groups", 1),
                                 kw.get("activation") or "linear")
    return forward


CONV3D = [
    {"kernel_size": 2},
    {"kernel_size": (2, 3, 2), "padding": "same"},
    {"kernel_size": 2, "strides": 2, "padding": "same"},
    {"kernel_size": (3, 2, 2), "strides": (1, 2, 1), "activation": "relu"},
    {"kernel_size": 2, "dilation_rate": (2, 1, 2), "padding": "same", "activation": "tanh"},
    {"kernel_size": 2, "groups": 2, "use_bias": False},
]


@pytest.mark.parametrize("extra", CONV3D, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_conv3d(request, extra):
    kw = {"filters": 4, **extra}
    C, groups = 4, kw.get("groups", 1)
    k = cref._tuple(kw["kernel_size"], 3)
    shapes = [k + (C // groups, 4)] + ([(4,)] if kw.get("use_bias", True) else [])
    run_layer_test(layers.Conv3D, kw, (2, 4, 5, 4, C), conv_ref(kw), weight_shapes=shapes,
                   keras=optional_keras(request))


def test_convolution3d_is_conv3d():
    assert layers.Convolution3D is layers.Conv3D


# --------------------------------------------------------------------------- a 3-D classifier


def volume_classifier(lib):
    """A CT-scan-style classifier in miniature, the same code for bigcore and Keras."""
    layers_ = lib.layers
    inp = lib.Input((6, 6, 5, 2))
    x = layers_.Conv3D(4, 3, padding="same", activation="relu")(inp)
    x = layers_.MaxPooling3D(2, padding="same")(x)
    x = layers_.GlobalAveragePooling3D()(x)
    return lib.Model(inp, layers_.Dense(3, activation="softmax")(x))


def keras_weights(model):  # Keras's get_weights() warns under numpy 2 (the suite makes warnings errors)
    return [w.value.detach().cpu().numpy() for w in model.weights]


def test_volume_classifier_trains_like_keras(keras):
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6, 6, 5, 2)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    ours, theirs = volume_classifier(bigcore), volume_classifier(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-5)
    for model, lib in ((ours, bigcore), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_volume_classifier_sequential_summary_and_file(tmp_path):
    model = bigcore.Sequential([bigcore.Input((4, 4, 4, 1)), layers.Conv3D(2, 2, name="c3"),
                                layers.AveragePooling3D(3, strides=1), layers.GlobalMaxPooling3D(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4, 4, 4, 1)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, rng.standard_normal((6, 1)).astype(np.float32), epochs=1, verbose=0)
    assert not np.allclose(before[0], model.get_weights()[0])  # the kernel learned
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Conv3D" in text and "(None, 3, 3, 3, 2)" in text
    path = tmp_path / "vol.keras"
    model.save(path)
    loaded = bigcore.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# --------------------------------------------------------------------------- misuse


@pytest.mark.parametrize("kw,match", [
    ({"data_format": "channels_first"}, "channels_last only"),
    ({"kernel_size": (2, 2)}, "kernel_size"),
    ({"kernel_size": 0}, "kernel_size"),
    ({"padding": "causal"}, "padding"),
    ({"strides": 2, "dilation_rate": 2}, "dilation_rate"),
    ({"filters": 3, "groups": 2}, "groups"),
])
def test_conv3d_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv3D(**{"filters": 4, "kernel_size": 2, **kw})


def test_conv3d_rejects_wrong_inputs():
    with pytest.raises(ValueError, match="expected ndim=5"):
        layers.Conv3D(2, 2)(bigcore.Input((4, 4, 3)))
    with pytest.raises(ValueError, match="larger than the input"):
        layers.Conv3D(2, 3)(bigcore.Input((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="divisible by the number of groups"):
        layers.Conv3D(4, 2, groups=2)(bigcore.Input((4, 4, 4, 3)))


def test_quantize_leaves_conv3d_float():
    """Conv3D has no int8 twin: quantize() keeps it float (its weights unchanged) and quantizes the rest."""
    model = bigcore.Sequential([bigcore.Input((3, 3, 3, 2)), layers.Conv3D(3, 2), layers.Flatten(), layers.Dense(2)])
    q = bigcore.quantization.quantize(model)
    assert [type(layer).__name__ for layer in q.layers] == ["Conv3D", "Flatten", "QuantizedDense"]
    for a, b in zip(q.layers[0].get_weights(), model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
