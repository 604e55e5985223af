"""keras.ops.dot_product_attention. Where the fused attention kernel (cpp/kernels/attention/, the
attention layers' kernel) can express a call exactly, it is one `dot_product_attention` primitive
(cpp/ops/prim_attention.cpp): no bias, and a mask (if any) that is the same for every head, as
(T, S), (B, 1, T, S) or (B, 1, 1, S) masks are. Its forward never holds the whole (B, N, T, S)
score matrix and its backward is the kernel's. Anything else (a bias, a mask that differs
between heads, key/value batches that broadcast) is composed from the primitives (batched matmul,
softmax, where), with their gradients. Either way it runs at once on arrays or records nodes on
symbolic tensors, like every op.

A query whose every key is masked gets the mean of the values, as Keras's large negative fill
gives. Its gradient is the exact derivative on both paths: it reaches the values only, where
torch's autograd (Keras on torch) also sends one into the scores, whose effect was rounded away."""

import math

import numpy as np

from bigcore.layers.base import KerasTensor, Weight
from bigcore.layers.dims import BATCH
from bigcore.ops import nn as _nn
from bigcore.ops import node as _node
from bigcore.ops import numpy as _np_ops
from bigcore.ops.core import shape as _shape

# Keras's stand-in for -inf in masked logits (keras.src.backend.*.nn._get_large_negative, float32):
# a fully masked row then gives uniform weights, as in Keras, instead of NaNs.
_LARGE_NEGATIVE = float(np.finfo(np.float32).max) * -0.7


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """softmax(query . key * scale + bias, masked) . value, per head.

    query (B, T, N, H); key and value (B, S, K, H) with N a multiple of K (K < N: grouped-query
    attention, each key/value head serving N // K query heads, as Keras repeats them); bias and
    mask (boolean, True = attend) broadcastable to (B, N, T, S); scale defaults to 1 / sqrt(H);
    is_causal keeps key s <= query t (with an explicit mask, both apply). Returns (B, T, N, H)."""
    if flash_attention:
        raise ValueError("dot_product_attention: flash_attention=True is not supported on bigcore's CPU path (Keras "
                         f"needs float16/bfloat16 on a GPU for it). Received: flash_attention={flash_attention!r}")
    if attn_logits_soft_cap is not None:
        raise ValueError("dot_product_attention: attn_logits_soft_cap is only supported by Keras on JAX TPUs. "
                         f"Received: attn_logits_soft_cap={attn_logits_soft_cap!r}")
    qs, ks, vs = _shape(query), _shape(key), _shape(value)
    if len(qs) != 4 or len(ks) != 4 or len(vs) != 4:
        raise ValueError("`dot_product_attention` only supports 4D inputs. "
                         f"Received: query.shape={qs}, key.shape={ks}, value.shape={vs}.")
    n, k = qs[2], ks[2]
    if tuple(ks[1:3]) != tuple(vs[1:3]):
        raise ValueError(f"dot_product_attention: key and value must have the same length and heads. Received: "
                         f"key.shape={ks}, value.shape={vs}")
    if qs[3] != ks[3]:
        raise ValueError(f"dot_product_attention: query and key must have the same head size H. Received: "
                         f"query.shape={qs}, key.shape={ks}")
    if n is None or k is None or qs[3] is None:
        raise ValueError(f"dot_product_attention: the head axes must be known. Received: query.shape={qs}, "
                         f"key.shape={ks}")
    if n % k:
        raise ValueError(f"dot_product_attention: the query heads ({n}) must be a multiple of the key/value heads "
                         f"({k})")
    scale = 1.0 / math.sqrt(qs[3]) if scale is None else float(scale)
    if bias is None and _fusable(query, key, value, mask):
        if mask is not None and not isinstance(mask, (KerasTensor, Weight)):
            mask = np.asarray(mask).astype(bool)
        args = [query, key, value] + ([] if mask is None else [mask])
        return _node.apply("dot_product_attention", args, {"scale": scale, "is_causal": bool(is_causal)})
    if k != n:  # grouped-query: each key/value head serves n // k consecutive query heads
        key = _np_ops.repeat(key, n // k, axis=2)
        value = _np_ops.repeat(value, n // k, axis=2)
    q = _np_ops.transpose(query, (0, 2, 1, 3))                               # (B, N, T, H)
    logits = _np_ops.matmul(q, _np_ops.transpose(key, (0, 2, 3, 1))) * scale  # (B, N, T, S)
    if bias is not None:
        logits = logits + bias
    keep = None
    if mask is not None:
        keep = mask if isinstance(mask, KerasTensor) else np.asarray(mask).astype(bool)
    if is_causal:
        t, s = qs[1], ks[1]
        if t is None or s is None:
            raise ValueError("dot_product_attention: is_causal=True needs the query and key lengths known. Received: "
                             f"query.shape={qs}, key.shape={ks}")
        causal = np.tril(np.ones((t, s), bool))
        keep = causal if keep is None else _np_ops.logical_and(keep, causal)
    if keep is not None:
        logits = _np_ops.where(keep, logits, _LARGE_NEGATIVE)
    probs = _nn.softmax(logits, axis=-1)
    out = _np_ops.matmul(probs, _np_ops.transpose(value, (0, 2, 1, 3)))     # (B, N, T, H)
    return _np_ops.transpose(out, (0, 2, 1, 3))


def _full_shape(x):
    """Every axis, dims.BATCH first for a batched symbolic tensor (ops.shape shows None there)."""
    if isinstance(x, KerasTensor):
        return tuple(x.full_dims)
    return tuple(x.shape) if isinstance(x, Weight) else np.shape(x)


def _fusable(query, key, value, mask):
    """Whether the fused primitive computes exactly this call: one batch length for query, key and
    value, and a mask (if any) that broadcasts to (B, N, T, S) with length 1 along the heads, its
    batch axis (if it has one) where B is."""
    q, k, v = _full_shape(query), _full_shape(key), _full_shape(value)
    if not q[0] == k[0] == v[0]:
        return False
    if mask is None:
        return True
    m = _full_shape(mask)
    if len(m) > 4 or (BATCH in m and (len(m) != 4 or m[0] is not BATCH)):
        return False
    m = (1,) * (4 - len(m)) + tuple(m)
    want = (q[0], q[2], q[1], k[1])
    return m[1] == 1 and all(a == 1 or a == b for a, b in zip(m, want))
