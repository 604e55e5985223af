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
    assert all(w.dtype == np.int8 for w in att.weights if w.path.endswith("/kernel"))
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


@bigcore.saving.register_keras_serializable(package="tests_int8")
class _FeedForward(layers.Layer):
    """A custom layer holding Dense sub-layers in attributes, with a weight of its own:
    norm(x + gain * ff2(ff1(x)))."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.ff1 = layers.Dense(width, activation="relu")
        self.ff2 = layers.Dense(D)
        self.norm = layers.LayerNormalization()

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(D,), initializer="ones", name="gain")

    def call(self, x):
        return self.norm(x + self.ff2(self.ff1(x)) * self.gain)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_quantize_converts_dense_inside_custom_layers():
    from bigcore.layers.quantized import QuantizedDense

    bigcore.utils.set_random_seed(5)
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, layers.Dense(3)(_FeedForward(8)(inp)))
    rng = np.random.default_rng(2)
    model.set_weights([w + 0.2 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    qmodel = quantize(model, sparse_kernels=False)
    ff = qmodel.layers[1]
    assert type(ff) is _FeedForward
    assert type(ff.ff1) is QuantizedDense and type(ff.ff2) is QuantizedDense
    assert ff.ff1.kernel.value.dtype == np.int8 and ff.ff2.kernel.value.dtype == np.int8
    # the NumPy int8 reference from the twin's own weights
    x = rng.standard_normal((7, T, D)).astype(np.float32)
    k1, b1, s1 = ff.ff1.get_weights()
    k2, b2, s2 = ff.ff2.get_weights()
    h = qref.qdense_forward(x.reshape(-1, D), k1, b1, s1, "relu").astype(np.float32)
    f = qref.qdense_forward(h, k2, b2, s2).reshape(7, T, D)
    g, b = ff.norm.get_weights()
    y = aref.norm_forward(x + f * ff.gain.value, None, g, b, 1e-3).astype(np.float32)
    dk, db, ds = qmodel.layers[2].get_weights()
    want = qref.qdense_forward(y.reshape(-1, D), dk, db, ds).reshape(7, T, 3)
    got = qmodel.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the int8 weights are the float ones quantized; the float model is left untouched and close
    np.testing.assert_array_equal(ff.ff1.kernel.value, qref.quantize_weights_np(model.layers[1].ff1.kernel.value)[0])
    assert model.layers[1].ff1.kernel.value.dtype == np.float32
    fl = model.predict(x, verbose=0)
    assert np.abs(got - fl).max() < 0.05 * np.abs(fl).max()


def test_quantize_converts_attention_inside_the_example_block():
    from bigcore.examples.text_transformer import TransformerBlock
    from bigcore.layers.quantized import QuantizedDense

    bigcore.utils.set_random_seed(6)
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, TransformerBlock(D, 2, 8, causal=True, pre_norm=True)(inp))
    qmodel = quantize(model, sparse_kernels=False)
    block = qmodel.layers[1]
    assert type(block.att) is QuantizedMultiHeadAttention
    assert type(block.ff1) is QuantizedDense and type(block.ff2) is QuantizedDense
    x = np.random.default_rng(3).standard_normal((4, T, D)).astype(np.float32)
    got, want = qmodel.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.array_equal(got, want)  # the int8 path ran
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
