"""stateful=True recurrent layers (Keras's RNN guide): the last states of a call start the next one,
across eager calls and across fit's batches, reset_state() zeros them, and a batch of another size
is refused. Against a NumPy-free reference (the same layer over the concatenated sequence) and
Keras 3 (weights and predictions after fit)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers


def _data(seed, shape):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_eager_calls_continue_the_sequence(cls):
    p1, p2 = _data(1, (4, 6, 5)), _data(2, (4, 6, 5))
    layer = getattr(layers, cls)(3, stateful=True)
    first = layer(p1)
    second = layer(p2)
    assert [s.shape for s in layer.states] == [(4, 3)] * layer.n_states
    whole = getattr(layers, cls)(3)
    whole.build((None, 12, 5))
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(second, whole(np.concatenate([p1, p2], axis=1)), rtol=1e-5, atol=1e-6)
    assert len(layer.weights) == len(whole.weights)  # the states are not weights (nor saved)
    layer.reset_states()
    assert all(not s.numpy().any() for s in layer.states)
    np.testing.assert_allclose(layer(p1), first, rtol=1e-6, atol=1e-7)
    # RNN state reuse: a new layer started from these states continues as the stateful one did
    again = getattr(layers, cls)(3)
    again.build((None, 6, 5))
    again.set_weights(layer.get_weights())
    np.testing.assert_allclose(again(p2, initial_state=[s.numpy() for s in layer.states]), second, rtol=1e-5,
                               atol=1e-6)


def test_refusals():
    with pytest.raises(ValueError, match="batch size must be static"):
        bigcore.Sequential([layers.Input((6, 5)), layers.LSTM(3, stateful=True)])
    model = bigcore.Sequential([layers.Input(batch_shape=(4, 6, 5)), layers.LSTM(3, stateful=True)])
    with pytest.raises(ValueError, match="batches of that size"):
        model.predict(_data(0, (3, 6, 5)), batch_size=3, verbose=0)
    with pytest.raises(NotImplementedError, match="stateful"):
        model.export("/tmp/never_written.onnx")
    with pytest.raises(NotImplementedError, match="stateful recurrent layers"):
        bigcore.quantization.quantize(model)


def test_fit_carries_states_across_batches():
    """fit over batches of 4 carries each batch's last states into the next batch (and into the
    next epoch), the same training as a stateless model fed those states as initial_state batch by
    batch. (Keras 3's own stateful fit fails on the torch backend: an in-place state update breaks
    autograd, so the reference is bigcore's stateless layer.)"""
    x, y = _data(3, (16, 6, 5)), _data(4, (16, 1))
    ours = bigcore.Sequential([layers.Input(batch_shape=(4, 6, 5)), layers.LSTM(3, stateful=True),
                               layers.Dense(1)])
    xi, hi, ci = layers.Input((6, 5)), layers.Input((3,)), layers.Input((3,))
    seq, h, c = layers.LSTM(3, return_state=True)(xi, initial_state=[hi, ci])
    ref = bigcore.Model([xi, hi, ci], [layers.Dense(1)(seq), h, c])
    ref.set_weights(ours.get_weights())
    ours.compile(optimizer=bigcore.optimizers.SGD(0.1), loss="mse")
    ref.compile(optimizer=bigcore.optimizers.SGD(0.1), loss=["mse", None, None])
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    hs, cs = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)
    for _ in range(2):
        for b in range(4):
            xb, yb = x[4 * b:4 * b + 4], y[4 * b:4 * b + 4]
            _, h_next, c_next = ref.predict_on_batch([xb, hs, cs])  # the states the step's forward reaches
            ref.train_on_batch([xb, hs, cs], [yb, h_next, c_next])
            hs, cs = h_next, c_next
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.layers[0].states[0].numpy(), hs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.layers[0].states[1].numpy(), cs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".bigcore", ".keras"])
def test_saved_and_loaded_stateful_model(tmp_path, suffix):
    model = bigcore.Sequential([layers.Input(batch_shape=(4, 6, 5)), layers.GRU(3, stateful=True), layers.Dense(2)])
    x = _data(5, (4, 6, 5))
    model.predict(x, batch_size=4, verbose=0)
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    loaded = bigcore.models.load_model(path)
    assert loaded.layers[0].stateful and loaded.layers[0].get_config()["stateful"]
    model.layers[0].reset_states()  # the states are not in the file: both start from zeros
    np.testing.assert_allclose(loaded.predict(x, batch_size=4, verbose=0), model.predict(x, batch_size=4, verbose=0),
                               rtol=1e-6)
