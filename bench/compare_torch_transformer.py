"""bigcore vs PyTorch eager on Transformer training steps, in one process.

    PYTHONPATH=python python bench/compare_torch_transformer.py [--cases text,encoder] [--threads 2]
                                                                [--repeats 3] [--steps 10]

Cases (both frameworks build the same model, the same shapes and the same FLOPs):
  text:    the keras-io text classifier: batch 32, 200 tokens, vocabulary 20,000, d_model 32, token +
           position embeddings, one Transformer block (2 heads of 16, feed-forward 32, dropout 0.1,
           LayerNorm eps 1e-6), average pooling, Dense(20, relu), Dense(2). Torch: nn.Embedding x2,
           nn.MultiheadAttention(batch_first), nn.LayerNorm, nn.Linear, nn.Dropout.
  encoder: one encoder layer, d_model 256, 4 heads, feed-forward 1024, 128 tokens, batch 32, post-norm,
           relu, dropout 0.1, then average pooling and Dense(2). Torch: nn.TransformerEncoderLayer
           (batch_first).
Both train with Adam (eps 1e-7) on sparse categorical cross-entropy; torch.set_num_threads = bigcore's
threads. bigcore's step is the native train_step call fit makes per batch (bench/_mlp.py RawTrainer);
torch's is zero_grad, forward, loss, backward, step. Steps alternate between the frameworks in rounds
(bench/_timing.py) so machine load hits both alike; each repeat reports medians; the table shows the
median and the best repeat. GFLOP/s counts the matmul FLOPs (forward x 3 for a training step).
"""

import argparse
import os
import statistics

import numpy as np

import bigcore
from bigcore import layers
from _mlp import RawTrainer
from _timing import time_variants

try:
    import torch
    from torch import nn
except ImportError:
    torch = None

CASES = {
    "text": dict(batch=32, T=200, vocab=20000, d=32, heads=2, ff=32, eps=1e-6),
    "encoder": dict(batch=32, T=128, vocab=None, d=256, heads=4, ff=1024, eps=1e-5),
}
TARGETS = {"text": 0.4, "encoder": 0.7}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="text,encoder", help=f"comma-separated, of {sorted(CASES)}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="timed steps per framework per repeat")
    args = p.parse_args()
    args.cases = args.cases.split(",")
    bad = [c for c in args.cases if c not in CASES]
    if bad:
        p.error(f"unknown cases {bad}; expected some of {sorted(CASES)}")
    return args


def train_flops(c):
    B, T, d, h, ff = c["batch"], c["T"], c["d"], c["heads"], c["ff"]
    tokens = B * T
    proj = 2 * tokens * d * d * 4                    # q, k, v, output
    attn = 2 * B * h * T * T * (d // h) * 2          # scores and weights x values
    ffn = 2 * tokens * d * ff * 2
    head = 2 * B * (d * 20 + 20 * 2) if c["vocab"] else 2 * B * d * 2
    return 3 * (proj + attn + ffn + head)


def data(c, n, seed=0):
    rng = np.random.default_rng(seed)
    if c["vocab"]:
        x = rng.integers(1, c["vocab"], (n, c["T"])).astype(np.float32)
    else:
        x = rng.standard_normal((n, c["T"], c["d"])).astype(np.float32)
    return x, rng.integers(0, 2, n).astype(np.float32)


# -- bigcore --

def block(x, c, name):
    """A post-norm Transformer encoder block (keras-io's TransformerBlock / torch's encoder layer)."""
    a = layers.MultiHeadAttention(num_heads=c["heads"], key_dim=c["d"] // c["heads"], name=f"{name}_mha")(x, x)
    a = layers.Dropout(0.1)(a)
    x = layers.LayerNormalization(epsilon=c["eps"])(layers.Add()([x, a]))
    f = layers.Dense(c["ff"], activation="relu")(x)
    f = layers.Dropout(0.1)(layers.Dense(c["d"])(f))
    return layers.LayerNormalization(epsilon=c["eps"])(layers.Add()([x, f]))


def build_bigcore(c, seed=0):
    bigcore.utils.set_random_seed(seed)
    if c["vocab"]:
        tok, pos = bigcore.Input((c["T"],)), bigcore.Input((c["T"],))
        x = layers.Add()([layers.Embedding(c["vocab"], c["d"])(tok), layers.Embedding(c["T"], c["d"])(pos)])
        h = layers.GlobalAveragePooling1D()(block(x, c, "block"))
        h = layers.Dropout(0.1)(layers.Dense(20, activation="relu")(layers.Dropout(0.1)(h)))
        model = bigcore.Model([tok, pos], layers.Dense(2, activation="softmax")(h))
    else:
        inp = bigcore.Input((c["T"], c["d"]))
        h = layers.GlobalAveragePooling1D()(block(inp, c, "block"))
        model = bigcore.Model(inp, layers.Dense(2, activation="softmax")(h))
    model.compile(optimizer=bigcore.optimizers.Adam(1e-3, epsilon=1e-7), loss="sparse_categorical_crossentropy")
    return model


class BigcoreRun:
    def __init__(self, c, x, y):
        self.c = c
        xs = [x, np.tile(np.arange(c["T"], dtype=np.float32), (len(x), 1))] if c["vocab"] else x
        self.raw = RawTrainer(build_bigcore(c), xs, y)
        self.n, self.next = len(x), 0

    def step(self):
        B = self.c["batch"]
        if self.next + B > self.n:
            self.next = 0
        self.raw.step(self.next, B)
        self.next += B


# -- torch --

class TorchText(nn.Module if torch else object):
    def __init__(self, c):
        super().__init__()
        self.tok, self.pos = nn.Embedding(c["vocab"], c["d"]), nn.Embedding(c["T"], c["d"])
        self.att = nn.MultiheadAttention(c["d"], c["heads"], batch_first=True)
        self.n1, self.n2 = nn.LayerNorm(c["d"], eps=c["eps"]), nn.LayerNorm(c["d"], eps=c["eps"])
        self.f1, self.f2 = nn.Linear(c["d"], c["ff"]), nn.Linear(c["ff"], c["d"])
        self.h1, self.out = nn.Linear(c["d"], 20), nn.Linear(20, 2)
        self.drop = nn.Dropout(0.1)
        self.register_buffer("positions", torch.arange(c["T"]))

    def forward(self, ids):
        x = self.tok(ids) + self.pos(self.positions)
        a, _ = self.att(x, x, x, need_weights=False)
        x = self.n1(x + self.drop(a))
        x = self.n2(x + self.drop(self.f2(torch.relu(self.f1(x)))))
        h = self.drop(torch.relu(self.h1(self.drop(x.mean(1)))))
        return self.out(h)


class TorchEncoder(nn.Module if torch else object):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(c["d"], c["heads"], c["ff"], dropout=0.1, batch_first=True)
        self.out = nn.Linear(c["d"], 2)

    def forward(self, x):
        return self.out(self.layer(x).mean(1))


class TorchRun:
    def __init__(self, c, x, y):
        torch.manual_seed(0)
        self.c = c
        self.model = TorchText(c) if c["vocab"] else TorchEncoder(c)
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.x = torch.tensor(x.astype(np.int64) if c["vocab"] else x)
        self.y = torch.tensor(y.astype(np.int64))
        self.loss = nn.CrossEntropyLoss()
        self.n, self.next = len(x), 0

    def step(self):
        B = self.c["batch"]
        if self.next + B > self.n:
            self.next = 0
        xb, yb = self.x[self.next:self.next + B], self.y[self.next:self.next + B]
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model(xb), yb).backward()
        self.opt.step()
        self.next += B


def main():
    args = parse_args()
    bigcore.config.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"CPU path {bigcore.config.cpu_features()['isa']}; torch {torch.__version__ if torch else 'absent'}")
    for name in args.cases:
        c = CASES[name]
        x, y = data(c, 8 * c["batch"])
        runs = {"bigcore": BigcoreRun(c, x, y)}
        if torch is not None:
            runs["torch"] = TorchRun(c, x, y)
        reps = []
        for _ in range(args.repeats):
            med, _ = time_variants({k: r.step for k, r in runs.items()}, calls=args.steps, budget=20.0,
                                   rounds=max(1, args.steps // 5), warm=2, min_calls=args.steps)
            reps.append(med)
        flops = train_flops(c)
        print(f"\n{name}: {c}")
        print(f"  {'':8s} {'median ms':>10s} {'best ms':>9s} {'GFLOP/s':>8s}")
        for k in runs:
            ms = [r[k] / 1e3 for r in reps]
            print(f"  {k:8s} {statistics.median(ms):10.2f} {min(ms):9.2f} {flops / (min(ms) * 1e6):8.1f}")
        if torch is not None:
            ratio = [r["bigcore"] / r["torch"] for r in reps]
            print(f"  bigcore / torch: median {statistics.median(ratio):.2f}x, best {min(ratio):.2f}x "
                  f"(target <= {TARGETS[name]}x)")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
