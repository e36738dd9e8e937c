"""lite/npu.py: targets, the compilers' sources, and real compiles by LiteRT's Qualcomm plugin (QNN 2.51)."""

import os
import sys

import pytest

from swiftformer_keras.lite import npu
from swiftformer_keras.lite.runtime_versions import operators


def test_targets_parse_by_vendor_with_all_and_any_case():
    targets = npu.parse_targets(["qualcomm:sm8650,SM8750", "QUALCOMM:SM8650"])
    assert targets == [npu.NpuTarget("qualcomm", "SM8650"), npu.NpuTarget("qualcomm", "SM8750")]
    assert [target.name for target in targets] == ["Qualcomm_SM8650", "Qualcomm_SM8750"]
    every = npu.parse_targets(["qualcomm:all"])
    assert [target.soc for target in every] == npu.socs("qualcomm")
    assert {"SM8350", "SM8650", "SM8750", "SM8850", "SA8295"} <= set(npu.socs("qualcomm"))
    assert npu.parse_targets(["mediatek:MT6989"])[0].name == "MediaTek_MT6989"


@pytest.mark.parametrize(
    "spec, named",
    [
        ("qualcomm:SM9999", "Unknown qualcomm SoC 'SM9999'"),
        ("apple:A17", "Unknown NPU target 'apple:A17'"),
        ("SM8650", "Unknown NPU target 'SM8650'"),
        ("qualcomm:", "Unknown NPU target 'qualcomm:'"),
    ],
)
def test_bad_targets_are_one_line_naming_the_choices(spec, named):
    with pytest.raises(ValueError, match="Unknown") as error:
        npu.parse_targets([spec])
    assert named in str(error.value)
    assert "SM8650" in str(error.value) and "\n" not in str(error.value)


def test_a_vendor_without_its_sdk_names_the_package():
    with pytest.raises(ImportError) as error:
        npu.check_vendor("mediatek")
    message = str(error.value)
    assert "pip install ai-edge-litert-sdk-mediatek" in message and "NeuroPilot" in message and "\n" not in message
    assert npu.check_vendor("qualcomm") == "QNN 2.51.0 (onnxruntime-qnn 2.7.0)"


def test_missing_qnn_libraries_are_one_line_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime_qnn", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install onnxruntime-qnn==2\.7\.0"):
        npu.check_vendor("qualcomm")


def test_the_empty_lpai_library_is_built_once_into_the_cache(tmp_path):
    path = npu.qnn_library_path(cache=str(tmp_path))
    stub_folder, qnn_folder = path.split(os.pathsep)
    stub = os.path.join(stub_folder, "libQnnLpai.so")
    with open(stub, "rb") as file:
        assert file.read(4) == b"\x7fELF"
    assert os.path.isfile(os.path.join(qnn_folder, "libQnnHtp.so"))
    built = os.path.getmtime(stub)
    assert npu.qnn_library_path(cache=str(tmp_path)) == path and os.path.getmtime(stub) == built


def test_without_a_c_compiler_the_stub_cannot_be_built(tmp_path, monkeypatch):
    monkeypatch.setattr(npu.shutil, "which", lambda name: None)
    with pytest.raises(OSError, match="needs a C compiler: apt-get install gcc"):
        npu.qnn_library_path(cache=str(tmp_path))


def test_the_compiler_reason_names_the_op_it_could_not_create():
    log = "\n".join(
        [
            "     0.0ms [ ERROR ]  tcm_migration.cc:2207::ERROR:no properties registered for q::QNN_Gelu",
            "     0.0ms [ ERROR ]  graph_prepare.cc:211::ERROR:could not create op: q::QNN_Gelu",
            '     0.0ms [ ERROR ]   <E> "block/Gelu/mul_1/ElementWiseNeuron_7" generated: could not create op',
        ]
    )
    assert npu.compiler_reason(log) == "could not create op: q::QNN_Gelu (at block/Gelu/mul_1/ElementWiseNeuron_7)"
    assert npu.compiler_reason("loading\nplugin error: libfoo.so not found\n") == "plugin error: libfoo.so not found"


def test_int8_compiles_whole_into_one_npu_partition_per_soc(npu_files):
    for kind in ("int8", "uint8"):
        rows = npu_files["rows"][kind]
        assert [row["target"] for row in rows] == ["Qualcomm_SM8650", "Qualcomm_SM8750"]
        for row, arch in zip(rows, ("v75", "v79"), strict=True):
            assert row["compiled"] and row["reason"] is None
            assert row["npu_ops"] == row["ops"] > 50 and row["partitions"] == 1
            assert row["dispatch_ops"] == 1 and row["cpu_ops"] == 0
            assert row["htp_arch"] == arch  # read off the context binary the compiler wrote
            path = npu_files[kind][1][row["target"]]
            assert os.path.getsize(path) == row["bytes"]
            assert [name for name, _ in operators(path)] == ["DISPATCH_OP"]
            assert npu.htp_arch(path) == (row["soc"], int(arch[1:]))
            assert row["compiler"] == "QNN 2.51.0 (onnxruntime-qnn 2.7.0)"


def test_a_file_the_soc_cannot_run_is_a_row_with_the_compilers_reason(cifar_tflite, tmp_path):
    """The fp32 file's exact GELU is QNN's Gelu op, which the HTP of SM8350 (v68) lacks in float."""
    rows = npu.compile_for_npu(cifar_tflite["fp32"][0], npu.parse_targets(["qualcomm:SM8350"]), tmp_path)
    assert rows[0]["compiled"] is False
    assert "could not create op: q::QNN_Gelu" in rows[0]["reason"]
    assert os.listdir(tmp_path) == []  # nothing left behind, nor the compiler's log


def test_a_c_compiler_that_fails_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(npu.shutil, "which", lambda name: "/bin/false")
    with pytest.raises(OSError, match=r"/bin/false could not build the empty libQnnLpai.so") as error:
        npu.qnn_library_path(cache=str(tmp_path))
    assert "\n" not in str(error.value)
    assert not os.listdir(os.path.join(tmp_path, "2.51.0"))  # no half-built library left
