"""Checks and converts user arrays once per fit/evaluate/predict call (never per batch)."""

import numpy as np

from bigcore._native import _core
from bigcore.layers.base import shape_str
from bigcore.models import input_side


def _as_list(x, names, what):
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"Missing {what} data for {missing}; got keys {sorted(x)}")
        return [x[n] for n in names]
    if isinstance(x, (list, tuple)):
        if len(x) != len(names):
            raise ValueError(f"The model expects {len(names)} {what} arrays, got {len(x)}")
        return list(x)
    if len(names) != 1:
        raise ValueError(f"The model expects {len(names)} {what} arrays, got one")
    return [x]


def _numeric(a, what):
    if hasattr(a, "__array__") or isinstance(a, (list, tuple, np.ndarray)):
        arr = np.asarray(a)
    else:
        raise TypeError(f"{what} must be a numpy array (or array-like), got {type(a).__name__}")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got an array of dtype {arr.dtype}")
    return arr


def prepare_inputs(model, x):
    """Returns float32 C-contiguous arrays, one per model input, checked against the input shapes."""
    if x is None:
        raise ValueError("x is None: pass the input data")
    ins = model._inputs
    arrays = _as_list(x, [t.node.layer.name for t in ins], "input")
    if getattr(model, "_front_nodes", None):  # preprocessing layers first: raw arrays -> the native inputs
        arrays = [input_side.check_raw_input(i, a, t, model.name) for i, (a, t) in enumerate(zip(arrays, ins))]
        n = {len(a) for a in arrays}
        if len(n) > 1:
            raise ValueError(f"All input arrays must have the same number of samples, got {sorted(n)}")
        arrays, ins = input_side.run(model, arrays), model._native_inputs
    out = []
    for i, (a, t) in enumerate(zip(arrays, ins)):
        a = _adjust_rank(_numeric(a, f"Input {i}"), t.shape)
        expected = t.shape
        if a.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected[1:], a.shape[1:])):
            raise ValueError(f'Input {i} of layer "{model.name}" is incompatible with the layer: '
                             f"expected shape={shape_str(expected)}, found shape={shape_str(a.shape)}")
        a = np.ascontiguousarray(a, dtype=np.float32)
        _check_finite(a, f"Input {i}")
        out.append(a)
    n = {a.shape[0] for a in out}
    if len(n) > 1:
        raise ValueError(f"All input arrays must have the same number of samples, got {sorted(n)}")
    return out


def _adjust_rank(a, expected):
    """Keras's functional models take an input one axis short of a last axis of 1 ((n,) for (None, 1)),
    or with an extra last axis of 1, as the input's shape (Functional._adjust_input_rank)."""
    if a.ndim == len(expected) - 1 and expected[-1] == 1:
        return a[..., None]
    if a.ndim == len(expected) + 1 and a.shape[-1] == 1:
        return a[..., 0]
    return a


def _fits(got, expected):
    """Whether a shape fits an expected one whose None axes take any length (variable-length
    outputs: the native step checks the length against the inputs')."""
    return len(got) == len(expected) and all(e is None or e == g for g, e in zip(got, expected))


def _check_finite(a, what, hint=""):
    """Raises naming the index of the first NaN or inf in a (a float array).

    A float32 C-contiguous array (what fit copies rows from) is searched natively on the team: one
    reading pass over both cores, where NumPy's sum took 12 ms for Fashion-MNIST's 47M floats, a
    twentieth of a batch-256 epoch. Others: first the sum (a NaN or inf makes it NaN or inf, so a
    finite sum clears the array; one that overflows only goes on to the exact check)."""
    if a.dtype.kind != "f" or not a.size:
        return
    if a.dtype == np.float32 and a.flags.c_contiguous:
        i = _core.first_nonfinite(a)
        if i < 0:
            return
        bad = np.unravel_index(i, a.shape)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(a.sum()):
                return
        if np.isfinite(a).all():
            return
        bad = np.argwhere(~np.isfinite(a))[0]
    raise ValueError(f"{what} contains NaN or inf (first at index {tuple(int(b) for b in bad)}){hint}")


def prepare_targets(model, y, n):
    """Returns float32 (n, width) target arrays, one per output, checked against the losses."""
    if not model._loss_outputs:  # trained on add_loss terms alone: no targets (Keras ignores y)
        return []
    if y is None:
        raise ValueError("y is None: fit and evaluate need targets")
    ks = model._loss_outputs  # outputs without a loss take no targets (Keras: one per non-None loss)
    outs = [model._outputs[k] for k in ks]
    if isinstance(y, (list, tuple)) and len(ks) < len(model._outputs) == len(y):
        y = [y[k] for k in ks]  # one target per output: those of outputs without a loss are not read
    keys = model.output_keys(y)
    arrays = _as_list(y, [keys[k] for k in ks], "target")
    result = []
    shapes = {}  # output index -> the target's non-batch shape as given (a traced loss's y_true)
    for k, (a, t, loss) in enumerate(zip(arrays, outs, [model._losses[k] for k in ks])):
        a = _numeric(a, f"Target {k}")
        C = t.shape[-1]
        _check_finite(a, f"Target {k}", f"; {loss.name} expects integer labels in [0, {C})"
                      if loss is not None and loss.sparse else "")
        if a.shape[0] != n:
            raise ValueError(f"Data cardinality is ambiguous: x has {n} samples but y has {a.shape[0]}")
        shapes[ks[k]] = tuple(a.shape[1:])
        if loss is None or loss.custom:  # a function (or the model's compute_loss) reads y_true as given
            pass
        elif loss.sparse:
            if a.ndim == len(t.shape) and a.shape[-1] == 1:
                a = a.reshape(a.shape[:-1])
            if not _fits(a.shape[1:], tuple(t.shape[1:-1])):
                raise ValueError(f"{loss.name} expects integer labels of shape {shape_str((None,) + tuple(t.shape[1:-1]))}, "
                                 f"got {shape_str(a.shape)}")
            ignore = getattr(loss, "ignore_class", None)
            labels = a if ignore is None else a[a != ignore]  # the ignored label may lie outside [0, C)
            if labels.size and (labels.min() < 0 or labels.max() >= C or
                                (labels.dtype.kind == "f" and np.any(labels != np.floor(labels)))):
                raise ValueError(f"{loss.name} expects integer labels in [0, {C}), got values in "
                                 f"[{a.min()}, {a.max()}]")
        elif not _fits(a.shape[1:], tuple(t.shape[1:])):
            if a.ndim == 1 and t.shape[1:] == (1,):
                a = a.reshape(-1, 1)
            else:
                raise ValueError(f"{loss.name} expects targets of shape {shape_str(t.shape)}, got {shape_str(a.shape)}")
        a = np.ascontiguousarray(a.reshape(n, -1) if n else a.reshape(0, max(1, a[0:0].size)), dtype=np.float32)
        _check_finite(a, f"Target {k}")
        result.append(a)
    model._targets_seen(shapes)
    return result


def _timesteps(model):
    """The rows per sample of each output a compiled loss reads (its axes between batch and last):
    the widths Keras's temporal sample weights (samples, timesteps) may have."""
    out = set()
    for k in getattr(model, "_loss_outputs", range(len(model._outputs))):
        shape = model._outputs[k].shape
        out.add(None if any(d is None for d in shape[1:-1]) else int(np.prod(shape[1:-1], dtype=np.int64)))
    return out


def sample_weights(model, ys, n, sample_weight, class_weight):
    """One float32 weight per sample (n,), or per timestep (n, timesteps) for outputs of that many rows
    per sample (Keras's temporal weights), or None. Weights must be finite real numbers."""
    if (sample_weight is not None or class_weight is not None) and getattr(model, "_own_compute_loss", False):
        raise ValueError(f"{type(model).__name__} overrides compute_loss(), which bigcore traces with "
                         "sample_weight=None: fit / evaluate cannot take sample_weight or class_weight for it")
    sw = None
    if sample_weight is not None:
        a = _numeric(sample_weight, "sample_weight")
        if a.dtype.kind == "c":
            raise TypeError(f"sample_weight must hold real numbers, got an array of dtype {a.dtype}")
        shape = np.shape(a)
        if len(shape) == 0 or shape[0] != n:
            raise ValueError(f"sample_weight must have one value per sample: shape ({n},) or ({n}, 1). "
                             f"Received: shape {shape}")
        temporal = len(shape) == 2 and shape[1] != 1
        if len(shape) > 2 or (temporal and any(t is not None and t != shape[1] for t in _timesteps(model))):
            raise ValueError(f"sample_weight of shape {shape}: expected one weight per sample, shape ({n},) or "
                             f"({n}, 1), or one per timestep, ({n}, timesteps) for outputs of that many timesteps "
                             f"(the outputs here have {sorted(t for t in _timesteps(model) if t is not None)})")
        sw = np.asarray(a, dtype=np.float32).reshape((n, shape[1]) if temporal else (-1,))
        if not np.isfinite(sw).all():
            raise ValueError("sample_weight contains NaN or inf")
    if class_weight is not None:
        if len(ys) != 1:
            raise ValueError("class_weight is only supported for models with one output")
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class id: weight}}, got {type(class_weight).__name__}")
        weights = {}
        for c, w in class_weight.items():
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
                raise ValueError(f"class_weight keys must be non-negative class ids, got {c!r}")
            if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not np.isfinite(w):
                raise ValueError(f"class_weight values must be finite numbers, got {c!r}: {w!r}")
            weights[int(c)] = float(w)
        y = ys[0]
        # Keras: class ids from sparse labels, a rounded single column, or the argmax of one-hot rows
        if model._losses[model._loss_outputs[0]].sparse or y.shape[1] == 1:
            cls = np.round(y[:, 0])
            if cls.size and (cls.min() < 0 or cls.max() > np.iinfo(np.int32).max):
                raise ValueError(f"class_weight needs class ids as labels, got values in [{cls.min()}, {cls.max()}]")
            cls = cls.astype(np.int64)
        else:
            cls = np.argmax(y, axis=1)
        # classes missing from the dict weigh 1, as in Keras; the table spans only ids that occur
        present, inverse = np.unique(cls, return_inverse=True)
        cw = np.array([weights.get(int(c), 1.0) for c in present], np.float32)[inverse.reshape(-1)]
        sw = cw if sw is None else sw * (cw[:, None] if sw.ndim == 2 else cw)
    return None if sw is None else np.ascontiguousarray(sw, dtype=np.float32)
