"""CTC: the native ctc_loss primitive against float64 NumPy references (a brute-force sum over
every alignment on tiny cases, a log-space forward recursion), its gradient against finite
differences, Keras 3 / torch parity of values, gradients and training (a compiled CTC loss and the
OCR pattern's custom layer with add_loss), ctc_decode against Keras, edge cases and bad arguments."""

import itertools

import numpy as np
import pytest

import bigcore
from bigcore import ops
from bigcore._native import _core

ATTRS = {"mask_index": 0}


def _log_softmax64(x):
    x = np.asarray(x, np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return out


def brute_force_nll(logits, label, blank=0):
    """-log of the summed probability of every length-T path that collapses to `label` (float64)."""
    lp = _log_softmax64(logits)
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == list(label):
            total += np.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def dp_nll(logits, label, blank=0):
    """The log-space forward recursion, float64: the reference for lengths brute force cannot reach."""
    lp = _log_softmax64(logits)
    T = lp.shape[0]
    ext = [blank]
    for c in label:
        ext += [int(c), blank]
    n = len(ext)
    if T == 0:
        return 0.0 if n == 1 else np.inf
    a = np.full(n, -np.inf)
    a[0] = lp[0, ext[0]]
    if n > 1:
        a[1] = lp[0, ext[1]]
    for t in range(1, T):
        b = np.full(n, -np.inf)
        for s in range(n):
            terms = [a[s]] + ([a[s - 1]] if s >= 1 else [])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(a[s - 2])
            b[s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
        a = b
    ll = np.logaddexp(a[-1], a[-2]) if n > 1 else a[-1]
    return -ll


def _native(target, logits, tl, ol, blank=0):
    args = [np.asarray(target, np.float32), np.asarray(logits, np.float32), np.asarray(tl, np.float32),
            np.asarray(ol, np.float32)]
    return _core.prim_forward("ctc_loss", {"mask_index": blank}, args)[0]


def _native_grad(target, logits, tl, ol, dout, blank=0):
    args = [np.asarray(target, np.float32), np.asarray(logits, np.float32), np.asarray(tl, np.float32),
            np.asarray(ol, np.float32)]
    return _core.prim_backward("ctc_loss", {"mask_index": blank}, args, [np.asarray(dout, np.float32)])[1]


def test_ctc_matches_brute_force_on_tiny_cases(isa):
    rng = np.random.default_rng(0)
    cases = [([1], 3), ([1, 2], 4), ([1, 1], 4), ([2, 1, 2], 5), ([], 3), ([1, 1, 1], 5), ([2], 1)]
    for blank in (0, 2):
        for label, T in cases:
            label = [c if c != blank else 0 for c in label] if blank == 2 else label
            x = rng.normal(size=(1, T, 3)).astype(np.float32) * 2
            S = max(len(label), 1)
            tgt = np.zeros((1, S), np.float32)
            tgt[0, :len(label)] = label
            got = _native(tgt, x, [len(label)], [T], blank)[0]
            want = brute_force_nll(x[0], label, blank)
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, err_msg=f"label {label} T {T} blank {blank}")


def test_ctc_matches_log_space_dp_with_lengths_and_long_sequences():
    rng = np.random.default_rng(1)
    B, T, C, S = 5, 60, 7, 12
    x = (rng.normal(size=(B, T, C)) * 4).astype(np.float32)  # peaked softmax: the log space matters
    tgt = rng.integers(1, C, size=(B, S)).astype(np.float32)
    tgt[2, 3] = tgt[2, 2]  # a repeat needs a blank between
    tl = np.array([12, 5, 9, 0, 1], np.float32)
    ol = np.array([60, 31, 40, 17, 1], np.float32)
    got = _native(tgt, x, tl, ol)
    want = [dp_nll(x[b, :int(ol[b])], tgt[b, :int(tl[b])]) for b in range(B)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(np.isfinite(got))


def test_ctc_gradient_matches_finite_differences_of_the_float64_reference(isa):
    rng = np.random.default_rng(2)
    B, T, C, S = 3, 6, 4, 3
    x = rng.normal(size=(B, T, C)).astype(np.float32)
    tgt = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]], np.float32)
    tl, ol = np.array([3, 2, 1], np.float32), np.array([6, 4, 5], np.float32)
    dout = np.array([1.0, -0.5, 2.0], np.float32)
    g = _native_grad(tgt, x, tl, ol, dout)
    eps = 1e-5
    fd = np.zeros_like(g, dtype=np.float64)
    for b in range(B):
        x64 = x[b, :int(ol[b])].astype(np.float64)
        for t in range(T):
            for c in range(C):
                if t >= ol[b]:
                    continue
                hi, lo = x64.copy(), x64.copy()
                hi[t, c] += eps
                lo[t, c] -= eps
                lab = tgt[b, :int(tl[b])]
                fd[b, t, c] = dout[b] * (dp_nll(hi, lab) - dp_nll(lo, lab)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)
    assert np.all(g[1, 4:] == 0) and np.all(g[2, 5:] == 0)  # frames past output_length get nothing
    # and of the native forward itself (float32: coarser steps)
    h = 1e-2
    for b, t, c in [(0, 0, 1), (1, 2, 3), (2, 4, 0)]:
        hi, lo = x.copy(), x.copy()
        hi[b, t, c] += h
        lo[b, t, c] -= h
        num = (_native(tgt, hi, tl, ol) - _native(tgt, lo, tl, ol)) @ dout / (2 * h)
        np.testing.assert_allclose(g[b, t, c], num, rtol=1e-2, atol=1e-3)


def test_ctc_threads_do_not_change_results(restore_threads):
    rng = np.random.default_rng(3)
    B, T, C, S = 64, 50, 20, 10
    x = rng.normal(size=(B, T, C)).astype(np.float32)
    tgt = rng.integers(1, C, size=(B, S)).astype(np.float32)
    tl = rng.integers(0, S + 1, size=B).astype(np.float32)
    ol = rng.integers(30, T + 1, size=B).astype(np.float32)
    out = []
    for n in (1, 2, 4):
        bigcore.config.set_num_threads(n)
        out.append((_native(tgt, x, tl, ol), _native_grad(tgt, x, tl, ol, np.ones(B))))
    for loss, grad in out[1:]:
        assert np.array_equal(loss, out[0][0]) and np.array_equal(grad, out[0][1])


def test_ctc_infeasible_and_empty_labels_as_torch(torch):
    x = np.random.default_rng(4).normal(size=(4, 3, 4)).astype(np.float32)
    tgt = np.array([[1, 1, 2, 0], [1, 2, 3, 1], [0, 0, 0, 0], [1, 0, 0, 0]], np.float32)
    tl = np.array([3, 4, 0, 1], np.float32)  # [1, 1, 2] needs 4 frames, [1, 2, 3, 1] 4: both > 3
    ol = np.array([3, 3, 2, 0], np.float32)  # sample 3: a label with no frame at all
    got = _native(tgt, x, tl, ol)
    g = _native_grad(tgt, x, tl, ol, np.ones(4))
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.ctc_loss(torch.log_softmax(xt.transpose(0, 1), -1), torch.tensor(tgt).long(),
                                        torch.tensor(ol).long(), torch.tensor(tl).long(), blank=0, reduction="none")
    want.sum().backward()
    assert np.isinf(got[0]) and np.isinf(got[1]) and np.isinf(got[3])
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-6)
    assert np.isnan(g[:2]).all() and np.isnan(xt.grad.numpy()[:2]).all()  # torch's inf - inf
    np.testing.assert_allclose(g[2:], xt.grad.numpy()[2:], atol=1e-6)
    assert got[2] == pytest.approx(-np.log(np.exp(_log_softmax64(x[2])[:2, 0]).prod()), rel=1e-6)


def test_ctc_loss_op_matches_keras_values_and_gradients(keras, torch):
    rng = np.random.default_rng(5)
    B, T, C, S = 6, 12, 8, 5
    x = (rng.normal(size=(B, T, C)) * 3).astype(np.float32)
    tgt = rng.integers(1, C, size=(B, S)).astype(np.int32)
    tl = np.array([5, 3, 0, 2, 5, 1], np.int32)
    ol = np.array([12, 7, 4, 12, 10, 1], np.int32)
    for blank in (0, 3):
        t = np.where(tgt == blank, (blank + 1) % C, tgt).astype(np.int32)
        got = ops.ctc_loss(t, x, tl, ol, mask_index=blank)
        want = keras.ops.ctc_loss(t, x, tl, ol, mask_index=blank).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5)
        assert ops.nn.ctc_loss is not None
        np.testing.assert_allclose(ops.nn.ctc_loss(t, x, tl, ol, mask_index=blank), got)
    xt = torch.tensor(x, requires_grad=True)
    keras.ops.ctc_loss(tgt, xt, tl, ol).sum().backward()
    # torch runs the recursions in float32, bigcore in float64: agreement to float32 rounding
    np.testing.assert_allclose(_native_grad(tgt, x, tl, ol, np.ones(B)), xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_ctc_losses_match_keras(keras):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 9, 6)).astype(np.float32)
    y = rng.integers(1, 6, size=(4, 3)).astype(np.int32)
    y[1, 2] = 0
    y[2, 1:] = 0
    np.testing.assert_allclose(bigcore.losses.ctc(y, x), keras.losses.ctc(y, x).numpy(), rtol=1e-5)
    for red in ("sum_over_batch_size", "sum", "none"):
        np.testing.assert_allclose(bigcore.losses.CTC(reduction=red)(y, x), keras.losses.CTC(reduction=red)(y, x).numpy(),
                                   rtol=1e-5)
    w = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    np.testing.assert_allclose(bigcore.losses.CTC()(y, x, sample_weight=w), keras.losses.CTC()(y, x, sample_weight=w),
                               rtol=1e-5)
    loss = bigcore.losses.CTC(name="my_ctc")
    assert loss.get_config() == {"name": "my_ctc", "reduction": "sum_over_batch_size"}
    assert isinstance(bigcore.losses.get("ctc"), bigcore.losses.CTC)
    assert bigcore.losses.deserialize(bigcore.losses.serialize(loss)).name == "my_ctc"


def _weights(m):
    return [w.value.detach().cpu().numpy() for w in m.weights]


def _ocr_model(lib, T, F, C, S, custom_layer):
    ops_ = lib.ops

    class CTCLayer(lib.layers.Layer):
        def call(self, labels, y_pred):
            b, t = ops_.shape(y_pred)[0], ops_.shape(y_pred)[1]
            label_length = ops_.sum(ops_.cast(ops_.not_equal(labels, 0), "int32"), axis=-1)
            input_length = t * ops_.ones((b,), dtype="int32")
            self.add_loss(ops_.mean(ops_.ctc_loss(labels, y_pred, label_length, input_length)))
            return y_pred

    inp = lib.Input((T, F))
    h = lib.layers.Conv1D(8, 3, padding="same", activation="relu")(inp)
    h = lib.layers.Bidirectional(lib.layers.LSTM(8, return_sequences=True))(h)
    out = lib.layers.Dense(C, activation="softmax")(h)
    if not custom_layer:
        return lib.Model(inp, out)
    lab = lib.Input((S,), dtype="int32")
    return lib.Model([inp, lab], CTCLayer()(lab, out))


@pytest.mark.parametrize("custom_layer", [False, True])
def test_ctc_training_matches_keras(keras, custom_layer):
    """A CNN + BiLSTM producing per-frame softmax trained by fit: with the compiled CTC loss, and
    the OCR example's pattern (a layer adding the CTC loss); weights after Adam steps as Keras's."""
    rng = np.random.default_rng(7)
    B, T, F, C, S = 16, 10, 6, 5, 4
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    y = rng.integers(1, C, size=(B, S)).astype(np.int32)
    y[::3, 3] = 0
    km = _ocr_model(keras, T, F, C, S, custom_layer)
    bm = _ocr_model(bigcore, T, F, C, S, custom_layer)
    bm.set_weights(_weights(km))
    if custom_layer:
        bm.compile(optimizer=bigcore.optimizers.Adam(1e-2))
        km.compile(optimizer=keras.optimizers.Adam(1e-2))
        args = ([x, y],)
    else:
        bm.compile(optimizer=bigcore.optimizers.Adam(1e-2), loss=bigcore.losses.CTC())
        km.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.CTC())
        args = (x, y)
    hb = bm.fit(*args, epochs=3, batch_size=8, verbose=0, shuffle=False)
    hk = km.fit(*args, epochs=3, batch_size=8, verbose=0, shuffle=False)
    np.testing.assert_allclose(hb.history["loss"], hk.history["loss"], rtol=1e-5)
    assert hb.history["loss"][-1] < hb.history["loss"][0]
    for a, b in zip(bm.get_weights(), _weights(km)):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_ctc_decode_matches_keras(keras):
    rng = np.random.default_rng(8)
    B, T, C = 5, 12, 6
    x = (rng.normal(size=(B, T, C)) * 2).astype(np.float32)
    x[0, 3:6] = x[0, 3]  # repeated frames
    x[1, :, 0] += 3  # mostly blank
    lengths = np.array([12, 7, 1, 10, 12], np.int32)
    configs = [{}, {"merge_repeated": False}, {"mask_index": 2}, {"mask_index": None},
               {"strategy": "beam_search"}, {"strategy": "beam_search", "beam_width": 4, "top_paths": 3},
               {"strategy": "beam_search", "beam_width": 2, "top_paths": 2, "mask_index": 5},
               {"strategy": "beam_search", "mask_index": None, "top_paths": 4, "beam_width": 10}]
    for kw in configs:
        paths, scores = ops.ctc_decode(x, lengths, **kw)
        kpaths, kscores = keras.ops.ctc_decode(x, lengths, **kw)
        assert paths.dtype == np.int32 and paths.shape == tuple(kpaths.shape), kw
        np.testing.assert_array_equal(paths, kpaths.numpy(), err_msg=str(kw))
        np.testing.assert_allclose(scores, kscores.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(kw))
    # ties: equal logits everywhere pick as Keras does
    flat = np.zeros((2, 5, 4), np.float32)
    for kw in ({}, {"strategy": "beam_search", "beam_width": 3, "top_paths": 3}):
        paths, _ = ops.ctc_decode(flat, np.array([5, 3]), **kw)
        np.testing.assert_array_equal(paths, keras.ops.ctc_decode(flat, np.array([5, 3]), **kw)[0].numpy())


def test_ctc_decode_greedy_reference():
    x = np.full((1, 6, 4), -5.0, np.float32)
    for t, c in enumerate([1, 1, 0, 1, 3, 3]):
        x[0, t, c] = 1.0
    paths, scores = ops.ctc_decode(x, np.array([6]))
    np.testing.assert_array_equal(paths[0, 0], [1, 1, 3, -1, -1, -1])
    assert scores[0, 0] == pytest.approx(-6.0)
    paths, _ = ops.ctc_decode(x, np.array([6]), merge_repeated=False)
    np.testing.assert_array_equal(paths[0, 0], [1, 1, 1, 3, 3, -1])
    paths, _ = ops.ctc_decode(x, np.array([2]))
    np.testing.assert_array_equal(paths[0, 0], [1, -1, -1, -1, -1, -1])


def test_ctc_bad_arguments_raise():
    x = np.zeros((2, 4, 3), np.float32)
    t = np.ones((2, 2), np.int32)
    with pytest.raises(ValueError, match="target_length"):
        ops.ctc_loss(t, x, np.array([3, 1]), np.array([4, 4]))  # longer than target's axis
    with pytest.raises(ValueError, match="output_length"):
        ops.ctc_loss(t, x, np.array([1, 1]), np.array([5, 4]))
    with pytest.raises(ValueError, match="output_length"):
        ops.ctc_loss(t, x, np.array([1, 1]), np.array([-1, 4]))
    with pytest.raises(ValueError, match="class id"):
        ops.ctc_loss(np.array([[1, 7], [1, 1]]), x, np.array([2, 1]), np.array([4, 4]))
    with pytest.raises(ValueError, match="mask_index"):
        ops.ctc_loss(t, x, np.array([1, 1]), np.array([4, 4]), mask_index=3)
    with pytest.raises(ValueError, match="mask_index"):
        ops.ctc_loss(t, x, np.array([1, 1]), np.array([4, 4]), mask_index=1.5)
    with pytest.raises(ValueError, match="first"):
        ops.ctc_loss(np.ones((3, 2)), x, np.array([1, 1]), np.array([4, 4]))
    with pytest.raises(ValueError, match="y_true"):
        bigcore.losses.ctc(np.ones((2, 2, 1)), x)
    with pytest.raises(ValueError, match="y_pred"):
        bigcore.losses.ctc(np.ones((2, 2)), x[..., 0])
    with pytest.raises(ValueError, match="Invalid strategy"):
        ops.ctc_decode(x, np.array([4, 4]), strategy="best")
    with pytest.raises(ValueError, match="top_paths"):
        ops.ctc_decode(x, np.array([4, 4]), strategy="beam_search", beam_width=2, top_paths=3)
    with pytest.raises(ValueError, match="sequence_lengths"):
        ops.ctc_decode(x, np.array([4]))
    inp = bigcore.Input((4, 3))
    with pytest.raises(NotImplementedError, match="predict"):
        ops.ctc_decode(inp, np.array([4, 4]))
    with pytest.raises(ValueError, match="ctc_loss"):
        ops.ctc_loss(bigcore.Input((2,)), bigcore.Input((4,)), bigcore.Input(()), bigcore.Input(()))
