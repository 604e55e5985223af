"""Fixtures for the bench/ pytest-benchmark suites. `--bigcore-threads N` sets bigcore's threads."""

import pytest

import bigcore


def pytest_collect_file(file_path, parent):
    """Collects bench_*.py too, so `pytest bench --benchmark-only` runs every suite here."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_addoption(parser):
    parser.addoption("--bigcore-threads", type=int, default=None,
                     help="bigcore.config.set_num_threads(N) before benchmarking (default: bigcore's default)")


@pytest.fixture(scope="session", autouse=True)
def bigcore_threads(request):
    n = request.config.getoption("--bigcore-threads")
    before = bigcore.config.get_num_threads()
    if n is not None:
        bigcore.config.set_num_threads(n)
    yield bigcore.config.get_num_threads()
    bigcore.config.set_num_threads(before)


@pytest.fixture
def record(benchmark, bigcore_threads):
    """record(samples_per_call) puts samples/s (from the median) and the setup into extra_info."""
    def _record(samples):
        info = benchmark.extra_info
        info["threads"] = bigcore_threads
        info["isa"] = bigcore.config.cpu_features()["isa"]
        if benchmark.stats is not None:  # None under --benchmark-disable
            median = benchmark.stats.stats.median
            info["median_ms"] = round(median * 1e3, 4)
            info["samples_per_s"] = round(samples / median, 1)
    return _record
