"""keras.random.gamma, beta, binomial (bigcore/ops/random.py, eager): each against its exact
distribution in float64 (closed-form CDFs, scipy-free): Kolmogorov-Smirnov distance and the first two
moments; broadcasting of the parameters; seeding (an int seed repeats, a SeedGenerator moves on);
refusals."""

import math

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore import random as brandom

N = 20000
KS = 1.95 / math.sqrt(N)  # the 0.1% critical value of the one-sample KS statistic


def ks_distance(samples, cdf):
    s = np.sort(np.asarray(samples, np.float64))
    f = cdf(s)
    i = np.arange(1, len(s) + 1)
    return max(np.max(i / len(s) - f), np.max(f - (i - 1) / len(s)))


GAMMA_CDFS = {
    0.5: lambda x: np.array([math.erf(math.sqrt(v)) for v in x]),  # chi-squared(1) / 2
    1.0: lambda x: 1.0 - np.exp(-x),
    3.0: lambda x: 1.0 - np.exp(-x) * (1.0 + x + x * x / 2.0),
    2.5: None,
}


@pytest.mark.parametrize("alpha", sorted(GAMMA_CDFS))
def test_gamma_distribution(alpha):
    x = brandom.gamma((N,), alpha, seed=7)
    assert x.dtype == np.float32 and x.shape == (N,) and np.all(x >= 0)
    x = x.astype(np.float64)
    assert abs(x.mean() - alpha) < 4 * math.sqrt(alpha / N)
    assert abs(x.var() - alpha) < 0.06 * alpha
    if GAMMA_CDFS[alpha] is not None:
        assert ks_distance(x, GAMMA_CDFS[alpha]) < KS


BETA_CDFS = {
    (1.0, 3.0): lambda x: 1.0 - (1.0 - x) ** 3,
    (2.0, 2.0): lambda x: 3 * x ** 2 - 2 * x ** 3,
    (0.5, 0.5): lambda x: 2.0 / np.pi * np.arcsin(np.sqrt(x)),
}


@pytest.mark.parametrize("ab", sorted(BETA_CDFS))
def test_beta_distribution(ab):
    a, b = ab
    x = brandom.beta((N,), a, b, seed=3)
    assert x.dtype == np.float32 and np.all((x >= 0) & (x <= 1))
    x = x.astype(np.float64)
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / N)
    assert abs(x.var() - var) < 0.06 * var
    assert ks_distance(x, BETA_CDFS[ab]) < KS


@pytest.mark.parametrize("n,p", [(10, 0.3), (1, 0.5), (40, 0.9)])
def test_binomial_distribution(n, p):
    x = brandom.binomial((N,), n, p, seed=11)
    assert x.dtype == np.float32 and np.all(x == np.round(x)) and x.min() >= 0 and x.max() <= n
    x = x.astype(np.float64)
    pmf = np.array([math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)])
    cdf = np.cumsum(pmf)
    emp = np.array([(x <= k).mean() for k in range(n + 1)])
    assert np.max(np.abs(emp - cdf)) < KS
    assert abs(x.mean() - n * p) < 4 * math.sqrt(n * p * (1 - p) / N)
    assert abs(x.var() - n * p * (1 - p)) < 0.06 * n * p * (1 - p)


def test_parameters_broadcast():
    alpha = np.array([0.5, 2.0, 8.0])
    g = brandom.gamma((N, 3), alpha, seed=1).astype(np.float64)
    np.testing.assert_allclose(g.mean(axis=0), alpha, rtol=0.05)
    counts = np.array([[0.0], [5.0]])
    b = brandom.binomial((2, N), counts, 0.5, seed=2)
    assert np.all(b[0] == 0) and abs(b[1].mean() - 2.5) < 0.05
    be = brandom.beta((N, 2), np.array([1.0, 4.0]), 2.0, seed=4).astype(np.float64)
    np.testing.assert_allclose(be.mean(axis=0), [1 / 3, 4 / 6], atol=0.01)
    assert brandom.gamma(5, 2.0, seed=0).shape == (5,)


def test_seeding():
    for fn, args in ((brandom.gamma, (0.7,)), (brandom.beta, (2.0, 3.0)), (brandom.binomial, (5, 0.4))):
        a, b = fn((100,), *args, seed=5), fn((100,), *args, seed=5)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, fn((100,), *args, seed=6))
        gen = brandom.SeedGenerator(9)
        c, d = fn((100,), *args, seed=gen), fn((100,), *args, seed=gen)
        assert not np.array_equal(c, d)
        assert not np.array_equal(fn((100,), *args), fn((100,), *args))  # seed None: new streams


def test_refusals():
    with pytest.raises(ValueError, match="positive"):
        brandom.gamma((3,), 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        brandom.gamma((3,), np.ones(4))
    with pytest.raises(ValueError, match="probabilities"):
        brandom.binomial((3,), 4, 1.5)
    with pytest.raises(ValueError, match="counts"):
        brandom.binomial((3,), 2.5, 0.5)
    with pytest.raises(ValueError, match="float32"):
        brandom.beta((3,), 1.0, 1.0, dtype="float64")

    class Draws(layers.Layer):
        def call(self, x):
            return x + brandom.gamma((2,), 1.0)

    with pytest.raises(NotImplementedError, match="arrays only"):
        Draws()(bigcore.Input((2,)))
