"""The own FMA GEMM (cpp/kernels/float/small_gemm.h): every product gemm() gives it (Dense, the RNN steps, weight gradients), and the batch-1 serving path.

Against a float64 NumPy reference on every ISA path this CPU runs, with odd sizes so the partial
column vectors, the narrower column blocks and the 1-3 leftover rows all run; bit for bit the same
on every path; a row's result independent of the rows beside it; and gemm() sends up to two rows
of a plain product to it.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import bigcore
from bigcore._native import _core

SIZES = [(1, 1, 1), (1, 10, 128), (1, 256, 64), (1, 128, 784), (2, 17, 5), (3, 33, 129), (4, 100, 7),
         (5, 257, 64), (7, 15, 31), (9, 1000, 3), (1, 16, 0), (20, 13, 50), (30, 27, 9)]


def _operands(M, N, K, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, K), dtype=np.float32)
    W = rng.standard_normal((K, N), dtype=np.float32)
    y = rng.standard_normal((M, N), dtype=np.float32)
    return x, W, y


def _check_close(got, x, W, y0):
    """|got - exact| within K+1 float32 roundings of the sum of |terms|."""
    exact = x.astype(np.float64) @ W.astype(np.float64) + (0.0 if y0 is None else y0.astype(np.float64))
    scale = np.abs(x).astype(np.float64) @ np.abs(W).astype(np.float64) + (0.0 if y0 is None else np.abs(y0))
    bound = (x.shape[1] + 1) * 2.0 ** -24 * scale + 1e-30
    assert np.all(np.abs(got - exact) <= bound), f"max error {np.max(np.abs(got - exact) - bound)} over the bound"


@pytest.mark.parametrize("M,N,K", SIZES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_matches_reference(isa, M, N, K, accumulate):
    x, W, y0 = _operands(M, N, K)
    y = y0.copy() if accumulate else np.full((M, N), np.nan, np.float32)  # overwritten, never read
    _core.small_gemm(x, W, y, accumulate)
    _check_close(y, x, W, y0 if accumulate else None)


@pytest.mark.parametrize("M,N,K", SIZES)
def test_every_isa_gives_the_same_bits(restore_isa, supported_isas, M, N, K):
    x, W, y0 = _operands(M, N, K, seed=1)
    got = {}
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        y = y0.copy()
        _core.small_gemm(x, W, y, True)
        got[isa] = y
    for isa, y in got.items():
        assert y.tobytes() == got["ref"].tobytes(), f"{isa} differs from ref"


def test_sum_runs_in_k_order_with_one_rounding_per_term(isa):
    """1 + 2^-24 + 2^-24: summed in k order with fused multiply-adds each step rounds back to 1
    (ties to even); any other grouping, (2^-24 + 2^-24) first, gives 1 + 2^-23."""
    x = np.array([[1.0, 1.0, 1.0]], np.float32)
    W = np.array([[1.0], [2.0 ** -24], [2.0 ** -24]], np.float32).repeat(37, axis=1)
    y = np.zeros((1, 37), np.float32)
    _core.small_gemm(x, W, y)
    assert np.all(y == 1.0)
    # one rounding per term: x*w + a is fused, so (1 + 2^-12)^2 - 1 keeps its 2^-24 term
    x = np.array([[1.0 + 2.0 ** -12]], np.float32)
    W = np.full((1, 19), 1.0 + 2.0 ** -12, np.float32)
    y = np.full((1, 19), -1.0, np.float32)
    _core.small_gemm(x, W, y, True)
    assert np.all(y == np.float32(2.0 ** -11 + 2.0 ** -24))


def test_a_row_does_not_depend_on_the_rows_beside_it(isa):
    x, W, _ = _operands(9, 77, 50, seed=2)
    whole = np.empty((9, 77), np.float32)
    _core.small_gemm(x, W, whole)
    for i in range(9):
        one = np.empty((1, 77), np.float32)
        _core.small_gemm(x[i:i + 1], W, one)
        assert one.tobytes() == whole[i:i + 1].tobytes(), f"row {i}"


@pytest.mark.parametrize("M", [1, 2])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_sends_one_or_two_rows_here(M, beta):
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS for every size")
    x, W, y0 = _operands(M, 300, 70, seed=3)
    via_gemm, direct = y0.copy(), y0.copy()
    _core.gemm(False, False, x, W, via_gemm, 1.0, beta)
    _core.small_gemm(x, W, direct, beta == 1.0)
    assert via_gemm.tobytes() == direct.tobytes()


def test_rejects_bad_arrays():
    x, W, y = _operands(2, 3, 4)
    with pytest.raises(ValueError, match="shapes do not match"):
        _core.small_gemm(x, W, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="float32"):
        _core.small_gemm(x.astype(np.float64), W, y)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.small_gemm(x, np.asfortranarray(W), y)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _core.small_gemm(x, W, y)


# --- the many-row path and gemm()'s routing (every product the own kernel takes) ------------------

# rows past the 6-row blocks (0-5 left over; 1-3 share the last 6 rows' work: 7, 8, 9), columns past the 64-wide panels
# (9-15 left: a vector and a part), K past the k blocks
# (128 rows on AVX-512, 256 on AVX2: 600 crosses two)
# and (from 24 rows, W rows 128 floats apart) the packed panels, in row blocks of 96 (250 rows: 2 + a part)
GEMM_SIZES = [(6, 64, 128), (13, 70, 129), (37, 200, 300), (64, 1024, 64), (100, 10, 784), (31, 5, 3),
              (128, 129, 257), (8, 1, 1), (250, 520, 300), (24, 128, 40), (40, 96, 600), (9, 48, 70),
              (61, 27, 130), (256, 12, 128)]


def _gemm(ta, tb, M, N, K, beta, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
    B = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    C = C0.copy()
    _core.gemm(ta, tb, A, B, C, 1.0, beta)
    return C, (A.T if ta else A), (B.T if tb else B), (C0 if beta else None)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("M,N,K", GEMM_SIZES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_gemm_matches_float64(isa, ta, tb, M, N, K, beta):
    C, a, b, c0 = _gemm(ta, tb, M, N, K, beta)
    _check_close(C, np.ascontiguousarray(a), np.ascontiguousarray(b), c0)


@pytest.mark.parametrize("M,N,K", [(250, 520, 300), (40, 256, 600), (784, 128, 256), (30, 160, 70)])
def test_trans_a_gives_the_bits_of_the_explicit_transpose(isa, restore_threads, M, N, K):
    """op(A) = A^T (a weight gradient's x^T dz) is copied group by group where enough column panels
    reuse it; the sums keep their k order, so the bits are those of the transposed array itself."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    rng = np.random.default_rng(9)
    A = rng.standard_normal((K, M), dtype=np.float32)
    W = rng.standard_normal((K, N), dtype=np.float32)
    for threads in (1, 2):
        bigcore.config.set_num_threads(threads)
        got, want = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
        _core.gemm(True, False, A, W, got, 1.0, 0.0)
        _core.gemm(False, False, np.ascontiguousarray(A.T), W, want, 1.0, 0.0)
        assert got.tobytes() == want.tobytes(), f"{threads} threads"


@pytest.mark.parametrize("M,N,K", [(128, 129, 257), (256, 700, 300), (300, 64, 1030), (130, 1000, 37), (200, 3, 65)])
def test_trans_b_gives_the_bits_of_the_explicit_transpose(isa, restore_threads, M, N, K):
    """op(B) = B^T (dx = dy @ W^T, from 128 rows) is copied into the kernel's layout tile by tile, each
    tile only its own columns (core/common.h's transpose32, 32 x 32 at a time; the sizes leave every
    kind of edge); the sums keep their k order, so on any thread count the bits are those of the
    transposed array itself."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((M, K), dtype=np.float32)
    B = rng.standard_normal((N, K), dtype=np.float32)
    want = np.empty((M, N), np.float32)
    _core.gemm(False, False, x, np.ascontiguousarray(B.T), want, 1.0, 0.0)
    _check_close(want, x, np.ascontiguousarray(B.T), None)
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        got = np.empty((M, N), np.float32)
        _core.gemm(False, True, x, B, got, 1.0, 0.0)
        assert got.tobytes() == want.tobytes(), f"{threads} threads"


def test_large_trans_b_is_close_and_the_same_on_any_thread_count(restore_threads):
    """Over 2 MB of B (here 1024 x 600), dx = dy @ W^T goes to the BLAS (copying B^T from L3 cost the own
    kernel more than the BLAS's packing): float64's values within the bound, and the same bits on 1-3
    threads (the BLAS's tiles follow the product's size, not the thread count)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((256, 600), dtype=np.float32)
    B = rng.standard_normal((1024, 600), dtype=np.float32)
    want = None
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        got = np.empty((256, 1024), np.float32)
        _core.gemm(False, True, x, B, got, 1.0, 0.0)
        want = got if want is None else want
        assert got.tobytes() == want.tobytes(), f"{threads} threads"
    _check_close(want, x, np.ascontiguousarray(B.T), None)


def _assert_bits_on_every_path(isas, ta, A, W, C0, beta, want):
    """gemm(op(A), W) into a copy of C0 gives want's bytes on every ISA path and on 1 and 2 threads."""
    for isa in isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2):
            bigcore.config.set_num_threads(threads)
            got = C0.copy()
            _core.gemm(ta, False, A, W, got, 1.0, beta)
            assert got.tobytes() == want.tobytes(), f"{isa}, {threads} threads"


@pytest.mark.parametrize("M,N,K", [(784, 1, 256), (130, 2, 33), (61, 3, 300), (7, 1, 9), (100, 4, 64), (128, 10, 256),
                                   (57, 5, 17), (200, 12, 40), (33, 11, 1), (16, 6, 700)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_narrow_trans_a_rows_as_lanes_gives_the_column_lane_bits(supported_isas, restore_isa, restore_threads, M, N,
                                                                  K, beta):
    """A weight gradient into a few columns (a Dense(1)-(12) head's dW = x^T dz) runs rows as lanes
    (small_gemm.h's narrow_ta): every output keeps its k-ordered chain of FMAs, so on every ISA path
    and thread count the bits are those of the explicit transpose through the column-lane kernel,
    partial row vectors and leftover column chunks included."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    rng = np.random.default_rng(M * 31 + N)
    A = rng.standard_normal((K, M), dtype=np.float32)
    W = rng.standard_normal((K, N), dtype=np.float32)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    want = C0.copy()
    _core.gemm(False, False, np.ascontiguousarray(A.T), W, want, 1.0, beta)
    _check_close(want, np.ascontiguousarray(A.T), W, C0 if beta else None)
    _assert_bits_on_every_path(supported_isas, True, A, W, C0, beta, want)


@pytest.mark.parametrize("M,N,K", [(70, 1, 128), (256, 1, 784), (16, 2, 33), (65, 3, 9), (130, 4, 300), (17, 4, 1)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_narrow_forward_rows_as_lanes_gives_each_rows_bits_alone(supported_isas, restore_isa, restore_threads, M, N,
                                                                 K, beta):
    """x @ W into 1-4 columns (a Dense(1) head's forward): from 16 rows, 1-2 columns transpose x in
    blocks and run rows as lanes (small_gemm.h's narrow_nt); a row alone, and 3-4 columns, take the
    column-lane kernel. Each output is the same k-ordered FMA chain either way: the same bits on
    every ISA and thread count."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    x, W, C0 = _operands(M, N, K, seed=M + 7 * N)
    want = np.empty((M, N), np.float32)
    for i in range(M):
        one = C0[i:i + 1].copy()
        _core.gemm(False, False, x[i:i + 1], W, one, 1.0, beta)
        want[i] = one[0]
    _check_close(want, x, W, C0 if beta else None)
    _assert_bits_on_every_path(supported_isas, False, x, W, C0, beta, want)


@pytest.mark.parametrize("ta", [False, True])
def test_gemm_bits_do_not_depend_on_rows_threads_or_isa(supported_isas, restore_isa, restore_threads, ta):
    """Each output is one chain of FMAs in k order: the same bits for a row alone or in any batch,
    on 1-3 threads (the product is cut differently) and on every ISA path."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    rng = np.random.default_rng(5)
    M, N, K = 300, 700, 260  # above the 2-thread threshold: the threads cut it
    x = rng.standard_normal((M, K), dtype=np.float32)
    W = rng.standard_normal((K, N), dtype=np.float32)
    A = np.ascontiguousarray(x.T) if ta else x
    want = None
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2, 3):
            bigcore.config.set_num_threads(threads)
            C = np.empty((M, N), np.float32)
            _core.gemm(ta, False, A, W, C, 1.0, 0.0)
            want = C if want is None else want
            assert C.tobytes() == want.tobytes(), f"{isa}, {threads} threads"
    for rows in (slice(0, 1), slice(7, 20), slice(290, 300)):
        part = np.empty((rows.stop - rows.start, N), np.float32)
        _core.gemm(False, False, np.ascontiguousarray(x[rows]), W, part, 1.0, 0.0)
        assert part.tobytes() == want[rows].tobytes(), f"rows {rows}"


def test_gemm_blas_mode_is_a_choice_of_the_caller():
    x, W, _ = _operands(50, 60, 70, seed=4)
    own, blas = np.empty((50, 60), np.float32), np.empty((50, 60), np.float32)
    try:
        _core.gemm(False, False, x, W, own, 1.0, 0.0)
        _core.set_gemm_mode("blas")
        _core.gemm(False, False, x, W, blas, 1.0, 0.0)
    finally:
        _core.set_gemm_mode("own")
    np.testing.assert_allclose(own, blas, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected 'own' or 'blas', received 'fast'"):
        _core.set_gemm_mode("fast")


def test_bigcore_gemm_environment_variable():
    code = ("import numpy as np, bigcore; from bigcore._native import _core; "
            "x = np.ones((40, 30), np.float32); W = np.ones((30, 20), np.float32); y = np.zeros((40, 20), np.float32); "
            "_core.gemm(False, False, x, W, y, 1.0, 0.0); print(float(y.sum()))")
    env = dict(os.environ, BIGCORE_GEMM="blas")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and float(out.stdout) == 40 * 20 * 30
    env["BIGCORE_GEMM"] = "fastest"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "BIGCORE_GEMM: expected 'own' or 'blas', received 'fastest'" in out.stderr


# (M, N, K): rows under and over the kernel's row groups and blocks of 96, columns in whole panels
# and past them, K over one and two k blocks (128 or 256); wide enough for the threads to split the columns.
PACKED_SIZES = [(3, 70, 40), (6, 16, 5), (32, 1024, 256), (50, 200, 300), (100, 130, 129), (7, 33, 1), (20, 64, 520), (15, 64, 33)]


@pytest.mark.parametrize("M,N,K", PACKED_SIZES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_packed_weights_give_the_same_bits(isa, M, N, K, accumulate):
    """W packed once (the recurrent layers' R per call) gives fma_gemm's bits, on 1 and 2 threads."""
    x, W, y0 = _operands(M, N, K, seed=3)
    want = y0.copy()
    _core.small_gemm(x, W, want, accumulate)
    _check_close(want, x, W, y0 if accumulate else None)
    before = bigcore.config.get_num_threads()
    try:
        for n in (1, 2):
            bigcore.config.set_num_threads(n)
            y = y0.copy() if accumulate else np.full((M, N), np.nan, np.float32)
            _core.packed_gemm(x, W, y, accumulate)
            assert y.tobytes() == want.tobytes(), f"{n} threads"
    finally:
        bigcore.config.set_num_threads(before)


@pytest.mark.parametrize("K,parts", [(2048, 2), (5000, 4), (3100, 2)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_weight_gradient_sum_cut_into_pieces_of_k(supported_isas, restore_isa, restore_threads, K, parts, beta):
    """op(A) = A^T over many rows into a small output (Dense's dW): the sum is cut into `parts`
    pieces of K fixed by the shape (gemm.cpp's k_parts: 2 from 2048 rows, 4 from 4096, for fewer
    than 128 columns); piece 0 is summed into C, the others
    on their own and added to C in piece order. Those bits exactly, on every thread count and ISA
    path, and within the float32 error bound of the exact product."""
    if "fma" not in bigcore.config.cpu_features()["features"]:
        pytest.skip("without FMA gemm() keeps the BLAS")
    rng = np.random.default_rng(K)
    M, N = 32, 40
    A = rng.standard_normal((K, M), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    C0 = rng.standard_normal((M, N), dtype=np.float32)
    step = -(-K // parts)
    # each piece is under the 2048 rows that would cut it again: one k-ordered chain per output
    assert step < 2048
    want = C0.copy() if beta else np.zeros((M, N), np.float32)
    _core.gemm(True, False, np.ascontiguousarray(A[:step]), np.ascontiguousarray(B[:step]), want, 1.0, 1.0)
    for p in range(1, parts):
        piece = np.zeros((M, N), np.float32)
        rows = slice(p * step, min(K, (p + 1) * step))
        _core.gemm(True, False, np.ascontiguousarray(A[rows]), np.ascontiguousarray(B[rows]), piece, 1.0, 0.0)
        want += piece
    _check_close(want, np.ascontiguousarray(A.T), B, C0 if beta else None)
    for isa in supported_isas:
        bigcore.config.set_cpu_isa(isa)
        for threads in (1, 2, 3):
            bigcore.config.set_num_threads(threads)
            C = C0.copy()
            _core.gemm(True, False, A, B, C, 1.0, beta)
            assert C.tobytes() == want.tobytes(), f"{isa}, {threads} threads"
