"""ONNX export of recorded ops (bigcore.ops, KerasTensor operators), traced custom layers and
subclassed models: onnxruntime answers what model.predict answers (within the tolerance of
test_onnx_export.py) at batch sizes 1 and 7; a primitive without a rule is refused by name.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from bigcore.quantization import quantize

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

BATCHES = (1, 7)


def check(model, make_inputs, atol=1e-5, opset=None):
    kw = {} if opset is None else {"opset": opset}
    proto = bigcore.export.to_onnx(model, **kw)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for b in BATCHES:
        xs = make_inputs(b)
        feeds = {s.name: x.astype(np.int64) if s.type == "tensor(int64)" else x.astype(np.float32)
                 for s, x in zip(sess.get_inputs(), xs)}
        got = sess.run(None, feeds)
        want = model.predict(xs if len(xs) > 1 else xs[0], batch_size=b, verbose=0)
        want = want if isinstance(want, list) else [want]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)
    return proto


def normal(*shape, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    return lambda b: [(scale * rng.normal(size=(b,) + s)).astype(np.float32) for s in shape]


def _op_types(proto):
    return {n.op_type for n in proto.graph.node}


def test_elementwise_ops():
    x_in, y_in = layers.Input((4, 6)), layers.Input((4, 6))
    x, y = x_in, y_in
    pos = ops.abs(y) + 0.5
    unary = [ops.negative(x), ops.square(x), ops.sqrt(pos), ops.rsqrt(pos), ops.exp(x), ops.expm1(x), ops.log(pos),
             ops.log1p(pos), ops.sin(x), ops.cos(x), ops.reciprocal(pos), ops.relu(x), ops.relu6(x * 4),
             ops.gelu(x), ops.gelu(x, approximate=False), ops.silu(x), ops.sigmoid(x), ops.tanh(x), ops.softplus(x),
             ops.log_sigmoid(x), ops.softsign(x), ops.selu(x), ops.elu(x, alpha=0.7), ops.leaky_relu(x, 0.1),
             ops.hard_sigmoid(x * 4), ops.hard_silu(x * 4), ops.erf(x), ops.clip(x, -0.3, 0.4), ops.sign(x),
             ops.floor(x * 3), ops.ceil(x * 3), ops.round(x * 3 + 0.25), ops.stop_gradient(x),
             ops.cast(x * 3, "int32"), ops.cast(ops.floor(x), "bool")]
    binary = [x + y, x - y, x * y, x / pos, ops.power(pos, x), ops.maximum(x, y), ops.minimum(x, y), -x,
              ops.floor_divide(x * 3, pos), ops.mod(x * 3, pos), x @ ops.transpose(y, (0, 2, 1))]
    compare = [ops.equal(x, ops.round(y)), ops.not_equal(x, y), x > y, x >= y, x < y, x <= y, ops.logical_and(x > 0, y > 0),
               ops.logical_or(x > 0, y > 0), ops.logical_xor(x > 0, y > 0), ops.logical_not(x > 0),
               ops.where(x > y, x, y * 2.0)]
    outs = [ops.reshape(t, (-1, 24 if t.shape[-1] == 6 else 16)) for t in unary + binary + compare]
    model = bigcore.Model([x_in, y_in], outs)
    proto = check(model, normal((4, 6), (4, 6)))
    assert {"Erf", "Pow", "Where", "GreaterOrEqual", "Xor", "MatMul", "Selu", "HardSwish"} <= _op_types(proto)


def test_reductions_softmax_and_layout_ops():
    x_in = layers.Input((4, 6))
    x = x_in
    red = [ops.sum(x, axis=-1), ops.mean(x, axis=1, keepdims=True), ops.max(x, axis=(1, 2)), ops.min(x, axis=2),
           ops.prod(x, axis=1), ops.var(x, axis=-1), ops.std(x, axis=1), ops.logsumexp(x, axis=-1),
           ops.any(x > 1, axis=1), ops.all(x > -1, axis=2), ops.norm(x, axis=-1), ops.norm(x, ord=1, axis=1),
           ops.argmax(x, axis=-1), ops.argmin(x, axis=1), ops.cumsum(x, axis=1), ops.softmax(x, axis=1),
           ops.log_softmax(x, axis=-1)]
    w = np.random.default_rng(3).normal(size=(6, 5)).astype(np.float32)
    t = ops.transpose(x, (0, 2, 1))
    lay = [ops.matmul(x, w), ops.expand_dims(x, 2), ops.squeeze(ops.expand_dims(x, -1), -1), t,
           ops.concatenate([x, x * 2], axis=-1), ops.stack([x, -x], axis=1), *ops.split(x, 3, axis=-1),
           ops.split(x, [1, 4], axis=-1)[1], x[:, 1:3], x[:, ::-2, 1:], x[:, -1], ops.flip(x, axis=(1, 2)),
           ops.take(x, np.array([5, 0, -1]), axis=2), ops.take_along_axis(x, ops.argmax(x, axis=-1, keepdims=True),
                                                                          axis=-1),
           ops.one_hot(ops.argmax(x, axis=-1), 6), ops.pad(x, [[0, 0], [1, 2], [0, 1]], constant_values=0.5),
           ops.tile(x, (1, 2, 1)), ops.repeat(x, 2, axis=1), ops.broadcast_to(ops.sum(x, axis=-1, keepdims=True),
                                                                               (None, 4, 3)),
           x + ops.arange(6) * ops.ones((4, 1)) + ops.eye(4, 6) + ops.full((6,), 0.25) + ops.zeros_like(x),
           ops.ones_like(x) * ops.full_like(x, 2.0), ops.reshape(t, (-1, 2, 12))]
    outs = [ops.reshape(o, (-1, int(np.prod(o.shape[1:])))) for o in red + lay]
    model = bigcore.Model(x_in, outs)
    for opset in (17, 18):  # reduce axes: an attribute before 18, an input from 18
        proto = check(model, normal((4, 6), seed=opset), opset=opset)
    assert {"ReduceL2", "ReduceProd", "CumSum", "GatherElements", "OneHot", "Pad", "Tile", "Split", "Slice",
            "Softmax", "LogSoftmax", "ArgMax"} <= _op_types(proto)


def test_one_hot_negative_ids_and_int_input():
    ids = layers.Input((5,), dtype="int32")
    y = ops.one_hot(ids - 1, 4) * 2.0
    model = bigcore.Model(ids, ops.reshape(y, (-1, 20)))
    rng = np.random.default_rng(4)
    check(model, lambda b: [rng.integers(0, 5, (b, 5)).astype(np.int32)])


class GatedResidual(layers.Layer):
    """y = x + sigmoid(x Wg + bg) * tanh(x Wh) * scale, weights from add_weight."""

    def build(self, input_shape):
        d = input_shape[-1]
        self.wg = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="wg")
        self.bg = self.add_weight(shape=(d,), initializer="random_normal", name="bg")
        self.wh = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="wh")
        self.scale = self.add_weight(shape=(d,), initializer="random_uniform", trainable=False, name="scale")

    def call(self, x):
        gate = ops.sigmoid(ops.matmul(x, self.wg) + self.bg)
        return x + gate * ops.tanh(x @ self.wh) * self.scale


class Attention(layers.Layer):
    """One head of masked-free self-attention: Dense projections, matmul, softmax, matmul."""

    def __init__(self, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = key_dim
        self.q, self.k, self.v = layers.Dense(key_dim, use_bias=False), layers.Dense(key_dim), layers.Dense(key_dim)

    def call(self, x):
        scores = ops.matmul(self.q(x), ops.transpose(self.k(x), (0, 2, 1))) / float(np.sqrt(self.key_dim))
        return ops.matmul(ops.softmax(scores, axis=-1), self.v(x))


class NoisyScale(layers.Layer):
    """Branches on `training` (traced twice): the export takes the inference trace."""

    def call(self, x, training=None):
        if training:
            return x * 3.0
        return x * 0.5 + 1.0


def test_custom_layers_gated_and_attention():
    x_in = layers.Input((5, 6))
    h = GatedResidual(name="gated")(x_in)
    h = Attention(4, name="attn")(h)
    h = NoisyScale(name="noisy")(h)
    y = layers.Dense(3, activation="softmax")(ops.mean(h, axis=1))
    model = bigcore.Model(x_in, y)
    proto = check(model, normal((5, 6), seed=2))
    assert {"Sigmoid", "Tanh", "Softmax", "Transpose"} <= _op_types(proto)


class Classifier(bigcore.Model):
    """A subclassed model with several sub-layers: a custom block, a residual sum, dropout."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inp = layers.Dense(8, activation="relu")
        self.block = GatedResidual()
        self.mid = layers.Dense(8, activation="tanh")
        self.drop = layers.Dropout(0.3)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x, training=None):
        h = self.block(self.inp(x))
        h = h + self.mid(h)
        return self.out(self.drop(ops.relu(h) - 0.1, training=training))


class Branchy(bigcore.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d = layers.Dense(4)

    def call(self, x, training=None):
        h = self.d(x)
        return h * 2.0 if training else ops.tanh(h)


def test_subclassed_models_export_after_fit():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.integers(0, 3, 32)
    model = Classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    check(model, normal((5,), seed=7))
    branchy = Branchy()
    branchy.build((None, 5))
    check(branchy, normal((5,), seed=8))


def test_quantized_subclassed_model_exports():
    """quantize() clones through the config (the custom layer registered), then the int8 model exports."""
    bigcore.saving.register_keras_serializable(package="test_onnx_ops")(GatedResidual)

    class Small(Classifier):
        def call(self, x, training=None):
            h = self.block(self.inp(x))
            return self.out(self.drop(ops.relu(h) - h * self.mid(h), training=training))

    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.integers(0, 3, 32)
    model = Small()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    qmodel = quantize(model)
    assert "QuantizedDense" in {type(n.layer).__name__ for n in qmodel._nodes}
    proto = check(qmodel, normal((5,), seed=12), atol=1e-6)
    assert "MatMulInteger" in _op_types(proto)


def test_nested_model_and_variable_length():
    """A functional model called as a layer; an Input with a run-time length (symbolic in ONNX)."""
    inner_in = layers.Input((None, 3))
    inner = bigcore.Model(inner_in, layers.Dense(4)(inner_in) * 2.0)
    x_in = layers.Input((None, 3))
    h = inner(x_in)
    h = ops.softmax(h, axis=1) + ops.reshape(h, (-1, h.shape[1] or -1, 4)) + ops.zeros_like(h)
    h = h + ops.cumsum(ops.ones_like(h), axis=1) * 0.5  # positions along the run-time axis
    model = bigcore.Model(x_in, ops.sum(h, axis=1) + ops.max(h, axis=1))
    proto = bigcore.export.to_onnx(model)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param  # symbolic
    rng = np.random.default_rng(9)
    for b, T in ((1, 2), (3, 5), (2, 9)):
        xs = rng.normal(size=(b, T, 3)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: xs})[0],
                                   model.predict(xs, verbose=0), rtol=1e-5, atol=1e-5)


def test_nested_model_called_on_two_lengths():
    """One model called on two inputs of different run-time lengths: each call reads its own."""
    inner_in = layers.Input((None, 3))
    h = layers.Dense(2)(inner_in)
    inner = bigcore.Model(inner_in, ops.reshape(ops.transpose(h, (0, 2, 1)), (-1, 2, inner_in.shape[1] or -1)))
    a_in, b_in = layers.Input((None, 3)), layers.Input((None, 3))
    model = bigcore.Model([a_in, b_in], ops.sum(inner(a_in), axis=-1) - ops.max(inner(b_in), axis=-1))
    proto = bigcore.export.to_onnx(model)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(10)
    for b, Ta, Tb in ((1, 2, 6), (4, 7, 3)):
        xa, xb = rng.normal(size=(b, Ta, 3)).astype(np.float32), rng.normal(size=(b, Tb, 3)).astype(np.float32)
        names = [i.name for i in sess.get_inputs()]
        np.testing.assert_allclose(sess.run(None, dict(zip(names, [xa, xb])))[0],
                                   model.predict([xa, xb], verbose=0), rtol=1e-5, atol=1e-5)


def test_primitive_without_rule_is_refused_by_name():
    x_in = layers.Input((4,))
    model = bigcore.Model(x_in, layers.Dense(2)(ops.cumprod(x_in, axis=1)))
    with pytest.raises(NotImplementedError, match=r"primitive 'cumprod'.*Primitives with a rule: .*matmul"):
        bigcore.export.to_onnx(model)


def test_masked_softmax_primitive():
    """softmax's optional mask input (the Softmax layer's form): -1e9 on the logits where it is 0,
    against the eager primitive (the native kernel) and model.predict (whose fusion of a final
    softmax into the activation op dropped the mask before this branch)."""
    from bigcore._native import _core
    from bigcore.ops.node import OpLayer

    x_in, m_in = layers.Input((3, 5)), layers.Input((1, 5))
    model = bigcore.Model([x_in, m_in], OpLayer("softmax", {"axis": -1})([x_in, m_in]))
    sess = ort.InferenceSession(bigcore.export.to_onnx(model).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(13)
    x = rng.normal(size=(4, 3, 5)).astype(np.float32)
    m = (rng.random((4, 1, 5)) > 0.4).astype(np.float32)
    got = sess.run(None, dict(zip([i.name for i in sess.get_inputs()], [x, m])))[0]
    want = _core.prim_forward("softmax", {"axis": -1}, [x, m])[0]
    assert (got[np.broadcast_to(m, x.shape) == 0] == 0).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict([x, m], verbose=0), want, rtol=1e-5, atol=1e-6)

    class MaskedHead(layers.Layer):  # matmul of a weight + masked softmax: not a Dense epilogue
        def build(self, shape):
            self.w = self.add_weight(shape=(5, 5), initializer="random_normal", name="w")

        def call(self, x, m):
            return OpLayer("softmax", {"axis": -1})([ops.matmul(x, self.w), m]) * 1.0

    head = MaskedHead()
    model = bigcore.Model([x_in, m_in], head(x_in, m_in))
    want = _core.prim_forward("softmax", {"axis": -1}, [x @ head.w.numpy(), m])[0]
    np.testing.assert_allclose(model.predict([x, m], verbose=0), want, rtol=1e-5, atol=1e-6)
    check(model, lambda b: [x[:b], m[:b]], atol=1e-6)
