"""Loss and metric functions in a saved compile config, as Keras writes them: {"module",
"class_name": "function", "config": the function's name, "registered_name"}. A built-in loss
function is found by its name; any other by its registered name (register_keras_serializable)
or through load_model's custom_objects."""

from bigcore import losses as losses_module
from bigcore.layers import registry


def is_function(value):
    return callable(value) and not isinstance(value, type) and hasattr(value, "__name__") and \
        not isinstance(value, (losses_module.Loss,))


def to_entry(fn, module):
    """The config entry of function fn (module: Keras's module for built-in ones)."""
    name = fn.__name__
    if name == "<lambda>":
        raise ValueError("A lambda cannot be saved as a compiled loss or metric (it has no name to find it by when the "
                         "model is loaded); define it with def, or save with include_optimizer=False / compile it "
                         "again after loading")
    builtin = getattr(fn, "_bigcore_loss", None) is not None
    return {"module": module if builtin else getattr(fn, "__module__", None), "class_name": "function",
            "config": name, "registered_name": registry.registered_name(fn) or name}


def is_entry(value):
    return isinstance(value, dict) and value.get("class_name") == "function" and isinstance(value.get("config"), str)


def from_entry(entry, what):
    """The function an entry names: built-in, registered, or from custom_objects."""
    name = entry["config"]
    builtin = getattr(losses_module, name, None)
    if getattr(builtin, "_bigcore_loss", None) is not None:
        return builtin
    fn = registry.get_object(entry.get("registered_name") or name) or registry.get_object(name)
    if fn is None or not callable(fn):
        raise ValueError(f"the compiled {what} function {name!r} is not known here: pass it to load_model("
                         f"custom_objects={{{name!r}: {name}}}), register it with "
                         "@bigcore.saving.register_keras_serializable(), or load with compile=False")
    return fn
