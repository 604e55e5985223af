"""An Embedding feeding a recurrent layer: at inference the layer takes each id's input projection
from a memo (cpp/ops/projection_memo.h) instead of projecting the embedded rows. It must give the
bits of the unfolded layer (the same recurrent layer fed the embedded floats) at every batch size
and thread count, and see every change of the weights it depends on: the embedding rows, the
kernel and the bias, whether set from Python or trained in place."""

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers

V, E, T = 50, 6, 11
KINDS = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}


def folded(kind, U, mask_zero=False, **kw):
    """ids -> Embedding -> recurrent layer (returning the sequence and states where it can)."""
    ids = bigcore.Input((T,))
    emb = layers.Embedding(V, E, mask_zero=mask_zero)
    rnn = KINDS[kind](U, return_sequences=True, **kw)
    m = bigcore.Model(ids, rnn(emb(ids)))
    rng = np.random.default_rng(U)
    m.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in m.get_weights()])
    return m, emb, rnn


def unfolded(kind, U, rnn, mask=False, **kw):
    """The same recurrent layer over the embedded floats (and the ids' mask as an input)."""
    x_in = bigcore.Input((T, E))
    ins, call = [x_in], {}
    if mask:
        m_in = bigcore.Input((T,))
        ins.append(m_in)
        call["mask"] = m_in
    twin = KINDS[kind](U, return_sequences=True, **kw)
    m = bigcore.Model(ins, twin(x_in, **call))
    m.set_weights(rnn.get_weights())
    return m


def twin_predict(twin, table, ids, mask, bs):
    xs = [table[ids.astype(np.int64)]]
    if mask:
        xs.append((ids != 0).astype(np.float32))
    return twin.predict(xs, batch_size=bs, verbose=0)


def id_batch(B, seed=0, zeros=False):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1 if not zeros else 0, V, (B, T)).astype(np.float32)
    ids[:, 3] = ids[:, 7]  # an id twice in a row's sequence
    if B > 1:
        ids[1] = ids[0]  # and a row twice in the batch
    if zeros:
        ids[0, :2] = 0
    return ids


@pytest.mark.parametrize("kind,U", [("lstm", 32), ("lstm", 48), ("gru", 32), ("simple_rnn", 20)])
@pytest.mark.parametrize("mask_zero", [False, True], ids=["nomask", "mask_zero"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_memo_gives_the_unfolded_bits(restore_threads, kind, U, mask_zero, go_backwards):
    m, emb, rnn = folded(kind, U, mask_zero, go_backwards=go_backwards)
    twin = unfolded(kind, U, rnn, mask=mask_zero, go_backwards=go_backwards)
    ids = id_batch(40, zeros=mask_zero)
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        for bs in (1, 5, 40):  # the LSTM's unit split, one chunk, two chunks
            want = twin_predict(twin, emb.get_weights()[0], ids, mask_zero, bs)
            got = m.predict(ids, batch_size=bs, verbose=0)
            np.testing.assert_array_equal(got, want, err_msg=f"{threads} threads, batch {bs}")


def test_memo_matches_the_float64_reference():
    m, emb, rnn = folded("lstm", 24, mask_zero=True)
    ids = id_batch(3, seed=2, zeros=True)
    got = m.predict(ids, batch_size=1, verbose=0)
    x = emb.get_weights()[0][ids.astype(np.int64)]
    want = rref.rnn_forward("lstm", x, *rnn.get_weights(), mask=ids != 0, return_sequences=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_memo_sees_weights_set_from_python(kind):
    U = 16
    m, emb, rnn = folded(kind, U)
    twin = unfolded(kind, U, rnn)
    ids = id_batch(2, seed=1)
    m.predict(ids, batch_size=1, verbose=0)  # the memo now holds these ids' rows
    rng = np.random.default_rng(9)

    # one embedding row that the batch uses
    table = emb.get_weights()[0].copy()
    table[int(ids[0, 5])] += 0.25
    emb.set_weights([table])
    got = m.predict(ids, batch_size=1, verbose=0)
    np.testing.assert_array_equal(got, twin_predict(twin, table, ids, False, 1))

    # the kernel, then the bias (for GRU, only its recurrent half, which the memo does not hold)
    w = rnn.get_weights()
    w[0] = w[0] + rng.normal(scale=0.1, size=w[0].shape).astype(np.float32)
    rnn.set_weights(w)
    twin.set_weights(w)
    np.testing.assert_array_equal(m.predict(ids, batch_size=1, verbose=0), twin_predict(twin, table, ids, False, 1))
    w[2] = w[2].copy()
    if kind == "gru":
        w[2][1] += 0.3
    else:
        w[2] += 0.3
    rnn.set_weights(w)
    twin.set_weights(w)
    np.testing.assert_array_equal(m.predict(ids, batch_size=1, verbose=0), twin_predict(twin, table, ids, False, 1))
    if kind == "gru":
        w[2] = w[2].copy()
        w[2][0] -= 0.2  # the input half, which it does
        rnn.set_weights(w)
        twin.set_weights(w)
        np.testing.assert_array_equal(m.predict(ids, batch_size=1, verbose=0),
                                      twin_predict(twin, table, ids, False, 1))


def test_memo_sees_training_in_place():
    U = 16
    m, emb, rnn = folded("lstm", U)
    twin = unfolded("lstm", U, rnn)
    ids = id_batch(8, seed=3)
    before = m.predict(ids, batch_size=1, verbose=0)
    m.compile(optimizer="adam", loss="mse")
    m.fit(ids, np.ones((8, T, U), np.float32), epochs=1, batch_size=4, verbose=0)
    after = m.predict(ids, batch_size=1, verbose=0)
    assert not np.array_equal(before, after)
    twin.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(after, twin_predict(twin, emb.get_weights()[0], ids, False, 1))


def test_memo_over_many_calls_and_new_ids():
    """Each call brings ids the memo has not seen beside ones it has: every row stays right."""
    U = 32
    m, emb, rnn = folded("lstm", U)
    twin = unfolded("lstm", U, rnn)
    table = emb.get_weights()[0]
    for seed in range(6):
        ids = id_batch(1, seed=seed)
        np.testing.assert_array_equal(m.predict(ids, batch_size=1, verbose=0),
                                      twin_predict(twin, table, ids, False, 1), err_msg=f"call {seed}")


def test_embedding_output_read_elsewhere_too():
    """The Embedding still runs when the layer after it folds: another layer reading its output
    sees the embedded rows."""
    ids_in = bigcore.Input((T,))
    emb = layers.Embedding(V, E)
    h = emb(ids_in)
    seq = layers.LSTM(8)(h)
    pooled = layers.GlobalAveragePooling1D()(h)
    m = bigcore.Model(ids_in, [seq, pooled])
    ids = id_batch(3, seed=5)
    seq_got, pooled_got = m.predict(ids, batch_size=1, verbose=0)
    table = emb.get_weights()[0]
    np.testing.assert_allclose(pooled_got, table[ids.astype(np.int64)].mean(axis=1), rtol=1e-6, atol=1e-7)
    want = rref.rnn_forward("lstm", table[ids.astype(np.int64)], *m.layers[2].get_weights())
    np.testing.assert_allclose(seq_got, want, rtol=1e-4, atol=2e-5)


def test_bad_ids_still_raise():
    m, emb, rnn = folded("lstm", 16)
    twin = unfolded("lstm", 16, rnn)
    ids = id_batch(1)
    for bad in (V, -1, 2.5):
        ids_bad = ids.copy()
        ids_bad[0, 4] = bad
        with pytest.raises(ValueError, match="Embedding expects integer ids"):
            m.predict(ids_bad, batch_size=1, verbose=0)
    # and the memo is intact after the refusal
    np.testing.assert_array_equal(m.predict(ids, batch_size=1, verbose=0),
                                  twin_predict(twin, emb.get_weights()[0], ids, False, 1))
