"""bigcore.ops: eager calls on NumPy arrays against NumPy (float64 reference), the same ops recorded
on symbolic tensors inside a model (predict against NumPy, gradients against central differences),
KerasTensor's Python operators and NumPy indexing, shape inference with run-time lengths, and the
errors a symbolic tensor gives where Python wants a value."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

# Keras 3 on torch + NumPy 2 warns from its own convert_to_numpy (as in test_parity.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
RNG = np.random.default_rng(7)


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


# --- eager: numpy in, numpy out --------------------------------------------------------------

A, B, W45, X234 = rand(3, 4), rand(4), rand(4, 5), rand(2, 3, 4)
EAGER = [
    ("add", lambda: ops.add(A, B), lambda: A + B),
    ("subtract", lambda: ops.subtract(A, 2.0), lambda: A - 2.0),
    ("multiply", lambda: ops.multiply(A, B), lambda: A * B),
    ("divide", lambda: ops.divide(A, B + 3), lambda: A / (B + 3)),
    ("power", lambda: ops.power(np.abs(A) + 0.5, 1.5), lambda: (np.abs(A) + 0.5) ** 1.5),
    ("maximum", lambda: ops.maximum(A, 0.1), lambda: np.maximum(A, 0.1)),
    ("minimum", lambda: ops.minimum(A, B), lambda: np.minimum(A, B)),
    ("where", lambda: ops.where(A > 0, A, B), lambda: np.where(A > 0, A, B)),
    ("square", lambda: ops.square(A), lambda: A * A),
    ("sqrt", lambda: ops.sqrt(np.abs(A)), lambda: np.sqrt(np.abs(A))),
    ("rsqrt", lambda: ops.rsqrt(np.abs(A) + 1), lambda: 1 / np.sqrt(np.abs(A) + 1)),
    ("exp", lambda: ops.exp(A), lambda: np.exp(A)),
    ("log1p", lambda: ops.log1p(np.abs(A)), lambda: np.log1p(np.abs(A))),
    ("clip", lambda: ops.clip(A, -0.2, 0.3), lambda: np.clip(A, -0.2, 0.3)),
    ("relu", lambda: ops.relu(A), lambda: np.maximum(A, 0)),
    ("sigmoid", lambda: ops.sigmoid(A), lambda: 1 / (1 + np.exp(-A.astype(np.float64)))),
    ("tanh", lambda: ops.tanh(A), lambda: np.tanh(A)),
    ("softplus", lambda: ops.softplus(A), lambda: np.log1p(np.exp(A.astype(np.float64)))),
    ("leaky_relu", lambda: ops.leaky_relu(A), lambda: np.where(A > 0, A, 0.2 * A)),
    ("softmax", lambda: ops.softmax(A), lambda: np.exp(A) / np.exp(A).sum(-1, keepdims=True)),
    ("log_softmax", lambda: ops.log_softmax(A, axis=0),
     lambda: A - np.log(np.exp(A.astype(np.float64)).sum(0, keepdims=True))),
    ("logsumexp", lambda: ops.logsumexp(A, axis=1), lambda: np.log(np.exp(A.astype(np.float64)).sum(1))),
    ("sum", lambda: ops.sum(A, axis=0, keepdims=True), lambda: A.sum(0, keepdims=True)),
    ("mean", lambda: ops.mean(A), lambda: A.mean()),
    ("max", lambda: ops.max(A, axis=-1), lambda: A.max(-1)),
    ("prod", lambda: ops.prod(A, axis=1), lambda: A.astype(np.float64).prod(1)),
    ("var", lambda: ops.var(A, axis=1), lambda: A.astype(np.float64).var(1)),
    ("std", lambda: ops.std(A), lambda: A.astype(np.float64).std()),
    ("norm", lambda: ops.norm(A, axis=-1), lambda: np.linalg.norm(A.astype(np.float64), axis=-1)),
    ("cumsum", lambda: ops.cumsum(A, axis=1), lambda: np.cumsum(A.astype(np.float64), 1)),
    ("matmul", lambda: ops.matmul(A, W45), lambda: A.astype(np.float64) @ W45),
    ("matmul_batched", lambda: ops.matmul(X234, W45), lambda: X234.astype(np.float64) @ W45),
    ("transpose", lambda: ops.transpose(X234, (2, 0, 1)), lambda: np.transpose(X234, (2, 0, 1))),
    ("reshape", lambda: ops.reshape(A, (2, -1)), lambda: A.reshape(2, 6)),
    ("expand_dims", lambda: ops.expand_dims(A, 1), lambda: A[:, None]),
    ("squeeze", lambda: ops.squeeze(A[:, :1]), lambda: A[:, 0]),
    ("concatenate", lambda: ops.concatenate([A, A * 2], axis=1), lambda: np.concatenate([A, A * 2], 1)),
    ("stack", lambda: ops.stack([A, A + 1], axis=1), lambda: np.stack([A, A + 1], 1)),
    ("take", lambda: ops.take(A, np.array([2, 0]), axis=0), lambda: A[[2, 0]]),
    ("take_along_axis", lambda: ops.take_along_axis(A, np.array([[1], [0], [3]]), axis=1),
     lambda: np.take_along_axis(A, np.array([[1], [0], [3]]), 1)),
    ("arange", lambda: ops.arange(2, 9, 3), lambda: np.arange(2, 9, 3)),
    ("full", lambda: ops.full((2, 3), 1.5), lambda: np.full((2, 3), 1.5)),
    ("zeros_like", lambda: ops.zeros_like(A), lambda: np.zeros_like(A)),
    ("ones", lambda: ops.ones((4,)), lambda: np.ones(4)),
]


@pytest.mark.parametrize("name,got,want", EAGER, ids=[e[0] for e in EAGER])
def test_eager_op_matches_numpy(name, got, want):
    g = got()
    assert isinstance(g, np.ndarray)
    want_v = np.asarray(want())
    assert g.shape == want_v.shape, (g.shape, want_v.shape)
    np.testing.assert_allclose(g, want_v, rtol=2e-5, atol=2e-6)


def test_eager_dtypes_follow_keras():
    x = np.array([1.5, -2.0, 0.0], np.float32)
    assert ops.greater(x, 0).dtype == np.bool_
    assert ops.argmax(x).dtype == np.int32 and int(ops.argmax(x)) == 0
    assert ops.one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert ops.cast(np.array([1.7, -1.7]), "int32").tolist() == [1, -1]
    np.testing.assert_array_equal(ops.split(np.arange(6.0), 3)[1], [2.0, 3.0])


@pytest.mark.parametrize("eq,shapes", [("abc,cd->abd", [(2, 3, 4), (4, 5)]),
                                        ("aecd,abcd->acbe", [(2, 3, 4, 5), (2, 6, 4, 5)]),
                                        ("acbe,aecd->abcd", [(2, 4, 6, 3), (2, 3, 4, 5)]),
                                        ("...ij,...jk->...ik", [(3, 2, 4), (3, 4, 2)]),
                                        ("ij,jk->ik", [(3, 4), (4, 2)]),
                                        ("bij->bji", [(2, 3, 4)])])
def test_einsum_matches_numpy(eq, shapes):
    xs = [rand(*s) for s in shapes]
    np.testing.assert_allclose(ops.einsum(eq, *xs), np.einsum(eq, *[x.astype(np.float64) for x in xs]),
                               rtol=1e-5, atol=1e-6)


def test_eager_op_on_keras_parity(keras):
    x, y = rand(2, 3, 4), rand(4, 3)
    for fn in (lambda o: o.matmul(x, y), lambda o: o.gelu(x), lambda o: o.gelu(x, approximate=False),
               lambda o: o.silu(x), lambda o: o.elu(x), lambda o: o.std(x, axis=(0, 2), keepdims=True),
               lambda o: o.logsumexp(x, axis=1), lambda o: o.norm(x, axis=-1), lambda o: o.erf(x),
               lambda o: o.normalize(x, axis=1), lambda o: o.normalize(x * 1e-9, axis=-1),
               lambda o: o.normalize(x, axis=-1, order=1), lambda o: o.normalize(x * 1e-9, axis=0, order=1)):
        np.testing.assert_allclose(fn(ops), keras.ops.convert_to_numpy(fn(keras.ops)), rtol=1e-5, atol=1e-6)


# --- symbolic: recorded into a model -----------------------------------------------------------

def _model(fn, *shapes):
    ins = [bigcore.Input(s) for s in shapes]
    out = fn(*ins)
    return bigcore.Model(ins if len(ins) > 1 else ins[0], out)


def test_symbolic_ops_record_and_run_like_numpy():
    def fn(x, y):
        h = ops.matmul(x, ops.transpose(y, (0, 2, 1)))             # (B, 3, 3)
        h = ops.softmax(h / 2.0, axis=-1)
        s = ops.sum(h * ops.expand_dims(ops.max(x, axis=-1), -1), axis=1)  # (B, 3)
        return ops.concatenate([s, ops.mean(y, axis=(1, 2), keepdims=False)[:, None]], axis=-1)

    m = _model(fn, (3, 4), (3, 4))
    x, y = rand(5, 3, 4), rand(5, 3, 4)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    h = x64 @ y64.transpose(0, 2, 1) / 2
    h = np.exp(h - h.max(-1, keepdims=True))
    h /= h.sum(-1, keepdims=True)
    want = np.concatenate([(h * x64.max(-1)[..., None]).sum(1), y64.mean((1, 2))[:, None]], -1)
    assert m.outputs[0].shape == (None, 4)
    np.testing.assert_allclose(m.predict([x, y], verbose=0), want, rtol=1e-5, atol=1e-6)


def test_keras_tensor_operators():
    def fn(x, y):
        a = x + y
        b = x * 2 - 1 / (y * y + 1)
        c = -x ** 2 + abs(y) @ np.eye(4, dtype=np.float32)
        d = (x > y) * 1.0 + (x <= 0) * 2.0 + (x != y) * 0.5
        return ops.concatenate([a, b, c, d, x // 0.3, x % 0.3, 2.0 - x, 3.0 / (abs(x) + 1)], axis=-1)

    m = _model(fn, (4,), (4,))
    x, y = rand(6, 4), rand(6, 4)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    want = np.concatenate([x64 + y64, x64 * 2 - 1 / (y64 * y64 + 1), -x64 ** 2 + np.abs(y64),
                           (x > y) * 1.0 + (x <= 0) * 2.0 + (x != y) * 0.5,
                           np.floor_divide(x, np.float32(0.3)), np.mod(x, np.float32(0.3)), 2 - x64,
                           3 / (np.abs(x64) + 1)], -1)
    np.testing.assert_allclose(m.predict([x, y], verbose=0), want, rtol=1e-5, atol=1e-5)


def test_numpy_indexing_on_symbolic_tensors():
    def fn(x):
        return [x[:, -1], x[:, 1:, ::2], x[..., 0], x[:, None, 2, 1:3], x[:, ::-1, -2]]

    m = _model(fn, (4, 5))
    x = rand(3, 4, 5)
    got = m.predict(x, verbose=0)
    want = [x[:, -1], x[:, 1:, ::2], x[..., 0], x[:, None, 2, 1:3], x[:, ::-1, -2]]
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert m.outputs[1].shape == (None, 3, 3)


def test_symbolic_shapes_and_variable_lengths():
    x = bigcore.Input((None, 6))
    assert ops.shape(x) == (None, None, 6)
    y = ops.reshape(x, (ops.shape(x)[0], -1, 3, 2))  # Keras's idiom: the batch kept, T inferred
    assert y.shape == (None, None, 3, 2)
    z = ops.mean(y, axis=1)
    m = bigcore.Model(x, ops.sum(z, axis=-1))
    for T in (2, 7, 3):
        a = rand(4, T, 6)
        np.testing.assert_allclose(m.predict(a, verbose=0), a.reshape(4, T, 3, 2).mean(1).sum(-1), rtol=1e-5,
                                   atol=1e-6)


def test_ops_training_gradient_matches_central_differences():
    """A model built of ops only (one Dense before them so it has weights) trains: its loss gradient
    by train_on_batch with SGD(lr) equals the central difference of the loss."""
    bigcore.utils.set_random_seed(3)
    x_in = bigcore.Input((5,))
    h = layers.Dense(4)(x_in)
    out = ops.sum(ops.tanh(h) * ops.sigmoid(h[:, ::-1]) + ops.square(h) * 0.1, axis=-1, keepdims=True)
    m = bigcore.Model(x_in, out)
    lr = 1e-3
    m.compile(bigcore.optimizers.SGD(learning_rate=lr), "mse")
    x, t = rand(8, 5), rand(8, 1)
    w0 = [w.copy() for w in m.get_weights()]

    def loss(ws):
        m.set_weights(ws)
        return float(m.evaluate(x, t, verbose=0, batch_size=8))

    kernel = w0[0]
    num = np.zeros_like(kernel, dtype=np.float64)
    eps = 1e-2
    for idx in [(0, 0), (2, 3), (4, 1)]:
        for sgn in (1, -1):
            ws = [w.copy() for w in w0]
            ws[0][idx] += sgn * eps
            num[idx] += sgn * loss(ws) / (2 * eps)
    m.set_weights(w0)
    m.train_on_batch(x, t)
    grad = (w0[0] - m.get_weights()[0]) / lr
    for idx in [(0, 0), (2, 3), (4, 1)]:
        assert grad[idx] == pytest.approx(num[idx], rel=2e-2, abs=1e-3)


def test_value_dependent_control_flow_raises_naming_where():
    x = bigcore.Input((3,))
    for bad in (lambda: bool(x), lambda: int(x[:, 0]), lambda: list(x), lambda: np.asarray(x),
                lambda: [] if x > 0 else [1]):
        with pytest.raises(TypeError, match="ops.where"):
            bad()


def test_op_errors_are_clear():
    x = bigcore.Input((3, 4))
    with pytest.raises(ValueError, match="matmul"):
        ops.matmul(x, bigcore.Input((5, 2)))
    with pytest.raises(ValueError):
        ops.reshape(x, (5, -1))
    with pytest.raises((ValueError, TypeError)):
        ops.sum(np.ones(3), axis=4)


def test_a_model_with_a_batch_only_output_compiles_and_trains():
    """An output of shape (batch,) (ops.sum over the last axis): the loss treats it as one column, as
    Keras does; compile used to fail inside the native binding."""
    x = bigcore.Input((5,))
    m = bigcore.Model(x, ops.sum(layers.Dense(3)(x), axis=-1))
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8,)).astype(np.float32)
    p = m.predict(xs, verbose=0)
    assert p.shape == (8,)
    np.testing.assert_allclose(m.evaluate(xs, ys, verbose=0), np.mean((p - ys) ** 2), rtol=1e-5)
    before = m.evaluate(xs, ys, verbose=0)
    m.fit(xs, ys, epochs=5, verbose=0)
    assert m.evaluate(xs, ys, verbose=0) < before
