"""The native losses, regularizers, gradient clipping and optimizer updates, through the model API.

A single Dense layer with known weights takes 1-3 train_on_batch steps; tests/reference.py
computes the same steps in float64 (forward, the batch loss as Keras reduces it, its
analytic gradient wrt W and b, the Keras optimizer rule) and the two must agree.
"""

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore import layers, losses, metrics, optimizers, regularizers

N_SAMPLES, K_IN, C_OUT, T_STEPS = 7, 5, 3, 4
ATOL = 1e-5

LOSS_CLASSES = {
    "mse": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
}

# (loss, activation of the Dense layer, target kind, loss arguments)
LOSS_CASES = {
    "mse": ("mse", "linear", "real", {}),
    "mse_tanh": ("mse", "tanh", "real", {}),
    "mae": ("mae", "linear", "real", {}),
    "mae_sigmoid": ("mae", "sigmoid", "unit", {}),
    "bce_sigmoid": ("binary_crossentropy", "sigmoid", "binary", {}),
    "bce_sigmoid_soft_targets": ("binary_crossentropy", "sigmoid", "unit", {}),
    "bce_sigmoid_smoothing": ("binary_crossentropy", "sigmoid", "binary", {"label_smoothing": 0.2}),
    "bce_logits": ("binary_crossentropy", "linear", "binary", {"from_logits": True}),
    "bce_logits_smoothing": ("binary_crossentropy", "linear", "binary",
                             {"from_logits": True, "label_smoothing": 0.1}),
    "bce_softmax_unfused": ("binary_crossentropy", "softmax", "binary", {}),
    "cce_softmax": ("categorical_crossentropy", "softmax", "onehot", {}),
    "cce_softmax_soft_targets": ("categorical_crossentropy", "softmax", "simplex", {}),
    "cce_softmax_smoothing": ("categorical_crossentropy", "softmax", "onehot", {"label_smoothing": 0.1}),
    "cce_logits": ("categorical_crossentropy", "linear", "onehot", {"from_logits": True}),
    "cce_logits_smoothing": ("categorical_crossentropy", "linear", "onehot",
                             {"from_logits": True, "label_smoothing": 0.15}),
    "sparse_softmax": ("sparse_categorical_crossentropy", "softmax", "sparse", {}),
    "sparse_logits": ("sparse_categorical_crossentropy", "linear", "sparse", {"from_logits": True}),
    "sparse_softmax_smoothing": ("sparse_categorical_crossentropy", "softmax", "sparse",
                                 {"label_smoothing": 0.1}),
    "cce_sigmoid_unfused": ("categorical_crossentropy", "sigmoid", "onehot", {}),
}

# Cases where bigcore is known to be wrong (the reference gradient is checked on them too).
KNOWN_BUGS = {}


def loss_params(keys=None):
    """LOSS_CASES as pytest params, with the known bugs marked xfail."""
    return [pytest.param(LOSS_CASES[k], id=k, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[k])]
                         if k in KNOWN_BUGS else [])
            for k in (keys or LOSS_CASES)]


# (class name in both bigcore.optimizers and reference, constructor arguments)
OPTIMIZER_CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.8, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.02}),
    "adam_betas_eps": ("Adam", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.8, "epsilon": 0.1}),
    # a short beta_2 lets v shrink between steps, so v_hat = max(v_hat, v) matters
    "adam_amsgrad": ("Adam", {"learning_rate": 0.05, "beta_2": 0.3, "amsgrad": True}),
    "adam_weight_decay": ("Adam", {"learning_rate": 0.02, "weight_decay": 0.5}),
    "adamw": ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.9}),
    "adamw_default_decay": ("AdamW", {"learning_rate": 0.02}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_momentum": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "rho": 0.8}),
    "rmsprop_large_eps": ("RMSprop", {"learning_rate": 0.01, "epsilon": 0.05}),  # eps inside the sqrt
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    "rmsprop_centered_momentum": ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adagrad_initial_accumulator": ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.01,
                                                "epsilon": 1e-3}),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.3}),
}

REGULARIZERS = {"l1": (0.03, 0.0), "l2": (0.0, 0.05), "l1_l2": (0.02, 0.04)}


def _bigcore_regularizer(name):
    if name is None:
        return None
    l1, l2 = REGULARIZERS[name]
    return {"l1": lambda: regularizers.l1(l1), "l2": lambda: regularizers.l2(l2),
            "l1_l2": lambda: regularizers.l1_l2(l1, l2)}[name]()


def make_targets(kind, lead_shape, C, rng):
    """lead_shape: (batch,) or (batch, T); class ids for 'sparse', else (..., C)."""
    shape = tuple(lead_shape) + (C,)
    if kind == "real":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "unit":
        return rng.uniform(0.05, 0.95, shape).astype(np.float32)
    if kind == "binary":
        return rng.integers(0, 2, shape).astype(np.float32)
    if kind == "onehot":
        return ref.one_hot(rng.integers(0, C, lead_shape), C).astype(np.float32)
    if kind == "simplex":
        return rng.dirichlet(np.ones(C), lead_shape).astype(np.float32)
    if kind == "sparse":
        return rng.integers(0, C, lead_shape).astype(np.float32)
    raise ValueError(kind)


class Setup:
    """A one-Dense model with known weights and the float64 reference of the same training."""

    def __init__(self, loss_case, opt_case=("SGD", {"learning_rate": 0.1}), T=None, reg=None,
                 bias_reg=None, n=N_SAMPLES, seed=0, opt_extra=None):
        kind, self.act, target_kind, self.loss_kw = loss_case
        self.kind = kind
        rng = np.random.default_rng(seed)
        lead = (n,) if T is None else (n, T)
        self.x = rng.standard_normal(lead + (K_IN,)).astype(np.float32)
        self.y = make_targets(target_kind, lead, C_OUT, rng)
        self.W = (rng.standard_normal((K_IN, C_OUT)) * 0.5).astype(np.float32)
        self.b = (rng.standard_normal(C_OUT) * 0.1).astype(np.float32)
        self.reg = REGULARIZERS[reg] if reg else (0.0, 0.0)
        self.bias_reg = REGULARIZERS[bias_reg] if bias_reg else (0.0, 0.0)

        bigcore.utils.set_random_seed(seed)
        in_shape = (K_IN,) if T is None else (T, K_IN)
        self.model = bigcore.Sequential([layers.Dense(
            C_OUT, activation=self.act, input_shape=in_shape,
            kernel_regularizer=_bigcore_regularizer(reg), bias_regularizer=_bigcore_regularizer(bias_reg))])
        opt_name, opt_kw = opt_case
        opt_kw = {**opt_kw, **(opt_extra or {})}
        self.model.compile(optimizer=getattr(optimizers, opt_name)(**opt_kw),
                           loss=LOSS_CLASSES[kind](**self.loss_kw))
        self.model.set_weights([self.W, self.b])
        self.ref_opt = getattr(ref, opt_name)(**opt_kw)
        self.ref_weights = [self.W.astype(np.float64), self.b.astype(np.float64)]

    def ref_loss_and_grads(self, sample_weight=None):
        W, b = self.ref_weights
        pred = ref.dense_forward(self.x, W, b, self.act)
        loss, dpred = ref.loss_and_grad(self.kind, self.y, pred, sample_weight=sample_weight, **self.loss_kw)
        loss += ref.regularization_loss([W], *self.reg) + ref.regularization_loss([b], *self.bias_reg)
        _, dW, db = ref.dense_backward(self.x, W, pred, dpred, self.act)
        dW += ref.regularizer_grad(W, *self.reg)
        db += ref.regularizer_grad(b, *self.bias_reg)
        return loss, [dW, db]

    def step(self, sample_weight=None):
        """One train_on_batch and one reference step; checks the loss and the new weights."""
        want_loss, grads = self.ref_loss_and_grads(sample_weight)
        got_loss = self.model.train_on_batch(self.x, self.y, sample_weight=sample_weight)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5, atol=ATOL)
        self.ref_weights = self.ref_opt.apply(self.ref_weights, grads)
        got = self.model.get_weights()
        for g, w, name in zip(got, self.ref_weights, ("kernel", "bias")):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=ATOL, err_msg=f"{name} after the update")
        return grads


# ---------------------------------------------------------------- the reference itself


@pytest.mark.parametrize("case", LOSS_CASES.values(), ids=LOSS_CASES.keys())
@pytest.mark.parametrize("T", [None, T_STEPS])
def test_reference_loss_gradient(case, T):
    """ref.loss_and_grad's analytic gradient (through the Dense layer) vs central differences."""
    kind, act, target_kind, kw = case
    rng = np.random.default_rng(1)
    lead = (N_SAMPLES,) if T is None else (N_SAMPLES, T)
    x = rng.standard_normal(lead + (K_IN,))
    y = make_targets(target_kind, lead, C_OUT, rng)
    W, b = rng.standard_normal((K_IN, C_OUT)) * 0.5, rng.standard_normal(C_OUT) * 0.1
    sw = rng.uniform(0.5, 2.0, N_SAMPLES)

    def loss_of(W_, b_):
        return ref.loss_value(kind, y, ref.dense_forward(x, W_, b_, act), sample_weight=sw, **kw)

    pred = ref.dense_forward(x, W, b, act)
    _, dpred = ref.loss_and_grad(kind, y, pred, sample_weight=sw, **kw)
    _, dW, db = ref.dense_backward(x, W, pred, dpred, act)
    ref.assert_grad_close(lambda v: loss_of(v, b), W, dW, rtol=1e-5, atol=1e-8)
    ref.assert_grad_close(lambda v: loss_of(W, v), b, db, rtol=1e-5, atol=1e-8)


def test_reference_loss_values_by_hand():
    """A few numbers worked out on paper, so the reference is not only checked against itself."""
    p = np.array([[0.2, 0.3, 0.5]])
    assert ref.loss_value("categorical_crossentropy", [[0, 0, 1]], p) == pytest.approx(-np.log(0.5))
    assert ref.loss_value("sparse_categorical_crossentropy", [1], p) == pytest.approx(-np.log(0.3))
    # unnormalized rows are renormalized first
    assert ref.loss_value("categorical_crossentropy", [[0, 0, 1]], 2 * p) == pytest.approx(-np.log(0.5))
    # clipped at 1e-7
    assert ref.loss_value("categorical_crossentropy", [[1, 0]], [[0.0, 1.0]]) == pytest.approx(-np.log(1e-7))
    assert ref.loss_value("binary_crossentropy", [[1.0, 0.0]], [[0.8, 0.4]]) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2)
    assert ref.loss_value("binary_crossentropy", [[1.0]], [[0.0]], from_logits=True) == pytest.approx(np.log(2))
    assert ref.loss_value("mse", [[1.0, 2.0], [0.0, 0.0]], [[2.0, 2.0], [0.0, 3.0]]) == pytest.approx((0.5 + 4.5) / 2)
    assert ref.loss_value("mae", [[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(1.5)
    # label smoothing 0.3 over 3 classes: targets become [0.1, 0.1, 0.8]
    want = -(0.1 * np.log(0.2) + 0.1 * np.log(0.3) + 0.8 * np.log(0.5))
    assert ref.loss_value("categorical_crossentropy", [[0, 0, 1]], p, label_smoothing=0.3) == pytest.approx(want)


def test_reference_optimizers_by_hand():
    w, g = [np.array([1.0, -2.0])], [np.array([0.5, 0.25])]
    np.testing.assert_allclose(ref.SGD(0.1).apply(w, g)[0], [0.95, -2.025])
    # Adam's first step moves each weight by lr * (1 - b1) g / ((1 - b1) |g|) ~= lr * sign(g)
    np.testing.assert_allclose(ref.Adam(0.01).apply(w, g)[0], [0.99, -2.01], rtol=1e-6)
    # Adagrad: acc = 0.1 + g^2
    np.testing.assert_allclose(ref.Adagrad(0.1).apply(w, g)[0],
                               [1 - 0.05 / np.sqrt(0.35 + 1e-7), -2 - 0.025 / np.sqrt(0.1625 + 1e-7)])
    np.testing.assert_allclose(ref.clip_gradients([np.array([3.0, 4.0])], clipnorm=1.0)[0], [0.6, 0.8])
    np.testing.assert_allclose(
        ref.clip_gradients([np.array([3.0]), np.array([4.0])], global_clipnorm=2.5), [[1.5], [2.0]])


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("loss_case", loss_params())
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_loss_and_sgd_steps(loss_case, T):
    s = Setup(loss_case, T=T)
    for _ in range(3):
        s.step()


@pytest.mark.parametrize("loss_case", loss_params(["mse", "mae", "bce_sigmoid", "cce_softmax", "sparse_logits"]))
@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
def test_sample_weight(loss_case, T):
    """Per-sample weights scale each sample's rows; the mean stays over all rows."""
    s = Setup(loss_case, T=T)
    sw = np.array([0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 0.25], np.float32)
    for _ in range(2):
        s.step(sample_weight=sw)


@pytest.mark.parametrize("loss_case", loss_params(["cce_softmax", "sparse_softmax", "bce_sigmoid"]))
def test_evaluate_loss_matches_reference(loss_case):
    """evaluate() over several batches (one partial) = the loss on all rows, no update."""
    s = Setup(loss_case, n=23)
    want, _ = s.ref_loss_and_grads()
    got = s.model.evaluate(s.x, s.y, batch_size=8, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=ATOL)
    np.testing.assert_array_equal(s.model.get_weights()[0], s.W)
    np.testing.assert_allclose(s.model.predict(s.x, verbose=0),
                               ref.dense_forward(s.x, s.W, s.b, s.act), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("T", [None, T_STEPS], ids=["2d", "3d"])
@pytest.mark.parametrize("loss_case", loss_params(["mse", "mae", "bce_logits_smoothing", "cce_softmax",
                                                   "cce_logits", "sparse_logits", "sparse_softmax"]))
def test_loss_object_called_on_arrays(loss_case, T):
    """loss(y_true, y_pred[, sample_weight]) on numpy arrays, as Keras allows."""
    kind, act, target_kind, kw = loss_case
    rng = np.random.default_rng(4)
    lead = (N_SAMPLES,) if T is None else (N_SAMPLES, T)
    y = make_targets(target_kind, lead, C_OUT, rng)
    pred = ref.act_forward(rng.standard_normal(lead + (C_OUT,)), act).astype(np.float32)
    sw = rng.uniform(0.5, 2.0, N_SAMPLES).astype(np.float32)
    loss = LOSS_CLASSES[kind](**kw)
    assert float(loss(y, pred)) == pytest.approx(ref.loss_value(kind, y, pred, **kw), rel=1e-5)
    assert float(loss(y, pred, sample_weight=sw)) == pytest.approx(
        ref.loss_value(kind, y, pred, sample_weight=sw, **kw), rel=1e-5)


# ---------------------------------------------------------------- optimizers


@pytest.mark.parametrize("opt_case", OPTIMIZER_CASES.values(), ids=OPTIMIZER_CASES.keys())
@pytest.mark.parametrize("loss_case", loss_params(["mse", "cce_softmax"]))
def test_optimizer_steps(opt_case, loss_case):
    s = Setup(loss_case, opt_case)
    for _ in range(3):
        s.step()


def test_amsgrad_case_exercises_v_hat():
    """The amsgrad case must differ from plain Adam, or its test could not catch a missing max()."""
    name, kw = OPTIMIZER_CASES["adam_amsgrad"]
    plain = Setup(LOSS_CASES["mse"], (name, {**kw, "amsgrad": False}))
    for _ in range(3):
        plain.step()
    ams = Setup(LOSS_CASES["mse"], (name, kw))
    for _ in range(3):
        ams.step()
    assert np.abs(plain.model.get_weights()[0] - ams.model.get_weights()[0]).max() > 1e-4


def test_learning_rate_schedule_callable():
    """A callable learning rate is evaluated at each iteration."""
    s = Setup(LOSS_CASES["mse"], ("SGD", {"learning_rate": lambda it: 0.1 / (1 + it)}))
    for it in range(3):
        s.ref_opt.lr = 0.1 / (1 + it)
        s.step()


# ---------------------------------------------------------------- regularization


@pytest.mark.parametrize("reg", REGULARIZERS)
@pytest.mark.parametrize("opt_case", [OPTIMIZER_CASES[k] for k in ("sgd", "adam", "rmsprop_centered")],
                         ids=["sgd", "adam", "rmsprop_centered"])
def test_kernel_regularizer(reg, opt_case):
    s = Setup(LOSS_CASES["cce_softmax"], opt_case, reg=reg)
    for _ in range(3):
        s.step()


@pytest.mark.parametrize("reg", REGULARIZERS)
def test_bias_regularizer_3d(reg):
    s = Setup(LOSS_CASES["sparse_softmax"], OPTIMIZER_CASES["sgd_momentum"], T=T_STEPS, reg="l2", bias_reg=reg)
    for _ in range(2):
        s.step()


def test_regularized_loss_includes_penalty_exactly():
    """The returned loss minus the data loss is l1 * sum|W| + l2 * sum W^2 of the pre-step weights."""
    plain = Setup(LOSS_CASES["mse"])
    reg = Setup(LOSS_CASES["mse"], reg="l1_l2")
    l1, l2 = REGULARIZERS["l1_l2"]
    penalty = l1 * np.abs(reg.W.astype(np.float64)).sum() + l2 * np.square(reg.W.astype(np.float64)).sum()
    diff = reg.model.train_on_batch(reg.x, reg.y) - plain.model.train_on_batch(plain.x, plain.y)
    assert diff == pytest.approx(penalty, rel=1e-5)


def test_l1_gradient_at_zero_weight_is_zero():
    """sign(0) = 0: an exactly-zero weight gets no l1 push, only its data gradient."""
    s = Setup(LOSS_CASES["mse"], reg="l1")
    s.W[0, :] = 0.0
    s.model.set_weights([s.W, s.b])
    s.ref_weights = [s.W.astype(np.float64), s.b.astype(np.float64)]
    s.step()


def _frozen_first_layer_model(reg):
    """Dense(4, trainable=False, kernel_regularizer=reg) -> Dense(3), known weights."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((K_IN, 4)).astype(np.float32), np.zeros(4, np.float32),
               rng.standard_normal((4, C_OUT)).astype(np.float32), np.zeros(C_OUT, np.float32)]
    bigcore.utils.set_random_seed(0)
    m = bigcore.Sequential([layers.Input(shape=(K_IN,)),
                            layers.Dense(4, trainable=False, kernel_regularizer=reg),
                            layers.Dense(C_OUT)])
    m.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    m.set_weights(weights)
    x = rng.standard_normal((N_SAMPLES, K_IN)).astype(np.float32)
    y = rng.standard_normal((N_SAMPLES, C_OUT)).astype(np.float32)
    return m, weights, x, y


def test_frozen_layer_is_not_updated():
    m, weights, x, y = _frozen_first_layer_model(None)
    m.train_on_batch(x, y)
    after = m.get_weights()
    np.testing.assert_array_equal(after[0], weights[0])
    np.testing.assert_array_equal(after[1], weights[1])
    assert not np.array_equal(after[2], weights[2])


def test_frozen_weights_add_no_regularization_loss():
    m, weights, x, y = _frozen_first_layer_model(regularizers.l2(0.1))
    W1, b1, W2, b2 = weights
    pred = ref.dense_forward(ref.dense_forward(x, W1, b1), W2, b2)
    want = ref.loss_value("mse", y, pred)
    assert m.train_on_batch(x, y) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- gradient clipping


CLIP_CASES = {
    # clipnorm is per tensor: 0.05 clips both gradients, 0.3 the kernel's but not the bias's
    "clipnorm_both": {"clipnorm": 0.05},
    "clipnorm_kernel_only": {"clipnorm": 0.3},
    "global_clipnorm": {"global_clipnorm": 0.2},
    "clipvalue": {"clipvalue": 0.02},
}


@pytest.mark.parametrize("clip", CLIP_CASES.values(), ids=CLIP_CASES.keys())
@pytest.mark.parametrize("opt_case", [OPTIMIZER_CASES[k] for k in ("sgd_momentum", "adam", "rmsprop")],
                         ids=["sgd_momentum", "adam", "rmsprop"])
@pytest.mark.parametrize("reg", [None, "l2"])
def test_gradient_clipping(clip, opt_case, reg):
    s = Setup(LOSS_CASES["cce_logits"], opt_case, reg=reg, opt_extra=clip)
    _, grads = s.ref_loss_and_grads()
    norms = [np.sqrt((g * g).sum()) for g in grads]
    # the case must actually clip (else it tests nothing)
    if "clipnorm" in clip:
        assert max(norms) > clip["clipnorm"]
    elif "global_clipnorm" in clip:
        assert np.sqrt(sum(n * n for n in norms)) > clip["global_clipnorm"]
    else:
        assert max(np.abs(g).max() for g in grads) > clip["clipvalue"]
    for _ in range(3):
        s.step()


def test_clipnorm_cases_clip_per_tensor():
    """clipnorm_both clips kernel and bias; clipnorm_kernel_only leaves the bias alone."""
    _, grads = Setup(LOSS_CASES["cce_logits"]).ref_loss_and_grads()
    kernel_norm, bias_norm = (np.sqrt((g * g).sum()) for g in grads)
    assert min(kernel_norm, bias_norm) > CLIP_CASES["clipnorm_both"]["clipnorm"]
    assert kernel_norm > CLIP_CASES["clipnorm_kernel_only"]["clipnorm"] > bias_norm


def test_only_one_clipping_option():
    with pytest.raises(ValueError):
        optimizers.SGD(clipnorm=1.0, clipvalue=0.5)


# ---------------------------------------------------------------- determinism across ISA paths


def test_training_bit_identical_on_every_isa(restore_isa):
    """The fused update, regularizer gradient and losses give the same bits on every ISA path."""
    results = {}
    for isa in ("ref", "avx2", "avx512"):
        try:
            bigcore.config.set_cpu_isa(isa)
        except ValueError:
            continue
        s = Setup(LOSS_CASES["sparse_softmax"], OPTIMIZER_CASES["adamw"], T=T_STEPS, reg="l1_l2")
        losses_seen = [s.model.train_on_batch(s.x, s.y) for _ in range(3)]
        results[isa] = (losses_seen, [w.tobytes() for w in s.model.get_weights()])
    if len(results) < 2:
        pytest.skip("only one ISA path on this CPU")
    first = results["ref"]
    for isa, r in results.items():
        assert r == first, f"training on {isa} differs from ref"


def test_training_bit_identical_across_thread_counts(restore_threads):
    """784 -> 128 -> 10 at batch 32: GEMMs split into tiles and the optimizer pass into chunks."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((32, 784)).astype(np.float32)
    y = rng.integers(0, 10, 32).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        bigcore.config.set_num_threads(threads)
        bigcore.utils.set_random_seed(1)
        m = bigcore.Sequential([layers.Dense(128, activation="relu", input_shape=(784,),
                                             kernel_regularizer=regularizers.l2(1e-4)),
                                layers.Dense(10, activation="softmax")])
        m.compile(optimizer=optimizers.Adam(learning_rate=1e-3, global_clipnorm=1.0),
                  loss="sparse_categorical_crossentropy")
        losses_seen = [m.train_on_batch(x, y) for _ in range(3)]
        results.append((losses_seen, [w.tobytes() for w in m.get_weights()]))
    assert results[0][0][2] < results[0][0][0]  # it trains
    for r in results[1:]:
        assert r == results[0]


# ---------------------------------------------------------------- metrics


def _evaluate_logs(loss_case, metric_list, T=None, n=23, seed=2):
    s = Setup(loss_case, T=T, n=n, seed=seed)
    s.model.compile(optimizer="sgd", loss=LOSS_CLASSES[s.kind](**s.loss_kw), metrics=metric_list)
    s.model.set_weights([s.W, s.b])
    logs = s.model.evaluate(s.x, s.y, batch_size=8, verbose=0, return_dict=True)
    return s, logs, s.model.predict(s.x, verbose=0)


ACCURACY_CASES = {
    "sparse": ("sparse_softmax", "sparse", None),
    "sparse_3d": ("sparse_logits", "sparse", T_STEPS),
    "categorical": ("cce_softmax", "categorical", None),
    "categorical_3d": ("cce_logits", "categorical", T_STEPS),
    "binary": ("bce_sigmoid", "binary", None),
    "binary_3d": ("bce_sigmoid", "binary", T_STEPS),
}


@pytest.mark.parametrize("case", ACCURACY_CASES.values(), ids=ACCURACY_CASES.keys())
def test_accuracy_on_evaluate(case):
    loss_key, acc_kind, T = case
    s, logs, pred = _evaluate_logs(LOSS_CASES[loss_key], ["accuracy"], T=T)
    np.testing.assert_allclose(pred, ref.dense_forward(s.x, s.W, s.b, s.act), rtol=1e-5, atol=1e-6)
    want = ref.accuracy(acc_kind, s.y, pred)
    assert 0.0 < want < 1.0  # a case where accuracy can be wrong both ways
    assert logs["accuracy"] == pytest.approx(want, abs=1e-12)
    want_loss, _ = s.ref_loss_and_grads()
    assert logs["loss"] == pytest.approx(want_loss, rel=1e-5)


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_binary_accuracy_threshold(threshold):
    s, logs, pred = _evaluate_logs(LOSS_CASES["bce_sigmoid"], [metrics.BinaryAccuracy(threshold=threshold)])
    assert logs["binary_accuracy"] == pytest.approx(ref.accuracy("binary", s.y, pred, threshold), abs=1e-12)


@pytest.mark.parametrize("T", [None, T_STEPS])
def test_regression_metrics_on_evaluate(T):
    s, logs, pred = _evaluate_logs(LOSS_CASES["mae"], ["mse", "mae"], T=T)
    e = pred.astype(np.float64) - s.y
    assert logs["mse"] == pytest.approx(np.mean(e * e), rel=1e-6)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(e)), rel=1e-6)
    assert logs["loss"] == pytest.approx(np.mean(np.abs(e)), rel=1e-5)


def test_train_on_batch_metrics_are_before_the_update():
    s = Setup(LOSS_CASES["sparse_softmax"], n=23)
    s.model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    s.model.set_weights([s.W, s.b])
    before = s.model.predict(s.x, verbose=0)
    loss, acc = s.model.train_on_batch(s.x, s.y)
    assert acc == pytest.approx(ref.accuracy("sparse", s.y, before), abs=1e-12)
    want_loss, _ = s.ref_loss_and_grads()
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert not np.array_equal(s.model.get_weights()[0], s.W)
