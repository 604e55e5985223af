"""ops.space_to_depth / depth_to_space (channels last and first), unfold / fold (torch's im2col /
col2im) and psnr (bigcore/ops/nn_layout.py, also under ops.nn): on arrays against float64 NumPy
references written element by element and against Keras 3's ops; inside a custom layer's traced
call() through the layer harness (forward, gradients of the input and a weight by central
differences, threads, round trips); refusals."""

import itertools
import math

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING, run_layer_test

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def s2d_ref(x, b, fmt):
    x = np.asarray(x, np.float64)
    if fmt == "channels_first":
        n, c, h, w = x.shape
        out = np.zeros((n, c * b * b, h // b, w // b))
        for ci, i, j, bh, bw in itertools.product(range(c), range(h // b), range(w // b), range(b), range(b)):
            out[:, ci * b * b + bh * b + bw, i, j] = x[:, ci, i * b + bh, j * b + bw]
        return out
    n, h, w, c = x.shape
    out = np.zeros((n, h // b, w // b, c * b * b))
    for ci, i, j, bh, bw in itertools.product(range(c), range(h // b), range(w // b), range(b), range(b)):
        out[:, i, j, (bh * b + bw) * c + ci] = x[:, i * b + bh, j * b + bw, ci]
    return out


def d2s_ref(x, b, fmt):
    x = np.asarray(x, np.float64)
    if fmt == "channels_first":
        n, c, h, w = x.shape
        nc = c // (b * b)
        out = np.zeros((n, nc, h * b, w * b))
        for ci, i, j, bh, bw in itertools.product(range(nc), range(h), range(w), range(b), range(b)):
            out[:, ci, i * b + bh, j * b + bw] = x[:, ci * b * b + bh * b + bw, i, j]
        return out
    n, h, w, c = x.shape
    nc = c // (b * b)
    out = np.zeros((n, h * b, w * b, nc))
    for ci, i, j, bh, bw in itertools.product(range(nc), range(h), range(w), range(b), range(b)):
        out[:, i * b + bh, j * b + bw, ci] = x[:, i, j, (bh * b + bw) * nc + ci]
    return out


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _blocks(size, k, d, p, s):
    return [(n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, kk, dd, pp, ss in zip(size, k, d, p, s)]


def unfold_ref(x, kernel_size, dilation=1, padding=0, stride=1):
    x = np.asarray(x, np.float64)
    k, d, p, s = map(_pair, (kernel_size, dilation, padding, stride))
    n, c, h, w = x.shape
    oh, ow = _blocks((h, w), k, d, p, s)
    out = np.zeros((n, c * k[0] * k[1], oh * ow))
    for ci, ki, kj, i, j in itertools.product(range(c), range(k[0]), range(k[1]), range(oh), range(ow)):
        r, q = i * s[0] - p[0] + ki * d[0], j * s[1] - p[1] + kj * d[1]
        if 0 <= r < h and 0 <= q < w:
            out[:, (ci * k[0] + ki) * k[1] + kj, i * ow + j] = x[:, ci, r, q]
    return out


def fold_ref(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = np.asarray(x, np.float64)
    k, d, p, s = map(_pair, (kernel_size, dilation, padding, stride))
    h, w = _pair(output_size)
    oh, ow = _blocks((h, w), k, d, p, s)
    n, ckk, _ = x.shape
    c = ckk // (k[0] * k[1])
    out = np.zeros((n, c, h, w))
    for ci, ki, kj, i, j in itertools.product(range(c), range(k[0]), range(k[1]), range(oh), range(ow)):
        r, q = i * s[0] - p[0] + ki * d[0], j * s[1] - p[1] + kj * d[1]
        if 0 <= r < h and 0 <= q < w:
            out[:, ci, r, q] += x[:, (ci * k[0] + ki) * k[1] + kj, i * ow + j]
    return out


def psnr_ref(x1, x2, max_val):
    mse = np.mean((np.asarray(x1, np.float64) - np.asarray(x2, np.float64)) ** 2)
    return 20 * math.log10(max_val) - 10 * math.log10(mse)


UNFOLDS = [{"kernel_size": 2}, {"kernel_size": (3, 2), "dilation": 2, "padding": 1, "stride": 2},
           {"kernel_size": 3, "stride": (2, 1), "padding": (1, 0)}, {"kernel_size": (1, 3), "dilation": (1, 2)}]


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_space_depth_on_arrays(fmt):
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 8)).astype(np.float32)
    np.testing.assert_array_equal(ops.space_to_depth(x, 2, data_format=fmt), s2d_ref(x, 2, fmt))
    np.testing.assert_array_equal(ops.nn.depth_to_space(x, 2, data_format=fmt), d2s_ref(x, 2, fmt))
    np.testing.assert_array_equal(ops.depth_to_space(ops.space_to_depth(x, 2, fmt), 2, fmt), x)
    assert ops.nn.space_to_depth is ops.space_to_depth and ops.nn.unfold is ops.unfold


@pytest.mark.parametrize("kw", UNFOLDS)
def test_unfold_fold_on_arrays(kw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    u = ops.unfold(x, **kw)
    np.testing.assert_allclose(u, unfold_ref(x, **kw), rtol=0, atol=0)
    cols = rng.standard_normal(u.shape).astype(np.float32)
    np.testing.assert_allclose(ops.nn.fold(cols, (7, 6), **kw), fold_ref(cols, (7, 6), **kw), rtol=1e-6, atol=1e-6)
    # fold is unfold's adjoint: <unfold(x), cols> == <x, fold(cols)>
    assert np.sum(unfold_ref(x, **kw) * cols) == pytest.approx(np.sum(x * fold_ref(cols, (7, 6), **kw)), rel=1e-9)


def test_psnr_on_arrays():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(size=(3, 5, 4)), rng.uniform(size=(3, 5, 4))
    assert float(ops.psnr(a, b, 1.0)) == pytest.approx(psnr_ref(a, b, 1.0), rel=1e-5)
    assert float(ops.nn.psnr(a, b, 255.0)) == pytest.approx(psnr_ref(a, b, 255.0), rel=1e-5)


def test_match_keras(keras):
    rng = np.random.default_rng(3)
    t, n = keras.ops.convert_to_tensor, keras.ops.convert_to_numpy
    x = rng.standard_normal((2, 4, 6, 8)).astype(np.float32)
    for fmt in ("channels_last", "channels_first"):
        for name in ("space_to_depth", "depth_to_space"):
            np.testing.assert_array_equal(getattr(ops, name)(x, 2, data_format=fmt),
                                          n(getattr(keras.ops, name)(t(x), 2, data_format=fmt)))
    y = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    for kw in UNFOLDS:
        u = n(keras.ops.unfold(t(y), **kw))
        np.testing.assert_array_equal(ops.unfold(y, **kw), u)
        np.testing.assert_allclose(ops.fold(u, (7, 6), **kw), n(keras.ops.fold(t(u), (7, 6), **kw)), rtol=1e-6,
                                   atol=1e-6)
    assert float(ops.psnr(x, x * 0.9, 2.0)) == pytest.approx(float(n(keras.ops.psnr(t(x), t(x * 0.9), 2.0))),
                                                             rel=1e-5)


# traced: name -> (input shape, op on (ops, x * scale), reference on (x * scale), output shape without batch)
TRACED = {
    "s2d_last": ((2, 4, 6, 3), lambda o, v: o.space_to_depth(v, 2), lambda v: s2d_ref(v, 2, "channels_last")),
    "s2d_first": ((2, 3, 4, 2), lambda o, v: o.nn.space_to_depth(v, 2, data_format="channels_first"),
                  lambda v: s2d_ref(v, 2, "channels_first")),
    "d2s_last": ((2, 2, 3, 8), lambda o, v: o.depth_to_space(v, 2), lambda v: d2s_ref(v, 2, "channels_last")),
    "d2s_first": ((2, 8, 2, 3), lambda o, v: o.depth_to_space(v, 2, "channels_first"),
                  lambda v: d2s_ref(v, 2, "channels_first")),
    "unfold": ((2, 2, 5, 4), lambda o, v: o.unfold(v, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
               lambda v: unfold_ref(v, (2, 3), (2, 1), 1, (1, 2))),
    "fold": ((2, 8, 12), lambda o, v: o.fold(v, (4, 5), 2, padding=(0, 1), stride=(2, 1)),
             lambda v: fold_ref(v, (4, 5), 2, 1, (0, 1), (2, 1))),
}


@bigcore.saving.register_keras_serializable(package="nn_layout_test")
class ScaledOp(layers.Layer):
    """x times a per-last-axis weight, then one case's op (the weight's gradient goes through it)."""

    def __init__(self, case, **kw):
        super().__init__(**kw)
        self.case = case

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return TRACED[self.case][1](ops, x * self.scale)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + TRACED[self.case][2](np.zeros((1,) + tuple(input_shape[1:]))).shape[1:]

    def get_config(self):
        return {**super().get_config(), "case": self.case}


@pytest.mark.parametrize("case", sorted(TRACED))
def test_in_custom_layer(case):
    shape, _, reference = TRACED[case]
    run_layer_test(ScaledOp, {"case": case}, shape, lambda w, x, mask: reference(x * w[0]),
                   weight_shapes=[(shape[-1],)], weights=lambda rng: [rng.uniform(0.5, 1.5, shape[-1])])


@bigcore.saving.register_keras_serializable(package="nn_layout_test")
class PsnrRows(layers.Layer):
    """psnr(x, x * scale) over the batch, as a (batch, 1) output."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return x[:, :1] * 0.0 + ops.psnr(x, x * self.scale, 2.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


def test_psnr_in_custom_layer():
    def reference(w, x, mask):
        return np.full((x.shape[0], 1), psnr_ref(x, x * w[0], 2.0))

    run_layer_test(PsnrRows, {}, (3, 4), reference, weight_shapes=[(4,)],
                   weights=lambda rng: [rng.uniform(0.5, 1.5, 4)], rtol=1e-4, atol=1e-4)


def test_refusals():
    x = np.zeros((1, 4, 6, 8), np.float32)
    with pytest.raises(ValueError, match="block_size"):
        ops.space_to_depth(x, 1)
    with pytest.raises(ValueError, match="divisible"):
        ops.space_to_depth(x, 4)
    with pytest.raises(ValueError, match="divisible"):
        ops.depth_to_space(x, 3)
    with pytest.raises(ValueError, match="data_format"):
        ops.space_to_depth(x, 2, data_format="NHWC")
    with pytest.raises(ValueError, match="4D"):
        ops.unfold(np.zeros((2, 3, 4), np.float32), 2)
    with pytest.raises(ValueError, match="blocks"):
        ops.fold(np.zeros((1, 4, 5), np.float32), (3, 3), 2)
    with pytest.raises(ValueError, match="divisible"):
        ops.fold(np.zeros((1, 5, 4), np.float32), (3, 3), 2)
    with pytest.raises(ValueError, match="must match"):
        ops.psnr(np.zeros((2, 3)), np.zeros((3, 2)), 1.0)
