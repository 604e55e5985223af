"""Keras 3's weight constraints (MaxNorm, MinMaxNorm, UnitNorm, NonNeg), applied natively after each
optimizer update: a float64 NumPy reference of Keras's formulas step by step, parity with Keras 3 on
torch, saving both ways, and what is refused (unknown names, unsupported axes, a constraint of the
user's own)."""

import numpy as np
import pytest

import bigcore
from bigcore import constraints, layers, optimizers
from layer_test import KERAS_WARNING

EPS = 1e-7  # Keras's backend.epsilon()


# --- float64 references: keras/src/constraints/constraints.py, formula by formula ----------------

def _norms(w, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return np.sqrt(np.sum(np.square(w), axis=axes, keepdims=True))


def reference(c, w):
    w = np.asarray(w, np.float64)
    if isinstance(c, constraints.NonNeg):
        return np.maximum(w, 0)
    n = _norms(w, c.axis)
    if isinstance(c, constraints.UnitNorm):
        return w / (EPS + n)
    if isinstance(c, constraints.MaxNorm):
        return w * (np.clip(n, 0, c.max_value) / (EPS + n))
    desired = c.rate * np.clip(n, c.min_value, c.max_value) + (1 - c.rate) * n
    return w * (desired / (EPS + n))


CONV_AXIS = [0, 1, 2]

# (id, kernel constraint for a Dense, for a Conv2D, bias constraint)
CASES = [
    ("max_norm", lambda: constraints.MaxNorm(0.5), lambda: constraints.MaxNorm(0.6, axis=CONV_AXIS),
     lambda: constraints.MaxNorm(0.1)),
    ("max_norm_conv_axis0", lambda: constraints.MaxNorm(0.3), lambda: constraints.MaxNorm(0.3, axis=0), lambda: None),
    ("min_max_norm", lambda: constraints.MinMaxNorm(0.8, 1.2, rate=0.7),
     lambda: constraints.MinMaxNorm(0.5, 0.9, rate=0.6, axis=CONV_AXIS), lambda: constraints.MinMaxNorm(0.2, 0.3)),
    ("min_max_norm_default", lambda: constraints.MinMaxNorm(), lambda: constraints.MinMaxNorm(axis=CONV_AXIS),
     lambda: None),
    ("unit_norm", lambda: constraints.UnitNorm(), lambda: constraints.UnitNorm(axis=CONV_AXIS),
     lambda: constraints.UnitNorm()),
    ("non_neg", lambda: constraints.NonNeg(), lambda: constraints.NonNeg(), lambda: constraints.NonNeg()),
]
IDS = [c[0] for c in CASES]


def dense_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)


def conv_data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 2)).astype(np.float32), rng.normal(size=(n, 4, 4, 3)).astype(np.float32)


# Biases of norm ~1: a norm far below 1 would make UnitNorm magnify the float32 round-off of the
# update itself (the same in an unconstrained run) past the 1e-5 of the Keras comparison.
BIAS_INIT = bigcore.initializers.RandomNormal(stddev=0.5, seed=1)


def dense_model(kernel=None, bias=None, optimizer=None):
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input(shape=(5,)), layers.Dense(3, kernel_constraint=kernel, bias_constraint=bias,
                                                                    bias_initializer=BIAS_INIT)])
    m.compile(optimizer=optimizer or optimizers.SGD(learning_rate=0.5), loss="mse")
    return m


def conv_model(kernel=None, bias=None, optimizer=None):
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input(shape=(6, 6, 2)),
                            layers.Conv2D(3, 3, kernel_constraint=kernel, bias_constraint=bias,
                                          kernel_initializer=bigcore.initializers.RandomNormal(stddev=0.5),
                                          bias_initializer=BIAS_INIT)])
    m.compile(optimizer=optimizer or optimizers.SGD(learning_rate=0.5), loss="mse")
    return m


OPTIMIZERS = {"sgd": lambda: optimizers.SGD(learning_rate=0.5), "adam": lambda: optimizers.Adam(0.05)}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model", ["dense", "conv"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_step_is_kerass_formula_on_the_unconstrained_update(case, model, opt):
    """After each step the weights are the float64 formula applied to what the same step gives
    without the constraint (a twin model at the same weights and optimizer state)."""
    _, dense_kernel, conv_kernel, bias = case
    build, (x, y) = (dense_model, dense_data()) if model == "dense" else (conv_model, conv_data())
    kernel = (dense_kernel if model == "dense" else conv_kernel)()
    bias = bias()
    m = build(kernel, bias, OPTIMIZERS[opt]())
    free = build(None, None, OPTIMIZERS[opt]())
    free.set_weights(m.get_weights())
    moved = False
    for _ in range(3):
        m.train_on_batch(x, y)
        free.train_on_batch(x, y)
        (k, b), (fk, fb) = m.get_weights(), free.get_weights()
        np.testing.assert_allclose(k, reference(kernel, fk), rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(b, fb if bias is None else reference(bias, fb), rtol=2e-5, atol=1e-6)
        moved |= not np.allclose(k, fk, rtol=1e-3, atol=1e-4)  # the constraint did something
        free.set_weights(m.get_weights())
    assert moved


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("model", ["dense", "conv"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_three_steps_match_keras(keras, case, model, opt):
    _, dense_kernel, conv_kernel, bias = case
    kernel, bias = (dense_kernel if model == "dense" else conv_kernel)(), bias()
    ours_opt = OPTIMIZERS[opt]()
    keras_opt = keras.optimizers.SGD(0.5) if opt == "sgd" else keras.optimizers.Adam(0.05)

    def to_keras(c):
        return None if c is None else keras.constraints.get(constraints.serialize(c))

    if model == "dense":
        (x, y), m = dense_data(), dense_model(kernel, bias, ours_opt)
        ki = keras.Input(shape=(5,))
        ko = keras.layers.Dense(3, kernel_constraint=to_keras(kernel), bias_constraint=to_keras(bias))(ki)
    else:
        (x, y), m = conv_data(), conv_model(kernel, bias, ours_opt)
        ki = keras.Input(shape=(6, 6, 2))
        ko = keras.layers.Conv2D(3, 3, kernel_constraint=to_keras(kernel), bias_constraint=to_keras(bias))(ki)
    km = keras.Model(ki, ko)
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras_opt, loss="mse")
    for _ in range(3):
        m.train_on_batch(x, y)
        km.train_on_batch(x, y)
    for a, b in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_numpy_call_is_kerass_formula():
    w = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype(np.float32)
    for c in (constraints.MaxNorm(0.7, axis=[0, 1, 2]), constraints.MaxNorm(0.7), constraints.UnitNorm([0, 1, 2]),
              constraints.MinMaxNorm(1.0, 2.0, 0.5, [0, 1, 2]), constraints.NonNeg()):
        np.testing.assert_allclose(c(w), reference(c, w), rtol=1e-5, atol=1e-7)
    assert constraints.Constraint()(w) is w


def test_fit_keeps_every_column_in_range():
    x, y = dense_data(64)
    m = dense_model(constraints.MinMaxNorm(0.4, 0.6), constraints.NonNeg())
    m.fit(x * 5, y * 5, epochs=3, batch_size=16, verbose=0)
    k, b = m.get_weights()
    norms = np.sqrt((k.astype(np.float64) ** 2).sum(axis=0))
    assert np.all(norms >= 0.4 - 1e-5) and np.all(norms <= 0.6 + 1e-5)
    assert b.min() >= 0


# --- names, configs, saving ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                                       ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                                       ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm),
                                       ("min_max_norm", constraints.MinMaxNorm),
                                       ("MinMaxNorm", constraints.MinMaxNorm)])
def test_names_and_aliases(name, cls):
    assert type(constraints.get(name)) is cls
    assert getattr(constraints, cls.__name__) is cls
    c = constraints.get({"class_name": name, "config": {}})
    assert type(c) is cls and type(constraints.deserialize(constraints.serialize(c))) is cls
    assert constraints.max_norm is constraints.MaxNorm and constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.unit_norm is constraints.UnitNorm and constraints.non_neg is constraints.NonNeg


def test_configs_round_trip_and_match_keras_defaults(keras):
    for c in (constraints.MaxNorm(1.5, axis=[0, 1, 2]), constraints.MinMaxNorm(0.1, 0.9, 0.3, [0, 1, 2]),
              constraints.UnitNorm(axis=0), constraints.NonNeg()):
        again = type(c).from_config(c.get_config())
        assert again.get_config() == c.get_config()
        s = constraints.serialize(c)
        assert constraints.get(s).get_config() == c.get_config()
        assert constraints.get({"module": "keras.constraints", "registered_name": None, **s}).get_config() == \
            c.get_config()
        theirs = keras.constraints.get(s)
        assert type(theirs).__name__ == type(c).__name__ and theirs.get_config() == c.get_config()
    for name in ("MaxNorm", "MinMaxNorm", "UnitNorm", "NonNeg"):
        assert getattr(constraints, name)().get_config() == getattr(keras.constraints, name)().get_config()


@pytest.mark.parametrize("bad", ["max_nrom", "l2", {"class_name": "Clip", "config": {}}, 3])
def test_unknown_constraints_are_refused(bad):
    with pytest.raises(ValueError, match="constraint"):
        constraints.get(bad)
    with pytest.raises(ValueError, match="constraint"):
        layers.Dense(3, kernel_constraint=bad)


@pytest.mark.parametrize("cls, kw", [(constraints.MaxNorm, {}), (constraints.UnitNorm, {}),
                                     (constraints.MinMaxNorm, {})])
@pytest.mark.parametrize("axis", [1, -1, [1, 2], [0, 2], (1,), [], None, "0"])
def test_unsupported_axes_are_refused(cls, kw, axis):
    with pytest.raises(ValueError, match=r"axis=.*not supported; supported: axis=0, or the leading axes"):
        cls(axis=axis, **kw)


def test_an_axis_the_weight_lacks_is_refused_at_compile():
    m = bigcore.Sequential([layers.Input(shape=(5,)), layers.Dense(3, kernel_constraint=constraints.MaxNorm(
        1.0, axis=[0, 1, 2]))])
    with pytest.raises(ValueError, match=r"'sequential.*/dense.*/kernel' of shape \(5, 3\) has no axis \[0, 1, 2\]"):
        m.compile(optimizer="sgd", loss="mse")


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="max_value must be > 0"):
        constraints.MaxNorm(0)
    with pytest.raises(ValueError, match="rate must be a finite number"):
        constraints.MinMaxNorm(rate=float("nan"))


class Clip(constraints.Constraint):
    def __call__(self, w):
        return np.clip(w, -0.1, 0.1)


class MyMaxNorm(constraints.MaxNorm):
    def __call__(self, w):
        return super().__call__(w) * 0.5


class Identity(constraints.Constraint):
    pass


@pytest.mark.parametrize("mine", [Clip(), MyMaxNorm(1.0)], ids=["Constraint", "MaxNorm"])
def test_a_constraint_of_the_users_own_is_refused_clearly(mine):
    m = bigcore.Sequential([layers.Input(shape=(5,)), layers.Dense(3, kernel_constraint=mine)])
    with pytest.raises(TypeError, match=rf"{type(mine).__name__}, whose __call__ bigcore cannot run.*MaxNorm "
                                        r"\(max_norm\), MinMaxNorm \(min_max_norm\), UnitNorm \(unit_norm\), "
                                        r"NonNeg \(non_neg\)"):
        m.compile(optimizer="sgd", loss="mse")  # refused when compiled, not trained without it


def test_the_identity_base_class_changes_nothing():
    x, y = dense_data()
    m, free = dense_model(Identity()), dense_model()
    m.train_on_batch(x, y)
    free.train_on_batch(x, y)
    for a, b in zip(m.get_weights(), free.get_weights()):
        np.testing.assert_array_equal(a, b)


def _constrained(kernel_axis=CONV_AXIS):
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((6, 6, 2))
    h = layers.Conv2D(3, 3, kernel_constraint=constraints.MaxNorm(0.6, axis=kernel_axis),
                      bias_constraint="non_neg")(inp)
    h = layers.Flatten()(h)
    out = layers.Dense(2, kernel_constraint=constraints.MinMaxNorm(0.2, 0.5, rate=0.8),
                       bias_constraint=constraints.UnitNorm())(h)
    m = bigcore.Model(inp, out)
    m.compile(optimizer=optimizers.Adam(0.05), loss="mse")
    return m


def _check_constraints(m):
    conv, dense = [layer for layer in m.layers if isinstance(layer, (layers.Conv2D, layers.Dense))]
    assert conv.kernel_constraint.get_config() == {"max_value": 0.6, "axis": CONV_AXIS}
    assert isinstance(conv.bias_constraint, constraints.NonNeg)
    assert dense.kernel_constraint.get_config() == {"min_value": 0.2, "max_value": 0.5, "rate": 0.8, "axis": 0}
    assert isinstance(dense.bias_constraint, constraints.UnitNorm)


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("suffix", [".bigcore", ".keras"])
def test_save_and_load_keep_the_constraints(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    m = _constrained()
    m.train_on_batch(x, y)
    m.save(str(tmp_path / f"m{suffix}"))
    back = bigcore.saving.load_model(str(tmp_path / f"m{suffix}"))
    _check_constraints(back)
    m.train_on_batch(x, y)
    back.train_on_batch(x, y)  # the loaded model applies them too
    for a, b in zip(m.get_weights(), back.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    _check_constraints(bigcore.Model.from_config(m.get_config()))


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_keras_reads_our_constraints_and_we_read_kerass(keras, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(8, 2)).astype(np.float32)
    m = _constrained()
    m.save(str(tmp_path / "ours.keras"))
    km = keras.models.load_model(tmp_path / "ours.keras")
    conv, dense = [layer for layer in km.layers if type(layer).__name__ in ("Conv2D", "Dense")]
    assert type(conv.kernel_constraint) is keras.constraints.MaxNorm
    assert conv.kernel_constraint.get_config() == {"max_value": 0.6, "axis": CONV_AXIS}
    assert type(conv.bias_constraint) is keras.constraints.NonNeg
    assert type(dense.kernel_constraint) is keras.constraints.MinMaxNorm
    assert type(dense.bias_constraint) is keras.constraints.UnitNorm
    for _ in range(2):  # both apply them the same way
        m.train_on_batch(x, y)
        km.train_on_batch(x, y)
    for a, b in zip(m.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    km.save(tmp_path / "theirs.keras")
    back = bigcore.saving.load_model(str(tmp_path / "theirs.keras"))
    _check_constraints(back)
