"""keras.ops.adaptive_average_pool / adaptive_max_pool (also keras.ops.nn): 1-D to 3-D, channels last
or first, Keras's bins (layers/adaptive_pooling.py) on the native op (cpp/ops/adaptive_pool.h).

On symbolic tensors each records one `AdaptivePoolOp` node; on arrays it runs the same program through
a one-op traced call (conv.py's _OnArrays). The spatial sizes must be known when traced.
"""

import numpy as np

from bigcore.layers.adaptive_pooling import (adaptive_data_format, adaptive_out_dims, adaptive_output_size,
                                             lower_adaptive_pool)
from bigcore.layers.base import KerasTensor, Node
from bigcore.layers.dims import BATCH
from bigcore.ops.conv import _ndim, _OnArrays
from bigcore.ops.node import OpLayer, _tensor_for, is_symbolic, register_kind, to_array, to_symbolic


class AdaptivePoolOp(OpLayer):
    """kind adaptive_average_pool or adaptive_max_pool; attrs: output_size (list), data_format."""

    supports_variable_length = False  # the bins are fixed when traced

    def _dims(self, x):
        return adaptive_out_dims(tuple(x._dims), self.attrs["output_size"], self.attrs["data_format"], self.kind)

    def record(self, xs):
        if len(xs) != 1 or not isinstance(xs[0], KerasTensor):
            raise TypeError(f"op {self.kind!r}: takes one symbolic tensor here")
        x = xs[0]
        if not x._batched:
            raise ValueError(f"{self.kind}: inputs must have the batch axis; this tensor has none "
                             f"(shape {tuple(x.shape)})")
        out = _tensor_for((BATCH,) + self._dims(x), "float32", self.name)
        node = Node(self, xs, [out])
        out.node, out.index = node, 0
        self._inbound.append(node)
        return [out]

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        lower_adaptive_pool(prog, inputs[0], out, tuple(prog.node.inputs[0]._dims), self.attrs["output_size"],
                            self.attrs["data_format"], self.kind == "adaptive_max_pool")
        return [out]


for _kind in ("adaptive_average_pool", "adaptive_max_pool"):
    register_kind(_kind, AdaptivePoolOp)


def _adaptive(kind, inputs, output_size, data_format):
    rank = _ndim(inputs) - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"{kind}: inputs must have ndim=3, 4 or 5 (batch, spatial axes, channels). "
                         f"Received an input of rank {rank + 2}")
    attrs = {"output_size": list(adaptive_output_size(output_size, rank, kind)),
             "data_format": adaptive_data_format(data_format)}
    if not is_symbolic([inputs]):
        x = np.asarray(to_array(inputs), np.float32)
        return np.asarray(_OnArrays(lambda t: AdaptivePoolOp(kind, attrs).record([t])[0])(x))
    return AdaptivePoolOp(kind, attrs).record([to_symbolic(inputs)])[0]


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Keras's ops.adaptive_average_pool: each output cell the mean of its bin."""
    return _adaptive("adaptive_average_pool", inputs, output_size, data_format)


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Keras's ops.adaptive_max_pool: each output cell the max of its bin (a NaN wins)."""
    return _adaptive("adaptive_max_pool", inputs, output_size, data_format)
