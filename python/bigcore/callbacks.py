"""Keras-3-compatible callbacks: the hooks fit / evaluate / predict call, and the stock callbacks.

The training loop calls `on_train_batch_end` once per native step (~100 us), so `CallbackList`
precomputes, per hook, the bound methods of the callbacks that override it and calls only those;
`ProgbarLogger` checks one clock per batch and formats text only when it redraws.
"""

import csv
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np

_HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)
# Keras 2 names: the base on_train_batch_* forwards to them, so overriding either counts.
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


class Callback:
    """Base class: every hook is a no-op. `model` and `params` are set by the fit loop."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _overrides(cb, name):
    """True if `cb.name` is not Callback's no-op (a subclass method or an instance attribute)."""
    method = getattr(cb, name, None)
    return method is not None and getattr(method, "__func__", method) is not getattr(Callback, name)


class CallbackList(Callback):
    """Holds the callbacks of one fit/evaluate/predict call and forwards every hook to them."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks) if callbacks else []
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if add_history and self._history is None:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and self._progbar is None:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self._rebuild()
        self.set_model(model)
        self.set_params(params)

    def _rebuild(self):
        # Per hook: the bound methods to call, in list order. A batch with no overriding
        # callback costs one empty-tuple loop.
        self._hooks = {}
        for name in _HOOKS:
            alias = _ALIASES.get(name)
            self._hooks[name] = tuple(
                getattr(c, name) for c in self.callbacks
                if _overrides(c, name) or (alias and _overrides(c, alias)))

    def append(self, callback):
        self.callbacks.append(callback)
        self._rebuild()

    def __iter__(self):
        return iter(self.callbacks)

    def set_model(self, model):
        if model is None:
            return
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        self.params = params
        if params:
            for c in self.callbacks:
                c.set_params(params)

    def on_train_begin(self, logs=None):
        for f in self._hooks["on_train_begin"]:
            f(logs)

    def on_train_end(self, logs=None):
        for f in self._hooks["on_train_end"]:
            f(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for f in self._hooks["on_epoch_begin"]:
            f(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for f in self._hooks["on_epoch_end"]:
            f(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for f in self._hooks["on_train_batch_begin"]:
            f(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for f in self._hooks["on_train_batch_end"]:
            f(batch, logs)

    def on_test_begin(self, logs=None):
        for f in self._hooks["on_test_begin"]:
            f(logs)

    def on_test_end(self, logs=None):
        for f in self._hooks["on_test_end"]:
            f(logs)

    def on_test_batch_begin(self, batch, logs=None):
        for f in self._hooks["on_test_batch_begin"]:
            f(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        for f in self._hooks["on_test_batch_end"]:
            f(batch, logs)

    def on_predict_begin(self, logs=None):
        for f in self._hooks["on_predict_begin"]:
            f(logs)

    def on_predict_end(self, logs=None):
        for f in self._hooks["on_predict_end"]:
            f(logs)

    def on_predict_batch_begin(self, batch, logs=None):
        for f in self._hooks["on_predict_batch_begin"]:
            f(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        for f in self._hooks["on_predict_batch_end"]:
            f(batch, logs)


class History(Callback):
    """Records the epoch logs: `history[name]` is a list with one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


# --- progress bar -------------------------------------------------------------------------

_BAR_WIDTH = 30
_REDRAW_S = 0.05


def _live_stdout():
    """In-place redraws only on a terminal or in a notebook; a file or pipe gets final lines."""
    out = sys.stdout
    if "ipykernel" in type(out).__module__:
        return True
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _format_value(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return f" {v}"
    return f" {v:.4f}" if abs(v) > 1e-3 else f" {v:.4e}"


def _format_logs(logs):
    return "".join(f" - {k}:{_format_value(v)}" for k, v in (logs or {}).items())


def _format_per_step(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_eta(seconds):
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def _bar(current, target):
    """' 37/100 [==========>...................]' (Keras 2 layout), or '     37/Unknown'."""
    if not target:
        return "%7d/Unknown" % current
    digits = len(str(target))
    done = int(_BAR_WIDTH * min(current, target) / target)
    arrow = ("=" * (done - 1) + (">" if current < target else "=")) if done > 0 else ""
    return f"{current:{digits}d}/{target} [{arrow}{'.' * (_BAR_WIDTH - done)}]"


class ProgbarLogger(Callback):
    """Prints the Keras 2 style progress bar; params: verbose (0|1|2), epochs, steps."""

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self._in_fit = False  # validation inside fit shows no bar of its own
        self._reset()

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _reset(self):
        self.seen = 0
        self._start = time.perf_counter()
        self._next_draw = self._start  # the first batch draws
        self._width = 0  # length of the line on screen, to blank what a shorter one leaves
        self._live = self.verbose == 1 and _live_stdout()

    def _update(self, batch, logs):
        self.seen = batch + 1
        if self._live:
            now = time.perf_counter()
            if now >= self._next_draw:
                self._next_draw = now + _REDRAW_S
                self._draw(now, logs)

    def _draw(self, now, logs):
        elapsed = now - self._start
        if self.target:
            info = " - ETA: " + _format_eta(elapsed / self.seen * (self.target - self.seen))
        else:
            info = f" - {elapsed:.0f}s {_format_per_step(elapsed / self.seen)}"
        self._write("\r", _bar(self.seen, self.target) + info + _format_logs(logs), "")

    def _finish(self, logs):
        elapsed = time.perf_counter() - self._start
        current = self.seen if 0 < self.seen < (self.target or 0) else (self.target or self.seen)
        per_step = _format_per_step(elapsed / self.seen if self.seen else 0.0)
        if self.verbose == 1:
            line = f"{_bar(current, self.target or current)} - {elapsed:.0f}s {per_step}"
            self._write("\r" if self._live else "", line + _format_logs(logs), "\n")
        elif self.verbose == 2:
            count = f"{current:{len(str(self.target or current))}d}/{self.target or current}"
            line = f"{count} - {elapsed:.0f}s - {per_step}"
            self._write("", line + _format_logs(logs), "\n")

    def _write(self, start, line, end):
        pad = " " * (self._width - len(line)) if start == "\r" else ""
        self._width = 0 if end else len(line)
        sys.stdout.write(start + line + pad + end)
        sys.stdout.flush()

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        if self.verbose and self.epochs > 1:
            self._write("", f"Epoch {epoch + 1}/{self.epochs}", "\n")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # predictions are not logs

    def on_predict_end(self, logs=None):
        if self.verbose == 1:
            self._finish(None)


# --- stock callbacks ----------------------------------------------------------------------

# Direction of a metric in mode='auto' when the model does not say (metric._direction).
_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "cosine_similarity",
       "true_positives", "true_negatives")
_DOWN = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence",
         "poisson", "logcosh", "huber", "false_positives", "false_negatives")


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by `min_delta` for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"EarlyStopping mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.sign = None  # +1: lower is better, -1: higher is better; found at the first epoch end
        self.on_train_begin()

    def _direction(self):
        if self.mode != "auto":
            return 1 if self.mode == "min" else -1
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            return 1
        for m in getattr(self.model, "metrics", None) or ():
            if getattr(m, "name", None) == name and hasattr(m, "_direction"):
                return -1 if m._direction == "up" else 1
        if any(s in name for s in _UP):
            return -1
        if any(s in name for s in _DOWN):
            return 1
        raise ValueError(
            f"EarlyStopping cannot tell whether monitor={self.monitor!r} should be minimized or "
            "maximized. Pass mode='min' or mode='max'.")

    def _improves(self, value, reference):
        # min: value < reference - min_delta; max: value > reference + min_delta.
        return reference is None or self.sign * (value - reference) < -self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.sign is None:
            self.sign = self._direction()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self._weights(), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self._weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _weights(self):
        # Copies: a model's weights may be views into its parameter arena.
        return [np.array(w, copy=True) for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stops training (or raises, with raise_error=True) at the first NaN or Inf batch loss."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback built from functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)


class LearningRateScheduler(Callback):
    """Sets model.optimizer.learning_rate = schedule(epoch, lr) at the start of each epoch."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # Keras 1-argument form: schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Streams one row per epoch to a CSV file: epoch, then the log keys in sorted order."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        # Append to a non-empty file: no second header.
        self.append_header = not (self.append and os.path.isfile(self.filename)
                                  and os.path.getsize(self.filename) > 0)
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # Validation may not run every epoch: keep columns for the val_ metrics the model has.
            for name in getattr(self.model, "metrics_names", None) or ():
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         delimiter=self.sep, lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(v):
    if isinstance(v, np.ndarray) and v.ndim > 0 or isinstance(v, (list, tuple)):
        return f'"[{", ".join(map(str, np.ravel(v)))}]"'
    return v
