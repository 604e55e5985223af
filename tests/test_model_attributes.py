"""Keras's model attributes a program reads: input_shape / output_shape (also after build() and
pop()), the variables aliases, and summary() of a Sequential not built yet."""

import numpy as np
import pytest

import bigcore
from bigcore import layers


def test_shapes_of_functional_and_sequential_models():
    inp = bigcore.Input((3,))
    fm = bigcore.Model(inp, layers.Dense(2)(inp))
    assert fm.input_shape == (None, 3) and fm.output_shape == (None, 2)
    a, b = bigcore.Input((4,)), bigcore.Input((5, 2))
    two = bigcore.Model([a, b], [layers.Dense(1)(a), layers.Flatten()(b)])
    assert two.input_shape == [(None, 4), (None, 5, 2)] and two.output_shape == [(None, 1), (None, 10)]
    seq = bigcore.Sequential([layers.Dense(4), layers.Dense(2)])
    assert seq.input_shape is None and seq.output_shape is None
    seq.build((None, 3))
    assert seq.input_shape == (None, 3) and seq.output_shape == (None, 2)
    seq.pop()
    assert seq.output_shape == (None, 4)


def test_a_model_used_as_a_layer_keeps_its_own_shapes():
    inner = bigcore.Sequential([bigcore.Input((3,)), layers.Dense(2)])
    outer_in = bigcore.Input((3,))
    outer = bigcore.Model(outer_in, layers.Dense(1)(inner(outer_in)))
    assert inner.input_shape == (None, 3) and inner.output_shape == (None, 2)
    assert outer.output_shape == (None, 1)


def test_variables_aliases():
    model = bigcore.Sequential([bigcore.Input((4,)), layers.Dense(3), layers.BatchNormalization()])
    assert [v.name for v in model.variables] == [w.name for w in model.weights]
    assert len(model.trainable_variables) == 4 and len(model.non_trainable_variables) == 2
    dense = model.layers[0]
    dense.trainable = False
    assert dense.trainable_variables == [] and len(dense.non_trainable_variables) == 2


def test_summary_of_an_unbuilt_sequential():
    model = bigcore.Sequential([layers.Dense(4, name="first"), layers.Dense(2, name="second")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "first (Dense)" in text and "second (Dense)" in text and "0 (unbuilt)" in text and "?" in text
    model.build((None, 3))
    lines.clear()
    model.summary(print_fn=lines.append)
    assert "(None, 4)" in "\n".join(lines) and "unbuilt" not in "\n".join(lines)
    with pytest.raises(ValueError, match="not been built"):
        bigcore.Sequential([layers.Dense(2)]).count_params()
    np.testing.assert_equal(model.count_params(), 3 * 4 + 4 + 4 * 2 + 2)


def test_layer_dtype_input_spec_and_weight_path():
    dense = layers.Dense(3, name="dd")
    assert (dense.dtype, dense.compute_dtype, dense.variable_dtype) == ("float32", "float32", "float32")
    assert dense.input_spec is None
    dense.build((None, 5))
    assert [w.path for w in dense.weights] == ["dd/kernel", "dd/bias"]
    ids = bigcore.Input((4,), dtype="int32")
    assert ids.node.layer.dtype == "int32"  # an InputLayer says what it takes


def test_output_names():
    a, b = bigcore.Input((3,), name="a"), bigcore.Input((2,), name="b")
    h = layers.Concatenate()([a, b])
    reg, cls = layers.Dense(1, name="reg")(h), layers.Dense(3, name="cls")(h)
    assert bigcore.Model({"a": a, "b": b}, {"reg": reg, "cls": cls}).output_names == ["cls", "reg"]  # Keras sorts
    assert bigcore.Model([a, b], [reg, cls]).output_names == ["reg", "cls"]
    assert bigcore.Model(a, layers.Dense(2, name="only")(a)).output_names == ["only"]
