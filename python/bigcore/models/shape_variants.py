"""A Sequential or subclassed model run on data of another sample shape than it was built for.

Keras 3 runs a Sequential's layers (and a subclassed model's call) on whatever shape comes: a
sequence model fitted at length 10 predicts at length 20, and only a layer whose weights fix a size
refuses (Dense after Flatten). A functional model's Input fixes its shape. bigcore lowers a program
for one shape, so such a model keeps one graph and program per sample shape it has run, sharing its
layers and so its weights. Switching to another shape's program carries the optimizer's slots
(Adam's moments, ...) over from the program left, weight by weight, so training goes on as one
optimizer; the step count is the optimizer's own.
"""

import numpy as np

# The model's attributes that make up one shape's graph (functional.Model._init_graph, a subclassed
# model's trace) and the compiled state made for its program (Trainer._apply_compile).
_GRAPH = ("_single_input", "_single_output", "_inputs", "_outputs", "_output_structure", "_model_losses",
          "_nodes", "_graph_layers", "_front_nodes", "_native_inputs", "_native_nodes", "_input_spec")
_COMPILED = ("_metrics", "_metric_weighted", "_target_wait", "_stats", "_custom_lowered")
_MISSING = object()
# Shapes kept besides the one in use, the least recently run dropped first: a loop over many lengths
# (generation that grows its input) would otherwise hold a program, with its buffers, per length.
# A dropped program hands its weights' values back to them (param_home), as any dropped program does.
KEEP = 8


def differs(model, x):
    """Whether x, one array, has the rank of the model's single input but another sample shape."""
    shape = getattr(x, "shape", None)
    ins = model._inputs
    if shape is None or ins is None or len(ins) != 1 or model._front_nodes:
        return False
    built, shape = tuple(ins[0].shape), tuple(shape)
    if len(shape) != len(built) or len(shape) < 2:
        return False  # another rank: the input checks say what they expect
    return any(b is not None and b != g for b, g in zip(built[1:], shape[1:]))


def forget(model):
    """Drops the other shapes' graphs and programs (the model changed: a layer added or popped, a new
    compile): they are made again when data of their shape comes."""
    model.__dict__.pop("_shape_variants", None)
    model.__dict__.pop("_slots_from", None)


def switch(model, shape, build):
    """Makes the graph for sample shape `shape` the model's, `build(shape)` making it the first time
    (the layers called on a new Input). A shape the layers refuse raises their error and leaves
    the model as it was."""
    d = model.__dict__
    variants = d.setdefault("_shape_variants", {})
    here = tuple(model._inputs[0].shape[1:])
    left = d.get("_lowered")
    state = {k: d.get(k, _MISSING) for k in _GRAPH + _COMPILED + ("_lowered",)}
    variants.pop(here, None)
    if shape in variants:
        _restore(model, variants.pop(shape))
    else:
        try:
            build(shape)  # the program is lowered, and compiled, at the next call
        except BaseException:
            _restore(model, state)
            raise
    variants[here] = state  # the most recent last
    while len(variants) > KEEP:
        del variants[next(iter(variants))]
    taken = d.get("_lowered")
    d.pop("_slots_from", None)
    if left is not None and taken is not None:
        carry_slots(model, left, taken)
    elif left is not None:
        d["_slots_from"] = left  # carried once the program is lowered and compiled (program_created)


def program_created(model, program):
    """After a new program's compile: the optimizer's slots of the shape it replaced."""
    left = model.__dict__.pop("_slots_from", None)
    if left is not None:
        carry_slots(model, left, program)


def carry_slots(model, src, dst):
    """dst's optimizer slots take src's values of the weights both programs hold."""
    opt = getattr(model, "optimizer", None)
    if src is dst or not getattr(model, "compiled", False) or opt is None or not opt.slots:
        return
    offsets = {id(w): off for w, off in src.weights}
    for i in range(opt.slots):
        a, b = src.native.opt_slot(i), dst.native.opt_slot(i)
        for w, off in dst.weights:
            o = offsets.get(id(w))
            if o is not None:
                n = int(np.prod(w.shape))
                b[off:off + n] = a[o:o + n]


def _restore(model, state):
    for k, v in state.items():
        if v is _MISSING:
            model.__dict__.pop(k, None)
        else:
            model.__dict__[k] = v
