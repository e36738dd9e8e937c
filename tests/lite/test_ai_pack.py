"""lite/ai_pack.py: the AI Pack's layout, device targeting and Gradle file, and its files run."""

import filecmp
import os
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from swiftformer_keras.lite.ai_pack import export_ai_pack
from swiftformer_keras.lite.htp_emulator import HtpEmulator
from swiftformer_keras.lite.predictor import TFLitePredictor
from swiftformer_keras.lite.report import fidelity

CONFIG = "{http://schemas.android.com/apk/config}"


def test_the_pack_targets_each_soc_and_falls_back_to_the_cpu_file(npu_files, tmp_path):
    source, compiled = npu_files["int8"]
    with_car = {**compiled, "Qualcomm_SA8295": compiled["Qualcomm_SM8650"]}  # a car's SoC: compiled, not packed
    pack = export_ai_pack(source, with_car, tmp_path, "swiftformer_tiny", model_name="classifier")
    assert pack["left_out"] == ["Qualcomm_SA8295"]
    assert set(pack["groups"]) == {"other", "Qualcomm_SM8650", "Qualcomm_SM8750"}

    tree = ElementTree.parse(tmp_path / "device_targeting_configuration.xml")
    groups = {
        group.get("name"): sorted(
            (chip.get("manufacturer"), chip.get("model")) for chip in group.iter(f"{CONFIG}system-on-chip")
        )
        for group in tree.getroot().iter(f"{CONFIG}device-group")
    }
    assert groups == {
        "Qualcomm_SM8650": [("QTI", "SM8650"), ("Qualcomm", "SM8650")],
        "Qualcomm_SM8750": [("QTI", "SM8750"), ("Qualcomm", "SM8750")],
    }
    gradle = (tmp_path / "swiftformer_tiny" / "build.gradle.kts").read_text()
    assert 'id("com.android.ai-pack")' in gradle and 'packName = "swiftformer_tiny"' in gradle
    assert 'deliveryType = "on-demand"' in gradle

    other = tmp_path / pack["groups"]["other"]
    assert filecmp.cmp(other, source, shallow=False)
    predictor = TFLitePredictor(other)
    images = np.random.default_rng(5).normal(size=(8, *predictor.image_shape)).astype(np.float32)
    cpu = predictor(images)
    for target in ("Qualcomm_SM8650", "Qualcomm_SM8750"):
        packed = tmp_path / pack["groups"][target]
        assert filecmp.cmp(packed, compiled[target], shallow=False)
        assert fidelity(cpu, HtpEmulator(packed)(predictor.file_inputs(images)))["top1_agreement"] >= 0.75


@pytest.mark.parametrize("name", ["1pack", "my-pack", "", "x" * 65])
def test_names_gradle_cannot_take_are_refused(npu_files, tmp_path, name):
    source, compiled = npu_files["int8"]
    with pytest.raises(ValueError, match="must be a letter followed by"):
        export_ai_pack(source, compiled, tmp_path, name)
    assert not os.listdir(tmp_path)
