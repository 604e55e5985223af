"""IMDB movie-review sentiment: 25,000 training and 25,000 test reviews, labelled 0 or 1.

Each review is a list of word indexes; words are ranked by frequency in the training
set, so index 1 is the most frequent word (before `index_from` shifts them).

File formats. Keras's `imdb.npz` stores the reviews as object arrays of Python lists,
which numpy can only save as pickles, and bigcore never unpickles a data file while
loading. It reads a pickle-free file instead, `imdb_bigcore.npz` (see FORMAT below),
made once from Keras's file by a command the user runs on purpose:

    python -m bigcore.datasets.imdb --convert ~/.bigcore/datasets/imdb/imdb.npz

That command (`convert`, in imdb_convert.py) is the only code in bigcore that
unpickles anything, and it does so with an unpickler that can rebuild numpy arrays
and plain lists of ints and nothing else (no functions, no other classes), after
warning that it trusts the file.

FORMAT of `<name>_bigcore.npz` (no object arrays; np.load(allow_pickle=False) reads it):
    format_version   int32 scalar, 1
    x_train_tokens   int32 (total_words,): every training review's word indexes, one
                     review after another, exactly as in Keras's file (before index_from)
    x_train_offsets  int64 (n_train + 1,): review i is tokens[offsets[i]:offsets[i + 1]]
    y_train          integer (n_train,): the labels
    x_test_tokens, x_test_offsets, y_test: the same for the test set
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePath

import numpy as np

from . import _files
from .imdb_convert import FORMAT_VERSION, SPLITS, convert, native_name

NAME = "imdb"
_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
URL = _ORIGIN + "imdb.npz"
# Keras's published hash of imdb.npz (keras.datasets.imdb).
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_URL = _ORIGIN + "imdb_word_index.json"
# Keras publishes only an MD5 for the word index. It is plain JSON, parsed with json.load,
# so a substituted file could give wrong words but could never run code.
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
_NATIVE_KEYS = ("format_version",) + tuple(
    f"{key}_{split}{part}" for split in SPLITS
    for key, part in (("x", "_tokens"), ("x", "_offsets"), ("y", ""))
)


class PickledFileError(ValueError):
    """Only Keras's pickled imdb.npz was found; it must be converted once (see message)."""


# ---- load_data -------------------------------------------------------------------------


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Return `(x_train, y_train), (x_test, y_test)` with Keras's semantics.

    x_train and x_test are 1-d object arrays of lists of ints (one list per review),
    y_train and y_test integer arrays of 0/1 labels. Each set is shuffled with one
    `np.random.RandomState(seed)` (train first, then test). Then, as in Keras:

    - every word index is shifted up by `index_from` and, unless `start_char` is None,
      each review starts with `start_char`;
    - with `maxlen`, reviews whose length (start_char included) is not below `maxlen`
      are dropped from both sets (ValueError if either set ends up empty);
    - words `w` (after the shift) outside `skip_top <= w < num_words` become
      `oov_char`, or are removed when `oov_char` is None. `num_words=None` means the
      largest index present, so, as in Keras, that one rarest word is out of range too.
      The start_char is subject to the same rule.

    `path` is looked for like Keras's cache name: relative to the cache
    (~/.bigcore/datasets/imdb), $BIGCORE_DATA and $BIGCORE_DATA/imdb, or absolute. In
    each folder the pickle-free `<stem>_bigcore.npz` is used (see this module's
    docstring); a file at `path` itself is used when it is in that format. When only
    Keras's pickled file exists (found, or downloaded from Keras's bucket and checked
    against its SHA-256), PickledFileError explains the one-time conversion command.
    """
    dirs, name, dest = _files.resolve(NAME, path)
    data = _find(dirs, name)
    if isinstance(data, Path):
        raise _pickled_error(data, name)
    if data is None:
        try:
            _files.download([URL], dest, SHA256)
        except OSError as exc:
            raise _files.not_found(NAME, dirs, [native_name(name), name], exc, forms="") \
                from exc
        raise _pickled_error(dest, name, downloaded=True)
    return _prepare(data, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)


def _find(dirs: list[Path], name: str):
    """Arrays of the first pickle-free file; else the first Keras-format path; else None."""
    pickled = None
    for folder in dirs:
        for candidate in (folder / native_name(name), folder / name):
            if not candidate.is_file():
                continue
            if _is_native(candidate):
                return _load_native(candidate)
            pickled = pickled or candidate
    return pickled


def _is_native(path: Path) -> bool:
    headers = _files.npz_headers(path)
    if "x_train_tokens" in headers:
        return True
    if "x_train" in headers:
        return False  # Keras's layout; its own loader says what is wrong with it
    raise ValueError(
        f"{path}: neither a bigcore IMDB file (x_train_tokens, ...) nor Keras's imdb.npz "
        f"(x_train, ...); it holds {sorted(headers)}"
    )


def _pickled_error(path: Path, name: str, downloaded: bool = False) -> PickledFileError:
    what = "downloaded" if downloaded else "found"
    try:
        genuine = _files.file_sha256(path) == SHA256
    except OSError:
        genuine = False
    origin = ("its SHA-256 matches Keras's published imdb.npz" if genuine else
              "its SHA-256 does NOT match Keras's published imdb.npz, so convert it only "
              "if you trust where it came from")
    return PickledFileError(
        f"imdb: {what} {path} ({origin}). It is Keras's format, which stores the reviews "
        "as pickled object arrays, and bigcore never unpickles a data file while loading.\n"
        "To fix, convert it once (the only step that unpickles, restricted to numpy "
        "arrays and lists of ints):\n"
        f"    python -m bigcore.datasets.imdb --convert {path}\n"
        f"which writes {path.parent / PurePath(native_name(name)).name}; "
        "load_data() uses that file from then on."
    )


def _load_native(path: Path) -> dict:
    arrays = _files.read_npz(path, _NATIVE_KEYS)
    missing = [key for key in _NATIVE_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} of the bigcore IMDB format")
    version = arrays["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        raise ValueError(
            f"{path}: bigcore IMDB format version {version!r}, this bigcore reads "
            f"{FORMAT_VERSION}; convert Keras's imdb.npz again"
        )
    data = {}
    for split in SPLITS:
        tokens, offsets = arrays[f"x_{split}_tokens"], arrays[f"x_{split}_offsets"]
        labels = arrays[f"y_{split}"]
        _check_split(tokens, offsets, labels, f"{path} ({split})")
        data[split] = tokens.astype(np.int64), offsets.astype(np.int64), labels
    return data


def _check_split(tokens, offsets, labels, source: str) -> None:
    for what, array in (("tokens", tokens), ("offsets", offsets), ("labels", labels)):
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"{source}: {what} must be a 1-d integer array, "
                             f"got {array.shape} {array.dtype}")
    if len(offsets) != len(labels) + 1:
        raise ValueError(f"{source}: {len(labels)} labels need {len(labels) + 1} offsets, "
                         f"got {len(offsets)}")
    if offsets[0] != 0 or offsets[-1] != len(tokens) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{source}: offsets must rise from 0 to the {len(tokens)} tokens")


def _gather(tokens, offsets, order):
    """The reviews numbered `order`, in that order: (tokens, offsets)."""
    lengths = np.diff(offsets)[order]
    new_offsets = np.zeros(len(order) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    starts = offsets[:-1][order]
    index = np.arange(new_offsets[-1]) + np.repeat(starts - new_offsets[:-1], lengths)
    return tokens[index], new_offsets


def _prepare(data, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from):
    """Keras's load_data algorithm, on flat token arrays instead of Python lists."""
    rng = np.random.RandomState(seed)
    sets = []
    for split in SPLITS:
        tokens, offsets, labels = data[split]
        indices = np.arange(len(labels))
        rng.shuffle(indices)
        tokens, offsets = _gather(tokens, offsets, indices)
        if index_from:
            tokens = tokens + index_from
        if start_char is not None:
            tokens = np.insert(tokens, offsets[:-1], start_char)
            offsets = offsets + np.arange(len(offsets))
        labels = labels[indices]
        if maxlen:
            keep = np.flatnonzero(np.diff(offsets) < maxlen)
            tokens, offsets = _gather(tokens, offsets, keep)
            labels = labels[keep]
        sets.append([tokens, offsets, labels])
    if maxlen and (len(sets[0][2]) == 0 or len(sets[1][2]) == 0):
        raise ValueError(
            f"After filtering for sequences shorter than maxlen={maxlen}, "
            "no sequence was kept. Increase maxlen."
        )

    if not num_words:
        num_words = max((int(s[0].max()) for s in sets if s[0].size), default=0)
    for s in sets:
        tokens, offsets, _ = s
        in_range = (skip_top <= tokens) & (tokens < num_words)
        if oov_char is not None:
            s[0] = np.where(in_range, tokens, oov_char)
        else:
            review = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
            counts = np.bincount(review[in_range], minlength=len(offsets) - 1)
            s[0] = tokens[in_range]
            s[1] = np.concatenate([[0], np.cumsum(counts)])

    labels = np.concatenate([sets[0][2], sets[1][2]])
    n_train = len(sets[0][2])
    return (_as_lists(*sets[0][:2]), labels[:n_train]), (_as_lists(*sets[1][:2]), labels[n_train:])


def _as_lists(tokens, offsets) -> np.ndarray:
    """A 1-d object array holding each review as a list of Python ints, like Keras's."""
    words, bounds = tokens.tolist(), offsets.tolist()
    out = np.empty(len(bounds) - 1, dtype=object)
    for i in range(len(out)):
        out[i] = words[bounds[i]:bounds[i + 1]]
    return out


# ---- get_word_index --------------------------------------------------------------------


def get_word_index(path="imdb_word_index.json"):
    """Return Keras's dict mapping each word to its frequency rank (1 = most frequent).

    The index in x is `rank + index_from`. `path` is looked for like load_data's;
    otherwise Keras's imdb_word_index.json is downloaded into the cache and checked
    against Keras's published MD5 (the only checksum Keras gives for it).
    """
    return _files.word_index(NAME, path, WORD_INDEX_URL, WORD_INDEX_MD5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bigcore.datasets.imdb",
        description="Convert Keras's pickled imdb.npz once into bigcore's pickle-free "
                    "imdb_bigcore.npz, which bigcore.datasets.imdb.load_data() reads.",
    )
    parser.add_argument("--convert", metavar="IMDB_NPZ", required=True, type=Path,
                        help="Keras's imdb.npz; you must trust this file")
    parser.add_argument("--output", metavar="PATH", type=Path,
                        help="where to write (default: <stem>_bigcore.npz beside the input)")
    args = parser.parse_args(argv)
    source = args.convert.expanduser()
    if not source.is_file():
        parser.error(f"no such file: {source}")
    genuine = _files.file_sha256(source) == SHA256
    print(
        f"WARNING: converting {source} unpickles its object arrays. bigcore restricts the "
        "unpickler to numpy arrays and lists of ints, but you are still trusting this "
        "file. Its SHA-256 "
        + ("matches Keras's published imdb.npz." if genuine else
           "does NOT match Keras's published imdb.npz: be sure you know where it came from."),
        file=sys.stderr,
    )
    try:
        output = convert(source, args.output)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
