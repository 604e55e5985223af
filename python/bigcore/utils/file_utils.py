"""get_file: a file from a URL into a local cache, found there first, verified by its hash."""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from bigcore.utils.progbar import Progbar

_CHUNK = 1 << 16


def _cache_root(cache_dir):
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    root = os.path.expanduser(cache_dir)
    if not os.access(root, os.W_OK) and os.path.exists(root):
        root = os.path.join(tempfile.gettempdir(), ".keras")
    return root


def hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """The hex digest of a file ("sha256" or "md5")."""
    hasher = _hasher(algorithm)
    with open(fpath, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _hasher(algorithm):
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    raise ValueError(f'hash_algorithm must be "auto", "sha256" or "md5". Received: {algorithm!r}')


def _algorithm(algorithm, file_hash):
    if algorithm != "auto":
        return algorithm
    return "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=_CHUNK):
    """True when the file's digest equals file_hash ("auto": sha256 for a 64-digit hash, else md5)."""
    return hash_file(fpath, _algorithm(algorithm, file_hash), chunk_size) == str(file_hash).lower()


def _download(origin, target):
    """origin -> target through a temporary sibling, with a progress bar; a failed download leaves
    nothing under target's name."""
    print(f"Downloading data from {origin}")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part",
                               dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=60) as response:
            total = response.headers.get("Content-Length")
            bar = Progbar(int(total) if total and total.isdigit() else None, unit_name="bytes")
            done = 0
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                done += len(block)
                bar.update(done)
            bar.update(done, finalize=True)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = f"{e.code} -- {e.msg}" if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", e)
        raise OSError(f"URL fetch failure on {origin}: {reason}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _safe_members(names, dest):
    dest = os.path.realpath(dest)
    for name in names:
        path = os.path.realpath(os.path.join(dest, name))
        if os.path.commonpath([dest, path]) != dest:
            raise ValueError(f"The archive member {name!r} would be written outside {dest}; refusing to extract")


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extracts a tar (.tar, .tar.gz, .tar.bz2) or zip archive into `path`; True if it was one.
    Members that would land outside `path` (absolute names, '..', links) are refused."""
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format or []))
    for fmt in formats:
        if fmt == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as tar:
                members = tar.getmembers()
                _safe_members([m.name for m in members], path)
                if any(m.issym() or m.islnk() for m in members):
                    raise ValueError(f"{file_path}: links inside the archive are refused")
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: the stdlib's own checks too
                    tar.extractall(path, filter="data")
                else:
                    tar.extractall(path)
            return True
        if fmt == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as zf:
                _safe_members(zf.namelist(), path)
                zf.extractall(path)
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of the file at `origin`, as keras.utils.get_file: looked for first in
    cache_dir/cache_subdir (~/.keras/datasets, or $KERAS_HOME/datasets), downloaded there only when
    missing, when its hash does not match `file_hash`, or with force_download. A download shows a
    progress bar and is checked against file_hash (sha256 or md5, "auto" by its length); a
    mismatch deletes it and raises ValueError. extract=True unpacks a tar/zip archive beside it and
    returns the folder."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir = os.path.join(_cache_root(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    given = os.fspath(fname) if fname is not None else None
    name = given or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. Please specify the "
                         "`fname` argument.")
    if os.sep in name:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={name}")
    extract = extract or untar
    if extract:
        if given and "." in name:
            target, folder = os.path.join(datadir, name), os.path.join(datadir, name[:name.find(".")] + "_extracted")
        else:
            target, folder = os.path.join(datadir, f"{name}_archive"), os.path.join(datadir, name)
    else:
        target = os.path.join(datadir, name)
    algorithm = _algorithm(hash_algorithm, file_hash)
    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not validate_file(target, file_hash, algorithm):
        print(f"A local file was found, but it seems to be incomplete or outdated because the {algorithm} file "
              f"hash does not match the original value of {file_hash} so we will re-download the data.")
        download = True
    if download:
        _download(origin, target)
        if file_hash is not None and not validate_file(target, file_hash, algorithm):
            actual = hash_file(target, algorithm)
            os.unlink(target)
            raise ValueError(f"Incomplete or corrupted file detected. The {algorithm} file hash of {origin} is "
                             f"{actual}, which does not match the provided value of {file_hash}; the download "
                             "was deleted.")
    if extract:
        if download and os.path.isdir(folder):
            shutil.rmtree(folder)
        if not os.path.isdir(folder):
            fmt = "tar" if untar else archive_format
            if not extract_archive(target, folder, fmt):
                raise ValueError(f"{target} is not a {fmt if fmt != 'auto' else 'tar or zip'} archive; cannot extract it")
        return folder
    return target
