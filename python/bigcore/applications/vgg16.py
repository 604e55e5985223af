"""keras.applications.vgg16: VGG16 with Keras's layer names and weights."""

from bigcore.applications import imagenet_utils as iu
from bigcore.applications.vgg import vgg

# md5 of Keras's files with and without the top
_HASHES = ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc")


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """VGG16 as keras.applications.VGG16."""
    return vgg((2, 2, 3, 3, 3), "vgg16", _HASHES, include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)


def preprocess_input(x, data_format=None):
    """RGB to BGR, minus ImageNet's channel means (the "caffe" mode)."""
    return iu.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    return iu.decode_predictions(preds, top=top)


decode_predictions.__doc__ = iu.decode_predictions.__doc__
