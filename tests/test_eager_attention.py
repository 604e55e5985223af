"""Attention layers and multi-input layers called on arrays (Keras's eager call): each runs as a
one-layer model natively, and gives what the same layer gives inside a model, with every call flag
(causal, scores, masks) honoured."""

import numpy as np
import pytest

import bigcore
from bigcore import layers

B, TQ, TV, D = 2, 5, 7, 8


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, TQ, D)).astype(np.float32), rng.standard_normal((B, TV, D)).astype(np.float32),
            rng.standard_normal((B, TV, D)).astype(np.float32))


def _as_model(layer, call):
    q_in, v_in, k_in = bigcore.Input((TQ, D)), bigcore.Input((TV, D)), bigcore.Input((TV, D))
    return bigcore.Model([q_in, v_in, k_in], call(layer, q_in, v_in, k_in))


LIST_CALLS = {
    "dot": (lambda: layers.Attention(use_scale=True), {}),
    "dot causal scores": (lambda: layers.Attention(), {"use_causal_mask": True, "return_attention_scores": True}),
    "concat": (lambda: layers.Attention(score_mode="concat", use_scale=True), {"return_attention_scores": True}),
    "additive causal": (lambda: layers.AdditiveAttention(), {"use_causal_mask": True}),
}


@pytest.mark.parametrize("case", sorted(LIST_CALLS))
def test_list_attention_layers_on_arrays_match_the_model(case):
    make, flags = LIST_CALLS[case]
    q, v, k = _arrays()
    layer = make()
    eager = layer([q, v, k], **flags)
    model = _as_model(layer, lambda lay, a, b, c: lay([a, b, c], **flags))
    want = model.predict([q, v, k], verbose=0)
    if flags.get("return_attention_scores"):
        assert isinstance(eager, tuple) and len(eager) == 2
        for got, w in zip(eager, want):
            np.testing.assert_array_equal(got, w)
        if flags.get("use_causal_mask"):  # the flag reached the layer: no weight above the diagonal
            assert np.all(np.triu(eager[1][0], 1) == 0)
    else:
        np.testing.assert_array_equal(eager, want)


@pytest.mark.parametrize("scores", [False, True])
def test_multi_head_attention_on_arrays_matches_the_model(scores):
    q, v, k = _arrays(1)
    mask = np.tril(np.ones((B, TQ, TV), np.float32))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    eager = mha(q, v, k, attention_mask=mask, return_attention_scores=scores)
    m_in = bigcore.Input((TQ, TV))
    q_in, v_in, k_in = bigcore.Input((TQ, D)), bigcore.Input((TV, D)), bigcore.Input((TV, D))
    model = bigcore.Model([q_in, v_in, k_in, m_in],
                          mha(q_in, v_in, k_in, attention_mask=m_in, return_attention_scores=scores))
    want = model.predict([q, v, k, mask], verbose=0)
    if scores:
        assert isinstance(eager, tuple)
        np.testing.assert_array_equal(eager[0], want[0])
        np.testing.assert_array_equal(eager[1], want[1])
        assert np.all(eager[1][:, :, np.triu_indices(TQ, 1, TV)[0], np.triu_indices(TQ, 1, TV)[1]] == 0)
    else:
        np.testing.assert_array_equal(eager, want)


def test_merging_layers_on_a_list_of_arrays():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(layers.Add()([a, b]), a + b, rtol=1e-6)
    np.testing.assert_array_equal(layers.Concatenate()([a, b]), np.concatenate([a, b], -1))
    # a nested list of numbers is still one array
    assert layers.Dense(2)([[1.0, 2.0]]).shape == (1, 2)
