"""Shape-only layers (Reshape, Flatten, TimeDistributed of either) lower to a view: the input's
native tensor seen with the output's shape, no op and no copy (Program::add_view_tensor). Every
consumer then sees the new shape: recorded bigcore.ops / keras.ops primitives, traced custom
layers, built-in layers. Checked against Keras 3 (forward, Adam steps, fit), with gradients that
reach one tensor both through a view and directly, a loss on a view, and a save / load round trip.

Each model is written once as a function of the framework (`lib` = bigcore or keras), so both run
the same user code.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from test_custom_layers import _Lib

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


_CUSTOM = {}


def custom_layers(lib):
    """SwapMix: transpose the last two axes, then a trained matmul; the classes are made once per
    framework (saving finds them by name)."""
    if lib.mod in _CUSTOM:
        return _CUSTOM[lib.mod]
    o, L = lib.ops, lib.layers

    class SwapMix(L.Layer):
        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-2], self.units), initializer="glorot_uniform", name="w")

        def call(self, x):
            return o.tanh(o.matmul(o.transpose(x, (0, 2, 1)), self.w))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    _CUSTOM[lib.mod] = SwapMix
    return SwapMix


def transpose_model(lib):
    """Dense -> Reshape -> custom transpose + matmul -> Flatten -> Dense (the reported failure)."""
    SwapMix = custom_layers(lib)
    x = lib.Input((12,))
    h = lib.layers.Dense(12, activation="tanh")(x)
    h = lib.layers.Reshape((3, 4))(h)
    h = SwapMix(5, name="swap")(h)  # (4, 5)
    h = lib.layers.Flatten()(h)
    return lib.Model(x, lib.layers.Dense(3, activation="softmax")(h))


def reduce_model(lib):
    """ops on the Reshape output directly (sum over axis 2, matmul with itself transposed), the
    reshaped tensor's source read a second time (its gradient comes back both ways), Reshape with -1."""
    o = lib.ops
    x = lib.Input((12,))
    h = lib.layers.Dense(12, activation="tanh")(x)
    r = lib.layers.Reshape((-1, 4))(h)                      # (3, 4)
    s = o.sum(r, axis=2)                               # (3,)
    g = o.matmul(r, o.transpose(r, (0, 2, 1)))         # (3, 3)
    both = lib.layers.Concatenate()([s, lib.layers.Flatten()(g), h])
    return lib.Model(x, lib.layers.Dense(2, activation="softmax")(both))


def sequential_model(lib):
    SwapMix = custom_layers(lib)
    return lib.mod.Sequential([lib.Input((12,)), lib.layers.Dense(12), lib.layers.Reshape((3, 4)), SwapMix(2),
                               lib.layers.Flatten(), lib.layers.Dense(3, activation="softmax")])


def flatten_softmax_model(lib):
    """Flatten then a softmax over the flattened axis: over the old shape's last axis it would run per
    row of 4 and give a wrong answer silently."""
    x = lib.Input((3, 4))
    h = lib.layers.Dense(4)(x)
    h = lib.ops.softmax(lib.layers.Flatten()(h), axis=-1)
    return lib.Model(x, lib.layers.Dense(3, activation="softmax")(h))


def repeat_permute_model(lib):
    """RepeatVector -> Reshape -> Permute -> op over an axis; TimeDistributed(Reshape) -> op."""
    o = lib.ops
    x = lib.Input((6,))
    h = lib.layers.Dense(6)(x)
    rep = lib.layers.RepeatVector(2)(h)                                  # (2, 6)
    r = lib.layers.Reshape((2, 3, 2))(rep)                               # (2, 3, 2)
    p = lib.layers.Permute((3, 1, 2))(r)                                 # (2, 2, 3)
    a = o.max(p, axis=3)                                            # (2, 2)
    t = lib.layers.TimeDistributed(lib.layers.Reshape((3, 2)))(rep)           # (2, 3, 2)
    b = o.mean(t, axis=3)                                           # (2, 3)
    return lib.Model(x, lib.layers.Dense(3, activation="softmax")(
        lib.layers.Concatenate()([lib.layers.Flatten()(a), lib.layers.Flatten()(b)])))


BUILDS = [transpose_model, reduce_model, sequential_model, flatten_softmax_model, repeat_permute_model]


def _data(n_in, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n,) + n_in).astype(np.float32)
    return x, rng.integers(0, 3, n)


def _in_shape(m):
    return tuple(m.inputs[0].shape[1:])


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b.__name__)
def test_shape_only_layers_then_ops_match_keras(keras, build):
    bigcore.utils.set_random_seed(3)
    m = build(_Lib(bigcore))
    k = build(_Lib(keras))
    k.set_weights(m.get_weights())
    x, y = _data(_in_shape(m))
    if build is reduce_model:
        y = y % 2
    np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
    for i in range(3):  # a few single Adam steps
        m.train_on_batch(x[8 * i:8 * i + 8], y[8 * i:8 * i + 8])
        k.train_on_batch(x[8 * i:8 * i + 8], y[8 * i:8 * i + 8])
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    hm = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    hk = k.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hm, hk, rtol=1e-4)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert hm[-1] < hm[0]


def test_reshape_is_a_view_not_a_copy():
    m = transpose_model(_Lib(bigcore))
    native = m._native().native
    kinds = native.op_kinds()
    assert "prim:reshape" not in kinds and not any("Reshape" in k or "Copy" in k for k in kinds), kinds
    views = [t for t in range(native.n_tensors) if native.view_of(t) >= 0]
    assert len(views) == 2  # Reshape and Flatten
    assert native.tensor_shape(views[0]) == (3, 4) and native.tensor_shape(native.view_of(views[0])) == (12,)


def test_loss_on_a_reshaped_output_and_output_of_an_input_view(keras):
    """The model's output is a view (the loss writes the shared gradient); a view of a model input."""
    def build(lib):
        x = lib.Input((12,))
        flat_in = lib.layers.Reshape((3, 4))(x)
        h = lib.layers.Dense(12, activation="tanh")(lib.layers.Flatten()(flat_in))
        out = lib.layers.Reshape((3, 4))(h)
        return lib.Model(x, [out, lib.ops.sum(out, axis=2)])

    bigcore.utils.set_random_seed(4)
    m, k = build(_Lib(bigcore)), build(_Lib(keras))
    k.set_weights(m.get_weights())
    x, _ = _data((12,))
    t1 = np.random.default_rng(1).normal(size=(32, 3, 4)).astype(np.float32)
    t2 = np.random.default_rng(2).normal(size=(32, 3)).astype(np.float32)
    for a, b in zip(m.predict(x, verbose=0), k.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), ["mse", "mse"])
        model.fit(x, [t1, t2], batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_view_gradient_matches_finite_differences():
    """d/dx of sum(w * transpose(reshape(x)))): the gradient reaches the model input's producer
    through the view, and adds to the one through the unreshaped path."""
    x = bigcore.Input((6,))
    h = layers.Dense(6, use_bias=False, kernel_initializer="glorot_uniform")(x)
    r = layers.Reshape((2, 3))(h)
    y = ops.sum(ops.transpose(r, (0, 2, 1)) * np.arange(6, dtype=np.float32).reshape(3, 2), axis=(1, 2)) \
        + ops.sum(h * h, axis=1)
    m = bigcore.Model(x, ops.expand_dims(y, 1))
    m.compile(bigcore.optimizers.SGD(1.0), "mse")
    xs = np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32)
    w = m.get_weights()[0].astype(np.float64)

    def loss(wv):
        hh = xs.astype(np.float64) @ wv
        yy = (hh.reshape(4, 2, 3).transpose(0, 2, 1) * np.arange(6).reshape(3, 2)).sum(axis=(1, 2)) \
            + (hh * hh).sum(1)
        return np.mean(yy ** 2)

    eps, fd = 1e-4, np.zeros_like(w)
    for i in np.ndindex(*w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        fd[i] = (loss(w + d) - loss(w - d)) / (2 * eps)
    m.train_on_batch(xs, np.zeros((4, 1), np.float32))  # SGD(1): w - w' is the gradient
    np.testing.assert_allclose(w - m.get_weights()[0], fd, rtol=2e-3, atol=2e-3)


def test_save_load_round_trip_with_a_custom_layer_after_reshape(tmp_path):
    SwapMix = custom_layers(_Lib(bigcore))
    m = transpose_model(_Lib(bigcore))
    x, y = _data((12,))
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    want = m.predict(x, verbose=0)
    for name in ("model" + bigcore.saving.MODEL_SUFFIX, "model.keras"):
        path = str(tmp_path / name)
        m.save(path)
        m2 = bigcore.saving.load_model(path, custom_objects={"SwapMix": SwapMix})
        np.testing.assert_array_equal(m2.predict(x, verbose=0), want)


def variable_length_model(lib):
    """A run-time length (None) through Reshape(-1) and Flatten into ops over the derived lengths."""
    o = lib.ops
    x = lib.Input((None, 8))
    h = lib.layers.Dense(8, activation="tanh")(x)
    r = lib.layers.Reshape((-1, 4))(h)                                  # (2T, 4)
    a = o.mean(o.transpose(r, (0, 2, 1)), axis=2)                  # (4,)
    f = o.max(lib.layers.Flatten()(h), axis=1, keepdims=True)           # (1,) from (8T,)
    return lib.Model(x, lib.layers.Dense(2, activation="softmax")(lib.layers.Concatenate()([a, f])))


def test_variable_length_reshape_and_flatten_match_keras(keras):
    bigcore.utils.set_random_seed(6)
    m, k = variable_length_model(_Lib(bigcore)), variable_length_model(_Lib(keras))
    assert m.layers[2].output.shape == (None, None, 4)
    k.set_weights(m.get_weights())
    rng = np.random.default_rng(7)
    for T in (3, 5, 1):  # one program, its lengths per call
        x = rng.normal(size=(4, T, 8)).astype(np.float32)
        np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    x, y = rng.normal(size=(16, 5, 8)).astype(np.float32), rng.integers(0, 2, 16)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    x2 = rng.normal(size=(3, 2, 8)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x2, verbose=0), k.predict(x2, verbose=0), rtol=1e-5, atol=1e-6)


def test_variable_length_reshape_errors():
    x = bigcore.Input((None, 8))
    with pytest.raises(ValueError, match=r"needs -1 in target_shape"):
        layers.Reshape((4, 4))(x)
    with pytest.raises(ValueError, match=r"not certainly a multiple of 3"):
        layers.Reshape((-1, 3))(x)
    assert layers.Reshape((2, -1))(x).shape == (None, 2, None)
