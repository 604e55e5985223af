"""Dropout's mask stream (core/rng.h drop_bits24): the float kernel's vectorized draws against a
NumPy reference of the hash, on every CPU path, at odd starts, ragged tails and an index range
that crosses a multiple of 2^32; and the statistics a mask needs (the keep rate, no correlation
between neighbours or between streams)."""

import numpy as np
import pytest

from bigcore._native import _core
from reference import dropout_bits24 as bits24


def reference(x, rate, key, first):
    u = bits24(key, np.arange(x.size, dtype=np.uint64) + np.uint64(first)).astype(np.float64) / 2.0 ** 24
    keep = (u >= rate).astype(np.uint8)
    y = np.where(keep == 1, x / np.float32(1.0 - rate), np.float32(0.0)).astype(np.float32)
    return y, keep


@pytest.mark.parametrize("n,first", [(1, 0), (7, 3), (37, 1), (1000, 0), (1029, 12345),
                                     (300, 2**32 - 150), (64, 2**32 - 5), (50, 2**40 + 7)])
def test_kernel_draws_equal_the_reference_on_every_path(isa, n, first):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    x[::11] = np.inf  # a dropped inf is 0, a kept one inf / (1 - rate)
    key = 0x9E3779B97F4A7C15 ^ n
    y, keep = _core.dropout_forward(x, 0.3, key, first)
    ry, rkeep = reference(x, 0.3, key, first)
    np.testing.assert_array_equal(keep, rkeep)
    np.testing.assert_array_equal(y, ry)
    assert 0 < keep.sum() < n or n < 8


def test_a_value_depends_on_its_index_only():
    x = np.ones(500, np.float32)
    whole = _core.dropout_forward(x, 0.5, 77, 1000)[1]
    for start in (1, 2, 9, 250):
        part = _core.dropout_forward(x[start:], 0.5, 77, 1000 + start)[1]
        np.testing.assert_array_equal(part, whole[start:])


def test_masks_have_the_rate_and_no_correlation():
    n = 1 << 20
    x = np.ones(n, np.float32)
    a = _core.dropout_forward(x, 0.25, 0x0123456789ABCDEF, 0)[1].astype(np.float64)
    b = _core.dropout_forward(x, 0.25, 0x0123456789ABCDEE, 0)[1].astype(np.float64)  # a neighbouring key
    tol = 5 / np.sqrt(n)
    assert abs(a.mean() - 0.75) < tol and abs(b.mean() - 0.75) < tol
    za, zb = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    assert abs(np.mean(za * zb)) < tol
    for lag in (1, 2, 8, 256):
        assert abs(np.mean(za[lag:] * za[:-lag])) < tol
    u = bits24(0x0123456789ABCDEF, np.arange(n, dtype=np.uint64)).astype(np.float64) / 2.0 ** 24
    counts = np.histogram(u, bins=64, range=(0, 1))[0]
    chi2 = ((counts - n / 64) ** 2 / (n / 64)).sum()
    assert chi2 < 120  # 63 degrees of freedom: p ~ 1e-5 above 120


@pytest.mark.parametrize("n", [1, 5, 8, 13, 16, 100, 1027])
@pytest.mark.parametrize("accumulate", [False, True])
def test_backward_passes_the_kept_gradients_on_every_path(isa, n, accumulate):
    rng = np.random.default_rng(n)
    keep = (rng.random(n) < 0.6).astype(np.uint8)
    dy = rng.standard_normal(n).astype(np.float32)
    dy[::7] = np.inf  # a dropped inf gradient is 0, not nan
    dx0 = rng.standard_normal(n).astype(np.float32)
    dx = dx0.copy()
    _core.dropout_backward(dx, keep, dy, 0.4, accumulate)
    g = np.where(keep == 1, dy / np.float32(0.6), np.float32(0.0)).astype(np.float32)
    np.testing.assert_array_equal(dx, dx0 + g if accumulate else g)
