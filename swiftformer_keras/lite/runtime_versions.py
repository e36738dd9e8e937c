"""Which TFLite runtime a `.tflite` file needs, computed from the versions of its ops.

    min_runtime("dynamic.tflite")["version"]         # '2.17.0' (FULLY_CONNECTED v12)
    check_min_runtime("dynamic.tflite", "2.14")       # ValueError naming FULLY_CONNECTED v12
    check_runtime_choice("2.14.0")                    # '2.14', a --min-runtime value

Every builtin op in a `.tflite` file carries a version, and each version has a
first runtime that runs it. That table, `op_version_map` in LiteRT's
`tflite/converter/tools/versioning/runtime_version.cc`
(`FindMinimumRuntimeVersionForOp`), is kept as package data in
`data/tflite_op_runtime_versions.json` (its `source` names the commit). The
converter fills a model's `min_runtime_version` metadata from the same table
(`UpdateMinimumRuntimeVersionForModel`: the highest entry over all operators,
skipping op versions the table lacks), so `min_runtime(...)["version"]` and
`["metadata"]` agree for a file the converter wrote, unless the converter's
copy of the table is older or newer than ours.

Reading a file needs the flatbuffer schema of `ai_edge_litert` (the
`tflite_runtime` wheel ships none); parsing and checking version strings do not.
"""

import functools
import json
import os
import re

TABLE_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "tflite_op_runtime_versions.json")
# The --min-runtime values the project accepts (TF / LiteRT runtime numbering).
SUPPORTED_MIN_RUNTIMES = ("2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20", "2.21")
METADATA_NAME = "min_runtime_version"
NO_SCHEMA = (
    "Reading the op versions of a .tflite file needs the TFLite flatbuffer schema of ai-edge-litert "
    "(pip install ai-edge-litert); tflite-runtime ships no schema."
)
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,2}")


def parse_version(text):
    """`"2.14"` -> `(2, 14, 0)`: one to three dot-separated numbers, padded to three.

    Raises:
        ValueError: `text` is not such a string (the message quotes it).
    """
    if not isinstance(text, str) or not _VERSION.fullmatch(text):
        raise ValueError(f"Not a runtime version: {text!r}; expected numbers such as '2.14' or '2.14.0'.")
    parts = tuple(int(part) for part in text.split("."))
    return parts + (0,) * (3 - len(parts))


def format_version(version):
    """`(2, 14, 0)` or `"2.14"` -> `"2.14.0"`."""
    if isinstance(version, str):
        version = parse_version(version)
    return ".".join(str(part) for part in version)


def check_runtime_choice(text):
    """A `--min-runtime` value normalised to `"2.N"` (`"2.14.0"` -> `"2.14"`).

    Raises:
        ValueError: not one of `SUPPORTED_MIN_RUNTIMES`; the message quotes the value and the choices.
    """
    try:
        major, minor, patch = parse_version(text)
    except ValueError:
        major, minor, patch = None, None, None
    choice = f"{major}.{minor}"
    if patch == 0 and choice in SUPPORTED_MIN_RUNTIMES:
        return choice
    raise ValueError(f"Unsupported --min-runtime {text!r}; use one of {', '.join(SUPPORTED_MIN_RUNTIMES)}.")


@functools.cache
def _table():
    """`{op name: {op version: "min runtime"}}` from the package data."""
    with open(TABLE_PATH, encoding="utf-8") as file:
        ops = json.load(file)["ops"]
    return {op: {int(version): runtime for version, runtime in versions.items()} for op, versions in ops.items()}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise ImportError(NO_SCHEMA) from None
    return schema_py_generated


def _content(model):
    """The bytes of `model`: a path, or the file's bytes."""
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as file:
            return file.read()
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    raise ValueError(f"Pass a .tflite path or its bytes, got {type(model).__name__}.")


def model_root(content):
    """`(schema, model)`: LiteRT's generated schema module and the root `Model` table of a
    `.tflite` file's bytes, for reading its graph in place (no copy, no interpreter).

    Raises:
        ValueError: the bytes are not a `.tflite` flatbuffer.
        ImportError: ai-edge-litert, which ships the schema, is not installed (`NO_SCHEMA`).
    """
    schema = _schema()
    if len(content) < 8 or not schema.Model.ModelBufferHasIdentifier(content, 0):
        raise ValueError("Not a .tflite flatbuffer (no TFL3 identifier).")
    return schema, schema.Model.GetRootAs(content, 0)


def builtin_code(operator_code):
    """The builtin op code of an `OperatorCode` table: codes above 127 live in `BuiltinCode`,
    and older files fill only the deprecated one-byte field."""
    return max(operator_code.BuiltinCode(), operator_code.DeprecatedBuiltinCode())


def builtin_op_names():
    """`{code: name}` of the TFLite builtin ops, from the schema shipped with LiteRT."""
    return {value: name for name, value in vars(_schema().BuiltinOperator).items() if name.isupper()}


def operators(model):
    """`[(op name, version)]` of every operator of a `.tflite` file (a path or its bytes), in order.

    Builtin ops are named as in the schema (`"FULLY_CONNECTED"`; a code this
    schema lacks as `"BUILTIN_<code>"`), custom ops by their custom code
    (`"FlexErf"` for one that needs the Flex delegate); versions are as stored.
    """
    schema, root = model_root(_content(model))
    names = builtin_op_names()
    found = []
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = root.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            builtin = builtin_code(code)
            if builtin == schema.BuiltinOperator.CUSTOM:
                name = (code.CustomCode() or b"").decode("utf-8", "replace")
            else:
                name = names.get(builtin, f"BUILTIN_{builtin}")
            found.append((name, int(code.Version())))
    return found


def op_versions(model):
    """The sorted distinct `(op name, version)` of the operators of a `.tflite` file (`operators`);
    op codes no operator uses are left out, as the converter does."""
    return sorted(set(operators(model)))


def _metadata(content, root):
    """The `min_runtime_version` metadata string, NUL-stripped; None when the file has none."""
    for m in range(root.MetadataLength()):
        entry = root.Metadata(m)
        if entry.Name() != METADATA_NAME.encode():
            continue
        buffer = root.Buffers(entry.Buffer())
        if buffer.DataLength():
            data = buffer.DataAsNumpy().tobytes()
        elif buffer.Offset() > 1:  # files over 2 GB keep buffers after the flatbuffer
            data = content[buffer.Offset() : buffer.Offset() + buffer.Size()]
        else:
            data = b""
        return data.rstrip(b"\0").decode("utf-8", "replace")
    return None


def min_runtime(model):
    """The oldest TFLite runtime that has every op version of `model` (a path or bytes).

    Returns:
        A dict: `version`, the highest minimum over all ops as `"X.Y.Z"`
        (None when no op is in the table); `needs`, `[{"op", "version",
        "runtime"}]` newest runtime first; `unknown`, `[{"op", "version"}]` of
        ops or versions absent from the table (custom ops among them), which
        the converter skips too; `metadata`, the `min_runtime_version` string
        the converter wrote into the file from the same table (None if absent).
    """
    content = _content(model)
    _, root = model_root(content)
    table = _table()
    needs, unknown = [], []
    for op, version in op_versions(content):
        runtime = table.get(op, {}).get(version)
        if runtime is None:
            unknown.append({"op": op, "version": version})
        else:
            needs.append({"op": op, "version": version, "runtime": runtime})
    needs.sort(key=lambda row: parse_version(row["runtime"]), reverse=True)  # stable: ties stay by op
    return {
        "version": format_version(parse_version(needs[0]["runtime"])) if needs else None,
        "needs": needs,
        "unknown": unknown,
        "metadata": _metadata(content, root),
    }


def check_min_runtime(model, limit):
    """`min_runtime(model)` if every op runs on runtime `limit` (`"2.14"`), else ValueError.

    The message names each op version newer than `limit`, the runtime it
    needs, the limit, and the fix: a higher `--min-runtime` or a recipe that
    avoids those op versions. Ops absent from the table (`unknown`) are not judged.
    """
    ceiling = parse_version(limit)
    result = min_runtime(model)
    over = [row for row in result["needs"] if parse_version(row["runtime"]) > ceiling]
    if not over:
        return result
    where = repr(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else "The model"
    listed = "; ".join(f"{row['op']} v{row['version']} needs {row['runtime']}" for row in over)
    avoid = " and ".join(f"{row['op']} v{row['version']}" for row in over)
    needed = parse_version(result["version"])
    choice = next((c for c in SUPPORTED_MIN_RUNTIMES if parse_version(c) >= needed), None)
    if choice is None:
        fix = (
            f"no --min-runtime the project accepts (up to {SUPPORTED_MIN_RUNTIMES[-1]}) covers it: "
            f"use a recipe that avoids {avoid}"
        )
    else:
        fix = f"pass --min-runtime {choice} or a recipe that avoids {avoid}"
    raise ValueError(
        f"{where} needs TFLite runtime {result['version']}, newer than the limit {limit}: {listed}. To fix it, {fix}."
    )
