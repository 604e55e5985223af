"""Custom layers: a Layer subclass's call() runs once, on symbolic placeholders, when it is called
on symbolic tensors; what it records is the layer's subgraph.

`trace_call(layer, inputs, args, kwargs)` (installed as base.py's call tracer) builds the layer
(user build(), or nothing: sub-layers build when called), binds the call's arguments by call()'s
signature, gives every tensor argument a placeholder of the same shape (and its Keras mask one
too), runs call() while a Trace collects each Node made (sub-layer calls, bigcore.ops calls,
weights read as tensors, add_loss tensors), and adds ONE node to the caller's graph: the layer on
the real tensors, carrying the recorded `TracedGraph`. The lowering lowers that subgraph with the
placeholders bound to the node's inputs (models/lowering.py). Each call of the layer on new
tensors traces again: the weights are shared, the subgraph is new.

`training`: when call() takes it and the caller gave none, call() gets TRAINING, a stand-in that
sub-layers accept (they follow the program's mode: Dropout is active in fit, not in predict). If
call() branches on it (`if training:`), the layer is traced twice, with True and with False, and
the node carries both subgraphs; the lowering runs each only in its mode.
"""

import inspect

from bigcore.layers import base
from bigcore.layers.base import KerasTensor, Layer, Node, Weight, shape_str
from bigcore.layers.input_spec import assert_input_compatibility


class BranchOnTraining(Exception):
    """call() asked bool(training) while traced with TRAINING: it must be traced once per mode."""


class _TrainingFlag:
    """`training` while a call is traced for both modes at once."""

    _bigcore_training_flag = True  # base.Layer takes it as "follow the program's mode"

    def __bool__(self):
        raise BranchOnTraining()

    def __repr__(self):
        return "<training: the model's mode>"


TRAINING = _TrainingFlag()


def is_training_flag(v):
    return getattr(v, "_bigcore_training_flag", False)


class Trace:
    """What one call() records: the Nodes made (in order), weights read, add_loss tensors."""

    def __init__(self, layer):
        self.layer = layer
        self.nodes = []
        self.weight_reads = {}  # id(Weight) -> its KerasTensor in this trace
        self.losses = []
        self.updates = []  # the outputs of weight assignments (they run although nothing reads them)

    def __enter__(self):
        self._token = base._trace.set(self)
        return self

    def __exit__(self, *exc):
        base._trace.reset(self._token)
        return False

    def discard(self):
        """Undoes the inbound nodes this trace gave its sub-layers (a trace started again)."""
        for node in self.nodes:
            inbound = getattr(node.layer, "_inbound", None)
            if inbound and node in inbound:
                inbound.remove(node)


class TracedGraph:
    """A layer call's recorded subgraph. bindings: (placeholder, outer tensor) pairs, the outer
    tensors being the call's tensors and their masks; nodes in an order that respects their
    dependencies; outputs / masks: the inner tensors the node's outputs (and their masks) are;
    losses: add_loss tensors."""

    def __init__(self, bindings, nodes, outputs, masks, losses):
        self.bindings, self.nodes, self.outputs, self.masks, self.losses = bindings, nodes, outputs, masks, losses


def inference_graph(node):
    """A traced call's subgraph as inference runs it: the one recorded for training=False when
    call() branches on training (node.graphs is keyed by mode, None when it does not branch)."""
    graphs = node.graphs
    return graphs[None] if None in graphs else graphs[False]


# ---------------------------------------------------------------------------------------------


def traces_call(layer):
    """Whether `layer` is a custom layer: its class defines call() and no native lowering."""
    return base._traces_call(type(layer))


def _flatten(value):
    if isinstance(value, (KerasTensor, Weight)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    if isinstance(value, dict):
        return [t for k in value for t in _flatten(value[k])]
    return []


def _map(value, fn):
    if isinstance(value, KerasTensor):
        return fn(value)
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return value


def _placeholder(t, name):
    ph = KerasTensor(t.shape, t.dtype, name=name, dims=t._dims, batched=t._batched)
    return ph


def _shapes(value):
    if isinstance(value, KerasTensor):
        return value.shape
    if isinstance(value, (list, tuple)):
        return [_shapes(v) for v in value]
    return None


def _bind(layer, inputs, args, kwargs):
    sig = inspect.signature(layer.call)
    try:
        bound = sig.bind(inputs, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{type(layer).__name__}.call() of layer {layer.name!r}: {e}") from None
    return sig, bound


def _check_training(layer, value):
    if value is None or isinstance(value, bool) or is_training_flag(value):
        return
    if hasattr(value, "dtype") and getattr(value, "shape", None) == () and str(value.dtype) == "bool":
        return
    raise TypeError(f"Layer {layer.name!r}: `training` must be True, False or None. Received: training={value!r}")


def _build(layer, sig, bound):
    if layer.built:
        return
    with base.building():
        _run_build(layer, bound)
    layer.built = True


def _run_build(layer, bound):
    first = next(iter(bound.arguments))
    build = type(layer).build
    if build is not Layer.build:
        params = list(inspect.signature(layer.build).parameters)
        if len(params) <= 1:
            layer.build(*([_shapes(bound.arguments[first])] if params else []))
        else:  # Keras: build(self, query_shape, value_shape) gets each tensor argument's shape by name
            shapes = {}
            for p in params:
                arg = p[:-6] if p.endswith("_shape") else None
                if arg in bound.arguments:
                    shapes[p] = _shapes(bound.arguments[arg])
            layer.build(*([_shapes(bound.arguments[first])] if params[0] not in shapes else []), **shapes)


def trace_call(layer, inputs, args, kwargs):
    """`layer(inputs, *args, **kwargs)` for a custom layer (see the module docstring)."""
    sig, bound = _bind(layer, inputs, args, kwargs)
    params = sig.parameters
    tensors = _flatten(list(bound.arguments.values()))
    if not any(isinstance(t, KerasTensor) for t in tensors):
        return layer._call_eager(inputs, {k: v for k, v in bound.arguments.items() if k != next(iter(params))})
    training = bound.arguments.get("training")
    _check_training(layer, training)
    assert_input_compatibility(getattr(layer, "input_spec", None), bound.arguments[next(iter(params))], layer.name)
    _build(layer, sig, bound)
    first_name = next(iter(params))
    first = bound.arguments[first_name]
    if "mask" in params and bound.arguments.get("mask") is None:
        tensor_args = [k for k, v in bound.arguments.items() if _flatten(v) and k != "mask"]
        if tensor_args == [first_name]:  # Keras: the propagated mask goes to a call with one tensor argument
            masks = _map(first, lambda t: t._mask)
            if any(m is not None for m in _flatten(masks) if isinstance(m, KerasTensor)):
                bound.arguments["mask"] = masks
    if "training" in params and training is None:
        bound.arguments["training"] = TRAINING
    explicit = {k: v for k, v in bound.arguments.items() if k != first_name and (k in kwargs or k in _positional(
        sig, len(args)))}
    graphs = _trace_modes(layer, bound, first_name)
    base_graph = graphs[None] if None in graphs else graphs[True]
    outs_inner = base_graph.outputs
    structure = base_graph.structure
    outs = [KerasTensor(None, t.dtype, name=f"{layer.name}/out{i}" if len(outs_inner) > 1 else layer.name,
                        dims=t._dims, batched=t._batched) for i, t in enumerate(outs_inner)]
    for o, m in zip(outs, base_graph.out_masks):
        o._mask = m
    xs = [t for t in _flatten(first) if isinstance(t, KerasTensor)]
    call_kwargs = {k: v for k, v in explicit.items() if k != "training" or not is_training_flag(v)}
    node = Node(layer, xs, outs, call_kwargs, list_input=isinstance(first, (list, tuple)))
    node.graphs = graphs
    for i, o in enumerate(outs):
        o.node, o.index = node, i
    layer._inbound.append(node)
    layer.input_shape = _shapes(first)
    result = _rebuild(structure, iter(outs))
    layer.output_shape = _shapes(result) if not isinstance(result, dict) else None
    return result


def _positional(sig, n_args):
    names = [p for p in sig.parameters][1:]
    return set(names[:n_args])


def _trace_modes(layer, bound, first_name):
    """{None: graph} from one trace, or {True: ..., False: ...} when call() branches on training."""
    try:
        return {None: _trace_once(layer, bound, first_name)}
    except BranchOnTraining:
        pass
    out = {}
    for mode in (True, False):
        bound.arguments["training"] = mode
        out[mode] = _trace_once(layer, bound, first_name)
    a, b = out[True], out[False]
    if [(t._dims, t._batched) for t in a.outputs] != [(t._dims, t._batched) for t in b.outputs]:
        raise ValueError(f"Layer {layer.name!r}: call() gives outputs of other shapes in training and in inference "
                         "mode; both modes must give the same shapes")
    return out


def _trace_once(layer, bound, first_name):
    outer = {}  # id(placeholder) -> the outer tensor
    bindings = []

    def make(t):
        ph = _placeholder(t, f"{layer.name}/{t.name}")
        outer[id(ph)] = t
        bindings.append((ph, t))
        if t._mask is not None:
            mph = _placeholder(t._mask, f"{layer.name}/{t.name}/mask")
            bindings.append((mph, t._mask))
            ph._mask = mph
        return ph

    seen = {}

    def make_once(t):  # one placeholder per distinct tensor (a tensor passed twice is one input)
        if id(t) not in seen:
            seen[id(t)] = make(t)
        return seen[id(t)]

    call_args = {k: _map(v, make_once) for k, v in bound.arguments.items()}
    call = bound.signature.bind_partial()
    call.arguments.update(call_args)
    trace = Trace(layer)
    with trace:
        try:
            result = layer.call(*call.args, **call.kwargs)
            flat = _flatten(result)
            flat = [_as_tensor(layer, t) for t in flat]
            if not flat:
                raise ValueError(f"Layer {layer.name!r}: call() must return a tensor or a list/tuple of tensors. "
                                 f"Received: {result!r}")
            previous = call_args.get("mask")  # Keras: the mask given, else the first argument's
            if previous is None:
                previous = _map(call_args[first_name], lambda t: t._mask if isinstance(t, KerasTensor) else None)
            masks = _output_masks(layer, call_args[first_name], previous, flat)
        except BaseException:
            trace.discard()
            raise
    placeholders = {id(ph) for ph, _ in bindings}
    nodes = check_closed(layer, trace, placeholders,
                         flat + [m for m in masks if m is not None] + trace.losses + trace.updates)
    out_masks = []
    for m in masks:
        if m is None:
            out_masks.append(None)
        elif id(m) in outer:  # a mask passed through: the outer mask itself
            out_masks.append(outer[id(m)])
        else:
            out_masks.append(KerasTensor(None, m.dtype, name=f"{layer.name}/mask", dims=m._dims, batched=m._batched))
    _check_declared_shape(layer, bound, first_name, flat)
    graph = TracedGraph(bindings, nodes, flat, masks, list(trace.losses))
    graph.updates = list(trace.updates)
    graph.out_masks = out_masks
    graph.structure = _structure(result)
    return graph


def _as_tensor(layer, t):
    if isinstance(t, KerasTensor):
        return t
    if isinstance(t, Weight):
        return _tensor_ops_weight(t)
    raise TypeError(f"Layer {layer.name!r}: call() returned {type(t).__name__}, not a tensor")


def _tensor_ops_weight(w):
    return base._ops().convert_to_tensor(w)


def _structure(result):
    """The shape of call()'s return value with its tensors as slots (tensor, list, tuple, dict)."""
    if isinstance(result, (KerasTensor, Weight)):
        return 0
    if isinstance(result, list):
        return [_structure(r) for r in result]
    if isinstance(result, tuple):
        return tuple(_structure(r) for r in result)
    if isinstance(result, dict):
        return {k: _structure(v) for k, v in result.items()}
    return result


def _rebuild(structure, it):
    if structure == 0 and not isinstance(structure, bool):
        return next(it)
    if isinstance(structure, list):
        return [_rebuild(s, it) for s in structure]
    if isinstance(structure, tuple):
        return tuple(_rebuild(s, it) for s in structure)
    if isinstance(structure, dict):
        return {k: _rebuild(v, it) for k, v in structure.items()}
    return structure


def _output_masks(layer, inputs, mask, outputs):
    """Keras's rule: a layer that supports masking keeps masks its call already set on the outputs,
    else gets them from compute_mask(inputs, mask) (by default: the input's mask, passed through)."""
    if not _supports_masking(layer):
        return [None] * len(outputs)
    if all(o._mask is not None for o in outputs):
        return [o._mask for o in outputs]
    if type(layer).compute_mask is not Layer.compute_mask:
        m = layer.compute_mask(inputs, mask)
    else:
        m = mask
    if isinstance(m, (list, tuple)) and len(m) == len(outputs):  # one entry per output, None ones kept
        flat = [x if isinstance(x, KerasTensor) else None for x in m]
    else:
        flat = _flatten(m) if m is not None else []
        flat = [x if isinstance(x, KerasTensor) else None for x in flat] or [None]
    if len(flat) == 1:
        flat = flat * len(outputs)
    return [o._mask if o._mask is not None else f for o, f in zip(outputs, flat)]


def _supports_masking(layer):
    return bool(layer.supports_masking) or type(layer).compute_mask is not Layer.compute_mask


def check_closed(layer, trace, placeholders, roots):
    """The trace's nodes that the roots need, in the order made; every tensor they read must be a
    placeholder or made in this trace (not a tensor of the caller's graph captured by the code)."""
    made = {}
    for node in trace.nodes:
        for t in node.outputs:
            made[id(t)] = node
    for node in trace.nodes:
        for t in node.parents:
            if id(t) not in placeholders and id(t) not in made:
                raise ValueError(
                    f"Layer {layer.name!r}: call() used the tensor {t.name!r}, which is neither an argument of the "
                    "call nor computed from one. A custom layer must compute from its arguments (pass the tensor "
                    "in as an argument)")
    needed, stack = set(), [made[id(t)] for t in roots if id(t) in made]
    for t in roots:
        if id(t) not in made and id(t) not in placeholders:
            raise ValueError(f"Layer {layer.name!r}: call() returned the tensor {t.name!r}, which is neither an "
                             "argument of the call nor computed from one")
    while stack:
        node = stack.pop()
        if id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(made[id(t)] for t in node.parents if id(t) in made)
    return [n for n in trace.nodes if id(n) in needed]


def _check_declared_shape(layer, bound, first_name, outputs):
    if type(layer).compute_output_shape is Layer.compute_output_shape:
        return
    try:
        # Keras passes the call's keywords that compute_output_shape names (ReversibleEmbedding's reverse)
        accepted = list(inspect.signature(layer.compute_output_shape).parameters)[1:]
        extra = {k: v for k, v in bound.arguments.items() if k in accepted and k != first_name}
        declared = layer.compute_output_shape(_shapes(bound.arguments[first_name]), **extra)
    except NotImplementedError:
        return
    decl = declared if isinstance(declared, list) else [declared]
    if len(decl) == len(outputs) and all(isinstance(d, (tuple, list)) for d in decl):
        for d, o in zip(decl, outputs):
            d = tuple(d)
            if len(d) != len(o.shape) or any(a is not None and b is not None and a != b for a, b in zip(d, o.shape)):
                raise ValueError(f"Layer {layer.name!r}: compute_output_shape() says {shape_str(d)}, but call() gives "
                                 f"{shape_str(o.shape)}")


base.set_call_tracer(trace_call)
