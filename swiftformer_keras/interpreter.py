"""The TFLite runtime on this machine: one interpreter factory, delegation counts, timing, CPU name.

    interpreter = make_interpreter(model_path="xs_int8.tflite", num_threads=2)   # XNNPACK by default
    partitions, model_nodes = count_partitions(interpreter)
    ms = time_interleaved({"fp32": fp32.invoke, "int8": int8.invoke}, runs=50, warmup=5)
    cpu_name()                                                                    # 'AMD EPYC'

Every `.tflite` file the project loads goes through `make_interpreter`, so the
choice of runtime (`ai_edge_litert`, else `tflite_runtime`, else TensorFlow's
`tf.lite`) is made here only; every latency the project reports is timed by
`time_interleaved`.
"""

import functools
import importlib
import os
import platform
import time

CPUINFO = "/proc/cpuinfo"
NO_RUNTIME = (
    "No TFLite interpreter is installed: pip install ai-edge-litert (LiteRT; or tflite-runtime, "
    "or tensorflow, whose tf.lite is used last)."
)


@functools.lru_cache(maxsize=None)
def _runtime():
    """`(Interpreter, OpResolverType)` of the first runtime installed, in order of preference."""
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.Interpreter, module.OpResolverType
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(NO_RUNTIME) from None
    return tf.lite.Interpreter, tf.lite.experimental.OpResolverType


def make_interpreter(model_path=None, model_content=None, num_threads=2, xnnpack=True, allocate=True):
    """A TFLite interpreter over a file (`model_path`) or its bytes (`model_content`).

    Args:
        num_threads: CPU threads of the kernels and of XNNPACK.
        xnnpack: apply the runtime's default delegate (XNNPACK); False runs
            the builtin reference kernels alone.
        allocate: allocate tensors now; pass False to resize inputs first.

    Raises:
        ImportError: no TFLite runtime is installed (`NO_RUNTIME`).
        ValueError / RuntimeError: the runtime's own, for a file it cannot load.
    """
    if (model_path is None) == (model_content is None):
        raise ValueError("Pass exactly one of model_path and model_content.")
    interpreter_class, resolver = _runtime()
    kwargs = {"num_threads": num_threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if model_content is not None:
        kwargs["model_content"] = bytes(model_content)
    else:
        kwargs["model_path"] = os.fspath(model_path)
    interpreter = interpreter_class(**kwargs)
    if allocate:
        interpreter.allocate_tensors()
    return interpreter


def nodes(interpreter):
    """The interpreter's nodes (`op_name`, `inputs`, `outputs`, ...): the model's ops in
    order, then one `DELEGATE` node per partition a delegate took (its ops stay listed)."""
    return interpreter._get_ops_details()  # the only node listing the Python API has


def count_partitions(interpreter):
    """`(partitions, model_nodes)` of an allocated interpreter: its delegate partitions
    (DELEGATE nodes) and the model's own nodes (all the others)."""
    listed = nodes(interpreter)
    partitions = sum(node["op_name"] == "DELEGATE" for node in listed)
    return partitions, len(listed) - partitions


def time_interleaved(candidates, runs, warmup=0, block=1, untimed=0, progress=False):
    """`{name: [ms]}`: `runs` timed calls of every zero-argument callable in `candidates`.

    Each candidate is first called `warmup` times on its own. Then they take
    turns, in `candidates` order, `block` calls at a time, of which the first
    `untimed` are not timed, until each has `runs` timings: slow drifts of a
    shared machine hit every candidate alike. One call per turn (the default)
    times files that share one runtime; runtimes whose worker threads keep
    spinning after a call (ONNX Runtime, PyTorch) need blocks whose first calls
    are untimed, so that none is timed in another's wake.
    """
    if block < 1 or not 0 <= untimed < block:
        raise ValueError(f"Need block >= 1 and 0 <= untimed < block, got block={block}, untimed={untimed}.")
    for call in candidates.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in candidates}
    turns = range(-(-runs // (block - untimed)))
    if progress:
        from tqdm import tqdm

        turns = tqdm(turns, desc="interleaved runs", unit="turn")
    for _ in turns:
        for name, call in candidates.items():
            for index in range(block):
                start = time.perf_counter()
                call()
                elapsed = time.perf_counter() - start
                if index >= untimed and len(times[name]) < runs:
                    times[name].append(elapsed * 1000)
    return times


def _cpuinfo():
    """`[(key, value)]` of /proc/cpuinfo; empty where there is none (not Linux)."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as file:
            return [tuple(part.strip() for part in line.split(":", 1)) for line in file if ":" in line]
    except OSError:
        return []


def cpu_name(count=False):
    """This machine's CPU model: /proc/cpuinfo's `model name` (ARM kernels may only give
    `Hardware`), with ` xN` for its N processors if `count`; else what `platform` knows."""
    entries = _cpuinfo()
    names = [value for key, value in entries if key.lower() == "model name"]
    names = names or [value for key, value in entries if key.lower() == "hardware"]
    if not names or not names[0]:
        return platform.processor() or platform.machine()
    processors = sum(key.lower() == "processor" for key, _ in entries)
    return f"{names[0]} x{processors}" if count and processors else names[0]


def cpu_mhz():
    """The highest `cpu MHz` /proc/cpuinfo gives, or None where it gives none."""
    try:
        return max(float(value) for key, value in _cpuinfo() if key.lower() == "cpu mhz")
    except ValueError:  # none listed, or not a number
        return None
