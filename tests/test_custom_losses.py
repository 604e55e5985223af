"""Custom losses and metrics: a loss function, a Loss subclass's call() and a metric function are
traced into the program (models/custom_losses.py) and reduced natively; the built-in loss
functions return per-row values (Keras's), also on symbolic tensors (the loss_rows primitive).
Each behaviour against Keras 3 with the same weights, and the primitive against NumPy and by
finite differences."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from bigcore._native import _core
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's torch backend converting its weights


def _pair(keras, make, build_inputs, n_out, seed=0):
    """The same model in bigcore and Keras (Keras gets bigcore's initial weights)."""
    ours = make(bigcore, build_inputs, n_out)
    theirs = make(keras, build_inputs, n_out)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _mlp(lib, inputs, n_out):
    return lib.Sequential([lib.Input(inputs), lib.layers.Dense(8, activation="tanh"), lib.layers.Dense(n_out)])


def _fit_both(keras, ours, theirs, loss_of, x, y, metrics_of=None, sample_weight=None, epochs=3, batch_size=16):
    hist = []
    for lib, model in ((bigcore, ours), (keras, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss=loss_of(lib),
                      metrics=None if metrics_of is None else metrics_of(lib))
        h = model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0, sample_weight=sample_weight)
        hist.append(h.history)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    return hist


def _data(n=40, d=5, out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype("float32"), rng.normal(size=(n, out)).astype("float32")


def test_loss_function_matches_keras(keras):
    x, y = _data()
    ours, theirs = _pair(keras, _mlp, (5,), 3)

    def loss_of(lib):
        def weighted_l1(y_true, y_pred):  # per-sample values, Keras reduces them
            return lib.ops.mean(lib.ops.abs(y_true - y_pred) * lib.ops.convert_to_tensor([1.0, 2.0, 0.5]), axis=-1)
        return weighted_l1

    h, k = _fit_both(keras, ours, theirs, loss_of, x, y)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)
    assert h["loss"][-1] < h["loss"][0]
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_loss_subclass_and_sample_weights_match_keras(keras):
    x, y = _data(seed=1)
    sw = np.linspace(0.2, 2.0, len(x)).astype("float32")
    ours, theirs = _pair(keras, _mlp, (5,), 3)

    def loss_of(lib):
        class Pseudo(lib.losses.Loss):
            def __init__(self, delta=0.7, **kw):
                super().__init__(**kw)
                self.delta = delta

            def call(self, y_true, y_pred):
                e = (y_pred - y_true) / self.delta
                return lib.ops.sum(lib.ops.sqrt(1.0 + e * e) - 1.0, axis=-1)
        return Pseudo(delta=0.7)

    h, k = _fit_both(keras, ours, theirs, loss_of, x, y, sample_weight=sw)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)


def test_a_loss_that_reduces_the_batch_itself(keras):
    """A function returning one number: Keras weighs it by the mean sample weight."""
    x, y = _data(seed=2)
    sw = np.linspace(0.5, 1.5, len(x)).astype("float32")
    ours, theirs = _pair(keras, _mlp, (5,), 3)

    def loss_of(lib):
        def batch_rmse(y_true, y_pred):
            return lib.ops.sqrt(lib.ops.mean(lib.ops.square(y_true - y_pred)))
        return batch_rmse

    h, k = _fit_both(keras, ours, theirs, loss_of, x, y, sample_weight=sw, batch_size=12)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)


def test_metric_functions_and_builtin_loss_functions_as_metrics(keras):
    x, y = _data(seed=3)
    ours, theirs = _pair(keras, _mlp, (5,), 3)

    def metrics_of(lib):
        def max_error(y_true, y_pred):
            return lib.ops.max(lib.ops.abs(y_true - y_pred), axis=-1)
        return [max_error, lib.losses.mean_absolute_error]

    h, k = _fit_both(keras, ours, theirs, lambda lib: "mse", x, y, metrics_of=metrics_of)
    assert set(h) == set(k) == {"loss", "max_error", "mean_absolute_error"}
    for name in h:
        np.testing.assert_allclose(h[name], k[name], rtol=1e-4, err_msg=name)
    ev_ours = ours.evaluate(x, y, verbose=0, return_dict=True)
    ev_theirs = theirs.evaluate(x, y, verbose=0, return_dict=True)
    for name in ev_ours:
        np.testing.assert_allclose(ev_ours[name], ev_theirs[name], rtol=1e-4, err_msg=name)


def _seq_model(lib, inputs, n_out):
    inp = lib.Input(inputs, dtype="int32")
    h = lib.layers.Embedding(12, 6)(inp)
    h = lib.layers.Dense(10, activation="relu")(h)
    return lib.Model(inp, lib.layers.Dense(n_out)(h))


def _masked_sparse_loss(lib):
    """The Transformer tutorials' loss: a built-in loss with reduction=None, padding (label 0)
    masked by hand; its targets are class ids of shape (batch, T) beside (batch, T, V) logits."""
    def masked_loss(y_true, y_pred):
        fn = lib.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        per_token = fn(y_true, y_pred)
        mask = lib.ops.cast(lib.ops.not_equal(y_true, 0), "float32")
        return lib.ops.sum(per_token * mask) / lib.ops.sum(mask)
    return masked_loss


def _masked_accuracy(lib):
    def masked_accuracy(y_true, y_pred):
        pred = lib.ops.cast(lib.ops.argmax(y_pred, axis=-1), "float32")
        match = lib.ops.cast(lib.ops.equal(pred, y_true), "float32")
        mask = lib.ops.cast(lib.ops.not_equal(y_true, 0), "float32")
        return lib.ops.sum(match * mask) / lib.ops.sum(mask)
    return masked_accuracy


def _tokens(n, t, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, size=(n, t)).astype("int32")
    y = np.roll(x, 1, axis=1) % 7
    y[:, :2] = 0  # padding labels
    return x, y.astype("int32")


def test_sparse_targets_and_a_masked_loss_match_keras(keras):
    x, y = _tokens(32, 9, 4)
    ours, theirs = _pair(keras, _seq_model, (9,), 7)
    h, k = _fit_both(keras, ours, theirs, _masked_sparse_loss, x, y,
                     metrics_of=lambda lib: [_masked_accuracy(lib)], batch_size=8)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)
    np.testing.assert_allclose(h["masked_accuracy"], k["masked_accuracy"], rtol=1e-5)


def test_run_time_lengths_reach_y_true(keras):
    """Input(shape=(None,)): y_true takes the output's run-time length; later calls may change it."""
    ours, theirs = _pair(keras, _seq_model, (None,), 7)
    for t, seed in ((9, 5), (13, 6)):
        x, y = _tokens(24, t, seed)
        h, k = _fit_both(keras, ours, theirs, _masked_sparse_loss, x, y, epochs=1, batch_size=8)
        np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)


def test_output_mask_weighs_a_custom_losss_rows(keras):
    """Embedding(mask_zero=True): the output's mask weighs per-timestep values, as Keras's."""
    def make(lib, inputs, n_out):
        inp = lib.Input(inputs, dtype="int32")
        h = lib.layers.Embedding(12, 6, mask_zero=True)(inp)
        return lib.Model(inp, lib.layers.Dense(n_out)(lib.layers.Dense(10, activation="relu")(h)))

    x, _ = _tokens(24, 8, 7)
    x[:, -3:] = 0
    y = np.random.default_rng(7).normal(size=(24, 8, 4)).astype("float32")
    ours, theirs = _pair(keras, make, (8,), 4)

    def loss_of(lib):
        def per_step(y_true, y_pred):
            return lib.ops.mean(lib.ops.square(y_true - y_pred), axis=-1)
        return per_step

    h, k = _fit_both(keras, ours, theirs, loss_of, x, y, batch_size=8)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)


def test_predict_runs_no_loss_graph_and_recompile_retires_it():
    x, y = _data(seed=8)
    model = _mlp(bigcore, (5,), 3)
    calls = []

    def l1(y_true, y_pred):
        calls.append(1)  # traced once per compile, not per batch
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    model.compile(optimizer="sgd", loss=l1)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(calls) == 1
    assert model.predict(x, verbose=0).shape == (40, 3)
    ops_before = model._program.native.n_ops
    model.compile(optimizer="sgd", loss="mse")
    got = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(got, np.mean((model.predict(x, verbose=0) - y) ** 2), rtol=1e-5)
    assert model._program.native.n_ops == ops_before  # the old graph stays, retired (mode 4)
    model.compile(optimizer="sgd", loss=l1)
    got = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(got, np.mean(np.abs(model.predict(x, verbose=0) - y)), rtol=1e-5)
    assert len(calls) == 2


def test_misuse_is_refused_clearly():
    x, y = _data(seed=9)
    model = _mlp(bigcore, (5,), 3)
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: 3.0)
    with pytest.raises(ValueError, match="must return a tensor"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ops.mean(ops.square(y_true - y_pred), axis=-1))
    model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"traced for targets of shape \(None, 3\)"):
        model.evaluate(x, y[:, :2], verbose=0)
    with pytest.raises(ValueError, match="reduction"):
        bigcore.losses.MeanSquaredError(reduction="average")
    with pytest.raises(TypeError, match="unexpected keyword"):
        bigcore.losses.binary_crossentropy(y, y, form_logits=True)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "binary_crossentropy",
                                  "categorical_crossentropy", "huber", "kl_divergence", "hinge", "log_cosh",
                                  "poisson", "cosine_similarity", "mean_absolute_percentage_error"])
def test_builtin_loss_functions_return_rows_as_keras(keras, name):
    rng = np.random.default_rng(10)
    y_true = rng.uniform(0.05, 1, size=(6, 4)).astype("float32")
    y_pred = rng.uniform(0.05, 1, size=(6, 4)).astype("float32")
    if name == "categorical_crossentropy":
        y_true = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
    ours = getattr(bigcore.losses, name)(y_true, y_pred)
    theirs = keras.ops.convert_to_numpy(getattr(keras.losses, name)(y_true, y_pred))
    assert ours.shape == theirs.shape == (6,)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", None, "sum", "sum_over_batch_size", "mean_with_sample_weight"])
def test_loss_objects_reduce_eagerly_as_keras(keras, reduction):
    rng = np.random.default_rng(11)
    y_true = rng.integers(0, 5, size=(8,)).astype("float32")
    y_pred = rng.normal(size=(8, 5)).astype("float32")
    sw = rng.uniform(0.1, 2, size=(8,)).astype("float32")
    ours = bigcore.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)(y_true, y_pred, sw)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)(y_true, y_pred, sw)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs), rtol=1e-5)


def test_loss_rows_primitive_against_numpy_and_finite_differences():
    rng = np.random.default_rng(12)
    t = rng.normal(size=(3, 2, 4)).astype("float32")
    p = rng.normal(size=(3, 2, 4)).astype("float32")
    attrs = {"loss_kind": bigcore.losses.HUBER, "from_logits": False, "label_smoothing": 0.0, "param": 0.5}
    rows = _core.prim_forward("loss_rows", attrs, [t, p])[0]
    e = (p - t).astype(np.float64)
    ref = np.where(np.abs(e) <= 0.5, 0.5 * e * e, 0.5 * np.abs(e) - 0.125).mean(-1)
    np.testing.assert_allclose(rows, ref, rtol=1e-5)
    g_out = rng.normal(size=rows.shape).astype("float32")
    grads = _core.prim_backward("loss_rows", attrs, [t, p], [g_out])
    eps = 1e-3
    num = np.zeros_like(p, dtype=np.float64)
    for i in np.ndindex(p.shape):
        hi, lo = p.copy(), p.copy()
        hi[i] += eps
        lo[i] -= eps
        f = [float((_core.prim_forward("loss_rows", attrs, [t, q])[0] * g_out).sum()) for q in (hi, lo)]
        num[i] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(grads[1], num, rtol=2e-2, atol=2e-3)


def test_symbolic_builtin_loss_in_a_custom_layer_add_loss():
    """A built-in loss called on symbolic tensors inside call(): its gradient reaches y_pred."""
    class Recon(layers.Layer):
        def call(self, inputs):
            x, rec = inputs
            self.add_loss(bigcore.losses.mean_squared_error(ops.stop_gradient(x), rec))
            return rec

    inp = bigcore.Input((4,))
    rec = layers.Dense(4)(layers.Dense(3, activation="tanh")(inp))
    out = Recon()([inp, rec])
    model = bigcore.Model(inp, out)
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss=lambda y_true, y_pred: ops.zeros_like(y_pred[:, 0]))
    x = np.random.default_rng(13).normal(size=(64, 4)).astype("float32")
    h = model.fit(x, x, epochs=20, batch_size=16, verbose=0)
    pred = model.predict(x, verbose=0)
    # the add_loss is the per-sample MSE summed over the batch (Keras sums added losses)
    assert h.history["loss"][-1] < 0.6 * h.history["loss"][0]
    assert np.mean((pred - x) ** 2) < 0.6 * np.mean(x ** 2)


def _smape(y_true, y_pred):  # module level: files name it
    return ops.mean(ops.abs(y_true - y_pred) / (ops.abs(y_true) + ops.abs(y_pred) + 1e-3), axis=-1)


def _worst(y_true, y_pred):
    return ops.max(ops.abs(y_true - y_pred), axis=-1)


@pytest.mark.parametrize("suffix", [".keras", ".bigcore"])
def test_a_model_compiled_with_functions_saves_and_loads(tmp_path, suffix):
    x, y = _data(seed=14)
    model = _mlp(bigcore, (5,), 3)
    model.compile(optimizer="adam", loss=_smape, metrics=[_worst, bigcore.losses.mean_squared_error])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / ("m" + suffix))
    model.save(path)
    want = model.evaluate(x, y, verbose=0, return_dict=True)
    back = bigcore.models.load_model(path, custom_objects={"_smape": _smape, "_worst": _worst})
    got = back.evaluate(x, y, verbose=0, return_dict=True)
    assert got.keys() == want.keys() == {"loss", "_worst", "mean_squared_error"}
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, err_msg=k)
    with pytest.raises(ValueError, match="'_smape' is not known here"):
        bigcore.models.load_model(path)
    assert bigcore.models.load_model(path, compile=False).predict(x, verbose=0).shape == (40, 3)
    model.compile(optimizer="adam", loss=lambda t, p: _smape(t, p))
    with pytest.raises(ValueError, match="lambda cannot be saved"):
        model.save(str(tmp_path / ("lam" + suffix)))


def test_add_loss_alone_trains_as_keras(keras):
    """compile() without a loss: the layers' add_loss terms are the loss; fit takes no targets."""
    def make(lib, inputs, n_out):
        class Reconstruction(lib.layers.Layer):
            def call(self, pair):
                x, rec = pair
                self.add_loss(lib.ops.mean(lib.ops.square(x - rec)))
                return rec

        inp = lib.Input(inputs)
        rec = lib.layers.Dense(n_out)(lib.layers.Dense(3, activation="tanh")(inp))
        return lib.Model(inp, Reconstruction()([inp, rec]))

    x, _ = _data(seed=15, d=6)
    ours, theirs = _pair(keras, make, (6,), 6)
    hist = []
    for lib, model in ((bigcore, ours), (keras, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.1))
        hist.append(model.fit(x, epochs=3, batch_size=10, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(hist[0], hist[1], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="No loss to compute"):
        _mlp(bigcore, (5,), 3).compile(optimizer="sgd")


@pytest.mark.parametrize("method", ["train_step", "test_step", "compute_metrics"])
def test_a_model_that_overrides_a_step_is_refused_not_ignored(method):
    class Custom(bigcore.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    setattr(Custom, method, lambda self, *a, **k: {})
    model = Custom()
    with pytest.raises(NotImplementedError, match=f"overrides {method}"):
        model.compile(optimizer="sgd", loss="mse")


def test_weighted_metrics_match_keras(keras):
    """compile(weighted_metrics=...): the sample weights weigh these metrics (not `metrics`); a
    name taken by an unweighted metric gets Keras's "weighted_" prefix."""
    x, _ = _data(seed=16)
    labels = np.random.default_rng(16).integers(0, 3, size=len(x)).astype("float32")
    sw = np.linspace(0.1, 3.0, len(x)).astype("float32")
    ours, theirs = _pair(keras, _mlp, (5,), 3)
    logs = []
    for lib, model in ((bigcore, ours), (keras, theirs)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["sparse_categorical_accuracy"],
                      weighted_metrics=["sparse_categorical_accuracy", lib.metrics.SparseCategoricalCrossentropy(
                          from_logits=True, name="xent")])
        h = model.fit(x, labels, sample_weight=sw, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        ev = model.evaluate(x, labels, sample_weight=sw, verbose=0, return_dict=True)
        logs.append((h, ev))
    (h, ev), (kh, kev) = logs
    assert set(h) == set(kh) == {"loss", "sparse_categorical_accuracy", "weighted_sparse_categorical_accuracy", "xent"}
    for name in kh:
        np.testing.assert_allclose(h[name], kh[name], rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(ev[name], kev[name], rtol=1e-4, err_msg=name)
    assert ev["sparse_categorical_accuracy"] != pytest.approx(ev["weighted_sparse_categorical_accuracy"])


def test_weighted_metrics_survive_save_and_load(tmp_path):
    x, _ = _data(seed=17)
    labels = np.random.default_rng(17).integers(0, 3, size=len(x)).astype("float32")
    model = _mlp(bigcore, (5,), 3)
    model.compile(optimizer="adam", loss=bigcore.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["sparse_categorical_accuracy"])
    sw = np.linspace(0.1, 3.0, len(x)).astype("float32")
    for suffix in (".keras", ".bigcore"):
        path = str(tmp_path / ("w" + suffix))
        model.save(path)
        back = bigcore.models.load_model(path)
        want = model.evaluate(x, labels, sample_weight=sw, verbose=0, return_dict=True)
        assert back.evaluate(x, labels, sample_weight=sw, verbose=0, return_dict=True) == pytest.approx(want)
    with pytest.raises(ValueError, match="weighted_metrics"):
        model.compile(optimizer="adam", loss="mse", weighted_metrics="accuracy")


def _distiller_class(lib):
    """Keras's knowledge-distillation recipe: compile() of its own, compute_loss() overridden."""
    class Distiller(lib.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1, temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                lib.ops.softmax(teacher_pred / self.temperature, axis=1),
                lib.ops.softmax(y_pred / self.temperature, axis=1)) * self.temperature ** 2
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)
    return Distiller


def test_a_compute_loss_override_distills_as_keras(keras):
    rng = np.random.default_rng(18)
    x = rng.normal(size=(48, 6)).astype("float32")
    y = x[:, :4].argmax(1).astype("float32")
    nets = {}
    for lib in (bigcore, keras):
        teacher = lib.Sequential([lib.Input((6,)), lib.layers.Dense(12, activation="relu"), lib.layers.Dense(4)])
        student = lib.Sequential([lib.Input((6,)), lib.layers.Dense(5, activation="relu"), lib.layers.Dense(4)])
        nets[lib] = (teacher, student)
    for ours, theirs in zip(nets[bigcore], nets[keras]):
        theirs.set_weights(ours.get_weights())
    hist = []
    for lib in (bigcore, keras):
        teacher, student = nets[lib]
        d = _distiller_class(lib)(student=student, teacher=teacher)
        d.compile(optimizer=lib.optimizers.SGD(0.1), metrics=[lib.metrics.SparseCategoricalAccuracy()],
                  student_loss_fn=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                  distillation_loss_fn=lib.losses.KLDivergence(), alpha=0.3, temperature=4)
        h = d.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        hist.append((h, d.evaluate(x, y, verbose=0, return_dict=True)))
    (h, ev), (kh, kev) = hist
    for name in kh:
        np.testing.assert_allclose(h[name], kh[name], rtol=1e-4, err_msg=name)
    for name in kev:
        np.testing.assert_allclose(ev[name], kev[name], rtol=1e-4, err_msg=name)
    for ours, theirs in zip(nets[bigcore], nets[keras]):  # the student, and the teacher Keras trains too
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="sample_weight"):
        d = _distiller_class(bigcore)(student=nets[bigcore][1], teacher=nets[bigcore][0])
        d.compile(optimizer="sgd", metrics=None, student_loss_fn=bigcore.losses.SparseCategoricalCrossentropy(),
                  distillation_loss_fn=bigcore.losses.KLDivergence())
        d.fit(x, y, sample_weight=np.ones(len(x)), verbose=0)


def test_equality_inside_traced_code_is_elementwise(keras):
    """`x == 0` in a custom call() (Keras runs it on real tensors) compares elementwise; outside
    a trace a KerasTensor compares by identity, as Keras's does."""
    def make(lib):
        class ZeroFlag(lib.layers.Layer):
            def call(self, x):
                return lib.ops.cast(x == 0.0, "float32") * 5.0 + x
        inp = lib.Input((4,))
        return lib.Model(inp, ZeroFlag()(inp))

    x = np.array([[0.0, 1.0, 0.0, -2.0]], "float32")
    np.testing.assert_allclose(make(bigcore).predict(x, verbose=0), make(keras).predict(x, verbose=0))
    a, b = bigcore.Input((2,)), bigcore.Input((2,))
    assert (a == a) is True and (a == b) is False and a in [b, a] and len({a, b}) == 2


@pytest.mark.parametrize("ignore", [0, -1])
def test_sparse_crossentropy_ignore_class_matches_keras(keras, ignore):
    x, y = _tokens(32, 9, 19)
    y = y.astype("float32")
    if ignore == -1:
        y[y == 0] = -1  # a void label outside the classes, as segmentation maps use
    ours, theirs = _pair(keras, _seq_model, (9,), 7)
    hist = []
    for lib, model in ((bigcore, ours), (keras, theirs)):
        loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss)
        h = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
        hist.append((h["loss"], model.evaluate(x, y, verbose=0)))
        logits = model.predict(x[:4], verbose=0)
        eager = [loss(y[:4], logits), lib.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=ignore, reduction=None)(y[:4], logits)]
        hist[-1] += tuple(keras.ops.convert_to_numpy(e) if lib is keras else e for e in eager)
    for a, b in zip(hist[0], hist[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    cfg = bigcore.losses.SparseCategoricalCrossentropy(ignore_class=ignore).get_config()
    assert cfg["ignore_class"] == ignore == bigcore.losses.deserialize(
        bigcore.losses.serialize(bigcore.losses.SparseCategoricalCrossentropy(ignore_class=ignore))).ignore_class


def test_ignore_class_inside_a_loss_function(keras):
    """Keras's function form with ignore_class on symbolic tensors, in a loss of one's own."""
    x, y = _tokens(24, 7, 20)
    ours, theirs = _pair(keras, _seq_model, (7,), 7)

    def loss_of(lib):
        def half_ignored(y_true, y_pred):
            return 0.5 * lib.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True, ignore_class=0)
        return half_ignored

    h, k = _fit_both(keras, ours, theirs, loss_of, x, y, batch_size=8)
    np.testing.assert_allclose(h["loss"], k["loss"], rtol=1e-4)
    with pytest.raises(ValueError, match="ignore_class must be an integer"):
        bigcore.losses.SparseCategoricalCrossentropy(ignore_class="void")
