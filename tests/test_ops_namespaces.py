"""keras.ops.numpy, keras.ops.nn and keras.ops.linalg are namespaces of their own: every op bigcore has under a name Keras
keeps there resolves there too (ops.numpy.isnan, ops.nn.dot_product_attention), the same function as
bigcore.ops's."""

import numpy as np

from bigcore import ops


def test_submodules_hold_kerass_names(keras):
    for sub in ("numpy", "nn", "linalg"):
        theirs = [n for n in dir(getattr(keras.ops, sub)) if not n.startswith("_")]
        ours = getattr(ops, sub)
        missing = [n for n in theirs if hasattr(ops, n) and not hasattr(ours, n)]
        assert not missing, f"ops.{sub} lacks {missing}"


def test_submodule_ops_compute():
    x = np.array([1.0, np.nan, -2.0], np.float32)
    np.testing.assert_array_equal(ops.numpy.isnan(x), [False, True, False])
    np.testing.assert_allclose(ops.numpy.sort(np.array([3.0, 1.0, 2.0])), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ops.nn.multi_hot(np.array([[0, 2]]), 4), [[1, 0, 1, 0]])
    q = np.random.default_rng(0).normal(size=(1, 3, 2, 4)).astype(np.float32)
    np.testing.assert_allclose(ops.nn.dot_product_attention(q, q, q), ops.dot_product_attention(q, q, q))
