"""Keras 3's config.json <-> bigcore configs: the layer configs both ways (Keras's extra keys,
dtype policies, module names; InputLayer's batch_shape), Sequential and functional models (Keras
3's inbound nodes of `__keras_tensor__` arguments), and the compile configuration.

Keras writes keys bigcore has no use for; each is dropped only where its value means what bigcore
does anyway (`quantization_config: null`, `sparse: false`, a float32 dtype policy...). Any other
value, any layer class bigcore lacks and any Keras operation other than the masks Keras records
(`NotEqual(x, 0)` of an Embedding's ids, which bigcore computes itself) is refused by name.
"""

import inspect

from bigcore import losses as losses_module
from bigcore import metrics as metrics_module
from bigcore.layers import registry
from bigcore.layers.base import Layer
from bigcore.layers.core import InputLayer
from bigcore.saving import functions, keras_ops

# Keras-only keys -> the values that change nothing here
_NEUTRAL = {"quantization_config": (None,), "lora_rank": (None,), "lora_alpha": (None,), "sparse": (False,),
            "ragged": (False,), "optional": (False,), "activity_regularizer": (None,), "unroll": (False,),
            "stateful": (False,), "use_cudnn": ("auto", True, False), "autocast": (True, False),
            "input_length": (None,), "synchronized": (False,), "pad_to_aspect_ratio": (False,),
            "embeddings_constraint": (None,), "kernel_constraint": (None,), "bias_constraint": (None,),
            "recurrent_constraint": (None,), "build_input_shape": None, "implementation": None,
            "time_major": (False,), "data_format": ("channels_last", None)}
_ALWAYS_DROP = {"zero_output_for_mask", "shared_object_id", "registered_name", "module"}
_SERIALIZED_KEYS = ("module", "class_name", "config", "registered_name")
FLOAT_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                "registered_name": None}


def _accepted(cls):
    """The keyword arguments cls's constructor chain takes (None: anything, a **kwargs sink)."""
    step = getattr(cls, "layer_class", None)  # a recurrent cell takes its layer's step arguments
    if step is not None:
        return _accepted(step)
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or (issubclass(cls, Layer) and not issubclass(klass, Layer)):
            continue  # (a mixin's, such as a model's Trainer: the chain goes on to Layer)
        params = inspect.signature(init).parameters.values()
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
        if klass is Layer:
            return names
    return None


def _policy_name(dtype):
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        return cfg.get("name") if isinstance(cfg, dict) else None
    return dtype


def _clean_object(obj):
    """A nested serialized object (initializer, regularizer, constraint, function) as bigcore reads it:
    Keras's bookkeeping keys dropped, and config keys Keras adds as null."""
    if not isinstance(obj, dict) or "class_name" not in obj:
        return obj
    if obj["class_name"] == "function":  # a function (an activation of the user's own): found by its name
        return obj
    out = {"class_name": obj["class_name"], "config": dict(obj.get("config") or {})}
    out["config"] = {k: v for k, v in out["config"].items()
                     if not (v is None and k in ("input_axes", "output_axes"))}
    registered = obj.get("registered_name")
    if isinstance(registered, str) and ">" in registered:  # a class of the user's own, registered by name
        out["registered_name"] = registered
    return out


def layer_from_keras(entry, where):
    """A Keras layer entry of config.json -> bigcore's {"class_name", "config"}, or a ValueError
    naming the layer and what bigcore does not take."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ValueError(f"{where}: not a layer entry: {str(entry)[:120]}")
    name = entry["class_name"]
    if name == "Sequential" and entry.get("registered_name") is None:  # a model used as a layer
        return {"class_name": name, "config": sequential_from_keras(entry["config"], where)}
    if name in ("Functional", "Model") and entry.get("registered_name") in (None, "Functional"):
        functional, masks, _ = functional_from_keras(entry["config"], where)
        if masks:
            raise ValueError(f"{where}: the inner model {entry['config'].get('name')!r} passes an Embedding's mask "
                             f"to {masks}; bigcore loads that only in the outer model")
        return {"class_name": "Functional", "config": functional}
    try:
        registered = entry.get("registered_name")
        cls = registry.get_class(name, registered if isinstance(registered, str) else None)
    except ValueError:
        module = entry.get("module") or "?"
        raise ValueError(f"{where}: bigcore has no layer {name!r} (Keras module {module!r}); a model holding it cannot "
                         "be loaded (custom layers: pass them in custom_objects)") from None
    config = dict(entry["config"])
    label = f"{where}: layer {config.get('name', '?')!r} ({name})"
    if cls is InputLayer:
        batch_shape = config.pop("batch_shape", None) or config.pop("batch_input_shape", None)
        if batch_shape is not None:
            config["shape"], config["batch_size"] = tuple(batch_shape[1:]), batch_shape[0]
        config["dtype"] = _policy_name(config.get("dtype")) or "float32"
    else:
        dtype = _policy_name(config.pop("dtype", None))
        if dtype not in (None, "float32") and not getattr(cls, "input_side", False):
            raise ValueError(f"{label} computes in {dtype}; bigcore computes in float32 (int8 through "
                             "bigcore.quantization)")
    accepted = _accepted(cls)
    for key in list(config):
        value = config[key]
        if key in _ALWAYS_DROP and not (key == "zero_output_for_mask" and name == "RNN"):  # RNN's own argument
            del config[key]
        elif accepted is not None and key not in accepted:
            neutral = _NEUTRAL.get(key, ())
            if neutral is None or value in neutral:
                del config[key]
            else:
                raise ValueError(f"{label}: bigcore does not support {key}={value!r}")
        elif isinstance(value, dict) and "class_name" in value and "config" in value:
            if key in ("layer", "backward_layer", "cell"):
                config[key] = layer_from_keras(value, where)
            else:
                config[key] = _clean_object(value)
        elif key == "cells" and isinstance(value, list):  # StackedRNNCells
            config[key] = [layer_from_keras(v, where) for v in value]
    if name == "Bidirectional" and "backward_layer" in config:
        _check_backward(label, config)
    out = {"class_name": name, "config": config}
    if registry.registered_name(cls) is not None:
        out["registered_name"] = registry.registered_name(cls)
    return out


def _check_backward(label, config):
    """Keras writes the backward copy it made, which bigcore makes the same (dropped); a backward
    layer of one's own is passed on (Bidirectional checks it)."""
    fwd, bwd = config["layer"], config["backward_layer"]
    same = {k: v for k, v in bwd["config"].items() if k not in ("name", "go_backwards")} == \
        {k: v for k, v in fwd["config"].items() if k not in ("name", "go_backwards")}
    if bwd["class_name"] == fwd["class_name"] and same and bwd["config"].get("go_backwards", True):
        del config["backward_layer"]


def layer_to_keras(layer, input_shape=None):
    """bigcore layer -> Keras's layer entry (module, class_name, config, registered_name, build_config)."""
    if registry.is_graph_model(layer):  # a model used as a layer: its own entry, as Keras nests it
        entry = model_to_keras(layer)
        if input_shape is not None:
            entry["build_config"] = {"input_shape": _json_shape(input_shape)}
        return entry
    cfg = layer.get_config()
    if isinstance(layer, InputLayer):
        config = {"batch_shape": [cfg.get("batch_size")] + list(cfg["shape"]), "dtype": cfg.get("dtype") or "float32",
                  "sparse": False, "ragged": False, "name": cfg["name"]}
    else:
        config = {k: v for k, v in cfg.items() if k != "input_shape"}
        if not getattr(layer, "input_side", False) and getattr(layer, "keras_config_has_dtype", True):
            config["dtype"] = dict(FLOAT_POLICY)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict) and "class_name" in config[key]:
                if key == "backward_layer" or hasattr(layer, "forward_layer"):  # Bidirectional
                    sub, shape = getattr(layer, "forward_layer" if key == "layer" else "backward_layer"), input_shape
                elif type(layer).__name__ == "TimeDistributed":  # the inner layer sees each step
                    sub, shape = layer.layer, None if input_shape is None else (input_shape[0],) + tuple(input_shape[2:])
                else:  # another Wrapper (SpectralNormalization): the inner layer sees the wrapper's input
                    sub, shape = layer.layer, input_shape
                config[key] = layer_to_keras(sub, shape)
        if type(layer).__name__ == "Bidirectional":
            config["layer"]["config"]["name"] = layer.forward_layer.name
            config["backward_layer"] = layer_to_keras(layer.backward_layer, input_shape)
        if isinstance(config.get("cell"), dict):  # RNN's cell, and a StackedRNNCells's cells
            config["cell"] = layer_to_keras(layer.cell)
        if isinstance(config.get("cells"), list):
            config["cells"] = [layer_to_keras(c) for c in layer.cells]
    entry = {"module": "keras.layers", "class_name": type(layer).__name__, "config": config, "registered_name": None}
    custom = registry.registered_name(type(layer))
    if custom is not None:  # a registered custom class: Keras finds it by "package>name"
        entry.update(module=type(layer).__module__, registered_name=custom)
    elif not type(layer).__module__.startswith("bigcore."):
        # an unregistered custom class, as Keras writes one: its own name (custom_objects' key in
        # Keras's load_model) and module, never "keras.layers", where Keras would look it up
        entry.update(module=type(layer).__module__, registered_name=type(layer).__name__)
    if input_shape is not None and not isinstance(layer, InputLayer):
        own = getattr(layer, "keras_build_config", None)  # a build() of named shapes (MultiHeadAttention)
        entry["build_config"] = own(input_shape) if own is not None else {"input_shape": _json_shape(input_shape)}
    return entry


def _json_shape(shape):
    if shape is None:
        return None
    if isinstance(shape, list):
        return [_json_shape(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


# --- models ----------------------------------------------------------------------------------------
# bigcore's functional config is Keras 3's (models/serialization.py: inbound nodes of
# {"args", "kwargs"} with __keras_tensor__ references), so a model goes across by translating each
# layer entry and, from Keras, dropping the mask operations Keras records.

def model_to_keras(model):
    """The model's config.json entry as Keras 3 writes it (Sequential, Functional or subclassed)."""
    if getattr(model, "_subclassed", False):
        return subclassed_to_keras(model)
    if hasattr(model, "_stack"):
        inp = model._inputs[0]
        layers = [layer_to_keras(inp.node.layer)]
        shape = inp.shape
        for layer in model._stack:
            layers.append(layer_to_keras(layer, shape))
            shape = layer.output_shape
        config = {"name": model.name, "trainable": True, "dtype": dict(FLOAT_POLICY), "layers": layers,
                  "build_input_shape": _json_shape(inp.shape)}
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                "build_config": {"input_shape": _json_shape(inp.shape)}}
    config = model.get_config()
    by_name = {layer.name: layer for layer in model._graph_layers}
    entries = []
    for entry in config["layers"]:
        layer = by_name[entry["name"]]
        if getattr(layer, "config_module", None) is not None:  # a recorded op: keras_ops.to_keras below
            entries.append(entry)
            continue
        node = layer._inbound[0] if layer._inbound else None
        shapes = [t.shape for t in node.inputs] if node is not None and node.inputs else None
        keras_entry = layer_to_keras(layer, None if not shapes else (shapes if len(shapes) > 1 else shapes[0]))
        entries.append({**keras_entry, "name": entry["name"], "inbound_nodes": entry.get("inbound_nodes", [])})
    entries = keras_ops.to_keras(entries)  # recorded bigcore.ops as Keras's operations, constants inlined
    functional = {e.get("name") for e in entries if _is_functional(e)}
    refs = {k: _shift_model_refs(config[k], functional, 1) for k in ("input_layers", "output_layers") if k in config}
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {**{k: v for k, v in config.items() if k != "layers"}, **refs, "layers": entries},
            "registered_name": "Functional"}


def subclassed_to_keras(model):
    """A subclassed model's entry as Keras's serialize_keras_object writes it: its class (module null
    for a class of __main__), get_config() (the user's, or the constructor's arguments), the
    registered name ("package>name", or the class's own name) and the shape it was built for."""
    cls = type(model)
    return {"module": None if cls.__module__ == "__main__" else cls.__module__, "class_name": cls.__name__,
            "config": model.get_config(), "registered_name": registry.registered_name(cls) or cls.__name__,
            "build_config": {"input_shape": _json_shape_tree(model.get_build_config()["input_shape"])}}


def _json_shape_tree(shape):
    """A build shape (a list, a list of them or a dict of them) as JSON lists."""
    if isinstance(shape, dict):
        return {str(k): _json_shape_tree(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_json_shape_tree(s) for s in shape]
    return _json_shape(tuple(shape))


def subclassed_from_keras(entry, where):
    """A Keras subclassed model's entry -> (its bigcore class, its config with Keras's bookkeeping
    keys dropped). The class is found as a custom layer's is: by its registered name, or by the name
    custom_objects gives it."""
    name, registered = entry["class_name"], entry.get("registered_name")
    try:
        cls = registry.get_class(name, registered if isinstance(registered, str) else None)
    except ValueError:
        raise ValueError(f"{where}: the model is a subclassed model {name!r} (registered as {registered!r}) and its "
                         "code is not in the file: register its class with @bigcore.saving.register_keras_serializable"
                         f" or pass load_model(custom_objects={{{name!r}: {name}}})") from None
    if not hasattr(cls, "_native"):
        raise ValueError(f"{where}: the file's model {name!r} names {cls.__name__}, which is a layer class, not a "
                         "Model subclass")
    return cls, layer_from_keras(entry, where)["config"]


def _tensor_refs(value):
    """The keras_history triples of the __keras_tensor__ references inside value."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            return [history] if isinstance(history, list) and history else []
        return [r for v in value.values() for r in _tensor_refs(v)]
    if isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:3]):
            return [value]
        return [r for v in value for r in _tensor_refs(v)]
    return []


def _keras_mask_ops(layers, where):
    """Keras records the mask of Embedding(mask_zero=True) as NotEqual(ids, 0) operations: their names."""
    ops = set()
    for d in layers:
        if not isinstance(d, dict) or d.get("class_name") != "NotEqual":
            continue
        nodes = d.get("inbound_nodes") or []
        ok = len(nodes) == 1 and isinstance(nodes[0], dict) and len(nodes[0].get("args") or []) == 2 \
            and nodes[0]["args"][1] == 0
        if not ok:
            raise ValueError(f"{where}: the Keras operation {d.get('name')!r} (NotEqual) is not a mask of zero ids; "
                             "bigcore has no such layer")
        ops.add(d.get("name"))
    return ops


def _strip_mask_ops(name, node, mask_ops, where, masks):
    """A Keras 3 node without the `mask=` argument Keras recorded from a NotEqual operation (bigcore
    propagates that mask itself; check_masks verifies it is there)."""
    if not isinstance(node, dict) or not isinstance(node.get("kwargs"), dict):
        return node
    kwargs = dict(node["kwargs"])
    mask = kwargs.get("mask")
    refs = _tensor_refs(mask) if mask is not None else []
    if refs and all(r[0] in mask_ops for r in refs):
        if "initial_state" in kwargs:
            raise ValueError(f"{where}: layer {name!r} takes both an initial_state and the mask of an Embedding; "
                             "bigcore does not load that combination from Keras files yet")
        del kwargs["mask"]
        masks.append(name)
    if any(r[0] in mask_ops for r in _tensor_refs({"args": node.get("args"), "kwargs": kwargs})):
        raise ValueError(f"{where}: layer {name!r} takes a Keras NotEqual operation as an input; bigcore has no "
                         "such layer")
    if kwargs.get("training") is False:
        # Keras records a call's default `training=False` (Dropout's, SpectralNormalization's, a custom
        # call(x, training=False)), and its functional model replaces it with the model's mode whenever
        # one is given, as fit and predict give: kept, it would trace a custom call in inference only
        del kwargs["training"]
    return {**node, "kwargs": kwargs}


def functional_from_keras(config, where):
    """Keras's functional config -> bigcore's (the same layout, layer entries translated, mask
    operations dropped), the names of the layers whose Keras mask bigcore must propagate, and the
    mask operations' names."""
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ValueError(f"{where}: the functional config has no list of layers")
    mask_ops = _keras_mask_ops(layers, where)
    out, masks = [], []
    taken = {d.get("name") for d in layers if isinstance(d, dict)}
    for d in layers:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: not a layer entry: {str(d)[:80]}")
        if d.get("name") in mask_ops:
            continue
        if keras_ops.is_keras_op(d):  # keras.ops called on the model's tensors: bigcore's recorded primitives
            for entry in keras_ops.from_keras(d, where, taken):
                entry["inbound_nodes"] = [_strip_mask_ops(entry["name"], n, mask_ops, where, masks)
                                          for n in entry["inbound_nodes"]]
                out.append(entry)
            continue
        entry = layer_from_keras(d, where)
        name = d.get("name", entry["config"].get("name"))
        entry["config"]["name"] = entry["name"] = name
        nodes = d.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"{where}: layer {name!r}: bad inbound_nodes")
        entry["inbound_nodes"] = [_strip_mask_ops(name, n, mask_ops, where, masks) for n in nodes]
        out.append(entry)
    keep = {k: v for k, v in config.items() if k in ("name", "input_layers", "output_layers")}
    functional = {d.get("name") for d in layers if _is_functional(d)}
    for key in ("input_layers", "output_layers"):
        if key in keep:
            keep[key] = _shift_model_refs(keep[key], functional, -1)
    return {**keep, "layers": out}, masks, mask_ops


def _is_functional(entry):
    return isinstance(entry, dict) and entry.get("class_name") in ("Functional", "Model") \
        and entry.get("registered_name") in (None, "Functional")


def _shift_model_refs(refs, functional, by):
    """Keras counts a functional model's built-in node (its inputs to its outputs) in the model
    references of input_layers / output_layers, not in a call's keras_history: a call of an inner
    functional model is node 1 there, 0 in bigcore's config."""
    if isinstance(refs, list) and len(refs) >= 3 and isinstance(refs[0], str) and isinstance(refs[1], int):
        return [refs[0], refs[1] + by, *refs[2:]] if refs[0] in functional else refs
    if isinstance(refs, list):
        return [_shift_model_refs(r, functional, by) for r in refs]
    if isinstance(refs, dict):
        return {k: _shift_model_refs(r, functional, by) for k, r in refs.items()}
    return refs


def sequential_from_keras(config, where):
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise ValueError(f"{where}: the Sequential config has no list of layers")
    entries = [layer_from_keras(d, where) for d in layers]
    if entries and entries[0]["class_name"] != "InputLayer":
        shape = config.get("build_input_shape") or (layers[0].get("build_config") or {}).get("input_shape")
        if isinstance(shape, list) and len(shape) >= 2:
            entries.insert(0, {"class_name": "InputLayer", "config": {"shape": tuple(shape[1:]),
                                                                      "name": f"{config.get('name', 'model')}_input"}})
    return {"name": config.get("name"), "layers": entries}


def check_masks(model, masks, mask_ops, where):
    """Each layer Keras handed an Embedding's mask explicitly must get it from bigcore's propagation."""
    for name in masks:
        layer = model.get_layer(name)
        if not any(t._mask is not None for n in layer._inbound for t in n.inputs):
            raise ValueError(f"{where}: layer {name!r} is given a mask that bigcore does not compute for it")


# --- compile ---------------------------------------------------------------------------------------

_OPTIMIZER_NEUTRAL = {"loss_scale_factor": (None,), "is_legacy_optimizer": None,
                      "jit_compile": None, "decay": (0.0, None)}


def compile_to_keras(model):
    """The compile_config Keras's compile_from_config takes, or None for an uncompiled model."""
    if not getattr(model, "compiled", False):
        return None
    loss, metrics, loss_weights = model._compile_args
    return {"optimizer": _optimizer_to_keras(model.optimizer), "loss": _objects_to_keras(loss, "keras.losses"), "loss_weights": loss_weights,
            "metrics": _objects_to_keras(metrics, "keras.metrics"),
            "weighted_metrics": _objects_to_keras(getattr(model, "_weighted_metrics_arg", None), "keras.metrics"),
            "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


def _optimizer_to_keras(opt):
    config = opt.get_config()
    if "inner_optimizer" in config:  # a LossScaleOptimizer: its inner optimizer as Keras nests it
        config["inner_optimizer"] = _optimizer_to_keras(opt.inner_optimizer)
    if isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = {**config["learning_rate"], "module": "keras.optimizers.schedules",
                                   "registered_name": None}
    return {"module": "keras.optimizers", "class_name": type(opt).__name__, "config": config, "registered_name": None}


def _objects_to_keras(value, module):
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_objects_to_keras(v, module) for v in value]
    if isinstance(value, dict):
        return {k: _objects_to_keras(v, module) for k, v in value.items()}
    if hasattr(value, "get_config"):
        entry = {"module": module, "class_name": type(value).__name__, "config": value.get_config(),
                 "registered_name": None}
        if not type(value).__module__.startswith("bigcore."):  # a class of the user's, as Keras writes one
            entry.update(module=type(value).__module__,
                         registered_name=registry.registered_name(type(value)) or type(value).__name__)
        return entry
    if functions.is_function(value):
        return functions.to_entry(value, module)
    raise ValueError(f"Cannot write the compiled object {value!r} into a Keras file")


def _clean_optimizer(entry, where):
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ValueError(f"{where}: bad optimizer entry in compile_config: {str(entry)[:120]}")
    name = entry.get("class_name")
    config = dict(entry["config"])
    if name == "LossScaleOptimizer" and "inner_optimizer" in config:
        config["inner_optimizer"] = _clean_optimizer(config["inner_optimizer"], where)
        return {"class_name": name, "config": config}
    for key, neutral in _OPTIMIZER_NEUTRAL.items():
        if key in config:
            if neutral is not None and config[key] not in neutral:
                raise ValueError(f"{where}: the optimizer {name} uses {key}={config[key]!r}, which bigcore does not "
                                 "support")
            del config[key]
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        config["learning_rate"] = {"class_name": lr.get("class_name"), "config": lr.get("config") or {}}
    return {"class_name": name, "config": config}


def compile_from_keras(cc, where):
    """Keras's compile_config -> (optimizer config for bigcore.optimizers.deserialize, loss, metrics,
    loss_weights, weighted_metrics)."""
    if not isinstance(cc, dict):
        raise ValueError(f"{where}: compile_config must be an object")
    return (_clean_optimizer(cc.get("optimizer"), where), _objects_from_keras(cc.get("loss"), where, "loss"),
            _objects_from_keras(cc.get("metrics"), where, "metric"), cc.get("loss_weights"),
            _objects_from_keras(cc.get("weighted_metrics"), where, "metric"))


# Keras loss / metric arguments -> the values that change nothing here
_OBJECT_NEUTRAL = {"reduction": ("sum_over_batch_size", None), "dtype": None, "ignore_class": (None,),
                   "multi_label": (False,), "num_labels": (None,), "label_weights": (None,), "axis": (-1, None),
                   "top_k": (None,)}


def _objects_from_keras(value, where="", kind=None):
    if functions.is_entry(value):
        return functions.from_entry(value, kind)
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        name = value["class_name"]
        module = losses_module if kind == "loss" else metrics_module
        cls = getattr(module, str(name), None)
        config = dict(value.get("config") or {})
        accepted = _accepted(cls) if isinstance(cls, type) else None
        if accepted is not None:
            for key in list(config):
                if key not in accepted:
                    neutral = _OBJECT_NEUTRAL.get(key, ())
                    if neutral is None or config[key] in neutral:
                        del config[key]
                    else:
                        raise ValueError(f"{where}: the {kind} {name} uses {key}={config[key]!r}, which bigcore does "
                                         "not support")
        out = {"class_name": name, "config": config}
        if cls is None and isinstance(value.get("registered_name"), str):  # a registered class of the user's
            out["registered_name"] = value["registered_name"]
        return out
    if isinstance(value, list):
        return [_objects_from_keras(v, where, kind) for v in value]
    if isinstance(value, dict):
        return {k: _objects_from_keras(v, where, kind) for k, v in value.items()}
    return value


registry.set_keras_entries(layer_to_keras, layer_from_keras)
