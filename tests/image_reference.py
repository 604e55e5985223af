"""NumPy (float64) references of Keras's image transforms, channels last: affine_transform's
sampling (map_coordinates, order 0/1, the four fill modes) and resize on a crop or pad box
(torch's F.interpolate: bilinear half-pixel, nearest-exact). Written from the definitions, not
from bigcore's kernels: reflect is the half-sample symmetric extension (d c b a | a b c d | d c b a).
"""

import numpy as np


def fix_index(i, n, fill):
    if fill == "reflect":
        j = np.mod(i, 2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    if fill == "wrap":
        return np.mod(i, n)
    return np.clip(i, 0, n - 1)


def _nodes(coord, interp):
    if interp == "nearest":
        return [(np.round(coord).astype(np.int64), np.ones_like(coord))]  # half to even, as torch.round
    lo = np.floor(coord)
    return [(lo.astype(np.int64), 1.0 - (coord - lo)), (lo.astype(np.int64) + 1, coord - lo)]


def affine(x, mats, interp="bilinear", fill="reflect", fill_value=0.0):
    """x (B, H, W, C); mats (B, 6) = (a0, a1, a2, b0, b1, b2): output (i, j) reads row b0 j + b1 i + b2,
    column a0 j + a1 i + a2."""
    x = np.asarray(x, np.float64)
    B, H, W, C = x.shape
    ii, jj = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    out = np.zeros_like(x)
    for b in range(B):
        a0, a1, a2, b0, b1, b2 = np.asarray(mats[b], np.float64)
        rows, cols = b0 * jj + b1 * ii + b2, a0 * jj + a1 * ii + a2
        for ri, wr in _nodes(rows, interp):
            for ci, wc in _nodes(cols, interp):
                v = x[b][fix_index(ri, H, fill), fix_index(ci, W, fill)]
                if fill == "constant":
                    ok = (ri >= 0) & (ri < H) & (ci >= 0) & (ci < W)
                    v = np.where(ok[..., None], v, fill_value)
                out[b] += (wr * wc)[..., None] * v
    return out


def rotation_matrix(turns, H, W):
    t = np.deg2rad(turns * 360.0)
    cx, cy = 0.5 * (W - 1), 0.5 * (H - 1)
    a0, a1, b0, b1 = np.cos(t), -np.sin(t), np.sin(t), np.cos(t)
    return [a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1]


def zoom_matrix(zh, zw, H, W):
    return [zw, 0.0, (W - 1) / 2 * (1 - zw), 0.0, zh, (H - 1) / 2 * (1 - zh)]


def translation_matrix(dy, dx):
    return [1.0, 0.0, -dx, 0.0, 1.0, -dy]


def _taps(n_in, n_out, interp):
    o = np.arange(n_out, dtype=np.float64)
    scale = n_in / n_out
    if interp == "nearest":
        i = np.minimum(np.floor((o + 0.5) * scale), n_in - 1).astype(np.int64)
        return i, i, np.ones(n_out), np.zeros(n_out)
    s = np.maximum(scale * (o + 0.5) - 0.5, 0.0)
    i0 = np.floor(s).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = s - i0
    return i0, i1, 1.0 - w1, w1


def resize(x, oh, ow, box=None, interp="bilinear", fill_value=0.0):
    """The box (y0, x0, bh, bw) of each image (a pad where it leaves the image: fill_value) resized to (oh, ow)."""
    x = np.asarray(x, np.float64)
    B, H, W, C = x.shape
    y0, x0, bh, bw = box if box is not None else (0, 0, H, W)
    src = np.full((B, bh, bw, C), float(fill_value))
    r0, r1, c0, c1 = max(0, y0), min(H, y0 + bh), max(0, x0), min(W, x0 + bw)
    src[:, r0 - y0:r1 - y0, c0 - x0:c1 - x0] = x[:, r0:r1, c0:c1]
    ra, rb, wa, wb = _taps(bh, oh, interp)
    ca, cb, va, vb = _taps(bw, ow, interp)

    def at(r, c):
        return src[:, r][:, :, c]

    wa, wb = wa[None, :, None, None], wb[None, :, None, None]
    va, vb = va[None, None, :, None], vb[None, None, :, None]
    return wa * (va * at(ra, ca) + vb * at(ra, cb)) + wb * (va * at(rb, ca) + vb * at(rb, cb))


# --------------------------------------------------------------------------- colour (float64)
# Written from the textbook definitions (Python's colorsys: the hue sector of the largest channel,
# red first on ties); Keras's value-range maps and per-layer formulas as its docs state them.


def rgb_to_hsv(x):
    x = np.asarray(x, np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    c = v - x.min(-1)
    safe = np.where(c > 0, c, 1.0)
    rc, gc, bc = (v - r) / safe, (v - g) / safe, (v - b) / safe
    h = np.where(r == v, bc - gc, np.where(g == v, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(c > 0, np.mod(h / 6.0, 1.0), 0.0)
    s = np.where(v > 0, c / np.where(v > 0, v, 1.0), 0.0)
    return np.stack([h, s, v], -1)


def hsv_to_rgb(x):
    x = np.asarray(x, np.float64)
    h, s, v = np.mod(x[..., 0], 1.0), x[..., 1], x[..., 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int64) % 6
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(x.shape)
    for k, rgb in enumerate(table):
        for ch in range(3):
            out[..., ch] = np.where(i == k, rgb[ch], out[..., ch])
    return out


def to_range(x, src, dst):
    return (np.asarray(x, np.float64) - src[0]) / (src[1] - src[0]) * (dst[1] - dst[0]) + dst[0]


def gray(x):
    x = np.asarray(x, np.float64)
    return (0.2989 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]


def per_image(q):
    return np.asarray(q, np.float64).reshape(-1, 1, 1, 1)


def grayscale(x, apply):
    g = gray(x) if x.shape[-1] == 3 else np.asarray(x, np.float64)
    return np.where(per_image(apply) != 0, np.broadcast_to(g, x.shape), x).astype(np.float64)


def invert(x, apply, top):
    return np.where(per_image(apply) != 0, top - np.asarray(x, np.float64), x)


def solarize(x, add, thr, vr):
    r = np.clip(to_range(x, vr, (0, 255)) + per_image(add), 0, 255)
    return to_range(np.where(r < per_image(thr), r, 255 - r), (0, 255), vr)


def posterize(x, shift, vr):
    u = np.floor(np.clip(to_range(x, vr, (0, 255)), 0, 255)).astype(np.int64)
    s = np.asarray(shift, np.int64).reshape(-1, 1, 1, 1)
    return to_range((u >> s) << s, (0, 255), vr)


def degenerate(x, f, vr):
    x = np.asarray(x, np.float64)
    g = gray(x) if x.shape[-1] == 3 else x
    return np.clip(x + per_image(f) * (g - x), vr[0], vr[1])


def saturate(x, k, vr):
    hsv = rgb_to_hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * per_image(k)[..., 0], vr[0], vr[1])
    return hsv_to_rgb(hsv)


def shift_hue(x, d, vr):
    hsv = rgb_to_hsv(to_range(x, vr, (0, 1)))
    hsv[..., 0] = np.mod(hsv[..., 0] + per_image(d)[..., 0], 1.0)
    return to_range(np.clip(hsv_to_rgb(hsv), 0, 1), (0, 1), vr)


def autocontrast(x, vr):
    x = np.asarray(x, np.float64)
    lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    same = hi <= lo
    y = vr[0] + (vr[1] - vr[0]) * (x - lo) / np.where(same, 1.0, hi - lo)
    return np.where(same, x, y)
