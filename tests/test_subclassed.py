"""Subclassed models (a Model subclass with __init__ + call()): traced on first use into one native
program; fit / evaluate / predict / summary / save / load; Keras 3 parity; training= and add_loss in
call; nested models; layer.input / output and feature extraction; variable-length inputs."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def make_classifier(lib):
    L, o = lib.layers, lib.ops

    class Classifier(lib.Model):
        """Two Dense layers with a residual sum and a dropout; softmax head."""

        def __init__(self, hidden=16, classes=3, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.classes = hidden, classes
            self.inp = L.Dense(hidden, activation="relu")
            self.mid = L.Dense(hidden, activation="tanh")
            self.drop = L.Dropout(0.25)
            self.out = L.Dense(classes, activation="softmax")

        def call(self, x, training=None):
            h = self.inp(x)
            h = h + self.mid(h)
            h = self.drop(h, training=training)
            return self.out(h)

        def get_config(self):
            return {**super().get_config(), "hidden": self.hidden, "classes": self.classes}

    return Classifier


def _data(n=48, d=5):
    rng = np.random.default_rng(9)
    return rng.normal(0, 0.6, (n, d)).astype(np.float32), rng.integers(0, 3, n)


def test_subclassed_model_fit_evaluate_predict_summary():
    calls = []
    Base = make_classifier(bigcore)

    class Counted(Base):
        def call(self, x, training=None):
            calls.append(1)
            return super().call(x, training=training)

    bigcore.utils.set_random_seed(0)
    m = Counted()
    x, y = _data()
    m.compile(bigcore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = m.fit(x, y, epochs=5, batch_size=16, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0]
    assert len(calls) == 1  # traced once, on the first fit
    assert m.predict(x, verbose=0).shape == (48, 3)
    loss, acc = m.evaluate(x, y, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert len(calls) == 1
    assert [type(layer).__name__ for layer in m.layers] == ["Dense", "Dense", "Dropout", "Dense"]  # attribute order
    assert m.count_params() == 5 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3
    lines = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 419" in text


def test_subclassed_model_keras_parity(keras):
    bigcore.utils.set_random_seed(2)
    m = make_classifier(bigcore)(hidden=8)
    k = make_classifier(keras)(hidden=8)
    x, y = _data()
    m.build((None, 5))
    k(x[:2])  # builds the Keras model (its build() warns for a subclassed model without one)
    assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(m.get_weights())
    np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_subclassed_save_load_registration(tmp_path):
    Classifier = make_classifier(bigcore)
    m = Classifier(hidden=12, name="clf")
    x, y = _data()
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=2, verbose=0)
    want = m.predict(x, verbose=0)
    path = str(tmp_path / ("clf" + bigcore.saving.MODEL_SUFFIX))
    m.save(path)
    with pytest.raises(ValueError, match="Classifier"):
        bigcore.saving.load_model(path)
    m2 = bigcore.saving.load_model(path, custom_objects={"Classifier": Classifier})
    assert type(m2) is Classifier and m2.hidden == 12 and m2.name == "clf"
    np.testing.assert_array_equal(m2.predict(x, verbose=0), want)
    m2.fit(x, y, epochs=1, verbose=0)

    Registered = bigcore.saving.register_keras_serializable(package="subtests")(make_classifier(bigcore))
    r = Registered(hidden=4)
    r.compile("adam", "sparse_categorical_crossentropy")
    r.fit(x, y, epochs=1, verbose=0)
    path2 = str(tmp_path / ("reg" + bigcore.saving.MODEL_SUFFIX))
    r.save(path2)
    r2 = bigcore.saving.load_model(path2)  # found by its registered name
    np.testing.assert_array_equal(r2.predict(x, verbose=0), r.predict(x, verbose=0))


def test_subclassed_add_loss_and_training_branch():
    class Regularized(bigcore.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(4, kernel_initializer="ones", bias_initializer="zeros")

        def call(self, x, training=None):
            h = self.d(x)
            self.add_loss(ops.mean(ops.square(h)))
            if training:
                return h * 0.0
            return h

    m = Regularized()
    x = np.full((8, 3), 0.5, np.float32)
    t = np.zeros((8, 4), np.float32)
    m.compile(bigcore.optimizers.SGD(0.0), "mse")
    np.testing.assert_allclose(m.predict(x, verbose=0), np.full((8, 4), 1.5), rtol=1e-6)
    # evaluate: mse of the inference branch (2.25) + the added loss (2.25)
    assert m.evaluate(x, t, verbose=0) == pytest.approx(4.5, rel=1e-5)
    # fit: the training branch gives zeros, so only the added loss is left
    assert m.fit(x, t, epochs=1, batch_size=8, verbose=0).history["loss"][0] == pytest.approx(2.25, rel=1e-5)


def test_nested_model_and_feature_extraction():
    inner_in = bigcore.Input((4,))
    feat = layers.Dense(6, activation="relu", name="feat")(inner_in)
    inner = bigcore.Model(inner_in, layers.Dense(2, name="head")(feat))
    x = bigcore.Input((4,))
    outer = bigcore.Model(x, ops.sum(inner(x), axis=-1, keepdims=True) * 2.0)
    xs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(outer.predict(xs, verbose=0), inner.predict(xs, verbose=0).sum(-1, keepdims=True) * 2,
                               rtol=1e-5, atol=1e-6)
    extractor = bigcore.Model(inner.inputs, inner.get_layer("feat").output)
    k, b = inner.get_layer("feat").get_weights()
    np.testing.assert_allclose(extractor.predict(xs, verbose=0), np.maximum(xs @ k + b, 0), rtol=1e-5, atol=1e-6)
    assert inner.get_layer("feat").input is inner_in and inner.input is inner_in
    d = layers.Dense(2)
    d(bigcore.Input((3,)))
    d(bigcore.Input((3,)))
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        _ = d.output


def test_variable_length_text_subclassed():
    class Bag(bigcore.Model):
        """Token ids of any length -> mean of embeddings (masked) -> two classes."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.emb = layers.Embedding(30, 8)
            self.out = layers.Dense(2, activation="softmax")

        def call(self, ids):
            e = self.emb(ids)                                  # (B, T, 8)
            keep = ops.expand_dims(ops.cast(ids > 0, "float32"), -1)
            s = ops.sum(e * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0)
            return self.out(s)

    m = Bag()
    m.build((None, None))
    assert m.inputs[0].shape == (None, None)
    m.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(3)
    emb_w = None
    for T in (3, 11, 6):  # one program, lengths differ from batch to batch
        ids = rng.integers(0, 30, (16, T)).astype(np.float32)
        ids[:, -1] = 0  # padding
        y = (ids[:, 0] > 15).astype(np.int64)
        m.fit(ids, y, epochs=1, batch_size=16, verbose=0)
        emb_w, (kw, kb) = m.emb.get_weights()[0], m.out.get_weights()
        e = emb_w[ids.astype(int)] * (ids > 0)[..., None]
        s = e.sum(1) / np.maximum((ids > 0).sum(1), 1)[:, None]
        z = s @ kw + kb
        want = np.exp(z - z.max(-1, keepdims=True))
        want /= want.sum(-1, keepdims=True)
        np.testing.assert_allclose(m.predict(ids, verbose=0), want, rtol=1e-4, atol=1e-6)


def make_seq2seq(lib):
    L = lib.layers

    class Seq2Seq(lib.Model):
        """Encoder LSTM's final states start a decoder LSTM; per-step softmax over the target vocabulary."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.src_embed = L.Embedding(20, 8)
            self.tgt_embed = L.Embedding(20, 8)
            self.encoder = L.LSTM(12, return_state=True)
            self.decoder = L.LSTM(12, return_sequences=True)
            self.head = L.Dense(20, activation="softmax")

        def call(self, inputs):
            src, tgt = inputs
            _, h, c = self.encoder(self.src_embed(src))
            return self.head(self.decoder(self.tgt_embed(tgt), initial_state=[h, c]))

    return Seq2Seq


def test_seq2seq_initial_state_variable_lengths_keras_parity(keras):
    bigcore.utils.set_random_seed(4)
    m = make_seq2seq(bigcore)()
    m.build([(None, None), (None, None)])  # source and target lengths free and independent
    rng = np.random.default_rng(6)
    k = make_seq2seq(keras)()
    k([rng.integers(0, 20, (2, 5)).astype("float32"), rng.integers(0, 20, (2, 3)).astype("float32")])
    assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(m.get_weights())
    for ts, tt in ((7, 4), (3, 9), (5, 5)):
        src = rng.integers(0, 20, (4, ts)).astype(np.float32)
        tgt = rng.integers(0, 20, (4, tt)).astype(np.float32)
        got = m.predict([src, tgt], verbose=0)
        assert got.shape == (4, tt, 20)
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(k([src, tgt])), rtol=1e-4, atol=1e-6)


def test_quantize_a_subclassed_model():
    bigcore.utils.set_random_seed(5)
    m = make_classifier(bigcore)()
    m.build((None, 5))
    x, _ = _data()
    q = bigcore.quantization.quantize(m)
    kinds = {type(layer).__name__ for layer in q.layers}
    assert "Dense" not in kinds and any("Quant" in k for k in kinds), kinds  # its traced graph, int8 Dense
    np.testing.assert_allclose(q.predict(x, verbose=0), m.predict(x, verbose=0), atol=0.02)


def test_quantize_and_clone_a_subclassed_model_whose_call_uses_python_constants():
    """`ops.relu(h) - 0.1` records a constant op with no inputs; the model's config (clone_model,
    quantize) must call it again on nothing, not index its first input."""

    class Shifted(bigcore.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.hidden = layers.Dense(8)
            self.out = layers.Dense(3)

        def call(self, x):
            return self.out(ops.relu(self.hidden(x)) - 0.1)

    bigcore.utils.set_random_seed(6)
    m = Shifted()
    m.build((None, 5))
    x, _ = _data()
    want = m.predict(x, verbose=0)
    h = np.maximum(x @ m.hidden.kernel.numpy() + m.hidden.bias.numpy(), 0) - 0.1
    np.testing.assert_allclose(want, h @ m.out.kernel.numpy() + m.out.bias.numpy(), rtol=1e-5, atol=1e-5)
    clone = bigcore.models.clone_model(m)
    clone.set_weights(m.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    q = bigcore.quantization.quantize(m)
    np.testing.assert_allclose(q.predict(x, verbose=0), want, atol=0.02)
