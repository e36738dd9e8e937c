"""The TINY model's files on emulated ARM64 CPUs: outputs against this host's interpreter, exact counts."""

import os
import re

import numpy as np
import pytest

from conftest import ROOT, tiny_model
from swiftformer_keras.lite import metadata
from swiftformer_keras.lite.arm_emulation import (
    CPU_MODELS,
    ArmEnvironment,
    EmulatedRuntime,
    cpu_model,
    elf_functions,
    instructions_by_function,
)
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import export_tflite
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.lite.recipe import Recipe
from swiftformer_keras.lite.runtime_worker import RuntimeProcess, Worker


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """TINY at 64x64 as fp32 and as int8 with int8 output (its step is the output's scale)."""
    folder = tmp_path_factory.mktemp("arm")
    model = tiny_model("l2")
    calibration = random_images(8, (64, 64), seed=1)
    return {
        "fp32": export_tflite(model, str(folder / "tiny_fp32.tflite"), metadata=False),
        "fp16": export_tflite(model, str(folder / "tiny_fp16.tflite"), mode="fp16", metadata=False),
        "int8": export_tflite(
            model, str(folder / "tiny_int8.tflite"), mode="int8", calibration=calibration, io="int8", metadata=False
        ),
    }


def _x86_outputs(files, runtime, tflite_runtime_python):
    """The same runtime's outputs on this host: LiteRT here, tflite-runtime 2.14 in its own environment."""
    if runtime == "litert":
        host = Worker("litert", threads=1, warmup=0)
        host.load(files)
        return {key: np.asarray(host.predict(key)["output"]) for key in files}
    with RuntimeProcess(tflite_runtime_python, "tflite-runtime", threads=1, cwd=ROOT) as host:
        host.ask({"load": files})
        return {key: np.asarray(host.ask({"predict": key})["output"]) for key in files}


@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_files_run_on_the_arm_kernels_and_match_this_host(tiny_files, tflite_runtime_python, runtime):
    host_outputs = _x86_outputs(tiny_files, runtime, tflite_runtime_python)
    output_step = make_interpreter(model_path=tiny_files["int8"]).get_output_details()[0]["quantization"][0]
    with EmulatedRuntime("cortex-a76", runtime) as arm:
        loaded = arm.load(tiny_files)
        assert all(found["loaded"] for found in loaded["files"].values()), loaded
        assert loaded["version"] == {"litert": "2.3.0", "tflite-runtime": "2.14.0"}[runtime]
        counts = {key: arm.count(key, runs=2) for key in tiny_files}
    fp32, fp16, int8 = (np.asarray(counts[key]["output"]) for key in ("fp32", "fp16", "int8"))
    print(runtime, {key: counted["instructions"] for key, counted in counts.items()})
    spread = float(host_outputs["fp32"].std())
    np.testing.assert_allclose(fp32, host_outputs["fp32"], atol=1e-5 * spread)
    # The fp16 file computes in fp16 on the A76 (its metadata asks XNNPACK to, and the core can), on
    # tflite-runtime 2.14's XNNPACK too; this host computes it in fp32.
    fp16_error = np.abs(fp16 - host_outputs["fp16"]).max() / spread
    assert fp16_error < 0.05 and fp16.argmax() == host_outputs["fp16"].argmax()
    assert fp16_error > 1e-4, fp16_error
    # LiteRT's XNNPACK takes the whole int8 graph on both ISAs: one output step at most. tflite-runtime
    # 2.14's XNNPACK takes no int8 op, and its builtin kernels (NEON here, AVX there) round differently
    # through the graph's requantisations: two steps (measured), the same top-1.
    steps = {"litert": 1, "tflite-runtime": 2}[runtime]
    assert np.abs(int8 - host_outputs["int8"]).max() <= steps * output_step * 1.001
    assert int8.argmax() == host_outputs["int8"].argmax()
    assert all(100_000 < n < 50_000_000 for counted in counts.values() for n in counted["instructions"])


def test_the_count_is_the_same_on_every_run_and_differs_between_cores(tiny_files):
    def counts(cpu):
        with EmulatedRuntime(cpu, "litert") as arm:
            arm.load({"int8": tiny_files["int8"]})
            return arm.count("int8", runs=2)["instructions"]

    first, again, in_order = counts("cortex-a76"), counts("cortex-a76"), counts("cortex-a53")
    assert first == again  # exact: another process, the same instructions
    assert min(in_order) > 1.5 * min(first)  # the A53 has no dot product: XNNPACK's other int8 kernels


def test_fp16_arithmetic_runs_on_cores_that_have_it(tiny_files, tmp_path):
    """The fp16 file's metadata entry alone makes the difference: the same file without it counts as fp32."""
    fp32_arithmetic = str(tmp_path / "fp16_fp32_arithmetic.tflite")
    with open(tiny_files["fp16"], "rb") as file:
        content = file.read()
    assert metadata.model_entries(content)[metadata.REDUCED_PRECISION_NAME] == metadata.FP16_ARITHMETIC
    with open(fp32_arithmetic, "wb") as file:
        file.write(metadata.with_entry(content, metadata.REDUCED_PRECISION_NAME, b"fp32accfp32"))  # not valid: ignored
    files = {"fp16": tiny_files["fp16"], "fp32 arithmetic": fp32_arithmetic, "fp32": tiny_files["fp32"]}
    counts = {}
    for cpu in ("cortex-a76", "cortex-a53"):
        with EmulatedRuntime(cpu, "litert") as arm:
            arm.load(files)
            counts[cpu] = {key: min(arm.count(key, runs=1)["instructions"]) for key in files}
    print(counts)
    a76, a53 = counts["cortex-a76"], counts["cortex-a53"]
    # Other kernels on the A76 (fp16: 8 lanes a vector, not 4, and conversions at the graph's ends): how much
    # they win depends on the model's size (TINY 0.93 of fp32, XS 0.51: docs/arm.md), so only the change
    # is held.
    assert abs(a76["fp16"] - a76["fp32 arithmetic"]) > 0.05 * a76["fp32"]
    assert abs(a76["fp32 arithmetic"] - a76["fp32"]) < 0.02 * a76["fp32"]  # fp16 weights are widened once, at load
    assert abs(a53["fp16"] - a53["fp32 arithmetic"]) < 0.001 * a53["fp16"]  # no fp16 arithmetic on the A53


def test_the_fp16_recipe_runs_every_product_in_fp16(tiny_files, tmp_path):
    """With the "sum" norms XNNPACK keeps the attention block in fp32 (its fused sum of squares has no
    fp16 kernel); the fp16 recipe's "fp16_sum" norms leave no fp32 GEMM on an fp16 core."""
    sum_form = export_tflite(
        tiny_model("l2"),
        str(tmp_path / "tiny_fp16_sum_form.tflite"),
        mode="fp16",
        recipe=Recipe(reductions="sum", fp16_arithmetic=True),
        metadata=False,
    )
    files = {"recipe": tiny_files["fp16"], "sum form": sum_form}

    def fp32_products(functions):
        return sum(n for (_, function), n in functions.items() if re.match(r"xnn_f32_i?gemm", function))

    with EmulatedRuntime("cortex-a76", "litert") as arm:
        arm.load(files)
        counted = {key: arm.count(key, runs=1, functions=True) for key in files}
    in_fp32 = {key: fp32_products(found["functions"]) for key, found in counted.items()}
    print(in_fp32, {key: found["instructions"] for key, found in counted.items()})
    assert in_fp32["recipe"] == 0 and in_fp32["sum form"] > 0.1 * counted["sum form"]["instructions"][0]
    np.testing.assert_allclose(counted["recipe"]["output"], counted["sum form"]["output"], atol=0.05)


def test_the_instructions_are_named_by_the_kernels_that_ran_them(tiny_files):
    def top_functions(cpu):
        with EmulatedRuntime(cpu, "litert") as arm:
            arm.load({"int8": tiny_files["int8"]})
            counted = arm.count("int8", runs=2, functions=True)
        named = counted["functions"]
        assert abs(sum(named.values()) - sum(counted["instructions"])) < 0.02 * sum(counted["instructions"])
        return [function for (library, function), _ in sorted(named.items(), key=lambda item: -item[1])[:3]]

    a76, a53 = top_functions("cortex-a76"), top_functions("cortex-a53")
    print(a76, a53)
    # XNNPACK's int8 GEMM leads on both; the A76's uses the dot product, the A53 has none.
    assert a76[0].startswith("xnn_qs8_") and "gemm" in a76[0] and "neondot" in a76[0]
    assert a53[0].startswith("xnn_qs8_") and "gemm" in a53[0] and "neondot" not in a53[0]


def test_a_malformed_library_is_refused_not_read_past(tmp_path):
    assert len(elf_functions(os.path.join(ArmEnvironment.find().sysroot, "usr", "bin", "python3.11"))[2]) > 100
    header = bytearray(b"\x7fELF\x02\x01" + b"\0" * 58)
    header[0x28:0x30] = (10**6).to_bytes(8, "little")  # a section table past the end of the file
    header[0x3A:0x3E] = b"\x40\0\x05\0"
    (tmp_path / "lib.so").write_bytes(bytes(header))
    with pytest.raises(ValueError, match="not a well-formed ELF64 file"):
        elf_functions(tmp_path / "lib.so")
    (tmp_path / "text.so").write_bytes(b"not an ELF file")
    with pytest.raises(ValueError, match="not a little-endian ELF64 file"):
        elf_functions(tmp_path / "text.so")
    assert instructions_by_function([(0x1000, 7)], []) == {("?", "?"): 7}


def test_a_bad_cpu_model_or_runtime_is_one_line_naming_the_choices():
    with pytest.raises(ValueError, match=r"Unknown CPU model 'cortex-a99'; use one of cortex-a53, .*armv9\."):
        EmulatedRuntime("cortex-a99")
    with pytest.raises(ValueError, match=r"Unknown ARM64 runtime 'tflite'; use one of litert, tflite-runtime\."):
        EmulatedRuntime("cortex-a76", "tflite")
    assert cpu_model("armv9") is CPU_MODELS["armv9"]


def test_a_missing_environment_names_what_is_missing_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError) as raised:
        ArmEnvironment.find(tmp_path / "nothing")
    message = str(raised.value)
    assert "\n" not in message and message.endswith(
        "build it with `make arm64` (into .arm64/) or set SWIFTFORMER_ARM64 to one."
    )
    assert str(tmp_path / "nothing" / "sysroot" / "usr" / "bin" / "python3.11") in message
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-aarch64
    with pytest.raises(ValueError, match=r"qemu-aarch64 with -plugin \(Debian's qemu-user\)"):
        ArmEnvironment.find()
    monkeypatch.setenv("SWIFTFORMER_ARM64", str(tmp_path))
    with pytest.raises(ValueError, match=re.escape(os.path.join(str(tmp_path), "count_instructions.so"))):
        ArmEnvironment.find()
