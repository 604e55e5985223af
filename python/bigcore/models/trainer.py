"""compile / fit / evaluate / predict: short Python loops that make one native call per batch."""

import math

import numpy as np

from bigcore import _random, callbacks as callbacks_module, losses as losses_module
from bigcore import metrics as metrics_module, optimizers
from bigcore._native import _core
from bigcore.models import data_adapter


class Trainer:
    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._losses = []
        self._metrics = []          # (output index, Metric)
        self._program = None
        self._seed = _random.seed()
        self._shuffle_stream = _random.next_stream()

    # -- compile --
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        unknown = set(kwargs) - {"run_eagerly", "jit_compile", "steps_per_execution", "weighted_metrics", "auto_scale_loss"}
        if unknown:
            raise TypeError(f"Invalid keyword argument(s) in compile(): {sorted(unknown)}")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self._compile_args = (loss, metrics, loss_weights)
        self.compiled = True
        if self.built:
            self._apply_compile()

    def _per_output(self, value, what):
        names = [t.node.layer.name for t in self._outputs]
        if isinstance(value, dict):
            return [value.get(n) for n in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(f"{what} has {len(value)} entries but the model has {len(names)} outputs")
            return list(value)
        return [value] * len(names)

    def _apply_compile(self):
        """Hands losses, metrics and optimizer state to the native program."""
        loss, metrics, loss_weights = self._compile_args
        native = self._native().native
        self._losses = [losses_module.get(l) for l in self._per_output(loss, "loss")]
        weights = self._per_output(loss_weights, "loss_weights") if loss_weights is not None else [1.0] * len(self._losses)
        ids = self._program.output_ids
        masks = self._program.output_mask_ids
        native.set_losses([(ids[k], k, l.kind, self._outputs[k].shape[-1], float(w), l.from_logits,
                            l.label_smoothing, masks[k]) for k, (l, w) in enumerate(zip(self._losses, weights))])
        self._metrics = []
        if metrics is not None:
            per = metrics if isinstance(metrics, dict) or (len(self._outputs) > 1 and metrics and isinstance(metrics[0], (list, tuple))) else [metrics] * len(self._outputs)
            per = self._per_output(per, "metrics") if isinstance(per, dict) else per
            for k, ms in enumerate(per):
                for m in (ms or []) if isinstance(ms, (list, tuple)) else [ms]:
                    self._metrics.append((k, metrics_module.get(m, self._losses[k], self._outputs[k].shape[-1])))
        native.set_metrics([(ids[k], k, m.kind, self._outputs[k].shape[-1], float(m.threshold), masks[k])
                            for k, m in self._metrics])
        native.set_optimizer(self.optimizer.slots, self.optimizer.slot_init)
        self._stats = np.zeros(native.stats_size, np.float64)

    def _on_program_created(self):
        if self.compiled:
            self._apply_compile()

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model ({what}).")

    @property
    def metrics_names(self):
        multi = len(self._outputs or []) > 1
        return ["loss"] + [f"{self._outputs[k].node.layer.name}_{m.name}" if multi else m.name for k, m in self._metrics]

    # -- helpers --
    def _build_from(self, x):
        """Sequential builds lazily from the first data it sees."""


    # -- fit --
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        self._build_from(x)
        self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size)
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        self._native()
        ys = data_adapter.prepare_targets(self, y, n)
        sw = data_adapter.sample_weights(self, ys, n, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) > 2 else None
            vxs = data_adapter.prepare_inputs(self, vx)
            val = (vxs, data_adapter.prepare_targets(self, vy, vxs[0].shape[0]), vsw)
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            cut = int(n * (1.0 - validation_split))
            val = ([a[cut:] for a in xs], [a[cut:] for a in ys], None if sw is None else sw[cut:])
            xs, ys, sw, n = [a[:cut] for a in xs], [a[:cut] for a in ys], None if sw is None else sw[:cut], cut
        if n == 0:
            raise ValueError("fit() got no training samples")
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                            model=self, verbose=verbose, epochs=epochs, steps=steps)
        native = self._program.native
        train_step, stats, opt = native.train_step, self._stats, self.optimizer
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            idx = _core.permutation(n, self._seed, self._shuffle_stream, epoch) if shuffle else None
            tracker = _Tracker(self)
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                start = step * batch_size
                count = min(batch_size, n - start)
                train_step(xs, ys, sw, idx, start, count, opt.step_args(), self._seed, opt.iterations, stats)
                opt.iterations += 1
                tracker.update(stats, count)
                logs = tracker.logs()
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                vb = validation_batch_size or batch_size
                epoch_logs.update(self._run_evaluate(val[0], val[1], val[2], vb, None, prefix="val_"))
            cbs.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    # -- evaluate --
    def _run_evaluate(self, xs, ys, sw, batch_size, cbs, prefix=""):
        native = self._program.native
        n = xs[0].shape[0]
        stats = np.zeros(native.stats_size, np.float64)
        tracker = _Tracker(self, prefix)
        for step, start in enumerate(range(0, n, batch_size)):
            if cbs:
                cbs.on_test_batch_begin(step)
            count = min(batch_size, n - start)
            native.evaluate_step(xs, ys, sw, None, start, count, stats)
            tracker.update(stats, count)
            if cbs:
                cbs.on_test_batch_end(step, tracker.logs())
        return tracker.logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        self._build_from(x)
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        self._native()
        ys = data_adapter.prepare_targets(self, y, n)
        sw = data_adapter.sample_weights(self, ys, n, sample_weight, None)
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                            epochs=1, steps=math.ceil(n / batch_size))
        cbs.on_test_begin()
        logs = self._run_evaluate(xs, ys, sw, batch_size, cbs)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # -- predict --
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self._build_from(x)
        batch_size = _check_batch_size(batch_size)
        xs = data_adapter.prepare_inputs(self, x)
        native = self._native().native
        n = xs[0].shape[0]
        outs = [np.empty((n,) + tuple(t.shape[1:]), np.float32) for t in self._outputs]
        verbose = 1 if verbose == "auto" else verbose
        cbs = None
        if verbose or callbacks:
            cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                                epochs=1, steps=math.ceil(n / batch_size))
            cbs.on_predict_begin()
        for step, start in enumerate(range(0, n, batch_size)):
            native.predict_step(xs, start, min(batch_size, n - start), outs)
            if cbs:
                cbs.on_predict_batch_end(step, {"outputs": outs})
        if cbs:
            cbs.on_predict_end()
        return outs[0] if self._single_output else outs

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(1, _num_rows(x)), verbose=0)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._build_from(x)
        self._require_compiled("train_on_batch")
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        self._native()
        ys = data_adapter.prepare_targets(self, y, n)
        sw = data_adapter.sample_weights(self, ys, n, sample_weight, class_weight)
        opt = self.optimizer
        self._program.native.train_step(xs, ys, sw, None, 0, n, opt.step_args(), self._seed, opt.iterations, self._stats)
        opt.iterations += 1
        tracker = _Tracker(self)
        tracker.update(self._stats, n)
        logs = tracker.logs()
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        return self.evaluate(x, y, batch_size=max(1, _num_rows(x)), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)


class _Tracker:
    """Running means over an epoch: the loss weighted by batch size, each metric reduced from the
    counts the native step returns (stats = [loss, metric 0's counts, metric 1's counts, ...])."""

    def __init__(self, model, prefix=""):
        self.names = [prefix + n for n in model.metrics_names]
        self.metrics = [m for _, m in model._metrics]
        self.loss_sum, self.seen = 0.0, 0
        self.acc = [0.0] * sum(m.stats_width for m in self.metrics)

    def update(self, stats, count):
        self.loss_sum += stats[0] * count
        self.seen += count
        acc = self.acc
        for i in range(len(acc)):
            acc[i] += stats[1 + i]

    def logs(self):
        out = {self.names[0]: self.loss_sum / self.seen if self.seen else float("nan")}
        off = 0
        for name, m in zip(self.names[1:], self.metrics):
            out[name] = m.result(self.acc[off:off + m.stats_width])
            off += m.stats_width
        return out


def _num_rows(x):
    first = next(iter(x.values())) if isinstance(x, dict) else (x[0] if isinstance(x, (list, tuple)) else x)
    return len(first)


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)
