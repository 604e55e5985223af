"""keras.ops.view_as_complex / view_as_real (ops.math) and polar (ops.nn). bigcore's tensors and graphs
are real, so the complex results exist on arrays only (complex64 NumPy arrays, as Keras's); view_as_real
of a real tensor (imaginary part zero) also traces."""

import numpy as np

from bigcore.ops.linalg import eager_only
from bigcore.ops.node import is_symbolic, to_array
from bigcore.ops.numpy import cast, stack, zeros_like


def _complex_type(*parts):
    """complex128 from float64 arrays, else complex64 (Python numbers and lists are float32 in Keras)."""
    return np.complex128 if all(isinstance(p, np.ndarray) and p.dtype == np.float64 for p in parts) else np.complex64


def view_as_complex(x):
    """x (..., 2) of (real, imag) as a complex64 array (...), as Keras casts it."""
    eager_only("view_as_complex", x)
    a = to_array(x)
    if a.ndim < 1 or a.shape[-1] != 2:
        raise ValueError(f"Last dimension of input must be size 2 (real and imaginary). Received shape: {a.shape}")
    return (a[..., 0] + 1j * a[..., 1]).astype(np.complex64)


def view_as_real(x):
    """x's real and imaginary parts stacked on a new last axis (float32)."""
    if is_symbolic([x]):  # a symbolic tensor is real: its imaginary part is zero
        x = cast(x, "float32")
        return stack([x, zeros_like(x)], axis=-1)
    a = np.asarray(x)
    out = np.float64 if a.dtype in (np.float64, np.complex128) else np.float32
    return np.stack([a.real, a.imag], axis=-1).astype(out)


def polar(abs_, angle):
    """abs_ * (cos angle + i sin angle), complex64 (torch.polar)."""
    eager_only("polar", abs_, angle)
    r, theta = to_array(abs_).astype(np.float64), to_array(angle).astype(np.float64)
    return (r * np.cos(theta) + 1j * (r * np.sin(theta))).astype(_complex_type(abs_, angle))
