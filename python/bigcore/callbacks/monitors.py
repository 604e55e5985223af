"""Callbacks that watch the logs and steer training: EarlyStopping, ReduceLROnPlateau,
TerminateOnNaN, LearningRateScheduler."""

import math
import numbers
import warnings

import numpy as np

from bigcore.callbacks.base import Callback

# Direction of a metric in mode='auto' when the model does not say (metric._direction).
_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "cosine_similarity",
       "true_positives", "true_negatives")
_DOWN = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence",
         "poisson", "logcosh", "huber", "false_positives", "false_negatives")


def monitor_sign(monitor, mode, model, who):
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


def is_scalar(v):
    return isinstance(v, numbers.Real) or (isinstance(v, np.ndarray) and v.ndim == 0)


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
        return monitor_sign(self.monitor, self.mode, self.model, "EarlyStopping")

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
        if not is_scalar(lr):
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
            self.sign = monitor_sign(self.monitor, self.mode, self.model, "ReduceLROnPlateau")
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
