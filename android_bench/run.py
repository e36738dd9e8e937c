"""Benchmarks .tflite models with TensorFlow Lite's `benchmark_model` on Android phones (adb) or here.

    python android_bench/run.py --models a.tflite b.tflite --binary path/to/benchmark_model \\
        --delegates xnnpack,nnapi,gpu,cpu --threads 1,4 [--serial S ...] [--num-runs 50] \\
        [--warmup-runs 5] [--op-profiling] [--cpu-mask f0] [--timeout 300] [--host] \\
        [--output-dir DIR] [--adb PATH]

Android (default): every phone `adb devices` lists in state "device" (or only the `--serial`s given)
gets the binary and the models pushed to /data/local/tmp/, then one `benchmark_model` run per
(model, delegate, threads) through `adb shell`. `--host` runs the same matrix with `--binary` on
this machine (rows with source "host-binary").

Every cell of the matrix becomes one row of `android_bench/rows.py`'s table, measured or failed:
a missing adb, no phone, an unauthorized or offline phone, a missing binary or model, a failed
push, a run that times out, exits non-zero or whose delegate did not apply are all rows with
status "failed" and the reason, and the rest of the matrix still runs. When nothing could be
measured at all (no phone attached, adb missing) every cell still gets its failed row, so the
table has the same shape whatever happened and later tables can be compared cell by cell.
The exit code is 0 whenever the table was written; 2, with one line on stderr, for bad
arguments or an --output-dir that cannot be written (both found before any run), and for
rows.csv / rows.json that could not be written (after the table was printed).

Written to --output-dir: rows.csv and rows.json (atomically), logs/<run>.log (each run's raw
output, for the failures a parser cannot explain) and, with --op-profiling, op_profiles/<run>.json.
A log or profile that cannot be written (a full disk) is noted in its row's reason and the
row is kept. Each run's file name is unique within the run, even for model names that differ
only in characters a file name cannot hold. The Markdown table goes to stdout, progress to stderr.

Flags passed to benchmark_model (names checked against tensorflow/lite/tools/benchmark/README.md,
benchmark_model.cc, benchmark_tflite_model.cc and tensorflow/lite/tools/delegates/*_provider.cc):
    --graph --num_threads --num_runs --warmup_runs  the run itself
    --min_secs=0 --warmup_min_secs=0                 the defaults (1 s, 0.5 s) would add runs
                                                     beyond --num_runs/--warmup_runs on a fast
                                                     model: BenchmarkModel::Run loops while
                                                     `run < min_num_times || now < min_finish`
    --max_secs=<--timeout>                           the default 150 s would cut the runs short on
                                                     a slow model (`&& now <= max_finish`); past
                                                     --timeout the run is killed anyway, so the
                                                     run counts are exact or the row says "timed out"
    --enable_op_profiling=true                       with --op-profiling
See DELEGATE_FLAGS for the delegate flags.
"""

import argparse
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import namedtuple

if __package__ in (None, ""):  # run as `python android_bench/run.py`: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from android_bench import rows as table  # noqa: E402
from swiftformer_keras import cli  # noqa: E402
from swiftformer_keras.files import check_output_folder, write_bytes_atomically, write_json_atomically  # noqa: E402

REMOTE_DIR = "/data/local/tmp"  # writable and executable for the shell user on every Android version
REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"
DEFAULT_TIMEOUT = 300.0  # seconds per benchmark run (and per push)
ADB_TIMEOUT = 60.0  # `adb devices` may have to start the adb server first, which takes seconds

# The flags of each delegate (tensorflow/lite/tools/delegates/*_delegate_provider.cc, README.md
# "TFLite delegate parameters"):
# - xnnpack: `use_xnnpack` (xnnpack_delegate_provider.cc). Recent runtimes apply XNNPACK by default
#   anyway; the flag makes it explicit and makes the tool log how many nodes it took.
# - cpu: `--use_xnnpack=false` set explicitly makes BenchmarkTfLiteModel::GetOpResolver() use
#   BuiltinOpResolverWithoutDefaultDelegates, i.e. TFLite's own kernels with no delegate at all.
# - nnapi: `use_nnapi` (nnapi_delegate_provider.cc; the flag exists only in Android builds).
# - gpu: `use_gpu` (gpu_delegate_provider.cc; a real delegate only on Android and iOS).
# nnapi and gpu also get `--use_xnnpack=false`: otherwise the default XNNPACK delegate takes every
# node the accelerator leaves, and a delegate that took little or nothing would show XNNPACK's
# speed under its own name. So each row measures one delegate alone, its leftovers on the plain
# kernels; delegated_nodes / total_nodes say how much it took. (An app that keeps XNNPACK on
# behind a partial GPU/NNAPI delegation can be faster than these rows.)
# A delegate that fails to apply makes benchmark_model log "Failed to apply <NAME> delegate." and
# exit non-zero (benchmark_tflite_model.cc, Init; benchmark_main.cc), which becomes a failed row.
DELEGATE_FLAGS = {
    "xnnpack": ("--use_xnnpack=true",),
    "nnapi": ("--use_nnapi=true", "--use_xnnpack=false"),
    "gpu": ("--use_gpu=true", "--use_xnnpack=false"),
    "cpu": ("--use_xnnpack=false",),
}
# How the delegate providers name themselves in their warnings ("GPU acceleration is unsupported
# on this platform.", gpu_delegate_provider.cc / nnapi_delegate_provider.cc).
_PROVIDER_NAMES = {"xnnpack": "XNNPACK", "nnapi": "NNAPI", "gpu": "GPU"}

# The row columns the parser may fill; the identity columns are this module's.
_IDENTITY = ("source", "device", "device_model", "soc", "android", "model", "delegate", "threads")
_MEASURED = tuple(c for c in table.COLUMNS if c not in _IDENTITY)

# Connection states `adb devices` prints (adb's transport.cpp, to_string(ConnectionState)).
_ADB_STATES = (
    "device", "offline", "unauthorized", "no permissions", "bootloader", "recovery", "rescue",
    "sideload", "host", "authorizing", "connecting", "detached", "unknown",
)
_STATE_REASONS = {
    "unauthorized": "device {serial} is unauthorized: unlock it and accept the USB debugging prompt",
    "offline": "device {serial} is offline: reconnect the cable or restart the adb server",
    "no permissions": "no permission to open USB device {serial}: fix the udev rules / plugdev group",
    "authorizing": "device {serial} is still authorizing: accept the USB debugging prompt",
}

Result = namedtuple("Result", "returncode output error")
Result.__doc__ = "A finished command: exit code (None if it never ran to the end), output, error."


class UsageError(ValueError):
    """A bad command-line argument (exit code 2)."""


def _log(message):
    print(message, file=sys.stderr, flush=True)


def run_command(args, timeout):
    """Runs `args` (a list, never a shell string) with stdout and stderr captured together.

    The command gets its own session so that on timeout its whole process group is killed:
    killing only the direct child would leave e.g. a `sleep` in a wrapper script holding the
    output pipe, and reading the pipe would then hang past the timeout. (An adb server that an
    adb client starts leads its own session, SID = PID in `ps`, so it is not in that group.)
    """
    try:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True,
        )
    except OSError as error:
        return Result(None, "", f"could not start {args[0]}: {error.strerror or error}")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            output = ""
        return Result(None, _normalise(output), f"timed out after {timeout:g} s")
    return Result(process.returncode, _normalise(output), None)


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the group is the one start_new_session made
    except (AttributeError, ProcessLookupError, PermissionError):
        process.kill()


def _normalise(text):
    # `adb shell` on old devices (no shell protocol, a pty) ends lines with \r\n.
    return (text or "").replace("\r\n", "\n")


def _summary(output, limit=300):
    """The line that best says why a command failed: its first error line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "Benchmarking failed" not in line]
    text = (errors or lines or ["no output"])[0 if errors else -1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _command_problem(what, result):
    """None if `result` succeeded, else why `what` failed."""
    if result.error:
        return f"{what}: {result.error}"
    if result.returncode != 0:
        return f"{what} failed (exit code {result.returncode}): {_summary(result.output)}"
    return None


# --- benchmark_model command lines -------------------------------------------------------------


def benchmark_command(binary, model, delegate, threads, num_runs, warmup_runs, op_profiling=False,
                      cpu_mask=None, max_secs=DEFAULT_TIMEOUT):
    """The argument list of one benchmark_model run (for `adb shell`, join it with shlex.join).

    `cpu_mask` (hex, e.g. "f0" for the big cores of many phones) prefixes `taskset <mask>`: pinning
    the process to one cluster removes the big.LITTLE scheduling noise between runs, as the
    benchmark README recommends ("Reducing variance between runs on Android"). The mask is
    device-specific. See the module docstring for the run-count flags.
    """
    if delegate not in DELEGATE_FLAGS:
        raise ValueError(f"Unknown delegate {delegate!r}; choose from {', '.join(DELEGATE_FLAGS)}.")
    command = ["taskset", cpu_mask] if cpu_mask else []
    command += [
        binary,
        f"--graph={model}",
        f"--num_threads={threads}",
        f"--num_runs={num_runs}",
        f"--warmup_runs={warmup_runs}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        f"--max_secs={max_secs:g}",
        *DELEGATE_FLAGS[delegate],
    ]
    if op_profiling:
        command.append("--enable_op_profiling=true")
    return command


# --- adb ---------------------------------------------------------------------------------------


def resolve_adb(adb):
    """(path of adb, None) or (None, why there is no usable adb)."""
    if os.sep in adb or (os.altsep and os.altsep in adb):
        if not os.path.isfile(adb):
            return None, f"adb not found at {adb}"
        if not os.access(adb, os.X_OK):
            return None, f"adb at {adb} is not executable"
        return adb, None
    found = shutil.which(adb)
    if not found:
        return None, f"adb not found: {adb!r} is not on PATH (install Android platform-tools or pass --adb)"
    return found, None


def parse_devices(text):
    """Parses `adb devices [-l]` output into (serials in state "device", [(serial, reason), ...]).

    Lines that are not device lines (the header, "* daemon started successfully", version
    warnings) are skipped; "no permissions (...)" is the one state with a space in it.
    """
    devices, problems = [], []
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            continue
        serial, rest = parts
        state = next((s for s in _ADB_STATES if rest == s or rest.startswith(s + " ")), None)
        if state is None:
            continue
        if state == "device":
            devices.append(serial)
        else:
            reason = _STATE_REASONS.get(state, "device {serial} is in state '{state}', not 'device'")
            problems.append((serial, reason.format(serial=serial, state=state)))
    return devices, problems


def list_devices(adb, timeout=ADB_TIMEOUT):
    """(serials ready for use, [(serial or None, reason), ...]) from `adb devices -l`.

    A problem with serial None is adb's own (its server did not start, it timed out).
    """
    result = run_command([adb, "devices", "-l"], timeout)
    if result.error:
        return [], [(None, f"adb devices: {result.error} (did the adb server start?)")]
    if result.returncode != 0:
        return [], [(None, f"adb devices failed (exit code {result.returncode}), the adb server "
                           f"did not start?: {_summary(result.output)}")]
    return parse_devices(result.output)


def parse_getprop(text):
    """`getprop` output ("[ro.product.model]: [Pixel 7]" lines) as a dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.MULTILINE))


def device_info(adb, serial, timeout=ADB_TIMEOUT):
    """The phone's model, SoC, Android version and ABI, read with one `adb shell getprop`.

    Returns a dict with serial, device_model, soc, android, abi and problem (None, or why the
    properties could not be read, in which case the phone cannot run anything either).
    """
    info = {"serial": serial, "device_model": None, "soc": None, "android": None, "abi": None}
    result = run_command([adb, "-s", serial, "shell", "getprop"], timeout)
    info["problem"] = _command_problem(f"reading the properties of {serial}", result)
    props = parse_getprop(result.output) if info["problem"] is None else {}
    info["device_model"] = props.get("ro.product.model") or None
    # ro.soc.model exists from Android 12; older phones only name the board / hardware.
    info["soc"] = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware") or None
    release, sdk = props.get("ro.build.version.release"), props.get("ro.build.version.sdk")
    if release or sdk:
        info["android"] = f"{release or '?'} (SDK {sdk})" if sdk else release
    info["abi"] = props.get("ro.product.cpu.abi") or None
    return info


def host_info():
    """This machine's name and CPU model, for host rows."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.lower().startswith(("model name", "hardware")):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"device": platform.node() or "host", "device_model": model or platform.processor() or platform.machine()}


# --- one run -----------------------------------------------------------------------------------


def _parse(text):
    # Imported here so that this module imports (and its tests run) before parse.py exists.
    from android_bench.parse import parse_benchmark_output

    return parse_benchmark_output(text)


def _delegate_unavailable(output, delegate):
    """Why `delegate` was never applied although the run "succeeded", or None.

    benchmark_model does not fail in these two cases, it silently runs on the CPU instead:
    - a flag the build does not know is only warned about ("Unconsumed cmdline flags: ...",
      benchmark_model.cc ParseFlags), e.g. --use_nnapi on a desktop build;
    - a provider that cannot create its delegate warns "<NAME> acceleration is unsupported on
      this platform." and the tool goes on without it (delegate_provider.cc skips null delegates).
    """
    enabling = DELEGATE_FLAGS[delegate][0] if delegate != "cpu" else None
    name = _PROVIDER_NAMES.get(delegate)
    for line in output.splitlines():
        if enabling and "Unconsumed cmdline flags" in line and enabling in line:
            return f"{delegate} is not available in this benchmark_model build (it ignored {enabling})"
        if name and f"{name} acceleration is unsupported" in line:
            return f"{delegate} is not available: {re.sub(r'^[A-Z]+: ', '', line.strip())}"
    return None


def _judge(result, parsed, delegate, num_runs):
    """(status, reason, whether the parsed numbers belong in the row) of one run."""
    status, reason = parsed.get("status") or "ok", parsed.get("reason")
    if result.returncode != 0:
        # benchmark_main.cc returns EXIT_FAILURE for any failure; `adb shell` passes the exit code
        # on (shell protocol, Android 7+); "error: device not found" from adb itself lands here too.
        status = "failed"
        if "STARTING!" not in result.output:
            # benchmark_main.cc logs "STARTING!" first: the tool never ran (a binary for another
            # ABI, a phone gone), so the shell's or adb's own message says why, not the parser.
            reason = None
        reason = f"exit code {result.returncode}: {reason or _summary(result.output)}"
    unavailable = _delegate_unavailable(result.output, delegate)
    if unavailable and status == "ok":
        # The numbers are of the CPU, not of this delegate: they must not sit under its name.
        return "failed", unavailable, False
    if status == "ok" and parsed.get("avg_ms") is None:
        status, reason = "failed", reason or f"no timings in the benchmark_model output: {_summary(result.output)}"
    if status == "ok":
        notes = [reason] if reason else []
        runs = parsed.get("runs")
        if runs is not None and runs != num_runs:
            notes.append(f"measured {runs} runs, not {num_runs}")
        if delegate != "cpu" and parsed.get("delegated_nodes") == 0:
            notes.append(f"the {delegate} delegate took no nodes: the model ran on the CPU kernels")
        reason = "; ".join(notes) or None
    return status, reason, True


def _stem(device, model, delegate, threads, taken=None):
    """A file name for one run's log / profile (adb serials can hold ':' and the like).

    Characters a file name cannot hold become "_", so "a b.tflite" and "a_b.tflite" would
    share a name: `taken`, the set of names this run has given out, gets a "-2", "-3"...
    suffix added (after "__t<threads>", where no natural name ends so).
    """
    name = f"{device or 'none'}__{os.path.splitext(model)[0]}__{delegate}__t{threads}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if taken is None:
        return name
    unique, count = name, 1
    while unique in taken:
        count += 1
        unique = f"{name}-{count}"
    taken.add(unique)
    return unique


def _save(what, path, write, content):
    """Writes one run's log or profile; returns None, or why it could not be written.

    A full or read-only disk must not cost the measurement: the caller notes it in the row.
    """
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write(path, content)
    except OSError as error:
        return f"{what} not written: {cli.one_line(error)}"
    return None


def _write_text(path, text):
    write_bytes_atomically(path, text.encode("utf-8"))


def _measure(argv, fields, num_runs, timeout, output_dir, details, log, stems=None):
    """Runs one benchmark command; returns its row (never raises for a failed run or a failed write).

    `stems` is the set of log / profile names given out so far in this run (see `_stem`).
    """
    delegate = fields["delegate"]
    result = run_command(argv, timeout)
    stem = _stem(fields["device"], fields["model"], delegate, fields["threads"], stems)
    notes = []
    if output_dir:
        notes.append(_save("log", os.path.join(output_dir, "logs", stem + ".log"), _write_text,
                           f"$ {shlex.join(argv)}\n{result.output}"))
    if result.returncode is None:
        row = table.failed_row(result.error, **fields)
    else:
        try:
            parsed = dict(_parse(result.output))
        except Exception as error:  # a parser bug must not cost the rest of the matrix
            parsed = {"status": "failed",
                      "reason": f"could not parse the benchmark_model output ({type(error).__name__}: {error})"}
        op_profile = parsed.pop("op_profile", None)
        status, reason, trusted = _judge(result, parsed, delegate, num_runs)
        # Keys outside the table would be refused by make_row; the raw log keeps everything.
        measured = {k: v for k, v in parsed.items() if k in _MEASURED} if trusted else {}
        measured.update(status=status, reason=reason)
        row = table.make_row(**fields, **measured)
        if op_profile and output_dir:
            path = os.path.join(output_dir, "op_profiles", stem + ".json")
            notes.append(_save("op profile", path, write_json_atomically,
                               {**fields, "status": status, "ops": op_profile}))
            if notes[-1] is None and details is not None:
                details.setdefault("op_profiles", []).append(path)
    notes = [note for note in notes if note]
    if notes:
        log("; ".join(notes))
        row["reason"] = "; ".join(filter(None, [row["reason"], *notes]))
    shown = f"{row['avg_ms']:.2f} ms" if row["status"] == "ok" and row["avg_ms"] is not None else row["reason"]
    log(f"[{fields['device']}] {fields['model']} {delegate} x{fields['threads']}: {row['status']} ({shown})")
    return row


# --- the matrix --------------------------------------------------------------------------------


def _failed_cells(reason, models, delegates, threads, **fields):
    return [
        table.failed_row(reason, model=os.path.basename(model), delegate=delegate, threads=count, **fields)
        for model in models for delegate in delegates for count in threads
    ]


def _binary_problem(binary, host):
    if not os.path.exists(binary):
        return f"benchmark_model binary not found: {binary}"
    if not os.path.isfile(binary):
        return f"benchmark_model binary is not a file: {binary}"
    # Only the host runs it in place; on a phone it is chmod +x'ed after the push.
    if host and not os.access(binary, os.X_OK):
        return f"benchmark_model binary is not executable: {binary} (chmod +x it)"
    return None


def _model_problem(model):
    if not os.path.isfile(model):
        return f"model file not found: {model}"
    return None


def run_matrix(models, delegates, threads, binary, *, num_runs=50, warmup_runs=5, op_profiling=False,
               cpu_mask=None, host=False, serials=None, adb="adb", timeout=DEFAULT_TIMEOUT,
               output_dir=None, details=None, log=_log):
    """Benchmarks every (device, model, delegate, threads); returns the rows, failed ones included.

    Rows come device by device (phones ready for use first, then the ones adb lists in another
    state), then model, delegate, threads. Local problems (a missing binary or model) fail their
    cells before any phone is touched. `details`, a dict if given, receives "devices" (every
    phone's properties, ABI included, which the table has no column for) and "op_profiles" (the
    profile files written to `output_dir`).
    """
    details = {} if details is None else details
    details.setdefault("devices", [])
    options = dict(num_runs=num_runs, warmup_runs=warmup_runs, op_profiling=op_profiling,
                   cpu_mask=cpu_mask, max_secs=timeout)
    run = dict(num_runs=num_runs, timeout=timeout, output_dir=output_dir, details=details, log=log, stems=set())
    source = "host-binary" if host else "android"

    problem = _binary_problem(binary, host)
    if problem:
        log(problem)
        return _failed_cells(problem, models, delegates, threads, source=source)
    rows, usable = [], []
    for model in models:
        problem = _model_problem(model)
        if problem:
            log(problem)
            rows += _failed_cells(problem, [model], delegates, threads, source=source)
        else:
            usable.append(model)
    if not usable:
        return rows

    if host:
        fields = {"source": source, **host_info()}
        details["devices"].append({**fields, "abi": platform.machine()})
        for model in usable:
            for delegate in delegates:
                for count in threads:
                    argv = benchmark_command(os.path.abspath(binary), os.path.abspath(model), delegate, count, **options)
                    cell = dict(fields, model=os.path.basename(model), delegate=delegate, threads=count)
                    rows.append(_measure(argv, cell, **run))
        return rows

    adb_path, problem = resolve_adb(adb)
    if problem:
        log(problem)
        return rows + _failed_cells(problem, usable, delegates, threads, source=source)
    devices, problems = list_devices(adb_path)
    if serials:
        listed = dict(problems)
        problems = [(None, reason) for serial, reason in problems if serial is None]
        adb_failed = bool(problems)  # then adb's own reason stands for every phone asked for
        attached = ", ".join(devices + [s for s in listed if s]) or "none"
        for serial in serials:
            if serial in listed:
                problems.append((serial, listed[serial]))
            elif serial not in devices and not adb_failed:
                problems.append((serial, f"device {serial} is not attached (adb devices lists: {attached})"))
        devices = [serial for serial in serials if serial in devices]
    elif not devices and not problems:
        problems = [(None, "no Android device attached (adb devices lists none): connect a phone "
                           "with USB debugging on, or use --host")]
    for serial in devices:
        rows += _run_on_device(adb_path, serial, binary, usable, delegates, threads, options, run, details)
    for serial, reason in problems:
        log(reason)
        rows += _failed_cells(reason, usable, delegates, threads, source=source, device=serial)
    return rows


def _run_on_device(adb, serial, binary, models, delegates, threads, options, run, details):
    """Pushes the binary and the models to one phone and runs its part of the matrix."""
    log, timeout = run["log"], run["timeout"]
    info = device_info(adb, serial)
    details["devices"].append(info)
    fields = {"source": "android", "device": serial,
              **{k: info[k] for k in ("device_model", "soc", "android")}}
    log(f"[{serial}] {info['device_model']}, {info['soc']}, Android {info['android']}, {info['abi']}")
    problem = info["problem"] or _command_problem(
        f"adb push of {binary}", run_command([adb, "-s", serial, "push", binary, REMOTE_BINARY], timeout)
    ) or _command_problem(
        "chmod +x of the pushed benchmark_model",
        run_command([adb, "-s", serial, "shell", shlex.join(["chmod", "+x", REMOTE_BINARY])], ADB_TIMEOUT),
    )
    if problem:
        log(problem)
        return _failed_cells(problem, models, delegates, threads, **fields)
    rows = []
    for model in models:
        remote_model = f"{REMOTE_DIR}/{os.path.basename(model)}"
        problem = _command_problem(f"adb push of {model}",
                                   run_command([adb, "-s", serial, "push", model, remote_model], timeout))
        if problem:
            log(problem)
            rows += _failed_cells(problem, [model], delegates, threads, **fields)
            continue
        for delegate in delegates:
            for count in threads:
                # `adb shell` hands its arguments to the phone's sh as one command line, so the
                # command is quoted for that shell here (a model name with a space stays one word).
                remote = shlex.join(benchmark_command(REMOTE_BINARY, remote_model, delegate, count, **options))
                cell = dict(fields, model=os.path.basename(model), delegate=delegate, threads=count)
                # On timeout the local adb client is killed; the phone's shell normally ends the
                # benchmark when the adb connection closes (shell protocol), older phones may not.
                rows.append(_measure([adb, "-s", serial, "shell", remote], cell, **run))
    return rows


# --- command line ------------------------------------------------------------------------------


def _csv_list(text, what):
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"--{what} is empty")
    return list(dict.fromkeys(items))  # drops repeats, keeps the order


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="android_bench/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help=".tflite files")
    parser.add_argument("--binary", help="benchmark_model built for the phone (or for this machine with --host)")
    parser.add_argument("--delegates", default="xnnpack,nnapi,gpu,cpu", help=f"comma-separated: {','.join(DELEGATE_FLAGS)}")
    parser.add_argument("--threads", default="1,4", help="comma-separated thread counts")
    parser.add_argument("--serial", nargs="+", action="extend", help="only these phones (default: every attached one)")
    parser.add_argument("--num-runs", type=int, default=50)
    parser.add_argument("--warmup-runs", type=int, default=5)
    parser.add_argument("--op-profiling", action="store_true", help="per-op timings (slows the runs down)")
    parser.add_argument("--cpu-mask", help="hex CPU mask for taskset, e.g. f0 (device-specific)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per run")
    parser.add_argument("--host", action="store_true", help="run --binary on this machine instead of phones")
    parser.add_argument("--output-dir", default=os.path.join("benchmark_results", "android"))
    parser.add_argument("--adb", default="adb", help="adb command or path")
    args = parser.parse_args(argv)

    delegates = [d.lower() for d in _csv_list(args.delegates, "delegates")]
    unknown = [d for d in delegates if d not in DELEGATE_FLAGS]
    if unknown:
        raise UsageError(f"unknown delegate(s) {', '.join(unknown)}; choose from {', '.join(DELEGATE_FLAGS)}")
    threads = []
    for item in _csv_list(args.threads, "threads"):
        if not re.fullmatch(r"[0-9]+", item) or int(item) <= 0:
            raise UsageError(f"thread counts must be positive integers, not {item!r}")
        threads.append(int(item))
    if not args.binary:
        raise UsageError("--binary (the benchmark_model executable) is required")
    if args.num_runs <= 0:
        raise UsageError(f"--num-runs must be positive, not {args.num_runs}")
    if args.warmup_runs < 0:
        raise UsageError(f"--warmup-runs must be 0 or more, not {args.warmup_runs}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout:g}")
    if args.cpu_mask is not None and not re.fullmatch(r"(0x)?[0-9a-fA-F]*[1-9a-fA-F][0-9a-fA-F]*", args.cpu_mask):
        raise UsageError(f"--cpu-mask must be a non-zero hex mask such as f0, not {args.cpu_mask!r}")
    if args.host and args.serial:
        raise UsageError("--serial picks phones; it has no meaning with --host")
    names = [os.path.basename(m) for m in args.models]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # they would overwrite each other in /data/local/tmp and share table rows
        raise UsageError(f"models with the same file name: {', '.join(repeated)}")
    args.delegates, args.threads = delegates, threads
    return args


def main(argv=None):
    """Runs the matrix, prints the Markdown table, writes rows.csv / rows.json; returns the exit code.

    An expected failure is one line `android_bench/run.py: error: ...` and exit code 2.
    """
    return cli.run(_main, sys.argv[1:] if argv is None else list(argv), prog="android_bench/run.py")


def _main(argv):
    try:
        args = _parse_args(argv)
    except SystemExit as exit:  # argparse's own errors (already printed) and --help
        return exit.code if isinstance(exit.code, int) else 2
    check_output_folder("--output-dir", args.output_dir)  # before the runs, which may take hours

    details = {}
    rows = run_matrix(
        args.models, args.delegates, args.threads, args.binary, num_runs=args.num_runs,
        warmup_runs=args.warmup_runs, op_profiling=args.op_profiling, cpu_mask=args.cpu_mask,
        host=args.host, serials=args.serial, adb=args.adb, timeout=args.timeout,
        output_dir=args.output_dir, details=details,
    )
    print(table.markdown(rows))
    settings = {
        "num_runs": args.num_runs, "warmup_runs": args.warmup_runs, "threads": args.threads,
        "delegates": {d: list(DELEGATE_FLAGS[d]) for d in args.delegates}, "timeout_s": args.timeout,
        "cpu_mask": args.cpu_mask, "op_profiling": args.op_profiling, "host": args.host,
    }
    csv_path = table.write_csv(rows, os.path.join(args.output_dir, "rows.csv"))
    json_path = table.write_json(
        rows, os.path.join(args.output_dir, "rows.json"),
        command=shlex.join(["python", "android_bench/run.py", *argv]), settings=settings,
        devices=details.get("devices", []), op_profiles=details.get("op_profiles", []),
    )
    failed = sum(row["status"] != "ok" for row in rows)
    _log(f"{len(rows) - failed} of {len(rows)} runs measured; wrote {csv_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
