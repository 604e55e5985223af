"""keras.ops.nn's rearrangements and psnr (also top-level keras.ops): space_to_depth, depth_to_space
(channels last or first, Keras's channel order), unfold / fold (torch's im2col / col2im on channels-first
4-D tensors), psnr. Composed from reshape, transpose, pad, strided slices, stack and adds, so each runs
eagerly on arrays and records nodes inside a traced call(), gradients included; the spatial sizes
(and the channels) must be known.
"""

import numpy as np

from bigcore.layers.base import KerasTensor
from bigcore.ops import numpy as _np
from bigcore.ops.node import is_symbolic, to_array


def _prepare(x, rank, what):
    """x as a symbolic tensor or a float32 array; its shape (batch None when symbolic)."""
    if not is_symbolic([x]):
        x = np.asarray(to_array(x), np.float32)
    shape = tuple(x.shape)
    if len(shape) != rank:
        raise ValueError(f"`{what}` requires a {rank}D input tensor. Received: x.shape={shape}")
    if any(not isinstance(n, (int, np.integer)) for n in shape[1:]):
        raise ValueError(f"{what}: every axis but the batch must be known. Received: x.shape={shape}")
    return x, shape


def _block(block_size, data_format, what):
    fmt = "channels_last" if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 2:
        raise ValueError(f"`block_size` must be at least 2. Received: block_size={block_size}")
    return int(block_size), fmt


def space_to_depth(x, block_size, data_format="channels_last"):
    """Keras's: (N, H*b, W*b, C) -> (N, H, W, C*b*b), channel (bh*b + bw)*C + c; channels_first:
    (N, C, H*b, W*b) -> (N, C*b*b, H, W), channel c*b*b + bh*b + bw."""
    b, fmt = _block(block_size, data_format, "space_to_depth")
    x, shape = _prepare(x, 4, "space_to_depth")
    h, w = (shape[1], shape[2]) if fmt == "channels_last" else (shape[2], shape[3])
    if h % b:
        raise ValueError(f"Height ({h}) must be divisible by block_size ({b}).")
    if w % b:
        raise ValueError(f"Width ({w}) must be divisible by block_size ({b}).")
    if fmt == "channels_last":
        c = shape[3]
        y = _np.transpose(_np.reshape(x, (-1, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return _np.reshape(y, (-1, h // b, w // b, c * b * b))
    c = shape[1]
    y = _np.transpose(_np.reshape(x, (-1, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return _np.reshape(y, (-1, c * b * b, h // b, w // b))


def depth_to_space(x, block_size, data_format="channels_last"):
    """Keras's (pixel shuffle), the inverse of space_to_depth."""
    b, fmt = _block(block_size, data_format, "depth_to_space")
    x, shape = _prepare(x, 4, "depth_to_space")
    c = shape[3] if fmt == "channels_last" else shape[1]
    if c % (b * b):
        raise ValueError(f"Channels ({c}) must be divisible by block_size**2 ({b * b}).")
    nc = c // (b * b)
    if fmt == "channels_last":
        h, w = shape[1], shape[2]
        y = _np.transpose(_np.reshape(x, (-1, h, w, b, b, nc)), (0, 1, 3, 2, 4, 5))
        return _np.reshape(y, (-1, h * b, w * b, nc))
    h, w = shape[2], shape[3]
    y = _np.transpose(_np.reshape(x, (-1, nc, b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return _np.reshape(y, (-1, nc, h * b, w * b))


def psnr(x1, x2, max_val):
    """Keras's: 20 log10(max_val) - 10 log10(mean((x1 - x2)^2)) over all elements (a scalar)."""
    s1, s2 = tuple(np.shape(x1) if not isinstance(x1, KerasTensor) else x1.shape), \
        tuple(np.shape(x2) if not isinstance(x2, KerasTensor) else x2.shape)
    if s1 != s2:
        raise ValueError(f"Input shapes {s1} and {s2} must match for PSNR calculation. ")
    if not is_symbolic([x1, x2]):
        x1, x2 = np.asarray(to_array(x1), np.float32), np.asarray(to_array(x2), np.float32)
    mse = _np.mean(_np.square(_np.subtract(x1, x2)))
    peak = _np.log10(max_val if is_symbolic([max_val]) else np.float32(to_array(max_val)))
    return _np.subtract(_np.multiply(20.0, peak), _np.multiply(10.0, _np.log10(mse)))


def _pair(v, what):
    t = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v)
    if len(t) != 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in t):
        raise ValueError(f"`{what}` must be an int or a tuple of two ints. Received: {v!r}")
    return int(t[0]), int(t[1])


def _geometry(size, kernel_size, dilation, padding, stride):
    k, d, p, s = (_pair(v, n) for v, n in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                           (padding, "padding"), (stride, "stride")))
    if min(k + d + s) < 1 or min(p) < 0:
        raise ValueError(f"kernel_size, dilation and stride must be positive, padding non-negative. Received: "
                         f"kernel_size={k}, dilation={d}, stride={s}, padding={p}")
    out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, kk, dd, pp, ss in zip(size, k, d, p, s))
    if min(out) < 1:
        raise ValueError(f"The sliding blocks do not fit: spatial size {tuple(size)} with padding {p} is smaller "
                         f"than the dilated kernel {tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))}")
    return k, d, p, s, out


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's (torch's im2col): x (N, C, H, W) -> (N, C*kH*kW, L), channel c*kH*kW + ki*kW + kj, block
    i*oW + j (row-major over the output positions)."""
    x, shape = _prepare(x, 4, "unfold")
    c, hw = shape[1], shape[2:]
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (oh, ow) = _geometry(hw, kernel_size, dilation, padding, stride)
    xp = _np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)]) if ph or pw else x
    blocks = [xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
              for i in range(kh) for j in range(kw)]
    return _np.reshape(_np.stack(blocks, axis=2), (-1, c * kh * kw, oh * ow))


def _spread(v, stride, length):
    """v (N, C, n, m) with stride-1 zeros between its values along axes 2 and 3: (N, C, length...)."""
    (sh, sw), (n, m) = stride, tuple(v.shape[2:])
    if sh > 1 or sw > 1:
        v = _np.expand_dims(_np.expand_dims(v, 3), 5)  # (N, C, n, 1, m, 1)
        v = _np.pad(v, [(0, 0), (0, 0), (0, 0), (0, sh - 1), (0, 0), (0, sw - 1)])
        v = _np.reshape(v, (-1, v.shape[1], n * sh, m * sw))[:, :, :length[0], :length[1]]
    return v


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's (torch's col2im): x (N, C*kH*kW, L) -> (N, C, oH, oW), each block added where unfold
    took it (overlaps sum); the adjoint of unfold."""
    x, shape = _prepare(x, 3, "fold")
    size = _pair(output_size, "output_size")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (oh, ow) = _geometry(size, kernel_size, dilation, padding, stride)
    if shape[1] % (kh * kw):
        raise ValueError(f"The second dimension of the input ({shape[1]}) must be divisible by kernel_size "
                         f"product ({kh * kw}).")
    if shape[2] != oh * ow:
        raise ValueError(f"fold: the input holds {shape[2]} blocks; output_size {size} with these kernel_size, "
                         f"dilation, padding and stride gives {oh} x {ow} = {oh * ow}")
    c = shape[1] // (kh * kw)
    hp, wp = size[0] + 2 * ph, size[1] + 2 * pw
    span = ((oh - 1) * sh + 1, (ow - 1) * sw + 1)
    xr = _np.reshape(x, (-1, c, kh * kw, oh, ow))
    total = None
    for i in range(kh):
        for j in range(kw):
            v = _spread(xr[:, :, i * kw + j], (sh, sw), span)
            top, left = i * dh, j * dw
            v = _np.pad(v, [(0, 0), (0, 0), (top, hp - top - span[0]), (left, wp - left - span[1])])
            total = v if total is None else _np.add(total, v)
    return total[:, :, ph:ph + size[0], pw:pw + size[1]] if ph or pw else total
