"""The documentation: the site builds with `mkdocs build --strict` (a broken link, a missing page or an
unknown reference fails it), and every command in README.md and the pages names a script, module, flag
and make target that exist: each command line named is asked for its `--help`, which must list every
flag the documentation gives it."""

import functools
import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

PAGES = sorted([os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)])
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console)?\n(.*?)^```", re.MULTILINE | re.DOTALL)
# The project's own command lines, as the documentation runs them: a script path or a module.
OWN_SCRIPTS = re.compile(r"^(conversion|android_bench|examples)/\w+\.py$")
OWN_MODULES = re.compile(r"^swiftformer_keras\.\w+$")


def _commands(path):
    """`(line number, argv)` of every command in the shell blocks of `path`, continuations joined,
    comments and prompts dropped."""
    text = open(path, encoding="utf-8").read()
    for block in SHELL_BLOCK.finditer(text):
        first_line = text[: block.start()].count("\n") + 2
        joined = re.sub(r"\\\n\s*", " ", block.group(1))
        for offset, line in enumerate(joined.splitlines()):
            line = line.split(" #")[0].strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            for part in re.split(r"\s*(?:&&|;|\|)\s*", line):
                try:
                    argv = shlex.split(part)
                except ValueError:
                    continue
                while argv and re.fullmatch(r"\w+=\S*", argv[0]):  # VAR=value before the command
                    argv = argv[1:]
                if argv:
                    yield first_line + offset, argv


def _own_command(argv):
    """`(the command's --help argv, its arguments)` for the project's own command lines, else None."""
    if os.path.basename(argv[0]).startswith("python") and len(argv) > 1:
        if argv[1] == "-m" and len(argv) > 2 and OWN_MODULES.match(argv[2]):
            return ("-m", argv[2]), argv[3:]
        if OWN_SCRIPTS.match(argv[1]):
            return (argv[1],), argv[2:]
    return None


@functools.cache
def _help(command):
    done = subprocess.run(
        [sys.executable, *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    return done.returncode, done.stdout + done.stderr


def _make_targets():
    text = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    return set(re.findall(r"^([\w./$()-]+):", text, re.MULTILINE))


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert os.path.isfile(tmp_path / "site" / "api" / "index.html")
    assert "SwiftFormerImageClassifier" in (tmp_path / "site" / "api" / "index.html").read_text()


DOCS = os.path.join(ROOT, "docs")
INCLUDE = re.compile(r'^[ \t]*--8<-- "([^":]+)(?::([\w-]+))?"[ \t]*$', re.MULTILINE)


def _include_problems(page, docs=DOCS):
    """What is wrong with the includes of `page`: each must be a named part of a results page under
    `docs/benchmarks/` (`tables.results_page`), so that a figure quoted on a prose page is the
    benchmark's own and no figure is copied by hand."""
    problems = []
    for included in INCLUDE.finditer(open(page, encoding="utf-8").read()):
        path, part = included.groups()
        where = os.path.join(docs, path)
        if not path.startswith("benchmarks/") or not part or not os.path.isfile(where):
            problems.append(f"{included.group(0).strip()}: not a named part of a benchmark's page")
            continue
        text = open(where, encoding="utf-8").read()
        if f"<!-- --8<-- [start:{part}] -->" not in text or f"<!-- --8<-- [end:{part}] -->" not in text:
            problems.append(f"{included.group(0).strip()}: {path} has no part {part!r}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda path: os.path.relpath(path, ROOT))
def test_every_included_figure_is_a_named_part_of_a_page_a_benchmark_wrote(page):
    problems = _include_problems(page)
    assert not problems, "\n".join(problems)


def test_the_include_check_finds_a_missing_part_file_and_a_hand_written_table(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.md").write_text("<!-- --8<-- [start:ok] -->\n| a |\n<!-- --8<-- [end:ok] -->\n")
    (tmp_path / "notes.md").write_text("| a |\n")
    page = tmp_path / "page.md"
    includes = ["ok", "missing"]
    page.write_text("".join(f'--8<-- "benchmarks/b.md:{part}"\n' for part in includes) + '--8<-- "notes.md"\n')
    problems = _include_problems(str(page), docs=str(tmp_path))
    assert problems == [
        "--8<-- \"benchmarks/b.md:missing\": benchmarks/b.md has no part 'missing'",
        '--8<-- "notes.md": not a named part of a benchmark\'s page',
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: os.path.relpath(path, ROOT))
def test_every_command_names_what_exists(page):
    problems = _problems(page)
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_missing_flag_script_module_and_target(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n"
        "python conversion/to_tflite.py --model XS --int8 \\\n    --calib-dir photos/ --no-such-flag\n"
        "python conversion/no_such_tool.py --help\n"
        "python -m swiftformer_keras.evaluate --data d --weights w --variant XS   # fine\n"
        "make demo && make no-such-target\n"
        "```\n"
    )
    problems = _problems(str(page))
    assert len(problems) == 3, problems
    assert "page.md:2: conversion/to_tflite.py has no --no-such-flag" in problems[0]
    assert "no script conversion/no_such_tool.py" in problems[1] and "no make target 'no-such-target'" in problems[2]


def _problems(page):
    targets, problems = _make_targets(), []
    for line, argv in _commands(page):
        where = f"{os.path.basename(page) if not page.startswith(ROOT) else os.path.relpath(page, ROOT)}:{line}"
        if argv[0] == "make":
            problems += [
                f"{where}: no make target {t!r}" for t in argv[1:] if not t.startswith("-") and t not in targets
            ]
            continue
        own = _own_command(argv)
        if own is None:
            continue
        command, arguments = own
        if command[0] != "-m" and not os.path.isfile(os.path.join(ROOT, command[0])):
            problems.append(f"{where}: no script {command[0]}")
            continue
        code, text = _help(command)
        if code != 0:
            problems.append(f"{where}: {' '.join(command)} --help exits {code}: {text[-300:]}")
            continue
        flags = {arg.split("=")[0] for arg in arguments if re.fullmatch(r"--[a-z][\w-]*(=.*)?", arg)}
        listed = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text))  # whole flags: --num is not --num-calib
        problems += [f"{where}: {' '.join(command)} has no {flag}" for flag in sorted(flags - listed)]
    return problems
