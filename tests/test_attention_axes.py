"""MultiHeadAttention on inputs of rank > 3 and its attention_axes: against a float64 NumPy reference
of Keras's formulas and against Keras 3 (same weights: same outputs and scores, same weights after
SGD steps), run-time lengths, the attention_mask and causal mask as Keras broadcasts them, config
and file round trips (a Keras weight file loads), and the refusals."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from keras_training_checks import trains_like_keras
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(0)
HEADS, KD, VD = 2, 3, 4


def _np(t):
    if isinstance(t, (list, tuple)):
        return [_np(a) for a in t]
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


def _softmax_masked(s, keep):
    """Keras's masked softmax over the last axis: blanked keys get 0, a row with all blanked gives 0."""
    s = np.where(keep, s, -np.inf)
    top = np.max(s, axis=-1, keepdims=True)
    e = np.where(keep, np.exp(s - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = e.sum(-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def reference(w, q, v, k, axes, mask=None):
    """Keras's MultiHeadAttention in float64. axes: normalized; mask: (batch, *other, *q axes, *k axes)
    bool or None. Returns (output, scores in Keras's layout)."""
    w = [np.asarray(a, np.float64) for a in w]
    wq, bq, wk, bk, wv, bv, wo, bo = w
    q, v, k = (np.asarray(a, np.float64) for a in (q, v, k))
    rank = q.ndim
    others = [a for a in range(1, rank - 1) if a not in axes]
    Q = np.einsum("...f,fnh->...nh", q, wq) + bq
    K = np.einsum("...f,fnh->...nh", k, wk) + bk
    V = np.einsum("...f,fnh->...nh", v, wv) + bv

    def heads_first(x):  # (B, *others, N, *axes, H) -> (B, O, N, P, H)
        t = np.transpose(x, [0] + others + [rank - 1] + list(axes) + [rank])
        b, o, p = t.shape[0], int(np.prod(t.shape[1:1 + len(others)])), int(np.prod(t.shape[2 + len(others):-1]))
        return t.reshape(b, o, t.shape[1 + len(others)], p, t.shape[-1]), t.shape
    Qf, q_shape = heads_first(Q)
    Kf, k_shape = heads_first(K)
    Vf, _ = heads_first(V)
    s = np.einsum("bonqh,bonkh->bonqk", Qf, Kf) / np.sqrt(KD)
    keep = np.ones(s.shape, bool)
    if mask is not None:
        keep = np.broadcast_to(mask.reshape(mask.shape[0], s.shape[1], 1, s.shape[3], s.shape[4]), s.shape)
    p = _softmax_masked(s, keep)
    o = np.einsum("bonqk,bonkh->bonqh", p, Vf)
    o = o.reshape(q_shape[:-1] + (VD,))
    inv = np.argsort([0] + others + [rank - 1] + list(axes) + [rank])
    o = np.transpose(o, inv)  # (B, a1..an, N, VD)
    out = np.einsum("...nh,nho->...o", o, wo) + bo
    scores = p.reshape(q_shape[:1] + q_shape[1:1 + len(others)] + (HEADS,) + q_shape[2 + len(others):-1]
                       + k_shape[2 + len(others):-1])
    return out, scores


def weights(qf, vf, kf, out_dim):
    return [RNG.normal(size=s).astype(np.float32) * 0.5 for s in
            [(qf, HEADS, KD), (HEADS, KD), (kf, HEADS, KD), (HEADS, KD), (vf, HEADS, VD), (HEADS, VD),
             (HEADS, VD, out_dim), (out_dim,)]]


def model(lib, qs, vs, ks, axes, scores=True, causal=False, mask_shape=None, **kw):
    """A functional model of lib: inputs query, value(, key)(, attention_mask); outputs (out, scores)."""
    q, v = lib.Input(qs), lib.Input(vs)
    ins, call = [q, v], {}
    if ks is not None:
        ins.append(lib.Input(ks))
        call["key"] = ins[-1]
    if mask_shape is not None:
        ins.append(lib.Input(mask_shape, dtype="bool"))
        call["attention_mask"] = ins[-1]
    mha = lib.layers.MultiHeadAttention(HEADS, KD, value_dim=VD, attention_axes=axes, name="mha", **kw)
    out = mha(q, v, return_attention_scores=scores, use_causal_mask=causal, **call)
    return lib.Model(ins, list(out) if scores else out)


# (query shape, value shape, key shape or None, attention_axes, normalized axes) without the batch
CASES = [
    ((3, 4, 5), (3, 4, 5), None, None, (1, 2)),
    ((3, 4, 5), (3, 4, 5), None, (1,), (1,)),
    ((3, 4, 5), (3, 4, 5), None, (2,), (2,)),
    ((3, 4, 5), (3, 4, 5), None, (1, 2), (1, 2)),
    ((3, 4, 5), (3, 4, 5), None, -2, (2,)),
    ((3, 4, 5), (3, 4, 5), None, (-3,), (1,)),
    ((3, 4, 5), (3, 6, 7), (3, 6, 2), (2,), (2,)),      # key != value; other lengths on the attention axis
    ((3, 4, 5), (5, 4, 7), None, [1], (1,)),            # a list, as a loaded config gives it
    ((2, 3, 5), (4, 2, 5), None, None, (1, 2)),          # the query shorter than the value on both axes
    ((2, 3, 4, 5), (2, 3, 4, 5), None, None, (1, 2, 3)),
    ((2, 3, 4, 5), (2, 3, 4, 5), None, (1, 3), (1, 3)),
    ((2, 3, 4, 5), (2, 3, 4, 5), None, (3, 1), (3, 1)),  # the scores' axes in the given order
    ((2, 3, 4, 5), (2, 5, 4, 6), (2, 5, 4, 3), (2,), (2,)),
    ((2, 3, 4, 5), (2, 3, 4, 5), None, (-2, -3), (3, 2)),
]


@pytest.mark.parametrize("qs,vs,ks,axes,norm", CASES)
def test_matches_reference_and_keras(keras, qs, vs, ks, axes, norm):
    B = 2
    xs = [RNG.normal(size=(B,) + s).astype(np.float32) for s in (qs, vs) + ((ks,) if ks else ())]
    w = weights(qs[-1], vs[-1], (ks or vs)[-1], qs[-1])
    ours = model(bigcore, qs, vs, ks, axes)
    ours.set_weights(w)
    out, sc = ours.predict(xs, verbose=0)
    want_out, want_sc = reference(w, xs[0], xs[1], xs[2] if ks else xs[1], norm)
    assert out.shape == want_out.shape and sc.shape == want_sc.shape
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, want_sc, rtol=1e-4, atol=1e-6)
    assert ours.get_layer("mha").get_config()["attention_axes"] == norm
    theirs = model(keras, qs, vs, ks, axes)
    theirs.set_weights(w)
    k_out, k_sc = _np(theirs.predict(xs, verbose=0))
    np.testing.assert_allclose(out, k_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, k_sc, rtol=1e-4, atol=1e-6)
    assert tuple(theirs.get_layer("mha").get_config()["attention_axes"]) == norm


@pytest.mark.parametrize("qs,vs,axes,mask_shape,full", [
    ((3, 4, 5), (3, 6, 5), (2,), (3, 4, 6), True),         # (batch, other, Tq, S)
    ((3, 4, 5), (3, 6, 5), (2,), (4, 6), False),           # (batch, Tq, S): the same for every other position
    ((3, 4, 5), (3, 4, 5), None, (3, 4, 3, 4), True),      # every axis: (batch, *q axes, *k axes)
    ((2, 3, 4, 5), (2, 3, 4, 5), (1, 3), (3, 2, 4, 2, 4), True),
    ((2, 3, 4, 5), (2, 3, 4, 5), (3,), (1, 4, 4), False),  # a broadcast (1,) other axis
])
def test_attention_mask(keras, qs, vs, axes, mask_shape, full):
    B = 3
    xq, xv = (RNG.normal(size=(B,) + s).astype(np.float32) for s in (qs, vs))
    m = RNG.random((B,) + mask_shape) > 0.35
    m[0] = False  # every key blanked: the rows give 0, as Keras's explicit softmax path
    w = weights(qs[-1], vs[-1], vs[-1], qs[-1])
    ours = model(bigcore, qs, vs, None, axes, mask_shape=mask_shape)
    ours.set_weights(w)
    out, sc = ours.predict([xq, xv, m], verbose=0)
    norm = ours.get_layer("mha").attention_axes
    others = [a for a in range(1, len(qs)) if a not in norm]
    # Keras: the mask's leading axes are the batch's and the other axes', the rest the attention axes'
    lead = m.ndim - 2 * len(norm)
    shape = (B,) + tuple(qs[a - 1] for a in others) + tuple(qs[a - 1] for a in norm) + tuple(vs[a - 1] for a in norm)
    full_mask = np.broadcast_to(m.reshape(m.shape[:lead] + (1,) * (1 + len(others) - lead) + m.shape[lead:]), shape)
    want_out, want_sc = reference(w, xq, xv, xv, norm, full_mask)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, want_sc, rtol=1e-4, atol=1e-6)
    assert np.all(sc[0] == 0)
    theirs = model(keras, qs, vs, None, axes, mask_shape=mask_shape)
    theirs.set_weights(w)
    k_out, k_sc = _np(theirs.predict([xq, xv, m], verbose=0))
    np.testing.assert_allclose(out, k_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, k_sc, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape,axes", [((4, 3, 5), (1,)), ((4, 4, 5), (2,)), ((3, 2, 3, 5), (3,))])
def test_causal_mask_over_one_axis(keras, shape, axes):
    """Keras's (1, T, S) triangle of axis 1's lengths, over the one attention axis."""
    x = RNG.normal(size=(2,) + shape).astype(np.float32)
    w = weights(shape[-1], shape[-1], shape[-1], shape[-1])
    ours = model(bigcore, shape, shape, None, axes, causal=True)
    ours.set_weights(w)
    out, sc = ours.predict([x, x], verbose=0)
    a = axes[0]
    others = [b for b in range(1, len(shape)) if b != a]
    tri = np.tril(np.ones((shape[a - 1], shape[a - 1]), bool))
    mask = np.broadcast_to(tri, (2,) + tuple(shape[b - 1] for b in others) + tri.shape)
    want_out, want_sc = reference(w, x, x, x, axes, mask)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, want_sc, rtol=1e-4, atol=1e-6)
    assert np.all(np.triu(sc[..., :, :], 1) == 0)
    theirs = model(keras, shape, shape, None, axes, causal=True)
    theirs.set_weights(w)
    k_out, k_sc = _np(theirs.predict([x, x], verbose=0))
    np.testing.assert_allclose(out, k_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, k_sc, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("qs,vs,explicit,with_amask", [
    ((3, 4, 5), (3, 6, 5), False, False),   # Masking's masks on the query and the value
    ((3, 4, 5), (3, 6, 5), True, True),     # an explicit value_mask, and an attention_mask
    ((2, 3, 4, 5), (2, 3, 6, 5), False, True),
])
def test_keras_masks_over_the_last_axis(keras, qs, vs, explicit, with_amask):
    """Keras's (batch, ..., Tq, 1) & (batch, ..., 1, S) fits the scores when attention runs over the last
    axis before the features: the same outputs, scores and output mask as Keras."""
    B, axes = 3, (len(qs) - 1,)
    xq, xv = (RNG.normal(size=(B,) + s).astype(np.float32) for s in (qs, vs))
    xq[0, ..., 1, :] = 0
    xv[1, ..., 0, :] = 0
    xv[2] = 0  # every key blanked: rows of 0
    vmask = np.any(xv != 0, -1)
    am = RNG.random((B,) + qs[:-1] + vs[-2:-1]) > 0.3
    w = weights(qs[-1], vs[-1], vs[-1], qs[-1])

    def build(lib):
        q, v = lib.Input(qs), lib.Input(vs)
        ins, kw = [q, v], {}
        vv = v
        if explicit:
            ins.append(lib.Input(vs[:-1], dtype="bool"))
            kw["value_mask"] = ins[-1]
        else:
            vv = lib.layers.Masking()(v)
        if with_amask:
            ins.append(lib.Input(am.shape[1:], dtype="bool"))
            kw["attention_mask"] = ins[-1]
        mha = lib.layers.MultiHeadAttention(HEADS, KD, value_dim=VD, attention_axes=axes, name="mha")
        out = mha(lib.layers.Masking()(q), vv, return_attention_scores=True, **kw)
        return lib.Model(ins, list(out))
    data = [xq, xv] + ([vmask] if explicit else []) + ([am] if with_amask else [])
    ours, theirs = build(bigcore), build(keras)
    ours.set_weights(w)
    theirs.set_weights(w)
    out, sc = ours.predict(data, verbose=0)
    mask = np.any(xq != 0, -1)[..., :, None] & vmask[..., None, :]
    if with_amask:
        mask = mask & am
    want_out, want_sc = reference(w, xq, xv, xv, axes, mask)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, want_sc, rtol=1e-4, atol=1e-6)
    assert np.all(sc[2] == 0)
    k_out, k_sc = _np(theirs.predict(data, verbose=0))
    np.testing.assert_allclose(out, k_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sc, k_sc, rtol=1e-4, atol=1e-6)
    assert ours.get_layer("mha").output[0]._keras_mask is not None  # the query's mask, as Keras sets it


def test_run_time_lengths_attention_over_every_axis(keras):
    """Input((None, None, features)): one program for every length, flattened per call."""
    ours = model(bigcore, (None, None, 5), (None, None, 5), None, None, scores=False)
    theirs = model(keras, (None, None, 5), (None, None, 5), None, None, scores=False)
    w = weights(5, 5, 5, 5)
    ours.set_weights(w)
    theirs.set_weights(w)
    for shape in ((2, 3, 4, 5), (3, 2, 6, 5), (1, 5, 1, 5)):
        xq = RNG.normal(size=shape).astype(np.float32)
        xv = RNG.normal(size=shape[:1] + (2, 3) + shape[-1:]).astype(np.float32)
        out = ours.predict([xq, xv], verbose=0)
        want, _ = reference(w, xq, xv, xv, (1, 2))
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out, _np(theirs.predict([xq, xv], verbose=0)), rtol=1e-4, atol=1e-5)


def test_eager_call_on_arrays():
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    mha = layers.MultiHeadAttention(HEADS, KD, value_dim=VD, attention_axes=2)
    out, sc = mha(x, x, return_attention_scores=True)
    want_out, want_sc = reference(mha.get_weights(), x, x, x, (2,))
    np.testing.assert_allclose(np.asarray(out), want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(sc), want_sc, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape,axes,out_shape", [((3, 4, 5), (2,), None), ((3, 4, 5), None, (2, 3)),
                                                  ((2, 2, 3, 4), (1, 3), None)])
def test_sgd_steps_like_keras(keras, shape, axes, out_shape):
    x = RNG.normal(size=(8,) + shape).astype(np.float32)
    tail = out_shape or shape[-1:]
    y = RNG.normal(size=(8,) + shape[:-1] + tuple(tail)).astype(np.float32)

    def build(lib):
        inp = lib.Input(shape)
        mha = lib.layers.MultiHeadAttention(HEADS, KD, attention_axes=axes, output_shape=out_shape)
        return lib.Model(inp, mha(inp, inp))
    trains_like_keras(keras, build, x, y, learning_rate=0.1)


def test_config_and_file_round_trips(tmp_path, keras):
    """from_config, a .bigcore file and a .keras file keep attention_axes; a Keras weight file loads."""
    qs = (3, 4, 5)
    xs = [RNG.normal(size=(2,) + qs).astype(np.float32)] * 2
    ours = model(bigcore, qs, qs, None, -2, mask_shape=None)
    want = ours.predict(xs, verbose=0)
    mha = ours.get_layer("mha")
    clone = layers.MultiHeadAttention.from_config(mha.get_config())
    assert clone.attention_axes == (2,)
    path = str(tmp_path / "m.bigcore")
    ours.save(path)
    loaded = bigcore.models.load_model(path)
    assert loaded.get_layer("mha").get_config()["attention_axes"] == (2,)
    for a, b in zip(want, loaded.predict(xs, verbose=0)):
        np.testing.assert_array_equal(a, b)
    ours.save(str(tmp_path / "ours.keras"))
    theirs = keras.models.load_model(str(tmp_path / "ours.keras"))  # Keras reads our file
    for a, b in zip(want, _np(theirs.predict(xs, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # a Keras model's weight file into ours
    k_model = model(keras, qs, qs, None, (2,))
    k_model.set_weights(weights(5, 5, 5, 5))
    k_model.save_weights(str(tmp_path / "k.weights.h5"))
    fresh = model(bigcore, qs, qs, None, (2,))
    fresh.load_weights(str(tmp_path / "k.weights.h5"))
    for a, b in zip(fresh.predict(xs, verbose=0), _np(k_model.predict(xs, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _call(qs, vs=None, axes=None, **kw):
    q = bigcore.Input(qs)
    v = q if vs is None else bigcore.Input(vs)
    return layers.MultiHeadAttention(HEADS, KD, attention_axes=axes)(q, v, **kw)


@pytest.mark.parametrize("qs,axes,match", [
    ((3, 4, 5), (0,), "between the batch and the features"),
    ((3, 4, 5), (3,), "between the batch and the features"),
    ((3, 4, 5), (-1,), "between the batch and the features"),   # Keras attends over the heads there
    ((3, 4, 5), (-4,), "between the batch and the features"),   # Keras attends over the batch there
    ((3, 5), (-3,), "between the batch and the features"),
    ((3, 4, 5), (1, 1), "distinct"),
])
def test_refuses_axes_outside_the_attention_axes(qs, axes, match):
    with pytest.raises(ValueError, match=match):
        _call(qs, axes=axes)


def test_refuses_non_int_axes():
    with pytest.raises(ValueError, match="must hold ints"):
        layers.MultiHeadAttention(HEADS, KD, attention_axes=(1.0,))
    with pytest.raises(ValueError, match="int, list, or tuple"):
        layers.MultiHeadAttention(HEADS, KD, attention_axes="1")


def test_refusals_of_rank_above_3():
    with pytest.raises(ValueError, match="several attention axes"):
        _call((3, 4, 5), use_causal_mask=True)
    with pytest.raises(ValueError, match="axis 1's lengths"):
        _call((3, 4, 5), axes=(2,), use_causal_mask=True)
    with pytest.raises(ValueError, match="same length on axis 1"):
        _call((3, 4, 5), (5, 4, 5), axes=(2,))
    with pytest.raises(ValueError, match="same rank"):
        _call((3, 4, 5), (4, 5))
    with pytest.raises(ValueError, match="Keras masks .query's mask. on inputs of rank 4 are supported with attention "
                                         "over the last axis"):
        x = bigcore.Input((3, 4, 5))
        layers.MultiHeadAttention(HEADS, KD)(layers.Masking()(x), x)
    with pytest.raises(ValueError, match=r"Keras masks \(value_mask\) on inputs of rank 4"):
        x = bigcore.Input((3, 4, 5))
        layers.MultiHeadAttention(HEADS, KD, attention_axes=1)(x, x, value_mask=bigcore.Input((3, 4)))
    with pytest.raises(ValueError, match=r"value_mask must be \(batch, \*value axes\)"):
        x = bigcore.Input((3, 4, 5))
        layers.MultiHeadAttention(HEADS, KD, attention_axes=2)(x, x, value_mask=bigcore.Input((3,)))
    with pytest.raises(ValueError, match="run-time lengths"):
        _call((None, 4, 5), axes=(2,))
    with pytest.raises(ValueError, match="return_attention_scores=True"):
        _call((None, None, 5), return_attention_scores=True)
    with pytest.raises(ValueError, match="per-head masks"):
        x, m = bigcore.Input((3, 4, 5)), bigcore.Input((3, HEADS, 4, 4))
        bigcore.Model([x, m], layers.MultiHeadAttention(HEADS, KD, attention_axes=2)(x, x, attention_mask=m)).predict(
            [np.zeros((1, 3, 4, 5), np.float32), np.ones((1, 3, HEADS, 4, 4), np.float32)], verbose=0)
    with pytest.raises(ValueError, match="3-D"):
        layers.GroupQueryAttention(2, 2, 1)(bigcore.Input((3, 4, 5)), bigcore.Input((3, 4, 5)))


def test_keras_file_of_rank_4_loads(tmp_path, keras):
    """A .keras file Keras wrote (MultiHeadAttention over axis 2 of rank-4 inputs) loads and predicts the same."""
    k_model = model(keras, (3, 4, 5), (3, 6, 5), None, (2,))
    k_model.set_weights(weights(5, 5, 5, 5))
    k_model.save(str(tmp_path / "k.keras"))
    ours = bigcore.models.load_model(str(tmp_path / "k.keras"))
    assert ours.get_layer("mha").attention_axes == (2,)
    xs = [RNG.normal(size=(2, 3, 4, 5)).astype(np.float32), RNG.normal(size=(2, 3, 6, 5)).astype(np.float32)]
    for a, b in zip(ours.predict(xs, verbose=0), _np(k_model.predict(xs, verbose=0))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_onnx_export_refuses_rank_4():
    pytest.importorskip("onnx")
    x = bigcore.Input((3, 4, 5))
    m = bigcore.Model(x, layers.MultiHeadAttention(HEADS, KD, attention_axes=2)(x, x))
    with pytest.raises(NotImplementedError, match="rank 4"):
        bigcore.export.to_onnx(m)
