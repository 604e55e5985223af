"""Losses (Keras names and reductions); the training step computes them natively (cpp/loss.cpp)."""

import numpy as np

# Native ids (cpp/loss.h: LossKind)
MSE, MAE, BCE, CCE, SPARSE_CCE = 0, 1, 2, 3, 4


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

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The batch loss on numpy arrays, computed by the same native kernel as training."""
        from bigcore._native import _core

        y_pred = np.asarray(y_pred, dtype=np.float32)
        C = y_pred.shape[-1] if y_pred.ndim else 1
        rows = y_pred.size // C if C else 0
        y_true = np.ascontiguousarray(y_true, dtype=np.float32).reshape(rows, 1 if self.sparse else C)
        sw = None
        if sample_weight is not None:  # one weight per sample, repeated over any timesteps
            sw = np.asarray(sample_weight, np.float32).reshape(-1)
            sw = np.ascontiguousarray(np.repeat(sw, rows // max(1, sw.size)))
        return _core.loss_value(np.ascontiguousarray(y_pred.reshape(rows, C)), y_true, sw, self.kind, C,
                                self.from_logits, self.label_smoothing)


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


def _snake(name):
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_BY_CLASS = {c.__name__: c for c in _ALIASES.values()}


def get(identifier):
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown loss: {identifier!r}. Supported: {', '.join(sorted(_ALIASES))}")
        return cls(name=identifier if identifier in _ALIASES else None)
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
