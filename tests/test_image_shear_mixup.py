"""RandomShear (the affine op's shear kind) and MixUp (ops/image_mix.h): Keras's shear matrix against
the float64 affine reference and Keras's own transform for given factors, the draws (one sign per
image, both occur; MixUp's permutation and Beta weights), the gradient of MixUp's mixing,
seeded and thread-invariant runs, inference identity, configs as Keras's, saving, refusals.
"""

import os

import numpy as np
import pytest

import bigcore
import image_reference as iref
from bigcore import _core, layers
from image_layer_checks import (classed_images, identity_in_predict_and_config_as_keras, keras_loads_alike, learns,
                                reloads_the_same, seeded_reproducible_and_thread_invariant)
from layer_test import KERAS_WARNING
from test_image_augmentation import _train_gradient

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def images(shape, seed=0, scale=255.0):
    return (scale * np.random.default_rng(seed).random(shape)).astype(np.float32)


def shear_mats(sx, sy):
    return np.array([[1.0, a, 0.0, b, 1.0, 0.0] for a, b in zip(sx, sy)])


# --------------------------------------------------------------------------- RandomShear


def test_shear_matrix_is_keras_formula():
    m = _core.image_affine_matrix(3, [0.1, -0.4], [0.3, 0.2], False, 0.25, 0.5, 7, 9)
    np.testing.assert_allclose(m, [1.0, 0.15, 0.0, -0.1, 1.0, 0.0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fill", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_keras_shear_transform_matches_the_reference(keras, fill, interp):
    """Keras's own transform_images for given shear factors is the affine reference of the matrix."""
    x = images((3, 8, 7, 3), 1)
    sf = np.array([[0.37, 0.0], [-0.23, 0.29], [0.13, -0.41]], np.float32)  # no ties of nearest
    layer = keras.layers.RandomShear(0.5, 0.5, fill_mode=fill, interpolation=interp, fill_value=2.0)
    theirs = np.asarray(layer.transform_images(x, {"shear_factor": sf, "input_shape": x.shape}, training=True))
    want = iref.affine(x, shear_mats(sf[:, 0], sf[:, 1]), interp, fill, 2.0)
    np.testing.assert_allclose(theirs, want, rtol=1e-4, atol=2e-2)


def test_random_shear_draws_one_sign_per_image():
    B = 32
    x = images((B, 8, 9, 2), 2)
    y = np.asarray(layers.RandomShear((0.3, 0.3), (0.2, 0.2), fill_mode="constant", seed=3)(x, training=True))
    plus = iref.affine(x, shear_mats([0.3] * B, [0.2] * B), "bilinear", "constant", 0.0)
    minus = iref.affine(x, shear_mats([-0.3] * B, [-0.2] * B), "bilinear", "constant", 0.0)
    signs = []
    for b in range(B):
        ep, em = np.abs(y[b] - plus[b]).max(), np.abs(y[b] - minus[b]).max()
        assert min(ep, em) < 2e-3, f"image {b} is neither sign's shear"
        signs.append(ep < em)
    assert 6 < sum(signs) < 26
    # factors drawn within the range: with x in [0.1, 0.3] (either sign) every image is one such shear
    y = np.asarray(layers.RandomShear((0.1, 0.3), 0.0, fill_mode="constant", seed=4)(x, training=True))
    grid = np.linspace(-0.3, 0.3, 601)
    best = []
    for b in range(B):
        errs = [np.abs(y[b] - iref.affine(x[b:b + 1], shear_mats([s], [0.0]), "bilinear", "constant")[0]).max()
                for s in grid[::10]]
        s0 = grid[::10][int(np.argmin(errs))]
        best.append(abs(s0))
    assert min(best) >= 0.09 and max(best) <= 0.31 and np.std(best) > 0.03


# --------------------------------------------------------------------------- MixUp


def _recover_mix(y, x):
    """Per output image b: (j, l) with y_b = l x_b + (1 - l) x_j, the best fit over j."""
    B = len(x)
    xs = x.reshape(B, -1).astype(np.float64)
    ys = y.reshape(B, -1).astype(np.float64)
    perm, lam = [], []
    for b in range(B):
        fits = []
        for j in range(B):
            d = xs[b] - xs[j]
            lb = 1.0 if j == b else float((ys[b] - xs[j]) @ d / (d @ d))
            fits.append((np.abs(lb * xs[b] + (1 - lb) * xs[j] - ys[b]).max(), j, lb))
        err, j, lb = min(fits)
        assert err < 1e-3 * np.abs(xs).max(), f"image {b} is no mix of two images"
        perm.append(j)
        lam.append(lb)
    return np.array(perm), np.array(lam)


def test_mixup_mixes_each_image_with_a_permutation_of_the_batch():
    """Each output a mix of its image and one other; the others distinct (a permutation) where the
    weight leaves the partner recognisable (l < 0.98; near 1 any partner fits)."""
    B = 24
    x = images((B, 4, 5, 3), 5)
    y = np.asarray(layers.MixUp(alpha=1.0, seed=6)(x, training=True))
    perm, lam = _recover_mix(y, x)
    known = (perm != np.arange(B)) & (lam < 0.98)
    assert len(set(perm[known])) == known.sum() > B // 2
    assert ((lam[known] >= -1e-4) & (lam[known] <= 1 + 1e-4)).all() and lam[known].std() > 0.1


def test_mixup_draws_are_beta_and_a_permutation():
    """The weights' first four moments are Beta(alpha, alpha)'s (E[X^k] = prod_r (a + r) / (2a + r)),
    within 5 standard errors of 4000 draws; the permutation is one."""
    n = 4000
    for alpha in (0.2, 1.0, 3.0):
        perm, lam = _core.mixup_draws(12345, 0, n, alpha)
        assert sorted(perm) == list(range(n))
        lam = np.asarray(lam, np.float64)
        assert ((lam >= 0) & (lam <= 1)).all()
        for k in range(1, 5):
            want = np.prod([(alpha + r) / (2 * alpha + r) for r in range(k)])
            assert abs((lam ** k).mean() - want) < 5 * (lam ** k).std() / np.sqrt(n), (alpha, k)
    a, _ = _core.mixup_draws(7, 0, 50, 0.2)
    b, _ = _core.mixup_draws(8, 0, 50, 0.2)
    assert a != b


def test_mixup_gradient_is_the_transposed_mix():
    """Every input image the same c: the output is c whatever the draws, so dL/dy = 2 (c - t) / N is
    known; the input's gradient must be dx_j = l_j g_j + (1 - l_i) g_i with p(i) = j: the (i, l) found
    per j form a permutation and agree with each other."""
    B = 10
    c = images((1, 3, 4, 2), 7, 1.0)
    x = np.repeat(c, B, axis=0)
    t = images((B, 3, 4, 2), 8, 1.0)
    loss, g = _train_gradient(layers.MixUp(alpha=1.0, seed=9), x, t)
    assert loss == pytest.approx(((x - t) ** 2).mean(), rel=1e-5)
    dy = (2.0 * (x - t) / x.size).reshape(B, -1)
    dx = g.reshape(B, -1).astype(np.float64)
    src, a, b = [], [], []
    for j in range(B):
        fits = [(np.abs(dx[j] - dy[j]).max(), j, 1.0, 0.0)]  # p(j) = j: l_j + (1 - l_j) = 1
        for i in range(B):
            if i != j:
                A = np.stack([dy[j], dy[i]], 1)
                (aj, bi), *_ = np.linalg.lstsq(A, dx[j], rcond=None)
                fits.append((np.abs(A @ [aj, bi] - dx[j]).max(), i, aj, bi))
        err, i, aj, bi = fits[0] if fits[0][0] < 1e-6 else min(fits)  # a fixed point fits any i with b = 0
        assert err < 1e-6, f"input {j}: the gradient is no mix of two outputs' gradients"
        src.append(i), a.append(aj), b.append(bi)
    assert sorted(src) == list(range(B)) and sum(i != j for j, i in enumerate(src)) > B // 2
    for j, i in enumerate(src):
        if i != j:  # b_j = 1 - l_i, and l_i = a_i
            assert b[j] == pytest.approx(1 - a[i], abs=1e-4)
            assert -1e-4 <= a[j] <= 1 + 1e-4


# --------------------------------------------------------------------------- both: runs, parity, saving


MAKERS = [lambda L: L.RandomShear(0.3, 0.2), lambda L: L.RandomShear((0.1, 0.4), fill_mode="wrap"),
          lambda L: L.MixUp(), lambda L: L.MixUp(alpha=0.7, seed=3)]


@pytest.mark.parametrize("make", MAKERS)
def test_identity_in_predict_and_config_as_keras(keras, make):
    identity_in_predict_and_config_as_keras(keras, make, images((4, 6, 5, 3), 10))


@pytest.mark.parametrize("make", [lambda: layers.RandomShear(0.3, 0.3, seed=7), lambda: layers.MixUp(0.5, seed=7)])
def test_seeded_reproducible_and_thread_invariant(make):
    seeded_reproducible_and_thread_invariant(make, images((8, 9, 8, 3), 18))


def test_trains_saves_and_loads(tmp_path, keras):
    x, y = classed_images(12)
    # Keras reloads its RandomShear from a pair of non-negative factors only (a number's (-f, f) it refuses)
    model = bigcore.Sequential([bigcore.Input((12, 12, 3)), layers.RandomShear((0.0, 0.2), (0.1, 0.2)),
                                layers.MixUp(0.2),
                                layers.Conv2D(8, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                                layers.Dense(1, activation="sigmoid")])
    learns(model, x, y)
    path = os.path.join(tmp_path, "m.keras")
    reloads_the_same(model, x, path)
    keras_loads_alike(keras, path, model, x)


@pytest.mark.parametrize("make,match", [
    (lambda: layers.RandomShear(1.5), r"\[0, 1.0\]. Received: x_factor=1.5"),
    (lambda: layers.RandomShear(0.1, (-1.2, 0.3)), r"Received: y_factor=\(-1.2, 0.3\)"),
    (lambda: layers.RandomShear(-0.1), r"Received: x_factor=-0.1"),
    (lambda: layers.RandomShear(0.1, fill_mode="mirror"), r"Received: fill_mode='mirror'"),
    (lambda: layers.MixUp(alpha=0), r"positive number .*Received: alpha=0"),
    (lambda: layers.MixUp(bounding_box_format="xyxy"), r"bounding boxes are not supported"),
])
def test_refusals(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_mixup_refuses_images_with_labels():
    x = images((2, 3, 3, 3), 1)
    with pytest.raises(ValueError, match="a dict of images and labels"):
        layers.MixUp()({"images": x, "labels": np.eye(2, dtype=np.float32)}, training=True)
