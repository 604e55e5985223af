"""A Regularizer subclass with its own __call__ (Keras's way to write a penalty): the program records
that call on the weight (or, as an activity regularizer, on the layer's output, divided by the batch
size) as a loss term, so its gradient trains the weights. It was silently ignored in training before
(only L1L2's l1 and l2 reached the native step). Checked against Keras 3: the same weights and losses
after SGD steps."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops, regularizers


class Orthogonal(regularizers.Regularizer):
    """factor * sum((W^T W - I)^2): pushes the kernel's columns towards an orthonormal set."""

    def __init__(self, factor=0.05):
        self.factor = factor

    def __call__(self, x):
        gram = ops.matmul(ops.transpose(x), x)
        return self.factor * ops.sum(ops.square(gram - ops.eye(x.shape[1])))

    def get_config(self):
        return {"factor": self.factor}


class Shrink(regularizers.Regularizer):
    def __init__(self, factor=2.0):
        self.factor = factor

    def __call__(self, x):
        return self.factor * ops.sum(ops.square(x))


class NumpyPenalty(regularizers.Regularizer):
    def __call__(self, x):
        return float(np.sum(np.square(np.asarray(x))))


rng = np.random.default_rng(0)
X = rng.normal(size=(16, 5)).astype(np.float32)
Y = rng.normal(size=(16, 3)).astype(np.float32)


def _train(mod, reg_kernel, reg_bias, init, activity=None):
    inp = mod.Input((5,))
    dense = mod.layers.Dense(3, kernel_regularizer=reg_kernel, bias_regularizer=reg_bias,
                             activity_regularizer=activity)
    model = mod.Model(inp, dense(inp))
    model.set_weights(init)
    model.compile(optimizer=mod.optimizers.SGD(0.05), loss="mse")
    hist = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    values = [w.value.detach().cpu().numpy() if mod is not bigcore else w.numpy() for w in model.weights]
    return values, hist.history["loss"]


def _init():
    return [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32)]


def test_a_custom_penalty_matches_keras(keras):
    init = _init()

    class KOrthogonal(keras.regularizers.Regularizer):
        def __call__(self, x):
            gram = keras.ops.matmul(keras.ops.transpose(x), x)
            return 0.05 * keras.ops.sum(keras.ops.square(gram - keras.ops.eye(x.shape[1])))

    class KShrink(keras.regularizers.Regularizer):
        def __call__(self, x):
            return 2.0 * keras.ops.sum(keras.ops.square(x))

    ours, our_loss = _train(bigcore, Orthogonal(0.05), Shrink(2.0), init)
    theirs, their_loss = _train(keras, KOrthogonal(), KShrink(), init)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-4)
    plain, _ = _train(bigcore, None, None, init)
    assert not np.allclose(plain[0], ours[0], atol=1e-3)  # the penalty moved the weights


def test_a_custom_penalty_beside_l2():
    """A custom regularizer on one weight and a native L2 on another: each adds its own gradient once
    (the custom one's l1, l2 stay 0 natively), against the gradient written out by hand."""
    init = _init()
    w, b = init[0].astype(np.float64), init[1].astype(np.float64)
    lr = 0.05
    for s in range(0, 16, 8):  # one epoch of two SGD steps, as fit runs them
        x, y = X[s:s + 8].astype(np.float64), Y[s:s + 8].astype(np.float64)
        err = x @ w + b - y
        gw = 2 * x.T @ err / err.size + 2.0 * 2 * w  # mse + Shrink(2.0)
        gb = 2 * err.sum(0) / err.size + 0.01 * 2 * b  # mse + L2(0.01)
        w, b = w - lr * gw, b - lr * gb
    inp = bigcore.Input((5,))
    dense = layers.Dense(3, kernel_regularizer=Shrink(2.0), bias_regularizer=regularizers.L2(0.01))
    model = bigcore.Model(inp, dense(inp))
    model.set_weights(init)
    model.compile(optimizer=bigcore.optimizers.SGD(lr), loss="mse")
    model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(dense.kernel.numpy(), w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dense.bias.numpy(), b, rtol=1e-4, atol=1e-5)


def test_a_custom_penalty_in_a_custom_layer_weight_and_after_reload(tmp_path):
    class Scale(layers.Layer):
        def build(self, shape):
            self.s = self.add_weight(shape=(shape[-1],), initializer="ones", regularizer=Shrink(1.0))

        def call(self, x):
            return x * self.s

    inp = bigcore.Input((5,))
    model = bigcore.Model(inp, Scale()(inp))
    model.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    model.fit(X, X, batch_size=16, epochs=1, verbose=0)
    # the data term's gradient is 0 at s = 1 (y = x): only the penalty moves s, by lr * 2 * s
    np.testing.assert_allclose(model.get_weights()[0], np.full(5, 1.0 - 0.1 * 2.0), rtol=1e-6)
    assert len(model.losses) == 1 and np.isclose(model.losses[0], np.sum(np.square(model.get_weights()[0])))


def test_a_penalty_computed_outside_the_ops_is_refused():
    inp = bigcore.Input((5,))
    with pytest.raises(TypeError, match="bigcore.ops"):  # at compile, before a step
        model = bigcore.Model(inp, layers.Dense(3, kernel_regularizer=NumpyPenalty())(inp))
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, Y, verbose=0)


def test_a_custom_activity_penalty_matches_keras_and_the_native_l2(keras):
    """reg(y) / batch on the layer's output, as Keras: a custom squared penalty trains as Keras's own
    custom one and as bigcore's native L2 of the same factor."""

    class KShrink(keras.regularizers.Regularizer):
        def __call__(self, y):
            return 0.3 * keras.ops.sum(keras.ops.square(y))

    init = _init()
    ours, our_loss = _train(bigcore, None, None, init, activity=Shrink(0.3))
    theirs, their_loss = _train(keras, None, None, init, activity=KShrink())
    native, native_loss = _train(bigcore, None, None, init, activity=regularizers.L2(0.3))
    for a, b, c in zip(ours, theirs, native):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-4)
    plain, _ = _train(bigcore, None, None, init)
    assert not np.allclose(plain[0], ours[0], atol=1e-3)


def test_a_custom_activity_penalty_in_attention_projections():
    """MultiHeadAttention passes its activity regularizer to its projections and output (Keras): the
    custom penalty trains there too, as the native L2 of the same factor does."""
    x = np.random.default_rng(3).normal(size=(8, 4, 6)).astype(np.float32)
    y = np.random.default_rng(4).normal(size=(8, 4, 6)).astype(np.float32)
    out = []
    for reg in (Shrink(0.05), regularizers.L2(0.05)):
        bigcore.utils.set_random_seed(1)
        inp = bigcore.Input((4, 6))
        att = layers.MultiHeadAttention(2, 3, activity_regularizer=reg)
        model = bigcore.Model(inp, att(inp, inp))
        model.compile(optimizer=bigcore.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        out.append(model.get_weights())
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@bigcore.saving.register_keras_serializable(package="tests")
class RegisteredShrink(Shrink):
    def get_config(self):
        return {"factor": self.factor}


@pytest.mark.parametrize("suffix", [".keras", ".bigcore"])
def test_custom_regularizers_round_trip_through_saved_files(tmp_path, suffix):
    """By custom_objects and by registration; a file naming a class nobody gave raises, naming it."""

    class Given(Shrink):
        def get_config(self):
            return {"factor": self.factor}

    inp = bigcore.Input((5,))
    dense = layers.Dense(3, kernel_regularizer=Given(0.25), bias_regularizer=RegisteredShrink(0.5))
    model = bigcore.Model(inp, dense(inp))
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    with pytest.raises(ValueError, match="Unknown regularizer 'Given'"):
        bigcore.models.load_model(path)
    loaded = bigcore.models.load_model(path, custom_objects={"Given": Given})
    d = loaded.layers[-1]
    assert type(d.kernel_regularizer) is Given and d.kernel_regularizer.factor == 0.25
    assert type(d.bias_regularizer) is RegisteredShrink and d.bias_regularizer.factor == 0.5
    # the reloaded penalties train as the first model's do
    init = model.get_weights()
    for m in (model, loaded):
        m.set_weights(init)
        m.compile(optimizer=bigcore.optimizers.SGD(0.05), loss="mse")
        m.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
