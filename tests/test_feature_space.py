"""utils.FeatureSpace, layers.HashedCrossing and utils.Config.

Keras's HashedCrossing, lookups, Hashing and so FeatureSpace itself need TensorFlow, which this
environment lacks (Keras raises ImportError there). So: HashedCrossing against the outputs Keras's
tests document and the known answers of TensorFlow's own cross_hashed tests; FeatureSpace's pieces
that Keras runs on torch (Normalization, Rescaling, Discretization's quantiles, CategoryEncoding)
against Keras on the same batches Keras's FeatureSpace.adapt() feeds them, the assembled vector
against a NumPy reference in Keras's order; a model on the encoded features trained on bigcore and on
Keras from the same weights; then in functional models (fit, predict on raw dicts, save / load).
"""

import json

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.layers.preprocessing import hashed_crossing, hashes
from bigcore.utils import Config, FeatureSpace
from keras_training_checks import trains_like_keras
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def _keras_out(y):
    return np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)


# --- HashedCrossing --------------------------------------------------------------------------

def test_hashed_crossing_documented_outputs():
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    np.testing.assert_array_equal(layers.HashedCrossing(num_bins=5)((feat1, feat2)), [1, 4, 1, 1, 3])
    one_hot = layers.HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))
    np.testing.assert_array_equal(one_hot, np.eye(5, dtype=np.float32)[[1, 4, 1, 1, 3]])
    assert one_hot.dtype == np.float32
    # the shapes Keras keeps: (batch, 1) stays, a scalar cross is a scalar
    out = layers.HashedCrossing(num_bins=5)((feat1[:, None], feat2[:, None]))
    assert out.shape == (5, 1) and out.dtype == np.int64
    np.testing.assert_array_equal(out[:, 0], [1, 4, 1, 1, 3])
    assert layers.HashedCrossing(num_bins=5)((np.array("B"), np.array(102))).shape == ()
    assert layers.HashedCrossing(5, output_mode="one_hot")((np.array("B"), np.array(102))).shape == (5,)


def test_cross_hash_known_answers_of_tensorflow():
    """tf.sparse.cross_hashed's frozen outputs (TensorFlow's sparse_cross_op_test): the raw 64-bit
    hash (num_buckets 0 takes it mod int64 max) with the default key and key + 1."""
    feats = [b"batch1-FC1-F1", b"batch1-FC2-F1", b"batch1-FC3-F1"]

    def cross(key):
        for f in feats:
            key = hashes.fingerprint_cat64(key, hashes.fingerprint64(f))
        return key

    assert cross(0xDECAFCAFFE) % (2**63 - 1) == 1971693436396284976
    assert cross(0xDECAFCAFFE + 1) % (2**63 - 1) == 4847552627144134031
    cols = [np.array([f.decode()]) for f in feats]
    np.testing.assert_array_equal(hashed_crossing.cross_hashed(cols, 100), [83])
    np.testing.assert_array_equal(layers.HashedCrossing(100)(cols), [83])


def test_hashed_crossing_integers_and_strings():
    """An integer's value is the integer itself, a string's its Fingerprint64 (so 7 and "7" differ);
    negative integers are their two's-complement bits; int32 and int64 agree."""
    a = np.array([7, -3, 2**40])
    b = np.array(["x", "y", "z"])
    got = layers.HashedCrossing(1000)((a, b))
    want = [hashes.fingerprint_cat64(hashes.fingerprint_cat64(0xDECAFCAFFE, int(v) & (2**64 - 1)),
                                     hashes.fingerprint64(s.encode())) % 1000 for v, s in zip(a, b)]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(layers.HashedCrossing(1000)((a[:2].astype(np.int32), b[:2])), want[:2])
    assert not np.array_equal(layers.HashedCrossing(2**31)((np.array([7]), b[:1])),
                              layers.HashedCrossing(2**31)((np.array(["7"]), b[:1])))
    three = layers.HashedCrossing(1000)((a, b, a))
    assert three.shape == (3,) and three.max() < 1000


def test_hashed_crossing_refusals_and_config():
    with pytest.raises(ValueError, match="should be called on a list"):
        layers.HashedCrossing(num_bins=10)(np.array(1))
    with pytest.raises(ValueError, match="at least two inputs"):
        layers.HashedCrossing(num_bins=10)([np.array(1)])
    with pytest.raises(ValueError, match="inputs should have shape"):
        layers.HashedCrossing(num_bins=10)((np.ones((1, 1, 1), np.int64), np.ones((1, 1, 1), np.int64)))
    with pytest.raises(ValueError, match="equal shape"):
        layers.HashedCrossing(num_bins=10)((np.ones(3, np.int64), np.ones(2, np.int64)))
    with pytest.raises(ValueError, match="integer or string dtype"):
        layers.HashedCrossing(num_bins=10)((np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match="sparse=True"):
        layers.HashedCrossing(num_bins=10, output_mode="one_hot", sparse=True)
    with pytest.raises(ValueError, match="output_mode"):
        layers.HashedCrossing(num_bins=10, output_mode="multi_hot")
    with pytest.raises(ValueError, match="integer or string dtype"):
        layers.HashedCrossing(num_bins=10)([bigcore.Input((1,)), bigcore.Input((1,), dtype="string")])
    with pytest.raises(ValueError, match="integer or string dtype"):  # a float feature crossed
        FeatureSpace(features={"a": "float", "b": "string_hashed"}, crosses=[("a", "b")]).get_encoded_features()
    layer = layers.HashedCrossing(num_bins=7, output_mode="one_hot", name="hx")
    cfg = json.loads(json.dumps(layer.get_config()))
    assert {k: cfg[k] for k in ("num_bins", "output_mode", "sparse", "name")} == {
        "num_bins": 7, "output_mode": "one_hot", "sparse": False, "name": "hx"}
    x = (np.array(["p", "q"]), np.array([1, 2]))
    np.testing.assert_array_equal(layers.HashedCrossing.from_config(cfg)(x), layer(x))


def test_hashed_crossing_in_a_model(seed):
    a = bigcore.Input(shape=(1,), dtype="string", name="a")
    b = bigcore.Input(shape=(1,), dtype="int32", name="b")
    crossed = layers.HashedCrossing(5, output_mode="one_hot")([a, b])
    assert crossed.shape == (None, 5) and crossed.dtype == "float32"
    model = bigcore.Model([a, b], layers.Dense(1, use_bias=False, kernel_initializer="ones")(crossed))
    xa, xb = np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0)[:, 0], [1, 1, 1, 1, 1])
    w = np.arange(5, dtype=np.float32)[:, None]
    model.set_weights([w])
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0)[:, 0], [1, 4, 1, 1, 3])


# --- FeatureSpace: eager encodings --------------------------------------------------------------

def _data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return {"f": rng.normal(2.0, 3.0, n).astype(np.float32),
            "r": rng.uniform(0, 10, n).astype(np.float32),
            "d": rng.exponential(2.0, n).astype(np.float32),
            "s": rng.choice(["red", "green", "blue", "cyan"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "i": rng.choice([3, 7, 11], n, p=[0.5, 0.3, 0.2]),
            "sh": rng.choice(["a", "b", "c", "d", "e"], n),
            "ih": rng.integers(0, 50, n)}


def _space(output_mode="concat"):
    return FeatureSpace(
        features={"f": "float_normalized", "r": FeatureSpace.float_rescaled(scale=0.1, offset=1.0),
                  "d": FeatureSpace.float_discretized(num_bins=4), "s": "string_categorical",
                  "i": FeatureSpace.integer_categorical(), "sh": FeatureSpace.string_hashed(num_bins=8),
                  "ih": "integer_hashed", "p": "float"},
        crosses=[("s", "i"), FeatureSpace.cross(("sh", "i"), crossing_dim=5)], crossing_dim=16, hashing_dim=6,
        output_mode=output_mode)


def _batches32(a):
    """The batches Keras's FeatureSpace.adapt() gives a preprocessor for a dict's 1-D column."""
    return [a[i:i + 32, None] for i in range(0, len(a), 32)]


def test_feature_space_concat_matches_the_keras_pieces(keras):
    from keras.src.layers.preprocessing import discretization as kd
    data = _data()
    data["p"] = np.linspace(-1, 1, 100).astype(np.float32)
    fs = _space()
    fs.adapt(data)
    out = fs(data)
    # Keras's pieces on the same batches
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(data["f"][:, None])
    f_enc = _keras_out(norm(data["f"][:, None]))
    r_enc = _keras_out(keras.layers.Rescaling(scale=0.1, offset=1.0)(data["r"][:, None]))
    summary = np.array([[], []], np.float32)
    for part in _batches32(data["d"]):
        summary = kd.merge_summaries(kd.summarize(part, 0.01), summary, 0.01)
    boundaries = list(kd.get_bin_boundaries(summary, 4))
    np.testing.assert_allclose(fs.preprocessors["d"].bin_boundaries, boundaries, rtol=1e-6)
    d_bins = keras.layers.Discretization(bin_boundaries=boundaries)(data["d"][:, None])
    d_enc = _keras_out(keras.layers.CategoryEncoding(4, output_mode="multi_hot")(_keras_out(d_bins)))
    # lookups: by count, index 0 the OOV token; hashing / crossing: TensorFlow's hashes
    def by_count(values):  # most frequent first (these data have no ties)
        uniq, counts = np.unique(values, return_counts=True)
        assert len(set(counts)) == len(counts)
        return [v.item() for v in uniq[np.argsort(-counts)]]

    s_vocab = ["[UNK]"] + by_count(data["s"])
    s_ids = np.array([s_vocab.index(v) for v in data["s"]])
    i_vocab = [-1] + by_count(data["i"])
    i_ids = np.array([i_vocab.index(v) for v in data["i"]])
    assert fs.preprocessors["s"].get_vocabulary() == s_vocab and fs.preprocessors["i"].get_vocabulary() == i_vocab
    sh_ids = np.array([hashes.fingerprint64(v.encode()) % 8 for v in data["sh"]])
    ih_ids = np.array([hashes.fingerprint64(str(v).encode()) % 6 for v in data["ih"]])

    def cross(cols, bins):
        return hashed_crossing.cross_hashed([np.asarray(c) for c in cols], bins)

    def one_hot(ids, depth):
        return _keras_out(keras.layers.CategoryEncoding(depth, output_mode="multi_hot")(ids[:, None]))

    # Keras's order: the features by sorted name, then the crosses by sorted name
    want = np.concatenate([
        d_enc, f_enc, one_hot(i_ids, 4), one_hot(ih_ids, 6), data["p"][:, None], r_enc, one_hot(s_ids, 5),
        one_hot(sh_ids, 8), one_hot(cross([s_ids, i_ids], 16), 16), one_hot(cross([sh_ids, i_ids], 5), 5)], axis=1)
    assert out.shape == (100, 4 + 1 + 4 + 6 + 1 + 1 + 5 + 8 + 16 + 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    # one sample (scalars) -> one vector; a (batch, 1) dict -> the same rows
    row = fs({k: v[3] for k, v in data.items()})
    assert row.shape == (out.shape[1],)
    np.testing.assert_allclose(row, out[3], rtol=1e-6)
    np.testing.assert_allclose(fs({k: v[:, None] for k, v in data.items()}), out, rtol=1e-6)


def test_feature_space_dict_mode_and_int_outputs():
    data = _data(40)
    fs = FeatureSpace(features={"s": FeatureSpace.string_categorical(output_mode="int"),
                                "i": FeatureSpace.integer_categorical(output_mode="int"), "f": "float_normalized"},
                      crosses=[FeatureSpace.cross(("s", "i"), crossing_dim=32, output_mode="int")],
                      output_mode="dict")
    fs.adapt({k: data[k] for k in ("s", "i", "f")})
    out = fs({k: data[k] for k in ("s", "i", "f")})
    assert sorted(out) == ["f", "i", "s", "s_X_i"]
    assert out["s"].shape == (40, 1) and out["s"].dtype == np.int64 and out["f"].dtype == np.float32
    np.testing.assert_array_equal(out["s_X_i"][:, 0], hashed_crossing.cross_hashed([out["s"], out["i"]], 32)[:, 0])
    one = fs({"s": data["s"][0], "i": data["i"][0], "f": data["f"][0]})
    assert one["s"].shape == (1,) and one["s_X_i"].shape == (1,) and one["f"].shape == (1,)
    assert one["s"][0] == out["s"][0, 0]
    enc = fs.get_encoded_features()
    assert sorted(enc) == ["f", "i", "s", "s_X_i"] and enc["s"].dtype == "int64"


def test_feature_space_adapts_on_a_dataset_like_a_dict():
    """adapt() on a bigcore Dataset of dict batches and on the dict itself learn the same state."""
    data = _data(90, seed=3)
    data["p"] = np.zeros(90, np.float32)
    a, b = _space(), _space()
    a.adapt(data)
    b.adapt(bigcore.data.Dataset.from_tensor_slices(data).batch(32))
    np.testing.assert_allclose(a(data), b(data), rtol=1e-6)
    c = _space()
    c.adapt(bigcore.data.Dataset.from_tensor_slices(data))  # unbatched scalars: grouped 32 at a time
    np.testing.assert_allclose(c(data), a(data), rtol=1e-6)
    np.testing.assert_allclose(c.preprocessors["d"].bin_boundaries, a.preprocessors["d"].bin_boundaries)
    e = _space()  # (n, 1) columns: row elements of shape (1,), each its own (1, 1) batch
    e.adapt({k: v[:, None] for k, v in data.items()})
    np.testing.assert_allclose(e(data)[:, 4], a(data)[:, 4], rtol=1e-5)  # "f": the same mean and variance
    np.testing.assert_array_equal(e.preprocessors["s"].get_vocabulary(), a.preprocessors["s"].get_vocabulary())


def test_feature_space_refusals():
    with pytest.raises(ValueError, match="cannot be None or empty"):
        FeatureSpace(features={})
    with pytest.raises(ValueError, match="Invalid feature type"):
        FeatureSpace(features={"a": "float_bucketed"})
    with pytest.raises(ValueError, match="should be present in the `features` dict"):
        FeatureSpace(features={"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="'dict', 'concat'"):
        FeatureSpace(features={"a": "float"}, output_mode="list")
    with pytest.raises(ValueError, match="'int', 'one_hot'"):
        FeatureSpace.cross(("a", "b"), 4, output_mode="float")
    with pytest.raises(ValueError, match="native layer"):
        FeatureSpace.feature("float32", layers.Dense(2), "float")
    fs = FeatureSpace(features={"a": "float_normalized"})
    with pytest.raises(ValueError, match=r"call `.adapt\(dataset\)`"):
        fs({"a": np.ones(3)})
    with pytest.raises(ValueError, match="tf.data.Dataset|bigcore.data.Dataset"):
        fs.adapt(np.ones(3))
    with pytest.raises(ValueError, match="dicts of features"):
        fs.adapt(bigcore.data.Dataset.from_tensor_slices((np.ones(4), np.ones(4))))
    with pytest.raises(ValueError, match="of one length"):
        fs.adapt({"a": np.arange(4.0), "b": np.arange(3.0)})
    with pytest.raises(ValueError, match="has no feature 'a'"):
        fs.adapt({"b": np.arange(4.0)})
    fs.adapt({"a": np.arange(4.0)})
    with pytest.raises(ValueError, match="only be called with a dict"):
        fs(np.ones(3))
    with pytest.raises(ValueError, match="missing"):
        fs({"b": np.ones(3)})
    no_adapt = FeatureSpace(features={"p": "float", "h": "string_hashed"})  # nothing to adapt: usable at once
    assert no_adapt({"p": [1.0, 2.0], "h": ["x", "y"]}).shape == (2, 33)
    concat_int = FeatureSpace(features={"s": FeatureSpace.string_categorical(output_mode="int")})
    with pytest.raises(ValueError, match="Cannot concatenate features"):
        concat_int.adapt({"s": ["a", "b"]})
    custom = FeatureSpace(features={"t": FeatureSpace.feature("float32", layers.Rescaling(2.0), "one_hot")})
    with pytest.raises(ValueError, match="should return an integer dtype"):
        custom.get_encoded_features()


def test_feature_space_custom_preprocessor_and_config():
    text = {"t": np.array(["the cat", "a dog", "the dog", "cat"]), "n": np.arange(4.0)}
    fs = FeatureSpace(features={"t": FeatureSpace.feature("string", layers.TextVectorization(output_mode="multi_hot"),
                                                          "float"), "n": "float"})
    fs.adapt(text)
    vocab = fs.preprocessors["t"].get_vocabulary()
    out = fs(text)
    assert out.shape == (4, 1 + len(vocab))
    np.testing.assert_array_equal(out[:, 0], text["n"])
    cfg = json.loads(json.dumps(_space().get_config()))
    assert cfg["crossing_dim"] == 16 and cfg["hashing_dim"] == 6 and cfg["output_mode"] == "concat"
    again = FeatureSpace.from_config(cfg)
    assert sorted(again.features) == sorted(_space().features)
    assert [c.name for c in again.crosses] == ["s_X_i", "sh_X_i"] and again.crosses[1].crossing_dim == 5
    assert type(again.preprocessors["d"]).__name__ == "Discretization" and again.preprocessors["d"].num_bins == 4
    assert again.preprocessors["r"].scale == 0.1
    with pytest.raises(NotImplementedError, match="save"):
        again.save("x.keras")


# --- FeatureSpace in models ------------------------------------------------------------------

def _labelled(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = {"age": rng.uniform(20, 70, n).astype(np.float32), "thal": rng.choice(["fixed", "normal", "rev"], n),
         "sex": rng.integers(0, 2, n), "cp": rng.integers(0, 4, n)}
    y = ((x["age"] > 45) | (x["thal"] == "rev") | (x["cp"] == 2)).astype(np.float32)
    return x, y


def _heart_space():
    return FeatureSpace(features={"age": "float_normalized", "thal": "string_categorical",
                                  "sex": "integer_categorical", "cp": "integer_categorical"},
                        crosses=[FeatureSpace.cross(("sex", "cp"), crossing_dim=8)], output_mode="concat")


def test_a_feature_space_file_of_keras_is_refused_clearly(keras, tmp_path):
    """Keras saves a FeatureSpace alone (here one of float features, which Keras builds without
    TensorFlow); bigcore does not read those files yet, and says so."""
    kfs = keras.utils.FeatureSpace({"a": keras.utils.FeatureSpace.feature(
        "float32", keras.layers.Normalization(mean=1.0, variance=4.0), "float"), "b": "float_rescaled"})
    kfs.get_encoded_features()
    path = str(tmp_path / "fs.keras")
    with pytest.warns(UserWarning, match="not yet been built"):
        kfs.save(path)
    with pytest.raises(NotImplementedError, match="FeatureSpace saved alone"):
        bigcore.models.load_model(path)


def test_model_on_encoded_features_trains_like_keras(keras):
    x, y = _labelled(64)
    fs = _heart_space()
    fs.adapt(x)
    enc = fs(x)

    def build(lib):
        inp = lib.Input(shape=(enc.shape[1],))
        h = lib.layers.Dense(8, activation="relu")(inp)
        return lib.Model(inp, lib.layers.Dense(1, activation="sigmoid")(h))

    trains_like_keras(keras, build, enc, y[:, None], learning_rate=0.1, epochs=2, batch_size=16)


def test_keras_io_pattern_fit_predict_save(tmp_path, seed):
    """keras.io's "structured data classification with FeatureSpace": a Dataset mapped through the
    FeatureSpace to train on the encoded features, then a model from the raw dict inputs."""
    x, y = _labelled()
    fs = _heart_space()
    train_ds = bigcore.data.Dataset.from_tensor_slices(x).batch(32)
    fs.adapt(train_ds)
    dict_inputs = fs.get_inputs()
    encoded = fs.get_encoded_features()
    assert set(dict_inputs) == {"age", "thal", "sex", "cp"} and dict_inputs["thal"].dtype == "string"
    h = layers.Dense(32, activation="relu")(encoded)
    predictions = layers.Dense(1, activation="sigmoid")(h)
    model = bigcore.Model(dict_inputs, predictions)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.9
    # the model from raw dicts equals the Dense layers on the FeatureSpace's own output
    head_in = bigcore.Input(shape=(encoded.shape[1],))
    head = bigcore.Model(head_in, model.layers[-1](model.layers[-2](head_in)))
    raw = model.predict({k: v[:10] for k, v in x.items()}, verbose=0)
    np.testing.assert_allclose(raw, head.predict(fs({k: v[:10] for k, v in x.items()}), verbose=0), rtol=1e-5)
    sample = {"age": 60.0, "thal": "fixed", "sex": 1, "cp": 1}
    one = model.predict({k: np.array([v]) for k, v in sample.items()}, verbose=0)
    assert one.shape == (1, 1)
    for name in ("heart.keras", "heart.bigcore"):  # the vocabularies, means and bins go with the model
        path = str(tmp_path / name)
        model.save(path)
        again = bigcore.models.load_model(path)
        np.testing.assert_allclose(again.predict({k: v[:10] for k, v in x.items()}, verbose=0), raw, rtol=1e-6)


def test_every_feature_type_in_a_saved_model(tmp_path, seed):
    data = _data(80)
    data["p"] = np.linspace(-1, 1, 80).astype(np.float32)
    fs = _space()
    fs.adapt(data)
    model = bigcore.Model(fs.get_inputs(), layers.Dense(3)(fs.get_encoded_features()))
    want = model.predict(data, verbose=0)
    head_in = bigcore.Input(shape=(fs.get_encoded_features().shape[1],))
    np.testing.assert_allclose(want, bigcore.Model(head_in, model.layers[-1](head_in)).predict(fs(data), verbose=0),
                               rtol=1e-5, atol=1e-6)
    for name in ("all.keras", "all.bigcore"):
        path = str(tmp_path / name)
        model.save(path)
        np.testing.assert_allclose(bigcore.models.load_model(path).predict(data, verbose=0), want, rtol=1e-6)


def test_keras_io_training_and_inference_models(seed):
    """The guide's two models: one trained on the preprocessed Dataset with the encoded features as
    its input (an intermediate tensor, which Keras cuts the graph at), one from the raw dict inputs
    to the same layers, used on one sample converted with ops.convert_to_tensor."""
    x, y = _labelled()
    train_ds = bigcore.data.Dataset.from_tensor_slices((x, y)).shuffle(256).batch(32)
    fs = _heart_space()
    fs.adapt(train_ds.map(lambda x, _: x))
    preprocessed = train_ds.map(lambda x, y: (fs(x), y), num_parallel_calls=bigcore.data.AUTOTUNE).prefetch(
        bigcore.data.AUTOTUNE)
    dict_inputs = fs.get_inputs()
    encoded_features = fs.get_encoded_features()
    h = layers.Dense(32, activation="relu")(encoded_features)
    h = layers.Dropout(0.5)(h)
    predictions = layers.Dense(1, activation="sigmoid")(h)
    training_model = bigcore.Model(inputs=encoded_features, outputs=predictions)
    assert [type(l).__name__ for l in training_model.layers] == ["InputLayer", "Dense", "Dropout", "Dense"]
    training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    hist = training_model.fit(preprocessed, epochs=30, verbose=0)
    assert hist.history["accuracy"][-1] > 0.85
    inference_model = bigcore.Model(inputs=dict_inputs, outputs=predictions)
    first = {k: v[:8] for k, v in x.items()}
    np.testing.assert_allclose(inference_model.predict(first, verbose=0),
                               training_model.predict(fs(first), verbose=0), rtol=1e-5, atol=1e-6)
    sample = {"age": 60.0, "thal": "fixed", "sex": 1, "cp": 1}
    input_dict = {name: bigcore.ops.convert_to_tensor([value]) for name, value in sample.items()}
    one = inference_model.predict(input_dict, verbose=0)
    np.testing.assert_allclose(one, training_model.predict(fs(sample)[None], verbose=0), rtol=1e-5, atol=1e-6)


def test_dict_mode_features_into_embeddings(seed):
    """keras.io's advanced FeatureSpace pattern: int outputs in dict mode, each into an Embedding;
    the training model takes the dict of encoded features (intermediate tensors, keyed by name)."""
    x, y = _labelled(128)
    fs = FeatureSpace(features={"age": FeatureSpace.float_discretized(num_bins=5, output_mode="int"),
                                "thal": FeatureSpace.string_categorical(output_mode="int"),
                                "cp": FeatureSpace.integer_hashed(num_bins=8, output_mode="int")},
                      crosses=[FeatureSpace.cross(("thal", "cp"), crossing_dim=16, output_mode="int")],
                      output_mode="dict")
    fs.adapt(bigcore.data.Dataset.from_tensor_slices({k: x[k] for k in ("age", "thal", "cp")}).batch(16))
    encoded = fs.get_encoded_features()
    dims = {"age": 5, "thal": 4, "cp": 8, "thal_X_cp": 16}
    flat = [layers.Flatten()(layers.Embedding(dims[k], 4)(t)) for k, t in encoded.items()]
    out = layers.Dense(1, activation="sigmoid")(layers.concatenate(flat))
    training_model = bigcore.Model(encoded, out)
    training_model.compile("adam", "binary_crossentropy")
    ds = bigcore.data.Dataset.from_tensor_slices(({k: x[k] for k in dims if k in x}, y)).batch(32)
    training_model.fit(ds.map(lambda a, b: (fs(a), b)), epochs=2, verbose=0)
    inference_model = bigcore.Model(fs.get_inputs(), out)
    raw = {k: x[k][:6] for k in ("age", "thal", "cp")}
    np.testing.assert_allclose(inference_model.predict(raw, verbose=0), training_model.predict(fs(raw), verbose=0),
                               rtol=1e-6)


def _saved(model, tmp_path):
    path = str(tmp_path / "m.keras")
    model.save(path)
    return path


def test_model_from_an_intermediate_tensor_leaves_the_graph_alone(tmp_path, seed):
    inp = bigcore.Input(shape=(3,))
    mid = layers.Dense(4, name="first")(inp)
    out = layers.Dense(2, name="second")(layers.Activation("relu")(mid))
    tail = bigcore.Model(mid, out)
    assert tail.inputs[0].shape == (None, 4)
    assert [type(l).__name__ for l in tail.layers] == ["InputLayer", "Activation", "Dense"]
    assert tail.layers[2].name == "second" and len(tail.weights) == 2
    whole = bigcore.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    first = bigcore.Model(inp, mid)
    np.testing.assert_allclose(whole.predict(x, verbose=0), tail.predict(first.predict(x, verbose=0), verbose=0),
                               rtol=1e-5, atol=1e-6)
    tail_copy = bigcore.models.load_model(_saved(tail, tmp_path))
    np.testing.assert_allclose(tail_copy.predict(x[:, :1].repeat(4, 1), verbose=0),
                               tail.predict(x[:, :1].repeat(4, 1), verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="Graph disconnected"):
        other = bigcore.Input(shape=(4,))
        bigcore.Model(mid, layers.Add()([out, layers.Dense(2)(other)]))


def test_onnx_export_of_a_feature_space_model(tmp_path, seed):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    data = _data(64)
    data["p"] = np.linspace(-1, 1, 64).astype(np.float32)
    fs = FeatureSpace(features={"p": "float", "f": "float_normalized", "r": FeatureSpace.float_rescaled(0.5, 1.0),
                                "d": FeatureSpace.float_discretized(4), "s": "string_categorical",
                                "i": "integer_categorical"})
    x = {k: data[k] for k in fs.features}
    fs.adapt(x)
    model = bigcore.Model(fs.get_inputs(), layers.Dense(2)(fs.get_encoded_features()))
    model.export(tmp_path / "fs.onnx")
    sess = ort.InferenceSession(str(tmp_path / "fs.onnx"))
    feed = {}
    for i in sess.get_inputs():
        v = x[i.name][:, None]
        feed[i.name] = v.astype(object) if i.type == "tensor(string)" else v
    np.testing.assert_allclose(sess.run(None, feed)[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    hashed = FeatureSpace(features={"a": "integer_categorical", "b": "integer_categorical"}, crosses=[("a", "b")])
    hashed.adapt({"a": np.arange(4), "b": np.arange(4)})
    model = bigcore.Model(hashed.get_inputs(), layers.Dense(1)(hashed.get_encoded_features()))
    with pytest.raises(NotImplementedError, match="HashedCrossing"):
        model.export(tmp_path / "h.onnx")


# --- Config ----------------------------------------------------------------------------------

def test_config_matches_keras(keras):
    for lib in (bigcore, keras):
        config = lib.utils.Config(learning_rate=0.1, momentum=0.9)
        config.use_ema = True
        config["seed"] = 123
        assert config.seed == 123 and config["learning_rate"] == 0.1 and config.get("nope", 5) == 5
        assert list(config) == ["learning_rate", "momentum", "seed", "use_ema"] and len(config) == 4
        assert "seed" in config and config.as_dict() == {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True,
                                                          "seed": 123}
        assert json.loads(config.to_json()) == config.as_dict()
        with pytest.raises(AttributeError, match="Did you mean 'momentum'"):
            config.momentun  # noqa: B018
        config.freeze()
        assert config.frozen
        for mutate in (lambda: setattr(config, "foo", 1), lambda: config.__setitem__("seed", 1),
                       lambda: config.pop("seed"), lambda: config.update(a=1), lambda: config.__delitem__("seed")):
            with pytest.raises(ValueError, match="frozen"):
                mutate()
        config.unfreeze()
        del config["seed"]
        assert config.pop("use_ema") is True and sorted(config.keys()) == ["learning_rate", "momentum"]
        assert repr(config) == "<Config {'learning_rate': 0.1, 'momentum': 0.9}>"
