"""The layering of the project, read from the source: data flows checkpoint -> Keras
model -> .tflite -> tables, and a module imports only the stages before it, at the top.

A function-level import of the package would hide a circle (it did: model ->
weights -> checkpoints -> model), so none is allowed, but in the command lines
(`ENTRY_POINTS`): they import the stages that start TensorFlow only once their
flags are checked (`cli.quiet_startup`), and nothing imports them back.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each module may import only the modules listed before it.
ORDER = [
    # utilities that know nothing of SwiftFormer
    "swiftformer_keras.cli", "swiftformer_keras.files", "swiftformer_keras.plots",
    "swiftformer_keras.imagenet_utils", "swiftformer_keras.torch_zip",
    # the architecture, its layers and PyTorch checkpoints
    "swiftformer_keras.architecture", "swiftformer_keras.image_folder", "swiftformer_keras.layers",
    "swiftformer_keras.testing",
    "swiftformer_keras.checkpoints",
    # Keras models and their weights
    "swiftformer_keras.weights", "swiftformer_keras.model", "swiftformer_keras.data",
    "swiftformer_keras.calibration", "swiftformer_keras.convert_weights", "swiftformer_keras.training",
    "swiftformer_keras.train",
    # .tflite files
    "swiftformer_keras.interpreter", "swiftformer_keras.runtime_versions", "swiftformer_keras.runtime_worker",
    "swiftformer_keras.kernel_profile", "swiftformer_keras.activation_ranges",
    "swiftformer_keras.recipe", "swiftformer_keras.tflite_metadata", "swiftformer_keras.tflite_predictor",
    "swiftformer_keras.conversion_request",
    "swiftformer_keras.export",
    "swiftformer_keras.tflite_report", "swiftformer_keras.model_card", "swiftformer_keras.conversion",
    "swiftformer_keras.evaluate", "swiftformer_keras.android_clients",
    "swiftformer_keras",
    # tables: benchmarks on the host and on phones, and the comparison with other runtimes
    "android_bench", "android_bench.rows", "android_bench.parse", "android_bench.commands", "android_bench.adb",
    "android_bench.benchmark_model", "android_bench.matrix", "android_bench.torch_reference",
    "android_bench.litert_torch_export", "android_bench.executorch_export", "android_bench.host", "android_bench.run", "android_bench.compare",
    "android_bench.clients",
    "conversion.to_tflite", "conversion.benchmark", "conversion.runtime_matrix", "conversion.op_costs", "examples.demo",
]
PACKAGES = ("swiftformer_keras", "android_bench")
# The command lines: scripts and `python -m` modules that run as `__main__` and that no module imports.
ENTRY_FOLDERS = ("conversion", "examples")


def _module_files():
    found = {}
    for folder in ("swiftformer_keras", "android_bench", "conversion", "examples"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py"):
                module = f"{folder}.{name[:-3]}".removesuffix(".__init__")
                found[module] = os.path.join(ROOT, folder, name)
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
    """The project module an import names (`swiftformer_keras.model.VARIANTS` -> `swiftformer_keras.model`)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in known else None


def _is_entry_point(module, path):
    """A command line: a script of `ENTRY_FOLDERS`, or a module that runs as `__main__` and that
    no other module of the project imports."""
    if module.split(".")[0] in ENTRY_FOLDERS:
        return True
    with open(path, encoding="utf-8") as file:
        if 'if __name__ == "__main__":' not in file.read():
            return False
    files = _module_files()
    return not any(target == module for other, other_path in files.items() if other != module
                   for target, _, _ in _imports(other_path, files))


def test_every_module_has_a_place_in_the_order():
    assert sorted(set(_module_files()) - set(ORDER)) == []


@pytest.mark.parametrize("module", ORDER)
def test_a_module_imports_only_earlier_stages_and_only_at_the_top(module):
    files = _module_files()
    if module not in files:
        pytest.fail(f"{module} is in ORDER but has no file")
    position = ORDER.index(module)
    problems = []
    for target, line, top in _imports(files[module], files):
        if target == module:
            continue
        if ORDER.index(target) > position:
            problems.append(f"line {line}: imports {target}, a later stage")
        if not top and not _is_entry_point(module, files[module]):
            problems.append(f"line {line}: imports {target} inside a function")
    assert problems == [], f"{module}: " + "; ".join(problems)
