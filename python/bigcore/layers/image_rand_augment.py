"""Keras 3's RandAugment and AugMix, channels last, traced from bigcore.ops and bigcore's own layers.

RandAugment: num_ops rounds, each applying one of eleven augmentation layers (drawn once per batch
and round, uniformly) to the whole batch. AugMix: num_chains chains of chain_depth slots, each slot
one of its layers or none (drawn once per batch and slot), the chains mixed by Dirichlet(alpha)
weights and the result with the image by a Beta(alpha, alpha) weight, clipped to value_range (one
draw per batch, as Keras's). The layers are bigcore's own, made with Keras's arguments (factor for
shear, translation, rotation, brightness, colour degeneration, contrast, sharpness and
solarization; posterization to max(1, int(8 * upper)) bits; AutoContrast and Equalization); every
one runs in every slot and the drawn one is selected, as Keras's RandAugment does (a program has no
branch): AugMix at its defaults runs 9 x 11 layers a step where Keras's runs the 9 drawn (16 images
of 64 x 64: about 2.4 s and 2.5 GB a training step on 2 cores; RandAugment 0.5 s). Identity at
inference; an eager call augments (Keras's call() default training=True).
"""

import numpy as np

from bigcore.layers.image_augmentation import (RandomBrightness, RandomContrast, RandomRotation, RandomShear,
                                               RandomTranslation)
from bigcore.layers.image_color_augmentation import (AutoContrast, RandomColorDegeneration, RandomPosterization,
                                                     Solarization, checked_range)
from bigcore.layers.image_composed_augmentation import Equalization, RandomSharpness, _Composed, keras_factor
from bigcore.layers.image_resizing import INTERPOLATIONS, check_choice
from bigcore.layers.registry import register

_MASK = 0x7FFFFFFFFFFFFFFF
# Keras's order (AugMix's all_ops list; its first seven without all_ops)
_NAMES = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
          "auto_contrast", "equalization", "random_brightness", "random_color_degeneration", "random_contrast",
          "random_sharpness")


def _augmenters(f, vr, interpolation, seed):
    """Keras's sub-layers of RandAugment and AugMix by name, each on a stream of its own."""
    seeds = iter(None if seed is None else (seed * 1000003 + k + 1) & _MASK for k in range(16))
    made = {
        "random_shear": RandomShear(f, f, interpolation=interpolation, seed=next(seeds)),
        "random_translation": RandomTranslation(f, f, interpolation=interpolation, seed=next(seeds)),
        "random_rotation": RandomRotation(f, interpolation=interpolation, seed=next(seeds)),
        "random_brightness": RandomBrightness(f, value_range=vr, seed=next(seeds)),
        "random_color_degeneration": RandomColorDegeneration(f, value_range=vr, seed=next(seeds)),
        "random_contrast": RandomContrast(f, value_range=vr, seed=next(seeds)),
        "random_sharpness": RandomSharpness(f, value_range=vr, seed=next(seeds)),
        "random_posterization": RandomPosterization(max(1, int(8 * f[1])), value_range=vr, seed=next(seeds)),
        "solarization": Solarization(f, f, value_range=vr, seed=next(seeds)),
        "auto_contrast": AutoContrast(value_range=vr),
        "equalization": Equalization(value_range=vr),
    }
    return {name: made[name] for name in RandAugment.AUGMENT_LAYERS}


def _select(ops, pick, options):
    """options[pick] (pick a (1, 1, 1, 1) float tensor of an index), by where over all of them."""
    out = options[-1]
    for k, y in enumerate(options[:-1]):
        out = ops.where(pick == float(k), y, out)
    return out


def _pick(layer, ops, n, draw):
    """An index uniform in [0, n), one per batch."""
    return ops.minimum(ops.floor(layer._uniform(ops, (1, 1, 1, 1), 0.0, 1.0, draw) * n), float(n - 1))


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
        self._augmenters = list(_augmenters(self.factor, value_range, interpolation, seed).values())

    def _augment(self, ops, x, B, H, W, C):
        for r in range(self.num_ops):
            options = [a(x, training=True) for a in self._augmenters]
            x = _select(ops, _pick(self, ops, len(options), r), options)
        return x

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation, "seed": self.seed}


def gamma_draw(layer, ops, shape, alpha, draw, rounds=12):
    """Gamma(alpha, 1) of the given shape in the program: Marsaglia and Tsang's method (alpha < 1:
    Gamma(alpha + 1) U^(1 / alpha)), its rejection unrolled to `rounds` candidates (each accepted
    with probability > 0.95; all rejected: the mode d, with probability < 1e-15). Uses the layer's
    uniform draws draw + 1 .. draw + 2 rounds + 1 and normal draws draw .. draw + rounds - 1."""
    a = alpha + 1.0 if alpha < 1.0 else float(alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out, done = None, None
    for k in range(rounds):
        z = layer._normal(ops, shape, draw + k)
        u = layer._uniform(ops, shape, 0.0, 1.0, draw + 2 * k + 1)
        v = ops.power(1.0 + c * z, 3.0)
        vs = ops.maximum(v, 1e-30)
        ok = ops.logical_and(v > 0.0, ops.log(ops.maximum(u, 1e-30)) < 0.5 * z * z + d - d * vs + d * ops.log(vs))
        if out is None:
            out, done = ops.where(ok, d * vs, d), ok
        else:
            out = ops.where(ops.logical_and(ok, ops.logical_not(done)), d * vs, out)
            done = ops.logical_or(done, ok)
    if alpha < 1.0:
        u = layer._uniform(ops, shape, 0.0, 1.0, draw + 2 * rounds + 1)
        out = out * ops.power(ops.maximum(u, 1e-30), 1.0 / alpha)
    return out


@register
class AugMix(_Composed):
    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kw):
        super().__init__(seed, data_format, **kw)
        self.value_range = checked_range(value_range)
        for name, v in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Invalid value for argument `{name}`. Expected a positive integer. "
                                 f"Received: {name}={v!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"Invalid value for argument `alpha`. Expected a positive number (the Dirichlet and "
                             f"Beta concentration). Received: alpha={alpha!r}")
        self.num_chains, self.chain_depth, self.alpha, self.all_ops = num_chains, chain_depth, alpha, bool(all_ops)
        self.factor = keras_factor(factor, "factor")
        self.interpolation = check_choice(interpolation, "interpolation", INTERPOLATIONS)
        names = _NAMES if self.all_ops else _NAMES[:7]
        # one set per slot: Keras draws each slot's transformation apart (a layer called twice in one
        # program would repeat its draws)
        self._slots = []
        for k in range(num_chains * chain_depth):
            made = _augmenters(self.factor, value_range, interpolation,
                               None if seed is None else (seed * 1000003 + 7919 * (k + 1)) & _MASK)
            self._slots.append([made[n] for n in names])

    def _augment(self, ops, x, B, H, W, C):
        one = (1, 1, 1, 1)
        base_draw = 1000 + self.num_chains * self.chain_depth  # the gamma draws, after the slots' picks
        g = [gamma_draw(self, ops, one, self.alpha, base_draw + 100 * i) for i in range(self.num_chains + 2)]
        total = g[0]
        for t in g[1:self.num_chains]:
            total = total + t
        w = g[-2] / (g[-2] + g[-1])  # Beta(alpha, alpha)
        aug = None
        for i in range(self.num_chains):
            y = x
            for j in range(self.chain_depth):
                slot = self._slots[i * self.chain_depth + j]
                options = [a(y, training=True) for a in slot] + [y]  # the last: no layer
                y = _select(ops, _pick(self, ops, len(slot) + 1, i * self.chain_depth + j), options)
            term = (g[i] / total) * y
            aug = term if aug is None else aug + term
        lo, hi = self.value_range
        return ops.clip(w * x + (1.0 - w) * aug, float(lo), float(hi))

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": self.factor, "alpha": self.alpha,
                "all_ops": self.all_ops, "interpolation": self.interpolation, "seed": self.seed}
