"""text_dataset_from_directory: a folder of .txt files, one sub-folder per class, as a Dataset of
(strings, labels) batches (keras.utils.text_dataset_from_directory)."""

import os

import numpy as np

from bigcore.data import Dataset


def _check_split(validation_split, subset):
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')


def _files_under(directory, follow_links):
    """Relative paths of the .txt files under `directory`, folders and files in sorted order."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0]):
        found += [os.path.relpath(os.path.join(root, f), directory) for f in sorted(files)
                  if f.lower().endswith(".txt")]
    return found


def index_directory(directory, labels, class_names, shuffle, seed, follow_links, verbose):
    """(file paths, integer labels or None, class names), in Keras's order: sorted, then shuffled
    with NumPy's RandomState(seed) when shuffle=True."""
    if not os.path.isdir(directory):
        raise ValueError(f"The directory {directory!r} does not exist")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError("The `class_names` passed did not match the names of the subdirectories of the "
                                 f"target directory. Expected: {subdirs} (or a subset of it), but received: "
                                 f"class_names={class_names}")
            subdirs = list(class_names)
        paths, ids = [], []
        for k, sub in enumerate(subdirs):
            found = _files_under(os.path.join(directory, sub), follow_links)
            paths += [os.path.join(directory, sub, f) for f in found]
            ids += [k] * len(found)
        ids = np.asarray(ids, np.int32)
        names = subdirs
    else:
        paths = [os.path.join(directory, f) for f in _files_under(directory, follow_links)]
        ids, names = None, None
        if labels is not None:
            if len(labels) != len(paths):
                raise ValueError("Expected the lengths of `labels` to match the number of files in the target "
                                 f"directory. len(labels) is {len(labels)} while we found {len(paths)} files in "
                                 f"directory {directory}.")
            ids = np.asarray(labels)
            names = [str(v) for v in sorted(set(labels))]
    if verbose:
        print(f"Found {len(paths)} files." if ids is None
              else f"Found {len(paths)} files belonging to {len(names)} classes.")
    if shuffle:
        rng = np.random.RandomState(seed)
        paths = list(np.asarray(paths, dtype=object)[rng.permutation(len(paths))]) if paths else paths
        if ids is not None:
            ids = ids[np.random.RandomState(seed).permutation(len(ids))]
    return paths, ids, names


def _read(path, max_length):
    with open(path, "rb") as f:
        raw = f.read()
    # TensorFlow reads bytes; here the text is decoded (UTF-8, undecodable bytes as U+FFFD) so the
    # strings feed TextVectorization directly. max_length truncates the bytes, as tf.strings.substr
    text = (raw if max_length is None else raw[:max_length]).decode("utf-8", errors="replace")
    return text


def _split(paths, ids, validation_split, subset):
    if not validation_split:
        return paths, ids
    n_val = int(validation_split * len(paths))
    if subset == "training":
        print(f"Using {len(paths) - n_val} files for training.")
        return paths[:len(paths) - n_val], None if ids is None else ids[:len(ids) - n_val]
    print(f"Using {n_val} files for validation.")
    return paths[len(paths) - n_val:], None if ids is None else ids[len(ids) - n_val:]


def _dataset(paths, ids, label_mode, num_classes, batch_size, max_length, shuffle, seed, directory, class_names):
    if not paths:
        raise ValueError(f"No text files found in directory {directory}. Allowed format: .txt")
    if ids is not None and label_mode == "binary":
        labels = ids.astype(np.float32).reshape(-1, 1)
    elif ids is not None and label_mode == "categorical":
        labels = np.eye(num_classes, dtype=np.float32)[ids]
    else:
        labels = None if ids is None else ids.astype(np.int32)
    step = 1 if batch_size is None else batch_size
    passes = [0]

    def make_iter():
        order = np.arange(len(paths))
        if shuffle and passes[0]:  # the first pass in the indexed order, each later one reshuffled
            order = np.random.default_rng([seed, passes[0]]).permutation(len(paths))
        passes[0] += 1
        for s in range(0, len(order), step):
            rows = order[s:s + step]
            texts = np.empty(len(rows), dtype=object)
            texts[:] = [_read(paths[i], max_length) for i in rows]
            x, y = (texts[0], None if labels is None else labels[rows[0]]) if batch_size is None else \
                (texts, None if labels is None else labels[rows])
            yield x if labels is None else (x, y)

    ds = Dataset(make_iter, -(-len(paths) // step))
    ds.class_names = class_names
    ds.file_paths = list(paths)
    return ds


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A Dataset of (texts, labels) batches from `directory`: texts are numpy object arrays of str,
    labels int32 (label_mode "int"), float32 (batch, 1) ("binary") or one-hot float32
    ("categorical"); label_mode=None or labels=None yields texts alone. subset="both" returns
    (training, validation). The files are read when their batch is asked for."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the same size as the "
                             'number of text files in the target directory, "inferred" or None. '
                             f"Received: labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. Received: labels={labels}, '
                             f"and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: batch_size={batch_size!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, ids, names = index_directory(os.fspath(directory), labels, class_names, shuffle, seed, follow_links,
                                        verbose)
    if label_mode is None:
        ids = None
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={names}")
    num_classes = len(names) if names else 0
    if ids is not None and label_mode == "categorical" and labels != "inferred":
        num_classes = int(ids.max()) + 1 if len(ids) else 0
    common = dict(label_mode=label_mode, num_classes=num_classes, batch_size=batch_size, max_length=max_length,
                  seed=seed, directory=directory, class_names=names)
    if subset == "both":
        train = _dataset(*_split(paths, ids, validation_split, "training"), shuffle=shuffle, **common)
        val = _dataset(*_split(paths, ids, validation_split, "validation"), shuffle=False, **common)
        return [train, val]
    return _dataset(*_split(paths, ids, validation_split, subset), shuffle=shuffle, **common)
