"""Keras 3's correlation metrics (PearsonCorrelation, ConcordanceCorrelation and their functions),
keras.metrics.serialize / deserialize, and the losses CategoricalGeneralizedCrossEntropy and
Circle: float64 NumPy references, Keras parity of values, of the running state over batches and of
training, and bad arguments."""

import numpy as np
import pytest

import bigcore
from bigcore import metrics

EPS = 1e-7


def pearson_ref(t, p, axis=-1):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    tn = t - t.mean(axis=axis, keepdims=True)
    pn = p - p.mean(axis=axis, keepdims=True)
    return (tn / tn.std(axis=axis, keepdims=True) * pn / pn.std(axis=axis, keepdims=True)).mean(axis=axis)


def concordance_ref(t, p, axis=-1):
    """Keras's formula as written (its covariance centres y_true on y_pred's mean)."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    mt, mp = t.mean(axis=axis, keepdims=True), p.mean(axis=axis, keepdims=True)
    vt, vp = (t - mt).var(axis=axis, keepdims=True), (p - mp).var(axis=axis, keepdims=True)
    cov = (t - mp) * (p - mp)
    return (2 * cov / (vt + vp + (mt - mp) ** 2 + EPS)).mean(axis=axis)


def _data(rng, shape=(6, 5)):
    t = rng.normal(size=shape).astype(np.float32)
    return t, (t + rng.normal(size=shape)).astype(np.float32)


@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 1)])
def test_correlation_functions_match_numpy(axis):
    t, p = _data(np.random.default_rng(0))
    np.testing.assert_allclose(metrics.pearson_correlation(t, p, axis=axis), pearson_ref(t, p, axis), rtol=1e-5)
    np.testing.assert_allclose(metrics.concordance_correlation(t, p, axis=axis), concordance_ref(t, p, axis),
                               rtol=1e-5, atol=1e-6)


def test_correlation_metrics_running_state_matches_numpy():
    rng = np.random.default_rng(1)
    pm, cm = metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation()
    values, weights = [], []
    for _ in range(3):
        t, p = _data(rng)
        w = rng.uniform(size=6).astype(np.float32)
        pm.update_state(t, p, sample_weight=w)
        cm.update_state(t, p, sample_weight=w)
        values.append((pearson_ref(t, p), concordance_ref(t, p)))
        weights.append(w)
    w = np.concatenate(weights)
    assert pm.result() == pytest.approx(np.sum(np.concatenate([v[0] for v in values]) * w) / w.sum(), rel=1e-5)
    assert cm.result() == pytest.approx(np.sum(np.concatenate([v[1] for v in values]) * w) / w.sum(), rel=1e-5)
    pm.reset_state()
    assert pm.result() == 0.0


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
def test_correlation_metrics_match_keras(keras, axis):
    rng = np.random.default_rng(2)
    for name in ("PearsonCorrelation", "ConcordanceCorrelation"):
        b, k = getattr(metrics, name)(axis=axis), getattr(keras.metrics, name)(axis=axis)
        for _ in range(3):
            t, p = _data(rng)
            w = rng.uniform(size=6).astype(np.float32) if axis == -1 else None
            b.update_state(t, p, sample_weight=w)
            k.update_state(t, p, sample_weight=w)
        assert float(b.result()) == pytest.approx(float(k.result()), rel=1e-5), name
        assert b.get_config() == {k_: v for k_, v in k.get_config().items()}
    t, p = _data(rng)
    np.testing.assert_allclose(metrics.pearson_correlation(t, p, axis=axis),
                               keras.metrics.pearson_correlation(t, p, axis=axis).numpy(), rtol=1e-5)
    np.testing.assert_allclose(metrics.concordance_correlation(t, p, axis=axis),
                               keras.metrics.concordance_correlation(t, p, axis=axis).numpy(), rtol=1e-5, atol=1e-6)


def test_correlation_metrics_in_compile_match_keras(keras):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    y = (x @ rng.normal(size=(6, 4))).astype(np.float32)

    def build(lib):
        inp = lib.Input((6,))
        return lib.Model(inp, lib.layers.Dense(4)(inp))

    km, bm = build(keras), build(bigcore)
    bm.set_weights([w.value.detach().cpu().numpy() for w in km.weights])
    bm.compile(optimizer="adam", loss="mse", metrics=[metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation(),
                                                      "pearson_correlation"])
    km.compile(optimizer="adam", loss="mse", metrics=[keras.metrics.PearsonCorrelation(),
                                                      keras.metrics.ConcordanceCorrelation()])
    got = bm.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)  # 4 batches: the state runs over them
    want = {k: float(v) for k, v in km.evaluate(x, y, batch_size=8, verbose=0, return_dict=True).items()}
    for name in ("loss", "pearson_correlation", "concordance_correlation"):
        assert got[name] == pytest.approx(want[name], rel=1e-5), name


def test_metrics_serialize_deserialize(keras):
    m = metrics.PearsonCorrelation(axis=1, name="p")
    s = metrics.serialize(m)
    assert s == keras.metrics.serialize(keras.metrics.PearsonCorrelation(axis=1, name="p"))
    back = metrics.deserialize(s)
    assert isinstance(back, metrics.PearsonCorrelation) and back.get_config() == m.get_config()
    kc = metrics.deserialize(keras.metrics.serialize(keras.metrics.ConcordanceCorrelation(axis=0)))
    assert isinstance(kc, metrics.ConcordanceCorrelation) and kc.axis == 0
    assert isinstance(metrics.deserialize("pearson_correlation"), metrics.PearsonCorrelation)
    fn = metrics.serialize(metrics.pearson_correlation)
    assert fn == keras.metrics.serialize(keras.metrics.pearson_correlation)
    assert metrics.deserialize(fn) is metrics.pearson_correlation
    prec = metrics.deserialize(metrics.serialize(metrics.Precision(thresholds=0.3)))
    assert isinstance(prec, metrics.Precision) and prec.thresholds == metrics.Precision(thresholds=0.3).thresholds
    assert metrics.deserialize("mine", custom_objects={"mine": metrics.Accuracy}).name == "accuracy"
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.deserialize({"class_name": "NoSuchMetric", "config": {}})
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.deserialize("no_such_metric")
    with pytest.raises(TypeError, match="serialize"):
        metrics.serialize(3)
    with pytest.raises(ValueError, match="axis"):
        metrics.PearsonCorrelation(axis="x")


def gce_ref(labels, p, q):
    p = np.asarray(p, np.float64)[np.arange(len(labels)), np.asarray(labels).reshape(-1)]
    return (1 - p ** q) / q


def test_generalized_cross_entropy_matches_numpy_and_keras(keras):
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(5), size=8).astype(np.float32)
    lab = rng.integers(0, 5, 8)
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_allclose(bigcore.losses.categorical_generalized_cross_entropy(lab, p, q=q),
                                   gce_ref(lab, p, q), rtol=1e-5)
        for red in ("sum_over_batch_size", "sum", "none"):
            got = bigcore.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=red)(lab, p)
            want = keras.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=red)(lab, p)
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-5)
    loss = bigcore.losses.CategoricalGeneralizedCrossEntropy(q=0.3)
    assert loss.get_config() == {"name": "categorical_generalized_cross_entropy", "reduction": "sum_over_batch_size",
                                 "q": 0.3}
    assert bigcore.losses.deserialize(bigcore.losses.serialize(loss)).q == 0.3
    for bad in (0, 1, 1.5, -0.2, "a"):
        with pytest.raises(ValueError, match="q must be"):
            bigcore.losses.CategoricalGeneralizedCrossEntropy(q=bad)


def test_generalized_cross_entropy_training_matches_keras(keras, isa):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    y = rng.integers(0, 4, 32)

    def build(lib):
        inp = lib.Input((6,))
        return lib.Model(inp, lib.layers.Dense(4, activation="softmax")(inp))

    km, bm = build(keras), build(bigcore)
    bm.set_weights([w.value.detach().cpu().numpy() for w in km.weights])
    bm.compile(optimizer=bigcore.optimizers.Adam(0.01), loss=bigcore.losses.CategoricalGeneralizedCrossEntropy(q=0.7))
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.CategoricalGeneralizedCrossEntropy(q=0.7))
    hb = bm.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    hk = km.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    np.testing.assert_allclose(hb.history["loss"], hk.history["loss"], rtol=1e-5)
    for a, b in zip(bm.get_weights(), km.weights):
        np.testing.assert_allclose(a, b.value.detach().cpu().numpy(), atol=1e-4)


def circle_ref(labels, emb, gamma=80.0, margin=0.4, remove_diagonal=True):
    e = np.asarray(emb, np.float64)
    lab = np.asarray(labels).reshape(-1)
    d = np.maximum(1 - e @ e.T, 0)
    pos = lab[:, None] == lab[None, :]
    neg = ~pos
    if remove_diagonal:
        pos &= ~np.eye(len(lab), dtype=bool)
    out = []
    for i in range(len(lab)):
        pw = np.maximum(margin + d[i], 0) * pos[i]
        nw = np.maximum(1 + margin - d[i], 0) * neg[i]
        pl = [-gamma * pw[j] * (margin - d[i, j]) for j in range(len(lab)) if pos[i, j]]
        nl = [gamma * nw[j] * ((1 - margin) - d[i, j]) for j in range(len(lab)) if neg[i, j]]
        s = (np.logaddexp.reduce(pl) if pl else -np.inf) + (np.logaddexp.reduce(nl) if nl else -np.inf)
        out.append(np.logaddexp(0, s))
    return np.array(out)


def test_circle_matches_numpy_and_keras(keras):
    rng = np.random.default_rng(6)
    e = rng.normal(size=(10, 4)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    lab = rng.integers(0, 3, 10)
    lab[9] = 7  # a class of one: no positive pair, loss 0, masked out of the mean
    for kw in ({}, {"gamma": 10.0, "margin": 0.25}, {"remove_diagonal": False}):
        np.testing.assert_allclose(bigcore.losses.circle(lab, e, **kw), circle_ref(lab, e, **kw), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(bigcore.losses.circle(lab, e, **kw), keras.losses.circle(lab, e, **kw).numpy(),
                                   rtol=1e-5, atol=1e-5)
        for red in ("sum_over_batch_size", "sum", "none"):
            w = rng.uniform(size=10).astype(np.float32)
            got = bigcore.losses.Circle(reduction=red, **kw)(lab, e, sample_weight=w)
            want = keras.losses.Circle(reduction=red, **kw)(lab, e, sample_weight=w)
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, err_msg=str((kw, red)))
    ref = rng.normal(size=(5, 4)).astype(np.float32)
    rl = rng.integers(0, 3, 5)
    np.testing.assert_allclose(bigcore.losses.circle(lab, e, ref_labels=rl, ref_embeddings=ref, remove_diagonal=False),
                               keras.losses.circle(lab, e, ref_labels=rl, ref_embeddings=ref,
                                                   remove_diagonal=False).numpy(), rtol=1e-5, atol=1e-5)
    c = bigcore.losses.Circle(gamma=30.0)
    assert c.get_config() == {"name": "circle", "reduction": "sum_over_batch_size", "gamma": 30.0, "margin": 0.4,
                              "remove_diagonal": True}


def test_circle_refuses_a_compiled_model_clearly():
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, bigcore.layers.UnitNormalization()(bigcore.layers.Dense(4)(inp)))
    model.compile(optimizer="adam", loss=bigcore.losses.Circle())
    with pytest.raises(NotImplementedError, match="circle"):
        model.fit(np.zeros((8, 4), np.float32), np.zeros((8,), np.float32), verbose=0)
