"""Losses (Keras names and reductions); the training step computes them natively (cpp/loss.cpp)."""

import re

import numpy as np

from bigcore._native import _core

# Native ids (cpp/loss.h: LossKind)
MSE, MAE, BCE, CCE, SPARSE_CCE = 0, 1, 2, 3, 4
HUBER, KLD, HINGE, SQUARED_HINGE, COSINE = 5, 6, 7, 8, 9
MAPE, MSLE, LOG_COSH, POISSON, CATEGORICAL_HINGE = 10, 11, 12, 13, 14


class Loss:
    kind = None
    sparse = False  # targets are class ids, not one value per output unit

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction != "sum_over_batch_size":
            raise ValueError(f"Only reduction='sum_over_batch_size' is supported, got {reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.from_logits = False
        self.label_smoothing = 0.0

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def native_param(self, output_shape):
        """The loss's own number for the native kernel (Huber's delta), after checking that the
        loss fits an output of this shape."""
        return 0.0

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The batch loss on numpy arrays, computed by the same native kernel as training."""
        y_pred = np.asarray(y_pred, dtype=np.float32)
        C = y_pred.shape[-1] if y_pred.ndim else 1
        rows = y_pred.size // C if C else 0
        y_true = np.ascontiguousarray(y_true, dtype=np.float32).reshape(rows, 1 if self.sparse else C)
        sw = None
        if sample_weight is not None:  # one weight per sample, repeated over any timesteps
            sw = np.asarray(sample_weight, np.float32).reshape(-1)
            sw = np.ascontiguousarray(np.repeat(sw, rows // max(1, sw.size)))
        return _core.loss_value(np.ascontiguousarray(y_pred.reshape(rows, C)), y_true, sw, self.kind, C,
                                self.from_logits, self.label_smoothing, self.native_param(y_pred.shape))


class _Probabilistic(Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0, name=None, **kw):
        super().__init__(name=name, **kw)
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

    def __init__(self, from_logits=False, name=None, **kw):
        super().__init__(from_logits=from_logits, name=name, **kw)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("label_smoothing")
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
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"CosineSimilarity expects an integer axis. Received: axis={axis!r}")
        self.axis = int(axis)

    def native_param(self, output_shape):
        rank = len(output_shape)
        if self.axis not in (-1, rank - 1):
            raise ValueError(f"CosineSimilarity computes along the last axis of the output; an output of "
                             f"shape {tuple(output_shape)} needs axis=-1 or axis={rank - 1}. "
                             f"Received: axis={self.axis}")
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
    "MSE": MeanSquaredError, "MAE": MeanAbsoluteError,
}
_BY_CLASS = {c.__name__: c for c in _ALIASES.values()}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown loss: {identifier!r}. Supported: {', '.join(sorted(_ALIASES))}")
        return cls(name=identifier) if identifier in _ALIASES else cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret loss: {identifier!r}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    cls = _BY_CLASS.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown loss: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


mean_squared_error = mse = MeanSquaredError()
mean_absolute_error = mae = MeanAbsoluteError()
binary_crossentropy = BinaryCrossentropy()
categorical_crossentropy = CategoricalCrossentropy()
sparse_categorical_crossentropy = SparseCategoricalCrossentropy()
huber = Huber()
kl_divergence = kld = KLD = KLDivergence()
hinge = Hinge()
squared_hinge = SquaredHinge()
cosine_similarity = CosineSimilarity()
