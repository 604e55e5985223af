"""A model with several outputs as Keras 3 reports it: each output's (unweighted) loss in the logs
as "<output>_loss" beside the weighted total, listed after the metrics by evaluate(), and predict()
returning the outputs in the structure the model was built with (a dict stays a dict)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y_reg = (x[:, :1] * 0.5 + 0.1).astype(np.float32)
    y_cls = rng.integers(0, 3, n)
    return x, y_reg, y_cls


def _build(lib, dict_outputs):
    inp = lib.Input((6,), name="x")
    h = lib.layers.Dense(8, activation="tanh", name="hidden")(inp)
    reg = lib.layers.Dense(1, name="reg")(h)
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(h)
    outputs = {"reg": reg, "cls": cls} if dict_outputs else [reg, cls]
    model = lib.Model(inp, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 1.0, "cls": 0.3}, metrics={"cls": ["accuracy"]})
    return model


@pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's predict on torch
@pytest.mark.parametrize("dict_outputs", [True, False], ids=["dict", "list"])
def test_per_output_losses_and_structure_match_keras(keras, dict_outputs):
    x, y_reg, y_cls = _data()
    ours = _build(bigcore, dict_outputs)
    theirs = _build(keras, dict_outputs)
    for name in ("hidden", "reg", "cls"):  # by name: Keras orders a dict's outputs by key
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    y = {"reg": y_reg, "cls": y_cls}
    h_ours = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert set(h_ours) == set(h_theirs) and {"reg_loss", "cls_loss"} <= set(h_ours)
    for k in h_theirs:
        np.testing.assert_allclose(h_ours[k], h_theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)
    # the total is the weighted sum of the parts (per batch, so per epoch too)
    np.testing.assert_allclose(h_ours["loss"], np.add(h_ours["reg_loss"], 0.3 * np.asarray(h_ours["cls_loss"])),
                               rtol=1e-5)
    ev_ours = ours.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    ev_theirs = theirs.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    assert set(ev_ours) == set(ev_theirs)
    for k in ev_theirs:
        np.testing.assert_allclose(ev_ours[k], ev_theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)
    # the list form: loss, the losses one by one, then the metrics, as Keras orders them
    listed = ours.evaluate(x, y, batch_size=20, verbose=0)
    assert ours.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]
    np.testing.assert_allclose(listed, [ev_ours[k] for k in ours.metrics_names])
    np.testing.assert_allclose(listed, theirs.evaluate(x, y, batch_size=20, verbose=0), rtol=2e-5, atol=1e-6)
    p_ours, p_theirs = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert type(p_ours) is type(p_theirs)
    if dict_outputs:
        assert set(p_ours) == {"reg", "cls"}
        for k in p_theirs:
            np.testing.assert_allclose(p_ours[k], p_theirs[k], rtol=1e-5, atol=1e-6)
        assert set(ours.predict_on_batch(x[:5])) == {"reg", "cls"} and set(ours(x[:5])) == {"reg", "cls"}


def test_one_output_logs_no_per_output_loss():
    x, y_reg, _ = _data()
    inp = bigcore.Input((6,))
    model = bigcore.Model(inp, layers.Dense(1, name="reg")(inp))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(x, y_reg, epochs=1, verbose=0).history
    assert set(history) == {"loss", "mae"}
    assert model.metrics_names == ["loss", "mae"]


def _three_outputs(lib, loss, metrics=(("mae",), None, None)):
    """reg, hidden features (an output only served: its loss None) and cls. (Keras 3.13 drops a
    metric given to an output after one whose loss is None, so the Keras runs meter reg only.)"""
    inp = lib.Input((6,), name="x")
    h = lib.layers.Dense(8, activation="tanh", name="hidden")(inp)
    reg = lib.layers.Dense(1, name="reg")(h)
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(h)
    model = lib.Model(inp, [reg, h, cls])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=[m and list(m) for m in metrics])
    return model


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("targets", ["loss_outputs_only", "every_output"])
def test_an_output_without_a_loss_takes_no_targets_as_in_keras(keras, targets):
    """loss=[mse, None, sparse CE]: the targets are those of the outputs with a loss (or one per output,
    the served one's unread); fit's history, evaluate and the weights match Keras 3's."""
    x, y_reg, y_cls = _data()
    loss = ["mse", None, "sparse_categorical_crossentropy"]
    ours, theirs = _three_outputs(bigcore, loss), _three_outputs(keras, loss)
    theirs.set_weights(ours.get_weights())
    y = [y_reg, y_cls] if targets == "loss_outputs_only" else [y_reg, np.zeros((len(x), 8), np.float32), y_cls]
    h_ours = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert set(h_ours) == set(h_theirs) == {"loss", "reg_loss", "cls_loss", "reg_mae"}
    for k in h_theirs:
        np.testing.assert_allclose(h_ours[k], h_theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=2e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    assert [p.shape for p in ours.predict(x, verbose=0)] == [(len(x), 1), (len(x), 8), (len(x), 3)]


def test_losses_of_none_refusals_and_metrics_of_later_outputs():
    x, y_reg, y_cls = _data()
    with pytest.raises(ValueError, match="metric 'accuracy' is given for output 'hidden', whose loss is None"):
        _three_outputs(bigcore, ["mse", None, None], metrics=(None, ("accuracy",), None))
    model = _three_outputs(bigcore, ["mse", None, None])
    h = model.fit(x, y_reg, epochs=1, verbose=0).history  # one loss: no per-output entries
    assert set(h) == {"loss", "reg_mae"}
    with pytest.raises(ValueError, match="expects 1 target arrays, got 2"):
        model.fit(x, [y_reg, y_reg], verbose=0)
    with pytest.raises(ValueError, match="No loss to compute"):
        model.compile(optimizer="sgd", loss=[None, None, None])
    # a metric on the output after the served one meters that output (its own targets)
    model = _three_outputs(bigcore, ["mse", None, "sparse_categorical_crossentropy"],
                           metrics=(None, None, ("accuracy",)))
    model.fit(x, [y_reg, y_cls], epochs=1, verbose=0)
    acc = model.evaluate(x, [y_reg, y_cls], verbose=0, return_dict=True)["cls_accuracy"]
    assert acc == np.mean(np.argmax(model.predict(x, verbose=0)[2], axis=1) == y_cls)


def _keyed(lib):
    """A dict of outputs whose keys are not the output layers' names (Keras matches by the keys)."""
    inp = lib.Input((6,), name="x")
    h = lib.layers.Dense(8, activation="tanh", name="hidden")(inp)
    model = lib.Model(inp, {"price": lib.layers.Dense(1, name="head_a")(h),
                            "kind": lib.layers.Dense(3, activation="softmax", name="head_b")(h)})
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss={"price": "mse", "kind": "sparse_categorical_crossentropy"},
                  loss_weights={"price": 1.0, "kind": 0.5}, metrics={"kind": ["accuracy"], "price": ["mae"]})
    return model


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_dict_outputs_are_matched_by_their_keys_as_in_keras(keras):
    """Losses, loss weights, metrics and targets keyed by the output dict's keys; history and evaluate
    name the logs by those keys, as Keras 3 does; predict returns the keys."""
    x, y_reg, y_cls = _data()
    ours, theirs = _keyed(bigcore), _keyed(keras)
    for name in ("hidden", "head_a", "head_b"):
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    y = {"price": y_reg, "kind": y_cls}
    h_ours = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert set(h_ours) == set(h_theirs) == {"loss", "price_loss", "kind_loss", "price_mae", "kind_accuracy"}
    for k in h_theirs:
        np.testing.assert_allclose(h_ours[k], h_theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)
    ev_ours = ours.evaluate(x, y, verbose=0, return_dict=True)
    ev_theirs = theirs.evaluate(x, y, verbose=0, return_dict=True)
    for k in ev_theirs:
        np.testing.assert_allclose(ev_ours[k], ev_theirs[k], rtol=2e-5, atol=1e-6, err_msg=k)
    assert set(ours.predict(x, verbose=0)) == {"price", "kind"}
    with pytest.raises(ValueError, match="unknown: \\['cost'\\]"):
        ours.compile(optimizer="sgd", loss={"cost": "mse", "kind": "mse"})
