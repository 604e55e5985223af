"""bigcore.random (keras.random): draws at once on arrays, and inside a traced call() as nodes of
the program (a VAE's sampling layer): their statistics, seeds, new values each training step, the
same values for any thread count, shapes from the batch size and run-time lengths."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops


def test_eager_draws_have_their_distributions_and_seeds():
    n = normal = bigcore.random.normal((200000,), mean=1.5, stddev=2.0, seed=3)
    assert normal.shape == (200000,) and normal.dtype == np.float32
    assert abs(n.mean() - 1.5) < 0.02 and abs(n.std() - 2.0) < 0.02
    u = bigcore.random.uniform((100000,), minval=-1.0, maxval=3.0, seed=4)
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.03
    t = bigcore.random.truncated_normal((100000,), stddev=0.5, seed=5)
    assert np.abs(t).max() <= 1.0 and 0.4 < t.std() < 0.5  # cut at 2 stddev
    np.testing.assert_array_equal(bigcore.random.normal((3, 4), seed=7), bigcore.random.normal((3, 4), seed=7))
    gen = bigcore.random.SeedGenerator(11)
    a, b = bigcore.random.normal((5,), seed=gen), bigcore.random.normal((5,), seed=gen)
    assert not np.array_equal(a, b)
    again = bigcore.random.SeedGenerator(11)
    np.testing.assert_array_equal(bigcore.random.normal((5,), seed=again), a)
    with pytest.raises(ValueError, match="seed must be"):
        bigcore.random.normal((2,), seed="x")
    with pytest.raises(ValueError, match="draws float32"):
        bigcore.random.uniform((2,), dtype="int32")


class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps, eps ~ N(0, 1) of the call's (batch, dim)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.gen = bigcore.random.SeedGenerator(1337)

    def call(self, inputs):
        mean, log_var = inputs
        eps = bigcore.random.normal(shape=(ops.shape(mean)[0], ops.shape(mean)[1]), seed=self.gen)
        return mean + ops.exp(0.5 * log_var) * eps


def sampler():
    m, lv = bigcore.Input((3,)), bigcore.Input((3,))
    return bigcore.Model([m, lv], Sampling()([m, lv]))


def test_sampling_layer_draws_in_the_program():
    model = sampler()
    mean = np.tile(np.array([[0.0, 2.0, -1.0]], np.float32), (4000, 1))
    log_var = np.tile(np.array([[0.0, np.log(4.0), np.log(0.25)]], np.float32), (4000, 1))
    z = model.predict([mean, log_var], batch_size=4000, verbose=0)
    np.testing.assert_allclose(z.mean(0), [0.0, 2.0, -1.0], atol=0.08)
    np.testing.assert_allclose(z.std(0), [1.0, 2.0, 0.5], rtol=0.05)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.05  # independent draws per value
    # each predict call draws anew (Keras's generators advance); so do the two halves of the batch
    halves = np.concatenate([model.predict([mean[:2000], log_var[:2000]], verbose=0, batch_size=2000),
                             model.predict([mean[2000:], log_var[2000:]], verbose=0, batch_size=2000)])
    assert not np.array_equal(halves[:2000], halves[2000:])


def test_each_training_step_draws_anew_and_threads_do_not_matter():
    """Zero learning rate: the loss of each step differs (new noise), and the run repeats bit for bit
    with another thread count."""
    def run(threads):
        before = bigcore.config.get_num_threads() if hasattr(bigcore.config, "get_num_threads") else None
        bigcore.config.set_num_threads(threads)
        try:
            bigcore.utils.set_random_seed(2)
            model = sampler()
            model.compile(optimizer=bigcore.optimizers.SGD(0.0), loss="mse")
            x = [np.zeros((64, 3), np.float32), np.zeros((64, 3), np.float32)]
            return [model.train_on_batch(x, np.zeros((64, 3), np.float32)) for _ in range(3)]
        finally:
            if before is not None:
                bigcore.config.set_num_threads(before)
    one, two = run(1), run(2)
    assert len(set(one)) == 3
    assert one == two


def test_draws_sized_by_run_time_lengths():
    """normal((batch, T, 2)) with T a run-time length: the shape each call, the noise added."""
    class Noisy(layers.Layer):
        def call(self, x):
            s = ops.shape(x)
            return x + 0.0 * bigcore.random.uniform((s[0], s[1], 2)) + bigcore.random.uniform((s[0], s[1], 2), 5, 6)
    inp = bigcore.Input((None, 2))
    model = bigcore.Model(inp, Noisy()(inp))
    for T in (3, 7):
        y = model.predict(np.zeros((2, T, 2), np.float32), verbose=0)
        assert y.shape == (2, T, 2) and y.min() >= 5.0 and y.max() < 6.0
