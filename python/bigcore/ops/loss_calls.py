"""Losses on symbolic tensors: a built-in loss (or Keras's loss function) called inside a custom
loss function, a Loss subclass's call() or a custom layer's add_loss records graph nodes here.
bigcore.losses sits below bigcore.ops, so it reaches these through its hooks (installed at the
end). A built-in loss's rows are the `loss_rows` primitive (the compiled losses' own kernel);
the reduction is Keras's reduce_weighted_values written with ops."""

from bigcore import losses as _losses
from bigcore.layers.base import KerasTensor
from bigcore.ops import node as _node
from bigcore.ops import numpy as _np


def _rows(loss, y_true, y_pred):
    """loss's value per row (reduction "none") as the loss_rows primitive."""
    y_pred = _np.cast(y_pred, "float32")
    y_true = _np.cast(y_true, "float32")
    y_true, y_pred = loss.align(y_true, y_pred)
    valid = loss.valid_rows(y_true)
    if valid is None:
        return _node.apply("loss_rows", [y_true, y_pred], loss.rows_attrs(tuple(y_pred.shape)))
    rows = _node.apply("loss_rows", [_np.where(valid, y_true, 0.0), y_pred], loss.rows_attrs(tuple(y_pred.shape)))
    rows = _np.where(valid, rows, 0.0)
    rows._mask = valid  # Keras sets the values' mask: the reduction counts the valid rows only
    return rows


def _call(loss, y_true, y_pred, sample_weight):
    """loss(y_true, y_pred, sample_weight) on symbolic tensors: Keras's Loss.__call__, which weighs
    the values by the output's mask and by the mask the values carry (ignore_class's), both."""
    mask = getattr(y_pred, "_mask", None) if isinstance(y_pred, KerasTensor) else None
    values = loss.call(_np.cast(y_true, "float32"), _np.cast(y_pred, "float32"))
    out_mask = getattr(values, "_mask", None) if isinstance(values, KerasTensor) else None
    if out_mask is not None:
        mask = out_mask if mask is None else _np.logical_and(_np.cast(mask, "bool"), out_mask)
    return reduce_weighted_values(values, sample_weight, mask, loss.reduction)


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras's reduction: the mask (rescaled so that a mean counts the valid entries only, for the
    mean reductions) and the sample weights multiply the values, then sum / mean / none."""
    values = _np.cast(values, "float32")
    weight = None if sample_weight is None else _np.cast(sample_weight, "float32")
    if mask is not None:
        m = _np.cast(mask, "float32")
        if reduction in ("mean", "sum_over_batch_size"):
            # valid entries weigh total / valid: the mean over every entry is the mean over the valid ones
            m = _np.divide_no_nan(m, _np.mean(m))
        if weight is not None:
            m, weight = _losses.squeeze_or_expand_to_same_rank(m, weight)
            weight = weight * m
        else:
            weight = m
    if weight is not None:
        values, weight = _losses.squeeze_or_expand_to_same_rank(values, weight)
        values = values * weight
    if reduction in (None, "none") or tuple(values.shape) in ((), (0,)):
        return values
    if reduction == "sum":
        return _np.sum(values)
    if reduction == "mean_with_sample_weight" and weight is not None:
        return _np.divide_no_nan(_np.sum(values), _np.sum(weight * _np.ones_like(values)))
    return _np.mean(values)


_losses.hooks.is_symbolic = _node.is_symbolic
_losses.hooks.call = _call
_losses.hooks.rows = _rows
_losses.hooks.squeeze = lambda x, axis: _np.squeeze(x, axis)
_losses.hooks.expand = lambda x, axis: _np.expand_dims(x, axis)
_losses.hooks.equal_float = lambda a, b: _np.cast(_np.equal(a, b), "float32")
_losses.hooks.not_equal = _np.not_equal


def _crossentropy_rows(loss, target, output, axis, name):
    if axis not in (-1, len(getattr(output, "shape", ())) - 1):
        raise ValueError(f"{name}: bigcore computes along the last axis. Received: axis={axis!r}")
    return _node.apply("loss_rows", [_np.cast(target, "float32"), _np.cast(output, "float32")],
                       loss.rows_attrs(tuple(getattr(output, "shape", ()))))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """keras.ops.categorical_crossentropy: -sum(target * log(output)) along the last axis
    (output normalized to sum 1 and clipped unless from_logits)."""
    return _crossentropy_rows(_losses.CategoricalCrossentropy(from_logits=from_logits), target, output, axis,
                              "categorical_crossentropy")


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """keras.ops.sparse_categorical_crossentropy: the categorical one for class ids `target`."""
    return _crossentropy_rows(_losses.SparseCategoricalCrossentropy(from_logits=from_logits), target, output, axis,
                              "sparse_categorical_crossentropy")


def binary_crossentropy(target, output, from_logits=False):
    """keras.ops.binary_crossentropy: elementwise, the shape of output."""
    loss = _losses.BinaryCrossentropy(from_logits=from_logits)
    rows = _node.apply("loss_rows", [_np.expand_dims(_np.cast(target, "float32"), -1),
                                     _np.expand_dims(_np.cast(output, "float32"), -1)],
                       loss.rows_attrs(tuple(getattr(output, "shape", ())) + (1,)))
    return rows
