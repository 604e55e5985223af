"""Hashing: values -> bins by FarmHash Fingerprint64 (or SipHash with a salt), as Keras's Hashing."""

import numpy as np

from bigcore.layers.preprocessing import hashes
from bigcore.layers.preprocessing.base import InputSideLayer, check_int, encode_categorical
from bigcore.layers.registry import register


def as_strings(values):
    """The bytes TensorFlow hashes for each value: UTF-8 for strings, the decimal digits of integers
    (floats are truncated to integers first, as Keras casts them to int64)."""
    a = np.asarray(values)
    if a.dtype.kind in "f":
        a = a.astype(np.int64)
    if a.dtype.kind in "iub":
        return np.vectorize(lambda v: str(int(v)).encode(), otypes=[object])(a) if a.size else a.astype(object)
    if a.dtype.kind in "US" or a.dtype == object:
        def encode(v):
            if isinstance(v, bytes):
                return v
            if isinstance(v, str):
                return v.encode("utf-8")
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                return str(int(v)).encode()
            raise TypeError(f"Hashing expects strings or integers; received a value of type {type(v).__name__}")
        return np.vectorize(encode, otypes=[object])(a) if a.size else a.astype(object)
    raise TypeError(f"Hashing expects strings or numbers; received an array of dtype {a.dtype}")


def hash_buckets(values, num_buckets, salt=None):
    """Fingerprint64(v) % num_buckets (salt None) or SipHash-2-4 keyed by salt % num_buckets, each
    distinct value hashed once."""
    keys = as_strings(values)
    flat = keys.reshape(-1)
    uniq, inverse = np.unique(flat, return_inverse=True) if flat.size else (flat, np.zeros(0, np.int64))
    if salt is None:
        buckets = [hashes.fingerprint64(v) % num_buckets for v in uniq]
    else:
        buckets = [hashes.siphash24(salt[0], salt[1], v) % num_buckets for v in uniq]
    return np.asarray(buckets, np.int64)[inverse.reshape(-1)].reshape(keys.shape)


def parse_salt(salt, what):
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(isinstance(s, int) for s in salt):
        return [int(s) & ((1 << 64) - 1) for s in salt]
    if isinstance(salt, int) and not isinstance(salt, bool):
        return [salt & ((1 << 64) - 1)] * 2
    raise ValueError(f"The `salt` argument for `{what}` can only be a tuple of size 2 integers, or a single integer. "
                     f"Received: salt={salt}.")


@register
class Hashing(InputSideLayer):
    """Strings or integers -> a bin in [0, num_bins) (with mask_value: that value -> 0, others in
    [1, num_bins)); output_mode "int" or an encoding (one_hot, multi_hot, count) of the bins."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if num_bins is None or (isinstance(num_bins, (int, np.integer)) and num_bins <= 0):
            raise ValueError(f"The `num_bins` for `Hashing` cannot be `None` or non-positive values. "
                             f"Received: num_bins={num_bins}.")
        self.num_bins = check_int("num_bins", num_bins, 1)
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError("Invalid value for argument `output_mode`. Expected one of ('int', 'one_hot', "
                             f"'multi_hot', 'count'). Received: output_mode={output_mode}")
        if sparse:
            raise ValueError("Hashing: sparse=True needs TensorFlow's sparse tensors; bigcore returns dense arrays")
        self.mask_value, self.output_mode, self.sparse = mask_value, output_mode, False
        self.salt = parse_salt(salt, "Hashing")
        self.strong_hash = self.salt is not None
        self.output_dtype = "int64" if output_mode == "int" else "float32"

    def call(self, inputs):
        x = np.asarray(inputs)
        if self.output_mode == "one_hot" and x.ndim and x.shape[-1] == 1:
            x = x[..., 0]
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = x == self.mask_value
        ids = hash_buckets(x, bins, self.salt)
        if mask is not None:
            ids = np.where(mask, 0, ids + 1)
        if self.output_mode == "int":
            return ids
        return encode_categorical(ids, self.output_mode, self.num_bins)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        return tuple(input_shape[:-1]) + (self.num_bins,) if input_shape else (self.num_bins,)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                "output_mode": self.output_mode, "sparse": self.sparse}
