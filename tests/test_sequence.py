"""pad_sequences against hand-worked answers, and against Keras where it is installed."""

import numpy as np
import pytest

from bigcore.utils.sequence import pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]


@pytest.mark.parametrize("padding,truncating,maxlen,expected", [
    ("pre", "pre", None, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ("post", "pre", None, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ("pre", "pre", 2, [[0, 1], [2, 3], [5, 6]]),
    ("pre", "post", 2, [[0, 1], [2, 3], [4, 5]]),
    ("post", "pre", 2, [[1, 0], [2, 3], [5, 6]]),
    ("post", "post", 2, [[1, 0], [2, 3], [4, 5]]),
    ("pre", "pre", 4, [[0, 0, 0, 1], [0, 0, 2, 3], [0, 4, 5, 6]]),
    ("post", "post", 4, [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]),
    ("post", "pre", 1, [[1], [3], [6]]),
    ("pre", "post", 1, [[1], [2], [4]]),
])
def test_pre_post_combinations(padding, truncating, maxlen, expected):
    out = pad_sequences(SEQS, maxlen=maxlen, padding=padding, truncating=truncating)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.array(expected, np.int32))


def test_value_and_dtype():
    out = pad_sequences(SEQS, value=-1)
    np.testing.assert_array_equal(out, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    out = pad_sequences([[0.25, 1.5], [2.75]], dtype="float32", value=0.5, padding="post")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[0.25, 1.5], [2.75, 0.5]], np.float32))
    out = pad_sequences([[1.7, -2.2]], dtype="int64")  # cast like numpy: toward zero
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[1, -2]])
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]


def test_empty_rows_and_edge_sizes():
    np.testing.assert_array_equal(pad_sequences([[], [7, 8], []]), [[0, 0], [7, 8], [0, 0]])
    np.testing.assert_array_equal(pad_sequences([[], [7]], padding="post", value=9), [[9], [7]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)  # Keras fails here (max of no lengths)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    out = pad_sequences(SEQS, maxlen=0)  # Keras fails for truncating="pre" (s[-0:] keeps all)
    assert out.shape == (3, 0) and out.dtype == np.int32
    assert pad_sequences(SEQS, maxlen=0, truncating="post").shape == (3, 0)
    assert pad_sequences(SEQS, maxlen=np.int64(2)).shape == (3, 2)


def test_inputs_of_other_kinds():
    np.testing.assert_array_equal(pad_sequences(np.array([[1, 2], [3, 4]]), maxlen=3), [[0, 1, 2], [0, 3, 4]])
    np.testing.assert_array_equal(pad_sequences([(1, 2), np.array([3])]), [[1, 2], [0, 3]])
    steps = pad_sequences([[[1, 2], [3, 4]], [[5, 6]]], padding="post")  # each step a vector
    assert steps.shape == (2, 2, 2)
    np.testing.assert_array_equal(steps, [[[1, 2], [3, 4]], [[5, 6], [0, 0]]])


@pytest.mark.parametrize("kwargs,match", [
    ({"padding": "middle"}, 'Padding type "middle"'),
    ({"truncating": "both"}, 'Truncating type "both"'),
    ({"padding": "bad", "maxlen": 0}, "Padding type"),
    ({"maxlen": -1}, "maxlen=-1"),
    ({"maxlen": 2.0}, "maxlen=2.0"),
    ({"value": "x"}, "dtype=object"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences(SEQS, **kwargs)


def test_bad_sequences():
    with pytest.raises(ValueError, match="must be iterable"):
        pad_sequences(5)
    with pytest.raises(ValueError, match="must be iterable"):
        pad_sequences(iter(SEQS))
    with pytest.raises(ValueError, match="non-iterable: 3"):
        pad_sequences([[1, 2], 3])
    with pytest.raises(ValueError, match="different from expected shape"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])


def test_matches_keras_on_random_ragged_input(keras):  # conftest: Keras 3 on torch, or a skip
    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(1, 12))
        seqs = [list(rng.integers(1, 100, size=int(rng.integers(0, 9)))) for _ in range(n)]
        if not any(seqs):
            seqs[0] = [1]
        maxlen = [None, 1, 3, 5, 12][trial % 5]
        for padding in ("pre", "post"):
            for truncating in ("pre", "post"):
                for dtype, value in (("int32", 0.0), ("float32", -1.5), ("int64", 7)):
                    kw = dict(maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating, value=value)
                    want = keras.utils.pad_sequences(seqs, **kw)
                    got = pad_sequences(seqs, **kw)
                    assert got.dtype == want.dtype
                    np.testing.assert_array_equal(got, want)
