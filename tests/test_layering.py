"""The layering of the project, read from the source: data flows checkpoint -> Keras
model -> .tflite -> tables, and a module imports only the stages before it, at the top.

The package's folders are its stages (`STAGES`): utils know nothing of SwiftFormer;
models are the architecture and its Keras graph; weights read checkpoints against the
architecture; applications are the keras.applications builders (a graph and its
weights, through the one seam `weights.sources.load_weights`); presets are the
KerasHub family over them (the backbone shares the builders' graph, the classifier
converts to and from the builders' flat models); training and lite
are siblings (a conversion needs no training pipeline, training no TFLite); the
command-line modules of the package, then the benchmark folders, come last.

A function-level import of the package would hide a circle (it did: model ->
weights -> checkpoints -> model), so none is allowed, but in the command lines: they
import the stages that start TensorFlow only once their flags are checked
(`cli.quiet_startup`), and nothing imports them back.
"""

import ast
import os

import pytest

from conftest import ROOT

# Each stage, in order: a module may import its own stage and the stages before it, but
# training and lite, which are siblings, not each other.
STAGES = [
    ("utils", ("swiftformer_keras.utils",)),
    ("models", ("swiftformer_keras.models",)),
    ("weights", ("swiftformer_keras.weights",)),
    ("applications", ("swiftformer_keras.applications",)),
    ("presets", ("swiftformer_keras.presets",)),
    ("training", ("swiftformer_keras.training",)),
    ("lite", ("swiftformer_keras.lite",)),
    (
        "command lines",
        (
            "swiftformer_keras.convert_weights",
            "swiftformer_keras.train",
            "swiftformer_keras.evaluate",
            "swiftformer_keras.to_tflite",
        ),
    ),
    ("package", ("swiftformer_keras",)),
    ("benchmarks", ("android_bench", "conversion", "examples")),
]
SIBLINGS = {("training", "lite"), ("lite", "training")}

# Within the stages, each module may import only the modules listed before it.
ORDER = [
    "swiftformer_keras.utils",
    "swiftformer_keras.utils.cli",
    "swiftformer_keras.utils.files",
    "swiftformer_keras.utils.version",
    "swiftformer_keras.utils.charts",
    "swiftformer_keras.utils.tables",
    "swiftformer_keras.utils.images",
    "swiftformer_keras.models",
    "swiftformer_keras.models.architecture",
    "swiftformer_keras.models.op_forms",
    "swiftformer_keras.models.layers",
    "swiftformer_keras.models.random_init",
    "swiftformer_keras.models.builders",
    "swiftformer_keras.weights",
    "swiftformer_keras.weights.torch_zip",
    "swiftformer_keras.weights.checkpoints",
    "swiftformer_keras.weights.hub",
    "swiftformer_keras.weights.published",
    "swiftformer_keras.weights.keras_files",
    "swiftformer_keras.weights.sources",
    "swiftformer_keras.applications",
    "swiftformer_keras.presets",
    "swiftformer_keras.presets.plan",
    "swiftformer_keras.presets.backbone",
    "swiftformer_keras.presets.image_converter",
    "swiftformer_keras.presets.image_classifier_preprocessor",
    "swiftformer_keras.presets.image_classifier",
    "swiftformer_keras.presets.flat_models",
    "swiftformer_keras.presets.preset_folders",
    "swiftformer_keras.training",
    "swiftformer_keras.training.image_folder",
    "swiftformer_keras.training.config",
    "swiftformer_keras.training.evaluation",
    "swiftformer_keras.training.dataset",
    "swiftformer_keras.training.distillation",
    "swiftformer_keras.training.resume",
    "swiftformer_keras.training.loop",
    "swiftformer_keras.lite",
    "swiftformer_keras.lite.interpreter",
    "swiftformer_keras.lite.runtime_versions",
    "swiftformer_keras.lite.runtime_worker",
    "swiftformer_keras.lite.arm_emulation",
    "swiftformer_keras.lite.kernel_profile",
    "swiftformer_keras.lite.activation_ranges",
    "swiftformer_keras.lite.recipe",
    "swiftformer_keras.lite.metadata",
    "swiftformer_keras.lite.predictor",
    "swiftformer_keras.lite.calibration",
    "swiftformer_keras.lite.request",
    "swiftformer_keras.lite.rewrites",
    "swiftformer_keras.lite.converter",
    "swiftformer_keras.lite.report",
    "swiftformer_keras.lite.card",
    "swiftformer_keras.lite.pipeline",
    "swiftformer_keras.lite.android_clients",
    "swiftformer_keras.lite.npu",
    "swiftformer_keras.lite.htp_emulator",
    "swiftformer_keras.lite.npu_report",
    "swiftformer_keras.lite.ai_pack",
    "swiftformer_keras.convert_weights",
    "swiftformer_keras.train",
    "swiftformer_keras.evaluate",
    "swiftformer_keras.to_tflite",
    "swiftformer_keras",
    "android_bench",
    "android_bench.rows",
    "android_bench.parse",
    "android_bench.op_profile",
    "android_bench.commands",
    "android_bench.adb",
    "android_bench.benchmark_model",
    "android_bench.matrix",
    "android_bench.torch_reference",
    "android_bench.litert_torch_export",
    "android_bench.executorch_export",
    "android_bench.routes",
    "android_bench.host",
    "android_bench.run",
    "android_bench.compare",
    "android_bench.clients",
    "conversion",
    "conversion.to_tflite",
    "conversion.benchmark",
    "conversion.runtime_matrix",
    "conversion.arm_cost",
    "conversion.op_costs",
    "conversion.overview",
    "conversion.to_npu",
    "conversion.to_preset",
    "examples",
    "examples.demo",
]
PACKAGES = ("swiftformer_keras", "android_bench", "conversion", "examples")
# The command lines: scripts and `python -m` modules that run as `__main__` and that no module imports.
ENTRY_FOLDERS = ("conversion", "examples")


def _module_files():
    found = {}
    for top in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, top)):
            if "__pycache__" in folder or folder.endswith(os.sep + "data"):
                continue
            for name in sorted(names):
                if name.endswith(".py"):
                    relative = os.path.relpath(os.path.join(folder, name[:-3]), ROOT)
                    found[relative.replace(os.sep, ".").removesuffix(".__init__")] = os.path.join(folder, name)
    return found


def _imports(path, known):
    """`(imported module, line, at module level?)` for every import of the project's modules."""
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    top_level = {id(node) for node in tree.body}
    for statement in tree.body:  # `if __package__ ...:` and `try:` blocks at the top count as top level
        if isinstance(statement, (ast.If, ast.Try)):
            top_level.update(id(node) for node in ast.walk(statement))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [_resolve(alias.name, known) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from package import module` imports the module; `from module import name`, the module.
            names = [_resolve(f"{node.module}.{alias.name}", known) for alias in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            if name is not None and name.split(".")[0] in PACKAGES:
                found.append((name, node.lineno, id(node) in top_level))
    return found


def _resolve(name, known):
    """The project module an import names (`swiftformer_keras.models.builders.SwiftFormer` ->
    `swiftformer_keras.models.builders`)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in known else None


def _stage(module):
    """The index in `STAGES` of the stage `module` belongs to (the longest prefix that names it)."""
    matches = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(STAGES)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1]


def _is_entry_point(module, path, files):
    """A command line: a script of `ENTRY_FOLDERS`, or a module that runs as `__main__` and that
    no other module of the project imports, but such a script (`conversion/to_tflite.py` runs
    `swiftformer_keras.to_tflite` under its README name)."""
    if module.split(".")[0] in ENTRY_FOLDERS:
        return True
    with open(path, encoding="utf-8") as file:
        if 'if __name__ == "__main__":' not in file.read():
            return False
    return not any(
        target == module
        for other, other_path in files.items()
        if other != module and other.split(".")[0] not in ENTRY_FOLDERS
        for target, _, _ in _imports(other_path, files)
    )


def test_every_module_has_a_place_in_the_order():
    files = _module_files()
    assert sorted(set(files) - set(ORDER)) == [] and sorted(set(ORDER) - set(files)) == []


def test_the_order_goes_stage_by_stage():
    stages = [_stage(module) for module in ORDER]
    assert stages == sorted(stages)


@pytest.mark.parametrize("module", ORDER)
def test_a_module_imports_only_earlier_stages_and_only_at_the_top(module):
    files = _module_files()
    position = ORDER.index(module)
    problems = []
    for target, line, top in _imports(files[module], files):
        if target == module or module.startswith(target + "."):  # a module's own package
            continue
        if ORDER.index(target) > position:
            problems.append(f"line {line}: imports {target}, a later module")
        pair = (STAGES[_stage(module)][0], STAGES[_stage(target)][0])
        if pair in SIBLINGS:
            problems.append(f"line {line}: imports {target}: {pair[0]} and {pair[1]} are siblings")
        if not top and not _is_entry_point(module, files[module], files):
            problems.append(f"line {line}: imports {target} inside a function")
    assert problems == [], f"{module}: " + "; ".join(problems)
