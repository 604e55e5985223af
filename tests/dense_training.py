"""The losses, regularizers and optimizers through one Dense layer: `DenseTraining` trains a Dense
layer with known weights by train_on_batch and follows it step by step with the float64 reference
(tests/reference.py: forward, the batch loss as Keras reduces it, its analytic gradient wrt W and
b, weight penalties, the Keras optimizer rule); each step checks the loss and the new weights.

A loss case is (loss name, activation of the Dense layer, target kind, loss arguments); the target
kinds are those of `make_targets`. Used by test_training_kernels.py and test_losses_metrics.py.
"""

import numpy as np
import pytest

import bigcore
import reference as ref
from bigcore import layers, losses, optimizers, regularizers

LOSS_CLASSES = {
    "mse": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "huber": losses.Huber,
    "kl_divergence": losses.KLDivergence,
    "hinge": losses.Hinge,
    "squared_hinge": losses.SquaredHinge,
    "cosine_similarity": losses.CosineSimilarity,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "log_cosh": losses.LogCosh,
    "poisson": losses.Poisson,
    "categorical_hinge": losses.CategoricalHinge,
}

# (l1, l2) by name
REGULARIZERS = {"l1": (0.03, 0.0), "l2": (0.0, 0.05), "l1_l2": (0.02, 0.04)}


def bigcore_regularizer(name):
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
    if kind == "pm1":
        return (2 * rng.integers(0, 2, shape) - 1).astype(np.float32)
    if kind == "onehot":
        return ref.one_hot(rng.integers(0, C, lead_shape), C).astype(np.float32)
    if kind == "simplex":
        return rng.dirichlet(np.ones(C), lead_shape).astype(np.float32)
    if kind == "sparse":
        return rng.integers(0, C, lead_shape).astype(np.float32)
    raise ValueError(kind)


def ref_loss_and_grad(kind, y, pred, loss_kw, sample_weight=None):
    """(batch loss, dloss/dpred) of any loss in LOSS_CLASSES, by the float64 reference."""
    if kind in ref.MORE_LOSSES:
        return ref.more_loss_and_grad(kind, y, pred, delta=loss_kw.get("delta", 1.0), sample_weight=sample_weight)
    return ref.loss_and_grad(kind, y, pred, sample_weight=sample_weight, **loss_kw)


class DenseTraining:
    """A one-Dense model with known weights and the float64 reference of the same training."""

    def __init__(self, loss_case, opt_case=("SGD", {"learning_rate": 0.1}), T=None, reg=None, bias_reg=None,
                 n=7, k_in=5, c_out=3, seed=0, opt_extra=None):
        self.kind, self.act, target_kind, self.loss_kw = loss_case
        rng = np.random.default_rng(seed)
        lead = (n,) if T is None else (n, T)
        self.x = rng.standard_normal(lead + (k_in,)).astype(np.float32)
        self.y = make_targets(target_kind, lead, c_out, rng)
        self.W = (rng.standard_normal((k_in, c_out)) * 0.5).astype(np.float32)
        self.b = (rng.standard_normal(c_out) * 0.1).astype(np.float32)
        self.reg = REGULARIZERS[reg] if reg else (0.0, 0.0)
        self.bias_reg = REGULARIZERS[bias_reg] if bias_reg else (0.0, 0.0)

        bigcore.utils.set_random_seed(seed)
        in_shape = (k_in,) if T is None else (T, k_in)
        self.model = bigcore.Sequential([layers.Dense(
            c_out, activation=self.act, input_shape=in_shape,
            kernel_regularizer=bigcore_regularizer(reg), bias_regularizer=bigcore_regularizer(bias_reg))])
        opt_name, opt_kw = opt_case
        opt_kw = {**opt_kw, **(opt_extra or {})}
        self.model.compile(optimizer=getattr(optimizers, opt_name)(**opt_kw),
                           loss=LOSS_CLASSES[self.kind](**self.loss_kw))
        self.model.set_weights([self.W, self.b])
        self.ref_opt = getattr(ref, opt_name)(**opt_kw)
        self.ref_weights = [self.W.astype(np.float64), self.b.astype(np.float64)]

    def ref_loss_and_grads(self, sample_weight=None):
        W, b = self.ref_weights
        pred = ref.dense_forward(self.x, W, b, self.act)
        loss, dpred = ref_loss_and_grad(self.kind, self.y, pred, self.loss_kw, sample_weight)
        loss += ref.regularization_loss([W], *self.reg) + ref.regularization_loss([b], *self.bias_reg)
        _, dW, db = ref.dense_backward(self.x, W, pred, dpred, self.act)
        dW += ref.regularizer_grad(W, *self.reg)
        db += ref.regularizer_grad(b, *self.bias_reg)
        return loss, [dW, db]

    def step(self, sample_weight=None):
        """One train_on_batch and one reference step; checks the loss and the new weights."""
        want_loss, grads = self.ref_loss_and_grads(sample_weight)
        got_loss = self.model.train_on_batch(self.x, self.y, sample_weight=sample_weight)
        assert got_loss == pytest.approx(want_loss, rel=1e-5, abs=1e-6), "loss"
        self.ref_weights = self.ref_opt.apply(self.ref_weights, grads)
        for g, w, name in zip(self.model.get_weights(), self.ref_weights, ("kernel", "bias")):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=f"{name} after the update")
        return grads
