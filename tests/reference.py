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
    other_slots_init = None  # None: slot_init in every slot

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
            self.slots = [[np.full(w.shape, self.slot_init if k == 0 or self.other_slots_init is None
                                    else self.other_slots_init)
                           for k in range(self.n_slots)] for w in weights]
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


class Nadam(Optimizer):
    n_slots = 2  # m, v

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon

    def u(self, t):
        """Keras's momentum schedule u_t = beta_1 (1 - 0.5 * 0.96^t)."""
        return self.b1 * (1 - 0.5 * 0.96 ** t)

    def _update(self, w, g, s):
        m, v = s
        t = self.iterations + 1
        product = np.prod([self.u(k) for k in range(1, t + 1)])  # Keras's _u_product after this step
        m += (g - m) * (1 - self.b1)
        v += (g * g - v) * (1 - self.b2)
        m_hat = self.u(t + 1) * m / (1 - product * self.u(t + 1)) + (1 - self.u(t)) * g / (1 - product)
        w -= m_hat * self.lr / (np.sqrt(v / (1 - self.b2 ** t)) + self.eps)


class Adamax(Optimizer):
    n_slots = 2  # m, u

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon

    def _update(self, w, g, s):
        m, u = s
        t = self.iterations + 1
        m += (g - m) * (1 - self.b1)
        u[...] = np.maximum(self.b2 * u, np.abs(g))
        w -= self.lr * m / ((1 - self.b1 ** t) * (u + self.eps))


class Adadelta(Optimizer):
    n_slots = 2  # accumulated grad^2, accumulated delta^2

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.rho, self.eps = rho, epsilon

    def _update(self, w, g, s):
        acc_g, acc_d = s
        rho = self.rho
        acc_g[...] = rho * acc_g + (1 - rho) * g * g
        delta = -np.sqrt(acc_d + self.eps) * g / np.sqrt(acc_g + self.eps)
        acc_d[...] = rho * acc_d + (1 - rho) * delta * delta
        w += self.lr * delta


class Lion(Optimizer):
    n_slots = 1

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kw):
        super().__init__(learning_rate, **kw)
        self.b1, self.b2 = beta_1, beta_2

    def _update(self, w, g, s):
        m = s[0]
        w -= self.lr * np.sign(m * self.b1 + g * (1 - self.b1))
        m[...] = m * self.b2 + g * (1 - self.b2)


class Ftrl(Optimizer):
    n_slots = 2  # accumulator, linear
    other_slots_init = 0.0

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kw):
        super().__init__(learning_rate, **kw)
        self.slot_init = initial_accumulator_value
        self.p, self.l1, self.l2 = -learning_rate_power, l1_regularization_strength, l2_regularization_strength
        self.shrink, self.beta = l2_shrinkage_regularization_strength, beta

    def _update(self, w, g, s):
        acc, linear = s
        lr = self.lr
        new_acc = acc + g * g
        linear += g + 2 * self.shrink * w - (new_acc ** self.p - acc ** self.p) / lr * w
        quadratic = new_acc ** self.p / lr + 2 * (self.l2 + self.beta / (2 * lr))
        w[...] = (np.clip(linear, -self.l1, self.l1) - linear) / quadratic
        acc[...] = new_acc


class Lamb(Optimizer):
    n_slots = 2  # m, v

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon

    def _update(self, w, g, s):
        m, v = s
        t = self.iterations + 1
        m += (g - m) * (1 - self.b1)
        v += (g * g - v) * (1 - self.b2)
        update = (m / (1 - self.b1 ** t)) / (np.sqrt(v / (1 - self.b2 ** t)) + self.eps)
        w_norm, u_norm = np.sqrt((w * w).sum()), np.sqrt((update * update).sum())
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        w -= ratio * self.lr * update


class Adafactor(Optimizer):
    """Keras's Adafactor: r, c over the last two axes for rank >= 2 (kept after v in the slot list)."""
    n_slots = 1  # v

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, **kw):
        super().__init__(learning_rate, **kw)
        self.decay, self.eps1, self.eps2, self.clip_threshold = beta_2_decay, epsilon_1, epsilon_2, clip_threshold

    def _update(self, w, g, s):
        t = self.iterations + 1
        rho = min(self.lr, 1 / np.sqrt(t))
        alpha = max(self.eps2, np.sqrt((w * w).mean())) * rho
        sq = g * g + self.eps1
        b = 1 - t ** self.decay
        if w.ndim >= 2:
            if len(s) == 1:
                s += [np.zeros(w.shape[:-1]), np.zeros(w.shape[:-2] + w.shape[-1:])]
            v, r, c = s
            r[...] = b * r + (1 - b) * sq.mean(axis=-1)
            c[...] = b * c + (1 - b) * sq.mean(axis=-2)
            v[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = s[0]
            v[...] = b * v + (1 - b) * sq
        u = g / np.sqrt(v)
        w -= alpha * u / max(1.0, np.sqrt((u * u).mean()) / self.clip_threshold)


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


# --------------------------------------------------------------------------- more losses
# Keras 3's Huber, KLDivergence, Hinge, SquaredHinge and CosineSimilarity (keras/src/losses/losses.py),
# reduced like the losses above: a value per row, then the mean over all rows.

MORE_LOSSES = ("huber", "kl_divergence", "hinge", "squared_hinge", "cosine_similarity",
               "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "log_cosh", "poisson",
               "categorical_hinge")


def hinge_labels(y_true):
    """Keras's convert_binary_labels_to_hinge: if *every* label of the batch is 0 or 1, map to -1/1."""
    t = np.asarray(y_true, np.float64)
    return 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t


def _more_row_loss_and_grad(kind, t, p, delta):
    """Per-row loss (rows,) and dl/dp (rows, C) for t, p of shape (rows, C)."""
    C = p.shape[-1]
    if kind == "huber":
        e = p - t
        quad = np.abs(e) <= delta
        l = np.where(quad, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
        return l.mean(-1), np.where(quad, e, delta * np.sign(e)) / C
    if kind == "kl_divergence":
        tc, pc = np.clip(t, EPSILON, 1.0), np.clip(p, EPSILON, 1.0)
        inside = (p >= EPSILON) & (p <= 1.0)  # the clip passes its gradient at the bounds
        return (tc * np.log(tc / pc)).sum(-1), np.where(inside, -tc / pc, 0.0)
    if kind in ("hinge", "squared_hinge"):
        m = np.maximum(1.0 - t * p, 0.0)  # t already in -1/1 form
        if kind == "hinge":
            return m.mean(-1), np.where(m > 0, -t, 0.0) / C
        return (m * m).mean(-1), -2.0 * m * t / C
    if kind == "cosine_similarity":
        # normalize(x) = x * min(1 / |x|, 1 / eps)
        rt = np.minimum(1.0 / np.sqrt((t * t).sum(-1, keepdims=True)), 1.0 / EPSILON)
        inv = 1.0 / np.sqrt((p * p).sum(-1, keepdims=True))
        rp = np.minimum(inv, 1.0 / EPSILON)
        dot = (t * p).sum(-1, keepdims=True)
        g = np.where(inv < 1.0 / EPSILON, -rt * rp * (t - dot * rp * rp * p), -rt * rp * t)
        return -(dot * rt * rp)[:, 0], g
    if kind == "mean_absolute_percentage_error":
        den = np.maximum(np.abs(t), EPSILON)
        return 100.0 * (np.abs(t - p) / den).mean(-1), 100.0 * np.sign(p - t) / den / C
    if kind == "mean_squared_logarithmic_error":
        lp, lt = np.log(np.maximum(p, EPSILON) + 1.0), np.log(np.maximum(t, EPSILON) + 1.0)
        return ((lp - lt) ** 2).mean(-1), np.where(p > EPSILON, 2.0 * (lp - lt) / (p + 1.0), 0.0) / C
    if kind == "log_cosh":
        x = p - t
        return np.log(np.cosh(x)).mean(-1), np.tanh(x) / C
    if kind == "poisson":
        return (p - t * np.log(p + EPSILON)).mean(-1), (1.0 - t / (p + EPSILON)) / C
    if kind == "categorical_hinge":
        neg_terms = (1.0 - t) * p
        neg = neg_terms.max(-1, keepdims=True)
        m = neg - (t * p).sum(-1, keepdims=True) + 1.0
        at_max = neg_terms == neg
        g = -t + (1.0 - t) * at_max / at_max.sum(-1, keepdims=True)
        return np.maximum(m, 0.0)[:, 0], np.where(m > 0, g, 0.0)
    raise ValueError(f"unknown loss {kind!r}")


def more_loss_and_grad(kind, y_true, y_pred, delta=1.0, sample_weight=None):
    """Like loss_and_grad, for MORE_LOSSES: (batch loss, dloss/dy_pred)."""
    p = np.asarray(y_pred, np.float64)
    C = p.shape[-1]
    t = np.asarray(y_true, np.float64)
    if kind in ("hinge", "squared_hinge"):
        t = hinge_labels(t)
    p2, t2 = p.reshape(-1, C), t.reshape(-1, C)
    rows = p2.shape[0]
    l, g = _more_row_loss_and_grad(kind, t2, p2, delta)
    w = np.ones(rows)
    if sample_weight is not None:
        w = np.repeat(np.asarray(sample_weight, np.float64), rows // np.shape(sample_weight)[0])
    return float((w * l).sum() / rows), (g * w[:, None] / rows).reshape(p.shape)


# --------------------------------------------------------------------------- more metrics


def top_k_accuracy(y_true, y_pred, k=5, sparse=False):
    """Keras's (sparse_)top_k_categorical_accuracy, averaged over all rows: a hit when fewer than k
    scores are strictly above the target's (ties count as hits)."""
    p = np.asarray(y_pred, np.float64)
    C = p.shape[-1]
    p = p.reshape(-1, C)
    target = np.asarray(y_true).reshape(-1) if sparse else np.asarray(y_true).reshape(-1, C).argmax(-1)
    target = target.astype(np.int64)
    score = p[np.arange(len(p)), target]
    return float(((p > score[:, None]).sum(-1) < k).mean())


def confusion_counts(y_true, y_pred, thresholds):
    """(tp, fp, tn, fn) per threshold over every value, a prediction positive where
    float32(pred) > float32(threshold) (Keras's variables are float32), a label where nonzero."""
    p = np.asarray(y_pred, np.float32).reshape(-1)
    label = np.asarray(y_true).reshape(-1) != 0
    th = np.asarray(thresholds, np.float32)
    pos = p[None, :] > th[:, None]
    tp = (pos & label).sum(1)
    fp = (pos & ~label).sum(1)
    return (tp.astype(np.float64), fp.astype(np.float64),
            (~pos & ~label).sum(1).astype(np.float64), (~pos & label).sum(1).astype(np.float64))


def auc_thresholds(num_thresholds):
    """Keras's AUC thresholds: num_thresholds - 2 evenly spaced in (0, 1) and the ends -eps, 1 + eps."""
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [-EPSILON] + inner + [1.0 + EPSILON]


def _ratio(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def auc_from_counts(tp, fp, tn, fn, curve="ROC", summation_method="interpolation"):
    """Keras's AUC.result() from counts at ascending thresholds, term for term."""
    if curve == "PR" and summation_method == "interpolation":
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _ratio(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        safe = np.where((p[:-1] > 0) & (p[1:] > 0), _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return float(_ratio(slope * (dtp + intercept * np.log(safe)), np.maximum(tp[1:] + fn[1:], 0)).sum())
    recall = _ratio(tp, tp + fn)
    if curve == "ROC":
        x, y = _ratio(fp, fp + tn), recall
    elif curve == "PR":
        x, y = recall, _ratio(tp, tp + fp)
    else:  # PRGAIN
        scale = _ratio(tp + fn, tn + fp)
        x = np.maximum(np.where(tp == 0, 0.0, 1.0 - scale * _ratio(fn, tp)), 0.0)
        y = np.where(tp == 0, 1.0, 1.0 - scale * _ratio(fp, tp))
    heights = {"interpolation": (y[:-1] + y[1:]) / 2.0, "minoring": np.minimum(y[:-1], y[1:]),
               "majoring": np.maximum(y[:-1], y[1:])}[summation_method]
    return float(((x[:-1] - x[1:]) * heights).sum())


def roc_auc_exact(y_true, y_score):
    """The exact ROC AUC (Mann-Whitney: the chance a positive outscores a negative, ties half)."""
    s = np.asarray(y_score, np.float64).reshape(-1)
    label = np.asarray(y_true).reshape(-1) != 0
    pos, neg = s[label], s[~label]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


# --------------------------------------------------------------------------- schedules


def schedule_value(kind, step, **kw):
    """Keras's learning-rate schedules, written from their docstring formulas."""
    if kind == "ExponentialDecay":
        p = step / kw["decay_steps"]
        p = np.floor(p) if kw.get("staircase") else p
        return kw["initial_learning_rate"] * kw["decay_rate"] ** p
    if kind == "InverseTimeDecay":
        p = step / kw["decay_steps"]
        p = np.floor(p) if kw.get("staircase") else p
        return kw["initial_learning_rate"] / (1 + kw["decay_rate"] * p)
    if kind == "PiecewiseConstantDecay":
        b, v = kw["boundaries"], kw["values"]
        return v[int(np.searchsorted(b, step, side="left"))]  # values[i] for b[i-1] < step <= b[i]
    if kind == "PolynomialDecay":
        lr0, end, power, ds = (kw["initial_learning_rate"], kw.get("end_learning_rate", 1e-4),
                               kw.get("power", 1.0), kw["decay_steps"])
        if kw.get("cycle"):
            ds = ds * max(1.0, np.ceil(step / ds))
        else:
            step = min(step, ds)
        return (lr0 - end) * (1 - step / ds) ** power + end
    if kind == "CosineDecay":
        lr0, ds, alpha = kw["initial_learning_rate"], kw["decay_steps"], kw.get("alpha", 0.0)
        target, ws = kw.get("warmup_target"), kw.get("warmup_steps", 0)
        if target is None:
            target, ws = lr0, 0
        elif step < ws:
            return lr0 + (target - lr0) * step / ws
        s = min(step - ws, ds)
        return target * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * s / ds)) + alpha)
    raise ValueError(kind)


# -- Dropout's mask stream (core/rng.h drop_bits24) --

M32 = np.uint64(0xFFFFFFFF)


def hash32(x):
    """lowbias32 in uint64 arithmetic, kept to 32 bits."""
    x = x & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M32
    return x ^ (x >> np.uint64(16))


def dropout_bits24(key, idx):
    """The 24 bits of draw idx (uint64 array) of stream key: kept when bits / 2^24 >= rate."""
    key, idx = np.uint64(key), idx.astype(np.uint64)
    hi = (np.uint64(key >> np.uint64(32)) ^ (((idx >> np.uint64(32)) * np.uint64(0x9E3779B9)) & M32)) & M32
    return hash32(hash32(idx ^ (key & M32)) ^ hi) >> np.uint64(8)
