"""What eager calls give back, as in Keras: arrays that answer .numpy() (ops, layer and model calls,
Dataset iteration), layer.losses / model.losses after an eager call, and models whose output is
one of their inputs (which crashed the interpreter when trained)."""

import numpy as np
import pytest

import bigcore
from bigcore import _core, layers, ops

LOSS_MSE = 0


def test_eager_results_answer_numpy():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = ops.ones((2, 2))
    assert isinstance(a, np.ndarray) and type(a.numpy()) is np.ndarray
    np.testing.assert_array_equal(a.numpy(), np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(ops.add(x, 1).numpy(), x + 1)
    parts = ops.split(x, 3, axis=1)
    assert all(type(p.numpy()) is np.ndarray for p in parts)
    assert type(ops.convert_to_numpy(x)) is np.ndarray
    dense = layers.Dense(4)
    y = dense(x)
    np.testing.assert_allclose(y.numpy(), x @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-6)
    model = bigcore.Sequential([layers.Input((3,)), dense])
    np.testing.assert_allclose(model(x).numpy(), y, rtol=1e-6)
    assert type(model.predict(x, verbose=0)) is np.ndarray  # predict gives plain arrays, as Keras's
    assert repr(a).startswith("array(")
    ds = bigcore.data.Dataset.from_tensor_slices((x, np.array([0, 1]))).batch(2)
    for xb, yb in ds.take(1):
        np.testing.assert_array_equal(xb.numpy(), x)
        np.testing.assert_array_equal(yb.numpy(), [0, 1])
    assert all(type(v) is np.ndarray for v in next(iter(ds.as_numpy_iterator())))


class _ActivityReg(layers.Layer):
    def __init__(self, rate, **kw):
        super().__init__(**kw)
        self.rate = rate

    def call(self, x):
        self.add_loss(self.rate * ops.mean(x))
        return x


class _Outer(layers.Layer):
    def __init__(self):
        super().__init__()
        self.reg = _ActivityReg(0.5)
        self.dense = layers.Dense(2, kernel_regularizer=bigcore.regularizers.L2(0.1))

    def call(self, x):
        self.add_loss(ops.sum(x))
        return self.dense(self.reg(x))


def test_layer_losses_after_an_eager_call():
    outer = _Outer()
    assert outer.losses == []  # not called, no weights yet
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    outer(x)
    losses = outer.losses
    kernel = outer.dense.kernel.numpy().astype(np.float64)
    # the call's terms in the order the program ran them (the sub-layer's first: Keras lists the
    # layer's own first), then the kernel's penalty (computed now)
    np.testing.assert_allclose(losses, [0.5 * 2.0, 6.0, 0.1 * np.sum(kernel ** 2)], rtol=1e-6)
    outer(np.zeros((1, 3), np.float32))  # each call replaces the last one's terms
    np.testing.assert_allclose(outer.losses[:2], [0.0, 0.0])
    assert len(outer.losses) == 3
    act = layers.Dense(2, activity_regularizer=bigcore.regularizers.L1(0.01))
    y = act(x)
    np.testing.assert_allclose(act.losses, [0.01 * np.abs(y).sum()], rtol=1e-5)


def test_model_losses_after_model_call():
    inp = bigcore.Input((3,))
    model = bigcore.Model(inp, _ActivityReg(2.0)(layers.Dense(3, kernel_initializer="ones")(inp)))
    model(np.ones((2, 3), np.float32))
    np.testing.assert_allclose(model.losses, [2.0 * 3.0], rtol=1e-6)


@pytest.mark.parametrize("case", ["input", "identity", "traced", "two"])
def test_an_output_that_is_an_input_trains(case):
    """Keras trains such a model (the loss has nothing to move but runs); bigcore wrote the loss's
    gradient into the input, which has no gradient buffer, and crashed."""
    inp = bigcore.Input((3,))
    dense = layers.Dense(3)
    outs = {"input": inp, "identity": layers.Identity()(inp), "traced": _ActivityReg(0.0)(inp),
            "two": [dense(inp), inp]}[case]
    model = bigcore.Model(inp, outs)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3)).astype(np.float32), rng.random((8, 3)).astype(np.float32)
    ys = [y, y] if case == "two" else y
    model.fit(x, ys, epochs=2, batch_size=4, verbose=0)
    got = model.evaluate(x, ys, verbose=0)
    want = float(np.mean((x.astype(np.float64) - y) ** 2))
    np.testing.assert_allclose(got[-1] if case == "two" else got, want, rtol=1e-5)


def test_a_loss_on_a_model_input_is_refused_natively():
    p = _core.Program()
    x = p.add_shaped_tensor([4], is_input=True)
    p.set_inputs([x])
    p.set_outputs([x])
    p.finalize()
    with pytest.raises(ValueError, match="model input directly"):
        p.set_losses([(x, 0, LOSS_MSE, 4, 1.0, False, 0.0)])


def test_eager_masks_as_keras_keras_mask():
    """The masking guide's eager calls: an Embedding(mask_zero=True) or Masking output carries
    `_keras_mask`, a layer that keeps masks passes it on, and a recurrent layer called on such an
    output takes it (the same result as the Sequential model that propagates it)."""
    padded = np.array([[711, 632, 71, 0, 0], [73, 8, 3215, 55, 927], [83, 91, 1, 0, 0]])
    emb = layers.Embedding(5000, 8, mask_zero=True)
    embedded = emb(padded)
    np.testing.assert_array_equal(embedded._keras_mask, padded != 0)
    np.testing.assert_array_equal(emb.compute_mask(padded), padded != 0)
    values = np.tile(padded[..., None], (1, 1, 3)).astype(np.float32)
    masked = layers.Masking()(values)
    np.testing.assert_array_equal(masked._keras_mask, padded != 0)
    passed = layers.Dropout(0.5)(embedded)
    np.testing.assert_array_equal(passed._keras_mask, padded != 0)
    lstm = layers.LSTM(4)
    eager = lstm(embedded)
    model = bigcore.Sequential([layers.Input((5,)), emb, lstm])
    np.testing.assert_allclose(eager, model.predict(padded, verbose=0), rtol=1e-5, atol=1e-6)
    unmasked = lstm(np.asarray(embedded.numpy()))  # the same values without the mask: another result
    assert not np.allclose(unmasked, eager)


def test_weight_ops_refuse_bad_arguments_through_the_binding():
    """The ops this stop added (assign a weight, read a weight as batch rows) check what the
    low-level binding gives them: an arena segment outside the arena, an unknown mode, a value or a
    batch of the wrong size raise ValueError, never crash."""
    p = _core.Program()
    x = p.add_shaped_tensor([4], is_input=True)
    w = p.add_param(4)
    new = p.add_shaped_tensor([4], False, False)
    rows = p.add_shaped_tensor([4])
    with pytest.raises(ValueError, match="outside the parameter arena"):
        p.add_assign_weight(x, new, w + 1, 4, 0)
    with pytest.raises(ValueError, match="outside the parameter arena"):
        p.add_weight_rows(rows, w, 1 << 40)
    with pytest.raises(ValueError, match="mode"):
        p.add_assign_weight(x, new, w, 4, 7)
    p.add_assign_weight(x, new, w, 4, 1)  # w += x: x (B, 4) must hold 4 values (B = 1)
    p.add_weight_rows(rows, w, 4)         # rows (B, 4) = w: B = 1 again
    p.set_inputs([x])
    p.set_outputs([rows])
    p.finalize()
    p.params()[w:w + 4] = np.arange(4, dtype=np.float32)
    got = np.zeros((1, 4), np.float32)
    p.predict_step([np.ones((1, 4), np.float32)], 0, 1, [got])
    np.testing.assert_array_equal(got[0], np.arange(4) + 1.0)
    with pytest.raises(ValueError, match="elements"):
        p.predict_step([np.ones((2, 4), np.float32)], 0, 2, [np.zeros((2, 4), np.float32)])


def _two_sequences(lib, emb, lstm):
    i1, i2 = lib.Input((5,)), lib.Input((4,))
    return lib.Model([i1, i2], lstm(lib.layers.Concatenate(axis=1)([emb(i1), emb(i2)])))


def test_concatenated_masked_sequences_match_keras(keras):
    """Two padded sequences joined along time (Concatenate(axis=1) of Embedding(mask_zero) outputs):
    Keras concatenates their masks; bigcore refused. The LSTM skips both paddings as Keras's does."""
    ours = _two_sequences(bigcore, layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3))
    theirs = _two_sequences(keras, keras.layers.Embedding(10, 4, mask_zero=True), keras.layers.LSTM(3))
    theirs.set_weights(ours.get_weights())
    a = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7], [0, 0, 0, 0, 0]])
    b = np.array([[8, 0, 0, 0], [9, 9, 0, 0], [2, 3, 0, 0]])
    got = ours.predict([a, b], verbose=0)
    want = theirs([a, b])
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
