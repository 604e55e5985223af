"""bigcore.optimizers.schedules: values against the formulas (tests/reference.py: schedule_value) and
against keras.optimizers.schedules at many steps; configs; one evaluation per training step; and
training with a schedule against the float64 reference and against Keras."""

import json

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore import layers, optimizers
from bigcore.optimizers import schedules

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

CASES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.8}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.05, "decay_steps": 5,
                                                   "decay_rate": 0.5, "staircase": True}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [3, 10, 25], "values": [0.1, 0.05, 0.01, 0.001]}),
    "piecewise_one_boundary": ("PiecewiseConstantDecay", {"boundaries": [4], "values": [1.0, 0.5]}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.2, "decay_steps": 20}),
    "cosine_alpha": ("CosineDecay", {"initial_learning_rate": 0.2, "decay_steps": 15, "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 20, "warmup_target": 0.1,
                                      "warmup_steps": 8}),
    "cosine_warmup_alpha": ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 12, "alpha": 0.2,
                                            "warmup_target": 0.05, "warmup_steps": 5}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5}),
    "inverse_time_staircase": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 4,
                                                    "decay_rate": 0.5, "staircase": True}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20}),
    "polynomial_power": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10,
                                             "end_learning_rate": 0.01, "power": 0.5}),
    "polynomial_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 6,
                                             "end_learning_rate": 0.02, "power": 2.0, "cycle": True}),
}

STEPS = list(range(0, 60)) + [99, 100, 1000, 12345]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_values_match_the_formula(case):
    name, kw = case
    s = getattr(schedules, name)(**kw)
    for step in STEPS:
        assert s(step) == pytest.approx(ref.schedule_value(name, step, **kw), rel=1e-12, abs=1e-15), f"step {step}"


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_values_match_keras(keras, case):
    name, kw = case
    ours, theirs = getattr(schedules, name)(**kw), getattr(keras.optimizers.schedules, name)(**kw)
    for step in STEPS:
        want = float(keras.ops.convert_to_numpy(theirs(step)))
        assert ours(step) == pytest.approx(want, rel=1e-6, abs=1e-8), f"step {step}"  # Keras: float32


def test_values_by_hand():
    assert schedules.ExponentialDecay(1.0, 10, 0.5)(20) == pytest.approx(0.25)
    assert schedules.ExponentialDecay(1.0, 10, 0.5, staircase=True)(19) == pytest.approx(0.5)
    pw = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [pw(s) for s in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    cos = schedules.CosineDecay(1.0, 10, alpha=0.1)
    assert (cos(0), cos(5), cos(10), cos(50)) == pytest.approx((1.0, 0.55, 0.1, 0.1))
    warm = schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4)
    assert (warm(0), warm(2), warm(4), warm(9), warm(14)) == pytest.approx((0.0, 0.5, 1.0, 0.5, 0.0))
    assert schedules.InverseTimeDecay(1.0, 2, 0.5)(4) == pytest.approx(0.5)
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(5) == pytest.approx(0.5)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_config_round_trip(case):
    name, kw = case
    s = getattr(schedules, name)(**kw)
    again = type(s).from_config(s.get_config())
    assert again.get_config() == s.get_config()
    d = json.loads(json.dumps(schedules.serialize(s)))
    back = schedules.deserialize(d)
    assert type(back) is type(s) and [back(t) for t in STEPS] == [s(t) for t in STEPS]


def test_optimizer_config_carries_the_schedule():
    opt = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 50, warmup_target=0.2, warmup_steps=5))
    cfg = json.loads(json.dumps(optimizers.serialize(opt)))
    assert cfg["config"]["learning_rate"]["class_name"] == "CosineDecay"
    again = optimizers.deserialize(cfg)
    assert isinstance(again._learning_rate, schedules.CosineDecay)  # learning_rate: its current value
    assert again._learning_rate.get_config() == opt._learning_rate.get_config()
    assert again.learning_rate == opt.learning_rate == pytest.approx(0.1)


def test_argument_errors():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        schedules.serialize(lambda step: 0.1)
    with pytest.raises(NotImplementedError):
        schedules.LearningRateSchedule()(0)


def test_custom_schedule_subclass():
    class Halving(schedules.LearningRateSchedule):
        def __init__(self, lr):
            self.lr = lr

        def __call__(self, step):
            return self.lr / 2 ** step

        def get_config(self):
            return {"lr": self.lr}

    opt = optimizers.SGD(learning_rate=Halving(0.4))
    assert opt.learning_rate == pytest.approx(0.4)  # what the next native step is handed
    opt.iterations = 3
    assert opt.learning_rate == pytest.approx(0.05)
    assert schedules.deserialize(schedules.serialize(Halving(0.4)), custom_objects={"Halving": Halving}).lr == 0.4


# ---------------------------------------------------------------- training


def _model_and_data(opt, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8 * 6, 5)).astype(np.float32)
    y = rng.integers(0, 3, 8 * 6).astype(np.float32)
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Dense(3, activation="softmax", input_shape=(5,))])
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return m, x, y


class CountingSchedule(schedules.LearningRateSchedule):
    def __init__(self):
        self.steps = []

    def __call__(self, step):
        self.steps.append(step)
        return 0.01

    def get_config(self):
        return {}


def test_schedule_is_evaluated_once_per_step():
    sched = CountingSchedule()
    m, x, y = _model_and_data(optimizers.Adam(learning_rate=sched))
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert sched.steps == list(range(12))


@pytest.mark.parametrize("case", ["exponential_staircase", "piecewise", "cosine_warmup", "polynomial_cycle"])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_training_with_a_schedule_matches_reference(case, opt_name):
    """Each step uses the schedule's value at the number of updates done before it."""
    name, kw = CASES[case]
    m, x, y = _model_and_data(getattr(optimizers, opt_name)(learning_rate=getattr(schedules, name)(**kw)))
    W, b = (w.astype(np.float64) for w in m.get_weights())
    ref_opt = getattr(ref, opt_name)(learning_rate=0.0)
    weights = [W, b]
    for step in range(6):
        xb, yb = x[8 * step:8 * step + 8], y[8 * step:8 * step + 8]
        pred = ref.dense_forward(xb, *weights, "softmax")
        _, dpred = ref.loss_and_grad("sparse_categorical_crossentropy", yb, pred)
        _, dW, db = ref.dense_backward(xb, weights[0], pred, dpred, "softmax")
        ref_opt.lr = ref.schedule_value(name, step, **kw)
        weights = ref_opt.apply(weights, [dW, db])
        m.train_on_batch(xb, yb)
    for g, w in zip(m.get_weights(), weights):  # Adam's normalized step amplifies float32 rounding
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 if opt_name == "Adam" else 1e-6)


@pytest.mark.parametrize("case", ["exponential", "cosine_warmup", "piecewise"])
def test_adam_with_schedule_matches_keras(keras, case):
    """Dense(8, relu) -> Dense(3, softmax), Adam(schedule): weights after 6 fit steps, as Keras."""
    name, kw = CASES[case]
    rng = np.random.default_rng(3)
    x = (0.5 * rng.standard_normal((48, 5))).astype(np.float32)
    y = rng.integers(0, 3, 48)
    bigcore.utils.set_random_seed(1)
    m = bigcore.Sequential([layers.Dense(8, activation="relu", input_shape=(5,)),
                            layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizers.Adam(learning_rate=getattr(schedules, name)(**kw)),
              loss="sparse_categorical_crossentropy")
    km = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.Dense(3, activation="softmax")])
    km.set_weights(m.get_weights())
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=getattr(keras.optimizers.schedules, name)(**kw)),
               loss="sparse_categorical_crossentropy")
    h = m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kh = km.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert h.history["loss"] == pytest.approx(kh.history["loss"], rel=1e-4)
    for i, (g, w) in enumerate(zip(m.get_weights(), km.get_weights())):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"weight {i}")
