"""Sparse kernels where they pay: `sparsify(model)` returns a new model in which each Dense or
QuantizedDense layer whose kernel is sparse enough becomes SparseDense / QuantizedSparseDense, but only
when a micro-benchmark on this CPU, for this layer's shape and the batch sizes 1 and 64 (or the one
given), shows the sparse kernel at least `min_speedup` times faster than the dense one at every batch
size; otherwise the dense layer stays. The decisions and the times are kept on the new model:

    smodel = bigcore.sparse_select.sparsify(model)
    print(bigcore.sparse_select.format_report(smodel.sparsify_report))
"""

import dataclasses
import math
import time

import numpy as np

from bigcore import activations
from bigcore._native import _core
from bigcore.layers.core import Dense, InputLayer
from bigcore.layers.quantized import QuantizedDense
from bigcore.layers.registry import layer_config, layer_from_config
from bigcore.layers.sparse import MAX_INPUT_DIM, QuantizedSparseDense, SparseDense
from bigcore.models import clone_model

_SPARSE_OF = {"Dense": "SparseDense", "QuantizedDense": "QuantizedSparseDense"}


@dataclasses.dataclass
class SparseDecision:
    """What sparsify decided for one layer. times: {batch_size: (dense_seconds, sparse_seconds)}."""
    layer: str
    dtype: str            # "float32" or "int8"
    shape: tuple          # the kernel's (K, N)
    sparsity: float
    sparse: bool          # True: the sparse layer replaced it
    times: dict
    speedup: float        # the smallest dense / sparse time ratio over the batch sizes (nan: not timed)
    reason: str


def sparsify(model, min_speedup=1.1, batch_size=None, min_sparsity=0.5, timer=None):
    """A new model with the Dense / QuantizedDense layers that run faster sparse replaced by their sparse
    versions; the original is left untouched. `timer(layer, batch_size) -> (dense_s, sparse_s)` replaces
    the micro-benchmark (tests); layers with fewer than `min_sparsity` zeros are not timed."""
    if isinstance(min_speedup, bool) or not isinstance(min_speedup, (int, float)) or not min_speedup > 0:
        raise ValueError(f"min_speedup must be a number > 0, got {min_speedup!r}")
    if isinstance(min_sparsity, bool) or not isinstance(min_sparsity, (int, float)) or not 0 <= min_sparsity <= 1:
        raise ValueError(f"min_sparsity must be a number in [0, 1], got {min_sparsity!r}")
    if batch_size is None:
        batches = (1, 64)
    elif isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1:
        batches = (batch_size,)
    else:
        raise ValueError(f"batch_size must be a positive integer or None (1 and 64), got {batch_size!r}")
    timer = measure if timer is None else timer
    model._ensure_built()
    layers = _layers(model)
    report = [_decide(layer, batches, float(min_speedup), float(min_sparsity), timer)
              for layer in layers if _candidate(layer)]
    chosen = {d.layer for d in report if d.sparse}

    def sparse_twin(layer):  # a chosen layer's config under its sparse class
        entry = layer_config(layer)
        if entry["config"].get("name") in chosen:
            entry["class_name"] = _SPARSE_OF[entry["class_name"]]
        return layer_from_config(entry)

    smodel = clone_model(model, clone_function=sparse_twin)
    smodel.set_weights(model.get_weights())  # the sparse layers hold the same weights, in the same order
    if model.compiled:
        loss, metrics, loss_weights = model._compile_args
        smodel.compile(optimizer=type(model.optimizer)(), loss=loss, metrics=metrics, loss_weights=loss_weights,
                       weighted_metrics=getattr(model, "_weighted_metrics_arg", None))
    if getattr(model, "_quantized", False):
        smodel._quantized = True
    smodel.sparsify_report = report
    return smodel


def format_report(report):
    """The decisions as a table: layer, dtype, shape, sparsity, dense / sparse times per batch size."""
    rows = [("layer", "dtype", "shape", "sparsity", "batch", "dense us", "sparse us", "ratio", "kernel")]
    for d in report:
        shape = f"{d.shape[0]}x{d.shape[1]}"
        if not d.times:
            rows.append((d.layer, d.dtype, shape, f"{d.sparsity:.1%}", "-", "-", "-", "-", f"dense ({d.reason})"))
        for i, (b, (td, ts)) in enumerate(sorted(d.times.items())):
            kernel = ("sparse" if d.sparse else "dense") + ("" if d.sparse else f" ({d.reason})")
            rows.append((d.layer if i == 0 else "", d.dtype if i == 0 else "", shape if i == 0 else "",
                         f"{d.sparsity:.1%}" if i == 0 else "", str(b), f"{td * 1e6:.1f}", f"{ts * 1e6:.1f}",
                         f"{td / ts:.2f}" if ts > 0 else "inf", kernel if i == 0 else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def measure(layer, batch_size, min_time=0.005, rounds=5):
    """(dense_seconds, sparse_seconds) per call of this layer's dense and sparse native ops on random
    input of `batch_size` rows, each in a one-op program as a model runs it; the best of `rounds`
    alternating rounds of at least `min_time` seconds each, so both see the same machine load."""
    K, N = layer.kernel.shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, K)).astype(np.float32)
    bias = layer.bias.numpy() if layer.use_bias else None
    dense, sparse = _program(layer, K, N, bias, False), _program(layer, K, N, bias, True)
    out = np.empty((batch_size, N), np.float32)
    best = [math.inf, math.inf]
    for _ in range(rounds):
        for i, prog in enumerate((dense, sparse)):
            step = prog.predict_step
            step([x], 0, batch_size, [out])  # warm: scratch buffers, caches
            n, t0 = 0, time.perf_counter()
            while True:
                step([x], 0, batch_size, [out])
                n += 1
                t = time.perf_counter() - t0
                if t >= min_time:
                    break
            best[i] = min(best[i], t / n)
    return best[0], best[1]


# ---- helpers ---------------------------------------------------------------------------------------

def _layers(model):
    return [layer for layer in model.layers if not isinstance(layer, InputLayer)]


def _candidate(layer):
    return type(layer) in (Dense, QuantizedDense)


def _decide(layer, batches, min_speedup, min_sparsity, timer):
    quantized = isinstance(layer, QuantizedDense)
    w = layer.kernel.value
    sparsity = float((w == 0).sum()) / w.size
    common = dict(layer=layer.name, dtype="int8" if quantized else "float32", shape=tuple(w.shape),
                  sparsity=sparsity)
    if w.shape[0] > MAX_INPUT_DIM:
        return SparseDecision(**common, sparse=False, times={}, speedup=math.nan,
                              reason=f"input dimension {w.shape[0]} > {MAX_INPUT_DIM}")
    if sparsity < min_sparsity:
        return SparseDecision(**common, sparse=False, times={}, speedup=math.nan,
                              reason=f"sparsity {sparsity:.1%} < {min_sparsity:.0%}")
    times = {}
    for b in batches:
        td, ts = timer(layer, b)
        times[b] = (float(td), float(ts))
    speedup = min(td / ts if ts > 0 else math.inf for td, ts in times.values())
    faster = speedup >= min_speedup
    reason = "faster" if faster else f"sparse/dense speedup {speedup:.2f} < {min_speedup:g}"
    return SparseDecision(**common, sparse=faster, times=times, speedup=speedup, reason=reason)


def _program(layer, K, N, bias, sparse):
    """A one-op native program running `layer`'s dense or sparse kernel, bias included."""
    p = _core.Program()
    x_t, y_t = p.add_tensor(K, True), p.add_tensor(N)
    b = p.add_param(N, trainable=False) if bias is not None else -1
    # a function of one's own runs after either kernel: the op alone is timed
    act = activations.native_id("linear" if activations.is_custom(layer.activation) else layer.activation)
    w = layer.kernel.value
    if isinstance(layer, QuantizedDense):
        s = layer.kernel_scale.value
        if sparse:
            _core.add_qsparse_dense(p, x_t, y_t, w, s, b, act, layer.activation_scale)
        else:
            p.add_qdense(x_t, y_t, w, s, b, act, layer.activation_scale)
    elif sparse:
        _core.add_sparse_dense(p, x_t, y_t, w, b, act)
    else:
        k = p.add_param(K * N, trainable=False)
        p.add_dense(x_t, y_t, k, b, K, N, act)
    p.set_inputs([x_t])
    p.set_outputs([y_t])
    p.finalize()
    arena = p.params()
    if bias is not None:
        arena[b:b + N] = bias
    if not sparse and not isinstance(layer, QuantizedDense):
        arena[k:k + K * N] = w.reshape(-1)
    return p


__all__ = ["QuantizedSparseDense", "SparseDecision", "SparseDense", "format_report", "measure", "sparsify"]
