"""The layout rules keras.ops.image's functions share: data_format, one image or a batch, and
the channels-last batch each works on (with how to undo it)."""

from bigcore import _tensor
from bigcore.layers.dims import Dim
from bigcore.ops import numpy as _np_ops
from bigcore.ops.core import convert_to_tensor as _convert
from bigcore.ops.core import shape as _shape
from bigcore.ops.node import is_symbolic as _is_symbolic


def _format(data_format):
    fmt = "channels_last" if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first'. Received: "
                         f"data_format={data_format!r}")
    return fmt


def _ints(value, n, name):
    vals = (value,) * n if isinstance(value, int) else tuple(value)
    if len(vals) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in vals):
        raise ValueError(f"`{name}` must be a positive int or a tuple of {n} positive ints. Received: {name}={value!r}")
    return vals


def _result(x, was_array):
    return _tensor.wrap(x) if was_array else x


def _channels_last_batch(images, n_spatial, data_format, what):
    """images as (batch, *spatial, channels), with how to undo it: (x, unbatched, channels_first)."""
    if not _is_symbolic([images]):
        images = _convert(images)
    rank = len(_shape(images))
    if rank not in (n_spatial + 1, n_spatial + 2):
        raise ValueError(f"{what}: expected images of rank {n_spatial + 1} (one image) or {n_spatial + 2} (a batch). "
                         f"Received: images.shape={tuple(_shape(images))}")
    x, unbatched = images, rank == n_spatial + 1
    if unbatched:
        x = _np_ops.expand_dims(x, 0)
    first = _format(data_format) == "channels_first"
    if first:
        x = _np_ops.transpose(x, [0] + list(range(2, n_spatial + 2)) + [1])
    spatial = list(_shape(x))[1:n_spatial + 1]
    if any(isinstance(s, Dim) or s is None for s in spatial):
        raise ValueError(f"{what}: the spatial sizes must be known when the model is built. Received: "
                         f"images.shape={tuple(_shape(images))}")
    return x, unbatched, first


def _restore(x, unbatched, first, n_spatial):
    if first:
        x = _np_ops.transpose(x, [0, n_spatial + 1] + list(range(1, n_spatial + 1)))
    return _np_ops.squeeze(x, 0) if unbatched else x
