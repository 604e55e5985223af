"""Bad input gets a Python exception that names what was expected and what was given; odd but
valid input (bool, int, float64, strided, read-only, empty) works and answers like the plain case."""

import warnings

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers

IN, OUT = 784, 10


def model(loss="sparse_categorical_crossentropy", compile=True, metrics=("accuracy",)):
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(8, activation="relu", input_shape=(IN,)),
                            layers.Dense(OUT, activation="softmax")])
    if compile:
        m.compile(optimizer=optimizers.SGD(0.01), loss=loss, metrics=list(metrics))
    return m


def xy(n=6, width=IN):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, width)).astype(np.float32), rng.integers(0, OUT, n)


def run(model_, method, x, y=None, **kw):
    """fit / evaluate / predict / train_on_batch with the same (x, y)."""
    if method == "predict":
        return model_.predict(x, verbose=0, **kw)
    if method == "train_on_batch":
        return model_.train_on_batch(x, y, **kw)
    return getattr(model_, method)(x, y, verbose=0, **kw)


METHODS = ["fit", "evaluate", "predict", "train_on_batch"]
TRAIN_METHODS = ["fit", "evaluate", "train_on_batch"]


# --- inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_wrong_input_width(method):
    x, y = xy(width=IN + 1)
    with pytest.raises(ValueError) as e:
        run(model(), method, x, y)
    assert "784" in str(e.value) and "785" in str(e.value)


# (6, IN, 1) is no error: Keras squeezes an extra last axis of 1 (tests/test_array_like_inputs.py)
@pytest.mark.parametrize("shape", [(6, IN, 2), (IN,), (6, 28, 28)])
@pytest.mark.parametrize("method", METHODS)
def test_wrong_input_ndim(method, shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError) as e:
        run(model(), method, x, np.zeros(6, np.int64))
    msg = str(e.value)
    assert "(None, 784)" in msg and str(shape) in msg


@pytest.mark.parametrize("bad", [np.full((3, IN), "a"), np.zeros((3, IN), object),
                                 np.zeros((3, IN), np.complex64)], ids=["str", "object", "complex"])
@pytest.mark.parametrize("method", METHODS)
def test_non_numeric_input_is_a_type_error(method, bad):
    with pytest.raises(TypeError) as e:
        run(model(), method, bad, np.zeros(3, np.int64))
    assert str(bad.dtype) in str(e.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", METHODS)
def test_nan_inf_inputs(method, value):
    x, y = xy()
    x[2, 5] = value
    with pytest.raises(ValueError, match=r"NaN or inf.*\(2, 5\)"):
        run(model(), method, x, y)


def test_float64_beyond_float32_range():
    """Finite float64 that overflows float32 is caught after the cast, not fed to the kernels."""
    x = xy()[0].astype(np.float64)
    x[4, 7] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "overflow encountered in cast"
        with pytest.raises(ValueError, match=r"\(4, 7\)"):
            model().predict(x, verbose=0)


@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_nan_targets(method):
    x, _ = xy()
    y = np.zeros((6, OUT), np.float32)
    y[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        run(model("categorical_crossentropy"), method, x, y)


def test_two_input_model_wrong_count_and_width():
    a, b = bigcore.Input(shape=(3,), name="a"), bigcore.Input(shape=(2,), name="b")
    m = bigcore.Model([a, b], [layers.Dense(1)(a), layers.Dense(1)(b)])
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="expects 2 input arrays, got (1|one)"):
        m.predict(x, verbose=0)
    with pytest.raises(ValueError, match=r"Input 1.*\(None, 2\).*\(4, 3\)"):
        m.predict([x, x], verbose=0)
    with pytest.raises(ValueError, match=r"Missing input data for \['b'\]"):
        m.predict({"a": x}, verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples.*\[3, 4\]"):
        m.predict([x, np.zeros((3, 2), np.float32)], verbose=0)


# --- targets ------------------------------------------------------------------------------

@pytest.mark.parametrize("label", [10, 11, -1])
@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_sparse_labels_out_of_range(method, label):
    x, y = xy()
    y[3] = label
    with pytest.raises(ValueError) as e:
        run(model(), method, x, y)
    msg = str(e.value)
    assert "[0, 10)" in msg and str(label) in msg


@pytest.mark.parametrize("label", [1.5, np.nan])
@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_sparse_labels_not_integer(method, label):
    x, y = xy()
    y = y.astype(np.float64)
    y[3] = label
    with pytest.raises(ValueError, match="integer labels"):
        run(model(), method, x, y)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.float32, np.float64])
def test_sparse_labels_any_integral_dtype(dtype):
    x, y = xy()
    ref = model().evaluate(x, y, verbose=0)
    assert model().evaluate(x, y.astype(dtype), verbose=0) == ref
    assert model().evaluate(x, y.astype(dtype).reshape(-1, 1), verbose=0) == ref


def test_sparse_labels_wrong_shape():
    x, _ = xy()
    with pytest.raises(ValueError, match=r"\(None,\).*\(6, 2\)"):
        model().fit(x, np.zeros((6, 2), np.int64), verbose=0)


@pytest.mark.parametrize("width", [9, 11])
@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_one_hot_targets_wrong_width(method, width):
    x, _ = xy()
    y = np.eye(width, dtype=np.float32)[np.arange(6) % width]
    with pytest.raises(ValueError) as e:
        run(model("categorical_crossentropy"), method, x, y)
    msg = str(e.value)
    assert "(None, 10)" in msg and f"(6, {width})" in msg


@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_sample_count_mismatch(method):
    x, y = xy()
    with pytest.raises(ValueError) as e:
        run(model(), method, x, y[:5])
    assert "6" in str(e.value) and "5" in str(e.value)


def test_sample_weight_count_mismatch():
    x, y = xy()
    with pytest.raises(ValueError, match=r"one value per sample: shape \(6,\) or \(6, 1\). Received: shape \(4,\)"):
        model().fit(x, y, sample_weight=np.ones(4), verbose=0)
    # six values, but not one per sample: refused, not read as six per-sample weights
    with pytest.raises(ValueError, match=r"Received: shape \(3, 2\)"):
        model().fit(x, y, sample_weight=np.ones((3, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"one per timestep.*outputs here have \[1\]"):  # no sequence output
        model().fit(x, y, sample_weight=np.ones((6, 2)), verbose=0)
    model().fit(x, y, sample_weight=np.ones((6, 1)), verbose=0)  # Keras's column of weights


@pytest.mark.parametrize("method", TRAIN_METHODS)
def test_missing_targets(method):
    x, _ = xy()
    with pytest.raises(ValueError, match="y is None"):
        run(model(), method, x, None)


# --- compile ------------------------------------------------------------------------------

@pytest.mark.parametrize("method", TRAIN_METHODS + ["test_on_batch"])
def test_use_before_compile(method):
    x, y = xy()
    m = model(compile=False)
    with pytest.raises(RuntimeError, match="compile"):
        if method == "test_on_batch":
            m.test_on_batch(x, y)
        else:
            run(m, method, x, y)
    # predict needs no compile (as in Keras), and the model still works once compiled.
    assert m.predict(x, verbose=0).shape == (6, OUT)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.isfinite(m.evaluate(x, y, verbose=0))


@pytest.mark.parametrize("kwargs,word", [
    ({"loss": "nope"}, "loss"),
    ({"loss": "mse", "optimizer": "nope"}, "optimizer"),
    ({"loss": "mse", "metrics": ["nope"]}, "metric"),
])
def test_unknown_names_in_compile(kwargs, word):
    with pytest.raises(ValueError) as e:
        model(compile=False).compile(**kwargs)
    msg = str(e.value)
    assert "'nope'" in msg and word in msg.lower()


def test_compile_without_loss():
    with pytest.raises(ValueError, match="loss"):
        model(compile=False).compile(optimizer="sgd")


@pytest.mark.parametrize("make", [lambda: layers.Dense(4, activation="nope"), lambda: layers.Activation("nope")],
                         ids=["Dense", "Activation"])
def test_unknown_activation(make):
    with pytest.raises(ValueError, match=r"Unknown activation: 'nope'.*relu"):
        make()


# --- layer and call arguments ---------------------------------------------------------------

@pytest.mark.parametrize("units", [-3, 0, 2.5, True, "8"])
def test_dense_invalid_units(units):
    with pytest.raises(ValueError) as e:
        layers.Dense(units)
    assert f"units={units!r}" in str(e.value)


@pytest.mark.parametrize("rate", [1.5, -0.1, 7])
def test_dropout_invalid_rate(rate):
    with pytest.raises(ValueError) as e:
        layers.Dropout(rate)
    assert f"rate={rate!r}" in str(e.value)


@pytest.mark.parametrize("batch_size", [0, -2])
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_invalid_batch_size(method, batch_size):
    x, y = xy()
    with pytest.raises(ValueError) as e:
        run(model(), method, x, y, batch_size=batch_size)
    assert "batch_size" in str(e.value) and repr(batch_size) in str(e.value)


@pytest.mark.parametrize("split", [1.0, 1.5, -0.2])
def test_invalid_validation_split(split):
    x, y = xy()
    with pytest.raises(ValueError, match=f"validation_split.*{split}"):
        model().fit(x, y, validation_split=split, verbose=0)


def test_fit_on_no_samples():
    with pytest.raises(ValueError, match="no training samples"):
        model().fit(np.zeros((0, IN), np.float32), np.zeros(0, np.int64), verbose=0)


def test_set_weights_wrong_count_and_shape():
    m = model()
    with pytest.raises(ValueError, match="length 1.*expecting 4"):
        m.set_weights([np.zeros(3)])
    ws = m.get_weights()
    ws[0] = np.zeros((IN + 1, 8))
    with pytest.raises(ValueError, match=r"\(784, 8\).*\(785, 8\)"):
        m.set_weights(ws)


# --- config -------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -1])
def test_set_num_threads_invalid(restore_threads, n):
    with pytest.raises(ValueError) as e:
        bigcore.config.set_num_threads(n)
    assert str(n) in str(e.value)
    assert bigcore.config.get_num_threads() == restore_threads


@pytest.mark.parametrize("n", ["2", 2.0, None])
def test_set_num_threads_wrong_type(restore_threads, n):
    with pytest.raises(TypeError):
        bigcore.config.set_num_threads(n)
    assert bigcore.config.get_num_threads() == restore_threads


def test_set_cpu_isa_unknown(restore_isa):
    with pytest.raises(ValueError) as e:
        bigcore.config.set_cpu_isa("nope")
    msg = str(e.value)
    assert "'nope'" in msg and "ref" in msg
    assert bigcore.config.cpu_features()["isa"] == restore_isa
    with pytest.raises(TypeError):
        bigcore.config.set_cpu_isa(3)


# --- valid but unusual input ----------------------------------------------------------------

def test_predict_zero_rows():
    m = model()
    p = m.predict(np.zeros((0, IN), np.float32), verbose=0)
    assert p.shape == (0, OUT) and p.dtype == np.float32
    a, b = bigcore.Input(shape=(3,)), bigcore.Input(shape=(2,))
    two = bigcore.Model([a, b], [layers.Dense(4)(a), layers.Dense(1)(b)])
    outs = two.predict([np.zeros((0, 3)), np.zeros((0, 2))], verbose=0)
    assert [o.shape for o in outs] == [(0, 4), (0, 1)]


def test_bool_input_is_cast():
    m = model()
    xb = np.random.default_rng(0).random((6, IN)) > 0.5
    assert np.array_equal(m.predict(xb, verbose=0), m.predict(xb.astype(np.float32), verbose=0))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int64, np.int32, np.uint8])
def test_other_numeric_dtypes(dtype):
    m = model()
    x = np.random.default_rng(0).integers(0, 5, (6, IN)).astype(dtype)
    ref = m.predict(x.astype(np.float32), verbose=0)
    assert np.array_equal(m.predict(x, verbose=0), ref)
    y = np.arange(6) % OUT
    assert m.evaluate(x, y, verbose=0) == m.evaluate(x.astype(np.float32), y, verbose=0)


def strided_variants(x):
    wide = np.zeros((x.shape[0], 2 * IN), np.float32)
    wide[:, ::2] = x
    rows = np.zeros((2 * x.shape[0], IN), np.float32)
    rows[::2] = x
    ro = x.copy()
    ro.setflags(write=False)
    ro_strided = wide.copy()[:, ::2]
    ro_strided.setflags(write=False)
    return {"column_stride": wide[:, ::2], "row_stride": rows[::2], "fortran": np.asfortranarray(x),
            "read_only": ro, "read_only_strided": ro_strided}


@pytest.mark.parametrize("kind", ["column_stride", "row_stride", "fortran", "read_only", "read_only_strided"])
def test_non_contiguous_and_read_only_inputs(kind):
    x, y = xy(20)
    m = model()
    ref = m.predict(x, verbose=0)
    ref_eval = m.evaluate(x, y, verbose=0)
    v = strided_variants(x)[kind]
    before = v.copy()
    assert np.array_equal(m.predict(v, verbose=0), ref)
    assert m.evaluate(v, y, verbose=0) == ref_eval
    y_ro = y.copy()
    y_ro.setflags(write=False)
    m.fit(v, y_ro, epochs=1, batch_size=5, verbose=0)
    assert np.array_equal(v, before)  # input never written to


def test_fit_does_not_modify_caller_arrays():
    x, y = xy(20)
    x0, y0 = x.copy(), y.copy()
    model().fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)
