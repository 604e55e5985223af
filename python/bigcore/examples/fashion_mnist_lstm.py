"""Fashion-MNIST as sequences: each image is 28 timesteps of 28 features.
LSTM(128) -> Dense(10, softmax), Adam, sparse categorical cross-entropy, batch 64, 3 epochs;
then the same model quantized to int8 (bigcore.quantization.quantize) is evaluated too.

    python -m bigcore.examples.fashion_mnist_lstm [--epochs 3] [--batch-size 64]
"""

import argparse
import time

import bigcore
from bigcore import layers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--train-samples", type=int, default=None, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = bigcore.datasets.fashion_mnist.load_data()
    x_train = x_train[:args.train_samples].astype("float32") / 255.0
    y_train = y_train[:args.train_samples]
    x_test = x_test.astype("float32") / 255.0

    model = bigcore.Sequential([
        layers.Input(shape=(28, 28)),
        layers.LSTM(128),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Training took {seconds:.1f} s on {bigcore.config.get_num_threads()} thread(s)")
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    qaccuracy = bigcore.quantization.quantize(model).evaluate(x_test, y_test, verbose=0)[1]
    print(f"int8 test accuracy: {qaccuracy:.4f} ({100 * (qaccuracy - accuracy):+.2f} points; "
          "bigcore.quantization.quantize)")
    return accuracy


if __name__ == "__main__":
    main()
