"""Where a .tflite file's time goes inside XNNPACK: `perf` samples grouped by micro-kernel.

    profile = record("xs_int8.tflite", threads=2, runs=300)
    print(markdown(profile))          # share of time per kind of kernel (GEMM, depthwise, ...)
    profile["kinds"]["GEMM"]          # {"share": 0.41, "ms": 1.02, "top": "xnn_qs8_qc8w_gemm_..."}

The LiteRT Python interpreter has no per-op profile of what its XNNPACK
delegate runs (the whole graph is one DELEGATE node). `perf record` on the
process does: XNNPACK's micro-kernels keep their symbol names
(`xnn_qs8_qc8w_igemm_minmax_fp32_ukernel_16x64c4__avx512amx`), and the name says
what the kernel does. A worker process loads the file, warms it up, then turns
sampling on through perf's control FIFO for the timed invokes only, so start-up,
imports and warm-up are not in the profile. `KERNEL_KINDS` is the table that
groups symbols into kinds.

`ms` of a kind is its share of all samples times the median latency: with
every thread of the pool sampled (its spin-waits are the kind "thread pool"),
that is the time the kind would take alone if it parallelised as the rest does.
So `kinds["GEMM"]["ms"]` is the GEMM-only time: what the file would take if
everything but its matrix multiplications were free.

With more than one thread, `pool_idle` says what the calling thread was running
while the pool's other threads waited (`pool_wait`): each sample of a pool thread
spinning in the pool is matched with the calling thread's sample nearest in
time. Waits beside GEMMs are tiles unevenly shared out; waits beside small ops
are ops too small to split.

Needs Linux `perf` (Debian: `apt-get install linux-perf`) and the right to
sample a process (root, or `kernel.perf_event_paranoid` <= 2 for one's own).
"""

import bisect
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from swiftformer_keras.lite.interpreter import RUNTIMES
from swiftformer_keras.lite.runtime_worker import Worker
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.tables import markdown_table

# (kind, pattern on a user-space symbol), first match wins. XNNPACK names its micro-kernels
# xnn_<datatypes>_<operation>_..._ukernel_<tile>__<isa>; the rest is the thread pool,
# XNNPACK's own loops around the micro-kernels, the runtime and Python.
KERNEL_KINDS = (
    ("GEMM", r"^xnn_\w*_(i?gemm|ppmm)_\w*ukernel"),
    ("depthwise convolution", r"^xnn_\w*_dwconv\w*_ukernel"),
    ("lookup table (int8 LOGISTIC)", r"^xnn_\w*_lut\w*_ukernel"),
    ("sigmoid and other float math", r"^xnn_f(16|32)_v(sigmoid|tanh|gelu|sqrt|rsqrt|exp|log)\w*_ukernel"),
    ("element-wise add", r"^xnn_\w*_v(add|addc|sub|subc|rsubc)_\w*ukernel"),
    ("element-wise multiply", r"^xnn_\w*_v(mul|mulc)_\w*ukernel"),
    ("other element-wise", r"^xnn_\w*_v(max|min|div|rdiv|sqrdiff|clamp|abs|neg|sqr|hswish|lrelu)\w*_ukernel"),
    ("quantize and convert", r"^xnn_\w*_(vcvt|requantize)\w*_ukernel"),
    (
        "reductions and pooling",
        r"^xnn_\w*_(rsum|rdsum|gavgpool|avgpool|maxpool|argmaxpool|raddstore|rmax|rminmax)\w*_ukernel",
    ),
    ("transpose, copy, pad, pack", r"^xnn_\w*_(transpose|copy|fill|pad|pack|zip|unpool)\w*"),
    ("thread pool", r"^(thread_main|pthreadpool_|thread_parallelize)"),
    ("XNNPACK dispatch", r"^xnn_"),
    ("everything else", r""),
)
# perf marks kernel-space samples [k]: system calls, scheduling, interrupts.
OPERATING_SYSTEM = "operating system"
GEMM = "GEMM"
# The worker runs as `python -m swiftformer_keras.lite.kernel_profile` from here: this package's folder's parent.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_PERF = (
    "perf is not installed: sudo apt-get install linux-perf (Debian; linux-tools-generic on Ubuntu) "
    "to profile a file by XNNPACK micro-kernel"
)
# "    27.97%     435  [.] xnn_qs8_..._avx512amx   -   -": share, samples, [.] user or [k] kernel space,
# the symbol, and the IPC columns perf 6 adds (dashes where cycles are not counted).
_REPORT_LINE = re.compile(r"^\s*([\d.]+)%\s+(\d+)\s+\[(.)\]\s+(.+?)(?:\s+-\s+-)?\s*$")


class ProfileError(OSError):
    """`perf` is missing, may not sample, or the worker failed: one line with the fix (an OSError,
    like a missing program: the command lines print it as one line and exit 2)."""


def kernel_kind(symbol, kernel_space=False):
    """The `KERNEL_KINDS` kind of a sampled symbol (`kernel_space`: perf marked it `[k]`)."""
    if kernel_space:
        return OPERATING_SYSTEM
    return next(kind for kind, pattern in KERNEL_KINDS if re.search(pattern, symbol))


def parse_report(text):
    """`[(symbol, samples, kernel_space)]` from `perf report --stdio -q -n --sort symbol --no-children`."""
    rows = []
    for line in text.splitlines():
        match = _REPORT_LINE.match(line)
        if match:
            rows.append((match.group(4), int(match.group(2)), match.group(3) == "k"))
    return rows


# "  4242/4250  2820.637422:      7f1db73987a5 xnn_qs8_..." from perf script -F pid,tid,time,ip,sym.
_SCRIPT_LINE = re.compile(r"^\s*(\d+)/(\d+)\s+([\d.]+):\s+([0-9a-f]+)\s*(.*?)\s*$")
# A kernel-space address: the upper half of the 64-bit space.
_KERNEL_ADDRESS = 0xFFFF800000000000


def parse_script(text):
    """`[(pid, tid, seconds, symbol, kernel_space)]` from `perf script -F pid,tid,time,ip,sym`."""
    rows = []
    for line in text.splitlines():
        match = _SCRIPT_LINE.match(line)
        if match:
            kernel_space = int(match.group(4), 16) >= _KERNEL_ADDRESS
            rows.append(
                (
                    int(match.group(1)),
                    int(match.group(2)),
                    float(match.group(3)),
                    match.group(5) or "[unknown]",
                    kernel_space,
                )
            )
    return rows


def pool_wait(samples, window_s=0.002):
    """What the calling thread (tid == pid) runs while the pool's other threads are in the pool's
    own code (the kind "thread pool": spin-waits and tile dispatch), from `parse_script` rows:
    `{"pool_samples", "waiting": share of the pool threads' samples spent there, "while": {kind:
    share of the pool threads' samples}}`; None with no pool thread.
    Pool threads are the other threads with at least a tenth of the calling thread's samples;
    a wait with no calling-thread sample within `window_s` is counted under "unmatched"."""
    calling = sorted((time, kernel_kind(symbol, kernel)) for pid, tid, time, symbol, kernel in samples if tid == pid)
    counts = {}
    for pid, tid, *_ in samples:
        if tid != pid:
            counts[tid] = counts.get(tid, 0) + 1
    pool = {tid for tid, count in counts.items() if count >= max(1, len(calling) // 10)}
    pool_samples = [(time, kernel_kind(symbol, kernel)) for _, tid, time, symbol, kernel in samples if tid in pool]
    if not pool_samples or not calling:
        return None
    times = [time for time, _ in calling]
    waiting = {}
    for time, kind in pool_samples:
        if kind != "thread pool":
            continue
        index = bisect.bisect_left(times, time)
        near = min((i for i in (index - 1, index) if 0 <= i < len(times)), key=lambda i: abs(times[i] - time))
        beside = calling[near][1] if abs(times[near] - time) <= window_s else "unmatched"
        waiting[beside] = waiting.get(beside, 0) + 1
    total = len(pool_samples)
    return {
        "pool_samples": total,
        "waiting": sum(waiting.values()) / total,
        "while": {kind: count / total for kind, count in sorted(waiting.items(), key=lambda item: -item[1])},
    }


def summarise(symbols, median_ms):
    """The profile of `parse_report` rows: per kind, its share of samples, its ms at `median_ms`
    per invoke, and its busiest symbol; and every symbol's share, busiest first."""
    total = sum(samples for _, samples, _ in symbols)
    if not total:
        raise ProfileError("perf recorded no sample: run more invokes (--profile-runs)")
    kinds = {kind: {"samples": 0, "top": None, "top_samples": 0} for kind in [*dict(KERNEL_KINDS), OPERATING_SYSTEM]}
    for symbol, samples, kernel_space in symbols:
        entry = kinds[kernel_kind(symbol, kernel_space)]
        entry["samples"] += samples
        if samples > entry["top_samples"]:
            entry["top"], entry["top_samples"] = symbol, samples
    summary = {}
    for kind, entry in kinds.items():
        if entry["samples"]:
            share = entry["samples"] / total
            summary[kind] = {"share": share, "ms": share * median_ms, "samples": entry["samples"], "top": entry["top"]}
    kernels = [
        {"symbol": symbol, "kind": kernel_kind(symbol, kernel_space), "share": samples / total}
        for symbol, samples, kernel_space in sorted(symbols, key=lambda row: -row[1])
    ]
    return {"samples": total, "median_ms": median_ms, "kinds": summary, "kernels": kernels}


def find_perf():
    """The path of `perf`; ProfileError with the way to install it where there is none."""
    perf = shutil.which("perf")
    if perf is None:
        raise ProfileError(NO_PERF)
    return perf


def record(model_path, threads=1, runs=200, warmup=10, runtime=None, python=None, frequency=999):
    """Profiles `runs` invokes of `model_path` (XNNPACK, `threads`) in a worker process under
    `perf record`; returns `summarise`'s dict with the worker's `runtime`, `threads` and `runs`,
    and `pool_idle` (`pool_wait` of the same samples; None at one thread).

    Raises:
        ValueError: a count out of range (the worker would die on it under perf, less clearly).
        ProfileError: perf missing or refused (one line with the fix), or the worker failed.
    """
    cli.check_number("threads", threads, minimum=1, integer=True)
    cli.check_number("runs", runs, minimum=1, integer=True)
    cli.check_number("warmup", warmup, minimum=0, integer=True)
    cli.check_number("frequency", frequency, minimum=1, integer=True)
    perf = find_perf()
    model_path = os.fspath(model_path)
    if not os.path.isfile(model_path):
        raise ProfileError(f"No such .tflite file: {model_path}")
    worker = [python or sys.executable, "-m", "swiftformer_keras.lite.kernel_profile", "--worker", model_path]
    worker += ["--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
    worker += ["--runtime", runtime] if runtime else []
    with tempfile.TemporaryDirectory(prefix="swiftformer-perf-") as folder:
        data = os.path.join(folder, "perf.data")
        timed = _record_worker(perf, worker, data, frequency, folder)
        report = _perf_output(perf, "report", "-i", data, "--stdio", "-q", "-n", "--sort", "symbol", "--no-children")
        script = _perf_output(perf, "script", "-i", data, "-F", "pid,tid,time,ip,sym")
    profile = summarise(parse_report(report), statistics.median(timed["ms"]))
    return {
        "model": model_path,
        "runtime": timed["runtime"],
        "threads": threads,
        "runs": runs,
        **profile,
        "pool_idle": pool_wait(parse_script(script)),
    }


def _record_worker(perf, worker, data, frequency, folder):
    """Runs the `worker` command under `perf record` into `data`, sampling only while the worker
    says so through perf's control FIFOs (made in `folder`); returns the worker's timing JSON."""
    control, ack = os.path.join(folder, "control"), os.path.join(folder, "ack")
    os.mkfifo(control)
    os.mkfifo(ack)
    # -D -1: sampling starts disabled; the worker enables it around its timed invokes.
    command = [perf, "record", "-q", "-F", str(frequency), "-D", "-1", "--control", f"fifo:{control},{ack}"]
    command += ["-o", data, "--", *worker, "--control", control, ack]
    # NumPy's OpenBLAS threads spin for a while after any BLAS call of the worker's start-up and
    # were sampled as "everything else" (blas_thread_server, a fifth of a small model's samples):
    # the worker needs no threaded BLAS, only the runtime's own threads are profiled.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=_PACKAGE_PARENT, check=False, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise ProfileError(_failure(done))
    return json.loads(lines[-1])


def _perf_output(perf, command, *arguments):
    """The standard output of `perf <command> <arguments>`; ProfileError with its first line if it fails."""
    done = subprocess.run([perf, command, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ProfileError(f"perf {command} failed: {_first_line(done.stderr)}")
    return done.stdout


def _first_line(text):
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")[:300]


def _failure(done):
    """One line for a failed `perf record` of the worker."""
    text = done.stderr
    if "perf_event_paranoid" in text or "Permission denied" in text or "Access to performance monitoring" in text:
        return (
            "perf may not sample processes here: run as root, or sudo sysctl kernel.perf_event_paranoid=1 "
            f"({_first_line(text)})"
        )
    errors = [line for line in text.splitlines() if "Error" in line or "error" in line]
    return f"profiling failed (exit code {done.returncode}): {_first_line(errors[-1] if errors else text)}"


def markdown(profile, title=None):
    """The per-kind table of one profile, busiest kind first."""
    kinds = sorted(profile["kinds"].items(), key=lambda item: -item[1]["share"])
    lines = [
        f"**{title}**" if title else None,
        (
            f"{profile['samples']} samples over {profile['runs']} invokes, {profile['threads']} thread(s), "
            f"median {profile['median_ms']:.3f} ms per invoke ({profile['runtime']})"
        ),
        "",
        markdown_table(
            ["kind of kernel", "share of time", "ms per invoke", "busiest kernel"],
            [(kind, f"{entry['share']:.1%}", f"{entry['ms']:.3f}", f"`{entry['top']}`") for kind, entry in kinds],
            align="lrrl",
        ),
    ]
    idle = profile.get("pool_idle")
    if idle:
        beside = ", ".join(f"{kind} {share:.1%}" for kind, share in list(idle["while"].items())[:4])
        lines += [
            "",
            (
                f"The pool's other threads wait {idle['waiting']:.1%} of their time; meanwhile the calling "
                f"thread runs (share of their time): {beside}."
            ),
        ]
    return "\n".join(line for line in lines if line is not None)


def _worker(argv):
    """The profiled process: load, warm up, then time `--runs` invokes with sampling on."""
    parser = cli.ArgumentParser(prog="python -m swiftformer_keras.lite.kernel_profile")
    parser.add_argument("--worker", required=True, metavar="MODEL", help="the .tflite file to profile")
    parser.add_argument("--threads", type=cli.number(int, minimum=1), required=True)
    parser.add_argument("--runs", type=cli.number(int, minimum=1), required=True)
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), required=True)
    parser.add_argument("--control", nargs=2, required=True, metavar=("FIFO", "ACK"))
    parser.add_argument("--runtime", choices=RUNTIMES)
    args = parser.parse_args(argv)
    worker = Worker(args.runtime, args.threads, args.warmup)
    loaded = worker.load({"model": args.worker})
    if not loaded["files"]["model"]["loaded"]:
        print(loaded["files"]["model"]["error"], file=sys.stderr)
        return 1
    with open(args.control[0], "w") as control, open(args.control[1]) as ack:
        control.write("enable\n")
        control.flush()
        ack.readline()
        timed = worker.time("model", args.runs)
        control.write("disable\n")
        control.flush()
        ack.readline()
    print(json.dumps({"runtime": f"{loaded['runtime']} {loaded['version']}", **timed}))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
