"""Survival under load, threads, interruption and hostile numbers.

(a) leaks: 20,000 training steps and 20,000 predict calls on a small MLP (fewer on an LSTM, and on
    the error paths) leave the process RSS flat: sampled during the run, it never climbs more than
    LEAK_BOUND above its level after a warm-up (the figures are printed);
(b) concurrency: predict from 4 threads on one model answers bit for bit like serial calls; fit in
    one thread while 3 others predict ends with the weights of a serial fit;
(c) interruption: KeyboardInterrupt from a callback at step k leaves the model exactly where an
    identical run stopped after k+1 steps is (weights, optimizer state, later training); SIGINT
    delivered to a process inside fit leaves it able to save a loadable model;
(d) numerics: cross-entropy from logits of +-1e4 is finite and matches a float64 log-sum-exp;
    clipnorm / global_clipnorm / clipvalue keep exploding gradients finite and bounded;
    TerminateOnNaN stops at the first non-finite batch.

Under the sanitizer build (.ci/sanitize sets BIGCORE_SANITIZED=1) the loops run a tenth of the steps
and the RSS bound is not asserted: ASan's quarantine holds freed memory on purpose.
Tests that could crash the interpreter (threads racing on native state, signals) run in a child
process, so a crash is a failure, not a dead test run.
"""

import gc
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import bigcore
from bigcore import callbacks, layers, losses, optimizers

SANITIZED = os.environ.get("BIGCORE_SANITIZED", "") not in ("", "0")
SCALE = 10 if SANITIZED else 1
LEAK_BOUND = 8 << 20  # bytes of RSS growth allowed after the warm-up
PY = sys.executable
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bigcore.__file__)))


def _report(request, line):
    """Prints a figure in the test run's output, even when the test passes."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None:
        print(line)
        return
    with capman.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mlp(seed=0, dropout=0.0, optimizer=None, n_in=20, n_out=10):
    bigcore.utils.set_random_seed(seed)
    stack = [layers.Dense(32, activation="relu", input_shape=(n_in,))]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(n_out, activation="softmax"))
    m = bigcore.Sequential(stack)
    m.compile(optimizer=optimizer or optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def _data(n, n_in=20, n_out=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)).astype(np.float32), rng.integers(0, n_out, n)


def _child(code, timeout=120, **popen):
    """Runs `code` in a fresh interpreter that imports the same bigcore; returns CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONFAULTHANDLER="1")
    return subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout,
                          env=env, **popen)


def _last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


# =============================================================================================
# (a) no leaks
# =============================================================================================

class _RssTrace:
    """RSS samples after a warm-up: growth = highest sample - the first one."""

    def __init__(self):
        gc.collect()
        self.samples = [_rss()]

    def sample(self):
        self.samples.append(_rss())

    def done(self):
        gc.collect()
        self.sample()
        return max(self.samples) - self.samples[0]

    def describe(self):
        mib = [s / 2 ** 20 for s in self.samples]
        return f"RSS {mib[0]:.1f} MiB after warm-up -> {mib[-1]:.1f} MiB at the end (max {max(mib):.1f})"


def _assert_flat(trace, what):
    growth = trace.done()
    if not SANITIZED:
        assert growth < LEAK_BOUND, f"{what}: RSS grew by {growth / 2 ** 20:.2f} MiB ({trace.describe()})"
    return growth


def test_mlp_training_and_predict_leave_rss_flat(request):
    """20,000 training steps (10,000 in fit, 10,000 train_on_batch) and 20,000 predict calls
    (10,000 predict, 10,000 predict_on_batch)."""
    steps = 20_000 // SCALE
    model = _mlp(dropout=0.25)
    x, y = _data(16 * 1000)
    xb, yb = x[:16], y[:16]
    # warm-up: every buffer at its final size, every code path taken once
    model.fit(x[:16 * 200], y[:16 * 200], batch_size=16, epochs=1, verbose=0)
    for _ in range(200):
        model.train_on_batch(xb, yb)
        model.predict(xb, verbose=0)
        model.predict_on_batch(xb)
    objects = len(gc.get_objects())
    trace = _RssTrace()
    per_epoch = 1000 // SCALE
    for _ in range(10):  # 10 fits of 1,000 steps
        model.fit(x[:16 * per_epoch], y[:16 * per_epoch], batch_size=16, epochs=1, verbose=0)
        trace.sample()
    for i in range(steps // 2):
        model.train_on_batch(xb, yb)
        if i % 1000 == 0:
            trace.sample()
    for i in range(steps // 2):
        model.predict(xb, verbose=0)
        model.predict_on_batch(xb)
        if i % 1000 == 0:
            trace.sample()
    growth = _assert_flat(trace, "MLP")
    assert model.optimizer.iterations == 200 + 200 + steps
    assert all(np.isfinite(w).all() for w in model.get_weights())
    new_objects = len(gc.get_objects()) - objects
    assert new_objects < 2000, f"{new_objects} Python objects more than after the warm-up"
    _report(request, f"leaks/MLP: {steps} training steps + {steps} predict calls: {trace.describe()}, "
                     f"growth {growth / 2 ** 20:.2f} MiB (bound {LEAK_BOUND >> 20} MiB); "
                     f"Python objects {new_objects:+d}")


def test_lstm_training_and_predict_leave_rss_flat(request):
    steps = 2_000 // SCALE
    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([layers.LSTM(16, input_shape=(10, 8), dropout=0.1, recurrent_dropout=0.1),
                                layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 10, 8)).astype(np.float32), rng.integers(0, 4, 16)
    for _ in range(100):
        model.train_on_batch(x, y)
        model.predict_on_batch(x)
    trace = _RssTrace()
    for i in range(steps):
        model.train_on_batch(x, y)
        model.predict(x, verbose=0)
        if i % 200 == 0:
            trace.sample()
    growth = _assert_flat(trace, "LSTM")
    _report(request, f"leaks/LSTM: {steps} training steps + {steps} predict calls: {trace.describe()}, "
                     f"growth {growth / 2 ** 20:.2f} MiB")


def test_refused_calls_leave_rss_flat(request):
    """Errors raised in Python (bad shape) and in native code (an Embedding id out of range,
    thrown inside the training step with the GIL released) free what they allocated."""
    calls = 2_000 // SCALE
    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([bigcore.Input((6,)), layers.Embedding(10, 8), layers.LSTM(8),
                                layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    bad_ids = rng.integers(0, 10, (32, 6)).astype(np.float32)
    bad_ids[31, 5] = 10
    y = rng.integers(0, 3, 32)
    wrong_shape = np.zeros((32, 6, 2), np.float32)  # (another length is no error: a Sequential runs on it, as Keras's)

    def refused():
        for x in (bad_ids, wrong_shape):
            for call in (lambda: model.train_on_batch(x, y), lambda: model.predict(x, verbose=0),
                         lambda: model.evaluate(x, y, verbose=0)):
                with pytest.raises(ValueError):
                    call()

    before = model.get_weights()
    for _ in range(50):
        refused()
    trace = _RssTrace()
    for i in range(calls):
        refused()
        if i % 200 == 0:
            trace.sample()
    growth = _assert_flat(trace, "refused calls")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    _report(request, f"leaks/errors: {6 * calls} refused calls: {trace.describe()}, growth {growth / 2 ** 20:.2f} MiB")


# =============================================================================================
# (b) concurrency
# =============================================================================================

def _hammer(n_threads, fn, rounds):
    """Runs fn(thread index) `rounds` times in each of n threads started together; returns the
    exceptions raised."""
    barrier = threading.Barrier(n_threads)
    errors = []

    def run(i):
        try:
            barrier.wait()
            for _ in range(rounds):
                fn(i)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a predicting thread hung"
    return errors


@pytest.mark.parametrize("kind", ["mlp", "lstm"])
@pytest.mark.parametrize("fresh", [False, True], ids=["used_model", "first_use_concurrent"])
def test_predict_from_4_threads_matches_serial(kind, fresh):
    """Each thread predicts its own data (different row counts, so different batch tails) on one
    shared model; every answer equals the serial one bit for bit. first_use_concurrent: the
    threads' calls are the model's first, so they race to lower it."""
    def make():
        bigcore.utils.set_random_seed(3)
        if kind == "mlp":
            return bigcore.Sequential([layers.Dense(64, activation="relu", input_shape=(20,)), layers.Dropout(0.5),
                                       layers.Dense(10, activation="softmax")])
        return bigcore.Sequential([layers.LSTM(12, input_shape=(7, 5), return_sequences=True), layers.GRU(6),
                                   layers.Dense(3)])

    shape = (20,) if kind == "mlp" else (7, 5)
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(37 + 29 * i,) + shape).astype(np.float32) for i in range(4)]
    serial = make()
    ref = [serial.predict(x, batch_size=16, verbose=0) for x in xs]
    ref_pob = [serial.predict_on_batch(x) for x in xs]
    model = make()
    if not fresh:
        model.predict(xs[0][:3], verbose=0)
    got = {}

    def work(i):
        a = model.predict(xs[i], batch_size=16, verbose=0)
        b = model.predict_on_batch(xs[i])
        if not (np.array_equal(a, ref[i]) and np.array_equal(b, ref_pob[i])):
            got.setdefault(i, 0)
            got[i] += 1

    errors = _hammer(4, work, rounds=25 // SCALE + 1)
    assert not errors, errors
    assert not got, f"threads with answers different from the serial ones: {got}"
    for x, r in zip(xs, ref):  # and the model still answers the same afterwards
        assert np.array_equal(model.predict(x, batch_size=16, verbose=0), r)


_FIT_WHILE_PREDICTING = """
    import json, threading, numpy as np, bigcore
    from bigcore import layers, optimizers

    def make():
        bigcore.utils.set_random_seed(0)
        m = bigcore.Sequential([layers.Dense(64, activation="relu", input_shape=(20,)), layers.Dropout(0.3),
                                layers.Dense(10, activation="softmax")])
        m.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32 * 40, 20)).astype(np.float32), rng.integers(0, 10, 32 * 40)
    probe = rng.normal(size=({probe_rows}, 20)).astype(np.float32)
    serial = make()
    serial.fit(x, y, batch_size=32, epochs=3, verbose=0)
    model = make()
    model.predict(probe[:1], verbose=0)
    stop, seen, errors = threading.Event(), [0], []

    def predict():
        while not stop.is_set():
            try:
                p = model.predict(probe, batch_size={predict_batch}, verbose=0)
            except Exception as e:  # a clear error is allowed; count it
                errors.append(f"{{type(e).__name__}}: {{e}}")
                continue
            assert p.shape == (len(probe), 10) and np.isfinite(p).all()
            assert np.allclose(p.sum(1), 1, atol=1e-5)
            seen[0] += 1

    threads = [threading.Thread(target=predict) for _ in range(3)]
    for t in threads:
        t.start()
    fit_error = None
    try:
        model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    except Exception as e:
        fit_error = f"{{type(e).__name__}}: {{e}}"
    stop.set()
    for t in threads:
        t.join()
    same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), serial.get_weights()))
    finite = all(bool(np.isfinite(w).all()) for w in model.get_weights())
    print(json.dumps({{"fit_error": fit_error, "same_weights": same, "finite": finite, "predictions": seen[0],
                      "predict_errors": errors[:3], "iterations": model.optimizer.iterations}}))
"""


def _fit_while_predicting(probe_rows, predict_batch):
    r = _child(_FIT_WHILE_PREDICTING.format(probe_rows=probe_rows, predict_batch=predict_batch), timeout=300)
    assert r.returncode == 0, f"the child died (rc {r.returncode}):\n{r.stderr[-3000:]}"
    res = _last_json(r.stdout)
    if res["fit_error"] is None:
        assert res["same_weights"], "fit beside predicting threads ended with other weights than a serial fit"
        assert res["iterations"] == 120
    else:  # raising is allowed, with a message, if the weights stay finite
        assert res["fit_error"].split(":", 1)[1].strip() and res["finite"]
    assert res["predictions"] > 0
    assert not res["predict_errors"], res["predict_errors"]
    return res


@pytest.mark.parametrize("predict_batch", [32, 256], ids=["same_batch", "larger_batch"])
def test_fit_while_3_threads_predict_ends_like_a_serial_fit(predict_batch):
    """fit (batches of 32, Dropout, Adam) while 3 threads predict in a loop: each prediction is a
    valid softmax, and fit ends with exactly the weights of a serial fit."""
    _fit_while_predicting(probe_rows=256, predict_batch=predict_batch)


# =============================================================================================
# (c) interruption
# =============================================================================================

class _StopAt(callbacks.Callback):
    """At global training step k (counted from 0 across epochs): raise `exc` or set stop_training."""

    def __init__(self, k, where="end", exc=None):
        super().__init__()
        self.k, self.where, self.exc, self.step = k, where, exc, 0

    def _hit(self):
        if self.exc is not None:
            raise self.exc
        self.model.stop_training = True

    def on_train_batch_begin(self, batch, logs=None):
        if self.where == "begin" and self.step == self.k:
            self._hit()

    def on_train_batch_end(self, batch, logs=None):
        if self.where == "end" and self.step == self.k:
            self._hit()
        self.step += 1


def _interrupt_model():
    return _mlp(seed=5, dropout=0.2, optimizer=optimizers.Adam(1e-2))


@pytest.mark.parametrize("k", [0, 3, 7, 13])
@pytest.mark.parametrize("where", ["end", "begin"])
def test_keyboard_interrupt_in_a_callback_leaves_the_model_at_a_completed_step(k, where):
    """8 steps per epoch; KeyboardInterrupt at on_train_batch_end of step k leaves exactly the model
    of an identical run stopped after k+1 steps (k steps for on_train_batch_begin): same weights, same
    step count, and the same weights again after both train on."""
    x, y = _data(64)
    done = k + 1 if where == "end" else k
    interrupted = _interrupt_model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[_StopAt(k, where, KeyboardInterrupt())])
    reference = _interrupt_model()
    if done:
        reference.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[_StopAt(done - 1, "end")])
    assert reference.optimizer.iterations == done
    assert interrupted.optimizer.iterations == done
    for a, b in zip(interrupted.get_weights(), reference.get_weights()):
        assert np.array_equal(a, b)
    p = interrupted.predict(x, verbose=0)
    assert np.isfinite(p).all() and np.array_equal(p, reference.predict(x, verbose=0))
    # the optimizer state and the step counter agree too: training on gives the same weights
    interrupted.fit(x, y, batch_size=8, epochs=1, verbose=0)
    reference.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(interrupted.get_weights(), reference.get_weights()):
        assert np.array_equal(a, b)


class _SignalAfterNativeStep:
    """Stands in for the native program so that train_step raises KeyboardInterrupt as it returns:
    what CPython does when SIGINT arrives while the native step runs with the GIL released (the
    pending signal is handled right after the C call returns, before the next Python line)."""

    def __init__(self, native, at):
        self._native, self._at, self._calls = native, at, 0

    def __getattr__(self, name):
        return getattr(self._native, name)

    def train_step(self, *args):
        self._native.train_step(*args)
        self._calls += 1
        if self._calls == self._at + 1:
            raise KeyboardInterrupt


def test_sigint_during_the_native_step_keeps_weights_and_step_count_together():
    """A KeyboardInterrupt surfacing as the native step returns (its update done) leaves
    optimizer.iterations counting that step (fixed: trainer._step counts before the call)."""
    x, y = _data(64)
    k = 4
    interrupted = _interrupt_model()
    interrupted._native()
    interrupted._program.native = _SignalAfterNativeStep(interrupted._program.native, k)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, batch_size=8, epochs=2, verbose=0)
    steps = interrupted.optimizer.iterations
    reference = _interrupt_model()
    reference.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[_StopAt(steps - 1, "end")])
    for a, b in zip(interrupted.get_weights(), reference.get_weights()):
        assert np.array_equal(a, b), f"weights are not those after optimizer.iterations={steps} steps"


_SIGINT_CHILD = """
    import json, signal, sys, numpy as np, bigcore
    from bigcore import callbacks, layers, optimizers

    # Ctrl-C's KeyboardInterrupt, whatever the runner left: a process started in the background of a
    # non-interactive shell inherits SIGINT ignored, and then Python never raises it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.LSTM(64, input_shape=(30, 16), dropout=0.1), layers.Dense(5, activation="softmax")])
    m.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(512, 30, 16)).astype(np.float32), rng.integers(0, 5, 512)

    class Ready(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations == 2:
                print("READY", flush=True)

    try:
        m.fit(x, y, batch_size=256, epochs=100000, verbose=0, callbacks=[Ready()])
        print(json.dumps({"interrupted": False}))
        sys.exit(0)
    except KeyboardInterrupt:
        pass
    m.save(sys.argv[1])
    np.savez(sys.argv[2], *m.get_weights())
    print(json.dumps({"interrupted": True, "iterations": m.optimizer.iterations,
                      "finite": all(bool(np.isfinite(w).all()) for w in m.get_weights())}))
"""


def test_sigint_during_fit_leaves_a_model_that_saves_and_loads(tmp_path):
    """A real SIGINT to a process inside fit (an LSTM whose steps take milliseconds, so the signal
    usually lands in native code): KeyboardInterrupt, then save works and the file loads, predicts
    and trains on with the interrupted weights."""
    path, wpath = str(tmp_path / "interrupted.bigcore"), str(tmp_path / "w.npz")
    env = dict(os.environ, PYTHONPATH=PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([PY, "-c", textwrap.dedent(_SIGINT_CHILD), path, wpath], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "READY" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "READY" in line, f"the child never got going: {proc.stderr.read()[-3000:]}"
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"rc {proc.returncode}:\n{err[-3000:]}"
    res = _last_json(out)
    assert res["interrupted"] and res["finite"] and res["iterations"] >= 2
    loaded = bigcore.models.load_model(path)
    saved = np.load(wpath)
    for i, w in enumerate(loaded.get_weights()):
        assert np.array_equal(w, saved[f"arr_{i}"])
    assert loaded.optimizer.iterations == res["iterations"]
    x = np.random.default_rng(1).normal(size=(8, 30, 16)).astype(np.float32)
    assert np.isfinite(loaded.predict(x, verbose=0)).all()
    loaded.fit(x, np.arange(8) % 5, epochs=1, verbose=0)
    assert all(np.isfinite(w).all() for w in loaded.get_weights())


# =============================================================================================
# (d) numerics
# =============================================================================================

def _lse_reference(z, t):
    """float64 categorical cross-entropy from logits: mean over rows of lse(z) - sum(t * z) * ..."""
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse * t.sum(axis=1) - (t * z).sum(axis=1)))


LOGITS = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, -1e4],
                   [0.5, -0.25, 1e4], [-1e4, 0.0, -9999.0]], np.float32)
LABELS = np.array([1, 2, 0, 1, 0, 2])


def test_categorical_crossentropy_from_logits_of_1e4_is_finite_and_exact():
    t = np.eye(3, dtype=np.float32)[LABELS]
    ref = _lse_reference(LOGITS, t)
    assert 1e3 < ref < 1e5  # large but finite: wrong classes cost ~2e4 nats
    cce = losses.CategoricalCrossentropy(from_logits=True)(t, LOGITS)
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS)
    assert math.isfinite(cce) and math.isfinite(scce)
    assert cce == pytest.approx(ref, rel=1e-6) and scce == pytest.approx(ref, rel=1e-6)
    soft = np.full((6, 3), 1 / 3, np.float32)  # soft labels: every logit counts
    assert losses.CategoricalCrossentropy(from_logits=True)(soft, LOGITS) == pytest.approx(
        _lse_reference(LOGITS, soft), rel=1e-6)


def test_binary_crossentropy_from_logits_of_1e4_is_finite_and_exact():
    z = LOGITS.reshape(-1, 1).astype(np.float64)
    t = (np.arange(len(z)) % 2).reshape(-1, 1).astype(np.float32)
    ref = float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))
    got = losses.BinaryCrossentropy(from_logits=True)(t, LOGITS.reshape(-1, 1))
    assert math.isfinite(got) and got == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("sparse", [True, False])
def test_a_model_with_logits_of_1e4_evaluates_exactly_and_trains_finitely(sparse):
    """Through the native training step: logits of +-1e4 from a Dense layer, the loss from logits."""
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, layers.Dense(3)(inp))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True) if sparse else \
        losses.CategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizers.SGD(1e-3), loss=loss)
    model.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])  # logits = x
    y = LABELS if sparse else np.eye(3, dtype=np.float32)[LABELS]
    ref = _lse_reference(LOGITS, np.eye(3)[LABELS])
    assert model.evaluate(LOGITS, y, batch_size=6, verbose=0) == pytest.approx(ref, rel=1e-6)
    value = model.train_on_batch(LOGITS, y)
    assert value == pytest.approx(ref, rel=1e-6)
    kernel, bias = model.get_weights()
    assert np.isfinite(kernel).all() and np.isfinite(bias).all()
    # the step is exactly -lr * dL/dW with dL/dz = (softmax(z) - t) / rows, z = x (float64 reference)
    z = LOGITS.astype(np.float64)
    s = np.exp(z - z.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    dz = (s - np.eye(3)[LABELS]) / len(z)
    np.testing.assert_allclose(kernel, np.eye(3) - 1e-3 * z.T @ dz, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, -1e-3 * dz.sum(0), rtol=1e-5, atol=1e-9)


def test_softmax_then_crossentropy_on_logits_of_1e4_matches_keras_clipping():
    """Probabilities (Dense softmax + CCE, the fused path): 0 and 1 are clipped to 1e-7 / 1 - 1e-7 as in
    Keras, so a confident wrong answer costs -log(1e-7), not inf."""
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, layers.Dense(3, activation="softmax")(inp))
    model.compile(optimizer=optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    model.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    z = LOGITS.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref = float(np.mean(-np.log(np.clip(p[np.arange(6), LABELS], 1e-7, 1 - 1e-7))))
    got = model.evaluate(LOGITS, LABELS, batch_size=6, verbose=0)
    assert math.isfinite(got) and got == pytest.approx(ref, rel=1e-5)
    model.train_on_batch(LOGITS, LABELS)
    assert all(np.isfinite(a).all() for a in model.get_weights())


def _exploding(case, **clip):
    """A linear regression whose plain SGD steps blow up: inputs and targets of 1e3 (curvature ~1e6)
    or a learning rate of 1e6. Returns (weights after each step, the learning rate)."""
    rng = np.random.default_rng(0)
    scale, lr = (1e3, 0.5) if case == "huge_inputs" else (1.0, 1e6)
    x = (rng.normal(size=(32, 8)) * scale).astype(np.float32)
    y = (rng.normal(size=(32, 2)) * scale).astype(np.float32)
    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([layers.Dense(16, input_shape=(8,)), layers.Dense(2)])
    model.compile(optimizer=optimizers.SGD(lr, **clip), loss="mse")
    trace = [model.get_weights()]
    for _ in range(30):
        model.train_on_batch(x, y)
        trace.append(model.get_weights())
    return trace, lr


@pytest.mark.parametrize("case", ["huge_inputs", "huge_lr"])
def test_exploding_gradients_are_tamed_by_clipnorm(case):
    with np.errstate(all="ignore"):
        plain, _ = _exploding(case)
    assert not all(np.isfinite(w).all() for w in plain[-1]), "the unclipped run should blow up"
    clipped, lr = _exploding(case, clipnorm=1.0)
    assert all(np.isfinite(w).all() for w in clipped[-1])
    for before, after in zip(clipped, clipped[1:]):  # each tensor moves by at most lr * clipnorm
        for a, b in zip(before, after):
            assert np.linalg.norm((b - a).astype(np.float64)) <= lr * 1.0 * (1 + 1e-4)


@pytest.mark.parametrize("case", ["huge_inputs", "huge_lr"])
def test_exploding_gradients_are_tamed_by_global_clipnorm_and_clipvalue(case):
    g, lr = _exploding(case, global_clipnorm=1.0)
    v, _ = _exploding(case, clipvalue=0.5)
    assert all(np.isfinite(w).all() for w in g[-1] + v[-1])
    for before, after in zip(g, g[1:]):  # all tensors together move by at most lr * global_clipnorm
        total = math.sqrt(sum(np.sum((b - a).astype(np.float64) ** 2) for a, b in zip(before, after)))
        assert total <= lr * (1 + 1e-4)
    for before, after in zip(v, v[1:]):  # each value moves by at most lr * clipvalue
        for a, b in zip(before, after):
            assert np.abs(b - a).max() <= lr * 0.5 * (1 + 1e-4)


class _Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epoch, self.batches, self.epochs_begun = None, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epochs_begun.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self.epoch, batch, logs["loss"]))


def test_terminate_on_nan_stops_at_the_first_exploding_batch(capsys):
    """Adam with a learning rate of 1e38: step 0 is finite and moves every weight by ~1e38, so the
    output of step 1 overflows to inf. Training stops at epoch 0, batch 1."""
    model = bigcore.Sequential([layers.Dense(1, input_shape=(8,))])
    model.compile(optimizer=optimizers.Adam(1e38), loss="mse")
    x, y = np.ones((64, 8), np.float32), np.zeros(64, np.float32)
    rec = _Recorder()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[rec, callbacks.TerminateOnNaN()])
    assert [(e, b) for e, b, _ in rec.batches] == [(0, 0), (0, 1)]
    assert math.isfinite(rec.batches[0][2]) and not math.isfinite(rec.batches[1][2])
    assert rec.epochs_begun == [0] and model.optimizer.iterations == 2
    assert len(model.history.history["loss"]) == 1
    assert "Batch 1" in capsys.readouterr().out


class _PoisonAt(callbacks.Callback):
    """Writes a NaN into the output layer's kernel at the start of (epoch, batch)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            k = self.model.layers[-1].kernel
            v = k.numpy()
            v[0, 0] = np.nan
            k.assign(v)


@pytest.mark.parametrize("raise_error", [False, True])
def test_terminate_on_nan_stops_at_the_poisoned_batch(raise_error, capsys):
    """4 batches per epoch; the weights turn NaN at epoch 1, batch 2: that batch is the last one run
    (or TerminateOnNaN(raise_error=True) raises there)."""
    model = _mlp(seed=1)
    x, y = _data(32)
    rec = _Recorder()
    cbs = [_PoisonAt(1, 2), rec, callbacks.TerminateOnNaN(raise_error=raise_error)]
    if raise_error:
        with pytest.raises(RuntimeError, match="batch 2"):
            model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=cbs)
    else:
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=cbs)
        assert "Batch 2" in capsys.readouterr().out
        assert len(model.history.history["loss"]) == 2
    assert [(e, b) for e, b, _ in rec.batches][-1] == (1, 2)
    assert all(math.isfinite(v) for _, _, v in rec.batches[:-1]) and not math.isfinite(rec.batches[-1][2])
    assert rec.epochs_begun == [0, 1] and model.optimizer.iterations == 4 + 3


def test_nan_weights_behind_a_relu_are_not_hidden():
    """ReLU passes NaN (as Keras), so NaN weights behind it show in the predictions and stop training
    through TerminateOnNaN at the first batch (fixed in cpp/kernels/float/body.h: relu mapped NaN to 0)."""
    model = _mlp(seed=1)
    x, y = _data(32)
    k = model.layers[0].kernel
    v = k.numpy()
    v[0, 0] = np.nan
    k.assign(v)
    rec = _Recorder()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[rec, callbacks.TerminateOnNaN()])
    assert not np.isfinite(model.predict(x, verbose=0)).all(), "NaN weights gave finite predictions"
    assert len(rec.batches) == 1, "TerminateOnNaN did not stop at the first batch"
