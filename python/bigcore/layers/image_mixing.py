"""Keras 3's MixUp on image batches (cpp/ops/image_mix.h): in training each image becomes
l x + (1 - l) x' with x' another image of the batch (a random permutation) and l ~ Beta(alpha,
alpha), drawn per image from bigcore's counter-based RNG (seed, the layer's stream, step); the
identity at inference. Keras mixes the labels too when called on a dict of images and labels: that
form is refused here (bigcore's layers take tensors; its fit does not route labels through layers).
"""

from bigcore.layers.image_augmentation import _Augmentation, _number
from bigcore.layers.image_color_augmentation import no_bounding_boxes
from bigcore.layers.image_resizing import channels_last
from bigcore.layers.registry import register


@register
class MixUp(_Augmentation):
    def __init__(self, alpha=0.2, data_format=None, seed=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(seed, **kw)
        if not _number(alpha) or alpha <= 0:
            raise ValueError(f"Invalid value for argument `alpha`. Expected a positive number (the Beta "
                             f"distribution's concentration). Received: alpha={alpha!r}")
        self.alpha = alpha
        self.data_format = channels_last(data_format)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            raise ValueError("MixUp: bigcore mixes image tensors only; a dict of images and labels (Keras's "
                             f"label mixing) is not supported. Received a dict with keys {sorted(inputs)}")
        return super().__call__(inputs, *args, **kwargs)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        prog.native.add_mixup(inputs[0], out, H * W * C, float(self.alpha), self._stream)
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "alpha": self.alpha, "seed": self.seed}
