"""The version has one home, pyproject.toml, and the package reports it."""

import os

import tomllib

import swiftformer_keras
from conftest import ROOT
from swiftformer_keras.utils.version import VERSION


def test_the_package_reports_the_version_pyproject_sets():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        declared = tomllib.load(file)["project"]["version"]
    assert VERSION == declared == swiftformer_keras.__version__
