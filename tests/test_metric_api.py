"""Metrics outside a model, as Keras programs use them: update_state / result / reset_state and
__call__ on arrays (the native counters fit runs), Mean / Sum / Accuracy, Keras's metric
functions, a metric of one's own with add_variable; each against Keras 3."""

import numpy as np
import pytest

import bigcore
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(0)
BIN_T = (RNG.uniform(size=(30, 1)) > 0.5).astype("float32")
BIN_P = RNG.uniform(size=(30, 1)).astype("float32")
IDS = RNG.integers(0, 4, size=(30,)).astype("float32")
PROBS = RNG.dirichlet(np.ones(4), size=30).astype("float32")
ONE_HOT = np.eye(4, dtype="float32")[IDS.astype(int)]
REG_T = RNG.normal(size=(30, 3)).astype("float32")
REG_P = RNG.normal(size=(30, 3)).astype("float32")
SW = RNG.uniform(0.1, 2.0, size=(30,)).astype("float32")

CASES = [  # (class name, kwargs, y_true, y_pred)
    ("AUC", {}, BIN_T, BIN_P), ("AUC", {"curve": "PR"}, BIN_T, BIN_P), ("Precision", {}, BIN_T, BIN_P),
    ("Recall", {"thresholds": [0.3, 0.6]}, BIN_T, BIN_P), ("BinaryAccuracy", {}, BIN_T, BIN_P),
    ("TruePositives", {}, BIN_T, BIN_P), ("F1Score", {"threshold": 0.5}, BIN_T, BIN_P),
    ("SparseCategoricalAccuracy", {}, IDS, PROBS), ("CategoricalAccuracy", {}, ONE_HOT, PROBS),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, IDS, PROBS), ("TopKCategoricalAccuracy", {"k": 2}, ONE_HOT, PROBS),
    ("CategoricalCrossentropy", {}, ONE_HOT, PROBS), ("SparseCategoricalCrossentropy", {}, IDS, PROBS),
    ("MeanSquaredError", {}, REG_T, REG_P), ("MeanAbsoluteError", {}, REG_T, REG_P),
    ("RootMeanSquaredError", {}, REG_T, REG_P), ("R2Score", {}, REG_T, REG_P),
    ("CosineSimilarity", {}, REG_T, REG_P), ("LogCoshError", {}, REG_T, REG_P),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("weighted", [False, True])
def test_update_state_result_reset_match_keras(keras, case, weighted):
    name, kw, y_true, y_pred = case
    ours, theirs = getattr(bigcore.metrics, name)(**kw), getattr(keras.metrics, name)(**kw)
    for m in (ours, theirs):  # two batches: the counts add up
        for s in (slice(0, 13), slice(13, 30)):
            m.update_state(y_true[s], y_pred[s], sample_weight=SW[s] if weighted else None)
    want = keras.ops.convert_to_numpy(theirs.result())
    np.testing.assert_allclose(ours.result(), want, rtol=2e-5, atol=1e-6)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), atol=1e-7)
    # __call__ updates, then gives the result
    np.testing.assert_allclose(ours(y_true[:9], y_pred[:9]), keras.ops.convert_to_numpy(theirs(y_true[:9], y_pred[:9])),
                               rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("values, weights", [([1.0, 2.0, 4.0], None), ([[1.0, 2.0], [3.0, 5.0]], [0.5, 2.0]),
                                             (3.0, 2.0), ([[1.0, 2.0], [3.0, 5.0]], [[1.0, 0.0], [1.0, 1.0]])])
def test_mean_and_sum_match_keras(keras, values, weights):
    for name in ("Mean", "Sum"):
        ours, theirs = getattr(bigcore.metrics, name)(), getattr(keras.metrics, name)()
        for m in (ours, theirs):
            m.update_state(values, sample_weight=weights)
            m.update_state([7.0, 1.0])
        np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(theirs.result()), rtol=1e-6, err_msg=name)


def test_accuracy_eager_and_compiled(keras):
    y = np.array([[1.0], [2.0], [3.0], [4.0]], "float32")
    p = np.array([[1.0], [2.0], [0.0], [4.0]], "float32")
    ours, theirs = bigcore.metrics.Accuracy(), keras.metrics.Accuracy()
    np.testing.assert_allclose(ours(y, p), keras.ops.convert_to_numpy(theirs(y, p)))
    # in compile: traced (equality of a rounded regression output) and counted per row
    model = bigcore.Sequential([bigcore.Input((2,)), bigcore.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[bigcore.metrics.Accuracy()])
    x = RNG.normal(size=(16, 2)).astype("float32")
    logs = model.evaluate(x, np.round(model.predict(x, verbose=0)), verbose=0, return_dict=True)
    exact = float(np.mean(np.round(model.predict(x, verbose=0)) == model.predict(x, verbose=0)))
    assert logs["accuracy"] == pytest.approx(exact)


def test_keras_metric_functions(keras):
    for name, y, p in (("sparse_categorical_accuracy", IDS, PROBS), ("categorical_accuracy", ONE_HOT, PROBS),
                       ("binary_accuracy", BIN_T, BIN_P), ("top_k_categorical_accuracy", ONE_HOT, PROBS),
                       ("mean_squared_error", REG_T, REG_P)):
        kw = {"k": 2} if name.startswith("top_k") else {}
        ours = getattr(bigcore.metrics, name)(y, p, **kw)
        theirs = keras.ops.convert_to_numpy(getattr(keras.metrics, name)(y, p, **kw))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=name)
    # compile takes them: the native metric of the same name
    model = bigcore.Sequential([bigcore.Input((4,)), bigcore.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=[bigcore.metrics.sparse_categorical_accuracy])
    logs = model.evaluate(PROBS, IDS, verbose=0, return_dict=True)
    pred = model.predict(PROBS, verbose=0)
    assert logs["sparse_categorical_accuracy"] == pytest.approx(float(np.mean(pred.argmax(-1) == IDS)))


def _true_positives(lib):
    """Keras's guide metric: add_variable, update_state with ops and assign_add, result, reset_state."""
    class CategoricalTruePositives(lib.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = lib.ops.reshape(lib.ops.argmax(y_pred, axis=1), (-1, 1))
            values = lib.ops.cast(lib.ops.cast(y_true, "int32") == lib.ops.cast(y_pred, "int32"), "float32")
            if sample_weight is not None:
                values = lib.ops.multiply(values, lib.ops.cast(sample_weight, "float32"))
            self.true_positives.assign_add(lib.ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)
    return CategoricalTruePositives()


def test_a_metric_of_ones_own_eagerly_and_compiled_as_keras(keras):
    ours, theirs = _true_positives(bigcore), _true_positives(keras)
    ids = IDS[:, None]
    for m in (ours, theirs):
        m.update_state(ids[:13], PROBS[:13])
        m.update_state(ids[13:], PROBS[13:])
    assert float(ours.result()) == float(keras.ops.convert_to_numpy(theirs.result()))
    ours.reset_state()
    assert float(ours.result()) == 0.0
    # in compile: update_state traced once, its assign_add summed natively per batch, per epoch
    logs = []
    for lib in (bigcore, keras):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(4)])
        if lib is keras:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile(optimizer=lib.optimizers.SGD(0.5), loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[_true_positives(lib)])
        h = model.fit(PROBS, ids, epochs=3, batch_size=8, shuffle=False, verbose=0).history
        logs.append((h, model.evaluate(PROBS, ids, verbose=0, return_dict=True)))
    (h, ev), (kh, kev) = logs
    assert h["categorical_true_positives"] == [float(v) for v in kh["categorical_true_positives"]]
    assert ev["categorical_true_positives"] == float(kev["categorical_true_positives"])


def test_a_metric_of_ones_own_must_add_tensors():
    class NumpyCount(bigcore.metrics.Metric):
        def __init__(self):
            super().__init__(name="numpy_count")
            self.n = self.add_variable(shape=(), initializer="zeros", name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign(self.n.value + 1.0)  # no tensor: nothing compile can count per batch

        def result(self):
            return self.n

    model = bigcore.Sequential([bigcore.Input((2,)), bigcore.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[NumpyCount()])
    with pytest.raises(ValueError, match="made no assign_add"):
        model.evaluate(np.zeros((2, 2), "float32"), np.zeros((2, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match="counts in Python"):
        model.compile(optimizer="sgd", loss="mse", metrics=[bigcore.metrics.Mean()])


def test_metric_misuse_is_refused():
    with pytest.raises(ValueError, match="does not match y_pred"):
        bigcore.metrics.CategoricalAccuracy().update_state(ONE_HOT[:, :3], PROBS)
    with pytest.raises(ValueError, match="sample_weight"):
        bigcore.metrics.BinaryAccuracy().update_state(BIN_T, BIN_P, sample_weight=np.ones(7))
    with pytest.raises(ValueError, match="float32"):
        bigcore.metrics.Mean(dtype="float16")


def _f1(lib):
    """A metric of one's own whose result() does arithmetic on its variables, as Keras programs write it."""
    class BinaryF1(lib.metrics.Metric):
        def __init__(self, name="binary_f1", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_variable(shape=(), name="tp", initializer="zeros")
            self.fp = self.add_variable(shape=(), name="fp", initializer="zeros")
            self.fn = self.add_variable(shape=(), name="fn", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            p = lib.ops.cast(y_pred > 0.5, "float32")
            t = lib.ops.cast(y_true, "float32")
            self.tp.assign_add(lib.ops.sum(p * t))
            self.fp.assign_add(lib.ops.sum(p * (1 - t)))
            self.fn.assign_add(lib.ops.sum((1 - p) * t))

        def result(self):
            return 2 * self.tp / (2 * self.tp + self.fp + self.fn + 1e-7)

        def reset_state(self):
            for v in (self.tp, self.fp, self.fn):
                v.assign(0.0)

    return BinaryF1


def test_a_metric_of_ones_own_with_arithmetic_saved_and_loaded(keras, tmp_path):
    x = RNG.normal(size=(24, 3)).astype("float32")
    y = (x.sum(1, keepdims=True) > 0).astype("float32")
    results = []
    for lib in (bigcore, keras):
        m = _f1(lib)()
        m.update_state(y, 1 / (1 + np.exp(-x[:, :1])))
        results.append(float(np.asarray(keras.ops.convert_to_numpy(m.result()) if lib is keras else m.result())))
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    cls = _f1(bigcore)
    model = bigcore.Sequential([bigcore.Input((3,)), bigcore.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[cls()])
    want = model.evaluate(x, y, verbose=0, return_dict=True)
    for suffix in (".keras", bigcore.saving.MODEL_SUFFIX):
        path = str(tmp_path / ("m" + suffix))
        model.save(path)
        with pytest.raises(ValueError, match="custom_objects"):
            bigcore.models.load_model(path)
        back = bigcore.models.load_model(path, custom_objects={"BinaryF1": cls})
        assert back.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(want)
    registered = bigcore.saving.register_keras_serializable(package="metric_tests")(_f1(bigcore))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[registered()])
    model.save(str(tmp_path / "r.keras"))
    assert bigcore.models.load_model(str(tmp_path / "r.keras")).evaluate(x, y, verbose=0, return_dict=True) == \
        pytest.approx(want)
    m = cls()
    with pytest.raises(NotImplementedError, match="assign_add"):  # in a traced update_state
        bigcore.metrics.Variable.__mul__(m.tp, bigcore.Input((1,)))


def test_logs_are_python_floats():
    """Keras's history and evaluate(return_dict=True) hold Python floats (np.float64 prints otherwise)."""
    model = bigcore.Sequential([bigcore.Input((4,)), bigcore.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", bigcore.metrics.SparseTopKCategoricalAccuracy(k=2)])
    h = model.fit(PROBS, IDS, epochs=2, validation_split=0.25, verbose=0).history
    logs = model.evaluate(PROBS, IDS, verbose=0, return_dict=True)
    assert all(type(v) is float for values in h.values() for v in values)
    assert all(type(v) is float for v in logs.values())
    assert all(type(v) is float for v in model.evaluate(PROBS, IDS, verbose=0))


def _docstring_true_positives(lib):
    """Keras 3's own Metric docstring example: `v.assign(v + ops.sum(values))` in update_state."""
    ops = lib.ops

    class BinaryTruePositives(lib.metrics.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.cast(y_true, "bool")
            y_pred = ops.cast(y_pred, "bool")
            values = ops.cast(ops.logical_and(ops.equal(y_true, True), ops.equal(y_pred, True)), self.dtype)
            if sample_weight is not None:
                sample_weight = ops.broadcast_to(ops.cast(sample_weight, self.dtype), ops.shape(values))
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign(self.true_positives + ops.sum(values))

        def result(self):
            return self.true_positives

    return BinaryTruePositives


def test_keras_docstring_metric_with_assign_of_a_sum(keras):
    x = RNG.normal(size=(20, 3)).astype("float32")
    y = (RNG.random((20, 1)) > 0.5).astype("float32")
    results = []
    for lib in (bigcore, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="ones")])
        model.compile(optimizer="sgd", loss="mse", metrics=[_docstring_true_positives(lib)()])
        logs = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
        results.append(float(logs["binary_true_positives"]))
    assert results[0] == results[1] > 0
    m = _docstring_true_positives(bigcore)()
    m.update_state(y, x[:, :1] > 0)  # eagerly, on arrays
    assert float(m.result()) == float(np.sum((y > 0) & (x[:, :1] > 0)))
