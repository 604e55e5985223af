"""bigcore.data.Dataset and fit/evaluate/predict on Datasets, generators and memory-mapped arrays."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.data import UNKNOWN, Dataset


def xy(n=100, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, c, size=n)


def mlp(seed=0, dropout=0.0):
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(dropout),
                            layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_from_tensor_slices_batches_in_order():
    x, y = xy(10)
    got = list(Dataset.from_tensor_slices((x, y)).batch(4))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    assert [len(b[1]) for b in Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True)] == [4, 4]


def test_shuffle_is_a_seeded_permutation_that_changes_each_pass():
    ds = Dataset.from_tensor_slices(np.arange(50)).shuffle(50, seed=3)
    a, b = list(ds), list(ds)
    assert sorted(a) == list(range(50)) and sorted(b) == list(range(50))
    assert a != b and a != list(range(50))
    assert a == list(Dataset.from_tensor_slices(np.arange(50)).shuffle(50, seed=3))


def test_small_buffer_shuffle_is_a_permutation_and_local():
    got = list(Dataset.from_tensor_slices(np.arange(100)).shuffle(5, seed=1))
    assert sorted(got) == list(range(100)) and got != list(range(100))
    assert all(abs(v - i) < 100 for i, v in enumerate(got))
    assert got[0] < 5  # the first element comes from the first buffer's worth


def test_map_repeat_take_and_parallel_map_keep_order():
    ds = Dataset.range(10).map(lambda v: v * 2)
    assert list(ds) == [2 * i for i in range(10)]
    assert list(Dataset.range(10).map(lambda v: v + 1, num_parallel_calls=4)) == list(range(1, 11))
    assert list(Dataset.range(3).repeat(2)) == [0, 1, 2, 0, 1, 2]
    assert list(Dataset.range(100).repeat().take(5)) == [0, 1, 2, 3, 4]
    assert Dataset.range(10).batch(3).cardinality() == 4


def test_from_generator_and_prefetch_yield_the_same_elements():
    def gen():
        for i in range(7):
            yield np.full(2, i, np.float32), i

    plain = list(Dataset.from_generator(gen).batch(3))
    fetched = list(Dataset.from_generator(gen).batch(3).prefetch(2))
    assert len(plain) == len(fetched) == 3
    for (a, b), (c, d) in zip(plain, fetched):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_prefetch_reraises_errors_of_the_pipeline():
    def bad(v):
        raise RuntimeError("boom in map")

    with pytest.raises(RuntimeError, match="boom in map"):
        list(Dataset.range(3).map(bad).prefetch(1))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_dataset_pipeline_feeds_fit_the_same_batches_as_arrays(dropout):
    x, y = xy(100)
    a = mlp(dropout=dropout)
    ha = a.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0)
    b = mlp(dropout=dropout)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(16).prefetch(2)
    hb = b.fit(ds, epochs=3, verbose=0)
    assert ha.history["loss"] == hb.history["loss"]
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_generator_with_steps_per_epoch_and_evaluate_predict_on_datasets():
    x, y = xy(64)

    def forever():
        while True:
            for s in range(0, 64, 16):
                yield x[s:s + 16], y[s:s + 16]

    m = mlp()
    h = m.fit(forever(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    ref = mlp()
    ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    ds = Dataset.from_tensor_slices((x, y)).batch(10)
    assert m.evaluate(ds, verbose=0) == pytest.approx(m.evaluate(x, y, batch_size=10, verbose=0), rel=1e-6)
    np.testing.assert_array_equal(m.predict(ds, verbose=0), m.predict(x, batch_size=10, verbose=0))


def _unbuilt_mlp(seed=0):
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_an_unbuilt_sequential_learns_its_input_shape_from_a_generators_first_batch():
    """As Keras: fit, evaluate and predict on a generator build an unbuilt Sequential from the first
    batch, and that batch is still trained on (the same weights as the arrays in that order)."""
    x, y = xy(64)

    def batches(with_y=True):
        for s in range(0, 64, 16):
            yield (x[s:s + 16], y[s:s + 16]) if with_y else x[s:s + 16]

    m = _unbuilt_mlp()
    h = m.fit(batches(), epochs=1, verbose=0)
    ref = _unbuilt_mlp()  # built after the seed, as m was
    ref.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert m.input_shape == (None, 6) and m.optimizer.iterations == 4
    assert h.history["loss"] == pytest.approx(ref.history.history["loss"], rel=1e-6)
    for wa, wb in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    e = _unbuilt_mlp()
    assert e.evaluate(batches(), verbose=0) == pytest.approx(e.evaluate(x, y, batch_size=16, verbose=0), rel=1e-6)
    p = _unbuilt_mlp()
    got = p.predict(batches(with_y=False), verbose=0)  # all four batches, the first too
    np.testing.assert_array_equal(got, p.predict(x, batch_size=16, verbose=0))
    with pytest.raises(ValueError, match="gave no batches"):
        _unbuilt_mlp().fit(iter([]), epochs=1, verbose=0)


def test_generator_that_runs_dry_raises_a_clear_error():
    x, y = xy(32)
    m = mlp()
    with pytest.raises(ValueError, match="ran out of data"):
        m.fit(iter([(x[:16], y[:16])]), steps_per_epoch=3, epochs=1, verbose=0)


def test_memmap_inputs_train_like_arrays(tmp_path):
    x, y = xy(80)
    path = tmp_path / "x.dat"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=x.shape)
    mm[:] = x
    mm.flush()
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=x.shape)
    a, b = mlp(), mlp()
    a.fit(x, y, batch_size=16, epochs=2, verbose=0)
    b.fit(mm, y, batch_size=16, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_y_with_a_dataset_is_rejected():
    x, y = xy(10)
    m = mlp()
    with pytest.raises(ValueError, match="y must be None"):
        m.fit(Dataset.from_tensor_slices((x, y)).batch(5), y, verbose=0)


def test_cache_replays_the_first_complete_pass():
    calls = []

    def gen():
        for i in range(5):
            calls.append(i)
            yield np.float32(i), np.int64(i % 2)

    ds = Dataset.from_generator(gen).map(lambda x, y: (x * 2, y)).cache()
    it = iter(ds)
    next(it)  # an unfinished pass keeps nothing
    first = [(float(x), int(y)) for x, y in ds]
    assert first == [(2.0 * i, i % 2) for i in range(5)]
    n = len(calls)
    again = [(float(x), int(y)) for x, y in ds]
    assert again == first and len(calls) == n  # replayed: the generator did not run again
    with pytest.raises(ValueError, match="file"):
        ds.cache("/tmp/somewhere")


def test_cache_after_a_shuffle_keeps_that_order_and_before_it_reshuffles():
    ds = Dataset.range(20)
    frozen = ds.shuffle(20, seed=3).cache()
    assert [int(v) for v in frozen] == [int(v) for v in frozen]
    live = ds.cache().shuffle(20, seed=3)
    a, b = [int(v) for v in live], [int(v) for v in live]
    assert sorted(a) == sorted(b) == list(range(20)) and a != b
    assert ds.cache().cardinality() == 20


def test_skip_and_filter():
    ds = Dataset.from_tensor_slices((np.arange(10), np.arange(10) % 3))
    assert [int(x) for x, _ in ds.skip(7)] == [7, 8, 9]
    assert ds.skip(7).cardinality() == 3 and ds.skip(12).cardinality() == 0
    assert list(ds.skip(-1)) == []
    kept = ds.filter(lambda x, y: y == 0)
    assert [int(x) for x, _ in kept] == [0, 3, 6, 9]
    assert kept.cardinality() == UNKNOWN
    assert [int(v) for v in Dataset.range(6).filter(lambda v: v > 3)] == [4, 5]
    with pytest.raises(ValueError, match="one boolean"):
        list(ds.filter(lambda x, y: np.array([True, False])))
    with pytest.raises(TypeError, match="callable"):
        ds.filter(3)


def test_fit_on_a_cached_pipeline_trains_as_on_the_plain_one():
    x, y = xy(60)
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    plain, cached = mlp(4), mlp(4)
    h1 = plain.fit(ds, epochs=3, verbose=0)
    h2 = cached.fit(ds.cache().prefetch(), epochs=3, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    for a, b in zip(plain.get_weights(), cached.get_weights()):
        np.testing.assert_array_equal(a, b)
