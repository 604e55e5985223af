"""Regression: Boston Housing prices with an L2-regularized MLP, MSE loss, EarlyStopping on the
validation loss (restoring the best weights) and the loss curves drawn with plot_history.

    python -m bigcore.examples.regression [--plot history.png]

Boston Housing comes from bigcore.datasets.boston_housing (local copy, cache, or download). Where
it cannot be had (no network), the example says so and uses a generated housing-like data set
with the same shape (13 features, a nonlinear price), so it still runs end to end.
"""

import argparse

import numpy as np

import bigcore
from bigcore import layers, regularizers


def housing_like(n=506, seed=113):
    """13 features and a price with interactions and noise, standing in for Boston Housing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 13)).astype(np.float32)
    w = rng.normal(size=13)
    price = 22 + 3 * x @ w / np.sqrt(13) + 2 * np.tanh(x[:, 0] * x[:, 5]) - 1.5 * x[:, 12] ** 2 / 2
    y = (price + rng.normal(scale=1.0, size=n)).astype(np.float32)
    cut = int(n * 0.8)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def load():
    try:
        return bigcore.datasets.boston_housing.load_data(), "Boston Housing"
    except (OSError, ValueError) as e:
        print(f"Boston Housing is not available here ({type(e).__name__}); using a generated housing-like set")
        return housing_like(), "generated housing-like data"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--plot", default=None, help="write the loss curves here (needs bigcore[plot])")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--verbose", type=int, default=0)
    args = p.parse_args(argv)

    bigcore.utils.set_random_seed(args.seed)
    ((x_train, y_train), (x_test, y_test)), name = load()
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8  # standardize with training statistics
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = bigcore.Sequential([
        layers.Input(shape=(13,)),
        layers.Dense(64, activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
        layers.Dense(64, activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
        layers.Dense(1),
    ])
    model.compile(optimizer=bigcore.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    stop = bigcore.callbacks.EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True)
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=16, validation_split=0.2,
                        callbacks=[stop], verbose=args.verbose)
    loss, mae = model.evaluate(x_test, y_test, verbose=0)
    baseline = float(np.abs(y_test - y_train.mean()).mean())
    print(f"{name}: trained {len(history.history['loss'])} epochs (early stopping, best weights restored)")
    print(f"Test MSE: {loss:.3f}  Test MAE: {mae:.3f}  (predicting the mean price: MAE {baseline:.3f})")
    if args.plot:
        bigcore.utils.plot_history(history, to_file=args.plot)
        print(f"Loss curves written to {args.plot}")
    return mae, baseline


if __name__ == "__main__":
    main()
