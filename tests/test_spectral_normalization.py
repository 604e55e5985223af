"""keras.layers.SpectralNormalization (bigcore/layers/spectral_normalization.py): weights in Keras's
order (kernel, vector_u, the rest), inference on the kernel as it stands, one training step against a
float64 NumPy reference of Keras's rule (power iteration, kernel / sigma assigned, the wrapped layer's
gradient at the normalized kernel), Keras 3 parity after Adam steps on Dense, Conv2D and Embedding,
config and .keras round trips, refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def _normalize(v):
    return v / np.sqrt(np.sum(v * v))


def power_step(kernel, u, iterations=1):
    """float64: Keras's normalized_weights: (new u, kernel / sigma)."""
    w = kernel.reshape(-1, kernel.shape[-1])
    for _ in range(iterations):
        v = _normalize(u @ w.T)
        u = _normalize(v @ w)
    sigma = (v @ w @ u.T).item()
    return u, kernel / sigma


def _dense_model(units=3, features=4, iterations=1):
    inp = bigcore.Input((features,))
    sn = layers.SpectralNormalization(layers.Dense(units), power_iterations=iterations)
    return bigcore.Model(inp, sn(inp)), sn


def _weights(rng, shapes):
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_weights_and_inference():
    model, sn = _dense_model()
    assert [w.path.split("/")[-1] for w in sn.weights] == ["kernel", "vector_u", "bias"]
    assert [w.path.split("/")[-1] for w in sn.trainable_weights] == ["kernel", "bias"]
    assert [w.path.split("/")[-1] for w in sn.non_trainable_weights] == ["vector_u"]
    rng = np.random.default_rng(0)
    k, u, b = _weights(rng, [(4, 3), (1, 3), (3,)])
    model.set_weights([k, u, b])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ k + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model.get_weights()[0], k)  # inference leaves the kernel


@pytest.mark.parametrize("iterations", [1, 3])
def test_training_step_against_reference(iterations):
    model, sn = _dense_model(iterations=iterations)
    rng = np.random.default_rng(1)
    k, u, b = _weights(rng, [(4, 3), (1, 3), (3,)])
    model.set_weights([k, u, b])
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.standard_normal((6, 3)).astype(np.float32)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    loss = model.train_on_batch(x, y)
    u1, kn = power_step(k.astype(np.float64), u.astype(np.float64), iterations)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    out = x64 @ kn + b
    g = 2.0 * (out - y64) / out.size
    want_loss = np.mean((out - y64) ** 2)
    got_k, got_u, got_b = model.get_weights()
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(got_u, u1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_k, kn - 0.1 * x64.T @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b - 0.1 * g.sum(axis=0), rtol=1e-5, atol=1e-6)


def test_zero_kernel_is_left():
    model, sn = _dense_model()
    model.set_weights([np.zeros((4, 3), np.float32), np.ones((1, 3), np.float32), np.zeros(3, np.float32)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    model.train_on_batch(np.ones((2, 4), np.float32), np.ones((2, 3), np.float32))
    k, u, _ = model.get_weights()
    assert np.all(k == 0) and np.all(u == 1)


CASES = {
    "dense": (lambda L: L.Dense(3), (5,), "float"),
    "dense3d": (lambda L: L.Dense(4, use_bias=False), (3, 5), "float"),
    "conv2d": (lambda L: L.Conv2D(3, 2), (5, 5, 2), "float"),
    "conv1d": (lambda L: L.Conv1D(2, 3, padding="same"), (6, 3), "float"),
    "embedding": (lambda L: L.Embedding(7, 3), (4,), "int"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_parity_after_adam(keras, case):
    make, shape, kind = CASES[case]
    rng = np.random.default_rng(2)
    if kind == "int":
        x = rng.integers(0, 7, (6,) + shape).astype(np.int32)
    else:
        x = rng.standard_normal((6,) + shape).astype(np.float32)
    inp = bigcore.Input(shape, dtype="int32" if kind == "int" else "float32")
    sn = layers.SpectralNormalization(make(layers), power_iterations=2)
    model = bigcore.Model(inp, sn(inp))
    kinp = keras.Input(shape, dtype="int32" if kind == "int" else "float32")
    ksn = keras.layers.SpectralNormalization(make(keras.layers), power_iterations=2)
    kmodel = keras.Model(kinp, ksn(kinp))
    assert [w.path.split("/")[-1] for w in sn.weights] == [w.path.split("/")[-1] for w in ksn.weights]
    ws = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in sn.weights]
    model.set_weights(ws)
    kmodel.set_weights(ws)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
    if kind == "int":  # Keras casts the output to the ids' int32: nothing to train through
        out = model.predict(x, verbose=0)
        assert np.all(out == np.trunc(out)) and np.any(out != 0)
        return
    y = rng.standard_normal(model.output_shape[:0] + (6,) + tuple(model.output_shape[1:])).astype(np.float32)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    kmodel.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    for step in range(3):
        got = model.train_on_batch(x, y)
        want = float(kmodel.train_on_batch(x, y))
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), f"loss at step {step}"
    for w, a, b in zip(sn.weights, model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"{w.path} after 3 Adam steps")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)),
                               rtol=1e-4, atol=1e-4)


def test_config_and_keras_file_round_trip(tmp_path):
    model, sn = _dense_model(iterations=2)
    cfg = sn.get_config()
    assert cfg["power_iterations"] == 2 and cfg["layer"]["class_name"] == "Dense"
    again = layers.SpectralNormalization.from_config(cfg)
    assert again.power_iterations == 2 and isinstance(again.layer, layers.Dense) and again.layer.units == 3
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    model.train_on_batch(x, rng.standard_normal((4, 3)).astype(np.float32))
    path = str(tmp_path / "sn.keras")
    model.save(path)
    back = bigcore.models.load_model(path)
    for a, b in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_keras_reads_our_file(keras, tmp_path):
    model, _ = _dense_model()
    path = str(tmp_path / "sn.keras")
    model.save(path)
    kmodel = keras.models.load_model(path)
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(kmodel.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_refusals():
    with pytest.raises(ValueError, match="power_iterations"):
        layers.SpectralNormalization(layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="kernel"):
        layers.SpectralNormalization(layers.Dropout(0.1))(bigcore.Input((3,)))
    with pytest.raises(ValueError, match="supported layer"):
        layers.SpectralNormalization("dense")


def test_we_read_a_keras_file(keras, tmp_path):
    inp = keras.Input((5,))
    kmodel = keras.Model(inp, keras.layers.SpectralNormalization(keras.layers.Dense(3), power_iterations=2)(inp))
    kmodel.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    kmodel.fit(x, rng.standard_normal((4, 3)).astype(np.float32), verbose=0)
    path = str(tmp_path / "k.keras")
    kmodel.save(path)
    model = bigcore.models.load_model(path)
    assert model.layers[-1].power_iterations == 2
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(kmodel.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
