"""The class registry: the names that configs and files use for layer and model classes.

Layer classes register themselves with `@register` where they are defined, model classes with
`@register_model(name, ...)` (bigcore.models); `bigcore.layers` imports every layer module, so
the registry is complete once the package is imported. A saved config names a class; the
registry turns the name back into the class, so code below bigcore.models (saving, a wrapper
layer such as Bidirectional) rebuilds layers and models without importing them.
"""

import contextlib

from bigcore import activations, regularizers

_LAYERS = {}  # class name -> layer class
_MODELS = {}  # name a file uses ("Sequential", "Functional", "Model") -> model class
_MODEL_NAMES = {}  # model class -> the name files use for it
_MODULES = {}  # a config's "module" -> the class that reads entries of it (bigcore.ops: OpLayer)
_OBJECTS = {}  # registered name ("package>name", and the plain name) -> a registered function or class
_MISSING = object()


def register(cls):
    """Class decorator: makes a layer class findable by its name (configs, saved files)."""
    _LAYERS[cls.__name__] = cls
    return cls


def get_class(name, registered_name=None):
    for key in (registered_name, name):
        if key is not None and key in _LAYERS:
            return _LAYERS[key]
    raise ValueError(f"Unknown layer: {name!r}. A custom layer class must be given to load_model(custom_objects="
                     f"{{{name!r}: {name}}}) or registered with @bigcore.saving.register_keras_serializable()")


def register_object(obj, registered_name):
    """Makes obj (a layer or model class, a function) findable by its registered name "package>name"
    (bigcore.saving.register_keras_serializable). Not by its plain name, as in Keras: two packages
    may register classes of one name."""
    _OBJECTS[registered_name] = obj
    if isinstance(obj, type) and hasattr(obj, "get_config") and hasattr(obj, "from_config"):
        _LAYERS[registered_name] = obj
    obj._registered_name = registered_name
    return obj


def registered_name(obj):
    """The name a file gives obj: "package>name" when registered, else its own name."""
    return getattr(obj, "_registered_name", None) if "_registered_name" in getattr(obj, "__dict__", {}) else None


def get_object(name):
    """A registered (or custom_objects) function or class by name, or None."""
    return _OBJECTS.get(name)


activations.set_object_lookup(get_object)  # a config's activation function of the user's own, by name
regularizers.set_object_lookup(get_object)  # a registered regularizer class, by its registered name


@contextlib.contextmanager
def custom_classes(classes, objects=None):
    """Registers {name: layer class} (and {name: function}) while the block runs (load_model's custom_objects)."""
    objects = objects or {}
    saved = [(name, _LAYERS.get(name, _MISSING)) for name in classes]
    saved_obj = [(name, _OBJECTS.get(name, _MISSING)) for name in objects]
    _LAYERS.update(classes)
    _OBJECTS.update(objects)
    try:
        yield
    finally:
        for table, entries in ((_LAYERS, saved), (_OBJECTS, saved_obj)):
            for name, old in reversed(entries):
                if old is _MISSING:
                    table.pop(name, None)
                else:
                    table[name] = old


def register_model(name, *aliases):
    """Class decorator for a model class: files name it `name` (and may use the aliases)."""
    def decorate(cls):
        for n in (name,) + aliases:
            _MODELS[n] = cls
        _MODEL_NAMES[cls] = name
        return cls

    return decorate


def model_class_name(model):
    """The name a file gives `model`'s class: a subclassed model's own class (its registered name
    when registered), else that of the nearest registered class it derives from."""
    if getattr(model, "_subclassed", False):
        return registered_name(type(model)) or type(model).__name__
    for cls in type(model).__mro__:
        if cls in _MODEL_NAMES:
            return _MODEL_NAMES[cls]
    raise ValueError(f"{type(model).__name__} is not a registered bigcore model class")


def is_graph_model(obj):
    """A Sequential or functional model (a layer of another model, saved as its layers), not a
    subclassed one (saved as a custom layer, by its attributes)."""
    return not getattr(obj, "_subclassed", False) and any(c in _MODEL_NAMES for c in type(obj).__mro__)


def model_class(name):
    if name in _MODELS:
        return _MODELS[name]
    cls = _LAYERS.get(name)  # a subclassed model: registered, or given in custom_objects
    if cls is not None and hasattr(cls, "_native"):
        return cls
    raise ValueError(f"Unknown model class: {name!r}. A subclassed model's class must be given to load_model("
                     f"custom_objects={{{name!r}: {name.split('>')[-1]}}}) or registered with "
                     "@bigcore.saving.register_keras_serializable()")


def model_from_config(class_name, config):
    """A new model (fresh weights) from a model config and the class name a file gives it."""
    return model_class(class_name).from_config(config)


def register_module(module, cls):
    """Entries of a config that name `module` (bigcore.ops's recorded operations, as Keras writes
    {"module": "keras.src.ops.numpy", "class_name": "Add"}) are read by cls.from_config."""
    _MODULES[module] = cls


def layer_config(layer):
    module = getattr(layer, "config_module", None)
    if module is not None:
        return {"module": module, "class_name": layer.serialized_name(), "config": layer.get_config()}
    out = {"class_name": type(layer).__name__, "config": layer.get_config()}
    name = registered_name(type(layer))
    if name is not None:
        out["registered_name"] = name
    return out


def layer_from_config(d):
    if not isinstance(d, dict) or "class_name" not in d:
        raise ValueError(f"Not a layer config: {d!r}")
    if d.get("module") in _MODULES:
        return _MODULES[d["module"]].from_config(dict(d.get("config", {})))
    if d["class_name"] in _MODELS and d["class_name"] not in _LAYERS and d.get("registered_name") is None:
        return model_from_config(d["class_name"], dict(d.get("config", {})))  # a model used as a layer
    return get_class(d["class_name"], d.get("registered_name")).from_config(dict(d.get("config", {})))


# Keras's layer entries <-> bigcore's layer configs (saving/keras_config.py, above this module, sets them).
_keras_entries = {"to": None, "from": None}


def set_keras_entries(to_keras, from_keras):
    _keras_entries.update({"to": to_keras, "from": from_keras})


def serialize(layer):
    """Keras's layers.serialize: the layer's entry as Keras writes it in a .keras file ({"module",
    "class_name", "config", "registered_name"}), which Keras's layers.deserialize reads too."""
    if _keras_entries["to"] is None:
        return layer_config(layer)
    return _keras_entries["to"](layer)


def deserialize(config, custom_objects=None):
    """Keras's layers.deserialize: a new layer (unbuilt, fresh weights) from an entry of serialize()
    or of Keras 3 (the keys Keras writes that change nothing here dropped, any other refused by
    name); the classes (and functions) in custom_objects are found by name meanwhile."""
    custom_objects = custom_objects or {}
    classes = {n: c for n, c in custom_objects.items() if isinstance(c, type)}
    objects = {n: f for n, f in custom_objects.items() if not isinstance(f, type)}
    with custom_classes(classes, objects):
        if _keras_entries["from"] is not None and isinstance(config, dict) and isinstance(config.get("config"), dict):
            config = _keras_entries["from"](config, "layers.deserialize")
        return layer_from_config(config)
