"""int8 Transformers: QuantizedEinsumDense through the harness (exact against the int8 reference
of tests/reference_quant.py), and quantize() of a model with MultiHeadAttention, GroupQueryAttention
and EinsumDense: every projection becomes the exact int8 GEMM (the attention products stay float),
the outputs match a NumPy model built from the same int8 pieces and stay close to the float model."""

import numpy as np
import pytest

import bigcore
import reference_attention as aref
import reference_quant as qref
from bigcore import layers
from bigcore.quantization import (QuantizedEinsumDense, QuantizedGroupQueryAttention, QuantizedMultiHeadAttention,
                                  quantize)
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

B, T, D = 4, 5, 6


def int8_weights(kernel_shape, N, bias_shape):
    def make(rng):
        kernel = rng.integers(-127, 128, kernel_shape).astype(np.int8)
        bias = [(0.3 * rng.standard_normal(bias_shape)).astype(np.float32)] if bias_shape else []
        return [kernel] + bias + [rng.uniform(0.002, 0.02, N).astype(np.float32)]
    return make


@pytest.mark.parametrize("equation,out_shape,bias,kshape,K,N", [
    ("abc,cde->abde", (None, 2, 3), "de", (D, 2, 3), D, 6),
    ("abcd,cde->abe", (None, 4), "e", (2, 3, 4), 6, 4),
    ("...b,bc->...c", (4,), None, (D, 4), D, 4),
], ids=["heads", "merge_heads", "ellipsis"])
def test_quantized_einsum_dense(equation, out_shape, bias, kshape, K, N):
    in_shape = (B, T, 2, 3) if equation.startswith("abcd") else (B, T, D)

    def forward(w, x, mask):
        y = qref.qdense_forward(x.reshape(-1, K), w[0].reshape(K, N), w[1].reshape(-1) if bias else None, w[-1])
        return y.reshape(x.shape[:2] + tuple(s for s in out_shape if s is not None))

    bias_shape = tuple(s for s in out_shape if s is not None) if bias else None
    run_layer_test(QuantizedEinsumDense, {"equation": equation, "output_shape": out_shape, "bias_axes": bias},
                   in_shape, forward, weight_shapes=[kshape] + ([bias_shape] if bias else []) + [(N,)], n_trainable=0,
                   weights=int8_weights(kshape, N, bias_shape), gradients=False, rtol=0, atol=0)


def _transformer(gqa=False):
    inp = bigcore.Input((T, D))
    if gqa:
        a = layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)(inp, inp)
    else:
        a = layers.MultiHeadAttention(num_heads=2, key_dim=3)(inp, inp, use_causal_mask=True)
    h = layers.LayerNormalization()(layers.Add()([inp, a]))
    h = layers.EinsumDense("abc,cd->abd", output_shape=(None, 8), bias_axes="d", activation="relu")(h)
    return bigcore.Model(inp, layers.Dense(3)(h))


def _numpy_int8_model(q_layers, x):
    """The quantized model's computation from its int8 weights, attention in float64."""
    att, ln, ed, dense = q_layers
    gqa = isinstance(att, QuantizedGroupQueryAttention)
    w = att.get_weights()

    def proj(i, xin):  # projection i: (kernel, bias, scale) at 3 * i
        k, b, s = w[3 * i], w[3 * i + 1], w[3 * i + 2]
        K = k.shape[0] if i < 3 else k.shape[0] * k.shape[1]
        y = qref.qdense_forward(xin.reshape(-1, K), k.reshape(K, -1), b.reshape(-1), s)
        return y.reshape(xin.shape[:2] + k.shape[(1 if i < 3 else 2):])

    q, k, v = proj(0, x), proj(1, x), proj(2, x)
    o, _, _ = aref.attention_forward(q, k, v, 1 / np.sqrt(3), {"causal": not gqa})
    a = proj(3, o.astype(np.float32))
    g, b = ln.get_weights()
    h = aref.norm_forward(x + a, None, g, b, 1e-3)
    kq, kb, ks = ed.get_weights()
    h = qref.qdense_forward(h.astype(np.float32), kq, kb, ks, "relu")
    dk, db, ds = dense.get_weights()
    return qref.qdense_forward(h.astype(np.float32), dk, db, ds)


@pytest.mark.parametrize("gqa", [False, True], ids=["mha", "gqa"])
def test_quantize_transformer(gqa):
    bigcore.utils.set_random_seed(3)
    model = _transformer(gqa)
    rng = np.random.default_rng(0)
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    qmodel = quantize(model, sparse_kernels=False)
    kinds = [type(layer) for layer in qmodel.layers]
    assert (QuantizedGroupQueryAttention if gqa else QuantizedMultiHeadAttention) in kinds
    assert QuantizedEinsumDense in kinds
    att = next(layer for layer in qmodel.layers if "Attention" in type(layer).__name__)
    assert all(w.dtype == np.int8 for w in att.weights if w.name.endswith("/kernel"))
    x = rng.standard_normal((7, T, D)).astype(np.float32)
    got = qmodel.predict(x, verbose=0)
    q_layers = [layer for layer in qmodel.layers if not isinstance(layer, (layers.InputLayer, layers.Add))]
    np.testing.assert_allclose(got, _numpy_int8_model(q_layers, x), rtol=1e-4, atol=1e-4)
    want = model.predict(x, verbose=0)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max(), "int8 strays from the float model"


def test_quantized_transformer_saves_and_loads(tmp_path):
    model = _transformer()
    qmodel = quantize(model, sparse_kernels=False)
    path = str(tmp_path / "q.bigcore")
    qmodel.save(path)
    loaded = bigcore.models.load_model(path)
    x = np.random.default_rng(1).standard_normal((3, T, D)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), qmodel.predict(x, verbose=0))
