"""Model-level API behaviour: building, fit / evaluate / predict, weights, callbacks, weighting,
determinism and the progress bar. Numbers are checked against NumPy computed from predict()."""

import os
import re

import numpy as np
import pytest

import bigcore
from bigcore import callbacks, layers, optimizers
from layer_test import sgd_gradients

D, H, C = 20, 16, 5
MLP_PARAMS = D * H + H + H * C + C  # 421

# Under the sanitizer build (.ci/sanitize) the batch-invariance checks run on fewer rows
SANITIZED = os.environ.get("BIGCORE_SANITIZED", "") not in ("", "0")


def data(n=96, d=D, classes=C, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, d)).astype(np.float32), rng.integers(0, classes, n)


def mlp(kind="input_shape", dropout=None, d=D, hidden=H, classes=C):
    """D-H-C relu/softmax MLP; kind says how the input is declared."""
    first = {"input_shape": [layers.Dense(hidden, activation="relu", input_shape=(d,))],
             "input_first": [bigcore.Input(shape=(d,)), layers.Dense(hidden, activation="relu")],
             "lazy": [layers.Dense(hidden, activation="relu")]}[kind]
    rest = ([layers.Dropout(dropout)] if dropout else []) + [layers.Dense(classes, activation="softmax")]
    return bigcore.Sequential(first + rest)


def compiled(optimizer=None, metrics=("accuracy",), **kw):
    m = mlp(**kw)
    m.compile(optimizer=optimizer or optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
              metrics=list(metrics) if metrics else None)
    return m


def sparse_ce(p, y):
    """Per-sample sparse categorical cross-entropy from probabilities, float64."""
    return -np.log(p.astype(np.float64)[np.arange(len(y)), y])


def same_weights(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


# --- building -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["input_shape", "input_first", "lazy"])
def test_sequential_build_variants(seed, kind):
    m = mlp(kind)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if kind == "lazy":
        with pytest.raises(ValueError, match="not been built"):
            m.get_weights()
    x, y = data()
    m.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert [w.shape for w in m.get_weights()] == [(D, H), (H,), (H, C), (C,)]
    assert m.count_params() == MLP_PARAMS
    p = m.predict(x, verbose=0)
    assert p.shape == (len(x), C) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_build_variants_give_same_initial_weights():
    """How the input is declared must not change what the seeded initializers draw."""
    weights = []
    for kind in ("input_shape", "input_first", "lazy"):
        bigcore.utils.set_random_seed(0)
        m = mlp(kind)
        if kind == "lazy":
            m.build((None, D))
        weights.append(m.get_weights())
    assert same_weights(weights[0], weights[1]) and same_weights(weights[0], weights[2])


def test_functional_two_inputs_two_outputs(seed):
    a, b = bigcore.Input(shape=(6,), name="a"), bigcore.Input(shape=(3,), name="b")
    out_reg = layers.Dense(1, name="reg")(layers.Dense(8, activation="relu")(a))
    out_cls = layers.Dense(4, activation="softmax", name="cls")(layers.Dense(5, activation="tanh")(b))
    m = bigcore.Model([a, b], [out_reg, out_cls])
    m.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5])
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(10, 6)).astype(np.float32), rng.normal(size=(10, 3)).astype(np.float32)
    yr, yc = rng.normal(size=(10, 1)).astype(np.float32), rng.integers(0, 4, 10)

    pr, pc = m.predict([xa, xb], verbose=0)
    assert pr.shape == (10, 1) and pc.shape == (10, 4)
    # Each output sees only its own input.
    pr2, pc2 = m.predict([xa, xb + 1.0], verbose=0)
    assert np.array_equal(pr, pr2) and not np.allclose(pc, pc2)
    # Inputs by name give the same answer as by position.
    pr3, pc3 = m.predict({"a": xa, "b": xb}, verbose=0)
    assert np.array_equal(pr, pr3) and np.array_equal(pc, pc3)

    mse, ce = np.mean((pr.astype(np.float64) - yr) ** 2), sparse_ce(pc, yc).mean()
    # Keras 3 with several outputs: [loss, then each output's unweighted loss]
    assert m.evaluate([xa, xb], [yr, yc], verbose=0) == pytest.approx([mse + 0.5 * ce, mse, ce], rel=1e-5)


def test_two_outputs_from_one_trunk_train_both_heads(seed):
    inp = bigcore.Input(shape=(D,))
    trunk = layers.Dense(16, activation="relu", name="trunk")(inp)
    reg = layers.Dense(1, name="reg")(trunk)
    cls = layers.Dense(C, activation="softmax", name="cls")(trunk)
    m = bigcore.Model(inp, [reg, cls])
    m.compile(optimizer=optimizers.Adam(0.01), loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 2.0, "cls": 1.0})
    x, y = data(128)
    yr = x[:, :3].sum(axis=1, keepdims=True)

    pr, pc = m.predict(x, verbose=0)
    expected = 2.0 * np.mean((pr.astype(np.float64) - yr) ** 2) + sparse_ce(pc, y).mean()
    before = m.evaluate(x, {"reg": yr, "cls": y}, verbose=0, return_dict=True)
    assert before == pytest.approx({"loss": expected, "reg_loss": np.mean((pr.astype(np.float64) - yr) ** 2),
                                    "cls_loss": sparse_ce(pc, y).mean()}, rel=1e-5)
    before = before["loss"]

    mse0, ce0 = np.mean((pr - yr) ** 2), sparse_ce(pc, y).mean()
    m.fit(x, [yr, y], epochs=30, batch_size=32, verbose=0)
    pr, pc = m.predict(x, verbose=0)
    # Both heads learned: each part of the loss went down.
    assert np.mean((pr - yr) ** 2) < 0.5 * mse0
    assert sparse_ce(pc, y).mean() < ce0 - 0.1


def test_shared_layer_gradient_matches_numpy(seed):
    """A Dense applied twice: one set of weights, gradient = sum over both uses (float64 check)."""
    inp = bigcore.Input(shape=(4,))
    shared = layers.Dense(4, activation="tanh")
    out = layers.Dense(3, activation="softmax")(shared(shared(inp)))
    m = bigcore.Model(inp, out)
    m.compile(optimizer=optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    assert m.count_params() == (16 + 4) + (12 + 3)
    assert len(m.get_weights()) == 4

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 4)).astype(np.float32), rng.integers(0, 3, 5)
    w0 = [w.astype(np.float64) for w in m.get_weights()]
    _, grads = sgd_gradients(m, x, y)  # SGD lr=1: w1 = w0 - g

    K, b, K2, b2 = w0
    h1 = np.tanh(x @ K + b)
    h2 = np.tanh(h1 @ K + b)
    z = h2 @ K2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = p.copy()
    dz[np.arange(5), y] -= 1
    dz /= 5
    dh2 = dz @ K2.T * (1 - h2 ** 2)
    dh1 = dh2 @ K.T * (1 - h1 ** 2)
    expected = [x.T @ dh1 + h1.T @ dh2, dh1.sum(0) + dh2.sum(0), h2.T @ dz, dz.sum(0)]
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


# --- fit / evaluate / predict -------------------------------------------------------------

@pytest.mark.parametrize("epochs", [1, 3])
def test_fit_returns_history(seed, epochs):
    m = compiled()
    x, y = data(100)
    h = m.fit(x, y, epochs=epochs, batch_size=16, validation_split=0.2, verbose=0)
    assert h is m.history
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == epochs for v in h.history.values())
    assert h.epoch == list(range(epochs))
    assert all(np.isfinite(v).all() for v in h.history.values())
    assert all(0.0 <= a <= 1.0 for a in h.history["accuracy"] + h.history["val_accuracy"])
    assert m.optimizer.iterations == epochs * 5  # 80 training samples / 16


def test_validation_split_uses_last_fraction(seed):
    m = compiled(optimizer=optimizers.SGD(0.0))  # lr 0: weights stay, logs are plain evaluations
    x, y = data(100)
    y[75:] = (y[75:] + 1) % C  # the first and last quarter disagree
    h = m.fit(x, y, epochs=1, batch_size=25, validation_split=0.25, shuffle=False, verbose=0)
    val_loss, val_acc = m.evaluate(x[75:], y[75:], batch_size=25, verbose=0)
    loss, acc = m.evaluate(x[:75], y[:75], batch_size=25, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(val_acc)
    assert h.history["loss"][0] == pytest.approx(loss, rel=1e-6)
    assert h.history["accuracy"][0] == pytest.approx(acc)
    assert m.evaluate(x[:25], y[:25], verbose=0)[0] != pytest.approx(val_loss, rel=1e-3)


def test_evaluate_matches_numpy_and_return_forms(seed):
    x, y = data(50)
    m = compiled()
    p = m.predict(x, verbose=0)
    loss = sparse_ce(p, y).mean()
    acc = np.mean(p.argmax(1) == y)
    got = m.evaluate(x, y, batch_size=16, verbose=0)
    assert isinstance(got, list) and len(got) == 2
    assert got[0] == pytest.approx(loss, rel=1e-5) and got[1] == pytest.approx(acc)
    d = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    assert d["loss"] == pytest.approx(got[0]) and d["accuracy"] == pytest.approx(got[1])
    assert m.metrics_names == ["loss", "accuracy"]

    bare = compiled(metrics=None)
    bare.set_weights(m.get_weights())
    scalar = bare.evaluate(x, y, verbose=0)
    assert np.ndim(scalar) == 0 and float(scalar) == pytest.approx(loss, rel=1e-5)


@pytest.mark.parametrize("n", [1, 5, 33])
def test_predict_shapes(seed, n):
    x, _ = data(n)
    assert compiled().predict(x, verbose=0).shape == (n, C)
    inp = bigcore.Input(shape=(4, 5))
    out = layers.Reshape((3, 2))(layers.Dense(6)(layers.Flatten()(inp)))
    m = bigcore.Model(inp, out)
    xr = np.random.default_rng(0).normal(size=(n, 4, 5)).astype(np.float32)
    p = m.predict(xr, verbose=0)
    assert p.shape == (n, 3, 2)
    kernel, bias = m.get_weights()
    np.testing.assert_allclose(p.reshape(n, 6), xr.reshape(n, 20) @ kernel + bias, rtol=1e-5, atol=1e-6)


def _batch_invariance_model(kind):
    if kind == "dense":
        return bigcore.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                                   layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    if kind == "narrow_dense":  # rows cut between threads, bias and activation applied per tile (gemm_then)
        return bigcore.Sequential([bigcore.Input(shape=(20, 32)), layers.Dense(32, activation="gelu"),
                                   layers.Dense(24, activation="softmax"), layers.Dense(16)])
    rnn = {"lstm": layers.LSTM, "gru": layers.GRU}[kind]
    return bigcore.Sequential([bigcore.Input(shape=(12, 20)), rnn(48, return_sequences=True), rnn(40),
                               layers.Dense(3)])


@pytest.mark.parametrize("kind", ["dense", "narrow_dense", "lstm", "gru"])
def test_predict_is_batch_size_independent(seed, isa, restore_threads, kind):
    """A row's prediction does not depend on the batch it is in, the thread count or how the GEMM
    is cut (the own kernel sums each output in k order: kernels/float/small_gemm.h); OpenBLAS did
    (predict(batch_size=1) != predict(batch_size=1000) by ~6e-7, as PyTorch, pytorch#128062)."""
    m = _batch_invariance_model(kind)
    n = 100 if SANITIZED else 300 if kind in ("lstm", "gru") else 1000  # (sanitized: the same cuts, fewer rows)
    shape = {"dense": (n, 784), "narrow_dense": (n, 20, 32)}.get(kind, (n, 12, 20))
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    bigcore.config.set_num_threads(1)
    ref = m.predict(x, batch_size=1, verbose=0)
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        for bs in (2, 7, 64, n):
            assert np.array_equal(m.predict(x, batch_size=bs, verbose=0), ref), \
                f"{kind} on {isa}, batch_size={bs}, {threads} threads"
    # and a sample alone gives the bits it gets inside a batch
    assert np.array_equal(m.predict(x[5:6], verbose=0), ref[5:6])


def test_predict_is_repeatable_and_on_batch_forms(seed):
    m = compiled()
    x, y = data(40)
    p = m.predict(x, batch_size=8, verbose=0)
    assert np.array_equal(p, m.predict(x, batch_size=8, verbose=0))
    assert np.array_equal(m.predict_on_batch(x), m.predict(x, batch_size=40, verbose=0))
    assert np.array_equal(m(x), m.predict_on_batch(x))
    loss, acc = m.test_on_batch(x, y)
    assert loss == pytest.approx(sparse_ce(p, y).mean(), rel=1e-5)


# --- weights ------------------------------------------------------------------------------

def test_get_set_weights_round_trip(seed):
    a, b = compiled(), compiled()
    x, y = data(30)
    assert not np.array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    b.set_weights(a.get_weights())
    assert same_weights(a.get_weights(), b.get_weights())
    assert np.array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    # get_weights returns copies; set_weights copies in: neither aliases the model.
    ws = a.get_weights()
    ws[0][...] = 123.0
    assert not np.any(a.get_weights()[0] == 123.0)
    src = [w + 1.0 for w in a.get_weights()]
    a.set_weights(src)
    src[0][...] = -7.0
    assert not np.any(a.get_weights()[0] == -7.0)
    # Weights set after compile are the ones training starts from.
    b.set_weights(a.get_weights())
    a.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    b.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    assert same_weights(a.get_weights(), b.get_weights())


def test_count_params(seed):
    m = compiled()
    assert m.count_params() == MLP_PARAMS == sum(w.size for w in m.get_weights())
    assert [layer.count_params() for layer in m.layers] == [D * H + H, H * C + C]
    wide = bigcore.Sequential([layers.Dense(128, input_shape=(784,)), layers.Dropout(0.5), layers.Dense(10)])
    assert wide.count_params() == 784 * 128 + 128 + 128 * 10 + 10


def test_summary_table(seed, capsys):
    m = mlp()
    m.summary()
    out = capsys.readouterr().out
    for layer in m.layers:
        assert re.search(rf"{re.escape(layer.name)} \({type(layer).__name__}\)\s+\(None, \d+\)\s+"
                         rf"{layer.count_params()}\b", out), layer.name
    assert f"Total params: {MLP_PARAMS}" in out
    assert f"Trainable params: {MLP_PARAMS}" in out
    assert "Non-trainable params: 0" in out
    lines = []
    m.summary(print_fn=lines.append)
    assert "\n".join(lines).strip() == out.strip()


def test_train_on_batch(seed):
    m = compiled(optimizer=optimizers.SGD(0.5))
    x, y = data(32)
    before = m.evaluate(x, y, verbose=0)
    w0 = m.get_weights()
    loss, acc = m.train_on_batch(x, y)
    # The loss and metric are those of the forward pass, before the update.
    assert loss == pytest.approx(before[0], rel=1e-6) and acc == pytest.approx(before[1])
    assert not same_weights(w0, m.get_weights())
    assert m.optimizer.iterations == 1
    for _ in range(20):
        logs = m.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert logs["loss"] < 0.8 * before[0]


# --- dropout ------------------------------------------------------------------------------

def test_dropout_only_in_training(seed):
    m = compiled(optimizer=optimizers.SGD(0.0), dropout=0.9)
    plain = compiled(optimizer=optimizers.SGD(0.0))
    plain.set_weights(m.get_weights())
    x, y = data(64)
    p = m.predict(x, verbose=0)
    assert np.array_equal(p, m.predict(x, verbose=0))
    assert np.array_equal(p, plain.predict(x, verbose=0))  # inference: identity
    eval_loss = m.evaluate(x, y, verbose=0)[0]
    assert eval_loss == pytest.approx(plain.evaluate(x, y, verbose=0)[0], rel=1e-6)
    h = m.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0)
    # Same weights (lr 0), same batch: only the masks differ, between epochs and from inference.
    train_losses = h.history["loss"]
    assert all(abs(t - eval_loss) > 1e-3 for t in train_losses)
    assert train_losses[0] != train_losses[1]
    assert m.train_on_batch(x, y)[0] != pytest.approx(eval_loss, rel=1e-3)


# --- callbacks ----------------------------------------------------------------------------

@pytest.mark.parametrize("patience", [0, 2])
def test_early_stopping_stops(seed, patience):
    m = compiled(optimizer=optimizers.SGD(0.0))  # the loss never improves
    x, y = data(40)
    stop = callbacks.EarlyStopping(monitor="loss", patience=patience)
    h = m.fit(x, y, epochs=20, batch_size=8, shuffle=False, callbacks=[stop], verbose=0)
    assert len(h.history["loss"]) == max(patience, 1) + 1
    assert stop.stopped_epoch == max(patience, 1)


def test_early_stopping_restores_best_weights(seed):
    m = compiled(optimizer=optimizers.SGD(0.0))
    x, y = data(40)

    class Spoil(callbacks.Callback):  # from epoch 1 on, the model is sure every sample is class 0
        def on_epoch_begin(self, epoch, logs=None):
            if epoch:
                ws = self.model.get_weights()
                ws[2][...] = 0.0
                ws[3][...] = [20.0] + [0.0] * (C - 1)
                self.model.set_weights(ws)

    w0 = m.get_weights()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    h = m.fit(x, y, epochs=10, batch_size=8, validation_data=(x, y), callbacks=[Spoil(), stop], verbose=0)
    assert h.history["val_loss"][1] > 5 * h.history["val_loss"][0]
    assert len(h.history["loss"]) == 2 and stop.best_epoch == 0
    assert same_weights(m.get_weights(), w0)


@pytest.mark.parametrize("where", ["batch", "epoch"])
def test_stop_training_from_custom_callback(seed, where):
    class Stopper(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if where == "batch" and batch == 2:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if where == "epoch" and epoch == 1:
                self.model.stop_training = True

    m = compiled()
    x, y = data(80)
    cb = Stopper()
    h = m.fit(x, y, epochs=10, batch_size=10, callbacks=[cb], verbose=0)
    epochs_run, batches_run = (1, 3) if where == "batch" else (2, 16)
    assert len(h.history["loss"]) == epochs_run
    assert cb.batches == batches_run
    assert m.optimizer.iterations == batches_run


def test_callback_sees_model_and_logs(seed):
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, dict(logs))))
    m = compiled()
    x, y = data(40)
    h = m.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, callbacks=[cb], verbose=0)
    assert [e for e, _ in seen] == [0, 1, 2]
    assert [logs["val_loss"] for _, logs in seen] == h.history["val_loss"]


# --- shuffling ----------------------------------------------------------------------------

def test_shuffle_false_is_in_order_and_shuffle_true_is_not(seed):
    x, y = data(64)
    a = compiled(optimizer=optimizers.SGD(0.1))
    w0 = a.get_weights()
    a.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)

    b = compiled(optimizer=optimizers.SGD(0.1))
    b.set_weights(w0)
    for i in range(0, 64, 8):
        b.train_on_batch(x[i:i + 8], y[i:i + 8])
    assert same_weights(a.get_weights(), b.get_weights())

    c = compiled(optimizer=optimizers.SGD(0.1))
    c.set_weights(w0)
    c.fit(x, y, epochs=1, batch_size=8, shuffle=True, verbose=0)
    assert not same_weights(a.get_weights(), c.get_weights())
    # Each epoch still sees every sample once: with full batches the order cannot matter.
    d = compiled(optimizer=optimizers.SGD(0.1))
    d.set_weights(w0)
    d.fit(x, y, epochs=1, batch_size=64, shuffle=True, verbose=0)
    e = compiled(optimizer=optimizers.SGD(0.1))
    e.set_weights(w0)
    e.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in d.get_weights()]),
                               np.concatenate([w.ravel() for w in e.get_weights()]), rtol=1e-5, atol=1e-7)


# --- sample_weight / class_weight ---------------------------------------------------------

def weighted_setup(classes=C):
    bigcore.utils.set_random_seed(0)
    m = compiled(optimizer=optimizers.SGD(0.0), classes=classes)
    x, y = data(24, classes=classes)
    per_sample = sparse_ce(m.predict(x, verbose=0), y)
    return m, x, y, per_sample


def test_sample_weight_is_sum_w_l_over_n():
    m, x, y, l = weighted_setup()
    w = np.linspace(0.0, 3.0, len(y)).astype(np.float32)
    expected = np.sum(w * l) / len(y)  # Keras sum_over_batch_size: divide by n, not by sum(w)
    assert expected != pytest.approx(np.sum(w * l) / w.sum(), rel=1e-3)
    assert m.train_on_batch(x, y, sample_weight=w)[0] == pytest.approx(expected, rel=1e-5)
    assert m.evaluate(x, y, sample_weight=w, batch_size=7, verbose=0)[0] == pytest.approx(expected, rel=1e-5)
    h = m.fit(x, y, sample_weight=w, batch_size=6, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_class_weight_is_a_per_class_sample_weight():
    m, x, y, l = weighted_setup()
    cw = {0: 0.5, 1: 2.0, 2: 1.0, 3: 3.0, 4: 0.25}
    expected = np.sum(np.array([cw[c] for c in y]) * l) / len(y)
    assert m.train_on_batch(x, y, class_weight=cw)[0] == pytest.approx(expected, rel=1e-5)
    h = m.fit(x, y, class_weight=cw, batch_size=8, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_class_weight_missing_class_defaults_to_one():
    m, x, y, l = weighted_setup()
    cw = {0: 5.0}
    expected = np.sum(np.where(y == 0, 5.0, 1.0) * l) / len(y)
    assert m.train_on_batch(x, y, class_weight=cw)[0] == pytest.approx(expected, rel=1e-5)


def test_class_weight_binary_targets():
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(D,))])
    m.compile(optimizer=optimizers.SGD(0.0), loss="binary_crossentropy")
    x, _ = data(16)
    y = (np.arange(16) % 2).astype(np.float32).reshape(-1, 1)
    p = m.predict(x, verbose=0).astype(np.float64)
    l = -(y * np.log(p) + (1 - y) * np.log(1 - p))[:, 0]
    expected = np.sum(np.where(y[:, 0] == 1, 10.0, 1.0) * l) / 16
    assert m.train_on_batch(x, y, class_weight={0: 1.0, 1: 10.0}) == pytest.approx(expected, rel=1e-5)


def test_zero_sample_weight_drops_samples_from_the_gradient(seed):
    """sum(w*l)/n with w in {0, 1}: same step as training on the kept half with lr * kept/n."""
    x, y = data(32)
    keep = np.arange(32) % 2 == 0
    a = compiled(optimizer=optimizers.SGD(0.2))
    b = compiled(optimizer=optimizers.SGD(0.2 * keep.sum() / 32))
    b.set_weights(a.get_weights())
    a.train_on_batch(x, y, sample_weight=keep.astype(np.float32))
    b.train_on_batch(x[keep], y[keep])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)


# --- determinism --------------------------------------------------------------------------

def run_seeded(seed_value, x, y):
    bigcore.utils.set_random_seed(seed_value)
    m = compiled(optimizer="adam", dropout=0.3)
    h = m.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    return m.get_weights(), h.history


def test_same_seed_same_run_bit_for_bit():
    x, y = data(120)
    w1, h1 = run_seeded(7, x, y)
    w2, h2 = run_seeded(7, x, y)
    assert same_weights(w1, w2)
    assert h1 == h2
    w3, h3 = run_seeded(8, x, y)
    assert not same_weights(w1, w3) and h1["loss"] != h3["loss"]


def test_thread_count_does_not_change_training(restore_threads):
    rng = np.random.default_rng(0)
    x = rng.random((2000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    runs = []
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        assert bigcore.config.get_num_threads() == threads
        bigcore.utils.set_random_seed(0)
        m = bigcore.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                                layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = m.fit(x, y, epochs=1, batch_size=32, verbose=0)
        runs.append((m.get_weights(), h.history, m.predict(x[:100], verbose=0)))
    for w, hist, p in runs[1:]:
        assert same_weights(runs[0][0], w)
        assert hist == runs[0][1]
        assert np.array_equal(p, runs[0][2])


# --- progress bar -------------------------------------------------------------------------

NUM = r"\d+\.\d+(?:e[-+]\d+)?"
BAR_LINE = re.compile(rf"^(\d+)/\1 \[={{30}}\] - \d+s \d+(?:us|ms|s)/step - loss: {NUM} - accuracy: {NUM}"
                      rf"(?: - val_loss: {NUM} - val_accuracy: {NUM})?$")
V2_LINE = re.compile(rf"^(\d+)/\1 - \d+s - \d+(?:us|ms|s)/step - loss: {NUM} - accuracy: {NUM}"
                     rf"(?: - val_loss: {NUM} - val_accuracy: {NUM})?$")


@pytest.mark.parametrize("verbose,pattern", [(1, BAR_LINE), (2, V2_LINE)])
@pytest.mark.parametrize("validation", [False, True])
def test_progress_bar_lines_to_a_pipe(seed, capsys, verbose, pattern, validation):
    m = compiled()
    x, y = data(100)
    m.fit(x, y, epochs=3, batch_size=10, verbose=verbose, validation_split=0.2 if validation else 0.0)
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out  # not a terminal: final lines only
    lines = out.splitlines()
    assert [ln for ln in lines if ln.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    bars = [ln for ln in lines if not ln.startswith("Epoch")]
    assert len(bars) == 3
    steps = 8 if validation else 10
    for ln in bars:
        match = pattern.match(ln)
        assert match, ln
        assert match.group(1) == str(steps)
        assert ("val_loss" in ln) == validation


def test_progress_bar_values_are_the_history(seed, capsys):
    m = compiled()
    x, y = data(50)
    h = m.fit(x, y, epochs=2, batch_size=10, verbose=2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "loss:" in ln]
    for ln, loss, acc in zip(lines, h.history["loss"], h.history["accuracy"]):
        assert float(re.search(rf"loss: ({NUM})", ln).group(1)) == pytest.approx(loss, abs=5e-5)
        assert float(re.search(rf"accuracy: ({NUM})", ln).group(1)) == pytest.approx(acc, abs=5e-5)


def test_verbose_zero_prints_nothing(seed, capsys):
    m = compiled()
    x, y = data(30)
    m.fit(x, y, epochs=2, verbose=0)
    m.evaluate(x, y, verbose=0)
    m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_verbose_prints_one_bar_line(seed, capsys):
    m = compiled()
    x, y = data(30)
    loss, acc = m.evaluate(x, y, batch_size=10, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert re.match(rf"^3/3 \[={{30}}\] - \d+s \d+(?:us|ms|s)/step - loss: {NUM} - accuracy: {NUM}$", lines[0])


@pytest.mark.parametrize("act", ["linear", "relu", "softmax", "tanh"])
def test_narrow_dense_on_many_rows_matches_numpy(restore_threads, act):
    """Dense(32) over 300 x 20 rows: the product cut into row tiles on 2 threads, each tile's bias and
    activation applied as soon as it is done (gemm_then), against a float64 NumPy reference."""
    bigcore.config.set_num_threads(2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 20, 32)).astype(np.float32)
    m = bigcore.Sequential([bigcore.Input(shape=(20, 32)), layers.Dense(32, activation=act)])
    W, b = rng.standard_normal((32, 32)).astype(np.float32) * 0.3, rng.standard_normal(32).astype(np.float32)
    m.set_weights([W, b])
    z = x.astype(np.float64) @ W + b
    want = {"linear": z, "relu": np.maximum(z, 0), "tanh": np.tanh(z),
            "softmax": np.exp(z - z.max(-1, keepdims=True)) / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)}
    np.testing.assert_allclose(m.predict(x, batch_size=300, verbose=0), want[act], rtol=2e-5, atol=2e-6)


def test_sequential_pop_keeps_or_defers_the_build():
    """Keras's pop(): a model without an input shape stays unbuilt (it raised); a built one is
    rebuilt on the same input, its remaining layers' weights kept."""
    deferred = bigcore.Sequential([layers.Dense(2), layers.Dense(3), layers.Dense(4)])
    popped = deferred.pop()
    assert popped.units == 4 and [l.units for l in deferred.layers] == [2, 3]
    assert deferred(np.ones((1, 5), np.float32)).shape == (1, 3)
    built = bigcore.Sequential([layers.Input((5,)), layers.Dense(2), layers.Dense(3)])
    kernel = built.layers[0].kernel.numpy()
    built.pop()
    x = np.ones((2, 5), np.float32)
    np.testing.assert_allclose(built.predict(x, verbose=0), x @ kernel + built.layers[0].bias.numpy(), rtol=1e-6)
    called = bigcore.Sequential([layers.Dense(2), layers.Dense(3)])
    called(np.ones((1, 4), np.float32))
    called.pop()
    assert called.built and called.predict(np.ones((1, 4), np.float32), verbose=0).shape == (1, 2)
    with pytest.raises((TypeError, ValueError)):
        bigcore.Sequential().pop()
