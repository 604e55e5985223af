"""Keras's serialize_keras_object / deserialize_keras_object for the objects a config holds: layers,
losses, optimizers, initializers, regularizers, constraints, metrics, activation and loss functions,
and plain values (numbers, strings, lists and dicts of them). An object becomes Keras's
{"module", "class_name", "config", "registered_name"} (keras_config.py's forms, which Keras 3 reads);
Keras's entries come back with the keys Keras adds that change nothing here dropped and any other
refused by name. Anything else is refused (no pickling)."""

from bigcore import activations, constraints, initializers, losses, metrics, optimizers, regularizers
from bigcore.layers import base as layer_base
from bigcore.layers import registry
from bigcore.saving import functions, keras_config

# module name in an entry -> (the bigcore module, its base class)
_KINDS = {"keras.losses": (losses, losses.Loss), "keras.optimizers": (optimizers, optimizers.Optimizer),
          "keras.initializers": (initializers, initializers.Initializer),
          "keras.regularizers": (regularizers, regularizers.Regularizer),
          "keras.constraints": (constraints, constraints.Constraint), "keras.metrics": (metrics, metrics.Metric)}


def serialize_keras_object(obj):
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, layer_base.Layer):
        return registry.serialize(obj)
    for module, (_, base) in _KINDS.items():
        if isinstance(obj, base):
            reg = registry.registered_name(type(obj))
            return {"module": None if reg else module, "class_name": type(obj).__name__, "config": obj.get_config(),
                    "registered_name": reg}
    if callable(obj) and getattr(obj, "__name__", None):
        module = ("keras.activations" if getattr(activations, obj.__name__, None) is obj else
                  "keras.losses" if getattr(losses, obj.__name__, None) is obj else None)
        if module is None and registry.registered_name(obj) is None:
            raise TypeError(f"serialize_keras_object: the function {obj.__name__!r} is neither a Keras activation or "
                            "loss nor registered (bigcore.saving.register_keras_serializable)")
        entry = functions.to_entry(obj, module)
        return {**entry, "module": module} if module is not None else entry
    raise TypeError(f"serialize_keras_object: cannot serialize {obj!r} of type {type(obj).__name__}")


def _instance(module, name, entry):
    mod, base = _KINDS[module]
    cls = getattr(mod, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        kind = {"keras.losses": "loss", "keras.optimizers": "optimizer", "keras.initializers": "initializer",
                "keras.regularizers": "regularizer", "keras.constraints": "constraint", "keras.metrics": "metric"}
        raise ValueError(f"deserialize_keras_object: unknown {kind[module]} class {name!r}")
    where = "deserialize_keras_object"
    if module == "keras.optimizers":
        return optimizers.deserialize(keras_config._clean_optimizer(entry, where))
    if module in ("keras.losses", "keras.metrics"):
        clean = keras_config._objects_from_keras(entry, where, "loss" if module == "keras.losses" else "metric")
    else:
        clean = keras_config._clean_object(entry)
    return cls.from_config(dict(clean.get("config") or {}))


def deserialize_keras_object(config, custom_objects=None, **kwargs):
    unknown = sorted(set(kwargs) - {"module_objects", "safe_mode"})
    if unknown:
        raise TypeError(f"deserialize_keras_object() got unexpected keyword arguments {unknown}")
    custom = {**(kwargs.get("module_objects") or {}), **(custom_objects or {})}
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):  # a name: a custom or registered object, else the string itself
        return custom.get(config) or registry.get_object(config) or config
    if isinstance(config, list):
        return [deserialize_keras_object(v, custom) for v in config]
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: expected a config dict, got {type(config).__name__}")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, custom) for k, v in config.items()}
    name, module = config["class_name"], config.get("module")
    if name == "function":
        fname = config.get("registered_name") or config.get("config")
        fn = custom.get(fname) or registry.get_object(fname)
        if fn is None and module == "keras.losses":
            fn = getattr(losses, str(fname), None)
        if fn is None:
            fn = getattr(activations, str(fname), None)
        if not callable(fn):
            raise ValueError(f"deserialize_keras_object: unknown function {fname!r}")
        return fn
    cls = custom.get(name)
    if cls is not None and not issubclass(cls, layer_base.Layer):
        return cls.from_config(dict(config.get("config") or {}))
    # Keras may name the implementing module ("keras.src.backend.torch.optimizers.torch_adam")
    kind = next((k for k in _KINDS if isinstance(module, str) and (module == k or f".{k[6:]}." in f"{module}.")),
                None)
    if cls is None and kind is not None:
        return _instance(kind, name, config)
    return registry.deserialize(config, custom)
