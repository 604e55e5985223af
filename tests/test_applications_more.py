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
    ("EfficientNetV2B0", dict(input_shape=(32, 32, 3), classes=10)),
    ("EfficientNetV2B2", dict(input_shape=(32, 40, 3), include_top=False, pooling="avg")),
    ("EfficientNetV2S", dict(input_shape=(32, 32, 3), classes=5, include_preprocessing=False)),
    ("EfficientNetV2B1", dict(input_shape=(32, 32, 1), include_top=False, pooling="max")),  # 1 channel: -1..1
]

# the big variants repeat the blocks checked above: their structure only (keeps the file fast)
DEEP = [
    ("EfficientNetV2B3", dict(input_shape=(32, 32, 3), include_top=False)),
    ("EfficientNetV2L", dict(input_shape=(32, 32, 3), include_top=False)),
]


@pytest.mark.parametrize("ctor,kwargs", DEEP, ids=_IDS)
def test_structure_matches_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()


def _perturb_batchnorm(kmodel, seed=1):
    """Nonzero means and betas, variances and gammas away from 1, so a wrongly loaded or wrongly
    applied BatchNormalization shows; mild, so the deep swish models' activations stay near 1."""
    rng = np.random.default_rng(seed)
    for w in kmodel.weights:
        kind = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        if kind in ("moving_variance", "gamma"):
            w.assign(rng.uniform(0.8, 1.2, shape).astype("float32"))
        elif kind in ("moving_mean", "beta"):
            w.assign(rng.normal(0, 0.05, shape).astype("float32"))


@pytest.mark.parametrize("ctor,kwargs", CASES, ids=_IDS)
def test_structure_and_predictions_match_keras(keras, ctor, kwargs):
    kmodel, model = _pair(keras, ctor, kwargs)
    assert model.name == kmodel.name
    assert _structure(model) == _structure(kmodel)
    assert model.count_params() == kmodel.count_params()
    _perturb_batchnorm(kmodel)
    _copy_weights(kmodel, model)
    x = _input(model)
    _assert_close(np.asarray(model.predict(x, verbose=0)), _kpredict(kmodel, x))
