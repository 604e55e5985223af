"""Custom layers in Keras's files, both ways: one layer code written against bigcore and against
Keras 3 (build / add_weight / call, get_config with its own arguments, registered under
"demo>..."), inside functional and Sequential models. Keras-saved .keras / .weights.h5 files load
in bigcore and predict what Keras predicts; bigcore-saved ones load in Keras and predict the same;
custom_objects stands in for registration; a class neither registered nor given is refused by
name, and a module named in the file is never imported. A custom layer holding Dense sub-layers
(as attributes and in a list) keeps Keras's nested weight paths (layers/<name>/<attribute>/vars).
"""

import json
import sys
import zipfile

import numpy as np
import pytest

import bigcore
from keras_file_checks import close as _close, h5_layout as _layout
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

h5py = pytest.importorskip("h5py")


def define(lib, register):
    """The demo layers written once against `lib` (bigcore or keras); register: the registering
    decorator, or None for classes found only through custom_objects."""
    o, L = lib.ops, lib.layers

    class ScaleShift(L.Layer):
        """tanh(x K + b) * gain * factor; the non-trainable gain is created first (Keras saves the
        trainable variables first whatever the creation order)."""

        def __init__(self, units, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.factor = units, factor

        def build(self, input_shape):
            self.gain = self.add_weight(shape=(self.units,), initializer="ones", trainable=False, name="gain")
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                          name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, x):
            return o.tanh(o.matmul(x, self.kernel) + self.bias) * self.gain * self.factor

        def get_config(self):
            return {**super().get_config(), "units": self.units, "factor": self.factor}

    class GatedBlock(L.Layer):
        """x + alpha * proj(x) * sigmoid(gate(x)), then an MLP held in a list: Dense sub-layers as
        attributes (set in the order proj, gate; Keras saves them sorted: gate, proj) and in a list."""

        def __init__(self, dim, hidden, **kwargs):
            super().__init__(**kwargs)
            self.dim, self.hidden = dim, hidden
            self.proj = L.Dense(dim)
            self.gate = L.Dense(dim, use_bias=False)
            self.mlp = [L.Dense(hidden, activation="relu"), L.Dense(dim)]

        def build(self, input_shape):
            self.alpha = self.add_weight(shape=(self.dim,), initializer="ones", name="alpha")

        def call(self, x):
            h = x + self.alpha * self.proj(x) * o.sigmoid(self.gate(x))
            for layer in self.mlp:
                h = layer(h)
            return h

        def get_config(self):
            return {**super().get_config(), "dim": self.dim, "hidden": self.hidden}

    if register is not None:
        ScaleShift, GatedBlock = register(ScaleShift), register(GatedBlock)
    return ScaleShift, GatedBlock


BIG = define(bigcore, bigcore.saving.register_keras_serializable(package="demo"))
BIG_PLAIN = define(bigcore, None)
_KERAS = {}


def keras_classes(keras, registered=True):
    """Keras registers a name once per process: the Keras classes are made on first use."""
    if not _KERAS:
        _KERAS[True] = define(keras, keras.saving.register_keras_serializable(package="demo"))
        _KERAS[False] = define(keras, None)
    return _KERAS[registered]


def build(lib, classes, kind):
    ScaleShift, GatedBlock = classes
    if kind == "functional":
        x = lib.Input((6,), name="x")
        h = ScaleShift(8, factor=1.5, name="scale_shift")(x)
        h = GatedBlock(8, 5, name="gated")(h)
        y = lib.layers.Dense(3, activation="softmax", name="head")(h)
        return lib.Model(x, y)
    return lib.Sequential([lib.Input((6,)), ScaleShift(8, factor=0.5), GatedBlock(8, 4), lib.layers.Dense(2)],
                          name="seq")


def _data(kind, n=16):
    rng = np.random.default_rng(3)
    return rng.normal(0, 1, (n, 6)).astype(np.float32), rng.integers(0, 3 if kind == "functional" else 2, n)


def _randomize(model, seed=7):
    """Weights other than the initial ones (the non-trainable gain included)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, np.shape(w)).astype(np.float32) for w in model.get_weights()])


def _compile(lib, model, kind):
    loss = "sparse_categorical_crossentropy" if kind == "functional" else \
        lib.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss=loss)


def _one_more_step(km, ours, x, y):
    km.fit(x, y, epochs=1, batch_size=len(y), verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=len(y), verbose=0, shuffle=False)
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_keras_saved_archive_with_custom_layers_loads_in_bigcore(keras, tmp_path, kind):
    km = build(keras, keras_classes(keras), kind)
    _randomize(km)
    _compile(keras, km, kind)
    x, y = _data(kind)
    km.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    with zipfile.ZipFile(tmp_path / "k.keras") as zf:
        names = [e.get("registered_name") for e in json.loads(zf.read("config.json"))["config"]["layers"]]
    assert "demo>ScaleShift" in names and "demo>GatedBlock" in names
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    scale, gated = ours.layers[0 if kind == "sequential" else 1], ours.layers[1 if kind == "sequential" else 2]
    assert isinstance(scale, BIG[0]) and isinstance(gated, BIG[1])
    assert (scale.units, scale.factor) == (8, 1.5 if kind == "functional" else 0.5)
    assert (gated.dim, gated.hidden) == (8, 5 if kind == "functional" else 4)
    _close(scale.gain.numpy(), keras.ops.convert_to_numpy(km.get_layer(scale.name).gain.value))
    assert ours.optimizer.iterations == int(km.optimizer.iterations) == 4
    _one_more_step(km, ours, x, y)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_bigcore_saved_archive_with_custom_layers_loads_in_keras(keras, tmp_path, kind):
    bigcore.utils.set_random_seed(2)
    ours = build(bigcore, BIG, kind)
    _randomize(ours)
    _compile(bigcore, ours, kind)
    x, y = _data(kind)
    ours.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    ours.save(tmp_path / "ours.keras")
    keras_classes(keras)  # the Keras classes registered under the same names
    km = keras.models.load_model(tmp_path / "ours.keras")
    assert [type(layer).__name__ for layer in km.layers][-3:] == ["ScaleShift", "GatedBlock", "Dense"]
    assert type(km.layers[-3]) is keras_classes(keras)[0] and km.layers[-3].factor == ours.layers[-3].factor
    _close(km.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert int(km.optimizer.iterations) == ours.optimizer.iterations == 4
    _one_more_step(km, ours, x, y)
    # and back: the Keras model saved again loads in bigcore
    km.save(tmp_path / "again.keras")
    _close(bigcore.models.load_model(tmp_path / "again.keras").predict(x, verbose=0), km.predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_weights_h5_with_nested_sublayers_both_ways(keras, tmp_path, kind):
    km = build(keras, keras_classes(keras), kind)
    _randomize(km, seed=11)
    km.save_weights(tmp_path / "k.weights.h5")
    ours = build(bigcore, BIG, kind)
    ours.load_weights(tmp_path / "k.weights.h5")
    x, _ = _data(kind)
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    ours.save_weights(tmp_path / "ours.weights.h5")
    # the same file layout, path by path: nested Dense sub-layers under the attribute's name
    layout = _layout(tmp_path / "ours.weights.h5")
    assert layout == _layout(tmp_path / "k.weights.h5")
    top = "layers/gated_block"  # Keras names a layer by its class, whatever its name
    for sub in ("gate/vars/0", "proj/vars/0", "proj/vars/1", "mlp/dense/vars/0", "mlp/dense_1/vars/1", "vars/0"):
        assert f"{top}/{sub}" in layout, sub
    assert layout["layers/scale_shift/vars/0"] == (6, 8) and layout["layers/scale_shift/vars/2"] == (8,)
    assert f"{top}/gate/vars/1" not in layout  # gate has no bias
    # bigcore -> Keras
    _randomize(ours, seed=12)
    ours.save_weights(tmp_path / "ours.weights.h5")
    k2 = build(keras, keras_classes(keras), kind)
    k2.load_weights(tmp_path / "ours.weights.h5")
    _close(k2.predict(x, verbose=0), ours.predict(x, verbose=0))
    scale = ours.layers[0 if kind == "sequential" else 1]
    _close(keras.ops.convert_to_numpy(k2.get_layer(scale.name).gain.value) if kind == "functional"
           else keras.ops.convert_to_numpy(k2.layers[0].gain.value), scale.gain.numpy())


def test_weights_h5_from_another_architecture_is_refused(keras, tmp_path):
    km = build(keras, keras_classes(keras), "functional")
    km.save_weights(tmp_path / "k.weights.h5")
    ScaleShift, _ = BIG
    x = bigcore.Input((6,))
    other = bigcore.Model(x, bigcore.layers.Dense(3)(ScaleShift(8)(x)))
    with pytest.raises(ValueError, match=r"k\.weights\.h5.*gated_block"):
        other.load_weights(tmp_path / "k.weights.h5")


def test_custom_objects_instead_of_registration(keras, tmp_path):
    x, _ = _data("functional")
    km = build(keras, keras_classes(keras, registered=False), "functional")
    _randomize(km, seed=5)
    km.save(tmp_path / "plain.keras")
    given = {"ScaleShift": BIG_PLAIN[0], "GatedBlock": BIG_PLAIN[1]}
    ours = bigcore.models.load_model(tmp_path / "plain.keras", custom_objects=given)
    assert type(ours.get_layer("gated")) is BIG_PLAIN[1]
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    # bigcore -> Keras with custom_objects on the Keras side
    _randomize(ours, seed=6)
    ours.save(tmp_path / "ours_plain.keras")
    with zipfile.ZipFile(tmp_path / "ours_plain.keras") as zf:
        entries = json.loads(zf.read("config.json"))["config"]["layers"]
    assert {e["class_name"]: e["registered_name"] for e in entries}["GatedBlock"] == "GatedBlock"  # as Keras writes it
    plain_k = keras_classes(keras, registered=False)
    k2 = keras.models.load_model(tmp_path / "ours_plain.keras",
                                 custom_objects={"ScaleShift": plain_k[0], "GatedBlock": plain_k[1]})
    _close(k2.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_class_neither_registered_nor_given_is_refused_by_name(keras, tmp_path):
    km = build(keras, keras_classes(keras, registered=False), "functional")
    km.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match=r"plain\.keras.*'ScaleShift'.*custom_objects"):
        bigcore.models.load_model(tmp_path / "plain.keras")
    # a registered Keras name bigcore does not have ("demo>..." of another package) is refused too
    with zipfile.ZipFile(tmp_path / "plain.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    probe = "kc_hostile_probe_module"
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "GatedBlock":
            entry.update(class_name="Unheard", registered_name="other>Unheard", module=probe)
    members["config.json"] = json.dumps(config).encode()
    (tmp_path / probe).mkdir()
    (tmp_path / f"{probe}.py").write_text("raise SystemExit('imported')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with zipfile.ZipFile(tmp_path / "hostile.keras", "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        given = {"ScaleShift": BIG_PLAIN[0], "GatedBlock": BIG_PLAIN[1]}
        with pytest.raises(ValueError, match=rf"hostile\.keras.*'Unheard'.*{probe}.*custom_objects"):
            bigcore.models.load_model(tmp_path / "hostile.keras", custom_objects=given)
        assert probe not in sys.modules  # the file's module name is never imported
    finally:
        sys.path.remove(str(tmp_path))


def _encoder(lib):
    """A custom layer holding a recurrent sub-layer: Keras nests its cell (layers/<name>/rnn/cell/vars)."""
    class Encoder(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.rnn = lib.layers.LSTM(units, return_sequences=True)
            self.out = lib.layers.Dense(units, activation="tanh")

        def call(self, x):
            return self.out(lib.ops.mean(self.rnn(x), axis=1))

    x = lib.Input((5, 3))
    return lib.Model(x, lib.layers.Dense(2)(Encoder(4, name="enc")(x)))


def test_weights_h5_of_a_custom_layer_holding_an_lstm_both_ways(keras, tmp_path):
    km, ours = _encoder(keras), _encoder(bigcore)
    _randomize(km, seed=21)
    km.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    x = np.random.default_rng(4).normal(size=(6, 5, 3)).astype(np.float32)
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    ours.save_weights(tmp_path / "ours.weights.h5")
    layout = _layout(tmp_path / "ours.weights.h5")
    assert layout == _layout(tmp_path / "k.weights.h5")
    assert layout["layers/encoder/rnn/cell/vars/1"] == (4, 16) and "layers/encoder/out/vars/0" in layout
    _randomize(ours, seed=22)
    ours.save_weights(tmp_path / "ours.weights.h5")
    km.load_weights(tmp_path / "ours.weights.h5")
    _close(km.predict(x, verbose=0), ours.predict(x, verbose=0))
