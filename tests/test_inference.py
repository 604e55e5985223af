"""The serving paths: predict_on_batch / model(x) / predict on numpy input skip the generic checks
but still reject NaN/inf (natively, naming the index); RNN inference on a large batch projects the
inputs step by step and must agree with the all-steps path and with itself across thread counts."""

import numpy as np
import pytest

import bigcore
from bigcore import layers


def _mlp():
    bigcore.utils.set_random_seed(0)
    return bigcore.Sequential([layers.Input((20,)), layers.Dense(16, activation="relu"), layers.Dense(3)])


@pytest.mark.parametrize("call", ["predict_on_batch", "model", "predict"])
def test_fast_paths_agree_and_reject_nan_after_the_first_call(call, restore_threads):
    m = _mlp()
    x = np.random.default_rng(0).standard_normal((9, 20)).astype(np.float32)
    run = {"predict_on_batch": m.predict_on_batch, "model": m,
           "predict": lambda a: m.predict(a, batch_size=4, verbose=0)}[call]
    first = run(x)  # builds the program (generic path)
    again = run(x)  # the fast path
    assert again.tobytes() == first.tobytes()
    assert np.array_equal(run(x.astype(np.float64)), first)   # converted, same values
    assert np.array_equal(run(x.astype(np.int32)), run(x.astype(np.int32).astype(np.float32)))
    bad = x.copy()
    bad[6, 13] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf.*\(6, 13\)"):
        run(bad)
    with pytest.raises(ValueError):
        run(x[:, :19])  # wrong shape falls to the generic path and its message
    assert run(x[:0]).shape == (0, 3)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_batch_copy_names_the_earliest_nonfinite_row(threads, restore_threads):
    """A batch of many rows is copied in on the team, in row chunks: the error still names the
    first bad row in order (row 100, not the later chunks' rows), and clean batches are unchanged."""
    bigcore.config.set_num_threads(threads)
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input((784,)), layers.Dense(8)])
    x = np.random.default_rng(1).standard_normal((256, 784)).astype(np.float32)
    want = m.predict(x[:7], batch_size=7, verbose=0)
    m.predict_on_batch(x)  # the program exists: the next calls take the native checks
    assert np.array_equal(m.predict_on_batch(x)[:7], want)
    bad = x.copy()
    bad[200, 5] = np.nan
    bad[100, 700] = np.inf
    bad[250, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf.*\(100, 700\)"):
        m.predict_on_batch(bad)


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU])
def test_large_batch_rnn_inference_matches_small_batches(cell, restore_threads):
    """B*T*G*U*4 bytes > 2 MB switches to the per-step projection; batches of 8 keep every step."""
    bigcore.utils.set_random_seed(1)
    T, D, U, B = 40, 12, 24, 300
    inp = bigcore.Input((T, D))
    m = bigcore.Model(inp, cell(U, return_sequences=True, go_backwards=True)(inp))
    x = np.random.default_rng(2).standard_normal((B, T, D)).astype(np.float32)
    small = m.predict(x, batch_size=8, verbose=0)
    runs = []
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        runs.append(m.predict(x, batch_size=B, verbose=0))
    for r in runs[1:]:
        assert r.tobytes() == runs[0].tobytes()
    np.testing.assert_allclose(runs[0], small, rtol=1e-5, atol=1e-6)
