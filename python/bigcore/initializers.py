"""Keras's initializers, drawn from bigcore's counter-based RNG (same seed, same weights)."""

import math

import numpy as np

from bigcore import _random, _signal_windows
from bigcore._native import _core


class Initializer:
    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def _key(self):
        """(seed, stream): an explicit seed gives the same values each call, as in Keras."""
        if self.seed is not None:
            return int(self.seed), 0
        return _random.seed(), _random.next_stream()


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, np.float32)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, np.float32)


class Constant(Initializer):
    """Keras's Constant: value * ones(shape), so an array broadcasts to the weight's shape (a matrix of
    pretrained embeddings, Constant(embedding_matrix), fills the table)."""

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras's form of an array
            value = value.get("config", {}).get("value")
        v = np.asarray(value, dtype=np.float32)
        self.value = float(v) if v.ndim == 0 else v

    def __call__(self, shape, dtype="float32"):
        try:
            return np.array(np.broadcast_to(self.value, tuple(shape)), np.float32)
        except ValueError:
            raise ValueError(f"Constant: a value of shape {np.shape(self.value)} cannot fill a weight of shape "
                             f"{tuple(shape)}") from None

    def get_config(self):
        if isinstance(self.value, float):
            return {"value": self.value}
        # Keras 3's form of an array in a config (serialization_lib)
        return {"value": {"class_name": "__numpy__", "config": {"value": self.value.tolist(), "dtype": "float32"}}}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        out = np.empty(shape, np.float32)
        _core.fill_uniform(out, *self._key(), self.minval, self.maxval)
        return out

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    _truncated = False

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        out = np.empty(shape, np.float32)
        _core.fill_normal(out, *self._key(), self.mean, self.stddev, self._truncated)
        return out

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    _truncated = True


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(_Seeded):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid mode: {mode!r}; expected fan_in, fan_out or fan_avg")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"Invalid distribution: {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        out = np.empty(shape, np.float32)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            _core.fill_uniform(out, *self._key(), -limit, limit)
        else:
            truncated = self.distribution == "truncated_normal"
            # 0.8796...: stddev of a unit normal truncated at 2 sigma (Keras's constant)
            std = math.sqrt(var) / (0.87962566103423978 if truncated else 1.0)
            _core.fill_normal(out, *self._key(), 0.0, std, truncated)
        return out

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _variant(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _variant("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variant("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variant("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variant("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variant("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variant("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    """Keras's Orthogonal: Q of the QR of a normal matrix (native Householder QR)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        if len(shape) < 2:
            raise ValueError(f"The Orthogonal initializer needs a shape of rank >= 2, got {tuple(shape)}")
        out = np.empty((math.prod(shape[:-1]), shape[-1]), np.float32)
        _core.fill_orthogonal(out, *self._key(), self.gain)
        return out.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        return (self.gain * np.eye(*shape)).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain}


class STFT(Initializer):
    """Keras's STFT initializer: a (frame_length, channels, bins) kernel of the windowed DFT's real
    (cos) or imaginary (-sin) part, divided by the window's norm ("density") or sum ("spectrum"),
    as STFTSpectrogram's trainable kernels start."""

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            _signal_windows.check_name(window)
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. Received scaling={scaling}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype="float32"):
        frame_length, _, bins = shape
        n = 2 * (bins - 1)  # the fft length the bins come from
        # 2 pi (t f mod n) / n: the reduction keeps t * f exact before the float multiply
        angles = 2 * np.pi * (np.outer(np.arange(frame_length), np.arange(bins)) % max(n, 1)) / max(n, 1)
        kernel = np.cos(angles) if self.side == "real" else -np.sin(angles)
        if self.window is not None:
            win = (_signal_windows.get_window(self.window, frame_length, self.periodic)
                   if isinstance(self.window, str) else np.asarray(self.window, np.float64))
            if win.ndim != 1 or win.shape[0] != frame_length:
                raise ValueError(f"The shape of `window` must be equal to [frame_length].Received: window shape="
                                 f"{win.shape}")
            scale = {"density": np.sqrt(np.sum(win ** 2)), "spectrum": np.sum(np.abs(win)), None: 1.0}[self.scaling]
            kernel = kernel * win[:, None] / scale
        return np.broadcast_to(kernel[:, None, :], tuple(shape)).astype(dtype or "float32")

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


_ALIASES = {
    "stft": STFT,
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity, "variance_scaling": VarianceScaling,
    "uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros, "one": Ones,  # Keras's short aliases
}
_BY_CLASS = {cls.__name__: cls for cls in _ALIASES.values()}


def get(identifier):
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        key = identifier if identifier in _ALIASES else identifier
        cls = _ALIASES.get(key) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown initializer: {identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer: {identifier!r}")


def serialize(init):
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(config):
    cls = _BY_CLASS.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown initializer: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


# Keras 3 exports each initializer class under its snake-case name too (keras.initializers.he_normal())
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, variance_scaling = LecunUniform, LecunNormal, VarianceScaling
orthogonal = OrthogonalInitializer = Orthogonal
identity = IdentityInitializer = Identity
stft = STFTInitializer = STFT
