"""Weight constraints: Keras 3's MaxNorm, MinMaxNorm, UnitNorm and NonNeg, applied natively after
each optimizer update (cpp/runtime/optim.cpp: apply_constraints), with Keras's formulas and epsilon.

The norms run over `axis`: 0, or the leading axes [0, 1, ..., k-1] (Keras's [0, 1, 2] for a Conv2D
kernel: every axis but the last), so the weight is seen as (prod(shape[:k]), rest) and each column
is constrained. A constraint of the user's own (a Constraint subclass with its own __call__) cannot
run in the native training step, and a model holding one is refused when it is compiled
(native_args), never trained without it.

`Constraint.__call__` computes the same projection in NumPy (float32 in, float32 out), as Keras's
constraints do on a tensor; training never calls it.
"""

import numpy as np

EPSILON = 1e-7  # Keras's backend.epsilon()


class Constraint:
    """Keras 3's base class: the identity. Subclasses with their own __call__ are refused at compile."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_axis(name, axis):
    """axis as Keras writes it (an int or a list), if it is 0 or the leading axes [0, ..., k-1]."""
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        if int(axis) == 0:
            return 0
    elif isinstance(axis, (list, tuple)) and axis and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
        if [int(a) for a in axis] == list(range(len(axis))):
            return [int(a) for a in axis]
    raise ValueError(f"{name}: axis={axis!r} is not supported; supported: axis=0, or the leading axes "
                     "[0, 1, ..., k-1] (e.g. [0, 1, 2] for a Conv2D kernel: every axis but the last)")


def _leading(axis):
    """How many leading axes the norms run over."""
    return 1 if isinstance(axis, int) else len(axis)


def _norms(w, axis):
    w = np.asarray(w)
    return w, np.sqrt(np.sum(np.square(w), axis=tuple(range(_leading(axis))), keepdims=True))


def _float(name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ValueError(f"{name}: {arg} must be a finite number. Received: {arg}={value!r}")
    return float(value)


class MaxNorm(Constraint):
    """Keras's MaxNorm: each column's L2 norm over `axis` is capped at max_value:
    w * clip(norm, 0, max_value) / (epsilon + norm)."""

    def __init__(self, max_value=2, axis=0):
        max_value = _float("MaxNorm", "max_value", max_value)
        if max_value <= 0:
            raise ValueError(f"MaxNorm: max_value must be > 0. Received: max_value={max_value}")
        self.max_value, self.axis = max_value, _check_axis("MaxNorm", axis)

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Keras's NonNeg: max(w, 0)."""

    def __call__(self, w):
        return np.maximum(np.asarray(w), 0)


class UnitNorm(Constraint):
    """Keras's UnitNorm: w / (epsilon + norm), each column's norm over `axis`."""

    def __init__(self, axis=0):
        self.axis = _check_axis("UnitNorm", axis)

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        return w / (EPSILON + norms)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keras's MinMaxNorm: w * desired / (epsilon + norm), with
    desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _float("MinMaxNorm", "min_value", min_value)
        self.max_value = _float("MinMaxNorm", "max_value", max_value)
        self.rate = _float("MinMaxNorm", "rate", rate)
        self.axis = _check_axis("MinMaxNorm", axis)

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# Keras's snake-case shortcuts
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
_SNAKE = {Constraint: "constraint", MaxNorm: "max_norm", MinMaxNorm: "min_max_norm", NonNeg: "non_neg",
          UnitNorm: "unit_norm"}
_BY_NAME = {cls.__name__: cls for cls in _CLASSES} | {name: cls for cls, name in _SNAKE.items()}
_NATIVE_KIND = _SNAKE | {Constraint: "none"}  # the native kinds: the snake-case names, the base class none
SUPPORTED = "MaxNorm (max_norm), MinMaxNorm (min_max_norm), UnitNorm (unit_norm), NonNeg (non_neg)"


def _lookup(name):
    if name not in _BY_NAME:
        raise ValueError(f"Could not interpret constraint: {name!r}. Supported: {SUPPORTED}")
    return _BY_NAME[name]


def get(identifier):
    """None, a Constraint, a name ("max_norm", "MaxNorm", ...), a class, or a {"class_name", "config"} dict."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    raise ValueError(f"Could not interpret constraint: {identifier!r}. Supported: {SUPPORTED}")


def serialize(c):
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}


def deserialize(config):
    """A {"class_name", "config"} dict (Keras's "module" and "registered_name" keys are ignored), or a name."""
    if config is None:
        return None
    if isinstance(config, str):
        return _lookup(config)()
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"Could not interpret constraint: {config!r}. Supported: {SUPPORTED}")
    return _lookup(config["class_name"]).from_config(dict(config.get("config") or {}))


def native_args(c, shape, what="a weight"):
    """The native program's add_param arguments for constraint c on a weight of `shape`: constraint
    (the kind), min_value, max_value, rate and rows (the weight as (rows, size / rows)). A TypeError
    for a constraint the native step cannot run (one with its own __call__), a ValueError for an
    axis the weight does not have."""
    if c is None:
        return {"constraint": "none", "rows": shape[0] if shape else 1}
    base = next((cls for cls in type(c).__mro__ if cls in _NATIVE_KIND), None)
    if base is None or type(c).__call__ is not base.__call__:
        raise TypeError(f"{what} has the constraint {type(c).__name__}, whose __call__ bigcore cannot run: constraints "
                        f"apply natively after each optimizer update, and only Keras's built-in ones are supported: "
                        f"{SUPPORTED}")
    kind = _NATIVE_KIND[base]
    axis = getattr(c, "axis", 0)
    k = _leading(axis)
    if shape and k > len(shape):
        raise ValueError(f"{what} of shape {tuple(shape)} has no axis {axis!r} for its {type(c).__name__} constraint")
    rows = int(np.prod(shape[:k], dtype=np.int64)) if shape else 1
    args = {"constraint": kind, "rows": rows}
    if kind == "max_norm":
        args["max_value"] = c.max_value
    elif kind == "min_max_norm":
        args.update(min_value=c.min_value, max_value=c.max_value, rate=c.rate)
    return args
