"""The preprocessing layers (layers/preprocessing): each against Keras where Keras runs it here
(Normalization, Rescaling, CategoryEncoding, Discretization's lookup on torch), else against the
outputs Keras documents for TensorFlow (its docstrings and tests, computed by TF's kernels) and
NumPy references; then in models: the input side before the native program, fit / evaluate /
predict on raw values, saved and reloaded."""

import json

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore.layers.preprocessing import hashes
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


def _keras_out(y):
    return np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)


# --- Normalization, Rescaling, CategoryEncoding, Discretization against Keras ----------------------

@pytest.mark.parametrize("axis,shape", [(-1, (40, 3)), (None, (40, 3)), ((1, 2), (30, 4, 2)), (1, (30, 4, 2))])
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapt_matches_keras(keras, axis, shape, invert):
    data = np.random.default_rng(1).normal(3.0, 2.0, size=shape).astype(np.float32)
    ours, theirs = layers.Normalization(axis=axis, invert=invert), keras.layers.Normalization(axis=axis, invert=invert)
    ours.adapt(data)
    theirs.adapt(data)
    x = data[:7] * 0.5
    np.testing.assert_allclose(ours(x), _keras_out(theirs(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.adapt_mean.numpy(), _keras_out(theirs.adapt_mean.value), rtol=1e-6, atol=1e-6)
    batched = layers.Normalization(axis=axis)  # batch by batch: Keras's pairwise mean / variance update
    batched.adapt([data[:13], data[13:29], data[29:]])
    np.testing.assert_allclose(batched.adapt_variance.numpy(), _keras_out(theirs.adapt_variance.value), rtol=1e-5)


def test_normalization_given_values_and_config(keras):
    ours = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 0.0])
    theirs = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 0.0])
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_allclose(ours(x), _keras_out(theirs(x)), rtol=1e-6)
    assert not ours.weights  # given values are config, not weights
    again = layers.Normalization.from_config(json.loads(json.dumps(ours.get_config())))
    np.testing.assert_array_equal(again(x), ours(x))
    scalar = layers.Normalization(axis=None, mean=2.0, variance=4.0)
    np.testing.assert_allclose(scalar(x), (x - 2.0) / 2.0)
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="cannot be adapted"):
        ours.adapt(x)
    with pytest.raises(ValueError, match="built for inputs"):
        ours(np.ones((2, 4)))


def test_normalization_axis_none_takes_any_rank(keras):
    """axis=None learns one mean and variance: adapted on a vector, it normalizes a column or a
    3-D batch (a structured-data program adapts on a feature column, then calls on (n, 1))."""
    rng = np.random.default_rng(3)
    data = rng.normal(5.0, 3.0, size=200).astype(np.float32)
    ours, theirs = layers.Normalization(axis=None), keras.layers.Normalization(axis=None)
    ours.adapt(data)
    theirs.adapt(data)
    for x in (data[:, None], data.reshape(4, 5, 10), data[:7]):
        np.testing.assert_allclose(ours(x), _keras_out(theirs(x)), rtol=1e-5, atol=1e-6)
        assert ours(x).shape == x.shape


def test_rescaling_and_category_encoding_match_keras(keras):
    x = np.random.default_rng(0).integers(0, 255, size=(5, 4)).astype(np.uint8)
    for kw in ({"scale": 1 / 255.0}, {"scale": 1 / 127.5, "offset": -1}, {"scale": [0.5, 1, 2, 4], "offset": 3.0}):
        np.testing.assert_allclose(layers.Rescaling(**kw)(x), _keras_out(keras.layers.Rescaling(**kw)(x)), rtol=1e-6)
    ids = np.array([[0, 1, 1, 3], [2, 2, 2, 0], [4, 4, 0, 1]])
    for mode in ("multi_hot", "count", "one_hot"):
        data = ids[:, :1] if mode == "one_hot" else ids
        np.testing.assert_array_equal(layers.CategoryEncoding(5, output_mode=mode)(data),
                                      _keras_out(keras.layers.CategoryEncoding(5, output_mode=mode)(data)))
    w = np.array([[0.5, 1, 1, 2], [1, 1, 1, 1], [3, 0, 1, 1]], np.float32)
    np.testing.assert_allclose(layers.CategoryEncoding(5, "count")(ids, count_weights=w),
                               _keras_out(keras.layers.CategoryEncoding(5, "count")(ids, count_weights=w)))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        layers.CategoryEncoding(5)(np.array([[5]]))
    with pytest.raises(ValueError, match="num_tokens"):
        layers.CategoryEncoding()


def test_discretization_matches_keras(keras):
    from keras.src.layers.preprocessing import discretization as kd
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.5, 3.0]], np.float32)
    for mode in ("int", "multi_hot", "count"):
        ours = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=mode)
        theirs = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.5], output_mode=mode)
        np.testing.assert_array_equal(ours(x), _keras_out(theirs(x)))
    data = np.random.default_rng(2).exponential(size=(500, 2)).astype(np.float32)
    layer = layers.Discretization(num_bins=4, epsilon=0.05)
    layer.adapt([data[:200], data[200:]])
    summary = np.array([[], []], np.float32)  # Keras's own quantile summaries, batch by batch
    for part in (data[:200], data[200:]):
        summary = kd.merge_summaries(kd.summarize(part, 0.05), summary, 0.05)
    np.testing.assert_allclose(layer.bin_boundaries, kd.get_bin_boundaries(summary, 4), rtol=1e-6)
    restored = layers.Discretization.from_config(json.loads(json.dumps(layer.get_config())))
    np.testing.assert_array_equal(restored(data), layer(data))
    with pytest.raises(ValueError, match="initialized with `bin_boundaries`"):
        layers.Discretization(bin_boundaries=[1.0]).adapt(data)


# --- Hashing: TensorFlow's FarmHash Fingerprint64 and SipHash ----------------------------------

# Known answers: TensorFlow's frozen Fingerprint64 test, and FarmHash / SipHash-2-4 reference
# implementations (pyfarmhash 0.5.1, siphashc 2.9.1) on b[i] = (7 i + 3) % 256, key (133, 137).
_FINGERPRINTS = {17: 14506534093795057959, 31: 13644964512845808587, 40: 12941229458084698938,
                 64: 389040666157116578, 65: 8638051931306504420, 100: 11391788667801836296,
                 200: 7886090686657605591, 300: 16122021424968347411}
_SIPHASHES = {17: 13068711542712611594, 31: 11108762247814149948, 40: 15672499045121412100,
              64: 17120239173357534878, 65: 16664020253613177977, 100: 9461827566503929,
              200: 975939181746235458, 300: 16664706735593797958}


def test_hash_functions_known_answers():
    assert hashes.fingerprint64(b"Hello") == 15404698994557526151
    assert hashes.fingerprint64(b"World") == 18308117990299812472
    assert hashes.fingerprint64(b"") == 0x9AE16A3B2F90404F
    for n, want in _FINGERPRINTS.items():
        data = bytes((7 * i + 3) % 256 for i in range(n))
        assert hashes.fingerprint64(data) == want, n
        assert hashes.siphash24(133, 137, data) == _SIPHASHES[n], n


def test_hashing_matches_tensorflow_buckets():
    # the outputs Keras's hashing tests assert (computed there by tf.strings.to_hash_bucket_*)
    letters = [["A"], ["B"], ["C"], ["D"], ["E"]]
    names = np.array([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])
    cases = [({"num_bins": 3}, letters, [1, 0, 1, 1, 2]),
             ({"num_bins": 3, "mask_value": ""}, [["A"], ["B"], [""], ["C"], ["D"]], [1, 1, 0, 2, 2]),
             ({"num_bins": 3, "salt": [133, 137]}, letters, [1, 2, 1, 0, 2]),
             ({"num_bins": 3, "salt": 133}, letters, [0, 0, 2, 1, 0]),
             ({"num_bins": 2}, names, [0, 0, 1, 0, 0]),
             ({"num_bins": 3, "mask_value": "omar"}, names, [0, 1, 2, 1, 1]),
             ({"num_bins": 2, "salt": [133, 137]}, names, [0, 1, 0, 1, 0]),
             ({"num_bins": 2, "salt": [211, 137]}, names, [1, 0, 1, 0, 1]),
             ({"num_bins": 3}, np.array([[0], [1], [2], [3], [4]]), [1, 0, 1, 0, 2]),
             ({"num_bins": 3, "salt": [133, 137]}, np.array([[0], [1], [2], [3], [4]]), [1, 1, 2, 0, 1]),
             ({"num_bins": 1}, letters, [0] * 5)]
    for kw, data, want in cases:
        out = layers.Hashing(**kw)(data)
        assert out.dtype == np.int64 and out.reshape(-1).tolist() == want, kw
    np.testing.assert_array_equal(layers.Hashing(3, output_mode="one_hot")(np.array([[0], [1], [2], [3], [4]])),
                                  np.eye(3)[[1, 0, 1, 0, 2]])
    np.testing.assert_array_equal(layers.Hashing(3, output_mode="count")(np.array([[0, 1, 2, 3, 4]])), [[2, 2, 1]])
    assert layers.Hashing(2)(np.array([1.7, 2.2])).tolist() == layers.Hashing(2)(np.array([1, 2])).tolist()
    with pytest.raises(ValueError, match="num_bins"):
        layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="salt"):
        layers.Hashing(num_bins=2, salt=[1, 2, 3])


# --- StringLookup, IntegerLookup ---------------------------------------------------------------

def test_string_lookup_documented_outputs():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    assert layers.StringLookup(vocabulary=vocab)(data).tolist() == [[1, 3, 4], [4, 0, 2]]
    adapted = layers.StringLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    assert adapted(data).tolist() == [[5, 3, 1], [1, 2, 4]]
    two = layers.StringLookup(vocabulary=vocab, num_oov_indices=2)
    assert two([["a", "c", "d"], ["m", "z", "b"]]).tolist() == [[2, 4, 5], [0, 1, 3]]
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(
        ["a", "b", "c", "d", "z"]), np.eye(5)[[1, 2, 3, 4, 0]])
    data4 = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(data4),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab, output_mode="count")(data4),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tfidf = layers.StringLookup(output_mode="tf_idf")
    tfidf.set_vocabulary(vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(data4), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    tfidf.set_vocabulary(["[UNK]"] + vocab, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(data4), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    inverse = layers.StringLookup(vocabulary=vocab, invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]


def test_integer_lookup_documented_outputs():
    vocab = [12, 36, 1138, 42]
    assert layers.IntegerLookup(vocabulary=vocab)(np.array([[12, 1138, 42], [42, 1000, 36]])).tolist() == \
        [[1, 3, 4], [4, 0, 2]]
    adapted = layers.IntegerLookup()
    adapted.adapt(np.array([[12, 1138, 42], [42, 1000, 36]]))
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    assert layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)(
        np.array([[12, 1138, 42], [37, 1000, 36]])).tolist() == [[2, 4, 5], [1, 0, 3]]
    oov = np.array([100, 300, 700, 1100, 1700, 2000])
    assert layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)(oov).tolist() == [0] * 6
    assert layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")(oov).tolist() == \
        [3, 3, 2, 2, 0, 1]
    data = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=vocab, output_mode="count")(data),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    np.testing.assert_allclose(layers.IntegerLookup(output_mode="tf_idf", vocabulary=[-1] + vocab,
                                                    idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])(data),
                               [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    masked = layers.IntegerLookup(vocabulary=vocab, mask_token=0)
    assert masked(np.array([[12, 0, 5]])).tolist() == [[2, 0, 1]]
    assert layers.IntegerLookup(vocabulary=vocab, invert=True)(np.array([1, 0, 9])).tolist() == [12, -1, -1]


def test_lookup_adapt_tf_idf_and_limits():
    docs = [["a", "b", "a"], ["b", "c", "c"], ["a", "d", "e"]]
    layer = layers.StringLookup(output_mode="tf_idf", max_tokens=4)
    layer.adapt(docs)
    # counts a:3 c:2 b:2 d:1 e:1 -> ties by the larger token first; 3 learned + the OOV index
    assert layer.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    doc_freq = np.array([2, 1, 2], np.float64)  # a, c, b
    idf = np.log(1 + 3 / (1 + doc_freq)).astype(np.float32)
    out = layer([["a", "a", "zz"]])
    np.testing.assert_allclose(out, [[idf.mean() * 1, 2 * idf[0], 0, 0]], rtol=1e-6)
    padded = layers.StringLookup(max_tokens=8, pad_to_max_tokens=True, output_mode="multi_hot")
    padded.adapt(docs)
    assert padded([["a"]]).shape == (1, 8)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"])
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="static vocabulary"):
        layers.StringLookup(vocabulary=["a"]).adapt(["a"])
    with pytest.raises(RuntimeError, match="vocabulary before calling"):
        layers.StringLookup(output_mode="multi_hot")(["a"])
    with pytest.raises(ValueError, match="larger than the maximum"):
        layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)


# --- TextVectorization -------------------------------------------------------------------------

def test_text_vectorization_documented_outputs():
    tv = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    tv.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert tv([["foo qux bar"], ["qux baz"]]).tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    fixed = layers.TextVectorization(output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert fixed.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(layers.TextVectorization(output_mode="multi_hot", vocabulary=["foo", "bar", "baz"])(
        [["foo bar"], ["baz foo foo"]]), [[0, 1, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(layers.TextVectorization(output_mode="count", vocabulary=["foo", "bar", "baz"])(
        ["foo bar", "baz foo foo"]), [[0, 1, 1, 0], [0, 2, 0, 1]])
    np.testing.assert_allclose(layers.TextVectorization(output_mode="tf_idf", vocabulary=["foo", "bar", "baz"],
                                                        idf_weights=[0.3, 0.5, 0.2])(["foo bar", "baz foo foo"]),
                               [[0, 0.3, 0.5, 0], [0, 0.6, 0, 0.2]], rtol=1e-6)
    hello = "Hello, World!. This is just a nice test!"
    assert layers.TextVectorization(vocabulary=["hello", "world", "this", "is", "nice", "test"])(
        [hello]).tolist() == [[2, 3, 4, 5, 1, 1, 6, 7]]
    assert layers.TextVectorization(standardize="lower", vocabulary=[
        "hello,", "hello", "world", "this", "is", "nice", "test"])([hello]).tolist() == [[2, 1, 5, 6, 1, 1, 7, 1]]
    assert layers.TextVectorization(split="character", vocabulary=list("abcde"))(["abcf"]).tolist() == [[2, 3, 4, 1]]
    assert layers.TextVectorization(standardize="strip_punctuation", vocabulary=["Hello", "World", "Test"])(
        ["Hello, World! Test."]).tolist() == [[2, 3, 4]]
    assert layers.TextVectorization(standardize=None, vocabulary=["Hello", "world"])(["Hello hello"]).tolist() == \
        [[2, 1]]


def _reference_tokens(text, ngrams=None):
    """A NumPy-free reference of Keras's default pipeline: ASCII lower-casing (tf.strings.lower),
    ASCII punctuation stripped, split on ASCII whitespace, then n-grams of each width in turn."""
    lowered = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    stripped = "".join(c for c in lowered if c not in "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'")
    words = [w for w in stripped.replace("\t", " ").replace("\n", " ").split(" ") if w]
    if not ngrams:
        return words
    return [" ".join(words[i:i + n]) for n in range(1, ngrams + 1) for i in range(len(words) - n + 1)]


def test_text_vectorization_against_reference():
    rng = np.random.default_rng(5)
    words = ["Alpha", "beta,", "GAMMA!", "delta", "Élan", "naïve", "x-ray", "it's"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 7))) + ("\tEnd." if i % 3 else "") for i in range(60)]
    tv = layers.TextVectorization(max_tokens=12, ngrams=2, output_sequence_length=9)
    tv.adapt(np.array(texts))
    counts = {}
    for t in texts:
        for tok in _reference_tokens(t, 2):
            counts[tok] = counts.get(tok, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]
    assert tv.get_vocabulary() == ["", "[UNK]"] + [t for t, _ in ranked]
    index = {t: i for i, t in enumerate(tv.get_vocabulary())}
    want = np.zeros((len(texts), 9), np.int64)
    for r, t in enumerate(texts):
        ids = [index.get(tok, 1) for tok in _reference_tokens(t, 2)][:9]
        want[r, :len(ids)] = ids
    np.testing.assert_array_equal(tv(np.array(texts)[:, None]), want)
    assert "élan" not in tv.get_vocabulary()  # TensorFlow lower-cases ASCII only
    assert tv(np.array(["alpha"] * 3)).shape == (3, 9)


def test_text_vectorization_config_and_errors():
    tv = layers.TextVectorization(max_tokens=20, ngrams=(1, 3), output_sequence_length=5)
    tv.adapt(["one two three four", "two three"])
    config = json.loads(json.dumps(tv.get_config()))
    assert config["vocabulary_size"] == len(tv.get_vocabulary())
    again = layers.TextVectorization.from_config(config)
    again.set_vocabulary(tv.get_vocabulary())
    np.testing.assert_array_equal(again(["two three four"]), tv(["two three four"]))
    with pytest.raises(ValueError, match="output_sequence_length"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="ngrams"):
        layers.TextVectorization(ngrams="2")
    with pytest.raises(ValueError, match="rank must be 1"):
        tv(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="callable"):
        layers.TextVectorization(standardize=str.upper).get_config()


# --- in models -----------------------------------------------------------------------------------

def _reviews(n=240, seed=0):
    rng = np.random.default_rng(seed)
    good = ["a great movie", "good fun", "I loved it!", "excellent, really good", "fine and great"]
    bad = ["a bad movie", "awful", "I hated it.", "terrible, really bad", "boring and dull"]
    y = rng.integers(0, 2, n)
    texts = np.array([rng.choice(good) if label else rng.choice(bad) for label in y], dtype=object)
    return texts, y


def _text_classifier(texts):
    tv = layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    tv.adapt(texts)
    inp = bigcore.Input(shape=(1,), dtype="string")
    x = layers.Embedding(40, 8, mask_zero=True)(tv(inp))
    x = layers.Bidirectional(layers.LSTM(6))(x)
    model = bigcore.Model(inp, layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, tv


def test_text_classifier_from_raw_strings_saved_and_reloaded(tmp_path, seed):
    texts, y = _reviews()
    model, tv = _text_classifier(texts)
    model.fit(texts[:, None], y, epochs=8, batch_size=16, verbose=0)
    loss, acc = model.evaluate(texts[:, None], y, verbose=0)
    assert acc > 0.95
    probe = np.array([["really good fun"], ["awful and boring"], ["unseen words"]], dtype=object)
    before = model.predict(probe, verbose=0)
    assert before[0].argmax() == 1 and before[1].argmax() == 0
    np.testing.assert_allclose(model.predict(probe, verbose=0), model(probe), rtol=1e-6)
    # strings of shape (batch,), as text_dataset_from_directory yields them, for Input(shape=(1,))
    np.testing.assert_array_equal(model.predict(probe[:, 0], verbose=0), model.predict(probe, verbose=0))
    model.save(tmp_path / "clf.bigcore")
    loaded = bigcore.models.load_model(tmp_path / "clf.bigcore")
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), before)
    assert loaded.get_layer(tv.name).get_vocabulary() == tv.get_vocabulary()
    assert loaded.evaluate(texts[:, None], y, verbose=0) == pytest.approx([loss, acc])
    # training resumes from the file bit for bit
    model.fit(texts[:, None], y, epochs=1, batch_size=16, verbose=0)
    loaded.fit(texts[:, None], y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(loaded.predict(probe, verbose=0), model.predict(probe, verbose=0))


def test_strings_through_a_dataset_and_sequential(seed):
    texts, y = _reviews(96)
    tv = layers.TextVectorization(max_tokens=40, output_sequence_length=6)
    tv.adapt(bigcore.data.Dataset.from_tensor_slices(texts).batch(10))
    model = bigcore.Sequential([bigcore.Input(shape=(), dtype="string"), tv, layers.Embedding(40, 4),
                                layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    ds = bigcore.data.Dataset.from_tensor_slices((texts, y.astype(np.float32))).batch(12)
    history = model.fit(ds, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(ds.map(lambda x, y: x), verbose=0), model.predict(texts, verbose=0),
                               rtol=1e-6)
    mapped = bigcore.data.Dataset.from_tensor_slices(texts).batch(8).map(tv)  # the layer in the pipeline
    np.testing.assert_array_equal(next(iter(mapped)), tv(texts[:8]))


def test_numeric_front_equals_preprocessed_arrays(tmp_path, seed):
    rng = np.random.default_rng(3)
    x = rng.normal(50.0, 10.0, size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 50).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(x)
    bigcore.utils.set_random_seed(7)
    inp = bigcore.Input((4,))
    m = bigcore.Model(inp, layers.Dense(1, activation="sigmoid")(layers.Rescaling(2.0, offset=1.0)(norm(inp))))
    m.compile("sgd", "binary_crossentropy")
    h = m.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    bigcore.utils.set_random_seed(7)
    plain_in = bigcore.Input((4,))
    plain = bigcore.Model(plain_in, layers.Dense(1, activation="sigmoid")(plain_in))
    plain.compile("sgd", "binary_crossentropy")
    h2 = plain.fit(norm(x) * 2.0 + 1.0, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    np.testing.assert_allclose(h.history["loss"], h2.history["loss"], rtol=1e-6)
    assert [w.path for w in m.weights][:2] == [norm.adapt_mean.path, norm.adapt_variance.path]
    assert [w.name for w in m.weights][:2] == ["mean", "variance"]
    m.save(tmp_path / "n.bigcore")
    np.testing.assert_array_equal(bigcore.models.load_model(tmp_path / "n.bigcore").predict(x, verbose=0),
                                  m.predict(x, verbose=0))


def test_input_side_rules():
    inp = bigcore.Input((3,))
    with pytest.raises(ValueError, match="input side"):
        bigcore.Model(inp, layers.Discretization(bin_boundaries=[0.0])(layers.Dense(2)(inp)))
    s = bigcore.Input((1,), dtype="string")
    with pytest.raises(ValueError, match="cannot enter the native program"):
        bigcore.Model(s, layers.Dense(1)(s))
    only = bigcore.Model(s, layers.StringLookup(vocabulary=["a"])(s))  # builds (Sequential.add does so)
    with pytest.raises(NotImplementedError, match="preprocessing layers only"):
        only.predict(np.array([["a"]]), verbose=0)
    ok = bigcore.Model(s, layers.Dense(1)(layers.StringLookup(vocabulary=["a"])(s)))
    with pytest.raises(TypeError, match="string input"):
        ok.predict(np.ones((2, 1)), verbose=0)
    b = bigcore.Input((1,), dtype="string")
    with pytest.raises(ValueError, match="output_sequence_length"):
        bigcore.Model(b, layers.Embedding(4, 2)(layers.TextVectorization(vocabulary=["a"])(b)))


# --- ONNX ----------------------------------------------------------------------------------------

def test_onnx_export_of_the_numeric_front(tmp_path, seed):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    rng = np.random.default_rng(4)
    x = rng.normal(5.0, 3.0, size=(20, 6)).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(x)
    inp = bigcore.Input((6,))
    a = layers.Dense(3)(layers.Rescaling(0.5, offset=-1.0)(norm(inp)))
    b = layers.Dense(3)(layers.Discretization(bin_boundaries=[-1.0, 0.0, 4.0, 9.0], output_mode="count")(inp))
    inv = layers.Normalization(mean=[1.0] * 6, variance=[4.0] * 6, invert=True)(inp)
    model = bigcore.Model(inp, layers.Concatenate()([a, b, layers.Dense(2)(inv)]))
    model.export(tmp_path / "front.onnx")
    sess = ort.InferenceSession(str(tmp_path / "front.onnx"))
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["int", "multi_hot", "count", "one_hot"])
def test_onnx_export_of_lookups_and_encodings(tmp_path, seed, mode):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    s_in, i_in = bigcore.Input((1 if mode == "one_hot" else 4,), dtype="string"), bigcore.Input((3,))
    words = layers.StringLookup(vocabulary=["x", "y", "z"], output_mode=mode, mask_token="" if mode == "int" else None)
    ints = layers.IntegerLookup(vocabulary=[7, 11, 13], output_mode="multi_hot")
    head_s = layers.Flatten()(layers.Embedding(5, 2)(words(s_in))) if mode == "int" else words(s_in)
    enc = layers.CategoryEncoding(16, output_mode="count")(i_in)
    model = bigcore.Model([s_in, i_in], layers.Dense(2)(layers.Concatenate()(
        [layers.Dense(3)(head_s), layers.Dense(3)(ints(i_in)), layers.Dense(3)(enc)])))
    model.export(tmp_path / "lookups.onnx")
    strings = np.array([["x", "", "q", "z"], ["z", "z", "y", "x"]], dtype=object)[:, :s_in.shape[1]]
    numbers = np.array([[7, 0, 13], [4, 11, 11]], np.int64)
    sess = ort.InferenceSession(str(tmp_path / "lookups.onnx"))
    names = [i.name for i in sess.get_inputs()]
    assert [i.type for i in sess.get_inputs()] == ["tensor(string)", "tensor(int64)"]
    got = sess.run(None, {names[0]: strings, names[1]: numbers})[0]
    np.testing.assert_allclose(got, model.predict([strings, numbers], verbose=0), rtol=1e-5, atol=1e-6)


def test_onnx_refuses_text_vectorization(tmp_path):
    pytest.importorskip("onnx")
    inp = bigcore.Input((1,), dtype="string")
    model = bigcore.Model(inp, layers.Dense(1)(layers.TextVectorization(vocabulary=["a"], output_sequence_length=2)(inp)))
    with pytest.raises(NotImplementedError, match="TextVectorization"):
        model.export(tmp_path / "t.onnx")


@pytest.mark.parametrize("cls,kwargs", [
    ("Normalization", {"axis": -1, "invert": True}), ("Normalization", {"mean": [1.0, 2.0], "variance": [3.0, 4.0]}),
    ("Rescaling", {"scale": 0.5, "offset": 2.0}), ("CategoryEncoding", {"num_tokens": 7, "output_mode": "count"}),
    ("Discretization", {"bin_boundaries": [0.0, 1.5]}), ("Discretization", {"num_bins": 4, "epsilon": 0.05})])
def test_configs_read_as_keras_reads_them(keras, cls, kwargs):
    """The layer-test harness's config check (tests/layer_test.py) for the layers Keras builds here
    (its lookups and TextVectorization need TensorFlow): Keras's from_config takes our config and
    gives back every value as we wrote it."""
    from layer_test import _keras_config, _same_meaning
    cfg = json.loads(json.dumps(getattr(layers, cls)(**kwargs).get_config()))
    kcfg = getattr(keras.layers, cls).from_config(_keras_config(keras, cfg)).get_config()
    for k, v in cfg.items():
        if k != "name":
            _same_meaning(v, kcfg[k], k)
