"""Keras 3's optimizer EMA (use_ema, ema_momentum, ema_overwrite_frequency) and SwapEMAWeights: the
same weights as Keras 3 after fit (the native EMA step before the constraints, the overwrite every N
steps, finalize at fit's end), the same val_loss with SwapEMAWeights, the averages saved with the
optimizer (exact resume from .bigcore and BackupAndRestore, .keras both ways), and misuse refused."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers, saving
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's own, from its fit internals

RNG = np.random.default_rng(11)
X = RNG.normal(size=(40, 5)).astype(np.float32)
Y = RNG.normal(size=(40, 2)).astype(np.float32)
XV = RNG.normal(size=(16, 5)).astype(np.float32)
YV = RNG.normal(size=(16, 2)).astype(np.float32)

# The same constructor on bigcore.optimizers and keras.optimizers
OPTS = {
    "adam": lambda o: o.Adam(learning_rate=0.05, use_ema=True, ema_momentum=0.9),
    "sgd_overwrite_3": lambda o: o.SGD(learning_rate=0.1, momentum=0.5, use_ema=True, ema_momentum=0.8,
                                       ema_overwrite_frequency=3),
}


def _model(lib, make_opt):
    """5 -> 8 (tanh, a MaxNorm that binds: the EMA must read the weights before it) -> 2, MSE."""
    model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(8, activation="tanh",
                                                              kernel_constraint=lib.constraints.MaxNorm(0.4)),
                            lib.layers.Dense(2)])
    model.compile(optimizer=make_opt(lib.optimizers), loss="mse")
    return model


def _pair(keras, make_opt):
    bigcore.utils.set_random_seed(3)
    ours = _model(bigcore, make_opt)
    theirs = _model(keras, make_opt)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _keras_weights(model):
    return [w.value.detach().cpu().numpy().copy() for w in model.weights]  # numpy() shares the tensor's memory


def _averages(model):
    """Our EMA slot, one array per trainable weight."""
    program = model._native()
    offsets = {id(w): off for w, off in program.weights}
    avg = np.array(program.native.opt_slot(model.optimizer.slots - 1))
    return [avg[offsets[id(w)]:offsets[id(w)] + int(np.prod(w.shape))].reshape(w.shape)
            for w in model.trainable_weights]


def _close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-4)


class _LastEpochWeights:
    """Callback factory: the weights at the last epoch's end, before fit's finalize."""

    def __init__(self, base, read):
        self.seen = []
        outer = self

        class Grab(base):
            def on_epoch_end(self, epoch, logs=None):
                outer.seen = read(self.model)

        self.callback = Grab()


@pytest.mark.parametrize("make_opt", OPTS.values(), ids=OPTS.keys())
def test_fit_matches_keras_before_and_after_finalize(keras, make_opt):
    ours, theirs = _pair(keras, make_opt)
    grab_ours = _LastEpochWeights(bigcore.callbacks.Callback, lambda m: [w.copy() for w in m.get_weights()])
    grab_theirs = _LastEpochWeights(keras.callbacks.Callback, _keras_weights)
    ours.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[grab_ours.callback])
    theirs.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[grab_theirs.callback])
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 15
    _close(grab_ours.seen, grab_theirs.seen)  # the trained weights (and, with N = 3, the overwrites)
    _close(ours.get_weights(), _keras_weights(theirs))  # after finalize: the averages
    _close(_averages(ours), [v.value.detach().cpu().numpy() for v in theirs.optimizer._model_variables_moving_average])
    assert not np.allclose(grab_ours.seen[0], ours.get_weights()[0])  # finalize changed something


@pytest.mark.parametrize("swap_on_epoch", [False, True], ids=["swap_on_test", "swap_on_epoch"])
def test_swap_ema_weights_matches_keras(keras, swap_on_epoch):
    make_opt = OPTS["adam"]
    ours, theirs = _pair(keras, make_opt)
    h_ours = ours.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(XV, YV),
                      callbacks=[bigcore.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)])
    h_theirs = theirs.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(XV, YV),
                          callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)])
    np.testing.assert_allclose(h_ours.history["val_loss"], h_theirs.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-5)
    _close(ours.get_weights(), _keras_weights(theirs))
    _close(_averages(ours), [v.value.detach().cpu().numpy() for v in theirs.optimizer._model_variables_moving_average])

    # the control: without the callback the validation runs on the trained weights, not the averages
    plain, _ = _pair(keras, make_opt)
    h_plain = plain.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_data=(XV, YV))
    assert h_plain.history["val_loss"] != pytest.approx(h_ours.history["val_loss"], rel=1e-4)


def test_swap_is_its_own_inverse_and_evaluate_uses_the_averages(keras):
    ours, _ = _pair(keras, OPTS["adam"])
    ours.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    ours.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # weights (averaged at the end) move on
    before, avg = ours.get_weights(), _averages(ours)
    ema_loss = ours.evaluate(XV, YV, verbose=0, callbacks=[bigcore.callbacks.SwapEMAWeights()])
    assert [np.array_equal(a, b) for a, b in zip(ours.get_weights(), before)] == [True] * 4
    ours.optimizer.swap_ema_weights()
    assert ours.evaluate(XV, YV, verbose=0) == ema_loss
    for a, b in zip(ours.trainable_weights, avg):
        np.testing.assert_array_equal(a.numpy(), b)
    ours.optimizer.swap_ema_weights()
    for a, b in zip(ours.get_weights(), before):
        np.testing.assert_array_equal(a, b)


# --- saving and exact resume ------------------------------------------------------------------------

def _dropout_model(seed=4):
    bigcore.utils.set_random_seed(seed)
    model = bigcore.Sequential([bigcore.Input((5,)), layers.Dense(12, activation="relu"), layers.Dropout(0.3),
                                layers.Dense(2)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.02, use_ema=True, ema_momentum=0.7,
                                            ema_overwrite_frequency=4), loss="mse")
    return model


def test_resume_from_a_saved_model_is_bit_identical(tmp_path):
    straight = _dropout_model()
    straight.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    straight.fit(X, Y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)

    first = _dropout_model()
    first.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    saving.save_model(first, tmp_path / "m.bigcore")
    del first
    _dropout_model(seed=99)  # another process: other weights, other stream counter
    resumed = saving.load_model(tmp_path / "m.bigcore")
    assert resumed.optimizer.get_config()["use_ema"] and resumed.optimizer.ema_overwrite_frequency == 4
    resumed.fit(X, Y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_averages(resumed), _averages(straight), strict=True):
        np.testing.assert_array_equal(a, b)


class _Interrupt(Exception):
    pass


class _StopAtEpoch(bigcore.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise _Interrupt


def test_backup_and_restore_resumes_bit_identically(tmp_path):
    """An interrupted fit, resumed from BackupAndRestore's backup, ends with the same bits: the
    averages come back with the optimizer (a fresh EMA slot would end elsewhere)."""
    straight = _dropout_model()
    straight.fit(X, Y, epochs=4, batch_size=8, verbose=0)
    model = _dropout_model()
    with pytest.raises(_Interrupt):
        model.fit(X, Y, epochs=4, batch_size=8, verbose=0,
                  callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path / "b"), _StopAtEpoch()])
    resumed = _dropout_model(seed=99)
    resumed.fit(X, Y, epochs=4, batch_size=8, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path / "b")])
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_keras_file_with_ema_loads_and_trains_on(keras, tmp_path):
    pytest.importorskip("h5py")
    make_opt = OPTS["sgd_overwrite_3"]
    _, theirs = _pair(keras, make_opt)
    theirs.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    assert ours.optimizer.use_ema and ours.optimizer.ema_overwrite_frequency == 3
    assert ours.optimizer.iterations == 5
    k_avg = [v.value.detach().cpu().numpy() for v in theirs.optimizer._model_variables_moving_average]
    for a, b in zip(_averages(ours), k_avg, strict=True):
        np.testing.assert_array_equal(a, b)
    ours.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)  # overwrites at steps 6 and 9, finalize
    theirs.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    _close(ours.get_weights(), _keras_weights(theirs))

    ours.save(tmp_path / "ours.keras")  # and back: Keras reads our averages in its order
    again = keras.models.load_model(tmp_path / "ours.keras")
    for a, b in zip([v.value.detach().cpu().numpy() for v in again.optimizer._model_variables_moving_average],
                    _averages(ours), strict=True):
        np.testing.assert_array_equal(a, b)


# --- configuration and misuse -----------------------------------------------------------------------

def test_config_matches_keras_and_round_trips(keras):
    for make_opt in OPTS.values():
        mine, theirs = make_opt(optimizers).get_config(), make_opt(keras.optimizers).get_config()
        for key in ("use_ema", "ema_momentum", "ema_overwrite_frequency"):
            assert mine[key] == theirs[key], key
        again = optimizers.deserialize({"class_name": type(make_opt(optimizers)).__name__, "config": theirs})
        assert again.use_ema and again.ema_momentum == mine["ema_momentum"]
        assert again.slots == type(again).slots + 1
    assert optimizers.Adam().get_config()["use_ema"] is False


@pytest.mark.parametrize("kw, match", [
    ({"ema_momentum": 1.5}, r"`ema_momentum` must be in the range \[0, 1\]. Received: ema_momentum=1\.5"),
    ({"ema_momentum": -0.1}, r"`ema_momentum` must be in the range \[0, 1\]"),
    ({"ema_momentum": "high"}, r"ema_momentum.*number"),
    ({"ema_overwrite_frequency": -2}, r"`ema_overwrite_frequency` must be an integer >= 1 or None. Received: .*=-2"),
    ({"ema_overwrite_frequency": 2.5}, r"`ema_overwrite_frequency` must be an integer >= 1"),
    ({"ema_overwrite_frequency": True}, r"`ema_overwrite_frequency` must be an integer >= 1"),
], ids=["momentum_above_1", "momentum_negative", "momentum_string", "frequency_negative", "frequency_float",
        "frequency_bool"])
def test_bad_ema_arguments_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        optimizers.SGD(use_ema=True, **kw)
    opt = optimizers.SGD(use_ema=True)
    with pytest.raises(ValueError, match=match):  # a later set is checked too
        setattr(opt, *next(iter(kw.items())))


def test_ema_misuse():
    # as in Keras, the EMA settings are not read (nor checked) with use_ema off
    assert optimizers.SGD(use_ema=False, ema_momentum=5.0).slots == optimizers.SGD.slots
    opt = optimizers.SGD(use_ema=True)
    with pytest.raises(ValueError, match="use_ema.*fixed when the optimizer is made"):
        opt.use_ema = False
    with pytest.raises(ValueError, match="compile a model with it first"):
        opt.swap_ema_weights()
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be an integer >= 2"):
        optimizers.SGD(use_ema=True, gradient_accumulation_steps=1)
    plain = _model(bigcore, lambda o: o.SGD())
    plain.optimizer.finalize_variable_values(plain.trainable_weights)  # use_ema off: nothing to do
    with pytest.raises(ValueError, match=r"SwapEMAWeights must be used when `use_ema=True`.*use_ema=False"):
        plain.fit(X, Y, epochs=1, batch_size=8, verbose=0, validation_data=(XV, YV),
                  callbacks=[bigcore.callbacks.SwapEMAWeights()])
