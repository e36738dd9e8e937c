""".tflite files on ARM64 CPUs under emulation: their outputs, and the instructions each invoke executes.

    with EmulatedRuntime("cortex-a76", "litert") as arm:
        arm.load({"fp32": "xs_fp32.tflite", "int8": "xs_int8.tflite"})
        arm.count("int8", runs=2)       # {"instructions": [79830112, 79830112], "output": [...]}

Phones and Raspberry Pis run XNNPACK's ARM64 kernels (NEON, dot product, i8mm, SVE), other
code than this x86 host's. QEMU user mode runs the real aarch64 wheels of LiteRT 2.3 and
tflite-runtime 2.14 on an arm64 Python 3.11 from Debian's packages (`make arm64` builds all of
it into `.arm64/`, see `arm64/build.sh`), as a `runtime_worker` at one thread, and a TCG plugin
(`arm64/count_instructions.c`) counts the guest instructions between the marks the worker makes
around each invoke. The count is the same on every run whatever the host's load, so two recipes
compare exactly on one CPU model; it is not a time (an in-order Cortex-A53 and an out-of-order
Cortex-A76 run one instruction at very different speeds, and memory stalls do not count).

The guest sees a `/proc/cpuinfo` written for its CPU model (XNNPACK picks some kernels by the
core it reads there, and LiteRT crashes on the x86 one QEMU 7.2 passes through). QEMU looks a
guest's absolute paths up under its `-L` folder first, so each run gets a folder of its own
that links the arm64 root's folders and holds that one file: no mount, no root.
"""

import bisect
import collections
import dataclasses
import os
import re
import shutil
import struct
import subprocess
import tempfile

import numpy as np

from swiftformer_keras.lite.runtime_worker import MARK_AFTER, MARK_BEFORE, MARK_BLOCKS, RuntimeProcess

# The repository's `.arm64/` (where `make arm64` builds), unless SWIFTFORMER_ARM64 names another.
PACKAGES_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_ENVIRONMENT = os.path.join(PACKAGES_PARENT, ".arm64")
ENVIRONMENT_VARIABLE = "SWIFTFORMER_ARM64"
# The runtimes the environment holds: each a folder of aarch64 wheels installed with --target.
ARM_RUNTIMES = {"litert": "litert", "tflite-runtime": "tflite-runtime"}


@dataclasses.dataclass(frozen=True)
class CpuModel:
    """A CPU QEMU emulates, and the `/proc/cpuinfo` of a core of that kind.

    Attributes:
        qemu: the `-cpu` argument.
        part, variant, revision: the MIDR fields of the core (implementer Arm, 0x41).
        features: the `Features` line (HWCAP names) the kernel would print.
        found_in: where users meet it.
    """

    qemu: str
    part: int
    variant: int
    revision: int
    features: str
    found_in: str

    def cpuinfo(self):
        """The text of a one-core `/proc/cpuinfo` for this model."""
        return (
            f"processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: {self.features}\nCPU implementer\t: 0x41\n"
            f"CPU architecture: 8\nCPU variant\t: 0x{self.variant:x}\nCPU part\t: 0x{self.part:03x}\n"
            f"CPU revision\t: {self.revision}\n\n"
        )


_ARMV8_0 = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"
_ARMV8_2 = f"{_ARMV8_0} atomics fphp asimdhp asimdrdm lrcpc dcpop asimddp"
CPU_MODELS = {
    "cortex-a53": CpuModel(
        "cortex-a53", 0xD03, 0x0, 4, _ARMV8_0, "Raspberry Pi 3, older phones' little cores: in order, no dot product"
    ),
    "cortex-a72": CpuModel("cortex-a72", 0xD08, 0x0, 3, _ARMV8_0, "Raspberry Pi 4: out of order, no dot product"),
    "cortex-a76": CpuModel(
        "cortex-a76", 0xD0B, 0x4, 1, _ARMV8_2, "Raspberry Pi 5, phones' big cores: dot product, fp16 arithmetic"
    ),
    # QEMU's `max` with SME off (with it, LiteRT 2.3's int8 outputs are wrong) and 128-bit vectors, as
    # Armv9 phone cores have them. Its cpuinfo names a Neoverse N2, the Armv9.0 core of Cortex-A710's
    # generation: with the part numbers of the phone cores (A710, A715, X1, X2) LiteRT 2.3 crashes here.
    "armv9": CpuModel(
        "max,sme=off,sve-default-vector-length=16",
        0xD49,
        0x0,
        0,
        f"{_ARMV8_2} sve sve2 i8mm bf16 svei8mm svebf16",
        "Armv9 phones (Cortex-A710/X2 and later): 128-bit SVE2, i8mm",
    ),
}


def cpu_model(name):
    """The `CpuModel` called `name` (a key of `CPU_MODELS`); ValueError naming the choices otherwise."""
    if name not in CPU_MODELS:
        raise ValueError(f"Unknown CPU model {name!r}; use one of {', '.join(CPU_MODELS)}.")
    return CPU_MODELS[name]


@dataclasses.dataclass(frozen=True)
class ArmEnvironment:
    """The emulated environment `make arm64` builds: QEMU, an arm64 Python, the runtimes, the counter."""

    folder: str
    qemu: str

    @property
    def sysroot(self):
        return os.path.join(self.folder, "sysroot")

    @property
    def python(self):
        return os.path.join(self.sysroot, "usr", "bin", "python3.11")

    @property
    def plugin(self):
        return os.path.join(self.folder, "count_instructions.so")

    def qemu_version(self):
        """QEMU's version, as `qemu-aarch64 --version` states it (`"7.2.22"`), or `"?"`."""
        done = subprocess.run([self.qemu, "--version"], capture_output=True, text=True, timeout=60)
        found = re.search(r"version (\S+)", done.stdout)
        return found.group(1) if found else "?"

    def site(self, runtime):
        """The folder of `runtime`'s aarch64 wheels."""
        if runtime not in ARM_RUNTIMES:
            raise ValueError(f"Unknown ARM64 runtime {runtime!r}; use one of {', '.join(ARM_RUNTIMES)}.")
        return os.path.join(self.folder, ARM_RUNTIMES[runtime])

    @classmethod
    def find(cls, folder=None):
        """The environment in `folder` (default: $SWIFTFORMER_ARM64, else the repository's `.arm64/`).

        Raises:
            ValueError: a part is missing, named in one line with the fix (`make arm64`).
        """
        folder = os.fspath(folder or os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_ENVIRONMENT)
        qemu = shutil.which("qemu-aarch64")
        missing = [] if qemu and _takes_plugins(qemu) else ["qemu-aarch64 with -plugin (Debian's qemu-user)"]
        found = cls(folder, qemu or "qemu-aarch64")
        for path in (found.python, found.plugin, *(found.site(runtime) for runtime in ARM_RUNTIMES)):
            if not os.path.exists(path):
                missing.append(path)
        if missing:
            raise ValueError(
                f"The ARM64 emulation environment is not complete: {', '.join(missing)} missing; "
                f"build it with `make arm64` (into .arm64/) or set {ENVIRONMENT_VARIABLE} to one."
            )
        return found


def _takes_plugins(qemu):
    done = subprocess.run([qemu, "-h"], capture_output=True, text=True, timeout=60)
    return any(line.startswith("-plugin") for line in done.stdout.splitlines())


def _guest_root(folder, sysroot, cpuinfo):
    """A root for QEMU's `-L` in `folder`: links to `sysroot`'s top folders, and `proc/cpuinfo`."""
    root = os.path.join(folder, "root")
    os.makedirs(os.path.join(root, "proc"))
    for name in os.listdir(sysroot):
        os.symlink(os.path.join(sysroot, name), os.path.join(root, name))
    with open(os.path.join(root, "proc", "cpuinfo"), "w") as file:
        file.write(cpuinfo)
    return root


def elf_functions(path):
    """`(starts, ends, names)` of the functions an ELF64 little-endian file names (`.symtab`, else
    `.dynsym`), sorted by start address, relative to its load address. Every offset is checked
    against the file's size: a malformed file gives ValueError, never a read outside it."""
    with open(path, "rb") as file:
        data = file.read()

    def unpack(layout, offset):
        if offset < 0 or offset + struct.calcsize(layout) > len(data):
            raise ValueError(f"{path!r} is not a well-formed ELF64 file (offset {offset} outside it).")
        return struct.unpack_from(layout, data, offset)

    if data[:6] != b"\x7fELF\x02\x01":
        raise ValueError(f"{path!r} is not a little-endian ELF64 file.")
    section_offset, (entry_size, count) = unpack("<Q", 0x28)[0], unpack("<HH", 0x3A)
    sections = [unpack("<IIQQQQIIQQ", section_offset + i * entry_size) for i in range(count)]
    by_type = {section[1]: section for section in sections}
    table = by_type.get(2) or by_type.get(11)  # SHT_SYMTAB, else SHT_DYNSYM
    if table is None:
        return [], [], []
    strings = sections[table[6]][4]
    found = []
    for offset in range(table[4], table[4] + table[5] - 23, 24):
        name, info, _, _, value, size = unpack("<IBBHQQ", offset)
        if info & 0xF == 2 and size:  # STT_FUNC
            end = data.find(b"\0", strings + name)
            found.append((value, value + size, data[strings + name : end].decode("utf-8", "replace")))
    found.sort()
    return [f[0] for f in found], [f[1] for f in found], [f[2] for f in found]


def instructions_by_function(blocks, maps):
    """`{(library, function): instructions}` of `[(guest address, instructions)]` blocks, named by the
    functions of the libraries `maps` (`/proc/self/maps` lines) places there; a block outside every
    named function counts as `(library or "?", "?")`."""
    bases = {}
    for line in maps:
        fields = line.split()
        if len(fields) >= 6 and int(fields[2], 16) == 0 and fields[5] not in bases:
            bases[fields[5]] = int(fields[0].split("-")[0], 16)
    libraries = sorted((base, path, elf_functions(path)) for path, base in bases.items() if os.path.isfile(path))
    starts_of_libraries = [base for base, _, _ in libraries]
    found = collections.Counter()
    for address, instructions in blocks:
        index = bisect.bisect_right(starts_of_libraries, address) - 1
        name = ("?", "?")
        if index >= 0:
            base, path, (starts, ends, names) = libraries[index]
            at = bisect.bisect_right(starts, address - base) - 1
            function = names[at] if at >= 0 and address - base < ends[at] else "?"
            name = (os.path.basename(path), function)
        found[name] += instructions
    return dict(found)


class EmulatedRuntime:
    """One TFLite runtime in an arm64 Python under QEMU, on one CPU model, one thread, counted.

    A `runtime_worker` speaks to it (`load`, `predict`, `count`); the plugin's marks give the
    instructions of each counted invoke. Use it as a context manager.
    """

    def __init__(self, cpu, runtime="litert", environment=None):
        self.cpu = cpu
        model = cpu_model(cpu)
        arm = environment if isinstance(environment, ArmEnvironment) else ArmEnvironment.find(environment)
        self.runtime = runtime
        site = arm.site(runtime)
        self._folder = tempfile.TemporaryDirectory(prefix="swiftformer-arm64-")
        root = _guest_root(self._folder.name, arm.sysroot, model.cpuinfo())
        self._marks = os.path.join(self._folder.name, "marks")
        command = [
            arm.qemu,
            "-L",
            root,
            "-cpu",
            model.qemu,
            "-plugin",
            f"{arm.plugin},marks={self._marks}",
            arm.python,
        ]
        # The guest's Python finds the runtime's wheels and this package; hash seeds fixed, so that
        # every run executes the same instructions.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, PACKAGES_PARENT]), "PYTHONHASHSEED": "0"}
        self.worker = RuntimeProcess(command, runtime, threads=1, env=env, warmup=1)

    def load(self, files):
        """Loads `{key: path}`; the worker's answer (`loaded`, `partitions`, `error` per file)."""
        return self.worker.ask({"load": {key: os.path.abspath(path) for key, path in files.items()}})

    def predict(self, key, inputs=None):
        """The file's output (dequantized, flattened) for the worker's fixed input; with `inputs`
        (an array of N inputs of the file's input shape and dtype), one such output per input."""
        if inputs is None:
            return self.worker.ask({"predict": key})["output"]
        path = os.path.join(self._folder.name, "inputs.npy")
        np.save(path, np.asarray(inputs))
        return self.worker.ask({"predict": key, "inputs": path})["outputs"]

    def count(self, key, runs=2, functions=False):
        """`{"instructions": [per invoke], "output": [...]}` over `runs` counted invokes of `key`; with
        `functions`, also `"functions"`: `{(library, function): instructions}` over those runs
        (`instructions_by_function`)."""
        with open(self._marks) as file:
            seen = len(file.readlines())
        reply = self.worker.ask({"count": key, "runs": runs, "blocks": functions})
        with open(self._marks) as file:
            lines = [line.split() for line in file.readlines()[seen:]]
        marks = [(int(label), int(count)) for label, count in (line for line in lines if line[0] != "b")]
        expected = [MARK_BEFORE, MARK_AFTER] * runs
        expected = [MARK_BLOCKS, *expected, MARK_BLOCKS] if functions else expected
        if [label for label, _ in marks] != expected:
            raise RuntimeError(f"The instruction counter saw marks {[m for m, _ in marks]}, not {expected}.")
        pairs = marks[1:-1] if functions else marks
        result = {
            "instructions": [pairs[i + 1][1] - pairs[i][1] for i in range(0, len(pairs), 2)],
            "output": reply["output"],
        }
        if functions:
            last_dump = max(i for i, line in enumerate(lines) if line[0] == str(MARK_BLOCKS))
            blocks = [(int(address), int(count)) for _, address, count in lines[last_dump + 1 :]]
            result["functions"] = instructions_by_function(blocks, reply["maps"])
        return result

    def close(self):
        try:
            self.worker.close()
        finally:
            self._folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
