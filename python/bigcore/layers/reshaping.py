"""Layers that move values without arithmetic: RepeatVector, Permute, ZeroPadding1D/2D/3D,
Cropping1D/2D/3D, UpSampling1D/2D (nearest)/3D. Each lowers to one native gather (cpp/ops/gather.h) whose per-sample
index map is the layer's own NumPy operation applied to the indices of a sample (padding: -1, a 0).
As in Keras, none of them passes a mask on.
"""

import math

import numpy as np

from bigcore.layers import dims as dims_module
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.convolutional import standardize_data_format, standardize_tuple
from bigcore.layers.image_resizing import INTERPOLATIONS
from bigcore.layers.registry import register


class _IndexMap(Layer):
    """A layer whose output is a fixed rearrangement of its input: subclasses give `_move(ids)`, the
    NumPy operation on one sample's (batch-free) array of value indices."""
    ndim = None  # the input rank Keras expects (batch included), or None for any
    # A layer that also takes run-time spatial sizes (None) gives `_lengths(spatial)`, its output's
    # spatial lengths (ints or layers/dims.py Dims) from the input's, and `_run_time_prims(widths)`,
    # the bigcore.ops primitives ((kind, attrs) in turn) that do its move on any size.
    _lengths = None

    @property
    def supports_variable_length(self):
        return self._lengths is not None

    def _check_input(self, shape):
        if self.ndim is not None and len(shape) != self.ndim:
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.ndim}, found ndim={len(shape)}. Full shape received: {shape_str(shape)}")
        if shape[-1] is None or (self._lengths is None and any(s is None for s in shape[1:])):
            known = "known channels" if self._lengths is not None else "known sizes"
            raise ValueError(f"{type(self).__name__} {self.name!r} needs {known}, got {shape_str(shape)}")

    def compute_output_shape(self, input_shape):
        if None in input_shape[1:-1]:  # a run-time size stays one (_lengths)
            spatial = self._lengths(tuple(dims_module.unknown() if n is None else n for n in input_shape[1:-1]))
            return (input_shape[0],) + tuple(dims_module.public(n) for n in spatial) + (input_shape[-1],)
        ids = np.zeros(tuple(input_shape[1:]), np.int8)
        return (input_shape[0],) + self._move(ids).shape

    def _output_dims(self, shape, xs):
        x = xs[0]
        if self._lengths is None or not any(dims_module.is_dim(d) for d in x._dims[:-1]):
            return super()._output_dims(shape, xs)
        return tuple(self._lengths(tuple(x._dims[:-1]))) + (x._dims[-1],)

    def _lower_run_time(self, prog, inputs, outputs):
        """The move as primitives on templates (their shapes resolve per call), through intermediate
        tensors whose lengths follow the same rules."""
        x, x_dims = inputs[0], tuple(prog.node.inputs[0]._dims)
        prims = self._run_time_prims()
        for i, (kind, attrs, lengths) in enumerate(prims):
            x_dims = tuple(lengths(x_dims[:-1])) + x_dims[-1:]
            if i == len(prims) - 1:
                out = prog.tensor(outputs[0])
            else:
                out = prog.native.add_shaped_tensor([~prog.symbol(d) if dims_module.is_dim(d) else d for d in x_dims],
                                                    False, True)
            prog.native.add_prim(kind, [x], [out], attrs)
            x = out
        return [x]

    def compute_mask(self, inputs, masks):
        return None

    def lower(self, prog, inputs, outputs):
        if None in prog.node.inputs[0].shape[1:]:
            return self._lower_run_time(prog, inputs, outputs)
        out = prog.tensor(outputs[0])
        shape = tuple(prog.node.inputs[0].shape[1:])
        ids = np.arange(math.prod(shape), dtype=np.int32).reshape(shape)
        prog.native.add_gather(inputs[0], out, self._move(ids).reshape(-1).tolist())
        return [out]


@register
class RepeatVector(_IndexMap):
    ndim = 2

    def __init__(self, n, **kw):
        super().__init__(**kw)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"RepeatVector: n must be positive. Received: n={n}")
        self.n = n

    def _move(self, ids):
        return np.broadcast_to(ids, (self.n,) + ids.shape)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register
class Permute(_IndexMap):
    def __init__(self, dims, **kw):
        super().__init__(**kw)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                             f"must be consecutive and start from 1. Received dims={dims}")

    def _check_input(self, shape):
        super()._check_input(shape)
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"Permute {self.name!r}: dims={self.dims} does not fit an input of shape {shape_str(shape)}")

    def _move(self, ids):
        return np.transpose(ids, [d - 1 for d in self.dims])

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


def _pairs(value, name, n=2):
    """Keras's n-D padding/cropping argument: an int, n ints (symmetric per axis) or n pairs."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((value, value),) * n
    if not hasattr(value, "__len__") or len(value) != n:
        raise ValueError(f"`{name}` should be either an int, a tuple of {n} ints or a tuple of {n} tuples of 2 ints. "
                         f"Received: {name}={value}.")
    return tuple(standardize_tuple(v, 2, f"{ordinal} entry of {name}", allow_zero=True)
                 for ordinal, v in zip(("1st", "2nd", "3rd"), value))


@register
class ZeroPadding1D(_IndexMap):
    ndim = 3

    def __init__(self, padding=1, data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.padding = standardize_tuple(padding, 2, "padding", allow_zero=True)

    def _move(self, ids):
        return np.pad(ids, (self.padding, (0, 0)), constant_values=-1)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


@register
class ZeroPadding2D(_IndexMap):
    ndim = 4

    def __init__(self, padding=(1, 1), data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.padding = _pairs(padding, "padding")

    def _move(self, ids):
        return np.pad(ids, self.padding + ((0, 0),), constant_values=-1)

    def _lengths(self, spatial):
        return tuple(dims_module.add(n, a + b) for n, (a, b) in zip(spatial, self.padding))

    def _run_time_prims(self):
        width = [[0, 0], *map(list, self.padding), [0, 0]]
        return [("pad", {"pad_width": width, "constant_values": 0.0}, self._lengths)]

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


@register
class ZeroPadding3D(_IndexMap):
    ndim = 5

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.padding = _pairs(padding, "padding", 3)

    def _move(self, ids):
        return np.pad(ids, self.padding + ((0, 0),), constant_values=-1)

    def _lengths(self, spatial):
        return tuple(dims_module.add(n, a + b) for n, (a, b) in zip(spatial, self.padding))

    def _run_time_prims(self):
        width = [[0, 0], *map(list, self.padding), [0, 0]]
        return [("pad", {"pad_width": width, "constant_values": 0.0}, self._lengths)]

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


@register
class Cropping1D(_IndexMap):
    ndim = 3

    def __init__(self, cropping=(1, 1), **kw):
        super().__init__(**kw)
        self.cropping = standardize_tuple(cropping, 2, "cropping", allow_zero=True)

    def _check_input(self, shape):
        super()._check_input(shape)
        if sum(self.cropping) >= shape[1]:
            raise ValueError(f"`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                             f"Received: input_shape={shape_str(shape)}, cropping={self.cropping}")

    def _move(self, ids):
        return ids[self.cropping[0]:ids.shape[0] - self.cropping[1]]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


@register
class Cropping2D(_IndexMap):
    ndim = 4

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.cropping = _pairs(cropping, "cropping")

    def _check_input(self, shape):
        super()._check_input(shape)
        if any(n is not None and sum(c) >= n for c, n in zip(self.cropping, shape[1:3])):
            raise ValueError(f"Values in `cropping` argument should be smaller than the corresponding spatial "
                             f"dimension of the input. Received: input_shape={shape_str(shape)}, "
                             f"cropping={self.cropping}")

    def _move(self, ids):
        (t, b), (le, r) = self.cropping
        return ids[t:ids.shape[0] - b, le:ids.shape[1] - r]

    def _lengths(self, spatial):  # a run-time size too small for the cropping fails when the model runs
        return tuple(dims_module.named(dims_module.slice_len(n, a, -b if b else None, 1), (
            f"{axis} of the output of Cropping2D {self.name!r} (an input with no more {axis} than the cropping, "
            f"{a + b})")) for n, (a, b), axis in zip(spatial, self.cropping, ("rows", "columns")))

    def _run_time_prims(self):
        start = [None, *(a for a, _ in self.cropping), None]
        stop = [None, *(-b if b else None for _, b in self.cropping), None]
        return [("slice", {"start": start, "stop": stop, "step": [1] * 4}, self._lengths)]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


@register
class Cropping3D(_IndexMap):
    ndim = 5

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.cropping = _pairs(cropping, "cropping", 3)

    def _check_input(self, shape):
        super()._check_input(shape)
        if any(sum(c) >= n for c, n in zip(self.cropping, shape[1:4])):
            raise ValueError(f"Values in `cropping` argument should be smaller than the corresponding spatial "
                             f"dimension of the input. Received: input_shape={shape_str(shape)}, "
                             f"cropping={self.cropping}")

    def _move(self, ids):
        return ids[tuple(slice(a, n - b) for (a, b), n in zip(self.cropping, ids.shape))]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


@register
class UpSampling1D(_IndexMap):
    ndim = 3

    def __init__(self, size=2, **kw):
        super().__init__(**kw)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        self.size = size

    def _move(self, ids):
        return np.repeat(ids, self.size, axis=0)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@register
class UpSampling2D(_IndexMap):
    ndim = 4

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.size = standardize_tuple(size, 2, "size")
        self.interpolation = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"UpSampling2D: bigcore supports interpolation 'nearest' and 'bilinear'. "
                             f"Received: interpolation={interpolation!r}")

    def _move(self, ids):
        return np.repeat(np.repeat(ids, self.size[0], axis=0), self.size[1], axis=1)

    def _check_input(self, shape):
        super()._check_input(shape)
        if self.interpolation != "nearest" and None in shape[1:3]:
            raise ValueError(f"UpSampling2D {self.name!r}: interpolation={self.interpolation!r} needs known image "
                             f"sizes, got {shape_str(shape)}; interpolation='nearest' takes run-time sizes")

    def _lengths(self, spatial):
        return tuple(dims_module.mul(n, k) for n, k in zip(spatial, self.size))

    def _run_time_prims(self):  # one repeat per axis: rows, then columns
        return [("repeat", {"repeats": self.size[0], "axis": 1}, lambda sp: (dims_module.mul(sp[0], self.size[0]), sp[1])),
                ("repeat", {"repeats": self.size[1], "axis": 2}, lambda sp: (sp[0], dims_module.mul(sp[1], self.size[1])))]

    def lower(self, prog, inputs, outputs):
        if self.interpolation == "nearest":  # a copy of each pixel: the gather of _IndexMap
            return super().lower(prog, inputs, outputs)
        # Keras: ops.image.resize to (H * size[0], W * size[1]); the Resizing layer's native op (the
        # whole image as its box), whose backward sends the gradient on
        out = prog.tensor(outputs[0])
        H, W, C = prog.node.inputs[0].shape[1:]
        box = [0, 0, H, W]
        prog.native.add_crop_resize(inputs[0], out, H, W, C, H * self.size[0], W * self.size[1],
                                    INTERPOLATIONS.index(self.interpolation), 0.0, box, box, False, 0)
        return [out]

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


@register
class UpSampling3D(_IndexMap):
    """Nearest neighbour, as Keras's UpSampling3D (it has no other interpolation)."""
    ndim = 5

    def __init__(self, size=(2, 2, 2), data_format=None, **kw):
        super().__init__(**kw)
        self.data_format = standardize_data_format(data_format)
        self.size = standardize_tuple(size, 3, "size")

    def _move(self, ids):
        for axis, n in enumerate(self.size):
            ids = np.repeat(ids, n, axis=axis)
        return ids

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}
