"""Metrics counted natively per batch (cpp/loss.cpp: metric_update); Python keeps the running means."""

from bigcore import losses as _losses

# Native ids (cpp/loss.h: MetricKind)
SPARSE_CAT_ACC, CAT_ACC, BIN_ACC, MSE, MAE = 0, 1, 2, 3, 4


class Metric:
    kind = None
    _direction = "up"
    stats_width = 2  # values the native step returns per batch: (numerator, denominator)

    def result(self, acc):
        """The metric from its counts summed over the batches so far."""
        return acc[0] / acc[1] if acc[1] else 0.0

    def __init__(self, name=None, threshold=0.5):
        self.name = name or _losses._snake(type(self).__name__)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name}


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


class MeanAbsoluteError(Metric):
    kind = MAE
    _direction = "down"


_ALIASES = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier, loss=None, output_width=None):
    """Resolves a metric; 'accuracy'/'acc' picks the variant that fits the loss, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        if isinstance(loss, _losses.SparseCategoricalCrossentropy):
            return SparseCategoricalAccuracy(name=identifier)
        if isinstance(loss, _losses.BinaryCrossentropy) or output_width == 1:
            return BinaryAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier](name=identifier)
    raise ValueError(f"Unknown metric: {identifier!r}. Supported: accuracy, {', '.join(sorted(_ALIASES))}")
