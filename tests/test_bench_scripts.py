"""bench/scaling_table.py runs end to end (--quick, tiny sizes) and prints the rows asked for, with
ratios and GFLOP/s that follow from its times. Timings themselves are not checked here."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import bigcore

REPO = Path(__file__).resolve().parents[1]
# the bigcore this process imported (the installed one in CI, python/ in a dev build)
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bigcore.__file__)))
BENCH = REPO / "bench"
sys.path.append(str(BENCH))
import _timing  # noqa: E402  (bench/ is a script folder, not a package)
import scaling_table  # noqa: E402

pytest.importorskip("torch")

T, FEATURES, UNITS, BATCHES, WIDTHS, MLP_BATCHES = 4, 8, (8, 16), (1, 3), (16,), (2,)


def run_script(*argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PKG_ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(BENCH / "scaling_table.py"), *argv], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)


def bounds(printed):
    """The interval a printed number came from (half a unit of its last digit either side)."""
    d = Decimal(printed)
    half = Decimal(5).scaleb(d.as_tuple().exponent - 1)
    return float(d - half), float(d + half)


@pytest.fixture(scope="module")
def table():
    r = run_script("--quick", "--threads", "1", "--T", str(T), "--features", str(FEATURES),
                   "--units", ",".join(map(str, UNITS)), "--batches", ",".join(map(str, BATCHES)),
                   "--mlp-widths", ",".join(map(str, WIDTHS)), "--mlp-batches", ",".join(map(str, MLP_BATCHES)))
    assert r.returncode == 0, r.stderr
    rows = {}
    for text in r.stdout.splitlines():
        parts = text.split()
        if parts and parts[0] in scaling_table.CASES and len(parts) >= 11:
            key = (parts[0], parts[1], int(parts[2]), int(parts[3]))
            assert key not in rows, f"row printed twice: {text}"
            rows[key] = parts[4:11]
    return r.stdout, rows


def test_every_requested_row_once(table):
    _, rows = table
    want = {(c, m, u, b) for c in ("lstm", "gru") for m in ("train", "predict") for u in UNITS for b in BATCHES}
    want |= {("mlp", m, w, b) for m in ("train", "predict") for w in WIDTHS for b in MLP_BATCHES}
    assert set(rows) == want


def test_ratios_and_rates_follow_from_the_times(table):
    _, rows = table
    for (case, mode, size, batch), (b_ms, t_ms, ratio, b_rate, t_rate, calls, paired) in rows.items():
        (b_lo, b_hi), (t_lo, t_hi) = bounds(b_ms), bounds(t_ms)
        assert float(ratio) > 0 and float(b_ms) > 0 and float(t_ms) > 0 and int(calls) >= 1
        assert 0 < float(paired) < float("inf"), (case, mode, size, batch)
        r_lo, r_hi = bounds(ratio)
        assert r_lo <= b_hi / max(t_lo, 1e-9) and b_lo / t_hi <= r_hi, (case, mode, size, batch)
        flops = (scaling_table.mlp_flops(size, batch, mode) if case == "mlp"
                 else scaling_table.rnn_flops(case, batch, T, FEATURES, size, mode))
        for ms_lo, ms_hi, rate in ((b_lo, b_hi, b_rate), (t_lo, t_hi, t_rate)):
            g_lo, g_hi = bounds(rate)
            assert g_lo <= flops / max(ms_lo, 1e-9) / 1e6 and flops / ms_hi / 1e6 <= g_hi, (case, mode, size, batch)


def test_issue_rows_only_at_the_issue_shape(table):
    """The * marks belong to issue 21's T=50, 64-feature table; a T=4 run marks nothing."""
    stdout, _ = table
    assert "issue 21 rows:" not in stdout
    assert not any(text.rstrip().endswith(" *") for text in stdout.splitlines())


def test_default_rows_hold_the_issue_table():
    args = scaling_table.parse_args([])
    assert scaling_table.ISSUE_ROWS <= set(scaling_table.rows(args))
    assert (args.T, args.features, args.threads) == (50, 64, 2)
    assert len(list(scaling_table.rows(args))) == 2 * 2 * 4 * 5 + 2 * 5 * 3


def test_flop_counts():
    # LSTM: forward 2*B*T*(D+U)*4U; train 3x less the unused input gradient 2*B*T*D*4U.
    assert scaling_table.rnn_flops("lstm", 2, 3, 5, 7, "predict") == 2 * 2 * 3 * 12 * 28
    assert scaling_table.rnn_flops("lstm", 2, 3, 5, 7, "train") == 3 * 2 * 2 * 3 * 12 * 28 - 2 * 2 * 3 * 5 * 28
    assert scaling_table.rnn_flops("gru", 2, 3, 5, 7, "predict") == 2 * 2 * 3 * 12 * 21
    assert scaling_table.mlp_flops(16, 2, "predict") == 2 * 2 * (784 * 16 + 16 * 16 + 16 * 10)
    assert scaling_table.mlp_flops(16, 2, "train") == 3 * 2 * 2 * (784 * 16 + 16 * 16 + 16 * 10) - 2 * 2 * 784 * 16


@pytest.mark.parametrize("argv,message", [
    (["--cases", "lstm,rnn"], "--cases: unknown ['rnn']"),
    (["--mode", "fit"], "--mode: unknown ['fit']"),
    (["--units", "64,x"], "--units: expected comma-separated integers"),
    (["--batches", "0"], "--batches: expected positive integers"),
])
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        scaling_table.parse_args(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err


def test_gru_gate_order_matches_torch():
    """The weight copy puts Keras's z, r, h blocks in torch's r, z, n order (the script also checks
    that predictions agree before timing; this pins the permutation itself)."""
    a = np.repeat(np.arange(3.0), 2)[None]  # blocks z=0, r=1, h=2 of 2 units
    assert scaling_table.gates(a, "gru", 2).tolist() == [[1, 1, 0, 0, 2, 2]]
    assert scaling_table.gates(np.arange(8.0), "lstm", 2).tolist() == list(range(8))


def test_paired_ratio_is_the_median_of_each_rounds_ratio():
    # rounds 1/1, 2/4, 30/10: the rounds' ratios 1, 0.5, 3 (their mean 1.5), the overall medians' 2 / 4
    assert _timing.paired_ratio([1.0, 2.0, 30.0], [1.0, 4.0, 10.0]) == 1.0
    assert _timing.paired_ratio([4.0, 9.0], [2.0, 3.0]) == 2.5
    with pytest.raises(ValueError, match="same number of rounds, got 2 and 1"):
        _timing.paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="got 0 and 0"):
        _timing.paired_ratio([], [])
