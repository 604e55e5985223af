"""Lowers a model's layer graph to one native program (cpp/program.h)."""

import math

from bigcore._native import _core
from bigcore.layers.merging import Add


class Lowering:
    """What a layer's lower() sees: tensor and parameter allocation plus the native program."""

    def __init__(self):
        self.native = _core.Program()
        self._param_of = {}   # id(Weight) -> arena offset
        self._tensor_of = {}  # id(KerasTensor) -> native tensor id
        self.weights = []     # (Weight, offset), in allocation order
        # Program step hooks: hook(program, step) runs before each native training step, in this
        # order, with step = the optimizer's iterations (fit, train_on_batch). A layer's
        # _program_hooks add them when attached (compression/pruning.py: the pruning schedules).
        self.step_hooks = []
        self.call_training = False  # some layer call was made with training=True
        self.node = None      # the layer call being lowered
        # Native ids of the tensors with variable-length axes -> their templates (one int per non-batch
        # axis: n >= 1, or ~s for symbol s); fixed-shape tensors are not listed.
        self._symbolic = {}

    def bind(self, kt, tensor_id):
        self._tensor_of[id(kt)] = tensor_id

    def id(self, kt):
        return self._tensor_of[id(kt)]

    def mask_id(self, kt):
        """The native id of kt's Keras mask, or -1."""
        return -1 if kt._mask is None else self._tensor_of[id(kt._mask)]

    def input_mask_id(self):
        """The mask the current node's layer applies to its first input: the call's explicit
        `mask=` tensor, else the mask that input carries; -1 for none."""
        explicit = self.node.call_kwargs.get("mask")
        return self.id(explicit) if explicit is not None else self.mask_id(self.node.inputs[0])

    def tensor(self, kt, is_input=False, dims=None):
        """A native tensor for kt. Fixed shapes give a plain tensor of prod(shape[1:]) values per
        sample. Variable-length axes (None) get symbols: a model input's each its own (its value comes
        from the arrays of each call); a layer output's the symbol at the same axis of the current
        call's inputs (the layer must declare supports_variable_length). dims: an explicit template
        (n >= 1, or ~s for symbol s, per non-batch axis) for layers whose lengths move between axes."""
        rest = tuple(kt.shape[1:])
        if dims is None:
            dims = self._template(kt, rest, is_input)
        if dims is None:
            t = self.native.add_tensor(math.prod(rest) if rest else 1, is_input)
        else:
            t = self.native.add_shaped_tensor(list(dims), is_input)
            if any(d < 0 for d in dims):
                self._symbolic[t] = tuple(dims)
        layer = kt.node.layer if kt.node is not None else None
        what = "input" if is_input else "the output"
        self.native.set_label(t, f"{what} of layer {layer.name!r} ({type(layer).__name__})" if layer is not None
                              else f"tensor {kt.name!r}")  # for out-of-memory messages
        return t

    def dims(self, tensor_id):
        """The template of a native tensor with variable-length axes (ints, ~s for symbol s), or None
        when its shape is fixed."""
        return self._symbolic.get(tensor_id)

    def _template(self, kt, rest, is_input):
        if all(s is not None for s in rest):
            return None
        if is_input:
            return [~self.native.add_symbol(f"axis {i + 1} of {kt.name!r}") if s is None else s
                    for i, s in enumerate(rest)]
        layer = self.node.layer if self.node is not None else None
        if layer is None or not getattr(layer, "supports_variable_length", False):
            who = f"layer {layer.name!r} ({type(layer).__name__})" if layer is not None else "this model"
            raise ValueError(f"{who} does not support variable-length axes yet: tensor {kt.name!r} has shape "
                             f"{kt.shape}; give the Input a fixed shape")
        ins = [self._symbolic.get(self.id(t)) for t in self.node.inputs]
        out = []
        for i, s in enumerate(rest):
            if s is not None:
                out.append(s)
                continue
            sym = next((d[i] for d in ins if d is not None and i < len(d) and d[i] < 0), None)
            if sym is None:
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}): axis {i + 1} of its output "
                                 f"{kt.name!r} (shape {kt.shape}) has no variable-length input axis to follow")
            out.append(sym)
        return out

    def check_lengths(self, node):
        """Refuses a layer that reads a variable-length tensor unless it declares it handles one."""
        if getattr(node.layer, "supports_variable_length", False):
            return
        for kt in node.inputs:  # a tensor a fusion left unbound (a residual Add in a norm) has no id
            if self._tensor_of.get(id(kt), -1) in self._symbolic:
                raise ValueError(f"layer {node.layer.name!r} ({type(node.layer).__name__}) does not support "
                                 f"variable-length axes yet: its input {kt.name!r} has shape {kt.shape}; give the "
                                 "Input a fixed shape")

    def param(self, w):
        if id(w) not in self._param_of:
            reg, con = w.regularizer, w.constraint
            off = self.native.add_param(math.prod(w.shape), reg.l1 if reg else 0.0, reg.l2 if reg else 0.0,
                                        w.trainable, con.max_value if con else 0.0, w.shape[0] if w.shape else 1)
            self._param_of[id(w)] = off
            self.weights.append((w, off))
        return self._param_of[id(w)]


def _residual_fusions(nodes, outputs):
    """{id(norm node): Add node} where a layer that takes `fuse_residual` (LayerNormalization,
    RMSNormalization) reads an Add of two tensors that nothing else reads: the norm then gets the
    Add's two inputs and adds them in its own pass (kernels/norm), and the Add is not lowered."""
    readers, producer = {}, {}
    for node in nodes:
        for t in node.inputs:
            readers[id(t)] = readers.get(id(t), 0) + 1
        for t in node.outputs:
            producer[id(t)] = node
    out_ids = {id(t) for t in outputs}
    fused = {}
    for node in nodes:
        if not getattr(node.layer, "fuse_residual", False) or len(node.inputs) != 1:
            continue
        t = node.inputs[0]
        add = producer.get(id(t))
        if (add is None or type(add.layer) is not Add or len(add.inputs) != 2 or readers[id(t)] != 1
                or id(t) in out_ids or getattr(add.layer, "activity_regularizer", None) is not None):
            continue
        if t._mask is not None and all(t._mask is not x._mask for x in add.inputs):
            continue  # the Add made a mask of its own: it must run
        fused[id(node)] = add
    return fused


def lower(inputs, nodes, outputs):
    """inputs/outputs: KerasTensors; nodes: layer calls in topological order."""
    low = Lowering()
    for kt in inputs:
        low.bind(kt, low.tensor(kt, is_input=True))
    fused = _residual_fusions(nodes, outputs)
    skipped = {id(add) for add in fused.values()}
    for node in nodes:
        if id(node) in skipped:
            continue
        add = fused.get(id(node))
        ins = [low.id(t) for t in (add.inputs if add is not None else node.inputs)]
        low.node = node
        first_op = low.native.n_ops
        low.check_lengths(node)
        outs = node.layer.lower(low, ins, node.outputs)
        reg = getattr(node.layer, "activity_regularizer", None)
        if reg is not None:  # Keras: (l1 * sum|y| + l2 * sum y^2) / batch on the layer's (first) output
            penalized = low.tensor(node.outputs[0])
            low.native.add_activity_reg(outs[0], penalized, reg.l1, reg.l2)
            outs = [penalized] + list(outs[1:])
        if node.call_kwargs.get("training"):  # the call's mode, for runs that give none (model(x))
            low.native.set_call_training(first_op, True)
            low.call_training = True
        for kt, t in zip(node.outputs, outs):
            low.bind(kt, t)
    low.native.set_inputs([low.id(kt) for kt in inputs])
    low.native.set_outputs([low.id(kt) for kt in outputs])
    try:
        low.native.finalize()
    except MemoryError as e:
        big = max(low.weights, key=lambda p: math.prod(p[0].shape), default=None)
        raise MemoryError(f"{e}" + (f" (the largest weight: {big[0].name!r} of shape {big[0].shape})" if big else "")) from None
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
