from bigcore.models.functional import Model
from bigcore.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
