"""Keras 3's activations: their names and native ids (cpp/core/common.h: enum Act), get /
serialize / deserialize, and the functions themselves on NumPy arrays (keras.activations).

A layer's `activation` is a name (its native kind, fused into the layer's op) or a function of
the user's own (written with bigcore.ops; the layer lowers it as its linear op followed by the
traced function, where the layer supports that). A native kind is the Keras function with its
default arguments: "leaky_relu" has slope 0.2, "elu" and "celu" alpha 1.
"""

import types

import numpy as np

from bigcore._native import _core

# "gelu" is Keras's exact GELU (erf); "gelu_approximate" is bigcore's name for the tanh form
# (keras.activations.gelu(x, approximate=True)).
_IDS = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "softmax": 4, "gelu": 5, "gelu_approximate": 6,
        "silu": 7, "elu": 8, "selu": 9, "softplus": 10, "softsign": 11, "exponential": 12, "hard_sigmoid": 13,
        "hard_silu": 14, "leaky_relu": 15, "relu6": 16, "mish": 17, "log_sigmoid": 18, "celu": 19,
        "log_softmax": 20, "hard_tanh": 21, "tanh_shrink": 22, "squareplus": 23, "soft_shrink": 24,
        "hard_shrink": 25, "sparse_plus": 26}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
# The kinds a recurrent cell takes: elementwise, with a gradient its output gives
# (kernels/float/rnn.h differentiates the gates through their values).
RECURRENT = ("linear", "relu", "sigmoid", "tanh", "hard_sigmoid", "relu6", "leaky_relu", "hard_tanh",
             "soft_shrink", "hard_shrink", "exponential")
# Keras activations bigcore has no native kind for: named in the refusal.
_NOT_NATIVE = {"threshold": "it takes `threshold` and `default_value`, which an activation string cannot give"}
# Keras activations a layer applies as its traced function (bigcore.ops), not a native kind: get()
# gives the function itself, serialize() its name, as Keras writes a built-in.
_TRACED = ("glu", "sparsemax", "sparse_sigmoid")

# Found by registered name when a config names a function of the user's own; bigcore.layers.registry
# installs its lookup (this module sits below it).
_object_lookup = None


def set_object_lookup(fn):
    global _object_lookup
    _object_lookup = fn


def _supported():
    return ", ".join(sorted(set(_IDS) | set(_ALIASES)))


def _canonical(name, shown):
    name = _ALIASES.get(name, name)
    if name in _IDS:
        return name
    why = _NOT_NATIVE.get(name)
    if why is not None:
        raise ValueError(f"Activation {shown!r} is not supported as a layer activation: {why}. "
                         f"Supported: {_supported()}; or pass a function of your own written with bigcore.ops")
    raise ValueError(f"Unknown activation: {shown!r}. Supported: {_supported()}")


def _builtin_name(fn):
    """The name of a built-in activation function (ours, or keras.activations'), else None."""
    name = getattr(fn, "__name__", None)
    if name is None:
        return None
    module = getattr(fn, "__module__", None) or ""
    # ours, or keras.activations' (keras.ops' have other defaults: ops.gelu is the tanh form)
    if _FUNCTIONS.get(name) is fn or fn is threshold or module.startswith("keras.src.activations") \
            or module == "keras.activations":
        if name in _TRACED:
            return name
        return _canonical(name, name) if name in _IDS or name in _ALIASES or name in _NOT_NATIVE else None
    return None


def is_custom(act):
    """Whether a layer's activation (get()'s answer) is a function of the user's own."""
    return callable(act) and not isinstance(act, str)


def get(identifier):
    """A layer's activation: the canonical name of a built-in (from its name, Keras's name, its
    serialized form or the function itself; None is "linear"), or a function of the user's own."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        if identifier in _TRACED:
            return _FUNCTIONS[identifier]
        return _canonical(identifier, identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        name = _builtin_name(identifier)
        if name in _TRACED:
            return _FUNCTIONS[name]
        return name if name is not None else identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}. "
                     f"Supported: {_supported()}, or a function")


def get_function(name):
    """The keras.activations function of a built-in's canonical name (on arrays or, inside a
    traced call, on tensors)."""
    return _FUNCTIONS[name]


def serialize(activation):
    """A built-in's name, or Keras's form of a function of the user's own (by its registered name:
    bigcore never stores code)."""
    act = get(activation)
    if not is_custom(act):
        return act
    name = getattr(act, "__name__", None)
    if name in _TRACED and _FUNCTIONS[name] is act:
        return name
    registered = act.__dict__.get("_registered_name") if hasattr(act, "__dict__") else None
    if registered is None and (name is None or name == "<lambda>" or not isinstance(act, types.FunctionType)):
        raise ValueError(f"The activation {act!r} has no name a config can hold: a config (a saved file, "
                         "clone_model, quantize) keeps a function by its registered name, never as Python bytecode. "
                         "Use a named function registered with @bigcore.saving.register_keras_serializable()")
    # Keras 3's form of a function (serialization_lib): "config" is its registered name, else its own
    return {"module": "builtins", "class_name": "function", "config": registered or name, "registered_name": "function"}


def deserialize(config, custom_objects=None):
    """serialize's answer (or Keras's) back to get()'s: a built-in name or the user's function,
    found in custom_objects or among the registered functions."""
    if isinstance(config, str):
        if config in _IDS or config in _ALIASES or config in _NOT_NATIVE or config in _TRACED:
            return get(config)
        fn = _find(config, custom_objects)
        if fn is None:
            return _canonical(config, config)  # the refusal that names the supported ones
        return get(fn)
    if not isinstance(config, dict) or config.get("class_name") not in ("function", "__lambda__"):
        raise ValueError(f"Could not interpret activation config: {config!r}")
    if config["class_name"] == "__lambda__":
        raise ValueError("This activation is stored as Python bytecode (a Keras lambda); bigcore never runs code "
                         "from a file. Define the function, register it with "
                         "@bigcore.saving.register_keras_serializable() and save the model again")
    names = [config.get("config"), config.get("registered_name")]
    for name in names:
        fn = _find(name, custom_objects) if isinstance(name, str) else None
        if fn is not None:
            return get(fn)
    name = config.get("config")
    if isinstance(name, str) and (name in _IDS or name in _ALIASES or name in _TRACED):
        return get(name)
    raise ValueError(f"Unknown activation function {name!r}: register it with "
                     "@bigcore.saving.register_keras_serializable() or give it in custom_objects")


def _find(name, custom_objects):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _object_lookup(name) if _object_lookup is not None else None


def native_id(act):
    """The native kind of a layer's activation; a function of the user's own has none."""
    act = get(act)
    if is_custom(act):
        raise ValueError(f"the activation {getattr(act, '__name__', act)!r} is a function of your own, which has no "
                         f"native kind; here only a built-in one is taken: {_supported()}")
    return _IDS[act]


# --------------------------------------------------------------------------- on arrays


def _array(x, fn):
    if hasattr(x, "_dims") or type(x).__name__ == "KerasTensor":
        raise TypeError(f"bigcore.activations.{fn} computes on arrays; inside a model (a function passed as "
                        f"activation, a custom layer's call) use bigcore.ops.{fn if fn in _OPS_NAMES else '<op>'}"
                        "(x) and the other bigcore.ops functions")
    return np.asarray(x, dtype=np.float32)


# the names bigcore.ops has too (for the message above)
_OPS_NAMES = {"relu", "relu6", "sigmoid", "tanh", "softplus", "softsign", "silu", "swish", "selu", "hard_sigmoid",
              "hard_silu", "hard_swish", "log_sigmoid", "gelu", "elu", "leaky_relu", "softmax", "log_softmax"}


def _run(name, x, fn=None):
    """The native kernel of `name` on x (float32), over x's last axis for the row-wise ones."""
    x = _array(x, fn or name)
    y = np.array(x.reshape(-1, x.shape[-1] if x.ndim else 1), order="C")
    if y.size:
        _core.bias_act_forward(y, None, _IDS[name])
    return y.reshape(x.shape)


def _make(name, doc):
    def fn(x):
        return _run(name, x)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"{doc} (Keras 3's definition; native kernel, float32 arrays)."
    return fn


linear = _make("linear", "x")
sigmoid = _make("sigmoid", "1 / (1 + exp(-x))")
tanh = _make("tanh", "Hyperbolic tangent")
silu = _make("silu", "x * sigmoid(x)")
selu = _make("selu", "scale * elu(x, alpha) with alpha = 1.67326324, scale = 1.05070098")
softplus = _make("softplus", "log(exp(x) + 1)")
softsign = _make("softsign", "x / (|x| + 1)")
exponential = _make("exponential", "exp(x)")
hard_sigmoid = _make("hard_sigmoid", "relu6(x + 3) / 6")
hard_silu = _make("hard_silu", "x * relu6(x + 3) / 6")
relu6 = _make("relu6", "min(max(x, 0), 6)")
mish = _make("mish", "x * tanh(softplus(x))")
log_sigmoid = _make("log_sigmoid", "log(sigmoid(x))")
hard_tanh = _make("hard_tanh", "clip(x, -1, 1)")
tanh_shrink = _make("tanh_shrink", "x - tanh(x)")
sparse_plus = _make("sparse_plus", "0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1")
gelu_approximate = _make("gelu_approximate", "GELU's tanh approximation")
swish = silu
hard_swish = hard_silu


def gelu(x, approximate=False):
    """x * Phi(x) exactly (erf), or its tanh approximation (native kernels, float32 arrays)."""
    return _run("gelu_approximate" if approximate else "gelu", x, "gelu")


def _along(name, x, axis):
    """A row-wise kernel along `axis`: moved last, run, moved back."""
    x = _array(x, name)
    if x.ndim == 0:
        return _run(name, x)
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(_run(name, moved), -1, axis)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis (native kernel, float32 arrays)."""
    return _along("softmax", x, axis)


def log_softmax(x, axis=-1):
    """x - log(sum(exp(x))) along axis (native kernel, float32 arrays)."""
    return _along("log_softmax", x, axis)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's relu: max(x, 0), or with its arguments x for threshold < x (<= max_value), and
    negative_slope * (x - threshold) below the threshold."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _run("relu", x)
    x = _array(x, "relu")
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return leaky_relu(x, negative_slope)
    y = np.where(x > np.float32(threshold), x, np.float32(0)) if threshold != 0 else np.maximum(x, np.float32(0))
    if max_value is not None:  # Keras clips to [0, max_value]: a negative threshold's values below 0 too
        y = np.clip(y, np.float32(0), np.float32(max_value))
    if negative_slope != 0.0:
        y = y - np.float32(negative_slope) * np.maximum(np.float32(threshold) - x, np.float32(0))
    return y.astype(np.float32)


def leaky_relu(x, negative_slope=0.2):
    """x for x > 0, negative_slope * x below."""
    if negative_slope == 0.2:
        return _run("leaky_relu", x)
    x = _array(x, "leaky_relu")
    return np.where(x > 0, x, x * np.float32(negative_slope)).astype(np.float32)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) below."""
    y = _run("elu", x)
    if alpha == 1.0:
        return y
    return np.where(y > 0, y, y * np.float32(alpha)).astype(np.float32)


def celu(x, alpha=1.0):
    """x for x >= 0, alpha * (exp(x / alpha) - 1) below."""
    if alpha == 1.0:
        return _run("celu", x)
    x = _array(x, "celu")
    a = np.float32(alpha)
    return np.where(x > 0, x, a * _run("elu", np.minimum(x, np.float32(0)) / a)).astype(np.float32)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    if b == 4:
        return _run("squareplus", x)
    x = _array(x, "squareplus")
    return ((x + np.sqrt(x * x + np.float32(b))) / np.float32(2)).astype(np.float32)


def soft_shrink(x, threshold=0.5):
    """x - threshold above it, x + threshold below -threshold, 0 between."""
    if threshold == 0.5:
        return _run("soft_shrink", x)
    x = _array(x, "soft_shrink")
    t = np.float32(threshold)
    return np.where(x > t, x - t, np.where(x < -t, x + t, np.float32(0))).astype(np.float32)


def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    if threshold == 0.5:
        return _run("hard_shrink", x)
    x = _array(x, "hard_shrink")
    return np.where(np.abs(x) > np.float32(threshold), x, np.float32(0)).astype(np.float32)


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value (Keras's; no native kind: it needs its arguments)."""
    x = _array(x, "threshold")
    return np.where(x > np.float32(threshold), x, np.float32(default_value)).astype(np.float32)


def _sigmoid_np(x):
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the halves of x along axis (Keras's; the axis must have an even length)."""
    x = _array(x, "glu")
    n = x.shape[axis] if x.ndim else 1
    if n % 2:
        raise ValueError(f"axis size must be divisible by 2. Received: inputs.shape={x.shape} with axis={axis}")
    a, b = np.split(x, 2, axis=axis)
    return (a * _sigmoid_np(b)).astype(np.float32)


def sparse_sigmoid(x):
    """0 for x <= -1, (x + 1) / 2 for -1 < x < 1, 1 for x >= 1 (Keras's)."""
    x = _array(x, "sparse_sigmoid")
    return np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1))).astype(np.float32)


def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the probability simplex along axis (Keras's): relu(x - tau),
    tau from the sorted values' running sums."""
    x = _array(x, "sparsemax")
    z = np.moveaxis(x.astype(np.float64), axis, -1)
    srt = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=np.float64)
    cum = np.cumsum(srt, axis=-1)
    support = 1.0 + k * srt > cum
    kz = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cum, kz.astype(np.int64) - 1, axis=-1) - 1.0) / kz
    return np.moveaxis(np.maximum(z - tau, 0.0), -1, axis).astype(np.float32)


# name -> the public function (get() recognizes them by identity)
_FUNCTIONS = {f.__name__: f for f in (linear, relu, sigmoid, tanh, softmax, gelu, gelu_approximate, silu, elu, selu,
                                      softplus, softsign, exponential, hard_sigmoid, hard_silu, leaky_relu, relu6,
                                      mish, log_sigmoid, celu, log_softmax, hard_tanh, tanh_shrink, squareplus,
                                      soft_shrink, hard_shrink, sparse_plus, glu, sparse_sigmoid, sparsemax)}
_FUNCTIONS["swish"], _FUNCTIONS["hard_swish"] = silu, hard_silu

# keras.activations.relu(x) on a symbolic tensor (inside a custom layer's call()) is recorded as
# bigcore.ops (which sits above this module and installs the runner: runner(name, x, args, kwargs)).
_symbolic_runner = None


def set_symbolic_runner(fn):
    global _symbolic_runner
    _symbolic_runner = fn


def _on_tensors(fn, name):
    """fn, or the runner's ops where x is symbolic (a KerasTensor has `_dims`)."""
    def on_tensors(x, *args, **kwargs):
        if _symbolic_runner is not None and hasattr(x, "_dims"):
            return _symbolic_runner(name, x, args, kwargs)
        return fn(x, *args, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(on_tensors, attr, getattr(fn, attr))
    return on_tensors


for _name, _fn in list(_FUNCTIONS.items()):  # the module's names and get()'s table stay one object each
    if _name not in ("swish", "hard_swish"):
        _FUNCTIONS[_name] = globals()[_name] = _on_tensors(_fn, _name)
_FUNCTIONS["swish"] = swish = silu = _FUNCTIONS["silu"]
_FUNCTIONS["hard_swish"] = hard_swish = hard_silu = _FUNCTIONS["hard_silu"]
threshold = _on_tensors(threshold, "threshold")
