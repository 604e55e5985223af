"""Pooling layers on the native window kernels (cpp/ops/pool.h: one op over the 1-D/2-D and 3-D
geometries), channels last: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalAveragePooling2D/3D,
GlobalMaxPooling2D/3D (the 1-D global poolings: global_pooling.py).

"same" padding follows Keras's TensorFlow and JAX backends: padding never wins a max and is not
counted in an average. (Keras's torch backend pads the asymmetric case by repeating the edge, so
there its AveragePooling with padding="same" and an odd total padding counts the edge twice.)
"""

import math

from bigcore.layers.base import Layer, shape_str
from bigcore.layers.convolutional import (output_length, run_time_geometry_shape, run_time_output_dims,
                                          run_time_sizes_ok, standardize_data_format, standardize_padding,
                                          standardize_tuple, volume_geometry, window_geometry)
from bigcore.layers.registry import register

_MAX, _AVG = 0, 1


class _Pooling(Layer):
    rank = None
    mode = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kw):
        super().__init__(**kw)
        self.pool_size = standardize_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, self.rank, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)

    def _check_input(self, shape):
        # 1-D pooling takes a run-time length (Input(shape=(None, C))), 2-D run-time image sizes; the
        # channels, and 3-D sizes, must be known
        if (len(shape) != self.rank + 2 or shape[-1] is None or not run_time_sizes_ok(shape)
                or (self.rank == 3 and shape[1] is None)):
            hint = {1: " (1-D: all but the steps)", 2: " (2-D: all but height and width)", 3: ""}[self.rank]
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2} (batch, *spatial, channels) with known sizes"
                             f"{hint}, found shape={shape_str(shape)}")
        out = self.compute_output_shape(shape)
        if any(s is not None and s <= 0 for s in out[1:]):
            raise ValueError(f"{type(self).__name__} {self.name!r}: pool_size {self.pool_size} is larger than the "
                             f"input {shape_str(shape)} (padding='valid')")

    def compute_output_shape(self, input_shape):
        spatial = [output_length(n, k, s, 1, self.padding)
                   for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides)]
        return (input_shape[0],) + tuple(spatial) + (input_shape[-1],)

    @property
    def supports_variable_length(self):  # 1-D, 2-D: the op derives its geometry per call
        return self.rank < 3

    def _output_dims(self, shape, xs):
        return run_time_output_dims(super()._output_dims(shape, xs), xs[0], self.pool_size, self.strides,
                                    (1,) * self.rank, self.padding, self)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        if self.rank == 3:
            in_shape = prog.node.inputs[0].shape
            geom = volume_geometry(in_shape, self.compute_output_shape(in_shape), self.pool_size, self.strides,
                                   (1, 1, 1), self.padding)
            prog.native.add_pool3d(inputs[0], out, geom, self.mode)
            return [out]
        in_shape, var_pad = run_time_geometry_shape(prog.node.inputs[0].shape, self.pool_size, (1,) * self.rank,
                                                    self.padding)
        geom = window_geometry(in_shape, self.compute_output_shape(in_shape), self.pool_size, self.strides,
                               (1,) * self.rank, self.padding)
        prog.native.add_pool(inputs[0], out, geom, self.mode, var_pad)
        return [out]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


@register
class MaxPooling1D(_Pooling):
    rank, mode = 1, _MAX

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


@register
class MaxPooling2D(_Pooling):
    rank, mode = 2, _MAX

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


@register
class MaxPooling3D(_Pooling):
    rank, mode = 3, _MAX

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


@register
class AveragePooling1D(_Pooling):
    rank, mode = 1, _AVG

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


@register
class AveragePooling2D(_Pooling):
    rank, mode = 2, _AVG

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


@register
class AveragePooling3D(_Pooling):
    rank, mode = 3, _AVG

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


class _GlobalPooling(Layer):
    rank = None
    mode = None

    def __init__(self, data_format=None, keepdims=False, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    supports_variable_length = True  # run-time spatial sizes: the op reads the positions per call

    def _check_input(self, shape):
        if len(shape) != self.rank + 2 or shape[-1] is None:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2} with known channels, found shape={shape_str(shape)}")

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def compute_mask(self, inputs, masks):
        return None

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        kt = prog.node.inputs[0]
        mask = prog.input_mask_id() if self.supports_masking else -1
        spatial = kt.shape[1:-1]  # 0 positions: run-time sizes, which the op reads per call
        P = 0 if None in spatial else math.prod(spatial)
        prog.native.add_global_pool(inputs[0], out, mask, P, kt.shape[-1], self.mode)
        return [out]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@register
class GlobalAveragePooling2D(_GlobalPooling):
    rank, mode = 2, _AVG


@register
class GlobalMaxPooling2D(_GlobalPooling):
    rank, mode = 2, _MAX


@register
class GlobalAveragePooling3D(_GlobalPooling):
    rank, mode = 3, _AVG


@register
class GlobalMaxPooling3D(_GlobalPooling):
    rank, mode = 3, _MAX
