"""Weight regularizers: their loss and gradient are computed natively in the training step."""

import math

import numpy as np


class _Hooks:
    ops = None  # bigcore.ops, which this module sits below (set by it): penalties written in ops


hooks = _Hooks()


class Regularizer:
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        return float(self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum())

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def is_custom(reg):
    """Whether reg's penalty is a __call__ of its own (a Regularizer subclass that writes one): the
    program records that call on the weight (models/lowering.py), where L1L2's runs natively."""
    return reg is not None and type(reg).__call__ is not Regularizer.__call__


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        for name, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a non-negative number. Received: {name}={v!r}")
        self.l1, self.l2 = float(l1), float(l2)


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras's: factor times the mean |dot product| of the L2-normalized rows (mode "rows") or columns
    ("columns") of a 2-D weight, each vector's product with itself left out. Written in ops, so the
    program records it on the weight as any penalty of one's own and its gradient trains the weight."""

    def __init__(self, factor=0.01, mode="rows"):
        if (isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor)
                or factor < 0):
            raise ValueError(f"Invalid value for argument factor: expected a non-negative finite number. "
                             f"Received: factor={factor!r}")
        if mode not in ("rows", "columns"):
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode!r}")
        self.factor, self.mode = float(factor), mode

    def __call__(self, x):
        ops = hooks.ops
        if len(x.shape) != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={tuple(x.shape)}")
        rows = self.mode == "rows"
        v = ops.normalize(x, axis=1 if rows else 0)
        product = ops.matmul(v, ops.transpose(v)) if rows else ops.matmul(ops.transpose(v), v)
        size = x.shape[0 if rows else 1]
        off_diagonal = product * (1.0 - ops.eye(size, dtype="float32"))
        pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * ops.sum(ops.absolute(off_diagonal)) / pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def orthogonal_regularizer(factor=0.01, mode="rows"):
    return OrthogonalRegularizer(factor, mode)


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2,
            "OrthogonalRegularizer": OrthogonalRegularizer, "orthogonal_regularizer": OrthogonalRegularizer}
# Regularizer classes of the user's own by name while a config is rebuilt (load_model's custom_objects,
# saving/api.py), and the lookup of registered ones (registry.get_object, set by bigcore.layers).
CUSTOM_CLASSES = {}
_object_lookup = None


def set_object_lookup(fn):
    global _object_lookup
    _object_lookup = fn


def _class_of(entry):
    for name in (entry.get("registered_name"), entry.get("class_name")):
        cls = _BY_NAME.get(name) or CUSTOM_CLASSES.get(name) or (_object_lookup(name) if _object_lookup and name else None)
        if isinstance(cls, type) and issubclass(cls, Regularizer):
            return cls
    raise ValueError(f"Unknown regularizer {entry.get('class_name')!r}: a regularizer class of your own must be given "
                     "to load_model(custom_objects=...) or registered with @bigcore.saving.register_keras_serializable()")


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return _class_of(identifier).from_config(identifier.get("config") or {})
    raise ValueError(f"Could not interpret regularizer: {identifier!r}")


def serialize(reg):
    if reg is None:
        return None
    out = {"class_name": type(reg).__name__, "config": reg.get_config()}
    registered = type(reg).__dict__.get("_registered_name")  # bigcore.saving.register_keras_serializable
    return {**out, "registered_name": registered} if registered else out


def deserialize(config, custom_objects=None):
    """Keras's: a regularizer from serialize()'s dict (or a name); custom_objects names classes of one's own."""
    if custom_objects and isinstance(config, dict):
        for name in (config.get("registered_name"), config.get("class_name")):
            cls = custom_objects.get(name)
            if isinstance(cls, type) and issubclass(cls, Regularizer):
                return cls.from_config(config.get("config") or {})
    return get(config)
