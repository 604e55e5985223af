"""strip_pruning(sparse_kernels=True) and quantize() pick sparse kernels through sparsify, and the
chosen kernels compute what the dense ones do."""
import numpy as np

import bigcore
from bigcore import compression, layers
from bigcore.layers.sparse import QuantizedSparseDense, SparseDense
from bigcore.quantization import QuantizedDense, quantize


def _pruned_model(sparsity=0.95):
    bigcore.utils.set_random_seed(4)
    m = bigcore.Sequential([layers.Input(shape=(512,)), layers.Dense(512, activation="relu"),
                            layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 512)).astype(np.float32)
    y = rng.integers(0, 10, 64).astype(np.float32)
    p = compression.prune_low_magnitude(m, pruning_schedule=compression.ConstantSparsity(sparsity, 0, frequency=1))
    p.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return p, x


def test_strip_with_sparse_kernels_reports_and_agrees():
    p, x = _pruned_model()
    plain = compression.strip_pruning(p)
    sparse = compression.strip_pruning(p, sparse_kernels=True)
    assert not hasattr(plain, "sparsify_report") and type(plain.layers[0]) is layers.Dense
    report = {d.layer: d for d in sparse.sparsify_report}
    first = report[sparse.layers[0].name]
    assert first.sparsity >= 0.94 and set(first.times) == {1, 64}
    assert isinstance(sparse.layers[0], SparseDense) == first.sparse
    np.testing.assert_allclose(sparse.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_quantize_sparsifies_only_where_timed_faster_and_keeps_the_bits():
    p, x = _pruned_model()
    stripped = compression.strip_pruning(p, sparse_kernels=True)  # may hold SparseDense layers
    q = quantize(stripped)
    dense_q = quantize(stripped, sparse_kernels=False)
    assert all(type(layer) is QuantizedDense for layer in dense_q.layers)
    for layer, d in zip(q.layers, q.sparsify_report):
        assert d.layer == layer.name and d.dtype == "int8"
        assert isinstance(layer, QuantizedSparseDense) == d.sparse
    np.testing.assert_array_equal(q.predict(x, verbose=0), dense_q.predict(x, verbose=0))
