"""save_model / load_model, save_weights / load_weights, model_to_json / model_from_json, and the
saving-state hooks through which packages above saving keep their own state in config.json."""

import contextlib
import json
import os
import zipfile

from bigcore import losses as losses_module
from bigcore import metrics as metrics_module
from bigcore import regularizers
from bigcore.layers import base as layer_base
from bigcore.layers import registry
from bigcore.saving import archive, keras_files, model_state, storage
from bigcore.saving.archive import CONFIG, FORMAT, MODEL_SUFFIX, OPTIMIZER, WEIGHTS, WEIGHTS_SUFFIX

# Saving-state hooks: name -> (save, restore); see register_state.
_STATES = {}
_RESERVED = ("format", "format_version", "class_name", "config", "compile_config", "training_state", "build_config",
             "registered_name")


def register_keras_serializable(package="Custom", name=None):
    """Class (or function) decorator, as Keras's: registers the object under "package>name" (name:
    the object's own by default), so load_model and model_from_json find a custom layer, a
    subclassed model or a Lambda's function without custom_objects."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>'. Received: {package!r}")

    def decorate(obj):
        registered = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register {obj!r}: a class must have get_config()")
        return registry.register_object(obj, registered)

    return decorate


def get_registered_name(obj):
    """The name a file gives obj: "package>name" when registered, else its __name__."""
    return registry.registered_name(obj) or getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name, custom_objects=None, module_objects=None):
    for table in (custom_objects or {}, registry._OBJECTS, module_objects or {}):
        if name in table:
            return table[name]
    return None


def register_state(name, save, restore):
    """Keeps a package's own model state in config.json under the top-level key `name`.

    save(model) -> a JSON-ready value, or None to write nothing (asked of built models only).
    restore(model, value) runs while loading, after the weights are set and before the model is
    compiled (so before its program exists); it raises ValueError or TypeError on a bad value,
    which load_model reports with the file's name. compression/pruning keeps its schedules so.
    """
    if not isinstance(name, str) or name in _RESERVED:
        raise ValueError(f"register_state: {name!r} is not a free config.json key (reserved: {list(_RESERVED)})")
    if not (callable(save) and callable(restore)):
        raise TypeError(f"register_state expects save and restore functions. Received: {save!r}, {restore!r}")
    _STATES[name] = (save, restore)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Writes `model` (architecture, weights, compile settings, optimizer state) to a .bigcore file.

    Each weight is stored dense or, when smaller, as a bitmask or CSR layout of its non-zero entries
    (storage.py); loading gives back the same bits. include_optimizer=False leaves out the
    optimizer's state (the model loads compiled, with a fresh optimizer).

    A path ending in `.keras` writes a Keras 3 archive instead (keras_files.py): what Keras keeps
    (architecture, weights, compile settings, optimizer state, vocabularies), not bigcore's exact
    resume state, int8 or sparse storage."""
    path = os.fspath(filepath)
    if isinstance(path, str) and path.endswith(keras_files.KERAS_SUFFIX):
        return keras_files.save_model(model, path, overwrite=overwrite, include_optimizer=include_optimizer)
    if isinstance(path, str) and path.endswith(keras_files.LEGACY_SUFFIXES):
        return keras_files.save_legacy_h5(model, path, overwrite=overwrite, include_optimizer=include_optimizer)
    path = archive.check_suffix(filepath, MODEL_SUFFIX, "save")
    archive.check_overwrite(path, overwrite)
    weights, sparse = storage.encode_all(model_state.weight_tensors(model))
    compile_config = model_state.compile_config(model)
    if compile_config is not None and not include_optimizer:
        compile_config["optimizer_state"] = False
        compile_config["optimizer"]["iterations"] = 0
    config = {"format": FORMAT, "format_version": 2 if sparse else 1,
              "class_name": registry.model_class_name(model), "config": model.get_config(),
              "compile_config": compile_config, "training_state": model_state.training_state(model)}
    build_config = model.get_build_config() if hasattr(model, "get_build_config") else None
    if build_config is not None:  # a subclassed model is built from it before its weights are set
        config["build_config"] = build_config
    name = registry.registered_name(type(model))
    if name is not None:
        config["registered_name"] = name
    if model.built and getattr(model, "_inputs", None):
        for name, (save, _) in _STATES.items():
            state = save(model)
            if state is not None:  # readers that do not know the key ignore it and load a plain model
                config[name] = state
    members = [(CONFIG, archive.json_bytes(config), zipfile.ZIP_DEFLATED),
               (WEIGHTS, archive.tensors_bytes(weights), zipfile.ZIP_STORED)]
    slots = model_state.optimizer_tensors(model) if include_optimizer else None
    if slots is not None:
        members.append((OPTIMIZER, archive.tensors_bytes(slots), zipfile.ZIP_STORED))
    archive.atomic_write(path, lambda f: archive.write_zip(f, members))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuilds the model saved by save_model; compiled with its optimizer state if compile=True.
    Reads Keras 3 `.keras` archives and legacy Keras 2 `.h5` model files too (keras_files.py).
    safe_mode is Keras's; bigcore is always safe: no file's code is ever run, so a Lambda's
    function is found by its registered name (custom_objects) whatever safe_mode says."""
    if not isinstance(safe_mode, bool):
        raise TypeError(f"load_model: safe_mode must be True or False. Received: safe_mode={safe_mode!r}")
    path = os.fspath(filepath)
    if isinstance(path, str) and path.endswith((keras_files.KERAS_SUFFIX,) + keras_files.LEGACY_SUFFIXES):
        with _custom_scope(custom_objects):
            if path.endswith(keras_files.KERAS_SUFFIX):
                return keras_files.load_model(path, compile=compile)
            return keras_files.load_legacy_h5(path, compile=compile)
    with archive.open_archive(path) as (zf, infos):
        config = archive.read_config(path, zf, infos)
        info = infos[WEIGHTS]
        data = archive.read_member(path, zf, info, info.file_size)  # bounded by the inflation check
        # The config cannot make the model allocate more weight bytes than the weights member
        # declares (itself bounded by the file's size through the inflation check), plus what its
        # sparse layouts can at most decode to.
        budget = info.file_size + storage.extra_budget(archive.header(data))
        with _custom_scope(custom_objects), layer_base.weight_budget(budget):
            class_name = config.get("registered_name") or config["class_name"]
            try:
                registry.model_class(class_name)
            except ValueError as e:
                raise ValueError(f"{path}: unknown model class {archive.short(class_name)} in {CONFIG}: {e}") from None
            model = _model_from(path, class_name, config["config"], config.get("build_config"))
            model_state.restore_training_state(path, model, config.get("training_state"))
            _check_weights_size(path, info, model)
            tensors = storage.decode_all(f"{path}: {WEIGHTS}", archive.parse_tensors(path, WEIGHTS, data),
                                         model.weights)
            model_state.assign_weights(path, model, tensors, WEIGHTS)
            for name, (_, restore) in _STATES.items():  # before compile makes the program
                if config.get(name) is not None:
                    try:
                        restore(model, config[name])
                    except (ValueError, TypeError) as e:
                        raise ValueError(f"{path}: {CONFIG}: {e}") from None
            compile_config = config.get("compile_config")
            if compile and compile_config is not None:
                model_state.compile_from(path, model, compile_config)
                if compile_config.get("optimizer_state", True) is not False or OPTIMIZER in infos:
                    model_state.restore_optimizer(path, model, zf, infos)
    return model


def _check_weights_size(path, info, model):
    limit = model_state.weights_limit(model)
    if info.file_size > limit:
        raise ValueError(f"{path}: the member {WEIGHTS!r} declares {info.file_size} bytes, more than "
                         f"the {limit} it can legitimately hold")


def restore_state(model, filepath):
    """Puts the training state save_model wrote of this very model (a `.bigcore` file) back into it:
    weights, optimizer slots and iterations, seed and random streams. The model must be compiled
    as it was when saved and have its program (fit has started); BackupAndRestore resumes so."""
    path = archive.check_suffix(filepath, MODEL_SUFFIX, "restore_state")
    if getattr(model, "_program", None) is None or model.optimizer is None:
        raise ValueError(f"restore_state({path!r}): model {model.name!r} must be compiled and its program "
                         "built (restore it from fit's on_train_begin, or after a first train_on_batch)")
    with archive.open_archive(path) as (zf, infos):
        config = archive.read_config(path, zf, infos)
        if (config.get("registered_name") or config.get("class_name")) != \
                (registry.registered_name(type(model)) or registry.model_class_name(model)):
            raise ValueError(f"{path}: it holds a {archive.short(config.get('class_name'))}, not model "
                             f"{model.name!r}'s class {registry.model_class_name(model)}")
        info = infos[WEIGHTS]
        _check_weights_size(path, info, model)  # before reading: a larger member is not this model's
        data = archive.read_member(path, zf, info, info.file_size)
        tensors = storage.decode_all(f"{path}: {WEIGHTS}", archive.parse_tensors(path, WEIGHTS, data), model.weights)
        cc = config.get("compile_config")
        iterations = cc.get("optimizer", {}).get("iterations", 0) if isinstance(cc, dict) else 0
        if not archive.is_count(iterations):
            raise ValueError(f"{path}: bad optimizer iterations {archive.short(iterations)} in {CONFIG}")
        state = config.get("training_state")
        if isinstance(state, dict) and isinstance(state.get("layer_streams"), dict):
            # the same model built again in one process has other automatic layer names: its streams
            # are matched in order (as its weights are), when there are as many
            saved, own = state["layer_streams"], [p for p, _ in model_state.layer_streams(model)]
            if set(saved) != set(own) and len(saved) == len(own):
                state = {**state, "layer_streams": dict(zip(own, saved.values()))}
        model_state.assign_weights(path, model, tensors, WEIGHTS)
        model_state.restore_training_state(path, model, state)
        model_state.restore_optimizer(path, model, zf, infos)
        model.optimizer.iterations = iterations


def save_weights(model, filepath, overwrite=True):
    """Writes model.weights, in order, to one .weights.safetensors file (always dense: a plain
    safetensors file that other tools read; save_model is the one that stores sparse layouts), or,
    for a `.weights.h5` path, Keras 3's weights file (and the optimizer's state when compiled)."""
    path = os.fspath(filepath)
    if isinstance(path, str) and path.endswith(keras_files.WEIGHTS_H5_SUFFIX):
        return keras_files.save_weights(model, path, overwrite=overwrite)
    path = archive.check_suffix(filepath, WEIGHTS_SUFFIX, "save_weights")
    archive.check_overwrite(path, overwrite)
    data = archive.tensors_bytes(model_state.weight_tensors(model))
    archive.atomic_write(path, lambda f: f.write(data))


def load_weights(model, filepath):
    """Sets model.weights from a file written by save_weights (matched by position and shape), or
    from a Keras `.weights.h5` file (Keras 3's layout, or Keras 2's by layer name)."""
    path = os.fspath(filepath)
    if isinstance(path, str) and path.endswith((keras_files.WEIGHTS_H5_SUFFIX,) + keras_files.LEGACY_SUFFIXES):
        return keras_files.load_weights(model, path)
    path = archive.check_suffix(filepath, WEIGHTS_SUFFIX, "load_weights")
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{WEIGHTS_SUFFIX}` file.")
    model_state.require_built(model, "load_weights")
    limit = model_state.weights_limit(model)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: the file is larger than the {limit} bytes the weights of model "
                         f"{model.name!r} can take; it is not this model's weights file")
    model_state.assign_weights(path, model, archive.parse_tensors(path, os.path.basename(path), data),
                               "weights file")


def model_to_json(model, **kwargs):
    """The model's architecture as a JSON string (no weights); kwargs go to json.dumps."""
    return archive.json_dumps({"class_name": registry.model_class_name(model), "config": model.get_config()},
                              **kwargs)


def model_from_json(json_string, custom_objects=None):
    """Rebuilds a model (freshly initialized weights) from model_to_json's string."""
    try:
        d = json.loads(json_string)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"model_from_json expects a JSON string from model.to_json(): {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("class_name"), str) or not isinstance(d.get("config"), dict):
        raise ValueError('model_from_json expects {"class_name": ..., "config": {...}}, '
                         f"got {archive.short(d)}")
    with _custom_scope(custom_objects):
        return _model_from("model_from_json", d["class_name"], d["config"])


def _model_from(path, class_name, config, build_config=None):
    try:
        model = registry.model_from_config(class_name, config)
        if build_config is not None and hasattr(model, "build_from_config"):
            model.build_from_config(build_config)
        return model
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
            RecursionError, OverflowError) as e:
        raise ValueError(f"{path}: the model config cannot be rebuilt: {type(e).__name__}: {e}") from None


# Keras's global custom objects (get_custom_objects): what a program puts here is found by every
# load_model / model_from_json, as if passed in custom_objects.
_GLOBAL_CUSTOM_OBJECTS = {}


def get_custom_objects():
    """The global dict of custom objects (name -> class or function), Keras's: entries added to it
    are found when models are loaded."""
    return _GLOBAL_CUSTOM_OBJECTS


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within the block, these custom objects are found by name as if registered (Keras's
    CustomObjectScope)."""
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_object_scope expects a dict of name -> object. Received: {custom_objects!r}")
    saved = dict(_GLOBAL_CUSTOM_OBJECTS)
    _GLOBAL_CUSTOM_OBJECTS.update(custom_objects or {})
    try:
        yield
    finally:
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(saved)


CustomObjectScope = custom_object_scope


@contextlib.contextmanager
def _custom_scope(custom_objects):
    """Makes custom layer and loss classes findable by name while a config is rebuilt (those given,
    and the global ones of get_custom_objects / custom_object_scope)."""
    custom_objects = {**_GLOBAL_CUSTOM_OBJECTS, **(custom_objects or {})}
    if not custom_objects:
        yield
        return

    def classes_of(base):
        return {name: obj for name, obj in custom_objects.items() if isinstance(obj, type) and issubclass(obj, base)}

    layers = classes_of(layer_base.Layer)
    functions = {name: obj for name, obj in custom_objects.items() if callable(obj) and not isinstance(obj, type)}
    tables = [(losses_module._BY_CLASS, classes_of(losses_module.Loss)),
              (metrics_module.CUSTOM_CLASSES, classes_of(metrics_module.Metric)),
              (regularizers.CUSTOM_CLASSES, classes_of(regularizers.Regularizer))]
    saved = [(table, name, table.get(name, _MISSING)) for table, given in tables for name in given]
    for table, given in tables:
        table.update(given)
    try:
        with registry.custom_classes(layers, functions):
            yield
    finally:
        for table, name, old in reversed(saved):
            if old is _MISSING:
                table.pop(name, None)
            else:
                table[name] = old


_MISSING = object()
