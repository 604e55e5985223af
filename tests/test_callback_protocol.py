"""The callback protocol as Keras 3 runs it: which hooks fit / evaluate / predict call, in which
order, with which batch or epoch index and which logs (a dict in every hook; the validation pass
inside fit fires the test hooks; predict fires the predict batch hooks, with the batch's outputs).

The same small model and data run in Keras 3 (torch backend) and in bigcore with the same
weights; a recording callback writes down every call, and the two records must agree: hook
names, indices, log keys and log values.
"""

import numpy as np
import pytest

import bigcore

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

HOOKS_NO_INDEX = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                  "on_predict_end")
HOOKS_INDEX = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
               "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "detach"):  # a torch tensor (Keras's predict outputs are numpy already)
        value = value.detach().cpu().numpy()
    return np.array(value, np.float64) if isinstance(value, np.ndarray) else float(value)


def recorder(base):
    """A Callback subclass of `base` that records (hook, index or None, logs as plain values)."""
    def make(name, indexed):
        if indexed:
            def hook(self, index, logs=None):
                self.calls.append((name, index, self.snapshot(logs)))
        else:
            def hook(self, logs=None):
                self.calls.append((name, None, self.snapshot(logs)))
        return hook

    methods = {name: make(name, False) for name in HOOKS_NO_INDEX}
    methods.update({name: make(name, True) for name in HOOKS_INDEX})

    def __init__(self):
        base.__init__(self)
        self.calls = []

    def snapshot(self, logs):
        if not isinstance(logs, dict):
            return ("not a dict", type(logs).__name__)
        return {k: _plain(v) for k, v in logs.items()}

    return type("Recorder", (base,), {"__init__": __init__, "snapshot": snapshot, **methods})


def build(api, outputs=1):
    x = api.Input((3,), name="x")
    hidden = api.layers.Dense(4, activation="tanh", name="hidden")(x)
    outs = [api.layers.Dense(2, name=f"out{i}")(hidden) for i in range(outputs)]
    model = api.Model(x, outs[0] if outputs == 1 else outs)
    model.compile(optimizer=api.optimizers.SGD(0.05), loss="mse", metrics=["mae"] if outputs == 1 else None)
    return model


def data(n=10, outputs=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    ys = [rng.standard_normal((n, 2)).astype(np.float32) for _ in range(outputs)]
    return x, ys[0] if outputs == 1 else ys


def stopper(base, at_batch):
    """A `base` callback that sets model.stop_training at train batch `at_batch`."""
    class Stop(base):
        def on_train_batch_end(self, batch, logs=None):
            if batch == at_batch:
                self.model.stop_training = True
    return Stop()


SCENARIOS = {
    "fit_validation_data": lambda m, x, y, cb: m.fit(x, y, batch_size=4, epochs=3, shuffle=False, callbacks=[cb],
                                                      validation_data=(x[:6], y[:6]), validation_freq=2, verbose=0),
    "fit_validation_split": lambda m, x, y, cb: m.fit(x, y, batch_size=3, epochs=2, shuffle=False, callbacks=[cb],
                                                       validation_split=0.3, verbose=0),
    # one epoch: with arrays Keras 3 goes on through the data in the next epoch rather than starting
    # over (bigcore starts over); the hooks of one epoch are what this compares
    "fit_steps_per_epoch": lambda m, x, y, cb: m.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[cb],
                                                      steps_per_epoch=2, validation_data=(x, y),
                                                      validation_steps=2, verbose=0),
    # a callback sets model.stop_training in epoch 0's second batch: the batch loop stops there,
    # the validation pass and on_epoch_end still run, then fit ends
    "fit_stop_training": lambda m, x, y, cb: m.fit(x, y, batch_size=3, epochs=3, shuffle=False,
                                                    callbacks=[cb, stopper(type(cb).__bases__[0], 1)],
                                                    validation_data=(x[:6], y[:6]), verbose=0),
    "evaluate": lambda m, x, y, cb: m.evaluate(x, y, batch_size=4, callbacks=[cb], verbose=0),
    "predict": lambda m, x, y, cb: m.predict(x, batch_size=4, callbacks=[cb], verbose=0),
}


def record(api, callback_base, scenario, weights, outputs=1):
    model = build(api, outputs)
    model.set_weights(weights)
    x, y = data(outputs=outputs)
    cb = recorder(callback_base)()
    SCENARIOS[scenario](model, x, y, cb)
    assert cb.model is model
    return cb.calls, dict(cb.params)


def assert_same_calls(got, want):
    assert [(h, i) for h, i, _ in got] == [(h, i) for h, i, _ in want]
    for (hook, index, g), (_, _, w) in zip(got, want):
        where = f"{hook}({index})"
        assert isinstance(g, dict), f"{where}: logs {g}"
        assert sorted(g) == sorted(w), f"{where}: log keys {sorted(g)} != {sorted(w)}"
        for key in w:
            a, b = g[key], w[key]
            if isinstance(b, list):
                assert len(a) == len(b)
                for u, v in zip(a, b):
                    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")
            else:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_hooks_order_indices_and_logs_match_keras(keras, scenario):
    weights = [w for w in build(bigcore).get_weights()]
    rng = np.random.default_rng(1)
    weights = [(0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in weights]
    got, got_params = record(bigcore, bigcore.callbacks.Callback, scenario, weights)
    want, want_params = record(keras, keras.callbacks.Callback, scenario, weights)
    assert_same_calls(got, want)
    assert got_params == want_params  # set_params: verbose, epochs, steps


def test_predict_batch_outputs_of_a_two_output_model_match_keras(keras):
    weights = [(0.5 * np.random.default_rng(2).standard_normal(w.shape)).astype(np.float32)
               for w in build(bigcore, outputs=2).get_weights()]
    got, _ = record(bigcore, bigcore.callbacks.Callback, "predict", weights, outputs=2)
    want, _ = record(keras, keras.callbacks.Callback, "predict", weights, outputs=2)
    assert_same_calls(got, want)


def test_every_hook_gets_a_dict_and_validation_runs_the_test_hooks():
    """Without Keras: the protocol's shape (what the Keras guide's callbacks rely on)."""
    model = build(bigcore)
    x, y = data()
    cb = recorder(bigcore.callbacks.Callback)()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, validation_data=(x[:6], y[:6]), callbacks=[cb], verbose=0)
    model.predict(x, batch_size=4, callbacks=[cb], verbose=0)
    assert all(isinstance(logs, dict) for _, _, logs in cb.calls)
    names = [h for h, _, _ in cb.calls]
    assert names == (["on_train_begin", "on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 3
                     + ["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"] * 2 + ["on_test_end",
                     "on_epoch_end", "on_train_end", "on_predict_begin"]
                     + ["on_predict_batch_begin", "on_predict_batch_end"] * 3 + ["on_predict_end"])
    test_end = next(logs for h, _, logs in cb.calls if h == "on_test_end")
    epoch_end = next(logs for h, _, logs in cb.calls if h == "on_epoch_end")
    assert test_end == {"loss": epoch_end["val_loss"], "mae": epoch_end["val_mae"]}
    batch_outputs = [logs["outputs"] for h, _, logs in cb.calls if h == "on_predict_batch_end"]
    assert [len(o) for o in batch_outputs] == [4, 4, 2]
