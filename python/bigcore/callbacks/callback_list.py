"""CallbackList: the callbacks of one fit / evaluate / predict call.

The training loop calls `on_train_batch_end` once per native step (~100 us), so `CallbackList`
precomputes, per hook, the bound methods of the callbacks that override it and calls only those.
"""

from bigcore.callbacks.base import ALIASES, HOOKS, Callback
from bigcore.callbacks.history import History
from bigcore.callbacks.progbar import ProgbarLogger


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
        for name in HOOKS:
            alias = ALIASES.get(name)
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

    # Keras hands every hook a dict: {} where the loop has no logs to give (the begin hooks). The
    # dict is made only when some callback overrides the hook.
    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call_batch("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call_batch("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_train_batch_begin"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def on_train_batch_end(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_train_batch_end"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_test_batch_begin"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def on_test_batch_end(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_test_batch_end"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_predict_batch_begin"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):  # per batch: the loop inlined
        hooks = self._hooks["on_predict_batch_end"]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(batch, logs)

    def _call(self, hook, logs):
        hooks = self._hooks[hook]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(logs)

    def _call_batch(self, hook, index, logs):
        hooks = self._hooks[hook]
        if hooks:
            logs = {} if logs is None else logs
            for f in hooks:
                f(index, logs)
