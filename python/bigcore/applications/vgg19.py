"""keras.applications.vgg19: VGG19 with Keras's layer names and weights."""

from bigcore.applications import imagenet_utils as iu
from bigcore.applications.vgg import vgg

# md5 of Keras's files with and without the top
_HASHES = ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """VGG19 as keras.applications.VGG19."""
    return vgg((2, 2, 4, 4, 4), "vgg19", _HASHES, include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name)


def preprocess_input(x, data_format=None):
    """RGB to BGR, minus ImageNet's channel means (the "caffe" mode)."""
    return iu.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    return iu.decode_predictions(preds, top=top)


decode_predictions.__doc__ = iu.decode_predictions.__doc__
