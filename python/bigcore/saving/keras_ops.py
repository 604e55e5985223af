"""Keras 3's operation entries in a functional config ({"module": "keras.src.ops.numpy", "class_name":
"Add", ...}: keras.ops called on a model's tensors) <-> bigcore's recorded primitives (OpLayer
entries: {"module": "bigcore.ops", "config": {"kind", "attrs"}}), for .keras files both ways.

Keras inlines a number or an array argument in the node (`x * 2.0`: args [tensor, 2.0]; an array:
a "__tensor__" / "__numpy__" value) and gives a binary operation two positional arguments, where
bigcore records a Constant node and one list of inputs; the translation moves between the two.
The table holds the operations whose Keras class and constructor arguments mean exactly what the
primitive's attrs do; any other recorded primitive is refused by name when a .keras file is written."""

import numpy as np

_NUMPY, _NN, _CORE = "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.core"

# kind -> (Keras module, class name, how the node passes its inputs, [(attr, Keras argument)])
#   "one": f(x); "args": f(x1, x2, ...); "list": f([x1, x2, ...])
_TABLE = {}
for _kind, _cls in (("abs", "Absolute"), ("negative", "Negative"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
                    ("square", "Square"), ("tanh", "Tanh"), ("sin", "Sin"), ("cos", "Cos"), ("floor", "Floor"),
                    ("ceil", "Ceil"), ("sign", "Sign")):
    _TABLE[_kind] = (_NUMPY, _cls, "one", [])
for _kind, _cls in (("add", "Add"), ("subtract", "Subtract"), ("multiply", "Multiply"), ("divide", "Divide"),
                    ("maximum", "Maximum"), ("minimum", "Minimum"), ("power", "Power"), ("matmul", "Matmul"),
                    ("greater", "Greater"), ("less", "Less"), ("greater_equal", "GreaterEqual"),
                    ("less_equal", "LessEqual"), ("where", "Where")):
    _TABLE[_kind] = (_NUMPY, _cls, "args", [])
for _kind, _cls in (("relu", "Relu"), ("sigmoid", "Sigmoid"), ("softplus", "Softplus"), ("silu", "Silu"),
                    ("relu6", "Relu6"), ("hard_sigmoid", "HardSigmoid")):
    _TABLE[_kind] = (_NN, _cls, "one", [])
_TABLE.update({
    "softmax": (_NN, "Softmax", "one", [("axis", "axis")]),
    "log_softmax": (_NN, "LogSoftmax", "one", [("axis", "axis")]),
    "gelu": (_NN, "Gelu", "one", [("approximate", "approximate")]),
    "leaky_relu": (_NN, "LeakyRelu", "one", [("negative_slope", "negative_slope")]),
    "elu": (_NN, "Elu", "one", [("alpha", "alpha")]),
    "concatenate": (_NUMPY, "Concatenate", "list", [("axis", "axis")]),
    "stack": (_NUMPY, "Stack", "list", [("axis", "axis")]),
    "expand_dims": (_NUMPY, "ExpandDims", "one", [("axis", "axis")]),
    "squeeze": (_NUMPY, "Squeeze", "one", [("axis", "axis")]),
    "reshape": (_NUMPY, "Reshape", "one", [("shape", "newshape")]),
    "transpose": (_NUMPY, "Transpose", "one", [("axes", "axes")]),
    "clip": (_NUMPY, "Clip", "one", [("x_min", "x_min"), ("x_max", "x_max")]),
    "cast": (_CORE, "Cast", "one", [("dtype", "dtype")]),
})
for _kind in ("mean", "sum", "max", "min", "argmax", "argmin"):
    _TABLE[_kind] = (_NUMPY, _kind.capitalize(), "one", [("axis", "axis"), ("keepdims", "keepdims")])
_FROM_KERAS = {(module, cls): kind for kind, (module, cls, _, _) in _TABLE.items()}
_FROM_KERAS[(_NUMPY, "TrueDivide")] = "divide"  # Keras's `x / y`
KERAS_MODULES = (_NUMPY, _NN, _CORE)


def _ref(name):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _is_ref(v):
    return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"


# --- bigcore -> Keras -----------------------------------------------------------------------------

def _constant_value(attrs):
    value = np.asarray(attrs["value"], dtype=attrs.get("_dtype", "float32")).reshape(attrs.get("shape", []))
    if value.ndim == 0:
        return value.item()
    return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}


def untranslatable(entries):
    """The names of the recorded primitives among a bigcore functional config's entries that no
    Keras operation writes."""
    out = []
    for e in entries:
        if e.get("module") == "bigcore.ops":
            cfg = e.get("config", {})
            kind, attrs = cfg.get("kind"), cfg.get("attrs", {})
            if kind not in ("constant", "slice") and (kind not in _TABLE or any(k.startswith("_") for k in attrs)):
                out.append(f"{e['name']} ({kind})")
    return out


def to_keras(entries):
    """bigcore's functional entries (already in Keras's layout for layers) with each recorded
    primitive as Keras's operation entry and each Constant inlined where it is used."""
    constants = {e["name"]: _constant_value(e["config"]["attrs"]) for e in entries
                 if e.get("module") == "bigcore.ops" and e["config"].get("kind") == "constant"}

    def inline(v):
        if _is_ref(v):
            name = v["config"]["keras_history"][0]
            return constants.get(name, v)
        if isinstance(v, list):
            return [inline(x) for x in v]
        if isinstance(v, dict):
            return {k: inline(x) for k, x in v.items()}
        return v

    out = []
    for e in entries:
        if e.get("module") != "bigcore.ops":
            out.append({**e, "inbound_nodes": [inline(n) for n in e.get("inbound_nodes", [])]})
            continue
        kind, attrs = e["config"]["kind"], e["config"].get("attrs", {})
        if kind == "constant":
            continue
        if kind == "slice":  # x[a:b:c, ...] is Keras's GetItem with one slice per axis
            key = [{"class_name": "__slice__", "config": {"start": a, "stop": b, "step": None if c == 1 else c}}
                   for a, b, c in zip(attrs["start"], attrs["stop"], attrs["step"])]
            nodes = [{"args": [inline(n["args"][0]), key], "kwargs": {}} for n in e.get("inbound_nodes", [])]
            out.append({"module": _NUMPY, "class_name": "GetItem", "config": {"name": e["name"]},
                        "registered_name": "GetItem", "name": e["name"], "inbound_nodes": nodes})
            continue
        module, cls, style, keys = _TABLE[kind]
        config = {"name": e["name"]}
        for attr, key in keys:
            value = attrs.get(attr)
            if attr == "shape":  # bigcore's None for the batch axis is Keras's -1
                value = [-1 if d is None else d for d in value]
            config[key] = value
        nodes = []
        for n in e.get("inbound_nodes", []):
            args = inline(n.get("args", []))
            if style == "args" and len(args) == 1 and isinstance(args[0], list):
                args = args[0]  # bigcore's one list of inputs -> Keras's positional inputs
            nodes.append({"args": args, "kwargs": inline(n.get("kwargs", {}))})
        out.append({"module": module, "class_name": cls, "config": config, "registered_name": cls,
                     "name": e["name"], "inbound_nodes": nodes})
    return out


# --- Keras -> bigcore -----------------------------------------------------------------------------

def is_keras_op(entry):
    return isinstance(entry, dict) and entry.get("module") in KERAS_MODULES


def from_keras(entry, where, taken):
    """A Keras operation entry -> bigcore entries: Constant entries for the numbers and arrays its
    node inlines, then the primitive's entry. `taken`: the names in use (new constants avoid them)."""
    module, cls, name = entry.get("module"), entry.get("class_name"), entry.get("name")
    if (module, cls) == (_NUMPY, "GetItem"):
        return _getitem_from_keras(entry, where, taken)
    kind = _FROM_KERAS.get((module, cls))
    if kind is None:
        raise ValueError(f"{where}: the Keras operation {name!r} ({module}.{cls}) has no bigcore equivalent that a "
                         f"file can load yet; the operations bigcore loads: {', '.join(sorted(c for _, c in _FROM_KERAS))}")
    _, _, style, keys = _TABLE[kind]
    config = dict(entry.get("config") or {})
    attrs = {}
    for attr, key in keys:
        if key in config:
            attrs[attr] = config.pop(key)
    config.pop("name", None)
    if kind in ("max", "min") and config.pop("initial", None) is not None:
        raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) has an `initial` value; bigcore has none")
    if config:
        raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) has arguments bigcore does not know: "
                         f"{sorted(config)}")
    if kind == "reshape":
        attrs["shape"] = [int(d) for d in attrs["shape"]]
    out = []

    def constant(v):
        cname = _unique(f"{name}_constant", taken)
        try:
            if isinstance(v, dict):
                value = np.asarray(v["config"]["value"], dtype=v["config"].get("dtype", "float32"))
            else:
                value = np.asarray(v, dtype=np.float32 if not isinstance(v, bool) else bool)
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) has a constant argument bigcore cannot "
                             f"read: {e}") from None
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) has a constant of dtype {value.dtype}; "
                             "bigcore loads real numbers only")
        dtype = "bool" if value.dtype == bool else ("int32" if value.dtype.kind in "iu" else "float32")
        out.append({"module": "bigcore.ops", "class_name": "Constant", "name": cname,
                    "config": {"name": cname, "kind": "constant",
                               "attrs": {"value": value.astype(np.float64).ravel().tolist(), "shape": list(value.shape),
                                         "_dtype": dtype}},
                    "inbound_nodes": [{"args": [[]], "kwargs": {}}]})
        return _ref(cname)

    def tensors(v):
        if _is_ref(v) or isinstance(v, list):
            return v if _is_ref(v) else [tensors(x) for x in v]
        if isinstance(v, (int, float, bool)) or (isinstance(v, dict) and v.get("class_name") in ("__tensor__",
                                                                                                  "__numpy__")):
            return constant(v)
        raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) takes an argument bigcore cannot load: "
                         f"{str(v)[:80]}")

    nodes = []
    for n in entry.get("inbound_nodes") or []:
        if not isinstance(n, dict) or n.get("kwargs"):
            raise ValueError(f"{where}: the Keras operation {name!r} ({cls}) has a node bigcore cannot load: {str(n)[:80]}")
        args = [tensors(a) for a in n.get("args", [])]
        if style == "args":
            args = [args]  # Keras's positional inputs -> bigcore's one list
        nodes.append({"args": args, "kwargs": {}})
    out.append({"module": "bigcore.ops", "class_name": cls, "name": name,
                "config": {"name": name, "kind": kind, "attrs": attrs}, "inbound_nodes": nodes})
    return out


def _unique(base, taken):
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _getitem_from_keras(entry, where, taken):
    """Keras's GetItem (x[...] on a model's tensor) with ints, slices and an Ellipsis as its key ->
    bigcore's slice primitive, then a squeeze of the axes ints picked (bigcore's own indexing)."""
    name = entry.get("name")
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], dict) or len(nodes[0].get("args") or []) != 2:
        raise ValueError(f"{where}: the Keras operation {name!r} (GetItem) has a node bigcore cannot load")
    x, key = nodes[0]["args"]
    if not _is_ref(x):
        raise ValueError(f"{where}: the Keras operation {name!r} (GetItem) indexes something other than a tensor")
    rank = len((x.get("config") or {}).get("shape") or [])
    key = key if isinstance(key, list) else [key]
    if not rank:
        raise ValueError(f"{where}: the Keras operation {name!r} (GetItem): the indexed tensor's shape is not in the file")
    items = []
    for k in key:
        if isinstance(k, dict) and k.get("class_name") == "__ellipsis__":
            items.extend([None] * (rank - (len(key) - 1)))
        elif isinstance(k, dict) and k.get("class_name") == "__slice__":
            c = k.get("config") or {}
            items.append((c.get("start"), c.get("stop"), c.get("step")))
        elif isinstance(k, int) and not isinstance(k, bool):
            items.append(k)
        else:
            raise ValueError(f"{where}: the Keras operation {name!r} (GetItem) has an index bigcore cannot load "
                             f"(ints, slices and ... only): {str(k)[:60]}")
    items += [None] * (rank - len(items))
    if len(items) != rank or items[0] not in (None, (None, None, None)):
        raise ValueError(f"{where}: the Keras operation {name!r} (GetItem) indexes the batch axis or more axes than "
                         f"the tensor has ({rank})")
    start, stop, step, squeeze = [], [], [], []
    for axis, it in enumerate(items):
        if it is None:
            it = (None, None, None)
        if isinstance(it, int):
            start.append(it)
            stop.append(None if it == -1 else it + 1)
            step.append(1)
            squeeze.append(axis)
        else:
            for v in it:
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                    raise ValueError(f"{where}: the Keras operation {name!r} (GetItem) has a slice of non-ints")
            start.append(it[0])
            stop.append(it[1])
            step.append(1 if it[2] is None else it[2])
    sliced = _unique(f"{name}_slice", taken) if squeeze else name
    out = [{"module": "bigcore.ops", "class_name": "Slice", "name": sliced,
            "config": {"name": sliced, "kind": "slice", "attrs": {"start": start, "stop": stop, "step": step}},
            "inbound_nodes": [{"args": [x], "kwargs": {}}]}]
    if squeeze:
        out.append({"module": "bigcore.ops", "class_name": "Squeeze", "name": name,
                    "config": {"name": name, "kind": "squeeze", "attrs": {"axis": squeeze}},
                    "inbound_nodes": [{"args": [_ref(sliced)], "kwargs": {}}]})
    return out
