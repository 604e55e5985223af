"""Program.set_profile / profile / op_type: the per-op timer bench/profile_ops.py reads."""

import numpy as np

import bigcore
from bigcore import layers


def test_profile_counts_every_op_and_stops_when_off():
    model = bigcore.Sequential([layers.Input((6, 2)), layers.Conv1D(3, 3, padding="same"), layers.ReLU(),
                                layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32)
    y = np.array([0, 1, 1, 0])
    native = model._native().native
    native.set_profile(True)
    for _ in range(3):
        model.train_on_batch(x, y)
    rows = native.profile()
    assert len(rows) == native.n_ops + 2  # each op, then losses and metrics, then the optimizer
    names = [native.op_type(i) for i in range(native.n_ops)]
    assert any("ConvOp" in n for n in names) and any("ReluOp" in n for n in names)
    for fwd, bwd, calls in rows[:native.n_ops]:
        assert calls == 3 and fwd > 0
    assert rows[-1][0] > 0  # the optimizer ran
    native.set_profile(False)
    model.train_on_batch(x, y)
    assert all(r == (0.0, 0.0, 0.0) or list(r) == [0.0, 0.0, 0.0] for r in native.profile())  # reset, no longer counting
