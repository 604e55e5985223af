"""keras.backend's dtype predicates and get_uid, against Keras 3."""

import numpy as np
import pytest

import bigcore
from bigcore import backend

DTYPES = ["float16", "float32", "float64", "bfloat16", "int8", "int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_predicates_match_keras(keras, dtype):
    assert backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
    assert backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)


def test_dtype_predicates_take_numpy_dtypes_and_arrays():
    assert backend.is_float_dtype(np.float32) and backend.is_int_dtype(np.dtype("int16"))
    assert backend.is_float_dtype(np.zeros(2, np.float64)) and not backend.is_int_dtype(np.zeros(2, bool))


def test_get_uid_shares_the_layer_name_counter_as_keras(keras):
    names = []
    for mod in (bigcore, keras):
        mod.backend.clear_session()
        a = mod.backend.get_uid("dense")
        d = mod.layers.Dense(2)
        b = mod.backend.get_uid("dense")
        names.append((a, d.name, b, mod.layers.Dense(2).name, mod.backend.get_uid("my_prefix")))
    assert names[0] == names[1] == (1, "dense_1", 3, "dense_3", 1)
