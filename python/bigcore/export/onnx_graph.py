"""Walks a bigcore model's layer graph and builds one ONNX graph from it (onnx.helper only).

Each KerasTensor becomes one ONNX value (batch first, the batch dimension symbolic); each Keras
mask (from Embedding(mask_zero=True)) becomes one bool value of shape (batch, timesteps). The
per-layer rules live in onnx_layers.py and onnx_recurrent.py.
"""

import numpy as np

from bigcore import activations
from bigcore._version import __version__
from bigcore.export import onnx_layers, onnx_preprocessing
from bigcore.layers.embedding import Embedding

OPSET = 17  # the default: ONNX 1.12 / onnxruntime 1.12 and newer


def onnx_module():
    """The onnx package, imported when an export needs it (the onnx extra is optional)."""
    try:
        import onnx  # noqa: PLC0415  (optional: the onnx extra)
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: run `pip install "bigcore[onnx]"`') from None
    return onnx


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
        act = activations.get(name)
        if act == "linear":
            return x
        op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}[act]
        return self.op(op, [x], hint, **({"axis": -1} if act == "softmax" else {}))

    def reduce_max(self, x, axis, hint):
        """ReduceMax over one axis, keeping it: `axes` is an attribute before opset 18, an input after."""
        if self.opset < 18:
            return self.op("ReduceMax", [x], hint, axes=[axis], keepdims=1)
        return self.op("ReduceMax", [x, self.int64([axis], f"{hint}_axes")], hint, keepdims=1)

    def int64(self, values, hint="shape"):
        return self.const(np.asarray(values, np.int64), hint)


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


def _dims(shape):
    return ["batch"] + [int(s) for s in shape[1:]]


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
    for n in model._nodes:  # call keywords the converters do not read yet: refused, not dropped
        unread = sorted(k for k in n.call_kwargs if k != "training")  # export is inference: training has no say
        if unread:
            raise NotImplementedError(f"ONNX export does not support the call argument(s) {unread} yet (layer "
                                      f"{n.layer.name!r}); export a model whose layer calls take only their inputs")
    rules = [onnx_layers.converter(n.layer, quantized_recurrent) for n in model._nodes]  # checks all first
    graph_inputs = []
    for kt in model._inputs:
        name = g.name(kt.node.layer.name)
        graph_inputs.append(helper.make_tensor_value_info(name, _input_dtype(kt, model._nodes), _dims(kt.shape)))
        g.bind(kt, name)
    for node, rule in zip(model._nodes, rules):
        outs = rule(g, node.layer, [g.value(t) for t in node.inputs], node)
        for kt, v in zip(node.outputs, outs):
            g.bind(kt, v)
    graph_outputs = []
    for i, kt in enumerate(model._outputs):
        layer = kt.node.layer
        hint = layer.name if len(kt.node.outputs) == 1 else f"{layer.name}_{kt.index}"
        name = g.name(hint)
        g.nodes.append(helper.make_node("Identity", [g.value(kt)], [name], name=g.name(f"{name}_out")))
        graph_outputs.append(helper.make_tensor_value_info(name, T.FLOAT, _dims(kt.shape)))
    graph = helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(onnx_preprocessing.ML_DOMAIN, 2)]
                                                 if g.ml_used else [])
    proto = helper.make_model(graph, producer_name="bigcore", producer_version=__version__, opset_imports=opsets)
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    return proto
