"""The checks the image augmentation tests share: a random layer is the identity in predict (in bigcore
and Keras) with Keras's config; its seeded draws are the same bits on 1 and 2 threads and differ for
another seed; a small CNN behind augmentation layers learns, and its .keras file loads back the same
(in bigcore, and in Keras where Keras can load it)."""

import json

import numpy as np

import bigcore
from bigcore import layers


def identity_in_predict_and_config_as_keras(keras, make, x, libs=None):
    """make(layers module) -> a layer. A Sequential of Input(x's image shape) and the layer predicts x
    itself in each of libs (bigcore and keras by default); its config, less name and dtype, is Keras's;
    from_config(get_config()) gives the same config back."""
    for lib in (bigcore, keras) if libs is None else libs:
        m = lib.Sequential([lib.Input(x.shape[1:]), make(lib.layers)])
        np.testing.assert_array_equal(np.asarray(m.predict(x, verbose=0)), x)
    ours, theirs = make(bigcore.layers).get_config(), make(keras.layers).get_config()
    for cfg in (ours, theirs):
        cfg.pop("name"), cfg.pop("dtype", None)
    assert ours == theirs
    layer = make(bigcore.layers)
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def _same_padded_conv(inp):
    return layers.Conv2D(3, 3, padding="same")(inp)


def seeded_reproducible_and_thread_invariant(make, x, before_layer=_same_padded_conv):
    """Input(x's image shape) -> before_layer (a Conv2D, 3 filters, "same" padding by default) -> the
    layer make() gives -> Flatten, one SGD step towards zeros: the layer's training output on x and the
    weights are the same bits on 1 and 2 threads and for the same seed again; another seed draws
    otherwise."""

    def run(threads, seed):
        before = bigcore.config.get_num_threads()
        bigcore.config.set_num_threads(threads)
        try:
            bigcore.utils.set_random_seed(seed)
            layer = make()
            inp = bigcore.Input(x.shape[1:])
            model = bigcore.Model(inp, layers.Flatten()(layer(before_layer(inp))))
            model.compile(optimizer=bigcore.optimizers.SGD(1e-3), loss="mse")
            model.train_on_batch(x, np.zeros_like(model.predict(x, verbose=0)))
            return np.asarray(layer(x, training=True)).tobytes() + b"".join(w.tobytes() for w in model.get_weights())
        finally:
            bigcore.config.set_num_threads(before)

    a = run(1, 0)
    assert a == run(2, 0), "1 and 2 threads differ"
    assert a == run(1, 0), "the same seed draws otherwise"
    assert a != run(1, 1), "another seed draws the same"


def classed_images(size):
    """The global seed set to 0, then 64 images size x size x 3 in [0, 0.7) (NumPy seed 0) whose
    class (0 or 1) adds 0.3 to the red channel, and the classes."""
    bigcore.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64).astype(np.float32)
    x = (0.7 * rng.random((64, size, size, 3))).astype(np.float32)
    x[:, :, :, 0] += 0.3 * y[:, None, None]  # the class is the red channel's level
    return x, y


def learns(model, x, y):
    """Compiled with Adam(0.01) and binary crossentropy and fitted 12 epochs (16 a batch, no shuffling),
    the model's least loss of the last 3 epochs is below 0.9 times its first."""
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="binary_crossentropy")
    hist = model.fit(x, y, epochs=12, batch_size=16, verbose=0, shuffle=False).history["loss"]
    assert min(hist[-3:]) < hist[0] * 0.9, hist


def reloads_the_same(model, x, path, json_configs=True):
    """Saved to path (.keras) and loaded, the model predicts the same bits on x[:8], with layers of the
    same types and configs: the same JSON, or with json_configs=False equal dicts (where a tuple is
    not its list)."""
    model.save(path)
    loaded = bigcore.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    for a, b in zip(model.layers, loaded.layers):
        ours, back = a.get_config(), b.get_config()
        assert type(a) is type(b) and (json.dumps(ours) == json.dumps(back) if json_configs else ours == back)


def keras_loads_alike(keras, path, model, x):
    """Keras loads the .keras file at path (model's) and predicts as the model does on x[:8]."""
    km = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(km.predict(x[:8], verbose=0)), model.predict(x[:8], verbose=0),
                               rtol=1e-4, atol=1e-5)
