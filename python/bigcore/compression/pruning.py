"""Magnitude pruning, as tfmot's prune_low_magnitude: the smallest weights of each kernel are masked
to exactly zero on the schedule's steps, and stay zero through every later training step.

    pruned = bigcore.compression.prune_low_magnitude(model, pruning_schedule=PolynomialDecay(0.0, 0.8, 0, 2000))
    pruned.fit(x, y, epochs=2)            # the masks follow the schedule (a program step hook)
    final = bigcore.compression.strip_pruning(pruned)   # a plain model, zeros baked in

What is pruned: the kernels of Dense layers and the kernel and recurrent_kernel of LSTM and GRU
(also inside Bidirectional); never biases. Masks live in the native program (cpp/prune.h): each
training step applies them right after the optimizer update and constraints, so momentum or Adam
cannot move a pruned weight; on schedule steps a native kernel recomputes each mask from |w|
(ties broken by position), so a mask depends on the weights alone, never on the thread count.
The schedules run as program step hooks (models/lowering.py): before each native training step
of fit or train_on_batch, at the optimizer's iteration count.

A model saved while pruning keeps its schedules (config.json "pruning", a saving-state hook); on
loading, each mask already computed is rebuilt from the zero pattern of the saved weights, so fit
goes on pruning.
"""

import numpy as np

from bigcore import callbacks as callbacks_module
from bigcore import optimizers, saving
from bigcore._native import _core
from bigcore.compression import schedules
from bigcore.compression.schedules import ConstantSparsity, PruningSchedule
from bigcore.layers.base import Layer
from bigcore.layers.core import Dense, InputLayer
from bigcore.layers.quantized import QuantizedDense
from bigcore.layers.recurrent import GRU, LSTM, Bidirectional
from bigcore.models import Model, clone_model
from bigcore.sparse_select import sparsify


class _Pruning:
    """What a pruned layer carries: its schedule, and whether a mask was ever computed. It is the
    layer's program hook: attached when a program is made, it adds the masks and a step hook."""

    def __init__(self, schedule):
        self.schedule = schedule
        self.pruned = False  # once True, a rebuilt program restores masks from the zero pattern

    def attach(self, low, layer):
        """Called by models/lowering.py once the weights sit in the program's arena."""
        offsets = []
        for w in prunable_weights(layer):
            off = low._param_of[id(w)]
            _core.program_add_mask(low.native, off, self.pruned)
            offsets.append(off)
        low.step_hooks.append(_MaskUpdate(self, offsets))


class _MaskUpdate:
    """A program step hook: recomputes one layer's masks when its schedule fires at `step`."""

    def __init__(self, spec, offsets):
        self.spec = spec
        self.offsets = offsets  # the arena offsets of the layer's pruned weights

    def __call__(self, program, step):
        fire, sparsity = self.spec.schedule(step)
        if fire:
            for off in self.offsets:
                _core.program_update_mask(program.native, off, sparsity)
            self.spec.pruned = True


def _mark(layer, spec):
    layer._pruning = spec
    layer._program_hooks = tuple(layer._program_hooks) + (spec,)


def pruned_segments(program):
    """[(pruning spec, [arena offsets])] of the pruned layers of a program (a models/lowering.py
    Lowering), in the order its step hooks run."""
    return [(h.spec, h.offsets) for h in program.step_hooks if isinstance(h, _MaskUpdate)]


def _prunable(layer):
    if not isinstance(layer, (Dense, LSTM, GRU, Bidirectional)) or isinstance(layer, QuantizedDense):
        return False
    return all(w.dtype == np.float32 for w in layer.weights)  # int8 weights live outside the arena


def prunable_weights(layer):
    """The weights prune_low_magnitude masks in `layer` (built): kernels, never biases."""
    if isinstance(layer, Bidirectional):
        return prunable_weights(layer.forward_layer) + prunable_weights(layer.backward_layer)
    if isinstance(layer, (LSTM, GRU)):
        return [layer.kernel, layer.recurrent_kernel]
    return [layer.kernel]


def _not_prunable(layer):
    return ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) cannot be pruned: prune_low_magnitude prunes "
                      "Dense, LSTM, GRU and Bidirectional layers (float32 kernels). Prune chosen layers by "
                      "wrapping them, prune_low_magnitude(layer), while building the model.")


def _schedule(target_sparsity, pruning_schedule):
    if pruning_schedule is not None:
        if target_sparsity is not None:
            raise ValueError("Give either target_sparsity or pruning_schedule, not both. Received: "
                             f"target_sparsity={target_sparsity!r}, pruning_schedule={pruning_schedule!r}")
        if not isinstance(pruning_schedule, PruningSchedule):
            raise TypeError("pruning_schedule must be a bigcore.compression PruningSchedule (ConstantSparsity, "
                            f"PolynomialDecay). Received: {pruning_schedule!r}")
        return pruning_schedule
    return ConstantSparsity(0.8 if target_sparsity is None else target_sparsity, begin_step=0, frequency=100)


def prune_low_magnitude(to_prune, target_sparsity=None, pruning_schedule=None):
    """Marks the kernels of `to_prune` for magnitude pruning.

    to_prune: a Dense/LSTM/GRU/Bidirectional layer (marked in place and returned, for use while
        building a model), or a model: a new model is returned, a copy with the same weights whose
        every Dense/LSTM/GRU/Bidirectional layer is pruned (layers without weights are left as they
        are; any other layer with weights raises). A compiled model's copy is compiled the same way
        with a fresh optimizer of the same configuration.
    target_sparsity: shorthand for ConstantSparsity(target_sparsity, begin_step=0, frequency=100);
        0.8 when neither it nor pruning_schedule is given.
    pruning_schedule: a ConstantSparsity or PolynomialDecay.
    """
    schedule = _schedule(target_sparsity, pruning_schedule)
    if isinstance(to_prune, Model):
        to_prune._ensure_built()
        for layer in _layers(to_prune):
            if getattr(layer, "_pruning", None) is not None:
                raise ValueError(f"Layer {layer.name!r} of model {to_prune.name!r} is already pruned; "
                                 "strip_pruning(model) first to prune it again")
            if not _prunable(layer) and layer.weights:
                raise _not_prunable(layer)
        def mark(clone):  # before the clone is compiled, so that its program carries the masks
            for layer in _layers(clone):
                if _prunable(layer):
                    _mark(layer, _Pruning(schedule))

        return _clone(to_prune, mark)
    if isinstance(to_prune, Layer):
        if not _prunable(to_prune):
            raise _not_prunable(to_prune)
        if getattr(to_prune, "_pruning", None) is not None:
            raise ValueError(f"Layer {to_prune.name!r} is already pruned")
        if to_prune._inbound:
            raise ValueError(f"Layer {to_prune.name!r} was already called in a model; prune the model instead, "
                             "or wrap the layer before calling it")
        _mark(to_prune, _Pruning(schedule))
        return to_prune
    raise TypeError(f"prune_low_magnitude expects a bigcore layer or model. Received: {to_prune!r}")


def strip_pruning(model, sparse_kernels=False):
    """A copy of `model` with the pruned zeros baked into plain weights and no masks (compiled the
    same way, with a fresh optimizer, when `model` was compiled). sparse_kernels=True: for deployment,
    Dense layers whose sparse kernel a micro-benchmark on this CPU shows faster become SparseDense
    (inference only; bigcore.sparse_select.sparsify, its decisions in model.sparsify_report)."""
    if not isinstance(model, Model):
        raise TypeError(f"strip_pruning expects a bigcore model. Received: {model!r}")
    model._ensure_built()
    program = model._program
    if program is not None:  # the arena already holds the zeros; copy them out through the masks too
        for spec, offsets in pruned_segments(program):
            for off in offsets:
                mask = _core.program_mask(program.native, off)
                program.native.params()[off:off + mask.size][mask == 0] = 0.0
    stripped = _clone(model)
    if sparse_kernels:
        stripped = sparsify(stripped)
    return stripped


def is_pruned(model):
    return any(getattr(layer, "_pruning", None) is not None for layer in _layers(model))


def saved_state(model):
    """{layer name: {"schedule": ..., "pruned": bool}} for save_model, or None when nothing is pruned."""
    state = {layer.name: {"schedule": schedules.serialize(layer._pruning.schedule), "pruned": layer._pruning.pruned}
             for layer in _layers(model) if getattr(layer, "_pruning", None) is not None}
    return state or None


def restore_state(model, state):
    """Marks the layers that saved_state named, before the model's program exists: the masks are
    rebuilt from the zero pattern of the loaded weights where a mask had been computed."""
    if not isinstance(state, dict):
        raise ValueError(f"the pruning state must be an object, got {type(state).__name__}")
    by_name = {layer.name: layer for layer in _layers(model)}
    for name, entry in state.items():
        layer = by_name.get(name)
        if layer is None or not _prunable(layer):
            raise ValueError(f"the pruning state names layer {name!r}, which the model does not have as a "
                             "prunable layer")
        if not isinstance(entry, dict) or not isinstance(entry.get("pruned"), bool):
            raise ValueError(f"bad pruning state for layer {name!r}: {entry!r}")
        spec = _Pruning(schedules.deserialize(entry.get("schedule")))
        spec.pruned = entry["pruned"]
        _mark(layer, spec)


saving.register_state("pruning", saved_state, restore_state)


class UpdatePruningStep(callbacks_module.Callback):
    """tfmot's callback of the same name, kept so tfmot code runs unchanged: it does nothing, since
    fit and train_on_batch drive the pruning schedules themselves (program step hooks)."""


def _layers(model):
    return [layer for layer in model.layers if not isinstance(layer, InputLayer)]


def _clone(model, prepare=None):
    """A new model from the config and current weights; compiled like `model` with a fresh optimizer."""
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    if prepare is not None:
        prepare(clone)
    if getattr(model, "compiled", False):
        loss, metrics, loss_weights = model._compile_args
        opt = optimizers.deserialize(optimizers.serialize(model.optimizer))
        clone.compile(optimizer=opt, loss=loss, metrics=metrics, loss_weights=loss_weights,
                      weighted_metrics=getattr(model, "_weighted_metrics_arg", None))
    return clone
