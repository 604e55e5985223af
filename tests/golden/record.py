"""Seeded traces that a refactor must reproduce bit for bit (llm.c's golden numbers).

    python tests/golden/record.py          # rewrites traces.json and the model files beside it

Each trace: per-step losses of 50 train_on_batch steps and a SHA-256 of every weight afterwards
(the int8 model: of its predictions, as it does not train). OpenBLAS picks its kernels by CPU, so
the bits are pinned for the CPU the trace was recorded on (its OpenBLAS core name is stored);
tests/test_golden.py compares bit for bit there and to round-off elsewhere. The model files
(one per kind) are the fixtures that later versions must keep loading.
"""

import hashlib
import json
import os
import sys

import numpy as np

import bigcore
from bigcore import compression, layers, quantization

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 50


def _data(seed, n, shape, classes, ints=None):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, ints, size=(n,) + shape) if ints else rng.standard_normal((n,) + shape).astype(np.float32)
    y = rng.integers(0, classes, size=(n,) + (shape if ints else ()))
    return x, y


def mlp():
    bigcore.utils.set_random_seed(7)
    m = bigcore.Sequential([layers.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                            layers.Dense(128, activation="relu"), layers.Dropout(0.1),
                            layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m, _data(1, 32 * STEPS, (784,), 10)


def text_lstm():
    bigcore.utils.set_random_seed(7)
    inp = bigcore.Input(shape=(40,))
    h = layers.Embedding(500, 16, mask_zero=True)(inp)
    h = layers.LSTM(16, return_sequences=True)(h)
    out = layers.Dense(2, activation="softmax")(h)
    m = bigcore.Model(inp, out)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(2, 16 * STEPS, (40,), 2, ints=500)
    x[:, 30:] = 0  # padding, so the mask takes part
    return m, (x, y % 2)


def pruned():
    m, data = mlp()
    p = compression.prune_low_magnitude(m, pruning_schedule=compression.PolynomialDecay(0.0, 0.8, 0, 40, frequency=5))
    p.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return p, data


def _weights_hash(model):
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def train_trace(model, data, batch):
    x, y = data
    losses = []
    for s in range(STEPS):
        out = model.train_on_batch(x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch])
        losses.append(float(out[0] if isinstance(out, (list, tuple)) else out))
    return {"losses": [float.hex(v) for v in losses], "weights_sha256": _weights_hash(model)}


def int8_trace(model, x):
    q = quantization.quantize(model)
    y = q.predict(x, verbose=0)
    return q, {"predictions_sha256": hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()}


def predictions(model, x):
    """The float64 predictions on the first 8 rows (stored as hex, so compared bit for bit)."""
    return [float.hex(float(v)) for v in np.asarray(model.predict(x[:8], verbose=0), np.float64).ravel()]


FILES = {"mlp": "mlp.bigcore", "int8": "mlp_int8.bigcore", "text_lstm": "text_lstm.bigcore",
         "pruned": "mlp_pruned.bigcore"}


def record_all(out_dir=None):
    """Runs every trace; with out_dir, also saves one model file of each kind there. Returns
    (traces, {kind: (model, probe input)})."""
    bigcore.config.set_num_threads(2)
    traces, models = {}, {}
    m, data = mlp()
    traces["mlp"] = train_trace(m, data, 32)
    models["mlp"] = (m, data[0])
    q, traces["int8"] = int8_trace(m, data[0][:64])
    models["int8"] = (q, data[0])
    m, data = text_lstm()
    traces["text_lstm"] = train_trace(m, data, 16)
    models["text_lstm"] = (m, data[0])
    m, data = pruned()
    traces["pruned"] = train_trace(m, data, 32)
    models["pruned"] = (m, data[0])
    for kind, (m, x) in models.items():
        traces[kind]["predictions"] = predictions(m, x)
        if out_dir:
            m.save(os.path.join(out_dir, FILES[kind]))
    return traces, models


def cpu_key():
    """The OpenBLAS build and the core it chose: the bits are pinned for this."""
    return bigcore.config.cpu_features()["blas"]


if __name__ == "__main__":
    traces, _ = record_all(HERE)
    meta = {"cpu": cpu_key(), "threads": 2, "traces": traces}
    with open(os.path.join(HERE, "traces.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True, default=str)
    print(json.dumps(traces, indent=1), file=sys.stderr)
