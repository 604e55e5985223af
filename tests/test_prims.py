"""Every primitive (cpp/ops/prim*.cpp) through _core.prim_forward / prim_backward, which run the
program's own ops: forward against a float64 NumPy reference, backward against central finite
differences of that reference, on every CPU path, bit-identical across paths and thread counts;
bad attributes and shapes raise ValueError; Keras 3's ops agree where Keras is installed.
The cases live in prim_cases.py."""

import numpy as np
import pytest

import bigcore
import cpu_paths
from bigcore import _core
from prim_cases import BIG, CASES, distinct, rnd, sdpa

NO_GRAD = {"sign", "floor", "ceil", "round", "logical_not", "floor_divide", "equal", "not_equal", "greater",
           "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor", "any", "all", "argmax",
           "argmin", "one_hot", "stop_gradient", "zeros_like", "ones_like", "full_like"}
NO_GRAD_INPUT = {("where", 0), ("take", 1), ("take_along_axis", 1), ("softmax", 1), ("log_softmax", 1),
                 ("dot_product_attention", 3), ("ctc_loss", 0), ("ctc_loss", 2), ("ctc_loss", 3)}


def _list(r):
    return list(r) if isinstance(r, (list, tuple)) else [r]


def _close(got, want, rtol=2e-5):
    want = np.asarray(want, np.float64)
    assert got.dtype == np.float32 and got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * (1 + np.abs(want).max(initial=0)))


def _grads_of(outs, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(o)).astype(np.float32) for o in outs]


def _numeric_grad(ref, xs, gs, i):
    """d/dx_i of sum_j <ref(xs)_j, g_j>, central differences in float64."""
    x = xs[i].copy()
    num = np.zeros_like(x)
    flat, nflat = x.reshape(-1), num.reshape(-1)

    def loss():
        args = list(xs)
        args[i] = x
        return sum(float(np.sum(np.asarray(o, np.float64) * g)) for o, g in zip(_list(ref(*args)), gs))

    for e in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[e]))
        v = flat[e]
        flat[e] = v + h
        up = loss()
        flat[e] = v - h
        down = loss()
        flat[e] = v
        nflat[e] = (up - down) / (2 * h)
    return num


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_numpy(case, isa):
    _, kind, attrs, inputs, ref, _ = case
    got = _core.prim_forward(kind, attrs, inputs)
    want = _list(ref(*[x.astype(np.float64) for x in inputs]))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _close(g, w)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_backward_matches_finite_differences(case, isa):
    _, kind, attrs, inputs, ref, grad = case
    xs = [x.astype(np.float64) for x in inputs]
    gs = _grads_of(_list(ref(*xs)))
    got = _core.prim_backward(kind, attrs, inputs, gs)
    assert len(got) == len(inputs)
    check = range(len(inputs)) if grad is None else grad
    for i, x in enumerate(inputs):
        assert got[i].shape == x.shape and got[i].dtype == np.float32
        if kind in NO_GRAD or (kind, i) in NO_GRAD_INPUT:
            assert not got[i].any(), f"{kind} input {i} has no gradient: zeros expected"
        if i in check:
            num = _numeric_grad(ref, xs, [g.astype(np.float64) for g in gs], i)
            np.testing.assert_allclose(got[i], num, rtol=1e-3, atol=1e-3 * (1 + np.abs(num).max(initial=0)))


def _run(kind, attrs, inputs, seed=0):
    outs = _core.prim_forward(kind, attrs, inputs)
    grads = _core.prim_backward(kind, attrs, inputs, _grads_of(outs, seed))
    return outs + grads


@pytest.mark.parametrize("case", BIG, ids=[c[0] for c in BIG])
def test_thread_count_does_not_change_a_bit(case, restore_threads):
    _, kind, attrs, inputs = case
    runs = []
    for n in (1, 2, 3):
        bigcore.config.set_num_threads(n)
        runs.append(_run(kind, attrs, inputs))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("case", BIG + [c[:4] for c in CASES], ids=[c[0] for c in BIG] + [c[0] for c in CASES])
def test_every_cpu_path_gives_the_same_bits(case, restore_isa):
    _, kind, attrs, inputs = case
    paths = cpu_paths.supported_isas()
    runs = []
    for isa in paths:
        bigcore.config.set_cpu_isa(isa)
        runs.append(_run(kind, attrs, inputs))
    for isa, other in zip(paths[1:], runs[1:]):
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes(), f"{isa} differs from {paths[0]}"


def test_big_cases_are_right():
    """The thread-count cases are checked for values too (on the default path)."""
    for name, kind, attrs, inputs in BIG:
        got = _core.prim_forward(kind, attrs, inputs)[0]
        x = [a.astype(np.float64) for a in inputs]
        want = {
            "gelu": lambda: 0.5 * x[0] * (1 + np.tanh(np.sqrt(2 / np.pi) * (x[0] + 0.044715 * x[0] ** 3))),
            "exp": lambda: np.exp(x[0]),
            "multiply": lambda: x[0] * x[1], "subtract": lambda: x[0] - x[1], "add": lambda: x[0] + x[1],
            "where": lambda: np.where(x[0] != 0, x[1], x[2]),
            "sum": lambda: np.sum(x[0], axis=tuple(np.atleast_1d(attrs["axis"]))),
            "var": lambda: np.var(x[0], axis=0), "max": lambda: np.max(x[0], axis=1),
            "logsumexp": lambda: np.log(np.exp(x[0]).sum(-1)),
            "softmax": lambda: np.exp(x[0]) / np.exp(x[0]).sum(attrs.get("axis", -1), keepdims=True),
            "log_softmax": lambda: x[0] - np.log(np.exp(x[0]).sum(1, keepdims=True)),
            "cumsum": lambda: np.cumsum(x[0], 1), "matmul": lambda: np.matmul(x[0], x[1]),
            "transpose": lambda: np.transpose(x[0], (1, 0, 2)), "take": lambda: x[0][x[1].astype(int)],
            "broadcast_to": lambda: np.broadcast_to(x[0], (400, 300, 5)), "slice": lambda: x[0][::2, 1::3],
            "dot_product_attention": lambda: sdpa(*x, scale=attrs["scale"], causal=attrs.get("is_causal", False)),
        }[kind]()
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * (1 + np.abs(want).max()), err_msg=name)


def test_broadcast_gradients_sum_in_a_fixed_order():
    """A bias-like operand's gradient is the sum over the rows it was broadcast to."""
    a, b = rnd(1, (5, 7, 3)), rnd(2, (7, 1))
    g = rnd(3, (5, 7, 3))
    da, db = _core.prim_backward("multiply", {}, [a, b], [g])
    np.testing.assert_allclose(db, (g.astype(np.float64) * a).sum(axis=(0, 2))[:, None], rtol=1e-5)
    np.testing.assert_allclose(da, g * b, rtol=1e-6)
    # a 0-d operand
    s = np.float32(1.5).reshape(())
    ds, dx = _core.prim_backward("add", {}, [s, a], [g])
    assert ds.shape == () and np.isclose(ds, g.astype(np.float64).sum(), rtol=1e-5)


def test_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0, -100.0, 89.0, -90.0, -87.0], np.float32)
    with np.errstate(all="ignore"):
        want = np.exp(x)
        want[np.abs(want) < np.finfo(np.float32).tiny] = 0.0  # denormals flush to 0, as in every native step
        np.testing.assert_array_equal(_core.prim_forward("exp", {}, [x])[0], want)
        np.testing.assert_array_equal(_core.prim_forward("relu", {}, [x])[0][[1, 2, 5, 6]], [np.inf, 0, 100, 0])
        assert np.isnan(_core.prim_forward("relu", {}, [x])[0][0])  # NaN passes, as Keras
        m = _core.prim_forward("maximum", {}, [x, np.zeros_like(x)])[0]
        assert np.isnan(m[0]) and m[1] == np.inf and m[2] == 0
        assert np.isnan(_core.prim_forward("max", {}, [x])[0])  # NaN propagates through a reduction
        assert _core.prim_forward("argmax", {}, [x])[0] == 0  # the first NaN, as NumPy
        np.testing.assert_array_equal(_core.prim_forward("sigmoid", {}, [x[1:3]])[0], [1, 0])
        np.testing.assert_array_equal(_core.prim_forward("tanh", {}, [x[1:3]])[0], [1, -1])


def test_max_ties_share_the_gradient():
    x = np.array([[1, 3, 3, 2], [5, 5, 5, 0]], np.float32)
    dx, = _core.prim_backward("max", {"axis": 1}, [x], [np.ones(2, np.float32)])
    np.testing.assert_allclose(dx, [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0]], rtol=1e-6)
    da, db = _core.prim_backward("maximum", {}, [x[0], np.float32([3])], [np.ones(4, np.float32)])
    np.testing.assert_allclose(da, [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(db, [1 + 0.5 + 0.5 + 1])  # summed over the broadcast: ties give half


def test_the_same_tensor_on_both_sides():
    """x * x through prim_backward: both gradients, each g * x (the program adds them: see
    test_prims_program.py)."""
    x = rnd(4, (3, 5))
    da, db = _core.prim_backward("multiply", {}, [x, x], [np.ones_like(x)])
    np.testing.assert_allclose(da, x)
    np.testing.assert_allclose(db, x)


BAD = [
    ("nope", {}, [np.ones(3, np.float32)], "unknown prim kind 'nope'"),
    ("add", {"alpha": 1}, [np.ones(3, np.float32)] * 2, "has no attribute 'alpha'"),
    ("add", {}, [np.ones(3, np.float32)], "takes 2 inputs, got 1"),
    ("add", {}, [np.ones((2, 3), np.float32), np.ones(4, np.float32)], r"shapes \(2, 3\) and \(4,\) do not broadcast"),
    ("where", {}, [np.ones(3, np.float32)] * 2, "takes 3 inputs"),
    ("elu", {"alpha": "big"}, [np.ones(3, np.float32)], "'alpha' must be a number"),
    ("clip", {"x_min": 0.0}, [np.ones(3, np.float32)], "needs the attribute 'x_max'"),
    ("cast", {"dtype": "float16"}, [np.ones(3, np.float32)], "dtype 'float16' is not supported"),
    ("dropout", {"rate": 1.0}, [np.ones(3, np.float32)], r"rate must be in \[0, 1\)"),
    ("sum", {"axis": 2}, [np.ones((2, 3), np.float32)], "'axis' = 2 is out of range for 2 axes"),
    ("sum", {"axis": [0, 0]}, [np.ones((2, 3), np.float32)], "names axis 0 twice"),
    ("sum", {"axis": 1.5}, [np.ones((2, 3), np.float32)], "must be a list of ints"),
    ("argmax", {"axis": [0, 1]}, [np.ones((2, 3), np.float32)], "one axis or None"),
    ("norm", {"ord": 3}, [np.ones((2, 3), np.float32)], "ord 3.0* is not supported"),
    ("norm", {"ord": 2, "axis": [0, 1]}, [np.ones((2, 3), np.float32)], "matrix norms"),
    ("norm", {"ord": "nuc"}, [np.ones((2, 3), np.float32)], "'nuc' is not supported"),
    ("softmax", {"axis": 3}, [np.ones((2, 3), np.float32)], "out of range"),
    ("softmax", {}, [np.ones((2, 3), np.float32), np.ones((4,), np.float32)], "do not broadcast"),
    ("matmul", {}, [np.ones((2, 3), np.float32), np.ones((4, 2), np.float32)], "contracted axes differ"),
    ("matmul", {}, [np.ones((2, 2, 3), np.float32), np.ones((3, 3, 2), np.float32)], "do not broadcast"),
    ("matmul", {}, [np.float32(1.0), np.ones(3, np.float32)], "at least one axis"),
    ("transpose", {"axes": [0, 0]}, [np.ones((2, 3), np.float32)], "each axis once"),
    ("transpose", {"axes": [0]}, [np.ones((2, 3), np.float32)], "each of the 2 axes"),
    ("reshape", {"shape": [4, -1]}, [np.ones((2, 3), np.float32)], "cannot reshape 6 values"),
    ("reshape", {"shape": [-1, -1]}, [np.ones((2, 3), np.float32)], "only one -1"),
    ("reshape", {}, [np.ones((2, 3), np.float32)], "needs the attribute 'shape' outside a program"),
    ("squeeze", {"axis": 0}, [np.ones((2, 3), np.float32)], "is not 1"),
    ("expand_dims", {}, [np.ones((2, 3), np.float32)], "needs the attribute 'axis'"),
    ("broadcast_to", {"shape": [2, 2]}, [np.ones((3,), np.float32)], r"\(3,\) and \(2, 2\) do not broadcast"),
    ("concatenate", {"axis": 0}, [np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)], "differ off axis 0"),
    ("stack", {}, [np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)], "every input must have shape"),
    ("split", {"indices_or_sections": 4, "axis": 1}, [np.ones((2, 6), np.float32)], "does not split into 4 equal"),
    ("split", {"indices_or_sections": [2, 2], "axis": 1}, [np.ones((2, 6), np.float32)], "piece 1 is empty"),
    ("slice", {"start": [5], "stop": [None], "step": [1]}, [np.ones((2, 3), np.float32)], "slices to nothing"),
    ("slice", {"start": [0], "step": [0]}, [np.ones((2, 3), np.float32)], "step cannot be 0"),
    ("slice", {"start": [0, 0, 0]}, [np.ones((2, 3), np.float32)], "3 axes sliced"),
    ("take", {"axis": 0}, [np.ones((2, 3), np.float32), np.float32([2])], r"integer indices in \[-2, 2\)"),
    ("take", {"axis": 0}, [np.ones((2, 3), np.float32), np.float32([0.5])], "integer indices"),
    ("take_along_axis", {"axis": 0}, [np.ones((2, 3), np.float32), np.zeros(3, np.float32)], "as many axes"),
    ("take_along_axis", {}, [np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)], "needs the attribute 'axis'"),
    ("one_hot", {"num_classes": 3}, [np.float32([0, 3])], "ids below num_classes = 3"),
    ("one_hot", {"num_classes": 0}, [np.float32([0])], "num_classes must be >= 1"),
    ("repeat", {"repeats": [1, 2], "axis": 0}, [np.ones((3, 2), np.float32)], "2 entries for an axis of length 3"),
    ("tile", {"repeats": [0]}, [np.ones(3, np.float32)], "repeats must be >= 1"),
    ("pad", {"pad_width": [1, 1, 1, 1, 1, 1]}, [np.ones((2, 3), np.float32)], "3 pairs for 2 axes"),
    ("pad", {"pad_width": [1, 1], "mode": "reflect"}, [np.ones((2, 3), np.float32)], "mode 'reflect'"),
    ("constant", {"value": [1.0, 2.0], "shape": [3]}, [], "2 values for shape"),
    ("arange", {"start": 3, "stop": 1}, [], "the range is empty"),
    ("arange", {"start": 0}, [], "needs the attribute 'stop' outside a program"),
    ("eye", {"N": 0}, [], "N and M must be >= 1"),
    ("zeros", {"shape": [2, 0]}, [], "lengths >= 1"),
    ("zeros", {"shape": [1 << 30, 1 << 30]}, [], r"more than 2\^40 values"),
    ("eye", {"N": 1 << 32}, [], r"more than 2\^40 values"),
    ("tile", {"repeats": [1 << 30, 1 << 30]}, [np.ones((2, 2), np.float32)], r"more than 2\^40 values"),
    ("add", {}, [np.ones((0, 3), np.float32), np.ones(3, np.float32)], "empty arrays are not supported"),
    ("add", {"x": object()}, [np.ones(3, np.float32)] * 2, "has a type bigcore does not take"),
]


@pytest.mark.parametrize("kind,attrs,inputs,match", BAD, ids=[f"{b[0]}-{b[3][:24]}" for b in BAD])
def test_bad_attrs_and_shapes_raise(kind, attrs, inputs, match):
    with pytest.raises(ValueError, match=match):
        _core.prim_forward(kind, attrs, inputs)


def test_bad_backward_calls_raise():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"gradient of output 0 must have shape \(2, 3\), got \(3,\)"):
        _core.prim_backward("exp", {}, [x], [np.ones(3, np.float32)])
    with pytest.raises(ValueError, match="has 1 outputs, got 2 gradients"):
        _core.prim_backward("exp", {}, [x], [x, x])


def test_every_kind_has_a_case():
    covered = {c[1] for c in CASES} | {"dropout", "random_normal", "random_uniform"}
    assert set(_core.prim_kinds()) == covered


def test_random_prims_are_keyed_by_stream_and_shaped():
    """random_normal / random_uniform on their own: the shape asked, the distribution, a stream per
    key (the program keys them by step and call too: tests/test_random.py)."""
    n = _core.prim_forward("random_normal", {"shape": [400, 250], "mean": -1.0, "stddev": 0.5, "stream": 3}, [])[0]
    assert n.shape == (400, 250) and abs(n.mean() + 1.0) < 0.01 and abs(n.std() - 0.5) < 0.01
    again = _core.prim_forward("random_normal", {"shape": [400, 250], "mean": -1.0, "stddev": 0.5, "stream": 3}, [])[0]
    other = _core.prim_forward("random_normal", {"shape": [400, 250], "mean": -1.0, "stddev": 0.5, "stream": 4}, [])[0]
    np.testing.assert_array_equal(n, again)
    assert not np.array_equal(n, other)
    u = _core.prim_forward("random_uniform", {"shape": [1000], "minval": 2.0, "maxval": 2.5, "stream": 1}, [])[0]
    assert u.min() >= 2.0 and u.max() < 2.5
    with pytest.raises(ValueError, match="maxval must be above minval"):
        _core.prim_forward("random_uniform", {"shape": [3], "minval": 1.0, "maxval": 1.0}, [])


def test_dropout_is_keyed_and_scaled():
    x = np.ones((50, 40), np.float32)
    a = _core.prim_forward("dropout", {"rate": 0.25, "stream": 7}, [x])[0]
    b = _core.prim_forward("dropout", {"rate": 0.25, "stream": 7}, [x])[0]
    c = _core.prim_forward("dropout", {"rate": 0.25, "stream": 8}, [x])[0]
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (a == 0).mean() < 0.3
    dx, = _core.prim_backward("dropout", {"rate": 0.25, "stream": 7}, [x], [np.ones_like(x)])
    np.testing.assert_array_equal(dx, a)  # the same keep mask, the same scale


KERAS = [
    ("gelu", {}, [rnd(1, (4, 9))], lambda k, x: k.ops.gelu(x)),
    ("gelu", {"approximate": False}, [rnd(1, (4, 9))], lambda k, x: k.ops.gelu(x, approximate=False)),
    ("leaky_relu", {}, [rnd(2, (4, 9))], lambda k, x: k.ops.leaky_relu(x)),
    ("hard_sigmoid", {}, [rnd(3, (4, 9), -5, 5)], lambda k, x: k.ops.hard_sigmoid(x)),
    ("hard_silu", {}, [rnd(3, (4, 9), -5, 5)], lambda k, x: k.ops.hard_silu(x)),
    ("softplus", {}, [rnd(4, (4, 9), -30, 30)], lambda k, x: k.ops.softplus(x)),
    ("log_sigmoid", {}, [rnd(4, (4, 9), -30, 30)], lambda k, x: k.ops.log_sigmoid(x)),
    ("selu", {}, [rnd(5, (4, 9))], lambda k, x: k.ops.selu(x)),
    ("elu", {"alpha": 0.5}, [rnd(5, (4, 9))], lambda k, x: k.ops.elu(x, alpha=0.5)),
    ("round", {}, [np.float32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.7])], lambda k, x: k.ops.round(x)),
    ("sign", {}, [np.float32([-2, 0, 3])], lambda k, x: k.ops.sign(x)),
    ("floor_divide", {}, [rnd(6, (3, 5), -9, 9), rnd(7, (5,), 0.5, 3)], lambda k, a, b: k.ops.floor_divide(a, b)),
    ("mod", {}, [rnd(6, (3, 5), -9, 9), rnd(7, (5,), 0.5, 3)], lambda k, a, b: k.ops.mod(a, b)),
    ("log_softmax", {"axis": 1}, [rnd(8, (3, 5, 2))], lambda k, x: k.ops.log_softmax(x, axis=1)),
    ("logsumexp", {"axis": [0, 2], "keepdims": True}, [rnd(8, (3, 5, 2))],
     lambda k, x: k.ops.logsumexp(x, axis=(0, 2), keepdims=True)),
    ("var", {"axis": 1}, [rnd(9, (3, 5, 2))], lambda k, x: k.ops.var(x, axis=1)),
    ("std", {}, [rnd(9, (3, 5, 2))], lambda k, x: k.ops.std(x)),
    ("norm", {"axis": -1}, [rnd(10, (3, 5))], lambda k, x: k.ops.norm(x, axis=-1)),
    ("norm", {"ord": 1, "axis": 0}, [rnd(10, (3, 5))], lambda k, x: k.ops.norm(x, ord=1, axis=0)),
    ("argmax", {"axis": 1}, [distinct(11, (3, 5))], lambda k, x: k.ops.argmax(x, axis=1)),
    ("cumprod", {"axis": 1}, [rnd(12, (3, 5))], lambda k, x: k.ops.cumprod(x, axis=1)),
    ("take", {"axis": 1}, [rnd(13, (3, 5)), np.float32([4, 0, -1])], lambda k, x, i: k.ops.take(x, i.astype(np.int64), axis=1)),
    ("take_along_axis", {"axis": 1}, [rnd(13, (3, 5)), np.float32([[4], [0], [2]])],
     lambda k, x, i: k.ops.take_along_axis(x, i.astype(np.int64), axis=1)),
    ("one_hot", {"num_classes": 4}, [np.float32([0, 3, -1, 2])], lambda k, x: k.ops.one_hot(x.astype(np.int64), 4)),
    ("repeat", {"repeats": 3, "axis": 0}, [rnd(14, (2, 3))], lambda k, x: k.ops.repeat(x, 3, axis=0)),
    ("tile", {"repeats": [2, 1, 2]}, [rnd(14, (2, 3))], lambda k, x: k.ops.tile(x, (2, 1, 2))),
    ("matmul", {}, [rnd(15, (2, 1, 3, 4)), rnd(16, (5, 4, 2))], lambda k, a, b: k.ops.matmul(a, b)),
    ("softmax", {"axis": 0}, [rnd(17, (4, 3))], lambda k, x: k.ops.softmax(x, axis=0)),
    ("pad", {"pad_width": [[1, 0], [2, 1]], "constant_values": 2.0}, [rnd(18, (2, 3))],
     lambda k, x: k.ops.pad(x, ((1, 0), (2, 1)), constant_values=2.0)),
    ("eye", {"N": 3, "M": 4, "k": -1}, [], lambda k: k.ops.eye(3, 4, k=-1)),
    ("arange", {"start": 2, "stop": 9, "step": 3}, [], lambda k: k.ops.arange(2, 9, 3)),
]


@pytest.mark.parametrize("kind,attrs,inputs,fn", KERAS, ids=[f"{k[0]}{i}" for i, k in enumerate(KERAS)])
def test_keras_ops_agree(keras, kind, attrs, inputs, fn):
    got = _core.prim_forward(kind, attrs, inputs)[0]
    out = fn(keras, *inputs)  # a torch tensor (keras's convert_to_numpy warns under NumPy 2)
    want = out.detach().cpu().numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * (1 + np.abs(want).max()))
