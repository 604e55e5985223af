"""The attention kernels' materialized-tile path (cpp/kernels/attention, AttnPath::Tile): forward and
backward against the float64 reference (tests/reference_attention.py) and against central
differences of the kernel's own forward, on every CPU path; the output the same whether or not the
weights are returned; agreement with the flash path on the same inputs; 1 / 2 / 3 threads and every
CPU path bit-identical; the vectorized exp against float64; which shapes take it."""

import numpy as np
import pytest

import reference_attention as aref
from bigcore._native import _core
from test_attention_kernels import (SCALE, _close_grads, _data, _forward, _forward_backward_against_reference, _keep,
                                    _masks, _same_bits_on_every_path_and_thread_count)

# (B, Tq, S, Nq, Nkv, H, Hv): odd sizes so the vector tails run; GQA; Tq < S, Tq > S, Tq < 16 lanes.
SHAPES = {
    "gqa": (2, 19, 23, 4, 2, 3, 5),
    "wide": (2, 37, 70, 2, 1, 5, 3),
    "tall": (1, 66, 17, 2, 2, 16, 16),
    "narrow": (3, 5, 9, 1, 1, 4, 4),
}
MASK_KINDS = ["none", "c", "qk", "qkc", "k2a", "qk2ac"]


def _tile_forward(q, k, v, masks, zero_full=False, probs=False, dropout=0.0, seed=0, path="tile"):
    return _forward(q, k, v, masks, zero_full, probs, dropout, seed, path)


def _backward(dout, q, k, v, o, lse, masks, zero_full=False, probs=None, dprobs=None, dropout=0.0, seed=0,
              path="tile"):
    return _core.attention_backward(dout, q, k, v, o, lse, SCALE, zero_full_rows=zero_full, probs=probs,
                                    dprobs=dprobs, dropout=dropout, seed=seed, stream=3, step=0, path=path,
                                    **masks)


@pytest.mark.parametrize("zero_full", [False, True], ids=["uniform_rows", "zero_rows"])
@pytest.mark.parametrize("mask", MASK_KINDS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_tile_forward_backward_against_reference(isa, shape, mask, zero_full):
    _forward_backward_against_reference(SHAPES[shape], mask, zero_full, seed=11, path="tile")


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("mask", MASK_KINDS)
def test_tile_output_same_bits_whether_or_not_it_returns_the_weights(isa, mask, dropout):
    """The forward leaves the weights unnormalized and scales the output by 1 / l instead; the
    returned weights are normalized on their way out. Asking for them changes no bit of o or lse,
    and they sum to 1 over the keys (0 or uniform in a row that attends to nothing)."""
    dims = SHAPES["wide"]
    rng, q, k, v = _data(dims, seed=15)
    masks = _masks(mask, dims, rng)
    with_p = _tile_forward(q, k, v, masks, probs=True, dropout=dropout, seed=4)
    plain = _tile_forward(q, k, v, masks, probs=False, dropout=dropout, seed=4)
    assert plain[2] is None
    for name, a, b in zip(["o", "lse"], with_p[:2], plain[:2]):
        np.testing.assert_array_equal(a, b, err_msg=name)
    full = np.isneginf(with_p[1])
    sums = with_p[2].astype(np.float64).sum(-1)
    np.testing.assert_allclose(sums[~full], 1.0, rtol=1e-5)


@pytest.mark.parametrize("path", ["tile", "flash"])
def test_dropout_draws_across_a_multiple_of_2_32(isa, path):
    """A batch whose draws' indices cross 2^32 (row0: its first row in a data-parallel batch): the
    kernels' vectors there take the scalar draws, and both paths match the reference's factors."""
    dims = SHAPES["wide"]
    B, Tq, S, Nq = dims[:4]
    row0 = (1 << 32) // (Nq * Tq * S)  # the crossing falls inside row 0's heads or between rows
    rng, q, k, v = _data(dims, seed=5)
    keep = _keep(dims, 0.3, seed=9, row0=row0)
    assert (np.uint64(row0 * Nq * Tq * S) >> np.uint64(32)) != (np.uint64((row0 + B) * Nq * Tq * S) >> np.uint64(32))
    o, lse, _ = _core.attention_forward(q, k, v, SCALE, zero_full_rows=True, dropout=0.3, seed=9, stream=3, step=0,
                                        path=path, row0=row0)
    want, _, _ = aref.attention_forward(q, k, v, SCALE, {}, True, keep)
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=2e-6)
    dout = rng.standard_normal(o.shape).astype(np.float32)
    got = _core.attention_backward(dout, q, k, v, o, lse, SCALE, zero_full_rows=True, dropout=0.3, seed=9, stream=3,
                                   step=0, path=path, row0=row0)
    _close_grads(got, aref.attention_backward(dout, q, k, v, SCALE, {}, True, keep))


@pytest.mark.parametrize("mask", ["none", "qkc", "k2a"])
def test_tile_dropout_follows_the_flash_paths_keep_pattern(isa, mask):
    """The same counter-based draws as the flash path (the keep factor of weight (b, n, i, j) is draw
    ((b * Nq + n) * Tq + i) * S + j): the reference with those factors matches both paths."""
    dims = SHAPES["wide"]
    rng, q, k, v = _data(dims, seed=12)
    masks = _masks(mask, dims, rng)
    rate = 0.3
    keep = _keep(dims, rate, seed=9)
    o, lse, _ = _tile_forward(q, k, v, masks, zero_full=True, dropout=rate, seed=9)
    want, _, _ = aref.attention_forward(q, k, v, SCALE, masks, True, keep)
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=2e-6)
    dout = rng.standard_normal(o.shape).astype(np.float32)
    want = aref.attention_backward(dout, q, k, v, SCALE, masks, True, keep)
    _close_grads(_backward(dout, q, k, v, o, lse, masks, True, dropout=rate, seed=9), want)
    flash = _core.attention_forward(q, k, v, SCALE, zero_full_rows=True, dropout=rate, seed=9, stream=3, step=0,
                                    path="flash", **masks)[0]
    np.testing.assert_allclose(o, flash, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask", ["none", "qkc", "k2a"])
def test_tile_gradients_are_central_differences_of_its_forward(mask):
    """The tile backward against central differences of the tile forward itself (float32, so a
    loose tolerance), through a loss on the output and on the weights, with dropout."""
    dims = (1, 17, 19, 2, 1, 3, 4)
    rng, q, k, v = _data(dims, seed=13)
    masks = _masks(mask, dims, rng)
    w_o = rng.standard_normal((dims[0], dims[1], dims[3], dims[6])).astype(np.float32)
    w_p = rng.standard_normal((dims[0], dims[3], dims[1], dims[2])).astype(np.float32)

    def loss(qq, kk, vv):
        o, _, p = _tile_forward(qq, kk, vv, masks, probs=True, dropout=0.2, seed=3)
        return float((o.astype(np.float64) * w_o).sum() + (p.astype(np.float64) * w_p).sum())

    o, lse, p = _tile_forward(q, k, v, masks, probs=True, dropout=0.2, seed=3)
    got = _backward(w_o, q, k, v, o, lse, masks, probs=p, dprobs=w_p, dropout=0.2, seed=3)
    args = [q, k, v]
    eps = 1e-2
    for i, name in enumerate("qkv"):
        x = args[i]
        flat = x.reshape(-1)
        for idx in rng.choice(flat.size, size=min(12, flat.size), replace=False):
            old = flat[idx]
            flat[idx] = old + eps
            up = loss(*args)
            flat[idx] = old - eps
            down = loss(*args)
            flat[idx] = old
            fd = (up - down) / (2 * eps)
            g = got[i].reshape(-1)[idx]
            assert abs(g - fd) <= 2e-2 * max(1.0, abs(fd)), f"d{name}[{idx}]: {g} vs {fd}"


@pytest.mark.parametrize("zero_full", [False, True], ids=["uniform_rows", "zero_rows"])
@pytest.mark.parametrize("mask,dropout", [("none", 0.0), ("c", 0.0), ("qk2ac", 0.0), ("qkc", 0.25)])
@pytest.mark.parametrize("shape", ["gqa", "tall"])
def test_tile_and_flash_agree(shape, mask, dropout, zero_full):
    dims = SHAPES[shape]
    rng, q, k, v = _data(dims, seed=14)
    masks = _masks(mask, dims, rng)
    res = {}
    for path in ("flash", "tile"):
        o, lse, p = _tile_forward(q, k, v, masks, zero_full, probs=True, dropout=dropout, seed=2, path=path)
        dout = np.random.default_rng(1).standard_normal(o.shape).astype(np.float32)
        dp = np.random.default_rng(2).standard_normal(p.shape).astype(np.float32)
        res[path] = (o, lse, p) + tuple(_backward(dout, q, k, v, o, lse, masks, zero_full, p, dp, dropout=dropout,
                                                  seed=2, path=path))
    for name, a, b in zip(["o", "lse", "probs", "dq", "dk", "dv"], res["flash"], res["tile"]):
        np.testing.assert_allclose(b, a, rtol=2e-6, atol=1e-6 * np.abs(a[np.isfinite(a)]).max(initial=1.0),
                                   err_msg=name)


@pytest.mark.parametrize("mask,probs,dropout",
                         [("none", False, 0.0), ("qkc", True, 0.0), ("k2a", True, 0.2), ("qk2ac", False, 0.1)])
def test_tile_threads_and_paths_bit_identical(restore_isa, supported_isas, mask, probs, dropout):
    dims = (3, 45, 38, 4, 2, 9, 7)
    rng, q, k, v = _data(dims, seed=15)
    masks = _masks(mask, dims, rng)
    dout = rng.standard_normal((3, 45, 4, 7)).astype(np.float32)
    dpr = rng.standard_normal((3, 4, 45, 38)).astype(np.float32) if probs else None

    def run():
        o, lse, p = _tile_forward(q, k, v, masks, probs=probs, dropout=dropout, seed=5)
        grads = _backward(dout, q, k, v, o, lse, masks, probs=p, dprobs=dpr, dropout=dropout, seed=5)
        return [a.tobytes() for a in (o, lse) + tuple(grads) + ((p,) if probs else ())]

    _same_bits_on_every_path_and_thread_count(supported_isas, run)


def test_exp_is_accurate_on_every_path(isa):
    """The tile path's vectorized exp: within 2 float32 ulps of float64 exp over the range a softmax
    uses, odd lengths so the vector tail runs."""
    x = np.concatenate([np.linspace(-87.0, 88.0, 200_001), np.linspace(-1e-3, 1e-3, 1001), [0.0, -0.0]])
    x = x.astype(np.float32)
    got = _core.attention_exp(x)
    want = np.exp(x.astype(np.float64))
    rel = np.abs(got - want) / want
    assert rel.max() < 2.5e-7, rel.max()
    assert got[-1] == 1.0 and got[-2] == 1.0
    edge = _core.attention_exp(np.array([-200.0, 200.0, np.nan], np.float32))
    assert 0.0 < edge[0] < 2e-38 and edge[1] == np.inf and np.isnan(edge[2])  # clamped below, overflows above


def test_which_shapes_take_the_tile_path():
    assert _core.attention_uses_tile(32, 200, 200, 2, 2, 16, 16)  # the keras-io text classifier
    assert _core.attention_uses_tile(2, 16, 16, 2, 2, 8, 8)
    assert not _core.attention_uses_tile(1, 1, 64, 4, 4, 32, 32)  # a decoding step: one query
    assert not _core.attention_uses_tile(1, 1024, 1024, 4, 4, 32, 32)  # too long: flash


def test_unknown_path_is_refused():
    _, q, k, v = _data(SHAPES["narrow"])
    with pytest.raises(ValueError, match="'auto', 'flash' or 'tile'"):
        _core.attention_forward(q, k, v, SCALE, path="fast")


@pytest.mark.parametrize("path,T", [("tile", 20), ("flash", 20), ("flash", 300)])
def test_a_nan_score_row_gives_nan_not_an_empty_row(isa, path, T):
    """A query row whose every score is NaN once took the 'attends to nothing' branch (the row max
    skips NaN, so it stayed -inf) and gave a finite output: NaN in must be NaN out, on both paths."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, T, 1, 4)).astype(np.float32) for _ in range(3))
    q[0, 3, 0, 1] = np.nan
    o, lse, p = _core.attention_forward(q, k, v, SCALE, return_probs=True, path=path)
    assert np.isnan(o[0, 3]).all() and np.isnan(lse[0, 0, 3]) and np.isnan(p[0, 0, 3]).all()
    assert np.isfinite(np.delete(o, 3, axis=1)).all()
    dq, dk, dv = _core.attention_backward(np.ones_like(o), q, k, v, o, lse, SCALE, path=path)
    assert np.isnan(dq[0, 3]).all() and np.isnan(dk).any() and np.isnan(dv).any()
