"""Lowers a model's layer graph to one native program (cpp/program.h)."""

import math

from bigcore._native import _core


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

    def tensor(self, kt, is_input=False):
        rest = kt.shape[1:]
        if any(s is None for s in rest):
            raise ValueError(f"bigcore needs fixed sample shapes; tensor {kt.name!r} has shape {kt.shape}")
        t = self.native.add_tensor(math.prod(rest) if rest else 1, is_input)
        layer = kt.node.layer if kt.node is not None else None
        what = "input" if is_input else "the output"
        self.native.set_label(t, f"{what} of layer {layer.name!r} ({type(layer).__name__})" if layer is not None
                              else f"tensor {kt.name!r}")  # for out-of-memory messages
        return t

    def param(self, w):
        if id(w) not in self._param_of:
            reg, con = w.regularizer, w.constraint
            off = self.native.add_param(math.prod(w.shape), reg.l1 if reg else 0.0, reg.l2 if reg else 0.0,
                                        w.trainable, con.max_value if con else 0.0, w.shape[0] if w.shape else 1)
            self._param_of[id(w)] = off
            self.weights.append((w, off))
        return self._param_of[id(w)]


def lower(inputs, nodes, outputs):
    """inputs/outputs: KerasTensors; nodes: layer calls in topological order."""
    low = Lowering()
    for kt in inputs:
        low.bind(kt, low.tensor(kt, is_input=True))
    for node in nodes:
        ins = [low.id(t) for t in node.inputs]
        low.node = node
        outs = node.layer.lower(low, ins, node.outputs)
        reg = getattr(node.layer, "activity_regularizer", None)
        if reg is not None:  # Keras: (l1 * sum|y| + l2 * sum y^2) / batch on the layer's (first) output
            penalized = low.tensor(node.outputs[0])
            low.native.add_activity_reg(outs[0], penalized, reg.l1, reg.l2)
            outs = [penalized] + list(outs[1:])
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
    return low
