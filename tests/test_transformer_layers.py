"""The Transformer layers through the one harness (tests/layer_test.py): MultiHeadAttention,
GroupQueryAttention, EinsumDense, LayerNormalization, RMSNormalization, the global poolings and the
GELU / SiLU activations, against float64 references (tests/reference_attention.py), by finite
differences, on every CPU path and thread count, through config and file round trips, and against
Keras 3 (same weights -> same outputs, same weights after three Adam steps)."""

import numpy as np
import pytest

import bigcore
import reference as ref
import reference_attention as aref
from bigcore._native import _core
from bigcore import layers, regularizers
import test_plotting as tp
from layer_test import KERAS_WARNING, pass_mask, run_layer_test
from test_layers import optional_keras

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

B, T, S, D = 4, 5, 6, 3
BM = 5  # a masked batch: one row of each mask_pattern kind


def self_call(**kw):
    return lambda layer, f: layer(f[0], f[0], **kw)


def cross_call(**kw):
    return lambda layer, f: layer(*f, **kw)


def query_mask_rule(scores=False):
    def rule(x, mask):
        m = mask[0] if isinstance(mask, list) else mask
        return [m, None] if scores else m
    return rule


# --------------------------------------------------------------------------- MultiHeadAttention


def mha_case(request, init, shapes, call, masked=False, causal=False, scores=False, self_attention=False, **kw):
    heads, kd = init["num_heads"], init["key_dim"]
    vd = init.get("value_dim") or kd
    bias = init.get("use_bias", True)
    zero_full = scores or init.get("dropout", 0) > 0

    def reference(w, x, mask):
        xs = [x, x] if self_attention else list(x)
        ms = [mask, mask] if self_attention else (mask if isinstance(mask, list) else [None] * len(xs))
        return aref.mha_forward(w, xs, ms + [None] * (len(xs) - len(ms)), heads, kd, vd, bias, causal, zero_full,
                                scores)

    q_dim = shapes if self_attention else shapes[0]
    kv = [q_dim, q_dim, q_dim] if self_attention else shapes + ([shapes[1]] if len(shapes) == 2 else [])
    out = init.get("output_shape")
    out_tail = ((out,) if isinstance(out, int) else tuple(out)) if out else (q_dim[-1],)
    wshapes = [(kv[0][-1], heads, kd), (heads, kd), (kv[2][-1], heads, kd), (heads, kd), (kv[1][-1], heads, vd),
               (heads, vd), (heads, vd) + out_tail, out_tail]
    if not bias:
        wshapes = wshapes[::2]
    return run_layer_test(layers.MultiHeadAttention, init, shapes, reference, weight_shapes=wshapes, call=call,
                          masked=masked, output_mask=query_mask_rule(scores) if masked else None,
                          keras=optional_keras(request) if request else None, keras_adam_skip=("key/bias",), **kw)


def test_mha_self_attention(request):
    mha_case(request, {"num_heads": 2, "key_dim": 2}, (B, T, D), self_call(), self_attention=True)


def test_mha_cross_attention_other_lengths_and_widths(request):
    mha_case(request, {"num_heads": 2, "key_dim": 3, "value_dim": 2}, [(B, T, D), (B, S, 4)], cross_call())


def test_mha_with_key_and_output_shape(request):
    mha_case(request, {"num_heads": 3, "key_dim": 2, "output_shape": 5}, [(B, T, D), (B, S, 4), (B, S, 2)],
             cross_call())


def test_mha_causal(request):
    mha_case(request, {"num_heads": 2, "key_dim": 2}, (B, T, D), self_call(use_causal_mask=True),
             self_attention=True, causal=True)


def test_mha_padding_masks(request):
    """Embedding(mask_zero=True) masks on the query and the value, combined as Keras combines them."""
    mha_case(request, {"num_heads": 2, "key_dim": 2}, [(BM, T, D), (BM, S, 4)], cross_call(), masked=True)


def test_mha_self_attention_masked_causal(request):
    mha_case(request, {"num_heads": 2, "key_dim": 2}, (BM, T, D), self_call(use_causal_mask=True),
             self_attention=True, masked=True, causal=True)


@pytest.mark.parametrize("case", ["self_causal_masked", "cross_masked", "scores"])
def test_mha_long_sequences_take_the_tile_path(request, case):
    """Sequences long enough for the attention kernels' tile path (which the op runs with the training
    forward's weights kept for the backward): the same Keras parity, outputs and Adam steps."""
    T2, S2 = 20, 23
    assert _core.attention_uses_tile(B, T2, S2, 2, 2, 2, 2) and _core.attention_uses_tile(B, T2, T2, 2, 2, 2, 2)
    init = {"num_heads": 2, "key_dim": 2}
    if case == "self_causal_masked":
        mha_case(request, init, (BM, T2, D), self_call(use_causal_mask=True), self_attention=True, masked=True,
                 causal=True)
    elif case == "cross_masked":
        mha_case(request, init, [(BM, T2, D), (BM, S2, 4)], cross_call(), masked=True)
    else:
        mha_case(request, init, [(B, T2, D), (B, T2, 4)], cross_call(return_attention_scores=True), scores=True)


def test_mha_return_attention_scores(request):
    # Tq == S: Keras 3.15 declares the scores (batch, heads, Tq, Tq) and cannot train on them otherwise
    mha_case(request, {"num_heads": 2, "key_dim": 2}, [(B, T, D), (B, T, 4)], cross_call(return_attention_scores=True),
             scores=True)


def test_mha_return_attention_scores_masked(request):
    """Masked inputs: the same outputs and masks as Keras; no Adam comparison, because Keras 3.15's
    training applies the query's mask to the (batch, heads, Tq, S) scores and fails on the shapes."""
    mha_case(request, {"num_heads": 2, "key_dim": 2}, [(BM, T, D), (BM, T, D)],
             cross_call(return_attention_scores=True), masked=True, scores=True, keras_adam=False)


def test_mha_without_bias_with_regularizers(request):
    mha_case(request, {"num_heads": 2, "key_dim": 2, "use_bias": False,
                       "kernel_regularizer": regularizers.l2(0.05)}, (B, T, D), self_call(), self_attention=True)


def test_mha_dropout_off_at_inference_and_random_in_training():
    """dropout > 0: inference is the reference (Keras's explicit path: a blank row gives 0); training
    steps draw new weights' masks each step."""
    mha_case(None, {"num_heads": 2, "key_dim": 2, "dropout": 0.3}, (B, T, D), self_call(), self_attention=True,
             training_differs=True)


def test_gqa(request):
    heads, kv, hd = 4, 2, 2

    def reference(w, x, mask):
        return aref.mha_forward(w, list(x), [None, None], heads, hd, hd)

    run_layer_test(layers.GroupQueryAttention, {"head_dim": hd, "num_query_heads": heads, "num_key_value_heads": kv},
                   [(B, T, D), (B, S, D)], reference, call=cross_call(),
                   weight_shapes=[(D, heads, hd), (heads, hd), (D, kv, hd), (kv, hd), (D, kv, hd), (kv, hd),
                                  (heads, hd, D), (D,)], keras=optional_keras(request), keras_adam_skip=("key/bias",))


def test_gqa_reference_repeats_heads():
    """The GQA reference above is MHA with each key/value head repeated for its query heads."""
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((2, 5, 2, 2)), rng.standard_normal((2, 5, 2, 2))
    got = aref.attention_forward(q, k, v, 0.5)[0]
    want = aref.attention_forward(q, np.repeat(k, 2, axis=2), np.repeat(v, 2, axis=2), 0.5)[0]
    np.testing.assert_allclose(got, want)


# --------------------------------------------------------------------------- EinsumDense


def einsum_ref(equation, act="linear"):
    def reference(w, x, mask):
        y = np.einsum(equation, x, w[0])
        if len(w) > 1:
            y = y + w[1]
        return ref.act_forward(y, act) if act != "softmax" else ref.act_forward(y, act)
    return reference


@pytest.mark.parametrize("equation,out_shape,bias,in_shape,wshapes", [
    ("ab,bc->ac", (4,), "c", (B, 5), [(5, 4), (4,)]),
    ("abc,cde->abde", (None, 2, 3), "de", (B, T, D), [(D, 2, 3), (2, 3)]),
    ("abcd,cde->abe", (None, 4), "e", (B, T, 2, 3), [(2, 3, 4), (4,)]),
    ("...b,bc->...c", (4,), None, (B, T, D), [(D, 4)]),
], ids=["2d", "heads", "merge_heads", "ellipsis"])
def test_einsum_dense(request, equation, out_shape, bias, in_shape, wshapes):
    run_layer_test(layers.EinsumDense, {"equation": equation, "output_shape": out_shape, "bias_axes": bias,
                                        "activation": "tanh"},
                   in_shape, einsum_ref(equation, "tanh"),
                   weight_shapes=wshapes, keras=optional_keras(request))


@pytest.mark.parametrize("equation,bias,match", [
    ("abc,dc->abd", None, "not one GEMM"),
    ("abc,cd->abd", "b", "not part of the output spec|every new output axis"),
    ("abc,cde->abde", "e", "every new output axis"),
    ("ab...,bc->ac...", None, "unsupported equation"),
])
def test_einsum_dense_refuses_what_is_not_one_gemm(equation, bias, match):
    out = {"abc,dc->abd": (None, 4), "abc,cd->abd": (None, 4), "abc,cde->abde": (None, 2, 4)}.get(equation, 4)
    layer = layers.EinsumDense(equation, output_shape=out, bias_axes=bias)
    with pytest.raises(ValueError, match=match):
        layer(bigcore.Input((T, D)))


# --------------------------------------------------------------------------- normalization


def norm_ref(axes_n, rms=False, eps=1e-3, center=True, scale=True):
    """axes_n: how many trailing axes are normalized."""
    def reference(w, x, mask):
        shape = x.shape
        flat = x.reshape(shape[:len(shape) - axes_n] + (-1,))
        it = iter(w)
        gamma = next(it).reshape(-1) if scale else None
        beta = next(it).reshape(-1) if center and not rms else None
        return aref.norm_forward(flat, None, gamma, beta, eps, rms).reshape(shape)
    return reference


@pytest.mark.parametrize("axis,shape,axes_n", [(-1, (B, 6), 1), (-1, (B, T, D), 1), ([-2, -1], (B, T, D), 2),
                                               ([2, 3], (B, 2, 3, 4), 2)], ids=["2d", "3d", "two_axes", "4d"])
def test_layer_normalization(request, axis, shape, axes_n):
    wshape = shape[len(shape) - axes_n:]
    run_layer_test(layers.LayerNormalization, {"axis": axis}, shape, norm_ref(axes_n), weight_shapes=[wshape, wshape],
                   input_scale=2.0, keras=optional_keras(request))


@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
def test_layer_normalization_center_scale(request, center, scale):
    n = int(center) + int(scale)
    run_layer_test(layers.LayerNormalization, {"center": center, "scale": scale, "epsilon": 0.01}, (BM, T, D),
                   norm_ref(1, eps=0.01, center=center, scale=scale), weight_shapes=[(D,)] * n, masked=True,
                   output_mask=pass_mask, gradients=n > 0, keras=optional_keras(request))


@pytest.mark.parametrize("axis,shape,axes_n", [(-1, (B, T, D), 1), ([-2, -1], (B, T, D), 2)], ids=["3d", "two_axes"])
def test_rms_normalization(request, axis, shape, axes_n):
    run_layer_test(layers.RMSNormalization, {"axis": axis, "epsilon": 1e-5}, shape, norm_ref(axes_n, rms=True, eps=1e-5),
                   weight_shapes=[shape[len(shape) - axes_n:]], input_scale=2.0, keras=optional_keras(request))


def test_normalization_refuses_axes_it_cannot_run():
    with pytest.raises(ValueError, match="trailing block"):
        layers.LayerNormalization(axis=1)(bigcore.Input((T, D)))
    with pytest.raises(ValueError, match="out of bounds"):
        layers.RMSNormalization(axis=3)(bigcore.Input((T, D)))
    with pytest.raises(TypeError, match="axis"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="RMSNormalization"):
        layers.LayerNormalization(rms_scaling=True)


# --------------------------------------------------------------------------- global pooling


def avg_pool_ref(w, x, mask):
    if mask is None:
        return x.mean(1)
    m = mask[..., None].astype(np.float64)
    with np.errstate(invalid="ignore"):
        return (x * m).sum(1) / m.sum(1)


def test_global_average_pooling_1d(request):
    run_layer_test(layers.GlobalAveragePooling1D, {}, (B, T, D), avg_pool_ref, weight_shapes=[],
                   keras=optional_keras(request))


def test_global_average_pooling_1d_masked(request):
    """The masked mean; mask_pattern's sample with every step masked gives NaN (0 / 0), as Keras; the
    harness's loss skips no output rows, so this case checks forward, masks and parity only."""
    case_rows = [m for m in range(BM) if m % 5 != 3]
    run_layer_test(layers.GlobalAveragePooling1D, {}, (len(case_rows), T, D), avg_pool_ref, weight_shapes=[],
                   masked=np.array([[t not in (0, 2) or r % 2 for t in range(T)] for r in range(len(case_rows))]),
                   keras=optional_keras(request))


def test_global_pooling_keepdims_and_channels_first(request):
    run_layer_test(layers.GlobalAveragePooling1D, {"data_format": "channels_first", "keepdims": True}, (B, T, D),
                   lambda w, x, mask: x.mean(2, keepdims=True), weight_shapes=[], keras=optional_keras(request))
    run_layer_test(layers.GlobalMaxPooling1D, {"keepdims": True}, (B, T, D),
                   lambda w, x, mask: x.max(1, keepdims=True), weight_shapes=[], keras=optional_keras(request))


def test_global_max_pooling_1d(request):
    run_layer_test(layers.GlobalMaxPooling1D, {}, (B, T, D), lambda w, x, mask: x.max(1), weight_shapes=[],
                   keras=optional_keras(request))


# --------------------------------------------------------------------------- GELU and SiLU


def gelu_ref(z, approximate=False):
    from math import erf  # noqa: PLC0415  (the float64 reference)
    z = np.asarray(z, np.float64)
    if approximate:
        return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3)))
    return 0.5 * z * (1 + np.vectorize(erf)(z / np.sqrt(2)))


ACTS = {"gelu": gelu_ref, "gelu_approximate": lambda z: gelu_ref(z, True),
        "silu": lambda z: np.asarray(z, np.float64) / (1 + np.exp(-np.asarray(z, np.float64)))}


@pytest.mark.parametrize("act", sorted(ACTS))
def test_dense_gelu_silu(request, act):
    keras_ok = act != "gelu_approximate"  # bigcore's own name for the tanh form
    run_layer_test(layers.Dense, {"units": 4, "activation": act}, (B, 5),
                   lambda w, x, mask: ACTS[act](x @ w[0] + w[1]), weight_shapes=[(5, 4), (4,)],
                   keras=optional_keras(request) if keras_ok else None)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_activation_gelu_silu(request, act):
    run_layer_test(layers.Activation, {"activation": act}, (B, T, D), lambda w, x, mask: ACTS[act](x),
                   weight_shapes=[], input_scale=2.0,
                   keras=optional_keras(request) if act != "gelu_approximate" else None)


def test_swish_is_silu_and_gelu_function():
    assert layers.Dense(2, activation="swish").activation == "silu"
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    np.testing.assert_allclose(bigcore.activations.gelu(x), gelu_ref(x), atol=2e-6)
    np.testing.assert_allclose(bigcore.activations.gelu(x, approximate=True), gelu_ref(x, True), atol=2e-6)


# --------------------------------------------------------------------------- Attention (Luong)


def keras_attention_ref(score, causal=False, scores=False):
    """Keras's Attention / AdditiveAttention after the scores: score(w, q, k) -> (batch, Tq, Tk)."""
    def reference(w, x, mask):
        q, v = x[0], x[1]
        k = x[2] if len(x) > 2 else v
        qm, vm = (mask[0], mask[1]) if isinstance(mask, list) else (None, None)
        s = score(w, q, k)
        allow = aref.allowed(q.shape[0], q.shape[1], k.shape[1], kmask=vm, causal=causal)[:, 0]
        # Keras subtracts 1e9 from the blanked scores: they get no weight, and a row with every key
        # blanked is uniform (in float32, s - 1e9 is -1e9 for every |s| < 32)
        s = np.where(allow, s, -np.inf)
        full = ~allow.any(-1, keepdims=True)
        s = np.where(full, 0.0, s)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        o = p @ v
        if qm is not None:
            o = np.where(np.asarray(qm, bool)[..., None], o, 0.0)
        return [o, p] if scores else o
    return reference


def luong_ref(scale=False, causal=False, scores=False):
    return keras_attention_ref(lambda w, q, k: np.einsum("bid,bjd->bij", q, k) * (w[0] if scale else 1.0),
                               causal, scores)


@pytest.mark.parametrize("use_scale", [False, True], ids=["plain", "scaled"])
def test_attention_layer(request, use_scale):
    run_layer_test(layers.Attention, {"use_scale": use_scale}, [(B, T, D), (B, S, 4), (B, S, D)], luong_ref(use_scale),
                   weight_shapes=[()] if use_scale else [], weights=SCALE_WEIGHT if use_scale else None,
                   keras=optional_keras(request))


def SCALE_WEIGHT(rng):  # noqa: N802  (the harness's weights() for the one scalar)
    return [np.array(1.3, np.float32)]


def test_attention_layer_masked_causal_scores(request):
    """Keras's masks: the value mask blanks keys, the query mask zeroes output rows but not their
    weights; causal; the weights returned. Step 0 stays unmasked: with it masked, causal row 0 has no
    key, and Keras's autograd then sends its scores a gradient the output does not have (softmax of
    s - 1e9 in float32 forgets s); test_attention_layer_blank_rows covers such rows."""
    m = np.array([[t == 0 or (t + r) % 3 for t in range(T)] for r in range(BM)])
    run_layer_test(layers.Attention, {"use_scale": True}, [(BM, T, D), (BM, T, D)],
                   luong_ref(True, causal=True, scores=True), weight_shapes=[()], weights=SCALE_WEIGHT, masked=m,
                   call=lambda layer, f: layer(f, use_causal_mask=True, return_attention_scores=True),
                   output_mask=lambda x, mask: [mask[0], None], keras=optional_keras(request))


def test_attention_layer_blank_rows(request):
    """mask_pattern's rows: keys all masked (uniform weights, as Keras's -1e9 gives in float32) and
    queries masked (rows 0); Keras's outputs, without Adam (see above)."""
    run_layer_test(layers.Attention, {}, [(BM, T, D), (BM, S, D)], luong_ref(scores=True), weight_shapes=[],
                   masked=True, call=lambda layer, f: layer(f, return_attention_scores=True),
                   output_mask=lambda x, mask: [mask[0], None], keras=optional_keras(request))


def bahdanau_ref(scale=True, causal=False, scores=False):
    """Keras's AdditiveAttention: s = sum(scale * tanh(q_i + k_j)), then Luong's masking and softmax."""
    return keras_attention_ref(
        lambda w, q, k: (np.tanh(q[:, :, None, :] + k[:, None, :, :]) * (w[0] if scale else 1.0)).sum(-1),
        causal, scores)


@pytest.mark.parametrize("use_scale", [False, True], ids=["plain", "scaled"])
def test_additive_attention_layer(request, use_scale):
    run_layer_test(layers.AdditiveAttention, {"use_scale": use_scale}, [(B, T, D), (B, S, 4), (B, S, D)],
                   bahdanau_ref(use_scale), weight_shapes=[(D,)] if use_scale else [], keras=optional_keras(request))


def test_additive_attention_masked_causal_scores(request):
    m = np.array([[t == 0 or (t + r) % 3 for t in range(T)] for r in range(BM)])
    run_layer_test(layers.AdditiveAttention, {}, [(BM, T, D), (BM, T, D)], bahdanau_ref(causal=True, scores=True),
                   weight_shapes=[(D,)], masked=m,
                   call=lambda layer, f: layer(f, use_causal_mask=True, return_attention_scores=True),
                   output_mask=lambda x, mask: [mask[0], None], keras=optional_keras(request))


def test_additive_attention_on_run_time_lengths():
    """Query and value of two run-time lengths, causal: the bits of fixed-length twins."""
    def build(tq, tv):
        q_in, v_in = bigcore.Input((tq, D)), bigcore.Input((tv, D))
        return bigcore.Model([q_in, v_in], layers.AdditiveAttention(name="att")([q_in, v_in], use_causal_mask=True))
    model = build(None, None)
    rng = np.random.default_rng(4)
    for tq, tv in ((3, 5), (6, 2)):
        xs = [rng.standard_normal((2, tq, D)).astype(np.float32), rng.standard_normal((2, tv, D)).astype(np.float32)]
        twin = build(tq, tv)
        twin.set_weights(model.get_weights())
        np.testing.assert_array_equal(model.predict(xs, verbose=0), twin.predict(xs, verbose=0))


def test_attention_layers_on_run_time_lengths():
    """Attention and AdditiveAttention over a run-time query length and another key length, scores
    returned: the bits of fixed-length twins."""
    def build(tq, tv, cls):
        q_in, v_in = bigcore.Input((tq, D)), bigcore.Input((tv, D))
        out, scores = cls(name="att")([q_in, v_in], return_attention_scores=True)
        return bigcore.Model([q_in, v_in], [out, scores])
    rng = np.random.default_rng(5)
    for cls in (layers.Attention, layers.AdditiveAttention):
        model = build(None, None, cls)
        assert model.outputs[1].shape == (None, None, None)
        for tq, tv in ((3, 5), (6, 2)):
            xs = [rng.standard_normal((2, tq, D)).astype(np.float32), rng.standard_normal((2, tv, D)).astype(np.float32)]
            twin = build(tq, tv, cls)
            twin.set_weights(model.get_weights())
            for a, b in zip(model.predict(xs, verbose=0), twin.predict(xs, verbose=0)):
                assert a.shape == b.shape
                np.testing.assert_array_equal(a, b)


def concat_ref(scale=False, causal=False, scores=False):
    """Keras's Attention(score_mode="concat"): s = concat_score_weight * sum(tanh(scale * (q_i + k_j)))
    (no scale without use_scale); the weights are [scale, concat_score_weight], in that order."""
    def score(w, q, k):
        pair = q[:, :, None, :] + k[:, None, :, :]
        return w[-1] * np.tanh(pair * (w[0] if scale else 1.0)).sum(-1)
    return keras_attention_ref(score, causal, scores)


def CONCAT_WEIGHTS(scale):  # noqa: N802  (scalars other than the initial ones)
    return lambda rng: ([np.array(0.8, np.float32)] if scale else []) + [np.array(1.4, np.float32)]


@pytest.mark.parametrize("use_scale", [False, True], ids=["plain", "scaled"])
def test_attention_layer_concat_scores(request, use_scale):
    run_layer_test(layers.Attention, {"use_scale": use_scale, "score_mode": "concat"},
                   [(B, T, D), (B, S, 4), (B, S, D)], concat_ref(use_scale),
                   weight_shapes=[(), ()] if use_scale else [()], weights=CONCAT_WEIGHTS(use_scale),
                   keras=optional_keras(request))


def test_attention_layer_concat_masked_causal_scores(request):
    m = np.array([[t == 0 or (t + r) % 3 for t in range(T)] for r in range(BM)])
    run_layer_test(layers.Attention, {"use_scale": True, "score_mode": "concat"}, [(BM, T, D), (BM, T, D)],
                   concat_ref(True, causal=True, scores=True), weight_shapes=[(), ()], weights=CONCAT_WEIGHTS(True),
                   masked=m, call=lambda layer, f: layer(f, use_causal_mask=True, return_attention_scores=True),
                   output_mask=lambda x, mask: [mask[0], None], keras=optional_keras(request))


def test_attention_layer_refuses_bad_modes_and_calls():
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="additive")
    x = bigcore.Input((T, D))
    for mode in ("dot", "concat"):
        with pytest.raises(ValueError, match="list of inputs"):
            layers.Attention(score_mode=mode)(x)
    with pytest.raises(ValueError, match="same features"):
        layers.Attention(score_mode="concat")([x, bigcore.Input((T, D + 1))])


# --------------------------------------------------------------------------- masks and attention_mask


def test_mha_attention_mask_and_explicit_masks_against_keras(keras):
    """attention_mask (batch, Tq, S) as a model input, and value_mask / key_mask given explicitly,
    ANDed with the Embedding masks and the causal mask as Keras does."""
    rng = np.random.default_rng(3)

    def build(lib):
        qi, vi, ai = lib.Input((T,)), lib.Input((T,)), lib.Input((T, T))
        q = lib.layers.Embedding(11, 4, mask_zero=True)(qi)
        v = lib.layers.Embedding(11, 4, mask_zero=True)(vi)
        mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3)
        o = mha(q, v, key=v, attention_mask=ai, use_causal_mask=True)
        return lib.Model([qi, vi, ai], o)

    ours, theirs = build(bigcore), build(keras)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    ids_q = rng.integers(0, 11, (6, T))
    ids_v = rng.integers(0, 11, (6, T))
    amask = (rng.random((6, T, T)) > 0.3).astype(np.float32)
    got = ours.predict([ids_q.astype(np.float32), ids_v.astype(np.float32), amask], verbose=0)
    want = keras_predict(theirs, [ids_q, ids_v, amask])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def keras_predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


def test_mha_saves_and_loads_its_call_arguments(tmp_path):
    inp = bigcore.Input((T, D))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    out, w = mha(inp, inp, use_causal_mask=True, return_attention_scores=True)
    model = bigcore.Model(inp, [out, w])
    x = np.random.default_rng(0).standard_normal((3, T, D)).astype(np.float32)
    path = str(tmp_path / "m.bigcore")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.triu(loaded.predict(x, verbose=0)[1][0, 0], 1) == 0), "the loaded call is causal"


# --------------------------------------------------------------------------- a task that needs attention


def copy_task(rng, N, n, vocab):
    first = rng.integers(1, vocab, (N, n))
    seq = np.concatenate([first, first], axis=1)
    pos = np.tile(np.arange(2 * n - 1), (N, 1))
    return [seq[:, :-1].astype(np.float32), pos.astype(np.float32)], seq[:, 1:].astype(np.float32)


def test_causal_model_learns_to_copy_the_first_half():
    """Sequences of 2n tokens whose second half repeats the first: a causal Transformer predicts each
    token of the second half from the one n - 1 steps back, which only attention can fetch."""
    bigcore.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    n, vocab, L = 6, 10, 11
    x, y = copy_task(rng, 4000, n, vocab)
    tok_in, pos_in = bigcore.Input((L,)), bigcore.Input((L,))
    h = layers.Add()([layers.Embedding(vocab, 32)(tok_in), layers.Embedding(L, 32)(pos_in)])
    a = layers.MultiHeadAttention(num_heads=2, key_dim=16)(h, h, use_causal_mask=True)
    h = layers.LayerNormalization()(layers.Add()([h, a]))
    f = layers.Dense(64, activation="gelu")(h)
    h = layers.LayerNormalization()(layers.Add()([h, layers.Dense(32)(f)]))
    model = bigcore.Model([tok_in, pos_in], layers.Dense(vocab, activation="softmax")(h))
    model.compile(optimizer=bigcore.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=12, verbose=0)
    xt, yt = copy_task(np.random.default_rng(2), 500, n, vocab)
    pred = model.predict(xt, verbose=0).argmax(-1)
    second = slice(n - 1, L)
    acc = (pred[:, second] == yt[:, second]).mean()
    assert acc > 0.9, f"copy accuracy {acc:.3f} (chance 1/9)"
    assert (pred[:, : n - 1] == yt[:, : n - 1]).mean() < 0.3, "the first half is random: no model predicts it"


# --------------------------------------------------------------------------- summary and plot_model


def classifier(lib):
    inp = lib.Input((T,), name="tokens")
    x = lib.layers.Embedding(20, 8, name="embed")(inp)  # no mask: Keras would draw its mask ops too
    a = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    h = lib.layers.LayerNormalization(name="norm")(lib.layers.Add(name="residual")([x, a]))
    y = lib.layers.GlobalAveragePooling1D(name="pool")(h)
    return lib.Model(inp, lib.layers.Dense(2, activation="softmax", name="probs")(y))


def test_summary_and_plot_model_show_the_transformer_layers(keras):
    ours, theirs = classifier(bigcore), classifier(keras)
    lines = []
    ours.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for name, cls in (("mha", "MultiHeadAttention"), ("norm", "LayerNormalization"), ("pool", "GlobalAverage")):
        assert f"{name} ({cls}" in text
    assert ours.count_params() == theirs.count_params()
    assert f"{theirs.get_layer('mha').count_params()}" in text.split("mha (")[1].split("\n")[0]
    if tp.HAVE_PYDOT:
        assert tp.dot_graph(bigcore.utils.model_to_dot(ours, **tp.SHOW_NAMES)) == \
            tp.dot_graph(keras.utils.model_to_dot(theirs, **tp.SHOW_NAMES))
