"""Loads the native core. scipy_openblas32 is imported first so its BLAS is loaded even where the
extension's RPATH cannot reach it (an unusual install layout)."""

import scipy_openblas32  # noqa: F401  (loads libscipy_openblas)

from bigcore import _core  # noqa: E402

__all__ = ["_core"]
