"""The sparse Dense kernels (cpp/sparse.*) and layers (bigcore.layers.sparse, bigcore.sparse_select).

float32: against a float64 NumPy product within the dot-product round-off bound, and bit-identical
across ISA paths, thread counts, batch compositions (rows and cols paths) since every output is one
fixed FMA chain. int8: exact, so bit-equal to an integer NumPy reference and to the dense QLinear.
"""

import math

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore._native import _core
from bigcore.layers.sparse import QuantizedSparseDense, SparseDense
from bigcore.quantization import QuantizedDense, quantize
from bigcore.sparse_select import SparseDecision, format_report, measure, sparsify
import reference as ref

ACT = ref.ACT_IDS
F32_EPS = float(np.finfo(np.float32).eps)


def test_sparse_kernels_follow_set_cpu_isa(isa):
    """The float and sparse kernels both follow set_cpu_isa (the conftest `isa` fixture forces it)."""
    assert bigcore.config.cpu_features()["paths"]["sparse"] == isa


def sparse_matrix(rng, K, N, sparsity, dtype=np.float32):
    w = rng.standard_normal((K, N)).astype(np.float32)
    w[rng.random((K, N)) < sparsity] = 0
    return w.astype(dtype)


def act_np(y, act):
    y = y.astype(np.float64)
    if act == "relu":
        return np.maximum(y, 0)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-y))
    if act == "tanh":
        return np.tanh(y)
    if act == "softmax":
        e = np.exp(y - y.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return y


def check_float(w, x, b=None, act="linear"):
    """SparseLinear.forward within the FMA chain's round-off of the float64 reference."""
    s = _core.SparseLinear(w)
    y = s.forward(x, b, ACT[act])
    z = x.astype(np.float64) @ w.astype(np.float64) + (0 if b is None else b.astype(np.float64))
    # |fl(sum) - sum| <= n eps sum |x w| for a chain of n FMAs (n: the column's non-zeros), plus the bias add.
    n = max(1, int((w != 0).sum(axis=0).max(initial=0)))
    bound = (n + 1) * F32_EPS * (np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64))
                                 + (0 if b is None else np.abs(b)))
    if act == "linear":
        assert np.all(np.abs(y - z) <= bound + 1e-30), np.abs(y - z).max()
    else:  # the activations are Lipschitz-1 (softmax: per row, 2 * max bound) plus their own ulps
        slack = bound.max(axis=1, keepdims=True) * 2 + 4e-7
        np.testing.assert_allclose(y, act_np(z, act), rtol=0, atol=float(slack.max()))
    return y


# ---- float kernel: correctness --------------------------------------------------------------------

@pytest.mark.parametrize("K,N,M", [(1, 1, 1), (37, 53, 1), (37, 53, 2), (37, 53, 3), (37, 53, 4), (37, 53, 5),
                                   (100, 33, 17), (64, 17, 64), (130, 70, 65), (257, 129, 130)])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99])
def test_float_kernel_matches_numpy(isa, K, N, M, sparsity):
    rng = np.random.default_rng(K * 1000 + N + M)
    w = sparse_matrix(rng, K, N, sparsity)
    x = rng.standard_normal((M, K)).astype(np.float32)
    check_float(w, x)


@pytest.mark.parametrize("act", list(ACT))
def test_float_kernel_bias_and_activations(isa, act):
    rng = np.random.default_rng(3)
    w = sparse_matrix(rng, 45, 38, 0.8)
    b = rng.standard_normal(38).astype(np.float32)
    for M in (1, 3, 21):
        check_float(w, rng.standard_normal((M, 45)).astype(np.float32), b, act)


def test_float_empty_rows_columns_and_all_zero_weights(isa):
    rng = np.random.default_rng(4)
    w = sparse_matrix(rng, 40, 50, 0.7)
    w[:, [0, 7, 16, 31, 49]] = 0  # empty columns, one at a slice start and the last one
    w[[0, 5, 39], :] = 0         # empty rows
    x = rng.standard_normal((9, 40)).astype(np.float32)
    y = check_float(w, x)
    assert not y[:, [0, 7, 16, 31, 49]].any()
    z = np.zeros((40, 50), np.float32)
    s = _core.SparseLinear(z)
    assert s.nnz == 0
    b = rng.standard_normal(50).astype(np.float32)
    for M in (1, 6, 70):
        xs = rng.standard_normal((M, 40)).astype(np.float32)
        np.testing.assert_array_equal(s.forward(xs), np.zeros((M, 50), np.float32))
        np.testing.assert_array_equal(s.forward(xs, b, ACT["relu"]), np.broadcast_to(np.maximum(b, 0), (M, 50)))
    assert s.forward(np.zeros((0, 40), np.float32)).shape == (0, 50)


def test_float_layout_round_trip_and_counts():
    rng = np.random.default_rng(5)
    w = sparse_matrix(rng, 33, 47, 0.85)
    s = _core.SparseLinear(w)
    np.testing.assert_array_equal(s.to_dense(), w)
    assert s.nnz == int((w != 0).sum()) and (s.K, s.N) == (33, 47)
    assert s.bytes < w.nbytes  # 6 bytes per stored entry plus padding, at 85% zeros


# ---- float kernel: one result whatever the path, batch, threads ------------------------------------

def test_float_bits_independent_of_isa_batch_and_threads(restore_isa, supported_isas, restore_threads):
    rng = np.random.default_rng(6)
    w = sparse_matrix(rng, 300, 260, 0.8)
    x = rng.standard_normal((150, 300)).astype(np.float32)
    s = _core.SparseLinear(w)
    want = None
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2, 3):
            bigcore.config.set_num_threads(threads)
            y = s.forward(x)
            if want is None:
                want = y
            np.testing.assert_array_equal(y, want, err_msg=f"isa={isa} threads={threads}")
        # rows path (M < 4) and cols path (tiles of 16 rows) give each row the same bits
        for lo, hi in ((0, 1), (7, 9), (10, 13), (20, 24), (40, 105), (149, 150)):
            np.testing.assert_array_equal(s.forward(np.ascontiguousarray(x[lo:hi])), want[lo:hi],
                                          err_msg=f"isa={isa} rows {lo}:{hi}")


def test_float_inf_reaches_only_connected_columns():
    w = np.zeros((4, 3), np.float32)
    w[1, 0] = 2.0
    w[2, 2] = 1.0
    x = np.array([[0.0, np.inf, 1.0, 5.0]], np.float32)
    y = _core.SparseLinear(w).forward(x)
    assert y[0, 0] == np.inf and y[0, 1] == 0 and y[0, 2] == 1.0


# ---- int8 kernel: exact ------------------------------------------------------------------------------

def int8_reference(x, wq, s, b, act, x_scale=0.0):
    """y from the exact integer product: x_q and t by the tested quantizer, then quant.h's epilogue in float32."""
    xq, t = _core.quantize_rows(x, x_scale)
    acc = xq.astype(np.int64) @ wq.astype(np.int64)
    assert np.abs(acc).max(initial=0) < 2**31
    y = acc.astype(np.float32) * (t[:, None] * s[None, :])
    if b is not None:
        y = y + b[None, :]
    if act == "relu":
        y = np.where(y < 0, np.float32(0), y)
    return y.astype(np.float32)


@pytest.mark.parametrize("K,N,M", [(1, 1, 1), (37, 53, 1), (37, 53, 3), (37, 53, 4), (100, 33, 17),
                                   (130, 70, 65), (257, 129, 130)])
@pytest.mark.parametrize("sparsity", [0.0, 0.6, 0.95])
def test_int8_kernel_is_exact(isa, K, N, M, sparsity):
    rng = np.random.default_rng(K + 7 * N + M)
    wq = rng.integers(-127, 128, size=(K, N)).astype(np.int8)
    wq[rng.random((K, N)) < sparsity] = 0
    s = (rng.random(N) * 0.1 + 1e-3).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    x = rng.standard_normal((M, K)).astype(np.float32)
    q = _core.QSparseLinear(wq, s)
    np.testing.assert_array_equal(q.to_dense(), wq)
    for act in ("linear", "relu"):
        np.testing.assert_array_equal(q.forward(x, b, ACT[act]), int8_reference(x, wq, s, b, act))
    np.testing.assert_array_equal(q.forward(x), int8_reference(x, wq, s, None, "linear"))


def test_int8_extremes_are_exact(isa):
    """Full-scale weights and activations of both signs over a long K: the widest int32 sums."""
    rng = np.random.default_rng(8)
    K, N = 4099, 21
    wq = np.where(rng.random((K, N)) < 0.5, 127, -127).astype(np.int8)
    wq[:, 3] = 127
    wq[:, 4] = -127
    wq[rng.random((K, N)) < 0.3] = 0
    s = np.full(N, 1e-4, np.float32)
    x = np.where(rng.random((5, K)) < 0.5, 1.0, -1.0).astype(np.float32)
    x[0] = 1.0  # all +127: column 3 sums to +127 * 127 * nnz
    x[1] = -1.0
    q = _core.QSparseLinear(wq, s)
    for M in (1, 2, 5):
        np.testing.assert_array_equal(q.forward(x[:M]), int8_reference(x[:M], wq, s, None, "linear"))


@pytest.mark.parametrize("act", list(ACT))
def test_int8_bit_equal_to_dense_qlinear(isa, act, restore_threads):
    rng = np.random.default_rng(9)
    w = sparse_matrix(rng, 77, 90, 0.85)
    dense = _core.QLinear(w)
    q = _core.QSparseLinear(dense.weights_q(), dense.scales())
    b = rng.standard_normal(90).astype(np.float32)
    for M in (1, 2, 5, 64, 67):
        x = rng.standard_normal((M, 77)).astype(np.float32)
        for threads in (1, 2):
            bigcore.config.set_num_threads(threads)
            np.testing.assert_array_equal(q.forward(x, b, ACT[act]), dense.forward(x, b, ACT[act], 0.0))
            np.testing.assert_array_equal(q.forward(x, None, ACT[act], 0.05), dense.forward(x, None, ACT[act], 0.05))


def test_int8_zero_weights_and_empty_columns(isa):
    rng = np.random.default_rng(10)
    wq = rng.integers(-127, 128, size=(30, 40)).astype(np.int8)
    wq[:, [0, 15, 16, 39]] = 0
    wq[[2, 29], :] = 0
    s = np.full(40, 0.01, np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    x = rng.standard_normal((8, 30)).astype(np.float32)
    y = _core.QSparseLinear(wq, s).forward(x, b, ACT["linear"])
    np.testing.assert_array_equal(y, int8_reference(x, wq, s, b, "linear"))
    np.testing.assert_array_equal(y[:, [0, 15, 16, 39]], np.broadcast_to(b[[0, 15, 16, 39]], (8, 4)))
    z = _core.QSparseLinear(np.zeros((30, 40), np.int8), s)
    assert z.nnz == 0
    np.testing.assert_array_equal(z.forward(x, b, ACT["relu"]), np.broadcast_to(np.maximum(b, 0), (8, 40)))


def test_int8_bits_independent_of_isa_and_threads(restore_isa, supported_isas, restore_threads):
    rng = np.random.default_rng(11)
    dense = _core.QLinear(sparse_matrix(rng, 200, 300, 0.9))
    q = _core.QSparseLinear(dense.weights_q(), dense.scales())
    x = rng.standard_normal((140, 200)).astype(np.float32)
    want = dense.forward(x, None, 0, 0.0)
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2, 3):
            bigcore.config.set_num_threads(threads)
            np.testing.assert_array_equal(q.forward(x), want, err_msg=f"isa={isa} threads={threads}")


# ---- bad input ---------------------------------------------------------------------------------------

def test_bad_input_raises_clear_errors():
    w = np.ones((4, 3), np.float32)
    s = _core.SparseLinear(w)
    with pytest.raises(ValueError, match=r"x must have shape \(M, 4\), got \(2, 5\)"):
        s.forward(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match="float32"):
        s.forward(np.ones((2, 4), np.float64))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        s.forward(np.ones((2, 4), np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match="unknown activation id 99"):
        s.forward(np.ones((2, 4), np.float32), None, 99)
    with pytest.raises(ValueError, match="weights must be finite"):
        _core.SparseLinear(np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="K <= 65535"):
        _core.SparseLinear(np.zeros((65536, 1), np.float32))
    with pytest.raises(ValueError, match="2-D C-contiguous float32"):
        _core.SparseLinear(np.ones((4, 3), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="int8"):
        _core.QSparseLinear(np.ones((4, 3), np.int16), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[-127, 127\], got -128"):
        _core.QSparseLinear(np.full((4, 3), -128, np.int8), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="scales must be finite and > 0"):
        _core.QSparseLinear(np.ones((4, 3), np.int8), np.array([1, 0, 1], np.float32))
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\)"):
        _core.QSparseLinear(np.ones((4, 3), np.int8), np.ones(4, np.float32))
    q = _core.QSparseLinear(np.ones((4, 3), np.int8), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="x_scale must be 0"):
        q.forward(np.ones((2, 4), np.float32), None, 0, -1.0)


# ---- layers in models ------------------------------------------------------------------------------

def pruned_mlp(seed=0, sparsity=0.8, input_dim=40):
    bigcore.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    m = bigcore.Sequential([layers.Input(shape=(input_dim,)), layers.Dense(64, activation="relu"),
                            layers.Dense(32, activation="tanh"), layers.Dense(5, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ws = m.get_weights()
    for i in (0, 2):
        ws[i][rng.random(ws[i].shape) < sparsity] = 0
    ws[1][:] = rng.standard_normal(ws[1].shape) * 0.1
    m.set_weights(ws)
    x = rng.standard_normal((150, input_dim)).astype(np.float32)
    return m, x


def always(sparse_wins):
    """A fake timer: sparse_wins(layer_name, batch) -> bool decides the (dense, sparse) times."""
    calls = []

    def timer(layer, batch):
        calls.append((layer.name, batch))
        return (2.0, 1.0) if sparse_wins(layer.name, batch) else (1.0, 2.0)

    timer.calls = calls
    return timer


def test_sparse_dense_model_predicts_like_dense():
    m, x = pruned_mlp()
    s = sparsify(m, timer=always(lambda name, b: True), min_sparsity=0.5)
    kinds = [type(layer) for layer in s.layers]
    assert kinds == [SparseDense, SparseDense, layers.Dense]  # the last kernel is dense: not timed
    p, ps = m.predict(x, verbose=0), s.predict(x, verbose=0)
    np.testing.assert_allclose(ps, p, rtol=0, atol=1e-6)
    np.testing.assert_allclose(s.predict(x[:1], verbose=0), p[:1], rtol=0, atol=1e-6)
    assert s.evaluate(x, np.zeros(len(x)), verbose=0)[0] == pytest.approx(m.evaluate(x, np.zeros(len(x)), verbose=0)[0], abs=1e-5)
    for a, b in zip(s.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="sparse Dense layer is for inference"):
        s.fit(x, np.zeros(len(x)), epochs=1, verbose=0)


def test_sparse_dense_on_sequences_and_functional_models():
    bigcore.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    inp = layers.Input(shape=(6, 12))
    a = layers.Dense(20, activation="relu", name="a")(inp)
    b = layers.Dense(20, activation="sigmoid", name="b")(inp)
    out = layers.Dense(3, name="c")(layers.Add()([a, b]))
    m = bigcore.Model(inp, out)
    ws = m.get_weights()
    for w in ws:
        if w.ndim == 2:
            w[rng.random(w.shape) < 0.75] = 0
    m.set_weights(ws)
    s = sparsify(m, timer=always(lambda name, b: name != "b"))
    assert {layer.name: type(layer).__name__ for layer in s.layers if layer.name in "abc"} == \
        {"a": "SparseDense", "b": "Dense", "c": "SparseDense"}
    x = rng.standard_normal((11, 6, 12)).astype(np.float32)
    np.testing.assert_allclose(s.predict(x, verbose=0), m.predict(x, verbose=0), rtol=0, atol=1e-6)


def test_quantized_sparse_model_is_bit_equal_and_saves(tmp_path):
    m, x = pruned_mlp(sparsity=0.9)
    q = quantize(m)
    qs = sparsify(q, timer=always(lambda name, b: True))
    assert [type(layer) for layer in qs.layers] == [QuantizedSparseDense, QuantizedSparseDense, QuantizedDense]
    np.testing.assert_array_equal(qs.predict(x, verbose=0), q.predict(x, verbose=0))
    path = str(tmp_path / "qs.bigcore")
    qs.save(path)
    r = bigcore.models.load_model(path)
    assert [type(layer) for layer in r.layers] == [QuantizedSparseDense, QuantizedSparseDense, QuantizedDense]
    np.testing.assert_array_equal(r.predict(x, verbose=0), q.predict(x, verbose=0))


def test_float_sparse_model_saves_and_loads(tmp_path):
    m, x = pruned_mlp()
    s = sparsify(m, timer=always(lambda name, b: True))
    path = str(tmp_path / "s.bigcore")
    s.save(path)
    r = bigcore.models.load_model(path)
    assert [type(layer) for layer in r.layers] == [type(layer) for layer in s.layers]
    np.testing.assert_array_equal(r.predict(x, verbose=0), s.predict(x, verbose=0))


# ---- sparsify's decisions ----------------------------------------------------------------------

def test_sparsify_keeps_dense_where_sparse_is_slower():
    m, _ = pruned_mlp()
    names = [layer.name for layer in m.layers]
    # layer 0: sparse wins at both batch sizes; layer 1: only at batch 64 -> stays dense
    timer = always(lambda name, b: name == names[0] or b == 64)
    s = sparsify(m, timer=timer)
    assert [type(layer) for layer in s.layers] == [SparseDense, layers.Dense, layers.Dense]
    assert sorted(timer.calls) == sorted([(names[0], 1), (names[0], 64), (names[1], 1), (names[1], 64)])
    rep = {d.layer: d for d in s.sparsify_report}
    assert rep[names[0]].sparse and rep[names[0]].speedup == 2.0 and rep[names[0]].times == {1: (2.0, 1.0), 64: (2.0, 1.0)}
    assert not rep[names[1]].sparse and rep[names[1]].speedup == 0.5 and "0.50 < 1.1" in rep[names[1]].reason
    assert not rep[names[2]].sparse and rep[names[2]].times == {} and "< 50%" in rep[names[2]].reason
    assert 0.75 < rep[names[0]].sparsity < 0.85 and rep[names[0]].dtype == "float32" and rep[names[0]].shape == (40, 64)
    text = format_report(s.sparsify_report)
    assert names[0] in text and "sparse" in text and "2000000.0" in text
    assert all(type(layer) is layers.Dense for layer in m.layers)  # the original is untouched


def test_sparsify_threshold_and_batch_size():
    m, _ = pruned_mlp()
    calls = []

    def timer(layer, b):
        calls.append(b)
        return 1.15, 1.0  # 15% faster

    assert type(sparsify(m, timer=timer).layers[0]) is SparseDense
    assert type(sparsify(m, min_speedup=1.2, timer=timer).layers[0]) is layers.Dense
    calls.clear()
    sparsify(m, batch_size=8, timer=timer)
    assert set(calls) == {8}
    assert type(sparsify(m, min_sparsity=0.9, timer=timer).layers[0]) is layers.Dense  # 80% zeros: not timed


def test_sparsify_measures_on_this_cpu():
    m, _ = pruned_mlp(sparsity=0.95)
    td, ts = measure(m.layers[0], 4, min_time=0.001, rounds=2)
    assert 0 < td < 1 and 0 < ts < 1
    s = sparsify(m, batch_size=2)
    d = s.sparsify_report[0]
    assert isinstance(d, SparseDecision) and set(d.times) == {2}
    assert d.sparse == (d.speedup >= 1.1) and type(s.layers[0]) is (SparseDense if d.sparse else layers.Dense)
    assert math.isfinite(d.speedup)


def test_sparsify_rejects_bad_arguments():
    m, _ = pruned_mlp()
    with pytest.raises(ValueError, match="min_speedup must be a number > 0, got -1"):
        sparsify(m, min_speedup=-1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer or None"):
        sparsify(m, batch_size=0)
    with pytest.raises(ValueError, match=r"min_sparsity must be a number in \[0, 1\]"):
        sparsify(m, min_sparsity=2)
    with pytest.raises(ValueError, match="input dimension of at most 65535, got 65536"):
        bigcore.Sequential([layers.Input(shape=(65536,)), SparseDense(1)])
