"""Walks a bigcore model's layer graph and builds one ONNX graph from it (onnx.helper only).

The walk descends into subgraphs: a traced custom layer's recorded call (its inference trace when
call() branches on `training`), a model called as a layer, and so a subclassed model's traced
graph; recorded bigcore.ops primitives take their rules from onnx_ops.py. Fusion is a lowering
matter: a matmul + bias + activation the program runs as one Dense op exports as MatMul, Add and
the activation. A model input's run-time length (`Input(shape=(None, ...))`) is a named symbolic
ONNX dimension; layers whose rules need fixed lengths (LSTM / GRU, ...) still refuse it.

Each KerasTensor becomes one ONNX value (batch first, the batch dimension symbolic); each Keras
mask (from Embedding(mask_zero=True)) becomes one bool value of shape (batch, timesteps). The
per-layer rules live in onnx_layers.py and onnx_recurrent.py.
"""

import numpy as np

from bigcore import activations
from bigcore._version import __version__
from bigcore.export import onnx_layers, onnx_ops, onnx_preprocessing
from bigcore.layers import dims, tracing
from bigcore.layers.embedding import Embedding

OPSET = 17  # the default: ONNX 1.12 / onnxruntime 1.12 and newer


def onnx_module():
    """The onnx package, imported when an export needs it (the onnx extra is optional)."""
    try:
        import onnx  # noqa: PLC0415  (optional: the onnx extra)
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: run `pip install "bigcore[onnx]"`') from None
    return onnx


# Activations that are one ONNX operator: (op, attributes), Keras's default parameters.
_ONE_OP = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "softmax": ("Softmax", {"axis": -1}),
           "log_softmax": ("LogSoftmax", {"axis": -1}), "elu": ("Elu", {"alpha": 1.0}), "celu": ("Celu", {"alpha": 1.0}),
           "selu": ("Selu", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}),
           "softplus": ("Softplus", {}), "softsign": ("Softsign", {}), "exponential": ("Exp", {}),
           "hard_sigmoid": ("HardSigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}), "hard_silu": ("HardSwish", {}),
           "leaky_relu": ("LeakyRelu", {"alpha": 0.2}), "soft_shrink": ("Shrink", {"lambd": 0.5, "bias": 0.5}),
           "hard_shrink": ("Shrink", {"lambd": 0.5, "bias": 0.0})}
# every activation the export takes (Graph.activation)
ONNX_ACTIVATIONS = set(_ONE_OP) | {"linear", "gelu", "gelu_approximate", "silu", "relu6", "hard_tanh", "mish",
                                    "log_sigmoid", "tanh_shrink"}


class Graph:
    """The ONNX graph under construction: nodes, constants, and the values of the model's tensors."""

    def __init__(self, int8_activations, opset=OPSET):
        self.onnx = onnx_module()
        self.opset = opset
        self.int8_activations = int8_activations  # how QuantizedDense quantizes its input
        self.nodes, self.initializers = [], []
        self.ml_used = False  # a node of the ai.onnx.ml domain (LabelEncoder) was added
        self._used = set()
        self._value = {}  # id(KerasTensor) -> ONNX value name, for tensors and masks alike
        self.non_float = {}  # ONNX value name -> element type, for the model inputs that are not float32
        self._dim_src = {}  # a run-time length (Dim, or dims.BATCH) -> (ONNX value, axis) that has it
        self.rules = onnx_layers._rules()  # by exact layer class (a rule may call another's)

    def name(self, hint):
        hint = "".join(c if c.isalnum() or c in "_./-" else "_" for c in hint) or "v"
        name, i = hint, 1
        while name in self._used:
            name, i = f"{hint}_{i}", i + 1
        self._used.add(name)
        return name

    def const(self, array, hint="const"):
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        return name

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        """Adds one node; returns its output name, or a list of names when outputs > 1."""
        outs = [self.name(f"{hint or op_type}" + (f"_{i}" if outputs > 1 else "")) for i in range(outputs)]
        node_name = self.name(f"{hint or op_type}_op")
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        return outs if outputs > 1 else outs[0]

    # -- tensors and masks of the Keras graph --
    def bind(self, kt, value):
        self._value[id(kt)] = value

    def value(self, kt):
        return self._value[id(kt)]

    def mask(self, kt):
        """The bool (batch, timesteps) value of kt's Keras mask, or None."""
        return None if kt._mask is None else self._value[id(kt._mask)]

    # -- small helpers used by several layers --
    def activation(self, x, name, hint):
        if activations.is_custom(name):
            raise ValueError(f"ONNX export: the activation {getattr(name, '__name__', name)!r} ({hint}) is a function "
                             "of your own, which the export does not take; use a built-in activation")
        act = activations.get(name)
        if act == "linear":
            return x
        if act in ("gelu", "gelu_approximate", "silu"):
            return self._gelu_silu(x, act, hint)
        if act in _ONE_OP:
            op, attrs = _ONE_OP[act]
            return self.op(op, [x], hint, **attrs)
        if act in ("relu6", "hard_tanh"):  # Clip takes its bounds as inputs from opset 11
            lo, hi = (0.0, 6.0) if act == "relu6" else (-1.0, 1.0)
            return self.op("Clip", [x, self.const(np.float32(lo), f"{hint}/min"), self.const(np.float32(hi), f"{hint}/max")],
                           hint)
        if act == "mish" and self.opset < 18:  # the Mish op comes with opset 18
            return self.op("Mul", [x, self.op("Tanh", [self.op("Softplus", [x], f"{hint}/softplus")], f"{hint}/tanh")],
                           hint)
        if act == "mish":
            return self.op("Mish", [x], hint)
        if act == "log_sigmoid":  # -softplus(-x)
            return self.op("Neg", [self.op("Softplus", [self.op("Neg", [x], f"{hint}/neg")], f"{hint}/softplus")], hint)
        if act == "tanh_shrink":
            return self.op("Sub", [x, self.op("Tanh", [x], f"{hint}/tanh")], hint)
        raise ValueError(f"ONNX export: the activation {act!r} ({hint}) has no ONNX operator; supported: "
                         f"{', '.join(sorted(ONNX_ACTIVATIONS))}")

    def _gelu_silu(self, x, act, hint):
        """x * sigmoid(x); GELU as 0.5 x (1 + erf(x / sqrt 2)) or its tanh form (ONNX's Gelu op
        comes with opset 20)."""
        if act == "silu":
            return self.op("Mul", [x, self.op("Sigmoid", [x], f"{hint}/sigmoid")], hint)
        c = lambda v, h: self.const(np.float32(v), f"{hint}/{h}")  # noqa: E731
        if act == "gelu":
            inner = self.op("Erf", [self.op("Mul", [x, c(0.70710678118654752, "rsqrt2")], f"{hint}/scaled")],
                            f"{hint}/erf")
        else:
            cube = self.op("Mul", [self.op("Mul", [x, x], f"{hint}/sq"), x], f"{hint}/cube")
            arg = self.op("Add", [x, self.op("Mul", [cube, c(0.044715, "k")], f"{hint}/kcube")], f"{hint}/poly")
            inner = self.op("Tanh", [self.op("Mul", [arg, c(0.79788456080286536, "s2pi")], f"{hint}/arg")],
                            f"{hint}/tanh")
        half = self.op("Mul", [x, c(0.5, "half")], f"{hint}/half_x")
        return self.op("Mul", [half, self.op("Add", [inner, c(1.0, "one")], f"{hint}/one_plus")], hint)

    def reduce_max(self, x, axis, hint):
        """ReduceMax over one axis, keeping it: `axes` is an attribute before opset 18, an input after."""
        if self.opset < 18:
            return self.op("ReduceMax", [x], hint, axes=[axis], keepdims=1)
        return self.op("ReduceMax", [x, self.int64([axis], f"{hint}_axes")], hint, keepdims=1)

    def int64(self, values, hint="shape"):
        return self.const(np.asarray(values, np.int64), hint)

    def add_dims(self, kt, value):
        """Records where kt's run-time lengths (the batch, a model input's None axes) can be read."""
        for i, d in enumerate(kt.full_dims):
            if dims.is_dim(d) and d not in self._dim_src:
                self._dim_src[d] = (value, i)

    def length(self, d, hint):
        """A 1-D int64 value [d] for a run-time length d: a model input's axis read with Shape, or
        a sum / product / affine length of those; anything else is refused."""
        if d in self._dim_src:
            value, i = self._dim_src[d]
            return self.op("Shape", [value], hint, start=i, end=i + 1)
        if d.kind in ("sum", "prod", "broadcast"):
            a, b = (self.length(x, f"{hint}_{j}") if dims.is_dim(x) else self.int64([x], f"{hint}_{j}")
                    for j, x in enumerate(d.args))
            return self.op({"sum": "Add", "prod": "Mul", "broadcast": "Max"}[d.kind], [a, b], hint)
        if d.kind == "affine" and dims.is_dim(d.args[0]):
            s, (a, b, q) = self.length(d.args[0], f"{hint}_s"), d.args[1:]
            v = self.op("Add", [self.op("Mul", [s, self.int64([a], f"{hint}_a")], f"{hint}_as"),
                                self.int64([b], f"{hint}_b")], f"{hint}_asb")
            return self.op("Div", [v, self.int64([q], f"{hint}_d")], hint)  # lengths are >= 0: Div floors
        raise NotImplementedError(f"ONNX export: the run-time length {d!r} has no ONNX rule (only a model input's "
                                  "lengths and their sums, products and affine maps)")

    def shape_value(self, full_dims, hint, batch=0):
        """An int64 shape value for a tensor's axes: constants as they are, the batch as `batch`
        (0: Reshape's "copy the input's", 1: Expand's "keep"), run-time lengths read from the inputs."""
        if all(d is dims.BATCH or not dims.is_dim(d) for d in full_dims):
            return self.int64([batch if d is dims.BATCH else int(d) for d in full_dims], hint)
        parts = [self.int64([batch], f"{hint}_{i}") if d is dims.BATCH else
                 self.length(d, f"{hint}_{i}") if dims.is_dim(d) else self.int64([int(d)], f"{hint}_{i}")
                 for i, d in enumerate(full_dims)]
        return self.op("Concat", parts, hint, axis=0)

    def as_float(self, value, hint):
        """value as float32 (a model input given as int64 ids, read by a recorded op)."""
        if value not in self.non_float:
            return value
        if self.non_float[value] == self.onnx.TensorProto.STRING:
            raise NotImplementedError("ONNX export: a recorded op cannot read a string input")
        return self.op("Cast", [value], hint, to=self.onnx.TensorProto.FLOAT)


def _input_dtype(kt, nodes):
    """ONNX element type of a model input: strings for a string Input, int64 ids when it only feeds
    Embedding layers and integer lookups (or the Input was declared with an integer dtype), else
    float32."""
    T = onnx_module().TensorProto
    if kt.dtype == "string":
        return T.STRING
    if str(kt.dtype).startswith(("int", "uint")):
        return T.INT64
    users = [n.layer for n in nodes if any(t is kt for t in n.inputs)]
    int_users = (Embedding,) + onnx_preprocessing.INT_INPUTS
    return T.INT64 if users and all(isinstance(u, int_users) for u in users) else T.FLOAT


def _dims(kt, names):
    """An input's / output's ONNX dims: "batch", constants, and a name per run-time length (the
    same name wherever the same length appears, so onnxruntime checks that inputs agree)."""
    out = ["batch"]
    for d in kt._dims:
        if dims.is_dim(d):
            out.append(names.setdefault(d, d.name if d.name and d.name not in names.values() else f"len{len(names)}"))
        else:
            out.append(int(d))
    return out


def _check_call_kwargs(nodes):
    for n in nodes:  # call keywords the converters do not read yet: refused, not dropped
        if getattr(n, "graphs", None) is not None:
            continue  # a traced call: its arguments are bound in its subgraph
        unread = sorted(k for k in n.call_kwargs if k != "training")  # export is inference: training has no say
        if unread:
            raise NotImplementedError(f"ONNX export does not support the call argument(s) {unread} yet (layer "
                                      f"{n.layer.name!r}); export a model whose layer calls take only their inputs")


def _is_model(layer):
    return getattr(layer, "_nodes", None) is not None and getattr(layer, "_inputs", None) is not None


def _plan(nodes, quantized_recurrent):
    """The rule of each node, checked before anything is built: a layer's rule, a recorded
    primitive's, or a walk into a traced custom layer's subgraph / a nested model's graph."""
    _check_call_kwargs(nodes)
    plan = []
    for n in nodes:
        if getattr(n, "graphs", None) is not None:
            sub = tracing.inference_graph(n)
            plan.append(("traced", _plan(sub.nodes, quantized_recurrent)))
        elif onnx_ops.is_op(n.layer):
            plan.append(("op", onnx_ops.rule(n.layer)))
        elif _is_model(n.layer):
            plan.append(("model", _plan(n.layer._nodes, quantized_recurrent)))
        else:
            plan.append(("layer", onnx_layers.converter(n.layer, quantized_recurrent)))
    return plan


def _emit(g, nodes, plan):
    for node, (kind, rule) in zip(nodes, plan):
        if kind == "traced":
            sub = tracing.inference_graph(node)
            for ph, outer in sub.bindings:
                g.bind(ph, g.value(outer))
            _emit(g, sub.nodes, rule)
            outs = [g.value(t) for t in sub.outputs]
            for kt, m in zip(node.outputs, sub.masks):
                if kt._mask is not None and m is not None and id(kt._mask) not in g._value:
                    g.bind(kt._mask, g.value(m))
        elif kind == "model":
            model = node.layer
            saved = dict(g._dim_src)  # the model may be called again on tensors of other lengths
            for inner, outer in zip(model._inputs, node.inputs):
                g.bind(inner, g.value(outer))
                for i, d in enumerate(inner._dims):
                    if dims.is_dim(d):
                        g._dim_src[d] = (g.value(outer), i + inner._batched)
            _emit(g, model._nodes, rule)
            g._dim_src = saved
            outs = [g.value(t) for t in model._outputs]
            for kt, inner in zip(node.outputs, model._outputs):
                if kt._mask is not None and inner._mask is not None:
                    g.bind(kt._mask, g.value(inner._mask))
        elif kind == "op":
            ins = [g.as_float(g.value(t), f"{node.layer.name}/in{i}") for i, t in enumerate(node.inputs)]
            outs = rule(g, node.layer, ins, node)
        else:
            outs = rule(g, node.layer, [g.value(t) for t in node.inputs], node)
        for kt, v in zip(node.outputs, outs):
            g.bind(kt, v)


def build(model, int8_activations="per_row", quantized_recurrent="error", opset=OPSET):
    """The model as an onnx.ModelProto (checked with onnx.checker)."""
    if int8_activations not in ("per_row", "per_tensor"):
        raise ValueError(f"int8_activations must be 'per_row' or 'per_tensor'. Received: {int8_activations!r}")
    if quantized_recurrent not in ("error", "float"):
        raise ValueError(f"quantized_recurrent must be 'error' or 'float'. Received: {quantized_recurrent!r}")
    onnx = onnx_module()
    newest = onnx.defs.onnx_opset_version()
    if not OPSET <= opset <= newest:
        raise ValueError(f"ONNX export writes opsets {OPSET} to {newest} (this onnx package's newest). "
                         f"Received: opset={opset}")
    model._ensure_built()
    helper, T = onnx.helper, onnx.TensorProto
    g = Graph(int8_activations, opset)
    plan = _plan(model._nodes, quantized_recurrent)  # checks all first
    graph_inputs, names = [], {}
    for kt in model._inputs:
        name = g.name(kt.node.layer.name)
        dtype = _input_dtype(kt, model._nodes)
        graph_inputs.append(helper.make_tensor_value_info(name, dtype, _dims(kt, names)))
        g.bind(kt, name)
        g.add_dims(kt, name)
        if dtype != T.FLOAT:
            g.non_float[name] = dtype
    _emit(g, model._nodes, plan)
    graph_outputs = []
    for i, kt in enumerate(model._outputs):
        layer = kt.node.layer
        hint = layer.name if len(kt.node.outputs) == 1 else f"{layer.name}_{kt.index}"
        name = g.name(hint)
        g.nodes.append(helper.make_node("Identity", [g.value(kt)], [name], name=g.name(f"{name}_out")))
        graph_outputs.append(helper.make_tensor_value_info(name, T.FLOAT, _dims(kt, names)))
    graph = helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(onnx_preprocessing.ML_DOMAIN, 2)]
                                                 if g.ml_used else [])
    proto = helper.make_model(graph, producer_name="bigcore", producer_version=__version__, opset_imports=opsets)
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    return proto
