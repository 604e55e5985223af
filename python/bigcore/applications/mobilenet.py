"""keras.applications.mobilenet: MobileNet (v1: ReLU6 depthwise-separable convolutions), with
Keras's layer names and weights."""

import warnings

from bigcore import config, layers
from bigcore.applications import imagenet_utils as iu

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_SIZES = (128, 160, 192, 224)  # the input sizes ImageNet weights exist for
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
# (pointwise filters, stride) of the depthwise-separable blocks 1..13
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1))


def _rows_cols(input_shape):
    return (input_shape[1], input_shape[2]) if config.image_data_format() == "channels_first" else input_shape[:2]


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights="imagenet",
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNet as keras.applications.MobileNet; `alpha` scales the width of every layer and
    `depth_multiplier` the depthwise convolutions' outputs."""
    iu.check_weights(weights, include_top, classes)
    default_size = 224
    if input_shape is not None:
        rows, cols = _rows_cols(input_shape)
        default_size = rows if rows == cols and rows in _SIZES else 224
    input_shape = iu.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                        data_format=config.image_data_format(), require_flatten=include_top,
                                        weights=weights)
    rows, cols = _rows_cols(input_shape)
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError("If imagenet weights are being loaded, depth multiplier must be 1.  "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in _ALPHA_TEXT:
            raise ValueError("If imagenet weights are being loaded, alpha can be one of`0.25`, `0.50`, `0.75` or "
                             f"`1.0` only.  Received alpha={alpha}")
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn("`input_shape` is undefined or non-square, or `rows` is not in [128, 160, 192, 224]. "
                          "Weights for input shape (224, 224) will be loaded as the default.", stacklevel=2)
    img_input = iu.image_input(input_tensor, input_shape)
    x = iu.conv_bn_act(img_input, int(32 * alpha), 3, strides=2, names=("conv1", "conv1_bn", "conv1_relu"),
                       activation="relu6")
    for block_id, (filters, stride) in enumerate(_BLOCKS, 1):
        x = _depthwise_conv_block(x, int(filters * alpha), depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = iu.classifier_or_pooling(x, False, pooling, classes, classifier_activation, weights)
    model = iu.functional(img_input, input_tensor, x, name or f"mobilenet_{alpha:0.2f}_{rows}")
    if weights == "imagenet":
        file_name = f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf{'' if include_top else '_no_top'}.h5"
        return iu.load_weights(model, weights, file_name, BASE_WEIGHT_PATH + file_name)
    return iu.load_weights(model, weights)


def _depthwise_conv_block(x, filters, depth_multiplier, stride, block_id):
    """3x3 depthwise (a strided one after a bottom/right zero padding), BN, ReLU6; 1x1 pointwise,
    BN, ReLU6."""
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                               strides=stride, use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=iu.channel_axis(), name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    return iu.conv_bn_act(x, filters, 1, names=(f"conv_pw_{block_id}", f"conv_pw_{block_id}_bn",
                                                 f"conv_pw_{block_id}_relu"), activation="relu6")


def preprocess_input(x, data_format=None):
    """Scales pixels 0..255 to -1..1 (the "tf" mode)."""
    return iu.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    return iu.decode_predictions(preds, top=top)


decode_predictions.__doc__ = iu.decode_predictions.__doc__
