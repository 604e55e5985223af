"""bigcore.ops's added functions (elementwise maths, creation and layout, sorting, activations): each
eagerly on arrays and traced inside a custom Layer's call() against NumPy (float64), the gradients of
the differentiable ones against central differences of the NumPy reference, the ops that cannot be
traced raise by name, and a sample against Keras 3 (torch backend)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
import reference_activations as aref
from layer_test import compile_for_gradients, sgd_gradients
from reference import numerical_grad

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
RNG = np.random.default_rng(11)
F64 = np.float64


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


SPECIAL = np.float32([np.nan, 0.0, np.inf, -0.0, -np.inf, 1.0])
SPECIAL_AT = np.array([True, False, True, True, True, False])


def _inject(o, x):
    """x with NaN, +-inf and -0 in columns 0, 2, 3, 4 (made inside the call: predict refuses them as inputs)."""
    return o.where(SPECIAL_AT, SPECIAL, x)


def _sp(name, fn, ref):
    """A case of fn(o, x) on x with special values (and its reference)."""
    return (name, lambda o, x: fn(o, _inject(o, x)), lambda x: ref(np.where(SPECIAL_AT, SPECIAL, x)), X, True)


def _sinc(x):
    return np.sinc(x)


def _rank_sort(x):
    return np.sort(x, axis=-1, kind="stable")


def _topk_ref(x, k):
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.concatenate([np.take_along_axis(x, idx, -1), idx], -1)


TARGET_SIGNS = np.where(rand(6) > 0, 1.0, -1.0).astype(np.float32)
SEQ = np.sort(rand(7, lo=-2, hi=2))
GAMMA, BETA = rand(6, lo=0.5, hi=1.5), rand(6)

# (name, fn(o, x) on x of shape (B, ...), NumPy reference on float64 x, input, traced too)
X = rand(4, 6, lo=-3, hi=3)
X2 = np.stack([rand(4, 6, lo=-3, hi=3), rand(4, 6, lo=-3, hi=3)], 1)  # (B, 2, 6): two operands
X2[:, 1, 0] = 0.0  # arctan2 / hypot on an axis
X2[0, 0, 1] = 0.0
X2[:, 1, 2] = X2[:, 0, 2]  # logaddexp at ties
X34 = rand(4, 3, 4, lo=-3, hi=3)
XT = rand(4, 6, lo=-3, hi=3)
XT[:, 4] = XT[:, 1]  # ties for sort / top_k
CASES = [
    _sp("isnan", lambda o, x: o.isnan(x), np.isnan),
    _sp("isinf", lambda o, x: o.isinf(x), np.isinf),
    _sp("isfinite", lambda o, x: o.isfinite(x), np.isfinite),
    ("isclose", lambda o, x: o.isclose(x[:, 0], x[:, 1], rtol=1e-3, atol=1e-2),
     lambda x: np.isclose(x[:, 0], x[:, 1], rtol=1e-3, atol=1e-2),
     np.stack([X, X * (1 + rand(4, 6) * 2e-3)], 1), True),
    _sp("isclose_inf_nan", lambda o, x: o.isclose(x, x[:, ::-1] * 0 + x, equal_nan=True),
        lambda x: np.isclose(x, x[:, ::-1] * 0 + x, equal_nan=True)),
    _sp("isclose_inf", lambda o, x: o.isclose(x, x[:, ::-1]), lambda x: np.isclose(x, x[:, ::-1])),
    _sp("nan_to_num", lambda o, x: o.nan_to_num(x), lambda x: np.nan_to_num(x.astype(np.float32))),
    _sp("nan_to_num_values", lambda o, x: o.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-8.0),
        lambda x: np.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-8.0)),
    ("trunc", lambda o, x: o.trunc(x), np.trunc, X, True),
    ("fmod", lambda o, x: o.fmod(x[:, 0], x[:, 1]), lambda x: np.fmod(x[:, 0], x[:, 1]),
     np.stack([X, np.where(np.abs(X) < 0.3, 0.7, X)[::-1]], 1), True),
    ("hypot", lambda o, x: o.hypot(x[:, 0], x[:, 1]), lambda x: np.hypot(x[:, 0], x[:, 1]), X2, True),
    ("hypot_large", lambda o, x: o.hypot(x, 3e30), lambda x: np.hypot(x, 3e30), X * 1e30, False),
    ("logaddexp", lambda o, x: o.logaddexp(x[:, 0], x[:, 1] * 30),
     lambda x: np.logaddexp(x[:, 0], x[:, 1] * 30), X2, True),
    ("logaddexp_inf", lambda o, x: o.logaddexp(x, x), lambda x: np.logaddexp(x, x),
     np.array([[np.inf, -np.inf, 0.0, 1e30]], np.float32), False),
    ("cbrt", lambda o, x: o.cbrt(x), np.cbrt, X, True),
    ("exp2", lambda o, x: o.exp2(x * 10), lambda x: np.exp2(x * 10), X, True),
    ("tan", lambda o, x: o.tan(x), np.tan, rand(4, 6, lo=-1.3, hi=1.3), True),
    ("sinh", lambda o, x: o.sinh(x), np.sinh, np.concatenate([X, X * 30, X * 1e-4], 1), True),
    ("cosh", lambda o, x: o.cosh(x), np.cosh, np.concatenate([X, X * 30], 1), True),
    ("arcsin", lambda o, x: o.arcsin(x), np.arcsin, np.concatenate([rand(4, 6), [[1, -1, 0, 0.999, -0.5, 2]]]),
     True),
    ("arccos", lambda o, x: o.arccos(x), np.arccos, np.concatenate([rand(4, 6), [[1, -1, 0, 0.999, -0.5, 2]]]),
     True),
    ("arctan", lambda o, x: o.arctan(x), np.arctan, np.concatenate([X, X * 100, X * 1e-3], 1), True),
    ("arctan2", lambda o, x: o.arctan2(x[:, 0], x[:, 1]), lambda x: np.arctan2(x[:, 0], x[:, 1]), X2, True),
    ("arcsinh", lambda o, x: o.arcsinh(x), np.arcsinh, np.concatenate([X, X * 1e5, X * 1e-4, X * 1e30], 1), True),
    ("arccosh", lambda o, x: o.arccosh(x), np.arccosh,
     np.concatenate([rand(4, 6, lo=1, hi=3), rand(4, 6, lo=1, hi=1e6), [[1e30] * 6] * 4], 1), True),
    ("arctanh", lambda o, x: o.arctanh(x), np.arctanh, np.concatenate([rand(4, 6), [[1, -1, 0, 0.999, 1e-5, 2]]]),
     True),
    ("deg2rad", lambda o, x: o.deg2rad(x * 100), lambda x: np.deg2rad(x * 100), X, True),
    ("rad2deg", lambda o, x: o.rad2deg(x), np.rad2deg, X, True),
    _sp("signbit", lambda o, x: o.signbit(x), lambda x: np.signbit(x.astype(np.float32))),
    _sp("heaviside", lambda o, x: o.heaviside(x, 0.5), lambda x: np.heaviside(x, 0.5)),
    _sp("hypot_special", lambda o, x: o.hypot(x, x[:, ::-1]), lambda x: np.hypot(x, x[:, ::-1])),
    _sp("cbrt_special", lambda o, x: o.cbrt(x * 1e20), lambda x: np.cbrt(x * 1e20)),
    _sp("sinh_special", lambda o, x: o.sinh(x * 30), lambda x: np.sinh(x * 30)),
    _sp("logaddexp_special", lambda o, x: o.logaddexp(x, x[:, ::-1]), lambda x: np.logaddexp(x, x[:, ::-1])),
    ("sinc", lambda o, x: o.sinc(x), _sinc, np.concatenate([X, np.zeros((4, 1), np.float32)], 1), True),
    # creation and layout
    ("diagonal", lambda o, x: o.diagonal(x, 1, 1, 2), lambda x: np.diagonal(x, 1, 1, 2), X34, True),
    ("diagonal_neg", lambda o, x: o.diagonal(x, -1, 2, 1), lambda x: np.diagonal(x, -1, 2, 1), X34, True),
    ("trace", lambda o, x: o.trace(x, 0, 1, 2), lambda x: np.trace(x, 0, 1, 2), X34, True),
    ("diag_2d", lambda o, x: o.diag(x[0], 1), lambda x: np.diag(x[0], 1), X34, False),
    ("diag_1d", lambda o, x: o.diag(x[0, 0], -2), lambda x: np.diag(x[0, 0], -2), X34, False),
    ("hstack", lambda o, x: o.hstack([x, x * 2]), lambda x: np.hstack([x, x * 2]), X, True),
    ("hstack_1d", lambda o, x: o.hstack([x[0], x[1]]), lambda x: np.hstack([x[0], x[1]]), X, False),
    ("vstack", lambda o, x: o.vstack([x, x[0]]), lambda x: np.vstack([x, x[0]]), X, False),
    ("dstack", lambda o, x: o.dstack([x, x * 2]), lambda x: np.dstack([x, x * 2]), X, True),
    ("fliplr", lambda o, x: o.fliplr(x), np.fliplr, X34, True),
    ("flipud", lambda o, x: o.flipud(x), np.flipud, X34, False),
    ("rot90", lambda o, x: o.rot90(x, 1, (1, 2)), lambda x: np.rot90(x, 1, (1, 2)), X34, True),
    ("rot90_k2", lambda o, x: o.rot90(x, 2, (1, 2)), lambda x: np.rot90(x, 2, (1, 2)), X34, True),
    ("rot90_k3", lambda o, x: o.rot90(x, -1, (2, 1)), lambda x: np.rot90(x, -1, (2, 1)), X34, True),
    ("diff", lambda o, x: o.diff(x, 2, axis=-1), lambda x: np.diff(x, 2, axis=-1), X34, True),
    ("diff_axis1", lambda o, x: o.diff(x, axis=1), lambda x: np.diff(x, axis=1), X34, True),
    ("ptp", lambda o, x: o.ptp(x, axis=-1), lambda x: np.ptp(x, axis=-1), X34, True),
    ("median", lambda o, x: o.median(x, axis=-1), lambda x: np.median(x, axis=-1), X34, True),
    ("median_odd", lambda o, x: o.median(x, axis=1, keepdims=True), lambda x: np.median(x, axis=1, keepdims=True),
     X34, True),
    ("quantile", lambda o, x: o.quantile(x, 0.3, axis=-1), lambda x: np.quantile(x, 0.3, axis=-1), X, True),
    ("percentile", lambda o, x: o.percentile(x, 85, axis=1), lambda x: np.percentile(x, 85, axis=1), X, True),
    ("quantile_methods", lambda o, x: o.stack([o.quantile(x, 0.3, axis=-1, method=m) for m in
                                               ("lower", "higher", "midpoint", "nearest")], -1),
     lambda x: np.stack([np.quantile(x, 0.3, axis=-1, method=m) for m in
                         ("lower", "higher", "midpoint", "nearest")], -1), X, True),
    ("quantile_vector", lambda o, x: o.quantile(x, [0.1, 0.5, 1.0]), lambda x: np.quantile(x, [0.1, 0.5, 1.0]),
     X, False),
    ("median_all", lambda o, x: o.median(x), np.median, X34, False),
    # sorting
    ("sort", lambda o, x: o.sort(x), _rank_sort, XT, True),
    ("sort_axis1", lambda o, x: o.sort(x, axis=1), lambda x: np.sort(x, axis=1), X34, True),
    ("argsort", lambda o, x: o.argsort(x), lambda x: np.argsort(x, -1, kind="stable"), XT, True),
    ("argsort_axis1", lambda o, x: o.argsort(x, axis=1), lambda x: np.argsort(x, 1, kind="stable"), X34, True),
    ("argsort_none", lambda o, x: o.argsort(x, axis=None), lambda x: np.argsort(x, None, kind="stable"), X, False),
    ("top_k", lambda o, x: o.concatenate([o.cast(t, "float32") for t in o.top_k(x, 3)], -1),
     lambda x: _topk_ref(x, 3), XT, True),
    ("in_top_k", lambda o, x: o.in_top_k(o.argmax(x * TARGET_SIGNS, axis=-1), x, 2),
     lambda x: (np.sum(x > np.take_along_axis(x, np.argmax(x * TARGET_SIGNS, -1)[:, None], -1), -1) < 2), XT,
     True),
    ("searchsorted", lambda o, x: o.searchsorted(SEQ, x), lambda x: np.searchsorted(SEQ, x), X, True),
    ("searchsorted_right", lambda o, x: o.searchsorted(SEQ, x, side="right"),
     lambda x: np.searchsorted(SEQ, x, side="right"), np.concatenate([X, SEQ[None, :6]]), True),
    # nn
    ("celu", lambda o, x: o.celu(x, alpha=0.7), lambda x: np.maximum(x, 0) + np.minimum(0.7 * np.expm1(x / 0.7), 0),
     X, True),
    ("glu", lambda o, x: o.glu(x), lambda x: x[:, :3] / (1 + np.exp(-x[:, 3:])), X, True),
    ("glu_axis", lambda o, x: o.glu(x, axis=1), lambda x: x[:, :1] / (1 + np.exp(-x[:, 1:2])),
     X34[:, :2], True),
    ("hard_tanh", lambda o, x: o.hard_tanh(x), lambda x: np.clip(x, -1, 1), X, True),
    ("hard_shrink", lambda o, x: o.hard_shrink(x, 1.0), lambda x: np.where(np.abs(x) > 1, x, 0), X, True),
    ("soft_shrink", lambda o, x: o.soft_shrink(x), lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0), X, True),
    ("tanh_shrink", lambda o, x: o.tanh_shrink(x), lambda x: x - np.tanh(x), X, True),
    ("threshold", lambda o, x: o.threshold(x, 0.3, -2.0), lambda x: np.where(x > 0.3, x, -2.0), X, True),
    ("squareplus", lambda o, x: o.squareplus(x, 2), lambda x: (x + np.sqrt(x * x + 2)) / 2, X, True),
    ("sparse_plus", lambda o, x: o.sparse_plus(x),
     lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)), X, True),
    ("sparse_sigmoid", lambda o, x: o.sparse_sigmoid(x), lambda x: np.clip((x + 1) / 2, 0, 1), X, True),
    ("sparsemax", lambda o, x: o.sparsemax(x), None, XT, True),
    ("sparsemax_axis", lambda o, x: o.sparsemax(x, axis=1), None, X34, True),
    ("layer_normalization", lambda o, x: o.layer_normalization(x, GAMMA, BETA),
     lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7) * GAMMA + BETA, X, True),
    ("rms_normalization", lambda o, x: o.rms_normalization(x, GAMMA),
     lambda x: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-7) * GAMMA, X, True),
]


REFS = {"sparsemax": aref.sparsemax, "sparsemax_axis": lambda x: aref.sparsemax(x, 1)}


def _want(name, ref, x):
    with np.errstate(all="ignore"):
        return np.asarray((REFS.get(name) or ref)(x.astype(F64)), F64)


def _check(got, want, name):
    got = np.asarray(got)
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got.astype(F64), want, rtol=2e-6 if "arc" in name else 1e-5, atol=2e-6,
                               equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name,fn,ref,x,traced", CASES, ids=[c[0] for c in CASES])
def test_eager_matches_numpy(name, fn, ref, x, traced):
    with np.errstate(all="ignore"):
        _check(fn(ops, x), _want(name, ref, x), name)


def traced_model(fn, shape):
    class Fn(layers.Layer):
        def call(self, x):
            return fn(ops, x)
    inp = bigcore.Input(shape)
    return bigcore.Model(inp, Fn()(inp))


TRACED = [c for c in CASES if c[4]]


@pytest.mark.parametrize("name,fn,ref,x,traced", TRACED, ids=[c[0] for c in TRACED])
def test_traced_matches_numpy(name, fn, ref, x, traced):
    m = traced_model(fn, x.shape[1:])
    _check(m.predict(x, verbose=0), _want(name, ref, x), name)


def test_dtypes_follow_keras():
    x, i = rand(2, 3), np.array([[3, -1, 2]], np.int32)
    assert ops.isnan(x).dtype == bool and ops.isclose(x, x).dtype == bool and ops.signbit(i).dtype == bool
    assert ops.argsort(x).dtype == np.int32 and ops.top_k(x, 2)[1].dtype == np.int32
    assert ops.searchsorted(SEQ, x).dtype == np.int32 and ops.in_top_k(np.array([0, 1]), x, 1).dtype == bool
    assert ops.trunc(i).dtype == np.int32 and ops.nan_to_num(i).dtype == np.int32
    assert ops.fmod(i, np.int32(2)).dtype == np.int32
    assert ops.linspace(0, 1, 5).dtype == np.float32 and ops.tri(3).dtype == np.float32
    assert bool(ops.allclose(x, x + 1e-9)) and not bool(ops.allclose(x, x + 1e-3))
    xt = bigcore.Input((3,))
    assert ops.isnan(xt).dtype == "bool" and ops.argsort(xt).dtype == "int32" and ops.sort(xt).dtype == "float32"
    assert ops.top_k(xt, 2)[1].dtype == "int32" and ops.top_k(xt, 2)[0].shape == (None, 2)


CONVERTED = [[1, 2], 3, [[1, 2], [3, 4]], np.array([1, 2]), np.array([1, 2], np.int32), True, 2.5, [1.5, 2],
             np.float64(2.0), [], [2 ** 40]]


def test_convert_to_tensor_dtypes_follow_keras(keras):
    """Python ints become int32 and floats float32, as Keras's; a numpy array keeps an integer
    dtype; a Python int beyond int32 stays int64 (Keras refuses it: torch cannot convert it)."""
    for v in CONVERTED:
        got = ops.convert_to_tensor(v)
        if isinstance(v, list) and v and v[0] == 2 ** 40:
            assert got.dtype == np.int64 and got.tolist() == v
            continue
        want = keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(v))
        assert str(got.dtype) == str(want.dtype), (v, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)


def test_creation_ops_match_numpy_and_serve_as_constants_in_a_call():
    np.testing.assert_allclose(ops.linspace(-1, 2, 7), np.linspace(-1, 2, 7), rtol=1e-6)
    np.testing.assert_allclose(ops.linspace(0, 1, 4, endpoint=False), np.linspace(0, 1, 4, endpoint=False))
    v, step = ops.linspace(0, 3, 4, retstep=True)
    assert float(step) == 1.0 and v.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(ops.linspace([0, 1], [2, 3], 3, axis=1), np.linspace([0, 1], [2, 3], 3, axis=1))
    np.testing.assert_allclose(ops.logspace(0, 2, 5), np.logspace(0, 2, 5), rtol=1e-6)
    np.testing.assert_allclose(ops.logspace(0, 3, 4, base=2), np.logspace(0, 3, 4, base=2))
    np.testing.assert_array_equal(ops.tri(3, 4, 1), np.tri(3, 4, 1))
    for a, b in zip(ops.meshgrid(np.arange(3.0), np.arange(2.0)), np.meshgrid(np.arange(3.0), np.arange(2.0))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ops.meshgrid(np.arange(3.0), np.arange(2.0), np.arange(4.0), indexing="ij"),
                    np.meshgrid(np.arange(3.0), np.arange(2.0), np.arange(4.0), indexing="ij")):
        np.testing.assert_array_equal(a, b)
    m = traced_model(lambda o, x: x * o.linspace(0, 1, 4) + o.tri(4)[1], (4,))
    x = rand(2, 4)
    np.testing.assert_allclose(m.predict(x, verbose=0), x * np.linspace(0, 1, 4) + np.tri(4)[1], rtol=1e-6)


def test_symbolic_linspace_and_weight_ops():
    """ops on a layer's weights inside call(): diag of a vector, meshgrid, linspace between tensors."""
    class W(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(3,), initializer="ones", name="w")

        def call(self, x):
            d = ops.diag(self.w, 1)                          # (4, 4)
            g0, g1 = ops.meshgrid(self.w, ops.arange(2.0))   # (2, 3)
            ls = ops.linspace(self.w, ops.multiply(self.w, 3.0), 4, axis=1)  # (3, 4)
            return ops.matmul(x, d)[:, :3] + ops.sum(g0 + g1, 0) + ops.sum(ls, 1)

    inp = bigcore.Input((4,))
    layer = W()
    m = bigcore.Model(inp, layer(inp))
    w = np.array([0.5, -1.0, 2.0], np.float32)
    m.set_weights([w])
    x = rand(2, 4)
    g0, g1 = np.meshgrid(w, np.arange(2.0))
    want = (x @ np.diag(w, 1))[:, :3] + (g0 + g1).sum(0) + np.linspace(w, 3 * w, 4, axis=1).sum(1)
    np.testing.assert_allclose(m.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_eager_only_ops_and_their_errors():
    x = np.array([[0, 2, 0], [3, 0, 3]], np.float32)
    got = ops.nonzero(x)
    assert [g.tolist() for g in got] == [a.tolist() for a in np.nonzero(x)] and got[0].dtype == np.int32
    u, idx, inv, cnt = ops.unique(np.array([3, 1, 3, 2, 1]), return_index=True, return_inverse=True,
                                  return_counts=True)
    assert u.tolist() == [1, 2, 3] and idx.tolist() == [1, 3, 0] and inv.tolist() == [2, 0, 2, 1, 0]
    assert cnt.tolist() == [2, 1, 2]
    assert ops.unique(np.array([3, 1, 3]), size=4, fill_value=-1).tolist() == [1, 3, -1, -1]
    xt = bigcore.Input((3,))
    with pytest.raises(ValueError, match="nonzero"):
        ops.nonzero(xt)
    with pytest.raises(ValueError, match="unique"):
        ops.unique(xt)
    with pytest.raises(ValueError, match="sort.*batch axis"):
        ops.sort(xt, axis=0)
    with pytest.raises(ValueError, match="quantile"):
        ops.quantile(xt, [0.2, 0.5], axis=1)  # the quantiles' axis would come before the batch
    with pytest.raises(ValueError, match="quantile"):
        ops.quantile(x, 1.5)
    with pytest.raises(ValueError, match="glu"):
        ops.glu(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="searchsorted"):
        ops.searchsorted(np.ones((2, 2)), x)


# --- gradients: one SGD step (learning rate 1) against central differences of the NumPy reference ---

def _grad_model(fn, w0, shape):
    class G(layers.Layer):
        def build(self, s):
            self.w = self.add_weight(shape=w0.shape, initializer="zeros", name="w")

        def call(self, x):
            return fn(ops, ops.add(x, self.w))

    inp = bigcore.Input(shape)
    m = bigcore.Model(inp, G()(inp))
    m.set_weights([w0])
    compile_for_gradients(m)
    return m


GRADS = [
    ("tan", lambda o, x: o.tan(x), np.tan, (-1, 1)),
    ("sinh", lambda o, x: o.sinh(x * 3), lambda x: np.sinh(x * 3), (-1, 1)),
    ("cosh", lambda o, x: o.cosh(x * 3), lambda x: np.cosh(x * 3), (-1, 1)),
    ("arcsin", lambda o, x: o.arcsin(x), np.arcsin, (-0.45, 0.45)),
    ("arccos", lambda o, x: o.arccos(x), np.arccos, (-0.45, 0.45)),
    ("arctan", lambda o, x: o.arctan(x * 4), lambda x: np.arctan(x * 4), (-1, 1)),
    ("arctan2", lambda o, x: o.arctan2(x[:, :3], x[:, 3:]), lambda x: np.arctan2(x[:, :3], x[:, 3:]), (-1, 1)),
    ("arcsinh", lambda o, x: o.arcsinh(x * 3), lambda x: np.arcsinh(x * 3), (-1, 1)),
    ("arccosh", lambda o, x: o.arccosh(x + 2.5), lambda x: np.arccosh(x + 2.5), (-1, 1)),
    ("arctanh", lambda o, x: o.arctanh(x), np.arctanh, (-0.45, 0.45)),
    ("cbrt", lambda o, x: o.cbrt(x + 2), lambda x: np.cbrt(x + 2), (-0.5, 0.5)),
    ("exp2", lambda o, x: o.exp2(x), np.exp2, (-1, 1)),
    ("hypot", lambda o, x: o.hypot(x[:, :3], x[:, 3:]), lambda x: np.hypot(x[:, :3], x[:, 3:]), (-1, 1)),
    ("logaddexp", lambda o, x: o.logaddexp(x[:, :3], x[:, 3:] * 3), lambda x: np.logaddexp(x[:, :3], x[:, 3:] * 3),
     (-1, 1)),
    ("sinc", lambda o, x: o.sinc(x), np.sinc, (-1, 1)),
    ("celu", lambda o, x: o.celu(x, 0.5), lambda x: np.maximum(x, 0) + np.minimum(0.5 * np.expm1(x / 0.5), 0),
     (-1, 1)),
    ("glu", lambda o, x: o.glu(x), lambda x: x[:, :3] / (1 + np.exp(-x[:, 3:])), (-1, 1)),
    ("squareplus", lambda o, x: o.squareplus(x), lambda x: (x + np.sqrt(x * x + 4)) / 2, (-1, 1)),
    ("sparse_plus", lambda o, x: o.sparse_plus(x * 2), lambda x: np.where(
        x * 2 <= -1, 0, np.where(x * 2 < 1, (x * 2 + 1) ** 2 / 4, x * 2)), (-1, 1)),
    ("soft_shrink", lambda o, x: o.soft_shrink(x, 0.2),
     lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.2, 0), (-1, 1)),
    ("tanh_shrink", lambda o, x: o.tanh_shrink(x), lambda x: x - np.tanh(x), (-1, 1)),
    ("sparsemax", lambda o, x: o.sparsemax(x * 2), lambda x: aref.sparsemax(x * 2), (-1, 1)),
    ("layer_normalization", lambda o, x: o.layer_normalization(x, GAMMA, BETA),
     lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7) * GAMMA + BETA, (-1, 1)),
    ("rms_normalization", lambda o, x: o.rms_normalization(x, GAMMA),
     lambda x: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-7) * GAMMA, (-1, 1)),
    ("sort", lambda o, x: o.sort(x) * np.arange(1.0, 7.0, dtype=np.float32),
     lambda x: np.sort(x, -1) * np.arange(1.0, 7.0), (-1, 1)),
    ("top_k", lambda o, x: o.top_k(x, 2)[0] * np.float32([1.0, -2.0]),
     lambda x: -np.sort(-x, -1)[:, :2] * np.array([1.0, -2.0]), (-1, 1)),
    ("median", lambda o, x: o.median(x, axis=-1, keepdims=True), lambda x: np.median(x, -1, keepdims=True), (-1, 1)),
    ("quantile", lambda o, x: o.quantile(x, 0.7, axis=-1, keepdims=True),
     lambda x: np.quantile(x, 0.7, -1, keepdims=True), (-1, 1)),
    ("diff", lambda o, x: o.diff(x, 2), lambda x: np.diff(x, 2), (-1, 1)),
    ("ptp", lambda o, x: o.ptp(x, axis=-1, keepdims=True), lambda x: np.ptp(x, -1, keepdims=True), (-1, 1)),
]


@pytest.mark.parametrize("name,fn,ref,dom", GRADS, ids=[g[0] for g in GRADS])
def test_gradient_matches_central_differences(name, fn, ref, dom):
    lo, hi = dom
    x = rand(3, 6, lo=lo / 2, hi=hi / 2)
    w0 = rand(6, lo=lo / 2, hi=hi / 2)
    m = _grad_model(fn, w0, (6,))
    y = rand(*np.asarray(m.predict(x, verbose=0)).shape)

    def loss(w):
        return float(np.mean((ref(x.astype(F64) + w) - y) ** 2))

    _, (g,) = sgd_gradients(m, x, y)
    want = numerical_grad(loss, w0.astype(F64), 1e-6)
    np.testing.assert_allclose(g, want, rtol=2e-3, atol=2e-5 * max(1.0, np.abs(want).max()), err_msg=name)


def test_gradient_through_diagonal_and_rot90():
    class G(layers.Layer):
        def build(self, s):
            self.w = self.add_weight(shape=(3, 4), initializer="zeros", name="w")

        def call(self, x):
            h = ops.add(x, self.w)
            return ops.concatenate([ops.diagonal(h, 1, 1, 2), ops.trace(h, -1, 1, 2)[:, None],
                                    ops.reshape(ops.rot90(h, 1, (1, 2)), (-1, 12))], -1)

    inp = bigcore.Input((3, 4))
    m = bigcore.Model(inp, G()(inp))
    w0 = rand(3, 4)
    m.set_weights([w0])
    compile_for_gradients(m)
    x = rand(2, 3, 4)

    def ref(w):
        h = x.astype(F64) + w
        return np.concatenate([np.diagonal(h, 1, 1, 2), np.trace(h, -1, 1, 2)[:, None],
                               np.rot90(h, 1, (1, 2)).reshape(-1, 12)], -1)

    y = rand(2, 16)
    _, (g,) = sgd_gradients(m, x, y)
    want = numerical_grad(lambda w: float(np.mean((ref(w) - y) ** 2)), w0.astype(F64), 1e-6)
    np.testing.assert_allclose(g, want, rtol=1e-3, atol=1e-6)


# --- Keras 3 parity (torch backend) -----------------------------------------------------------

PARITY = [
    lambda o, x, y: o.arctan2(x, y), lambda o, x, y: o.logaddexp(x, y), lambda o, x, y: o.sinc(x),
    lambda o, x, y: o.heaviside(x, 0.5), lambda o, x, y: o.fmod(x, y), lambda o, x, y: o.hypot(x, y),
    lambda o, x, y: o.cbrt(x), lambda o, x, y: o.arcsinh(x), lambda o, x, y: o.trunc(x * 3),
    lambda o, x, y: o.isclose(x, x + 1e-6), lambda o, x, y: o.signbit(x),
    lambda o, x, y: o.top_k(x, 2)[0], lambda o, x, y: o.sort(x, axis=0), lambda o, x, y: o.argsort(x),
    lambda o, x, y: o.median(x, axis=1), lambda o, x, y: o.quantile(x, [0.25, 0.6], axis=0),
    lambda o, x, y: o.percentile(x, 40), lambda o, x, y: o.diagonal(x), lambda o, x, y: o.trace(x),
    lambda o, x, y: o.rot90(x), lambda o, x, y: o.diff(x, 2), lambda o, x, y: o.ptp(x, axis=0),
    lambda o, x, y: o.linspace(0.5, 2.0, 7), lambda o, x, y: o.logspace(0.0, 2.0, 5), lambda o, x, y: o.tri(3, 4),
    lambda o, x, y: o.in_top_k(np.array([0, 1, 2, 3]), x, 2), lambda o, x, y: o.searchsorted(SEQ, x),
    lambda o, x, y: o.celu(x), lambda o, x, y: o.glu(x), lambda o, x, y: o.hard_tanh(x * 2),
    lambda o, x, y: o.hard_shrink(x), lambda o, x, y: o.soft_shrink(x), lambda o, x, y: o.tanh_shrink(x),
    lambda o, x, y: o.threshold(x, 0.1, 5.0), lambda o, x, y: o.squareplus(x), lambda o, x, y: o.sparse_plus(x),
    lambda o, x, y: o.sparse_sigmoid(x),
    lambda o, x, y: o.layer_normalization(x, GAMMA[:4], BETA[:4]),
    lambda o, x, y: o.rms_normalization(x, GAMMA[:4]),
    lambda o, x, y: o.nan_to_num(np.float32([np.nan, np.inf, -np.inf, 1.0])),
    lambda o, x, y: o.linspace(0.0, 1.0, 4, endpoint=False), lambda o, x, y: o.logspace(0.0, 3.0, 4, base=2),
    lambda o, x, y: o.rot90(x, -1), lambda o, x, y: o.tri(3, 4, -1), lambda o, x, y: o.diag(x[0], -2),
    lambda o, x, y: o.diag(x, 1), lambda o, x, y: o.hstack([x, y]), lambda o, x, y: o.vstack([x[0], y[1]]),
    lambda o, x, y: o.dstack([x, y]), lambda o, x, y: o.meshgrid(x[0], y[1, :3], indexing="ij")[1],
    lambda o, x, y: o.meshgrid(x[0], y[1, :3])[0], lambda o, x, y: o.fliplr(x), lambda o, x, y: o.flipud(x),
    lambda o, x, y: o.searchsorted(np.sort(x[0]), y, side="right"), lambda o, x, y: o.argsort(x, axis=0),
    lambda o, x, y: o.isclose(np.float32([np.inf, -np.inf, np.nan, 1]), np.float32([np.inf, np.inf, np.nan, 1])),
    lambda o, x, y: o.allclose(x, x + 1e-6), lambda o, x, y: o.quantile(x, 0.375, axis=1, method="nearest"),
    lambda o, x, y: o.quantile(x, 0.3, axis=0, method="midpoint"), lambda o, x, y: o.median(x, axis=0, keepdims=True),
    lambda o, x, y: o.trace(x, 1), lambda o, x, y: o.diagonal(x, -1), lambda o, x, y: o.diff(x, 1, axis=0),
    lambda o, x, y: o.heaviside(np.array([-1, 0, 2]), np.array([5, 5, 5])),
    lambda o, x, y: o.arctan2(np.float32([-0.0, 0.0, -0.0, 0.0]), np.float32([-1, -1, 0, 0])),
    lambda o, x, y: o.in_top_k(np.array([1, 0]), np.float32([[1, 2, 2, 3], [1, 1, 1, 1]]), 2),
    lambda o, x, y: o.signbit(np.float32([-0.0, 0.0, -1, 2])), lambda o, x, y: o.unique(np.array([3, 1, 3, 2])),
    lambda o, x, y: o.layer_normalization(x.reshape(2, 2, 4), axis=(1, 2)),
    lambda o, x, y: o.rms_normalization(x.reshape(2, 2, 4), axis=(1, 2)), lambda o, x, y: o.glu(x, axis=0),
    lambda o, x, y: o.tan(x * 0.7), lambda o, x, y: o.sinh(x * 20), lambda o, x, y: o.cosh(x * 20),
    lambda o, x, y: o.arcsin(x * 0.4), lambda o, x, y: o.arccos(x * 0.4), lambda o, x, y: o.arctan(x * 9),
    lambda o, x, y: o.arccosh(abs(x) + 1), lambda o, x, y: o.arctanh(x * 0.4), lambda o, x, y: o.exp2(x * 9),
    lambda o, x, y: o.deg2rad(x * 90), lambda o, x, y: o.rad2deg(x), lambda o, x, y: o.isnan(x),
]


def test_sparsemax_sums_to_one_where_keras_did_not():
    """Sparsemax is the projection onto the simplex (Martins & Astudillo 2016): every slice sums to 1.
    Keras 3 up to its fix (keras-team/keras#23425, #23469) summed the cumulative sums over the support
    for tau and returned slices summing to less than 1 whenever the support holds two or more entries;
    bigcore follows the paper (and the fixed Keras): [0, 0.5, 1] -> [0, 0.25, 0.75]."""
    np.testing.assert_allclose(ops.sparsemax(np.float32([[0.0, 0.5, 1.0]])), [[0.0, 0.25, 0.75]], atol=1e-7)
    x = rand(5, 7, 3)
    for axis in (0, 1, -1):
        np.testing.assert_allclose(ops.sparsemax(x, axis=axis).sum(axis), 1.0, rtol=1e-6)


def test_keras_parity(keras):
    x, y = rand(4, 4, lo=-2, hi=2), rand(4, 4, lo=-2, hi=2)
    y[0, 0] = 0.0
    for i, fn in enumerate(PARITY):
        got = np.asarray(fn(ops, x, y))
        want = np.asarray(keras.ops.convert_to_numpy(fn(keras.ops, x, y)))
        assert got.shape == want.shape, f"parity case {i}"
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want, err_msg=f"parity case {i}")
        else:
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, err_msg=f"parity case {i}")
    with pytest.warns(UserWarning, match="rms_scaling"):
        got = ops.layer_normalization(x, GAMMA[:4], rms_scaling=True)
    with pytest.warns(UserWarning, match="rms_scaling"):
        want = keras.ops.convert_to_numpy(keras.ops.layer_normalization(x, GAMMA[:4], rms_scaling=True))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_sorting_places_nan_as_the_largest_value_eagerly_and_traced():
    x = np.float32([[2.0, np.nan, -1.0, 2.0, np.nan, 0.5]])

    def fn(o, v):
        v = o.where(np.isnan(x[0]), np.nan, v)
        vals, idx = o.top_k(v, 4)
        return o.concatenate([o.sort(v), o.cast(o.argsort(v), "float32"), vals, o.cast(idx, "float32")], -1)

    want = np.concatenate([np.sort(x, -1), np.argsort(x, -1, kind="stable"), [[np.nan, np.nan, 2.0, 2.0]],
                           [[1, 4, 0, 3]]], -1)
    finite = np.nan_to_num(x)
    np.testing.assert_array_equal(fn(ops, x), want)
    np.testing.assert_array_equal(traced_model(fn, (6,)).predict(finite, verbose=0), want)


def test_no_nan_gradient_where_the_function_is_smooth():
    """arctan2 at y == 0 and hypot at the origin: the sign-bit test (1 / y) and the zero branches pass
    no NaN back through their comparisons."""
    class G(layers.Layer):
        def build(self, s):
            self.w = self.add_weight(shape=(3,), initializer="zeros", name="w")

        def call(self, x):
            h = ops.add(x, self.w)
            return ops.concatenate([ops.arctan2(h * 0.0, x), ops.arctan2(h, x), ops.hypot(h * 0.0, h * 0.0),
                                    ops.sinc(h * 0.0)], -1)

    inp = bigcore.Input((3,))
    m = bigcore.Model(inp, G()(inp))
    compile_for_gradients(m)
    x = np.float32([[0.3, -1.0, 2.0]])
    _, (g,) = sgd_gradients(m, x, rand(1, 12))
    assert np.all(np.isfinite(g))


def test_traced_ops_on_run_time_lengths_match_eager():
    """The ops along a static last axis of a (batch, T, 5) input whose T changes per call."""
    def fn(o, x):
        return o.concatenate([o.sort(x), o.sparsemax(x), o.layer_normalization(x), o.top_k(x, 2)[0],
                              o.median(x, axis=-1, keepdims=True), o.diff(x), o.arctan(x), o.logaddexp(x, o.sinh(x)),
                              o.cast(o.argsort(x), "float32"), o.celu(x), o.quantile(x, 0.2, axis=-1, keepdims=True)],
                             -1)

    m = traced_model(fn, (None, 5))
    for t in (2, 7):
        x = rand(3, t, 5, lo=-3, hi=3)
        np.testing.assert_allclose(m.predict(x, verbose=0), fn(ops, x), rtol=1e-6, atol=1e-6)
