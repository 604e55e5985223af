"""text_dataset_from_directory: a folder of .txt files, one sub-folder per class, as a Dataset of
(strings, labels) batches (keras.utils.text_dataset_from_directory)."""

import numpy as np

from bigcore.utils.directory_dataset import check_arguments, directory_datasets


def _read(path, max_length):
    with open(path, "rb") as f:
        raw = f.read()
    # TensorFlow reads bytes; here the text is decoded (UTF-8, undecodable bytes as U+FFFD) so the
    # strings feed TextVectorization directly. max_length truncates the bytes, as tf.strings.substr
    text = (raw if max_length is None else raw[:max_length]).decode("utf-8", errors="replace")
    return text


def _strings(texts):
    batch = np.empty(len(texts), dtype=object)  # filled, so str lengths never make a 2-D array
    batch[:] = texts
    return batch


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """A Dataset of (texts, labels) batches from `directory`: texts are numpy object arrays of str,
    labels int32 (label_mode "int"), float32 (batch, 1) ("binary") or one-hot float32
    ("categorical"); label_mode=None or labels=None yields texts alone. subset="both" returns
    (training, validation). The files are read when their batch is asked for."""
    labels, label_mode = check_arguments(labels, label_mode, class_names, batch_size, validation_split, subset,
                                         shuffle, seed, format, "text files")
    return directory_datasets(directory, labels, label_mode, class_names, (".txt",), batch_size, shuffle, seed,
                              validation_split, subset, follow_links, verbose,
                              read=lambda path: _read(path, max_length), collate=_strings, what="text files")
