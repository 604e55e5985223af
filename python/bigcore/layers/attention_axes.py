"""MultiHeadAttention on inputs of rank > 3, (batch, a1, ..., an, features), and its attention_axes.

The projections act per position, so the positions are flattened to one axis (a view, no copy)
and the one fused attention op runs over the flattened sequence: attention over every axis is
that op as it is; attention over a strict subset of the axes is the same op with a block mask
(position p attends to p' only where they agree on every other axis), combined with the
attention_mask and the causal mask as Keras combines them. The scores come back in Keras's layout
(batch, *other axes, heads, *query attention axes, *key attention axes).

Keras's own rules for rank > 3, matched here:
- a negative axis counts from the input's rank (axis + rank): -2 is the last axis before the
  features; -1 (the features) and the batch axis are refused here (Keras attends over the heads
  or the batch there);
- the attention_mask is broadcast against the scores with axes inserted after its leading ones
  (before its last 2 * len(attention_axes)), so its leading axes are the batch's and the other
  axes';
- the causal mask is built from axis 1's lengths (a (1, T, S) triangle): it is defined for one
  attention axis only, whose lengths are axis 1's;
- the Keras masks (the query's, value_mask / key_mask or the value's and key's) are combined as
  (batch, ..., Tq, 1) & (batch, ..., 1, S): they fit the scores when attention runs over the last
  axis before the features only, and are refused otherwise.
Run-time lengths: attention over every axis, without masks or returned scores (the flattened length
is a derived symbol); the rest needs known lengths (the block mask is a constant).
"""

import numpy as np

from bigcore.layers import base, dims, tracing
from bigcore.layers.base import KerasTensor, shape_str


def normalize(axes, rank, name):
    """attention_axes for an input of `rank` (features last) as Keras reads them: None = every axis
    between the batch and the features; a negative axis + rank."""
    if axes is None:
        return tuple(range(1, rank - 1))
    out = tuple(a + rank if a < 0 else a for a in axes)
    if any(not 1 <= a <= rank - 2 for a in out) or len(set(out)) != len(out):
        raise ValueError(f"MultiHeadAttention {name!r}: attention_axes must name distinct axes of the input between "
                         f"the batch and the features (1 to {rank - 2}, or {2 - rank} to -2) for an input of rank "
                         f"{rank}. Received: attention_axes={tuple(axes)}")
    return out


def other_axes(axes, rank):
    """The non-batch, non-feature axes attention does not run over (each position on them independent)."""
    return tuple(a for a in range(1, rank - 1) if a not in axes)


def check_shapes(name, q, v, k, axes):
    """Keras's shape rules for query, value, key of rank >= 3 (full shapes, batch first)."""
    if not len(q) == len(v) == len(k):
        raise ValueError(f"MultiHeadAttention {name!r}: query, value and key must have the same rank. Received: "
                         f"query_shape={shape_str(q)}, value_shape={shape_str(v)}, key_shape={shape_str(k)}")
    for a in range(1, len(v) - 1):
        if v[a] is not None and k[a] is not None and v[a] != k[a]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={shape_str(v)} and key_shape={shape_str(k)}")
    for a in other_axes(axes, len(q)):
        if q[a] is not None and v[a] is not None and q[a] != v[a]:
            raise ValueError(f"MultiHeadAttention {name!r}: query and value must have the same length on axis {a}, "
                             f"which attention does not run over (attention_axes={axes}). Received: "
                             f"query_shape={shape_str(q)}, value_shape={shape_str(v)}")


def check_call(layer, named, use_causal_mask, scores):
    """Refuses what Keras does not define (or defines by accident) for inputs of rank > 3: the Keras
    masks, a causal mask over several axes or over an axis whose lengths are not axis 1's; and
    what bigcore does not run with run-time lengths."""
    q, v = named["query"], named["value"]
    rank = len(q.shape)
    axes = normalize(layer.attention_axes, rank, layer.name)
    if any(dims.is_dim(d) for d in q._dims[:-1] + v._dims[:-1]):
        extra = [what for what, on in (("attention over a subset of the axes", len(axes) < rank - 2),
                                       ("an attention_mask", "attention_mask" in named),
                                       ("use_causal_mask=True", use_causal_mask),
                                       ("return_attention_scores=True", scores)) if on]
        if extra:
            raise ValueError(f"MultiHeadAttention {layer.name!r}: inputs of rank {rank} with run-time lengths "
                             f"({shape_str(q.shape)}, {shape_str(v.shape)}) run with attention over every axis and "
                             f"no masks or scores only; this call has {', '.join(extra)}. Give the Input fixed "
                             "lengths")
    masked = [n for n in ("value_mask", "key_mask") if n in named]
    masked += [f"{n}'s mask" for n in ("query", "value", "key") if n in named and named[n]._mask is not None]
    if masked and axes != (rank - 2,):
        raise ValueError(f"MultiHeadAttention {layer.name!r}: Keras masks ({', '.join(masked)}) on inputs of rank "
                         f"{rank} are supported with attention over the last axis before the features only "
                         f"(attention_axes=({rank - 2},)), where Keras's (batch, ..., Tq, 1) & (batch, ..., 1, S) "
                         f"fits the scores; got attention_axes={axes}. Pass an attention_mask instead")
    if use_causal_mask:
        a = axes[0]
        if len(axes) != 1:
            raise ValueError(f"MultiHeadAttention {layer.name!r}: use_causal_mask=True with several attention axes "
                             f"({axes}) is not defined (Keras's causal mask is (1, T, S) over axis 1)")
        lengths = {q._dims[a - 1], v._dims[a - 1], q._dims[0], v._dims[0]}
        if a != 1 and (len(lengths) != 1 or any(dims.is_dim(d) for d in lengths)):
            raise ValueError(f"MultiHeadAttention {layer.name!r}: use_causal_mask=True over axis {a}: Keras builds the "
                             "causal mask from axis 1's lengths, so bigcore needs the query's and value's known lengths "
                             f"on axis {a} equal to axis 1's. Received: query_shape={shape_str(q.shape)}, "
                             f"value_shape={shape_str(v.shape)}")


def scores_dims(q_dims, v_dims, axes, heads):
    """The scores' non-batch axes: (*other axes, heads, *query attention axes, *key attention axes)."""
    rank = len(q_dims) + 1
    return (tuple(q_dims[a - 1] for a in other_axes(axes, rank)) + (heads,)
            + tuple(q_dims[a - 1] for a in axes) + tuple(v_dims[a - 1] for a in axes))


def flat(lengths):
    """The flattened length of these axes (an int, or a run-time Dim)."""
    out = 1
    for d in lengths:
        out = out * d if isinstance(out, int) and isinstance(d, int) else dims.mul(out, d)
    return out


def _block(lq, lk, axes, causal):
    """(*lq, *lk) bool: query position i may see key position j where they agree on every axis
    outside `axes` (and, causal, j <= i on the one attention axis)."""
    n = len(lq)
    keep = np.ones(tuple(lq) + tuple(lk), bool)
    for a in range(1, n + 1):
        if a in axes and not causal:
            continue
        i = np.arange(lq[a - 1]).reshape([-1 if b == a - 1 else 1 for b in range(2 * n)])
        j = np.arange(lk[a - 1]).reshape([-1 if b == n + a - 1 else 1 for b in range(2 * n)])
        keep &= (i == j) if a not in axes else (i >= j)
    return keep


def _traced(prog, layer, inputs, fn):
    """Records fn(ops, *placeholders) with bigcore.ops and lowers it here; inputs: (KerasTensor, id)
    pairs; returns the native id of its result."""
    holders = [KerasTensor(kt.shape, kt.dtype, name=f"{layer.name}/{i}", dims=kt._dims, batched=kt._batched)
               for i, (kt, _) in enumerate(inputs)]
    trace = tracing.Trace(layer)
    try:
        with trace:
            y = fn(base._ops(), *holders)
        nodes = tracing.check_closed(layer, trace, {id(h) for h in holders}, [y])
        outs, _ = prog.lower_graph([(h, t) for h, (_, t) in zip(holders, inputs)], nodes, [y])
    finally:
        trace.discard()
    return outs[0], y


def _padded_attention_mask(layer, kt, lq, lk, axes, others):
    """The attention_mask's shape with Keras's inserted axes: (batch or 1, *other axes, *query
    attention axes, *key attention axes), each 1 or the length."""
    full, k = kt.full_dims, len(axes)
    lead = len(full) - 2 * k
    target = ((dims.BATCH,) + tuple(lq[a - 1] for a in others) + tuple(lq[a - 1] for a in axes)
              + tuple(lk[a - 1] for a in axes))
    if not 0 <= lead <= 1 + len(others):
        raise ValueError(f"MultiHeadAttention {layer.name!r}: attention_mask of shape {shape_str(kt.shape)} "
                         f"does not fit the scores of attention_axes={axes}: it must be (batch, *other axes, *query "
                         "attention axes, *key attention axes) or drop leading axes (Keras inserts them before the "
                         "attention axes); per-head masks are not supported")
    padded = tuple(full[:lead]) + (1,) * (1 + len(others) - lead) + tuple(full[lead:])
    for got, want in zip(padded, target):
        if got != 1 and got != want:
            raise ValueError(f"MultiHeadAttention {layer.name!r}: attention_mask of shape {shape_str(kt.shape)} does "
                             f"not broadcast to {shape_str((None,) + target[1:])} (batch, *other axes, *query attention "
                             "axes, *key attention axes)")
    return padded


def lower_mask(prog, layer, q, v, axes, causal, amask=None, qmask=None, kmasks=()):
    """The native id of the (batch, Tq, S) mask of the flattened attention (or -1 for none): the block
    mask of `axes`, the causal mask, the attention_mask broadcast as Keras broadcasts it, and the
    Keras masks of the query (batch, *query axes) and of the value / key (batch, *value axes), which
    Keras defines for attention over the last axis only (check_call). amask, qmask: (KerasTensor,
    native id) or None; kmasks: such pairs."""
    rank = len(q.shape)
    lq, lk = q._dims[:-1], v._dims[:-1]
    subset = len(axes) < rank - 2
    kmasks = list(kmasks)
    if amask is None and qmask is None and not kmasks and not subset and not causal:
        return -1
    if any(dims.is_dim(d) for d in lq + lk):
        raise ValueError(f"MultiHeadAttention {layer.name!r}: inputs of rank {rank} with run-time lengths "
                         f"({shape_str(q.shape)}, {shape_str(v.shape)}) are supported with attention over every axis "
                         "and no masks only; give the Input fixed lengths")
    keep = _block(lq, lk, axes, causal)
    pq, pk = flat(lq), flat(lk)
    k, others = len(axes), other_axes(axes, rank)
    n = len(others)
    inputs = ([amask] if amask is not None else []) + ([qmask] if qmask is not None else []) + kmasks
    batched = any(kt._batched for kt, _ in inputs)
    if amask is not None:
        padded = _padded_attention_mask(layer, amask[0], lq, lk, axes, others)
        # axes of the padded mask: 0 batch, 1..n the other axes, then the query's and the key's attention
        # axes, then n new ones for the key's other axes; reordered to (batch, query's a1.., key's a1..)
        src_q = {a: 1 + i for i, a in enumerate(others)} | {a: 1 + n + i for i, a in enumerate(axes)}
        src_k = {a: 1 + n + 2 * k + i for i, a in enumerate(others)} | {a: 1 + n + k + i for i, a in enumerate(axes)}
        order = [0] + [src_q[a] for a in range(1, rank - 1)] + [src_k[a] for a in range(1, rank - 1)]
    ones = (1,) * (rank - 2)

    def build(ops, *ms):
        ms = list(ms)
        m = ops._constant(keep)
        if amask is not None:
            a = ops.reshape(ops.cast(ms.pop(0), "bool"), (None if amask[0]._batched else 1,) + padded[1:] + (1,) * n)
            m = ops.logical_and(ops.transpose(a, order), m)
        if qmask is not None:  # Keras: expand_dims(query_mask, -1); here over the key's every axis
            m = ops.logical_and(ops.reshape(ops.cast(ms.pop(0), "bool"), (None,) + tuple(lq) + ones), m)
        for _ in kmasks:  # Keras: expand_dims(value_mask, -2); here over the query's every axis (keep pairs them)
            m = ops.logical_and(ops.reshape(ops.cast(ms.pop(0), "bool"), (None,) + ones + tuple(lk)), m)
        return ops.reshape(m, (None if batched else 1, pq, pk) if batched or inputs else (pq, pk))
    out, y = _traced(prog, layer, inputs, build)
    if batched:
        return out
    full = prog.tensor(KerasTensor(None, y.dtype, dims=(pq, pk)))
    prog.native.add_prim("broadcast_to", [out], [full], {})
    return full


def lower_scores(prog, layer, probs, q, v, axes, heads, out_kt):
    """The op's (batch, heads, Tq, S) probabilities of the flattened attention in Keras's layout:
    the block diagonal of the other axes, heads after them."""
    rank = len(q.shape)
    lq, lk = q._dims[:-1], v._dims[:-1]
    others, n = other_axes(axes, rank), rank - 2
    probs_kt = KerasTensor(None, dims=(heads, flat(lq), flat(lk)))
    keep = _block(lq, lk, axes, False) if others else None

    def build(ops, p):
        # (batch, heads, query's a1..an, key's a1..an)
        x = ops.reshape(p, (None, heads) + tuple(lq) + tuple(lk))
        if others:  # the block diagonal: sum over the key's other axes of x where they equal the query's
            x = ops.sum(x * ops.cast(ops._constant(keep), x.dtype), axis=tuple(2 + n + a - 1 for a in others))
        # now (batch, heads, query's a1..an, key's attention axes in axis order)
        kept = [a for a in range(1, rank - 1) if a in axes]
        order = ([0] + [2 + a - 1 for a in others] + [1] + [2 + a - 1 for a in axes]
                 + [2 + n + kept.index(a) for a in axes])
        return ops.transpose(x, order)
    if not others and tuple(axes) == tuple(sorted(axes)):
        return prog.view(probs, out_kt)
    if any(dims.is_dim(d) for d in lq + lk):
        raise ValueError(f"MultiHeadAttention {layer.name!r}: return_attention_scores=True on inputs of rank {rank} "
                         "with run-time lengths is supported with attention over every axis in order only")
    return _traced(prog, layer, [(probs_kt, probs)], build)[0]
