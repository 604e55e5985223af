"""Custom layers and a subclassed model on variable-length text (issue #17's extension points).

The task: token sequences of any length over a small vocabulary; the label says whether the token
"up" (id 1) occurs more often than "down" (id 2), with "not" (id 3) flipping the next one. Batches
of one length each (buckets of 8..40 tokens) go through ONE native program: the model's input is
Input(shape=(None,)), and call() is traced once.

    SelfAttention     a custom Layer: q/k/v projections from add_weight, softmax(q k^T / sqrt(d)) v
                      with bigcore.ops, a residual sum
    TextClassifier    a subclassed Model: Embedding -> SelfAttention -> masked mean -> Dense

    python -m bigcore.examples.custom_layers [--epochs 6] [--samples 3000] [--save model.bigcore]
"""

import argparse

import numpy as np

import bigcore
from bigcore import layers, ops

VOCAB, PAD, UP, DOWN, NOT = 50, 0, 1, 2, 3


def make_data(n, seed):
    """Buckets {length: (ids (m, length), labels (m,))} of random sequences of 8..40 tokens."""
    rng = np.random.default_rng(seed)
    buckets = {}
    for _ in range(n):
        length = int(rng.choice([8, 16, 24, 40]))
        ids = rng.integers(4, VOCAB, length)
        kinds = rng.random(length)
        ids[kinds < 0.15] = UP
        ids[(kinds >= 0.15) & (kinds < 0.30)] = DOWN
        ids[(kinds >= 0.30) & (kinds < 0.36)] = NOT
        score, flip = 0, 1
        for w in ids:
            if w == NOT:
                flip = -1
                continue
            if w in (UP, DOWN):
                score += flip * (1 if w == UP else -1)
            flip = 1
        buckets.setdefault(length, ([], []))
        buckets[length][0].append(ids)
        buckets[length][1].append(int(score > 0))
    return {k: (np.array(v[0], np.float32), np.array(v[1], np.int64)) for k, v in sorted(buckets.items())}


@bigcore.saving.register_keras_serializable(package="examples")
class SelfAttention(layers.Layer):
    """One head of self-attention with a residual sum: x + softmax(q k^T / sqrt(d)) v."""

    def __init__(self, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.key_dim = key_dim

    def build(self, input_shape):
        d = input_shape[-1]
        self.wq = self.add_weight(shape=(d, self.key_dim), name="wq")
        self.wk = self.add_weight(shape=(d, self.key_dim), name="wk")
        self.wv = self.add_weight(shape=(d, d), name="wv")

    def call(self, x):
        q, k, v = ops.matmul(x, self.wq), ops.matmul(x, self.wk), ops.matmul(x, self.wv)
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / float(np.sqrt(self.key_dim))
        return x + ops.matmul(ops.softmax(scores, axis=-1), v)

    def get_config(self):
        return {**super().get_config(), "key_dim": self.key_dim}


@bigcore.saving.register_keras_serializable(package="examples")
class TextClassifier(bigcore.Model):
    def __init__(self, dim=32, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.embed = layers.Embedding(VOCAB, dim)
        self.attend = SelfAttention(16)
        self.attend2 = SelfAttention(16)
        self.head = layers.Dense(2, activation="softmax")

    def call(self, ids):
        h = self.attend2(self.attend(self.embed(ids)))
        keep = ops.expand_dims(ops.cast(ops.not_equal(ids, PAD), "float32"), -1)
        pooled = ops.sum(h * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0)
        return self.head(pooled)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--samples", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--save", default=None, help="save the model here (.bigcore) and check the round trip")
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(0)
    train, test = make_data(args.samples, 0), make_data(max(args.samples // 4, 200), 1)
    model = TextClassifier()
    model.build((None, None))  # any length; one program for every bucket
    model.compile(bigcore.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.verbose:
        model.summary()
    for epoch in range(args.epochs):
        for x, y in train.values():
            model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)
        if args.verbose:
            accs = {t: model.evaluate(x, y, verbose=0)[1] for t, (x, y) in test.items()}
            print(f"epoch {epoch + 1}: test accuracy by length " + ", ".join(f"{t}: {a:.3f}" for t, a in accs.items()))
    n = sum(len(y) for _, y in test.values())
    correct = sum(model.evaluate(x, y, verbose=0)[1] * len(y) for x, y in test.values())
    accuracy = correct / n
    majority = max(np.mean(np.concatenate([y for _, y in test.values()])), 0.5)
    print(f"Test accuracy: {accuracy:.4f} (majority label: {majority:.4f})")
    if args.save:
        model.save(args.save)
        again = bigcore.saving.load_model(args.save)
        x, _ = next(iter(test.values()))
        same = np.array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
        print(f"saved to {args.save}; reloaded predictions identical: {same}")
    return accuracy


if __name__ == "__main__":
    main()
