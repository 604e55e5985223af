"""Fuzzing the public API with hypothesis.

Random shapes, dtypes, memory layouts, values (extreme, denormal, non-finite), label ranges, layer
configurations and call arguments go through fit / evaluate / predict / train_on_batch /
test_on_batch / predict_on_batch / model(x) / save + load. Every case must either work, and then
hold the invariants checked below (output shapes and dtype, finite outputs for finite inputs and
bounded weights, the same answer for the same input, caller arrays untouched, a save + load that
answers bit for bit like the saved model), or raise ValueError / TypeError / RuntimeError with a
message, leaving the model as it was (or, for fit, at a completed step) and usable.

Crash safety: the cases run in a worker process (this file run as a script, `--worker`) fed over a
pipe. A segfault, abort or hang of the worker is reported as a failure of the case that caused it
(hypothesis then shrinks it, restarting the worker as needed) instead of killing the test run.
In the worker, warnings are errors as under pytest (filterwarnings = error), except NumPy's
"overflow/invalid value encountered in cast", which the library's own tests accept.

Size of the run: BIGCORE_FUZZ_EXAMPLES=N runs N examples per test (not derandomized: each run
explores new cases); unset, each test runs a fixed (derandomized) sample, ~2,900 cases in all, so
the module stays under ~30 s on 2 cores. Each test prints the number of cases it ran. BIGCORE_FUZZ_TIMEOUT: seconds
one case may take before it counts as a hang (default 120; sanitizer builds are slow).

The bugs these fuzzers found have minimal regression tests at the end of the file.
"""

import math
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np
import pytest

EXAMPLES = int(os.environ.get("BIGCORE_FUZZ_EXAMPLES", "0") or 0)
TIMEOUT = float(os.environ.get("BIGCORE_FUZZ_TIMEOUT", "120"))
ALLOWED = (ValueError, TypeError, RuntimeError)  # what bad input may raise (with a message)
MODERATE = 1e4                                   # |x| up to this: outputs must be finite


# =============================================================================================
# Worker side: builds models from plain (picklable) specs and checks the invariants.
# =============================================================================================

class Violation(Exception):
    """An invariant of the case did not hold."""


def _fail(msg):
    raise Violation(msg)


def _attempt(fn):
    """(True, value) or (False, exception) for an allowed exception with a message; anything else
    (IndexError, ZeroDivisionError, AttributeError, MemoryError, a warning turned error, ...)
    is a violation."""
    try:
        return True, fn()
    except ALLOWED as e:
        if not str(e).strip():
            _fail(f"{type(e).__name__} raised with an empty message")
        return False, e
    except Violation:
        raise
    except Exception as e:  # noqa: BLE001 - any other exception type is the finding
        _fail(f"unexpected {type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}")


def _f32(a):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(a, dtype=np.float32)


def _same(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _copy_data(x):
    if isinstance(x, dict):
        return {k: _copy_data(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_copy_data(v) for v in x)
    return np.array(x, copy=True) if isinstance(x, np.ndarray) else x


def _data_equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_data_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_data_equal(u, v) for u, v in zip(a, b))
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "O":
            return a.shape == b.shape and all(u is v or u == v for u, v in zip(a.ravel(), b.ravel()))
        if a.dtype.kind in "US":
            return a.shape == b.shape and bool(np.all(a == b))
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return a == b or (a != a and b != b)


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def _finite_list(ws):
    return all(np.isfinite(w).all() for w in ws)


def _outputs(out):
    return out if isinstance(out, list) else [out]


# -- model families for the input / target fuzzers -------------------------------------------

def _family(spec):
    """A small compiled model of one of four families; returns (model, input shapes, output shape,
    embedding vocabulary or None). Sizes come from spec['dims']."""
    import bigcore
    from bigcore import layers, optimizers

    bigcore.utils.set_random_seed(spec["seed"])
    d = spec["dims"]
    fam, C = spec["family"], d["C"]
    loss = spec.get("loss", "sparse_categorical_crossentropy")
    head_act = {"sparse_categorical_crossentropy": "softmax", "categorical_crossentropy": "softmax",
                "binary_crossentropy": "sigmoid"}.get(loss, None)
    V = None
    if fam == "mlp":
        inp = bigcore.Input((d["D"],), name="x")
        h = layers.Dense(8, activation="relu")(inp)
        ins = [inp]
    elif fam == "seq":
        inp = bigcore.Input((d["T"], d["D"]), name="x")
        h = (layers.LSTM if d["rnn"] == "lstm" else layers.GRU)(4)(inp)
        ins = [inp]
    elif fam == "ids":
        V = d["V"]
        inp = bigcore.Input((d["T"],), name="x")
        e = layers.Embedding(V, 3, mask_zero=d["mask_zero"])(inp)
        h = layers.LSTM(3)(e)
        ins = [inp]
    else:  # "two": a vector input and a sequence input, concatenated
        a = bigcore.Input((d["D"],), name="a")
        b = bigcore.Input((d["T"], d["D2"]), name="b")
        h = layers.Concatenate()([layers.Dense(4, activation="tanh")(a), layers.GRU(3)(b)])
        ins = [a, b]
    out = layers.Dense(C, activation=head_act)(h)
    model = bigcore.Model(ins if len(ins) > 1 else ins[0], out)
    model.compile(optimizer=optimizers.SGD(0.01, clipnorm=1.0), loss=loss,
                  metrics=["accuracy"] if head_act else ["mae"])
    model._fuzz_head = head_act
    return model, [tuple(t.shape[1:]) for t in ins], (C,), V


def _classify_array(a, shape, V=None):
    """Why the library must refuse array `a` for an input of sample shape `shape` (empty: valid)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(a)
    except Exception:  # noqa: BLE001 - ragged nested lists: not an array at all
        return ["not an array"]
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        return ["dtype"]
    if shape and arr.ndim == len(shape) and shape[-1] == 1:  # Keras's rank adjustment (data_adapter._adjust_rank)
        arr = arr[..., None]
    elif arr.ndim == len(shape) + 2 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != len(shape) + 1 or tuple(arr.shape[1:]) != tuple(shape):
        return ["shape"]
    f = _f32(arr)
    if not np.isfinite(f).all():
        return ["non-finite"]
    if V is not None and f.size:
        f = np.where(np.abs(f) < np.finfo(np.float32).tiny, 0.0, f)  # native steps flush denormals (DAZ)
        if ((f < 0) | (f >= V) | (f != np.floor(f))).any():
            return ["ids"]
    return []


def _is_array_like(a):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.asarray(a)
        return True
    except Exception:  # noqa: BLE001 - ragged nested lists
        return False


def _call(model, method, x, y=None, **kw):
    if method == "predict":
        return model.predict(x, verbose=0, **kw)
    if method == "evaluate":
        return model.evaluate(x, y, verbose=0, **kw)
    if method == "fit":
        return model.fit(x, y, verbose=0, **kw)
    if method == "train_on_batch":
        return model.train_on_batch(x, y, **kw)
    if method == "test_on_batch":
        return model.test_on_batch(x, y, **kw)
    if method == "predict_on_batch":
        return model.predict_on_batch(x)
    if method == "call":
        return model(x)
    raise AssertionError(method)


PREDICTS = ("predict", "predict_on_batch", "call")
TRAINS = ("fit", "train_on_batch")


def _probe(in_shapes, V, n=3):
    """Valid input for a model (ids in range when V is given)."""
    rng = np.random.default_rng(7)
    xs = [rng.integers(0, V, (n,) + s).astype(np.float32) if V else rng.normal(size=(n,) + s).astype(np.float32)
          for s in in_shapes]
    return xs if len(xs) > 1 else xs[0]


def _check_usable(model, in_shapes, V, weights_before, method, raised, keep_finite=False):
    """After a call: the weights are unchanged (any refused call but fit) or finite (fit, which may
    have completed steps before it raised; any call when keep_finite: valid, moderate data), and
    the model still predicts on valid input."""
    after = _weights(model)
    if raised and method != "fit" and not _same(after, weights_before):
        _fail(f"{method} raised but changed the weights")
    if _finite_list(weights_before) and not _finite_list(after) and (raised or keep_finite):
        _fail(f"{method} {'raised and ' if raised else ''}left non-finite weights (they were finite before)")
    ok, out = _attempt(lambda: model.predict(_probe(in_shapes, V), verbose=0))
    if not ok:
        _fail(f"after {method}, predict on valid input raised {type(out).__name__}: {out}")
    if _finite_list(after) and not all(np.isfinite(o).all() for o in _outputs(out)):
        _fail(f"after {method}, finite weights give non-finite predictions on valid input")


def _check_prediction(model, method, x, out, n, out_shape, moderate, softmax, head):
    for o in _outputs(out):
        if not isinstance(o, np.ndarray) or o.dtype != np.float32:
            _fail(f"{method} returned {type(o).__name__} {getattr(o, 'dtype', '')}, expected float32 arrays")
        if o.shape != (n,) + tuple(out_shape):
            _fail(f"{method} returned shape {o.shape}, expected {(n,) + tuple(out_shape)}")
    o = _outputs(out)[0]
    if moderate and not np.isfinite(o).all():
        _fail(f"{method}: non-finite output for finite moderate input and finite weights")
    if softmax and o.size and np.isfinite(o).all() and not np.allclose(o.sum(-1), 1.0, atol=1e-4):
        _fail(f"{method}: softmax rows do not sum to 1: {o.sum(-1)}")
    if head == "sigmoid" and np.isfinite(o).all() and ((o < 0) | (o > 1)).any():
        _fail(f"{method}: sigmoid output outside [0, 1]")
    again = _call(model, method, x)
    if not _same(_outputs(again), _outputs(out)):
        _fail(f"{method} gave different answers for the same input")
    if moderate and n:
        other = model.predict_on_batch(x) if method != "predict_on_batch" else model.predict(x, verbose=0)
        for a, b in zip(_outputs(out), _outputs(other)):
            if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
                _fail(f"predict and predict_on_batch disagree: max diff {np.max(np.abs(a - b))}")


def run_inputs_case(spec):
    """Random x (dtype, layout, values, shape) through one method of a fixed family."""
    model, in_shapes, out_shape, V = _family(spec)
    x, y, method = spec["x"], spec["y"], spec["method"]
    arrays = list(x.values()) if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x])
    reasons = []
    if len(arrays) != len(in_shapes):
        reasons.append("number of arrays")
    if isinstance(x, dict) and set(x) != {t.node.layer.name for t in model.inputs}:
        reasons.append("dict keys")
    for a, s in zip(arrays, in_shapes):
        reasons += _classify_array(a, s, V)
    rows = {len(a) for a in arrays if _is_array_like(a) and np.ndim(a)}
    if len(rows) > 1:
        reasons.append("row counts differ")
    n = min(rows) if rows else 0
    before, x_copy = _weights(model), _copy_data(x)
    kw = {"batch_size": spec["batch_size"]} if method in ("fit", "evaluate", "predict") else {}
    ok, out = _attempt(lambda: _call(model, method, x, y, **kw))
    if not _data_equal(x, x_copy):
        _fail(f"{method} modified the caller's input array")
    if reasons:
        if ok:
            _fail(f"{method} accepted invalid input ({', '.join(reasons)}) and returned {type(out).__name__}")
        _check_usable(model, in_shapes, V, before, method, raised=True)
        return {"outcome": "refused"}
    if n == 0:
        if method in TRAINS:
            if ok:
                _fail(f"{method} on zero samples did not raise")
        elif method in PREDICTS:
            if not ok:
                _fail(f"{method} on zero samples raised {type(out).__name__}: {out}")
            for o in _outputs(out):
                if o.shape != (0,) + out_shape:
                    _fail(f"{method} on zero samples returned shape {o.shape}")
        return {"outcome": "empty"}
    if not ok:
        _fail(f"{method} raised on valid input: {type(out).__name__}: {out}")
    vals = [_f32(a) for a in arrays]
    moderate = all(np.abs(v).max(initial=0) <= MODERATE for v in vals) and _finite_list(before)
    if method in PREDICTS:
        _check_prediction(model, method, x, out, n, out_shape, moderate, model._fuzz_head == "softmax",
                          model._fuzz_head)
    else:  # fit, evaluate, test_on_batch, train_on_batch: the loss (and metrics)
        values = out.history["loss"] if method == "fit" else (out if isinstance(out, list) else [out])
        if moderate and not all(math.isfinite(v) for v in values):
            _fail(f"{method} returned non-finite values {values} for moderate input")
    _check_usable(model, in_shapes, V, before, method, raised=False, keep_finite=moderate)
    return {"outcome": "ok"}


def _classify_targets(y, loss, out_shape, n, top=True):
    if top and isinstance(y, (list, tuple)):  # a list holds one array per output (as in Keras), not labels
        return ["structure"] if len(y) != 1 else _classify_targets(y[0], loss, out_shape, n, top=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(y)
    except Exception:  # noqa: BLE001
        return ["not an array"]
    if a.dtype == object or a.dtype.kind not in "biuf":
        return ["dtype"]
    if a.ndim == 0 or a.shape[0] != n:
        return ["rows"]
    C = out_shape[-1]
    if loss == "sparse_categorical_crossentropy":
        if a.ndim == len(out_shape) + 1 and a.shape[-1] == 1:
            a = a.reshape(a.shape[:-1])
        if tuple(a.shape[1:]) != tuple(out_shape[:-1]):
            return ["shape"]
        f = a.astype(np.float64) if a.dtype.kind != "b" else a.astype(np.float64)
        if a.size and (not np.isfinite(f).all() or (f < 0).any() or (f >= C).any() or (f != np.floor(f)).any()):
            return ["labels"]
        return []
    if tuple(a.shape[1:]) != tuple(out_shape) and not (a.ndim == 1 and tuple(out_shape) == (1,)):
        return ["shape"]
    if not np.isfinite(_f32(a)).all():
        return ["non-finite"]
    return []


def _classify_sample_weight(sw, n):
    if sw is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(sw)
    except Exception:  # noqa: BLE001
        return ["not an array"]
    if a.dtype.kind not in "biuf":
        return ["dtype"]
    if a.size != n:
        return ["size"]
    if not np.isfinite(_f32(a)).all():
        return ["non-finite"]
    return []


def run_targets_case(spec):
    """Random y / sample_weight / class_weight against a loss through one training method."""
    model, in_shapes, out_shape, V = _family(spec)
    x, y, method = spec["x"], spec["y"], spec["method"]
    n = len(x)
    loss = spec["loss"]
    reasons = _classify_targets(y, loss, out_shape, n) + _classify_sample_weight(spec["sample_weight"], n)
    kw = {}
    if spec["sample_weight"] is not None:
        kw["sample_weight"] = spec["sample_weight"]
    if spec["class_weight"] is not None and method in TRAINS:
        kw["class_weight"] = spec["class_weight"]
    if method == "fit":
        kw["batch_size"] = spec["batch_size"]
    before, y_copy = _weights(model), _copy_data(y)
    ok, out = _attempt(lambda: _call(model, method, x, y, **kw))
    if not _data_equal(y, y_copy):
        _fail(f"{method} modified the caller's target array")
    grey = spec.get("grey", False)
    if reasons and ok and not grey:
        _fail(f"{method} accepted invalid targets ({', '.join(reasons)})")
    if not reasons and not ok and not grey:
        _fail(f"{method} raised on valid targets: {type(out).__name__}: {out}")
    if ok and not reasons:
        values = out if isinstance(out, list) else ([out] if method != "fit" else out.history["loss"])
        if not all(math.isfinite(v) for v in values) and spec["moderate"]:
            _fail(f"{method} gave non-finite loss/metrics {values} on moderate targets")
        if spec["moderate"] and not _finite_list(_weights(model)):
            _fail(f"{method} on moderate targets left non-finite weights")
    _check_usable(model, in_shapes, V, before, method, raised=not ok, keep_finite=spec["moderate"])
    return {"outcome": "ok" if ok else "refused"}


# -- random architectures ----------------------------------------------------------------------

def _make_layer(ls):
    from bigcore import layers

    kind, kw = ls[0], dict(ls[1])
    if kind == "bidirectional":
        inner = _make_layer(kw.pop("layer"))
        return layers.Bidirectional(inner, **kw)
    return {"dense": layers.Dense, "dropout": layers.Dropout, "activation": layers.Activation,
            "lstm": layers.LSTM, "gru": layers.GRU, "embedding": layers.Embedding,
            "flatten": layers.Flatten}[kind](**kw)


def _build_recipe(r):
    import bigcore
    from bigcore import layers, losses, optimizers

    bigcore.utils.set_random_seed(r["seed"])
    inputs = [bigcore.Input(s, name=f"in{i}") for i, s in enumerate(r["inputs"])]
    if r["api"] == "sequential":
        model = bigcore.Sequential([inputs[0]] + [_make_layer(ls) for ls in r["branches"][0]] +
                                   [_make_layer(r["head"])])
    else:
        ends = []
        for i, branch in enumerate(r["branches"]):
            h = inputs[min(i, len(inputs) - 1)]
            for ls in branch:
                h = _make_layer(ls)(h)
            ends.append(h)
        if len(ends) > 1:
            merge = {"concat": layers.Concatenate, "add": layers.Add, "average": layers.Average,
                     "multiply": layers.Multiply}[r["merge"]]
            h = merge()(ends)
        else:
            h = ends[0]
        model = bigcore.Model(inputs if len(inputs) > 1 else inputs[0], _make_layer(r["head"])(h))
    loss_name, from_logits = r["loss"]
    loss = losses.get(loss_name) if not from_logits else losses.SparseCategoricalCrossentropy(from_logits=True)
    name, lr, clip = r["optimizer"]
    opt = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "rmsprop": optimizers.RMSprop,
           "adamw": optimizers.AdamW}[name](learning_rate=lr, clipnorm=clip)
    model.compile(optimizer=opt, loss=loss, metrics=r["metrics"])
    return model


def _replay_training(r, ops, x, y, sw):
    model = _build_recipe(r)
    for op in ops:
        if op[0] == "fit":
            model.fit(x, y, batch_size=op[1], epochs=op[2], shuffle=op[3], sample_weight=sw, verbose=0)
        elif op[0] == "train_on_batch":
            model.train_on_batch(x, y, sample_weight=sw)
    return _weights(model)


def run_architecture_case(spec):
    """A random valid model and valid data through a random sequence of API calls."""
    import bigcore

    r = spec["recipe"]
    ok, model = _attempt(lambda: _build_recipe(r))
    if not ok:
        _fail(f"a supported configuration was refused: {type(model).__name__}: {model}")
    x, y, sw = spec["x"], spec["y"], spec["sample_weight"]
    x_list = x if isinstance(x, list) else [x]
    n = len(x_list[0])
    out_shape = tuple(model.outputs[0].shape[1:])
    head_act = r["head"][1].get("activation")
    softmax = head_act == "softmax"
    x_copy, y_copy = _copy_data(x), _copy_data(y)
    tmp = tempfile.mkdtemp(prefix="bigcore-fuzz-")
    try:
        for op in spec["ops"]:
            kind = op[0]
            if kind == "fit":
                hist = model.fit(x, y, batch_size=op[1], epochs=op[2], shuffle=op[3], sample_weight=sw,
                                 verbose=0)
                if not all(math.isfinite(v) for v in hist.history["loss"]):
                    _fail(f"fit loss not finite: {hist.history['loss']}")
            elif kind == "train_on_batch":
                v = model.train_on_batch(x, y, sample_weight=sw)
                if not all(math.isfinite(u) for u in (v if isinstance(v, list) else [v])):
                    _fail(f"train_on_batch returned {v}")
            elif kind in ("evaluate", "test_on_batch"):
                v = model.evaluate(x, y, batch_size=op[1], verbose=0) if kind == "evaluate" \
                    else model.test_on_batch(x, y)
                if not all(math.isfinite(u) for u in (v if isinstance(v, list) else [v])):
                    _fail(f"{kind} returned {v}")
            elif kind in PREDICTS:
                out = _call(model, kind, x)
                _check_prediction(model, kind, x, out, n, out_shape, True, softmax, head_act)
                if n > 1:  # rows are independent at inference (dropout off)
                    k = max(1, n // 2)
                    part = model.predict([a[:k] for a in x_list] if isinstance(x, list) else x[:k], verbose=0)
                    if not np.allclose(part, _outputs(out)[0][:k], rtol=1e-4, atol=1e-5):
                        _fail("predict on the first rows differs from the same rows of a larger batch")
            elif kind == "save_load":
                path = os.path.join(tmp, f"m{len(os.listdir(tmp))}.bigcore")
                ref = model.predict(x, verbose=0)
                ref_eval = model.evaluate(x, y, verbose=0)
                model.save(path)
                loaded = bigcore.models.load_model(path)
                if not _same(_weights(loaded), _weights(model)):
                    _fail("load_model(save(m)) has different weights")
                if not np.array_equal(loaded.predict(x, verbose=0), ref):
                    _fail("load_model(save(m)) predicts differently")
                if loaded.evaluate(x, y, verbose=0) != ref_eval:
                    _fail("load_model(save(m)) evaluates differently")
                model = loaded
            elif kind == "weights_roundtrip":
                ref = model.predict(x, verbose=0)
                model.set_weights([w * 1 for w in model.get_weights()])
                if not np.array_equal(model.predict(x, verbose=0), ref):
                    _fail("set_weights(get_weights()) changed predictions")
            if not _finite_list(_weights(model)):
                _fail(f"non-finite weights after {kind} (moderate data, bounded steps)")
        if not _data_equal(x, x_copy) or not _data_equal(y, y_copy):
            _fail("the caller's arrays were modified")
        if spec["replay"]:
            train_ops = [op for op in spec["ops"] if op[0] in TRAINS]
            if "save_load" not in [op[0] for op in spec["ops"]] and train_ops:
                a = _replay_training(r, train_ops, x, y, sw)
                b = _replay_training(r, train_ops, x, y, sw)
                if not _same(a, b):
                    _fail("the same seed and data gave different weights")
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return {"outcome": "ok"}


# -- layer constructor arguments ---------------------------------------------------------------

def run_layer_args_case(spec):
    """Random constructor arguments: the constructor raises cleanly or the layer builds, trains,
    predicts and round-trips its config."""
    import bigcore
    from bigcore import layers

    cls = getattr(layers, spec["cls"])
    kw = spec["kwargs"]
    ok, layer = _attempt(lambda: cls(**kw))
    if not ok:
        return {"outcome": "refused"}
    ok, cfg = _attempt(layer.get_config)
    if not ok:
        _fail(f"get_config() of an accepted {spec['cls']} raised {cfg}")
    ok, clone = _attempt(lambda: cls.from_config(cfg))
    if not ok:
        _fail(f"from_config(get_config()) of {spec['cls']}({kw}) raised {type(clone).__name__}: {clone}")
    in_shape = spec["in_shape"]
    bigcore.utils.set_random_seed(0)

    def build():
        inp = bigcore.Input(in_shape)
        h = layer(inp)
        h = h[0] if isinstance(h, list) else h
        if len(h.shape) > 2:
            h = layers.Flatten()(h)
        m = bigcore.Model(inp, layers.Dense(2)(h))
        m.compile("sgd", "mse")
        return m

    ok, model = _attempt(build)
    if not ok:
        return {"outcome": "refused at build"}
    rng = np.random.default_rng(0)
    if spec["cls"] == "Embedding" and isinstance(kw.get("input_dim"), int):
        x = rng.integers(0, max(1, kw["input_dim"]), (4,) + tuple(in_shape)).astype(np.float32)
    else:
        x = rng.normal(size=(4,) + tuple(in_shape)).astype(np.float32)
    ok, _ = _attempt(lambda: model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0))
    ok2, out = _attempt(lambda: model.predict(x, verbose=0))
    if ok2 and out.shape != (4, 2):
        _fail(f"predict returned shape {out.shape}")
    if ok and ok2:  # what saves must load and answer the same
        tmp = tempfile.mkdtemp(prefix="bigcore-fuzz-")
        path = os.path.join(tmp, "m.bigcore")
        try:
            saved, _ = _attempt(lambda: model.save(path))
            if saved:
                loaded, back = _attempt(lambda: bigcore.models.load_model(path))
                if not loaded:
                    _fail(f"a model that saved does not load: {type(back).__name__}: {back}")
                if not _same(_outputs(back.predict(x, verbose=0)), _outputs(model.predict(x, verbose=0))):
                    _fail("the loaded model predicts differently")
        finally:
            if os.path.exists(path):
                os.unlink(path)
            os.rmdir(tmp)
    return {"outcome": "ok" if ok and ok2 else "refused at run"}


# -- call arguments ----------------------------------------------------------------------------

def run_call_args_case(spec):
    """Random keyword arguments to fit / evaluate / predict on a fixed model and valid data."""
    spec = dict(spec, family="mlp", dims={"D": 3, "C": 3})
    model, in_shapes, out_shape, V = _family(spec)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    kw = dict(spec["kwargs"])
    if kw.pop("validation_data_kind", None) == "arrays":
        kw["validation_data"] = (x[:4], y[:4])
    before = _weights(model)
    ok, out = _attempt(lambda: _call(model, spec["method"], x, y, **kw))
    if ok and spec["method"] == "predict" and out.shape != (10, 3):
        _fail(f"predict returned shape {out.shape}")
    _check_usable(model, in_shapes, V, before, spec["method"], raised=not ok, keep_finite=True)
    return {"outcome": "ok" if ok else "refused"}


def run_selftest_case(spec):
    if spec == "crash":
        if os.environ.get("BIGCORE_SANITIZED"):  # ASan would log a SEGV as a finding: abort instead
            os.abort()
        import ctypes

        ctypes.string_at(0)  # a segfault
    if spec == "hang":
        time.sleep(3600)
    return {"outcome": "ok"}


def run_repro_case(name):
    """Minimal reproductions of crashing bugs (regression tests at the end of the file)."""
    import bigcore
    from bigcore import layers

    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(64, activation="relu", input_shape=(32,)),
                            layers.Dense(10, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4096, 32)).astype(np.float32), rng.integers(0, 10, 4096)
    if name == "capacity":
        m.train_on_batch(x[:2], y[:2])
        m.predict(x, batch_size=4096, verbose=0)  # grows the activation buffers, not the gradients
        for _ in range(3):
            m.train_on_batch(x, y)  # backward writes 4096 rows into 2-row gradient buffers
        if not _finite_list(_weights(m)):
            _fail("non-finite weights")
    return {"outcome": "ok"}


CASES = {"inputs": run_inputs_case, "targets": run_targets_case, "architecture": run_architecture_case,
         "layer_args": run_layer_args_case, "call_args": run_call_args_case, "repro": run_repro_case,
         "selftest": run_selftest_case}


def _worker_main():
    """Reads (kind, spec) pickles from stdin, answers result pickles on the original stdout."""
    import faulthandler

    faulthandler.enable()
    with os.fdopen(os.dup(1), "wb", buffering=0) as out:
        os.dup2(2, 1)  # anything printed (progress bars, native code) goes to stderr, not the pipe
        sys.stdout = sys.stderr
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", r".*encountered in cast", RuntimeWarning)
        import bigcore  # noqa: F401  (import once, before the first case)

        _serve(sys.stdin.buffer, out)


def _serve(inp, out):
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        kind, spec = pickle.loads(inp.read(struct.unpack("<Q", head)[0]))
        try:
            res = CASES[kind](spec)
            res["ok"] = True
        except Violation as e:
            res = {"ok": False, "why": str(e)}
        except Exception:  # noqa: BLE001 - an invariant check itself failed: report, don't die
            res = {"ok": False, "why": "unexpected exception:\n" + traceback.format_exc()}
        data = pickle.dumps(res)
        out.write(struct.pack("<Q", len(data)) + data)


# =============================================================================================
# Parent side: the worker process, the strategies and the tests.
# =============================================================================================

class Worker:
    """One long-lived worker process; restarted after it dies."""

    def __init__(self):
        self.proc = None
        self.log = None
        self.restarts = 0

    def start(self):
        import bigcore

        env = dict(os.environ)
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(bigcore.__file__)))
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout, self.log):
                f.close()
            self.proc = None

    def _read(self, n, deadline):
        fd, buf = self.proc.stdout.fileno(), b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _stderr_tail(self, n=4000):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-n:]

    def run(self, kind, spec, timeout=TIMEOUT):
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        data = pickle.dumps((kind, spec))
        try:
            self.proc.stdin.write(struct.pack("<Q", len(data)) + data)
            self.proc.stdin.flush()
            deadline = time.monotonic() + timeout
            size = struct.unpack("<Q", self._read(8, deadline))[0]
            return pickle.loads(self._read(size, deadline))
        except TimeoutError:
            tail = self._stderr_tail()
            self.stop()
            self.restarts += 1
            raise AssertionError(f"{kind} case hung (> {timeout:.0f} s). Worker stderr:\n{tail}") from None
        except (EOFError, BrokenPipeError):
            rc = self.proc.wait()
            tail = self._stderr_tail()
            self.stop()
            self.restarts += 1
            how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
            raise AssertionError(f"the interpreter died ({how}) running a {kind} case. "
                                 f"Worker stderr:\n{tail}") from None


if __name__ == "__main__" and "--worker" in sys.argv:
    _worker_main()
    sys.exit(0)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

COUNTS = {}


@pytest.fixture(scope="module")
def worker(request):
    w = Worker()
    yield w
    w.stop()
    total = sum(c["all"] for c in COUNTS.values())
    parts = [f"{k}: {c['all']} (" + ", ".join(f"{o} {v}" for o, v in sorted(c.items()) if o != "all") + ")"
             for k, c in sorted(COUNTS.items())]
    line = f"fuzz: {total} cases run; {'; '.join(parts)}; worker restarts after a crash or hang: {w.restarts}"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None:
        print(line)
        return
    with capman.global_and_fixture_disabled():  # shown in a passing run too
        reporter.write_line("")
        reporter.write_line(line)


def _run(worker, kind, spec):
    counts = COUNTS.setdefault(kind, {})
    counts["all"] = counts.get("all", 0) + 1
    res = worker.run(kind, spec)
    assert res["ok"], res["why"]
    counts[res["outcome"]] = counts.get(res["outcome"], 0) + 1
    return res


def fuzz_settings(default):
    return settings(max_examples=EXAMPLES or default, deadline=None, database=None,
                    derandomize=not EXAMPLES, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# -- value / dtype / layout strategies ---------------------------------------------------------

DTYPES = ["float32", "float32", "float32", "float64", "float16", "int32", "int64", "uint8", "bool",
          "object", "str", "complex64"]
SPECIALS = [1e30, -1e30, 3.0e38, -3.0e38, 1e-45, -1e-45, 1e-40, 1e-38, 0.0, -0.0, 65504.0, 7e4, 2.0 ** 24 + 1]
LAYOUTS = ["C", "C", "F", "strided", "reversed", "readonly", "broadcast", "list"]


def _values(rng, kind, shape, V=None):
    if kind == "normal":
        return rng.normal(size=shape) * rng.choice([1e-3, 1.0, 30.0])
    if kind == "ints":
        return rng.integers(-5, 6, shape).astype(np.float64)
    if kind == "ids":
        return rng.integers(0, V or 4, shape).astype(np.float64)
    if kind == "ids_bad":
        v = rng.integers(0, V or 4, shape).astype(np.float64)
        if v.size:
            v.flat[rng.integers(v.size)] = rng.choice([-1.0, float(V or 4), 0.5, 1e9])
        return v
    if kind == "extreme":
        return rng.choice(SPECIALS, size=shape)
    if kind == "denormal":
        return rng.choice([1e-45, -1e-45, 1e-42, 1e-39, 0.0], size=shape)
    v = rng.normal(size=shape)
    if v.size:  # "nan" / "inf": one bad value somewhere
        v.flat[rng.integers(v.size)] = {"nan": np.nan, "inf": rng.choice([np.inf, -np.inf]), "f64big": 1e300}[kind]
    return v


def _as_dtype(v, dtype):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if dtype == "str":
            return v.astype(str)
        if dtype == "object":
            return v.astype(object)
        if dtype == "bool":
            return v != 0
        return v.astype(dtype)


def _layout(a, layout, rng):
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim > 1 else np.zeros(2 * len(a), a.dtype)
        if a.ndim > 1:
            big[..., ::2] = a
            return big[..., ::2]
        big[::2] = a
        return big[::2]
    if layout == "reversed" and a.ndim:
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
        return a
    if layout == "broadcast" and a.ndim and len(a):
        return np.broadcast_to(a[:1], a.shape)
    if layout == "list":
        return a.tolist()
    return a


@st.composite
def arrays_for(draw, sample_shape, n, V=None, allow_bad=True):
    """An input array for sample shape `sample_shape` with n rows, possibly of the wrong shape,
    dtype or values."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    shape = (n,) + tuple(sample_shape)
    if allow_bad and draw(st.integers(0, 9)) == 0:
        shape = draw(st.sampled_from([shape + (1,), shape[:-1] if len(shape) > 1 else (n, 1),
                                      shape[:-1] + (shape[-1] + 1,), (n,) + tuple(reversed(sample_shape))
                                      if len(sample_shape) > 1 else shape[:-1] + (shape[-1] + 2,)]))
    kinds = ["ids"] * 6 + ["ids_bad", "extreme", "nan"] if V else \
        ["normal"] * 5 + ["ints", "extreme", "denormal", "nan", "inf", "f64big"]
    kind = draw(st.sampled_from(kinds if allow_bad else (["ids"] if V else ["normal", "ints", "denormal"])))
    v = _values(rng, kind, shape, V)
    dtype = draw(st.sampled_from(DTYPES if allow_bad else ["float32", "float64", "int64" if V else "float16"]))
    if kind == "f64big" and dtype not in ("float64", "object", "str"):
        dtype = "float64"
    a = _as_dtype(v, dtype)
    return _layout(a, draw(st.sampled_from(LAYOUTS)), rng)


FAMILIES = {
    "mlp": st.fixed_dictionaries({"D": st.integers(1, 6), "C": st.integers(2, 4)}),
    "seq": st.fixed_dictionaries({"T": st.integers(1, 4), "D": st.integers(1, 3), "C": st.integers(2, 3),
                                  "rnn": st.sampled_from(["lstm", "gru"])}),
    "ids": st.fixed_dictionaries({"T": st.integers(1, 5), "V": st.integers(2, 12), "C": st.integers(2, 3),
                                  "mask_zero": st.booleans()}),
    "two": st.fixed_dictionaries({"D": st.integers(1, 4), "T": st.integers(1, 3), "D2": st.integers(1, 3),
                                  "C": st.integers(2, 3)}),
}


def _sample_shapes(family, d):
    if family == "mlp":
        return [(d["D"],)]
    if family == "seq":
        return [(d["T"], d["D"])]
    if family == "ids":
        return [(d["T"],)]
    return [(d["D"],), (d["T"], d["D2"])]


@st.composite
def input_cases(draw):
    family = draw(st.sampled_from(list(FAMILIES)))
    dims = draw(FAMILIES[family])
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 17, 33]))
    V = dims.get("V")
    xs = [draw(arrays_for(s, n, V)) for s in _sample_shapes(family, dims)]
    if family == "two":
        form = draw(st.sampled_from(["list", "list", "tuple", "dict", "dict_wrong", "short"]))
        x = {"list": xs, "tuple": tuple(xs), "dict": {"a": xs[0], "b": xs[1]},
             "dict_wrong": {"a": xs[0], "c": xs[1]}, "short": [xs[0]]}[form]
    else:
        x = xs[0] if draw(st.integers(0, 7)) else [xs[0], xs[0]]  # sometimes two arrays for one input
    y = np.random.default_rng(n).integers(0, dims["C"], max(n, 0))
    method = draw(st.sampled_from(["fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
                                   "predict_on_batch", "call"]))
    return {"family": family, "dims": dims, "seed": draw(st.integers(0, 3)), "x": x, "y": y,
            "method": method, "batch_size": draw(st.sampled_from([1, 2, 7, 32]))}


@fuzz_settings(800)
@given(case=input_cases())
def test_fuzz_inputs(worker, case):
    """x of random dtype, layout, values and shape: works correctly or is refused cleanly."""
    _run(worker, "inputs", case)


LOSSES = ["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "mse"]


@st.composite
def target_cases(draw):
    family = draw(st.sampled_from(["mlp", "seq"]))
    dims = draw(FAMILIES[family])
    loss = draw(st.sampled_from(LOSSES))
    if loss == "binary_crossentropy" and draw(st.booleans()):
        dims = dict(dims, C=1)
    C = dims["C"]
    n = draw(st.sampled_from([1, 2, 5, 9]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.normal(size=(n,) + _sample_shapes(family, dims)[0]).astype(np.float32)
    # labels: valid ones, wrong ranges, wrong shapes, wrong dtypes
    label_kind = draw(st.sampled_from(["valid"] * 4 + ["range_hi", "range_lo", "fraction", "huge", "nan",
                                                        "onehot_for_sparse", "sparse_for_dense", "extra_axis",
                                                        "rows", "f64big"]))
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, C, n).astype(np.float64)
    elif loss == "mse":
        y = rng.normal(size=(n, C))
    else:
        y = np.eye(C)[rng.integers(0, C, n)] if C > 1 else rng.integers(0, 2, (n, 1)).astype(np.float64)
    if label_kind == "range_hi":
        y = y + C
    elif label_kind == "range_lo":
        y = y - 3
    elif label_kind == "fraction":
        y = y + 0.5
    elif label_kind == "huge":
        y = y * 0 + 1e30
    elif label_kind == "nan" and y.size:
        y.flat[rng.integers(y.size)] = np.nan
    elif label_kind == "onehot_for_sparse":
        y = np.eye(C)[rng.integers(0, C, n)]
    elif label_kind == "sparse_for_dense":
        y = rng.integers(0, C, n).astype(np.float64)
    elif label_kind == "extra_axis":
        y = y[..., None, None]
    elif label_kind == "rows":
        y = np.concatenate([y, y[:1]])
    elif label_kind == "f64big":
        y = y * 0 + 1e39
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "int8", "uint8", "bool", "float16",
                                  "object", "str", "complex64"]))
    if label_kind in ("f64big", "huge") and dtype not in ("object", "str", "complex64"):
        dtype = "float64"
    y = _layout(_as_dtype(y, dtype), draw(st.sampled_from(LAYOUTS)), rng)
    sw_kind = draw(st.sampled_from(["none"] * 4 + ["valid", "column", "short", "negative", "zeros", "str", "ints",
                                                   "nan", "none_values"]))
    sw = {"none": None, "valid": rng.random(n) + 0.1, "column": (rng.random(n) + 0.1)[:, None],
          "short": np.ones(max(0, n - 1)), "negative": -rng.random(n), "zeros": np.zeros(n),
          "str": np.array(["w"] * n), "ints": np.arange(n), "nan": np.full(n, np.nan),
          "none_values": np.array([None] * n)}[sw_kind]
    cw = None
    if loss != "mse" and draw(st.integers(0, 3)) == 0:
        cw = {c: float(w) for c, w in enumerate(rng.random(C if C > 1 else 2) + 0.5)}
    # negative sample weights make the loss unbounded below: allowed, but no finiteness promise
    moderate = label_kind not in ("huge", "f64big") and sw_kind != "negative"
    # class weights on labels that are no class ids: refusing them or mapping them (argmax of a shifted
    # one-hot row) are both fine
    grey = cw is not None and label_kind != "valid"
    return {"family": family, "dims": dims, "loss": loss, "seed": 0, "x": x, "y": y, "sample_weight": sw,
            "class_weight": cw, "method": draw(st.sampled_from(["fit", "evaluate", "train_on_batch",
                                                                "test_on_batch"])),
            "batch_size": draw(st.sampled_from([1, 3, 32])), "moderate": moderate, "grey": grey}


@fuzz_settings(600)
@given(case=target_cases())
def test_fuzz_targets(worker, case):
    """y, sample_weight and class_weight of random shape, dtype and range against each loss."""
    _run(worker, "targets", case)


# -- random architectures ----------------------------------------------------------------------

ACTS = [None, "relu", "tanh", "sigmoid", "linear", "softmax"]


@st.composite
def rnn_spec(draw):
    kw = {"units": draw(st.integers(1, 6)), "return_sequences": draw(st.booleans()),
          "go_backwards": draw(st.booleans()), "use_bias": draw(st.booleans()),
          "dropout": draw(st.sampled_from([0.0, 0.0, 0.3])),
          "recurrent_dropout": draw(st.sampled_from([0.0, 0.0, 0.25])),
          "activation": draw(st.sampled_from(["tanh", "tanh", "relu", "sigmoid"]))}
    kind = draw(st.sampled_from(["lstm", "gru"]))
    if kind == "lstm":
        kw["unit_forget_bias"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        kw["go_backwards"] = False
        return ("bidirectional", {"layer": (kind, kw),
                                  "merge_mode": draw(st.sampled_from(["concat", "sum", "ave", "mul"]))})
    return (kind, kw)


@st.composite
def stack(draw, rank):
    """Layer specs for an input of `rank` (2: features, 3: sequence); returns (specs, final rank)."""
    specs = []
    for _ in range(draw(st.integers(0, 3))):
        seq_only = ["rnn", "rnn", "flatten"] if rank == 3 else []
        kind = draw(st.sampled_from(["dense", "dropout", "activation"] + seq_only))
        if kind == "dense":
            specs.append(("dense", {"units": draw(st.integers(1, 9)), "activation": draw(st.sampled_from(ACTS)),
                                    "use_bias": draw(st.booleans()),
                                    "kernel_regularizer": draw(st.sampled_from([None, None, "l2", "l1"]))}))
        elif kind == "dropout":
            specs.append(("dropout", {"rate": draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))}))
        elif kind == "activation":
            specs.append(("activation", {"activation": draw(st.sampled_from(["relu", "tanh", "sigmoid", "softmax"]))}))
        elif kind == "flatten":
            specs.append(("flatten", {}))
            rank = 2
        else:
            spec = draw(rnn_spec())
            specs.append(spec)
            inner = spec[1]["layer"][1] if spec[0] == "bidirectional" else spec[1]
            rank = 3 if inner["return_sequences"] else 2
    return specs, rank


@st.composite
def architecture_cases(draw):
    in_kind = draw(st.sampled_from(["dense", "seq", "ids"]))
    api = draw(st.sampled_from(["sequential", "functional", "functional"]))
    T, D, V = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(2, 10))
    first, rank = [], 2
    if in_kind == "dense":
        inputs = [(D,)]
    elif in_kind == "seq":
        inputs, rank = [(T, D)], 3
    else:
        inputs, rank = [(T,)], 3
        first = [("embedding", {"input_dim": V, "output_dim": draw(st.integers(1, 4)),
                                "mask_zero": draw(st.booleans())})]
    specs, r0 = draw(stack(rank))
    branches, ranks = [first + specs], [r0]
    merge = draw(st.sampled_from(["concat", "add", "average", "multiply"]))
    if api == "functional" and draw(st.booleans()):  # two branches, merged
        if in_kind == "dense" and draw(st.booleans()):  # ... from a second input
            inputs.append((draw(st.integers(1, 4)),))
            other, r1 = draw(stack(2))
            branches.append(other)
        else:  # ... from the same input (each with its own Embedding)
            other, r1 = draw(stack(rank))
            branches.append(first + other)
        ranks.append(r1)
        if len(set(ranks)) > 1:  # the merge needs one rank: flatten the sequences
            for b, r in zip(branches, ranks):
                if r == 3:
                    b.append(("flatten", {}))
            ranks = [2, 2]
        if merge != "concat":  # Add / Average / Multiply need equal shapes: end both in Dense(k)
            k = draw(st.integers(1, 5))
            for b in branches:
                b.append(("dense", {"units": k}))
    final_rank = ranks[0]
    loss = draw(st.sampled_from(["mse", "mae", "huber", "sparse_categorical_crossentropy",
                                 "categorical_crossentropy", "binary_crossentropy", "scce_logits"]))
    C = draw(st.integers(1, 4)) if loss in ("mse", "mae", "huber", "binary_crossentropy") else draw(st.integers(2, 4))
    head_act = {"sparse_categorical_crossentropy": "softmax", "categorical_crossentropy": "softmax",
                "binary_crossentropy": "sigmoid", "scce_logits": None}.get(
                    loss, draw(st.sampled_from([None, "tanh", "relu"])))
    metrics = {"sparse_categorical_crossentropy": ["accuracy"], "categorical_crossentropy": ["accuracy"],
               "binary_crossentropy": ["accuracy"], "scce_logits": []}.get(loss, ["mae"])
    loss_spec = ("sparse_categorical_crossentropy", True) if loss == "scce_logits" else (loss, False)
    opt = draw(st.sampled_from(["sgd", "adam", "rmsprop", "adamw"]))
    clip = 1.0 if opt == "sgd" else draw(st.sampled_from([None, 1.0]))  # bounded steps: finite weights
    seed = draw(st.integers(0, 2 ** 16))
    recipe = {"seed": seed, "api": api, "inputs": inputs, "branches": branches, "merge": merge,
              "head": ("dense", {"units": C, "activation": head_act}), "loss": loss_spec, "metrics": metrics,
              "optimizer": (opt, draw(st.sampled_from([1e-3, 1e-2, 5e-2])), clip)}
    # valid, moderate data
    n = draw(st.integers(1, 12))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1e-2, 1.0, 10.0]))
    xs = []
    for i, shape in enumerate(inputs):
        if in_kind == "ids" and i == 0:
            xs.append(rng.integers(0, V, (n,) + shape).astype(draw(st.sampled_from([np.int64, np.float32]))))
        else:
            xs.append((rng.normal(size=(n,) + shape) * scale).astype(draw(st.sampled_from([np.float32, np.float64]))))
    x = xs if len(xs) > 1 else xs[0]
    per_step = (T,) if final_rank == 3 else ()
    if loss_spec[0] == "sparse_categorical_crossentropy":
        y = rng.integers(0, C, (n,) + per_step)
    elif loss == "categorical_crossentropy":
        y = np.eye(C, dtype=np.float32)[rng.integers(0, C, (n,) + per_step)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n,) + per_step + (C,)).astype(np.float32)
    else:
        y = rng.normal(size=(n,) + per_step + (C,)).astype(np.float32)
    sw = (rng.random(n) + 0.5).astype(np.float32) if draw(st.integers(0, 3)) == 0 else None
    ops = []
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["fit", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
                                   "predict_on_batch", "call", "save_load", "weights_roundtrip"]))
        ops.append((op, draw(st.integers(1, n + 2)), draw(st.integers(1, 2)), draw(st.booleans())))
    return {"recipe": recipe, "x": x, "y": y, "sample_weight": sw, "ops": ops, "replay": draw(st.booleans())}


@fuzz_settings(500)
@given(case=architecture_cases())
def test_fuzz_architectures(worker, case):
    """Random Dense / Dropout / Activation / LSTM / GRU / Bidirectional / Embedding / merge graphs
    with valid data through random sequences of fit, evaluate, predict, train_on_batch,
    predict_on_batch, model(x), save + load and get/set_weights."""
    _run(worker, "architecture", case)


# -- layer arguments ---------------------------------------------------------------------------

ODD = [None, True, -1, 0, "3", 2.5, float("nan"), float("inf"), [], {}, np.int64(3), np.float32(0.5)]
ARG_POOLS = {
    "units": [1, 3, 17] + ODD,
    "rate": [0.0, 0.5, 0.99, 1.0, -0.1, 1e-9] + ODD,
    "activation": ["relu", "tanh", "sigmoid", "softmax", "linear", "nope", "", "RELU", 3, None],
    "recurrent_activation": ["sigmoid", "tanh", "relu", "softmax", "nope", None],
    "use_bias": [True, False, 0, 1, "yes", None],
    "dropout": [0.0, 0.3, 1.0, -0.5, float("nan"), "0.1", None],
    "recurrent_dropout": [0.0, 0.3, 1.0, -0.5, float("nan"), None],
    "return_sequences": [True, False, 1, "no", None],
    "return_state": [True, False],
    "go_backwards": [True, False, None],
    "input_dim": [1, 5, 0, -2, 2.0, True, 2 ** 24 + 1, "5", None],
    "output_dim": [1, 4, 0, -1, 3.5, None],
    "mask_zero": [True, False, None, "x"],
    "kernel_initializer": ["glorot_uniform", "zeros", "ones", "he_normal", "orthogonal", "nope", 3, None],
    "kernel_regularizer": [None, "l1", "l2", "l1_l2", "nope", 0.1],
    "name": ["x", "", "a b", "layer/1", "../../x", "ünï", None, 5],
    "axis": [-1, 1, 2, 0, -2, None, "x"],
    "target_shape": [(2, 2), (4,), (-1,), (-1, 2), (3, 3), (), (0,)],
    "merge_mode": ["concat", "sum", "ave", "mul", None, "max"],
}
LAYER_ARGS = {
    "Dense": ["units", "activation", "use_bias", "kernel_initializer", "kernel_regularizer", "name"],
    "Dropout": ["rate", "name"],
    "Activation": ["activation", "name"],
    "LSTM": ["units", "activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout",
             "return_sequences", "return_state", "go_backwards", "kernel_initializer", "kernel_regularizer"],
    "GRU": ["units", "activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout",
            "return_sequences", "return_state", "go_backwards", "kernel_initializer"],
    "Embedding": ["input_dim", "output_dim", "mask_zero", "name"],
    "Reshape": ["target_shape", "name"],
    "Flatten": ["name"],
}
REQUIRED = {"Dense": ["units"], "Dropout": ["rate"], "Activation": ["activation"], "LSTM": ["units"],
            "GRU": ["units"], "Embedding": ["input_dim", "output_dim"], "Reshape": ["target_shape"]}
IN_SHAPES = {"Dense": (4,), "Dropout": (4,), "Activation": (4,), "LSTM": (3, 2), "GRU": (3, 2),
             "Embedding": (3,), "Reshape": (4,), "Flatten": (2, 3)}


@st.composite
def layer_arg_cases(draw):
    cls = draw(st.sampled_from(sorted(LAYER_ARGS)))
    kwargs = {}
    for arg in LAYER_ARGS[cls]:
        if arg in REQUIRED.get(cls, []) or draw(st.booleans()):
            kwargs[arg] = draw(st.sampled_from(ARG_POOLS[arg]))
    if "name" in kwargs and kwargs["name"] in ("x",):
        kwargs["name"] = f"x{draw(st.integers(0, 10 ** 6))}"
    return {"cls": cls, "kwargs": kwargs, "in_shape": IN_SHAPES[cls]}


@fuzz_settings(500)
@given(case=layer_arg_cases())
def test_fuzz_layer_arguments(worker, case):
    """Random (often invalid) constructor arguments: refused cleanly, or the layer builds, trains,
    predicts and survives get_config / from_config."""
    _run(worker, "layer_args", case)


CALL_POOLS = {
    "batch_size": [None, 1, 3, 10 ** 9, 0, -1, 2.0, True, "8", np.int64(4)],
    "epochs": [1, 2, 0, -1, 1.5, "2", None],
    "validation_split": [0.0, 0.2, 0.5, 1.0, -0.1, float("nan"), 0.99, "0.1"],
    "validation_data_kind": [None, "arrays"],
    "validation_freq": [1, 2, 0, -1],
    "shuffle": [True, False, "batch", None],
    "initial_epoch": [0, 1, 5, -1],
    "steps_per_epoch": [None, 1, 2, 0, 100],
    "verbose": [0, 0, "auto", 2, "loud", None],
    "class_weight": [None, {0: 1.0, 1: 2.0, 2: 0.5}, {0: 1.0}, {"1": 2.0}, {5: 1.0}, {0: float("nan")}, {}],
    "callbacks": [None, [], "nope", [None], [object()]],
    "steps": [None, 1, 0, 3],
}
METHOD_ARGS = {"fit": ["batch_size", "epochs", "validation_split", "validation_data_kind", "validation_freq",
                       "shuffle", "initial_epoch", "steps_per_epoch", "verbose", "class_weight", "callbacks"],
               "evaluate": ["batch_size", "verbose", "steps", "callbacks"],
               "predict": ["batch_size", "verbose", "steps", "callbacks"]}


@st.composite
def call_arg_cases(draw):
    method = draw(st.sampled_from(sorted(METHOD_ARGS)))
    kwargs = {}
    for arg in METHOD_ARGS[method]:
        if draw(st.integers(0, 2)) == 0:
            kwargs[arg] = draw(st.sampled_from(CALL_POOLS[arg]))
    if kwargs.get("verbose") not in (0, None) and method != "fit":
        kwargs["verbose"] = 0  # keep progress bars out of the worker's stderr
    return {"method": method, "kwargs": kwargs, "seed": 0}


@fuzz_settings(500)
@given(case=call_arg_cases())
def test_fuzz_call_arguments(worker, case):
    """Random (often invalid) keyword arguments to fit / evaluate / predict."""
    _run(worker, "call_args", case)


# -- the harness itself --------------------------------------------------------------------------

def test_worker_turns_a_crash_and_a_hang_into_failures(worker):
    """The safety net works: a segfault in a case is an AssertionError here, not a dead run,
    and the next case gets a fresh worker."""
    with pytest.raises(AssertionError, match=r"interpreter died"):
        worker.run("selftest", "crash")
    with pytest.raises(AssertionError, match="hung"):
        worker.run("selftest", "hang", timeout=2)
    assert worker.run("selftest", "ok")["ok"]
    worker.restarts -= 2  # the two deliberate ones


# -- regressions: minimal reproductions of the bugs these fuzzers found (all fixed) ----------------

def test_training_batch_larger_than_before_after_a_larger_inference_batch():
    """Was a heap overflow (cpp/program.cpp ensure_capacity grew the activations for an inference batch
    but not the gradients): train_on_batch(2 rows), predict(4096 rows), train_on_batch(4096 rows)."""
    w = Worker()  # its own worker: a crash here is not counted as the fuzz run's
    try:
        res = w.run("repro", "capacity")
    finally:
        w.stop()
    assert res["ok"], res["why"]


def _small_model():
    import bigcore
    from bigcore import layers

    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(1)])
    m.compile("sgd", "mse")
    return m


@pytest.mark.parametrize("kw", [
    {"sample_weight": np.array([1.0, np.nan, 1.0, 1.0])}, {"sample_weight": np.array([1.0, np.inf, 1.0, 1.0])},
    {"sample_weight": np.array([None] * 4)}, {"sample_weight": np.ones(4, np.complex64)},
    {"class_weight": {0: float("nan"), 1: 1.0}}], ids=["nan", "inf", "None", "complex", "class_weight_nan"])
def test_non_finite_sample_and_class_weights_are_refused(kw):
    """Were accepted and turned every weight into NaN (complex ones lost their imaginary part)."""
    m = _small_model()
    x, y = np.ones((4, 3), np.float32), np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    with pytest.raises((ValueError, TypeError), match="weight"):
        m.fit(x, y, verbose=0, **kw)
    assert _finite_list(m.get_weights())


@pytest.mark.parametrize("x", [[], {}, None], ids=["empty_list", "empty_dict", "None"])
def test_test_on_batch_with_empty_or_missing_x(x):
    """Raised IndexError / StopIteration (with no message) / an unrelated TypeError."""
    with pytest.raises(ValueError, match=r"x is None|expects 1 input|[Mm]issing input"):
        _small_model().test_on_batch(x, np.zeros(0))


@pytest.mark.parametrize("label", [-3.0, 1e12, 1e30])
def test_class_weight_with_labels_that_are_not_class_ids(label):
    """Sized a lookup table by the largest label (1e12: a 4 TB request) or indexed it with a negative."""
    m = _small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError):
            m.fit(np.ones((4, 3), np.float32), np.full(4, label), class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_validation_freq_zero():
    """Raised ZeroDivisionError."""
    x, y = np.ones((4, 3), np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="validation_freq"):
        _small_model().fit(x, y, validation_data=(x, y), validation_freq=0, verbose=0)


@pytest.mark.parametrize("cbs", ["nope", [None], [object()]], ids=["str", "None", "object"])
def test_callbacks_that_are_not_callbacks(cbs):
    """Raised AttributeError: ... has no attribute 'set_model'."""
    with pytest.raises(TypeError, match="[Cc]allback"):
        _small_model().fit(np.ones((4, 3), np.float32), np.zeros(4, np.float32), callbacks=cbs, verbose=0)


def test_negative_initial_epoch():
    """Failed inside bigcore._core.permutation with pybind11's 'incompatible function arguments'."""
    with pytest.raises(ValueError, match="initial_epoch"):
        _small_model().fit(np.ones((4, 3), np.float32), np.zeros(4, np.float32), initial_epoch=-1, verbose=0)


def test_duplicate_layer_names_are_refused_or_round_trip(tmp_path):
    """Two layers named alike saved a file that load_model() could not rebuild (a lost checkpoint);
    Keras refuses such a model at construction."""
    import bigcore
    from bigcore import layers

    def build():
        inp = bigcore.Input((4,))
        return bigcore.Model(inp, layers.Dense(2, name="x")(layers.Dense(3, name="x")(inp)))

    try:
        model = build()
    except ValueError as e:
        assert "x" in str(e)
        return
    model.save(tmp_path / "m.bigcore")
    x = np.ones((2, 4), np.float32)
    loaded = bigcore.models.load_model(tmp_path / "m.bigcore")
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_non_string_layer_names_are_refused_or_round_trip(tmp_path):
    """Layer(name=5) saved a file whose random-stream table did not load ('5' != 5); Keras refuses
    non-string names."""
    import bigcore
    from bigcore import layers

    try:
        drop = layers.Dropout(0.5, name=5)
    except (ValueError, TypeError) as e:
        assert "name" in str(e)
        return
    inp = bigcore.Input((4,))
    model = bigcore.Model(inp, layers.Dense(2)(drop(inp)))
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.bigcore")
    x = np.ones((2, 4), np.float32)
    assert np.array_equal(bigcore.models.load_model(tmp_path / "m.bigcore").predict(x, verbose=0),
                          model.predict(x, verbose=0))
