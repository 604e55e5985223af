"""Training parity: bigcore against a NumPy re-implementation (always runs), against Keras 3 on the
torch backend and against PyTorch (each skipped where not installed).

Inputs are moderate (|x| ~ 0.5, glorot weights) so no probability falls below Keras's 1e-7 clip,
where Keras's CE-from-probabilities gradient and bigcore's fused softmax+CE gradient part ways.
"""

import numpy as np
import pytest

import bigcore
from bigcore import layers, optimizers
from layer_test import sgd_gradients

D, H, STEPS, BATCH = 20, 16, 5, 16

# Keras 3 on torch 2.13 + NumPy 2 warns from its own predict/fit internals (an __array__ without
# copy=); pyproject turns warnings into errors, so this one third-party warning is let through.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


# --- shared set-up --------------------------------------------------------------------------

# (output width, output activation, loss)
CASES = {
    "softmax_sparse_ce": (5, "softmax", "sparse_categorical_crossentropy"),
    "softmax_ce": (5, "softmax", "categorical_crossentropy"),
    "sigmoid_bce": (1, "sigmoid", "binary_crossentropy"),
    "linear_mse": (3, "linear", "mse"),
}

# The same constructor on bigcore.optimizers and keras.optimizers.
OPTIMIZERS = {
    "adam": lambda o: o.Adam(),
    "adam_amsgrad": lambda o: o.Adam(learning_rate=0.01, amsgrad=True),
    "sgd": lambda o: o.SGD(learning_rate=0.1),
    "sgd_momentum": lambda o: o.SGD(learning_rate=0.01, momentum=0.9),
    "sgd_nesterov": lambda o: o.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
    "rmsprop": lambda o: o.RMSprop(),
    "rmsprop_centered_momentum": lambda o: o.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    "adagrad": lambda o: o.Adagrad(learning_rate=0.05),
}


def case_data(case, n=STEPS * BATCH, seed=0):
    width, _, loss = CASES[case]
    rng = np.random.default_rng(seed)
    x = (0.5 * rng.normal(size=(n, D))).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, width, n)
    elif loss == "categorical_crossentropy":
        y = np.eye(width, dtype=np.float32)[rng.integers(0, width, n)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n, 1)).astype(np.float32)
    else:
        y = rng.normal(size=(n, width)).astype(np.float32)
    return x, y


def bigcore_mlp(case, optimizer, seed=0):
    width, act, loss = CASES[case]
    bigcore.utils.set_random_seed(seed)
    m = bigcore.Sequential([layers.Dense(H, activation="relu", input_shape=(D,)),
                            layers.Dense(H, activation="relu"), layers.Dense(width, activation=act)])
    m.compile(optimizer=OPTIMIZERS[optimizer](optimizers), loss=loss)
    return m


def batches(x, y):
    return [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]


def assert_weights_close(got, expected, rtol, atol):
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"weight {i}")


# --- NumPy reference (float64): forward, backward and Keras's optimizer updates ----------------

def np_forward(ws, x, acts):
    hs = [x.astype(np.float64)]
    for (k, b), act in zip(zip(ws[::2], ws[1::2]), acts):
        z = hs[-1] @ k + b
        if act == "relu":
            z = np.maximum(z, 0)
        elif act == "tanh":
            z = np.tanh(z)
        elif act == "sigmoid":
            z = 1 / (1 + np.exp(-z))
        elif act == "softmax":
            z = np.exp(z - z.max(1, keepdims=True))
            z /= z.sum(1, keepdims=True)
        hs.append(z)
    return hs


def np_loss_and_grads(ws, x, y, acts, loss):
    """Keras's mean loss and its gradient for every weight (kernel, bias, ...)."""
    hs = np_forward(ws, x, acts)
    p, n = hs[-1], len(x)
    if loss == "sparse_categorical_crossentropy":
        value = -np.log(p[np.arange(n), y]).mean()
        dz = p.copy()
        dz[np.arange(n), y] -= 1
        dz /= n
    elif loss == "binary_crossentropy":
        value = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        dz = (p - y) / (n * p.shape[1])
    else:  # mse, linear output
        value = np.mean((p - y) ** 2)
        dz = 2 * (p - y) / p.size
    grads = [None] * len(ws)
    for layer in range(len(acts) - 1, -1, -1):
        k = ws[2 * layer]
        grads[2 * layer] = hs[layer].T @ dz
        grads[2 * layer + 1] = dz.sum(0)
        if layer:
            dh = dz @ k.T
            h = hs[layer]
            dz = dh * (h > 0) if acts[layer - 1] == "relu" else dh * (1 - h ** 2)
    return value, grads


class NumpyKerasOptimizer:
    """Keras 3's update rules (keras/src/optimizers/*.py update_step), float64."""

    def __init__(self, kind, lr, **kw):
        self.kind, self.lr, self.kw, self.t, self.state = kind, lr, kw, 0, None

    def step(self, ws, gs):
        if self.state is None:
            self.state = [[np.zeros_like(w) for w in ws] for _ in range(3)]
        self.t += 1
        lr, kw, t = self.lr, self.kw, self.t
        for i, (w, g) in enumerate(zip(ws, gs)):
            s0, s1, s2 = (s[i] for s in self.state)
            if self.kind == "adam":
                b1, b2, eps = 0.9, 0.999, 1e-7
                alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                s0 += (g - s0) * (1 - b1)
                s1 += (g * g - s1) * (1 - b2)
                w -= alpha * s0 / (np.sqrt(s1) + eps)
            elif self.kind == "sgd":
                mu = kw.get("momentum", 0.0)
                s0[...] = mu * s0 - lr * g
                w += s0
            elif self.kind == "rmsprop":
                rho, eps = 0.9, 1e-7
                s0[...] = rho * s0 + (1 - rho) * g * g
                w -= lr * g / np.sqrt(s0 + eps)


NUMPY_OPTIMIZERS = {
    "adam": (lambda: optimizers.Adam(0.01), lambda: NumpyKerasOptimizer("adam", 0.01)),
    "sgd_momentum": (lambda: optimizers.SGD(0.1, momentum=0.9), lambda: NumpyKerasOptimizer("sgd", 0.1, momentum=0.9)),
    "rmsprop": (lambda: optimizers.RMSprop(0.01), lambda: NumpyKerasOptimizer("rmsprop", 0.01)),
}


@pytest.mark.parametrize("optimizer", sorted(NUMPY_OPTIMIZERS))
def test_train_step_matches_numpy(optimizer):
    """Whole native train steps (forward, loss, backward, update) against float64 NumPy."""
    make_bigcore, make_ref = NUMPY_OPTIMIZERS[optimizer]
    bigcore.utils.set_random_seed(3)
    acts = ["tanh", "softmax"]  # tanh: no gradient sits on a relu kink
    m = bigcore.Sequential([layers.Dense(5, activation="tanh", input_shape=(4,)),
                            layers.Dense(3, activation="softmax")])
    m.compile(optimizer=make_bigcore(), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    y = rng.integers(0, 3, (3, 6))

    ws = [w.astype(np.float64) for w in m.get_weights()]
    ref = make_ref()
    for step in range(3):
        loss, grads = np_loss_and_grads(ws, x[step], y[step], acts, "sparse_categorical_crossentropy")
        ref.step(ws, grads)
        assert m.train_on_batch(x[step], y[step]) == pytest.approx(loss, rel=1e-5)
    assert_weights_close(m.get_weights(), ws, rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", ["sigmoid_bce", "linear_mse"])
def test_loss_gradients_match_numpy(case):
    """One plain SGD step (lr 1) exposes the gradient of each loss through its output activation."""
    width, act, loss = CASES[case]
    bigcore.utils.set_random_seed(5)
    m = bigcore.Sequential([layers.Dense(6, activation="tanh", input_shape=(4,)),
                            layers.Dense(width, activation=act)])
    m.compile(optimizer=optimizers.SGD(1.0), loss=loss)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(7, 4)).astype(np.float32)
    _, y = case_data(case, n=7, seed=6)
    w0 = [w.astype(np.float64) for w in m.get_weights()]
    value, grads = np_loss_and_grads(w0, x, y, ["tanh", act], loss)
    got_value, got = sgd_gradients(m, x, y)
    assert got_value == pytest.approx(value, rel=1e-5)
    assert_weights_close(got, grads, rtol=1e-4, atol=1e-6)


# --- Keras 3 (torch backend) ----------------------------------------------------------------

def keras_mlp(keras, case, optimizer, weights):
    width, act, loss = CASES[case]
    km = keras.Sequential([keras.Input((D,)), keras.layers.Dense(H, activation="relu"),
                           keras.layers.Dense(H, activation="relu"), keras.layers.Dense(width, activation=act)])
    km.set_weights(weights)  # kernel layout [in, out] in both
    km.compile(optimizer=OPTIMIZERS[optimizer](keras.optimizers), loss=loss)
    return km


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_train_on_batch_matches_keras(keras, case, optimizer):
    m = bigcore_mlp(case, optimizer)
    km = keras_mlp(keras, case, optimizer, m.get_weights())
    x, y = case_data(case)
    np.testing.assert_allclose(m.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for step, (xb, yb) in enumerate(batches(x, y)):
        got, want = m.train_on_batch(xb, yb), float(km.train_on_batch(xb, yb))
        assert got == pytest.approx(want, rel=1e-4, abs=1e-6), f"step {step}"
    assert_weights_close(m.get_weights(), km.get_weights(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["softmax_sparse_ce", "linear_mse"])
def test_fit_and_evaluate_match_keras(keras, case):
    """Two epochs of fit (unshuffled, ragged last batch) and evaluate agree with Keras."""
    m = bigcore_mlp(case, "adam")
    km = keras_mlp(keras, case, "adam", m.get_weights())
    x, y = case_data(case, n=70)
    h = m.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    kh = km.fit(x, y, epochs=2, batch_size=BATCH, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-4)
    assert_weights_close(m.get_weights(), km.get_weights(), rtol=1e-4, atol=1e-5)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(km.evaluate(x, y, verbose=0), rel=1e-4)


def test_sample_and_class_weight_match_keras(keras):
    case = "softmax_sparse_ce"
    m = bigcore_mlp(case, "sgd")
    km = keras_mlp(keras, case, "sgd", m.get_weights())
    x, y = case_data(case, n=BATCH)
    sw = np.linspace(0.0, 2.0, BATCH).astype(np.float32)
    assert m.train_on_batch(x, y, sample_weight=sw) == pytest.approx(
        float(km.train_on_batch(x, y, sample_weight=sw)), rel=1e-5)
    cw = {0: 0.5, 1: 2.0, 2: 1.0, 3: 3.0, 4: 0.25}
    assert m.train_on_batch(x, y, class_weight=cw) == pytest.approx(
        float(km.train_on_batch(x, y, class_weight=cw)), rel=1e-5)
    assert_weights_close(m.get_weights(), km.get_weights(), rtol=1e-4, atol=1e-6)


# --- PyTorch --------------------------------------------------------------------------------

TORCH_CASES = {  # bigcore output activation + loss  <->  torch loss on the last Linear's output
    "softmax_sparse_ce": "CrossEntropyLoss",
    "sigmoid_bce": "BCEWithLogitsLoss",
    "linear_mse": "MSELoss",
}


def torch_mlp(torch, weights):
    width = weights[-1].shape[0]
    net = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, H),
                              torch.nn.ReLU(), torch.nn.Linear(H, width))
    linears = [net[0], net[2], net[4]]
    with torch.no_grad():
        for lin, k, b in zip(linears, weights[::2], weights[1::2]):
            lin.weight.copy_(torch.from_numpy(k.T.copy()))  # torch Linear weight is [out, in]
            lin.bias.copy_(torch.from_numpy(b))
    return net, linears


def torch_weights(linears):
    out = []
    for lin in linears:
        out += [lin.weight.detach().numpy().T, lin.bias.detach().numpy()]
    return out


def torch_train(torch, net, opt, loss_name, x, y, steps):
    loss_fn = getattr(torch.nn, loss_name)()
    losses = []
    for xb, yb in batches(x, y)[:steps]:
        target = torch.from_numpy(np.asarray(yb, np.int64 if loss_name == "CrossEntropyLoss" else np.float32))
        opt.zero_grad()
        loss = loss_fn(net(torch.from_numpy(xb)), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# Keras/bigcore momentum m = mu*m - lr*g, w += m is torch's buf = mu*buf + g, w -= lr*buf with
# m = -lr*buf while lr is constant; nesterov likewise. So SGD matches torch to float32 rounding.
TORCH_SGD = {
    "sgd": (lambda: optimizers.SGD(0.1), {"lr": 0.1}),
    "sgd_momentum": (lambda: optimizers.SGD(0.05, momentum=0.9), {"lr": 0.05, "momentum": 0.9}),
    "sgd_nesterov": (lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                     {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
}


def bigcore_for_torch(case, opt):
    width, act, loss = CASES[case]
    bigcore.utils.set_random_seed(1)
    m = bigcore.Sequential([layers.Dense(H, activation="relu", input_shape=(D,)),
                            layers.Dense(H, activation="relu"), layers.Dense(width, activation=act)])
    m.compile(optimizer=opt, loss=loss)
    return m


@pytest.mark.parametrize("optimizer", sorted(TORCH_SGD))
@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_sgd_matches_torch(torch, case, optimizer):
    make_bigcore, torch_kw = TORCH_SGD[optimizer]
    m = bigcore_for_torch(case, make_bigcore())
    net, linears = torch_mlp(torch, m.get_weights())
    x, y = case_data(case)
    losses = torch_train(torch, net, torch.optim.SGD(net.parameters(), **torch_kw), TORCH_CASES[case], x, y, 3)
    got = [m.train_on_batch(xb, yb) for xb, yb in batches(x, y)[:3]]
    np.testing.assert_allclose(got, losses, rtol=1e-5)
    assert_weights_close(m.get_weights(), torch_weights(linears), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [1e-7, 1e-10])
def test_adam_close_to_torch(torch, eps):
    """Keras's Adam (bigcore's) adds eps to sqrt(v) before the bias correction of v; torch adds it
    after: w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). Keras's effective epsilon is thus
    eps/sqrt(1-b2^t), ~32x eps at step 1. With eps=1e-7, weights whose gradient is ~1e-6 (relu units
    that fire for few samples) take visibly different steps: up to ~1/3 of lr over 3 steps here. So
    at eps=1e-7 the check is loose (half a step; a wrong bias correction of m is off by ~9 steps at
    t=1), and at eps=1e-10, where placement no longer matters, it is tight (float32 gradients)."""
    case = "softmax_sparse_ce"
    lr = 0.01
    m = bigcore_for_torch(case, optimizers.Adam(lr, epsilon=eps))
    net, linears = torch_mlp(torch, m.get_weights())
    w0 = m.get_weights()
    x, y = case_data(case)
    losses = torch_train(torch, net, torch.optim.Adam(net.parameters(), lr=lr, eps=eps),
                         TORCH_CASES[case], x, y, 3)
    got = [m.train_on_batch(xb, yb) for xb, yb in batches(x, y)[:3]]
    np.testing.assert_allclose(got, losses, rtol=1e-3 if eps > 1e-9 else 1e-5)
    atol = 0.5 * lr if eps > 1e-9 else 2e-5
    assert_weights_close(m.get_weights(), torch_weights(linears), rtol=0, atol=atol)
    assert max(np.abs(a - b).max() for a, b in zip(m.get_weights(), w0)) > 2 * lr  # it did move
