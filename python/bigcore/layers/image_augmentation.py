"""Keras's image augmentation layers, channels last (cpp/ops/image_affine.h, image_color.h,
image_resize.h): RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomShear, RandomContrast,
RandomBrightness, RandomCrop. The identity at inference (RandomCrop: a centred crop-and-resize);
in training each draws from bigcore's counter-based RNG keyed by (seed, the layer's stream, step),
so a seeded run is reproducible for any thread count. Factor ranges, matrices, fill modes and
interpolation follow Keras 3; the draws themselves are bigcore's.
"""

from bigcore import _random
from bigcore.layers.base import Layer
from bigcore.layers.image_resizing import (INTERPOLATIONS, _ImageResizeLayer, channels_last, check_choice, check_size,
                                           crop_box, image_dims)
from bigcore.layers.registry import register

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _number(v):
    return not isinstance(v, bool) and isinstance(v, (int, float))


def factor_range(factor, name, low, high, low_open=False):
    """Keras's factor rule: a number f is (-|f|, |f|) (clipped at `low`), a pair is sorted; every value
    within [low, high] ((low, high] when low_open)."""
    def ok(v):
        return _number(v) and (v > low if low_open else v >= low) and v <= high
    bound = f"{'(' if low_open else '['}{low}, {high}]"
    msg = (f"The `{name}` argument should be a number (or a list of two numbers) in the range {bound}. "
           f"Received: {name}={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(ok(v) for v in factor):
            raise ValueError(msg)
        lo, hi = sorted(float(v) for v in factor)
        return lo, hi
    if not ok(factor):
        raise ValueError(msg)
    f = abs(float(factor))
    return max(-f, float(low)), f


def _value_range(value_range):
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or not all(_number(v) for v in value_range)
            or value_range[0] > value_range[1]):
        raise ValueError("The `value_range` argument should be a list of two numbers, the lower first. "
                         f"Received: value_range={value_range!r}")
    return [float(v) if isinstance(v, float) else v for v in value_range]


class _Augmentation(Layer):
    """A random layer: its own RNG stream (the seed when given, as the noise layers)."""

    call_default_training = True  # Keras's BaseImagePreprocessingLayer.call(data, training=True)

    def __init__(self, seed=None, **kw):
        super().__init__(**kw)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"Invalid value for argument `seed`. Expected None or a non-negative integer. "
                             f"Received: seed={seed!r}")
        self.seed = seed
        self._stream = seed if seed is not None else _random.next_stream()

    def _check_input(self, shape):
        image_dims(self, shape)

    def compute_mask(self, inputs, masks):
        return None


@register
class RandomFlip(_Augmentation):
    """Training: each image flipped with probability 1/2 (horizontal_and_vertical: one draw flips both)."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kw):
        super().__init__(seed, **kw)
        self.mode = check_choice(mode, "mode", FLIP_MODES)
        self.data_format = channels_last(data_format)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        prog.native.add_random_flip(inputs[0], out, H, W, C, FLIP_MODES.index(self.mode), self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed, "mode": self.mode}


class _Affine(_Augmentation):
    kind = None

    def __init__(self, fill_mode, interpolation, seed, fill_value, data_format, **kw):
        super().__init__(seed, **kw)
        self.fill_mode = check_choice(fill_mode, "fill_mode", FILL_MODES)
        self.interpolation = check_choice(interpolation, "interpolation", INTERPOLATIONS)
        if not _number(fill_value):
            raise ValueError(f"Invalid value for argument `fill_value`. Expected a number. Received: "
                             f"fill_value={fill_value!r}")
        self.fill_value = fill_value
        self.data_format = channels_last(data_format)

    def _ranges(self):
        """([lo0, lo1], [hi0, hi1], same_zoom)."""
        raise NotImplementedError

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        lo, hi, same = self._ranges()
        prog.native.add_image_affine(inputs[0], out, H, W, C, self.kind, lo, hi, same,
                                     INTERPOLATIONS.index(self.interpolation), FILL_MODES.index(self.fill_mode),
                                     float(self.fill_value), self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "seed": self.seed, "fill_value": self.fill_value, "data_format": self.data_format}


@register
class RandomRotation(_Affine):
    """Training: each image rotated about its centre by an angle in [lower, upper] turns (factor)."""
    kind = 0

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kw):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kw)
        self.factor = factor_range(factor, "factor", -1, 1)

    def _ranges(self):
        return [self.factor[0], 0.0], [self.factor[1], 0.0], False

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register
class RandomZoom(_Affine):
    """Training: each image zoomed about its centre, height by 1 + [lower, upper] of height_factor
    (negative: in), width by width_factor's range or, when None, as the height."""
    kind = 1

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kw):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kw)
        self._h = factor_range(height_factor, "height_factor", -1, 1, low_open=True)
        self._w = None if width_factor is None else factor_range(width_factor, "width_factor", -1, 1, low_open=True)
        self.height_factor, self.width_factor = height_factor, width_factor

    def _ranges(self):
        w = self._w or (0.0, 0.0)
        return [self._h[0], w[0]], [self._h[1], w[1]], self._w is None

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


@register
class RandomTranslation(_Affine):
    """Training: each image shifted by [lower, upper] of its height and width."""
    kind = 2

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kw):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kw)
        self._h = factor_range(height_factor, "height_factor", -1, 1)
        self._w = factor_range(width_factor, "width_factor", -1, 1)
        self.height_factor, self.width_factor = height_factor, width_factor

    def _ranges(self):
        return [self._h[0], self._w[0]], [self._h[1], self._w[1]], False

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


def _shear_factor(factor, name):
    """RandomShear's rule: a number f in [0, 1] is (-f, f), a pair is sorted. Keras wants the pair's
    numbers in [0, 1], which refuses its own config of a number's (-f, f): here [-1, 1]."""
    msg = (f"The `factor` argument should be a number (or a list of two numbers) in the range [0, 1.0]. "
           f"Received: {name}={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_number(v) and -1 <= v <= 1 for v in factor):
            raise ValueError(msg)
        lo, hi = sorted(factor)
        return lo, hi
    if not _number(factor) or not 0 <= factor <= 1:
        raise ValueError(msg)
    return -abs(factor), abs(factor)


@register
class RandomShear(_Affine):
    """Training: each image sheared by Keras's matrix (1, sx, 0, sy, 1, 0) (x' = x + sx y, y' = sy x + y,
    about the corner), sx in x_factor's range, sy in y_factor's, both times one random sign."""
    kind = 3

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kw):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kw)
        self.x_factor = _shear_factor(x_factor, "x_factor")
        self.y_factor = _shear_factor(y_factor, "y_factor")

    def _ranges(self):
        return [self.x_factor[0], self.y_factor[0]], [self.x_factor[1], self.y_factor[1]], False

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


class _Color(_Augmentation):
    kind = None

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        lo, hi = self.value_range
        prog.native.add_image_color(inputs[0], out, H * W, C, self.kind, self.factor[0], self.factor[1], float(lo),
                                    float(hi), self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


@register
class RandomContrast(_Color):
    """Training: (x - mean) * f + mean per image and channel (the mean over height and width), f in
    [1 - lower, 1 + upper] of Keras's factor range (a number f gives [0, f]), clipped to value_range."""
    kind = 0

    def __init__(self, factor, value_range=(0, 255), seed=None, **kw):
        super().__init__(seed, **kw)
        self.factor = factor_range(factor, "factor", 0, 1)
        self.value_range = _value_range(value_range)


@register
class RandomBrightness(_Color):
    """Training: x + d per image, d in factor's range times the width of value_range, clipped to it."""
    kind = 1

    def __init__(self, factor, value_range=(0, 255), seed=None, **kw):
        super().__init__(seed, **kw)
        self.factor = factor_range(factor, "factor", -1, 1)
        self.value_range = _value_range(value_range)


@register
class RandomCrop(_Augmentation, _ImageResizeLayer):
    """Training: a height x width box at a random offset, one per batch (Keras's draw), when the input
    is larger on both sides; otherwise Keras's box at the aspect-ratio crop's offset, resized if it
    falls short. Inference: a centred crop of the target's aspect, resized (Keras's smart_resize;
    Keras 3.15 returns the input unchanged there, against its own output shape)."""

    def __init__(self, height, width, seed=None, data_format=None, **kw):
        super().__init__(seed, **kw)
        self.height, self.width = check_size(height, "height"), check_size(width, "width")
        self.data_format = channels_last(data_format)

    def _boxes(self, H, W):
        h, w = self.height, self.width
        infer = crop_box(H, W, h, w)
        if H > h and W > w:
            return infer, infer, True
        y0, x0 = infer[0], infer[1]
        return infer, [y0, x0, min(h, H - y0), min(w, W - x0)], False

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "seed": self.seed,
                "data_format": self.data_format}
