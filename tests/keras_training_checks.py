"""The checks the op and optimizer tests share: a model built by the same code on bigcore and on
Keras 3, from the same weights, predicts the same and holds the same weights after a few SGD steps;
an optimizer's state, config and fit as Keras's; .keras files saved by either library training on in
the other; exact resume from .bigcore; training bit-identical on 1 and 2 threads and on every CPU
kernel path."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from test_parity import D, assert_weights_close, batches, case_data


def trains_like_keras(keras, build, x, y, learning_rate, epochs=2, batch_size=4, seed=0):
    """build(lib) -> a model of lib (bigcore or keras); trained with mse, no shuffling."""
    bigcore.utils.set_random_seed(seed)
    ours, theirs = build(bigcore), build(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)
    for model, lib in ((ours, bigcore), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(learning_rate), loss="mse")
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)


def compiled_model_makers(build):
    """build(lib) -> an uncompiled model of lib (bigcore or keras). Returns model(make): bigcore's,
    built after set_random_seed(0), and keras_model(keras, make, weights): Keras's with those weights,
    each compiled with make(its library's optimizers module) and mse."""

    def model(make):
        bigcore.utils.set_random_seed(0)
        m = build(bigcore)
        m.compile(optimizer=make(bigcore.optimizers), loss="mse")
        return m

    def keras_model(keras, make, weights):
        km = build(keras)
        km.set_weights(weights)
        km.compile(optimizer=make(keras.optimizers), loss="mse")
        return km

    return model, keras_model


def optimizer_state_like_keras(ours, theirs, x, y, rtol, atol, steps=3, batch=8):
    """`steps` train_on_batch calls on both models, then bigcore's optimizer state as its Keras files
    write it equals Keras's optimizer variables, in Keras's order and shapes."""
    for i in range(0, steps * batch, batch):
        ours.train_on_batch(x[i:i + batch], y[i:i + batch])
        theirs.train_on_batch(x[i:i + batch], y[i:i + batch])
    mine = bigcore.saving.keras_weights.optimizer_slots(ours)
    keras_vars = theirs.optimizer.variables
    values = [v.value.detach().cpu().numpy() for v in keras_vars]
    assert [tuple(s.shape) for s in mine] == [tuple(v.shape) for v in values]
    for k, (s, v) in enumerate(zip(mine, values)):
        np.testing.assert_allclose(np.asarray(s.get(), np.float64), v.astype(np.float64), rtol=rtol, atol=atol,
                                   err_msg=f"optimizer variable {k} ({keras_vars[k].path})")


def config_like_keras(ours, theirs, name):
    """An optimizer's get_config() holds Keras's keys (less the base arguments Keras may add,
    loss_scale_factor and gradient_accumulation_steps), the name `name` (Keras's starts with it: it
    numbers later instances) and Keras's values (floats to rel 1e-7). Returns Keras's config."""
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert set(keras_config) - set(mine) <= {"loss_scale_factor", "gradient_accumulation_steps"}
    assert set(mine) <= set(keras_config)
    assert mine.pop("name") == name and keras_config["name"].startswith(name)
    for key, value in mine.items():
        assert value == pytest.approx(keras_config[key], rel=1e-7) if isinstance(value, float) else \
            value == keras_config[key], key
    return keras_config


def fit_like_keras(m, km, x, y, iterations, rebuild, rtol, atol, every_weight_moves=True):
    """m (bigcore) and km (Keras, from m's weights) fitted one epoch, 8 rows a batch, no shuffling:
    `iterations` steps in both, the same loss (rel 1e-5), and weights within rtol / atol of Keras's
    that moved from rebuild()'s (each one, or with every_weight_moves=False at least one)."""
    history = m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    keras_history = km.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert m.optimizer.iterations == int(km.optimizer.iterations) == iterations
    assert history.history["loss"][0] == pytest.approx(keras_history.history["loss"][0], rel=1e-5)
    start = rebuild().get_weights()
    got, want = m.get_weights(), keras_weights(km)
    moved = [not np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(got, start)]
    assert all(moved) if every_weight_moves else any(moved)
    assert_weights_close(got, want, rtol=rtol, atol=atol)


def keras_weights(km):
    """A Keras model's weights as NumPy (Keras's get_weights() warns under numpy 2)."""
    return [w.value.detach().cpu().numpy() for w in km.weights]


def keras_file_trains_on(km, x, y, path, optimizer_name, rtol, atol, then=(24, 32), batch=8):
    """A Keras model fitted one epoch on x[:24] (3 steps) and saved to `path` (.keras) loads in bigcore
    with its optimizer (`optimizer_name`, 3 iterations) and the very same weights; one more step on each
    batch starting at the rows in `then`, in both, leaves the weights within rtol / atol."""
    km.fit(x[:24], y[:24], epochs=1, batch_size=batch, verbose=0, shuffle=False)
    km.save(path)
    ours = bigcore.models.load_model(path)
    assert type(ours.optimizer).__name__ == optimizer_name and ours.optimizer.iterations == 3
    assert_weights_close(ours.get_weights(), keras_weights(km), rtol=0, atol=0)
    for i in then:
        ours.train_on_batch(x[i:i + batch], y[i:i + batch])
        km.train_on_batch(x[i:i + batch], y[i:i + batch])
    assert_weights_close(ours.get_weights(), keras_weights(km), rtol=rtol, atol=atol)


def bigcore_file_trains_on_in_keras(keras, model, x, y, path, optimizer_name, rtol, atol, then=(24, 32), batch=8):
    """The other way: a bigcore model fitted one epoch on x[:24] and saved to `path` loads in Keras with
    its optimizer (3 iterations); one more step on each batch of `then`, in both, leaves the weights
    within rtol / atol. Returns the Keras model."""
    model.fit(x[:24], y[:24], epochs=1, batch_size=batch, verbose=0, shuffle=False)
    model.save(path)
    km = keras.models.load_model(path)
    assert type(km.optimizer).__name__ == optimizer_name and int(km.optimizer.iterations) == 3
    for i in then:
        model.train_on_batch(x[i:i + batch], y[i:i + batch])
        km.train_on_batch(x[i:i + batch], y[i:i + batch])
    assert_weights_close(model.get_weights(), keras_weights(km), rtol=rtol, atol=atol)
    return km


def mlp_resumes_bit_identical(tmp_path, make_optimizer):
    """test_saving's mlp with make_optimizer() on X8 / Y3: 2 epochs, saved to .bigcore, loaded and
    fitted 2 more, is the same bits (weights, losses, 24 iterations, slots) as 4 epochs straight;
    every slot of the resumed optimizer is non-zero somewhere."""
    # the .bigcore saving tests' helpers; only this check and same_bits_on_1_and_2_threads need that module
    from test_saving import X8, Y3, _resume_pair, assert_same_weights, mlp, slots

    straight, resumed, history = _resume_pair(tmp_path, lambda: mlp(optimizer=make_optimizer()), X8, Y3)
    assert_same_weights(straight, resumed)
    assert history.history["loss"] == straight.history.history["loss"][2:]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 24
    for s, t in zip(slots(straight), slots(resumed), strict=True):
        np.testing.assert_array_equal(s, t)
    assert all(np.abs(s).max() > 0 for s in slots(resumed))


def same_bits_on_1_and_2_threads(make_optimizer, features, hidden, min_params=None):
    """Input(features) -> Dense(hidden, tanh) -> Dense(8) -> Dense(4), trained 2 epochs (mse, 8 rows a
    batch) with make_optimizer() on 1 and then 2 threads: the weights and the optimizer slots are the
    same bits. min_params: the least count_params() the model must have (to pass a parallel threshold)."""
    from test_saving import slots  # imported here, as in mlp_resumes_bit_identical

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, features)).astype(np.float32)
    y = rng.normal(size=(32, 4)).astype(np.float32)
    runs = []
    for n in (1, 2):
        bigcore.config.set_num_threads(n)
        bigcore.utils.set_random_seed(0)
        m = bigcore.Sequential([layers.Input((features,)), layers.Dense(hidden, activation="tanh"), layers.Dense(8),
                                layers.Dense(4)])
        m.compile(optimizer=make_optimizer(), loss="mse")
        if min_params is not None:
            assert m.count_params() >= min_params
        m.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        runs.append([w.tobytes() for w in m.get_weights()] + [s.tobytes() for s in slots(m)])
    assert runs[0] == runs[1]


def same_bits_on_every_isa(supported_isas, makes):
    """makes: {name: () -> optimizer}. Dense(37, tanh) -> Dense(5) trained with each optimizer on
    test_parity's softmax_sparse_ce batches gives the same losses and weight bits on every CPU path in
    supported_isas as on "ref" (and its loss falls). Skips where the CPU has one path only; the caller
    restores the ISA (the restore_isa fixture)."""
    if len(supported_isas) < 2:
        pytest.skip("only one ISA path on this CPU")
    x, y = case_data("softmax_sparse_ce")
    for name, make in makes.items():
        results = {}
        for isa in supported_isas:
            bigcore.config.set_cpu_isa(isa)
            bigcore.utils.set_random_seed(3)
            m = bigcore.Sequential([layers.Dense(37, activation="tanh", input_shape=(D,)), layers.Dense(5)])
            m.compile(optimizer=make(), loss=bigcore.losses.SparseCategoricalCrossentropy(from_logits=True))
            losses_seen = [m.train_on_batch(xb, yb) for xb, yb in batches(x, y)]
            results[isa] = (losses_seen, [w.tobytes() for w in m.get_weights()])
        assert results["ref"][0][-1] < results["ref"][0][0], name  # it trains
        for isa, r in results.items():
            assert r == results["ref"], f"{name} on {isa} differs from ref"
