"""AUC's multi-label arguments: multi_label=True counts each label's confusion matrix apart and
averages the labels' AUCs (weighted by label_weights when given); with multi_label=False,
label_weights weight each label's counts. Against Keras 3, eagerly and through compile / evaluate;
and the refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, metrics

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

CASES = [dict(multi_label=True), dict(multi_label=True, num_labels=4), dict(multi_label=True, label_weights=[1, 0, 2, 0.5]),
         dict(multi_label=False, label_weights=[1, 0, 2, 0.5]), dict(multi_label=True, curve="PR", num_thresholds=30),
         dict(multi_label=True, from_logits=True)]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((64, 4)) > 0.6).astype(np.float32)
    p = np.clip(y * 0.3 + rng.random((64, 4)) * 0.7, 0, 1).astype(np.float32)
    return y, p, rng.random(64).astype(np.float32)


@pytest.mark.parametrize("kw", CASES, ids=str)
def test_auc_multi_label_matches_keras_eagerly(keras, kw):
    y, p, w = _data()
    ours, theirs = metrics.AUC(**kw), keras.metrics.AUC(**kw)
    for sl in (slice(0, 40), slice(40, 64)):  # two batches accumulate
        ours.update_state(y[sl], p[sl], sample_weight=w[sl])
        theirs.update_state(y[sl], p[sl], sample_weight=w[sl])
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5, atol=1e-6)


def test_multi_label_differs_from_the_pooled_auc_and_is_the_mean_of_per_label_aucs():
    y, p, _ = _data(1)
    pooled, by_label = metrics.AUC(), metrics.AUC(multi_label=True)
    pooled.update_state(y, p)
    by_label.update_state(y, p)
    each = []
    for j in range(4):
        one = metrics.AUC()
        one.update_state(y[:, j:j + 1], p[:, j:j + 1])
        each.append(float(one.result()))
    np.testing.assert_allclose(float(by_label.result()), np.mean(each), rtol=1e-6)
    assert abs(float(pooled.result()) - float(by_label.result())) > 1e-4


@pytest.mark.parametrize("kw", CASES[:4], ids=str)
def test_auc_multi_label_in_evaluate_matches_keras(keras, kw):
    y, _, _ = _data(2)
    x = np.random.default_rng(3).normal(size=(64, 5)).astype(np.float32)

    def model(lib):
        inp = lib.Input((5,))
        return lib.Model(inp, lib.layers.Dense(4, activation="sigmoid")(inp))

    bigcore.utils.set_random_seed(0)
    ours, theirs = model(bigcore), model(keras)
    theirs.set_weights(ours.get_weights())
    ours.compile(loss="binary_crossentropy", metrics=[metrics.AUC(name="auc", **kw)])
    theirs.compile(loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc", **kw)])
    got = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["auc"]
    want = theirs.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["auc"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_auc_multi_label_refusals():
    with pytest.raises(ValueError, match="num_labels"):
        metrics.AUC(multi_label=True, num_labels=0)
    with pytest.raises(ValueError, match="label_weights"):
        metrics.AUC(label_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="multi_label"):
        metrics.AUC(multi_label="yes")
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, layers.Dense(4, activation="sigmoid")(inp))
    with pytest.raises(ValueError, match="num_labels=3"):
        model.compile(loss="binary_crossentropy", metrics=[metrics.AUC(multi_label=True, num_labels=3)])
        model.evaluate(np.ones((4, 3)), np.ones((4, 4)), verbose=0)
    with pytest.raises(ValueError, match="label_weights has 2 values"):
        metrics.AUC(label_weights=[1.0, 2.0]).update_state(np.ones((4, 3)), np.ones((4, 3)) * 0.5)
    config = metrics.AUC(multi_label=True, num_labels=4, label_weights=[1, 2, 3, 4]).get_config()
    again = metrics.AUC(**config)
    assert (again.multi_label, again.num_labels, again.label_weights) == (True, 4, [1.0, 2.0, 3.0, 4.0])
