"""What fit / evaluate / predict take as data, as Keras 3 does: any array-like (an object with
__array__: a pandas DataFrame or Series, another library's tensor) is data even though it iterates
(a DataFrame over its column names), and a functional model takes an input one axis short of a last
axis of 1, or with an extra last axis of 1 (Keras's Functional._adjust_input_rank)."""

import numpy as np
import pytest

import bigcore
from bigcore import layers
from layer_test import KERAS_WARNING

pytestmark = pytest.mark.filterwarnings(KERAS_WARNING)


class Frame:
    """A stand-in for a pandas DataFrame: an array through __array__, iterating over column names."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.values)


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5], np.float32) > 0).astype(np.float32)


def _model():
    m = bigcore.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"), layers.Dense(1, "sigmoid")])
    m.compile(bigcore.optimizers.SGD(0.1), "binary_crossentropy", metrics=["accuracy"])
    return m


def test_an_iterable_array_like_is_data_not_a_generator(seed):
    x, y = _data()
    plain, framed = _model(), _model()
    framed.set_weights(plain.get_weights())
    h1 = plain.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False, verbose=0).history
    h2 = framed.fit(Frame(x, "abc"), Frame(y, ["y"]), epochs=2, batch_size=8, validation_split=0.25, shuffle=False,
                    verbose=0).history
    assert h1 == h2
    np.testing.assert_array_equal(framed.predict(Frame(x, "abc"), verbose=0), plain.predict(x, verbose=0))
    assert framed.evaluate(Frame(x, "abc"), Frame(y, ["y"]), verbose=0) == plain.evaluate(x, y, verbose=0)


def test_pandas_frames_and_series(seed):
    pd = pytest.importorskip("pandas")
    x, y = _data()
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    plain, framed = _model(), _model()
    framed.set_weights(plain.get_weights())
    plain.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    framed.fit(df, pd.Series(y), epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_array_equal(framed.predict(df.iloc[:5], verbose=0), plain.predict(x[:5], verbose=0))
    a, b = layers.Input((1,), name="a"), layers.Input((1,), name="b")
    m = bigcore.Model([a, b], layers.Dense(1)(layers.concatenate([a, b])))
    m.compile("sgd", "mse")
    m.fit({"a": df["a"], "b": df["b"]}, df["c"], epochs=1, verbose=0)  # a column per named input


def test_input_rank_is_adjusted_as_keras_does(keras, seed):
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(12,)).astype(np.float32), rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)

    def build(k):
        a, b = k.Input((1,)), k.Input((4,))
        return k.Model([a, b], k.layers.Dense(1)(k.layers.concatenate([a, b])))

    ours, theirs = build(bigcore), build(keras)
    ours.set_weights([w.value.detach().cpu().numpy() for w in theirs.weights])
    for xa in (x1, x1[:, None], x1[:, None, None]):  # (n,), (n, 1) and (n, 1, 1) all fit Input((1,))
        np.testing.assert_allclose(ours.predict([xa, x2], verbose=0), theirs.predict([xa, x2], verbose=0),
                                   rtol=1e-5, atol=1e-6)
    ours.compile("sgd", "mse")
    ours.fit([x1, x2], y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(12,\)"):
        ours.predict([x1, x2[:, 0]], verbose=0)  # a last axis of 4 cannot be added
