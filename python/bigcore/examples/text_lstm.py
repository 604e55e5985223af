"""The seed text model (Keras functional API): Embedding(10000, 64) -> LSTM(64,
return_sequences=True) -> Dense(2, softmax) per timestep, trained on a sequence-labelling task.

The task is synthetic but shaped like real sentiment tagging: review-like token streams over a
10,000-word vocabulary with positive and negative words, negators ("not" flips the next
sentiment word) and intensifiers ("very" doubles it), padded to 100 tokens. The label at each
timestep is the polarity of the text read so far, so the model needs memory across the
sequence; a bag-of-words model cannot do it.

    python -m bigcore.examples.text_lstm [--epochs 10] [--samples 5000] [--plot model.png]
"""

import argparse
import time

import numpy as np

import bigcore
from bigcore import layers

VOCAB, MAXLEN = 10000, 100
PAD, NOT, VERY = 0, 1, 2
POSITIVE = np.arange(10, 60)     # 50 positive words
NEGATIVE = np.arange(60, 110)    # 50 negative words


def make_reviews(n, seed):
    """(ids (n, 100), one-hot labels (n, 100, 2)); label 1 where the running polarity is > 0."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], []
    for _ in range(n):
        length = int(rng.integers(20, MAXLEN + 1))
        ids = rng.integers(110, VOCAB, size=length)          # neutral words
        kinds = rng.random(length)
        ids[kinds < 0.12] = rng.choice(POSITIVE, size=int((kinds < 0.12).sum()))
        ids[(kinds >= 0.12) & (kinds < 0.24)] = rng.choice(NEGATIVE, size=int(((kinds >= 0.12) & (kinds < 0.24)).sum()))
        ids[(kinds >= 0.24) & (kinds < 0.30)] = NOT
        ids[(kinds >= 0.30) & (kinds < 0.34)] = VERY
        score, flip, boost, y = 0, 1, 1, np.zeros(length, np.int64)
        for t, w in enumerate(ids):
            if w == NOT:
                flip = -flip
            elif w == VERY:
                boost = 2
            elif w < 110:
                score += flip * boost * (1 if w < 60 else -1)
                flip, boost = 1, 1
            y[t] = score > 0
        seqs.append(ids)
        labels.append(y)
    x = bigcore.utils.pad_sequences(seqs, maxlen=MAXLEN, padding="post", value=PAD)
    y = bigcore.utils.pad_sequences(labels, maxlen=MAXLEN, padding="post", value=0)
    return x, bigcore.utils.to_categorical(y, 2)


def build_model():
    inputs = bigcore.Input(shape=(MAXLEN,))
    x = layers.Embedding(VOCAB, 64)(inputs)
    x = layers.LSTM(64, return_sequences=True)(x)
    x = layers.Dense(2, activation="softmax")(x)
    model = bigcore.Model(inputs, x)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--plot", default=None, help="draw the model to this file (needs bigcore[plot])")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    x_train, y_train = make_reviews(args.samples, args.seed)
    x_test, y_test = make_reviews(max(1, args.samples // 5), args.seed + 1)
    model = build_model()
    if args.plot:
        bigcore.utils.plot_model(model, to_file=args.plot, show_shapes=True)
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    majority = max(y_test[..., 1].mean(), 1 - y_test[..., 1].mean())
    print(f"Training took {seconds:.1f} s")
    print(f"Test per-token accuracy: {accuracy:.4f} (always guessing the majority label: {majority:.4f})")
    return accuracy


if __name__ == "__main__":
    main()
