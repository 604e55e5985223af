"""The int8 kernels (cpp/quant.*) through bigcore._core, against integer and float NumPy references.

quant_ref defines every result; each SIMD path this CPU runs ("avx2", "avxvnni", "avx512vnni")
must give bit-identical int32 accumulators (and so bit-identical outputs) at odd sizes, at the
saturation worst cases, and for any thread count. The quantizers must follow the documented rule
(round half away from zero, clamp to [-127, 127], scale 1 for all-zero rows and columns), and the
whole int8 layer must stay within the error bound derived from the quantization steps.
"""

import itertools

import numpy as np
import pytest

import bigcore
from bigcore._native import _core
from reference_quant import (ACT, QISAS, SUPPORTED, epilogue_np, forced, imatmul, int8_path, quantize_rows_np,
                             quantize_weights_np)

MAX_K = 65536  # kQuantMaxK: the int32 overflow bound in quant.h
F32_EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(params=QISAS)
def qisa(request):
    """Runs the test on one forced int8 path; skips paths this CPU cannot run."""
    if request.param not in SUPPORTED:
        pytest.skip(f"this CPU cannot run the {request.param} int8 path")
    with forced(request.param):
        assert int8_path() == request.param
        yield request.param


def check_acc_all_paths(layer, xq):
    """The int32 accumulators on every supported path equal the int64 NumPy product."""
    want = imatmul(xq, layer.weights_q())
    assert np.abs(want).max(initial=0) < 2**31
    for isa in SUPPORTED:
        with forced(isa):
            got = layer.acc(xq)
        assert got.dtype == np.int32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"isa={isa}")


# ---- weight quantization ----------------------------------------------------------------------

def test_weight_quantization_matches_numpy():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((37, 21)).astype(np.float32) * np.float32(0.1)
    w[:, 3] = 0.0                      # all-zero column: scale 1, W_q 0
    w[:, 4] = np.float32(1e-30)        # tiny but nonzero: still maps its max to 127
    w[:, 5] = np.float32(1e-38)        # below 127 / FLT_MAX: quantizes like a zero column
    w[5, 7] = np.float32(40.0)         # one outlier dominates its column
    layer = _core.QLinear(w)
    wq, s = quantize_weights_np(w)
    np.testing.assert_array_equal(layer.scales(), s)
    np.testing.assert_array_equal(layer.weights_q(), wq)
    assert layer.scales()[3] == 1.0 and not layer.weights_q()[:, 3].any()
    assert (layer.weights_q()[:, 4] == 127).all()
    assert layer.scales()[5] == 1.0 and not layer.weights_q()[:, 5].any()
    assert np.abs(layer.weights_q()).max() == 127 and layer.weights_q().min() >= -127
    assert layer.packed_bytes == 40 * 32  # K padded to 4, N to 16


def test_weight_rounding_is_half_away_from_zero():
    # Column max 127 gives scale exactly 1, so W / s is W itself: exact ties.
    col = np.array([127, 2.5, -2.5, 0.5, -0.5, 1.5, -126.5, 0.49999997, -0.49999997], np.float32)
    layer = _core.QLinear(col[:, None].copy())
    assert layer.scales()[0] == 1.0
    np.testing.assert_array_equal(layer.weights_q()[:, 0], [127, 3, -3, 1, -1, 2, -127, 0, 0])


def test_from_int8_round_trips_and_checks():
    rng = np.random.default_rng(2)
    wq = rng.integers(-127, 128, (9, 20)).astype(np.int8)
    s = rng.uniform(0.01, 1.0, 20).astype(np.float32)
    layer = _core.QLinear.from_int8(wq, s)
    np.testing.assert_array_equal(layer.weights_q(), wq)
    np.testing.assert_array_equal(layer.scales(), s)
    again = _core.QLinear.from_int8(layer.weights_q(), layer.scales())
    x = rng.standard_normal((3, 9)).astype(np.float32)
    np.testing.assert_array_equal(again.forward(x), layer.forward(x))
    bad = wq.copy()
    bad[2, 3] = -128
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        _core.QLinear.from_int8(bad, s)
    for scale in (0.0, -1.0, np.inf, np.nan):
        s2 = s.copy()
        s2[5] = scale
        with pytest.raises(ValueError, match="scales must be finite"):
            _core.QLinear.from_int8(wq, s2)
    with pytest.raises(ValueError, match="scale must have shape"):
        _core.QLinear.from_int8(wq, s[:-1].copy())


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_rejected(value):
    w = np.ones((4, 3), np.float32)
    w[1, 2] = value
    with pytest.raises(ValueError, match="weights must be finite"):
        _core.QLinear(w)


# ---- activation quantization ------------------------------------------------------------------

def _rows(K, seed=0):
    """Rows that exercise the rule: random, ties, zeros, huge, tiny, outliers, NaN and Inf."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((10, K)).astype(np.float32) * np.float32(3)
    ties = np.resize(np.array([2.5, -2.5, 0.5, -0.5, 126.5, -1.5, 0.49999997], np.float32), K)
    x[1] = ties
    x[1, 0] = np.float32(127)           # row max 127: t == 1, so the ties stay ties
    x[2] = 0.0                          # zero row: t = 1, x_q = 0
    x[3] *= np.float32(1e30)            # huge values
    x[4] *= np.float32(1e-40)           # subnormal values
    x[5, K // 2] = np.float32(-1e4)     # one outlier: every other element rounds to ~0
    x[6, K - 1] = np.nan
    x[7, 0] = np.inf
    x[8] = np.float32(-7.0)             # constant row: all -127
    return x


@pytest.mark.parametrize("K", [1, 5, 31, 32, 33, 64, 65, 784])
def test_quantize_rows_matches_numpy(qisa, K):
    x = _rows(K)
    q, t = _core.quantize_rows(x)
    wq, wt = quantize_rows_np(x)
    np.testing.assert_array_equal(t, wt)  # NaN == NaN here
    np.testing.assert_array_equal(q, wq)
    assert np.isnan(t[6]) and np.isnan(t[7]) and not q[6].any() and not q[7].any()
    assert t[2] == 1.0 and not q[2].any()
    assert (q[8] == -127).all()
    if K >= 7:
        np.testing.assert_array_equal(q[1, :7], [127, -3, 1, -1, 127, -2, 0])


@pytest.mark.parametrize("x_scale", [0.01, 1.0, 1e-30, 1.17549435e-38])
def test_quantize_rows_with_fixed_scale_clamps(qisa, x_scale):
    x = _rows(45, seed=3)
    q, t = _core.quantize_rows(x, x_scale)
    wq, wt = quantize_rows_np(x, x_scale)
    np.testing.assert_array_equal(t, wt)
    np.testing.assert_array_equal(q, wq)
    assert q.min() >= -127 and q.max() <= 127


# ---- exact int32 accumulators -----------------------------------------------------------------

@pytest.mark.parametrize("M,K,N", list(itertools.product(
    [1, 3, 17, 64], [1, 5, 63, 64, 65, 784, 4096], [1, 10, 15, 16, 17, 128])))
def test_acc_exact_random(M, K, N):
    rng = np.random.default_rng(M * 100003 + K * 101 + N)
    layer = _core.QLinear.from_int8(rng.integers(-127, 128, (K, N)).astype(np.int8),
                                    np.ones(N, np.float32))
    check_acc_all_paths(layer, rng.integers(-128, 128, (M, K)).astype(np.int8))


@pytest.mark.parametrize("K", [1, 3, 4, 64, 4095, 4096, MAX_K])
@pytest.mark.parametrize("xv,wv", [(127, 127), (-128, 127), (-128, -127), (127, -127), (-127, -127)])
def test_acc_saturation_worst_cases(K, xv, wv):
    """Constant extreme inputs: the largest pair sums vpmaddubsw sees (|x| = 128 with |w| = 127)
    and the largest unsigned sums vpdpbusd sees (u = 255 with w = 127), up to K = 65536."""
    N = 17
    layer = _core.QLinear.from_int8(np.full((K, N), wv, np.int8), np.ones(N, np.float32))
    xq = np.full((2, K), xv, np.int8)
    xq[1, ::2] = -xq[1, ::2] if xv != -128 else 127  # a mixed-sign row too
    check_acc_all_paths(layer, xq)
    for isa in SUPPORTED:
        with forced(isa):
            assert (layer.acc(xq)[0] == xv * wv * K).all()


def test_acc_alternating_extremes():
    """Products of +-128 x +-127 with every sign pattern inside the 4-byte groups and pairs."""
    K, N = 4096, 33
    rng = np.random.default_rng(5)
    wq = rng.choice(np.array([-127, 127], np.int8), (K, N))
    xq = rng.choice(np.array([-128, -127, 127], np.int8), (5, K))
    layer = _core.QLinear.from_int8(wq, np.ones(N, np.float32))
    check_acc_all_paths(layer, xq)


def test_k_limit():
    with pytest.raises(ValueError, match="K <= 65536"):
        _core.QLinear(np.zeros((MAX_K + 1, 1), np.float32))


# ---- the fused epilogue and the whole layer ---------------------------------------------------

def _layer_case(M, K, N, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("act", ["linear", "relu"])
@pytest.mark.parametrize("M,K,N", [(1, 5, 1), (3, 63, 17), (17, 784, 128), (64, 65, 10)])
def test_forward_is_the_documented_formula(qisa, act, M, K, N):
    x, w, b = _layer_case(M, K, N, seed=M + K + N)
    layer = _core.QLinear(w)
    xq, t = quantize_rows_np(x)
    acc = imatmul(xq, layer.weights_q())
    for bias in (b, None):
        want = epilogue_np(acc, t, layer.scales(), bias, ACT[act])
        np.testing.assert_array_equal(layer.forward(x, bias, ACT[act]), want)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softmax"])
def test_forward_other_activations_use_the_float_kernels(qisa, act):
    x, w, b = _layer_case(19, 70, 33, seed=7)
    layer = _core.QLinear(w)
    z = layer.forward(x, b, ACT["linear"])
    _core.bias_act_forward(z, None, ACT[act])
    np.testing.assert_array_equal(layer.forward(x, b, ACT[act]), z)


def test_all_paths_give_the_same_bits():
    x, w, b = _layer_case(37, 300, 45, seed=8)
    x[4] = 0.0
    nan_x = x.copy()
    nan_x[5, 7] = np.nan  # (not through sigmoid/tanh: exp_f's float->int cast of NaN is UB)
    layer = _core.QLinear(w)
    outs = {}
    for isa in SUPPORTED:
        with forced(isa):
            outs[isa] = ([layer.forward(x, b, a) for a in ACT.values()] +
                         [layer.forward(nan_x, b, a) for a in (ACT["linear"], ACT["relu"])] +
                         [layer.forward(x, b, 0, 0.05), layer.acc(_core.quantize_rows(nan_x)[0])])
    for isa in SUPPORTED:
        for got, want in zip(outs[isa], outs["ref"]):
            np.testing.assert_array_equal(got, want, err_msg=isa)
    y = outs["ref"][0]
    np.testing.assert_array_equal(y[4], b)  # a zero row gives the bias
    y_nan = outs["ref"][len(ACT)]
    assert np.isnan(y_nan[5]).all() and np.isfinite(np.delete(y_nan, 5, axis=0)).all()
    np.testing.assert_array_equal(np.delete(y_nan, 5, axis=0), np.delete(y, 5, axis=0))
    assert np.isnan(outs["ref"][len(ACT) + 1][5]).all()  # relu lets NaN through, as Keras does


@pytest.mark.parametrize("M,K,N", [(1, 784, 128), (32, 784, 128), (7, 1024, 65), (64, 4096, 10)])
def test_forward_within_quantization_error_bound(qisa, M, K, N):
    """|y - (x @ W + b)| <= sum_k (dx |w_k| + |x_k| dw_n + dx dw_n) + float rounding, where
    dx = t_m / 2 and dw_n = s_n / 2 are half the quantization steps: x = x^ + ex and W = W^ + ew
    with |ex| <= dx, |ew| <= dw give x.w - x^.W^ = ex.w + x.ew - ex.ew. The float epilogue adds
    a few roundings of |y| (int32 -> float, two products, the bias). The quantizers multiply by
    r = 127 / a while dequantization multiplies by t = a / 127, and r * t is 1 only to a few ulp:
    127 * |1/r - t| < 1e-4 * t / 2 widens each step by that much."""
    x, w, b = _layer_case(M, K, N, seed=K + N)
    if M > 1:
        x[0, 0] = 25.0  # an outlier row: a coarse step for that row
    layer = _core.QLinear(w)
    y = layer.forward(x, b).astype(np.float64)
    exact = x.astype(np.float64) @ w.astype(np.float64) + b
    _, t = quantize_rows_np(x)
    dx = t.astype(np.float64)[:, None] / 2 * (1 + 1e-4)
    dw = layer.scales().astype(np.float64)[None, :] / 2 * (1 + 1e-4)
    bound = (dx * np.abs(w).sum(axis=0)[None, :] + np.abs(x).sum(axis=1)[:, None] * dw + K * dx * dw)
    bound += 4 * F32_EPS * (np.abs(exact) + bound + np.abs(b))
    err = np.abs(y - exact)
    assert (err <= bound).all(), f"worst err/bound {(err / bound).max():.3f}"
    # ...and int8 is a useful approximation here, not only a bounded one.
    assert np.sqrt(np.mean((y - exact) ** 2)) < 0.03 * np.sqrt(np.mean(exact ** 2)) + 1e-6


def test_static_scale_matches_formula(qisa):
    x, w, b = _layer_case(9, 50, 20, seed=9)
    layer = _core.QLinear(w)
    xq, t = quantize_rows_np(x, 0.01)  # clamps most of x
    want = epilogue_np(imatmul(xq, layer.weights_q()), t, layer.scales(), b, ACT["relu"])
    np.testing.assert_array_equal(layer.forward(x, b, ACT["relu"], 0.01), want)


def test_empty_batch(qisa):
    layer = _core.QLinear(np.ones((8, 5), np.float32))
    assert layer.forward(np.zeros((0, 8), np.float32)).shape == (0, 5)
    assert layer.acc(np.zeros((0, 8), np.int8)).shape == (0, 5)


# ---- threads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("M,K,N", [(256, 784, 128), (1, 1024, 1024), (64, 1024, 1024), (100, 33, 300)])
def test_bits_do_not_depend_on_thread_count(restore_threads, M, K, N):
    x, w, b = _layer_case(M, K, N, seed=11)
    layer = _core.QLinear(w)
    xq = _core.quantize_rows(x)[0]
    runs = []
    for n in (1, 2, 3):
        bigcore.config.set_num_threads(n)
        runs.append((layer.forward(x, b, ACT["relu"]), layer.forward(x, b, ACT["softmax"]), layer.acc(xq)))
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            np.testing.assert_array_equal(got, want)


def test_rows_do_not_depend_on_the_batch(qisa):
    """Per-row scales and exact integers: a sample's output is the same in any batch."""
    x, w, b = _layer_case(100, 200, 70, seed=12)
    layer = _core.QLinear(w)
    full = layer.forward(x, b, ACT["relu"])
    for lo, hi in [(0, 1), (5, 6), (3, 40), (99, 100), (10, 100)]:
        np.testing.assert_array_equal(layer.forward(x[lo:hi], b, ACT["relu"]), full[lo:hi])


# ---- dispatch and errors ----------------------------------------------------------------------

def test_dispatch_reports_and_forces_paths(restore_isa):
    bigcore.config.set_cpu_isa(bigcore.config.cpu_features()["best_isa"])
    assert int8_path() == max(SUPPORTED, key=QISAS.index)  # the best int8 path the CPU runs
    assert "ref" in SUPPORTED
    for isa in SUPPORTED:
        with forced(isa):
            assert int8_path() == isa
    with pytest.raises(ValueError, match="one of 'ref', 'avx2'"):
        bigcore.config.set_cpu_isa("sse9")
    for isa in set(QISAS) - set(SUPPORTED):
        with pytest.raises(ValueError, match="cannot run"):
            bigcore.config.set_cpu_isa(isa)


def test_bad_inputs_raise_value_error():
    layer = _core.QLinear(np.ones((8, 5), np.float32))
    x = np.ones((3, 8), np.float32)
    cases = [
        lambda: _core.QLinear(np.ones((8, 5), np.float64)),
        lambda: _core.QLinear(np.ones((8, 10), np.float32)[:, ::2]),
        lambda: _core.QLinear(np.ones(8, np.float32)),
        lambda: _core.QLinear(np.ones((0, 5), np.float32)),
        lambda: layer.forward(x.astype(np.float64)),
        lambda: layer.forward(np.ones((3, 16), np.float32)[:, ::2]),
        lambda: layer.forward(np.ones((3, 9), np.float32)),
        lambda: layer.forward(np.ones(8, np.float32)),
        lambda: layer.forward(x, np.ones(4, np.float32)),
        lambda: layer.forward(x, np.ones(5, np.float64)),
        lambda: layer.forward(x, None, 99),  # no such activation id
        lambda: layer.forward(x, None, 0, -1.0),
        lambda: layer.forward(x, None, 0, np.inf),
        lambda: layer.forward(x, None, 0, 1e-39),  # 1 / x_scale would overflow
        lambda: layer.acc(np.ones((3, 8), np.int16)),
        lambda: layer.acc(np.ones((3, 8), np.uint8)),
        lambda: layer.acc(np.ones((3, 16), np.int8)[:, ::2]),
        lambda: layer.acc(np.ones((3, 7), np.int8)),
        lambda: _core.quantize_rows(np.ones((3, 8), np.float64)),
        lambda: _core.quantize_rows(np.ones((3, 16), np.float32)[:, ::2]),
        lambda: _core.quantize_rows(np.ones((3, 0), np.float32)),
        lambda: _core.QLinear.from_int8(np.ones((8, 5), np.uint8), np.ones(5, np.float32)),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(ValueError):
            case()
            pytest.fail(f"case {i} did not raise")
