"""RNN over cells of one's own (Keras's "Working with RNNs" guide), unrolled into the program
(layers/rnn_unroll.py): outputs against a float64 NumPy step loop; Keras 3 parity of outputs, of
return_sequences / return_state / go_backwards / initial_state / masking, and of the weights after
optimizer steps; two-state cells, get_initial_state, a cell whose call takes `training`, stacks of
cells of one's own and stacks mixing them with LSTMCell / GRUCell; get_config and saving; the
layer-test harness; Bidirectional; .keras files and ONNX; and the refusals (malformed cells).
tests/test_rnn_scan.py runs cells of one's own at run-time lengths (the native scan).

Each cell is written once as a function of the framework (`lib` = bigcore or keras), so both
models run the very same user code.
"""

import time

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import run_layer_test
from rnn_inputs import random_weights, sequences

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

T, D = 6, 5


class _Lib:
    def __init__(self, mod):
        self.mod, self.ops, self.layers = mod, mod.ops, mod.layers
        self.Input, self.Model = mod.Input, mod.Model


def make_cells(lib):
    """The guide's MinimalRNNCell, and cells with two states, with get_initial_state, with a
    `training` argument its call branches on, and with a sub-layer."""
    o, L = lib.ops, lib.layers

    class MinimalRNNCell(L.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev_output = states[0]
            h = o.matmul(inputs, self.kernel)
            output = h + o.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

    class TwoStateCell(L.Layer):
        """h, c: c' = tanh(x W + h U + b) + 0.5 c ; h' = sigmoid(c') * tanh(c'). Returns a tuple."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape):
            u = self.units
            self.w = self.add_weight(shape=(input_shape[-1], u), initializer="glorot_uniform", name="w")
            self.u = self.add_weight(shape=(u, u), initializer="orthogonal", name="u")
            self.b = self.add_weight(shape=(u,), initializer="zeros", name="b")

        def call(self, inputs, states):
            h, c = states
            c2 = o.tanh(o.matmul(inputs, self.w) + o.matmul(h, self.u) + self.b) + 0.5 * c
            h2 = o.sigmoid(c2) * o.tanh(c2)
            return h2, (h2, c2)

    class OnesStartCell(MinimalRNNCell):
        """Starts from ones (get_initial_state), returns its state as a bare tensor, tanh'ed."""

        def get_initial_state(self, batch_size=None):
            return o.ones((batch_size, self.units))

        def call(self, inputs, states):
            out = o.tanh(o.matmul(inputs, self.kernel) + o.matmul(states[0], self.recurrent_kernel))
            return out, out

    class TrainingCell(MinimalRNNCell):
        """Halves its output in training only (call() branches on `training`)."""

        def call(self, inputs, states, training=None):
            out = o.tanh(o.matmul(inputs, self.kernel) + o.matmul(states[0], self.recurrent_kernel))
            if training:
                out = out * 0.5
            return out, [out]

    class DenseCell(L.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units
            self.inner = L.Dense(units, activation="tanh")

        def build(self, input_shape):
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal",
                                                    name="recurrent_kernel")
            self.inner.build(input_shape)  # Keras: build() makes all the state, sub-layers' too (for loading)

        def call(self, inputs, states):
            out = self.inner(inputs) + o.matmul(states[0], self.recurrent_kernel)
            return out, [out]

    return MinimalRNNCell, TwoStateCell, OnesStartCell, TrainingCell, DenseCell


Minimal, TwoState, OnesStart, TrainingCell, DenseCell = make_cells(_Lib(bigcore))


@bigcore.saving.register_keras_serializable(package="tests_rnn")
class SavedCell(Minimal):
    def get_config(self):
        return {**super().get_config(), "units": self.units}


# --------------------------------------------------------------------------- NumPy reference


def np_minimal(x, w, h):
    out = x @ w[0] + h[0] @ w[1]
    return out, [out]


def np_two_state(x, w, s):
    c = np.tanh(x @ w[0] + s[0] @ w[1] + w[2]) + 0.5 * s[1]
    h = 1 / (1 + np.exp(-c)) * np.tanh(c)
    return h, [h, c]


def np_rnn(step, x, w, states, mask=None, go_backwards=False, return_sequences=False, zero_output_for_mask=False):
    """Keras's step loop in float64: a masked step keeps the states and repeats the last output."""
    x = x.astype(np.float64)
    w = [a.astype(np.float64) for a in w]
    states = [s.astype(np.float64) for s in states]
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outs, prev = [], None
    for t in order:
        out, new = step(x[:, t], w, states)
        if mask is not None:
            keep = mask[:, t][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
            prev = np.zeros_like(out) if prev is None or zero_output_for_mask else prev
            out = np.where(keep, out, prev)
            prev = out
        states = new
        outs.append(out)
    return (np.stack(outs, 1) if return_sequences else outs[-1]), states


def data(B=4, seed=0, masked=False):
    return sequences(T, D, B, seed, masked)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences,go_backwards,zero_output", [(False, False, False), (True, False, False),
                                                                        (True, True, False), (True, False, True),
                                                                        (False, True, True)])
def test_minimal_cell_matches_numpy(masked, return_sequences, go_backwards, zero_output):
    inp = bigcore.Input((T, D))
    x_in = layers.Masking(0.0)(inp) if masked else inp
    out, state = layers.RNN(Minimal(4), return_sequences=return_sequences, go_backwards=go_backwards,
                            zero_output_for_mask=zero_output, return_state=True)(x_in)
    model = bigcore.Model(inp, [out, state])
    w = random_weights(model)
    x = data(masked=masked)
    mask = np.any(x != 0, -1) if masked else None
    want, states = np_rnn(np_minimal, x, w, [np.zeros((4, 4))], mask, go_backwards, return_sequences, zero_output)
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], states[0], rtol=1e-5, atol=1e-5)
    if masked:
        assert model.outputs[0]._mask is not None if return_sequences else model.outputs[0]._mask is None


def test_two_state_cell_with_initial_state_matches_numpy():
    """state_size [U, U], a tuple returned, initial_state given, return_state: output, h, c."""
    U = 3
    x_in, h0_in, c0_in = bigcore.Input((T, D)), bigcore.Input((U,)), bigcore.Input((U,))
    outs = layers.RNN(TwoState(U), return_sequences=True, return_state=True)(x_in, initial_state=[h0_in, c0_in])
    assert isinstance(outs, list) and len(outs) == 3
    model = bigcore.Model([x_in, h0_in, c0_in], outs)
    w = random_weights(model)
    rng = np.random.default_rng(2)
    x, h0, c0 = data(), rng.normal(size=(4, U)).astype(np.float32), rng.normal(size=(4, U)).astype(np.float32)
    want, (h, c) = np_rnn(np_two_state, x, w, [h0, c0], return_sequences=True)
    got = model.predict([x, h0, c0], verbose=0)
    for g, e in zip(got, [want, h, c]):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_stacked_cells_of_ones_own_match_numpy():
    """[Minimal(3), TwoState(4)] with go_backwards: per step cell 0 then cell 1 (Keras's stack)."""
    inp = bigcore.Input((T, D))
    outs = layers.RNN([Minimal(3), TwoState(4)], return_sequences=True, go_backwards=True, return_state=True)(inp)
    assert len(outs) == 3 and not isinstance(outs[1], list) and isinstance(outs[2], list)
    model = bigcore.Model(inp, outs)
    w = random_weights(model)
    x = data()

    def stacked(x_t, w, s):
        o1, (h1,) = np_minimal(x_t, w[:2], s[:1])
        o2, (h2, c2) = np_two_state(o1, w[2:], s[1:])
        return o2, [h1, h2, c2]
    want, states = np_rnn(stacked, x, w, [np.zeros((4, 3)), np.zeros((4, 4)), np.zeros((4, 4))],
                          go_backwards=True, return_sequences=True)
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], states[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[2][0], states[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[2][1], states[2], rtol=1e-5, atol=1e-5)


def test_hundred_steps_trace_quickly_and_match_numpy():
    T100 = 100
    start = time.perf_counter()
    inp = bigcore.Input((T100, D))
    model = bigcore.Model(inp, layers.RNN(Minimal(16))(inp))
    traced = time.perf_counter() - start
    w = [a * 0.3 for a in random_weights(model)]
    model.set_weights(w)
    x = np.random.default_rng(0).normal(0, 0.5, (3, T100, D)).astype(np.float32)
    want, _ = np_rnn(np_minimal, x, w, [np.zeros((3, 16))])
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    assert traced < 5.0, f"tracing 100 steps took {traced:.2f} s"


# --------------------------------------------------------------------------- Keras 3 parity


def _models(keras, build):
    """The same builder run on bigcore and on Keras, with the same (random) weights."""
    m, k = build(_Lib(bigcore)), build(_Lib(keras))
    assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    k.set_weights(random_weights(m))
    return m, k


def _flat(out):
    if isinstance(out, (list, tuple)):
        return [a for o in out for a in _flat(o)]
    return [np.asarray(out)]


def _assert_same(ours, theirs, rtol=1e-5, atol=1e-5):
    a, b = _flat(ours), _flat(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def test_guide_model_trains_as_keras(keras):
    """The guide's model: RNN(MinimalRNNCell(32)) -> Dense(1), Adam, same weights after 2 epochs."""
    def build(lib):
        Cell = make_cells(lib)[0]
        x = lib.Input((T, D))
        return lib.Model(x, lib.layers.Dense(1)(lib.layers.RNN(Cell(8))(x)))
    m, k = _models(keras, build)
    rng = np.random.default_rng(4)
    x, y = data(16), rng.normal(size=(16, 1)).astype(np.float32)
    _assert_same(m.predict(x, verbose=0), k.predict(x, verbose=0))
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), "mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


CASES = {  # RNN arguments, masked
    "sequences": ({"return_sequences": True}, False),
    "state": ({"return_state": True}, False),
    "backwards_sequences_state": ({"go_backwards": True, "return_sequences": True, "return_state": True}, False),
    "masked_sequences": ({"return_sequences": True}, True),
    "masked_backwards_state": ({"go_backwards": True, "return_state": True}, True),
    "masked_zero_output": ({"return_sequences": True, "zero_output_for_mask": True}, True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cell", [0, 1])
def test_options_match_keras(keras, case, cell):
    """Embedding(mask_zero) -> RNN(custom cell, options) -> Dense on the output: outputs, states and
    the output's mask as Keras's, then the weights after 3 SGD steps."""
    kw, masked = CASES[case]
    V = 9

    def build(lib):
        Cell = make_cells(lib)[cell]
        ids = lib.Input((T,), dtype="int32")
        h = lib.layers.Embedding(V, D, mask_zero=masked)(ids)
        outs = lib.layers.RNN(Cell(3), **kw)(h)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return lib.Model(ids, [lib.layers.Dense(2)(outs[0])] + list(outs[1:]))
    m, k = _models(keras, build)
    ids = np.random.default_rng(3).integers(1, V, (5, T))
    ids[0, :2] = ids[1, 3] = ids[2, -1] = 0
    ids[3] = 0
    _assert_same(m.predict(ids, verbose=0), k.predict(ids, verbose=0))
    if masked and kw.get("return_sequences"):
        assert m.outputs[0]._mask is not None
    ys = [np.random.default_rng(i).normal(size=(5,) + tuple(o.shape[1:])).astype(np.float32)
          for i, o in enumerate(m.outputs)]
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.SGD(learning_rate=0.1), ["mse"] * len(ys))
        for _ in range(3):
            model.train_on_batch(ids, ys)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


def test_initial_state_and_get_initial_state_match_keras(keras):
    """initial_state from a Dense of a second input (two-state cell), and a cell starting from its
    get_initial_state (ones), which returns a bare tensor as its new state."""
    def build(lib):
        _, Two, Ones, _, _ = make_cells(lib)
        x, z = lib.Input((T, D)), lib.Input((4,))
        h0, c0 = lib.layers.Dense(3, activation="tanh")(z), lib.layers.Dense(3)(z)
        a = lib.layers.RNN(Two(3), return_sequences=True)(x, initial_state=[h0, c0])
        b, s = lib.layers.RNN(Ones(2), return_state=True)(a)
        return lib.Model([x, z], [b, s])
    m, k = _models(keras, build)
    x, z = data(), np.random.default_rng(5).normal(size=(4, 4)).astype(np.float32)
    ours = m.predict([x, z], verbose=0)
    _assert_same(ours, k.predict([x, z], verbose=0))
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), ["mse", "mse"])
        model.fit([x, z], [np.ones((4, 2), np.float32)] * 2, epochs=2, verbose=0)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [None, False])
def test_training_argument_reaches_the_cell_as_keras(keras, training):
    """TrainingCell halves its output in training: predict runs the inference step, training the
    training one unless the RNN was called with training=False (the gradients, so the weights
    after SGD steps, depend on which ran)."""
    def build(lib):
        Cell = make_cells(lib)[3]
        x = lib.Input((T, D))
        return lib.Model(x, lib.layers.RNN(Cell(3))(x, training=training))
    m, k = _models(keras, build)
    x, y = data(), np.ones((4, 3), np.float32)
    _assert_same(m.predict(x, verbose=0), k.predict(x, verbose=0))
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.SGD(learning_rate=0.5), "mse")
        for _ in range(2):
            model.train_on_batch(x, y)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("masked,go_backwards,builtin_first", [(False, False, False), (True, False, False),
                                                               (True, True, False), (True, True, True)])
def test_stacks_mixing_builtin_cells_match_keras(keras, masked, go_backwards, builtin_first):
    """[Minimal, LSTMCell, TwoState, GRUCell] (or with a GRUCell first): return_sequences and every
    cell's states in Keras's structure (a tensor, [h, c], [h, c], a tensor), then Adam steps."""
    def build(lib):
        Minimal_, Two, _, _, _ = make_cells(lib)
        x = lib.Input((T, D))
        h = lib.layers.Masking(0.0)(x) if masked else x
        cells = [Minimal_(3), lib.layers.LSTMCell(4), Two(2), lib.layers.GRUCell(3)]
        cells = [lib.layers.GRUCell(2)] + cells[:1] if builtin_first else cells
        return lib.Model(x, lib.layers.RNN(cells, return_sequences=True, return_state=True,
                                           go_backwards=go_backwards)(h))
    m, k = _models(keras, build)
    x = data(masked=masked)
    ours = m.predict(x, verbose=0)
    kinds = [np.ndarray, np.ndarray, np.ndarray] if builtin_first else [np.ndarray, np.ndarray, list, list, np.ndarray]
    assert [type(o) for o in ours] == kinds
    _assert_same(ours, k.predict(x, verbose=0))
    ys = [np.ones(a.shape, np.float32) for a in _flat(ours)]
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), ["mse"] * len(ys))
        for _ in range(2):
            model.train_on_batch(x, ys)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("merge_mode,return_sequences,return_state,stacked", [
    ("concat", True, False, False), ("sum", False, True, False), (None, True, True, False), ("ave", True, True, True)])
def test_bidirectional_matches_keras(keras, merge_mode, return_sequences, return_state, stacked):
    """Bidirectional(RNN(two-state cell)), and over [two-state cell, GRUCell], on a masked Embedding:
    outputs and states, then an Adam step."""
    def build(lib):
        Two = make_cells(lib)[1]
        ids = lib.Input((T,), dtype="int32")
        h = lib.layers.Embedding(9, D, mask_zero=True)(ids)
        cell = [Two(3), lib.layers.GRUCell(2)] if stacked else Two(3)
        rnn = lib.layers.RNN(cell, return_sequences=return_sequences, return_state=return_state)
        with keras.saving.custom_object_scope({"TwoStateCell": Two}):  # Keras copies the RNN through its config
            out = lib.layers.Bidirectional(rnn, merge_mode=merge_mode)(h)
        return lib.Model(ids, out)
    m, k = _models(keras, build)
    ids = np.random.default_rng(3).integers(1, 9, (5, T))
    ids[0, :2] = ids[1, 3] = ids[2, -1] = 0
    ours = m.predict(ids, verbose=0)
    _assert_same(ours, k.predict(ids, verbose=0))
    ys = [np.ones(a.shape, np.float32) for a in _flat(ours)]
    for model, lib in ((m, bigcore), (k, keras)):
        model.compile(lib.optimizers.Adam(learning_rate=0.01), ["mse"] * len(ys))
        model.train_on_batch(ids, ys)
    _assert_same(m.get_weights(), k.get_weights(), rtol=1e-4, atol=1e-5)


def test_cell_with_a_sub_layer_matches_keras_and_exchanges_keras_files(keras, tmp_path):
    """A Dense inside the cell (built by the cell's build): Keras's weights order and .keras layout,
    both ways, after training."""
    def build(lib):
        Cell = make_cells(lib)[4]
        x = lib.Input((T, D))
        return lib.Model(x, lib.layers.RNN([Cell(3), lib.layers.GRUCell(2)], return_sequences=True)(x))
    m, k = _models(keras, build)
    assert [w.shape for w in m.weights][:3] == [(3, 3), (D, 3), (3,)]
    x = data()
    _assert_same(m.predict(x, verbose=0), k.predict(x, verbose=0))
    m.compile(bigcore.optimizers.Adam(learning_rate=0.05), "mse")
    m.fit(x, np.ones((4, T, 2), np.float32), epochs=2, verbose=0)
    want = m.predict(x, verbose=0)
    Cell = make_cells(_Lib(keras))[4]
    m.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras", custom_objects={"DenseCell": Cell})
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "k.keras")
    back = bigcore.models.load_model(tmp_path / "k.keras", custom_objects={"DenseCell": DenseCell})
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_bidirectional_exchanges_keras_files(keras, tmp_path):
    """Bidirectional(RNN(custom cell)): a .keras file of bigcore's read by Keras and back."""
    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, layers.Bidirectional(layers.RNN(TwoState(3), return_sequences=True))(inp))
    random_weights(model)
    x = data()
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras", custom_objects={"TwoStateCell": make_cells(_Lib(keras))[1]})
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "k.keras")
    back = bigcore.models.load_model(tmp_path / "k.keras", custom_objects={"TwoStateCell": TwoState})
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_onnx_export_of_the_unrolled_steps():
    onnx_rt = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    inp = bigcore.Input((T, D))
    out = layers.Masking(0.0)(inp)
    model = bigcore.Model(inp, layers.RNN([Minimal(3), TwoState(2)], return_sequences=True)(out))
    random_weights(model)
    session = onnx_rt.InferenceSession(bigcore.export.to_onnx(model).SerializeToString())
    x = data(masked=True)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- config, saving, harness


def test_config_and_saving_round_trip(tmp_path):
    """A registered cell through get_config / from_config and .bigcore; an unregistered one
    through load_model(custom_objects=...)."""
    inp = bigcore.Input((T, D))
    rnn = layers.RNN([SavedCell(4), layers.GRUCell(3)], return_sequences=True, zero_output_for_mask=True)
    model = bigcore.Model(inp, layers.Dense(2)(rnn(inp)))
    random_weights(model)
    cfg = rnn.get_config()
    assert cfg["cell"]["config"]["cells"][0]["registered_name"] == "tests_rnn>SavedCell"
    clone = layers.RNN.from_config(cfg)
    assert clone.get_config() == cfg and isinstance(clone.cell.cells[0], SavedCell)
    x = data()
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.bigcore")
    np.testing.assert_array_equal(bigcore.models.load_model(tmp_path / "m.bigcore").predict(x, verbose=0), want)

    inp = bigcore.Input((T, D))
    model = bigcore.Model(inp, layers.RNN(TwoState(3))(inp))
    random_weights(model)
    model.save(tmp_path / "two.bigcore")
    with pytest.raises(ValueError, match="TwoStateCell"):
        bigcore.models.load_model(tmp_path / "two.bigcore")
    loaded = bigcore.models.load_model(tmp_path / "two.bigcore", custom_objects={"TwoStateCell": TwoState})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layer_harness():
    """run_layer_test: shapes, forward on every CPU path, masks, gradients against central
    differences, threads, config and saving."""
    def forward(w, x, mask):
        out, states = np_rnn(np_minimal, x, w, [np.zeros((x.shape[0], 3))], mask, return_sequences=True)
        return [out, states[0]]

    run_layer_test(layers.RNN, {"cell": SavedCell(3), "return_sequences": True, "return_state": True}, (4, T, D),
                   forward, weight_shapes=[(D, 3), (3, 3)], masked=True, atol=2e-5, rtol=1e-4,
                   output_mask=lambda x, mask: [mask, None])


# --------------------------------------------------------------------------- refusals


def test_run_time_length_runs_the_native_scan():
    """(tests/test_rnn_scan.py tests it in full)"""
    inp = bigcore.Input((None, D))
    assert layers.RNN(Minimal(4), return_sequences=True)(inp).shape == (None, None, 4)
    assert layers.RNN(layers.GRUCell(3))(inp).shape == (None, 3)


def test_bad_cells_are_refused():
    class NoSize(layers.Layer):
        def call(self, inputs, states):
            return inputs, states
    with pytest.raises(ValueError, match="needs a `state_size`"):
        layers.RNN(NoSize())

    class WrongStates(Minimal):
        def call(self, inputs, states):
            return states[0], [states[0], states[0]]
    with pytest.raises(ValueError, match="1 state tensor"):
        layers.RNN(WrongStates(3))(bigcore.Input((T, D)))
    with pytest.raises(ValueError, match="expects 2 initial state"):
        inp = bigcore.Input((T, D))
        layers.RNN(TwoState(3))(inp, initial_state=[bigcore.Input((3,))])
