"""Keras's image preprocessing and augmentation layers: the native kernels against NumPy
references (tests/image_reference.py), finite-difference gradients, Keras 3 parity (deterministic
layers; random ones with their factor ranges collapsed to one value, and as the identity at
inference), thread-count invariance, seeded reproducibility, training, config and saving, refusals.
"""

import os

import numpy as np
import pytest

import bigcore
import image_reference as iref
from bigcore import _core, layers
from image_layer_checks import classed_images, learns, reloads_the_same, seeded_reproducible_and_thread_invariant
from layer_test import KERAS_WARNING, assert_gradients_close, fd_gradients, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

FILLS = ["reflect", "wrap", "constant", "nearest"]
INTERPS = ["bilinear", "nearest"]


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


def images(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).random(shape)).astype(np.float32)


def random_mats(B, H, W, rng):
    """Rotations by any angle, zooms and shifts by fractions of a pixel, combined."""
    out = []
    for _ in range(B):
        t = rng.uniform(-0.5, 0.5)
        m = np.array(iref.rotation_matrix(t, H, W)).reshape(2, 3)
        z = rng.uniform(0.6, 1.5, 2)
        out.append([m[0, 0] * z[1], m[0, 1] * z[1], m[0, 2] + rng.uniform(-3, 3),
                    m[1, 0] * z[0], m[1, 1] * z[0], m[1, 2] + rng.uniform(-3, 3)])
    return np.asarray(out, np.float32)


# --------------------------------------------------------------------------- kernels on arrays


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("interp", INTERPS)
def test_affine_kernel_against_reference(fill, interp):
    x = images((4, 7, 9, 3), seed=1)
    mats = random_mats(4, 7, 9, np.random.default_rng(2))
    got = _core.image_affine(x, mats, INTERPS.index(interp), FILLS.index(fill), 0.5)
    want = iref.affine(x, mats.astype(np.float64), interp, fill, 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("interp", INTERPS)
def test_affine_kernel_backward_by_finite_differences(fill, interp):
    x = images((2, 5, 6, 2), seed=3)
    mats = random_mats(2, 5, 6, np.random.default_rng(4))
    r = np.random.default_rng(5).normal(size=x.shape)
    got = _core.image_affine(r.astype(np.float32), mats, INTERPS.index(interp), FILLS.index(fill), 0.0, backward=True)
    want = fd_gradients(lambda ws: float((iref.affine(ws[0], mats.astype(np.float64), interp, fill, 0.7) * r).sum()),
                        [x])
    assert_gradients_close([got], want)


RESIZES = [((6, 8), (3, 4), None), ((5, 7), (9, 4), None), ((6, 6), (4, 4), (1, 2, 4, 3)),
           ((4, 6), (5, 5), (-1, 0, 6, 6)), ((7, 5), (7, 5), None), ((3, 16), (2, 25), None)]


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("hw,out,box", RESIZES, ids=str)
def test_resize_kernel_and_backward(hw, out, box, interp):
    x = images((2,) + hw + (3,), seed=6)
    b = box or (0, 0) + hw
    got = _core.image_box_resize(x, out[0], out[1], list(b), INTERPS.index(interp), 0.25)
    np.testing.assert_allclose(got, iref.resize(x, *out, b, interp, 0.25), rtol=1e-5, atol=1e-6)
    r = np.random.default_rng(7).normal(size=got.shape)
    dx = _core.image_box_resize(r.astype(np.float32), out[0], out[1], list(b), INTERPS.index(interp), 0.0,
                                H=hw[0], W=hw[1], backward=True)
    want = fd_gradients(lambda ws: float((iref.resize(ws[0], *out, b, interp, 0.25) * r).sum()), [x])
    assert_gradients_close([dx], want)


def test_affine_matrices_are_keras_formulas():
    H, W = 7, 10
    np.testing.assert_allclose(_core.image_affine_matrix(0, [0.1, 0], [0.3, 0], False, 0.5, 0.9, H, W),
                               iref.rotation_matrix(0.2, H, W), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_core.image_affine_matrix(1, [-0.2, 0.1], [0.2, 0.3], False, 0.25, 0.5, H, W),
                               iref.zoom_matrix(0.9, 1.2, H, W), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_core.image_affine_matrix(1, [-0.2, 0], [0.2, 0], True, 0.25, 0.9, H, W),
                               iref.zoom_matrix(0.9, 0.9, H, W), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_core.image_affine_matrix(2, [-0.2, 0.0], [0.2, 0.5], False, 0.75, 0.5, H, W),
                               iref.translation_matrix(0.1 * H, 0.25 * W), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- layers: the harness


def identity(w, x, mask):
    return x


AFFINE_CASES = [
    (layers.RandomRotation, {"factor": (0.25, 0.25)}, iref.rotation_matrix(0.25, 5, 6)),
    (layers.RandomRotation, {"factor": (-0.1, -0.1), "fill_mode": "constant", "fill_value": 0.5,
                             "interpolation": "nearest"}, iref.rotation_matrix(-0.1, 5, 6)),
    (layers.RandomRotation, {"factor": (0.07, 0.07), "fill_mode": "wrap"}, iref.rotation_matrix(0.07, 5, 6)),
    (layers.RandomZoom, {"height_factor": (-0.2, -0.2)}, iref.zoom_matrix(0.8, 0.8, 5, 6)),
    (layers.RandomZoom, {"height_factor": (0.3, 0.3), "width_factor": (-0.4, -0.4), "fill_mode": "nearest"},
     iref.zoom_matrix(1.3, 0.6, 5, 6)),
    (layers.RandomTranslation, {"height_factor": (0.1, 0.1), "width_factor": (0.1, 0.1)},
     iref.translation_matrix(0.5, 0.6)),
    (layers.RandomTranslation, {"height_factor": (-0.3, -0.3), "width_factor": (0.25, 0.25),
                                "fill_mode": "constant"}, iref.translation_matrix(-1.5, 1.5)),
]


@pytest.mark.parametrize("cls,kw,mat", AFFINE_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(AFFINE_CASES)])
def test_collapsed_affine_layers(request, cls, kw, mat):
    """Factor ranges of one value: training is a fixed transform (the reference and its gradient, and
    Keras's training steps), inference the identity; threads, config, saving, Keras's predict."""
    kw = {**kw, "seed": 3}
    fill, interp = kw.get("fill_mode", "reflect"), kw.get("interpolation", "bilinear")

    def train(w, x, mask):
        return iref.affine(x, [mat] * len(x), interp, fill, kw.get("fill_value", 0.0))

    run_layer_test(cls, kw, (3, 5, 6, 2), identity, weight_shapes=[], train_reference=train, rtol=1e-4,
                   atol=1e-4, keras=optional_keras(request))


@pytest.mark.parametrize("kw,out,box_fn", [
    ({"height": 3, "width": 4}, (3, 4), lambda H, W: (0, 0, H, W)),
    ({"height": 8, "width": 5, "interpolation": "nearest"}, (8, 5), lambda H, W: (0, 0, H, W)),
    ({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, (4, 4), lambda H, W: (0, 1, 5, 5)),
    ({"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5}, (4, 4), lambda H, W: (-1, 0, 7, 7)),
], ids=lambda v: "box" if callable(v) else str(v))  # ids without addresses: pytest-xdist's workers must agree
def test_resizing_layer(request, kw, out, box_fn):
    def ref(w, x, mask):
        return iref.resize(x, *out, box_fn(5, 7), kw.get("interpolation", "bilinear"), kw.get("fill_value", 0.0))

    run_layer_test(layers.Resizing, kw, (2, 5, 7, 3), ref, weight_shapes=[], rtol=1e-5, atol=1e-5,
                   keras=optional_keras(request))


@pytest.mark.parametrize("hw,out", [((6, 7), (4, 3)), ((3, 8), (5, 4))], ids=str)
def test_center_crop_layer(request, hw, out):
    H, W = hw

    def ref(w, x, mask):
        if H >= out[0] and W >= out[1]:
            t, le = (H - out[0]) // 2, (W - out[1]) // 2
            return x[:, t:t + out[0], le:le + out[1]]
        ch, cw = max(min(H, int(W * out[0] / out[1])), 1), max(min(W, int(H * out[1] / out[0])), 1)
        return iref.resize(x, *out, ((H - ch) // 2, (W - cw) // 2, ch, cw))

    run_layer_test(layers.CenterCrop, {"height": out[0], "width": out[1]}, (2, H, W, 2), ref, weight_shapes=[],
                   keras=optional_keras(request))


# --------------------------------------------------------------------------- Keras parity


@pytest.mark.parametrize("kw", [
    {}, {"interpolation": "nearest"}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True, "fill_value": 2.0},
    {"crop_to_aspect_ratio": True, "interpolation": "nearest"},
    {"pad_to_aspect_ratio": True, "interpolation": "nearest"}], ids=str)
# (9, 4) padded: 30 rows to 9, where nearest-exact's 1.5 * (30 / 9) sits at a float rounding tie
@pytest.mark.parametrize("size", [(16, 12), (5, 9), (20, 21), (9, 4)], ids=str)
def test_resizing_matches_keras(keras, kw, size):
    x = images((3, 10, 14, 3), seed=8, scale=255.0)
    ours = np.asarray(layers.Resizing(*size, **kw)(x))
    theirs = np.asarray(keras.layers.Resizing(*size, **kw)(x))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("hw", [(10, 14), (4, 14), (3, 3)], ids=str)
def test_center_crop_matches_keras(keras, hw):
    x = images((2,) + hw + (3,), seed=9)
    ours = np.asarray(layers.CenterCrop(6, 5)(x))
    np.testing.assert_allclose(ours, np.asarray(keras.layers.CenterCrop(6, 5)(x)), rtol=1e-5, atol=1e-6)


RANDOM_LAYERS = [
    lambda lib: lib.layers.RandomFlip(), lambda lib: lib.layers.RandomRotation(0.2),
    lambda lib: lib.layers.RandomZoom(0.3, 0.2), lambda lib: lib.layers.RandomTranslation(0.2, 0.1),
    lambda lib: lib.layers.RandomContrast(0.5), lambda lib: lib.layers.RandomBrightness(0.3),
]


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_random_layers_are_the_identity_in_predict(keras, make, seed):
    x = images((4, 9, 8, 3), seed=10, scale=255.0)
    keras.utils.set_random_seed(0)  # unseeded, either RandomFlip could leave all 4 images unflipped (1 run in 16)
    for lib in (bigcore, keras):
        m = lib.Sequential([lib.Input((9, 8, 3)), make(lib)])
        np.testing.assert_array_equal(np.asarray(m.predict(x, verbose=0)), x)
        train = np.asarray(make(lib)(x, training=True))
        assert not np.array_equal(train, x), f"{lib.__name__}: training changes nothing"


KERAS_TRAINING = [
    (lambda lib: lib.layers.RandomRotation((0.25, 0.25)), 255.0),
    (lambda lib: lib.layers.RandomRotation((0.1, 0.1), fill_mode="constant", fill_value=3.0), 255.0),
    (lambda lib: lib.layers.RandomRotation((-0.3, -0.3), fill_mode="wrap", interpolation="nearest"), 255.0),
    (lambda lib: lib.layers.RandomRotation((0.05, 0.05), fill_mode="nearest"), 255.0),
    (lambda lib: lib.layers.RandomZoom((-0.2, -0.2)), 255.0),
    (lambda lib: lib.layers.RandomZoom((0.25, 0.25), (-0.3, -0.3), fill_mode="constant"), 255.0),
    (lambda lib: lib.layers.RandomTranslation((0.1, 0.1), (0.1, 0.1)), 255.0),
    (lambda lib: lib.layers.RandomTranslation((-0.2, -0.2), (0.3, 0.3), fill_mode="wrap"), 255.0),
    (lambda lib: lib.layers.RandomBrightness((0.1, 0.1)), 255.0),
    (lambda lib: lib.layers.RandomBrightness((-0.3, -0.3), value_range=(0, 1)), 1.0),
    (lambda lib: lib.layers.RandomContrast(0.0), 300.0),  # f = 1: only the clip to [0, 255]
    (lambda lib: lib.layers.RandomCrop(12, 10), 1.0),  # not larger than the input on both sides: deterministic
    (lambda lib: lib.layers.RandomCrop(5, 10), 1.0),
    (lambda lib: lib.layers.RandomCrop(14, 6), 1.0),
]


@pytest.mark.parametrize("make,scale", KERAS_TRAINING)
def test_collapsed_training_matches_keras(keras, make, scale):
    x = images((3, 12, 10, 3), seed=11, scale=scale)
    ours = np.asarray(make(bigcore)(x, training=True))
    theirs = np.asarray(make(keras)(x, training=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-3 * scale / 255.0)


# --------------------------------------------------------------------------- random draws


def _train_gradient(layer, x, t):
    """(loss, dL/dx) of one SGD(1) step of mse(layer(x), t) in training: x is the table of an
    Embedding probe, so the table's step is the input's gradient."""
    B = x.shape[0]
    n = x[0].size
    inp = bigcore.Input((n,))
    emb = layers.Embedding(B * n, 1)
    model = bigcore.Model(inp, layer(layers.Reshape(x.shape[1:])(emb(inp))))
    emb.set_weights([x.reshape(-1, 1)])
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    ids = np.arange(B * n, dtype=np.float32).reshape(B, n)
    loss = model.train_on_batch(ids, t)
    return loss, (x.reshape(-1) - emb.get_weights()[0][:, 0]).reshape(x.shape)


@pytest.mark.parametrize("mode,axes", [("horizontal", (1,)), ("vertical", (0,)), ("horizontal_and_vertical", (0, 1))])
def test_random_flip_draws_per_sample(mode, axes):
    """Each sample is itself or its flip (both axes at once for horizontal_and_vertical, as Keras);
    both occur; the input gradient is the loss's flipped back, with the same choice as the loss."""
    B, H, W, C = 48, 4, 5, 2
    x, t = images((B, H, W, C), seed=12), images((B, H, W, C), seed=13)
    y = np.asarray(layers.RandomFlip(mode, seed=1)(x, training=True))
    flips = [np.array_equal(y[b], np.flip(x[b], axis=axes)) for b in range(B)]
    assert all(f or np.array_equal(y[b], x[b]) for b, f in enumerate(flips)) and 8 < sum(flips) < 40
    loss, g = _train_gradient(layers.RandomFlip(mode, seed=2), x, t)
    total = 0.0
    n_flip = 0
    for b in range(B):
        cands = [(x[b], lambda v: v), (np.flip(x[b], axis=axes), lambda v: np.flip(v, axis=axes))]
        errs = [np.abs(g[b] - back(2 * (yb - t[b]) / x.size)).max() for yb, back in cands]
        k = int(np.argmin(errs))
        assert errs[k] < 1e-6, f"sample {b}: the gradient is neither choice's"
        total += ((cands[k][0] - t[b]) ** 2).sum()
        n_flip += k
    assert loss == pytest.approx(total / x.size, rel=1e-5)
    assert 8 < n_flip < 40


def test_random_contrast_and_brightness_draw_one_factor_per_image():
    B, H, W, C = 32, 6, 5, 3
    x = images((B, H, W, C), seed=14, scale=100.0) + 50.0
    y = np.asarray(layers.RandomContrast((0.2, 0.4), seed=3)(x, training=True)).astype(np.float64)
    m = x.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    f = ((y - m) * (x - m)).sum(axis=(1, 2, 3)) / ((x - m) ** 2).sum(axis=(1, 2, 3))  # least squares per image
    assert (f >= 0.8 - 1e-5).all() and (f <= 1.4 + 1e-5).all() and f.std() > 0.05
    np.testing.assert_allclose(y, np.clip((x - m) * f[:, None, None, None] + m, 0, 255), rtol=1e-5, atol=1e-3)
    y = np.asarray(layers.RandomBrightness(0.1, seed=4)(x, training=True)).astype(np.float64)
    d = (y - x).mean(axis=(1, 2, 3))
    assert (np.abs(d) <= 25.5 + 1e-3).all() and d.std() > 3
    np.testing.assert_allclose(y, np.clip(x + d[:, None, None, None], 0, 255), rtol=1e-5, atol=1e-3)


def test_color_gradients_by_finite_differences():
    """Collapsed draws: brightness (0.2, 0.2) and contrast 0 (f = 1) then a clip; values beyond the
    range meet the clip, whose gradient is zero."""
    x = images((2, 3, 4, 2), seed=15, scale=1.2) - 0.1
    t = images((2, 3, 4, 2), seed=16)
    for layer, fn in [(layers.RandomBrightness((0.2, 0.2), value_range=(0, 1)), lambda v: np.clip(v + 0.2, 0, 1)),
                      (layers.RandomContrast(0.0, value_range=(0, 1)), lambda v: np.clip(v, 0, 1))]:
        loss, g = _train_gradient(layer, x, t)
        want = fd_gradients(lambda ws: float(((fn(ws[0]) - t) ** 2).mean()), [x])
        assert_gradients_close([g], want)


def test_random_crop_draws_one_window_per_batch():
    x = images((6, 11, 9, 2), seed=17)
    offsets = set()
    for seed in range(6):
        y = np.asarray(layers.RandomCrop(5, 4, seed=seed)(x, training=True))
        found = [(i, j) for i in range(7) for j in range(6) if np.array_equal(y, x[:, i:i + 5, j:j + 4])]
        assert len(found) == 1, "the output is one window of every image"
        offsets.add(found[0])
    assert len(offsets) > 2
    # inference: Keras's smart_resize (the centred box of the target's aspect, bilinear)
    y = np.asarray(layers.RandomCrop(5, 4)(x, training=False))  # a plain eager call crops at random (Keras)
    np.testing.assert_allclose(y, iref.resize(x, 5, 4, (0, 0, 11, 8)), rtol=1e-5, atol=1e-6)


RANDOM_TRAIN = [lambda: layers.RandomFlip(seed=7), lambda: layers.RandomRotation(0.3, seed=7),
                lambda: layers.RandomZoom(0.3, seed=7), lambda: layers.RandomTranslation(0.2, 0.3, seed=7),
                lambda: layers.RandomContrast(0.4, seed=7), lambda: layers.RandomBrightness(0.3, seed=7),
                lambda: layers.RandomCrop(6, 5, seed=7)]


@pytest.mark.parametrize("make", RANDOM_TRAIN)
def test_seeded_reproducible_and_thread_invariant(make):
    """Training output and the gradient of a Conv2D before the layer: the same bits for the same seed
    on 1 and 2 threads; another seed draws otherwise."""
    seeded_reproducible_and_thread_invariant(make, images((8, 9, 8, 3), seed=18, scale=255.0))


def test_augmented_cnn_trains_saves_and_summarizes(tmp_path):
    x, y = classed_images(32)
    model = bigcore.Sequential([
        bigcore.Input((32, 32, 3)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
        layers.RandomZoom(0.1), layers.RandomTranslation(0.1, 0.1), layers.RandomContrast(0.1, value_range=(0, 1)),
        layers.RandomBrightness(0.05, value_range=(0, 1)), layers.RandomCrop(28, 28), layers.Resizing(24, 24),
        layers.CenterCrop(20, 20), layers.Conv2D(8, 3, activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(1, activation="sigmoid")])
    learns(model, x, y)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer in model.layers:  # a long name may be cut at the column's width
        assert layer.name[:6] in text
    reloads_the_same(model, x, os.path.join(tmp_path, "m.keras"), json_configs=False)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("make,exc,match", [
    (lambda: layers.RandomFlip("diagonal"), ValueError, r"Expected one of .*horizontal.*Received: mode='diagonal'"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), ValueError, r"fill_mode.*Received: fill_mode='mirror'"),
    (lambda: layers.RandomRotation(0.1, interpolation="bicubic"), ValueError, r"Received: interpolation='bicubic'"),
    (lambda: layers.RandomRotation(1.5), ValueError, r"range \[-1, 1\]. Received: factor=1.5"),
    (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, r"Received: factor="),
    (lambda: layers.RandomRotation("a"), ValueError, r"Received: factor='a'"),
    (lambda: layers.RandomZoom(-1.0), ValueError, r"\(-1, 1\]. Received: height_factor=-1.0"),
    (lambda: layers.RandomZoom(0.2, (0.1, 2.0)), ValueError, r"Received: width_factor=\(0.1, 2.0\)"),
    (lambda: layers.RandomTranslation(0.1, 1.5), ValueError, r"Received: width_factor=1.5"),
    (lambda: layers.RandomContrast(-0.1), ValueError, r"\[0, 1\]. Received: factor=-0.1"),
    (lambda: layers.RandomBrightness(0.1, value_range=(0, 1, 2)), ValueError, r"Received: value_range=\(0, 1, 2\)"),
    (lambda: layers.RandomRotation(0.1, data_format="channels_first"), ValueError,
     r"expect 'channels_last'.*Received: data_format='channels_first'"),
    (lambda: layers.RandomRotation(0.1, seed=-1), ValueError, r"Received: seed=-1"),
    (lambda: layers.Resizing(4, 4, interpolation="bicubic"), ValueError, r"Received: interpolation='bicubic'"),
    (lambda: layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError, "Only one of"),
    (lambda: layers.Resizing(4, 4, fill_mode="reflect"), ValueError, r"\('constant',\). Received: fill_mode='reflect'"),
    (lambda: layers.Resizing(4, 4, antialias=True), ValueError, r"Expected False. Received: antialias=True"),
    (lambda: layers.Resizing(0, 4), ValueError, r"positive integer. Received: height=0"),
    (lambda: layers.CenterCrop(4, 2.5), ValueError, r"Received: width=2.5"),
    (lambda: layers.RandomCrop(4, 4, data_format="NHWC"), ValueError, r"Received: data_format='NHWC'"),
])
def test_refusals(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_refuses_inputs_that_are_not_images():
    with pytest.raises(ValueError, match=r"expected ndim=4 .*found ndim=3"):
        layers.RandomFlip()(bigcore.Input((5, 4)))
    with pytest.raises(ValueError, match="needs known height, width and channels"):
        layers.Resizing(3, 3)(bigcore.Input((None, 4, 3)))


def _guide_model(M):
    """Augmentation inside the model, then Rescaling (Keras's image-classification guides)."""
    inp = M.Input((12, 12, 3))
    x = M.Sequential([M.layers.RandomFlip("horizontal"), M.layers.RandomRotation(0.1)])(inp)
    x = M.layers.Rescaling(1.0 / 255, offset=-0.5)(x)
    x = M.layers.Conv2D(4, 3, activation="relu")(x)
    return M.Model(inp, M.layers.Dense(2)(M.layers.GlobalAveragePooling2D()(x)))


def test_rescaling_after_augmentation_runs_natively_and_matches_keras(keras):
    """Rescaling whose input comes from a native layer is a native op (on the inputs it stays in NumPy):
    Keras's predictions with the same weights, training with the gradient through it, ONNX."""
    model, km = _guide_model(bigcore), _guide_model(keras)
    km.set_weights(model.get_weights())
    x = np.random.default_rng(3).uniform(0, 255, (4, 12, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.train_on_batch(x, np.zeros((4, 2), np.float32)))
    onnx_export = pytest.importorskip("test_onnx_export")
    _, sess = onnx_export.session(model)
    np.testing.assert_allclose(onnx_export.run(sess, [x])[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
