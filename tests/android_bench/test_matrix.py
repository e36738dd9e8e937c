"""android_bench/matrix.py without a phone: the real adb with nothing attached, a missing adb,
host runs of fake benchmark_model scripts, a fake adb that acts as phones, timeouts, parser
failures and output folders that cannot be written.

The fakes here (a benchmark_model and an adb stand-in) serve test_run.py's command-line tests too."""
# ruff: noqa: E501  (the fake benchmark_model prints the real tool's lines, each whole)

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from android_bench import adb as adb_lib
from android_bench import commands, matrix

REAL_ADB = shutil.which("adb") or ("/usr/bin/adb" if os.path.exists("/usr/bin/adb") else None)

# --- fakes -------------------------------------------------------------------------------------

# A benchmark_model stand-in that prints what the real tool prints (TF 2.16-era builds: the
# tool's own lines on stderr with "INFO: " etc. prefixes; the stats line with percentiles; the
# profile tables unprefixed after their heading), in the variants the tests need:
#   xnnpack  "Replacing 183 out of 187 node(s)..." and the tool's "Explicitly applied" summary
#   cpu      no delegate lines
#   nnapi    the NNAPI delegate fails to prepare: "ERROR: Failed to apply NNAPI delegate.", exit 1
#            (FAKE_BENCH_DESKTOP=1: a desktop build, which ignores --use_nnapi and runs the CPU)
#   gpu      a desktop build: "GPU acceleration is unsupported on this platform." then the CPU
# It appends its arguments to $FAKE_BENCH_LOG when set.
FAKE_BENCHMARK = r"""#!{python}
import json, os, sys

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
if os.environ.get("FAKE_BENCH_LOG"):
    with open(os.environ["FAKE_BENCH_LOG"], "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\n")

def say(text=""):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()

runs, warmups, threads = int(args["num_runs"]), int(args["warmup_runs"]), int(args["num_threads"])
graph = args["graph"]
say("INFO: STARTING!")
if args.get("use_nnapi") == "true" and os.environ.get("FAKE_BENCH_DESKTOP"):
    say("WARN: Unconsumed cmdline flags: --use_nnapi=true")
say("INFO: Log parameter values verbosely: [0]")
say(f"INFO: Min num runs: [{runs}]")
say("INFO: Min runs duration (seconds): [0]")
say(f"INFO: Max runs duration (seconds): [{args['max_secs']}]")
say(f"INFO: Num threads: [{threads}]")
say(f"INFO: Min warmup runs: [{warmups}]")
say("INFO: Min warmup runs duration (seconds): [0]")
say(f"INFO: Graph: [{graph}]")
if args.get("enable_op_profiling") == "true":
    say("INFO: Enable op profiling: [1]")
say(f"INFO: #threads used for CPU inference: [{threads}]")
if "use_xnnpack" in args:
    say(f"INFO: Use xnnpack: [{int(args['use_xnnpack'] == 'true')}]")
if not os.path.exists(graph):
    say(f"ERROR: Failed to mmap model {graph}")
    say("ERROR: Benchmarking failed.")
    sys.exit(1)
say(f"INFO: Loaded model {graph}")
say("INFO: Initialized TensorFlow Lite runtime.")
if args.get("use_nnapi") == "true" and not os.environ.get("FAKE_BENCH_DESKTOP"):
    say("INFO: Use nnapi: [1]")
    say("INFO: nnapi accelerator name: [] (Available: qti-default,qti-dsp,qti-gpu,qti-htp,nnapi-reference)")
    say("INFO: Created TensorFlow Lite delegate for NNAPI.")
    say("INFO: NNAPI delegate created.")
    say("ERROR: NN API returned error ANEURALNETWORKS_OP_FAILED at line 1156 while completing NNAPI compilation.")
    say("")
    say("ERROR: Node number 187 (TfLiteNnapiDelegate) failed to prepare.")
    say("ERROR: Restored original execution plan after delegate application failure.")
    say("ERROR: Failed to apply NNAPI delegate.")
    say("ERROR: Benchmarking failed.")
    sys.exit(1)
if args.get("use_gpu") == "true":
    say("WARN: The GPU delegate compile options are only supported on Android or iOS platforms.")
    say("WARN: GPU acceleration is unsupported on this platform.")
if args.get("use_xnnpack") == "true":
    say("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    say("INFO: XNNPACK delegate created.")
    say("VERBOSE: Replacing 183 out of 187 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 3 partitions for the whole graph.")
    say("INFO: Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the delegate w/ 2 delegate kernels.")
say("INFO: The input model file size (MB): 12.9431")
say("INFO: Initialized session in 96.477ms.")
avg = 61234.5 if threads == 1 else 24502.6
say(f"INFO: Running benchmark for at least {warmups} iterations and at least 0 seconds but terminate if exceeding {args['max_secs']} seconds.")
say(f"INFO: count={warmups} first=31822 curr=25581 min=25399 max=31822 avg=27073.2 std=2887 p5=25399 median=25681 p95=31822")
say("")
say(f"INFO: Running benchmark for at least {runs} iterations and at least 0 seconds but terminate if exceeding {args['max_secs']} seconds.")
say(f"INFO: count={runs} first={avg + 210:g} curr={avg - 40:g} min={avg - 500:g} max={avg + 2300:g} avg={avg:g} std=471 p5={avg - 480:g} median={avg - 100:g} p95={avg + 1100:g}")
say("")
say(f"INFO: Inference timings in us: Init: 96477, First inference: 31822, Warmup (avg): 27073.2, Inference (avg): {avg:g}")
say("INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.")
say("INFO: Memory footprint delta from the start of the tool (MB): init=38.2578 overall=52.6055")
if args.get("enable_op_profiling") == "true":
    say("INFO: Operator-wise Profiling Info for Regular Benchmark Runs:")
    say("============================== Run Order ==============================")
    say("\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]")
    say("\t   TfLiteXNNPackDelegate\t   18.102\t   17.955\t 73.281%\t 73.281%\t     0.000\t        1\t[swiftformer/stem]:183")
    say("\t            BATCH_MATMUL\t    3.011\t    2.998\t 12.236%\t 85.517%\t     0.000\t        1\t[swiftformer/attn/MatMul]:184")
    say("\t   TfLiteXNNPackDelegate\t    3.600\t    3.549\t 14.483%\t100.000%\t     0.000\t        1\t[swiftformer/head]:185")
    say("")
    say("============================== Summary by node type ==============================")
    say("\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]")
    say("\t   TfLiteXNNPackDelegate\t        2\t    21.504\t    87.764%\t    87.764%\t     0.000\t        2")
    say("\t            BATCH_MATMUL\t        1\t     2.998\t    12.236%\t   100.000%\t     0.000\t        1")
    say("")
    say(f"Timings (microseconds): count={runs} first=24501 curr=24398 min=23950 max=26790 avg=24480 std=468")
    say("Memory (bytes): count=0")
    say("3 nodes observed")
"""

# An adb stand-in that acts as the phones listed in $FAKE_ADB_DEVICES: `push` copies into
# $FAKE_ADB_ROOT/<serial>/ (without the mode bits, so the chmod +x really matters), `shell`
# joins its arguments into one command line as adb does, splits it the way the phone's sh
# would and runs it with /data/local/tmp/ mapped to that folder, exiting with its exit code
# (shell protocol). `getprop` prints $FAKE_ADB_PROPS[serial]. Every call is logged.
FAKE_ADB = r"""#!{python}
import json, os, shlex, shutil, subprocess, sys

root = os.environ["FAKE_ADB_ROOT"]
args = sys.argv[1:]
with open(os.path.join(root, "calls.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\n")
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
listing = os.environ.get("FAKE_ADB_DEVICES", "List of devices attached\n\n")
if args[:1] == ["devices"]:
    print(listing, end="")
    sys.exit(0)
ready = [line.split()[0] for line in listing.splitlines()[1:] if line.split()[1:2] == ["device"]]
if serial not in ready:
    print(f"error: device '{serial}' not found", file=sys.stderr)
    sys.exit(1)
phone = os.path.join(root, serial)
os.makedirs(phone, exist_ok=True)

def here(word):
    return word.replace("/data/local/tmp/", phone + "/")

if args[0] == "push":
    source, target = args[1], args[2]
    if not os.path.exists(source):
        print(f"adb: error: cannot stat '{source}': No such file or directory", file=sys.stderr)
        sys.exit(1)
    shutil.copyfile(source, here(target))
    print(f"{source}: 1 file pushed, 0 skipped. 41.3 MB/s ({os.path.getsize(source)} bytes in 0.001s)")
    sys.exit(0)
if args[0] == "shell":
    line = " ".join(args[1:])
    if line == "getprop":
        for key, value in json.loads(os.environ.get("FAKE_ADB_PROPS", "{}")).get(serial, {}).items():
            print(f"[{key}]: [{value}]")
        sys.exit(0)
    words = [here(word) for word in shlex.split(line)]
    if words[:1] == ["taskset"]:
        words = words[2:]
    if words[:2] == ["chmod", "+x"]:
        os.chmod(words[2], 0o755)
        sys.exit(0)
    try:
        sys.exit(subprocess.run(words).returncode)
    except PermissionError:
        print(f"/system/bin/sh: {words[0]}: can't execute: Permission denied", file=sys.stderr)
        sys.exit(126)
    except OSError:  # what the phone's sh says of an x86-64 binary
        print(f"/system/bin/sh: {shlex.split(line)[0]}: not executable: 64-bit ELF file", file=sys.stderr)
        sys.exit(126)
print(f"adb: unknown command {args[0]}", file=sys.stderr)
sys.exit(1)
"""

PIXEL_PROPS = {
    "ro.product.model": "Pixel 7",
    "ro.soc.model": "GS201",
    "ro.board.platform": "gs201",
    "ro.hardware": "panther",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abi": "arm64-v8a",
}
OLD_PROPS = {  # Android 11: no ro.soc.model
    "ro.product.model": "SM-G973F",
    "ro.board.platform": "exynos9820",
    "ro.hardware": "exynos9820",
    "ro.build.version.release": "11",
    "ro.build.version.sdk": "30",
    "ro.product.cpu.abi": "arm64-v8a",
}


def _script(path, text):
    path.write_text(text.replace("{python}", sys.executable))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake_benchmark(tmp_path):
    return _script(tmp_path / "benchmark_model", FAKE_BENCHMARK)


@pytest.fixture
def models(tmp_path):
    paths = []
    for name in ("swiftformer_xs_fp32.tflite", "swiftformer_xs_int8.tflite"):
        path = tmp_path / name
        path.write_bytes(b"TFL3" + bytes(60))
        paths.append(str(path))
    return paths


def _quiet(message):
    pass


@pytest.fixture
def real_adb_without_phone():
    if REAL_ADB is None:
        pytest.skip("adb is not installed")
    # The first call may have to start the adb server: give it time. Nothing is killed here.
    listing = subprocess.run([REAL_ADB, "devices"], capture_output=True, text=True, timeout=120)
    if adb_lib.parse_devices(listing.stdout) != ([], []):
        pytest.skip("a device is attached; these tests expect none")
    return REAL_ADB


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    root = tmp_path / "adb_root"
    root.mkdir()
    monkeypatch.setenv("FAKE_ADB_ROOT", str(root))
    monkeypatch.setenv(
        "FAKE_ADB_DEVICES",
        "List of devices attached\n"
        "28131FDH2000B1\tdevice usb:1-1 product:panther model:Pixel_7 transport_id:3\n"
        "R58M42ABCDE\tunauthorized usb:1-2 transport_id:4\n"
        "192.168.1.20:5555\tdevice product:beyond1lte model:SM_G973F transport_id:5\n"
        "emulator-5554\toffline transport_id:1\n\n",
    )
    monkeypatch.setenv("FAKE_ADB_PROPS", json.dumps({"28131FDH2000B1": PIXEL_PROPS, "192.168.1.20:5555": OLD_PROPS}))
    adb = _script(tmp_path / "adb", FAKE_ADB)

    def calls():
        return [json.loads(line) for line in (root / "calls.jsonl").read_text().splitlines()]

    return adb, calls


# --- the real adb, nothing attached; adb missing -----------------------------------------------


def test_real_adb_with_an_unknown_serial(real_adb_without_phone, models, fake_benchmark, tmp_path):
    rows = matrix.run_matrix(
        models[:1], ["cpu"], [1], fake_benchmark, serials=["NOPE123"], adb=real_adb_without_phone, log=_quiet
    )
    assert len(rows) == 1
    assert rows[0]["device"] == "NOPE123" and "NOPE123 is not attached" in rows[0]["reason"]


def test_adb_that_is_not_executable(models, fake_benchmark, tmp_path):
    adb = tmp_path / "adb"
    adb.write_text("#!/bin/sh\n")
    rows = matrix.run_matrix(models[:1], ["cpu"], [1], fake_benchmark, adb=str(adb), log=_quiet)
    assert "is not executable" in rows[0]["reason"]


def test_adb_server_that_does_not_start(models, fake_benchmark, tmp_path):
    adb = _script(
        tmp_path / "adb",
        "#!/bin/sh\necho '* daemon not running; starting now at tcp:5037'\n"
        "echo 'ADB server didn'\"'\"'t ACK' >&2\n"
        "echo '* failed to start daemon' >&2\n"
        "echo 'error: cannot connect to daemon' >&2\nexit 1\n",
    )
    rows = matrix.run_matrix(models, ["cpu"], [1, 4], fake_benchmark, adb=adb, log=_quiet)
    assert len(rows) == 4
    assert all("adb devices failed" in r["reason"] and "daemon" in r["reason"] for r in rows)


# --- host runs ---------------------------------------------------------------------------------


def test_host_with_a_binary_that_is_not_executable(models, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o644)
    rows = matrix.run_matrix(models[:1], ["cpu"], [1, 2], str(binary), host=True, log=_quiet)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("not executable" in r["reason"] for r in rows)


def test_host_with_a_missing_model_still_runs_the_others(models, fake_benchmark, tmp_path):
    missing = str(tmp_path / "gone.tflite")
    rows = matrix.run_matrix(
        [missing, models[0]], ["cpu"], [1], fake_benchmark, host=True, num_runs=3, warmup_runs=1, log=_quiet
    )
    assert [(r["model"], r["status"]) for r in rows] == [("gone.tflite", "failed"), (os.path.basename(models[0]), "ok")]
    assert rows[0]["reason"] == f"model file not found: {missing}"


def test_host_nnapi_flag_ignored_by_a_desktop_build_is_a_failed_row(models, fake_benchmark, monkeypatch):
    monkeypatch.setenv("FAKE_BENCH_DESKTOP", "1")
    (row,) = matrix.run_matrix(models[:1], ["nnapi"], [1], fake_benchmark, host=True, num_runs=5, log=_quiet)
    assert row["status"] == "failed"
    assert row["reason"] == "nnapi is not available in this benchmark_model build (it ignored --use_nnapi=true)"


def test_host_run_that_times_out(models, tmp_path):
    # A wrapper script whose child holds the output pipe: the whole process group must go.
    binary = _script(tmp_path / "benchmark_model", "#!/bin/sh\necho 'INFO: STARTING!' >&2\nsleep 60\n")
    started = time.monotonic()
    rows = matrix.run_matrix(
        models[:1],
        ["cpu", "xnnpack"],
        [1],
        binary,
        host=True,
        timeout=1.5,
        output_dir=str(tmp_path / "out"),
        log=_quiet,
    )
    assert time.monotonic() - started < 30
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all(r["reason"] == "timed out after 1.5 s" for r in rows)
    log = (tmp_path / "out" / "logs" / os.listdir(tmp_path / "out" / "logs")[0]).read_text()
    assert "STARTING!" in log  # what it printed before being killed is kept


@pytest.mark.parametrize(
    "options, message",
    [
        # An infinite or huge timeout ended in OverflowError inside subprocess, after the first push.
        ({"timeout": float("inf")}, "timeout must be a number in (0, 86400], got inf"),
        ({"timeout": 1e300}, "timeout must be a number in (0, 86400], got 1e+300"),
        ({"num_runs": 0}, "num_runs must be a whole number in [1, 2147483647], got 0"),
        ({"warmup_runs": 2**31}, "warmup_runs must be a whole number in [0, 2147483647], got 2147483648"),
        ({"threads": [1, 0]}, "threads must be a whole number in [1, 2147483647], got 0"),
    ],
)
def test_counts_and_timeouts_out_of_range_are_refused_before_any_run(
    options, message, models, fake_benchmark, tmp_path, monkeypatch
):
    monkeypatch.setattr(commands, "run_command", lambda *a, **k: pytest.fail("a command ran"))
    arguments = {"threads": [1], **options}
    with pytest.raises(ValueError) as refused:
        matrix.run_matrix(
            models,
            ["cpu"],
            arguments.pop("threads"),
            fake_benchmark,
            host=True,
            output_dir=str(tmp_path / "out"),
            log=_quiet,
            **arguments,
        )
    assert str(refused.value) == message + "."
    assert not (tmp_path / "out").exists()


def test_a_parser_that_raises_costs_only_its_row(models, fake_benchmark, monkeypatch):
    def broken(text):
        raise RuntimeError("boom")

    monkeypatch.setattr(matrix, "parse_benchmark_output", broken)
    rows = matrix.run_matrix(models[:1], ["cpu", "xnnpack"], [1], fake_benchmark, host=True, num_runs=2, log=_quiet)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("could not parse" in r["reason"] and "boom" in r["reason"] for r in rows)


def test_run_count_shortfall_and_empty_delegation_are_noted(models, fake_benchmark, monkeypatch):
    # A stand-in for the parser's answer (not a parser): the run stopped early, NNAPI took nothing.
    answer = {"status": "ok", "runs": 7, "avg_ms": 3.0, "delegated_nodes": 0, "unexpected_key": 1}
    monkeypatch.setattr(matrix, "parse_benchmark_output", lambda text: answer)
    (row,) = matrix.run_matrix(models[:1], ["xnnpack"], [1], fake_benchmark, host=True, num_runs=20, log=_quiet)
    assert row["status"] == "ok"
    assert row["reason"] == (
        "measured 7 runs, not 20; the xnnpack delegate took no nodes: the model ran on the CPU kernels"
    )


# --- fake phones -------------------------------------------------------------------------------


def test_android_only_the_serials_asked_for(fake_adb, fake_benchmark, models):
    adb, calls = fake_adb
    rows = matrix.run_matrix(
        models[:1],
        ["cpu"],
        [2],
        fake_benchmark,
        serials=["192.168.1.20:5555", "MISSING1"],
        adb=adb,
        num_runs=3,
        log=_quiet,
    )
    assert [(r["device"], r["status"]) for r in rows] == [("192.168.1.20:5555", "ok"), ("MISSING1", "failed")]
    assert "MISSING1 is not attached" in rows[1]["reason"] and "28131FDH2000B1" in rows[1]["reason"]
    assert not any(c[:2] == ["-s", "28131FDH2000B1"] for c in calls())


def test_android_push_failure_fails_that_phone_only(fake_adb, models, tmp_path, monkeypatch):
    adb, _ = fake_adb
    # The binary vanishes between the local check and the push (a push failure, as a full phone gives).
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    real_run_command = commands.run_command

    def run_command(args, timeout):
        if "push" in args and args[-1] == adb_lib.REMOTE_BINARY and args[2] == "28131FDH2000B1":
            args = [*args[:-2], str(tmp_path / "vanished"), args[-1]]
        return real_run_command(args, timeout)

    monkeypatch.setattr(commands, "run_command", run_command)
    monkeypatch.setattr(matrix, "parse_benchmark_output", lambda text: {"status": "ok", "runs": 1, "avg_ms": 1.0})
    rows = matrix.run_matrix(models[:1], ["cpu"], [1], str(binary), adb=adb, num_runs=1, log=_quiet)
    by_device = {r["device"]: r for r in rows}
    assert by_device["28131FDH2000B1"]["status"] == "failed"
    assert "adb push of" in by_device["28131FDH2000B1"]["reason"]
    assert "cannot stat" in by_device["28131FDH2000B1"]["reason"]
    assert by_device["192.168.1.20:5555"]["status"] == "ok"


def test_android_binary_for_another_abi(fake_adb, models, tmp_path):
    adb, _ = fake_adb
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))  # an ELF header the "phone" cannot run
    rows = matrix.run_matrix(models[:1], ["xnnpack"], [1], str(binary), serials=["28131FDH2000B1"], adb=adb, log=_quiet)
    (row,) = rows
    assert row["status"] == "failed"
    assert (
        row["reason"]
        == "exit code 126: /system/bin/sh: /data/local/tmp/benchmark_model: not executable: 64-bit ELF file"
    )


# --- unique log names, a full output folder ----------------------------------------------------


def test_logs_of_models_whose_names_differ_only_in_odd_characters_do_not_collide(fake_benchmark, tmp_path):
    models = []
    for name in ("a b.tflite", "a_b.tflite"):
        (tmp_path / name).write_bytes(b"TFL3" + bytes(60))
        models.append(str(tmp_path / name))
    out = tmp_path / "out"
    rows = matrix.run_matrix(
        models, ["cpu"], [1], fake_benchmark, host=True, num_runs=2, output_dir=str(out), log=_quiet
    )
    assert [r["status"] for r in rows] == ["ok", "ok"]
    logs = sorted(os.listdir(out / "logs"))
    assert len(logs) == 2, logs
    graphs = {(out / "logs" / name).read_text().split("--graph=")[1].split(" --num_threads")[0] for name in logs}
    assert len(graphs) == 2


def test_a_full_output_dir_keeps_the_rows(models, fake_benchmark, full_disk):
    rows = matrix.run_matrix(
        models[:1],
        ["xnnpack"],
        [1],
        fake_benchmark,
        host=True,
        num_runs=2,
        op_profiling=True,
        output_dir=str(full_disk),
        log=_quiet,
    )
    (row,) = rows
    assert row["status"] == "ok" and row["avg_ms"] is not None
    assert "log not written" in row["reason"] and "op profile not written" in row["reason"]
    assert "no space left" in row["reason"]
