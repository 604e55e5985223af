"""RNN over cells of one's own with a sequence length known only when the model runs: the native
scan (layers/rnn_scan.py, cpp/ops/scan.h). One model (keras.Input((None, ...))) runs at two lengths:
outputs against the float64 NumPy step loop and Keras 3 (options, masks, go_backwards, return_state,
initial_state, stacks of cells of one's own and mixed with built-in cells, Bidirectional), the
weights after optimizer steps at both lengths as Keras's, the backward through time against central
differences, 1 vs 2 threads bit-identical, saving and loading.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from rnn_inputs import random_weights, sequences
from test_rnn_custom_cell import SavedCell, _assert_same, _flat, _Lib, make_cells, np_minimal, np_rnn, np_two_state

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

D = 5
Minimal, TwoState, _, _, DenseCell = make_cells(_Lib(bigcore))


def data(T, B=4, seed=0, masked=False):
    return sequences(T, D, B, seed + T, masked)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences,go_backwards,zero_output", [(False, False, False), (True, False, False),
                                                                        (True, True, False), (True, False, True),
                                                                        (False, True, True)])
def test_minimal_cell_at_two_lengths_matches_numpy(masked, return_sequences, go_backwards, zero_output):
    inp = bigcore.Input((None, D))
    x_in = layers.Masking(0.0)(inp) if masked else inp
    out, state = layers.RNN(Minimal(4), return_sequences=return_sequences, go_backwards=go_backwards,
                            zero_output_for_mask=zero_output, return_state=True)(x_in)
    model = bigcore.Model(inp, [out, state])
    w = random_weights(model)
    for T in (6, 3):
        x = data(T, masked=masked)
        mask = np.any(x != 0, -1) if masked else None
        want, states = np_rnn(np_minimal, x, w, [np.zeros((4, 4))], mask, go_backwards, return_sequences,
                              zero_output)
        got = model.predict(x, verbose=0)
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], states[0], rtol=1e-5, atol=1e-5)


def test_two_state_cell_with_initial_state_and_stacks_match_numpy():
    U = 3
    x_in, h0_in, c0_in = bigcore.Input((None, D)), bigcore.Input((U,)), bigcore.Input((U,))
    outs = layers.RNN(TwoState(U), return_sequences=True, return_state=True)(x_in, initial_state=[h0_in, c0_in])
    model = bigcore.Model([x_in, h0_in, c0_in], outs)
    w = random_weights(model)
    rng = np.random.default_rng(2)
    h0, c0 = rng.normal(size=(4, U)).astype(np.float32), rng.normal(size=(4, U)).astype(np.float32)
    for T in (5, 2):
        x = data(T)
        want, (h, c) = np_rnn(np_two_state, x, w, [h0, c0], return_sequences=True)
        for g, e in zip(model.predict([x, h0, c0], verbose=0), [want, h, c]):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)

    inp = bigcore.Input((None, D))
    outs = layers.RNN([Minimal(3), TwoState(4)], return_sequences=True, go_backwards=True, return_state=True)(inp)
    model = bigcore.Model(inp, outs)
    w = random_weights(model)

    def stacked(x_t, w, s):
        o1, (h1,) = np_minimal(x_t, w[:2], s[:1])
        o2, (h2, c2) = np_two_state(o1, w[2:], s[1:])
        return o2, [h1, h2, c2]
    for T in (6, 4):
        x = data(T)
        want, states = np_rnn(stacked, x, w, [np.zeros((4, 3)), np.zeros((4, 4)), np.zeros((4, 4))],
                              go_backwards=True, return_sequences=True)
        got = model.predict(x, verbose=0)
        _assert_same(got, [want, states[0], states[1], states[2]])


# --------------------------------------------------------------------------- Keras 3 parity


def _models(keras, build):
    m, k = build(_Lib(bigcore)), build(_Lib(keras))
    assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(random_weights(m))
    return m, k


def _ids(T, V=9, seed=3):
    ids = np.random.default_rng(seed + T).integers(1, V, (5, T))
    ids[0, :2] = ids[1, T // 2] = ids[2, -1] = 0
    ids[3] = 0
    return ids


def _train_both(m, k, keras, batches, optimizer):
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(getattr(lib.optimizers, optimizer)(learning_rate=0.05), ["mse"] * len(batches[0][1]))
        for x, ys in batches:
            model.train_on_batch(x, ys)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-4)


CASES = {  # RNN arguments, masked
    "last": ({}, False),
    "sequences_state": ({"return_sequences": True, "return_state": True}, False),
    "backwards_sequences_state": ({"go_backwards": True, "return_sequences": True, "return_state": True}, False),
    "masked_sequences": ({"return_sequences": True}, True),
    "masked_backwards_state": ({"go_backwards": True, "return_state": True}, True),
    "masked_zero_output": ({"return_sequences": True, "zero_output_for_mask": True}, True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cell", [0, 1])
def test_one_model_at_two_lengths_matches_keras(keras, case, cell):
    """Embedding(mask_zero) -> RNN(custom cell, options) -> Dense at lengths 6 and 4: outputs and
    states as Keras's, then the weights after Adam steps at both lengths."""
    kw, masked = CASES[case]

    def build(lib):
        Cell = make_cells(lib)[cell]
        ids = lib.Input((None,), dtype="int32")
        h = lib.layers.Embedding(9, D, mask_zero=masked)(ids)
        outs = lib.layers.RNN(Cell(3), **kw)(h)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return lib.Model(ids, [lib.layers.Dense(2)(outs[0])] + list(outs[1:]))
    m, k = _models(keras, build)
    batches = []
    for T in (6, 4):
        ids = _ids(T)
        ours = m.predict(ids, verbose=0)
        _assert_same(ours, k.predict(ids, verbose=0))
        batches.append((ids, [np.random.default_rng(i).normal(size=a.shape).astype(np.float32)
                              for i, a in enumerate(_flat(ours))]))
    _train_both(m, k, keras, batches + batches[::-1], "Adam")


@pytest.mark.parametrize("masked,go_backwards,builtin_first", [(False, False, False), (True, True, False),
                                                               (True, True, True), (True, False, True)])
def test_stacks_mixing_builtin_cells_match_keras(keras, masked, go_backwards, builtin_first):
    def build(lib):
        Minimal_, Two = make_cells(lib)[:2]
        x = lib.Input((None, D))
        h = lib.layers.Masking(0.0)(x) if masked else x
        cells = [Minimal_(3), lib.layers.LSTMCell(4), Two(2), lib.layers.GRUCell(3)]
        cells = [lib.layers.GRUCell(2)] + cells[:1] if builtin_first else cells
        return lib.Model(x, lib.layers.RNN(cells, return_sequences=True, return_state=True,
                                           go_backwards=go_backwards)(h))
    m, k = _models(keras, build)
    batches = []
    for T in (6, 3):
        x = data(T, masked=masked)
        ours = m.predict(x, verbose=0)
        _assert_same(ours, k.predict(x, verbose=0))
        batches.append((x, [np.ones(a.shape, np.float32) for a in _flat(ours)]))
    _train_both(m, k, keras, batches, "Adam")


@pytest.mark.parametrize("merge_mode,return_sequences,return_state,stacked", [
    ("concat", True, False, False), ("sum", False, True, False), (None, True, True, False), ("ave", True, True, True)])
def test_bidirectional_matches_keras(keras, merge_mode, return_sequences, return_state, stacked):
    def build(lib):
        Two = make_cells(lib)[1]
        ids = lib.Input((None,), dtype="int32")
        h = lib.layers.Embedding(9, D, mask_zero=True)(ids)
        cell = [Two(3), lib.layers.GRUCell(2)] if stacked else Two(3)
        rnn = lib.layers.RNN(cell, return_sequences=return_sequences, return_state=return_state)
        with keras.saving.custom_object_scope({"TwoStateCell": Two}):
            out = lib.layers.Bidirectional(rnn, merge_mode=merge_mode)(h)
        return lib.Model(ids, out)
    m, k = _models(keras, build)
    batches = []
    for T in (6, 4):
        ids = _ids(T)
        ours = m.predict(ids, verbose=0)
        _assert_same(ours, k.predict(ids, verbose=0))
        batches.append((ids, [np.ones(a.shape, np.float32) for a in _flat(ours)]))
    _train_both(m, k, keras, batches, "Adam")


@pytest.mark.parametrize("training", [None, False])
def test_training_argument_and_sub_layers_match_keras(keras, training):
    """A cell whose call() branches on `training` (the scan runs the step of the run's mode, or the
    call's training=False), and a cell calling a Dense sub-layer, stacked: outputs and SGD steps."""
    def build(lib):
        _, _, _, TrainingCell_, DenseCell_ = make_cells(lib)
        x = lib.Input((None, D))
        return lib.Model(x, lib.layers.RNN([TrainingCell_(3), DenseCell_(4)], return_sequences=True)(
            x, training=training))
    m, k = _models(keras, build)
    batches = []
    for T in (5, 3):
        x = data(T)
        _assert_same(m.predict(x, verbose=0), k.predict(x, verbose=0))
        batches.append((x, [np.ones((4, T, 4), np.float32)]))
    _train_both(m, k, keras, batches, "SGD")


def test_fit_evaluate_predict_at_two_lengths_as_keras(keras):
    """The guide's model with a run-time length: fit on one length, evaluate and predict on another."""
    def build(lib):
        Cell = make_cells(lib)[0]
        x = lib.Input((None, D))
        return lib.Model(x, lib.layers.Dense(1)(lib.layers.RNN(Cell(8))(x)))
    m, k = _models(keras, build)
    x6, x3 = data(6, 16), data(3, 16)
    y = np.random.default_rng(4).normal(size=(16, 1)).astype(np.float32)
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), "mse")
        model.fit(x6, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.evaluate(x3, y, verbose=0), float(k.evaluate(x3, y, verbose=0)), rtol=1e-4)
    _assert_same(m.predict(x3, verbose=0), k.predict(x3, verbose=0))


# --------------------------------------------------------------------------- gradients, threads, files


@pytest.mark.parametrize("masked,go_backwards", [(False, False), (False, True), (True, True), (True, False)])
def test_backward_through_time_matches_central_differences(masked, go_backwards):
    """x -> Dense -> RNN(two-state cell, return_sequences, return_state): every weight's gradient (one
    SGD step of rate 1) against central differences of the float64 loss, so the gradients through the
    sequence and the states; unmasked, the initial states are Dense layers of a second input (Keras
    applies no propagated mask to a call with initial_state), so their gradients too."""
    U, T = 3, 5
    x_in, z_in = bigcore.Input((None, D)), bigcore.Input((2,))
    h = layers.Masking(0.0)(x_in) if masked else x_in
    dense, d_h, d_c = layers.Dense(4), layers.Dense(U), layers.Dense(U)
    rnn = layers.RNN(TwoState(U), return_sequences=True, return_state=True, go_backwards=go_backwards)
    kw = {} if masked else {"initial_state": [d_h(z_in), d_c(z_in)]}
    model = bigcore.Model([x_in, z_in] if not masked else x_in, rnn(dense(h), **kw))
    random_weights(model)
    at = {id(w): i for i, w in enumerate(model.weights)}
    where = [[at[id(w)] for w in layer.weights] for layer in ((dense, rnn) if masked else (dense, rnn, d_h, d_c))]
    x, z = data(T, masked=masked), np.random.default_rng(7).normal(size=(4, 2)).astype(np.float32)
    mask = np.any(x != 0, -1) if masked else None
    ys = [np.random.default_rng(i).normal(size=s).astype(np.float32) for i, s in
          enumerate([(4, T, U), (4, U), (4, U)])]
    w0 = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss=["mse"] * 3)
    model.train_on_batch(x if masked else [x, z], ys)
    grads = [a - b for a, b in zip(w0, model.get_weights())]

    def loss(ws):
        (k, b), cell = [ws[i] for i in where[0]], [ws[i] for i in where[1]]
        if masked:
            start = [np.zeros((4, U))] * 2
        else:
            (kh, bh), (kc, bc) = ([ws[i] for i in idx] for idx in where[2:])
            start = [z @ kh + bh, z @ kc + bc]
        seq, (hT, cT) = np_rnn(np_two_state, x.astype(np.float64) @ k + b, cell, start, mask, go_backwards,
                               return_sequences=True)
        per_step = np.mean((seq - ys[0]) ** 2, -1)  # Keras: the sequence's mask weighs its loss
        first = np.sum(per_step * mask) / np.sum(mask) if masked else np.mean(per_step)
        return first + np.mean((hT - ys[1]) ** 2) + np.mean((cT - ys[2]) ** 2)

    eps = 1e-5
    w64 = [w.astype(np.float64) for w in w0]
    for i in range(len(w0)):
        num = np.zeros_like(w64[i])
        for j in np.ndindex(w64[i].shape):
            plus, minus = list(w64), list(w64)
            plus[i], minus[i] = w64[i].copy(), w64[i].copy()
            plus[i][j] += eps
            minus[i][j] -= eps
            num[j] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grads[i], num, rtol=2e-3, atol=2e-4, err_msg=f"weight {i}")


def test_one_and_two_threads_are_bit_identical(restore_threads):
    preds, trained = [], []
    x = data(7, B=40, masked=True)
    for threads in (1, 2):
        bigcore.config.set_num_threads(threads)
        inp = bigcore.Input((None, D))
        out = layers.RNN([TwoState(8), Minimal(6)], return_sequences=True)(layers.Masking(0.0)(inp))
        model = bigcore.Model(inp, out)
        random_weights(model)
        preds.append(model.predict(x, verbose=0))
        model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="mse")
        for T in (7, 4):
            model.train_on_batch(x[:, :T], np.ones((40, T, 6), np.float32))
        trained.append(model.get_weights())
    np.testing.assert_array_equal(preds[0], preds[1])
    for a, b in zip(*trained):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_at_two_lengths(tmp_path):
    inp = bigcore.Input((None, D))
    model = bigcore.Model(inp, layers.RNN(SavedCell(4), return_sequences=True)(inp))
    random_weights(model)
    model.save(tmp_path / "m.keras")
    loaded = bigcore.saving.load_model(tmp_path / "m.keras")
    for T in (5, 2):
        x = data(T)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_refusals():
    class NormCell(Minimal):
        def __init__(self, units, **kw):
            super().__init__(units, **kw)
            self.norm = layers.BatchNormalization()

        def call(self, inputs, states):
            out = self.norm(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel))
            return out, [out]
    inp = bigcore.Input((None, D))
    with pytest.raises(ValueError, match="Cannot unroll a RNN if the time dimension is undefined"):
        layers.RNN(Minimal(3), unroll=True)(inp)  # as Keras
    with pytest.raises(NotImplementedError, match="BatchNormalization"):
        bigcore.Model(inp, layers.RNN(NormCell(3))(inp)).predict(data(3), verbose=0)

    class StepShapes(layers.Layer):  # its output is not (batch, output_size)
        def __init__(self, **kw):
            super().__init__(**kw)
            self.state_size = 3

        def call(self, inputs, states):
            return inputs, [states[0]]
    with pytest.raises(ValueError, match="output has shape"):
        bigcore.Model(inp := bigcore.Input((None, D)), layers.RNN(StepShapes())(inp)).predict(data(3), verbose=0)


def _nested_cell(lib):
    """The Keras RNN guide's NestedCell: nested state_size / output_size, a tuple of inputs."""
    class NestedCell(lib.layers.Layer):
        def __init__(self, unit_1, unit_2, unit_3, **kw):
            self.unit_1, self.unit_2, self.unit_3 = unit_1, unit_2, unit_3
            self.state_size = [(unit_1,), (unit_2, unit_3)]
            self.output_size = [(unit_1,), (unit_2, unit_3)]
            super().__init__(**kw)

        def build(self, input_shapes):
            i1, (i2, i3) = input_shapes[0][1], input_shapes[1][1:3]
            self.kernel_1 = self.add_weight(shape=(i1, self.unit_1), initializer="uniform", name="kernel_1")
            self.kernel_2_3 = self.add_weight(shape=(i2, i3, self.unit_2, self.unit_3), initializer="uniform",
                                              name="kernel_2_3")

        def call(self, inputs, states):
            input_1, input_2 = lib.mod.tree.flatten(inputs)
            out_1 = lib.ops.matmul(input_1, self.kernel_1)
            out_2_3 = lib.ops.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
            return (out_1, out_2_3), (states[0] + out_1, states[1] + out_2_3)
    return NestedCell(4, 2, 3)


@pytest.mark.parametrize("T", [5, None])
def test_nested_inputs_are_refused_clearly_as_keras_3_cannot_run_them(keras, T):
    """RNN(NestedCell)((input_1, input_2)): Keras 3's RNN builds the cell from the first sequence's shape
    (its build fails) and wants an integer output_size; bigcore refuses it with a clear message."""
    with pytest.raises(Exception):
        keras.layers.RNN(_nested_cell(_Lib(keras)))((keras.Input((T, 3)), keras.Input((T, 2, 2))))
    with pytest.raises(ValueError, match="nested inputs .* are not supported"):
        layers.RNN(_nested_cell(_Lib(bigcore)))((bigcore.Input((T, 3)), bigcore.Input((T, 2, 2))))


def test_dropout_in_a_cell_draws_per_step():
    """A Dropout inside the cell draws a new mask at every step (the scan runs one step's ops T times)."""
    class DropCell(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.state_size = D
            self.drop = layers.Dropout(0.5)

        def call(self, inputs, states):
            out = self.drop(inputs) + 0.0 * states[0]
            return out, [out]
    inp = bigcore.Input((None, D))
    model = bigcore.Model(inp, layers.RNN(DropCell(), return_sequences=True)(inp))
    x = np.ones((3, 6, D), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    got = np.asarray(model(x, training=True))
    assert set(np.unique(got)) <= {0.0, 2.0}
    kept = got != 0
    assert 0.2 < kept.mean() < 0.8
    assert len({kept[:, t].tobytes() for t in range(6)}) > 1, "the same mask at every step"
