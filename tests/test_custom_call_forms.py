"""Forms a custom layer's call() takes in Keras's guides: keras.activations functions on its tensors,
a sub-layer run on a state made with ops.zeros from the eager call's batch size, Input(batch_shape),
and variables updated with assign_add / assign_sub (eagerly; inside call() a clear refusal)."""

from math import erf

import numpy as np
import pytest

import bigcore
from bigcore import activations, layers, ops

_NAMES = ["linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "elu", "selu", "softplus", "softsign",
          "exponential", "hard_sigmoid", "hard_silu", "leaky_relu", "relu6", "mish", "log_sigmoid", "celu",
          "log_softmax", "hard_tanh", "tanh_shrink", "squareplus", "soft_shrink", "hard_shrink", "sparse_plus",
          "swish", "hard_swish"]


class _Apply(layers.Layer):
    def __init__(self, fn, **kw):
        super().__init__(**kw)
        self.fn = fn

    def call(self, x):
        return self.fn(x)


@pytest.mark.parametrize("name", _NAMES)
def test_activation_functions_trace_inside_call(name):
    """keras.activations.<name>(t) on a call's tensor records the same function as bigcore.ops: the
    model gives what the function gives on the array (it raised a TypeError on symbolic tensors)."""
    fn = getattr(activations, name)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32) * 3
    inp = bigcore.Input((6,))
    model = bigcore.Model(inp, _Apply(fn)(inp))
    np.testing.assert_allclose(model.predict(x, verbose=0), fn(x), rtol=2e-5, atol=2e-6)


def test_relu_arguments_and_gelu_default_inside_call():
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6)
    for fn in (lambda t: activations.relu(t, negative_slope=0.1, max_value=2.0, threshold=0.5),
               lambda t: activations.relu(t, threshold=-1.0), lambda t: activations.gelu(t, approximate=True)):
        inp = bigcore.Input((6,))
        got = bigcore.Model(inp, _Apply(fn)(inp)).predict(x, verbose=0)
        np.testing.assert_allclose(got, fn(x), rtol=1e-5, atol=1e-6)
    # activations.gelu is the exact form (erf), unlike ops.gelu's default
    inp = bigcore.Input((6,))
    exact = bigcore.Model(inp, _Apply(activations.gelu)(inp)).predict(x, verbose=0)

    want = np.array([[v * 0.5 * (1 + erf(v / np.sqrt(2))) for v in row] for row in x.astype(np.float64)])
    np.testing.assert_allclose(exact, want, rtol=1e-5, atol=1e-6)


class _StepRNN(layers.Layer):
    """The functional-API guide's loop: a state from ops.zeros sized by the call's batch, projected
    by a Dense each step (a sub-layer run on a tensor without a batch axis)."""

    def __init__(self, units):
        super().__init__()
        self.units = units
        self.projection_1 = layers.Dense(units, activation="tanh")
        self.projection_2 = layers.Dense(units, activation="tanh")

    def call(self, inputs):
        state = ops.zeros(shape=(inputs.shape[0], self.units))
        outputs = []
        for t in range(inputs.shape[1]):
            y = self.projection_1(inputs[:, t, :]) + self.projection_2(state)
            state = y
            outputs.append(y)
        return ops.stack(outputs, axis=1)


def test_eager_call_sees_its_batch_size_and_trains_nothing_frozen():
    x = np.random.default_rng(1).normal(size=(1, 4, 3)).astype(np.float32)
    layer = _StepRNN(5)
    got = np.asarray(layer(x))
    W1, b1 = (w.numpy().astype(np.float64) for w in layer.projection_1.weights)
    W2, b2 = (w.numpy().astype(np.float64) for w in layer.projection_2.weights)
    state, want = np.zeros((1, 5)), []
    for t in range(4):
        state = np.tanh(x[:, t].astype(np.float64) @ W1 + b1) + np.tanh(state @ W2 + b2)
        want.append(state)
    np.testing.assert_allclose(got, np.stack(want, axis=1), rtol=1e-5, atol=1e-6)
    # the Dense on the constant state reads the weight: a change shows in the next call
    layer.projection_2.bias.assign(np.full(5, 0.5, np.float32))
    assert not np.allclose(np.asarray(layer(x)), got)


def test_dense_on_an_unbatched_tensor_trains_its_weights():
    class Offset(layers.Layer):
        def __init__(self):
            super().__init__()
            self.proj = layers.Dense(3)

        def call(self, x):
            return x + self.proj(ops.ones((1, 2)))

    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, Offset()(inp))
    model.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    before = [w.numpy() for w in model.weights]
    model.fit(np.zeros((8, 3), np.float32), np.ones((8, 3), np.float32), epochs=2, verbose=0)
    after = [w.numpy() for w in model.weights]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))
    kernel, bias = after
    np.testing.assert_allclose(model.predict(np.zeros((2, 3), np.float32), verbose=0),
                               np.tile(np.ones((1, 2)) @ kernel + bias, (2, 1)), rtol=1e-5, atol=1e-6)


def test_input_batch_shape():
    x = bigcore.Input(batch_shape=(4, 7))
    assert x.shape == (4, 7)
    assert bigcore.Input(batch_shape=(None, 2, 3)).shape == (None, 2, 3)
    with pytest.raises(ValueError, match="not both"):
        bigcore.Input(shape=(7,), batch_shape=(None, 7))
    with pytest.raises(ValueError, match="sparse"):
        bigcore.Input((3,), sparse=True)
    with pytest.raises(ValueError, match="optional"):
        bigcore.Input((3,), optional=True)
    layer = layers.InputLayer(batch_shape=(None, 5))
    assert layer.output.shape == (None, 5)


def test_assign_add_and_sub_eagerly():
    dense = layers.Dense(2)
    dense.build((None, 3))
    dense.bias.assign_add(np.array([1.0, 2.0]))
    dense.bias.assign_sub(np.array([0.5, 0.5]))
    np.testing.assert_array_equal(dense.bias.numpy(), np.array([0.5, 1.5], np.float32))
    with pytest.raises(ValueError, match="shape"):
        dense.bias.assign_add(np.ones(3))
    np.testing.assert_array_equal(2 * dense.bias + 1, np.array([2.0, 4.0], np.float32))  # operators on values


class _ComputeSum(layers.Layer):
    """The subclassing guide's layer: a non-trainable total updated by every call, returned."""

    def __init__(self, n):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(n,), trainable=False)

    def call(self, x):
        self.total.assign_add(ops.sum(x, axis=0))
        return self.total


def test_assign_add_inside_call_updates_at_every_eager_call():
    layer = _ComputeSum(2)
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    np.testing.assert_array_equal(layer(x), [4.0, 6.0])
    np.testing.assert_array_equal(layer(x), [8.0, 12.0])
    np.testing.assert_array_equal(layer.total.numpy(), [8.0, 12.0])
    assert layer.trainable_weights == [] and layer.non_trainable_weights == [layer.total]


class _RunningStats(layers.Layer):
    """A count and an exponential moving mean, assigned in call() with a weight's own arithmetic; the
    mean only while training (call() branches on `training`), the count at every call; the output
    reads the mean from before the assignment."""

    def __init__(self):
        super().__init__()
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")
        self.mean = self.add_weight(shape=(3,), initializer="zeros", trainable=False, name="mean")

    def call(self, x, training=None):
        self.count.assign_add(1.0)
        before = x - self.mean
        if training:
            self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x, axis=0))
        return before


def test_assignments_run_once_per_batch_in_fit_evaluate_and_predict():
    stats = _RunningStats()
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, layers.Dense(1)(stats(inp)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(2).normal(size=(64, 3)).astype(np.float32)
    model.fit(x, np.zeros((64, 1), np.float32), batch_size=16, epochs=2, shuffle=False, verbose=0)
    want = np.zeros(3)
    for _ in range(2):
        for b in range(4):
            want = 0.9 * want + 0.1 * x[16 * b:16 * (b + 1)].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(stats.mean.numpy(), want, rtol=1e-5, atol=1e-6)
    assert stats.count.numpy() == 8.0
    model.predict(x, batch_size=32, verbose=0)  # inference: the count moves, the mean does not
    model.evaluate(x, np.zeros((64, 1), np.float32), batch_size=64, verbose=0)
    assert stats.count.numpy() == 11.0
    np.testing.assert_allclose(stats.mean.numpy(), want, rtol=1e-5, atol=1e-6)
    # the output read the mean as it was before the call's assignment
    kernel, bias = (w.numpy() for w in model.layers[-1].weights)
    np.testing.assert_allclose(model.predict(x[:4], verbose=0), (x[:4] - stats.mean.numpy()) @ kernel + bias,
                               rtol=1e-5, atol=1e-5)


def test_assignment_refusals():
    class Batched(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(3,), initializer="zeros", trainable=False)

        def call(self, x):
            self.w.assign(x)
            return x

    with pytest.raises(ValueError, match=r"reduce the batch axis"):
        Batched()(bigcore.Input((3,)))
    inp = bigcore.Input((3,))
    dense = layers.Dense(3)
    dense(inp)
    with pytest.raises(ValueError, match="outside a custom layer's call"):
        dense.bias.assign(inp)


def test_dtype_policies_are_float32_or_refused():
    """A dtype other than float32 raised nowhere and was ignored; now the layer argument, the global
    policy and DTypePolicy refuse float16 / bfloat16 / float64 by name (float32 passes, in every form
    Keras writes it)."""
    for given in ("float32", np.float32, {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
                  bigcore.DTypePolicy("float32"), None):
        layers.Dense(2, dtype=given)
    for bad in ("mixed_float16", "float64", "bfloat16"):
        with pytest.raises(ValueError, match=f"dtype='{bad}' is not supported"):
            layers.Dense(2, dtype=bad)
        with pytest.raises(ValueError, match="float32"):
            bigcore.mixed_precision.set_global_policy(bad)
    bigcore.mixed_precision.set_global_policy("float32")
    policy = bigcore.mixed_precision.global_policy()
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == ("float32", "float32", "float32")
    assert layers.Embedding(5, 2, dtype="float32") is not None


class _Scaled(layers.Dense):
    """A Dense subclass with a keras.Variable of its own, set as an attribute."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = bigcore.Variable(np.full((units,), 2.0, np.float32), name="scale")

    def call(self, x):
        return ops.matmul(x, self.kernel) * self.scale + self.bias


def test_keras_variable_as_an_attribute_is_a_weight(tmp_path):
    v = bigcore.Variable("ones", shape=(2, 3), trainable=False, name="v")
    assert v.shape == (2, 3) and not v.trainable and v.numpy().sum() == 6
    with pytest.raises(ValueError, match="needs a `shape`"):
        bigcore.Variable("zeros")
    layer = _Scaled(3)
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, layer(inp))
    assert any(w is layer.scale for w in layer.trainable_weights) and len(layer.weights) == 3
    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), (x @ layer.kernel.numpy()) * 2.0 + layer.bias.numpy(),
                               rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((8, 3), np.float32), verbose=0)
    assert not np.allclose(layer.scale.numpy(), 2.0)  # trained
    model.save(str(tmp_path / "m.bigcore"))
    loaded = bigcore.models.load_model(str(tmp_path / "m.bigcore"), custom_objects={"_Scaled": _Scaled})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


class _Doubled(layers.Dense):
    def call(self, x):
        return 2.0 * super().call(x)


def test_a_subclass_of_a_built_in_layer_runs_its_own_call():
    """A Dense subclass overriding call() ran the native Dense and silently ignored the override;
    its call() is now traced (super().call(x) records Dense's own maths)."""
    layer = _Doubled(3, activation="relu")
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, layer(inp))
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    want = 2.0 * np.maximum(x @ layer.kernel.numpy() + layer.bias.numpy(), 0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(layer(x), want, rtol=1e-6, atol=1e-7)
