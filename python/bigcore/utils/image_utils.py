"""Keras's image helpers (keras.utils / keras.preprocessing.image): load_img, img_to_array,
array_to_img, save_img and smart_resize. Files go through Pillow, as in Keras, an optional extra
(`pip install "bigcore[image]"`); smart_resize resizes with bigcore's native box resize."""

import io
import pathlib
import warnings

import numpy as np

from bigcore import config
from bigcore._native import _core
from bigcore.layers.image_resizing import crop_box

# what bigcore's native resize computes as Keras's ops.image.resize does (antialias=False)
RESIZE_INTERPOLATIONS = ("bilinear", "nearest")
# Pillow's filters by the names load_img takes
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image():
    """PIL.Image, or an ImportError naming the extra that installs Pillow."""
    try:
        from PIL import Image  # noqa: PLC0415  (optional: the image extra; nothing else needs Pillow)
    except ImportError:
        raise ImportError('Image files need Pillow: run `pip install "bigcore[image]"`') from None
    return Image


def standardize_data_format(data_format):
    if data_format is None:
        return config.image_data_format()
    data_format = str(data_format).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return data_format


def check_resize_interpolation(interpolation, known):
    """`interpolation` when bigcore resizes with it; a value Keras knows but bigcore does not
    compute is refused by name, as is any other."""
    if interpolation in RESIZE_INTERPOLATIONS:
        return interpolation
    if interpolation in known:
        raise ValueError(f"bigcore resizes images with {RESIZE_INTERPOLATIONS} only (as Keras's ops.image.resize "
                         f"computes them, without antialiasing). Received: interpolation={interpolation!r}")
    raise ValueError(f"Argument `interpolation` should be one of {known}. Received: interpolation={interpolation}")


def box_resize(images, size, box, interpolation):
    """(B, H, W, C) float32 images: the box (y0, x0, h, w) of each, reaching outside the image for a
    pad (zeros), resized to `size` as Keras's torch backend does."""
    return _core.image_box_resize(np.ascontiguousarray(images, np.float32), int(size[0]), int(size[1]),
                                  [int(b) for b in box], RESIZE_INTERPOLATIONS.index(interpolation), 0.0)


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3D array (H, W, C), or (C, H, W) channels first, as a PIL image: RGBA, RGB, L, or I (32-bit
    grayscale) when one channel goes above 255. scale maps the values' min..max to 0..255."""
    data_format = standardize_data_format(data_format)
    dtype = config.floatx() if dtype is None else dtype
    Image = pil_image()
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image (or anything NumPy reads as (H, W[, C])) as a 3D array, (H, W, C) or (C, H, W)."""
    data_format = standardize_data_format(data_format)
    dtype = config.floatx() if dtype is None else dtype
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1,) + x.shape if data_format == "channels_first" else x.shape + (1,))
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes the 3D array x as an image file (or to a file object, then file_format is needed);
    the format from the path's extension unless file_format; kwargs go to PIL's Image.save."""
    data_format = standardize_data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":  # Pillow's name for it
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def convert_mode(img, color_mode):
    """The PIL image in `color_mode`'s mode, as Keras converts it (16- and 32-bit grayscale kept)."""
    if color_mode == "grayscale":
        return img if img.mode in ("L", "I;16", "I") else img.convert("L")
    if color_mode == "rgba":
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if color_mode == "rgb":
        return img if img.mode == "RGB" else img.convert("RGB")
    raise ValueError(f'color_mode must be "grayscale", "rgb", or "rgba". Received: color_mode={color_mode!r}')


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """The image file at `path` (str, bytes, pathlib.Path or io.BytesIO) as a PIL image in
    color_mode, resized with Pillow's `interpolation` filter to target_size (height, width) when
    given; keep_aspect_ratio first crops the centred box of the target's aspect."""
    Image = pil_image()
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    img = convert_mode(img, color_mode)
    if target_size is None:
        return img
    width_height = (target_size[1], target_size[0])
    if img.size == width_height:
        return img
    if interpolation not in PIL_INTERPOLATIONS:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported methods are "
                         f"{', '.join(PIL_INTERPOLATIONS)}")
    resample = getattr(Image.Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    crop_h = min(height, (width * width_height[1]) // width_height[0])
    crop_w = min(width, (height * width_height[0]) // width_height[1])
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return img.resize(width_height, resample, box=[left, top, left + crop_w, top + crop_h])


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """x (H, W, C) or (B, H, W, C) (channels first: C before H, W) resized to `size` without
    distortion: the largest centred box of the target's aspect, then resized. A NumPy array of
    x's dtype comes back (integers rounded)."""
    if kwargs:
        raise TypeError(f"smart_resize() got unexpected keyword arguments: {list(kwargs.keys())}")
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    check_resize_interpolation(interpolation, ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"))
    data_format = standardize_data_format(data_format)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError("Expected an image array with shape `(height, width, channels)`, or `(batch_size, height, "
                         f"width, channels)`, but got input with incorrect rank, of shape {x.shape}.")
    images = x if x.ndim == 4 else x[None]
    if data_format == "channels_first":
        images = images.transpose(0, 2, 3, 1)
    box = crop_box(images.shape[1], images.shape[2], size[0], size[1])
    out = box_resize(images, size, box, interpolation)
    if data_format == "channels_first":
        out = out.transpose(0, 3, 1, 2)
    out = out if x.ndim == 4 else out[0]
    if x.dtype.kind in "iu":
        out = np.round(out)
    return out.astype(x.dtype) if x.dtype.kind in "iuf" else out
