"""The project's package: one module per pipeline stage, the CLI, and the ONNX runtime helpers."""

from importlib import metadata

try:
    __version__ = metadata.version("{{ cookiecutter.project_slug }}")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
