"""Keras's AdditiveAttention (Bahdanau-style): scores[b, t, s] = sum_d scale_d tanh(q[b, t, d] + k[b, s, d]).

Its call() records bigcore.ops through the tensor-ops hook, so it lowers as a traced custom layer
does (the (batch, Tq, Tv, dim) sum is materialized: the layer serves the small recurrent
encoder-decoder models it is written for). Masks as Keras 3 applies them
(keras/src/layers/attention/attention.py): keys the value mask blanks get -1e9 before the softmax,
the causal mask keeps s <= t, and output rows the query mask blanks are 0.
"""

from bigcore import _random
from bigcore.layers import base
from bigcore.layers.base import Layer, shape_str
from bigcore.layers.registry import register


@register
class AdditiveAttention(Layer):
    """Called on [query, value] or [query, value, key], mask=[query_mask, value_mask] (default: the
    inputs' Keras masks); use_scale: a trainable scale per feature (glorot_uniform)."""

    supports_masking = True

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kw):
        super().__init__(**kw)
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ValueError(f"AdditiveAttention: dropout must be a float in [0, 1). Received: dropout={dropout!r}")
        self.use_scale, self.dropout, self.seed = bool(use_scale), float(dropout), seed
        self._stream = seed if seed is not None else _random.next_stream()
        self.scale = None
        self._returns_scores = False  # the latest call's return_attention_scores (compute_output_shape)

    def __call__(self, inputs, *args, **kwargs):
        self._returns_scores = bool(kwargs.get("return_attention_scores", False))
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        shapes = self._validate(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (shapes[0][-1],), "glorot_uniform")
        self.built = True

    def _validate(self, shapes):
        if not isinstance(shapes, (list, tuple)) or not 2 <= len(shapes) <= 3 or \
                not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError("AdditiveAttention layer must be called on a list of inputs, namely [query, value] or "
                             f"[query, value, key]. Received: {shapes}")
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) == 3 else v
        if any(len(s) != 3 for s in (q, v, k)) or q[-1] is None or q[-1] != k[-1] or \
                (v[1] is not None and k[1] is not None and v[1] != k[1]):
            raise ValueError("AdditiveAttention takes 3-D (batch, steps, features) query, value and key, query and key "
                             f"of the same features, value and key of the same steps; got "
                             f"{[shape_str(s) for s in (q, v, k)]}")
        return q, v, k

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        ops = base._ops()
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(f"AdditiveAttention layer mask must be a list, namely [query_mask, value_mask]. "
                             f"Received: mask={mask}.")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask, v_mask = (mask[0], mask[1]) if mask else (None, None)
        terms = ops.tanh(ops.expand_dims(q, -2) + ops.expand_dims(k, -3))  # (batch, Tq, Tv, dim)
        scores = ops.sum(terms * self.scale if self.scale is not None else terms, axis=-1)
        keep = None
        if v_mask is not None:
            keep = ops.expand_dims(ops.cast(v_mask, "bool"), -2)  # (batch, 1, Tv)
        if use_causal_mask:
            steps = ops.shape(scores)
            causal = ops.expand_dims(ops.expand_dims(ops.arange(steps[-2]), -1) >= ops.arange(steps[-1]), 0)
            keep = causal if keep is None else ops.logical_and(keep, causal)
        if keep is not None:
            scores = ops.where(keep, scores, scores - 1.0e9)
        weights = ops.softmax(scores, axis=-1)
        if self.dropout > 0:
            weights = ops.dropout(weights, self.dropout, seed=self._stream)
        out = ops.matmul(weights, v)
        if q_mask is not None:
            out = ops.where(ops.expand_dims(ops.cast(q_mask, "bool"), -1), out, 0.0)
        if return_attention_scores:
            weights._mask = None  # Keras: the scores carry no mask (the ops would pass the query's on)
            return out, weights
        return out

    def compute_output_shape(self, input_shape):
        q, v, _ = self._validate(input_shape)
        out = tuple(q[:-1]) + (v[-1],)
        return [out, tuple(q[:-1]) + (v[1],)] if self._returns_scores else out

    def compute_mask(self, inputs, mask=None):
        m = mask[0] if mask else None
        return [m, None] if self._returns_scores else m  # the scores carry no mask

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout}
