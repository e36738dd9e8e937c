"""run_command against real processes: its time limit kills the whole group; the one-line reasons."""

import os
import subprocess
import sys
import time

from android_bench import commands
from conftest import ROOT


def test_a_timeout_kills_the_whole_group_and_keeps_what_was_printed(tmp_path):
    # The wrapper's child `sleep` would hold the pipe open past the limit if only the wrapper died.
    script = tmp_path / "wrapper.sh"
    script.write_text("#!/bin/sh\necho started\nsleep 60\necho never\n")
    script.chmod(0o755)
    start = time.monotonic()
    result = commands.run_command([str(script)], timeout=1)
    assert time.monotonic() - start < 15
    assert result == commands.Result(None, "started\n", "timed out after 1 s")
    assert commands.command_problem("the wrapper", result) == "the wrapper: timed out after 1 s"


def test_output_and_error_are_one_stream_with_unix_line_ends():
    result = commands.run_command(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdout.write('out\\r\\n'); sys.stdout.flush(); sys.stderr.write('err')",
        ],
        timeout=60,
    )
    assert result == commands.Result(0, "out\nerr", None)
    assert commands.command_problem("python", result) is None


def test_a_missing_program_and_a_failure_are_one_line_each(tmp_path):
    missing = commands.run_command([str(tmp_path / "adb")], timeout=5)
    assert missing.returncode is None and missing.error.startswith(f"could not start {tmp_path / 'adb'}: ")
    failed = commands.run_command([sys.executable, "-c", "print('loading'); print('ERROR: no model'); exit(3)"], 60)
    assert (
        commands.command_problem("benchmark_model", failed) == "benchmark_model failed (exit code 3): ERROR: no model"
    )


def test_summary_prefers_the_first_error_line_and_keeps_it_short():
    assert commands.summary("a\nERROR: one\nerror two\nlast") == "ERROR: one"
    assert commands.summary("a\n\nlast line\n") == "last line"
    assert commands.summary("") == "no output"
    assert commands.summary("Benchmarking failed.\nthe end") == "the end"  # benchmark_model's own epilogue
    long = commands.summary("error " + "x" * 500, limit=50)
    assert len(long) == 50 and long.endswith("...")


def test_a_module_command_runs_this_checkout_from_any_folder(tmp_path):
    argv, env = commands.python_module_command(sys.executable, "swiftformer_keras.utils.version", 1)
    assert argv == [sys.executable, "-m", "swiftformer_keras.utils.version", "1"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == ROOT  # the checkout, not the working folder
    # -S: no site-packages, so not this environment's editable install either; PYTHONPATH alone finds it.
    found = subprocess.run(
        [sys.executable, "-S", "-c", "import android_bench.commands as c; print(c.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert found.stdout.strip() == os.path.join(ROOT, "android_bench", "commands.py")
