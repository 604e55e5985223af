"""GlobalAveragePooling1D and GlobalMaxPooling1D: (batch, steps, features) -> (batch, features).

The average honours the input's Keras mask (the mean of the kept steps; a sample with none kept
gives 0 / 0, as Keras); the max ignores it, as Keras does. Neither passes a mask on.
"""

from bigcore.layers.base import Layer, shape_str
from bigcore.layers.masking import TakesMask
from bigcore.layers.registry import register


class _GlobalPooling1D(Layer):
    _max = False
    supports_variable_length = True  # its op reads the steps per call (cpp/ops/global_pool.cpp)

    def __init__(self, data_format=None, keepdims=False, **kw):
        super().__init__(**kw)
        fmt = "channels_last" if data_format is None else str(data_format).lower()
        if fmt not in ("channels_last", "channels_first"):
            raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                             f"Received: data_format={data_format!r}")
        self.data_format = fmt
        self.keepdims = bool(keepdims)

    def _check_input(self, shape):
        if len(shape) != 3:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim=3, '
                             f"found ndim={len(shape)}. Full shape received: {shape_str(shape)}")
        if (shape[-1] if self.data_format == "channels_last" else shape[1]) is None:
            raise ValueError(f'Layer "{self.name}" needs a known number of channels; got shape {shape_str(shape)}')

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return (input_shape[0], 1, channels) if self.data_format == "channels_last" else (input_shape[0], channels, 1)

    def compute_mask(self, inputs, masks):
        return None

    def lower(self, prog, inputs, outputs):
        kt = prog.node.inputs[0]
        channels = kt.shape[-1] if self.data_format == "channels_last" else kt.shape[1]
        mask = -1 if self._max else prog.input_mask_id()
        out = prog.tensor(outputs[0])
        prog.native.add_global_pool_1d(inputs[0], mask, out, channels, self._max, self.data_format == "channels_first")
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@register
class GlobalAveragePooling1D(TakesMask, _GlobalPooling1D):
    supports_masking = True  # reads the mask; passes none on (compute_mask)


@register
class GlobalMaxPooling1D(_GlobalPooling1D):
    _max = True


GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
