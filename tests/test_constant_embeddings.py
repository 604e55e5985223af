"""Pretrained embeddings as Keras programs load them: Embedding(embeddings_initializer=
keras.initializers.Constant(matrix), trainable=False) (Constant broadcasts its value to the weight's
shape, as Keras's value * ones(shape)) and Embedding(weights=[matrix]); through saved files both
ways with Keras 3."""

import numpy as np
import pytest

import bigcore
from bigcore import initializers, layers

M = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
IDS = np.array([[1, 5, 0], [11, 2, 2]], np.int32)


def test_constant_broadcasts_like_keras():
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 3)), np.full((2, 3), 2.5, np.float32))
    row = np.float32([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(initializers.Constant(row)((2, 3)), np.stack([row, row]))
    np.testing.assert_array_equal(initializers.Constant(M)(M.shape), M)
    with pytest.raises(ValueError, match="cannot fill a weight of shape"):
        initializers.Constant(M)((4, 12))


def _frozen_model(**kw):
    inp = bigcore.Input((3,), dtype="int32")
    emb = layers.Embedding(12, 4, trainable=False, **kw)
    x = layers.GlobalAveragePooling1D()(emb(inp))
    return bigcore.Model(inp, layers.Dense(1)(x)), emb


@pytest.mark.parametrize("how", ["constant", "weights_list", "weights_array"])
def test_pretrained_table_is_used_and_stays_frozen(how):
    kw = {"constant": dict(embeddings_initializer=initializers.Constant(M)), "weights_list": dict(weights=[M]),
          "weights_array": dict(weights=M)}[how]
    model, emb = _frozen_model(**kw)
    np.testing.assert_array_equal(emb.embeddings.numpy(), M)
    model.compile(optimizer="adam", loss="mse")
    model.fit(IDS, np.ones((2, 1), np.float32), epochs=3, verbose=0)
    np.testing.assert_array_equal(emb.embeddings.numpy(), M)  # frozen
    want = M[IDS].mean(axis=1) @ model.layers[-1].kernel.numpy() + model.layers[-1].bias.numpy()
    np.testing.assert_allclose(model.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_wrong_weights_shape_is_refused():
    with pytest.raises(ValueError):
        layers.Embedding(12, 4, weights=[M[:5]])


@pytest.mark.parametrize("suffix", [".keras", ".bigcore"])
def test_constant_matrix_round_trips(tmp_path, suffix):
    model, _ = _frozen_model(embeddings_initializer=initializers.Constant(M))
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    init = loaded.layers[1].embeddings_initializer
    assert isinstance(init, initializers.Constant)
    np.testing.assert_array_equal(init.value, M)
    np.testing.assert_allclose(loaded.predict(IDS, verbose=0), model.predict(IDS, verbose=0), rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own save of an array value, under numpy 2
def test_keras_constant_matrix_loads(keras, tmp_path):
    inp = keras.Input((3,), dtype="int32")
    x = keras.layers.Embedding(12, 4, embeddings_initializer=keras.initializers.Constant(M), trainable=False)(inp)
    km = keras.Model(inp, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(x)))
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_array_equal(ours.layers[1].embeddings.numpy(), M)
    np.testing.assert_array_equal(ours.layers[1].embeddings_initializer.value, M)
    want = km.predict(IDS, verbose=0)
    np.testing.assert_allclose(ours.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)
    # and back: bigcore's file (the config holds the matrix as Keras writes an array) loads in Keras
    ours.save(str(tmp_path / "ours.keras"))
    back = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(back.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_embeddings_constraint_matches_keras(keras):
    """MaxNorm on the table, applied after every update (native, as Dense's kernel_constraint): the same
    table as Keras after Adam steps."""
    big = np.random.default_rng(1).normal(scale=3.0, size=(12, 4)).astype(np.float32)
    y = np.random.default_rng(2).normal(size=(2, 1)).astype(np.float32)
    tables = []
    for mod in (bigcore, keras):
        inp = mod.Input((3,), dtype="int32")
        emb = mod.layers.Embedding(12, 4, embeddings_constraint=mod.constraints.MaxNorm(1.5))
        model = mod.Model(inp, mod.layers.Dense(1)(mod.layers.GlobalAveragePooling1D()(emb(inp))))
        emb.set_weights([big])
        model.layers[-1].set_weights([np.ones((4, 1), np.float32), np.zeros(1, np.float32)])
        model.compile(optimizer=mod.optimizers.Adam(0.05), loss="mse")
        model.fit(IDS, y, epochs=3, verbose=0)
        tables.append(emb.embeddings.numpy() if mod is bigcore else emb.embeddings.value.detach().cpu().numpy())
    np.testing.assert_allclose(tables[0], tables[1], rtol=1e-5, atol=1e-6)
    assert np.all(np.linalg.norm(tables[0], axis=0) <= 1.5 + 1e-5)  # Keras's default axis=0: per column
