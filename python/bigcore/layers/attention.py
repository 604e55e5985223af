"""MultiHeadAttention and GroupQueryAttention (Keras's names, arguments and weight layouts).

Each lowers to the EinsumDense projections (one GEMM each, layers/einsum_dense.py), one fused
attention op (cpp/kernels/attention: online softmax over key tiles, masks inside, no T x S matrix
kept) and the output projection. The masks Keras combines are passed to the op as they are: the
query's Keras mask, the value's and the key's, attention_mask (batch, Tq, S) and the causal flag.

A row of the attention matrix that every mask blanks out gives what Keras gives: the mean of every
value on Keras's fused path (no dropout, no returned scores), 0 on its explicit one.
"""

import math
import string

from bigcore import _random, constraints, initializers, regularizers
from bigcore.layers import attention_axes, base, dims
from bigcore.layers.base import KerasTensor, Layer, _ops, active_trace, shape_str
from bigcore.layers.einsum_dense import EinsumDense
from bigcore.layers.registry import register

# The tensors an attention call may take, in the order a node keeps them.
_TENSOR_ARGS = ("query", "value", "key", "query_mask", "value_mask", "key_mask", "attention_mask")


def _fresh(init):
    """A new initializer object of the same config (each projection draws its own values)."""
    return initializers.get(initializers.serialize(init)) if isinstance(init, initializers.Initializer) else init


def _flags(call_args):
    """The call's flags as keywords, those left at their defaults omitted (Keras records what was given)."""
    out = {k: True for k in ("return_attention_scores", "use_causal_mask") if call_args[k]}
    if call_args["training"] is not None:
        out["training"] = call_args["training"]
    return out


def _eager(layer, inputs, kwargs):
    """The layer on arrays (a one-layer model, run natively); (output, scores) as Keras's tuple."""
    out = layer._call_eager(inputs, kwargs)
    return tuple(out) if isinstance(out, list) else out


class _AttentionCall(Layer):
    """The call convention shared by MultiHeadAttention and GroupQueryAttention: keyword tensors and
    flags are recorded on the node (node.call_args) so lowering and saving see them."""

    supports_masking = True
    supports_variable_length = True  # the op reads Tq and S per call; lower() sizes every tensor by them
    _takes_query_mask = False  # GroupQueryAttention reads an explicit query_mask; MHA the query's own

    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
                 attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False,
                 **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}.call() got unexpected keyword arguments {sorted(kwargs)}")
        if base._traces_this_call(self):
            # a subclass's own call(), traced with the arguments as given (its super().call() comes back here)
            given = dict(value=value, key=key, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
                         attention_mask=attention_mask, training=training)
            given = {k: v for k, v in given.items() if v is not None}
            given.update({k: True for k, v in (("return_attention_scores", return_attention_scores),
                                                ("use_causal_mask", use_causal_mask)) if v})
            if not self.built and all(isinstance(t, KerasTensor) for t in (query, value, key) if t is not None):
                # built here from every tensor's shape (the tracer would pass the query's alone)
                self._pending = {"tensors": ["query", "value"] + (["key"] if key is not None else [])}
                try:
                    with base.building():
                        self.build([t.shape for t in (query, value, key) if t is not None])
                finally:
                    self._pending = None
            return base._call_tracer(self, query, (), given)
        if value is None:
            raise ValueError(f"{type(self).__name__} needs `query` and `value` (and optionally `key`). "
                             "Received: value=None")
        given = {"query": query, "value": value, "key": key, "value_mask": value_mask, "key_mask": key_mask,
                 "attention_mask": attention_mask}
        if self._takes_query_mask:
            given["query_mask"] = query_mask
        names = [n for n in _TENSOR_ARGS if given.get(n) is not None]
        tensors = [given[n] for n in names]
        if active_trace() is None and not any(isinstance(t, KerasTensor) for t in tensors):
            return _eager(self, query, dict(
                {n: given[n] for n in names if n != "query"}, training=training,
                return_attention_scores=bool(return_attention_scores), use_causal_mask=bool(use_causal_mask)))
        if active_trace() is not None:  # a mask built of arrays inside a custom call(): a constant of the graph
            tensors = [t if isinstance(t, KerasTensor) else _ops()._constant(t) for t in tensors]
        if not all(isinstance(t, KerasTensor) for t in tensors):
            raise TypeError(f"{type(self).__name__} {self.name!r} is called on symbolic tensors (bigcore.Input) "
                            "inside a model; calling it on arrays is not supported yet")
        if getattr(training, "_bigcore_training_flag", False):  # from a traced call(): the model's mode decides
            training = None
        if training not in (None, False):
            raise ValueError(f"{type(self).__name__}: training=True at call time is not supported (the model's "
                             f"mode decides). Received: training={training!r}")
        self._check_call(dict(zip(names, tensors)), bool(use_causal_mask), bool(return_attention_scores))
        self._pending = {"tensors": names, "return_attention_scores": bool(return_attention_scores),
                         "use_causal_mask": bool(use_causal_mask), "training": training}
        try:
            out = Layer.__call__(self, tensors)
        finally:
            args = self._pending
            self._pending = None
        node = self._inbound[-1]
        node.call_args = args
        return out

    def keras_call(self, node):
        """Keras 3's record of the call: (query, value) positional, the other tensors and the flags
        given as keywords."""
        if not hasattr(node, "call_args"):  # a subclass's traced call(): recorded as it was made
            return Layer.keras_call(self, node)
        named = dict(zip(node.call_args["tensors"], node.inputs))
        args = [named.pop("query"), named.pop("value")]
        return args, {**named, **_flags(node.call_args)}

    # The list Layer.__call__ passes (shapes or tensors, in node order) as a dict by argument name.
    def _named(self, items, args=None):
        args = args or self._args()
        return dict(zip(args["tensors"], items))

    def _check_call(self, named, use_causal_mask, scores):
        """Refusals that need the call's tensors (their Keras masks), before it is recorded."""

    def _check_ranks(self, s):
        for name in ("query", "value", "key"):
            if name in s and (len(s[name]) != 3 or s[name][-1] is None):
                raise ValueError(f"{type(self).__name__} {self.name!r} takes 3-D {name} (batch, steps, features) "
                                 f"with a known last axis; got {shape_str(s[name])}")

    def _check_input_nd(self, s):
        self._check_ranks(s)

    def keras_build_config(self, input_shape):
        """Keras's record of build(query_shape, value_shape, key_shape=None): a shapes_dict (Keras's
        load_model builds the layer from it)."""
        node = self._inbound[0] if self._inbound else None
        names = node.call_args["tensors"] if node is not None and hasattr(node, "call_args") else ["query", "value"]
        shapes = dict(zip(names, input_shape if isinstance(input_shape, list) else [input_shape]))
        return {"shapes_dict": {f"{n}_shape": [None if d is None else int(d) for d in shapes[n]]
                                for n in ("query", "value", "key") if n in shapes}}

    def build(self, input_shape):
        s = self._named(input_shape)
        self._check_ranks(s)
        self._build(s["query"], s["value"], s.get("key", s["value"]))
        self.built = True

    def _check_input(self, shapes):
        s = self._named(shapes)
        q, v, k = s["query"], s["value"], s.get("key", s["value"])
        if len(q) > 3:
            return self._check_input_nd(s)
        if len(v) == len(k) == 3 and v[1] is not None and k[1] is not None and v[1] != k[1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be equal. "
                             f"Received: value_shape={shape_str(v)} and key_shape={shape_str(k)}")
        for name in ("query_mask", "value_mask", "key_mask"):
            if name in s:
                steps = (q if name == "query_mask" else v)[1]
                if len(s[name]) != 2 or s[name][1] != steps:
                    raise ValueError(f"{type(self).__name__}: {name} must be (batch, {steps}); got "
                                     f"{shape_str(s[name])}")
        if "attention_mask" in s:  # Keras broadcasts it against the scores (batch, heads, Tq, S)
            m = tuple(s["attention_mask"])
            if len(m) not in (2, 3) or any(a not in (1, b) for a, b in zip(m[-2:], (q[1], v[1]))):
                raise ValueError(f"{type(self).__name__}: attention_mask must be (batch, {q[1]}, {v[1]}) "
                                 f"(batch, query steps, key steps), or broadcast to it; got {shape_str(m)}")

    def _args(self):
        """The call being made, else the latest recorded one, else a plain (query, value) call."""
        if self._pending is not None:
            return self._pending
        if self._inbound:
            return self._inbound[-1].call_args
        return {"tensors": ["query", "value", "key"], "return_attention_scores": False}

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """Keras's signature; also takes the list of the call's input shapes (Layer.__call__)."""
        args = self._args()
        if value_shape is None and not isinstance(query_shape, list):
            value_shape = query_shape  # one shape: self-attention
        if value_shape is not None:
            shapes = [query_shape, value_shape] + ([key_shape] if key_shape is not None else [])
            s = dict(zip(("query", "value", "key"), shapes))
        else:
            s = self._named(query_shape, args)
        q, v = s["query"], s["value"]
        out = tuple(q[:-1]) + self._output_tail(q)
        if args["return_attention_scores"]:
            return [out, (q[0],) + self._scores_dims(q[1:], v[1:])]
        return out

    def _scores_dims(self, q_dims, v_dims):
        """The scores' non-batch axes from the query's and the value's non-batch axes."""
        return (self._num_query_heads(), q_dims[0], v_dims[0])

    def _output_dims(self, shape, xs):
        """The output's steps are the query's, the scores' (heads, Tq, S) the query's and the value's."""
        named = self._named(xs)
        q, v = named["query"], named["value"]
        if len(q.shape) > 3:  # the output: the query's axes, then the output tail; the scores: as _scores_dims
            out = tuple(q._dims[:-1]) + self._output_tail(q.shape)
            scores = self._scores_dims(q._dims, v._dims)
            return out if tuple(shape)[1:] == tuple(dims.public(d) for d in out) else scores
        tq, s = named["query"]._dims[0], named["value"]._dims[0]
        if None not in tuple(shape)[1:]:
            return tuple(shape)[1:]
        if None in tuple(shape)[2:]:  # the scores (batch, heads, Tq, S): the output's tail is output_shape's ints
            return (shape[1], tq, s)
        return (tq,) + tuple(shape[2:])

    def compute_mask(self, inputs, masks):
        """The query's Keras mask on the output (never on the scores)."""
        if isinstance(inputs, KerasTensor):  # a subclass's traced call(): its first argument, the query
            return inputs._mask
        q = self._named(inputs)["query"]
        m = q._mask
        return [m, None] if self._args()["return_attention_scores"] else m

    # -- the projections --
    def _sublayer(self, name, equation, output_shape, bias_axes, input_shape):
        layer = EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes if self.use_bias else None,
                            kernel_initializer=_fresh(self.kernel_initializer),
                            bias_initializer=_fresh(self.bias_initializer),
                            kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
                            kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
                            activity_regularizer=self._activity_regularizer, name=name)
        with self._open_name_scope():  # Keras's path: "mha/query/kernel", also when built outside build()
            layer.build(tuple(input_shape))
        self._weights.extend(layer.weights)
        return layer

    @staticmethod
    def _project(prog, layer, x, steps):
        """Lowers one projection on tensor id x over `steps` (an int or a run-time Dim); returns the id
        of its output."""
        kt = KerasTensor(None, dims=(steps,) + tuple(layer.full_output_shape[-2:]))
        out = layer.lower(prog, [x], [kt])[0]
        reg = layer.activity_regularizer
        return out if reg is None else prog.activity_penalty(out, KerasTensor(None, dims=kt._dims), reg)

    def lower(self, prog, inputs, outputs):
        node = prog.node
        args = node.call_args
        ids = self._named(inputs, args)
        kts = self._named(node.inputs, args)
        q, v = kts["query"], kts["value"]
        k = kts.get("key", v)
        Nq, Nkv, H, Hv = self._heads()
        scores = args["return_attention_scores"]
        if len(q.shape) > 3:
            return self._lower_nd(prog, ids, kts, outputs)
        Tq, S = q._dims[0], v._dims[0]
        qp = self._project(prog, self._query_dense, ids["query"], Tq)
        kp = self._project(prog, self._key_dense, ids.get("key", ids["value"]), S)
        vp = self._project(prog, self._value_dense, ids["value"], S)
        att = prog.tensor(KerasTensor(None, dims=(Tq, Nq * Hv)))
        probs = prog.tensor(outputs[1]) if scores else -1

        def mask(name, kt):
            if name in ids:
                return ids[name]
            return prog.mask_id(kt) if kt is not None else -1

        qmask = ids["query_mask"] if "query_mask" in ids else prog.mask_id(q)
        kmask = mask("value_mask", v)
        kmask2 = mask("key_mask", kts.get("key"))
        dropout = 0.0 if args["training"] is False else float(self.dropout)
        # Keras takes its explicit softmax path (a blank row gives 0) with dropout or returned scores,
        # else its fused dot_product_attention (a blank row gives the mean of the values).
        zero_rows = self.dropout > 0 or scores
        amask = ids.get("attention_mask", -1)
        if amask >= 0 and kts["attention_mask"].full_dims != (dims.BATCH, Tq, S):
            # the op reads a (batch, Tq, S) mask: a broadcast one (a causal (1, T, T), a padding
            # (batch, 1, S)) is expanded first, checked per call by the primitive
            full = prog.tensor(KerasTensor(None, kts["attention_mask"].dtype, dims=(Tq, S)))
            prog.native.add_prim("broadcast_to", [amask], [full], {})
            amask = full
        prog.native.add_attention(qp, kp, vp, att, probs, qmask, kmask, kmask2, amask,
                                  Nq, Nkv, H, Hv, 1.0 / math.sqrt(H), args["use_causal_mask"], zero_rows, False,
                                  dropout, self._stream)
        out = self._output_dense.lower(prog, [att], [outputs[0]])[0]
        reg = self._output_dense.activity_regularizer
        if reg is not None:
            out = prog.activity_penalty(out, outputs[0], reg)
        return [out, probs] if scores else [out]

    def _common_config(self):
        return {"dropout": self.dropout, "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self._activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint), "seed": self.seed}

    def _init_common(self, dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                     kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint,
                     use_gate, seed):
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"Invalid value received for argument `dropout`. Expected a float value between 0 "
                             f"and 1. Received: dropout={dropout!r}")
        if sliding_window is not None:
            raise ValueError(f"{type(self).__name__}: sliding_window is not supported by bigcore yet. "
                             f"Received: sliding_window={sliding_window!r}")
        if use_gate:
            raise ValueError(f"{type(self).__name__}: use_gate=True is not supported by bigcore yet")
        if flash_attention and dropout > 0:
            raise ValueError("Dropout is not supported when flash attention is enabled. Please set dropout to 0.0 "
                             "to use flash attention.")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.flash_attention = flash_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        # kept private: Keras gives it to the projections, and the lowering would apply a public one
        # to the layer's output again
        self._activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self._stream = seed if seed is not None else _random.next_stream()
        self._pending = None
        self._query_dense = self._key_dense = self._value_dense = self._output_dense = None

    @property
    def query_dense(self):
        return self._query_dense

    @property
    def key_dense(self):
        return self._key_dense

    @property
    def value_dense(self):
        return self._value_dense

    @property
    def output_dense(self):
        return self._output_dense

    # Where Keras's saving walk finds the projections: MultiHeadAttention's public properties
    # (`query_dense`), GroupedQueryAttention's private attributes (`_query_dense`)
    _keras_projection_prefix = ""

    def keras_file_sublayers(self):
        """[(attribute, sub-layer or None, group name)]: the layers Keras's weights files hold under
        this one, in its walk's order (public attributes sorted, then private ones); None: a layer
        without variables (the dropout and the softmax), an empty group."""
        prefix = self._keras_projection_prefix
        projections = [(f"{prefix}{p}_dense", getattr(self, f"_{p}_dense"), p)
                       for p in ("key", "output", "query", "value")]
        return projections + [("_dropout_layer", None, "dropout"), ("_softmax", None, "softmax")]


@register
class MultiHeadAttention(_AttentionCall):
    """Keras's MultiHeadAttention on (batch, a1, ..., an, features) tensors, attention over
    attention_axes (None: every ai); inputs of rank > 3 in layers/attention_axes.py."""

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kw):
        for name, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Received an invalid value for argument `{name}`, expected a positive integer. "
                                 f"Received: {name}={v}")
        if value_dim is not None and (isinstance(value_dim, bool) or not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError("Received an invalid value for argument `value_dim`, expected a positive integer or "
                             f"`None`. Received: value_dim={value_dim}")
        super().__init__(**kw)
        self._init_common(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                          bias_constraint, use_gate, seed)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim if value_dim else key_dim
        if output_shape:
            output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, int) and not isinstance(attention_axes, bool):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"`attention_axes` must be an int, list, or tuple.Received: attention_axes={attention_axes}")
        if attention_axes is not None and any(isinstance(a, bool) or not isinstance(a, int) for a in attention_axes):
            raise ValueError(f"`attention_axes` must hold ints. Received: attention_axes={attention_axes}")
        # as Keras, build() replaces it by the axes it attends over (None: every axis; negative: + rank)
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)

    def _check_ranks(self, s):
        for name in ("query", "value", "key"):
            if name in s and (len(s[name]) < 3 or s[name][-1] is None):
                raise ValueError(f"MultiHeadAttention {self.name!r} takes {name} of rank >= 3 (batch, ..., features) "
                                 f"with a known last axis; got {shape_str(s[name])}")
        q, v = s["query"], s["value"]
        attention_axes.check_shapes(self.name, q, v, s.get("key", v),
                                    attention_axes.normalize(self.attention_axes, len(q), self.name))

    def _axes(self, rank):
        return attention_axes.normalize(self.attention_axes, rank, self.name)

    def _check_input_nd(self, s):
        q, v = s["query"], s["value"]
        attention_axes.check_shapes(self.name, q, v, s.get("key", v), self._axes(len(q)))
        for name in ("value_mask", "key_mask"):
            if name in s and (len(s[name]) != len(v) - 1 or
                              any(a is not None and b is not None and a != b for a, b in zip(s[name][1:], v[1:-1]))):
                raise ValueError(f"MultiHeadAttention {self.name!r}: {name} must be (batch, *value axes) = "
                                 f"{shape_str(tuple(v[:-1]))}; got {shape_str(s[name])}")

    def _check_call(self, named, use_causal_mask, scores):
        if len(named["query"].shape) > 3:
            attention_axes.check_call(self, named, use_causal_mask, scores)

    def _scores_dims(self, q_dims, v_dims):
        if len(q_dims) == 2:
            return super()._scores_dims(q_dims, v_dims)
        return attention_axes.scores_dims(q_dims, v_dims, self._axes(len(q_dims) + 1), self.num_heads)

    def _build(self, q, v, k):
        N, H, Hv = self.num_heads, self.key_dim, self.value_dim
        self.attention_axes = self._axes(len(q))
        letters = string.ascii_lowercase
        # Keras's equations for the rank: the projections "ab..c,cde->ab..de", the output "ab..cd,cde->ab..e"
        free = letters[:len(q) - 1]
        proj = f"{free}{letters[len(q) - 1]},{letters[len(q) - 1:len(q) + 2]}->{free}{letters[len(q):len(q) + 2]}"
        heads_axes = letters[len(q):len(q) + 2]
        self._query_dense = self._sublayer("query", proj, (None,) * (len(q) - 2) + (N, H), heads_axes, q)
        self._key_dense = self._sublayer("key", proj, (None,) * (len(q) - 2) + (N, H), heads_axes, k)
        self._value_dense = self._sublayer("value", proj, (None,) * (len(q) - 2) + (N, Hv), heads_axes, v)
        tail = self._output_tail(q)
        bound = letters[len(q) - 1:len(q) + 1]
        new = letters[len(q) + 1:len(q) + 1 + len(tail)]
        self._output_dense = self._sublayer("attention_output", f"{free}{bound},{bound}{new}->{free}{new}",
                                            (None,) * (len(q) - 2) + tail, new, tuple(q[:-1]) + (N, Hv))

    def _lower_nd(self, prog, ids, kts, outputs):
        """Inputs of rank > 3: the positions flattened (views), the fused op over them with the block
        and attention masks (layers/attention_axes.py), the scores in Keras's layout."""
        args = prog.node.call_args
        q, v = kts["query"], kts["value"]
        k = kts.get("key", v)
        axes = self._axes(len(q.shape))
        N, H, Hv = self.num_heads, self.key_dim, self.value_dim
        Tq, S = attention_axes.flat(q._dims[:-1]), attention_axes.flat(v._dims[:-1])

        def flat_view(name, kt, steps):
            return prog.view(ids[name], KerasTensor(None, dims=(steps, kt._dims[-1])))
        qp = self._project(prog, self._query_dense, flat_view("query", q, Tq), Tq)
        kp = self._project(prog, self._key_dense, flat_view("key" if "key" in ids else "value", k, S), S)
        vp = self._project(prog, self._value_dense, flat_view("value", v, S), S)
        def pair(name, kt):  # the explicit mask, else the tensor's Keras mask (Keras fills value_mask / key_mask so)
            if name in ids:
                return kts[name], ids[name]
            return (kt._mask, prog.mask_id(kt)) if kt is not None and kt._mask is not None else None
        kmasks = [m for m in (pair("value_mask", v), pair("key_mask", kts.get("key"))) if m is not None]
        amask = attention_axes.lower_mask(prog, self, q, v, axes, args["use_causal_mask"],
                                          pair("attention_mask", None), pair("query_mask", q), kmasks)
        scores = args["return_attention_scores"]
        probs = prog.tensor(KerasTensor(None, dims=(N, Tq, S))) if scores else -1
        att = prog.tensor(KerasTensor(None, dims=(Tq, N * Hv)))
        dropout = 0.0 if args["training"] is False else float(self.dropout)
        # Keras's explicit softmax path (rank > 3 never takes its fused one): a blank row gives 0
        prog.native.add_attention(qp, kp, vp, att, probs, -1, -1, -1, amask, N, N, H, Hv, 1.0 / math.sqrt(H),
                                  False, True, False, dropout, self._stream)
        out = self._output_dense.lower(prog, [att], [outputs[0]])[0]
        reg = self._output_dense.activity_regularizer
        if reg is not None:
            out = prog.activity_penalty(out, outputs[0], reg)
        if not scores:
            return [out]
        return [out, attention_axes.lower_scores(prog, self, probs, q, v, axes, N, outputs[1])]

    def _output_tail(self, q):
        return tuple(self._output_shape) if self._output_shape else (q[-1],)

    def _num_query_heads(self):
        return self.num_heads

    def _heads(self):
        return self.num_heads, self.num_heads, self.key_dim, self.value_dim

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "output_shape": self._output_shape,
                "attention_axes": self.attention_axes, **self._common_config()}


@register
class GroupQueryAttention(_AttentionCall):
    """Keras's GroupQueryAttention (GroupedQueryAttention): num_query_heads heads share
    num_key_value_heads key/value heads; the key/value heads are read in place, never repeated."""

    _takes_query_mask = True
    _auto_name = "grouped_query_attention"  # Keras's class is GroupedQueryAttention
    _keras_projection_prefix = "_"

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kw):
        for name, v in (("head_dim", head_dim), ("num_query_heads", num_query_heads),
                        ("num_key_value_heads", num_key_value_heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Received an invalid value for argument `{name}`, expected a positive integer. "
                                 f"Received: {name}={v}")
        if num_query_heads % num_key_value_heads != 0:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`.")
        super().__init__(**kw)
        self._init_common(dropout, use_bias, sliding_window, flash_attention, kernel_initializer, bias_initializer,
                          kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
                          bias_constraint, use_gate, seed)
        self.head_dim = head_dim
        self.num_query_heads, self.num_key_value_heads = num_query_heads, num_key_value_heads

    def _check_input(self, shapes):
        super()._check_input(shapes)
        s = self._named(shapes)
        if s["query"][-1] != s["value"][-1]:
            raise ValueError("The last dimension of `query_shape` and `value_shape` must be equal, but are "
                             f"{s['query'][-1]}, {s['value'][-1]}. Received: query_shape={shape_str(s['query'])}, "
                             f"value_shape={shape_str(s['value'])}")

    def _build(self, q, v, k):
        Nq, Nkv, H = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self._query_dense = self._sublayer("query", "bqm,muh->bquh", (None, Nq, H), "uh", q)
        self._key_dense = self._sublayer("key", "bkm,mvh->bkvh", (None, Nkv, H), "vh", k)
        self._value_dense = self._sublayer("value", "bkm,mvh->bkvh", (None, Nkv, H), "vh", v)
        self._output_dense = self._sublayer("attention_output", "bquh,uhm->bqm", (None, q[-1]), "m",
                                            (q[0], q[1], Nq, H))

    def _output_tail(self, q):
        return (q[-1],)

    def _num_query_heads(self):
        return self.num_query_heads

    def _heads(self):
        return self.num_query_heads, self.num_key_value_heads, self.head_dim, self.head_dim

    def get_config(self):
        return {**super().get_config(), "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads, **self._common_config()}


GroupedQueryAttention = GroupQueryAttention


def _check_lists(inputs, mask):
    """Keras's Attention call: inputs [query, value(, key)], mask [query_mask, value_mask]."""
    if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
        raise ValueError("Attention layer must be called on a list of inputs, namely [query, value] or "
                         f"[query, value, key]. Received: inputs={inputs}.")
    if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
        raise ValueError(f"Attention layer mask must be a list, namely [query_mask, value_mask]. "
                         f"Received: mask={mask}.")


@register
class Attention(Layer):
    """Keras's dot-product Attention layer: called on [query, value] or [query, value, key], masks
    [query_mask, value_mask] (default: the inputs' Keras masks). scores = query . key (times the
    trainable `scale` when use_scale); keys the value mask blanks out get no weight; output rows the
    query mask blanks out are 0. One fused attention op (one head)."""

    supports_masking = True
    supports_variable_length = True  # the op reads Tq and S per call (the scores' S: set in __call__)

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kw):
        super().__init__(**kw)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode}")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"Attention: dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.use_scale, self.score_mode, self.dropout, self.seed = bool(use_scale), score_mode, float(dropout), seed
        self._stream = seed if seed is not None else _random.next_stream()
        self.scale = None
        self.concat_score_weight = None
        self._pending = None
        self._returns_scores = False  # the latest concat call's return_attention_scores

    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False,
                 **kwargs):
        if active_trace() is None and isinstance(inputs, (list, tuple)) and \
                not any(isinstance(t, KerasTensor) for t in list(inputs) + list(mask or [])):
            return _eager(self, list(inputs), {"mask": mask, "training": training,
                                               "return_attention_scores": bool(return_attention_scores),
                                               "use_causal_mask": bool(use_causal_mask), **kwargs})
        if self.score_mode == "concat":  # traced as a custom layer's call() is (call below)
            self._returns_scores = bool(return_attention_scores)
            given = dict(mask=mask, training=training, return_attention_scores=return_attention_scores or None,
                         use_causal_mask=use_causal_mask or None)  # what the caller gave, as the tracer expects
            kwargs.update({k: v for k, v in given.items() if v is not None})
            return base._call_tracer(self, inputs, (), kwargs)
        if kwargs:
            raise TypeError(f"Attention.call() got unexpected keyword arguments {sorted(kwargs)}")
        _check_lists(inputs, mask)
        if getattr(training, "_bigcore_training_flag", False):  # from a traced call(): the model's mode decides
            training = None
        if training not in (None, False):
            raise ValueError(f"Attention: training=True at call time is not supported (the model's mode "
                             f"decides). Received: training={training!r}")
        names = ["query", "value"] + (["key"] if len(inputs) == 3 else [])
        tensors = list(inputs)
        for name, m in zip(("query_mask", "value_mask"), mask or ()):
            if m is not None:
                names.append(name)
                tensors.append(m)
        self._pending = {"tensors": names, "return_attention_scores": bool(return_attention_scores),
                         "use_causal_mask": bool(use_causal_mask), "training": training}
        try:
            out = Layer.__call__(self, tensors)
        finally:
            args, self._pending = self._pending, None
        self._inbound[-1].call_args = args
        if return_attention_scores:  # the scores' key axis is the value's length (a run-time one too)
            out[1]._dims = (out[1]._dims[0], inputs[1]._dims[0])
        return out

    def keras_call(self, node):
        """Keras 3's record of the call: the [query, value(, key)] list, mask=[query_mask, value_mask]
        and the flags given."""
        if self.score_mode == "concat":  # a traced call: recorded as a custom layer's is
            return Layer.keras_call(self, node)
        named = dict(zip(node.call_args["tensors"], node.inputs))
        kwargs = _flags(node.call_args)
        if "query_mask" in named or "value_mask" in named:
            kwargs["mask"] = [named.get("query_mask"), named.get("value_mask")]
        return [[named[n] for n in ("query", "value", "key") if n in named]], kwargs

    def _args(self):
        if self._pending is not None:
            return self._pending
        if self._inbound:
            return self._inbound[-1].call_args
        return {"tensors": ["query", "value", "key"], "return_attention_scores": False}

    def _named(self, items, args=None):
        return dict(zip((args or self._args())["tensors"], items))

    def build(self, input_shape):
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")
        self.built = True

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        """score_mode='concat' only (the dot mode lowers to the fused op): Keras 3's formulas in
        bigcore.ops, traced once into the program. scores[b, t, s] = concat_score_weight *
        sum_d tanh(scale * (q[b, t, d] + k[b, s, d])) (no scale without use_scale); the (batch, Tq,
        Tv, dim) sum is materialized, as in AdditiveAttention."""
        ops = _ops()
        _check_lists(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        shapes = [tuple(t.shape) for t in (q, v, k)]
        if any(len(x) != 3 for x in shapes) or shapes[0][-1] != shapes[2][-1] or \
                (shapes[1][1] is not None and shapes[2][1] is not None and shapes[1][1] != shapes[2][1]):
            raise ValueError("Attention takes 3-D (batch, steps, features) query, value and key, query and key of "
                             f"the same features, value and key of the same steps; got {[shape_str(x) for x in shapes]}")
        q_mask, v_mask = (mask[0], mask[1]) if mask else (None, None)
        pair = ops.expand_dims(q, -2) + ops.expand_dims(k, -3)  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pair = self.scale * pair
        scores = self.concat_score_weight * ops.sum(ops.tanh(pair), axis=-1)
        keep = None
        if v_mask is not None:
            keep = ops.expand_dims(ops.cast(v_mask, "bool"), -2)  # (batch, 1, Tv)
        if use_causal_mask:  # Keras: row index >= column index
            steps = ops.shape(scores)
            causal = ops.expand_dims(ops.expand_dims(ops.arange(steps[-2]), -1) >= ops.arange(steps[-1]), 0)
            keep = causal if keep is None else ops.logical_and(keep, causal)
        if keep is not None:  # Keras: scores -= 1e9 where the mask blanks the key
            scores = scores - 1.0e9 * ops.cast(ops.logical_not(keep), "float32")
        weights = ops.softmax(scores, axis=-1)
        if self.dropout > 0:
            weights = ops.dropout(weights, self.dropout, seed=self._stream)
        out = ops.matmul(weights, v)
        if q_mask is not None:  # Keras multiplies by the query mask
            out = out * ops.cast(ops.expand_dims(q_mask, -1), "float32")
        if return_attention_scores:
            weights._mask = None  # Keras: the scores carry no mask
            return out, weights
        return out

    def _check_input(self, shapes):
        s = self._named(shapes)
        q, v = s["query"], s["value"]
        k = s.get("key", v)
        if len(q) != 3 or len(v) != 3 or len(k) != 3:
            raise ValueError("Attention takes 3-D (batch, steps, features) query, value and key; got "
                             f"{[shape_str(x) for x in (q, v, k)]}")
        if q[-1] != k[-1] or v[1] != k[1]:
            raise ValueError(f"Attention: query {shape_str(q)} and key {shape_str(k)} need the same features, "
                             f"value {shape_str(v)} and key the same steps")

    def compute_output_shape(self, input_shape):
        if self.score_mode == "concat":
            q, v = input_shape[0], input_shape[1]
            out = tuple(q[:-1]) + (v[-1],)
            return [out, tuple(q[:-1]) + (v[1],)] if self._returns_scores else out
        args = self._args()
        s = self._named(input_shape, args) if isinstance(input_shape[0], (list, tuple)) else {}
        q, v = s["query"], s["value"]
        out = tuple(q[:-1]) + (v[-1],)
        return [out, tuple(q[:-1]) + (v[1],)] if args["return_attention_scores"] else out

    def compute_mask(self, inputs, masks):
        if self.score_mode == "concat":
            m = masks[0] if masks else None
            return [m, None] if self._returns_scores else m
        named = self._named(inputs)
        m = named["query_mask"] if "query_mask" in named else named["query"]._mask
        return [m, None] if self._args()["return_attention_scores"] else m

    def lower(self, prog, inputs, outputs):
        args = prog.node.call_args
        ids = self._named(inputs, args)
        kts = self._named(prog.node.inputs, args)
        q = ids["query"]
        if self.scale is not None:  # (q * scale) . k == (q . k) * scale
            scaled = prog.tensor(kts["query"])
            prog.native.add_scale(q, scaled, prog.param(self.scale))
            q = scaled
        dim, vdim = kts["query"].shape[-1], kts["value"].shape[-1]
        qmask = ids["query_mask"] if "query_mask" in ids else prog.mask_id(kts["query"])
        kmask = ids["value_mask"] if "value_mask" in ids else prog.mask_id(kts["value"])
        scores = args["return_attention_scores"]
        out = prog.tensor(outputs[0])
        probs = prog.tensor(outputs[1]) if scores else -1
        dropout = 0.0 if args["training"] is False else self.dropout
        # Keras adds -1e9 to the blanked scores, so a row with every key blanked is uniform (the mean of
        # the values); then it zeroes the rows the query mask blanks.
        prog.native.add_attention(q, ids.get("key", ids["value"]), ids["value"], out, probs, qmask, kmask, -1, -1,
                                  1, 1, dim, vdim, 1.0, args["use_causal_mask"], False, True, dropout, self._stream)
        return [out, probs] if scores else [out]

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}
