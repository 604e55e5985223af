"""Per-op wall time of bigcore's native training step (Program.set_profile), for the bench models.

    PYTHONPATH=python python bench/profile_ops.py [--case conv1d_train] [--threads 2] [--steps 30]

Cases: conv1d_train, convnet_train (compare_torch_convnet.py), text_train (the keras-io text
classifier of compare_torch_transformer.py), lstm_train (the seed LSTM step of compare_torch_lstm.py),
mlp_train (the seed MLP step of compare_torch.py, at --batch rows).

Prints each op's forward and backward milliseconds per step, then the losses and the optimizer
update, with the step's total. Say the load (`uptime`) with the numbers: the cores are shared.
"""

import argparse
import os
import time

import numpy as np

import _mlp as mlp
import bigcore
import compare_torch_convnet as cases
import compare_torch_lstm as lstm
import compare_torch_transformer as transformer


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="conv1d_train", choices=["conv1d_train", "convnet_train", "text_train", "lstm_train", "mlp_train"])
    p.add_argument("--batch", type=int, default=256, help="mlp_train's batch size")
    p.add_argument("--isa", default=None, help="bigcore's CPU path (config.set_cpu_isa), e.g. avx2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    bigcore.config.set_num_threads(args.threads)
    if args.isa:
        bigcore.config.set_cpu_isa(args.isa)
    bigcore.utils.set_random_seed(0)
    if args.case == "text_train":
        c = transformer.CASES["text"]
        run = transformer.BigcoreRun(c, *transformer.data(c, 8 * c["batch"]))
        step, native, info = run.step, run.raw.native, {"flops": transformer.train_flops(c)}
    elif args.case == "lstm_train":
        run = lstm.BigcoreRun("text", "lstm", *lstm.synthetic_data("text"), 0)
        step, native, info = run.step, run.raw.native, {"flops": lstm.train_flops("text", "lstm")}
    elif args.case == "mlp_train":
        x, y = mlp.synthetic_data(16 * args.batch)
        raw = mlp.RawTrainer(mlp.build_mlp(), x, y)
        starts = iter(range(10**9))
        step = lambda: raw.step(next(starts) % 16 * args.batch, args.batch)
        native, info = raw.native, {"flops": mlp.train_flops(args.batch)}
    else:
        x, y, info = cases.case_inputs(args.case, np.random.default_rng(0))
        model = cases.bigcore_conv1d(info["T"], 2) if args.case == "conv1d_train" else cases.bigcore_convnet()
        step = cases.bigcore_trainer(model, x, y)
        native = model._native().native
    step()
    native.set_profile(True)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    wall = (time.perf_counter() - t0) / args.steps * 1e3
    rows = native.profile()
    native.set_profile(False)
    print(f"{args.case}, {args.threads} threads, load {os.getloadavg()[0]:.2f}: {wall:.2f} ms a step "
          f"({info['flops'] / wall / 1e6:.1f} GFLOP/s)")
    print(f"{'op':<4}{'type':<28}{'fwd ms':>9}{'bwd ms':>9}{'share':>8}")
    total = sum(r[0] + r[1] for r in rows) / args.steps
    names = [native.op_type(i).replace("bc::", "") for i in range(native.n_ops)] + ["(losses, metrics)", "(optimizer)"]
    for i, (name, (f, b, _)) in enumerate(zip(names, rows)):
        f, b = f / args.steps * 1e3, b / args.steps * 1e3
        print(f"{i:<4}{name:<28}{f:>9.2f}{b:>9.2f}{(f + b) / (total * 1e3):>8.1%}")
    print(f"    {'native ops total':<28}{total * 1e3:>18.2f}   (the rest of the step: binding and Python)")


if __name__ == "__main__":
    main()
