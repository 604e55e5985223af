"""The data set tests' isolated world: no network, no real home folder."""

import urllib.error
from pathlib import Path

import pytest

from bigcore.datasets import _files


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated world: fake HOME (so ~/.bigcore and ~/.keras are in tmp), no BIGCORE_DATA or
    KERAS_HOME, and a network stub that always fails."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BIGCORE_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)

    def offline(url, dest):
        raise urllib.error.URLError("offline in tests")

    monkeypatch.setattr(_files, "_fetch", offline)
    return tmp_path


@pytest.fixture
def serve():
    """serve(monkeypatch, payloads): the network replaced by URL basename -> bytes; returns the
    list of URLs asked for."""

    def serve(monkeypatch, payloads: dict):
        calls = []

        def fetch(url, dest):
            calls.append(url)
            Path(dest).write_bytes(payloads[url.rsplit("/", 1)[1]])

        monkeypatch.setattr(_files, "_fetch", fetch)
        return calls

    return serve
