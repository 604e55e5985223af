"""Nadam, Adamax, Adadelta and Lion: the native update against the float64 rules of
tests/reference.py on every CPU path, against Keras 3 (torch backend) step by step, their
names, configs and argument checks, and exact resume from .bigcore and Keras files.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers, saving
from bigcore._native import _core
from dense_training import DenseTraining
from keras_training_checks import same_bits_on_every_isa
from layer_test import KERAS_WARNING
from refusal_checks import refusal_test
from test_parity import BATCH, D, H, assert_weights_close, batches, case_data
from test_saving import X8, Y3, _resume_pair, assert_same_weights, mlp, slots

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's own, from its fit internals

NEW = ("Nadam", "Adamax", "Adadelta", "Lion")
MSE, CCE = ("mse", "linear", "real", {}), ("categorical_crossentropy", "softmax", "onehot", {})

# (class name in both bigcore.optimizers and reference, constructor arguments)
CASES = {
    "nadam": ("Nadam", {"learning_rate": 0.02}),
    "nadam_betas_eps": ("Nadam", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.8, "epsilon": 0.1}),
    "nadam_weight_decay": ("Nadam", {"learning_rate": 0.02, "weight_decay": 0.5}),
    "adamax": ("Adamax", {"learning_rate": 0.02}),
    # a short beta_2 lets the decayed norm fall below |g|: both sides of the max are taken
    "adamax_short_beta_2": ("Adamax", {"learning_rate": 0.05, "beta_1": 0.6, "beta_2": 0.3, "epsilon": 1e-3}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adadelta_rho_eps": ("Adadelta", {"learning_rate": 0.5, "rho": 0.5, "epsilon": 1e-3}),
    "lion": ("Lion", {"learning_rate": 0.01}),
    "lion_betas": ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.8}),
    "lion_weight_decay": ("Lion", {"learning_rate": 0.01, "weight_decay": 0.3}),
}
CLIPS = {"clipnorm": {"clipnorm": 0.05}, "global_clipnorm": {"global_clipnorm": 0.2}, "clipvalue": {"clipvalue": 0.02}}


# --- the float64 reference, on every CPU path ------------------------------------------------------

@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("loss_case", [MSE, CCE], ids=["mse", "cce_softmax"])
def test_steps_match_the_float64_rule(isa, case, loss_case):
    """5 steps of a 9 -> 7 Dense layer (63 + 7 weights: whole vectors and a tail on every path)."""
    s = DenseTraining(loss_case, case, k_in=9, c_out=7)
    for _ in range(5):
        s.step()


@pytest.mark.parametrize("clip", CLIPS.values(), ids=CLIPS.keys())
@pytest.mark.parametrize("name", NEW)
def test_gradient_clipping(name, clip):
    s = DenseTraining(("categorical_crossentropy", "linear", "onehot", {"from_logits": True}),
                      (name, {"learning_rate": 0.05}), reg="l2", opt_extra=clip)
    _, grads = s.ref_loss_and_grads()
    key, limit = next(iter(clip.items()))
    size = {"clipnorm": max(np.sqrt((g * g).sum()) for g in grads),
            "global_clipnorm": np.sqrt(sum((g * g).sum() for g in grads)),
            "clipvalue": max(np.abs(g).max() for g in grads)}[key]
    assert size > limit  # the case clips, else it tests nothing
    for _ in range(4):
        s.step()


def test_adamax_case_takes_both_sides_of_the_max():
    """The short-beta_2 case must see |g| win at some weights and the decayed norm at others."""
    s = DenseTraining(MSE, CASES["adamax_short_beta_2"])
    decayed_won = grad_won = False
    for _ in range(4):
        u_before = [slot[1].copy() for slot in s.ref_opt.slots] if s.ref_opt.slots else None
        grads = s.step()
        if u_before is not None:
            for u, g in zip(u_before, grads):
                decayed_won |= bool((0.3 * u > np.abs(g)).any())
                grad_won |= bool((0.3 * u < np.abs(g)).any())
    assert decayed_won and grad_won


def test_a_constant_set_after_compile_reaches_the_update():
    """Setting rho (Adadelta) and beta_2 (Lion) between steps changes the next step, as in Keras."""
    for name, attr, value in (("Adadelta", "rho", 0.5), ("Lion", "beta_2", 0.5)):
        s = DenseTraining(MSE, (name, {"learning_rate": 0.1}))
        s.step()
        setattr(s.model.optimizer, attr, value)
        setattr(s.ref_opt, {"rho": "rho", "beta_2": "b2"}[attr], value)
        for _ in range(2):
            s.step()


def test_training_bit_identical_on_every_isa(restore_isa, supported_isas):
    """Each new update gives the same bits on every CPU path (1300+ weights: the vector loops run)."""
    same_bits_on_every_isa(supported_isas, {
        name: lambda name=name: getattr(optimizers, name)(learning_rate=0.01, weight_decay=0.1) for name in NEW})


# --- Nadam's momentum-schedule product -------------------------------------------------------------

@pytest.mark.parametrize("beta_1", [0.9, 0.5, 0.999])
def test_nadam_product_is_keras_running_product(beta_1):
    want = 1.0
    for t in range(1, 60):
        want *= beta_1 * (1 - 0.5 * 0.96 ** t)
        assert _core.nadam_u_product(beta_1, t) == pytest.approx(want, rel=1e-13)
    opt = optimizers.Nadam(beta_1=beta_1)
    assert opt._u_product == 1.0  # before the first step, as Keras's variable
    opt.iterations = 59
    assert opt._u_product == _core.nadam_u_product(beta_1, 59)


def test_nadam_product_of_a_long_run_is_quick_and_zero():
    """The product underflows to 0 and stays there; the loop stops at it, so a step count of 10^9
    (a resumed run) costs no 10^9 factors."""
    assert _core.nadam_u_product(0.9, 10 ** 9) == 0.0
    assert 0.0 < _core.nadam_u_product(0.9, 1000) < 1e-40


def test_nadam_beta_1_is_fixed_once_training_started():
    """The native update derives the product from beta_1 and the step, so a change mid-run is refused
    (Keras would go on from the old product); before the first step it is free."""
    s = DenseTraining(MSE, ("Nadam", {"learning_rate": 0.02}))
    s.model.optimizer.beta_1 = 0.8  # compiled, not trained: allowed
    s.ref_opt.b1 = 0.8
    s.step()
    with pytest.raises(ValueError, match=r"beta_1.*cannot change after training started.*beta_1=0\.5"):
        s.model.optimizer.beta_1 = 0.5
    s.model.optimizer.beta_1 = 0.8  # the same value is no change
    s.model.optimizer.beta_2 = 0.9  # the others stay settable
    s.ref_opt.b2 = 0.9
    s.step()


# --- Keras 3 -----------------------------------------------------------------------------------------

# The same constructor on bigcore.optimizers and keras.optimizers.
KERAS_CASES = {
    "nadam": lambda o: o.Nadam(learning_rate=0.01),
    "nadam_weight_decay_clipnorm": lambda o: o.Nadam(learning_rate=0.01, weight_decay=0.2, clipnorm=0.1),
    "nadam_schedule": lambda o: o.Nadam(learning_rate=o.schedules.ExponentialDecay(0.02, 2, 0.5)),
    "adamax": lambda o: o.Adamax(learning_rate=0.01),
    "adamax_weight_decay_global_clipnorm": lambda o: o.Adamax(learning_rate=0.01, beta_2=0.5, weight_decay=0.3,
                                                              global_clipnorm=0.2),
    "adadelta": lambda o: o.Adadelta(learning_rate=1.0),
    "adadelta_weight_decay_clipvalue": lambda o: o.Adadelta(learning_rate=0.5, rho=0.8, weight_decay=0.1,
                                                            clipvalue=0.01),
    "lion": lambda o: o.Lion(learning_rate=0.001),
    "lion_weight_decay_clipnorm": lambda o: o.Lion(learning_rate=0.002, beta_1=0.8, weight_decay=0.5, clipnorm=0.1),
    "lion_schedule": lambda o: o.Lion(learning_rate=o.schedules.PiecewiseConstantDecay([2], [0.002, 0.0005])),
}


def _bigcore_mlp(make):
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(H, activation="relu", input_shape=(D,)), layers.Dense(H, activation="tanh"),
                            layers.Dense(5, activation="softmax")])
    m.compile(optimizer=make(optimizers), loss="sparse_categorical_crossentropy")
    return m


def _keras_mlp(keras, make, weights):
    km = keras.Sequential([keras.Input((D,)), keras.layers.Dense(H, activation="relu"),
                           keras.layers.Dense(H, activation="tanh"), keras.layers.Dense(5, activation="softmax")])
    km.set_weights(weights)  # kernel layout [in, out] in both
    km.compile(optimizer=make(keras.optimizers), loss="sparse_categorical_crossentropy")
    return km


@pytest.mark.parametrize("make", KERAS_CASES.values(), ids=KERAS_CASES.keys())
def test_train_on_batch_matches_keras(keras, make):
    m = _bigcore_mlp(make)
    km = _keras_mlp(keras, make, m.get_weights())
    x, y = case_data("softmax_sparse_ce", n=6 * BATCH)
    for step, (xb, yb) in enumerate(batches(x, y)):
        got, want = m.train_on_batch(xb, yb), float(km.train_on_batch(xb, yb))
        assert got == pytest.approx(want, rel=1e-5), f"step {step}"
    assert m.optimizer.iterations == int(km.optimizer.iterations) == 6
    assert_weights_close(m.get_weights(), km.get_weights(), rtol=1e-5, atol=1e-6)
    if isinstance(m.optimizer, optimizers.Nadam):
        assert m.optimizer._u_product == pytest.approx(float(km.optimizer._u_product.numpy()), rel=1e-6)


@pytest.mark.parametrize("name", NEW)
def test_defaults_and_config_match_keras(keras, name):
    ours, theirs = getattr(optimizers, name)(), getattr(keras.optimizers, name)()
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert set(mine) <= set(keras_config)
    assert mine.pop("name") == name.lower()  # Keras numbers a second instance's name ("nadam_1")
    for key, value in mine.items():
        assert value == pytest.approx(keras_config[key], rel=1e-7) if isinstance(value, float) else \
            value == keras_config[key], key
    assert type(optimizers.get(name.lower())).__name__ == type(keras.optimizers.get(name.lower())).__name__ == name
    # Keras's own config (its extra base arguments at their defaults) builds the same optimizer here
    assert type(optimizers.deserialize({"class_name": name, "config": keras_config})).__name__ == name


@pytest.mark.parametrize("name", NEW)
def test_a_keras_file_loads_and_trains_on(keras, tmp_path, name):
    """A model Keras trained with the optimizer: the same state comes back (Nadam's product from the
    step count), and the next step agrees."""
    pytest.importorskip("h5py")
    make = lambda o: getattr(o, name)(learning_rate=0.01)  # noqa: E731
    km = _keras_mlp(keras, make, _bigcore_mlp(make).get_weights())
    x, y = case_data("softmax_sparse_ce", n=3 * BATCH)
    km.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)
    km.save(tmp_path / "m.keras")
    ours = bigcore.models.load_model(tmp_path / "m.keras")
    assert type(ours.optimizer).__name__ == name and ours.optimizer.iterations == 3
    assert_weights_close(ours.get_weights(), km.get_weights(), rtol=0, atol=0)
    ours.train_on_batch(x[:BATCH], y[:BATCH])
    km.train_on_batch(x[:BATCH], y[:BATCH])
    assert_weights_close(ours.get_weights(), km.get_weights(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NEW)
def test_a_bigcore_keras_file_loads_in_keras(keras, tmp_path, name):
    pytest.importorskip("h5py")
    m = _bigcore_mlp(lambda o: getattr(o, name)(learning_rate=0.01))
    x, y = case_data("softmax_sparse_ce", n=3 * BATCH)
    m.fit(x, y, epochs=1, batch_size=BATCH, verbose=0, shuffle=False)
    m.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    assert type(km.optimizer).__name__ == name and int(km.optimizer.iterations) == 3
    if name == "Nadam":
        assert float(km.optimizer._u_product.numpy()) == pytest.approx(m.optimizer._u_product, rel=1e-6)
    m.train_on_batch(x[:BATCH], y[:BATCH])
    km.train_on_batch(x[:BATCH], y[:BATCH])
    assert_weights_close(m.get_weights(), km.get_weights(), rtol=1e-5, atol=1e-6)


# --- names, configs, arguments ------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_names_serialize_and_deserialize(name):
    cls = getattr(optimizers, name)
    assert type(optimizers.get(name.lower())) is cls and type(optimizers.get(name.upper())) is cls
    opt = cls(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), weight_decay=0.01, clipnorm=2.0,
              name="mine")
    config = optimizers.serialize(opt)
    assert config["class_name"] == name and config["config"]["name"] == "mine"
    back = optimizers.deserialize(config)
    assert type(back) is cls and back.get_config() == opt.get_config()
    assert type(optimizers.get(config)) is cls
    assert back.learning_rate == pytest.approx(0.1)


def test_constructor_arguments_kept():
    config = optimizers.Nadam(0.1, beta_1=0.8, beta_2=0.9, epsilon=1e-3, global_clipnorm=1.5).get_config()
    assert config == {"name": "nadam", "learning_rate": 0.1, "weight_decay": None, "clipnorm": None,
                      "clipvalue": None, "global_clipnorm": 1.5, "use_ema": False, "ema_momentum": 0.99,
                      "ema_overwrite_frequency": None, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3}
    assert optimizers.Adadelta(rho=0.7, epsilon=0.0).get_config()["rho"] == 0.7
    assert optimizers.Lion(beta_1=1.0, beta_2=0.0).get_config()["beta_2"] == 0.0  # the ends Keras allows
    assert optimizers.Adamax(beta_2=1.0).beta_2 == 1.0


BAD_ARGUMENTS = {
    "lion_beta_1": (lambda: optimizers.Lion(beta_1=0.0), r"beta_1.*\(0, 1\].*Received: beta_1=0\.0"),
    "lion_beta_2": (lambda: optimizers.Lion(beta_2=1.5), r"beta_2.*\[0, 1\].*Received: beta_2=1\.5"),
    "nadam_beta_2": (lambda: optimizers.Nadam(beta_2=1.0), r"beta_2.*\[0, 1\).*Received: beta_2=1\.0"),
    "nadam_beta_1": (lambda: optimizers.Nadam(beta_1=-0.1), r"beta_1.*Received: beta_1=-0\.1"),
    "adamax_beta_1": (lambda: optimizers.Adamax(beta_1=1.0), r"beta_1.*\[0, 1\).*Received: beta_1=1\.0"),
    "adadelta_rho": (lambda: optimizers.Adadelta(rho=1.5), r"rho.*\[0, 1\].*Received: rho=1\.5"),
    "adadelta_epsilon": (lambda: optimizers.Adadelta(epsilon=-1e-7), r"epsilon.*>= 0"),
    "nan_rate": (lambda: optimizers.Adamax(learning_rate=float("nan")), r"learning_rate.*finite"),
    "two_clips": (lambda: optimizers.Nadam(clipnorm=1.0, clipvalue=0.5), r"Only one of"),
    "negative_clipnorm": (lambda: optimizers.Lion(clipnorm=-1.0), r"clipnorm.*> 0"),
    "ema_momentum": (lambda: optimizers.Nadam(use_ema=True, ema_momentum=1.5),
                     r"`ema_momentum` must be in the range \[0, 1\]. Received: ema_momentum=1\.5"),
    "loss_scale_factor": (lambda: optimizers.Adamax(loss_scale_factor=128.0),
                          r"`loss_scale_factor`.*expected loss_scale_factor=None.*Received: loss_scale_factor=128\.0"),
    "gradient_accumulation": (
        lambda: optimizers.Adadelta(gradient_accumulation_steps=1),
        r"`gradient_accumulation_steps` must be an integer >= 2. Received: gradient_accumulation_steps=1"),
    "unknown_name": (lambda: optimizers.get("nadamw"), r"Could not interpret optimizer.*nadam.*lion"),
}
test_bad_arguments_are_refused_by_name = refusal_test(BAD_ARGUMENTS)


def test_keras_base_arguments_at_their_defaults_are_accepted():
    opt = optimizers.Lion(use_ema=False, ema_momentum=0.5, ema_overwrite_frequency=None, loss_scale_factor=None,
                          gradient_accumulation_steps=None)
    assert isinstance(opt, optimizers.Lion)
    with pytest.raises(TypeError, match="Unknown argument.*momentum"):
        optimizers.Nadam(momentum=0.9)
    with pytest.raises(ValueError, match="beta_2"):  # a later set is checked too
        opt.beta_2 = -1.0


# --- exact resume ---------------------------------------------------------------------------------------

RESUME = {
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
    "adamax_weight_decay": lambda: optimizers.Adamax(learning_rate=0.01, weight_decay=0.05),
    "adadelta": lambda: optimizers.Adadelta(learning_rate=1.0, clipnorm=1.0),
    "lion_schedule": lambda: optimizers.Lion(learning_rate=optimizers.schedules.ExponentialDecay(0.003, 4, 0.5)),
}


@pytest.mark.parametrize("make", RESUME.values(), ids=RESUME.keys())
def test_resume_after_save_is_bit_identical(tmp_path, make):
    straight, resumed, history = _resume_pair(tmp_path, lambda: mlp(optimizer=make()), X8, Y3)
    assert_same_weights(straight, resumed)
    assert history.history["loss"] == straight.history.history["loss"][2:]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 24
    assert type(resumed.optimizer) is type(straight.optimizer)
    for s, t in zip(slots(straight), slots(resumed), strict=True):
        np.testing.assert_array_equal(s, t)
    assert any(np.abs(s).max() > 0 for s in slots(resumed))


def test_nadam_resume_without_its_state_differs(tmp_path):
    """The control: a resumed Nadam with fresh slots ends elsewhere, so the test above can fail."""
    straight, resumed, _ = _resume_pair(
        tmp_path, lambda: mlp(optimizer=optimizers.Nadam(learning_rate=0.01)), X8, Y3,
        load=lambda p: saving.load_model(p, compile=False),
        recompile=lambda m: m.compile(optimizer=optimizers.Nadam(learning_rate=0.01),
                                      loss="sparse_categorical_crossentropy"))
    assert any(not np.array_equal(u, v) for u, v in zip(straight.get_weights(), resumed.get_weights()))


def test_learning_rate_and_iterations_read_and_assign_as_keras_variables(keras):
    """Keras 3 removed backend.set_value: callbacks write optimizer.learning_rate.assign(lr) and read
    optimizer.iterations.numpy(); both work here, and a rate assigned mid-fit is the one the steps use."""
    ours, theirs = bigcore.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)
    for opt in (ours, theirs):
        opt.learning_rate.assign(0.05)
    assert float(ours.learning_rate) == pytest.approx(float(keras.ops.convert_to_numpy(theirs.learning_rate)))
    assert ours.learning_rate.numpy().dtype == np.float32 and ours.iterations.numpy().dtype == np.int64

    class Stop(bigcore.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(0.0)  # nothing moves from here on

    model = bigcore.Sequential([bigcore.Input((3,)), bigcore.layers.Dense(2)])
    model.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=1, batch_size=4, callbacks=[Stop()], verbose=0)
    after_one = model.get_weights()
    assert int(model.optimizer.iterations) == 2 and model.optimizer.iterations.numpy() == 2
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for a, b in zip(after_one, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.optimizer.iterations.assign(0)
    assert model.optimizer.iterations == 0
    with pytest.raises(ValueError, match="iterations"):
        model.optimizer.iterations = -1
