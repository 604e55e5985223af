"""NumPy references (float64, one timestep at a time) for the sequence layers: SimpleRNN, LSTM, GRU,
Bidirectional, Embedding and the merge layers, as Keras 3 computes them.

Written to be read: each cell is the textbook formula over Keras's weight layout, and the time
loop is keras/src/backend/*/rnn.py's masking rule spelled out.

Layouts (Keras's, which bigcore shares):
  SimpleRNN kernel (D, U), recurrent_kernel (U, U), bias (U,) or None.
  LSTM kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U,) or None; gate blocks i, f, c, o.
  GRU (reset_after=True) kernel (D, 3U), recurrent_kernel (U, 3U), bias (2, 3U) or None
      (row 0 the input bias, row 1 the recurrent bias); gate blocks z, r, h.
  GRU (reset_after=False, kind "gru_reset_before") the same but bias (3U,) or None.
Shapes: x (B, T, D), mask (B, T) of 0/1 or bools, outputs (B, T, U) or (B, U).

Masking (Keras): at a masked step the states pass through unchanged and the output is the
carried h (h of the last unmasked step, zeros before the first), or zeros when
zero_output_for_mask (what Bidirectional sets on both directions when return_sequences).
go_backwards processes t = T-1 .. 0 and returns the sequence in processing order; the final
states are those after the last processed step.
"""

import numpy as np

from reference_activations import forward as act_forward  # every native kind

MERGE_MODES = ("concat", "sum", "ave", "mul")


def _f64(a):
    return None if a is None else np.asarray(a, np.float64)


# --------------------------------------------------------------------------- cells


def lstm_cell(x_t, states, kernel, recurrent_kernel, bias, activation="tanh", recurrent_activation="sigmoid"):
    """x_t (B, D), states [h (B, U), c (B, U)] -> (h, [h, c])."""
    h_prev, c_prev = states
    U = h_prev.shape[-1]
    z = x_t @ kernel + h_prev @ recurrent_kernel
    if bias is not None:
        z = z + bias
    i = act_forward(z[:, :U], recurrent_activation)
    f = act_forward(z[:, U:2 * U], recurrent_activation)
    g = act_forward(z[:, 2 * U:3 * U], activation)
    o = act_forward(z[:, 3 * U:], recurrent_activation)
    c = f * c_prev + i * g
    h = o * act_forward(c, activation)
    return h, [h, c]


def gru_cell(x_t, states, kernel, recurrent_kernel, bias, activation="tanh", recurrent_activation="sigmoid"):
    """reset_after=True. x_t (B, D), states [h (B, U)] -> (h, [h])."""
    (h_prev,) = states
    U = h_prev.shape[-1]
    xp = x_t @ kernel            # (B, 3U): x W for the z, r, h blocks
    rp = h_prev @ recurrent_kernel  # (B, 3U): h_prev U for the same blocks
    if bias is not None:
        xp = xp + bias[0]
        rp = rp + bias[1]
    z = act_forward(xp[:, :U] + rp[:, :U], recurrent_activation)
    r = act_forward(xp[:, U:2 * U] + rp[:, U:2 * U], recurrent_activation)
    hh = act_forward(xp[:, 2 * U:] + r * rp[:, 2 * U:], activation)
    h = z * h_prev + (1.0 - z) * hh
    return h, [h]


def gru_reset_before_cell(x_t, states, kernel, recurrent_kernel, bias, activation="tanh",
                          recurrent_activation="sigmoid"):
    """GRU(reset_after=False), Keras's formula: bias (3U,) or None; the reset gate multiplies h_prev
    before the candidate's recurrent product. x_t (B, D), states [h (B, U)] -> (h, [h])."""
    (h_prev,) = states
    U = h_prev.shape[-1]
    xp = x_t @ kernel
    if bias is not None:
        xp = xp + bias
    rp = h_prev @ recurrent_kernel[:, :2 * U]
    z = act_forward(xp[:, :U] + rp[:, :U], recurrent_activation)
    r = act_forward(xp[:, U:2 * U] + rp[:, U:], recurrent_activation)
    hh = act_forward(xp[:, 2 * U:] + (r * h_prev) @ recurrent_kernel[:, 2 * U:], activation)
    h = z * h_prev + (1.0 - z) * hh
    return h, [h]


def simple_rnn_cell(x_t, states, kernel, recurrent_kernel, bias, activation="tanh", recurrent_activation=None):
    """x_t (B, D), states [h (B, U)] -> (h, [h]); Keras's SimpleRNN has no recurrent_activation
    (the argument is there only so the time loop calls every cell alike)."""
    (h_prev,) = states
    z = x_t @ kernel + h_prev @ recurrent_kernel
    if bias is not None:
        z = z + bias
    h = act_forward(z, activation)
    return h, [h]


CELLS = {"lstm": (lstm_cell, 2), "gru": (gru_cell, 1), "gru_reset_before": (gru_reset_before_cell, 1),
         "simple_rnn": (simple_rnn_cell, 1)}


# --------------------------------------------------------------------------- the time loop


def rnn_forward(kind, x, kernel, recurrent_kernel, bias=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", return_sequences=False, return_state=False,
                go_backwards=False, zero_output_for_mask=False, initial_state=None):
    """An LSTM ("lstm") or GRU ("gru") layer over x (B, T, D).

    Returns y, or [y, *final_states] when return_state ([y, h, c] for LSTM, [y, h] for GRU).
    y is (B, T, U) in processing order when return_sequences, else the last processed output (B, U).
    initial_state: [h0, c0] (LSTM) or [h0] (GRU), each (B, U); zeros when None. The output before
    the first unmasked step is zeros even then (Keras's prev_output starts at zeros).
    """
    cell, n_states = CELLS[kind]
    x = _f64(x)
    kernel, recurrent_kernel, bias = _f64(kernel), _f64(recurrent_kernel), _f64(bias)
    B, T, _ = x.shape
    U = recurrent_kernel.shape[0]
    m = np.ones((B, T), bool) if mask is None else np.asarray(mask).astype(bool)
    if initial_state is None:
        states = [np.zeros((B, U)) for _ in range(n_states)]
    else:
        assert len(initial_state) == n_states
        states = [_f64(s) for s in initial_state]
    prev_out = np.zeros((B, U))
    outs = []
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    for t in order:
        h, new_states = cell(x[:, t], states, kernel, recurrent_kernel, bias, activation, recurrent_activation)
        keep = m[:, t][:, None]
        states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
        out = np.where(keep, h, 0.0 if zero_output_for_mask else prev_out)
        prev_out = np.where(keep, h, prev_out)
        outs.append(out)
    y = np.stack(outs, axis=1) if return_sequences else outs[-1]
    return [y] + states if return_state else y


def stacked_rnn_forward(kinds, x, weights, mask=None, return_sequences=False, return_state=False,
                        zero_output_for_mask=False):
    """Keras's RNN(StackedRNNCells): at each step the cells run in turn, cell i's output the next
    one's input; a masked step keeps every cell's states and repeats the last output (or zeros).
    weights: (kernel, recurrent_kernel, bias) per cell. Returns y, or [y, *each cell's states]."""
    x = _f64(x)
    B, T, _ = x.shape
    m = np.ones((B, T), bool) if mask is None else np.asarray(mask).astype(bool)
    states = [[np.zeros((B, _f64(w[1]).shape[0]))] * CELLS[k][1] for k, w in zip(kinds, weights)]
    prev_out = np.zeros((B, _f64(weights[-1][1]).shape[0]))
    outs = []
    for t in range(T):
        h, keep = x[:, t], m[:, t][:, None]
        for i, (k, (kernel, rk, bias)) in enumerate(zip(kinds, weights)):
            h, new_states = CELLS[k][0](h, states[i], _f64(kernel), _f64(rk), _f64(bias), "tanh", "sigmoid")
            states[i] = [np.where(keep, n, s) for n, s in zip(new_states, states[i])]
        outs.append(np.where(keep, h, 0.0 if zero_output_for_mask else prev_out))
        prev_out = np.where(keep, h, prev_out)
    y = np.stack(outs, axis=1) if return_sequences else outs[-1]
    return [y] + [s for cell_states in states for s in cell_states] if return_state else y


def lstm_forward(x, kernel, recurrent_kernel, bias=None, **kw):
    return rnn_forward("lstm", x, kernel, recurrent_kernel, bias, **kw)


def gru_forward(x, kernel, recurrent_kernel, bias=None, **kw):
    return rnn_forward("gru", x, kernel, recurrent_kernel, bias, **kw)


def merge(mode, a, b):
    """Bidirectional's (and the merge layers') combination of two outputs."""
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "ave":
        return (a + b) / 2.0
    if mode == "mul":
        return a * b
    raise ValueError(f"unknown merge mode {mode!r}")


def bidirectional_forward(kind, x, forward_weights, backward_weights, mask=None, merge_mode="concat",
                          return_sequences=False, return_state=False, go_backwards=False, initial_state=None,
                          **cell_kw):
    """Keras's Bidirectional around an LSTM/GRU: a forward copy and a go_backwards copy.

    *_weights: (kernel, recurrent_kernel, bias or None). The backward copy's sequence is flipped
    back to input order when return_sequences; both copies zero their output at masked steps
    when return_sequences. Returns the merged output ([fwd, bwd] for merge_mode None), followed by
    the forward then the backward final states when return_state. initial_state: the forward
    copy's states then the backward copy's (Keras splits the list in halves).
    """
    common = dict(mask=mask, return_sequences=return_sequences, return_state=True,
                  zero_output_for_mask=return_sequences, **cell_kw)
    half = None if initial_state is None else len(initial_state) // 2
    fwd = rnn_forward(kind, x, *forward_weights, go_backwards=go_backwards,
                      initial_state=None if half is None else initial_state[:half], **common)
    bwd = rnn_forward(kind, x, *backward_weights, go_backwards=not go_backwards,
                      initial_state=None if half is None else initial_state[half:], **common)
    yf, yb = fwd[0], bwd[0]
    if return_sequences:
        yb = yb[:, ::-1]
    out = [yf, yb] if merge_mode is None else [merge(merge_mode, yf, yb)]
    if not return_state:
        return out if merge_mode is None else out[0]
    return out + fwd[1:] + bwd[1:]


def forward_from_weights(kind, x, ws, use_bias=True, bidi=False, merge_mode="concat", **kw):
    """An LSTM/GRU layer over x, or with bidi a Bidirectional of it (merge_mode), from a weight list
    that starts with the layer's (kernel, recurrent_kernel, bias if use_bias), the forward copy's then
    the backward copy's for the Bidirectional. kw: rnn_forward's / bidirectional_forward's. Returns
    the forward's result and the weights in ws after the layer's."""
    n = 3 if use_bias else 2

    def layer_weights(w):
        return w[0], w[1], w[2] if use_bias else None

    if bidi:
        return (bidirectional_forward(kind, x, layer_weights(ws[:n]), layer_weights(ws[n:2 * n]),
                                      merge_mode=merge_mode, **kw), ws[2 * n:])
    return rnn_forward(kind, x, *layer_weights(ws[:n]), **kw), ws[n:]


# --------------------------------------------------------------------------- embedding, dense


def embedding_forward(ids, table, mask_zero=False):
    """ids (B, T) ints -> (vectors (B, T, E), mask (B, T) bools or None)."""
    ids = np.asarray(ids).astype(np.int64)
    return _f64(table)[ids], (ids != 0) if mask_zero else None


def dense_forward(x, kernel, bias=None, activation="linear"):
    z = _f64(x) @ _f64(kernel)
    if bias is not None:
        z = z + _f64(bias)
    return act_forward(z, activation)


# --------------------------------------------------------------------------- masked losses


def masked_mean(values, mask=None):
    """Keras 3's sum_over_batch_size with a mask: sum(l * m) / sum(m) (0 when all masked)."""
    values = np.asarray(values, np.float64)
    if mask is None:
        return float(values.mean())
    m = np.asarray(mask, np.float64)
    s = m.sum()
    return float((values * m).sum() / s) if s else 0.0


def mse_rows(y_true, y_pred):
    """Per-row mean squared error over the last axis."""
    return ((_f64(y_pred) - _f64(y_true)) ** 2).mean(-1)


# --------------------------------------------------------------------------- merge layers with masks


def keras_merge(mode, xs, masks):
    """Add ("sum"), Average ("ave"), Multiply ("mul") or Concatenate ("concat") of xs as Keras 3
    computes them with masks (keras/src/layers/merging): Multiply takes 1 for each input at its
    masked steps and, when every input is masked, gives 0 where no input is unmasked."""
    xs = [_f64(x) for x in xs]
    masks = list(masks) if masks is not None else [None] * len(xs)
    if mode == "concat":
        return np.concatenate(xs, axis=-1)
    if mode == "sub":
        return xs[0] - xs[1]
    if mode in ("max", "min"):  # Keras's _apply_merge_op_and_or_mask, written out
        op = np.maximum if mode == "max" else np.minimum
        full = lambda m, x: None if m is None else np.broadcast_to(np.asarray(m, bool)[..., None], x.shape)
        out, out_m = xs[0], full(masks[0], xs[0])
        for x, m in zip(xs[1:], masks[1:]):
            m = full(m, x)
            if m is not None:
                x = np.where(m, x, out)
            if out_m is not None:
                out = np.where(out_m, out, x)
            out_m = np.logical_or(out_m, m) if m is not None and out_m is not None else None
            out = op(out, x)
        return out
    if mode == "mul":
        out = np.ones_like(xs[0])
        for x, m in zip(xs, masks):
            out = out * (x if m is None else np.where(np.asarray(m)[..., None], x, 1.0))
        any_mask = keras_merge_mask(mode, xs, masks)
        return out if any_mask is None else np.where(any_mask[..., None], out, 0.0)
    out = sum(xs)
    return out / len(xs) if mode == "ave" else out


def keras_merge_mask(mode, xs, masks):
    """The output mask of a Keras 3 merge: the *or* of the masks. Add, Average and Multiply give none
    unless every input is masked; Concatenate counts an unmasked input as unmasked everywhere."""
    masks = list(masks) if masks is not None else [None] * len(xs)
    if all(m is None for m in masks):
        return None
    if mode != "concat" and any(m is None for m in masks):
        return None
    present = [np.ones(np.shape(x)[:-1], bool) if m is None else np.asarray(m, bool) for x, m in zip(xs, masks)]
    return np.logical_or.reduce(present)
