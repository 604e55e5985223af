"""Small-batch inference: bigcore's predict paths vs PyTorch eager, in one process.

    PYTHONPATH=python python bench/compare_torch_inference.py [--threads N] [--batches 1,8,256]
                                                              [--models mlp,lstm] [--calls 2000]
                                                              [--rounds 5] [--profile]

Issue 10 ("serving a model from Python"): the seed MLP (784-128-128-10, relu, relu, softmax) and
the seed LSTM (Input((100,)) -> Embedding(10000, 64) -> LSTM(64) -> Dense(2, softmax), last
timestep only) at batch 1, 8 and 256, float32. Target: at batch 1 at least 3x faster than PyTorch
for both models, never slower at any batch size. int8 rows (bigcore.quantization.quantize against
torch's quantize_dynamic) follow each model's float32 rows; the LSTM's appear once quantize()
converts LSTM layers, and are skipped until then.

Per model and batch size it times, on the same input (numpy float32 for bigcore; a prebuilt torch
tensor for torch, float32 or int64 token ids):
- `model.predict_on_batch(x)`, `model(x)`, `model.predict(x, verbose=0)` (batch_size = the batch);
- native: `model._program.native.predict_step([x], 0, n, [out])`, the one native call all three
  make, on a prepared float32 input and a preallocated output;
- torch: the eager forward (modules + softmax) under `torch.inference_mode()`,
  `torch.set_num_threads` = bigcore's threads.
Each figure is the median of all calls; the calls (--calls at batch 1, fewer for longer calls, at
least 30) are split over --rounds rounds in which the variants alternate, so drift in the
machine's load hits all alike. `overhead` = predict-path median minus native median, in us.
`t/x` = torch / that bigcore path (> 1: bigcore faster). --profile breaks predict_on_batch's
overhead at batch 1 into its parts.
"""

import argparse
import os
import warnings

import _timing
import bigcore
import numpy as np
from bigcore import layers
from bigcore.models import data_adapter

try:
    import torch
except ImportError:
    torch = None

MLP_SIZES = (784, 128, 128, 10)
VOCAB, EMBED, UNITS, T = 10000, 64, 64, 100


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: bigcore's default)")
    p.add_argument("--batches", default="1,8,256")
    p.add_argument("--models", default="mlp,lstm")
    p.add_argument("--calls", type=int, default=2000, help="calls per variant at batch 1 (median reported)")
    p.add_argument("--budget", type=float, default=2.0, help="seconds per variant at most (fewer calls when slow)")
    p.add_argument("--rounds", type=int, default=5, help="rounds over which the variants alternate")
    p.add_argument("--profile", action="store_true", help="break down predict_on_batch's overhead at batch 1")
    return p.parse_args()


# -- models --

def bigcore_mlp():
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((MLP_SIZES[0],))
    h = layers.Dense(MLP_SIZES[1], activation="relu")(inp)
    h = layers.Dense(MLP_SIZES[2], activation="relu")(h)
    return bigcore.Model(inp, layers.Dense(MLP_SIZES[3], activation="softmax")(h))


def bigcore_lstm():
    bigcore.utils.set_random_seed(0)
    return bigcore.Sequential([layers.Input((T,)), layers.Embedding(VOCAB, EMBED), layers.LSTM(UNITS),
                               layers.Dense(2, activation="softmax")])


def torch_mlp():
    nn = torch.nn
    return nn.Sequential(nn.Linear(MLP_SIZES[0], MLP_SIZES[1]), nn.ReLU(), nn.Linear(MLP_SIZES[1], MLP_SIZES[2]),
                         nn.ReLU(), nn.Linear(MLP_SIZES[2], MLP_SIZES[3]), nn.Softmax(dim=-1)).eval()


class TorchLSTM(torch.nn.Module if torch is not None else object):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, EMBED)
        self.lstm = torch.nn.LSTM(EMBED, UNITS, batch_first=True)
        self.dense = torch.nn.Linear(UNITS, 2)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.embed(ids))  # h (1, B, U): the last timestep's output
        return torch.softmax(self.dense(h[0]), dim=-1)


def inputs(kind, batch, seed=0):
    """(bigcore input float32, torch input): N(0, 1) features or token ids in [1, VOCAB)."""
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        x = rng.standard_normal((batch, MLP_SIZES[0]), dtype=np.float32)
        return x, (torch.from_numpy(x.copy()) if torch is not None else None)
    ids = rng.integers(1, VOCAB, (batch, T))
    return ids.astype(np.float32), (torch.from_numpy(ids) if torch is not None else None)


# -- timing --

def time_variants(variants, args, batch):
    """{name: median us}, calls: fewer calls above batch 1, where each costs more."""
    calls = args.calls if batch == 1 else args.calls // 2
    return _timing.time_variants(variants, calls, args.budget, args.rounds)


def int8_model(kind):
    """bigcore.quantization.quantize(seed model), or None while quantize() leaves the model's
    main layer (LSTM for the LSTM model) in float32: its int8 row then is skipped."""
    model = bigcore_mlp() if kind == "mlp" else bigcore_lstm()
    q = bigcore.quantization.quantize(model)
    main = "Dense" if kind == "mlp" else "LSTM"
    before = [type(layer).__name__ for layer in model.layers]
    after = [type(layer).__name__ for layer in q.layers]
    changed = any(b == main and a != b for b, a in zip(before, after))
    return q if changed else None


def torch_int8(tmodel):
    with warnings.catch_warnings():  # torch 2.x marks eager dynamic quantization deprecated (torchao)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(tmodel, {torch.nn.Linear, torch.nn.LSTM}, dtype=torch.qint8)


def bench(kind, batch, args, int8=False):
    model = (int8_model(kind) if int8 else None) or (bigcore_mlp() if kind == "mlp" else bigcore_lstm())
    x, xt = inputs(kind, batch)
    native = model._native().native
    out = [np.empty((batch,) + tuple(model._outputs[0].shape[1:]), np.float32)]
    xs = [x]
    variants = {
        "native": lambda: native.predict_step(xs, 0, batch, out),
        "predict_on_batch": lambda: model.predict_on_batch(x),
        "model(x)": lambda: model(x),
        "predict": lambda: model.predict(x, batch_size=batch, verbose=0),
    }
    tmodel = None
    if torch is not None:
        torch.manual_seed(0)
        tmodel = (torch_mlp() if kind == "mlp" else TorchLSTM().eval())
        if int8:
            tmodel = torch_int8(tmodel)

        def torch_forward():
            with torch.inference_mode():
                return tmodel(xt)

        variants["torch"] = torch_forward
        # Same arithmetic, so the outputs must agree once the weights do (a check on the setup,
        # not a timing): copy bigcore's weights into torch for one comparison (float32 only).
        check = None if int8 else agreement(kind, model, tmodel, x, xt)
    else:
        check = None
    med, calls = time_variants(variants, args, batch)
    return med, calls, check


def agreement(kind, model, tmodel, x, xt):
    """Max |bigcore - torch| on this batch with bigcore's weights copied into the torch model."""
    w = [np.asarray(v) for v in model.get_weights()]
    with torch.no_grad():
        if kind == "mlp":
            linears = [m for m in tmodel if isinstance(m, torch.nn.Linear)]
            for i, lin in enumerate(linears):
                lin.weight.copy_(torch.from_numpy(w[2 * i].T.copy()))
                lin.bias.copy_(torch.from_numpy(w[2 * i + 1]))
        else:
            emb, kernel, rec, bias, dk, db = w
            tmodel.embed.weight.copy_(torch.from_numpy(emb))
            # Keras gates i, f, c, o; torch i, f, g, o: the same order, transposed; bias once.
            tmodel.lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
            tmodel.lstm.weight_hh_l0.copy_(torch.from_numpy(rec.T.copy()))
            tmodel.lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
            tmodel.lstm.bias_hh_l0.zero_()
            tmodel.dense.weight.copy_(torch.from_numpy(dk.T.copy()))
            tmodel.dense.bias.copy_(torch.from_numpy(db))
        with torch.inference_mode():
            ref = tmodel(xt).numpy()
    return float(np.max(np.abs(model.predict_on_batch(x) - ref)))


# -- profile --

def profile_predict_on_batch(kind, args):
    """Medians (us) of the parts of predict_on_batch at batch 1, timed one by one as trainer.py runs them."""
    model = bigcore_mlp() if kind == "mlp" else bigcore_lstm()
    x, _ = inputs(kind, 1)
    native = model._native().native
    shape = (1,) + tuple(model._outputs[0].shape[1:])
    xs = data_adapter.prepare_inputs(model, x)
    out = [np.empty(shape, np.float32)]
    parts = {
        "_build_from(x)": lambda: model._build_from(x),
        "_native()": lambda: model._native(),
        "prepare_inputs": lambda: data_adapter.prepare_inputs(model, x),
        "  np.asarray + dtype checks": lambda: data_adapter._numeric(x, "Input 0"),
        "  np.ascontiguousarray": lambda: np.ascontiguousarray(x, dtype=np.float32),
        "  np.isfinite(a).all()": lambda: np.isfinite(x).all(),
        "output np.empty": lambda: [np.empty(shape, np.float32) for _ in model._outputs],
        "native predict_step": lambda: native.predict_step(xs, 0, 1, out),
        "predict_on_batch (whole)": lambda: model.predict_on_batch(x),
    }
    med, _ = time_variants(parts, args, 1)
    return med


# -- report --

def main():
    args = parse_args()
    if args.threads is not None:
        bigcore.config.set_num_threads(args.threads)
    threads = bigcore.config.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    batches = [int(b) for b in args.batches.split(",")]
    kinds = args.models.split(",")
    feats = bigcore.config.cpu_features()
    load = lambda: " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"bigcore {bigcore.__version__} (isa {feats['isa']}); "
          + (f"torch {torch.__version__}" if torch is not None else "torch: not installed -- bigcore figures only"))
    print(f"threads {threads} (both); {os.cpu_count()} CPUs; load average {load()}")
    print("median us per call; overhead = path - native; t/x = torch / path (> 1: bigcore faster)")
    names = {"mlp": f"MLP {'-'.join(map(str, MLP_SIZES))}",
             "lstm": f"LSTM Embedding({VOCAB},{EMBED})-LSTM({UNITS})-Dense(2), T={T}"}
    for kind, int8 in [(k, q) for k in kinds for q in (False, True)]:
        if int8 and int8_model(kind) is None:
            print(f"\n{names[kind]}, int8: skipped (bigcore.quantization.quantize leaves its main layer in float32)")
            continue
        print(f"\n{names[kind]}, " + ("int8 (torch: quantize_dynamic qint8)" if int8 else "float32"))
        print(f"  {'batch':>5}{'calls':>7}{'native':>10}{'on_batch':>10}{'model(x)':>10}{'predict':>10}"
              f"{'overhead on_batch/call/predict':>32}" + (f"{'torch':>10}{'t/native':>9}{'t/on_batch':>11}"
                                                          f"{'t/call':>8}{'t/predict':>10}" if torch else ""))
        for batch in batches:
            med, calls, check = bench(kind, batch, args, int8)
            nat = med["native"]
            paths = [med["predict_on_batch"], med["model(x)"], med["predict"]]
            line = (f"  {batch:>5}{calls:>7}{nat:>10.1f}" + "".join(f"{p:>10.1f}" for p in paths)
                    + f"{' / '.join(f'{p - nat:.1f}' for p in paths):>32}")
            if torch is not None:
                t = med["torch"]
                line += f"{t:>10.1f}{t / nat:>9.2f}{t / paths[0]:>11.2f}{t / paths[1]:>8.2f}{t / paths[2]:>10.2f}"
                if check is not None and check > 1e-4:
                    line += f"   (outputs differ from torch by {check:.1e}: check the setup)"
            print(line)
    if args.profile:
        for kind in kinds:
            print(f"\npredict_on_batch at batch 1, {names[kind]}: median us of each part")
            for name, us in profile_predict_on_batch(kind, args).items():
                print(f"  {name:<30}{us:>8.2f}")
    print(f"\nload average at end {load()}")


if __name__ == "__main__":
    main()
