"""bigcore.datasets: lookup order, IDX/npz parsing, verified downloads. Never uses the network."""

import gzip
import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from bigcore.datasets import _files, fashion_mnist, mnist

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX: 0, 0, type code, ndim, big-endian dims, big-endian data."""
    code = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    kind = array.dtype.str[1:]
    header = bytes([0, 0, code[kind], array.ndim]) + np.array(array.shape, ">i4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def make_arrays(seed=0, n_train=12, n_test=5):
    rng = np.random.default_rng(seed)
    images = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    labels = lambda n: rng.integers(0, 10, n, dtype=np.uint8)  # noqa: E731
    return (images(n_train), labels(n_train)), (images(n_test), labels(n_test))


def flat(arrays):
    (x_train, y_train), (x_test, y_test) = arrays
    return [x_train, y_train, x_test, y_test]


def write_idx_set(folder: Path, arrays, gz=True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(_files.IDX_STEMS, flat(arrays)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / stem).write_bytes(data)


def assert_same(got, want):
    for g, w in zip(flat(got), flat(want)):
        assert g.dtype == np.uint8
        np.testing.assert_array_equal(g, w)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated world: fake HOME (so ~/.bigcore is in tmp), no BIGCORE_DATA,
    no Debian folder, and a network stub that always fails."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BIGCORE_DATA", raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-debian")

    def offline(url, dest):
        raise urllib.error.URLError("offline in tests")

    monkeypatch.setattr(_files, "_fetch", offline)
    return tmp_path


# ---- IDX parsing -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_parse_idx_round_trip(dtype, shape):
    array = (np.arange(np.prod(shape)) % 100).reshape(shape).astype(dtype)
    parsed = _files.parse_idx(idx_bytes(array))
    assert parsed.shape == shape
    assert parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01" + bytes(8), "not an IDX file"),  # first byte must be 0
        (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),  # unknown type code
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(np.zeros((4, 3, 3), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((4,), np.uint8)) + b"\x00", "trailing bytes"),
    ],
)
def test_parse_idx_rejects_corrupt_data(data, message):
    with pytest.raises(ValueError, match=message):
        _files.parse_idx(data, "some-file")


def test_truncated_gzip_is_a_value_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        _files.read_bytes(path)


def test_wrong_rank_and_count_mismatch_are_reported(env):
    (x_train, y_train), test = make_arrays()
    write_idx_set(env / "a", ((x_train[:, 0], y_train), test))  # 2-d "images"
    with pytest.raises(ValueError, match="3-d uint8"):
        _files.load_idx_set(_files.find_set([env / "a"], _files.IDX_STEMS))
    write_idx_set(env / "b", ((x_train, y_train[:-1]), test))
    with pytest.raises(ValueError, match="12 images but 11 labels"):
        _files.load_idx_set(_files.find_set([env / "b"], _files.IDX_STEMS))


# ---- Fashion-MNIST lookup --------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_fashion_from_bigcore_data(env, monkeypatch, gz, subfolder):
    arrays = make_arrays()
    write_idx_set(env / "data" / subfolder, arrays, gz=gz)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    assert_same(fashion_mnist.load_data(), arrays)


def test_fashion_lookup_order(env, monkeypatch):
    env_set, cache_set, system_set = make_arrays(1), make_arrays(2), make_arrays(3)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", env / "debian")
    write_idx_set(env / "debian", system_set)
    assert_same(fashion_mnist.load_data(), system_set)

    write_idx_set(_files.cache_dir("fashion-mnist"), cache_set, gz=False)
    assert_same(fashion_mnist.load_data(), cache_set)

    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    write_idx_set(env / "data", env_set)
    (env / "data" / "t10k-labels-idx1-ubyte.gz").unlink()  # incomplete sets are skipped
    assert_same(fashion_mnist.load_data(), cache_set)
    write_idx_set(env / "data", env_set)
    assert_same(fashion_mnist.load_data(), env_set)


def test_cache_is_under_home(env):
    assert _files.cache_dir("mnist") == env / "home" / ".bigcore" / "datasets" / "mnist"


# ---- Fashion-MNIST downloads (stubbed) ---------------------------------------------


def serve(monkeypatch, payloads: dict, fail_prefix=None):
    """Replace the network: URL basename -> bytes; URLs starting with fail_prefix fail."""
    calls = []

    def fetch(url, dest):
        calls.append(url)
        if fail_prefix and url.startswith(fail_prefix):
            raise urllib.error.URLError("mirror down")
        Path(dest).write_bytes(payloads[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(_files, "_fetch", fetch)
    return calls


def test_fashion_download_verifies_and_caches(env, monkeypatch):
    arrays = make_arrays()
    raw = {stem: idx_bytes(a) for stem, a in zip(_files.IDX_STEMS, flat(arrays))}
    monkeypatch.setattr(
        fashion_mnist, "SHA256", {s: hashlib.sha256(d).hexdigest() for s, d in raw.items()}
    )
    # First mirror down: every file must come from the second one.
    payloads = {f"{s}.gz": gzip.compress(d) for s, d in raw.items()}
    calls = serve(monkeypatch, payloads, fail_prefix=fashion_mnist.MIRRORS[0])
    assert_same(fashion_mnist.load_data(), arrays)
    assert len(calls) == 8
    cache = _files.cache_dir("fashion-mnist")
    assert sorted(p.name for p in cache.iterdir()) == sorted(payloads)

    calls.clear()
    assert_same(fashion_mnist.load_data(), arrays)
    assert calls == []  # served from the cache


def test_fashion_checksum_mismatch_deletes_download(env, monkeypatch):
    bad = gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    serve(monkeypatch, {f"{s}.gz": bad for s in _files.IDX_STEMS})
    with pytest.raises(ValueError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert fashion_mnist.SHA256["train-images-idx3-ubyte"] in message
    assert hashlib.sha256(gzip.decompress(bad)).hexdigest() in message
    assert list(_files.cache_dir("fashion-mnist").iterdir()) == []  # no file, no .part


def test_fashion_garbage_download_is_rejected(env, monkeypatch):
    serve(monkeypatch, {f"{s}.gz": b"\x1f\x8b<html>" for s in _files.IDX_STEMS})
    with pytest.raises(ValueError, match="unreadable"):
        fashion_mnist.load_data()
    assert list(_files.cache_dir("fashion-mnist").iterdir()) == []


def test_fashion_nothing_found_explains(env, monkeypatch):
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    with pytest.raises(OSError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    for needle in ("apt-get install dataset-fashion-mnist", "BIGCORE_DATA", "offline in tests",
                   str(env / "data" / "fashion-mnist"), str(fashion_mnist.SYSTEM_DIR)):
        assert needle in message


# ---- MNIST ---------------------------------------------------------------------------


def write_npz(path: Path, arrays, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **dict(zip(("x_train", "y_train", "x_test", "y_test"), flat(arrays))), **extra)


def test_mnist_npz_from_bigcore_data(env, monkeypatch):
    arrays = make_arrays()
    write_npz(env / "data" / "mnist.npz", arrays)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    assert_same(mnist.load_data(), arrays)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_from_bigcore_data_subfolder(env, monkeypatch, gz):
    arrays = make_arrays()
    write_idx_set(env / "data" / "mnist", arrays, gz=gz)
    monkeypatch.setenv("BIGCORE_DATA", str(env / "data"))
    assert_same(mnist.load_data(), arrays)


def test_mnist_absolute_and_cache_relative_path(env):
    arrays = make_arrays()
    write_npz(env / "elsewhere" / "digits.npz", arrays)
    assert_same(mnist.load_data(str(env / "elsewhere" / "digits.npz")), arrays)
    write_npz(_files.cache_dir("mnist") / "other.npz", arrays)
    assert_same(mnist.load_data("other.npz"), arrays)


def test_mnist_download_verifies_and_caches(env, monkeypatch, tmp_path):
    arrays = make_arrays()
    write_npz(tmp_path / "served.npz", arrays)
    payload = (tmp_path / "served.npz").read_bytes()
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(payload).hexdigest())
    calls = serve(monkeypatch, {"mnist.npz": payload})
    assert_same(mnist.load_data(), arrays)
    assert calls == [mnist.URL]
    assert (_files.cache_dir("mnist") / "mnist.npz").read_bytes() == payload
    assert_same(mnist.load_data(), arrays)
    assert calls == [mnist.URL]


def test_mnist_checksum_mismatch_deletes_download(env, monkeypatch):
    serve(monkeypatch, {"mnist.npz": b"not the real file"})
    with pytest.raises(ValueError) as info:
        mnist.load_data()
    message = str(info.value)
    assert "mnist.npz" in message and mnist.SHA256 in message
    assert hashlib.sha256(b"not the real file").hexdigest() in message
    assert list(_files.cache_dir("mnist").iterdir()) == []


def test_mnist_nothing_found_explains(env):
    with pytest.raises(OSError, match="BIGCORE_DATA"):
        mnist.load_data()


def test_mnist_rejects_bad_npz(env, tmp_path):
    (x_train, y_train), test = make_arrays()
    write_npz(tmp_path / "objects.npz", ((x_train, y_train.astype(object)), test))
    with pytest.raises(ValueError, match="not a readable .npz"):  # pickle is never allowed
        mnist.load_data(str(tmp_path / "objects.npz"))

    np.savez(tmp_path / "partial.npz", x_train=x_train)
    with pytest.raises(ValueError, match="missing arrays"):
        mnist.load_data(str(tmp_path / "partial.npz"))

    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        mnist.load_data(str(tmp_path / "garbage.npz"))

    np.save(tmp_path / "single.npy", x_train)
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(ValueError, match="single .npy array"):
        mnist.load_data(str(tmp_path / "single.npz"))

    write_npz(tmp_path / "floats.npz", ((x_train / 255.0, y_train), test))
    with pytest.raises(ValueError, match="uint8"):
        mnist.load_data(str(tmp_path / "floats.npz"))


# ---- The real data, when Debian's package is installed ---------------------------------


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_debian_fashion_mnist(env, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", DEBIAN_DIR)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train.min() == 0 and y_train.max() == 9 and y_test.max() == 9
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    # The Debian files are the upstream payloads: the download hashes must match them.
    for stem in _files.IDX_STEMS:
        assert _files.content_sha256(DEBIAN_DIR / f"{stem}.gz") == fashion_mnist.SHA256[stem]
