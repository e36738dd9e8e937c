"""The TFLite runtime on this machine: one interpreter factory, delegation counts, timing, CPU name.

    interpreter = make_interpreter(model_path="xs_int8.tflite", num_threads=2)   # XNNPACK by default
    partitions, model_nodes = count_partitions(interpreter)
    ms = time_interleaved({"fp32": fp32.invoke, "int8": int8.invoke}, runs=50, warmup=5)
    cpu_name()                                                                    # 'AMD EPYC'

Every `.tflite` file the project loads goes through `make_interpreter`, so the
choice of runtime is made here only: `runtime=None` takes the first installed of
`RUNTIMES` (LiteRT's `ai_edge_litert`, else `tflite_runtime`, else TensorFlow's
`tf.lite`), a name takes that one or fails with the way to install it
(`--runtime` on the command lines). `"litert-compiled"`, never picked by None,
runs the file through LiteRT's current API, `CompiledModel`, behind the
Interpreter methods the project calls (`CompiledModelInterpreter`), so that the
two APIs of the same wheel can be timed and compared on the same file. Every
latency the project reports is timed by `time_interleaved`.

Only the standard library is imported here (the runtime itself when asked
for), so this module works in an environment with numpy and one runtime alone,
such as .venv-tflite-runtime (`make .venv-tflite-runtime/.installed`).
"""

import functools
import importlib
import importlib.metadata
import os
import platform
import sys
import time

CPUINFO = "/proc/cpuinfo"
# The TFLite runtimes, in the order `runtime=None` tries them; "litert-compiled" is last, where it is
# never reached (the wheel that has it has "litert"): the Interpreter stays the default.
RUNTIMES = ("litert", "tflite-runtime", "tensorflow", "litert-compiled")
# runtime -> (the module of its Interpreter, or CompiledModel, the pip package, how to install it).
_SOURCES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert", "pip install 'swiftformer-keras[litert]'"),
    "tflite-runtime": (
        "tflite_runtime.interpreter",
        "tflite-runtime",
        "run `make .venv-tflite-runtime/.installed` and use .venv-tflite-runtime/bin/python, or "
        "pip install 'swiftformer-keras[tflite-runtime]' (Python <= 3.11)",
    ),
    "tensorflow": ("tensorflow", "tensorflow", "pip install 'swiftformer-keras[tensorflow]'"),
    # The CompiledModel options it is called with (`Options`, `CpuOptions`) are those of 2.3.
    "litert-compiled": ("ai_edge_litert.compiled_model", "ai-edge-litert", "pip install 'ai-edge-litert>=2.3'"),
}
NO_RUNTIME = (
    "No TFLite interpreter is installed: pip install ai-edge-litert (LiteRT; or tflite-runtime, "
    "or tensorflow, whose tf.lite is used last)."
)


def check_runtime(runtime):
    """`runtime` if it is None (automatic) or one of `RUNTIMES`, else a `ValueError` naming the choices."""
    if runtime is None or runtime in RUNTIMES:
        return runtime
    raise ValueError(
        f"Unknown TFLite runtime {runtime!r}; choose one of {', '.join(RUNTIMES)} "
        "(or None: the first of them installed)."
    )


def _import(runtime):
    """`(Interpreter, OpResolverType, version)` of `runtime`; ImportError where it cannot be imported."""
    module_name, package, _ = _SOURCES[runtime]
    if runtime == "tensorflow":
        import tensorflow as tf  # the runtime asked for, and only then: see the module docstring

        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType, tf.__version__
    module = importlib.import_module(module_name)
    top = importlib.import_module(module_name.split(".")[0])
    if runtime == "tflite-runtime":
        return module.Interpreter, module.OpResolverType, top.__version__
    try:  # LiteRT names its version in its package metadata only
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:  # another distribution of it (a nightly, a source build)
        version = getattr(top, "__version__", "unknown")
    if runtime == "litert-compiled":
        for needed in ("ai_edge_litert.options", "ai_edge_litert.interpreter"):  # what the adapter uses besides
            importlib.import_module(needed)
        _litert_environment()  # the runtime's process-wide part (~4 MB): loaded with it, not with a model
        return CompiledModelInterpreter, None, version
    return module.Interpreter, module.OpResolverType, version


def _not_installed(runtime, error):
    """Whether `error` (from `_import`) says that `runtime` is absent, rather than broken."""
    module_name = _SOURCES[runtime][0]
    parts = module_name.split(".")
    prefixes = {".".join(parts[: index + 1]) for index in range(len(parts))}
    return isinstance(error, ModuleNotFoundError) and error.name in prefixes


@functools.cache
def _runtime(runtime=None):
    """`(name, Interpreter, OpResolverType, version)` of `runtime`, or of the first installed of
    `RUNTIMES` for None."""
    check_runtime(runtime)
    if runtime is None:
        for name in RUNTIMES:
            try:
                return (name, *_import(name))
            except ImportError:
                continue
        raise ImportError(NO_RUNTIME)
    try:
        return (runtime, *_import(runtime))
    except ImportError as error:
        fix = _SOURCES[runtime][2]
        if _not_installed(runtime, error):
            raise ImportError(f"{runtime} is not installed in this Python ({sys.executable}): {fix}") from None
        raise ImportError(
            f"{runtime} is installed in this Python ({sys.executable}) but cannot be imported ({error}); "
            f"reinstall it: {fix}"
        ) from error


def runtime_version(runtime=None):
    """`(name, version)` of the runtime `make_interpreter(runtime=runtime)` uses:
    `("litert", "2.3.0")`, `("tflite-runtime", "2.14.0")`, `("tensorflow", "2.21.0")`.

    Raises:
        ValueError: an unknown `runtime`.
        ImportError: that runtime (or, for None, any) is not installed; one line with the fix.
    """
    name, _, _, version = _runtime(runtime)
    return name, version


@functools.cache
def _litert_environment():
    """One LiteRT `Environment` for every CompiledModel of the process: each model would
    otherwise make its own, registering (and logging) every accelerator again. Made when the
    runtime is loaded (`_import`), so that android_bench/host.py, which measures a model's
    memory from after the runtime's import, does not count it as the model's."""
    from ai_edge_litert.environment import Environment  # the runtime asked for: see the module docstring

    return Environment.create()


class CompiledModelInterpreter:
    """LiteRT's `CompiledModel` (CPU) behind the Interpreter methods the project calls: the runtime
    "litert-compiled" of `make_interpreter`.

    A CompiledModel runs a signature, not tensors: this one runs the file's only signature
    (ours: `image` in, `probabilities` or `logits` out), and its inputs and outputs are
    addressed by the tensor indices the Interpreter gives them. Their details (dtype, shape,
    quantization) are the file's, read by an Interpreter that applies no delegate and is
    never allocated, since CompiledModel gives no quantization; int8 and uint8 files are
    fed and read as with the Interpreter.

    What it cannot do: list its nodes, so how XNNPACK split the graph is unknown
    (`count_partitions` says None); run its builtin kernels (`xnnpack=False`) on more than
    one thread (they ignore the count: same time, same numbers as one thread, LiteRT 2.3);
    keep intermediate tensors (`preserve_all_tensors`).

    Attributes:
        model_nodes: the file's ops (the Interpreter's nodes but its DELEGATE ones).
        signature: the name of the signature it runs (ours: "serving_default").
    """

    def __init__(self, model_path=None, model_content=None, num_threads=2, xnnpack=True):
        # The runtime asked for, and only then: see the module docstring.
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        from ai_edge_litert.options import CpuKernelMode, CpuOptions, Options

        if not xnnpack and num_threads != 1:
            raise ValueError(
                "litert-compiled runs its builtin kernels (xnnpack=False) on one thread, not "
                f"num_threads={num_threads}: use num_threads=1, or runtime='litert'."
            )
        if model_path is not None:
            source, create = {"model_path": os.fspath(model_path)}, CompiledModel.from_file
        else:  # kept: the model need not copy the bytes it runs
            source, create = {"model_content": bytes(model_content)}, CompiledModel.from_buffer
        reader = Interpreter(**source, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._inputs, self._outputs = reader.get_input_details(), reader.get_output_details()
        self.model_nodes = len(reader._get_ops_details())
        del reader  # its memory is not the model's (android_bench/host.py measures it)
        self._source = next(iter(source.values()))
        kernels = CpuKernelMode.XNNPACK if xnnpack else CpuKernelMode.BUILTIN
        options = Options(HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=num_threads, kernel_mode=kernels))
        self._model = create(self._source, environment=_litert_environment(), options=options)
        signatures = self._model.get_signature_list()
        if len(signatures) != 1:
            raise ValueError(
                f"litert-compiled runs a file of one signature; this one has {sorted(signatures) or 'none'}."
            )
        ((self.signature, names),) = signatures.items()
        # Each tensor's place in the signature's lists: where run_by_index takes its buffer.
        self._places = {}
        for kind, found in (
            ("inputs", self._model.get_input_tensor_details),
            ("outputs", self._model.get_output_tensor_details),
        ):
            for name, detail in found(self.signature).items():
                self._places[detail["index"]] = (kind, names[kind].index(name))
        if sorted(self._places) != sorted(d["index"] for d in self._inputs + self._outputs):
            raise ValueError(f"the signature {self.signature!r} runs other tensors than the file's main graph.")
        self._buffers = None

    def get_signature_list(self):
        return self._model.get_signature_list()

    def get_input_details(self):
        return [dict(detail) for detail in self._inputs]

    def get_output_details(self):
        return [dict(detail) for detail in self._outputs]

    def _detail(self, tensor_index):
        """`(kind, place, detail)` of a signature tensor; ValueError for any other index."""
        if tensor_index not in self._places:
            raise ValueError(f"Tensor {tensor_index} is not an input or output of the signature {self.signature!r}.")
        kind, place = self._places[tensor_index]
        return kind, place, next(d for d in self._inputs + self._outputs if d["index"] == tensor_index)

    def resize_tensor_input(self, input_index, tensor_size):
        """Resizes an input, as the Interpreter does without `strict`: also a static one."""
        import numpy as np  # the runtime's own dependency

        kind, place, detail = self._detail(input_index)
        if kind != "inputs":
            raise ValueError(f"Tensor {input_index} is an output, not an input.")
        self._model.resize_input_tensor(place, [int(v) for v in tensor_size], strict=False)
        detail["shape"] = np.array(tensor_size, np.int32)
        shapes = {d["index"]: d["shape"] for d in self._model.get_output_tensor_details(self.signature).values()}
        for output in self._outputs:
            output["shape"] = np.array(shapes[output["index"]], np.int32)
        self._buffers = None

    def allocate_tensors(self):
        """Makes the signature's input and output buffers (after a resize, anew)."""
        self._buffers = {"inputs": self._model.create_input_buffers(0), "outputs": self._model.create_output_buffers(0)}

    def _buffer(self, tensor_index):
        kind, place, detail = self._detail(tensor_index)
        if self._buffers is None:
            raise RuntimeError("Call allocate_tensors() first (and again after resize_tensor_input).")
        return self._buffers[kind][place], detail

    def set_tensor(self, tensor_index, value):
        """Copies `value` into an input; its dtype and shape must be the input's, as for the Interpreter."""
        import numpy as np

        buffer, detail = self._buffer(tensor_index)
        value = np.asarray(value)
        if value.dtype != detail["dtype"] or value.shape != tuple(detail["shape"]):
            raise ValueError(
                f"Cannot set tensor {tensor_index}: got {value.dtype} {list(value.shape)}, expected "
                f"{np.dtype(detail['dtype'])} {list(detail['shape'])}."
            )
        buffer.write(value)

    def invoke(self):
        if self._buffers is None:
            raise RuntimeError("Call allocate_tensors() first (and again after resize_tensor_input).")
        self._model.run_by_index(0, self._buffers["inputs"], self._buffers["outputs"])

    def get_tensor(self, tensor_index):
        """A copy of an input or output, in its dtype and shape."""
        import numpy as np

        buffer, detail = self._buffer(tensor_index)
        shape = tuple(int(v) for v in detail["shape"])
        return buffer.read(int(np.prod(shape)), detail["dtype"]).reshape(shape)


def make_interpreter(
    model_path=None,
    model_content=None,
    num_threads=2,
    xnnpack=True,
    allocate=True,
    runtime=None,
    preserve_all_tensors=False,
):
    """A TFLite interpreter over a file (`model_path`) or its bytes (`model_content`).

    Args:
        num_threads: CPU threads of the kernels and of XNNPACK.
        xnnpack: apply the runtime's default delegate (XNNPACK); False runs
            the builtin reference kernels alone (litert-compiled: its builtin
            kernel mode, on one thread only).
        allocate: allocate tensors now; pass False to resize inputs first.
        runtime: one of `RUNTIMES`, or None for the first of them installed;
            "litert-compiled" gives a `CompiledModelInterpreter`.
        preserve_all_tensors: keep every intermediate tensor readable after
            `invoke` (no buffer reused, nothing computed in place); slower.

    Raises:
        ValueError: an unknown `runtime`, or the runtime's own, for a file it cannot load
            (some runtimes raise RuntimeError there); for litert-compiled, what
            `CompiledModelInterpreter` cannot do (see there).
        ImportError: the `runtime` asked for is not installed in this Python, or for None,
            no TFLite runtime is (`NO_RUNTIME`); one line with the fix.
    """
    if (model_path is None) == (model_content is None):
        raise ValueError("Pass exactly one of model_path and model_content.")
    name, interpreter_class, resolver, _ = _runtime(runtime)
    if name == "litert-compiled":
        if preserve_all_tensors:
            raise ValueError("litert-compiled cannot keep intermediate tensors (preserve_all_tensors); use 'litert'.")
        interpreter = interpreter_class(model_path, model_content, num_threads, xnnpack)
        if allocate:
            interpreter.allocate_tensors()
        return interpreter
    kwargs = {"num_threads": num_threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
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
    order, then one `DELEGATE` node per partition a delegate took (its ops stay listed).
    A `CompiledModelInterpreter` lists none: ValueError."""
    if isinstance(interpreter, CompiledModelInterpreter):
        raise ValueError("LiteRT's CompiledModel (litert-compiled) lists no nodes; use runtime 'litert' to see them.")
    return interpreter._get_ops_details()  # the only node listing the Python API has


def count_partitions(interpreter):
    """`(partitions, model_nodes)` of an allocated interpreter: its delegate partitions
    (DELEGATE nodes) and the model's own nodes (all the others). A `CompiledModelInterpreter`
    lists no nodes: `(None, the file's ops)`, partitions unknown rather than guessed."""
    if isinstance(interpreter, CompiledModelInterpreter):
        return None, interpreter.model_nodes
    listed = nodes(interpreter)
    partitions = sum(node["op_name"] == "DELEGATE" for node in listed)
    return partitions, len(listed) - partitions


# A candidate timed right after another one runs in its wake: the other's worker threads still
# spin on the cores for a while (XNNPACK's pthreadpool, ONNX Runtime's and PyTorch's pools), and
# the caches hold the other's tensors. One invoke per turn put XS int8 / fp32 at 0.39-0.40 where
# each file timed alone gave 0.33-0.34, and a 56x56 fp32 ADD at 93 us against 57 (LiteRT 2.3,
# 2 threads, 2026-12-04); ONNX Runtime's wake took our fp32 XS from 8-9 ms to 17 ms. So candidates
# take turns of BLOCK calls whose first UNTIMED are not timed: each is timed as an app runs one
# model, again and again.
BLOCK, UNTIMED = 6, 3


def time_interleaved(candidates, runs, warmup=0, block=BLOCK, untimed=UNTIMED, progress=False):
    """`{name: [ms]}`: `runs` timed calls of every zero-argument callable in `candidates`.

    Each candidate is first called `warmup` times on its own. Then they take
    turns, in `candidates` order, `block` calls at a time, of which the first
    `untimed` are not timed, until each has `runs` timings: slow drifts of a
    shared machine hit every candidate alike, and none is timed in the wake of
    the one before it (see `BLOCK`). A single candidate has no one's wake to
    wait out: `block=1, untimed=0` times every call. `progress` (True, or
    the bar's label) shows a progress bar over the turns.
    """
    if block < 1 or not 0 <= untimed < block:
        raise ValueError(f"Need block >= 1 and 0 <= untimed < block, got block={block}, untimed={untimed}.")
    for call in candidates.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in candidates}
    turns = range(-(-runs // (block - untimed)))
    if progress:
        from tqdm import tqdm  # only the standard library at the top: see the module docstring

        turns = tqdm(turns, desc=progress if isinstance(progress, str) else "interleaved runs", unit="turn")
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


def cpu_flags():
    """The instruction-set flags /proc/cpuinfo gives for the first CPU (`avx512_vnni`, `amx_int8`, ...);
    empty where it gives none."""
    return frozenset(next((value.split() for key, value in _cpuinfo() if key.lower() in ("flags", "features")), []))


def cpu_mhz():
    """The highest `cpu MHz` /proc/cpuinfo gives, or None where it gives none."""
    try:
        return max(float(value) for key, value in _cpuinfo() if key.lower() == "cpu mhz")
    except ValueError:  # none listed, or not a number
        return None
