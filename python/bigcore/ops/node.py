"""How an op runs: at once on arrays, or recorded as a graph node on symbolic tensors.

`apply(kind, args, attrs)` is the one entry every function of bigcore.ops goes through. On numpy
arrays and Python numbers it runs the native primitive `kind` (_core.prim_forward, the very
kernels a program runs) and returns a numpy array. When an argument is a KerasTensor, or a
layer's Weight while a custom call() is being traced, it records a node instead: an `OpLayer`
(a Layer without weights, so the graph walk, summary, saving and lowering see one kind of node)
called on the arguments, constants becoming `constant` nodes and weights `WeightRead` nodes,
and returns KerasTensors whose shapes follow the primitive's rule (shapes.py).
"""

import numpy as np

from bigcore._native import _core
from bigcore.layers import registry
from bigcore.layers.base import KerasTensor, Layer, Node, Weight, _ops, _unique_name, active_trace
from bigcore.layers.dims import BATCH, Dim
from bigcore.ops import shapes

# Keras dtypes of results. Python numbers are "weak": they do not change a tensor's dtype.
FLOAT_RESULT = {"sqrt", "rsqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "reciprocal", "relu", "relu6",
                "gelu", "silu", "swish", "sigmoid", "tanh", "softplus", "softsign", "elu", "selu", "leaky_relu",
                "hard_sigmoid", "hard_silu", "hard_swish", "log_sigmoid", "erf", "divide", "mean", "var", "std",
                "logsumexp", "norm", "softmax", "log_softmax", "one_hot", "dropout", "dot_product_attention",
                "loss_rows", "ctc_loss"}
# attrs that size an eager result but that a program takes from the output tensor's (symbolic) shape
_PROGRAM_DROPS = {"reshape": ("shape",), "broadcast_to": ("shape",)}


def dtype_of(a):
    if isinstance(a, KerasTensor):
        return a.dtype
    if isinstance(a, Dim):  # a run-time length used as a number: a Python int where Keras runs
        return "weak_int"
    if isinstance(a, Weight):
        return str(a.dtype)
    if isinstance(a, (bool, np.bool_)):
        return "weak_bool"
    if isinstance(a, (int, np.integer)) and not isinstance(a, np.ndarray):
        return "weak_int"
    if isinstance(a, float):
        return "weak_float"
    kind = np.asarray(a).dtype.kind
    return {"b": "bool", "i": "int32", "u": "int32"}.get(kind, "float32")


def result_dtype(dtypes):
    """Keras's promotion, reduced to what a float32 program holds: float32, int32 or bool."""
    strong = [d for d in dtypes if not d.startswith("weak_")]
    weak = [d[5:] for d in dtypes if d.startswith("weak_")]
    if any(d.startswith("float") for d in strong):
        return "float32"
    if any(d.startswith(("int", "uint")) for d in strong):
        return "float32" if "float" in weak else "int32"
    if strong:  # bools
        return "float32" if "float" in weak else ("int32" if "int" in weak else "bool")
    if "float" in weak:
        return "float32"
    return "int32" if "int" in weak else "bool"


def out_dtype(kind, attrs, dtypes):
    if kind in shapes.BOOL_RESULT:
        return "bool"
    if kind in ("argmax", "argmin"):
        return "int32"
    if kind == "cast":
        return attrs["dtype"]
    if kind in ("zeros", "ones", "full", "eye", "constant", "arange", "random_normal", "random_uniform"):
        return attrs.get("_dtype", "float32")
    if kind in ("zeros_like", "ones_like", "full_like"):
        return attrs.get("_dtype") or dtypes[0]
    if kind in FLOAT_RESULT:
        return "float32"
    if kind in ("take", "take_along_axis"):
        return dtypes[0]
    if kind == "where":
        return result_dtype(dtypes[1:])
    d = result_dtype(dtypes)
    if kind in ("sum", "prod", "cumsum", "cumprod") and d == "bool":
        return "int32"
    return d


def _native_attrs(kind, attrs, program):
    out = {k: v for k, v in attrs.items() if not k.startswith("_")}
    if program:
        for k in _PROGRAM_DROPS.get(kind, ()):
            out.pop(k, None)
    return out


def _tensor_for(shape, dtype, name):
    batched = bool(shape) and shape[0] is BATCH
    shapes.check_batch_first(shape, name)
    return KerasTensor(None, dtype, name=name, dims=shape[1:] if batched else shape, batched=batched)


class OpLayer(Layer):
    """One recorded primitive: `kind` with `attrs` (JSON-ready) on its input tensors."""

    config_module = "bigcore.ops"
    supports_variable_length = True  # a primitive re-derives its shapes per call from the templates

    def __init__(self, kind, attrs=None, name=None, **kw):
        super().__init__(name=name or _unique_name(kind), **kw)
        self.kind = kind
        self.attrs = dict(attrs or {})
        self.built = True

    def __call__(self, inputs, **kwargs):
        if kwargs:
            raise TypeError(f"op {self.kind!r} ({self.name!r}) takes no keyword arguments. Received: {sorted(kwargs)}")
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = self.record(xs)
        return outs if len(outs) > 1 or self.kind == "split" else outs[0]

    def record(self, xs):
        """Adds this op's node on KerasTensors xs; returns its output tensors."""
        for x in xs:
            if not isinstance(x, KerasTensor):
                raise TypeError(f"op {self.kind!r}: inputs must be symbolic tensors here, got {type(x).__name__}")
        try:
            out_shapes = shapes.infer(self.kind, self.attrs, [x.full_dims for x in xs])
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(self.kind) else f"{self.kind}: {msg}") from None
        dtype = out_dtype(self.kind, self.attrs, [x.dtype for x in xs])
        outs = [_tensor_for(s, dtype, f"{self.name}/out{i}" if len(out_shapes) > 1 else self.name)
                for i, s in enumerate(out_shapes)]
        node = Node(self, xs, outs, list_input=len(xs) > 1)
        for i, o in enumerate(outs):
            o.node, o.index = node, i
        self._inbound.append(node)
        return outs

    def lower(self, prog, inputs, outputs):
        outs = [prog.tensor(kt) for kt in outputs]
        prog.native.add_prim(self.kind, inputs, outs, _native_attrs(self.kind, self.attrs, True))
        return outs

    def get_config(self):
        if any(k in self.attrs for k in ("_shape", "_length")):
            raise ValueError(f"op {self.kind!r} ({self.name!r}) is sized by a run-time length (ops.shape inside a "
                             "traced call()); such an op cannot be saved as a config outside a custom Layer's "
                             "call() (a custom layer's config is saved and its call traced again when loaded)")
        return {"name": self.name, "kind": self.kind, "attrs": self.attrs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        kind = config.pop("kind")
        return _KIND_CLASSES.get(kind, cls)(kind, config.pop("attrs", {}), **config)

    def serialized_name(self):
        """The class name a saved config gives this op, as Keras names its operations (Add, Matmul)."""
        return "".join(p.capitalize() for p in self.kind.split("_"))


class WeightRead(OpLayer):
    """A layer's weight read as a (batch-less) tensor: the node aliases the parameter arena."""

    def __init__(self, weight, name=None):
        super().__init__("weight", {}, name=name or _unique_name("read_" + weight.path.replace("/", "_")))
        self.weight = weight

    def record(self, xs):
        out = KerasTensor(None, str(self.weight.dtype), name=self.name, dims=self.weight.shape, batched=False)
        node = Node(self, [], [out])
        out.node = node
        self._inbound.append(node)
        return [out]

    def lower(self, prog, inputs, outputs):
        return [prog.weight_tensor(self.weight)]

    def get_config(self):
        raise ValueError(f"The model reads weight {self.weight.path!r} directly through bigcore.ops outside a custom "
                         "layer; such a model cannot be saved as a config. Read it inside a custom Layer's call() "
                         "(the layer's config is saved and its call traced again when loaded)")


class AssignWeight(OpLayer):
    """variable.assign / assign_add / assign_sub inside a traced call(): the program writes the
    weight's arena segment at each forward; its output is the new value."""

    MODES = {"assign": 0, "add": 1, "sub": 2}

    def __init__(self, weight, mode, name=None):
        super().__init__("assign_weight", {"mode": mode},
                         name=name or _unique_name(f"{mode}_" + weight.path.replace("/", "_")))
        self.weight = weight

    def record(self, xs):
        out = KerasTensor(None, "float32", name=self.name, dims=self.weight.shape, batched=False)
        node = Node(self, list(xs), [out])
        out.node = node
        self._inbound.append(node)
        return [out]

    def lower(self, prog, inputs, outputs):
        out = prog.tensor(outputs[0])
        prog.native.add_assign_weight(inputs[0], out, prog.param(self.weight), int(np.prod(self.weight.shape)),
                                      self.MODES[self.attrs["mode"]])
        return [out]

    def get_config(self):
        raise ValueError(f"The model assigns weight {self.weight.path!r} through bigcore.ops outside a custom layer; "
                         "such a model cannot be saved as a config (assign inside a custom Layer's call())")


def assign_weight(w, value, mode):
    """w.assign(value) (mode "assign"), assign_add ("add") or assign_sub ("sub") while a call() is
    traced: recorded, and the call's later reads of w see the result."""
    where = f"Weight {w.path!r}: {'assign' if mode == 'assign' else 'assign_' + mode}()"
    trace = active_trace()
    if trace is None:
        raise ValueError(f"{where} got a symbolic tensor outside a custom layer's call(); a weight can take a "
                         "computed value only inside call() (or an array, eagerly)")
    if w.dtype != np.float32:
        raise TypeError(f"{where}: only float32 weights can be assigned inside call(); this one holds {w.dtype}")
    v = to_symbolic(value)
    if v.dtype not in ("float32", "weak_float"):
        v = _ops().cast(v, "float32")
    shape = tuple(v.shape)
    if v._batched or shape != tuple(w.shape):
        if not v._batched and int(np.prod(shape or (1,))) == 1 and w.shape != ():
            v = _ops().broadcast_to(_ops().reshape(v, ()), w.shape)  # a number assigned to every element
        elif not v._batched and int(np.prod(shape or (1,))) == int(np.prod(w.shape or (1,))) and 1 >= len(w.shape):
            v = _ops().reshape(v, w.shape)
        else:
            raise ValueError(f"{where}: the value has shape {shape if not v._batched else (None,) + shape}, the weight "
                             f"{tuple(w.shape)}" + (" (reduce the batch axis first, e.g. ops.sum(x, axis=0))"
                                                   if v._batched else ""))
    out = AssignWeight(w, mode).record([v])[0]
    trace.weight_reads[id(w)] = out
    trace.updates.append(out)
    return out


registry.register_module("bigcore.ops", OpLayer)
_KIND_CLASSES = {}  # kinds recorded by an OpLayer subclass (conv.py's WindowOp), for from_config


def register_kind(kind, cls):
    _KIND_CLASSES[kind] = cls


def weight_tensor(w):
    """w as a symbolic tensor: one WeightRead per weight per trace (or a fresh one outside traces)."""
    trace = active_trace()
    if trace is not None:
        kt = trace.weight_reads.get(id(w))
        if kt is None:
            kt = trace.weight_reads[id(w)] = WeightRead(w).record([])[0]
        return kt
    return WeightRead(w).record([])[0]


def constant(value, dtype=None):
    """A constant tensor (values baked into the program, no batch axis)."""
    a = np.asarray(value)
    dt = dtype or {"b": "bool", "i": "int32", "u": "int32"}.get(a.dtype.kind, "float32")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"bigcore.ops: a constant must hold numbers, got {a.dtype}")
    a = a.astype(np.float32)
    return OpLayer("constant", {"value": a.reshape(-1).tolist(), "shape": list(a.shape), "_dtype": dt}).record([])[0]


def is_symbolic(args):
    """Whether an op on these arguments is recorded rather than run."""
    if any(isinstance(a, (KerasTensor, Dim)) for a in args):
        return True
    return active_trace() is not None and any(isinstance(a, Weight) for a in args)


def length_value(d):
    """A run-time length (ops.shape inside a traced call()) as a 0-d int32 tensor of the graph: the
    sum of d ones, since no op reads a symbol's value (d is small beside the tensors it sizes)."""
    if d is not BATCH and BATCH in d.depends_on():
        raise ValueError(f"a length computed from the batch size ({d!r}) has no value inside a model (it sizes "
                         "ops: zeros, tile, reshape ...); the batch size itself has one")
    ones = OpLayer("ones", {"_shape": [d], "_dtype": "int32"}).record([])[0]
    return OpLayer("sum", {"axis": None, "keepdims": False}).record([ones])[0]


def to_symbolic(a):
    if isinstance(a, KerasTensor):
        return a
    if isinstance(a, Dim):
        return length_value(a)
    if isinstance(a, Weight):
        return weight_tensor(a)
    return constant(a, dtype_of(a) if not dtype_of(a).startswith("weak_") else None)


def to_array(a):
    if isinstance(a, Weight):
        return a.value
    if isinstance(a, KerasTensor):
        raise TypeError("bigcore.ops: a symbolic tensor has no value (it was mixed with eager arrays)")
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"bigcore.ops expects numbers (arrays, Python numbers), got {type(a).__name__} of {arr.dtype}")
    return arr


def apply(kind, args, attrs=None, multi=False):
    """Runs or records primitive `kind` on args (tensors, weights, arrays, numbers); one result, or
    the list of them when multi."""
    attrs = dict(attrs or {})
    if is_symbolic(args):
        outs = OpLayer(kind, attrs).record([to_symbolic(a) for a in args])
        return outs if multi else outs[0]
    arrays = [to_array(a) for a in args]
    dtype = out_dtype(kind, attrs, [dtype_of(a) for a in args])
    results = _core.prim_forward(kind, _native_attrs(kind, attrs, False), arrays)
    results = [_as_dtype(r, dtype) for r in results]
    return results if multi else results[0]


def _as_dtype(r, dtype):
    if dtype == "bool":
        return r != 0
    if dtype.startswith(("int", "uint")):
        return r.astype(np.int64 if dtype == "int64" else np.int32)
    if dtype == "float64":
        return r.astype(np.float64)
    return r
