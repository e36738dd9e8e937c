"""android_bench/routes.py: the routes compare.py times. Every route running on real weights is
test_compare.py's (end to end); here, the routes that fail, and how litert-torch's Python is run."""

import os
import sys

from android_bench import routes
from conftest import ROOT

XS_ARCHITECTURE = ((3, 3, 6, 4), (48, 56, 112, 220), 10, "l2")


def test_litert_torch_failures_are_rows(tmp_path):
    shared = routes.Shared(None, None, str(tmp_path / "w.safetensors"), XS_ARCHITECTURE)
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named litert_torch' >&2\nexit 1\n")
    broken.chmod(0o755)
    route = routes.litert_torch_route("XS", shared, str(tmp_path), 1, (64, 64), str(broken))
    assert route.run is None
    assert route.error == "litert-torch conversion failed: ModuleNotFoundError: No module named litert_torch"
    missing = routes.litert_torch_route("XS", shared, str(tmp_path), 1, (64, 64), str(tmp_path / "none"))
    assert missing.run is None and missing.error.startswith("litert-torch did not run")


def test_litert_torch_runs_this_checkouts_module_in_any_python(monkeypatch):
    """Its Python need not install the project: the checkout goes first on its PYTHONPATH, the
    caller's own entries after it."""
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    shared = routes.Shared(None, None, "w.safetensors", XS_ARCHITECTURE)
    command, env = routes.litert_torch_command("/lt/bin/python", shared, "out.tflite", (64, 48))
    assert command == [
        "/lt/bin/python",
        "-m",
        "android_bench.litert_torch_export",
        "--depths",
        "3,3,6,4",
        "--widths",
        "48,56,112,220",
        "--classes",
        "10",
        "--attention",
        "l2",
        "--weights",
        "w.safetensors",
        "--output",
        "out.tflite",
        "--input-size",
        "64",
        "48",
    ]
    assert env["PYTHONPATH"] == os.pathsep.join([ROOT, "/elsewhere"])


def test_a_missing_executorch_or_none_asked_for(monkeypatch):
    assert routes.executorch_routes("XS", None, None, "folder", 1, (64, 64), routes.EXECUTORCH_ROUTES["none"]) == []
    monkeypatch.setitem(sys.modules, "executorch", None)  # `import executorch` raises ImportError
    wanted = routes.EXECUTORCH_ROUTES["fp32"]
    missing = routes.executorch_routes("XS", None, None, "folder", 1, (64, 64), wanted)
    assert [route.name for route in missing] == [routes.ET_FP32, routes.ET_FP32_REWRITTEN]
    assert all(route.run is None and "pip install -r requirements-executorch.txt" in route.error for route in missing)
