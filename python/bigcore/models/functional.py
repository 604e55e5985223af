"""Model: a directed acyclic graph of layer calls from Input tensors to outputs."""

import math
import os
import threading
import weakref

import numpy as np

from bigcore import _tensor, export as export_module, saving
from bigcore.layers import base as layer_base
from bigcore.layers.base import KerasTensor, Layer, _snake, _traces_call, _unique_name
from bigcore.layers.core import Input, InputLayer
from bigcore.layers.registry import layer_from_config, register_model
from bigcore.models import input_side, lowering, serialization, shape_variants, subclassed, summary
from bigcore.models.trainer import Trainer

_LOWER_LOCK = threading.RLock()  # reentrant: lowering a model may lower the models nested in it


def _fresh_lower_lock():
    """A child forked while another thread was lowering a model would inherit the lock held by a
    thread it does not have, and hang on its own first predict / fit: it starts with a free one."""
    global _LOWER_LOCK
    _LOWER_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_fresh_lower_lock)


def _producer(kt):
    if not isinstance(kt, KerasTensor) or kt.node is None:
        raise ValueError(f"{kt!r} was not produced by a layer call on an Input")
    return kt.node


def _topological_nodes(outputs, first_seen=None):
    """The layer calls that produce `outputs`, each after the calls it depends on (the tensors
    among a call's keywords included): a depth-first post-order, walked with an explicit stack so
    a graph of any depth fits (no recursion limit). first_seen, if given, receives id(layer) ->
    the DFS pre-order index at which the layer was first reached (Keras's traversal index)."""
    order, seen = [], set()
    first_seen = {} if first_seen is None else first_seen

    def enter(node):
        seen.add(id(node))
        first_seen.setdefault(id(node.layer), len(first_seen))
        return node, iter(node.parents)

    for kt in outputs:
        root = _producer(kt)
        if id(root) in seen:
            continue
        stack = [enter(root)]
        while stack:
            node, pending = stack[-1]
            for t in pending:
                child = _producer(t)
                if id(child) not in seen:
                    stack.append(enter(child))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _keras_layer_order(inputs, nodes, first_seen):
    """The layers in Keras's order (ops/function.py map_graph): by depth from the outputs,
    deepest first (a layer's depth is the largest of its calls'), ties in DFS traversal order.
    It is model.layers's and so get_weights()'s order, which must match Keras's to exchange
    weights. nodes: the calls in post-order (InputLayer calls included)."""
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        layers[id(node.layer)] = node.layer
        for t in node.parents:
            node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in inputs:  # an input no output depends on
        if id(t.node.layer) not in layers:
            layers[id(t.node.layer)] = t.node.layer
            layer_depth[id(t.node.layer)], first_seen[id(t.node.layer)] = 0, -1
    return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))


def _flatten(items):
    """A (nested) list of outputs as one list: Keras's RNN over stacked cells returns an LSTM cell's
    states as a [h, c] list inside its outputs."""
    return [t for x in items for t in (_flatten(x) if isinstance(x, (list, tuple)) else [x])]


def _restructure(structure, flat):
    """`structure` (a tensor, list, tuple or dict of them, as given to Model) with its tensors
    replaced, in order, by those of `flat`."""
    it = iter(flat)

    def put(v):
        if isinstance(v, dict):
            return {k: put(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(put(x) for x in v)
        return next(it)

    return put(structure)


def _cut_graph(ins, outs, keys=None):
    """Keras's clone_graph_nodes: a model whose inputs include intermediate tensors (Keras's
    FeatureSpace guide trains Model(inputs=encoded_features, ...)) gets a new Input for each of
    them and copies of the layer calls between its inputs and outputs, reading those Inputs, so
    the graph it holds starts at Inputs and leaves the original graph as it was. keys: a dict of
    inputs' keys, which name the new Inputs (a dict of data is matched to Inputs by name)."""
    mapping = {}
    new_ins = []
    for i, t in enumerate(ins):
        if t.node is None or isinstance(t.node.layer, InputLayer):
            mapping[id(t)] = t
            new_ins.append(t)
            continue
        clone = Input(batch_shape=t.shape, dtype=t.dtype, name=keys[i] if keys else _unique_name("input"))
        mapping[id(t)] = clone
        new_ins.append(clone)
    order, seen = [], set()
    stack = [(o.node, False) for o in reversed(outs) if id(o) not in mapping]
    while stack:  # post-order walk that stops at the given inputs
        node, done = stack.pop()
        if done:
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
            continue
        if id(node) in seen:
            continue
        stack.append((node, True))
        for t in reversed(node.parents):
            if id(t) not in mapping and id(_producer(t)) not in seen:
                stack.append((t.node, False))

    def remap(v):
        if isinstance(v, KerasTensor):
            return mapping[id(v)]
        if isinstance(v, (list, tuple)):
            return type(v)(remap(x) for x in v)
        return v

    for node in order:
        if isinstance(node.layer, InputLayer):
            raise ValueError(f"Graph disconnected: the outputs depend on input {node.layer.name!r} not passed to Model")
        new_outs = []
        for o in node.outputs:
            c = KerasTensor(o.shape, o.dtype, name=o.name, dims=o._dims, batched=o._batched)
            new_outs.append(c)
            mapping[id(o)] = c
        new_node = layer_base.Node(node.layer, [remap(t) for t in node.inputs], new_outs,
                                   {k: remap(v) for k, v in node.call_kwargs.items()}, list_input=node.list_input)
        for i, c in enumerate(new_outs):
            c.node, c.index = new_node, i
        for o, c in zip(node.outputs, new_outs):
            m = o._mask
            c._mask = mapping.get(id(m), m) if m is not None else None
        node.layer._inbound.append(new_node)
    return new_ins, [mapping[id(o)] for o in outs]


def _graph_shapes(tensors, called):
    """A property: the shapes of the model's tensors (attribute `tensors`; one shape, or a list for
    several), or while there is no graph, the value a call as a layer stored (attribute `called`)."""

    def get(self):
        ts = self.__dict__.get(tensors)
        if ts is None:
            return self.__dict__.get(called)
        shapes = [tuple(t.shape) for t in ts]
        return shapes[0] if len(shapes) == 1 else shapes

    def set(self, value):
        self.__dict__[called] = value

    return property(get, set)


@register_model("Functional", "Model")
class Model(Trainer, Layer):
    supports_variable_length = True  # called as a layer, its own layers are checked where inlined
    _summary_lists_inputs = True  # Keras lists a functional model's InputLayers in summary(), not a Sequential's

    def __init__(self, inputs=None, outputs=None, name=None, **kw):
        subclassed = _traces_call(type(self)) and inputs is None
        default = _snake(type(self).__name__) if subclassed else "functional"
        Layer.__init__(self, name=name or _unique_name(default), **kw)
        Trainer.__init__(self)
        self._inputs = self._outputs = None
        self._nodes = []
        self._graph_layers = []
        self._model_losses = []  # add_loss tensors of a subclassed model's call()
        self._subclassed = subclassed  # a Model subclass with call(): traced when first built
        self._front_nodes, self._native_inputs, self._native_nodes = [], None, []  # models/input_side.py
        if inputs is not None:
            self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs, losses=()):
        """losses: add_loss tensors of a subclassed model's call(): their nodes join the graph."""
        self._single_input = not isinstance(inputs, (list, tuple, dict))
        self._single_output = not isinstance(outputs, (list, tuple, dict))
        ins = list(inputs.values()) if isinstance(inputs, dict) else ([inputs] if self._single_input else list(inputs))
        outs = list(outputs.values()) if isinstance(outputs, dict) else ([outputs] if self._single_output else
                                                                         _flatten(outputs))
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs and outputs must be symbolic tensors (from bigcore.Input), got {type(t).__name__}")
        if any(t.node is not None and not isinstance(t.node.layer, InputLayer) for t in ins):
            if losses:
                raise NotImplementedError("A model whose inputs are intermediate tensors cannot take add_loss tensors")
            ins, outs = _cut_graph(ins, outs, list(inputs) if isinstance(inputs, dict) else None)
            outputs = _restructure(outputs, outs)
        first_seen = {}
        nodes = _topological_nodes(outs + list(losses), first_seen)
        for t in ins:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model inputs must come from bigcore.Input; {t!r} does not")
        given = {id(t.node.layer) for t in ins}
        missing = [n.layer.name for n in nodes if isinstance(n.layer, InputLayer) and id(n.layer) not in given]
        if missing:
            raise ValueError(f"Graph disconnected: the outputs depend on input(s) {missing} not passed to Model")
        names = {}
        for layer in [t.node.layer for t in ins] + [n.layer for n in nodes]:
            if names.setdefault(layer.name, layer) is not layer:  # saving keys layers by name
                raise ValueError(f'The name "{layer.name}" is used 2 times in the model. All layer names should be unique.')
        self._inputs, self._outputs = ins, outs
        self._output_structure = outputs
        self._model_losses = list(losses)
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        self._graph_layers = _keras_layer_order(ins, nodes, first_seen)
        self._front_nodes, self._native_inputs, self._native_nodes = input_side.split(ins, self._nodes, outs)
        self.built = True
        self._program = None

    # -- graph facts --
    @property
    def inputs(self):
        return list(self._inputs or [])

    @property
    def outputs(self):
        return list(self._outputs or [])

    @property
    def layers(self):
        """Keras's model.layers: a subclassed model's tracked layers (its attributes, in the order
        set), else the graph's layers in Keras's order; recorded ops are not layers."""
        if self._subclassed:
            return self._tracked_layers()
        return [layer for layer in self._graph_layers if getattr(layer, "config_module", None) is None]

    @property
    def input(self):
        self._ensure_built()
        return self._inputs[0] if self._single_input else list(self._inputs)

    @property
    def output(self):
        self._ensure_built()
        return self._outputs[0] if self._single_output else list(self._outputs)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in self.layers]}")

    @property
    def _weights_all(self):
        if self._subclassed:  # Keras's order: own weights, then each tracked layer's
            return Layer.weights.fget(self)
        seen, out = set(), []
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def weights(self):
        return self._weights_all

    def _trainable_children(self):
        seen, out = set(), []
        # a Sequential's stack, built or not; a functional model's graph
        layers = list(self.__dict__.get("_stack", ())) + list(self.__dict__.get("_graph_layers", ()))
        for layer in layers + self._tracked_layers():
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    def get_weights(self):
        self._ensure_built()
        return layer_base.read_weights(self._weights_all)  # one consistent set, under one native lock

    def set_weights(self, weights):
        self._ensure_built()
        ws = self._weights_all
        if len(weights) != len(ws):
            raise ValueError(f"You called `set_weights(weights)` on model {self.name!r} with a weight list of "
                             f"length {len(weights)}, but the model was expecting {len(ws)} weights.")
        layer_base.write_weights(ws, weights)  # all checked, then written in one locked native call

    def count_params(self):
        self._ensure_built()
        return sum(math.prod(w.shape) for w in self._weights_all)

    @property
    def output_names(self):
        """Keras's: the keys of a dict of outputs (sorted, as Keras flattens a dict), else the output
        layers' names."""
        self._ensure_built()
        keys = self._output_keys()
        return sorted(keys) if isinstance(self.__dict__.get("_output_structure"), dict) else keys

    # Keras's model.input_shape / output_shape: the graph's tensors' shapes (a list for several);
    # before the model has a graph, what a call as a layer set (Layer.__call__), else None.
    input_shape = _graph_shapes("_inputs", "_called_input_shape")
    output_shape = _graph_shapes("_outputs", "_called_output_shape")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        if self._inputs is None and hasattr(self, "_stack"):  # Keras shows an unbuilt Sequential's layers
            (print_fn or print)(summary.render_unbuilt(self, line_length))
            return
        self._ensure_built()
        text = summary.render(self, line_length, list_inputs=self._summary_lists_inputs, positions=positions,
                              show_trainable=show_trainable, expand_nested=expand_nested, layer_range=layer_range)
        (print_fn or print)(text)

    # -- subclassed models: call() traced once into the graph --
    def build(self, input_shape=None):
        """A subclassed model traces call() on Input tensors of input_shape (batch first; None for
        the batch and for lengths the data gives per batch; a list or dict of shapes for several
        inputs). A functional model is built already."""
        if self._subclassed and self._inputs is None:
            if input_shape is None:
                raise ValueError(f"Model {self.name!r}: build() needs the input shape, e.g. build((None, 784))")
            subclassed.trace(self, input_shape)

    def _build_from(self, x):
        if not self._subclassed or x is None:
            return
        if self._inputs is None:
            subclassed.build_from_data(self, x)
        elif shape_variants.differs(self, x):  # call() traced again for that shape, as Keras runs it on any
            self._graph_for(tuple(x.shape[1:]))

    def _takes_any_shape(self):
        """Whether Keras would run the model on inputs of another sample shape than it was built with
        (a subclassed model's call, a Sequential's layers; not a functional model's Input)."""
        return self._subclassed

    def _graph_for(self, shape):
        """The graph (and program) for sample shape `shape` becomes the model's (models/shape_variants.py)."""
        shape_variants.switch(self, shape, lambda s: subclassed.trace(self, (None,) + s))

    def get_build_config(self):
        """What load_model needs to build a subclassed model before setting its weights."""
        if not self._subclassed or self._inputs is None:
            return None
        return {"input_shape": subclassed.input_shapes(self)}

    def build_from_config(self, config):
        if config and "input_shape" in config and self._inputs is None:
            subclassed.build(self, subclassed.shape_spec(config["input_shape"]))

    # -- the native program --
    def _ensure_built(self, x=None):
        if self._inputs is None:
            if self._subclassed:
                raise ValueError(f"Model {self.name!r} ({type(self).__name__}) has not been built yet: call build(input_"
                                 "shape), or fit / predict / the model on data first")
            raise ValueError(f"Model {self.name!r} has not been built: it has no inputs yet. Create it as "
                             "bigcore.Model(inputs, outputs) from bigcore.Input tensors, or use bigcore.Sequential")

    def _native(self):
        program = self._program
        if program is not None:
            if program.trainable_epoch != layer_base.trainable_epoch():
                program = self._sync_trainable(program)
            return program
        # Threads whose first call on a model is concurrent lower it once: without the lock each
        # built its own program, and a batch source bound to one was run by another.
        with _LOWER_LOCK:
            self._ensure_built()
            if self._program is None:
                if self._front_nodes:
                    input_side.check_lowerable(self)
                self._program = lowering.lower(self._native_inputs, self._native_nodes, self._outputs,
                                               self._model_losses, self._held_layer_weights())
                self._sync_trainable(self._program)  # the model's view: a non-trainable ancestor freezes
                self._watch_held_weights()
                self._on_program_created()
            return self._program

    def _sync_trainable(self, program):
        """The program takes the weights' trainable flags as they are now (Keras: a layer's trainable
        changed since the model was lowered): each arena segment's flag in place, the optimizer's
        slots kept, and the frozen mode of the ops the flag shapes (BatchNormalization's moving
        statistics), so a GAN's discriminator may be frozen and thawed every step."""
        with _LOWER_LOCK:
            for layer, op in program.trainable_shaped:  # op: an op's index, or (index, the path to an op in it)
                at, path = op if isinstance(op, tuple) else (op, [])
                program.native.set_op_frozen(at, not layer.trainable, path)
            keep = {id(w) for w in self.trainable_weights}
            for w, off in program.weights:
                flag = id(w) in keep
                if program.param_trainable.get(off) != flag:
                    program.native.set_param_trainable(off, flag)
                    program.param_trainable[off] = flag
            program.trainable_epoch = layer_base.trainable_epoch()
            return program

    def _held_layer_weights(self):
        """The weights of layers the model holds as attributes beside its graph (a distiller's
        teacher) when its own compute_loss may call them: the program's arena gets them up front,
        since that call is traced only once the targets' shapes are known."""
        if type(self).compute_loss is Trainer.compute_loss:
            return []
        out, seen = [], set()
        stack = [v for v in vars(self).values() if isinstance(v, Layer) and v is not self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.extend(layer.weights)
        return out

    def _watch_held_weights(self):
        """Weights that ops copied when lowered (a quantized layer's int8 kernels and scales), not
        arena views: assigning one makes the program stale, so the next call lowers the model again."""
        in_arena = {id(w) for w, _ in self._program.weights}
        in_arena.update(id(w) for n in self._front_nodes for w in n.layer.weights)  # read in NumPy, never copied
        model = weakref.ref(self)

        def stale():
            if model() is not None:
                model()._program = None
                shape_variants.forget(model())  # their programs copied it too

        for w in self._weights_all:
            if id(w) not in in_arena:
                w.on_assign = stale

    call_keywords = ("training", "mask")  # Keras's Functional.call(inputs, training=None, mask=None)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, np.ndarray) and not kwargs and not args:  # serving: numpy in, numpy out
            return _tensor.wrap(self._forward_batch(inputs, -1))
        kwargs = self._bind_call_args(args, kwargs)
        if subclassed.any_symbolic(inputs):  # a model called as a layer (nested): one node of the caller's graph
            return subclassed.call_symbolic(self, inputs, kwargs)
        if "mask" in kwargs:
            raise NotImplementedError(f"Model {self.name!r}: calling a model with mask= is not supported yet; give "
                                      "the masks to the layers inside the model (Embedding(mask_zero=True), or an "
                                      "RNN call's mask=)")
        training = kwargs.get("training")
        return _tensor.wrap(self._forward_batch(inputs, -1 if training is None else int(training)))

    def lower(self, prog, inputs, outputs):
        """A model called as a layer: its graph, inlined with its inputs bound to the caller's tensors."""
        return subclassed.lower_nested(self, prog, inputs, outputs)

    lower._lowers_graph = True  # a Model subclass with call() is still traced (layers/base.py _traces_call)

    def get_config(self):
        if self._subclassed:  # Keras: the name, trainable and (unless get_config is the user's) the constructor's arguments
            auto = self._auto_config() if type(self).get_config is Model.get_config else {}
            return {**auto, **subclassed.base_config(self)}
        return serialization.functional_config(self)

    @classmethod
    def from_config(cls, config):
        """A new model (fresh weights) from get_config()'s dict: a functional model's graph, or a
        subclassed model's constructor arguments."""
        if _traces_call(cls) and not ("layers" in config and "input_layers" in config):
            return cls(**config)
        return cls._from_config(config, layer_from_config)

    @classmethod
    def _from_config(cls, config, make_layer):
        """make_layer(entry) -> the layer for one entry of config["layers"] (clone_model's hook)."""
        inputs, outputs = serialization.functional_graph(config, make_layer)
        return cls(inputs, outputs, name=config.get("name"))

    # -- saving (bigcore/saving) and export (bigcore/export) --
    def save(self, filepath, overwrite=True, include_optimizer=True):
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    def export(self, filepath, format=None, verbose=None, **kwargs):
        """Writes the model for deployment; format "onnx" (or None: from a .onnx extension).
        See bigcore.export for the options (opset, int8_activations)."""
        export_module.export(self, filepath, format=format, verbose=verbose, **kwargs)

    def to_json(self, **kwargs):
        return saving.model_to_json(self, **kwargs)


def _run_eagerly(layer, inputs, kwargs):
    """layer(numpy, **kwargs): runs the one layer through a one-layer model (native ops). A list of
    arrays (Add, Attention's [query, value]) is a list of inputs; the arrays among the keywords
    (initial_state, mask, an attention's value) become inputs of that model too; flags (True/False,
    None) pass as given."""
    arrays, model_inputs = [], []

    def symbolic(v):
        if isinstance(v, (list, tuple)):
            return [symbolic(a) for a in v]
        if v is None or isinstance(v, bool):
            return v
        a = np.asarray(v)
        if a.ndim < 1:
            raise TypeError(f"Layer {layer.name!r}: a call argument must be an array with a batch axis, got {v!r}")
        t = Input(batch_shape=a.shape)  # the call's batch size, as Keras's eager call() sees it
        arrays.append(a)
        model_inputs.append(t)
        return t

    # a list of arrays is several inputs; a nested list of numbers is one array
    several = isinstance(inputs, (list, tuple)) and len(inputs) > 0 and all(hasattr(a, "shape") for a in inputs)
    in_mask = None if several else getattr(inputs, "_keras_mask", None)
    if in_mask is not None and "mask" in getattr(layer, "call_keywords", ()) and kwargs.get("mask") is None:
        kwargs = {**kwargs, "mask": in_mask}  # Keras: an eager tensor's mask goes to the next layer's call
    inp = symbolic(list(inputs) if several else np.asarray(inputs))
    call_kwargs = {k: (v if k == "training" else symbolic(v)) for k, v in kwargs.items()}
    result = layer(inp, **call_kwargs)
    flat = list(result) if isinstance(result, (list, tuple)) else [result]
    unbatched = [isinstance(t, KerasTensor) and not t._batched for t in flat]
    if any(unbatched):  # e.g. a call() returning a weight it updates: each row of the model's output is it
        flat = [_with_batch(t, model_inputs[0]) if u else t for t, u in zip(flat, unbatched)]
        result = type(result)(flat) if isinstance(result, (list, tuple)) else flat[0]
    model = Model(model_inputs if len(arrays) > 1 else model_inputs[0], result)
    # The layer's eager calls count on across these one-call models: each training-mode call draws anew
    # (Keras's seed generator advances), where every call had drawn as the first.
    model._call_steps = getattr(layer, "_eager_call_steps", 0)
    out = model._forward_batch(arrays if len(arrays) > 1 else arrays[0], -1)  # the call's training= holds
    layer._eager_call_steps = model._call_steps
    layer._eager_losses = model._eager_losses
    if not any(unbatched):
        return _with_mask(_tensor.wrap(out), layer, inputs, kwargs.get("mask", in_mask), several)
    rows = list(out) if isinstance(out, (list, tuple)) else [out]
    rows = [r[0] if u else r for r, u in zip(rows, unbatched)]
    return _tensor.wrap(type(out)(rows) if isinstance(out, (list, tuple)) else rows[0])


def _with_mask(out, layer, inputs, in_mask, several):
    """Keras's `_keras_mask` on an eager output: the mask the layer makes from the values (Embedding
    with mask_zero, Masking), or the input's, passed through by a layer that keeps masks as they are."""
    if several:
        return out
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    compute_mask = type(layer).compute_mask
    if getattr(compute_mask, "on_values", False):
        mask = layer.compute_mask(np.asarray(inputs))
    elif compute_mask is not Layer.compute_mask and not type(layer).__module__.startswith("bigcore."):
        mask = layer.compute_mask(inputs, in_mask)  # a user's compute_mask: its ops run on the arrays
    elif (in_mask is not None and layer.supports_masking and compute_mask is Layer.compute_mask
          and all(o.shape[:np.ndim(in_mask)] == np.shape(in_mask) for o in outs)):
        mask = in_mask
    else:
        return out
    if mask is None:
        return out
    masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(outs)
    if len(masks) != len(outs):
        raise ValueError(f"Layer {layer.name!r}: compute_mask() returned {len(masks)} masks for {len(outs)} "
                         "outputs; expected one mask (or None) per output")
    for o, m in zip(outs, masks):
        if m is not None and isinstance(o, np.ndarray):
            o._keras_mask = _tensor.wrap(np.asarray(m))
    return out



def _with_batch(t, ref):
    """The batch-less tensor t repeated over the rows of the batched tensor ref (0 * ref summed per row,
    plus t): a model output must have a batch axis."""
    ops = layer_base._ops()
    zero = ops.zeros_like(ops.cast(ref, "float32"))
    if len(ref.shape) > 1:
        zero = ops.sum(zero, axis=tuple(range(1, len(ref.shape))))
    for _ in range(len(t.shape)):
        zero = ops.expand_dims(zero, -1)
    return zero + t


layer_base.set_eager_runner(_run_eagerly)

