"""Embedding: integer ids -> vectors, with Keras's mask_zero."""

import numpy as np

from bigcore import constraints, initializers, regularizers
from bigcore.layers import base, lora
from bigcore.layers.base import KerasTensor, Layer
from bigcore.layers.registry import register


@register
class Embedding(Layer):
    supports_variable_length = True  # its op reads the length per call (models/lowering.py)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, weights=None, lora_rank=None,
                 lora_alpha=None, **kw):
        super().__init__(**kw)
        for name, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Both `input_dim` and `output_dim` should be positive. Received {name}={v!r}")
        if input_dim > 2 ** 24:  # ids travel as float32, exact up to 2**24
            raise ValueError(f"Embedding supports input_dim up to 2**24 = 16777216. Received: input_dim={input_dim}")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embeddings_initializer = initializers.get(
            "random_uniform" if embeddings_initializer == "uniform" else embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)  # native, after each update
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.embeddings = None
        self.lora_rank = lora_rank  # Keras: build() enables lora when the config gives a rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        if weights is not None:  # Keras: the initial table, (input_dim, output_dim), or a list of it
            self.build(None)
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1 else [weights])

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer,
                                          True, self.embeddings_constraint)
        self.built = True
        if self.lora_rank and not self.lora_enabled:
            self.enable_lora(self.lora_rank, self.lora_alpha)

    @property
    def embeddings(self):
        """The table Weight; with lora enabled, Keras's merged table E + (alpha / rank) a @ b (an array)."""
        if self.__dict__.get("lora_enabled"):
            return lora.merged(self, self._embeddings, self.lora_embeddings_a, self.lora_embeddings_b)
        return self.__dict__.get("_embeddings")

    @embeddings.setter
    def embeddings(self, value):
        self.__dict__["_embeddings"] = value

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Keras's: freezes the table and adds trainable lora_embeddings_a (input_dim, rank) and
        lora_embeddings_b (rank, output_dim)."""
        msg = ("Lora is incompatible with embedding constraints. In order to enable lora on this layer, remove the "
               "`embeddings_constraint` argument.") if self.embeddings_constraint else None
        self.lora_embeddings_a, self.lora_embeddings_b = lora.enable(
            self, self._embeddings, msg, rank, lora_alpha, a_initializer, b_initializer, (self.input_dim, rank),
            (rank, self.output_dim), ("lora_embeddings_a", "lora_embeddings_b"), self.embeddings_regularizer)

    def call_unbatched(self, ids):
        """Ids without a batch axis (ops.arange positions inside a custom call()): a gather from
        the table, recorded with bigcore.ops so that the program trains the table."""
        ops = base._ops()
        y = ops.take(self._embeddings, ids, axis=0)
        if self.lora_enabled:
            y = y + lora.scale(self) * ops.matmul(ops.take(self.lora_embeddings_a, ids, axis=0), self.lora_embeddings_b)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, masks=None):
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):  # a user's call() asks for the mask: an op of the trace
            return base._ops().not_equal(inputs, 0)
        if not isinstance(inputs, (list, tuple)) or not isinstance(inputs[0], KerasTensor):
            return np.asarray(inputs) != 0  # Keras's compute_mask(ids) on values: the non-padding ids
        return KerasTensor(inputs[0].shape, name=f"{self.name}/mask")

    compute_mask.on_values = True  # answers on arrays too (an eager call's _keras_mask: models/functional.py)

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        mask_kt = outputs[0]._mask
        mask = prog.tensor(mask_kt) if mask_kt is not None else -1
        if mask_kt is not None:
            prog.bind(mask_kt, mask)
        prog.native.add_embedding(inputs[0], out, mask, prog.param(self._embeddings), self.input_dim, self.output_dim)
        if self.lora_enabled:  # + scale * a[ids] @ b
            return [lora.lower(prog, self, out, lambda ops, ids: ops.matmul(
                ops.take(self.lora_embeddings_a, ids, axis=0), self.lora_embeddings_b))]
        return [out]

    def get_config(self):
        lora_keys = {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
        return {**super().get_config(), **lora_keys, "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
                "mask_zero": self.mask_zero}
