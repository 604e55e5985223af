"""keras.ops.segment_sum / max / min / prod: against a loop reference (float64) and Keras 3,
eagerly and traced inside a custom layer (weights after SGD steps against Keras), and refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import ops
from keras_training_checks import trains_like_keras

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

FNS = {"segment_sum": (np.add, 0.0), "segment_max": (np.maximum, -np.inf), "segment_min": (np.minimum, np.inf),
       "segment_prod": (np.multiply, 1.0)}


def _reference(fn, data, ids, num_segments):
    op, fill = FNS[fn]
    S = int(ids.max()) + 1 if num_segments is None else num_segments
    out = np.full((S,) + data.shape[1:], fill, np.float64)
    for row, s in zip(np.asarray(data, np.float64), ids):
        if 0 <= s < S:  # Keras on torch drops ids outside [0, num_segments)
            out[s] = op(out[s], row)
    return out


@pytest.mark.parametrize("fn", sorted(FNS))
@pytest.mark.parametrize("num_segments", [None, 4, 7])
@pytest.mark.parametrize("shape", [(7,), (7, 3), (7, 3, 2)])
def test_segment_ops_against_the_loop_reference(fn, num_segments, shape):
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    ids = np.array([0, 2, 2, -1, 0, 5, 1])
    got = np.asarray(getattr(ops, fn)(data, ids, num_segments=num_segments))
    np.testing.assert_allclose(got, _reference(fn, data, ids, num_segments), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", sorted(FNS))
def test_segment_ops_match_keras(keras, fn):
    data = np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32)
    ids = np.array([3, 0, 0, 1, 3, 3, 8, 2, 0])
    for n in (None, 5):
        theirs = keras.ops.convert_to_numpy(getattr(keras.ops, fn)(data, ids, num_segments=n))
        np.testing.assert_allclose(np.asarray(getattr(ops, fn)(data, ids, num_segments=n)), theirs, rtol=1e-6, atol=1e-6)


def _graph_model(lib):
    class Aggregate(lib.layers.Layer):  # a message-passing step over a fixed graph's node table
        def build(self, input_shape):
            self.nodes = self.add_weight(shape=(5, 3), initializer="glorot_uniform")

        def call(self, x):
            ids = lib.ops.convert_to_tensor(np.array([0, 2, 2, 1, 0]))
            summed = lib.ops.segment_sum(self.nodes, ids, num_segments=3)
            peak = lib.ops.segment_max(self.nodes, ids, num_segments=4)  # segment 3 is empty: -inf
            return lib.ops.matmul(x, summed) + lib.ops.sum(lib.ops.where(lib.ops.isfinite(peak), peak, 0.0))

    inp = lib.Input((3,))
    return lib.Model(inp, Aggregate()(inp))


def test_segment_ops_in_a_custom_layer_match_keras_after_sgd_steps(keras):
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 3)).astype(np.float32), rng.random((8, 3)).astype(np.float32)
    trains_like_keras(keras, _graph_model, x, y, 0.1, epochs=3)


def test_segment_ops_refuse_bad_arguments():
    data = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="vector"):
        ops.segment_sum(data, np.zeros((4, 1), np.int32), num_segments=2)
    with pytest.raises(ValueError, match="first axis must match"):
        ops.segment_max(data, np.zeros(3, np.int32), num_segments=2)
    with pytest.raises(ValueError, match="non-negative int"):
        ops.segment_min(data, np.zeros(4, np.int32), num_segments=-1)

    class NoCount(bigcore.layers.Layer):
        def call(self, x):
            return ops.segment_sum(x, ops.cast(x[:, 0], "int32"))

    with pytest.raises(ValueError, match="num_segments must be given"):
        NoCount()(bigcore.Input((2,)))
