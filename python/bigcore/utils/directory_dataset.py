"""What text_dataset_from_directory and image_dataset_from_directory share (Keras's dataset_utils):
the checks of their common arguments, the file index (paths, integer labels, class names), the
training / validation split and the Dataset that reads each batch's files when it is asked for."""

import os

import numpy as np

from bigcore.data import Dataset


def check_arguments(labels, label_mode, class_names, batch_size, validation_split, subset, shuffle, seed, format,
                    what):
    """Keras's checks, in its order; returns (labels, label_mode) with both None when either is.
    `what` names the files ("text files", "image files") in the messages."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the same size as the "
                             f'number of {what} in the target directory, "inferred" or None. '
                             f"Received: labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. Received: labels={labels}, '
                             f"and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if format == "grain":  # a grain.IterDataset has another API; bigcore.data.Dataset is tf.data's twin
        raise ValueError('bigcore returns a bigcore.data.Dataset (a tf.data.Dataset twin), as format="tf"; '
                         f'grain datasets are not supported. Expected format="tf". Received: format={format!r}')
    if format != "tf":
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None. Received: batch_size={batch_size!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` argument, "
                         "to make sure that there is no overlap between the training and validation subset.")
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _files_under(directory, formats, follow_links):
    """Relative paths of the files under `directory` whose names end in one of `formats` (any
    case), folders and files in sorted order."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0]):
        found += [os.path.relpath(os.path.join(root, f), directory) for f in sorted(files)
                  if f.lower().endswith(formats)]
    return found


def index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links, verbose):
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
            found = _files_under(os.path.join(directory, sub), formats, follow_links)
            paths += [os.path.join(directory, sub, f) for f in found]
            ids += [k] * len(found)
        ids = np.asarray(ids, np.int32)
        names = subdirs
    else:
        if class_names is not None:
            raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be specified.")
        paths = [os.path.join(directory, f) for f in _files_under(directory, formats, follow_links)]
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


def _split(paths, ids, validation_split, subset):
    if not validation_split:
        return paths, ids
    n_val = int(validation_split * len(paths))
    if subset == "training":
        print(f"Using {len(paths) - n_val} files for training.")
        return paths[:len(paths) - n_val], None if ids is None else ids[:len(ids) - n_val]
    print(f"Using {n_val} files for validation.")
    return paths[len(paths) - n_val:], None if ids is None else ids[len(ids) - n_val:]


def _encode(ids, label_mode, num_classes):
    """The labels as Keras yields them: int32 (n,), binary float32 (n, 1), one-hot float32 (n, k)."""
    if ids is None:
        return None
    if label_mode == "binary":
        return ids.astype(np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        bad = ids[(ids < 0) | (ids >= num_classes)]
        if len(bad):  # Keras's one_hot would yield rows of zeros for them
            raise ValueError(f'label_mode="categorical" with {num_classes} classes needs labels in [0, '
                             f"{num_classes}). Received the label {bad[0]}")
        return np.eye(num_classes, dtype=np.float32)[ids]
    return ids.astype(np.int32)


def _dataset(paths, labels, batch_size, shuffle, seed, read, collate, class_names):
    step = 1 if batch_size is None else batch_size
    passes = [0]

    def make_iter():
        order = np.arange(len(paths))
        if shuffle and passes[0]:  # the first pass in the indexed order, each later one reshuffled
            order = np.random.default_rng([seed, passes[0]]).permutation(len(paths))
        passes[0] += 1
        for s in range(0, len(order), step):
            rows = order[s:s + step]
            if batch_size is None:
                x, y = read(paths[rows[0]]), None if labels is None else labels[rows[0]]
            else:
                x, y = collate([read(paths[i]) for i in rows]), None if labels is None else labels[rows]
            yield x if labels is None else (x, y)

    ds = Dataset(make_iter, -(-len(paths) // step))
    ds.class_names = class_names
    ds.file_paths = list(paths)
    return ds


def directory_datasets(directory, labels, label_mode, class_names, formats, batch_size, shuffle, seed,
                       validation_split, subset, follow_links, verbose, read, collate, what):
    """The Dataset (or [training, validation] for subset="both") of the files under `directory`
    with an allowed extension: read(path) gives one element, collate(list of them) one batch.
    Arguments already checked by check_arguments."""
    if seed is None:
        seed = np.random.randint(1e6)
    paths, ids, names = index_directory(os.fspath(directory), labels, formats, class_names, shuffle, seed,
                                        follow_links, verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={names}")
    labels = _encode(ids, label_mode, len(names) if names else 0)
    parts = ("training", "validation") if subset == "both" else (subset,)
    datasets = []
    for part in parts:
        part_paths, part_labels = _split(paths, labels, validation_split, part)
        if not part_paths:
            kind = f"{part} {what}" if subset == "both" else what
            raise ValueError(f"No {kind} found in directory {directory}. Allowed formats: {formats}")
        # as Keras: with subset="both" the validation half keeps its order
        part_shuffle = shuffle and not (subset == "both" and part == "validation")
        datasets.append(_dataset(part_paths, part_labels, batch_size, part_shuffle, seed, read, collate, names))
    return datasets if subset == "both" else datasets[0]
