"""The benchmark MLP (784-128-128-10, relu, relu, softmax; Adam; sparse categorical CE), shared
by bench_mlp.py and compare_torch.py, plus the raw native train-step call that fit() makes."""

import numpy as np

import bigcore
from bigcore import layers
from bigcore._native import _core
from bigcore.models import data_adapter

SIZES = (784, 128, 128, 10)


def build_mlp(seed=0, sizes=SIZES):
    """A fresh compiled MLP (relu between, softmax out); the same seed gives the same weights (and,
    trained, the same bits). `sizes` (in, hidden..., classes): scaling_table.py widens the hidden."""
    bigcore.utils.set_random_seed(seed)
    # Functional form: Sequential([Input(...), Dense, ...]) is the Keras idiom, but the
    # Input-first Sequential path raised "has no layers" when this was written.
    inp = h = bigcore.Input((sizes[0],))
    for width in sizes[1:-1]:
        h = layers.Dense(width, activation="relu")(h)
    out = layers.Dense(sizes[-1], activation="softmax")(h)
    model = bigcore.Model(inp, out)
    model.compile(optimizer=bigcore.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def forward_flops(batch, sizes=SIZES):
    """Matmul FLOPs of one forward pass: 2*B*sum(in*out)."""
    return 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def train_flops(batch, sizes=SIZES):
    """FLOPs of one training step: forward 2*B*sum(in*out), backward twice that, less the
    input gradient of the first layer (nothing consumes it)."""
    return 3 * forward_flops(batch, sizes) - 2 * batch * sizes[0] * sizes[1]


def synthetic_data(n, seed=0):
    """x ~ N(0, 1) and labels from a random linear teacher: a problem the MLP can learn.
    (Uniform [0, 1) inputs with random labels kill most ReLUs within an epoch; the all-zero
    gradients then decay Adam's moments into denormals and every later step runs ~3x slower,
    which measures the denormal penalty, not the steady state.)"""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    teacher = rng.standard_normal((SIZES[0], SIZES[-1]), dtype=np.float32)
    return x, np.argmax(x @ teacher, axis=1)


def param_slice(model, shape):
    """The arena range of the first weight of this shape, e.g. (784, 128): the first kernel."""
    for w, off in model._native().weights:
        if tuple(w.shape) == tuple(shape):
            return slice(off, off + w.value.size)
    raise KeyError(f"no weight of shape {shape}")


class RawTrainer:
    """The per-batch native call of Trainer.fit without the Python loop around it (no callbacks,
    no logs): `step(start, count)` trains on rows idx[start:start+count] of one epoch's shuffle."""

    def __init__(self, model, x, y, epoch=0):
        self.model = model
        self.xs = data_adapter.prepare_inputs(model, x)
        self.n = self.xs[0].shape[0]
        model._native()
        self.ys = data_adapter.prepare_targets(model, y, self.n)
        self.native = model._program.native
        self.opt = model.optimizer
        self.idx = _core.permutation(self.n, model._seed, model._shuffle_stream, epoch)
        self.src = self.native.bind(self.xs, self.ys)  # the arrays checked once, as fit does

    def step(self, start, count):
        opt = self.opt
        self.native.train_step(self.src, self.idx, start, count, opt._current_lr(), self.model._seed,
                               opt.iterations, self.model._stats)
        opt.iterations += 1
