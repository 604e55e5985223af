"""keras.mixed_precision: dtype policies. bigcore computes in float32 (int8 through
bigcore.quantization), so "float32" is the one policy; a float16 / bfloat16 policy raises a
ValueError rather than being ignored."""

from bigcore import config
from bigcore.optimizers import LossScaleOptimizer  # noqa: F401  (keras.mixed_precision.LossScaleOptimizer)


class DTypePolicy:
    """Keras's DTypePolicy / mixed_precision.Policy: the compute and variable dtypes of layers."""

    def __init__(self, name=None):
        name = "float32" if name is None else getattr(name, "name", name)
        if name != config.dtype_policy():
            config.set_dtype_policy(name)  # raises, naming it
        self.name = name

    compute_dtype = property(lambda self: "float32")
    variable_dtype = property(lambda self: "float32")
    quantization_mode = None

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, cfg):
        return cls(**cfg)

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy


def set_global_policy(policy):
    """Keras's global policy: only float32 (any other raises, naming it)."""
    DTypePolicy(policy)


def global_policy():
    return DTypePolicy(config.dtype_policy())


set_dtype_policy, dtype_policy = set_global_policy, global_policy

__all__ = ["DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy", "set_global_policy"]
