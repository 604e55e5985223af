"""The seed MLP (examples/mnist_mlp.py) trained data-parallel with bigcore.distributed.

The same script runs as one process or as N MPI ranks; --batch-size is the global batch, so
both runs train the same model on the same batches and reach the same test accuracy:

    python -m bigcore.examples.mnist_mlp_distributed
    mpirun -np 2 python -m bigcore.examples.mnist_mlp_distributed
"""

import argparse
import time

import bigcore
from bigcore import distributed, layers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32, help="the global batch, split across ranks")
    p.add_argument("--dataset", choices=["fashion_mnist", "mnist"], default="fashion_mnist")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for another rank")
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    strategy = distributed.DataParallel(timeout=args.timeout)
    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = getattr(bigcore.datasets, args.dataset).load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0

    with strategy.scope():
        model = bigcore.Sequential([
            layers.Input(shape=(784,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    lead = distributed.rank() == 0
    if args.verbose and lead:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.2,
              verbose=args.verbose)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)  # sharded over the ranks, then reduced
    if lead:
        ranks = distributed.world_size()
        print(f"Training took {seconds:.1f} s on {ranks} rank(s) x {bigcore.config.get_num_threads()} thread(s) "
              f"({bigcore.config.cpu_features()['isa']} kernels); {args.epochs * 48000 / seconds:.0f} samples/s")
        if ranks > 1:
            print(f"All-reduce: {strategy.comm_seconds / max(1, strategy.comm_calls) * 1e3:.3f} ms per step "
                  f"({strategy.comm_seconds:.1f} s of {seconds:.1f} s)")
        print(f"Test loss: {loss:.4f}")
        print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
