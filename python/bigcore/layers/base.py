"""Layer, Weight and the symbolic tensors layers are called on.

A layer holds configuration; build(input_shape) creates its weights; lower() adds its native
ops to a program. A float32 weight's value is a native cell (cpp/runtime/param_home.h) with one
home at a time: the arena of the program that used it last (its steps update it in place), or the
cell's own storage. Every model containing the layer reads and trains that one value, as a Keras
variable is shared by every model containing its layer.
"""

import contextlib
import contextvars
import math
import re

import numpy as np

from bigcore import constraints, initializers, regularizers
from bigcore._native import _core

_name_counts = {}
_budget = contextvars.ContextVar("weight_budget", default=None)
# The eager-call hook: runner(layer, inputs, call_kwargs) -> numpy outputs, for `layer(numpy_array)`. A layer
# runs through a model's native program, and models live above layers, so bigcore.models installs
# it (set_eager_runner) rather than this module importing them.
_eager_runner = None


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


class Weight:
    """A layer variable. A float32 weight's value lives in a native cell shared by every program
    that lowers it (`value`: a view of it where it lives now); reads and writes go through the
    cell under its home program's lock. Other dtypes (a quantized layer's int8) are plain arrays."""

    def __init__(self, name, shape, initializer, regularizer=None, trainable=True, constraint=None, dtype="float32"):
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)  # float32 weights live in the arena; int8 ones (quantized) with their op
        value = np.ascontiguousarray(initializer(self.shape), dtype=self.dtype).reshape(self.shape)
        self._cell = _core.ParamCell(value.reshape(-1)) if self.dtype == np.float32 else None
        self._value = None if self._cell is not None else value
        self._view, self._view_version = None, -1
        self.regularizer = regularizer
        self.trainable = trainable
        self.constraint = constraint
        self.on_assign = None  # set by a model whose native ops hold a copy of this weight (int8)

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
            raise ValueError(f"Weight {self.name!r} holds {self.dtype} values, got an array of {v.dtype}")
        v = v.astype(self.dtype, copy=False)
        if v.shape != self.shape:
            raise ValueError(f"Weight {self.name!r} has shape {self.shape}, got a value of shape {v.shape}")
        return np.ascontiguousarray(v)

    def assign(self, v):
        v = self._checked(v)
        if self._cell is None:
            self._value[...] = v
        else:
            self._cell.write(v.reshape(-1))
        if self.on_assign is not None:
            self.on_assign()

    def __array__(self, dtype=None, copy=None):
        return self.value.astype(dtype) if dtype else self.value.copy()

    def __repr__(self):
        return f"<Weight {self.name} shape={self.shape}>"


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
    """A symbolic tensor: shape (batch first, None), dtype, and the layer call that made it."""

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name
        self._mask = None  # a (batch, timesteps) KerasTensor when the values carry a Keras mask

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


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

    @property
    def parents(self):
        """Every tensor the call reads: the inputs, then the tensors among its keywords by keyword
        name (Keras's flattening order of (args, kwargs))."""
        if not self.call_kwargs:
            return self.inputs
        kw = self.call_kwargs
        return self.inputs + [t for k in sorted(kw) for t in flat_tensors(kw[k])]


def shape_str(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Layer:
    supports_masking = False  # passes its first input's mask on unchanged
    # The keywords this layer's call takes beyond its inputs, in Keras's order (a positional
    # argument after the inputs binds to them in this order). Keras accepts `training` on every
    # layer; any other keyword raises TypeError naming it and the layer.
    call_keywords = ("training",)
    # Objects whose attach(lowering, layer) runs once the layer's weights sit in a program's arena
    # (models/lowering.py); they may add program step hooks (compression/pruning.py: the masks).
    _program_hooks = ()

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"Argument `name` must be a non-empty string without '/'. Received: name={name!r}")
        self.name = name or _unique_name(_snake(type(self).__name__))
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

    # -- life cycle --
    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None, trainable=True,
                   constraint=None, dtype="float32"):
        budget = _budget.get()
        need = np.dtype(dtype).itemsize * math.prod(int(s) for s in shape)
        if budget is not None:
            if need > budget[0]:
                raise ValueError(f"Layer {self.name!r}: weight {name!r} of shape {tuple(shape)} needs {need} bytes, "
                                 f"more than the {budget[0]} bytes left in the file being loaded")
            budget[0] -= need
        try:
            w = Weight(f"{self.name}/{name}", shape, initializers.get(initializer),
                       regularizers.get(regularizer), trainable and self.trainable, constraints.get(constraint), dtype)
        except MemoryError:
            raise MemoryError(f"Layer {self.name!r} ({type(self).__name__}): weight {name!r} of shape {tuple(shape)} "
                              f"needs {need} bytes, which cannot be allocated") from None
        self._weights.append(w)
        return w

    def __call__(self, inputs, *args, **kwargs):
        kwargs = self._bind_call_args(args, kwargs)
        xs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        symbolic = [isinstance(x, KerasTensor) for x in xs]
        if not any(symbolic) and not any(flat_tensors(v) for v in kwargs.values()):
            return self._call_eager(inputs, kwargs)
        if not all(symbolic):
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) was called on a mix of symbolic tensors "
                            "and arrays: pass all inputs as bigcore.Input tensors (or all as arrays)")
        shapes = [x.shape for x in xs]
        in_shape = shapes if isinstance(inputs, (list, tuple)) else shapes[0]
        self._check_input(in_shape)
        self._check_call_kwargs(xs, kwargs)
        if not self.built:
            self.build(in_shape)
            self.built = True
        self.input_shape = in_shape
        out_shape = self.compute_output_shape(in_shape)
        multi = isinstance(out_shape, list)
        outs = [KerasTensor(s, name=f"{self.name}/out{i}") for i, s in enumerate(out_shape if multi else [out_shape])]
        node = Node(self, xs, outs, kwargs, list_input=isinstance(inputs, (list, tuple)))
        for i, o in enumerate(outs):
            o.node, o.index = node, i
        in_masks = [x._mask for x in xs]
        if kwargs.get("mask") is not None:  # an explicit mask overrides the propagated one
            in_masks[0] = kwargs["mask"]
        masks = self.compute_mask(xs, in_masks)
        for o, m in zip(outs, masks if isinstance(masks, list) else [masks] * len(outs)):
            o._mask = m
        self._inbound.append(node)
        self.output_shape = out_shape
        return outs if multi else outs[0]

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
        if training is not None and not isinstance(training, (bool, np.bool_)):
            raise TypeError(f"Layer {self.name!r}: `training` must be True, False or None. Received: "
                            f"training={training!r}")
        return {k: (bool(v) if k == "training" else v) for k, v in bound.items() if v is not None}

    def _check_call_kwargs(self, xs, kwargs):
        """Raises when a symbolic call's keywords do not fit its inputs (layers with keywords)."""

    def compute_mask(self, inputs, masks):
        """The output mask (a KerasTensor or None, or a list per output)."""
        return masks[0] if self.supports_masking and masks else None

    def _check_input(self, shape):
        """Raises a Keras-style ValueError when `shape` cannot feed this layer."""

    def _call_eager(self, inputs, kwargs):
        """Runs this one layer on numpy input (native ops), through the runner bigcore.models installs."""
        if _eager_runner is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r} was called on numpy input, but no eager "
                               "runner is installed: import bigcore (bigcore.models installs it)")
        return _eager_runner(self, inputs, kwargs)

    # -- weights --
    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self._weights if not w.trainable]

    def get_weights(self):
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights):
        if len(weights) != len(self._weights):
            raise ValueError(f"Layer {self.name!r} expects {len(self._weights)} weights, "
                             f"but received {len(weights)} weights")
        for w, v in zip(self._weights, weights):
            w.assign(v)

    def count_params(self):
        return sum(math.prod(w.shape) for w in self._weights)

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
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
