"""The attention and normalization kernels (cpp/kernels/attention, cpp/kernels/norm) on numpy arrays:
forward and backward against float64 references (tests/reference_attention.py), the references'
gradients against central differences, every CPU path (same bits on each), and 1 / 2 / 3 threads
bit-identical. Sizes are odd and cross the kernels' tiles (32 query rows, 64 keys) so tails run."""

import numpy as np
import pytest

import bigcore
import reference as ref
import reference_attention as aref
from bigcore._native import _core

SCALE = 0.37

# (B, Tq, S, Nq, Nkv, H, Hv)
SHAPES = {
    "tiny": (2, 5, 7, 2, 2, 3, 4),
    "gqa": (2, 6, 5, 4, 2, 3, 2),
    "tiles": (2, 37, 70, 2, 1, 5, 3),
    "long": (1, 100, 130, 2, 2, 17, 16),
}


def _data(shape, seed=0):
    B, Tq, S, Nq, Nkv, H, Hv = shape
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return rng, f(B, Tq, Nq, H), f(B, S, Nkv, H), f(B, S, Nkv, Hv)


def _masks(kind, shape, rng):
    """Mask arrays for the kernel (float32 0/1) and the same as keyword arguments of the reference."""
    B, Tq, S = shape[:3]
    m = {}
    if "q" in kind:
        m["qmask"] = (rng.random((B, Tq)) > 0.3).astype(np.float32)
        m["qmask"][0, 0] = 0.0
    if "k" in kind:
        m["kmask"] = (rng.random((B, S)) > 0.3).astype(np.float32)
        m["kmask"][-1] = 0.0  # one sample sees no key: every row attends to nothing
    if "2" in kind:
        m["kmask2"] = (rng.random((B, S)) > 0.2).astype(np.float32)
    if "a" in kind:
        m["amask"] = (rng.random((B, Tq, S)) > 0.4).astype(np.float32)
    if "c" in kind:
        m["causal"] = True
    return m


def _forward(q, k, v, masks, zero_full=False, probs=False, dropout=0.0, seed=0, path="auto"):
    return _core.attention_forward(q, k, v, SCALE, zero_full_rows=zero_full, return_probs=probs, dropout=dropout,
                                   seed=seed, stream=3, step=0, path=path, **masks)


def _close_grads(got, want, rtol=1e-4):
    for name, g, w in zip("qkv", got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=2e-5 * max(1.0, np.abs(w).max()), err_msg=f"d{name}")


def _forward_backward_against_reference(dims, mask, zero_full, seed=0, path="auto"):
    """The kernels on `path` against the float64 reference, on _data(dims, seed) with masks of kind
    `mask`: the output, the weights and which rows attend to nothing (lse -inf); the gradients
    without and with a gradient of the weights."""
    rng, q, k, v = _data(dims, seed=seed)
    masks = _masks(mask, dims, rng)
    o, lse, probs = _forward(q, k, v, masks, zero_full, probs=True, path=path)
    want, p, full = aref.attention_forward(q, k, v, SCALE, masks, zero_full)
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(probs, p, rtol=1e-5, atol=1e-7)
    assert np.all(np.isneginf(lse) == full)
    dout = rng.standard_normal(o.shape).astype(np.float32)
    dprobs = rng.standard_normal(probs.shape).astype(np.float32)
    for dp in (None, dprobs):
        got = _core.attention_backward(dout, q, k, v, o, lse, SCALE, zero_full_rows=zero_full, probs=probs,
                                       dprobs=dp, path=path, **masks)
        _close_grads(got, aref.attention_backward(dout, q, k, v, SCALE, masks, zero_full, dprobs=dp))


def _keep(shape, rate, seed, row0=0):
    """The kernel's dropout factors: draw ((row0 + b) * Nq + n) * Tq + i) * S + j of Dropout's stream
    keyed (seed, 3, step 0) kept when >= rate (reference.py's NumPy hash)."""
    B, Tq, S, Nq = shape[:4]
    first = np.uint64(row0 * Nq * Tq * S)
    u = ref.dropout_bits24(_core.rng_key(seed, 3, 0), np.arange(B * Nq * Tq * S, dtype=np.uint64) + first) / 2.0 ** 24
    return np.where(u.reshape(B, Nq, Tq, S) >= rate, 1.0 / (1.0 - np.float32(rate)), 0.0).astype(np.float64)


MASK_KINDS = ["none", "c", "qk", "qkc", "k2a", "qk2ac"]


@pytest.mark.parametrize("zero_full", [False, True], ids=["uniform_rows", "zero_rows"])
@pytest.mark.parametrize("mask", MASK_KINDS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_attention_forward_backward(isa, shape, mask, zero_full):
    _forward_backward_against_reference(SHAPES[shape], mask, zero_full)


@pytest.mark.parametrize("zero_full", [False, True], ids=["uniform_rows", "zero_rows"])
@pytest.mark.parametrize("mask", ["none", "qkc", "k2a"])
def test_reference_gradients_are_central_differences(mask, zero_full):
    """The float64 reference backward (the native one's yardstick) against central differences of its
    forward, through the weights too (dprobs), with dropout factors."""
    dims = SHAPES["gqa"]
    rng, q, k, v = _data(dims, seed=1)
    masks = _masks(mask, dims, rng)
    keep = _keep(dims, 0.3, seed=4)
    w_o = rng.standard_normal(q.shape[:3] + (v.shape[3],))
    w_p = rng.standard_normal((dims[0], dims[3], dims[1], dims[2]))

    def loss(qq, kk, vv):
        o, p, _ = aref.attention_forward(qq, kk, vv, SCALE, masks, zero_full, keep)
        return (o * w_o).sum() + (p * w_p).sum()

    args = [a.astype(np.float64) for a in (q, k, v)]
    want = aref.attention_backward(w_o, *args, SCALE, masks, zero_full, keep, dprobs=w_p)
    for i, name in enumerate("qkv"):
        fd = ref.numerical_grad(lambda x: loss(*(args[:i] + [x] + args[i + 1:])), args[i])
        np.testing.assert_allclose(want[i], fd, rtol=1e-6, atol=1e-7, err_msg=f"d{name}")


@pytest.mark.parametrize("mask", ["none", "qkc"])
def test_attention_dropout(isa, mask):
    """Dropout on the weights: the kernel's keep pattern is the counter-based stream's, the output and
    the gradients follow the reference with the same factors; another step draws another pattern."""
    dims = SHAPES["tiles"]
    rng, q, k, v = _data(dims, seed=2)
    masks = _masks(mask, dims, rng)
    rate = 0.25
    o, lse, _ = _forward(q, k, v, masks, zero_full=True, dropout=rate, seed=9)
    keep = _keep(dims, rate, seed=9)
    want, _, _ = aref.attention_forward(q, k, v, SCALE, masks, True, keep)
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=2e-6)
    dout = rng.standard_normal(o.shape).astype(np.float32)
    got = _core.attention_backward(dout, q, k, v, o, lse, SCALE, zero_full_rows=True, dropout=rate, seed=9,
                                   stream=3, step=0, **masks)
    _close_grads(got, aref.attention_backward(dout, q, k, v, SCALE, masks, True, keep))
    other = _core.attention_forward(q, k, v, SCALE, dropout=rate, seed=9, stream=3, step=1, **masks)[0]
    assert not np.allclose(other, o)


def _same_bits_on_every_path_and_thread_count(supported_isas, run):
    """run() -> a list of bytes: the same on every CPU path in supported_isas on 1, 2 and 3 threads (the
    thread count restored after; the caller's restore_isa fixture restores the path)."""
    results = {}
    before = bigcore.config.get_num_threads()
    try:
        for isa in supported_isas:
            bigcore.config.set_cpu_isa(isa)
            for n in (1, 2, 3):
                bigcore.config.set_num_threads(n)
                results[isa, n] = run()
    finally:
        bigcore.config.set_num_threads(before)
    first = next(iter(results.values()))
    for key, r in results.items():
        assert r == first, f"{key} differs from {next(iter(results))}"


def _all_results(dims, mask, probs, dropout=0.0):
    rng, q, k, v = _data(dims, seed=3)
    masks = _masks(mask, dims, rng)
    o, lse, p = _forward(q, k, v, masks, probs=probs, dropout=dropout, seed=5)
    dout = rng.standard_normal(o.shape).astype(np.float32)
    dp = rng.standard_normal(p.shape).astype(np.float32) if probs else None
    grads = _core.attention_backward(dout, q, k, v, o, lse, SCALE, probs=p, dprobs=dp, dropout=dropout, seed=5,
                                     stream=3, **masks)
    return [a.tobytes() for a in (o, lse) + tuple(grads) + ((p,) if probs else ())]


@pytest.mark.parametrize("mask,probs,dropout", [("none", False, 0.0), ("qkc", True, 0.0), ("k2a", False, 0.2)])
def test_attention_threads_and_paths_bit_identical(restore_isa, supported_isas, mask, probs, dropout):
    dims = (3, 70, 67, 4, 2, 9, 7)
    _same_bits_on_every_path_and_thread_count(supported_isas, lambda: _all_results(dims, mask, probs, dropout))


def test_attention_rejects_bad_shapes():
    q3 = np.zeros((2, 3, 3, 4), np.float32)
    q = np.zeros((2, 3, 2, 4), np.float32)
    k = np.zeros((2, 5, 2, 4), np.float32)
    with pytest.raises(ValueError, match="multiple of the key/value heads"):
        _core.attention_forward(q3, k, k, 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        _core.attention_forward(q, k[:1].copy(), k, 1.0)
    with pytest.raises(ValueError, match="kmask must have shape"):
        _core.attention_forward(q, k, k, 1.0, kmask=np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="dropout"):
        _core.attention_forward(q, k, k, 1.0, dropout=1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.attention_forward(q3[:, :, :2], k, k, 1.0)


# ---------------------------------------------------------------- normalization


NORM_CASES = [(7, 5, True, True), (70, 33, True, False), (130, 64, False, False), (3, 1, True, True)]


@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize("rows,C,scale,center", NORM_CASES)
def test_norm_forward_backward(isa, rows, C, scale, center, rms, residual):
    rng = np.random.default_rng(rows * C)
    x = (3.0 * rng.standard_normal((rows, C)) + 1.5).astype(np.float32)
    res = rng.standard_normal((rows, C)).astype(np.float32) if residual else None
    gamma = rng.standard_normal(C).astype(np.float32) if scale else None
    beta = None if rms or not center else rng.standard_normal(C).astype(np.float32)
    eps = 1e-6 if rms else 1e-3
    y, mean, rstd = _core.norm_forward(x, res, gamma, beta, eps, rms)
    np.testing.assert_allclose(y, aref.norm_forward(x, res, gamma, beta, eps, rms), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal((rows, C)).astype(np.float32)
    dx, dg, db = _core.norm_backward(dy, x, res, mean, rstd, gamma, rms)
    ds, wg, wb = aref.norm_backward(dy, x, res, gamma, eps, rms)
    np.testing.assert_allclose(dx, ds, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(ds).max()))
    np.testing.assert_allclose(dg, wg, rtol=1e-4, atol=1e-4)
    if not rms:
        np.testing.assert_allclose(db, wb, rtol=1e-5, atol=1e-4)
    else:
        assert db is None


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
def test_norm_reference_gradients_are_central_differences(rms):
    rng = np.random.default_rng(7)
    x, res = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    gamma, beta = rng.standard_normal(6), None if rms else rng.standard_normal(6)
    w = rng.standard_normal((4, 6))
    ds, dg, db = aref.norm_backward(w, x, res, gamma, 1e-3, rms)
    f = lambda xx, rr, gg, bb: (aref.norm_forward(xx, rr, gg, bb, 1e-3, rms) * w).sum()  # noqa: E731
    np.testing.assert_allclose(ds, ref.numerical_grad(lambda a: f(a, res, gamma, beta), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ds, ref.numerical_grad(lambda a: f(x, a, gamma, beta), res), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dg, ref.numerical_grad(lambda a: f(x, res, a, beta), gamma), rtol=1e-6, atol=1e-8)
    if not rms:
        np.testing.assert_allclose(db, ref.numerical_grad(lambda a: f(x, res, gamma, a), beta), rtol=1e-6, atol=1e-8)


def _lane_sum32(v):
    """norm.h's row sum in float32, every rounding as the kernels do it: 16 lanes (lane l adds the
    elements i % 16 == l in order, from +0), then the fixed tree (lanes l + 8, l + 4, then
    (c0 + c2) + (c1 + c3))."""
    R, C = v.shape
    acc = np.zeros((R, 16), np.float32)
    for i in range(C):
        acc[:, i % 16] += v[:, i]
    b = acc[:, :8] + acc[:, 8:]
    c = b[:, :4] + b[:, 4:]
    return (c[:, 0] + c[:, 2]) + (c[:, 1] + c[:, 3])


def _norm_fixed_order(x, res, gamma, beta, dy, eps, rms):
    """The kernels' forward and backward as a float32 program in their operation order (norm.h,
    body.h): the same bits are expected, not just close values."""
    f = np.float32
    inv_c = f(1.0) / f(x.shape[1])
    s = x + res if res is not None else x.copy()
    mu = np.zeros(len(x), np.float32) if rms else _lane_sum32(s) * inv_c
    s = s if rms else s - mu[:, None]
    rstd = f(1.0) / np.sqrt(_lane_sum32(s * s) * inv_c + f(eps))
    y = s * rstd[:, None]
    y = y * gamma if gamma is not None else y
    y = y + beta if beta is not None else y
    base = x + res if res is not None else x
    xhat = (base - mu[:, None]) * rstd[:, None]
    g = dy * gamma if gamma is not None else dy
    a = np.zeros(len(x), np.float32) if rms else _lane_sum32(g) * inv_c
    b = _lane_sum32(g * xhat) * inv_c
    ds = ((g - a[:, None]) - xhat * b[:, None]) * rstd[:, None]
    sums = []
    for term in (dy * xhat, dy):  # per block of 64 rows in row order, then the blocks in order
        out = np.zeros(x.shape[1], np.float32)
        for r0 in range(0, len(x), 64):
            part = np.zeros(x.shape[1], np.float32)
            for r in range(r0, min(r0 + 64, len(x))):
                part += term[r]
            out += part
        sums.append(out)
    return y, mu, rstd, ds, sums[0], sums[1]


# Widths the row-in-registers path takes (16 V, V <= 8) and the generic loops around them.
@pytest.mark.parametrize("C", [16, 32, 48, 128, 33, 144])
@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
def test_norm_bits_follow_the_documented_order(isa, C, rms):
    rng = np.random.default_rng(C)
    rows = 70
    x = (2.0 * rng.standard_normal((rows, C)) + 0.7).astype(np.float32)
    res = rng.standard_normal((rows, C)).astype(np.float32)
    gamma = rng.standard_normal(C).astype(np.float32)
    beta = None if rms else rng.standard_normal(C).astype(np.float32)
    dy = rng.standard_normal((rows, C)).astype(np.float32)
    for r in (res, None):
        y, mean, rstd = _core.norm_forward(x, r, gamma, beta, 1e-5, rms)
        dx, dg, db = _core.norm_backward(dy, x, r, mean, rstd, gamma, rms)
        wy, wmu, wrstd, wds, wg, wb = _norm_fixed_order(x, r, gamma, beta, dy, 1e-5, rms)
        for got, want in ((y, wy), (rstd, wrstd), (dx, wds), (dg, wg)) + (() if rms else ((mean, wmu), (db, wb))):
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_norm_threads_and_paths_bit_identical(restore_isa, supported_isas):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((333, 77)).astype(np.float32)
    res = rng.standard_normal((333, 77)).astype(np.float32)
    gamma, beta = rng.standard_normal(77).astype(np.float32), rng.standard_normal(77).astype(np.float32)
    dy = rng.standard_normal((333, 77)).astype(np.float32)

    def run():
        out = []
        for rms in (False, True):
            y, mean, rstd = _core.norm_forward(x, res, gamma, None if rms else beta, 1e-3, rms)
            grads = _core.norm_backward(dy, x, res, mean, rstd, gamma, rms)
            out += [a.tobytes() for a in (y, mean, rstd) + tuple(g for g in grads if g is not None)]
        return out

    _same_bits_on_every_path_and_thread_count(supported_isas, run)
