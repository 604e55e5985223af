"""Metrics counted natively per batch (cpp/loss.cpp: metric_update); Python sums the counts over
the batches and reduces them (`result`), so a metric over several batches equals the metric over
all their rows."""

import inspect
import warnings

import numpy as np

from bigcore import losses as _losses
from bigcore._native import _core

# Native ids (cpp/loss.h: MetricKind)
SPARSE_CAT_ACC, CAT_ACC, BIN_ACC, MSE, MAE = 0, 1, 2, 3, 4
TOP_K, SPARSE_TOP_K, CONFUSION, CLASS_COUNTS, LOSS, R2 = 5, 6, 7, 8, 9, 10
VALUES = 11  # the mean of values the program computes (a metric function, traced)
SUMS = 12    # numbers the program computes, summed over batches (a metric's own update_state, traced)

EPSILON = 1e-7  # Keras's backend.epsilon()


class Metric:
    """Keras's Metric. In compile() the built-in metrics count natively per batch; outside a model
    update_state(y_true, y_pred, sample_weight) adds a batch's counts by the same native counter,
    result() reduces them and reset_state() forgets them. A subclass may instead define its own
    update_state / result with variables from add_variable: eager on arrays, and in compile its
    update_state is traced once, the tensors its assign_add calls add summed natively per batch."""

    kind = None
    _direction = "up"
    stats_width = 2  # values the native step returns per batch: (numerator, denominator)
    _acc = None      # the counts update_state summed

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.kind is None:
            raise NotImplementedError(f"{type(self).__name__} must define update_state()")
        pred = np.asarray(y_pred, np.float32)
        C = pred.shape[-1] if pred.ndim > 1 else 1
        self._set_output_width(C)
        rows = pred.size // C if C else 0
        true = np.asarray(y_true, np.float32)
        sparse = self.kind in (SPARSE_CAT_ACC, SPARSE_TOP_K) or getattr(getattr(self, "_loss", None), "sparse", False)
        if true.size != rows * (1 if sparse else C):
            raise ValueError(f"{self.name}: y_true of shape {true.shape} does not match y_pred of shape {pred.shape}")
        weights = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, np.float32).reshape(-1)
            if sw.size == 0 or rows % sw.size:
                raise ValueError(f"{self.name}: sample_weight of shape {np.shape(sample_weight)} does not fit "
                                 f"y_pred of shape {pred.shape}")
            weights = np.ascontiguousarray(np.repeat(sw, rows // sw.size))
        counts = _core.metric_counts(np.ascontiguousarray(pred.reshape(rows, C)),
                                     np.ascontiguousarray(true.reshape(rows, 1 if sparse else C)), weights, self.kind,
                                     C, float(self.threshold), self.native_args())
        self._acc = counts if self._acc is None else self._acc + counts

    def result(self):
        """The metric over every batch given to update_state since the last reset_state."""
        acc = self._acc if self._acc is not None else np.zeros(self.stats_width)
        return np.asarray(self._result(acc), np.float32)[()]

    def reset_state(self):
        self._acc = None
        for v in getattr(self, "_variables", []):
            v.assign(v._initial)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """update_state, then result() (Keras's)."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable of a metric of one's own (eager numpy)."""
        v = Variable(shape, initializer, name)
        self.__dict__.setdefault("_variables", []).append(v)
        return v

    add_weight = add_variable

    @property
    def variables(self):
        return list(getattr(self, "_variables", []))

    def _result(self, acc):
        """The metric from its counts summed over the batches so far."""
        traced = self.__dict__.get("_traced_vars")
        if traced is not None:  # a metric of its own in compile: its variables hold the summed increments
            off = 0
            for var, n in traced:
                var.assign(var._initial + np.asarray(acc[off:off + n], np.float32).reshape(var.shape))
                off += n
            return float(np.asarray(self.result()))
        return acc[0] / acc[1] if acc[1] else 0.0

    def __init__(self, name=None, threshold=0.5, dtype=None):
        if dtype not in (None, "float32"):
            raise ValueError(f"bigcore computes metrics in float32. Received: dtype={dtype!r}")
        self.name = name or _losses._snake(type(self).__name__)
        self.threshold = threshold

    @property
    def dtype(self):
        """Keras's compute dtype of the metric (ops.cast(values, self.dtype) in an update_state)."""
        return "float32"

    def native_args(self):
        """What the native counter needs beyond kind and threshold (program.h: MetricParams)."""
        return {}

    def _set_output_width(self, width):
        """compile tells each metric the width of the output it counts (F-scores count per class)."""

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MeanMetricWrapper(Metric):
    """A metric function fn(y_true, y_pred, **kwargs) -> values, averaged over the rows (Keras's):
    compile wraps a plain function in one and traces fn into the program (models/custom_losses.py);
    masked rows of the output do not count."""

    kind = VALUES

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper expects a callable fn(y_true, y_pred). Received: fn={fn!r}")
        if dtype not in (None, "float32"):
            raise ValueError(f"bigcore computes metrics in float32. Received: dtype={dtype!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper")
        self._fn = fn
        self._fn_kwargs = kwargs

    def values(self, y_true, y_pred):
        """The per-row values (symbolic while compile traces them)."""
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {"name": self.name, "fn": getattr(self._fn, "__name__", repr(self._fn)), **self._fn_kwargs}


class Variable:
    """A metric's state variable (add_variable): a float32 numpy value with Keras's assign calls."""

    def __init__(self, shape, initializer, name):
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else (() if shape is None else (int(shape),))
        if initializer in ("zeros", None):
            init = np.zeros(shape, np.float32)
        elif initializer == "ones":
            init = np.ones(shape, np.float32)
        elif isinstance(initializer, (int, float)):
            init = np.full(shape, initializer, np.float32)
        else:
            raise ValueError(f"add_variable: initializer {initializer!r} is not supported here; use 'zeros', 'ones' "
                             "or a number")
        self.name, self._initial, self.value = name, init, init.copy()
        self.shape = shape

    def assign(self, v):
        if isinstance(v, _Increment) and v.var is self:  # Keras's `v.assign(v + batch_sum)`: an assign_add
            _record(self, v.delta)
            return
        if isinstance(v, _Increment) or _symbolic(v):
            raise NotImplementedError(f"variable {self.name!r}: compile traces a metric's update_state() with "
                                      "assign_add / assign_sub, or assign(v + t), only (the sums of a batch); "
                                      "assign() of another tensor cannot be summed over batches")
        self.value = np.asarray(v, np.float32).reshape(self.shape).copy()

    def assign_add(self, v):
        if _symbolic(v):  # compile is tracing update_state: this batch's increment, summed natively
            _record(self, v)
            return
        self.assign(self.value + np.asarray(v, np.float32))

    def assign_sub(self, v):
        if _symbolic(v):
            _record(self, -v)
            return
        self.assign(self.value - np.asarray(v, np.float32))

    def numpy(self):
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        return self.value.astype(dtype) if dtype is not None else self.value.copy()

    def __float__(self):
        return float(self.value)

    @property
    def dtype(self):
        return "float32"

    def __getitem__(self, key):
        return self.value[key]

    def __len__(self):
        return len(self.value)


_TRACED_USE = ("update_state() is traced once, so it changes a variable by the batch's tensors: v.assign_add(t), "
               "v.assign_sub(t) or v.assign(v + t) (the variable's own value is read in result())")


class _Increment:
    """`var + t` for a tensor t while update_state is traced: only var.assign() takes it (an assign_add
    of t); sums with more tensors stay increments."""

    def __init__(self, var, delta):
        self.var, self.delta = var, delta

    def __add__(self, other):
        if _symbolic(other) or isinstance(other, (int, float, np.ndarray)):
            return _Increment(self.var, self.delta + other)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        if _symbolic(other) or isinstance(other, (int, float, np.ndarray)):
            return _Increment(self.var, self.delta - other)
        return NotImplemented

    def __getattr__(self, name):
        raise NotImplementedError(f"metric variable {self.var.name!r}: {_TRACED_USE}")


def _variable_operator(fn, name):
    """Keras variables take arithmetic (result(): `2 * self.tp / (...)`): here on the value now."""
    def op(self, *other):
        if other and _symbolic(other[0]):
            if name in ("add", "radd"):
                return _Increment(self, other[0])
            if name == "sub":
                return _Increment(self, -other[0])
            raise NotImplementedError(f"metric variable {self.name!r}: {_TRACED_USE}")
        return fn(self.value, *(np.asarray(o) for o in other))
    return op


for _name, _fn in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                   "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power}.items():
    setattr(Variable, f"__{_name}__", _variable_operator(_fn, _name))
    setattr(Variable, f"__r{_name}__", _variable_operator(lambda a, b, _fn=_fn: _fn(b, a), "r" + _name))
for _name, _fn in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                   "neg": np.negative, "pos": np.positive, "abs": np.abs}.items():
    setattr(Variable, f"__{_name}__", _variable_operator(_fn, _name))


# While compile traces a metric's own update_state: the (variable, increment tensor) pairs its
# assign_add calls make (models/custom_losses.py sums the increments natively, MET_SUMS).
_recording = None


def _symbolic(v):
    return _losses.hooks.is_symbolic is not None and _losses.hooks.is_symbolic([v])


def _record(var, v):
    if _recording is None:
        raise NotImplementedError(f"variable {var.name!r}: assign_add of a symbolic tensor outside a compiled "
                                  "metric's update_state()")
    _recording.append((var, v))


def is_own_metric(m):
    """A Metric subclass with its own update_state (and result): counted by tracing it."""
    return isinstance(m, Metric) and m.kind is None and type(m).update_state is not Metric.update_state and \
        not isinstance(m, (Mean, Sum))


def _samplewise(values, sample_weight, reduce=np.mean):
    """Keras's reduce_to_samplewise_values: values (and weights) to one per sample, the
    non-batch axes reduced (mean, or sum for Sum); returns (values, weights or None)."""
    values = np.asarray(values, np.float64)
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight, np.float64)
        values, weight = _losses.squeeze_or_expand_to_same_rank(values, weight)
        if values.ndim > weight.ndim:
            values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
        weight = np.broadcast_to(weight, values.shape)
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, axis=tuple(range(1, weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weight


class Sum(Metric):
    """The running sum of the values given (weighted by sample_weight)."""

    def update_state(self, values, sample_weight=None):
        values, _ = _samplewise(values, sample_weight, np.sum)
        self._acc = (0.0 if self._acc is None else self._acc) + float(np.sum(values))

    def _result(self, acc):
        return acc if np.ndim(acc) == 0 else 0.0


class Mean(Metric):
    """The running (weighted) mean of the values given: Keras's, per sample."""

    def update_state(self, values, sample_weight=None):
        values, weight = _samplewise(values, sample_weight)
        n = float(np.sum(weight)) if weight is not None else (values.shape[0] if values.ndim else 1)
        total, count = (0.0, 0.0) if self._acc is None else self._acc
        self._acc = (total + float(np.sum(values)), count + n)

    def _result(self, acc):
        return acc[0] / acc[1] if acc[1] else 0.0


def _wrapper_update(self, y_true, y_pred, sample_weight=None):
    """MeanMetricWrapper.update_state: the function's values, averaged as Mean does."""
    values = self.values(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))
    Mean.update_state(self, values, sample_weight)


MeanMetricWrapper.update_state = _wrapper_update
MeanMetricWrapper._result = Mean._result


def accuracy(y_true, y_pred):
    """1 where y_true equals y_pred, else 0 (Keras's keras.metrics.accuracy)."""
    y_true, y_pred = _losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _losses.hooks.equal_float(y_true, y_pred) if not isinstance(y_true, np.ndarray) or \
        not isinstance(y_pred, np.ndarray) else (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float32)


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly (Keras's Accuracy)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(Metric):
    kind = SPARSE_CAT_ACC


class CategoricalAccuracy(Metric):
    kind = CAT_ACC


class BinaryAccuracy(Metric):
    kind = BIN_ACC

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name=name, threshold=threshold)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class MeanSquaredError(Metric):
    kind = MSE
    _direction = "down"


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the mean squared error over every value seen (Keras: sqrt of the mean)."""

    def _result(self, acc):
        return float(np.sqrt(acc[0] / acc[1])) if acc[1] else 0.0


class _LossMean(Metric):
    """Keras's loss-function metrics: the loss's mean over the rows seen, by the training loss's
    own kernel (cpp/kernels/loss: MET_LOSS)."""

    kind = LOSS
    _direction = "down"
    loss_class = None

    def __init__(self, name=None, **loss_kwargs):
        super().__init__(name=name)
        self._loss = self.loss_class(**loss_kwargs)
        self._loss_kwargs = dict(loss_kwargs)

    def native_args(self):
        return {"loss_kind": self._loss.kind, "from_logits": self._loss.from_logits,
                "label_smoothing": self._loss.label_smoothing, "loss_param": 0.0}

    def get_config(self):
        return {"name": self.name, **self._loss_kwargs}


class BinaryCrossentropy(_LossMean):
    loss_class = _losses.BinaryCrossentropy

    def __init__(self, name="binary_crossentropy", from_logits=False, label_smoothing=0.0):
        super().__init__(name=name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_LossMean):
    loss_class = _losses.CategoricalCrossentropy

    def __init__(self, name="categorical_crossentropy", from_logits=False, label_smoothing=0.0):
        super().__init__(name=name, from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(_LossMean):
    loss_class = _losses.SparseCategoricalCrossentropy

    def __init__(self, name="sparse_categorical_crossentropy", from_logits=False):
        super().__init__(name=name, from_logits=from_logits)


class KLDivergence(_LossMean):
    loss_class = _losses.KLDivergence


class Hinge(_LossMean):
    loss_class = _losses.Hinge


class SquaredHinge(_LossMean):
    loss_class = _losses.SquaredHinge


class MeanAbsoluteError(Metric):
    kind = MAE
    _direction = "down"


class MeanAbsolutePercentageError(_LossMean):
    loss_class = _losses.MeanAbsolutePercentageError


class MeanSquaredLogarithmicError(_LossMean):
    loss_class = _losses.MeanSquaredLogarithmicError


class LogCoshError(_LossMean):
    loss_class = _losses.LogCosh

    def __init__(self, name="logcosh"):
        super().__init__(name=name)


class Poisson(_LossMean):
    loss_class = _losses.Poisson


class CategoricalHinge(_LossMean):
    loss_class = _losses.CategoricalHinge


class CosineSimilarity(_LossMean):
    """The mean cosine similarity of the rows (Keras's metric: the loss's value with its sign flipped)."""

    loss_class = _losses.CosineSimilarity
    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        if axis not in (-1,):
            raise ValueError(f"CosineSimilarity computes along the last axis; axis must be -1. Received: axis={axis!r}")
        super().__init__(name=name)

    def _result(self, acc):
        return -acc[0] / acc[1] if acc[1] else 0.0


class R2Score(Metric):
    """Keras's R2Score: 1 - sum (y - p)^2 / sum (y - mean y)^2 per output column, over every row seen;
    class_aggregation "uniform_average" (the columns' mean), "variance_weighted_average" or None (each
    column's); num_regressors adjusts it: 1 - (1 - r2) (n - 1) / (n - num_regressors - 1)."""

    kind = R2

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name)
        if class_aggregation not in ("uniform_average", "variance_weighted_average", None):
            raise ValueError("Invalid value for argument `class_aggregation`. Expected one of {'uniform_average', "
                             f"'variance_weighted_average', None}}. Received: class_aggregation={class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        self._columns = None

    def _set_output_width(self, width):
        self._columns = int(width)

    @property
    def stats_width(self):
        if self._columns is None:
            raise RuntimeError("R2Score counts per output column: compile the model with it first")
        return 4 * self._columns + 1

    def _result(self, acc):
        C = self._columns
        count, total, squares, sse = (np.asarray(acc[i * C:(i + 1) * C], np.float64) for i in range(4))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / count
            variance = squares - total * mean
            raw = 1.0 - sse / variance
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = float(np.mean(raw))
        elif self.class_aggregation == "variance_weighted_average":
            r2 = float(np.sum(variance * raw) / np.sum(variance))
        else:
            r2 = raw
        if self.num_regressors:
            n = float(acc[4 * C]) * C  # Keras's num_samples: the values seen, unweighted
            if self.num_regressors > n - 1 or self.num_regressors == n - 1:
                return r2  # Keras warns and leaves it unadjusted
            r2 = 1.0 - (1.0 - r2) * (n - 1.0) / (n - self.num_regressors - 1.0)
        return r2

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class TopKCategoricalAccuracy(Metric):
    """How often the one-hot target's class is among the k highest predictions (ties count)."""

    kind = TOP_K

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(name=name)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{type(self).__name__} expects an integer k >= 1. Received: k={k!r}")
        self.k = int(k)

    def native_args(self):
        return {"k": self.k}

    def get_config(self):
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer target is among the k highest predictions (ties count)."""

    kind = SPARSE_TOP_K

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(k=k, name=name)


# --- confusion-matrix metrics: the native step counts tp, fp, tn, fn at each threshold ---------


def _evenly_spaced(thresholds):
    """Keras's is_evenly_distributed_thresholds: the counts may then be bucketed."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _parse_thresholds(thresholds, default=0.5):
    values = [default] if thresholds is None else (
        list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds])
    if not values:
        raise ValueError("thresholds must not be empty")
    bad = [t for t in values if t is None or not 0.0 <= float(t) <= 1.0]
    if bad:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in values]


def _divide_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


class _ConfusionMetric(Metric):
    kind = CONFUSION

    def __init__(self, name, thresholds, evenly, class_id=None, from_logits=False, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))
                                     or class_id < 0):
            raise ValueError(f"class_id must be a non-negative integer. Received: class_id={class_id!r}")
        self.class_id = class_id
        self._thresholds = thresholds
        self._evenly = evenly
        self._from_logits = bool(from_logits)

    @property
    def stats_width(self):
        return 4 * len(self._thresholds) * self._label_blocks()

    def _label_blocks(self):
        """Blocks of (tp, fp, tn, fn) counts the native step returns: one per label for a multi-label AUC."""
        return 1

    def native_args(self):
        return {"thresholds": list(self._thresholds), "evenly": self._evenly, "from_logits": self._from_logits,
                "class_id": -1 if self.class_id is None else int(self.class_id)}

    def _counts(self, acc):
        """(tp, fp, tn, fn), each one value per threshold."""
        return np.asarray(acc, np.float64).reshape(4, len(self._thresholds))


class Precision(_ConfusionMetric):
    """tp / (tp + fp), a prediction being positive where it is above the threshold (0.5)."""

    def __init__(self, thresholds=None, class_id=None, name="precision"):
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds)
        super().__init__(name, self.thresholds, _evenly_spaced(self.thresholds), class_id)

    def _result(self, acc):
        tp, fp, _, _ = self._counts(acc)
        r = _divide_no_nan(tp, tp + fp)
        return float(r[0]) if len(self.thresholds) == 1 else [float(v) for v in r]

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds, "class_id": self.class_id}


class Recall(Precision):
    """tp / (tp + fn), a prediction being positive where it is above the threshold (0.5)."""

    def __init__(self, thresholds=None, class_id=None, name="recall"):
        super().__init__(thresholds=thresholds, class_id=class_id, name=name)

    def _result(self, acc):
        tp, _, _, fn = self._counts(acc)
        r = _divide_no_nan(tp, tp + fn)
        return float(r[0]) if len(self.thresholds) == 1 else [float(v) for v in r]


class _ConditionCount(_ConfusionMetric):
    """One count of the confusion matrix at each threshold (0.5 unless given), weighted by the
    sample weights: a float for one threshold, a list for several (Keras's array)."""

    _which = None  # index in (tp, fp, tn, fn)

    def __init__(self, thresholds=None, name=None):
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(thresholds)
        super().__init__(name, self.thresholds, _evenly_spaced(self.thresholds))

    def _result(self, acc):
        r = self._counts(acc)[self._which]
        return float(r[0]) if len(self.thresholds) == 1 else [float(v) for v in r]

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    _which = 0


class FalsePositives(_ConditionCount):
    _which = 1


class TrueNegatives(_ConditionCount):
    _which = 2


class FalseNegatives(_ConditionCount):
    _which = 3


class _AtConstraint(_ConfusionMetric):
    """The best of one rate over the thresholds where another rate reaches `value` (Keras's
    SensitivitySpecificityBase): counts at num_thresholds evenly spaced thresholds in [0, 1]."""

    _arg = None  # the constructor's name for `value`

    def __init__(self, value, num_thresholds=200, class_id=None, name=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"Argument `{self._arg}` must be in the range [0, 1]. Received: {self._arg}={value}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}")
        self.value, self.num_thresholds = value, int(num_thresholds)
        if num_thresholds == 1:
            thresholds, evenly = [0.5], False
        else:
            thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            evenly = True
        self.thresholds = thresholds
        super().__init__(name, thresholds, evenly, class_id)

    def _rates(self, acc):
        # in float32, as Keras's variables: a rate that sits on `value` compares as it does there
        tp, fp, tn, fn = self._counts(acc).astype(np.float32)

        def rate(a, b):
            return np.divide(a, a + b, out=np.zeros_like(a), where=(a + b) != 0)

        return {"recall": rate(tp, fn), "precision": rate(tp, fp), "specificity": rate(tn, fp)}

    def _best(self, acc, constrained, dependent):
        r = self._rates(acc)
        feasible = r[constrained] >= np.float32(self.value)
        return float(np.max(np.where(feasible, r[dependent], 0.0), initial=0.0))

    def get_config(self):
        return {"name": self.name, "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._arg: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) where the specificity is >= `specificity`."""

    _arg = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None):
        super().__init__(specificity, num_thresholds, class_id, name)

    def _result(self, acc):
        return self._best(acc, "specificity", "recall")


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where the sensitivity (recall) is >= `sensitivity`."""

    _arg = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None):
        super().__init__(sensitivity, num_thresholds, class_id, name)

    def _result(self, acc):
        return self._best(acc, "recall", "specificity")


class PrecisionAtRecall(_AtConstraint):
    """The best precision where the recall is >= `recall`."""

    _arg = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None):
        super().__init__(recall, num_thresholds, class_id, name)

    def _result(self, acc):
        return self._best(acc, "recall", "precision")


class RecallAtPrecision(_AtConstraint):
    """The best recall where the precision is >= `precision` (0 when no threshold reaches it)."""

    _arg = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None):
        super().__init__(precision, num_thresholds, class_id, name)

    def _result(self, acc):
        return self._best(acc, "precision", "recall")


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall), per class from counts of
    each class (a prediction is positive above `threshold`, or where it is its row's max when
    threshold is None); average None (one score per class), "micro" (over all counts), "macro"
    (the mean of the class scores) or "weighted" (weighted by each class's support)."""

    kind = CLASS_COUNTS

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score"):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be a Python float > 0. Received: beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError("Invalid `threshold` argument value. It should be a Python float with "
                             f"0 < threshold <= 1. Received: threshold={threshold!r}")
        super().__init__(name=name, threshold=0.5 if threshold is None else threshold)
        self.average, self.beta, self.init_threshold = average, beta, threshold
        self._classes = None

    def _set_output_width(self, width):
        self._classes = int(width)

    @property
    def stats_width(self):
        if self._classes is None:
            raise RuntimeError(f"{type(self).__name__} counts per class: compile the model with it first")
        return 4 * self._classes

    def native_args(self):
        return {"row_max": self.init_threshold is None}

    def _result(self, acc):
        tp, fp, _, fn = np.asarray(acc, np.float64).reshape(4, -1)
        support = tp + fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * precision * recall / (b2 * precision + recall + EPSILON)
        if self.average == "weighted":
            return float(np.sum(score * support / (support.sum() + EPSILON)))
        if self.average is not None:
            return float(np.mean(score))
        return score.astype(np.float32)

    def get_config(self):
        return {"name": self.name, "average": self.average, "beta": self.beta, "threshold": self.init_threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score"):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(_ConfusionMetric):
    """Area under the ROC or PR curve, by a Riemann sum over `num_thresholds` thresholds, as
    Keras computes it (the 'interpolation' PR sum is Davis & Goadrich's)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 dtype=None, thresholds=None, multi_label=False, num_labels=None, label_weights=None,
                 from_logits=False):
        if not isinstance(multi_label, (bool, np.bool_)):
            raise ValueError(f"Argument `multi_label` must be a bool. Received: multi_label={multi_label!r}")
        if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer))
                                       or num_labels < 1):
            raise ValueError(f"Argument `num_labels` must be a positive integer. Received: num_labels={num_labels!r}")
        if label_weights is not None:
            lw = np.asarray(label_weights, np.float64).reshape(-1)
            if lw.size == 0 or not np.all(np.isfinite(lw)) or np.any(lw < 0):
                raise ValueError("Argument `label_weights` must hold one non-negative finite number per label. "
                                 f"Received: label_weights={label_weights!r}")
            label_weights = [float(v) for v in lw]
        self.multi_label, self.num_labels, self.label_weights = bool(multi_label), num_labels, label_weights
        self._labels = None if num_labels is None else int(num_labels)
        if str(curve).lower() not in _CURVES:
            raise ValueError(f'Invalid `curve` argument value "{curve}". Expected one of: ROC, PR, PRGAIN')
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(f'Invalid `summation_method` argument value "{summation_method}". '
                             f"Expected one of: {', '.join(_SUMMATIONS)}")
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_parse_thresholds(thresholds))
            self.num_thresholds = len(inner) + 2
            evenly = _evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            evenly = True
        # end points below 0 and above 1 so that every prediction in [0, 1] is counted
        super().__init__(name, [0.0 - EPSILON] + inner + [1.0 + EPSILON], evenly, from_logits=from_logits, dtype=dtype)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _label_blocks(self):
        return (self._labels or 1) if self.multi_label else 1

    def _set_output_width(self, width):
        if width is None:  # not known yet (metrics.get without an output)
            return
        width = int(width)
        if self.num_labels is not None and self.multi_label and width != self.num_labels:
            raise ValueError(f"{self.name}: num_labels={self.num_labels}, but the output it counts has {width} labels")
        if self.label_weights is not None and len(self.label_weights) != width:
            raise ValueError(f"{self.name}: label_weights has {len(self.label_weights)} values, but the output it "
                             f"counts has {width} labels")
        if self.multi_label:
            self._labels = width

    def native_args(self):
        args = super().native_args()
        args["multi_label"] = self.multi_label
        if self.label_weights is not None and not self.multi_label:  # Keras weights the counts only then
            args["label_weights"] = list(self.label_weights)
        return args

    def _result(self, acc):
        if not self.multi_label:
            return self._auc(acc)
        block = 4 * len(self._thresholds)
        acc = np.asarray(acc, np.float64)
        aucs = np.array([self._auc(acc[i * block:(i + 1) * block]) for i in range(len(acc) // block)])
        if self.label_weights is None:
            return float(aucs.mean())  # Keras's mean over the labels
        w = np.asarray(self.label_weights, np.float64)
        return float((aucs * w).sum() / w.sum()) if w.sum() else 0.0

    def _auc(self, acc):
        tp, fp, tn, fn = self._counts(acc)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0.0), precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    @staticmethod
    def _interpolate_pr_auc(tp, fp, fn):
        """Keras's closed form: precision varies linearly in tp and p = tp + fp between thresholds."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0.0)), 1.0)
        increments = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0.0))
        return float(np.sum(increments))

    def get_config(self):
        config = {"num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "name": self.name,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": self.label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


_ALIASES = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "kl_divergence": KLDivergence,
    "kld": KLDivergence, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision, "recall": Recall, "auc": AUC,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "log_cosh_error": LogCoshError, "logcosh": LogCoshError, "poisson": Poisson,
    "categorical_hinge": CategoricalHinge, "cosine_similarity": CosineSimilarity, "r2_score": R2Score,
    "MSE": MeanSquaredError, "MAE": MeanAbsoluteError,
    "f1_score": F1Score, "fbeta_score": FBetaScore, "f_beta_score": FBetaScore, "bce": BinaryCrossentropy,
    "true_positives": TruePositives, "false_positives": FalsePositives,
    "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
}
_ALIASES.update({cls.__name__: cls for cls in list(_ALIASES.values())})


CONCRETE_EXAMPLES = "'accuracy', 'mse', bigcore.metrics.Precision()"
CUSTOM_CLASSES = {}  # name -> a Metric subclass of the user's (load_model's custom_objects, while it runs)


def _metric_function(cls, name, **options):
    """Keras's metric function `name`: the value of each sample (eager numpy), counted by cls's
    native kernel; compile(metrics=[fn]) gives cls itself."""

    def fn(y_true, y_pred, **kwargs):
        unknown = sorted(set(kwargs) - set(options))
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {unknown}; it takes {sorted(options)}")
        if _losses.hooks.is_symbolic is not None and _losses.hooks.is_symbolic([y_true, y_pred]):
            raise TypeError(f"metrics.{name} runs on arrays; inside a model pass it to compile(metrics=[...])")
        pred = np.asarray(y_pred, np.float32)
        metric = cls(**{**options, **kwargs})
        rows = pred.shape[:-1] if pred.ndim > 1 else pred.shape
        per = []
        true = np.asarray(y_true, np.float32).reshape(int(np.prod(rows)), -1)
        flat = pred.reshape(int(np.prod(rows)), -1)
        for i in range(flat.shape[0]):  # one row's counts: its value
            metric.reset_state()
            metric.update_state(true[i:i + 1], flat[i:i + 1])
            per.append(metric.result())
        return np.asarray(per, np.float32).reshape(rows)

    fn.__name__ = fn.__qualname__ = name
    fn._bigcore_metric = (cls, options)
    return fn




def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Keras's binary_accuracy: 1 where (y_pred > threshold) equals y_true, elementwise (eager)."""
    if _losses.hooks.is_symbolic is not None and _losses.hooks.is_symbolic([y_true, y_pred]):
        raise TypeError("metrics.binary_accuracy runs on arrays; inside a model pass it to compile(metrics=[...])")
    y_true, y_pred = _losses.squeeze_or_expand_to_same_rank(np.asarray(y_true, np.float32),
                                                             np.asarray(y_pred, np.float32))
    return (y_true == (y_pred > threshold)).astype(np.float32)


binary_accuracy._bigcore_metric = (BinaryAccuracy, {"threshold": 0.5})
categorical_accuracy = _metric_function(CategoricalAccuracy, "categorical_accuracy")
sparse_categorical_accuracy = _metric_function(SparseCategoricalAccuracy, "sparse_categorical_accuracy")
top_k_categorical_accuracy = _metric_function(TopKCategoricalAccuracy, "top_k_categorical_accuracy", k=5)
sparse_top_k_categorical_accuracy = _metric_function(SparseTopKCategoricalAccuracy,
                                                     "sparse_top_k_categorical_accuracy", k=5)
# Keras's metrics module re-exports the loss functions (per-sample values; traced in compile)
mean_squared_error = _losses.mean_squared_error
mean_absolute_error = _losses.mean_absolute_error
mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = _losses.mean_squared_logarithmic_error
binary_crossentropy = _losses.binary_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
kl_divergence = _losses.kl_divergence
poisson = _losses.poisson
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
log_cosh = _losses.log_cosh
huber = _losses.huber
binary_focal_crossentropy = _losses.binary_focal_crossentropy
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy


def get(identifier, loss=None, output_width=None):
    """Resolves a metric; 'accuracy'/'acc' picks the variant that fits the loss, as Keras does.
    A metric named by a string takes that string as its name (Keras's compile does the same)."""
    if isinstance(identifier, Metric):
        if type(identifier) is Metric:
            raise ValueError(f"{type(identifier).__name__} is an abstract metric class that computes nothing: pass "
                             f"a concrete metric (e.g. {CONCRETE_EXAMPLES})")
        if is_own_metric(identifier):  # compile traces its update_state (models/custom_losses.py)
            return identifier
        if identifier.kind is None:
            raise ValueError(f"{type(identifier).__name__} counts in Python (update_state / result of its own, or "
                             "values given to it), which compile cannot run inside the native step: pass a built-in "
                             f"metric (e.g. {CONCRETE_EXAMPLES}) or a metric function fn(y_true, y_pred) of bigcore.ops")
        identifier._set_output_width(output_width)
        return identifier
    if identifier in ("accuracy", "acc"):
        if isinstance(loss, _losses.SparseCategoricalCrossentropy):
            return SparseCategoricalAccuracy(name=identifier)
        if isinstance(loss, _losses.BinaryCrossentropy) or output_width == 1:
            return BinaryAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    if isinstance(identifier, str) and identifier in _ALIASES:
        metric = _ALIASES[identifier](name=identifier)
        metric._set_output_width(output_width)
        return metric
    if callable(getattr(identifier, "_bigcore_metric", None)) or isinstance(getattr(identifier, "_bigcore_metric", None),
                                                                              tuple):
        cls, options = identifier._bigcore_metric  # a built-in metric function: its native metric
        metric = cls(name=identifier.__name__, **options)
        metric._set_output_width(output_width)
        return metric
    if callable(identifier) and not isinstance(identifier, type):  # a metric function (or a loss function)
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Unknown metric: {identifier!r}. Supported: accuracy, {', '.join(sorted(_ALIASES))}")


# -- intersection over union (Keras 3's keras/src/metrics/iou_metrics.py) -----------------------------

class _IoUBase(Metric):
    """A (num_classes x num_classes) confusion matrix summed over every batch: rows the true class,
    columns the predicted one. Its update_state is bigcore.ops, traced once in compile (a metric of
    its own: models/custom_losses.py sums its increments natively per batch), eager on arrays.
    As Keras: labels and predictions (after argmax where not sparse) become integers by truncation,
    ids outside [0, num_classes) and ignore_class count nothing, and with the default integer dtype
    the sample weights are truncated to integers too."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be a positive integer. "
                             f"Received: num_classes={num_classes!r}")
        if dtype not in (None, "int", "int32", "int64", "float32"):
            raise ValueError(f"{type(self).__name__}: dtype must be an integer dtype or 'float32'. Received: {dtype!r}")
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, (int, np.integer))):
            raise ValueError(f"{type(self).__name__}: ignore_class must be an integer or None. "
                             f"Received: ignore_class={ignore_class!r}")
        super().__init__(name=name)
        self.num_classes, self.ignore_class = int(num_classes), ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = bool(sparse_y_true), bool(sparse_y_pred), axis
        self._dtype = dtype
        self._integer = dtype != "float32"
        self.total_cm = self.add_variable(shape=(self.num_classes, self.num_classes), name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops, C = _losses.hooks.ops, self.num_classes
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        t, p = ops.cast(ops.cast(y_true, "int32"), "float32"), ops.cast(ops.cast(y_pred, "int32"), "float32")
        if tuple(t.shape[1:]) != tuple(p.shape[1:]) and int(np.prod(t.shape[1:])) != int(np.prod(p.shape[1:])):
            raise ValueError(f"{self.name}: y_true of shape {tuple(t.shape)} and y_pred of shape {tuple(p.shape)} "
                             "give different numbers of labels per sample")
        per = int(np.prod(p.shape[1:]))  # labels per sample, all flattened as Keras does
        t, p = ops.reshape(t, (-1, per)), ops.reshape(p, (-1, per))
        keep = (t >= 0) & (t < C) & (p >= 0) & (p < C)
        if self.ignore_class is not None:
            keep = keep & (t != float(self.ignore_class))
        w = ops.ones_like(t)
        if sample_weight is not None:
            if self._integer and "float" in str(getattr(sample_weight, "dtype", "")):
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                              "weight due to type casting Consider using integer weights.", stacklevel=2)
            sw = ops.cast(sample_weight, "float32")
            if self._integer:
                sw = ops.cast(ops.cast(sw, "int32"), "float32")
            sw = ops.reshape(sw, (-1, int(np.prod(sw.shape[1:])))) if len(sw.shape) > 1 else ops.expand_dims(sw, -1)
            w = w * sw  # one weight per sample, or one per label
        w = ops.where(keep, w, 0.0)
        true_hot = ops.one_hot(ops.where(keep, t, 0.0), C)
        pred_hot = ops.one_hot(ops.where(keep, p, 0.0), C) * ops.expand_dims(w, -1)
        self.total_cm.assign_add(ops.sum(ops.einsum("bpc,bpd->bcd", true_hot, pred_hot), axis=0))

    def reset_state(self):
        super().reset_state()

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis,
                "dtype": self._dtype}


class IoU(_IoUBase):
    """Keras's IoU: for each of target_class_ids, TP / (TP + FP + FN) from the confusion matrix, averaged
    over the targets whose denominator is not 0 (the others count 0)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)
        ids = list(target_class_ids)
        if not ids or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in ids):
            raise ValueError(f"{type(self).__name__}: target_class_ids must be non-negative class ids. "
                             f"Received: target_class_ids={target_class_ids!r}")
        if max(ids) >= num_classes:
            raise ValueError(f"Target class id {max(ids)} is out of range, which is [0, {num_classes}).")
        self.target_class_ids = [int(i) for i in ids]

    def result(self):
        cm = np.asarray(self.total_cm.numpy(), np.float32)
        tp = np.diag(cm)
        denominator = (cm.sum(0) + cm.sum(1) - tp)[self.target_class_ids]
        tp = tp[self.target_class_ids]
        valid = denominator > 1e-9
        iou = np.where(valid, tp / (denominator + np.float32(EPSILON)), np.float32(0.0))
        return np.float32(iou.sum() / (np.float32(valid.sum()) + np.float32(EPSILON)))

    def get_config(self):
        return {**super().get_config(), "target_class_ids": self.target_class_ids}


class BinaryIoU(IoU):
    """Keras's BinaryIoU: predictions at or above `threshold` are class 1, the others class 0."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = float(threshold)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = _losses.hooks.ops
        super().update_state(y_true, ops.cast(ops.cast(y_pred, "float32") >= self.threshold, "float32"), sample_weight)

    def get_config(self):
        return {"name": self.name, "target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "dtype": self._dtype}


class MeanIoU(IoU):
    """Keras's MeanIoU: IoU over every class."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(num_classes, list(range(num_classes)) if isinstance(num_classes, (int, np.integer)) and
                         num_classes > 0 else [0], name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """Keras's OneHotIoU: IoU with one-hot y_true (argmax over `axis`)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """Keras's OneHotMeanIoU: MeanIoU with one-hot y_true (argmax over `axis`)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


# -- correlation metrics (Keras 3's keras/src/metrics/correlation_metrics.py) ----------------------------

def _correlation_inputs(y_true, y_pred):
    ops = _losses.hooks.ops
    return ops.cast(y_true, "float32"), ops.cast(y_pred, "float32"), ops


def pearson_correlation(y_true, y_pred, axis=-1):
    """Keras's: the Pearson correlation of y_true and y_pred along `axis` (the standardized values'
    mean product; population standard deviations)."""
    y_true, y_pred, ops = _correlation_inputs(y_true, y_pred)
    t = y_true - ops.mean(y_true, axis=axis, keepdims=True)
    p = y_pred - ops.mean(y_pred, axis=axis, keepdims=True)
    t = t / ops.std(t, axis=axis, keepdims=True)
    p = p / ops.std(p, axis=axis, keepdims=True)
    return ops.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Keras's: Lin's concordance correlation 2 cov / (var_t + var_p + (mean_t - mean_p)^2 + eps)
    along `axis`."""
    y_true, y_pred, ops = _correlation_inputs(y_true, y_pred)
    mt = ops.mean(y_true, axis=axis, keepdims=True)
    mp = ops.mean(y_pred, axis=axis, keepdims=True)
    vt = ops.var(y_true - mt, axis=axis, keepdims=True)
    vp = ops.var(y_pred - mp, axis=axis, keepdims=True)
    covar = (y_true - mp) * (y_pred - mp)
    norm = vt + vp + ops.square(mt - mp)
    return ops.mean(2.0 * covar / (norm + EPSILON), axis=axis)


class _Correlation(MeanMetricWrapper):
    """The correlation of each sample (along `axis`), averaged over the samples of every batch so
    far (Keras's MeanMetricWrapper: the running state is a weighted sum and count)."""

    _fn = None

    def __init__(self, name=None, dtype=None, axis=-1):
        if not (isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)) and not (
                isinstance(axis, (list, tuple)) and all(isinstance(a, (int, np.integer)) for a in axis)):
            raise ValueError(f"{type(self).__name__} expects axis to be an integer or a tuple of integers. "
                             f"Received: axis={axis!r}")
        axis = tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)
        super().__init__(type(self)._function, name=name or _losses._snake(type(self).__name__), dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": "float32", "axis": self.axis}


class PearsonCorrelation(_Correlation):
    """Keras's PearsonCorrelation: the mean over samples of pearson_correlation along `axis`."""

    _function = staticmethod(pearson_correlation)


class ConcordanceCorrelation(_Correlation):
    """Keras's ConcordanceCorrelation: the mean over samples of concordance_correlation along `axis`."""

    _function = staticmethod(concordance_correlation)


_ALIASES.update({"pearson_correlation": PearsonCorrelation, "concordance_correlation": ConcordanceCorrelation,
                 "PearsonCorrelation": PearsonCorrelation, "ConcordanceCorrelation": ConcordanceCorrelation})


def serialize(metric):
    """Keras's keras.metrics.serialize: a Metric's {"module", "class_name", "config",
    "registered_name"}, a metric function's {"class_name": "function", "config": its name}."""
    if isinstance(metric, Metric):
        return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
                "registered_name": None}
    if callable(metric) and getattr(metric, "__name__", None):
        return {"module": "builtins", "class_name": "function", "config": metric.__name__,
                "registered_name": "function"}
    raise TypeError(f"keras.metrics.serialize expects a Metric or a metric function. Received: {metric!r}")


def deserialize(config, custom_objects=None):
    """Keras's keras.metrics.deserialize: a Metric (or metric function) from serialize's dict or a
    name; custom_objects names classes and functions of one's own."""
    custom = dict(custom_objects or {})
    if isinstance(config, str):
        if config in custom:
            obj = custom[config]
            return obj() if isinstance(obj, type) else obj
        cls = _ALIASES.get(config)
        if cls is None:
            fn = globals().get(config)
            if callable(fn) and not isinstance(fn, type) and not config.startswith("_"):
                return fn
            raise ValueError(f"Unknown metric: {config!r}")
        return cls()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"keras.metrics.deserialize expects a name or a dict with 'class_name'. Received: {config!r}")
    name, inner = config["class_name"], config.get("config")
    if name == "function":
        fn = custom.get(inner) or globals().get(str(inner))
        if not callable(fn) or isinstance(fn, type) or str(inner).startswith("_"):
            raise ValueError(f"Unknown metric function: {inner!r}")
        return fn
    cls = custom.get(name) or _ALIASES.get(name) or CUSTOM_CLASSES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise ValueError(f"Unknown metric: {name!r}")
    inner = dict(inner or {})
    if inner.get("dtype") in (None, "float32") and "dtype" not in inspect.signature(cls.__init__).parameters:
        inner.pop("dtype", None)
    return cls.from_config(inner)
