"""A Transformer text classifier (the keras-io "text classification with Transformer" shape:
token + position embedding, one Transformer block, global average pooling, a small classifier),
beside an LSTM classifier on the same data.

The task: the review-like token streams of the text LSTM example (examples/text_lstm.py: a
10,000-word vocabulary, positive and negative words, "not" flipping and "very" doubling the next
sentiment word), each review labelled by its overall polarity (the running score at its end > 0).

The embedding and the block are custom layers (Layer subclasses whose call() is traced once into
the native program, README "Custom layers"):

    TokenAndPositionEmbedding  two Embeddings; the positions come from ops.arange inside call()
    TransformerBlock           MultiHeadAttention, Dropout, residual add, LayerNormalization, a
                               two-Dense feed-forward, Dropout, residual add, LayerNormalization
                               (post-norm as in the keras-io example; causal=True and
                               pre_norm=True give the decoder block examples/char_gpt.py uses)

    python -m bigcore.examples.text_transformer [--epochs 4] [--samples 6000] [--plot model.png]
"""

import argparse
import time

import numpy as np

import bigcore
from bigcore import layers, ops
from bigcore.examples.text_lstm import MAXLEN, VOCAB, make_reviews


def review_labels(n, seed):
    """(ids (n, MAXLEN), labels (n,)): the label at each review's last real token."""
    x, y = make_reviews(n, seed)
    last = np.maximum((x != 0).sum(1) - 1, 0)
    return x.astype(np.float32), y[np.arange(n), last, 1].astype(np.float32)


@bigcore.saving.register_keras_serializable(package="bigcore_examples")
class TokenAndPositionEmbedding(layers.Layer):
    """token_embedding(ids) + position_embedding(0..T-1): the positions are made inside call()."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim = maxlen, vocab_size, embed_dim
        self.token_emb = layers.Embedding(vocab_size, embed_dim, name="token_embedding")
        self.pos_emb = layers.Embedding(maxlen, embed_dim, name="position_embedding")

    def call(self, x):
        length = ops.shape(x)[-1]
        if length is None:
            raise ValueError(f"{self.name}: the input's length must be fixed (Input(shape=(T,)))")
        positions = self.pos_emb(ops.arange(0, length, 1))  # (T, d): broadcast over the batch
        return self.token_emb(x) + positions

    def get_config(self):
        return {**super().get_config(), "maxlen": self.maxlen, "vocab_size": self.vocab_size,
                "embed_dim": self.embed_dim}


@bigcore.saving.register_keras_serializable(package="bigcore_examples")
class TransformerBlock(layers.Layer):
    """Self-attention and a feed-forward network, each with dropout, a residual add and LayerNorm."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, causal=False, pre_norm=False, activation="relu",
                 epsilon=1e-6, attention_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim, self.rate = embed_dim, num_heads, ff_dim, rate
        self.causal, self.pre_norm, self.activation = causal, pre_norm, activation
        self.epsilon, self.attention_dropout = epsilon, attention_dropout
        self.att = layers.MultiHeadAttention(num_heads, embed_dim // num_heads, dropout=attention_dropout,
                                             name="attention")
        self.ff1 = layers.Dense(ff_dim, activation=activation, name="ff1")
        self.ff2 = layers.Dense(embed_dim, name="ff2")
        self.layernorm1 = layers.LayerNormalization(epsilon=epsilon, name="norm1")
        self.layernorm2 = layers.LayerNormalization(epsilon=epsilon, name="norm2")
        self.dropout1 = layers.Dropout(rate, name="dropout1")
        self.dropout2 = layers.Dropout(rate, name="dropout2")

    def call(self, inputs, training=None):
        if self.pre_norm:  # x + f(norm(x)): the GPT-2 arrangement
            h = self.layernorm1(inputs)
            x = inputs + self.dropout1(self.att(h, h, use_causal_mask=self.causal, training=training),
                                       training=training)
            f = self.ff2(self.ff1(self.layernorm2(x)))
            return x + self.dropout2(f, training=training)
        a = self.att(inputs, inputs, use_causal_mask=self.causal, training=training)
        x = self.layernorm1(inputs + self.dropout1(a, training=training))
        f = self.ff2(self.ff1(x))
        return self.layernorm2(x + self.dropout2(f, training=training))

    def get_config(self):
        return {**super().get_config(), "embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "ff_dim": self.ff_dim, "rate": self.rate, "causal": self.causal, "pre_norm": self.pre_norm,
                "activation": self.activation, "epsilon": self.epsilon,
                "attention_dropout": self.attention_dropout}


def build_transformer(d_model=32, heads=2, ff=32):
    tokens = bigcore.Input((MAXLEN,), name="tokens")
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB, d_model, name="token_and_position")(tokens)
    x = TransformerBlock(d_model, heads, ff, 0.1, name="block")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dense(20, activation="relu", name="hidden")(layers.Dropout(0.1)(x))
    out = layers.Dense(2, activation="softmax", name="classifier")(layers.Dropout(0.1)(x))
    model = bigcore.Model(tokens, out, name="text_transformer")
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
    model = build_transformer()
    if args.plot:
        bigcore.utils.plot_model(model, to_file=args.plot, show_shapes=True)
    results = {}
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    results["Transformer"] = (model.evaluate(x_test, y_test, verbose=0)[1], time.perf_counter() - start)
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
