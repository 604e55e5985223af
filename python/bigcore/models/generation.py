"""Text generation from a decoder-only functional model with a native key/value cache.

Generator(model) turns the model's graph into the instructions of a native Decoder (runtime/decode.h)
and copies the weights in once; generate() then makes one native call per generated token, and
each call runs only the new position: the causal self-attention reads the keys and values of the
earlier positions from the cache instead of recomputing the prefix.

The model: inputs (batch, T) of token ids, optionally a second (batch, T) input of positions
0..T-1 (a position Embedding reads it), and one output (batch, T, vocabulary) of logits or
softmax probabilities. Layers between them: Embedding, Add, LayerNormalization / RMSNormalization
over the last axis, Dense, Dropout (off at inference), and MultiHeadAttention / GroupQueryAttention
as causal self-attention (use_causal_mask=True, query = value = key, no other masks). Custom
layers (layers/tracing.py) are walked through their recorded subgraphs (the inference-mode one
when call() branches on training): the same layers inside, the residual `+` (ops add), and the
position embedding written as Embedding(ops.arange(T)) (a gather of rows 0..T-1, which reads the
decoder's position). Anything else raises a ValueError naming the layer or op: only position-wise
layers and causal attention let one position be computed from the cache alone.
"""

import numpy as np

from bigcore import _random, activations
from bigcore._native import _core
from bigcore.layers import tracing
from bigcore.layers.attention import GroupQueryAttention, MultiHeadAttention
from bigcore.layers.core import Dense, Dropout, InputLayer
from bigcore.layers.embedding import Embedding
from bigcore.layers.layer_normalization import LayerNormalization, RMSNormalization
from bigcore.layers.merging import Add
from bigcore.ops import OpLayer, WeightRead

__all__ = ["Generator", "generate"]

_SOFTMAX = activations.native_id("softmax")
_LINEAR = activations.native_id("linear")


def _values(w):
    return None if w is None else np.ascontiguousarray(w.value, dtype=np.float32)


def _unsupported(layer, why):
    return ValueError(f"generate: layer {layer.name!r} ({type(layer).__name__}) {why}; a decoder-only model for "
                      "generation uses Embedding, Add, LayerNormalization/RMSNormalization, Dense, Dropout and "
                      "causal self-attention (MultiHeadAttention/GroupQueryAttention with use_causal_mask=True)")


class Generator:
    """A model's decoder: weights copied at construction (build a new one after training more)."""

    def __init__(self, model, max_len=None):
        ins = getattr(model, "_inputs", None)
        if ins is None or not getattr(model, "_nodes", None):
            raise ValueError("generate: the model must be a functional Model (bigcore.Model(inputs, outputs))")
        if not 1 <= len(ins) <= 2 or any(len(t.shape) != 2 for t in ins):
            raise ValueError("generate: the model takes token ids (batch, T) and optionally positions (batch, T); "
                             f"got inputs {[t.shape for t in ins]}")
        if len(model._outputs) != 1 or len(model._outputs[0].shape) != 3:
            raise ValueError("generate: the model must have one output (batch, T, vocabulary); got "
                             f"{[t.shape for t in model._outputs]}")
        T = ins[0].shape[1]
        max_len = T if max_len is None else max_len
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= 0:
            raise ValueError("generate: the model's inputs have no fixed length; pass max_len (the longest prompt + "
                             f"generated sequence). Received: max_len={max_len!r}")
        self.max_len = max_len
        dec = self._dec = _core.Decoder(max_len)
        buf = {}
        buf[id(ins[0])] = dec.add_buffer(1)
        dec.add_token(buf[id(ins[0])])
        if len(ins) == 2:
            buf[id(ins[1])] = dec.add_buffer(1)
            dec.add_position(buf[id(ins[1])])
        self.softmax_output = False
        self._out_kt = model._outputs[0]
        self._buf, self._positions, self._consts = buf, None, {}
        self._walk(model._nodes)
        self._logits = buf[id(self._out_kt)]
        self.vocabulary = dec_width = self._out_kt.shape[-1]
        if dec_width is None:
            raise ValueError("generate: the output's last axis (the vocabulary) must be known")

    def _walk(self, nodes):
        dec, buf, out_kt = self._dec, self._buf, self._out_kt
        for node in nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            if getattr(node, "graphs", None) is not None:
                self._add_traced(node)
                continue
            if isinstance(layer, OpLayer):
                self._add_op(node)
                continue
            if node.call_kwargs:
                raise _unsupported(layer, f"was called with keywords {sorted(node.call_kwargs)}")
            if getattr(layer, "lora_enabled", False):
                raise _unsupported(layer, "has lora enabled (save and load the model to merge it)")
            src = [self._src(layer, t) for t in node.inputs]
            o = node.outputs[0]
            if isinstance(layer, Dropout):
                buf[id(o)] = src[0]
                continue
            width = o.shape[-1]
            if len(o.shape) != 3 or width is None:
                raise _unsupported(layer, f"gives {o.shape}, not (batch, T, features)")
            out = buf[id(o)] = dec.add_buffer(width)
            if isinstance(layer, Embedding):
                if layer.mask_zero:
                    raise _unsupported(layer, "has mask_zero=True (generation feeds no padding)")
                dec.add_embedding(src[0], out, _values(layer.embeddings))
            elif isinstance(layer, Add):
                dec.add_add(src, out)
            elif isinstance(layer, (LayerNormalization, RMSNormalization)):
                if list(layer.axis) not in ([-1], [2]):
                    raise _unsupported(layer, f"normalizes axis {layer.axis}, not the last")
                rms = isinstance(layer, RMSNormalization)
                gamma = _values(layer.scale if rms else layer.gamma)
                dec.add_norm(src[0], out, gamma, None if rms else _values(layer.beta), layer.epsilon, rms)
            elif isinstance(layer, Dense):
                if activations.is_custom(layer.activation):
                    raise _unsupported(layer, "has an activation function of its own (the decoder runs native kinds)")
                act = activations.native_id(layer.activation)
                if act == _SOFTMAX:
                    if o is not out_kt:
                        raise _unsupported(layer, "has a softmax activation inside the model")
                    act, self.softmax_output = _LINEAR, True  # sample from the logits
                dec.add_dense(src[0], out, _values(layer.kernel), _values(layer.bias), act)
            elif isinstance(layer, (MultiHeadAttention, GroupQueryAttention)):
                self._add_attention(layer, node, src[0], out)
            else:
                raise _unsupported(layer, "is not one of them")

    def _src(self, layer, t):
        if id(t) not in self._buf:
            raise _unsupported(layer, f"reads {t.name!r}, which is not a per-position tensor of the model")
        return self._buf[id(t)]

    def _add_traced(self, node):
        """A custom layer's call (layers/tracing.py): its recorded subgraph (the inference-mode one
        when call() branches on training), its placeholders bound to the call's tensors."""
        g = tracing.inference_graph(node)
        for ph, outer in g.bindings:
            if id(outer) not in self._buf:
                raise _unsupported(node.layer, f"reads {outer.name!r} (a Keras mask or a tensor generation does not "
                                   "compute)")
            self._buf[id(ph)] = self._buf[id(outer)]
        self._walk(g.nodes)
        for o, inner in zip(node.outputs, g.outputs):
            if id(inner) not in self._buf:
                raise _unsupported(node.layer, "returns a tensor that is not per-position (batch, T, features)")
            self._buf[id(o)] = self._buf[id(inner)]

    def _add_op(self, node):
        """bigcore.ops inside a custom layer: weights and constants are remembered; the position
        embedding table.take(arange(T)) reads the decoder's position; `add` is the residual sum."""
        layer, o = node.layer, node.outputs[0]
        kind = layer.kind
        if isinstance(layer, WeightRead):
            self._consts[id(o)] = layer.weight.value
        elif kind == "constant":
            self._consts[id(o)] = np.asarray(layer.attrs["value"], np.float32).reshape(layer.attrs["shape"])
        elif kind == "take" and layer.attrs.get("axis") == 0 and all(id(t) in self._consts for t in node.inputs):
            table, idx = (self._consts[id(t)] for t in node.inputs)
            if idx.ndim != 1 or not np.array_equal(idx, np.arange(len(idx))) or table.ndim != 2:
                raise _unsupported(layer, "gathers rows other than the positions 0..T-1 (ops.arange)")
            if len(idx) < self.max_len:
                raise _unsupported(layer, f"embeds {len(idx)} positions, fewer than max_len={self.max_len}")
            if self._positions is None:
                self._positions = self._dec.add_buffer(1)
                self._dec.add_position(self._positions)
            out = self._buf[id(o)] = self._dec.add_buffer(table.shape[1])
            self._dec.add_embedding(self._positions, out, np.ascontiguousarray(table, np.float32))
        elif kind == "add" and len(node.inputs) == 2:
            src = [self._src(layer, t) for t in node.inputs]
            if o.shape[-1] is None or len(o.shape) != 3:
                raise _unsupported(layer, f"gives {o.shape}, not (batch, T, features)")
            out = self._buf[id(o)] = self._dec.add_buffer(o.shape[-1])
            self._dec.add_add(src, out)
        else:
            raise _unsupported(layer, f"is the op {kind!r}; inside custom layers generation reads the residual add "
                               "and the position embedding table.take(ops.arange(T))")

    def _add_attention(self, layer, node, src, out):
        args = node.call_args
        if not args["use_causal_mask"] or args["return_attention_scores"]:
            raise _unsupported(layer, "is not called with use_causal_mask=True (and no returned scores)")
        if set(args["tensors"]) - {"query", "value", "key"} or len({id(t) for t in node.inputs}) != 1:
            raise _unsupported(layer, "is not self-attention on one tensor without masks")
        if any(t._mask is not None for t in node.inputs):
            raise _unsupported(layer, "reads a Keras mask")
        Nq, Nkv, H, Hv = layer._heads()

        def w(dense, rows):
            return _values(dense.kernel).reshape(rows, -1), (None if dense.bias is None else
                                                             _values(dense.bias).reshape(-1))

        d = node.inputs[0].shape[-1]
        (wq, bq), (wk, bk), (wv, bv) = (w(layer.query_dense, d), w(layer.key_dense, d), w(layer.value_dense, d))
        wo, bo = w(layer.output_dense, Nq * Hv)
        self._dec.add_attention(src, out, wq, bq, wk, bk, wv, bv, wo, bo, Nq, Nkv, H, Hv)

    def logits(self, tokens):
        """The logits after each of `tokens`, run from an empty cache (one native call per token):
        (len(tokens), vocabulary). For tests: row i equals the full model's at position i."""
        self._dec.reset()
        self._check_fits(len(tokens))
        return np.stack([self._dec.step(int(t), self._logits) for t in tokens])

    def generate(self, prompt, n, temperature=1.0, top_k=None, seed=None):
        """The n tokens that follow `prompt` (a non-empty sequence of ids): the prompt runs in one
        native call, then one call per token. temperature 0 picks the most likely token; otherwise
        the token is drawn from softmax(logits / temperature) over the top_k most likely (None: all),
        with a counter-based RNG keyed by `seed` (None: the next stream of bigcore's global seed)."""
        prompt = [int(t) for t in np.asarray(prompt).reshape(-1)]
        if not prompt:
            raise ValueError("generate: the prompt must hold at least one token")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"generate: n must be a non-negative int. Received: n={n!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
            raise ValueError(f"generate: temperature must be a number >= 0. Received: temperature={temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"generate: top_k must be None or an int >= 1. Received: top_k={top_k!r}")
        if seed is None:
            seed = (_random.seed() * 1000003 + _random.next_stream()) % 2 ** 64
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"generate: seed must be None or a non-negative int. Received: seed={seed!r}")
        self._check_fits(len(prompt) + int(n) - 1)
        dec = self._dec
        dec.reset()
        dec.feed(prompt[:-1], self._logits)
        out, tok = [], prompt[-1]
        for i in range(int(n)):
            tok = dec.sample(tok, self._logits, float(temperature), int(top_k or 0), int(seed), i)
            out.append(tok)
        return out

    def _check_fits(self, positions):
        if positions > self.max_len:
            raise ValueError(f"generate: {positions} positions do not fit the model's {self.max_len} (prompt + n - 1 "
                             "must be at most max_len)")


def generate(model, prompt, n, temperature=1.0, top_k=None, seed=None, max_len=None):
    """Generator(model, max_len).generate(prompt, n, temperature, top_k, seed)."""
    return Generator(model, max_len).generate(prompt, n, temperature, top_k, seed)
