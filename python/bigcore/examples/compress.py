"""Compression pipeline on the seed MLP (Fashion-MNIST): train -> evaluate -> prune to 80% while
fine-tuning -> strip -> quantize to int8; each stage evaluated and saved, with file sizes and ratios.

    python -m bigcore.examples.compress [--epochs 5] [--finetune-epochs 3] [--sparsity 0.8] [--out DIR]

Pruning follows a PolynomialDecay schedule from 0 to the target sparsity over the first
fine-tuning epoch (a mask update every 100 steps), then fine-tunes at the target. Files are
saved without optimizer state so that the sizes compare the models themselves.
"""

import argparse
import math
import os
import tempfile
import time

import bigcore
from bigcore import compression, layers
from bigcore.sparse_select import format_report


def _mlp():
    return bigcore.Sequential([
        layers.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--sparsity", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None, help="directory for the saved models (default: a temporary one)")
    p.add_argument("--verbose", type=int, default=1)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = bigcore.datasets.fashion_mnist.load_data()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    fit_verbose = 2 if args.verbose else 0

    start = time.perf_counter()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.2,
              verbose=fit_verbose)

    steps_per_epoch = math.ceil(0.8 * len(x_train) / args.batch_size)
    schedule = compression.PolynomialDecay(0.0, args.sparsity, begin_step=0, end_step=steps_per_epoch, frequency=100)
    pruned = compression.prune_low_magnitude(model, pruning_schedule=schedule)  # a copy, compiled with a fresh Adam
    pruned.fit(x_train, y_train, epochs=args.finetune_epochs, batch_size=args.batch_size, validation_split=0.2,
               verbose=fit_verbose)  # the masks follow the schedule (a program step hook)
    stripped = compression.strip_pruning(pruned, sparse_kernels=True)  # sparse kernels where faster here
    # control: the float model fine-tuned as long without pruning (what the extra epochs alone give)
    control = compression.pruning._clone(model)
    control.fit(x_train, y_train, epochs=args.finetune_epochs, batch_size=args.batch_size, validation_split=0.2,
                verbose=0)
    quantized = bigcore.quantization.quantize(stripped)
    seconds = time.perf_counter() - start

    stages = [("float32", model), ("pruned", stripped), ("pruned+int8", quantized)]
    out = args.out or tempfile.mkdtemp(prefix="bigcore_compress_")
    os.makedirs(out, exist_ok=True)
    results = {}
    for name, m in stages:
        _, acc = m.evaluate(x_test, y_test, batch_size=256, verbose=0)
        path = os.path.join(out, f"mlp_{name.replace('+', '_')}.bigcore")
        m.save(path, include_optimizer=False)
        results[name] = {"accuracy": float(acc), "bytes": os.path.getsize(path), "path": path}
    _, control_acc = control.evaluate(x_test, y_test, batch_size=256, verbose=0)
    results["float32"]["control_accuracy"] = float(control_acc)
    if args.verbose:
        compression.summary(quantized)
    base = results["float32"]
    print(f"Pipeline took {seconds:.1f} s; sparsity {args.sparsity:.0%}; files in {out}")
    print(f"{'stage':<12} {'test accuracy':>13} {'delta (pt)':>10} {'file bytes':>11} {'smaller by':>10}")
    for name, r in results.items():
        r["delta_points"] = 100 * (r["accuracy"] - base["accuracy"])
        r["ratio"] = base["bytes"] / r["bytes"]
        print(f"{name:<12} {r['accuracy']:>13.4f} {r['delta_points']:>+10.2f} {r['bytes']:>11,} {r['ratio']:>9.2f}x")
    print(f"(control: the float32 model fine-tuned {args.finetune_epochs} more epochs without pruning reaches "
          f"{control_acc:.4f})")
    for name, m in stages[1:]:
        print(f"kernels chosen for {name} (time per call on this CPU):")
        print(format_report(m.sparsify_report))
    return results


if __name__ == "__main__":
    main()
