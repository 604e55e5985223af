"""bigcore vs PyTorch (eager, oneDNN convolutions) on ConvNets, in one process, the same thread count:

  convnet_train   Keras's Fashion-MNIST convnet (Conv2D(32,3,relu) -> MaxPool -> Conv2D(64,3,relu) ->
                  MaxPool -> Flatten -> Dropout(0.5) -> Dense(10)), one Adam training step at batch 128
                  (target: bigcore <= 0.5x PyTorch's time)
  conv1d_train    a Conv1D time-series classifier (Keras's FordA example: 3 x [Conv1D(64, 3, same) +
                  BatchNormalization + ReLU], global average pooling, Dense(2)) on (500, 1) series, one
                  Adam step at batch 32 (target <= 0.5x)
  convnet_infer   the convnet's inference on one image (target <= 0.3x)

    PYTHONPATH=python python bench/compare_torch_convnet.py [--threads 2] [--budget 4] [--rounds 5]
                                                            [--profile]

Each variant is timed per call, the frameworks alternating in rounds (bench/_timing.py), medians
reported with GFLOP/s (multiply-adds x 2 of the convolutions and Dense layers; a training step counts
forward, weight gradient and input gradient, the first layer without one). bigcore's step is its
user call (train_on_batch / predict_on_batch); --profile adds the native call alone, and
bench/profile_ops.py times each native op. Say the load (`uptime`) when you quote numbers: other
processes on the cores slow both frameworks, and not alike. On a loaded machine with --threads equal
to the core count, OpenMP's spinning barriers (libgomp's default, in both frameworks) wait out other
processes' time slices: seen 5-7x slower steps at load 8 on 2 cores; OMP_WAIT_POLICY=passive in the
environment gives figures near the 1-thread ones there.
"""

import argparse
import os

import numpy as np

import bigcore
from _timing import time_variants
from bigcore import layers
from bigcore.models import data_adapter

try:
    import torch
except ImportError:
    torch = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    p.add_argument("--budget", type=float, default=4.0, help="seconds per variant and case (about)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per case")
    p.add_argument("--profile", action="store_true", help="also time bigcore's native call alone")
    p.add_argument("--cases", default="convnet_train,conv1d_train,convnet_infer")
    return p.parse_args()


# -- the models --

def bigcore_convnet():
    return bigcore.Sequential([
        layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(), layers.Flatten(), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax")])


def torch_convnet():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))


def convnet_flops(batch, train):
    """Multiply-adds x 2: conv1 26*26*32*9, conv2 11*11*64*288, dense 1600*10 per image; training adds
    the weight gradient of each and the input gradient of all but conv1."""
    c1, c2, d = 26 * 26 * 32 * 9, 11 * 11 * 64 * 288, 1600 * 10
    return 2 * batch * ((c1 + c2 + d) if not train else (2 * c1 + 3 * c2 + 3 * d))


def bigcore_conv1d(T, classes):
    x = inp = bigcore.Input((T, 1))
    for _ in range(3):
        x = layers.Conv1D(64, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return bigcore.Model(inp, layers.Dense(classes, activation="softmax")(layers.GlobalAveragePooling1D()(x)))


def torch_conv1d(classes):
    nn = torch.nn
    mods, c = [], 1
    for _ in range(3):  # Keras's BatchNormalization defaults: momentum 0.99 (torch: 0.01), eps 1e-3
        mods += [nn.Conv1d(c, 64, 3, padding=1), nn.BatchNorm1d(64, eps=1e-3, momentum=0.01), nn.ReLU()]
        c = 64
    return nn.Sequential(*mods, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, classes))


def conv1d_flops(batch, T, classes):
    c1, c = T * 64 * 3, T * 64 * 192
    return 2 * batch * (2 * c1 + 2 * 3 * c + 3 * 64 * classes)


# -- one case --

def bigcore_trainer(model, x, y):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    return lambda: model.train_on_batch(x, y)


def torch_trainer(model, x, y):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def native_step(model, x, y):
    """The native train_step alone, as fit calls it (no Python around it)."""
    xs = data_adapter.prepare_inputs(model, x)
    native = model._native().native
    src = native.bind(xs, data_adapter.prepare_targets(model, y, len(x)))
    stats = np.zeros(native.stats_size, np.float64)
    return lambda: native.train_step(src, None, 0, len(x), 1e-3, 0, 0, stats)


def case_inputs(case, rng):
    if case == "conv1d_train":
        T, B = 500, 32
        x = rng.normal(size=(B, T, 1)).astype(np.float32)
        y = rng.integers(0, 2, B)
        return x, y, {"flops": conv1d_flops(B, T, 2), "T": T}
    B = 1 if case == "convnet_infer" else 128
    x = rng.random((B, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, B)
    return x, y, {"flops": convnet_flops(B, case != "convnet_infer")}


def variants(case, args, x, y, info):
    out = {}
    if case == "conv1d_train":
        bm = bigcore_conv1d(info["T"], 2)
        out["bigcore"] = bigcore_trainer(bm, x, y)
        if args.profile:
            out["bigcore native"] = native_step(bm, x, y)
        if torch is not None:
            out["torch"] = torch_trainer(torch_conv1d(2), torch.from_numpy(x.transpose(0, 2, 1).copy()),
                                         torch.from_numpy(y))
        return out
    bm = bigcore_convnet()
    if case == "convnet_train":
        out["bigcore"] = bigcore_trainer(bm, x, y)
        if args.profile:
            out["bigcore native"] = native_step(bm, x, y)
        if torch is not None:
            out["torch"] = torch_trainer(torch_convnet(), torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                                         torch.from_numpy(y))
        return out
    out["bigcore"] = lambda: bm.predict_on_batch(x)
    if args.profile:
        native = bm._native().native
        o = [np.empty((1, 10), np.float32)]
        out["bigcore native"] = lambda: native.predict_step([x], 0, 1, o)
    if torch is not None:
        tm = torch_convnet().eval()
        tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

        def infer():
            with torch.no_grad():
                tm(tx)
        out["torch"] = infer
    return out


TARGETS = {"convnet_train": 0.5, "conv1d_train": 0.5, "convnet_infer": 0.3}


def main():
    args = parse_args()
    bigcore.config.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    print(f"threads {args.threads}, bigcore {bigcore.config.cpu_features()['isa']} kernels, "
          f"torch {torch.__version__ if torch else '(not installed)'}"
          f"{' (oneDNN: ' + str(torch.backends.mkldnn.is_available()) + ')' if torch else ''}, load {load:.2f}")
    print(f"{'case':<15}{'variant':<16}{'median us':>12}{'GFLOP/s':>10}{'vs torch':>10}{'target':>8}")
    for case in args.cases.split(","):
        x, y, info = case_inputs(case, rng)
        v = variants(case, args, x, y, info)
        times, _ = time_variants(v, calls=100000, budget=args.budget, rounds=args.rounds)
        for name, us in times.items():
            ratio = f"{us / times['torch']:.2f}x" if "torch" in times and name != "torch" else ""
            target = f"<={TARGETS[case]}x" if name == "bigcore" and "torch" in times else ""
            print(f"{case:<15}{name:<16}{us:>12.1f}{info['flops'] / us / 1e3:>10.1f}{ratio:>10}{target:>8}")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
