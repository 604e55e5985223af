"""Keras's files, both ways: `.keras` archives (config.json, metadata.json, model.weights.h5 and
the vocabularies under assets/), `.weights.h5` files, and legacy `.h5` model files.

Reading is as guarded as for .bigcore files: only the known members, every declared size bounded
before anything is read or inflated, the model's weight allocation bounded by the weights member,
HDF5 read through keras_h5's checks, and any defect a ValueError naming the file. Nothing is ever
unpickled, and no code in a config is run (Lambda layers and custom functions are refused).
"""

import datetime
import io
import json
import os
import warnings
import zipfile

import numpy as np

from bigcore import _version
from bigcore.layers import base as layer_base
from bigcore.layers import registry
from bigcore.saving import archive, keras_config, keras_h5, keras_ops, keras_weights, model_state

KERAS_SUFFIX = ".keras"
WEIGHTS_H5_SUFFIX = ".weights.h5"
LEGACY_SUFFIXES = (".h5", ".hdf5")
CONFIG, METADATA, WEIGHTS, ASSETS = "config.json", "metadata.json", "model.weights.h5", "assets/"
VOCABULARY = "vocabulary.txt"
_MAX_METADATA = 1 << 20


def _h5_bytes(model, include_optimizer):
    h5py = keras_h5.h5py_module()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        keras_weights.write(model, f, include_optimizer)
    return buf.getvalue()


def _weights_limit(model):
    """The most bytes a Keras weights file of this model can take: its variables and an optimizer's
    (at most three slots per trainable variable, whatever optimizer wrote the file)."""
    entries, nbytes = keras_weights.value_bytes(model, include_optimizer=False)
    return keras_h5.size_limit(4 * entries, 4 * nbytes)


# --- .weights.h5 -----------------------------------------------------------------------------------

def save_weights(model, path, overwrite=True):
    """The model's variables (and its optimizer's, when compiled) in Keras 3's .weights.h5 layout."""
    archive.check_overwrite(path, overwrite)
    model_state.require_built(model, "save_weights")
    data = _h5_bytes(model, include_optimizer=getattr(model, "compiled", False))
    archive.atomic_write(path, lambda f: f.write(data))


def load_weights(model, path):
    """Sets the model's variables from a Keras 3 .weights.h5 file (or a legacy Keras 2 .h5 file),
    and the optimizer's when the model is compiled and the file holds them."""
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{WEIGHTS_H5_SUFFIX}` file.")
    model_state.require_built(model, "load_weights")
    compiled = getattr(model, "compiled", False)
    data = keras_h5.read_bounded(path, _weights_limit(model), f"the weights of model {model.name!r}")
    with keras_h5.open_bytes(path, data) as f:
        if keras_h5.group(f, "model_weights", path, required=False) is not None or "layer_names" in f.attrs:
            _read_legacy_weights(path, model, f)
        else:
            keras_weights.read(path, model, f, optimizer="if present" if compiled else False)


# --- .keras ----------------------------------------------------------------------------------------

def _lookups(model):
    """[(asset folders, lookup layer)] of the layers whose vocabulary Keras keeps under assets/."""
    out = []
    for path, layer in keras_weights.layer_paths(model):
        name = type(layer).__name__
        if name in ("StringLookup", "IntegerLookup"):
            out.append(([path], layer))
        elif name == "TextVectorization":
            out.append(([path, f"{path}/_lookup_layer"], layer))
    return out


def _keras_model_config(model, path):
    """The model's config.json entry in Keras's form, with its compile_config when compiled."""
    if not getattr(model, "_subclassed", False):  # (a subclassed model's ops are its call()'s: the file has its class)
        ops_ = keras_ops.untranslatable(model.get_config().get("layers", []) if hasattr(model, "_graph_layers")
                                        else [])
        if ops_:  # recorded primitives that no Keras operation writes (saving/keras_ops.py's table)
            raise ValueError(f"{path}: bigcore cannot write these bigcore.ops operations recorded in its graph "
                             f"({', '.join(ops_[:5])}) to a Keras .keras file yet; save it as "
                             f"`{archive.MODEL_SUFFIX}`, or move the ops into a custom Layer's call()")
    try:
        config = keras_config.model_to_keras(model)
    except NotImplementedError as e:  # a subclassed model's constructor arguments no config can hold (Keras's error)
        raise NotImplementedError(f"{path}: {e}") from None
    compile_config = keras_config.compile_to_keras(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    return config


def save_model(model, path, overwrite=True, include_optimizer=True):
    """A Keras 3 archive that keras.models.load_model opens: the config with Keras's class names
    and modules, the weights (and the optimizer's state), the learned vocabularies."""
    archive.check_overwrite(path, overwrite)
    model_state.require_built(model, "save")
    config = _keras_model_config(model, path)
    compile_config = config.get("compile_config")
    metadata = {"keras_version": "3.0.0", "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "producer": f"bigcore {_version.__version__}"}
    members = [(METADATA, json.dumps(metadata).encode(), zipfile.ZIP_DEFLATED),
               (CONFIG, archive.json_dumps(config).encode(), zipfile.ZIP_DEFLATED),
               (WEIGHTS, _h5_bytes(model, include_optimizer and compile_config is not None), zipfile.ZIP_STORED)]
    for folders, layer in _lookups(model):
        state = layer.lookup_state()
        if state is not None:
            text = "\n".join(str(t) for t in state["vocabulary"]).encode("utf-8")
            members += [(f"{ASSETS}{folder}/{VOCABULARY}", text, zipfile.ZIP_DEFLATED) for folder in folders]
    archive.atomic_write(path, lambda f: archive.write_zip(f, members))


def _open_keras(path):
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{KERAS_SUFFIX}` file.")
    f = open(path, "rb")
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        f.close()
        raise ValueError(f"{path} is not a Keras model archive: it is not a zip file, or it is truncated ({e})") \
            from None
    return f, zf


def _members(path, zf):
    infos = {}
    for info in zf.infolist():
        name = info.filename
        allowed = name in (CONFIG, METADATA, WEIGHTS) or (
            name.startswith(ASSETS) and (name.endswith("/") or name.endswith("/" + VOCABULARY))
            and ".." not in name.split("/") and "\\" not in name)
        if not allowed:
            raise ValueError(f"{path}: unexpected member {name!r} in the archive (a Keras model archive read here "
                             f"holds {CONFIG}, {METADATA}, {WEIGHTS} and vocabularies under {ASSETS})")
        if name in infos:
            raise ValueError(f"{path}: the member {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise ValueError(f"{path}: the member {name!r} is encrypted")
        if info.file_size > archive._MAX_INFLATION * info.compress_size + archive._INFLATION_SLACK:
            raise ValueError(f"{path}: the member {name!r} declares {info.file_size} bytes from {info.compress_size} "
                             "compressed bytes, more than deflate can give (a zip bomb?)")
        infos[name] = info
    for name in (CONFIG, WEIGHTS):
        if name not in infos:
            raise ValueError(f"{path}: the member {name!r} is missing; the file is not a complete Keras model")
    return infos


def _json(path, data, what):
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: {what} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: {what} is not a JSON object")
    return value


def _build(path, config):
    """A bigcore model from a Keras model entry ({"class_name", "config"}), the masks checked."""
    cls = config.get("class_name")
    inner = config.get("config")
    if not isinstance(inner, dict):
        raise ValueError(f"{path}: the model entry has no config")
    if cls == "FeatureSpace" and config.get("module") == "keras.utils":
        raise NotImplementedError(f"{path}: a FeatureSpace saved alone (FeatureSpace.save) cannot be loaded by bigcore "
                                  "yet: build it again and adapt() it, or save and load the model built on its "
                                  "get_inputs() / get_encoded_features()")
    try:
        if cls == "Sequential":
            return registry.model_from_config("Sequential", keras_config.sequential_from_keras(inner, path))
        if cls in ("Functional", "Model"):
            functional, masks, mask_ops = keras_config.functional_from_keras(inner, path)
            model = registry.model_from_config("Functional", functional)
            keras_config.check_masks(model, masks, mask_ops, path)
            return model
        if isinstance(cls, str):
            return _subclassed(path, config)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: the model config cannot be rebuilt: {msg}") \
            from None
    except (TypeError, KeyError, IndexError, AttributeError, NotImplementedError, RecursionError, OverflowError) as e:
        raise ValueError(f"{path}: the model config cannot be rebuilt: {type(e).__name__}: {e}") from None
    raise ValueError(f"{path}: the model entry has no class_name")


def _subclassed(path, config):
    """A subclassed model: its class (registered, or from custom_objects) rebuilt from its config,
    then built for the build_config's input shape, so that its weights exist to be read."""
    cls, inner = keras_config.subclassed_from_keras(config, path)
    build_config = config.get("build_config")
    if not isinstance(build_config, dict) or build_config.get("input_shape") is None:
        raise ValueError(f"{path}: the subclassed model {config['class_name']!r} has no build_config with its input "
                         "shape (it was saved before it was built), so its weights cannot be placed")
    model = cls.from_config(inner)
    model.build_from_config(build_config)
    if model._inputs is None:
        raise ValueError(f"{path}: the subclassed model {config['class_name']!r} was not built from its build_config "
                         f"{build_config!r}")
    return model


def _compile(path, model, cc):
    optimizer, loss, metrics, loss_weights, weighted = keras_config.compile_from_keras(cc, path)
    bigcore_cc = {"optimizer": {**optimizer, "iterations": 0}, "loss": loss, "metrics": metrics,
                  "loss_weights": loss_weights, "weighted_metrics": weighted}
    model_state.compile_from(path, model, bigcore_cc)


def _restore_vocabularies(path, model, zf, infos):
    for folders, layer in _lookups(model):
        names = [f"{ASSETS}{folder}/{VOCABULARY}" for folder in folders if f"{ASSETS}{folder}/{VOCABULARY}" in infos]
        if not names:
            continue
        info = infos[names[0]]
        data = archive.read_member(path, zf, info, info.file_size)
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: {names[0]} is not UTF-8 text ({e})") from None
        while lines and lines[-1] == "":
            lines.pop()
        lookup = layer._lookup_layer if type(layer).__name__ == "TextVectorization" else layer
        try:
            tokens = lines if lookup._string else [int(t) for t in lines]
            idf = lookup._idf.tolist() if lookup._idf is not None else None
            lookup.set_lookup_state({"vocabulary": tokens, "idf_weights": idf} if idf is not None
                                    else {"vocabulary": tokens})
        except (ValueError, TypeError, RuntimeError) as e:
            raise ValueError(f"{path}: the vocabulary {names[0]} cannot be used: {e}") from None


def load_model(path, compile=True):
    """A bigcore model from a Keras 3 archive: architecture, weights, compile configuration and the
    optimizer's state where present (compile=False: the model alone)."""
    f, zf = _open_keras(path)
    with f, zf:
        infos = _members(path, zf)
        config = _json(path, archive.read_member(path, zf, infos[CONFIG], archive._MAX_CONFIG_BYTES), CONFIG)
        if METADATA in infos:
            _json(path, archive.read_member(path, zf, infos[METADATA], _MAX_METADATA), METADATA)
        info = infos[WEIGHTS]
        with layer_base.weight_budget(info.file_size):
            model = _build(path, config)
        cc = config.get("compile_config")
        compiled = bool(compile and cc)
        data = archive.read_member(path, zf, info, _weights_limit(model))
        with keras_h5.open_bytes(f"{path}: {WEIGHTS}", data) as h5:
            # tf_idf weights first (from the HDF5 file), then the vocabularies they belong to
            keras_weights.read(f"{path}: {WEIGHTS}", model, h5, optimizer=False)
            _restore_vocabularies(path, model, zf, infos)
            if compiled:
                _compile(path, model, cc)
                keras_weights.read(f"{path}: {WEIGHTS}", model, h5, optimizer="if present")
    return model


# --- legacy Keras 2 .h5 ---------------------------------------------------------------------------

def _legacy_weights(layer):
    """Keras's order of a layer's weights in a legacy .h5 file: trainable, then non-trainable."""
    keras_weights._check_keras_form(layer)
    trainable = {id(w) for w in layer.trainable_weights}
    return ([w for w in layer.weights if id(w) in trainable]
            + [w for w in layer.weights if id(w) not in trainable])


def _write_names(grp, key, names):
    grp.attrs[key] = np.array([n.encode("utf-8") for n in names], dtype="S") if names else np.zeros((0,), "S1")


def save_legacy_h5(model, path, overwrite=True, include_optimizer=True):
    """A legacy `.h5` model file as Keras 3 writes one (model.save("m.h5"), ModelCheckpoint("m.h5")):
    the attributes model_config and training_config (JSON), model_weights/<layer name>/ with each
    weight under its path, and the optimizer's variables under optimizer_weights."""
    archive.check_overwrite(path, overwrite)
    model_state.require_built(model, "save")
    if getattr(model, "_subclassed", False):
        raise ValueError(f"{path}: a subclassed model cannot be saved in the legacy .h5 format (Keras refuses it "
                         f"too); save it as `{KERAS_SUFFIX}`")
    config = _keras_model_config(model, path)
    cc = config.pop("compile_config", None)
    layers = [layer for _, layer in keras_weights.layer_paths(model)]
    groups = [(layer.name, _legacy_weights(layer)) for layer in layers]
    slots = keras_weights.optimizer_slots(model) if include_optimizer and cc is not None else []
    h5py = keras_h5.h5py_module()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = b"3.0.0"
        f.attrs["backend"] = b"bigcore"
        f.attrs["model_config"] = archive.json_dumps(config).encode("utf-8")
        if cc is not None:
            f.attrs["training_config"] = archive.json_dumps(
                {"optimizer_config": cc["optimizer"], "loss": cc.get("loss"), "metrics": cc.get("metrics"),
                 "weighted_metrics": cc.get("weighted_metrics"), "loss_weights": cc.get("loss_weights")}
            ).encode("utf-8")
        root = f.create_group("model_weights")
        _write_names(root, "layer_names", [name for name, _ in groups])
        root.attrs["backend"] = b"bigcore"
        root.attrs["keras_version"] = b"3.0.0"
        for name, weights in sorted(groups, key=lambda g: g[0]):  # Keras's order: strictly growing names
            grp = root.create_group(name)
            paths = [w.path for w in weights]  # Keras's: each variable's path
            _write_names(grp, "weight_names", paths)
            for p, w in zip(paths, weights):
                grp.create_dataset(p, data=np.asarray(w.numpy(), np.float32))
        _write_names(root.create_group("top_level_model_weights"), "weight_names", [])
        if slots:
            grp = f.create_group("optimizer_weights")
            names = [f"{model.optimizer.name}/{s.key}" for s in slots]
            _write_names(grp, "weight_names", names)
            for n, s in zip(names, slots):
                grp.create_dataset(n, data=np.asarray(s.get(), dtype=s.dtype))
    data = buf.getvalue()
    archive.atomic_write(path, lambda f: f.write(data))


def load_legacy_h5(path, compile=True):
    """A bigcore model from a Keras 2 style .h5 model file (model_config, model_weights and, when
    present, training_config; the optimizer's state is not read from these files)."""
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible `.h5` file.")
    size = os.path.getsize(path)
    with keras_h5.open_path(path) as f:
        text = keras_h5.attr(f, "model_config", path)
        if not isinstance(text, str):
            raise ValueError(f"{path}: no model_config attribute: the file holds no model (a weights file? "
                             "load it with model.load_weights)")
        config = _json(path, text.encode("utf-8"), "model_config")
        with layer_base.weight_budget(size):
            model = _build(path, config)
        _read_legacy_weights(path, model, f)
        training = keras_h5.attr(f, "training_config", path)
        if compile and isinstance(training, str):
            tc = _json(path, training.encode("utf-8"), "training_config")
            opt = tc.get("optimizer_config")
            _compile(path, model, {"optimizer": opt, "loss": tc.get("loss"), "metrics": tc.get("metrics"),
                                   "weighted_metrics": tc.get("weighted_metrics"),
                                   "loss_weights": tc.get("loss_weights")})
            version = keras_h5.attr(f, "keras_version", path)
            if isinstance(version, str) and version.startswith("3."):  # Keras 2's optimizers kept other variables
                _read_legacy_optimizer(path, model, f)
    return model


def _dataset_at(grp, name, path, shape):
    """The dataset a weight_names entry names (a path: its folders are groups under grp)."""
    folder, _, key = name.rpartition("/")
    holder = keras_h5.group(grp, folder, path) if folder else grp
    return keras_h5.dataset(holder, key, path, shape)


def _read_legacy_optimizer(path, model, f):
    """The optimizer's variables of a Keras 3 legacy .h5 file (optimizer_weights, in Keras's order);
    Keras warns and keeps a fresh optimizer where they do not fit, and so does this."""
    grp = keras_h5.group(f, "optimizer_weights", path, required=False)
    if grp is None:
        return
    names = keras_h5.attr(grp, "weight_names", path, default=[])
    slots = keras_weights.optimizer_slots(model)
    if not isinstance(names, list) or len(names) != len(slots):
        warnings.warn(f"{path}: the file holds {len(names) if isinstance(names, list) else 'no'} optimizer variables "
                      f"where the model's {type(model.optimizer).__name__} has {len(slots)}: the optimizer starts "
                      "fresh", stacklevel=3)
        return
    values = [_dataset_at(grp, n, path, s.shape) for n, s in zip(names, slots)]
    for s, v in zip(slots, values):
        if s.put is not None:
            s.put(np.asarray(v, s.dtype))


def _read_legacy_weights(path, model, f):
    """Keras 2's layout: model_weights/<layer name> with a weight_names attribute, in the order of
    the layer's weights (an LSTM's kernel, recurrent_kernel, bias; a Bidirectional's forward then
    backward). Matched as Keras matches them (legacy_h5_format.load_weights_from_hdf5_group): the
    file's layers that hold weights, in order, to the model's layers that hold weights, whatever
    their names (the pretrained ImageNet files name unnamed layers by Keras 2's counters)."""
    root = keras_h5.group(f, "model_weights", path, required=False) or f
    names = keras_h5.attr(root, "layer_names", path)
    if not isinstance(names, list):
        raise ValueError(f"{path}: no layer_names attribute in the weights group")
    saved = []
    for name in names:
        grp = keras_h5.group(root, name, path)
        weight_names = keras_h5.attr(grp, "weight_names", path, default=[])
        if not isinstance(weight_names, list):
            raise ValueError(f"{path}: layer {name!r} has a malformed weight_names attribute")
        if weight_names:
            saved.append((name, grp, weight_names))
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    if len(saved) != len(layers):
        raise ValueError(f"{path}: Layer count mismatch when loading weights from file. Model expected "
                         f"{len(layers)} layers, found {len(saved)} saved layers.")
    pending = []
    for k, ((name, grp, weight_names), layer) in enumerate(zip(saved, layers)):
        weights = _legacy_weights(layer)
        if type(layer).__name__ == "Normalization" and layer.adapt_mean is not None:
            weights = [w if w is not layer.count else None for w in weights]  # Keras's count: 0, not read
        if len(weight_names) != len(weights):
            raise ValueError(f"{path}: Weight count mismatch for layer #{k} (named {layer.name} in the current "
                             f"model, {name} in the save file). Layer expects {len(weights)} weight(s). Received "
                             f"{len(weight_names)} saved weight(s)")
        for wname, w in zip(weight_names, weights):
            value = _dataset_at(grp, wname, path, None if w is None else w.shape)
            if w is not None:
                pending.append((w, value))
    for w, value in pending:
        w.assign(np.asarray(value, np.float32))
