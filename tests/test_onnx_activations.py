"""ONNX export of the activations beyond relu / sigmoid / tanh / softmax / gelu / silu: the ones
ONNX has an operator for (or two) run in onnxruntime as bigcore computes them; the others, and a
function of one's own, are refused by name."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from bigcore.export import onnx_graph

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXPORTED = ("elu", "selu", "softplus", "softsign", "exponential", "hard_sigmoid", "hard_silu", "leaky_relu", "relu6",
            "mish", "log_sigmoid", "celu", "log_softmax", "hard_tanh", "tanh_shrink", "soft_shrink", "hard_shrink")
REFUSED = ("squareplus", "sparse_plus")


def randomized(model, seed=0, scale=0.6):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def check(model, shape, opset=onnx_graph.OPSET, scale=2.0):
    """onnxruntime against predict on random inputs (batch 1 and 6)."""
    proto = bigcore.export.to_onnx(model, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for b in (1, 6):
        x = (rng.standard_normal((b,) + shape) * scale).astype(np.float32)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    return proto


@pytest.mark.parametrize("act", EXPORTED)
def test_dense_conv_and_activation(act):
    model = bigcore.Sequential([layers.Input((6, 5, 2)), layers.Conv2D(3, 2, activation=act),  # tanh: exp stays finite
                                layers.Dense(4, activation="tanh"), layers.Dense(4, activation=act),
                                layers.Dense(4, activation="tanh"), layers.Activation(act)])
    check(randomized(model), (6, 5, 2))


def test_mish_is_one_operator_from_opset_18():
    model = randomized(bigcore.Sequential([layers.Input((5,)), layers.Dense(4, activation="mish")]))
    assert "Mish" not in {n.op_type for n in check(model, (5,), opset=17).graph.node}
    assert "Mish" in {n.op_type for n in check(model, (5,), opset=18).graph.node}


@pytest.mark.parametrize("kind,act,rec_act", [("LSTM", "leaky_relu", "hard_sigmoid"), ("GRU", "tanh", "hard_sigmoid"),
                                              ("GRU", "linear", "leaky_relu"), ("LSTM", "hard_sigmoid", "linear"),
                                              ("SimpleRNN", "leaky_relu", None)])
def test_recurrent_activations_with_parameters(kind, act, rec_act):
    """ONNX's recurrent operators take the activations' alpha / beta in order of the ones that have them."""
    kw = {"activation": act, "return_sequences": True, **({"recurrent_activation": rec_act} if rec_act else {})}
    model = bigcore.Sequential([layers.Input((5, 3)), getattr(layers, kind)(4, **kw)])
    check(randomized(model, scale=0.3), (5, 3), scale=1.0)


@pytest.mark.parametrize("act", REFUSED)
def test_activations_without_an_operator_are_refused_by_name(act):
    model = bigcore.Sequential([layers.Input((5,)), layers.Dense(4, activation=act, name="head")])
    with pytest.raises(ValueError, match=rf"the activation '{act}' \(head/{act}\) has no ONNX operator; supported: "):
        bigcore.export.to_onnx(model)


def test_recurrent_and_own_activations_are_refused_by_name():
    model = bigcore.Sequential([layers.Input((5, 3)), layers.LSTM(4, activation="relu6", name="rnn")])
    with pytest.raises(ValueError, match=r"layer 'rnn' \(LSTM\) uses the activation 'relu6', which ONNX's recurrent "
                                         "operators lack"):
        bigcore.export.to_onnx(model)

    def mine(x):
        return ops.square(x)

    model = bigcore.Sequential([layers.Input((5,)), layers.Dense(4, activation=mine)])
    with pytest.raises(ValueError, match="the activation 'mine' .* is a function of your own"):
        bigcore.export.to_onnx(model)
