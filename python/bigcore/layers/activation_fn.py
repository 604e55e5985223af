"""A layer's activation given as a function of the user's own (Keras's `activation=callable`).

A built-in activation is fused into the layer's native op. A function written with bigcore.ops
is not: the layer lowers its op with no activation, then the function, traced on a placeholder of
the op's output (bigcore.ops records nodes on symbolic tensors, as in a custom layer's call()),
so its gradient is that of the recorded operations.
"""

from bigcore import activations
from bigcore.layers import tracing
from bigcore.layers.base import KerasTensor, shape_str


def lower(prog, layer, kt, emit):
    """[native id of the layer's output kt]: emit(out, act) adds the layer's op writing native
    tensor `out` with native activation id `act`; a function of the user's own runs after it."""
    act = layer.activation
    out = prog.tensor(kt)
    if not activations.is_custom(act):
        emit(out, activations.native_id(act))
        return [out]
    emit(out, activations.native_id("linear"))
    return [apply(prog, layer, act, kt, out)]


def apply(prog, layer, fn, kt, z):
    """The native id of fn(z), z being native tensor `z` shaped like kt, recorded and lowered."""
    ph = KerasTensor(kt.shape, kt.dtype, name=f"{layer.name}/activation_input", dims=kt._dims, batched=kt._batched)
    trace = tracing.Trace(layer)
    try:
        with trace:
            y = fn(ph)
        if not isinstance(y, KerasTensor):
            raise TypeError(f"Layer {layer.name!r}: its activation {_name(fn)} returned {type(y).__name__}, not a "
                            "tensor; an activation of your own must compute with bigcore.ops")
        if tuple(y.shape) != tuple(ph.shape):
            raise ValueError(f"Layer {layer.name!r}: its activation {_name(fn)} changes the shape "
                             f"{shape_str(ph.shape)} into {shape_str(y.shape)}; an activation keeps it")
        nodes = tracing.check_closed(layer, trace, {id(ph)}, [y])
        if trace.losses:
            raise ValueError(f"Layer {layer.name!r}: its activation {_name(fn)} adds a loss, which an activation "
                             "cannot")
        outs, _ = prog.lower_graph([(ph, z)], nodes, [y])
    finally:
        trace.discard()  # the trace is lowered now; sub-layers it called keep no node of it
    return outs[0]


def _name(fn):
    return repr(getattr(fn, "__name__", fn))
