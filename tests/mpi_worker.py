"""Run by tests/test_distributed.py under `mpirun -np 2`: one scenario per argv[1], results under argv[2].

Not collected by pytest (no test_ prefix). `make_data` and `make_model` are shared with the
one-process reference the test computes itself.
"""

import os
import signal
import sys
import time

import numpy as np

import bigcore
from bigcore import distributed, layers

N, D, C = 205, 12, 4  # 205 rows: the last global batch of 40 has 5, split 2 / 3 over two ranks


def make_data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.integers(0, C, N)
    return x, y


def make_model(dropout, optimizer="adam"):
    bigcore.utils.set_random_seed(11)
    model = bigcore.Sequential([
        layers.Input((D,)),
        layers.Dense(16, activation="tanh", kernel_regularizer=bigcore.regularizers.l2(1e-2)),
        layers.Dropout(dropout),
        layers.Dense(C, activation="softmax"),
    ])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def dataset(x, y):
    """The same batches as a bigcore.data pipeline (converted batch by batch, not gathered natively)."""
    return bigcore.data.Dataset.from_tensor_slices((x, y)).batch(40)


def train(out, dropout):
    """fit on the global batch 40 (20 per rank) with validation and rank-0-only writers."""
    strategy = distributed.DataParallel(timeout=60)
    r = distributed.rank()
    x, y = make_data()
    with strategy.scope():
        model = make_model(dropout)
    csv = bigcore.callbacks.CSVLogger(os.path.join(out, f"log_rank{r}.csv"))
    ckpt = bigcore.callbacks.ModelCheckpoint(os.path.join(out, f"ckpt_rank{r}.weights.safetensors"), save_weights_only=True)
    stop = bigcore.callbacks.EarlyStopping(monitor="loss", patience=100, verbose=1)
    h = model.fit(x, y, batch_size=40, epochs=3, verbose=2, validation_split=0.2, callbacks=[csv, ckpt, stop])
    ev = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    with strategy.scope():
        streamed = make_model(dropout)
    streamed.fit(dataset(x, y), epochs=2, verbose=0)
    np.savez(os.path.join(out, f"rank{r}.npz"), params=model._program.native.params(),
             streamed=streamed._program.native.params(),
             loss=h.history["loss"], accuracy=h.history["accuracy"], val_loss=h.history["val_loss"],
             val_accuracy=h.history["val_accuracy"], eval_loss=ev["loss"], eval_accuracy=ev["accuracy"],
             world=distributed.world_size())


def ema_optimizer():
    return bigcore.optimizers.Adam(use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=4)


def train_ema(out):
    """use_ema with SwapEMAWeights: the averages (an optimizer slot) stay the same on every rank."""
    strategy = distributed.DataParallel(timeout=60)
    x, y = make_data()
    with strategy.scope():
        model = make_model(0.3, ema_optimizer())
    h = model.fit(x, y, batch_size=40, epochs=3, verbose=0, validation_split=0.2,
                  callbacks=[bigcore.callbacks.SwapEMAWeights()])
    native = model._program.native
    np.savez(os.path.join(out, f"rank{distributed.rank()}.npz"), params=native.params(),
             average=native.opt_slot(model.optimizer.slots - 1), val_loss=h.history["val_loss"])


def hang(out):
    """Rank 1 never reaches fit: rank 0's first collective must raise within the timeout."""
    strategy = distributed.DataParallel(timeout=3, catchable=True)
    x, y = make_data()
    with strategy.scope():
        model = make_model(0.0)
    if distributed.rank() == 1:
        time.sleep(120)
    start = time.monotonic()
    try:
        model.fit(x, y, batch_size=40, epochs=1, verbose=0)
    except distributed.DistributedError:
        with open(os.path.join(out, "timed_out"), "w") as f:
            f.write(f"{time.monotonic() - start:.3f}")
        raise


def skip_step(out):
    """Rank 1 runs one step fewer than rank 0: rank 0's watchdog must abort its last all-reduce."""
    strategy = distributed.DataParallel(timeout=3)
    x, y = make_data()
    with strategy.scope():
        model = make_model(0.0)
    steps = 3 if distributed.rank() == 0 else 2
    for i in range(steps):
        model.train_on_batch(x[i * 40:(i + 1) * 40], y[i * 40:(i + 1) * 40])
    if distributed.rank() == 1:
        time.sleep(120)


class _Die(bigcore.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and distributed.rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)


def die(out):
    """Rank 1 is killed mid-epoch."""
    strategy = distributed.DataParallel(timeout=30)
    x, y = make_data()
    with strategy.scope():
        model = make_model(0.0)
    model.fit(x, y, batch_size=40, epochs=50, verbose=0, callbacks=[_Die()])


def mismatch(out):
    """Rank 1 passes fewer rows: both ranks must refuse to train."""
    strategy = distributed.DataParallel(timeout=30)
    x, y = make_data()
    n = N if distributed.rank() == 0 else N - 40
    with strategy.scope():
        model = make_model(0.0)
    try:
        model.fit(x[:n], y[:n], batch_size=40, epochs=1, verbose=0)
    except ValueError as e:
        with open(os.path.join(out, f"refused{distributed.rank()}"), "w") as f:
            f.write(str(e))


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "train":
        train(out, float(sys.argv[3]))
    else:
        globals()[mode](out)
