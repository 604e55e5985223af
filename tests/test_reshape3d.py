"""ZeroPadding3D, Cropping3D, UpSampling3D and SpatialDropout3D through the layer harness
(tests/layer_test.py): forward against NumPy, gradients, config and file round trips, Keras 3 parity
where Keras is installed; and the misuse errors."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING, optional_keras, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

SHAPE = (2, 3, 4, 3, 2)

MOVES3D = [
    (layers.ZeroPadding3D, {}, lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0)))),
    (layers.ZeroPadding3D, {"padding": (2, 0, 1)}, lambda x: np.pad(x, ((0, 0), (2, 2), (0, 0), (1, 1), (0, 0)))),
    (layers.ZeroPadding3D, {"padding": ((1, 0), (0, 2), (3, 1))},
     lambda x: np.pad(x, ((0, 0), (1, 0), (0, 2), (3, 1), (0, 0)))),
    (layers.Cropping3D, {}, lambda x: x[:, 1:-1, 1:-1, 1:-1]),
    (layers.Cropping3D, {"cropping": ((0, 1), (2, 1), (1, 0))}, lambda x: x[:, 0:-1, 2:-1, 1:]),
    (layers.UpSampling3D, {}, lambda x: np.repeat(np.repeat(np.repeat(x, 2, axis=1), 2, axis=2), 2, axis=3)),
    (layers.UpSampling3D, {"size": (1, 3, 2)}, lambda x: np.repeat(np.repeat(x, 3, axis=2), 2, axis=3)),
]


@pytest.mark.parametrize("cls,kw,fn", MOVES3D, ids=lambda v: getattr(v, "__name__", str(v)))
def test_index_map_layers_3d(request, cls, kw, fn):
    run_layer_test(cls, kw, SHAPE, lambda w, x, mask: fn(x), weight_shapes=[], keras=optional_keras(request))


def test_spatial_dropout3d(request):
    # 16 draws per step (4 samples x 4 channels): three steps' masks repeat with probability ~5e-5
    run_layer_test(layers.SpatialDropout3D, {"rate": 0.5, "seed": 7}, (4, 2, 3, 2, 4), lambda w, x, mask: x,
                   weight_shapes=[], training_differs=True, keras=optional_keras(request))


def test_spatial_dropout3d_drops_whole_channels():
    inp = bigcore.Input(SHAPE[1:])
    model = bigcore.Model(inp, layers.SpatialDropout3D(0.5, seed=3)(inp))
    x = np.ones((8,) + SHAPE[1:], np.float32)
    y = np.asarray(model(x, training=True))
    per_channel = y.reshape(8, -1, SHAPE[-1])
    assert np.all(per_channel == per_channel[:, :1])  # one draw per sample and channel
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.0 in y and 2.0 in y


@pytest.mark.parametrize("make,match", [
    (lambda: layers.ZeroPadding3D(data_format="channels_first"), "channels_last only"),
    (lambda: layers.ZeroPadding3D(padding=(1, 1)), "padding"),
    (lambda: layers.ZeroPadding3D(padding=-1), "negative"),
    (lambda: layers.Cropping3D(cropping=((1, 1), (1, 1))), "cropping"),
    (lambda: layers.Cropping3D(data_format="channels_first"), "channels_last only"),
    (lambda: layers.UpSampling3D(size=(2, 2)), "size"),
    (lambda: layers.UpSampling3D(data_format="channels_first"), "channels_last only"),
    (lambda: layers.SpatialDropout3D(0.5, data_format="channels_first"), "channels_last only"),
])
def test_reshape3d_rejects_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_reshape3d_rejects_wrong_inputs():
    with pytest.raises(ValueError, match="expected ndim=5"):
        layers.ZeroPadding3D()(bigcore.Input((4, 4, 3)))
    with pytest.raises(ValueError, match="smaller than the corresponding"):
        layers.Cropping3D(cropping=2)(bigcore.Input((4, 4, 4, 1)))
    with pytest.raises(ValueError, match="expected ndim=5"):
        layers.SpatialDropout3D(0.5)(bigcore.Input((4, 4, 3)))
