"""Run-time shapes of the native program (cpp/runtime/shapes.h), through the low-level binding:
symbols bound by the input arrays per call, derived symbols, grow-only buffers, and the errors a
caller gets for arrays that do not fit."""

import numpy as np
import pytest

from bigcore import _core

LOSS_MSE = 0


def _dense_program(units=5, features=8):
    """x (B, T, features) with T a symbol -> Dense (no activation) -> (B, T, units), MSE loss."""
    p = _core.Program()
    T = p.add_symbol("T")
    x = p.add_shaped_tensor([~T, features], is_input=True)
    y = p.add_shaped_tensor([~T, units])
    w = p.add_param(features * units)
    b = p.add_param(units)
    p.add_dense(x, y, w, b, features, units, 0)
    p.set_inputs([x])
    p.set_outputs([y])
    p.finalize()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((features, units)).astype(np.float32)
    bias = rng.standard_normal(units).astype(np.float32)
    p.params()[w:w + W.size] = W.ravel()
    p.params()[b:b + units] = bias
    p.set_losses([(y, 0, LOSS_MSE, units, 1.0, False, 0.0)])
    return p, (x, y, w, b), W, bias


def _predict(p, x, out_t):
    sym = p.resolve_symbols([list(x.shape[1:])])
    out = np.zeros((x.shape[0],) + p.tensor_shape(out_t, sym), np.float32)
    p.predict_step([x], 0, x.shape[0], [out])
    return out


def test_one_program_runs_every_length():
    p, (x_t, y_t, _, _), W, bias = _dense_program()
    rng = np.random.default_rng(1)
    for T in (3, 17, 5, 17, 1):
        x = rng.standard_normal((4, T, 8)).astype(np.float32)
        got = _predict(p, x, y_t)
        want = x.astype(np.float64) @ W + bias
        assert got.shape == (4, T, 5)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gradients_follow_the_length_of_each_call():
    p, (x_t, y_t, w, b), W, bias = _dense_program()
    rng = np.random.default_rng(2)
    stats = np.zeros(p.stats_size)
    for T in (3, 17, 3):
        x = rng.standard_normal((6, T, 8)).astype(np.float32)
        t = rng.standard_normal((6, T, 5)).astype(np.float32)
        src = p.bind([x], [t])
        p.compute_gradients(src, None, 0, 6, 0, 0, 0, 1.0, stats)
        y = x.astype(np.float64) @ W + bias
        n = y.size
        np.testing.assert_allclose(stats[0], ((y - t) ** 2).sum() / n, rtol=1e-5)
        dy = 2 * (y - t) / n
        dW = x.reshape(-1, 8).T.astype(np.float64) @ dy.reshape(-1, 5)
        np.testing.assert_allclose(p.grads()[w:w + 40].reshape(8, 5), dW, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(p.grads()[b:b + 5], dy.reshape(-1, 5).sum(0), rtol=1e-4, atol=1e-6)


def test_two_inputs_share_or_keep_their_symbols():
    p = _core.Program()
    T, S = p.add_symbol("T"), p.add_symbol("S")
    a = p.add_shaped_tensor([~T, 2], is_input=True)
    b = p.add_shaped_tensor([~T, 3], is_input=True)
    c = p.add_shaped_tensor([~S], is_input=True)
    p.set_inputs([a, b, c])
    p.finalize()
    assert p.resolve_symbols([[4, 2], [4, 3], [9]]) == [4, 9]
    with pytest.raises(ValueError, match=r"axis 1 of input 1 has length 5, but T is 4 \(axis 1 of input 0\)"):
        p.resolve_symbols([[4, 2], [5, 3], [9]])
    with pytest.raises(ValueError, match=r"input 0 must have shape \(None, T, 2\), got \(n, 4, 7\)"):
        p.resolve_symbols([[4, 7], [4, 3], [9]])
    with pytest.raises(ValueError, match="input 2 must have shape"):
        p.resolve_symbols([[4, 2], [4, 3], [9, 1]])
    # the same checks when arrays are bound
    x = [np.zeros((2, 4, 2), np.float32), np.zeros((2, 5, 3), np.float32), np.zeros((2, 9), np.float32)]
    with pytest.raises(ValueError, match="but T is 4"):
        p.bind(x)


def test_derived_symbols():
    p = _core.Program()
    T, S = p.add_symbol("T"), p.add_symbol("S")
    two_t = p.add_derived_symbol("affine", [T], [2, 0, 1])
    half = p.add_derived_symbol("affine", [T], [1, 1, 2])      # (T + 1) // 2
    total = p.add_derived_symbol("sum", [T, S])
    area = p.add_derived_symbol("prod", [T, S])
    both = p.add_derived_symbol("broadcast", [T, S])
    tail = p.add_derived_symbol("slice", [T], [2, None, 1])     # len(range(T)[2:])
    every2 = p.add_derived_symbol("slice", [T], [None, None, -2])
    a = p.add_shaped_tensor([~T], is_input=True)
    b = p.add_shaped_tensor([~S], is_input=True)
    p.set_inputs([a, b])
    p.finalize()
    for t, s in ((7, 7), (7, 1), (3, 3), (10, 10)):
        v = p.resolve_symbols([[t], [s]])
        want_both = max(t, s)
        assert v[two_t] == 2 * t and v[half] == (t + 1) // 2 and v[total] == t + s and v[area] == t * s
        assert v[both] == want_both
        assert v[tail] == len(range(t)[2:])
        assert v[every2] == len(range(t)[::-2])
    with pytest.raises(ValueError, match="do not broadcast"):
        p.resolve_symbols([[3], [4]])
    with pytest.raises(ValueError, match="resolves to 0"):
        p.resolve_symbols([[2], [2]])  # T[2:] is empty
    t2 = p.add_shaped_tensor([~two_t, 3])
    assert p.tensor_shape(t2, p.resolve_symbols([[5], [5]])) == (10, 3)
    q = _core.Program()
    U, V = q.add_symbol("U"), q.add_symbol("V")
    bc = q.add_derived_symbol("broadcast", [U, V])
    q.set_inputs([q.add_shaped_tensor([~U], is_input=True), q.add_shaped_tensor([~V], is_input=True)])
    assert q.resolve_symbols([[1], [4]])[bc] == 4
    huge = q.add_derived_symbol("affine", [U], [1 << 62, 0, 1])
    with pytest.raises(ValueError, match=f"s{huge} overflows"):
        q.resolve_symbols([[3], [1]])


def test_bad_declarations_raise():
    p = _core.Program()
    T = p.add_symbol("T")
    two_t = p.add_derived_symbol("affine", [T], [2, 0, 1])
    with pytest.raises(ValueError, match="unknown derived symbol kind"):
        p.add_derived_symbol("max", [T, T])
    with pytest.raises(ValueError, match="names an unknown symbol"):
        p.add_derived_symbol("sum", [T, 7])
    with pytest.raises(ValueError, match="divisor"):
        p.add_derived_symbol("affine", [T], [1, 0, 0])
    with pytest.raises(ValueError, match="names symbol 5"):
        p.add_shaped_tensor([~5, 2])
    with pytest.raises(ValueError, match="must be >= 1"):
        p.add_shaped_tensor([0, 2])
    with pytest.raises(ValueError, match="not the derived"):
        p.add_shaped_tensor([~two_t], is_input=True)
    with pytest.raises(ValueError, match="batch axis"):
        p.add_shaped_tensor([3], is_input=True, batched=False)
    with pytest.raises(ValueError, match="at most"):
        p.add_shaped_tensor([2] * 8)
    c = p.add_shaped_tensor([3], batched=False)
    with pytest.raises(ValueError, match="batch axis"):
        p.set_outputs([c])
    with pytest.raises(ValueError, match="batch axis"):
        p.set_losses([(c, 0, LOSS_MSE, 3, 1.0, False, 0.0)])
    with pytest.raises(ValueError, match="symbolic"):
        p.tensor_shape(p.add_shaped_tensor([~T, 2]))
    with pytest.raises(ValueError, match=r"more than 2\^40 values"):
        p.add_shaped_tensor([1 << 39, 1 << 39])
    with pytest.raises(ValueError, match="no parameter starts"):
        p.add_weight_tensor(12345, [2, 2])
    w = p.add_param(6)
    with pytest.raises(ValueError, match="holds 6 values, not 4"):
        p.add_weight_tensor(w, [2, 2])


def test_fixed_shape_programs_keep_their_checks():
    """A program without symbols checks values per sample as before (any array shape of that size)."""
    p = _core.Program()
    x = p.add_tensor(6, True)
    y = p.add_tensor(2)
    w = p.add_param(12)
    p.add_dense(x, y, w, -1, 6, 2, 0)
    p.set_inputs([x])
    p.set_outputs([y])
    p.finalize()
    assert p.n_symbols == 0 and p.resolve_symbols([[6]]) == []
    out = np.zeros((3, 2), np.float32)
    p.predict_step([np.ones((3, 2, 3), np.float32)], 0, 3, [out])  # (2, 3) per sample: 6 values
    with pytest.raises(ValueError, match="6 values per sample"):
        p.predict_step([np.ones((3, 5), np.float32)], 0, 3, [out])
