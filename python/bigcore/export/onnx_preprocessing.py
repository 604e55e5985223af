"""ONNX rules for the preprocessing layers ONNX has ops for: Normalization, Rescaling,
CategoryEncoding, Discretization, IntegerLookup / StringLookup through ai.onnx.ml's
LabelEncoder, and FeatureSpace's TFDIdentity / TFDConcat. Their outputs are float32, as the
native program receives them (an Embedding after them casts back to int64 ids). TextVectorization, Hashing and HashedCrossing have no ONNX form
(string splitting, FarmHash): a model holding them is refused by name.
"""

import numpy as np

from bigcore.layers.preprocessing import (CategoryEncoding, Discretization, IntegerLookup, Normalization, Rescaling,
                                          StringLookup)
from bigcore.layers.preprocessing.feature_space_layers import TFDConcat, TFDIdentity

ML_DOMAIN = "ai.onnx.ml"


def _float(g, x, hint):
    return g.op("Cast", [x], hint, to=g.onnx.TensorProto.FLOAT)


def normalization(g, layer, ins, node):
    n = layer.name
    mean, var = layer._stats()
    std = np.maximum(np.sqrt(var), np.float32(1e-7)).astype(np.float32)  # the divisor layer.call uses
    x = _float(g, ins[0], f"{n}/x")
    mean, std = g.const(mean[0].astype(np.float32), f"{n}/mean"), g.const(std[0], f"{n}/std")
    if layer.invert:
        return [g.op("Add", [mean, g.op("Mul", [x, std], f"{n}/scaled")], n)]
    return [g.op("Div", [g.op("Sub", [x, mean], f"{n}/centered"), std], n)]


def rescaling(g, layer, ins, node):
    n = layer.name
    x = _float(g, ins[0], f"{n}/x")
    y = g.op("Mul", [x, g.const(np.asarray(layer.scale, np.float32), f"{n}/scale")], f"{n}/scaled")
    return [g.op("Add", [y, g.const(np.asarray(layer.offset, np.float32), f"{n}/offset")], n)]


def _encode(g, ids, mode, depth, in_shape, n):
    """int64 ids -> float32 one_hot / multi_hot / count, as layers/preprocessing/base.py encodes."""
    if mode == "int":
        return _float(g, ids, n)
    if mode == "one_hot" and len(in_shape) > 1 and in_shape[-1] == 1:
        ids = g.op("Squeeze", [ids, g.int64([-1], f"{n}/last")], f"{n}/squeezed")
    values = g.const(np.array([0.0, 1.0], np.float32), f"{n}/off_on")
    hot = g.op("OneHot", [ids, g.int64(depth, f"{n}/depth"), values], f"{n}/one_hot" if mode != "one_hot" else n,
               axis=-1)
    if mode == "one_hot":
        return hot
    if mode == "multi_hot":
        if g.opset < 18:
            return g.op("ReduceMax", [hot], n, axes=[-2], keepdims=0)
        return g.op("ReduceMax", [hot, g.int64([-2], f"{n}/axes")], n, keepdims=0)
    return g.op("ReduceSum", [hot, g.int64([-2], f"{n}/axes")], n, keepdims=0)


def category_encoding(g, layer, ins, node):
    n = layer.name
    ids = g.op("Cast", [ins[0]], f"{n}/ids", to=g.onnx.TensorProto.INT64)
    return [_encode(g, ids, layer.output_mode, layer.num_tokens, node.inputs[0].shape, n)]


def discretization(g, layer, ins, node):
    """np.digitize(x, bins) = the number of boundaries <= x."""
    n = layer.name
    x = g.op("Unsqueeze", [_float(g, ins[0], f"{n}/x"), g.int64([-1], f"{n}/last")], f"{n}/x_col")
    bins = g.const(np.asarray(layer.bin_boundaries, np.float32), f"{n}/boundaries")
    above = g.op("Cast", [g.op("GreaterOrEqual", [x, bins], f"{n}/ge")], f"{n}/ge_int", to=g.onnx.TensorProto.INT64)
    ids = g.op("ReduceSum", [above, g.int64([-1], f"{n}/axes")], f"{n}/ids", keepdims=0)
    return [_encode(g, ids, layer.output_mode, layer._depth(), node.inputs[0].shape, n)]


def lookup(g, layer, ins, node):
    """LabelEncoder (ai.onnx.ml) from the vocabulary to its indices; an unknown token -> the OOV index."""
    n = layer.name
    if layer.invert or layer.num_oov_indices != 1 or layer.output_mode == "tf_idf" or (
            layer.mask_token is not None and layer.output_mode != "int"):
        raise NotImplementedError(f'ONNX export of layer "{n}" ({type(layer).__name__}): only a forward lookup with '
                                  "one OOV index is exported (no invert, tf_idf, hashed OOV buckets or masked "
                                  "encodings)")
    vocab = layer.get_vocabulary()
    keys = [t for i, t in enumerate(vocab) if i >= layer._token_start()]
    values = list(range(layer._token_start(), len(vocab)))
    if layer.mask_token is not None:
        keys, values = [layer.mask_token] + keys, [0] + values
    g.ml_used = True
    attrs = {"values_int64s": values, "default_int64": layer._oov_start()}
    if isinstance(layer, StringLookup):
        attrs["keys_strings"] = keys
        x = ins[0]
    else:
        attrs["keys_int64s"] = [int(k) for k in keys]
        x = g.op("Cast", [ins[0]], f"{n}/tokens", to=g.onnx.TensorProto.INT64)
    ids = g.op("LabelEncoder", [x], f"{n}/ids", domain=ML_DOMAIN, **attrs)
    return [_encode(g, ids, layer.output_mode, layer._depth() if layer.output_mode != "int" else 0,
                    node.inputs[0].shape, n)]


def tfd_identity(g, layer, ins, node):
    return [_float(g, ins[0], layer.name)]


def tfd_concat(g, layer, ins, node):
    n = layer.name
    xs = [_float(g, x, f"{n}/in{i}") for i, x in enumerate(ins)]
    return [g.op("Concat", xs, n, axis=layer.axis)]


RULES = {TFDIdentity: tfd_identity, TFDConcat: tfd_concat, Normalization: normalization, Rescaling: rescaling, CategoryEncoding: category_encoding,
         Discretization: discretization, IntegerLookup: lookup, StringLookup: lookup}
INT_INPUTS = (CategoryEncoding, IntegerLookup)  # a model input they alone read is exported as int64
