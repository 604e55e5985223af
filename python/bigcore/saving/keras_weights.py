"""A bigcore model's state in Keras 3's weights layout (the `model.weights.h5` of a `.keras`
archive, and `.weights.h5` files), both ways.

Keras addresses a layer by its class, not its name: the layers of model.layers (a functional
model's InputLayers included, in Keras's graph order, which bigcore's model.layers follows) are `layers/<snake_case class name>[_<n>]`, each layer's variables `.../vars/0, 1, ...`
and a sub-layer's under its attribute (`lstm/cell`, `bidirectional/forward_layer/cell`). A
custom layer (a Layer subclass with call()) keeps its own variables, trainable first, in its
`vars`, and each sub-layer it holds under the attribute's name, as Keras walks them (attributes
sorted, private ones last; a list or dict attribute's layers named by class like model.layers,
`blocks/dense_1`; a layer reached twice only where it is first met). A subclassed model is
saved as such a custom layer at the file's root (`vars`, `dense_layers/dense/vars`, ...), its
`layers` property one more attribute of Keras's walk. A built-in layer whose variables Keras keeps
in sub-layers names them through its keras_file_sublayers() hook (the attentions' projections). The
optimizer's variables are `optimizer/vars/<i>`: iterations, the learning rate (unless a schedule
gives it), then its slots per trainable variable in Keras's order. Nothing is read by pickle;
every dataset must have the shape the model expects.
"""

import re

import numpy as np

from bigcore import optimizers
from bigcore.layers import base as layer_base
from bigcore.layers import lora, registry
from bigcore.saving import keras_h5

_REFUSED = ("QuantizedDense", "QuantizedSparseDense", "SparseDense", "QuantizedLSTM", "QuantizedGRU")


def snake(name):
    """Keras's naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Slot:
    """One Keras variable of a layer or optimizer: its key, shape, how to read it from the model
    and how to set it (None: read and checked, then dropped)."""

    def __init__(self, key, shape, get, put, dtype=np.float32):
        self.key, self.get, self.put, self.dtype = key, get, put, np.dtype(dtype)
        self.shape = None if shape is None else tuple(shape)  # None: any 1-D length


def _weight_slots(weights):
    return [Slot(str(i), w.shape, w.numpy, w.assign) for i, w in enumerate(weights)]


def _check_keras_form(layer):
    name = type(layer).__name__
    if name in _REFUSED or getattr(layer, "_program_hooks", ()):
        raise ValueError(f"Layer {layer.name!r} ({name}) has no Keras form (int8, sparse and pruning layers exist in "
                         "bigcore only): save the model as .bigcore, or save it before quantizing or pruning it")


def layer_slots(layer, seen=None):
    """[(sub-path, [Slot], group name)] of a layer in Keras's layout (sub-path "" is the layer's own
    vars). seen: ids of the layers already placed in the file (Keras saves a shared layer once)."""
    _check_keras_form(layer)
    name = type(layer).__name__
    snake_name = layer_base.class_snake_name(type(layer))
    if seen is not None:
        seen.add(id(layer))
    if name in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):  # Keras: an RNN whose ConvLSTMCell holds the weights
        return [("", [], layer.name), ("cell", _weight_slots(layer.weights), "conv_lstm_cell")]
    if layer_base._traces_call(type(layer)):
        return _custom_slots(layer, seen if seen is not None else {id(layer)})
    if registry.is_graph_model(layer):  # a Sequential or functional model used as a layer: its layers under `layers/`
        out = [("", [], layer.name)]
        for path, sub in layer_paths(layer):
            if seen is None or id(sub) not in seen:
                out += _under(path, sub, seen)
        return out
    if name in ("SimpleRNN", "LSTM", "GRU"):
        return [("", [], layer.name), ("cell", _weight_slots(layer.weights), f"{snake_name}_cell")]
    if name == "RNN":  # Keras: the cell under `cell`, a stack's cells under `cell/cells/<class>[_<n>]`
        cells = getattr(layer.cell, "cells", None)
        if cells is None:
            return [("", [], layer.name)] + _cell_slots("cell", layer.cell, seen)
        out, used = [("", [], layer.name), ("cell", [], layer.cell.name)], {}
        for c in cells:
            out += _cell_slots(f"cell/cells/{_unique(layer_base.class_snake_name(type(c)), used)}", c, seen)
        return out
    if name == "Bidirectional" and layer._unrolled:  # over RNN(cell of one's own): the two RNN layers
        return [("", [], layer.name)] + _under("backward_layer", layer.backward_layer, seen) + \
            _under("forward_layer", layer.forward_layer, seen)
    if name == "Bidirectional":
        return [("", [], layer.name), ("backward_layer", [], f"{snake_name}_backward_layer"),
                ("backward_layer/cell", _weight_slots(layer.backward_layer.weights), f"{snake_name}_cell"),
                ("forward_layer", [], f"{snake_name}_forward_layer"),
                ("forward_layer/cell", _weight_slots(layer.forward_layer.weights), f"{snake_name}_cell")]
    sublayers = getattr(layer, "keras_file_sublayers", None)
    if sublayers is not None:  # a layer that names the sub-layers Keras keeps its variables in (the attentions)
        out = [("", [], layer.name)]
        for attr, sub, group in sublayers():
            out += [(attr, [], group)] if sub is None else _under(attr, sub, seen)
        return out
    if name == "TimeDistributed":  # Keras: the wrapped layer under its attribute `layer`
        return [("", [], layer.name)] + _under("layer", layer.layer, seen)
    if name == "Normalization":
        if layer.adapt_mean is None:
            return [("", [], layer.name)]
        return [("", _weight_slots([layer.adapt_mean, layer.adapt_variance]) +
                 [Slot("2", (), lambda: np.int32(0), None, np.int32)], layer.name)]  # Keras's legacy count: 0, not read
    if name in ("StringLookup", "IntegerLookup"):
        return [("", _idf_slots(layer), layer.name)]
    if getattr(layer, "lora_enabled", False):  # Keras: the merged kernel, a and b not saved
        return [("", [Slot(str(i), w.shape, get, put) for i, (w, get, put) in enumerate(lora.saved_weights(layer))],
                 layer.name)]
    if name == "TextVectorization":
        return [("", _idf_slots(layer._lookup_layer), layer.name),
                ("_lookup_layer", _idf_slots(layer._lookup_layer), f"{snake_name}__lookup_layer")]
    return [("", _weight_slots(layer.weights), layer.name)]


def _name_key(attr):
    """Keras's saving walk visits attributes sorted, private ones last (saving_lib._name_key)."""
    return f"~{attr}" if attr.startswith("_") else attr


def _unique(base, used):
    if base in used:
        used[base] += 1
        return f"{base}_{used[base]}"
    used[base] = 0
    return base


def _children(value, prefix, depth=0):
    """[(path, layer)] of the layers in an attribute's value, named as Keras names them: the
    attribute itself, or inside a list / tuple / dict `<attr>/<snake class>[_<n>]` (a nested
    container `<attr>/container[_<n>]`)."""
    if isinstance(value, layer_base.Layer):
        return [(prefix, value)]
    if not isinstance(value, (list, tuple, dict)) or depth >= 8:
        return []
    out, used = [], {}
    for item in (value.values() if isinstance(value, dict) else value):
        if isinstance(item, layer_base.Layer):
            out.append((f"{prefix}/{_unique(layer_base.class_snake_name(type(item)), used)}", item))
        elif isinstance(item, (list, tuple, dict)):
            out += _children(item, f"{prefix}/{_unique('container', used)}", depth + 1)
    return out


def _custom_children(layer):
    """[(path, sub-layer)] of a custom layer (or subclassed model) in Keras's attribute order. A
    subclassed model's `layers` property is one more attribute to Keras's walk: a layer first met
    there (held by an attribute sorting after "layers", or a private one) is saved as
    `layers/<snake class>[_<n>]`."""
    values = {k: v for k, v in vars(layer).items() if k not in layer_base._UNTRACKED and not k.startswith("__")}
    if getattr(layer, "_subclassed", False):
        values["layers"] = layer.layers
    out = []
    for attr in sorted(values, key=_name_key):
        out += _children(values[attr], attr)
    return out


def _custom_slots(layer, seen):
    """A custom layer: its own variables (trainable, then not, as Keras's save_own_variables), then
    each sub-layer's groups under its attribute path, depth first, in Keras's attribute order."""
    out = [("", _weight_slots(layer._own_weights()), layer.name)]
    for path, sub in _custom_children(layer):
        if id(sub) not in seen:
            out += _under(path, sub, seen)
    return out


def _cell_slots(path, cell, seen):
    """An RNN's cell at `path`: a built-in cell's weights, a cell of one's own as a custom layer."""
    if layer_base._traces_call(type(cell)):
        return _under(path, cell, seen)
    return [(path, _weight_slots(cell.weights), cell.name)]


def _under(path, layer, seen):
    """layer_slots of a sub-layer placed at `path` of its parent's groups."""
    return [(f"{path}/{sub}" if sub else path, slots, group) for sub, slots, group in layer_slots(layer, seen)]


def _idf_slots(lookup):
    """tf_idf lookups keep their IDF weights (one per index) as a variable named "idf_weights"."""
    if lookup.output_mode != "tf_idf":
        return []
    depth = lookup.max_tokens if lookup.pad_to_max_tokens else lookup._frozen_vocab_size
    if lookup._idf is not None:
        depth = len(lookup._idf)

    def get():
        if lookup._idf is None:
            raise ValueError(f"{type(lookup).__name__} {lookup.name!r} (tf_idf) has no vocabulary to save yet")
        return lookup._idf

    def put(value):
        lookup._idf = np.asarray(value, np.float32)

    return [Slot("idf_weights", (depth,) if depth is not None else None, get, put)]


def layer_paths(model):
    """[(path, layer)] for model.layers in Keras's layout (a subclassed model's: by attribute)."""
    if getattr(model, "_subclassed", False):
        seen, out = set(), []
        for path, layer in _custom_children(model):
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append((path, layer))
        return out
    # Keras's model.layers: a Sequential's stack without the InputLayer; a functional model's
    # layers, InputLayers included, in Keras's graph order (models/functional.py keeps it). A model
    # among them goes by Keras's class: `sequential`, `functional`.
    ordered = list(model.layers)
    used, out = {}, []
    for layer in ordered:
        base = (snake(registry.model_class_name(layer)) if registry.is_graph_model(layer)
                else layer_base.class_snake_name(type(layer)))
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        out.append((f"layers/{name}", layer))
    return out


# --- the optimizer ---------------------------------------------------------------------------------

def optimizer_slots(model):
    """[Slot] of the compiled model's optimizer in Keras's order, or [] when it has no state yet."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(model, "compiled", False):
        return []
    scaler = opt if isinstance(opt, optimizers.LossScaleOptimizer) else None
    if scaler is not None:
        opt = scaler.inner_optimizer
    program = model._native()
    offsets = {id(w): off for w, off in program.weights}
    keep = {id(w) for w in model.trainable_weights}  # (none under a layer that is not trainable)
    # Keras builds slots for every trainable variable, one the model's call never reads (an untied
    # ReversibleEmbedding's reverse_embeddings) too; bigcore's program holds none for it: written as
    # zeros, read and dropped (neither library updates a variable without a gradient)
    trainable = [w for w in model.weights if id(w) in keep]
    slots = [Slot("0", (), lambda: np.int64(opt._iterations), lambda v: setattr(opt, "iterations", int(v)), np.int64)]
    if not callable(opt._learning_rate):
        def set_lr(v):
            opt.learning_rate = float(v)
        slots.append(Slot("1", (), lambda: np.float32(opt.learning_rate), set_lr))

    def per_var(slot_index):
        out = []
        for w in trainable:
            if id(w) not in offsets:
                out.append((w.shape, lambda shape=tuple(w.shape): np.zeros(shape, np.float32), None))
                continue
            off, n = offsets[id(w)], int(np.prod(w.shape))

            def get(off=off, n=n, shape=w.shape):
                return np.array(program.native.opt_slot(slot_index)[off:off + n]).reshape(shape)

            def put(v, off=off, n=n):
                program.native.opt_slot(slot_index)[off:off + n] = np.asarray(v, np.float32).reshape(-1)

            out.append((w.shape, get, put))
        return out

    def interleaved(a, b):  # Keras's add_optimizer_variables with two names: both slots of a variable in turn
        return [x for pair in zip(per_var(a), per_var(b)) for x in pair]

    def packed(slot_index, off, shape):  # Adafactor's r or c: packed at the weight's offset of its slot
        n = int(np.prod(shape, dtype=np.int64))

        def get():
            return np.array(program.native.opt_slot(slot_index)[off:off + n]).reshape(shape)

        def put(v):
            program.native.opt_slot(slot_index)[off:off + n] = np.asarray(v, np.float32).reshape(-1)
        return shape, get, put

    def adafactor():  # Keras: r, c, velocity per weight; r and c scalar placeholders below rank 2
        out = []
        for w, v in zip(trainable, per_var(2)):
            shape, off = tuple(w.shape), offsets.get(id(w))
            if off is None and len(shape) >= 2:  # a variable the program does not hold (per_var's note)
                out += [(s, lambda s=s: np.zeros(s, np.float32), None) for s in (shape[:-1], shape[:-2] + shape[-1:])]
            elif len(shape) < 2:
                # Keras tracks the placeholders only where automatic tracking is on: not in the build of
                # a LossScaleOptimizer, which builds its inner optimizer with it off
                if scaler is None:
                    out += [((), lambda: np.float32(0.0), None)] * 2
            else:
                out += [packed(0, off, shape[:-1]), packed(1, off, shape[:-2] + shape[-1:])]
            out.append(v)
        return out

    def muon():  # Keras: each weight's momentum, then its velocity where it takes the AdamW step
        out = []
        for w, m, v in zip(trainable, per_var(0), per_var(1)):
            out += [m, v] if opt._should_use_adamw(w) else [m]
        return out

    kinds = []
    if isinstance(opt, optimizers.Muon):
        kinds = muon()
    elif isinstance(opt, optimizers.Adafactor):
        kinds = adafactor()
    elif isinstance(opt, (optimizers.Lamb, optimizers.Ftrl, optimizers.ScheduleFreeAdamW)):
        kinds = interleaved(0, 1)
    elif isinstance(opt, optimizers.Adam):
        kinds = interleaved(0, 1) + (per_var(2) if opt.amsgrad else [])
    elif isinstance(opt, (optimizers.Adamax, optimizers.Adadelta)):
        kinds = interleaved(0, 1)
    elif isinstance(opt, optimizers.Nadam):
        kinds = interleaved(0, 1)
    elif isinstance(opt, optimizers.Lion):
        kinds = per_var(0)
    elif isinstance(opt, optimizers.RMSprop):
        kinds = per_var(0) + (per_var(1) if opt.momentum > 0 else []) + (per_var(2) if opt.centered else [])
    elif isinstance(opt, optimizers.SGD):
        kinds = per_var(0) if opt.momentum != 0 else []
    elif isinstance(opt, optimizers.Adagrad):
        kinds = per_var(0)
    else:
        raise ValueError(f"The optimizer {type(opt).__name__} has no Keras variable layout here")
    if opt.gradient_accumulation_steps:  # Keras's "gradient_accumulator" variables, before the update's own
        kinds = per_var(type(opt).slots) + kinds
    if opt.use_ema:  # Keras's "average" variables, which its build adds before all the others
        kinds = per_var(opt.slots - 1) + kinds
    if scaler is not None:
        # Keras's LossScaleOptimizer variables, before the inner optimizer's: its own iteration and
        # learning_rate (never used: 0), step_counter, dynamic_scale
        def set_counter(v):
            scaler.step_counter = int(v)

        def set_scale(v):
            scaler.dynamic_scale = float(v)
        own = [Slot("", (), lambda: np.int64(0), None, np.int64), Slot("", (), lambda: np.float32(0.0), None),
               Slot("", (), lambda: np.int64(scaler.step_counter), set_counter, np.int64),
               Slot("", (), lambda: np.float32(scaler.dynamic_scale), set_scale)]
        slots = own + slots
    for shape, get, put in kinds:
        slots.append(Slot("", shape, get, put))
    for i, s in enumerate(slots):
        s.key = str(i)
    if isinstance(opt, optimizers.Nadam):
        # Keras's _u_product, a variable after the slots: written from the step count; on reading its
        # shape is checked and the value dropped (the update derives it from `iterations`)
        slots.append(Slot(str(len(slots)), (), lambda: np.float32(opt._u_product), None))
    return slots


# --- writing and reading ---------------------------------------------------------------------------

def _groups(model, include_optimizer):
    """[(group path, name attribute, [Slot])] of everything the file holds."""
    if getattr(model, "_subclassed", False):  # Keras saves it as a custom layer at the file's root
        out = [(f"{sub}/vars" if sub else "vars", name, slots) for sub, slots, name in layer_slots(model, set())]
    else:
        out = [("vars", model.name, [])]
        seen = set()
        for path, layer in layer_paths(model):
            if id(layer) in seen:  # a top-level layer a custom layer already holds: saved where first met
                continue
            for sub, slots, name in layer_slots(layer, seen):
                out.append((f"{path}/{sub}/vars" if sub else f"{path}/vars", name, slots))
    if include_optimizer:
        slots = optimizer_slots(model)
        if slots:
            out.append(("optimizer/vars", model.optimizer.name, slots))
            opt = model.optimizer
            if isinstance(opt, optimizers.LossScaleOptimizer):
                # Keras writes the inner optimizer's variables once more, under its own group, after its 4
                inner = [Slot(str(i), s.shape, s.get, s.put, s.dtype) for i, s in enumerate(slots[4:])]
                out.append(("optimizer/inner_optimizer/vars", opt.inner_optimizer.name, inner))
    return out


def write(model, f, include_optimizer=True):
    """Writes the model's variables (and its optimizer's) into the open h5py.File `f`."""
    for path, name, slots in _groups(model, include_optimizer):
        grp = f.create_group(path)
        grp.attrs["name"] = name
        for s in slots:
            grp.create_dataset(s.key, data=np.asarray(s.get(), dtype=s.dtype))


def value_bytes(model, include_optimizer=True):
    groups = _groups(model, include_optimizer)
    total = sum(int(np.prod(s.shape if s.shape is not None else (1 << 24,))) * 8 for _, _, slots in groups
                for s in slots)
    return len(groups) + sum(len(slots) for _, _, slots in groups), total


def _earlier_layout(model, f, where, groups):
    """The groups to read where the file holds a layer in bigcore's earlier layout: before its
    layers named the sub-layers Keras saves (keras_file_sublayers), MultiHeadAttention and
    GroupQueryAttention kept their variables flat in their own vars (layer.weights in order), and
    GroupQueryAttention was filed under its bigcore class name (group_query_attention). Only a
    Sequential's or functional model's own layers are looked for there."""
    if getattr(model, "_subclassed", False):
        return groups
    top = keras_h5.group(f, "layers", where, required=False)
    present = set(keras_h5.keys(top, where)) if top is not None else set()
    for path, layer in layer_paths(model):
        if getattr(layer, "keras_file_sublayers", None) is None or not layer.weights:
            continue
        key = path.split("/", 1)[1]
        old = key.replace(layer_base.class_snake_name(type(layer)), snake(type(layer).__name__), 1)
        if old not in present or (old == key and set(keras_h5.keys(keras_h5.group(top, old, where), where)) != {"vars"}) or \
                (old != key and key in present):
            continue
        groups = [g for g in groups if g[0] != f"{path}/vars" and not g[0].startswith(f"{path}/")]
        groups.append((f"layers/{old}/vars", layer.name, _weight_slots(layer.weights)))
    return groups


def read(where, model, f, optimizer="if present"):
    """Sets the model's variables from the open h5py.File `f`; optimizer: True (the file must hold
    the optimizer's state), False (ignored) or "if present". Nothing is set unless every value
    checks out."""
    groups = _groups(model, optimizer is not False and getattr(model, "compiled", False))
    groups = _earlier_layout(model, f, where, groups)
    if getattr(model, "_subclassed", False):  # its layers under their attributes, at the root
        expected = {p.split("/")[0] for p, _, _ in groups} - {"vars", "optimizer"}
        present = set(keras_h5.keys(f, where)) - {"vars", "optimizer"}
        how = "Keras names a subclassed model's layers by attribute"
    else:
        layers = keras_h5.group(f, "layers", where, required=False)
        expected = {p.split("/")[1] for p, _, _ in groups if p.startswith("layers/")}
        present = set(keras_h5.keys(layers, where)) if layers is not None else set()
        how = "Keras names a layer by its class"
    extra = sorted(present - expected)
    if extra:
        raise ValueError(f"{where}: the file holds layers {extra} that model {model.name!r} does not have ({how}: "
                         f"the model has {sorted(expected)}); it is not this model's weights")
    pending, optimizer_values = [], []
    for path, _, slots in groups:
        if path == "vars" and not slots:  # (a subclassed model keeps its own variables there)
            continue
        if path == "optimizer/vars" and optimizer == "if present" and keras_h5.group(
                f, "optimizer", where, required=False) is None:
            continue
        grp = keras_h5.group(f, path, where, required=bool(slots))
        have = set(keras_h5.keys(grp, where)) if grp is not None else set()
        if path == "optimizer/vars":
            # iterations, and the learning rate unless a schedule gives it
            base = slots[:1 if callable(model.optimizer._learning_rate) else 2]
            if have == {s.key for s in base}:  # an optimizer Keras had not built yet: no slots
                slots = base
        want = {s.key for s in slots}
        if have != want:
            raise ValueError(f"{where}: {path!r} holds the variables {sorted(have)}, but the model expects "
                             f"{sorted(want)} ({len(want)} variables)")
        for s in slots:
            value = keras_h5.dataset(grp, s.key, where, s.shape if s.shape is not None else "vector")
            (optimizer_values if path.startswith("optimizer/") else pending).append((path, s, value))
    if optimizer_values:
        # set after the layers' values, through the program lowered then: assigning a value an op
        # copied (SpectralNormalization's vector_u) lowers the model again, and the slots live there
        for _, s, value in pending:
            _put(s, value)
        fresh = {(path, s.key): s for path, _, slots in _groups(model, True) if path.startswith("optimizer/")
                 for s in slots}
        pending = [(path, fresh[(path, s.key)], value) for path, s, value in optimizer_values]
    for _, s, value in pending:
        _put(s, value)


def _put(slot, value):
    if slot.put is not None:
        slot.put(value.astype(slot.dtype, copy=False) if slot.dtype.kind == "f" else value)

