"""Keras's files both ways (bigcore.saving.keras_files): Keras-saved .keras, .weights.h5 and legacy
.h5 files load in bigcore and predict what Keras predicts; bigcore-saved .keras and .weights.h5
files load in Keras and predict the same; compile settings and optimizer state survive (one more
training step agrees); hostile files are refused with a ValueError naming the file."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

h5py = pytest.importorskip("h5py")
ATOL = 1e-5


def _close(a, b, atol=ATOL):
    for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=atol)


# --- models built in Keras -------------------------------------------------------------------------

def _keras_text_model(keras, optimizer="adam"):
    inp = keras.Input((9,), name="ids")
    x = keras.layers.Embedding(30, 6, mask_zero=True)(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True,
                                                     kernel_regularizer=keras.regularizers.L2(1e-3)))(x)
    x = keras.layers.GRU(4)(x)
    x = keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L1L2(1e-4, 1e-3))(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _keras_branches(keras):
    """Two inputs, shared and duplicated layer classes: Keras names layers by class in its graph order."""
    a, b = keras.Input((5,), name="a"), keras.Input((3,), name="b")
    ha = keras.layers.Dense(4, activation="tanh")(a)
    hb = keras.layers.Dense(4, activation="relu")(b)
    merged = keras.layers.Concatenate()([ha, keras.layers.Add()([ha, hb])])
    out1 = keras.layers.Dense(2, activation="softmax", name="cls")(keras.layers.Dropout(0.0)(merged))  # no randomness: steps compared
    out2 = keras.layers.Dense(1, name="reg")(keras.layers.Average()([ha, hb]))
    model = keras.Model([a, b], [out1, out2])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=["sparse_categorical_crossentropy", "mse"])
    return model


def _keras_sequential(keras, optimizer="rmsprop"):
    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(0).normal(3, 2, (50, 6)).astype(np.float32))
    model = keras.Sequential([keras.Input((6,)), norm, keras.layers.Dense(10, activation="relu"),
                              keras.layers.Dropout(0.0), keras.layers.Dense(7, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _text_data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 30, (n, 9))
    x[: n // 2, :3] = 0  # pre-padding
    x[n // 2:, 6:] = 0   # post-padding
    return x, rng.integers(0, 3, n)


def _train_keras(model, x, y):
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)


def _f32(x):
    return [a.astype(np.float32) for a in x] if isinstance(x, list) else x.astype(np.float32)


def _one_more_step(keras_model, ours, x, y):
    """One more training step in each: the same predictions when the optimizer state came along."""
    keras_model.fit(x, y, epochs=1, batch_size=len(y if not isinstance(y, list) else y[0]), verbose=0, shuffle=False)
    ours.fit(_f32(x), y, epochs=1, batch_size=len(y if not isinstance(y, list) else y[0]), verbose=0, shuffle=False)
    _close(ours.predict(_f32(x), verbose=0), keras_model.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum", "rmsprop"])
def test_keras_archive_loads_and_trains_on(keras, tmp_path, seed, optimizer):
    opt = {"adam": "adam", "sgd_momentum": keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
           "rmsprop": keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True)}[optimizer]
    km = _keras_text_model(keras, opt)
    x, y = _text_data()
    _train_keras(km, x, y)
    km.save(tmp_path / "m.keras")
    ours = bigcore.models.load_model(tmp_path / "m.keras")
    before = km.predict(x, verbose=0)
    _close(ours.predict(x.astype(np.float32), verbose=0), before)
    assert ours.optimizer.iterations == int(km.optimizer.iterations) == 6
    assert type(ours.optimizer).__name__ == type(km.optimizer).__name__
    assert ours.layers[2].forward_layer.kernel_regularizer.l2 == pytest.approx(1e-3)
    _one_more_step(km, ours, x, y)
    plain = bigcore.models.load_model(tmp_path / "m.keras", compile=False)
    assert not plain.compiled
    _close(plain.predict(x.astype(np.float32), verbose=0), before)


def test_bigcore_archive_loads_in_keras(keras, tmp_path, seed):
    x, y = _text_data()
    inp = bigcore.Input((9,), name="ids")
    h = layers.Embedding(30, 6, mask_zero=True)(inp)
    h = layers.Bidirectional(layers.LSTM(5, return_sequences=True, kernel_regularizer="l2"))(h)
    h = layers.GRU(4)(h)
    out = layers.Dense(3, activation="softmax", kernel_regularizer=bigcore.regularizers.L1L2(1e-4, 1e-3))(h)
    ours = bigcore.Model(inp, out)
    ours.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.fit(x.astype(np.float32), y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    ours.save(tmp_path / "ours.keras")
    km = keras.models.load_model(tmp_path / "ours.keras")
    _close(km.predict(x, verbose=0), ours.predict(x.astype(np.float32), verbose=0))
    assert int(km.optimizer.iterations) == ours.optimizer.iterations == 6
    assert km.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    _one_more_step(km, ours, x, y)
    with zipfile.ZipFile(tmp_path / "ours.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
    assert config["class_name"] == "Functional" and config["config"]["layers"][1]["module"] == "keras.layers"


def test_functional_branches_both_ways(keras, tmp_path, seed):
    km = _keras_branches(keras)
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(16, 5)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)]
    y = [rng.integers(0, 2, 16), rng.normal(size=(16, 1)).astype(np.float32)]
    km.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    km.save_weights(tmp_path / "k.weights.h5")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    fresh = bigcore.models.load_model(tmp_path / "k.keras", compile=False)
    for w in fresh.weights:
        w.assign(np.zeros(w.shape))
    fresh.load_weights(tmp_path / "k.weights.h5")
    _close(fresh.predict(x, verbose=0), km.predict(x, verbose=0))
    _one_more_step(km, ours, x, y)
    ours.save(tmp_path / "o.keras")
    back = keras.models.load_model(tmp_path / "o.keras")
    _close(back.predict(x, verbose=0), ours.predict(x, verbose=0))
    ours.save_weights(tmp_path / "o.weights.h5")
    km.load_weights(tmp_path / "o.weights.h5")
    _close(km.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_sequential_both_ways_with_normalization(keras, tmp_path, seed):
    km = _keras_sequential(keras)
    rng = np.random.default_rng(2)
    x, y = rng.normal(3, 2, (20, 6)).astype(np.float32), rng.integers(0, 2, (20, 1)).astype(np.float32)
    _train_keras(km, x, y)
    km.save(tmp_path / "s.keras")
    ours = bigcore.models.load_model(tmp_path / "s.keras")
    assert isinstance(ours, bigcore.Sequential) and ours.layers[0].adapt_mean is not None
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    _one_more_step(km, ours, x, y)
    ours.save(tmp_path / "o.keras")
    _close(keras.models.load_model(tmp_path / "o.keras").predict(x, verbose=0), ours.predict(x, verbose=0))
    # a bigcore Sequential's weights into the same Keras Sequential, and back
    model = bigcore.Sequential([layers.Dense(5, activation="relu", input_shape=(6,)), layers.Dense(1)])
    kseq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(1)])
    model.save_weights(tmp_path / "w.weights.h5")
    kseq.load_weights(tmp_path / "w.weights.h5")
    _close(kseq.predict(x, verbose=0), model.predict(x, verbose=0))


def test_legacy_h5_model_files(keras, tmp_path, seed):
    km = _keras_text_model(keras)
    x, y = _text_data()
    _train_keras(km, x, y)
    km.save(tmp_path / "legacy.h5")  # Keras 3's legacy (Keras 2 layout) writer
    ours = bigcore.models.load_model(tmp_path / "legacy.h5")
    _close(ours.predict(x.astype(np.float32), verbose=0), km.predict(x, verbose=0))
    assert ours.compiled and type(ours.optimizer).__name__ == "Adam"
    # the Keras 2 config layout: inbound nodes as [[name, node, index, kwargs]], no mask operations
    k2 = tmp_path / "keras2.h5"
    with h5py.File(tmp_path / "legacy.h5", "r") as src, h5py.File(k2, "w") as dst:
        config = json.loads(src.attrs["model_config"])
        kept = []
        for entry in config["config"]["layers"]:
            if entry["class_name"] == "NotEqual":
                continue
            entry["inbound_nodes"] = [[[a["config"]["keras_history"][0], 0, 0, {}]] for node in entry["inbound_nodes"]
                                      for a in node["args"][:1]]
            if entry["class_name"] == "InputLayer":
                entry["config"]["batch_input_shape"] = entry["config"].pop("batch_shape")
            kept.append(entry)
        config["config"]["layers"] = kept
        config["config"]["input_layers"] = [config["config"]["input_layers"]]
        config["config"]["output_layers"] = [config["config"]["output_layers"]]
        config["class_name"] = "Model"
        dst.attrs["model_config"] = json.dumps(config)
        src.copy("model_weights", dst)
    ours2 = bigcore.models.load_model(k2)
    _close(ours2.predict(x.astype(np.float32), verbose=0), km.predict(x, verbose=0))
    fresh = bigcore.models.load_model(tmp_path / "legacy.h5", compile=False)
    km.save_weights(tmp_path / "k.weights.h5")
    fresh.load_weights(tmp_path / "k.weights.h5")
    _close(fresh.predict(x.astype(np.float32), verbose=0), km.predict(x, verbose=0))
    # Keras 3's file keeps the optimizer's variables in Keras's order: training goes on as in Keras
    assert ours.optimizer.iterations == int(km.optimizer.iterations) == 6
    _one_more_step(km, ours, x, y)


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_bigcore_writes_legacy_h5_model_files(keras, tmp_path, seed, suffix):
    """model.save("m.h5"), as Keras 3 writes it: Keras loads it, and so does bigcore, optimizer state included."""
    km = _keras_text_model(keras)
    x, y = _text_data()
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    ours.fit(x.astype(np.float32), y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    path = tmp_path / f"ours{suffix}"
    ours.save(path)
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["model_config"])["class_name"] == "Functional"
        assert "optimizer_config" in json.loads(f.attrs["training_config"])
        assert [n.decode() for n in f["model_weights"].attrs["layer_names"]] == [layer.name for layer in ours.layers]
    want = ours.predict(x.astype(np.float32), verbose=0)
    kloaded = keras.models.load_model(path)
    _close(kloaded.predict(x, verbose=0), want)
    assert int(kloaded.optimizer.iterations) == ours.optimizer.iterations == 6
    again = bigcore.models.load_model(path)
    _close(again.predict(x.astype(np.float32), verbose=0), want)
    assert again.optimizer.iterations == 6
    # the optimizer state came along: one more step in each gives the same model (Keras 3's legacy
    # loader cannot train on after loading, even its own files: its optimizer refuses the variables)
    for m in (ours, again):
        m.fit(x.astype(np.float32), y, epochs=1, batch_size=len(y), verbose=0, shuffle=False)
    np.testing.assert_array_equal(again.predict(x.astype(np.float32), verbose=0),
                                  ours.predict(x.astype(np.float32), verbose=0))
    plain = bigcore.models.load_model(path, compile=False)
    assert not plain.compiled
    with pytest.raises(FileExistsError):
        ours.save(path, overwrite=False)


def test_legacy_h5_keeps_batch_normalization_statistics(keras, tmp_path, seed):
    """A nested model's weights in Keras's legacy order (trainable, then non-trainable) both ways."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 5)).astype(np.float32), rng.normal(size=(32, 2)).astype(np.float32)
    inner = bigcore.Sequential([layers.Input((5,)), layers.Dense(4), layers.BatchNormalization(),
                                layers.Dense(4), layers.BatchNormalization()])
    model = bigcore.Sequential([layers.Input((5,)), inner, layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "bn.h5")
    with h5py.File(tmp_path / "bn.h5", "r") as f:
        names = [n.decode() for n in f["model_weights"][inner.name].attrs["weight_names"]]
    assert [n.rsplit("/", 1)[1] for n in names][-4:] == ["moving_mean", "moving_variance"] * 2
    # (compile=False: Keras 3 cannot read back a legacy file with the loss "mse", even its own)
    _close(keras.models.load_model(tmp_path / "bn.h5", compile=False).predict(x, verbose=0), model.predict(x, verbose=0))
    _close(bigcore.models.load_model(tmp_path / "bn.h5").predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclassed_model_is_refused_in_legacy_h5(tmp_path, seed):
    class Net(bigcore.Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="legacy .h5 format"):
        net.save(tmp_path / "n.h5")
    assert not os.path.exists(tmp_path / "n.h5")


def test_model_checkpoint_writes_keras_files(keras, tmp_path, seed):
    x, y = _text_data()
    model = bigcore.Sequential([layers.Input((9,)), layers.Dense(4, activation="relu"), layers.Dense(3, "softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    cbs = [bigcore.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.keras")),
           bigcore.callbacks.ModelCheckpoint(str(tmp_path / "best.h5"), save_best_only=True, monitor="loss"),
           bigcore.callbacks.ModelCheckpoint(str(tmp_path / "w{epoch}.weights.h5"), save_weights_only=True)]
    model.fit(x.astype(np.float32), y, epochs=2, verbose=0, callbacks=cbs)
    km = keras.models.load_model(tmp_path / "e2.keras")
    _close(km.predict(x, verbose=0), model.predict(x.astype(np.float32), verbose=0))
    _close(keras.models.load_model(tmp_path / "best.h5").predict(x, verbose=0),
           model.predict(x.astype(np.float32), verbose=0))
    again = bigcore.models.load_model(tmp_path / "e2.keras")
    again.load_weights(tmp_path / "w1.weights.h5")
    assert not np.allclose(again.predict(x.astype(np.float32), verbose=0), model.predict(x.astype(np.float32), verbose=0))


def test_text_vectorization_model_in_a_keras_archive(tmp_path, seed):
    texts = np.array(["the cat sat", "a dog ran far", "the dog sat", "cats and dogs"], dtype=object)
    tv = layers.TextVectorization(max_tokens=20, output_sequence_length=4, output_mode="int")
    tv.adapt(texts)
    tfidf = layers.TextVectorization(max_tokens=12, output_mode="tf_idf")
    tfidf.adapt(texts)
    inp = bigcore.Input((1,), dtype="string")
    a = layers.Flatten()(layers.Embedding(20, 3)(tv(inp)))
    model = bigcore.Model(inp, layers.Dense(2)(layers.Concatenate()([a, tfidf(inp)])))
    model.compile("adam", "mse")
    model.save(tmp_path / "tv.keras")
    with zipfile.ZipFile(tmp_path / "tv.keras") as zf:
        names = set(zf.namelist())
        vocab = zf.read("assets/layers/text_vectorization/vocabulary.txt").decode().split("\n")
    assert "assets/layers/text_vectorization/_lookup_layer/vocabulary.txt" in names
    assert vocab == tv.get_vocabulary()
    loaded = bigcore.models.load_model(tmp_path / "tv.keras")
    probe = np.array([["the cat ran"], ["unknown words"]], dtype=object)
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), model.predict(probe, verbose=0))
    assert loaded.get_layer(tfidf.name).get_vocabulary() == tfidf.get_vocabulary()


def test_layers_without_a_keras_form_are_refused(tmp_path, seed):
    model = bigcore.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(2)])
    q = bigcore.quantization.quantize(model)
    with pytest.raises(ValueError, match="QuantizedDense.*no Keras form"):
        q.save(tmp_path / "q.keras")
    with pytest.raises(ValueError, match="no Keras form"):
        q.save_weights(tmp_path / "q.weights.h5")
    assert not (tmp_path / "q.keras").exists()


def test_h5py_is_named_when_missing(tmp_path, monkeypatch, seed):
    import builtins

    real = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    model = bigcore.Sequential([layers.Input((2,)), layers.Dense(1)])
    with pytest.raises(ImportError, match=r'bigcore\[keras\]'):
        model.save_weights(tmp_path / "w.weights.h5")


# --- hostile files ---------------------------------------------------------------------------------

@pytest.fixture
def good_keras(tmp_path, seed):
    model = bigcore.Sequential([layers.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 4), np.float32), np.ones((4, 2), np.float32), verbose=0)
    path = tmp_path / "good.keras"
    model.save(path)
    model.save_weights(tmp_path / "good.weights.h5")
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(path, items):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in items:
                zf.writestr(name, data)
    return path


def _variant(good, dst, replace=None, drop=(), extra=()):
    m = _members(good)
    m.update(replace or {})
    return _zip(dst, [(n, d) for n, d in m.items() if n not in drop] + list(extra))


def _edit_config(good, dst, fn):
    cfg = json.loads(_members(good)["config.json"])
    fn(cfg)
    return _variant(good, dst, {"config.json": json.dumps(cfg)})


def _edit_h5(good, dst, fn):
    buf = io.BytesIO(_members(good)["model.weights.h5"])
    out = io.BytesIO()
    with h5py.File(buf, "r") as src, h5py.File(out, "w") as f:
        for key in src:
            src.copy(key, f)
        fn(f)
    return _variant(good, dst, {"model.weights.h5": out.getvalue()})


def _external(f):
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=(4, 3), dtype="f4", external=[("/etc/hostname", 0, 48)])


def _dense_layers(cfg):
    return [e for e in cfg["config"]["layers"] if e["class_name"] == "Dense"]


HOSTILE = {
    "empty file": (lambda g, d: (d.write_bytes(b""), d)[1], "not a Keras model archive"),
    "truncated": (lambda g, d: (d.write_bytes(g.read_bytes()[:300]), d)[1], "not a Keras model archive"),
    "config missing": (lambda g, d: _variant(g, d, drop=["config.json"]), "'config.json' is missing"),
    "weights missing": (lambda g, d: _variant(g, d, drop=["model.weights.h5"]), "'model.weights.h5' is missing"),
    "bad json": (lambda g, d: _variant(g, d, {"config.json": b"{"}), "not valid JSON"),
    "deep json": (lambda g, d: _variant(g, d, {"config.json": b"[" * 100000 + b"]" * 100000}), "JSON"),
    "unknown layer": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0].update(class_name="JaxLayer")),
                      "bigcore has no layer 'JaxLayer'"),
    "lambda layer": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0].update(
        class_name="Lambda", config={"function": "gAWVIQAAAAAAAACMCGJ1aWx0aW5zlIwFcHJpbnSUk5Qu"})),
        "layer 'Lambda'.*bigcore never runs code from a file"),  # bigcore has a Lambda (#17); no bytecode
    "subclassed model": (lambda g, d: _edit_config(g, d, lambda c: c.update(class_name="MyModel")),
                         "subclassed model"),
    "mixed precision": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0]["config"].update(
        dtype={"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}})), "mixed_float16"),
    "unsupported key": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0]["config"].update(
        quantization_config={"mode": "int4"})), "quantization_config="),
    "bad argument": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0]["config"].update(units=-3)),
                     "units=-3"),
    "giant layer": (lambda g, d: _edit_config(g, d, lambda c: _dense_layers(c)[0]["config"].update(units=1 << 30)),
                    "bytes left in the file"),
    # (use_ema=True is supported: tests/test_optimizer_ema.py loads and trains on such a file)
    "loss-scaled optimizer": (lambda g, d: _edit_config(g, d, lambda c: c["compile_config"]["optimizer"][
        "config"].update(loss_scale_factor=128.0)), "loss_scale_factor"),
    "path traversal": (lambda g, d: _variant(g, d, extra=[("../evil.txt", b"x")]), "unexpected member"),
    "asset that is not a vocabulary": (lambda g, d: _variant(g, d, extra=[("assets/x/run.py", b"x")]),
                                       "unexpected member"),
    "duplicate member": (lambda g, d: _variant(g, d, extra=[("config.json", b"{}")]), "appears twice"),
    "weights not hdf5": (lambda g, d: _variant(g, d, {"model.weights.h5": b"hello" * 2000}), "not an HDF5 file"),
    "weights truncated": (lambda g, d: _variant(g, d, {"model.weights.h5": _members(g)["model.weights.h5"][:600]}),
                          "HDF5"),
    "weights bomb": (lambda g, d: _variant(g, d, {"model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(64 << 20)}),
                     "more than the"),
    "wrong shape": (lambda g, d: _edit_h5(g, d, lambda f: (f["layers/dense/vars"].__delitem__("0"),
                                                            f["layers/dense/vars"].create_dataset(
                                                                "0", data=np.zeros((5, 3), "f4")))),
                    r"shape \(5, 3\)"),
    "strings for weights": (lambda g, d: _edit_h5(g, d, lambda f: (f["layers/dense/vars"].__delitem__("1"),
                                                                    f["layers/dense/vars"].create_dataset(
                                                                        "1", data=np.array([b"a", b"b", b"c"])))),
                            "not numbers"),
    "missing variable": (lambda g, d: _edit_h5(g, d, lambda f: f["layers/dense/vars"].__delitem__("1")),
                         "holds the variables"),
    "extra layer": (lambda g, d: _edit_h5(g, d, lambda f: f.create_group("layers/dense_9/vars")), "dense_9"),
    "soft link": (lambda g, d: _edit_h5(g, d, lambda f: (f["layers/dense/vars"].__delitem__("0"),
                                                          f["layers/dense/vars"].__setitem__(
                                                              "0", h5py.SoftLink("/layers/dense_1/vars/0")))),
                  "SoftLink"),
    "external link": (lambda g, d: _edit_h5(g, d, lambda f: (f["layers"].__delitem__("dense_1"), f["layers"].__setitem__(
        "dense_1", h5py.ExternalLink("/etc/other.h5", "/x")))), "ExternalLink"),
    "external storage": (lambda g, d: _edit_h5(g, d, _external), "external files"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_keras_archive_raises_a_clear_value_error(tmp_path, good_keras, case):
    make, message = HOSTILE[case]
    bad = make(good_keras, tmp_path / "bad.keras")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=message) as err:
        bigcore.models.load_model(bad)
    assert str(bad) in str(err.value)
    assert sorted(os.listdir(tmp_path)) == before and not (tmp_path.parent / "evil.txt").exists()


def test_good_keras_archive_still_loads(good_keras):
    assert isinstance(bigcore.models.load_model(good_keras), bigcore.Sequential)


def test_hostile_weights_h5_and_legacy_files(tmp_path, good_keras):
    model = bigcore.models.load_model(good_keras)
    good = tmp_path / "good.weights.h5"
    cases = {"empty.weights.h5": b"", "png.weights.h5": b"\x89PNG\r\n\x1a\n" + bytes(100),
             "big.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(16 << 20), "half.weights.h5": good.read_bytes()[:700]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError) as err:
            model.load_weights(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    other = bigcore.Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(2), layers.Dense(2)])
    with pytest.raises(ValueError, match="dense_2"):
        other.load_weights(good)
    with h5py.File(tmp_path / "no_config.h5", "w") as f:
        f.create_group("model_weights").attrs["layer_names"] = []
    with pytest.raises(ValueError, match="no model_config"):
        bigcore.models.load_model(tmp_path / "no_config.h5")
    with h5py.File(tmp_path / "evil_config.h5", "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Lambda", "config": {"function": "os.system"}}]}})
    with pytest.raises(ValueError, match="'Lambda'"):
        bigcore.models.load_model(tmp_path / "evil_config.h5")


def test_mutated_files_never_crash(tmp_path, good_keras):
    """Byte flips anywhere in the HDF5 weights: each load either works or raises ValueError, in a
    child process, so that a crash of the HDF5 library would fail this test instead of the run."""
    import subprocess
    import sys
    data = bytearray(_members(good_keras)["model.weights.h5"])
    rng = np.random.default_rng(0)
    for i in range(40):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), 8):
            bad[pos] = int(rng.integers(0, 256))
        _variant(good_keras, tmp_path / f"m{i}.keras", {"model.weights.h5": bytes(bad)})
    script = ("import sys, bigcore\n"
              "for p in sys.argv[1:]:\n"
              "    try:\n        bigcore.models.load_model(p)\n"
              "    except ValueError as e:\n        assert p in str(e), e\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", script] + [str(tmp_path / f"m{i}.keras") for i in range(40)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_every_layer_kind_and_compile_setting_both_ways(keras, tmp_path, seed):
    """Reshape, Multiply, Concatenate, Activation, Flatten, Average; Adagrad; an AUC metric."""
    a, b = keras.Input((12,)), keras.Input((4, 3))
    x = keras.layers.Reshape((4, 3))(keras.layers.Dense(12, activation="relu")(a))
    c = keras.layers.Concatenate()([keras.layers.Multiply()([x, b]), b])
    h = keras.layers.Activation("tanh")(keras.layers.Flatten()(c))
    out = keras.layers.Dense(2, activation="sigmoid")(keras.layers.Average()([keras.layers.Dense(5)(h),
                                                                              keras.layers.Dense(5)(h)]))
    km = keras.Model([a, b], out)
    km.compile(keras.optimizers.Adagrad(0.1), "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc"), "accuracy"])
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(10, 12)).astype(np.float32), rng.normal(size=(10, 4, 3)).astype(np.float32)]
    y = rng.integers(0, 2, (10, 2)).astype(np.float32)
    km.fit(xs, y, verbose=0)
    km.save(tmp_path / "misc.keras")
    ours = bigcore.models.load_model(tmp_path / "misc.keras")
    assert ours.metrics_names == ["loss", "auc", "accuracy"]
    _close(ours.predict(xs, verbose=0), km.predict(xs, verbose=0))
    _one_more_step(km, ours, xs, y)
    ours.save(tmp_path / "back.keras")
    _close(keras.models.load_model(tmp_path / "back.keras").predict(xs, verbose=0), ours.predict(xs, verbose=0))


def test_keras_preprocessing_layers_in_archives(keras, tmp_path, seed):
    """Rescaling, Discretization, CategoryEncoding (and Normalization above) saved by Keras run on
    bigcore's input side, and back."""
    a = keras.Input((4,))
    d = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode="count", name="discretization")(a)
    km = keras.Model(a, keras.layers.Dense(2)(keras.layers.Concatenate()(
        [keras.layers.Rescaling(0.5, offset=1.0, name="rescaling")(a), d])))  # names: Keras counts per process
    km.save(tmp_path / "pre.keras")
    x = np.random.default_rng(0).normal(1, 1, (6, 4)).astype(np.float32)
    ours = bigcore.models.load_model(tmp_path / "pre.keras")
    assert sorted(n.layer.name for n in ours._front_nodes) == ["discretization", "rescaling"]
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    ours.save(tmp_path / "back.keras")
    _close(keras.models.load_model(tmp_path / "back.keras").predict(x, verbose=0), km.predict(x, verbose=0))
    ids = keras.Input((3,), dtype="int32")
    km2 = keras.Model(ids, keras.layers.Dense(2)(keras.layers.CategoryEncoding(6, output_mode="multi_hot")(ids)))
    km2.save(tmp_path / "ce.keras")
    xi = np.array([[0, 1, 5], [2, 2, 3]])
    _close(bigcore.models.load_model(tmp_path / "ce.keras").predict(xi, verbose=0), km2.predict(xi, verbose=0))


def test_schedules_and_unbuilt_optimizers(keras, tmp_path, seed):
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    km.compile(keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), "mse")
    km.save(tmp_path / "untrained.keras")  # Keras writes only `iterations` for an optimizer it has not built
    ours = bigcore.models.load_model(tmp_path / "untrained.keras")
    assert ours.optimizer.iterations == 0
    assert isinstance(ours.optimizer._learning_rate, bigcore.optimizers.schedules.ExponentialDecay)
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    km.fit(x, y, verbose=0)
    km.save(tmp_path / "trained.keras")
    ours = bigcore.models.load_model(tmp_path / "trained.keras")
    assert ours.optimizer.iterations == 1
    assert ours.optimizer.learning_rate == pytest.approx(float(km.optimizer.learning_rate), rel=1e-6)
    _one_more_step(km, ours, x, y)
    ours.save(tmp_path / "back.keras")
    back = keras.models.load_model(tmp_path / "back.keras")
    assert int(back.optimizer.iterations) == 2


def _keras_conv_rnn_model(keras):
    """Conv1D + BatchNormalization + pooling, then SimpleRNN and Bidirectional(SimpleRNN) over the
    pooled sequence, then a global pooling of a Conv2D branch: the everyday layers in Keras files."""
    seq = keras.Input((12, 3), name="seq")
    h = keras.layers.Conv1D(6, 3, padding="same", activation="relu")(seq)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.MaxPooling1D(2)(h)
    h = keras.layers.SimpleRNN(5, return_sequences=True)(h)
    h = keras.layers.Bidirectional(keras.layers.SimpleRNN(4, activation="relu"))(h)
    img = keras.Input((8, 8, 2), name="img")
    g = keras.layers.Conv2D(4, 3, activation="relu")(img)
    g = keras.layers.GlobalAveragePooling2D()(g)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([h, g]))
    model = keras.Model([seq, img], out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_keras_archive_with_conv_batchnorm_and_simple_rnn(keras, tmp_path, seed):
    """Keras -> bigcore -> Keras: the moving statistics and SimpleRNN weights come along both ways."""
    rng = np.random.default_rng(3)
    x = [rng.normal(size=(16, 12, 3)).astype(np.float32), rng.normal(size=(16, 8, 8, 2)).astype(np.float32)]
    y = rng.integers(0, 3, 16)
    km = _keras_conv_rnn_model(keras)
    km.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    want = km.predict(x, verbose=0)
    _close(ours.predict(x, verbose=0), want)
    bn = [layer for layer in ours.layers if type(layer).__name__ == "BatchNormalization"][0]
    assert np.abs(bn.moving_mean.numpy()).max() > 0  # Keras's trained statistics, not the initial zeros
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    _close(back.predict(x, verbose=0), want)


def _cells_model(M):
    inp = M.Input((6, 4), name="steps")
    h = M.layers.RNN(M.layers.LSTMCell(5), return_sequences=True)(inp)
    h = M.layers.RNN([M.layers.GRUCell(3), M.layers.SimpleRNNCell(2)])(h)
    return M.Model(inp, M.layers.Dense(1)(h))


def test_rnn_of_cells_archives_both_ways(keras, tmp_path, seed):
    """RNN(cell) and RNN([cells]): Keras's config (StackedRNNCells) and weights layout
    (rnn/cell/vars, rnn_1/cell/cells/gru_cell/vars), Keras's file read by bigcore and bigcore's by Keras."""
    x = np.random.default_rng(2).standard_normal((8, 6, 4)).astype(np.float32)
    y = np.random.default_rng(3).standard_normal((8, 1)).astype(np.float32)
    km = _cells_model(keras)
    km.compile(optimizer="adam", loss="mse")
    km.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    _one_more_step(km, ours, x, y)
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    _close(back.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_time_distributed_both_ways(keras, tmp_path, seed):
    """Keras keeps the wrapped layer's variables under `time_distributed/layer` (bigcore wrote them flat
    and could not save the wrapper's entry at all)."""
    x = np.random.default_rng(5).normal(size=(3, 4, 6, 6, 1)).astype(np.float32)
    km = keras.Sequential([keras.Input((4, 6, 6, 1)), keras.layers.TimeDistributed(keras.layers.Conv2D(2, 3)),
                           keras.layers.TimeDistributed(keras.layers.Flatten()), keras.layers.LSTM(3),
                           keras.layers.RepeatVector(2), keras.layers.TimeDistributed(keras.layers.Dense(2))])
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    for w in ours.weights:
        w.assign(np.random.default_rng(1).normal(size=w.shape))
    ours.save(tmp_path / "o.keras")
    back = keras.models.load_model(tmp_path / "o.keras")
    _close(back.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-4)
    ours.save_weights(tmp_path / "o.weights.h5")
    km.load_weights(tmp_path / "o.weights.h5")
    _close(km.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-4)
