"""Keras-3-compatible callbacks: the hooks fit / evaluate / predict call, and the stock callbacks.

    base.py            Callback (every hook a no-op), LambdaCallback
    callback_list.py   CallbackList: one call's callbacks, each hook precomputed
    history.py         History
    progbar.py         ProgbarLogger
    monitors.py        EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, LearningRateScheduler
    writers.py         ModelCheckpoint, CSVLogger, TensorBoard
    backup.py          BackupAndRestore
    ema.py             SwapEMAWeights
"""

from bigcore.callbacks.backup import BackupAndRestore
from bigcore.callbacks.base import Callback, LambdaCallback
from bigcore.callbacks.callback_list import CallbackList
from bigcore.callbacks.ema import SwapEMAWeights
from bigcore.callbacks.history import History
from bigcore.callbacks.monitors import EarlyStopping, LearningRateScheduler, ReduceLROnPlateau, TerminateOnNaN
from bigcore.callbacks.progbar import ProgbarLogger
from bigcore.callbacks.writers import CSVLogger, ModelCheckpoint, TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "SwapEMAWeights",
           "TensorBoard", "TerminateOnNaN"]
