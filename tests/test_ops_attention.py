"""bigcore.ops.dot_product_attention: Keras 3's results (KERAS_BACKEND=torch) and a float64 NumPy
reference, eager and traced into a program, with gradients by finite differences."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops


def reference(q, k, v, bias=None, mask=None, scale=None, is_causal=False):
    """Float64, written out per head: out[b, t, n] = sum_s softmax_s(q.k * scale + bias)[s] v[b, s, n // g]."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, T, N, H = q.shape
    S, K = k.shape[1], k.shape[2]
    scale = 1 / np.sqrt(H) if scale is None else scale
    out = np.zeros((B, T, N, v.shape[3]))
    keep = np.ones((B, N, T, S), bool)
    if mask is not None:
        keep &= np.broadcast_to(mask, (B, N, T, S))
    if is_causal:
        keep &= np.tril(np.ones((T, S), bool))
    add = np.zeros((B, N, T, S)) if bias is None else np.broadcast_to(bias, (B, N, T, S))
    for b in range(B):
        for n in range(N):
            kv = n // (N // K)
            logits = q[b, :, n] @ k[b, :, kv].T * scale + add[b, n]
            logits = np.where(keep[b, n], logits, np.finfo(np.float32).max * -0.7)
            w = np.exp(logits - logits.max(-1, keepdims=True))
            out[b, :, n] = (w / w.sum(-1, keepdims=True)) @ v[b, :, kv]
    return out


def _case(kv_heads, rng, t=5, s=6):
    q = rng.normal(size=(2, t, 4, 3)).astype(np.float32)
    k = rng.normal(size=(2, s, kv_heads, 3)).astype(np.float32)
    v = rng.normal(size=(2, s, kv_heads, 3)).astype(np.float32)
    return q, k, v


CASES = {
    "plain": {},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
    "mask_b1ts": {"mask": np.random.default_rng(5).random((2, 1, 5, 6)) > 0.3},
    "mask_ts_and_causal": {"mask": np.random.default_rng(6).random((5, 6)) > 0.5, "is_causal": True},
    "bias": {"bias": np.random.default_rng(7).normal(size=(1, 4, 5, 6)).astype(np.float32)},
    "fully_masked_row": {"mask": np.array([[False] * 6] + [[True] * 6] * 4)},
}


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
@pytest.mark.parametrize("case", sorted(CASES))
def test_eager_matches_keras_and_numpy(case, kv_heads, keras):
    q, k, v = _case(kv_heads, np.random.default_rng(kv_heads))
    got = ops.dot_product_attention(q, k, v, **CASES[case])
    assert got.shape == q.shape
    np.testing.assert_allclose(got, reference(q, k, v, **CASES[case]), rtol=1e-5, atol=1e-5)
    want = keras.ops.dot_product_attention(q, k, v, **CASES[case]).detach().cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_bad_arguments_raise():
    q, k, v = _case(4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="4D"):
        ops.dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match="multiple of the key/value heads"):
        ops.dot_product_attention(q, k[:, :, :3], v[:, :, :3])
    with pytest.raises(ValueError, match="head size"):
        ops.dot_product_attention(q, k[..., :2], v)
    with pytest.raises(ValueError, match="flash_attention"):
        ops.dot_product_attention(q, k, v, flash_attention=True)
    with pytest.raises(ValueError, match="soft_cap"):
        ops.dot_product_attention(q, k, v, attn_logits_soft_cap=20.0)


T, N, H, D = 5, 2, 3, 4


class Attend(layers.Layer):
    """q, k, v projections from add_weight, reshaped to heads, then ops.dot_product_attention."""

    def __init__(self, kv_heads=N, is_causal=False, **kwargs):
        super().__init__(**kwargs)
        self.kv_heads, self.is_causal = kv_heads, is_causal

    def build(self, input_shape):
        self.wq = self.add_weight(shape=(D, N * H), name="wq")
        self.wk = self.add_weight(shape=(D, self.kv_heads * H), name="wk")
        self.wv = self.add_weight(shape=(D, self.kv_heads * H), name="wv")

    def call(self, x):
        q = ops.reshape(ops.matmul(x, self.wq), (-1, T, N, H))
        k = ops.reshape(ops.matmul(x, self.wk), (-1, T, self.kv_heads, H))
        v = ops.reshape(ops.matmul(x, self.wv), (-1, T, self.kv_heads, H))
        out = ops.dot_product_attention(q, k, v, is_causal=self.is_causal)
        return ops.reshape(out, (-1, T, N * H))


def _loss64(weights, x, y, kv_heads, is_causal):
    wq, wk, wv = (np.asarray(w, np.float64) for w in weights)
    B = len(x)
    q = (x @ wq).reshape(B, T, N, H)
    k = (x @ wk).reshape(B, T, kv_heads, H)
    v = (x @ wv).reshape(B, T, kv_heads, H)
    out = reference(q, k, v, is_causal=is_causal).reshape(B, T, N * H)
    return np.mean((out - y) ** 2)


@pytest.mark.parametrize("kv_heads,is_causal", [(N, False), (1, True)])
def test_traced_forward_and_gradients_by_finite_differences(kv_heads, is_causal):
    bigcore.utils.set_random_seed(4)
    inp = bigcore.Input((T, D))
    layer = Attend(kv_heads, is_causal)
    model = bigcore.Model(inp, layer(inp))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, T, D)).astype(np.float32)
    y = rng.normal(size=(3, T, N * H)).astype(np.float32)
    weights = [w.value.astype(np.float64) for w in (layer.wq, layer.wk, layer.wv)]
    x64 = x.astype(np.float64)
    want = reference((x64 @ weights[0]).reshape(3, T, N, H), (x64 @ weights[1]).reshape(3, T, kv_heads, H),
                     (x64 @ weights[2]).reshape(3, T, kv_heads, H), is_causal=is_causal).reshape(3, T, N * H)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    # one SGD step of rate lr moves each weight by -lr * its gradient
    lr = 0.1
    model.compile(optimizer=bigcore.optimizers.SGD(lr), loss="mse")
    model.fit(x, y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    eps = 1e-6
    for i, w in enumerate((layer.wq, layer.wk, layer.wv)):
        got = (weights[i] - w.value) / lr
        fd = np.zeros_like(weights[i])
        for idx in np.ndindex(*fd.shape):
            plus = [a.copy() for a in weights]
            minus = [a.copy() for a in weights]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            fd[idx] = (_loss64(plus, x64, y, kv_heads, is_causal) - _loss64(minus, x64, y, kv_heads, is_causal)) / (
                2 * eps)
        np.testing.assert_allclose(got, fd, rtol=2e-3, atol=2e-5)
