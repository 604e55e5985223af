"""A Transformer text classifier (the keras-io "text classification with Transformer" shape:
token + position embedding, one Transformer block, global average pooling, a small classifier),
beside an LSTM classifier on the same data.

The task: the review-like token streams of the text LSTM example (examples/text_lstm.py: a
10,000-word vocabulary, positive and negative words, "not" flipping and "very" doubling the next
sentiment word), each review labelled by its overall polarity (the running score at its end > 0).

Both models use the functional API and built-in layers: the block is MultiHeadAttention, Dropout,
a residual Add, LayerNormalization, a Dense feed-forward, Dropout, Add, LayerNormalization; the
position embedding reads a second input holding 0..maxlen-1.

    python -m bigcore.examples.text_transformer [--epochs 4] [--samples 6000] [--plot model.png]
"""

import argparse
import time

import numpy as np

import bigcore
from bigcore import layers
from bigcore.examples.text_lstm import MAXLEN, VOCAB, make_reviews


def review_labels(n, seed):
    """(ids (n, MAXLEN), labels (n,)): the label at each review's last real token."""
    x, y = make_reviews(n, seed)
    last = np.maximum((x != 0).sum(1) - 1, 0)
    return x.astype(np.float32), y[np.arange(n), last, 1].astype(np.float32)


def transformer_block(x, d_model, heads, ff, dropout, name):
    a = layers.MultiHeadAttention(heads, d_model // heads, name=f"{name}_attention")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(
        layers.Add(name=f"{name}_add1")([x, layers.Dropout(dropout, name=f"{name}_dropout1")(a)]))
    f = layers.Dense(ff, activation="relu", name=f"{name}_ff1")(x)
    f = layers.Dropout(dropout, name=f"{name}_dropout2")(layers.Dense(d_model, name=f"{name}_ff2")(f))
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(layers.Add(name=f"{name}_add2")([x, f]))


def build_transformer(d_model=32, heads=2, ff=32):
    tokens, positions = bigcore.Input((MAXLEN,), name="tokens"), bigcore.Input((MAXLEN,), name="positions")
    x = layers.Add(name="token_and_position")([layers.Embedding(VOCAB, d_model, name="token_embedding")(tokens),
                                               layers.Embedding(MAXLEN, d_model, name="position_embedding")(positions)])
    x = transformer_block(x, d_model, heads, ff, 0.1, "block")
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dense(20, activation="relu", name="hidden")(layers.Dropout(0.1)(x))
    out = layers.Dense(2, activation="softmax", name="classifier")(layers.Dropout(0.1)(x))
    model = bigcore.Model([tokens, positions], out, name="text_transformer")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_lstm():
    tokens = bigcore.Input((MAXLEN,))
    x = layers.LSTM(64)(layers.Embedding(VOCAB, 64, mask_zero=True)(tokens))
    model = bigcore.Model(tokens, layers.Dense(2, activation="softmax")(x), name="text_lstm")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-lstm", action="store_true", help="skip the LSTM beside it")
    p.add_argument("--plot", default=None, help="draw the Transformer to this file (needs bigcore[plot])")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    x_train, y_train = review_labels(args.samples, args.seed)
    x_test, y_test = review_labels(max(1, args.samples // 5), args.seed + 1)
    pos_train = np.tile(np.arange(MAXLEN, dtype=np.float32), (len(x_train), 1))
    pos_test = pos_train[:len(x_test)]
    model = build_transformer()
    if args.plot:
        bigcore.utils.plot_model(model, to_file=args.plot, show_shapes=True)
    results = {}
    start = time.perf_counter()
    model.fit([x_train, pos_train], y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    results["Transformer"] = (model.evaluate([x_test, pos_test], y_test, verbose=0)[1], time.perf_counter() - start)
    if not args.no_lstm:
        lstm = build_lstm()
        start = time.perf_counter()
        lstm.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
        results["LSTM"] = (lstm.evaluate(x_test, y_test, verbose=0)[1], time.perf_counter() - start)
    majority = max(y_test.mean(), 1 - y_test.mean())
    for name, (acc, seconds) in results.items():
        print(f"{name:12s} test accuracy {acc:.4f} (training {seconds:.1f} s)")
    print(f"{'majority':12s} test accuracy {majority:.4f}")
    return results["Transformer"][0]


if __name__ == "__main__":
    main()
