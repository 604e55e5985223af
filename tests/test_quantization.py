"""bigcore.quantization: int8 Dense models against their float originals."""

import os

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.quantization import QuantizedDense, quantize


def trained_mlp(seed=0, n=600):
    bigcore.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) > 0).astype(np.int64) + (x[:, 5] > 1)
    m = bigcore.Sequential([layers.Input(shape=(20,)), layers.Dense(32, activation="relu"),
                            layers.Dense(16, activation="tanh"), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return m, x, y


def test_quantized_layers_replace_dense_and_keep_accuracy():
    m, x, y = trained_mlp()
    q = quantize(m)
    assert all(isinstance(layer, QuantizedDense) for layer in q.layers)
    assert q.layers[0].kernel.value.dtype == np.int8
    p, pq = m.predict(x, verbose=0), q.predict(x, verbose=0)
    assert np.abs(p - pq).max() < 0.05  # int8 rounding of weights and activations
    assert (p.argmax(1) == pq.argmax(1)).mean() > 0.97
    assert q.evaluate(x, y, verbose=0)[1] >= m.evaluate(x, y, verbose=0)[1] - 0.02
    np.testing.assert_array_equal(m.layers[0].kernel.numpy(), m.get_weights()[0])  # original untouched


def test_int8_kernel_is_the_per_column_symmetric_rounding():
    m, _, _ = trained_mlp()
    q = quantize(m)
    W = m.layers[0].kernel.numpy().astype(np.float64)
    wq, s = q.layers[0].kernel.value, q.layers[0].kernel_scale.value
    np.testing.assert_allclose(s, np.abs(W).max(axis=0) / 127, rtol=1e-6)
    assert np.abs(wq.astype(np.float64) * s - W).max() <= s.max() / 2 + 1e-7
    assert wq.min() >= -127 and wq.max() <= 127


def test_calibrated_scales_come_from_the_data():
    m, x, _ = trained_mlp()
    c = quantize(m, calibration_data=x)
    assert c.layers[0].activation_scale == pytest.approx(np.abs(x).max() / 127, rel=1e-6)
    assert all(layer.activation_scale > 0 for layer in c.layers)
    assert (c.predict(x, verbose=0).argmax(1) == m.predict(x, verbose=0).argmax(1)).mean() > 0.95


def test_quantized_weights_file_is_about_4x_smaller(tmp_path):
    m = bigcore.Sequential([layers.Input(shape=(200,)), layers.Dense(256, activation="relu"), layers.Dense(10)])
    q = quantize(m)
    fp, qp = tmp_path / "f.weights.safetensors", tmp_path / "q.weights.safetensors"
    m.save_weights(str(fp))
    q.save_weights(str(qp))
    assert 3.5 < os.path.getsize(fp) / os.path.getsize(qp) < 4.2


def test_quantized_model_saves_int8_and_loads_identically(tmp_path):
    m, x, _ = trained_mlp()
    q = quantize(m)
    qp = tmp_path / "q.bigcore"
    q.save(str(qp))
    again = bigcore.models.load_model(str(qp))
    np.testing.assert_array_equal(again.predict(x, verbose=0), q.predict(x, verbose=0))
    assert again.layers[0].kernel.value.dtype == np.int8


def test_training_a_quantized_model_is_refused():
    m, x, y = trained_mlp()
    q = quantize(m)
    with pytest.raises(ValueError, match="quantized model is for inference"):
        q.train_on_batch(x[:8], y[:8])
    assert np.isfinite(q.predict(x[:8], verbose=0)).all()


def test_quantize_rejects_other_dtypes():
    m, _, _ = trained_mlp()
    with pytest.raises(ValueError, match="int8"):
        quantize(m, dtype="int4")
