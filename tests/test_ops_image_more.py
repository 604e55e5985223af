"""keras.ops.image's resampling and filter ops (map_coordinates, affine_transform,
perspective_transform, elastic_transform, gaussian_blur, sobel_edges, ssim, extract_patches_3d)
against Keras 3 (torch backend) on the same inputs, traced inside a model against the eager
result, and the refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from bigcore.ops import image_transforms

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

RNG = np.random.default_rng(7)


def _img(shape, scale=1.0):
    return (RNG.uniform(0, 1, size=shape) * scale).astype(np.float32)


def _close(a, b, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=atol, rtol=1e-4)


def _traced(fn, x):
    """fn traced on a symbolic input of x's shape (batch left open), run on x by predict."""
    inp = bigcore.Input(x.shape[1:])
    model = bigcore.Model(inp, layers.Lambda(fn)(inp))
    return model.predict(x, verbose=0)


# ---- map_coordinates -------------------------------------------------------------------------

@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_map_coordinates_matches_keras(keras, order, fill_mode):
    x = _img((5, 6))
    coords = RNG.uniform(-4, 10, size=(2, 3, 7)).astype(np.float32)
    coords[:, 0, :3] = [[0.5, 1.5, 2.5], [2.5, -0.5, 3.5]]  # halves: round half to even
    got = ops.image.map_coordinates(x, coords, order, fill_mode=fill_mode, fill_value=-2.0)
    ref = keras.ops.image.map_coordinates(x, coords, order, fill_mode=fill_mode, fill_value=-2.0)
    assert np.asarray(got).shape == (3, 7)
    _close(got, ref)


def test_map_coordinates_3d_and_integer_input(keras):
    x = RNG.integers(0, 100, size=(3, 4, 5)).astype(np.int32)
    coords = [RNG.uniform(-1, 5, size=(6,)).astype(np.float32) for _ in range(3)]
    got = ops.image.map_coordinates(x, coords, 1, fill_mode="reflect")
    ref = keras.ops.image.map_coordinates(x, coords, 1, fill_mode="reflect")
    assert str(got.dtype) == "int32"
    _close(got, ref)


def test_map_coordinates_refusals():
    x = _img((4, 4))
    with pytest.raises(ValueError, match="First dim of `coordinates`"):
        ops.image.map_coordinates(x, np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="at least rank 2"):
        ops.image.map_coordinates(x, np.zeros((2,)), 1)
    with pytest.raises(ValueError, match="fill_mode"):
        ops.image.map_coordinates(x, np.zeros((2, 3)), 1, fill_mode="edge")
    with pytest.raises(NotImplementedError, match="order<=1"):
        ops.image.map_coordinates(x, np.zeros((2, 3)), 3)


def test_map_coordinates_refuses_symbolic_tensors():
    inp = bigcore.Input((4, 4))
    with pytest.raises(ValueError, match="map_coordinates: .*arrays only"):
        ops.image.map_coordinates(inp, np.zeros((3, 2), np.float32), 1)
    with pytest.raises(ValueError, match="arrays only"):
        ops.image.map_coordinates(_img((4, 4)), [inp[:, 0], inp[:, 1]], 1)


# ---- affine_transform ------------------------------------------------------------------------

AFFINE = [
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    [0.9, -0.2, 1.5, 0.3, 1.1, -0.7, 0.0, 0.0],
    [1.3, 0.1, -2.0, -0.25, 0.8, 2.2, 0.0, 0.0],
]


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_affine_transform_matches_keras(keras, interpolation, fill_mode):
    x = _img((2, 7, 9, 3), 255.0)
    t = np.array(AFFINE[1:], np.float32)
    kw = dict(interpolation=interpolation, fill_mode=fill_mode, fill_value=3.0)
    _close(ops.image.affine_transform(x, t, **kw), keras.ops.image.affine_transform(x, t.copy(), **kw), 1e-2)


@pytest.mark.parametrize("case", ["unbatched", "channels_first", "shared", "projective"])
def test_affine_transform_layouts_match_keras(keras, case):
    x, t, kw = _img((2, 6, 8, 3)), np.array(AFFINE[1], np.float32), {}
    if case == "unbatched":
        x = x[0]
    if case == "channels_first":
        x, t, kw = np.moveaxis(x, -1, 1).copy(), np.array(AFFINE[1:], np.float32), dict(data_format="channels_first")
    if case == "projective":  # Keras's einsum multiplies c0, c1 by the channel index
        t = np.array([1.0, 0.0, 0.5, 0.0, 1.0, -0.5, 0.7, -1.1], np.float32)
    # one transform for a batch: bigcore shares it; Keras's torch backend needs it once per image
    t_keras = np.tile(t, (2, 1)) if t.ndim == 1 and x.ndim == 4 else t.copy()
    _close(ops.image.affine_transform(x, t, **kw), keras.ops.image.affine_transform(x, t_keras, **kw))


def test_affine_transform_identity_and_integer_dtype():
    x = RNG.integers(0, 255, size=(6, 5, 2)).astype(np.int32)
    got = ops.image.affine_transform(x, AFFINE[0])
    assert str(got.dtype) == "int32"
    np.testing.assert_array_equal(np.asarray(got), x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_affine_transform_traced_matches_eager(data_format):
    x = _img((3, 6, 7, 2))
    t = np.array(AFFINE[2], np.float32)
    fn = lambda v: ops.image.affine_transform(v, t, fill_mode="reflect", data_format=data_format)  # noqa: E731
    _close(_traced(fn, x), fn(x))


def test_affine_transform_refusals():
    x = _img((5, 5, 1))
    with pytest.raises(ValueError, match="interpolation"):
        ops.image.affine_transform(x, AFFINE[0], interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_mode"):
        ops.image.affine_transform(x, AFFINE[0], fill_mode="edge")
    with pytest.raises(ValueError, match=r"Invalid images rank: expected rank 3 \(single image\) or rank 4 \(batch "
                                         r"of images\)\. Received input with shape: images\.shape=\(5, 5\)"):
        ops.image.affine_transform(x[..., 0], AFFINE[0])
    with pytest.raises(ValueError, match=r"Invalid transform rank: expected rank 1 \(single transform\) or rank 2 "
                                         r"\(batch of transforms\)\. Received input with shape: "
                                         r"transform\.shape=\(1, 1, 8\)"):
        ops.image.affine_transform(x, np.zeros((1, 1, 8)))


# ---- perspective_transform -------------------------------------------------------------------

START = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], np.float32)
END = np.array([[1, 0.5], [7, 1], [0.5, 5], [8, 6.5]], np.float32)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("layout", ["batched", "unbatched", "channels_first", "per_image"])
def test_perspective_transform_matches_keras(keras, interpolation, layout):
    x, s, e, kw = _img((2, 7, 9, 3)), START, END, dict(interpolation=interpolation, fill_value=0.5)
    if layout == "unbatched":
        x = x[0]
    if layout == "channels_first":
        x, kw = np.moveaxis(x, -1, 1).copy(), dict(kw, data_format="channels_first")
    if layout == "per_image":
        s, e = np.stack([START, START + 0.3]), np.stack([END, END[::-1] + 0.1])  # no point on a rounding edge
    _close(ops.image.perspective_transform(x, s, e, **kw), keras.ops.image.perspective_transform(x, s, e, **kw),
           2e-3)


def test_perspective_transform_traced_matches_eager():
    x = _img((2, 7, 9, 3))
    fn = lambda v: ops.image.perspective_transform(v, START, END)  # noqa: E731
    _close(_traced(fn, x), fn(x))


def test_perspective_transform_refusals():
    x = _img((2, 7, 9, 3))
    with pytest.raises(ValueError, match="start_points shape"):
        ops.image.perspective_transform(x, START[:3], END)
    with pytest.raises(ValueError, match="same shape"):
        ops.image.perspective_transform(x, START, np.stack([END, END]))
    with pytest.raises(ValueError, match="interpolation"):
        ops.image.perspective_transform(x, START, END, interpolation="bicubic")
    inp = bigcore.Input((4, 2))
    with pytest.raises(NotImplementedError, match="symbolic points"):
        ops.image.perspective_transform(x, inp, END)


# ---- gaussian_blur, sobel_edges, ssim --------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, dict(kernel_size=(5, 5), sigma=(0.7, 2.0)), dict(kernel_size=(7, 7), sigma=3.0)],
                         ids=str)
@pytest.mark.parametrize("layout", ["channels_last", "channels_first", "unbatched"])
def test_gaussian_blur_matches_keras(keras, kw, layout):
    x, fmt = _img((2, 8, 9, 3)), "channels_last"
    if layout == "channels_first":
        x, fmt = np.moveaxis(x, -1, 1).copy(), "channels_first"
    if layout == "unbatched":
        x = x[0]
    kw_k = dict(kw)
    if isinstance(kw_k.get("sigma"), float):
        kw_k["sigma"] = (kw_k["sigma"], kw_k["sigma"])
    # Keras's torch backend reads data_format=None as channels first: both sides are given it
    _close(ops.image.gaussian_blur(x, data_format=fmt, **kw), keras.ops.image.gaussian_blur(x, data_format=fmt, **kw_k))


def test_gaussian_blur_traced_and_refusals():
    x = _img((2, 8, 9, 3))
    fn = lambda v: ops.image.gaussian_blur(v, (5, 5), (1.5, 0.5))  # noqa: E731
    _close(_traced(fn, x), fn(x))
    with pytest.raises(NotImplementedError, match="odd and equal"):
        ops.image.gaussian_blur(x, (3, 5))
    with pytest.raises(NotImplementedError, match="odd and equal"):
        ops.image.gaussian_blur(x, (4, 4))
    with pytest.raises(ValueError, match="rank"):
        ops.image.gaussian_blur(x[0, 0])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_sobel_edges_matches_keras(keras, data_format):
    x = _img((2, 6, 7, 3))
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1).copy()
    got = ops.image.sobel_edges(x, data_format=data_format)
    _close(got, keras.ops.image.sobel_edges(x, data_format=data_format))
    assert np.asarray(got).shape == x.shape + (2,)


def test_sobel_edges_traced_and_refusals():
    x = _img((2, 6, 7, 3))
    _close(_traced(ops.image.sobel_edges, x), ops.image.sobel_edges(x))
    with pytest.raises(ValueError, match="rank 4"):
        ops.image.sobel_edges(x[0])


@pytest.mark.parametrize("kw", [{}, dict(filter_size=5, filter_sigma=0.8, max_val=255.0, k1=0.02, k2=0.05)], ids=str)
@pytest.mark.parametrize("layout", ["channels_last", "channels_first", "unbatched"])
def test_ssim_matches_keras(keras, kw, layout):
    a = _img((2, 16, 14, 3))
    b = np.clip(a + RNG.normal(0, 0.1, size=a.shape), 0, 1).astype(np.float32)
    fmt = "channels_last"
    if layout == "channels_first":
        a, b, fmt = np.moveaxis(a, -1, 1).copy(), np.moveaxis(b, -1, 1).copy(), "channels_first"
    if layout == "unbatched":
        a, b = a[0], b[0]
    got = ops.image.ssim(a, b, data_format=fmt, **kw)
    ref = keras.ops.image.ssim(a, b, data_format=fmt, **kw)
    assert np.asarray(got).shape == tuple(ref.shape)
    _close(got, ref, 1e-4)


def test_ssim_traced_and_refusals():
    a = _img((2, 12, 12, 1))
    b = np.flip(a, 1).copy()
    inp1, inp2 = bigcore.Input((12, 12, 1)), bigcore.Input((12, 12, 1))
    out = layers.Lambda(lambda t: ops.image.ssim(t[0], t[1], filter_size=5))([inp1, inp2])
    got = bigcore.Model([inp1, inp2], out).predict([a, b], verbose=0)
    _close(got, ops.image.ssim(a, b, filter_size=5))
    with pytest.raises(ValueError, match="image1 rank"):
        ops.image.ssim(a[0, 0], b)
    with pytest.raises(ValueError, match="larger than the images"):
        ops.image.ssim(a, b, filter_size=13)


# ---- elastic_transform -----------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(alpha=20.0, sigma=5.0), dict(alpha=3.0, sigma=1.2, interpolation="nearest",
                                                                  fill_mode="constant", fill_value=0.5),
                                dict(alpha=8.0, sigma=2.0, fill_mode="mirror")], ids=str)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_elastic_transform_matches_keras_given_its_noise(keras, monkeypatch, kw, data_format):
    """The same standard normal noise on both sides (Keras's torch.normal draws replaced)."""
    import torch

    x = _img((2, 10, 12, 3), 255.0)
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1).copy()
    noise = [RNG.normal(size=(2, 10, 12)).astype(np.float32) for _ in range(2)]
    queue = list(noise)
    monkeypatch.setattr(torch, "normal", lambda *a, **k: torch.from_numpy(queue.pop(0).copy()))
    ref = keras.ops.image.elastic_transform(x, data_format=data_format, **kw)
    got = image_transforms.elastic_with_noise(
        x, lambda _ops, B, H, W: noise, kw["alpha"], kw["sigma"], kw.get("interpolation", "bilinear"),
        kw.get("fill_mode", "reflect"), kw.get("fill_value", 0.0), data_format)
    _close(got, ref, 2e-2)


def test_elastic_transform_public_op():
    x = _img((2, 10, 12, 3))
    a = np.asarray(ops.image.elastic_transform(x, alpha=5.0, sigma=2.0, seed=3))
    b = np.asarray(ops.image.elastic_transform(x, alpha=5.0, sigma=2.0, seed=3))
    assert a.shape == x.shape and not np.allclose(a, x)
    np.testing.assert_array_equal(a, b)  # a seed fixes the draws
    np.testing.assert_allclose(np.asarray(ops.image.elastic_transform(x, alpha=0.0, seed=1)), x, atol=1e-6)
    assert np.asarray(ops.image.elastic_transform(x[0], alpha=5.0, sigma=2.0, seed=3)).shape == x.shape[1:]
    traced = _traced(lambda v: ops.image.elastic_transform(v, alpha=5.0, sigma=2.0, seed=3), x)
    assert traced.shape == x.shape and np.all(np.isfinite(traced)) and not np.allclose(traced, x)
    np.testing.assert_allclose(_traced(lambda v: ops.image.elastic_transform(v, alpha=0.0, seed=1), x), x,
                               atol=1e-6)
    with pytest.raises(ValueError, match="fill_mode"):
        ops.image.elastic_transform(x, fill_mode="edge")
    with pytest.raises(ValueError, match="interpolation"):
        ops.image.elastic_transform(x, interpolation="bicubic")


# ---- extract_patches_3d ----------------------------------------------------------------------

@pytest.mark.parametrize("shape,kw", [((2, 6, 6, 6, 2), dict(size=2)), ((6, 5, 7, 2), dict(size=(2, 3, 2))),
                                      ((2, 6, 6, 6, 2), dict(size=3, strides=2, padding="same")),
                                      ((2, 2, 6, 5, 4), dict(size=2, data_format="channels_first"))], ids=str)
def test_extract_patches_3d_matches_keras(keras, shape, kw):
    x = _img(shape)
    _close(ops.image.extract_patches_3d(x, **kw), keras.ops.image.extract_patches_3d(x, **kw))


def test_extract_patches_3d_traced_and_refusals():
    x = _img((2, 4, 4, 4, 2))
    fn = lambda v: ops.image.extract_patches_3d(v, 2)  # noqa: E731
    _close(_traced(fn, x), fn(x))
    with pytest.raises(TypeError, match="tuple of length 3"):
        ops.image.extract_patches_3d(x, (2, 2))
    with pytest.raises(ValueError, match="strides"):
        ops.image.extract_patches_3d(x, 2, strides=(1, 1))


# ---- scale_and_translate ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["linear", "bilinear", "cubic", "bicubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("case", ["up", "down"])
def test_scale_and_translate_matches_keras(keras, method, antialias, case):
    x = _img((2, 9, 8, 3), 10.0)
    if case == "up":
        out, scale, trans = (2, 14, 13, 3), np.array([14 / 9, 1.6], np.float32), np.array([0.5, -1.25], np.float32)
    else:
        out, scale, trans = (2, 4, 5, 3), np.array([0.45, 0.6], np.float32), np.array([0.2, 0.0], np.float32)
    args = (out, scale, trans, (1, 2), method, antialias)
    _close(ops.image.scale_and_translate(x, *args), keras.ops.image.scale_and_translate(x, *args), 1e-3)


def test_scale_and_translate_other_axes_and_integers(keras):
    x = RNG.integers(0, 200, size=(3, 7, 6)).astype(np.int32)
    args = ((5, 7, 6), np.array([1.7], np.float32), np.array([-0.3], np.float32), (0,), "cubic", True)
    got = ops.image.scale_and_translate(x, *args)
    assert str(got.dtype) == "int32"
    _close(got, keras.ops.image.scale_and_translate(x, *args))
    y = _img((2, 3, 8, 9))  # channels first, negative axes
    args = ((2, 3, 4, 12), np.array([0.5, 1.3], np.float32), np.array([0.0, 0.7], np.float32), (-2, -1), "linear")
    _close(ops.image.scale_and_translate(y, *args), keras.ops.image.scale_and_translate(y, *args))


def test_scale_and_translate_traced_and_refusals():
    x = _img((2, 9, 8, 3))
    fn = lambda v: ops.image.scale_and_translate(  # noqa: E731
        v, (2, 5, 12, 3), np.array([0.55, 1.5], np.float32), np.array([0.0, 0.25], np.float32), (1, 2), "bicubic")
    got = _traced(fn, x)
    assert got.shape == (2, 5, 12, 3)
    _close(got, fn(x))
    with pytest.raises(ValueError, match="method"):
        ops.image.scale_and_translate(x, (2, 5, 5, 3), [1.0, 1.0], [0.0, 0.0], (1, 2), "area")
    inp = bigcore.Input((2,))
    with pytest.raises(NotImplementedError, match="symbolic ones"):
        ops.image.scale_and_translate(x, (2, 5, 5, 3), inp, [0.0, 0.0], (1, 2), "linear")


def test_affine_transform_traced_with_a_transform_per_example():
    """The transform as a model input (batch, 8): one per example, traced."""
    x = _img((3, 6, 7, 2))
    t = np.array(AFFINE, np.float32)
    inp, tin = bigcore.Input((6, 7, 2)), bigcore.Input((8,))
    out = layers.Lambda(lambda v: ops.image.affine_transform(v[0], v[1], fill_mode="wrap"))([inp, tin])
    got = bigcore.Model([inp, tin], out).predict([x, t], verbose=0)
    _close(got, ops.image.affine_transform(x, t, fill_mode="wrap"))
