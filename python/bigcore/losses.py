"""Losses (Keras names and reductions); the training step computes them natively (cpp/loss.cpp)."""

import math
import re

import numpy as np

from bigcore._native import _core

# Native ids (cpp/loss.h: LossKind)
MSE, MAE, BCE, CCE, SPARSE_CCE = 0, 1, 2, 3, 4
HUBER, KLD, HINGE, SQUARED_HINGE, COSINE = 5, 6, 7, 8, 9
MAPE, MSLE, LOG_COSH, POISSON, CATEGORICAL_HINGE = 10, 11, 12, 13, 14
VALUES = 15  # a custom loss: the program computes its values (the graph of its call())
BINARY_FOCAL, CATEGORICAL_FOCAL, DICE, TVERSKY = 16, 17, 18, 19


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class _Hooks:
    """How a loss runs on symbolic tensors (a custom loss function or call() being traced): set by
    bigcore.ops (ops/loss_calls.py), which this module sits below."""

    is_symbolic = None  # (values) -> bool
    call = None         # (loss, y_true, y_pred, sample_weight) -> the reduced loss tensor
    rows = None         # (loss, y_true, y_pred) -> a built-in loss per row (the loss_rows primitive)
    ops = None          # bigcore.ops itself: built-in metrics written in ops (metrics.py's IoU)


hooks = _Hooks()


class Loss:
    """Keras's Loss. A subclass that defines call(y_true, y_pred) is a custom loss: compile traces
    its call into the program (models/custom_losses.py) and reduces the values natively; the
    built-in losses run their native kernels."""

    kind = None
    sparse = False  # targets are class ids, not one value per output unit

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.call is not Loss.call:  # the values come from the user's call(), traced
            cls.kind = VALUES

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. "
                             f"Received: reduction={reduction!r}")
        if dtype not in (None, "float32"):
            raise ValueError(f"bigcore computes losses in float32. Received: dtype={dtype!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.dtype = "float32"
        self.from_logits = False
        self.label_smoothing = 0.0

    @property
    def custom(self):
        """Whether the loss's values come from a call() of the user's (traced into the program)."""
        return self.kind == VALUES

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def native_param(self, output_shape):
        """The loss's own number(s) for the native kernel (Huber's delta; cpp/kernels/loss/loss.h:
        LossParams), after checking that the loss fits an output of this shape."""
        return 0.0

    def call(self, y_true, y_pred):
        """The loss of each row, unreduced (Keras's reduction="none"): the native kernel's."""
        if self.kind is None:
            raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")
        if hooks.is_symbolic is not None and hooks.is_symbolic([y_true, y_pred]):
            return hooks.rows(self, y_true, y_pred)
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true = np.asarray(y_true, dtype=np.float32)
        y_true, y_pred = self.align(y_true, y_pred)
        valid = self.valid_rows(y_true)
        if valid is not None:
            y_true = np.where(valid, y_true, 0.0).astype(np.float32)
        rows = _core.prim_forward("loss_rows", self.rows_attrs(y_pred.shape), [y_true, y_pred])[0]
        return rows if valid is None else np.where(valid, rows, 0.0).astype(np.float32)

    def valid_rows(self, y_true):
        """The rows that count (Keras's mask of a loss with ignore_class), or None when all do."""
        ignore = getattr(self, "ignore_class", None)
        if ignore is None:
            return None
        return y_true != ignore if isinstance(y_true, np.ndarray) else hooks.not_equal(y_true, float(ignore))

    def align(self, y_true, y_pred):
        """y_true shaped as the native kernel reads it: y_pred's shape (Keras's
        squeeze_or_expand_to_same_rank), or its shape without the class axis for sparse labels."""
        if self.sparse:
            if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
                y_true = y_true.reshape(y_true.shape[:-1]) if isinstance(y_true, np.ndarray) else \
                    hooks.squeeze(y_true, -1)
            return y_true, y_pred
        return squeeze_or_expand_to_same_rank(y_true, y_pred)

    def rows_attrs(self, output_shape):
        param = 0.0 if getattr(self, "ignore_class", None) is not None else self.native_param(output_shape)
        return {"loss_kind": self.kind, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "param": param}

    def native_width(self, output_shape, masked=False):
        """The values of one native row, which the kernel reduces to one loss value: the last axis
        (1 for a (batch,) output; None where it varies per batch). masked: the output carries a
        Keras mask over its timesteps."""
        return output_shape[-1] if len(output_shape) > 1 else 1

    def spans_batch(self, output_shape):
        """True when one loss value couples every row of the batch (Dice's axis=None): a process
        of data-parallel training, which sees a slice of the batch, cannot compute it."""
        return False

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss, reduced as `reduction` says; on symbolic tensors, a tensor of the graph."""
        if hooks.is_symbolic is not None and hooks.is_symbolic([y_true, y_pred, sample_weight]):
            return hooks.call(self, y_true, y_pred, sample_weight)
        if self.custom or self.reduction != "sum_over_batch_size" or getattr(self, "ignore_class", None) is not None:
            y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
            values = np.asarray(self._unreduced(y_true, y_pred), np.float32)
            sw = None if sample_weight is None else np.asarray(sample_weight, np.float32)
            valid = None if self.custom else self.valid_rows(self.align(y_true, y_pred)[0])
            return reduce_weighted_values(values, sw, self.reduction, mask=valid)
        return self._native_mean(y_true, y_pred, sample_weight)

    def _unreduced(self, y_true, y_pred):
        """The values a reduction other than Keras's default reduces (call(), or a loss's own way)."""
        return self.call(y_true, y_pred)

    def _native_mean(self, y_true, y_pred, sample_weight):
        """The batch loss on numpy arrays, computed by the same native kernel as training."""
        y_pred = np.asarray(y_pred, dtype=np.float32)
        C = self.native_width(y_pred.shape) if y_pred.ndim > 1 else (y_pred.shape[-1] if y_pred.ndim else 1)
        rows = y_pred.size // C if C else 0
        y_true = np.ascontiguousarray(y_true, dtype=np.float32).reshape(rows, 1 if self.sparse else C)
        sw = None
        if sample_weight is not None:  # one weight per sample, repeated over any timesteps
            sw = np.asarray(sample_weight, np.float32).reshape(-1)
            sw = np.ascontiguousarray(np.repeat(sw, rows // max(1, sw.size)))
        return _core.loss_value(np.ascontiguousarray(y_pred.reshape(rows, C)), y_true, sw, self.kind, C,
                                self.from_logits, self.label_smoothing, self.native_param(y_pred.shape))


class LossFunctionWrapper(Loss):
    """A loss function fn(y_true, y_pred, **kwargs) -> per-sample values, as a Loss (Keras's):
    compile wraps a plain function in one. y_true and y_pred reach fn at one rank where they
    differ by a trailing axis of length 1."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper expects a callable fn(y_true, y_pred). Received: fn={fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)), **self._fn_kwargs}

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's: squeeze or expand a trailing axis of length 1 where the ranks differ by one."""
    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = _expand_last(x2)
        else:
            x1 = _squeeze_last(x1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = _expand_last(x1)
        else:
            x2 = _squeeze_last(x2)
    return x1, x2


def _expand_last(x):
    return x[..., None] if isinstance(x, np.ndarray) else hooks.expand(x, -1)


def _squeeze_last(x):
    return x.reshape(x.shape[:-1]) if isinstance(x, np.ndarray) else hooks.squeeze(x, -1)


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size", mask=None):
    """Keras's reduction of loss values (numpy): weighted (a mask's valid entries rescaled so that
    a mean counts them only), then summed, averaged or kept."""
    values = np.asarray(values, np.float32)
    if mask is not None:
        m = np.asarray(mask, np.float32)
        if reduction in ("mean", "sum_over_batch_size") and m.sum() > 0:
            m = m * (m.size / m.sum())
        if sample_weight is not None:
            m, sw = squeeze_or_expand_to_same_rank(m, np.asarray(sample_weight, np.float32))
            m = m * sw
        sample_weight = m
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, np.asarray(sample_weight, np.float32))
        values = values * sample_weight
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    total = np.float32(values.sum(dtype=np.float64))
    if reduction == "sum":
        return total
    divisor = np.float32(sample_weight.sum() if reduction == "mean_with_sample_weight" and sample_weight is not None
                         else values.size)
    return np.float32(total / divisor) if divisor else np.float32(0.0)


class _Probabilistic(Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0, name=None, axis=-1, **kw):
        super().__init__(name=name, **kw)
        if axis != -1:
            raise ValueError(f"{type(self).__name__} computes along the last axis (the classes). "
                             f"Received: axis={axis!r}")
        self.from_logits = bool(from_logits)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class MeanSquaredError(Loss):
    kind = MSE


class MeanAbsoluteError(Loss):
    kind = MAE


class BinaryCrossentropy(_Probabilistic):
    kind = BCE


class CategoricalCrossentropy(_Probabilistic):
    kind = CCE


class SparseCategoricalCrossentropy(_Probabilistic):
    kind = SPARSE_CCE
    sparse = True

    def __init__(self, from_logits=False, ignore_class=None, name=None, **kw):
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, (int, np.integer))):
            raise ValueError(f"ignore_class must be an integer class id or None. Received: ignore_class={ignore_class!r}")
        super().__init__(from_logits=from_logits, name=name, **kw)
        # Keras: the rows labelled ignore_class count as masked (0 loss, outside the mean's count)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def native_param(self, output_shape):
        return 0.0 if self.ignore_class is None else [1.0, float(self.ignore_class)]

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("label_smoothing")
        cfg["ignore_class"] = self.ignore_class
        return cfg


class Huber(Loss):
    """0.5 * e^2 where |e| <= delta, else delta * |e| - 0.5 * delta^2, e = y_pred - y_true."""

    kind = HUBER

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(name=name, reduction=reduction)
        self.delta = float(delta)

    def native_param(self, output_shape):
        return self.delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class _Named(Loss):
    """A loss whose only arguments are Keras's reduction and name (its default the snake name)."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        super().__init__(name=name or _snake(type(self).__name__), reduction=reduction)


class KLDivergence(_Named):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""

    kind = KLD


class Hinge(_Named):
    """mean(max(1 - y_true * y_pred, 0)); labels that are all 0/1 in a batch become -1/1."""

    kind = HINGE


class SquaredHinge(_Named):
    """mean(max(1 - y_true * y_pred, 0)^2); labels that are all 0/1 in a batch become -1/1."""

    kind = SQUARED_HINGE


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along `axis` (the last axis natively)."""

    kind = COSINE

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(name=name, reduction=reduction)
        self.axis = _int_axis(self, axis)

    def native_param(self, output_shape):
        _check_last_axis(self, output_shape)
        return 0.0

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class MeanAbsolutePercentageError(_Named):
    """100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))."""

    kind = MAPE


class MeanSquaredLogarithmicError(_Named):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2)."""

    kind = MSLE


class LogCosh(_Named):
    """mean(log(cosh(y_pred - y_true))), computed as x + softplus(-2x) - log 2."""

    kind = LOG_COSH


class Poisson(_Named):
    """mean(y_pred - y_true * log(y_pred + epsilon))."""

    kind = POISSON


class CategoricalHinge(_Named):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)."""

    kind = CATEGORICAL_HINGE


class BinaryFocalCrossentropy(_Probabilistic):
    """Keras's focal BCE, a mean over the last axis: bce(t, p) * (1 - p_t)^gamma, p_t = t p +
    (1 - t)(1 - p); with apply_class_balancing also times alpha (t = 1) / 1 - alpha (t = 0)."""

    kind = BINARY_FOCAL

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy"):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, name=name, reduction=reduction)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _number(self, "alpha", alpha)
        self.gamma = _number(self, "gamma", gamma)
        self.axis = _int_axis(self, axis)

    def native_param(self, output_shape):
        _check_last_axis(self, output_shape)
        return [self.alpha, self.gamma, float(self.apply_class_balancing)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma}


class CategoricalFocalCrossentropy(_Probabilistic):
    """Keras's focal CCE, a sum over the last axis: alpha (1 - o)^gamma (-t log o), o the row
    renormalized and clipped; alpha is one number or one per class."""

    kind = CATEGORICAL_FOCAL

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy"):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, name=name, reduction=reduction)
        if isinstance(alpha, (list, tuple, np.ndarray)):
            self.alpha = [_number(self, "alpha", a) for a in alpha]
        else:
            self.alpha = _number(self, "alpha", alpha)
        self.gamma = _number(self, "gamma", gamma)
        self.axis = _int_axis(self, axis)

    def native_param(self, output_shape):
        _check_last_axis(self, output_shape)
        if isinstance(self.alpha, list):
            classes = self.native_width(output_shape)
            if len(self.alpha) != classes:
                raise ValueError(f"CategoricalFocalCrossentropy takes one alpha per class: an output of shape "
                                 f"{tuple(output_shape)} has {classes} classes, but alpha has {len(self.alpha)} "
                                 f"values. Received: alpha={self.alpha}")
            return [self.gamma, *self.alpha]
        return [self.gamma, self.alpha]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}


class _Overlap(Loss):
    """Dice and Tversky: one value per set of reduced values. Keras's axis=None reduces every value
    of the batch (one loss for the batch, times the mean sample weight); axis = all non-batch axes
    reduces each sample; axis=-1 each row of the last axis, as the other losses do."""

    def __init__(self, axis, reduction, name):
        super().__init__(name=name, reduction=reduction)
        if axis is not None and not isinstance(axis, (list, tuple)):
            axis = _int_axis(self, axis)
        elif axis is not None:
            axis = tuple(_int_axis(self, a) for a in axis)
        self.axis = axis

    def _mode(self, output_shape):
        """"batch", "sample" or "last": what one loss value reduces on an output of this shape."""
        rank = len(output_shape)
        if self.axis is None:
            return "batch"
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        bad = [a for a in axes if not -rank <= a < rank]
        if bad or len({a % rank for a in axes}) != len(axes):
            raise ValueError(f"{type(self).__name__}: axis={self.axis!r} does not name distinct axes of an output "
                             f"of shape {tuple(output_shape)} (rank {rank})")
        got = {a % rank for a in axes}
        if got == set(range(rank)):
            return "batch"
        if rank > 1 and got == set(range(1, rank)):
            return "sample"
        if rank > 1 and got == {rank - 1}:
            return "last"
        raise ValueError(f"{type(self).__name__} reduces every value of the batch (axis=None), each sample's "
                         f"values (axis={tuple(range(1, rank))}) or the last axis (axis=-1); an output of shape "
                         f"{tuple(output_shape)} cannot take axis={self.axis!r}")

    def native_width(self, output_shape, masked=False):
        if self._mode(output_shape) != "sample":
            return super().native_width(output_shape, masked)
        if masked:
            raise ValueError(f"{type(self).__name__}(axis={self.axis!r}) gives one loss per sample, but this output "
                             "carries a mask over its timesteps: Keras pairs the (batch,) losses with the (batch, "
                             "timesteps) mask, which is ill-defined. Use axis=None or axis=-1 (each timestep), or "
                             "drop the mask")
        if any(d is None for d in output_shape[1:]):
            raise ValueError(f"{type(self).__name__}(axis={self.axis!r}) reduces each sample's values: an output "
                             f"of shape {tuple(output_shape)} needs fixed sizes after the batch axis")
        return math.prod(output_shape[1:])

    def spans_batch(self, output_shape):
        return self._mode(output_shape) == "batch"

    def _unreduced(self, y_true, y_pred):
        """Keras's unreduced values, for a call with another reduction: the batch's one loss
        (axis=None), or one per sample / per row of the last axis, each by the native kernel."""
        y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
        mode = self._mode(y_pred.shape)
        if mode == "batch":
            return np.float32(self._native_mean(y_true, y_pred, None))
        lead = y_pred.shape[:1] if mode == "sample" else y_pred.shape[:-1]  # one loss per entry of lead
        rows = (-1, math.prod(y_pred.shape[1:])) if mode == "sample" else (-1, y_pred.shape[-1])
        t, p = y_true.reshape(rows), y_pred.reshape(rows)
        one = type(self).from_config({**self.get_config(), "axis": -1})  # each row alone: its own loss
        values = [one._native_mean(t[i:i + 1], p[i:i + 1], None) for i in range(p.shape[0])]
        return np.asarray(values, np.float32).reshape(lead)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dice(_Overlap):
    """1 - 2 sum(t p) / (sum(t) + sum(p) + epsilon) over the reduced values (see _Overlap)."""

    kind = DICE

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None):
        super().__init__(axis=axis, reduction=reduction, name=name)

    def native_param(self, output_shape):
        return [float(self.spans_batch(output_shape))]


class Tversky(_Overlap):
    """1 - I / (I + alpha sum(t (1 - p)) + beta sum(p (1 - t)) + epsilon), I = sum(t p), over the
    reduced values (see _Overlap); alpha = beta = 0.5 is Dice."""

    kind = TVERSKY

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None):
        super().__init__(axis=axis, reduction=reduction, name=name)
        self.alpha = _number(self, "alpha", alpha)
        self.beta = _number(self, "beta", beta)

    def native_param(self, output_shape):
        return [self.alpha, self.beta, float(self.spans_batch(output_shape))]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


class CTC(LossFunctionWrapper):
    """Keras's CTC loss: y_true (batch, max_length) class ids padded with 0 (the blank), y_pred
    (batch, frames, classes) logits; each sample's -log p(label | frames) over all its frames, the
    label's length its count of non-zero ids (the native ctc_loss primitive, ops/ctc.py)."""

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(ctc, name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Keras's generalized cross-entropy (Zhang & Sabuncu 2018): (1 - p^q) / q, p the predicted
    probability of the true class (y_true class ids), 0 < q < 1."""

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)) or not 0 < q < 1:
            raise ValueError(f"q must be in the interval (0, 1). Received: q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, name=name, reduction=reduction, dtype=dtype, q=q)
        self.q = q

    def get_config(self):
        return {**Loss.get_config(self), "q": self.q}


class Circle(LossFunctionWrapper):
    """Keras's Circle loss (Sun et al. 2020) over the pairs of a batch of L2-normalized embeddings
    y_pred with class ids y_true; the rows whose loss is 0 do not count in the mean (Keras masks
    them). On arrays only: its (batch, batch) pair matrix has no place in a bigcore program yet."""

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name="circle",
                 dtype=None):
        super().__init__(circle, name=name, reduction=reduction, dtype=dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def __call__(self, y_true, y_pred, sample_weight=None):
        if hooks.is_symbolic is not None and hooks.is_symbolic([y_true, y_pred, sample_weight]):
            circle(y_true, y_pred)  # raises the reason
        values = np.asarray(self.call(np.asarray(y_true), np.asarray(y_pred, np.float32)), np.float32)
        sw = None if sample_weight is None else np.asarray(sample_weight, np.float32)
        return reduce_weighted_values(values, sw, self.reduction, mask=values > 0)

    def get_config(self):
        return {**Loss.get_config(self), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ctc(y_true, y_pred):
    """Keras's ctc loss function: each sample's CTC loss (see CTC), shape (batch,)."""
    if len(_shape(y_true)) != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
                         f"integer format. Received: y_true.shape={_shape(y_true)}")
    if len(_shape(y_pred)) != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={_shape(y_pred)}")
    ops = hooks.ops
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    label_length = ops.sum(ops.cast(ops.not_equal(y_true, 0.0), "float32"), axis=-1)
    input_length = ops.sum(ops.ones_like(ops.max(y_pred, axis=-1)), axis=-1)  # every frame of each sample
    return ops.ctc_loss(y_true, y_pred, label_length, input_length, mask_index=0)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Keras's: (1 - p^q) / q, p = y_pred at the class y_true (class ids)."""
    ops = hooks.ops
    y_pred = ops.cast(y_pred, "float32")
    one_hot = ops.one_hot(ops.cast(y_true, "int32"), _shape(y_pred)[-1])
    p = ops.sum(y_pred * one_hot, axis=-1)
    return (1.0 - ops.power(p, q)) / q


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Keras's circle loss of each row of y_pred (embeddings, L2-normalized) against the reference
    embeddings (y_pred itself by default) with labels ref_labels (y_true by default); on arrays."""
    if hooks.is_symbolic is not None and hooks.is_symbolic([y_true, y_pred, ref_labels, ref_embeddings]):
        raise NotImplementedError("bigcore computes the circle loss on arrays only: it compares every pair of "
                                  "samples of a batch (a (batch, batch) matrix), which a bigcore program cannot hold "
                                  "yet, so it cannot be a compiled loss or be called inside a model")
    y_pred = np.asarray(y_pred, np.float32)
    y_true = np.asarray(y_true).astype(np.int32)
    ref = y_pred if ref_embeddings is None else np.asarray(ref_embeddings, np.float32)
    ref_labels = y_true if ref_labels is None else np.asarray(ref_labels).astype(np.int32)
    dist = np.maximum(1.0 - y_pred @ ref.T, 0.0).astype(np.float32)
    q = y_true.reshape(-1, 1) if y_true.ndim == 1 else y_true
    k = ref_labels.reshape(-1, 1) if ref_labels.ndim == 1 else ref_labels
    pos = q == k.T
    neg = ~pos
    if remove_diagonal:
        pos = pos & ~np.eye(q.size, k.size, dtype=bool)
    pos_f, neg_f = pos.astype(np.float32), neg.astype(np.float32)
    pos_w = np.maximum((margin + dist) * pos_f, 0.0)
    neg_w = np.maximum((1.0 + margin - dist) * neg_f, 0.0)
    pos_wd = -1 * gamma * pos_w * (margin - dist)
    neg_wd = gamma * neg_w * ((1.0 - margin) - dist)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_loss = _logsumexp(np.where(pos, pos_wd, -np.inf))
        n_loss = _logsumexp(np.where(neg, neg_wd, -np.inf))
    return np.logaddexp(0.0, p_loss + n_loss).astype(np.float32)  # softplus


def _logsumexp(x):
    """Row-wise log-sum-exp, -inf for a row of -inf only (as torch's)."""
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (np.log(np.sum(np.exp(x - m), axis=1)) + m[:, 0]).astype(np.float32)


def _number(loss, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value):
        raise ValueError(f"{type(loss).__name__} expects {name} to be a finite number. Received: {name}={value!r}")
    return float(value)


def _int_axis(loss, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{type(loss).__name__} expects an integer axis. Received: axis={axis!r}")
    return int(axis)


def _check_last_axis(loss, output_shape):
    """The per-row losses compute along the last axis only."""
    rank = len(output_shape)
    if loss.axis not in (-1, rank - 1):
        raise ValueError(f"{type(loss).__name__} computes along the last axis of the output; an output of shape "
                         f"{tuple(output_shape)} needs axis=-1 or axis={rank - 1}. Received: axis={loss.axis}")


def _snake(name):
    """Keras's to_snake_case: "KLDivergence" -> "kl_divergence", "AUC" -> "auc"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "huber": Huber, "huber_loss": Huber,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "cosine_similarity": CosineSimilarity,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh, "poisson": Poisson, "categorical_hinge": CategoricalHinge,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy, "dice": Dice, "tversky": Tversky,
    "MSE": MeanSquaredError, "MAE": MeanAbsoluteError, "ctc": CTC, "circle": Circle,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
}
_BY_CLASS = {c.__name__: c for c in _ALIASES.values()}


def get(identifier):
    """A Loss from a name, a config dict, a Loss, or a function: a built-in loss function (e.g.
    bigcore.losses.mean_squared_error) gives its native loss, any other function a
    LossFunctionWrapper whose values compile traces into the program."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown loss: {identifier!r}. Supported: {', '.join(sorted(_ALIASES))}")
        return cls(name=identifier) if identifier in _ALIASES else cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        builtin = getattr(identifier, "_bigcore_loss", None)
        return builtin() if builtin is not None else LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss: {identifier!r}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    cls = _BY_CLASS.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown loss: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


def _function(cls, name, **options):
    """Keras's loss function `name`: the unreduced loss of each row (a tensor of the graph on
    symbolic tensors), by cls's kernel; options: the keyword arguments it takes, with defaults."""

    def fn(y_true, y_pred, **kwargs):
        unknown = sorted(set(kwargs) - set(options))
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {unknown}; it takes {sorted(options)}")
        return cls(**{**options, **kwargs}).call(y_true, y_pred)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Keras's {name}(y_true, y_pred): the loss of each row, unreduced."
    fn._bigcore_loss = cls
    return fn


mean_squared_error = mse = MSE = _function(MeanSquaredError, "mean_squared_error")
mean_absolute_error = mae = MAE = _function(MeanAbsoluteError, "mean_absolute_error")
mean_absolute_percentage_error = MAPE = _function(MeanAbsolutePercentageError, "mean_absolute_percentage_error")
mean_squared_logarithmic_error = MSLE = _function(MeanSquaredLogarithmicError, "mean_squared_logarithmic_error")
binary_crossentropy = _function(BinaryCrossentropy, "binary_crossentropy", from_logits=False,
                                label_smoothing=0.0, axis=-1)
categorical_crossentropy = _function(CategoricalCrossentropy, "categorical_crossentropy", from_logits=False,
                                     label_smoothing=0.0, axis=-1)
sparse_categorical_crossentropy = _function(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy",
                                            from_logits=False, ignore_class=None, axis=-1)
huber = _function(Huber, "huber", delta=1.0)
kl_divergence = kld = KLD = _function(KLDivergence, "kl_divergence")
hinge = _function(Hinge, "hinge")
squared_hinge = _function(SquaredHinge, "squared_hinge")
categorical_hinge = _function(CategoricalHinge, "categorical_hinge")
cosine_similarity = _function(CosineSimilarity, "cosine_similarity", axis=-1)
log_cosh = _function(LogCosh, "log_cosh")
poisson = _function(Poisson, "poisson")
binary_focal_crossentropy = _function(BinaryFocalCrossentropy, "binary_focal_crossentropy",
                                      apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                                      label_smoothing=0.0, axis=-1)
categorical_focal_crossentropy = _function(CategoricalFocalCrossentropy, "categorical_focal_crossentropy", alpha=0.25,
                                           gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)


def _overlap_function(cls, name, **options):
    """Keras's dice / tversky functions: with axis=None one number for the whole batch (eager)."""

    def fn(y_true, y_pred, **kwargs):
        unknown = sorted(set(kwargs) - set(options))
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {unknown}; it takes {sorted(options)}")
        args = {**options, **kwargs}
        if args.get("axis") is not None or (hooks.is_symbolic is not None and hooks.is_symbolic([y_true, y_pred])):
            raise NotImplementedError(f"bigcore.losses.{name}() computes axis=None on arrays only; compile with "
                                      f"loss=bigcore.losses.{cls.__name__}(axis=...) instead")
        return np.float32(cls(**args)(y_true, y_pred))

    fn.__name__ = fn.__qualname__ = name
    fn._bigcore_loss = cls
    return fn


dice = _overlap_function(Dice, "dice", axis=None)
tversky = _overlap_function(Tversky, "tversky", alpha=0.5, beta=0.5, axis=None)
