"""Subclassed models (a Model subclass with call()) and models called as layers.

A subclassed model's call() runs once, on Input tensors, when the model is first built (build(),
fit / evaluate / predict, or model(x)): the layer calls and ops it records become the model's
graph, as if the user had written the functional model, so lowering, summary, export and
quantization see an ordinary graph. If call() branches on `training`, it is traced once per mode
instead (layers/tracing.py) and the graph is one node carrying both traces.

A model (functional or subclassed) called on symbolic tensors becomes one node of the caller's
graph; lowering inlines its graph with its inputs bound to the caller's tensors and its run-time
lengths mapped to the caller's (lower_nested).
"""

import inspect

import numpy as np

from bigcore.data import Dataset
from bigcore.layers import dims, tracing
from bigcore.layers.base import KerasTensor, Layer, Node
from bigcore.layers.core import Input
from bigcore.models import shape_variants


def any_symbolic(inputs):
    if isinstance(inputs, KerasTensor):
        return True
    if isinstance(inputs, (list, tuple)):
        return any(isinstance(x, KerasTensor) for x in inputs)
    if isinstance(inputs, dict):
        return any(isinstance(x, KerasTensor) for x in inputs.values())
    return False


def shape_spec(value):
    """A JSON input-shape record (lists) back as build() takes it: a tuple, or a list/dict of tuples."""
    if isinstance(value, dict):
        return {k: shape_spec(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return [tuple(v) for v in value]
    return tuple(value)


def input_shapes(model):
    """The shapes the model was traced with (None for the batch and run-time lengths)."""
    shapes = [list(t.shape) for t in model._inputs]
    spec = getattr(model, "_input_spec", "single")
    if spec == "single":
        return shapes[0]
    if isinstance(spec, list):
        return dict(zip(spec, shapes))
    return shapes


def _inputs_for(spec):
    """Input tensors for a shape spec: one shape, a list/tuple of shapes, or a dict of them."""
    if isinstance(spec, dict):
        return {k: Input(shape=tuple(s)[1:], name=str(k)) for k, s in spec.items()}, list(spec)
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], (list, tuple)):
        return [Input(shape=tuple(s)[1:]) for s in spec], "list"
    if isinstance(spec, (list, tuple)) and all(s is None or isinstance(s, (int, np.integer)) for s in spec):
        return Input(shape=tuple(None if s is None else int(s) for s in spec)[1:]), "single"
    raise ValueError(f"build() expects an input shape (a tuple with the batch first), a list or a dict of them. "
                     f"Received: {spec!r}")


def trace(model, spec):
    """Runs model.call on Input tensors of `spec` and makes what it records the model's graph."""
    inputs, kind = _inputs_for(spec)
    params = inspect.signature(model.call).parameters
    kwargs = {"training": tracing.TRAINING} if "training" in params else {}
    trace_ = tracing.Trace(model)
    branches = False
    with trace_:
        try:
            outputs = model.call(inputs, **kwargs)
        except tracing.BranchOnTraining:
            branches = True
        except BaseException:
            trace_.discard()
            raise
    if branches:  # one node holding the training and the inference trace
        trace_.discard()
        outputs = _CallOf(model)(inputs)
        losses = []
    else:
        losses = list(trace_.losses)
    outputs = _as_tensors(model, outputs)
    model._input_spec = kind
    model._init_graph(inputs, outputs, losses)
    model._program = None


def _as_tensors(model, outputs):
    def conv(v):
        if isinstance(v, KerasTensor):
            return v
        if isinstance(v, (list, tuple)):
            return type(v)(conv(x) for x in v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        raise TypeError(f"Model {model.name!r}: call() must return tensors (a tensor, or a list/tuple/dict of them). "
                        f"Received: {type(v).__name__}")
    return conv(outputs)


class _CallOf(Layer):
    """A subclassed model's call() as one traced layer: used when call() branches on `training`."""

    def __init__(self, model):
        super().__init__(name=f"{model.name}_call")
        self._model_ref = [model]  # in a list: not a tracked sub-layer (the model owns its weights)

    def call(self, inputs, training=None):
        return self._model_ref[0].call(inputs, training=training)

    def get_config(self):
        raise ValueError("the traced call of a subclassed model is not saved; the model's own config is")


def base_config(model):
    """The name and trainable flag of a subclassed model's config, those its __init__ takes (Keras
    leaves the name out when __init__ has neither `name` nor **kwargs; the flag too, here, so that
    from_config(get_config()) rebuilds such a model)."""
    params = inspect.signature(type(model).__init__).parameters
    sink = any(p.kind == p.VAR_KEYWORD for p in params.values())
    return {k: v for k, v in (("name", model.name), ("trainable", model.trainable)) if sink or k in params}


def build_from_data(model, x):
    """Builds an unbuilt subclassed model from the first data it sees: its shape, the batch free."""
    if isinstance(x, Dataset):
        first = next(iter(x))
        x = first[0] if isinstance(first, tuple) else first
    if isinstance(x, dict):
        spec = {k: (None,) + np.shape(v)[1:] for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        spec = [(None,) + np.shape(v)[1:] for v in x]
        if len(spec) == 1:
            spec = spec[0]
    else:
        spec = (None,) + np.shape(x)[1:]
    build(model, spec)


def build(model, spec):
    """model.build(spec) (the user's, when overridden), then the trace if that build did not run it."""
    with model._open_name_scope():  # Keras builds it in its first call: its layers' paths under its name
        model.build(spec)
        if model._inputs is None:
            trace(model, spec)


def call_symbolic(model, inputs, kwargs):
    """model(tensors) inside another graph: one node whose outputs have the model's output shapes
    with its run-time lengths replaced by the caller's."""
    if model._inputs is None:
        if not model._subclassed:
            raise ValueError(f"Model {model.name!r} has no inputs to be called with")
        if isinstance(inputs, dict):
            build(model, {k: v.shape for k, v in inputs.items()})
        elif isinstance(inputs, (list, tuple)):
            build(model, [t.shape for t in inputs])
        else:
            build(model, tuple(inputs.shape))
    xs = list(inputs.values()) if isinstance(inputs, dict) else (list(inputs) if isinstance(inputs, (list, tuple))
                                                                  else [inputs])
    if len(xs) != len(model._inputs):
        raise ValueError(f"Model {model.name!r} expects {len(model._inputs)} input(s), got {len(xs)}")
    if len(xs) == 1 and isinstance(xs[0], KerasTensor) and model._takes_any_shape() and \
            shape_variants.differs(model, xs[0]):
        model._graph_for(tuple(xs[0].shape[1:]))  # Keras runs its layers on the caller's shape
    mapping = {}
    for i, (inner, outer) in enumerate(zip(model._inputs, xs)):
        if not isinstance(outer, KerasTensor):
            raise TypeError(f"Model {model.name!r} was called on a mix of symbolic tensors and arrays")
        # a fixed axis takes neither another size nor a run-time length (its ops are lowered for that size)
        if len(inner.shape) != len(outer.shape) or any(a is not None and a != b
                                                        for a, b in zip(inner.shape[1:], outer.shape[1:])):
            raise ValueError(f'Input {i} of model "{model.name}" is incompatible: expected shape {inner.shape}, '
                             f"found shape {outer.shape}")
        for a, b in zip(inner._dims, outer._dims):
            if dims.is_dim(a):
                mapping[a] = b
    outs = []
    for i, o in enumerate(model._outputs):
        t = KerasTensor(None, o.dtype, name=f"{model.name}/out{i}" if len(model._outputs) > 1 else model.name,
                        dims=[dims.substitute(d, mapping) for d in o._dims], batched=o._batched)
        if o._mask is not None:
            m = o._mask
            t._mask = KerasTensor(None, m.dtype, name=f"{t.name}/mask", dims=[dims.substitute(d, mapping) for d in m._dims],
                                  batched=m._batched)
        outs.append(t)
    call_kwargs = {k: v for k, v in kwargs.items() if k == "training" and isinstance(v, bool)}
    node = Node(model, xs, outs, call_kwargs, list_input=not (len(xs) == 1 and not isinstance(inputs, (list, tuple))))
    for i, o in enumerate(outs):
        o.node, o.index = node, i
    model._inbound.append(node)
    return model._structured(outs)


def lower_nested(model, prog, inputs, outputs):
    outer = prog.node.inputs
    if len(outer) == 1 and model._takes_any_shape() and shape_variants.differs(model, outer[0]):
        model._graph_for(tuple(outer[0].shape[1:]))  # it ran on another shape since this call was made
    env = {}
    for inner, o in zip(model._inputs, outer):
        for a, b in zip(inner._dims, o._dims):
            if dims.is_dim(a):
                env[a] = b
    bindings = list(zip(model._inputs, inputs))
    masks = [o._mask for o in model._outputs]
    outs, mask_ids = prog.lower_graph(bindings, model._nodes, model._outputs, masks, model._model_losses, env)
    for kt, m in zip(outputs, mask_ids):
        if kt._mask is not None and m is not None:
            prog.bind(kt._mask, m)
    return outs


__all__ = ["any_symbolic", "base_config", "build_from_data", "call_symbolic", "input_shapes", "lower_nested",
           "shape_spec", "trace"]
