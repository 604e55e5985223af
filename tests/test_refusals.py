"""Answers that should be errors, and messages that name the cause: each case here returned a
wrong answer without a word, or raised from deep inside with a message that named neither the
cause nor the fix (issue 15). Keras 3's behaviour is the reference where it has one."""

import json
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from bigcore.data import Dataset


def small_model(compile=True, optimizer="sgd"):
    bigcore.utils.set_random_seed(0)
    x = bigcore.Input((3,), name="x")
    model = bigcore.Model(x, layers.Dense(2, name="out")(x))
    if compile:
        model.compile(optimizer=optimizer, loss="mse")
    return model


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)


def unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# --- answers that should be errors -----------------------------------------------------------

def test_evaluate_on_no_samples_is_an_error():
    model = small_model()
    x, y = data(0)
    with pytest.raises(ValueError, match="evaluate\\(\\) got no samples: x has 0 rows"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="gave no samples: nothing to evaluate"):
        model.evaluate(Dataset.from_tensor_slices((x, y)).batch(4), verbose=0)
    with pytest.raises(ValueError, match="gave no samples"):
        model.evaluate(iter([]), verbose=0)
    xs, ys = data(8)
    with pytest.raises(ValueError, match="the validation data gave no samples"):
        model.fit(xs, ys, validation_data=Dataset.from_tensor_slices((x, y)).batch(4), verbose=0)
    with pytest.raises(ValueError, match=r"Training data contains 1 samples, which is not sufficient to split"):
        model.fit(xs[:1], ys[:1], validation_split=0.5, verbose=0)  # Keras's message (floor(0.5) = 0 to train)


@pytest.mark.parametrize("method,arg", [("fit", "steps_per_epoch"), ("fit", "validation_steps"),
                                        ("evaluate", "steps"), ("predict", "steps")])
@pytest.mark.parametrize("value", [-1, 0, 1.5, True, "2"])
def test_steps_must_be_positive_integers(method, arg, value):
    """fit(steps_per_epoch=-1) returned after no step: refused, before any step, as are 0, a
    float, a bool and a string (None: to the end of the data)."""
    model = small_model()
    x, y = data()
    before = model.get_weights()
    kw = {arg: value}
    if arg == "validation_steps":
        kw["validation_data"] = (x, y)
    with pytest.raises(ValueError, match=rf"`{arg}` must be a positive integer or None. Received: {arg}="):
        if method == "predict":
            model.predict(x, verbose=0, **kw)
        else:
            getattr(model, method)(x, y, verbose=0, **kw)
    assert unchanged(model, before) and model.optimizer.iterations == 0


def test_steps_limit_evaluate_predict_and_validation_on_arrays_too():
    """steps= was silently ignored for array inputs: evaluate and predict ran every batch. Keras
    runs the first `steps` batches."""
    model = small_model()
    x, y = data(10)
    assert model.evaluate(x, y, batch_size=4, steps=1, verbose=0) == model.evaluate(x[:4], y[:4], verbose=0)
    got = model.predict(x, batch_size=4, steps=2, verbose=0)
    assert got.shape == (8, 2)
    np.testing.assert_array_equal(got, model.predict(x[:8], verbose=0))
    history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(x, y), validation_steps=1, verbose=0)
    model2 = small_model()
    model2.set_weights(model.get_weights())
    assert history.history["val_loss"][0] == pytest.approx(model2.evaluate(x[:4], y[:4], verbose=0), rel=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_learning_rate_is_refused_where_it_is_given(bad):
    with pytest.raises(ValueError, match=r"`learning_rate` must be finite.*Received: learning_rate="):
        optimizers.Adam(bad)
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="`learning_rate` must be finite"):
        opt.learning_rate = bad
    assert opt.learning_rate == pytest.approx(0.1)
    with pytest.raises(ValueError, match="`learning_rate` must be a float or a LearningRateSchedule"):
        optimizers.SGD("0.1")


class _BlowsUpAt:
    """A schedule that is 0.01 until `step`, then inf."""

    def __init__(self, step):
        self.step = step

    def __call__(self, step):
        return 0.01 if step < self.step else float("inf")


def test_a_schedule_that_gives_inf_is_refused_at_that_step():
    model = small_model(optimizer=optimizers.SGD(_BlowsUpAt(3)))
    x, y = data(8)
    with pytest.raises(ValueError, match=r"schedule _BlowsUpAt gave inf at step 3: a learning rate must be finite"):
        model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert model.optimizer.iterations == 3  # the three good steps ran, the fourth did not
    assert all(np.isfinite(w).all() for w in model.get_weights())
    decay = optimizers.schedules.ExponentialDecay(0.1, 1, float("inf"))
    model = small_model(optimizer=optimizers.SGD(decay))
    with pytest.raises(ValueError, match="schedule ExponentialDecay gave inf at step 1"):
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("weights", [[float("nan")], float("inf"), {"out": float("-inf")}])
def test_a_non_finite_loss_weight_is_refused_at_compile(weights):
    model = small_model(compile=False)
    with pytest.raises(ValueError, match="`loss_weights` must be finite numbers"):
        model.compile("sgd", "mse", loss_weights=weights)
    with pytest.raises(TypeError, match="Expected `loss_weights` to be a float or a list/dict of floats"):
        model.compile("sgd", "mse", loss_weights=["1"])


# --- messages that name the cause --------------------------------------------------------------

def test_one_loss_weight_in_a_list_for_a_one_output_model_is_accepted():
    """Keras accepts loss_weights=[0.5] on a one-output model: the loss is halved."""
    x, y = data()
    plain, halved = small_model(), small_model(compile=False)
    halved.compile("sgd", "mse", loss_weights=[0.5])
    assert halved.evaluate(x, y, verbose=0) == pytest.approx(0.5 * plain.evaluate(x, y, verbose=0), rel=1e-6)
    with pytest.raises(ValueError, match=r"`loss_weights` must have one entry per model output: the model has 1 "
                                         r"output\(s\) \(\['out'\]\), but loss_weights has 2 entries"):
        halved.compile("sgd", "mse", loss_weights=[0.5, 0.5])


def two_outputs():
    x = bigcore.Input((3,))
    return bigcore.Model(x, [layers.Dense(2, name="reg")(x), layers.Dense(3, name="cls")(x)])


@pytest.mark.parametrize("loss,bad", [({"reg": "mse", "clss": "mse"}, r"unknown: \['clss'\]; missing: \['cls'\]"),
                                      ({"reg": "mse"}, r"missing: \['cls'\]")])
def test_a_loss_dict_names_the_expected_keys(loss, bad):
    model = two_outputs()
    with pytest.raises(ValueError, match=r"Expected keys \['reg', 'cls'\] in loss dict, but found loss.keys\(\)=.*"
                                         + bad):
        model.compile("sgd", loss)
    with pytest.raises(ValueError, match=r"Expected keys \['reg', 'cls'\] in loss_weights dict.*unknown: \['x'\]"):
        model.compile("sgd", {"reg": "mse", "cls": "mse"}, loss_weights={"reg": 1.0, "cls": 1.0, "x": 2.0})


@pytest.mark.parametrize("make,message", [
    (lambda: optimizers.Adam(beta_1=1.0), r"`beta_1` must be in \[0, 1\). Received: beta_1=1.0"),
    (lambda: optimizers.Adam(beta_2=1.0), r"`beta_2` must be in \[0, 1\)"),
    (lambda: optimizers.Adam(beta_1=-0.1), r"`beta_1` must be in \[0, 1\)"),
    (lambda: optimizers.Adam(epsilon=float("nan")), "`epsilon` must be a finite number"),
    (lambda: optimizers.AdamW(weight_decay=-1.0), "`weight_decay` must be >= 0"),
    (lambda: optimizers.RMSprop(rho=1.0), r"`rho` must be in \[0, 1\)"),
    (lambda: optimizers.RMSprop(momentum=2.0), r"`momentum` must be in \[0, 1\]"),
    (lambda: optimizers.SGD(momentum=float("nan")), "`momentum` must be a finite number"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-0.1), "`initial_accumulator_value` must be >= 0"),
    (lambda: optimizers.Adam(clipnorm=0.0), "`clipnorm` must be > 0 or None"),
    (lambda: optimizers.SGD(clipvalue=-1.0), "`clipvalue` must be > 0 or None"),
    (lambda: optimizers.SGD(global_clipnorm=float("inf")), "`global_clipnorm` must be a finite number"),
])
def test_optimizer_arguments_are_checked_by_the_constructor(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_optimizer_arguments_set_later_are_checked_too():
    opt = optimizers.RMSprop()
    with pytest.raises(ValueError, match=r"`rho` must be in \[0, 1\)"):
        opt.rho = 1.0
    assert opt.rho == 0.9


@pytest.mark.parametrize("shape,message", [
    ((-3, -2), "Each dimension in `target_shape` must be a non-negative integer, or `-1`"),
    ((2, -1, -1), r"at most one unknown dimension \(-1\)"),
    ((2.5, 2), "must be a non-negative integer"),
    (("2", 2), "must be a non-negative integer"),
    (None, "Reshape expects `target_shape` to be a tuple of ints"),
])
def test_reshape_refuses_a_bad_target_shape_at_construction(shape, message):
    with pytest.raises((ValueError, TypeError), match=message):
        layers.Reshape(shape)


def test_a_1200_layer_sequential_works_without_recursion(tmp_path):
    """Every graph walk is iterative: build, fit, predict, summary, configs, saving, cloning and
    plotting a model deeper than Python's recursion limit."""
    depth = 1200
    assert sys.getrecursionlimit() < depth
    model = bigcore.Sequential([bigcore.Input((4,))] + [layers.Dense(4, kernel_initializer="identity")
                                                       for _ in range(depth)])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x, rtol=1e-5, atol=1e-6)  # identity layers
    model.compile(optimizers.SGD(0.0), "mse")
    model.fit(x, x, verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    assert f"Total params: {depth * 20:,}" in lines[0]
    for clone in (bigcore.Sequential.from_config(model.get_config()), bigcore.models.clone_model(model)):
        clone.set_weights(model.get_weights())
        np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    functional = bigcore.Model(model.inputs[0], model.outputs[0])
    again = bigcore.Model.from_config(json.loads(json.dumps(functional.get_config())))
    assert len(again.layers) == depth + 1
    path = str(tmp_path / "deep.bigcore")
    model.save(path)
    np.testing.assert_array_equal(bigcore.saving.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0))
    bigcore.utils.plot_model(model, to_file=str(tmp_path / "deep.dot"))
    assert os.path.getsize(tmp_path / "deep.dot") > depth


def rewrite_config(path, edit):
    """Rewrites config.json inside the .bigcore zip at path through edit(dict)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


@pytest.mark.parametrize("entry", ["Metric", "_ConfusionMetric"])
def test_a_model_file_naming_an_abstract_metric_is_refused(tmp_path, entry):
    model = small_model(compile=False)
    model.compile("sgd", "mse", metrics=["mae"])
    path = str(tmp_path / "m.bigcore")
    model.save(path)

    def edit(config):
        config["compile_config"]["metrics"] = [{"module": "bigcore.metrics", "class_name": entry, "config": {}}]

    rewrite_config(path, edit)
    with pytest.raises(ValueError, match=rf"m\.bigcore: the compile_config cannot be restored: .*names '{entry}', an "
                                         r"abstract metric class"):
        bigcore.saving.load_model(path)
    assert bigcore.saving.load_model(path, compile=False).predict(data()[0], verbose=0).shape == (8, 2)
    with pytest.raises(ValueError, match="Metric is an abstract metric class"):
        model.compile("sgd", "mse", metrics=[bigcore.metrics.Metric()])


def test_batching_elements_of_different_shapes_names_them():
    def gen():
        for i in range(7):
            yield np.ones(4 if i == 5 else 3, np.float32), np.full(2, i, np.float32)

    ds = Dataset.from_generator(gen).batch(3)
    with pytest.raises(ValueError, match=r"Dataset.batch: element 5 has shape \(4,\) \(component 0\), but element 3 "
                                         r"of the same batch has shape \(3,\)"):
        list(ds)
    model = small_model(compile=False)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="element 5 has shape"):
        model.fit(ds, verbose=0)

    def mixed():
        yield np.ones(3), np.ones(2)
        yield np.ones(3)

    with pytest.raises(ValueError, match="element 1 has the structure"):
        list(Dataset.from_generator(mixed).batch(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_targets_are_refused_with_the_index(bad):
    model = small_model()
    x, y = data()
    y[5, 1] = bad
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y)):
        with pytest.raises(ValueError, match=r"Target 0 contains NaN or inf \(first at index \(5, 1\)\)"):
            call()


def test_an_unbuilt_subclassed_or_empty_model_says_how_to_build_it():
    # subclassed models are supported since #17 (tests/test_subclassed.py): unbuilt, they say how to build
    class TwoLayers(bigcore.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(4)

        def call(self, x):
            return self.hidden(x)

    with pytest.raises(ValueError, match=r"TwoLayers\) has not been built yet: call build\(input_shape\), or fit / "
                                         r"predict / the model on data first"):
        TwoLayers().count_params()
    m = TwoLayers()
    x = np.ones((2, 3), np.float32)
    assert m.predict(x, verbose=0).shape == (2, 4)  # predict builds it from the data
    k, b = m.hidden.get_weights()
    np.testing.assert_allclose(m.predict(x, verbose=0), x @ k + b, rtol=1e-6)
    with pytest.raises(ValueError, match=r"has not been built: it has no inputs yet. Create it as "
                                         r"bigcore.Model\(inputs, outputs\)"):
        bigcore.Model().predict(np.ones((2, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_input_finite_check_exact_when_the_sum_overflows(dtype):
    """The check sums first (a finite sum clears the array): finite values whose sum overflows must
    still pass, and +inf beside -inf (sum NaN), or one NaN among huge values, must still be refused
    with the first index; no overflow warning either way."""
    from bigcore.models import data_adapter

    big = np.finfo(dtype).max / 2
    a = np.full((40, 3), big, dtype)
    a[::2] *= -1 if dtype == np.float16 else 1  # float16: mixed signs too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data_adapter._check_finite(a, "Input 0")  # finite: no error
        for bad_at, values in [((7, 2), [np.inf]), ((3, 0), [np.inf, -np.inf]), ((39, 1), [np.nan])]:
            b = a.copy()
            b[bad_at] = values[0]
            if len(values) > 1:
                b[bad_at[0] + 1, 0] = values[1]
            with pytest.raises(ValueError, match=rf"Input 0 contains NaN or inf \(first at index \({bad_at[0]}, {bad_at[1]}\)\)"):
                data_adapter._check_finite(b, "Input 0")
