"""`super().call(...)` from the call() of a user's subclass of a built-in layer (Keras's way to add a
step before or after a layer): the built-in op runs on the subclass's weights, inside the traced call.
Each case is checked against the plain built-in layer with the same weights: outputs, and weights
after a few optimizer steps (the gradient flows through the built-in op); also eager calls and a
save / load round trip."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.layers.tracing import traces_call


class ScaledConv(layers.Conv1D):
    def call(self, x):
        return super().call(x) * 2.0


class ShiftedNorm(layers.LayerNormalization):
    def call(self, inputs):
        return super().call(inputs) + 1.0


class ScaledEmbedding(layers.Embedding):  # the Transformer tutorials' sqrt(d) scaling
    def call(self, ids):
        return super().call(ids) * np.float32(np.sqrt(self.output_dim))


class PassTrainingNorm(layers.BatchNormalization):
    def call(self, x, training=None):
        return 0.5 * super().call(x, training=training)


class NegatedLSTM(layers.LSTM):
    def call(self, x):
        return -super().call(x)


rng = np.random.default_rng(0)
CASES = {
    # name: (subclass, plain class, kwargs, input shape, input dtype, the subclass's own step)
    "conv1d": (ScaledConv, layers.Conv1D, dict(filters=4, kernel_size=3), (10, 3), "float32", lambda y: y * 2.0),
    "layernorm": (ShiftedNorm, layers.LayerNormalization, {}, (6,), "float32", lambda y: y + 1.0),
    "embedding": (ScaledEmbedding, layers.Embedding, dict(input_dim=12, output_dim=4), (5,), "int32",
                  lambda y: y * np.float32(2.0)),
    "batchnorm": (PassTrainingNorm, layers.BatchNormalization, {}, (5,), "float32", lambda y: 0.5 * y),
    "lstm": (NegatedLSTM, layers.LSTM, dict(units=3), (4, 2), "float32", lambda y: -y),
}


def data(shape, dtype, n=16):
    if dtype == "int32":
        return rng.integers(0, 12, size=(n,) + shape).astype(np.int32)
    return rng.normal(size=(n,) + shape).astype(np.float32)


def twins(name):
    sub_cls, plain_cls, kw, shape, dtype, _ = CASES[name]
    models = []
    for cls in (sub_cls, plain_cls):
        inp = bigcore.Input(shape, dtype=dtype)
        layer = cls(**kw)
        models.append((bigcore.Model(inp, layers.Flatten()(layer(inp))), layer))
    (sub, sl), (plain, pl) = models
    pl.set_weights(sl.get_weights())
    return sub, sl, plain, pl


@pytest.mark.parametrize("name", sorted(CASES))
def test_super_call_runs_the_built_in_op(name):
    _, _, _, shape, dtype, own = CASES[name]
    sub, layer, plain, _ = twins(name)
    assert traces_call(layer)
    x = data(shape, dtype)
    want = own(plain.predict(x, verbose=0))
    np.testing.assert_allclose(sub.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    # eagerly, on numpy input
    np.testing.assert_allclose(np.asarray(layer(x)).reshape(len(x), -1), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_super_call_trains_the_subclass_weights(name):
    """SGD steps on y = own(f(x)) and on own(f(x)) computed from the plain layer (the same loss):
    the same weights after (the gradient reaches the built-in op's weights through the traced call)."""
    _, _, _, shape, dtype, own = CASES[name]
    sub, layer, plain, pl = twins(name)
    x = data(shape, dtype)
    out = sub.predict(x, verbose=0).shape[1]
    y = rng.normal(size=(len(x), out)).astype(np.float32)
    # the plain model learns own(f(x)) ~ y through a Lambda of the same step
    inp = plain.inputs[0]
    plain_own = bigcore.Model(inp, layers.Lambda(own)(plain.outputs[0]))
    before = [w.copy() for w in layer.get_weights()]
    for m in (sub, plain_own):
        m.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    after_sub, after_plain = layer.get_weights(), pl.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(after_sub, before))  # it trained
    for a, b in zip(after_sub, after_plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_super_call_round_trips_through_a_saved_model(tmp_path):
    sub, _, _, _ = twins("conv1d")
    x = data((10, 3), "float32")
    path = str(tmp_path / "m.bigcore")
    sub.save(path)
    loaded = bigcore.models.load_model(path, custom_objects={"ScaledConv": ScaledConv})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), sub.predict(x, verbose=0), rtol=1e-6)


def test_built_in_layers_are_not_traced():
    """The built-in classes themselves keep their native lowering (call() is only reached through a
    subclass's super().call())."""
    made = [(layers.Conv1D(2, 3), bigcore.Input((4, 3))), (layers.LayerNormalization(), bigcore.Input((4, 3))),
            (layers.Embedding(5, 2), bigcore.Input((4,), dtype="int32")), (layers.LSTM(2), bigcore.Input((4, 3))),
            (layers.Dense(2), bigcore.Input((4, 3)))]
    for layer, inp in made:
        layer(inp)
        assert not traces_call(layer)
        assert callable(layer.call)


def test_a_subclass_without_call_keeps_the_native_op():
    class Wider(layers.Dense):
        def __init__(self, **kw):
            super().__init__(units=5, **kw)

    layer = Wider()
    assert not traces_call(layer)
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, layer(inp))
    x = rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ layer.kernel.numpy() + layer.bias.numpy(),
                               rtol=1e-6, atol=1e-6)


class ShiftedAttention(layers.MultiHeadAttention):
    def call(self, query, value, key=None, attention_mask=None, training=None):
        return super().call(query, value, key=key, attention_mask=attention_mask, training=training) + 1.0


def attention_twins(mask_zero):
    built = []
    for cls in (ShiftedAttention, layers.MultiHeadAttention):
        ids = bigcore.Input((6,), dtype="int32")
        x = layers.Embedding(9, 4, mask_zero=mask_zero)(ids)
        att = cls(num_heads=2, key_dim=3)
        built.append((bigcore.Model(ids, layers.GlobalAveragePooling1D()(att(x, x))), att))
    (sub, sa), (plain, pa) = built
    plain.set_weights(sub.get_weights())
    return sub, sa, plain, pa


@pytest.mark.parametrize("mask_zero", [False, True])
def test_super_call_of_multi_head_attention(mask_zero, tmp_path):
    """MultiHeadAttention's own __call__ (query, value, key and masks by name) under a subclass's call():
    the same outputs as the plain layer plus the subclass's step, padding masks included; the same
    weights after Adam steps; a save / load round trip."""
    sub, sa, plain, pa = attention_twins(mask_zero)
    ids = rng.integers(1, 9, size=(8, 6)).astype(np.int32)
    if mask_zero:
        ids[:, 4:] = 0
    np.testing.assert_allclose(sub.predict(ids, verbose=0), plain.predict(ids, verbose=0) + 1.0, rtol=1e-5,
                               atol=1e-6)
    y = rng.normal(size=(8, 4)).astype(np.float32)
    plain_shift = bigcore.Model(plain.inputs[0], layers.Lambda(lambda t: t + 1.0)(plain.outputs[0]))
    for m in (sub, plain_shift):
        m.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="mse")
        m.fit(ids, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(sa.get_weights(), pa.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    path = str(tmp_path / "att.bigcore")
    sub.save(path)
    loaded = bigcore.models.load_model(path, custom_objects={"ShiftedAttention": ShiftedAttention})
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), sub.predict(ids, verbose=0), rtol=1e-6)
