"""ONNX rules for SimpleRNN, LSTM, GRU and Bidirectional (int8 ones as float, with dequantized weights).

Weights: Keras keeps kernel (D, G*U) with gates i, f, c, o (LSTM) or z, r, h (GRU); ONNX wants
W (1, G*U, D), R (1, G*U, U) with gates i, o, f, c or z, r, h, and B = [input bias, recurrent
bias]. Keras's GRU reset_after=True is ONNX's linear_before_reset=1, reset_after=False
linear_before_reset=0 (its one bias the input half, the recurrent half zeros). Activations map to ONNX's
(f, g, h) = (recurrent_activation, activation, activation); "linear" is Affine(alpha=1, beta=0).
SimpleRNN is ONNX's RNN: W (1, U, D), R (1, U, U), B = [bias, zeros], activations [activation].

Masks (Keras semantics: a masked step leaves the state alone and repeats the previous output)
become ONNX's sequence_lens, which only skips a tail of padding. So the valid steps of each sample
are first moved, in order, to the front (a scatter by the running count of valid steps); any mask
works that way, pre- or post-padding or holes. The outputs are then moved back: the output at
input step t is the state after the last valid step at or before t (after t going backwards),
zero before the first, or zero at every masked step where Keras zeroes them (Bidirectional with
return_sequences).
"""

import numpy as np

from bigcore.layers.recurrent import GRU, LSTM

# Keras activation -> (ONNX RNN activation, its alpha, its beta); None where it takes none
_ACT = {"sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None), "relu": ("Relu", None, None),
        "linear": ("Affine", 1.0, 0.0), "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
        "leaky_relu": ("LeakyRelu", 0.2, None)}


def _activation_attrs(layer, acts):
    """The activations, activation_alpha and activation_beta attributes: the alphas (betas) of
    the activations that take one, in order."""
    for a in acts:
        if a not in _ACT:
            raise ValueError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}) uses the activation {a!r}, "
                             f"which ONNX's recurrent operators lack; supported: {', '.join(_ACT)}")
    attrs = {"activations": [_ACT[a][0] for a in acts]}
    alphas = [_ACT[a][1] for a in acts if _ACT[a][1] is not None]
    betas = [_ACT[a][2] for a in acts if _ACT[a][2] is not None]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _weights(layer):
    """(W, R, B or None) in ONNX's layout for one direction."""
    U = layer.units
    k, rk = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    if k.dtype == np.int8:  # an int8 layer exported as float (quantized_recurrent="float")
        k = k.astype(np.float32) * layer.kernel_scale.numpy()
        rk = rk.astype(np.float32) * layer.recurrent_scale.numpy()
    if isinstance(layer, LSTM):
        order = [0, 3, 1, 2]  # Keras i, f, c, o -> ONNX i, o, f, c

        def gates(a):
            return np.concatenate([a[..., j * U:(j + 1) * U] for j in order], axis=-1)

        k, rk = gates(k), gates(rk)
        b = None
        if layer.use_bias:
            b = np.concatenate([gates(layer.bias.numpy()), np.zeros(4 * U, np.float32)])
    elif isinstance(layer, GRU):
        b = None
        if layer.use_bias and layer.reset_after:
            b = layer.bias.numpy().reshape(-1)  # (2, 3U): [input; recurrent]
        elif layer.use_bias:  # reset_after=False: one bias (3U), ONNX's recurrent half zero
            b = np.concatenate([layer.bias.numpy(), np.zeros(3 * U, np.float32)])
    else:  # SimpleRNN: one bias, ONNX's recurrent half zero
        b = np.concatenate([layer.bias.numpy(), np.zeros(U, np.float32)]) if layer.use_bias else None
    W, R = k.T[None], rk.T[None]
    return np.ascontiguousarray(W), np.ascontiguousarray(R), None if b is None else b[None]


def _compact(g, x, mask, n, T):
    """x (B, T, D) with its valid steps moved to the front in order; (x', count (B,) int64, running
    count c (B, T) inclusive, mask as int64)."""
    T_ = g.onnx.TensorProto
    mi = g.op("Cast", [mask], f"{n}/mask_int", to=T_.INT64)
    one = g.int64([1], f"{n}/axis1")
    c = g.op("CumSum", [mi, g.int64(1, f"{n}/time_axis")], f"{n}/valid_before")
    count = g.op("ReduceSum", [mi, one], f"{n}/lengths", keepdims=0)
    count_col = g.op("Unsqueeze", [count, one], f"{n}/lengths_col")
    steps = g.int64(np.arange(T), f"{n}/steps")
    at_valid = g.op("Sub", [c, g.int64(1, f"{n}/one")], f"{n}/to_front")
    at_masked = g.op("Add", [count_col, g.op("Sub", [steps, c], f"{n}/masked_before")], f"{n}/to_back")
    pos = g.op("Where", [mask, at_valid, at_masked], f"{n}/order")
    idx = g.op("Expand", [g.op("Unsqueeze", [pos, g.int64([2], f"{n}/axis2")], f"{n}/order3"),
                          g.op("Shape", [x], f"{n}/x_shape")], f"{n}/order_full")
    return g.op("ScatterElements", [x, idx, x], f"{n}/compacted", axis=1), count, c, mi


def _expand_outputs(g, y, mask, count, c, mi, layer, n):
    """y (B, T, U) over compacted steps -> the Keras output at every input step."""
    zero_i = g.int64(0, f"{n}/zero_i")
    if layer.go_backwards:  # the next valid step at or after t, if any
        src = g.op("Sub", [c, mi], f"{n}/src")
        has = g.op("Less", [src, g.op("Unsqueeze", [count, g.int64([1], f"{n}/ax1")], f"{n}/count_col")], f"{n}/has")
    else:  # the last valid step at or before t, if any
        src = g.op("Sub", [c, g.int64(1, f"{n}/one_i")], f"{n}/src")
        has = g.op("Greater", [c, zero_i], f"{n}/has")
    if layer.zero_output_for_mask:
        has = mask
    src = g.op("Max", [src, zero_i], f"{n}/src_clipped")
    idx = g.op("Expand", [g.op("Unsqueeze", [src, g.int64([2], f"{n}/ax2")], f"{n}/src3"),
                          g.op("Shape", [y], f"{n}/y_shape")], f"{n}/src_full")
    taken = g.op("GatherElements", [y, idx], f"{n}/taken", axis=1)
    has3 = g.op("Unsqueeze", [has, g.int64([2], f"{n}/ax2b")], f"{n}/has3")
    return g.op("Where", [has3, taken, g.const(np.float32(0), f"{n}/zero_f")], f"{n}/sequence")


def _direction(g, layer, x, mask, T):
    """One RNN layer on x (B, T, D): (outputs in Keras's order, [states...])."""
    n = layer.name
    T_ = g.onnx.TensorProto
    W, R, B = _weights(layer)
    seq_lens = ""
    if mask is not None:
        x, count, c, mi = _compact(g, x, mask, n, T)
        seq_lens = g.op("Cast", [count], f"{n}/sequence_lens", to=T_.INT32)
    xt = g.op("Transpose", [x], f"{n}/time_major", perm=[1, 0, 2])
    lstm, gru = isinstance(layer, LSTM), isinstance(layer, GRU)
    if lstm or gru:
        acts = [layer.recurrent_activation, layer.activation] + ([layer.activation] if lstm else [])
    else:
        acts = [layer.activation]
    attrs = {"hidden_size": layer.units, "direction": "reverse" if layer.go_backwards else "forward",
             **_activation_attrs(layer, acts)}
    if gru:
        attrs["linear_before_reset"] = 1 if layer.reset_after else 0
    ins = [xt, g.const(W, f"{n}/W"), g.const(R, f"{n}/R"), g.const(B, f"{n}/B") if B is not None else "", seq_lens]
    while ins[-1] == "":
        ins.pop()
    outs = g.op("LSTM" if lstm else "GRU" if gru else "RNN", ins, n, outputs=3 if lstm else 2, **attrs)
    axis0 = g.int64([0], f"{n}/axis0")
    states = [g.op("Squeeze", [s, axis0], f"{n}/state{i}") for i, s in enumerate(outs[1:])]
    if not layer.return_sequences:
        return states[0], states
    y = g.op("Squeeze", [outs[0], g.int64([1], f"{n}/dir_axis")], f"{n}/y")
    y = g.op("Transpose", [y], f"{n}/batch_major", perm=[1, 0, 2])
    if mask is not None:
        y = _expand_outputs(g, y, mask, count, c, mi, layer, n)
    if layer.go_backwards and not layer._output_in_input_order:  # Keras: in the order processed
        big = np.iinfo(np.int64).min
        y = g.op("Slice", [y, g.int64([-1], f"{n}/from_end"), g.int64([big], f"{n}/to_start"),
                           g.int64([1], f"{n}/time"), g.int64([-1], f"{n}/backwards")], f"{n}/reversed")
    return y, states


def _check_time(node):
    shape = node.inputs[0].shape
    if len(shape) != 3 or shape[1] is None:
        raise ValueError(f'ONNX export of layer "{node.layer.name}" needs input (batch, timesteps, features) '
                         f"with known timesteps, got {shape}")
    return shape[1]


def rnn(g, layer, ins, node):
    out, states = _direction(g, layer, ins[0], g.mask(node.inputs[0]), _check_time(node))
    return [out] + (states if layer.return_state else [])


def rnn_of_cells(g, layer, ins, node):
    """RNN(cell) / RNN([cells]): one ONNX recurrent op per cell, each over the whole sequence."""
    T, mask = _check_time(node), g.mask(node.inputs[0])
    x, states = ins[0], []
    for step in layer._steps:
        x, s = _direction(g, step, x, mask, T)
        states += s if layer.return_state else []
    return [x] + states


def bidirectional(g, layer, ins, node):
    T = _check_time(node)
    mask = g.mask(node.inputs[0])
    fwd, fs = _direction(g, layer.forward_layer, ins[0], mask, T)
    bwd, bs = _direction(g, layer.backward_layer, ins[0], mask, T)
    n, mode = layer.name, layer.merge_mode
    if mode is None:
        outs = [fwd, bwd]
    elif mode == "concat":
        outs = [g.op("Concat", [fwd, bwd], n, axis=-1)]
    elif mode == "ave":
        outs = [g.op("Mul", [g.op("Add", [fwd, bwd], f"{n}/sum"), g.const(np.float32(0.5), f"{n}/half")], n)]
    else:
        outs = [g.op({"sum": "Add", "mul": "Mul"}[mode], [fwd, bwd], n)]
    return outs + (fs + bs if layer.return_state else [])
