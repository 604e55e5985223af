"""Model configs as JSON-ready dicts (Keras's shapes), and the graph they describe.

Layer configs and the class registry are in layers/registry.py; Model.from_config and
Sequential.from_config (functional.py, sequential.py) rebuild a model from these dicts.
"""

from bigcore.layers.core import InputLayer
from bigcore.layers.registry import layer_config, layer_from_config, model_from_config

__all__ = ["functional_config", "functional_graph", "layer_config", "layer_from_config", "model_from_config",
           "sequential_config", "sequential_layers"]


def _node_index(layer, node, kept):
    """The node's index among the layer's calls that belong to the model (`kept`: their ids), as
    Keras numbers them: a layer shared with another model has calls this model does not hold."""
    own = [n for n in layer._inbound if id(n) in kept]
    return next(i for i, n in enumerate(own) if n is node) if own else 0


def _ref(kt, kept):
    layer = kt.node.layer
    return [layer.name, 0 if isinstance(layer, InputLayer) else _node_index(layer, kt.node, kept), kt.index]


def functional_config(model):
    kept = {id(n) for n in model._nodes}
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
        seen[id(layer)]["inbound_nodes"].append([_ref(t, kept) for t in node.inputs])
    return {"name": model.name, "layers": entries,
            "input_layers": [_ref(t, kept) for t in model._inputs],
            "output_layers": [_ref(t, kept) for t in model._outputs],
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
        for i, refs in enumerate(d.get("inbound_nodes", [])):
            try:
                ins = [outputs_of[(name, node)][idx] for name, node, idx in refs]
            except KeyError as e:
                raise ValueError(f"Layer {d['name']!r} refers to an unknown input {e}") from None
            out = layer(ins if len(ins) > 1 else ins[0])
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
