"""BatchNormalization followed by a ReLU that alone reads its result lowers to one op (the
normalization writes max(y, 0), and its backward takes the ReLU's gradient in the same pass): the
same predictions and, after Adam steps, the same weights and moving statistics as the two ops
unfused. A ReLU with other arguments, or a normalized tensor that something else also reads, keeps
its own op. The batch statistics, summed per block of 1024 rows in one read and combined across the
blocks, match float64 for values far from zero, with and without a mask."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.layers.normalization import BatchNormalization


def _op_types(model):
    return model._native().native.op_kinds()


def _conv_model(relu, masked=False, seed=0):
    bigcore.utils.set_random_seed(seed)
    inp = bigcore.Input((12, 3))
    x = layers.Masking(0.0)(inp) if masked else inp
    x = layers.Conv1D(8, 3, padding="same")(x) if not masked else layers.Dense(8)(x)
    x = relu()(layers.BatchNormalization(momentum=0.9)(x))
    x = layers.GlobalAveragePooling1D()(x)
    model = bigcore.Model(inp, layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer=bigcore.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def _data(masked):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 12, 3)).astype(np.float32)
    if masked:
        x[::3, 8:] = 0.0  # padded steps: the mask leaves them out of the batch statistics
    return x, rng.integers(0, 2, 40)


RELUS = {"ReLU": layers.ReLU, "Activation": lambda: layers.Activation("relu")}


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("relu", sorted(RELUS))
def test_fused_and_unfused_train_and_predict_alike(monkeypatch, relu, masked):
    x, y = _data(masked)
    fused = _conv_model(RELUS[relu], masked)
    monkeypatch.setattr(BatchNormalization, "fuse_relu", False)
    apart = _conv_model(RELUS[relu], masked)
    monkeypatch.undo()
    relu_op = "ReluOp" if relu == "ReLU" else "ActivationOp"
    assert relu_op not in _op_types(fused) and relu_op in _op_types(apart)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), apart.predict(x, verbose=0))
    for model in (fused, apart):
        model.fit(x, y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(fused.get_weights(), apart.get_weights()):  # the moving statistics among them
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(fused.get_weights()[0], _conv_model(RELUS[relu], masked).get_weights()[0])  # it trained
    np.testing.assert_allclose(fused.predict(x, verbose=0), apart.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_fused_op_matches_a_float64_reference():
    """Training-mode forward (batch statistics, then max(., 0)), and one SGD step's change of the
    kernel before it, of gamma and of beta against central differences of a float64 NumPy model."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    t = rng.normal(size=(16, 5)).astype(np.float32)
    bigcore.utils.set_random_seed(0)
    inp = bigcore.Input((4,))
    dense, bn = layers.Dense(5, use_bias=False), layers.BatchNormalization(epsilon=1e-3)
    model = bigcore.Model(inp, layers.ReLU()(bn(dense(inp))))
    assert "ReluOp" not in _op_types(model)
    gamma, beta = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    bn.set_weights([gamma, beta, np.zeros(5, np.float32), np.ones(5, np.float32)])
    K = dense.get_weights()[0]

    def forward(K, gamma, beta):
        z = x.astype(np.float64) @ K
        return np.maximum((z - z.mean(0)) / np.sqrt(z.var(0) + 1e-3) * gamma + beta, 0.0)

    np.testing.assert_allclose(np.asarray(model(x, training=True)), forward(K, gamma, beta), rtol=1e-5, atol=1e-5)
    loss = lambda *w: np.mean((forward(*w) - t) ** 2)
    params = [K.astype(np.float64), gamma.astype(np.float64), beta.astype(np.float64)]
    want = []
    for i, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            hi, lo = [q.copy() for q in params], [q.copy() for q in params]
            hi[i][idx] += 1e-6
            lo[i][idx] -= 1e-6
            g[idx] = (loss(*hi) - loss(*lo)) / 2e-6
        want.append(g)
    lr = 0.1
    model.compile(optimizer=bigcore.optimizers.SGD(lr), loss="mse")
    model.train_on_batch(x, t)
    after = [dense.get_weights()[0]] + bn.get_weights()[:2]
    for before, now, g in zip([K, gamma, beta], after, want):
        np.testing.assert_allclose((before - now) / lr, g, rtol=2e-3, atol=2e-5)


def test_a_relu_with_arguments_or_a_shared_result_is_not_fused():
    inp = bigcore.Input((6,))
    capped = bigcore.Model(inp, layers.ReLU(max_value=6.0)(layers.BatchNormalization()(inp)))
    assert "ReluOp" in _op_types(capped)
    inp = bigcore.Input((6,))
    h = layers.BatchNormalization()(inp)
    shared = bigcore.Model(inp, layers.Add()([layers.ReLU()(h), h]))
    assert "ReluOp" in _op_types(shared)
    x = np.random.default_rng(3).normal(size=(10, 6)).astype(np.float32)
    got = shared.predict(x, verbose=0)
    np.testing.assert_allclose(got, np.maximum(x, 0) + x, rtol=1e-3, atol=1e-3)  # fresh BN: x / sqrt(1 + eps)
    inp = bigcore.Input((6,))
    h = layers.BatchNormalization()(inp)
    both = bigcore.Model(inp, [layers.ReLU()(h), h])  # the normalized values leave the model too
    assert "ReluOp" in _op_types(both)
    a, b = both.predict(x, verbose=0)
    np.testing.assert_array_equal(a, np.maximum(b, 0))


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_batch_statistics_over_many_row_blocks_match_float64(masked):
    rng = np.random.default_rng(4)
    offsets = rng.uniform(-3.0, 3.0, size=(50, 1, 1))  # the blocks' means differ: their offsets count
    x = (1e3 + offsets + rng.normal(scale=0.5, size=(50, 90, 3)) * rng.uniform(0.5, 2.0, size=(50, 1, 1)))
    x = x.astype(np.float32)
    keep = np.ones((50, 90), bool)
    if masked:
        for b in range(50):
            keep[b, rng.integers(10, 90):] = False
        x[~keep] = 0.0
    inp = bigcore.Input((90, 3))
    bn = layers.BatchNormalization(momentum=0.0)  # the moving statistics become the batch's own
    model = bigcore.Model(inp, bn(layers.Masking(0.0)(inp) if masked else inp))
    model.compile(optimizer=bigcore.optimizers.SGD(0.0), loss="mse")
    model.train_on_batch(x, np.zeros_like(x))  # 4500 rows: five blocks, the last partial
    rows = x.astype(np.float64)[keep]
    n = rows.shape[0] + (1e-7 if masked else 0.0)
    mean = rows.sum(0) / n
    var = ((rows - mean) ** 2).sum(0) / n
    moving_mean, moving_var = bn.get_weights()[2:]
    np.testing.assert_allclose(moving_mean, mean, rtol=1e-6)
    np.testing.assert_allclose(moving_var, var, rtol=1e-4)
