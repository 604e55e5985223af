"""ONNX rules for the feed-forward layers: Dense, QuantizedDense and QuantizedConv1D/2D (int8), Activation, Dropout,
Flatten, Reshape, Embedding and the merges. Each rule takes (graph, layer, input values, node) and
returns the output values; the recurrent ones are in onnx_recurrent.py.
"""

import types

import numpy as np

from bigcore.export import onnx_conv, onnx_image, onnx_preprocessing, onnx_recurrent, onnx_transformer
from bigcore.layers import core, embedding, lora, merging, recurrent, rnn_cells
from bigcore.layers.quantized import QuantizedDense
from bigcore.layers.quantized_conv import QuantizedConv1D, QuantizedConv2D
from bigcore.layers.quantized_attention import (QuantizedEinsumDense, QuantizedGroupQueryAttention,
                                                QuantizedMultiHeadAttention)


def dense(g, layer, ins, node):
    y = g.op("MatMul", [ins[0], g.const(layer.kernel.numpy(), f"{layer.name}/kernel")], f"{layer.name}/matmul")
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.bias.numpy(), f"{layer.name}/bias")], f"{layer.name}/bias_add")
    return [g.activation(y, layer.activation, f"{layer.name}/{layer.activation}")]


def _quantize_per_row(g, x, layer):
    """x (..., K) -> (int8 values + 128 as uint8, float scale (..., 1)), as bigcore's
    quantize_rows_ref: scale max|row| / 127 (1 for an all-zero row), values
    round(clip(x * 127 / max|row|, -127, 127)).

    ONNX's Round breaks ties to even where bigcore's breaks them away from zero: a value lying
    exactly on k + 0.5 can differ by one step, nothing else differs.
    """
    n = layer.name
    if layer.activation_scale > 0:  # calibrated: one static scale
        scale = g.const(np.float32(layer.activation_scale), f"{n}/x_scale")
        recip = g.const(np.float32(1.0) / np.float32(layer.activation_scale), f"{n}/x_recip")
    else:
        amax = g.reduce_max(g.op("Abs", [x], f"{n}/abs"), -1, f"{n}/absmax")
        zero, q = g.const(np.float32(0), f"{n}/zero"), g.const(np.float32(127), f"{n}/q127")
        amax = g.op("Where", [g.op("Greater", [amax, zero], f"{n}/nonzero"), amax, q], f"{n}/absmax_safe")
        scale = g.op("Div", [amax, q], f"{n}/x_scale")
        recip = g.op("Div", [q, amax], f"{n}/x_recip")
    lo, hi = g.const(np.float32(-127), f"{n}/lo"), g.const(np.float32(127), f"{n}/hi")
    v = g.op("Clip", [g.op("Mul", [x, recip], f"{n}/scaled"), lo, hi], f"{n}/clipped")
    v = g.op("Add", [g.op("Round", [v], f"{n}/rounded"), g.const(np.float32(128), f"{n}/offset")], f"{n}/shifted")
    return g.op("Cast", [v], f"{n}/x_uint8", to=g.onnx.TensorProto.UINT8), scale


def quantized_dense(g, layer, ins, node):
    """bigcore's int8 x int8 -> int32 sums with MatMulInteger, then float(acc) * w_scale * x_scale
    + bias (bigcore multiplies by x_scale * w_scale at once: the outputs may differ by an ulp).
    int8_activations='per_tensor' quantizes the input instead with DynamicQuantizeLinear (uint8,
    one scale and zero point for the whole batch) against the int8 weights, the pattern
    onnxruntime fuses into DynamicQuantizeMatMul."""
    n = layer.name
    wq = layer.kernel.numpy()
    w_scale = g.const(layer.kernel_scale.numpy(), f"{n}/kernel_scale")
    if g.int8_activations == "per_tensor" and layer.activation_scale == 0:
        xq, scale, zp = g.op("DynamicQuantizeLinear", [ins[0]], f"{n}/dql", outputs=3)
        acc = g.op("MatMulInteger", [xq, g.const(wq, f"{n}/kernel_int8"), zp], f"{n}/matmul_int")
        acc = g.op("Cast", [acc], f"{n}/acc_float", to=g.onnx.TensorProto.FLOAT)
        # one activation scale: the pattern onnxruntime fuses into DynamicQuantizeMatMul
        y = g.op("Mul", [acc, g.op("Mul", [scale, w_scale], f"{n}/out_scale")], f"{n}/dequant")
    else:
        # uint8 x uint8 with zero points 128: the int32 sums of int8 x int8, exact. onnxruntime's
        # int8 x int8 kernel is several times slower, and its uint8 x int8 one (vpmaddubsw on AVX2
        # without VNNI) saturates 16-bit pair sums of values near 255 and 127.
        xq, scale = _quantize_per_row(g, ins[0], layer)
        wu = (wq.astype(np.int16) + 128).astype(np.uint8)
        zp = g.const(np.uint8(128), f"{n}/zero_point")
        acc = g.op("MatMulInteger", [xq, g.const(wu, f"{n}/kernel_uint8"), zp, zp], f"{n}/matmul_int")
        acc = g.op("Cast", [acc], f"{n}/acc_float", to=g.onnx.TensorProto.FLOAT)
        # two Muls: onnxruntime fuses acc * (x_scale * w_scale) into MatMulIntegerToFloat, which
        # reads x_scale as one number (seen in onnxruntime 1.32)
        y = g.op("Mul", [g.op("Mul", [acc, w_scale], f"{n}/dequant_cols"), scale], f"{n}/dequant")
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.bias.numpy(), f"{n}/bias")], f"{n}/bias_add")
    return [g.activation(y, layer.activation, f"{n}/{layer.activation}")]


def quantized_einsum_dense(g, layer, ins, node=None):
    """The int8 GEMM of quantized_dense between the EinsumDense reshapes (onnx_transformer.py)."""
    as_dense = types.SimpleNamespace(
        name=layer.name, kernel=types.SimpleNamespace(numpy=lambda: layer.kernel.numpy().reshape(layer._K, layer._N)),
        kernel_scale=layer.kernel_scale, activation_scale=layer.activation_scale, use_bias=layer.bias is not None,
        bias=types.SimpleNamespace(numpy=lambda: layer.bias.numpy().reshape(-1)) if layer.bias is not None else None,
        activation=layer.activation)
    y = quantized_dense(g, as_dense, [onnx_transformer.flatten_in(g, layer, ins[0])], node)[0]
    return [onnx_transformer.unflatten_out(g, layer, y)]


def quantized_conv(g, layer, ins, node):
    """int8 Conv1D / Conv2D as bigcore runs them: im2col rows (onnx_conv.window_rows), each row
    quantized as QuantizedDense quantizes its input, the int8 GEMM (MatMulInteger) against the
    (window, filters) kernel, per-filter scales, bias and activation: quantized_dense on the rows."""
    as_dense = types.SimpleNamespace(
        name=layer.name, kernel=types.SimpleNamespace(numpy=lambda: layer.kernel.numpy().reshape(-1, layer.filters)),
        kernel_scale=layer.kernel_scale, activation_scale=layer.activation_scale, use_bias=layer.use_bias,
        bias=layer.bias if layer.use_bias else None, activation=layer.activation)
    y = quantized_dense(g, as_dense, [onnx_conv.window_rows(g, layer, ins[0], node)], node)[0]
    return [onnx_conv.unflatten_positions(g, layer, y, node)]


def activation(g, layer, ins, node):
    return [g.activation(ins[0], layer.activation, layer.name)]


def identity(g, layer, ins, node):
    return [ins[0]]  # Dropout at inference


def flatten(g, layer, ins, node):
    return [g.op("Flatten", [ins[0]], layer.name, axis=1)]


def reshape(g, layer, ins, node):
    return [g.op("Reshape", [ins[0], g.int64([0] + list(layer.target_shape), f"{layer.name}/shape")], layer.name)]


def embedding_(g, layer, ins, node):
    n = layer.name
    ids = g.op("Cast", [ins[0]], f"{n}/ids", to=g.onnx.TensorProto.INT64)
    out = g.op("Gather", [g.const(layer.embeddings.numpy(), f"{n}/embeddings"), ids], n, axis=0)
    if layer.mask_zero:
        zero = g.int64(0, f"{n}/pad_id")
        g.bind(node.outputs[0]._mask, g.op("Not", [g.op("Equal", [ids, zero], f"{n}/is_pad")], f"{n}/mask"))
    return [out]


def merge(g, layer, ins, node):
    """Keras 3's merges (layers/merging.py): the output mask is the or of the input masks (all
    true when Concatenate has an unmasked input); Multiply takes 1 at an input's masked steps and
    0 where every input is masked and none is unmasked."""
    n = layer.name
    masks = [g.mask(kt) for kt in node.inputs]
    present = [m for m in masks if m is not None]
    mul = isinstance(layer, merging.Multiply)
    rank = len(node.outputs[0].shape)
    if not isinstance(layer, merging.Concatenate):  # Keras broadcasts a lower-rank input from after its batch axis
        ins = [x if len(kt.shape) == rank else
               g.op("Unsqueeze", [x, g.int64(list(range(1, 1 + rank - len(kt.shape))), f"{n}/expand{i}")],
                    f"{n}/expanded{i}") for i, (x, kt) in enumerate(zip(ins, node.inputs))]
    if mul and present:
        one = g.const(np.float32(1.0), f"{n}/one")
        ins = [x if m is None else g.op("Where", [g.op("Unsqueeze", [m, g.int64([-1], f"{n}/ax{i}")], f"{n}/m{i}"),
                                                 x, one], f"{n}/x{i}") for i, (x, m) in enumerate(zip(ins, masks))]
    if isinstance(layer, merging.Concatenate):
        y = g.op("Concat", ins, n, axis=layer._axis(len(node.inputs[0].shape)))
    elif isinstance(layer, merging.Subtract):
        y = g.op("Sub", ins, n)
    elif isinstance(layer, (merging.Maximum, merging.Minimum)):  # a left fold with Keras's mask rule
        op = "Max" if isinstance(layer, merging.Maximum) else "Min"
        steps = [None if m is None else g.op("Unsqueeze", [m, g.int64([-1], f"{n}/ax{i}")], f"{n}/m{i}")
                 for i, m in enumerate(masks)]
        y, ym = ins[0], steps[0]
        for i, (x, m) in enumerate(zip(ins[1:], steps[1:])):
            if m is not None:  # a masked step of x takes the running value
                x = g.op("Where", [m, x, y], f"{n}/x{i}")
            if ym is not None:  # a masked step of the running value takes x's
                y = g.op("Where", [ym, y, x], f"{n}/y{i}")
            ym = g.op("Or", [ym, m], f"{n}/ym{i}") if m is not None and ym is not None else None
            y = g.op(op, [y, x], f"{n}/{op.lower()}{i}")
    else:
        op = "Mul" if mul else "Add"
        y = ins[0]
        for i, x in enumerate(ins[1:]):
            y = g.op(op, [y, x], f"{n}/{op.lower()}{i}")
        if isinstance(layer, merging.Average):
            y = g.op("Mul", [y, g.const(np.float32(1.0 / len(ins)), f"{n}/inv_n")], n)
    out_mask = node.outputs[0]._mask
    if out_mask is not None and all(out_mask is not kt._mask for kt in node.inputs):
        m = present[0]
        for i, other in enumerate(present[1:]):
            m = g.op("Or", [m, other], f"{n}/mask{i}")
        if len(present) < len(masks):  # Concatenate with an unmasked input: true everywhere
            m = g.op("Or", [m, g.op("Not", [m], f"{n}/not")], f"{n}/all")
        g.bind(out_mask, m)
    if mul and out_mask is not None:
        zero = g.const(np.float32(0.0), f"{n}/zero")
        y = g.op("Where", [g.op("Unsqueeze", [g.mask(node.outputs[0]), g.int64([-1], f"{n}/axm")], f"{n}/m"), y, zero],
                 f"{n}/masked")
    return [y]


def _rules():
    return {**onnx_conv.rules(), **onnx_transformer.rules(), QuantizedEinsumDense: quantized_einsum_dense,
            QuantizedMultiHeadAttention: onnx_transformer.multi_head_attention,
            QuantizedGroupQueryAttention: onnx_transformer.multi_head_attention, QuantizedDense: quantized_dense,
            QuantizedConv1D: quantized_conv, QuantizedConv2D: quantized_conv, core.Dense: dense, core.Activation: activation,
            core.Dropout: identity, core.Flatten: flatten, core.Reshape: reshape, embedding.Embedding: embedding_,
            merging.Add: merge, merging.Average: merge, merging.Multiply: merge, merging.Concatenate: merge,
            merging.Subtract: merge, merging.Maximum: merge, merging.Minimum: merge,
            recurrent.LSTM: onnx_recurrent.rnn, recurrent.GRU: onnx_recurrent.rnn,
            recurrent.SimpleRNN: onnx_recurrent.rnn, rnn_cells.RNN: onnx_recurrent.rnn_of_cells,
            recurrent.Bidirectional: onnx_recurrent.bidirectional, **onnx_preprocessing.RULES,
            **onnx_image.RULES}


def _recurrent_rule(layer, quantized_recurrent):
    """Whether a SimpleRNN/LSTM/GRU (alone or inside Bidirectional) can be exported: a float one always; an
    int8 one (quantize() makes them, with int8 kernels and per-column scales) only as float."""
    if getattr(layer, "stateful", False):
        raise NotImplementedError(f"ONNX export: layer {layer.name!r} is stateful (its states carry from one call to "
                                  "the next), which an ONNX graph cannot hold; export a copy with stateful=False")
    if type(layer) in (recurrent.SimpleRNN, recurrent.LSTM, recurrent.GRU):
        return True
    int8 = isinstance(layer, (recurrent.LSTM, recurrent.GRU)) and layer.kernel is not None and \
        layer.kernel.dtype == np.int8 and hasattr(layer, "recurrent_scale")
    if int8 and quantized_recurrent == "float":
        return True
    if int8:
        raise NotImplementedError(
            f'ONNX export of layer "{layer.name}" ({type(layer).__name__}): ONNX has no int8 LSTM/GRU op. '
            'Pass quantized_recurrent="float" to export it as a float LSTM/GRU with the dequantized weights '
            "(int8 value * scale; the per-step int8 rounding of inputs and hidden state is then skipped), "
            "or export the model before quantizing it.")
    return False


def converter(layer, quantized_recurrent="error"):
    """The rule for `layer`'s exact class: a subclass may compute something else, so it is refused."""
    lora.refuse(layer, "ONNX export")
    rules = _rules()
    subs = [layer.forward_layer, layer.backward_layer] if type(layer) is recurrent.Bidirectional else [layer]
    bad = [sub for sub in subs if isinstance(sub, recurrent._RNN) and not _recurrent_rule(sub, quantized_recurrent)]
    if not bad and isinstance(layer, recurrent._RNN):
        return rules[recurrent.LSTM]
    if not bad and type(layer) in rules:
        return rules[type(layer)]
    layer = (bad or [layer])[0]
    cls = type(layer).__name__
    raise NotImplementedError(f'ONNX export does not support layer "{layer.name}" ({cls}). '
                              f"Supported layers: {', '.join(sorted(c.__name__ for c in rules))}.")


onnx_conv.set_rule_lookup(converter)  # TimeDistributed's wrapped layer takes its rule from here
