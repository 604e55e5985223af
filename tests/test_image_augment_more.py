"""RandomErasing, RandomGaussianBlur, RandomSharpness, Equalization, RandAugment, AugMix,
RandomPerspective and RandomElasticTransform (traced from bigcore.ops) and CutMix (NumPy, arrays
only): Keras 3 parity where the factors fix the result (RandomPerspective's warp for given corners,
RandomElasticTransform's for given noise), float64 NumPy references for the draws found in the
output (a rectangle per image, one sigma pair per batch, one sharpness per image, a batch-wide
histogram equalization, CutMix's permutation and Beta weights), RandAugment's picks among Keras's
eleven layers, AugMix's mixes and its in-program Gamma sampler, inference identity, configs as
Keras's, seeded runs, training, saving (bigcore and Keras load the file), refusals.
"""

import json
import os

import numpy as np
import pytest

import bigcore
from bigcore import layers
from image_layer_checks import (classed_images, identity_in_predict_and_config_as_keras, keras_loads_alike, learns,
                                reloads_the_same)
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


@pytest.fixture(autouse=True)
def _global_seed():
    """The programs' draws are keyed by the global seed too: the statistical tests see the same
    draws whatever ran before them."""
    bigcore.utils.set_random_seed(1234)


def images(shape, seed=0, lo=0.0, hi=255.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


# --------------------------------------------------------------------------- NumPy references (float64)


def zero_pad(x, r):
    return np.pad(np.asarray(x, np.float64), [(0, 0), (r, r), (r, r), (0, 0)])


def gauss1d(k, sigma):
    d = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return g / g.sum()


def blur(x, k, sx, sy):
    """2-D convolution with outer(g_y, g_x), zero padding (Keras's torch gaussian_blur)."""
    B, H, W, C = x.shape
    r = k // 2
    xp = zero_pad(x, r)
    kern = np.outer(gauss1d(k, sy), gauss1d(k, sx))
    out = np.zeros(x.shape)
    for i in range(k):
        for j in range(k):
            out += kern[i, j] * xp[:, i:i + H, j:j + W]
    return out


def smooth13(x):
    """Keras's sharpness kernel: 1/13 around 5/13, zero padding."""
    B, H, W, C = x.shape
    xp = zero_pad(x, 1)
    out = np.zeros(x.shape)
    for i in range(3):
        for j in range(3):
            out += (5.0 if (i, j) == (1, 1) else 1.0) / 13.0 * xp[:, i:i + H, j:j + W]
    return out


def sharpen(x, f, vr):
    x = np.asarray(x, np.float64)
    f = np.asarray(f, np.float64).reshape(-1, 1, 1, 1)
    return np.clip(x + (1.0 - 2.0 * f) * (smooth13(x) - x), vr[0], vr[1])


def equalize(x, vr=(0, 255), bins=256):
    """Histogram equalization of each channel over the whole batch (Keras's Equalization)."""
    x = np.asarray(x, np.float64)
    lo, hi = vr
    out = np.empty_like(x)
    for c in range(x.shape[-1]):
        v = (x[..., c] - lo) * 255.0 / (hi - lo)
        idx = np.clip(np.floor(v * (bins - 1) / 255.0), 0, bins - 1).astype(np.int64)
        hist = np.bincount(idx.ravel(), minlength=bins)
        if (hist > 0).sum() <= 1:
            e = v
        else:
            cdf = np.cumsum(hist)
            cmin = cdf[cdf > 0][0]
            lut = np.clip(np.round((cdf - cmin) * 255.0 / max(cdf[-1] - cmin, 1)), 0, 255)
            e = lut[idx]
        out[..., c] = e * (hi - lo) / 255.0 + lo
    return out


# --------------------------------------------------------------------------- Keras parity (fixed draws)


PARITY = [
    ("RandomSharpness", dict(factor=(0.3, 0.3))),
    ("RandomSharpness", dict(factor=(0.9, 0.9), value_range=(0, 200))),
    ("RandomSharpness", dict(factor=0.0)),
    ("RandomGaussianBlur", dict(factor=(1, 1), sigma=(0.7, 0.7), kernel_size=5)),
    ("RandomGaussianBlur", dict(factor=(1.0, 1.0), sigma=(0.95, 0.95), kernel_size=3, value_range=(10, 200))),
    ("RandomGaussianBlur", dict(factor=0.0, value_range=(0, 100))),  # never blurred, but clipped
    ("RandomErasing", dict(factor=(1, 1), scale=(1, 1), fill_value=17.0)),
    ("RandomErasing", dict(factor=(1, 1), scale=(1, 1), fill_value=(1, 300, -3))),
    ("RandomErasing", dict(factor=0.0)),
    ("Equalization", dict()),
    ("Equalization", dict(bins=32)),
    ("Equalization", dict(value_range=(1.0, -1.0), bins=100)),
]


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")  # Keras's Equalization on torch
@pytest.mark.parametrize("name,kw", PARITY)
def test_keras_parity_where_the_draws_are_fixed(keras, name, kw):
    x = images((4, 7, 6, 3), 1)
    if name == "Equalization":  # integer pixels, a skewed histogram (and -1..1 where asked)
        x = np.floor(255 * (x / 255) ** 2)
        x = x if "value_range" not in kw else (x / 127.5 - 1.0).astype(np.float32)
    ours = np.asarray(getattr(layers, name)(**kw)(x, training=True))
    theirs = np.asarray(getattr(keras.layers, name)(**kw)(x, training=True))
    assert ours.shape == x.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_eager_call_augments_by_default_as_keras(keras):
    """Keras's call(training=True): an eager call on arrays augments; training=False is the identity."""
    x = images((2, 5, 5, 3), 11)
    for lib in (bigcore, keras):
        layer = lib.layers.RandomSharpness((0.9, 0.9))
        np.testing.assert_allclose(np.asarray(layer(x)), sharpen(x, [0.9, 0.9], (0, 255)), rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_fixed_draws_against_numpy():
    x = images((3, 6, 5, 2), 2)
    y = np.asarray(layers.RandomSharpness((0.2, 0.2), value_range=(0, 255))(x, training=True))
    np.testing.assert_allclose(y, sharpen(x, [0.2] * 3, (0, 255)), rtol=1e-5, atol=1e-3)
    y = np.asarray(layers.RandomGaussianBlur((1, 1), kernel_size=7, sigma=(0.6, 0.6))(x, training=True))
    np.testing.assert_allclose(y, np.clip(blur(x, 7, 0.6, 0.6), 0, 255), rtol=1e-5, atol=1e-3)
    y = np.asarray(layers.RandomErasing((1, 1), scale=(1, 1), fill_value=-5.0, value_range=(-2, 9))(x, training=True))
    np.testing.assert_array_equal(y, np.full(x.shape, -2.0, np.float32))  # the fill clipped to value_range


def test_equalization_against_numpy():
    rng = np.random.default_rng(12)
    x = (np.floor(rng.beta(2, 5, (3, 9, 8, 3)) * 256) + 0.3).astype(np.float32)  # off the bins' edges
    x[..., 2] = 40.0  # one occupied bin: kept as it is
    for vr, bins in (((0, 255), 256), ((0, 255), 7), ((-50, 300), 64)):
        y = np.asarray(layers.Equalization(vr, bins)(x, training=True))
        np.testing.assert_allclose(y, equalize(x, vr, bins), rtol=1e-5, atol=1e-3)
    y = np.asarray(layers.Equalization()(x))
    np.testing.assert_array_equal(y[..., 2], x[..., 2])
    assert len(np.unique(y[..., 0])) == len(np.unique(x[..., 0])) and y[..., 0].min() == 0 and y[..., 0].max() == 255
    # one histogram for the batch: an image equalized alone comes out otherwise
    assert not np.allclose(np.asarray(layers.Equalization()(x[:1])), y[:1])


# --------------------------------------------------------------------------- the draws


def test_sharpness_draws_one_factor_per_image_in_range():
    B = 40
    x = images((B, 6, 6, 3), 3, 50, 200)
    y = np.asarray(layers.RandomSharpness((0.2, 0.7), value_range=(-1e4, 1e4), seed=2)(x, training=True))
    d = (smooth13(x) - x).reshape(B, -1)
    k = ((y - x).reshape(B, -1) * d).sum(1) / (d * d).sum(1)  # y - x = (1 - 2 f) d
    f = (1.0 - k) / 2.0
    np.testing.assert_allclose(y, sharpen(x, f, (-1e4, 1e4)), rtol=1e-5, atol=2e-3)  # one f explains each image
    assert f.min() >= 0.2 - 1e-4 and f.max() <= 0.7 + 1e-4 and f.std() > 0.08


def test_blur_one_sigma_pair_per_batch_and_a_probability_per_image():
    B = 48
    x = images((B, 7, 8, 2), 4)
    y = np.asarray(layers.RandomGaussianBlur((0.5, 0.5), kernel_size=3, sigma=(0.4, 1.0), seed=5)(x, training=True))
    same = np.array([np.array_equal(y[b], x[b]) for b in range(B)])
    assert 12 <= same.sum() <= 36, same.sum()
    blurred = np.flatnonzero(~same)
    b0 = blurred[0]
    grid = np.linspace(0.4, 1.0, 61)
    errs = [(np.abs(blur(x[b0:b0 + 1], 3, sx, sy) - y[b0:b0 + 1]).max(), sx, sy) for sx in grid for sy in grid]
    err, sx, sy = min(errs)
    assert err < 1.5, err  # the grid's step
    # every blurred image is the same pair's blur (fit finely on the first, then checked on all)
    fine = [(np.abs(blur(x[b0:b0 + 1], 3, a, b) - y[b0:b0 + 1]).max(), a, b)
            for a in np.linspace(sx - 0.01, sx + 0.01, 21) for b in np.linspace(sy - 0.01, sy + 0.01, 21)]
    _, sx, sy = min(fine)
    np.testing.assert_allclose(y[blurred], blur(x[blurred], 3, sx, sy), atol=0.3)


def _erased_boxes(x, y):
    """Per image: None (unchanged) or (rows, cols) of the changed rectangle (all channels alike)."""
    out = []
    for b in range(len(x)):
        changed = (y[b] != x[b])
        assert (changed == changed[..., :1]).all(), "a pixel erased in some channels only"
        m = changed[..., 0]
        if not m.any():
            out.append(None)
            continue
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        assert (rows == np.arange(rows[0], rows[-1] + 1)).all() and (cols == np.arange(cols[0], cols[-1] + 1)).all()
        assert m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all() and m.sum() == len(rows) * len(cols)
        out.append((rows, cols))
    return out


def test_erasing_rectangles_sizes_and_fill():
    B, H, W = 64, 20, 30
    x = images((B, H, W, 3), 6, 1, 255)
    lo, hi = 0.1, 0.3
    y = np.asarray(layers.RandomErasing((1, 1), scale=(lo, hi), fill_value=0.0, seed=7)(x, training=True))
    boxes = _erased_boxes(x, y)
    assert all(b is not None for b in boxes)
    hs = np.array([len(r) for r, _ in boxes])
    ws = np.array([len(c) for _, c in boxes])
    # the side is sqrt(s) times the length; a span [x0, x0 + L) holds floor(L) or ceil(L) pixels
    assert hs.min() >= np.floor(np.sqrt(lo) * H) and hs.max() <= np.ceil(np.sqrt(hi) * H)
    assert ws.min() >= np.floor(np.sqrt(lo) * W) and ws.max() <= np.ceil(np.sqrt(hi) * W)
    assert hs.std() > 0.5 and ws.std() > 0.5 and np.corrcoef(hs, ws)[0, 1] < 0.6  # drawn apart
    starts = np.array([r[0] for r, _ in boxes])
    assert starts.min() == 0 or len(set(starts)) > 4
    assert (y[y != x] == 0).all()


def test_erasing_noise_fill_and_probabilities():
    B = 400
    x = images((B, 4, 4, 3), 8, 1, 255)
    vr = (0, 255)
    y = np.asarray(layers.RandomErasing((1, 1), scale=(1, 1), seed=9)(x, training=True))
    # the whole image: N(0, 1) * 255 clipped to [0, 255]
    assert y.min() == 0 and y.max() == 255
    assert 0.47 < (y == 0).mean() < 0.53  # the negative half
    assert 0.15 < (y == 255).mean() < 0.17  # P(z > 1) = 0.1587
    inner = y[(y > 0) & (y < 255)] / 255.0
    assert abs(inner.mean() - 0.46) < 0.02  # E[z | 0 < z < 1]
    # factor (p, p): each image erased with probability p; Keras's default 1.0 draws p ~ U(0, 1): 1/2
    for factor, p in (((0.25, 0.25), 0.25), (1.0, 0.5)):
        y = np.asarray(layers.RandomErasing(factor, scale=(1, 1), fill_value=0.0, value_range=vr, seed=10)(
            x, training=True))
        frac = np.mean([(y[b] == 0).all() for b in range(B)])
        assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / B), (factor, frac)


# --------------------------------------------------------------------------- CutMix (arrays only)


def _cutmix_recover(x, y, labels_in, labels_out):
    """From one-hot labels of distinct classes: per image its partner j and weight w (the label mix);
    the image is x_b with a rectangle of x_j."""
    B, H, W, C = x.shape
    perm, w = [], []
    for b in range(B):
        row = labels_out[b]
        j = int(np.argmax(np.where(np.arange(B) == b, -1, row))) if row[b] < 1 - 1e-6 else b
        wb = float(row[b]) if j != b else 1.0
        np.testing.assert_allclose(row, wb * labels_in[b] + (1 - wb) * labels_in[j], atol=1e-6)
        perm.append(j), w.append(wb)
    return np.array(perm), np.array(w)


def test_cutmix_pastes_a_rectangle_of_a_permuted_image_and_mixes_labels_by_its_area():
    B, H, W = 200, 16, 20
    x = images((B, H, W, 3), 13, 1, 255)
    labels = np.eye(B, dtype=np.float32)
    out = layers.CutMix((0.5, 0.5), seed=3)({"images": x, "labels": labels})
    assert set(out) == {"images", "labels"} and out["images"].dtype == np.float32
    perm, w = _cutmix_recover(x, out["images"], labels, out["labels"])
    y = out["images"]
    moved = perm != np.arange(B)
    assert sorted(perm[moved]) == sorted(np.flatnonzero(moved)) and moved.sum() > B * 0.9  # a permutation
    for b in np.flatnonzero(moved):
        diff = (y[b] != x[b]).any(-1)
        from_j = (y[b] == x[perm[b]]).all(-1)
        assert (diff <= from_j).all(), "a changed pixel not from the partner"
        rows, cols = np.flatnonzero(from_j.any(1) & diff.any(1)), np.flatnonzero(from_j.any(0) & diff.any(0))
        side = np.sqrt(1 - w[b])
        if diff.any():  # the rectangle's sides are sqrt(1 - w) of the image's (floor or ceil in pixels)
            assert np.floor(side * H) <= len(rows) <= np.ceil(side * H)
            assert np.floor(side * W) <= len(cols) <= np.ceil(side * W)
        else:
            assert min(np.ceil(side * H), np.ceil(side * W)) <= 1
    # l ~ Beta(a, a), a = 0.5 (+ 1e-6): E[l] = 1/2, E[l^2] = (a + 1) / (2 (2a + 1)) = 3/8
    lam = w[moved]
    for k, want in ((1, 0.5), (2, 0.375)):
        assert abs((lam ** k).mean() - want) < 5 * (lam ** k).std() / np.sqrt(len(lam))


def test_cutmix_draws_per_call_seeded_and_arrays_only():
    x = images((6, 5, 4, 3), 14)
    a, b = layers.CutMix(seed=5), layers.CutMix(seed=5)
    first = a(x)
    np.testing.assert_array_equal(first, b(x))  # same seed, same draws
    assert not np.array_equal(first, a(x))  # a new draw each call, as Keras's seed generator
    np.testing.assert_array_equal(a(x, training=False), x)
    np.testing.assert_array_equal(a(x[0]), x[0])  # Keras: an unbatched image is left alone
    same = np.repeat(x[:1], 6, axis=0)
    np.testing.assert_array_equal(layers.CutMix()(same), same)
    ds = bigcore.data.Dataset.from_tensor_slices(x).batch(3).map(layers.CutMix(seed=1))
    assert [np.asarray(e).shape for e in ds] == [(3, 5, 4, 3)] * 2
    with pytest.raises(NotImplementedError, match="not inside a model"):
        layers.CutMix()(bigcore.Input((5, 4, 3)))
    with pytest.raises(ValueError, match="'images' and optionally 'labels'"):
        layers.CutMix()({"images": x, "boxes": x})


def test_cutmix_config_as_keras(keras):
    for kw in ({}, {"factor": 0.3, "seed": 4}, {"factor": (0.2, 0.9)}):
        ours, theirs = layers.CutMix(**kw).get_config(), keras.layers.CutMix(**kw).get_config()
        for cfg in (ours, theirs):
            cfg.pop("name"), cfg.pop("dtype", None)
        assert ours == theirs
        again = layers.CutMix.from_config(ours).get_config()
        again.pop("name")
        assert again == ours
    with pytest.raises(ValueError, match="Received: factor=2"):
        layers.CutMix(2)


# --------------------------------------------------------------------------- RandAugment


def _rand_augment_candidates(keras, x, vr=(0, 255)):
    """Keras's eleven sub-layers of RandAugment(factor=0) on x: each deterministic there."""
    ra = keras.layers.RandAugment(value_range=vr, factor=0.0)
    return [np.asarray(getattr(ra, name)(x, training=True)) for name in ra._AUGMENT_LAYERS]


def _which(y, candidates):
    hits = [k for k, c in enumerate(candidates) if np.allclose(y, c, rtol=1e-5, atol=1e-2)]
    assert hits, "the output is none of the eleven layers' outputs"
    return hits


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")
def test_rand_augment_applies_one_of_the_eleven_layers_per_batch_as_keras(keras):
    bigcore.utils.set_random_seed(0)
    x = np.floor(images((3, 8, 7, 3), 15)).astype(np.float32)
    cands = _rand_augment_candidates(keras, x)
    assert len({c.tobytes() for c in cands}) >= 6  # identity, smooth, posterize, solarize, contrast, equalize
    picked = set()
    for seed in range(60):
        y = np.asarray(layers.RandAugment(factor=0.0, num_ops=1, seed=seed)(x))
        picked.update(_which(y, cands))
    assert picked == set(range(11))
    for _ in range(5):  # Keras's own picks fall in the same set
        _which(np.asarray(keras.layers.RandAugment(factor=0.0, num_ops=1)(x)), cands)
    # two rounds: a composition of two of them
    firsts = [_rand_augment_candidates(keras, c) for c in cands]
    for seed in range(6):
        y = np.asarray(layers.RandAugment(factor=0.0, num_ops=2, seed=100 + seed)(x))
        assert any(np.allclose(y, c2, rtol=1e-5, atol=1e-2) for row in firsts for c2 in row)
    np.testing.assert_array_equal(np.asarray(layers.RandAugment(num_ops=0)(x)), x)


def test_rand_augment_changes_images_with_its_factor():
    x = images((4, 10, 9, 3), 16)
    ys = [np.asarray(layers.RandAugment(factor=0.5, seed=s)(x)) for s in range(8)]
    assert all(y.shape == x.shape and y.dtype == np.float32 for y in ys)
    assert sum(not np.array_equal(y, x) for y in ys) >= 6
    assert all(y.min() >= -1e-3 and y.max() <= 255 + 1e-3 for y in ys)


# --------------------------------------------------------------------------- AugMix


class _Gammas(layers.RandomSharpness):
    """A traced layer whose output is gamma_draw's per-image draws (AugMix's sampler on a batch)."""

    def __init__(self, alpha, **kw):
        super().__init__(0.0, **kw)
        self.alpha = alpha

    def _augment(self, ops, x, B, H, W, C):
        from bigcore.layers.image_rand_augment import gamma_draw
        return gamma_draw(self, ops, (B, 1, 1, 1), self.alpha, 0) + 0.0 * x


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
def test_augmix_gamma_sampler_moments(alpha):
    """E[X^k] = a (a + 1) ... (a + k - 1), within 5 standard errors of 6000 draws."""
    n = 6000
    g = np.asarray(_Gammas(alpha, seed=11)(np.zeros((n, 1, 1, 1), np.float32)), np.float64).ravel()
    assert (g > 0).all()
    for k in (1, 2, 3):
        want = np.prod([alpha + r for r in range(k)])
        assert abs((g ** k).mean() - want) < 5 * (g ** k).std() / np.sqrt(n), (alpha, k)


def _fit_mix(x, y, cands):
    """The candidate c and weight w with y = w x + (1 - w) c, the best fit; (k, w, error)."""
    best = None
    for k, c in enumerate(cands):
        d = (x - c).ravel().astype(np.float64)
        w = 1.0 if not d.any() else float(((y - c).ravel() @ d) / (d @ d))
        err = np.abs(w * x + (1 - w) * c - y).max()
        if best is None or err < best[2]:
            best = (k, w, err)
    return best


@pytest.mark.filterwarnings("ignore:Tensor.T is deprecated:UserWarning")
def test_augmix_one_chain_mixes_the_image_with_one_layer_as_keras(keras):
    bigcore.utils.set_random_seed(0)  # the draws are keyed by the global seed too
    x = np.floor(images((3, 8, 7, 3), 19)).astype(np.float32)
    cands = _rand_augment_candidates(keras, x) + [x]  # factor 0: each layer deterministic; or no layer
    ws, picked = [], set()
    for seed in range(80):
        y = np.asarray(layers.AugMix(num_chains=1, chain_depth=1, factor=0.0, seed=seed)(x))
        k, w, err = _fit_mix(x, y, cands)
        assert err < 0.05, (seed, err)
        picked.add(k)
        if not np.array_equal(cands[k], x):
            assert -1e-4 <= w <= 1 + 1e-4
            ws.append(w)
    # six kinds of output: unchanged (six layers at factor 0, and no layer), smoothed, posterized,
    # solarized, auto-contrasted, equalized; each drawn with probability >= 1/12
    assert len(picked) >= 5 and len(ws) > 20
    assert 0.3 < np.mean(ws) < 0.7 and np.std(ws) > 0.15  # Beta(1, 1)
    for _ in range(3):  # Keras's own output has the same form
        y = np.asarray(keras.layers.AugMix(num_chains=1, chain_depth=1, factor=0.0)(x))
        assert _fit_mix(x, y, cands)[2] < 0.05


def test_augmix_trains_in_a_model_and_reloads(tmp_path):
    bigcore.utils.set_random_seed(1)
    x = images((16, 8, 8, 3), 21, 0, 1)
    y = np.random.default_rng(0).random((16, 1)).astype(np.float32)
    model = bigcore.Sequential([bigcore.Input((8, 8, 3)), layers.AugMix((0, 1), num_chains=2, chain_depth=2, seed=2),
                                layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert np.isfinite(hist).all()
    path = os.path.join(tmp_path, "a.keras")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    assert json.dumps(loaded.layers[0].get_config()) == json.dumps(model.layers[0].get_config())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_augmix_changes_images_and_stays_in_range():
    x = images((4, 9, 8, 3), 20)
    ys = [np.asarray(layers.AugMix(seed=s, alpha=0.5)(x)) for s in range(4)]
    assert all(y.shape == x.shape and y.dtype == np.float32 and 0 <= y.min() and y.max() <= 255 for y in ys)
    assert sum(not np.allclose(y, x) for y in ys) >= 3


# --------------------------------------------------------------------------- RandomPerspective

PIX = [(0, 0, 0), (0, 1, 1), (1, 0, 2), (2, 2, 0)]  # the pixels that give each image's four corner draws


def _p_of(v):
    return (v - 127.5) / 330.0  # in (-0.39, 0.39)


class _GivenCorners(layers.RandomPerspective):
    """The layer with its corner draws read from pixels of each image (a batched tensor, as a draw)."""

    def _corner_draws(self, ops, B):
        return [_p_of(self._x[:, i:i + 1, j:j + 1, c:c + 1]) for i, j, c in PIX]

    def _augment(self, ops, x, *rest):
        self._x = x
        return super()._augment(ops, x, *rest)


@pytest.mark.parametrize("interp,fill", [("bilinear", 0.0), ("bilinear", 3.5), ("nearest", -1.0)])
def test_perspective_warp_is_keras_for_given_corners(keras, interp, fill):
    B, H, W = 5, 8, 7
    x = images((B, H, W, 3), 17)
    P = np.zeros((B, 4, 2), np.float32)
    for (i, j, c), (k, d) in zip(PIX, [(1, 0), (2, 1), (3, 0), (3, 1)]):
        P[:, k, d] = _p_of(x[:, i, j, c])
    P[:, 0] = np.random.default_rng(0).uniform(-0.5, 0.5, (B, 2))  # corner 1 is the origin: its p is moot
    P[:, 1, 1] = P[:, 2, 0] = 0.3
    ours = np.asarray(_GivenCorners(factor=(1, 1), interpolation=interp, fill_value=fill)(x))
    start = np.array([[[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]]], np.float32).repeat(B, 0)
    t = {"apply_perspective": np.ones(B, bool), "start_points": start, "end_points": start + start * P,
         "input_shape": x.shape}
    layer = keras.layers.RandomPerspective(factor=(1, 1), interpolation=interp, fill_value=fill)
    theirs = np.asarray(layer.transform_images(x, t, training=True))
    assert np.abs(theirs - x).max() > 50  # a real warp
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-3)


def test_perspective_draws(keras):
    B = 60
    x = images((B, 9, 8, 3), 18)
    np.testing.assert_array_equal(np.asarray(layers.RandomPerspective(scale=0.0)(x)), x)  # no corner moves
    y = np.asarray(layers.RandomPerspective((0.5, 0.5), scale=0.6, seed=4)(x))
    same = np.array([np.array_equal(y[b], x[b]) for b in range(B)])
    assert 15 <= same.sum() <= 45, same.sum()
    warped = y[~same]
    assert len({w.tobytes() for w in warped}) == len(warped)  # a warp per image
    # the origin corner stays where it is (Keras's too): pixel (0, 0) is kept exactly
    np.testing.assert_array_equal(y[:, 0, 0], x[:, 0, 0])
    np.testing.assert_allclose(np.asarray(keras.layers.RandomPerspective()(x))[:, 0, 0], x[:, 0, 0], atol=1e-3)


# --------------------------------------------------------------------------- RandomElasticTransform


class _GivenNoise(layers.RandomElasticTransform):
    """The layer with its distortion given and its noise read from the images' first two channels."""

    distortion = 1.0

    def _distortion(self, ops):
        return np.full((1, 1, 1, 1), self.distortion, np.float32)

    def _noise(self, ops, x, B, H, W):
        return [(x[..., 0:1] - 127.5) / 25.0, (x[..., 1:2] - 127.5) / 25.0]


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("distortion", [0.3, 1.0])
def test_elastic_transform_is_keras_for_given_noise(keras, torch, monkeypatch, interp, fill, distortion):
    """Keras's elastic_transform with torch.normal giving the same noise: the kernel's size (1 or 5
    taps here), the blur, the displacement and the sampling agree."""
    B, H, W = 3, 16, 17
    x = images((B, H, W, 3), 22)
    layer = _GivenNoise(factor=(1, 1), interpolation=interp, fill_mode=fill, fill_value=7.0, value_range=(0, 200))
    layer.distortion = distortion
    ours = np.asarray(layer(x))
    fields = iter([torch.tensor((x[..., c] - 127.5) / 25.0) for c in (0, 1)])
    monkeypatch.setattr(torch, "normal", lambda *a, **k: next(fields))
    kl = keras.layers.RandomElasticTransform(factor=(1, 1), interpolation=interp, fill_mode=fill, fill_value=7.0,
                                             value_range=(0, 200))
    t = {"apply_transform": np.ones(B, bool), "distortion_factor": torch.tensor(distortion), "seed": None}
    theirs = np.asarray(kl.transform_images(x, t))
    assert np.abs(theirs - np.clip(x, 0, 200)).max() > 30  # a real distortion
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-3)


def test_elastic_transform_draws_and_identities():
    B = 40
    x = images((B, 12, 12, 3), 23)
    big = x * 2.0  # out of value_range: only a layer that runs clips it
    np.testing.assert_array_equal(np.asarray(layers.RandomElasticTransform(scale=0.0)(big)), big)
    np.testing.assert_array_equal(np.asarray(layers.RandomElasticTransform(factor=0.0)(big)), big)
    y = np.asarray(layers.RandomElasticTransform((0.5, 0.5), seed=8)(x))
    same = np.array([np.array_equal(y[b], x[b]) for b in range(B)])
    assert 10 <= same.sum() <= 30, same.sum()
    assert len({y[b].tobytes() for b in np.flatnonzero(~same)}) == (~same).sum()  # noise per image
    assert y.min() >= 0 and y.max() <= 255


# --------------------------------------------------------------------------- inference, configs, runs


MAKERS = [lambda L: L.RandomErasing(), lambda L: L.RandomErasing(0.4, scale=(0.1, 0.2), fill_value=3.0, seed=2),
          lambda L: L.RandomGaussianBlur(), lambda L: L.RandomGaussianBlur((0.2, 0.8), 5, (0.1, 0.9), (0, 1)),
          lambda L: L.RandomSharpness(0.4), lambda L: L.RandomSharpness((0.1, 0.6), value_range=(255, 0), seed=4),
          lambda L: L.Equalization(), lambda L: L.Equalization((-1, 1), bins=16),
          lambda L: L.RandAugment(), lambda L: L.RandAugment((0, 1), 3, (0.1, 0.3), "nearest", seed=3),
          lambda L: L.RandomPerspective(), lambda L: L.RandomPerspective(0.3, 0.5, "nearest", 2.0, seed=5),
          lambda L: L.AugMix(num_chains=2, chain_depth=1),
          lambda L: L.RandomElasticTransform(),
          lambda L: L.RandomElasticTransform(0.4, (0.2, 0.5), "nearest", "wrap", 1.0, (0, 1), seed=3),
          lambda L: L.AugMix((0, 1), 1, 2, (0.1, 0.2), 0.5, False, "nearest", seed=6)]


@pytest.mark.parametrize("make", MAKERS)
def test_identity_at_inference_and_config_as_keras(keras, make):
    x = images((4, 6, 5, 3), 10)
    layer = make(layers)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    # Keras's Equalization (also in RandAugment, AugMix) returns its input as its output spec: a cycle for Keras
    holds_equalization = type(layer).__name__ in ("Equalization", "RandAugment", "AugMix")
    identity_in_predict_and_config_as_keras(keras, make, x, (bigcore,) if holds_equalization else (bigcore, keras))
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()  # the one called too
    assert layer.compute_output_shape((None, 6, 5, 3)) == (None, 6, 5, 3)


@pytest.mark.parametrize("make", [lambda: layers.RandomErasing(seed=7), lambda: layers.RandomGaussianBlur(seed=7),
                                  lambda: layers.RandomSharpness((0, 1), seed=7)])
def test_seeded_runs_reproducible_and_training_draws_each_step(make):
    x = images((8, 9, 8, 3), 18)

    def run(seed):
        bigcore.utils.set_random_seed(seed)
        layer = make()
        inp = bigcore.Input((9, 8, 3))
        model = bigcore.Model(inp, layers.Flatten()(layers.Conv2D(2, 3)(layer(inp))))
        model.compile(optimizer=bigcore.optimizers.SGD(1e-6), loss="mse")
        t = np.zeros_like(model.predict(x, verbose=0))
        losses = [model.train_on_batch(x, t) for _ in range(3)]
        return np.asarray(layer(x, training=True)).tobytes() + np.asarray(losses).tobytes(), losses

    a, losses = run(0)
    assert len(set(np.round(losses, 6))) > 1, "the same draws every step"
    assert a == run(0)[0], "the same seed draws otherwise"
    assert a != run(1)[0], "another seed draws the same"


def test_trains_saves_and_loads(tmp_path, keras):
    x, y = classed_images(12)
    model = bigcore.Sequential([bigcore.Input((12, 12, 3)), layers.RandomErasing(0.5, value_range=(0, 1)),
                                layers.RandomGaussianBlur(0.5, value_range=(0, 1)),
                                layers.RandomSharpness((0.2, 0.8), value_range=(0, 1)), layers.RandomPerspective(0.5),
                                layers.RandomElasticTransform(0.5, value_range=(0, 1)),
                                layers.Equalization((0, 1), bins=64), layers.RandAugment((0, 1), factor=0.2),
                                layers.Conv2D(8, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                                layers.Dense(1, activation="sigmoid")])
    learns(model, x, y)
    reloads_the_same(model, x, os.path.join(tmp_path, "m.keras"))
    # Keras cannot load an Equalization (nor a RandAugment, which holds one): the same weights without them
    keras_model = bigcore.Sequential([bigcore.Input((12, 12, 3))] + model.layers[:5] + model.layers[7:])
    path = os.path.join(tmp_path, "k.keras")
    keras_model.save(path)
    keras_loads_alike(keras, path, keras_model, x)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: layers.RandomErasing(1.5), ValueError, r"\[0.0, 1.0\]. Received: factor=1.5"),
    (lambda: layers.RandomErasing(scale=(2, 3)), ValueError, r"`scale` argument .*Received: scale=\(2, 3\)"),
    (lambda: layers.RandomErasing(fill_value=(1, 2)), ValueError, r"Received: fill_value=\(1, 2\)"),
    (lambda: layers.RandomErasing(fill_value="black"), ValueError, r"Received: fill_value='black'"),
    (lambda: layers.RandomErasing(value_range=(1, 0)), ValueError, r"Received: value_range=\(1, 0\)"),
    (lambda: layers.RandomGaussianBlur(kernel_size=4), ValueError, r"odd .*Received: kernel_size=4"),
    (lambda: layers.RandomGaussianBlur(kernel_size=(3, 5)), NotImplementedError, r"kernel_size=\(3, 5\)"),
    (lambda: layers.RandomGaussianBlur(sigma=-1), ValueError, r"Received: sigma=-1"),
    (lambda: layers.RandomGaussianBlur(sigma=(2, 3)), ValueError, r"Received: sigma=\(2, 3\)"),  # as Keras
    (lambda: layers.RandomSharpness(-0.2), ValueError, r"Received: factor=-0.2"),
    (lambda: layers.RandomSharpness(0.2, value_range=0), ValueError, r"Received: value_range=0"),
    (lambda: layers.RandomSharpness(0.2, data_format="channels_first"), ValueError, r"channels_last"),
    (lambda: layers.RandomErasing(bounding_box_format="xyxy"), ValueError, r"bounding boxes are not supported"),
    (lambda: layers.RandomSharpness(0.2, seed=-1), ValueError, r"seed"),
    (lambda: layers.Equalization(bins=0), ValueError, r"Received: bins=0"),
    (lambda: layers.RandAugment(num_ops=-1), ValueError, r"Received: num_ops=-1"),
    (lambda: layers.AugMix(num_chains=0), ValueError, r"Received: num_chains=0"),
    (lambda: layers.AugMix(alpha=0), ValueError, r"Received: alpha=0"),
    (lambda: layers.AugMix(factor=(1.5, 2)), ValueError, r"Received: factor=\(1.5, 2\)"),
    (lambda: layers.RandomPerspective(scale=1.5), ValueError, r"Received: scale=1.5"),
    (lambda: layers.RandomElasticTransform(fill_mode="mirror"), NotImplementedError, r"'mirror'"),
    (lambda: layers.RandomElasticTransform(interpolation="area"), NotImplementedError, r"'area'"),
    (lambda: layers.RandomElasticTransform(scale=(2, 3)), ValueError, r"Received: scale=\(2, 3\)"),
    (lambda: layers.RandomPerspective(interpolation="bicubic"), NotImplementedError, r"'bicubic'"),
    (lambda: layers.RandomPerspective(fill_value=None), ValueError, r"Received: fill_value=None"),
    (lambda: layers.RandAugment(interpolation="bicubic"), ValueError, r"Received: interpolation='bicubic'"),
    (lambda: layers.RandAugment(factor=3), ValueError, r"Received: factor=3"),
    (lambda: layers.Equalization(value_range=(3, 3)), ValueError, r"two different numbers"),
])
def test_refusals(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_refuses_unbatched_and_wrong_channels():
    with pytest.raises(ValueError, match="expected ndim=4"):
        layers.RandomSharpness(0.3)(images((5, 4, 3)), training=True)
    with pytest.raises(ValueError, match="three numbers needs 3 channels"):
        layers.RandomErasing(fill_value=(1, 2, 3))(images((2, 5, 4, 1)), training=True)
    with pytest.raises(ValueError, match="at least 2 x 2"):
        layers.RandomPerspective()(images((2, 1, 4, 3)))


# --------------------------------------------------------------------------- the colour layers' shared base


@pytest.mark.parametrize("name,bounds,keeps_order", [("RandomColorDegeneration", (-1, 1), False),
                                                      ("RandomSaturation", (-1, 1), False),
                                                      ("RandomHue", (0, 1), True)])
def test_factor_tone_base_keeps_each_layers_arguments(keras, name, bounds, keeps_order):
    """RandomColorDegeneration / RandomSaturation / RandomHue share _FactorTone: positional
    (factor, value_range, data_format, seed), their factor bounds and value_range handling, and
    configs as Keras's."""
    cls = getattr(layers, name)
    layer = cls(0.4, (0, 1), None, 9)
    want_range = (0, 1) if keeps_order else [0, 1]
    assert (layer.factor, layer.value_range) == ((max(-0.4, bounds[0]), 0.4), want_range)
    assert (layer.data_format, layer.seed) == ("channels_last", 9)
    ours, theirs = layer.get_config(), getattr(keras.layers, name)(0.4, (0, 1), None, 9).get_config()
    for cfg in (ours, theirs):
        cfg.pop("name"), cfg.pop("dtype", None)
    assert ours == theirs
    if keeps_order:
        with pytest.raises(ValueError, match="the lower first"):
            cls(0.4, (255, 0))
    else:
        assert cls(0.4, (255, 0)).value_range == [0, 255]
    with pytest.raises(ValueError, match=r"Received: factor=1.5"):
        cls(1.5)
