"""TimeDistributed over any layer a Keras user wraps: a custom layer's traced call(), a Sequential (a
CNN over video frames), a functional and a subclassed model, layers with several weights,
BatchNormalization and Dropout inside, on fixed and run-time time lengths. The wrapped call is
lowered as any graph is, into the folded op's own tensor table (models/lowering.py,
Lowering.folded). Against Keras 3: same weights -> same outputs (1e-5), same weights after Adam
steps (1e-4); saved and loaded as other layers are."""

import numpy as np
import pytest

import bigcore
from bigcore import layers

rng = np.random.default_rng(7)


def sq_class(lib):
    class Sq(lib.layers.Layer):
        """A custom layer of one weight: tanh(x @ w) * 2."""

        def build(self, s):
            self.w = self.add_weight(shape=(s[-1], 3), initializer="glorot_uniform", name="w")

        def call(self, x):
            return lib.ops.tanh(lib.ops.matmul(x, self.w)) * 2.0

        def compute_output_shape(self, s):  # Keras's TimeDistributed asks for it (bigcore traces the call)
            return tuple(s[:-1]) + (3,)

    return Sq


def two_weights_class(lib):
    class Affine(lib.layers.Layer):
        """Several weights and a branch on `training` (a scale only in training)."""

        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, s):
            self.k = self.add_weight(shape=(s[-1], self.units), initializer="glorot_uniform", name="k")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", name="b")

        def call(self, x, training=None):
            y = lib.ops.matmul(x, self.k) + self.b
            if training:
                return lib.ops.relu(y) * 0.5
            return lib.ops.relu(y)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

        def compute_output_shape(self, s):
            return tuple(s[:-1]) + (self.units,)

    return Affine


def net_class(lib):
    class Net(lib.Model):
        """A subclassed model: two Dense layers and a residual through the first."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.d1 = lib.layers.Dense(4, activation="tanh")
            self.d2 = lib.layers.Dense(2)

        def build(self, s):  # Keras's TimeDistributed builds the model before its first call
            self.d1.build(s)
            self.d2.build(tuple(s[:-1]) + (4,))

        def call(self, x):
            h = self.d1(x)
            return self.d2(h + lib.ops.sum(h, axis=-1, keepdims=True))

        def compute_output_shape(self, s):
            return tuple(s[:-1]) + (2,)

    return Net


def custom(lib, T):
    inp = lib.Input((T, 4))
    return lib.Model(inp, lib.layers.TimeDistributed(sq_class(lib)())(inp))


def custom_branching(lib, T):
    inp = lib.Input((T, 4))
    h = lib.layers.TimeDistributed(two_weights_class(lib)(5))(inp)
    return lib.Model(inp, lib.layers.TimeDistributed(lib.layers.Dense(2))(h))


def sequential(lib, T):
    inp = lib.Input((T, 4))
    inner = lib.Sequential([lib.layers.Dense(3, activation="relu"), lib.layers.Dense(2)])
    return lib.Model(inp, lib.layers.TimeDistributed(inner)(inp))


def functional(lib, T):
    i = lib.Input((4,))
    h = lib.layers.Dense(5, activation="tanh")(i)
    inner = lib.Model(i, lib.layers.Concatenate()([h, lib.layers.Dense(2)(i)]))
    inp = lib.Input((T, 4))
    return lib.Model(inp, lib.layers.TimeDistributed(inner)(inp))


def subclassed(lib, T):
    inp = lib.Input((T, 4))
    return lib.Model(inp, lib.layers.TimeDistributed(net_class(lib)())(inp))


def video_cnn(lib, T):
    """Keras's pattern: a per-frame CNN (a Sequential) under TimeDistributed, then an LSTM."""
    frame = lib.Sequential([lib.layers.Conv2D(3, 3, activation="relu"), lib.layers.MaxPooling2D(2),
                            lib.layers.Flatten(), lib.layers.Dense(4, activation="tanh")])
    inp = lib.Input((T, 6, 6, 2))
    h = lib.layers.TimeDistributed(frame)(inp)
    return lib.Model(inp, lib.layers.LSTM(3)(h))


MODELS = {"custom": (custom, (4,), (3,)), "custom_branching": (custom_branching, (4,), (2,)),
          "sequential": (sequential, (4,), (2,)), "functional": (functional, (4,), (7,)),
          "subclassed": (subclassed, (4,), (2,)), "video_cnn": (video_cnn, (6, 6, 2), None)}


def data(T, step_in, step_out, n=6):
    x = rng.normal(size=(n, T) + step_in).astype(np.float32)
    y = rng.normal(size=(n, 3) if step_out is None else (n, T) + step_out).astype(np.float32)
    return x, y


def keras_weights(model):
    return [w.value.detach().cpu().numpy() for w in model.weights]


def keras_predict(model, x):
    # (Keras's predict converts the transposed output with np.array, which warns under numpy 2)
    return model(x, training=False).detach().cpu().numpy()


def adam_steps(model, lib, x, y):
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("T", [5, None])
def test_matches_keras(keras, name, T):
    make, step_in, step_out = MODELS[name]
    ours, theirs = make(bigcore, T), make(keras, T)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_weights(theirs)]
    theirs.set_weights(ours.get_weights())
    for length in ([5] if T else [3, 6]):  # a run-time length: two lengths through ONE model
        x, _ = data(length, step_in, step_out)
        np.testing.assert_allclose(ours.predict(x, verbose=0), keras_predict(theirs, x), rtol=1e-5, atol=1e-5)
    x, y = data(5, step_in, step_out)
    adam_steps(ours, bigcore, x, y)
    adam_steps(theirs, keras, x, y)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), float(theirs.evaluate(x, y, verbose=0)), rtol=1e-4)


def test_custom_layer_numpy_reference_and_gradient():
    """tanh(x @ w) * 2 at every timestep; its weight's gradient (one SGD step) as NumPy gives it."""
    model = custom(bigcore, None)
    w = model.get_weights()[0].astype(np.float64)
    x = rng.normal(size=(3, 4, 4)).astype(np.float32)
    y = rng.normal(size=(3, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x @ w) * 2, rtol=1e-5, atol=1e-6)
    model.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(x, y)
    z = np.tanh(x.astype(np.float64) @ w)
    dout = 2 * (2 * z - y) / y.size
    grad = np.einsum("bti,btj->ij", x, dout * 2 * (1 - z ** 2))
    np.testing.assert_allclose(model.get_weights()[0], w - 0.1 * grad, rtol=1e-4, atol=1e-6)


def test_branch_on_training_runs_per_mode():
    model = custom_branching(bigcore, None)
    inner = model.layers[1].layer
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    ref = np.maximum(x @ inner.k.numpy() + inner.b.numpy(), 0)
    dense = model.layers[2].layer
    out = lambda h: h @ dense.kernel.numpy() + dense.bias.numpy()  # noqa: E731
    np.testing.assert_allclose(np.asarray(model(x)), out(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model(x, training=True)), out(ref * 0.5), rtol=1e-5, atol=1e-5)


def bn_dropout(lib, T):
    inner = lib.Sequential([lib.layers.Dense(6), lib.layers.BatchNormalization(), lib.layers.Dropout(0.5),
                            lib.layers.Dense(2)])
    inp = lib.Input((T, 4))
    return lib.Model(inp, lib.layers.TimeDistributed(inner)(inp))


@pytest.mark.parametrize("T", [4, None])
def test_batchnorm_and_dropout_inside(keras, T):
    ours, theirs = bn_dropout(bigcore, T), bn_dropout(keras, T)
    ws = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_weights()]
    ws[5] = np.abs(ws[5]) + 0.5  # moving variance
    ours.set_weights(ws)
    theirs.set_weights(ws)
    x = rng.normal(size=(8, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_predict(theirs, x), rtol=1e-5, atol=1e-5)
    # training: dropout is active (a training call differs from inference, and from another one)
    a, b = np.asarray(ours(x, training=True)), np.asarray(ours(x, training=True))
    assert not np.allclose(a, ours.predict(x, verbose=0)) and not np.allclose(a, b)
    # fit moves BatchNormalization's statistics; with the layer frozen (after lowering) it keeps them
    ours.compile(optimizer="adam", loss="mse")
    y = rng.normal(size=(8, 4, 2)).astype(np.float32)
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0)
    bn = ours.layers[1].layer.layers[1]
    moved = bn.moving_mean.numpy()
    assert not np.allclose(moved, ws[4])
    bn.trainable = False
    ours.fit(x, y, epochs=1, batch_size=4, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), moved)


def bn_video(lib, T):
    """BatchNormalization of a frame's channels inside a per-frame Sequential, fused ReLU after."""
    # (no bias before the normalization: its gradient is zero but for rounding, which Adam would amplify)
    frame = lib.Sequential([lib.layers.Conv2D(3, 2, use_bias=False), lib.layers.BatchNormalization(momentum=0.8),
                            lib.layers.ReLU(), lib.layers.Flatten(), lib.layers.Dense(2)])
    inp = lib.Input((T, 4, 4, 2))
    return lib.Model(inp, lib.layers.TimeDistributed(frame)(inp))


@pytest.mark.parametrize("T", [3, None])
def test_batchnorm_trains_per_timestep_as_keras(keras, T):
    """Keras 3 calls the wrapped layer once per timestep: in training, BatchNormalization normalizes
    each timestep over the batch, and its moving statistics move once per timestep."""
    ours, theirs = bn_video(bigcore, T), bn_video(keras, T)
    theirs.set_weights(ours.get_weights())
    x = rng.normal(size=(6, 3, 4, 4, 2)).astype(np.float32) + np.arange(3, dtype=np.float32)[None, :, None, None,
                                                                                           None] * 2
    np.testing.assert_allclose(np.asarray(ours(x, training=True)), theirs(x, training=True).detach().cpu().numpy(),
                               rtol=1e-4, atol=1e-4)
    theirs.set_weights(ours.get_weights())  # (both calls moved the statistics; from the same values again)
    y = rng.normal(size=(6, 3, 2)).astype(np.float32)
    adam_steps(ours, bigcore, x, y)
    adam_steps(theirs, keras, x, y)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_batchnorm_per_timestep_gradient():
    """The per-timestep batch statistics' backward against central differences (float64 loss)."""
    inp = bigcore.Input((3, 4))
    bn = layers.BatchNormalization()
    model = bigcore.Model(inp, layers.TimeDistributed(bigcore.Sequential([layers.Dense(3), bn]))(inp))
    x = rng.normal(size=(4, 3, 4)).astype(np.float32)
    y = rng.normal(size=(4, 3, 3)).astype(np.float32)
    w0 = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    model.train_on_batch(x, y)
    grads = [a - b for a, b in zip(w0, model.get_weights())]  # lr 1: the gradient

    def loss(ws):
        k, b, g, beta = (w.astype(np.float64) for w in ws[:4])
        h = x.astype(np.float64) @ k + b
        mean, var = h.mean(0, keepdims=True), h.var(0, keepdims=True)  # per timestep: over the batch
        return np.mean(((h - mean) / np.sqrt(var + 1e-3) * g + beta - y) ** 2)

    eps = 1e-4
    for i in range(4):
        num = np.zeros_like(w0[i], np.float64)
        for j in np.ndindex(w0[i].shape):
            plus, minus = [w.copy() for w in w0], [w.copy() for w in w0]
            plus[i] = plus[i].astype(np.float64)
            minus[i] = minus[i].astype(np.float64)
            plus[i][j] += eps
            minus[i][j] -= eps
            num[j] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grads[i], num, rtol=2e-3, atol=2e-4)


def test_mask_passes_on(keras):
    """Embedding(mask_zero) -> TimeDistributed(Sequential) -> LSTM: the LSTM sees the mask."""
    def make(lib):
        inp = lib.Input((None,))
        h = lib.layers.Embedding(9, 4, mask_zero=True)(inp)
        h = lib.layers.TimeDistributed(lib.Sequential([lib.layers.Dense(5, activation="tanh"),
                                                       lib.layers.Dense(3)]))(h)
        return lib.Model(inp, lib.layers.LSTM(2)(h))

    ours, theirs = make(bigcore), make(keras)
    theirs.set_weights(ours.get_weights())
    x = rng.integers(1, 9, size=(4, 6)).astype(np.float32)
    x[:, 4:] = 0
    x[0, 2:] = 0
    got = ours.predict(x, verbose=0)
    np.testing.assert_allclose(got, keras_predict(theirs, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1:], ours.predict(x[1:, :4], verbose=0), rtol=1e-5, atol=1e-6)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    adam_steps(ours, bigcore, x, y)
    adam_steps(theirs, keras, x, y)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@bigcore.saving.register_keras_serializable(package="test_time_distributed_nested")
class SavedSq(sq_class(bigcore)):
    pass


@pytest.mark.parametrize("kind", ["custom", "sequential", "video_cnn"])
def test_save_and_load(tmp_path, kind):
    if kind == "custom":
        inp = bigcore.Input((None, 4))
        model = bigcore.Model(inp, layers.TimeDistributed(SavedSq())(inp))
        x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    else:
        model = MODELS[kind][0](bigcore, None)
        x = data(3, MODELS[kind][1], MODELS[kind][2], 2)[0]
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = bigcore.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = type(model).from_config(model.get_config()) if kind != "custom" else loaded
    if kind == "custom":
        fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


def test_sequential_file_loads_in_keras(keras, tmp_path):
    model = sequential(bigcore, None)
    x = data(4, (4,), (2,), 3)[0]
    model.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras_predict(km, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_refusals_are_clear():
    class Penalized(bigcore.layers.Layer):
        def call(self, x):
            self.add_loss(bigcore.ops.sum(x))
            return x * 2.0

    inp = bigcore.Input((3, 4))
    model = bigcore.Model(inp, layers.TimeDistributed(Penalized())(inp))
    with pytest.raises(NotImplementedError, match="add_loss"):
        model.predict(np.zeros((1, 3, 4), np.float32), verbose=0)
    inner = bigcore.Sequential([layers.Dense(2, activity_regularizer="l2")])
    model = bigcore.Model(inp, layers.TimeDistributed(inner)(inp))
    with pytest.raises(NotImplementedError, match="activity regularizer"):
        model.predict(np.zeros((1, 3, 4), np.float32), verbose=0)
