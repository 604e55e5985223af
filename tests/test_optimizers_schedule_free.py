"""ScheduleFreeAdamW: the y/z/x sequences as Keras keeps them (z built from the weights at the first
step, the weights holding y in training and evaluation alike), against a NumPy reference and Keras 3
(torch backend) over several fit steps with warmup, weight decay, clipping, EMA, schedules and
gradient accumulation; config, names, refusals; the state through Keras files both ways and exact
resume from .bigcore.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from keras_training_checks import (bigcore_file_trains_on_in_keras, compiled_model_makers, config_like_keras,
                                   keras_file_trains_on, keras_weights, mlp_resumes_bit_identical,
                                   optimizer_state_like_keras)
from layer_test import KERAS_WARNING
from refusal_checks import refusal_test
from test_parity import assert_weights_close
from test_saving import slots

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's own, from its fit internals

RNG = np.random.default_rng(11)
XS = RNG.normal(size=(40, 6)).astype(np.float32)
YS = RNG.normal(size=(40, 3)).astype(np.float32)

CASES = {
    "defaults": lambda o: o.ScheduleFreeAdamW(),
    "rate": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05),
    "warmup_betas": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-4,
                                                  warmup_steps=3),
    "weight_decay_clipnorm": lambda o: o.ScheduleFreeAdamW(learning_rate=0.02, weight_decay=0.1, clipnorm=0.3),
    "schedule_ema": lambda o: o.ScheduleFreeAdamW(learning_rate=o.schedules.ExponentialDecay(0.05, 2, 0.5),
                                                  use_ema=True, ema_momentum=0.5, warmup_steps=2),
    "accumulation": lambda o: o.ScheduleFreeAdamW(learning_rate=0.05, gradient_accumulation_steps=2,
                                                  warmup_steps=2),
}


def _build(lib):
    L = lib.layers
    return lib.Sequential([L.Input((6,)), L.Dense(5, activation="tanh"), L.Dense(3)])


_model, _keras_model = compiled_model_makers(_build)


def test_three_steps_match_numpy():
    """y, z and v against float64 NumPy: z starts at the weights; x is recovered from y and the
    updated z (Keras's order), then y = (1 - beta_1) z + beta_1 x after averaging x towards z."""
    x = RNG.normal(size=(16, 6)).astype(np.float32)
    y = RNG.normal(size=(16, 4)).astype(np.float32)

    def build(opt):
        bigcore.utils.set_random_seed(2)
        m = bigcore.Sequential([layers.Input((6,)), layers.Dense(4, use_bias=False)])
        m.compile(optimizer=opt, loss="mse")
        return m

    lr, b1, b2, eps, warm, wd = 0.1, 0.8, 0.95, 1e-6, 2, 0.05
    m = build(optimizers.ScheduleFreeAdamW(lr, beta_1=b1, beta_2=b2, epsilon=eps, warmup_steps=warm,
                                           weight_decay=wd))
    w = m.get_weights()[0].astype(np.float64)
    z, v = w.copy(), np.zeros_like(w)
    for t in range(1, 4):
        probe = build(optimizers.SGD(learning_rate=1.0))
        probe.set_weights([w.astype(np.float32)])
        probe.train_on_batch(x, y)
        g = w - probe.get_weights()[0]
        m.train_on_batch(x, y)
        w = w - w * wd * lr
        v = v + (g * g - v) * (1 - b2)
        z = z - lr * min(t / warm, 1.0) * g / (np.sqrt(v / (1 - b2 ** t)) + eps)
        x_old = (w - (1 - b1) * z) / b1
        w = (1 - b1) * z + b1 * ((1 - 1 / t) * x_old + z / t)
    np.testing.assert_allclose(m.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(slots(m)[0][:w.size].reshape(w.shape), z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(slots(m)[1][:w.size].reshape(w.shape), v, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_fit_matches_keras(keras, make):
    m = _model(make)
    km = _keras_model(keras, make, m.get_weights())
    history = m.fit(XS, YS, epochs=2, batch_size=8, shuffle=False, verbose=0)
    keras_history = km.fit(XS, YS, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert m.optimizer.iterations == int(km.optimizer.iterations)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-5)
    start = _model(make).get_weights()
    got, want = m.get_weights(), keras_weights(km)
    assert all(not np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(got, start))  # every weight moved
    assert_weights_close(got, want, rtol=1e-5, atol=1e-6)
    # evaluation reads the weights as they are (y), as Keras's does
    assert m.evaluate(XS, YS, verbose=0) == pytest.approx(km.evaluate(XS, YS, verbose=0), rel=1e-5)


def test_z_is_built_from_the_weights_set_after_compile(keras):
    """Keras builds z at the first step: weights set between compile and fit are the ones z copies."""
    make = CASES["rate"]
    m = _model(make)
    new = [w + 0.5 for w in m.get_weights()]
    m.set_weights(new)
    km = _keras_model(keras, make, _model(make).get_weights())
    km.set_weights(new)
    m.fit(XS, YS, epochs=1, batch_size=8, shuffle=False, verbose=0)
    km.fit(XS, YS, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-5, atol=1e-6)


def test_optimizer_state_matches_keras(keras):
    make = CASES["warmup_betas"]
    m = _model(make)
    km = _keras_model(keras, make, m.get_weights())
    optimizer_state_like_keras(m, km, XS, YS, rtol=1e-5, atol=1e-7)


def test_defaults_config_and_names_match_keras(keras):
    keras_config = config_like_keras(optimizers.ScheduleFreeAdamW(), keras.optimizers.ScheduleFreeAdamW(),
                                     "schedule_free_adam_w")
    assert type(optimizers.get("schedulefreeadamw")) is optimizers.ScheduleFreeAdamW
    assert type(keras.optimizers.get("schedulefreeadamw")).__name__ == "ScheduleFreeAdamW"
    assert type(optimizers.deserialize({"class_name": "ScheduleFreeAdamW", "config": keras_config})) is \
        optimizers.ScheduleFreeAdamW
    opt = optimizers.ScheduleFreeAdamW(0.01, beta_1=0.8, beta_2=0.9, epsilon=1e-5, warmup_steps=7, name="mine")
    back = optimizers.deserialize(optimizers.serialize(opt))
    assert type(back) is optimizers.ScheduleFreeAdamW and back.get_config() == opt.get_config()
    assert back.warmup_steps == 7 and back.name == "mine"


BAD_ARGUMENTS = {
    "beta_1_zero": (lambda: optimizers.ScheduleFreeAdamW(beta_1=0.0), r"beta_1.*\(0, 1\)"),
    "beta_1_one": (lambda: optimizers.ScheduleFreeAdamW(beta_1=1.0), r"beta_1.*\(0, 1\)"),
    "beta_2": (lambda: optimizers.ScheduleFreeAdamW(beta_2=1.0), r"beta_2.*\[0, 1\)"),
    "epsilon": (lambda: optimizers.ScheduleFreeAdamW(epsilon=-1.0), r"epsilon.*>= 0"),
    "warmup_negative": (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=-1), r"warmup_steps.*integer >= 0"),
    "warmup_float": (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=1.5), r"warmup_steps.*integer >= 0"),
}
test_bad_arguments_are_refused_by_name = refusal_test(BAD_ARGUMENTS)


# --- files -----------------------------------------------------------------------------------------------

def test_a_keras_file_loads_and_trains_on(keras, tmp_path):
    pytest.importorskip("h5py")
    make = CASES["warmup_betas"]
    km = _keras_model(keras, make, _model(make).get_weights())
    keras_file_trains_on(km, XS, YS, tmp_path / "m.keras", "ScheduleFreeAdamW", rtol=1e-5, atol=1e-6)


def test_a_bigcore_keras_file_loads_in_keras(keras, tmp_path):
    pytest.importorskip("h5py")
    bigcore_file_trains_on_in_keras(keras, _model(CASES["warmup_betas"]), XS, YS, tmp_path / "ours.keras",
                                    "ScheduleFreeAdamW", rtol=1e-5, atol=1e-6)


def test_resume_after_save_is_bit_identical(tmp_path):
    mlp_resumes_bit_identical(tmp_path, lambda: optimizers.ScheduleFreeAdamW(learning_rate=0.01, warmup_steps=5))
