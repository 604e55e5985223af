"""keras.layers.Wrapper, the base class of a layer wrapping another: a subclass's call() is traced
as any custom layer's; the wrapped layer's weights are its own, built for the wrapper's input."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def _classes(k):
    class Doubled(k.layers.Wrapper):
        def call(self, inputs):
            return self.layer(inputs) * 2.0

    class Residual(k.layers.Wrapper):
        def call(self, inputs, training=None):
            return inputs + self.layer(inputs, training=training)

    return Doubled, Residual


Doubled, Residual = _classes(bigcore)
bigcore.saving.register_keras_serializable("test_wrapper_base")(Doubled)
bigcore.saving.register_keras_serializable("test_wrapper_base")(Residual)


def _models(k, D, R):
    inner = k.Sequential([k.layers.Dense(5, activation="relu"), k.layers.Dropout(0.0), k.layers.Dense(5)])
    return k.Sequential([k.Input((5,)), D(k.layers.Dense(5, activation="tanh")), R(inner), k.layers.Dense(3)])


def test_custom_wrappers_train_as_in_keras(keras, tmp_path, seed):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    km, ours = _models(keras, *_classes(keras)), _models(bigcore, Doubled, Residual)
    assert [w.shape for w in ours.weights] == [tuple(w.shape) for w in km.weights]
    ours.set_weights([w.value.detach().cpu().numpy() for w in km.weights])
    np.testing.assert_allclose(ours.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    km.compile(keras.optimizers.Adam(0.01), "mse")
    ours.compile(bigcore.optimizers.Adam(0.01), "mse")
    km.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    ours.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(ours.get_weights(), km.weights):
        np.testing.assert_allclose(a, b.value.detach().cpu().numpy(), rtol=1e-4, atol=1e-5)
    ours.save(tmp_path / "w.keras")
    again = bigcore.models.load_model(tmp_path / "w.keras")
    assert isinstance(again.layers[0], layers.Wrapper) and type(again.layers[1]) is Residual
    np.testing.assert_array_equal(again.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_wrapper_builds_its_layer_and_refuses_a_non_layer():
    w = Doubled(layers.Dense(4))
    w.build((None, 3))
    assert w.layer.built and [v.shape for v in w.weights] == [(3, 4), (4,)]
    assert w.get_config()["layer"]["class_name"] == "Dense"
    with pytest.raises(ValueError, match="supplied to Wrapper isn't a supported layer type"):
        Doubled("dense")


def test_time_distributed_is_a_wrapper_and_bidirectional_is_not_as_in_keras(keras):
    # Keras 3: class TimeDistributed(Wrapper), but class Bidirectional(Layer)
    for k in (keras, bigcore):
        td, bi = k.layers.TimeDistributed(k.layers.Dense(4)), k.layers.Bidirectional(k.layers.LSTM(3))
        assert isinstance(td, k.layers.Wrapper) and not isinstance(bi, k.layers.Wrapper)
    td = layers.TimeDistributed(layers.Dense(4))
    assert td.get_config()["layer"]["class_name"] == "Dense"
    td2 = layers.TimeDistributed.from_config(td.get_config())
    assert type(td2) is layers.TimeDistributed and type(td2.layer) is layers.Dense and td2.layer.units == 4
    with pytest.raises(ValueError, match="initialize `TimeDistributed` layer"):  # its own message, before Wrapper's
        layers.TimeDistributed("dense")
