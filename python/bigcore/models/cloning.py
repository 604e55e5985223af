"""clone_model: a new model with the same graph, each layer replaced by clone_function(layer).

The model transforms (prune_low_magnitude, strip_pruning, quantize, sparsify) are clones whose
clone_function swaps some layers for others; they copy the weights and compile the clone themselves.
"""

from bigcore.layers.core import InputLayer
from bigcore.layers.registry import layer_config, layer_from_config, model_class, model_class_name
from bigcore.models import serialization


def _fresh_layer(layer):
    """Keras's default clone_function: the same class and config, new weights."""
    return layer_from_config(layer_config(layer))


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with `model`'s graph (Keras's clone_model), not compiled.

    clone_function(layer) -> the layer that takes its place; the default makes a fresh layer from
    the layer's config (the same class and configuration, newly initialized weights, as Keras).
    It is called on every layer, InputLayers included, in the order of model.get_config()["layers"],
    before any clone is connected. A Sequential model gives a Sequential, any other a functional Model.
    bigcore supports neither input_tensors, call_function nor recursive=True (no nested models).
    """
    if kwargs:
        raise TypeError(f"clone_model got unexpected keyword arguments: {sorted(kwargs)}")
    for name, value, default in (("input_tensors", input_tensors, None), ("call_function", call_function, None),
                                 ("recursive", recursive, False)):
        if value is not default:
            raise ValueError(f"clone_model: bigcore does not support {name} yet. Received: {name}={value!r}")
    clone_function = _fresh_layer if clone_function is None else clone_function
    if not callable(clone_function):
        raise TypeError(f"clone_function must be callable. Received: clone_function={clone_function!r}")
    originals = {layer.name: layer for layer in _all_layers(model)}

    def make_layer(entry):
        return clone_function(originals[entry["config"]["name"]])

    if getattr(model, "_subclassed", False):  # its traced graph, cloned as the functional model it is
        return model_class("Functional")._from_config(serialization.functional_config(model), make_layer)
    return model_class(model_class_name(model))._from_config(model.get_config(), make_layer)


def _all_layers(model):
    """Every layer get_config() lists: the model's layers and its InputLayers."""
    inputs = [t.node.layer for t in model._inputs or []]
    held = getattr(model, "_input_tensor", None)  # a Sequential's Input, also before it is built
    if held is not None:
        inputs.append(held.node.layer)
    layers = model.layers if not hasattr(model, "_graph_layers") or hasattr(model, "_stack") else model._graph_layers
    return inputs + [layer for layer in layers if not isinstance(layer, InputLayer)]
