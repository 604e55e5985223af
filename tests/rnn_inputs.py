"""Inputs and weights the RNN tests share: sequences and random_weights (tests/test_rnn_custom_cell.py,
tests/test_rnn_scan.py), normal and randomize (tests/test_recurrent.py, test_gru_reset_before.py,
test_initial_state.py, test_variable_length.py)."""

import numpy as np


def sequences(T, D, B=4, seed=0, masked=False):
    """(B, T, D) float32 from N(0, 0.7) (default_rng(seed)). masked: steps of zeros for Masking(0.0)
    at the start, middle and end of rows, one row all masked (B >= 4)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.7, (B, T, D)).astype(np.float32)
    if masked:
        x[0, :2] = 0
        x[1, T // 2] = 0
        x[2, -2:] = 0
        x[3] = 0
    return x


def random_weights(model, seed=1):
    """Sets the model's weights to N(0, 1) / sqrt(fan-in) (4 for vectors), default_rng(seed); returns them."""
    rng = np.random.default_rng(seed)
    ws = [(rng.normal(0, 1, w.shape) / np.sqrt(w.shape[0] if w.ndim > 1 else 4)).astype(np.float32)
          for w in model.get_weights()]
    model.set_weights(ws)
    return ws


def normal(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def randomize(obj, seed=1):
    """Sets obj's (a layer's or model's) weights to random values: matrices ~ N(0, 1/rows),
    vectors (biases) ~ N(0, 0.25), so no bias is zero and no state explodes. Returns them."""
    rng = np.random.default_rng(seed)
    ws = []
    for w in obj.get_weights():
        scale = 0.5 if w.ndim == 1 or w.shape[0] <= 2 else 1.0 / np.sqrt(w.shape[0])
        ws.append((scale * rng.standard_normal(w.shape)).astype(np.float32))
    obj.set_weights(ws)
    return ws
