"""Muon: which weights take the Muon step (Keras's rule: rank 2, not an embedding, not excluded by
path), the Newton-Schulz step against a NumPy reference, several fit steps against Keras 3 (torch
backend) on a model with an embedding, a rank-3 kernel, tall and wide Dense kernels and biases;
config, names, refusals; the state through Keras files both ways and exact resume from .bigcore.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from keras_training_checks import (bigcore_file_trains_on_in_keras, compiled_model_makers, config_like_keras,
                                   fit_like_keras, keras_file_trains_on, keras_weights, mlp_resumes_bit_identical,
                                   optimizer_state_like_keras, same_bits_on_1_and_2_threads,
                                   same_bits_on_every_isa)
from layer_test import KERAS_WARNING
from refusal_checks import refusal_test
from test_parity import assert_weights_close
from test_saving import X8, Y3, mlp

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's own, from its fit internals

RNG = np.random.default_rng(5)
XT = RNG.integers(0, 20, size=(32, 5)).astype(np.float32)
YT = RNG.normal(size=(32, 3)).astype(np.float32)

CASES = {
    "muon": lambda o: o.Muon(learning_rate=0.01),
    "defaults": lambda o: o.Muon(),
    "exclude_head_no_nesterov": lambda o: o.Muon(learning_rate=0.02, exclude_layers=["hea"], nesterov=False,
                                                 momentum=0.8),
    "embeddings_in_rms_none": lambda o: o.Muon(learning_rate=0.005, exclude_embeddings=False, rms_rate=None,
                                               ns_steps=3),
    "adam_args_decay": lambda o: o.Muon(learning_rate=0.01, adam_beta_1=0.5, adam_beta_2=0.9, epsilon=1e-3,
                                        adam_lr_ratio=0.5, weight_decay=0.1, adam_weight_decay=0.2),
    "ns_coefficients_clipnorm": lambda o: o.Muon(learning_rate=0.01, muon_a=2.0, muon_b=-1.5, muon_c=0.5,
                                                 clipnorm=0.5, rms_rate=0.5),
    "schedule_ema": lambda o: o.Muon(learning_rate=o.schedules.ExponentialDecay(0.02, 2, 0.5), use_ema=True,
                                     ema_momentum=0.5, adam_weight_decay=None),
}


def _build(lib):
    L = lib.layers
    return lib.Sequential([L.Input((5,)), L.Embedding(20, 6), L.Conv1D(4, 3, activation="tanh"), L.Flatten(),
                           L.Dense(7, activation="tanh"), L.Dense(9, activation="tanh"), L.Dense(3, name="head")])


_model, _keras_model = compiled_model_makers(_build)


def test_routing_follows_keras(keras):
    """Rank 2 only, embeddings (by path) and exclude_layers (a regular expression on the path) out."""
    m = _model(lambda o: o.Muon())
    km = _keras_model(keras, lambda o: o.Muon(), m.get_weights())
    for kw in ({}, {"exclude_embeddings": False}, {"exclude_layers": ["head", "^dense"]}):
        ours, theirs = optimizers.Muon(**kw), keras.optimizers.Muon(**kw)
        assert [ours._should_use_adamw(w) for w in m.weights] == [theirs._should_use_adamw(v) for v in km.weights]
    routed = [optimizers.Muon()._should_use_adamw(w) for w in m.weights]
    assert routed == [True, True, True, False, True, False, True, False, True]  # emb, conv k/b, 3 x (k, b)
    native = m._native()
    muon_offsets = m.optimizer._muon_offsets(native.native)
    assert muon_offsets == sorted(off for w, off in native.weights if len(w.shape) == 2 and "embedding" not in w.path)


def _newton_schulz(x, a, b, c, steps):
    x = x.astype(np.float64)
    flip = x.shape[0] > x.shape[1]
    x = x.T if flip else x
    x = x / (np.linalg.norm(x) + 1e-7)
    for _ in range(steps):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return x.T if flip else x


@pytest.mark.parametrize("nesterov", [True, False])
def test_two_steps_match_numpy(nesterov):
    """Two steps on Dense kernels (12 x 7 tall, 7 x 9 wide): momentum, Newton-Schulz, the
    sqrt(max(n, m)) * rms_rate scale and the decoupled weight decay, in float64."""
    bigcore.utils.set_random_seed(1)
    x = RNG.normal(size=(16, 12)).astype(np.float32)
    y = RNG.normal(size=(16, 9)).astype(np.float32)

    def build(opt):
        bigcore.utils.set_random_seed(1)
        m = bigcore.Sequential([layers.Input((12,)), layers.Dense(7, use_bias=False),
                                layers.Dense(9, use_bias=False)])
        m.compile(optimizer=opt, loss="mse")
        return m

    lr, mom, wd, rms = 0.05, 0.9, 0.1, 0.3
    m = build(optimizers.Muon(learning_rate=lr, momentum=mom, weight_decay=wd, rms_rate=rms, nesterov=nesterov))
    w = [v.astype(np.float64) for v in m.get_weights()]
    bufs = [np.zeros_like(v) for v in w]
    for _ in range(2):
        probe = build(optimizers.SGD(learning_rate=1.0))
        probe.set_weights([v.astype(np.float32) for v in w])
        probe.train_on_batch(x, y)
        grads = [a - b for a, b in zip(w, probe.get_weights())]
        m.train_on_batch(x, y)
        for k, g in enumerate(grads):
            bufs[k] = mom * bufs[k] + g
            u = _newton_schulz(g + mom * bufs[k] if nesterov else bufs[k], 3.4445, -4.7750, 2.0315, 5)
            w[k] = w[k] - w[k] * wd * lr - lr * u * np.sqrt(max(w[k].shape)) * rms
    for got, want in zip(m.get_weights(), w):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_fit_matches_keras(keras, make):
    m = _model(make)
    km = _keras_model(keras, make, m.get_weights())
    fit_like_keras(m, km, XT, YT, 4, lambda: _model(make), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [CASES["muon"], CASES["schedule_ema"]], ids=["muon", "schedule_ema"])
def test_optimizer_state_matches_keras(keras, make):
    """Keras's variables in its order: each weight's momentum, then a velocity for the AdamW ones."""
    m = _model(make)
    km = _keras_model(keras, make, m.get_weights())
    optimizer_state_like_keras(m, km, XT, YT, rtol=1e-4, atol=1e-6)


def test_defaults_config_and_names_match_keras(keras):
    keras_config = config_like_keras(optimizers.Muon(), keras.optimizers.Muon(), "muon")
    assert type(optimizers.get("muon")) is optimizers.Muon
    assert type(keras.optimizers.get("muon")).__name__ == "Muon"
    assert type(optimizers.deserialize({"class_name": "Muon", "config": keras_config})) is optimizers.Muon
    opt = optimizers.Muon(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), exclude_layers=["x"],
                          exclude_embeddings=False, muon_a=3.0, muon_b=-4.0, muon_c=2.0, adam_lr_ratio=0.1,
                          momentum=0.9, ns_steps=4, nesterov=False, rms_rate=None, adam_weight_decay=None,
                          name="mine")
    back = optimizers.deserialize(optimizers.serialize(opt))
    assert type(back) is optimizers.Muon and back.get_config() == opt.get_config()
    assert back.get_config()["exclude_layers"] == ["x"] and back.rms_rate is None and back.ns_steps == 4


BAD_ARGUMENTS = {
    "beta_1": (lambda: optimizers.Muon(adam_beta_1=1.0), r"adam_beta_1.*\[0, 1\)"),
    "beta_2": (lambda: optimizers.Muon(adam_beta_2=-0.1), r"adam_beta_2.*\[0, 1\)"),
    "epsilon": (lambda: optimizers.Muon(epsilon=-1.0), r"epsilon.*>= 0"),
    "momentum": (lambda: optimizers.Muon(momentum=1.5), r"momentum.*\[0, 1\]"),
    "ns_negative": (lambda: optimizers.Muon(ns_steps=-1), r"ns_steps.*integer >= 0"),
    "ns_float": (lambda: optimizers.Muon(ns_steps=2.5), r"ns_steps.*integer >= 0"),
    "rms_rate": (lambda: optimizers.Muon(rms_rate=0.0), r"rms_rate.*> 0 or None"),
    "lr_ratio": (lambda: optimizers.Muon(adam_lr_ratio=-1), r"adam_lr_ratio.*>= 0"),
    "adam_wd": (lambda: optimizers.Muon(adam_weight_decay=-0.1), r"adam_weight_decay.*>= 0"),
    "exclude_str": (lambda: optimizers.Muon(exclude_layers="dense"), r"exclude_layers.*list of strings"),
    "exclude_regex": (lambda: optimizers.Muon(exclude_layers=["("]), r"exclude_layers.*regular expression"),
    "muon_a": (lambda: optimizers.Muon(muon_a=float("inf")), r"muon_a.*finite"),
}
test_bad_arguments_are_refused_by_name = refusal_test(BAD_ARGUMENTS)


def test_exclude_layers_set_after_compile_reaches_the_program(keras):
    """Set before the first step, exclude_layers routes as if given to the constructor (Keras's build
    runs at the first step)."""
    m = _model(CASES["muon"])
    m.optimizer.exclude_layers = ["head"]
    km = _keras_model(keras, lambda o: o.Muon(learning_rate=0.01, exclude_layers=["head"]), m.get_weights())
    m.fit(XT, YT, epochs=1, batch_size=8, shuffle=False, verbose=0)
    km.fit(XT, YT, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-4, atol=1e-5)


def test_routing_is_fixed_once_training_started():
    m = mlp(optimizer=optimizers.Muon(learning_rate=0.01))
    m.fit(X8[:32], Y3[:32], epochs=1, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="exclude_layers.*cannot change after training started"):
        m.optimizer.exclude_layers = ["dense"]
    m.optimizer.learning_rate = 0.02  # the constants still may
    m.optimizer.momentum = 0.5
    m.fit(X8[:32], Y3[:32], epochs=1, batch_size=16, verbose=0)


# --- files -----------------------------------------------------------------------------------------------

def test_a_keras_file_loads_and_trains_on(keras, tmp_path):
    pytest.importorskip("h5py")
    make = CASES["muon"]
    km = _keras_model(keras, make, _model(make).get_weights())
    keras_file_trains_on(km, XT, YT, tmp_path / "m.keras", "Muon", rtol=1e-4, atol=1e-5, then=(24, 16))


def test_a_bigcore_keras_file_loads_in_keras(keras, tmp_path):
    pytest.importorskip("h5py")
    m = _model(lambda o: o.Muon(learning_rate=0.01, exclude_layers=["head"]))
    km = bigcore_file_trains_on_in_keras(keras, m, XT, YT, tmp_path / "ours.keras", "Muon", rtol=1e-4, atol=1e-5,
                                         then=(24, 16))
    assert km.optimizer.exclude_layers == ["head"]


def test_resume_after_save_is_bit_identical(tmp_path):
    mlp_resumes_bit_identical(tmp_path, lambda: optimizers.Muon(learning_rate=0.01))


def test_gradient_accumulation_and_loss_scaling_match_keras(keras):
    """gradient_accumulation_steps (the mean every 2nd batch) and a LossScaleOptimizer around Muon."""
    for make in (lambda o: o.Muon(learning_rate=0.01, gradient_accumulation_steps=2),
                 lambda o: o.LossScaleOptimizer(o.Muon(learning_rate=0.01))):
        m = _model(make)
        km = _keras_model(keras, make, m.get_weights())
        m.fit(XT, YT, epochs=1, batch_size=8, shuffle=False, verbose=0)
        km.fit(XT, YT, epochs=1, batch_size=8, shuffle=False, verbose=0)
        assert m.optimizer.iterations == int(km.optimizer.iterations)
        assert_weights_close(m.get_weights(), keras_weights(km), rtol=1e-4, atol=1e-5)


def test_thread_count_does_not_change_the_bits(restore_threads):
    """Newton-Schulz's GEMMs (tiles fixed by the shapes) and the AdamW weights give the same bits
    on 1 and 2 threads."""
    same_bits_on_1_and_2_threads(lambda: optimizers.Muon(learning_rate=0.01), features=300, hidden=200)


def test_training_bit_identical_on_every_isa(restore_isa, supported_isas):
    """Muon's Newton-Schulz GEMMs and ScheduleFreeAdamW's element-wise update give the same bits on
    every CPU kernel path."""
    same_bits_on_every_isa(supported_isas, {"Muon": lambda: optimizers.Muon(learning_rate=0.05),
                                            "ScheduleFreeAdamW": lambda: optimizers.ScheduleFreeAdamW(0.05)})
