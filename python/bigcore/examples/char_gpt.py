"""A decoder-only character Transformer (a small GPT) trained on real English text available
offline, then sampled with the native key/value cache (one native call per generated character).

Corpus: the licence texts Debian's base-files package ships in /usr/share/common-licenses (GPL,
LGPL, GFDL, Apache, Artistic, BSD, MPL, CC0; about 270 KB). Each is the copyrighted text of its
publisher (the Free Software Foundation, the Apache Software Foundation, ...) whose notice allows
verbatim copying and distribution; the example only reads them. The last 10% of the characters
(by file, in name order) is the validation text.

Model: the custom layers of examples/text_transformer.py, TokenAndPositionEmbedding (positions
from ops.arange inside call()) and `--blocks` TransformerBlocks in their pre-norm causal form
(LayerNormalization, causal MultiHeadAttention, residual add, LayerNormalization, Dense(4 d, gelu),
Dense(d), residual add), then a final LayerNormalization and Dense(vocabulary) logits. The
Generator walks the blocks' traced subgraphs (models/generation.py).

    python -m bigcore.examples.char_gpt [--steps 600] [--blocks 2] [--d-model 128] [--context 64]
"""

import argparse
import glob
import math
import os
import time

import numpy as np

import bigcore
from bigcore import layers
from bigcore.examples.text_transformer import TokenAndPositionEmbedding, TransformerBlock
from bigcore.models.generation import Generator

CORPUS = "/usr/share/common-licenses"


def load_corpus(folder=CORPUS):
    """The texts, in name order, symlinks to files already read skipped; characters outside
    printable ASCII (and newline) become '?'."""
    seen, texts = set(), []
    for path in sorted(glob.glob(os.path.join(folder, "*"))):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        with open(real, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    if not texts:
        raise FileNotFoundError(f"char_gpt: no texts in {folder} (Debian's base-files package ships them)")
    text = "\n".join(texts)
    return "".join(c if c == "\n" or " " <= c <= "~" else "?" for c in text)


def build_model(vocab, context, d_model, heads, blocks, dropout=0.1):
    tok = bigcore.Input((context,), name="tokens")
    x = TokenAndPositionEmbedding(context, vocab, d_model, name="embed")(tok)
    for i in range(blocks):
        x = TransformerBlock(d_model, heads, 4 * d_model, dropout, causal=True, pre_norm=True, activation="gelu",
                             epsilon=1e-5, attention_dropout=dropout, name=f"block{i}")(x)
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    model = bigcore.Model(tok, layers.Dense(vocab, name="logits")(x), name="char_gpt")
    model.compile(optimizer=bigcore.optimizers.Adam(3e-3),
                  loss=bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def windows(ids, context, n, rng):
    """n random windows: inputs ids[s:s+context], targets ids[s+1:s+context+1]."""
    starts = rng.integers(0, len(ids) - context - 1, n)
    idx = starts[:, None] + np.arange(context)
    return ids[idx].astype(np.float32), ids[idx + 1].astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600, help="training batches")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--prompt", default="This License ")
    p.add_argument("--sample-chars", type=int, default=300)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    text = load_corpus()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], np.int64)
    cut = int(len(ids) * 0.9)
    train, val = ids[:cut], ids[cut:]
    print(f"corpus: {len(text)} characters from {CORPUS} (Debian base-files), {len(chars)} distinct; "
          f"validation: the last {len(val)}")

    rng = np.random.default_rng(args.seed)
    C = args.context
    x, y = windows(train, C, args.steps * args.batch_size, rng)
    starts = np.arange(0, len(val) - C - 1, C)  # the validation text in consecutive windows
    xv, yv = val[starts[:, None] + np.arange(C)].astype(np.float32), val[starts[:, None] + np.arange(1, C + 1)]
    model = build_model(len(chars), C, args.d_model, args.heads, args.blocks)
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - start
    val_loss = model.evaluate(xv, yv.astype(np.float32), verbose=0)
    val_loss = float(val_loss[0] if isinstance(val_loss, (list, tuple)) else val_loss)
    unigram = np.bincount(train, minlength=len(chars)) / len(train)
    unigram_bits = -np.sum(unigram * np.log2(np.maximum(unigram, 1e-12)))
    print(f"Training took {seconds:.1f} s ({args.steps} steps of {args.batch_size} x {C} characters)")
    print(f"Validation loss {val_loss:.4f} nats = {val_loss / math.log(2):.3f} bits per character "
          f"(character frequencies alone: {unigram_bits:.3f})")

    gen = Generator(model)
    seq = [index.get(c, index["?"]) for c in args.prompt][-C:]
    n, out, chunk = args.sample_chars, [], 0
    start = time.perf_counter()
    while len(out) < n:  # when the context is full, start again from its last half
        prompt = (seq + out)[-(C // 2):] if out else seq
        out += gen.generate(prompt, min(n - len(out), C - len(prompt) + 1), temperature=args.temperature,
                            top_k=args.top_k, seed=args.seed + chunk)
        chunk += 1
    ms = (time.perf_counter() - start) * 1e3 / max(1, n)
    print(f"Sample ({n} characters, temperature {args.temperature}, top_k {args.top_k}; {ms:.2f} ms a character "
          "with the key/value cache):")
    print(args.prompt + "".join(chars[i] for i in out))
    return val_loss / math.log(2)


if __name__ == "__main__":
    main()
