"""keras.ops.numpy's window functions, geomspace, array_split / hsplit / vsplit / dsplit, the complex
parts of real tensors, diagflat, vander and trapezoid: eager on arrays against Keras 3 and numpy, and
traced inside a custom layer's call() (with a gradient through trapezoid and vander)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers, ops
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 6, 3)).astype(np.float32)
V = np.array([-2.0, 0.0, 0.5, 3.0], np.float32)


def _np(t):
    if isinstance(t, (list, tuple)):
        return [_np(a) for a in t]
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)


CASES = [
    ("bartlett", (7,), {}), ("blackman", (6,), {}), ("hamming", (5,), {}), ("hanning", (8,), {}),
    ("kaiser", (6, 2.5), {}), ("geomspace", (1.0, 1000.0), {"num": 4}), ("geomspace", (2.0, 32.0, 5), {"endpoint": False}),
    ("array_split", (X, 4), {"axis": 1}), ("array_split", (X, 3), {"axis": 0}),
    ("vsplit", (X, 2), {}), ("hsplit", (X, 3), {}), ("dsplit", (X, 3), {}), ("hsplit", (V, 2), {}),
    ("real", (X,), {}), ("imag", (X,), {}), ("conj", (X,), {}), ("conjugate", (V,), {}), ("isreal", (V,), {}),
    ("angle", (V,), {}), ("diagflat", (np.arange(4.0, dtype=np.float32),), {}),
    ("diagflat", (np.ones((2, 2), np.float32),), {"k": -1}), ("vander", (V,), {}), ("vander", (V, 3), {"increasing": True}),
    ("trapezoid", (X,), {}), ("trapezoid", (X,), {"dx": 0.5, "axis": 1}),
    ("trapezoid", (X,), {"x": np.array([0.0, 1.0, 3.0], np.float32)}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_eager_matches_keras(keras, name, args, kwargs):
    ours = _np(getattr(ops, name)(*args, **kwargs))
    # (Keras 3 on torch refuses imag of a real tensor, a torch limit; numpy's answer is zeros)
    theirs = np.imag(args[0]) if name == "imag" else _np(getattr(keras.ops, name)(*args, **kwargs))
    if isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    else:
        assert np.shape(ours) == np.shape(theirs)
        np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=1e-5, atol=1e-6)
    assert getattr(ops.numpy, name) is not None


class Features(layers.Layer):
    """Per sample: the trapezoid integral of each channel over time, the last section of array_split,
    and a weight's Vandermonde powers added to the integral."""

    def build(self, shape):
        self.w = self.add_weight(shape=(3,), initializer="ones", name="w")

    def call(self, x):
        area = ops.trapezoid(x, axis=1)                         # (B, 3)
        powers = ops.sum(ops.vander(self.w, 3), axis=0)         # (3,)
        last = ops.array_split(x, 4, axis=1)[-1]                 # (B, 1, 3)
        return ops.concatenate([area, ops.reshape(last, (-1, 3)), area + powers], axis=-1)


def _reference(x, w):
    area = np.trapezoid(x, axis=1) if hasattr(np, "trapezoid") else np.trapz(x, axis=1)
    powers = np.vander(w, 3).sum(axis=0)
    last = np.array_split(x, 4, axis=1)[-1].reshape(-1, 3)
    return np.concatenate([area, last, area + powers], axis=-1)


def test_traced_in_a_custom_layer_and_trained():
    inp = bigcore.Input((6, 3))
    h = layers.Dense(3, kernel_initializer="ones")(inp)
    model = bigcore.Model(inp, Features()(h))
    x = RNG.normal(size=(5, 6, 3)).astype(np.float32)
    k, feats = model.layers[1].kernel, model.layers[2]
    np.testing.assert_allclose(model.predict(x, verbose=0), _reference(x @ k.numpy(), feats.w.numpy()), rtol=1e-4,
                               atol=1e-4)
    model.compile(optimizer="sgd", loss="mse")
    before = (k.numpy().copy(), feats.w.numpy().copy())
    model.fit(x, np.zeros((5, 9), np.float32), epochs=1, verbose=0)
    assert not np.allclose(k.numpy(), before[0])  # gradients flow through trapezoid and array_split
    assert not np.allclose(feats.w.numpy(), before[1])  # and through vander


def test_refusals():
    with pytest.raises(ValueError, match="window length must be an int"):
        ops.hamming(np.float32(4.0))
    with pytest.raises(TypeError, match="must be of type `int`"):  # as Keras
        ops.array_split(X, [1, 3])
    with pytest.raises(ValueError, match="sections must be positive"):
        ops.array_split(X, 0)
    with pytest.raises(ValueError, match="dsplit only works on tensors of 3"):
        ops.dsplit(np.ones((2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="vander: x must be 1-D"):
        ops.vander(X)
