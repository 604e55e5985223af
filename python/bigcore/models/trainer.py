"""compile / fit / evaluate / predict: short Python loops that make one native call per batch."""


import numpy as np

from bigcore import _random, callbacks as callbacks_module, losses as losses_module
from bigcore import metrics as metrics_module, optimizers
from bigcore.data import SHUFFLE_STREAM, Dataset
from bigcore.models import batches, data_adapter


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
        self._shuffle_stream = SHUFFLE_STREAM  # the shuffle order is a function of (seed, epoch)

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
                            l.label_smoothing, masks[k], l.native_param(self._outputs[k].shape))
                           for k, (l, w) in enumerate(zip(self._losses, weights))])
        self._metrics = []
        if metrics is not None:
            per = metrics if isinstance(metrics, dict) or (len(self._outputs) > 1 and metrics and isinstance(metrics[0], (list, tuple))) else [metrics] * len(self._outputs)
            per = self._per_output(per, "metrics") if isinstance(per, dict) else per
            for k, ms in enumerate(per):
                for m in (ms or []) if isinstance(ms, (list, tuple)) else [ms]:
                    self._metrics.append((k, metrics_module.get(m, self._losses[k], self._outputs[k].shape[-1])))
        native.set_metrics([(ids[k], k, m.kind, self._outputs[k].shape[-1], float(m.threshold), masks[k],
                             m.native_args()) for k, m in self._metrics])
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


    # -- batch sources --
    def _batches(self, x, y, sample_weight, class_weight, batch_size, shuffle, steps, with_targets=True):
        """Arrays, memory-mapped arrays, a Dataset or a generator -> a batch source (models/batches.py)."""
        if isinstance(x, Dataset) or batches._is_iterator(x):
            if y is not None:
                raise ValueError("When x is a Dataset or a generator, y must be None: the batches carry the targets")
            return batches.StreamBatches.from_source(self, x, steps, with_targets, class_weight)
        self._native()
        if batches.is_streamed(x):
            return batches.StreamBatches.from_memmap(self, x, y, sample_weight, batch_size, shuffle, self._seed,
                                                     with_targets, class_weight)
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        if not with_targets:
            return batches.ArrayBatches(xs, None, None, batch_size, False, self._seed)
        ys = data_adapter.prepare_targets(self, y, n)
        sw = data_adapter.sample_weights(self, ys, n, sample_weight, class_weight)
        return batches.ArrayBatches(xs, ys, sw, batch_size, shuffle, self._seed)

    def _build_from_any(self, x):
        if self._inputs is not None:
            return
        if isinstance(x, Dataset):  # an unbuilt Sequential learns its input shape from a first batch
            first = next(iter(x))
            x = first[0] if isinstance(first, tuple) else first
        elif batches._is_iterator(x):
            return
        self._build_from(x)

    # -- fit --
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        self._build_from_any(x)
        self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size)
        for name, v, low in (("epochs", epochs, 0), ("initial_epoch", initial_epoch, 0), ("validation_freq", validation_freq, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"fit expects {name} to be an int >= {low}. Received: {name}={v!r}")
        self._native()
        train = self._batches(x, y, sample_weight, class_weight, batch_size, shuffle, steps_per_epoch)
        val = None
        if validation_data is not None:
            vb = validation_batch_size or batch_size
            if isinstance(validation_data, (tuple, list)):
                vx, vy = validation_data[0], validation_data[1]
                vsw = validation_data[2] if len(validation_data) > 2 else None
                val = self._batches(vx, vy, vsw, None, vb, False, validation_steps)
            else:
                val = self._batches(validation_data, None, None, None, vb, False, validation_steps)
        elif validation_split:
            if not isinstance(train, batches.ArrayBatches):
                raise ValueError("validation_split is only supported for array inputs; pass validation_data instead")
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            cut = int(train.n * (1.0 - validation_split))
            sw = train.sw
            val = batches.ArrayBatches([a[cut:] for a in train.xs], [a[cut:] for a in train.ys],
                                       None if sw is None else sw[cut:], validation_batch_size or batch_size,
                                       False, self._seed)
            train = batches.ArrayBatches([a[:cut] for a in train.xs], [a[:cut] for a in train.ys],
                                         None if sw is None else sw[:cut], batch_size, shuffle, self._seed)
        if isinstance(train, batches.ArrayBatches) and train.n == 0:
            raise ValueError("fit() got no training samples")
        steps = train.steps if steps_per_epoch is None else int(steps_per_epoch)
        verbose = 1 if verbose == "auto" else verbose
        if self._program.pruned:  # the pruning schedules advance with the optimizer's steps
            from bigcore.compression.pruning import with_pruning_callback

            callbacks = with_pruning_callback(self, callbacks)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                            model=self, verbose=verbose, epochs=epochs, steps=steps)
        train_step, stats, opt = self._program.native.train_step, self._stats, self.optimizer
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            tracker = _Tracker(self)
            for step, (xs, ys, sw, idx, start, count) in enumerate(train.epoch(epoch, steps_per_epoch)):
                cbs.on_train_batch_begin(step)
                _step(train_step, opt, (xs, ys, sw, idx, start, count), self._seed, stats)
                tracker.update(stats, count)
                logs = tracker.logs()
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                epoch_logs.update(self._run_evaluate(val, None, prefix="val_"))
            cbs.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    # -- evaluate --
    def _run_evaluate(self, source, cbs, prefix=""):
        native = self._program.native
        stats = np.zeros(native.stats_size, np.float64)
        tracker = _Tracker(self, prefix)
        for step, (xs, ys, sw, idx, start, count) in enumerate(source.epoch(0)):
            if cbs:
                cbs.on_test_batch_begin(step)
            native.evaluate_step(xs, ys, sw, idx, start, count, stats)
            tracker.update(stats, count)
            if cbs:
                cbs.on_test_batch_end(step, tracker.logs())
        return tracker.logs()

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        self._build_from_any(x)
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        self._native()
        source = self._batches(x, y, sample_weight, None, batch_size, False, steps)
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                            epochs=1, steps=source.steps)
        cbs.on_test_begin()
        logs = self._run_evaluate(source, cbs)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    # -- predict --
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self._build_from_any(x)
        batch_size = _check_batch_size(batch_size)
        native = self._native().native
        source = self._batches(x, None, None, None, batch_size, False, steps, with_targets=False)
        verbose = 1 if verbose == "auto" else verbose
        cbs = None
        if verbose or callbacks:
            cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                                epochs=1, steps=source.steps)
            cbs.on_predict_begin()
        shapes = [tuple(t.shape[1:]) for t in self._outputs]
        if isinstance(source, batches.ArrayBatches):  # one output array, filled in place batch by batch
            outs = [np.empty((source.n,) + s, np.float32) for s in shapes]
            for step, (xs, _, _, _, start, count) in enumerate(source.epoch(0)):
                native.predict_step(xs, start, count, outs)
                if cbs:
                    cbs.on_predict_batch_end(step, {"outputs": outs})
        else:
            parts = []
            for step, (xs, _, _, _, _, count) in enumerate(source.epoch(0)):
                part = [np.empty((count,) + s, np.float32) for s in shapes]
                native.predict_step(xs, 0, count, part)
                parts.append(part)
                if cbs:
                    cbs.on_predict_batch_end(step, {"outputs": part})
            outs = [np.concatenate([p[k] for p in parts]) if parts else np.empty((0,) + s, np.float32)
                    for k, s in enumerate(shapes)]
        if cbs:
            cbs.on_predict_end()
        return outs[0] if self._single_output else outs

    def predict_on_batch(self, x):
        """One native call on one batch: the serving path (no callbacks, no batching loop)."""
        self._build_from(x)
        native = self._native().native
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        outs = [np.empty((n,) + tuple(t.shape[1:]), np.float32) for t in self._outputs]
        if n:
            native.predict_step(xs, 0, n, outs)
        return outs[0] if self._single_output else outs

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._build_from(x)
        self._require_compiled("train_on_batch")
        xs = data_adapter.prepare_inputs(self, x)
        n = xs[0].shape[0]
        self._native()
        ys = data_adapter.prepare_targets(self, y, n)
        sw = data_adapter.sample_weights(self, ys, n, sample_weight, class_weight)
        opt = self.optimizer
        if self._program.pruned:
            from bigcore.compression.pruning import pruning_step

            pruning_step(self)
        _step(self._program.native.train_step, opt, (xs, ys, sw, None, 0, n), self._seed, self._stats)
        tracker = _Tracker(self)
        tracker.update(self._stats, n)
        logs = tracker.logs()
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._build_from(x)
        n = data_adapter.prepare_inputs(self, x)[0].shape[0]  # checks x before anything indexes it
        return self.evaluate(x, y, batch_size=max(1, n), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)


def _step(train_step, opt, batch, seed, stats):
    """One native training step, counted before the call: a KeyboardInterrupt that arrives while it
    runs (the GIL is released) surfaces once the step has completed, so the count must already
    include it; an error raised by the step itself (bad labels) happens before any update."""
    args, step = opt.step_args(), opt.iterations
    opt.iterations = step + 1
    try:
        train_step(*batch, args, seed, step, stats)
    except Exception:
        opt.iterations = step
        raise


class _Tracker:
    """Running means over an epoch: the loss weighted by batch size, each metric reduced from the
    counts the native step returns (stats = [loss, metric 0's counts, metric 1's counts, ...])."""

    def __init__(self, model, prefix=""):
        self.names = [prefix + n for n in model.metrics_names]
        self.metrics = [m for _, m in model._metrics]
        self.loss_sum, self.seen = 0.0, 0
        width = sum(m.stats_width for m in self.metrics)
        # a Python list is the cheaper accumulator for a few counts, numpy for AUC's hundreds
        self.acc = np.zeros(width) if width > 16 else [0.0] * width

    def update(self, stats, count):
        self.loss_sum += stats[0] * count
        self.seen += count
        acc = self.acc
        if isinstance(acc, np.ndarray):
            acc += stats[1:1 + len(acc)]
            return
        for i in range(len(acc)):
            acc[i] += stats[1 + i]

    def logs(self):
        out = {self.names[0]: self.loss_sum / self.seen if self.seen else float("nan")}
        off = 0
        for name, m in zip(self.names[1:], self.metrics):
            out[name] = m.result(self.acc[off:off + m.stats_width])
            off += m.stats_width
        return out


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)
