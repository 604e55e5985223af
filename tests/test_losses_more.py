"""BinaryFocalCrossentropy, CategoricalFocalCrossentropy, Dice and Tversky (Keras 3's losses).

The float64 NumPy reference below (values only, reduced as Keras's sum_over_batch_size) is checked
against Keras's docstring numbers; the native values (loss objects on arrays) against it and
against Keras 3; the native gradient (one SGD(lr=1) step of a Dense layer fed the identity) against
central differences of the reference; Adam training and masked outputs against Keras 3; then
names, configs, .keras files both ways, and misuse.
"""

import json

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore import distributed, layers, losses, optimizers
from dense_training import make_targets
from layer_test import compile_for_gradients, sgd_gradients

# Keras 3 on torch 2.13 + NumPy 2 warns from its own predict internals (see test_parity.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

EPS = 1e-7  # Keras's backend.epsilon()
N, C_OUT, T_STEPS = 9, 4, 3

# ---------------------------------------------------------------- the float64 reference


def _smooth(y, ls, to):
    return y * (1.0 - ls) + ls * to if ls else y


def binary_focal(y, x, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1):
    t = _smooth(y, label_smoothing, 0.5)
    p = 1.0 / (1.0 + np.exp(-x)) if from_logits else x
    q = np.clip(p, EPS, 1.0 - EPS)
    focal = (1.0 - (t * p + (1.0 - t) * (1.0 - p))) ** gamma * -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
    if apply_class_balancing:
        focal = focal * (t * alpha + (1.0 - t) * (1.0 - alpha))
    return focal.mean(axis)


def categorical_focal(y, x, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    t = _smooth(y, label_smoothing, 1.0 / y.shape[-1])
    p = np.exp(x - x.max(-1, keepdims=True)) if from_logits else x
    o = np.clip(p / p.sum(-1, keepdims=True), EPS, 1.0 - EPS)
    return (np.asarray(alpha) * (1.0 - o) ** gamma * -t * np.log(o)).sum(axis)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def dice(y, p, axis=None):
    i = (y * p).sum(_axis(axis))
    return 1.0 - 2.0 * i / (y.sum(_axis(axis)) + p.sum(_axis(axis)) + EPS)


def tversky(y, p, alpha=0.5, beta=0.5, axis=None):
    ax = _axis(axis)
    i = (y * p).sum(ax)
    return 1.0 - i / (i + alpha * ((1.0 - p) * y).sum(ax) + beta * (p * (1.0 - y)).sum(ax) + EPS)


REFERENCE = {"BinaryFocalCrossentropy": binary_focal, "CategoricalFocalCrossentropy": categorical_focal,
             "Dice": dice, "Tversky": tversky}


def ref_loss(name, y, pred, kw, sample_weight=None):
    """Keras's sum_over_batch_size: the mean of the loss values, each times its sample's weight (a
    loss over the whole batch: times the mean weight)."""
    v = np.asarray(REFERENCE[name](np.asarray(y, np.float64), np.asarray(pred, np.float64), **kw))
    if sample_weight is None:
        return float(v.mean())
    w = np.asarray(sample_weight, np.float64)
    return float(v * w.mean()) if v.ndim == 0 else float((v * w.reshape((-1,) + (1,) * (v.ndim - 1))).mean())


def test_reference_and_native_match_keras_docstrings():
    """The numbers Keras 3's docstrings print, by the reference and by the native kernel."""
    y, x = np.array([[0.0, 1, 0, 0]]), np.array([[-18.6, 0.51, 2.94, -12.8]])
    y2, x2 = np.array([[0.0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    yc, pc = np.array([[0.0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    yd = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
    pd = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])
    logits = {"from_logits": True}
    cases = [  # (loss, arguments, y, pred, sample weight, Keras's value, its printed precision)
        ("BinaryFocalCrossentropy", {"gamma": 2.0, **logits}, y, x, None, 0.691, 1e-3),
        ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 2.0, **logits}, y, x, None, 0.51, 1e-2),
        ("BinaryFocalCrossentropy", {"gamma": 3.0, **logits}, y2, x2, None, 0.647, 1e-3),
        ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 3.0, **logits}, y2, x2, None, 0.482,
         1e-3),
        ("BinaryFocalCrossentropy", {"gamma": 3.0, **logits}, y2, x2, [0.8, 0.2], 0.133, 1e-3),
        ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 3.0, **logits}, y2, x2, [0.8, 0.2],
         0.097, 1e-3),
        ("CategoricalFocalCrossentropy", {}, yc, pc, None, 0.23315276, 1e-7),
        ("CategoricalFocalCrossentropy", {}, yc, pc, [0.3, 0.7], 0.1632, 1e-4),
        ("Dice", {"axis": (1, 2, 3)}, yd, pd, None, (0.5 + 0.75757575) / 2, 1e-7),
        ("Dice", {}, yd, pd, None, 0.6164384, 1e-7),
    ]
    for name, kw, yt, yp, sw, want, prec in cases:
        assert ref_loss(name, yt, yp, kw, sw) == pytest.approx(want, abs=prec), (name, kw, sw)
        assert float(getattr(losses, name)(**kw)(yt, yp, sample_weight=sw)) == pytest.approx(want, abs=prec)
    # alpha = beta = 0.5 is Dice (up to where epsilon sits)
    assert float(losses.Tversky()(yd, pd)) == pytest.approx(0.6164384, abs=1e-6)


# ---------------------------------------------------------------- cases

# (loss class, arguments, activation of the Dense layer, target kind); axis "sample" stands for
# every non-batch axis of the output
CASES = {
    "bfce": ("BinaryFocalCrossentropy", {}, "sigmoid", "binary"),
    "bfce_logits": ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 3.0}, "linear", "binary"),
    "bfce_balanced_smoothed": ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4,
                                                           "label_smoothing": 0.2}, "sigmoid", "binary"),
    "bfce_logits_balanced": ("BinaryFocalCrossentropy", {"from_logits": True, "apply_class_balancing": True,
                                                         "alpha": 0.7, "gamma": 1.5, "label_smoothing": 0.1},
                             "linear", "binary"),
    "bfce_gamma0_soft": ("BinaryFocalCrossentropy", {"gamma": 0.0}, "sigmoid", "unit"),
    "cfce": ("CategoricalFocalCrossentropy", {}, "softmax", "onehot"),
    "cfce_logits_smoothed": ("CategoricalFocalCrossentropy", {"from_logits": True, "label_smoothing": 0.2,
                                                              "gamma": 1.0, "alpha": 0.5}, "linear", "onehot"),
    "cfce_alpha_per_class": ("CategoricalFocalCrossentropy", {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 2.5},
                             "softmax", "simplex"),
    "cfce_unnormalized": ("CategoricalFocalCrossentropy", {"gamma": 0.5}, "sigmoid", "onehot"),
    "dice": ("Dice", {}, "sigmoid", "binary"),
    "dice_sample": ("Dice", {"axis": "sample"}, "sigmoid", "binary"),
    "dice_last": ("Dice", {"axis": -1}, "sigmoid", "unit"),
    "tversky": ("Tversky", {"alpha": 0.7, "beta": 0.3}, "sigmoid", "binary"),
    "tversky_sample": ("Tversky", {"alpha": 0.2, "beta": 0.9, "axis": "sample"}, "sigmoid", "unit"),
    "tversky_default": ("Tversky", {}, "sigmoid", "binary"),
}


def _kw(kw, rank):
    return {**kw, "axis": tuple(range(1, rank))} if kw.get("axis") == "sample" else kw


def _data(case, T, seed, n=N):
    name, kw, act, target_kind = CASES[case]
    rng = np.random.default_rng(seed)
    lead = (n,) if T is None else (n, T)
    y = make_targets(target_kind, lead, C_OUT, rng)
    pred = ref.act_forward(rng.standard_normal(lead + (C_OUT,)), act).astype(np.float32)
    return name, _kw(kw, len(lead) + 1), y, pred, rng.uniform(0.2, 2.0, n).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_values_match_reference(case, T):
    name, kw, y, pred, sw = _data(case, T, 1)
    loss = getattr(losses, name)(**kw)
    assert float(loss(y, pred)) == pytest.approx(ref_loss(name, y, pred, kw), rel=1e-5, abs=1e-7)
    assert float(loss(y, pred, sample_weight=sw)) == pytest.approx(ref_loss(name, y, pred, kw, sw), rel=1e-5,
                                                                   abs=1e-7)


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_values_match_keras(keras, case, T):
    name, kw, y, pred, sw = _data(case, T, 2)
    ours, theirs = getattr(losses, name)(**kw), getattr(keras.losses, name)(**kw)
    assert float(ours(y, pred)) == pytest.approx(float(theirs(y, pred)), rel=1e-5, abs=1e-7)
    ksw = sw if T is None else sw[:, None]  # Keras broadcasts a weight per sample from (N, 1)
    assert float(ours(y, pred, sample_weight=sw)) == pytest.approx(float(theirs(y, pred, sample_weight=ksw)),
                                                                   rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
def test_native_gradient_central_differences(case, T, weighted):
    """The native dL/dpred, read off one SGD(lr=1) step of a bias-free Dense layer fed the identity
    (pred = W, reshaped to (T, C) for 3-D outputs), vs central differences of the float64 loss."""
    n = 6
    name, kw, y, pred, sw = _data(case, T, 3, n=n)
    sw = sw if weighted else None
    per = pred[0].size
    bigcore.utils.set_random_seed(0)
    stack = [layers.Input((n,)), layers.Dense(per, use_bias=False)]
    m = bigcore.Sequential(stack + ([] if T is None else [layers.Reshape((T, C_OUT))]))
    compile_for_gradients(m, getattr(losses, name)(**kw))
    m.set_weights([pred.reshape(n, per)])
    loss, (native_grad,) = sgd_gradients(m, np.eye(n, dtype=np.float32), y, sample_weight=sw)
    assert loss == pytest.approx(ref_loss(name, y, pred, kw, sw), rel=1e-5, abs=1e-7)
    numeric = ref.numerical_grad(lambda p: ref_loss(name, y, p, kw, sw), pred.astype(np.float64))
    assert np.abs(numeric).max() > 1e-3  # a gradient that could be wrong
    np.testing.assert_allclose(native_grad.reshape(pred.shape), numeric, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- Keras parity: training


def _twins(keras, case, T, seed=2):
    """Dense(8, tanh) -> Dense(C, act) (-> Reshape to (T, C)) in bigcore and Keras, same weights,
    both compiled with the case's loss and Adam."""
    name, kw, act, _ = CASES[case]
    kw = _kw(kw, 2 if T is None else 3)
    width = C_OUT if T is None else T * C_OUT
    tail_ours = [] if T is None else [layers.Reshape((T, C_OUT))]
    tail_keras = [] if T is None else [keras.layers.Reshape((T, C_OUT))]
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Input((6,)), layers.Dense(8, activation="tanh"),
                            layers.Dense(width, activation=act)] + tail_ours)
    m.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss=getattr(losses, name)(**kw))
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                           keras.layers.Dense(width, activation=act)] + tail_keras)
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=getattr(keras.losses, name)(**kw))
    return m, km


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_adam_training_matches_keras(keras, case, T):
    """Loss values and weights after 4 train_on_batch steps, the last two with sample weights."""
    m, km = _twins(keras, case, T)
    rng = np.random.default_rng(6)
    x = (0.5 * rng.standard_normal((4 * 8, 6))).astype(np.float32)
    y = make_targets(CASES[case][3], (4 * 8,) if T is None else (4 * 8, T), C_OUT, rng)
    sw = rng.uniform(0.2, 2.0, 4 * 8).astype(np.float32)
    for k, i in enumerate(range(0, len(x), 8)):
        w = sw[i:i + 8] if k >= 2 else None
        kw_ = None if w is None or T is None else w[:, None]
        got = m.train_on_batch(x[i:i + 8], y[i:i + 8], sample_weight=w)
        want = float(km.train_on_batch(x[i:i + 8], y[i:i + 8], sample_weight=kw_ if T else w))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), f"batch {k}"
    for i, (g, w) in enumerate(zip(m.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")


def _masked_twins(keras, loss_of):
    """Embedding(mask_zero) -> Dense(2, sigmoid) over timesteps, same weights, in both libraries."""
    V, E, T = 7, 3, 5
    bigcore.utils.set_random_seed(4)
    m = bigcore.Sequential([layers.Input((T,)), layers.Embedding(V, E, mask_zero=True),
                            layers.Dense(2, activation="sigmoid")])
    m.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss=loss_of(losses))
    km = keras.Sequential([keras.Input((T,)), keras.layers.Embedding(V, E, mask_zero=True),
                           keras.layers.Dense(2, activation="sigmoid")])
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss_of(keras.losses))
    return m, km


MASKED = {  # Keras: over the whole batch the mask only scales (every value counts; 0 when all are
    # masked); per row, masked rows do not count
    "dice_batch": lambda lib: lib.Dice(),
    "dice_last": lambda lib: lib.Dice(axis=-1),
    "tversky_batch": lambda lib: lib.Tversky(alpha=0.3, beta=0.7),
    "bfce": lambda lib: lib.BinaryFocalCrossentropy(apply_class_balancing=True),
}


@pytest.mark.parametrize("case", MASKED, ids=MASKED.keys())
def test_masked_outputs_match_keras(keras, case):
    m, km = _masked_twins(keras, MASKED[case])
    rng = np.random.default_rng(7)
    ids = rng.integers(1, 7, (6, 5)).astype(np.float32)
    ids[:, 3:] = 0
    ids[0, 1:] = 0
    y = rng.integers(0, 2, (6, 5, 2)).astype(np.float32)
    for step in range(3):
        got, want = m.train_on_batch(ids, y), float(km.train_on_batch(ids, y))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), f"step {step}"
    for i, (g, w) in enumerate(zip(m.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    none = np.zeros_like(ids)
    assert m.evaluate(none, y, verbose=0) == pytest.approx(float(km.evaluate(none, y, verbose=0)), abs=1e-7)


def test_whole_batch_dice_counts_masked_values_and_is_zero_when_all_are_masked():
    """What Keras does (checked against it above), by the reference: the mask does not enter the sums."""
    V, T = 7, 5
    bigcore.utils.set_random_seed(4)
    m = bigcore.Sequential([layers.Input((T,)), layers.Embedding(V, 3, mask_zero=True),
                            layers.Dense(2, activation="sigmoid")])
    m.compile(optimizer="sgd", loss=losses.Dice())
    rng = np.random.default_rng(8)
    ids = rng.integers(1, V, (6, T)).astype(np.float32)
    ids[:, 3:] = 0
    y = rng.integers(0, 2, (6, T, 2)).astype(np.float32)
    pred = m.predict(ids, verbose=0)
    assert m.evaluate(ids, y, verbose=0) == pytest.approx(ref_loss("Dice", y, pred, {}), rel=1e-5)
    assert ref_loss("Dice", y, pred, {}) != pytest.approx(ref_loss("Dice", y[:, :3], pred[:, :3], {}), rel=1e-3)
    assert m.evaluate(np.zeros_like(ids), y, verbose=0) == 0.0


# ---------------------------------------------------------------- names, configs, files

NAMES = [("binary_focal_crossentropy", losses.BinaryFocalCrossentropy),
         ("BinaryFocalCrossentropy", losses.BinaryFocalCrossentropy),
         ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy),
         ("CategoricalFocalCrossentropy", losses.CategoricalFocalCrossentropy),
         ("dice", losses.Dice), ("Dice", losses.Dice), ("tversky", losses.Tversky), ("Tversky", losses.Tversky)]


@pytest.mark.parametrize("alias,cls", NAMES)
def test_loss_names(alias, cls):
    loss = losses.get(alias)
    assert type(loss) is cls
    assert loss.name == (alias if alias[0].islower() else losses._snake(alias))
    module_level = getattr(losses, losses._snake(cls.__name__))  # bigcore.losses.dice, ...: Keras's function
    assert not isinstance(module_level, losses.Loss) and losses.get(module_level).get_config() == cls().get_config()
    m = bigcore.Sequential([layers.Input((3,)), layers.Dense(C_OUT, activation="softmax")])
    m.compile(optimizer="sgd", loss=alias)
    y = np.eye(C_OUT, dtype=np.float32)[[0, 1, 2, 3, 1]]
    x = np.ones((5, 3), np.float32)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(float(cls()(y, m.predict(x, verbose=0))), rel=1e-6)


# non-default arguments of each loss
CONFIGS = {
    "BinaryFocalCrossentropy": {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.5, "from_logits": True,
                                "label_smoothing": 0.1, "axis": -1, "name": "bf"},
    "CategoricalFocalCrossentropy": {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 3.0, "from_logits": True,
                                     "label_smoothing": 0.05, "axis": 1, "name": "cf"},
    "Dice": {"axis": (1,), "name": "d"},
    "Tversky": {"alpha": 0.3, "beta": 0.7, "axis": -1, "name": "tv"},
}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_round_trips(name):
    cls = getattr(losses, name)
    loss = cls(**CONFIGS[name])
    cfg = loss.get_config()
    assert {k: v for k, v in cfg.items() if k in CONFIGS[name]} == CONFIGS[name]
    assert cfg == {**cls().get_config(), **CONFIGS[name]}  # every argument appears, defaults included
    text = json.dumps(cfg)  # a config is JSON in a file: tuples come back as lists
    again = cls.from_config(json.loads(text))
    assert again.get_config() == cfg
    again = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
    assert type(again) is cls and again.get_config() == cfg
    assert again.native_param((None, 4)) == loss.native_param((None, 4))


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_equal_keras(keras, name):
    ours, theirs = getattr(losses, name)(**CONFIGS[name]), getattr(keras.losses, name)(**CONFIGS[name])
    assert ours.get_config() == theirs.get_config()
    assert getattr(losses, name)().get_config() == getattr(keras.losses, name)().get_config()


def _saving_model(name):
    """A model whose output fits every case of CONFIGS (4 classes; logits for the focal losses)."""
    bigcore.utils.set_random_seed(5)
    act = "linear" if "Focal" in name else "sigmoid"
    m = bigcore.Sequential([layers.Input((3,)), layers.Dense(C_OUT, activation=act)])
    m.compile(optimizer=optimizers.Adam(0.01), loss=getattr(losses, name)(**CONFIGS[name]))
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = np.eye(C_OUT, dtype=np.float32)[rng.integers(0, C_OUT, 8)]
    return m, x, y


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("as_string", [False, True], ids=["object", "string"])
def test_keras_file_round_trip(tmp_path, name, as_string):
    m, x, y = _saving_model(name)
    if as_string:
        m.compile(optimizer=optimizers.Adam(0.01), loss=losses._snake(name))
    m.fit(x, y, epochs=1, batch_size=4, verbose=0)
    m.save(tmp_path / "m.keras")
    loaded = bigcore.models.load_model(tmp_path / "m.keras")
    assert type(loaded._losses[0]) is getattr(losses, name)
    assert loaded._losses[0].get_config() == m._losses[0].get_config()
    assert loaded.evaluate(x, y, verbose=0) == m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=1, batch_size=4, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", CONFIGS)
def test_keras_files_both_ways(keras, tmp_path, name):
    """Keras loads bigcore's .keras file with the same loss, and bigcore Keras's."""
    m, x, y = _saving_model(name)
    m.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    as_json = json.dumps(m._losses[0].get_config(), sort_keys=True)  # Keras keeps the lists of the file
    assert type(km.loss).__name__ == name and json.dumps(km.loss.get_config(), sort_keys=True) == as_json
    assert float(km.evaluate(x, y, verbose=0)) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-5)
    km.save(tmp_path / "theirs.keras")
    back = bigcore.models.load_model(tmp_path / "theirs.keras")
    assert type(back._losses[0]) is getattr(losses, name)
    assert back._losses[0].get_config() == m._losses[0].get_config()


# ---------------------------------------------------------------- misuse


def test_arguments_that_cannot_be_honoured_are_refused():
    seq = bigcore.Sequential([layers.Input((4, 2)), layers.Dense(3)])  # output (None, 4, 3)
    refused = [  # (loss, what the message names)
        (losses.BinaryFocalCrossentropy(axis=1), r"last axis.*axis=-1 or axis=2\. Received: axis=1"),
        (losses.CategoricalFocalCrossentropy(axis=0), "Received: axis=0"),
        (losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5]), "3 classes, but alpha has 2 values"),
        (losses.Dice(axis=1), r"axis=\(1, 2\).*cannot take axis=1"),
        (losses.Dice(axis=(0, 1)), r"cannot take axis=\(0, 1\)"),
        (losses.Tversky(axis=(1, -2)), "distinct axes"),
        (losses.Tversky(axis=3), "distinct axes"),
    ]
    for loss, match in refused:
        with pytest.raises(ValueError, match=match):
            seq.compile(optimizer="sgd", loss=loss)
    for loss in (losses.Dice(axis=(0, 1, 2)), losses.Dice(axis=(1, 2)), losses.Dice(axis=-1), losses.Dice(axis=2)):
        seq.compile(optimizer="sgd", loss=loss)  # the whole batch, each sample, each row
    with pytest.raises(ValueError, match="axis"):
        losses.Dice(axis=1)(np.ones((2, 4, 3)), np.ones((2, 4, 3)))


def test_constructor_arguments_are_checked():
    bad = [(lambda: losses.BinaryFocalCrossentropy(gamma="2"), "gamma to be a finite number"),
           (lambda: losses.BinaryFocalCrossentropy(alpha=None), "alpha to be a finite number"),
           (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.5, "x"]), "alpha to be a finite number"),
           (lambda: losses.Tversky(beta=float("nan")), "beta to be a finite number"),
           (lambda: losses.BinaryFocalCrossentropy(label_smoothing=1.5), "label_smoothing"),
           (lambda: losses.CategoricalFocalCrossentropy(axis=True), "integer axis"),
           (lambda: losses.Dice(axis="1"), "integer axis"),
           (lambda: losses.Tversky(axis=[1, 2.0]), "integer axis"),
           (lambda: losses.Dice(reduction="average"), "reduction"),
           # reduction="sum" computes eagerly (as Keras); compile trains on the mean only
           (lambda: bigcore.Sequential([layers.Input((3,)), layers.Dense(2)]).compile(
               optimizer="sgd", loss=losses.Dice(reduction="sum")), "sum_over_batch_size")]
    for make, match in bad:
        with pytest.raises(ValueError, match=match):
            make()


def test_per_sample_overlap_on_a_masked_output_is_refused():
    """Keras pairs (batch,) losses with a (batch, timesteps) mask: ill-defined, so refused."""
    m = bigcore.Sequential([layers.Input((5,)), layers.Embedding(7, 3, mask_zero=True), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"Dice\(axis=\(1, 2\)\).*mask"):
        m.compile(optimizer="sgd", loss=losses.Dice(axis=(1, 2)))
    m.compile(optimizer="sgd", loss=losses.Dice(axis=-1))


def test_per_sample_overlap_needs_fixed_sizes():
    inp = layers.Input((None, 2))
    m = bigcore.Model(inp, layers.Dense(3)(inp))
    with pytest.raises(ValueError, match="fixed sizes"):
        m.compile(optimizer="sgd", loss=losses.Tversky(axis=(1, 2)))
    m.compile(optimizer="sgd", loss=losses.Tversky())  # the whole batch: any run-time length


def test_whole_batch_overlap_is_refused_in_data_parallel_training():
    strategy = distributed.DataParallel()
    strategy.world_size = 2  # as a process of a two-rank job sees it; compile communicates nothing
    m = bigcore.Sequential([layers.Input((3,)), layers.Dense(2, activation="sigmoid")])
    with pytest.raises(ValueError, match="data-parallel"):
        m.compile(optimizer="sgd", loss="dice", distribute=strategy)
    m.compile(optimizer="sgd", loss=losses.Dice(axis=1), distribute=strategy)  # per sample: fine


def _dice_reference(t, p, alpha=0.5, beta=0.5):
    """Tversky's index loss over all the values given (float64); alpha = beta = 0.5 is Dice."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    inter = (t * p).sum()
    return 1.0 - inter / (inter + alpha * (t * (1 - p)).sum() + beta * (p * (1 - t)).sum())


@pytest.mark.parametrize("cls,kw", [(losses.Dice, {}), (losses.Dice, {"axis": (1, 2)}), (losses.Dice, {"axis": -1}),
                                    (losses.Tversky, {"alpha": 0.3, "beta": 0.7})], ids=str)
@pytest.mark.parametrize("reduction", ["sum", None, "mean_with_sample_weight"])
def test_overlap_losses_take_every_reduction(cls, kw, reduction):
    """Keras's values for a reduction other than the default: one loss for the whole batch (axis=None),
    or one per sample / per last-axis row, then weighted and reduced (they used to raise)."""
    rng = np.random.default_rng(4)
    t, p = (rng.random((4, 3, 5)) > 0.5).astype(np.float32), rng.random((4, 3, 5)).astype(np.float32)
    sw = rng.random(4).astype(np.float32)
    ab = {k: kw[k] for k in ("alpha", "beta") if k in kw}
    axis = kw.get("axis")
    if axis is None:
        values = np.array(_dice_reference(t, p, **ab))
    elif axis == (1, 2):
        values = np.array([_dice_reference(t[i], p[i], **ab) for i in range(4)])
    else:
        values = np.array([[_dice_reference(t[i, j], p[i, j], **ab) for j in range(3)] for i in range(4)])
    got = np.asarray(cls(reduction=reduction, **kw)(t, p))
    want = values if reduction is None else values.sum() if reduction == "sum" else values.mean()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if axis != -1:  # Keras pairs (batch,) weights with the (batch,) or scalar values only
        weighted = np.broadcast_to(values, sw.shape) * sw if values.ndim == 0 else values * sw
        want = {None: weighted, "sum": weighted.sum(), "mean_with_sample_weight": weighted.sum() / sw.sum()}[reduction]
        np.testing.assert_allclose(np.asarray(cls(reduction=reduction, **kw)(t, p, sample_weight=sw)), want,
                                   rtol=1e-5, atol=1e-6)
