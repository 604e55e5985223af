"""keras.ops.image: extract_patches (and extract_patches_3d), resize, crop_images, pad_images,
rgb_to_grayscale, rgb_to_hsv, hsv_to_rgb; the resampling and filter ops (image_transforms.py,
image_filters.py) are re-exported here.

Composed from the primitives (strided slices, stack, reshape, transpose, pad) and the Resizing
layer's native resize, so that each runs at once on arrays and records nodes on symbolic tensors
(a custom layer's call(), such as a Vision Transformer's patch layer), gradients included.
Keras's rules: a rank-3 image is one unbatched image; data_format "channels_first" puts the
channels before the spatial axes (handled here by transposes around the channels-last work)."""

import itertools
import math

from bigcore.layers.image_color_augmentation import HSVConversion
from bigcore.layers.image_resizing import Resizing
from bigcore.ops import numpy as _np_ops
from bigcore.ops.core import shape as _shape
from bigcore.ops.image_filters import gaussian_blur, sobel_edges, ssim
from bigcore.ops.image_layout import _channels_last_batch, _ints, _restore, _result
from bigcore.ops.image_transforms import (affine_transform, elastic_transform, map_coordinates, perspective_transform,
                                         scale_and_translate)
from bigcore.ops.node import is_symbolic as _is_symbolic

__all__ = ["extract_patches", "extract_patches_3d", "resize", "crop_images", "pad_images", "rgb_to_grayscale",
           "rgb_to_hsv", "hsv_to_rgb", "affine_transform", "map_coordinates", "perspective_transform",
           "elastic_transform", "gaussian_blur", "sobel_edges", "ssim", "scale_and_translate"]


def _same_padding(length, k, stride, dilation):
    k_eff = (k - 1) * dilation + 1
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + k_eff - length)
    return total // 2, total - total // 2


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Keras's patches: each output position holds its (size) window flattened in (row, column[, depth],
    channel) order, the order of Keras's identity-kernel convolution. size of length 3: 3D patches."""
    was_array = not _is_symbolic([images])
    if not isinstance(size, int) and (not isinstance(size, (tuple, list)) or len(size) not in (2, 3)):
        raise ValueError(f"Invalid `size` argument. Expected an int or a tuple of length 2 or 3. Received: size={size!r}")
    n = 2 if isinstance(size, int) else len(size)
    size = _ints(size, n, "size")
    strides = size if not strides else _ints(strides, n, "strides")
    dil = _ints(dilation_rate, n, "dilation_rate")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
    if any(d > 1 for d in dil) and any(s > 1 for s in strides):
        raise ValueError("`dilation_rate > 1` is not supported with `strides > 1`. Received: "
                         f"strides={strides}, dilation_rate={dil}")
    x, unbatched, first = _channels_last_batch(images, n, data_format, "extract_patches")
    lengths = list(_shape(x))[1:n + 1]
    if padding == "same":
        pads = [_same_padding(L, k, s, d) for L, k, s, d in zip(lengths, size, strides, dil)]
        if any(p != (0, 0) for p in pads):
            x = _np_ops.pad(x, [(0, 0)] + pads + [(0, 0)])
            lengths = [L + a + b for L, (a, b) in zip(lengths, pads)]
    outs = [(L - ((k - 1) * d + 1)) // s + 1 for L, k, s, d in zip(lengths, size, strides, dil)]
    if any(o < 1 for o in outs):
        raise ValueError(f"extract_patches: patches of size {size} do not fit images of spatial size "
                         f"{tuple(lengths)}")
    channels = _shape(x)[-1]
    if tuple(strides) == tuple(size) and all(d == 1 for d in dil):
        # non-overlapping windows: one reshape and one transpose
        x = x[(slice(None),) + tuple(slice(0, o * k) for o, k in zip(outs, size))]
        split = [None] + [v for o, k in zip(outs, size) for v in (o, k)] + [channels]
        x = _np_ops.reshape(x, split)
        order = [0] + [1 + 2 * i for i in range(n)] + [2 + 2 * i for i in range(n)] + [2 * n + 1]
        x = _np_ops.transpose(x, order)
    else:  # one strided slice per window offset, stacked in the window's row-major order
        pieces = []
        for offset in itertools.product(*[range(k) for k in size]):
            sl = tuple(slice(o * d, o * d + (m - 1) * s + 1, s) for o, d, m, s in zip(offset, dil, outs, strides))
            pieces.append(x[(slice(None),) + sl])
        x = _np_ops.stack(pieces, axis=-2)
    x = _np_ops.reshape(x, [None] + outs + [channels * math.prod(size)])
    return _result(_restore(x, unbatched, first, n), was_array)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """extract_patches of volumes ((batch,) depth, height, width, channels): size an int or
    (depth, height, width) patch; each position holds its patch flattened (depth, row, column, channel)."""
    if isinstance(size, bool) or not (isinstance(size, int) or (isinstance(size, (tuple, list)) and len(size) == 3)):
        raise TypeError(f"Invalid `size` argument. Expected an int or a tuple of length 3. Received: size={size!r}")
    size = (size,) * 3 if isinstance(size, int) else tuple(size)
    if strides is not None and not isinstance(strides, int) and len(strides) != 3:
        raise ValueError(f"Invalid `strides` argument. Got: {strides}")
    return extract_patches(volumes, size, strides, dilation_rate, padding, data_format)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Images resized to size = (height, width): the Resizing layer's native resize (its
    interpolations; no antialiasing)."""
    was_array = not _is_symbolic([images])
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers. Received: size={size!r}")
    layer = Resizing(size[0], size[1], interpolation=interpolation, crop_to_aspect_ratio=crop_to_aspect_ratio,
                     pad_to_aspect_ratio=pad_to_aspect_ratio, fill_mode=fill_mode, fill_value=fill_value,
                     antialias=antialias)
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "resize")
    y = layer(x)
    return _result(_restore(y, unbatched, first, 2), was_array)


def _box(what, names, values):
    """Keras's rule for crop_images / pad_images: exactly two of (start, end, target) per axis."""
    if list(values).count(None) != 1:
        raise ValueError(f"{what}: must specify exactly two of {', '.join(names)}. Received: "
                         + ", ".join(f"{n}={v}" for n, v in zip(names, values)))
    for n, v in zip(names, values):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ValueError(f"{n} must be a non-negative int. Received: {n}={v!r}")
    return values


def _edges(images, data_format, what, word, top, bottom, height, left, right, width):
    """crop_images / pad_images's common start: the channels-last batch (with how to undo it), its
    height and width, and the checked (top, bottom, target height), (left, right, target width)."""
    x, unbatched, first = _channels_last_batch(images, 2, data_format, what)
    H, W = list(_shape(x))[1:3]
    rows = _box(what, (f"top_{word}", f"bottom_{word}", "target_height"), (top, bottom, height))
    cols = _box(what, (f"left_{word}", f"right_{word}", "target_width"), (left, right, width))
    return x, unbatched, first, H, W, rows, cols


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    was_array = not _is_symbolic([images])
    x, unbatched, first, H, W, (top, bottom, th), (left, right, tw) = _edges(
        images, data_format, "crop_images", "cropping", top_cropping, bottom_cropping, target_height, left_cropping,
        right_cropping, target_width)
    th = H - top - bottom if th is None else th
    tw = W - left - right if tw is None else tw
    top = H - bottom - th if top is None else top
    left = W - right - tw if left is None else left
    if th <= 0 or tw <= 0 or top + th > H or left + tw > W:
        raise ValueError(f"crop_images: the crop (top {top}, left {left}, {th} x {tw}) does not fit images of "
                         f"{H} x {W}")
    y = x[:, top:top + th, left:left + tw, :]
    return _result(_restore(y, unbatched, first, 2), was_array)


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    was_array = not _is_symbolic([images])
    x, unbatched, first, H, W, (top, bottom, th), (left, right, tw) = _edges(
        images, data_format, "pad_images", "padding", top_padding, bottom_padding, target_height, left_padding,
        right_padding, target_width)
    top = th - bottom - H if top is None else top
    bottom = th - top - H if bottom is None else bottom
    left = tw - right - W if left is None else left
    right = tw - left - W if right is None else right
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pad_images: the target size is smaller than the images ({H} x {W}) with the padding given")
    y = _np_ops.pad(x, [(0, 0), (top, bottom), (left, right), (0, 0)])
    return _result(_restore(y, unbatched, first, 2), was_array)


def rgb_to_grayscale(images, data_format=None):
    """0.2989 R + 0.587 G + 0.114 B (Keras's weights), keeping a channel axis of 1; grayscale
    images are returned as they are."""
    was_array = not _is_symbolic([images])
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "rgb_to_grayscale")
    c = _shape(x)[-1]
    if c not in (1, 3):
        raise ValueError(f"Invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received input with shape: "
                         f"images.shape={tuple(_shape(images))}")
    if c == 3:
        x = _np_ops.add(_np_ops.add(_np_ops.multiply(x[..., 0:1], 0.2989), _np_ops.multiply(x[..., 1:2], 0.587)),
                        _np_ops.multiply(x[..., 2:3], 0.114))
    return _result(_restore(x, unbatched, first, 2), was_array)


def _hsv(images, data_format, to_hsv):
    what = "rgb_to_hsv" if to_hsv else "hsv_to_rgb"
    was_array = not _is_symbolic([images])
    dtype = str(getattr(images, "dtype", "float32"))
    if "float" not in dtype:
        raise ValueError(f"Invalid images dtype: expected float dtype. Received: images.dtype={dtype}")
    x, unbatched, first = _channels_last_batch(images, 2, data_format, what)
    if _shape(x)[-1] != 3:
        raise ValueError(f"{what}: expected 3 channels. Received input with shape: "
                         f"images.shape={tuple(_shape(images))}")
    y = HSVConversion(to_hsv)(x)
    return _result(_restore(y, unbatched, first, 2), was_array)


def rgb_to_hsv(images, data_format=None):
    """Keras's (dm_pix's) HSV planes, native: hue and saturation in [0, 1] for non-negative input,
    value the largest channel; float input."""
    return _hsv(images, data_format, True)


def hsv_to_rgb(images, data_format=None):
    """The inverse of rgb_to_hsv (Keras's planes; the hue taken modulo 1), native."""
    return _hsv(images, data_format, False)
