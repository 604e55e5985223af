"""The primitives' test cases (tests/test_prims.py): per case the kind, its attrs, inputs, and a
float64 NumPy reference of the forward. `grad` lists the inputs whose gradient is checked against
central differences of the reference (None: every input; [] the kind has none). Inputs keep away
from kinks (|x| > 0.05 where a kink sits at 0, ties broken) so finite differences are meaningful.
"""

import math

import numpy as np

_erf = np.vectorize(math.erf)
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def rnd(seed, shape, lo=-2.0, hi=2.0, away=0.0):
    """Uniform values in [lo, hi), at least `away` from 0 and from each other per row."""
    x = np.random.default_rng(seed).uniform(lo, hi, shape)
    if away:
        x = np.where(np.abs(x) < away, np.sign(x + 1e-12) * (away + np.abs(x)), x)
    return x.astype(np.float32)


def distinct(seed, shape, lo=-3.0, hi=3.0):
    """Values in [lo, hi) with no two equal or closer than ~1e-2 (max/min/argmax without ties)."""
    n = int(np.prod(shape)) if shape else 1
    v = np.linspace(lo, hi, n, endpoint=False) + 0.37 * (hi - lo) / n
    np.random.default_rng(seed).shuffle(v)
    return v.reshape(shape).astype(np.float32)


def ids(seed, shape, n):
    return np.random.default_rng(seed).integers(0, n, shape).astype(np.float32)


def _softmax(x, axis=-1, mask=None):
    if mask is not None:
        x = x + (1.0 - np.broadcast_to(mask, x.shape)) * -1e9
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    y = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return y if keepdims else np.squeeze(y, axis=axis)


def _one_hot(x, n, axis=-1):
    x = x.astype(np.int64)
    y = (x[..., None] == np.arange(n)).astype(np.float64)
    return np.moveaxis(y, -1, axis)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def sdpa(q, k, v, mask=None, scale=None, causal=False):
    """keras.ops.dot_product_attention in float64: q (B, T, N, H), k (B, S, K, H), v (B, S, K, Hv),
    query head n on key/value head n // (N / K); a blanked score is Keras's large negative, so a
    row with nothing to attend is uniform (the mean of the values)."""
    B, T, N, H = q.shape
    S, K = k.shape[1], k.shape[2]
    scale = 1 / np.sqrt(H) if scale is None else scale
    kk, vv = np.repeat(k, N // K, axis=2), np.repeat(v, N // K, axis=2)
    s = np.einsum("btnh,bsnh->bnts", q, kk) * scale
    keep = np.ones((B, N, T, S), bool)
    if mask is not None:
        keep &= np.broadcast_to(np.asarray(mask) != 0, (B, N, T, S))
    if causal:
        keep &= np.tril(np.ones((T, S), bool))
    s = np.where(keep, s, np.finfo(np.float32).max * -0.7)
    w = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("bnts,bsnh->btnh", w / w.sum(-1, keepdims=True), vv)


def _attention_cases(add):
    """dot_product_attention: MHA, grouped-query, causal with T == S, T > S, T < S, masks of several
    broadcast shapes (a fully masked row among them), the tile path (T >= 16) and the flash path
    over several key tiles (S > 64)."""
    def qkv(seed, B, T, S, N, K, H, Hv):
        return [rnd(seed, (B, T, N, H)), rnd(seed + 1, (B, S, K, H)), rnd(seed + 2, (B, S, K, Hv))]

    def m(seed, shape, p=0.35):
        return (np.random.default_rng(seed).random(shape) > p).astype(np.float32)

    row_off = np.ones((5, 6), np.float32)
    row_off[2] = 0.0  # query 2 attends to nothing: the mean of the values
    specs = [
        ("mha", qkv(100, 2, 5, 6, 4, 4, 3, 2), None, {"scale": 0.4}),
        ("gqa_causal", qkv(110, 2, 6, 6, 4, 2, 3, 3), None, {"scale": 0.5, "is_causal": True}),
        ("mqa_causal_t_gt_s", qkv(120, 1, 7, 4, 2, 1, 3, 3), None, {"scale": 0.6, "is_causal": True}),
        ("causal_t_lt_s", qkv(130, 2, 3, 6, 2, 2, 4, 3), None, {"scale": 0.5, "is_causal": True}),
        ("mask_ts_full_row", qkv(140, 2, 5, 6, 2, 1, 3, 3), row_off, {"scale": 0.5}),
        ("mask_b11s", qkv(150, 2, 5, 6, 4, 2, 3, 3), m(151, (2, 1, 1, 6)), {"scale": 0.5}),
        ("mask_b1ts_causal", qkv(160, 2, 5, 6, 2, 2, 3, 3), m(161, (2, 1, 5, 6)), {"scale": 0.5, "is_causal": True}),
        ("mask_1ts", qkv(170, 2, 5, 6, 2, 2, 3, 3), m(171, (1, 5, 6)), {"scale": 0.5}),
        ("mask_s", qkv(175, 2, 5, 6, 2, 2, 3, 3), m(176, (6,)), {"scale": 0.5}),
        ("tile", qkv(180, 2, 17, 9, 2, 1, 3, 4), m(181, (2, 1, 17, 9)), {"scale": 0.5, "is_causal": True}),
        ("flash_key_tiles", qkv(190, 1, 3, 70, 2, 1, 2, 2), m(191, (1, 1, 1, 70)), {"scale": 0.5}),
    ]
    for name, ins, mask, attrs in specs:
        def ref(q, k, v, mask=None, a=attrs):
            return sdpa(q, k, v, mask, a["scale"], a.get("is_causal", False))
        add((f"dpa_{name}", "dot_product_attention", attrs, ins + ([] if mask is None else [mask]), ref, [0, 1, 2]))


def _split(x, ios, axis):
    return np.split(x, ios, axis=axis)


UNARY = {
    "negative": (np.negative, {}),
    "abs": (np.abs, {"away": 0.1}),
    "square": (np.square, {}),
    "sqrt": (np.sqrt, {"lo": 0.1, "hi": 4.0}),
    "rsqrt": (lambda x: 1 / np.sqrt(x), {"lo": 0.2, "hi": 4.0}),
    "exp": (np.exp, {}),
    "expm1": (np.expm1, {}),
    "log": (np.log, {"lo": 0.1, "hi": 4.0}),
    "log1p": (np.log1p, {"lo": -0.5, "hi": 3.0}),
    "sin": (np.sin, {}),
    "cos": (np.cos, {}),
    "reciprocal": (lambda x: 1 / x, {"away": 0.3}),
    "relu": (lambda x: np.maximum(x, 0), {"away": 0.05}),
    "relu6": (lambda x: np.clip(x, 0, 6), {"lo": -3.0, "hi": 8.0, "away": 0.05}),
    "silu": (lambda x: x / (1 + np.exp(-x)), {}),
    "swish": (lambda x: x / (1 + np.exp(-x)), {}),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), {}),
    "tanh": (np.tanh, {}),
    "softplus": (lambda x: np.logaddexp(0, x), {"lo": -6.0, "hi": 6.0}),
    "log_sigmoid": (lambda x: -np.logaddexp(0, -x), {"lo": -6.0, "hi": 6.0}),
    "softsign": (lambda x: x / (1 + np.abs(x)), {"away": 0.05}),
    "selu": (lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)), {"away": 0.05}),
    "hard_sigmoid": (lambda x: np.clip(x + 3, 0, 6) / 6, {"lo": -5.0, "hi": 5.0}),
    "hard_silu": (lambda x: x * np.clip(x + 3, 0, 6) / 6, {"lo": -5.0, "hi": 5.0}),
    "hard_swish": (lambda x: x * np.clip(x + 3, 0, 6) / 6, {"lo": -5.0, "hi": 5.0}),
    "erf": (_erf, {}),
    "identity": (lambda x: x, {}),
}
NO_GRAD_UNARY = {
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "logical_not": lambda x: (x == 0).astype(np.float64),
}
BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "maximum": np.maximum, "minimum": np.minimum, "mod": np.mod,
}
NO_GRAD_BINARY = {
    "floor_divide": np.floor_divide, "equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


def cases():
    """(id, kind, attrs, inputs, reference, grad)"""
    out = []
    add = out.append
    shape = (3, 17)  # odd: vector tails run
    for k, (f, dom) in UNARY.items():
        add((k, k, {}, [rnd(1, shape, **dom)], f, None))
    add(("exp_large", "exp", {}, [rnd(2, (5, 33), -80, 80)], np.exp, []))
    add(("gelu_tanh", "gelu", {}, [rnd(3, shape)], _gelu_tanh, None))
    add(("gelu_exact", "gelu", {"approximate": False}, [rnd(3, shape)], lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), None))
    add(("elu", "elu", {"alpha": 0.7}, [rnd(4, shape, away=0.05)], lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)), None))
    add(("leaky_relu", "leaky_relu", {}, [rnd(5, shape, away=0.05)], lambda x: np.where(x >= 0, x, 0.2 * x), None))
    add(("leaky_relu_slope", "leaky_relu", {"negative_slope": 0.01}, [rnd(5, shape, away=0.05)],
         lambda x: np.where(x >= 0, x, 0.01 * x), None))
    add(("clip", "clip", {"x_min": -0.5, "x_max": 1.0}, [rnd(6, shape, away=0.05) + np.float32(0.013)],
         lambda x: np.clip(x, -0.5, 1.0), None))
    add(("stop_gradient", "stop_gradient", {}, [rnd(7, shape)], lambda x: x, []))
    add(("cast_int32", "cast", {"dtype": "int32"}, [rnd(8, shape, -5, 5)], lambda x: np.trunc(x), []))
    add(("cast_bool", "cast", {"dtype": "bool"}, [np.array([0, 1, -2, 0.5, 0], np.float32)],
         lambda x: (x != 0).astype(np.float64), []))
    add(("cast_float", "cast", {"dtype": "float32"}, [rnd(8, shape)], lambda x: x, None))
    half = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6, 0.0], np.float32)
    for k, f in NO_GRAD_UNARY.items():
        add((k, k, {}, [np.concatenate([rnd(9, (20,), -3, 3), half])], f, []))
    # binary with broadcasting: equal shapes, a row, a column, a scalar, leading axes added
    pairs = [((4, 7), (4, 7)), ((4, 7), (7,)), ((4, 1), (1, 7)), ((2, 3, 5), (3, 1)), ((), (3, 5)),
             ((5, 1, 3), (1, 4, 1)), ((33,), (1,)), ((2, 1, 3, 1), (4, 1, 5))]
    for k, f in BINARY.items():
        for i, (sa, sb) in enumerate(pairs):
            a, b = distinct(10 + i, sa), distinct(30 + i, sb, 0.3, 2.5)
            if k in ("divide", "mod"):
                b = b + np.float32(0.1)
            add((f"{k}_{i}", k, {}, [a.astype(np.float32), b], f, None))
    add(("power", "power", {}, [rnd(11, (3, 5), 0.2, 2.0), rnd(12, (3, 5), -2.0, 2.0)], np.power, None))
    add(("power_bcast", "power", {}, [rnd(11, (3, 5), 0.2, 2.0), np.float32([2.0])], np.power, None))
    add(("add_same_shape_broadcast_both", "add", {}, [rnd(13, (1, 5)), rnd(14, (4, 1))], np.add, None))
    for k, f in NO_GRAD_BINARY.items():
        a = np.array([[0, 1, 2, -1.5, 3.5], [2, 2, 0, 7, -7]], np.float32)
        b = np.array([1, 1, 2, 0.5, -2], np.float32)
        add((k, k, {}, [a, b], lambda x, y, f=f: f(x, y).astype(np.float64), []))
    cond = (rnd(15, (4, 6)) > 0).astype(np.float32)
    add(("where", "where", {}, [cond, rnd(16, (4, 6)), rnd(17, (4, 6))], lambda c, x, y: np.where(c != 0, x, y), [1, 2]))
    add(("where_bcast", "where", {}, [cond[:, :1], rnd(16, (6,)), rnd(17, (4, 1))],
         lambda c, x, y: np.where(c != 0, x, y), [1, 2]))
    # reductions
    x3 = distinct(20, (3, 4, 5))
    for axis in (None, 0, 1, -1, [0, 2], [1, 2], [0, 1, 2]):
        ax = tuple(axis) if isinstance(axis, list) else axis
        for keep in (False, True):
            tag = f"{axis}_{int(keep)}".replace(" ", "")
            attrs = {"axis": axis, "keepdims": keep}
            add((f"sum_{tag}", "sum", attrs, [x3], lambda x, ax=ax, k=keep: np.sum(x, ax, keepdims=k), None))
            add((f"mean_{tag}", "mean", attrs, [x3], lambda x, ax=ax, k=keep: np.mean(x, ax, keepdims=k), None))
            add((f"max_{tag}", "max", attrs, [x3], lambda x, ax=ax, k=keep: np.max(x, ax, keepdims=k), None))
            add((f"min_{tag}", "min", attrs, [x3], lambda x, ax=ax, k=keep: np.min(x, ax, keepdims=k), None))
            add((f"var_{tag}", "var", attrs, [x3], lambda x, ax=ax, k=keep: np.var(x, ax, keepdims=k), None))
            add((f"std_{tag}", "std", attrs, [x3], lambda x, ax=ax, k=keep: np.std(x, ax, keepdims=k), None))
            add((f"logsumexp_{tag}", "logsumexp", attrs, [x3], lambda x, ax=ax, k=keep: _logsumexp(x, ax, k), None))
    xp = rnd(21, (3, 4, 5), 0.5, 1.5) * np.sign(rnd(22, (3, 4, 5), away=0.1))
    add(("prod_1", "prod", {"axis": 1}, [xp], lambda x: np.prod(x, 1), None))
    add(("prod_all", "prod", {}, [xp[0, :2]], lambda x: np.prod(x), None))
    xz = xp.copy()
    xz[0, 1, 2] = 0.0
    xz[1, 0, :2] = 0.0
    add(("prod_zeros", "prod", {"axis": 1}, [xz], lambda x: np.prod(x, 1), None))
    add(("prod_zeros_last", "prod", {"axis": -1}, [xz], lambda x: np.prod(x, -1), None))
    add(("any", "any", {"axis": 1}, [(rnd(23, (3, 4)) > 1).astype(np.float32)],
         lambda x: np.any(x != 0, 1).astype(np.float64), []))
    add(("all", "all", {"axis": 0, "keepdims": True}, [(rnd(24, (3, 4)) > -1.5).astype(np.float32)],
         lambda x: np.all(x != 0, 0, keepdims=True).astype(np.float64), []))
    for axis in (None, 0, 1, -1):
        for keep in (False, True):
            add((f"argmax_{axis}_{int(keep)}", "argmax", {"axis": axis, "keepdims": keep}, [x3],
                 lambda x, a=axis, k=keep: np.argmax(x, a, keepdims=k).astype(np.float64), []))
            add((f"argmin_{axis}_{int(keep)}", "argmin", {"axis": axis, "keepdims": keep}, [x3],
                 lambda x, a=axis, k=keep: np.argmin(x, a, keepdims=k).astype(np.float64), []))
    xn = distinct(25, (4, 6)) + np.float32(0.01)
    add(("norm_vec", "norm", {"axis": -1}, [xn], lambda x: np.linalg.norm(x, axis=-1), None))
    add(("norm_all", "norm", {}, [xn], lambda x: np.linalg.norm(x.ravel()), None))
    add(("norm_1", "norm", {"ord": 1, "axis": 0}, [xn], lambda x: np.linalg.norm(x, 1, axis=0), None))
    add(("norm_inf", "norm", {"ord": float("inf"), "axis": 1, "keepdims": True}, [xn],
         lambda x: np.linalg.norm(x, np.inf, axis=1, keepdims=True), None))
    add(("norm_ninf", "norm", {"ord": -float("inf"), "axis": 1}, [xn], lambda x: np.linalg.norm(x, -np.inf, axis=1), None))
    add(("norm_fro", "norm", {"ord": "fro", "axis": [0, 1]}, [x3], lambda x: np.linalg.norm(x, "fro", axis=(0, 1)), None))
    # softmax, scans
    for axis in (-1, 0, 1):
        add((f"softmax_{axis}", "softmax", {"axis": axis}, [x3], lambda x, a=axis: _softmax(x, a), None))
        add((f"log_softmax_{axis}", "log_softmax", {"axis": axis}, [x3],
             lambda x, a=axis: np.log(_softmax(x, a)), None))
    mask = (rnd(26, (3, 1, 5)) > -1).astype(np.float32)
    mask[..., 0] = 1.0  # no row masked whole (there float32 and float64 part ways, as in Keras)
    add(("softmax_mask", "softmax", {}, [x3, mask], lambda x, m: _softmax(x, -1, m), [0]))
    add(("softmax_wide", "softmax", {}, [rnd(27, (2, 1100))], _softmax, None))
    for axis in (None, 0, 1, -1):
        add((f"cumsum_{axis}", "cumsum", {"axis": axis}, [x3], lambda x, a=axis: np.cumsum(x, a), None))
        add((f"cumprod_{axis}", "cumprod", {"axis": axis}, [xp[:2]], lambda x, a=axis: np.cumprod(x, a), None))
    add(("cumprod_zeros", "cumprod", {"axis": 1}, [xz], lambda x: np.cumprod(x, 1), None))
    # matmul
    mm = [((4, 5), (5, 3)), ((2, 4, 5), (5, 3)), ((2, 4, 5), (2, 5, 3)), ((5,), (5, 3)), ((4, 5), (5,)),
          ((5,), (5,)), ((2, 1, 4, 5), (3, 5, 2)), ((4, 5), (2, 5, 3)), ((3, 1, 2, 4), (1, 2, 4, 3)),
          ((1, 17, 9), (9, 33))]
    for i, (sa, sb) in enumerate(mm):
        add((f"matmul_{i}", "matmul", {}, [rnd(40 + i, sa), rnd(60 + i, sb)], np.matmul, None))
    _attention_cases(add)
    # layout
    x4 = rnd(70, (2, 3, 4, 5))
    add(("transpose_rev", "transpose", {}, [x4], np.transpose, None))
    add(("transpose_perm", "transpose", {"axes": [0, 2, 3, 1]}, [x4], lambda x: np.transpose(x, (0, 2, 3, 1)), None))
    add(("transpose_neg", "transpose", {"axes": [-1, 0, 1, 2]}, [x4], lambda x: np.transpose(x, (3, 0, 1, 2)), None))
    add(("reshape", "reshape", {"shape": [6, -1]}, [x4], lambda x: x.reshape(6, -1), None))
    add(("expand_dims", "expand_dims", {"axis": 1}, [x3], lambda x: np.expand_dims(x, 1), None))
    add(("expand_dims_many", "expand_dims", {"axis": [0, -1]}, [x3], lambda x: np.expand_dims(x, (0, -1)), None))
    add(("squeeze", "squeeze", {"axis": 1}, [rnd(71, (3, 1, 4))], lambda x: np.squeeze(x, 1), None))
    add(("squeeze_all", "squeeze", {}, [rnd(71, (1, 3, 1, 4))], np.squeeze, None))
    add(("broadcast_to", "broadcast_to", {"shape": [2, 3, 4]}, [rnd(72, (3, 1))], lambda x: np.broadcast_to(x, (2, 3, 4)), None))
    for axis in (0, 1, -1):
        parts = [rnd(73, (2, 3, 4)), rnd(74, (2, 3, 4))]
        p2 = [rnd(75, tuple(2 + j if d == (axis % 3) else s for d, s in enumerate((2, 3, 4)))) for j in range(3)]
        add((f"concatenate_{axis}", "concatenate", {"axis": axis}, p2, lambda *a, ax=axis: np.concatenate(a, ax), None))
        add((f"stack_{axis}", "stack", {"axis": axis}, parts, lambda *a, ax=axis: np.stack(a, ax), None))
    add(("split_sections", "split", {"indices_or_sections": 3, "axis": 1}, [rnd(76, (2, 6, 3))],
         lambda x: _split(x, 3, 1), None))
    add(("split_indices", "split", {"indices_or_sections": [1, 4], "axis": -1}, [rnd(77, (2, 3, 6))],
         lambda x: _split(x, [1, 4], -1), None))
    slices = [([1], [None], [1]), ([None, 1], [None, -1], [1, 2]), ([-1], [None], [-1]),
              ([None, None, 3], [None, None, 0], [1, -1, -2]), ([0, 2], [1, 3], [1, 1])]
    for i, (st, sp, sd) in enumerate(slices):
        sl = tuple(slice(a, b, c) for a, b, c in zip(st, sp, sd))
        add((f"slice_{i}", "slice", {"start": st, "stop": sp, "step": sd}, [x4], lambda x, sl=sl: x[sl], None))
    xt = rnd(78, (4, 5, 3))
    idx = np.array([[0, 4, -1], [2, 2, 1]], np.float32)
    add(("take_axis1", "take", {"axis": 1}, [xt, idx], lambda x, i: np.take(x, i.astype(int), 1), [0]))
    add(("take_axis0", "take", {"axis": 0}, [xt, np.array([3, 0, 3], np.float32)],
         lambda x, i: np.take(x, i.astype(int), 0), [0]))
    add(("take_flat", "take", {}, [xt, np.array([0, 59, 7, 7], np.float32)], lambda x, i: np.take(x, i.astype(int)), [0]))
    ia = np.random.default_rng(79).integers(0, 5, (4, 2, 3)).astype(np.float32)
    add(("take_along_axis", "take_along_axis", {"axis": 1}, [xt, ia],
         lambda x, i: np.take_along_axis(x, i.astype(int), 1), [0]))
    add(("take_along_axis_bcast", "take_along_axis", {"axis": 1}, [xt, ia[:1, :, :1]],
         lambda x, i: np.take_along_axis(x, np.broadcast_to(i, (4, 2, 3)).astype(int), 1), [0]))
    add(("one_hot", "one_hot", {"num_classes": 4}, [np.array([[0, 3, 1], [2, 2, -1]], np.float32)],
         lambda x: _one_hot(x, 4) * (x >= 0)[..., None], []))
    add(("one_hot_axis0", "one_hot", {"num_classes": 3, "axis": 0}, [np.array([0, 2, 1, 1], np.float32)],
         lambda x: _one_hot(x, 3, 0), []))
    add(("repeat_int", "repeat", {"repeats": 2, "axis": 1}, [x3], lambda x: np.repeat(x, 2, 1), None))
    add(("repeat_list", "repeat", {"repeats": [1, 0, 3], "axis": 0}, [x3], lambda x: np.repeat(x, [1, 0, 3], 0), None))
    add(("repeat_flat", "repeat", {"repeats": 2}, [x3[0]], lambda x: np.repeat(x, 2), None))
    add(("tile", "tile", {"repeats": [2, 1, 3]}, [x3], lambda x: np.tile(x, (2, 1, 3)), None))
    add(("tile_short", "tile", {"repeats": [2]}, [x3], lambda x: np.tile(x, 2), None))
    add(("tile_long", "tile", {"repeats": [2, 1, 1, 2]}, [x3], lambda x: np.tile(x, (2, 1, 1, 2)), None))
    add(("pad", "pad", {"pad_width": [[1, 0], [0, 2], [2, 1]], "constant_values": 0.5}, [x3],
         lambda x: np.pad(x, ((1, 0), (0, 2), (2, 1)), constant_values=0.5), None))
    add(("pad_all", "pad", {"pad_width": [1, 2]}, [x3], lambda x: np.pad(x, (1, 2)), None))
    add(("flip_all", "flip", {}, [x3], np.flip, None))
    add(("flip_axes", "flip", {"axis": [0, 2]}, [x3], lambda x: np.flip(x, (0, 2)), None))
    # constants
    add(("constant", "constant", {"value": np.arange(6.0) / 4, "shape": [2, 3]}, [],
         lambda: (np.arange(6.0) / 4).reshape(2, 3), []))
    add(("zeros", "zeros", {"shape": [2, 3]}, [], lambda: np.zeros((2, 3)), []))
    add(("ones", "ones", {"shape": [4]}, [], lambda: np.ones(4), []))
    add(("full", "full", {"shape": [3, 1], "fill_value": -2.5}, [], lambda: np.full((3, 1), -2.5), []))
    add(("eye", "eye", {"N": 3, "M": 5, "k": 1}, [], lambda: np.eye(3, 5, 1), []))
    add(("eye_neg", "eye", {"N": 4, "k": -2}, [], lambda: np.eye(4, k=-2), []))
    add(("arange", "arange", {"start": 1, "stop": 8, "step": 2}, [], lambda: np.arange(1, 8, 2.0), []))
    add(("arange_frac", "arange", {"start": 0.5, "stop": -1, "step": -0.25}, [], lambda: np.arange(0.5, -1, -0.25), []))
    add(("zeros_like", "zeros_like", {}, [x3], np.zeros_like, []))
    add(("ones_like", "ones_like", {}, [x3], np.ones_like, []))
    add(("full_like", "full_like", {"fill_value": 3.0}, [x3], lambda x: np.full_like(x, 3.0), []))
    # a built-in loss per row (prim_loss.cpp): y_true, y_pred -> (...); y_true's gradient where the loss is a
    # function of pred - true
    t, p = rnd(40, (2, 3, 5)), rnd(41, (2, 3, 5))
    add(("loss_rows_mse", "loss_rows", {"loss_kind": 0}, [t, p], lambda t, p: ((p - t) ** 2).mean(-1), None))
    add(("loss_rows_huber", "loss_rows", {"loss_kind": 5, "param": 0.7}, [t, p + np.float32(0.011)],
         lambda t, p: np.where(np.abs(p - t) <= 0.7, 0.5 * (p - t) ** 2, 0.7 * np.abs(p - t) - 0.245).mean(-1), None))
    labels = ids(42, (2, 3), 5)
    add(("loss_rows_sparse_cce", "loss_rows", {"loss_kind": 4, "from_logits": True}, [labels, p],
         lambda t, p: -np.take_along_axis(p - _logsumexp(p, -1, keepdims=True), t.astype(int)[..., None], -1)[..., 0],
         [1]))
    pt = rnd(45, (3, 4), 0.05, 0.95)
    pp = rnd(46, (3, 4), 0.05, 0.95)
    add(("loss_rows_kld", "loss_rows", {"loss_kind": 6}, [pt, pp], lambda t, p: (t * np.log(t / p)).sum(-1), None))
    q = rnd(43, (4, 6), 0.05, 0.95)
    y = (rnd(44, (4, 6), 0, 1) > 0.5).astype(np.float32)
    add(("loss_rows_bce_smoothed", "loss_rows", {"loss_kind": 2, "label_smoothing": 0.2}, [y, q],
         lambda t, p: -((t * 0.8 + 0.1) * np.log(p) + (1 - (t * 0.8 + 0.1)) * np.log(1 - p)).mean(-1), [1]))
    # CTC (prim_loss.cpp): target, logits, target_length, output_length -> (B,); logits' gradient only
    logits = rnd(47, (3, 6, 4))
    tgt = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]], np.float32)
    add(("ctc_loss", "ctc_loss", {"mask_index": 0}, [tgt, logits, np.array([3, 2, 1], np.float32),
                                                     np.array([6, 4, 5], np.float32)], ctc_ref, [1]))
    return out


def ctc_ref(target, logits, target_length, output_length, blank=0):
    """-log p(label | frames) per sample by the log-space forward recursion (float64)."""
    lp = logits - _logsumexp(logits, -1, keepdims=True)
    out = []
    for b in range(len(logits)):
        ext = [blank]
        for c in target[b, :int(target_length[b])]:
            ext += [int(c), blank]
        n = len(ext)
        a = np.full(n, -np.inf)
        a[:2] = lp[b, 0, ext[:2]]
        for t in range(1, int(output_length[b])):
            prev = a.copy()
            for s in range(n):
                terms = [prev[s]] + ([prev[s - 1]] if s else []) + \
                    ([prev[s - 2]] if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] else [])
                a[s] = np.logaddexp.reduce(terms) + lp[b, t, ext[s]]
        out.append(-np.logaddexp(a[-1], a[-2]))
    return np.array(out)


CASES = cases()

# Larger inputs, for the thread-count check: each is big enough that the op runs on several threads.
BIG = [
    ("unary_gelu", "gelu", {}, [rnd(1, (64, 4099))]),
    ("unary_exp", "exp", {}, [rnd(2, (70001,))]),
    ("binary_row", "multiply", {}, [rnd(3, (300, 1001)), rnd(4, (1001,))]),
    ("binary_col", "subtract", {}, [rnd(3, (300, 1001)), rnd(4, (300, 1))]),
    ("binary_long", "add", {}, [rnd(3, (200003,)), rnd(4, (1,))]),
    ("where", "where", {}, [(rnd(5, (300, 1001)) > 0).astype(np.float32), rnd(6, (300, 1001)), rnd(7, (1001,))]),
    ("sum_rows", "sum", {"axis": -1}, [rnd(8, (600, 999))]),
    ("sum_cols", "sum", {"axis": 1}, [rnd(8, (60, 999, 17))]),
    ("sum_mixed", "sum", {"axis": [0, 2]}, [rnd(8, (60, 99, 37))]),
    ("var", "var", {"axis": 0}, [rnd(9, (999, 301))]),
    ("max", "max", {"axis": 1}, [distinct(10, (300, 777))]),
    ("logsumexp", "logsumexp", {"axis": -1}, [rnd(11, (500, 511))]),
    ("softmax", "softmax", {}, [rnd(12, (400, 513))]),
    ("softmax_axis0", "softmax", {"axis": 0}, [rnd(12, (513, 400))]),
    ("log_softmax", "log_softmax", {"axis": 1}, [rnd(13, (40, 129, 33))]),
    ("cumsum", "cumsum", {"axis": 1}, [rnd(14, (300, 999))]),
    ("matmul_batched", "matmul", {}, [rnd(15, (16, 64, 65)), rnd(16, (16, 65, 33))]),
    ("matmul_bcast", "matmul", {}, [rnd(15, (16, 64, 65)), rnd(16, (1, 65, 129))]),
    ("matmul_left_bcast", "matmul", {}, [rnd(15, (64, 65)), rnd(16, (16, 65, 129))]),
    ("matmul_fold", "matmul", {}, [rnd(15, (32, 50, 65)), rnd(16, (65, 129))]),
    ("attention_tile", "dot_product_attention", {"scale": 0.25, "is_causal": True},
     [rnd(22, (4, 64, 4, 16)), rnd(23, (4, 80, 2, 16)), rnd(24, (4, 80, 2, 16)),
      (rnd(25, (4, 1, 1, 80)) > -1.5).astype(np.float32)]),
    ("attention_flash", "dot_product_attention", {"scale": 0.25},
     [rnd(26, (2, 200, 4, 16)), rnd(27, (2, 700, 4, 16)), rnd(28, (2, 700, 4, 8)),
      (rnd(29, (700,)) > -1.5).astype(np.float32)]),
    ("transpose", "transpose", {"axes": [1, 0, 2]}, [rnd(17, (300, 400, 3))]),
    ("take", "take", {"axis": 0}, [rnd(18, (1000, 300)), ids(19, (700,), 1000)]),
    ("broadcast_to", "broadcast_to", {"shape": [400, 300, 5]}, [rnd(20, (300, 1))]),
    ("slice", "slice", {"start": [None, 1], "stop": [None, None], "step": [2, 3]}, [rnd(21, (800, 1000))]),
]
