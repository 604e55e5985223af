"""keras.config's debugging caps (set_max_epochs, set_max_steps_per_epoch: fit's epochs and every
epoch's steps, with Keras's warnings), keras.utils' interactive-logging switches and
standardize_dtype as Keras 3 gives them."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import bigcore
from bigcore import config, layers


@pytest.fixture
def limits():
    yield
    config.set_max_epochs(None)
    config.set_max_steps_per_epoch(None)


class _Count(bigcore.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train = self.test = self.predict = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.predict += 1


def _model():
    m = bigcore.Sequential([layers.Input((3,)), layers.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def test_max_epochs_caps_fit(limits):
    x, y = np.ones((40, 3), np.float32), np.ones((40, 1), np.float32)
    config.set_max_epochs(2)
    assert config.max_epochs() == 2
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        history = _model().fit(x, y, epochs=5, batch_size=10, verbose=0)
    assert len(history.history["loss"]) == 2
    history = _model().fit(x, y, epochs=1, batch_size=10, verbose=0)  # under the cap: as asked
    assert len(history.history["loss"]) == 1


def test_max_steps_per_epoch_caps_fit_evaluate_and_predict(limits):
    x, y = np.ones((40, 3), np.float32), np.ones((40, 1), np.float32)
    config.set_max_steps_per_epoch(3)
    m, count = _model(), _Count()
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        m.fit(x, y, epochs=2, batch_size=5, verbose=0, callbacks=[count])
    assert count.train == 6
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        m.evaluate(x, y, batch_size=5, verbose=0, callbacks=[count])
    assert count.test == 3
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        out = m.predict(x, batch_size=5, verbose=0, callbacks=[count])
    assert count.predict == 3 and len(out) == 15
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):  # the serving path too
        assert len(m.predict(x, batch_size=5, verbose=0)) == 15
    count = _Count()
    m.fit(x, y, epochs=1, batch_size=5, steps_per_epoch=2, verbose=0, callbacks=[count])  # under the cap
    assert count.train == 2


def test_limits_are_checked(limits):
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="positive integer or None"):
            config.set_max_epochs(bad)
        with pytest.raises(ValueError, match="positive integer or None"):
            config.set_max_steps_per_epoch(bad)
    config.set_max_epochs(None)
    assert config.max_epochs() is None


def test_limits_from_keras_environment_variables():
    code = "import bigcore; print(bigcore.config.max_epochs(), bigcore.config.max_steps_per_epoch())"
    root = str(pathlib.Path(bigcore.__file__).parents[1])  # this bigcore (a sanitizer build's copy, too)
    env = {**os.environ, "KERAS_MAX_EPOCHS": "4", "KERAS_MAX_STEPS_PER_EPOCH": "7",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "7"]


def test_interactive_logging_switches_in_utils():
    assert bigcore.utils.is_interactive_logging_enabled()
    bigcore.utils.disable_interactive_logging()
    try:
        assert not bigcore.config.is_interactive_logging_enabled()
    finally:
        bigcore.utils.enable_interactive_logging()
    assert bigcore.utils.is_interactive_logging_enabled()


def test_standardize_dtype_is_keras(keras):
    for d in (None, "int", float, int, bool, str, "float32", np.float64, "bfloat16", np.dtype("int8"), "uint8",
              "string", complex):
        assert bigcore.utils.standardize_dtype(d) == keras.utils.standardize_dtype(d), d
        assert bigcore.backend.standardize_dtype(d) == keras.backend.standardize_dtype(d), d
    for bad in ("float", "int33", object):
        with pytest.raises(ValueError, match="Invalid dtype"):
            keras.utils.standardize_dtype(bad)
        with pytest.raises(ValueError, match="Invalid dtype"):
            bigcore.utils.standardize_dtype(bad)
