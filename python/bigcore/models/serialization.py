"""Model configs as JSON-ready dicts (Keras's shapes), and the graph they describe.

A functional config is Keras 3's (keras/src/models/functional.py): each layer entry lists its
calls as "inbound_nodes": [{"args": [...], "kwargs": {...}}], a tensor written as
{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history": [layer name,
node index, tensor index]}}, node indices counting only the calls this model holds.
"input_layers"/"output_layers" are one [name, node, index] reference for a single tensor, else a
list of them. bigcore's earlier form (each node a list of references, "single_input" /
"single_output" flags) and Keras's legacy one ([name, node, index, kwargs]) are still read.

Layer configs and the class registry are in layers/registry.py; Model.from_config and
Sequential.from_config (functional.py, sequential.py) rebuild a model from these dicts.
"""

from bigcore.layers.base import KerasTensor
from bigcore.layers.core import InputLayer
from bigcore.layers.registry import layer_config, layer_from_config, model_from_config

__all__ = ["functional_config", "functional_graph", "layer_config", "layer_from_config", "model_from_config",
           "sequential_config", "sequential_layers"]

_TENSOR = "__keras_tensor__"


def _node_indices(model):
    """id(node) -> its index among the calls of its layer that this model holds (Keras's
    reindexing: calls of a shared layer made for other models are not counted)."""
    held = {id(n) for n in model._nodes}
    index = {}
    for layer in {id(n.layer): n.layer for n in model._nodes}.values():
        k = 0
        for n in layer._inbound:
            if id(n) in held:
                index[id(n)] = k
                k += 1
    return index


def functional_config(model):
    indices = _node_indices(model)

    def ref(kt):
        layer = kt.node.layer
        return [layer.name, 0 if isinstance(layer, InputLayer) else indices[id(kt.node)], kt.index]

    def value(v):
        if isinstance(v, KerasTensor):
            return {"class_name": _TENSOR, "config": {"shape": list(v.shape), "dtype": v.dtype,
                                                      "keras_history": ref(v)}}
        if isinstance(v, (list, tuple)):
            return [value(a) for a in v]
        return v

    calls = {}
    for node in model._nodes:
        calls.setdefault(id(node.layer), []).append(node)
    entries = []
    for layer in model._graph_layers:  # Keras's order (functional.py: self.operations), ops included
        nodes = sorted(calls.get(id(layer), []), key=lambda n: indices[id(n)])
        entries.append({**layer_config(layer), "name": layer.name, "inbound_nodes": [
            {"args": value(args), "kwargs": {k: value(v) for k, v in kwargs.items()}}
            for args, kwargs in (layer.keras_call(n) for n in nodes)]})

    def refs(tensors, single):
        return ref(tensors[0]) if single else [ref(t) for t in tensors]

    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": refs(model._inputs, model._single_input),
            "output_layers": refs(model._outputs, model._single_output)}


def sequential_config(model):
    entries = []
    if model._input_tensor is not None:
        entries.append(layer_config(model._input_tensor.node.layer))
    entries += [layer_config(layer) for layer in model._stack]
    return {"name": model.name, "layers": entries}


class _NotYet(Exception):
    """A node refers to a call not made yet (a shared layer at several depths): retried later."""


def _is_ref(x):
    return isinstance(x, list) and len(x) in (3, 4) and isinstance(x[0], str)


def functional_graph(config, make_layer=layer_from_config):
    """(inputs, outputs) to pass to Model: every layer made first, by make_layer(entry) in the
    config's order, then called on its inbound nodes; a node whose inputs do not exist yet waits
    for a later pass, as Keras's functional_from_config does."""
    made, calls, pending = {}, {}, []
    for d in config["layers"]:
        layer = make_layer(d)
        made[d["name"]] = layer
        calls[d["name"]] = [[layer.output]] if isinstance(layer, InputLayer) else []
        nodes = d.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ValueError(f"Layer {d['name']!r}: inbound_nodes must be a list, got {nodes!r}")
        if nodes and not isinstance(layer, InputLayer):
            pending.append((d["name"], list(nodes)))

    def tensor(name, node, index):
        if name not in made:
            raise ValueError(f"The model config refers to an unknown layer {name!r}")
        outs = calls[name]
        if not isinstance(node, int) or not isinstance(index, int) or node < 0 or index < 0:
            raise ValueError(f"The model config has a bad tensor reference {[name, node, index]!r}")
        if node >= len(outs):
            raise _NotYet()
        if index >= len(outs[node]):
            raise ValueError(f"The model config refers to output {index} of layer {name!r}, which has "
                             f"{len(outs[node])} output(s)")
        return outs[node][index]

    def revive(v):
        if isinstance(v, dict) and v.get("class_name") == _TENSOR:
            history = v.get("config", {}).get("keras_history")
            if not _is_ref(history):
                raise ValueError(f"The model config has a tensor without a keras_history: {v!r}")
            return tensor(*history[:3])
        if isinstance(v, list):
            return [revive(a) for a in v]
        if isinstance(v, dict):
            return {k: revive(a) for k, a in v.items()}
        return v

    def call_args(node):
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            args, kwargs = revive(node.get("args", [])), revive(node.get("kwargs", {}))
            if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
                raise ValueError(f"The model config has a bad node {node!r}")
            return args, kwargs
        if isinstance(node, list) and node and all(_is_ref(r) for r in node):  # bigcore's / Keras's legacy list
            ins = [tensor(*r[:3]) for r in node]
            kwargs = node[0][3] if len(node[0]) == 4 else {}
            return [ins if len(ins) > 1 else ins[0]], dict(kwargs or {})
        raise ValueError(f"The model config has a bad node {node!r}")

    while pending:
        progressed, left = False, []
        for name, nodes in pending:
            while nodes:
                try:
                    args, kwargs = call_args(nodes[0])
                except _NotYet:
                    break
                out = made[name](*args, **kwargs)
                calls[name].append(_flat(out))
                nodes.pop(0)
                progressed = True
            if nodes:
                left.append((name, nodes))
        if not progressed:
            raise ValueError("Invalid functional model config: the graph has loops or refers to calls that do not "
                             f"exist; unresolved layers: {[name for name, _ in left]}")
        pending = left

    def tensors(spec, single_key):
        if _is_ref(spec):  # Keras 3: one reference for a single tensor
            return [tensor(*spec[:3])], True
        if not isinstance(spec, list) or not all(_is_ref(r) for r in spec):
            raise ValueError(f"The model config has bad input/output references {spec!r}")
        try:
            ts = [tensor(*r[:3]) for r in spec]
        except _NotYet:
            raise ValueError(f"The model config's input/output references {spec!r} name calls that do not exist") from None
        return ts, config.get(single_key, len(ts) == 1)

    try:
        ins, single_in = tensors(config["input_layers"], "single_input")
        outs, single_out = tensors(config["output_layers"], "single_output")
    except _NotYet:
        raise ValueError("The model config's input/output references name calls that do not exist") from None
    return ins[0] if single_in else ins, outs[0] if single_out else outs


def sequential_layers(config, make_layer=layer_from_config):
    """What to pass to Sequential: each entry's layer (an InputLayer as its output tensor)."""
    return [_as_added(make_layer(d)) for d in config["layers"]]


def _as_added(layer):
    return layer.output if isinstance(layer, InputLayer) else layer


def _flat(out):
    """A call's outputs as the config indexes them: flat (an RNN over stacked cells nests an LSTM
    cell's [h, c]; a traced call may return a tuple)."""
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return [out]
