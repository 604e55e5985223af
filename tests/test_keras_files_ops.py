"""keras.ops called on a functional model's tensors, in .keras files both ways: bigcore writes its
recorded primitives as Keras's operation entries (numbers and arrays inlined in the node, binary
operations with two positional inputs) and reads Keras's back as primitives; Keras 3 loads
bigcore's file and bigcore loads Keras's, with the same predictions. Operations outside the table
are refused by name on either side."""

import json
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from keras_file_checks import close

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _build(lib):
    o, L = lib.ops, lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    x = o.concatenate([a, b], axis=-1)
    x = L.Dense(8, name="d1")(x)
    x = x * o.sigmoid(x) + 2.0
    x = o.squeeze(o.expand_dims(x, 1), axis=1)
    x = x - o.mean(x, axis=-1, keepdims=True)
    x = o.reshape(o.transpose(o.reshape(x, (-1, 2, 4)), (0, 2, 1)), (-1, 8))
    x = o.softmax(x, axis=-1) + o.maximum(x, 0.5)
    x = o.matmul(x, np.linspace(-1.0, 1.0, 16, dtype="float32").reshape(8, 2))
    x = o.clip(o.tanh(x), -0.9, 0.9) / 3.0
    out = L.Dense(1, name="d2")(o.stack([x, o.square(x)], axis=1))
    return lib.Model([a, b], out)


def _data():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)]


def test_bigcore_writes_keras_operation_entries(tmp_path):
    bigcore.utils.set_random_seed(0)
    model = _build(bigcore)
    path = tmp_path / "ops.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]
    by_name = {e["name"]: e for e in config["layers"]}
    assert not any(e.get("module") == "bigcore.ops" for e in config["layers"])
    assert not any(e["class_name"] == "Constant" for e in config["layers"])
    add = next(e for e in config["layers"] if e["class_name"] == "Add")
    assert add["module"] == "keras.src.ops.numpy" and add["inbound_nodes"][0]["args"][1] == 2.0
    mean = next(e for e in config["layers"] if e["class_name"] == "Mean")
    assert mean["config"] == {"name": mean["name"], "axis": -1, "keepdims": True}
    matmul = next(e for e in config["layers"] if e["class_name"] == "Matmul")
    assert matmul["inbound_nodes"][0]["args"][1]["class_name"] == "__numpy__"
    assert by_name["d1"]["class_name"] == "Dense"
    reloaded = bigcore.models.load_model(path)
    close(reloaded.predict(_data(), verbose=0), model.predict(_data(), verbose=0))


def test_keras_loads_bigcore_ops_file(keras, tmp_path):
    bigcore.utils.set_random_seed(1)
    model = _build(bigcore)
    path = tmp_path / "ours.keras"
    model.save(path)
    theirs = keras.models.load_model(path)
    close(np.asarray(theirs.predict(_data(), verbose=0)), model.predict(_data(), verbose=0))


def test_bigcore_loads_keras_ops_file(keras, tmp_path):
    model = _build(keras)
    path = tmp_path / "theirs.keras"
    model.save(path)
    ours = bigcore.models.load_model(path)
    close(ours.predict(_data(), verbose=0), np.asarray(model.predict(_data(), verbose=0)))
    ours.compile(optimizer="adam", loss="mse")  # and it trains: the loaded ops are the program's
    hist = ours.fit(_data(), np.ones((5, 2, 1), np.float32), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


def test_an_op_outside_the_table_is_refused_by_name(tmp_path):
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, layers.Dense(1)(ops.cumsum(inp, axis=-1)))
    with pytest.raises(ValueError, match=r"cumsum"):
        model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.bigcore")  # bigcore's own format keeps every primitive


def test_a_keras_op_bigcore_cannot_load_is_refused_by_name(keras, tmp_path):
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.ops.cumsum(inp, axis=-1)))
    model.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match=r"Cumsum"):
        bigcore.models.load_model(tmp_path / "k.keras")


def _build_indexing(lib):
    seq = lib.Input((5, 4), name="seq")
    h = lib.layers.Dense(6, name="proj")(seq)
    last = h[:, -1]                    # an int: the axis goes
    window = h[:, 1:4:2, 2:]           # slices with a step
    first = h[..., 0]                  # an Ellipsis
    pooled = lib.ops.mean(window, axis=1)
    return lib.Model(seq, lib.layers.Dense(2, name="out")(lib.ops.concatenate([last, pooled, first], axis=-1)))


def test_indexing_goes_across_as_keras_getitem(keras, tmp_path):
    x = np.random.default_rng(3).normal(size=(3, 5, 4)).astype(np.float32)
    bigcore.utils.set_random_seed(2)
    ours = _build_indexing(bigcore)
    ours.save(tmp_path / "ours.keras")
    close(np.asarray(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0)), ours.predict(x, verbose=0))
    theirs = _build_indexing(keras)
    theirs.save(tmp_path / "theirs.keras")
    close(bigcore.models.load_model(tmp_path / "theirs.keras").predict(x, verbose=0),
          np.asarray(theirs.predict(x, verbose=0)))


def _mutated(tmp_path, edit):
    """bigcore's own ops file with its config.json edited by edit(layer entries)."""
    a = bigcore.Input((3, 4), name="a")
    h = layers.Dense(4, name="d")(a)
    model = bigcore.Model(a, ops.mean(h[:, 0] * 2.0 + ops.reshape(h, (-1, 12))[:, :4], axis=-1, keepdims=True))
    src = tmp_path / "base.keras"
    model.save(src)
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config["config"]["layers"])
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as z:
        for n, b in files.items():
            z.writestr(n, json.dumps(config) if n == "config.json" else b)
    return bad


def _entry(entries, cls):
    return next(e for e in entries if e["class_name"] == cls)


@pytest.mark.parametrize("edit,match", [
    (lambda ls: _entry(ls, "GetItem")["inbound_nodes"][0]["args"].__setitem__(1, ["x", 0]), "ints, slices"),
    (lambda ls: _entry(ls, "Reshape")["config"].__setitem__("newshape", [-1, 5]), "cannot reshape"),
    (lambda ls: _entry(ls, "Mean")["config"].__setitem__("axis", 99), "out of bounds"),
    (lambda ls: _entry(ls, "Mean")["config"].__setitem__("bogus", 1), "does not know"),
    (lambda ls: _entry(ls, "Multiply")["inbound_nodes"][0]["args"].__setitem__(
        1, {"class_name": "__numpy__", "config": {"value": [1, 2], "dtype": "complex128"}}), "real numbers"),
    (lambda ls: _entry(ls, "Multiply")["inbound_nodes"][0]["args"].__setitem__(
        1, {"class_name": "__numpy__", "config": {"value": "zz", "dtype": "float32"}}), "cannot read"),
    (lambda ls: _entry(ls, "Multiply")["inbound_nodes"][0].__setitem__("kwargs", {"x": 1}), "node bigcore cannot load"),
    (lambda ls: _entry(ls, "Multiply").__setitem__("class_name", "Conv"), "no bigcore equivalent"),
    (lambda ls: _entry(ls, "GetItem")["inbound_nodes"][0]["args"][0]["config"].__setitem__("shape", None),
     "shape is not in the file"),
])
def test_a_damaged_operation_entry_is_refused(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        bigcore.models.load_model(_mutated(tmp_path, edit))
