"""What fit does once per call and what it does per batch: the arrays are checked once (a native
BatchSource from Program.bind), the optimizer's constants cross once (and again when one is set),
and the metrics are reduced only when something reads the logs."""

import gc
import re
import sys
import time

import bigcore
import numpy as np
import pytest
from bigcore import callbacks, layers, optimizers

N, D, C = 64, 6, 3


def _data():
    rng = np.random.default_rng(3)
    return rng.normal(size=(N, D)).astype(np.float32), rng.integers(0, C, N)


def _model(optimizer="adam", seed=5):
    bigcore.utils.set_random_seed(seed)
    model = bigcore.Sequential([layers.Input((D,)), layers.Dense(8, activation="tanh"),
                                layers.Dense(C, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# -- the batch source -------------------------------------------------------------------------

def test_bind_checks_the_arrays_once_and_holds_them():
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    native = model._program.native
    with pytest.raises(ValueError, match="float32"):
        native.bind([x.astype(np.float64)])
    with pytest.raises(ValueError, match="expects 1 input arrays, got 2"):
        native.bind([x, x])
    with pytest.raises(ValueError, match="numpy array"):
        native.bind([x.tolist()])
    xs = [x.copy()]
    src = native.bind(xs, outs=[np.empty((N, C), np.float32)])
    assert src.rows == N
    xs[0] = None  # the list is the caller's; the source holds the arrays themselves
    del xs
    gc.collect()
    out = np.empty((N, C), np.float32)
    src.set_outputs([out])
    native.predict_rows(src, 0, N)
    np.testing.assert_array_equal(out, model.predict(x, verbose=0))


def test_a_source_runs_only_its_program_and_its_rows():
    x, y = _data()
    a, b = _model(), _model()
    stats = np.zeros(a._program.native.stats_size)
    src = a._program.native.bind([x], [y.reshape(-1, 1).astype(np.float32)])
    with pytest.raises(ValueError, match="another program"):
        b._program.native.evaluate_step(src, None, 0, 8, stats)
    with pytest.raises(ValueError, match="out of range"):
        a._program.native.evaluate_step(src, None, N - 4, 8, stats)
    with pytest.raises(ValueError, match="out of range"):
        a._program.native.evaluate_step(src, np.arange(4, dtype=np.int64), 0, 8, stats)
    with pytest.raises(ValueError, match="needs output arrays"):
        a._program.native.predict_rows(src, 0, 8)
    src.set_outputs([np.empty((4, C), np.float32)])
    with pytest.raises(ValueError, match="too few rows"):
        a._program.native.predict_rows(src, 0, 8)


# -- the optimizer's constants ---------------------------------------------------------------

@pytest.mark.parametrize("make,name,value", [
    (lambda **k: optimizers.SGD(learning_rate=0.1, **k), "momentum", 0.9),
    (lambda **k: optimizers.SGD(learning_rate=0.1, **k), "clipnorm", 0.05),
    (lambda **k: optimizers.Adam(**k), "beta_1", 0.5),
    (lambda **k: optimizers.RMSprop(**k), "rho", 0.5),
    (lambda **k: optimizers.Adam(**k), "weight_decay", 0.1),
])
def test_a_hyper_parameter_set_after_compile_takes_effect_at_the_next_step(make, name, value):
    """Keras reads the hyper-parameters at every step; bigcore sends them again when one is set."""
    x, y = _data()
    changed, given, untouched = _model(make()), _model(make(**{name: value})), _model(make())
    setattr(changed.optimizer, name, value)  # after compile, which sent the constants
    for m in (changed, given, untouched):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert _same_weights(changed, given)
    assert not _same_weights(changed, untouched)


def test_adam_with_beta_1_one_is_refused_where_it_is_given():
    """Adam(beta_1=1) divides by 1 - beta_1^t = 0: refused by the constructor, and by a later set,
    which leaves the optimizer and the model as they were."""
    with pytest.raises(ValueError, match=r"`beta_1` must be in \[0, 1\). Received: beta_1=1.0"):
        optimizers.Adam(beta_1=1.0)
    x, y = _data()
    model = _model(optimizers.Adam())
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"`beta_1` must be in \[0, 1\)"):
        model.optimizer.beta_1 = 1.0
    assert model.optimizer.beta_1 == 0.9
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.optimizer.iterations > 0
    assert not any(np.array_equal(u, v) for u, v in zip(before, model.get_weights()))


# -- metrics, reduced when read ---------------------------------------------------------------

def _count_reductions(model):
    metric = model._metrics[0][1]
    calls = []
    result = metric._result  # the reduction of summed counts (result() is Keras's public reader)

    def counted(acc):
        calls.append(1)
        return result(acc)

    metric._result = counted
    return calls


def test_metrics_are_reduced_only_when_something_reads_them():
    x, y = _data()
    model = _model()
    calls = _count_reductions(model)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(calls) == 2  # once per epoch (its logs), never per batch
    seen = []
    calls.clear()
    reader = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[reader])
    assert len(seen) == 16 and len(calls) == 16 + 2
    assert all(type(logs) is dict and set(logs) == {"loss", "accuracy"} for logs in seen)
    # a batch's logs are the running means so far: the last batch's are the epoch's
    assert seen[7] == {"loss": history.history["loss"][0], "accuracy": history.history["accuracy"][0]}
    assert seen[15] == {"loss": history.history["loss"][1], "accuracy": history.history["accuracy"][1]}


def test_evaluate_reduces_per_batch_only_for_a_reader():
    x, y = _data()
    model = _model()
    calls = _count_reductions(model)
    plain = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert len(calls) == 1
    seen = []
    reader = callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: seen.append(dict(logs)))
    assert model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[reader], return_dict=True) == plain
    assert len(seen) == 8 and seen[-1] == plain


class _TTY:
    """A terminal: the progress bar redraws in place."""

    def __init__(self):
        self.text = []

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass

    def isatty(self):
        return True


def test_the_progress_bar_shows_each_batchs_logs(monkeypatch):
    """On a terminal the bar redraws (here at every batch: the clock moves 1 s per read) with the
    logs reduced lazily at the draw; they are the values a reading callback gets."""
    x, y = _data()
    seen = []
    reader = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    _model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[reader], shuffle=False)
    clock = iter(range(10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    tty = _TTY()
    monkeypatch.setattr(sys, "stdout", tty)
    _model().fit(x, y, batch_size=8, epochs=1, verbose=1, shuffle=False)
    monkeypatch.undo()
    drawn = re.findall(r"\r *(\d+)/8 \[[^\]]*\] - ETA: \S+ - loss: (\S+) - accuracy: (\S+)", "".join(tty.text))
    assert [int(b) for b, _, _ in drawn] == list(range(1, 9))
    for (batch, loss, acc), logs in zip(drawn, seen):
        assert (loss, acc) == (f"{logs['loss']:.4f}", f"{logs['accuracy']:.4f}"), batch
