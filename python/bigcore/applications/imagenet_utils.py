"""keras.applications.imagenet_utils: the ImageNet input preprocessing, the decoding of 1000-class
predictions, and what every architecture's constructor shares (argument checks as Keras words
them, the input tensor, the head, the pretrained-weights file)."""

import json
import os
import warnings

import numpy as np

from bigcore import activations, config, layers, ops
from bigcore.backend import is_keras_tensor
from bigcore.models import Model
from bigcore.utils import get_file, get_source_inputs

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
_CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def preprocess_input(x, data_format=None, mode="caffe"):
    """A batch of images (values 0..255) as the ImageNet models expect them: mode "caffe" (RGB to
    BGR, minus the ImageNet channel means), "tf" (scaled to -1..1) or "torch" (0..1, then
    normalized by ImageNet's channel mean and std). A float NumPy array is changed in place, as in
    Keras; an integer one is converted to floatx first."""
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = config.image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. "
                         f"Received: data_format={data_format}")
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _channel_shape(ndim, data_format):
    """The broadcast shape of a per-channel vector for an image batch of rank `ndim`."""
    if data_format == "channels_first":
        return (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    return (1,) * (ndim - 1) + (3,)


def _preprocess_numpy(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(config.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        caxis = (0 if x.ndim == 3 else 1) if data_format == "channels_first" else x.ndim - 1
        x = np.flip(x, axis=caxis)  # a view, as Keras's x[..., ::-1]: RGB -> BGR
        mean, std = _CAFFE_MEAN, None
    shape = _channel_shape(x.ndim, data_format)
    x -= np.asarray(mean, x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, x.dtype).reshape(shape)
    return x


def _preprocess_tensor(x, data_format, mode):
    ndim = len(x.shape)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        x = x / 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        caxis = (0 if ndim == 3 else 1) if data_format == "channels_first" else ndim - 1
        x = ops.flip(x, axis=caxis)
        mean, std = _CAFFE_MEAN, None
    shape = _channel_shape(ndim, data_format)
    x = x - np.asarray(mean, np.float32).reshape(shape)
    if std is not None:
        x = x / np.asarray(std, np.float32).reshape(shape)
    return x


def _class_index():
    """Keras's imagenet_class_index.json, from Keras's cache (~/.keras/models) or downloaded there."""
    global CLASS_INDEX
    if CLASS_INDEX is None:
        path = cached_file("imagenet_class_index.json", CLASS_INDEX_PATH, _CLASS_INDEX_HASH)
        with open(path) as f:
            CLASS_INDEX = json.load(f)
    return CLASS_INDEX


def decode_predictions(preds, top=5):
    """[[(class_name, class_description, score), ...] per sample]: the `top` best of a batch of
    1000-class ImageNet predictions, best first."""
    shape = tuple(np.shape(preds))
    if len(shape) != 2 or shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
                         f"(samples, 1000)). Received array with shape: {shape}")
    index = _class_index()
    preds = np.asarray(ops.convert_to_numpy(preds))
    results = []
    for pred in preds:
        best = pred.argsort()[-top:][::-1]
        result = [tuple(index[str(i)]) + (pred[i],) for i in best]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


def cached_file(file_name, origin, file_hash=None):
    """The path of Keras's file `file_name` in Keras's cache (~/.keras/models, or $KERAS_HOME/models),
    downloaded from `origin` when absent (as Keras does); a failed download raises an OSError that
    says where to put the file by hand."""
    try:
        return get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    except OSError as e:
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        raise OSError(f"{file_name} is not in Keras's cache and could not be downloaded ({e}). Download it from "
                      f"{origin} and put it at {os.path.join(home, 'models', file_name)}.") from None


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """The model's input shape (may hold None) from the user's, checked as Keras checks it."""
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if data_format == "channels_first":
            if input_shape[0] not in {1, 3}:
                warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an "
                              f"input_shape with {input_shape[0]} input channels.", stacklevel=3)
            default_shape = (input_shape[0], default_size, default_size)
        else:
            if input_shape[-1] not in {1, 3}:
                warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an "
                              f"input_shape with {input_shape[-1]} input channels.", stacklevel=3)
            default_shape = (default_size, default_size, input_shape[-1])
    elif data_format == "channels_first":
        default_shape = (3, default_size, default_size)
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
                             f"should be {default_shape}.  Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        first = data_format == "channels_first"
        channels = input_shape[0] if first else input_shape[-1]
        rows, cols = (input_shape[1], input_shape[2]) if first else (input_shape[0], input_shape[1])
        if channels != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if data_format == "channels_first" else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. "
                         f"Received: input_shape={input_shape}")
    return tuple(input_shape)


def correct_pad(inputs, kernel_size):
    """The ((top, bottom), (left, right)) zero padding before a strided 'valid' convolution that
    matches TensorFlow's 'same' padding."""
    axis = 2 if config.image_data_format() == "channels_first" else 1
    size = inputs.shape[axis:axis + 2]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained heads take only a softmax or no activation."""
    if weights is None:
        return
    act = activations.get(classifier_activation)
    if act not in {activations.get("softmax"), activations.get(None)}:
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` "
                         "argument when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


# --- what the constructors share -------------------------------------------------------------------

def check_weights(weights, include_top, classes, quote="'"):
    """Keras's checks of `weights` (None, "imagenet" or an existing file) and of `classes`."""
    if not (weights in {"imagenet", None} or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(f"The `weights` argument should be either `None` (random initialization), {quote}imagenet"
                         f"{quote} (pre-training on ImageNet), or the path to the weights file to be loaded.  "
                         f"Received: weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
                         f"Received classes={classes}")


def image_input(input_tensor, input_shape):
    """The model's input: a new Input, or the given tensor (a non-symbolic one wrapped in an Input)."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def channel_axis():
    return 1 if config.image_data_format() == "channels_first" else -1


def conv_bn_act(x, filters, kernel_size, strides=1, padding="same", names=(None, None, None), activation="relu",
                use_bias=False, bn_scale=True, bn_epsilon=1e-3, bn_momentum=0.99, bn_axis=None, **conv_kwargs):
    """Conv2D (more of its arguments in conv_kwargs), BatchNormalization (none where its name is
    False), activation: the block most architectures are made of, each layer named by `names`
    (None: auto-numbered); "relu6" is a ReLU(6.0) layer, None no activation layer. bn_axis: the
    channel axis as the architecture names it in Keras (3 or -1; default -1 or 1)."""
    conv_name, bn_name, act_name = names
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=conv_name,
                      **conv_kwargs)(x)
    if bn_name is not False:
        x = layers.BatchNormalization(axis=channel_axis() if bn_axis is None else bn_axis, scale=bn_scale,
                                      epsilon=bn_epsilon, momentum=bn_momentum, name=bn_name)(x)
    if activation == "relu6":
        return layers.ReLU(6.0, name=act_name)(x)
    if activation is not None:
        return layers.Activation(activation, name=act_name)(x)
    return x


def classifier_or_pooling(x, include_top, pooling, classes, classifier_activation, weights,
                          avg_name=None, max_name=None, dropout_rate=0.0, **dense_kwargs):
    """The classification head (global average pooling, a Dropout named "top_dropout" where
    dropout_rate > 0, and a Dense named "predictions", with dense_kwargs) or, without it, the
    optional global pooling."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name=avg_name)(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        validate_activation(classifier_activation, weights)
        return layers.Dense(classes, activation=classifier_activation, name="predictions", **dense_kwargs)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def functional(img_input, input_tensor, x, name):
    inputs = get_source_inputs(input_tensor) if input_tensor is not None else img_input
    return Model(inputs, x, name=name)


def load_weights(model, weights, file_name=None, origin=None, file_hash=None):
    """Keras's pretrained file (`file_name`, from the cache or `origin`) for weights="imagenet", or
    the file at the path `weights` (a .weights.h5 or a legacy .h5)."""
    if weights == "imagenet":
        model.load_weights(cached_file(file_name, origin, file_hash))
    elif weights is not None:
        model.load_weights(os.fspath(weights))
    return model
