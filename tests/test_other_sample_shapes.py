"""A Sequential or subclassed model run on data of another sample shape than it was built with
(models/shape_variants.py): Keras 3 runs their layers on any shape the layers take, so a model
fitted on length 10 predicts, evaluates and trains on length 20, with one optimizer state; only a
functional model's Input fixes the shape, and a layer whose weights fix a size refuses."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:Do not pass an `input_shape`:UserWarning")


def _text(lib, with_input=False):
    L = lib.layers
    head = [lib.Input((10,))] if with_input else []
    return lib.Sequential(head + [L.Embedding(50, 6), L.LSTM(8, return_sequences=True), L.GRU(5),
                                  L.Dense(3, activation="softmax")])


def _ints(n, t, seed):
    return np.random.default_rng(seed).integers(0, 50, (n, t))


def _assert_same_weights(a, b, rtol=1e-4, atol=1e-5):
    for i, (wa, wb) in enumerate(zip(a.get_weights(), b.get_weights())):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol, err_msg=f"weight {i}")


@pytest.mark.parametrize("with_input", [False, True], ids=["built_from_data", "with_input"])
def test_a_sequential_trains_on_other_lengths_as_keras(keras, with_input):
    """Adam over lengths 10, 20, 20, 10, 20: the same losses and weights as Keras's (the moments go
    along from one length's program to the next), and the same predictions at a third length."""
    b, k = _text(bigcore, with_input), _text(keras, with_input)
    x10, x20, y = _ints(16, 10, 0), _ints(16, 20, 1), np.random.default_rng(2).integers(0, 3, 16)
    b.predict(x10[:1], verbose=0)
    k.predict(x10[:1], verbose=0)
    b.set_weights(k.get_weights())
    b.compile(bigcore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    k.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    for x in (x10, x20, x20, x10, x20):
        hb = b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
        hk = k.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
        assert hb["loss"][0] == pytest.approx(hk["loss"][0], rel=1e-5), x.shape
        assert hb["accuracy"][0] == pytest.approx(hk["accuracy"][0]), x.shape
    _assert_same_weights(b, k)
    x7 = _ints(5, 7, 3)
    np.testing.assert_allclose(b.predict(x7, verbose=0), k.predict(x7, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.predict_on_batch(x20[:3]), k.predict_on_batch(x20[:3]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b(x7[:2]), k(x7[:2]).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert b.evaluate(x20, y, verbose=0)[0] == pytest.approx(k.evaluate(x20, y, verbose=0)[0], rel=1e-5)
    b.train_on_batch(x7, y[:5])
    k.train_on_batch(x7, y[:5])
    _assert_same_weights(b, k)


def _subclassed(lib):
    L = lib.layers

    class Tagger(lib.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.emb = L.Embedding(50, 6)
            self.rnn = L.LSTM(7, return_sequences=True)
            self.out = L.Dense(3)

        def call(self, x):
            h = self.rnn(self.emb(x))
            return self.out(h + lib.ops.mean(h, axis=1, keepdims=True))  # each step sees the mean over the length

    return Tagger()


def test_a_subclassed_model_is_traced_again_for_another_length(keras):
    b, k = _subclassed(bigcore), _subclassed(keras)
    x12, x5 = _ints(8, 12, 4), _ints(8, 5, 5)
    y12, y5 = (np.random.default_rng(6).normal(size=(8, t, 3)).astype(np.float32) for t in (12, 5))
    b.predict(x12[:1], verbose=0)
    k.predict(x12[:1], verbose=0)
    b.set_weights(k.get_weights())
    b.compile(bigcore.optimizers.RMSprop(0.01), "mse")
    k.compile(keras.optimizers.RMSprop(0.01), "mse")
    for x, y in ((x12, y12), (x5, y5), (x12, y12)):
        b.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        k.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(b, k)
    got = b.predict(x5, verbose=0)
    assert got.shape == (8, 5, 3)
    np.testing.assert_allclose(got, k.predict(x5, verbose=0), rtol=1e-5, atol=1e-6)


def test_pooled_convnet_takes_other_sizes_against_numpy():
    """Conv1D + GlobalMaxPooling1D (a text CNN) built at length 10 predicts at lengths 16 and 4 what
    the float64 NumPy forward gives."""
    m = bigcore.Sequential([layers.Conv1D(4, 3, activation="relu"), layers.GlobalMaxPooling1D(), layers.Dense(2)])
    rng = np.random.default_rng(7)
    m.predict(rng.normal(size=(2, 10, 3)).astype(np.float32), verbose=0)
    kc, bc, kd, bd = m.get_weights()

    def forward(x):
        x = x.astype(np.float64)
        win = np.stack([x[:, i:i + 3] for i in range(x.shape[1] - 2)], axis=1)  # (n, t-2, 3, 3)
        h = np.maximum(np.einsum("ntkc,kcf->ntf", win, kc) + bc, 0)
        return h.max(axis=1) @ kd + bd

    for t in (16, 4, 10):
        x = rng.normal(size=(5, t, 3)).astype(np.float32)
        np.testing.assert_allclose(m.predict(x, verbose=0), forward(x), rtol=1e-5, atol=1e-5)


def test_a_layer_whose_weights_fix_the_size_refuses_and_the_model_goes_on():
    m = bigcore.Sequential([layers.Embedding(50, 4), layers.Flatten(), layers.Dense(2)])
    m.compile("sgd", "mse")
    x10 = _ints(3, 10, 8)
    before = m.predict(x10, verbose=0)
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 40, but received input "
                                         r"with shape \(None, 80\)"):
        m.predict(_ints(3, 20, 9), verbose=0)
    np.testing.assert_array_equal(m.predict(x10, verbose=0), before)
    assert m.input_shape == (None, 10)
    m.fit(x10, np.zeros((3, 2), np.float32), verbose=0)
    assert not np.array_equal(m.predict(x10, verbose=0), before)


def test_a_functional_models_input_still_fixes_the_shape():
    inp = bigcore.Input((10,))
    m = bigcore.Model(inp, layers.Dense(2)(layers.Embedding(50, 4)(inp)))
    with pytest.raises(ValueError, match=r"expected shape=\(None, 10\), found shape=\(2, 20\)"):
        m.predict(_ints(2, 20, 0), verbose=0)


def test_compile_and_add_drop_the_other_lengths_programs():
    """A new compile (SGD and MAE after Adam and MSE) and an added layer reach the other lengths'
    programs: they train with the loss, optimizer and layers the model has now (against a twin that
    had no program for length 20 when it was compiled)."""
    def model():
        bigcore.utils.set_random_seed(3)
        return bigcore.Sequential([layers.Embedding(50, 4), layers.SimpleRNN(5)])

    m, twin = model(), model()
    x10, x20 = _ints(6, 10, 1), _ints(6, 20, 2)
    y = np.random.default_rng(3).normal(size=(6, 5)).astype(np.float32)
    for a in (m, twin):
        a.compile("adam", "mse")
        a.fit(x10, y, verbose=0, shuffle=False)
    m.fit(x20, y, verbose=0, shuffle=False)  # a program for length 20, with Adam
    m.predict(x10, verbose=0)  # back at length 10: the compile below finds length 20's program aside
    twin.set_weights(m.get_weights())
    for a in (m, twin):
        a.compile(bigcore.optimizers.SGD(0.1), "mae")
        a.fit(x20, y, verbose=0, shuffle=False)
    _assert_same_weights(m, twin, rtol=0, atol=0)
    for a in (m, twin):
        a.add(layers.Dense(2))
        a.compile("sgd", "mse")
    assert m.predict(x20, verbose=0).shape == (6, 2)
    twin.set_weights(m.get_weights())  # (the new Dense layers drew their own initial values)
    m.fit(x20, y[:, :2], verbose=0, shuffle=False)
    twin.fit(x20, y[:, :2], verbose=0, shuffle=False)
    _assert_same_weights(m, twin, rtol=0, atol=0)
    np.testing.assert_array_equal(m.predict(x10, verbose=0), twin.predict(x10, verbose=0))  # with the Dense
    m.pop()
    assert m.predict(x20, verbose=0).shape == (6, 5)


def test_save_and_load_after_other_lengths(tmp_path):
    m = bigcore.Sequential([layers.Embedding(50, 4), layers.GRU(3)])
    m.compile("adam", "mse")
    x10, x20 = _ints(4, 10, 1), _ints(4, 20, 2)
    m.fit(x10, np.zeros((4, 3), np.float32), verbose=0)
    m.fit(x20, np.ones((4, 3), np.float32), verbose=0)
    path = str(tmp_path / "m.keras")
    m.save(path)
    loaded = bigcore.models.load_model(path)
    for x in (x20, x10):
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), m.predict(x, verbose=0))


def test_alternating_lengths_reuse_each_lengths_program():
    """Each length is lowered once: alternating calls reuse the programs (the layers gain no new
    calls), and every call still gives that length's outputs."""
    m = bigcore.Sequential([layers.Embedding(50, 4), layers.LSTM(3)])
    xs = {t: _ints(2, t, t) for t in (5, 9)}
    first = {t: m.predict(x, verbose=0) for t, x in xs.items()}
    calls = len(m.layers[1]._inbound)
    for _ in range(3):
        for t, x in xs.items():
            np.testing.assert_array_equal(m.predict(x, verbose=0), first[t])
    assert len(m.layers[1]._inbound) == calls
    assert not np.allclose(first[5], first[9])
    np.testing.assert_allclose(ops.convert_to_numpy(m(xs[5])), first[5], rtol=0, atol=0)


def test_many_lengths_keep_a_bounded_number_of_programs(monkeypatch):
    """Generation-style growing lengths: the least recently run shapes' programs are dropped (a few
    kept), and the weights they trained stay the model's."""
    from bigcore.models import shape_variants
    monkeypatch.setattr(shape_variants, "KEEP", 2)
    m = bigcore.Sequential([layers.Embedding(50, 4), layers.GRU(3)])
    m.compile("adam", "mse")
    y = np.zeros((2, 3), np.float32)
    for t in range(3, 9):
        m.fit(_ints(2, t, t), y, verbose=0)
        assert len(m.__dict__.get("_shape_variants", {})) <= 2
    trained = m.get_weights()
    for t in (3, 4, 8):  # dropped, dropped, in use
        out = m.predict(_ints(2, t, 0), verbose=0)
        ref = bigcore.Sequential([layers.Embedding(50, 4), layers.GRU(3)])
        ref.predict(_ints(1, t, 0), verbose=0)
        ref.set_weights(trained)
        np.testing.assert_array_equal(out, ref.predict(_ints(2, t, 0), verbose=0))


@pytest.mark.parametrize("length", [20, None], ids=["fixed_20", "run_time"])
def test_a_sequential_built_at_one_length_called_in_a_model_of_another(length):
    """Keras runs a Sequential's layers on the caller's tensor: built at length 10, it serves inside a
    functional model on length 20 or on a run-time length, even after it ran on yet another length
    itself; the outer model predicts what the Sequential's own predict and the head give."""
    seq = bigcore.Sequential([layers.Embedding(50, 4), layers.LSTM(3)])
    seq.predict(_ints(2, 10, 0), verbose=0)
    inp = bigcore.Input((length,))
    head = layers.Dense(2)
    m = bigcore.Model(inp, head(seq(inp)))
    assert m.output_shape == (None, 2)
    seq.predict(_ints(2, 7, 1), verbose=0)  # the nested model moves to another length meanwhile
    x = _ints(3, 20, 2)
    kernel, bias = head.get_weights()
    np.testing.assert_allclose(m.predict(x, verbose=0), seq.predict(x, verbose=0) @ kernel + bias, rtol=1e-6,
                               atol=1e-6)


def test_a_functional_model_refuses_a_run_time_length_for_its_fixed_axis():
    """Its ops are lowered for length 10: a caller's run-time length is refused when the model is
    called, not left to fail (or read past the rows) when it runs."""
    inp = bigcore.Input((10,))
    f = bigcore.Model(inp, layers.Dense(2)(layers.Embedding(50, 4)(inp)))
    with pytest.raises(ValueError, match=r"expected shape \(None, 10\), found shape \(None, None\)"):
        f(bigcore.Input((None,)))


def test_validation_data_of_another_length_as_keras(keras):
    """Training and validation sets each padded to their own longest sequence (pad_sequences without
    maxlen): fit validates on the other length's program each epoch and trains on as Keras does."""
    b, k = _text(bigcore), _text(keras)
    x12, x9 = _ints(16, 12, 5), _ints(8, 9, 6)
    y12, y9 = (np.random.default_rng(t).integers(0, 3, n) for t, n in ((7, 16), (8, 8)))
    b.predict(x12[:1], verbose=0)
    k.predict(x12[:1], verbose=0)
    b.set_weights(k.get_weights())
    b.compile(bigcore.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    k.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    hb = b.fit(x12, y12, batch_size=8, epochs=3, shuffle=False, verbose=0, validation_data=(x9, y9)).history
    hk = k.fit(x12, y12, batch_size=8, epochs=3, shuffle=False, verbose=0, validation_data=(x9, y9)).history
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(hb[key], hk[key], rtol=1e-5, err_msg=key)
    _assert_same_weights(b, k)
    assert b.input_shape == (None, 12)  # training's shape again after each validation pass
