"""The seed MLP on Fashion-MNIST: Dense(128, relu) -> Dense(128, relu) -> Dense(10, softmax),
Adam, sparse categorical cross-entropy, batch 32, 5 epochs, validation_split=0.2; then the same
model quantized to int8 (bigcore.quantization.quantize) is evaluated too.

    python -m bigcore.examples.mnist_mlp [--epochs 5] [--batch-size 32] [--dataset fashion_mnist]
"""

import argparse
import time

import bigcore
from bigcore import layers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dataset", choices=["fashion_mnist", "mnist"], default="fashion_mnist")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = getattr(bigcore.datasets, args.dataset).load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

    model = bigcore.Sequential([
        layers.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.verbose:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_split=0.2, verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Training took {seconds:.1f} s on {bigcore.config.get_num_threads()} thread(s) "
          f"({bigcore.config.cpu_features()['isa']} kernels)")
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    qaccuracy = bigcore.quantization.quantize(model).evaluate(x_test, y_test, verbose=0)[1]
    print(f"int8 test accuracy: {qaccuracy:.4f} ({100 * (qaccuracy - accuracy):+.2f} points; "
          "bigcore.quantization.quantize)")
    return accuracy


if __name__ == "__main__":
    main()
