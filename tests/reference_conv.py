"""NumPy references (float64) for the convolution family: convolutions, pooling, batch
normalization and the activation layers, channels last, written from Keras 3's definitions
(keras/src/ops/operation_utils.py for the output shapes, keras/src/backend/torch/nn.py for the
"same" padding split, keras/src/layers/normalization/batch_normalization.py) to be read, not fast.
"""

import numpy as np

import reference as ref


def out_len(n, k, s, d, padding):
    if padding == "valid":
        return (n - d * (k - 1) - 1) // s + 1
    return (n - 1) // s + 1


def pads(n, k, s, d, padding):
    """(before, after) along one axis: Keras puts the odd padding at the end; causal all at the start."""
    eff = d * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return eff - 1, 0
    out = (n - 1) // s + 1
    total = max(0, (out - 1) * s + eff - n)
    return total // 2, total - total // 2


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _windows(x, kernel, strides, dilation, padding, fill):
    """Yields (tap index, slice of the padded input (B, *out, C)) for each kernel tap, and the output
    spatial shape; padding values are `fill`."""
    rank = x.ndim - 2
    kernel, strides, dilation = _tuple(kernel, rank), _tuple(strides, rank), _tuple(dilation, rank)
    spatial = x.shape[1:-1]
    p = [pads(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
    out = [out_len(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
    xp = np.pad(x, [(0, 0)] + p + [(0, 0)], constant_values=fill)
    taps = []
    for tap in np.ndindex(*kernel):
        idx = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in zip(tap, dilation, out, strides))
        taps.append((tap, xp[(slice(None),) + idx]))
    return taps, out


def conv_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1, activation="linear"):
    """x (B, *spatial, C), kernel (*k, C // groups, F) -> (B, *out, F)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    F = kernel.shape[-1]
    Cg, Fg = kernel.shape[-2], F // groups
    taps, out = _windows(x, kernel.shape[:-2], strides, dilation_rate, padding, 0.0)
    y = np.zeros((x.shape[0],) + tuple(out) + (F,))
    for tap, xs in taps:
        for g in range(groups):
            y[..., g * Fg:(g + 1) * Fg] += xs[..., g * Cg:(g + 1) * Cg] @ kernel[tap][:, g * Fg:(g + 1) * Fg]
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return ref.act_forward(y, activation)


def pool_forward(x, pool_size, strides=None, padding="valid", mode="max"):
    """Max or average over each window; padding never wins and is not counted (Keras's TF/JAX semantics)."""
    x = np.asarray(x, np.float64)
    rank = x.ndim - 2
    pool_size = _tuple(pool_size, rank)
    strides = pool_size if strides is None else _tuple(strides, rank)
    taps, out = _windows(x, pool_size, strides, 1, padding, np.nan)
    stack = np.stack([xs for _, xs in taps])
    if mode == "max":
        return np.nanmax(stack, axis=0)
    return np.nansum(stack, axis=0) / np.sum(~np.isnan(stack), axis=0)


def global_pool(x, mode, keepdims=False, mask=None):
    """Over every spatial axis; the masked average (1-D) divides by the unmasked count."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(1, x.ndim - 1))
    if mode == "max":
        y = x.max(axis=axes, keepdims=keepdims)
    elif mask is not None:
        m = np.asarray(mask, np.float64)[..., None]
        y = (x * m).sum(axis=1, keepdims=keepdims) / m.sum(axis=1, keepdims=keepdims)
    else:
        y = x.mean(axis=axes, keepdims=keepdims)
    return y


def batch_norm(x, gamma, beta, mean, var, epsilon=1e-3):
    x = np.asarray(x, np.float64)
    scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + epsilon)
    if gamma is not None:
        scale = scale * gamma
    y = (x - mean) * scale
    return y + beta if beta is not None else y


def batch_moments(x, mask=None):
    """Keras's moments over every axis but the last: the mean and the biased variance (masked: over
    the kept positions, divided by their count + 1e-7)."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - 1))
    if mask is None:
        return x.mean(axis=axes), x.var(axis=axes)
    m = np.asarray(mask, np.float64)[..., None]
    n = m.sum(axis=axes) + 1e-7
    mean = (x * m).sum(axis=axes) / n
    var = (m * (x - mean) ** 2).sum(axis=axes) / n
    return mean, var


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    x = np.asarray(x, np.float64)
    pos = np.where(x > threshold, x, 0.0)
    pos = np.clip(pos, 0.0, np.inf if max_value is None else max_value)
    return pos - negative_slope * np.maximum(threshold - x, 0.0)


def elu(x, alpha=1.0):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def prelu(x, alpha):
    x = np.asarray(x, np.float64)
    return np.where(x >= 0, x, np.asarray(alpha, np.float64) * x)


def softmax(x, axis=-1, mask=None):
    x = np.asarray(x, np.float64)
    if mask is not None:
        x = np.where(mask, x, -1e9)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y if mask is None else np.where(mask, y, 0.0)


def im2col(x, kernel_size, strides=1, padding="valid", dilation_rate=1):
    """x (B, *spatial, C) -> (B, *out, prod(kernel_size) * C): each output position's window, taps in
    row-major order, channels innermost (a Keras kernel (*k, C, F) reshaped to (-1, F) multiplies it)."""
    taps, _ = _windows(np.asarray(x, np.float64), kernel_size, strides, dilation_rate, padding, 0.0)
    return np.concatenate([xs for _, xs in taps], axis=-1)


def layer_norm(x, gamma, beta, n_axes=1, epsilon=1e-3):
    """Over the last n_axes axes of each sample; gamma/beta have their shape."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + epsilon)
    if gamma is not None:
        y = y * gamma
    return y + beta if beta is not None else y


def group_norm(x, gamma, beta, groups, epsilon=1e-3):
    """Channels last: each sample's channels in `groups`, each normalized over its positions and channels."""
    x = np.asarray(x, np.float64)
    C = x.shape[-1]
    g = x.reshape(x.shape[:-1] + (groups, C // groups))
    axes = tuple(range(1, g.ndim - 2)) + (g.ndim - 1,)
    mean = g.mean(axis=axes, keepdims=True)
    var = g.var(axis=axes, keepdims=True)
    y = ((g - mean) / np.sqrt(var + epsilon)).reshape(x.shape)
    if gamma is not None:
        y = y * gamma
    return y + beta if beta is not None else y


def unit_norm(x, n_axes=1):
    x = np.asarray(x, np.float64)
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    return x * np.minimum(1.0 / np.sqrt((x * x).sum(axis=axes, keepdims=True)), 1e12)


def transpose_pads(k, s, d, padding, output_padding):
    """(left, right) zero padding of the stride-upsampled input (Keras's rule, its JAX backend)."""
    eff = (k - 1) * d + 1
    if padding == "valid":
        op = max(eff, s) - eff if output_padding is None else output_padding
        return eff - 1, eff - 1 + op
    pad = s + eff - 2 if output_padding is None else eff + eff % 2 - 2 + output_padding
    left = min(pad // 2 + pad % 2, eff - 1)
    return left, pad - left


def conv_transpose_forward(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                           dilation_rate=1, activation="linear"):
    """x (B, *n, C), kernel (*k, F, C) -> (B, *out, F): every input value scatters x * kernel[tap] to
    output position i * s + tap * d - (eff - 1 - left)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    ks = kernel.shape[:rank]
    s, d = _tuple(strides, rank), _tuple(dilation_rate, rank)
    op = (None,) * rank if output_padding is None else _tuple(output_padding, rank)
    lr = [transpose_pads(k, si, di, padding, p) for k, si, di, p in zip(ks, s, d, op)]
    eff = [(k - 1) * di + 1 for k, di in zip(ks, d)]
    out = [(n - 1) * si + 1 + a + b - e + 1 for n, si, (a, b), e in zip(x.shape[1:-1], s, lr, eff)]
    shift = [e - 1 - a for e, (a, _) in zip(eff, lr)]
    y = np.zeros((x.shape[0],) + tuple(out) + (kernel.shape[-2],))
    for i in np.ndindex(*x.shape[1:-1]):
        for tap in np.ndindex(*ks):
            o = tuple(ii * si + t * di - sh for ii, si, t, di, sh in zip(i, s, tap, d, shift))
            if all(0 <= oo < n for oo, n in zip(o, out)):
                y[(slice(None),) + o] += x[(slice(None),) + i] @ kernel[tap].T
    if bias is not None:
        y = y + bias
    return ref.act_forward(y, activation)


def depthwise_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, activation="linear"):
    """kernel (*k, C, M): output channel c * M + m is input channel c's window times kernel[..., c, m]."""
    kernel = np.asarray(kernel, np.float64)
    C, M = kernel.shape[-2:]
    grouped = kernel.reshape(kernel.shape[:-2] + (1, C * M))
    return conv_forward(x, grouped, bias, strides, padding, dilation_rate, groups=C, activation=activation)


def separable_forward(x, dw, pw, bias=None, strides=1, padding="valid", dilation_rate=1, activation="linear"):
    mid = depthwise_forward(x, dw, None, strides, padding, dilation_rate)
    return conv_forward(mid, pw, bias, activation=activation)


def conv_lstm_forward(x, kernel, recurrent_kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                      return_sequences=False, return_state=False, go_backwards=False, initial_state=None,
                      activation="tanh", recurrent_activation="sigmoid"):
    """Keras's ConvLSTMCell over x (B, T, *spatial, C): z = conv(x_t, kernel) + bias + conv(h, recurrent_kernel,
    "same"), gates i, f, c, o in the kernels' last axis."""
    x = np.asarray(x, np.float64)
    steps = [x[:, t] for t in range(x.shape[1])]
    if go_backwards:
        steps = steps[::-1]
    F = recurrent_kernel.shape[-2]
    act = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0)}[activation]
    ract = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1)}[
        recurrent_activation]
    h = c = None
    if initial_state is not None:
        h, c = (np.asarray(s, np.float64) for s in initial_state)
    outs = []
    for xt in steps:
        zx = conv_forward(xt, kernel, bias, strides, padding, dilation_rate)
        if h is None:
            h = c = np.zeros(zx.shape[:-1] + (F,))
        z = zx + conv_forward(h, recurrent_kernel, None, 1, "same")
        i, f, g, o = (z[..., j * F:(j + 1) * F] for j in range(4))
        c = ract(f) * c + ract(i) * act(g)
        h = ract(o) * act(c)
        outs.append(h)
    out = np.stack(outs, axis=1) if return_sequences else outs[-1]
    return [out, h, c] if return_state else out
