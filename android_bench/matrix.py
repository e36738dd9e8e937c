"""The benchmark matrix: one benchmark_model run per (device, model, delegate, threads), each a row.

Every cell becomes one row of rows.py's table, measured or failed with its reason (a missing
adb, binary or model, a phone in the wrong state, a failed push, a run that times out, fails
or whose delegate did not apply), so the table has the same shape whatever happened. Each
run's raw log and, with op profiling, its per-op table are written beside the rows.
"""

import os
import platform
import shlex
import sys

from android_bench import adb as adb_lib
from android_bench import commands
from android_bench import rows as table
from android_bench.benchmark_model import (
    DEFAULT_TIMEOUT,
    DEFAULT_TOOL,
    MAX_INT_FLAG,
    MAX_TIMEOUT,
    benchmark_command,
    judge,
    log_stem,
)
from android_bench.op_profile import parse_op_profile
from android_bench.parse import parse_benchmark_output
from swiftformer_keras.lite.interpreter import cpu_name
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import write_json_atomically, write_text_atomically


def log_to_stderr(message):
    """Progress, apart from the table on stdout."""
    print(message, file=sys.stderr, flush=True)


def host_info():
    """This machine's name and CPU model, for host rows."""
    return {"device": platform.node() or "host", "device_model": cpu_name()}


# --- one cell ----------------------------------------------------------------------------------


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


def _measure(argv, fields, num_runs, timeout, output_dir, details, log, stems=None, tool=DEFAULT_TOOL):
    """Runs one benchmark command; returns its row (never raises for a failed run or a failed write).

    `stems` is the set of log / profile names given out so far in this run (see `log_stem`).
    """
    delegate = fields["delegate"]
    result = commands.run_command(argv, timeout)
    stem = log_stem(fields["device"], fields["model"], delegate, fields["threads"], stems)
    notes = []
    if output_dir:
        notes.append(
            _save(
                "log",
                os.path.join(output_dir, "logs", stem + ".log"),
                write_text_atomically,
                f"$ {shlex.join(argv)}\n{result.output}",
            )
        )
    if result.returncode is None:
        row = table.failed_row(result.error, **fields)
    else:
        try:
            parsed = dict(parse_benchmark_output(result.output))
            op_profile = parse_op_profile(result.output)  # empty without --op-profiling
        except Exception as error:  # a parser bug must not cost the rest of the matrix
            parsed = {
                "status": "failed",
                "reason": f"could not parse the benchmark_model output ({type(error).__name__}: {error})",
            }
            op_profile = None
        status, reason, trusted = judge(result, parsed, delegate, num_runs, tool=tool)
        # Keys outside the table would be refused by make_row; the raw log keeps everything.
        measured = {k: v for k, v in parsed.items() if k in table.MEASUREMENT_COLUMNS} if trusted else {}
        measured.update(status=status, reason=reason)
        row = table.make_row(**fields, **measured)
        if op_profile and output_dir:
            path = os.path.join(output_dir, "op_profiles", stem + ".json")
            notes.append(
                _save("op profile", path, write_json_atomically, {**fields, "status": status, "ops": op_profile})
            )
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
        for model in models
        for delegate in delegates
        for count in threads
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


def run_matrix(
    models,
    delegates,
    threads,
    binary,
    *,
    num_runs=50,
    warmup_runs=5,
    op_profiling=False,
    cpu_mask=None,
    host=False,
    serials=None,
    adb="adb",
    timeout=DEFAULT_TIMEOUT,
    output_dir=None,
    details=None,
    log=log_to_stderr,
    tool=DEFAULT_TOOL,
):
    """Benchmarks every (device, model, delegate, threads); returns the rows, failed ones included.

    Rows come device by device (phones ready for use first, then the ones adb lists in another
    state), then model, delegate, threads. Local problems (a missing binary or model) fail their
    cells before any phone is touched. `details`, a dict if given, receives "devices" (every
    phone's properties, ABI included, which the table has no column for) and "op_profiles" (the
    profile files written to `output_dir`). `tool` is the benchmark_model the binary is:
    "tflite" (TensorFlow Lite's) or "litert" (LiteRT's CompiledModel tool), whose flags differ.

    Raises:
        ValueError: a run count, thread count or `timeout` out of range (the same checks as
            run.py's flags), before anything runs.
    """
    cli.check_number("num_runs", num_runs, minimum=1, maximum=MAX_INT_FLAG, integer=True)
    cli.check_number("warmup_runs", warmup_runs, minimum=0, maximum=MAX_INT_FLAG, integer=True)
    for count in threads:
        cli.check_number("threads", count, minimum=1, maximum=MAX_INT_FLAG, integer=True)
    cli.check_number("timeout", timeout, above=0, maximum=MAX_TIMEOUT)
    details = {} if details is None else details
    details.setdefault("devices", [])
    options = dict(
        num_runs=num_runs,
        warmup_runs=warmup_runs,
        op_profiling=op_profiling,
        cpu_mask=cpu_mask,
        max_secs=timeout,
        tool=tool,
    )
    run = dict(
        num_runs=num_runs, timeout=timeout, output_dir=output_dir, details=details, log=log, stems=set(), tool=tool
    )
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
        return rows + _run_on_host(binary, usable, delegates, threads, options, run, details)

    adb_path, problem = adb_lib.resolve_adb(adb)
    if problem:
        log(problem)
        return rows + _failed_cells(problem, usable, delegates, threads, source=source)
    devices, problems = _devices_to_run(adb_path, serials)
    for serial in devices:
        rows += _run_on_device(adb_path, serial, binary, usable, delegates, threads, options, run, details)
    for serial, reason in problems:
        log(reason)
        rows += _failed_cells(reason, usable, delegates, threads, source=source, device=serial)
    return rows


def _run_on_host(binary, models, delegates, threads, options, run, details):
    """The rows of every (model, delegate, threads) of `binary` run on this machine."""
    fields = {"source": "host-binary", **host_info()}
    details["devices"].append({**fields, "abi": platform.machine()})
    rows = []
    for model in models:
        for delegate in delegates:
            for count in threads:
                argv = benchmark_command(os.path.abspath(binary), os.path.abspath(model), delegate, count, **options)
                cell = dict(fields, model=os.path.basename(model), delegate=delegate, threads=count)
                rows.append(_measure(argv, cell, **run))
    return rows


def _devices_to_run(adb_path, serials):
    """`(serials to run on, [(serial or None, why not)])`: the phones ready for use that `serials`
    asks for (None: every one attached), and each phone asked for or listed that cannot be used."""
    devices, problems = adb_lib.list_devices(adb_path)
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
        reason = (
            "no Android device attached (adb devices lists none): connect a phone with USB debugging on, or use --host"
        )
        problems = [(None, reason)]
    return devices, problems


def _run_on_device(adb, serial, binary, models, delegates, threads, options, run, details):
    """Pushes the binary and the models to one phone and runs its part of the matrix."""
    log, timeout = run["log"], run["timeout"]
    info = adb_lib.device_info(adb, serial)
    details["devices"].append(info)
    fields = {"source": "android", "device": serial, **{k: info[k] for k in ("device_model", "soc", "android")}}
    log(f"[{serial}] {info['device_model']}, {info['soc']}, Android {info['android']}, {info['abi']}")
    problem = info["problem"] or adb_lib.install_binary(adb, serial, binary, timeout)
    if problem:
        log(problem)
        return _failed_cells(problem, models, delegates, threads, **fields)
    rows = []
    for model in models:
        remote_model = f"{adb_lib.REMOTE_DIR}/{os.path.basename(model)}"
        problem = adb_lib.push(adb, serial, model, remote_model, timeout)
        if problem:
            log(problem)
            rows += _failed_cells(problem, [model], delegates, threads, **fields)
            continue
        for delegate in delegates:
            for count in threads:
                words = benchmark_command(adb_lib.REMOTE_BINARY, remote_model, delegate, count, **options)
                cell = dict(fields, model=os.path.basename(model), delegate=delegate, threads=count)
                # On timeout the local adb client is killed; the phone's shell normally ends the
                # benchmark when the adb connection closes (shell protocol), older phones may not.
                rows.append(_measure(adb_lib.shell_command(adb, serial, words), cell, **run))
    return rows
