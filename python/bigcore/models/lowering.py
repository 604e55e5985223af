"""Lowers a model's layer graph to one native program (cpp/runtime/program.h).

Tensors are shaped: each native tensor gets its template of non-batch axes, a constant or a
symbol per axis (runtime/shapes.h). A model input's axis given as None is an input symbol; the
lengths derived from it (a slice, a concatenation, a reshape) are derived symbols, made once
per distinct length (layers/dims.py).

Subgraphs are lowered in place: a custom layer's traced call (node.graphs, layers/tracing.py)
and a model called as a layer (its own graph, its input lengths mapped to the caller's), each in
a scope of its own, its inputs bound to the caller's tensors. Fusion (fusion.py) turns a
matmul + bias + activation of weights into the Dense op, and a final softmax / sigmoid into the
activation op a cross-entropy loss fuses with.
"""

import math

from bigcore import constraints, regularizers
from bigcore._native import _core
from bigcore.layers import base as layer_base, dims, tracing
from bigcore.layers.base import KerasTensor, Weight
from bigcore.layers.merging import Add
from bigcore.models import fusion


class Lowering:
    """What a layer's lower() sees: tensor and parameter allocation plus the native program."""

    def __init__(self):
        self.native = _core.Program()
        self._param_of = {}   # id(Weight) -> arena offset
        self._weight_tensor_of = {}  # id(Weight) -> native tensor reading it
        self._scopes = [{}]   # id(KerasTensor) -> native tensor id, innermost scope last
        self._symbol_of = {}  # Dim (in the model's own terms) -> native symbol id
        self._dim_env = [{}]  # a nested model's input lengths -> the caller's
        self.weights = []     # (Weight, offset), in allocation order
        self.param_trainable = {}  # offset -> the trainable flag its arena segment has
        self.trainable_shaped = []  # (layer, op index) where layer.trainable sets the op's frozen mode
        self.trainable_epoch = layer_base.trainable_epoch()  # the flags are those of this moment
        self.structure_epoch = layer_base.structure_epoch()  # a later enable_lora makes it stale
        self.lora_state = {}  # id(layer) -> (layer, its lora_enabled when lowered), for every layer lowered
        self.node = None
        # Program step hooks: hook(program, step) runs before each native training step, in this
        # order, with step = the optimizer's iterations (fit, train_on_batch). A layer's
        # _program_hooks add them when attached (compression/pruning.py: the pruning schedules).
        self.step_hooks = []
        self.loss_terms = 0   # add_loss tensors lowered
        self.call_training = False  # some layer call was made with training=True
        self.no_activity_penalty = set()  # ids of nodes whose layer's activity regularizer does not apply

    def folded(self, what="TimeDistributed"):
        """A lowering into a program of its own whose ops one op of this program runs over a folded
        axis (TimeDistributed, layers/wrappers.py) or per timestep (an RNN's scan, layers/rnn_scan.py):
        its tensors are one timestep's, its parameters and records of the layers lowered are this
        lowering's. what: the layer named in its refusals."""
        return _FoldedLowering(self, what)

    # -- tensors --
    def bind(self, kt, tensor_id):
        self._scopes[-1][id(kt)] = tensor_id

    def id(self, kt):
        try:
            return self._scopes[-1][id(kt)]
        except KeyError:
            raise ValueError(f"tensor {kt.name!r} is not computed before it is used (is it an input of the model?)") \
                from None

    def has(self, kt):
        return id(kt) in self._scopes[-1]

    def mask_id(self, kt):
        """The native id of kt's Keras mask, or -1."""
        return -1 if kt._mask is None else self.id(kt._mask)

    def input_mask_id(self):
        """The mask the current node's layer applies to its first input: the call's explicit
        `mask=` tensor, else the mask that input carries; -1 for none."""
        explicit = self.node.call_kwargs.get("mask")
        return self.id(explicit) if explicit is not None else self.mask_id(self.node.inputs[0])

    def symbol(self, d):
        """The native symbol of a run-time length (made on first use)."""
        d = dims.substitute(d, self._dim_env[-1])
        if d in self._symbol_of:
            return self._symbol_of[d]
        if d.kind == "input":
            raise ValueError(f"a tensor's length {d!r} comes from an Input that is not an input of this model")
        if d.kind == "unknown" or d is dims.BATCH:
            raise ValueError("a length known only when the model runs cannot be derived (a layer declared it None)")
        syms = [self.symbol(a) if dims.is_dim(a) else None for a in d.args]
        if d.kind == "affine":
            s = self.native.add_derived_symbol("affine", [syms[0]], list(d.args[1:]), d.name)
        elif d.kind in ("sum", "prod", "broadcast"):
            s = self.native.add_derived_symbol(d.kind, syms, [], d.name)
        elif d.kind == "slice":
            s = self.native.add_derived_symbol("slice", [syms[0]], list(d.args[1:]), d.name)
        else:
            raise ValueError(f"no native symbol for the length {d!r}")
        self._symbol_of[d] = s
        return s

    def template(self, kt):
        """kt's non-batch axes as add_shaped_tensor takes them (n >= 1, or ~symbol)."""
        out = []
        for i, d in enumerate(kt._dims):
            if not dims.is_dim(d):
                out.append(int(d))
                continue
            if d.kind == "unknown":
                d = self._follow_input(kt, i, d)
            d = dims.substitute(d, self._dim_env[-1])
            if not dims.is_dim(d):  # a traced call's length that this call fixes (a nested graph on fixed inputs)
                out.append(int(d))
                continue
            try:
                out.append(~self.symbol(d))
            except ValueError as e:
                raise ValueError(f"cannot lower tensor {kt.name!r} of shape {kt.shape}: axis {i + kt._batched}: {e}") \
                    from None
        return out

    def _follow_input(self, kt, i, d):
        """A length a layer left undefined (a tensor it made inside its lower(), e.g. Bidirectional's
        halves) at non-batch axis i: that of the current call's inputs at the same axis, when the
        layer declares its op reads lengths per call (supports_variable_length)."""
        layer = self.node.layer if self.node is not None else None
        if layer is None or not getattr(layer, "supports_variable_length", False):
            return d
        for x in self.node.inputs:
            if i < len(x._dims) and dims.is_dim(x._dims[i]) and x._dims[i].kind != "unknown":
                return x._dims[i]
        return d

    def tensor(self, kt, is_input=False):
        """A native tensor for kt, its template from kt's lengths (a model input's run-time lengths
        become input symbols); labelled for out-of-memory messages."""
        if is_input:
            for d in kt._dims:
                if dims.is_dim(d) and d not in self._symbol_of:
                    self._symbol_of[d] = self.native.add_symbol(d.name or f"an axis of {kt.name!r}")
        t = self.native.add_shaped_tensor(self.template(kt), is_input, kt._batched)
        layer = kt.node.layer if kt.node is not None else None
        what = "input" if is_input else "the output"
        self.native.set_label(t, f"{what} of layer {layer.name!r} ({type(layer).__name__})" if layer is not None
                              else f"tensor {kt.name!r}")
        return t

    def view(self, t, kt):
        """Native tensor t seen with kt's shape (Reshape, Flatten): no op and no copy, its buffers are
        t's, and every op that reads it (a primitive, a traced call()) sees kt's shape."""
        v = self.native.add_view_tensor(t, self.template(kt))
        layer = kt.node.layer if kt.node is not None else None
        self.native.set_label(v, f"the output of layer {layer.name!r} ({type(layer).__name__})" if layer is not None
                              else f"tensor {kt.name!r}")
        return v

    def check_lengths(self, node):
        """Refuses a built-in layer that reads a tensor with run-time lengths unless it declares that
        its op reads the lengths per call (supports_variable_length); recorded ops and traced custom
        layers always do (their shapes are templates)."""
        layer = node.layer
        if getattr(layer, "supports_variable_length", False) or getattr(node, "graphs", None) is not None:
            return
        for kt in node.inputs:
            if any(dims.is_dim(d) for d in kt._dims):
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) does not support variable-length "
                                 f"axes yet: its input {kt.name!r} has shape {kt.shape}; give the Input a fixed shape")

    def param(self, w):
        if id(w) not in self._param_of:
            reg = w.regularizer
            native_reg = reg is not None and not regularizers.is_custom(reg)  # L1L2: in the optimizer pass
            con = constraints.native_args(w.constraint, tuple(w.shape), f"weight {w.path!r}")
            shape = tuple(w.shape)
            last2 = {"mid": shape[-2], "last": shape[-1]} if len(shape) >= 2 and math.prod(shape) else {}
            off = self.native.add_param(math.prod(shape), reg.l1 if native_reg else 0.0,
                                        reg.l2 if native_reg else 0.0, w.trainable, **con, **last2)
            self._param_of[id(w)] = off
            self.param_trainable[off] = w.trainable
            self.weights.append((w, off))
        return self._param_of[id(w)]

    def weight_tensor(self, w):
        """w as a batch-less tensor aliasing its arena segment (ops read weights in place)."""
        if id(w) not in self._weight_tensor_of:
            self._weight_tensor_of[id(w)] = self.native.add_weight_tensor(self.param(w), list(w.shape) or [1])
        return self._weight_tensor_of[id(w)]

    # -- graphs --
    def lower_nodes(self, nodes, protected=()):
        """Lowers layer calls in order (each one's inputs already bound). protected: ids of tensors
        read from outside these nodes (outputs, losses, masks), which fusion must keep."""
        plan = fusion.plan(nodes, protected)
        residual = _residual_fusions(nodes, protected)
        relus = _relu_fusions(nodes, protected)
        skipped = {id(add) for add in residual.values()} | {id(relu) for relu in relus.values()}
        for node in nodes:
            if id(node) in plan.skip or id(node) in skipped:
                continue
            self.node = node
            self.lora_state[id(node.layer)] = (node.layer, getattr(node.layer, "lora_enabled", False))
            fused = plan.fused.get(id(node))
            if fused is not None:
                outs = fused.lower(self)
                for kt, t in zip(fused.outputs, outs):
                    self.bind(kt, t)
                continue
            self.check_lengths(node)
            first_op = self.native.n_ops
            add, relu = residual.get(id(node)), relus.get(id(node))
            outputs = node.outputs
            if add is not None:  # the norm reads the Add's two inputs and adds them in its own pass
                outs = node.layer.lower(self, [self.id(t) for t in add.inputs], node.outputs)
            elif relu is not None:  # the op writes the ReLU's output itself
                outputs = relu.outputs
                outs = node.layer.lower(self, [self.id(t) for t in node.inputs], outputs, relu=True)
            else:
                outs = self._lower_call(node)
            reg = getattr(node.layer, "activity_regularizer", None)
            if reg is not None and id(node) not in self.no_activity_penalty:  # Keras: reg(y) / batch on its output
                outs = [self.activity_penalty(outs[0], node.outputs[0], reg)] + list(outs[1:])
            training = node.call_kwargs.get("training")
            if training is True or (training is None and node.layer.call_default_training):
                # the call's mode, for runs that give none (model(x)): its own, or its layer's call() default
                self.native.set_call_training(first_op, True)
                self.call_training = True
            for kt, t in zip(outputs, outs):
                self.bind(kt, t)

    def _lower_call(self, node):
        graphs = getattr(node, "graphs", None)
        if graphs is not None:
            return self.lower_traced(node, graphs)
        return node.layer.lower(self, [self.id(t) for t in node.inputs], node.outputs)

    def lower_graph(self, bindings, nodes, outputs, masks=(), losses=(), dim_env=None, updates=()):
        """Lowers a closed subgraph in a scope of its own: bindings (inner tensor, native id) give its
        inputs; returns the native ids of `outputs` and of `masks` (None stays None)."""
        env = dict(self._dim_env[-1])
        for k, v in (dim_env or {}).items():
            env[k] = dims.substitute(v, self._dim_env[-1])
        self._scopes.append({})
        self._dim_env.append(env)
        saved = self.node
        try:
            for kt, t in bindings:
                self.bind(kt, t)
            keep = {id(t) for t in list(outputs) + [m for m in masks if m is not None] + list(losses) + list(updates)}
            self.lower_nodes(nodes, keep)
            for t in losses:
                self.add_loss(self.id(t), t)
            return [self.id(t) for t in outputs], [None if m is None else self.id(m) for m in masks]
        finally:
            self.node = saved
            self._scopes.pop()
            self._dim_env.pop()

    def lower_traced(self, node, graphs):
        """A custom layer's call (layers/tracing.py): its recorded subgraph, or its two subgraphs
        (training / inference) when call() branches on `training`."""
        if None in graphs:
            outs, masks = self._lower_one(node, graphs[None])
        else:
            start = self.native.n_ops
            outs_t, masks = self._lower_one(node, graphs[True])
            mid = self.native.n_ops
            outs_i, _ = self._lower_one(node, graphs[False])
            self.native.set_op_mode(start, mid, 1)
            self.native.set_op_mode(mid, self.native.n_ops, 2)
            outs = []
            for kt, a, b in zip(node.outputs, outs_t, outs_i):
                out = self.tensor(kt)
                self.native.add_select_training(a, b, out)
                outs.append(out)
        for kt, m in zip(node.outputs, masks):
            if kt._mask is not None and m is not None and not self.has(kt._mask):
                self.bind(kt._mask, m)
        return outs

    def _lower_one(self, node, g):
        bindings = [(ph, self.id(outer)) for ph, outer in g.bindings]
        return self.lower_graph(bindings, g.nodes, g.outputs, g.masks, g.losses, updates=getattr(g, "updates", ()))

    def activity_penalty(self, t, kt, reg):
        """Keras's activity regularization of a layer's output y (native tensor t, KerasTensor kt):
        reg(y) / batch joins the loss. Returns the tensor the output's readers take: an L1L2 runs as
        the native op that passes y on and adds its penalty and gradient; a custom regularizer's call
        is recorded on y as ops, a loss term (so its gradient reaches y)."""
        if not regularizers.is_custom(reg):
            penalized = self.tensor(kt)
            self.native.add_activity_reg(t, penalized, reg.l1, reg.l2)
            return penalized
        ops = layer_base._ops()
        y = KerasTensor(kt.shape, kt.dtype, name=f"{kt.name}/activity", dims=kt._dims, batched=kt._batched)

        def per_batch(penalty):  # Keras divides an activity penalty by the batch size
            if not y._batched:
                return penalty
            per_row = ops.mean(y, axis=tuple(range(1, len(y.shape)))) if len(y.shape) > 1 else y
            return penalty / ops.sum(ops.ones_like(per_row))

        self._lower_penalty(reg, y, [(y, t)], per_batch, f"The activity regularizer {type(reg).__name__}",
                            "the layer's output")
        return t

    def lower_weight_penalties(self):
        """Keras adds regularizer(weight) of every trainable weight to the loss. An L1L2's penalty
        and gradient are native (add_param's l1, l2); a custom regularizer's __call__ is recorded
        here on the weight, as the ops of a loss term, so that its gradient trains the weight too."""
        for w, _ in list(self.weights):
            reg = w.regularizer
            if not (w.trainable and regularizers.is_custom(reg)):
                continue
            self._lower_penalty(reg, w, [], None, f"The regularizer {type(reg).__name__} of weight {w.path!r}",
                                "the weight")

    def _lower_penalty(self, reg, arg, bindings, then, who, of):
        """reg(arg) recorded as ops (then(penalty) after it, when given) and lowered as a loss term;
        bindings: the placeholders it reads, with their native tensors. A penalty that is not a tensor
        of the graph (computed outside the ops) would train nothing: refused."""
        trace = tracing.Trace(None)
        with trace:
            penalty = reg(arg)
            if isinstance(penalty, Weight):
                penalty = layer_base._ops().convert_to_tensor(penalty)
            if isinstance(penalty, KerasTensor) and then is not None:
                penalty = then(penalty)
        if not isinstance(penalty, KerasTensor):
            raise TypeError(f"{who} returned {type(penalty).__name__}, not a tensor computed from {of}: write its "
                            "__call__ with bigcore.ops (keras.ops), so that the penalty's gradient reaches it")
        ids, _ = self.lower_graph(bindings, trace.nodes, [penalty])
        self.add_loss(ids[0], penalty)

    def add_loss(self, t, kt):
        """An add_loss tensor: its sum joins the training loss (Keras sums added losses)."""
        self.native.add_loss_term(t)
        self.loss_terms += 1


class _FoldedLowering(Lowering):
    """Lowering.folded(): the tensors, ops and scopes are its own program's; the weights, their
    arena segments and the layers' records are the outer lowering's (one arena, trained once).
    The folded op runs every op over B*T rows, so what needs a run-time length or the batch
    (a symbol, a loss term, an activity penalty divided by the batch) is refused."""

    def __init__(self, outer, what):
        super().__init__()
        self.outer, self.what = outer, what
        self._param_of, self.weights, self.param_trainable = outer._param_of, outer.weights, outer.param_trainable
        self.lora_state, self.step_hooks = outer.lora_state, outer.step_hooks
        self.trainable_shaped = []  # (layer, this program's op index): the folding op maps them to its own

    def param(self, w):
        return self.outer.param(w)

    def weight_tensor(self, w):
        if id(w) not in self._weight_tensor_of:
            self._weight_tensor_of[id(w)] = self.native.add_weight_tensor(self.param(w), list(w.shape) or [1],
                                                                          foreign=True)
        return self._weight_tensor_of[id(w)]

    def symbol(self, d):
        raise ValueError(f"a length known only when the model runs ({d!r}) inside a {self.what} layer: its "
                         "wrapped layer's (cell's) tensors must have a fixed shape per timestep")

    def add_loss(self, t, kt):
        raise NotImplementedError(f"{self.what}: the wrapped layer (cell) adds a loss ({kt.name!r}); add_loss() "
                                  f"inside a {self.what} layer is not supported")

    def activity_penalty(self, t, kt, reg):
        raise NotImplementedError(f"{self.what}: a layer inside it has an activity regularizer (on {kt.name!r}); "
                                  "Keras divides its penalty by each timestep's batch, which is not supported")


def _relu_fusions(nodes, protected):
    """{id(node): ReLU node} where the one output of a layer that takes `fuse_relu`
    (BatchNormalization) is read by nothing but a plain ReLU (ReLU(), Activation("relu")): the
    layer's op then writes max(y, 0) and its gradient goes through the ReLU in the same passes;
    the ReLU is not lowered."""
    readers = {}
    for node in nodes:
        for t in node.parents:
            readers.setdefault(id(t), []).append(node)
    fused = {}
    for node in nodes:
        if (not getattr(node.layer, "fuse_relu", False) or len(node.outputs) != 1
                or getattr(node, "graphs", None) is not None  # a subclass's own call(), traced
                or getattr(node.layer, "activity_regularizer", None) is not None):
            continue
        y = node.outputs[0]
        users = readers.get(id(y), [])
        if id(y) in protected or len(users) != 1:
            continue
        relu = users[0]
        if (getattr(relu.layer, "plain_relu", False) is True and len(relu.parents) == 1 and relu.inputs[0] is y
                and getattr(relu, "graphs", None) is None
                and getattr(relu.layer, "activity_regularizer", None) is None):
            fused[id(node)] = relu
    return fused


def _residual_fusions(nodes, protected):
    """{id(norm node): Add node} where a layer that takes `fuse_residual` (LayerNormalization,
    RMSNormalization) reads an Add of two tensors that nothing else reads: the norm then gets the
    Add's two inputs and adds them in its own pass (kernels/norm), and the Add is not lowered."""
    readers, producer = {}, {}
    for node in nodes:
        for t in node.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
        for t in node.outputs:
            producer[id(t)] = node
    fused = {}
    for node in nodes:
        if not getattr(node.layer, "fuse_residual", False) or len(node.inputs) != 1:
            continue
        t = node.inputs[0]
        add = producer.get(id(t))
        if (add is None or type(add.layer) is not Add or len(add.inputs) != 2 or readers[id(t)] != 1
                or id(t) in protected or getattr(add.layer, "activity_regularizer", None) is not None):
            continue
        if t._mask is not None and all(t._mask is not x._mask for x in add.inputs):
            continue  # the Add made a mask of its own: it must run
        fused[id(node)] = add
    return fused


def lower(inputs, nodes, outputs, losses=(), extra_weights=()):
    """inputs/outputs: KerasTensors; nodes: layer calls in topological order; losses: add_loss
    tensors of the graph (a subclassed model's call()); extra_weights: weights to give arena
    segments even if no node reads them yet (what a later traced compute_loss may read)."""
    low = Lowering()
    for kt in inputs:
        low.bind(kt, low.tensor(kt, is_input=True))
    keep = {id(t) for t in list(outputs) + list(losses)} | {id(t._mask) for t in outputs if t._mask is not None}
    low.lower_nodes(nodes, keep)
    for t in losses:
        low.add_loss(low.id(t), t)
    for w in extra_weights:
        low.param(w)
    low.lower_weight_penalties()
    input_ids = [low.id(kt) for kt in inputs]
    low.native.set_inputs(input_ids)
    for kt in outputs:
        if low.id(kt) in input_ids:  # an output that is a model input (Identity, a call returning its input):
            copy = low.tensor(kt)    # a copy, which a loss can write its gradient to (inputs have none)
            low.native.add_prim("identity", [low.id(kt)], [copy], {})
            low.bind(kt, copy)
    low.native.set_outputs([low.id(kt) for kt in outputs])
    try:
        low.native.finalize()
    except MemoryError as e:
        big = max(low.weights, key=lambda p: math.prod(p[0].shape), default=None)
        raise MemoryError(f"{e}" + (f" (the largest weight: {big[0].path!r} of shape {big[0].shape})" if big else "")) from None
    # The arena becomes the home of each weight's value (cpp/runtime/param_home.h), shared with every
    # other program that lowers the same layer.
    low.native.link_params([(off, w._cell) for w, off in low.weights])
    attached = set()
    for node in nodes:  # hooks may cover arena segments (pruning masks), so they come after the move
        if node.layer._program_hooks and id(node.layer) not in attached:
            attached.add(id(node.layer))
            for hook in node.layer._program_hooks:
                hook.attach(low, node.layer)
    low.output_ids = [low.id(kt) for kt in outputs]
    low.output_mask_ids = [low.mask_id(kt) for kt in outputs]
    low.output_shapes = [tuple(kt.shape[1:]) for kt in outputs]
    low.variable_outputs = any(None in s for s in low.output_shapes)  # predict sizes them per call
    return low
