"""The builder of keras.applications.vgg16 and vgg19: stacks of 3x3 ReLU convolutions, 2x2 max
pooling, and a Flatten + two 4096-unit Dense head."""

from bigcore import config, layers
from bigcore.applications import imagenet_utils as iu

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/"
_FILTERS = (64, 128, 256, 512, 512)


def vgg(convs_per_block, file_prefix, hashes, include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name):
    iu.check_weights(weights, include_top, classes)
    input_shape = iu.obtain_input_shape(input_shape, default_size=224, min_size=32,
                                        data_format=config.image_data_format(), require_flatten=include_top,
                                        weights=weights)
    img_input = iu.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(zip(_FILTERS, convs_per_block), start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = iu.functional(img_input, input_tensor, x, name)
    file_name = f"{file_prefix}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    origin = f"{BASE_WEIGHTS_PATH}{file_prefix}/{file_name}"
    return iu.load_weights(model, weights, file_name, origin, hashes[0 if include_top else 1])
