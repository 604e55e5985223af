"""Every layer through the one harness (tests/layer_test.py): build and shapes, forward against the
NumPy references, masks, gradients by central differences, thread counts, config and file round
trips, and Keras 3 parity where Keras is installed.

Deeper checks of a family stay in its own file: test_recurrent.py (every option of LSTM / GRU /
Bidirectional, every CPU path, dropout), test_quant_recurrent.py and test_quant_kernels.py (int8 on
every int8 path), test_sparse_kernels.py, test_training_kernels.py (losses and optimizers).
"""

import numpy as np
import pytest

import bigcore
import reference as ref
import reference_quant as qref
import reference_rnn as rref
from bigcore import layers, regularizers
from bigcore.layers.sparse import QuantizedSparseDense, SparseDense
from bigcore.quantization import QuantizedDense, QuantizedGRU, QuantizedLSTM
from layer_test import KERAS_WARNING, compile_for_gradients, pass_mask, run_layer_test, sgd_gradients

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

B, T, D, U = 4, 5, 3, 3   # batch, timesteps, features, units: small for finite differences
BM = 5                    # a masked batch: one row of each mask_pattern kind


def optional_keras(request):
    """The keras fixture, or None where Keras is missing: the harness then skips only its parity part."""
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


# --------------------------------------------------------------------------- Dense, Activation


def dense_ref(act, use_bias=True):
    return lambda w, x, mask: ref.dense_forward(x, w[0], w[1] if use_bias else None, act)


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_dense_2d(request, act):
    run_layer_test(layers.Dense, {"units": 4, "activation": act}, (B, 5), dense_ref(act),
                   weight_shapes=[(5, 4), (4,)], keras=optional_keras(request))


@pytest.mark.parametrize("act", ["linear", "tanh", "softmax"])
def test_dense_3d(request, act):
    run_layer_test(layers.Dense, {"units": 4, "activation": act}, (B, T, D), dense_ref(act),
                   weight_shapes=[(D, 4), (4,)], keras=optional_keras(request))


def test_dense_3d_masked(request):
    """Dense computes every step and passes the mask on; the loss skips the masked steps."""
    run_layer_test(layers.Dense, {"units": 4, "activation": "relu"}, (BM, T, D), dense_ref("relu"),
                   weight_shapes=[(D, 4), (4,)], masked=True, output_mask=pass_mask, keras=optional_keras(request))


def test_dense_without_bias(request):
    run_layer_test(layers.Dense, {"units": 3, "activation": "sigmoid", "use_bias": False}, (B, 6),
                   dense_ref("sigmoid", use_bias=False), weight_shapes=[(6, 3)], keras=optional_keras(request))


@pytest.mark.parametrize("kernel_reg,bias_reg", [
    (regularizers.l1(0.05), None), (None, regularizers.l2(0.2)),
    (regularizers.l1_l2(0.02, 0.05), regularizers.l1(0.1))], ids=["l1_kernel", "l2_bias", "l1_l2_kernel_l1_bias"])
def test_dense_regularizers(request, kernel_reg, bias_reg):
    run_layer_test(layers.Dense, {"units": 3, "activation": "tanh", "kernel_regularizer": kernel_reg,
                                  "bias_regularizer": bias_reg}, (B, 5), dense_ref("tanh"),
                   weight_shapes=[(5, 3), (3,)], keras=optional_keras(request))


@pytest.mark.parametrize("act", ref.ACTIVATIONS)
def test_activation(request, act):
    run_layer_test(layers.Activation, {"activation": act}, (B, 6), lambda w, x, mask: ref.act_forward(x, act),
                   weight_shapes=[], keras=optional_keras(request))


def test_activation_3d_masked(request):
    run_layer_test(layers.Activation, {"activation": "tanh"}, (BM, T, D),
                   lambda w, x, mask: ref.act_forward(x, "tanh"), weight_shapes=[], masked=True,
                   output_mask=pass_mask, keras=optional_keras(request))


# --------------------------------------------------------------------------- Dropout, Flatten, Reshape


def identity(w, x, mask):
    return x


@pytest.mark.parametrize("rate", [0.3, 0.75])
def test_dropout(request, rate):
    run_layer_test(layers.Dropout, {"rate": rate, "seed": 3}, (BM, T, D), identity, weight_shapes=[],
                   masked=True, output_mask=pass_mask, training_differs=True, keras=optional_keras(request))


@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
def test_activity_regularization(request, l1, l2):
    """The identity, with Keras's activity penalty in the loss (Adam steps against Keras's)."""
    run_layer_test(layers.ActivityRegularization, {"l1": l1, "l2": l2}, (BM, T, D), identity, weight_shapes=[],
                   masked=True, output_mask=pass_mask, keras=optional_keras(request))


def test_activity_regularization_penalty_in_the_loss():
    """evaluate's loss is the data loss plus (l1 sum|y| + l2 sum y^2) / batch of the layer's output."""
    inp = bigcore.Input((4,))
    h = layers.Dense(3, name="d")(inp)
    model = bigcore.Model(inp, layers.Dense(1)(layers.ActivityRegularization(l1=0.1, l2=0.2)(h)))
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    y = np.zeros((8, 1), np.float32)
    hidden = bigcore.Model(inp, h).predict(x, verbose=0).astype(np.float64)
    data = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    penalty = (0.1 * np.abs(hidden).sum() + 0.2 * (hidden ** 2).sum()) / 8
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(data + penalty, rel=1e-5)
    with pytest.raises(ValueError, match="l1 must be a number >= 0"):
        layers.ActivityRegularization(l1=-1.0)


def test_dropout_rate_zero_is_the_identity_in_training(request):
    run_layer_test(layers.Dropout, {"rate": 0.0}, (B, 6), identity, weight_shapes=[], keras=optional_keras(request))


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_training_keeps_and_scales(rate):
    """In training each value is kept with probability 1 - rate and scaled by 1 / (1 - rate), or
    zeroed: with an MSE loss, dL/dx = keep * dL/dy / (1 - rate), and the loss is that of
    y = keep * x / (1 - rate); in inference y = x."""
    n, width = 64, 16
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, width)).astype(np.float32)
    target = rng.standard_normal((n, width)).astype(np.float32)
    # identity rows in, x as the kernel: row r of the kernel's gradient is sample r's input gradient
    inp = bigcore.Input((n,))
    table = layers.Dense(width, use_bias=False)
    model = bigcore.Model(inp, layers.Dropout(rate, seed=1)(table(inp)))
    table.set_weights([x])
    compile_for_gradients(model)
    loss, (gx,) = sgd_gradients(model, np.eye(n, dtype=np.float32), target)
    keep = gx != 0
    assert 0.5 * (1 - rate) < keep.mean() < 1.5 * (1 - rate)
    y = np.where(keep, x.astype(np.float64) / (1 - rate), 0.0)
    assert loss == pytest.approx(((y - target) ** 2).mean(), rel=1e-5)
    want = np.where(keep, 2.0 * (y - target) / y.size / (1 - rate), 0.0)
    np.testing.assert_allclose(gx, want, rtol=1e-4, atol=3e-7)  # w_before - w_after: float32 rounding of w
    np.testing.assert_array_equal(model.predict(np.eye(n, dtype=np.float32), verbose=0), table.get_weights()[0])


@pytest.mark.parametrize("shape", [(B, 6), (B, T, D), (B, 2, 3, 2)], ids=["2d", "3d", "4d"])
def test_flatten(request, shape):
    run_layer_test(layers.Flatten, {}, shape, lambda w, x, mask: x.reshape(len(x), -1), weight_shapes=[],
                   keras=optional_keras(request))


@pytest.mark.parametrize("shape,target", [((B, 6), (2, 3)), ((B, 12), (-1, 4)), ((B, T, D), (15,)),
                                          ((B, 2, 6), (3, -1, 2))], ids=["2d_3d", "infer", "3d_2d", "3d_4d"])
def test_reshape(request, shape, target):
    def reshape(w, x, mask):
        return x.reshape((len(x),) + target)

    run_layer_test(layers.Reshape, {"target_shape": target}, shape, reshape, weight_shapes=[],
                   keras=optional_keras(request))


# --------------------------------------------------------------------------- Embedding

V, E = 7, 3


def embedding_ref(w, x, mask):
    return rref.embedding_forward(x, w[0])[0]


def test_embedding(request):
    run_layer_test(layers.Embedding, {"input_dim": V, "output_dim": E}, (B, T), embedding_ref,
                   weight_shapes=[(V, E)], int_inputs=V, keras=optional_keras(request))


def test_embedding_mask_zero(request):
    """Id 0 masks its step; it still looks up row 0."""
    run_layer_test(layers.Embedding, {"input_dim": V, "output_dim": E, "mask_zero": True}, (BM, T), embedding_ref,
                   weight_shapes=[(V, E)], int_inputs=V, masked=True, output_mask=lambda x, mask: x != 0,
                   keras=optional_keras(request))


def test_embedding_regularizer(request):
    run_layer_test(layers.Embedding, {"input_dim": V, "output_dim": E, "embeddings_regularizer": regularizers.l2(0.1)},
                   (B, T), embedding_ref, weight_shapes=[(V, E)], int_inputs=V, keras=optional_keras(request))


# --------------------------------------------------------------------------- LSTM, GRU, Bidirectional

RNN = {"LSTM": layers.LSTM, "GRU": layers.GRU, "SimpleRNN": layers.SimpleRNN}
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def rnn_shapes(kind, use_bias=True, d=D, u=U):
    G = GATES[kind]
    bias = [] if not use_bias else [(2, 3 * u)] if kind == "GRU" else [(G * u,)]
    return [(d, G * u), (u, G * u)] + bias


def rnn_mask(return_sequences, return_state, kind, sequences=1, directions=1):
    """Keras: the input mask on the sequence output(s), none on the states (of each direction)."""
    n_states = (2 if kind == "LSTM" else 1) * directions if return_state else 0

    def rule(x, mask):
        out = [mask if return_sequences else None] * sequences + [None] * n_states
        return out if len(out) > 1 else out[0]
    return rule


RNN_CASES = {  # (constructor arguments, masked)
    "last": ({}, False),
    "sequences_masked": ({"return_sequences": True}, True),
    "state_backwards": ({"return_state": True, "go_backwards": True}, False),
    "all_masked": ({"return_sequences": True, "return_state": True, "go_backwards": True}, True),
    "no_bias_relu": ({"use_bias": False, "activation": "relu", "recurrent_activation": "tanh",
                      "return_sequences": True}, True),
}


def rnn_ref(kind, kw):
    keys = ("activation", "recurrent_activation", "return_sequences", "return_state", "go_backwards")
    cell = {k: kw[k] for k in keys if k in kw}
    n = 3 if kw.get("use_bias", True) else 2

    def forward(w, x, mask):
        return rref.rnn_forward(REF_KIND[kind], x, w[0], w[1], w[2] if n == 3 else None, mask=mask, **cell)
    return forward


REF_KIND = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}


@pytest.mark.parametrize("case", RNN_CASES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent(request, kind, case):
    kw, masked = RNN_CASES[case]
    if kind == "SimpleRNN":  # Keras's SimpleRNN has one activation
        kw = {k: v for k, v in kw.items() if k != "recurrent_activation"}
    kw = {"units": U, **kw}
    run_layer_test(RNN[kind], kw, (BM if masked else B, T, D), rnn_ref(kind, kw),
                   weight_shapes=rnn_shapes(kind, kw.get("use_bias", True)), masked=masked,
                   output_mask=rnn_mask(kw.get("return_sequences", False), kw.get("return_state", False), kind),
                   atol=2e-5, rtol=1e-4, keras=optional_keras(request))


def test_gru_reset_after_is_keras_layout(request):
    kw = {"units": U, "reset_after": True, "return_sequences": True}
    run_layer_test(layers.GRU, kw, (B, T, D), rnn_ref("GRU", kw), weight_shapes=rnn_shapes("GRU"),
                   output_mask=rnn_mask(True, False, "GRU"), atol=2e-5, rtol=1e-4, keras=optional_keras(request))


CELL_CASES = {  # (cell kinds, RNN arguments, masked)
    "lstm": (["LSTM"], {}, False),
    "gru_sequences_masked": (["GRU"], {"return_sequences": True}, True),
    "simple_rnn_state": (["SimpleRNN"], {"return_state": True}, False),
    "stacked_gru_lstm": (["GRU", "LSTM"], {}, False),
    "stacked_all_masked": (["GRU", "SimpleRNN", "GRU"], {"return_sequences": True, "return_state": True}, True),
    "stacked_lstm_first": (["LSTM", "SimpleRNN"], {}, True),
    "stacked_zero_output_masked": (["LSTM", "GRU"], {"return_sequences": True, "zero_output_for_mask": True}, True),
}


@pytest.mark.parametrize("case", CELL_CASES)
def test_rnn_of_cells(request, case):
    """RNN(cell) and RNN([cells]) (StackedRNNCells) against Keras's step loop written out in NumPy."""
    kinds, kw, masked = CELL_CASES[case]
    units = [U, 3, 4][:len(kinds)]
    cells = [getattr(layers, f"{k}Cell")(u) for k, u in zip(kinds, units)]
    shapes = [s for i, (k, u) in enumerate(zip(kinds, units)) for s in rnn_shapes(k, d=D if i == 0 else units[i - 1], u=u)]

    def forward(w, x, mask):
        weights = [w[3 * i:3 * i + 3] for i in range(len(kinds))]
        return rref.stacked_rnn_forward([REF_KIND[k] for k in kinds], x, weights, mask=mask,
                                        return_sequences=kw.get("return_sequences", False),
                                        return_state=kw.get("return_state", False),
                                        zero_output_for_mask=kw.get("zero_output_for_mask", False))

    def mask_rule(x, mask):
        n_states = sum(2 if k == "LSTM" else 1 for k in kinds) if kw.get("return_state") else 0
        out = [mask if kw.get("return_sequences") else None] + [None] * n_states
        return out if len(out) > 1 else out[0]

    run_layer_test(layers.RNN, {"cell": cells[0] if len(cells) == 1 else cells, **kw}, (BM if masked else B, T, D),
                   forward, weight_shapes=shapes, masked=masked, output_mask=mask_rule, atol=2e-5, rtol=1e-4,
                   keras=optional_keras(request))


def test_stacked_cells_return_states_grouped_per_cell_as_keras(keras):
    """RNN([LSTMCell, GRUCell], return_state=True) returns (y, [h, c], h): Keras's structure and values."""
    def build(M):
        inp = M.Input((T, D))
        out = M.layers.RNN([M.layers.LSTMCell(4), M.layers.GRUCell(3)], return_state=True)(inp)
        return M.Model(inp, out)
    model, km = build(bigcore), build(keras)
    assert len(model.outputs) == 4
    km.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((3, T, D)).astype(np.float32)
    ours, theirs = model.predict(x, verbose=0), km.predict(x, verbose=0)
    assert len(ours) == len(theirs) == 3 and isinstance(ours[1], list) and len(ours[1]) == 2
    for a, b in zip([ours[0], *ours[1], ours[2]], [theirs[0], *theirs[1], theirs[2]]):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def test_stacked_cells_states_survive_saving(tmp_path):
    """A model using one state of a grouped [h, c] pair: .bigcore and .keras files give its outputs."""
    inp = bigcore.Input((T, D))
    y, lstm_states, gru_state = layers.RNN([layers.LSTMCell(4), layers.GRUCell(3)], return_state=True)(inp)
    model = bigcore.Model(inp, [y, lstm_states[1], gru_state])
    x = np.random.default_rng(2).standard_normal((3, T, D)).astype(np.float32)
    for ext in ("bigcore", "keras"):
        model.save(tmp_path / f"m.{ext}")
        loaded = bigcore.models.load_model(tmp_path / f"m.{ext}")
        for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
            np.testing.assert_array_equal(a, b)


def test_rnn_of_cells_is_the_layer_and_refuses_other_uses():
    """RNN(LSTMCell(u)) gives the LSTM layer's bits with the same weights, Bidirectional(RNN(cell))
    the Bidirectional LSTM's; calling a cell directly and go_backwards over stacked built-in cells
    are refused by name (cells of one's own: tests/test_rnn_custom_cell.py)."""
    x = np.random.default_rng(0).standard_normal((3, T, D)).astype(np.float32)
    inp = bigcore.Input((T, D))
    cell_model = bigcore.Model(inp, layers.RNN(layers.LSTMCell(U, dropout=0.0), return_sequences=True)(inp))
    layer_model = bigcore.Model(inp, layers.LSTM(U, return_sequences=True)(inp))
    layer_model.set_weights(cell_model.get_weights())
    np.testing.assert_array_equal(cell_model.predict(x, verbose=0), layer_model.predict(x, verbose=0))
    bidi_cell = bigcore.Model(inp, layers.Bidirectional(layers.RNN(layers.GRUCell(U)))(inp))
    bidi_layer = bigcore.Model(inp, layers.Bidirectional(layers.GRU(U))(inp))
    bidi_layer.set_weights(bidi_cell.get_weights())
    np.testing.assert_array_equal(bidi_cell.predict(x, verbose=0), bidi_layer.predict(x, verbose=0))

    with pytest.raises(NotImplementedError, match="wrap it in layers.RNN"):
        layers.LSTMCell(3)(inp, [inp])
    with pytest.raises(ValueError, match="go_backwards=True over stacked cells"):
        layers.RNN([layers.GRUCell(2), layers.GRUCell(2)], go_backwards=True)
    with pytest.raises(TypeError, match="does not take `return_sequences`"):
        layers.LSTMCell(3, return_sequences=True)


BIDI_CASES = {  # (inner kind, merge_mode, inner arguments, masked)
    "concat_lstm": ("LSTM", "concat", {}, False),
    "sum_gru_sequences_masked": ("GRU", "sum", {"return_sequences": True}, True),
    "ave_lstm_masked": ("LSTM", "ave", {}, True),
    "mul_gru_sequences": ("GRU", "mul", {"return_sequences": True}, False),
    "none_lstm_sequences_masked": ("LSTM", None, {"return_sequences": True}, True),
    "concat_gru_state": ("GRU", "concat", {"return_state": True}, True),
    "none_lstm_state_sequences": ("LSTM", None, {"return_state": True, "return_sequences": True}, False),
    "concat_simple_rnn_state_sequences_masked": ("SimpleRNN", "concat", {"return_state": True,
                                                                        "return_sequences": True}, True),
    "ave_simple_rnn": ("SimpleRNN", "ave", {}, False),
}


@pytest.mark.parametrize("case", BIDI_CASES)
def test_bidirectional(request, case):
    kind, merge_mode, kw, masked = BIDI_CASES[case]
    kw = {"units": U, **kw}
    n = len(rnn_shapes(kind))

    def forward(w, x, mask):
        return rref.bidirectional_forward(REF_KIND[kind], x, w[:n], w[n:], mask=mask, merge_mode=merge_mode,
                                          return_sequences=kw.get("return_sequences", False),
                                          return_state=kw.get("return_state", False))

    run_layer_test(layers.Bidirectional, {"layer": RNN[kind](**kw), "merge_mode": merge_mode},
                   (BM if masked else B, T, D), forward, weight_shapes=rnn_shapes(kind) * 2, masked=masked,
                   output_mask=rnn_mask(kw.get("return_sequences", False), kw.get("return_state", False), kind,
                                        sequences=1 if merge_mode else 2, directions=2),
                   atol=2e-5, rtol=1e-4, keras=optional_keras(request))


# --------------------------------------------------------------------------- merge layers

MERGES = {"sum": layers.Add, "ave": layers.Average, "mul": layers.Multiply, "concat": layers.Concatenate,
          "sub": layers.Subtract, "max": layers.Maximum, "min": layers.Minimum}


def merge_ref(mode):
    return lambda w, x, mask: rref.keras_merge(mode, x, mask)


def merge_mask(mode):
    return lambda x, mask: rref.keras_merge_mask(mode, x, mask)


@pytest.mark.parametrize("mode", MERGES)
@pytest.mark.parametrize("shapes", [[(B, 5), (B, 5)], [(B, T, 2)] * 3], ids=["2_inputs_2d", "3_inputs_3d"])
def test_merge(request, mode, shapes):
    if mode == "sub" and len(shapes) != 2:
        shapes = shapes[:2]  # exactly two inputs
    run_layer_test(MERGES[mode], {}, shapes, merge_ref(mode), weight_shapes=[], keras=optional_keras(request))


def broadcast_merge_ref(mode):
    """Keras's broadcasting merge: a lower-rank input gains axes after the batch's, then NumPy's rule."""
    def ref(w, xs, mask):
        rank = max(x.ndim for x in xs)
        xs = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
        shape = np.broadcast_shapes(*[x.shape for x in xs])
        return rref.keras_merge(mode, [np.broadcast_to(x, shape) for x in xs], None)
    return ref


@pytest.mark.parametrize("mode", [m for m in MERGES if m != "concat"])
@pytest.mark.parametrize("shapes", [[(B, T, 2), (B, 1, 2)], [(B, 1, 2), (B, T, 1)], [(B, T, 2), (B, 2)],
                                    [(B, 2), (B, T, 2), (B, T, 1)]], ids=["steps", "both", "rank", "three"])
def test_merge_broadcasts_as_keras(request, mode, shapes):
    """Add, Average, Multiply, Subtract, Maximum, Minimum broadcast their inputs as Keras 3 does
    (each gradient summed back over the axes it was broadcast along)."""
    if mode == "sub":
        shapes = shapes[:2]
    run_layer_test(MERGES[mode], {}, shapes, broadcast_merge_ref(mode), weight_shapes=[], keras=optional_keras(request))


def test_merge_refuses_shapes_that_do_not_broadcast():
    a, b = bigcore.Input((5, 3)), bigcore.Input((4, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        layers.Add()([a, b])
    ids = bigcore.Input((1,))
    masked = layers.Embedding(7, 3, mask_zero=True)(ids)  # (batch, 1, 3) with a mask, broadcast along 5 steps
    model = bigcore.Model([ids, a], layers.Multiply()([a, masked]))
    with pytest.raises(ValueError, match="a masked input of shape .None, 1, 3. would be broadcast"):
        model.predict([np.ones((2, 1)), np.ones((2, 5, 3))], verbose=0)


def test_concatenate_of_different_widths(request):
    run_layer_test(layers.Concatenate, {"axis": -1}, [(B, 2), (B, 5), (B, 1)], merge_ref("concat"), weight_shapes=[],
                   keras=optional_keras(request))


def other_mask():
    """A second mask pattern, unlike layer_test.mask_pattern's on every row but the fully masked one."""
    m = np.ones((BM, T), bool)
    m[0, 1:3] = False
    m[1, -1] = False
    m[2, :1] = False
    m[3] = False
    m[4, T // 2:] = False
    return m


MASKED_MERGE_CASES = {  # mode, masks of the two inputs
    "sum_same_masks": ("sum", [True, True]),
    "ave_same_masks": ("ave", [True, True]),
    "concat_same_masks": ("concat", [True, True]),
    "mul_same_masks": ("mul", [True, True]),
    "sum_other_masks": ("sum", [True, "other"]),
    "ave_other_masks": ("ave", [True, "other"]),
    "mul_other_masks": ("mul", [True, "other"]),
    "concat_other_masks": ("concat", [True, "other"]),
    "sum_one_masked": ("sum", [True, False]),
    "mul_one_masked": ("mul", [True, False]),
    "concat_one_masked": ("concat", [True, False]),
    "sub_other_masks": ("sub", [True, "other"]),
    "sub_one_masked": ("sub", [False, True]),
    "max_other_masks": ("max", [True, "other"]),
    "max_first_masked": ("max", [True, False]),
    "max_second_masked": ("max", [False, "other"]),
    "min_other_masks": ("min", [True, "other"]),
    "min_same_masks": ("min", [True, True]),
    "min_second_masked": ("min", [False, True]),
}


@pytest.mark.parametrize("case", list(MASKED_MERGE_CASES))
def test_merge_masked(request, case):
    """Keras 3's mask rules for the merge layers (reference_rnn.keras_merge)."""
    mode, masked = MASKED_MERGE_CASES[case]
    masked = [other_mask() if m == "other" else m for m in masked]
    run_layer_test(MERGES[mode], {}, [(BM, T, 2)] * 2, merge_ref(mode), weight_shapes=[], masked=masked,
                   output_mask=merge_mask(mode), keras=optional_keras(request))


# --------------------------------------------------------------------------- int8 and sparse layers
# Inference only: no gradients; int8 results are exact where quant.h's epilogue is, so atol 0 there.


def int8_dense_weights(K, N, use_bias=True):
    def make(rng):
        kernel = rng.integers(-127, 128, (K, N)).astype(np.int8)
        bias = [(0.3 * rng.standard_normal(N)).astype(np.float32)] if use_bias else []
        return [kernel] + bias + [rng.uniform(0.002, 0.02, N).astype(np.float32)]
    return make


QDENSE_CASES = {  # (constructor arguments, input shape, masked)
    "linear": ({"units": 4}, (B, 6), False),
    "relu_3d_masked": ({"units": 4, "activation": "relu"}, (BM, T, D), True),
    "tanh": ({"units": 5, "activation": "tanh"}, (B, 6), False),
    "softmax_no_bias": ({"units": 5, "activation": "softmax", "use_bias": False}, (B, 6), False),
    "calibrated_scale": ({"units": 4, "activation_scale": 0.02}, (B, 6), False),
}


@pytest.mark.parametrize("cls", [QuantizedDense, QuantizedSparseDense])
@pytest.mark.parametrize("case", QDENSE_CASES)
def test_quantized_dense(cls, case):
    kw, shape, masked = QDENSE_CASES[case]
    K, N, use_bias = shape[-1], kw["units"], kw.get("use_bias", True)
    act = kw.get("activation", "linear")

    def forward(w, x, mask):
        return qref.qdense_forward(x, w[0], w[1] if use_bias else None, w[-1], act, kw.get("activation_scale", 0.0))

    exact = act in ("linear", "relu")
    run_layer_test(cls, kw, shape, forward, weight_shapes=[(K, N)] + ([(N,)] if use_bias else []) + [(N,)],
                   n_trainable=0, weights=int8_dense_weights(K, N, use_bias), masked=masked,
                   output_mask=pass_mask if masked else None, gradients=False,
                   rtol=0 if exact else 1e-6, atol=0 if exact else 1e-6)


QRNN = {"LSTM": QuantizedLSTM, "GRU": QuantizedGRU}
QRNN_CASES = {  # (constructor arguments, masked): sequences always, for the step-by-step reference
    "forward": ({}, False),
    "backwards_masked": ({"go_backwards": True}, True),
    "state_masked": ({"return_state": True}, True),
    "no_bias_calibrated": ({"use_bias": False, "activation_scale": 0.02}, False),
}


def int8_rnn_weights(kind, use_bias):
    G = GATES[kind]

    def make(rng):
        ws = [rng.integers(-127, 128, (D, G * U)).astype(np.int8), rng.integers(-127, 128, (U, G * U)).astype(np.int8)]
        if use_bias:
            ws.append((0.5 * rng.standard_normal((G * U,) if kind == "LSTM" else (2, G * U))).astype(np.float32))
        return ws + [rng.uniform(0.002, 0.01, G * U).astype(np.float32) for _ in range(2)]
    return make


@pytest.mark.parametrize("case", QRNN_CASES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_quantized_recurrent(kind, case):
    kw, masked = QRNN_CASES[case]
    kw = {"units": U, "return_sequences": True, **kw}
    use_bias = kw.get("use_bias", True)

    def forward(w, x, mask, native):
        bias = w[2] if use_bias else None
        seq, c = qref.qrnn_steps(kind.lower(), x, w[0], w[1], bias, w[-2], w[-1], native[0], mask,
                                 kw.get("go_backwards", False), kw.get("activation_scale", 0.0))
        if not kw.get("return_state"):
            return seq
        return [seq, seq[:, -1]] + ([c] if kind == "LSTM" else [])

    G = GATES[kind]
    run_layer_test(QRNN[kind], kw, (BM if masked else B, T, D), forward,
                   weight_shapes=rnn_shapes(kind, use_bias) + [(G * U,), (G * U,)], n_trainable=0,
                   weights=int8_rnn_weights(kind, use_bias), masked=masked,
                   output_mask=rnn_mask(True, kw.get("return_state", False), kind), gradients=False,
                   rtol=0, atol=1e-5)


def sparse_weights(K, N):
    def make(rng):
        kernel = rng.standard_normal((K, N)).astype(np.float32) / np.sqrt(K)
        kernel[rng.random((K, N)) < 0.7] = 0
        return [kernel, (0.5 * rng.standard_normal(N)).astype(np.float32)]
    return make


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid", "softmax"])
def test_sparse_dense(request, act):
    run_layer_test(SparseDense, {"units": 6, "activation": act}, (B, 9), dense_ref(act), weight_shapes=[(9, 6), (6,)],
                   n_trainable=0, weights=sparse_weights(9, 6), gradients=False, keras=optional_keras(request),
                   keras_class="Dense")


def test_sparse_dense_3d_masked(request):
    run_layer_test(SparseDense, {"units": 4, "activation": "tanh"}, (BM, T, 8), dense_ref("tanh"),
                   weight_shapes=[(8, 4), (4,)], n_trainable=0, weights=sparse_weights(8, 4), masked=True,
                   output_mask=pass_mask, gradients=False, keras=optional_keras(request), keras_class="Dense")


def test_merge_functional_forms_are_the_layers():
    """Keras's layers.add / subtract / ... make the layer (with its keywords) and call it at once."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 5, 3)).astype(np.float32)
    x1, x2 = bigcore.Input((3,)), bigcore.Input((3,))
    funcs = {"add": (layers.add, layers.Add, a + b), "subtract": (layers.subtract, layers.Subtract, a - b),
             "average": (layers.average, layers.Average, (a + b) / 2), "multiply": (layers.multiply, layers.Multiply, a * b),
             "maximum": (layers.maximum, layers.Maximum, np.maximum(a, b)),
             "minimum": (layers.minimum, layers.Minimum, np.minimum(a, b)),
             "concatenate": (layers.concatenate, layers.Concatenate, np.concatenate([a, b], -1))}
    for name, (fn, cls, want) in funcs.items():
        y = fn([x1, x2], name=f"my_{name}")
        assert type(y.node.layer) is cls and y.node.layer.name == f"my_{name}"
        got = bigcore.Model([x1, x2], y).predict([a, b], verbose=0)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.subtract([x1, x2, x1])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.maximum([x1])


@pytest.mark.parametrize("axis,shapes", [(1, [(B, 2, 3), (B, 4, 3)]), (-2, [(B, 3, 2), (B, 1, 2), (B, 2, 2)]),
                                         (1, [(B, 2, 3, 2), (B, 1, 3, 2)]), (2, [(B, 2, 3, 2), (B, 2, 1, 2)])],
                         ids=["time", "minus2_three_inputs", "rows_4d", "cols_4d"])
def test_concatenate_on_other_axes(request, axis, shapes):
    run_layer_test(layers.Concatenate, {"axis": axis}, shapes,
                   lambda w, x, mask: np.concatenate(x, axis=axis), weight_shapes=[], keras=optional_keras(request))


def test_concatenate_other_axes_refusals_and_variable_lengths():
    a, b = bigcore.Input((None, 3)), bigcore.Input((None, 3))
    cat = layers.Concatenate(axis=1)([a, b])
    assert cat.shape == (None, None, 3)
    model = bigcore.Model([a, b], cat)
    xa, xb = np.ones((2, 4, 3), np.float32), np.full((2, 2, 3), 2.0, np.float32)
    np.testing.assert_array_equal(model.predict([xa, xb], verbose=0), np.concatenate([xa, xb], axis=1))
    with pytest.raises(ValueError, match="batch axis"):
        layers.Concatenate(axis=0)([a, b])
    with pytest.raises(ValueError, match="axis must be an int"):
        layers.Concatenate(axis=3)([a, b])
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate(axis=1)([bigcore.Input((2, 3)), bigcore.Input((2, 4))])
    ids = bigcore.Input((5,))
    emb = layers.Embedding(10, 3, mask_zero=True)(ids)
    joined = layers.Concatenate(axis=1)([emb, emb])  # both masked: their masks are concatenated too
    assert joined._mask is not None and joined._mask.shape == (None, 10)
    with pytest.raises(ValueError, match="masked inputs along axis 1"):  # one without a mask: refused
        layers.Concatenate(axis=1)([emb, bigcore.Input((5, 3))])


def dot_ref(axes, normalize):
    def forward(w, x, mask):
        a, b = (np.asarray(v, np.float64) for v in x)
        ax = axes if isinstance(axes, (list, tuple)) else (axes, axes)
        ax = [d % v.ndim for d, v in zip(ax, (a, b))]
        if normalize:
            a = a * np.minimum(1 / np.sqrt((a * a).sum(ax[0], keepdims=True)), 1e7)
            b = b * np.minimum(1 / np.sqrt((b * b).sum(ax[1], keepdims=True)), 1e7)
        out = np.stack([np.tensordot(a[i], b[i], axes=(ax[0] - 1, ax[1] - 1)) for i in range(len(a))])
        return out.reshape(len(a), 1) if out.ndim == 1 else out
    return forward


@pytest.mark.parametrize("axes,shapes", [(1, [(B, 5), (B, 5)]), (-1, [(B, T, 4), (B, 3, 4)]), ((1, 1), [(B, T, 3), (B, T, 2)]),
                                         ((2, 1), [(B, 3, 4), (B, 4)])],
                         ids=["vectors", "last_axes", "time_axes", "matrix_vector"])
@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "normalized"])
def test_dot(request, axes, shapes, normalize):
    run_layer_test(layers.Dot, {"axes": axes, "normalize": normalize}, shapes, dot_ref(axes, normalize),
                   weight_shapes=[], keras=optional_keras(request))


def test_dot_refusals():
    a, b = bigcore.Input((3, 4)), bigcore.Input((5, 4))
    with pytest.raises(ValueError, match="Incompatible input shapes"):
        layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Dot(axes=0)([a, b])
    with pytest.raises(ValueError, match="2 inputs"):
        layers.Dot(axes=2)([a, b, a])
    with pytest.raises(TypeError, match="axes"):
        layers.Dot(axes="last")
    assert layers.dot([a, b], axes=2).shape == (None, 3, 5)
