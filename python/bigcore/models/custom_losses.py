"""Custom losses and metrics traced into the program.

A loss function, a Loss subclass's call() or a metric function (MeanMetricWrapper) is called once
on symbolic tensors, y_true and y_pred, as a custom layer's call() is (layers/tracing.py); its
recorded graph is lowered into the model's program after the model's own ops, reading y_pred
where the model computes it and y_true from a target tensor (Program.add_target_tensor) that
each fit / evaluate batch fills with its targets. The graph runs only where a batch has targets
(op mode 3: not in predict). Its output, the per-row values, is reduced natively as a built-in
loss is (the LOSS_VALUES / MET_VALUES kinds): sample weights and the output's mask weigh the
rows, and the mean is Keras's sum_over_batch_size.

y_true's shape is that of the target arrays, known at the first fit / evaluate call: the lowering
waits for it (Trainer._targets_seen). A run-time length of y_pred (Input(shape=(None,))) is y_true's
on the same leading axis.
"""

import inspect

import numpy as np

from bigcore import losses as losses_module
from bigcore import metrics as metrics_module
from bigcore import ops
from bigcore.layers import dims
from bigcore.layers.base import KerasTensor, Layer, shape_str


class _ValuesCall(Layer):
    """One trace of fn(*tensors): a layer whose call() is the loss or metric function (or a
    model's compute_loss, which takes x, y and y_pred)."""

    def __init__(self, fn, name):
        super().__init__(name=name)
        self._values_fn = fn

    def call(self, inputs):
        return self._values_fn(*inputs)


def target_tensor(y_pred, shape, name):
    """A symbolic y_true for target arrays of non-batch shape `shape` beside output y_pred."""
    pred = list(y_pred._dims)
    # the axes y_true shares with y_pred: all of them at the same rank, else those before y_pred's
    # last axis (class ids beside the classes' scores)
    shared = len(pred) if len(shape) == len(pred) else len(pred) - 1
    out = [pred[i] if i < shared and dims.is_dim(pred[i]) else int(n) for i, n in enumerate(shape)]
    return KerasTensor(None, "float32", name=name, dims=tuple(out), batched=True)


def signature(kt):
    """y_true's shape with its run-time lengths as None: what later target arrays must match."""
    return tuple(None if dims.is_dim(d) else d for d in kt._dims)


def fits(sig, shape):
    return len(sig) == len(shape) and all(a is None or a == b for a, b in zip(sig, shape))


class Lowered:
    """The traced losses and metrics of one compile in program `low`: their target tensors (one per
    output, shared by its loss and metrics), y_true's shapes, and the op ranges they added."""

    def __init__(self, low):
        self.low = low
        self.targets = {}  # output index -> (y_true KerasTensor, native tensor id)
        self.ranges = []   # [start, end) of the ops each lowering added

    def y_true(self, k, target_index, y_pred, shape):
        """The target tensor of output k (made on first use)."""
        if k not in self.targets:
            kt = target_tensor(y_pred, shape, f"y_true_{k}")
            t = self.low.native.add_target_tensor(target_index, self.low.template(kt))
            self.low.native.set_label(t, f"the targets of output {k}")
            self.low.bind(kt, t)
            self.targets[k] = (kt, t)
        return self.targets[k][0]

    def lower(self, k, target_index, y_pred, shape, fn, name):
        """fn(y_true, y_pred) for output k traced and lowered (ops of mode 3); returns (values
        tensor id, the mask id that weighs its rows or -1)."""
        vid, values = self.lower_call([self.y_true(k, target_index, y_pred, shape), y_pred], fn, name)
        return vid, _values_mask(self.low, values, y_pred, name)

    def lower_call(self, tensors, fn, name):
        """fn(*tensors) traced and lowered as ops of mode 3; returns (tensor id, KerasTensor)."""
        low = self.low
        values = _ValuesCall(fn, name)(list(tensors))
        if not isinstance(values, KerasTensor):
            raise TypeError(f"{name}: a loss or metric function must return one tensor (the values of each sample), "
                            f"got {type(values).__name__}")
        start = low.native.n_ops
        low.lower_nodes([values.node], {id(values)})
        low.native.set_op_mode(start, low.native.n_ops, 3)
        self.ranges.append((start, low.native.n_ops))
        return low.id(values), values

    def check(self, shapes):
        for k, shape in shapes.items():
            kt = self.targets.get(k)
            if kt is not None and not fits(signature(kt[0]), shape):
                raise ValueError(f"The loss and metrics of output {k} were traced for targets of shape "
                                 f"{shape_str((None,) + signature(kt[0]))} (the first fit / evaluate data); received "
                                 f"targets of shape {shape_str((None,) + tuple(shape))}. Compile again for new shapes")


def lower_compute_loss(model, traced, shapes, target):
    """A Model subclass's own compute_loss(x, y, y_pred, sample_weight[, training]), traced once on
    the model's inputs, target tensors and outputs (Keras's backend-agnostic way to customize the
    loss: a distiller's teacher called inside it joins the program). Returns its loss spec."""
    xs, outs = list(model._inputs), list(model._outputs)
    ys = [traced.y_true(k, target[k], outs[k], shapes[k]) for k in range(len(outs))]
    takes_training = "training" in inspect.signature(model.compute_loss).parameters
    n_x, n_y = len(xs), len(ys)

    def call(*tensors):
        x, y, p = tensors[:n_x], tensors[n_x:n_x + n_y], tensors[n_x + n_y:]
        kw = {"x": x[0] if n_x == 1 else list(x), "y": y[0] if n_y == 1 else list(y),
              "y_pred": p[0] if n_y == 1 else list(p), "sample_weight": None}
        if takes_training:
            kw["training"] = True
        return model.compute_loss(**kw)

    vid, loss = traced.lower_call(xs + ys + outs, call, f"{type(model).__name__}.compute_loss")
    if loss._batched or any(d != 1 for d in loss._dims):
        raise ValueError(f"{type(model).__name__}.compute_loss() must return one number (the batch's loss), got a "
                         f"tensor of shape {loss.shape}")
    return (vid, -1, losses_module.VALUES, 1, 1.0, False, 0.0, -1, 0.0)


def retire(model):
    """A new compile: the ops the last one traced never run again, their target tensors are
    forgotten (the same program; a rebuilt program has none of them)."""
    old = getattr(model, "_custom_lowered", None)
    model._custom_lowered = None
    if old is None or old.low is not model._program:
        return
    for start, end in old.ranges:
        old.low.native.set_op_mode(start, end, 4)
    old.low.native.clear_target_tensors()


def lower_own_metric(traced, k, target_index, y_pred, shape, metric):
    """A metric's own update_state(y_true, y_pred) traced: the tensors its assign_add calls add,
    flattened into one batch-less tensor that the native step sums over the batches (MET_SUMS);
    the metric's variables then hold initial + sums when its result() is read. Returns its spec."""
    pieces = []  # (variable, its size), in the order of the summed tensor

    def update(y_true, y_pred):
        rec = []
        metrics_module._recording = rec
        try:
            metric.update_state(y_true, y_pred)
        finally:
            metrics_module._recording = None
        if not rec:
            raise ValueError(f"metric {metric.name!r}: update_state() made no assign_add of a tensor, so compile has "
                             "nothing to count")
        pieces.clear()
        flat = []
        for var, v in rec:
            v = ops.cast(v, "float32")
            if v._batched or int(np.prod(v.shape)) != var.value.size:
                raise ValueError(f"metric {metric.name!r}: assign_add to variable {var.name!r} of shape {var.shape} "
                                 f"got a tensor of shape {v.shape}; reduce over the batch first (e.g. ops.sum)")
            pieces.append((var, var.value.size))
            flat.append(ops.reshape(v, (var.value.size,)))
        return flat[0] if len(flat) == 1 else ops.concatenate(flat)

    vid, _ = traced.lower_call([traced.y_true(k, target_index, y_pred, shape), y_pred], update, metric.name)
    metric._traced_vars = pieces
    metric.stats_width = sum(n for _, n in pieces)
    return (vid, -1, metrics_module.SUMS, metric.stats_width, 0.5, -1, {})


def is_traced_metric(m, loss):
    """Whether compile's metric m is traced (a function, a MeanMetricWrapper) or waits for the
    targets' shapes to be picked (accuracy beside a custom loss)."""
    if isinstance(m, str):
        return m in ("accuracy", "acc") and (loss is None or loss.custom)
    if isinstance(m, metrics_module.Metric):
        return m.kind == metrics_module.VALUES or metrics_module.is_own_metric(m)
    return callable(m) and not isinstance(m, type)


def accuracy_hint(y_pred, shape):
    """Keras's choice of accuracy by shapes, as the loss that makes metrics.get pick it: binary
    for one output unit, sparse for class ids (a rank lower, or a last axis of 1), else categorical."""
    pred = y_pred.shape
    if pred[-1] == 1:
        return losses_module.BinaryCrossentropy()
    if len(shape) < len(pred) - 1 or (len(shape) and shape[-1] == 1 and pred[-1] != 1):
        return losses_module.SparseCategoricalCrossentropy()
    return losses_module.CategoricalCrossentropy()


def _values_mask(low, values, y_pred, name):
    """The output's mask id where it weighs the values' rows (the same non-batch shape), -1
    where there is none or the values are batch-less (a mask does not change a mean Keras
    takes of a number); other shapes beside a mask are refused, as Keras cannot weigh them."""
    if y_pred._mask is None or not values._batched:
        return -1
    if tuple(values._dims) != tuple(y_pred._mask._dims):
        raise ValueError(f"{name} returned values of shape {values.shape}, but the output carries a mask of shape "
                         f"{y_pred._mask.shape}: return one value per masked position (or one number)")
    return low.mask_id(y_pred)
