"""Subclassed models (a Model subclass with __init__ + call()) in Keras's .keras files, both ways:
the config Keras 3 writes for one (its class, get_config() or the constructor's arguments, the
registered name, build_config's input shape, compile_config) and its weights at the file's root by
attribute (`dense_layers/dense/vars`; Keras's walk meets the `layers` property too, so a layer first
reached there is `layers/<class>`). One model code is written against bigcore and against Keras 3:
the serialization guide's CustomModel, and a model holding a custom layer with sub-layers, a dict,
a nested list, a Dropout and a private attribute. Files written by either load in the other and
predict the same; a compiled model's optimizer state resumes training. A constructor argument no
config can hold is refused at save, as Keras refuses it.
"""

import json
import zipfile

import numpy as np
import pytest

import bigcore
from keras_file_checks import close as _close, h5_layout as _layout
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

h5py = pytest.importorskip("h5py")


def define(lib, register):
    """The models written once against `lib` (bigcore or keras); register: the registering decorator."""
    L, o = lib.layers, lib.ops

    class CustomModel(lib.Model):
        """Keras's serialization guide: a list of Dense layers, get_config / from_config of its own."""

        def __init__(self, hidden_units, **kwargs):
            super().__init__(**kwargs)
            self.hidden_units = hidden_units
            self.dense_layers = [L.Dense(u) for u in hidden_units]

        def call(self, inputs):
            x = inputs
            for layer in self.dense_layers:
                x = layer(x)
            return x

        def get_config(self):
            return {"hidden_units": self.hidden_units}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    class Block(L.Layer):
        """A custom layer with Dense sub-layers and a weight of its own."""

        def __init__(self, dim, **kwargs):
            super().__init__(**kwargs)
            self.dim = dim
            self.proj = L.Dense(dim)
            self.gate = L.Dense(dim, use_bias=False)

        def build(self, input_shape):
            self.alpha = self.add_weight(shape=(self.dim,), initializer="ones", name="alpha")

        def call(self, x):
            return x + self.alpha * self.proj(x) * o.sigmoid(self.gate(x))

        def get_config(self):
            return {**super().get_config(), "dim": self.dim}

    class Nested(lib.Model):
        """No get_config: its config is the constructor's arguments (Keras's auto config). Keras saves
        its own variable in `vars`, `branches` and `block` by attribute; `mlp`, `out` and `_norm`
        sort after the `layers` property, so their layers are saved as layers/dense_2, ...,
        layers/layer_normalization."""

        def __init__(self, units=6, out_units=3, **kwargs):
            super().__init__(**kwargs)
            self.units, self.out_units = units, out_units
            self.branches = {"a": L.Dense(units, activation="tanh"), "b": L.Dense(units)}
            self.block = Block(units)
            self.drop = L.Dropout(0.0)  # no randomness: training steps are compared
            self.mlp = [L.Dense(units, activation="relu"), [L.Dense(units)]]
            self.out = L.Dense(out_units)
            self._norm = L.LayerNormalization()
            self.scale = self.add_weight(shape=(out_units,), initializer="ones", name="scale")  # the model's own

        def call(self, x):
            h = self.branches["a"](x) + self.branches["b"](x)
            h = self.block(self.drop(h))
            h = self.mlp[1][0](self.mlp[0](h))
            return self.out(self._norm(h)) * self.scale

    return tuple(register(c) for c in (CustomModel, Block, Nested))


BIG = define(bigcore, bigcore.saving.register_keras_serializable(package="subcls"))
_KERAS = []


def keras_classes(keras):
    """Keras registers a name once per process: the Keras classes are made on first use."""
    if not _KERAS:
        _KERAS.extend(define(keras, keras.saving.register_keras_serializable(package="subcls")))
    return _KERAS


def make(classes, kind, units=6):
    CustomModel, _, Nested = classes
    return CustomModel([8, 8, 3]) if kind == "guide" else Nested(units)


def _data(n=16):
    rng = np.random.default_rng(3)
    return rng.normal(0, 1, (n, 5)).astype(np.float32), rng.normal(0, 1, (n, 3)).astype(np.float32)


def _randomize(model, seed=7):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.4, np.shape(w)).astype(np.float32) for w in model.get_weights()])


def _archive(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


def _fit(model, x, y, epochs=2):
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, shuffle=False)


@pytest.mark.parametrize("kind", ["guide", "nested"])
def test_bigcore_saved_subclassed_model_loads_in_keras(keras, tmp_path, kind):
    x, y = _data()
    ours = make(BIG, kind, units=7)  # a non-default argument: the auto config records what was passed
    ours(x[:1])
    _randomize(ours)
    ours.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="mse")
    _fit(ours, x, y)
    ours.save(tmp_path / "ours.keras")
    entry = _archive(tmp_path / "ours.keras")
    name = "CustomModel" if kind == "guide" else "Nested"
    assert (entry["class_name"], entry["registered_name"]) == (name, f"subcls>{name}")
    assert entry["build_config"] == {"input_shape": [None, 5]}
    assert entry["compile_config"]["optimizer"]["class_name"] == "Adam"
    if kind == "guide":
        assert entry["config"] == {"hidden_units": [8, 8, 3]}
    else:
        assert (entry["config"]["units"], entry["config"]["out_units"]) == (7, 3)

    classes = keras_classes(keras)
    km = keras.models.load_model(tmp_path / "ours.keras")
    assert type(km) is classes[0 if kind == "guide" else 2]
    _close(km.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert int(km.optimizer.iterations) == ours.optimizer.iterations == 4
    # the optimizer's moments came across: one more step gives the same weights
    km.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(ours.get_weights(), km.get_weights()):
        _close(a, keras.ops.convert_to_numpy(b), atol=1e-5)
    # the weights file path by path as Keras writes it for its own copy of the model
    km.save_weights(tmp_path / "k.weights.h5")
    ours.save_weights(tmp_path / "ours.weights.h5")
    layout = _layout(tmp_path / "ours.weights.h5")
    assert layout == _layout(tmp_path / "k.weights.h5")
    if kind == "guide":
        assert layout["dense_layers/dense_2/vars/0"] == (8, 3)
    else:
        assert layout["vars/0"] == (3,) and layout["block/vars/0"] == (7,) and layout["branches/dense_1/vars/0"] == (5, 7)
        assert layout["layers/dense_4/vars/0"] == (7, 3) and "layers/layer_normalization/vars/1" in layout


@pytest.mark.parametrize("kind", ["guide", "nested"])
def test_keras_saved_subclassed_model_loads_in_bigcore(keras, tmp_path, kind):
    x, y = _data()
    km = make(keras_classes(keras), kind)  # Keras's auto config records the defaults only: none passed here
    km(x[:1])
    _randomize(km)
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    _fit(km, x, y)
    km.save(tmp_path / "k.keras")
    assert _archive(tmp_path / "k.keras")["registered_name"].startswith("subcls>")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    assert type(ours) is BIG[0 if kind == "guide" else 2]
    _close(ours.predict(x, verbose=0), km.predict(x, verbose=0))
    assert ours.optimizer.iterations == int(km.optimizer.iterations) == 4
    km.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(ours.get_weights(), km.get_weights()):
        _close(a, keras.ops.convert_to_numpy(b), atol=1e-5)
    if kind == "nested":  # Keras's .weights.h5 of it loads too
        km.save_weights(tmp_path / "k.weights.h5")
        fresh = make(BIG, kind)
        fresh(x[:1])
        fresh.load_weights(tmp_path / "k.weights.h5")
        _close(fresh.predict(x, verbose=0), km.predict(x, verbose=0))


def test_compiled_subclassed_model_resumes_from_keras_file(tmp_path, seed):
    """bigcore -> .keras -> bigcore: the weights, the optimizer's slots and step count come back, so
    one more step after loading gives the weights one more step without saving gives."""
    x, y = _data()
    model = make(BIG, "nested")
    model.compile(optimizer=bigcore.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    _fit(model, x, y)
    model.save(tmp_path / "m.keras")
    back = bigcore.models.load_model(tmp_path / "m.keras")
    assert type(back) is BIG[2] and back.units == 6 and back.optimizer.iterations == 4
    assert isinstance(back.block, BIG[1]) and isinstance(back.branches["b"], bigcore.layers.Dense)
    _close(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=0)
    _fit(model, x, y, epochs=1)
    _fit(back, x, y, epochs=1)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # without the optimizer's state the same step lands elsewhere (the check above could fail)
    model.save(tmp_path / "bare.keras", include_optimizer=False)
    bare = bigcore.models.load_model(tmp_path / "bare.keras", compile=False)
    bare.compile(optimizer=bigcore.optimizers.Adam(0.02), loss="mse")
    _fit(bare, x, y, epochs=1)
    _fit(model, x, y, epochs=1)
    assert not np.allclose(bare.get_weights()[0], model.get_weights()[0])


class NoArgs(bigcore.Model):
    """Neither arguments nor **kwargs: its config must not pass name / trainable back."""

    def __init__(self):
        super().__init__()
        self.d = bigcore.layers.Dense(2)

    def call(self, x):
        return self.d(x)


def test_subclassed_model_config_errors_and_auto_config(tmp_path):
    x = _data()[0][:2]

    class TakesALayer(bigcore.Model):  # no get_config, and a constructor argument no config holds
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    model = TakesALayer(bigcore.layers.Dense(2))
    model(x)
    path = tmp_path / "bad.keras"
    with pytest.raises(NotImplementedError, match=r"bad\.keras.*TakesALayer.*inner.*get_config"):
        model.save(path)
    assert not path.exists()

    model = NoArgs()
    model(x)
    model.save(tmp_path / "noargs.keras")
    assert _archive(tmp_path / "noargs.keras")["config"] == {}
    back = bigcore.models.load_model(tmp_path / "noargs.keras", custom_objects={"NoArgs": NoArgs})
    _close(back.predict(x, verbose=0), model.predict(x, verbose=0))
    # a class the loader does not know is refused by name
    with pytest.raises(ValueError, match=r"noargs\.keras.*subclassed model 'NoArgs'.*custom_objects"):
        bigcore.models.load_model(tmp_path / "noargs.keras")


def test_subclassed_model_without_constructor_arguments_loads_in_keras(keras, tmp_path):
    x = _data()[0][:2]
    model = NoArgs()
    model(x)
    _randomize(model)
    model.save(tmp_path / "noargs.keras")

    class KNoArgs(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    km = keras.models.load_model(tmp_path / "noargs.keras", custom_objects={"NoArgs": KNoArgs})
    _close(km.predict(x, verbose=0), model.predict(x, verbose=0))


def test_subclassed_model_on_a_dict_of_inputs_both_ways(keras, tmp_path):
    """build_config holds a dict of input shapes; each side builds the model from it."""
    def define_two(lib):
        class TwoInputs(lib.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.p, self.q = lib.layers.Dense(4), lib.layers.Dense(4, activation="tanh")

            def call(self, inputs):
                return self.p(inputs["a"]) * self.q(inputs["b"])
        return TwoInputs

    rng = np.random.default_rng(5)
    x = {"a": rng.normal(size=(3, 5)).astype(np.float32), "b": rng.normal(size=(3, 2)).astype(np.float32)}
    ours_cls, keras_cls = define_two(bigcore), define_two(keras)
    ours = ours_cls()
    ours(x)
    _randomize(ours)
    ours.save(tmp_path / "ours.keras")
    assert _archive(tmp_path / "ours.keras")["build_config"] == {"input_shape": {"a": [None, 5], "b": [None, 2]}}
    km = keras.models.load_model(tmp_path / "ours.keras", custom_objects={"TwoInputs": keras_cls})
    _close(keras.ops.convert_to_numpy(km(x)), ours.predict(x, verbose=0))
    km.set_weights([w * 0.5 for w in ours.get_weights()])
    km.save(tmp_path / "k.keras")
    back = bigcore.models.load_model(tmp_path / "k.keras", custom_objects={"TwoInputs": ours_cls})
    _close(back.predict(x, verbose=0), keras.ops.convert_to_numpy(km(x)))
    assert not np.allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0))
