"""Model export: `model.export("model.onnx")` writes an ONNX model (needs the `onnx` extra).

    model.export("model.onnx")                         # format from the extension
    model.export("model", format="onnx")
    proto = bigcore.export.to_onnx(model)              # an onnx.ModelProto, in memory

opset: 17 (the default; onnxruntime 1.12 and newer run it) up to the onnx package's newest.
The ONNX graph has a dynamic batch dimension ("batch"), one input per model Input (float32, or
int64 ids for an Input that only feeds Embedding layers) and one output per model output, named
after the layers. Dropout is the identity. Masks from Embedding(mask_zero=True) are honoured by
LSTM / GRU / Bidirectional whatever the padding (see onnx_recurrent.py).

int8 models from bigcore.quantization.quantize export with standard integer ops (MatMulInteger):
  int8_activations="per_row" (default): each row of a QuantizedDense input is quantized to int8
    with its own scale max|row| / 127, exactly as bigcore does (Abs, ReduceMax, Div, Mul, Clip,
    Round, Cast), and multiplied as uint8 - 128 by the int8 weights + 128 (uint8 x uint8, the
    integer kernel of onnxruntime that is exact on every CPU): the int32 sums are bigcore's, except
    where x * 127 / max|row| lies exactly halfway between two integers (ONNX rounds ties to even,
    bigcore away from zero), and outputs may differ by an ulp. onnxruntime runs it slower than
    the float model at large batches (its uint8 x uint8 kernel has no VNNI path).
  int8_activations="per_tensor": DynamicQuantizeLinear (uint8, one scale and zero point for the
    whole input tensor, i.e. the whole batch) against the int8 weights: the pattern that
    onnxruntime.quantization.quantize_dynamic writes and onnxruntime fuses into
    DynamicQuantizeMatMul, several times faster. Each activation is then off by at most
    s_t = (max(x, 0) - min(x, 0)) / 255 (half a step of rounding, up to half a step more at the
    clipped ends through the rounded zero point) where bigcore's is off by at most max|row| / 254,
    so |y_onnx - y_bigcore| <= sum_k |w_kn| (s_t + max|row| / 254); a sample's output depends on
    the other samples of the batch; and on x86 CPUs with AVX2 but no VNNI, onnxruntime's uint8 x
    int8 kernel saturates 16-bit pair sums (2 * 255 * 127 > 32767), outside that bound (the
    reason for quantize_dynamic's reduce_range).
QuantizedConv1D / QuantizedConv2D export as bigcore runs them: im2col as one Gather (each output
position's window, padding read as 0) and then the QuantizedDense pattern on those rows, so the
per_row mode quantizes each window with its own scale, as bigcore does, and per_tensor quantizes
the whole tensor of windows with DynamicQuantizeLinear (the bound above, k over the window).
Layers calibrated with quantize(..., calibration_data=...) keep their one static scale in both
modes. ONNX has no int8 LSTM/GRU op: int8 LSTM/GRU layers (quantize() converts them where bigcore
has int8 recurrent layers) raise NotImplementedError unless quantized_recurrent="float", which
exports them as float LSTM/GRU ops with the dequantized weights (int8 value * column scale). That
skips bigcore's int8 rounding of the input and of the hidden state at every step, so the outputs
differ from the int8 model's by about that rounding (seen: 0.005 at most on the probabilities of
the seed text model, int8 and float alike; the same per-token accuracy).
A layer has a rule only for its exact class; any other layer raises NotImplementedError naming it.
Recorded bigcore.ops primitives (`x + y`, ops.matmul, slicing, ...) have rules by kind
(onnx_ops.py): every primitive but cumprod; a primitive without a rule raises NotImplementedError
naming it. Custom layers (traced call()), Lambda, subclassed models and models called as layers
export through what they recorded. A run-time length (Input(shape=(None, ...))) becomes a
symbolic ONNX dimension where the rules allow it (ops, Dense, Embedding, the merges, the 1-D/2-D
convolutions and poolings, ZeroPadding2D / Cropping2D: Input((None, None, C)) exports dynamic H and W); LSTM / GRU
and the layers the lowering refuses for variable lengths still need fixed lengths.
"""

import os

from bigcore.export import onnx_graph
from bigcore.export.onnx_graph import OPSET


def to_onnx(model, opset=OPSET, int8_activations="per_row", quantized_recurrent="error"):
    """The model as an onnx.ModelProto, checked by onnx.checker."""
    return onnx_graph.build(model, int8_activations=int8_activations, quantized_recurrent=quantized_recurrent,
                            opset=opset)


def export(model, filepath, format=None, opset=OPSET, int8_activations="per_row", quantized_recurrent="error",
           verbose=None):
    """Writes `model` to `filepath`. format: "onnx", or None to take it from the extension."""
    filepath = os.fspath(filepath)
    if format in (None, ""):
        ext = os.path.splitext(filepath)[1].lower()
        if ext != ".onnx":
            raise ValueError(f"Cannot tell the export format from {filepath!r}: pass format='onnx' or use a .onnx "
                             f"file name. Received extension: {ext!r}")
        format = "onnx"
    if format != "onnx":
        raise ValueError(f"bigcore exports format='onnx' only. Received: format={format!r}")
    proto = to_onnx(model, opset=opset, int8_activations=int8_activations, quantized_recurrent=quantized_recurrent)
    onnx_graph.onnx_module().save_model(proto, filepath)
    if verbose:
        print(f"Saved the model as ONNX (opset {opset}) to {filepath}")


__all__ = ["OPSET", "export", "to_onnx"]
