"""The class registry: the names that configs and files use for layer and model classes.

Layer classes register themselves with `@register` where they are defined, model classes with
`@register_model(name, ...)` (bigcore.models); `bigcore.layers` imports every layer module, so
the registry is complete once the package is imported. A saved config names a class; the
registry turns the name back into the class, so code below bigcore.models (saving, a wrapper
layer such as Bidirectional) rebuilds layers and models without importing them.
"""

import contextlib

_LAYERS = {}  # class name -> layer class
_MODELS = {}  # name a file uses ("Sequential", "Functional", "Model") -> model class
_MODEL_NAMES = {}  # model class -> the name files use for it
_MISSING = object()


def register(cls):
    """Class decorator: makes a layer class findable by its name (configs, saved files)."""
    _LAYERS[cls.__name__] = cls
    return cls


def get_class(name):
    if name not in _LAYERS:
        raise ValueError(f"Unknown layer: {name!r}")
    return _LAYERS[name]


@contextlib.contextmanager
def custom_classes(classes):
    """Registers {name: layer class} while the block runs (load_model's custom_objects)."""
    saved = [(name, _LAYERS.get(name, _MISSING)) for name in classes]
    _LAYERS.update(classes)
    try:
        yield
    finally:
        for name, old in reversed(saved):
            if old is _MISSING:
                _LAYERS.pop(name, None)
            else:
                _LAYERS[name] = old


def register_model(name, *aliases):
    """Class decorator for a model class: files name it `name` (and may use the aliases)."""
    def decorate(cls):
        for n in (name,) + aliases:
            _MODELS[n] = cls
        _MODEL_NAMES[cls] = name
        return cls

    return decorate


def model_class_name(model):
    """The name a file gives `model`'s class: that of the nearest registered class it derives from."""
    for cls in type(model).__mro__:
        if cls in _MODEL_NAMES:
            return _MODEL_NAMES[cls]
    raise ValueError(f"{type(model).__name__} is not a registered bigcore model class")


def model_class(name):
    if name not in _MODELS:
        raise ValueError(f"Unknown model class: {name!r}")
    return _MODELS[name]


def model_from_config(class_name, config):
    """A new model (fresh weights) from a model config and the class name a file gives it."""
    return model_class(class_name).from_config(config)


def layer_config(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def layer_from_config(d):
    if not isinstance(d, dict) or "class_name" not in d:
        raise ValueError(f"Not a layer config: {d!r}")
    return get_class(d["class_name"]).from_config(dict(d.get("config", {})))
