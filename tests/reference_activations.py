"""Float64 references of every native activation, Keras 3's definitions with its default
parameters (keras/src/activations/activations.py; keras/src/backend/torch/nn.py), and the places
where each is not differentiable (finite differences keep away from them)."""

import numpy as np

import reference as ref

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(z):
    return np.logaddexp(0.0, z)


def _elu(z):
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))


def _log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


# name -> float64 function of a float64 array (the row-wise ones over the last axis)
FORWARD = {
    "elu": _elu,
    "selu": lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
    "softplus": _softplus,
    "softsign": lambda z: z / (1 + np.abs(z)),
    "exponential": np.exp,
    "hard_sigmoid": lambda z: np.clip(z + 3, 0, 6) / 6,
    "hard_silu": lambda z: z * np.clip(z + 3, 0, 6) / 6,
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "relu6": lambda z: np.clip(z, 0, 6),
    "mish": lambda z: z * np.tanh(_softplus(z)),
    "log_sigmoid": lambda z: -_softplus(-z),
    "celu": _elu,
    "log_softmax": _log_softmax,
    "hard_tanh": lambda z: np.clip(z, -1, 1),
    "tanh_shrink": lambda z: z - np.tanh(z),
    "squareplus": lambda z: (z + np.sqrt(z * z + 4)) / 2,
    "soft_shrink": lambda z: np.where(z > 0.5, z - 0.5, np.where(z < -0.5, z + 0.5, 0.0)),
    "hard_shrink": lambda z: np.where(np.abs(z) > 0.5, z, 0.0),
    "sparse_plus": lambda z: np.where(z <= -1, 0.0, np.where(z < 1, 0.25 * (z + 1) ** 2, z)),
}
NEW = tuple(FORWARD)
ROW_WISE = ("log_softmax",)

# where each one's derivative jumps
KINKS = {"elu": (0,), "selu": (0,), "celu": (0,), "hard_sigmoid": (-3, 3), "hard_silu": (-3, 3), "leaky_relu": (0,),
         "relu6": (0, 6), "hard_tanh": (-1, 1), "soft_shrink": (-0.5, 0.5), "hard_shrink": (-0.5, 0.5),
         "sparse_plus": (-1, 1)}


def forward(z, act):
    """act(z) in float64, for the new kinds and the five of tests/reference.py alike."""
    z = np.asarray(z, np.float64)
    return FORWARD[act](z) if act in FORWARD else ref.act_forward(z, act)


def away_from_kinks(z, act, gap=1e-3):
    """z with every value within `gap` of a kink of act moved 2 * gap off it."""
    z = np.array(z, copy=True)
    for k in KINKS.get(act, ()):
        near = np.abs(z - k) < gap
        z[near] = k + 2 * gap
    return z


def backward_fd(z, dy, act, h=1e-6):
    """dL/dz of L = sum(dy * act(z)) by central differences (per value; the row-wise ones per
    position along the row)."""
    z = np.asarray(z, np.float64)
    dy = np.asarray(dy, np.float64)
    if act not in ROW_WISE:
        return dy * (forward(z + h, act) - forward(z - h, act)) / (2 * h)
    out = np.zeros_like(z)
    for j in range(z.shape[-1]):
        e = np.zeros_like(z)
        e[..., j] = h
        out[..., j] = (dy * (forward(z + e, act) - forward(z - e, act))).sum(axis=-1) / (2 * h)
    return out


def sparsemax(x, axis=-1):
    """Martins & Astudillo's simplex projection in float64: tau from the k-th running sum of the
    values sorted down, k the size of the support."""
    z = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    srt = -np.sort(-z, -1)
    k = np.arange(1, z.shape[-1] + 1)
    cs = np.cumsum(srt, -1)
    kz = (1 + k * srt > cs).sum(-1, keepdims=True)
    tau = (np.take_along_axis(cs, kz - 1, -1) - 1) / kz
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis)
