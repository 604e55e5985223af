"""keras.ops's loops and branches (unrolled at trace time) and the composed extras (array, select,
multi_hot, nansum, nanmax ...): against Keras 3 on arrays, and inside a traced call() against the same
functions on arrays."""

import warnings

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops


def _np(v):
    if isinstance(v, (list, tuple)):
        return [_np(x) for x in v]
    return np.asarray(v.detach().cpu() if hasattr(v, "detach") else v, dtype=np.float64)


def _cases(o):
    x = np.array([[0.5, np.nan, -2.0], [np.inf, 1.0, -np.inf]], np.float32)
    y = np.array([[1.0, 3.0, np.nan], [0.0, -1.0, 2.0]], np.float32)
    ids = np.array([[0, 2, 2], [1, 3, 0]], np.int32)
    z = np.array([[1.5, np.nan, -2.0, 4.0], [np.nan] * 4, [0.5, 3.0, np.nan, -1.0]], np.float32)
    return {
        "fori_loop": lambda: o.fori_loop(1, 5, lambda i, v: v * 2.0 + i, np.float32(1.0)),
        "while_loop": lambda: o.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 1.5), (0, np.ones(2, np.float32)))[1],
        "scan": lambda: o.scan(lambda c, v: (c + v, c * v), np.float32(0.0), np.arange(5, dtype=np.float32)),
        "scan_reverse": lambda: o.scan(lambda c, v: (c + v, c), np.float32(1.0), np.arange(4, dtype=np.float32),
                                       reverse=True),
        "map": lambda: o.map(lambda v: v * v + 1.0, np.arange(4, dtype=np.float32)),
        "switch": lambda: o.switch(7, [lambda a: a + 1.0, lambda a: a - 1.0], np.float32(3.0)),
        "select": lambda: o.select([y > 0, x > 0], [y, x], -1.0),
        "multi_hot": lambda: o.multi_hot(ids, 5),
        "nansum": lambda: o.nansum(y, axis=1),
        "nanmean": lambda: o.nanmean(y),
        "nanmax_rows": lambda: o.nanmax(z, axis=1),  # an all-NaN row gives NaN
        "nanmax_all": lambda: o.nanmax(z),
        "nanmin_cols": lambda: o.nanmin(z, axis=0, keepdims=True),
        "nanmin_int": lambda: o.nanmin(ids, axis=1),
        "nanprod": lambda: o.nanprod(z, axis=1),
        "nanvar": lambda: o.nanvar(z, axis=1),
        "nanstd_all": lambda: o.nanstd(z),
        "nanstd_int": lambda: o.nanstd(ids, axis=0),
        "nancumsum": lambda: o.nancumsum(z, axis=1),
        "nancumprod_flat": lambda: o.nancumprod(z),
        "isposinf": lambda: o.isposinf(x),
        "isneginf": lambda: o.isneginf(x),
        "fmax": lambda: o.fmax(x, y),
        "fmin": lambda: o.fmin(x, y),
        "erfc": lambda: o.erfc(np.linspace(-2, 2, 9, dtype=np.float32)),
        "logaddexp2": lambda: o.logaddexp2(np.float32([1.0, -3.0]), np.float32([2.0, 0.5])),
        "batch_normalization": lambda: o.batch_normalization(np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                                                             np.float32([1, 2, 3]), np.float32([1, 4, 9]), axis=1,
                                                             offset=np.float32([0, 1, 0]),
                                                             scale=np.float32([2, 1, 1])),
        "saturate_cast": lambda: o.saturate_cast(np.float32([300.0, -5.0, 7.0]), "uint8"),
        "array": lambda: o.array([[1, 2], [3, 4]], dtype="float32"),
        "empty_like_shape": lambda: o.shape(o.empty_like(x)),
    }


@pytest.mark.parametrize("name", sorted(_cases(ops)))
def test_against_keras(keras, name):
    ours, theirs = _cases(ops)[name](), _cases(keras.ops)[name]()
    if name == "empty_like_shape":
        assert tuple(ours) == tuple(theirs)
        return
    for a, b in zip(_np(ours) if isinstance(ours, tuple) else [_np(ours)],
                    _np(theirs) if isinstance(theirs, tuple) else [_np(theirs)]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _NanStats(layers.Layer):
    def call(self, x):
        x = ops.where(x > 1.0, float("nan"), x)
        return ops.concatenate([ops.nanmax(x, axis=1, keepdims=True), ops.nanmin(x, axis=1, keepdims=True),
                                ops.nanvar(x, axis=1, keepdims=True), ops.nancumsum(x, axis=1)], axis=1)


def test_nan_reductions_inside_a_traced_call():
    x = np.random.default_rng(2).normal(size=(8, 5)).astype(np.float32)
    x[0] = 2.0  # a row of NaNs only
    inp = bigcore.Input((5,))
    got = bigcore.Model(inp, _NanStats()(inp)).predict(x, verbose=0)
    v = np.where(x > 1.0, np.nan, x).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's all-NaN slice warning
        want = np.concatenate([np.nanmax(v, 1, keepdims=True), np.nanmin(v, 1, keepdims=True),
                               np.nanvar(v, 1, keepdims=True), np.nancumsum(v, 1)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _Composed(layers.Layer):
    def call(self, x):
        x = ops.fori_loop(0, 3, lambda i, v: v * 0.5 + ops.cast(i, "float32"), x)
        x = ops.select([x > 1.0, x < -1.0], [x * 2.0, ops.fmax(x, -1.5)], 0.25)
        return ops.batch_normalization(x, ops.array([0.5, 0.0, -0.5]), ops.array([1.0, 2.0, 4.0]), axis=-1,
                                       scale=ops.array([1.0, 2.0, 3.0]))


def test_inside_a_traced_call():
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32) * 3
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, _Composed()(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0), _Composed()(x), rtol=1e-5, atol=1e-6)
    want = x.astype(np.float64)
    for i in range(3):
        want = want * 0.5 + i
    want = np.where(want > 1, want * 2, np.where(want < -1, np.fmax(want, -1.5), 0.25))
    want = (want - [0.5, 0.0, -0.5]) / np.sqrt(np.array([1.0, 2.0, 4.0]) + 1e-3) * [1.0, 2.0, 3.0]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_traced_loops_need_static_trip_counts():
    class OverBatch(layers.Layer):
        def call(self, x):
            return ops.map(lambda row: row * 2.0, x)

    with pytest.raises(ValueError, match="static length"):
        OverBatch()(bigcore.Input((3,)))

    class SymbolicBound(layers.Layer):
        def call(self, x):
            return ops.fori_loop(0, ops.sum(x), lambda i, v: v, x)

    with pytest.raises(TypeError, match="symbolic bound"):
        SymbolicBound()(bigcore.Input((3,)))


def _recommender(lib, users=7, items=5, d=4):
    inp = lib.Input((2,), dtype="int32")
    u = lib.layers.Embedding(users, d, name="u")(inp[:, 0])
    v = lib.layers.Embedding(items, d, name="v")(inp[:, 1])
    bu = lib.layers.Embedding(users, 1, name="bu")(inp[:, 0])
    bv = lib.layers.Embedding(items, 1, name="bv")(inp[:, 1])
    return lib.Model(inp, lib.ops.sigmoid(lib.ops.tensordot(u, v, 2) + bu + bv))


def test_tensordot_over_every_axis_with_the_batch_matches_keras(keras):
    """tensordot(u, v, 2) on two (batch, d) tensors contracts the batch axis too (a scalar per batch,
    as a keras-io recommender writes it): it raised; now the same outputs and the same weights after
    SGD steps as Keras 3."""
    ours, theirs = _recommender(bigcore), _recommender(keras)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, 7, 16), rng.integers(0, 5, 16)], axis=1).astype(np.int32)
    y = rng.random((16, 1)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs(x)), rtol=1e-5)
    for m in (ours, theirs):
        m.compile(optimizer=m.__module__.startswith("bigcore") and bigcore.optimizers.SGD(0.5)
                  or keras.optimizers.SGD(0.5), loss="mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), [w.value for w in theirs.weights]):
        np.testing.assert_allclose(a, _np(b), rtol=1e-4, atol=1e-6)
