"""ops.dot_product_attention on the fused kernel: the calls the kernel expresses exactly run one
`dot_product_attention` primitive (eager and recorded), the rest fall back to the composition;
both agree with Keras 3 (KERAS_BACKEND=torch) forward and after Adam steps, with the same bits
on 1 and 2 threads, and the primitive exports to ONNX. The primitive's own forward / finite
difference / ISA / thread checks are prim_cases.py's dpa_* cases (test_prims.py)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from bigcore.ops import node
from bigcore.ops.node import OpLayer
from prim_cases import sdpa

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

B, T, S, N, H, HV = 3, 6, 5, 4, 3, 2


def _qkv(seed, t=T, s=S, n=N, k=N, h=H, hv=HV, b=B):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(b, t, n, h)).astype(np.float32), rng.normal(size=(b, s, k, h)).astype(np.float32),
            rng.normal(size=(b, s, k, hv)).astype(np.float32))


def _mask(seed, shape, p=0.4):
    return np.random.default_rng(seed).random(shape) > p


class _Kinds:
    """The primitive kinds run eagerly (node._core.prim_forward) while it is installed."""

    def __init__(self, monkeypatch):
        self.kinds = []
        real = node._core

        class Core:
            def __getattr__(_, name):
                return getattr(real, name)

            def prim_forward(_, kind, attrs, arrays):
                self.kinds.append(kind)
                return real.prim_forward(kind, attrs, arrays)

        monkeypatch.setattr(node, "_core", Core())


FULL_ROW = np.ones((T, S), bool)
FULL_ROW[1] = False  # query 1 attends to nothing: the mean of the values
EAGER = {
    "mha": ({}, {}),
    "gqa": ({"k": 2}, {}),
    "mqa_scale": ({"k": 1}, {"scale": 0.7}),
    "causal_t_eq_s": ({"s": T}, {"is_causal": True}),
    "causal_t_gt_s": ({"k": 2}, {"is_causal": True}),
    "causal_t_lt_s": ({"t": 3}, {"is_causal": True}),
    "mask_ts": ({}, {"mask": _mask(1, (T, S))}),
    "mask_b1ts_causal": ({"k": 2}, {"mask": _mask(2, (B, 1, T, S)), "is_causal": True}),
    "mask_11ts": ({}, {"mask": _mask(3, (1, 1, T, S))}),
    "mask_b11s": ({"k": 1}, {"mask": _mask(4, (B, 1, 1, S))}),
    "mask_1s": ({}, {"mask": _mask(5, (1, S))}),
    "mask_full_row": ({"k": 2}, {"mask": FULL_ROW}),
    "mask_full_row_causal": ({}, {"mask": FULL_ROW, "is_causal": True}),
    "mask_int": ({}, {"mask": _mask(6, (B, 1, 1, S)).astype(np.int32)}),
    "tile_path": ({"t": 24, "s": 20, "k": 2, "h": 8, "hv": 8}, {"mask": _mask(7, (B, 1, 24, 20)), "is_causal": True}),
    "flash_key_tiles": ({"t": 4, "s": 150, "k": 2}, {"mask": _mask(8, (B, 1, 1, 150))}),
}


@pytest.mark.parametrize("case", sorted(EAGER))
def test_eager_runs_the_fused_primitive_and_matches_keras(case, keras, monkeypatch):
    shape_kw, kw = EAGER[case]
    q, k, v = _qkv(len(case), **shape_kw)
    spy = _Kinds(monkeypatch)
    got = ops.dot_product_attention(q, k, v, **kw)
    assert spy.kinds == ["dot_product_attention"]
    assert got.shape == q.shape[:3] + v.shape[3:] and got.dtype == np.float32
    ref = sdpa(*(a.astype(np.float64) for a in (q, k, v)), kw.get("mask"), kw.get("scale"), kw.get("is_causal", False))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    want = keras.ops.dot_product_attention(q, k, v, **kw).detach().cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if case.startswith("mask_full_row"):  # Keras's large negative fill: the row is the mean of the values
        mean = np.repeat(v.mean(1), N // v.shape[2], axis=1)
        np.testing.assert_allclose(got[:, 1], mean, rtol=1e-5, atol=1e-6)


FALLBACK = {
    "bias": {"bias": np.random.default_rng(9).normal(size=(1, N, T, S)).astype(np.float32)},
    "mask_per_head": {"mask": _mask(10, (B, N, T, S))},
    "mask_n11": {"mask": _mask(11, (N, 1, 1))},  # rank 3: its first axis lines up with the heads
}


@pytest.mark.parametrize("case", sorted(FALLBACK))
def test_what_the_kernel_cannot_express_is_composed_and_matches_keras(case, keras, monkeypatch):
    q, k, v = _qkv(12)
    spy = _Kinds(monkeypatch)
    got = ops.dot_product_attention(q, k, v, **FALLBACK[case])
    assert "dot_product_attention" not in spy.kinds and "softmax" in spy.kinds
    want = keras.ops.dot_product_attention(q, k, v, **FALLBACK[case]).detach().cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_key_value_batch_that_broadcasts_is_composed():
    q, k, v = _qkv(13)
    got = ops.dot_product_attention(q, k[:1], v[:1])
    want = sdpa(q.astype(np.float64), *(np.broadcast_to(a, (B,) + a.shape[1:]).astype(np.float64) for a in (k[:1], v[:1])))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_errors_still_name_expected_and_received():
    q, k, v = _qkv(14)
    with pytest.raises(ValueError, match="flash_attention"):
        ops.dot_product_attention(q, k, v, flash_attention=True)
    with pytest.raises(ValueError, match="soft_cap"):
        ops.dot_product_attention(q, k, v, attn_logits_soft_cap=5.0)
    with pytest.raises(ValueError, match="multiple of the key/value heads"):
        ops.dot_product_attention(q, k[:, :, :3], v[:, :, :3])
    # the primitive itself refuses what it cannot express, naming the shapes
    with pytest.raises(ValueError, match=r"must not vary across heads.*\(3, 4, 6, 5\)"):
        bigcore._core.prim_forward("dot_product_attention", {"scale": 0.5}, [q, k, v, np.ones((B, N, T, S), np.float32)])
    with pytest.raises(ValueError, match=r"mask must broadcast to \(B, N, T, S\) = \(3, 4, 6, 5\), got \(7, 5\)"):
        bigcore._core.prim_forward("dot_product_attention", {"scale": 0.5}, [q, k, v, np.ones((7, S), np.float32)])
    with pytest.raises(ValueError, match="one batch length"):
        bigcore._core.prim_forward("dot_product_attention", {"scale": 0.5}, [q, k[:1], v[:1]])
    with pytest.raises(ValueError, match="needs the attribute 'scale'"):
        bigcore._core.prim_forward("dot_product_attention", {}, [q, k, v])


# -- inside a model ------------------------------------------------------------------------------

D, TM, KV = 8, 7, 2  # model width, sequence length, key/value heads


def _attend_layer(base, o):
    class Attend(base):
        """q/k/v projections (add_weight) split into heads, dot_product_attention with the mask
        input (batch, 1, 1, T) and/or is_causal, merged and projected back."""

        def __init__(self, causal=False, with_mask=True, **kwargs):
            super().__init__(**kwargs)
            self.causal, self.with_mask = causal, with_mask

        def build(self, input_shape):
            init = "glorot_uniform"
            self.wq = self.add_weight(shape=(D, N * H), initializer=init, name="wq")
            self.wk = self.add_weight(shape=(D, KV * H), initializer=init, name="wk")
            self.wv = self.add_weight(shape=(D, KV * H), initializer=init, name="wv")
            self.wo = self.add_weight(shape=(N * H, D), initializer=init, name="wo")

        def call(self, inputs):
            x, mask = inputs if self.with_mask else (inputs, None)
            t = x.shape[1]
            q = o.reshape(o.matmul(x, self.wq), (-1, t, N, H))
            k = o.reshape(o.matmul(x, self.wk), (-1, t, KV, H))
            v = o.reshape(o.matmul(x, self.wv), (-1, t, KV, H))
            if mask is not None:
                mask = o.reshape(mask, (-1, 1, 1, t)) > 0.5
            out = o.dot_product_attention(q, k, v, mask=mask, is_causal=self.causal)
            return o.matmul(o.reshape(out, (-1, t, N * H)), self.wo)

    return Attend


_ATTEND = bigcore.saving.register_keras_serializable(package="test_ops_attention_fused")(
    _attend_layer(layers.Layer, ops))


def _data(seed, n=12, full_row=False, t=TM):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, D)).astype(np.float32)
    lengths = rng.integers(2, t + 1, n)
    mask = (np.arange(t)[None] < lengths[:, None]).astype(np.float32)
    if full_row:
        mask[0] = 0.0  # a sample with every key masked: the mean of the values, as in Keras
    y = rng.normal(size=(n, t, D)).astype(np.float32)
    return x, mask, y


def _bigcore_model(causal, with_mask=True, t=TM):
    x_in = layers.Input((t, D))
    m_in = layers.Input((t,))
    layer = _ATTEND(causal, with_mask)
    out = layer([x_in, m_in] if with_mask else x_in)
    return bigcore.Model([x_in, m_in] if with_mask else x_in, out), layer


def _keras_model(keras, causal, with_mask=True):
    x_in = keras.Input((TM, D))
    m_in = keras.Input((TM,))
    layer = _attend_layer(keras.layers.Layer, keras.ops)(causal, with_mask)
    out = layer([x_in, m_in] if with_mask else x_in)
    return keras.Model([x_in, m_in] if with_mask else x_in, out), layer


def _lowered_kinds(model, x, monkeypatch):
    kinds = []
    real = OpLayer.lower

    def spy(self, prog, inputs, outputs):
        kinds.append(self.kind)
        return real(self, prog, inputs, outputs)

    monkeypatch.setattr(OpLayer, "lower", spy)
    model.predict(x, verbose=0)
    monkeypatch.undo()
    return kinds


@pytest.mark.parametrize("causal,with_mask", [(False, True), (True, True), (True, False)])
def test_traced_layer_lowers_one_fused_op_and_trains_like_keras(causal, with_mask, keras, monkeypatch):
    bigcore.utils.set_random_seed(3)
    model, layer = _bigcore_model(causal, with_mask)
    x, mask, y = _data(4)
    feed = [x, mask] if with_mask else x
    kinds = _lowered_kinds(model, feed, monkeypatch)
    assert kinds.count("dot_product_attention") == 1
    assert not {"softmax", "repeat", "where"} & set(kinds), kinds
    kmodel, klayer = _keras_model(keras, causal, with_mask)
    klayer.set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(feed, verbose=0), kmodel.predict(feed, verbose=0), rtol=1e-5, atol=1e-5)
    if with_mask:  # a sample whose every key is masked: the mean of the values, as in Keras
        full = [x, _data(4, full_row=True)[1]]
        np.testing.assert_allclose(model.predict(full, verbose=0), kmodel.predict(full, verbose=0), rtol=1e-5,
                                   atol=1e-5)
    # (trained without such rows: there torch's autograd sends a gradient into scores the output
    # does not depend on, s + large negative rounding to the large negative; bigcore's is the exact
    # derivative, 0, which prim_cases' dpa_mask_ts_full_row checks by finite differences)
    for m, lib in ((model, bigcore), (kmodel, keras)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
        m.fit(feed, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(layer.get_weights(), klayer.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.predict(feed, verbose=0), kmodel.predict(feed, verbose=0), rtol=1e-4, atol=1e-4)


def test_per_head_mask_in_a_model_falls_back_and_matches_keras(keras, monkeypatch):
    """A (batch, N, T, S) mask built inside the call: the composition, still Keras's numbers."""

    def make(base, o):
        class PerHead(base):
            def call(self, x):
                q = o.reshape(x, (-1, TM, N, 2))
                mask = o.logical_or(o.transpose(q[..., :1] > 0, (0, 2, 1, 3)), o.transpose(q[..., 1:] > -0.5, (0, 2, 3, 1)))
                return o.reshape(o.dot_product_attention(q, q, q, mask=mask), (-1, TM, N * 2))

        return PerHead

    x_in = layers.Input((TM, N * 2))
    model = bigcore.Model(x_in, make(layers.Layer, ops)()(x_in))
    x = np.random.default_rng(5).normal(size=(4, TM, N * 2)).astype(np.float32)
    kinds = _lowered_kinds(model, x, monkeypatch)
    assert "dot_product_attention" not in kinds and "softmax" in kinds
    kx = keras.Input((TM, N * 2))
    kmodel = keras.Model(kx, make(keras.layers.Layer, keras.ops)()(kx))
    np.testing.assert_allclose(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [TM, 40, 400])  # flash; tile, threaded; flash over key tiles, threaded
@pytest.mark.parametrize("causal", [False, True])
def test_training_is_bit_identical_on_one_and_two_threads(causal, t, restore_threads):
    x, mask, y = _data(6, n=16, t=t)
    runs = []
    for threads in (1, 2):
        bigcore.config.set_num_threads(threads)
        bigcore.utils.set_random_seed(8)
        model, layer = _bigcore_model(causal, t=t)
        model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="mse")
        model.fit([x, mask], y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        runs.append([w.tobytes() for w in layer.get_weights()] + [model.predict([x, mask], verbose=0).tobytes()])
    assert runs[0] == runs[1]


def test_saved_model_reloads_with_the_fused_op(tmp_path):
    bigcore.utils.set_random_seed(2)
    x_in, m_in = layers.Input((TM, D)), layers.Input((TM,))
    model = bigcore.Model([x_in, m_in], _ATTEND(True)([x_in, m_in]))
    x, mask, _ = _data(9)
    want = model.predict([x, mask], verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = bigcore.saving.load_model(path)
    np.testing.assert_array_equal(again.predict([x, mask], verbose=0), want)


# -- ONNX ----------------------------------------------------------------------------------------

def test_onnx_export_matches_predict():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    bigcore.utils.set_random_seed(6)
    model, _ = _bigcore_model(True)
    proto = bigcore.export.to_onnx(model)
    assert {"MatMul", "Softmax", "Where", "And"} <= {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        x, mask, _ = _data(7, n=n)
        names = [i.name for i in sess.get_inputs()]
        got = sess.run(None, dict(zip(names, [x, mask])))[0]
        np.testing.assert_allclose(got, model.predict([x, mask], verbose=0), rtol=1e-5, atol=1e-5)


def test_onnx_export_with_run_time_lengths():
    """Causal over a length known only when the model runs: the tril comes from Trilu."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Causal(layers.Layer):
        def call(self, x):
            q = ops.reshape(x, (-1, None, 2, 3))
            k = ops.reshape(x[..., :3], (-1, None, 1, 3))
            return ops.reshape(ops.dot_product_attention(q, k, k, is_causal=True), (-1, None, 6))

    x_in = layers.Input((None, 6))
    model = bigcore.Model(x_in, Causal()(x_in))
    proto = bigcore.export.to_onnx(model)
    assert "Trilu" in {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for t in (3, 8):
        x = np.random.default_rng(t).normal(size=(2, t, 6)).astype(np.float32)
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        want = sdpa(x.reshape(2, t, 2, 3).astype(np.float64), x[..., :3].reshape(2, t, 1, 3).astype(np.float64),
                    x[..., :3].reshape(2, t, 1, 3).astype(np.float64), causal=True).reshape(2, t, 6)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
