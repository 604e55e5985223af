"""Regularizing noise, the identity at inference (cpp/ops/noise.h): GaussianNoise, GaussianDropout,
AlphaDropout, SpatialDropout1D/2D/3D. In training each draws from bigcore's counter-based RNG keyed by
(seed, the layer's stream, step), so a seeded run is reproducible for any thread count. All pass a
mask on, as Keras's do.
"""

from bigcore import _random
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.convolutional import standardize_data_format
from bigcore.layers.core import SPATIAL_DROPOUT
from bigcore.layers.registry import register

_GAUSSIAN, _GAUSSIAN_DROPOUT, _ALPHA_DROPOUT, _SPATIAL_DROPOUT = 0, 1, 2, SPATIAL_DROPOUT


def _rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                         f"Received: rate={rate!r}")
    return float(rate)


class _Noise(Layer):
    supports_masking = True
    supports_variable_length = True  # the op reads the values per sample per call (cpp/ops/noise.cpp)
    kind = None

    def __init__(self, seed=None, **kw):
        super().__init__(**kw)
        self.seed = seed
        self._stream = seed if seed is not None else _random.next_stream()

    def _amount(self):
        return self.rate

    def _channels(self, kt):
        return 0

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        prog.native.add_noise(inputs[0], out, self.kind, self._amount(), self._channels(prog.node.inputs[0]),
                              self._stream)
        return [out]


@register
class GaussianNoise(_Noise):
    """Training: x + N(0, stddev^2) per value."""
    kind = _GAUSSIAN

    def __init__(self, stddev, seed=None, **kw):
        super().__init__(seed, **kw)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"Invalid value received for argument `stddev`. Expected a float value >= 0. "
                             f"Received: stddev={stddev!r}")
        self.stddev = float(stddev)

    def _amount(self):
        return self.stddev

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@register
class GaussianDropout(_Noise):
    """Training: x * N(1, rate / (1 - rate)) per value."""
    kind = _GAUSSIAN_DROPOUT

    def __init__(self, rate, seed=None, **kw):
        super().__init__(seed, **kw)
        self.rate = _rate(rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register
class AlphaDropout(_Noise):
    """Training: dropped values become SELU's negative saturation, then an affine map keeps the mean
    and variance (Keras's constants)."""
    kind = _ALPHA_DROPOUT

    def __init__(self, rate, noise_shape=None, seed=None, **kw):
        super().__init__(seed, **kw)
        if noise_shape is not None:
            raise ValueError("AlphaDropout: noise_shape is not supported")
        self.rate = _rate(rate)
        self.noise_shape = None

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class _SpatialDropout(_Noise):
    """Training: whole channels dropped (one draw per sample and channel), the rest scaled by 1 / (1 - rate)."""
    kind = _SPATIAL_DROPOUT
    ndim = None

    def __init__(self, rate, seed=None, **kw):
        super().__init__(seed, **kw)
        self.rate = _rate(rate)

    def _check_input(self, shape):
        if len(shape) != self.ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.ndim}, found ndim={len(shape)}. Full shape received: {shape_str(shape)}")

    def _channels(self, kt):
        return kt.shape[-1]

    def get_config(self):  # Keras's keys: no `trainable` (its constructor takes none)
        cfg = {k: v for k, v in super().get_config().items() if k != "trainable"}
        return {**cfg, "rate": self.rate, "seed": self.seed}


@register
class SpatialDropout1D(_SpatialDropout):
    ndim = 3


@register
class SpatialDropout2D(_SpatialDropout):
    ndim = 4

    def __init__(self, rate, data_format=None, seed=None, **kw):
        super().__init__(rate, seed, **kw)
        self.data_format = standardize_data_format(data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@register
class SpatialDropout3D(_SpatialDropout):
    ndim = 5

    def __init__(self, rate, data_format=None, seed=None, **kw):
        super().__init__(rate, seed, **kw)
        self.data_format = standardize_data_format(data_format)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
