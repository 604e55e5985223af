"""Huber, KLDivergence, Hinge, SquaredHinge, CosineSimilarity and label smoothing; the top-k,
Precision, Recall and AUC metrics counted natively per batch.

Losses: the NumPy reference (tests/reference.py: more_loss_and_grad) is checked against central
differences and against numbers worked out by hand; the native forward and gradient against the
reference through train_on_batch steps of a Dense layer with known weights; and against Keras 3
(loss values, then the weights after SGD/Adam steps), where Keras is installed.

Metrics: evaluate() over several batches against the NumPy reference on all rows at once and
against Keras's metric objects updated batch by batch.
"""

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore import layers, losses, metrics, optimizers
from dense_training import LOSS_CLASSES, DenseTraining, make_targets, ref_loss_and_grad
from layer_test import compile_for_gradients, sgd_gradients

# Keras 3 on torch 2.13 + NumPy 2 warns from its own predict internals (see test_parity.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

N, K_IN, C_OUT, T_STEPS = 9, 5, 4, 3

# (loss, activation of the Dense layer, target kind, loss arguments)
CASES = {
    "huber": ("huber", "linear", "real", {}),
    "huber_small_delta": ("huber", "linear", "real", {"delta": 0.3}),
    "huber_large_delta": ("huber", "tanh", "real", {"delta": 3.0}),
    "kld_softmax": ("kl_divergence", "softmax", "simplex", {}),
    "kld_softmax_onehot": ("kl_divergence", "softmax", "onehot", {}),
    "kld_sigmoid": ("kl_divergence", "sigmoid", "unit", {}),
    "hinge_01": ("hinge", "linear", "binary", {}),
    "hinge_pm1": ("hinge", "tanh", "pm1", {}),
    "hinge_real": ("hinge", "linear", "real", {}),
    "squared_hinge_01": ("squared_hinge", "linear", "binary", {}),
    "squared_hinge_pm1": ("squared_hinge", "tanh", "pm1", {}),
    "cosine": ("cosine_similarity", "linear", "real", {}),
    "cosine_tanh": ("cosine_similarity", "tanh", "real", {}),
    "mape": ("mean_absolute_percentage_error", "linear", "real", {}),
    "msle": ("mean_squared_logarithmic_error", "sigmoid", "unit", {}),
    "log_cosh": ("log_cosh", "tanh", "real", {}),
    "poisson": ("poisson", "sigmoid", "unit", {}),
    "categorical_hinge": ("categorical_hinge", "linear", "onehot", {}),
    "categorical_hinge_soft": ("categorical_hinge", "tanh", "simplex", {}),
}


def dense_case(case, opt=("SGD", {"learning_rate": 0.2}), T=None, n=N, seed=0):
    """One Dense layer with known weights, trained by train_on_batch, and its float64 reference."""
    return DenseTraining(case, opt, T=T, n=n, k_in=K_IN, c_out=C_OUT, seed=seed)


# ---------------------------------------------------------------- the reference itself


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_reference_gradient_central_differences(case, T):
    """ref.more_loss_and_grad's analytic gradient through a Dense layer vs central differences."""
    kind, act, target_kind, kw = case
    rng = np.random.default_rng(1)
    lead = (N,) if T is None else (N, T)
    x = rng.standard_normal(lead + (K_IN,))
    y = make_targets(target_kind, lead, C_OUT, rng)
    W, b = rng.standard_normal((K_IN, C_OUT)) * 0.5, rng.standard_normal(C_OUT) * 0.1
    sw = rng.uniform(0.5, 2.0, N)

    def loss_of(W_, b_):
        return ref_loss_and_grad(kind, y, ref.dense_forward(x, W_, b_, act), kw, sw)[0]

    pred = ref.dense_forward(x, W, b, act)
    _, dpred = ref_loss_and_grad(kind, y, pred, kw, sw)
    _, dW, db = ref.dense_backward(x, W, pred, dpred, act)
    ref.assert_grad_close(lambda v: loss_of(v, b), W, dW, rtol=1e-5, atol=1e-8)
    ref.assert_grad_close(lambda v: loss_of(W, v), b, db, rtol=1e-5, atol=1e-8)


def test_reference_values_by_hand():
    # Huber, delta 1: errors 0.5 (quadratic) and 2 (linear: 2 - 0.5)
    assert ref.more_loss_and_grad("huber", [[0.0, 0.0]], [[0.5, 2.0]])[0] == pytest.approx((0.125 + 1.5) / 2)
    # Keras's docstring example: huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = 0.155
    assert ref.more_loss_and_grad("huber", [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])[0] == pytest.approx(0.155)
    # KL: t log(t / p); a zero target is clipped to 1e-7 and contributes (almost) nothing
    want = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    assert ref.more_loss_and_grad("kl_divergence", [[0.5, 0.5]], [[0.25, 0.75]])[0] == pytest.approx(want)
    # hinge: 0/1 labels become -1/1: max(1 - (-1)(0.5), 0) = 1.5 and max(1 - 1 * 2, 0) = 0
    assert ref.more_loss_and_grad("hinge", [[0.0, 1.0]], [[0.5, 2.0]])[0] == pytest.approx(0.75)
    assert ref.more_loss_and_grad("squared_hinge", [[0.0, 1.0]], [[0.5, 2.0]])[0] == pytest.approx(1.125)
    # labels not all 0/1 stay as they are: 1 - 0.5 * 0.5 = 0.75, 1 - 2 * 2 < 0
    assert ref.more_loss_and_grad("hinge", [[0.5, 2.0]], [[0.5, 2.0]])[0] == pytest.approx(0.375)
    # Keras's docstring example: cosine_similarity rows give [-0., -0.99999994, 0.99999994]
    l = ref.more_loss_and_grad("cosine_similarity", [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                               [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])[0]
    assert l == pytest.approx((0.0 - 1.0 + 1.0) / 3, abs=1e-7)


# ---------------------------------------------------------------- native vs reference


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_sgd_steps_match_reference(case, T):
    s = dense_case(case, T=T)
    for _ in range(3):
        s.step()


@pytest.mark.parametrize("case", [CASES[k] for k in ("huber_small_delta", "kld_softmax", "hinge_01",
                                                     "squared_hinge_pm1", "cosine")],
                         ids=["huber", "kld", "hinge", "squared_hinge", "cosine"])
def test_adam_steps_with_sample_weight(case):
    s = dense_case(case, opt=("Adam", {"learning_rate": 0.05}))
    sw = np.linspace(0.0, 2.0, N).astype(np.float32)
    for _ in range(3):
        s.step(sample_weight=sw)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_native_gradient_central_differences(case):
    """The native dL/dpred, read off one SGD(lr=1) step of a Dense layer fed the identity (so that
    pred = W + b and dW = dL/dpred row by row), vs central differences of the float64 loss."""
    kind, act, target_kind, kw = case
    rng = np.random.default_rng(2)
    n = 6
    y = make_targets(target_kind, (n,), C_OUT, rng)
    pred = rng.standard_normal((n, C_OUT))
    if kind in ("kl_divergence", "poisson", "mean_squared_logarithmic_error"):  # their domain: positive
        pred = rng.uniform(0.05, 0.9, (n, C_OUT))
    pred = pred.astype(np.float32)
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(C_OUT, use_bias=False, input_shape=(n,))])
    compile_for_gradients(m, LOSS_CLASSES[kind](**kw))
    m.set_weights([pred])
    _, (native_grad,) = sgd_gradients(m, np.eye(n, dtype=np.float32), y)
    numeric = ref.numerical_grad(lambda p: ref_loss_and_grad(kind, y, p, kw)[0], pred.astype(np.float64))
    np.testing.assert_allclose(native_grad, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_loss_object_on_arrays(case, T):
    kind, act, target_kind, kw = case
    rng = np.random.default_rng(3)
    lead = (N,) if T is None else (N, T)
    y = make_targets(target_kind, lead, C_OUT, rng)
    pred = ref.act_forward(rng.standard_normal(lead + (C_OUT,)), act).astype(np.float32)
    sw = rng.uniform(0.5, 2.0, N).astype(np.float32)
    loss = LOSS_CLASSES[kind](**kw)
    assert float(loss(y, pred)) == pytest.approx(ref_loss_and_grad(kind, y, pred, kw)[0], rel=1e-5, abs=1e-7)
    assert float(loss(y, pred, sample_weight=sw)) == pytest.approx(ref_loss_and_grad(kind, y, pred, kw, sw)[0],
                                                                   rel=1e-5, abs=1e-7)


def test_hinge_label_conversion_is_decided_per_batch():
    """0/1 labels become -1/1 only when the whole batch is 0/1 (Keras decides on the batch)."""
    pred = np.array([[0.5], [-0.5]], np.float32)
    assert float(losses.Hinge()(np.array([[1.0], [0.0]]), pred)) == pytest.approx((0.5 + 0.5) / 2)
    # one label of 2: nothing is converted, the 0 stays 0 -> max(1 - 0, 0) = 1
    assert float(losses.Hinge()(np.array([[2.0], [0.0]]), pred)) == pytest.approx((0.0 + 1.0) / 2)


def test_evaluate_over_batches_is_the_whole_set_loss():
    s = dense_case(CASES["cosine"], n=23)
    got = s.model.evaluate(s.x, s.y, batch_size=8, verbose=0)
    pred = ref.dense_forward(s.x, s.W, s.b, s.act)
    assert got == pytest.approx(ref_loss_and_grad("cosine_similarity", s.y, pred, {})[0], rel=1e-5)


def test_masked_timesteps_do_not_count_in_new_losses():
    """Embedding(mask_zero) -> Dense over timesteps: the loss is the mean over unmasked steps."""
    V, E, T = 7, 3, 5
    rng = np.random.default_rng(4)
    ids = rng.integers(1, V, (6, T)).astype(np.float32)
    ids[:, 3:] = 0
    ids[0, 1:] = 0
    y = rng.standard_normal((6, T, 2)).astype(np.float32)
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input((T,)), layers.Embedding(V, E, mask_zero=True), layers.Dense(2)])
    m.compile(optimizer="sgd", loss=losses.Huber(delta=0.5))
    pred = m.predict(ids, verbose=0).astype(np.float64)
    keep = ids != 0
    want = ref.more_loss_and_grad("huber", y[keep], pred[keep], delta=0.5)[0]
    assert m.evaluate(ids, y, verbose=0) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- names, strings, configs


@pytest.mark.parametrize("alias,cls", [("huber", losses.Huber), ("huber_loss", losses.Huber),
                                       ("kl_divergence", losses.KLDivergence), ("kld", losses.KLDivergence),
                                       ("KLD", losses.KLDivergence), ("hinge", losses.Hinge),
                                       ("squared_hinge", losses.SquaredHinge),
                                       ("cosine_similarity", losses.CosineSimilarity),
                                       ("Huber", losses.Huber), ("KLDivergence", losses.KLDivergence)])
def test_loss_strings(alias, cls):
    assert isinstance(losses.get(alias), cls)


def test_loss_default_names_and_configs():
    """Keras's default names; from_config(get_config()) rebuilds the same loss."""
    names = {losses.Huber: "huber_loss", losses.KLDivergence: "kl_divergence", losses.Hinge: "hinge",
             losses.SquaredHinge: "squared_hinge", losses.CosineSimilarity: "cosine_similarity"}
    for cls, name in names.items():
        assert cls().name == name
    h = losses.deserialize(losses.serialize(losses.Huber(delta=0.25, name="h")))
    assert (type(h), h.delta, h.name) == (losses.Huber, 0.25, "h")
    c = losses.CosineSimilarity.from_config(losses.CosineSimilarity(axis=1).get_config())
    assert c.axis == 1


def test_cosine_similarity_axis_must_be_the_last():
    m = bigcore.Sequential([layers.Dense(3, input_shape=(4, 2))])
    with pytest.raises(ValueError, match="last axis"):
        m.compile(optimizer="sgd", loss=losses.CosineSimilarity(axis=1))
    m.compile(optimizer="sgd", loss=losses.CosineSimilarity(axis=2))  # the last axis of (None, 4, 3)
    with pytest.raises(ValueError, match="axis"):
        losses.CosineSimilarity(axis=1)(np.ones((2, 4, 3)), np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="integer axis"):
        losses.CosineSimilarity(axis=None)


# ---------------------------------------------------------------- Keras parity: losses


KERAS_LOSSES = {  # (bigcore/keras class name, arguments, output activation, target kind)
    "huber": ("Huber", {"delta": 0.5}, "linear", "real"),
    "kld": ("KLDivergence", {}, "softmax", "simplex"),
    "hinge": ("Hinge", {}, "tanh", "binary"),
    "hinge_pm1": ("Hinge", {}, "linear", "pm1"),
    "squared_hinge": ("SquaredHinge", {}, "linear", "binary"),
    "cosine": ("CosineSimilarity", {"axis": -1}, "linear", "real"),
    "bce_smoothing": ("BinaryCrossentropy", {"label_smoothing": 0.2}, "sigmoid", "binary"),
    "bce_logits_smoothing": ("BinaryCrossentropy", {"label_smoothing": 0.1, "from_logits": True}, "linear", "binary"),
    "cce_smoothing": ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "softmax", "onehot"),
    "cce_logits_smoothing": ("CategoricalCrossentropy", {"label_smoothing": 0.3, "from_logits": True},
                             "linear", "onehot"),
    "mape": ("MeanAbsolutePercentageError", {}, "sigmoid", "unit"),  # targets off 0: steps of 100 / |t|
    "msle": ("MeanSquaredLogarithmicError", {}, "sigmoid", "unit"),
    "log_cosh": ("LogCosh", {}, "tanh", "real"),
    "poisson": ("Poisson", {}, "sigmoid", "unit"),
    "categorical_hinge": ("CategoricalHinge", {}, "linear", "onehot"),
}


@pytest.mark.parametrize("case", KERAS_LOSSES, ids=KERAS_LOSSES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_loss_values_match_keras(keras, case, T):
    name, kw, act, target_kind = KERAS_LOSSES[case]
    rng = np.random.default_rng(5)
    lead = (N,) if T is None else (N, T)
    y = make_targets(target_kind, lead, C_OUT, rng)
    pred = ref.act_forward(rng.standard_normal(lead + (C_OUT,)), act).astype(np.float32)
    sw = rng.uniform(0.0, 2.0, N).astype(np.float32)
    ours, theirs = getattr(losses, name)(**kw), getattr(keras.losses, name)(**kw)
    assert float(ours(y, pred)) == pytest.approx(float(theirs(y, pred)), rel=1e-5, abs=1e-7)
    ksw = sw if T is None else sw[:, None]  # Keras broadcasts a weight per sample from (N, 1)
    assert float(ours(y, pred, sample_weight=sw)) == pytest.approx(
        float(theirs(y, pred, sample_weight=ksw)), rel=1e-5, abs=1e-7)


KERAS_OPTIMIZERS = {"sgd": ("SGD", {"learning_rate": 0.1}), "adam": ("Adam", {"learning_rate": 0.01})}


@pytest.mark.parametrize("opt", KERAS_OPTIMIZERS, ids=KERAS_OPTIMIZERS.keys())
@pytest.mark.parametrize("case", KERAS_LOSSES, ids=KERAS_LOSSES.keys())
def test_training_matches_keras(keras, case, opt):
    """Dense(8, tanh) -> Dense(4, act): loss values and weights after 4 train_on_batch steps."""
    name, kw, act, target_kind = KERAS_LOSSES[case]
    opt_name, opt_kw = KERAS_OPTIMIZERS[opt]
    rng = np.random.default_rng(6)
    x = (0.5 * rng.standard_normal((4 * 8, 6))).astype(np.float32)
    y = make_targets(target_kind, (4 * 8,), C_OUT, rng)
    bigcore.utils.set_random_seed(2)
    m = bigcore.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)), layers.Dense(C_OUT, activation=act)])
    m.compile(optimizer=getattr(optimizers, opt_name)(**opt_kw), loss=getattr(losses, name)(**kw))
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                           keras.layers.Dense(C_OUT, activation=act)])
    km.set_weights(m.get_weights())
    km.compile(optimizer=getattr(keras.optimizers, opt_name)(**opt_kw), loss=getattr(keras.losses, name)(**kw))
    for i in range(0, len(x), 8):
        got, want = m.train_on_batch(x[i:i + 8], y[i:i + 8]), float(km.train_on_batch(x[i:i + 8], y[i:i + 8]))
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), f"batch {i // 8}"
    for i, (g, w) in enumerate(zip(m.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")


# ---------------------------------------------------------------- metrics: top-k


def _classifier(C, metric_list, loss="categorical_crossentropy", seed=0, T=None, act="softmax"):
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Dense(C, activation=act, input_shape=(K_IN,) if T is None else (T, K_IN))])
    m.compile(optimizer="sgd", loss=loss, metrics=metric_list)
    return m


@pytest.mark.parametrize("k", [1, 2, 3, 9])
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_top_k_on_evaluate(k, T):
    C = 6
    rng = np.random.default_rng(7)
    lead = (41,) if T is None else (41, T)
    x = rng.standard_normal(lead + (K_IN,)).astype(np.float32)
    labels = rng.integers(0, C, lead)
    m = _classifier(C, [metrics.TopKCategoricalAccuracy(k=k)], T=T)
    pred = m.predict(x, verbose=0)
    got = m.evaluate(x, ref.one_hot(labels, C), batch_size=16, verbose=0, return_dict=True)
    want = ref.top_k_accuracy(ref.one_hot(labels, C), pred, k)
    assert (0.0 < want < 1.0) or k >= C
    assert got["top_k_categorical_accuracy"] == pytest.approx(want, abs=1e-12)
    ms = _classifier(C, [metrics.SparseTopKCategoricalAccuracy(k=k)], loss="sparse_categorical_crossentropy", T=T)
    got = ms.evaluate(x, labels, batch_size=16, verbose=0, return_dict=True)
    assert got["sparse_top_k_categorical_accuracy"] == pytest.approx(
        ref.top_k_accuracy(labels, pred, k, sparse=True), abs=1e-12)


def test_top_k_ties_count_as_hits():
    """Scores [1, 1, 1, 0]: with k=1 each of the tied classes is 'in the top 1' (Keras's in_top_k)."""
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(4, use_bias=True, input_shape=(1,))])
    m.compile(optimizer="sgd", loss="mse", metrics=[metrics.TopKCategoricalAccuracy(k=1)])
    m.set_weights([np.zeros((1, 4), np.float32), np.array([1, 1, 1, 0], np.float32)])
    x = np.zeros((4, 1), np.float32)
    y = np.eye(4, dtype=np.float32)
    assert m.evaluate(x, y, verbose=0, return_dict=True)["top_k_categorical_accuracy"] == pytest.approx(0.75)


def test_top_k_matches_keras(keras):
    C = 7
    rng = np.random.default_rng(8)
    x = rng.standard_normal((50, K_IN)).astype(np.float32)
    labels = rng.integers(0, C, 50)
    for k in (1, 3, 5):
        m = _classifier(C, [metrics.TopKCategoricalAccuracy(k=k, name="top")], seed=k)
        ms = _classifier(C, [metrics.SparseTopKCategoricalAccuracy(k=k, name="sparse_top")],
                         loss="sparse_categorical_crossentropy", seed=k)
        pred = m.predict(x, verbose=0)
        logs = m.evaluate(x, ref.one_hot(labels, C), batch_size=16, verbose=0, return_dict=True)
        logs.update(ms.evaluate(x, labels, batch_size=16, verbose=0, return_dict=True))
        km = keras.metrics.TopKCategoricalAccuracy(k=k)
        ks = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        for i in range(0, 50, 16):
            km.update_state(ref.one_hot(labels[i:i + 16], C), pred[i:i + 16])
            ks.update_state(labels[i:i + 16], pred[i:i + 16])
        assert logs["top"] == pytest.approx(float(km.result()), abs=1e-6)
        assert logs["sparse_top"] == pytest.approx(float(ks.result()), abs=1e-6)


# ---------------------------------------------------------------- metrics: precision, recall, AUC


def _binary_model(metric_list, width=2, seed=0, act="sigmoid", T=None):
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Dense(width, activation=act, input_shape=(K_IN,) if T is None else (T, K_IN))])
    m.compile(optimizer="sgd", loss="binary_crossentropy" if act == "sigmoid" else "mse", metrics=metric_list)
    return m


def _binary_data(n=61, width=2, seed=9, T=None):
    rng = np.random.default_rng(seed)
    lead = (n,) if T is None else (n, T)
    x = (1.5 * rng.standard_normal(lead + (K_IN,))).astype(np.float32)
    y = rng.integers(0, 2, lead + (width,)).astype(np.float32)
    return x, y


@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_precision_recall_on_evaluate(T):
    x, y = _binary_data(T=T)
    ms = [metrics.Precision(), metrics.Recall(), metrics.Precision(thresholds=[0.3, 0.6, 0.9], name="p3"),
          metrics.Recall(thresholds=0.7, name="r07"), metrics.Precision(class_id=1, name="p_class1"),
          metrics.Recall(thresholds=[0.8, 0.2], name="r_unsorted")]
    m = _binary_model(ms, T=T)
    pred = m.predict(x, verbose=0)
    logs = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)

    def prec(th, yy=y, pp=pred):
        tp, fp, _, _ = ref.confusion_counts(yy, pp, th)
        return tp / (tp + fp)

    def rec(th, yy=y, pp=pred):
        tp, _, _, fn = ref.confusion_counts(yy, pp, th)
        return tp / (tp + fn)

    assert logs["precision"] == pytest.approx(prec([0.5])[0], abs=1e-12)
    assert logs["recall"] == pytest.approx(rec([0.5])[0], abs=1e-12)
    assert logs["p3"] == pytest.approx(list(prec([0.3, 0.6, 0.9])), abs=1e-12)
    assert logs["r07"] == pytest.approx(rec([0.7])[0], abs=1e-12)
    assert logs["p_class1"] == pytest.approx(prec([0.5], y[..., 1], pred[..., 1])[0], abs=1e-12)
    assert logs["r_unsorted"] == pytest.approx(list(rec([0.8, 0.2])), abs=1e-12)
    assert 0.0 < logs["precision"] < 1.0 and 0.0 < logs["recall"] < 1.0


def test_precision_with_no_positive_prediction_is_zero():
    m = _binary_model([metrics.Precision(thresholds=1.0)])
    x, y = _binary_data()
    assert m.evaluate(x, y, verbose=0, return_dict=True)["precision"] == 0.0


AUC_CASES = {
    "roc": {},
    "pr": {"curve": "PR"},
    "roc_minoring": {"num_thresholds": 17, "summation_method": "minoring"},
    "roc_majoring": {"num_thresholds": 17, "summation_method": "majoring"},
    "pr_majoring": {"curve": "PR", "num_thresholds": 50, "summation_method": "majoring"},
    "prgain": {"curve": "PRGAIN", "num_thresholds": 33},
    "three_thresholds": {"num_thresholds": 3},
    "given_thresholds": {"thresholds": [0.1, 0.35, 0.5, 0.9]},
    "given_even_thresholds": {"thresholds": [0.25, 0.5, 0.75]},
}


def _auc_reference(y, pred, kw):
    thresholds = (ref.auc_thresholds(kw.get("num_thresholds", 200)) if "thresholds" not in kw
                  else [-ref.EPSILON] + sorted(kw["thresholds"]) + [1 + ref.EPSILON])
    return ref.auc_from_counts(*ref.confusion_counts(y, pred, thresholds), curve=kw.get("curve", "ROC"),
                               summation_method=kw.get("summation_method", "interpolation"))


@pytest.mark.parametrize("case", AUC_CASES, ids=AUC_CASES.keys())
def test_auc_on_evaluate_is_the_whole_set_auc(case):
    """AUC over 4 batches (one partial) = AUC on all rows at once with the same thresholds."""
    kw = AUC_CASES[case]
    x, y = _binary_data()
    m = _binary_model([metrics.AUC(**kw)])
    pred = m.predict(x, verbose=0)
    got = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["auc"]
    want = _auc_reference(y, pred, kw)
    assert got == pytest.approx(want, abs=1e-12)
    assert got != 0.0 and (case == "prgain" or 0.0 < got < 1.0)  # PR gain may go below 0


def test_auc_approaches_the_exact_roc_auc():
    """With many thresholds the interpolated ROC AUC is close to the exact (Mann-Whitney) value."""
    x, y = _binary_data(n=200, width=1)
    m = _binary_model([metrics.AUC(num_thresholds=2000)], width=1)
    pred = m.predict(x, verbose=0)
    got = m.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["auc"]
    assert got == pytest.approx(ref.roc_auc_exact(y, pred), abs=2e-3)


def test_auc_by_hand():
    """Scores that separate the classes perfectly give 1; reversed, 0."""
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(1,))])
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[metrics.AUC(), metrics.AUC(curve="PR", name="pr")])
    m.set_weights([np.array([[4.0]], np.float32), np.zeros(1, np.float32)])
    x = np.array([[-2.0], [-1.0], [-0.5], [0.5], [1.0], [2.0]], np.float32)
    logs = m.evaluate(x, (x > 0).astype(np.float32), verbose=0, return_dict=True)
    assert logs["auc"] == pytest.approx(1.0) and logs["pr"] == pytest.approx(1.0)
    logs = m.evaluate(x, (x < 0).astype(np.float32), verbose=0, return_dict=True)
    assert logs["auc"] == pytest.approx(0.0)


def test_auc_from_logits():
    x, y = _binary_data()
    m = _binary_model([metrics.AUC(from_logits=True, num_thresholds=50)], act="linear")
    logits = m.predict(x, verbose=0)
    got = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["auc"]
    probs = ref.act_forward(logits, "sigmoid").astype(np.float32)
    assert got == pytest.approx(_auc_reference(y, probs, {"num_thresholds": 50}), abs=1e-12)


def test_auc_and_precision_skip_masked_timesteps():
    """Embedding(mask_zero) -> Dense(1, sigmoid) per timestep: masked steps are not counted."""
    V, T = 9, 6
    rng = np.random.default_rng(10)
    ids = rng.integers(1, V, (40, T)).astype(np.float32)
    for i in range(40):
        ids[i, rng.integers(1, T + 1):] = 0
    y = rng.integers(0, 2, (40, T, 1)).astype(np.float32)
    bigcore.utils.set_random_seed(1)
    m = bigcore.Sequential([layers.Input((T,)), layers.Embedding(V, 4, mask_zero=True),
                            layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[metrics.AUC(num_thresholds=40), "precision"])
    pred = m.predict(ids, verbose=0)
    keep = ids != 0
    logs = m.evaluate(ids, y, batch_size=16, verbose=0, return_dict=True)
    tp, fp, _, _ = ref.confusion_counts(y[keep], pred[keep], [0.5])
    assert logs["precision"] == pytest.approx(tp[0] / (tp[0] + fp[0]), abs=1e-12)
    assert logs["auc"] == pytest.approx(_auc_reference(y[keep], pred[keep], {"num_thresholds": 40}), abs=1e-12)


KERAS_CONFUSION = {
    "auc": ("AUC", {}),
    "auc_pr": ("AUC", {"curve": "PR"}),
    "auc_minoring": ("AUC", {"num_thresholds": 11, "summation_method": "minoring"}),
    "auc_prgain": ("AUC", {"curve": "PRGAIN", "num_thresholds": 21}),
    "auc_thresholds": ("AUC", {"thresholds": [0.2, 0.4, 0.9]}),
    "auc_even_thresholds": ("AUC", {"thresholds": [0.25, 0.5, 0.75]}),
    "auc_from_logits": ("AUC", {"from_logits": True}),
    "precision": ("Precision", {}),
    "precision_list": ("Precision", {"thresholds": [0.0, 0.5, 1.0]}),
    "precision_class_id": ("Precision", {"class_id": 1}),
    "recall": ("Recall", {}),
    "recall_list": ("Recall", {"thresholds": [0.3, 0.5, 0.7]}),
}


@pytest.mark.parametrize("case", KERAS_CONFUSION, ids=KERAS_CONFUSION.keys())
def test_confusion_metrics_match_keras(keras, case):
    """evaluate() over 4 batches vs Keras's metric object updated on the same 4 batches."""
    name, kw = KERAS_CONFUSION[case]
    x, y = _binary_data()
    m = _binary_model([getattr(metrics, name)(name="m", **kw)], act="linear" if kw.get("from_logits") else "sigmoid")
    pred = m.predict(x, verbose=0)
    got = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["m"]
    km = getattr(keras.metrics, name)(**kw)
    for i in range(0, len(x), 16):
        km.update_state(y[i:i + 16], pred[i:i + 16])
    want = np.asarray(km.result(), np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_auc_over_batches_equals_keras_on_all_data_at_once(keras):
    x, y = _binary_data(n=48)
    m = _binary_model([metrics.AUC(), metrics.AUC(curve="PR", name="pr")])
    pred = m.predict(x, verbose=0)
    logs = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)  # 3 batches
    for name, kw in (("auc", {}), ("pr", {"curve": "PR"})):
        km = keras.metrics.AUC(**kw)
        km.update_state(y, pred)
        assert logs[name] == pytest.approx(float(km.result()), rel=1e-5)


# ---------------------------------------------------------------- the stats layout, names, configs


def test_many_metrics_in_one_step_keep_their_offsets():
    """Widths 2, 800, 2, 8, 2 side by side in one native stats array: each metric reads its own."""
    x, y = _binary_data()
    ms = ["accuracy", metrics.AUC(), "mse", metrics.Precision(thresholds=[0.2, 0.8]), "mae"]
    m = _binary_model(ms)
    assert m._program.native.stats_size == 1 + 2 + 800 + 2 + 8 + 2
    pred = m.predict(x, verbose=0)
    logs = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    e = pred.astype(np.float64) - y
    assert logs["accuracy"] == pytest.approx(ref.accuracy("binary", y, pred), abs=1e-12)
    assert logs["auc"] == pytest.approx(_auc_reference(y, pred, {}), abs=1e-12)
    assert logs["mse"] == pytest.approx(np.mean(e * e), rel=1e-6)
    tp, fp, _, _ = ref.confusion_counts(y, pred, [0.2, 0.8])
    assert logs["precision"] == pytest.approx(list(tp / (tp + fp)), abs=1e-12)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(e)), rel=1e-6)


def test_fit_logs_confusion_metrics_for_training_and_validation():
    x, y = _binary_data(n=80)
    m = _binary_model([metrics.AUC(), "precision", "recall"])
    h = m.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0, shuffle=False)
    names = {"loss", "auc", "precision", "recall"}
    assert names | {"val_" + n for n in names} <= set(h.history)
    val = m.evaluate(x[60:], y[60:], batch_size=16, verbose=0, return_dict=True)
    assert h.history["val_auc"][-1] == pytest.approx(val["auc"], abs=1e-12)


def test_train_on_batch_confusion_counts_are_before_the_update():
    x, y = _binary_data(n=32)
    m = _binary_model([metrics.Recall()])
    before = m.predict(x, verbose=0)
    _, recall = m.train_on_batch(x, y)
    tp, _, _, fn = ref.confusion_counts(y, before, [0.5])
    assert recall == pytest.approx(tp[0] / (tp[0] + fn[0]), abs=1e-12)


@pytest.mark.parametrize("alias,cls,name", [
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy, "top_k_categorical_accuracy"),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy, "sparse_top_k_categorical_accuracy"),
    ("precision", metrics.Precision, "precision"), ("recall", metrics.Recall, "recall"),
    ("auc", metrics.AUC, "auc"), ("AUC", metrics.AUC, "AUC"), ("Precision", metrics.Precision, "Precision")])
def test_metric_strings_and_names(alias, cls, name):
    """A string names the metric in the logs (Keras's compile does the same); default names otherwise."""
    got = metrics.get(alias)
    assert isinstance(got, cls) and got.name == name
    assert cls().name == {"TopKCategoricalAccuracy": "top_k_categorical_accuracy",
                          "SparseTopKCategoricalAccuracy": "sparse_top_k_categorical_accuracy",
                          "Precision": "precision", "Recall": "recall", "AUC": "auc"}[cls.__name__]


def test_metric_configs_rebuild_the_metric():
    for metric in (metrics.TopKCategoricalAccuracy(k=3, name="t3"), metrics.SparseTopKCategoricalAccuracy(k=2),
                   metrics.Precision(thresholds=[0.2, 0.4], class_id=1), metrics.Recall(thresholds=0.3),
                   metrics.AUC(num_thresholds=31, curve="PR", summation_method="minoring", from_logits=True),
                   metrics.AUC(thresholds=[0.1, 0.7])):
        again = type(metric)(**metric.get_config())
        assert again.get_config() == metric.get_config()
        assert again.native_args() == metric.native_args() and again.stats_width == metric.stats_width


def test_metric_argument_errors():
    with pytest.raises(ValueError, match="k >= 1"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="summation_method"):
        metrics.AUC(summation_method="trapezoid")
    m = bigcore.Sequential([layers.Dense(2, activation="sigmoid", input_shape=(3,))])
    with pytest.raises(ValueError, match="class_id"):
        m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[metrics.Precision(class_id=2)])


def test_sparse_metric_on_one_hot_targets_is_an_error():
    """A sparse metric reading one-hot targets would count garbage: the native step refuses."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, K_IN)).astype(np.float32)
    m = _classifier(4, [metrics.SparseTopKCategoricalAccuracy(k=2)])
    with pytest.raises(ValueError, match="targets of width 1"):
        m.evaluate(x, ref.one_hot(rng.integers(0, 4, 8), 4), verbose=0)


def test_root_mean_squared_error_matches_keras(keras):
    """RootMeanSquaredError (and its string name) over batches: the root of the mean over every value."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((50, K_IN)).astype(np.float32)
    y = rng.standard_normal((50, 3)).astype(np.float32)
    inp = bigcore.Input((K_IN,))
    m = bigcore.Model(inp, layers.Dense(3)(inp))
    m.compile(optimizer="sgd", loss="mse", metrics=[metrics.RootMeanSquaredError(), "root_mean_squared_error", "mse"])
    logs = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = m.predict(x, verbose=0).astype(np.float64)
    km = keras.metrics.RootMeanSquaredError()
    for i in range(0, 50, 16):
        km.update_state(y[i:i + 16], pred[i:i + 16])
    assert logs["root_mean_squared_error"] == pytest.approx(float(km.result()), rel=1e-6)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean((pred - y) ** 2)), rel=1e-6)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(logs["mse"]), rel=1e-12)


LOSS_METRICS = {  # metric (string or factory), keras class and arguments, output activation, target kind
    "binary_crossentropy": ("binary_crossentropy", ("BinaryCrossentropy", {}), "sigmoid", "binary"),
    "bce_logits_smoothed": (lambda: metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                            ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}), None, "binary"),
    "categorical_crossentropy": ("categorical_crossentropy", ("CategoricalCrossentropy", {}), "softmax", "onehot"),
    "cce_logits": (lambda: metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
                   ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}), None, "onehot"),
    "sparse_categorical_crossentropy": ("sparse_categorical_crossentropy", ("SparseCategoricalCrossentropy", {}),
                                        "softmax", "sparse"),
    "kl_divergence": ("kl_divergence", ("KLDivergence", {}), "softmax", "soft"),
    "hinge": ("hinge", ("Hinge", {}), "tanh", "binary"),
    "squared_hinge": (lambda: metrics.SquaredHinge(), ("SquaredHinge", {}), "tanh", "binary"),
    "mape": ("mape", ("MeanAbsolutePercentageError", {}), None, "real"),
    "msle": ("msle", ("MeanSquaredLogarithmicError", {}), "sigmoid", "binary"),
    "logcosh": (lambda: metrics.LogCoshError(), ("LogCoshError", {}), "tanh", "real"),
    "poisson": ("poisson", ("Poisson", {}), "sigmoid", "binary"),
    "categorical_hinge": ("categorical_hinge", ("CategoricalHinge", {}), None, "onehot"),
    "cosine_similarity": ("cosine_similarity", ("CosineSimilarity", {}), None, "real"),
}


@pytest.mark.parametrize("case", list(LOSS_METRICS))
def test_loss_metrics_match_keras(keras, case):
    """Keras's loss-function metrics over several batches: the mean of the loss over every row."""
    metric, (kname, kkw), act, kind = LOSS_METRICS[case]
    C = 4
    rng = np.random.default_rng(21)
    x = rng.standard_normal((50, K_IN)).astype(np.float32)
    labels = rng.integers(0, C, 50)
    y = {"binary": rng.integers(0, 2, (50, C)).astype(np.float32), "onehot": ref.one_hot(labels, C),
         "sparse": labels, "soft": rng.dirichlet(np.ones(C), 50).astype(np.float32),
         "real": rng.standard_normal((50, C)).astype(np.float32)}[kind]
    inp = bigcore.Input((K_IN,))
    m = bigcore.Model(inp, layers.Dense(C, activation=act)(inp))
    m.compile(optimizer="sgd", loss="mse" if kind != "sparse" else "sparse_categorical_crossentropy",
              metrics=[metric() if callable(metric) else metric])
    name = m.metrics_names[1]
    logs = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = m.predict(x, verbose=0)
    km = getattr(keras.metrics, kname)(**kkw)
    for i in range(0, 50, 16):
        km.update_state(y[i:i + 16], pred[i:i + 16])
    assert logs[name] == pytest.approx(float(km.result()), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("aggregation,regressors", [("uniform_average", 0), ("variance_weighted_average", 0),
                                                    (None, 0), ("uniform_average", 2)])
def test_r2_score_over_batches_matches_keras(keras, aggregation, regressors):
    """R2Score from column sums gathered over batches: Keras's metric updated batch by batch, and the
    NumPy formula on all rows at once. compile(metrics=...) are unweighted in Keras 3 (weighted_metrics
    are not), so evaluate's sample_weight leaves it unchanged."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((50, K_IN)).astype(np.float32)
    y = (x[:, :3] * [1.0, -0.5, 2.0] + 0.3 * rng.standard_normal((50, 3))).astype(np.float32)
    sw = rng.uniform(0.2, 2.0, 50).astype(np.float32)
    inp = bigcore.Input((K_IN,))
    m = bigcore.Model(inp, layers.Dense(3)(inp))
    m.compile(optimizer="sgd", loss="mse", metrics=[metrics.R2Score(class_aggregation=aggregation,
                                                                    num_regressors=regressors)])
    for weights in (None, sw):
        got = m.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0, return_dict=True)["r2_score"]
        pred = m.predict(x, verbose=0)
        km = keras.metrics.R2Score(class_aggregation=aggregation, num_regressors=regressors)
        for i in range(0, 50, 16):
            km.update_state(y[i:i + 16], pred[i:i + 16])
        np.testing.assert_allclose(got, np.asarray(km.result()), rtol=1e-5, atol=1e-6)
        if weights is None and aggregation == "uniform_average" and not regressors:
            by_hand = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
            assert got == pytest.approx(float(by_hand.mean()), rel=1e-5)


def test_new_loss_and_metric_strings():
    for alias, cls in [("mape", losses.MeanAbsolutePercentageError), ("MSLE", losses.MeanSquaredLogarithmicError),
                       ("log_cosh", losses.LogCosh), ("poisson", losses.Poisson),
                       ("categorical_hinge", losses.CategoricalHinge)]:
        assert isinstance(losses.get(alias), cls)
    assert isinstance(metrics.get("r2_score", None, 3), metrics.R2Score)
    assert isinstance(metrics.get("cosine_similarity", None, 3), metrics.CosineSimilarity)
    with pytest.raises(ValueError, match="class_aggregation"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="num_regressors"):
        metrics.R2Score(num_regressors=-1)
