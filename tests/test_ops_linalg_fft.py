"""keras.ops.linalg (cholesky ... svd, slogdet, logdet) and the Fourier transforms (fft ... istft,
extract_sequences) with view_as_complex / view_as_real / polar: eager parity with Keras 3 (torch) and
NumPy on single and batched inputs; the transforms traced inside a custom layer (predict against Keras,
one SGD step against torch's gradient); the linalg ops' refusal on symbolic tensors."""

import warnings

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(3)


def _np(t):
    if isinstance(t, (list, tuple)):
        return [_np(a) for a in t]
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


def _spd(*batch, n=4):
    a = RNG.normal(size=batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(np.float32)


def _gen(*s):
    return RNG.normal(size=s).astype(np.float32)


SQUARE = [_gen(3, 3), _gen(2, 4, 4), _gen(2, 3, 5, 5)]
RECT = [_gen(5, 3), _gen(3, 5), _gen(2, 4, 6), _gen(2, 2, 6, 4)]
SPD = [_spd(), _spd(3), _spd(2, 2, n=3)]


def _close(ours, theirs, rtol=1e-4, atol=1e-4):
    ours, theirs = _np(ours), _np(theirs)
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b, rtol, atol)
        return
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


DIRECT = [("det", SQUARE, {}), ("inv", SQUARE, {}), ("cholesky", SPD, {}), ("cholesky", SPD, {"upper": True}),
          ("slogdet", SQUARE, {}), ("logdet", SPD + SQUARE[:1], {}), ("qr", RECT + SQUARE[:1], {}),
          ("qr", RECT, {"mode": "complete"}), ("svd", RECT, {"compute_uv": False}), ("pinv", RECT + SQUARE, {}),
          ("matrix_rank", RECT + SQUARE, {}), ("lu_factor", SQUARE + RECT, {})]


@pytest.mark.parametrize("name,inputs,kwargs", DIRECT, ids=[f"{c[0]}{i}" for i, c in enumerate(DIRECT)])
def test_linalg_matches_keras(keras, name, inputs, kwargs):
    for x in inputs:
        ours = getattr(ops, name)(x, **kwargs)
        _close(ours, getattr(keras.ops, name)(x, **kwargs))
        assert getattr(ops.linalg, name, getattr(ops.numpy, name, None)) is not None


def test_cholesky_inverse_takes_the_factor(keras):
    for a in SPD:
        low = np.linalg.cholesky(a.astype(np.float64)).astype(np.float32)
        up = np.swapaxes(low, -1, -2).copy()
        ours = ops.cholesky_inverse(low)
        _close(ours, keras.ops.cholesky_inverse(low), rtol=1e-3, atol=1e-4)
        _close(ops.cholesky_inverse(up, upper=True), keras.ops.cholesky_inverse(up, upper=True), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(_np(ours), np.linalg.inv(a.astype(np.float64)), rtol=1e-3, atol=1e-5)


def test_decompositions_reconstruct(keras):
    for x in RECT + SQUARE:
        for full in (True, False):
            u, s, vh = _np(ops.svd(x, full_matrices=full))
            ku, ks, kvh = _np(keras.ops.svd(x, full_matrices=full))
            assert (u.shape, s.shape, vh.shape) == (ku.shape, ks.shape, kvh.shape)
            k = s.shape[-1]
            np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], x, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(s, ks, rtol=1e-4, atol=1e-5)
            # singular vectors agree with torch's up to sign
            np.testing.assert_allclose(np.abs(u[..., :k]), np.abs(ku[..., :k]), rtol=1e-3, atol=1e-3)
    for a in SPD:
        w, v = _np(ops.eigh(a))
        kw, kv = _np(keras.ops.eigh(a))
        np.testing.assert_allclose(w, kw, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.abs(v), np.abs(kv), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(a @ v, v * w[..., None, :], rtol=1e-4, atol=1e-3)
    for x in SQUARE:
        w, v = _np(ops.eig(x))
        kw, _ = _np(keras.ops.eig(x))
        assert w.dtype == kw.dtype == np.complex64 and v.dtype == np.complex64
        key = lambda z: np.sort_complex(np.round(z, 4))  # noqa: E731
        np.testing.assert_allclose(key(w), key(kw), atol=2e-3)
        np.testing.assert_allclose(x @ v, v * w[..., None, :], atol=1e-4)


def test_lu_factor_rebuilds_the_pivoted_matrix():
    for x in SQUARE + RECT:
        lu, piv = _np(ops.lu_factor(x))
        m, n = x.shape[-2:]
        k = min(m, n)
        for b in np.ndindex(x.shape[:-2]):
            low = np.tril(lu[b], -1)[:, :k] + np.eye(m, k)
            perm = np.arange(m)
            for i, p in enumerate(piv[b]):
                perm[[i, p]] = perm[[p, i]]
            np.testing.assert_allclose(low @ np.triu(lu[b])[:k], x[b][perm], rtol=1e-4, atol=1e-5)


def test_solvers_match_keras(keras):
    a = _gen(2, 4, 4) + 4 * np.eye(4, dtype=np.float32)
    for b in (_gen(2, 4), _gen(2, 4, 3), _gen(4, 2)[None].repeat(2, 0)):
        _close(ops.solve(a, b), keras.ops.solve(a, b))
        np.testing.assert_allclose(np.einsum("bij,bj...->bi...", a, _np(ops.solve(a, b))), b, rtol=1e-4, atol=1e-4)
        for lower in (False, True):
            _close(ops.solve_triangular(a, b, lower=lower), keras.ops.solve_triangular(a, b, lower=lower))
    v = _gen(4)
    _close(ops.solve(a[0], v), keras.ops.solve(a[0], v))
    _close(ops.solve_triangular(a[0], v, lower=True), keras.ops.solve_triangular(a[0], v, lower=True))
    for a2, b2 in ((_gen(6, 3), _gen(6)), (_gen(6, 3), _gen(6, 2)), (_gen(3, 5), _gen(3, 2))):
        _close(ops.lstsq(a2, b2), keras.ops.lstsq(a2, b2), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(_np(ops.lstsq(a2, b2)), np.linalg.lstsq(a2, b2, rcond=None)[0], rtol=1e-3,
                                   atol=1e-4)
    deficient = np.concatenate([a[0, :, :2], a[0, :, :1]], axis=1)  # rank 2, duplicate column
    _close(ops.lstsq(deficient, b[0], rcond=1e-4), keras.ops.lstsq(deficient, b[0], rcond=1e-4), rtol=1e-3,
           atol=1e-4)
    assert _np(ops.matrix_rank(deficient)) == 2 and _np(ops.matrix_rank(deficient, tol=1e9)) == 0


def test_result_types_follow_keras(keras):
    """float64 arrays stay float64; Python lists are float32 (int32) tensors, as Keras converts them."""
    cases = [("det", (np.eye(3),)), ("inv", ([[2.0, 1.0], [1.0, 3.0]],)), ("rfft", ([0.0, 1.0, 2.0, 3.0, 4.0],)),
             ("rfft", (np.arange(6.0),)), ("extract_sequences", ([1, 2, 3, 4, 5, 6], 3, 2)),
             ("polar", ([1.0, 2.0], [0.5, 1.0])), ("view_as_complex", (np.ones((2, 2)),))]
    for name, args in cases:
        ours, theirs = _np(getattr(ops, name)(*args)), _np(getattr(keras.ops, name)(*args))
        for a, b in zip(ours if isinstance(ours, list) else [ours], theirs if isinstance(theirs, list) else [theirs]):
            assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_logdet_edge_values(keras):
    sing = np.array([[1.0, 2.0], [2.0, 4.0]], np.float32)
    neg = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    assert _np(ops.logdet(sing)) == -np.inf == _np(keras.ops.logdet(sing))
    assert np.isnan(_np(ops.logdet(neg))) and np.isnan(_np(keras.ops.logdet(neg)))
    _close(ops.slogdet(neg), keras.ops.slogdet(neg))


def test_linalg_refusals():
    with pytest.raises(ValueError, match="Expected a square matrix"):
        ops.det(_gen(3, 4))
    with pytest.raises(ValueError, match="rank >= 2"):
        ops.inv(_gen(3))
    with pytest.raises(ValueError, match="Cholesky decomposition failed"):
        ops.cholesky(-np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="`mode` argument value not supported"):
        ops.qr(_gen(3, 3), mode="r")
    with pytest.raises(ValueError, match="Incompatible shapes"):
        ops.solve(_gen(3, 3), _gen(4, 2))
    with pytest.raises(NotImplementedError, match="jvp"):
        ops.jvp(ops.sin, (np.float32(0.1),), (np.float32(0.2),))
    inp = bigcore.Input((3, 3))
    for name in ("det", "inv", "svd", "cholesky", "eig", "qr", "logdet"):
        with pytest.raises(NotImplementedError, match=f"ops.{name} runs eagerly only"):
            getattr(ops, name)(inp)


SIG = [_gen(16), _gen(3, 20), _gen(2, 2, 33)]


def test_fft_family_matches_keras_and_numpy(keras):
    for x in SIG:
        y = _gen(*x.shape)
        _close(ops.fft((x, y)), keras.ops.fft((x, y)))
        np.testing.assert_allclose(_np(ops.fft((x, y)))[0], np.fft.fft(x + 1j * y).real, rtol=1e-4, atol=1e-4)
        for n in (None, 8, 21, 40):
            _close(ops.rfft(x, n), keras.ops.rfft(x, n))
            re, im = _np(ops.rfft(x, n))
            np.testing.assert_allclose(re + 1j * im, np.fft.rfft(x, n), rtol=1e-4, atol=1e-4)
            _close(ops.irfft((x, y), n), keras.ops.irfft((x, y), n))
        if x.ndim >= 2:
            _close(ops.fft2((x, y)), keras.ops.fft2((x, y)))
            _close(ops.ifft2((x, y)), keras.ops.ifft2((x, y)))
            _close(ops.extract_sequences(x, 5, 3), keras.ops.extract_sequences(x, 5, 3))


def _predict(keras_fn, ours_fn, *arrays):
    """ours_fn traced in a functional model of len(arrays) inputs, predicted on arrays, against keras_fn."""
    inputs = [bigcore.Input(a.shape[1:]) for a in arrays]
    out = ours_fn(*inputs)
    model = bigcore.Model(inputs, list(out) if isinstance(out, tuple) else out)
    got = model.predict(list(arrays) if len(arrays) > 1 else arrays[0], verbose=0)
    want = _np(keras_fn(*arrays))
    for a, b in zip(got if isinstance(want, list) else [got], want if isinstance(want, list) else [want]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)


def test_traced_transforms_match_keras(keras):
    """The composed (DFT-matrix) forms, in a model, on batched inputs: cropping and zero-padding lengths."""
    k = keras.ops
    for x, y in ((_gen(3, 16), _gen(3, 16)), (_gen(2, 3, 21), _gen(2, 3, 21))):
        _predict(lambda a, b: k.fft((a, b)), lambda a, b: ops.fft((a, b)), x, y)
        if x.ndim == 3:  # (the batch axis cannot be one of fft2's axes in a model)
            _predict(lambda a, b: k.fft2((a, b)), lambda a, b: ops.fft2((a, b)), x, y)
            _predict(lambda a, b: k.ifft2((a, b)), lambda a, b: ops.ifft2((a, b)), x, y)
        for n in (None, 8, 21, 40):
            _predict(lambda a, n=n: k.rfft(a, n), lambda a, n=n: ops.rfft(a, n), x)
            _predict(lambda a, b, n=n: k.irfft((a, b), n), lambda a, b, n=n: ops.irfft((a, b), n), x, y)
        _predict(lambda a: k.extract_sequences(a, 4, 3), lambda a: ops.extract_sequences(a, 4, 3), x)
    # (Keras on torch refuses view_as_real of a real tensor, torch's imag; numpy's answer: zero imaginary parts)
    _predict(lambda a: np.stack([a, np.zeros_like(a)], -1), lambda a: ops.view_as_real(a), _gen(2, 3))


STFT = [(8, 4, 8, "hann", True), (8, 3, 16, "hamming", True), (6, 2, 9, None, False), (5, 5, 8, "hamming", False),
        (4, 2, 4, np.linspace(0.5, 1.0, 4).astype(np.float32), True)]


@pytest.mark.parametrize("seq,stride,n,window,center", STFT, ids=[str(i) for i in range(len(STFT))])
def test_stft_istft_match_keras(keras, seq, stride, n, window, center):
    for x in (_gen(40), _gen(3, 37), _gen(2, 2, 30)):
        args = (seq, stride, n)
        spec = ops.stft(x, *args, window=window, center=center)
        _close(spec, keras.ops.stft(x, *args, window=window, center=center))
        spec = tuple(_np(spec))
        for length in (None, x.shape[-1], x.shape[-1] + 7):
            with warnings.catch_warnings():  # torch warns where `length` runs past the signal (zeros follow)
                warnings.simplefilter("ignore")
                want = keras.ops.istft(spec, *args, length=length, window=window, center=center)
            _close(ops.istft(spec, *args, length=length, window=window, center=center), want)
    # traced: stft of a model's input, and istft of a model's (real, imag) inputs, against Keras
    x2 = _gen(3, 37)
    sig = bigcore.Input((37,))
    spec_model = bigcore.Model(sig, list(ops.stft(sig, seq, stride, n, window=window, center=center)))
    kspec = keras.ops.stft(x2, seq, stride, n, window=window, center=center)
    for ours, theirs in zip(spec_model.predict(x2, verbose=0), _np(kspec)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    re, im = _np(kspec)
    for length in (None, 33, 45):
        pair = [bigcore.Input(re.shape[1:]), bigcore.Input(re.shape[1:])]
        inv_model = bigcore.Model(pair, ops.istft(tuple(pair), seq, stride, n, length=length, window=window,
                                                  center=center))
        with warnings.catch_warnings():  # torch warns where `length` runs past the signal (zeros follow)
            warnings.simplefilter("ignore")
            want = _np(keras.ops.istft((re, im), seq, stride, n, length=length, window=window, center=center))
        got = inv_model.predict([re, im], verbose=0)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    if seq == n and center and window is not None:  # torch.istft's round trip restores the signal
        np.testing.assert_allclose(_np(ops.istft(spec, seq, stride, n, length=30, window=window)), x, atol=1e-4)


def test_complex_views_match_keras(keras):
    pairs = _gen(3, 4, 2)
    z = ops.view_as_complex(pairs)
    kz = _np(keras.ops.view_as_complex(pairs))
    assert _np(z).dtype == kz.dtype == np.complex64
    np.testing.assert_allclose(_np(z), kz)
    _close(ops.view_as_real(kz), keras.ops.view_as_real(kz))
    r, t = np.abs(_gen(2, 3)), _gen(2, 3)
    np.testing.assert_allclose(_np(ops.polar(r, t)), _np(keras.ops.polar(r, t)), rtol=1e-6, atol=1e-6)
    assert _np(ops.nn.polar(r, t)).dtype == np.complex64
    with pytest.raises(ValueError, match="Last dimension of input must be size 2"):
        ops.view_as_complex(_gen(3, 3))


class Spectral(layers.Layer):
    """Per sample: |stft| features, rfft of a cropped length, the fft and ifft2 of (x, x*w), irfft of rfft,
    windows of x and istft of stft of x*w (cropped)."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

    def call(self, x):
        re, im = ops.stft(x, 8, 4, 16, window="hann")
        mag = ops.reshape(re * re + im * im, (-1, 9 * 9))
        r2, i2 = ops.rfft(x * self.w, 20)
        f_re, f_im = ops.fft((x, x * self.w))
        g_re, g_im = ops.ifft2((ops.reshape(x, (-1, 4, 8)), ops.reshape(x * self.w, (-1, 4, 8))))
        back = ops.irfft(ops.rfft(x), 32)
        seqs = ops.reshape(ops.extract_sequences(x, 6, 5), (-1, 36))
        rec = ops.istft(ops.stft(x * self.w, 8, 4, 8), 8, 4, 8, length=30) * 2.0
        return ops.concatenate([mag, r2, i2, f_re, f_im, ops.reshape(g_re, (-1, 32)), ops.reshape(g_im, (-1, 32)),
                                back, seqs, rec], axis=-1)


def _keras_spectral(keras, x, w):
    k = keras.ops
    re, im = k.stft(x, 8, 4, 16, window="hann")
    mag = k.reshape(re * re + im * im, (-1, 81))
    r2, i2 = k.rfft(x * w, 20)
    f_re, f_im = k.fft((x, x * w))
    g_re, g_im = k.ifft2((k.reshape(x, (-1, 4, 8)), k.reshape(x * w, (-1, 4, 8))))
    back = k.irfft(k.rfft(x), 32)
    seqs = k.reshape(k.extract_sequences(x, 6, 5), (-1, 36))
    rec = k.istft(k.stft(x * w, 8, 4, 8), 8, 4, 8, length=30) * 2.0
    return k.concatenate([mag, r2, i2, f_re, f_im, k.reshape(g_re, (-1, 32)), k.reshape(g_im, (-1, 32)), back, seqs,
                          rec], axis=-1)


def test_traced_spectral_layer_predicts_and_trains_as_keras(keras, torch):
    inp = bigcore.Input((32,))
    h = layers.Dense(32, kernel_initializer="glorot_uniform")(inp)
    model = bigcore.Model(inp, Spectral()(h))
    dense, spec = model.layers[1], model.layers[2]
    spec.w.assign(RNG.uniform(0.5, 1.5, size=32).astype(np.float32))
    x = _gen(5, 32)
    k0, b0, w0 = (dense.kernel.numpy().copy(), dense.bias.numpy().copy(), spec.w.numpy().copy())
    want = _np(_keras_spectral(keras, x @ k0 + b0, w0))
    out = model.predict(x, verbose=0)
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)
    # one SGD step on the mse against torch's gradient of the same function (keras.ops on torch tensors)
    y = _gen(*want.shape) * 0.1
    tk, tb, tw = (torch.tensor(v, requires_grad=True) for v in (k0, b0, w0))
    loss = ((_keras_spectral(keras, torch.tensor(x) @ tk + tb, tw) - torch.tensor(y)) ** 2).mean()
    loss.backward()
    lr = 1e-2
    model.compile(optimizer=bigcore.optimizers.SGD(learning_rate=lr), loss="mse")
    model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    for ours, before, grad in ((spec.w, w0, tw.grad), (dense.kernel, k0, tk.grad)):
        step = (before - ours.numpy()) / lr  # the gradient SGD applied
        grad = grad.numpy()
        assert np.abs(grad).max() > 1e-2
        np.testing.assert_allclose(step, grad, rtol=0.02, atol=0.02 * np.abs(grad).max())
