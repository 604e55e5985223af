"""keras.ops.image (bigcore.ops.image): extract_patches against a loop reference and Keras 3, the
other image ops against Keras, the ops traced inside a custom layer (a Vision Transformer's patch
layer) with Keras parity of outputs and of weights after SGD steps, and the refusals."""

import itertools

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from keras_training_checks import trains_like_keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

PATCH_CASES = [
    ((2, 9, 8, 3), dict(size=3)),
    ((2, 9, 8, 3), dict(size=(2, 3), strides=(1, 2))),
    ((9, 8, 3), dict(size=3, strides=2, padding="same")),
    ((2, 3, 9, 8), dict(size=2, data_format="channels_first")),
    ((2, 9, 8, 3), dict(size=3, strides=1, dilation_rate=2)),
    ((2, 6, 6, 6, 2), dict(size=(2, 3, 2))),
    ((1, 7, 7, 2), dict(size=4, padding="same")),
]


def _patches_reference(x, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Loops over output positions and window offsets (float64), channels-last batches only."""
    n = 2 if isinstance(size, int) else len(size)
    size = (size,) * n if isinstance(size, int) else tuple(size)
    strides = size if strides is None else ((strides,) * n if isinstance(strides, int) else tuple(strides))
    dil = (dilation_rate,) * n if isinstance(dilation_rate, int) else tuple(dilation_rate)
    x = np.asarray(x, np.float64)
    if padding == "same":
        pads = []
        for L, k, s, d in zip(x.shape[1:1 + n], size, strides, dil):
            out = -(-L // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - L)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    outs = [(L - (k - 1) * d - 1) // s + 1 for L, k, s, d in zip(x.shape[1:1 + n], size, strides, dil)]
    res = np.zeros((x.shape[0], *outs, int(np.prod(size)) * x.shape[-1]))
    for pos in itertools.product(*[range(o) for o in outs]):
        window = [x[(slice(None),) + tuple(p * s + o * d for p, s, o, d in zip(pos, strides, off, dil))]
                  for off in itertools.product(*[range(k) for k in size])]
        res[(slice(None),) + pos] = np.stack(window, axis=1).reshape(x.shape[0], -1)
    return res


@pytest.mark.parametrize("shape,kw", PATCH_CASES, ids=str)
def test_extract_patches_against_the_loop_reference(shape, kw):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    got = np.asarray(ops.image.extract_patches(x, **kw))
    ref_in, kw_ref = x, dict(kw)
    first = kw_ref.pop("data_format", None) == "channels_first"
    if first:
        ref_in = np.moveaxis(x, 1, -1)
    unbatched = ref_in.ndim == (3 if isinstance(kw["size"], int) or len(kw["size"]) == 2 else 4)
    ref = _patches_reference(ref_in[None] if unbatched else ref_in, **kw_ref)
    ref = ref[0] if unbatched else ref
    if first:
        ref = np.moveaxis(ref, -1, 1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize("shape,kw", PATCH_CASES, ids=str)
def test_extract_patches_matches_keras(keras, shape, kw):
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    theirs = keras.ops.convert_to_numpy(keras.ops.image.extract_patches(x, **kw))
    np.testing.assert_array_equal(np.asarray(ops.image.extract_patches(x, **kw)), theirs)


@pytest.mark.parametrize("fn,kw", [
    ("rgb_to_grayscale", {}),
    ("crop_images", dict(top_cropping=1, left_cropping=2, target_height=5, target_width=4)),
    ("crop_images", dict(bottom_cropping=2, right_cropping=1, target_height=4, target_width=3)),
    ("pad_images", dict(top_padding=1, bottom_padding=2, left_padding=0, target_width=10)),
    ("resize", dict(size=(5, 6))),
    ("resize", dict(size=(12, 4), interpolation="nearest")),
], ids=str)
@pytest.mark.parametrize("unbatched", [False, True])
def test_image_ops_match_keras(keras, fn, kw, unbatched):
    x = np.random.default_rng(2).random((2, 9, 8, 3)).astype(np.float32)
    x = x[0] if unbatched else x
    ours = np.asarray(getattr(ops.image, fn)(x, **kw))
    theirs = keras.ops.convert_to_numpy(getattr(keras.ops.image, fn)(x, **kw))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_grayscale_and_crop_channels_first():
    x = np.random.default_rng(3).random((2, 3, 5, 4)).astype(np.float32)
    gray = np.asarray(ops.image.rgb_to_grayscale(x, data_format="channels_first"))
    np.testing.assert_allclose(gray[:, 0], 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2], rtol=1e-6)
    crop = np.asarray(ops.image.crop_images(x, 1, 1, 2, 1, data_format="channels_first"))
    np.testing.assert_array_equal(crop, x[:, :, 1:3, 1:3])


def _vit_model(lib, patch=3):
    class Patches(lib.layers.Layer):
        def call(self, images):
            p = lib.ops.image.extract_patches(images, size=patch)
            shape = lib.ops.shape(p)
            return lib.ops.reshape(p, (shape[0], shape[1] * shape[2], shape[3]))

    class Gray(lib.layers.Layer):
        def call(self, images):
            return lib.ops.image.pad_images(lib.ops.image.rgb_to_grayscale(images), 1, 1, 1, 1)

    inp = lib.Input((7, 7, 3))
    x = Patches()(Gray()(inp))
    x = lib.layers.Dense(4, activation="tanh")(x)
    x = lib.layers.GlobalAveragePooling1D()(x)
    return lib.Model(inp, lib.layers.Dense(2)(x))


def test_image_ops_in_a_custom_layer_match_keras_after_sgd_steps(keras):
    rng = np.random.default_rng(4)
    x, y = rng.random((8, 7, 7, 3)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    trains_like_keras(keras, _vit_model, x, y, 0.1)


def test_symbolic_patches_equal_the_eager_ones():
    inp = bigcore.Input((8, 8, 2))
    model = bigcore.Model(inp, layers.Lambda(lambda t: ops.image.extract_patches(t, 4, strides=2))(inp))
    x = np.random.default_rng(5).random((3, 8, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.asarray(ops.image.extract_patches(x, 4, strides=2)))


@pytest.mark.parametrize("call,match", [
    (lambda x: ops.image.extract_patches(x, size=(2, 2, 2, 2)), "length 2 or 3"),
    (lambda x: ops.image.extract_patches(x, size=0), "positive"),
    (lambda x: ops.image.extract_patches(x, size=2, padding="full"), "padding"),
    (lambda x: ops.image.extract_patches(x, size=2, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda x: ops.image.extract_patches(x, size=9), "do not fit"),
    (lambda x: ops.image.extract_patches(x[0, 0, 0], size=2), "rank"),
    (lambda x: ops.image.extract_patches(x, size=2, data_format="nhwc"), "data_format"),
    (lambda x: ops.image.crop_images(x, 1, 1, target_height=2), "exactly two"),
    (lambda x: ops.image.crop_images(x, 4, 0, target_height=4, target_width=2), "does not fit"),
    (lambda x: ops.image.pad_images(x, 1, 1, target_height=3, target_width=7), "smaller"),
    (lambda x: ops.image.pad_images(x, -1, 1, 1, 1), "non-negative"),
    (lambda x: ops.image.rgb_to_grayscale(x[..., :2]), "channel"),
    (lambda x: ops.image.resize(x, 4), "tuple of 2"),
    (lambda x: ops.image.resize(x, (4, 4), antialias=True), "antialias"),
])
def test_image_ops_refuse_bad_arguments(call, match):
    x = np.zeros((2, 6, 6, 3), np.float32)
    with pytest.raises(ValueError, match=match):
        call(x)


def test_resize_inside_a_model_trains_like_keras(keras):
    """ops.image.resize in a custom layer after a convolution: the gradient goes through the resize."""
    def build(lib):
        class Up(lib.layers.Layer):
            def call(self, x):
                return lib.ops.image.resize(x, (7, 5))

        inp = lib.Input((4, 3, 2))
        h = Up()(lib.layers.Conv2D(3, 2, padding="same")(inp))
        return lib.Model(inp, lib.layers.Dense(1)(lib.layers.Flatten()(h)))

    rng = np.random.default_rng(6)
    x, y = rng.random((8, 4, 3, 2)).astype(np.float32), rng.random((8, 1)).astype(np.float32)
    trains_like_keras(keras, build, x, y, 0.05)
