"""ModelCheckpoint, ReduceLROnPlateau and TensorBoard, on real fits and on scripted logs."""

import glob
import os
import struct
import sys

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers, saving
from bigcore.callbacks import Callback, CallbackList, LambdaCallback, ModelCheckpoint, ReduceLROnPlateau, TensorBoard

RNG = np.random.default_rng(7)
X = RNG.normal(size=(96, 8)).astype(np.float32)
Y = RNG.integers(0, 3, 96)
XV = RNG.normal(size=(32, 8)).astype(np.float32)
YV = RNG.integers(0, 3, 32)


def mlp(lr=0.01):
    model = bigcore.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                                layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Script(Callback):
    """Overwrites logs[key] at each epoch end with the next scripted value (the fit loop hands one
    logs dict to every callback, so callbacks listed after this one see the scripted value)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightLog(Callback):
    """The model's weights at each epoch end (and at each batch end, by global batch count)."""

    def __init__(self):
        super().__init__()
        self.epochs, self.batches = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.model.get_weights())


def assert_weights(model, expected):
    got = model.get_weights()
    assert len(got) == len(expected)
    for u, v in zip(got, expected):
        np.testing.assert_array_equal(u, v)


# --- ModelCheckpoint -----------------------------------------------------------------------------------

def test_checkpoint_every_epoch_with_templated_names(tmp_path, seed):
    model = mlp()
    log = WeightLog()
    template = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.2f}.bigcore")  # the folder is created
    history = model.fit(X, Y, epochs=3, batch_size=16, validation_data=(XV, YV), verbose=0,
                        callbacks=[log, ModelCheckpoint(template)])
    names = [f"m-{e + 1:02d}-{v:.2f}.bigcore" for e, v in enumerate(history.history["val_loss"])]
    assert sorted(os.listdir(tmp_path / "ckpt")) == sorted(set(names))
    for epoch, name in enumerate(names):
        loaded = saving.load_model(tmp_path / "ckpt" / name)
        assert_weights(loaded, log.epochs[epoch])
        assert loaded.optimizer.iterations == 6 * (epoch + 1)
    np.testing.assert_array_equal(loaded.predict(XV, verbose=0), model.predict(XV, verbose=0))
    assert loaded.evaluate(XV, YV, verbose=0) == model.evaluate(XV, YV, verbose=0)


@pytest.mark.parametrize("script,threshold,saved_epochs", [
    ([3.0, 2.0, 2.5, 1.0], None, [1, 2, 4]),
    ([3.0, 2.0, 2.5, 1.0], 2.2, [2, 4]),
    ([1.0, 2.0, 3.0, 4.0], None, [1]),
    ([2.0, 2.0, 2.0, 2.0], None, [1]),  # equal is not better
    ([np.nan, 2.0, 1.0, 3.0], 5.0, [2, 3]),
])
def test_checkpoint_save_best_only_saves_only_improvements(tmp_path, seed, script, threshold, saved_epochs):
    model = mlp()
    log = WeightLog()
    ckpt = ModelCheckpoint(str(tmp_path / "best-{epoch}.bigcore"), save_best_only=True,
                           initial_value_threshold=threshold)
    single = ModelCheckpoint(str(tmp_path / "best.bigcore"), save_best_only=True, initial_value_threshold=threshold)
    model.fit(X, Y, epochs=4, batch_size=32, verbose=0, callbacks=[Script("val_loss", script), log, ckpt, single])
    assert sorted(os.listdir(tmp_path)) == sorted([f"best-{e}.bigcore" for e in saved_epochs] + ["best.bigcore"])
    for e in saved_epochs:
        assert_weights(saving.load_model(tmp_path / f"best-{e}.bigcore"), log.epochs[e - 1])
    assert_weights(saving.load_model(tmp_path / "best.bigcore"), log.epochs[saved_epochs[-1] - 1])
    assert ckpt.best == script[saved_epochs[-1] - 1]


def test_checkpoint_mode_max_auto_direction_and_verbose(tmp_path, seed, capsys):
    model = mlp()
    accs = [0.5, 0.7, 0.6, 0.8]
    for mode in ("max", "auto"):  # auto: accuracy goes up
        ckpt = ModelCheckpoint(str(tmp_path / f"{mode}-{{epoch}}.bigcore"), monitor="val_accuracy",
                               mode=mode, save_best_only=True, verbose=1)
        model.fit(X, Y, epochs=4, batch_size=32, verbose=0, callbacks=[Script("val_accuracy", accs), ckpt])
    assert sorted(os.listdir(tmp_path)) == sorted(f"{m}-{e}.bigcore" for m in ("max", "auto") for e in (1, 2, 4))
    out = capsys.readouterr().out
    assert "Epoch 2: val_accuracy improved from 0.50000 to 0.70000, saving model to" in out
    assert "Epoch 3: val_accuracy did not improve from 0.70000" in out
    ckpt = ModelCheckpoint(str(tmp_path / "min.bigcore"), monitor="val_accuracy", mode="min", save_best_only=True)
    model.fit(X, Y, epochs=4, batch_size=32, verbose=0, callbacks=[Script("val_accuracy", accs), ckpt])
    assert ckpt.best == 0.5


def test_checkpoint_weights_only_every_n_batches(tmp_path, seed):
    model = mlp()
    log = WeightLog()
    ckpt = ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}.weights.safetensors"), save_weights_only=True,
                           save_freq=4)
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[log, ckpt])  # 6 batches an epoch
    # Keras counts batches across epochs: saves after global batches 4, 8 and 12
    expected = {"w-1-4.weights.safetensors": 3, "w-2-2.weights.safetensors": 7, "w-2-6.weights.safetensors": 11}
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    for name, index in expected.items():
        fresh = mlp()
        saving.load_weights(fresh, tmp_path / name)
        assert_weights(fresh, log.batches[index])


def test_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.bigcore` or `\.keras` or `\.h5` or `\.hdf5`"):
        ModelCheckpoint(str(tmp_path / "m.safetensors"))
    with pytest.raises(ValueError, match=r"must end in `\.weights\.safetensors` or `\.weights\.h5`"):
        ModelCheckpoint(str(tmp_path / "m.bigcore"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.safetensors`"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "m.bigcore"), save_freq="sometimes")
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "m.bigcore"), save_freq=0)
    with pytest.warns(UserWarning, match="unknown"):
        assert ModelCheckpoint(str(tmp_path / "m.bigcore"), mode="best").mode == "auto"


def test_checkpoint_bad_template_missing_monitor_and_directory(tmp_path, seed):
    model = mlp()
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.bigcore"))])
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(str(tmp_path / "m.bigcore"), save_best_only=True)])
    assert os.listdir(tmp_path) == []
    (tmp_path / "d.bigcore").mkdir()
    with pytest.raises(OSError, match="non-directory"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "d.bigcore"))])


def test_checkpoint_then_resume_matches_an_uninterrupted_run(tmp_path):
    bigcore.utils.set_random_seed(3)
    straight = mlp()
    straight.fit(X, Y, epochs=4, batch_size=16, verbose=0)
    bigcore.utils.set_random_seed(3)
    first = mlp()
    first.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[
        ModelCheckpoint(str(tmp_path / "e{epoch}.bigcore")),
        LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(first, "stop_training", epoch == 1))])
    assert sorted(os.listdir(tmp_path)) == ["e1.bigcore", "e2.bigcore"]
    resumed = saving.load_model(tmp_path / "e2.bigcore")
    resumed.fit(X, Y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    assert_weights(resumed, straight.get_weights())


# --- ReduceLROnPlateau ----------------------------------------------------------------------------------

class FakeOptimizer:
    def __init__(self, learning_rate=1.0):
        self.learning_rate = learning_rate
        self.iterations = 0


class FakeModel:
    def __init__(self, learning_rate=1.0):
        self.optimizer = FakeOptimizer(learning_rate)
        self.stop_training = False


def drive(callback, values, key="val_loss", model=None):
    """Epoch ends with scripted logs; returns (learning rate after each epoch, the logs)."""
    model = model or FakeModel()
    cl = CallbackList([callback], model=model)
    cl.on_train_begin()
    rates, all_logs = [], []
    for epoch, v in enumerate(values):
        logs = {"loss": 1.0, key: v}
        cl.on_epoch_end(epoch, logs)
        rates.append(model.optimizer.learning_rate)
        all_logs.append(logs)
    cl.on_train_end()
    return rates, all_logs


@pytest.mark.parametrize("kwargs,values,rates", [
    (dict(patience=2, factor=0.5), [1] * 6, [1, 1, 0.5, 0.5, 0.25, 0.25]),
    (dict(patience=0, factor=0.5), [1] * 3, [1, 0.5, 0.25]),  # the first value is an improvement
    (dict(patience=2, factor=0.5), [1, 1, 0.5, 0.5, 0.5], [1, 1, 1, 1, 0.5]),  # an improvement resets the wait
    (dict(patience=2, factor=0.5, cooldown=2), [1] * 8, [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]),
    (dict(patience=1, factor=0.5, min_lr=0.3), [1] * 5, [1, 0.5, 0.3, 0.3, 0.3]),
    (dict(patience=1, factor=0.5, min_delta=1e-3), [1, 0.9999, 0.9998, 0.9997], [1, 0.5, 0.25, 0.125]),
    (dict(patience=1, factor=0.5, min_delta=0.0), [1, 0.9999, 0.9998, 0.9997], [1, 1, 1, 1]),
])
def test_reduce_lr_on_plateau_schedule(kwargs, values, rates):
    got, logs = drive(ReduceLROnPlateau(**kwargs), values)
    assert got == pytest.approx(rates, rel=1e-12)
    # each epoch logs the rate it trained with, as Keras does
    assert [l["learning_rate"] for l in logs] == pytest.approx([1.0] + rates[:-1], rel=1e-12)


def test_reduce_lr_on_plateau_directions():
    up = [0.5, 0.6, 0.6, 0.6]
    assert drive(ReduceLROnPlateau(monitor="val_accuracy", patience=1, factor=0.5), up, "val_accuracy")[0] == \
        [1, 1, 0.5, 0.25]
    assert drive(ReduceLROnPlateau(monitor="val_accuracy", patience=1, factor=0.5, mode="min"), up,
                 "val_accuracy")[0] == [1, 0.5, 0.25, 0.125]
    with pytest.raises(ValueError, match="mode='min' or mode='max'"):
        drive(ReduceLROnPlateau(monitor="val_score"), up, "val_score")


def test_reduce_lr_on_plateau_errors_and_missing_monitor():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(TypeError, match="Unrecognized"):
        ReduceLROnPlateau(epsilon=1e-4)
    with pytest.warns(UserWarning, match="fallback to auto"):
        assert ReduceLROnPlateau(mode="lowest").mode == "auto"
    with pytest.warns(UserWarning, match="conditioned on metric `val_loss` which is not available"):
        rates, _ = drive(ReduceLROnPlateau(patience=0), [1, 1], key="loss_only")
    assert rates == [1, 1]

    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    with pytest.raises(TypeError, match="ExponentialDecay.*learning rate is not settable"):
        drive(ReduceLROnPlateau(), [1], model=type("M", (), {"optimizer": FakeOptimizer(schedule)})())


def test_reduce_lr_on_plateau_in_a_real_fit(seed):
    model = mlp(lr=0.01)
    seen = []
    record = LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    history = model.fit(X, Y, epochs=5, batch_size=32, verbose=0, callbacks=[
        record, Script("val_loss", [1.0] * 5), ReduceLROnPlateau(patience=1, factor=0.5, min_lr=0.002)])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.002])
    assert seen == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.002])  # what the native step was handed
    assert model.optimizer.learning_rate == 0.002


# --- TensorBoard --------------------------------------------------------------------------------------

def read_events(directory):
    """{tag: [(step, value)]} from the TFRecord event files in `directory` (scalars and text)."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    out = {}
    files = sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*")))
    assert files, f"no event file in {directory}"
    for name in files:
        with open(name, "rb") as f:
            data = f.read()
        off = 0
        while off < len(data):
            (n,) = struct.unpack("<Q", data[off:off + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[off + 12:off + 12 + n])
            off += 12 + n + 4
            for v in event.summary.value:
                kind = v.WhichOneof("value")
                value = v.simple_value if kind == "simple_value" else (
                    v.tensor.string_val[0].decode() if kind == "tensor" else kind)
                out.setdefault(v.tag, []).append((event.step, value))
    return out


def test_tensorboard_writes_epoch_and_batch_scalars(tmp_path, seed):
    pytest.importorskip("tensorboardX")
    model = mlp()
    tb = TensorBoard(log_dir=str(tmp_path / "logs"), update_freq=2, histogram_freq=2)
    history = model.fit(X, Y, epochs=3, batch_size=16, validation_data=(XV, YV), verbose=0, callbacks=[tb])
    h = history.history
    train = read_events(tmp_path / "logs" / "train")
    val = read_events(tmp_path / "logs" / "validation")
    f32 = lambda values: [float(np.float32(v)) for v in values]  # noqa: E731  (event files hold float32)
    assert train["epoch_loss"] == list(enumerate(f32(h["loss"])))
    assert train["epoch_accuracy"] == list(enumerate(f32(h["accuracy"])))
    assert train["epoch_learning_rate"] == list(enumerate(f32([0.01] * 3)))
    assert val["epoch_loss"] == list(enumerate(f32(h["val_loss"])))
    assert val["epoch_accuracy"] == list(enumerate(f32(h["val_accuracy"])))
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == [6, 12, 18]
    assert [s for s, _ in train["batch_loss"]] == list(range(2, 19, 2))  # every 2nd of 18 batches
    assert train["batch_loss"][-1][1] == f32([h["loss"][-1]])[0]  # the last batch's running mean
    assert "epoch_val_loss" not in train and not any(t.startswith("batch_") for t in val)
    kernel = model.weights[0].path  # "dense_<n>/kernel": the histogram is tagged with the path
    assert model.weights[0].name == "kernel"
    assert [s for s, _ in train[kernel]] == [0, 2] and train[kernel][0][1] == "histo"


def test_tensorboard_epoch_only_graph_text_and_second_fit(tmp_path, seed):
    pytest.importorskip("tensorboardX")
    model = mlp()
    tb = TensorBoard(log_dir=str(tmp_path), write_graph=True)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[tb])
    train = read_events(tmp_path / "train")
    assert not any(t.startswith("batch_") for t in train)
    assert len(train["epoch_loss"]) == 2
    text = train["keras/text_summary"][0][1]
    assert '"class_name": "Sequential"' in text and model.layers[0].name in text
    assert read_events(tmp_path / "validation") == {}  # an event file with no scalars: nothing was validated
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[tb])  # a second fit writes a second event file
    assert len(read_events(tmp_path / "train")["epoch_loss"]) == 3


def test_tensorboard_batch_freq_and_argument_errors(tmp_path):
    pytest.importorskip("tensorboardX")
    tb = TensorBoard(log_dir=str(tmp_path), update_freq="batch")
    assert tb.update_freq == 1
    for kwargs in (dict(update_freq=0), dict(update_freq="step"), dict(histogram_freq=-1),
                   dict(profile_batch=5), dict(embeddings_freq=1), dict(write_images=True)):
        with pytest.raises(ValueError):
            TensorBoard(log_dir=str(tmp_path), **kwargs)


def test_tensorboard_without_tensorboardx_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # `import tensorboardX` now fails
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        TensorBoard()


def test_tensorboard_logs_the_scheduled_learning_rate(tmp_path, seed):
    pytest.importorskip("tensorboardX")
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    model = mlp()
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule), loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=2, batch_size=32, verbose=0, callbacks=[TensorBoard(log_dir=str(tmp_path))])
    rates = read_events(tmp_path / "train")["epoch_learning_rate"]
    assert rates == [(0, float(np.float32(schedule(3)))), (1, float(np.float32(schedule(6))))]
