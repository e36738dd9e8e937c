"""android_bench/run.py without a phone: command lines, `adb devices` parsing, the real adb with
nothing attached, a missing adb, host runs of fake benchmark_model scripts, a fake adb that acts
as a phone, timeouts and bad arguments."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from android_bench import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
FAKE_BENCHMARK = r'''#!{python}
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
'''

# An adb stand-in that acts as the phones listed in $FAKE_ADB_DEVICES: `push` copies into
# $FAKE_ADB_ROOT/<serial>/ (without the mode bits, so the chmod +x really matters), `shell`
# joins its arguments into one command line as adb does, splits it the way the phone's sh
# would and runs it with /data/local/tmp/ mapped to that folder, exiting with its exit code
# (shell protocol). `getprop` prints $FAKE_ADB_PROPS[serial]. Every call is logged.
FAKE_ADB = r'''#!{python}
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
'''

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


def _parser():
    return pytest.importorskip("android_bench.parse", reason="android_bench/parse.py is not there yet")


def _main(args, capsys):
    code = run.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _written_rows(folder):
    with open(os.path.join(folder, "rows.json")) as file:
        written = json.load(file)
    with open(os.path.join(folder, "rows.csv")) as file:
        assert len(list(csv.DictReader(file))) == len(written["rows"])
    return written


def _quiet(message):
    pass


# --- command lines -----------------------------------------------------------------------------


@pytest.mark.parametrize("delegate, flags", [
    ("xnnpack", ["--use_xnnpack=true"]),
    ("cpu", ["--use_xnnpack=false"]),
    ("nnapi", ["--use_nnapi=true", "--use_xnnpack=false"]),
    ("gpu", ["--use_gpu=true", "--use_xnnpack=false"]),
])
def test_benchmark_command_for_every_delegate(delegate, flags):
    command = run.benchmark_command("/data/local/tmp/benchmark_model", "/data/local/tmp/m.tflite",
                                    delegate, 4, 50, 5, False, None)
    assert command == [
        "/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_threads=4",
        "--num_runs=50", "--warmup_runs=5", "--min_secs=0", "--warmup_min_secs=0", "--max_secs=300",
        *flags,
    ]


def test_benchmark_command_with_cpu_mask_op_profiling_and_max_secs():
    command = run.benchmark_command("bm", "m.tflite", "xnnpack", 1, 7, 0, True, "f0", max_secs=42.5)
    assert command == [
        "taskset", "f0", "bm", "--graph=m.tflite", "--num_threads=1", "--num_runs=7", "--warmup_runs=0",
        "--min_secs=0", "--warmup_min_secs=0", "--max_secs=42.5", "--use_xnnpack=true",
        "--enable_op_profiling=true",
    ]


def test_benchmark_command_refuses_an_unknown_delegate():
    with pytest.raises(ValueError, match="tpu"):
        run.benchmark_command("bm", "m.tflite", "tpu", 1, 1, 1)


# --- adb devices -------------------------------------------------------------------------------

# Recorded `adb devices -l` listings (adb 1.0.41; the daemon lines are what a first call prints
# while it starts the server).
LISTING_MIXED = """\
* daemon not running; starting now at tcp:5037
* daemon started successfully
List of devices attached
28131FDH2000B1         device usb:1-1 product:panther model:Pixel_7 device:panther transport_id:3
R58M42ABCDE            unauthorized usb:1-2 transport_id:4
emulator-5554          offline transport_id:1
192.168.1.20:5555      device product:beyond1lte model:SM_G973F device:beyond1 transport_id:5
0123456789ABCDEF       no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html] usb:1-3 transport_id:6
ZY22FLDXXX             recovery usb:1-4 transport_id:7

"""


def test_parse_devices_sorts_ready_phones_from_problems():
    devices, problems = run.parse_devices(LISTING_MIXED)
    assert devices == ["28131FDH2000B1", "192.168.1.20:5555"]
    reasons = dict(problems)
    assert list(reasons) == ["R58M42ABCDE", "emulator-5554", "0123456789ABCDEF", "ZY22FLDXXX"]
    assert "unauthorized" in reasons["R58M42ABCDE"] and "USB debugging" in reasons["R58M42ABCDE"]
    assert "offline" in reasons["emulator-5554"]
    assert "no permission" in reasons["0123456789ABCDEF"] and "udev" in reasons["0123456789ABCDEF"]
    assert "'recovery'" in reasons["ZY22FLDXXX"]


def test_parse_devices_without_details_and_empty():
    assert run.parse_devices("List of devices attached\nABC\tdevice\nDEF\tunauthorized\n\n") == (
        ["ABC"], [("DEF", run._STATE_REASONS["unauthorized"].format(serial="DEF"))])
    assert run.parse_devices("List of devices attached\n\n") == ([], [])
    assert run.parse_devices("adb server version (39) doesn't match this client (41); killing...\n"
                             "List of devices attached\n") == ([], [])


def test_parse_getprop():
    text = "[ro.product.model]: [Pixel 7]\r\n[ro.build.version.sdk]: [34]\n[empty]: []\n"
    assert run.parse_getprop(run._normalise(text)) == {
        "ro.product.model": "Pixel 7", "ro.build.version.sdk": "34", "empty": ""}


# --- the real adb, nothing attached ------------------------------------------------------------


@pytest.fixture
def real_adb_without_phone():
    if REAL_ADB is None:
        pytest.skip("adb is not installed")
    # The first call may have to start the adb server: give it time. Nothing is killed here.
    listing = subprocess.run([REAL_ADB, "devices"], capture_output=True, text=True, timeout=120)
    if run.parse_devices(listing.stdout) != ([], []):
        pytest.skip("a device is attached; these tests expect none")
    return REAL_ADB


def test_real_adb_without_a_device_gives_a_failed_row_per_cell(real_adb_without_phone, models, fake_benchmark,
                                                               tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, _ = _main(["--models", *models, "--binary", fake_benchmark, "--delegates", "xnnpack,cpu",
                              "--threads", "1,4", "--adb", real_adb_without_phone, "--output-dir", str(out)],
                             capsys)
    assert code == 0
    written = _written_rows(out)
    assert len(written["rows"]) == 2 * 2 * 2  # one per (model, delegate, threads)
    for row in written["rows"]:
        assert row["status"] == "failed" and row["source"] == "android" and row["device"] is None
        assert "no Android device" in row["reason"]
    assert {(r["model"], r["delegate"], r["threads"]) for r in written["rows"]} == {
        (os.path.basename(m), d, t) for m in models for d in ("xnnpack", "cpu") for t in (1, 4)}
    assert printed.startswith("| source |") and "no Android device" in printed
    assert written["devices"] == []


def test_real_adb_with_an_unknown_serial(real_adb_without_phone, models, fake_benchmark, tmp_path):
    rows = run.run_matrix(models[:1], ["cpu"], [1], fake_benchmark, serials=["NOPE123"],
                          adb=real_adb_without_phone, log=_quiet)
    assert len(rows) == 1
    assert rows[0]["device"] == "NOPE123" and "NOPE123 is not attached" in rows[0]["reason"]


# --- adb missing -------------------------------------------------------------------------------


def test_adb_path_that_does_not_exist(models, fake_benchmark, tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, _ = _main(["--models", *models, "--binary", fake_benchmark, "--delegates", "gpu",
                              "--threads", "2", "--adb", "/nonexistent/adb", "--output-dir", str(out)], capsys)
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 2
    assert all(r["status"] == "failed" and r["reason"] == "adb not found at /nonexistent/adb" for r in rows)
    assert "/nonexistent/adb" in printed


def test_adb_not_on_an_empty_path(models, fake_benchmark, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    out = tmp_path / "out"
    code, _, _ = _main(["--models", models[0], "--binary", fake_benchmark, "--delegates", "xnnpack,nnapi",
                        "--threads", "1", "--output-dir", str(out)], capsys)
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 2
    assert all("adb not found" in r["reason"] and "PATH" in r["reason"] for r in rows)


def test_adb_that_is_not_executable(models, fake_benchmark, tmp_path):
    adb = tmp_path / "adb"
    adb.write_text("#!/bin/sh\n")
    rows = run.run_matrix(models[:1], ["cpu"], [1], fake_benchmark, adb=str(adb), log=_quiet)
    assert "is not executable" in rows[0]["reason"]


def test_adb_server_that_does_not_start(models, fake_benchmark, tmp_path):
    adb = _script(tmp_path / "adb", "#!/bin/sh\necho '* daemon not running; starting now at tcp:5037'\n"
                                    "echo 'ADB server didn'\"'\"'t ACK' >&2\n"
                                    "echo '* failed to start daemon' >&2\n"
                                    "echo 'error: cannot connect to daemon' >&2\nexit 1\n")
    rows = run.run_matrix(models, ["cpu"], [1, 4], fake_benchmark, adb=adb, log=_quiet)
    assert len(rows) == 4
    assert all("adb devices failed" in r["reason"] and "daemon" in r["reason"] for r in rows)


# --- host runs ---------------------------------------------------------------------------------


def test_host_with_a_missing_binary(models, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = _main(["--host", "--models", *models, "--binary", str(tmp_path / "nope"), "--delegates",
                        "xnnpack,cpu", "--threads", "1", "--output-dir", str(out)], capsys)
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 4
    assert all(r["source"] == "host-binary" and "binary not found" in r["reason"] for r in rows)


def test_host_with_a_binary_that_is_not_executable(models, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o644)
    rows = run.run_matrix(models[:1], ["cpu"], [1, 2], str(binary), host=True, log=_quiet)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("not executable" in r["reason"] for r in rows)


def test_host_with_a_missing_model_still_runs_the_others(models, fake_benchmark, tmp_path):
    _parser()
    missing = str(tmp_path / "gone.tflite")
    rows = run.run_matrix([missing, models[0]], ["cpu"], [1], fake_benchmark, host=True, num_runs=3,
                          warmup_runs=1, log=_quiet)
    assert [(r["model"], r["status"]) for r in rows] == [("gone.tflite", "failed"), (os.path.basename(models[0]), "ok")]
    assert rows[0]["reason"] == f"model file not found: {missing}"


def test_host_runs_the_fake_benchmark_model(models, fake_benchmark, tmp_path, monkeypatch, capsys):
    _parser()
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    out = tmp_path / "out"
    code, printed, _ = _main(["--host", "--models", *models, "--binary", fake_benchmark,
                              "--delegates", "xnnpack,cpu,nnapi,gpu", "--threads", "1,4", "--num-runs", "20",
                              "--warmup-runs", "3", "--timeout", "60", "--output-dir", str(out)], capsys)
    assert code == 0
    written = _written_rows(out)
    rows = {(r["model"], r["delegate"], r["threads"]): r for r in written["rows"]}
    assert len(rows) == 2 * 4 * 2
    xs = os.path.basename(models[0])

    ok = rows[(xs, "xnnpack", 4)]
    assert ok["status"] == "ok" and ok["source"] == "host-binary" and ok["device"]
    assert ok["runs"] == 20 and ok["avg_ms"] == pytest.approx(24.5026)
    assert ok["init_ms"] == pytest.approx(96.477) and ok["memory_mb"] == pytest.approx(52.6055)
    assert (ok["delegated_nodes"], ok["total_nodes"]) == (183, 187)
    assert rows[(xs, "xnnpack", 1)]["avg_ms"] == pytest.approx(61.2345)
    cpu = rows[(xs, "cpu", 1)]
    assert cpu["status"] == "ok" and cpu["delegated_nodes"] is None and cpu["reason"] is None

    nnapi = rows[(xs, "nnapi", 1)]
    assert nnapi["status"] == "failed" and "Failed to apply NNAPI delegate" in nnapi["reason"]
    assert nnapi["reason"].startswith("exit code 1")
    gpu = rows[(xs, "gpu", 4)]  # ran, but on the CPU: not a gpu measurement
    assert gpu["status"] == "failed"
    assert gpu["reason"] == "gpu is not available: GPU acceleration is unsupported on this platform."
    assert gpu["avg_ms"] is None and gpu["runs"] is None  # CPU numbers do not sit under "gpu"

    # The binary got exactly the run counts, the time limit and the delegate flags.
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(argv) == 16
    assert argv[0] == [f"--graph={models[0]}", "--num_threads=1", "--num_runs=20", "--warmup_runs=3",
                       "--min_secs=0", "--warmup_min_secs=0", "--max_secs=60", "--use_xnnpack=true"]
    # Every run's raw output is kept; no profiles without --op-profiling.
    logs = sorted(os.listdir(out / "logs"))
    assert len(logs) == 16 and all(name.endswith(".log") for name in logs)
    assert not (out / "op_profiles").exists() and written["op_profiles"] == []
    assert written["settings"]["delegates"]["nnapi"] == ["--use_nnapi=true", "--use_xnnpack=false"]
    assert "| host-binary |" in printed


def test_host_nnapi_flag_ignored_by_a_desktop_build_is_a_failed_row(models, fake_benchmark, monkeypatch):
    _parser()
    monkeypatch.setenv("FAKE_BENCH_DESKTOP", "1")
    (row,) = run.run_matrix(models[:1], ["nnapi"], [1], fake_benchmark, host=True, num_runs=5, log=_quiet)
    assert row["status"] == "failed"
    assert row["reason"] == "nnapi is not available in this benchmark_model build (it ignored --use_nnapi=true)"


def test_host_op_profiling_writes_one_profile_per_run(models, fake_benchmark, tmp_path, capsys):
    _parser()
    out = tmp_path / "out"
    code, _, _ = _main(["--host", "--models", models[0], "--binary", fake_benchmark, "--delegates", "xnnpack",
                        "--threads", "1,2", "--num-runs", "4", "--op-profiling", "--output-dir", str(out)], capsys)
    assert code == 0
    written = _written_rows(out)
    assert len(written["op_profiles"]) == 2
    with open(written["op_profiles"][0]) as file:
        profile = json.load(file)
    assert profile["delegate"] == "xnnpack" and profile["threads"] == 1 and profile["status"] == "ok"
    node_types = {op["node_type"] for op in profile["ops"]}
    assert {"TfLiteXNNPackDelegate", "BATCH_MATMUL"} <= node_types
    assert "op_profile" not in written["rows"][0]  # the table keeps its columns


def test_host_run_that_times_out(models, tmp_path):
    # A wrapper script whose child holds the output pipe: the whole process group must go.
    binary = _script(tmp_path / "benchmark_model", "#!/bin/sh\necho 'INFO: STARTING!' >&2\nsleep 60\n")
    started = time.monotonic()
    rows = run.run_matrix(models[:1], ["cpu", "xnnpack"], [1], binary, host=True, timeout=1.5,
                          output_dir=str(tmp_path / "out"), log=_quiet)
    assert time.monotonic() - started < 30
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all(r["reason"] == "timed out after 1.5 s" for r in rows)
    log = (tmp_path / "out" / "logs" / os.listdir(tmp_path / "out" / "logs")[0]).read_text()
    assert "STARTING!" in log  # what it printed before being killed is kept


def test_a_parser_that_raises_costs_only_its_row(models, fake_benchmark, monkeypatch):
    def broken(text):
        raise RuntimeError("boom")

    monkeypatch.setattr(run, "_parse", broken)
    rows = run.run_matrix(models[:1], ["cpu", "xnnpack"], [1], fake_benchmark, host=True, num_runs=2, log=_quiet)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("could not parse" in r["reason"] and "boom" in r["reason"] for r in rows)


def test_run_count_shortfall_and_empty_delegation_are_noted(models, fake_benchmark, monkeypatch):
    # A stand-in for the parser's answer (not a parser): the run stopped early, NNAPI took nothing.
    monkeypatch.setattr(run, "_parse", lambda text: {"status": "ok", "runs": 7, "avg_ms": 3.0, "delegated_nodes": 0,
                                                     "unexpected_key": 1})
    (row,) = run.run_matrix(models[:1], ["xnnpack"], [1], fake_benchmark, host=True, num_runs=20, log=_quiet)
    assert row["status"] == "ok"
    assert row["reason"] == ("measured 7 runs, not 20; "
                             "the xnnpack delegate took no nodes: the model ran on the CPU kernels")


# --- a fake adb standing in for phones ---------------------------------------------------------


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    root = tmp_path / "adb_root"
    root.mkdir()
    monkeypatch.setenv("FAKE_ADB_ROOT", str(root))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "List of devices attached\n"
                       "28131FDH2000B1\tdevice usb:1-1 product:panther model:Pixel_7 transport_id:3\n"
                       "R58M42ABCDE\tunauthorized usb:1-2 transport_id:4\n"
                       "192.168.1.20:5555\tdevice product:beyond1lte model:SM_G973F transport_id:5\n"
                       "emulator-5554\toffline transport_id:1\n\n")
    monkeypatch.setenv("FAKE_ADB_PROPS", json.dumps({"28131FDH2000B1": PIXEL_PROPS, "192.168.1.20:5555": OLD_PROPS}))
    adb = _script(tmp_path / "adb", FAKE_ADB)

    def calls():
        return [json.loads(line) for line in (root / "calls.jsonl").read_text().splitlines()]

    return adb, calls


def test_android_matrix_on_fake_phones(fake_adb, fake_benchmark, tmp_path, capsys):
    _parser()
    adb, calls = fake_adb
    model = tmp_path / "swift former xs.tflite"  # a space: the adb shell command must quote it
    model.write_bytes(b"TFL3" + bytes(60))
    out = tmp_path / "out"
    code, printed, _ = _main(["--models", str(model), "--binary", fake_benchmark, "--delegates", "xnnpack,nnapi",
                              "--threads", "1,4", "--num-runs", "12", "--warmup-runs", "2", "--cpu-mask", "f0",
                              "--adb", adb, "--output-dir", str(out)], capsys)
    assert code == 0
    written = _written_rows(out)
    rows = written["rows"]
    assert len(rows) == 4 * 4  # two ready phones, then the unauthorized and the offline one
    assert [r["device"] for r in rows[::4]] == ["28131FDH2000B1", "192.168.1.20:5555", "R58M42ABCDE", "emulator-5554"]

    pixel = {(r["delegate"], r["threads"]): r for r in rows if r["device"] == "28131FDH2000B1"}
    ok = pixel[("xnnpack", 4)]
    assert ok["status"] == "ok" and ok["runs"] == 12 and ok["avg_ms"] == pytest.approx(24.5026)
    assert (ok["source"], ok["device_model"], ok["soc"], ok["android"]) == ("android", "Pixel 7", "GS201", "14 (SDK 34)")
    assert ok["model"] == "swift former xs.tflite"
    assert pixel[("nnapi", 1)]["status"] == "failed"
    assert "Failed to apply NNAPI delegate" in pixel[("nnapi", 1)]["reason"]
    old = [r for r in rows if r["device"] == "192.168.1.20:5555"]
    assert old[0]["soc"] == "exynos9820" and old[0]["android"] == "11 (SDK 30)"  # ro.board.platform fallback
    for serial, word in (("R58M42ABCDE", "unauthorized"), ("emulator-5554", "offline")):
        assert all(r["status"] == "failed" and word in r["reason"] for r in rows if r["device"] == serial)
    assert [d["abi"] for d in written["devices"]] == ["arm64-v8a", "arm64-v8a"]

    # What was asked of adb, for the Pixel: properties, push, chmod, push, then the runs.
    pixel_calls = [c[2:] for c in calls() if c[:2] == ["-s", "28131FDH2000B1"]]
    assert pixel_calls[:4] == [
        ["shell", "getprop"],
        ["push", fake_benchmark, "/data/local/tmp/benchmark_model"],
        ["shell", "chmod +x /data/local/tmp/benchmark_model"],
        ["push", str(model), "/data/local/tmp/swift former xs.tflite"],
    ]
    assert pixel_calls[4] == ["shell", "taskset f0 /data/local/tmp/benchmark_model "
                              "'--graph=/data/local/tmp/swift former xs.tflite' --num_threads=1 --num_runs=12 "
                              "--warmup_runs=2 --min_secs=0 --warmup_min_secs=0 --max_secs=300 --use_xnnpack=true"]
    assert len(pixel_calls) == 4 + 4
    assert not any(c[:2] == ["-s", "R58M42ABCDE"] for c in calls())  # problem phones are left alone
    assert "| android | 28131FDH2000B1 | Pixel 7 | GS201 | 14 (SDK 34) |" in printed


def test_android_only_the_serials_asked_for(fake_adb, fake_benchmark, models):
    _parser()
    adb, calls = fake_adb
    rows = run.run_matrix(models[:1], ["cpu"], [2], fake_benchmark, serials=["192.168.1.20:5555", "MISSING1"],
                          adb=adb, num_runs=3, log=_quiet)
    assert [(r["device"], r["status"]) for r in rows] == [("192.168.1.20:5555", "ok"), ("MISSING1", "failed")]
    assert "MISSING1 is not attached" in rows[1]["reason"] and "28131FDH2000B1" in rows[1]["reason"]
    assert not any(c[:2] == ["-s", "28131FDH2000B1"] for c in calls())


def test_android_push_failure_fails_that_phone_only(fake_adb, models, tmp_path, monkeypatch):
    adb, _ = fake_adb
    # The binary vanishes between the local check and the push (a push failure, as a full phone gives).
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    real_run_command = run.run_command

    def run_command(args, timeout):
        if "push" in args and args[-1] == run.REMOTE_BINARY and args[2] == "28131FDH2000B1":
            args = [*args[:-2], str(tmp_path / "vanished"), args[-1]]
        return real_run_command(args, timeout)

    monkeypatch.setattr(run, "run_command", run_command)
    monkeypatch.setattr(run, "_parse", lambda text: {"status": "ok", "runs": 1, "avg_ms": 1.0})
    rows = run.run_matrix(models[:1], ["cpu"], [1], str(binary), adb=adb, num_runs=1, log=_quiet)
    by_device = {r["device"]: r for r in rows}
    assert by_device["28131FDH2000B1"]["status"] == "failed"
    assert "adb push of" in by_device["28131FDH2000B1"]["reason"]
    assert "cannot stat" in by_device["28131FDH2000B1"]["reason"]
    assert by_device["192.168.1.20:5555"]["status"] == "ok"


# --- bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("extra, message", [
    (["--delegates", "xnnpack,tpu"], "unknown delegate(s) tpu"),
    (["--threads", "0"], "positive integers"),
    (["--threads", "1,-2"], "positive integers"),
    (["--threads", "two"], "positive integers"),
    (["--num-runs", "0"], "--num-runs must be positive"),
    (["--warmup-runs", "-1"], "--warmup-runs"),
    (["--timeout", "0"], "--timeout must be positive"),
    (["--cpu-mask", "zz"], "--cpu-mask"),
    (["--cpu-mask", "0"], "--cpu-mask"),
    (["--host", "--serial", "ABC"], "--serial"),
    (["--num-runs", "many"], "invalid int value"),
])
def test_bad_arguments_exit_with_2(extra, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = _main(["--models", "a.tflite", "--binary", "bm", "--output-dir", str(out), *extra], capsys)
    assert code == 2
    assert message in err
    assert not out.exists()


def test_missing_binary_argument_and_repeated_model_names(capsys):
    code, _, err = _main(["--models", "a.tflite"], capsys)
    assert code == 2 and "--binary" in err
    code, _, err = _main(["--models", "x/a.tflite", "y/a.tflite", "--binary", "bm"], capsys)
    assert code == 2 and "same file name: a.tflite" in err


def test_script_entry_point_exits_2_on_a_bad_delegate(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "android_bench", "run.py"), "--models", "a.tflite", "--binary", "bm",
         "--delegates", "dsp", "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
    )
    assert result.returncode == 2
    assert "unknown delegate(s) dsp; choose from xnnpack, nnapi, gpu, cpu" in result.stderr


def test_android_binary_for_another_abi(fake_adb, models, tmp_path):
    _parser()
    adb, _ = fake_adb
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))  # an ELF header the "phone" cannot run
    rows = run.run_matrix(models[:1], ["xnnpack"], [1], str(binary), serials=["28131FDH2000B1"], adb=adb,
                          log=_quiet)
    (row,) = rows
    assert row["status"] == "failed"
    assert row["reason"] == "exit code 126: /system/bin/sh: /data/local/tmp/benchmark_model: not executable: 64-bit ELF file"


# --- issue 10: unique log names, unwritable and full output folders -------------------------------


def _error_lines(err, prog="android_bench/run.py"):
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]


def test_logs_of_models_whose_names_differ_only_in_odd_characters_do_not_collide(fake_benchmark, tmp_path):
    _parser()
    models = []
    for name in ("a b.tflite", "a_b.tflite"):
        (tmp_path / name).write_bytes(b"TFL3" + bytes(60))
        models.append(str(tmp_path / name))
    out = tmp_path / "out"
    rows = run.run_matrix(models, ["cpu"], [1], fake_benchmark, host=True, num_runs=2, output_dir=str(out),
                          log=_quiet)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    logs = sorted(os.listdir(out / "logs"))
    assert len(logs) == 2, logs
    graphs = {(out / "logs" / name).read_text().split("--graph=")[1].split(" --num_threads")[0] for name in logs}
    assert len(graphs) == 2


def test_an_unwritable_output_dir_is_refused_before_any_run(models, fake_benchmark, read_only_dir, tmp_path,
                                                             monkeypatch, capsys):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    for folder, message in ((read_only_dir, "is not writable"), (read_only_dir / "out", "cannot be created")):
        code, printed, err = _main(["--host", "--models", *models, "--binary", fake_benchmark, "--delegates", "cpu",
                                    "--threads", "1", "--output-dir", str(folder)], capsys)
        assert code == 2 and printed == ""
        (line,) = _error_lines(err)
        assert f"--output-dir '{folder}' {message}" in line
    assert not calls.exists()


def test_a_full_output_dir_keeps_the_rows_and_ends_in_one_line(models, fake_benchmark, full_disk, capsys):
    _parser()
    rows = run.run_matrix(models[:1], ["xnnpack"], [1], fake_benchmark, host=True, num_runs=2, op_profiling=True,
                          output_dir=str(full_disk), log=_quiet)
    (row,) = rows
    assert row["status"] == "ok" and row["avg_ms"] is not None
    assert "log not written" in row["reason"] and "op profile not written" in row["reason"]
    assert "no space left" in row["reason"]
    code, printed, err = _main(["--host", "--models", *models, "--binary", fake_benchmark, "--delegates", "cpu",
                                "--threads", "1", "--num-runs", "2", "--output-dir", str(full_disk)], capsys)
    assert code == 2 and printed.count("| host-binary |") == 2  # the table came out before the failure
    (line,) = _error_lines(err)
    assert "no space left on the device" in line and "rows.csv" in line
    assert [name for _, _, names in os.walk(full_disk) for name in names] == [".filler"]  # no partial left
