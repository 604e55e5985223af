"""keras.applications.resnet50: ResNet50 and its preprocessing (those of resnet)."""

from bigcore.applications.resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
