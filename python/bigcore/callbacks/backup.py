"""BackupAndRestore: Keras 3's callback that lets an interrupted fit go on where it stopped.

The backup is bigcore's own model file (save_model: weights, optimizer slots and iterations, seed
and random streams), so a fit resumed from an epoch's backup continues bit for bit as if it had
never stopped; Keras keeps a .weights.h5 there. The directory is the callback's own, as in Keras:
nothing else reads it.
"""

import json
import os
import shutil

from bigcore.callbacks.base import Callback
from bigcore.saving import MODEL_SUFFIX, restore_state, save_model

_STATE, _PREVIOUS_STATE = "latest" + MODEL_SUFFIX, "previous" + MODEL_SUFFIX
_METADATA, _PREVIOUS_METADATA = "training_metadata.json", "previous_training_metadata.json"


class BackupAndRestore(Callback):
    """Backs the training state up to `backup_dir` at the end of every epoch (save_freq="epoch") or
    every save_freq batches; a later fit with the same callback restores it in on_train_begin and
    starts from the epoch it had reached. double_checkpoint keeps the previous backup beside it,
    taken when the latest cannot be read; delete_checkpoint removes the directory when fit ends
    normally."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq!r}. "
                             "Expected either 'epoch' or an integer value.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._state_path = os.path.join(self.backup_dir, _STATE)
        self._metadata_path = os.path.join(self.backup_dir, _METADATA)
        self._previous = (os.path.join(self.backup_dir, _PREVIOUS_STATE), os.path.join(self.backup_dir, _PREVIOUS_METADATA))
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch = 0

    # -- restore --
    def on_train_begin(self, logs=None):
        kept = self.double_checkpoint and os.path.exists(self._previous[0])
        if not os.path.exists(self._state_path) and not kept:
            return
        try:
            epoch = self._restore(self._state_path, self._metadata_path)
        except (ValueError, OSError):
            if not kept:
                raise
            epoch = self._restore(*self._previous)
        self.model._initial_epoch = epoch
        self._current_epoch = epoch

    def _restore(self, state_path, metadata_path):
        restore_state(self.model, state_path)
        if not os.path.exists(metadata_path):
            return 0
        with open(metadata_path, encoding="utf-8") as f:
            try:
                meta = json.load(f)
            except ValueError as e:
                raise ValueError(f"{metadata_path}: not the JSON BackupAndRestore writes: {e}") from None
        epoch = meta.get("epoch") if isinstance(meta, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{metadata_path}: expected {{\"epoch\": <count>, ...}}, received {str(meta)[:200]}")
        return epoch

    # -- back up --
    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # batches count from 0 in each epoch: a smaller number is a new epoch's
        self._batches_since_save += batch + 1 if batch <= self._last_batch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def _save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path, previous in zip((self._state_path, self._metadata_path), self._previous):
                if os.path.exists(path):
                    shutil.copyfile(path, previous)
        save_model(self.model, self._state_path, overwrite=True)  # atomic: a crash keeps the previous file
        tmp = self._metadata_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch}, f)
        os.replace(tmp, self._metadata_path)

    def on_train_end(self, logs=None):
        # ignore_errors: in a data-parallel fit every rank keeps this callback (the ranks hold the
        # same state, so they write the same backup) and they remove the directory together
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)
