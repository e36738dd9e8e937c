"""The phones, through adb: finding adb, the attached phones and their properties, pushing files,
and the `adb shell` command line of a run."""

import os
import re
import shlex
import shutil

from android_bench import commands

REMOTE_DIR = "/data/local/tmp"  # writable and executable for the shell user on every Android version
REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"
ADB_TIMEOUT = 60.0  # `adb devices` may have to start the adb server first, which takes seconds

# Connection states `adb devices` prints (adb's transport.cpp, to_string(ConnectionState)).
_ADB_STATES = (
    "device",
    "offline",
    "unauthorized",
    "no permissions",
    "bootloader",
    "recovery",
    "rescue",
    "sideload",
    "host",
    "authorizing",
    "connecting",
    "detached",
    "unknown",
)
_STATE_REASONS = {
    "unauthorized": "device {serial} is unauthorized: unlock it and accept the USB debugging prompt",
    "offline": "device {serial} is offline: reconnect the cable or restart the adb server",
    "no permissions": "no permission to open USB device {serial}: fix the udev rules / plugdev group",
    "authorizing": "device {serial} is still authorizing: accept the USB debugging prompt",
}


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
    result = commands.run_command([adb, "devices", "-l"], timeout)
    if result.error:
        return [], [(None, f"adb devices: {result.error} (did the adb server start?)")]
    if result.returncode != 0:
        return [], [
            (
                None,
                f"adb devices failed (exit code {result.returncode}), the adb server "
                f"did not start?: {commands.summary(result.output)}",
            )
        ]
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
    result = commands.run_command([adb, "-s", serial, "shell", "getprop"], timeout)
    info["problem"] = commands.command_problem(f"reading the properties of {serial}", result)
    props = parse_getprop(result.output) if info["problem"] is None else {}
    info["device_model"] = props.get("ro.product.model") or None
    # ro.soc.model exists from Android 12; older phones only name the board / hardware.
    info["soc"] = props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware") or None
    release, sdk = props.get("ro.build.version.release"), props.get("ro.build.version.sdk")
    if release or sdk:
        info["android"] = f"{release or '?'} (SDK {sdk})" if sdk else release
    info["abi"] = props.get("ro.product.cpu.abi") or None
    return info


def shell_command(adb, serial, words):
    """The argument list that runs `words` on the phone.

    `adb shell` hands its arguments to the phone's sh as one command line, so the words are
    quoted for that shell here (a model name with a space stays one word).
    """
    return [adb, "-s", serial, "shell", shlex.join(words)]


def push(adb, serial, source, target, timeout):
    """Copies `source` to `target` on the phone; returns None, or why it could not."""
    result = commands.run_command([adb, "-s", serial, "push", source, target], timeout)
    return commands.command_problem(f"adb push of {source}", result)


def install_binary(adb, serial, binary, timeout):
    """Pushes benchmark_model to REMOTE_BINARY and makes it executable; returns None, or why not."""
    return push(adb, serial, binary, REMOTE_BINARY, timeout) or commands.command_problem(
        "chmod +x of the pushed benchmark_model",
        commands.run_command(shell_command(adb, serial, ["chmod", "+x", REMOTE_BINARY]), ADB_TIMEOUT),
    )
