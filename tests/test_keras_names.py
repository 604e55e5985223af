"""The names Keras scripts import: keras.config switches, keras.preprocessing.{sequence,text},
the dataset builders, split_dataset, PyDataset in fit / evaluate / predict, get_file, and the
confusion-count metrics. Each against Keras where Keras runs here (its pure-Python helpers, its
metrics on torch), else against a NumPy reference."""

import functools
import hashlib
import http.server
import io
import json
import os
import random
import tarfile
import threading
import zipfile

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


# --- keras.config ------------------------------------------------------------------------------

def test_config_switches_keep_their_value():
    cfg = bigcore.config
    cfg.disable_traceback_filtering()
    assert not cfg.is_traceback_filtering_enabled()
    cfg.enable_traceback_filtering()
    assert cfg.is_traceback_filtering_enabled()
    cfg.enable_unsafe_deserialization()
    assert cfg.floatx() == "float32" and cfg.epsilon() == 1e-7 and cfg.image_data_format() == "channels_last"
    cfg.set_floatx("float32")
    with pytest.raises(ValueError, match="float32"):
        cfg.set_floatx("float16")
    with pytest.raises(ValueError, match="epsilon"):
        cfg.set_epsilon(1e-3)
    with pytest.raises(ValueError, match="channels_last"):
        cfg.set_image_data_format("channels_first")
    assert cfg.backend() == "bigcore"


def test_interactive_logging_off_sends_the_progress_bar_to_logging(capsys, caplog, seed):
    m = bigcore.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile("sgd", "mse")
    bigcore.config.disable_interactive_logging()
    try:
        assert not bigcore.config.is_interactive_logging_enabled()
        with caplog.at_level("INFO", logger="bigcore"):
            m.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=1)
    finally:
        bigcore.config.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert any("loss" in r.getMessage() for r in caplog.records)


# --- keras.preprocessing.text / sequence ---------------------------------------------------------

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "cat cat dog", "", "Zebra; the END"]


@pytest.mark.parametrize("kw", [{}, {"num_words": 5, "oov_token": "<oov>"}, {"char_level": True},
                                {"lower": False, "filters": ""}])
def test_tokenizer_matches_keras(keras, kw):
    from keras.src.legacy.preprocessing import text as ktext

    from bigcore.preprocessing import text
    ours, theirs = text.Tokenizer(**kw), ktext.Tokenizer(**kw)
    ours.fit_on_texts(TEXTS)
    theirs.fit_on_texts(TEXTS)
    assert ours.word_index == theirs.word_index and ours.index_docs == theirs.index_docs
    seqs = ours.texts_to_sequences(TEXTS + ["unseen words here"])
    assert seqs == theirs.texts_to_sequences(TEXTS + ["unseen words here"])
    assert ours.sequences_to_texts(seqs) == theirs.sequences_to_texts(seqs)
    for mode in ("binary", "count", "freq", "tfidf"):
        np.testing.assert_allclose(ours.texts_to_matrix(TEXTS, mode), theirs.texts_to_matrix(TEXTS, mode))
    # each side reads the other's JSON
    assert text.tokenizer_from_json(theirs.to_json()).texts_to_sequences(TEXTS) == seqs[:-1]
    assert ktext.tokenizer_from_json(ours.to_json()).texts_to_sequences(TEXTS) == seqs[:-1]
    with pytest.raises(ValueError, match="vectorization mode"):
        ours.texts_to_matrix(TEXTS, "bogus")


def test_text_helpers_match_keras(keras):
    from keras.src.legacy.preprocessing import text as ktext

    from bigcore.preprocessing import text
    s = "Hello, World! hello-again\tworld"
    assert text.text_to_word_sequence(s) == ktext.text_to_word_sequence(s)
    assert text.text_to_word_sequence(s, lower=False, split="o") == ktext.text_to_word_sequence(s, lower=False, split="o")
    assert text.hashing_trick(s, 17, "md5") == ktext.hashing_trick(s, 17, "md5")
    assert text.one_hot(s, 11) == ktext.one_hot(s, 11)  # Python's hash: equal within one process
    assert all(1 <= i < 11 for i in text.one_hot(s, 11))


def test_sequence_helpers_match_keras(keras):
    from keras.src.legacy.preprocessing import sequence as kseq

    from bigcore.preprocessing import sequence
    np.testing.assert_allclose(sequence.make_sampling_table(50), kseq.make_sampling_table(50))
    seq = [0, 3, 1, 4, 1, 5, 9, 2, 6, 0, 5]
    table = sequence.make_sampling_table(10, sampling_factor=0.05)
    for kw in ({}, {"categorical": True, "window_size": 2, "negative_samples": 0.5}, {"shuffle": False},
               {"sampling_table": table}):
        random.seed(7)
        ours = sequence.skipgrams(seq, 10, seed=3, **kw)
        random.seed(7)
        theirs = kseq.skipgrams(seq, 10, seed=3, **kw)
        assert ours == theirs
    assert sequence.pad_sequences is bigcore.utils.pad_sequences


@pytest.mark.parametrize("kw", [{"length": 4}, {"length": 6, "sampling_rate": 2, "stride": 3, "batch_size": 5},
                                {"length": 3, "reverse": True, "start_index": 4, "end_index": 30}])
def test_timeseries_generator_matches_keras(keras, kw):
    from keras.src.legacy.preprocessing import sequence as kseq

    from bigcore.preprocessing import sequence
    data = np.arange(80, dtype=np.float32).reshape(40, 2)
    targets = np.arange(40) * 10
    ours, theirs = sequence.TimeseriesGenerator(data, targets, **kw), kseq.TimeseriesGenerator(data, targets, **kw)
    assert len(ours) == len(theirs) > 0
    for i in range(len(ours)):
        for a, b in zip(ours[i], theirs[i]):
            np.testing.assert_array_equal(a, b)
    assert json.loads(ours.to_json())["config"]["length"] == kw["length"]
    with pytest.raises(ValueError, match="same length"):
        sequence.TimeseriesGenerator(data, targets[:-1], length=3)


def test_timeseries_generator_trains(seed):
    from bigcore.preprocessing.sequence import TimeseriesGenerator
    data = np.sin(np.arange(200, dtype=np.float32) / 5).reshape(-1, 1)
    gen = TimeseriesGenerator(data, data[:, 0], length=8, batch_size=16)
    m = bigcore.Sequential([layers.Input((8, 1)), layers.LSTM(4), layers.Dense(1)])
    m.compile("adam", "mse")
    history = m.fit(gen, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and history.history["loss"][-1] < history.history["loss"][0]


# --- timeseries_dataset_from_array ---------------------------------------------------------------

def _windows_reference(data, targets, length, stride, rate, start, end):
    end = len(data) if end is None else end
    xs, ys = [], []
    p = 0
    while start + p + (length - 1) * rate < end and (targets is None or start + p < len(targets)):
        xs.append(np.stack([data[start + p + k * rate] for k in range(length)]))
        ys.append(None if targets is None else targets[start + p])
        p += stride
    return np.array(xs), ys


@pytest.mark.parametrize("kw", [dict(sequence_length=5), dict(sequence_length=4, sequence_stride=3, sampling_rate=2),
                                dict(sequence_length=3, start_index=7, end_index=40, batch_size=4),
                                dict(sequence_length=6, batch_size=None)])
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_dataset_windows(kw, with_targets):
    data = np.arange(100, dtype=np.float32).reshape(50, 2)
    targets = np.arange(50) * 3 if with_targets else None
    ds = bigcore.utils.timeseries_dataset_from_array(data, targets, **{"batch_size": 7, **kw})
    got = list(ds)
    assert len(got) == len(ds)
    if kw.get("batch_size", 7) is None:
        got = [(x[None], np.array([y])) if with_targets else x[None] for x, y in
               (g if with_targets else (g, None) for g in got)]
    xs = np.concatenate([g[0] if with_targets else g for g in got])
    ref_x, ref_y = _windows_reference(data, targets, kw["sequence_length"], kw.get("sequence_stride", 1),
                                      kw.get("sampling_rate", 1), kw.get("start_index", 0), kw.get("end_index"))
    np.testing.assert_array_equal(xs, ref_x)
    if with_targets:
        np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), ref_y)


def test_timeseries_dataset_shuffle_and_errors():
    data = np.arange(60, dtype=np.float32)
    a = np.concatenate([b for b in bigcore.utils.timeseries_dataset_from_array(data, None, 4, shuffle=True, seed=5,
                                                                                batch_size=8)])
    positions = np.arange(57)
    np.random.RandomState(5).shuffle(positions)  # Keras's first shuffle of the start positions
    np.testing.assert_array_equal(a[:, 0], positions)
    ds = bigcore.utils.timeseries_dataset_from_array(data, None, 4, shuffle=True, seed=5, batch_size=8)
    first, second = np.concatenate(list(ds)), np.concatenate(list(ds))
    assert sorted(first[:, 0]) == sorted(second[:, 0]) and not np.array_equal(first, second)
    for bad, match in ((dict(start_index=-1), "0 or greater"), (dict(end_index=99), "lower than the length"),
                       (dict(sampling_rate=0), "higher than 0"), (dict(sequence_stride=60), "lower than"),
                       (dict(start_index=10, end_index=5), "higher than `start_index`")):
        with pytest.raises(ValueError, match=match):
            bigcore.utils.timeseries_dataset_from_array(data, None, 4, **bad)


# --- text_dataset_from_directory -----------------------------------------------------------------

@pytest.fixture
def text_dir(tmp_path):
    root = tmp_path / "reviews"
    for cls, n in (("neg", 5), ("pos", 4)):
        (root / cls / "deeper").mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.txt").write_text(f"{cls} review number {i} " + "x" * i, encoding="utf-8")
        (root / cls / "deeper" / "z.txt").write_bytes(f"nested {cls} \xe9".encode("utf-8") + b"\xff")
        (root / cls / "skip.md").write_text("not a text file")
    (root / ".hidden").mkdir()
    return root


def test_text_dataset_matches_keras_index(keras, text_dir, capsys):
    from keras.src.utils import dataset_utils
    paths, labels, names = dataset_utils.index_directory(str(text_dir), "inferred", formats=(".txt",), shuffle=True,
                                                         seed=11)
    ds = bigcore.utils.text_dataset_from_directory(text_dir, batch_size=4, seed=11)
    assert ds.class_names == names == ["neg", "pos"] and ds.file_paths == paths
    assert "Found 11 files belonging to 2 classes." in capsys.readouterr().out
    texts, ys = zip(*list(ds))
    texts, ys = np.concatenate(texts), np.concatenate(ys)
    np.testing.assert_array_equal(ys, labels)
    assert ys.dtype == np.int32 and texts.dtype == object
    for t, p in zip(texts, paths):
        with open(p, "rb") as f:
            assert t == f.read().decode("utf-8", "replace")


def test_text_dataset_modes(text_dir):
    read = functools.partial(bigcore.utils.text_dataset_from_directory, text_dir, verbose=False, shuffle=False)
    x, y = next(iter(read(label_mode="categorical", batch_size=20)))
    assert y.shape == (11, 2) and y.dtype == np.float32 and (y.sum(1) == 1).all()
    x, y = next(iter(read(label_mode="binary", batch_size=20, max_length=5)))
    assert y.shape == (11, 1) and all(len(t.encode()) <= 5 for t in x)
    texts = next(iter(read(label_mode=None, batch_size=20)))
    assert isinstance(texts, np.ndarray) and len(texts) == 11
    train, val = read(validation_split=0.3, subset="both", batch_size=2, seed=1)
    assert sum(len(b[0]) for b in train) == 8 and sum(len(b[0]) for b in val) == 3
    one = read(batch_size=None)
    first = next(iter(one))
    assert isinstance(first[0], str) and first[1] == 0
    with pytest.raises(ValueError, match="class_names"):
        read(class_names=["neg", "other"])
    with pytest.raises(ValueError, match="exactly 2"):
        bigcore.utils.text_dataset_from_directory(text_dir, label_mode="binary", class_names=["neg"], verbose=False)
    with pytest.raises(ValueError, match="validation_split"):
        read(subset="training")
    # Keras's checks, shared with image_dataset_from_directory (tests/test_image_dataset.py)
    assert len(read(format="tf", batch_size=20)) == 1
    with pytest.raises(ValueError, match='Expected format="tf"'):
        read(format="grain")
    with pytest.raises(ValueError, match="must provide a `seed`"):
        read(shuffle=True, validation_split=0.3, subset="training")
    with pytest.raises(ValueError, match="`class_names` cannot be specified"):
        read(labels=None, class_names=["neg"])


def test_text_dataset_feeds_a_text_model(text_dir, seed):
    train = bigcore.utils.text_dataset_from_directory(text_dir, batch_size=4, seed=3, verbose=False)
    vectorize = layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(train.map(lambda x, y: x))
    inp = bigcore.Input(shape=(1,), dtype="string")
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(layers.Embedding(30, 4)(vectorize(inp))))
    model = bigcore.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and "review" in vectorize.get_vocabulary()
    assert model.predict(train.map(lambda x, y: x), verbose=0).shape == (11, 2)


# --- split_dataset ---------------------------------------------------------------------------------

def _keras_split_reference(n, left, right, shuffle, seed):
    """Keras's split (its tf.data route; the torch one draws a random split even unshuffled): the
    samples in Python's random.seed(seed) shuffle order, the first `left` and the last `right`."""
    order = list(range(n))
    if shuffle:
        random.seed(seed)
        random.shuffle(order)
    return order[:left], order[n - right:]


@pytest.mark.parametrize("sizes", [dict(left_size=0.8), dict(right_size=3), dict(left_size=4, right_size=0.3)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_split_dataset_matches_keras(keras, sizes, shuffle):
    from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    y = np.arange(15)
    left, right = bigcore.utils.split_dataset((x, y), shuffle=shuffle, seed=2, **sizes)
    n_left, n_right = _rescale_dataset_split_sizes(sizes.get("left_size"), sizes.get("right_size"), 15)
    for ds, rows in zip((left, right), _keras_split_reference(15, n_left, n_right, shuffle, 2)):
        got = list(ds)
        assert len(got) == len(ds) == len(rows)
        np.testing.assert_array_equal(np.stack([g[0] for g in got]), x[rows])
        np.testing.assert_array_equal([g[1] for g in got], y[rows])


def test_split_dataset_batched_and_errors():
    ds = bigcore.data.Dataset.from_tensor_slices({"a": np.arange(10), "b": np.arange(10) * 2}).batch(3)
    left, right = bigcore.utils.split_dataset(ds, left_size=6)
    batches = list(left)
    assert [len(b["a"]) for b in batches] == [3, 3] and list(right)[0]["b"].tolist() == [12, 14, 16]
    with pytest.raises(ValueError, match="At least one"):
        bigcore.utils.split_dataset(np.arange(5))
    with pytest.raises(ValueError, match="left_size"):
        bigcore.utils.split_dataset(np.arange(5), left_size=1.5)
    with pytest.raises(TypeError, match="Dataset"):
        bigcore.utils.split_dataset(object(), left_size=0.5)


# --- PyDataset -------------------------------------------------------------------------------------

class _Batches(bigcore.utils.PyDataset):
    def __init__(self, n=6, size=8, **kw):
        super().__init__(**kw)
        self.n, self.size = n, size
        self.begins = self.ends = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        x = rng.normal(size=(self.size, 3)).astype(np.float32)
        return x, (x.sum(1, keepdims=True) > 0).astype(np.float32)

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def _fit(data, **kw):
    bigcore.utils.set_random_seed(3)
    m = bigcore.Sequential([layers.Dense(4, activation="relu"), layers.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(data, epochs=3, verbose=0, **kw)
    return m, h.history


@pytest.mark.parametrize("kw", [{}, {"workers": 3, "max_queue_size": 2}, {"workers": 2, "use_multiprocessing": True}])
def test_py_dataset_fit_equals_arrays(kw):
    ds = _Batches(**kw)
    m, hist = _fit(ds, shuffle=False)
    assert ds.begins == ds.ends == 3
    x = np.concatenate([ds[i][0] for i in range(6)])
    y = np.concatenate([ds[i][1] for i in range(6)])
    _, ref = _fit(x, y=y, batch_size=8, shuffle=False)
    np.testing.assert_allclose(hist["loss"], ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(m.predict(_Batches(**kw), verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    assert m.evaluate(_Batches(**kw), verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0, batch_size=8))


def test_py_dataset_shuffle_steps_and_validation():
    ds = _Batches()
    _, a = _fit(ds)  # shuffled batch order: reproducible from the seed
    _, b = _fit(_Batches())
    _, c = _fit(_Batches(), shuffle=False)
    assert a["loss"] == b["loss"] != c["loss"]
    cut = _Batches()
    _fit(cut, steps_per_epoch=2, validation_data=_Batches(n=2))
    assert cut.begins == cut.ends == 3  # on_epoch_end also when the epoch is cut short


def test_py_dataset_contract():
    class NoSuper(bigcore.utils.Sequence):
        def __init__(self):  # forgets super().__init__()
            self.n = 1

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return np.ones((2, 3), np.float32), np.ones((2, 1), np.float32)

    with pytest.warns(UserWarning, match="super"):
        assert NoSuper().workers == 1
    with pytest.raises(ValueError, match="workers"):
        _Batches(workers=-1)

    class Bad(_Batches):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x, y, np.ones(len(x)), "one too many"

    with pytest.raises(ValueError, match="PyDataset"):
        _fit(Bad())
    with pytest.raises(ValueError, match="y must be None"):
        _fit(_Batches(), y=np.ones(3))


# --- get_file ----------------------------------------------------------------------------------

def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_get_file_local_first_verified(tmp_path, capsys):
    payload = os.urandom(5000)
    src = tmp_path / "origin" / "blob.bin"
    src.parent.mkdir()
    src.write_bytes(payload)
    cache = tmp_path / "cache"
    url = src.as_uri()
    path = bigcore.utils.get_file(origin=url, file_hash=_sha256(payload), cache_dir=cache)
    assert path == str(cache / "datasets" / "blob.bin")
    with open(path, "rb") as f:
        assert f.read() == payload
    assert "Downloading data from" in capsys.readouterr().out
    src.unlink()  # the cached copy is used: no download
    assert bigcore.utils.get_file("blob.bin", url, file_hash=_sha256(payload), cache_dir=cache) == path
    assert capsys.readouterr().out == ""
    src.write_bytes(b"tampered")
    with pytest.raises(ValueError, match="does not match"):
        bigcore.utils.get_file("other.bin", url, file_hash=_sha256(payload), cache_dir=cache)
    assert not (cache / "datasets" / "other.bin").exists()  # the bad download was deleted
    md5 = hashlib.md5(b"tampered").hexdigest()
    with open(bigcore.utils.get_file("m.bin", url, md5_hash=md5, cache_dir=cache), "rb") as f:
        assert f.read() == b"tampered"
    with pytest.raises(OSError, match="URL fetch failure"):
        bigcore.utils.get_file("gone.bin", (tmp_path / "missing").as_uri(), cache_dir=cache)
    with pytest.raises(ValueError, match="origin"):
        bigcore.utils.get_file("x")
    with pytest.raises(ValueError, match="cache_dir"):
        bigcore.utils.get_file("a/b", url, cache_dir=cache)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_get_file_over_loopback_http_with_extract(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"hello from the archive"
        info = tarfile.TarInfo("pkg/readme.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (served / "pkg.tar.gz").write_bytes(buf.getvalue())
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("../escape.txt", "no")
    (served / "evil.zip").write_bytes(zbuf.getvalue())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        folder = bigcore.utils.get_file("pkg.tar.gz", f"{base}/pkg.tar.gz", extract=True, cache_dir=tmp_path / "c",
                                        file_hash=_sha256(buf.getvalue()))
        with open(os.path.join(folder, "pkg", "readme.txt"), "rb") as f:
            assert f.read() == data
        with pytest.raises(ValueError, match="outside"):
            bigcore.utils.get_file("evil.zip", f"{base}/evil.zip", extract=True, cache_dir=tmp_path / "c")
        assert not (tmp_path / "c" / "datasets" / "escape.txt").exists()
        with pytest.raises(OSError, match="404"):
            bigcore.utils.get_file("nope.bin", f"{base}/nope.bin", cache_dir=tmp_path / "c")
    finally:
        server.shutdown()
        server.server_close()


def test_progbar_counts(capsys):
    bar = bigcore.utils.Progbar(4, verbose=2)
    for i in range(1, 5):
        bar.update(i, [("loss", float(i))])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "4/4" in out and "loss: 2.5" in out  # the average over the steps


# --- confusion-count metrics ---------------------------------------------------------------------

def _metric_pairs(keras):
    M, K = bigcore.metrics, keras.metrics
    return [(M.TruePositives(), K.TruePositives()), (M.FalseNegatives(thresholds=[0.2, 0.7]),
                                                     K.FalseNegatives(thresholds=[0.2, 0.7])),
            (M.TrueNegatives(thresholds=0.3), K.TrueNegatives(thresholds=0.3)), (M.FalsePositives(), K.FalsePositives()),
            (M.PrecisionAtRecall(0.5), K.PrecisionAtRecall(0.5)), (M.RecallAtPrecision(0.6), K.RecallAtPrecision(0.6)),
            (M.SensitivityAtSpecificity(0.5, class_id=1), K.SensitivityAtSpecificity(0.5, class_id=1)),
            (M.SpecificityAtSensitivity(0.5, num_thresholds=13), K.SpecificityAtSensitivity(0.5, num_thresholds=13)),
            (M.PrecisionAtRecall(0.4, num_thresholds=1, name="par1"), K.PrecisionAtRecall(0.4, num_thresholds=1)),
            (M.F1Score(), K.F1Score()), (M.F1Score(average="micro", threshold=0.5, name="f1_micro"),
                                         K.F1Score(average="micro", threshold=0.5)),
            (M.FBetaScore(average="weighted", beta=2.0), K.FBetaScore(average="weighted", beta=2.0)),
            (M.F1Score(average="macro", name="f1_macro"), K.F1Score(average="macro"))]


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_confusion_count_metrics_match_keras(keras, seed, activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 5)).astype(np.float32)
    y = (rng.random((70, 3)) > 0.6).astype(np.float32)
    if activation == "softmax":
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 70)]
    pairs = _metric_pairs(keras)
    m = bigcore.Sequential([layers.Dense(3, activation=activation, input_shape=(5,))])
    m.compile("sgd", "binary_crossentropy", metrics=[p[0] for p in pairs])
    logs = m.evaluate(x, y, batch_size=9, verbose=0, return_dict=True)
    pred = m.predict(x, verbose=0)
    for ours, theirs in pairs:
        theirs.update_state(y, pred)
        np.testing.assert_allclose(logs[ours.name], np.asarray(theirs.result()), rtol=1e-5, atol=1e-6,
                                   err_msg=ours.name)


def test_confusion_metrics_by_name_and_saved(tmp_path, seed):
    m = bigcore.Sequential([layers.Dense(2, activation="sigmoid", input_shape=(3,))])
    m.compile("sgd", "binary_crossentropy", metrics=["true_positives", bigcore.metrics.F1Score(average="macro")])
    x, y = np.random.default_rng(1).normal(size=(20, 3)), np.eye(2)[np.arange(20) % 2]
    before = m.evaluate(x, y, verbose=0)
    m.save(tmp_path / "m.bigcore")
    after = bigcore.models.load_model(tmp_path / "m.bigcore").evaluate(x, y, verbose=0)
    assert before == after and m.metrics_names == ["loss", "true_positives", "f1_score"]
    with pytest.raises(ValueError, match="recall"):
        bigcore.metrics.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="average"):
        bigcore.metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="beta"):
        bigcore.metrics.FBetaScore(beta=2)
