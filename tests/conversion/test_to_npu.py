"""conversion/to_npu.py: the command line end to end on the trained TINY model, and its refusals."""

import json
import os

import pytest

from conversion import to_npu


def test_compiles_checks_on_the_emulator_and_packs(cifar_tflite, small_cifar, tmp_path, capsys):
    source = cifar_tflite["int8"][0]
    output = tmp_path / "npu"
    argv = [str(source), "--npu", "qualcomm:SM8650,SM8350", "--output-dir", str(output)]
    argv += ["--images", os.path.join(small_cifar[0], "test"), "--num", "40", "--emulate", "SM8650"]
    argv += ["--keras-model", cifar_tflite["keras"], "--ai-pack", "swiftformer_tiny"]
    assert to_npu.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((output / "npu.json").read_text())
    assert [row["target"] for row in report["targets"]] == ["Qualcomm_SM8650", "Qualcomm_SM8350"]
    assert all(row["compiled"] and row["npu_ops"] == row["ops"] for row in report["targets"])
    for row in report["targets"]:
        assert (output / row["file"]).is_file()
    fidelity = report["fidelity"]
    assert fidelity["images"] == {"folder": os.path.join(small_cifar[0], "test"), "used": 40, "labelled": True}
    assert fidelity["reference"] == "the Keras model (model.keras)"
    cpu, htp = fidelity["rows"]
    assert htp["runtime"] == "HTP emulator, Qualcomm_SM8650 (v75)"
    assert htp["top1_agreement"] >= cpu["top1_agreement"] - 0.05  # 2 of 40 images
    assert abs(htp["tflite_top1"] - htp["keras_top1"]) <= 0.05
    assert set(report["ai_pack"]["groups"]) == {"other", "Qualcomm_SM8650", "Qualcomm_SM8350"}
    assert (output / "ai_pack" / "device_targeting_configuration.xml").is_file()
    card = (output / "npu.md").read_text()
    assert card.strip() in printed and "HTP emulator, Qualcomm_SM8650 (v75)" in card
    assert (output / "npu.csv").read_text().splitlines()[0].startswith("target,vendor,soc,htp_arch,compiled")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["npu"]  # no temporary left beside it

    # A second run replaces the earlier result whole.
    assert to_npu.main([str(source), "--npu", "qualcomm:SM8750", "--output-dir", str(output)]) == 0
    assert sorted(p.name for p in output.iterdir()) == ["int8_Qualcomm_SM8750.tflite", "npu.csv", "npu.json", "npu.md"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--npu", "qualcomm:SM9999"], "Unknown qualcomm SoC 'SM9999'"),
        (["--npu", "mediatek:MT6989"], "mediatek targets need MediaTek's NeuroPilot compiler"),
        (["--npu", "qualcomm:SM8650", "--emulate", "SM1"], "Unknown qualcomm SoC 'SM1'"),
        (["--npu", "qualcomm:SM8650", "--ai-pack", "my-pack"], "--ai-pack 'my-pack' must be a letter"),
        (["--npu", "qualcomm:SM8650", "--images", "/nonexistent"], "/nonexistent"),
        (["--npu", "qualcomm:SM8650", "SOURCE=labels"], "is not a .tflite file: Not a .tflite"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cifar_tflite, tmp_path, capsys, extra, message):
    source = str(cifar_tflite["int8"][0])
    if "SOURCE=labels" in extra:  # a file that is not a model
        extra, source = extra[:-1], str(tmp_path / "labels.txt")
        (tmp_path / "labels.txt").write_text("cat\ndog\n")
    argv = [source, "--output-dir", str(tmp_path / "out"), *extra]
    assert to_npu.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("conversion/to_npu.py: error: ") and captured.err.count("\n") == 1
    assert message in captured.err and not captured.out
    assert not (tmp_path / "out").exists()


def test_a_folder_of_other_files_is_not_replaced(cifar_tflite, tmp_path, capsys):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"not ours")
    argv = [str(cifar_tflite["int8"][0]), "--npu", "qualcomm:SM8650", "--output-dir", str(mine)]
    assert to_npu.main(argv) == 2
    assert "holds other files (1) and no npu.json" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]


def test_the_output_may_not_be_the_input(cifar_tflite, capsys):
    source = str(cifar_tflite["int8"][0])
    assert to_npu.main([source, "--npu", "qualcomm:SM8650", "--output-dir", source]) == 2
    assert "--output-dir" in capsys.readouterr().err
