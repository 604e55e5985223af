"""keras.ops scatter, scatter_update, slice_update: against Keras 3 on arrays, and inside a traced
call() (batched tensors, weights) against the same maths in numpy, gradients included."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

rng = np.random.default_rng(0)


def _np(v):
    return np.asarray(v.detach().cpu() if hasattr(v, "detach") else v)


def _cases(o):
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    xi = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    return {
        "scatter_points_repeated": lambda: o.scatter(np.array([[0, 1], [2, 0], [0, 1]]),
                                                     np.float32([1.0, 2.0, 3.0]), (3, 2)),
        "scatter_rows": lambda: o.scatter(np.array([[1], [3]]), np.arange(6, dtype=np.float32).reshape(2, 3), (4, 3)),
        "scatter_int": lambda: o.scatter([[1], [0]], np.int32([7, 9]), (3,)),
        "scatter_update_points": lambda: o.scatter_update(x, [[0, 1], [2, 3]], np.float32([5.0, 6.0])),
        "scatter_update_rows": lambda: o.scatter_update(x, [[1]], np.ones((1, 4), np.float32)),
        "slice_update_2d": lambda: o.slice_update(x, (1, 2), np.full((2, 2), -1.0, np.float32)),
        "slice_update_int3d": lambda: o.slice_update(xi, (1, 0, 1), np.zeros((1, 3, 2), np.int32)),
    }


@pytest.mark.parametrize("name", sorted(_cases(ops)))
def test_against_keras(keras, name):
    ours, theirs = _np(_cases(ops)[name]()), _np(_cases(keras.ops)[name]())
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


class _Writes(layers.Layer):
    """Writes a learned row over steps 1..2 of each sequence, and adds a learned vector scattered into
    features 0 and 2."""

    def build(self, shape):
        self.row = self.add_weight(shape=(1, 1, shape[-1]), initializer="ones")
        self.v = self.add_weight(shape=(2,), initializer="zeros")

    def call(self, x):
        block = x[:, :2] * 0.0 + 2.0 * self.row  # (B, 2, D): the learned row, on a batched tensor
        y = ops.slice_update(x, (0, 1, 0), block)
        return y + ops.scatter([[0], [2]], self.v, (x.shape[-1],))


def reference(x, row, v):
    y = x.astype(np.float64).copy()
    y[:, 1:3] = 2.0 * row.reshape(1, 1, -1)
    add = np.zeros(x.shape[-1])
    add[[0, 2]] = v
    return y + add


def test_inside_a_traced_call_with_gradients():
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)
    inp = bigcore.Input((5, 3))
    layer = _Writes()
    model = bigcore.Model(inp, layer(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0), reference(x, layer.row.numpy(), layer.v.numpy()),
                               rtol=1e-6)
    # one SGD step on mse against y: the written block's and the scattered entries' gradients
    y = rng.normal(size=x.shape).astype(np.float32)
    model.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    row0, v0 = layer.row.numpy().astype(np.float64), layer.v.numpy().astype(np.float64)
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    err = reference(x, row0, v0) - y  # d mse / d out = 2 err / size
    g_out = 2.0 * err / err.size
    g_row = 2.0 * g_out[:, 1:3].sum(axis=(0, 1))
    g_v = g_out.sum(axis=(0, 1))[[0, 2]]
    np.testing.assert_allclose(layer.row.numpy().ravel(), row0.ravel() - 0.1 * g_row, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), v0 - 0.1 * g_v, rtol=1e-5, atol=1e-6)


def test_positions_must_be_known_and_in_range():
    inp = bigcore.Input((4,))
    with pytest.raises(ValueError, match="known when the call is traced"):
        ops.slice_update(inp, bigcore.Input((2,), dtype="int32"), inp)
    with pytest.raises(IndexError, match="out of range"):
        ops.scatter([[5]], np.float32([1.0]), (3,))
    with pytest.raises(ValueError, match="do not fit"):
        ops.slice_update(np.zeros((3, 3), np.float32), (2, 0), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="run-time length"):
        ops.slice_update(inp, (1, 0), ops.ones((1, 4)))


class _ScatterRepeats(layers.Layer):
    def build(self, shape):
        self.v = self.add_weight(shape=(3,), initializer="ones")

    def call(self, x):
        # repeated index 1 (two values add up) and unique indices, each on a traced weight
        return (x + ops.scatter([[1], [1], [3]], self.v, (x.shape[-1],))
                + ops.scatter([[0], [2]], self.v[:2] * 2.0, (x.shape[-1],)))


def test_traced_scatter_with_and_without_repeats():
    inp = bigcore.Input((5,))
    layer = _ScatterRepeats()
    model = bigcore.Model(inp, layer(inp))
    x = rng.normal(size=(4, 5)).astype(np.float32)
    v = layer.v.numpy()
    add = np.zeros(5, np.float32)
    add[1] += v[0] + v[1]
    add[3] += v[2]
    add[[0, 2]] += 2.0 * v[:2]
    np.testing.assert_allclose(model.predict(x, verbose=0), x + add, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ops.scatter([[1], [1], [3]], v, (5,))), [0, v[0] + v[1], 0, v[2], 0])


def test_a_huge_traced_membership_is_refused():
    class Big(layers.Layer):
        def build(self, shape):
            self.v = self.add_weight(shape=(5000,), initializer="ones")

        def call(self, x):
            idx = np.zeros((5000, 1), np.int64)  # 5000 repeats of one position among 10000
            return x[:, :1] + ops.scatter(idx, self.v, (10000,))[:1]

    with pytest.raises(ValueError, match="without repeats"):
        Big()(bigcore.Input((3,)))
