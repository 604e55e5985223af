"""Primitives inside a native program (Program.add_prim), built through the low-level binding:
inputs whose length changes from call to call run in one program without re-lowering and match
NumPy each time; gradients reach weights read as tensors (checked by central differences);
declarations that cannot hold fail when built, lengths that cannot hold when run."""

import numpy as np
import pytest

import bigcore
from bigcore import _core

LOSS_MSE = 0
D, H = 8, 6


class Attention:
    """x (B, T, D) -> a = gelu(x W + b) (B, T, H); w = softmax over T of a q; pooled = sum_t w a
    (B, H); tail = the mean of x[:, 1:] over time (B, D); peak = the max over time of
    concatenate([a, a[:, 1:]], axis=1) (B, H); rsum = logsumexp over 2T of reshape(a, (B, 2T, 3))
    summed over its last axis (B, 1); out = [pooled, tail, peak, rsum]. Lengths: T, T - 1,
    2T - 1, 2T, all derived from the one input symbol."""

    def __init__(self):
        p = self.p = _core.Program()
        T = p.add_symbol("T")
        tail_t = p.add_derived_symbol("slice", [T], [1, None, 1])
        both_t = p.add_derived_symbol("sum", [T, tail_t])
        two_t = p.add_derived_symbol("affine", [T], [2, 0, 1])
        self.x = x = p.add_shaped_tensor([~T, D], is_input=True)
        self.offs = {name: p.add_param(n) for name, n in (("W", D * H), ("b", H), ("q", H))}
        W = p.add_weight_tensor(self.offs["W"], [D, H])
        b = p.add_weight_tensor(self.offs["b"], [H])
        q = p.add_weight_tensor(self.offs["q"], [H])
        t = lambda *shape: p.add_shaped_tensor(list(shape))  # noqa: E731
        h, h2, a = t(~T, H), t(~T, H), t(~T, H)
        p.add_prim("matmul", [x, W], [h])
        p.add_prim("add", [h, b], [h2])
        p.add_prim("gelu", [h2], [a], {"approximate": True})
        s, w, w3, ctx, pooled = t(~T), t(~T), t(~T, 1), t(~T, H), t(H)
        p.add_prim("matmul", [a, q], [s])
        p.add_prim("softmax", [s], [w], {"axis": 1})
        p.add_prim("expand_dims", [w], [w3], {"axis": -1})
        p.add_prim("multiply", [a, w3], [ctx])
        p.add_prim("sum", [ctx], [pooled], {"axis": 1})
        xt, tail = t(~tail_t, D), t(D)
        p.add_prim("slice", [x], [xt], {"start": [None, 1], "stop": [None, None], "step": [1, 1]})
        p.add_prim("mean", [xt], [tail], {"axis": 1})
        at, joined, peak = t(~tail_t, H), t(~both_t, H), t(H)
        p.add_prim("slice", [a], [at], {"start": [None, 1]})
        p.add_prim("concatenate", [a, at], [joined], {"axis": 1})
        p.add_prim("max", [joined], [peak], {"axis": 1})
        r, rs, rsum = t(~two_t, 3), t(~two_t), t(1)
        p.add_prim("reshape", [a], [r])
        p.add_prim("square", [r], [t(~two_t, 3)])  # an op whose output no loss reads
        p.add_prim("sum", [r], [rs], {"axis": -1})
        p.add_prim("logsumexp", [rs], [rsum], {"axis": 1, "keepdims": True})
        self.out = out = t(H + D + H + 1)
        p.add_prim("concatenate", [pooled, tail, peak, rsum], [out], {"axis": 1})
        p.set_inputs([x])
        p.set_outputs([out])
        p.finalize()
        rng = np.random.default_rng(0)
        self.values = {"W": rng.standard_normal((D, H)) * 0.5, "b": rng.standard_normal(H) * 0.1,
                       "q": rng.standard_normal(H)}
        for k, v in self.values.items():
            self.params(k)[:] = v.astype(np.float32).ravel()
        p.set_losses([(out, 0, LOSS_MSE, H + D + H + 1, 1.0, False, 0.0)])

    def params(self, k):
        n = self.values[k].size
        return self.p.params()[self.offs[k]:self.offs[k] + n]

    def grads(self, k):
        n = self.values[k].size
        return self.p.grads()[self.offs[k]:self.offs[k] + n].reshape(self.values[k].shape)

    @staticmethod
    def reference(x, W, b, q):
        a = x @ W + b
        a = 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))
        s = a @ q
        w = np.exp(s - s.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        pooled = (a * w[..., None]).sum(1)
        tail = x[:, 1:].mean(1)
        peak = np.concatenate([a, a[:, 1:]], 1).max(1)
        rs = a.reshape(a.shape[0], -1, 3).sum(-1)
        m = rs.max(1, keepdims=True)
        rsum = m + np.log(np.exp(rs - m).sum(1, keepdims=True))
        return np.concatenate([pooled, tail, peak, rsum], 1)

    def predict(self, x):
        out = np.zeros((x.shape[0], 2 * H + D + 1), np.float32)
        self.p.predict_step([x], 0, x.shape[0], [out])
        return out


def test_lengths_change_from_call_to_call():
    m = Attention()
    rng = np.random.default_rng(1)
    W, b, q = (m.values[k] for k in "Wbq")
    for T in (3, 17, 5, 2, 17):
        x = rng.standard_normal((4, T, D)).astype(np.float32)
        got = m.predict(x)
        np.testing.assert_allclose(got, m.reference(x.astype(np.float64), W, b, q), rtol=1e-4, atol=1e-5)


def test_gradients_reach_weights_read_as_tensors():
    m = Attention()
    rng = np.random.default_rng(2)
    stats = np.zeros(m.p.stats_size)
    for T in (3, 11, 4):
        x = rng.standard_normal((3, T, D)).astype(np.float32)
        y = rng.standard_normal((3, 2 * H + D + 1)).astype(np.float32)
        m.p.compute_gradients(m.p.bind([x], [y]), None, 0, 3, 0, 0, 0, 1.0, stats)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        vals = {k: m.params(k).astype(np.float64).reshape(m.values[k].shape) for k in "Wbq"}

        def loss(v):
            return ((m.reference(x64, v["W"], v["b"], v["q"]) - y64) ** 2).mean()

        assert np.isclose(stats[0], loss(vals), rtol=1e-4)
        for k in "Wbq":
            num = np.zeros_like(vals[k])
            for i in np.ndindex(num.shape):
                up = {**vals, k: vals[k].copy()}
                down = {**vals, k: vals[k].copy()}
                up[k][i] += 1e-6
                down[k][i] -= 1e-6
                num[i] = (loss(up) - loss(down)) / 2e-6
            np.testing.assert_allclose(m.grads(k), num, rtol=2e-3, atol=2e-5, err_msg=f"{k} at T={T}")


def test_threads_do_not_change_a_bit(restore_threads):
    m = Attention()
    x = np.random.default_rng(3).standard_normal((40, 9, D)).astype(np.float32)
    y = np.random.default_rng(4).standard_normal((40, 2 * H + D + 1)).astype(np.float32)
    runs = []
    for n in (1, 2, 3):
        bigcore.config.set_num_threads(n)
        stats = np.zeros(m.p.stats_size)
        m.p.compute_gradients(m.p.bind([x], [y]), None, 0, 40, 0, 0, 0, 1.0, stats)
        runs.append((m.predict(x).tobytes(), m.p.grads().tobytes(), stats.tobytes()))
    assert runs[0] == runs[1] == runs[2]


def test_a_weight_read_by_two_ops_gets_both_gradients():
    """Dense reads W as a parameter segment, a matmul reads it as a tensor: the plan has the second
    writer add. x * x has one tensor on both sides of an op: its gradient is 2 x g."""
    p = _core.Program()
    x = p.add_shaped_tensor([D], is_input=True)
    w = p.add_param(D * H)
    Wt = p.add_weight_tensor(w, [D, H])
    y1, y2, s, sq = (p.add_shaped_tensor([H]) for _ in range(4))
    p.add_dense(x, y1, w, -1, D, H, 0)
    p.add_prim("matmul", [x, Wt], [y2])
    p.add_prim("add", [y1, y2], [s])
    p.add_prim("multiply", [s, s], [sq])
    p.set_inputs([x])
    p.set_outputs([sq])
    p.finalize()
    W = np.random.default_rng(5).standard_normal((D, H)).astype(np.float32)
    p.params()[w:w + D * H] = W.ravel()
    p.set_losses([(sq, 0, LOSS_MSE, H, 1.0, False, 0.0)])
    xv = np.random.default_rng(6).standard_normal((5, D)).astype(np.float32)
    t = np.zeros((5, H), np.float32)
    stats = np.zeros(p.stats_size)
    p.compute_gradients(p.bind([xv], [t]), None, 0, 5, 0, 0, 0, 1.0, stats)
    s64 = 2 * xv.astype(np.float64) @ W
    g_sq = 2 * (s64 ** 2) / s64.size
    g_s = g_sq * 2 * s64
    want = 2 * xv.T.astype(np.float64) @ g_s
    np.testing.assert_allclose(p.grads()[w:w + D * H].reshape(D, H), want, rtol=1e-4, atol=1e-6)


def test_declarations_that_cannot_hold_fail_when_built():
    p = _core.Program()
    T = p.add_symbol("T")
    x = p.add_shaped_tensor([~T, D], is_input=True)
    w = p.add_weight_tensor(p.add_param(D * H), [D, H])
    with pytest.raises(ValueError, match=r"prim 'matmul': output 0 has shape \(1019, 1021, 6\) for inputs of shapes "
                                         r"\(1019, 1021, 8\), \(8, 6\), but its tensor has shape \(1019, 1021, 5\)"):
        p.add_prim("matmul", [x, w], [p.add_shaped_tensor([~T, 5])])
    with pytest.raises(ValueError, match="output 0 has shape"):  # a batched result declared batch-less
        p.add_prim("exp", [x], [p.add_shaped_tensor([~T, D], batched=False)])
    with pytest.raises(ValueError, match="model input or a weight"):
        p.add_prim("exp", [x], [x])
    with pytest.raises(ValueError, match="unknown tensor"):
        p.add_prim("exp", [x], [99])
    with pytest.raises(ValueError, match="has 1 outputs, got 2"):
        p.add_prim("exp", [x], [p.add_shaped_tensor([~T, D]), p.add_shaped_tensor([~T, D])])
    with pytest.raises(ValueError, match="has no attribute 'axes'"):
        p.add_prim("sum", [x], [p.add_shaped_tensor([D])], {"axes": 1})


def test_lengths_that_cannot_hold_fail_when_run():
    """Two inputs with their own lengths, added: lengths that do not broadcast are refused when the
    arrays are bound; a reshape that no longer fits is refused by the op when the call runs."""
    p = _core.Program()
    T, S = p.add_symbol("T"), p.add_symbol("S")
    TS = p.add_derived_symbol("broadcast", [T, S])
    a = p.add_shaped_tensor([~T, 3], is_input=True)
    b = p.add_shaped_tensor([~S, 3], is_input=True)
    c = p.add_shaped_tensor([~TS, 3])
    p.add_prim("add", [a, b], [c])
    r = p.add_shaped_tensor([~T, 3])  # reshape (S, 3) -> (T, 3): holds only while S == T
    p.add_prim("reshape", [b], [r])
    p.set_inputs([a, b])
    p.set_outputs([c, r])
    p.finalize()

    def run(t, s):
        xa = np.ones((2, t, 3), np.float32)
        xb = np.arange(2 * s * 3, dtype=np.float32).reshape(2, s, 3)
        sym = p.resolve_symbols([[t, 3], [s, 3]])
        outs = [np.zeros((2,) + p.tensor_shape(k, sym), np.float32) for k in (c, r)]
        p.predict_step([xa, xb], 0, 2, outs)
        return outs

    c4, r4 = run(4, 4)
    np.testing.assert_array_equal(c4, 1 + np.arange(24, dtype=np.float32).reshape(2, 4, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        run(4, 5)
    with pytest.raises(ValueError, match=r"prim 'reshape': cannot reshape \(2, 1, 3\) to \(2, 4, 3\)"):
        run(4, 1)
    c2, _ = run(2, 2)  # and it still runs afterwards
    assert c2.shape == (2, 2, 3)
