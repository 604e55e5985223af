"""int8 linear layer (QLinear.forward: quantize x, int8 GEMM, fused scale + bias + relu) against the
float32 path (our tiled sgemm + bias_act_forward) and NumPy's matmul, per int8 CPU path this
machine runs. The int8 timings include quantizing x and allocating the output.

    PYTHONPATH=python python -m pytest bench/bench_quant.py --benchmark-only \
        [--benchmark-columns median,iqr,ops] [--bigcore-threads N] [--benchmark-json out.json]

Groups are one layer shape and batch ("784x128 M=256"), so the table puts int8 and fp32 side by
side. Each benchmark writes `gops` (2*M*K*N / median, in 1e9 ops/s), `median_ms`, `threads` and
the path into extra_info.
"""

import numpy as np
import pytest

import bigcore
from bigcore._native import _core

SHAPES = [(784, 128, 1), (784, 128, 256), (1024, 1024, 1), (1024, 1024, 64)]  # K, N, M
QISAS = [i for i in ("ref", "avx2", "avxvnni", "avx512vnni") if i in bigcore.config.cpu_features()["supported"]]
RELU = 1


def _case(K, N, M):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    return x, w, b


def _gops(benchmark, bigcore_threads, K, N, M, path):
    info = benchmark.extra_info
    info["threads"] = bigcore_threads
    info["path"] = path
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        info["median_ms"] = round(median * 1e3, 4)
        info["gops"] = round(2.0 * M * K * N / median / 1e9, 2)


@pytest.fixture
def quant_isa(request):
    before = bigcore.config.cpu_features()["isa"]
    bigcore.config.set_cpu_isa(request.param)  # each int8 path's name selects it
    yield request.param
    bigcore.config.set_cpu_isa(before)


@pytest.mark.parametrize("quant_isa", QISAS, indirect=True)
@pytest.mark.parametrize("K,N,M", SHAPES, ids=[f"{k}x{n}-M{m}" for k, n, m in SHAPES])
def test_qlinear(benchmark, bigcore_threads, quant_isa, K, N, M):
    if quant_isa == "ref" and M > 1:
        pytest.skip("the portable reference is only timed at batch 1 (it is slow by design)")
    x, w, b = _case(K, N, M)
    layer = _core.QLinear(w)
    layer.forward(x, b, RELU)
    benchmark.group = f"{K}x{N} M={M}"
    benchmark(layer.forward, x, b, RELU)
    _gops(benchmark, bigcore_threads, K, N, M, f"int8 {quant_isa}")


@pytest.mark.parametrize("K,N,M", SHAPES, ids=[f"{k}x{n}-M{m}" for k, n, m in SHAPES])
def test_float_dense(benchmark, bigcore_threads, K, N, M):
    x, w, b = _case(K, N, M)
    y = np.empty((M, N), np.float32)

    def dense():
        _core.gemm(False, False, x, w, y, 1.0, 0.0)
        _core.bias_act_forward(y, b, RELU)

    dense()
    benchmark.group = f"{K}x{N} M={M}"
    benchmark(dense)
    _gops(benchmark, bigcore_threads, K, N, M, f"fp32 {bigcore.config.cpu_features()['paths']['float']}")


@pytest.mark.parametrize("K,N,M", SHAPES, ids=[f"{k}x{n}-M{m}" for k, n, m in SHAPES])
def test_numpy_dense(benchmark, bigcore_threads, K, N, M):
    """NumPy's matmul (its own OpenBLAS build and threads), + b, relu: an fp32 yardstick from
    outside bigcore (at batch 1 it runs sgemv, which bigcore's tiled sgemm does not)."""
    x, w, b = _case(K, N, M)
    y = np.empty((M, N), np.float32)

    def dense():
        np.matmul(x, w, out=y)
        np.add(y, b, out=y)
        np.maximum(y, 0.0, out=y)

    dense()
    benchmark.group = f"{K}x{N} M={M}"
    benchmark(dense)
    _gops(benchmark, bigcore_threads, K, N, M, "fp32 numpy")
