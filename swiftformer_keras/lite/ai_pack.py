"""Per-SoC compiled files as an AI Pack, delivered by Google Play for On-device AI.

    export_ai_pack("xs_int8.tflite", {"Qualcomm_SM8650": "npu/xs_int8_Qualcomm_SM8650.tflite"},
                   "ai_pack/", pack_name="swiftformer_xs", model_name="model")

The layout and the device-targeting configuration are written by LiteRT's own exporter
(`ai_edge_litert.aot.ai_pack.export_lib`): `device_targeting_configuration.xml` maps each SoC
(Play's `system-on-chip` selector) to its device group, and
`<pack>/src/main/assets/model#group_<target>/<model>.tflite` holds each group's file, the CPU
file under `model#group_other` for every other phone. LiteRT's exporter leaves out the pack's
Gradle file, without which Android's build does not take the folder as an AI Pack; it is added
here (`build.gradle.kts`, on-demand delivery, as LiteRT's NPU guide writes it). SoCs that are not
phones (`npu.NOT_PHONES`) are compiled but not packed: Play cannot target them.
"""

import os
import pathlib
import re

from swiftformer_keras.lite.npu import NOT_PHONES, VENDORS, NpuTarget

GRADLE = """plugins {{ id("com.android.ai-pack") }}

aiPack {{
    packName = "{pack_name}"
    dynamicDelivery {{ deliveryType = "on-demand" }}
}}
"""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _backend(target_name):
    """LiteRT's backend object for `"Qualcomm_SM8650"` (or `"fallback"`), as its exporter expects."""
    from ai_edge_litert.aot import prepare_for_npu
    from ai_edge_litert.aot.vendors import fallback_backend

    if target_name == "fallback":
        return fallback_backend.FallbackBackend.create({"backend_id": "fallback"})
    soc = target_name.partition("_")[2]
    for vendor in VENDORS:
        target = NpuTarget(vendor, soc)
        try:
            if target.name == target_name:
                config = {"backend_id": vendor, **target.aot_target().flatten()}
                return prepare_for_npu.resolve_backend(config).create(config)
        except ValueError:  # not one of this vendor's SoCs
            continue
    raise ValueError(f"{target_name!r} is not a LiteRT NPU target (Manufacturer_SOC, e.g. Qualcomm_SM8650).")


def check_name(what, name):
    """`name` if it suits a Gradle module and a file name (a letter, then letters, digits, `_`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} must be a letter followed by up to 63 letters, digits or '_'.")
    return name


def export_ai_pack(cpu_file, compiled, folder, pack_name, model_name="model"):
    """Writes the AI Pack of `compiled` (`{target name: compiled file}`) and `cpu_file` into `folder`.

    Returns:
        `{"pack": pack_name, "groups": {device group: file inside folder}, "left_out": [targets]}`.
    """
    from ai_edge_litert.aot.ai_pack import export_lib
    from ai_edge_litert.aot.core import aot_types

    check_name("The AI Pack name", pack_name)
    check_name("The AI Pack's model name", model_name)
    packed = {name: path for name, path in compiled.items() if name not in NOT_PHONES}
    pairs = [(_backend("fallback"), aot_types.Model.create_from_path(pathlib.Path(cpu_file)))]
    pairs += [(_backend(name), aot_types.Model.create_from_path(pathlib.Path(path))) for name, path in packed.items()]
    export_lib.export(aot_types.CompilationResult(models_with_backend=pairs), folder, pack_name, model_name)
    with open(os.path.join(folder, pack_name, "build.gradle.kts"), "w", encoding="utf-8") as file:
        file.write(GRADLE.format(pack_name=pack_name))
    assets = os.path.join(pack_name, "src", "main", "assets")
    groups = {"other": os.path.join(assets, "model#group_other", f"{model_name}.tflite")}
    groups.update({name: os.path.join(assets, f"model#group_{name}", f"{model_name}.tflite") for name in packed})
    return {"pack": pack_name, "groups": groups, "left_out": sorted(set(compiled) - set(packed))}
