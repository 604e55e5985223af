"""The package version, in one place: pyproject.toml reads it (scikit-build-core's regex provider),
and so do bigcore.__version__ and the ONNX exporter's producer_version."""

__version__ = "0.1.0"
