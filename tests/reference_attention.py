"""NumPy float64 references for attention and normalization (tests/test_attention_kernels.py and
the Transformer layer tests).

Layouts as the native kernels: q (B, Tq, Nq, H), k (B, S, Nkv, H), v (B, S, Nkv, Hv) -> o (B, Tq,
Nq, Hv), weights p (B, Nq, Tq, S); query head n reads key/value head n // (Nq // Nkv). Masks are
boolean-like (nonzero = allowed). A row that may attend to nothing gives 0 (zero_full) or the mean
of every value, as Keras's two attention paths do (kernels/attention/attention.h).
"""

import numpy as np


def allowed(B, Tq, S, qmask=None, kmask=None, kmask2=None, amask=None, causal=False):
    """(B, 1, Tq, S) bools: which (query, key) pairs the masks allow."""
    a = np.ones((B, Tq, S), bool)
    if qmask is not None:
        a &= np.asarray(qmask, bool)[:, :, None]
    for km in (kmask, kmask2):
        if km is not None:
            a &= np.asarray(km, bool)[:, None, :]
    if amask is not None:
        a &= np.asarray(amask, bool)
    if causal:
        a &= np.tril(np.ones((Tq, S), bool))[None]
    return a[:, None]


def _heads(k, v, Nq):
    g = Nq // k.shape[2]
    return np.repeat(k, g, axis=2), np.repeat(v, g, axis=2)


def attention_forward(q, k, v, scale, masks=None, zero_full=False, keep=None):
    """(o, p, full): the output, the softmax weights (before dropout) and the rows that attend to
    nothing. keep: (B, Nq, Tq, S) dropout factors (0 or 1 / (1 - rate)) or None."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, Tq, Nq, _ = q.shape
    S = k.shape[1]
    kk, vv = _heads(k, v, Nq)
    s = np.einsum("binh,bjnh->bnij", q * scale, kk)
    allow = np.broadcast_to(allowed(B, Tq, S, **(masks or {})), s.shape)
    full = ~allow.any(-1)
    m = np.where(allow, s, -np.inf).max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(allow, np.exp(s - m), 0.0)
    p = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    p[full] = 0.0 if zero_full else 1.0 / S
    pd = p if keep is None else np.where(full[..., None], p, p * keep)
    return np.einsum("bnij,bjnh->binh", pd, vv), p, full


def attention_backward(dout, q, k, v, scale, masks=None, zero_full=False, keep=None, dprobs=None):
    """(dq, dk, dv) of attention_forward's o (and p, when dprobs is given)."""
    q, k, v, dout = (np.asarray(a, np.float64) for a in (q, k, v, dout))
    B, Tq, Nq, H = q.shape
    S, Nkv, Hv = k.shape[1], k.shape[2], v.shape[3]
    g = Nq // Nkv
    kk, vv = _heads(k, v, Nq)
    _, p, full = attention_forward(q, k, v, scale, masks, zero_full, keep)
    pd = p if keep is None else np.where(full[..., None], p, p * keep)
    dvv = np.einsum("bnij,binh->bjnh", pd, dout)
    dp = np.einsum("binh,bjnh->bnij", dout, vv)
    if keep is not None:
        dp = dp * keep
    if dprobs is not None:
        dp = dp + dprobs
    ds = p * (dp - (p * dp).sum(-1, keepdims=True))
    ds[full] = 0.0
    dq = np.einsum("bnij,bjnh->binh", ds, kk) * scale
    dkk = np.einsum("bnij,binh->bjnh", ds, q) * scale
    return dq, dkk.reshape(B, S, Nkv, g, H).sum(3), dvv.reshape(B, S, Nkv, g, Hv).sum(3)


def norm_forward(x, res=None, gamma=None, beta=None, eps=1e-3, rms=False):
    """Layer (or RMS) normalization over the last axis of x (+ res)."""
    s = np.asarray(x, np.float64) + (0.0 if res is None else np.asarray(res, np.float64))
    if rms:
        y = s / np.sqrt((s * s).mean(-1, keepdims=True) + eps)
    else:
        mu = s.mean(-1, keepdims=True)
        y = (s - mu) / np.sqrt(((s - mu) ** 2).mean(-1, keepdims=True) + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def norm_backward(dy, x, res=None, gamma=None, eps=1e-3, rms=False):
    """(ds, dgamma, dbeta) of norm_forward: ds is the gradient of x and of res alike."""
    s = np.asarray(x, np.float64) + (0.0 if res is None else np.asarray(res, np.float64))
    dy = np.asarray(dy, np.float64)
    mu = 0.0 if rms else s.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((s - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (s - mu) * rstd
    g = dy * (1.0 if gamma is None else gamma)
    a = 0.0 if rms else g.mean(-1, keepdims=True)
    ds = rstd * (g - a - xhat * (g * xhat).mean(-1, keepdims=True))
    axes = tuple(range(dy.ndim - 1))
    return ds, (dy * xhat).sum(axes), dy.sum(axes)


def projections_forward(w, query, value, key, num_heads, key_dim, value_dim, use_bias=True):
    """q, k, v after Keras's EinsumDense projections (weights in MultiHeadAttention's order)."""
    it = iter(w)
    out = []
    for x in (query, key, value):
        kernel = next(it)
        y = np.einsum("btd,dnh->btnh", np.asarray(x, np.float64), kernel)
        out.append(y + next(it) if use_bias else y)
    return out, list(it)


def mha_forward(w, xs, masks, num_heads, key_dim, value_dim=None, use_bias=True, causal=False, zero_full=False,
                scores=False, num_kv_heads=None):
    """MultiHeadAttention (or GroupQueryAttention: num_kv_heads) as Keras computes it, float64.
    xs: [query, value] or [query, value, key]; masks: the inputs' Keras masks (or None)."""
    query, value = xs[0], xs[1]
    key = xs[2] if len(xs) > 2 else value
    qm, vm = masks[0], masks[1]
    km = masks[2] if len(xs) > 2 else None
    (q, k, v), rest = projections_forward(w, query, value, key, num_heads, key_dim, value_dim or key_dim, use_bias)
    m = {"qmask": qm, "kmask": vm, "kmask2": km, "causal": causal}
    o, p, _ = attention_forward(q, k, v, 1.0 / np.sqrt(key_dim), m, zero_full)
    kernel = rest[0]
    y = np.einsum("btnh,nh...->bt...", o, kernel)
    if use_bias:
        y = y + rest[1]
    return [y, p] if scores else y
