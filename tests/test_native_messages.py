"""Native failures that say what went wrong: a thread count out of range or of the wrong type, and
memory that cannot be allocated (weights, a batch's activations, the parameter arena) raise a
Python exception naming the argument or the layer and the bytes, never pybind11's argument dump
or a bare std::bad_alloc, and never a crash: the model keeps working with a smaller batch.

The out-of-memory cases run in a child process under a limit on its address space (RLIMIT_AS; under
AddressSanitizer, its max_allocation_size instead), so they fail the same way on any machine.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bigcore
from bigcore import layers
from bigcore._native import _core

SANITIZED = os.environ.get("BIGCORE_SANITIZED", "") not in ("", "0")
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(bigcore.__file__)))


@pytest.mark.parametrize("n", [2 ** 31, 2 ** 64, -2 ** 63, 10 ** 6])
@pytest.mark.parametrize("where", ["config", "core"])
def test_set_num_threads_out_of_range_says_the_range_and_the_value(restore_threads, n, where):
    fn = bigcore.config.set_num_threads if where == "config" else _core.set_num_threads
    with pytest.raises(ValueError) as e:
        fn(n)
    msg = str(e.value)
    assert str(n) in msg and "n >= 1" in msg and f"n <= {_core.max_threads()}" in msg, msg
    assert "incompatible function arguments" not in msg
    assert bigcore.config.get_num_threads() == restore_threads


@pytest.mark.parametrize("n", ["2", 2.0, None, True, [2]], ids=["str", "float", "None", "bool", "list"])
def test_native_set_num_threads_names_the_wrong_type(restore_threads, n):
    with pytest.raises(TypeError) as e:
        _core.set_num_threads(n)
    msg = str(e.value)
    assert "expects an int" in msg and repr(n) in msg and type(n).__name__ in msg, msg
    assert "incompatible function arguments" not in msg
    assert bigcore.config.get_num_threads() == restore_threads


@pytest.mark.parametrize("make, name, shape", [
    (lambda: layers.Embedding(2 ** 24, 10 ** 7, name="huge_table"), "huge_table", (2 ** 24, 10 ** 7)),
    (lambda: layers.Dense(10 ** 7, name="huge_dense"), "huge_dense", (10 ** 7, 10 ** 7)),
], ids=["embedding", "dense"])
def test_a_weight_that_cannot_be_allocated_names_its_layer_and_bytes(make, name, shape):
    layer = make()
    with pytest.raises(MemoryError) as e:
        bigcore.Sequential([bigcore.Input((shape[0],) if name == "huge_dense" else (3,)), layer])
    msg = str(e.value)
    assert f"Layer {name!r}" in msg and str(shape) in msg and str(4 * shape[0] * shape[1]) in msg, msg


_OOM = """
    import json, os, resource, sys
    import numpy as np
    import bigcore
    from bigcore import layers

    def vm_bytes():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

    bigcore.utils.set_random_seed(0)
    model = bigcore.Sequential([layers.Dense(4096, activation="relu", input_shape=(16,), name="wide"),
                                layers.Dense(1, name="narrow")])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(50000, 16)).astype(np.float32)
    y = np.zeros((50000, 1), np.float32)
    model.fit(x[:64], y[:64], batch_size=64, verbose=0)     # threads and buffers exist before the limit
    model.predict(x[:64], verbose=0)
    if sys.argv[1] == "limit":
        room = vm_bytes() + (300 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (room, room))
    out = {}
    for what, call in (("predict", lambda: model.predict(x, batch_size=50000, verbose=0)),
                       ("fit", lambda: model.fit(x, y, batch_size=50000, verbose=0))):
        try:
            call()
            out[what] = "no error"
        except MemoryError as e:
            out[what] = str(e)
    w = model.get_weights()
    want = np.maximum(x[:2000] @ w[0] + w[1], 0) @ w[2] + w[3]
    out["small_batch_ok"] = bool(np.allclose(model.predict(x[:2000], batch_size=1000, verbose=0), want, atol=1e-4))
    model.fit(x[:2000], y[:2000], batch_size=500, verbose=0)
    out["fit_after_ok"] = all(bool(np.isfinite(v).all()) for v in model.get_weights())
    if sys.argv[1] == "limit":  # the parameter arena: a 40 MB weight fits, the arena (2 x 40 MB) beside it not
        room = vm_bytes() + (100 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (room, room))
        big = bigcore.Sequential([layers.Dense(10 ** 7, use_bias=False, kernel_initializer="zeros", input_shape=(1,),
                                               name="tall")])
        try:
            big.predict(np.zeros((1, 1), np.float32), verbose=0)
            out["arena"] = "no error"
        except MemoryError as e:
            out["arena"] = str(e)
    print(json.dumps(out))
"""


def test_a_batch_that_cannot_be_allocated_names_the_layer_and_bytes_and_the_model_goes_on():
    env = dict(os.environ, PYTHONPATH=PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONFAULTHANDLER="1")
    if SANITIZED:  # ASan reserves terabytes of shadow memory: cap single allocations instead
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1:max_allocation_size_mb=300"
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(_OOM), "asan" if SANITIZED else "limit"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, f"the child died (rc {r.returncode}):\n{r.stderr[-3000:]}"
    res = json.loads(r.stdout.strip().splitlines()[-1])
    wide = str(50000 * 4096 * 4)  # the first layer's output at batch 50000
    for what in ("predict", "fit"):
        msg = res[what]
        assert "layer 'wide' (Dense)" in msg and wide in msg and "batch_size" in msg, f"{what}: {msg}"
    assert "gradients" in res["fit"]
    assert res["small_batch_ok"] and res["fit_after_ok"], res
    if not SANITIZED:
        assert "parameter arena" in res["arena"] and str(2 * 10 ** 7 * 4) in res["arena"], res["arena"]
        assert "/tall/kernel'" in res["arena"], res["arena"]
