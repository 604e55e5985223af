"""Keras's object plumbing that custom layers and programs lean on: InputSpec (checked at every
symbolic call, with Keras's messages), layers.serialize / deserialize and
saving.serialize_keras_object / deserialize_keras_object (Keras's dict form, both ways with Keras 3),
and utils.get_source_inputs."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, saving, utils
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)  # Keras's torch variables and NumPy 2


class _Spec(layers.Layer):
    """A custom layer that declares what it accepts, in __init__ (Keras's idiom)."""

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, x):
        return x * 2.0


@pytest.mark.parametrize("spec,shape,match", [
    (dict(ndim=3), (4,), "expected ndim=3, found ndim=2"),
    (dict(min_ndim=3), (4,), "expected min_ndim=3"),
    (dict(max_ndim=2), (4, 5), "expected max_ndim=2"),
    (dict(axes={-1: 8}), (4, 5), "expected axis -1 of input shape to have value 8"),
    (dict(shape=(None, 4, 6)), (4, 5), "expected shape=\\(None, 4, 6\\)"),
])
def test_input_spec_refuses_what_the_layer_does_not_take(spec, shape, match):
    with pytest.raises(ValueError, match=match):
        _Spec(bigcore.InputSpec(**spec))(bigcore.Input(shape))


def test_input_spec_accepts_what_fits_and_checks_built_in_layers_too():
    ok = _Spec(layers.InputSpec(ndim=3, axes={-1: 5}))(bigcore.Input((4, 5)))
    assert ok.shape == (None, 4, 5)
    squeeze = _Spec(layers.InputSpec(shape=(None, 4, 1), allow_last_axis_squeeze=True))
    assert squeeze(bigcore.Input((4,))).shape == (None, 4)
    dense = layers.Dense(3)
    dense.input_spec = layers.InputSpec(min_ndim=3)
    with pytest.raises(ValueError, match="min_ndim=3"):
        dense(bigcore.Input((4,)))
    pair = _Spec([layers.InputSpec(ndim=2), layers.InputSpec(ndim=2)])
    with pytest.raises(ValueError, match="expects 2 input"):
        pair([bigcore.Input((4,))] * 3)
    # on arrays too (the eager call builds a one-layer model of symbolic inputs)
    with pytest.raises(ValueError, match="expected ndim=3"):
        _Spec(layers.InputSpec(ndim=3))(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="integer keys"):
        layers.InputSpec(axes={"a": 1})


@bigcore.saving.register_keras_serializable(package="objects_test")
class _Wrapper(layers.Layer):
    """Keras's wrapper idiom: a sublayer kept in the config by layers.serialize / deserialize."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner if isinstance(inner, layers.Layer) else layers.deserialize(inner)

    def call(self, x):
        return self.inner(x) + 1.0

    def get_config(self):
        return {**super().get_config(), "inner": layers.serialize(self.inner)}


def test_a_wrapper_layer_round_trips_its_sublayer_through_a_file(tmp_path):
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, _Wrapper(layers.Dense(3, activation="tanh"))(inp))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model.save(tmp_path / "w.keras")
    again = bigcore.saving.load_model(tmp_path / "w.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    conf = layers.serialize(layers.Dense(3, name="d"))
    assert conf["module"] == "keras.layers" and conf["class_name"] == "Dense" and conf["config"]["units"] == 3
    assert layers.deserialize(conf).get_config() == layers.Dense(3, name="d").get_config()


OBJECTS = [lambda lib: lib.layers.Dense(3, activation="relu", name="dense_x"), lambda lib: lib.losses.Huber(delta=2.0),
           lambda lib: lib.optimizers.Adam(0.01), lambda lib: lib.initializers.HeNormal(seed=3),
           lambda lib: lib.regularizers.L2(0.1), lambda lib: lib.constraints.MaxNorm(2.0),
           lambda lib: lib.metrics.MeanIoU(num_classes=3)]


@pytest.mark.parametrize("make", OBJECTS)
def test_serialized_objects_round_trip_and_read_keras_ones(keras, make):
    ours = make(bigcore)
    conf = saving.serialize_keras_object(ours)
    back = saving.deserialize_keras_object(conf)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()
    # Keras 3's dict of the same object rebuilds ours; ours rebuilds Keras's
    theirs_conf = keras.saving.serialize_keras_object(make(keras))
    from_keras = saving.deserialize_keras_object(theirs_conf)
    assert type(from_keras) is type(ours)
    to_keras = keras.saving.deserialize_keras_object(conf)
    assert type(to_keras).__name__ == type(ours).__name__


def test_functions_and_plain_values():
    assert saving.deserialize_keras_object(saving.serialize_keras_object(bigcore.activations.relu)) is \
        bigcore.activations.relu
    assert saving.deserialize_keras_object(saving.serialize_keras_object([1, "a", None, 2.5])) == [1, "a", None, 2.5]
    assert utils.serialize_keras_object is saving.serialize_keras_object
    with pytest.raises(TypeError, match="cannot serialize"):
        saving.serialize_keras_object(object())
    with pytest.raises(TypeError, match="neither a Keras activation"):
        saving.serialize_keras_object(lambda x: x)
    with pytest.raises(ValueError, match="unknown loss class"):
        saving.deserialize_keras_object({"module": "keras.losses", "class_name": "NoSuchLoss", "config": {}})


def test_get_source_inputs():
    a, b, c = bigcore.Input((3,)), bigcore.Input((4,)), bigcore.Input((2,))
    h = layers.Concatenate()([layers.Dense(2)(a), b, layers.Dense(2)(a)])
    got = utils.get_source_inputs(layers.Dense(1)(h))
    assert len(got) == 2 and got[0] is a and got[1] is b
    assert utils.get_source_inputs(c) == [c]
    with pytest.raises(TypeError, match="symbolic tensor"):
        utils.get_source_inputs(np.zeros(3))
