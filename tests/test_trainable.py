"""layer.trainable as Keras 3 sets it (the layer, the weights it created trainable, every sub-layer),
taken by the next fit / train_on_batch without losing the optimizer's state; and models used as
layers (a Sequential or functional model inside another: transfer learning, augmentation blocks)
through get_config, .bigcore, .keras and .weights.h5 files, both ways with Keras."""

import io
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def _data(n=32, d=6, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, k)).astype(np.float32)


def _counts(model):
    return len(model.trainable_weights), len(model.non_trainable_weights)


def test_freezing_after_fit_stops_the_updates_and_unfreezing_resumes_them(seed):
    x, y = _data()
    inp = bigcore.Input((6,))
    first = layers.Dense(5, activation="tanh")
    out = layers.Dense(2)(first(inp))
    model = bigcore.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    first.trainable = False
    assert _counts(model) == (2, 2) and first.trainable_weights == [] and len(first.non_trainable_weights) == 2
    frozen = [w.copy() for w in first.get_weights()]
    head = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for a, b in zip(frozen, first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.abs(model.layers[-1].get_weights()[0] - head).max() > 0  # the rest still trains
    first.trainable = True
    assert _counts(model) == (4, 0)
    model.train_on_batch(x, y)
    assert np.abs(first.get_weights()[0] - frozen[0]).max() > 0


def test_a_frozen_inner_model_freezes_its_layers_and_batchnorm(seed):
    x, y = _data()
    bi = bigcore.Input((6,))
    bn = layers.BatchNormalization()
    base = bigcore.Model(bi, layers.Dense(4, activation="relu")(bn(bi)), name="base")
    base.trainable = False
    assert all(not layer.trainable for layer in base.layers) and base.trainable_weights == []
    inp = bigcore.Input((6,))
    model = bigcore.Model(inp, layers.Dense(2)(base(inp)))
    assert _counts(model) == (2, 6)
    before = base.get_weights()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x * 3 + 1, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(before, base.get_weights()):  # gamma, beta, kernel and the moving statistics
        np.testing.assert_array_equal(a, b)
    base.trainable = True  # BatchNormalization's ops change: the model is lowered again
    assert _counts(model) == (6, 2)
    model.fit(x * 3 + 1, y, epochs=1, batch_size=8, verbose=0)
    moved = [np.abs(a - b).max() > 0 for a, b in zip(before, base.get_weights())]
    assert all(moved)


def test_a_layer_made_trainable_under_a_frozen_model_stays_frozen(seed):
    """Keras: a model that is not trainable has no trainable weights, whatever its layers say."""
    x, y = _data()
    inner = bigcore.Sequential([layers.Dense(3)], name="inner")
    inp = bigcore.Input((6,))
    model = bigcore.Model(inp, layers.Dense(2)(inner(inp)))
    inner.trainable = False
    inner.layers[0].trainable = True
    assert inner.trainable_weights == [] and _counts(model) == (2, 2)
    model.compile(optimizer="sgd", loss="mse")
    w = inner.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(w[0], inner.get_weights()[0])


def test_an_unbuilt_sequential_and_wrappers_freeze_their_layers(seed):
    seq = bigcore.Sequential([layers.Dense(3), layers.Dense(2)])
    seq.trainable = False  # before it has inputs: Keras reaches the layers it holds
    assert [layer.trainable for layer in seq.layers] == [False, False]
    x, y = _data(8, 4)
    seq.compile(optimizer="sgd", loss="mse")
    seq.fit(x, y, verbose=0)
    assert _counts(seq) == (0, 4)
    bidi, td = layers.Bidirectional(layers.LSTM(3)), layers.TimeDistributed(layers.Dense(2))
    model = bigcore.Sequential([bigcore.Input((5, 4)), bidi, layers.RepeatVector(2), td])
    bidi.trainable = td.trainable = False
    assert _counts(model) == (0, 8)


def test_frozen_steps_match_keras(keras, seed):
    """Adam, three steps: all trainable, one layer frozen, unfrozen again (its moments kept from the
    first step, the bias correction counting every step): the same weights as Keras after each."""
    x, y = _data(16)
    ours_first, keras_first = layers.Dense(5, activation="tanh"), keras.layers.Dense(5, activation="tanh")
    inp, kinp = bigcore.Input((6,)), keras.Input((6,))
    ours = bigcore.Model(inp, layers.Dense(2)(ours_first(inp)))
    theirs = keras.Model(kinp, keras.layers.Dense(2)(keras_first(kinp)))
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=bigcore.optimizers.Adam(0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    for trainable in (True, False, True):
        ours_first.trainable = keras_first.trainable = trainable
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


# --- models used as layers ---------------------------------------------------------------------

def _nested(seed_value=0):
    bigcore.utils.set_random_seed(seed_value)
    aug = bigcore.Sequential([layers.Dense(6, activation="relu"), layers.Dense(6)], name="aug")
    bi = bigcore.Input((6,))
    base = bigcore.Model(bi, layers.Dense(4, activation="tanh")(layers.BatchNormalization()(bi)), name="base")
    base.trainable = False
    inp = bigcore.Input((5,))
    out = layers.Dense(2, activation="softmax")(base(aug(layers.Dense(6)(inp))))
    model = bigcore.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_models_inside_a_model_round_trip(tmp_path, seed):
    model = _nested()
    x = np.random.default_rng(1).normal(size=(16, 5)).astype(np.float32)
    model.fit(x, np.arange(16) % 2, epochs=1, verbose=0)
    want = model.predict(x, verbose=0)
    for suffix in (bigcore.saving.MODEL_SUFFIX, ".keras"):
        path = str(tmp_path / ("m" + suffix))
        model.save(path)
        back = bigcore.models.load_model(path)
        np.testing.assert_array_equal(back.predict(x, verbose=0), want)
        assert [type(layer).__name__ for layer in back.layers] == [type(layer).__name__ for layer in model.layers]
        assert _counts(back) == _counts(model) == (8, 6)
    clone = bigcore.Model.from_config(model.get_config())
    model.save_weights(str(tmp_path / "w.weights.h5"))
    clone.load_weights(str(tmp_path / "w.weights.h5"))
    np.testing.assert_array_equal(clone.predict(x, verbose=0), want)
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        names = _h5_datasets(z.read("model.weights.h5"))
    assert "layers/sequential/layers/dense_1/vars/0" in names  # Keras's layout: the inner model's own layers
    assert "layers/functional/layers/batch_normalization/vars/3" in names


def _h5_datasets(data):
    h5py = pytest.importorskip("h5py")
    out = []
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_models_inside_a_model_both_ways_with_keras(keras, tmp_path, seed):
    x = np.random.default_rng(2).normal(size=(12, 5)).astype(np.float32)
    model = _nested()
    model.fit(x, np.arange(12) % 2, epochs=1, verbose=0)
    model.save(tmp_path / "o.keras")
    theirs = keras.models.load_model(tmp_path / "o.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert (len(theirs.trainable_weights), len(theirs.non_trainable_weights)) == _counts(model)
    assert [type(layer).__name__ for layer in theirs.layers][2:4] == ["Sequential", "Functional"]

    kaug = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)], name="kaug")
    kbi = keras.Input((3,))
    kbase = keras.Model(kbi, keras.layers.Dense(2)(kbi), name="kbase")
    kin = keras.Input((5,))
    km = keras.Model(kin, keras.layers.Dense(1)(kbase(kaug(kin))))
    kbase.trainable = False
    km.compile(optimizer="adam", loss="mse")
    km.save(tmp_path / "k.keras")
    ours = bigcore.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert _counts(ours) == (len(km.trainable_weights), len(km.non_trainable_weights)) == (6, 2)


def _gan(lib):
    # (no bias before BatchNormalization: its gradient is round-off, which Adam scales up differently
    # in each framework)
    gen = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh")], name="gen")
    disc = lib.Sequential([lib.Input((4,)), lib.layers.Dense(5, use_bias=False), lib.layers.BatchNormalization(),
                           lib.layers.Activation("relu"), lib.layers.Dense(1, activation="sigmoid")], name="disc")
    disc.compile(optimizer=lib.optimizers.Adam(0.01), loss="binary_crossentropy")
    disc.trainable = False
    z = lib.Input((3,))
    gan = lib.Model(z, disc(gen(z)))
    gan.compile(optimizer=lib.optimizers.Adam(0.01), loss="binary_crossentropy")
    return gen, disc, gan


def test_a_discriminator_frozen_and_thawed_every_step_matches_keras(keras, seed):
    """The DCGAN recipe: the discriminator (with BatchNormalization) trains on its own, then is frozen
    inside the combined model for the generator's step, every step. Each toggle keeps both
    optimizers' state and BatchNormalization's mode follows: the same weights as Keras 3 after each."""
    rng = np.random.default_rng(3)
    ours, theirs = _gan(bigcore), _gan(keras)
    for o, t in zip(ours, theirs):
        t.set_weights(o.get_weights())
    for step in range(3):
        z = rng.normal(size=(8, 3)).astype(np.float32)
        xb = np.concatenate([rng.normal(1.0, 0.5, (8, 4)), np.tanh(rng.normal(size=(8, 4)))]).astype(np.float32)
        yb = np.concatenate([np.ones((8, 1)), np.zeros((8, 1))]).astype(np.float32)
        for gen, disc, gan in (ours, theirs):
            disc.trainable = True
            disc.train_on_batch(xb, yb)
            disc.trainable = False
            gan.train_on_batch(z, np.ones((8, 1), np.float32))
        for o, t in zip(ours, theirs):
            for a, b in zip(o.get_weights(), t.get_weights()):
                np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5, err_msg=f"step {step}")


def test_a_frozen_subclassed_block_saves_and_loads(tmp_path, seed):
    """A Model subclass used as a layer, frozen after training: its config's trainable=False is read
    back (it was refused), the optimizer's saved variables are those of the trainable weights, and
    summary counts what trainable_weights gives."""
    class Block(bigcore.Model):
        def __init__(self, units=6, **kw):
            super().__init__(**kw)
            self.units = units
            self.d1, self.d2 = layers.Dense(units, activation="relu"), layers.Dense(units)

        def call(self, x):
            return x + self.d2(self.d1(x))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    x, y = _data(16, 6, 1)
    inp = bigcore.Input((6,))
    block = Block()
    model = bigcore.Model(inp, layers.Dense(1)(block(inp)))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, verbose=0)
    block.trainable = False
    model.fit(x, y, verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 7 " in lines[0]
    for suffix in (".keras", bigcore.saving.MODEL_SUFFIX):
        path = str(tmp_path / ("m" + suffix))
        model.save(path)
        back = bigcore.models.load_model(path, custom_objects={"Block": Block})
        np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
        assert _counts(back) == (2, 4)
