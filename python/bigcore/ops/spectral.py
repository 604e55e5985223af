"""keras.ops's Fourier transforms: fft, fft2, ifft2, rfft, irfft, stft, istft, and extract_sequences.
Complex values are Keras's (real, imag) pairs of float tensors. (Named spectral.py, not fft.py, so
the package attribute ops.fft stays the function.)

On arrays they compute in float64 NumPy (numpy.fft) and return the input's float type (float32
unless float64). On symbolic tensors each is a linear map of its input, composed from the
differentiable primitives: a matmul against constant cosine / sine matrices built here, with stft's
frames (center padding by reflection folded in) gathered by one take of constant indices, istft's
overlap-add as shifted pads, so they trace and train. istft follows Keras's torch backend: torch.istft's
envelope when sequence_length == fft_length, center and a window, else Keras's own normalisation."""

import numpy as np

from bigcore.ops.core import dtype as _dtype
from bigcore.ops.core import shape
from bigcore.ops.indexing import getitem
from bigcore.ops.linalg import eager_only
from bigcore.ops.node import is_symbolic, to_array
from bigcore.ops.numpy import add, matmul, multiply, pad, reshape, subtract, take

_PAIR = "Input `x` should be a tuple of two tensors - real and imaginary."


def _float_type(*xs):
    """float64 for float64 arrays, else float32 (Python numbers and lists are float32 tensors in Keras)."""
    return np.float64 if all(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in xs) else np.float32


def _pair(x, min_rank):
    """The (real, imag) parts of x, checked as Keras checks them."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{_PAIR} Received: x={x}")
    re, im = x
    if tuple(shape(re)) != tuple(shape(im)):
        raise ValueError(f"{_PAIR} Both the real and imaginary parts should have the same shape. "
                         f"Received: x[0].shape = {tuple(shape(re))}, x[1].shape = {tuple(shape(im))}")
    if any(not str(_dtype(p)).startswith(("float", "bfloat")) for p in (re, im)):
        raise ValueError(f"At least one tensor in input `x` is not of type float. Received: x={x}.")
    if len(shape(re)) < min_rank:
        raise ValueError(f"Input should have rank >= {min_rank}. Received: input.shape = {tuple(shape(re))}")
    return re, im


def _known(x, axis, name):
    n = shape(x)[axis]
    if n is None:
        raise ValueError(f"{name}: the size of axis {axis} must be known when the model is built")
    return int(n)


def _complex(re, im):
    return to_array(re).astype(np.float64) + 1j * to_array(im).astype(np.float64)


def _parts(z, out):
    return z.real.astype(out), z.imag.astype(out)


def _angles(rows, cols, n):
    """2 pi (r c mod n) / n: the reduction keeps the products exact before the float multiply."""
    r, c = np.arange(rows)[:, None], np.arange(cols)[None, :]
    return 2.0 * np.pi * ((r * c) % n) / n


def _cmatmul(re, im, wr, wi):
    """(re + i im) @ (wr + i wi) as (real, imag), from real matmuls (wr / wi None: zero)."""
    wr, wi = np.asarray(wr, np.float32), (None if wi is None else np.asarray(wi, np.float32))
    rr = matmul(re, wr)
    if im is None:
        return rr, matmul(re, wi)
    return subtract(rr, matmul(im, wi)), add(matmul(re, wi), matmul(im, wr))


def _dft_last(re, im, inverse):
    """The (inverse) DFT of the complex pair along the last axis, as two matmuls each."""
    n = _known(re, -1, "fft")
    ang = _angles(n, n, n)
    if inverse:
        return _cmatmul(re, im, np.cos(ang) / n, np.sin(ang) / n)
    return _cmatmul(re, im, np.cos(ang), -np.sin(ang))


def _dft2(x, inverse):
    re, im = _pair(x, 2)
    if is_symbolic([re, im]):
        re, im = _dft_last(re, im, inverse)
        m = _known(re, -2, "fft2 / ifft2")  # along axis -2: the (symmetric) DFT matrix from the left
        ang = _angles(m, m, m)
        wr, wi = (np.cos(ang) / m, np.sin(ang) / m) if inverse else (np.cos(ang), -np.sin(ang))
        wr, wi = wr.astype(np.float32), wi.astype(np.float32)
        return (subtract(matmul(wr, re), matmul(wi, im)), add(matmul(wi, re), matmul(wr, im)))
    z = _complex(re, im)
    return _parts(np.fft.ifft2(z) if inverse else np.fft.fft2(z), _float_type(re, im))


def fft(x):
    """The DFT along the last axis of a complex (real, imag) pair."""
    re, im = _pair(x, 1)
    if is_symbolic([re, im]):
        return _dft_last(re, im, False)
    return _parts(np.fft.fft(_complex(re, im)), _float_type(re, im))


def fft2(x):
    """The 2-D DFT over the last two axes of a complex (real, imag) pair."""
    return _dft2(x, False)


def ifft2(x):
    """The inverse 2-D DFT (scaled by 1 / (M N)) over the last two axes of a complex (real, imag) pair."""
    return _dft2(x, True)


def _length(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: fft_length must be a positive int. Received: fft_length={value!r}")
    return int(value)


def rfft(x, fft_length=None):
    """The non-negative-frequency half (fft_length // 2 + 1 bins) of the DFT of a real signal along the
    last axis, cropped or zero-padded to fft_length first."""
    n = _length(fft_length, "rfft")
    if len(shape(x)) < 1:
        raise ValueError(f"Input should have rank >= 1. Received: input.shape = {tuple(shape(x))}")
    if not is_symbolic([x]):
        return _parts(np.fft.rfft(to_array(x).astype(np.float64), n=n, axis=-1), _float_type(x))
    size = _known(x, -1, "rfft")
    n = size if n is None else n
    ang = _angles(size, n // 2 + 1, n)
    wr, wi = np.cos(ang), -np.sin(ang)
    wr[n:], wi[n:] = 0.0, 0.0  # samples past fft_length are cropped
    return _cmatmul(x, None, wr, wi)


def irfft(x, fft_length=None):
    """The real signal (fft_length samples; default 2 * (bins - 1)) whose rfft is the (real, imag) pair."""
    n = _length(fft_length, "irfft")
    re, im = _pair(x, 1)
    if not is_symbolic([re, im]):
        return np.fft.irfft(_complex(re, im), n=n, axis=-1).astype(_float_type(re, im))
    bins = _known(re, -1, "irfft")
    n = 2 * (bins - 1) if n is None else n
    if n < 1:
        raise ValueError(f"irfft: the output length must be positive; pass fft_length. Received {bins} bins")
    half = n // 2 + 1
    weight = np.where(np.arange(bins) == 0, 1.0, 2.0)
    if n % 2 == 0:
        weight[np.arange(bins) == n // 2] = 1.0
    weight[half:] = 0.0  # bins past fft_length // 2 are cropped
    ang = _angles(bins, n, n)
    ar, ai = np.cos(ang) * weight[:, None] / n, -np.sin(ang) * weight[:, None] / n
    ai[0] = 0.0  # the imaginary parts of the zero (and Nyquist) bins do not contribute, as numpy's
    if n % 2 == 0 and n // 2 < bins:
        ai[n // 2] = 0.0
    return add(matmul(re, ar.astype(np.float32)), matmul(im, ai.astype(np.float32)))


def extract_sequences(x, sequence_length, sequence_stride):
    """Windows of sequence_length along the last axis every sequence_stride samples:
    (..., 1 + (N - sequence_length) // sequence_stride, sequence_length)."""
    length, stride = int(sequence_length), int(sequence_stride)
    size = _known(x, -1, "extract_sequences")
    if length < 1 or stride < 1 or length > size:
        raise ValueError(f"extract_sequences: need 1 <= sequence_length <= {size} (the last axis) and "
                         f"sequence_stride >= 1. Received: sequence_length={sequence_length}, "
                         f"sequence_stride={sequence_stride}")
    idx = np.arange(1 + (size - length) // stride)[:, None] * stride + np.arange(length)[None, :]
    if is_symbolic([x]):
        return take(x, idx.astype(np.int32), axis=-1)
    a = to_array(x)
    if not isinstance(x, np.ndarray) and a.dtype.itemsize == 8:  # Python numbers: Keras's int32 / float32
        a = a.astype(np.int32 if a.dtype.kind in "iu" else np.float32)
    return a[..., idx]


def _window(window, sequence_length):
    """The analysis window (length sequence_length) as float64 values, or None; Keras's checks."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in {"hann", "hamming"}:
            raise ValueError('If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                             f"Received: window={window}")
        if sequence_length == 1:  # torch's one-sample windows are [1]
            return np.ones(1)
        phase = np.cos(2.0 * np.pi * np.arange(sequence_length) / sequence_length)  # periodic, as torch's
        return 0.5 - 0.5 * phase if window == "hann" else 0.54 - 0.46 * phase
    eager_only("stft / istft with a tensor window", window)
    win = to_array(window).astype(np.float64)
    if win.ndim != 1 or win.shape[-1] != sequence_length:
        raise ValueError(f"The shape of `window` must be equal to [sequence_length].Received: window shape={win.shape}")
    return win


def _check_stride(sequence_stride):
    if isinstance(sequence_stride, bool) or not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be a positive integer. Received: sequence_stride={sequence_stride}")


def _frame_indices(size, sequence_length, sequence_stride, fft_length, center):
    """Each frame's sample positions in x where the window covers it: (frames, sequence_length), with
    center's reflection padding of fft_length // 2 folded into the positions."""
    edge = fft_length // 2 if center else 0
    if center and edge >= size:
        raise ValueError(f"stft: center=True reflects fft_length // 2 = {edge} samples at each end, which needs "
                         f"more samples than that. Received a last axis of {size}")
    frames = 1 + (size + 2 * edge - fft_length) // sequence_stride
    if frames < 1:
        raise ValueError(f"stft: the signal ({size} samples) is shorter than fft_length={fft_length}")
    left = (fft_length - sequence_length) // 2  # the window sits in the middle of each frame
    pos = np.arange(frames)[:, None] * sequence_stride + left + np.arange(sequence_length)[None, :] - edge
    pos = np.abs(pos)  # reflect at the start ...
    return np.where(pos > size - 1, 2 * (size - 1) - pos, pos), left  # ... and at the end


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform along the last axis: (real, imag), each
    (..., frames, fft_length // 2 + 1), as Keras's torch backend (torch.stft, reflection padding)."""
    _check_stride(sequence_stride)
    if str(_dtype(x)) not in {"float32", "float64"}:
        raise TypeError(f"Invalid input type. Expected `float32` or `float64`. Received: input type={_dtype(x)}")
    sequence_length, fft_length = int(sequence_length), int(fft_length)
    if fft_length < sequence_length:
        raise ValueError("`fft_length` must equal or larger than `sequence_length`. "
                         f"Received: sequence_length={sequence_length}, fft_length={fft_length}")
    win = _window(window, sequence_length)
    win = np.ones(sequence_length) if win is None else win
    idx, left = _frame_indices(_known(x, -1, "stft"), sequence_length, sequence_stride, fft_length, center)
    ang = _angles(fft_length, fft_length // 2 + 1, fft_length)[left:left + sequence_length]
    wr, wi = np.cos(ang) * win[:, None], -np.sin(ang) * win[:, None]
    if is_symbolic([x]):
        return _cmatmul(take(x, idx.astype(np.int32), axis=-1), None, wr, wi)
    frames = to_array(x).astype(np.float64)[..., idx]
    padded = np.zeros(frames.shape[:-1] + (fft_length,))
    padded[..., left:left + sequence_length] = frames * win
    return _parts(np.fft.rfft(padded, axis=-1), _float_type(x))


def _overlap_add(frames, stride, symbolic):
    """Sums frames (..., F, N) placed every stride samples: (..., (F - 1) * stride + N). Traced: the frames
    cut into ceil(N / stride) chunks of stride samples, each shifted by whole frames (a pad) and summed."""
    count, n = (_known(frames, a, "istft") for a in (-2, -1))
    if not symbolic:
        out = np.zeros(frames.shape[:-2] + ((count - 1) * stride + n,))
        for f in range(count):
            out[..., f * stride:f * stride + n] += frames[..., f, :]
        return out
    lead, chunks = tuple(shape(frames)[:-2]), -(-n // stride)
    rank = len(lead) + 3
    cut = reshape(pad(frames, [(0, 0)] * (rank - 2) + [(0, chunks * stride - n)]), lead + (count, chunks, stride))
    total = None
    for j in range(chunks):
        part = pad(getitem(cut, (Ellipsis, j, slice(None))), [(0, 0)] * (rank - 3) + [(j, chunks - 1 - j), (0, 0)])
        total = part if total is None else add(total, part)
    flat = reshape(total, lead + ((count + chunks - 1) * stride,))
    return getitem(flat, (Ellipsis, slice(0, (count - 1) * stride + n)))


def _istft_plan(count, sequence_length, sequence_stride, fft_length, length, win, center):
    """What istft does after each frame's irfft, as Keras's torch backend does it: the weight of each
    frame sample, the kept span [start, end) of the overlap-add, a divisor over it (or None) and the
    zeros appended past the signal."""
    start = fft_length // 2 if center else 0
    full = fft_length + sequence_stride * (count - 1)
    if sequence_length == fft_length and center and win is not None:
        # torch.istft: divided by the overlap-added squared window, which must not vanish
        envelope = _overlap_add(np.broadcast_to(win * win, (count, fft_length)), sequence_stride, False)
        end = start + length if length is not None else full - fft_length // 2
        envelope = envelope[start:end]
        if envelope.size and np.abs(envelope).min() < 1e-11:
            raise ValueError(f"istft: the window's overlap-add vanishes somewhere (min {np.abs(envelope).min():g}); "
                             "choose sequence_stride and window so the windows overlap")
        return win, start, min(end, full), envelope, max(end - full, 0)
    if sequence_stride > fft_length:
        raise ValueError("`sequence_stride` must equal or less than x.shape[-1]. "
                         f"Received: sequence_stride={sequence_stride}, x.shape[-1]={fft_length}")
    if sequence_stride < fft_length / count:
        raise ValueError("`sequence_stride` must equal or greater than x.shape[-1] / x.shape[-2]. "
                         f"Received: sequence_stride={sequence_stride}, x.shape[-1]={fft_length}, "
                         f"x.shape[-2]={count}")
    weight = np.ones(fft_length)
    if win is not None:  # Keras's own normalisation: the squared window summed over its periodic overlaps
        left = (fft_length - sequence_length) // 2
        padded = np.zeros(fft_length)
        padded[left:left + sequence_length] = win
        overlaps = -(-fft_length // sequence_stride)
        squares = np.zeros(overlaps * sequence_stride)
        squares[:fft_length] = padded * padded
        denom = np.tile(squares.reshape(overlaps, sequence_stride).sum(axis=0), overlaps)[:fft_length]
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 where the window is 0: nan, as Keras's
            weight = padded / denom
    end = start + length if length is not None else (-(fft_length // 2) if center else full)
    start, end, _ = slice(start, end).indices(full)  # Python's slice of the overlap-add, as Keras's
    return weight, start, max(start, end), None, 0


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The signal whose stft is the (real, imag) pair (..., frames, bins): each frame's irfft, windowed,
    overlap-added and normalised by the window's overlap, then trimmed (center) to `length`."""
    _check_stride(sequence_stride)
    re, im = _pair(x, 2)
    sequence_length, fft_length = int(sequence_length), int(fft_length)
    win = _window(window, sequence_length)
    count = _known(re, -2, "istft")
    weight, start, end, divisor, zeros = _istft_plan(count, sequence_length, sequence_stride, fft_length, length,
                                                     win, center)
    if not is_symbolic([re, im]):
        frames = np.fft.irfft(_complex(re, im), n=fft_length, axis=-1) * weight
        y = _overlap_add(frames, sequence_stride, False)[..., start:end]
        y = y if divisor is None else y / divisor
        y = np.concatenate([y, np.zeros(y.shape[:-1] + (zeros,))], axis=-1)
        return y.astype(_float_type(re, im))
    frames = multiply(irfft((re, im), fft_length), weight.astype(np.float32))
    y = getitem(_overlap_add(frames, sequence_stride, True), (Ellipsis, slice(start, end)))
    if divisor is not None:
        y = multiply(y, (1.0 / divisor).astype(np.float32))
    if zeros:
        y = pad(y, [(0, 0)] * (len(shape(y)) - 1) + [(0, zeros)])
    return y
