"""keras.applications: the ImageNet architectures with Keras's layer names and weights, built
randomly initialized (weights=None), from Keras's pretrained files (weights="imagenet": Keras's
cache ~/.keras/models, else downloaded as Keras does) or from a weights file's path."""

from bigcore.applications import imagenet_utils, mobilenet_v2
from bigcore.applications.mobilenet_v2 import MobileNetV2

__all__ = ["MobileNetV2", "imagenet_utils", "mobilenet_v2"]
