"""Ready-made data sets returned as numpy arrays, like `keras.datasets`."""

import importlib

from . import boston_housing, california_housing, cifar10, cifar100, fashion_mnist, mnist, reuters

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist", "imdb", "mnist", "reuters"]


def __getattr__(name):
    # imdb is imported on first use, not here: `python -m bigcore.datasets.imdb --convert`
    # runs it as __main__, and runpy warns when the package has already imported it.
    if name == "imdb":
        return importlib.import_module(f"{__name__}.imdb")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
