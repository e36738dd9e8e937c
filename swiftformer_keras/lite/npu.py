"""Our `.tflite` files compiled ahead of time for phone NPUs, by LiteRT's own compiler.

    targets = parse_targets(["qualcomm:SM8650,SM8750"])     # or "qualcomm:all", "mediatek:MT6989", ...
    rows = compile_for_npu("xs_int8.tflite", targets, "npu/")
    rows[0]  # {"target": "Qualcomm_SM8650", "compiled": True, "npu_ops": 296, "ops": 296, "partitions": 1, ...}

`ai_edge_litert.aot` (ai-edge-litert 2.3) hands a file to a vendor's compiler plugin, which
puts every op it supports into NPU partitions: the compiled file is a `.tflite` whose
partitions are `DISPATCH_OP`s holding the vendor's bytecode (for Qualcomm a QNN context
binary), run on the phone by LiteRT's `CompiledModel`. Per target the rows say whether it
compiled and, if not, the compiler's own reason; how many ops went to the NPU in how many
partitions; the file's size; the compile time; and the compiler used.

Where the compilers come from:
- Qualcomm: LiteRT's plugin needs the x86_64 QNN libraries. Qualcomm's SDK package
  (`ai-edge-litert-sdk-qualcomm`) downloads them from Qualcomm's site at install; the PyPI
  wheel `onnxruntime-qnn` ships the same libraries (QAIRT 2.51), so they are taken from it,
  put on the compiler's library path (`qnn_library_path`). The plugin also links
  `libQnnLpai.so` (the low-power AI backend) without calling it; onnxruntime-qnn lacks it, so
  an empty library of that name is built once with the C compiler into the cache. Nothing is
  written into any installed package.
- MediaTek, Google Tensor and Intel: their SDK packages download the compilers from the
  vendors' sites at install; Samsung's is not on PyPI. Where one is absent, `check_vendor`
  names what is needed in one line.
"""

import contextlib
import dataclasses
import importlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import tempfile
import time

from swiftformer_keras.lite.runtime_versions import model_root, operators

# vendor -> (the aot module with its SocModel enum, the SDK module LiteRT imports, what it needs and how to get it).
_ON_PYPI = "pip install {} on a machine that reaches the vendor's site: its install downloads the compiler"
VENDORS = {
    "qualcomm": ("ai_edge_litert.aot.vendors.qualcomm.target", None, None),
    "mediatek": (
        "ai_edge_litert.aot.vendors.mediatek.target",
        "ai_edge_litert_sdk_mediatek",
        "MediaTek's NeuroPilot compiler: " + _ON_PYPI.format("ai-edge-litert-sdk-mediatek"),
    ),
    "google_tensor": (
        "ai_edge_litert.aot.vendors.google_tensor.target",
        "ai_edge_litert_sdk_google_tensor",
        "Google's Tensor compiler (experimental access): " + _ON_PYPI.format("ai-edge-litert-sdk-google-tensor"),
    ),
    "intel_openvino": (
        "ai_edge_litert.aot.vendors.intel_openvino.target",
        "ai_edge_litert_sdk_intel",
        "OpenVINO's NPU compiler: " + _ON_PYPI.format("ai-edge-litert-sdk-intel"),
    ),
    "samsung": (
        "ai_edge_litert.aot.vendors.samsung.target",
        "ai_edge_litert_sdk_samsung",
        "Samsung's Exynos AI Studio compiler, which is not on PyPI: install Samsung's SDK as the module "
        "ai_edge_litert_sdk_samsung",
    ),
}
# SoCs Play's device targeting cannot serve (cars, tablets' boards): compiled, kept out of an AI Pack.
NOT_PHONES = {"Qualcomm_SA8255", "Qualcomm_SA8295", "MediaTek_MT8171", "MediaTek_MT8188", "MediaTek_MT8189"}
QNN_PACKAGE = "onnxruntime-qnn"
QNN_FIX = f"pip install {QNN_PACKAGE}==2.7.0 (it ships the x86_64 QNN libraries the compiler loads)"
# A compiled Qualcomm context binary records the SoC and HTP architecture it was built for.
_HTP_ARCH = re.compile(rb"soc_type=(\w{1,16});arch=(\d{1,3});")
_QNN_ERROR = re.compile(r"\[ ERROR \]\s+\S+::ERROR:(.+)")
_FAILED_OP = re.compile(r'<E> "([^"]{1,300})" generated: (.+)')


@dataclasses.dataclass(frozen=True)
class NpuTarget:
    """One SoC: `vendor` (a `VENDORS` key) and `soc` as LiteRT names it (`"SM8650"`)."""

    vendor: str
    soc: str

    @property
    def name(self):
        """`"Qualcomm_SM8650"`: LiteRT's target id, the AI Pack's device group and our file suffix."""
        return repr(self.aot_target())

    def aot_target(self):
        """LiteRT's own target object (`ai_edge_litert.aot.vendors.<vendor>.target.Target`)."""
        module = importlib.import_module(VENDORS[self.vendor][0])
        return module.Target(module.SocModel(self.soc))


def socs(vendor):
    """The SoCs LiteRT's compiler knows for `vendor`, in its order."""
    module = importlib.import_module(VENDORS[vendor][0])
    return [soc.value for soc in module.SocModel if soc.value != "ALL"]


def parse_targets(specs):
    """`["qualcomm:SM8650,SM8750", "mediatek:all"]` -> `[NpuTarget, ...]`, in order, no repeats.

    Raises:
        ValueError: an unknown vendor or SoC (the message lists the choices), or a spec without `:`.
    """
    targets = []
    for spec in specs:
        vendor, _, names = spec.partition(":")
        vendor = vendor.strip().lower()
        if vendor not in VENDORS or not names.strip():
            raise ValueError(
                f"Unknown NPU target {spec!r}; write VENDOR:SOC[,SOC...] or VENDOR:all, VENDOR one of "
                f"{', '.join(VENDORS)} (e.g. qualcomm:SM8650,SM8750)."
            )
        known = socs(vendor)
        by_key = {soc.upper(): soc for soc in known}
        for name in names.split(","):
            name = name.strip()
            chosen = known if name.lower() == "all" else [by_key.get(name.upper())]
            if chosen == [None]:
                raise ValueError(f"Unknown {vendor} SoC {name!r} in {spec!r}; use all or one of {', '.join(known)}.")
            targets += [NpuTarget(vendor, soc) for soc in chosen if NpuTarget(vendor, soc) not in targets]
    return targets


def qnn_version():
    """`(QNN version, its source)`: `("2.51.0", "onnxruntime-qnn 2.7.0")`.

    Raises:
        ImportError: onnxruntime-qnn is not installed (`QNN_FIX`).
    """
    try:
        from onnxruntime_qnn import build_and_package_info
    except ImportError:
        raise ImportError(f"Qualcomm targets need the QNN libraries: {QNN_FIX}") from None
    return build_and_package_info.qnn_version, f"{QNN_PACKAGE} {build_and_package_info.__version__}"


def _cache_folder():
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "swiftformer-keras", "qnn")


def qnn_library_path(cache=None):
    """The library path the Qualcomm compiler needs: the folder with the empty `libQnnLpai.so`,
    then onnxruntime-qnn's QNN libraries.

    The empty library is built once with the C compiler (`cc`) into `cache`
    (default `~/.cache/swiftformer-keras/qnn`).

    Raises:
        ImportError: onnxruntime-qnn is not installed.
        OSError: no C compiler to build the empty library with, or it failed (one line: the
            command lines report it like any expected failure).
    """
    version, _ = qnn_version()
    import onnxruntime_qnn

    folder = os.path.join(cache or _cache_folder(), version)
    stub = os.path.join(folder, "libQnnLpai.so")
    if not os.path.isfile(stub):
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise OSError(
                "The Qualcomm compiler links libQnnLpai.so, which onnxruntime-qnn lacks; building the empty "
                "stand-in needs a C compiler: apt-get install gcc"
            )
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as work:
            source, built = os.path.join(work, "empty.c"), os.path.join(work, "libQnnLpai.so")
            with open(source, "w") as file:
                file.write("/* The QNN LPAI backend's name, which LiteRT's Qualcomm plugin links and never calls. */\n")
            done = subprocess.run([compiler, "-shared", "-fPIC", "-o", built, source], capture_output=True, text=True)
            if done.returncode:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise OSError(f"{compiler} could not build the empty libQnnLpai.so ({last}); check the C compiler.")
            os.replace(built, stub)
    return os.pathsep.join([folder, onnxruntime_qnn.LIB_DIR_FULL_PATH])


def check_vendor(vendor):
    """What compiling for `vendor` needs, checked before any work: the compiler's source line.

    Raises:
        ImportError: its SDK (or, for Qualcomm, onnxruntime-qnn) is absent; one line naming
            the package and what it brings.
    """
    if vendor == "qualcomm":
        version, source = qnn_version()
        return f"QNN {version} ({source})"
    _, module_name, needs = VENDORS[vendor]
    try:
        module = importlib.import_module(module_name)
        with contextlib.redirect_stderr(io.StringIO()):  # its own warning would precede our one line
            libraries = module.path_to_sdk_libs()
    except Exception:  # absent, or installed empty (SKIP_SDK_DOWNLOAD): the vendor's own check
        libraries = None
    if not libraries or not os.path.isdir(libraries) or not os.listdir(libraries):
        raise ImportError(f"{vendor} targets need {needs} ({module_name} is absent or holds no compiler here).")
    package = module_name.replace("_", "-")
    return f"{package} {importlib.metadata.version(package)}"


@contextlib.contextmanager
def _library_path(path):
    """`LD_LIBRARY_PATH` starting with `path` for the block: LiteRT's compiler runs in a child
    process that inherits it after LiteRT's own folders."""
    saved = os.environ.get("LD_LIBRARY_PATH")
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(part for part in (path, saved) if part)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved


def compiler_reason(log):
    """The compiler's own reason in its log: the first QNN error and the op it names,
    `"could not create op: q::QNN_Gelu (at .../Gelu/mul_1/...)"`; else the last error line."""
    errors = _QNN_ERROR.findall(log)
    failed = _FAILED_OP.search(log)
    if errors:
        reason = errors[0].strip()
        for line in errors:  # "could not create op" names the op; earlier lines may be its symptoms
            if "could not create op" in line:
                reason = line.strip()
                break
        return f"{reason} (at {failed.group(1)})" if failed else reason
    lines = [line.strip() for line in log.splitlines() if "error" in line.lower() and line.strip()]
    return lines[-1][:300] if lines else "the compiler failed without an error line"


def _failure_reason(message):
    """The compiler's reason from LiteRT's failure message, which names a log file (read, then removed)."""
    found = re.search(r"See (\S+\.error) for details", message)
    if not found or not os.path.isfile(found.group(1)):
        return message.strip().splitlines()[0][:300]
    with open(found.group(1), encoding="utf-8", errors="replace") as file:
        log = file.read()
    os.remove(found.group(1))
    return compiler_reason(log)


def dispatch_ops(path):
    """`(ops sent to the NPU as DISPATCH_OPs, ops left to the CPU)` of a compiled file."""
    names = [name for name, _ in operators(path)]
    dispatched = sum(name == "DISPATCH_OP" for name in names)
    return dispatched, len(names) - dispatched


def htp_arch(path):
    """`(soc, HTP architecture)` a Qualcomm-compiled file's context binary was built for,
    `("SM8650", 75)`; None where the file holds none."""
    with open(path, "rb") as file:
        found = _HTP_ARCH.search(file.read())
    return (found.group(1).decode(), int(found.group(2))) if found else None


def _compile_one(source, target, folder):
    """Compiles `source` for `target` into `folder`; the row of `compile_for_npu`."""
    from ai_edge_litert.aot import aot_compile

    stem = os.path.splitext(os.path.basename(source))[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder) as work:
        with contextlib.redirect_stderr(io.StringIO()):  # LiteRT's own progress bars; failures come back below
            result = aot_compile.aot_compile(source, output_dir=work, target=target.aot_target(), keep_going=True)
        seconds = time.perf_counter() - start
        row = {"target": target.name, "vendor": target.vendor, "soc": target.soc, "seconds": round(seconds, 2)}
        if result.failed_backends or not result.models_with_backend:
            message = result.failed_backends[0][1] if result.failed_backends else "no model came back"
            return {**row, "compiled": False, "reason": _failure_reason(str(message))}
        (_, model), *_ = result.models_with_backend
        stats = model.partition_stats.subgraph_stats if model.partition_stats else []
        file_name = f"{stem}_{target.name}.tflite"
        os.replace(model.path, os.path.join(folder, file_name))
    path = os.path.join(folder, file_name)
    dispatched, cpu_ops = dispatch_ops(path)
    arch = htp_arch(path) if target.vendor == "qualcomm" else None
    return {
        **row,
        "compiled": True,
        "reason": None,
        "file": file_name,
        "bytes": os.path.getsize(path),
        "npu_ops": sum(s.num_ops_offloaded for s in stats),
        "ops": sum(s.num_total_ops for s in stats),
        "partitions": sum(s.num_partitions_offloaded for s in stats),
        "dispatch_ops": dispatched,
        "cpu_ops": cpu_ops,
        **({"htp_arch": f"v{arch[1]}"} if arch else {}),
    }


def compile_for_npu(source, targets, folder, progress=None):
    """Compiles the `.tflite` file `source` for each of `targets` (`parse_targets`) into `folder`.

    A target that fails to compile is a row with `compiled: False` and the compiler's
    `reason`, not an exception: one file may suit some SoCs and not others.

    Args:
        progress: a callable given each target's row once it is compiled (a progress bar's).

    Returns:
        One dict per target: `target`, `vendor`, `soc`, `compiled`, `reason`, `seconds`,
        `compiler`; compiled ones also `file` (its name in `folder`,
        `<stem>_<target>.tflite`), `bytes`, `npu_ops` of `ops`, `partitions`,
        `dispatch_ops`, `cpu_ops` (ops the phone's CPU runs), and for Qualcomm `htp_arch`.

    Raises:
        ImportError: a vendor's compiler is absent (`check_vendor`).
        ValueError: `source` is not a `.tflite` file.
    """
    source = os.fspath(source)
    with open(source, "rb") as file:
        model_root(file.read())  # a ValueError before any compiler starts
    compilers = {vendor: check_vendor(vendor) for vendor in dict.fromkeys(target.vendor for target in targets)}
    library_path = qnn_library_path() if "qualcomm" in compilers else ""
    rows = []
    with _library_path(library_path):
        for target in targets:
            rows.append({**_compile_one(source, target, folder), "compiler": compilers[target.vendor]})
            if progress is not None:
                progress(rows[-1])
    return rows
