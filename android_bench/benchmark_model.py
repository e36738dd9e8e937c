"""TensorFlow Lite's `benchmark_model` tool: its command line, and the verdict on one run's output.

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

Two tools answer to the name benchmark_model, and `tool` picks which one a command is for:
- "tflite": TensorFlow Lite's Interpreter-based tool (tensorflow/lite/tools/benchmark, and
  google-ai-edge/LiteRT tflite/tools/benchmark), delegates chosen by --use_xnnpack/--use_nnapi/--use_gpu;
- "litert": LiteRT's CompiledModel-based tool (google-ai-edge/LiteRT litert/tools:benchmark_model,
  benchmark_litert_model.h/.cc), accelerators chosen by --use_cpu/--use_gpu/--use_npu, see
  LITERT_DELEGATE_FLAGS. It is built on the same BenchmarkModel base class, so --graph,
  --num_threads, the run counts and --min_secs/--warmup_min_secs/--max_secs are the same; its
  op profile is --use_profiler=true (it has no --enable_op_profiling).
"""

import os
import re

from android_bench.commands import summary

DEFAULT_TIMEOUT = 300.0  # seconds per benchmark run (and per push)
# A run or push that lasts a day has hung: a longer limit measures nothing more, and past about
# 9e9 s Python cannot wait at all (`subprocess` ends in OverflowError).
MAX_TIMEOUT = 24 * 3600
# benchmark_model reads --num_threads, --num_runs and --warmup_runs as C++ int32 flags.
MAX_INT_FLAG = 2**31 - 1

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
# LiteRT's CompiledModel tool (benchmark_litert_model.h `DefaultParams`/`GetFlags`,
# benchmark_litert_model.cc `GetRequestedHardwareAccelerators`): --use_cpu (default true),
# --use_gpu, --use_npu (both default false) add accelerators. The CPU accelerator is XNNPACK, and
# it stays in for the nodes GPU/NPU do not take unless --require_full_delegation=true (with
# --use_cpu=false; both together abort the tool), which would fail a partly supported model
# instead of measuring it. So the gpu/npu rows have their leftovers on XNNPACK (the tool has no
# plain-kernel CPU mode, hence no "cpu" row), and delegated_nodes / total_nodes say how much the
# accelerator took. No NNAPI either: the LiteRT tool has no NNAPI flag (use --tool tflite).
LITERT_DELEGATE_FLAGS = {
    "xnnpack": ("--use_cpu=true",),
    "gpu": ("--use_gpu=true",),
    "npu": ("--use_npu=true",),
}
TOOL_DELEGATE_FLAGS = {"tflite": DELEGATE_FLAGS, "litert": LITERT_DELEGATE_FLAGS}
TOOLS = tuple(TOOL_DELEGATE_FLAGS)
# The op-profiling flag of each tool (benchmark_tflite_model.cc; benchmark_litert_model.h).
PROFILING_FLAG = {"tflite": "--enable_op_profiling=true", "litert": "--use_profiler=true"}
DEFAULT_TOOL = "tflite"


def delegate_flags(tool=DEFAULT_TOOL):
    """The delegate -> flags table of `tool` ("tflite" or "litert")."""
    if tool not in TOOL_DELEGATE_FLAGS:
        raise ValueError(f"Unknown benchmark tool {tool!r}; choose from {', '.join(TOOLS)}.")
    return TOOL_DELEGATE_FLAGS[tool]


# How the delegate providers name themselves in their warnings ("GPU acceleration is unsupported
# on this platform.", gpu_delegate_provider.cc / nnapi_delegate_provider.cc).
_PROVIDER_NAMES = {"xnnpack": "XNNPACK", "nnapi": "NNAPI", "gpu": "GPU"}


def benchmark_command(
    binary,
    model,
    delegate,
    threads,
    num_runs,
    warmup_runs,
    op_profiling=False,
    cpu_mask=None,
    max_secs=DEFAULT_TIMEOUT,
    tool=DEFAULT_TOOL,
):
    """The argument list of one benchmark_model run (for `adb shell`, see adb.shell_command).

    `cpu_mask` (hex, e.g. "f0" for the big cores of many phones) prefixes `taskset <mask>`: pinning
    the process to one cluster removes the big.LITTLE scheduling noise between runs, as the
    benchmark README recommends ("Reducing variance between runs on Android"). The mask is
    device-specific. See the module docstring for the run-count flags and `tool`
    ("tflite" or "litert").
    """
    flags = delegate_flags(tool)
    if delegate not in flags:
        raise ValueError(
            f"Unknown delegate {delegate!r} for the {tool} benchmark_model; choose from {', '.join(flags)}."
        )
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
        *flags[delegate],
    ]
    if op_profiling:
        command.append(PROFILING_FLAG[tool])
    return command


def _delegate_unavailable(output, delegate, tool=DEFAULT_TOOL):
    """Why `delegate` was never applied although the run "succeeded", or None.

    benchmark_model does not fail in these two cases, it silently runs on the CPU instead:
    - a flag the build does not know is only warned about ("Unconsumed cmdline flags: ...",
      benchmark_model.cc ParseFlags), e.g. --use_nnapi on a desktop build;
    - a provider that cannot create its delegate warns "<NAME> acceleration is unsupported on
      this platform." and the tool goes on without it (delegate_provider.cc skips null delegates).
    """
    # "cpu" only switches XNNPACK off: a build without that flag still runs on the CPU.
    enabling = None if delegate == "cpu" else delegate_flags(tool)[delegate][0]
    name = _PROVIDER_NAMES.get(delegate)
    for line in output.splitlines():
        if enabling and "Unconsumed cmdline flags" in line and enabling in line:
            return f"{delegate} is not available in this benchmark_model build (it ignored {enabling})"
        if name and f"{name} acceleration is unsupported" in line:
            return f"{delegate} is not available: {re.sub(r'^[A-Z]+: ', '', line.strip())}"
    return None


def judge(result, parsed, delegate, num_runs, tool=DEFAULT_TOOL):
    """(status, reason, whether the parsed numbers belong in the row) of one finished run.

    `result` is the run's `commands.Result`, `parsed` what parse.py read from its output, `tool`
    the benchmark_model it ran ("tflite" or "litert").
    """
    status, reason = parsed.get("status") or "ok", parsed.get("reason")
    if result.returncode != 0:
        # benchmark_main.cc returns EXIT_FAILURE for any failure; `adb shell` passes the exit code
        # on (shell protocol, Android 7+); "error: device not found" from adb itself lands here too.
        status = "failed"
        if "STARTING!" not in result.output:
            # benchmark_main.cc logs "STARTING!" first: the tool never ran (a binary for another
            # ABI, a phone gone), so the shell's or adb's own message says why, not the parser.
            reason = None
        reason = f"exit code {result.returncode}: {reason or summary(result.output)}"
    unavailable = _delegate_unavailable(result.output, delegate, tool)
    if unavailable and status == "ok":
        # The numbers are of the CPU, not of this delegate: they must not sit under its name.
        return "failed", unavailable, False
    if status == "ok" and parsed.get("avg_ms") is None:
        status, reason = "failed", reason or f"no timings in the benchmark_model output: {summary(result.output)}"
    if status == "ok":
        notes = [reason] if reason else []
        runs = parsed.get("runs")
        if runs is not None and runs != num_runs:
            notes.append(f"measured {runs} runs, not {num_runs}")
        if delegate != "cpu" and parsed.get("delegated_nodes") == 0:
            notes.append(f"the {delegate} delegate took no nodes: the model ran on the CPU kernels")
        reason = "; ".join(notes) or None
    return status, reason, True


def log_stem(device, model, delegate, threads, taken=None):
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
