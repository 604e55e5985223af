"""The native NaN/inf search fit uses on whole data sets: the first index, on any thread count."""
import numpy as np
import pytest

import bigcore
from bigcore import _core

CHUNK = 1 << 20  # the team's fixed chunk


def _first_bad(a):
    bad = np.flatnonzero(~np.isfinite(a.ravel()))
    return int(bad[0]) if bad.size else -1


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_first_index_across_chunks(restore_threads, threads):
    bigcore.config.set_num_threads(threads)
    n = 3 * CHUNK + 17
    a = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    assert _core.first_nonfinite(a) == -1
    for where, late in [(0, n - 1), (CHUNK - 1, CHUNK), (2 * CHUNK + 5, 3 * CHUNK + 16), (n - 1, None)]:
        b = a.copy()
        b[where] = np.nan
        if late is not None:
            b[late] = -np.inf  # a later chunk's hit must not win
        assert _core.first_nonfinite(b) == where == _first_bad(b)
    b = a.copy()
    b[CHUNK + 3] = np.inf
    assert _core.first_nonfinite(b.reshape(-1, 1)) == CHUNK + 3  # any shape, flat index


def test_large_finite_values_and_subnormals_pass():
    a = np.array([np.finfo(np.float32).max, -np.finfo(np.float32).max, 1e-45, -0.0], np.float32)
    assert _core.first_nonfinite(a) == -1


def test_refuses_other_layouts():
    with pytest.raises(ValueError, match="C-contiguous float32"):
        _core.first_nonfinite(np.zeros(4, np.float64))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        _core.first_nonfinite(np.zeros((4, 4), np.float32)[:, ::2])


def test_fit_names_the_first_bad_value():
    m = bigcore.Sequential([bigcore.layers.Input((5,)), bigcore.layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    x = np.ones((300, 5), np.float32)
    x[123, 4] = np.nan
    x[200, 0] = np.inf
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(123, 4\)\)"):
        m.fit(x, np.zeros((300, 1), np.float32), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))  # refused before any step
