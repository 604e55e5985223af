"""Keras 3's RandomErasing, RandomGaussianBlur, RandomSharpness, Equalization and RandomPerspective,
channels last, composed from bigcore.ops in a traced call() (no op of their own): the training subgraph draws with
bigcore.random.uniform (a node of the program: new values every step, keyed by the model's seed,
the layer's stream and the step), the inference subgraph is the identity, as Keras's; an eager
call on arrays augments unless given training=False (Keras's call() default). Draw
shapes, formulas, zero padding and clipping follow Keras 3; the draws are bigcore's. Bounding
boxes and the dict inputs Keras also takes are not supported (a bounding_box_format is refused).
"""

import numpy as np

from bigcore.layers import base
from bigcore.layers.image_augmentation import _Augmentation, _number
from bigcore.layers.image_color_augmentation import checked_range, no_bounding_boxes, sorted_range
from bigcore.layers.image_resizing import channels_last, image_dims
from bigcore.layers.image_sampling import filter_axis, sample_2d, taps
from bigcore.layers.registry import register

_MASK = 0x7FFFFFFFFFFFFFFF
_NORMAL_STREAMS = 1 << 20  # the offset of a layer's normal draws' streams from its uniform ones'
_CHUNK = 16  # Equalization's histogram: bins in groups of 16


def keras_factor(factor, name, low=0.0, high=1.0):
    """Keras's _set_factor / _set_factor_by_name: a number f in [low, high] is (max(-f, low), f); a
    pair is sorted, refused only when its first number is above `high` or its second below `low`
    (Keras's check, made before sorting)."""
    msg = (f"The `{name}` argument should be a number (or a list of two numbers) in the range [{low}, {high}]. "
           f"Received: {name}={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_number(v) for v in factor) or factor[0] > high or factor[1] < low:
            raise ValueError(msg)
        lo, hi = sorted(factor)
        return lo, hi
    if not _number(factor) or factor < low or factor > high:
        raise ValueError(msg)
    f = abs(factor)
    return max(-f, low), f


class _Composed(_Augmentation):
    """A random image layer whose training call() is bigcore.ops; identity at inference."""

    def __init__(self, seed=None, data_format=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(seed, **kw)
        self.data_format = channels_last(data_format)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _uniform(self, ops, shape, lo, hi, draw):
        """Draw number `draw` of this layer: its own stream, derived from the layer's."""
        stream = (self._stream * 1000003 + draw + 1) & _MASK
        u = ops.random.uniform(shape, 0.0, 1.0, seed=stream)
        return u if (lo, hi) == (0, 1) else u * float(hi - lo) + float(lo)  # exact where lo == hi

    def _normal(self, ops, shape, draw):
        """Normal draw number `draw`: streams apart from the uniform draws' (a normal and a uniform
        on one stream could share their bits)."""
        return ops.random.normal(shape, seed=(self._stream * 1000003 + _NORMAL_STREAMS + draw) & _MASK)

    def call(self, inputs, training=True):
        image_dims(self, inputs.shape)
        if not training:
            return inputs
        ops = base._ops()
        return self._augment(ops, inputs, ops.shape(inputs)[0], *inputs.shape[1:])

    def _augment(self, ops, x, B, H, W, C):
        raise NotImplementedError

    def _applied(self, ops, B, draw):
        """Keras's per-image coin: a threshold u ~ U(0, 1) below a probability p ~ U(factor)."""
        p = self._uniform(ops, (B, 1, 1, 1), self.factor[0], self.factor[1], draw)
        return self._uniform(ops, (B, 1, 1, 1), 0.0, 1.0, draw + 1) < p

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _fill_value(value):
    if value is None or _number(value):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(_number(v) for v in value):
        return value
    raise ValueError(f"The `fill_value` argument should be a number (or a list of three numbers) or None. "
                     f"Received: fill_value={value!r}")


@register
class RandomErasing(_Composed):
    """Training: with a probability drawn per image in factor's range, a rectangle of each image is
    replaced by fill_value (None: normal noise times value_range[1]), clipped to value_range. Its
    width is sqrt(s) W and height sqrt(t) H, s and t drawn in scale's range, at a uniform offset."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = keras_factor(factor, "factor")
        self.scale = keras_factor(scale, "scale")
        self.fill_value = _fill_value(fill_value)
        self.value_range = checked_range(value_range)

    def _augment(self, ops, x, B, H, W, C):
        if isinstance(self.fill_value, (tuple, list)) and C != 3:
            raise ValueError(f"RandomErasing {self.name!r}: a fill_value of three numbers needs 3 channels. "
                             f"Received input with {C} channels")
        lo, hi = self.value_range
        inside = None
        for axis, (length, grid_shape) in enumerate([(W, (1, 1, W, 1)), (H, (1, H, 1, 1))]):
            side = ops.sqrt(self._uniform(ops, (B, 1, 1, 1), self.scale[0], self.scale[1], 2 * axis)) * length
            start = self._uniform(ops, (B, 1, 1, 1), 0.0, 1.0, 2 * axis + 1) * (length - side)
            grid = np.arange(length, dtype=np.float32).reshape(grid_shape)
            ok = ops.logical_and(grid >= start, grid < start + side)
            inside = ok if inside is None else ops.logical_and(inside, ok)
        inside = ops.logical_and(inside, self._applied(ops, B, 4))
        if self.fill_value is None:
            fill = self._normal(ops, ops.shape(x), 0) * float(hi)
        else:
            fill = np.asarray(self.fill_value, np.float32).reshape(-1)
        fill = ops.clip(fill, float(lo), float(hi))
        return ops.where(inside, fill, x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range, "seed": self.seed}


def _kernel_size(value):
    msg = f"kernel_size must be an odd positive integer (or two equal ones). Received: kernel_size={value!r}"
    vals = list(value) if isinstance(value, (tuple, list)) else [value, value]
    if len(vals) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 2 for v in vals):
        raise ValueError(msg)
    if vals[0] != vals[1]:
        # Keras's torch backend reshapes a (k1, k0) kernel to (k0, k1) and pads by k0 // 2: no blur.
        raise NotImplementedError(f"RandomGaussianBlur: kernels of two sizes are not supported (Keras's torch "
                                  f"backend garbles them). Received: kernel_size={value!r}")
    return vals[0], vals[1]


@register
class RandomGaussianBlur(_Composed):
    """Training: with a probability drawn per image in factor's range, each image convolved with a
    kernel_size x kernel_size Gaussian (zero padding), sigma_x and sigma_y drawn once per batch in
    sigma's range (+ 1e-6); then every image clipped to value_range."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = keras_factor(factor, "factor")
        self.kernel_size = _kernel_size(kernel_size)
        self.sigma = keras_factor(sigma, "sigma")
        self.value_range = checked_range(value_range)

    def _augment(self, ops, x, B, H, W, C):
        k = self.kernel_size[0]
        r = k // 2
        apply = self._applied(ops, B, 0)
        blurred = x
        # separable: columns with sigma_x, then rows with sigma_y (zero padding commutes with it)
        for axis, length, draw in ((2, W, 2), (1, H, 3)):
            sigma = self._uniform(ops, (1, 1, 1, 1), self.sigma[0], self.sigma[1], draw) + 1e-6
            kern = [ops.exp(-0.5 * ops.square((i - r) / sigma)) for i in range(k)]
            total = kern[0]
            for t in kern[1:]:
                total = total + t
            blurred = filter_axis(ops, blurred, [t / total for t in kern], axis, length, r)
        return ops.clip(ops.where(apply, blurred, x), float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size, "sigma": self.sigma,
                "value_range": self.value_range, "seed": self.seed}


@register
class RandomSharpness(_Composed):
    """Training: x + (1 - 2 f) (s - x) clipped to value_range, s the image smoothed by Keras's 3 x 3
    kernel (1/13 around 5/13, zero padding), f drawn per image in factor's range (a number f: [0, f])."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = keras_factor(factor, "factor")
        self.value_range = sorted_range(value_range)

    def _augment(self, ops, x, B, H, W, C):
        f = self._uniform(ops, (B, 1, 1, 1), self.factor[0], self.factor[1], 0) * 2.0
        xp = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        ring = None
        for i in range(3):
            for j in range(3):
                if i != 1 or j != 1:
                    v = xp[:, i:i + H, j:j + W]
                    ring = v if ring is None else ring + v
        smooth = ring * (1.0 / 13.0) + x * (5.0 / 13.0)
        y = x + (1.0 - f) * (smooth - x)
        return ops.clip(y, float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}



@register
class Equalization(_Composed):
    """Training: each channel histogram-equalized over the whole batch (Keras's: one histogram of
    `bins` bins per channel, of the values mapped from value_range to [0, 255]; a channel with one
    occupied bin is kept). The histogram is counted as 16 x 16 (bins / 16 groups by 16) from two
    one-hots of 16 a pixel; the table is read by a gather."""

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kw):
        super().__init__(None, data_format, **kw)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"Invalid value for argument `bins`. Expected a positive integer. Received: bins={bins!r}")
        self.bins = bins
        self.value_range = sorted_range(value_range)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"The `value_range` argument should be a list of two different numbers. Received: "
                             f"value_range={value_range!r}")

    def _augment(self, ops, x, B, H, W, C):
        lo, hi = self.value_range
        bins = self.bins
        scale = 255.0 / (hi - lo)
        offset = 0.0 - lo * scale  # Keras's map to [0, 255] and back, in its order of operations
        outs = []
        for c in range(C):
            v = x[..., c:c + 1] * scale + offset
            idx = ops.clip(ops.floor(v * ((bins - 1) / 255.0)), 0.0, float(bins - 1))
            hist = self._histogram(ops, idx, bins)
            cdf = ops.cumsum(hist)
            cdf_min = ops.min(ops.where(cdf > 0, cdf, np.float32(np.inf)))
            den = cdf[-1] - cdf_min
            den = ops.where(den == 0, 1.0, den)
            lut = ops.clip(ops.round((cdf - cdf_min) * 255.0 / den), 0.0, 255.0)
            occupied = ops.sum(ops.cast(hist > 0, "float32"))
            e = ops.where(occupied <= 1, v, ops.take(lut, ops.cast(idx, "int32")))
            outs.append(e * ((hi - lo) / 255.0) + lo)
        return outs[0] if C == 1 else ops.concatenate(outs, axis=-1)

    @staticmethod
    def _histogram(ops, idx, bins):
        """Counts of idx (batch, H, W, 1) in [0, bins) over the batch: bin = 16 g + r, the (g, r)
        counts of each image one (16 x 16) product of two 16-wide one-hots over its pixels, summed
        over the batch (a one-hot of every bin would hold bins floats a pixel)."""
        groups = -(-bins // _CHUNK)
        g = ops.floor(idx / float(_CHUNK))
        r = idx - float(_CHUNK) * g
        oh_g = ops.cast(ops.equal(g, np.arange(groups, dtype=np.float32)), "float32")
        oh_r = ops.cast(ops.equal(r, np.arange(_CHUNK, dtype=np.float32)), "float32")
        joint = ops.sum(ops.einsum("bhwi,bhwj->bij", oh_g, oh_r), axis=0)
        return ops.reshape(joint, (groups * _CHUNK,))[:bins]

    def get_config(self):
        cfg = {**super().get_config(), "bins": self.bins, "value_range": self.value_range}
        return cfg


@register
class RandomPerspective(_Composed):
    """Training: with a probability drawn per image in factor's range, each image warped by the
    homography taking its corners moved by Keras's draws (corner k of the (W - 1, H - 1) rectangle
    times 1 + p, p ~ U(-scale / 2, scale / 2) per coordinate) back to the rectangle; sampled as
    Keras's map_coordinates (bilinear or nearest, fill_value outside). Keras's first corner is the
    origin, so the homography has a closed form (x_in = a0 x / d, y_in = a4 y / d, d = a6 x + a7 y + 1)."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = keras_factor(factor, "factor")
        if not _number(scale) or not 0 <= scale <= 1:
            raise ValueError(f"The `scale` argument should be a number in the range [0,1]. Received: scale={scale!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"Unknown `interpolation` {interpolation!r}. Expected of one "
                                      f"('nearest', 'bilinear').")
        if not _number(fill_value):
            raise ValueError(f"Invalid value for argument `fill_value`. Expected a number. Received: "
                             f"fill_value={fill_value!r}")
        self.scale, self.interpolation, self.fill_value = scale, interpolation, fill_value

    def _corner_draws(self, ops, B):
        """p of corner 2's x, corner 3's y, corner 4's x and y (the others multiply a zero)."""
        s = 0.5 * self.scale
        return [self._uniform(ops, (B, 1, 1, 1), -s, s, 2 + k) for k in range(4)]

    def _augment(self, ops, x, B, H, W, C):
        if H < 2 or W < 2:
            raise ValueError(f"RandomPerspective {self.name!r} needs images of at least 2 x 2 pixels (a corner "
                             f"rectangle). Received: height={H}, width={W}")
        p2x, p3y, p4x, p4y = self._corner_draws(ops, B)
        wm, hm = float(W - 1), float(H - 1)
        x2, y3, x4, y4 = wm * (1.0 + p2x), hm * (1.0 + p3y), wm * (1.0 + p4x), hm * (1.0 + p4y)
        a6 = (y4 / y3 - 1.0) / x4
        a7 = (x4 / x2 - 1.0) / y4
        a0 = wm * (a6 + 1.0 / x2)
        a4 = hm * (a7 + 1.0 / y3)
        gx = np.arange(W, dtype=np.float32).reshape(1, 1, W, 1)
        gy = np.arange(H, dtype=np.float32).reshape(1, H, 1, 1)
        d = a6 * gx + a7 * gy + 1.0
        x_in, y_in = a0 * gx / d, a4 * gy / d
        flat = ops.reshape(x, (-1, H * W, C))
        nearest = self.interpolation == "nearest"
        out = None
        for r, wr in taps(ops, y_in, nearest):
            for c, wc in taps(ops, x_in, nearest):
                ok = ops.logical_and(ops.logical_and(r >= 0.0, r <= hm), ops.logical_and(c >= 0.0, c <= wm))
                idx = ops.clip(r, 0.0, hm) * float(W) + ops.clip(c, 0.0, wm)
                idx = ops.cast(ops.reshape(idx, (-1, H * W, 1)), "int32")
                v = ops.reshape(ops.take_along_axis(flat, idx, axis=1), (-1, H, W, C))
                term = (wr * wc) * ops.where(ok, v, float(self.fill_value))
                out = term if out is None else out + term
        return ops.where(self._applied(ops, B, 0), out, x)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value, "seed": self.seed}


FILL_MODES = ("reflect", "wrap", "constant", "nearest")


@register
class RandomElasticTransform(_Composed):
    """Training: with a probability drawn per image in factor's range, each image resampled at
    (y + a dy, x + a dx), dx and dy normal noise times s, blurred by Keras's Gaussian (int(6 s) | 1
    taps, zero padding); a = 0.1 max(H, W) f, s = 0.05 min(H, W) f, f drawn once per batch in
    scale's range; sampled as Keras's map_coordinates; then every image clipped to value_range.
    The kernel's size follows the drawn s: the program holds the largest one's taps, the outer ones
    weighted zero. With scale's or factor's upper end 0 the layer is the identity (unclipped), as Keras's."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = keras_factor(factor, "factor")
        self.scale = keras_factor(scale, "scale")
        if interpolation not in ("nearest", "bilinear"):
            raise NotImplementedError(f"Unknown `interpolation` {interpolation!r}. Expected of one "
                                      f"('nearest', 'bilinear').")
        if fill_mode not in FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode!r}. Expected of one {FILL_MODES}.")
        if not _number(fill_value):
            raise ValueError(f"Invalid value for argument `fill_value`. Expected a number. Received: "
                             f"fill_value={fill_value!r}")
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = checked_range(value_range)

    def _distortion(self, ops):
        return self._uniform(ops, (1, 1, 1, 1), self.scale[0], self.scale[1], 2)

    def _noise(self, ops, x, B, H, W):
        """Standard normal dx and dy, (batch, H, W, 1) each."""
        return [self._normal(ops, (B, H, W, 1), k) for k in range(2)]

    def _blur(self, ops, d, sigma, rmax, H, W):
        """Keras's gaussian_blur of d with int(6 sigma) | 1 taps a side, sigma both ways, zero padding."""
        r_dyn = ops.floor(ops.floor(6.0 * sigma) / 2.0)
        kern = [ops.where(abs(i) <= r_dyn, ops.exp(-0.5 * ops.square(float(i) / sigma)), 0.0)
                for i in range(-rmax, rmax + 1)]
        total = kern[0]
        for t in kern[1:]:
            total = total + t
        for axis, length in ((2, W), (1, H)):
            d = filter_axis(ops, d, [t / total for t in kern], axis, length, rmax)
        return d

    def _augment(self, ops, x, B, H, W, C):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return x
        f = self._distortion(ops)
        alpha, sigma = max(H, W) * 0.1 * f, min(H, W) * 0.05 * f
        rmax = int(6.0 * min(H, W) * 0.05 * self.scale[1]) // 2
        sigma_safe = ops.maximum(sigma, 1e-12)  # f = 0: no taps but the centre (Keras divides 0 by 0 there)
        dx, dy = (self._blur(ops, n * sigma, sigma_safe, rmax, H, W) for n in self._noise(ops, x, B, H, W))
        gx = np.arange(W, dtype=np.float32).reshape(1, 1, W, 1)
        gy = np.arange(H, dtype=np.float32).reshape(1, H, 1, 1)
        out = sample_2d(ops, x, gy + alpha * dy, gx + alpha * dx, H, W, C, self.interpolation == "nearest",
                      self.fill_mode, self.fill_value)
        out = ops.where(self._applied(ops, B, 0), out, x)
        return ops.clip(out, float(self.value_range[0]), float(self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": self.value_range, "seed": self.seed}
