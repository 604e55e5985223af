"""Callbacks driven by hand, the way the fit loop drives them, against a tiny fake model."""

import io
import math
import re

import numpy as np
import pytest

from bigcore.callbacks import progbar as cbmod
from bigcore.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ProgbarLogger,
    TerminateOnNaN,
)


class FakeOptimizer:
    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate


class FakeModel:
    """What callbacks touch on a model. get_weights returns views, like arena-backed weights."""

    def __init__(self, metrics_names=()):
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.metrics_names = list(metrics_names)
        self.weights = [np.zeros(3, np.float32), np.zeros((2, 2), np.float32)]

    def get_weights(self):
        return list(self.weights)

    def set_weights(self, weights):
        for dst, src in zip(self.weights, weights):
            dst[...] = src


def fit(model, callbacks, epoch_logs, steps=4, verbose=0, batch_logs=None):
    """The fit loop: epoch `e` sets every weight to e, so restored weights name their epoch."""
    cl = CallbackList(callbacks, add_history=True, add_progbar=True, model=model,
                      verbose=verbose, epochs=len(epoch_logs), steps=steps)
    model.stop_training = False
    cl.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        for b in range(steps):
            cl.on_train_batch_begin(b)
            for w in model.weights:
                w[...] = epoch
            cl.on_train_batch_end(b, dict(batch_logs(epoch, b) if batch_logs else logs))
            if model.stop_training:
                break
        cl.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cl.on_train_end()
    return model.history


def losses(*values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]


# --- History / CallbackList -------------------------------------------------------------------

def test_history_records_every_epoch():
    model = FakeModel()
    logs = [{"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6},
            {"loss": 0.4, "accuracy": 0.9, "val_loss": 0.55}]
    history = fit(model, [], logs)
    assert isinstance(history, History) and model.history is history
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.5, 0.4], "accuracy": [0.8, 0.9], "val_loss": [0.6, 0.55]}


def test_history_sets_model_history_on_train_begin():
    model, history = FakeModel(), History()
    history.set_model(model)
    history.on_train_begin()
    assert model.history is history


def test_callbacklist_adds_defaults_once_and_forwards_params():
    user_history, user_progbar = History(), ProgbarLogger()
    cl = CallbackList([user_history, user_progbar], add_history=True, add_progbar=True,
                      model=FakeModel(), verbose=2, epochs=3, steps=7)
    assert cl.callbacks == [user_history, user_progbar]
    assert user_progbar.verbose == 2 and user_progbar.epochs == 3 and user_progbar.target == 7
    assert cl.model.history is user_history

    plain = Callback()
    cl = CallbackList([plain], add_history=True, add_progbar=True, verbose=0, epochs=1, steps=1)
    assert [type(c) for c in cl.callbacks] == [Callback, History, ProgbarLogger]
    assert plain.params == {"verbose": 0, "epochs": 1, "steps": 1}


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_batch_end", batch))


class OldStyle(Callback):
    """Keras 2 name: on_batch_end, reached through the base on_train_batch_end."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_batch_end(self, batch, logs=None):
        self.batches.append(batch)


def test_callbacklist_calls_only_overridden_hooks():
    rec, old = Recorder(), OldStyle()
    seen = []
    lam = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch),
                         on_predict_end=lambda logs: seen.append("predict_end"))
    cl = CallbackList([Callback(), rec, old, lam])

    # Per-hook dispatch lists hold only callbacks that override the hook (or its Keras 2 alias).
    assert cl._hooks["on_train_batch_end"] == (old.on_train_batch_end, lam.on_train_batch_end)
    assert cl._hooks["on_train_batch_begin"] == ()
    assert cl._hooks["on_epoch_end"] == (rec.on_epoch_end,)
    assert cl._hooks["on_predict_end"] == (lam.on_predict_end,)

    for b in range(3):
        cl.on_train_batch_begin(b)
        cl.on_train_batch_end(b, {"loss": 1.0})
    cl.on_test_batch_end(5, {})
    cl.on_epoch_end(0, {"loss": 1.0})
    cl.on_predict_end()
    assert old.batches == [0, 1, 2]
    assert seen == [0, 1, 2, "predict_end"]
    assert rec.calls == [("test_batch_end", 5), ("epoch_end", 0, {"loss": 1.0})]

    later = Recorder()
    cl.append(later)
    cl.on_epoch_end(1, {"loss": 0.5})
    assert later.calls == [("epoch_end", 1, {"loss": 0.5})]


def test_callbacks_share_one_logs_dict():
    # LearningRateScheduler adds learning_rate to the epoch logs; History, after it, sees it.
    model = FakeModel()
    history = fit(model, [LearningRateScheduler(lambda epoch, lr: lr)], losses(1.0, 0.9))
    assert history.history["learning_rate"] == [pytest.approx(0.1)] * 2


# --- EarlyStopping ----------------------------------------------------------------------------

def test_early_stopping_stops_after_patience_and_restores_best_weights():
    model = FakeModel()
    es = EarlyStopping(patience=2, restore_best_weights=True)
    history = fit(model, [es], losses(1.0, 0.8, 0.9, 0.85, 0.95, 0.7))
    assert history.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 0.8 and es.best_epoch == 1
    for w in model.weights:  # weights of epoch 1, not of the last epoch run (3)
        np.testing.assert_array_equal(w, np.ones_like(w))


def test_early_stopping_without_restore_keeps_last_weights(capsys):
    model = FakeModel()
    es = EarlyStopping(monitor="loss", patience=1, verbose=1)
    fit(model, [es], [{"loss": v} for v in (1.0, 0.5, 0.6, 0.7, 0.1)])
    assert es.stopped_epoch == 2
    np.testing.assert_array_equal(model.weights[0], np.full(3, 2.0))
    assert "Epoch 3: early stopping" in capsys.readouterr().out


def test_early_stopping_min_delta():
    # 0.95 and 0.92 improve on 1.0 by less than min_delta=0.1: no improvement.
    es = EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    history = fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 0.95, 0.92, 0.5)])
    assert history.epoch == [0, 1]
    es = EarlyStopping(monitor="loss", min_delta=-0.1, patience=1)  # sign is ignored, like Keras
    assert es.min_delta == 0.1
    es = EarlyStopping(monitor="loss", min_delta=0.01, patience=1)
    history = fit(FakeModel(), [es], [{"loss": v} for v in (1.0, 0.95, 0.92, 0.915, 0.5)])
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_mode_max_and_auto():
    # auto: accuracy is maximized
    es = EarlyStopping(monitor="val_accuracy")
    history = fit(FakeModel(), [es], losses(0.5, 0.6, 0.55, 0.9, key="val_accuracy"))
    assert history.epoch == [0, 1, 2] and es.best == 0.6
    # mode='max' on a name auto cannot place
    es = EarlyStopping(monitor="val_score", mode="max")
    history = fit(FakeModel(), [es], losses(0.5, 0.6, 0.55, key="val_score"))
    assert history.epoch == [0, 1, 2] and es.best == 0.6
    # mode='min' on the same values stops at the first rise
    es = EarlyStopping(monitor="val_score", mode="min")
    history = fit(FakeModel(), [es], losses(0.5, 0.6, 0.55, key="val_score"))
    assert history.epoch == [0, 1] and es.best == 0.5


def test_early_stopping_auto_uses_metric_direction():
    class Metric:
        name, _direction = "score", "up"

    model = FakeModel()
    model.metrics = [Metric()]
    es = EarlyStopping(monitor="val_score")
    history = fit(model, [es], losses(0.5, 0.6, 0.55, key="val_score"))
    assert history.epoch == [0, 1, 2]


def test_early_stopping_bad_mode_and_unknown_direction():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        fit(FakeModel(), [EarlyStopping(monitor="val_score")], losses(0.5, key="val_score"))


def test_early_stopping_baseline():
    # Never beating baseline=0.5: waiting is not reset by the first epoch, so it stops one
    # epoch sooner than without a baseline (Keras semantics).
    flat = losses(0.9, 0.95, 0.93, 0.94, 0.92)
    assert fit(FakeModel(), [EarlyStopping(patience=2, baseline=0.5)], flat).epoch == [0, 1]
    assert fit(FakeModel(), [EarlyStopping(patience=2)], flat).epoch == [0, 1, 2]
    # Beating the baseline behaves like no baseline.
    good = losses(0.4, 0.45, 0.42, 0.41, 0.3)
    assert fit(FakeModel(), [EarlyStopping(patience=2, baseline=0.5)], good).epoch == [0, 1, 2]


def test_early_stopping_restores_best_even_below_baseline():
    model = FakeModel()
    es = EarlyStopping(patience=2, baseline=0.1, restore_best_weights=True)
    fit(model, [es], losses(0.9, 0.8, 0.85, 0.7))
    assert es.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], np.ones(3))


def test_early_stopping_start_from_epoch():
    rising = [{"loss": v} for v in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert fit(FakeModel(), [EarlyStopping(monitor="loss")], rising).epoch == [0, 1]
    es = EarlyStopping(monitor="loss", start_from_epoch=2)
    assert fit(FakeModel(), [es], rising).epoch == [0, 1, 2, 3]


def test_early_stopping_missing_monitor_warns_and_continues():
    es = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="val_loss"):
        history = fit(FakeModel(), [es], [{"loss": 1.0}, {"loss": 2.0}])
    assert history.epoch == [0, 1]


def test_early_stopping_is_reusable_across_fits():
    es = EarlyStopping(patience=1)
    assert fit(FakeModel(), [es], losses(1.0, 1.1, 0.5)).epoch == [0, 1]
    assert fit(FakeModel(), [es], losses(3.0, 2.0, 1.0)).epoch == [0, 1, 2]


# --- TerminateOnNaN ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf, np.float32("nan")])
def test_terminate_on_nan_stops_at_the_bad_batch(bad, capsys):
    model = FakeModel()
    stopped_at = []
    watcher = LambdaCallback(
        on_train_batch_end=lambda b, logs: model.stop_training and stopped_at.append(b))
    history = fit(model, [TerminateOnNaN(), watcher], [{"loss": 1.0}] * 3, steps=5,
                  batch_logs=lambda e, b: {"loss": bad if (e, b) == (1, 2) else 0.5})
    assert model.stop_training and stopped_at == [2]
    assert history.epoch == [0, 1]
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_raise_error_and_finite_losses():
    cb = TerminateOnNaN(raise_error=True)
    cb.set_model(FakeModel())
    cb.on_train_batch_end(0, {"loss": 0.3})
    cb.on_train_batch_end(1, {})
    assert not cb.model.stop_training
    with pytest.raises(RuntimeError, match="batch 2"):
        cb.on_train_batch_end(2, {"loss": float("nan")})


# --- LambdaCallback / LearningRateScheduler -----------------------------------------------------

def test_lambda_callback_hooks():
    events = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_train_end=lambda logs: events.append("train_end"),
        on_test_end=lambda logs: events.append("test_end"))
    fit(FakeModel(), [cb], [{"loss": 0.5}, {"loss": 0.25}], steps=2)
    CallbackList([cb]).on_test_end()
    assert events == ["train_begin", ("epoch_begin", 0), ("epoch_end", 0, 0.5),
                      ("epoch_begin", 1), ("epoch_end", 1, 0.25), "train_end", "test_end"]


def test_learning_rate_scheduler_sets_lr(capsys):
    model = FakeModel()
    seen = []
    probe = LambdaCallback(on_train_batch_begin=lambda b, logs: b == 0 and seen.append(
        model.optimizer.learning_rate))
    sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr * 0.5, verbose=1)
    history = fit(model, [sched, probe], [{"loss": 1.0}] * 3)
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    out = capsys.readouterr().out
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in out


def test_learning_rate_scheduler_one_argument_schedule_and_bad_output():
    model = FakeModel()
    fit(model, [LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], [{"loss": 1.0}] * 2)
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match="should be a float"):
        fit(FakeModel(), [LearningRateScheduler(lambda epoch, lr: "fast")], [{"loss": 1.0}])


# --- CSVLogger ----------------------------------------------------------------------------------

def test_csv_logger_writes_sorted_keys(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"val_loss": 0.6, "loss": 0.5, "accuracy": 0.75},
            {"val_loss": 0.55, "loss": 0.25, "accuracy": 0.875}]
    fit(FakeModel(), [CSVLogger(path)], logs)
    assert path.read_text() == ("epoch,accuracy,loss,val_loss\n"
                                "0,0.75,0.5,0.6\n"
                                "1,0.875,0.25,0.55\n")


def test_csv_logger_append_separator_and_missing_val(tmp_path):
    path = tmp_path / "log.tsv"
    model = FakeModel(metrics_names=["loss", "val_loss"])
    fit(model, [CSVLogger(str(path), separator="\t")], [{"loss": 0.5}])
    appender = CSVLogger(str(path), separator="\t", append=True)
    fit(model, [appender], [{"loss": 0.25, "val_loss": 0.3}])
    assert path.read_text().splitlines() == [
        "epoch\tloss\tval_loss", "0\t0.5\tNA", "0\t0.25\t0.3"]
    fit(model, [CSVLogger(str(path), separator="\t")], [{"loss": 0.125, "val_loss": 1.0}])
    assert path.read_text().splitlines() == ["epoch\tloss\tval_loss", "0\t0.125\t1.0"]


# --- ProgbarLogger ------------------------------------------------------------------------------

class TTY(io.StringIO):
    def isatty(self):
        return True


EPOCH_LOGS = [{"loss": 0.49612, "accuracy": 0.824, "val_loss": 0.4, "val_accuracy": 0.85},
              {"loss": 0.00001, "accuracy": 0.9, "val_loss": 0.0, "val_accuracy": 0.95}]


def test_progbar_non_tty_prints_one_final_line_per_epoch(capsys):
    fit(FakeModel(), [], EPOCH_LOGS, steps=10, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    time_re = r" - \d+s \d+(us|ms|s)/step"
    assert re.fullmatch(r"10/10 \[={30}\]" + time_re + re.escape(
        " - loss: 0.4961 - accuracy: 0.8240 - val_loss: 0.4000 - val_accuracy: 0.8500"), lines[1])
    assert re.fullmatch(r"10/10 \[={30}\]" + time_re + re.escape(
        " - loss: 1.0000e-05 - accuracy: 0.9000 - val_loss: 0.0000e+00 - val_accuracy: 0.9500"),
        lines[3])


def test_progbar_verbose_2_and_0(capsys):
    fit(FakeModel(), [], EPOCH_LOGS[:1], steps=1500, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(r"1500/1500 - \d+s - \d+(us|ms|s)/step" + re.escape(
        " - loss: 0.4961 - accuracy: 0.8240 - val_loss: 0.4000 - val_accuracy: 0.8500\n"), out)
    fit(FakeModel(), [], EPOCH_LOGS, steps=10, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_tty_redraws_in_place_at_most_every_50ms(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(cbmod.time, "perf_counter", lambda: clock[0])
    out = TTY()
    monkeypatch.setattr(cbmod.sys, "stdout", out)
    pb = ProgbarLogger()
    pb.set_params({"verbose": 1, "epochs": 2, "steps": 100})
    pb.on_train_begin()
    pb.on_epoch_begin(0)
    for b in range(100):
        clock[0] = b / 64  # one batch every 15.6 ms: a redraw every 4th batch
        pb.on_train_batch_end(b, {"loss": 1.0 / (b + 1)})
    pb.on_epoch_end(0, {"loss": 0.01, "val_loss": 0.02})
    text = out.getvalue()
    assert text.startswith("Epoch 1/2\n\r  1/100 [") and text.endswith("\n")
    draws = text.split("\r")[1:]
    assert len(draws) == 25 + 1  # batches 0, 4, ..., 96 and the final line
    assert draws[1] == "  5/100 [>.............................] - ETA: 1s - loss: 0.2000"
    assert draws[-1].rstrip() == "100/100 [==============================] - 2s 15ms/step" \
                                 " - loss: 0.0100 - val_loss: 0.0200"
    # batch 48: 49/100 fills 14 of 30 cells; 0.75 s for 49 steps leaves 0.78 s for 51
    assert draws[12].startswith(
        " 49/100 [" + "=" * 13 + ">" + "." * 16 + "] - ETA: 0s - loss: 0.0204")


def test_progbar_tty_blanks_leftovers_of_longer_line(monkeypatch):
    out = TTY()
    monkeypatch.setattr(cbmod.sys, "stdout", out)
    pb = ProgbarLogger()
    pb.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    pb.on_epoch_begin(0)
    pb.on_train_batch_end(0, {"loss": 1.0, "a_long_metric_name": 2.0})
    pb.on_epoch_end(0, {"loss": 1.0})
    first, final = out.getvalue().split("\r")[1:]
    assert len(final.rstrip("\n")) >= len(first)


def test_progbar_evaluate_and_predict(capsys):
    def evaluate(cl, steps=5):
        cl.on_test_begin()
        for b in range(steps):
            cl.on_test_batch_end(b, {"loss": 0.3})
        cl.on_test_end({"loss": 0.3, "accuracy": 0.9})

    evaluate(CallbackList(add_progbar=True, verbose=1, epochs=1, steps=5))
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"5/5 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 0\.3000 - accuracy: 0\.9000\n", out)

    # Validation inside fit prints no bar of its own.
    cl = CallbackList(add_progbar=True, verbose=1, epochs=1, steps=5)
    cl.on_train_begin()
    evaluate(cl)
    assert capsys.readouterr().out == ""

    for verbose, expected in ((1, 1), (2, 0), (0, 0)):
        cl = CallbackList(add_progbar=True, verbose=verbose, epochs=1, steps=3)
        cl.on_predict_begin()
        for b in range(3):
            cl.on_predict_batch_end(b, {"outputs": np.zeros(2)})
        cl.on_predict_end()
        out = capsys.readouterr().out
        assert out.count("\n") == expected
        if expected:
            assert re.fullmatch(r"3/3 \[={30}\] - \d+s \d+(us|ms|s)/step\n", out)


def test_progbar_unknown_steps_and_early_stop(capsys):
    cl = CallbackList(add_progbar=True, verbose=1, epochs=1, steps=None)
    cl.on_train_begin()
    cl.on_epoch_begin(0)
    for b in range(7):
        cl.on_train_batch_end(b, {"loss": 1.0})
    cl.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out.startswith("7/7 [==============================] - ")

    cl = CallbackList(add_progbar=True, verbose=1, epochs=1, steps=100)
    cl.on_train_begin()
    cl.on_epoch_begin(0)
    for b in range(37):  # e.g. TerminateOnNaN stopped the epoch
        cl.on_train_batch_end(b, {"loss": 1.0})
    cl.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out.startswith(" 37/100 [==========>...................] - ")
