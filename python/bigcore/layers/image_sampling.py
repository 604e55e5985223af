"""Resampling pieces shared by the image augmentation layers and bigcore.ops.image: Keras's
map_coordinates taps (order 0 or 1), its index fixers (fill modes), a 2-D gather-and-blend over a
channels-last batch, and the zero-padded shifted windows that separable filters sum.

Every function takes `ops` (bigcore.ops) and composes its functions, so the same code runs at
once on arrays and records nodes on symbolic tensors (a layer's traced call or a model's graph)."""

AFFINE_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def taps(ops, coord, nearest):
    """(index, weight) pairs on one axis, indices as floats: nearest rounds half to even (torch.round,
    as Keras's torch backend), linear takes floor and floor + 1."""
    if nearest:
        return [(ops.round(coord), 1.0)]
    lo = ops.floor(coord)
    w1 = coord - lo
    return [(lo, 1.0 - w1), (lo + 1.0, w1)]


def fix_index(ops, i, n, fill_mode):
    """Keras's index fixers on whole-number float indices into a length n:
    reflect (d c b a | a b c d | d c b a), mirror (c d c b | a b c d | c b a b), wrap, else clip."""
    n = float(n)
    if fill_mode == "reflect":
        j = i - (2.0 * n) * ops.floor(i / (2.0 * n))
        return ops.where(j < n, j, 2.0 * n - 1.0 - j)
    if fill_mode == "mirror":
        if n == 1.0:  # one sample: every index is it
            return i * 0.0
        s = n - 1.0
        j = i - (2.0 * s) * ops.floor(i / (2.0 * s))
        return ops.where(j <= s, j, 2.0 * s - j)
    if fill_mode == "wrap":
        return i - n * ops.floor(i / n)
    return ops.clip(i, 0.0, n - 1.0)


def inside(ops, i, n):
    return ops.logical_and(i >= 0.0, i <= float(n) - 1.0)


def sample_2d(ops, x, rows, cols, H, W, C, nearest, fill_mode, fill_value):
    """map_coordinates of each (H, W, C) image of the batch x at (rows, cols): float tensors of
    shape (batch or 1, H, W, 1), or (batch or 1, H, W, C) for a coordinate per channel. Keras's taps
    and fixers; for "constant", fill_value where a tap falls outside."""
    flat = ops.reshape(x, (-1, H * W, C))
    out = None
    for r, wr in taps(ops, rows, nearest):
        for c, wc in taps(ops, cols, nearest):
            idx = fix_index(ops, r, H, fill_mode) * float(W) + fix_index(ops, c, W, fill_mode)
            k = idx.shape[-1]
            # the gather takes one index row per image: a transform shared by the batch is broadcast
            idx = idx + ops.zeros_like(x[..., :k])
            idx = ops.cast(ops.reshape(idx, (-1, H * W, k)), "int32")
            v = ops.reshape(ops.take_along_axis(flat, idx, axis=1), (-1, H, W, C))
            if fill_mode == "constant":
                v = ops.where(ops.logical_and(inside(ops, r, H), inside(ops, c, W)), v, float(fill_value))
            term = v if nearest else (wr * wc) * v
            out = term if out is None else out + term
    return out


def shifted(xp, axis, offset, length):
    """The window [offset, offset + length) of padded images along axis 1 (rows) or 2 (columns)."""
    return xp[:, offset:offset + length] if axis == 1 else xp[:, :, offset:offset + length]


def zero_pad(ops, x, axis, before, after=None):
    widths = [[0, 0] for _ in range(len(x.shape))]
    widths[axis] = [before, before if after is None else after]
    return ops.pad(x, widths)


def filter_axis(ops, x, weights, axis, length, pad_before, pad_after=None):
    """sum_k weights[k] * x shifted by k - pad_before along axis (1 or 2), zero padding: a 1-D
    cross-correlation (the 'same' one when the pads are (k - 1) / 2, 'valid' with no pad)."""
    xp = zero_pad(ops, x, axis, pad_before, pad_after) if (pad_before or pad_after) else x
    acc = None
    for k, w in enumerate(weights):
        if isinstance(w, float) and w == 0.0:
            continue
        term = w * shifted(xp, axis, k, length)
        acc = term if acc is None else acc + term
    return acc
