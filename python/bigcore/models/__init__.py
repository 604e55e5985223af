from bigcore.models.functional import Model
from bigcore.models.sequential import Sequential
from bigcore.saving import load_model, model_from_json, save_model

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "save_model"]
