"""Keras 3's RandAugment, channels last: num_ops rounds, each applying one of eleven augmentation
layers (drawn once per batch and round, uniformly) to the whole batch. The eleven are bigcore's own
layers made with Keras's arguments (factor for shear, translation, rotation, brightness, colour
degeneration, contrast, sharpness and solarization; posterization to max(1, int(8 * upper)) bits;
AutoContrast and Equalization), each run in every round and the drawn one selected, as Keras's;
a layer drawn twice applies its draws twice. Identity at inference; an eager call augments
(Keras's call() default training=True).
"""

from bigcore.layers.image_augmentation import (RandomBrightness, RandomContrast, RandomRotation, RandomShear,
                                               RandomTranslation)
from bigcore.layers.image_color_augmentation import (AutoContrast, RandomColorDegeneration, RandomPosterization,
                                                     Solarization, checked_range)
from bigcore.layers.image_composed_augmentation import Equalization, RandomSharpness, _Composed, keras_factor
from bigcore.layers.image_resizing import INTERPOLATIONS, check_choice
from bigcore.layers.registry import register

_MASK = 0x7FFFFFFFFFFFFFFF


@register
class RandAugment(_Composed):
    AUGMENT_LAYERS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                      "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                      "solarization", "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.value_range = checked_range(value_range)
        if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
            raise ValueError(f"Invalid value for argument `num_ops`. Expected a non-negative integer. "
                             f"Received: num_ops={num_ops!r}")
        self.num_ops = num_ops
        self.factor = keras_factor(factor, "factor")
        self.interpolation = check_choice(interpolation, "interpolation", INTERPOLATIONS)
        f, vr = self.factor, value_range
        seeds = iter(None if seed is None else (seed * 1000003 + k + 1) & _MASK for k in range(16))
        self._augmenters = [
            RandomShear(f, f, interpolation=interpolation, seed=next(seeds)),
            RandomTranslation(f, f, interpolation=interpolation, seed=next(seeds)),
            RandomRotation(f, interpolation=interpolation, seed=next(seeds)),
            RandomBrightness(f, value_range=vr, seed=next(seeds)),
            RandomColorDegeneration(f, value_range=vr, seed=next(seeds)),
            RandomContrast(f, value_range=vr, seed=next(seeds)),
            RandomSharpness(f, value_range=vr, seed=next(seeds)),
            RandomPosterization(max(1, int(8 * f[1])), value_range=vr, seed=next(seeds)),
            Solarization(f, f, value_range=vr, seed=next(seeds)),
            AutoContrast(value_range=vr),
            Equalization(value_range=vr),
        ]

    def _augment(self, ops, x, B, H, W, C):
        n = len(self._augmenters)
        for r in range(self.num_ops):
            pick = ops.floor(self._uniform(ops, (1, 1, 1, 1), 0.0, 1.0, r) * n)
            pick = ops.minimum(pick, float(n - 1))  # (u < 1, but float32 rounding of u * n may reach n)
            out = x
            for k, layer in enumerate(self._augmenters):
                out = ops.where(pick == float(k), layer(x, training=True), out)
            x = out
        return x

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation, "seed": self.seed}
