"""Data-parallel training (bigcore.distributed): the split native step in process, and real
2-rank MPI runs (`mpirun -np 2` on loopback) checked against one process at the global batch."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import bigcore
from bigcore import distributed

sys.path.insert(0, os.path.dirname(__file__))
import mpi_worker  # noqa: E402

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")


def _program(model):
    return model._program.native


def _batch_args(model, x, y, start, count):
    """(source, idx, start, count): the arrays bound to the model's program, rows start:start+count."""
    return _program(model).bind([x], [y.reshape(-1, 1).astype(np.float32)]), None, start, count


# -- the split step, one process --

@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop_clipnorm", "adam_ema"])
def test_split_step_equals_train_step_bit_for_bit(optimizer):
    """The data-parallel step (compute_gradients, then apply_update) is train_step's, the EMA of
    use_ema (its update and its overwrite at step 1) included."""
    x, y = mpi_worker.make_data()
    made = {"rmsprop_clipnorm": lambda: bigcore.optimizers.RMSprop(clipnorm=0.5),
            "adam_ema": lambda: bigcore.optimizers.Adam(use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)}
    make = made.get(optimizer, lambda: optimizer)
    a, b = mpi_worker.make_model(0.3, make()), mpi_worker.make_model(0.3, make())
    a.fit(x[:80], y[:80], batch_size=40, epochs=1, verbose=0, shuffle=False)
    b.fit(x[:80], y[:80], batch_size=40, epochs=1, verbose=0, shuffle=False)  # both have their slots now
    pa, pb = _program(a), _program(b)
    sa, sb = np.zeros(pa.stats_size), np.zeros(pb.stats_size)
    for step in range(3):
        lr = a.optimizer.learning_rate
        pa.train_step(*_batch_args(a, x, y, 40 * step, 40), lr, 5, step, sa)
        pb.compute_gradients(*_batch_args(b, x, y, 40 * step, 40), seed=5, step=step, row0=0, grad_scale=1.0,
                             stats=sb)
        pb.apply_update(lr, step, 1.0)
        np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(pa.params(), pb.params())
    for i in range(a.optimizer.slots):
        np.testing.assert_array_equal(pa.opt_slot(i), pb.opt_slot(i))


def test_split_step_keeps_pruned_weights_zero():
    from bigcore import compression

    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(0.0, "adam")
    pruned = compression.prune_low_magnitude(model, pruning_schedule=compression.ConstantSparsity(0.5, 0, frequency=1))
    pruned.fit(x[:40], y[:40], batch_size=40, epochs=1, verbose=0)  # masks in place, slots built
    p = _program(pruned)
    kernel = pruned.layers[0].kernel
    zero = kernel.numpy() == 0
    assert zero.mean() >= 0.49
    stats = np.zeros(p.stats_size)
    for step in range(3):
        p.compute_gradients(*_batch_args(pruned, x, y, 40, 40), seed=1, step=step, row0=0, grad_scale=1.0,
                            stats=stats)
        p.apply_update(pruned.optimizer.learning_rate, step, 1.0)
    w = kernel.numpy()
    assert np.all(w[zero] == 0) and np.all(w[~zero] != 0)


def test_apply_update_scales_the_gradient_not_the_regularizer():
    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(0.0, bigcore.optimizers.SGD(learning_rate=0.1))
    model.fit(x[:40], y[:40], batch_size=40, epochs=1, verbose=0)
    p = _program(model)
    stats = np.zeros(p.stats_size)
    p.compute_gradients(*_batch_args(model, x, y, 0, 40), seed=1, step=0, row0=0, grad_scale=1.0, stats=stats)
    g = p.grads().copy()
    p.compute_gradients(*_batch_args(model, x, y, 0, 40), seed=1, step=0, row0=0, grad_scale=3.0, stats=stats)
    np.testing.assert_allclose(p.grads(), 3.0 * g, rtol=1e-6, atol=1e-9)
    w0 = p.params().copy()
    kernel = model.layers[0].kernel  # the only regularized weight: l2 = 1e-2
    assert np.shares_memory(kernel.value, p.params())
    n, lo = kernel.value.size, (kernel.value.ctypes.data - p.params().ctypes.data) // 4
    p.apply_update(model.optimizer.learning_rate, 0, 0.25)  # grads hold 3 g: the update uses 0.75 g + 2 l2 w
    expect = w0.astype(np.float64) - 0.1 * 0.75 * g.astype(np.float64)
    expect[lo:lo + n] -= 0.1 * 2 * 1e-2 * w0[lo:lo + n]
    np.testing.assert_allclose(p.params(), expect, rtol=1e-5, atol=1e-7)


def test_empty_slice_gives_zero_gradients_and_stats():
    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(0.0)
    model.fit(x[:40], y[:40], batch_size=40, epochs=1, verbose=0)
    p = _program(model)
    stats = np.full(p.stats_size, 7.0)
    p.compute_gradients(*_batch_args(model, x, y, 0, 40), seed=1, step=0, row0=0, grad_scale=1.0, stats=stats)
    assert np.abs(p.grads()).max() > 0
    p.compute_gradients(*_batch_args(model, x, y, 40, 0), seed=1, step=0, row0=0, grad_scale=1.0, stats=stats)
    assert not p.grads().any() and not stats.any()


@pytest.mark.parametrize("uneven", [False, True])
def test_slices_with_row_offsets_sum_to_the_whole_batch_dropout_included(uneven):
    """What two ranks compute, in one process: slice gradients weighted as DataParallel weighs
    them add up to the whole batch's, and dropout draws the same masks (row0)."""
    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(0.4)
    model.fit(x[:40], y[:40], batch_size=40, epochs=1, verbose=0)
    p = _program(model)
    stats = np.zeros(p.stats_size)
    B = 41 if uneven else 40
    p.compute_gradients(*_batch_args(model, x, y, 0, B), seed=3, step=9, row0=0, grad_scale=1.0, stats=stats)
    whole, whole_loss = p.grads().astype(np.float64), stats[0]
    total, loss = np.zeros_like(whole), 0.0
    for r in range(2):
        lo, hi = B * r // 2, B * (r + 1) // 2
        scale = 1.0 if B % 2 == 0 else (hi - lo) * 2 / B
        p.compute_gradients(*_batch_args(model, x, y, lo, hi - lo), seed=3, step=9, row0=lo, grad_scale=scale,
                            stats=stats)
        total += p.grads() / 2
        loss += stats[0] * (hi - lo) / B
        last = p.grads().copy()
    np.testing.assert_allclose(total, whole, rtol=1e-4, atol=1e-7)
    assert loss == pytest.approx(whole_loss, rel=1e-6)
    # the row offset is what makes the second slice draw the whole batch's masks, not the first's
    p.compute_gradients(*_batch_args(model, x, y, B // 2, B - B // 2), seed=3, step=9, row0=0, grad_scale=scale,
                        stats=stats)
    assert np.abs(p.grads() - last).max() > 1e-3


def test_single_process_strategy_is_plain_training():
    x, y = mpi_worker.make_data()
    strategy = distributed.DataParallel()
    assert (distributed.rank(), distributed.world_size(), strategy.num_replicas_in_sync) == (0, 1, 1)
    with strategy.scope():
        assert distributed.current_strategy() is strategy
        a = mpi_worker.make_model(0.2)
    assert distributed.current_strategy() is None
    b = mpi_worker.make_model(0.2)
    ha = a.fit(x, y, batch_size=40, epochs=2, verbose=0).history
    hb = b.fit(x, y, batch_size=40, epochs=2, verbose=0).history
    assert ha == hb
    np.testing.assert_array_equal(_program(a).params(), _program(b).params())
    assert strategy.comm_calls == 0
    c = mpi_worker.make_model(0.2)
    c.compile(optimizer="adam", loss="sparse_categorical_crossentropy", distribute=strategy)
    assert c._strategy is strategy


def test_compile_rejects_a_non_strategy():
    model = mpi_worker.make_model(0.0)
    with pytest.raises(TypeError, match="distribute to be a bigcore.distributed.DataParallel"):
        model.compile(optimizer="adam", loss="mse", distribute="mirrored")
    with pytest.raises(ValueError, match="timeout"):
        distributed.DataParallel(timeout=0)


def _python_env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(bigcore.__file__))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_without_mpi4py_under_a_launcher_says_what_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from bigcore import distributed\n"
            "try:\n    distributed.DataParallel()\nexcept ImportError as e:\n    print('IMPORTERROR', e)\n")
    env = _python_env()
    env["OMPI_COMM_WORLD_SIZE"] = "2"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "IMPORTERROR" in r.stdout, r.stderr
    assert 'pip install "bigcore[distributed]"' in r.stdout and "openmpi-bin libopenmpi-dev" in r.stdout


def test_a_single_process_never_imports_mpi():
    code = ("import sys; from bigcore import distributed; s = distributed.DataParallel()\n"
            "print(distributed.world_size(), 'mpi4py' in sys.modules)\n")
    env = {k: v for k, v in _python_env().items() if k not in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK",
                                                                 "PMIX_RANK", "MPI_LOCALNRANKS")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.stdout.split() == ["1", "False"], r.stderr


# -- two ranks under mpirun --

def _mpirun(args, tmp_path, timeout=120):
    pytest.importorskip("mpi4py")
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not found (apt-get install openmpi-bin libopenmpi-dev)")
    env = _python_env()
    # loopback only, in a container: shared memory between ranks, more ranks than cores allowed,
    # no ptrace-based single copy
    env.update(OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_plm_rsh_agent="")
    # Under .ci/sanitize the ranks keep the ASan runtime (they load the sanitized extension), but
    # mpirun itself runs without it: Open MPI 4.1's launcher has its own use-after-free on the
    # abort path, which is not ours to report.
    preload = env.pop("LD_PRELOAD", None)
    forward = ["-x", f"LD_PRELOAD={preload}"] if preload else []
    cmd = [mpirun, "--oversubscribe", *forward, "-np", "2", sys.executable, WORKER, args[0], str(tmp_path)] + args[1:]
    start = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return r, time.monotonic() - start


def _reference(dropout):
    """One process at the global batch 40."""
    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(dropout)
    h = model.fit(x, y, batch_size=40, epochs=3, verbose=0, validation_split=0.2).history
    ev = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    streamed = mpi_worker.make_model(dropout)
    streamed.fit(mpi_worker.dataset(x, y), epochs=2, verbose=0)
    return _program(model).params().copy(), h, ev, _program(streamed).params().copy()


def test_two_ranks_keep_one_ema(tmp_path):
    """use_ema under data parallelism: every rank updates (and overwrites with) the same averages,
    SwapEMAWeights validates with them on every rank, and the result is one process's."""
    r, _ = _mpirun(["train_ema"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    x, y = mpi_worker.make_data()
    model = mpi_worker.make_model(0.3, mpi_worker.ema_optimizer())
    h = model.fit(x, y, batch_size=40, epochs=3, verbose=0, validation_split=0.2,
                  callbacks=[bigcore.callbacks.SwapEMAWeights()]).history
    ranks = [np.load(tmp_path / f"rank{k}.npz") for k in range(2)]
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    np.testing.assert_array_equal(ranks[0]["average"], ranks[1]["average"])
    np.testing.assert_allclose(ranks[0]["params"], _program(model).params(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ranks[0]["average"], _program(model).opt_slot(model.optimizer.slots - 1),
                               rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ranks[0]["val_loss"], h["val_loss"], rtol=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_two_ranks_match_one_process_at_the_global_batch(tmp_path, dropout):
    r, _ = _mpirun(["train", str(dropout)], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    params, hist, ev, streamed = _reference(dropout)
    ranks = [np.load(tmp_path / f"rank{k}.npz") for k in range(2)]
    assert int(ranks[0]["world"]) == 2
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])  # the ranks never drift apart
    # 3 epochs x 5 steps of Adam with an L2 regularizer and a 2/3 split of each epoch's last batch
    np.testing.assert_allclose(ranks[0]["params"], params, rtol=1e-5, atol=2e-6)
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ranks[0][k], hist[k], rtol=1e-5, err_msg=k)
    assert float(ranks[0]["eval_loss"]) == pytest.approx(ev["loss"], rel=1e-5)
    assert float(ranks[0]["eval_accuracy"]) == ev["accuracy"]
    np.testing.assert_allclose(ranks[0]["streamed"], streamed, rtol=1e-5, atol=2e-6)  # a Dataset, sliced
    # rank 0 alone prints and writes
    assert r.stdout.count("Epoch 1/3") == 1 and r.stdout.count("Epoch 3/3") == 1, r.stdout
    assert (tmp_path / "log_rank0.csv").exists() and not (tmp_path / "log_rank1.csv").exists()
    assert (tmp_path / "ckpt_rank0.weights.safetensors").exists()
    assert not (tmp_path / "ckpt_rank1.weights.safetensors").exists()


@pytest.mark.parametrize("mode", ["hang", "skip_step"])
def test_a_hung_rank_ends_the_job_with_a_clear_error(tmp_path, mode):
    r, seconds = _mpirun([mode], tmp_path)
    assert r.returncode != 0
    assert "did not complete within 3 s" in r.stderr and "DistributedError" in r.stderr, r.stderr
    assert seconds < 60  # the timeout is 3 s; the sleeping rank would take 120 s
    if mode == "hang":
        assert 3.0 <= float((tmp_path / "timed_out").read_text()) < 10.0


def test_a_killed_rank_ends_the_job(tmp_path):
    r, seconds = _mpirun(["die"], tmp_path)
    assert r.returncode != 0
    assert seconds < 60
    assert "signal 9" in r.stdout + r.stderr or "Killed" in r.stdout + r.stderr, r.stdout + r.stderr


def test_ranks_with_different_data_refuse_to_train(tmp_path):
    r, _ = _mpirun(["mismatch"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    for k in range(2):
        assert "the ranks disagree on ['samples', 'steps']" in (tmp_path / f"refused{k}").read_text()


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist") and not os.environ.get("BIGCORE_DATA"),
                    reason="needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
def test_distributed_example_runs_as_one_process(capsys):
    from bigcore.examples import mnist_mlp_distributed

    accuracy = mnist_mlp_distributed.main(["--epochs", "1", "--verbose", "0"])
    assert accuracy >= 0.80
    out = capsys.readouterr().out
    assert "on 1 rank(s)" in out and "Test accuracy:" in out
