"""A weight's `name` and `path` as Keras 3 has them: `name` is the variable's own short name
("kernel", "moving_mean", "w", "variable" for an unnamed add_weight), `path` the full one
("d/kernel", "mha/query/kernel"). The same functional model is built in bigcore and in Keras 3
(torch backend) with the same layer names, and the two lists are compared."""
import numpy as np
import pytest

import bigcore
from bigcore import layers


@bigcore.saving.register_keras_serializable(package="test_weight_names")
class Gated(layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 4), name="w")
        self.u = self.add_weight(shape=(4,))  # unnamed: Keras calls it "variable"

    def call(self, x):
        return bigcore.ops.matmul(x, self.w) + self.u


@bigcore.saving.register_keras_serializable(package="test_weight_names")
class Outer(layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.inner = layers.Dense(3, name="inner")

    def build(self, shape):
        self.inner.build(shape)

    def call(self, x):
        return self.inner(x)


def _keras_classes(keras):
    class KGated(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 4), name="w")
            self.u = self.add_weight(shape=(4,))

        def call(self, x):
            return keras.ops.matmul(x, self.w) + self.u

    class KOuter(keras.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.inner = keras.layers.Dense(3, name="inner")

        def build(self, shape):
            self.inner.build(shape)

        def call(self, x):
            return self.inner(x)

    return KGated, KOuter


def _model(lib, gated, outer):
    L = lib.layers
    inp = lib.Input((5, 8), name="x")
    ids = lib.Input((5,), dtype="int32", name="ids")
    h = L.Add()([inp, L.Embedding(20, 8, name="emb")(ids)])
    h = L.Dense(8, name="d")(h)
    h = L.BatchNormalization(name="bn")(h)
    h = L.MultiHeadAttention(2, 4, name="mha")(h, h)
    s = L.LSTM(6, return_sequences=True, name="lstm")(h)
    s = L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), name="bi")(s)
    s = gated(name="gated")(s)
    s = outer(name="outer")(s)
    return lib.Model([inp, ids], s)


# Keras's paths for the weights whose layer sits inside another layer: an RNN's weights belong to
# its cell ("lstm/lstm_cell/kernel"), Bidirectional's to its wrapped copies ("bi/forward_gru/
# gru_cell/kernel"), and a sub-layer built inside a custom layer's build() to that layer
# ("outer/inner/kernel"): Keras's name scopes, which bigcore keeps the same way (layers/name_scope.py).
_NESTED = ("lstm/", "bi/", "outer/")


def _keras_model(keras):
    keras.backend.clear_session()  # Keras numbers unnamed variables session-wide: "variable" is the first
    return _model(keras, *_keras_classes(keras))


def test_names_are_keras_short_names(keras):
    ours, theirs = _model(bigcore, Gated, Outer), _keras_model(keras)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [w.name for w in ours.get_layer("gated").weights] == ["w", "variable"]
    assert {w.name: w for w in ours.get_layer("d").weights}["kernel"] is ours.get_layer("d").kernel


def test_paths_are_keras_paths_for_top_level_layers(keras):
    ours, theirs = _model(bigcore, Gated, Outer), _keras_model(keras)
    assert len(ours.weights) == len(theirs.weights)
    pairs = [(a.path, b.path) for a, b in zip(ours.weights, theirs.weights) if not b.path.startswith(_NESTED)]
    assert [a for a, _ in pairs] == [b for _, b in pairs]
    assert [a for a, _ in pairs][:9] == ["emb/embeddings", "d/kernel", "d/bias", "bn/gamma", "bn/beta",
                                         "bn/moving_mean", "bn/moving_variance", "mha/query/kernel",
                                         "mha/query/bias"]
    assert [w.path for w in ours.get_layer("gated").weights] == ["gated/w", "gated/variable"]


def test_paths_of_nested_weights_are_keras_paths(keras):
    ours, theirs = _model(bigcore, Gated, Outer), _keras_model(keras)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]


def test_name_is_the_last_part_of_the_path_and_read_only():
    m = _model(bigcore, Gated, Outer)
    for w in m.weights:
        assert w.path.rsplit("/", 1)[-1] == w.name and "/" in w.path
    with pytest.raises(AttributeError):
        m.weights[0].name = "other"
    assert len({w.path for w in m.weights}) == len(m.weights)  # paths tell weights apart; names do not


def test_save_load_keeps_names_and_paths(tmp_path):
    m = _model(bigcore, Gated, Outer)
    path = str(tmp_path / ("names" + bigcore.saving.MODEL_SUFFIX))
    m.save(path)
    m2 = bigcore.saving.load_model(path)
    assert [w.name for w in m2.weights] == [w.name for w in m.weights]
    assert [w.path for w in m2.weights] == [w.path for w in m.weights]
    for a, b in zip(m.weights, m2.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_messages_name_the_path():
    d = layers.Dense(2, name="dd")
    d.build((None, 3))
    with pytest.raises(ValueError, match="dd/kernel"):
        d.kernel.assign(np.zeros((4, 2), np.float32))
    assert "dd/bias" in repr(d.bias)


def test_a_weight_name_has_no_slash():  # Keras refuses it too: the name is the last part of the path
    layer = layers.Dense(2, name="dd")
    with pytest.raises(ValueError, match="without '/'"):
        layer.add_weight(shape=(2,), name="a/b")
    with pytest.raises(ValueError, match="without '/'"):
        bigcore.Variable(np.zeros(2, np.float32), name="a/b")
    v = bigcore.Variable(np.zeros(2, np.float32))
    assert (v.name, v.path) == ("variable", "variable")


def test_default_layer_names_are_keras_names(keras):
    """Keras's automatic names (model.get_layer(name) in a ported script finds the same layer):
    a wrapper is named by its own class, its copies forward_<layer> / backward_<layer>."""
    def build(k):
        inp = k.Input((5, 3))
        x = k.layers.Bidirectional(k.layers.LSTM(4, return_sequences=True))(inp)
        x = k.layers.Bidirectional(k.layers.GRU(2))(x)
        x = k.layers.Dense(2)(k.layers.Dropout(0.1)(x))
        return k.Model(inp, x)

    bigcore.backend.clear_session()
    keras.backend.clear_session()
    ours, theirs = build(bigcore), build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for a, b in zip(ours.layers[1:3], theirs.layers[1:3]):
        assert (a.forward_layer.name, a.backward_layer.name) == (b.forward_layer.name, b.backward_layer.name)


@pytest.mark.parametrize("cls, args", [("GroupQueryAttention", (4, 2, 2)),
                                       ("MultiHeadAttention", (2, 3)), ("EinsumDense", ("ab,bc->ac", 3)),
                                       ("Conv2DTranspose", (2, 3)), ("LSTMCell", (2,)), ("RNN", None),
                                       ("TimeDistributed", None)])
def test_automatic_names_of_layer_classes(keras, cls, args):
    def make(k):
        if cls == "RNN":
            return k.layers.RNN(k.layers.GRUCell(2))
        if cls == "TimeDistributed":
            return k.layers.TimeDistributed(k.layers.Dense(2))
        return getattr(k.layers, cls)(*args)

    names = []
    for k in (bigcore, keras):
        k.backend.clear_session()
        names.append([make(k).name for _ in range(2)])
    assert names[0] == names[1]


def _scoped_models(lib):
    """Models whose paths come from Keras's name scopes: a Sequential's build, a subclassed model's
    first call, a custom layer's lazy sub-layer built in call(), a layer built inside another's
    build, a stack of cells, RNN over a named cell, TimeDistributed, a nested Sequential, and a
    Variable made in build()."""
    L = lib.layers

    class Inner(L.Layer):
        def build(self, s):
            self.d = L.Dense(3, name="inner_d")
            self.d.build(s)
            self.w = self.add_weight(shape=(3,), name="w")
            self.v = lib.Variable(np.ones((3,), np.float32), name="v")

        def call(self, x):
            return self.d(x) * self.w * self.v

    class Lazy(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = L.Dense(4, name="lazy_d")

        def call(self, x):
            return self.d(x)

    class Sub(lib.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d1 = L.Dense(3, name="first")
            self.blk = Inner(name="blk")

        def call(self, x):
            return self.blk(self.d1(x))

    seq = lib.Sequential([L.Input((5,)), L.Dense(4, name="a"), Inner(name="inn"), Lazy(name="lz")], name="seq")
    seq.add(L.Dense(2, name="added"))  # added to a built Sequential
    i = L.Input((6, 3))
    outs = [L.RNN(L.LSTMCell(2, name="cell"), name="r")(i),
            L.RNN([L.LSTMCell(2), L.GRUCell(2)], name="st")(i),
            L.TimeDistributed(L.Dense(2, name="per_step"), name="td")(i),
            L.Bidirectional(L.SimpleRNN(2, name="s"), name="bi")(i),
            lib.Sequential([L.Dense(2, name="sd")], name="subm")(L.Flatten()(i))]
    functional = lib.Model(i, outs)
    sub = Sub(name="sub")
    sub(np.zeros((2, 4), np.float32))
    return seq, functional, sub


def test_paths_under_name_scopes_are_keras_paths(keras):
    keras.backend.clear_session()
    bigcore.backend.clear_session()  # automatic names ("gru_cell", "stacked_rnn_cells") from 0 in both
    theirs = _scoped_models(keras)
    ours = _scoped_models(bigcore)
    for a, b in zip(ours, theirs):
        # (Keras 3 on torch lists some weights of the subclassed model's custom block more than once)
        assert [w.path for w in a.weights] == list(dict.fromkeys(w.path for w in b.weights))
    assert "seq/inn/inner_d/kernel" in [w.path for w in ours[0].weights]
    assert "st/stacked_rnn_cells/gru_cell/bias" in [w.path for w in ours[1].weights]
    assert "sub/blk/v" in [w.path for w in ours[2].weights]


def test_name_scope_is_keras_name_scope():
    with bigcore.name_scope("outer"):
        with bigcore.name_scope("inner"):
            v = bigcore.Variable(np.zeros(2, np.float32), name="v")
        u = bigcore.Variable(np.zeros(2, np.float32))
    assert (v.path, v.name, u.path) == ("outer/inner/v", "v", "outer/variable")
    assert bigcore.Variable(np.zeros(2, np.float32), name="w").path == "w"
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        bigcore.name_scope("a/b")
    # a layer built inside a scope keeps the path where it was first opened
    d = layers.Dense(2, name="dd")
    with bigcore.name_scope("block"):
        d.build((None, 3))
    with bigcore.name_scope("elsewhere"):
        assert d.add_weight(shape=(1,), name="extra").path == "block/dd/extra"
    assert d.kernel.path == "block/dd/kernel"


def test_conv_lstm_paths_are_keras_paths(keras):
    def paths(lib):
        i = lib.layers.Input((3, 6, 6, 2))
        return [w.path for w in lib.Model(i, lib.layers.ConvLSTM2D(2, 3, name="cl")(i)).weights]

    assert paths(bigcore) == paths(keras) == ["cl/conv_lstm_cell/kernel", "cl/conv_lstm_cell/recurrent_kernel",
                                              "cl/conv_lstm_cell/bias"]
