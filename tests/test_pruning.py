"""Magnitude pruning (bigcore.compression): the native mask kernel against a NumPy reference,
masks kept through fit whatever the optimizer, tfmot's schedule formulas, strip_pruning, summary,
bad input, functional and Sequential models, and bit-identical results across thread counts."""

import math

import bigcore
import numpy as np
import pytest
from bigcore import compression, layers
from bigcore._native import _core
from bigcore.compression import ConstantSparsity, PolynomialDecay
from bigcore.compression.pruning import pruned_segments

# --- NumPy references -------------------------------------------------------------------------

def ref_count(n, sparsity):
    """tfmot: k kept = tf.math.round(n * (1 - sparsity)) (round half to even); pruned = n - k."""
    return n - int(np.round(n * (1.0 - sparsity)))


def ref_mask(w, sparsity):
    """Prune the n_prune smallest |w|, ties to the lower index (|w| in float64, NaN largest)."""
    flat = w.reshape(-1).astype(np.float64)
    mag = np.where(np.isnan(flat), np.inf, np.abs(flat))
    nan_last = np.isnan(flat).astype(np.int8)
    order = np.lexsort((np.arange(flat.size), mag, nan_last))
    keep = np.ones(flat.size, np.uint8)
    keep[order[:ref_count(flat.size, sparsity)]] = 0
    return keep.reshape(w.shape)


def tfmot_should_prune(step, begin, end, freq):
    in_range = step >= begin and (end == -1 or step <= end)
    return in_range and (step - begin) % freq == 0


def tfmot_polynomial(step, initial, final, begin, end, power):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return (initial - final) * (1.0 - p) ** power + final


# --- the kernel --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1,), (7,), (33, 5), (784, 128), (129, 257)])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.8, 0.95, 0.999])
def test_mask_kernel_matches_numpy(shape, sparsity):
    w = np.random.default_rng(math.prod(shape)).standard_normal(shape).astype(np.float32)
    keep = _core.prune_magnitude_mask(w, sparsity)
    assert keep.shape == w.shape and keep.dtype == np.uint8
    np.testing.assert_array_equal(keep, ref_mask(w, sparsity))
    assert int((keep == 0).sum()) == ref_count(w.size, sparsity) == _core.prune_count(w.size, sparsity)
    if 0 < (keep == 0).sum() < w.size:
        assert np.abs(w[keep == 0]).max() <= np.abs(w[keep == 1]).min()


def test_mask_kernel_breaks_ties_by_position():
    # many equal magnitudes, both signs, -0.0 and +0.0: exactly the requested count, lowest indices first
    w = np.array([0.5, -0.25, 0.25, 0.0, -0.0, 0.25, -0.5, 0.25, 1.0, -0.25], np.float32)
    keep = _core.prune_magnitude_mask(w, 0.5)
    np.testing.assert_array_equal(keep, [1, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    rng = np.random.default_rng(3)
    w = (rng.integers(-3, 4, size=(61, 17)) * 0.125).astype(np.float32)  # ties everywhere
    for s in (0.2, 0.5, 0.77):
        keep = _core.prune_magnitude_mask(w, s)
        np.testing.assert_array_equal(keep, ref_mask(w, s))
        assert int((keep == 0).sum()) == ref_count(w.size, s)


DISTRIBUTIONS = {
    "all equal": lambda rng, n: np.full(n, -0.75, np.float32),
    "one radix bucket": lambda rng, n: (1.0 + rng.integers(0, 50, n) * np.finfo(np.float32).eps).astype(np.float32),
    "denormals and zeros": lambda rng, n: (rng.integers(-5, 6, n) * np.float32(1e-45)).astype(np.float32),
    "wide range": lambda rng, n: (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(np.float32),
    "specials": lambda rng, n: rng.choice(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-40],
                                                   np.float32), n),
}


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_mask_kernel_on_hard_distributions(dist, sparsity):
    rng = np.random.default_rng(5)
    w = DISTRIBUTIONS[dist](rng, 20011)
    keep = _core.prune_magnitude_mask(w, sparsity)
    np.testing.assert_array_equal(keep, ref_mask(w, sparsity))


def test_mask_kernel_ranks_nan_and_inf_as_largest():
    w = np.array([np.nan, 1.0, -np.inf, 0.5, 2.0, np.nan, 0.1, 3.0], np.float32)
    keep = _core.prune_magnitude_mask(w, 0.5)
    np.testing.assert_array_equal(keep, [1, 0, 1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(keep, ref_mask(w, 0.5))


def test_prune_count_rounds_like_tfmot():
    for n in (1, 2, 5, 7, 10, 100352):
        for s in (0.0, 0.25, 0.5, 0.8, 0.9, 0.99):
            assert _core.prune_count(n, s) == ref_count(n, s)
    assert _core.prune_count(5, 0.5) == 3 and _core.prune_count(7, 0.5) == 3  # 2.5 -> 2, 3.5 -> 4 kept


@pytest.mark.parametrize("bad", [1.0, -0.01, 1.5, float("nan")])
def test_mask_kernel_rejects_bad_sparsity(bad):
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        _core.prune_magnitude_mask(np.ones(4, np.float32), bad)


def test_mask_kernel_rejects_non_float32():
    with pytest.raises(ValueError, match="float32"):
        _core.prune_magnitude_mask(np.ones(4, np.float64), 0.5)


# --- schedules ---------------------------------------------------------------------------------

def test_constant_sparsity_matches_tfmot():
    for begin, end, freq in ((0, -1, 100), (10, 55, 7), (3, 3, 1)):
        s = ConstantSparsity(0.8, begin_step=begin, end_step=end, frequency=freq)
        for step in range(400):
            assert s(step) == (tfmot_should_prune(step, begin, end, freq), 0.8)


def test_polynomial_decay_matches_tfmot():
    for initial, final, begin, end, power, freq in ((0.0, 0.8, 0, 1000, 3, 100), (0.2, 0.9, 50, 130, 2, 10),
                                                    (0.5, 0.6, 0, 7, 1.5, 1)):
        s = PolynomialDecay(initial, final, begin, end, power=power, frequency=freq)
        for step in range(0, 1200, 3):
            fire, sparsity = s(step)
            assert fire == tfmot_should_prune(step, begin, end, freq)
            assert sparsity == pytest.approx(tfmot_polynomial(step, initial, final, begin, end, power), abs=1e-12)
    s = PolynomialDecay(0.0, 0.8, 0, 1000)
    assert s(0)[1] == 0.0 and s(1000)[1] == pytest.approx(0.8) and s(5000) == (False, pytest.approx(0.8))
    assert s(500)[1] == pytest.approx(0.8 - 0.8 * 0.5 ** 3)


@pytest.mark.parametrize("make, match", [
    (lambda: ConstantSparsity(1.0), "target_sparsity"),
    (lambda: ConstantSparsity(-0.1), "target_sparsity"),
    (lambda: ConstantSparsity("0.5"), "target_sparsity"),
    (lambda: ConstantSparsity(0.5, begin_step=-1), "begin_step"),
    (lambda: ConstantSparsity(0.5, begin_step=10, end_step=5), "end_step must be >= begin_step"),
    (lambda: ConstantSparsity(0.5, frequency=0), "frequency"),
    (lambda: PolynomialDecay(0.0, 1.0, 0, 10), "final_sparsity"),
    (lambda: PolynomialDecay(0.0, 0.5, 0, -1), "end_step"),
    (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=0), "power"),
    (lambda: PolynomialDecay(0.0, 0.5, 0.5, 10), "begin_step must be an int"),
])
def test_schedule_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_schedule_config_round_trip():
    from bigcore.compression import schedules

    for s in (ConstantSparsity(0.7, 3, 90, 9), PolynomialDecay(0.1, 0.9, 5, 500, power=2, frequency=25)):
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again.get_config() == s.get_config()


# --- models --------------------------------------------------------------------------------------

def mlp(optimizer="adam", act="relu"):
    model = bigcore.Sequential([layers.Input(shape=(20,)), layers.Dense(16, activation=act),
                                layers.Dense(16, activation=act), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=256, d=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


def kernels(model):
    return [w for w in model.weights if w.name.endswith("kernel")]


def masks(model):
    program = model._program
    return [_core.program_mask(program.native, off) for _, offs in pruned_segments(program) for off in offs]


@pytest.mark.parametrize("optimizer", [
    bigcore.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    bigcore.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    bigcore.optimizers.Adam(learning_rate=0.01),
    bigcore.optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
    # the EMA's overwrites and fit's finalize write the averages into the weights: masked too
    bigcore.optimizers.Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=5),
], ids=["sgd-momentum", "nesterov", "adam", "rmsprop", "adam-ema"])
def test_masks_hold_through_fit(seed, optimizer):
    x, y = data()
    model = mlp(optimizer, act="tanh")  # no dead units: every kept weight gets gradients
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    before = [w.numpy() for w in kernels(model)]
    pruned = compression.prune_low_magnitude(model, pruning_schedule=ConstantSparsity(0.6, 0, frequency=10 ** 6))
    pruned.fit(x, y, epochs=8, batch_size=16, verbose=0)  # 128 steps; the mask is made at step 0 only
    assert pruned.optimizer.iterations == 128
    for w0, w, keep in zip(before, kernels(pruned), masks(pruned)):
        keep = keep.reshape(w.shape)
        np.testing.assert_array_equal(keep, ref_mask(w0, 0.6))  # made from the weights before any update
        v = w.numpy()
        assert (v.view(np.uint32)[keep == 0] == 0).all()  # exactly +0.0
        # the others moved (except into units whose outgoing weights were all pruned: no gradient reaches them)
        assert (v[keep == 1] != w0[keep == 1]).mean() > 0.6
    # biases are never pruned
    for w in pruned.weights:
        if w.name.endswith("bias"):
            assert (w.numpy() != 0).mean() > 0.5


def test_polynomial_schedule_steps_sparsity(seed):
    x, y = data(n=320)
    schedule = PolynomialDecay(0.0, 0.75, begin_step=0, end_step=40, power=3, frequency=10)
    pruned = compression.prune_low_magnitude(mlp(), pruning_schedule=schedule)
    seen = []

    class Probe(bigcore.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([int((w.numpy() == 0).sum()) for w in kernels(pruned)])

    pruned.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Probe()])  # 60 steps
    sizes = [math.prod(w.shape) for w in kernels(pruned)]
    for step, zeros in enumerate(seen):
        last_fire = min(step // 10 * 10, 40)
        expected = [ref_count(n, schedule(last_fire)[1]) for n in sizes]
        # a weight may also reach exactly 0 by itself, which is vanishingly rare in float32
        assert zeros == expected, (step, zeros, expected)
    assert [int((m == 0).sum()) for m in masks(pruned)] == [ref_count(n, 0.75) for n in sizes]


def test_explicit_callback_and_train_on_batch(seed):
    x, y = data()
    pruned = compression.prune_low_magnitude(mlp(), target_sparsity=0.5)
    pruned.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[compression.UpdatePruningStep()])
    assert [int((m == 0).sum()) for m in masks(pruned)] == [ref_count(w.value.size, 0.5) for w in kernels(pruned)]
    other = compression.prune_low_magnitude(mlp(), pruning_schedule=ConstantSparsity(0.3, begin_step=2, frequency=1))
    other.train_on_batch(x[:32], y[:32])
    assert all((m == 1).all() for m in masks(other))  # step 0: not yet
    other.train_on_batch(x[:32], y[:32])
    other.train_on_batch(x[:32], y[:32])  # step 2 fires
    assert [int((m == 0).sum()) for m in masks(other)] == [ref_count(w.value.size, 0.3) for w in kernels(other)]


def test_prune_copies_the_model_and_keeps_its_compile_settings(seed):
    model = mlp(bigcore.optimizers.SGD(learning_rate=0.123, momentum=0.5))
    pruned = compression.prune_low_magnitude(model)
    assert pruned is not model and compression.is_pruned(pruned) and not compression.is_pruned(model)
    for a, b in zip(model.get_weights(), pruned.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(pruned.optimizer) is bigcore.optimizers.SGD and pruned.optimizer is not model.optimizer
    assert pruned.optimizer.get_config() == model.optimizer.get_config()
    assert pruned.optimizer.iterations == 0
    assert pruned.get_layer(index=0)._pruning.schedule.get_config() == ConstantSparsity(0.8).get_config()


def test_functional_model_with_recurrent_layers(seed):
    inp = bigcore.Input((6, 5))
    a = layers.LSTM(8, name="lstm")(inp)
    b = layers.Bidirectional(layers.GRU(4, name="gru"), name="bi")(inp)
    h = layers.Concatenate()([a, b])
    out = layers.Dense(2, activation="softmax")(layers.Dropout(0.1)(h))
    model = bigcore.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 5)).astype(np.float32)
    y = (x[:, -1, 0] > 0).astype(np.int64)
    pruned = compression.prune_low_magnitude(model, target_sparsity=0.7)
    biases = {w.path: w.numpy() for w in pruned.weights if w.name.endswith("bias")}
    pruned.fit(x, y, epochs=2, batch_size=16, verbose=0)
    names = sorted(w.path for w in compression.prunable_weights(pruned.get_layer("bi")))
    assert names == ["bi/backward_gru/gru_cell/kernel", "bi/backward_gru/gru_cell/recurrent_kernel",
                     "bi/forward_gru/gru_cell/kernel", "bi/forward_gru/gru_cell/recurrent_kernel"]
    for w in pruned.weights:
        v = w.numpy()
        if w.name.endswith("kernel"):  # kernel and recurrent_kernel, LSTM, both GRU directions, Dense
            assert int((v == 0).sum()) == ref_count(v.size, 0.7), w.path
        else:
            assert (v != biases[w.path]).any() and (v == 0).mean() < 0.5, w.path


def test_sequential_built_from_pruned_layers(seed):
    x, y = data()
    model = bigcore.Sequential([
        layers.Input(shape=(20,)),
        compression.prune_low_magnitude(layers.Dense(16, activation="relu"), target_sparsity=0.9),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    first, last = model.layers[0].kernel.numpy(), model.layers[1].kernel.numpy()
    assert int((first == 0).sum()) == ref_count(first.size, 0.9)
    assert (last == 0).sum() == 0
    assert compression.is_pruned(model)


def test_strip_pruning(seed):
    x, y = data()
    pruned = compression.prune_low_magnitude(mlp(), target_sparsity=0.5)
    pruned.fit(x, y, epochs=2, batch_size=32, verbose=0)
    stripped = compression.strip_pruning(pruned)
    assert not compression.is_pruned(stripped) and stripped._program.step_hooks == []
    assert all(not hasattr(layer, "_pruning") for layer in stripped.layers)
    for a, b in zip(pruned.get_weights(), stripped.get_weights()):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    np.testing.assert_array_equal(pruned.predict(x, verbose=0), stripped.predict(x, verbose=0))
    assert stripped.get_config()["layers"][1]["class_name"] == "Dense"
    zeros = [w.numpy() == 0 for w in kernels(stripped)]
    stripped.fit(x, y, epochs=1, batch_size=32, verbose=0)  # no masks any more: the zeros move
    assert all((w.numpy()[z] != 0).mean() > 0.5 for w, z in zip(kernels(stripped), zeros))
    with pytest.raises(TypeError, match="strip_pruning expects a bigcore model"):
        compression.strip_pruning(layers.Dense(3))


def test_bad_input():
    model = mlp()
    for bad in (1.0, -0.5, 2):
        with pytest.raises(ValueError, match=r"target_sparsity must be a number in \[0, 1\)"):
            compression.prune_low_magnitude(model, target_sparsity=bad)
    with pytest.raises(ValueError, match="either target_sparsity or pruning_schedule"):
        compression.prune_low_magnitude(model, target_sparsity=0.5, pruning_schedule=ConstantSparsity(0.5))
    with pytest.raises(TypeError, match="PruningSchedule"):
        compression.prune_low_magnitude(model, pruning_schedule=0.5)
    with pytest.raises(TypeError, match="expects a bigcore layer or model"):
        compression.prune_low_magnitude(np.zeros(3))
    with pytest.raises(ValueError, match=r"'emb' \(Embedding\) cannot be pruned"):
        compression.prune_low_magnitude(bigcore.Sequential([layers.Input((4,)), layers.Embedding(10, 3, name="emb"),
                                                            layers.Flatten(), layers.Dense(2)]))
    with pytest.raises(ValueError, match=r"\(Embedding\) cannot be pruned"):
        compression.prune_low_magnitude(layers.Embedding(10, 3))
    qmodel = bigcore.quantization.quantize(model)
    with pytest.raises(ValueError, match=r"\(QuantizedDense\) cannot be pruned"):
        compression.prune_low_magnitude(qmodel)
    pruned = compression.prune_low_magnitude(model)
    with pytest.raises(ValueError, match="already pruned"):
        compression.prune_low_magnitude(pruned)
    dense = layers.Dense(4)
    compression.prune_low_magnitude(dense)
    with pytest.raises(ValueError, match="already pruned"):
        compression.prune_low_magnitude(dense)
    used = layers.Dense(4)
    used(bigcore.Input((3,)))
    with pytest.raises(ValueError, match="already called"):
        compression.prune_low_magnitude(used)
    # native entry points check their arguments too
    off = pruned_segments(pruned._program)[0][1][0]  # the first kernel's arena offset
    with pytest.raises(ValueError, match="no pruning mask"):
        _core.program_update_mask(model._native().native, off, 0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        _core.program_update_mask(pruned._native().native, off, 1.0)
    with pytest.raises(ValueError, match="no parameter starts at arena offset"):
        _core.program_add_mask(model._native().native, 3)
    with pytest.raises(ValueError, match="already has a mask"):
        _core.program_add_mask(pruned._native().native, off)
    with pytest.raises(ValueError, match="needs 320 entries, got 5"):
        _core.program_set_mask(pruned._native().native, off, np.ones(5, np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        _core.program_set_mask(pruned._native().native, off, np.ones(320, np.float32))


def test_layers_without_weights_are_left_alone(seed):
    model = bigcore.Sequential([layers.Input((4, 5)), layers.Flatten(), layers.Dense(6, activation="relu"),
                                layers.Dropout(0.2), layers.Activation("tanh"), layers.Dense(2)])
    pruned = compression.prune_low_magnitude(model, target_sparsity=0.5)
    assert [getattr(layer, "_pruning", None) is not None for layer in pruned.layers] == [False, True, False, False, True]


def test_summary_numbers(seed):
    x, y = data()
    pruned = compression.prune_low_magnitude(mlp(), target_sparsity=0.75)
    pruned.fit(x, y, epochs=1, batch_size=32, verbose=0)
    lines = []
    rows = compression.summary(pruned, print_fn=lines.append)
    assert [r["layer"] for r in rows] == [layer.name for layer in pruned.layers] + ["total"]
    for r, layer in zip(rows, pruned.layers):
        k, b = layer.kernel.numpy(), layer.bias.numpy()
        nnz = int(np.count_nonzero(k))
        assert r["params"] == k.size + b.size and r["pruned"]
        assert r["sparsity"] == 1 - nnz / k.size == pytest.approx(ref_count(k.size, 0.75) / k.size)
        assert r["dense_bytes"] == 4 * (k.size + b.size)
        assert r["stored_bytes"] == stored_bytes(k) + stored_bytes(b)
        assert stored_bytes(k) == (k.size + 7) // 8 + 4 * nnz  # a 75% pruned kernel: the bitmask
        assert r["ratio"] == pytest.approx(r["dense_bytes"] / r["stored_bytes"])
    total = rows[-1]
    assert total["params"] == pruned.count_params()
    assert total["stored_bytes"] == sum(r["stored_bytes"] for r in rows[:-1])
    text = lines[0]
    assert "Stored bytes" in text and f"{total['stored_bytes']:,}" in text and "75.0%" in text


def stored_bytes(v):
    """The smallest of dense, bitmask and CSR (compression/storage.py's layouts) for float32 v."""
    n, nnz = v.size, int(np.count_nonzero(v.view(np.uint32)))
    rows = v.shape[0] if v.ndim >= 2 else 1
    csr = 4 * (rows + 1) + 6 * nnz
    return min(4 * n, (n + 7) // 8 + 4 * nnz, csr if 4 * n <= 1024 * csr else 4 * n)


def _train_pruned(threads):
    bigcore.config.set_num_threads(threads)
    bigcore.utils.set_random_seed(7)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 784)).astype(np.float32)
    y = np.argmax(x @ rng.standard_normal((784, 10)).astype(np.float32), axis=1)
    model = bigcore.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                                layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    pruned = compression.prune_low_magnitude(model, pruning_schedule=PolynomialDecay(0.0, 0.8, 0, 12, frequency=4))
    pruned.fit(x, y, epochs=6, batch_size=256, verbose=0)  # 12 steps: masks at 0, 4 and 8
    return pruned.get_weights(), masks(pruned)


def test_pruning_is_bit_identical_across_thread_counts(restore_threads):
    w1, m1 = _train_pruned(1)
    w2, m2 = _train_pruned(2)
    for a, b in zip(w1 + m1, w2 + m2):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    assert int((m1[0] == 0).sum()) == ref_count(784 * 256, PolynomialDecay(0.0, 0.8, 0, 12)(8)[1])


def test_masks_hold_on_every_cpu_path(seed, isa):
    x, y = data()
    pruned = compression.prune_low_magnitude(mlp(bigcore.optimizers.Adam(0.01), act="tanh"), target_sparsity=0.7)
    pruned.fit(x, y, epochs=2, batch_size=32, verbose=0)
    for w, keep in zip(kernels(pruned), masks(pruned)):
        v = w.numpy().reshape(-1)
        assert (v.view(np.uint32)[keep == 0] == 0).all() and int((keep == 0).sum()) == ref_count(v.size, 0.7)
