"""The native kernels called one at a time through bigcore._core, against tests/reference.py.

Activations run on every ISA path this CPU offers and must agree bit for bit across paths;
GEMM must give the same bits whatever the thread count; the counter-based RNG must be
deterministic and have the right distribution.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore._native import _core

ISAS = ("ref", "avx2", "avx512")
ACT_ID = ref.ACT_IDS
SHAPES = [(1, 1), (7, 37), (3, 1025), (2, 2100), (5, 16)]


def _inputs(shape, act, seed=0):
    """Random pre-activations with the extremes of each activation planted in row 0."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 4).astype(np.float32)
    special = [0.0, -0.0, 100.0, -100.0, 88.5, -88.5, 87.5, -87.5, 1e-3, -1e-3, 0.6, -0.6]
    if act == "softmax":
        special = [1e4, -1e4, 0.0, 1e4 - 1, -50.0]
    n = min(len(special), shape[1])
    z[0, :n] = special[:n]
    if act == "softmax" and shape[0] > 2:
        z[1] = 0.0          # a flat row: exactly uniform
        z[2] = -1e4         # all-negative, huge: must not underflow to 0/0
    return z


def _native_forward(z, act, b=None):
    y = z.copy()
    _core.bias_act_forward(y, b, ACT_ID[act])
    return y


# ---------------------------------------------------------------- activation forward


# float32 result vs exact: a few ulp; tails below FLT_MIN may come out as 0 or a denormal.
# Softmax also rounds z - max(z) to float32 first: relative error up to |z - max| * 2^-24.
def fwd_tol(act):
    return dict(rtol=1e-5 if act == "softmax" else 1e-6, atol=1e-37)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_forward_matches_reference(isa, act, shape):
    z = _inputs(shape, act)
    y = _native_forward(z, act)
    np.testing.assert_allclose(y, ref.act_forward(z, act), **fwd_tol(act))
    assert np.isfinite(y).all()
    if act == "softmax":
        np.testing.assert_allclose(y.sum(-1, dtype=np.float64), 1.0, rtol=1e-5)
    if act in ("sigmoid", "softmax"):
        assert ((y >= 0) & (y <= 1)).all()
    if act == "tanh":
        assert (np.abs(y) <= 1).all()


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_forward_with_bias(isa, act):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((7, 37)).astype(np.float32)
    b = rng.standard_normal(37).astype(np.float32)
    y = _native_forward(z, act, b)
    # the bias is added in float32 first, then the activation applies
    np.testing.assert_allclose(y, ref.act_forward(z + b, act), **fwd_tol(act))


def test_forward_special_values_exact(isa):
    """Values whose results are exact in float32."""
    z = np.array([[0.0, -0.0, 100.0, -100.0, 1e4, -1e4, 3.0]], np.float32)
    np.testing.assert_array_equal(_native_forward(z, "relu"), np.maximum(z, 0))
    np.testing.assert_array_equal(_native_forward(z, "linear"), z)
    t = _native_forward(z, "tanh")
    np.testing.assert_array_equal(t[0, :6], [0, 0, 1, -1, 1, -1])
    s = _native_forward(z, "sigmoid")
    np.testing.assert_array_equal(s[0, [0, 1, 2, 4]], [0.5, 0.5, 1, 1])
    assert 0 <= s[0, 3] < 1e-37 and 0 <= s[0, 5] < 1e-37
    sm = _native_forward(np.full((2, 5), 7.0, np.float32), "softmax")
    np.testing.assert_allclose(sm, 0.2, rtol=1e-7)


def test_exp_family_nonfinite_and_clamp_edges(restore_isa, supported_isas):
    """sigmoid and tanh (kernels/float/math.h's exp_f: clamped to [-87.3, 88.7], NaN handed back at
    the end) on NaN, infinities, the clamp bounds and tanh's branch point: NaN stays NaN, the rest
    matches float64 (outside the denormal range, which native steps flush), on every ISA path with
    the same bits (NaN's sign aside). Rows of 16 and 37 reach the vector loops and their tails."""
    special = [np.nan, np.inf, -np.inf, 88.7, 88.71, -87.3, -87.31, 1e30, -1e30, 0.625, -0.625,
               20.0, -20.0, 44.35, -44.35, 3.0]
    results = {}
    for width in (16, 37):
        z = np.resize(np.array(special, np.float32), (3, width))
        z[1] = np.roll(z[1], 5)
        for isa in supported_isas:
            bigcore.config.set_cpu_isa(isa)
            for act, fn in (("sigmoid", lambda v: 1.0 / (1.0 + np.exp(-v))), ("tanh", np.tanh)):
                y = _native_forward(z, act)
                with np.errstate(over="ignore"):
                    want = fn(z.astype(np.float64))
                nan = np.isnan(z)
                assert np.isnan(y[nan]).all(), f"{act} on {isa}: NaN in, not NaN out"
                tiny = np.abs(want) < np.finfo(np.float32).tiny
                np.testing.assert_allclose(y[~nan & ~tiny], want[~nan & ~tiny], rtol=2e-6, atol=0,
                                           err_msg=f"{act} on {isa}")
                assert (np.abs(y[tiny]) < np.finfo(np.float32).tiny).all()
                # (a NaN's sign bit may differ between paths: no value depends on it)
                results.setdefault((width, act), {})[isa] = np.where(nan, np.float32(np.nan), y).tobytes()
    for key, by_isa in results.items():
        assert len(set(by_isa.values())) == 1, f"{key}: the ISA paths differ"


def test_odd_function_symmetry(isa):
    """tanh(-x) = -tanh(x) and sigmoid(-x) = 1 - sigmoid(x), kernel against itself."""
    x = np.linspace(-12, 12, 1001, dtype=np.float32).reshape(7, -1)[:, :143].copy()
    np.testing.assert_array_equal(_native_forward(-x, "tanh"), -_native_forward(x, "tanh"))
    np.testing.assert_allclose(_native_forward(-x, "sigmoid"), 1 - _native_forward(x, "sigmoid"),
                               atol=1.2e-7)


# ---------------------------------------------------------------- activation backward


@pytest.mark.parametrize("shape", [(7, 37), (3, 1025), (2, 2100)], ids=str)
@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_backward_matches_reference(isa, act, shape):
    rng = np.random.default_rng(2)
    z = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = _native_forward(z, act)
    dy = rng.standard_normal(shape).astype(np.float32)
    dz = dy.copy()
    _core.act_backward(dz, y, ACT_ID[act])
    expect = ref.act_backward(dy, y, act)
    np.testing.assert_allclose(dz, expect, rtol=1e-5, atol=1e-6 * np.abs(expect).max())


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_reference_backward_is_the_gradient(act):
    """The reference's analytic backward against central differences of its forward."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((3, 7)) * 2
    z[np.abs(z) < 1e-3] = 0.5  # keep relu away from its kink
    dy = rng.standard_normal((3, 7))
    analytic = ref.act_backward(dy, ref.act_forward(z, act), act)
    ref.assert_grad_close(lambda v: float((dy * ref.act_forward(v, act)).sum()), z, analytic)


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_native_backward_matches_finite_differences(act):
    """The float32 kernel against float64 central differences of the float64 forward."""
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((5, 11)) * 2).astype(np.float32)
    z[np.abs(z) < 1e-2] = 0.5
    dy = rng.standard_normal((5, 11)).astype(np.float32)
    dz = dy.copy()
    _core.act_backward(dz, _native_forward(z, act), ACT_ID[act])
    numeric = ref.numerical_grad(lambda v: float((dy * ref.act_forward(v, act)).sum()), z)
    np.testing.assert_allclose(dz, numeric, rtol=1e-5, atol=1e-6)


def test_backward_relu_at_zero_is_zero(isa):
    y = np.array([[0.0, 0.0, 2.0]], np.float32)
    dz = np.array([[5.0, -5.0, 3.0]], np.float32)
    _core.act_backward(dz, y, ACT_ID["relu"])
    np.testing.assert_array_equal(dz, [[0.0, 0.0, 3.0]])


# ---------------------------------------------------------------- every ISA, same bits


@pytest.mark.parametrize("shape", [(7, 37), (3, 1025), (2, 2100), (4, 3)], ids=str)
@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_isa_paths_bit_identical(restore_isa, supported_isas, act, shape):
    if len(supported_isas) < 2:
        pytest.skip("only one ISA path on this CPU")
    rng = np.random.default_rng(5)
    z = _inputs(shape, act)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    results = {}
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        y = _native_forward(z, act, b)
        dz = dy.copy()
        _core.act_backward(dz, y, ACT_ID[act])
        results[isa] = (y, dz)
    y0, dz0 = results["ref"]
    for isa, (y, dz) in results.items():
        assert y.tobytes() == y0.tobytes(), f"forward differs between ref and {isa}"
        assert dz.tobytes() == dz0.tobytes(), f"backward differs between ref and {isa}"


def test_set_isa_rejects_unknown_and_reports_current(restore_isa):
    features = bigcore.config.cpu_features()
    with pytest.raises(ValueError, match="ref"):
        bigcore.config.set_cpu_isa("sse9")
    assert bigcore.config.cpu_features()["isa"] == features["isa"]
    assert features["best_isa"] == features["supported"][-1]
    assert features["paths"]["float"] in ISAS
    bigcore.config.set_cpu_isa("ref")
    assert bigcore.config.cpu_features()["paths"]["float"] == "ref"


# set_cpu_isa's names and the (float, int8, sparse, attention, norm, conv) paths each gives (config.py documents the table)
FAMILIES = ("float", "int8", "sparse", "attention", "norm", "conv")
ISA_TABLE = {"ref": ("ref", "ref", "ref", "ref", "ref", "ref"), "avx2": ("avx2", "avx2", "avx2", "avx2", "avx2", "avx2"),
             "avxvnni": ("avx2", "avxvnni", "avx2", "avx2", "avx2", "avx2"),
             "avx512": ("avx512", "avx2", "avx512", "avx512", "avx512", "avx512"),
             "avx512vnni": ("avx512", "avx512vnni", "avx512", "avx512", "avx512", "avx512")}


def test_one_switch_sets_every_kernel_family(restore_isa):
    features = bigcore.config.cpu_features()
    assert features["supported"][0] == "ref" and set(features["supported"]) <= set(ISA_TABLE)
    assert features["paths"] == dict(zip(FAMILIES, ISA_TABLE[features["isa"]]))
    for name in features["supported"]:
        bigcore.config.set_cpu_isa(name)
        now = bigcore.config.cpu_features()
        assert now["isa"] == name
        assert now["paths"] == dict(zip(FAMILIES, ISA_TABLE[name])), name
    for name in set(ISA_TABLE) - set(features["supported"]):
        before = bigcore.config.cpu_features()
        with pytest.raises(ValueError, match=f"cannot run set_cpu_isa\\('{name}'\\): it lacks"):
            bigcore.config.set_cpu_isa(name)
        assert bigcore.config.cpu_features()["paths"] == before["paths"]  # nothing half-switched


# ---------------------------------------------------------------- binding checks


@pytest.mark.parametrize("bad", [
    np.zeros((3, 4), np.float64),
    np.zeros((4, 3), np.float32).T,
    np.zeros((3, 4), np.int32),
], ids=["float64", "fortran", "int32"])
def test_kernels_reject_arrays_they_cannot_write(bad):
    with pytest.raises(ValueError):
        _core.bias_act_forward(bad, None, 0)
    with pytest.raises(ValueError):
        _core.act_backward(bad, np.zeros((3, 4), np.float32), 0)


def test_read_only_output_is_rejected():
    y = np.zeros((2, 3), np.float32)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.bias_act_forward(y, None, 1)


def test_bias_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="bias"):
        _core.bias_act_forward(np.zeros((2, 3), np.float32), np.zeros(4, np.float32), 0)


def test_empty_last_axis_does_not_crash():
    code = textwrap.dedent("""
        import numpy as np
        from bigcore._native import _core
        y = np.zeros((3, 0), np.float32)
        try:
            _core.bias_act_forward(y, None, 4)
        except ValueError:
            pass
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, f"interpreter died with return code {r.returncode}"


# ---------------------------------------------------------------- gemm


def _gemm_operands(ta, tb, M, N, K, seed=6):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    C = rng.standard_normal((M, N)).astype(np.float32)
    return A, B, C


def _gemm_ref(ta, tb, A, B, C, alpha, beta):
    opA = A.astype(np.float64).T if ta else A.astype(np.float64)
    opB = B.astype(np.float64).T if tb else B.astype(np.float64)
    scale = abs(alpha) * (np.abs(opA) @ np.abs(opB)) + abs(beta) * np.abs(C)
    return alpha * (opA @ opB) + beta * C.astype(np.float64), scale


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("M,N,K", [(33, 17, 785), (1, 1, 1), (5, 129, 3), (64, 48, 100)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.7, -1.3), (-2.0, 1.0)])
def test_gemm_matches_reference(ta, tb, M, N, K, alpha, beta):
    A, B, C = _gemm_operands(ta, tb, M, N, K)
    expect, scale = _gemm_ref(ta, tb, A, B, C, alpha, beta)
    _core.gemm(ta, tb, A, B, C, alpha, beta)
    assert np.all(np.abs(C - expect) <= 2e-6 * np.sqrt(K) * scale + 1e-30)


def test_gemm_beta_zero_ignores_nan_in_c():
    A, B, _ = _gemm_operands(False, False, 9, 7, 5)
    C = np.full((9, 7), np.nan, np.float32)
    _core.gemm(False, False, A, B, C, 1.0, 0.0)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=1e-5, atol=1e-5)


def test_gemm_empty_k_with_beta_zero_sets_zero():
    C = np.full((3, 4), np.nan, np.float32)
    _core.gemm(False, False, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), C, 1.0, 0.0)
    np.testing.assert_array_equal(C, 0.0)


def test_gemm_empty_k_scales_by_beta():
    C = np.arange(12, dtype=np.float32).reshape(3, 4)
    _core.gemm(False, False, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), C, 1.0, 0.5)
    np.testing.assert_array_equal(C, np.arange(12).reshape(3, 4) * 0.5)


def test_gemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        _core.gemm(False, False, np.zeros((3, 4), np.float32), np.zeros((5, 2), np.float32),
                   np.zeros((3, 2), np.float32), 1.0, 0.0)
    with pytest.raises(ValueError, match="shapes"):
        _core.gemm(False, False, np.zeros((3, 4), np.float32), np.zeros((4, 2), np.float32),
                   np.zeros((3, 3), np.float32), 1.0, 0.0)
    with pytest.raises(ValueError):
        _core.gemm(False, False, np.zeros((3, 4), np.float32), np.zeros((4, 2), np.float32),
                   np.zeros((3, 2), np.float64), 1.0, 0.0)


# Shapes from a batch-32 MLP on MNIST (forward, dW = x^T dz, dx = dz W^T) and a square one:
# each is big enough to be cut into several tiles.
THREAD_CASES = [
    (False, False, 32, 128, 784),   # x (32,784) @ W (784,128)
    (True, False, 784, 128, 32),    # x^T (784,32) @ dz (32,128)
    (False, True, 32, 784, 128),    # dz (32,128) @ W^T (128,784)
    (False, False, 256, 512, 512),
    (True, True, 100, 300, 257),
]


@pytest.mark.parametrize("ta,tb,M,N,K", THREAD_CASES)
def test_gemm_bit_identical_across_thread_counts(restore_threads, ta, tb, M, N, K):
    A, B, C0 = _gemm_operands(ta, tb, M, N, K, seed=7)
    results = []
    for threads in (1, 2, 3, 1):
        _core.set_num_threads(threads)
        assert _core.get_num_threads() == threads
        C = C0.copy()
        _core.gemm(ta, tb, A, B, C, 1.0, 0.5)
        results.append(C)
    for C in results[1:]:
        assert C.tobytes() == results[0].tobytes()
    expect, scale = _gemm_ref(ta, tb, A, B, C0, 1.0, 0.5)
    assert np.all(np.abs(results[0] - expect) <= 2e-6 * np.sqrt(K) * scale)


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="n >= 1"):
        _core.set_num_threads(0)


# ---------------------------------------------------------------- rng


def test_fill_uniform_deterministic_and_keyed():
    def draw(seed, stream, n=1001):
        out = np.empty(n, np.float32)
        _core.fill_uniform(out, seed, stream, -1.0, 1.0)
        return out

    a = draw(42, 3)
    assert a.tobytes() == draw(42, 3).tobytes()
    assert not np.array_equal(a, draw(42, 4))
    assert not np.array_equal(a, draw(43, 3))
    # value i depends on (key, i) only: a longer draw starts with the shorter one
    np.testing.assert_array_equal(draw(42, 3, 5000)[:1001], a)


@pytest.mark.parametrize("low,high", [(0.0, 1.0), (-0.05, 0.05), (2.0, 7.0)])
def test_fill_uniform_distribution(low, high):
    n = 200_001
    out = np.empty((n,), np.float32)
    _core.fill_uniform(out, 7, 1, low, high)
    assert out.min() >= low and out.max() < high
    width = high - low
    se = width / np.sqrt(12 * n)
    assert abs(out.mean(dtype=np.float64) - (low + high) / 2) < 5 * se
    assert abs(out.std(dtype=np.float64) - width / np.sqrt(12)) < 0.01 * width
    hist, _ = np.histogram(out, bins=10, range=(low, high))
    assert np.all(np.abs(hist - n / 10) < 5 * np.sqrt(n / 10))


def test_fill_fills_2d_arrays_whole():
    out = np.full((37, 11), np.nan, np.float32)
    _core.fill_normal(out, 1, 2, 0.0, 1.0, False)
    assert np.isfinite(out).all()
    flat = np.empty(37 * 11, np.float32)
    _core.fill_normal(flat, 1, 2, 0.0, 1.0, False)
    np.testing.assert_array_equal(out.reshape(-1), flat)


@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (3.0, 0.05)])
def test_fill_normal_distribution(truncated, mean, std):
    n = 200_001
    out = np.empty(n, np.float32)
    _core.fill_normal(out, 11, 5, mean, std, truncated)
    again = np.empty(n, np.float32)
    _core.fill_normal(again, 11, 5, mean, std, truncated)
    assert out.tobytes() == again.tobytes()
    x = out.astype(np.float64)
    # a normal truncated at +-2 sd keeps its mean and has sd 0.8796 * std
    want_sd = std * (0.879626 if truncated else 1.0)
    assert abs(x.mean() - mean) < 5 * want_sd / np.sqrt(n)
    assert abs(x.std() - want_sd) < 5 * want_sd / np.sqrt(2 * n)
    if truncated:
        assert np.abs(x - mean).max() <= 2 * std * (1 + 1e-6)
    else:
        assert np.abs(x - mean).max() > 3 * std  # tails are there
        within1 = np.mean(np.abs(x - mean) < std)
        assert abs(within1 - 0.682689) < 0.005


_M64 = (1 << 64) - 1


def _mix64(z):
    """splitmix64's finalizer on uint64 arrays (core/rng.h), wrapping as C does."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _key(seed, stream):
    with np.errstate(over="ignore"):
        return _mix64(_mix64(_mix64(np.uint64(seed)) ^ np.uint64(stream)) + np.uint64(0))


@pytest.mark.parametrize("n", [1, 65_536, 200_001])
def test_fills_are_the_counter_formula_on_any_thread_count(restore_threads, n):
    """Value i is a pure function of (key, i): the chunks the threads fill give the bits of the formula
    (a NumPy splitmix64 reference), on 1, 2 and 3 threads."""
    i = np.arange(n, dtype=np.uint64)
    key = _key(9, 4)
    uniform = ((_mix64(key ^ _mix64(i)) >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24))
    c = i * np.uint64(64)  # the normal's first draw (the redraws of the truncated case use c + j)
    u1 = ((_mix64(key ^ _mix64(2 * c)) >> np.uint64(11)).astype(np.float64) + 1.0) / 9007199254740993.0
    u2 = (_mix64(key ^ _mix64(2 * c + np.uint64(1))) >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
    normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)
    fills = []
    for threads in (1, 2, 3):
        _core.set_num_threads(threads)
        out_u, out_n = np.empty(n, np.float32), np.empty(n, np.float32)
        _core.fill_uniform(out_u, 9, 4, 0.0, 1.0)
        _core.fill_normal(out_n, 9, 4, 0.5, 2.0, False)
        fills.append((out_u.tobytes(), out_n.tobytes()))
        np.testing.assert_array_equal(out_u, uniform)
        # NumPy's log and cos may differ from the C library's in the last bit of a double
        np.testing.assert_allclose(out_n, (0.5 + 2.0 * normal).astype(np.float32), rtol=1e-6, atol=1e-6)
    assert fills[1] == fills[0] and fills[2] == fills[0]


def test_fill_rejects_non_float32():
    with pytest.raises(ValueError):
        _core.fill_uniform(np.empty(5, np.float64), 0, 0, 0.0, 1.0)
    with pytest.raises(ValueError):
        _core.fill_normal(np.empty((4, 4), np.float32)[:, ::2], 0, 0, 0.0, 1.0, False)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_permutation_is_a_permutation(n):
    p = _core.permutation(n, 3, 9, 0)
    assert p.dtype == np.int64 and p.shape == (n,)
    np.testing.assert_array_equal(np.sort(p), np.arange(n))


def test_permutation_deterministic_and_differs_between_epochs():
    a = _core.permutation(1000, 3, 9, 0)
    np.testing.assert_array_equal(a, _core.permutation(1000, 3, 9, 0))
    epochs = [_core.permutation(1000, 3, 9, e) for e in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.array_equal(epochs[i], epochs[j])
    assert not np.array_equal(a, _core.permutation(1000, 4, 9, 0))
    assert not np.array_equal(a, _core.permutation(1000, 3, 10, 0))
    assert not np.array_equal(a, np.arange(1000))


def test_permutation_is_uniform():
    """Over many epochs every element lands in every position about equally often."""
    n, epochs = 5, 3000
    counts = np.zeros((n, n))
    for e in range(epochs):
        p = _core.permutation(n, 1, 2, e)
        counts[p, np.arange(n)] += 1
    expect = epochs / n
    sd = np.sqrt(epochs * (1 / n) * (1 - 1 / n))
    assert np.all(np.abs(counts - expect) < 5 * sd)


def test_native_steps_flush_denormals_but_restore_the_callers_fp_state():
    """Denormals are flushed inside a native step (Adam moments decaying towards zero stay fast)
    and the caller's floating-point environment is untouched afterwards."""
    import bigcore
    from bigcore import layers, optimizers

    tiny = np.float32(1e-38)
    assert tiny * np.float32(1e-3) != 0  # numpy makes a denormal before ...
    m = bigcore.Sequential([layers.Dense(1, use_bias=False, kernel_initializer="zeros", input_shape=(1,))])
    m.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="mse")
    # a gradient of 2 * 1e-20 * (1e-20 * w - y): tiny * tiny is a denormal, flushed to zero
    m.train_on_batch(np.full((1, 1), 1e-20, np.float32), np.full((1, 1), 1e-20, np.float32))
    assert m.get_weights()[0][0, 0] == 0.0
    assert tiny * np.float32(1e-3) != 0  # ... and after the native call
