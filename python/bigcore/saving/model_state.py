"""What a .bigcore file holds of a model besides its architecture, and how it goes back: the
weights, the compile settings and optimizer slots, and the random streams (seed, shuffle,
dropout), so that training resumed from a file continues bit for bit."""

import numpy as np

from bigcore import losses as losses_module
from bigcore import metrics as metrics_module
from bigcore import optimizers
from bigcore.layers import base as layer_base, registry
from bigcore.layers.base import Layer
from bigcore.saving import functions
from bigcore.saving.archive import CONFIG, OPTIMIZER, is_count, read_tensors, short, tensor_limit


# --- what is saved ----------------------------------------------------------------------------

def weight_tensors(model):
    weights = model.weights
    if not weights:
        return {}
    # get_weights(): the public read, which a device backend keeps in sync with its arena
    return {_weight_key(i, w): np.ascontiguousarray(v, dtype=w.dtype).reshape(w.shape)  # 0-D stays 0-D
            for i, (w, v) in enumerate(zip(weights, model.get_weights()))}


def _weight_key(i, w):
    return "%04d:%s" % (i, w.path)


def optimizer_tensors(model):
    """The native optimizer slots, or None when there is no optimizer state to save."""
    if not getattr(model, "compiled", False) or getattr(model, "_inputs", None) is None or model.optimizer.slots == 0:
        return None
    # A compiled model that was built after compile() (Sequential.add) has no program yet; make it,
    # as its first fit or predict would, so that the file holds the state a load will expect.
    program = model._native()
    return {f"slot_{i}": np.array(program.native.opt_slot(i), dtype=np.float32)
            for i in range(model.optimizer.slots)}


def compile_config(model):
    if not getattr(model, "compiled", False):
        return None
    loss, metrics, loss_weights = model._compile_args
    opt = optimizers.serialize(model.optimizer)
    opt["iterations"] = int(model.optimizer._iterations)
    if isinstance(model.optimizer, optimizers.LossScaleOptimizer):  # its state beside the slots
        opt["loss_scale"] = [float(model.optimizer.dynamic_scale), int(model.optimizer.step_counter)]
    config = {"optimizer": opt, "loss": _serialize_tree(loss, "loss"),
              "metrics": _serialize_tree(metrics, "metric"), "loss_weights": loss_weights}
    weighted = getattr(model, "_weighted_metrics_arg", None)
    if weighted is not None:
        config["weighted_metrics"] = _serialize_tree(weighted, "metric")
    return config


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
        entry = {"module": "bigcore.metrics", "class_name": type(value).__name__, "config": value.get_config()}
        if registry.registered_name(type(value)) is not None:  # a registered class of the user's
            entry["registered_name"] = registry.registered_name(type(value))
        return entry
    if functions.is_function(value):
        return functions.to_entry(value, "bigcore.losses")
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
        if isinstance(sub, Layer) and not attr.startswith("__"):
            yield from _sublayers(sub, f"{path}/{attr}", seen)


def _top_paths(model):
    """(path, layer) for the model's layers: a functional model's by layer name; a subclassed
    model's by attribute ("drop", "blocks/0"), as its layers' auto names differ after a load."""
    if not getattr(model, "_subclassed", False):
        return [(layer.name, layer) for layer in model.layers]
    out = []

    def visit(v, path, depth=0):
        if isinstance(v, Layer):
            out.append((path, v))
        elif isinstance(v, (list, tuple)) and depth < 8:
            for i, x in enumerate(v):
                visit(x, f"{path}/{i}", depth + 1)
        elif isinstance(v, dict) and depth < 8:
            for k, x in v.items():
                visit(x, f"{path}/{k}", depth + 1)

    tracked = {id(layer) for layer in model.layers}
    for attr, v in vars(model).items():
        if attr not in layer_base._UNTRACKED:  # the model's own bookkeeping (its graph's layer list, ...)
            visit(v, attr)
    return [(p, layer) for p, layer in out if id(layer) in tracked]


def layer_streams(model):
    """(path, layer) of every layer with its own random stream, in the model's order."""
    seen = set()
    for top, layer in _top_paths(model):
        for path, sub in _sublayers(layer, top, seen):
            if isinstance(getattr(sub, "_stream", None), int):
                yield path, sub


def training_state(model):
    return {"seed": int(model._seed), "shuffle_stream": int(model._shuffle_stream),
            "layer_streams": {path: int(sub._stream) for path, sub in layer_streams(model)}}


# --- what is restored -------------------------------------------------------------------------

def weights_limit(model):
    return tensor_limit([w.shape for w in model.weights])


def assign_weights(path, model, tensors, what):
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
                             f"{w.path!r} of model {model.name!r} has shape {w.shape}")
        if value.dtype != getattr(w, "dtype", np.float32):
            raise ValueError(f"{path}: tensor {by_index[i]!r} holds {value.dtype}, but weight {w.path!r} of "
                             f"model {model.name!r} holds {w.dtype}")
    if weights:
        model.set_weights([tensors[by_index[i]] for i in range(len(weights))])


def restore_training_state(path, model, state):
    if state is None:
        return
    seed, shuffle, streams = state.get("seed"), state.get("shuffle_stream"), state.get("layer_streams", {})
    if not (_is_u64(seed) and _is_u64(shuffle) and isinstance(streams, dict)):
        raise ValueError(f"{path}: malformed training_state in {CONFIG}: {short(state)}")
    layers = dict(layer_streams(model))
    for key, stream in streams.items():
        if key not in layers or not _is_u64(stream):
            raise ValueError(f"{path}: training_state names a random stream {key!r}={short(stream)} that "
                             "the model does not have")
    missing = sorted(set(layers) - set(streams))
    if missing:
        raise ValueError(f"{path}: training_state lacks the random streams of {missing}")
    for key, stream in streams.items():
        layers[key]._stream = stream
    model._seed, model._shuffle_stream = seed, shuffle


def _is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


def compile_from(path, model, cc):
    try:
        opt_cfg = dict(cc["optimizer"])
        iterations = opt_cfg.pop("iterations", 0)
        if not is_count(iterations):
            raise ValueError(f"bad optimizer iterations {iterations!r}")
        loss_scale = opt_cfg.pop("loss_scale", None)
        optimizer = optimizers.deserialize(opt_cfg)  # learning-rate schedules included
        model.compile(optimizer=optimizer, loss=_deserialize_tree(cc["loss"], "loss"),
                      metrics=_deserialize_tree(cc.get("metrics"), "metric"), loss_weights=cc.get("loss_weights"),
                      weighted_metrics=_deserialize_tree(cc.get("weighted_metrics"), "metric"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise ValueError(f"{path}: the compile_config cannot be restored: {type(e).__name__}: {e}") from None
    optimizer.iterations = iterations
    if loss_scale is not None:
        if not isinstance(optimizer, optimizers.LossScaleOptimizer) or not isinstance(loss_scale, list) \
                or len(loss_scale) != 2 or not isinstance(loss_scale[0], float) or not loss_scale[0] > 0 \
                or not is_count(loss_scale[1]):
            raise ValueError(f"{path}: bad loss_scale {loss_scale!r} for the optimizer {type(optimizer).__name__}")
        optimizer.dynamic_scale, optimizer.step_counter = loss_scale


def _deserialize_tree(value, what):
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, list):
        return [_deserialize_tree(v, what) for v in value]
    if functions.is_function(value):  # already found (a Keras file's entry)
        return value
    if not isinstance(value, dict):
        raise ValueError(f"bad {what} entry {short(value)}")
    if functions.is_entry(value):
        return functions.from_entry(value, what)
    if "class_name" in value and "config" in value:
        config = value["config"]
        if not isinstance(config, dict):
            raise ValueError(f"bad {what} config {short(config)}")
        if value.get("module") == "bigcore.metrics" or (what == "metric" and "module" not in value):
            cls = _metric_class(value["class_name"], value.get("registered_name"))
            return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
        return losses_module.deserialize({"class_name": value["class_name"], "config": config})
    return {k: _deserialize_tree(v, what) for k, v in value.items()}


def _metric_class(name, registered_name=None):
    cls = getattr(metrics_module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, metrics_module.Metric)):
        # a metric class of the user's: given in custom_objects, or registered (register_keras_serializable)
        cls = metrics_module.CUSTOM_CLASSES.get(str(name)) or registry.get_object(str(registered_name or name))
        if isinstance(cls, type) and issubclass(cls, metrics_module.Metric) and cls.kind is None:
            return cls
        raise ValueError(f"Unknown metric: {name!r} (a metric class of your own: pass it in load_model's "
                         f"custom_objects, or register it with @bigcore.saving.register_keras_serializable())")
    if cls.kind is None or str(name).startswith("_"):
        raise ValueError(f"the metric entry names {name!r}, an abstract metric class that computes nothing; "
                         f"an entry must name a concrete metric (e.g. {metrics_module.CONCRETE_EXAMPLES})")
    return cls


def restore_optimizer(path, model, zf, infos):
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
    tensors = read_tensors(path, zf, infos, OPTIMIZER, tensor_limit([(n,)] * slots))
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


def require_built(model, what):
    if getattr(model, "_inputs", True) is None:
        raise ValueError(f"Model {model.name!r} must be built before {what}(): give it an input shape or "
                         "call it on data first")
