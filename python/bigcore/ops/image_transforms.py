"""keras.ops.image's resampling ops: map_coordinates, affine_transform, perspective_transform,
elastic_transform. Composed from bigcore.ops (gathers, floors, wheres) through the shared
resampling pieces of the augmentation layers (layers/image_sampling.py), so each runs at once on
arrays and records nodes on symbolic tensors. Keras's torch backend defines the numbers: its taps
(nearest rounds half to even), its index fixers, and its quirks where they are part of the
result (affine_transform's projective terms multiply the channel index, as Keras's einsum does)."""

import numpy as np

from bigcore.layers import base as _base
from bigcore.layers.image_sampling import AFFINE_FILL_MODES, fix_index, filter_axis, inside, sample_2d, taps
from bigcore.ops.core import convert_to_tensor as _convert
from bigcore.ops.core import shape as _shape
from bigcore.ops.image_layout import _channels_last_batch, _format, _restore, _result
from bigcore.ops.node import is_symbolic as _is_symbolic

INTERPOLATIONS = {"nearest": 0, "bilinear": 1}


def _check_interpolation(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Invalid value for argument `interpolation`. Expected of one {set(INTERPOLATIONS)}. "
                         f"Received: interpolation={interpolation}")


def _check_fill_mode(fill_mode):
    if fill_mode not in AFFINE_FILL_MODES:
        raise ValueError(f"Invalid value for argument `fill_mode`. Expected of one {set(AFFINE_FILL_MODES)}. "
                         f"Received: fill_mode={fill_mode}")


def _check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")


def _dtype(x):
    return str(getattr(x, "dtype", "float32"))


def _finish(ops, y, dtype):
    """Keras's result dtype: the input's; integer input rounded first."""
    if "float" in dtype:
        return y
    return ops.cast(ops.round(y), dtype)


def _check_rank(x, name, rank, one, many):
    """x has rank `rank` (one `one`) or rank + 1 (a batch of `many`), else Keras's ValueError."""
    if len(_shape(x)) not in (rank, rank + 1):
        raise ValueError(f"Invalid {name} rank: expected rank {rank} (single {one}) or rank {rank + 1} (batch of "
                         f"{many}). Received input with shape: {name}.shape={tuple(_shape(x))}")


def _images(images, what):
    """The checked images (converted when arrays), their float32 working copy and dtype."""
    if not _is_symbolic([images]):
        images = _convert(images)
    _check_rank(images, "images", 3, "image", "images")
    return images, _dtype(images)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """inputs (any rank) evaluated at coordinates (rank(inputs), ...): order 0 (nearest)
    or 1 (linear), points outside placed by fill_mode. The result has coordinates.shape[1:] and
    inputs' dtype."""
    if _is_symbolic([inputs, coordinates] + (list(coordinates) if isinstance(coordinates, (list, tuple)) else [])):
        # a gather over the whole input, batch axis included, gives a result without the batch axis
        # first; a bigcore program keeps each example apart, so this op cannot be one of its nodes
        raise ValueError("map_coordinates: the gather reads across the whole input, batch axis included, so it "
                         "runs on arrays only, not on symbolic tensors (a model's inputs or a traced call()); "
                         "affine_transform, perspective_transform and elastic_transform resample per image")
    was_array = True
    if not _is_symbolic([inputs]):
        inputs = _convert(inputs)
    if isinstance(coordinates, (list, tuple)):
        coords = [c if _is_symbolic([c]) else _convert(c) for c in coordinates]
    else:
        coordinates = coordinates if _is_symbolic([coordinates]) else _convert(coordinates)
        cshape = tuple(_shape(coordinates))
        if len(cshape) < 2:
            raise ValueError(f"Invalid coordinates rank: expected at least rank 2. Received input with shape: "
                             f"{cshape}")
        coords = [coordinates[i] for i in range(cshape[0]) if isinstance(cshape[0], int)]
    sizes = tuple(_shape(inputs))
    if len(coords) != len(sizes):
        raise ValueError("First dim of `coordinates` must be the same as the rank of `inputs`. Received inputs "
                         f"with shape: {sizes} and coordinate leading dim of {len(coords)}")
    if any(len(_shape(c)) < 1 for c in coords):
        raise ValueError("Invalid coordinates rank: expected at least rank 2. Received input with shape: "
                         f"{(len(coords),) + tuple(_shape(coords[0]))}")
    _check_fill_mode(fill_mode)
    if order not in (0, 1):
        raise NotImplementedError(f"map_coordinates currently requires order<=1. Received: order={order!r}")
    _check_number(fill_value, "fill_value")
    ops = _base._ops()
    dtype = _dtype(inputs)
    flat = ops.reshape(ops.cast(inputs, "float32"), [-1])
    strides = [int(np.prod(sizes[k + 1:])) for k in range(len(sizes))]
    per_axis = [taps(ops, ops.cast(c, "float32"), order == 0) for c in coords]
    out = None
    for combo in _product(per_axis):
        idx, ok, weight = None, None, None
        for (i, w), n, stride in zip(combo, sizes, strides):
            part = fix_index(ops, i, n, fill_mode) * float(stride)
            idx = part if idx is None else idx + part
            if fill_mode == "constant":
                good = inside(ops, i, n)
                ok = good if ok is None else ops.logical_and(ok, good)
            if order == 1:
                weight = w if weight is None else weight * w
        v = ops.take(flat, ops.cast(idx, "int32"))
        if ok is not None:
            v = ops.where(ok, v, float(fill_value))
        term = v if weight is None else weight * v
        out = term if out is None else out + term
    return _result(_finish(ops, out, dtype), was_array)


def _product(lists):
    combos = [[]]
    for options in lists:
        combos = [c + [o] for c in combos for o in options]
    return combos


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Each image resampled at the input point the transform [a0, a1, a2, b0, b1, b2, c0, c1] maps its
    output pixel to: x_in = a0 x + a1 y + a2, y_in = b0 x + b1 y + b2 (Keras's torch backend adds c0
    and c1 times the channel index, no projective division). One transform (8,) for all images or
    one per image (batch, 8)."""
    _check_interpolation(interpolation)
    _check_fill_mode(fill_mode)
    _check_number(fill_value, "fill_value")
    was_array = not _is_symbolic([images, transform])
    images, dtype = _images(images, "affine_transform")
    if not _is_symbolic([transform]):
        transform = _convert(transform)
    _check_rank(transform, "transform", 1, "transform", "transforms")
    if _shape(transform)[-1] != 8:
        raise ValueError(f"affine_transform: a transform has 8 numbers. Received: "
                         f"transform.shape={tuple(_shape(transform))}")
    ops = _base._ops()
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "affine_transform")
    H, W, C = list(_shape(x))[1:]
    x = ops.cast(x, "float32")
    t = ops.reshape(ops.cast(transform, "float32"), (-1, 8))
    a0, a1, a2, b0, b1, b2, c0, c1 = (ops.reshape(t[:, k], (-1, 1, 1, 1)) for k in range(8))
    gy = np.arange(H, dtype=np.float32).reshape(1, H, 1, 1)
    gx = np.arange(W, dtype=np.float32).reshape(1, 1, W, 1)
    ch = np.arange(C, dtype=np.float32).reshape(1, 1, 1, C)
    rows = b0 * gx + b1 * gy + b2 + c0 * ch
    cols = a0 * gx + a1 * gy + a2 + c1 * ch
    y = sample_2d(ops, x, rows, cols, H, W, C, interpolation == "nearest", fill_mode, fill_value)
    return _result(_restore(_finish(ops, y, dtype), unbatched, first, 2), was_array)


def _homography(start, end):
    """Keras's (a0 .. a7) taking each output point (end) to its input point (start), per batch row:
    the 8 x 8 system of the four point pairs, solved in float32 as Keras's (a pixel on a rounding
    edge then falls where Keras's does)."""
    s, e = np.asarray(start, np.float32), np.asarray(end, np.float32)
    rows, rhs = [], []
    for k in range(4):
        ex, ey, sx, sy = e[:, k, 0], e[:, k, 1], s[:, k, 0], s[:, k, 1]
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows += [np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1),
                 np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1)]
        rhs += [sx, sy]
    return np.linalg.solve(np.stack(rows, 1), np.stack(rhs, -1)[..., None])[..., 0]


def _points(points, name):
    if _is_symbolic([points]):
        raise NotImplementedError(f"perspective_transform: `{name}` must be an array (the homography is solved "
                                  f"when the op is built); symbolic points are not supported.")
    p = np.asarray(points, dtype=np.float32)
    if p.shape[-2:] != (4, 2) or p.ndim not in (2, 3):
        raise ValueError(f"Invalid {name} shape: expected (4,2) for a single image or (N,4,2) for a batch. "
                         f"Received shape: {p.shape}")
    return p.reshape(-1, 4, 2)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """Each image warped by the homography taking end_points (output corners, (x, y)) to
    start_points (input corners); bilinear or nearest, fill_value outside. The points are arrays:
    (4, 2) for every image or (batch, 4, 2)."""
    _check_interpolation(interpolation)
    _check_number(fill_value, "fill_value")
    was_array = not _is_symbolic([images])
    images, dtype = _images(images, "perspective_transform")
    start, end = _points(start_points, "start_points"), _points(end_points, "end_points")
    if np.shape(start_points) != np.shape(end_points):
        raise ValueError(f"start_points and end_points must have the same shape. Received start_points.shape="
                         f"{np.shape(start_points)}, end_points.shape={np.shape(end_points)}")
    ops = _base._ops()
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "perspective_transform")
    H, W, C = list(_shape(x))[1:]
    x = ops.cast(x, "float32")
    h = _homography(start, end).reshape(-1, 8, 1, 1, 1)
    gy = np.arange(H, dtype=np.float32).reshape(1, H, 1, 1)
    gx = np.arange(W, dtype=np.float32).reshape(1, 1, W, 1)
    d = h[:, 6] * gx + h[:, 7] * gy + 1.0
    cols = (h[:, 0] * gx + h[:, 1] * gy + h[:, 2]) / d
    rows = (h[:, 3] * gx + h[:, 4] * gy + h[:, 5]) / d
    y = sample_2d(ops, x, rows, cols, H, W, C, interpolation == "nearest", "constant", fill_value)
    return _result(_restore(_finish(ops, y, dtype), unbatched, first, 2), was_array)


def gaussian_kernel_1d(size, sigma):
    """Keras's normalized taps exp(-0.5 ((k - (size - 1) / 2) / sigma)^2), k < size."""
    k = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (k / float(sigma)) ** 2)
    return [float(v) for v in (g / g.sum()).astype(np.float32)]


def blur_same(ops, x, size, sigma_h, sigma_w, H, W):
    """A channels-last batch convolved with Keras's Gaussian (size taps, odd), zero 'same' padding:
    separable, columns then rows."""
    r = size // 2
    x = filter_axis(ops, x, gaussian_kernel_1d(size, sigma_w), 2, W, r)
    return filter_axis(ops, x, gaussian_kernel_1d(size, sigma_h), 1, H, r)


def elastic_with_noise(images, noise, alpha, sigma, interpolation, fill_mode, fill_value, data_format):
    """elastic_transform with its standard normal noise from noise(ops, batch, H, W) -> (dx, dy),
    each (batch, H, W) (a test's hook: the public op draws them with bigcore.random)."""
    was_array = not _is_symbolic([images])
    images, dtype = _images(images, "elastic_transform")
    ops = _base._ops()
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "elastic_transform")
    H, W, C = list(_shape(x))[1:]
    x = ops.cast(x, "float32")
    size = int(6 * sigma) | 1
    dx, dy = (blur_same(ops, ops.reshape(ops.cast(n, "float32"), (-1, H, W, 1)) * float(sigma), size, sigma,
                        sigma, H, W)
              for n in noise(ops, ops.shape(x)[0], H, W))
    gy = np.arange(H, dtype=np.float32).reshape(1, H, 1, 1)
    gx = np.arange(W, dtype=np.float32).reshape(1, 1, W, 1)
    y = sample_2d(ops, x, gy + float(alpha) * dy, gx + float(alpha) * dx, H, W, C, interpolation == "nearest",
                  fill_mode, fill_value)
    return _result(_restore(_finish(ops, y, dtype), unbatched, first, 2), was_array)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                      seed=None, data_format=None):
    """Each image resampled at (y + alpha dy, x + alpha dx), dx and dy standard normal noise times
    sigma blurred by Keras's Gaussian (int(6 sigma) | 1 taps, sigma both ways, zero padding). The
    noise is bigcore's (bigcore.random.normal with seed; on symbolic tensors a node of the program),
    so the values differ from Keras's draws; alpha and sigma are numbers."""
    _check_interpolation(interpolation)
    _check_fill_mode(fill_mode)
    _check_number(alpha, "alpha")
    _check_number(sigma, "sigma")
    _check_number(fill_value, "fill_value")
    if sigma <= 0:
        raise ValueError(f"elastic_transform: `sigma` must be positive. Received: sigma={sigma!r}")

    def noise(ops, B, H, W):
        second = seed + 1 if isinstance(seed, int) and not isinstance(seed, bool) else seed
        return ops.random.normal((B, H, W), seed=seed), ops.random.normal((B, H, W), seed=second)

    return elastic_with_noise(images, noise, alpha, sigma, interpolation, fill_mode, fill_value, data_format)


SCALE_AND_TRANSLATE_METHODS = ("linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic", "lanczos3",
                               "lanczos5")


def _kernel_values(method, x):
    """JAX's (and Keras's) resampling kernels at distances x >= 0."""
    if method == "linear":
        return np.maximum(0.0, 1.0 - x)
    if method == "cubic":  # Keys, a = -0.5
        near = ((1.5 * x - 2.5) * x) * x + 1.0
        far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
        return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))
    radius = 3.0 if method == "lanczos3" else 5.0
    with np.errstate(divide="ignore", invalid="ignore"):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / np.where(x != 0, np.pi ** 2 * x ** 2, 1.0)
    return np.where(x > radius, 0.0, np.where(x > 1e-3, y, 1.0))


def _weight_matrix(m, n, scale, translation, method, antialias):
    """(m, n): how much input sample i gives output sample j; columns summing to 1, zero where the
    output sample's centre maps outside the input (or the weights nearly cancel)."""
    scale, translation = np.float32(scale), np.float32(translation)
    inv = np.float32(1.0) / scale
    widen = max(inv, np.float32(1.0)) if antialias else np.float32(1.0)
    centre = (np.arange(n, dtype=np.float32) + 0.5) * inv - translation * inv - 0.5
    w = _kernel_values(method, np.abs(centre[None, :] - np.arange(m, dtype=np.float32)[:, None]) / widen)
    w = w.astype(np.float32)
    total = w.sum(0, keepdims=True)
    w = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps, w / np.where(total != 0, total, 1.0), 0.0)
    return np.where(((centre >= -0.5) & (centre <= m - 0.5))[None, :], w, 0.0).astype(np.float32)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """JAX's scale_and_translate: along each of spatial_dims, output sample j reads the input around
    (j + 0.5 - translation) / scale - 0.5 through method's kernel (widened by 1 / scale when shrinking
    and antialias). scale and translation are arrays or numbers (one per spatial dim): the weights
    are fixed matrices, so symbolic images trace into matmuls."""
    if method not in SCALE_AND_TRANSLATE_METHODS:
        raise ValueError(f"Invalid value for argument `method`. Expected of one {set(SCALE_AND_TRANSLATE_METHODS)}. "
                         f"Received: method={method}")
    if _is_symbolic([scale, translation]):
        raise NotImplementedError("scale_and_translate: `scale` and `translation` must be arrays or numbers (the "
                                  "weight matrices are built when the op is); symbolic ones are not supported.")
    kind = "linear" if "linear" in method else "cubic" if "cubic" in method else method
    was_array = not _is_symbolic([images])
    if was_array:
        images = _convert(images)
    shape = list(_shape(images))
    rank = len(shape)
    dims = [int(d) % rank for d in spatial_dims]
    scale = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1), (len(dims),))
    translation = np.broadcast_to(np.asarray(translation, np.float32).reshape(-1), (len(dims),))
    if len(output_shape) != rank:
        raise ValueError(f"scale_and_translate: `output_shape` has one size per axis of images. Received: "
                         f"output_shape={tuple(output_shape)}, images.shape={tuple(shape)}")
    for d in dims:
        if not isinstance(shape[d], int):
            raise ValueError(f"scale_and_translate: spatial axis {d} of images must have a known size. Received: "
                             f"images.shape={tuple(shape)}")
    ops = _base._ops()
    dtype = _dtype(images)
    out = ops.cast(images, "float32")
    for d, s, t in zip(dims, scale, translation):
        w = _weight_matrix(shape[d], int(output_shape[d]), s, t, kind, antialias)
        out = ops.moveaxis(ops.matmul(ops.moveaxis(out, d, -1), w), -1, d)
    if "float" not in dtype and dims:
        out = ops.cast(ops.clip(ops.round(out), ops.min(images), ops.max(images)), dtype)
    return _result(out, was_array)
