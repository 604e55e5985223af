"""bigcore.datasets.cifar10, .cifar100, .reuters and .california_housing on files the tests write
in each format Keras's users may hold (never the network), and the pickle reader under them
(datasets/_pickle_data.py), which must refuse any pickle that is not plain data."""

import hashlib
import io
import pickle
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from bigcore.datasets import _cifar, _files, _pickle_data, california_housing, cifar10, cifar100, reuters


# ---- The python-version batches: a Python 2 pickle as the CIFAR files are written -----------


def _s(b: bytes) -> bytes:  # a Python 2 str: SHORT_BINSTRING or BINSTRING
    return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b


def _int(v: int) -> bytes:
    return b"K" + bytes([v]) if v < 256 else b"J" + struct.pack("<i", v)


def py2_batch(d: dict, data_global=b"numpy.core.multiarray\n_reconstruct\n") -> bytes:
    """The opcode stream cPickle (protocol 2) wrote for a CIFAR batch: a dict of str keys to str,
    lists of ints or str, and a uint8 ndarray (numpy's _reconstruct + BUILD with its state)."""
    out = [b"\x80\x02}q\x00(" ]
    for key, v in d.items():
        out.append(_s(key))
        if isinstance(v, np.ndarray):
            out.append(b"c" + data_global + b"cnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01")
            out.append(b"".join(_int(n) for n in v.shape) + {1: b"\x85", 2: b"\x86"}[v.ndim])
            out.append(b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
            out.append(b"\x89" + _s(v.tobytes()) + b"tb")
        elif isinstance(v, list):
            out.append(b"](" + b"".join(_s(e) if isinstance(e, bytes) else _int(e) for e in v) + b"e")
        else:
            out.append(_s(v))
    out.append(b"u.")
    return b"".join(out)


def make_batches(names, n=4, label_keys=(b"labels",), seed=0):
    """{name: (dict as in the files, x (n, 32, 32, 3) channels last, {label key: labels})}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = {k: rng.integers(0, 100 if k == b"fine_labels" else 10, n).tolist() for k in label_keys}
        d = {b"batch_label": f"batch {name}".encode(), **labels, b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        out[name] = (d, data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), labels)
    return out


C10_NAMES = [*cifar10.SPEC.train, cifar10.SPEC.test]


def write_folder(folder: Path, batches, fmt="py2"):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (d, _, _) in batches.items():
        (folder / name).write_bytes(py2_batch(d) if fmt == "py2" else pickle.dumps(d, protocol=4))


def check_cifar10(got, batches):
    (x_train, y_train), (x_test, y_test) = got
    train = [batches[n] for n in cifar10.SPEC.train]
    np.testing.assert_array_equal(x_train, np.concatenate([x for _, x, _ in train]))
    np.testing.assert_array_equal(y_train[:, 0], np.concatenate([lab[b"labels"] for _, _, lab in train]))
    np.testing.assert_array_equal(x_test, batches["test_batch"][1])
    np.testing.assert_array_equal(y_test[:, 0], batches["test_batch"][2][b"labels"])
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert y_train.shape == (20, 1) and y_test.shape == (4, 1)
    assert x_train.dtype == x_test.dtype == y_train.dtype == y_test.dtype == np.uint8


def test_cifar10_python_batches_from_bigcore_data(env, monkeypatch):
    batches = make_batches(C10_NAMES)
    write_folder(env / "data" / "cifar-10-batches-py", batches)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    check_cifar10(cifar10.load_data(), batches)
    # channel order: pixel (h, w) of channel c is data[c * 1024 + h * 32 + w], as Keras's transpose
    (x_train, _), _ = cifar10.load_data()
    d = batches["data_batch_1"][0][b"data"]
    assert x_train[1, 5, 7, 2] == d[1, 2 * 1024 + 5 * 32 + 7]


def test_cifar10_from_keras_cache_python3_pickles(env):
    batches = make_batches(C10_NAMES, seed=1)
    write_folder(env / "home" / ".keras" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                 batches, fmt="py3")
    check_cifar10(cifar10.load_data(), batches)


def test_cifar10_binary_version(env, monkeypatch):
    batches = make_batches(C10_NAMES, seed=2)
    folder = env / "data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (d, _, labels) in batches.items():
        records = np.concatenate([np.array(labels[b"labels"], np.uint8)[:, None], d[b"data"]], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    check_cifar10(cifar10.load_data(), batches)


def tarball(root: str, batches) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (d, _, _) in batches.items():
            data = py2_batch(d)
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar10_download_reads_the_tarball_in_place(env, monkeypatch, serve):
    batches = make_batches(C10_NAMES, seed=3)
    payload = tarball("cifar-10-batches-py", batches)
    monkeypatch.setattr(cifar10, "SPEC", cifar10.SPEC.__class__(
        **{**cifar10.SPEC.__dict__, "sha256": hashlib.sha256(payload).hexdigest()}))
    calls = serve(monkeypatch, {"cifar-10-python.tar.gz": payload})
    check_cifar10(cifar10.load_data(), batches)
    assert calls == [cifar10.URL]
    assert [p.name for p in _files.cache_dir("cifar10").iterdir()] == ["cifar-10-python.tar.gz"]  # not extracted
    calls.clear()
    check_cifar10(cifar10.load_data(), batches)
    assert calls == []


def test_cifar100_fine_and_coarse_from_a_tarball_and_binary(env, monkeypatch):
    batches = make_batches(["train", "test"], n=5, label_keys=(b"fine_labels", b"coarse_labels"))
    cache = _files.cache_dir("cifar100")
    cache.mkdir(parents=True)
    (cache / "cifar-100-python.tar.gz").write_bytes(tarball("cifar-100-python", batches))
    for mode in ("fine", "coarse"):
        (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode=mode)
        np.testing.assert_array_equal(x_train, batches["train"][1])
        np.testing.assert_array_equal(x_test, batches["test"][1])
        np.testing.assert_array_equal(y_train[:, 0], batches["train"][2][f"{mode}_labels".encode()])
        np.testing.assert_array_equal(y_test[:, 0], batches["test"][2][f"{mode}_labels".encode()])
        assert y_train.shape == (5, 1) and y_train.dtype == np.int64 and x_train.dtype == np.uint8
    folder = env / "data" / "cifar-100-binary"  # earlier in the search than the cache
    folder.mkdir(parents=True)
    for name, (d, _, labels) in batches.items():
        lab = np.stack([labels[b"coarse_labels"], labels[b"fine_labels"]], axis=1).astype(np.uint8)
        (folder / f"{name}.bin").write_bytes(np.concatenate([lab, d[b"data"]], axis=1).tobytes())
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    (x_train, y_train), _ = cifar100.load_data("coarse")
    np.testing.assert_array_equal(x_train, batches["train"][1])
    np.testing.assert_array_equal(y_train[:, 0], batches["train"][2][b"coarse_labels"])
    assert y_train.dtype == np.int64
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data("medium")


def test_a_pickle_calling_anything_is_refused_before_it_runs(env, monkeypatch, tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {marker}",))

    evil = pickle.dumps({b"data": Evil(), b"labels": [1]}, protocol=3)
    assert b"system" in evil
    with pytest.raises(ValueError, match=r"refusing to read this pickle: the global (os|posix)\.system"):
        _pickle_data.read_pickled_data(evil, "evil")
    # in a batch file, the loader says which file
    batches = make_batches(C10_NAMES)
    write_folder(env / "data" / "cifar-10-batches-py", batches)
    (env / "data" / "cifar-10-batches-py" / "data_batch_3").write_bytes(evil)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    with pytest.raises(ValueError, match="data_batch_3: refusing"):
        cifar10.load_data()
    assert not marker.exists()


@pytest.mark.parametrize("stream, message", [
    (py2_batch({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]},
               data_global=b"numpy\nfromfile\n"), "the global numpy.fromfile"),
    (pickle.dumps({b"data": {1, 2}, b"labels": [0]}, protocol=4), "opcode EMPTY_SET"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.float32), b"labels": [0]}, protocol=4), "unexpected value"),
    (pickle.dumps([np.zeros(3, np.uint8)], protocol=4), "expected a pickled dict"),
    (b"\x80\x02}q\x00(U\x04data", "not a readable pickle"),
])
def test_other_pickle_structures_are_refused(stream, message):
    with pytest.raises(ValueError, match=message):
        _cifar.parse_python_batch(stream, "labels", "b")


def test_cifar_nothing_found_and_download_failed_explains(env, monkeypatch):
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    with pytest.raises(FileNotFoundError) as info:
        cifar10.load_data()
    message = str(info.value)
    for needle in ("cifar-10-batches-py/", "cifar-10-batches-bin/", "cifar-10-python.tar.gz", "offline in tests",
                   str(env / "data" / "cifar10"), str(env / "home" / ".keras" / "datasets"), "BIGCORE_DATA"):
        assert needle in message
    assert list(_files.cache_dir("cifar10").iterdir()) == []  # no half-written download left


# ---- Reuters ---------------------------------------------------------------------------------


def write_reuters(path: Path, n=40, seed=0):
    rng = np.random.default_rng(seed)
    xs = np.empty(n, dtype=object)
    xs[:] = [rng.integers(1, 30, rng.integers(1, 15)).tolist() for _ in range(n)]
    labels = rng.integers(0, 46, n).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=xs, y=labels)  # numpy pickles the object array inside the .npy, as Keras's file
    return xs, labels


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 15, "skip_top": 4, "seed": 7},
                                    {"maxlen": 10, "oov_char": None, "test_split": 0.3},
                                    {"start_char": None, "index_from": 0}])
def test_reuters_matches_keras(env, keras, monkeypatch, kwargs):
    import importlib

    path = env / "home" / ".keras" / "datasets" / "reuters.npz"  # found in Keras's cache
    write_reuters(path)
    keras_reuters = importlib.import_module("keras.src.datasets.reuters")
    monkeypatch.setattr(keras_reuters, "get_file", lambda *a, **k: str(path))  # Keras reads the same file
    (x_train, y_train), (x_test, y_test) = reuters.load_data(**kwargs)
    (kx_train, ky_train), (kx_test, ky_test) = keras_reuters.load_data(**kwargs)
    assert x_train.dtype == object and x_train.shape == kx_train.shape and x_test.shape == kx_test.shape
    assert [list(x) for x in x_train] == [list(x) for x in kx_train]
    assert [list(x) for x in x_test] == [list(x) for x in kx_test]
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)
    assert y_train.dtype == ky_train.dtype


def test_reuters_word_index_labels_and_missing_file(env, monkeypatch, serve):
    assert len(reuters.get_label_names()) == 46 and reuters.get_label_names()[3] == "earn"
    payload = b'{"the": 1, "of": 2}'
    monkeypatch.setattr(reuters, "WORD_INDEX_MD5", hashlib.md5(payload).hexdigest())
    calls = serve(monkeypatch, {"reuters_word_index.json": payload})
    assert reuters.get_word_index() == {"the": 1, "of": 2}
    assert calls == [reuters.WORD_INDEX_URL]
    monkeypatch.setattr(_files, "_fetch", lambda url, dest: (_ for _ in ()).throw(urllib.error.URLError("down")))
    with pytest.raises(FileNotFoundError, match=r"reuters: could not find reuters.npz(.|\n)*down"):
        reuters.load_data()


def test_reuters_refuses_a_pickle_that_is_not_lists_of_ints(env):
    path = env / "r.npz"
    xs = np.empty(2, dtype=object)
    xs[:] = [[1, 2], {"a": 1}]
    np.savez(path, x=xs, y=np.array([0, 1]))
    with pytest.raises(ValueError, match="list of ints"):
        reuters.load_data(str(path))


# ---- California housing ---------------------------------------------------------------------


def test_california_versions_and_split(env, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(700, 8)).astype(np.float32), rng.normal(size=700).astype(np.float32)
    data = env / "data"
    data.mkdir()
    np.savez(data / "california_housing.npz", x=x, y=y)
    monkeypatch.setenv("BIGCORE_DATA", str(data))
    for version, n in (("large", 700), ("small", 600)):
        (x_train, y_train), (x_test, y_test) = california_housing.load_data(version=version, seed=5, test_split=0.25)
        order = np.arange(n)
        np.random.RandomState(5).shuffle(order)
        cut = int(n * 0.75)
        np.testing.assert_array_equal(x_train, x[order[:cut]])
        np.testing.assert_array_equal(y_test, y[order[cut:]])
        assert x_train.shape == (cut, 8) and x_test.shape == (n - cut, 8) and x_train.dtype == np.float32
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium")
    with pytest.raises(ValueError, match="test_split"):
        california_housing.load_data(test_split=1.0)
    monkeypatch.delenv("BIGCORE_DATA")
    with pytest.raises(FileNotFoundError, match="california_housing: could not find"):
        california_housing.load_data()


def test_a_self_containing_pickle_is_an_error_not_a_crash():
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="not a readable pickle"):
        _pickle_data.read_pickled_data(pickle.dumps({b"data": loop}, protocol=4), "loop")
