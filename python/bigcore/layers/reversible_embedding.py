"""ReversibleEmbedding: an Embedding that can also project hidden states back onto its vocabulary
(Keras's tied input/output embedding of language models)."""

import numpy as np

from bigcore import _tensor
from bigcore.layers import base
from bigcore.layers.base import KerasTensor
from bigcore.layers.embedding import Embedding
from bigcore.layers.registry import register


@register
class ReversibleEmbedding(Embedding):
    """Keras's: call(ids) is the Embedding; call(x, reverse=True) is x @ embeddings.T (tie_weights)
    or x @ reverse_embeddings (untied, a (output_dim, input_dim) weight), optionally soft-capped as
    tanh(logits / cap) * cap. Its call() is traced (the forward direction records Embedding's
    native op), so both directions train in one program."""

    _traces_own_call = True  # base._traces_call: trace call() although the class is built in

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kw):
        # bigcore computes in float32: another reverse dtype would be a silently different answer
        if reverse_dtype not in (None, "float32"):
            raise NotImplementedError(f"ReversibleEmbedding computes in float32: reverse_dtype must be None or "
                                      f"'float32'. Received: reverse_dtype={reverse_dtype!r}")
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool) or not logit_soft_cap > 0):
            raise ValueError(f"`logit_soft_cap` must be a positive number or None. Received: "
                             f"logit_soft_cap={logit_soft_cap!r}")
        self.tie_weights = bool(tie_weights)
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        self.reverse_embeddings = None
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kw)

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights and self.reverse_embeddings is None:
            self.reverse_embeddings = self.add_weight("reverse_embeddings", (self.output_dim, self.input_dim),
                                                      self.embeddings_initializer, None, True)

    def __call__(self, inputs, *args, **kwargs):
        out = super().__call__(inputs, *args, **kwargs)
        reverse = kwargs.get("reverse", args[0] if args else False)
        if self.mask_zero and not reverse and isinstance(out, np.ndarray) and not isinstance(inputs, KerasTensor):
            out._keras_mask = _tensor.wrap(np.asarray(inputs) != 0)  # an eager forward call's mask, as Keras sets it
        return out

    def call(self, inputs, reverse=False):
        if not isinstance(reverse, bool):
            raise TypeError(f"ReversibleEmbedding: `reverse` must be True or False. Received: reverse={reverse!r}")
        if not reverse:
            out = super().call(inputs)
            if self.mask_zero and isinstance(out, KerasTensor):  # Keras's set_keras_mask, recorded as an op
                out._mask = base._ops().not_equal(inputs, 0)
            return out
        if self.lora_enabled:
            raise NotImplementedError("ReversibleEmbedding: reverse=True with lora enabled is not supported")
        if inputs.shape[-1] != self.output_dim:
            raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True takes inputs whose last axis is "
                             f"output_dim={self.output_dim}. Received: shape={tuple(inputs.shape)}")
        ops = base._ops()
        kernel = ops.transpose(self._embeddings) if self.tie_weights else self.reverse_embeddings
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = float(self.logit_soft_cap)
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    def compute_mask(self, inputs, masks=None):
        """Keras's: none from compute_mask; the forward call sets its mask itself, the reverse has none."""
        return None

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.input_dim,)
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}
