"""Model files: round trips, bit-identical resume, atomic writes, and files that lie or attack.

The functions are called from bigcore.saving directly (Model.save / load_weights / to_json are
thin aliases of them).
"""

import json
import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile

import numpy as np
import pytest
import safetensors.numpy

import bigcore
from bigcore import layers, losses, metrics, optimizers, saving
from bigcore.saving import archive, model_state

RNG = np.random.default_rng(1234)
X8 = RNG.normal(size=(96, 8)).astype(np.float32)
Y3 = RNG.integers(0, 3, 96)
TOKENS = RNG.integers(0, 40, size=(64, 10)).astype(np.float32)
TOKENS[::3, :4] = 0  # masked padding
YBIN = RNG.integers(0, 2, size=(64, 1)).astype(np.float32)
XA = RNG.normal(size=(48, 7)).astype(np.float32)
XB = RNG.normal(size=(48, 7)).astype(np.float32)
YCLS = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 48)]
YREG = RNG.normal(size=(48, 1)).astype(np.float32)


# --- models --------------------------------------------------------------------------------------

def mlp(optimizer="adam"):
    model = bigcore.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.25),
                                layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def lstm_model():
    model = bigcore.Sequential([layers.Input((10,)), layers.Embedding(40, 8, mask_zero=True),
                                layers.LSTM(6, dropout=0.2, recurrent_dropout=0.1, return_sequences=True),
                                layers.GRU(5, dropout=0.1), layers.Dropout(0.3),
                                layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def bidirectional_model():
    inp = layers.Input((10,))
    x = layers.Embedding(40, 8, mask_zero=True)(inp)
    x = layers.Bidirectional(layers.LSTM(6, dropout=0.2, return_sequences=True))(x)
    x = layers.Bidirectional(layers.GRU(4), merge_mode="sum")(x)
    out = layers.Dense(1, activation="sigmoid")(x)
    model = bigcore.Model(inp, out)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01, amsgrad=True),
                  loss=losses.BinaryCrossentropy(label_smoothing=0.1), metrics=[metrics.BinaryAccuracy(threshold=0.4)])
    return model


def multi_io_model():
    a, b = layers.Input((7,), name="a"), layers.Input((7,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    merged = layers.Concatenate()([sa, sb])
    cls = layers.Dense(4, activation="softmax", name="cls")(layers.Dropout(0.2)(merged))
    reg = layers.Dense(1, name="reg")(layers.Add()([sa, sb]))
    model = bigcore.Model([a, b], [cls, reg])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
                  loss={"cls": "categorical_crossentropy", "reg": losses.MeanSquaredError()},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    return model


DATA = {mlp: (X8, Y3), lstm_model: (TOKENS, YBIN), bidirectional_model: (TOKENS, YBIN),
        multi_io_model: ([XA, XB], [YCLS, YREG])}


def outputs(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


def slots(model):
    native = model._program.native
    return [np.array(native.opt_slot(i)) for i in range(model.optimizer.slots)]


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        np.testing.assert_array_equal(u, v)


def saved(tmp_path, model, name="m.bigcore"):
    path = tmp_path / name
    saving.save_model(model, path)
    return path


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [mlp, lstm_model, bidirectional_model, multi_io_model],
                         ids=lambda f: f.__name__)
def test_round_trip_predicts_evaluates_and_keeps_compile_state(tmp_path, seed, build):
    model = build()
    x, y = DATA[build]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = saved(tmp_path, model)
    bigcore.utils.set_random_seed(99)  # a different global state must not matter
    loaded = saving.load_model(path)
    assert type(loaded) is type(model) and loaded.name == model.name
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert_same_weights(model, loaded)
    for p, q in zip(outputs(model, x), outputs(loaded, x)):
        np.testing.assert_array_equal(p, q)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.metrics_names == model.metrics_names
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    samples = len(y[0] if isinstance(y, list) else y)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 2 * math.ceil(samples / 16)
    for s, t in zip(slots(model), slots(loaded)):
        np.testing.assert_array_equal(s, t)
    assert any(np.any(s != 0) for s in slots(loaded))


def test_loss_and_metric_objects_survive(tmp_path, seed):
    model = bidirectional_model()
    model.fit(TOKENS, YBIN, epochs=1, verbose=0)
    loaded = saving.load_model(saved(tmp_path, model))
    loss = loaded._losses[0]
    assert isinstance(loss, losses.BinaryCrossentropy) and loss.label_smoothing == 0.1
    metric = loaded._metrics[0][1]
    assert isinstance(metric, metrics.BinaryAccuracy) and metric.threshold == 0.4
    assert loaded.optimizer.amsgrad is True and loaded.optimizer.learning_rate == 0.01


def test_compile_false_and_uncompiled_models(tmp_path, seed):
    model = mlp()
    model.fit(X8, Y3, epochs=1, verbose=0)
    loaded = saving.load_model(saved(tmp_path, model), compile=False)
    assert not loaded.compiled and loaded.optimizer is None
    np.testing.assert_array_equal(loaded.predict(X8, verbose=0), model.predict(X8, verbose=0))
    with pytest.raises(RuntimeError, match="compile"):
        loaded.evaluate(X8, Y3, verbose=0)

    plain = bigcore.Sequential([layers.Input((8,)), layers.Dense(2)])
    path = saved(tmp_path, plain, "plain.bigcore")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "model.weights.safetensors"]
        assert json.loads(zf.read("config.json"))["compile_config"] is None
    again = saving.load_model(path)
    assert not again.compiled
    np.testing.assert_array_equal(again.predict(X8, verbose=0), plain.predict(X8, verbose=0))


def test_model_built_after_compile_saves_its_optimizer_state(tmp_path, seed):
    model = bigcore.Sequential()
    model.compile(optimizer="adam", loss="mse")
    model.add(layers.Input((8,)))
    model.add(layers.Dense(2))
    assert model._program is None
    loaded = saving.load_model(saved(tmp_path, model))
    with zipfile.ZipFile(tmp_path / "m.bigcore") as zf:
        assert "optimizer.safetensors" in zf.namelist()
    assert loaded.compiled and all(not np.any(s) for s in slots(loaded))


def test_unbuilt_sequential_round_trips_and_trains(tmp_path, seed):
    model = bigcore.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loaded = saving.load_model(saved(tmp_path, model))
    assert loaded.compiled and loaded.weights == []
    loaded.fit(X8, Y3, epochs=1, verbose=0)
    assert loaded.predict(X8, verbose=0).shape == (96, 3)


def test_file_layout(tmp_path, seed):
    model = mlp()
    model.fit(X8, Y3, epochs=1, verbose=0)
    path = saved(tmp_path, model)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["config.json", "model.weights.safetensors", "optimizer.safetensors"]
        cfg = json.loads(zf.read("config.json"))
        weights = safetensors.numpy.load(zf.read("model.weights.safetensors"))
        opt = safetensors.numpy.load(zf.read("optimizer.safetensors"))
    assert cfg["format"] == "bigcore" and cfg["format_version"] == 1 and cfg["class_name"] == "Sequential"
    assert cfg["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert cfg["compile_config"]["optimizer"]["iterations"] == 3
    assert cfg["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    assert cfg["compile_config"]["metrics"] == ["accuracy"]
    dropout = model.layers[1]
    assert cfg["training_state"] == {"seed": 0, "shuffle_stream": model._shuffle_stream,
                                     "layer_streams": {dropout.name: dropout._stream}}
    assert sorted(weights) == ["%04d:%s" % (i, w.path) for i, w in enumerate(model.weights)]
    for (k, v), w in zip(sorted(weights.items()), model.weights):
        assert v.dtype == np.float32 and v.shape == w.shape
        np.testing.assert_array_equal(v, w.value)
    assert sorted(opt) == ["slot_0", "slot_1", "slot_2"]
    for i, s in enumerate(slots(model)):
        np.testing.assert_array_equal(opt[f"slot_{i}"], s)
    # the same model saves to the same bytes (fixed zip timestamps)
    saving.save_model(model, tmp_path / "again.bigcore")
    assert (tmp_path / "again.bigcore").read_bytes() == path.read_bytes()


def test_bidirectional_streams_are_saved_per_sublayer(tmp_path, seed):
    model = bidirectional_model()
    with zipfile.ZipFile(saved(tmp_path, model)) as zf:
        streams = json.loads(zf.read("config.json"))["training_state"]["layer_streams"]
    bi = model.layers[2]
    assert streams[f"{bi.name}/forward_layer"] == bi.forward_layer._stream
    assert streams[f"{bi.name}/backward_layer"] == bi.backward_layer._stream
    assert bi.forward_layer._stream != bi.backward_layer._stream


def test_custom_layer_needs_custom_objects(tmp_path, seed):
    class ScaledDense(layers.Dense):
        pass

    model = bigcore.Sequential([layers.Input((8,)), ScaledDense(3)])
    path = saved(tmp_path, model)
    with pytest.raises(ValueError, match="ScaledDense"):
        saving.load_model(path)
    loaded = saving.load_model(path, custom_objects={"ScaledDense": ScaledDense})
    assert type(loaded.layers[0]) is ScaledDense
    np.testing.assert_array_equal(loaded.predict(X8, verbose=0), model.predict(X8, verbose=0))
    with pytest.raises(ValueError):  # the registration was temporary
        layers.get_class("ScaledDense")


# --- resume ----------------------------------------------------------------------------------------

def _resume_pair(tmp_path, build, x, y, load=saving.load_model, recompile=None):
    bigcore.utils.set_random_seed(42)
    straight = build()
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0)

    bigcore.utils.set_random_seed(42)
    first = build()
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = saved(tmp_path, first)
    del first
    bigcore.utils.set_random_seed(7)  # another process: other seed, other stream counter
    build()
    resumed = load(path)
    if recompile:
        recompile(resumed)
    history = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    return straight, resumed, history


@pytest.mark.parametrize("build", [mlp, lstm_model, bidirectional_model, multi_io_model],
                         ids=lambda f: f.__name__)
def test_resume_after_save_is_bit_identical(tmp_path, build):
    x, y = DATA[build]
    straight, resumed, history = _resume_pair(tmp_path, build, x, y)
    assert_same_weights(straight, resumed)
    assert history.history["loss"] == straight.history.history["loss"][2:]
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    for s, t in zip(slots(straight), slots(resumed)):
        np.testing.assert_array_equal(s, t)


def test_resume_with_a_learning_rate_schedule_is_bit_identical(tmp_path):
    def build():
        schedule = optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
        return mlp(optimizer=optimizers.SGD(learning_rate=schedule, momentum=0.9))

    straight, resumed, _ = _resume_pair(tmp_path, build, X8, Y3)
    assert_same_weights(straight, resumed)
    lr = resumed.optimizer._learning_rate  # the schedule (learning_rate is its current value, as Keras)
    assert isinstance(lr, optimizers.schedules.ExponentialDecay) and lr.get_config() == \
        straight.optimizer._learning_rate.get_config()
    assert resumed.optimizer.learning_rate == straight.optimizer.learning_rate


def test_resume_without_optimizer_state_differs(tmp_path):
    """The control for the test above: dropping the optimizer state changes the result."""
    straight, resumed, _ = _resume_pair(
        tmp_path, mlp, X8, Y3, load=lambda p: saving.load_model(p, compile=False),
        recompile=lambda m: m.compile(optimizer="adam", loss="sparse_categorical_crossentropy"))
    assert any(not np.array_equal(u, v) for u, v in zip(straight.get_weights(), resumed.get_weights()))


def test_resume_without_random_streams_differs(tmp_path, monkeypatch):
    """...and so does losing the seed and dropout streams."""
    monkeypatch.setattr(model_state, "restore_training_state", lambda path, model, state: None)
    straight, resumed, _ = _resume_pair(tmp_path, mlp, X8, Y3)
    assert any(not np.array_equal(u, v) for u, v in zip(straight.get_weights(), resumed.get_weights()))


# --- atomic writes ----------------------------------------------------------------------------------

def _failing_write_zip(exc):
    real = archive.write_zip

    def write(f, members):
        real(f, members[:1])  # config.json reaches the disk, then the "disk" fails
        f.flush()
        raise exc

    return write


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["ENOSPC", "KeyboardInterrupt"])
def test_failed_save_leaves_previous_file_intact(tmp_path, seed, monkeypatch, exc):
    model = mlp()
    path = saved(tmp_path, model)
    before = path.read_bytes()
    model.fit(X8, Y3, epochs=1, verbose=0)  # new weights that the failed save must not half-write
    monkeypatch.setattr(archive, "write_zip", _failing_write_zip(exc))
    with pytest.raises(type(exc)):
        saving.save_model(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.bigcore"]  # the temporary file is gone too
    saving.load_model(path)
    monkeypatch.undo()
    saving.save_model(model, path)
    assert path.read_bytes() != before


def test_failed_save_weights_leaves_previous_file_intact(tmp_path, seed, monkeypatch):
    model = mlp()
    path = tmp_path / "m.weights.safetensors"
    saving.save_weights(model, path)
    before = path.read_bytes()
    model.fit(X8, Y3, epochs=1, verbose=0)

    def boom(path, write):
        real_atomic(path, lambda f: (f.write(b"partial"), (_ for _ in ()).throw(OSError("EIO"))))

    real_atomic = archive.atomic_write
    monkeypatch.setattr(archive, "atomic_write", boom)
    with pytest.raises(OSError, match="EIO"):
        saving.save_weights(model, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


def test_overwrite_false_and_suffixes(tmp_path, seed):
    model = mlp()
    path = saved(tmp_path, model)
    with pytest.raises(FileExistsError):
        saving.save_model(model, path, overwrite=False)
    # .keras and .weights.h5 are Keras's files (tests/test_keras_files.py); these are nobody's
    for bad in ("m.pkl", "m.zip", "m.bigcore.tmp"):
        with pytest.raises(ValueError, match=r"\.bigcore"):
            saving.save_model(model, tmp_path / bad)
    for bad in ("w.safetensors", "w.weights.npz"):
        with pytest.raises(ValueError, match=r"\.weights\.safetensors"):
            saving.save_weights(model, tmp_path / bad)
        with pytest.raises(ValueError, match=r"\.weights\.safetensors"):
            saving.load_weights(model, tmp_path / bad)
    assert os.listdir(tmp_path) == ["m.bigcore"]


_KILL_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import bigcore
    from bigcore import layers, saving
    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([layers.Input((64,)), layers.Dense(512), layers.Dense(512), layers.Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    path = sys.argv[1]
    for w in model.weights:  # save i holds i everywhere: a kill before the loop's first save leaves 0s
        w.value[...] = 0
    saving.save_model(model, path)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        for w in model.weights:
            w.value[...] = i
        saving.save_model(model, path)
""")


def test_sigkill_while_saving_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "m.bigcore"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    seen = set()
    for delay in (0.05, 0.13, 0.31):
        child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(path)], stdout=subprocess.PIPE,
                                 env=env)
        try:
            assert child.stdout.readline().strip() == b"ready"
            time.sleep(delay)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        model = saving.load_model(path)
        values = {float(w.value.flat[0]) for w in model.weights}
        assert len(values) == 1  # one consistent save, never a mix of two
        seen |= values
    assert max(seen) >= 1  # the kills landed in the save loop, not before it
    leftovers = [n for n in os.listdir(tmp_path) if n != "m.bigcore"]
    assert all(n.startswith(".m.bigcore.") and n.endswith(".tmp") for n in leftovers)


# --- save_weights / load_weights, JSON ---------------------------------------------------------------

def test_weights_round_trip_into_a_fresh_model(tmp_path, seed):
    model = multi_io_model()
    model.fit([XA, XB], [YCLS, YREG], epochs=1, verbose=0)
    path = tmp_path / "m.weights.safetensors"
    saving.save_weights(model, path)
    fresh = multi_io_model()  # new, differently numbered names; same structure
    assert any(not np.array_equal(u, v) for u, v in zip(fresh.get_weights(), model.get_weights()))
    saving.load_weights(fresh, path)
    assert_same_weights(model, fresh)
    for p, q in zip(model.predict([XA, XB], verbose=0), fresh.predict([XA, XB], verbose=0)):
        np.testing.assert_array_equal(p, q)
    # a model never lowered to a program takes them too
    a, b = layers.Input((7,)), layers.Input((7,))
    shared = layers.Dense(5, activation="tanh")
    sa, sb = shared(a), shared(b)
    cls = layers.Dense(4, activation="softmax")(layers.Dropout(0.2)(layers.Concatenate()([sa, sb])))
    unlowered = bigcore.Model([a, b], [cls, layers.Dense(1)(layers.Add()([sa, sb]))])
    assert unlowered._program is None
    saving.load_weights(unlowered, path)
    for p, q in zip(model.predict([XA, XB], verbose=0), unlowered.predict([XA, XB], verbose=0)):
        np.testing.assert_array_equal(p, q)
    other = bigcore.Sequential([layers.Input((8,)), layers.Dense(16), layers.Dense(3)])
    with pytest.raises(ValueError, match="holds 6 tensors, but model .* has 4 weights"):
        saving.load_weights(other, path)


def test_load_weights_rejects_mismatches(tmp_path, seed):
    model = mlp()
    path = tmp_path / "m.weights.safetensors"
    saving.save_weights(model, path)
    other = bigcore.Sequential([layers.Input((8,)), layers.Dense(17), layers.Dense(3)])
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"shape \(8, 16\).*shape \(8, 17\)"):
        saving.load_weights(other, path)
    for u, v in zip(before, other.get_weights()):  # nothing half-assigned
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="File not found"):
        saving.load_weights(model, tmp_path / "none.weights.safetensors")
    (tmp_path / "junk.weights.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(ValueError, match="junk.weights.safetensors.*truncated"):
        saving.load_weights(model, tmp_path / "junk.weights.safetensors")
    unbuilt = bigcore.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="built"):
        saving.load_weights(unbuilt, path)


def test_json_round_trip(seed):
    model = multi_io_model()
    text = saving.model_to_json(model)
    d = json.loads(text)
    assert d["class_name"] == "Functional" and d["config"]["name"] == model.name
    rebuilt = saving.model_from_json(text)
    assert saving.model_to_json(rebuilt) == text
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    rebuilt.set_weights(model.get_weights())
    for p, q in zip(model.predict([XA, XB], verbose=0), rebuilt.predict([XA, XB], verbose=0)):
        np.testing.assert_array_equal(p, q)
    seq = bigcore.Sequential([layers.Input((8,)), layers.Dense(3)])
    assert json.loads(saving.model_to_json(seq))["class_name"] == "Sequential"
    assert isinstance(saving.model_from_json(saving.model_to_json(seq)), bigcore.Sequential)
    for bad in ("{", "[]", '{"class_name": "Functional"}', '{"class_name": "Nope", "config": {}}',
                '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Teleporter"}]}}'):
        with pytest.raises(ValueError):
            saving.model_from_json(bad)


# --- hostile and corrupt files -----------------------------------------------------------------------

@pytest.fixture
def good_file(tmp_path, seed):
    model = mlp()
    model.fit(X8, Y3, epochs=1, verbose=0)
    return saved(tmp_path, model, "good.bigcore")


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path, items):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate-member case
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in items:
                zf.writestr(name, data)
    return path


def variant(good, dst, replace=None, drop=(), extra=()):
    m = members(good)
    m.update(replace or {})
    return write_zip(dst, [(n, d) for n, d in m.items() if n not in drop] + list(extra))


def edit_config(good, dst, fn):
    cfg = json.loads(members(good)["config.json"])
    fn(cfg)
    return variant(good, dst, {"config.json": json.dumps(cfg)})


def edit_tensors(good, dst, member, fn):
    tensors = safetensors.numpy.load(members(good)[member])
    fn(tensors)
    return variant(good, dst, {member: safetensors.numpy.save(tensors)})


def lying_header(good, dst, member, fn):
    data = members(good)[member]
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    fn(header)
    raw = json.dumps(header).encode()
    return variant(good, dst, {member: struct.pack("<Q", len(raw)) + raw + data[8 + n:]})


def set_declared_size(path, name, size):
    """Rewrites the uncompressed size a zip declares for `name`."""
    return patch_central(path, name, 24, "<I", size, local_offset=22)


def patch_central(path, name, offset, fmt, value, local_offset=None):
    """Rewrites one field of `name`'s central-directory entry (and of its local header)."""
    data = bytearray(path.read_bytes())
    raw = name.encode()
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        n = struct.unpack("<H", data[pos + 28:pos + 30])[0]
        if data[pos + 46:pos + 46 + n] == raw:
            struct.pack_into(fmt, data, pos + offset, value)
            if local_offset is not None:
                local = struct.unpack("<I", data[pos + 42:pos + 46])[0]
                struct.pack_into(fmt, data, local + local_offset, value)
        pos += 4
    path.write_bytes(bytes(data))
    return path


def _first_weight_key(tensors):
    return sorted(tensors)[0]


HOSTILE = {
    "empty file": (lambda g, d: (d.write_bytes(b""), d)[1], "not a zip archive"),
    "not a zip": (lambda g, d: (d.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500)), d)[1], "not a zip archive"),
    "truncated": (lambda g, d: (d.write_bytes(g.read_bytes()[:len(g.read_bytes()) // 2]), d)[1],
                  "not a zip archive, or it is truncated"),
    "truncated by 1 byte": (lambda g, d: (d.write_bytes(g.read_bytes()[:-1]), d)[1], "truncated"),
    "config missing": (lambda g, d: variant(g, d, drop=["config.json"]), "'config.json' is missing"),
    "weights missing": (lambda g, d: variant(g, d, drop=["model.weights.safetensors"]),
                        "'model.weights.safetensors' is missing"),
    "optimizer missing": (lambda g, d: variant(g, d, drop=["optimizer.safetensors"]),
                          "'optimizer.safetensors' is missing"),
    "bad json": (lambda g, d: variant(g, d, {"config.json": b'{"format": "bigcore", '}), "not valid JSON"),
    "not utf-8": (lambda g, d: variant(g, d, {"config.json": b"\xff\xfe{}"}), "not valid JSON"),
    "deep json": (lambda g, d: variant(g, d, {"config.json": b"[" * 100000 + b"]" * 100000}), "JSON"),
    "json not an object": (lambda g, d: variant(g, d, {"config.json": b"[1, 2]"}),
                           "does not describe a bigcore model"),
    "wrong format": (lambda g, d: edit_config(g, d, lambda c: c.update(format="keras")),
                     "does not describe a bigcore model"),
    "newer format": (lambda g, d: edit_config(g, d, lambda c: c.update(format_version=saving.FORMAT_VERSION + 1)),
                     "Upgrade bigcore"),
    "bad format_version": (lambda g, d: edit_config(g, d, lambda c: c.update(format_version="1")),
                           "format_version"),
    "unknown model class": (lambda g, d: edit_config(g, d, lambda c: c.update(class_name="os.system")),
                            "unknown model class"),
    "unknown layer": (lambda g, d: edit_config(g, d, lambda c: c["config"]["layers"][1].update(
        class_name="Teleporter")), "Unknown layer: 'Teleporter'"),
    "layer config of the wrong type": (lambda g, d: edit_config(g, d, lambda c: c["config"].update(layers=5)),
                                       "cannot be rebuilt"),
    "bad layer argument": (lambda g, d: edit_config(g, d, lambda c: c["config"]["layers"][1]["config"].update(
        units=-3)), "units=-3"),
    "unknown optimizer": (lambda g, d: edit_config(g, d, lambda c: c["compile_config"]["optimizer"].update(
        class_name="Teleporter")), "compile_config cannot be restored"),
    "bad iterations": (lambda g, d: edit_config(g, d, lambda c: c["compile_config"]["optimizer"].update(
        iterations=-1)), "iterations"),
    "unknown loss": (lambda g, d: edit_config(g, d, lambda c: c["compile_config"].update(loss="nope")),
                     "Unknown loss"),
    "stream of an unknown layer": (lambda g, d: edit_config(g, d, lambda c: c["training_state"][
        "layer_streams"].update(ghost=3)), "'ghost'"),
    "negative seed": (lambda g, d: edit_config(g, d, lambda c: c["training_state"].update(seed=-1)),
                      "training_state"),
    "path traversal member": (lambda g, d: variant(g, d, extra=[("../evil.txt", b"pwned")]),
                              "unexpected member '../evil.txt'"),
    "absolute member": (lambda g, d: variant(g, d, extra=[("/tmp/evil.txt", b"pwned")]), "unexpected member"),
    "unexpected member": (lambda g, d: variant(g, d, extra=[("extra.bin", b"x")]), "unexpected member 'extra.bin'"),
    "duplicate member": (lambda g, d: variant(g, d, extra=[("config.json", b"{}")]), "appears twice"),
    "weights: header lies about offsets": (
        lambda g, d: lying_header(g, d, "model.weights.safetensors",
                                  lambda h: h[_first_weight_key(h)].update(data_offsets=[0, 1 << 40])),
        "does not hold"),
    "weights: header lies about shape": (
        lambda g, d: lying_header(g, d, "model.weights.safetensors",
                                  lambda h: h[_first_weight_key(h)].update(shape=[1 << 31, 1 << 31])),
        "does not hold"),
    "weights: header length lies": (
        lambda g, d: variant(g, d, {"model.weights.safetensors": struct.pack("<Q", 1 << 60) + b"{}"}),
        "header claims|bytes left in the file"),  # the latter with layers.base.weight_budget
    "weights: garbage": (lambda g, d: variant(g, d, {"model.weights.safetensors": b"hello"}),
                         "truncated|bytes left in the file"),
    "weights: not float32": (
        lambda g, d: edit_tensors(g, d, "model.weights.safetensors",
                                  lambda t: t.update({k: v.astype(np.float64) for k, v in t.items()})),
        "expected dtype F32"),
    "weights: one missing": (
        lambda g, d: edit_tensors(g, d, "model.weights.safetensors", lambda t: t.pop(sorted(t)[-1])),
        "holds 3 tensors, but model .* has 4 weights"),
    "weights: one extra": (
        lambda g, d: edit_tensors(g, d, "model.weights.safetensors",
                                  lambda t: t.update({"0004:extra": np.zeros(2, np.float32)})),
        "holds 5 tensors, but model .* has 4 weights"),
    "weights: bad key": (
        lambda g, d: edit_tensors(g, d, "model.weights.safetensors",
                                  lambda t: t.update({"kernel": t.pop(sorted(t)[0])})),
        "unexpected tensor 'kernel'"),
    "weights: wrong shape": (
        lambda g, d: edit_tensors(g, d, "model.weights.safetensors",
                                  lambda t: t.update({sorted(t)[0]: np.zeros((16, 8), np.float32)})),
        r"shape \(16, 8\), but weight"),
    "optimizer: wrong slot count": (
        lambda g, d: edit_tensors(g, d, "optimizer.safetensors", lambda t: t.pop("slot_2")),
        "needs"),
    "optimizer: wrong arena size": (
        lambda g, d: edit_tensors(g, d, "optimizer.safetensors",
                                  lambda t: t.update(slot_0=np.zeros(5, np.float32))),
        "arena"),
    "config bomb": (lambda g, d: set_declared_size(variant(g, d), "config.json", 0xFFFFFFFE),
                    "declares 4294967294 bytes"),
    "weights bomb": (lambda g, d: set_declared_size(variant(g, d), "model.weights.safetensors", 0xFFFFFFFE),
                     "declares 4294967294 bytes"),
    "unknown compression method": (lambda g, d: patch_central(variant(g, d), "config.json", 10, "<H", 99, 8),
                                   "cannot read the member 'config.json'"),
    "encrypted member": (lambda g, d: patch_central(variant(g, d), "config.json", 8, "<H", 1, 6), "encrypted"),
    "stream missing": (lambda g, d: edit_config(g, d, lambda c: c["training_state"].update(layer_streams={})),
                       "lacks the random streams"),
    "size smaller than content": (lambda g, d: set_declared_size(variant(g, d), "config.json", 10),
                                  "corrupt|JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_raises_a_clear_value_error(tmp_path, good_file, case):
    make, message = HOSTILE[case]
    bad = make(good_file, tmp_path / "bad.bigcore")
    outside = tmp_path.parent / "evil.txt"
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=message) as err:
        saving.load_model(bad)
    assert str(bad) in str(err.value)
    assert sorted(os.listdir(tmp_path)) == before and not outside.exists()


def test_real_zip_bomb_is_refused_before_it_is_inflated(tmp_path, good_file):
    bad = tmp_path / "bomb.bigcore"
    m = members(good_file)
    bomb = b"{" + b" " * (65 << 20) + b"}"  # 65 MiB of JSON whitespace: deflates to ~64 KiB
    with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", bomb)
        zf.writestr("model.weights.safetensors", m["model.weights.safetensors"])
    assert bad.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="more than the 67108864"):
        saving.load_model(bad)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ValueError, match="File not found"):
        saving.load_model(tmp_path / "none.bigcore")
    with pytest.raises(ValueError, match="File not found"):
        saving.load_model(tmp_path)


def test_good_file_still_loads(good_file):
    """The hostile cases are variants of this file: it must itself be fine."""
    assert isinstance(saving.load_model(good_file), bigcore.Sequential)


def test_model_methods_are_the_saving_functions(tmp_path, seed):
    """Model.save & co. behave as the bigcore.saving functions."""
    model = mlp()
    model.fit(X8, Y3, epochs=1, verbose=0)
    model.save(tmp_path / "m.bigcore")
    loaded = bigcore.models.load_model(tmp_path / "m.bigcore")
    assert_same_weights(model, loaded)
    model.save_weights(tmp_path / "m.weights.safetensors")
    fresh = mlp()
    fresh.load_weights(tmp_path / "m.weights.safetensors")
    assert_same_weights(model, fresh)
    again = bigcore.models.model_from_json(model.to_json())
    assert again.to_json() == model.to_json()


def test_loader_budgets_weight_allocation_by_the_weights_member(tmp_path, good_file, monkeypatch):
    """The loader hands layers.base.weight_budget the size the weights member declares."""
    import contextlib

    from bigcore.layers import base

    budgets = []

    @contextlib.contextmanager
    def record(nbytes):
        budgets.append(nbytes)
        yield

    monkeypatch.setattr(base, "weight_budget", record)
    saving.load_model(good_file)
    with zipfile.ZipFile(good_file) as zf:
        assert budgets == [zf.getinfo("model.weights.safetensors").file_size]


def test_config_claiming_a_giant_model_is_refused_before_allocating(tmp_path, good_file):
    bad = edit_config(good_file, tmp_path / "giant.bigcore",
                      lambda c: c["config"]["layers"][1]["config"].update(units=1 << 34))
    with pytest.raises(ValueError, match="needs 549755813888 bytes"):
        saving.load_model(bad)
