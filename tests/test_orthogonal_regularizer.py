"""keras.regularizers.OrthogonalRegularizer: factor times the mean |dot product| between the
L2-normalized rows (or columns) of a 2-D weight. Written in ops, it trains through the program's
penalty path; checked against Keras 3 (same weights and losses after SGD steps) and numpy."""

import numpy as np
import pytest

import bigcore
from bigcore import regularizers

rng = np.random.default_rng(3)
X = rng.normal(size=(16, 5)).astype(np.float32)
Y = rng.normal(size=(16, 4)).astype(np.float32)
INIT = [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32)]


def _reference(w, factor, mode):
    v = np.asarray(w, np.float64)
    v = v if mode == "rows" else v.T
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    p = v @ v.T
    n = p.shape[0]
    return factor * 0.5 * np.abs(p * (1 - np.eye(n))).sum() / (n * (n - 1) / 2)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_value_matches_numpy(mode):
    w = rng.normal(size=(6, 3)).astype(np.float32)
    got = float(np.asarray(regularizers.OrthogonalRegularizer(0.3, mode)(w)))
    assert got == pytest.approx(_reference(w, 0.3, mode), rel=1e-5)


def _train(mod, reg):
    inp = mod.Input((5,))
    model = mod.Model(inp, mod.layers.Dense(4, kernel_regularizer=reg)(inp))
    model.set_weights(INIT)
    model.compile(optimizer=mod.optimizers.SGD(0.1), loss="mse")
    hist = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    values = [w.value.detach().cpu().numpy() if mod is not bigcore else w.numpy() for w in model.weights]
    return values, hist.history["loss"]


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_trains_as_keras(keras, mode):
    ours, our_loss = _train(bigcore, regularizers.OrthogonalRegularizer(0.5, mode))
    theirs, their_loss = _train(keras, keras.regularizers.OrthogonalRegularizer(0.5, mode))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-4)
    plain, _ = _train(bigcore, None)
    assert not np.allclose(plain[0], ours[0], atol=1e-4)  # the penalty moved the kernel


def test_names_config_and_saving(tmp_path):
    assert isinstance(regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer)
    reg = regularizers.deserialize(regularizers.serialize(regularizers.OrthogonalRegularizer(0.2, "columns")))
    assert (reg.factor, reg.mode) == (0.2, "columns")
    inp = bigcore.Input((5,))
    model = bigcore.Model(inp, bigcore.layers.Dense(4, kernel_regularizer=regularizers.OrthogonalRegularizer(0.2))(inp))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = bigcore.models.load_model(path)
    got = loaded.layers[-1].kernel_regularizer
    assert isinstance(got, regularizers.OrthogonalRegularizer) and (got.factor, got.mode) == (0.2, "rows")


def test_misuse_raises():
    with pytest.raises(ValueError, match="mode"):
        regularizers.OrthogonalRegularizer(0.1, mode="diagonal")
    with pytest.raises(ValueError, match="factor"):
        regularizers.OrthogonalRegularizer(-1.0)
    with pytest.raises(ValueError, match="rank 2"):
        regularizers.OrthogonalRegularizer(0.1)(np.ones((2, 2, 2), np.float32))
