"""Shared fixtures: a fixed seed, thread-count and CPU-path restoration, one test per CPU path,
and Keras on torch.

Keras and PyTorch are optional: tests that need them take the `keras` / `torch` fixtures and are
skipped where they are not installed, or with --no-parity (CI installs both, the compare extra,
and runs them in its first stage).
"""

import os
import sys

# Idle OpenMP threads sleep instead of spinning (GNU OpenMP, bigcore's and torch's): the README's
# command runs the suite on one pytest-xdist worker per core, and a worker's spinning team took the
# other worker's core (the suite on 2 cores: 240 s on one worker, 230 s on two spinning, 147 s on
# two passive). Set before bigcore or torch loads its OpenMP runtime; no result depends on it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

import bigcore  # noqa: E402
import cpu_paths  # noqa: E402


@pytest.fixture
def seed():
    """Seeds bigcore's RNG (initializers, shuffles, dropout) with 0; returns the seed."""
    bigcore.utils.set_random_seed(0)
    return 0


@pytest.fixture
def restore_threads():
    """Yields the current thread count and puts it back afterwards, whatever the test set."""
    n = bigcore.config.get_num_threads()
    yield n
    bigcore.config.set_num_threads(n)


@pytest.fixture
def restore_isa():
    """Yields the current CPU path and puts it back afterwards."""
    isa = bigcore.config.cpu_features()["isa"]
    yield isa
    bigcore.config.set_cpu_isa(isa)


@pytest.fixture(scope="session")
def supported_isas():
    """The float CPU paths this CPU runs ("ref" first); take restore_isa beside it to switch."""
    return cpu_paths.supported_isas()


@pytest.fixture(params=cpu_paths.FLOAT_ISAS)
def isa(request, restore_isa):
    """Runs the test once per CPU path, forced by set_cpu_isa (skipped where this CPU lacks it)."""
    try:
        bigcore.config.set_cpu_isa(request.param)
    except ValueError as e:
        pytest.skip(f"this CPU cannot run {request.param!r}: {e}")
    assert bigcore.config.cpu_features()["isa"] == request.param
    return request.param


def pytest_addoption(parser):
    parser.addoption("--no-parity", action="store_true",
                     help="skip the comparisons with Keras and PyTorch even where they are installed (the "
                          "sanitizer stage of .ci/run: their own native code is not ours to check, and slow "
                          "under AddressSanitizer)")


def _no_parity(config):
    if config.getoption("--no-parity"):
        pytest.skip("--no-parity: Keras and PyTorch comparisons are off")


def import_keras():
    """Keras 3 on the torch backend, or a skip when either is missing or Keras runs elsewhere."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {keras.__version__}")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras was already imported with the {keras.backend.backend()!r} backend")
    return keras


@pytest.fixture(scope="session")
def keras(pytestconfig):
    _no_parity(pytestconfig)
    return import_keras()


@pytest.fixture(scope="session")
def torch(pytestconfig):
    _no_parity(pytestconfig)
    return pytest.importorskip("torch")
