"""Layer-call keywords as Keras 3 takes them: `mask=` overriding the propagated mask, `training=`
on layer calls and on model calls, TypeError for a keyword a layer's call does not take, and the
calls (keywords included) in the model config, in Keras 3's functional format.

initial_state has its own file (tests/test_initial_state.py).
"""

import json

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers, optimizers
from layer_test import mask_pattern

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    ws = [(0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()]
    model.set_weights(ws)
    return ws


# --- keywords a call does not take ------------------------------------------------------------

@pytest.mark.parametrize("make,kwargs,name", [
    (lambda: layers.Dense(3), {"mask": "x"}, "mask"),
    (lambda: layers.Dense(3), {"trainable": True}, "trainable"),
    (lambda: layers.Dropout(0.5), {"trainig": True}, "trainig"),
    (lambda: layers.LSTM(3), {"initial_states": "h"}, "initial_states"),
    (lambda: layers.GRU(3), {"return_sequences": True}, "return_sequences"),
    (lambda: layers.Embedding(5, 3), {"mask": "x"}, "mask"),
    (lambda: layers.Concatenate(), {"axis": 1}, "axis"),
    (lambda: layers.Bidirectional(layers.LSTM(3)), {"states": "h"}, "states"),
])
def test_a_keyword_the_call_does_not_take_is_a_type_error(make, kwargs, name):
    """Keras binds the call's keywords to call()'s signature: a misspelled or foreign keyword is a
    TypeError naming it and the layer, not silently dropped."""
    layer = make()
    x = bigcore.Input((4, 2)) if not isinstance(layer, layers.Concatenate) else [bigcore.Input((3,))] * 2
    kwargs = {k: (bigcore.Input((4,)) if v == "x" else bigcore.Input((3,)) if v == "h" else v) for k, v in kwargs.items()}
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{name}' \(layer '{layer.name}'\)"):
        layer(x, **kwargs)
    assert not layer._inbound  # nothing was recorded


def test_model_call_keywords_are_checked():
    model = bigcore.Sequential([bigcore.Input((3,)), layers.Dense(2)])
    x = normal((4, 3))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'traning' \(layer 'sequential"):
        model(x, traning=True)
    with pytest.raises(TypeError, match="`training` must be True, False or None"):
        model(x, training="yes")
    with pytest.raises(NotImplementedError, match="mask= is not supported yet"):
        model(x, mask=np.ones((4, 3)))
    with pytest.raises(TypeError, match="got multiple values for argument 'training'"):
        model(x, True, training=True)


def test_extra_positional_arguments_bind_as_keras_call_signatures():
    """LSTM.call(sequences, initial_state=None, mask=None, training=False): a second positional
    argument is the initial state; more than the signature holds is a TypeError."""
    x, h, c = bigcore.Input((4, 2)), bigcore.Input((3,)), bigcore.Input((3,))
    layer = layers.LSTM(3)
    out = layer(x, [h, c])
    assert out.node.call_kwargs["initial_state"] == [h, c]
    with pytest.raises(TypeError, match=r"takes the inputs and at most 1 more argument\(s\) \(training\)"):
        layers.Dense(2)(h, True, None)


# --- mask= ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bidi", [False, True])
def test_explicit_mask_overrides_the_propagated_one(seed, kind, bidi):
    """Embedding(mask_zero) propagates a mask; the call's mask= replaces it, in the recurrent
    computation and on the output (the masked loss follows it)."""
    T, D, U, B, V = 6, 3, 4, 8, 7
    ids_in, m_in = bigcore.Input((T,)), bigcore.Input((T,))
    emb = layers.Embedding(V, D, mask_zero=True)
    rnn = (layers.LSTM if kind == "lstm" else layers.GRU)(U, return_sequences=True)
    if bidi:
        rnn = layers.Bidirectional(rnn, merge_mode="sum")
    out = rnn(emb(ids_in), mask=m_in)
    assert out._mask is m_in
    model = bigcore.Model([ids_in, m_in], out)
    ws = randomize(model)
    ids = np.random.default_rng(2).integers(0, V, (B, T))
    m = mask_pattern(B, T)
    x, _ = rref.embedding_forward(ids, ws[0])
    if bidi:
        want = rref.bidirectional_forward(kind, x, ws[1:4], ws[4:7], mask=m, merge_mode="sum", return_sequences=True)
    else:
        want = rref.rnn_forward(kind, x, *ws[1:], mask=m, return_sequences=True)
    np.testing.assert_allclose(model.predict([ids, m.astype(np.float32)], verbose=0), want, rtol=1e-4, atol=2e-5)
    # the loss is masked by m, not by the ids' zeros
    y = normal((B, T, U), 3)
    model.compile(optimizer="sgd", loss="mse")
    got = model.evaluate([ids, m.astype(np.float32)], y, verbose=0)
    assert got == pytest.approx(rref.masked_mean(rref.mse_rows(y, want), m), rel=1e-5)


def test_explicit_mask_none_keeps_the_propagated_mask(seed):
    ids_in = bigcore.Input((5,))
    x = layers.Embedding(6, 3, mask_zero=True)(ids_in)
    out = layers.GRU(4, return_sequences=True)(x, mask=None)
    assert out._mask is x._mask and "mask" not in out.node.call_kwargs


def test_explicit_mask_shape_is_checked():
    x = bigcore.Input((6, 3))
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, timesteps\) = \(None, 6\), got \(None, 5\)"):
        layers.LSTM(2)(x, mask=bigcore.Input((5,)))


def test_explicit_mask_matches_keras(keras, seed):
    T, D, U, B = 5, 3, 4, 7
    x_in, m_in = bigcore.Input((T, D)), bigcore.Input((T,))
    model = bigcore.Model([x_in, m_in], layers.LSTM(U, return_sequences=True)(x_in, mask=m_in))
    kx, km_in = keras.Input((T, D)), keras.Input((T,), dtype="bool")
    km = keras.Model([kx, km_in], keras.layers.LSTM(U, return_sequences=True)(kx, mask=km_in))
    km.set_weights(randomize(model))
    x, m = normal((B, T, D), 4), mask_pattern(B, T)
    np.testing.assert_allclose(model.predict([x, m.astype(np.float32)], verbose=0),
                               np.asarray(km.predict([x, m], verbose=0)), rtol=1e-5, atol=1e-6)


# --- training= --------------------------------------------------------------------------------

def dropout_pair(rate=0.5, width=2000):
    """Input -> [Dropout(training=True), Dropout(training=False), Dropout()]: three outputs."""
    x = bigcore.Input((width,))
    outs = [layers.Dropout(rate)(x, training=True), layers.Dropout(rate)(x, training=False), layers.Dropout(rate)(x)]
    return bigcore.Model(x, outs)


def dropped(y, rate=0.5):
    """True when y (from an input of ones) looks like dropout at `rate`: zeros and 1/(1-rate)s."""
    zero = np.mean(y == 0.0)
    return set(np.unique(y)) <= {0.0, np.float32(1.0 / (1.0 - rate))} and abs(zero - rate) < 0.1


def test_training_on_a_layer_call_holds_when_the_model_call_gives_none(seed):
    """Keras 3: a call's training= is used when the model is called without one (model(x));
    predict/evaluate (training=False), fit (training=True) and model(x, training=...) override it."""
    model = dropout_pair()
    ones = np.ones((2, 2000), np.float32)
    a, b, c = model(ones)
    assert dropped(a) and np.all(b == 1.0) and np.all(c == 1.0)
    assert not np.array_equal(a, model(ones)[0])  # a new mask each call
    for a, b, c in (model.predict(ones, verbose=0), model(ones, training=False), model.predict_on_batch(ones)):
        assert np.all(a == 1.0) and np.all(b == 1.0) and np.all(c == 1.0)
    a, b, c = model(ones, training=True)
    assert dropped(a) and dropped(b) and dropped(c)
    assert not np.array_equal(a, b)  # each Dropout draws its own mask
    check_training_false_on_a_layer_call_does_not_hold_in_fit()


def check_training_false_on_a_layer_call_does_not_hold_in_fit():
    """fit calls the model with training=True, which overrides a call's training=False (Keras)."""
    x_in = bigcore.Input((50,))
    model = bigcore.Model(x_in, layers.Dense(1)(layers.Dropout(0.5)(x_in, training=False)))
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    x, y = normal((16, 50), 1), normal((16, 1), 2)
    losses = {model.train_on_batch(x, y) for _ in range(3)}
    assert len(losses) == 3  # new dropout masks at each step, though the weights do not move
    assert model.evaluate(x, y, verbose=0) not in losses


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_model_call_with_training_true_runs_recurrent_dropout(seed, kind):
    x_in = bigcore.Input((5, 3))
    rnn = (layers.LSTM if kind == "lstm" else layers.GRU)(4, dropout=0.4, recurrent_dropout=0.3)
    model = bigcore.Model(x_in, rnn(x_in))
    randomize(model)
    x = normal((6, 5, 3), 5)
    inference = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model(x), inference)
    train = model(x, training=True)
    assert np.abs(train - inference).max() > 1e-3
    assert not np.array_equal(train, model(x, training=True))


def test_eager_layer_call_takes_training(seed):
    ones = np.ones((3, 2000), np.float32)
    layer = layers.Dropout(0.5)
    assert np.all(layer(ones) == 1.0)
    assert dropped(layer(ones, training=True))


def test_training_on_layer_calls_matches_keras(keras, seed):
    """The same table of which Dropout acts, in Keras and in bigcore."""
    def table(make_input, dropout, model_cls, call):
        x = make_input((2000,))
        model = model_cls(x, [dropout(0.5)(x, training=True), dropout(0.5)(x, training=False), dropout(0.5)(x)])
        ones = np.ones((2, 2000), np.float32)
        rows = []
        for kw in ({}, {"training": True}, {"training": False}):
            rows.append([dropped(np.asarray(call(model(ones, **kw)[i]))) for i in range(3)])
        rows.append([dropped(np.asarray(o)) for o in model.predict(ones, verbose=0)])
        return rows

    want = table(keras.Input, keras.layers.Dropout, keras.Model, lambda t: t.detach().cpu().numpy())
    got = table(bigcore.Input, layers.Dropout, bigcore.Model, lambda a: a)
    assert got == want


# --- the config -----------------------------------------------------------------------------

def seq2seq_with_keywords(api, keras_style=False):
    """A graph with every kind of call keyword: initial_state from an encoder's return_state, an
    explicit mask, training=True; a merge layer called on a list; named layers."""
    L = api.layers
    enc_in, dec_in, m_in = api.Input((6, 3), name="enc_in"), api.Input((5, 2), name="dec_in"), api.Input((5,), name="m")
    enc = L.LSTM(4, return_state=True, name="enc")(enc_in)
    dec = L.LSTM(4, return_sequences=True, name="dec")(dec_in, initial_state=list(enc[1:]), mask=m_in)
    drop = L.Dropout(0.2, name="drop")(dec, training=True)
    both = L.Concatenate(name="cat")([drop, L.Dense(4, name="side")(dec_in)])
    return api.Model([enc_in, dec_in, m_in], L.Dense(3, name="head")(both))


def test_config_keeps_the_call_keywords(seed):
    model = seq2seq_with_keywords(bigcore)
    ws = randomize(model)
    cfg = json.loads(json.dumps(model.get_config()))  # JSON-ready
    clone = bigcore.Model.from_config(cfg)
    clone.set_weights(ws)
    x = [normal((4, 6, 3), 1), normal((4, 5, 2), 2), mask_pattern(4, 5).astype(np.float32)]
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    node = clone.get_layer("dec")._inbound[0]
    assert sorted(node.call_kwargs) == ["initial_state", "mask"]
    assert [t.node.layer.name for t in node.call_kwargs["initial_state"]] == ["enc", "enc"]
    assert clone.get_layer("drop")._inbound[0].call_kwargs == {"training": True}
    saved = bigcore.models.clone_model(model)  # clone_model goes through the config too
    assert "initial_state" in saved.get_layer("dec")._inbound[0].call_kwargs


def test_config_nodes_are_keras_3s(keras):
    """The same named graph in both: every layer's inbound_nodes and the input/output references
    are Keras 3's, up to the keywords Keras fills in itself (training=False, mask=None)."""
    def nodes(cfg):
        out = {}
        for entry in cfg["layers"]:
            calls = []
            for n in entry["inbound_nodes"]:
                kw = {k: v for k, v in n["kwargs"].items() if v is not None and not (k == "training" and v is False)}
                calls.append({"args": n["args"], "kwargs": kw})
            out[entry["name"]] = calls
        return out

    want = json.loads(json.dumps(seq2seq_with_keywords(keras).get_config()))
    got = json.loads(json.dumps(seq2seq_with_keywords(bigcore).get_config()))
    assert nodes(got) == nodes(want)
    assert [e["name"] for e in got["layers"]] == [e["name"] for e in want["layers"]]
    assert got["input_layers"] == want["input_layers"] and got["output_layers"] == want["output_layers"]
    # and Keras rebuilds the graph from bigcore's nodes put in its own layer configs
    mixed = dict(want, layers=[{**e, "inbound_nodes": g["inbound_nodes"]} for e, g in zip(want["layers"], got["layers"])])
    km = keras.Model.from_config(json.loads(json.dumps(mixed)))
    assert nodes(json.loads(json.dumps(km.get_config()))) == nodes(want)


def test_single_input_and_output_are_one_reference(seed):
    x = bigcore.Input((3,), name="x")
    cfg = bigcore.Model(x, layers.Dense(2, name="d")(x)).get_config()
    assert cfg["input_layers"] == ["x", 0, 0] and cfg["output_layers"] == ["d", 0, 0]
    assert cfg["layers"][1]["inbound_nodes"] == [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}], "kwargs": {}}]
    out = bigcore.Model.from_config(cfg).predict(normal((4, 3)), verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (4, 2)  # one array, not a list of one


def test_old_list_form_configs_still_load_and_save_in_keras_form(seed):
    """bigcore's earlier config form: each node a list of [layer, node, tensor] references, with
    single_input / single_output flags (the golden .bigcore files hold it)."""
    dense = {"class_name": "Dense", "config": {"name": "d", "units": 2}}
    cfg = {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "a", "shape": [3]}, "name": "a", "inbound_nodes": []},
        {"class_name": "InputLayer", "config": {"name": "b", "shape": [3]}, "name": "b", "inbound_nodes": []},
        {"class_name": "Add", "config": {"name": "add"}, "name": "add", "inbound_nodes": [[["a", 0, 0], ["b", 0, 0]]]},
        {**dense, "name": "d", "inbound_nodes": [[["add", 0, 0]]]}],
        "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["d", 0, 0]],
        "single_input": False, "single_output": True}
    model = bigcore.Model.from_config(cfg)
    ws = randomize(model)
    a, b = normal((4, 3), 1), normal((4, 3), 2)
    np.testing.assert_allclose(model.predict([a, b], verbose=0), (a + b) @ ws[0] + ws[1], rtol=1e-5, atol=1e-6)
    new_form = json.loads(json.dumps(model.get_config()))
    assert new_form["layers"][2]["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"] == ["b", 0, 0]
    again = bigcore.Model.from_config(new_form)
    again.set_weights(ws)
    np.testing.assert_array_equal(again.predict([a, b], verbose=0), model.predict([a, b], verbose=0))


def test_a_layer_shared_at_two_depths_round_trips(seed):
    """d(e(d(x))): d's second call needs e's output, which needs d's first call; loading retries
    the node that cannot be made yet, as Keras's functional_from_config."""
    x = bigcore.Input((3,), name="x")
    d, e = layers.Dense(3, name="d"), layers.Dense(3, name="e")
    model = bigcore.Model(x, d(e(d(x))))
    ws = randomize(model)
    clone = bigcore.Model.from_config(model.get_config())
    clone.set_weights(ws)
    v = normal((5, 3), 1)
    np.testing.assert_array_equal(clone.predict(v, verbose=0), model.predict(v, verbose=0))


def test_node_indices_count_only_this_models_calls(seed):
    """A layer called for another model first: this model's config numbers its own call 0."""
    shared = layers.Dense(2, name="shared")
    a, b = bigcore.Input((3,), name="a"), bigcore.Input((3,), name="b")
    bigcore.Model(a, shared(a))
    second = bigcore.Model(b, shared(b))
    cfg = second.get_config()
    assert cfg["output_layers"] == ["shared", 0, 0]
    clone = bigcore.Model.from_config(cfg)
    clone.set_weights(second.get_weights())
    v = normal((4, 3), 1)
    np.testing.assert_array_equal(clone.predict(v, verbose=0), second.predict(v, verbose=0))


def test_layer_order_is_keras(keras):
    """model.layers (and so get_weights) in Keras's order, for branches of different depths."""
    def names(api):
        L = api.layers
        a, b = api.Input((3,), name="a"), api.Input((4,), name="b")
        left = L.Dense(2, name="l2")(L.Dense(2, name="l1")(a))
        right = L.Dense(2, name="r1")(b)
        return [l.name for l in api.Model([a, b], L.Dense(1, name="out")(L.Add(name="add")([right, left]))).layers]

    assert names(bigcore) == names(keras)


def test_summary_and_plot_show_keyword_tensors_as_inputs(seed):
    """Keras's summary counts a call's keyword tensors among its inputs ("Connected to")."""
    a, b = bigcore.Input((5, 3), name="a"), bigcore.Input((4, 2), name="b")
    _, h, c = layers.LSTM(4, return_state=True, name="enc")(a)
    model = bigcore.Model([a, b], layers.LSTM(4, name="dec")(b, initial_state=[h, c]))
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines[0].splitlines() if line.startswith("dec (LSTM)"))
    assert row.split()[-3:] == ["b[0][0],", "enc[0][1],", "enc[0][2]"]  # Keras's layer[node][tensor]
    show = dict(show_shapes=False, show_dtype=False, show_layer_names=True, show_layer_activations=False,
                show_trainable=False)
    boxes, edges = bigcore.utils.plotting._graph(model, **show)
    order = ["a", "b"] + [n.layer.name for n in model._nodes]  # the plot's boxes: inputs, then the calls
    assert len(boxes) == 4 and (order.index("enc"), order.index("dec")) in edges
