"""Shared helpers for the data set loaders: finding, downloading and parsing files.

Everything here is numpy plus the standard library, and nothing is ever unpickled.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np

ENV_VAR = "BIGCORE_DATA"

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def cache_dir(name: str) -> Path:
    # Resolved on every call, not at import, so a changed HOME (tests) is honoured.
    return Path.home() / ".bigcore" / "datasets" / name


def search_dirs(name: str, *extra: Path) -> list[Path]:
    """Folders to look in, in priority order: $BIGCORE_DATA, its <name>/, the cache, extras."""
    dirs = []
    root = os.environ.get(ENV_VAR)
    if root:
        dirs += [Path(root), Path(root) / name]
    dirs.append(cache_dir(name))
    dirs.extend(Path(d) for d in extra)
    return dirs


def keras_cache() -> Path:
    """Keras's own download folder ($KERAS_HOME/datasets, ~/.keras/datasets), where users may
    already have the files; the data sets added after MNIST, IMDB and Boston look there too."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def resolve(name: str, path: str, *extra: Path) -> tuple[list[Path], str, Path]:
    """Keras's `path` argument: (folders to look in, file name, download destination).

    An absolute path (after `~` expansion) is used as is; a relative one is looked for in
    search_dirs(name, *extra) and downloaded into the cache.
    """
    target = Path(path).expanduser()
    if target.is_absolute():
        return [target.parent], target.name, target
    return search_dirs(name, *extra), str(path), cache_dir(name) / path


def first_file(dirs: list[Path], name: str) -> Path | None:
    """The first `folder / name` that is a file, in folder order."""
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    return None


def find_file(folder: Path, stem: str) -> Path | None:
    """`stem.gz` or plain `stem` in folder; gzip preferred as it is what upstream ships."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_set(dirs: list[Path], stems: list[str]) -> list[Path] | None:
    """The first folder holding every stem, so train and test never come from two copies."""
    for folder in dirs:
        found = [find_file(folder, stem) for stem in stems]
        if all(found):
            return found
    return None


def read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file starts with the gzip magic (name aside)."""
    data = Path(path).read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode an IDX file (the MNIST format): 0, 0, type code, ndim, big-endian int32 dims."""
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{source}: not an IDX file (bad magic number {data[:4].hex()!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, offset=4))
    dtype = _IDX_DTYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"{source}: IDX file {what}: dimensions {dims} need {expected} bytes, "
            f"got {len(data)}"
        )
    # Copy to native byte order so callers get an ordinary writable array.
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def load_idx(path: Path, ndim: int) -> np.ndarray:
    array = parse_idx(read_bytes(path), str(path))
    if array.ndim != ndim or array.dtype != np.uint8:
        raise ValueError(
            f"{path}: expected a {ndim}-d uint8 IDX array, got {array.ndim}-d {array.dtype}"
        )
    return array


_NPZ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def read_npz(path: Path, keys) -> dict:
    """The named arrays of an .npz archive (missing ones are absent from the dict).

    allow_pickle=False: a data file must never be able to run code on load, so an object
    array is a ValueError. Every failure to read is a ValueError naming the file.
    """
    try:
        # We own the file handle because np.load leaks its own when the zip is corrupt.
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single .npy array, not an .npz archive")
            with data:
                return {key: data[key] for key in keys if key in data.files}
    except _NPZ_ERRORS as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc


def npz_headers(path: Path) -> dict:
    """{array name: (shape, dtype)} of an .npz archive, from the .npy headers alone.

    Reads no array data and unpickles nothing, so it can inspect files (e.g. pickled
    object arrays) that read_npz refuses.
    """
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as fp:
                    version = np.lib.format.read_magic(fp)
                    # Format 3.0 differs from 2.0 only in the header's text encoding.
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fp)
                headers[member[: -len(".npy")]] = (shape, dtype)
    except _NPZ_ERRORS as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    return headers


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """For files whose only published checksum is an MD5 (Keras's imdb_word_index.json)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


file_md5.algorithm = "MD5"  # named in _verify's mismatch message


def content_sha256(path: Path) -> str:
    # Hash what is inside the gzip: mirrors (Debian, Keras) re-gzip the same IDX bytes,
    # so the wrapper's header and mtime differ while the payload is identical.
    return hashlib.sha256(read_bytes(path)).hexdigest()


def _fetch(url: str, dest: Path) -> None:
    """Raw download; the only function that touches the network (tests replace it)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)


def download(urls: list[str], dest: Path, sha256: str, digest=file_sha256) -> Path:
    """Fetch the first URL that answers into dest, verified, via a temp file and rename.

    A reader never sees a half-written or unverified file under dest's name.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp)
        try:
            _fetch(url, tmp)
            _verify(tmp, dest.name, sha256, digest)
            os.replace(tmp, dest)
            return dest
        except (OSError, http.client.HTTPException) as exc:  # bad mirror: try the next
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {dest.name}: " + "; ".join(errors))


def _verify(path: Path, name: str, expected: str, digest) -> None:
    try:
        actual = digest(path)
    except ValueError as exc:  # e.g. an HTML error page saved instead of gzip data
        raise ValueError(f"downloaded {name} is unreadable: {exc}") from exc
    if actual != expected:
        algorithm = getattr(digest, "algorithm", "SHA-256")
        raise ValueError(
            f"{algorithm} mismatch for downloaded {name}: expected {expected}, got {actual}; "
            "the bad download was deleted"
        )


def find_or_download(name: str, path: str, url: str, expected: str, *extra: Path, digest=file_sha256) -> Path:
    """The one file `path` (resolve(), with the extra folders last), else downloaded from url into
    the cache and checked against `expected`; FileNotFoundError (not_found) when neither works."""
    dirs, file_name, dest = resolve(name, path, *extra)
    found = first_file(dirs, file_name)
    if found is None:
        try:
            found = download([url], dest, expected, digest)
        except OSError as exc:
            raise not_found(name, dirs, [file_name], exc, forms="") from exc
    return found


def word_index(name: str, path: str, url: str, md5: str, *extra: Path) -> dict:
    """A Keras word index (JSON: word -> frequency rank): `path` looked for as resolve() says, else
    downloaded and checked against Keras's published MD5 (the only checksum Keras gives for it).
    Plain JSON, parsed with json.load: a substituted file could give wrong words, never run code."""
    found = find_or_download(name, path, url, md5, *extra, digest=file_md5)
    try:
        with open(found, encoding="utf-8") as f:
            index = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{found}: not a JSON word index ({exc})") from exc
    if not isinstance(index, dict) or not all(
        isinstance(word, str) and isinstance(rank, int) and not isinstance(rank, bool)
        for word, rank in index.items()
    ):
        raise ValueError(f"{found}: expected a JSON object mapping words to integer ranks")
    return index


def not_found(dataset: str, dirs: list[Path], files: list[str], cause: Exception,
              forms: str = " (plain or .gz)") -> OSError:
    """The error for 'no local copy and no download', naming every place looked at."""
    hint = f"set {ENV_VAR} to a folder holding them"
    if dataset == "fashion-mnist":
        hint = f"run `apt-get install dataset-fashion-mnist`, or {hint}"
    where = "\n  ".join(str(d) for d in dirs)
    return FileNotFoundError(
        f"{dataset}: could not find {', '.join(files)}{forms} in:\n  {where}\n"
        f"and the download failed ({cause}).\nTo fix: {hint}."
    )


# The four files of the MNIST layout, shared by MNIST and Fashion-MNIST, in load order.
IDX_STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def load_idx_set(paths: list[Path]):
    """((x_train, y_train), (x_test, y_test)) from the four IDX_STEMS files, in that order."""
    x_train, y_train, x_test, y_test = (
        load_idx(path, ndim) for path, ndim in zip(paths, (3, 1, 3, 1))
    )
    check_split(x_train, y_train, f"{paths[0]} / {paths[1]}")
    check_split(x_test, y_test, f"{paths[2]} / {paths[3]}")
    return (x_train, y_train), (x_test, y_test)


def check_split(x: np.ndarray, y: np.ndarray, source: str) -> None:
    """Images must be (n, rows, cols) uint8 and labels (n,) uint8, with the same n."""
    if x.ndim != 3 or y.ndim != 1 or x.dtype != np.uint8 or y.dtype != np.uint8:
        raise ValueError(
            f"{source}: expected (n, rows, cols) uint8 images and (n,) uint8 labels, "
            f"got {x.shape} {x.dtype} and {y.shape} {y.dtype}"
        )
    if len(x) != len(y):
        raise ValueError(f"{source}: {len(x)} images but {len(y)} labels")
