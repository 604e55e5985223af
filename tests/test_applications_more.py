"""MobileNet, InceptionResNetV2 and EfficientNetV2 against keras.applications: layer names, classes,
output and weight shapes; Keras's weights in -> Keras's predictions; Keras's pretrained-file names
and argument errors."""

import re

import numpy as np
import pytest

from bigcore import applications
from layer_test import KERAS_WARNING
from test_applications import _assert_close, _copy_weights, _input, _kpredict, _pair, _randomize, _structure, \
    _write_keras2_weights

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)
_IDS = lambda v: v if isinstance(v, str) else "-".join(f"{k}={v}" for k, v in v.items())  # noqa: E731

CASES = [
    ("MobileNet", dict(input_shape=(32, 32, 3), classes=10)),
    ("MobileNet", dict(input_shape=(32, 40, 3), alpha=0.5, depth_multiplier=2, include_top=False, pooling="avg")),
    ("MobileNet", dict(input_shape=(33, 33, 3), alpha=0.25, dropout=0.5, classes=3, classifier_activation=None)),
    ("InceptionResNetV2", dict(input_shape=(75, 75, 3), classes=10)),
    ("InceptionResNetV2", dict(input_shape=(80, 75, 3), include_top=False, pooling="max")),
]


@pytest.mark.parametrize("ctor,kwargs", CASES, ids=_IDS)
def test_structure_and_predictions_match_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()
    _randomize(kmodel)
    _copy_weights(kmodel, model)
    x = _input(model)
    _assert_close(np.asarray(model.predict(x, verbose=0)), _kpredict(kmodel, x))
