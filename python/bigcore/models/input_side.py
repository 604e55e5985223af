"""A model's input side: its leading preprocessing layers (layers/preprocessing), run in NumPy
before each native call, and the inputs of the native program they feed.

split() cuts a model's layer calls into the front (input-side layers whose inputs are model inputs
or other front outputs) and the native rest; the native program's inputs are then the tensors that
cross from the front (or straight from the model inputs) into the rest. run() turns the arrays a
user passes (raw strings, unnormalized values) into those native inputs: once per fit / evaluate /
predict call for whole arrays, once per batch for streamed data.

A preprocessing layer that follows a native layer is refused when the model is built. The learned
vocabularies (StringLookup, IntegerLookup, TextVectorization) are kept in .bigcore files through a
saving-state hook; Normalization's mean and variance are plain non-trainable weights.
"""

import numpy as np

from bigcore import saving
from bigcore.layers.base import shape_str


def _input_side(layer):
    return getattr(layer, "input_side", False)


def split(inputs, nodes, outputs):
    """(front nodes, native inputs, native nodes) of a graph: inputs / outputs are KerasTensors,
    nodes the layer calls in topological order (InputLayers excluded)."""
    available = {id(t) for t in inputs}
    front, rest = [], []
    for node in nodes:
        after_native = not all(id(t) in available for t in node.parents)
        if _input_side(node.layer) and after_native and getattr(node.layer, "lowers_natively", False):
            rest.append(node)  # Rescaling after a native layer (augmentation): a native op of the program
        elif _input_side(node.layer):
            if after_native:
                raise ValueError(f"{type(node.layer).__name__} {node.layer.name!r} runs on the input side (in NumPy, "
                                 "before the native program), so it must take the model's inputs or the outputs of "
                                 "other preprocessing layers, not those of a native layer")
            front.append(node)
            available.update(id(o) for o in node.outputs)
        else:
            rest.append(node)
    native_inputs, seen = [], set()
    for t in [t for n in rest for t in n.parents] + list(outputs):  # keyword tensors (initial_state) too
        if id(t) in available and id(t) not in seen:
            seen.add(id(t))
            native_inputs.append(t)
    if not front:
        native_inputs = list(inputs)
    for t in native_inputs:
        if front and any(d is None for d in t.shape[1:]):
            raise ValueError(f"The preprocessing output {t.name!r} has shape {shape_str(t.shape)}, but native programs "
                             "need fixed sample shapes: give TextVectorization an output_sequence_length")
        if t.dtype == "string":
            raise ValueError(f"The string tensor {t.name!r} cannot enter the native program: only preprocessing layers "
                             "(TextVectorization, StringLookup, Hashing) take strings")
    return front, native_inputs, rest


def check_lowerable(model):
    """Refuses, when a native program is needed, a model whose outputs come from its input side."""
    front_out = {id(o) for n in model._front_nodes for o in n.outputs}
    if not model._native_nodes:
        raise NotImplementedError(f"Model {model.name!r} is made of preprocessing layers only and has no native program; "
                                  "call the layers themselves (layer(x)), or use them in a Dataset's map()")
    if any(id(t) in front_out for t in model._outputs):
        raise NotImplementedError("A model output that comes straight from a preprocessing layer is not supported "
                                  "yet; call the preprocessing layer itself (layer(x)) for those values")


def check_raw_input(i, a, t, model_name):
    """A raw input array against its Input: strings where the Input holds strings, shapes alike."""
    if t.dtype == "string":
        a = a if isinstance(a, np.ndarray) else np.asarray(a, dtype=object)
        if a.dtype.kind not in "OUS" or (a.dtype == object and a.size and not isinstance(a.flat[0], (str, bytes))):
            raise TypeError(f"Input {i} of model {model_name!r} is a string input; received an array of dtype {a.dtype}")
    else:
        a = np.asarray(a)
    expected = t.shape
    # Keras's functional models adjust an input's rank by one trailing axis of 1 (strings of shape
    # (batch,) from text_dataset_from_directory for an Input(shape=(1,)), and back)
    if a.ndim == len(expected) - 1 and expected[-1] == 1:
        a = a[..., None]
    elif a.ndim == len(expected) + 1 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], a.shape[1:])):
        raise ValueError(f'Input {i} of layer "{model_name}" is incompatible with the layer: expected '
                         f"shape={shape_str(expected)}, found shape={shape_str(a.shape)}")
    return a


def run(model, arrays):
    """The native program's input arrays from the model's raw input arrays (one per model input)."""
    values = {id(t): a for t, a in zip(model._inputs, arrays)}
    for node in model._front_nodes:
        xs = [values[id(t)] for t in node.inputs]
        out = node.layer.call(xs[0] if len(xs) == 1 else xs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        for kt, v in zip(node.outputs, outs):
            values[id(kt)] = np.asarray(v)
    return [values[id(t)] for t in model._native_inputs]


# -- what .bigcore files keep of the front: the learned vocabularies ----------------------------

def _front_layers(model):
    return [n.layer for n in getattr(model, "_front_nodes", ())]


def _save_vocabularies(model):
    states = {}
    for layer in _front_layers(model):
        state = layer.lookup_state() if hasattr(layer, "lookup_state") else None
        if state is not None:
            states[layer.name] = state
    return states or None


def _restore_vocabularies(model, states):
    if not isinstance(states, dict):
        raise ValueError(f"preprocessing state must be an object {{layer name: vocabulary}}, got {type(states).__name__}")
    layers = {layer.name: layer for layer in _front_layers(model) if hasattr(layer, "set_lookup_state")}
    for name, state in states.items():
        if name not in layers:
            raise ValueError(f"preprocessing state names a layer {name!r} that the model has no lookup layer of")
        layers[name].set_lookup_state(state)


saving.register_state("preprocessing", _save_vocabularies, _restore_vocabularies)
