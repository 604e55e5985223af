"""Layers shared by several models hold ONE value per weight (Keras: one variable per weight).

Each model lowers to its own native program with its own arena; a weight's value lives in one of
them at a time (cpp/runtime/param_home.h), and a program that starts a step first brings back what
another program took. Checked for three pairs of models (an autoencoder and its encoder, two towers
sharing an Embedding, a Dense layer in a Sequential and in a functional model) under every
sequence of three operations (fit / predict / evaluate / set_weights / save / load, on either
model; 1,728 sequences per pair), each operation checked as it runs:
- predict equals a NumPy float64 forward pass of that model's own get_weights();
- evaluate's loss equals the NumPy loss of that forward;
- fit ends with exactly the weights a model that shares nothing reaches from the same start (the
  optimizer is plain SGD, so the start weights and the data decide the step bit for bit);
- save writes a file whose weights are get_weights(); set_weights and load_weights give back
  what they were handed;
and, at the end of each sequence, both models predict their NumPy forwards.
"""

import itertools
import os

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers

SANITIZED = os.environ.get("BIGCORE_SANITIZED", "") not in ("", "0")
OPS = ("fit", "predict", "evaluate", "set_weights", "save", "load")


def _act(z, name):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    assert name == "linear"
    return z


def _dense(x, w, b, act):
    return _act(x @ np.asarray(w, np.float64) + np.asarray(b, np.float64), act)


# --- the three pairs: (model a, model b, NumPy forward of each from its get_weights(), data) ---

def _autoencoder(optimizer=lambda: optimizers.SGD(0.1)):
    bigcore.utils.set_random_seed(11)
    inp = bigcore.Input((8,))
    code = layers.Dense(3, activation="tanh", name="code")(layers.Dense(6, activation="relu", name="enc_h")(inp))
    out = layers.Dense(8, name="dec_out")(layers.Dense(6, activation="relu", name="dec_h")(code))
    ae, enc = bigcore.Model(inp, out, name="ae"), bigcore.Model(inp, code, name="enc")

    def f_enc(w, x):
        return _dense(_dense(x, w[0], w[1], "relu"), w[2], w[3], "tanh")

    def f_ae(w, x):
        return _dense(_dense(f_enc(w, x), w[4], w[5], "relu"), w[6], w[7], "linear")

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype(np.float32)
    y_code = rng.normal(scale=0.5, size=(32, 3)).astype(np.float32)
    return [(ae, f_ae, x, x), (enc, f_enc, x, y_code)], optimizer


def _towers(optimizer=lambda: optimizers.SGD(0.1)):
    bigcore.utils.set_random_seed(12)
    emb = layers.Embedding(12, 4, name="shared_emb")
    a_in, b_in = bigcore.Input((5,)), bigcore.Input((5,))
    ta = bigcore.Model(a_in, layers.Dense(3, activation="softmax", name="head_a")(layers.Flatten()(emb(a_in))))
    tb = bigcore.Model(b_in, layers.Dense(2, name="head_b")(layers.Flatten()(emb(b_in))))

    def tower(act):
        def f(w, ids):
            e = np.asarray(w[0], np.float64)[ids.astype(np.int64)].reshape(len(ids), -1)
            return _dense(e, w[1], w[2], act)
        return f

    rng = np.random.default_rng(1)
    ids = rng.integers(0, 12, size=(32, 5)).astype(np.float32)
    ya = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    yb = rng.normal(size=(32, 2)).astype(np.float32)
    return [(ta, tower("softmax"), ids, ya), (tb, tower("linear"), ids[::-1].copy(), yb)], optimizer


def _sequential_and_functional(optimizer=lambda: optimizers.SGD(0.1)):
    bigcore.utils.set_random_seed(13)
    shared = layers.Dense(5, activation="relu", name="shared_dense")
    seq = bigcore.Sequential([bigcore.Input((4,)), shared, layers.Dense(2, name="seq_out")], name="seq")
    inp = bigcore.Input((4,))
    func = bigcore.Model(inp, layers.Dense(3, activation="sigmoid", name="func_out")(shared(inp)), name="func")

    def f(act):
        return lambda w, x: _dense(_dense(x, w[0], w[1], "relu"), w[2], w[3], act)

    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    return [(seq, f("linear"), x, rng.normal(size=(32, 2)).astype(np.float32)),
            (func, f("sigmoid"), x, rng.uniform(size=(32, 3)).astype(np.float32))], optimizer


PAIRS = {"autoencoder_encoder": _autoencoder, "towers_sharing_an_embedding": _towers,
         "sequential_and_functional": _sequential_and_functional}


def _assert_predicts_its_weights(model, forward, x):
    got = model.predict(x, batch_size=16, verbose=0)
    want = forward(model.get_weights(), x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6,
                               err_msg=f"{model.name}.predict is not the forward pass of its get_weights()")


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


class _Pair:
    """Two models sharing layers, one solo twin of each (a clone sharing nothing), files and the
    operations; each operation checks its own outcome without touching the other model."""

    def __init__(self, make, tmp_path):
        specs, optimizer = make()
        self.specs = specs
        self.solo = []
        for m, _, _, _ in specs:
            m.compile(optimizer=optimizer(), loss="mse")
            twin = bigcore.models.clone_model(m)
            twin.compile(optimizer=optimizer(), loss="mse")
            self.solo.append(twin)
        rng = np.random.default_rng(5)
        self.rng = rng
        self.saved = [str(tmp_path / f"m{i}.bigcore") for i in range(2)]
        self.weight_files, self.file_values = [], []
        for i, (m, _, _, _) in enumerate(specs):
            start = m.get_weights()
            values = [rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in start]
            m.set_weights(values)
            path = str(tmp_path / f"m{i}.weights.safetensors")
            m.save_weights(path)
            m.set_weights(start)
            self.weight_files.append(path)
            self.file_values.append(values)
        self.start = [m.get_weights() for m, _, _, _ in specs]

    def reset(self):
        for (m, _, _, _), w in zip(self.specs, self.start):
            m.set_weights(w)

    def run(self, op, i):
        m, forward, x, y = self.specs[i]
        if op == "fit":
            before = m.get_weights()
            m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            twin = self.solo[i]
            twin.set_weights(before)
            twin.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            after = m.get_weights()
            assert not _same(after, before), f"{m.name}.fit changed nothing"
            assert _same(after, twin.get_weights()), f"{m.name}.fit lost or mixed updates"
        elif op == "predict":
            _assert_predicts_its_weights(m, forward, x)
        elif op == "evaluate":
            loss = m.evaluate(x, y, batch_size=16, verbose=0)
            want = np.mean((forward(m.get_weights(), x.astype(np.float64)) - y) ** 2)
            assert loss == pytest.approx(want, rel=2e-5, abs=1e-7), f"{m.name}.evaluate"
        elif op == "set_weights":
            values = [self.rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in m.weights]
            m.set_weights(values)
            assert _same(m.get_weights(), values)
        elif op == "save":
            m.save(self.saved[i])
            loaded = bigcore.models.load_model(self.saved[i], compile=False)
            assert _same(loaded.get_weights(), m.get_weights()), f"{m.name}.save wrote other weights"
        else:
            m.load_weights(self.weight_files[i])
            assert _same(m.get_weights(), self.file_values[i])

    def check_both(self):
        for m, forward, x, _ in self.specs:
            _assert_predicts_its_weights(m, forward, x)


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_every_sequence_of_three_operations_keeps_one_value_per_weight(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # 864 saves per pair; durability is not the point
    p = _Pair(PAIRS[pair], tmp_path)
    steps = [(op, i) for op in OPS for i in (0, 1)]
    sequences = list(itertools.product(steps, repeat=3))
    if SANITIZED:  # a tenth under AddressSanitizer, still every step in every position
        sequences = sequences[::10]
    for seq in sequences:
        p.reset()
        for op, i in seq:
            try:
                p.run(op, i)
            except AssertionError as e:
                raise AssertionError(f"sequence {seq}, at {op} on model {i}: {e}") from None
        p.check_both()


def test_autoencoder_fit_encoder_predict_fit_keeps_every_epoch(tmp_path):
    """The issue's case, with Adam: ae.fit; enc.predict; ae.fit ends where ae.fit; ae.fit alone
    does, in ae.get_weights(), in the file ae.save() writes, and in enc.predict."""
    adam = lambda: optimizers.Adam(0.01)  # noqa: E731
    (a, e), _ = _autoencoder(adam)
    (solo, _), _ = _autoencoder(adam)
    ae, f_ae, x, _ = a
    enc, f_enc, _, _ = e
    solo_ae = solo[0]
    for m in (ae, solo_ae):
        m.compile(optimizer=adam(), loss="mse")
    assert _same(ae.get_weights(), solo_ae.get_weights())

    ae.fit(x, x, batch_size=8, epochs=2, verbose=0)
    enc.predict(x, verbose=0)
    ae.fit(x, x, batch_size=8, epochs=2, verbose=0)
    ae.save(str(tmp_path / "ae.bigcore"))
    solo_ae.fit(x, x, batch_size=8, epochs=2, verbose=0)
    solo_ae.fit(x, x, batch_size=8, epochs=2, verbose=0)

    want = solo_ae.get_weights()
    assert _same(ae.get_weights(), want), "ae.get_weights() lost the epochs after enc.predict"
    assert np.array_equal(ae.predict(x, verbose=0), solo_ae.predict(x, verbose=0))
    assert _same(bigcore.models.load_model(str(tmp_path / "ae.bigcore")).get_weights(), want)
    np.testing.assert_allclose(enc.predict(x, verbose=0), f_enc(want[:4], x.astype(np.float64)), rtol=2e-5,
                               atol=2e-6)


def test_eager_layer_call_shares_the_model_weights():
    """layer(numpy) runs the layer through a one-layer model of its own; that must not leave the
    model training a copy: a later fit's updates reach the layer's call, and the other way round."""
    (a, _), _ = _autoencoder()
    ae, f_ae, x, _ = a
    ae.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    first = ae.get_layer("enc_h")
    ae.fit(x, x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(first(x), _dense(x, *ae.get_weights()[:2], "relu"), rtol=2e-5, atol=2e-6)
    ae.fit(x, x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    w = ae.get_weights()
    np.testing.assert_allclose(first(x), _dense(x, w[0], w[1], "relu"), rtol=2e-5, atol=2e-6)
    _assert_predicts_its_weights(ae, f_ae, x)


def test_weight_value_follows_the_model_that_trained_last():
    """Weight.value (a view of the value where it lives) moves with each model's training, and a
    write into it reaches both models."""
    (a, e), _ = _autoencoder()
    ae, f_ae, x, _ = a
    enc, f_enc, _, y = e
    for m in (ae, enc):
        m.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    kernel = ae.get_layer("code").kernel
    ae.fit(x, x, batch_size=16, epochs=1, verbose=0)
    enc.fit(x, y, batch_size=16, epochs=1, verbose=0)
    left = kernel.numpy()
    ae.fit(x, x, batch_size=16, epochs=1, verbose=0)
    assert not np.array_equal(kernel.value, left), "ae's training did not move the shared kernel"
    assert np.array_equal(kernel.value, kernel.numpy())
    kernel.value[...] = 0.25
    for m, f in ((enc, f_enc), (ae, f_ae)):
        assert np.all(m.get_weights()[2] == 0.25)
        _assert_predicts_its_weights(m, f, x)


def test_model_calls_with_training_read_the_shared_weights():
    """model(x, training=...) on arrays runs its own native forward (training mode keeps Dropout on):
    with shared layers, every mode reads the value the last fit left, as predict does."""
    (a, e), _ = _autoencoder()
    ae, f_ae, x, _ = a
    enc, f_enc, _, _ = e
    ae.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    x64 = x.astype(np.float64)
    enc(x, training=True)  # enc's program takes the weights first
    ae.fit(x, x, batch_size=8, epochs=2, verbose=0)
    for kw in ({}, {"training": True}, {"training": False}):  # no Dropout here: every mode is the same forward
        np.testing.assert_allclose(enc(x, **kw), f_enc(enc.get_weights(), x64), rtol=2e-5, atol=2e-6, err_msg=str(kw))
    ae.fit(x, x, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_allclose(ae(x, training=True), f_ae(ae.get_weights(), x64), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(enc(x, training=True), f_enc(ae.get_weights()[:4], x64), rtol=2e-5, atol=2e-6)
