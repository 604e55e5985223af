"""The rest of the everyday Keras layer set through the one harness (tests/layer_test.py):
RepeatVector, Permute, ZeroPadding/Cropping/UpSampling 1D/2D, Masking, the regularizing noise layers,
Layer/Group/Unit normalization and TimeDistributed; plus what the harness cannot see: the noise
layers' statistics and gradients in training, Masking feeding an LSTM, and TimeDistributed over
Dense, Conv2D and a layer with weights shared outside it."""

import numpy as np
import pytest

import bigcore
import reference as ref
import reference_conv as cref
from bigcore import layers
from layer_test import KERAS_WARNING, mask_pattern, pass_mask, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def optional_keras(request):
    try:
        return request.getfixturevalue("keras")
    except pytest.skip.Exception:
        return None


# --------------------------------------------------------------------------- index maps

MOVES = [
    (layers.RepeatVector, {"n": 3}, (4, 5), lambda x: np.repeat(x[:, None], 3, axis=1)),
    (layers.Permute, {"dims": (2, 1)}, (3, 4, 5), lambda x: x.transpose(0, 2, 1)),
    (layers.Permute, {"dims": (3, 1, 2)}, (2, 3, 4, 5), lambda x: x.transpose(0, 3, 1, 2)),
    (layers.ZeroPadding1D, {}, (3, 4, 5), lambda x: np.pad(x, ((0, 0), (1, 1), (0, 0)))),
    (layers.ZeroPadding1D, {"padding": (0, 2)}, (3, 4, 5), lambda x: np.pad(x, ((0, 0), (0, 2), (0, 0)))),
    (layers.ZeroPadding2D, {}, (2, 3, 4, 2), lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    (layers.ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (2, 3, 4, 2),
     lambda x: np.pad(x, ((0, 0), (1, 0), (2, 3), (0, 0)))),
    (layers.Cropping1D, {}, (3, 5, 2), lambda x: x[:, 1:-1]),
    (layers.Cropping1D, {"cropping": (2, 0)}, (3, 5, 2), lambda x: x[:, 2:]),
    (layers.Cropping2D, {"cropping": 1}, (2, 4, 5, 2), lambda x: x[:, 1:-1, 1:-1]),
    (layers.Cropping2D, {"cropping": ((0, 1), (2, 1))}, (2, 4, 5, 2), lambda x: x[:, 0:-1, 2:-1]),
    (layers.UpSampling1D, {"size": 3}, (3, 4, 2), lambda x: np.repeat(x, 3, axis=1)),
    (layers.UpSampling2D, {}, (2, 3, 4, 2), lambda x: np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)),
    (layers.UpSampling2D, {"size": (1, 3)}, (2, 3, 4, 2), lambda x: np.repeat(x, 3, axis=2)),
]


@pytest.mark.parametrize("cls,kw,shape,fn", MOVES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_index_map_layers(request, cls, kw, shape, fn):
    run_layer_test(cls, kw, shape, lambda w, x, mask: fn(x), weight_shapes=[], keras=optional_keras(request))


def _bilinear_rows(x, n_out, axis):
    """Half-pixel bilinear resampling along one axis (Keras on torch, align_corners=False), float64."""
    n_in = x.shape[axis]
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (src - i0).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return np.take(x, i0, axis=axis) * (1 - frac) + np.take(x, i1, axis=axis) * frac


@pytest.mark.parametrize("size", [(2, 2), (2, 3), (1, 4)])
def test_upsampling2d_bilinear(request, size):
    """Keras's UpSampling2D(interpolation="bilinear") is ops.image.resize to (H * sh, W * sw)."""
    def reference(w, x, mask):
        x = np.asarray(x, np.float64)
        return _bilinear_rows(_bilinear_rows(x, x.shape[1] * size[0], 1), x.shape[2] * size[1], 2)

    run_layer_test(layers.UpSampling2D, {"size": size, "interpolation": "bilinear"}, (2, 3, 4, 2), reference,
                   weight_shapes=[], keras=optional_keras(request))


@pytest.mark.filterwarnings("ignore:Layer .* does not support masking:UserWarning")  # Keras says so too
def test_index_map_layers_drop_masks(request):
    """As in Keras, RepeatVector, Permute, padding, cropping and upsampling pass no mask on."""
    run_layer_test(layers.ZeroPadding1D, {"padding": 2}, (5, 4, 3),
                   lambda w, x, mask: np.pad(x, ((0, 0), (2, 2), (0, 0))), weight_shapes=[], masked=True,
                   keras=optional_keras(request))


def test_index_map_errors():
    with pytest.raises(ValueError, match="dims"):
        layers.Permute((1, 3))
    with pytest.raises(ValueError, match="ndim=2"):
        layers.RepeatVector(2)(bigcore.Input((3, 4)))
    with pytest.raises(ValueError, match="cropping"):
        layers.Cropping1D((2, 3))(bigcore.Input((5, 2)))
    with pytest.raises(ValueError, match="'nearest' and 'bilinear'"):
        layers.UpSampling2D(interpolation="bicubic")


# --------------------------------------------------------------------------- Masking


def test_masking_forward_and_gradients(request):
    """No value equals the mask value here: the identity with an all-kept mask."""
    run_layer_test(layers.Masking, {"mask_value": 0.0}, (3, 4, 5), lambda w, x, mask: x, weight_shapes=[],
                   output_mask=lambda x, mask: np.ones(x.shape[:-1], bool), keras=optional_keras(request))


def test_explicit_mask_keyword_like_keras(keras):
    """BatchNormalization, GlobalAveragePooling1D and Softmax take `mask=` in their call (Keras's
    signature; its files write `"mask": null`): an explicit mask input overrides none, as Keras.
    BatchNormalization is run in training mode (the mask picks the moments) through a Dense after."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 6, 3)).astype(np.float32)
    m = mask_pattern(5, 6)

    def build(lib):
        inp, m_in = lib.Input((6, 3)), lib.Input((6,), dtype="bool" if lib is keras else "float32")
        bn = lib.layers.BatchNormalization()(inp, mask=m_in, training=True)
        pooled = lib.layers.GlobalAveragePooling1D()(inp, mask=m_in)
        scores = lib.layers.Softmax()(lib.layers.Reshape((6,))(lib.layers.Dense(1)(inp)), mask=m_in)
        return lib.Model([inp, m_in], [bn, pooled, scores])

    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    got = ours.predict([x, m.astype(np.float32)], verbose=0)
    want = theirs([x, m], training=False)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b.detach()), rtol=1e-5, atol=1e-5)
    keep, rows = m[..., None], m.any(1)  # a fully masked row's mean is NaN (Keras)
    np.testing.assert_allclose(got[1][rows], (x * keep).sum(1)[rows] / keep.sum(1)[rows], rtol=1e-5)
    with pytest.raises(TypeError, match="`mask` must be a symbolic tensor"):
        layers.GlobalAveragePooling1D()(bigcore.Input((6, 3)), mask=m)


def test_masking_feeds_an_lstm_like_keras(keras):
    """Rows of zeros are masked: zeroed, and skipped by the LSTM after; the same answer as Keras."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    x[0, 4:] = 0.0
    x[1, :2] = 0.0
    x[2, 3] = 0.0

    def build(lib):
        inp = lib.Input((6, 3))
        m = lib.layers.Masking()(inp)
        return lib.Model(inp, [lib.layers.LSTM(4)(m), lib.layers.GlobalAveragePooling1D()(m)])

    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    for a, b in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    keep = np.any(x != 0, axis=-1, keepdims=True)
    np.testing.assert_allclose(ours.predict(x, verbose=0)[1], (x * keep).sum(1) / keep.sum(1), rtol=1e-6)


# --------------------------------------------------------------------------- noise

NOISE = [
    (layers.GaussianNoise, {"stddev": 0.3, "seed": 1}),
    (layers.GaussianDropout, {"rate": 0.3, "seed": 2}),
    (layers.AlphaDropout, {"rate": 0.2, "seed": 3}),
    (layers.SpatialDropout1D, {"rate": 0.4, "seed": 4}),
]


@pytest.mark.parametrize("cls,kw", NOISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_noise_layers(request, cls, kw):
    """The identity at inference, new randomness each training step; masks pass on."""
    run_layer_test(cls, kw, (5, 6, 4), lambda w, x, mask: x, weight_shapes=[], training_differs=True,
                   masked=True, output_mask=pass_mask, keras=optional_keras(request))


def test_spatial_dropout2d(request):
    run_layer_test(layers.SpatialDropout2D, {"rate": 0.5, "seed": 7}, (3, 4, 5, 2), lambda w, x, mask: x,
                   weight_shapes=[], training_differs=True, keras=optional_keras(request))


def _probe(layer, shape):
    """ids -> Embedding (the input values, whose gradient is the input's) -> layer -> the loss sum(y)."""
    n = int(np.prod(shape))
    inp = bigcore.Input((n,))
    emb = layers.Embedding(n, 1)
    out = layer(layers.Reshape(shape)(emb(inp)))
    model = bigcore.Model(inp, out)
    return model, emb


def _train_output_and_input_gradient(layer, x):
    """(y in training, dL/dx) for L = mean(y * t) with t = 1: one SGD(1) step over an Embedding probe."""
    shape = x.shape[1:]
    model, emb = _probe(layer, shape)
    emb.set_weights([x.reshape(-1, 1)])
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    ids = np.arange(x.size, dtype=np.float32).reshape(1, -1)
    # MSE against y - 1 would need y; take the gradient of mean((y - 0)^2) = 2 y / n instead
    model.train_on_batch(ids, np.zeros((1,) + shape, np.float32))
    grad = (x.reshape(-1) - emb.get_weights()[0][:, 0]).reshape(x.shape)
    return grad


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_noise_statistics(rate):
    """Training draws, over many values: GaussianNoise adds variance stddev^2; GaussianDropout multiplies
    by mean 1, variance rate / (1 - rate); AlphaDropout keeps mean 0 and variance 1 of a standard
    normal input; SpatialDropout drops whole channels and scales the rest by 1 / (1 - rate)."""
    bigcore.utils.set_random_seed(0)
    n = 40000
    x = np.ones((1, n, 1), np.float32)
    # the gradient of mean(y^2) is 2 y f / n: for y = x f (dropouts) it is 2 f^2 / n at x = 1
    g = _train_output_and_input_gradient(layers.GaussianDropout(rate), x) * n / 2
    f2 = g.reshape(-1)  # f^2
    assert abs(f2.mean() - (1 + rate / (1 - rate))) < 0.05
    x = np.random.default_rng(1).normal(size=(1, n, 1)).astype(np.float32)
    g = _train_output_and_input_gradient(layers.AlphaDropout(rate), x).reshape(-1) * n / 2  # y * f
    a = ((1 - rate) * (1 + rate * 1.7580993408473766 ** 2)) ** -0.5
    kept = g != 0
    assert abs(1 - kept.mean() - rate) < 0.02
    y = np.where(kept, g / a, a * -1.7580993408473766 + a * 1.7580993408473766 * rate)
    assert abs(y.mean()) < 0.03 and abs(y.var() - 1.0) < 0.06


def test_spatial_dropout_drops_whole_channels():
    bigcore.utils.set_random_seed(0)
    rate, T, C = 0.5, 7, 200
    x = np.ones((1, T, C), np.float32)
    g = _train_output_and_input_gradient(layers.SpatialDropout1D(rate), x)[0] * (T * C) / 2  # f^2
    assert (g == g[0]).all(), "a channel's draw is shared by its positions"
    kept = g[0] != 0
    np.testing.assert_allclose(g[0][kept], 1 / (1 - rate) ** 2, rtol=1e-5)
    assert abs((g[0] == 0).mean() - rate) < 0.1


# --------------------------------------------------------------------------- normalizations


def norm_weights(shape, scale=True, center=True):
    def make(rng):
        ws = [rng.uniform(0.5, 1.5, shape).astype(np.float32)] if scale else []
        return ws + ([rng.normal(0, 0.5, shape).astype(np.float32)] if center else [])
    return make


LN = [
    ({}, (4, 6)),
    ({"epsilon": 1e-2}, (3, 4, 5)),
    ({"axis": [-2, -1]}, (3, 4, 5)),
    ({"center": False}, (2, 3, 4, 5)),
    ({"scale": False}, (3, 4, 5)),
]


@pytest.mark.parametrize("kw,shape", LN, ids=str)
def test_layer_normalization(request, kw, shape):
    n_axes = len(kw["axis"]) if isinstance(kw.get("axis"), list) else 1
    wshape = shape[-n_axes:]
    scale, center = kw.get("scale", True), kw.get("center", True)

    def forward(w, x, mask):
        it = iter(w)
        return cref.layer_norm(x, next(it) if scale else None, next(it) if center else None, n_axes,
                               kw.get("epsilon", 1e-3))

    run_layer_test(layers.LayerNormalization, kw, shape, forward, weight_shapes=[wshape] * (scale + center),
                   weights=norm_weights(wshape, scale, center), rtol=1e-4, atol=1e-5, keras=optional_keras(request))


def test_layer_normalization_passes_masks(request):
    run_layer_test(layers.LayerNormalization, {}, (5, 4, 3),
                   lambda w, x, mask: cref.layer_norm(x, w[0], w[1]), weight_shapes=[(3,), (3,)],
                   weights=norm_weights((3,)), masked=True, output_mask=pass_mask, rtol=1e-4, atol=1e-5,
                   keras=optional_keras(request))


GN = [
    ({"groups": 2}, (3, 5, 4)),
    ({"groups": 3, "epsilon": 1e-2}, (2, 3, 4, 6)),
    ({"groups": -1}, (3, 5, 4)),
    ({"groups": 1, "center": False}, (3, 5, 4)),
]


@pytest.mark.parametrize("kw,shape", GN, ids=str)
def test_group_normalization(request, kw, shape):
    C = shape[-1]
    groups = C if kw["groups"] == -1 else kw["groups"]
    center = kw.get("center", True)

    def forward(w, x, mask):
        return cref.group_norm(x, w[0], w[1] if center else None, groups, kw.get("epsilon", 1e-3))

    run_layer_test(layers.GroupNormalization, kw, shape, forward, weight_shapes=[(C,)] * (1 + center),
                   weights=norm_weights((C,), True, center), rtol=1e-4, atol=1e-5, keras=optional_keras(request))


@pytest.mark.parametrize("kw,shape,n_axes", [({}, (3, 4, 5), 1), ({"axis": [1, 2]}, (3, 4, 5), 2)], ids=str)
def test_unit_normalization(request, kw, shape, n_axes):
    run_layer_test(layers.UnitNormalization, kw, shape, lambda w, x, mask: cref.unit_norm(x, n_axes),
                   weight_shapes=[], keras=optional_keras(request))


def test_normalization_errors():
    with pytest.raises(ValueError, match="groups"):
        layers.GroupNormalization(groups=4)(bigcore.Input((3, 6)))
    with pytest.raises(ValueError, match="trailing"):
        layers.LayerNormalization(axis=1)(bigcore.Input((3, 6)))


# --------------------------------------------------------------------------- TimeDistributed


def test_time_distributed_dense(request):
    run_layer_test(layers.TimeDistributed, {"layer": layers.Dense(4, activation="tanh")}, (3, 5, 6),
                   lambda w, x, mask: ref.dense_forward(x, w[0], w[1], "tanh"), weight_shapes=[(6, 4), (4,)],
                   keras=optional_keras(request))


def test_time_distributed_passes_masks(request):
    run_layer_test(layers.TimeDistributed, {"layer": layers.Dense(3)}, (5, 4, 2),
                   lambda w, x, mask: ref.dense_forward(x, w[0], w[1]), weight_shapes=[(2, 3), (3,)], masked=True,
                   output_mask=pass_mask, keras=optional_keras(request))


def test_time_distributed_conv2d(request):
    """A Conv2D per frame: (batch, frames, H, W, C) folded to (batch * frames, H, W, C), one op."""
    kw = {"filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"}

    def forward(w, x, mask):
        B, T = x.shape[:2]
        y = cref.conv_forward(x.reshape((B * T,) + x.shape[2:]), w[0], w[1], padding="same", activation="relu")
        return y.reshape((B, T) + y.shape[1:])

    run_layer_test(layers.TimeDistributed, {"layer": layers.Conv2D(**kw)}, (2, 3, 5, 4, 2), forward,
                   weight_shapes=[(3, 3, 2, 3), (3,)], keras=optional_keras(request))


def test_time_distributed_pooling_and_flatten(request):
    """Layers without weights: MaxPooling1D per timestep; Flatten per timestep is the same buffer."""
    run_layer_test(layers.TimeDistributed, {"layer": layers.MaxPooling1D(2)}, (3, 4, 6, 2),
                   lambda w, x, mask: cref.pool_forward(x.reshape(12, 6, 2), 2).reshape(3, 4, 3, 2), weight_shapes=[],
                   keras=optional_keras(request))
    run_layer_test(layers.TimeDistributed, {"layer": layers.Flatten()}, (3, 4, 2, 3),
                   lambda w, x, mask: x.reshape(3, 4, 6), weight_shapes=[], keras=optional_keras(request))


def test_time_distributed_softmax_output_fuses_with_the_loss(keras):
    """seq2seq's last layer: TimeDistributed(Dense(V, softmax)) under sparse categorical cross-entropy
    (the loss takes dz from the fused softmax inside the fold); three Adam steps as Keras."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 4)).astype(np.float32)
    y = rng.integers(0, 7, size=(6, 5)).astype(np.float32)

    def build(lib):
        inp = lib.Input((5, 4))
        h = lib.layers.TimeDistributed(lib.layers.Dense(8, activation="relu"))(inp)
        out = lib.layers.TimeDistributed(lib.layers.Dense(7, activation="softmax"))(h)
        m = lib.Model(inp, out)
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        return m

    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    for step in range(3):
        assert ours.train_on_batch(x, y) == pytest.approx(float(theirs.train_on_batch(x, y)), rel=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_time_distributed_shares_weights_with_the_layer_outside():
    """The wrapped layer used outside too: one kernel, its gradient summed over both uses."""
    dense = layers.Dense(3, use_bias=False)
    inp = bigcore.Input((4, 2))
    a = layers.TimeDistributed(dense)(inp)
    b = dense(inp)
    model = bigcore.Model(inp, layers.Add()([a, b]))
    assert len(model.weights) == 1
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    w = dense.get_weights()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * x @ w, rtol=1e-5, atol=1e-6)
    model.compile(optimizer=bigcore.optimizers.SGD(1.0), loss="mse")
    t = np.zeros((3, 4, 3), np.float32)
    model.train_on_batch(x, t)
    # L = mean(y^2), y = 2 x W: each use adds x^T dL/dy, dL/dy = 2 y / n
    y = 2 * x.reshape(-1, 2).astype(np.float64) @ w
    grad = 2 * x.reshape(-1, 2).T.astype(np.float64) @ (2 * y / y.size)
    np.testing.assert_allclose(w - dense.get_weights()[0], grad, rtol=1e-4, atol=1e-6)
