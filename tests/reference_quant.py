"""NumPy references for the int8 kernels (cpp/kernels/quant/quant.h): every float32 step as
quant.h writes it, integer products in int64; and `forced(isa)`, which runs a block on one int8
CPU path (bigcore.config.set_cpu_isa: each int8 path's name selects it).
"""

import contextlib

import numpy as np

import bigcore

QISAS = ("ref", "avx2", "avxvnni", "avx512vnni")
SUPPORTED = [i for i in QISAS if i in bigcore.config.cpu_features()["supported"]]
ACT = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4}  # activation ids (common.h)


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
