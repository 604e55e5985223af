"""Models: the functional Model, Sequential, the training loop, lowering to a native program."""

from bigcore.models.cloning import clone_model
from bigcore.models.functional import Model
from bigcore.models.sequential import Sequential
from bigcore.saving import load_model, model_from_json, save_model

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]
