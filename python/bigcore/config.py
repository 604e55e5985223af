"""Run-time settings: CPU paths, threads, device.

Determinism: the same seed gives bit-identical weights, losses and predictions whatever
`set_num_threads` says. Each GEMM is cut into tiles whose shape depends on the problem only, and
every reduction of ours sums in a fixed order. A prediction does not depend on the batch it is in:
the own GEMM sums each output in k order with one fused multiply-add per product. What changes
results: another CPU path (`set_cpu_isa`: the activation kernels differ by ISA), a CPU without FMA
(the BLAS then runs the GEMMs), or `BIGCORE_GEMM=blas` in the environment at import (OpenBLAS for
every GEMM, for benchmarks that compare the two; `own`, the default, is the project's kernel).
"""

import os
import warnings

from bigcore._native import _core

_device = "cpu"

_gemm = os.environ.get("BIGCORE_GEMM", "own")
if _gemm not in ("own", "blas"):
    raise ValueError(f"BIGCORE_GEMM: expected 'own' or 'blas', received {_gemm!r}")
_core.set_gemm_mode(_gemm)


def cpu_features():
    """What the CPU offers and which kernel paths run.

    {'features': CPU feature names, 'isa': the set_cpu_isa name in force, 'best_isa': the one in
    force at import (the highest this CPU runs), 'supported': the names this CPU runs,
    'paths': {'float': ..., 'int8': ..., 'sparse': ..., 'attention': ..., 'norm': ..., 'conv': ...} (what each
    kernel family runs),
    'blas': the BLAS build}.
    """
    return {
        "features": _core.cpu_features().split(),
        "isa": _core.isa(),
        "best_isa": _core.best_isa(),
        "supported": [n for n in _core.isa_names() if _core.isa_supported(n)],
        "paths": dict(sorted(_core.isa_paths())),
        "blas": _core.blas_info(),
    }


def set_cpu_isa(isa):
    """Forces the CPU path of every kernel family; raises ValueError if the CPU lacks it.

    Each name is a set of instructions; every family runs its best path that needs nothing
    beyond it, so each family's paths are all reachable by the path's own name:

        name          float    int8         sparse
        'ref'         ref      ref          ref        (portable C++)
        'avx2'        avx2     avx2         avx2       (AVX2 + FMA)
        'avxvnni'     avx2     avxvnni      avx2       (+ AVX-VNNI)
        'avx512'      avx512   avx2         avx512     (+ AVX-512 F/BW/DQ/VL)
        'avx512vnni'  avx512   avx512vnni   avx512     (+ AVX-512 VNNI)

    The attention, norm and conv families follow the float column.

    At import the highest name the CPU runs is in force (`cpu_features()['best_isa']`).
    """
    if not isinstance(isa, str):
        raise TypeError(f"set_cpu_isa expects a string, got {type(isa).__name__}")
    _core.set_isa(isa)


def set_num_threads(n):
    """Threads for bigcore's own loops and GEMM tiles (the BLAS itself runs one thread per tile).

    The default is $BIGCORE_NUM_THREADS, else $OMP_NUM_THREADS (its first entry), else one per CPU.
    A process forked after bigcore ran with several threads (multiprocessing's "fork" start method,
    data-loader workers) runs single-threaded, as PyTorch does: GNU OpenMP cannot start threads
    there; asking it for more raises RuntimeError."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    return _core.get_num_threads()


def _threads_from_environment():
    """The default thread count from $BIGCORE_NUM_THREADS, then $OMP_NUM_THREADS (the first entry
    of its per-level list, "4,2"), as numpy's and PyTorch's users expect; a value that is not a
    count in range is ignored with a warning naming it."""
    for var in ("BIGCORE_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var, "").strip()
        if not raw:
            continue
        first = raw.split(",")[0].strip()
        n = int(first) if first.isdigit() else 0
        if 1 <= n <= _core.max_threads():
            _core.set_num_threads(n)
            return
        warnings.warn(f"bigcore ignores {var}={raw!r}: expected a thread count from 1 to {_core.max_threads()}",
                      RuntimeWarning, stacklevel=2)


_threads_from_environment()


def _cuda_module():
    """bigcore._cuda, or None where bigcore was built without CUDA (imported on first use: it
    starts the CUDA runtime)."""
    try:
        from bigcore import _cuda  # noqa: PLC0415  (optional: built only with CUDA)
    except ImportError:
        return None
    return _cuda


def cuda_available():
    """True when the CUDA module was built and sees a GPU."""
    cuda = _cuda_module()
    return cuda is not None and cuda.device_count() > 0


def list_devices():
    devices = ["cpu"]
    if cuda_available():
        devices += [f"cuda:{i}" for i in range(_cuda_module().device_count())]
    return devices


def set_device(device):
    """'cpu' or 'cuda'; models compiled afterwards run there."""
    global _device
    if device not in ("cpu", "cuda"):
        raise ValueError(f"set_device expects 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not cuda_available():
        raise RuntimeError("set_device('cuda'): no CUDA backend (built without nvcc, or no GPU visible)")
    _device = device


def get_device():
    return _device


# --- Keras's keras.config switches ------------------------------------------------------------
# Keras scripts call these; where a switch means nothing here (bigcore does not rewrite
# tracebacks, computes in float32 and has one image layout) it keeps its value and changes nothing
# else, so a script that sets and reads it back still works.

_switches = {"traceback_filtering": True, "interactive_logging": True, "unsafe_deserialization": False}
_FLOATX = "float32"
_epsilon = 1e-7


def enable_traceback_filtering():
    """Keras trims its own frames from tracebacks; bigcore never does (a no-op kept for scripts)."""
    _switches["traceback_filtering"] = True


def disable_traceback_filtering():
    """A no-op kept for Keras scripts: bigcore's tracebacks are never filtered."""
    _switches["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    return _switches["traceback_filtering"]


def enable_interactive_logging():
    """Progress bars and messages go to stdout (the default)."""
    _switches["interactive_logging"] = True


def disable_interactive_logging():
    """Progress bars and messages go to the `logging` module's "bigcore" logger (at INFO) instead of
    stdout, with no in-place redraws, as Keras sends them to absl logging."""
    _switches["interactive_logging"] = False


def is_interactive_logging_enabled():
    return _switches["interactive_logging"]


# Keras's flash attention switch: enable sets None ("attempt it where the inputs allow"), disable
# sets False, and attention layers read it. bigcore's attention always runs its own native kernels
# (fused, with a tiled online-softmax path it picks by shape); the switch is kept with Keras's values
# for scripts that set and read it, and selects nothing.
_flash_attention = [None]


def enable_flash_attention():
    """Keras: attention layers may use flash attention (the default). bigcore's attention kernels
    are chosen by shape either way; this records the setting."""
    _flash_attention[0] = None


def disable_flash_attention():
    """Keras: attention layers do not use flash attention. Recorded; bigcore's kernels are unchanged."""
    _flash_attention[0] = False


def is_flash_attention_enabled():
    """Keras's values: None when enabled (an attempt, the default), False when disabled."""
    return _flash_attention[0]


def _int_from_environment(name):
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, received {value!r}") from None


# Keras's debugging caps on fit's epochs and on the steps of every epoch (fit, evaluate, predict):
# set_max_epochs / set_max_steps_per_epoch, or KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH at import.
_limits = {"epochs": _int_from_environment("KERAS_MAX_EPOCHS"),
           "steps_per_epoch": _int_from_environment("KERAS_MAX_STEPS_PER_EPOCH")}


def _set_limit(key, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"set_max_{key}: expected a positive integer or None, received {value!r}")
    _limits[key] = value


def set_max_epochs(max_epochs):
    """Caps the epochs of every fit() (None: no cap), for quick debugging runs (Keras's)."""
    _set_limit("epochs", max_epochs)


def max_epochs():
    return _limits["epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Caps the steps of every epoch of fit, evaluate and predict (None: no cap), as Keras's."""
    _set_limit("steps_per_epoch", max_steps_per_epoch)


def max_steps_per_epoch():
    return _limits["steps_per_epoch"]


def enable_unsafe_deserialization():
    """A no-op kept for Keras scripts: bigcore never deserializes code (no lambdas, no pickle), so
    there is nothing unsafe to allow."""
    _switches["unsafe_deserialization"] = True


def backend():
    """The name of the backend: "bigcore" (Keras answers "tensorflow", "jax", "torch"...)."""
    return "bigcore"


def floatx():
    return _FLOATX


def set_floatx(value):
    """Only "float32" is accepted: bigcore computes in float32 (int8 through quantization)."""
    if value != _FLOATX:
        raise ValueError(f"bigcore computes in float32 only. Received: floatx={value!r}")


def epsilon():
    """The fuzz factor Keras adds in divisions; bigcore's losses and metrics use 1e-7 natively, so
    set_epsilon accepts only that value."""
    return _epsilon


def set_epsilon(value):
    if value != _epsilon:
        raise ValueError(f"bigcore's native losses and metrics use epsilon=1e-7. Received: epsilon={value!r}")


def image_data_format():
    return "channels_last"


def set_image_data_format(data_format):
    if data_format != "channels_last":
        raise ValueError(f"bigcore lays images out channels_last only. Received: data_format={data_format!r}")


def dtype_policy():
    return _FLOATX


def set_dtype_policy(policy):
    name = getattr(policy, "name", policy)
    if name != _FLOATX:
        raise ValueError(f"bigcore computes in float32 only (use bigcore.quantization for int8). "
                         f"Received: policy={name!r}")
