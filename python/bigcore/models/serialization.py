"""Model configs as JSON-ready dicts (Keras's shapes), and the graph they describe.

Layer configs and the class registry are in layers/registry.py; Model.from_config and
Sequential.from_config (functional.py, sequential.py) rebuild a model from these dicts.
"""

from bigcore.layers.core import InputLayer
from bigcore.layers.registry import layer_config, layer_from_config, model_from_config

__all__ = ["functional_config", "functional_graph", "layer_config", "layer_from_config", "model_from_config",
           "sequential_config", "sequential_layers"]


def _node_index(layer, node):
    return next(i for i, n in enumerate(layer._inbound) if n is node) if layer._inbound else 0


def _ref(kt):
    layer = kt.node.layer
    return [layer.name, 0 if isinstance(layer, InputLayer) else _node_index(layer, kt.node), kt.index]


def _node_entry(node):
    """A call's inputs as references; a call that recorded its keyword arguments (node.call_args:
    which call argument each input is, and the flags) keeps them beside: {"args", "kwargs"}."""
    refs = [_ref(t) for t in node.inputs]
    args = getattr(node, "call_args", None)
    return refs if args is None else {"args": refs, "kwargs": args}


def functional_config(model):
    entries, seen = [], {}
    for t in model._inputs:
        layer = t.node.layer
        seen[id(layer)] = {**layer_config(layer), "name": layer.name, "inbound_nodes": []}
        entries.append(seen[id(layer)])
    for node in model._nodes:
        layer = node.layer
        if id(layer) not in seen:
            seen[id(layer)] = {**layer_config(layer), "name": layer.name, "inbound_nodes": []}
            entries.append(seen[id(layer)])
        seen[id(layer)]["inbound_nodes"].append(_node_entry(node))
    return {"name": model.name, "layers": entries,
            "input_layers": [_ref(t) for t in model._inputs],
            "output_layers": [_ref(t) for t in model._outputs],
            "single_input": model._single_input, "single_output": model._single_output}


def sequential_config(model):
    entries = []
    if model._input_tensor is not None:
        entries.append(layer_config(model._input_tensor.node.layer))
    entries += [layer_config(layer) for layer in model._stack]
    return {"name": model.name, "layers": entries}


def functional_graph(config, make_layer=layer_from_config):
    """(inputs, outputs) to pass to Model: every layer made first, by make_layer(entry) in the
    config's order, then called on its inbound nodes in that order."""
    made, outputs_of = {}, {}
    for d in config["layers"]:
        layer = make_layer(d)
        made[d["name"]] = layer
        if isinstance(layer, InputLayer):
            outputs_of[(d["name"], 0)] = [layer.output]
    for d in config["layers"]:
        layer = made[d["name"]]
        for i, entry in enumerate(d.get("inbound_nodes", [])):
            refs, call_args = (entry["args"], entry["kwargs"]) if isinstance(entry, dict) else (entry, None)
            try:
                ins = [outputs_of[(name, node)][idx] for name, node, idx in refs]
            except KeyError as e:
                raise ValueError(f"Layer {d['name']!r} refers to an unknown input {e}") from None
            if call_args is None:
                out = layer(ins if len(ins) > 1 else ins[0])
            elif hasattr(layer, "call_recorded"):  # the layer replays a call with keyword arguments
                out = layer.call_recorded(ins, call_args)
            else:
                raise ValueError(f"Layer {d['name']!r} ({type(layer).__name__}) cannot replay a call with keyword "
                                 f"arguments {sorted(call_args)}")
            outputs_of[(d["name"], i)] = out if isinstance(out, list) else [out]
    ins = [outputs_of[(n, k)][i] for n, k, i in config["input_layers"]]
    outs = [outputs_of[(n, k)][i] for n, k, i in config["output_layers"]]
    return (ins[0] if config.get("single_input", len(ins) == 1) else ins,
            outs[0] if config.get("single_output", len(outs) == 1) else outs)


def sequential_layers(config, make_layer=layer_from_config):
    """What to pass to Sequential: each entry's layer (an InputLayer as its output tensor)."""
    return [_as_added(make_layer(d)) for d in config["layers"]]


def _as_added(layer):
    return layer.output if isinstance(layer, InputLayer) else layer
