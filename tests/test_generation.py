"""Generation with the native key/value cache (models/generation.py, runtime/decode.h): the cached
logits equal the full model's, greedy generation equals recomputing the whole sequence per token,
sampling is seeded, follows top_k and temperature, and unsupported models raise."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore._native import _core
from bigcore.models.generation import Generator, generate

V, T, D = 13, 16, 16


def gpt(blocks=2, heads=2, kv_heads=None, positions=True, softmax=False, rms=False, final_norm=True, seed=0):
    """A pre-norm decoder-only model from built-in layers (causal self-attention, GELU feed-forward)."""
    bigcore.utils.set_random_seed(seed)
    tok = bigcore.Input((T,))
    ins = [tok]
    x = layers.Embedding(V, D)(tok)
    if positions:
        pos = bigcore.Input((T,))
        ins.append(pos)
        x = layers.Add()([x, layers.Embedding(T, D)(pos)])
    norm = (lambda: layers.RMSNormalization(epsilon=1e-6)) if rms else (lambda: layers.LayerNormalization(epsilon=1e-5))
    for _ in range(blocks):
        h = norm()(x)
        if kv_heads:
            att = layers.GroupQueryAttention(D // heads, heads, kv_heads)
        else:
            att = layers.MultiHeadAttention(heads, D // heads, dropout=0.1)
        a = att(h, h, use_causal_mask=True)
        x = layers.Add()([x, layers.Dropout(0.1)(a)])
        f = layers.Dense(D, activation="gelu")(norm()(x))
        x = layers.Add()([x, layers.Dense(D)(f)])
    if final_norm:
        x = norm()(x)
    out = layers.Dense(V, activation="softmax" if softmax else None, kernel_initializer="random_normal")(x)
    return bigcore.Model(ins if positions else tok, out)


def full(model, seq):
    """The full model's output at every position of seq (padded with zeros to T; causal, so the
    padding does not reach the rows read)."""
    x = np.zeros((1, T), np.float32)
    x[0, :len(seq)] = seq
    ins = [x, np.arange(T, dtype=np.float32)[None]] if len(model.inputs) == 2 else x
    return model.predict(ins, verbose=0)[0, :len(seq)]


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


CASES = {
    "mha": {},
    "gqa_rms_softmax": dict(heads=4, kv_heads=2, rms=True, softmax=True),
    "no_positions_no_final_norm": dict(positions=False, final_norm=False, blocks=3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cached_logits_equal_the_full_model(case):
    model = gpt(**CASES[case])
    gen = Generator(model)
    seq = np.random.default_rng(1).integers(0, V, T)
    got = gen.logits(seq)
    want = full(model, seq)
    np.testing.assert_allclose(softmax(got) if gen.softmax_output else got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_greedy_generation_equals_full_recomputation(case):
    model = gpt(**CASES[case])
    prompt = [3, 1, 4]
    got = generate(model, prompt, T - len(prompt), temperature=0)
    seq = list(prompt)
    for _ in range(T - len(prompt)):
        seq.append(int(np.argmax(full(model, seq)[-1])))
    assert got == seq[len(prompt):]


def test_one_native_call_per_token_and_no_prefix_recomputation():
    gen = Generator(gpt())
    calls = []

    class Counting:  # records the native calls generate makes
        def __init__(self, dec):
            self.dec = dec

        def __getattr__(self, name):
            fn = getattr(self.dec, name)
            return lambda *a: (calls.append(name), fn(*a))[1]

    gen._dec = Counting(gen._dec)
    out = gen.generate([1, 2, 3, 4, 5], 7, temperature=0.8, top_k=4, seed=3)
    assert len(out) == 7
    assert calls == ["reset", "feed"] + ["sample"] * 7
    assert gen._dec.dec.position == 5 - 1 + 7  # each position ran once


def test_sampling_is_seeded():
    gen = Generator(gpt())
    a = gen.generate([2, 7], 13, temperature=1.0, seed=11)
    assert a == gen.generate([2, 7], 13, temperature=1.0, seed=11)
    assert a != gen.generate([2, 7], 13, temperature=1.0, seed=12)
    bigcore.utils.set_random_seed(5)
    b = gen.generate([2, 7], 13)
    bigcore.utils.set_random_seed(5)
    assert b == gen.generate([2, 7], 13)
    assert gen.generate([2, 7], 13, temperature=0.7, top_k=1, seed=4) == gen.generate([2, 7], 13, temperature=0)


def test_sampled_tokens_stay_in_the_top_k():
    model = gpt()
    gen = Generator(model)
    prompt = [5]
    for seed in range(4):
        got = gen.generate(prompt, T - 1, temperature=2.0, top_k=3, seed=seed)
        seq = prompt + got
        logits = full(model, seq)
        for i, t in enumerate(got):
            top3 = np.argsort(-logits[i])[:3]
            assert t in top3


@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.5, None), (2.0, 3)])
def test_sample_token_follows_the_distribution(temperature, top_k):
    logits = np.array([0.5, 2.0, -1.0, 1.0, 0.0, 1.5], np.float32)
    n = 20000
    draws = np.array([_core.sample_token(logits, temperature, top_k or 0, 9, i) for i in range(n)])
    z = logits.astype(np.float64) / temperature
    if top_k:
        z[np.argsort(-logits)[top_k:]] = -np.inf
    want = softmax(z)
    got = np.bincount(draws, minlength=len(logits)) / n
    np.testing.assert_allclose(got, want, atol=0.012)
    assert _core.sample_token(logits, 0.0, 0, 9, 0) == 1  # temperature 0: the argmax


def test_unsupported_models_raise():
    inp = bigcore.Input((T,))
    x = layers.Embedding(V, D)(inp)
    noncausal = bigcore.Model(inp, layers.Dense(V)(layers.MultiHeadAttention(2, 8)(x, x)))
    with pytest.raises(ValueError, match="use_causal_mask=True"):
        Generator(noncausal)
    rnn = bigcore.Model(inp, layers.Dense(V)(layers.LSTM(8, return_sequences=True)(x)))
    with pytest.raises(ValueError, match="LSTM"):
        Generator(rnn)
    masked = bigcore.Model(inp, layers.Dense(V)(layers.Embedding(V, D, mask_zero=True)(inp)))
    with pytest.raises(ValueError, match="mask_zero"):
        Generator(masked)


def test_bad_arguments_raise():
    gen = Generator(gpt())
    with pytest.raises(ValueError, match="do not fit"):
        gen.generate([1, 2], T)
    with pytest.raises(ValueError, match="prompt"):
        gen.generate([], 3)
    with pytest.raises(ValueError, match="temperature"):
        gen.generate([1], 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        gen.generate([1], 3, top_k=0)
    with pytest.raises(ValueError, match="seed"):
        gen.generate([1], 3, seed=-2)
    with pytest.raises(ValueError, match="outside the embedding"):
        gen.generate([V + 4], 3)
    assert len(gen.generate([1, 2], T - 1, temperature=0)) == T - 1  # exactly fills the cache


def custom_gpt(blocks=2, dropout=0.1, seed=0):
    """The same decoder written as custom layers (examples/text_transformer.py): positions from
    ops.arange inside call(), pre-norm causal blocks with the residual `+` inside call()."""
    from bigcore.examples.text_transformer import TokenAndPositionEmbedding, TransformerBlock

    bigcore.utils.set_random_seed(seed)
    tok = bigcore.Input((T,))
    x = TokenAndPositionEmbedding(T, V, D)(tok)
    for _ in range(blocks):
        x = TransformerBlock(D, 2, 2 * D, dropout, causal=True, pre_norm=True, activation="gelu", epsilon=1e-5,
                             attention_dropout=dropout)(x)
    out = layers.Dense(V, kernel_initializer="random_normal")(layers.LayerNormalization(epsilon=1e-5)(x))
    return bigcore.Model(tok, out)


def test_custom_layer_decoder_cached_logits_equal_the_full_model():
    model = custom_gpt()
    model.compile(optimizer="adam", loss=bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).integers(0, V, (64, T)).astype(np.float32)
    model.fit(x, np.roll(x, -1, 1), epochs=2, verbose=0)  # trained: the position table is not its initial one
    gen = Generator(model)
    seq = np.random.default_rng(1).integers(0, V, T)
    np.testing.assert_allclose(gen.logits(seq), full(model, seq), rtol=1e-4, atol=1e-4)
    # greedy generation equals running the full model on the growing sequence
    prompt, out = [3, 1, 4], []
    got = gen.generate(prompt, 6, temperature=0)
    for _ in range(6):
        out.append(int(np.argmax(full(model, prompt + out)[-1])))
    assert got == out


def test_custom_layer_ops_generation_cannot_follow_raise():
    from bigcore import ops

    class Scale(layers.Layer):  # a per-position op generation does not read
        def call(self, x):
            return ops.tanh(x)

    class Pooled(layers.Layer):  # mixes positions: not causal
        def call(self, x):
            return x + ops.mean(x, axis=1, keepdims=True)

    inp = bigcore.Input((T,))
    x = layers.Embedding(V, D)(inp)
    with pytest.raises(ValueError, match="'tanh'"):
        Generator(bigcore.Model(inp, layers.Dense(V)(Scale()(x))))
    with pytest.raises(ValueError, match="'mean'"):
        Generator(bigcore.Model(inp, layers.Dense(V)(Pooled()(x))))
