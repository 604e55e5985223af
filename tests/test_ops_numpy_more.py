"""More of keras.ops: the bit operations, gcd / lcm, isin, digitize, bincount, histogram, unravel_index,
argpartition, nanargmax / nanargmin, nanquantile / nanpercentile / nanmedian, corrcoef, correlate,
cross, kron, i0, erfinv, ldexp, nextafter, cdist, extract_sequences and rearrange: eager on arrays
against Keras 3 (torch backend) and NumPy, traced inside a custom layer's call() (predict and fit
against the same layer in Keras), and the refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(7)
I1 = np.array([12, -7, 0, 255, 1024, -1], np.int32)
I2 = np.array([10, 3, 5, 15, 3, 2], np.int32)
U8 = np.array([1, 2, 200, 255], np.uint8)
B = np.array([True, False, True, False])
X = RNG.normal(size=(3, 4, 5)).astype(np.float32)
XN = X.copy()
XN[0, 1, :] = np.nan
XN[1, :, 2] = np.nan
XN[2, 3, 1] = np.nan
V = np.array([0.3, -1.2, 2.5, 0.0, 1.1], np.float32)
W = np.array([1.0, -0.5, 2.0], np.float32)


def _np(t):
    if isinstance(t, (list, tuple)):
        return [_np(a) for a in t]
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


CASES = [
    ("bitwise_and", (I1, I2), {}), ("bitwise_or", (I1, I2), {}), ("bitwise_xor", (I1, I2), {}),
    ("bitwise_and", (B, np.array([True, True, False, False])), {}), ("bitwise_or", (U8, np.uint8(3)), {}),
    ("bitwise_not", (I1,), {}), ("bitwise_invert", (U8,), {}), ("bitwise_not", (B,), {}),
    ("bitwise_left_shift", (I1, 3), {}), ("left_shift", (I2, np.array([1, 2, 3, 4, 5, 6], np.int32)), {}),
    ("bitwise_right_shift", (I1, 2), {}), ("right_shift", (I1, np.array([0, 1, 2, 3, 4, 5], np.int32)), {}),
    ("left_shift", (U8, 1), {}),
    ("gcd", (I1, I2), {}), ("gcd", (np.array([[0, 6], [-9, 0]], np.int32), np.array([4, 0], np.int32)), {}),
    ("lcm", (I1, I2), {}), ("lcm", (np.array([2, 3, 4], np.int32), np.array([5, 6, 7], np.int32)), {}),
    ("isin", (I1, np.array([0, 255, 3, -7], np.int32)), {}),
    ("isin", (X.round(), np.array([0.0, 1.0, -1.0], np.float32)), {"invert": True}),
    ("isin", (np.array([[0, 1], [2, 5]], np.int32), np.array([[0], [2]], np.int32)), {"assume_unique": True}),
    ("digitize", (V, np.array([-1.0, 0.0, 1.1, 2.0], np.float32)), {}),
    ("digitize", (np.array([[0.0, 1.0], [3.0, 1.6]], np.float32), np.array([0.0, 3.0, 4.5, 7.0], np.float32)), {}),
    ("digitize", (np.array([1, 5, 9, 2], np.int32), np.array([2, 4, 6], np.int32)), {}),
    ("bincount", (np.array([1, 2, 2, 3, 7], np.int32),), {}),
    ("bincount", (np.array([1, 2, 2, 3], np.int32),), {"minlength": 7}),
    ("bincount", (np.array([1, 2, 2, 0], np.int32),), {"weights": np.array([0.5, 1.0, 1.5, 2.0], np.float32)}),
    ("bincount", (np.array([[1, 2, 2], [0, 3, 1]], np.int32),), {"minlength": 4}),
    ("histogram", (V,), {}), ("histogram", (RNG.normal(size=40).astype(np.float32),), {"bins": 6}),
    ("histogram", (V,), {"bins": 4, "range": (-1.0, 1.0)}),
    ("unravel_index", (np.array([0, 5, 11, 7], np.int32), (3, 4)), {}),
    ("unravel_index", (np.array([[3, 23], [10, 0]], np.int32), (2, 3, 4)), {}),
    ("nanargmax", (XN,), {}), ("nanargmax", (XN,), {"axis": 1}), ("nanargmax", (XN,), {"axis": -1, "keepdims": True}),
    ("nanargmin", (XN,), {"axis": 2}), ("nanargmin", (XN,), {"axis": 0, "keepdims": True}),
    ("nanargmin", (I1,), {}), ("nanargmax", (I1.reshape(2, 3),), {"axis": 0}),
    ("nanquantile", (XN, 0.3), {}), ("nanquantile", (XN, [0.1, 0.5, 0.9]), {"axis": 1}),
    ("nanquantile", (XN, 0.25), {"axis": 2, "keepdims": True}),
    ("nanquantile", (XN, [0.2, 0.7]), {"axis": -1, "keepdims": True}),
    ("nanquantile", (XN, 0.4), {"axis": (0, 2)}),
    ("nanpercentile", (XN, 35.0), {"axis": 1, "method": "lower"}),
    ("nanpercentile", (XN, [10.0, 62.5]), {"axis": 2, "method": "higher"}),
    ("nanpercentile", (XN, 50.0), {"axis": 0, "method": "midpoint"}),
    ("nanpercentile", (XN, 30.0), {"axis": 1, "method": "nearest"}),
    ("nanmedian", (XN,), {}), ("nanmedian", (XN,), {"axis": 1}), ("nanmedian", (XN,), {"axis": 2, "keepdims": True}),
    ("nanmedian", (I1.reshape(2, 3),), {"axis": 1}),
    ("corrcoef", (X[0],), {}), ("corrcoef", (I1.reshape(2, 3),), {}), ("corrcoef", (V,), {}),
    ("correlate", (V, W), {}), ("correlate", (V, W), {"mode": "same"}), ("correlate", (V, W), {"mode": "full"}),
    ("correlate", (W, V), {"mode": "full"}), ("correlate", (np.array([1, 2, 3], np.int32), np.array([0, 1], np.int32)),
                                                {"mode": "valid"}),
    ("cross", (X[..., :3], X[..., 1:4]), {}), ("cross", (X[:, :3, 0], X[:, 1:4, 1]), {"axis": 1}),
    ("cross", (np.array([1.0, 2.0, 3.0], np.float32), X[0, :, :3]), {}),
    ("kron", (X[0, :2, :3], W), {}), ("kron", (X[0, :2, :2], X[1, :3, :2]), {}),
    ("kron", (I1.reshape(2, 3), np.eye(2, dtype=np.int32)), {}), ("kron", (V, W), {}),
    ("i0", (np.array([0.0, 0.5, -1.0, 3.7, 3.8, -5.0, 10.0, 30.0, 80.0], np.float32),), {}),
    ("i0", (X,), {}), ("i0", (I2,), {}),
    ("erfinv", (np.array([0.0, 0.1, -0.5, 0.9, -0.99, 0.999, 0.9999, 1.0, -1.0], np.float32),), {}),
    ("erfinv", (np.tanh(X),), {}),
    ("ldexp", (V, np.array([0, 1, -3, 10, -1], np.int32)), {}), ("ldexp", (X, np.int32(4)), {}),
    ("ldexp", (np.array([1e-30, 3e30, 1.5], np.float32), np.array([130, -130, -140], np.int32)), {}),
    ("ldexp", (I2, np.array([2], np.int32)), {}),
    ("cdist", (X[0], X[1]), {}), ("cdist", (X, X[:1, :2]), {}),
    ("extract_sequences", (np.arange(1, 7, dtype=np.float32), 3, 2), {}),
    ("extract_sequences", (X, 2, 1), {}), ("extract_sequences", (X, 3, 2), {}),
    ("nanargmax", (XN,), {"keepdims": True}), ("nanargmin", (np.full((2, 3), np.nan, np.float32),), {"axis": 1}),
    ("nanquantile", (XN, 0.5), {"keepdims": True}), ("nanquantile", (XN, [0.5, 0.8]), {"keepdims": True}),
    ("corrcoef", (np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]], np.float32),), {}),
    ("i0", (np.array([88.0, 89.5, 90.5, -91.0, 95.0], np.float32),), {}),
    ("isin", (B, np.array([True])), {}), ("isin", (I1, 255), {}),
    ("digitize", (np.array([np.nan, 0.5, -np.inf, np.inf], np.float32), np.array([0.0, 1.0], np.float32)), {}),
    ("unravel_index", (7, (2, 5)), {}), ("unravel_index", (np.array([-1, 12, 25], np.int32), (3, 4)), {}), ("bitwise_and", (I1, 5), {}), ("bitwise_xor", (U8, U8[::-1]), {}),
    ("kron", (V, X[0]), {}),
    ("rearrange", (X, "b h w -> b w h"), {}), ("rearrange", (X, "b h w -> b (h w)"), {}),
    ("rearrange", (X, "b h w -> (b h) w"), {}), ("rearrange", (np.arange(24.0).reshape(2, 4, 3), "b (h1 h) c -> (b h1) h c"),
                                                 {"h1": 2}),
    ("rearrange", (np.arange(48.0).reshape(2, 4, 6), "b (h h1) (w w1) -> b h w (h1 w1)"), {"h1": 2, "w1": 3}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_eager_matches_keras(keras, name, args, kwargs):
    ours = _np(getattr(ops, name)(*args, **kwargs))
    if name == "cross":  # Keras's torch backend crosses along torch's default (the first axis of 3) and
        theirs = np.cross(*args, **kwargs)  # does not broadcast ranks; Keras documents numpy's last axis
    else:
        theirs = _np(getattr(keras.ops, name)(*args, **kwargs))
    if isinstance(theirs, list):
        assert len(ours) == len(theirs)
        pairs = list(zip(ours, theirs))
    else:
        pairs = [(ours, theirs)]
    for a, b in pairs:
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (a.shape, b.shape)
        if b.dtype.kind in "biu":
            assert a.dtype == b.dtype, (a.dtype, b.dtype)
            np.testing.assert_array_equal(a, b)
        else:
            assert a.dtype == np.float32, a.dtype
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=2e-5, atol=2e-6)
    if hasattr(keras.ops.numpy, name):
        assert getattr(ops.numpy, name) is getattr(ops, name)


NUMPY_CASES = [
    ("cross", (X[0, :, :2], X[1, :, :2]), {}), ("cross", (X[0, :, :2], X[1, :, :3]), {}),
    ("cross", (X[:, :3, 0], X[:, 0, :3]), {"axisa": 1, "axisb": -1, "axisc": 0}),
    ("correlate", (W, V), {}), ("correlate", (W, V), {"mode": "same"}),
    ("correlate", (W[:2], V), {"mode": "same"}), ("correlate", (V[:4], W), {"mode": "same"}),
    ("nextafter", (V, np.float32(1.0)), {}), ("nextafter", (np.array([0.0, 1.0, -2.0], np.float32), -np.inf), {}),
    ("bincount", (np.array([3, 0, 3], np.int32),), {"weights": np.array([2, 5, 1], np.int32)}),
]


@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors are deprecated:DeprecationWarning")
@pytest.mark.parametrize("name,args,kwargs", NUMPY_CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(NUMPY_CASES)])
def test_eager_matches_numpy(name, args, kwargs):
    """Where Keras's torch backend departs from what Keras documents (numpy's meaning): cross of 2-vectors
    and along axisa / axisb / axisc, correlate 'same' with the longer x2, nextafter in float32 (torch's
    steps in float64 and rounds back to x1), integer bincount weights."""
    ours = _np(getattr(ops, name)(*args, **kwargs))
    theirs = getattr(np, name)(*args, **kwargs)
    assert ours.shape == theirs.shape
    if name == "nextafter":
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
        assert not np.array_equal(ours, args[0])
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis,kth", [(-1, 2), (0, 1), (1, [0, 3]), (None, 17)])
def test_argpartition_partitions(keras, axis, kth):
    x = X if axis is not None else X.reshape(-1)
    idx = _np(ops.argpartition(X, kth, axis=axis))
    assert idx.dtype == np.int32 and idx.shape == x.shape
    part = np.take_along_axis(x, idx, axis=-1 if axis is None else axis)
    ref = np.sort(x, axis=-1 if axis is None else axis)
    for k in np.atleast_1d(kth):
        ax = -1 if axis is None else axis
        np.testing.assert_array_equal(np.take(part, k, axis=ax), np.take(ref, k, axis=ax))
        assert np.all(np.take(part, range(k), axis=ax) <= np.expand_dims(np.take(ref, k, axis=ax), ax))
    # Keras's torch backend partitions int32 values (it casts x): integers agree with it exactly
    ints = np.array([[5, 1, 4, 1, 9], [2, 8, 0, 7, 3]], np.int32)
    theirs = _np(keras.ops.argpartition(ints, 2))
    np.testing.assert_array_equal(np.sort(np.take_along_axis(ints, _np(ops.argpartition(ints, 2)), -1)[:, :3], -1),
                                  np.sort(np.take_along_axis(ints, theirs, -1)[:, :3], -1))


SHIFT = np.array([[0.0, 1.0, 3.0], [2.0, 0.5, 0.0]], np.float32)


def _features_layer(base, o):
    """One custom layer, written once for bigcore and for Keras (base: the layers module, o: ops)."""

    class Features(base.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(3,), initializer="ones", name="w")
            self.k = self.add_weight(shape=(2, 3), initializer="ones", name="k")

        def call(self, x):                                                   # x: (B, 6, 3)
            cr = o.rearrange(o.cross(x, x * self.w, axis=-1), "b t c -> b (t c)")       # (B, 18)
            dist = o.reshape(o.cdist(x, o.reshape(self.w, (1, 3))), (-1, 6))          # (B, 6)
            seq = o.reshape(o.extract_sequences(o.rearrange(x, "b t c -> b c t"), 3, 3), (-1, 18))
            special = o.concatenate([o.reshape(o.erfinv(o.tanh(x) * 0.9), (-1, 18)),
                                     o.reshape(o.i0(x), (-1, 18)),
                                     # (torch's ldexp passes back 2 ** e in integers: 0 for e < 0)
                                     o.reshape(o.ldexp(x, np.array([1, 0, 2], np.int32)), (-1, 18))], axis=-1)
            q = o.nanquantile(x, 0.3, axis=1)                                         # (B, 3)
            consts = (o.sum(o.kron(self.k, o.reshape(self.w, (3, 1)))) * 0.01
                      + o.sum(o.correlate(self.w, np.array([1.0, -0.5], np.float32), mode="full")) * 0.1
                      + o.sum(o.corrcoef(o.add(self.k * o.reshape(self.w, (1, 3)), SHIFT))) * 0.1)
            return o.concatenate([cr, dist, seq, special, q], axis=-1) + consts

    return Features()


def _model(lib, ops_module, keras_inputs):
    inp = keras_inputs((6, 3))
    h = lib.layers.Dense(3, kernel_initializer="glorot_uniform")(inp)
    return lib.Model(inp, _features_layer(lib.layers, ops_module)(h))


def test_traced_in_a_custom_layer_predict_and_fit_match_keras(keras):
    x = (RNG.normal(size=(8, 6, 3)) * 0.7).astype(np.float32)
    y = RNG.normal(size=(8, 99)).astype(np.float32) * 0.1
    ours = _model(bigcore, ops, bigcore.Input)
    theirs = _model(keras, keras.ops, keras.Input)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), _np(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-4)
    ours.compile(optimizer=bigcore.optimizers.SGD(0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    before = [w.copy() for w in ours.get_weights()]
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b, w0 in zip(ours.get_weights(), theirs.get_weights(), before):
        assert not np.allclose(a, w0)  # every weight (the Dense's, w, k) got a gradient
        np.testing.assert_allclose(a, _np(b), rtol=1e-3, atol=1e-4)


class Lookups(layers.Layer):
    """The composed integer-valued ops inside a traced call(): isin, digitize, nanargmax, unravel_index,
    argpartition's first position, nanmedian and rearrange."""

    def call(self, x):                                                       # x: (B, 4, 5)
        x = ops.where(ops.greater(x, 1.2), float("nan"), x)  # NaNs made inside (fit and predict refuse them)
        r = ops.round(x)
        hits = ops.cast(ops.isin(r, np.array([0.0, 1.0], np.float32)), "float32")      # (B, 4, 5)
        bins = ops.cast(ops.digitize(x, np.array([-1.0, 0.0, 1.0], np.float32)), "float32")
        am = ops.nanargmax(x, axis=-1)                                                   # (B, 4)
        row, col = ops.unravel_index(am + 5, (4, 5))
        first = ops.cast(ops.argpartition(x, 0, axis=-1)[..., 0], "float32")            # (B, 4): the argmin
        med = ops.nanmedian(x, axis=2, keepdims=True)                                    # (B, 4, 1)
        flat = ops.rearrange(ops.concatenate([hits, bins, med], axis=-1), "b h w -> b (w h)")
        coords = ops.reshape(ops.cast(ops.stack([row, col], -1), "float32"), (-1, 8))
        return ops.concatenate([flat, coords, first], axis=-1)


def test_integer_valued_ops_traced(keras):
    x = X[:, :, :].copy()
    x[1, 2, :] = 5.0  # an all-NaN row: nanargmax -1 (so unravel_index of 4), nanmedian NaN
    inp = bigcore.Input((4, 5))
    got = bigcore.Model(inp, Lookups()(inp)).predict(x, verbose=0)
    x = np.where(x > 1.2, np.nan, x)
    assert np.isnan(x).sum() > 3
    k = keras.ops
    r = np.round(x)
    hits = np.isin(r, [0.0, 1.0]).astype(np.float32)
    bins = _np(k.digitize(x, np.array([-1.0, 0.0, 1.0], np.float32))).astype(np.float32)
    am = _np(k.nanargmax(x, axis=-1))
    row, col = np.unravel_index(am + 5, (4, 5))
    first = np.argmin(np.where(np.isnan(x), np.inf, x), axis=-1).astype(np.float32)
    med = _np(k.nanmedian(x, axis=2, keepdims=True))
    flat = np.concatenate([hits, bins, med], -1).transpose(0, 2, 1).reshape(3, -1)
    want = np.concatenate([flat, np.stack([row, col], -1).astype(np.float32).reshape(3, 8), first], -1)
    np.testing.assert_allclose(got[:, :-12], want[:, :-12], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[:, -12:], want[:, -12:])


class Quantiles(layers.Layer):
    """nanquantile / nanpercentile traced, every method, over the time and the feature axis."""

    def call(self, x):                                                       # x: (B, 4, 5)
        x = ops.where(ops.greater(x, 1.0), float("nan"), x)
        outs = []
        for method in ("linear", "lower", "higher", "midpoint", "nearest"):
            outs.append(ops.nanquantile(x, 0.37, axis=1, method=method))                     # (B, 5)
            outs.append(ops.reshape(ops.nanpercentile(x, 62.5, axis=-1, method=method, keepdims=True), (-1, 4)))
        return ops.concatenate(outs, axis=-1)


def test_nanquantile_traced_matches_keras(keras):
    x = X.copy()
    x[0, :, 3] = 5.0  # an all-NaN column: NaN there
    inp = bigcore.Input((4, 5))
    got = bigcore.Model(inp, Quantiles()(inp)).predict(x, verbose=0)
    x = np.where(x > 1.0, np.nan, x)
    want = []
    for method in ("linear", "lower", "higher", "midpoint", "nearest"):
        want.append(_np(keras.ops.nanquantile(x, 0.37, axis=1, method=method)))
        want.append(_np(keras.ops.nanpercentile(x, 62.5, axis=-1, method=method, keepdims=True)).reshape(3, 4))
    np.testing.assert_allclose(got, np.concatenate(want, -1), rtol=1e-5, atol=1e-6)
    assert np.isnan(got[0, 3])


class Products(layers.Layer):
    """kron, cross (2-vectors), correlate and corrcoef of a weight, traced with their full values."""

    def build(self, shape):
        self.w = self.add_weight(shape=(2, 3), initializer="glorot_uniform", name="w")

    def call(self, x):
        k = ops.reshape(ops.kron(self.w, np.array([[1.0], [-2.0]], np.float32)), (1, -1))      # (1, 12)
        c = ops.reshape(ops.cross(self.w[:, :2], self.w[:, 1:]), (1, -1))                       # (1, 2)
        r = ops.reshape(ops.correlate(self.w[0], self.w[1], mode="same"), (1, -1))              # (1, 3)
        cc = ops.reshape(ops.corrcoef(self.w), (1, -1))                                          # (1, 4)
        return x + ops.concatenate([k, c, r, cc], axis=-1)


def test_products_of_a_weight_traced():
    inp = bigcore.Input((21,))
    model = bigcore.Model(inp, Products()(inp))
    w = model.layers[1].w.numpy()
    got = model.predict(np.zeros((2, 21), np.float32), verbose=0)
    want = np.concatenate([np.kron(w, [[1.0], [-2.0]]).reshape(-1), [w[0, 0] * w[0, 2] - w[0, 1] * w[0, 1],
                                                                      w[1, 0] * w[1, 2] - w[1, 1] * w[1, 1]],
                           np.correlate(w[0], w[1], mode="same"), np.corrcoef(w).reshape(-1)])
    np.testing.assert_allclose(got, np.broadcast_to(want, (2, 21)), rtol=1e-5, atol=1e-6)


def test_ldexp_gradient_is_two_to_the_exponent():
    """A traced ldexp passes back 2 ** e, also for e < 0 (torch passes back 0 there)."""

    class Scale(layers.Layer):
        def call(self, x):
            return ops.ldexp(x, np.array([-1, 3], np.int32))

    inp = bigcore.Input((2,))
    model = bigcore.Model(inp, Scale()(layers.Dense(2, use_bias=False, kernel_initializer="zeros")(inp)))
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    model.fit(np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), epochs=1, verbose=0)
    # loss = mean((ldexp(x @ k) - 1)^2) over 2 outputs, at k = 0: dL/dk[:, j] = -(2 ** e_j)
    np.testing.assert_allclose(model.layers[1].kernel.numpy(), [[0.5, 8.0], [0.5, 8.0]], rtol=1e-6)


def test_refusals():
    kt = bigcore.Input((3,), dtype="int32")
    for name, args in [("bitwise_and", (kt, kt)), ("bitwise_not", (kt,)), ("left_shift", (kt, 1)), ("gcd", (kt, kt)),
                       ("bincount", (kt,)), ("histogram", (bigcore.Input((3,)),)),
                       ("nextafter", (bigcore.Input((3,)), 1.0))]:
        with pytest.raises(ValueError, match=f"{name}: .*arrays only"):
            getattr(ops, name)(*args)
    with pytest.raises(TypeError, match="bitwise_or expects integer or bool tensors"):
        ops.bitwise_or(V, V)
    with pytest.raises(TypeError, match="ldexp exponent must be an integer type"):
        ops.ldexp(V, V)
    with pytest.raises(TypeError, match="`bins` must be of type `int`"):
        ops.histogram(V, bins=2.0)
    with pytest.raises(ValueError, match="`range` must be a tuple"):
        ops.histogram(V, range=[0, 1])
    with pytest.raises(ValueError, match="bincount: sparse=True"):
        ops.bincount(I2, sparse=True)
    with pytest.raises(ValueError, match="non-negative"):
        ops.bincount(I1)
    with pytest.raises(ValueError, match="`mode` must be either"):
        ops.correlate(V, W, mode="circular")
    with pytest.raises(ValueError, match="must have 2 or 3 components"):
        ops.cross(X, X)
    with pytest.raises(ValueError, match="method must be one of"):
        ops.nanquantile(XN, 0.5, method="inverted_cdf")
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.cdist(V, V)
    with pytest.raises(ValueError, match="all but one"):
        ops.rearrange(X, "b (h1 h) w -> b h1 h w")
    with pytest.raises(ValueError, match="each axis name must appear once"):
        ops.rearrange(X, "b h w -> b h")
    with pytest.raises(ValueError, match="batch axis .* cannot be merged"):
        ops.rearrange(bigcore.Input((4, 5)), "b h w -> (b h) w")
    with pytest.raises(ValueError, match="bins must be monotonically increasing"):
        ops.digitize(V, np.array([3.0, 2.0, 1.0], np.float32))
    with pytest.raises(ValueError, match="argpartition: kth 9 is out of bounds"):
        ops.argpartition(V, 9)


def test_custom_layer_with_the_composed_ops_saves_and_loads(tmp_path):
    model = _model(bigcore, ops, bigcore.Input)
    x = (RNG.normal(size=(4, 6, 3)) * 0.7).astype(np.float32)
    path = str(tmp_path / "features.keras")
    model.save(path)
    back = bigcore.models.load_model(path, custom_objects={"Features": type(model.layers[2])})
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
