"""One model three ways, trained side by side (issue #17's speed target): a gated-residual MLP on
synthetic data written (a) from bigcore's built-in layers, (b) as a custom Layer with
add_weight + bigcore.ops (traced into the same native program), (c) as the same composition in
PyTorch eager (nn.Module, torch ops, torch.optim.Adam).

    PYTHONPATH=python python bench/compare_custom.py [--batch-size 64] [--steps 200] [--width 256]
                                                     [--repeats 3] [--threads N]

The block is  h = relu(x W1 + b1);  y = h + sigmoid(h Wg + bg) * tanh(h Wt + bt)  twice, then a
softmax head and sparse categorical cross-entropy, Adam. Times are medians of fit() over the same
batches (fresh model per repeat, the variants alternating so machine load hits all alike).
Targets: custom / built-in <= 1.3, custom faster than PyTorch eager. Do not quote figures taken
while other jobs load the machine.
"""

import argparse
import statistics
import time

import numpy as np

import bigcore
from bigcore import layers, ops

try:
    import torch
except ImportError:
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=200, help="training steps per timed fit")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    return p.parse_args()


class GatedBlock(layers.Layer):
    """y = h + sigmoid(h Wg + bg) * tanh(h Wt + bt), from add_weight and bigcore.ops."""

    def build(self, input_shape):
        d = input_shape[-1]
        self.wg = self.add_weight(shape=(d, d), name="wg")
        self.bg = self.add_weight(shape=(d,), initializer="zeros", name="bg")
        self.wt = self.add_weight(shape=(d, d), name="wt")
        self.bt = self.add_weight(shape=(d,), initializer="zeros", name="bt")

    def call(self, h):
        gate = ops.sigmoid(ops.matmul(h, self.wg) + self.bg)
        return h + gate * ops.tanh(ops.matmul(h, self.wt) + self.bt)


class CustomDense(layers.Layer):
    def __init__(self, units, activation, **kw):
        super().__init__(**kw)
        self.units, self.activation = units, activation

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, x):
        y = ops.matmul(x, self.w) + self.b
        return ops.relu(y) if self.activation == "relu" else ops.softmax(y)


def builtin_model(a):
    x = bigcore.Input((a.features,))
    h = layers.Dense(a.width, activation="relu")(x)
    for _ in range(2):
        gate = layers.Dense(a.width, activation="sigmoid")(h)
        t = layers.Dense(a.width, activation="tanh")(h)
        h = layers.Add()([h, layers.Multiply()([gate, t])])
    return bigcore.Model(x, layers.Dense(a.classes, activation="softmax")(h))


def custom_model(a):
    x = bigcore.Input((a.features,))
    h = CustomDense(a.width, "relu")(x)
    for _ in range(2):
        h = GatedBlock()(h)
    return bigcore.Model(x, CustomDense(a.classes, "softmax")(h))


def time_bigcore(make, a, x, y):
    bigcore.utils.set_random_seed(0)
    m = make(a)
    m.compile(bigcore.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    m.fit(x[:4 * a.batch_size], y[:4 * a.batch_size], batch_size=a.batch_size, epochs=1, verbose=0)  # warm
    t = time.perf_counter()
    m.fit(x, y, batch_size=a.batch_size, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - t, m


def time_torch(a, x, y):
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = torch.nn.Linear(a.features, a.width)
            self.g = torch.nn.ModuleList(torch.nn.Linear(a.width, a.width) for _ in range(2))
            self.t = torch.nn.ModuleList(torch.nn.Linear(a.width, a.width) for _ in range(2))
            self.out = torch.nn.Linear(a.width, a.classes)

        def forward(self, v):
            h = torch.relu(self.inp(v))
            for g, t in zip(self.g, self.t):
                h = h + torch.sigmoid(g(h)) * torch.tanh(t(h))
            return self.out(h)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(n):
        for s in range(0, n, a.batch_size):
            opt.zero_grad()
            loss = loss_fn(net(xt[s:s + a.batch_size]), yt[s:s + a.batch_size])
            loss.backward()
            opt.step()

    epoch(4 * a.batch_size)
    t = time.perf_counter()
    epoch(len(x))
    return time.perf_counter() - t


def main():
    a = parse_args()
    if a.threads:
        bigcore.config.set_num_threads(a.threads)
        if torch is not None:
            torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    n = a.steps * a.batch_size
    x = rng.normal(size=(n, a.features)).astype(np.float32)
    y = rng.integers(0, a.classes, n).astype(np.int64)
    times = {"built-in": [], "custom": [], "torch eager": []}
    for _ in range(a.repeats):
        tb, mb = time_bigcore(builtin_model, a, x, y)
        tc, mc = time_bigcore(custom_model, a, x, y)
        times["built-in"].append(tb)
        times["custom"].append(tc)
        if torch is not None:
            times["torch eager"].append(time_torch(a, x, y))
    print(f"gated MLP {a.features}-{a.width}x2-{a.classes}, batch {a.batch_size}, {a.steps} steps, "
          f"threads {bigcore.config.get_num_threads()}")
    print("custom model's ops:", mc._native().native.op_kinds())
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for k, v in med.items():
        print(f"  {k:12s} {v * 1e3 / a.steps:8.3f} ms/step (median of {len(times[k])})")
    print(f"custom / built-in: {med['custom'] / med['built-in']:.2f}x (target <= 1.3)")
    if "torch eager" in med:
        print(f"torch eager / custom: {med['torch eager'] / med['custom']:.2f}x (target > 1)")


if __name__ == "__main__":
    main()
