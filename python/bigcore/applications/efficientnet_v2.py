"""keras.applications.efficientnet_v2: EfficientNetV2B0..B3, S, M, L (Fused-MBConv blocks in the
early stages, MBConv with squeeze-and-excitation later), with Keras's layer names and weights.
With include_preprocessing (the default) the models take pixels 0..255: preprocess_input is the
identity."""

import math

from bigcore import config, layers
from bigcore.applications import imagenet_utils as iu
from bigcore.applications.efficientnet import CONV_KERNEL_INITIALIZER, head_and_weights, squeeze_excite

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
# per stage: (kernel_size, repeats, filters_in, filters_out, expand_ratio, se_ratio, strides, fused)
_B = ((3, 1, 32, 16, 1, 0, 1, True), (3, 2, 16, 32, 4, 0, 2, True), (3, 2, 32, 48, 4, 0, 2, True),
      (3, 3, 48, 96, 4, 0.25, 2, False), (3, 5, 96, 112, 6, 0.25, 1, False), (3, 8, 112, 192, 6, 0.25, 2, False))
DEFAULT_BLOCKS_ARGS = {
    "b": _B,
    "-s": ((3, 2, 24, 24, 1, 0, 1, True), (3, 4, 24, 48, 4, 0, 2, True), (3, 4, 48, 64, 4, 0, 2, True),
           (3, 6, 64, 128, 4, 0.25, 2, False), (3, 9, 128, 160, 6, 0.25, 1, False),
           (3, 15, 160, 256, 6, 0.25, 2, False)),
    "-m": ((3, 3, 24, 24, 1, 0, 1, True), (3, 5, 24, 48, 4, 0, 2, True), (3, 5, 48, 80, 4, 0, 2, True),
           (3, 7, 80, 160, 4, 0.25, 2, False), (3, 14, 160, 176, 6, 0.25, 1, False),
           (3, 18, 176, 304, 6, 0.25, 2, False), (3, 5, 304, 512, 6, 0.25, 1, False)),
    "-l": ((3, 4, 32, 32, 1, 0, 1, True), (3, 7, 32, 64, 4, 0, 2, True), (3, 7, 64, 96, 4, 0, 2, True),
           (3, 10, 96, 192, 4, 0.25, 2, False), (3, 19, 192, 224, 6, 0.25, 1, False),
           (3, 25, 224, 384, 6, 0.25, 2, False), (3, 7, 384, 640, 6, 0.25, 1, False)),
}


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """filters * width_coefficient rounded to a multiple of depth_divisor (at least min_depth)."""
    filters *= width_coefficient
    return int(max(min_depth or depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _conv_bn(x, filters, kernel_size, strides, name, activation, bn_momentum, act_name=None):
    """A 'same' Conv2D without bias named name+"conv", BN name+"bn", activation act_name (or name+"activation")."""
    return iu.conv_bn_act(x, filters, kernel_size, strides=strides, names=(f"{name}conv", f"{name}bn",
                                                                           act_name or f"{name}activation"),
                          activation=activation, bn_momentum=bn_momentum, kernel_initializer=CONV_KERNEL_INITIALIZER,
                          bn_axis=3 if config.image_data_format() == "channels_last" else 1)


def _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name):
    """The block's input added back when the shape is kept, after a per-sample Dropout
    (stochastic depth; Keras passes the survival probability as its rate)."""
    if strides == 1 and input_filters == output_filters:
        if survival_probability:
            x = layers.Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def MBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
                bn_momentum=0.9, activation="swish", survival_probability=0.8, name=""):
    """Keras's MBConv block: 1x1 expansion, depthwise convolution, squeeze-and-excitation, 1x1
    projection (no activation), residual. Returns the function that applies it."""
    def apply(inputs):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = _conv_bn(x, filters, 1, 1, f"{name}expand_", activation, bn_momentum)
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, depthwise_initializer=CONV_KERNEL_INITIALIZER,
                                   padding="same", use_bias=False, name=f"{name}dwconv2")(x)
        x = layers.BatchNormalization(axis=3 if config.image_data_format() == "channels_last" else 1, momentum=bn_momentum,
                                      name=f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name)
        x = _conv_bn(x, output_filters, 1, 1, f"{name}project_", None, bn_momentum)
        return _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name)
    return apply


def FusedMBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1, se_ratio=0.0,
                     bn_momentum=0.9, activation="swish", survival_probability=0.8, name=""):
    """Keras's Fused-MBConv block: one full convolution in place of the expansion and depthwise
    ones (the projection itself when expand_ratio is 1), optional squeeze-and-excitation, residual."""
    def apply(inputs):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = _conv_bn(x, filters, kernel_size, strides, f"{name}expand_", activation, bn_momentum)
        if 0 < se_ratio <= 1:
            x = squeeze_excite(x, filters, max(1, int(input_filters * se_ratio)), activation, name)
        fused = expand_ratio == 1
        x = _conv_bn(x, output_filters, kernel_size if fused else 1, strides if fused else 1, f"{name}project_",
                     activation if fused else None, bn_momentum)
        return _residual(x, inputs, strides, input_filters, output_filters, survival_probability, name)
    return apply


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2, drop_connect_rate=0.2,
                   depth_divisor=8, min_depth=8, bn_momentum=0.9, activation="swish", blocks_args="default",
                   name="efficientnetv2", include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax", include_preprocessing=True,
                   weights_name=None):
    """EfficientNetV2 of the given scaling; blocks_args "default" takes the stages of `weights_name`."""
    if blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS["b" if weights_name.startswith("b") else weights_name]
    iu.check_weights(weights, include_top, classes, quote="`")
    input_shape = iu.obtain_input_shape(input_shape, default_size=default_size, min_size=32,
                                        data_format=config.image_data_format(), require_flatten=include_top,
                                        weights=weights)
    img_input = iu.image_input(input_tensor, input_shape)
    bn_axis = 3 if config.image_data_format() == "channels_last" else 1
    x = img_input
    if include_preprocessing:
        if weights_name.startswith("b") and input_shape[bn_axis - 1] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2],
                                     axis=bn_axis)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def filters(n):
        return round_filters(n, width_coefficient, min_depth, depth_divisor)

    x = _conv_bn(x, filters(blocks_args[0][2]), 3, 2, "stem_", activation, bn_momentum)
    b, total = 0, float(sum(args[1] for args in blocks_args))
    for i, (kernel_size, repeats, filters_in, filters_out, expand_ratio, se_ratio, strides, fused) in \
            enumerate(blocks_args):
        if repeats <= 0:
            raise ValueError(f"The number of repeats in `EfficientNetV2` must be > 0. Received: num_repeat={repeats}")
        filters_in, filters_out = filters(filters_in), filters(filters_out)
        block = FusedMBConvBlock if fused else MBConvBlock
        for j in range(round_repeats(repeats, depth_coefficient)):
            if j > 0:
                strides, filters_in = 1, filters_out
            x = block(filters_in, filters_out, expand_ratio, kernel_size, strides, se_ratio, bn_momentum, activation,
                      drop_connect_rate * b / total, name=f"block{i + 1}{chr(j + 97)}_")(x)
            b += 1
    x = _conv_bn(x, filters(1280), 1, 1, "top_", activation, bn_momentum)
    return head_and_weights(x, img_input, input_tensor, name, include_top, pooling, classes, classifier_activation,
                            weights, dropout_rate, BASE_WEIGHTS_PATH, WEIGHTS_HASHES, weights_name)


def _variant(label, width, depth, size):
    def constructor(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                    classes=1000, classifier_activation="softmax", include_preprocessing=True,
                    name=f"efficientnetv2{'-' if label[0] == 'b' else ''}{label}"):
        return EfficientNetV2(width, depth, size, name=name, include_top=include_top, weights=weights,
                              input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                              classifier_activation=classifier_activation,
                              include_preprocessing=include_preprocessing, weights_name=label)
    public = f"EfficientNetV2{label.strip('-').upper()}"
    constructor.__name__ = constructor.__qualname__ = public
    constructor.__doc__ = (f"{public} as keras.applications.{public} (default input {size}x{size}; with "
                           "include_preprocessing, takes pixels 0..255).")
    return constructor


EfficientNetV2B0 = _variant("b0", 1.0, 1.0, 224)
EfficientNetV2B1 = _variant("b1", 1.0, 1.1, 240)
EfficientNetV2B2 = _variant("b2", 1.1, 1.2, 260)
EfficientNetV2B3 = _variant("b3", 1.2, 1.4, 300)
EfficientNetV2S = _variant("-s", 1.0, 1.0, 384)
EfficientNetV2M = _variant("-m", 1.0, 1.0, 480)
EfficientNetV2L = _variant("-l", 1.0, 1.0, 480)


def preprocess_input(x, data_format=None):
    """The identity: the EfficientNetV2 models normalize their input themselves."""
    return x


def decode_predictions(preds, top=5):
    return iu.decode_predictions(preds, top=top)


decode_predictions.__doc__ = iu.decode_predictions.__doc__
