"""Atomic writes: a failed write leaves no file behind and keeps the old one."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from swiftformer_keras.utils import files


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")

    def fail(temp):
        with open(temp, "w") as file:
            file.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomically(str(path), fail)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_json_takes_numpy_scalars_and_is_replaced_whole(tmp_path):
    path = tmp_path / "report.json"
    files.write_json_atomically(path, {"top1": np.float32(0.875), "count": 3})
    assert json.loads(path.read_text()) == {"top1": 0.875, "count": 3}
    with pytest.raises(TypeError):
        files.write_json_atomically(path, {"bad": object()})
    assert json.loads(path.read_text())["count"] == 3 and os.listdir(tmp_path) == ["report.json"]


def test_csv_columns_are_every_key_in_first_seen_order(tmp_path):
    path = files.write_csv_atomically(tmp_path / "rows.csv", [{"a": 1, "b": 2}, {"a": 3, "c": 4}])
    with open(path, newline="") as file:
        assert list(csv.reader(file)) == [["a", "b", "c"], ["1", "2", ""], ["3", "", "4"]]
    files.write_csv_atomically(path, [{"a": 1, "b": 2}], columns=["b", "a"])
    assert open(path).read().splitlines() == ["b,a", "2,1"]


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_files_get_the_umask_permissions_like_a_plain_open(tmp_path):
    previous = os.umask(0o027)
    try:
        path = files.write_json_atomically(tmp_path / "report.json", {"a": 1})
        weights = files.write_atomically(
            tmp_path / "m.weights.h5", lambda temp: open(temp, "wb").close(), keep_name=True
        )
    finally:
        os.umask(previous)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)  # mkstemp would give 0o600
    assert oct(os.stat(weights).st_mode & 0o777) == oct(0o640)


def test_temporaries_are_hidden_partials_never_with_the_final_extension(tmp_path):
    seen = []

    def write(temp):
        seen.append(os.path.relpath(temp, tmp_path))
        with open(temp, "w") as file:
            file.write("x")

    files.write_atomically(tmp_path / "model.tflite", write)
    files.write_atomically(tmp_path / "model.weights.h5", write, keep_name=True)
    top_level = [path.split(os.sep)[0] for path in seen]
    assert all(files.PARTIAL_PATTERN.match(name) for name in top_level), top_level
    assert not any(name.endswith((".tflite", ".h5")) for name in top_level)
    assert seen[1].endswith(os.sep + "model.weights.h5")  # Keras gets the name it insists on
    assert sorted(os.listdir(tmp_path)) == ["model.tflite", "model.weights.h5"]


def test_the_next_write_removes_partials_of_dead_processes_only(tmp_path):
    dead = tmp_path / f".model.tflite.partial-{_dead_pid()}-abcd1234"
    dead.write_bytes(b"half a model")
    dead_folder = tmp_path / f".run.weights.h5.partial-{_dead_pid()}-00ff"
    dead_folder.mkdir()
    (dead_folder / "run.weights.h5").write_bytes(b"half")
    alive = tmp_path / f".other.json.partial-{os.getpid()}-beef"  # a write in progress
    alive.write_text("{")
    stranger = tmp_path / ".model.tflite.partial-notapid"
    stranger.write_text("not ours")
    files.write_json_atomically(tmp_path / "report.json", {})
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, stranger.name, "report.json"])


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(full_disk):
    before = sorted(os.listdir(full_disk))
    with pytest.raises(files.DiskFullError) as caught:
        files.write_bytes_atomically(full_disk / "model.tflite", b"\0" * 100_000)
    message = str(caught.value)
    assert "no space left" in message and "model.tflite" in message and str(full_disk) in message
    assert "\n" not in message and sorted(os.listdir(full_disk)) == before
    with pytest.raises(files.DiskFullError, match="needs about 5.0 MB"):
        files.write_atomically(full_disk / "m.weights.h5", lambda temp: None, size_hint=5_000_000)
    assert sorted(os.listdir(full_disk)) == before


def test_a_full_disk_inside_a_partial_folder_is_translated_and_cleaned(tmp_path):
    import conftest

    folder = tmp_path / "small"
    folder.mkdir()
    conftest._mount_tmpfs(folder, "size=64k")
    try:
        with pytest.raises(files.DiskFullError, match="saved_model"):
            with files.partial_folder(folder / "saved_model") as work:
                with open(os.path.join(work, "variables.data"), "wb") as file:
                    file.write(b"\0" * 200_000)
                    file.flush()
        assert os.listdir(folder) == []
    finally:
        conftest._unmount(folder)


def test_check_output_paths_refuses_folders_missing_folders_and_one_file_twice(tmp_path, read_only_dir):
    (tmp_path / "out").mkdir()
    files.check_output_paths(("--output", tmp_path / "a.tflite"), ("--report", tmp_path / "a.json"), ("--x", None))
    cases = [
        ((("--output", tmp_path / "out"),), "--output .* is an existing folder"),
        ((("--report", tmp_path / "nope" / "r.json"),), "does not exist"),
        ((("--report", read_only_dir / "r.json"),), "not writable"),
        (
            (("--output", tmp_path / "m.tflite"), ("--report", str(tmp_path / "sub" / ".." / "m.tflite"))),
            "--output and --report both name",
        ),
    ]
    (tmp_path / "sub").mkdir()
    for arguments, message in cases:
        with pytest.raises(ValueError, match=message):
            files.check_output_paths(*arguments)


def test_check_output_folder_creates_or_explains(tmp_path, read_only_dir):
    assert os.path.isdir(files.check_output_folder("--output-dir", tmp_path / "new" / "deeper"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        files.check_output_folder("--output-dir", tmp_path / "file")
    with pytest.raises(ValueError, match="cannot be created"):
        files.check_output_folder("--output-dir", read_only_dir / "sub")
    with pytest.raises(ValueError, match="is not writable"):
        files.check_output_folder("--output-dir", read_only_dir)


def test_safe_name_keeps_letters_and_digits_only():
    assert files.safe_name("tiny.keras") == "tiny_keras"
    assert files.safe_name("XS") == "xs"
    assert files.safe_name("my model/v2") == "my_model_v2"


# --- issue 25: outputs are never inputs; a result lands whole or not at all; one writer at a time --


def test_an_output_may_not_be_an_input_nor_lie_inside_an_input_folder(tmp_path):
    model, photos = tmp_path / "m.keras", tmp_path / "photos"
    model.write_text("weights")
    photos.mkdir()
    (tmp_path / "hard.keras").hardlink_to(model)
    (tmp_path / "soft.keras").symlink_to(model)
    inputs = [("--keras-model", str(model)), ("--calib-dir", str(photos)), ("--labels", None)]
    for output, words in (
        (model, "is the input --keras-model"),
        (tmp_path / "hard.keras", "is the input"),
        (tmp_path / "soft.keras", "is the input"),
        (tmp_path / "." / "m.keras", "is the input"),
        (photos / "sub" / "r.json", "lies inside the input folder --calib-dir"),
    ):
        with pytest.raises(ValueError, match=words):
            files.check_output_paths(("--report", str(output)), inputs=inputs)
    files.check_output_paths(("--report", str(tmp_path / "photos.json")), inputs=inputs)  # a sibling is fine
    with pytest.raises(ValueError, match="--output-dir .* lies inside the input folder --calib-dir"):
        files.check_output_folder("--output-dir", photos / "out", inputs=inputs)
    assert model.read_text() == "weights" and os.listdir(photos) == []


def test_an_error_about_the_temporary_names_the_destination(tmp_path):
    def refuse(temp):
        raise PermissionError(13, "Permission denied", temp)

    with pytest.raises(OSError) as raised:
        files.write_atomically(tmp_path / "card.md", refuse)
    assert str(raised.value) == f"[Errno 13] cannot write '{tmp_path / 'card.md'}': Permission denied"
    assert ".partial-" not in str(raised.value) and os.listdir(tmp_path) == []


def test_a_result_lands_whole_or_not_at_all(tmp_path):
    model, report = str(tmp_path / "m.tflite"), str(tmp_path / "m.json")
    with files.ResultFiles({"--output": model, "--report": report}) as result:
        result.write_bytes(model, b"new model")
        with open(result.path(model), "rb") as file:  # checked under its temporary name
            assert file.read() == b"new model"
        assert not os.path.exists(model)
        result.write_json(report, {"mode": "fp32"})
    assert open(model, "rb").read() == b"new model" and json.load(open(report)) == {"mode": "fp32"}
    for failure in (RuntimeError("a check failed"), KeyboardInterrupt()):
        with pytest.raises(type(failure)), files.ResultFiles({"--output": model, "--report": report}) as result:
            result.write_bytes(model, b"int8 model")
            raise failure
        assert open(model, "rb").read() == b"new model" and json.load(open(report)) == {"mode": "fp32"}
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.tflite"]  # no temporary, no lock left
    with pytest.raises(RuntimeError, match="never written"), files.ResultFiles({"--output": model}):
        pass  # a result without its file is a bug of the caller, not an empty success


def test_a_second_writer_of_an_output_is_refused_while_the_first_holds_it(tmp_path):
    output = tmp_path / "m.tflite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom swiftformer_keras.utils import files\n"
            f"with files.output_lock({str(output)!r}):\n    print('held', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(files.OutputBusyError, match=rf"is being written by another run now \(pid {holder.pid}\)"):
            with files.ResultFiles({"--output": str(output)}):
                pass
    finally:
        holder.kill()
        holder.wait()
    with files.ResultFiles({"--output": str(output)}) as result:  # the kernel released the dead holder's lock
        result.write_bytes(str(output), b"mine")
    assert os.listdir(tmp_path) == ["m.tflite"]


def test_a_finished_folder_replaces_an_earlier_result_whole(tmp_path):
    earlier = tmp_path / "result"
    earlier.mkdir()
    (earlier / "report.json").write_text("old")
    (earlier / "stale.tflite").write_text("old")
    new = tmp_path / "new"
    new.mkdir()
    (new / "report.json").write_text("new")
    assert files.replace_folder(new, earlier, "report.json") == str(earlier)
    assert sorted(p.name for p in earlier.iterdir()) == ["report.json"]
    assert (earlier / "report.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]  # nothing moved aside is left


def test_a_folder_of_someone_elses_files_is_not_replaced(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("keep me")
    new = tmp_path / "new"
    new.mkdir()
    with pytest.raises(ValueError, match=r"--out .*theirs' holds other files \(1\) and no report.json"):
        files.replace_folder(new, theirs, "report.json", "--out")
    assert (theirs / "thesis.tex").read_text() == "keep me" and new.is_dir()
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        files.check_replaceable("--out", tmp_path / "a_file", "report.json")
    files.check_replaceable("--out", tmp_path / "missing", "report.json")  # a new folder is fine


def test_a_benchmark_result_is_its_four_files_or_none(tmp_path):
    rows = [{"mode": "fp32", "ms": 1.5}, {"mode": "int8", "ms": 0.5}]

    def plot(path):
        with open(path, "wb") as file:
            file.write(b"\x89PNG chart")

    written = files.write_benchmark_result(tmp_path, "bench", {"rows": rows}, rows, "# page\n", plot=plot)
    assert [os.path.basename(path) for path in written] == ["bench.json", "bench.csv", "bench.png", "bench.md"]
    assert (tmp_path / "bench.csv").read_text().splitlines() == ["mode,ms", "fp32,1.5", "int8,0.5"]
    assert (tmp_path / "bench.md").read_text() == "# page\n"

    def broken(path):
        raise ValueError("the chart failed")

    with pytest.raises(ValueError, match="the chart failed"):
        files.write_benchmark_result(tmp_path, "bench", {"rows": []}, [], "# other\n", plot=broken)
    assert (tmp_path / "bench.md").read_text() == "# page\n"  # the earlier result, whole
    assert sorted(os.listdir(tmp_path)) == ["bench.csv", "bench.json", "bench.md", "bench.png"]
    (tmp_path / "other").mkdir()
    no_chart = files.write_benchmark_result(tmp_path / "other", "x", {}, [], "p", plot=None)
    assert [os.path.basename(path) for path in no_chart] == ["x.json", "x.csv", "x.md"]
