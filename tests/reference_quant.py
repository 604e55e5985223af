"""NumPy references for the int8 kernels (cpp/kernels/quant/quant.h): every float32 step as
quant.h writes it, integer products in int64; and `forced(isa)`, which runs a block on one int8
CPU path (bigcore.config.set_cpu_isa: each int8 path's name selects it).
"""

import contextlib

import numpy as np

import bigcore
from reference import ACT_IDS, act_forward

QISAS = ("ref", "avx2", "avxvnni", "avx512vnni")
SUPPORTED = [i for i in QISAS if i in bigcore.config.cpu_features()["supported"]]
ACT = ACT_IDS  # activation ids (common.h)


def int8_path():
    return bigcore.config.cpu_features()["paths"]["int8"]


@contextlib.contextmanager
def forced(isa):
    before = bigcore.config.cpu_features()["isa"]
    bigcore.config.set_cpu_isa(isa)
    try:
        assert int8_path() == isa
        yield isa
    finally:
        bigcore.config.set_cpu_isa(before)


def round_half_away(v):
    v = np.asarray(v, dtype=np.float64)  # exact for float32 inputs
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize_np(v, r):
    """clamp(round_half_away(v * r), -127, 127) with v * r in float32; r broadcasts."""
    with np.errstate(over="ignore"):  # v * r may overflow to +-inf: it clamps to +-127
        q = np.clip(np.float32(v) * np.float32(r), np.float32(-127), np.float32(127))
    return round_half_away(q).astype(np.int8)


def absmax_scale(amax):
    """(scale, r) for each max |v|: r = 127 / a, scale = a / 127; both 1 where r is not finite."""
    amax = np.asarray(amax, np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        r = np.float32(127) / amax
    ok = np.isfinite(r)
    t = np.where(ok, amax / np.float32(127), np.float32(1)).astype(np.float32)
    return t, np.where(ok, r, np.float32(1)).astype(np.float32)


def quantize_weights_np(w):
    """(W_q (K, N) int8, s (N) float32): per output column, symmetric."""
    s, r = absmax_scale(np.abs(w).max(axis=0))
    return quantize_np(w, r[None, :]), s


def quantize_rows_np(x, x_scale=0.0):
    """(x_q (M, K) int8, t (M) float32): per row; NaN/Inf rows get t = NaN and x_q = 0."""
    bad = ~np.isfinite(x).all(axis=1)
    safe = np.where(bad[:, None], np.float32(0), x).astype(np.float32)
    if x_scale == 0:
        t, r = absmax_scale(np.abs(safe).max(axis=1))
    else:
        t = np.full(len(x), x_scale, np.float32)
        r = np.float32(1) / t
    q = quantize_np(safe, r[:, None])
    return q, np.where(bad, np.float32(np.nan), t).astype(np.float32)


def epilogue_np(acc, t, s, b, act):
    """float(acc) * (t_m * s_n) + b_n, then relu: float32, in quant.h's order."""
    y = acc.astype(np.float32) * (t[:, None] * s[None, :])
    if b is not None:
        y = y + b[None, :]
    if act == ACT["relu"]:
        y = np.where(y < 0, np.float32(0), y)  # NaN passes
    return y.astype(np.float32)


def imatmul(xq, wq):
    return (xq.astype(np.int64) @ wq.astype(np.int64))


# ---- layers: int8 Dense and the int8 recurrences --------------------------------------------------


def qdense_forward(x, wq, bias, scale, activation="linear", x_scale=0.0):
    """QuantizedDense: x (..., K) float32 values, wq (K, N) int8, scale (N), bias (N) or None.
    Linear and relu are quant.h's float32 epilogue, exactly; other activations run on the linear
    result (the float kernels), here in float64."""
    x = np.asarray(x, np.float32)
    K, N = wq.shape
    xq, t = quantize_rows_np(x.reshape(-1, K), x_scale)
    b = None if bias is None else np.asarray(bias, np.float32)
    fused = activation if activation in ("linear", "relu") else "linear"
    y = epilogue_np(imatmul(xq, wq), t, np.asarray(scale, np.float32), b, ACT[fused]).reshape(x.shape[:-1] + (N,))
    if fused != activation:
        return act_forward(y, activation)
    return y


def qrnn_steps(kind, x, wq, rq, bias, scale, recurrent_scale, h_seq, mask=None, go_backwards=False, x_scale=0.0):
    """QuantizedLSTM / QuantizedGRU (activation tanh, recurrent_activation sigmoid) as cpp/qrecurrent.h
    computes them, with h_prev = the native output of the previous processed step (h_seq (B, T, U), in
    processing order: teacher forcing, tests/test_quant_recurrent.py says why). x (B, T, D) float32
    values; wq (D, G*U), rq (U, G*U) int8; bias (G*U) for LSTM, (2, G*U) for GRU, or None.
    Returns (each step's output (B, T, U) in processing order, the final cell state (B, U))."""
    x = np.asarray(x, np.float32)
    B, T, D = x.shape
    U, G = rq.shape[0], rq.shape[1] // rq.shape[0]
    if bias is None:
        bias = np.zeros((G * U,) if kind == "lstm" else (2, G * U), np.float32)
    bias = np.asarray(bias, np.float32)
    b_in = bias if kind == "lstm" else bias[0]
    xq, t = quantize_rows_np(x.reshape(B * T, D), x_scale)
    xp = epilogue_np(imatmul(xq, wq), t, np.asarray(scale, np.float32), b_in, ACT["linear"]).reshape(B, T, G * U)
    keep = np.ones((B, T), bool) if mask is None else np.asarray(mask, bool)

    def sig(v):
        return act_forward(v, "sigmoid")

    order = range(T - 1, -1, -1) if go_backwards else range(T)
    h_prev, c = np.zeros((B, U), np.float32), np.zeros((B, U))
    outs = []
    for step, ti in enumerate(order):
        hq, th = quantize_rows_np(h_prev)
        rec = epilogue_np(imatmul(hq, rq), th, np.asarray(recurrent_scale, np.float32), None, ACT["linear"])
        if kind == "lstm":
            z = (xp[:, ti] + rec).astype(np.float64)  # Z += h R in float32, as the GEMM's beta = 1
            i, f, g, o = (z[:, k * U:(k + 1) * U] for k in range(4))
            c_new = sig(f) * c + sig(i) * np.tanh(g)
            h_new = sig(o) * np.tanh(c_new)
        else:
            a, r = xp[:, ti].astype(np.float64), rec.astype(np.float64) + bias[1]
            zg = sig(a[:, :U] + r[:, :U])
            rg = sig(a[:, U:2 * U] + r[:, U:2 * U])
            hh = np.tanh(a[:, 2 * U:] + rg * r[:, 2 * U:])
            h_new, c_new = zg * h_prev + (1 - zg) * hh, c
        k = keep[:, ti][:, None]
        outs.append(np.where(k, h_new, h_prev))
        c = np.where(k, c_new, c)
        h_prev = np.asarray(h_seq, np.float32)[:, step]
    return np.stack(outs, axis=1), c
