"""Layer, Weight and the symbolic tensors layers are called on.

A layer holds configuration; build(input_shape) creates its weights; lower() adds its native
ops to a program. A float32 weight's value is a native cell (cpp/runtime/param_home.h) with one
home at a time: the arena of the program that used it last (its steps update it in place), or the
cell's own storage. Every model containing the layer reads and trains that one value, as a Keras
variable is shared by every model containing its layer.
"""

import contextlib
import contextvars
import functools
import inspect
import math
import re

import numpy as np

from bigcore import constraints, initializers, regularizers
from bigcore._native import _core
from bigcore.layers import dims as dims_module
from bigcore.layers.input_spec import assert_input_compatibility
from bigcore.layers.name_scope import current_path, name_scope

_name_counts = {}
_trainable_epoch = [0]  # counts the changes of any weight's trainable flag
_structure_epoch = [0]  # counts the changes of what a built layer computes (enable_lora)


def _set_trainable(layer, value, seen):
    layer.__dict__["_trainable"] = value
    if "_weights" not in layer.__dict__ or id(layer) in seen:  # (__init__; a layer met again)
        return
    seen.add(id(layer))
    for w in layer._weights:
        if w._follows_layer:
            w.trainable = value
    for sub in layer._trainable_children():
        _set_trainable(sub, value, seen)


def trainable_ids(layer, seen=None, out=None):
    """The ids of the weights Keras's layer.trainable_weights gives: none under a layer that is not
    trainable, else each trainable weight of the layer and of its sub-layers (each visited once)."""
    seen = set() if seen is None else seen
    out = set() if out is None else out
    if id(layer) in seen or not layer.trainable:
        return out
    seen.add(id(layer))
    out.update(id(w) for w in layer.__dict__.get("_weights", ()) if w.trainable)
    for sub in layer._trainable_children():
        trainable_ids(sub, seen, out)
    return out


def structure_epoch():
    """A number that changes whenever a built layer starts to compute something else (enable_lora
    adds weights and ops): a program lowered before it is stale."""
    return _structure_epoch[0]


def structure_changed():
    _structure_epoch[0] += 1


def trainable_epoch():
    """A number that changes whenever a weight's trainable flag does (a program compares it with
    the one it took its flags at)."""
    return _trainable_epoch[0]


_budget = contextvars.ContextVar("weight_budget", default=None)
# The eager-call hook: runner(layer, inputs, call_kwargs) -> numpy outputs, for `layer(numpy_array)`. A layer
# runs through a model's native program, and models live above layers, so bigcore.models installs
# it (set_eager_runner) rather than this module importing them.
_eager_runner = None
# The trace a custom layer's call() is running in (layers/tracing.py): every Node made meanwhile
# joins it, so the layer's recorded subgraph is known without a graph walk.
_trace = contextvars.ContextVar("bigcore_trace", default=None)
# True while a layer's build() runs (inside a caller's trace too): its assignments set initial values
_building = contextvars.ContextVar("bigcore_building", default=False)


class building:
    """The context a build() runs in (see _building)."""

    def __enter__(self):
        self._token = _building.set(True)

    def __exit__(self, *exc):
        _building.reset(self._token)
        return False


def _scoped_build(build):
    """build() inside the layer's name scope (Keras wraps every build so): the weights it makes,
    and those of the sub-layers it builds, get paths under the layer's."""
    @functools.wraps(build)
    def scoped(self, *args, **kwargs):
        with self._open_name_scope():
            return build(self, *args, **kwargs)
    scoped._scoped = True
    return scoped


# Set by a built-in layer's call() (_builtin_call): that layer's next __call__ records its built-in op
# rather than tracing its subclass's call() again.
_native_call_of = contextvars.ContextVar("bigcore_native_call", default=None)


def _builtin_call(self, inputs, *args, **kwargs):
    """Keras's `super().call(...)` from a subclass's own call(): the built-in layer's op on the
    subclass's weights, recorded in the trace of that call() (Layer.__init_subclass__ gives it to the
    built-in layers that lower to native ops and write no call() of their own)."""
    before = len(self._inbound)
    token = _native_call_of.set(self)
    try:
        out = self(inputs, *args, **kwargs)
    finally:
        _native_call_of.reset(token)
    del self._inbound[before:]  # the layer's node is the traced call's, which trace_call adds
    return out


# The call tracer (layers/tracing.py installs it): tracer(layer, inputs, args, kwargs) runs a custom
# layer's call() on symbolic inputs.
_call_tracer = None


def _traces_this_call(layer):
    """Whether calling `layer` now runs its own call() through the tracer: a custom layer (or a
    subclass's call() of a built-in), unless this call is that call()'s super().call()."""
    return _call_tracer is not None and _traces_call(type(layer)) and _native_call_of.get() is not layer


def active_trace():
    """The trace of the custom call() running now, or None."""
    return _trace.get()


def set_call_tracer(tracer):
    global _call_tracer
    _call_tracer = tracer


def set_eager_runner(runner):
    """Installs runner(layer, inputs, call_kwargs), which Layer.__call__ uses on non-symbolic inputs."""
    global _eager_runner
    _eager_runner = runner


@contextlib.contextmanager
def weight_budget(nbytes):
    """While active, add_weight refuses to allocate more than `nbytes` of weights in all: a model
    file's config cannot allocate beyond what its weights member holds (bigcore/saving/api.py)."""
    token = _budget.set([int(nbytes)])
    try:
        yield
    finally:
        _budget.reset(token)


def _unique_name(base):
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def _snake(name):
    """Keras's to_snake_case, for default layer names: "LSTM" -> "lstm", "InputLayer" -> "input_layer"."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def class_snake_name(cls):
    """The snake-case name of Keras's class for a layer class: its default layer name, and the key
    Keras's weights files place it under (`_auto_name` where bigcore's class name differs from
    Keras's, GroupQueryAttention for Keras's GroupedQueryAttention)."""
    return cls.__dict__.get("_auto_name") or _snake(cls.__name__)


class Weight:
    """A layer variable. A float32 weight's value lives in a native cell shared by every program
    that lowers it (`value`: a view of it where it lives now); reads and writes go through the
    cell under its home program's lock. Other dtypes (a quantized layer's int8) are plain arrays."""

    def __init__(self, path, shape, initializer, regularizer=None, trainable=True, constraint=None, dtype="float32"):
        self._path = path  # the layer's name, "/", the weight's: Keras's variable.path
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)  # float32 weights live in the arena; int8 ones (quantized) with their op
        value = np.ascontiguousarray(initializer(self.shape), dtype=self.dtype).reshape(self.shape)
        self._cell = _core.ParamCell(value.reshape(-1)) if self.dtype == np.float32 else None
        self._value = None if self._cell is not None else value
        self._view, self._view_version = None, -1
        self.regularizer = regularizer
        self._trainable = bool(trainable)
        self._follows_layer = bool(trainable)  # add_weight's trainable=: the layer's trainable sets it
        self.constraint = constraint
        self.on_assign = None  # set by a model whose native ops hold a copy of this weight (int8)

    @property
    def path(self):
        """Keras 3's variable.path ("dense/kernel"): the owning layer's name, "/", the weight's name.
        Files, error messages and anything that must tell two weights apart use this."""
        return self._path

    @property
    def name(self):
        """Keras 3's variable.name: the weight's own short name ("kernel", "variable_1"), the last part
        of its path (Keras refuses "/" in a variable name)."""
        return self._path.rsplit("/", 1)[-1]

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        if value != self._trainable:
            self._trainable = value
            _trainable_epoch[0] += 1  # lowered programs take the new flag on their next use

    @property
    def value(self):
        """The value where it lives now, as an array of `shape` (a view: writes land in it)."""
        cell = self._cell
        if cell is None:
            return self._value
        version = cell.version
        if version != self._view_version:  # it moved to another home since the last look
            self._view = cell.view().reshape(self.shape)
            self._view_version = version
        return self._view

    def numpy(self):
        if self._cell is None:
            return self._value.copy()
        return self._cell.read().reshape(self.shape)

    def _checked(self, v):
        """v as this weight's dtype, shape and a C-contiguous array, or a ValueError saying why not."""
        v = np.asarray(v)
        if self.dtype.kind == "i" and v.dtype != self.dtype:
            raise ValueError(f"Weight {self.path!r} holds {self.dtype} values, got an array of {v.dtype}")
        v = v.astype(self.dtype, copy=False)
        if v.shape != self.shape:
            raise ValueError(f"Weight {self.path!r} has shape {self.shape}, got a value of shape {v.shape}")
        return np.ascontiguousarray(v)

    def _recorded(self, v):
        """Inside a traced call() (not its build()), an assignment is an op of the program: it runs at
        every call, as Keras's call() does, and later reads in the call see the new value."""
        return isinstance(v, KerasTensor) or (_trace.get() is not None and not _building.get())

    def assign(self, v):
        if self._recorded(v):
            return _ops()._assign_weight(self, v, "assign")
        v = self._checked(v)
        if self._cell is None:
            self._value[...] = v
        else:
            self._cell.write(v.reshape(-1))
        if self.on_assign is not None:
            self.on_assign()

    def assign_add(self, v):
        if self._recorded(v):
            return _ops()._assign_weight(self, v, "add")
        self.assign(self.numpy() + np.asarray(v, dtype=self.dtype))

    def assign_sub(self, v):
        if self._recorded(v):
            return _ops()._assign_weight(self, v, "sub")
        self.assign(self.numpy() - np.asarray(v, dtype=self.dtype))

    def __array__(self, dtype=None, copy=None):
        return self.value.astype(dtype) if dtype else self.value.copy()

    def __repr__(self):
        return f"<Weight path={self.path} shape={self.shape}>"


class Variable(Weight):
    """keras.Variable(initializer, shape, dtype, trainable, name): a variable made on its own. Set as
    a layer's attribute it is one of that layer's weights (Keras tracks it), trained and saved as
    add_weight's are. initializer: an array-like value (its shape), or an initializer with `shape`."""

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True, aggregation="none",
                 synchronization="auto", name=None):
        if name is not None and (not isinstance(name, str) or not name or "/" in name):  # Keras's check
            raise ValueError(f"Argument `name` must be a non-empty string without '/'. Received: name={name!r}")
        if callable(initializer) or isinstance(initializer, (str, dict)):
            if shape is None:
                raise ValueError(f"Variable {name!r}: an initializer needs a `shape`. Received: initializer="
                                 f"{initializer!r}, shape=None")
            init = initializers.get(initializer)
        else:
            value = np.asarray(initializer, dtype=dtype or np.float32)
            if shape is not None and tuple(shape) != value.shape:
                raise ValueError(f"Variable {name!r}: the initial value has shape {value.shape}, but shape={shape}")
            shape = value.shape

            def init(s):
                return value.reshape(s).copy()
        scope = current_path()  # Keras's path: the open name scopes (a layer's build or call), then the name
        name = name or "variable"
        super().__init__(f"{scope}/{name}" if scope else name, shape, init, trainable=trainable,
                         dtype=dtype or "float32")


def read_weights(weights):
    """Copies of the weights' values, the float32 ones read under one native lock: a consistent set
    even while another thread trains a model that holds them."""
    cells = [w._cell for w in weights if w._cell is not None]
    read = iter(_core.read_cells(cells))
    return [next(read).reshape(w.shape) if w._cell is not None else w._value.copy() for w in weights]


def write_weights(weights, values):
    """Sets each weight to its value (all checked first), the float32 ones in one locked native call:
    a concurrent predict or train step sees all the old values or all the new ones."""
    values = [w._checked(v) for w, v in zip(weights, values)]
    cells = [(w._cell, v.reshape(-1)) for w, v in zip(weights, values) if w._cell is not None]
    if cells:
        _core.write_cells([c for c, _ in cells], [v for _, v in cells])
    for w, v in zip(weights, values):
        if w._cell is None:
            w._value[...] = v
    for w in weights:
        if w.on_assign is not None:
            w.on_assign()


class KerasTensor:
    """A symbolic tensor: shape (batch first, None), dtype, and the layer call that made it.

    _dims: the non-batch axes, each an int or a Dim (layers/dims.py: a length known when the model
    runs; `shape` shows it as None). _batched: False for a tensor without a batch axis (a weight
    read inside a traced call, a constant), whose shape has no leading None. Python operators and
    indexing record bigcore.ops calls (through the tensor-ops hook, set_tensor_ops)."""

    __array_ufunc__ = None  # numpy defers to the reflected operators (array + tensor records an add)

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None, dims=None, batched=True):
        shape = tuple(shape) if shape is not None else ()
        if dims is None:
            rest = shape[1:] if batched else shape
            dims = tuple(dims_module.unknown() if s is None else int(s) for s in rest)
        else:
            dims = tuple(dims)
            shape = ((shape[0] if batched and shape else None),) * batched + tuple(dims_module.public(d) for d in dims)
        self.shape = shape
        self._dims = dims
        self._batched = bool(batched)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name
        self._mask = None  # a (batch, timesteps) KerasTensor when the values carry a Keras mask

    @property
    def _keras_mask(self):
        """Keras's name for the mask the values carry (a KerasTensor), None when they carry none."""
        return self._mask

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def full_dims(self):
        """Every axis as the shape rules of bigcore.ops see it: dims.BATCH first when batched."""
        return ((dims_module.BATCH,) if self._batched else ()) + self._dims

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    # A symbolic tensor has no value: Python cannot branch on it, index with it or convert it.
    def __bool__(self):
        raise TypeError(_no_value("used as a Python bool (`if x:`, `and`, `or`, `not`)"))

    def __index__(self):
        raise TypeError(_no_value("used as a Python int (an index, a range bound)"))

    __int__ = __index__

    def __float__(self):
        raise TypeError(_no_value("converted to a Python float"))

    def __iter__(self):
        raise TypeError(_no_value("iterated over (index it, or use bigcore.ops.split / unstack)"))

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_no_value("converted to a NumPy array"))

    def numpy(self):
        raise TypeError(_no_value("converted to a NumPy array"))


_NO_VALUE = ("a symbolic tensor has no value while the model is traced; Python control flow on tensor values "
             "cannot be traced: use bigcore.ops.where (or ops.cond on a Python value)")


def _no_value(what):
    return f"A symbolic KerasTensor was {what}: {_NO_VALUE}"


# The tensor-ops hook: bigcore.ops (which sits above the layers) installs the module whose functions
# KerasTensor's and Weight's operators call (set_tensor_ops).
_tensor_ops = None


def set_tensor_ops(module):
    """Installs the module (bigcore.ops) that Python operators on tensors and weights record with."""
    global _tensor_ops
    _tensor_ops = module


def _ops():
    if _tensor_ops is None:
        raise RuntimeError("operators on symbolic tensors need bigcore.ops: import bigcore")
    return _tensor_ops


def _binary(name, reflected=False):
    if reflected:
        def op(self, other):
            return getattr(_ops(), name)(other, self)
    else:
        def op(self, other):
            return getattr(_ops(), name)(self, other)
    op.__name__ = f"__{'r' if reflected else ''}{name}__"
    return op


def _unary(name):
    def op(self):
        return getattr(_ops(), name)(self)
    return op


def _install_operators(cls, comparisons):
    """Keras's tensor operators on cls, each recording (or computing) the bigcore.ops call."""
    for dunder, name in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
                         ("floordiv", "floor_divide"), ("mod", "mod"), ("pow", "power"), ("matmul", "matmul"),
                         ("and", "logical_and"), ("or", "logical_or"), ("xor", "logical_xor")):
        setattr(cls, f"__{dunder}__", _binary(name))
        setattr(cls, f"__r{dunder}__", _binary(name, reflected=True))
    for dunder, name in (("neg", "negative"), ("pos", "_positive"), ("abs", "absolute"), ("invert", "logical_not")):
        setattr(cls, f"__{dunder}__", _unary(name))
    if comparisons:  # not __eq__: tensors stay hashable and comparable by identity, as in Keras
        for dunder, name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                             ("ne", "not_equal")):
            setattr(cls, f"__{dunder}__", _binary(name))
    cls.__getitem__ = lambda self, key: _ops()._getitem(self, key)
    cls.__round__ = lambda self, ndigits=None: _ops().round(self, ndigits or 0)


_install_operators(KerasTensor, comparisons=True)
# Keras variables take the tensor operators: inside a traced call() they record ops on the weight's
# value (0.9 * self.moving_mean + ...), elsewhere they compute on it. Not == / != (weights stay
# hashable and compared by identity).
_install_operators(Weight, comparisons=False)
for _dunder, _name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")):
    setattr(Weight, f"__{_dunder}__", _binary(_name))


def _tensor_eq(self, other):
    """`a == b`: inside a traced call() (a custom layer, loss or metric, which Keras runs on real
    tensors) the elementwise ops.equal; elsewhere identity, as Keras's KerasTensor (tensors stay
    hashable and usable in lists and dicts while models are built)."""
    if active_trace() is not None:
        return _ops().equal(self, other)
    return self is other


KerasTensor.__eq__ = _tensor_eq
KerasTensor.__hash__ = object.__hash__


def flat_tensors(value):
    """The KerasTensors in a call keyword's value (a tensor, or a list/tuple of them), in order."""
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat_tensors(v)]
    return []


class Node:
    """One call of a layer on symbolic inputs. call_kwargs: the keywords the call was given
    (Keras's call arguments: initial_state=[h, c], mask=m, training=True); the tensors among them
    are graph edges too (`parents`)."""

    def __init__(self, layer, inputs, outputs, call_kwargs=None, list_input=None):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.call_kwargs = dict(call_kwargs or {})
        # whether the layer was called on a list of tensors (merge layers) rather than on one
        self.list_input = len(self.inputs) > 1 if list_input is None else bool(list_input)
        trace = _trace.get()
        if trace is not None:
            trace.nodes.append(self)

    @property
    def parents(self):
        """Every tensor the call reads: the inputs, then the tensors among its keywords by keyword
        name (Keras's flattening order of (args, kwargs))."""
        if not self.call_kwargs:
            return self.inputs
        kw = self.call_kwargs
        return self.inputs + [t for k in sorted(kw) for t in flat_tensors(kw[k])]


# Attributes of bigcore's own classes that hold layers without owning them (a functional model's
# layer list, a Sequential's stack, Bidirectional's copies): not tracked as sub-layers.
_UNTRACKED = frozenset({"_layers", "_stack", "_inbound", "_nodes", "_inputs", "_outputs", "_input_tensor",
                        "_program", "_traced_graph", "_graph_layers", "_shape_variants", "_slots_from"})


def _jsonable(v, depth=0):
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if depth < 16 and isinstance(v, (list, tuple)):
        return all(_jsonable(x, depth + 1) for x in v)
    if depth < 16 and isinstance(v, dict):
        return all(isinstance(k, str) and _jsonable(x, depth + 1) for k, x in v.items())
    return False


def _inherit_dims(shape, x):
    """The lengths of a built-in layer's output of `shape`: a None at an axis where the input x has
    a run-time length is that length (the layers keep (batch, timesteps, ...) aligned); any other
    None is a length nothing defines."""
    out = []
    for i, d in enumerate(tuple(shape)[1:]):
        if d is not None:
            out.append(d)
        elif i < len(x._dims) and dims_module.is_dim(x._dims[i]):
            out.append(x._dims[i])
        else:
            out.append(dims_module.unknown())
    return tuple(out)


def _traces_call(cls):
    """A custom layer: its class defines call() and no native lowering of its own (layers/tracing.py);
    or a Model subclass with call() (a model's lower() inlines a graph: it is marked _lowers_graph);
    or a user's subclass of a built-in layer that overrides call() (which would otherwise be ignored
    for the built-in op)."""
    if getattr(cls, "call", None) is None:
        return False
    if cls.__dict__.get("_traces_own_call", False):  # a built-in whose call() composes its parent's op (ReversibleEmbedding)
        return True
    if cls.lower is Layer.lower or getattr(cls.lower, "_lowers_graph", False):
        return True
    call_owner = next(k for k in cls.__mro__ if "call" in k.__dict__)
    lower_owner = next(k for k in cls.__mro__ if "lower" in k.__dict__)
    return (call_owner is not lower_owner and issubclass(call_owner, lower_owner)
            and not call_owner.__module__.startswith("bigcore."))


def shape_str(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


_OTHER_FLOATS = ("float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16")


def _check_dtype(layer, dtype):
    """A layer's dtype= (a name, a NumPy dtype, a DTypePolicy or its config): bigcore computes in
    float32, so another float compute type raises rather than being ignored."""
    name = dtype
    if isinstance(dtype, dict):
        name = dtype.get("config", {}).get("name", dtype.get("name"))
    elif dtype is not None and not isinstance(dtype, str):
        name = getattr(dtype, "name", None) or str(np.dtype(dtype))
    if name in _OTHER_FLOATS:
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}): dtype={name!r} is not supported; bigcore "
                         "computes in float32 (use bigcore.quantization for int8). Leave dtype unset or give "
                         "'float32'")


class Layer:
    supports_masking = False  # passes its first input's mask on unchanged
    supports_variable_length = False  # True: lower() handles variable-length (None) axes (models/lowering.py)
    # The keywords this layer's call takes beyond its inputs, in Keras's order (a positional
    # argument after the inputs binds to them in this order). Keras accepts `training` on every
    # layer; any other keyword raises TypeError naming it and the layer.
    call_keywords = ("training",)
    # Keras's default for call()'s `training` where neither the call nor the model's run gives one
    # (model(x), layer(x) on arrays, a Dataset.map): the image augmentation layers' call(data,
    # training=True) augments there, every other layer infers. Lowering marks such calls (models/lowering.py).
    call_default_training = False
    input_spec = None  # Keras's attribute: what inputs the layer accepts (None: any, checked by the layer)
    # Objects whose attach(lowering, layer) runs once the layer's weights sit in a program's arena
    # (models/lowering.py); they may add program step hooks (compression/pruning.py: the masks).
    _program_hooks = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_scoped", False):
            cls.build = _scoped_build(build)
        if (cls.__module__.startswith("bigcore.") and getattr(cls, "call", None) is None
                and cls.lower is not Layer.lower and not getattr(cls.lower, "_lowers_graph", False)):
            cls.call = _builtin_call

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        # A custom layer's (or subclassed model's) constructor arguments: Keras's auto config, what
        # get_config() gives when the class does not write its own.
        obj._init_args = None
        if _traces_call(cls) and cls.__init__ is not Layer.__init__:
            try:
                bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
            except TypeError:
                return obj
            bound.apply_defaults()  # Keras's auto config holds the defaults too
            params = inspect.signature(cls.__init__).parameters
            found = {}
            for k, v in list(bound.arguments.items())[1:]:
                if params[k].kind == inspect.Parameter.VAR_KEYWORD:
                    found.update(v)
                elif params[k].kind != inspect.Parameter.VAR_POSITIONAL:
                    found[k] = v
            obj._init_args = found
        return obj

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"Argument `name` must be a non-empty string without '/'. Received: name={name!r}")
        self.name = name or _unique_name(class_snake_name(type(self)))
        _check_dtype(self, dtype)
        self.trainable = trainable
        self.built = False
        self._weights = []
        self._inbound = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.input_shape = None
        self.output_shape = None
        if activity_regularizer is not None:  # Keras's base-layer argument (built-in layers set their own)
            self.activity_regularizer = regularizers.get(activity_regularizer)

    def __setattr__(self, name, value):
        # Keras tracks a variable set as an attribute (keras.Variable, or one made elsewhere) as a weight
        if isinstance(value, Weight) and "_weights" in self.__dict__ and not any(w is value for w in self._weights):
            self._weights.append(value)
        object.__setattr__(self, name, value)

    @property
    def trainable(self):
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value):
        """Keras's setter: the layer, the weights it created as trainable (not its moving statistics)
        and every sub-layer, recursively. A model's next fit, train_on_batch or compile takes it."""
        _set_trainable(self, bool(value), set())

    def _trainable_children(self):
        """The sub-layers a change of trainable reaches."""
        return self._tracked_layers()

    # -- life cycle --
    def build(self, input_shape):
        self.built = True

    def _open_name_scope(self):
        """Keras's: this layer's part of the weight paths, under the path where it was first opened."""
        if self.__dict__.get("_parent_path") is None:
            self._parent_path = current_path()
        return name_scope(self.name, caller=self)

    def compute_output_shape(self, input_shape):
        return input_shape

    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False, name=None):
        """Keras 3's add_weight(shape, initializer, dtype, trainable, autocast, regularizer, constraint,
        aggregation, overwrite_with_gradient, name); bigcore's own layers call it positionally as
        add_weight(name, shape, initializer, regularizer, trainable, constraint, dtype)."""
        if args and isinstance(args[0], str):
            if len(args) > 7:
                raise TypeError(f"add_weight() takes at most 7 positional arguments ({len(args)} given)")
            legacy = dict(zip(("name", "shape", "initializer", "regularizer", "trainable", "constraint", "dtype"), args))
            name, shape = legacy["name"], legacy.get("shape", shape)
            initializer = legacy.get("initializer", initializer)
            regularizer = legacy.get("regularizer", regularizer)
            trainable = legacy.get("trainable", trainable)
            constraint = legacy.get("constraint", constraint)
            dtype = legacy.get("dtype", dtype)
        elif args:
            keys = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint",
                    "aggregation", "overwrite_with_gradient", "name")
            if len(args) > len(keys):
                raise TypeError(f"add_weight() takes at most {len(keys)} positional arguments ({len(args)} given)")
            given = dict(zip(keys, args))
            shape, initializer = given.get("shape", shape), given.get("initializer", initializer)
            dtype, trainable = given.get("dtype", dtype), given.get("trainable", trainable)
            regularizer, constraint = given.get("regularizer", regularizer), given.get("constraint", constraint)
            aggregation, name = given.get("aggregation", aggregation), given.get("name", name)
            overwrite_with_gradient = given.get("overwrite_with_gradient", overwrite_with_gradient)
        if overwrite_with_gradient:
            raise ValueError(f"Layer {self.name!r}: add_weight(overwrite_with_gradient=True) is not supported by bigcore")
        if aggregation not in ("none", "mean", "sum", "only_first_replica", None):
            raise ValueError(f"Layer {self.name!r}: add_weight(aggregation={aggregation!r}): expected one of 'none', "
                             "'mean', 'sum', 'only_first_replica'")
        dtype = "float32" if dtype is None else (dtype if isinstance(dtype, str) else np.dtype(dtype).name)
        shape = () if shape is None else tuple(int(s) for s in shape)
        if initializer is None:  # Keras: glorot_uniform for floats, zeros otherwise
            initializer = "glorot_uniform" if dtype.startswith("float") else "zeros"
        if name is not None and (not isinstance(name, str) or not name or "/" in name):  # "/" separates a path
            raise ValueError(f"Layer {self.name!r}: add_weight(name=...) must be a non-empty string without "
                             f"'/'. Received: name={name!r}")
        if name is None:  # Keras names unnamed variables "variable", "variable_1", ...
            taken = {w.name for w in self._weights}
            name, i = "variable", 0
            while name in taken:
                i += 1
                name = f"variable_{i}"
        budget = _budget.get()
        need = np.dtype(dtype).itemsize * math.prod(int(s) for s in shape)
        if budget is not None:
            if need > budget[0]:
                raise ValueError(f"Layer {self.name!r}: weight {name!r} of shape {tuple(shape)} needs {need} bytes, "
                                 f"more than the {budget[0]} bytes left in the file being loaded")
            budget[0] -= need
        with self._open_name_scope():  # Keras's variable path: the open scopes, then the name
            sub = self.__dict__.get("_weight_subpath")  # a part Keras's own sub-layer would add (an RNN's cell)
            path = f"{current_path()}/{sub}/{name}" if sub else f"{current_path()}/{name}"
        try:
            w = Weight(path, shape, initializers.get(initializer),
                       regularizers.get(regularizer), trainable and self.trainable, constraints.get(constraint), dtype)
        except MemoryError:
            raise MemoryError(f"Layer {self.name!r} ({type(self).__name__}): weight {name!r} of shape {tuple(shape)} "
                              f"needs {need} bytes, which cannot be allocated") from None
        w._follows_layer = bool(trainable)
        self._weights.append(w)
        return w

    def __call__(self, inputs, *args, **kwargs):
        with self._open_name_scope():  # the weights of sub-layers built in the call sit under this layer
            return self._scoped_call(inputs, *args, **kwargs)

    def _scoped_call(self, inputs, *args, **kwargs):
        if _traces_this_call(self):  # a custom layer: its call() is traced
            return _call_tracer(self, inputs, args, kwargs)
        if _native_call_of.get() is self:
            _native_call_of.set(None)  # super().call(): the built-in op, once
        kwargs = self._bind_call_args(args, kwargs)
        xs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        symbolic = [isinstance(x, KerasTensor) for x in xs]
        if not any(symbolic) and not any(flat_tensors(v) for v in kwargs.values()):
            if _trace.get() is None:
                return self._call_eager(inputs, kwargs)
            return self._call_on_constant(inputs, kwargs)
        if not all(symbolic):
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) was called on a mix of symbolic tensors "
                            "and arrays: pass all inputs as bigcore.Input tensors (or all as arrays)")
        if not any(x._batched for x in xs):  # e.g. ops.arange positions over a run-time length
            return self._call_unbatched(inputs, kwargs)
        shapes = [x.shape for x in xs]
        in_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
        assert_input_compatibility(getattr(self, "input_spec", None), inputs, self.name)
        self._check_input(in_shape)
        self._check_call_kwargs(xs, kwargs)
        if not self.built:
            with building():
                self.build(in_shape)
            self.built = True
        self.input_shape = in_shape
        out_shape = self.compute_output_shape(in_shape)
        multi = isinstance(out_shape, list)
        outs = [KerasTensor(s, name=f"{self.name}/out{i}", dims=self._output_dims(s, xs))
                for i, s in enumerate(out_shape if multi else [out_shape])]
        node = Node(self, xs, outs, kwargs, list_input=isinstance(inputs, (list, tuple)))
        for i, o in enumerate(outs):
            o.node, o.index = node, i
        in_masks = [x._mask for x in xs]
        if kwargs.get("mask") is not None:  # an explicit mask overrides the propagated one
            in_masks[0] = kwargs["mask"]
        masks = self.compute_mask(xs, in_masks)
        for o, m in zip(outs, masks if isinstance(masks, list) else [masks] * len(outs)):
            o._mask = m
            if m is not None and m.node is None:  # a mask a layer made: its run-time lengths are its input's
                m._dims = _inherit_dims(m.shape, xs[0])
        self._inbound.append(node)
        self.output_shape = out_shape
        return outs if multi else outs[0]

    def _call_unbatched(self, inputs, kwargs):
        """A symbolic tensor without a batch axis: a layer that can records its call with bigcore.ops
        (call_unbatched); any other refuses, since its op would take the first axis for the batch."""
        unbatched = getattr(self, "call_unbatched", None)
        if unbatched is None or kwargs or isinstance(inputs, (list, tuple)):
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) was called on a tensor without a batch "
                            f"axis ({inputs!r}); it takes batched tensors (batch first)")
        if not self.built:
            with building():
                self.build(tuple(inputs.shape))
            self.built = True
        return unbatched(inputs)

    def _call_on_constant(self, inputs, kwargs):
        """Inside a custom call() (Keras traces it), a sub-layer called on arrays (ops.arange
        positions): run now, its weights would be frozen into the program as a constant and never
        trained, so a layer that can records its call with bigcore.ops (call_unbatched: a tensor
        without a batch axis); any other refuses."""
        unbatched = getattr(self, "call_unbatched", None)
        if unbatched is None or kwargs or isinstance(inputs, (list, tuple)):
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) was called on an array inside a custom "
                            "layer's call(): it would run once, at trace time, and its output would be frozen into "
                            "the program. Call it on the call's tensors (or on a tensor computed from them)")
        if not self.built:
            with building():
                self.build(np.shape(inputs))
            self.built = True
        return unbatched(inputs)

    def _bind_call_args(self, args, kwargs):
        """The call's keywords (positional extras bound in call_keywords order), None values
        dropped (Keras: None means the default); TypeError for a keyword the call does not take."""
        names = self.call_keywords
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}.call() of layer {self.name!r} takes the inputs and at most "
                            f"{len(names)} more argument(s) ({', '.join(names)}); got {1 + len(args)} positional")
        bound = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                accepted = ", ".join(f"`{n}`" for n in names)
                raise TypeError(f"{type(self).__name__}.call() got an unexpected keyword argument {k!r} (layer "
                                f"{self.name!r}). It accepts: {accepted}")
            if k in bound:
                raise TypeError(f"{type(self).__name__}.call() of layer {self.name!r} got multiple values for "
                                f"argument {k!r}")
            bound[k] = v
        training = bound.get("training")
        if getattr(training, "_bigcore_training_flag", False):  # a traced call's training: the program's mode
            bound.pop("training")
            training = None
        if training is not None and not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"Layer {self.name!r}: `training` must be True, False or None. Received: "
                            f"training={training!r}")
        return {k: (bool(v) if k == "training" else v) for k, v in bound.items() if v is not None}

    def _check_call_kwargs(self, xs, kwargs):
        """Raises when a symbolic call's keywords do not fit its inputs (layers with keywords)."""

    def keras_call(self, node):
        """(args, kwargs) of one of this layer's calls as Keras 3 records it (models/serialization.py);
        calling the layer with them again makes the same call."""
        if node.list_input or not node.inputs:  # a recorded constant has no inputs: called on []
            return [list(node.inputs)], node.call_kwargs
        return [node.inputs[0]], node.call_kwargs

    def compute_mask(self, inputs, masks):
        """The output mask (a KerasTensor or None, or a list per output)."""
        return masks[0] if self.supports_masking and masks else None

    def _check_input(self, shape):
        """Raises a Keras-style ValueError when `shape` cannot feed this layer."""

    def _output_dims(self, shape, xs):
        """The run-time lengths of an output of `shape` (layers/dims.py): by default, a None at an axis
        where the first input has a run-time length is that length. A layer that moves lengths to
        other axes (Reshape, Flatten) derives its own."""
        return _inherit_dims(shape, xs[0])

    def _call_eager(self, inputs, kwargs):
        """Runs this one layer on numpy input (native ops), through the runner bigcore.models installs."""
        if _eager_runner is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} was called on numpy input, but no eager "
                               "runner is installed: import bigcore (bigcore.models installs it)")
        return _eager_runner(self, inputs, kwargs)

    # -- weights --
    def _own_weights(self):
        """The weights this layer created itself (not its sub-layers'), trainable first: Keras's
        order for a custom layer's own variables (Layer.weights, save_own_variables)."""
        return [w for w in self._weights if w._follows_layer] + [w for w in self._weights if not w._follows_layer]

    @property
    def weights(self):
        """Keras's order: this layer's own weights (trainable, then not), then each tracked sub-layer's
        (custom layers: the layers assigned as attributes, also in lists and dicts), each weight once."""
        if not _traces_call(type(self)):
            return list(self._weights)
        out, seen = [], set()
        for w in self._own_weights() + [w for layer in self._tracked_layers() for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self):
        """Keras's: none when the layer is not trainable, else its trainable weights and each
        sub-layer's trainable weights (a sub-layer set non-trainable gives none)."""
        keep = trainable_ids(self)
        return [w for w in self.weights if id(w) in keep]

    @property
    def non_trainable_weights(self):
        keep = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in keep]

    # Keras's dtype names: bigcore computes and keeps weights in float32 (an InputLayer may say int32)
    @property
    def dtype(self):
        return self.__dict__.get("_layer_dtype", "float32")

    @dtype.setter
    def dtype(self, value):
        self.__dict__["_layer_dtype"] = value

    compute_dtype = property(lambda self: self.dtype)
    variable_dtype = property(lambda self: "float32")

    # Keras 3's names for the same lists (a layer's variables are its weights)
    variables = property(lambda self: self.weights)
    trainable_variables = property(lambda self: self.trainable_weights)
    non_trainable_variables = property(lambda self: self.non_trainable_weights)

    def _tracked_layers(self):
        """The layers held in this layer's attributes (directly, or in lists, tuples and dicts), in the
        order the attributes were first set, as Keras tracks them."""
        out, seen = [], {id(self)}

        def visit(v, depth=0):
            if isinstance(v, Layer):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
            elif isinstance(v, (list, tuple)) and depth < 8:
                for x in v:
                    visit(x, depth + 1)
            elif isinstance(v, dict) and depth < 8:
                for x in v.values():
                    visit(x, depth + 1)

        for k, v in vars(self).items():
            if k not in _UNTRACKED:
                visit(v)
        return out

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        ws = self.weights
        if len(weights) != len(ws):
            raise ValueError(f"Layer {self.name!r} expects {len(ws)} weights, but received {len(weights)} weights")
        for w, v in zip(ws, weights):
            w.assign(v)

    def count_params(self):
        return sum(math.prod(w.shape) for w in self.weights)

    # -- activity losses --
    def add_loss(self, loss):
        """Adds `loss` (a tensor computed in call(), or from the layer's weights) to the training loss,
        summed as Keras sums added losses. Only inside a traced call()."""
        trace = _trace.get()
        if trace is None:
            raise RuntimeError(f"Layer {self.name!r}: add_loss() is recorded while call() is traced (when the layer "
                               "is called on symbolic tensors, e.g. while a model is built)")
        t = _ops().convert_to_tensor(loss) if not isinstance(loss, KerasTensor) else loss
        trace.losses.append(t)

    @property
    def losses(self):
        """Keras's layer.losses: what add_loss() and activity regularizers added in this layer's last
        eager call (layer(x) / model(x) on arrays: the call's own terms and its sub-layers', in the
        order they ran), then each regularized weight's penalty, computed now."""
        out = [np.float32(v) for v in getattr(self, "_eager_losses", ())]
        return out + [np.float32(w.regularizer(w.value)) for w in self.weights if w.regularizer is not None]

    # -- the calls that made this layer's outputs (Keras's layer.input / layer.output) --
    def _only_node(self, what):
        if not self._inbound:
            raise AttributeError(f"Layer {self.name!r} has never been called and thus has no defined {what}.")
        if len(self._inbound) > 1:
            raise AttributeError(f"Layer {self.name!r} has multiple inbound nodes, hence the notion of \"layer {what}\" "
                                 f"is ill-defined. Use `get_{what}_at(node_index)` instead.")
        return self._inbound[0]

    @property
    def input(self):
        node = self._only_node("input")
        return node.inputs if node.list_input else node.inputs[0]

    @property
    def output(self):
        node = self._only_node("output")
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    def get_input_at(self, node_index):
        node = self._inbound[node_index]
        return node.inputs if node.list_input else node.inputs[0]

    def get_output_at(self, node_index):
        node = self._inbound[node_index]
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    # -- lowering --
    def lower(self, prog, inputs, outputs):
        """Adds this layer's ops to `prog` (models/lowering.py); returns output tensor ids."""
        raise NotImplementedError(f"{type(self).__name__} has no native lowering")

    def fusable_activation(self):
        return None

    # -- config --
    def get_config(self):
        cfg = {"name": self.name, "trainable": self.trainable}
        if self._input_shape_arg is not None:
            cfg["input_shape"] = self._input_shape_arg
        if type(self).get_config is Layer.get_config and _traces_call(type(self)):
            cfg = {**self._auto_config(), **cfg}
        return cfg

    def _auto_config(self):
        """Keras's auto config of a custom class: its constructor arguments, when JSON can hold them."""
        args = getattr(self, "_init_args", None)
        if args is None or type(self).__init__ is Layer.__init__:
            return {}
        bad = [k for k, v in args.items() if not _jsonable(v)]
        if bad:
            raise NotImplementedError(
                f"{type(self).__name__} (layer {self.name!r}) takes constructor arguments that a config cannot hold "
                f"({', '.join(bad)}): override get_config() to return them as plain values (and from_config() to "
                "rebuild them), as Keras requires")
        return dict(args)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
