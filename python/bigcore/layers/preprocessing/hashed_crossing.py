"""HashedCrossing: crosses of scalar categorical features by the hashing trick, with the bins
TensorFlow's tf.sparse.cross_hashed gives (the op Keras's HashedCrossing calls), so bigcore's
bins equal Keras's for the same inputs.

cross_hashed's hash of one row: start from the key 0xDECAFCAFFE; for each feature in order, fold
in the feature's 64-bit value with FingerprintCat64, where a string's value is its Fingerprint64
and an integer's value is the integer itself (as uint64); the bin is that hash mod num_bins.
"""

import numpy as np

from bigcore.layers.base import KerasTensor
from bigcore.layers.preprocessing import hashes
from bigcore.layers.preprocessing.base import InputSideLayer, check_int, encode_categorical
from bigcore.layers.registry import register

_HASH_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key
_M = (1 << 64) - 1


def _feature_values(x):
    """Each element's 64-bit value as cross_hashed reads it: Fingerprint64 of a string's UTF-8 bytes,
    an integer's two's-complement bits."""
    if x.dtype.kind in "iub":
        return [int(v) & _M for v in x.reshape(-1).tolist()]
    if x.dtype.kind in "US" or x.dtype == object:
        out, memo = [], {}
        for v in x.reshape(-1).tolist():
            if isinstance(v, str):
                v = v.encode("utf-8")
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                out.append(int(v) & _M)
                continue
            elif not isinstance(v, bytes):
                raise ValueError("All `HashedCrossing` inputs should have an integer or string dtype. "
                                 f"Received a value of type {type(v).__name__}")
            h = memo.get(v)
            if h is None:
                h = memo[v] = hashes.fingerprint64(v)
            out.append(h)
        return out
    raise ValueError(f"All `HashedCrossing` inputs should have an integer or string dtype. Received: dtype={x.dtype}")


def cross_hashed(columns, num_bins):
    """The bin of each row of the equally shaped arrays `columns` (TensorFlow's cross_hashed)."""
    values = [_feature_values(c) for c in columns]
    bins = []
    for row in zip(*values):
        h = _HASH_KEY
        for v in row:
            h = hashes.fingerprint_cat64(h, v)
        bins.append(h % num_bins)
    return np.asarray(bins, np.int64).reshape(columns[0].shape)


@register
class HashedCrossing(InputSideLayer):
    """A tuple of scalar features (each of shape (), (batch,) or (batch, 1), integers or strings) ->
    the bin of their cross in [0, num_bins) (output_mode "int", int64) or its one-hot (float32)."""

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if output_mode not in ("int", "one_hot"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ('int', 'one_hot'). "
                             f"Received: output_mode={output_mode}")
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend (it returns a SparseTensor); "
                             "bigcore's HashedCrossing returns dense arrays")
        self.num_bins = check_int("num_bins", num_bins, 1)
        self.output_mode, self.sparse = output_mode, False
        self.output_dtype = "int64" if output_mode == "int" else "float32"

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"`HashedCrossing` should be called on a list or tuple of inputs. Received: inputs={inputs}")
        if len(inputs) < 2:
            raise ValueError(f"`HashedCrossing` should be called on at least two inputs. Received: inputs={inputs}")

    def __call__(self, inputs, **kwargs):
        self._check_inputs(inputs)
        bad = [x.dtype for x in inputs if isinstance(x, KerasTensor) and not (
            str(x.dtype) == "string" or str(x.dtype).startswith(("int", "uint", "bool")))]
        if bad:  # refused when the model is built, not at its first batch
            raise ValueError(f"All `HashedCrossing` inputs should have an integer or string dtype. Received dtypes: "
                             f"{[str(x.dtype) for x in inputs]}")
        return super().__call__(list(inputs), **kwargs)

    def call(self, inputs):
        self._check_inputs(inputs)
        xs = [np.asarray(x) for x in inputs]
        shape = xs[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError("All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or `(batch_size, 1)`. "
                             f"Received shapes: {[x.shape for x in xs]}")
        if any(x.shape != shape for x in xs[1:]):
            raise ValueError(f"All `HashedCrossing` inputs should have equal shape. Received shapes: "
                             f"{[x.shape for x in xs]}")
        ids = cross_hashed(xs, self.num_bins)
        if self.output_mode == "int":
            return ids
        out = encode_categorical(ids, "one_hot", self.num_bins)
        return out[0] if ids.ndim == 0 else out

    def compute_output_shape(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) < 2 or not all(isinstance(s, (tuple, list)) for s in shapes):
            raise ValueError(f"Expected as input a list/tuple of at least 2 tensors. Received input_shape={input_shape}")
        first = tuple(shapes[0])
        if any(tuple(s)[-1:] != first[-1:] for s in shapes[1:]):
            raise ValueError(f"Expected the input tensors to have identical shapes. Received input_shape={input_shape}")
        if self.output_mode == "int":
            return first
        if first and first[-1] == 1:
            return first[:-1] + (self.num_bins,)
        return first + (self.num_bins,)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse}
