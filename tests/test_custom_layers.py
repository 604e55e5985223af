"""Custom layers (a Layer subclass with build / add_weight / call) traced into the native program:
Keras 3 parity of outputs and of weights after Adam steps, call() counted (it runs at trace time
only), add_weight's initializer / regularizer / constraint / trainable=False, training= and
add_loss inside call, fusion of matmul + bias + activation into the Dense op, get_config /
from_config and saving with registration, Lambda, and the errors of untraceable code.

Each layer is written once as a function of the framework (`lib` = bigcore or keras), so the
bigcore and the Keras model run the very same user code.
"""

import json

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


class _Lib:
    """bigcore or keras, with its ops and layers, as a user's module would import them."""

    def __init__(self, mod):
        self.mod, self.ops, self.layers = mod, mod.ops, mod.layers
        self.Input = mod.Input if hasattr(mod, "Input") else mod.layers.Input
        self.Model = mod.Model


def make_layers(lib):
    o, L = lib.ops, lib.layers

    class GatedResidual(L.Layer):
        """y = x + sigmoid(x Wg + bg) * tanh(x Wh) ; an L2 penalty on Wh, a non-trainable scale."""

        def __init__(self, l2=1e-3, **kwargs):
            super().__init__(**kwargs)
            self.l2 = l2

        def build(self, input_shape):
            d = input_shape[-1]
            self.wg = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="wg")
            self.bg = self.add_weight(shape=(d,), initializer="zeros", name="bg")
            self.wh = self.add_weight(shape=(d, d), initializer="glorot_uniform", regularizer=lib.mod.regularizers.L2(
                self.l2), name="wh")
            self.scale = self.add_weight(shape=(d,), initializer="ones", trainable=False, name="scale")

        def call(self, x):
            gate = o.sigmoid(o.matmul(x, self.wg) + self.bg)
            return x + gate * o.tanh(o.matmul(x, self.wh)) * self.scale

    class TinyAttention(L.Layer):
        """One head of dot-product self-attention from matmul + softmax, over (batch, T, d)."""

        def __init__(self, key_dim, **kwargs):
            super().__init__(**kwargs)
            self.key_dim = key_dim
            self.q = L.Dense(key_dim, use_bias=False)
            self.k = L.Dense(key_dim, use_bias=False)
            self.v = L.Dense(key_dim)

        def call(self, x):
            q, k, v = self.q(x), self.k(x), self.v(x)
            scores = o.matmul(q, o.transpose(k, (0, 2, 1))) / float(np.sqrt(self.key_dim))
            return o.matmul(o.softmax(scores, axis=-1), v)

    class TokenAndPosition(L.Layer):
        """Token embedding plus a learned position embedding (add_weight), for fixed length."""

        def __init__(self, vocab, length, dim, **kwargs):
            super().__init__(**kwargs)
            self.vocab, self.length, self.dim = vocab, length, dim
            self.tok = L.Embedding(vocab, dim)

        def build(self, input_shape):
            self.pos = self.add_weight(shape=(self.length, self.dim), initializer="random_normal", name="pos")

        def call(self, ids):
            return self.tok(ids) + self.pos

    return GatedResidual, TinyAttention, TokenAndPosition


def gated_model(lib):
    Gated, _, _ = make_layers(lib)
    x = lib.Input((6,))
    h = Gated(name="gated")(x)
    y = lib.layers.Dense(3, activation="softmax", name="head")(h)
    return lib.Model(x, y)


def attention_model(lib):
    _, Attn, TokPos = make_layers(lib)
    ids = lib.Input((5,))
    h = TokPos(20, 5, 8, name="embed")(ids)
    h = Attn(8, name="attn")(h)
    y = lib.layers.Dense(2, activation="softmax", name="head")(lib.ops.mean(h, axis=1))
    return lib.Model(ids, y)


def _data(kind, n=32):
    rng = np.random.default_rng(5)
    if kind == "gated":
        return rng.normal(0, 0.5, (n, 6)).astype(np.float32), rng.integers(0, 3, n)
    return rng.integers(0, 20, (n, 5)).astype(np.float32), rng.integers(0, 2, n)


@pytest.mark.parametrize("kind,build", [("gated", gated_model), ("attention", attention_model)])
def test_custom_layer_keras_parity_outputs_and_adam_steps(keras, kind, build):
    bigcore.utils.set_random_seed(1)
    m = build(_Lib(bigcore))
    k = build(_Lib(keras))
    ws = m.get_weights()
    assert [w.shape for w in ws] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(ws)
    x, y = _data(kind)
    np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    lm = m.evaluate(x, y, verbose=0)
    lk = k.evaluate(x, y, verbose=0)
    assert lm == pytest.approx(lk, rel=1e-4)


def test_custom_layer_weights_regularizer_constraint_and_trainable(keras):
    Gated, _, _ = make_layers(_Lib(bigcore))
    x = bigcore.Input((6,))
    g = Gated(l2=0.5, name="gated")
    m = bigcore.Model(x, ops.sum(g(x), axis=-1, keepdims=True))
    assert [w.path for w in g.weights] == ["gated/wg", "gated/bg", "gated/wh", "gated/scale"]
    assert [w.path for w in g.trainable_weights] == ["gated/wg", "gated/bg", "gated/wh"]
    assert [w.name for w in g.weights] == ["wg", "bg", "wh", "scale"]  # Keras: the short name
    KGated, _, _ = make_layers(_Lib(keras))
    kg = KGated(l2=0.5, name="gated")
    kg(keras.ops.zeros((1, 6)))
    assert [(w.name, w.path) for w in g.weights] == [(w.name, w.path) for w in kg.weights]
    assert m.count_params() == 3 * 36 // 3 * 2 + 6 + 6
    g.scale.assign(np.full(6, 0.5, np.float32))
    m.compile(bigcore.optimizers.SGD(0.1), "mse")
    xs, ts = _data("gated")[0], np.zeros((32, 1), np.float32)
    before = m.get_weights()
    pred = m.predict(xs, verbose=0)
    # the evaluated loss holds the L2 penalty of wh (Keras adds weight regularizers to the loss)
    mse = float(np.mean((pred - ts) ** 2))
    assert m.evaluate(xs, ts, verbose=0) == pytest.approx(mse + 0.5 * float(np.sum(before[2] ** 2)), rel=1e-4)
    m.fit(xs, ts, epochs=1, batch_size=32, verbose=0)
    after = m.get_weights()
    np.testing.assert_array_equal(after[3], before[3])  # trainable=False: not trained
    assert not np.allclose(after[2], before[2])


def test_add_weight_constraint_and_keras_signature():
    class Capped(layers.Layer):
        def build(self, input_shape):
            # positional as Keras: shape, initializer; unnamed weights are "variable", "variable_1"
            self.w = self.add_weight((input_shape[-1], 3), "ones", constraint=bigcore.constraints.MaxNorm(1.0))
            self.b = self.add_weight(shape=(), initializer="zeros")

        def call(self, x):
            return ops.matmul(x, self.w) + self.b

    x = bigcore.Input((4,))
    p = Capped(name="capped")
    m = bigcore.Model(x, p(x))
    assert [w.path for w in p.weights] == ["capped/variable", "capped/variable_1"]
    assert [w.name for w in p.weights] == ["variable", "variable_1"]
    assert p.b.shape == ()
    m.compile(bigcore.optimizers.SGD(0.1), "mse")
    xs = np.ones((8, 4), np.float32)
    m.fit(xs, np.full((8, 3), 5.0, np.float32), epochs=3, verbose=0)
    norms = np.linalg.norm(p.w.numpy(), axis=0)  # MaxNorm(axis=0) as Keras: each column's norm
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert float(p.b.numpy()) > 0  # the scalar weight trains too


def test_call_runs_at_trace_time_only():
    calls = []

    class Counted(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), name="w")

        def call(self, x):
            calls.append(1)
            return ops.relu(ops.matmul(x, self.w))

    x = bigcore.Input((3,))
    c = Counted()
    m = bigcore.Model(x, c(x))
    assert len(calls) == 1
    m.compile("adam", "mse")
    xs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    m.fit(xs, np.zeros((64, 2), np.float32), epochs=3, batch_size=8, verbose=0)
    m.predict(xs, verbose=0)
    m.evaluate(xs, np.zeros((64, 2), np.float32), verbose=0)
    assert len(calls) == 1
    c(bigcore.Input((3,)))  # a new call on new tensors traces again (shared weights)
    assert len(calls) == 2 and len(c.weights) == 1


def test_fusion_lowers_matmul_bias_activation_to_the_dense_op():
    class MyDense(layers.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", name="b")

        def call(self, x):
            return ops.relu(ops.matmul(x, self.w) + self.b)

    x = bigcore.Input((5,))
    mine = MyDense(4)
    m = bigcore.Model(x, layers.Dense(2)(mine(x)))
    kinds = m._native().native.op_kinds()
    assert kinds == ["DenseOp", "DenseOp"], kinds  # the custom layer's matmul + add + relu is one Dense op

    class Unfused(MyDense):
        def call(self, x):
            h = ops.matmul(x, self.w)
            return ops.relu(h + self.b) + h  # h has a second reader: nothing to fuse but the matmul
    m2 = bigcore.Model(x, Unfused(4)(x))
    assert m2._native().native.op_kinds() == ["DenseOp", "prim:add", "prim:relu", "prim:add"]
    xs = np.random.default_rng(2).normal(size=(7, 5)).astype(np.float32)
    w, b = mine.w.numpy(), mine.b.numpy()
    h = np.maximum(xs @ w + b, 0)
    k2, b2 = m.get_weights()[2:]
    np.testing.assert_allclose(m.predict(xs, verbose=0), h @ k2 + b2, rtol=1e-5, atol=1e-6)


def test_dropout_and_training_inside_call():
    class Noisy(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=None):
            return self.drop(x, training=training) * 1.0

    class Branchy(layers.Layer):
        def call(self, x, training=None):
            if training:  # a Python branch on training: traced once per mode
                return x * 2.0
            return x - 1.0

    xs, t = np.ones((4, 64), np.float32), np.zeros((4, 64), np.float32)
    x = bigcore.Input((64,))
    noisy = bigcore.Model(x, Noisy()(x))
    np.testing.assert_array_equal(noisy.predict(xs, verbose=0), xs)  # inference: no dropout
    noisy.compile(bigcore.optimizers.SGD(0.0), "mse")
    # training: half the units at 2.0, so E[y^2] = 2 (the loss shows the mode the program ran in)
    assert noisy.fit(xs, t, epochs=1, batch_size=4, verbose=0).history["loss"][0] == pytest.approx(2.0, rel=0.2)
    assert noisy.evaluate(xs, t, verbose=0) == pytest.approx(1.0)

    branchy = bigcore.Model(x, Branchy()(x))
    kinds = branchy._native().native.op_kinds()
    assert kinds[-1] == "SelectTrainingOp" and kinds.count("prim:multiply") == 1 and kinds.count("prim:subtract") == 1
    np.testing.assert_array_equal(branchy.predict(xs, verbose=0), xs - 1)
    branchy.compile(bigcore.optimizers.SGD(0.0), "mse")
    assert branchy.fit(xs, t, epochs=1, batch_size=4, verbose=0).history["loss"][0] == pytest.approx(4.0)
    assert branchy.evaluate(xs, t, verbose=0) == pytest.approx(0.0)

    fixed = bigcore.Model(x, Branchy()(x, training=True))  # training given at call time fixes the mode
    np.testing.assert_array_equal(fixed.predict(xs, verbose=0), xs * 2)
    assert "SelectTrainingOp" not in fixed._native().native.op_kinds()


def test_add_loss_inside_call_joins_the_training_loss():
    class ActivityL1(layers.Layer):
        def __init__(self, rate, **kw):
            super().__init__(**kw)
            self.rate = rate

        def call(self, x):
            self.add_loss(self.rate * ops.sum(ops.abs(x)) / 4.0)
            return x

    x = bigcore.Input((3,))
    h = layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros")(x)
    m = bigcore.Model(x, ActivityL1(0.1)(h))
    m.compile(bigcore.optimizers.SGD(0.01), "mse")
    xs = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    pred = m.predict(xs, verbose=0)
    extra = 0.1 * np.abs(pred).sum() / 4.0
    assert m.evaluate(xs, pred, batch_size=4, verbose=0) == pytest.approx(extra, rel=1e-5)
    # its gradient reaches the Dense kernel: with targets equal to the outputs only add_loss pulls
    w0 = m.get_weights()[0].copy()
    m.train_on_batch(xs, pred)
    dw = (w0 - m.get_weights()[0]) / 0.01
    want = 0.1 / 4.0 * xs.T @ np.sign(pred)
    np.testing.assert_allclose(dw, want, rtol=1e-3, atol=1e-5)


def test_value_dependent_python_control_flow_raises_at_trace_time():
    class Bad(layers.Layer):
        def call(self, x):
            if ops.sum(x) > 0:
                return x
            return -x

    with pytest.raises(TypeError, match=r"ops\.where"):
        Bad()(bigcore.Input((3,)))

    class Good(layers.Layer):
        def call(self, x):
            if x.shape[-1] > 2:  # control flow on shapes works
                x = x[:, :2]
            return ops.where(ops.sum(x, axis=-1, keepdims=True) > 0, x, -x)

    x = bigcore.Input((3,))
    m = bigcore.Model(x, Good()(x))
    xs = np.array([[1, 2, 3], [-1, -2, 9]], np.float32)
    np.testing.assert_array_equal(m.predict(xs, verbose=0), [[1, 2], [1, 2]])


def test_lambda_layer(tmp_path):
    x = bigcore.Input((4,))
    y = layers.Lambda(lambda t: ops.square(t) - t[:, :1])(x)
    m = bigcore.Model(x, y)
    xs = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(m.predict(xs, verbose=0), xs ** 2 - xs[:, :1], rtol=1e-6)
    # saved as Keras saves a lambda (its bytecode), so a fit's checkpoint never fails on it; bigcore
    # never runs code from a file, so loading it here raises
    cfg = json.loads(m.to_json())
    fn = [l for l in cfg["config"]["layers"] if l["class_name"] == "Lambda"][0]["config"]["function"]
    assert fn["class_name"] == "__lambda__" and fn["config"]["code"]
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match="never runs code from a file"):
            bigcore.models.model_from_json(m.to_json()) if safe_mode else \
                bigcore.saving.load_model(_saved(m, tmp_path), safe_mode=False)


def _saved(model, tmp_path):
    path = str(tmp_path / "lam.keras")
    model.save(path)
    return path


def test_a_lambda_model_saved_by_bigcore_loads_in_keras_unsafe(keras, tmp_path):
    x = bigcore.Input((4,))
    scale = 3.0
    m = bigcore.Model(x, layers.Dense(2)(layers.Lambda(lambda t: t * 2.0 + scale)(x)))
    xs = np.random.default_rng(4).normal(size=(5, 4)).astype(np.float32)
    theirs = keras.saving.load_model(_saved(m, tmp_path), safe_mode=False)
    np.testing.assert_allclose(np.asarray(theirs.predict(xs, verbose=0)), m.predict(xs, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(str(tmp_path / "lam.keras"))


@bigcore.saving.register_keras_serializable(package="tests")
def halve(t):
    return t * 0.5


def test_lambda_with_registered_function_saves(tmp_path):
    x = bigcore.Input((3,))
    m = bigcore.Model(x, layers.Dense(2)(layers.Lambda(halve)(x)))
    path = str(tmp_path / ("lam" + bigcore.saving.MODEL_SUFFIX))
    m.save(path)
    m2 = bigcore.saving.load_model(path)
    xs = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), m.predict(xs, verbose=0))


@bigcore.saving.register_keras_serializable(package="tests")
class Scaled(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_uniform", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Unregistered(layers.Layer):
    def __init__(self, units=3, **kwargs):  # auto config from the constructor's arguments
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

    def call(self, x):
        return ops.matmul(x, self.w)


def test_get_config_from_config_and_save_load(tmp_path):
    x = bigcore.Input((4,))
    m = bigcore.Model(x, Unregistered(units=2, name="u")(Scaled(3.0, name="s")(x)))
    cfg = m.get_layer("s").get_config()
    assert cfg["factor"] == 3.0 and cfg["name"] == "s"
    assert m.get_layer("u").get_config()["units"] == 2
    clone = Scaled.from_config(cfg)
    assert clone.factor == 3.0 and clone.name == "s"
    xs = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    m.compile("adam", "mse")
    m.fit(xs, np.zeros((3, 2), np.float32), epochs=2, verbose=0)
    want = m.predict(xs, verbose=0)
    path = str(tmp_path / ("custom" + bigcore.saving.MODEL_SUFFIX))
    m.save(path)
    with pytest.raises(ValueError, match="Unregistered"):
        bigcore.saving.load_model(path)  # not registered and not given
    m2 = bigcore.saving.load_model(path, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), want)
    assert isinstance(m2.get_layer("s"), Scaled) and m2.get_layer("s").factor == 3.0
    m2.fit(xs, np.zeros((3, 2), np.float32), epochs=1, verbose=0)  # the optimizer state came back too
    names = [entry.get("registered_name") for entry in json.loads(m.to_json())["config"]["layers"]]
    assert "tests>Scaled" in names


def test_keras_files_take_custom_layers_and_refuse_recorded_ops(tmp_path):
    x = bigcore.Input((4,))
    m = bigcore.Model(x, Unregistered(units=2, name="u")(Scaled(3.0, name="s")(x)))
    path = str(tmp_path / "custom.keras")
    m.save(path)
    m2 = bigcore.saving.load_model(path, custom_objects={"Unregistered": Unregistered})
    xs = np.random.default_rng(8).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(m2.predict(xs, verbose=0), m.predict(xs, verbose=0))
    bare = bigcore.Model(x, ops.relu(x) + 1.0)  # Keras's operation entries (tests/test_keras_files_ops.py)
    bare.save(str(tmp_path / "ops.keras"))
    np.testing.assert_array_equal(bigcore.saving.load_model(str(tmp_path / "ops.keras")).predict(xs, verbose=0),
                                  np.maximum(xs, 0) + 1.0)
    no_keras_form = bigcore.Model(x, ops.cumsum(x, axis=-1))
    with pytest.raises(ValueError, match=r"bigcore.ops operations recorded in its graph \(cumsum"):
        no_keras_form.save(str(tmp_path / "cumsum.keras"))


def test_masks_reach_call_and_pass_through():
    seen = []

    class Scale(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.supports_masking = True  # the mask passes through to the LSTM, as in Keras

        def call(self, x, mask=None):
            seen.append(mask)
            return x * 2.0

    bigcore.utils.set_random_seed(2)
    ids = bigcore.Input((6,))
    emb = layers.Embedding(10, 4, mask_zero=True)
    lstm = layers.LSTM(3)
    with_custom = bigcore.Model(ids, lstm(Scale()(emb(ids))))
    assert seen and seen[0] is not None and seen[0].shape == (None, 6)
    plain = bigcore.Model(ids, lstm(layers.Lambda(lambda t: t * 2.0)(emb(ids))))  # Lambda: no mask support
    x = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]], np.float32)
    masked = with_custom.predict(x, verbose=0)
    unmasked = plain.predict(x, verbose=0)
    np.testing.assert_allclose(masked[1], unmasked[1], rtol=1e-5, atol=1e-6)  # nothing masked in row 1
    assert not np.allclose(masked[0], unmasked[0])  # row 0 stops at its 3 tokens only with the mask
    ids3 = bigcore.Input((3,))  # the same layers on row 0's three real tokens alone
    short = bigcore.Model(ids3, lstm(Scale()(emb(ids3))))
    np.testing.assert_allclose(short.predict(x[:1, :3], verbose=0), masked[:1], rtol=1e-5, atol=1e-6)


class _Positions(layers.Layer):
    """x + table[0..T-1]: an Embedding called on ops.arange inside call() (the Keras guide's position
    embedding)."""

    def __init__(self, length, dim, **kwargs):
        super().__init__(**kwargs)
        self.pos = layers.Embedding(length, dim)

    def call(self, x):
        return x + self.pos(ops.arange(0, ops.shape(x)[1], 1))


def test_a_sublayer_on_arange_positions_is_recorded_and_trained():
    bigcore.utils.set_random_seed(3)
    inp = bigcore.Input((5, 4))
    layer = _Positions(5, 4)
    model = bigcore.Model(inp, layer(inp))
    x = np.random.default_rng(0).normal(size=(8, 5, 4)).astype(np.float32)
    table = layer.pos.embeddings.value.copy()
    np.testing.assert_allclose(model.predict(x, verbose=0), x + table[None], rtol=1e-6, atol=1e-6)
    # mean((x + P - y)^2): the gradient reaches P (it was a frozen constant before)
    model.compile(optimizer=bigcore.optimizers.SGD(0.5), loss="mse")
    y = np.zeros_like(x)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    grad = 2 * (x + table[None] - y).mean(0) / x[0].size  # mse: the mean over every entry
    np.testing.assert_allclose(layer.pos.embeddings.value, table - 0.5 * grad, rtol=1e-4, atol=1e-6)


def test_a_layer_without_an_unbatched_form_refuses_arrays_inside_call():
    class Bad(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = layers.LSTM(4)  # Dense and Embedding have unbatched forms; a recurrent layer has none

        def call(self, x):
            return x + self.d(np.ones((1, 2, 4), np.float32))

    with pytest.raises(TypeError, match="called on an array inside a custom layer's call"):
        Bad()(bigcore.Input((4,)))
