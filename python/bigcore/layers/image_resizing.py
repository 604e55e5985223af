"""Keras's deterministic image preprocessing, channels last (cpp/ops/image_resize.h): Resizing and
CenterCrop. Each output is a box of the input (y0, x0, height, width), cropped or padded, resized
as Keras's torch backend resizes (bilinear with half-pixel centres, or "nearest-exact"). The box
helpers here serve RandomCrop too (image_augmentation.py).
"""

from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register

INTERPOLATIONS = ("bilinear", "nearest")


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"Invalid value for argument `{name}`. Expected one of {choices}. Received: {name}={value!r}")
    return value


def check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Invalid value for argument `{name}`. Expected a positive integer. Received: {name}={value!r}")
    return value


def channels_last(data_format):
    """None or "channels_last"; bigcore's image layers run channels last only."""
    if data_format in (None, "channels_last"):
        return "channels_last"
    raise ValueError(f"Invalid value for argument `data_format`: bigcore's image layers expect 'channels_last' "
                     f"(or None). Received: data_format={data_format!r}")


def image_dims(layer, shape):
    """(H, W, C) of a (batch, H, W, C) input with known sizes, or ValueError."""
    if len(shape) != 4:
        raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: expected ndim=4 '
                         f"(batch, height, width, channels), found ndim={len(shape)}. "
                         f"Full shape received: {shape_str(shape)}")
    if any(s is None for s in shape[1:]):
        raise ValueError(f"{type(layer).__name__} {layer.name!r} needs known height, width and channels, "
                         f"got {shape_str(shape)}")
    return tuple(shape[1:])


def crop_box(H, W, h, w):
    """Keras's crop_to_aspect_ratio (and smart_resize): the largest centred box of h:w's aspect."""
    ch = max(min(H, int(float(W * h) / w)), 1)
    cw = max(min(W, int(float(H * w) / h)), 1)
    return [int(float(H - ch) / 2), int(float(W - cw) / 2), ch, cw]


def pad_box(H, W, h, w):
    """Keras's pad_to_aspect_ratio: the image centred in fill_value, padded on both sides alike."""
    ph, pw = max(H, int(float(W * h) / w)), max(W, int(float(H * w) / h))
    hs, ws = int(float(ph - H) / 2), int(float(pw - W) / 2)
    return [-hs, -ws, H + 2 * hs, W + 2 * ws]


class _ImageResizeLayer(Layer):
    """A layer lowered to one crop-and-resize op: subclasses give the boxes."""
    _interp = "bilinear"
    _fill_value = 0.0

    def _check_input(self, shape):
        image_dims(self, shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def compute_mask(self, inputs, masks):
        return None

    def _boxes(self, H, W):
        """(inference box, training box, random) for an H x W input."""
        raise NotImplementedError

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        infer, train, random = self._boxes(H, W)
        prog.native.add_crop_resize(inputs[0], out, H, W, C, self.height, self.width,
                                    INTERPOLATIONS.index(self._interp), float(self._fill_value), infer, train,
                                    random, getattr(self, "_stream", 0))
        return [out]


@register
class Resizing(_ImageResizeLayer):
    """Resizes (batch, H, W, C) images to (batch, height, width, C); crop_to_aspect_ratio first crops
    the largest centred box of the target's aspect, pad_to_aspect_ratio first pads with fill_value."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kw):
        super().__init__(**kw)
        self.height, self.width = check_size(height, "height"), check_size(width, "width")
        self.interpolation = check_choice(interpolation, "interpolation", INTERPOLATIONS)
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`. Received: "
                             "crop_to_aspect_ratio=True, pad_to_aspect_ratio=True")
        self.fill_mode = check_choice(fill_mode, "fill_mode", ("constant",))
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)):
            raise ValueError(f"Invalid value for argument `fill_value`. Expected a number. Received: "
                             f"fill_value={fill_value!r}")
        self.fill_value = float(fill_value)
        if antialias:
            raise ValueError("Invalid value for argument `antialias`: bigcore resizes without antialiasing. "
                             f"Expected False. Received: antialias={antialias!r}")
        self.antialias = False
        self.data_format = channels_last(data_format)
        self._interp, self._fill_value = self.interpolation, self.fill_value

    def _boxes(self, H, W):
        if self.crop_to_aspect_ratio:
            box = crop_box(H, W, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            box = pad_box(H, W, self.height, self.width)
        else:
            box = [0, 0, H, W]
        return box, box, False

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": self.data_format}


@register
class CenterCrop(_ImageResizeLayer):
    """The centred height x width box; an input smaller on either side is resized as Keras's
    smart_resize (the largest centred box of the target's aspect, bilinear)."""

    def __init__(self, height, width, data_format=None, **kw):
        super().__init__(**kw)
        self.height, self.width = check_size(height, "height"), check_size(width, "width")
        self.data_format = channels_last(data_format)

    def _boxes(self, H, W):
        if H >= self.height and W >= self.width:
            box = [(H - self.height) // 2, (W - self.width) // 2, self.height, self.width]
        else:
            box = crop_box(H, W, self.height, self.width)
        return box, box, False

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}
