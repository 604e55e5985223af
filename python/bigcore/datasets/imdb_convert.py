"""The one-time conversion of Keras's pickled imdb.npz into bigcore's pickle-free
`<stem>_bigcore.npz` (the FORMAT in imdb.py's docstring), which imdb.load_data reads.

This module holds the only code in bigcore that unpickles anything (`python -m
bigcore.datasets.imdb --convert`, run on purpose by a user who trusts the file), and its
unpickler rebuilds numpy arrays and plain lists of ints and nothing else.
"""

import io
import os
import pickle
import tempfile
import zipfile
from pathlib import Path, PurePath

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

FORMAT_VERSION = 1
SPLITS = ("train", "test")
KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")


def native_name(name: str) -> str:
    """`imdb.npz` -> `imdb_bigcore.npz`: the pickle-free file made from a Keras file."""
    pure = PurePath(name)
    stem = pure.name[: -len(".npz")] if pure.name.endswith(".npz") else pure.name
    return str(pure.with_name(f"{stem}_bigcore.npz"))


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays (and the lists and ints inside them), refuses everything else.

    A numpy object array pickles as _reconstruct(ndarray, ...) plus a dtype; the IMDB
    reviews inside it are plain lists of ints, which need no global at all. Any other
    global, which is how a malicious pickle would run code, is an UnpicklingError.
    """

    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[module, name]
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: an IMDB file holds only numpy arrays "
            "of lists of ints, so this file is corrupt or malicious"
        )


def _read_keras_npz(path: Path) -> dict:
    """Keras's imdb.npz as arrays: numeric members without pickle, object ones restricted."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            key = member[: -len(".npy")]
            if not member.endswith(".npy") or key not in KERAS_KEYS:
                continue
            fp = io.BytesIO(archive.read(member))
            version = np.lib.format.read_magic(fp)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            _, _, dtype = read(fp)
            if dtype.hasobject:
                array = _ArrayUnpickler(fp, encoding="latin1").load()
                if not isinstance(array, np.ndarray):
                    raise ValueError(f"{path}: {member} is a pickled "
                                     f"{type(array).__name__}, not an array")
            else:
                fp.seek(0)
                array = np.lib.format.read_array(fp, allow_pickle=False)
            arrays[key] = array
    missing = [key for key in KERAS_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}, expected {list(KERAS_KEYS)}")
    return arrays


def _flatten(reviews: np.ndarray, labels: np.ndarray, source: str):
    if reviews.ndim != 1 or labels.ndim != 1 or len(reviews) != len(labels):
        raise ValueError(f"{source}: expected n reviews and n labels, "
                         f"got shapes {reviews.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{source}: labels must be integers, got {labels.dtype}")
    parts = []
    for i, review in enumerate(reviews):
        words = np.asarray(review)
        if words.ndim != 1 or (words.size and words.dtype.kind not in "iu"):
            raise ValueError(f"{source}: review {i} is not a list of ints "
                             f"({words.dtype}, shape {words.shape})")
        parts.append(words.astype(np.int64))
    tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if tokens.size and (tokens.min() < 0 or tokens.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{source}: word indexes must lie in 0..2**31-1")
    offsets = np.zeros(len(parts) + 1, np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return tokens.astype(np.int32), offsets, labels


def convert(source, output=None) -> Path:
    """Write the pickle-free `<stem>_bigcore.npz` from Keras's pickled imdb.npz.

    The only code in bigcore that unpickles: see _ArrayUnpickler for what it allows.
    `output` defaults to `<stem>_bigcore.npz` beside `source`. The file is written to a
    temporary name and renamed, so a crash never leaves a half-written file behind.
    """
    source = Path(source).expanduser()
    output = Path(output).expanduser() if output else source.parent / native_name(source.name)
    try:
        arrays = _read_keras_npz(source)
    except (pickle.UnpicklingError, EOFError, OSError, zipfile.BadZipFile,
            AttributeError, TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"{source}: cannot convert ({type(exc).__name__}: {exc})") from exc
    out = {"format_version": np.array(FORMAT_VERSION, np.int32)}
    for split in SPLITS:
        tokens, offsets, labels = _flatten(arrays[f"x_{split}"], arrays[f"y_{split}"],
                                           f"{source} ({split})")
        out[f"x_{split}_tokens"], out[f"x_{split}_offsets"], out[f"y_{split}"] = (
            tokens, offsets, labels)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **out)
        os.replace(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return output
