"""BackupAndRestore (Keras 3's callback): an interrupted fit resumed from the backup ends with the
same bits as one that never stopped (weights, optimizer state, dropout and shuffling), per-batch
backups, the double checkpoint, and the arguments and files it refuses."""

import json
import os

import numpy as np
import pytest

import bigcore
from bigcore import layers


class Interrupt(Exception):
    pass


class StopAt(bigcore.callbacks.Callback):
    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if self.batch is None and epoch == self.epoch:
            raise Interrupt

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise Interrupt


def _model(seed=3, units=16):
    bigcore.utils.set_random_seed(seed)
    model = bigcore.Sequential([bigcore.Input((6,)), layers.Dense(units, activation="relu"), layers.Dropout(0.3),
                                layers.Dense(3, activation="softmax")])
    model.compile(optimizer=bigcore.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


def test_resumed_fit_ends_with_the_same_bits(tmp_path):
    x, y = _data()
    straight = _model()
    straight.fit(x, y, epochs=5, batch_size=16, verbose=0)

    model = _model()
    backup = tmp_path / "backup"
    with pytest.raises(Interrupt):
        model.fit(x, y, epochs=5, batch_size=16, verbose=0,
                  callbacks=[bigcore.callbacks.BackupAndRestore(backup), StopAt(3)])
    with open(backup / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 3
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), straight.get_weights()))
    # a new process would build and compile the model again: its weights and optimizer are fresh
    resumed = _model(seed=99)
    history = resumed.fit(x, y, epochs=5, batch_size=16, verbose=0,
                          callbacks=[bigcore.callbacks.BackupAndRestore(backup)])
    assert history.epoch == [3, 4]
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    assert not backup.exists()  # delete_checkpoint: removed when fit ends normally


def test_batch_backups_and_kept_checkpoint(tmp_path):
    x, y = _data()
    model = _model()
    cb = bigcore.callbacks.BackupAndRestore(tmp_path, save_freq=4, delete_checkpoint=False)
    with pytest.raises(Interrupt):
        model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[cb, StopAt(1, batch=5)])
    with open(tmp_path / "training_metadata.json") as f:
        meta = json.load(f)
    # 6 batches an epoch: saves after batches 3 (epoch 0), then 1 and 5 of epoch 1 ... stopped before 5
    assert meta == {"epoch": 1, "batch": 1}
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[cb])
    assert (tmp_path / "latest.bigcore").exists()  # kept


def test_double_checkpoint_falls_back_to_the_previous(tmp_path):
    x, y = _data()
    model, kept, single = _model(), tmp_path / "kept", tmp_path / "single"
    with pytest.raises(Interrupt):
        model.fit(x, y, epochs=4, batch_size=16, verbose=0,
                  callbacks=[bigcore.callbacks.BackupAndRestore(kept, double_checkpoint=True), StopAt(2)])
    assert (kept / "previous.bigcore").exists()
    (kept / "latest.bigcore").write_bytes(b"not a zip")
    history = _model().fit(x, y, epochs=4, batch_size=16, verbose=0,
                           callbacks=[bigcore.callbacks.BackupAndRestore(kept, double_checkpoint=True)])
    assert history.epoch == [1, 2, 3]  # the previous backup was taken after epoch 0
    with pytest.raises(Interrupt):
        _model().fit(x, y, epochs=4, batch_size=16, verbose=0,
                     callbacks=[bigcore.callbacks.BackupAndRestore(single), StopAt(2)])
    (single / "latest.bigcore").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="latest.bigcore"):  # no previous copy kept: the defect is reported
        _model().fit(x, y, epochs=4, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(single)])


def test_a_backup_of_another_model_is_refused(tmp_path):
    x, y = _data()
    with pytest.raises(Interrupt):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path), StopAt(1)])
    with pytest.raises(ValueError, match="latest.bigcore"):
        _model(units=8).fit(x, y, epochs=3, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path)])


@pytest.mark.parametrize("kw,match", [({"backup_dir": ""}, "Empty `backup_dir`"),
                                      ({"backup_dir": "d", "save_freq": "batch"}, "save_freq"),
                                      ({"backup_dir": "d", "save_freq": 0}, "save_freq")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        bigcore.callbacks.BackupAndRestore(**kw)


def test_metadata_must_be_its_own(tmp_path):
    x, y = _data()
    with pytest.raises(Interrupt):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path), StopAt(1)])
    with open(os.path.join(tmp_path, "training_metadata.json"), "w") as f:
        json.dump({"epoch": -2}, f)
    with pytest.raises(ValueError, match="training_metadata.json"):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[bigcore.callbacks.BackupAndRestore(tmp_path)])
