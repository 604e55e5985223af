"""Keras 3's colour augmentation layers, channels last (cpp/ops/image_tone.h): RandomGrayscale,
RandomInvert, Solarization, RandomPosterization, RandomColorDegeneration, RandomSaturation,
RandomHue, RandomColorJitter and the deterministic AutoContrast. The random ones are the identity
at inference; in training each draws its factors once per image from bigcore's counter-based RNG
(seed, the layer's stream, step), so a seeded run is reproducible for any thread count. Formulas,
factor ranges and value ranges follow Keras 3's (quirks included: Solarization's lower ends are
not scaled by 255, RandomSaturation's factor f scales the saturation by f / (1 - f)); the draws
are bigcore's. Bounding boxes, labels and segmentation masks (Keras's dict inputs) are not
transformed here: a bounding_box_format is refused.
"""

from bigcore import _random
from bigcore.layers.base import Layer
from bigcore.layers.image_augmentation import RandomBrightness, RandomContrast, _Augmentation, _number, factor_range
from bigcore.layers.image_resizing import channels_last, image_dims
from bigcore.layers.registry import register

GRAYSCALE, INVERT, SOLARIZE, POSTERIZE, DEGENERATE, SATURATION, HUE, RGB_TO_HSV, HSV_TO_RGB, AUTOCONTRAST = range(10)


def no_bounding_boxes(layer, bounding_box_format):
    if bounding_box_format is not None:
        raise ValueError(f"{type(layer).__name__}: bigcore's image augmentation layers transform images only; "
                         f"bounding boxes are not supported. Received: bounding_box_format={bounding_box_format!r}")


def sorted_range(value_range):
    """Keras's _set_value_range: a list or tuple of two numbers, sorted (a list)."""
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
            or not all(_number(v) for v in value_range)):
        raise ValueError(f"The `value_range` argument should be a list of two numbers. Received: "
                         f"value_range={value_range!r}")
    return sorted(value_range)


def checked_range(value_range):
    """A value_range Keras keeps as given (RandomInvert, RandomHue, RandomColorJitter), checked."""
    sorted_range(value_range)
    if value_range[0] > value_range[1]:
        raise ValueError(f"The `value_range` argument should be a list of two numbers, the lower first. Received: "
                         f"value_range={value_range!r}")
    return value_range


def check_channels(layer, shape, allowed):
    C = image_dims(layer, shape)[2]
    if C not in allowed:
        want = "3 (RGB) or 1 (grayscale)" if 1 in allowed else "3 (RGB)"
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: invalid channel size: expected {want}. "
                         f"Received input with shape: {tuple(shape)}")


class _Tone(_Augmentation):
    """One per-pixel colour op (ops/image_tone.h); subclasses give the kind and its arguments."""
    kind = None
    channels = None  # allowed channel counts; None: any

    def __init__(self, seed=None, data_format=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(seed, **kw)
        self.data_format = channels_last(data_format)

    def _check_input(self, shape):
        if self.channels is None:
            image_dims(self, shape)
        else:
            check_channels(self, shape, self.channels)

    def _args(self):
        raise NotImplementedError

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        prog.native.add_image_tone(inputs[0], out, H * W, C, self.kind, [float(a) for a in self._args()],
                                   self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register
class RandomGrayscale(_Tone):
    """Training: each image replaced by its grayscale (0.2989 R + 0.587 G + 0.114 B in every channel)
    with probability factor."""
    kind = GRAYSCALE
    channels = (1, 3)

    def __init__(self, factor=0.5, data_format=None, seed=None, **kw):
        super().__init__(seed, data_format, **kw)
        if not _number(factor) or factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor!r}")
        self.factor = factor

    def _args(self):
        return [self.factor]

    def get_config(self):
        cfg = {**super().get_config(), "factor": self.factor}
        cfg.pop("seed", None)  # Keras's config has none
        return cfg


@register
class RandomInvert(_Tone):
    """Training: each image inverted (value_range[1] - x) with a probability drawn in factor's range."""
    kind = INVERT

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = factor_range(factor, "factor", 0, 1)
        self.value_range = checked_range(value_range)

    def _args(self):
        return [self.factor[0], self.factor[1], self.value_range[1]]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


def _unit_factor(factor, name):
    """Solarization's factors: a number f is (0, f), a pair is sorted; each within [0, 1]."""
    msg = (f"The `addition_factor` and `threshold_factor` arguments should be a number (or a list of two numbers) "
           f"in the range [0, 1]. Received: {name}={factor!r}")
    vals = list(factor) if isinstance(factor, (tuple, list)) else [0, factor]
    if len(vals) != 2 or not all(_number(v) and 0 <= v <= 1 for v in vals):
        raise ValueError(msg)
    return tuple(sorted(vals))


@register
class Solarization(_Tone):
    """Training: in [0, 255], x + a clipped, then inverted (255 - v) where not below a threshold t; a
    in [lower, upper * 255] of addition_factor, t likewise of threshold_factor, drawn per image."""
    kind = SOLARIZE

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kw):
        super().__init__(seed, **kw)
        self.addition_factor = _unit_factor(addition_factor, "addition_factor")
        self.threshold_factor = _unit_factor(threshold_factor, "threshold_factor")
        self.value_range = sorted_range(value_range)

    def _args(self):
        return [*self.addition_factor, *self.threshold_factor, *self.value_range]

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "seed": self.seed}


@register
class RandomPosterization(_Tone):
    """Training: each image's values in [0, 255] cut to uint8 and kept to their top b bits, b drawn per
    image in [lower, upper) of factor (a number f: [1, f); lower when they agree)."""
    kind = POSTERIZE

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kw):
        super().__init__(seed, data_format, **kw)
        msg = ("The `factor` argument should be an integer (or a list of two integers) in the range [1, 8]. "
               f"Received: factor={factor!r}")
        vals = list(factor) if isinstance(factor, (tuple, list)) else [factor]
        if not 1 <= len(vals) <= 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 8
                                               for v in vals):
            raise ValueError(msg)
        self.factor = tuple(sorted(vals)) if len(vals) == 2 else (max(-factor, 1), factor)
        self.value_range = sorted_range(value_range)

    def _args(self):
        return [*self.factor, *self.value_range]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class _FactorTone(_Tone):
    """A tone op of Keras's (factor, value_range, data_format, seed): factor's range within
    factor_bounds, value_range sorted (or, keep_range_order, kept as given and checked)."""
    factor_bounds = (-1, 1)
    keep_range_order = False

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.factor = factor_range(factor, "factor", *self.factor_bounds)
        self.value_range = (checked_range if self.keep_range_order else sorted_range)(value_range)

    def _args(self):
        return [*self.factor, *self.value_range]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


@register
class RandomColorDegeneration(_FactorTone):
    """Training: x + f (grayscale - x) clipped to value_range, f drawn per image in factor's range (a
    number f: [-f, f])."""
    kind = DEGENERATE
    channels = (1, 3)


@register
class RandomSaturation(_FactorTone):
    """Training: in HSV (of the values as they are), the saturation times f / (1 - f + 1e-7) clipped
    to value_range, f drawn per image in factor's range (a number f: [-f, f])."""
    kind = SATURATION
    channels = (3,)


@register
class RandomHue(_FactorTone):
    """Training: in HSV of the values mapped to [0, 1], the hue shifted by a random sign times f / 2,
    f drawn per image in factor's range (a number f: [0, f]), back to RGB clipped, then to value_range."""
    kind = HUE
    channels = (3,)
    factor_bounds = (0, 1)
    keep_range_order = True


@register
class RandomColorJitter(_Augmentation):
    """Training: RandomBrightness, RandomContrast, RandomSaturation and RandomHue in that order, each
    whose factor is given (with this value_range), each drawing its own factors."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(seed, **kw)
        self.data_format = channels_last(data_format)
        self.value_range = checked_range(value_range)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        made = [(RandomBrightness, brightness_factor), (RandomContrast, contrast_factor),
                (RandomSaturation, saturation_factor), (RandomHue, hue_factor)]
        # Each part draws on a stream of its own (Keras: one seed generator, one draw after another).
        self._parts = [cls(f, value_range=value_range, seed=_random.next_stream() if seed is None else seed)
                       for cls, f in made if f is not None]
        for i, part in enumerate(self._parts):
            part._stream = self._stream ^ ((i + 1) << 48)

    def _check_input(self, shape):
        if any(isinstance(p, (RandomSaturation, RandomHue)) for p in self._parts):
            check_channels(self, shape, (3,))
        else:
            image_dims(self, shape)

    def lower(self, prog, inputs, outputs):
        if not self._parts:
            return inputs
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        x = inputs[0]
        for i, part in enumerate(self._parts):
            y = out if i == len(self._parts) - 1 else prog.native.add_tensor(H * W * C, False)
            if isinstance(part, _Tone):
                prog.native.add_image_tone(x, y, H * W, C, part.kind, [float(a) for a in part._args()], part._stream)
            else:
                lo, hi = part.value_range
                prog.native.add_image_color(x, y, H * W, C, part.kind, part.factor[0], part.factor[1], float(lo),
                                            float(hi), part._stream)
            x = y
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "value_range": self.value_range,
                "brightness_factor": self.brightness_factor, "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor, "seed": self.seed}


@register
class AutoContrast(Layer):
    """Training and inference: each channel of each image stretched from its [min, max] to
    value_range (a constant channel is kept as it is)."""

    def __init__(self, value_range=(0, 255), data_format=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(**kw)
        self.data_format = channels_last(data_format)
        self.value_range = sorted_range(value_range)

    def _check_input(self, shape):
        image_dims(self, shape)

    def compute_mask(self, inputs, masks):
        return None

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        prog.native.add_image_tone(inputs[0], out, H * W, C, AUTOCONTRAST, [float(v) for v in self.value_range], 0)
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "value_range": self.value_range}


@register
class HSVConversion(Layer):
    """keras.ops.image.rgb_to_hsv / hsv_to_rgb on (batch, H, W, 3): Keras's planes, native (a model
    that calls the op on its tensors saves this layer: bigcore loads it, Keras does not know it)."""

    def __init__(self, to_hsv=True, **kw):
        super().__init__(**kw)
        self.to_hsv = bool(to_hsv)

    def _check_input(self, shape):
        check_channels(self, shape, (3,))

    def compute_mask(self, inputs, masks):
        return None

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        prog.native.add_image_tone(inputs[0], out, H * W, C, RGB_TO_HSV if self.to_hsv else HSV_TO_RGB, [], 0)
        return [out]

    def get_config(self):
        return {**super().get_config(), "to_hsv": self.to_hsv}
