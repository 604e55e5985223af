"""Keras 3's colour augmentation layers (RandomGrayscale, RandomInvert, Solarization,
RandomPosterization, AutoContrast, RandomColorDegeneration, RandomSaturation, RandomHue,
RandomColorJitter) and keras.ops.image.rgb_to_hsv / hsv_to_rgb: the native kernel (ops/image_tone.h)
against float64 NumPy references (tests/image_reference.py) for given draws, its backward by finite
differences, the layers' draws (ranges, one per image, seeded, thread-invariant), Keras 3 parity
where the factors fix the result, inference identity, configs, saving, training, refusals.
"""

import json
import os

import numpy as np
import pytest

import bigcore
import image_reference as iref
from bigcore import _core, layers, ops
from image_layer_checks import identity_in_predict_and_config_as_keras, seeded_reproducible_and_thread_invariant
from layer_test import KERAS_WARNING, assert_gradients_close, fd_gradients
from test_image_augmentation import _train_gradient

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

GRAYSCALE, INVERT, SOLARIZE, POSTERIZE, DEGENERATE, SATURATION, HUE, RGB_TO_HSV, HSV_TO_RGB, AUTOCONTRAST = range(10)


def images(shape, seed=0, lo=0.0, hi=255.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


def q_of(*cols):
    q = np.zeros((len(cols[0]), 2), np.float32)
    for i, c in enumerate(cols):
        q[:, i] = c
    return q


# --------------------------------------------------------------------------- the kernel for given draws


def _cases():
    B = 4
    vr1, vr255 = (0.0, 1.0), (0.0, 255.0)
    return [
        ("grayscale", GRAYSCALE, [0.5], q_of([1, 0, 1, 1]), vr255, lambda x, q: iref.grayscale(x, q[:, 0])),
        ("invert", INVERT, [0, 1, 255], q_of([1, 0, 0, 1]), vr255, lambda x, q: iref.invert(x, q[:, 0], 255)),
        ("solarize", SOLARIZE, [0, 1, 0, 1, 0, 255], q_of([0, 30, 80, 10], [0, 100, 200, 255]), vr255,
         lambda x, q: iref.solarize(x, q[:, 0], q[:, 1], vr255)),
        ("solarize01", SOLARIZE, [0, 1, 0, 1, 0, 1], q_of([5, 0, 40, 0], [128, 60, 255, 0]), vr1,
         lambda x, q: iref.solarize(x, q[:, 0], q[:, 1], vr1)),
        ("posterize", POSTERIZE, [1, 8, 0, 255], q_of([7, 4, 1, 0]), vr255,
         lambda x, q: iref.posterize(x, q[:, 0], vr255)),
        ("degenerate", DEGENERATE, [-1, 1, 0, 255], q_of([0.4, -0.3, 1.0, 0.0]), vr255,
         lambda x, q: iref.degenerate(x, q[:, 0], vr255)),
        ("saturation", SATURATION, [-1, 1, 0, 255], q_of([0.5, 1.7, 0.0, 3.0]), vr255,
         lambda x, q: iref.saturate(x, q[:, 0], vr255)),
        ("saturation01", SATURATION, [-1, 1, 0, 1], q_of([0.5, 1.7, 0.0, 3.0]), vr1,
         lambda x, q: iref.saturate(x, q[:, 0], vr1)),
        ("hue", HUE, [0, 1, 0, 255], q_of([0.1, -0.25, 0.5, -0.04]), vr255,
         lambda x, q: iref.shift_hue(x, q[:, 0], vr255)),
        ("rgb_to_hsv", RGB_TO_HSV, [], q_of([0] * B), vr255, lambda x, q: iref.rgb_to_hsv(x)),
        ("autocontrast", AUTOCONTRAST, [0, 255], q_of([0] * B), vr255, lambda x, q: iref.autocontrast(x, vr255)),
        ("autocontrast01", AUTOCONTRAST, [0, 1], q_of([0] * B), vr1, lambda x, q: iref.autocontrast(x, vr1)),
    ]


CASES = _cases()


def _input(name, vr, seed=1):
    if name == "posterize":  # away from the integers, where float32 and float64 could floor apart
        return (np.floor(images((4, 5, 6, 3), seed)) + 0.5).astype(np.float32)
    return images((4, 5, 6, 3), seed, vr[0], vr[1])


@pytest.mark.parametrize("name,kind,args,q,vr,ref", CASES, ids=[c[0] for c in CASES])
def test_tone_kernel_against_reference(name, kind, args, q, vr, ref):
    x = _input(name, vr)
    got = _core.image_tone(x, kind, args, q)
    np.testing.assert_allclose(got, ref(x, q), rtol=1e-5, atol=2e-5 * (vr[1] - vr[0]))


def test_hsv_to_rgb_kernel_against_reference():
    hsv = images((3, 4, 5, 3), 2, 0.0, 1.0)
    hsv[..., 0] = hsv[..., 0] * 3 - 1  # the hue is taken modulo 1
    hsv[..., 2] *= 200.0
    got = _core.image_tone(hsv, HSV_TO_RGB, [], q_of([0] * 3))
    np.testing.assert_allclose(got, iref.hsv_to_rgb(hsv), rtol=1e-5, atol=1e-3)


def test_posterize_keeps_the_top_bits():
    x = np.arange(256, dtype=np.float32).reshape(1, 16, 16, 1)
    for shift in range(8):
        got = _core.image_tone(x, POSTERIZE, [1, 8, 0, 255], q_of([shift]))
        np.testing.assert_array_equal(got, (np.arange(256) >> shift << shift).reshape(x.shape))


GRAD_CASES = [c for c in CASES if c[0] not in ("posterize",)] + [
    ("hsv_to_rgb", HSV_TO_RGB, [], q_of([0] * 4), (0.0, 1.0), lambda x, q: iref.hsv_to_rgb(x))]


@pytest.mark.parametrize("name,kind,args,q,vr,ref", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_tone_kernel_backward_by_finite_differences(name, kind, args, q, vr, ref):
    """The dual-number backward against central differences of the float64 reference (inputs away
    from the clips' and branches' edges: the references are smooth there)."""
    x = _input(name, vr, seed=3).astype(np.float64)
    if name.startswith("solarize"):  # not at the threshold, not clipped
        x = np.clip(x, 0.1 * vr[1], 0.6 * vr[1])
    r = np.random.default_rng(4).normal(size=x.shape)
    got = _core.image_tone(x.astype(np.float32), kind, args, q, g=r.astype(np.float32))
    h = 1e-4 * (vr[1] - vr[0])
    want = fd_gradients(lambda ws: float((ref(ws[0], q) * r).sum()), [x], h=h)
    assert_gradients_close([got], want)


def test_posterize_passes_no_gradient():
    x = _input("posterize", (0, 255))
    g = _core.image_tone(x, POSTERIZE, [1, 8, 0, 255], q_of([3] * 4), g=np.ones_like(x))
    assert not g.any()


# --------------------------------------------------------------------------- layers: draws


def test_grayscale_and_invert_choose_per_image():
    x = images((64, 4, 5, 3), 5)
    y = np.asarray(layers.RandomGrayscale(0.5, seed=1)(x, training=True))
    gray = iref.grayscale(x, np.ones(64))
    chosen = [np.allclose(y[b], gray[b], atol=1e-3) for b in range(64)]
    assert all(c or np.array_equal(y[b], x[b]) for b, c in enumerate(chosen)) and 16 < sum(chosen) < 48
    y = np.asarray(layers.RandomInvert(0.5, value_range=(0, 255), seed=2)(x, training=True))
    inv = [np.array_equal(y[b], 255 - x[b]) for b in range(64)]
    assert all(v or np.array_equal(y[b], x[b]) for b, v in enumerate(inv))
    assert 4 < sum(inv) < 28  # the probability is itself uniform in [0, 0.5]: 1/4 on average


def _least_squares_factor(y, x, base):
    """Per image, f in y = x + f (base - x)."""
    d = (base - x).reshape(len(x), -1)
    return ((y - x).reshape(len(x), -1) * d).sum(1) / (d * d).sum(1)


def test_degeneration_saturation_and_hue_draw_one_factor_per_image():
    B = 48
    x = images((B, 5, 6, 3), 6, 60.0, 180.0)  # 1.5 x - 0.5 gray stays in [0, 255]
    y = np.asarray(layers.RandomColorDegeneration((-0.5, 0.8), seed=3)(x, training=True)).astype(np.float64)
    f = _least_squares_factor(y, x.astype(np.float64), iref.gray(x))
    np.testing.assert_allclose(y, iref.degenerate(x, f, (0, 255)), rtol=1e-5, atol=2e-3)
    assert f.min() >= -0.5 - 1e-4 and f.max() <= 0.8 + 1e-4 and f.std() > 0.2
    # saturation: the ratio of saturations is f / (1 - f), f in [0.1, 0.6] here
    y = np.asarray(layers.RandomSaturation((0.1, 0.6), value_range=(0, 1), seed=4)(x, training=True))
    k = np.median(iref.rgb_to_hsv(y)[..., 1].reshape(B, -1) / iref.rgb_to_hsv(x)[..., 1].reshape(B, -1), axis=1)
    np.testing.assert_allclose(y, iref.saturate(x, k, (0, 1)), rtol=1e-4, atol=2e-2)
    assert k.min() >= 0.1 / 0.9 - 1e-3 and k.max() <= 0.6 / 0.4 + 1e-3 and k.std() > 0.1
    # hue: shifted by +-f / 2, f in [0.2, 0.6]
    y = np.asarray(layers.RandomHue((0.2, 0.6), seed=5)(x, training=True))
    dh = np.mod(iref.rgb_to_hsv(y)[..., 0] - iref.rgb_to_hsv(x)[..., 0] + 0.5, 1.0) - 0.5
    d = np.median(dh.reshape(B, -1), axis=1)
    np.testing.assert_allclose(y, iref.shift_hue(x, d, (0, 255)), rtol=1e-4, atol=0.1)
    assert (np.abs(d) >= 0.1 - 1e-3).all() and (np.abs(d) <= 0.3 + 1e-3).all()
    assert 8 < (d > 0).sum() < 40


def test_posterization_and_solarization_draws():
    B = 40
    x = (np.floor(images((B, 6, 6, 3), 7)) + 0.5).astype(np.float32)
    y = np.asarray(layers.RandomPosterization((2, 6), seed=6)(x, training=True))
    shifts = []
    for b in range(B):
        ok = [s for s in range(8) if np.array_equal(y[b], iref.posterize(x[b:b + 1], [s], (0, 255))[0])]
        assert ok, f"image {b} is no posterization"
        shifts.append(ok[0])
    assert set(shifts) == {3, 4, 5, 6}  # bits in [2, 6): 8 - bits in {3, 4, 5, 6}
    y = np.asarray(layers.Solarization(addition_factor=0.0, threshold_factor=(0.2, 0.8), seed=7)(x, training=True))
    for b in range(B):  # a threshold t in [0.2, 0.8 * 255]: values below it kept, the rest inverted
        mid = x[b] == 127.5  # its own inverse
        kept, inverted = (y[b] == x[b]) & ~mid, (y[b] != x[b]) | mid
        assert np.array_equal(y[b][inverted], 255 - x[b][inverted])
        if kept.any() and (~kept & ~mid).any():
            assert x[b][kept].max() < x[b][~kept & ~mid].min()


@pytest.mark.parametrize("make", [
    lambda: layers.RandomGrayscale(0.5), lambda: layers.RandomInvert(0.7), lambda: layers.Solarization(0.3, 0.6),
    lambda: layers.RandomPosterization((2, 7)), lambda: layers.RandomColorDegeneration(0.6),
    lambda: layers.RandomSaturation((0.2, 0.7)), lambda: layers.RandomHue(0.5),
    lambda: layers.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3, saturation_factor=(0.3, 0.7),
                                     hue_factor=0.4)], ids=lambda m: type(m()).__name__)
def test_seeded_reproducible_and_thread_invariant(make):
    """Training output and the weights after a step of a Conv2D before the layer: the same bits for
    the same seed on 1 and 2 threads; another seed draws otherwise."""

    def before_layer(inp):  # a sigmoid Conv2D scaled to [0, 255]
        return layers.Rescaling(255.0)(layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inp))

    seeded_reproducible_and_thread_invariant(make, images((8, 9, 8, 3), 18), before_layer)


def test_layer_gradients_by_finite_differences():
    """Collapsed draws, the layer trained in a model: the input's gradient is that of the formula."""
    x = images((2, 3, 4, 3), 15, 0.1, 0.9)
    t = images((2, 3, 4, 3), 16, 0.0, 1.0)
    for layer, fn in [
            (layers.RandomColorDegeneration((0.4, 0.4), value_range=(0, 1)),
             lambda v: iref.degenerate(v, [0.4, 0.4], (0, 1))),
            (layers.RandomSaturation((0.3, 0.3), value_range=(0, 1)),
             lambda v: iref.saturate(v, [0.3 / (0.7 + 1e-7)] * 2, (0, 1))),
            (layers.RandomHue((1.0, 1.0), value_range=(0, 1)), lambda v: iref.shift_hue(v, [0.5, 0.5], (0, 1))),
            (layers.AutoContrast(value_range=(0, 1)), lambda v: iref.autocontrast(v, (0, 1))),
            (layers.RandomGrayscale(1.0), lambda v: iref.grayscale(v, [1, 1]))]:
        _, g = _train_gradient(layer, x, t)
        want = fd_gradients(lambda ws: float(((fn(ws[0]) - t) ** 2).mean()), [x], h=1e-5)
        assert_gradients_close([g], want)


# --------------------------------------------------------------------------- Keras parity


COLLAPSED = [  # factors that fix the result (RandomHue: +-1/2 turn is the same turn)
    (lambda L: L.RandomGrayscale(1.0), 255.0),
    (lambda L: L.RandomGrayscale(0.0), 255.0),
    (lambda L: L.RandomInvert((1.0, 1.0)), 255.0),
    (lambda L: L.RandomInvert((1.0, 1.0), value_range=(0, 1)), 1.0),
    (lambda L: L.Solarization(), 255.0),
    (lambda L: L.Solarization(value_range=(0, 1)), 1.0),
    (lambda L: L.RandomPosterization((3, 3)), 255.0),
    (lambda L: L.RandomColorDegeneration((0.3, 0.3)), 255.0),
    (lambda L: L.RandomColorDegeneration((-0.6, -0.6), value_range=(0, 1)), 1.0),
    (lambda L: L.RandomSaturation((0.3, 0.3)), 255.0),
    (lambda L: L.RandomSaturation((0.8, 0.8), value_range=(0, 1)), 1.0),
    (lambda L: L.RandomHue((1.0, 1.0)), 255.0),
    (lambda L: L.RandomHue((1.0, 1.0), value_range=(0, 1)), 1.0),
    (lambda L: L.AutoContrast(), 255.0),
    (lambda L: L.AutoContrast(value_range=(0, 1)), 1.0),
    (lambda L: L.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=0.0, saturation_factor=(0.4, 0.4),
                                   hue_factor=(1.0, 1.0)), 255.0),
    (lambda L: L.RandomColorJitter(value_range=(0, 1), saturation_factor=(0.7, 0.7)), 1.0),
]


@pytest.mark.parametrize("make,scale", COLLAPSED, ids=lambda v: type(v(bigcore.layers)).__name__
                         if callable(v) else str(v))
def test_collapsed_training_matches_keras(keras, make, scale):
    x = images((3, 7, 6, 3), 11, 0.0, scale)
    if "Posterization" in type(make(bigcore.layers)).__name__:
        x = (np.floor(x) + 0.5).astype(np.float32)
    ours = np.asarray(make(bigcore.layers)(x, training=True))
    theirs = np.asarray(make(keras.layers)(x, training=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-4 * scale)


RANDOM = [lambda L: L.RandomGrayscale(), lambda L: L.RandomInvert(), lambda L: L.Solarization(0.5, 0.5),
          lambda L: L.RandomPosterization(4), lambda L: L.RandomColorDegeneration(0.5),
          lambda L: L.RandomSaturation(0.5), lambda L: L.RandomHue(0.5),
          lambda L: L.RandomColorJitter(brightness_factor=0.2, hue_factor=0.3)]


@pytest.mark.parametrize("make", RANDOM, ids=lambda v: type(v(bigcore.layers)).__name__)
def test_identity_in_predict_and_config_as_keras(keras, make):
    identity_in_predict_and_config_as_keras(keras, make, images((4, 6, 5, 3), 10))


def test_autocontrast_applies_in_predict_as_keras(keras):
    x = images((3, 6, 5, 3), 12, 30.0, 200.0)
    x[1, :, :, 2] = 7.0  # a constant channel: kept
    ours = bigcore.Sequential([bigcore.Input((6, 5, 3)), layers.AutoContrast()]).predict(x, verbose=0)
    theirs = keras.Sequential([keras.Input((6, 5, 3)), keras.layers.AutoContrast()]).predict(x, verbose=0)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=5e-3)
    np.testing.assert_array_equal(ours[1, :, :, 2], 7.0)


@pytest.mark.parametrize("fn", ["rgb_to_hsv", "hsv_to_rgb"])
def test_hsv_ops_match_keras_eager_and_traced(keras, fn):
    x = images((2, 5, 4, 3), 13, 0.0, 1.0)
    want = np.asarray(getattr(keras.ops.image, fn)(x))
    np.testing.assert_allclose(np.asarray(getattr(ops.image, fn)(x)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(getattr(ops.image, fn)(x[0])), want[0], rtol=1e-5, atol=1e-6)
    first = np.asarray(getattr(ops.image, fn)(np.moveaxis(x, -1, 1), data_format="channels_first"))
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), want, rtol=1e-5, atol=1e-6)
    inp = bigcore.Input((5, 4, 3))
    model = bigcore.Model(inp, getattr(ops.image, fn)(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_hsv_round_trip_and_refusals():
    x = images((2, 5, 4, 3), 14, 0.0, 1.0)
    np.testing.assert_allclose(np.asarray(ops.image.hsv_to_rgb(ops.image.rgb_to_hsv(x))), x, atol=1e-5)
    with pytest.raises(ValueError, match="expected 3 channels"):
        ops.image.rgb_to_hsv(np.zeros((1, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="expected float dtype"):
        ops.image.hsv_to_rgb(np.zeros((1, 3, 3, 3), np.int32))


# --------------------------------------------------------------------------- training, saving, refusals


def test_colour_augmented_cnn_trains_and_saves(tmp_path):
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64).astype(np.float32)
    x = (0.7 * rng.random((64, 16, 16, 3))).astype(np.float32)
    x[:, :, :, 0] += 0.3 * y[:, None, None]  # the class is the red channel's level
    model = bigcore.Sequential([
        bigcore.Input((16, 16, 3)), layers.RandomGrayscale(0.1), layers.RandomPosterization((6, 8), value_range=(0, 1)),
        layers.RandomColorDegeneration(0.2, value_range=(0, 1)),
        layers.RandomSaturation((0.4, 0.6), value_range=(0, 1)), layers.RandomHue(0.05, value_range=(0, 1)),
        layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.05, contrast_factor=0.1),
        layers.Conv2D(8, 3, activation="relu"), layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="binary_crossentropy")
    hist = model.fit(x, y, epochs=12, batch_size=16, verbose=0, shuffle=False).history["loss"]
    assert min(hist[-3:]) < hist[0] * 0.8, hist
    # every layer (those that would hide the red level too) saved and loaded
    model = bigcore.Sequential([
        bigcore.Input((16, 16, 3)), layers.RandomGrayscale(0.1), layers.RandomInvert(0.1, value_range=(0, 1)),
        layers.Solarization(0.05, (0.9, 1.0), value_range=(0, 1)), layers.RandomPosterization(5, value_range=(0, 1)),
        layers.AutoContrast(value_range=(0, 1)), layers.RandomColorDegeneration(0.2, value_range=(0, 1)),
        layers.RandomSaturation(0.4, value_range=(0, 1)), layers.RandomHue(0.05, value_range=(0, 1)),
        layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.05, hue_factor=0.1), layers.Flatten(),
        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert np.isfinite(model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"]).all()
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    for a, b in zip(model.layers, loaded.layers):  # as JSON holds them (Keras keeps some value_range tuples)
        assert type(a) is type(b) and json.dumps(a.get_config()) == json.dumps(b.get_config())


def test_keras_loads_the_saved_model(keras, tmp_path):
    model = bigcore.Sequential([bigcore.Input((6, 6, 3)), layers.RandomHue(0.2), layers.AutoContrast(),
                                layers.RandomColorJitter(saturation_factor=0.3), layers.Flatten(), layers.Dense(2)])
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    km = keras.models.load_model(path)
    x = images((3, 6, 6, 3), 20, 10.0, 240.0)
    np.testing.assert_allclose(np.asarray(km.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-3)


@pytest.mark.parametrize("make,match", [
    (lambda: layers.RandomGrayscale(1.5), r"between 0 and 1. Received: factor=1.5"),
    (lambda: layers.RandomInvert(bounding_box_format="xyxy"), r"bounding boxes are not supported"),
    (lambda: layers.RandomInvert(-0.2), r"\[0, 1\]. Received: factor=-0.2"),
    (lambda: layers.Solarization(addition_factor=1.5), r"Received: addition_factor=1.5"),
    (lambda: layers.Solarization(value_range=(0, 1, 2)), r"two numbers. Received: value_range=\(0, 1, 2\)"),
    (lambda: layers.RandomPosterization(9), r"\[1, 8\]. Received: factor=9"),
    (lambda: layers.RandomPosterization(2.5), r"integer .*Received: factor=2.5"),
    (lambda: layers.RandomColorDegeneration(2.0), r"Received: factor=2.0"),
    (lambda: layers.RandomSaturation(0.5, data_format="channels_first"), r"Received: data_format='channels_first'"),
    (lambda: layers.RandomHue(-0.5), r"\[0, 1\]. Received: factor=-0.5"),
    (lambda: layers.RandomHue(0.5, value_range=(1, 0)), r"the lower first"),
    (lambda: layers.RandomColorJitter(hue_factor=2.0), r"Received: factor=2.0"),
    (lambda: layers.AutoContrast(value_range=5), r"Received: value_range=5"),
    (lambda: layers.AutoContrast(bounding_box_format="xywh"), r"bounding boxes are not supported"),
])
def test_refusals(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_refuses_images_that_are_not_rgb():
    for layer in (layers.RandomSaturation(0.5), layers.RandomHue(0.5), layers.RandomColorJitter(hue_factor=0.1)):
        with pytest.raises(ValueError, match=r"expected 3 \(RGB\)"):
            layer(bigcore.Input((4, 4, 2)))
    with pytest.raises(ValueError, match=r"expected 3 \(RGB\) or 1"):
        layers.RandomGrayscale()(bigcore.Input((4, 4, 4)))
    one = images((2, 3, 3, 1), 1)  # one channel: its own grayscale
    np.testing.assert_array_equal(np.asarray(layers.RandomGrayscale(1.0)(one, training=True)), one)
    y = layers.RandomInvert((1.0, 1.0))(images((2, 3, 3, 5), 2), training=True)  # any channel count
    assert np.asarray(y).shape == (2, 3, 3, 5)


def test_onnx_export_of_the_random_colour_layers_and_autocontrast_refused():
    onnx_export = pytest.importorskip("test_onnx_export")
    model = bigcore.Sequential([bigcore.Input((5, 5, 3)), layers.RandomHue(0.3), layers.RandomSaturation(0.4),
                                layers.RandomColorJitter(brightness_factor=0.2), layers.Flatten(), layers.Dense(2)])
    x = images((3, 5, 5, 3), 21)
    _, sess = onnx_export.session(model)
    np.testing.assert_allclose(onnx_export.run(sess, [x])[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
    with pytest.raises(Exception, match="AutoContrast"):
        bigcore.export.to_onnx(bigcore.Sequential([bigcore.Input((5, 5, 3)), layers.AutoContrast()]))
