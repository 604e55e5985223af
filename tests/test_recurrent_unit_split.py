"""LSTM and GRU inference on a few rows with threads to spare splits the units between the threads
(cpp/ops/recurrent_split.cpp): each thread runs its units' gate columns and cells, one barrier a
step. It must give the chunked loop's bits (one thread, or more than 16 rows), whatever the thread
count, the split (units not a multiple of a vector or of the threads), masks, initial states,
direction, activations and bias, with all steps projected at once or each step projected by the
threads' own columns of W (large inputs), and match the float64 reference."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bigcore
import reference_rnn as rref
from bigcore import layers

T, D = 9, 7
# Under the sanitizer build (.ci/sanitize) the same paths run on fewer and smaller shapes: ASan checks
# memory, and the bit-for-bit checks of every shape already ran in the regular suite.
SANITIZED = os.environ.get("BIGCORE_SANITIZED", "") not in ("", "0")


STATES = {"lstm": 2, "gru": 1}
GATES = {"lstm": 4, "gru": 3}
LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU}


def model(U, masked, states, T=T, kind="lstm", scale=0.4, **kw):
    x_in = bigcore.Input((T, D))
    ins = [x_in]
    call = {}
    if masked:
        m_in = bigcore.Input((T,))
        ins.append(m_in)
        call["mask"] = m_in
    if states:
        s_in = [bigcore.Input((U,)) for _ in range(STATES[kind])]
        ins += s_in
        call["initial_state"] = s_in
    lstm = LAYERS[kind](U, return_sequences=True, return_state=True, **kw)
    m = bigcore.Model(ins, lstm(x_in, **call))
    rng = np.random.default_rng(U)
    m.set_weights([rng.normal(scale=scale, size=w.shape).astype(np.float32) for w in m.get_weights()])
    return m, lstm


def inputs(B, U, masked, states, seed=0, T=T, kind="lstm"):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(B, T, D)).astype(np.float32)]
    if masked:
        m = (rng.random((B, T)) > 0.3).astype(np.float32)
        m[0, :3] = 0  # a row masked at the start
        xs.append(m)
    if states:
        xs += [rng.normal(size=(B, U)).astype(np.float32) for _ in range(STATES[kind])]
    return xs


def assert_one_threads_bits(m, xs, threads, batch_sizes=None):
    """m's predictions of xs on each thread count, in batches of each size (all rows at once by default),
    have the bits of one thread's over all rows at once: the chunked loop's."""
    rows = len(xs[0])
    bigcore.config.set_num_threads(1)
    want = m.predict(xs, batch_size=rows, verbose=0)
    for n in threads:
        bigcore.config.set_num_threads(n)
        for bs in batch_sizes or (rows,):
            got = m.predict(xs, batch_size=bs, verbose=0)
            for i, (g, w) in enumerate(zip(got, want)):
                np.testing.assert_array_equal(g, w, err_msg=f"output {i}, {n} threads, batch {bs}")


@pytest.mark.parametrize("U", [40, 100] if SANITIZED else [32, 40, 64, 100, 256])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("states", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_split_gives_the_chunked_loops_bits(restore_threads, kind, U, masked, states, go_backwards):
    m, _ = model(U, masked, states, go_backwards=go_backwards, kind=kind)
    xs = inputs(40, U, masked, states, kind=kind)
    assert_one_threads_bits(m, xs, (2, 3, 4), (1, 5, 16))  # one chunk of at most 16 rows: the split


# Inputs past 2 MB of projected rows (B * T * 4U floats) project each step: the split's threads then
# project their own columns of W. Rows 1 and 3 multiply W and R in place, 6 and more read them packed.
# (Sanitized: the same three row cases at a tenth of the work; U 512 is the unmasked one, 400 backwards;
# LSTM with a bias and GRU without, which still reads and skips the bias on both cells' paths.)
@pytest.mark.parametrize("U,T_,B", [(96, 1900, 1), (96, 620, 3), (400, 64, 7), (512, 24, 16)] if SANITIZED else
                         [(512, 40, 16), (400, 40, 13), (520, 350, 1), (272, 500, 3), (384, 130, 7), (512, 30, 32),
                          (448, 20, 40)])
@pytest.mark.parametrize("kind,use_bias", [("lstm", True), ("gru", False)] if SANITIZED else
                         [(k, b) for k in ("lstm", "gru") for b in (True, False)],
                         ids=lambda v: v if isinstance(v, str) else ("bias" if v else "nobias"))
def test_split_projecting_each_step_gives_the_chunked_loops_bits(restore_threads, kind, U, T_, B, use_bias):
    assert B * T_ * GATES[kind] * U * 4 > 2 << 20  # the per-step projection (recurrent.cpp's kAllStepsBytes)
    masked = states = U != 512
    m, _ = model(U, masked, states, T=T_, use_bias=use_bias, go_backwards=U == 400, kind=kind)
    xs = inputs(B, U, masked, states, seed=U, T=T_, kind=kind)
    assert_one_threads_bits(m, xs, (2, 3))


# A recurrent kernel past 2 MB (recurrent_split.cpp's kSplitLargeRBytes) takes the split up to 40 rows.
@pytest.mark.parametrize("B", [17] if SANITIZED else [17, 33, 40])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_split_of_a_large_recurrent_kernel_gives_the_chunked_loops_bits(restore_threads, kind, B):
    U = 448
    assert U * GATES[kind] * U * 4 > 2 << 20
    m, _ = model(U, True, True, kind=kind, scale=0.1)
    xs = inputs(B, U, True, True, seed=B, kind=kind)
    assert_one_threads_bits(m, xs, (2,))


@pytest.mark.parametrize("activation,recurrent_activation", [("relu", "sigmoid"), ("tanh", "sigmoid")])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_split_matches_the_reference(restore_threads, isa, kind, activation, recurrent_activation):
    U = 112  # a step's product of 3 rows is worth the split's barrier; 37-38 units a thread
    # (weights small enough that relu's h stays near 1: float32's error is then within the tolerance)
    m, layer = model(U, True, True, activation=activation, recurrent_activation=recurrent_activation, kind=kind,
                     scale=0.15)
    xs = inputs(3, U, True, True, seed=4, kind=kind)
    bigcore.config.set_num_threads(3)
    got = m.predict(xs, batch_size=3, verbose=0)
    want = rref.rnn_forward(kind, xs[0], *layer.get_weights(), mask=xs[1].astype(bool), initial_state=xs[2:],
                            return_sequences=True, return_state=True, activation=activation,
                            recurrent_activation=recurrent_activation)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5, err_msg=f"output {i}")
    bigcore.config.set_num_threads(1)
    for g, w in zip(m.predict(xs, batch_size=3, verbose=0), got):
        np.testing.assert_array_equal(g, w)


def lstm_gru_predictions():
    """LSTM(256)'s and GRU(256)'s predictions of 4 rows (a batch the unit split takes), seeded weights."""
    outs = []
    for cell in (layers.LSTM, layers.GRU):
        bigcore.utils.set_random_seed(0)
        m = bigcore.Sequential([layers.Input((20, 8)), cell(256)])
        x = np.random.default_rng(0).standard_normal((4, 20, 8)).astype(np.float32)
        outs.append(m.predict(x, verbose=0))
    return np.stack(outs)


def test_a_short_openmp_team_runs_the_chunks_instead(restore_threads, tmp_path):
    """Under OMP_THREAD_LIMIT OpenMP gives the split's region fewer threads than it asked for: each thread
    then waited forever for a slice nobody computed (the process hung). It must run the chunks instead,
    with their bits."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import bigcore
        sys.path.insert(0, sys.argv[2])
        from test_recurrent_unit_split import lstm_gru_predictions
        bigcore.config.set_num_threads(2)
        np.save(sys.argv[1], lstm_gru_predictions())
    """)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(bigcore.__file__)))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = tmp_path / "y.npy"
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, "-c", script, str(out), tests_dir], env=env, check=True, timeout=120)
    bigcore.config.set_num_threads(1)
    np.testing.assert_array_equal(np.load(out), lstm_gru_predictions())
