"""NumPy reference implementations (float64) of what bigcore computes natively.

Everything here follows Keras 3 term for term (keras/src/losses/losses.py,
keras/src/backend/*/nn.py, keras/src/optimizers/*.py) and is written to be read, not to be
fast. Tests compare bigcore's float32 results with these.

Conventions: `pred` / `y` arrays have the class (or unit) axis last; a "row" is one vector
along that axis, so a (batch, T, C) output has batch * T rows. Gradients are of the *batch*
loss (the mean over rows, Keras's "sum_over_batch_size").
"""

import numpy as np

EPSILON = 1e-7  # keras.backend.epsilon()

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
ACT_IDS = {name: i for i, name in enumerate(ACTIVATIONS)}  # cpp/common.h: enum Act


# --------------------------------------------------------------------------- activations


def act_forward(z, act):
    """y = act(z); softmax acts on the last axis."""
    z = np.asarray(z, np.float64)
    if act == "linear":
        return z.copy()
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "sigmoid":
        # exp(-|z|) never overflows; both branches are the exact logistic function
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if act == "tanh":
        return np.tanh(z)
    if act == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {act!r}")


def act_backward(dy, y, act):
    """dL/dz from dL/dy and the forward *output* y = act(z) (what the native kernel sees)."""
    dy = np.asarray(dy, np.float64)
    y = np.asarray(y, np.float64)
    if act == "linear":
        return dy.copy()
    if act == "relu":
        return np.where(y > 0, dy, 0.0)
    if act == "sigmoid":
        return dy * y * (1.0 - y)
    if act == "tanh":
        return dy * (1.0 - y * y)
    if act == "softmax":
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    raise ValueError(f"unknown activation {act!r}")


# --------------------------------------------------------------------------- dense


def dense_forward(x, W, b, act="linear"):
    """x (..., K), W (K, N), b (N) or None -> y (..., N) = act(x @ W + b)."""
    z = np.asarray(x, np.float64) @ np.asarray(W, np.float64)
    if b is not None:
        z = z + np.asarray(b, np.float64)
    return act_forward(z, act)


def dense_backward(x, W, y, dy, act="linear"):
    """Gradients of a loss through y = act(x @ W + b): returns (dx, dW, db).

    x (..., K), W (K, N), y (..., N) the forward output, dy = dL/dy (..., N).
    """
    x = np.asarray(x, np.float64)
    K, N = np.shape(W)
    dz = act_backward(dy, y, act).reshape(-1, N)
    x2 = x.reshape(-1, K)
    dW = x2.T @ dz
    db = dz.sum(axis=0)
    dx = (dz @ np.asarray(W, np.float64).T).reshape(x.shape)
    return dx, dW, db


# --------------------------------------------------------------------------- losses

LOSSES = ("mse", "mae", "binary_crossentropy", "categorical_crossentropy",
          "sparse_categorical_crossentropy")


def _clip(p):
    return np.clip(p, EPSILON, 1.0 - EPSILON)


def _inside(p):
    """Where the probability clip passes values through (its gradient is 1 there, else 0)."""
    return (p > EPSILON) & (p < 1.0 - EPSILON)


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


def one_hot(labels, C):
    labels = np.asarray(labels).astype(np.int64)
    return np.eye(C)[labels]


def _row_loss_and_grad(kind, t, p, from_logits, label_smoothing):
    """Per-row loss l (rows,) and dl/dp (rows, C) for t, p of shape (rows, C) (t dense)."""
    C = p.shape[-1]
    if kind == "mse":
        e = p - t
        return (e * e).mean(-1), 2.0 * e / C
    if kind == "mae":
        e = p - t
        return np.abs(e).mean(-1), np.sign(e) / C
    if kind == "binary_crossentropy":
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
        if from_logits:  # the stable form: max(z, 0) - z t + log(1 + exp(-|z|))
            z = p
            l = np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))
            return l.mean(-1), (act_forward(z, "sigmoid") - t) / C
        q = _clip(p)
        l = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
        g = np.where(_inside(p), -t / q + (1.0 - t) / (1.0 - q), 0.0)  # q is clipped: no 1/0
        return l.mean(-1), g / C
    if kind in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if label_smoothing:
            t = t * (1.0 - label_smoothing) + label_smoothing / C
        if from_logits:
            logq = _log_softmax(p)
            l = -(t * logq).sum(-1)
            g = np.exp(logq) * t.sum(-1, keepdims=True) - t
            return l, g
        # Keras renormalizes the row, then clips: l = -sum t log(clip(p / sum(p)))
        S = p.sum(-1, keepdims=True)
        q = p / S
        l = -(t * np.log(_clip(q))).sum(-1)
        gq = np.where(_inside(q), -t / _clip(q), 0.0)        # dl/dq (clip: no 1/0 where unused)
        g = (gq - (gq * q).sum(-1, keepdims=True)) / S        # through q = p / sum(p)
        return l, g
    raise ValueError(f"unknown loss {kind!r}")


def loss_and_grad(kind, y_true, y_pred, from_logits=False, label_smoothing=0.0, sample_weight=None):
    """The batch loss as Keras reduces it, and its gradient wrt y_pred.

    y_pred (..., C); y_true the same shape, or (...) class ids for the sparse loss.
    sample_weight (batch,) scales each sample's rows; the mean stays over all rows
    (Keras's sum_over_batch_size divides by the row count, not by the weights' sum).
    Returns (loss: float, dloss/dy_pred: array shaped like y_pred).
    """
    p = np.asarray(y_pred, np.float64)
    C = p.shape[-1]
    t = np.asarray(y_true, np.float64)
    if kind == "sparse_categorical_crossentropy":
        t = one_hot(t, C)
    p2, t2 = p.reshape(-1, C), t.reshape(-1, C)
    rows = p2.shape[0]
    l, g = _row_loss_and_grad(kind, t2, p2, from_logits, label_smoothing)
    w = np.ones(rows)
    if sample_weight is not None:
        per_sample = rows // np.shape(sample_weight)[0]
        w = np.repeat(np.asarray(sample_weight, np.float64), per_sample)
    loss = float((w * l).sum() / rows)
    return loss, (g * w[:, None] / rows).reshape(p.shape)


def loss_value(kind, y_true, y_pred, **kw):
    return loss_and_grad(kind, y_true, y_pred, **kw)[0]


# --------------------------------------------------------------------------- metrics


def accuracy(kind, y_true, y_pred, threshold=0.5):
    """Keras's sparse_categorical / categorical / binary accuracy, averaged over all rows."""
    p = np.asarray(y_pred, np.float64)
    if kind == "sparse":
        return float((p.argmax(-1) == np.asarray(y_true)).mean())
    if kind == "categorical":
        return float((p.argmax(-1) == np.asarray(y_true).argmax(-1)).mean())
    if kind == "binary":
        return float(((p > threshold).astype(np.float64) == np.asarray(y_true)).mean())
    raise ValueError(f"unknown accuracy {kind!r}")


# --------------------------------------------------------------------------- regularizers


def regularization_loss(weights, l1=0.0, l2=0.0):
    return float(sum(l1 * np.abs(w).sum() + l2 * np.square(w).sum()
                     for w in map(np.asarray, weights)))


def regularizer_grad(w, l1=0.0, l2=0.0):
    """d/dw (l1 * sum|w| + l2 * sum w^2), with sign(0) = 0."""
    w = np.asarray(w, np.float64)
    return 2.0 * l2 * w + l1 * np.sign(w)


# --------------------------------------------------------------------------- optimizers


def clip_gradients(grads, clipnorm=None, global_clipnorm=None, clipvalue=None):
    """Keras's BaseOptimizer._clip_gradients: clipnorm wins, then global_clipnorm, then clipvalue."""
    grads = [np.asarray(g, np.float64) for g in grads]
    if clipnorm:
        return [g * clipnorm / max(np.sqrt((g * g).sum()), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum((g * g).sum() for g in grads))
        return [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class Optimizer:
    """apply(weights, grads) updates float64 copies of the weights as Keras's optimizer does:
    clip the gradients, decay the weights (w -= w * wd * lr), then the per-variable rule."""

    n_slots = 0
    slot_init = 0.0

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.lr = learning_rate
        self.weight_decay = weight_decay
        self.clip = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        self.iterations = 0
        self.slots = None

    def apply(self, weights, grads):
        weights = [np.array(w, np.float64) for w in weights]
        grads = clip_gradients(grads, **self.clip)
        if self.slots is None:
            self.slots = [[np.full(w.shape, self.slot_init) for _ in range(self.n_slots)]
                          for w in weights]
        for w, g, s in zip(weights, grads, self.slots):
            if self.weight_decay:
                w -= w * self.weight_decay * self.lr
            self._update(w, g, s)
        self.iterations += 1
        return weights

    def _update(self, w, g, s):
        raise NotImplementedError


class SGD(Optimizer):
    n_slots = 1

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kw):
        super().__init__(learning_rate, **kw)
        self.momentum, self.nesterov = momentum, nesterov

    def _update(self, w, g, s):
        lr, mu = self.lr, self.momentum
        if mu == 0:
            w -= g * lr
            return
        m = s[0]
        m[...] = m * mu - g * lr
        w += m * mu - g * lr if self.nesterov else m


class Adam(Optimizer):
    n_slots = 3  # m, v, v_hat

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kw):
        super().__init__(learning_rate, **kw)
        self.b1, self.b2, self.eps, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _update(self, w, g, s):
        m, v, vhat = s
        t = self.iterations + 1
        alpha = self.lr * np.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
        m += (g - m) * (1 - self.b1)
        v += (g * g - v) * (1 - self.b2)
        if self.amsgrad:
            vhat[...] = np.maximum(vhat, v)
            v = vhat
        w -= m * alpha / (np.sqrt(v) + self.eps)


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kw):
        super().__init__(learning_rate, weight_decay=weight_decay, **kw)


class RMSprop(Optimizer):
    n_slots = 3  # velocity, momentum, average gradient

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kw):
        super().__init__(learning_rate, **kw)
        self.rho, self.momentum, self.eps, self.centered = rho, momentum, epsilon, centered

    def _update(self, w, g, s):
        vel, mom, avg = s
        rho = self.rho
        vel[...] = rho * vel + (1 - rho) * g * g
        if self.centered:
            avg[...] = rho * avg + (1 - rho) * g
            den = vel - avg * avg + self.eps
        else:
            den = vel + self.eps
        inc = self.lr * g / np.sqrt(den)
        if self.momentum > 0:
            mom[...] = self.momentum * mom + inc
            w -= mom
        else:
            w -= inc


class Adagrad(Optimizer):
    n_slots = 1

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.slot_init = initial_accumulator_value
        self.eps = epsilon

    def _update(self, w, g, s):
        acc = s[0]
        acc += g * g
        w -= self.lr * g / np.sqrt(acc + self.eps)


# --------------------------------------------------------------------------- gradient check


def numerical_grad(f, x, h=1e-6):
    """Central differences of the scalar function f at x, in float64: df/dx shaped like x."""
    x = np.array(x, np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2.0 * h)
    return g


def assert_grad_close(f, x, analytic, rtol=1e-6, atol=1e-8, h=1e-6):
    """Checks an analytic gradient of f at x against central differences."""
    np.testing.assert_allclose(analytic, numerical_grad(f, x, h), rtol=rtol, atol=atol)
