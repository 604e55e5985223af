"""Callbacks that write files: ModelCheckpoint (through model.save / save_weights: .bigcore and
.weights.safetensors, or Keras's .keras and .weights.h5), CSVLogger and
TensorBoard (event files through tensorboardX)."""

import csv
import itertools
import os
import time
import warnings

import numpy as np

from bigcore.callbacks.base import Callback
from bigcore.callbacks.monitors import is_scalar, monitor_sign
from bigcore.saving import MODEL_SUFFIX, WEIGHTS_SUFFIX


class CSVLogger(Callback):
    """Streams one row per epoch to a CSV file: epoch, then the log keys in sorted order."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        # Append to a non-empty file: no second header.
        self.append_header = not (self.append and os.path.isfile(self.filename)
                                  and os.path.getsize(self.filename) > 0)
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # Validation may not run every epoch: keep columns for the val_ metrics the model has.
            for name in getattr(self.model, "metrics_names", None) or ():
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         delimiter=self.sep, lineterminator="\n")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(v):
    if isinstance(v, np.ndarray) and v.ndim > 0 or isinstance(v, (list, tuple)):
        return f'"[{", ".join(map(str, np.ravel(v)))}]"'
    return v


class ModelCheckpoint(Callback):
    """Saves the model (`.bigcore`) or its weights (`.weights.safetensors`) every epoch or every
    `save_freq` batches; `filepath` may hold `{epoch:02d}`, `{batch}` and log keys (`{val_loss:.2f}`).
    With save_best_only, only when `monitor` improves on the best value so far."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or "
                             "a positive integer")
        self.filepath = os.fspath(filepath)
        # bigcore's own files, or Keras's (`.keras`, `.weights.h5`: bigcore.saving.keras_files)
        suffixes = (WEIGHTS_SUFFIX, ".weights.h5") if save_weights_only else (MODEL_SUFFIX, ".keras", ".h5", ".hdf5")
        if not self.filepath.endswith(suffixes):
            what = "save_weights_only=True" if save_weights_only else "save_weights_only=False"
            raise ValueError(f"With {what}, the filepath given to ModelCheckpoint must end in "
                             f"{' or '.join(f'`{x}`' for x in suffixes)}. Received: filepath={self.filepath}")
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self.sign = None  # +1: lower is better; set when first needed (the model knows its metrics)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        # batch restarts at 0 each epoch
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        path = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(path):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is "
                          f"an existing directory: {path}")
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.",
                              stacklevel=2)
                return
            if not is_scalar(current):
                warnings.warn("Can save best model only when `monitor` is a scalar value. Received: "
                              f"{current}. Falling back to `save_best_only=False`.", stacklevel=2)
            else:
                current = float(current)
                if self.sign is None:
                    self.sign = monitor_sign(self.monitor, self.mode, self.model, "ModelCheckpoint")
                if self.best is not None and not self.sign * (current - self.best) < 0:
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                    return
                if self.verbose > 0:
                    best = "inf" if self.best is None and self.sign > 0 else (
                        "-inf" if self.best is None else f"{self.best:.5f}")
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {path}")
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self._write(path)

    def _write(self, path):
        dirname = os.path.dirname(path)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


_WRITER_IDS = itertools.count()
_TENSORBOARD_HINT = "pip install tensorboardX  (or: pip install 'bigcore[tensorboard]')"


class TensorBoard(Callback):
    """Writes TensorBoard event files through tensorboardX: `log_dir/train` and
    `log_dir/validation`, scalars `epoch_<name>` per epoch (step = epoch) and, with update_freq
    'batch' or N, `batch_<name>` every N batches (step = global batch count); weight histograms
    every `histogram_freq` epochs; with write_graph, the model's JSON config as the text summary
    'keras', as Keras writes it."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter  # noqa: PLC0415  (optional: the tensorboard extra)
        except ImportError as e:
            raise ImportError(f"TensorBoard needs the tensorboardX package: {_TENSORBOARD_HINT}") from e
        for name, value, default in (("write_images", write_images, False), ("profile_batch", profile_batch, 0),
                                     ("embeddings_freq", embeddings_freq, 0),
                                     ("embeddings_metadata", embeddings_metadata, None)):
            if value != default:
                raise ValueError(f"TensorBoard: {name} is not supported by bigcore. Received: {name}={value!r}")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq <= 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer. "
                             f"Received: update_freq={update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative integer. "
                             f"Received: histogram_freq={histogram_freq!r}")
        self._SummaryWriter = SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self._train_writer = self._val_writer = None
        self._global_train_batch = 0

    def on_train_begin(self, logs=None):
        self._close()
        # tensorboardX names a file by time (in seconds) and host: a second fit within the same
        # second would overwrite the first one's file without a suffix of its own
        suffix = f".{os.getpid()}.{next(_WRITER_IDS)}"
        self._train_writer = self._SummaryWriter(os.path.join(self.log_dir, "train"), filename_suffix=suffix)
        self._val_writer = self._SummaryWriter(os.path.join(self.log_dir, "validation"), filename_suffix=suffix)
        self._global_train_batch = 0
        if self.write_graph and self.model is not None:
            self._train_writer.add_text("keras", self.model.to_json(), 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches = getattr(self, "_epoch_batches", 0) + 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        for name, value in (logs or {}).items():
            if is_scalar(value):
                self._train_writer.add_scalar("batch_" + name, float(value), self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        lr = self._learning_rate()
        if lr is not None:
            train["learning_rate"] = lr
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - getattr(self, "_epoch_start", time.perf_counter())
            train["steps_per_second"] = self._epoch_batches / elapsed if elapsed > 0 else 0.0
        for writer, values in ((self._train_writer, train), (self._val_writer, val)):
            for name, value in values.items():
                if is_scalar(value):
                    writer.add_scalar("epoch_" + name, float(value), epoch)
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if val and iterations is not None:
            for name, value in val.items():
                if is_scalar(value):
                    self._val_writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), int(iterations))
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for w in getattr(self.model, "weights", ()):
                self._train_writer.add_histogram(getattr(w, "path", "weight"), np.asarray(w, np.float32), epoch)
        self._train_writer.flush()
        self._val_writer.flush()

    def _learning_rate(self):
        opt = getattr(self.model, "optimizer", None)
        lr = getattr(opt, "learning_rate", None)
        if lr is None:
            return None
        if callable(lr):
            lr = lr(getattr(opt, "iterations", 0))
        return float(lr) if is_scalar(lr) else None

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        for w in (self._train_writer, self._val_writer):
            if w is not None:
                w.close()
        self._train_writer = self._val_writer = None
