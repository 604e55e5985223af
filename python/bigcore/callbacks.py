"""Keras-3-compatible callbacks: the hooks fit / evaluate / predict call, and the stock callbacks.

The training loop calls `on_train_batch_end` once per native step (~100 us), so `CallbackList`
precomputes, per hook, the bound methods of the callbacks that override it and calls only those;
`ProgbarLogger` checks one clock per batch and formats text only when it redraws.
"""

import csv
import itertools
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
        if isinstance(callbacks, (str, bytes)) or (callbacks is not None and not hasattr(callbacks, "__iter__")):
            raise TypeError(f"callbacks must be a list of bigcore.callbacks.Callback objects, got {callbacks!r}")
        self.callbacks = list(callbacks) if callbacks else []
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be bigcore.callbacks.Callback objects, got {c!r}")
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


def _monitor_sign(monitor, mode, model, who):
    """+1 when lower `monitor` values are better, -1 when higher are (mode 'auto': from the name,
    or the direction of the model's metric of that name)."""
    if mode != "auto":
        return 1 if mode == "min" else -1
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return 1
    metrics = list(getattr(model, "metrics", None) or ())
    metrics += [m[-1] if isinstance(m, tuple) else m for m in getattr(model, "_metrics", None) or ()]
    for m in metrics:
        if getattr(m, "name", None) == name and hasattr(m, "_direction"):
            return -1 if m._direction == "up" else 1
    if any(s in name for s in _UP):
        return -1
    if any(s in name for s in _DOWN):
        return 1
    raise ValueError(
        f"{who} cannot tell whether monitor={monitor!r} should be minimized or "
        "maximized. Pass mode='min' or mode='max'.")


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
        return _monitor_sign(self.monitor, self.mode, self.model, "EarlyStopping")

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


# --- checkpoints, learning-rate plateaus, TensorBoard -------------------------------------------

def _is_scalar(v):
    return isinstance(v, numbers.Real) or (isinstance(v, np.ndarray) and v.ndim == 0)


class ModelCheckpoint(Callback):
    """Saves the model (`.bigcore`) or its weights (`.weights.safetensors`) every epoch or every
    `save_freq` batches; `filepath` may hold `{epoch:02d}`, `{batch}` and log keys (`{val_loss:.2f}`).
    With save_best_only, only when `monitor` improves on the best value so far."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        from bigcore import saving

        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                             "a positive integer")
        self.filepath = os.fspath(filepath)
        suffix = saving.WEIGHTS_SUFFIX if save_weights_only else saving.MODEL_SUFFIX
        if not self.filepath.endswith(suffix):
            what = "save_weights_only=True" if save_weights_only else "save_weights_only=False"
            raise ValueError(f"With {what}, the filepath given to ModelCheckpoint must end in `{suffix}`. "
                             f"Received: filepath={self.filepath}")
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self.sign = None  # +1: lower is better; set when first needed (the model knows its metrics)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        # batch restarts at 0 each epoch
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        path = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(path):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is "
                          f"an existing directory: {path}")
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.",
                              stacklevel=2)
                return
            if not _is_scalar(current):
                warnings.warn("Can save best model only when `monitor` is a scalar value. Received: "
                              f"{current}. Falling back to `save_best_only=False`.", stacklevel=2)
            else:
                current = float(current)
                if self.sign is None:
                    self.sign = _monitor_sign(self.monitor, self.mode, self.model, "ModelCheckpoint")
                if self.best is not None and not self.sign * (current - self.best) < 0:
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                    return
                if self.verbose > 0:
                    best = "inf" if self.best is None and self.sign > 0 else (
                        "-inf" if self.best is None else f"{self.best:.5f}")
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {path}")
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self._write(path)

    def _write(self, path):
        from bigcore import saving

        dirname = os.path.dirname(path)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            saving.save_weights(self.model, path, overwrite=True)
        else:
            saving.save_model(self.model, path, overwrite=True)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` has not improved by `min_delta` for
    `patience` epochs; then waits `cooldown` epochs; never goes below `min_lr`."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"Unrecognized arguments for ReduceLROnPlateau: {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {mode} is unknown, fallback to auto mode.",
                          stacklevel=2)
            mode = "auto"
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.sign = None
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _learning_rate(self):
        opt = self.model.optimizer
        lr = getattr(opt, "_learning_rate", opt.learning_rate)  # the schedule itself, if there is one
        if not _is_scalar(lr):
            raise TypeError(
                "ReduceLROnPlateau: this optimizer was created with a learning-rate schedule "
                f"({type(lr).__name__}) as its `learning_rate`, hence its learning rate is not settable. "
                "Instantiate the optimizer with a float `learning_rate` to use ReduceLROnPlateau.")
        return float(lr)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        old_lr = self._learning_rate()
        logs["learning_rate"] = old_lr
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                          f"not available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        current = float(current)
        if self.sign is None:
            self.sign = _monitor_sign(self.monitor, self.mode, self.model, "ReduceLROnPlateau")
        if self.best is None:
            self.best = math.inf * self.sign
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.sign * (current - self.best) < -self.min_delta:
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                # Keras keeps the rate in float32: compare in that precision
                if old_lr > float(np.float32(self.min_lr)):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


_WRITER_IDS = itertools.count()
_TENSORBOARD_HINT = "pip install tensorboardX  (or: pip install 'bigcore[tensorboard]')"


class TensorBoard(Callback):
    """Writes TensorBoard event files through tensorboardX: `log_dir/train` and
    `log_dir/validation`, scalars `epoch_<name>` per epoch (step = epoch) and, with update_freq
    'batch' or N, `batch_<name>` every N batches (step = global batch count); weight histograms
    every `histogram_freq` epochs; with write_graph, the model's JSON config as the text summary
    'keras', as Keras writes it."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError(f"TensorBoard needs the tensorboardX package: {_TENSORBOARD_HINT}") from e
        for name, value, default in (("write_images", write_images, False), ("profile_batch", profile_batch, 0),
                                     ("embeddings_freq", embeddings_freq, 0),
                                     ("embeddings_metadata", embeddings_metadata, None)):
            if value != default:
                raise ValueError(f"TensorBoard: {name} is not supported by bigcore. Received: {name}={value!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq <= 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer. "
                             f"Received: update_freq={update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative integer. "
                             f"Received: histogram_freq={histogram_freq!r}")
        self._SummaryWriter = SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self._train_writer = self._val_writer = None
        self._global_train_batch = 0

    def on_train_begin(self, logs=None):
        self._close()
        # tensorboardX names a file by time (in seconds) and host: a second fit within the same
        # second would overwrite the first one's file without a suffix of its own
        suffix = f".{os.getpid()}.{next(_WRITER_IDS)}"
        self._train_writer = self._SummaryWriter(os.path.join(self.log_dir, "train"), filename_suffix=suffix)
        self._val_writer = self._SummaryWriter(os.path.join(self.log_dir, "validation"), filename_suffix=suffix)
        self._global_train_batch = 0
        if self.write_graph and self.model is not None:
            from bigcore import saving

            self._train_writer.add_text("keras", saving.model_to_json(self.model), 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches = getattr(self, "_epoch_batches", 0) + 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        for name, value in (logs or {}).items():
            if _is_scalar(value):
                self._train_writer.add_scalar("batch_" + name, float(value), self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        lr = self._learning_rate()
        if lr is not None:
            train["learning_rate"] = lr
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - getattr(self, "_epoch_start", time.perf_counter())
            train["steps_per_second"] = self._epoch_batches / elapsed if elapsed > 0 else 0.0
        for writer, values in ((self._train_writer, train), (self._val_writer, val)):
            for name, value in values.items():
                if _is_scalar(value):
                    writer.add_scalar("epoch_" + name, float(value), epoch)
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if val and iterations is not None:
            for name, value in val.items():
                if _is_scalar(value):
                    self._val_writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), int(iterations))
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for w in getattr(self.model, "weights", ()):
                self._train_writer.add_histogram(getattr(w, "name", "weight"), np.asarray(w, np.float32), epoch)
        self._train_writer.flush()
        self._val_writer.flush()

    def _learning_rate(self):
        opt = getattr(self.model, "optimizer", None)
        lr = getattr(opt, "learning_rate", None)
        if lr is None:
            return None
        if callable(lr):
            lr = lr(getattr(opt, "iterations", 0))
        return float(lr) if _is_scalar(lr) else None

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        for w in (self._train_writer, self._val_writer):
            if w is not None:
                w.close()
        self._train_writer = self._val_writer = None
