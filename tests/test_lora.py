"""LoRA (Keras 3's layer.enable_lora) on Dense, EinsumDense and Embedding: Keras parity of training,
a NumPy reference of the forward pass, saving as Keras saves it, and the errors."""

import warnings

import numpy as np
import pytest

import bigcore
from bigcore import layers

RNG = np.random.default_rng(7)


def _emb_dense(lib, ids_dtype):
    inp = lib.Input((6,), dtype=ids_dtype)
    h = lib.layers.Embedding(10, 8, name="emb")(inp)
    return lib.Model(inp, lib.layers.Dense(4, activation="tanh", name="head")(h))


def _einsum(lib):
    inp = lib.Input((5, 6))
    out = lib.layers.EinsumDense("abc,cde->abde", output_shape=(5, 3, 4), bias_axes="de", activation="tanh",
                                 name="proj")(inp)
    return lib.Model(inp, out)


def _keras_values(model):
    return [w.value.detach().cpu().numpy() for w in model.weights]


def _keras_call(keras, model, x):
    return model(keras.ops.convert_to_tensor(x), training=False).detach().cpu().numpy()


def _lora_pairs(model):
    return [(w.path, w) for w in model.weights if "lora" in w.path]


@pytest.mark.parametrize("kind", ["embedding_dense", "einsum_dense"])
def test_lora_training_matches_keras(keras, kind):
    if kind == "embedding_dense":
        km, bm = _emb_dense(keras, "int32"), _emb_dense(bigcore, "float32")
        x = RNG.integers(0, 10, (16, 6))
        y = RNG.standard_normal((16, 6, 4)).astype("float32")
        xk, xb, names = x.astype("int32"), x.astype("float32"), ("emb", "head")
    else:
        km, bm = _einsum(keras), _einsum(bigcore)
        xk = xb = RNG.standard_normal((16, 5, 6)).astype("float32")
        y = RNG.standard_normal((16, 5, 3, 4)).astype("float32")
        names = ("proj",)
    for kw, v in zip(km.weights, bm.get_weights()):
        kw.assign(v)
    for name in names:
        km.get_layer(name).enable_lora(2)
        bm.get_layer(name).enable_lora(2)
    assert [w.path for w in km.weights] == [w.path for w in bm.weights]
    assert [w.path for w in km.trainable_weights] == [w.path for w in bm.trainable_weights]
    assert km.count_params() == bm.count_params()
    for (_, kw), (_, bw) in zip(_lora_pairs(km), _lora_pairs(bm)):
        v = RNG.standard_normal(bw.shape).astype("float32") * 0.3  # b starts at zeros: make both paths count
        kw.assign(v)
        bw.assign(v)
    frozen = [w.numpy() for w in bm.non_trainable_weights]
    for m, opt in ((km, keras.optimizers.Adam(1e-2)), (bm, bigcore.optimizers.Adam(1e-2))):
        m.compile(optimizer=opt, loss="mse")
    km.fit(xk, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    bm.fit(xb, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    # (Keras's predict of a lora Embedding warns under torch with NumPy 2: the call itself instead)
    np.testing.assert_allclose(bm.predict(xb, verbose=0), _keras_call(keras, km, xk), atol=1e-5)
    for kv, bw in zip(_keras_values(km), bm.weights):
        np.testing.assert_allclose(bw.numpy(), kv, atol=1e-4, err_msg=bw.path)
    for before, w in zip(frozen, bm.non_trainable_weights):
        np.testing.assert_array_equal(w.numpy(), before)


def test_lora_forward_matches_numpy():
    inp = bigcore.Input((3, 5))
    dense = layers.Dense(4, activation="relu")
    model = bigcore.Model(inp, dense(inp))
    dense.enable_lora(3, lora_alpha=6)
    dense.lora_kernel_b.assign(RNG.standard_normal((3, 4)).astype("float32"))
    x = RNG.standard_normal((7, 3, 5)).astype("float32")
    w, b, a, bb = (v.astype(np.float64) for v in model.get_weights())
    want = np.maximum(x @ w + b + 2.0 * (x @ a) @ bb, 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-5)
    np.testing.assert_allclose(dense.kernel, w + 2.0 * a @ bb, atol=1e-6)  # Keras's merged `kernel`
    assert (dense.lora_enabled, dense.lora_rank, dense.lora_alpha) == (True, 3, 6)

    emb = layers.Embedding(9, 4, mask_zero=True)
    ids = bigcore.Input((5,))
    m2 = bigcore.Model(ids, emb(ids))
    emb.enable_lora(2)
    emb.lora_embeddings_b.assign(RNG.standard_normal((2, 4)).astype("float32"))
    table = emb.embeddings  # merged
    z = RNG.integers(0, 9, (3, 5)).astype("float32")
    np.testing.assert_allclose(m2.predict(z, verbose=0), table[z.astype(int)], atol=1e-5)


def test_lora_gradient_matches_finite_differences():
    inp = bigcore.Input((4,))
    dense = layers.Dense(3, activation="tanh")
    model = bigcore.Model(inp, dense(inp))
    dense.enable_lora(2)
    dense.lora_kernel_b.assign(RNG.standard_normal((2, 3)).astype("float32") * 0.5)
    x = RNG.standard_normal((5, 4)).astype("float32")
    y = RNG.standard_normal((5, 3)).astype("float32")
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    a0 = dense.lora_kernel_a.numpy().astype(np.float64)
    w, b, bb = (v.numpy().astype(np.float64) for v in (dense._kernel, dense.bias, dense.lora_kernel_b))

    def loss(a):
        return np.mean((np.tanh(x @ w + b + (x @ a) @ bb) - y) ** 2)

    grad = np.zeros_like(a0)
    for i in np.ndindex(a0.shape):
        e = np.zeros_like(a0)
        e[i] = 1e-6
        grad[i] = (loss(a0 + e) - loss(a0 - e)) / 2e-6
    model.train_on_batch(x, y)  # SGD(1): a -= grad
    np.testing.assert_allclose(a0 - dense.lora_kernel_a.numpy(), grad, atol=1e-5)


def _lora_model():
    model = _emb_dense(bigcore, "float32")
    model.get_layer("head").enable_lora(2, lora_alpha=4)
    model.get_layer("emb").enable_lora(3)
    for _, w in _lora_pairs(model):
        w.assign(RNG.standard_normal(w.shape).astype("float32") * 0.3)
    return model


def test_lora_saving(tmp_path):
    model = _lora_model()
    x = RNG.integers(0, 10, (4, 6)).astype("float32")
    want = model.predict(x, verbose=0)
    assert model.get_layer("head").get_config()["lora_rank"] == 2
    assert model.get_layer("head").get_config()["lora_alpha"] == 4

    # .bigcore: everything bigcore has, the lora weights included
    model.save(tmp_path / "m.bigcore")
    back = bigcore.models.load_model(tmp_path / "m.bigcore")
    assert back.get_layer("head").lora_enabled and back.get_layer("head").lora_alpha == 4
    for a, b in zip(back.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # .keras: Keras's save_own_variables (the merged kernel) and load_own_variables (lora zeroed)
    model.save(tmp_path / "m.keras")
    back = bigcore.models.load_model(tmp_path / "m.keras")
    head = back.get_layer("head")
    assert head.lora_enabled and [w.path for w in back.trainable_weights] == \
        [w.path for w in model.trainable_weights]
    np.testing.assert_allclose(back.predict(x, verbose=0), want, atol=1e-5)
    np.testing.assert_allclose(head._kernel.numpy(), model.get_layer("head").kernel, atol=1e-6)
    assert not any(w.numpy().any() for _, w in _lora_pairs(back))

    # .weights.h5 into a model without lora, and a plain model's file into a lora model
    model.save_weights(tmp_path / "m.weights.h5")
    plain = _emb_dense(bigcore, "float32")
    plain.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(plain.predict(x, verbose=0), want, atol=1e-5)
    plain.save_weights(tmp_path / "plain.weights.h5")
    other = _lora_model()
    other.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), want, atol=1e-5)
    assert not any(w.numpy().any() for _, w in _lora_pairs(other))


def test_lora_keras_reads_bigcore_file(keras, tmp_path):
    model = _lora_model()
    x = RNG.integers(0, 10, (4, 6))
    model.save(tmp_path / "m.keras")
    km = keras.models.load_model(tmp_path / "m.keras")
    assert km.get_layer("head").lora_enabled
    np.testing.assert_allclose(_keras_call(keras, km, x.astype("int32")),
                               model.predict(x.astype("float32"), verbose=0), atol=1e-5)


def test_lora_from_config_enables_it_on_build():
    dense = layers.Dense.from_config({**layers.Dense(3).get_config(), "lora_rank": 2, "lora_alpha": 4})
    dense.build((None, 5))
    assert dense.lora_enabled and dense.lora_kernel_a.shape == (5, 2) and dense.lora_kernel_b.shape == (2, 3)
    assert not dense._kernel.trainable and dense.lora_alpha == 4


def test_lora_errors(tmp_path):
    with pytest.raises(ValueError, match="Cannot enable lora on a layer that isn't yet built"):
        layers.Dense(3).enable_lora(2)
    dense = layers.Dense(3)
    dense.build((None, 4))
    dense.enable_lora(2)
    with pytest.raises(ValueError, match="lora is already enabled"):
        dense.enable_lora(2)
    con = layers.Dense(3, kernel_constraint="non_neg")
    con.build((None, 4))
    with pytest.raises(ValueError, match="Lora is incompatible with kernel constraints"):
        con.enable_lora(2)
    emb = layers.Embedding(5, 2, embeddings_constraint="non_neg")
    emb.build((None, 3))
    with pytest.raises(ValueError, match="Lora is incompatible with embedding constraints"):
        emb.enable_lora(2)
    fresh = layers.Dense(3)
    fresh.build((None, 4))
    with pytest.raises(ValueError, match="positive integer rank"):
        fresh.enable_lora(0)
    model = _lora_model()
    with pytest.raises(NotImplementedError, match="has lora enabled"):
        bigcore.quantization.quantize(model)
    with pytest.raises(NotImplementedError, match="has lora enabled"):
        model.export(tmp_path / "m.onnx")


def test_lora_keras_file_loads_in_bigcore(keras, tmp_path):
    km = _emb_dense(keras, "int32")
    km.get_layer("head").enable_lora(2)
    km.get_layer("head").lora_kernel_b.assign(RNG.standard_normal((2, 4)).astype("float32"))
    x = RNG.integers(0, 10, (4, 6))
    with warnings.catch_warnings():  # Keras's own: saving its merged LoRA kernel under torch warns on NumPy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        km.save(tmp_path / "k.keras")
    model = bigcore.models.load_model(tmp_path / "k.keras")
    assert model.get_layer("head").lora_enabled and not model.get_layer("emb").lora_enabled
    np.testing.assert_allclose(model.predict(x.astype("float32"), verbose=0), _keras_call(keras, km, x.astype("int32")),
                               atol=1e-5)
