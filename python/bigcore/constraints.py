"""Weight constraints, applied natively after each optimizer update (cpp/program.cpp)."""


class Constraint:
    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Keras's MaxNorm: each column's L2 norm over axis 0 is capped at max_value."""

    def __init__(self, max_value=2, axis=0):
        if axis != 0:
            raise ValueError(f"MaxNorm: only axis=0 is supported, got axis={axis}")
        if max_value <= 0:
            raise ValueError(f"MaxNorm: max_value must be > 0. Received: max_value={max_value}")
        self.max_value, self.axis = float(max_value), axis

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


max_norm = MaxNorm
_BY_NAME = {"max_norm": MaxNorm, "MaxNorm": MaxNorm}


def get(identifier):
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config", {}))
    raise ValueError(f"Could not interpret constraint: {identifier!r}. Supported: max_norm")


def serialize(c):
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
