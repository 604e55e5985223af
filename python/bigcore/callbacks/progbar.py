"""ProgbarLogger: the Keras 2 style progress bar. It checks one clock per batch and formats text
only when it redraws (at most every 50 ms, and only on a terminal or in a notebook)."""

import logging
import sys
import time

from bigcore import config
from bigcore.callbacks.base import Callback

_BAR_WIDTH = 30
_REDRAW_S = 0.05


def _live_stdout():
    """In-place redraws only on a terminal or in a notebook; a file or pipe gets final lines."""
    if not config.is_interactive_logging_enabled():
        return False
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
        if not config.is_interactive_logging_enabled():  # Keras sends these to absl logging then
            logging.getLogger("bigcore").info(line)
            return
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
