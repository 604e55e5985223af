"""Ready-made data sets returned as numpy arrays, like `keras.datasets`."""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
