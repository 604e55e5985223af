"""keras.ops.linalg: norm on the norm primitive; the factorizations, solvers and determinants
(cholesky ... svd, slogdet, logdet) computed on arrays in float64 NumPy and returned in the input's
float type (float32 unless float64), so they agree with Keras's float32 results to rounding.

They have no native kernel: on symbolic tensors (a functional model, a traced custom call()) they
raise NotImplementedError rather than trace. Torch's conventions (Keras's reference backend here)
decide where backends differ: cholesky_inverse takes the Cholesky factor, lu_factor's pivots count
from 0, eig's results are complex, the default rank cut-offs use the input's (float32) epsilon."""

import numpy as np

from bigcore.ops.node import apply, is_symbolic, to_array


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002  (Keras's name)
    """Vector norms (ord None/2, 1, inf, -inf over one axis; the 2-norm of the flattened x when axis is
    None) and the Frobenius norm over two axes (ord None or 'fro')."""
    if isinstance(ord, str) and ord not in ("fro",):
        raise ValueError(f"norm: ord={ord!r} is not supported (None, 1, 2, inf, -inf or 'fro')")
    if ord is not None and not isinstance(ord, str):
        ord = float(ord)
        ord = int(ord) if ord in (1.0, 2.0) else ord
    axis = axis if axis is None or isinstance(axis, int) else [int(a) for a in axis]
    return apply("norm", [x], {"ord": ord, "axis": axis, "keepdims": bool(keepdims)})


def eager_only(name, *args):
    """Refuses symbolic arguments: `name` has no kernel in a traced program."""
    if is_symbolic(list(args)):
        raise NotImplementedError(f"ops.{name} runs eagerly only (on arrays): bigcore has no kernel for it "
                                  "inside a model or a traced custom call()")


def _array(name, x):
    """x as float64, and the float type of the result (float64 stays, else float32)."""
    eager_only(name, x)
    a = to_array(x)  # float64 arrays stay float64; Python numbers and lists are float32 tensors in Keras
    return a.astype(np.float64), (np.float64 if isinstance(x, np.ndarray) and a.dtype == np.float64 else np.float32)


def _matrices(name, x, square=True):
    a, out = _array(name, x)
    if a.ndim < 2:
        raise ValueError(f"Expected input to have rank >= 2. Received input with shape {a.shape}.")
    if square and a.shape[-1] != a.shape[-2]:
        raise ValueError(f"Expected a square matrix. Received non-square input with shape {a.shape}")
    return a, out


def _rhs(name, a, b):
    """b of a solve with a: Keras's shape checks; whether b is a (batch of) vector(s) as torch decides
    (1-D, or a's batch shape plus M)."""
    b, _ = _array(name, b)
    if b.ndim < 1:
        raise ValueError(f"Expected input to have rank >= 1. Received scalar input {b}.")
    if b.ndim == a.ndim and a.shape[-2] != b.shape[-2]:
        raise ValueError("Incompatible shapes between `a` and `b`. Expected `a.shape[-2] == b.shape[-2]`. "
                         f"Received: a.shape={a.shape}, b.shape={b.shape}")
    return b, b.ndim == 1 or b.shape == a.shape[:-1]


def cholesky(x, upper=False):
    """The lower (upper: upper) Cholesky factor of each positive-definite matrix (its lower triangle read)."""
    a, out = _matrices("cholesky", x)
    try:
        lower = np.linalg.cholesky(a)
    except np.linalg.LinAlgError as e:
        raise ValueError(f"Cholesky decomposition failed: {e}") from None
    return (np.swapaxes(lower, -1, -2) if upper else lower).astype(out)


def cholesky_inverse(x, upper=False):
    """The inverse of A = L L^T (upper: U^T U) from its Cholesky factor x (only x's triangle read), as
    torch.cholesky_inverse."""
    a, out = _matrices("cholesky_inverse", x)
    factor = np.triu(a) if upper else np.tril(a)
    try:
        inv_factor = np.linalg.inv(factor)
    except np.linalg.LinAlgError as e:
        raise ValueError(f"Cholesky inverse failed: {e}") from None
    t = np.swapaxes(inv_factor, -1, -2)
    return (inv_factor @ t if upper else t @ inv_factor).astype(out)


def det(x):
    a, out = _matrices("det", x)
    return np.asarray(np.linalg.det(a)).astype(out)


def eig(x):
    """Eigenvalues (..., M) and unit eigenvectors (columns, ..., M, M), complex64 as torch gives them."""
    a, out = _matrices("eig", x)
    w, v = np.linalg.eig(a)
    kind = np.complex128 if out == np.float64 else np.complex64
    return w.astype(kind), v.astype(kind)


def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (the lower triangle read)."""
    a, out = _matrices("eigh", x)
    w, v = np.linalg.eigh(a)
    return w.astype(out), v.astype(out)


def inv(x):
    a, out = _matrices("inv", x)
    return np.linalg.inv(a).astype(out)


def lu_factor(x):
    """LU with partial pivoting of (..., M, N) matrices, as LAPACK's getrf: the packed factors (unit
    lower L below the diagonal, U on and above) and the row swapped with row i at step i (int32, from 0)."""
    a, out = _matrices("lu_factor", x, square=False)
    m, n = a.shape[-2:]
    lu = a.reshape((-1, m, n)).copy()
    rows = np.arange(lu.shape[0])
    pivots = np.zeros((lu.shape[0], min(m, n)), np.int32)
    for j in range(min(m, n)):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)  # the first largest, as LAPACK's idamax
        pivots[:, j] = p
        lu[rows, j], lu[rows, p] = lu[rows, p], lu[rows, j].copy()
        pivot = lu[:, j, j:j + 1]
        safe = np.where(pivot == 0, 1.0, pivot)  # a zero pivot (singular): its column is left, as getrf
        lu[:, j + 1:, j] = np.where(pivot == 0, lu[:, j + 1:, j], lu[:, j + 1:, j] / safe)
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j:j + 1] * lu[:, j:j + 1, j + 1:]
    batch = a.shape[:-2]
    return lu.reshape(a.shape).astype(out), pivots.reshape(batch + (min(m, n),))


def qr(x, mode="reduced"):
    if mode not in {"reduced", "complete"}:
        raise ValueError("`mode` argument value not supported. Expected one of {'reduced', 'complete'}. "
                         f"Received: mode={mode}")
    a, out = _matrices("qr", x, square=False)
    q, r = np.linalg.qr(a, mode=mode)
    return q.astype(out), r.astype(out)


def solve(a, b):
    """x with a @ x = b; b (..., M) or (..., M, K), batch axes broadcast."""
    a, out = _matrices("solve", a)
    b, vector = _rhs("solve", a, b)
    if vector:
        return np.linalg.solve(a, b[..., None])[..., 0].astype(out)
    return np.linalg.solve(a, b).astype(out)


def solve_triangular(a, b, lower=False):
    """solve with a's upper (lower: lower) triangle; the other triangle is not read."""
    a, out = _matrices("solve_triangular", a)
    b, _ = _rhs("solve_triangular", a, b)
    t = np.tril(a) if lower else np.triu(a)
    if b.ndim == a.ndim - 1:  # Keras's rule here: one rank less is a (batch of) vector(s)
        return np.linalg.solve(t, b[..., None])[..., 0].astype(out)
    return np.linalg.solve(t, b).astype(out)


def svd(x, full_matrices=True, compute_uv=True):
    """(u, s, vh) with x = u @ diag(s) @ vh, s descending; s alone when not compute_uv."""
    a, out = _matrices("svd", x, square=False)
    if not compute_uv:
        return np.linalg.svd(a, compute_uv=False).astype(out)
    u, s, vh = np.linalg.svd(a, full_matrices=bool(full_matrices))
    return u.astype(out), s.astype(out), vh.astype(out)


def _default_rtol(a, out):
    return max(a.shape[-2:]) * np.finfo(out).eps


def lstsq(a, b, rcond=None):
    """The minimum-norm least-squares solution of a @ x = b (a (M, N), b (M,) or (M, K)); singular values
    below rcond times the largest (default: max(M, N) * the input's epsilon) count as zero."""
    a, out = _matrices("lstsq", a, square=False)
    b, _ = _array("lstsq", b)
    if a.ndim != 2:
        raise ValueError(f"Expected a to have rank 2. Received: a.shape={a.shape}")
    if b.ndim not in (1, 2):
        raise ValueError(f"Expected b to have rank 1 or 2. Received: b.shape={b.shape}")
    if b.shape[0] != a.shape[0]:
        raise ValueError("Expected b.shape[0] to be equal to a.shape[0]. Received: "
                         f"a.shape={a.shape}, b.shape={b.shape}")
    rcond = _default_rtol(a, out) if rcond is None else float(rcond)
    return np.linalg.lstsq(a, b, rcond=rcond)[0].astype(out)


def matrix_rank(x, tol=None):
    """The number of singular values above tol (default: the largest times max(M, N) times the input's
    epsilon), int32."""
    a, out = _matrices("matrix_rank", x, square=False)
    s = np.linalg.svd(a, compute_uv=False)
    if tol is None:
        cut = s.max(axis=-1, initial=0.0, keepdims=True) * _default_rtol(a, out)
    else:
        cut = np.asarray(tol, np.float64)[..., None]
    return np.sum(s > cut, axis=-1).astype(np.int32)


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse (..., N, M): singular values at most rcond times the largest
    (default: max(M, N) * the input's epsilon) dropped."""
    a, out = _matrices("pinv", x, square=False)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    rtol = _default_rtol(a, out) if rcond is None else float(rcond)
    keep = s > rtol * s.max(axis=-1, initial=0.0, keepdims=True)
    s_inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (np.swapaxes(vh, -1, -2) * s_inv[..., None, :] @ np.swapaxes(u, -1, -2)).astype(out)


def slogdet(x):
    """(sign, log|det|) of square matrices (keras.ops.numpy.slogdet)."""
    a, out = _matrices("slogdet", x)
    sign, logabs = np.linalg.slogdet(a)
    return np.asarray(sign).astype(out), np.asarray(logabs).astype(out)


def logdet(x):
    """log det x: -inf for a singular matrix, nan for a negative determinant (as torch.logdet)."""
    eager_only("logdet", x)
    sign, logabs = slogdet(x)
    return np.where(sign > 0, logabs, np.where(sign == 0, -np.inf, np.nan)).astype(logabs.dtype)


def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode differentiation of a Python function: bigcore has no eager autodiff to run it."""
    raise NotImplementedError("ops.jvp is not supported by bigcore: forward-mode differentiation of a Python "
                              "function needs an eager autodiff engine, which bigcore does not have")
