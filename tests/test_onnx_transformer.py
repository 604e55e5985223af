"""ONNX export of the Transformer layers, run in onnxruntime against model.predict (batch 1 and 7,
one file): MultiHeadAttention (self / cross, masks from Embedding(mask_zero=True), causal, the
weights returned), GroupQueryAttention, Attention, EinsumDense, LayerNormalization,
RMSNormalization, the global poolings, GELU / SiLU, and an int8 Transformer."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.quantization import quantize
from test_onnx_export import check, ids, normal, randomize

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

T, V, E = 7, 13, 8


def text_transformer(causal=False, scores=False, gqa=False, act="gelu"):
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, E, mask_zero=True)(inp)
    if gqa:
        att = layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    else:
        att = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5)
    a = att(x, x, use_causal_mask=causal, return_attention_scores=scores)
    a, w = a if scores else (a, None)
    h = layers.LayerNormalization()(layers.Add()([x, a]))
    f = layers.Dense(16, activation=act)(h)
    h = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([h, layers.Dense(E)(f)]))
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling1D()(h))
    return randomize(bigcore.Model(inp, [out, w] if scores else out))


@pytest.mark.parametrize("causal,scores,gqa,act", [(False, False, False, "gelu"), (True, True, False, "silu"),
                                                   (False, False, True, "gelu_approximate")],
                         ids=["mha", "causal_scores", "gqa"])
def test_text_transformer(causal, scores, gqa, act):
    model = text_transformer(causal, scores, gqa, act)
    # padding at the end, and one sample all padding (its average is 0 / 0 in both)
    check(model, ids(T, V, padding="holes"), atol=2e-5)


def test_cross_attention_key_attention_layer_rms_einsum_and_max_pool():
    q_in, v_in = bigcore.Input((T, 4)), bigcore.Input((5, 6))
    a = layers.MultiHeadAttention(num_heads=2, key_dim=3, output_shape=(2, 3))(q_in, v_in, key=v_in)
    a = layers.Reshape((T, 6))(a)
    b = layers.Attention(use_scale=True)([layers.EinsumDense("abc,cd->abd", (None, 6), bias_axes="d")(q_in), v_in],
                                         use_causal_mask=True)
    h = layers.RMSNormalization(axis=[-2, -1])(layers.Add()([a, b]))
    out = layers.GlobalMaxPooling1D(keepdims=True)(h)
    model = randomize(bigcore.Model([q_in, v_in], [out, layers.GlobalAveragePooling1D(data_format="channels_first")(h)]))
    check(model, normal((T, 4), (5, 6)))


def test_int8_transformer():
    """The int8 projections export as the int8 GEMM rule (MatMulInteger); ONNX rounds ties to even
    where bigcore rounds them away from zero, so the bound is a rounding step's effect. No sample
    is all padding here: its NaN average would meet the int8 Dense, whose ONNX form (like every
    exported int8 Dense) turns a NaN row into numbers."""
    model = text_transformer()
    qmodel = quantize(model, sparse_kernels=False)
    padded = ids(T, V, padding="post")

    def make(b):
        x = padded(b)[0]
        x[:, 0] = np.maximum(x[:, 0], 1)
        return [x]

    check(qmodel, make, atol=2e-3)
