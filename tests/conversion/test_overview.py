"""conversion/overview.py: the front page's chart and its tables hold exactly what runtime_matrix.py and
arm_cost.py wrote (their committed XS results, real tool output), matched file by file; inputs that are
not those results end in one line."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from conversion import overview

PROG = "conversion/overview.py"
RESULTS = os.path.join(ROOT, "docs", "benchmarks")
MATRIX = os.path.join(RESULTS, "runtimes_xs", "runtime_matrix.json")
ARM = os.path.join(RESULTS, "arm_xs", "arm_cost.json")  # LiteRT 2.3 on four cores
PI = os.path.join(RESULTS, "arm_pi_xs", "arm_cost.json")  # tflite-runtime 2.14 on the Pis' cores


def _load(path):
    with open(path) as file:
        return json.load(file)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("overview")
    # The sources' pages beside their JSON, as in docs/benchmarks/, so that the links resolve.
    for source in (MATRIX, ARM, PI):
        copy = folder / os.path.basename(os.path.dirname(source))
        copy.mkdir()
        for suffix in (".json", ".md"):
            shutil.copy(os.path.splitext(source)[0] + suffix, copy)
    out = folder / "overview"
    argv = ["--runtimes", str(folder / "runtimes_xs" / "runtime_matrix.json")]
    argv += ["--arm", str(folder / "arm_xs" / "arm_cost.json"), str(folder / "arm_pi_xs" / "arm_cost.json")]
    argv += ["--output-dir", str(out)]
    assert overview.main(argv) == 0
    return out


def test_every_figure_is_the_one_its_benchmark_wrote(written):
    matrix, arm = _load(MATRIX), _load(ARM)
    rows = {row["file"]: row for row in _load(written / "overview.json")["rows"]}
    for source in matrix["rows"]:
        row = rows[f"{source['mode']}-{source['min_runtime']}"]
        assert row["default"] == source["default"] and row["size_mb"] == source["size_mb"]
        for key, label in matrix["runtimes"].items():
            assert row[f"{label} ms"] == source[f"{key} ms"]
            assert bool(row[f"{label} error"]) == (source[f"{key} ms"] is None)
    baseline = arm["baseline"]
    for source in [*arm["rows"], *_load(PI)["rows"]]:
        row = rows[source["file"]]
        counted = row[f"{source['cpu']} M instructions ({source['runtime']})"]
        if source["instructions"] is None:  # a file that runtime refuses
            assert counted is None and source["error"]
        else:
            assert counted == pytest.approx(source["instructions"] / 1e6, rel=1e-12)
    for source in arm["rows"]:  # the accuracy is the first --arm's
        expected = None if source["file"] == baseline else source["sqnr_db_vs_baseline_arm"]
        assert rows[source["file"]][f"SQNR dB vs {baseline} ({source['cpu']})"] == expected
    # The same figures on the page, rounded as printed.
    page = (written / "overview.md").read_text()
    int8 = rows["int8-2.14"]
    assert f"| int8-2.14 (default) | {int8['size_mb']:.1f} |" in page
    assert f"{int8['litert 2.3.0 ms']:.2f}" in page
    assert f"{int8['cortex-a76 M instructions (litert 2.3.0)']:.1f}" in page
    assert f"{int8['cortex-a53 M instructions (tflite-runtime 2.14.0)']:.1f}" in page
    assert "| dynamic-2.17 | does not load | does not load | does not load |" in page  # on the Pis' runtime
    assert math.isfinite(int8[f"SQNR dB vs {baseline} (host)"])


def test_the_page_names_its_sources_and_shows_the_chart(written):
    page = (written / "overview.md").read_text()
    assert "[Our files on every runtime](../runtimes_xs/runtime_matrix.md)" in page
    assert "ARM64 cores (litert 2.3.0)](../arm_xs/arm_cost.md)" in page
    assert "ARM64 cores (tflite-runtime 2.14.0)](../arm_pi_xs/arm_cost.md)" in page
    for part in ("latency", "arm-litert-2.3.0", "arm-tflite-runtime-2.14.0", "accuracy"):  # for other pages
        assert f"<!-- --8<-- [start:{part}] -->" in page
    assert "![" in page and "(overview.png)" in page
    assert (written / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (written / "overview.csv").read_text().startswith("file,default,size_mb,")


def _run(*argv):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, PROG), *argv], capture_output=True, text=True, cwd=ROOT, check=False
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist; write it with conversion/runtime_matrix.py"),
        ("not json", "is not a JSON file conversion/runtime_matrix.py wrote"),
        ("other tool", "holds no rows of conversion/runtime_matrix.py"),
        ("variant", "--variant 'L3' is not in --runtimes, which measured XS"),
        ("unmatched", "--arm's files fp32, int8 (litert 2.3.0) are none of --runtimes'"),
    ],
)
def test_bad_inputs_are_one_line(case, message, tmp_path):
    runtimes, arm, extra = MATRIX, ARM, []
    if case == "missing":
        runtimes = str(tmp_path / "nothing.json")
    elif case == "not json":
        runtimes = str(tmp_path / "broken.json")
        (tmp_path / "broken.json").write_text("{")
    elif case == "other tool":
        runtimes = ARM
    elif case == "variant":
        extra = ["--variant", "L3"]
    else:
        arm = str(tmp_path / "arm.json")
        rows = [{"file": f, "runtime": "litert 2.3.0", "cpu": "armv9", "instructions": 1} for f in ("fp32", "int8")]
        (tmp_path / "arm.json").write_text(json.dumps({"command": "c", "rows": rows}))
    done = _run("--runtimes", runtimes, "--arm", arm, *extra, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{PROG}: error: ") and message in line
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_an_input_is_refused(tmp_path):
    source = tmp_path / "overview.json"
    shutil.copy(MATRIX, source)
    done = _run("--runtimes", str(source), "--arm", ARM, "--output-dir", str(tmp_path))
    assert done.returncode == 2 and "overview.json" in done.stderr and "is the input --runtimes" in done.stderr
    assert source.read_bytes() == open(MATRIX, "rb").read()
