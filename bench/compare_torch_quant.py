"""int8 inference side by side: bigcore's quantized layers and models against our float32 ones and
PyTorch's dynamic quantization, in one process.

    PYTHONPATH=python python bench/compare_torch_quant.py [--threads N] [--batches 1,32,256]
                                                          [--parts layers,models] [--rounds 5]
                                                          [--budget 1.5]

Issue 5 ("Model compression"). Targets: the int8 Dense layer at least 3x faster than our float32
Dense at batch 1 and at least 2x at batch 256 on 1024x1024, and faster than
torch.ao.quantization.quantize_dynamic's Linear on the same shapes.

layers: one Dense layer K x N (bias, no activation) at each batch, for 1024x1024 and 784x128:
  f32     our float32 Dense, one native predict_step of a one-layer model (x prepared, output
          preallocated: the op as it runs inside predict)
  int8    the same model after bigcore.quantization.quantize (dynamic per-row activation scales)
  t.f32   torch nn.Linear; t.q8: quantize_dynamic({nn.Linear}, qint8), under inference_mode
models: whole-model forward, the same four columns:
  MLP 784-128-128-10 (relu, relu, softmax)
  text LSTM  Input((100,)) -> Embedding(10000, 64) -> LSTM(64) -> Dense(2, softmax)
  rows LSTM  Input((28, 28)) -> LSTM(128) -> Dense(10, softmax) (Fashion-MNIST rows)
  torch's models quantize_dynamic({nn.Linear, nn.LSTM}, qint8); embeddings stay float in both.
Ratios: f32/int8 and t.q8/int8 (> 1: bigcore int8 faster). Each figure is the median over calls
split into --rounds rounds in which the variants alternate, so drift in the machine's load hits
all alike; on a shared machine read them as rough. Threads: both libraries use --threads.
"""

import argparse
import os
import warnings

import _timing
import bigcore
import numpy as np
from bigcore import layers
from bigcore.quantization import quantize

try:
    import torch
except ImportError:
    torch = None

LAYER_SHAPES = [(1024, 1024), (784, 128)]  # K, N
VOCAB, EMBED, UNITS, T = 10000, 64, 64, 100


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: bigcore's default)")
    p.add_argument("--batches", default="1,32,256")
    p.add_argument("--parts", default="layers,models")
    p.add_argument("--rounds", type=int, default=5, help="rounds over which the variants alternate")
    p.add_argument("--budget", type=float, default=1.5, help="seconds per variant at most")
    p.add_argument("--calls", type=int, default=2000, help="calls per variant at most")
    return p.parse_args()


# -- timing --

def time_variants(variants, args):
    """{name: median us}; the variants alternate round by round."""
    return _timing.time_variants(variants, args.calls, args.budget, args.rounds, warm=3, min_calls=10)[0]


def native_call(model, x):
    """The one native call predict makes, on a prepared input and a preallocated output."""
    native = model._native().native
    n = len(x)
    out = [np.empty((n,) + tuple(model._outputs[0].shape[1:]), np.float32)]
    xs = [np.ascontiguousarray(x, dtype=np.float32)]
    return lambda: native.predict_step(xs, 0, n, out)


def torch_call(module, xt):
    def run():
        with torch.inference_mode():
            return module(xt)
    return run


def torch_q8(module):
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in 2.x but still shipped
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear, torch.nn.LSTM}, dtype=torch.qint8)


# -- models (bigcore and torch, same architecture; torch's weights are its own) --

def bigcore_model(kind, K=None, N=None):
    bigcore.utils.set_random_seed(0)
    if kind == "dense":
        stack = [layers.Input((K,)), layers.Dense(N)]
    elif kind == "mlp":
        stack = [layers.Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(128, activation="relu"),
                 layers.Dense(10, activation="softmax")]
    elif kind == "text_lstm":
        stack = [layers.Input((T,)), layers.Embedding(VOCAB, EMBED), layers.LSTM(UNITS),
                 layers.Dense(2, activation="softmax")]
    else:
        stack = [layers.Input((28, 28)), layers.LSTM(128), layers.Dense(10, activation="softmax")]
    return bigcore.Sequential(stack)


class TorchRNN(torch.nn.Module if torch is not None else object):
    def __init__(self, kind):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED) if kind == "text_lstm" else None
        d, u, c = (EMBED, UNITS, 2) if kind == "text_lstm" else (28, 128, 10)
        self.lstm = torch.nn.LSTM(d, u, batch_first=True)
        self.dense = torch.nn.Linear(u, c)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embed(x) if self.embed is not None else x)
        return torch.softmax(self.dense(h[0]), dim=-1)


def torch_model(kind, K=None, N=None):
    torch.manual_seed(0)
    nn = torch.nn
    if kind == "dense":
        return nn.Sequential(nn.Linear(K, N)).eval()
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10),
                             nn.Softmax(dim=-1)).eval()
    return TorchRNN(kind).eval()


def make_input(kind, batch, K=None):
    rng = np.random.default_rng(0)
    if kind == "text_lstm":
        ids = rng.integers(1, VOCAB, (batch, T))
        return ids.astype(np.float32), (torch.from_numpy(ids) if torch is not None else None)
    shape = (batch, K) if kind == "dense" else (batch, 784) if kind == "mlp" else (batch, 28, 28)
    x = rng.random(shape, dtype=np.float32) if kind == "rows_lstm" else rng.standard_normal(shape, dtype=np.float32)
    return x, (torch.from_numpy(x.copy()) if torch is not None else None)


def compare(kind, batch, args, K=None, N=None):
    fmodel = bigcore_model(kind, K, N)
    qmodel = quantize(fmodel)
    x, xt = make_input(kind, batch, K)
    variants = {"f32": native_call(fmodel, x), "int8": native_call(qmodel, x)}
    if torch is not None:
        tm = torch_model(kind, K, N)
        variants["t.f32"] = torch_call(tm, xt)
        variants["t.q8"] = torch_call(torch_q8(tm), xt)
    return time_variants(variants, args)


def report_row(label, med):
    line = f"  {label:<22}" + "".join(f"{med[k]:>10.1f}" for k in ("f32", "int8", "t.f32", "t.q8") if k in med)
    line += f"{med['f32'] / med['int8']:>10.2f}"
    if "t.q8" in med:
        line += f"{med['t.q8'] / med['int8']:>10.2f}"
    print(line, flush=True)


def main():
    args = parse_args()
    if args.threads is not None:
        bigcore.config.set_num_threads(args.threads)
    threads = bigcore.config.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    batches = [int(b) for b in args.batches.split(",")]
    parts = args.parts.split(",")

    def load():
        return " ".join(f"{v:.2f}" for v in os.getloadavg())

    feats = bigcore.config.cpu_features()
    print(f"bigcore {bigcore.__version__} (float path {feats['paths']['float']}, int8 path "
          f"{feats['paths']['int8']}); "
          + (f"torch {torch.__version__} (quantized engine {torch.backends.quantized.engine})"
             if torch is not None else "torch: not installed -- bigcore figures only"))
    print(f"threads {threads} (both); {os.cpu_count()} CPUs; load average {load()}")
    head = f"  {'':<22}{'f32':>10}{'int8':>10}" + (f"{'t.f32':>10}{'t.q8':>10}" if torch else "")
    head += f"{'f32/int8':>10}" + (f"{'t.q8/int8':>10}" if torch else "")
    print("median us per call; ratios > 1: bigcore int8 faster")
    if "layers" in parts:
        print("\nDense layer (bias, no activation)\n" + head)
        for K, N in LAYER_SHAPES:
            for batch in batches:
                report_row(f"{K}x{N} batch {batch}", compare("dense", batch, args, K, N))
    if "models" in parts:
        names = {"mlp": "MLP 784-128-128-10", "text_lstm": f"text LSTM({UNITS}) T={T}",
                 "rows_lstm": "rows LSTM(128) T=28"}
        print("\nwhole model forward\n" + head)
        for kind, name in names.items():
            for batch in batches:
                report_row(f"{name} b{batch}", compare(kind, batch, args))
    print(f"\nload average at end {load()}")


if __name__ == "__main__":
    main()
