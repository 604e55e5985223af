"""int8 quantized inference: `quantize(model)` returns a new model whose Dense, EinsumDense,
Conv1D/Conv2D, LSTM and GRU layers (also inside Bidirectional) and the projections of MultiHeadAttention
and GroupQueryAttention (also the ones a custom layer holds in its attributes) run an exact int8 x int8 -> int32 GEMM (cpp/quant.h) with
per-output-channel weight scales and per-row dynamic activation scales (or input scales calibrated
from data); everything else is unchanged. LSTM/GRU quantize both matmuls, the input projection and
the recurrent one (layers/quantized_recurrent.py); their hidden state keeps per-row dynamic scales.

    qmodel = bigcore.quantization.quantize(model)                       # dynamic activation scales
    qmodel = bigcore.quantization.quantize(model, calibration_data=x)   # static, from data
"""

import numpy as np

from bigcore.layers import lora
from bigcore.layers.attention import _AttentionCall
from bigcore.layers.convolutional import Conv1D, Conv2D, _Conv
from bigcore.layers.core import Dense, InputLayer
from bigcore.layers.einsum_dense import EinsumDense
from bigcore.layers.identity import Identity
from bigcore.layers.normalization import BatchNormalization
from bigcore.layers.quantized_conv import QuantizedConv1D, QuantizedConv2D, _QuantizedConv
from bigcore.layers.quantized import QuantizedDense, quantize_weights
from bigcore.layers.quantized_attention import (QuantizedEinsumDense, QuantizedGroupQueryAttention,
                                                QuantizedMultiHeadAttention, int8_kernel_matrix)
from bigcore.layers.quantized_recurrent import QuantizedGRU, QuantizedLSTM, _QuantizedRNN
from bigcore.layers.recurrent import Bidirectional, SimpleRNN, _RNN
from bigcore.layers.base import Layer
from bigcore.layers.registry import layer_config, layer_from_config
from bigcore.layers.tracing import traces_call
from bigcore.models import Model, clone_model
from bigcore.sparse_select import sparsify

__all__ = ["QuantizedConv1D", "QuantizedConv2D", "QuantizedDense", "QuantizedEinsumDense", "QuantizedGRU",
           "QuantizedGroupQueryAttention", "QuantizedLSTM", "QuantizedMultiHeadAttention", "fold_batch_norm", "quantize",
           "quantize_weights"]
_QUANTIZED = {"Dense": "QuantizedDense", "SparseDense": "QuantizedDense", "LSTM": "QuantizedLSTM", "GRU": "QuantizedGRU",
              "EinsumDense": "QuantizedEinsumDense", "MultiHeadAttention": "QuantizedMultiHeadAttention",
              "GroupQueryAttention": "QuantizedGroupQueryAttention", "Conv1D": "QuantizedConv1D",
              "Conv2D": "QuantizedConv2D"}
# Layers whose projections keep per-row dynamic activation scales (their inner inputs are not
# model tensors a calibration run could read).
_DYNAMIC_ONLY = ("QuantizedMultiHeadAttention", "QuantizedGroupQueryAttention")


def quantize(model, dtype="int8", per_channel=True, calibration_data=None, batch_size=256, sparse_kernels=True):
    """A new model with every Dense, EinsumDense, Conv1D/Conv2D (groups=1), LSTM and GRU layer and the
    projections of every MultiHeadAttention and GroupQueryAttention quantized to int8 (SimpleRNN stays
    float); the original is left untouched. A BatchNormalization right after a Conv or Dense is folded
    into it first (fold_batch_norm), so the int8 kernel carries it.
    sparse_kernels: int8 Dense layers with at least half zeros (pruned) take the sparse int8 kernel where
    a micro-benchmark on this CPU shows it faster (bigcore.sparse_select.sparsify); False: never."""
    if dtype != "int8":
        raise ValueError(f"quantize supports dtype='int8' only, got {dtype!r}")
    if not per_channel:
        raise ValueError("quantize supports per_channel=True only (one scale per output column)")
    model._ensure_built()
    for layer in _layers(model):
        lora.refuse(layer, "quantize")
    stateful = [layer.name for layer in _layers(model) if getattr(layer, "stateful", False)]
    if stateful:
        raise NotImplementedError(f"quantize: stateful recurrent layers ({', '.join(stateful)}) have no int8 form "
                                  "yet; quantize a copy with stateful=False")
    original, model = model, fold_batch_norm(model) if _bn_folds(model) else model
    scales = _calibrate(model, calibration_data, batch_size) if calibration_data is not None else {}

    def int8_twin(layer):  # the layer's config under its int8 class, with its input scale
        entry = layer_config(layer)
        _quantize_entry(entry, scales)
        twin = layer_from_config(entry)
        if traces_call(layer):
            _quantize_sublayers(twin)
        return twin

    qmodel = clone_model(model, clone_function=int8_twin)
    qmodel.set_weights([w for layer in _layers(model) for w in _quantized_weights(layer)])
    if original.compiled:
        loss, metrics, loss_weights = original._compile_args
        qmodel.compile(optimizer=type(original.optimizer)(), loss=loss, metrics=metrics, loss_weights=loss_weights,
                       weighted_metrics=getattr(original, "_weighted_metrics_arg", None))
    qmodel._quantized = True
    if sparse_kernels:
        qmodel = sparsify(qmodel)
    return qmodel


def fold_batch_norm(model):
    """A new float model in which each BatchNormalization that follows a Conv1D, Conv2D or Dense with a
    linear activation (its only consumer) is folded into that layer for inference: kernel * s and
    (bias - moving_mean) * s + beta, s = gamma / sqrt(moving_variance + epsilon); the
    BatchNormalization becomes an Identity. predict() answers as the original's (to float rounding),
    one pass over the activations cheaper; for training keep the original."""
    model._ensure_built()
    folds = _bn_folds(model)
    into = {prev.name: bn for bn, prev in folds.values()}

    def twin(layer):
        if layer.name in folds:
            return Identity(name=layer.name)
        entry = layer_config(layer)
        if layer.name in into:
            entry["config"]["use_bias"] = True
        return layer_from_config(entry)

    folded = clone_model(model, clone_function=twin)
    folded.set_weights([w for layer in _layers(model) if layer.name not in folds
                        for w in (_folded(layer, into[layer.name]) if layer.name in into else layer.get_weights())])
    return folded


def _bn_folds(model):
    """{BatchNormalization name: (it, the Conv/Dense before it)} for the pairs fold_batch_norm folds."""
    uses = {}
    for node in model._nodes:
        for kt in node.inputs:
            uses[id(kt)] = uses.get(id(kt), 0) + 1
    outputs = {id(kt) for kt in model._outputs}
    folds = {}
    for node in model._nodes:
        bn = node.layer
        if type(bn) is not BatchNormalization or len(bn._inbound) != 1:
            continue
        x = node.inputs[0]
        prev = x.node.layer
        if type(prev) not in (Conv1D, Conv2D, Dense) or len(prev._inbound) != 1:
            continue
        if prev.activation == "linear" and uses.get(id(x)) == 1 and id(x) not in outputs:
            folds[bn.name] = (bn, prev)
    return folds


def _folded(layer, bn):
    """[kernel * s, bias * s + t] of `layer` with `bn` folded in (float64, then float32)."""
    s = bn.gamma.numpy().astype(np.float64) if bn.scale else 1.0
    s = s / np.sqrt(bn.moving_variance.numpy().astype(np.float64) + bn.epsilon)
    t = (bn.beta.numpy().astype(np.float64) if bn.center else 0.0) - bn.moving_mean.numpy() * s
    bias = layer.bias.numpy().astype(np.float64) if layer.use_bias else 0.0
    return [(layer.kernel.numpy() * s).astype(np.float32), (bias * s + t).astype(np.float32)]


def _quantize_entry(entry, scales, name=None):
    """Renames a float layer's config to its int8 class, with its calibrated input scale (or 0)."""
    if entry["class_name"] == "Bidirectional":
        _quantize_entry(entry["config"]["layer"], scales, entry["config"]["name"])
    elif entry["class_name"] in ("Conv1D", "Conv2D") and entry["config"].get("groups", 1) != 1:
        return  # grouped convolutions stay float
    elif entry["class_name"] in _QUANTIZED:
        entry["class_name"] = _QUANTIZED[entry["class_name"]]
        if entry["class_name"] not in _DYNAMIC_ONLY:
            entry["config"]["activation_scale"] = scales.get(name or entry["config"]["name"], 0.0)


def _quantize_sublayers(layer):
    """A custom layer's twin (before its call() is traced): each sub-layer held in an attribute that
    quantize converts (Dense, EinsumDense, attention, ...) is replaced by its int8 twin, so that the
    traced call() records the int8 layer; custom sub-layers are walked the same way. Their input
    scales stay dynamic (per row): their inputs are not model tensors a calibration run reads."""
    for name, value in list(vars(layer).items()):
        if name.startswith("_") or not isinstance(value, Layer):
            continue
        if traces_call(value):
            _quantize_sublayers(value)
            continue
        entry = layer_config(value)
        _quantize_entry(entry, {})
        if entry["class_name"] != type(value).__name__:
            setattr(layer, name, layer_from_config(entry))


def _quantized_weights(layer):
    """The weights of the quantized twin of `layer`, in its weight order."""
    if traces_call(layer):  # a custom layer: its own weights, then its sub-layers' (Layer.weights' order)
        return [w.numpy() for w in layer._own_weights()] + [w for sub in layer._tracked_layers()
                                                            for w in _quantized_weights(sub)]
    if isinstance(layer, Bidirectional):
        return _quantized_weights(layer.forward_layer) + _quantized_weights(layer.backward_layer)
    if isinstance(layer, EinsumDense) and not isinstance(layer, QuantizedEinsumDense):
        wq, s = quantize_weights(int8_kernel_matrix(layer))
        return [wq.reshape(layer.kernel.shape)] + ([layer.bias.numpy()] if layer.bias is not None else []) + [s]
    if isinstance(layer, _AttentionCall) and not isinstance(layer, (QuantizedMultiHeadAttention,
                                                                     QuantizedGroupQueryAttention)):
        return [w for sub in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)
                for w in _quantized_weights(sub)]
    bias = [layer.bias.numpy()] if getattr(layer, "use_bias", False) else []
    if isinstance(layer, Dense) and not isinstance(layer, QuantizedDense):
        wq, s = quantize_weights(layer.kernel.value)
        return [wq] + bias + [s]
    # Conv3D has no int8 twin (_QUANTIZED): it stays float, as SimpleRNN does
    if isinstance(layer, (Conv1D, Conv2D)) and not isinstance(layer, _QuantizedConv) and layer.groups == 1:
        wq, s = quantize_weights(layer.kernel.value.reshape(-1, layer.filters))
        return [wq.reshape(layer.kernel.shape)] + bias + [s]
    if isinstance(layer, _RNN) and not isinstance(layer, (_QuantizedRNN, SimpleRNN)):  # SimpleRNN stays float
        wq, s = quantize_weights(layer.kernel.value)
        rq, rs = quantize_weights(layer.recurrent_kernel.value)
        return [wq, rq] + bias + [s, rs]
    return layer.get_weights()


def _layers(model):
    return [layer for layer in model.layers if not isinstance(layer, InputLayer)]


def _calibrate(model, x, batch_size):
    """Static activation scales: max |input| over the data of each Dense, LSTM, GRU or Bidirectional
    layer, / 127 (a recurrent layer's hidden state stays dynamic)."""
    nodes = [n for n in model._nodes if isinstance(n.layer, (Dense, EinsumDense, _RNN, Bidirectional, _Conv))]
    if not nodes:
        return {}
    probe = Model(model._inputs if not model._single_input else model._inputs[0], [n.inputs[0] for n in nodes])
    outs = probe.predict(x, batch_size=batch_size, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    scales = {}
    for node, a in zip(nodes, outs):
        peak = float(np.abs(a).max()) if a.size else 0.0
        scales[node.layer.name] = max(peak / 127.0, float(np.finfo(np.float32).tiny)) if peak > 0 else 1.0
    return scales
