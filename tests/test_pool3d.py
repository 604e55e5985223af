"""MaxPooling3D, AveragePooling3D and the 3-D global poolings through the layer harness
(tests/layer_test.py): forward against tests/reference_conv.py, gradients by central differences,
threads, config and file round trips, Keras 3 parity where Keras is installed; and the misuse errors."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, optional_keras, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

POOL3D = [
    (layers.MaxPooling3D, {}, (2, 4, 5, 4, 3)),
    (layers.MaxPooling3D, {"pool_size": (3, 2, 2), "strides": (2, 1, 2), "padding": "same"}, (2, 5, 4, 5, 2)),
    (layers.AveragePooling3D, {"pool_size": 2}, (2, 4, 5, 4, 3)),
    (layers.AveragePooling3D, {"pool_size": (3, 1, 3), "strides": 1, "padding": "same"}, (2, 4, 3, 5, 2)),
    (layers.MaxPool3D, {"pool_size": 2, "strides": (1, 2, 1)}, (2, 3, 4, 3, 2)),
]


@pytest.mark.parametrize("cls,kw,shape", POOL3D, ids=lambda v: getattr(v, "__name__", str(v)))
def test_pooling3d(request, cls, kw, shape):
    mode = "max" if "Max" in cls.__name__ else "avg"
    run_layer_test(cls, kw, shape, lambda w, x, mask: cref.pool_forward(x, kw.get("pool_size", 2), kw.get("strides"),
                                                                        kw.get("padding", "valid"), mode),
                   weight_shapes=[], keras=optional_keras(request))


def test_average_pooling3d_same_counts_only_the_input():
    """An odd total padding: the mean is over the window's positions inside the input (Keras's TF and
    JAX semantics, as AveragePooling2D; Keras's torch backend repeats the edge, so no parity here)."""
    run_layer_test(layers.AvgPool3D, {"pool_size": 2, "strides": 1, "padding": "same"}, (2, 3, 4, 3, 2),
                   lambda w, x, mask: cref.pool_forward(x, 2, 1, "same", "avg"), weight_shapes=[])


def test_max_pooling3d_ties_send_the_gradient_to_the_first():
    inp = bigcore.Input((8,))
    emb = layers.Embedding(8, 1)
    out = layers.Flatten()(layers.MaxPooling3D()(layers.Reshape((2, 2, 2, 1))(emb(inp))))
    model = bigcore.Model(inp, out)
    emb.set_weights([np.zeros((8, 1), np.float32)])
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    model.train_on_batch(np.arange(8, dtype=np.float32)[None], np.ones((1, 1), np.float32))
    np.testing.assert_array_equal(emb.get_weights()[0][:, 0], [2.0] + [0.0] * 7)


GLOBAL3D = [
    (layers.GlobalAveragePooling3D, {}, (2, 3, 4, 2, 3)),
    (layers.GlobalAveragePooling3D, {"keepdims": True}, (2, 3, 4, 2, 3)),
    (layers.GlobalMaxPooling3D, {}, (2, 3, 4, 2, 3)),
    (layers.GlobalMaxPool3D, {"keepdims": True}, (2, 3, 4, 2, 3)),
]


@pytest.mark.parametrize("cls,kw,shape", GLOBAL3D, ids=lambda v: getattr(v, "__name__", str(v)))
def test_global_pooling3d(request, cls, kw, shape):
    mode = "max" if "Max" in cls.__name__ else "avg"
    run_layer_test(cls, kw, shape, lambda w, x, mask: cref.global_pool(x, mode, kw.get("keepdims", False)),
                   weight_shapes=[], keras=optional_keras(request))


def test_aliases():
    assert layers.MaxPool3D is layers.MaxPooling3D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    assert layers.GlobalMaxPool3D is layers.GlobalMaxPooling3D


@pytest.mark.parametrize("make,match", [
    (lambda: layers.MaxPooling3D(data_format="channels_first"), "channels_last only"),
    (lambda: layers.AveragePooling3D((2, 2)), "pool_size"),
    (lambda: layers.MaxPooling3D(2, padding="causal"), "padding"),
    (lambda: layers.GlobalAveragePooling3D(data_format="channels_first"), "channels_last only"),
])
def test_pooling3d_rejects_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_pooling3d_rejects_wrong_inputs():
    with pytest.raises(ValueError, match="expected ndim=5"):
        layers.MaxPooling3D()(bigcore.Input((4, 4, 3)))
    with pytest.raises(ValueError, match="larger than the input"):
        layers.AveragePooling3D(3)(bigcore.Input((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="expected ndim=5"):
        layers.GlobalMaxPooling3D()(bigcore.Input((4, 3)))
