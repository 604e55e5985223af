"""bigcore vs PyTorch eager on Transformer training steps, in one process.

    PYTHONPATH=python python bench/compare_torch_transformer.py [--cases text,encoder,generate] [--threads 2]
                                                                [--repeats 3] [--steps 10]

Cases (both frameworks build the same model, the same shapes and the same FLOPs):
  text:    the keras-io text classifier: batch 32, 200 tokens, vocabulary 20,000, d_model 32, token +
           position embeddings, one Transformer block (2 heads of 16, feed-forward 32, dropout 0.1,
           LayerNorm eps 1e-6), average pooling, Dense(20, relu), Dense(2). Torch: nn.Embedding x2,
           nn.MultiheadAttention(batch_first), nn.LayerNorm, nn.Linear, nn.Dropout.
  encoder: one encoder layer, d_model 256, 4 heads, feed-forward 1024, 128 tokens, batch 32, post-norm,
           relu, dropout 0.1 (where torch's layer has it: on the attention weights, between the
           feed-forward's layers, on both residual branches), then average pooling and Dense(2).
           Torch: nn.TransformerEncoderLayer (batch_first).
  generate: char_gpt's model (examples/char_gpt.py: vocabulary 96, context 64, d_model 128, 4 heads,
           2 pre-norm blocks, feed-forward 512, GELU): the latency of one generated token at batch 1
           (top-k 10 sampling), bigcore's Generator (one native call, key/value cache) vs a PyTorch
           eager decoder with its own key/value cache (preallocated, F.scaled_dot_product_attention,
           torch.inference_mode, torch.topk + multinomial), the same weights (the logits are checked
           to agree first). At the end of the context both start again from one token.
The training cases: both train with Adam (eps 1e-7) on sparse categorical cross-entropy; torch.set_num_threads = bigcore's
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
from bigcore.examples import char_gpt
from bigcore.models.generation import Generator
from _mlp import RawTrainer
from _timing import time_variants

try:
    import torch
    from torch import nn
except ImportError:
    torch = None

CASES = {
    "text": dict(batch=32, T=200, vocab=20000, d=32, heads=2, ff=32, eps=1e-6),
    "encoder": dict(batch=32, T=128, vocab=None, d=256, heads=4, ff=1024, eps=1e-5, inner_dropout=0.1),
}
GEN = dict(vocab=96, T=64, d=128, heads=4, blocks=2, ff=512)
TARGETS = {"text": 0.4, "encoder": 0.7, "generate": 0.3}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="text,encoder,generate",
                   help=f"comma-separated, of {sorted(CASES) + ['generate']}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="timed steps per framework per repeat")
    p.add_argument("--isa", default=None,
                   help="bigcore's CPU path (config.set_cpu_isa), e.g. avx2 to stand in for an AVX2-only CPU; "
                        "give torch the same with MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 "
                        "ONEDNN_MAX_CPU_ISA=AVX2 (torch.mm is MKL's, which the other two leave on AVX-512)")
    args = p.parse_args()
    args.cases = args.cases.split(",")
    bad = [c for c in args.cases if c not in CASES and c != "generate"]
    if bad:
        p.error(f"unknown cases {bad}; expected some of {sorted(CASES) + ['generate']}")
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
    """A post-norm Transformer encoder block (keras-io's TransformerBlock / torch's encoder layer).
    inner_dropout (the encoder case): also the dropout nn.TransformerEncoderLayer applies on the
    attention weights and between the feed-forward's two layers."""
    inner = c.get("inner_dropout", 0.0)
    a = layers.MultiHeadAttention(num_heads=c["heads"], key_dim=c["d"] // c["heads"], dropout=inner,
                                  name=f"{name}_mha")(x, x)
    a = layers.Dropout(0.1)(a)
    x = layers.LayerNormalization(epsilon=c["eps"])(layers.Add()([x, a]))
    f = layers.Dense(c["ff"], activation="relu")(x)
    if inner:
        f = layers.Dropout(inner)(f)
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


# -- generation --

def generate_flops(g, t):
    """Matmul FLOPs of one token at cache length t."""
    d, ff = g["d"], g["ff"]
    return 2 * (g["blocks"] * (4 * d * d + 2 * d * ff + 2 * t * d) + d * g["vocab"])


class BigcoreGen:
    def __init__(self, g, seed=0):
        self.model = char_gpt.build_model(g["vocab"], g["T"], g["d"], g["heads"], g["blocks"])
        self.gen = Generator(self.model)
        self.dec, self.out = self.gen._dec, self.gen._logits
        self.T, self.tok, self.i = g["T"], 1, 0

    def step(self):
        if self.dec.position == self.T:
            self.dec.reset()
        self.tok = self.dec.sample(self.tok, self.out, 1.0, 10, 0, self.i)
        self.i += 1


def _inner_path(path):
    parts = path.split("/")
    return "/".join(parts[1:]) if len(parts) > 2 else path


class TorchGen:
    """A pre-norm decoder with a key/value cache, the weights copied from the bigcore model."""

    def __init__(self, g, model):
        self.g = g
        # keyed "layer:path", a sub-layer's weights by the path inside their layer ("embed:token_embedding/
        # embeddings"), a layer's own by its whole path ("final_norm:final_norm/gamma")
        w = {f"{layer.name}:{_inner_path(x.path)}": torch.tensor(np.array(x.value))
             for layer in model.layers for x in layer.weights}
        self.w = w
        d, h = g["d"], g["heads"]
        self.H = d // h
        self.K = [torch.zeros(1, h, g["T"], self.H) for _ in range(g["blocks"])]
        self.V = [torch.zeros(1, h, g["T"], self.H) for _ in range(g["blocks"])]
        self.t, self.tok = 0, 1
        self.gen = torch.Generator().manual_seed(0)

    def logits(self, tok):
        g, w, t, F = self.g, self.w, self.t, torch.nn.functional
        d, h, H = g["d"], g["heads"], self.H
        x = w["embed:token_embedding/embeddings"][tok] + w["embed:position_embedding/embeddings"][t]
        for i in range(g["blocks"]):
            p = f"block{i}"
            y = F.layer_norm(x, (d,), w[f"{p}:norm1/gamma"], w[f"{p}:norm1/beta"], 1e-5)
            a = f"{p}:attention"
            q = (y @ w[f"{a}/query/kernel"].reshape(d, d) + w[f"{a}/query/bias"].reshape(d)).view(1, h, 1, H)
            self.K[i][0, :, t] = (y @ w[f"{a}/key/kernel"].reshape(d, d) + w[f"{a}/key/bias"].reshape(d)).view(h, H)
            self.V[i][0, :, t] = (y @ w[f"{a}/value/kernel"].reshape(d, d) + w[f"{a}/value/bias"].reshape(d)).view(h, H)
            o = F.scaled_dot_product_attention(q, self.K[i][:, :, :t + 1], self.V[i][:, :, :t + 1])
            x = x + o.reshape(d) @ w[f"{a}/attention_output/kernel"].reshape(d, d) + w[f"{a}/attention_output/bias"]
            y = F.layer_norm(x, (d,), w[f"{p}:norm2/gamma"], w[f"{p}:norm2/beta"], 1e-5)
            f = F.gelu(y @ w[f"{p}:ff1/kernel"] + w[f"{p}:ff1/bias"])
            x = x + f @ w[f"{p}:ff2/kernel"] + w[f"{p}:ff2/bias"]
        x = F.layer_norm(x, (d,), w["final_norm:final_norm/gamma"], w["final_norm:final_norm/beta"], 1e-5)
        self.t += 1
        return x @ w["logits:logits/kernel"] + w["logits:logits/bias"]

    def step(self):
        with torch.inference_mode():
            if self.t == self.g["T"]:
                self.t = 0
            z = self.logits(self.tok)
            top, idx = torch.topk(z, 10)
            self.tok = int(idx[torch.multinomial(torch.softmax(top, -1), 1, generator=self.gen)])


def bench_generate(args):
    g = GEN
    bigcore.utils.set_random_seed(0)
    runs = {"bigcore": BigcoreGen(g)}
    if torch is not None:
        tg = TorchGen(g, runs["bigcore"].model)
        seq = np.random.default_rng(0).integers(0, g["vocab"], g["T"])
        with torch.inference_mode():
            want = np.stack([tg.logits(int(s)).numpy() for s in seq])
        tg.t = 0
        got = runs["bigcore"].gen.logits(seq)
        runs["bigcore"].dec.reset()
        err = float(np.abs(got - want).max())
        if err > 1e-3:
            raise SystemExit(f"generate: bigcore's and torch's logits differ by {err}")
        runs["torch"] = tg
    reps = []
    for _ in range(args.repeats):
        med, _ = time_variants({k: r.step for k, r in runs.items()}, calls=20 * g["T"], budget=10.0,
                               rounds=5, warm=g["T"], min_calls=2 * g["T"])
        reps.append(med)
    flops = statistics.mean(generate_flops(g, t) for t in range(1, g["T"] + 1))  # over a context's positions
    print(f"\ngenerate (per token, batch 1): {g}" + (f"; logits agree to {err:.1e}" if torch is not None else ""))
    print(f"  {'':8s} {'median us':>10s} {'best us':>9s} {'GFLOP/s':>8s}")
    for k in runs:
        us = [r[k] for r in reps]
        print(f"  {k:8s} {statistics.median(us):10.1f} {min(us):9.1f} {flops / (min(us) * 1e3):8.2f}")
    if torch is not None:
        ratio = [r["bigcore"] / r["torch"] for r in reps]
        print(f"  bigcore / torch: median {statistics.median(ratio):.2f}x, best {min(ratio):.2f}x "
              f"(target <= {TARGETS['generate']}x)")


def main():
    args = parse_args()
    bigcore.config.set_num_threads(args.threads)
    if args.isa:
        bigcore.config.set_cpu_isa(args.isa)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"CPU path {bigcore.config.cpu_features()['isa']}; torch {torch.__version__ if torch else 'absent'}")
    if args.isa and torch is not None and not os.environ.get("MKL_ENABLE_INSTRUCTIONS"):
        print("note: MKL_ENABLE_INSTRUCTIONS is not set, so torch's matrix products keep the CPU's widest path "
              f"while bigcore runs {args.isa}: the ratios are not like for like")
    for name in args.cases:
        if name == "generate":
            bench_generate(args)
            continue
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
