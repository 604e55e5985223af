"""Issue 21's scaling table in one command: bigcore vs PyTorch as recurrent layers and MLPs grow,
training step and predict, one process, the same thread count and the same weights.

    PYTHONPATH=python python bench/scaling_table.py [--threads 2] [--cases lstm,gru,mlp]
        [--mode train,predict] [--units 64,128,256,512] [--batches 1,8,32,64,128]
        [--mlp-widths 128,256,512,1024,2048] [--mlp-batches 1,32,256] [--T 50] [--features 64]
        [--budget 0.4] [--rounds 5] [--quick]

The default run (110 rows) takes a few minutes on a quiet 2-core machine (549 s seen under load 3-5.7); --quick is a smoke pass
(fewer sizes unless given, far fewer calls: its figures are not measurements).

Rows:
  lstm / gru: Input((T, features)) -> LSTM|GRU(units) (last output) at every units x batch;
      torch nn.LSTM|nn.GRU(batch_first=True), h_n. Train: MSE against (batch, units) targets
      in [-1, 1), Adam(1e-3, eps 1e-7), both. GRU is Keras's reset_after=True, torch's form.
  mlp: 784 -> width -> width -> 10 (relu, relu, softmax) at every width x MLP batch; torch
      nn.Linear/nn.ReLU, CrossEntropyLoss on the logits (sparse CE in bigcore), Adam as above;
      its predict applies the softmax.
bigcore's train step is the native train_step call fit makes per batch (_mlp.RawTrainer), its
predict model.predict_on_batch (input checks included); torch's train step is zero_grad, forward,
loss, backward, Adam step, its predict the eager forward under torch.inference_mode(). torch gets
bigcore's initial weights (checked: predictions agree to 1e-3 before timing).

Columns: case, mode, size (units or width), batch; `bigcore ms` and `torch ms`, medians over
calls (_timing.time_variants: about --budget seconds per framework per row, split into --rounds
rounds in which the frameworks alternate, so machine noise hits both); `b/t` = bigcore / torch
(below 1: bigcore faster); GFLOP/s of each from its median, counting matmul FLOPs only (forward
2*B*T*(features + units)*G*units with G = 4 for LSTM, 3 for GRU; MLP 2*B*sum(in*out); a training
step 3x forward less the first layer's input gradient, which nothing consumes); `calls` per
framework; `b/t rounds`, the median over rounds of each round's bigcore / torch (_timing.paired_ratio:
the two figures of a round taken moments apart, steadier under bursts of load). `*` marks issue 21's
table rows (T=50, 64 features; target b/t <= 0.85, goal 0.6).
Without torch it prints bigcore's figures alone.
"""

import argparse
import os
import time

import numpy as np

import bigcore
from bigcore import layers
from _mlp import RawTrainer, build_mlp, forward_flops as mlp_forward_flops
from _mlp import synthetic_data as mlp_data, train_flops as mlp_train_flops
from _timing import paired_ratio, time_variants

try:
    import torch
    from torch import nn
except ImportError:
    torch = None

CASES = ("lstm", "gru", "mlp")
MODES = ("train", "predict")
GATES = {"lstm": 4, "gru": 3}
TORCH_GATE_ORDER = {"lstm": (0, 1, 2, 3), "gru": (1, 0, 2)}  # Keras i,f,c,o / z,r,h; torch i,f,g,o / r,z,n
MLP_IN, MLP_CLASSES = 784, 10
DEFAULTS = dict(units="64,128,256,512", batches="1,8,32,64,128", mlp_widths="128,256,512,1024,2048",
                mlp_batches="1,32,256")
QUICK = dict(units="64,256", batches="1,32", mlp_widths="128,1024", mlp_batches="1,32")
ISSUE_ROWS = {("lstm", "train", 128, 32), ("lstm", "train", 256, 64), ("lstm", "train", 512, 128),
              ("gru", "train", 256, 64), ("lstm", "predict", 256, 64), ("lstm", "predict", 512, 128),
              ("gru", "predict", 256, 64)}
BATCHES_OF_DATA = 4  # training steps cycle through this many batches
AGREE = 1e-3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for both frameworks")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {list(CASES)}")
    p.add_argument("--mode", default=",".join(MODES), help=f"comma-separated, of {list(MODES)}")
    for name in DEFAULTS:
        p.add_argument("--" + name.replace("_", "-"), default=None,
                       help=f"comma-separated (default {DEFAULTS[name]}; --quick {QUICK[name]})")
    p.add_argument("--T", type=int, default=50, help="time steps of the recurrent rows")
    p.add_argument("--features", type=int, default=64, help="input features of the recurrent rows")
    p.add_argument("--budget", type=float, default=0.4, help="seconds per framework per row (about)")
    p.add_argument("--rounds", type=int, default=5, help="rounds in which the frameworks alternate")
    p.add_argument("--quick", action="store_true", help="smoke pass: fewer sizes, a few calls per row")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.cases, args.mode = args.cases.split(","), args.mode.split(",")
    for what, given, known in (("--cases", args.cases, CASES), ("--mode", args.mode, MODES)):
        bad = [g for g in given if g not in known]
        if bad:
            p.error(f"{what}: unknown {bad}; expected some of {list(known)}")
    for name in DEFAULTS:
        text = getattr(args, name) or (QUICK if args.quick else DEFAULTS)[name]
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            p.error(f"--{name.replace('_', '-')}: expected comma-separated integers, received {text!r}")
        if min(values) < 1:
            p.error(f"--{name.replace('_', '-')}: expected positive integers, received {text!r}")
        setattr(args, name, values)
    if min(args.threads, args.T, args.features, args.rounds) < 1 or args.budget <= 0:
        p.error("--threads, --T, --features, --rounds and --budget must be positive")
    if args.quick:
        args.budget, args.rounds = min(args.budget, 0.02), min(args.rounds, 2)
    return args


# -- FLOPs --

def rnn_flops(cell, batch, T, D, U, mode):
    """Matmul FLOPs: forward 2*B*T*(D+U)*G*U; a training step 3x that less the input gradient
    2*B*T*D*G*U, which nothing consumes (the input is the model's)."""
    GU = GATES[cell] * U
    forward = 2 * batch * T * (D + U) * GU
    return forward if mode == "predict" else 3 * forward - 2 * batch * T * D * GU


def mlp_flops(width, batch, mode):
    sizes = (MLP_IN, width, width, MLP_CLASSES)
    return mlp_forward_flops(batch, sizes) if mode == "predict" else mlp_train_flops(batch, sizes)


# -- models: bigcore builds, torch copies its weights --

def bigcore_rnn(cell, T, D, U, seed):
    bigcore.utils.set_random_seed(seed)
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, {"lstm": layers.LSTM, "gru": layers.GRU}[cell](U)(inp))
    model.compile(optimizer=bigcore.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7), loss="mse")
    return model


def gates(a, cell, U):
    """Keras's gate blocks (last axis) in torch's order."""
    return np.ascontiguousarray(np.concatenate([a[..., g * U:(g + 1) * U] for g in TORCH_GATE_ORDER[cell]], -1))


class TorchRNN(nn.Module if torch else object):
    def __init__(self, cell, D, U, keras_weights):
        super().__init__()
        self.cell = cell
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](D, U, batch_first=True)
        kernel, rec, bias = keras_weights
        bias_ih, bias_hh = (bias, np.zeros_like(bias)) if cell == "lstm" else bias  # GRU bias (2, 3U)
        t = lambda a: torch.from_numpy(gates(a, cell, U))
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(t(kernel).T)
            self.rnn.weight_hh_l0.copy_(t(rec).T)
            self.rnn.bias_ih_l0.copy_(t(bias_ih))
            self.rnn.bias_hh_l0.copy_(t(bias_hh))

    def forward(self, x):
        _, h = self.rnn(x)
        return (h[0] if self.cell == "lstm" else h)[0]  # h_n of the one layer: (B, U)


def torch_mlp(keras_weights):
    w = keras_weights
    linears = [nn.Linear(*k.shape) for k in w[0::2]]
    with torch.no_grad():
        for lin, k, b in zip(linears, w[0::2], w[1::2]):
            lin.weight.copy_(torch.from_numpy(k.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
    return nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2])  # logits


def row_data(case, batch, args):
    """(x, y) of BATCHES_OF_DATA batches: y (n, units) in [-1, 1) for the RNNs, labels for the MLP."""
    n = BATCHES_OF_DATA * batch
    if case == "mlp":
        return mlp_data(n, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    return rng.standard_normal((n, args.T, args.features), dtype=np.float32), None


class Row:
    """One row: `steps` {framework: one train step or predict call}, built once their predictions agree."""

    def __init__(self, case, mode, size, batch, args):
        self.batch = batch
        x, y = row_data(case, batch, args)
        if case == "mlp":
            model = build_mlp(args.seed, (MLP_IN, size, size, MLP_CLASSES))
        else:
            model = bigcore_rnn(case, args.T, args.features, size, args.seed)
            y = np.random.default_rng(args.seed + 1).uniform(-1, 1, (len(x), size)).astype(np.float32)
        self.xb = x[:batch]
        self.steps = {}
        if mode == "train":
            self.raw, self.next, self.n = RawTrainer(model, x, y), 0, len(x)
            self.steps["bigcore"] = self.bigcore_train
        else:
            self.steps["bigcore"] = lambda: model.predict_on_batch(self.xb)
        if torch is None:
            return
        weights = [np.asarray(w) for w in model.get_weights()]
        tm = torch_mlp(weights) if case == "mlp" else TorchRNN(case, args.features, size, weights)
        self.head = (lambda z: torch.softmax(z, -1)) if case == "mlp" else (lambda z: z)
        self.tmodel, self.tx, self.txb = tm, torch.from_numpy(x), torch.from_numpy(self.xb.copy())
        with torch.inference_mode():
            want = self.head(tm(self.txb)).numpy()
        err = float(np.max(np.abs(model.predict_on_batch(self.xb) - want)))
        if not err <= AGREE:
            raise SystemExit(f"{case} {size} batch {batch}: bigcore's and torch's predictions differ by {err:.2e} "
                             f"(> {AGREE}): the weight copy is wrong, the timings would compare different models")
        if mode == "train":
            self.ty = torch.from_numpy(np.asarray(y, np.int64 if case == "mlp" else np.float32))
            self.loss = nn.CrossEntropyLoss() if case == "mlp" else nn.MSELoss()
            self.opt = torch.optim.Adam(tm.parameters(), lr=1e-3, eps=1e-7)
            self.perm, self.tnext = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed)), 0
            self.steps["torch"] = self.torch_train
        else:
            self.steps["torch"] = self.torch_predict

    def bigcore_train(self):
        self.raw.step(self.next, self.batch)
        self.next = (self.next + self.batch) % self.n

    def torch_train(self):
        i = self.perm[self.tnext:self.tnext + self.batch]  # a gathered batch, as bigcore's step gathers
        self.tnext = (self.tnext + self.batch) % len(self.perm)
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.tmodel(self.tx[i]), self.ty[i]).backward()
        self.opt.step()

    def torch_predict(self):
        with torch.inference_mode():
            return self.head(self.tmodel(self.txb))


# -- the table --

def rows(args):
    for case in args.cases:
        for mode in args.mode:
            sizes, batches = (args.mlp_widths, args.mlp_batches) if case == "mlp" else (args.units, args.batches)
            for size in sizes:
                for batch in batches:
                    yield case, mode, size, batch


def measure(case, mode, size, batch, args):
    """({framework: median ms}, calls per framework, bigcore / torch paired by round or None)."""
    row = Row(case, mode, size, batch, args)
    # warm=1: one untimed call sizes the buffers; _timing then times `warm` more to pick the call count.
    warm, min_calls = 1, (3 if args.quick else 5)
    med, calls, by_round = time_variants(row.steps, calls=2000, budget=args.budget, rounds=args.rounds, warm=warm,
                                         min_calls=min_calls, by_round=True)
    paired = paired_ratio(by_round["bigcore"], by_round["torch"]) if "torch" in by_round else None
    return {k: us / 1e3 for k, us in med.items()}, calls, paired


HEAD = (f"{'case':<6}{'mode':<9}{'size':>6}{'batch':>7}{'bigcore ms':>13}{'torch ms':>11}{'b/t':>8}"
        f"{'bigcore GFLOP/s':>17}{'torch GFLOP/s':>15}{'calls':>7}{'b/t rounds':>11}")


def line(case, mode, size, batch, ms, calls, flops, mark, paired=None):
    b = ms["bigcore"]
    # Every field after a space: 4 (3 for b/t) significant digits can outgrow a column.
    text = f"{case:<6}{mode:<9}{size:>6}{batch:>7} {b:>12.4g}"
    if "torch" in ms:
        t = ms["torch"]
        text += f" {t:>10.4g} {b / t:>7.3g} {flops / b / 1e6:>16.1f} {flops / t / 1e6:>14.1f}"
    else:
        text += f" {'-':>10} {'-':>7} {flops / b / 1e6:>16.1f} {'-':>14}"
    text += f" {calls:>6} " + (f"{paired:>10.3g}" if paired is not None else f"{'-':>10}")
    return text + (" *" if mark else "")


def main(argv=None):
    args = parse_args(argv)
    bigcore.config.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    feats = bigcore.config.cpu_features()
    start, load = time.perf_counter(), os.getloadavg()[0]
    print(f"bigcore {bigcore.__version__} (isa {feats['isa']}; {feats['blas']}); "
          + (f"torch {torch.__version__}" if torch is not None else "torch: not installed -- bigcore figures only"))
    print(f"threads {args.threads} (both); {os.cpu_count()} CPUs; load average {load:.2f}; "
          f"recurrent rows T={args.T}, {args.features} features; MLP {MLP_IN}-width-width-{MLP_CLASSES}"
          + ("; --quick: smoke pass, not a measurement" if args.quick else ""))
    print("b/t = bigcore ms / torch ms (< 1: bigcore faster); b/t rounds = the median of each round's b/t; "
          "GFLOP/s counts matmul FLOPs; "
          "* = issue 21 row (target b/t <= 0.85, goal 0.6)")
    print()
    print(HEAD, flush=True)
    issue = args.T == 50 and args.features == 64
    marked = []
    for case, mode, size, batch in rows(args):
        ms, calls, paired = measure(case, mode, size, batch, args)
        flops = mlp_flops(size, batch, mode) if case == "mlp" else rnn_flops(case, batch, args.T, args.features,
                                                                             size, mode)
        mark = issue and (case, mode, size, batch) in ISSUE_ROWS
        text = line(case, mode, size, batch, ms, calls, flops, mark, paired)
        print(text, flush=True)
        if mark:
            marked.append(text)
    if marked:
        print("\nissue 21 rows:\n" + HEAD + "\n" + "\n".join(marked))
    print(f"\n{time.perf_counter() - start:.0f} s; load average at start {load:.2f}, "
          f"at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
