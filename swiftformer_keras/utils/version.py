"""The version of swiftformer-keras: pyproject.toml is its one home, read back from the
installed package's metadata (the package's `__version__`, the metadata of every file)."""

import importlib.metadata

try:
    VERSION = importlib.metadata.version("swiftformer-keras")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    VERSION = "unknown"
