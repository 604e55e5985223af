"""Lamb, Adafactor and Ftrl: several fit steps against Keras 3 (torch backend) on a model whose
weights have rank 1, 2, 3 and 4 (Adafactor factors the last two axes of rank >= 2), with the base
optimizer's weight decay, clipping, EMA and schedules; names and configs; the state through Keras
files both ways and exact resume from .bigcore; thread-count invariance.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from keras_training_checks import (bigcore_file_trains_on_in_keras, config_like_keras, fit_like_keras,
                                   keras_file_trains_on, keras_weights, mlp_resumes_bit_identical,
                                   optimizer_state_like_keras, same_bits_on_1_and_2_threads,
                                   same_bits_on_every_isa)
from dense_training import DenseTraining
from layer_test import KERAS_WARNING
from refusal_checks import refusal_test
from test_parity import assert_weights_close
from test_saving import X8, Y3, _resume_pair, assert_same_weights, mlp, slots

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's own, from its fit internals

NEW = ("Lamb", "Adafactor", "Ftrl")
RNG = np.random.default_rng(3)
XC = RNG.normal(size=(40, 6, 6, 2)).astype(np.float32)
YC = RNG.normal(size=(40, 2)).astype(np.float32)

# (constructor over the optimizers module, bigcore's or Keras's)
CASES = {
    "lamb": lambda o: o.Lamb(learning_rate=0.01),
    "lamb_betas_eps": lambda o: o.Lamb(learning_rate=0.02, beta_1=0.5, beta_2=0.8, epsilon=1e-3),
    "lamb_weight_decay_clipnorm": lambda o: o.Lamb(learning_rate=0.01, weight_decay=0.1, clipnorm=0.05),
    "lamb_schedule_ema": lambda o: o.Lamb(learning_rate=o.schedules.ExponentialDecay(0.02, 2, 0.5), use_ema=True,
                                          ema_momentum=0.5),
    "adafactor": lambda o: o.Adafactor(learning_rate=0.05),
    "adafactor_default_rate": lambda o: o.Adafactor(),
    "adafactor_args": lambda o: o.Adafactor(learning_rate=0.3, beta_2_decay=-0.5, epsilon_1=1e-6, epsilon_2=0.05,
                                            clip_threshold=0.5, relative_step=False),
    "adafactor_schedule_global_clipnorm": lambda o: o.Adafactor(
        learning_rate=o.schedules.PiecewiseConstantDecay([2], [0.2, 0.05]), global_clipnorm=0.1, weight_decay=0.2),
    "adafactor_clipvalue_ema": lambda o: o.Adafactor(learning_rate=0.1, clipvalue=0.01, use_ema=True,
                                                     ema_overwrite_frequency=3),
    "ftrl": lambda o: o.Ftrl(learning_rate=0.05),
    "ftrl_regularized": lambda o: o.Ftrl(learning_rate=0.1, learning_rate_power=-0.7, initial_accumulator_value=0.5,
                                         l1_regularization_strength=0.01, l2_regularization_strength=0.1,
                                         l2_shrinkage_regularization_strength=0.05, beta=0.3),
    "ftrl_power_0_clipvalue": lambda o: o.Ftrl(learning_rate=0.02, learning_rate_power=0.0, clipvalue=0.05,
                                               initial_accumulator_value=0.0),
    "ftrl_schedule_weight_decay": lambda o: o.Ftrl(learning_rate=o.schedules.InverseTimeDecay(0.1, 2, 1.0),
                                                   weight_decay=0.1, l1_regularization_strength=0.001),
}


# --- the float64 rules of tests/reference.py, on every CPU path ------------------------------------------

MSE, CCE = ("mse", "linear", "real", {}), ("categorical_crossentropy", "softmax", "onehot", {})
REF_CASES = {
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "ftrl_regularized": ("Ftrl", {"learning_rate": 0.2, "learning_rate_power": -0.7, "initial_accumulator_value": 0.3,
                                  "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.1,
                                  "l2_shrinkage_regularization_strength": 0.05, "beta": 0.5}),
    "lamb": ("Lamb", {"learning_rate": 0.05}),
    "lamb_betas_weight_decay": ("Lamb", {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.8, "epsilon": 1e-3,
                                         "weight_decay": 0.2}),
    "adafactor": ("Adafactor", {"learning_rate": 0.1}),
    "adafactor_args": ("Adafactor", {"learning_rate": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.05,
                                     "clip_threshold": 0.5}),
}


@pytest.mark.parametrize("case", REF_CASES.values(), ids=REF_CASES.keys())
@pytest.mark.parametrize("loss_case", [MSE, CCE], ids=["mse", "cce_softmax"])
def test_steps_match_the_float64_rule(isa, case, loss_case):
    """5 steps of a 9 -> 7 Dense layer (a factored 9 x 7 kernel and a 7 bias for Adafactor)."""
    s = DenseTraining(loss_case, case, k_in=9, c_out=7)
    for _ in range(5):
        s.step()


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"global_clipnorm": 0.2}, {"clipvalue": 0.02}],
                         ids=["clipnorm", "global_clipnorm", "clipvalue"])
@pytest.mark.parametrize("name", NEW)
def test_gradient_clipping(name, clip):
    s = DenseTraining(("categorical_crossentropy", "linear", "onehot", {"from_logits": True}),
                      (name, {"learning_rate": 0.05}), reg="l2", opt_extra=clip)
    for _ in range(4):
        s.step()


def test_training_bit_identical_on_every_isa(restore_isa, supported_isas):
    same_bits_on_every_isa(supported_isas, {
        name: lambda name=name: getattr(optimizers, name)(learning_rate=0.05, weight_decay=0.1) for name in NEW})


# --- Keras 3 -----------------------------------------------------------------------------------------------

def _conv_model(make):
    """Conv2D (rank-4 kernel), Conv1D (rank 3), Dense (rank 2), biases (rank 1)."""
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="tanh"),
                            layers.Reshape((16, 3)), layers.Conv1D(4, 3, activation="tanh"), layers.Flatten(),
                            layers.Dense(5, activation="tanh"), layers.Dense(2)])
    m.compile(optimizer=make(optimizers), loss="mse")
    return m


def _keras_conv_model(keras, make, weights):
    L = keras.layers
    km = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, activation="tanh"), L.Reshape((16, 3)),
                           L.Conv1D(4, 3, activation="tanh"), L.Flatten(), L.Dense(5, activation="tanh"),
                           L.Dense(2)])
    km.set_weights(weights)
    km.compile(optimizer=make(keras.optimizers), loss="mse")
    return km


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_fit_matches_keras(keras, make):
    m = _conv_model(make)
    assert sorted({w.ndim for w in m.get_weights()}) == [1, 2, 3, 4]
    km = _keras_conv_model(keras, make, m.get_weights())
    fit_like_keras(m, km, XC, YC, 5, lambda: _conv_model(make), rtol=1e-5, atol=1e-6, every_weight_moves=False)


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_optimizer_state_matches_keras(keras, make):
    """Keras's optimizer variables, in its order and shapes (Adafactor's factored r and c, and
    their scalar placeholders below rank 2), equal the state bigcore writes for its files."""
    m = _conv_model(make)
    km = _keras_conv_model(keras, make, m.get_weights())
    optimizer_state_like_keras(m, km, XC, YC, rtol=2e-5, atol=1e-6)


def test_adafactor_factors_the_last_two_axes(keras):
    """The factored statistics are row and column means of g^2 + epsilon_1 over the last two axes:
    checked directly against NumPy after one step from zero state (beta_2_t = 1 - 1^decay = 0)."""
    m = _conv_model(lambda o: o.Adafactor(learning_rate=0.05))
    grads_model = _conv_model(lambda o: o.SGD(learning_rate=1.0))
    before = grads_model.get_weights()
    grads_model.train_on_batch(XC[:8], YC[:8])
    grads = [b - a for a, b in zip(grads_model.get_weights(), before)]  # SGD at rate 1: w - g
    m.train_on_batch(XC[:8], YC[:8])
    state = bigcore.saving.keras_weights.optimizer_slots(m)[2:]  # after iterations and learning_rate
    for k, g in enumerate(grads):
        r, c, v = (np.asarray(s.get()) for s in state[3 * k:3 * k + 3])
        sq = g.astype(np.float64) ** 2 + 1e-30
        if g.ndim < 2:
            assert r.shape == c.shape == ()
            np.testing.assert_allclose(v, sq, rtol=1e-5)
            continue
        np.testing.assert_allclose(r, sq.mean(axis=-1), rtol=1e-5, err_msg=f"weight {k}: r")
        np.testing.assert_allclose(c, sq.mean(axis=-2), rtol=1e-5, err_msg=f"weight {k}: c")
        r64 = sq.mean(axis=-1)
        want_v = (r64 / r64.mean(axis=-1, keepdims=True))[..., None] * sq.mean(axis=-2)[..., None, :]
        np.testing.assert_allclose(v, want_v, rtol=1e-5, err_msg=f"weight {k}: v")


@pytest.mark.parametrize("name", NEW)
def test_defaults_and_config_match_keras(keras, name):
    keras_config = config_like_keras(getattr(optimizers, name)(), getattr(keras.optimizers, name)(), name.lower())
    if name == "Lamb":  # Keras 3 has no string for it
        for get in (optimizers.get, keras.optimizers.get):
            with pytest.raises(ValueError, match="interpret optimizer"):
                get("lamb")
    else:
        assert type(optimizers.get(name.lower())).__name__ == type(keras.optimizers.get(name.lower())).__name__ == name
    assert type(optimizers.deserialize({"class_name": name, "config": keras_config})).__name__ == name


@pytest.mark.parametrize("name", NEW)
def test_names_serialize_and_deserialize(name):
    cls = getattr(optimizers, name)
    if name != "Lamb":
        assert type(optimizers.get(name.lower())) is cls and type(optimizers.get(name.upper())) is cls
    opt = cls(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), weight_decay=0.01, clipnorm=2.0,
              name="mine")
    config = optimizers.serialize(opt)
    back = optimizers.deserialize(config)
    assert type(back) is cls and back.get_config() == opt.get_config() and back.name == "mine"
    assert back.learning_rate == pytest.approx(0.1)


def test_constructor_arguments_kept():
    config = optimizers.Ftrl(0.2, learning_rate_power=-1.0, initial_accumulator_value=0.0,
                             l1_regularization_strength=0.1, l2_regularization_strength=0.2,
                             l2_shrinkage_regularization_strength=0.3, beta=0.4).get_config()
    assert {k: config[k] for k in ("learning_rate", "learning_rate_power", "initial_accumulator_value",
                                   "l1_regularization_strength", "l2_regularization_strength",
                                   "l2_shrinkage_regularization_strength", "beta")} == {
        "learning_rate": 0.2, "learning_rate_power": -1.0, "initial_accumulator_value": 0.0,
        "l1_regularization_strength": 0.1, "l2_regularization_strength": 0.2,
        "l2_shrinkage_regularization_strength": 0.3, "beta": 0.4}
    config = optimizers.Adafactor(beta_2_decay=-0.6, epsilon_1=1e-20, epsilon_2=0.01, clip_threshold=2.0,
                                  relative_step=False).get_config()
    assert [config[k] for k in ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")] == \
        [-0.6, 1e-20, 0.01, 2.0, False]
    assert optimizers.Lamb(beta_1=0.5, epsilon=1e-3).get_config()["epsilon"] == 1e-3


BAD_ARGUMENTS = {
    "ftrl_power": (lambda: optimizers.Ftrl(learning_rate_power=0.5), r"learning_rate_power.*<= 0.*Received"),
    "ftrl_accumulator": (lambda: optimizers.Ftrl(initial_accumulator_value=-0.1), r"initial_accumulator_value.*>= 0"),
    "ftrl_l1": (lambda: optimizers.Ftrl(l1_regularization_strength=-1.0), r"l1_regularization_strength.*>= 0"),
    "ftrl_shrinkage": (lambda: optimizers.Ftrl(l2_shrinkage_regularization_strength=-1.0), r"l2_shrinkage.*>= 0"),
    "lamb_beta_1": (lambda: optimizers.Lamb(beta_1=1.0), r"beta_1.*\[0, 1\)"),
    "lamb_epsilon": (lambda: optimizers.Lamb(epsilon=-1.0), r"epsilon.*>= 0"),
    "adafactor_clip": (lambda: optimizers.Adafactor(clip_threshold=0.0), r"clip_threshold.*> 0"),
    "adafactor_eps2": (lambda: optimizers.Adafactor(epsilon_2=float("nan")), r"epsilon_2.*finite"),
}
test_bad_arguments_are_refused_by_name = refusal_test(BAD_ARGUMENTS)


# --- files -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_a_keras_file_loads_and_trains_on(keras, tmp_path, name):
    pytest.importorskip("h5py")
    make = lambda o: getattr(o, name)(learning_rate=0.05)  # noqa: E731
    km = _keras_conv_model(keras, make, _conv_model(make).get_weights())
    keras_file_trains_on(km, XC, YC, tmp_path / "m.keras", name, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NEW)
def test_a_bigcore_keras_file_loads_in_keras(keras, tmp_path, name):
    pytest.importorskip("h5py")
    m = _conv_model(lambda o: getattr(o, name)(learning_rate=0.05))
    bigcore_file_trains_on_in_keras(keras, m, XC, YC, tmp_path / "ours.keras", name, rtol=1e-5, atol=1e-6)


RESUME = {
    "lamb": lambda: optimizers.Lamb(learning_rate=0.01, weight_decay=0.01),
    "adafactor": lambda: optimizers.Adafactor(learning_rate=0.05),
    "ftrl": lambda: optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.001),
}


@pytest.mark.parametrize("make", RESUME.values(), ids=RESUME.keys())
def test_resume_after_save_is_bit_identical(tmp_path, make):
    mlp_resumes_bit_identical(tmp_path, make)


# --- threads ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_thread_count_does_not_change_the_bits(restore_threads, name):
    """An arena past the parallel-update threshold (256K floats): the per-segment updates (Lamb,
    Adafactor) and Ftrl's chunks give the same bits on 1 and 2 threads."""
    same_bits_on_1_and_2_threads(lambda: getattr(optimizers, name)(learning_rate=0.01), features=512, hidden=512,
                                 min_params=1 << 18)


# --- gradient accumulation (every optimizer's base argument) ------------------------------------------------

ACCUMULATE = {
    "sgd_momentum": lambda o: o.SGD(learning_rate=0.05, momentum=0.9, gradient_accumulation_steps=2),
    "adam_schedule": lambda o: o.Adam(learning_rate=o.schedules.ExponentialDecay(0.01, 2, 0.5),
                                      gradient_accumulation_steps=3),
    "adamw_clipnorm": lambda o: o.AdamW(learning_rate=0.01, clipnorm=0.05, gradient_accumulation_steps=2),
    "nadam_ema": lambda o: o.Nadam(learning_rate=0.01, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2,
                                   gradient_accumulation_steps=2),
    "rmsprop_global_clipnorm": lambda o: o.RMSprop(learning_rate=0.01, global_clipnorm=0.1,
                                                   gradient_accumulation_steps=3),
    "adagrad_clipvalue": lambda o: o.Adagrad(learning_rate=0.1, clipvalue=0.01, gradient_accumulation_steps=2),
    "lamb": lambda o: o.Lamb(learning_rate=0.01, weight_decay=0.1, gradient_accumulation_steps=2),
    "adafactor": lambda o: o.Adafactor(learning_rate=0.05, gradient_accumulation_steps=3),
    "ftrl": lambda o: o.Ftrl(learning_rate=0.05, l1_regularization_strength=0.001, gradient_accumulation_steps=2),
}


@pytest.mark.parametrize("make", ACCUMULATE.values(), ids=ACCUMULATE.keys())
def test_gradient_accumulation_matches_keras(keras, make):
    """7 batches: updates on every n-th, the gradients of the others summed (the last group left
    pending); iterations counted as Keras counts them, the accumulators as Keras's variables."""
    m = _conv_model(make)
    km = _keras_conv_model(keras, make, m.get_weights())
    x, y = np.concatenate([XC, XC[:16]]), np.concatenate([YC, YC[:16]])  # 56 rows: 7 batches
    history = m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    keras_history = km.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    n = m.optimizer.gradient_accumulation_steps
    assert m.optimizer.iterations == int(km.optimizer.iterations) == 7 // n
    assert m.optimizer._iterations == int(km.optimizer._iterations) == 7
    assert history.history["loss"][0] == pytest.approx(keras_history.history["loss"][0], rel=1e-5)
    assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)
    ours = bigcore.saving.keras_weights.optimizer_slots(m)
    theirs = [v.value.detach().cpu().numpy() for v in km.optimizer.variables]
    assert [tuple(s.shape) for s in ours] == [tuple(v.shape) for v in theirs]
    for k, (s, v) in enumerate(zip(ours, theirs)):
        # a pending sum is a raw gradient: float32's cancellation, relative to the largest of its values
        scale = np.abs(v).max() if "gradient_accumulator" in km.optimizer.variables[k].path else 0.0
        np.testing.assert_allclose(np.asarray(s.get(), np.float64), v.astype(np.float64), rtol=2e-5,
                                   atol=max(1e-6, 2e-5 * scale),
                                   err_msg=f"optimizer variable {k} ({km.optimizer.variables[k].path})")
    accumulated = [s for s, v in zip(ours, km.optimizer.variables) if "gradient_accumulator" in v.path]
    assert len(accumulated) == len(m.trainable_weights)
    assert any(np.abs(s.get()).max() > 0 for s in accumulated)  # 7 % n batches pending


def test_gradient_accumulation_of_1_batch_groups_is_no_update_until_the_nth():
    m = _conv_model(lambda o: o.Adam(learning_rate=0.01, gradient_accumulation_steps=3))
    start = m.get_weights()
    m.train_on_batch(XC[:8], YC[:8])
    m.train_on_batch(XC[8:16], YC[8:16])
    assert_same = [np.array_equal(a, b) for a, b in zip(start, m.get_weights())]
    assert all(assert_same) and m.optimizer.iterations == 0
    m.train_on_batch(XC[16:24], YC[16:24])
    assert not any(np.array_equal(a, b) for a, b in zip(start, m.get_weights())) and m.optimizer.iterations == 1


def test_gradient_accumulation_config_and_refusals(keras):
    opt = optimizers.Adam(gradient_accumulation_steps=4)
    config = opt.get_config()
    assert config["gradient_accumulation_steps"] == 4
    assert optimizers.deserialize(optimizers.serialize(opt)).gradient_accumulation_steps == 4
    assert keras.optimizers.Adam(gradient_accumulation_steps=4).get_config()["gradient_accumulation_steps"] == 4
    assert optimizers.Adam(gradient_accumulation_steps=None).slots == optimizers.Adam.slots
    assert opt.slots == optimizers.Adam.slots + 1
    with pytest.raises(ValueError, match="fixed when the optimizer is made"):
        opt.gradient_accumulation_steps = 2
    for bad in (1, -2, 2.5, True):
        with pytest.raises(ValueError, match=r"`gradient_accumulation_steps` must be an integer >= 2"):
            optimizers.SGD(gradient_accumulation_steps=bad)


@pytest.mark.parametrize("name", ["Adam", "Adafactor"])
def test_gradient_accumulation_through_keras_files(keras, tmp_path, name):
    """Saved with a group half accumulated, both ways: the sums and the step count come back."""
    pytest.importorskip("h5py")
    make = lambda o: getattr(o, name)(learning_rate=0.05, gradient_accumulation_steps=2)  # noqa: E731
    km = _keras_conv_model(keras, make, _conv_model(make).get_weights())
    km.fit(XC[:24], YC[:24], epochs=1, batch_size=8, verbose=0, shuffle=False)  # 3 steps: 1 update, 1 pending
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    assert ours.optimizer.gradient_accumulation_steps == 2
    assert ours.optimizer._iterations == 3 and ours.optimizer.iterations == 1
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    for model in (ours, km, back):
        for i in (24, 32):
            model.train_on_batch(XC[i:i + 8], YC[i:i + 8])
    assert_weights_close(ours.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)
    assert_weights_close(keras_weights(back), keras_weights(km), rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_resume_is_bit_identical(tmp_path):
    make = lambda: optimizers.Adam(learning_rate=0.01, gradient_accumulation_steps=5)  # noqa: E731
    straight, resumed, history = _resume_pair(tmp_path, lambda: mlp(optimizer=make()), X8, Y3)
    assert_same_weights(straight, resumed)  # 12 steps saved: a group of 5 is pending across the save
    assert resumed.optimizer._iterations == straight.optimizer._iterations == 24
    assert resumed.optimizer.iterations == 4
    for s, t in zip(slots(straight), slots(resumed), strict=True):
        np.testing.assert_array_equal(s, t)


# --- LossScaleOptimizer ---------------------------------------------------------------------------------------

LOSS_SCALE = {
    "adam_growing": lambda o: o.LossScaleOptimizer(o.Adam(learning_rate=0.01), initial_scale=4.0,
                                                   dynamic_growth_steps=2),
    "lamb_default": lambda o: o.LossScaleOptimizer(o.Lamb(learning_rate=0.01)),
    "adafactor_accumulating": lambda o: o.LossScaleOptimizer(o.Adafactor(learning_rate=0.05,
                                                                         gradient_accumulation_steps=2),
                                                             dynamic_growth_steps=3),
}


@pytest.mark.parametrize("make", LOSS_SCALE.values(), ids=LOSS_SCALE.keys())
def test_loss_scale_optimizer_matches_keras(keras, make):
    m = _conv_model(make)
    km = _keras_conv_model(keras, make, m.get_weights())
    history = m.fit(XC, YC, epochs=1, batch_size=8, shuffle=False, verbose=0)
    keras_history = km.fit(XC, YC, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(keras_history.history["loss"][0], rel=1e-5)
    assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)
    opt, kopt = m.optimizer, km.optimizer
    assert opt.iterations == int(kopt.iterations) and opt._iterations == int(kopt.inner_optimizer._iterations) == 5
    assert opt.dynamic_scale == float(kopt.dynamic_scale.numpy()) and opt.step_counter == int(kopt.step_counter.numpy())
    ours = bigcore.saving.keras_weights.optimizer_slots(m)
    theirs = [v.value.detach().cpu().numpy() for v in kopt.variables]
    assert [tuple(s.shape) for s in ours] == [tuple(v.shape) for v in theirs]
    for k, (s, v) in enumerate(zip(ours, theirs)):
        scale = np.abs(v).max() if "gradient_accumulator" in kopt.variables[k].path else 0.0
        np.testing.assert_allclose(np.asarray(s.get(), np.float64), v.astype(np.float64), rtol=2e-5,
                                   atol=max(1e-6, 2e-5 * scale), err_msg=f"optimizer variable {k}")


def _linear(module, keras=None):
    if keras is None:
        bigcore.utils.set_random_seed(1)
        return bigcore.Sequential([layers.Input((4,)), layers.Dense(1)])
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])


def test_loss_scale_optimizer_skips_overflowing_steps_as_keras(keras):
    """From a scale of 2^127 the scaled gradients overflow: those steps update nothing and halve the
    scale, until they fit; then the updates run and the scale grows every 2 steps."""
    x = (5.0 * RNG.normal(size=(96, 4))).astype(np.float32)  # the weights' gradients outgrow the loss's
    y = RNG.normal(size=(96, 1)).astype(np.float32)
    make = lambda o: o.LossScaleOptimizer(o.SGD(learning_rate=0.01), initial_scale=2.0 ** 127,  # noqa: E731
                                          dynamic_growth_steps=2)
    m = _linear(bigcore)
    m.compile(optimizer=make(optimizers), loss="mse")
    km = _linear(None, keras)
    km.set_weights(m.get_weights())
    km.compile(optimizer=make(keras.optimizers), loss="mse")
    start = m.get_weights()
    for i in range(0, 96, 8):
        m.train_on_batch(x[i:i + 8], y[i:i + 8])
        km.train_on_batch(x[i:i + 8], y[i:i + 8])
        assert m.optimizer.dynamic_scale == float(km.optimizer.dynamic_scale.numpy()), f"batch {i // 8}"
        assert m.optimizer.iterations == int(km.optimizer.iterations), f"batch {i // 8}"
        if i == 0:  # the first step overflowed: nothing moved
            assert m.optimizer.iterations == 0 and m.optimizer.dynamic_scale == 2.0 ** 126
            assert all(np.array_equal(a, b) for a, b in zip(start, m.get_weights()))
    assert 0 < m.optimizer.iterations < 12  # some steps skipped, some taken
    assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)


def test_loss_scale_optimizer_config_and_names(keras):
    opt = optimizers.LossScaleOptimizer(optimizers.Ftrl(learning_rate=0.2), initial_scale=64.0,
                                        dynamic_growth_steps=10, name="scaled")
    config = opt.get_config()
    keras_config = keras.optimizers.LossScaleOptimizer(keras.optimizers.Ftrl(learning_rate=0.2), initial_scale=64.0,
                                                       dynamic_growth_steps=10, name="scaled").get_config()
    assert set(config) == set(keras_config)
    assert [config[k] for k in ("name", "initial_scale", "dynamic_growth_steps")] == \
        [keras_config[k] for k in ("name", "initial_scale", "dynamic_growth_steps")]
    back = optimizers.deserialize(optimizers.serialize(opt))
    assert type(back) is optimizers.LossScaleOptimizer and type(back.inner_optimizer) is optimizers.Ftrl
    assert back.get_config() == config and back.learning_rate == pytest.approx(0.2)
    assert bigcore.mixed_precision.LossScaleOptimizer is optimizers.LossScaleOptimizer
    assert optimizers.LossScaleOptimizer(optimizers.Adam()).initial_scale == 2.0 ** 15
    assert opt.beta == 0.0 and opt.slots == optimizers.Ftrl.slots  # the inner optimizer's


LOSS_SCALE_REFUSALS = {
    "dynamic": (lambda: optimizers.LossScaleOptimizer(optimizers.Adam(), dynamic=False),
                "no longer supports `dynamic=False`"),
    "clipnorm": (lambda: optimizers.LossScaleOptimizer(optimizers.Adam(), clipnorm=1.0), "does not support `clipnorm`"),
    "unknown": (lambda: optimizers.LossScaleOptimizer(optimizers.Adam(), momentum=0.9),
                "does not support arguments: `momentum`"),
    "nested": (lambda: optimizers.LossScaleOptimizer(optimizers.LossScaleOptimizer(optimizers.Adam())),
               "inner_optimizer"),
    "scale": (lambda: optimizers.LossScaleOptimizer(optimizers.Adam(), initial_scale=0.0), "initial_scale.*> 0"),
    "growth": (lambda: optimizers.LossScaleOptimizer(optimizers.Adam(), dynamic_growth_steps=0),
               "dynamic_growth_steps"),
}
test_loss_scale_optimizer_refusals = refusal_test(LOSS_SCALE_REFUSALS)


def test_loss_scale_optimizer_through_keras_files(keras, tmp_path):
    pytest.importorskip("h5py")
    make = lambda o: o.LossScaleOptimizer(o.Adam(learning_rate=0.01), initial_scale=8.0,  # noqa: E731
                                          dynamic_growth_steps=2)
    km = _keras_conv_model(keras, make, _conv_model(make).get_weights())
    km.fit(XC[:24], YC[:24], epochs=1, batch_size=8, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    assert type(ours.optimizer) is optimizers.LossScaleOptimizer and ours.optimizer.iterations == 3
    assert ours.optimizer.dynamic_scale == 16.0 and ours.optimizer.step_counter == 1
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    assert float(back.optimizer.dynamic_scale.numpy()) == 16.0 and int(back.optimizer.step_counter.numpy()) == 1
    for model in (ours, km, back):
        for i in (24, 32):
            model.train_on_batch(XC[i:i + 8], YC[i:i + 8])
    assert_weights_close(ours.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)
    assert_weights_close(keras_weights(back), keras_weights(km), rtol=1e-5, atol=1e-6)
    assert ours.optimizer.dynamic_scale == float(km.optimizer.dynamic_scale.numpy()) == 32.0


def test_loss_scale_optimizer_resume_is_bit_identical(tmp_path):
    make = lambda: optimizers.LossScaleOptimizer(optimizers.Adam(learning_rate=0.01), initial_scale=2.0,  # noqa: E731
                                                 dynamic_growth_steps=5)
    straight, resumed, history = _resume_pair(tmp_path, lambda: mlp(optimizer=make()), X8, Y3)
    assert_same_weights(straight, resumed)
    assert type(resumed.optimizer) is optimizers.LossScaleOptimizer
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 24
    assert (resumed.optimizer.dynamic_scale, resumed.optimizer.step_counter) == \
        (straight.optimizer.dynamic_scale, straight.optimizer.step_counter) == (2.0 ** 5, 4)
