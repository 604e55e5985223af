"""Reuters newswire topics: 11,228 newswires from Reuters labelled over 46 topics, each a list of
word indexes (ranked by frequency, as IMDB's).

Keras's reuters.npz stores the newswires as a pickled object array; it is read with
_pickle_data.read_npz_plain, which parses the pickle as data (lists of ints) and never unpickles.
"""

from __future__ import annotations

import numpy as np

from . import _files
from ._pickle_data import read_npz_plain

NAME = "reuters"
_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
URL = _ORIGIN + "reuters.npz"
# Keras's published hashes (keras.datasets.reuters): SHA-256 of the data, MD5 of the word index.
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_URL = _ORIGIN + "reuters_word_index.json"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
_LABELS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog",
    "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Return `(x_train, y_train), (x_test, y_test)` exactly as Keras: x object arrays of lists of
    word indexes, y integer topic arrays. All newswires are shuffled with
    np.random.RandomState(seed); indexes shift by `index_from`, each newswire starts with
    `start_char` (unless None); with `maxlen` the ones not shorter are dropped; words outside
    `skip_top <= w < num_words` (num_words None: the largest index) become `oov_char` (or are
    dropped when None); the first int(n * (1 - test_split)) are the training set.

    `path` is looked for in $BIGCORE_DATA, $BIGCORE_DATA/reuters, the cache
    (~/.bigcore/datasets/reuters) and Keras's (~/.keras/datasets), or used as is when absolute;
    otherwise downloaded from Keras's bucket and checked against its SHA-256.
    """
    xs, labels = _load_npz(_files.find_or_download(NAME, path, URL, SHA256, _files.keras_cache()))

    # Keras's algorithm, step for step (keras.datasets.reuters.load_data)
    rng = np.random.RandomState(seed)
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    xs, labels = xs[indices], labels[indices]
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
        xs, labels = [x for x, _ in kept], [y for _, y in kept]
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:idx], dtype="object"), np.array(labels[:idx])
    x_test, y_test = np.array(xs[idx:], dtype="object"), np.array(labels[idx:])
    return (x_train, y_train), (x_test, y_test)


def _load_npz(path):
    arrays = read_npz_plain(path, ("x", "y"))
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing}, expected ['x', 'y']")
    xs, labels = arrays["x"], arrays["y"]
    if xs.ndim != 1 or labels.ndim != 1 or labels.dtype.kind not in "iu" or len(xs) != len(labels):
        raise ValueError(f"{path}: expected x, a 1-d array of sequences, and y, as many integer labels; got "
                         f"{xs.shape} {xs.dtype} and {labels.shape} {labels.dtype}")
    for x in xs:
        if not isinstance(x, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in x):
            raise ValueError(f"{path}: every sequence in x must be a list of ints")
    return xs, labels


def get_word_index(path="reuters_word_index.json"):
    """Return Keras's dict mapping each word to its frequency rank (index in x: rank + index_from).
    Looked for as load_data's file; otherwise downloaded and checked against Keras's MD5."""
    return _files.word_index(NAME, path, WORD_INDEX_URL, WORD_INDEX_MD5, _files.keras_cache())


def get_label_names():
    """The 46 topic names, in label order (Keras's tuple)."""
    return _LABELS
