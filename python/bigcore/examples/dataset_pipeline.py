"""A bigcore.data pipeline feeding fit: Fashion-MNIST images kept as uint8, converted to floats in
a `map` on the fly, shuffled, batched and prefetched on a background thread while the native
step trains; the seed MLP on top.

    python -m bigcore.examples.dataset_pipeline [--epochs 3]
"""

import argparse
import time

import numpy as np

import bigcore
from bigcore import layers
from bigcore.data import AUTOTUNE, Dataset


def to_float(images, labels):
    """uint8 (B, 28, 28) -> float32 (B, 784) in [0, 1]; runs on the prefetch thread."""
    return images.reshape(len(images), 784).astype(np.float32) / 255.0, labels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = bigcore.datasets.fashion_mnist.load_data()
    train = (Dataset.from_tensor_slices((x_train, y_train))
             .shuffle(len(x_train), seed=args.seed)
             .batch(args.batch_size)
             .map(to_float)
             .prefetch(AUTOTUNE))
    test = Dataset.from_tensor_slices((x_test, y_test)).batch(256).map(to_float)

    model = bigcore.Sequential([
        layers.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(train, epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(test, verbose=0)
    print(f"Training from the pipeline took {seconds:.1f} s")
    print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
