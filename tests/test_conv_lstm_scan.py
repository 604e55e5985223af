"""ConvLSTM1D / 2D / 3D with a sequence length known only when the model runs (Input((None, *spatial,
C))): the step in the native scan (layers/conv_lstm.py, layers/rnn_scan.py). One model runs at two
lengths: outputs against the float64 reference (tests/reference_conv.py) and Keras 3 (options, masks,
go_backwards, return_state, initial_state), the weights after Adam steps at both lengths as Keras's,
the backward through time against central differences, saving and loading, dropout refused; Conv3D
over a run-time depth (the frames); Keras's next-frame video prediction model, small, trained and
predicting at two lengths as Keras's.
"""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, assert_gradients_close, fd_gradients

pytestmark = [pytest.mark.filterwarnings(KERAS_WARNING),
              pytest.mark.filterwarnings("ignore:You might experience inconsistencies:UserWarning"),
              pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")]

CASES = {  # layer, its arguments, the spatial sizes and channels of a frame
    "1d_last": (layers.ConvLSTM1D, {"filters": 2, "kernel_size": 3}, (6, 2)),
    "1d_same_sequences_state": (layers.ConvLSTM1D, {"filters": 3, "kernel_size": 2, "padding": "same",
                                                    "return_sequences": True, "return_state": True}, (5, 2)),
    "2d_backwards_sequences": (layers.ConvLSTM2D, {"filters": 2, "kernel_size": 2, "go_backwards": True,
                                                   "return_sequences": True}, (4, 3, 2)),
    "2d_strides_relu": (layers.ConvLSTM2D, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                                            "activation": "relu", "return_state": True}, (5, 4, 1)),
    "2d_dilation_backwards_state": (layers.ConvLSTM2D, {"filters": 2, "kernel_size": (1, 2), "dilation_rate": (1, 2),
                                                        "go_backwards": True, "return_state": True}, (3, 5, 2)),
    "3d": (layers.ConvLSTM3D, {"filters": 2, "kernel_size": 2, "return_sequences": True}, (3, 3, 3, 1)),
}


def _lib_layer(lib, cls, kw):
    return getattr(lib.layers, cls.__name__)(**kw)


def _frames(T, frame, B=3, seed=0):
    return np.random.default_rng(seed + 10 * T).standard_normal((B, T) + frame).astype(np.float32)


def _random_weights(model, seed=1):
    rng = np.random.default_rng(seed)
    ws = [(rng.standard_normal(w.shape) * 0.4).astype(np.float32) for w in model.get_weights()]
    model.set_weights(ws)
    return ws


def _as_list(y):
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def _keras_out(model, x):
    y = model(x)
    return [np.asarray(v.detach().cpu()) for v in (y if isinstance(y, (list, tuple)) else [y])]


@pytest.mark.parametrize("case", CASES)
def test_one_model_at_two_lengths_matches_reference_and_keras(keras, case):
    cls, kw, frame = CASES[case]
    ours_layer = cls(**kw)
    m = bigcore.Model(inp := bigcore.Input((None,) + frame), ours_layer(inp))
    k_in = keras.Input((None,) + frame)
    k = keras.Model(k_in, _lib_layer(keras, cls, kw)(k_in))
    ws = _random_weights(m)
    k.set_weights(ws)
    for T in (4, 2):
        x = _frames(T, frame)
        got = _as_list(m.predict(x, verbose=0))
        want = cref.conv_lstm_forward(x, *ws, strides=kw.get("strides", 1), padding=kw.get("padding", "valid"),
                                      dilation_rate=kw.get("dilation_rate", 1),
                                      return_sequences=kw.get("return_sequences", False),
                                      return_state=kw.get("return_state", False),
                                      go_backwards=kw.get("go_backwards", False), activation=kw.get("activation", "tanh"))
        for g, w, kk in zip(got, _as_list(want), _keras_out(k, x)):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(g, kk, rtol=1e-5, atol=1e-5)
    batches = []
    for T in (4, 2, 3):
        x = _frames(T, frame, seed=5)
        shapes = [y.shape for y in _as_list(m.predict(x, verbose=0))]
        batches.append((x, [np.random.default_rng(T + i).standard_normal(s).astype(np.float32)
                            for i, s in enumerate(shapes)]))
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.05), ["mse"] * len(batches[0][1]))
        for x, ys in batches:
            model.train_on_batch(x, ys)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kw", [{"return_sequences": True}, {"return_state": True},
                                {"go_backwards": True, "return_sequences": True}], ids=str)
def test_mask_at_two_lengths_as_keras(keras, kw):
    """A masked step keeps the states and repeats the previous output (Keras's RNN)."""
    theirs = keras.layers.ConvLSTM1D(2, 2, **kw)
    inp, mask_in = bigcore.Input((None, 5, 2)), bigcore.Input((None,), dtype="bool")
    ours = layers.ConvLSTM1D(2, 2, **kw)
    model = bigcore.Model([inp, mask_in], ours(inp, mask=mask_in))
    ws = _random_weights(model)
    for T, m in ((4, [[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0]]), (3, [[0, 1, 1], [1, 1, 1], [1, 0, 1]])):
        x, m = _frames(T, (5, 2)), np.array(m, bool)
        theirs(x[:, :1], mask=m[:, :1])
        theirs.set_weights(ws)
        want = theirs(x, mask=m)
        want = [np.asarray(v.detach()) for v in (want if isinstance(want, (list, tuple)) else [want])]
        for g, w in zip(_as_list(model.predict([x, m], verbose=0)), want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_initial_state_at_two_lengths_matches_reference():
    inp, h0, c0 = bigcore.Input((None, 5, 4, 1)), bigcore.Input((4, 3, 2)), bigcore.Input((4, 3, 2))
    out = layers.ConvLSTM2D(2, (2, 2), return_sequences=True, return_state=True)(inp, initial_state=[h0, c0])
    model = bigcore.Model([inp, h0, c0], out)
    ws = _random_weights(model)
    rng = np.random.default_rng(3)
    s = [rng.standard_normal((3, 4, 3, 2)).astype(np.float32) for _ in range(2)]
    for T in (3, 5):
        x = _frames(T, (5, 4, 1))
        want = cref.conv_lstm_forward(x, *ws, return_sequences=True, return_state=True, initial_state=s)
        for g, w in zip(model.predict([x] + s, verbose=0), want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_backward_through_time_matches_central_differences(go_backwards):
    """ConvLSTM1D (return_sequences, return_state) with trainable initial states (Dense of a second
    input): every weight's gradient (one SGD step of rate 1) against central differences of the
    float64 loss."""
    T, W, C, F = 4, 4, 1, 2
    x_in, z_in = bigcore.Input((None, W, C)), bigcore.Input((2,))
    d_h, d_c = layers.Dense(3 * F), layers.Dense(3 * F)
    h0, c0 = (layers.Reshape((3, F))(d(z_in)) for d in (d_h, d_c))
    lstm = layers.ConvLSTM1D(F, 2, return_sequences=True, return_state=True, go_backwards=go_backwards)
    model = bigcore.Model([x_in, z_in], lstm(x_in, initial_state=[h0, c0]))
    _random_weights(model)
    at = {id(w): i for i, w in enumerate(model.weights)}
    where = [[at[id(w)] for w in layer.weights] for layer in (lstm, d_h, d_c)]
    x, z = _frames(T, (W, C)), np.random.default_rng(7).normal(size=(3, 2)).astype(np.float32)
    ys = [np.random.default_rng(i).normal(size=s).astype(np.float32) for i, s in
          enumerate([(3, T, 3, F), (3, 3, F), (3, 3, F)])]
    w0 = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss=["mse"] * 3)
    model.train_on_batch([x, z], ys)
    grads = [a - b for a, b in zip(w0, model.get_weights())]

    def loss(ws):
        kern, rec, bias = (ws[i] for i in where[0])
        (kh, bh), (kc, bc) = ([ws[i] for i in idx] for idx in where[1:])
        start = [(z @ kh + bh).reshape(3, 3, F), (z @ kc + bc).reshape(3, 3, F)]
        outs = cref.conv_lstm_forward(x, kern, rec, bias, return_sequences=True, return_state=True,
                                      go_backwards=go_backwards, initial_state=start)
        return sum(np.mean((o - y) ** 2) for o, y in zip(outs, ys))

    assert_gradients_close(grads, fd_gradients(loss, w0, h=1e-5))


def test_save_and_load_at_two_lengths(tmp_path):
    inp = bigcore.Input((None, 5, 4, 2))
    model = bigcore.Model(inp, layers.ConvLSTM2D(3, 2, padding="same", return_sequences=True)(inp))
    _random_weights(model)
    model.save(tmp_path / "m.keras")
    loaded = bigcore.saving.load_model(tmp_path / "m.keras")
    for T in (4, 2):
        x = _frames(T, (5, 4, 2))
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_refusals():
    with pytest.raises(NotImplementedError, match="recurrent_dropout=0.2 with a run-time sequence length"):
        layers.ConvLSTM2D(2, 3, recurrent_dropout=0.2)(bigcore.Input((None, 6, 6, 2)))
    with pytest.raises(NotImplementedError, match="dropout=0.5 with a run-time sequence length"):
        layers.ConvLSTM1D(2, 3, dropout=0.5)(bigcore.Input((None, 6, 2)))
    with pytest.raises(ValueError, match="batch and the timesteps known"):
        layers.ConvLSTM2D(2, 3)(bigcore.Input((None, None, 6, 2)))
    with pytest.raises(ValueError, match="Conv3D: all but the depth"):
        layers.Conv3D(2, 3)(bigcore.Input((4, None, 6, 2)))
    short = bigcore.Model(inp := bigcore.Input((None, 5, 4, 2)), layers.Conv3D(2, (3, 2, 2))(inp))
    with pytest.raises(Exception, match="resolves to 0"):
        short.predict(_frames(2, (5, 4, 2)), verbose=0)
    assert short.predict(_frames(3, (5, 4, 2)), verbose=0).shape == (3, 1, 4, 3, 2)


def test_dropout_at_a_fixed_length_still_unrolls():
    model = bigcore.Model(inp := bigcore.Input((3, 5, 2)), layers.ConvLSTM1D(2, 2, dropout=0.3)(inp))
    assert model.predict(_frames(3, (5, 2)), verbose=0).shape == (3, 4, 2)


@pytest.mark.parametrize("kw", [{"padding": "same"}, {"padding": "valid", "strides": (2, 1, 1)},
                                {"padding": "same", "strides": 2, "activation": "sigmoid"},
                                {"padding": "valid", "dilation_rate": (2, 1, 1)}], ids=str)
def test_conv3d_over_a_run_time_depth_as_keras(keras, kw):
    """One model, a run-time depth (the frames of a sequence): outputs and the weights after Adam
    steps at three depths as Keras's."""
    m = bigcore.Model(inp := bigcore.Input((None, 5, 4, 2)), layers.Conv3D(3, (3, 2, 2), **kw)(inp))
    k_in = keras.Input((None, 5, 4, 2))
    k = keras.Model(k_in, keras.layers.Conv3D(3, (3, 2, 2), **kw)(k_in))
    k.set_weights(_random_weights(m))
    for T in (5, 7, 6):
        x = _frames(T, (5, 4, 2))
        want = _keras_out(k, x)[0]
        got = m.predict(x, verbose=0)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.05), "mse")
        for T in (5, 7, 6):
            x = _frames(T, (5, 4, 2), seed=9)
            y = np.random.default_rng(T).standard_normal(m.predict(x, verbose=0).shape).astype(np.float32)
            model.train_on_batch(x, y)
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def _next_frame_model(lib, F=4, size=8):
    """Keras's next-frame video prediction example (conv_lstm), small."""
    L = lib.layers
    inp = lib.Input((None, size, size, 1))
    x = L.ConvLSTM2D(F, (5, 5), padding="same", return_sequences=True, activation="relu")(inp)
    x = L.BatchNormalization()(x)
    x = L.ConvLSTM2D(F, (3, 3), padding="same", return_sequences=True, activation="relu")(x)
    x = L.BatchNormalization()(x)
    x = L.ConvLSTM2D(F, (1, 1), padding="same", return_sequences=True, activation="relu")(x)
    x = L.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")(x)
    model = lib.Model(inp, x)
    model.compile(loss="binary_crossentropy", optimizer=lib.optimizers.Adam(learning_rate=0.01))
    return model


def _moving_squares(n, T, size=8, seed=0):
    """Frames of a square moving one pixel per frame: (n, T + 1, size, size, 1) in {0, 1}."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, T + 1, size, size, 1), np.float32)
    for i in range(n):
        r, c, dr, dc = rng.integers(0, size - 2), rng.integers(0, size - 2), rng.choice([-1, 1]), rng.choice([-1, 1])
        for t in range(T + 1):
            out[i, t, r:r + 2, c:c + 2] = 1
            r, c = int(np.clip(r + dr, 0, size - 2)), int(np.clip(c + dc, 0, size - 2))
    return out


def test_next_frame_prediction_model_trains_and_predicts_at_two_lengths_as_keras(keras):
    m, k = _next_frame_model(bigcore), _next_frame_model(keras)
    assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(m.get_weights())
    for T, seed in ((5, 0), (3, 1), (5, 2)):  # the example trains on shifted frames: x[:, :-1] -> x[:, 1:]
        frames = _moving_squares(4, T, seed=seed)
        for model in (m, k):
            model.train_on_batch(frames[:, :-1], frames[:, 1:])
    for a, b in zip(m.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for T in (6, 2):
        frames = _moving_squares(3, T, seed=7)[:, :-1]
        got = m.predict(frames, verbose=0)
        assert got.shape == (3, T, 8, 8, 1)
        np.testing.assert_allclose(got, _keras_out(k, frames)[0], rtol=1e-5, atol=1e-5)
    before = m.evaluate(frames, _moving_squares(3, 2, seed=7)[:, 1:], verbose=0)
    m.fit(_moving_squares(16, 4, seed=3)[:, :-1], _moving_squares(16, 4, seed=3)[:, 1:], epochs=3, batch_size=4,
          verbose=0)
    assert m.evaluate(frames, _moving_squares(3, 2, seed=7)[:, 1:], verbose=0) < before
