"""layers.ReversibleEmbedding: tied and untied reverse projections, logit_soft_cap, inside
functional and subclassed models (GPT-style: ids -> embedding -> ... -> same layer reversed ->
logits), trained with Adam against Keras 3 and NumPy, config and save round trips, refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(3)
X = RNG.integers(0, 12, size=(6, 5))
Y = RNG.integers(0, 12, size=(6, 5))


def _functional(mod, **kw):
    inp = mod.Input((5,), dtype="int32")
    emb = mod.layers.ReversibleEmbedding(12, 4, name="tok", **kw)
    h = mod.layers.Dense(4, activation="tanh", name="mid")(emb(inp))
    return mod.Model(inp, emb(h, reverse=True)), emb


def _ref(model, emb, x, cap=None):
    ws = {w.path if hasattr(w, "path") else w.name: w for w in emb.weights}
    E = emb.get_weights()[0]
    W, b = model.get_layer("mid").get_weights()
    h = np.tanh(E[x] @ W + b)
    logits = h @ (E.T if emb.tie_weights else emb.get_weights()[1])
    assert ws
    return logits if cap is None else np.tanh(logits / cap) * cap


@pytest.mark.parametrize("kw", [{}, {"tie_weights": False}, {"logit_soft_cap": 2.0},
                                {"tie_weights": False, "logit_soft_cap": 0.5}])
def test_functional_matches_numpy_and_keras_after_adam(keras, kw):
    ours, emb = _functional(bigcore, **kw)
    theirs, _ = _functional(keras, **kw)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert [tuple(w.shape) for w in emb.weights] == ([(12, 4)] if emb.tie_weights else [(12, 4), (4, 12)])
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(X, verbose=0), _ref(ours, emb, X, kw.get("logit_soft_cap")),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-5)
    ours.compile(bigcore.optimizers.Adam(0.05), bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for _ in range(3):
        assert ours.train_on_batch(X, Y) == pytest.approx(float(theirs.train_on_batch(X, Y)), rel=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-4, atol=1e-5)


def _subclassed(mod):
    class TinyLM(mod.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.tok = mod.layers.ReversibleEmbedding(12, 4)
            self.mid = mod.layers.Dense(4, activation="relu")

        def call(self, ids):
            return self.tok(self.mid(self.tok(ids)), reverse=True)

    return TinyLM()


def test_subclassed_model_trains_like_keras(keras):
    ours, theirs = _subclassed(bigcore), _subclassed(keras)
    ours(X[:1])
    theirs(X[:1])
    theirs.set_weights(ours.get_weights())
    ours.compile(bigcore.optimizers.Adam(0.05), bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    theirs.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.fit(X, Y, batch_size=6, epochs=3, verbose=0, shuffle=False)
    theirs.fit(X, Y, batch_size=6, epochs=3, verbose=0, shuffle=False)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-4, atol=1e-5)


def test_inside_a_custom_layer():
    class Head(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.emb = layers.ReversibleEmbedding(12, 4, tie_weights=False)

        def call(self, ids):
            return self.emb(self.emb(ids) * 2.0, reverse=True)

    inp = bigcore.Input((5,), dtype="int32")
    head = Head()
    model = bigcore.Model(inp, head(inp))
    E, R = head.emb.get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), (2 * E[X]) @ R, rtol=1e-5, atol=1e-6)
    model.compile("adam", bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in head.emb.get_weights()]
    model.fit(X, Y, epochs=2, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, head.emb.get_weights()))  # both tables train


def test_eager_calls_match_numpy():
    emb = layers.ReversibleEmbedding(7, 3, logit_soft_cap=1.5)
    ids = np.array([[0, 6, 2]])
    E = emb(ids)
    table = emb.get_weights()[0]
    np.testing.assert_allclose(E, table[ids], rtol=1e-6)
    h = RNG.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(emb(h, reverse=True), np.tanh(h @ table.T / 1.5) * 1.5, rtol=1e-5, atol=1e-6)


def test_config_matches_keras_and_save_round_trip(keras, tmp_path):
    kw = {"tie_weights": False, "logit_soft_cap": 3.0, "mask_zero": True}
    ours = layers.ReversibleEmbedding(12, 4, **kw).get_config()
    theirs = keras.layers.ReversibleEmbedding(12, 4, **kw).get_config()
    assert {k: ours[k] for k in ("tie_weights", "logit_soft_cap", "reverse_dtype", "input_dim", "output_dim",
                                 "mask_zero")} == {k: theirs[k] for k in ("tie_weights", "logit_soft_cap",
                                                                          "reverse_dtype", "input_dim", "output_dim",
                                                                          "mask_zero")}
    assert set(theirs) - set(ours) <= {"dtype", "quantization_config", "activity_regularizer"}  # as Embedding
    again = layers.ReversibleEmbedding.from_config(ours)
    assert (again.tie_weights, again.logit_soft_cap) == (False, 3.0)
    model, _ = _functional(bigcore, tie_weights=False)
    want = model.predict(X, verbose=0)
    for name in ("m.keras", "m.bigcore"):
        model.save(tmp_path / name)
        back = bigcore.models.load_model(tmp_path / name)
        np.testing.assert_allclose(back.predict(X, verbose=0), want, rtol=1e-6)
    back = keras.models.load_model(tmp_path / "m.keras")  # Keras reads our file
    np.testing.assert_allclose(np.asarray(back.predict(X, verbose=0)), want, rtol=1e-5, atol=1e-6)


def test_refusals():
    with pytest.raises(NotImplementedError, match="reverse_dtype"):
        layers.ReversibleEmbedding(5, 2, reverse_dtype="float16")
    with pytest.raises(ValueError, match="logit_soft_cap"):
        layers.ReversibleEmbedding(5, 2, logit_soft_cap=-1.0)
    emb = layers.ReversibleEmbedding(5, 2)
    with pytest.raises(ValueError, match="output_dim=2"):
        emb(bigcore.Input((3, 4)), reverse=True)


def test_mask_zero_reaches_later_layers_like_keras(keras, tmp_path):
    def build(mod):
        inp = mod.Input((6,), dtype="int32")
        emb = mod.layers.ReversibleEmbedding(10, 4, mask_zero=True, tie_weights=False, name="tok")
        pooled = mod.layers.GlobalAveragePooling1D()(emb(inp))  # averages the unmasked steps only
        return mod.Model(inp, emb(mod.layers.Dense(4)(pooled), reverse=True))

    x = np.array([[1, 2, 0, 0, 0, 0], [3, 4, 5, 6, 0, 0]])
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "k.keras")  # a file Keras wrote
    back = bigcore.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    emb = layers.ReversibleEmbedding(10, 4, mask_zero=True)
    assert emb.compute_mask(x) is None  # Keras's: the forward call sets the mask itself
    eager = emb(x)
    np.testing.assert_array_equal(eager._keras_mask, x != 0)
    np.testing.assert_array_equal(eager._keras_mask, keras.layers.ReversibleEmbedding(10, 4, mask_zero=True)(x)._keras_mask)
