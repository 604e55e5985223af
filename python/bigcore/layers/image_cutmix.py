"""Keras 3's CutMix, on arrays (a data pipeline: `ds.map(layer)` or `layer(batch)`), in NumPy.

Each image gets a rectangle of another image of the batch (a random permutation); the rectangle's
sides are sqrt(1 - l) times the image's, l ~ Beta(a, a) per image with a ~ U(factor) + 1e-6 per
batch, at a uniform offset; on a dict {"images", "labels"} the labels are mixed as Keras's, with
weight 1 - the rectangle's area fraction. A model cannot hold it: bigcore's programs keep the batch
axis in place, and the permutation moves images across it (no native op does that yet), so a call
on a symbolic tensor is refused. The draws come from a NumPy generator seeded by `seed` (or by
bigcore's stream), new on each call as Keras's seed generator.
"""

import numpy as np

from bigcore.layers.base import KerasTensor
from bigcore.layers.image_augmentation import _Augmentation
from bigcore.layers.image_color_augmentation import no_bounding_boxes
from bigcore.layers.image_composed_augmentation import keras_factor
from bigcore.layers.image_resizing import channels_last
from bigcore.layers.registry import register


@register
class CutMix(_Augmentation):
    def __init__(self, factor=1.0, seed=None, data_format=None, bounding_box_format=None, **kw):
        no_bounding_boxes(self, bounding_box_format)
        super().__init__(seed, **kw)
        self.factor = keras_factor(factor, "factor")
        self.data_format = channels_last(data_format)
        self._rng = np.random.default_rng(self._stream)

    def __call__(self, inputs, training=True, **kwargs):
        if isinstance(inputs, KerasTensor) or any(isinstance(v, KerasTensor) for v in (
                inputs.values() if isinstance(inputs, dict) else ())):
            raise NotImplementedError(
                f"CutMix {self.name!r} runs on arrays (a data pipeline: ds.map(layer), or layer(batch)), not inside "
                "a model: it moves images across the batch, which bigcore's model programs do not do")
        if kwargs:
            raise TypeError(f"CutMix takes `training` only. Received: {sorted(kwargs)}")
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"images", "labels"}
            if "images" not in inputs or unknown:
                raise ValueError(f"CutMix: a dict input holds 'images' and optionally 'labels'. Received keys: "
                                 f"{sorted(inputs)}")
            images = np.asarray(inputs["images"], np.float32)
            labels = None if "labels" not in inputs else np.asarray(inputs["labels"], np.float32)
        else:
            images, labels = np.asarray(inputs, np.float32), None
        if images.ndim not in (3, 4):
            raise ValueError(f"CutMix expects images of rank 3 or 4. Received: images.shape={images.shape}")
        if training and images.ndim == 4:
            images, labels = self._mix(images, labels)
        if isinstance(inputs, dict):
            return {**inputs, "images": images, **({} if labels is None else {"labels": labels})}
        return images

    def _mix(self, images, labels):
        B, H, W, _ = images.shape
        rng = self._rng
        alpha = rng.uniform(self.factor[0], self.factor[1]) + 1e-6
        lam = rng.beta(alpha, alpha, B)
        ratio = np.sqrt(1.0 - lam)
        inside = np.ones((B, H, W), bool)
        area = np.ones(B)
        for axis, length in ((2, W), (1, H)):
            side = ratio * length
            start = rng.uniform(0.0, 1.0, B) * (length - side)
            grid = np.arange(length, dtype=np.float64)
            ok = (grid[None] >= start[:, None]) & (grid[None] < (start + side)[:, None])
            inside &= ok[:, None, :] if axis == 2 else ok[:, :, None]
            area *= side / length
        perm = rng.permutation(B)
        out = np.where(inside[..., None], images[perm], images).astype(np.float32)
        if labels is not None:
            if len(labels) != B:
                raise ValueError(f"CutMix: {len(labels)} labels for {B} images")
            w = (1.0 - area).reshape((B,) + (1,) * (labels.ndim - 1))
            labels = (w * labels + (1.0 - w) * labels[perm]).astype(np.float32)
        return out, labels

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "factor": self.factor, "seed": self.seed}
