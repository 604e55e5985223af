"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D (layers/conv_lstm.py) through the layer harness: output shapes,
forward against tests/reference_conv.py's ConvLSTMCell (float64), gradients of every weight and of the
input by central differences, threads, round trips, Keras 3 parity (same weights -> same outputs, same
weights after Adam steps); dropout (inference is the reference, training draws); refusals."""

import numpy as np
import pytest

import bigcore
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = [pytest.mark.filterwarnings(KERAS_WARNING),
              pytest.mark.filterwarnings("ignore:You might experience inconsistencies:UserWarning")]


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


CASES = [
    (layers.ConvLSTM1D, {"filters": 2, "kernel_size": 3}, (2, 3, 6, 2)),
    (layers.ConvLSTM1D, {"filters": 3, "kernel_size": 2, "padding": "same", "return_sequences": True,
                         "go_backwards": True}, (2, 3, 5, 2)),
    (layers.ConvLSTM2D, {"filters": 2, "kernel_size": 2, "return_state": True}, (2, 3, 4, 3, 2)),
    (layers.ConvLSTM2D, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "return_sequences": True,
                         "use_bias": False}, (2, 2, 5, 4, 1)),
    (layers.ConvLSTM2D, {"filters": 2, "kernel_size": (1, 2), "dilation_rate": (1, 2), "activation": "relu",
                         "recurrent_activation": "hard_sigmoid"}, (2, 2, 3, 5, 2)),
    (layers.ConvLSTM3D, {"filters": 2, "kernel_size": 2}, (2, 2, 3, 3, 3, 1)),
]


def _ids(v):
    if isinstance(v, type):
        return v.__name__
    if isinstance(v, dict):
        return "-".join(f"{k}={x}" for k, x in v.items())
    return "x".join(map(str, v))


@pytest.mark.parametrize("cls,kw,shape", CASES, ids=_ids)
def test_conv_lstm(request, cls, kw, shape):
    rank = len(shape) - 3
    k = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * rank
    F, C = kw["filters"], shape[-1]
    bias = kw.get("use_bias", True)

    def forward(w, x, mask):
        return cref.conv_lstm_forward(x, w[0], w[1], w[2] if bias else None, kw.get("strides", 1),
                                      kw.get("padding", "valid"), kw.get("dilation_rate", 1),
                                      kw.get("return_sequences", False), kw.get("return_state", False),
                                      kw.get("go_backwards", False), activation=kw.get("activation", "tanh"),
                                      recurrent_activation=kw.get("recurrent_activation", "sigmoid"))

    run_layer_test(cls, kw, shape, forward, weight_shapes=[k + (C, 4 * F), k + (F, 4 * F)] + ([(4 * F,)] if bias else []),
                   keras=optional_keras(request))


def test_conv_lstm_dropout():
    kw = {"filters": 2, "kernel_size": 2, "dropout": 0.3, "recurrent_dropout": 0.2}
    run_layer_test(layers.ConvLSTM2D, kw, (2, 3, 4, 3, 2),
                   lambda w, x, mask: cref.conv_lstm_forward(x, w[0], w[1], w[2]),
                   weight_shapes=[(2, 2, 2, 8), (2, 2, 2, 8), (8,)], training_differs=True)


def test_unit_forget_bias_and_initial_state():
    layer = layers.ConvLSTM1D(3, 2, return_state=True)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 2)).astype(np.float32)
    inp = bigcore.Input((4, 5, 2))
    h0, c0 = bigcore.Input((4, 3)), bigcore.Input((4, 3))
    model = bigcore.Model([inp, h0, c0], layer(inp, initial_state=[h0, c0]))
    np.testing.assert_array_equal(layer.bias.numpy(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    w = [v.astype(np.float64) for v in layer.get_weights()]
    rng = np.random.default_rng(1)
    s0 = [rng.standard_normal((2, 4, 3)).astype(np.float32) for _ in range(2)]
    got = model.predict([x] + s0, verbose=0)
    want = cref.conv_lstm_forward(x, w[0], w[1], w[2], return_state=True, initial_state=s0)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_refusals():
    with pytest.raises(ValueError, match="stateful"):
        layers.ConvLSTM2D(2, 3, stateful=True)
    with pytest.raises(ValueError, match="channels_last"):
        layers.ConvLSTM2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="known"):
        layers.ConvLSTM1D(2, 3)(bigcore.Input((3, None, 2)))
    with pytest.raises(ValueError, match="ndim=5"):
        layers.ConvLSTM2D(2, 3)(bigcore.Input((3, 6, 2)))


@pytest.mark.parametrize("kw", [{"return_sequences": True}, {}, {"go_backwards": True, "return_sequences": True}],
                         ids=_ids)
def test_mask_as_keras(keras, kw):
    """A masked step keeps the states and repeats the previous output (Keras's RNN)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    m = np.array([[1, 1, 0, 1], [1, 0, 0, 0], [0, 1, 1, 1]], bool)
    theirs = keras.layers.ConvLSTM1D(2, 2, **kw)
    want = np.asarray(theirs(x, mask=m).detach())
    inp, mask_in = bigcore.Input((4, 5, 2)), bigcore.Input((4,), dtype="bool")
    ours = layers.ConvLSTM1D(2, 2, **kw)
    model = bigcore.Model([inp, mask_in], ours(inp, mask=mask_in))
    ours.set_weights([w.value.detach().cpu().numpy() for w in theirs.weights])
    np.testing.assert_allclose(model.predict([x, m], verbose=0), want, rtol=1e-5, atol=1e-5)


def test_keras_files_both_ways(keras, tmp_path):
    """Keras keeps the weights under the layer's `cell` (ConvLSTMCell): .keras files load both ways."""
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4, 2)).astype(np.float32)
    theirs = keras.Sequential([keras.Input((3, 5, 4, 2)), keras.layers.ConvLSTM2D(3, 2, return_sequences=True),
                               keras.layers.Conv3DTranspose(2, 2)])
    theirs.save(tmp_path / "k.keras")
    ours = bigcore.saving.load_model(tmp_path / "k.keras")
    want = np.asarray(theirs(x).detach())
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    ours.save(tmp_path / "b.keras")
    again = keras.saving.load_model(tmp_path / "b.keras")
    np.testing.assert_allclose(np.asarray(again(x).detach()), want, rtol=1e-5, atol=1e-5)
