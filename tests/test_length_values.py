"""A run-time length used as a number inside traced code: Keras (torch) gives ops.shape(x)[0] as the
Python int of the batch, so `ops.cast(ops.shape(x)[0], "float32")`, `x / ops.shape(x)[0]`,
`ops.shape(x)[-1] ** 0.5` compute with its value. bigcore records that value as a tensor of the
program (the sum of that many ones), so it follows each call's batch size / sequence length."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops


class Fn(layers.Layer):
    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def call(self, x):
        return self.fn(x)


def _model(fn, shape):
    inp = bigcore.Input(shape)
    return bigcore.Model(inp, Fn(fn)(inp))


CASES = {
    "cast": (lambda x: x * 0 + ops.cast(ops.shape(x)[0], "float32"), lambda x: np.full_like(x, len(x))),
    "convert_to_tensor": (lambda x: x * 0 + ops.convert_to_tensor(ops.shape(x)[0], dtype="float32"),
                          lambda x: np.full_like(x, len(x))),
    "divide": (lambda x: x / ops.shape(x)[0], lambda x: x / len(x)),
    "times a float": (lambda x: x * (ops.shape(x)[0] * 0.5), lambda x: x * len(x) * 0.5),
    "float over": (lambda x: x * (1.0 / ops.shape(x)[0]), lambda x: x / len(x)),
    "plus a float": (lambda x: x + (ops.shape(x)[0] + 0.5), lambda x: x + len(x) + 0.5),
    "minus a tensor": (lambda x: ops.shape(x)[0] - x, lambda x: len(x) - x),
    "power": (lambda x: x / ops.shape(x)[-1] ** 0.5, lambda x: x / np.sqrt(x.shape[-1])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_size_values_follow_each_call(case):
    fn, want = CASES[case]
    model = _model(fn, (3,))
    for n in (5, 7, 1):
        x = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, batch_size=n, verbose=0), want(x), rtol=1e-6)


def test_a_run_time_sequence_length_as_a_number():
    model = _model(lambda x: ops.sum(x, axis=1) / ops.cast(ops.shape(x)[1], "float32"), (None, 2))
    for T in (1, 4, 9):
        x = np.random.default_rng(T).normal(size=(3, T, 2)).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), x.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_lengths_that_size_ops_stay_lengths():
    model = _model(lambda x: ops.reshape(x, (ops.shape(x)[0] * 1, ops.shape(x)[1] // 2, -1)), (4,))
    assert model.predict(np.ones((2, 4), np.float32), verbose=0).shape == (2, 2, 2)


def _loss_per_batch(mod):
    def loss(y_true, y_pred):
        return mod.ops.sum(mod.ops.square(y_true - y_pred)) / mod.ops.cast(mod.ops.shape(y_true)[0], "float32")
    return loss


def test_a_custom_loss_over_the_batch_size_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.normal(size=(12, 2)).astype(np.float32)
    init = [rng.normal(size=(4, 2)).astype(np.float32), np.zeros(2, np.float32)]
    runs = []
    for mod in (bigcore, keras):
        inp = mod.Input((4,))
        model = mod.Model(inp, mod.layers.Dense(2)(inp))
        model.set_weights(init)
        model.compile(optimizer=mod.optimizers.SGD(0.05), loss=_loss_per_batch(mod))
        hist = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)  # batches of 5, 5, 2
        runs.append(([w.numpy() if mod is bigcore else w.value.detach().cpu().numpy() for w in model.weights],
                     hist.history["loss"]))
    (ours, our_loss), (theirs, their_loss) = runs
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-5)


def test_add_loss_over_the_batch_size():
    class Penalty(layers.Layer):
        def call(self, x):
            self.add_loss(ops.sum(ops.square(x)) / ops.cast(ops.shape(x)[0], "float32"))
            return x

    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, Penalty()(inp))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    got = model.evaluate(x, x, batch_size=6, verbose=0)
    assert got == pytest.approx(float(np.sum(x.astype(np.float64) ** 2) / 6), rel=1e-5)
