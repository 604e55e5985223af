"""ONNX rules for the image layers: the random augmentations export as the identity (inference;
AutoContrast, applied at inference too, has no rule);
Resizing, CenterCrop and RandomCrop (inference: a centred crop-and-resize) as their box (Slice, or
Pad with the fill value) then Resize over NCHW (bilinear), with the coordinate rule of Keras's torch backend:
bilinear half_pixel (torch clamps a negative source index to 0, as onnxruntime does at the edge);
nearest-exact as two Gathers of torch's indices (Resize's own rounding differs from torch's at ties).
"""

import numpy as np

from bigcore.export.onnx_conv import index_map
from bigcore.layers import image_augmentation as aug
from bigcore.layers import image_color_augmentation as colour
from bigcore.layers import image_mixing
from bigcore.layers import image_resizing, reshaping


def identity(g, layer, ins, node):
    return [ins[0]]


def nearest_exact(n_in, n_out):
    """torch's nearest-exact source indices: floorf((o + 0.5) * scale), scale = in / out in float32
    and the product rounded to float32 before the floor, as torch's floorf rounds it."""
    scale = np.float64(np.float32(n_in) / np.float32(n_out))
    return [min(int(np.floor(np.float32((o + 0.5) * scale))), n_in - 1) for o in range(n_out)]


def crop_resize(g, layer, ins, node):
    n = layer.name
    H, W, C = node.inputs[0].shape[1:]
    y0, x0, bh, bw = layer._boxes(H, W)[0]
    x = ins[0]
    py, px = max(0, -y0), max(0, -x0)
    if py or px:  # pad_to_aspect_ratio: the image centred in fill_value
        x = g.op("Pad", [x, g.int64([0, py, px, 0, 0, py, px, 0], f"{n}/pads"),
                         g.const(np.float32(layer._fill_value), f"{n}/fill")], f"{n}/pad", mode="constant")
        y0, x0 = y0 + py, x0 + px
    if (y0, x0, bh, bw) != (0, 0, H + 2 * py, W + 2 * px):
        x = g.op("Slice", [x, g.int64([y0, x0], f"{n}/starts"), g.int64([y0 + bh, x0 + bw], f"{n}/ends"),
                           g.int64([1, 2], f"{n}/axes")], f"{n}/crop")
    if (bh, bw) == (layer.height, layer.width):
        return [g.op("Identity", [x], n)]
    if layer._interp == "nearest":  # Gathers of torch's exact indices: Resize's rounding differs at ties
        for axis, (n_in, n_out) in ((1, (bh, layer.height)), (2, (bw, layer.width))):
            x = g.op("Gather", [x, g.int64(nearest_exact(n_in, n_out), f"{n}/rows{axis}")], f"{n}/nearest{axis}",
                     axis=axis)
        return [g.op("Identity", [x], n)]
    nchw = g.op("Transpose", [x], f"{n}/nchw", perm=[0, 3, 1, 2])
    sizes = g.op("Concat", [g.op("Slice", [g.op("Shape", [nchw], f"{n}/shape"), g.int64([0], f"{n}/s0"),
                                          g.int64([1], f"{n}/s1")], f"{n}/batch"),
                            g.int64([C, layer.height, layer.width], f"{n}/size")], f"{n}/sizes", axis=0)
    resized = g.op("Resize", [nchw, "", "", sizes], f"{n}/resize", mode="linear",
                   coordinate_transformation_mode="half_pixel")
    return [g.op("Transpose", [resized], n, perm=[0, 2, 3, 1])]


class _UpsampledBox:
    """An UpSampling2D with interpolation='bilinear' as the crop-and-resize its native op is: the
    whole image resized to (H * size[0], W * size[1])."""

    _interp, _fill_value = "bilinear", 0.0

    def __init__(self, layer, node):
        self.name = layer.name
        H, W = node.inputs[0].shape[1:3]
        self.height, self.width = H * layer.size[0], W * layer.size[1]

    def _boxes(self, H, W):
        return [0, 0, H, W], [0, 0, H, W], False


def upsampling2d(g, layer, ins, node):
    if layer.interpolation == "nearest":
        return index_map(g, layer, ins, node)
    return crop_resize(g, _UpsampledBox(layer, node), ins, node)


RULES = {reshaping.UpSampling2D: upsampling2d, aug.RandomFlip: identity, aug.RandomRotation: identity, aug.RandomZoom: identity,
         aug.RandomTranslation: identity, aug.RandomContrast: identity, aug.RandomBrightness: identity,
         aug.RandomCrop: crop_resize, image_resizing.Resizing: crop_resize, image_resizing.CenterCrop: crop_resize,
         **{cls: identity for cls in (colour.RandomGrayscale, colour.RandomInvert, colour.Solarization,
                                      colour.RandomPosterization, colour.RandomColorDegeneration,
                                      colour.RandomSaturation, colour.RandomHue, colour.RandomColorJitter, aug.RandomShear,
                                      image_mixing.MixUp)}}
