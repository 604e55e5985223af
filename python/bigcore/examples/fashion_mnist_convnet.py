"""Keras's first ConvNet on Fashion-MNIST: Conv2D(32, 3, relu) -> MaxPooling2D -> Conv2D(64, 3, relu)
-> MaxPooling2D -> Flatten -> Dropout(0.5) -> Dense(10, softmax); Adam, sparse categorical
cross-entropy, batch 128, validation_split=0.1; then the test accuracy, and that of the same model
quantized to int8 (bigcore.quantization.quantize: both convolutions and the Dense layer run the
exact int8 GEMM).

    python -m bigcore.examples.fashion_mnist_convnet [--epochs 2] [--batch-size 128]
"""

import argparse
import time

import bigcore
from bigcore import layers


def build_model():
    return bigcore.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--train-samples", type=int, default=None, help="use the first N training images only")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = bigcore.datasets.fashion_mnist.load_data()
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
    if args.train_samples:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.verbose:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.1,
              verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Training took {seconds:.1f} s on {bigcore.config.get_num_threads()} thread(s) "
          f"({bigcore.config.cpu_features()['isa']} kernels)")
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    qaccuracy = bigcore.quantization.quantize(model).evaluate(x_test, y_test, verbose=0)[1]
    print(f"int8 test accuracy: {qaccuracy:.4f} ({100 * (qaccuracy - accuracy):+.2f} points; "
          "bigcore.quantization.quantize)")
    return accuracy, qaccuracy


if __name__ == "__main__":
    main()
