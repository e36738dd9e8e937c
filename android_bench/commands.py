"""Running a command with a time limit, and saying in one line why it failed.

Both the adb calls and the host's benchmark_model runs go through `run_command`. The
benchmarks that run a module of this project in a child Python (another environment's,
or this one's in a fresh process) build its command with `python_module_command`.
"""

import os
import signal
import subprocess
from collections import namedtuple

# The folder that holds the android_bench and swiftformer_keras packages: the repository, or an
# installed environment's site-packages.
PACKAGES_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE_FOLDERS = ("site-packages", "dist-packages")

Result = namedtuple("Result", "returncode output error")
Result.__doc__ = "A finished command: exit code (None if it never ran to the end), output, error."


def run_command(args, timeout):
    """Runs `args` (a list, never a shell string) with stdout and stderr captured together.

    The command gets its own session so that on timeout its whole process group is killed:
    killing only the direct child would leave e.g. a `sleep` in a wrapper script holding the
    output pipe, and reading the pipe would then hang past the timeout. (An adb server that an
    adb client starts leads its own session, SID = PID in `ps`, so it is not in that group.)
    """
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
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


def summary(output, limit=300):
    """The line that best says why a command failed: its first error line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "Benchmarking failed" not in line]
    text = (errors or lines or ["no output"])[0 if errors else -1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def command_problem(what, result):
    """None if `result` succeeded, else why `what` failed."""
    if result.error:
        return f"{what}: {result.error}"
    if result.returncode != 0:
        return f"{what} failed (exit code {result.returncode}): {summary(result.output)}"
    return None


def python_module_command(python, module, *args):
    """`(argv, env)` that run `python -m module args...` with this project's packages importable.

    The child finds android_bench and swiftformer_keras where this process found them, through
    PYTHONPATH (not through its working folder, so relative paths in `args` keep their meaning),
    whether or not `python`'s environment installed the project: e.g. the environment of its
    own that litert-torch needs. An installed copy (a site-packages) is not put on the path: its
    other packages would shadow the child environment's own; there the child needs the project
    installed too.
    """
    env = dict(os.environ)
    if os.path.basename(PACKAGES_PARENT) not in SITE_FOLDERS:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGES_PARENT, os.environ.get("PYTHONPATH")]))
    return [python, "-m", module, *map(str, args)], env
