"""keras.ops.image's filters: gaussian_blur, sobel_edges, ssim. Separable sums of shifted,
zero-padded windows (layers/image_sampling.filter_axis, the augmentation layers' blur), so each
runs at once on arrays and records nodes on symbolic tensors."""

import numpy as np

from bigcore.layers import base as _base
from bigcore.layers.image_sampling import filter_axis
from bigcore.ops.core import shape as _shape
from bigcore.ops.image_layout import _channels_last_batch, _format, _restore, _result
from bigcore.ops.image_transforms import _finish, _images, blur_same, gaussian_kernel_1d
from bigcore.ops.node import is_symbolic as _is_symbolic


def _pair(value, name, kind):
    vals = list(value) if isinstance(value, (tuple, list, np.ndarray)) else [value, value]
    if len(vals) != 2 or not all(isinstance(v, kind) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"`{name}` must be a tuple of two {'integers' if kind is int else 'numbers'}. "
                         f"Received: {name}={value!r}")
    return vals


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Each channel convolved with Keras's Gaussian, zero padding, same size out. As Keras's
    backends, rows take sigma[1] and columns sigma[0]. Odd, equal kernel sizes (Keras's torch
    backend pads both axes by kernel_size[0] // 2, which changes the shape otherwise)."""
    ks = _pair(kernel_size, "kernel_size", (int, np.integer))
    sig = _pair(sigma, "sigma", (int, float, np.integer, np.floating))
    if ks[0] != ks[1] or ks[0] < 1 or ks[0] % 2 == 0:
        raise NotImplementedError(f"gaussian_blur: kernel sizes must be odd and equal (Keras's torch backend "
                                  f"changes the image size otherwise). Received: kernel_size={kernel_size!r}")
    if min(sig) <= 0:
        raise ValueError(f"`sigma` must be positive. Received: sigma={sigma!r}")
    was_array = not _is_symbolic([images])
    images, dtype = _images(images, "gaussian_blur")
    ops = _base._ops()
    x, unbatched, first = _channels_last_batch(images, 2, data_format, "gaussian_blur")
    H, W = list(_shape(x))[1:3]
    y = blur_same(ops, ops.cast(x, "float32"), int(ks[0]), float(sig[1]), float(sig[0]), H, W)
    return _result(_restore(_finish(ops, y, dtype), unbatched, first, 2), was_array)


def sobel_edges(images, data_format=None):
    """The Sobel responses of each channel (3 x 3 kernels, zero padding), stacked last as
    (vertical, horizontal): (batch, H, W, C, 2), or (batch, C, H, W, 2) channels first."""
    was_array = not _is_symbolic([images])
    rank = len(_shape(images))
    if rank != 4:
        raise ValueError(f"Invalid images rank: expected rank 4 (batch of images). Received: "
                         f"images.shape={list(_shape(images))}")
    images, dtype = _images(images, "sobel_edges")
    ops = _base._ops()
    x, _, first = _channels_last_batch(images, 2, data_format, "sobel_edges")
    H, W = list(_shape(x))[1:3]
    x = ops.cast(x, "float32")
    diff, smooth = [-1.0, 0.0, 1.0], [1.0, 2.0, 1.0]
    gy = filter_axis(ops, filter_axis(ops, x, diff, 1, H, 1), smooth, 2, W, 1)
    gx = filter_axis(ops, filter_axis(ops, x, smooth, 1, H, 1), diff, 2, W, 1)
    y = ops.stack([gy, gx], axis=-1)
    if first:
        y = ops.transpose(y, [0, 3, 1, 2, 4])
    return _result(_finish(ops, y, dtype) if "float" in dtype else ops.cast(y, dtype), was_array)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """Keras's structural similarity: local means, variances and covariance under a filter_size
    Gaussian window ('valid' positions only), the SSIM map averaged over positions and channels:
    one number per image (a scalar for unbatched images)."""
    for name, img in (("image1", image1), ("image2", image2)):
        if len(_shape(img)) not in (3, 4):
            raise ValueError(f"Invalid {name} rank: expected rank 3 (single image) or rank 4 (batch of images). "
                             f"Received input with shape: {name}.shape={tuple(_shape(img))}")
    if not isinstance(filter_size, (int, np.integer)) or isinstance(filter_size, bool) or filter_size < 1:
        raise ValueError(f"`filter_size` must be a positive integer. Received: filter_size={filter_size!r}")
    was_array = not _is_symbolic([image1, image2])
    image1, dtype = _images(image1, "ssim")
    image2, _ = _images(image2, "ssim")
    ops = _base._ops()
    _format(data_format)
    a, unbatched, _ = _channels_last_batch(image1, 2, data_format, "ssim")
    b, _, _ = _channels_last_batch(image2, 2, data_format, "ssim")
    H, W = list(_shape(a))[1:3]
    if filter_size > min(H, W):
        raise ValueError(f"ssim: filter_size {filter_size} is larger than the images ({H} x {W}): no valid "
                         f"window position")
    a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
    g = gaussian_kernel_1d(filter_size, filter_sigma)
    oh, ow = H - filter_size + 1, W - filter_size + 1

    def window_mean(v):
        return filter_axis(ops, filter_axis(ops, v, g, 1, oh, 0), g, 2, ow, 0)

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = window_mean(a), window_mean(b)
    s11 = window_mean(a * a) - mu1 * mu1
    s22 = window_mean(b * b) - mu2 * mu2
    s12 = window_mean(a * b) - mu1 * mu2
    smap = ((2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
    out = ops.mean(smap, axis=[1, 2, 3])
    if unbatched:
        out = ops.squeeze(out, 0)
    return _result(out if "float" in dtype else ops.cast(out, dtype), was_array)
