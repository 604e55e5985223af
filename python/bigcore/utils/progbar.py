"""Progbar: keras.utils.Progbar, the progress bar a script drives itself (get_file uses it)."""

import sys
import time

from bigcore.callbacks.progbar import _bar, _format_eta, _format_value, _live_stdout


class Progbar:
    """update(current, values) redraws `current/target [====>....]` and running averages of
    `values` ([(name, value), ...]); add(n, values) advances by n. target None: unknown length.
    verbose: 1 redraws in place (on a terminal), 2 prints one line when finished, 0 is silent."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step"):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._values, self._order = {}, []
        self._seen = 0
        self._start = self._last = time.perf_counter()
        self._live = _live_stdout()
        self._finished = False

    def update(self, current, values=None, finalize=None):
        finalize = (self.target is not None and current >= self.target) if finalize is None else finalize
        for name, v in values or []:
            if name not in self._values:
                self._order.append(name)
            if name in self.stateful_metrics:
                self._values[name] = [v, 1]
            else:  # a running average weighted by the steps since the last update
                step = max(current - self._seen, 1)
                total, count = self._values.get(name, [0.0, 0])
                self._values[name] = [total + v * step, count + step]
        self._seen = current
        now = time.perf_counter()
        if self.verbose == 0 or self._finished:
            return
        if not finalize and (not self._live or self.verbose != 1 or now - self._last < self.interval):
            return
        self._last = now
        elapsed = now - self._start
        line = _bar(current, self.target)
        if finalize:
            line += f" {elapsed:.0f}s"
        elif self.target and current:
            line += " - ETA: " + _format_eta(elapsed / current * (self.target - current))
        for name in self._order:
            total, count = self._values[name]
            line += f" - {name}:{_format_value(total / max(count, 1))}"
        if self.verbose == 2 and not finalize:
            return
        sys.stdout.write(("\r" if self._live and self.verbose == 1 else "") + line + ("\n" if finalize else ""))
        sys.stdout.flush()
        self._finished = bool(finalize)

    def add(self, n, values=None):
        self.update(self._seen + n, values)
