"""The analysis windows scipy.signal.get_window gives Keras's STFT initializer, in NumPy (bigcore
does not depend on scipy). periodic=True is scipy's fftbins=True: the N + 1 window, last sample dropped."""

import numpy as np


def _cosine_sum(coeffs):
    def make(m):
        n = np.arange(m)
        return sum(((-1) ** k) * a * np.cos(2 * np.pi * k * n / (m - 1)) for k, a in enumerate(coeffs))
    return make


def _bartlett(m):
    n = np.arange(m)
    return np.where(n <= (m - 1) / 2.0, 2.0 * n / (m - 1), 2.0 - 2.0 * n / (m - 1))


_WINDOWS = {
    "hann": _cosine_sum((0.5, 0.5)), "hamming": _cosine_sum((0.54, 0.46)),
    "blackman": _cosine_sum((0.42, 0.5, 0.08)), "bartlett": _bartlett, "boxcar": np.ones,
}
_ALIASES = {"hanning": "hann", "han": "hann", "hamm": "hamming", "ham": "hamming", "black": "blackman",
            "blk": "blackman", "bart": "bartlett", "brt": "bartlett", "box": "boxcar", "ones": "boxcar",
            "rect": "boxcar", "rectangular": "boxcar"}


def check_name(window):
    """Raises ValueError for a window name this module does not compute."""
    if _ALIASES.get(window, window) not in _WINDOWS:
        raise ValueError(f"Unknown window {window!r}: bigcore computes {sorted(_WINDOWS)} (and their scipy aliases); "
                         "pass the window's values as an array for any other")


def get_window(window, length, periodic=False):
    """float64 values of the named window of `length` samples (scipy.signal.get_window's)."""
    check_name(window)
    make = _WINDOWS[_ALIASES.get(window, window)]
    if length == 1:
        return np.ones(1)
    return make(length + 1)[:-1] if periodic else make(length)
