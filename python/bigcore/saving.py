"""Saving and loading models: a `.bigcore` file is a zip of JSON and safetensors, never a pickle.

    config.json                 {"format": "bigcore", "format_version": 1 or 2, "class_name", "config",
                                 "compile_config", "training_state"}
    model.weights.safetensors   model.weights in order, keyed "%04d:<weight name>", float32 (int8
                                for quantized kernels); from format_version 2 a tensor with many
                                zeros (a pruned kernel) is stored as a bitmask or CSR layout of its
                                non-zero values when that is smaller (compression/storage.py)
    optimizer.safetensors       the native optimizer slots ("slot_%d", one arena each), present
                                when the model is compiled and its program exists

A model saved while pruning (bigcore.compression) also carries "pruning" in config.json: each
pruned layer's schedule; its masks come back from the zero pattern of the weights.

With the optimizer slots and iterations, the seed and the random streams (shuffle, dropout),
training resumed from a file continues bit for bit as if it had never stopped.

Writes are atomic: the file is written under a temporary name in the same directory, synced and
renamed over the target, so a crash mid-save leaves the previous file intact. Loading reads only
the known members, checks every declared size against a bound before reading, and turns any
defect into a ValueError that names the file and what is wrong.
"""

import contextlib
import json
import math
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np
import safetensors
import safetensors.numpy

from bigcore import layers as layers_module
from bigcore.layers import base as layer_base
from bigcore import losses as losses_module
from bigcore import metrics as metrics_module
from bigcore import optimizers

FORMAT = "bigcore"
FORMAT_VERSION = 2  # 2: sparse weight layouts; files without them are still written as 1
CONFIG = "config.json"
WEIGHTS = "model.weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
_MEMBERS = (CONFIG, WEIGHTS, OPTIMIZER)
MODEL_SUFFIX = ".bigcore"
WEIGHTS_SUFFIX = ".weights.safetensors"

_MAX_CONFIG_BYTES = 64 << 20
# A safetensors header is JSON: ~100 bytes per tensor plus the metadata we write.
_HEADER_BYTES_BASE = 1 << 20
_HEADER_BYTES_PER_TENSOR = 4096
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes
# Deflate expands at most ~1032:1; a member declaring more than this is lying.
_MAX_INFLATION = 1100
_INFLATION_SLACK = 1 << 20


# --- public API (attached to Model as methods) ------------------------------------------------

def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Writes `model` (architecture, weights, compile settings, optimizer state) to a .bigcore file.

    Each weight is stored dense or, when smaller, as a bitmask or CSR layout of its non-zero entries
    (compression/storage.py); loading gives back the same bits. include_optimizer=False leaves out
    the optimizer's state (the model loads compiled, with a fresh optimizer)."""
    from bigcore.compression import pruning, storage

    path = _check_suffix(filepath, MODEL_SUFFIX, "save")
    _check_overwrite(path, overwrite)
    weights, sparse = storage.encode_all(_weight_tensors(model))
    compile_config = _compile_config(model)
    if compile_config is not None and not include_optimizer:
        compile_config["optimizer_state"] = False
        compile_config["optimizer"]["iterations"] = 0
    config = {"format": FORMAT, "format_version": 2 if sparse else 1, "class_name": _class_name(model),
              "config": model.get_config(), "compile_config": compile_config,
              "training_state": _training_state(model)}
    pruning_state = pruning.saved_state(model) if model.built and getattr(model, "_inputs", None) else None
    if pruning_state is not None:  # readers before format_version 2 ignore it and load a plain model
        config["pruning"] = pruning_state
    members = [(CONFIG, _json_bytes(config), zipfile.ZIP_DEFLATED),
               (WEIGHTS, _tensors_bytes(weights), zipfile.ZIP_STORED)]
    slots = _optimizer_tensors(model) if include_optimizer else None
    if slots is not None:
        members.append((OPTIMIZER, _tensors_bytes(slots), zipfile.ZIP_STORED))
    _atomic_write(path, lambda f: _write_zip(f, members))


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuilds the model saved by save_model; compiled with its optimizer state if compile=True."""
    from bigcore.compression import storage

    path = os.fspath(filepath)
    with _open_archive(path) as (zf, infos):
        config = _read_config(path, zf, infos)
        info = infos[WEIGHTS]
        data = _read_member(path, zf, info, info.file_size)  # bounded by the inflation check
        # The config cannot make the model allocate more weight bytes than the weights member
        # declares (itself bounded by the file's size through the inflation check), plus what its
        # sparse layouts can at most decode to.
        with _custom_scope(custom_objects), layer_base.weight_budget(info.file_size + storage.extra_budget(_header(data))):
            model = _model_from(path, config["class_name"], config["config"])
            _restore_training_state(path, model, config.get("training_state"))
            limit = _weights_limit(model)
            if info.file_size > limit:
                raise ValueError(f"{path}: the member {WEIGHTS!r} declares {info.file_size} bytes, more than "
                                 f"the {limit} it can legitimately hold")
            tensors = storage.decode_all(f"{path}: {WEIGHTS}", _parse_tensors(path, WEIGHTS, data), model.weights)
            _assign_weights(path, model, tensors, WEIGHTS)
            if config.get("pruning") is not None:  # before compile makes the program that holds the masks
                _restore_pruning(path, model, config["pruning"])
            compile_config = config.get("compile_config")
            if compile and compile_config is not None:
                _compile_from(path, model, compile_config)
                if compile_config.get("optimizer_state", True) is not False or OPTIMIZER in infos:
                    _restore_optimizer(path, model, zf, infos)
    return model


def save_weights(model, filepath, overwrite=True):
    """Writes model.weights, in order, to one .weights.safetensors file (always dense: a plain
    safetensors file that other tools read; save_model is the one that stores sparse layouts)."""
    path = _check_suffix(filepath, WEIGHTS_SUFFIX, "save_weights")
    _check_overwrite(path, overwrite)
    data = _tensors_bytes(_weight_tensors(model))
    _atomic_write(path, lambda f: f.write(data))


def load_weights(model, filepath):
    """Sets model.weights from a file written by save_weights (matched by position and shape)."""
    path = _check_suffix(filepath, WEIGHTS_SUFFIX, "load_weights")
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{WEIGHTS_SUFFIX}` file.")
    _require_built(model, "load_weights")
    limit = _weights_limit(model)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: the file is larger than the {limit} bytes the weights of model "
                         f"{model.name!r} can take; it is not this model's weights file")
    _assign_weights(path, model, _parse_tensors(path, os.path.basename(path), data), "weights file")


def model_to_json(model, **kwargs):
    """The model's architecture as a JSON string (no weights); kwargs go to json.dumps."""
    return json.dumps({"class_name": _class_name(model), "config": model.get_config()},
                      default=_json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """Rebuilds a model (freshly initialized weights) from model_to_json's string."""
    try:
        d = json.loads(json_string)
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"model_from_json expects a JSON string from model.to_json(): {e}") from None
    if not isinstance(d, dict) or not isinstance(d.get("class_name"), str) or not isinstance(d.get("config"), dict):
        raise ValueError('model_from_json expects {"class_name": ..., "config": {...}}, '
                         f"got {_short(d)}")
    with _custom_scope(custom_objects):
        return _model_from("model_from_json", d["class_name"], d["config"])


# --- what is saved ----------------------------------------------------------------------------

def _class_name(model):
    from bigcore.models.sequential import Sequential

    return "Sequential" if isinstance(model, Sequential) else "Functional"


def _weight_tensors(model):
    weights = model.weights
    if not weights:
        return {}
    # get_weights(): the public read, which a device backend keeps in sync with its arena
    return {_weight_key(i, w): np.ascontiguousarray(v, dtype=w.dtype)
            for i, (w, v) in enumerate(zip(weights, model.get_weights()))}


def _weight_key(i, w):
    return "%04d:%s" % (i, w.name)


def _optimizer_tensors(model):
    """The native optimizer slots, or None when there is no optimizer state to save."""
    if not getattr(model, "compiled", False) or getattr(model, "_inputs", None) is None or model.optimizer.slots == 0:
        return None
    # A compiled model that was built after compile() (Sequential.add) has no program yet; make it,
    # as its first fit or predict would, so that the file holds the state a load will expect.
    program = model._native()
    return {f"slot_{i}": np.array(program.native.opt_slot(i), dtype=np.float32)
            for i in range(model.optimizer.slots)}


def _compile_config(model):
    if not getattr(model, "compiled", False):
        return None
    loss, metrics, loss_weights = model._compile_args
    opt = optimizers.serialize(model.optimizer)
    opt["iterations"] = int(model.optimizer.iterations)
    return {"optimizer": opt, "loss": _serialize_tree(loss, "loss"),
            "metrics": _serialize_tree(metrics, "metric"), "loss_weights": loss_weights}


def _serialize_tree(value, what):
    """Strings stay names; loss/metric objects become {"module", "class_name", "config"}."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [_serialize_tree(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _serialize_tree(v, what) for k, v in value.items()}
    if isinstance(value, losses_module.Loss):
        return {"module": "bigcore.losses", **losses_module.serialize(value)}
    if isinstance(value, metrics_module.Metric):
        return {"module": "bigcore.metrics", "class_name": type(value).__name__, "config": value.get_config()}
    raise ValueError(f"Cannot save the compiled {what} {value!r}: only names and bigcore loss/metric "
                     "objects can be saved")


def _sublayers(layer, path, seen):
    """(path, layer) for `layer` and the layers it wraps (Bidirectional's forward/backward copies)."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield path, layer
    for attr in sorted(vars(layer)):
        sub = getattr(layer, attr)
        if isinstance(sub, layers_module.Layer) and not attr.startswith("__"):
            yield from _sublayers(sub, f"{path}/{attr}", seen)


def _streams(model):
    seen = set()
    for layer in model.layers:
        for path, sub in _sublayers(layer, layer.name, seen):
            if isinstance(getattr(sub, "_stream", None), int):
                yield path, sub


def _training_state(model):
    return {"seed": int(model._seed), "shuffle_stream": int(model._shuffle_stream),
            "layer_streams": {path: int(sub._stream) for path, sub in _streams(model)}}


# --- writing ----------------------------------------------------------------------------------

def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _json_bytes(obj):
    return json.dumps(obj, indent=1, default=_json_default, allow_nan=True).encode("utf-8")


def _tensors_bytes(tensors):
    # one metadata key: safetensors writes a map of several in an unstable order
    return safetensors.numpy.save(tensors, metadata={"format": FORMAT})


def _write_zip(f, members):
    with zipfile.ZipFile(f, "w") as zf:
        for name, data, method in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def _atomic_write(path, write):
    """write(file) into a temporary sibling of `path`, then rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory):
    """Makes the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_suffix(filepath, suffix, what):
    path = os.fspath(filepath)
    if not isinstance(path, str) or not path.endswith(suffix):
        raise ValueError(f"The filepath given to {what}() must end in `{suffix}`. Received: filepath={path}")
    return path


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")


# --- reading ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _open_archive(path):
    """The open zip and its members by name, after checking the member list."""
    if not os.path.isfile(path):
        raise ValueError(f"File not found: filepath={path}. Please ensure the file is an accessible "
                         f"`{MODEL_SUFFIX}` file.")
    with open(path, "rb") as f:
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
            raise ValueError(f"{path} is not a bigcore model file: it is not a zip archive, or it is "
                             f"truncated ({e})") from None
        with zf:
            infos = {}
            for info in zf.infolist():
                name = info.filename
                if name not in _MEMBERS:
                    raise ValueError(f"{path}: unexpected member {name!r} in the archive (a bigcore file "
                                     f"holds only {', '.join(_MEMBERS)})")
                if name in infos:
                    raise ValueError(f"{path}: the member {name!r} appears twice")
                if info.flag_bits & 0x1:
                    raise ValueError(f"{path}: the member {name!r} is encrypted")
                if info.file_size > _MAX_INFLATION * info.compress_size + _INFLATION_SLACK:
                    raise ValueError(f"{path}: the member {name!r} declares {info.file_size} bytes from "
                                     f"{info.compress_size} compressed bytes, more than deflate can give "
                                     "(a zip bomb?)")
                infos[name] = info
            for name in (CONFIG, WEIGHTS):
                if name not in infos:
                    raise ValueError(f"{path}: the member {name!r} is missing; the file is not a complete "
                                     "bigcore model")
            yield zf, infos


def _read_member(path, zf, info, limit):
    if info.file_size > limit:
        raise ValueError(f"{path}: the member {info.filename!r} declares {info.file_size} bytes, more than "
                         f"the {limit} it can legitimately hold")
    try:
        with zf.open(info) as m:
            data = m.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError, zlib.error,
            ValueError) as e:
        raise ValueError(f"{path}: cannot read the member {info.filename!r}; the file is corrupt or "
                         f"truncated ({e})") from None
    if len(data) != info.file_size:
        raise ValueError(f"{path}: the member {info.filename!r} holds {len(data)} bytes but declares "
                         f"{info.file_size}")
    return data


def _read_config(path, zf, infos):
    data = _read_member(path, zf, infos[CONFIG], _MAX_CONFIG_BYTES)
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{path}: {CONFIG} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else config
        raise ValueError(f"{path}: {CONFIG} does not describe a bigcore model (expected "
                         f'"format": "{FORMAT}", got {_short(got)})')
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path}: bad format_version {version!r} in {CONFIG}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {version}; this bigcore reads up to {FORMAT_VERSION}. "
                         "Upgrade bigcore to load it.")
    if config.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise ValueError(f"{path}: unknown model class {_short(config.get('class_name'))} in {CONFIG}")
    if not isinstance(config.get("config"), dict):
        raise ValueError(f"{path}: {CONFIG} has no model config")
    for key in ("compile_config", "training_state"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise ValueError(f"{path}: {key} in {CONFIG} must be an object, got {_short(config[key])}")
    return config


def _model_from(path, class_name, config):
    from bigcore.models import serialization

    try:
        return serialization.model_from_config(class_name, config)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
            RecursionError, OverflowError) as e:
        raise ValueError(f"{path}: the model config cannot be rebuilt: {type(e).__name__}: {e}") from None


def _tensor_limit(shapes):
    return 8 + _HEADER_BYTES_BASE + _HEADER_BYTES_PER_TENSOR * len(shapes) + 4 * sum(math.prod(s) for s in shapes)


def _weights_limit(model):
    return _tensor_limit([w.shape for w in model.weights])


def _read_tensors(path, zf, infos, name, limit):
    return _parse_tensors(path, name, _read_member(path, zf, infos[name], limit))


def _header(data):
    """The safetensors header of `data` as a dict, or {} when it is not readable (parsing reports why)."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n].decode("utf-8")) if n <= len(data) - 8 else {}
    except (struct.error, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return header if isinstance(header, dict) else {}


def _parse_tensors(path, name, data):
    """Checks the safetensors header (float32 or int8 only, sizes consistent) then decodes it."""
    where = f"{path}: {name}"
    if len(data) < 8:
        raise ValueError(f"{where} is truncated: {len(data)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{where}: the header claims {n} bytes but only {len(data) - 8} follow")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(f"{where}: the safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the safetensors header is not an object")
    body = len(data) - 8 - n
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(spec, dict) or spec.get("dtype") not in _ITEMSIZE:
            raise ValueError(f"{where}: tensor {key!r} is {_short(spec)}; expected dtype F32 or I8 "
                             "(U8, U16, I32 for sparse layouts)")
        shape, offsets = spec.get("shape"), spec.get("data_offsets")
        if (not isinstance(shape, list) or not all(_is_count(d) for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)):
            raise ValueError(f"{where}: tensor {key!r} has a malformed shape or data_offsets: {_short(spec)}")
        if not offsets[0] <= offsets[1] <= body or offsets[1] - offsets[0] != _ITEMSIZE[spec["dtype"]] * math.prod(shape):
            raise ValueError(f"{where}: tensor {key!r} claims shape {shape} at bytes {offsets}, which the "
                             f"{body}-byte data section does not hold")
    try:
        return safetensors.numpy.load(bytes(data))
    except safetensors.SafetensorError as e:
        raise ValueError(f"{where} is not a valid safetensors file ({e})") from None


# float weights, the int8 weights of quantized layers, and the masks and indices of sparse layouts
_ITEMSIZE = {"F32": 4, "I8": 1, "U8": 1, "U16": 2, "I32": 4}


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62


def _assign_weights(path, model, tensors, what):
    weights = model.weights
    if len(tensors) != len(weights):
        raise ValueError(f"{path}: the {what} holds {len(tensors)} tensors, but model {model.name!r} has "
                         f"{len(weights)} weights")
    by_index = {}
    for key in tensors:
        idx, _, _ = key.partition(":")
        if not idx.isdigit() or int(idx) >= len(weights) or int(idx) in by_index:
            raise ValueError(f"{path}: unexpected tensor {key!r} in the {what}; model {model.name!r} has "
                             f"{len(weights)} weights keyed 0000:<name> .. {len(weights) - 1:04d}:<name>")
        by_index[int(idx)] = key
    for i, w in enumerate(weights):
        value = tensors[by_index[i]]
        if value.shape != w.shape:
            raise ValueError(f"{path}: tensor {by_index[i]!r} has shape {value.shape}, but weight "
                             f"{w.name!r} of model {model.name!r} has shape {w.shape}")
        if value.dtype != getattr(w, "dtype", np.float32):
            raise ValueError(f"{path}: tensor {by_index[i]!r} holds {value.dtype}, but weight {w.name!r} of "
                             f"model {model.name!r} holds {w.dtype}")
    if weights:
        model.set_weights([tensors[by_index[i]] for i in range(len(weights))])


def _restore_pruning(path, model, state):
    from bigcore.compression import pruning

    try:
        pruning.restore_state(model, state)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {CONFIG}: {e}") from None


def _restore_training_state(path, model, state):
    if state is None:
        return
    seed, shuffle, streams = state.get("seed"), state.get("shuffle_stream"), state.get("layer_streams", {})
    if not (_is_u64(seed) and _is_u64(shuffle) and isinstance(streams, dict)):
        raise ValueError(f"{path}: malformed training_state in {CONFIG}: {_short(state)}")
    layers = dict(_streams(model))
    for key, stream in streams.items():
        if key not in layers or not _is_u64(stream):
            raise ValueError(f"{path}: training_state names a random stream {key!r}={_short(stream)} that "
                             "the model does not have")
    missing = sorted(set(layers) - set(streams))
    if missing:
        raise ValueError(f"{path}: training_state lacks the random streams of {missing}")
    for key, stream in streams.items():
        layers[key]._stream = stream
    model._seed, model._shuffle_stream = seed, shuffle


def _is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


def _compile_from(path, model, cc):
    try:
        opt_cfg = dict(cc["optimizer"])
        iterations = opt_cfg.pop("iterations", 0)
        if not _is_count(iterations):
            raise ValueError(f"bad optimizer iterations {iterations!r}")
        optimizer = optimizers.deserialize(opt_cfg)  # learning-rate schedules included
        model.compile(optimizer=optimizer, loss=_deserialize_tree(cc["loss"], "loss"),
                      metrics=_deserialize_tree(cc.get("metrics"), "metric"), loss_weights=cc.get("loss_weights"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"{path}: the compile_config cannot be restored: {type(e).__name__}: {e}") from None
    optimizer.iterations = iterations


def _deserialize_tree(value, what):
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, list):
        return [_deserialize_tree(v, what) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"bad {what} entry {_short(value)}")
    if "class_name" in value and "config" in value:
        config = value["config"]
        if not isinstance(config, dict):
            raise ValueError(f"bad {what} config {_short(config)}")
        if value.get("module") == "bigcore.metrics" or (what == "metric" and "module" not in value):
            cls = _metric_class(value["class_name"])
            return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
        return losses_module.deserialize({"class_name": value["class_name"], "config": config})
    return {k: _deserialize_tree(v, what) for k, v in value.items()}


def _metric_class(name):
    cls = getattr(metrics_module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, metrics_module.Metric)):
        raise ValueError(f"Unknown metric: {name!r}")
    return cls


def _restore_optimizer(path, model, zf, infos):
    """Writes the saved slots into the native optimizer state (same layout: same config)."""
    program = getattr(model, "_program", None)
    slots = model.optimizer.slots
    if program is None or slots == 0:
        if OPTIMIZER in infos:
            raise ValueError(f"{path}: {OPTIMIZER} is present, but the restored model has no optimizer "
                             "state to receive it")
        return
    if OPTIMIZER not in infos:
        raise ValueError(f"{path}: the member {OPTIMIZER!r} is missing; the optimizer state cannot be restored "
                         "(load with compile=False to get the model without it)")
    n = program.native.arena_size
    tensors = _read_tensors(path, zf, infos, OPTIMIZER, _tensor_limit([(n,)] * slots))
    expected = [f"slot_{i}" for i in range(slots)]
    if sorted(tensors) != sorted(expected):
        raise ValueError(f"{path}: {OPTIMIZER} holds tensors {sorted(tensors)}, but {type(model.optimizer).__name__} "
                         f"needs {expected}")
    for i, key in enumerate(expected):
        if tensors[key].dtype != np.float32:
            raise ValueError(f"{path}: {OPTIMIZER} tensor {key!r} holds {tensors[key].dtype}, expected float32")
        if tensors[key].shape != (n,):
            raise ValueError(f"{path}: {OPTIMIZER} tensor {key!r} has shape {tensors[key].shape}, but the "
                             f"model's parameter arena has {n} values")
    for i, key in enumerate(expected):
        program.native.opt_slot(i)[...] = tensors[key]


def _require_built(model, what):
    if getattr(model, "_inputs", True) is None:
        raise ValueError(f"Model {model.name!r} must be built before {what}(): give it an input shape or "
                         "call it on data first")


@contextlib.contextmanager
def _custom_scope(custom_objects):
    """Makes custom layer and loss classes findable by name while a config is rebuilt."""
    if not custom_objects:
        yield
        return
    registries = []
    for name, obj in custom_objects.items():
        if isinstance(obj, type) and issubclass(obj, layers_module.Layer):
            registries.append((layers_module._CLASSES, name, obj))
        elif isinstance(obj, type) and issubclass(obj, losses_module.Loss):
            registries.append((losses_module._BY_CLASS, name, obj))
    saved = [(reg, name, reg.get(name, _MISSING)) for reg, name, _ in registries]
    for reg, name, obj in registries:
        reg[name] = obj
    try:
        yield
    finally:
        for reg, name, old in reversed(saved):
            if old is _MISSING:
                reg.pop(name, None)
            else:
                reg[name] = old


_MISSING = object()


def _short(v, n=120):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."
