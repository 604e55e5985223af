"""AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D (Keras 3.15): pool each spatial axis
to a fixed `output_size`, on the native op (cpp/ops/adaptive_pool.h). Output cell i of an axis of n
inputs and m outputs pools inputs [floor(i*n/m), ceil((i+1)*n/m)) (Keras's bins, as torch's), so
bins overlap where m does not divide n. Channels last or first; the spatial sizes must be known.
"""

from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register


def adaptive_output_size(output_size, rank, what):
    """Keras's output_size forms: an int (every axis) or a tuple/list of `rank` ints."""
    if isinstance(output_size, bool):
        raise TypeError(f"{what}: `output_size` must be an integer or a tuple of {rank} integers. "
                        f"Received: {output_size!r}")
    if isinstance(output_size, int):
        sizes = (output_size,) * rank
    elif isinstance(output_size, (tuple, list)):
        if len(output_size) != rank:
            raise ValueError(f"{what}: for {rank}D input, `output_size` tuple must have length {rank}. "
                             f"Received: {output_size}")
        sizes = tuple(output_size)
    else:
        raise TypeError(f"{what}: `output_size` must be an integer or a tuple of {rank} integers. "
                        f"Received: {output_size} of type {type(output_size)}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ValueError(f"{what}: `output_size` must hold positive integers. Received: {output_size}")
    return sizes


def adaptive_data_format(data_format):
    fmt = "channels_last" if data_format is None else data_format
    if fmt not in ("channels_first", "channels_last"):
        raise ValueError(f"Invalid data_format: {fmt}. Expected 'channels_first' or 'channels_last'.")
    return fmt


def adaptive_out_dims(in_dims, output_size, data_format, what):
    """The non-batch output dims for the input's non-batch dims; checks they are known."""
    rank = len(output_size)
    if len(in_dims) != rank + 1 or not all(isinstance(n, int) for n in in_dims):
        raise ValueError(f"{what}: expects an input of rank {rank + 2} (batch, {rank} spatial axes and the "
                         f"channels) with known sizes. Received an input of shape (None, "
                         f"{', '.join(str(n) for n in in_dims)})")
    if data_format == "channels_last":
        return tuple(output_size) + (in_dims[-1],)
    return (in_dims[0],) + tuple(output_size)


def lower_adaptive_pool(prog, x, out, in_dims, output_size, data_format, is_max):
    """Adds the native op: x, out tensor ids; in_dims the input's non-batch dims."""
    first = data_format == "channels_first"
    spatial = list(in_dims[1:] if first else in_dims[:-1])
    channels = in_dims[0] if first else in_dims[-1]
    prog.native.add_adaptive_pool(x, out, spatial, list(output_size), channels, first, is_max)


class _AdaptivePooling(Layer):
    rank = None
    is_max = False

    def __init__(self, output_size, data_format=None, **kw):
        super().__init__(**kw)
        self.output_size = adaptive_output_size(output_size, self.rank, type(self).__name__)
        self.data_format = adaptive_data_format(data_format)

    def _check_input(self, shape):
        if len(shape) != self.rank + 2 or any(s is None for s in shape[1:]):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={self.rank + 2} with known sizes, found shape={shape_str(shape)}")

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.output_size, input_shape[-1])
        return (input_shape[0], input_shape[1], *self.output_size)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        lower_adaptive_pool(prog, inputs[0], out, tuple(prog.node.inputs[0].shape[1:]), self.output_size,
                            self.data_format, self.is_max)
        return [out]

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "data_format": self.data_format}


@register
class AdaptiveAveragePooling1D(_AdaptivePooling):
    rank = 1


@register
class AdaptiveAveragePooling2D(_AdaptivePooling):
    rank = 2


@register
class AdaptiveAveragePooling3D(_AdaptivePooling):
    rank = 3


@register
class AdaptiveMaxPooling1D(_AdaptivePooling):
    rank, is_max = 1, True


@register
class AdaptiveMaxPooling2D(_AdaptivePooling):
    rank, is_max = 2, True


@register
class AdaptiveMaxPooling3D(_AdaptivePooling):
    rank, is_max = 3, True
