"""Writing files so that a failure never leaves a partial one behind.

Every file the project writes goes through `write_atomically`, or through
`ResultFiles` when several files make one result (a model, its card and its
report): the content is written to a temporary name in the destination folder,
then renamed; a result's files are renamed together, after its last check. The
temporary name is `.<name>.partial-<pid>-<token>`: hidden, recognisable, and
never ending in the final extension, so `*.tflite` or `*.weights.h5` never
match a half-written file. A temporary left by a killed process (kill -9,
power loss) is removed by the next write in that folder, once its process is
gone. Files get the permissions a plain `open(path, "w")` gives under the
current umask. A full disk ends in one `DiskFullError` naming the file and the
folder, with nothing left behind.
"""

import contextlib
import csv
import errno
import fcntl
import json
import os
import re
import secrets
import shutil

PARTIAL_PATTERN = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)-[0-9a-f]+$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(OSError):
    """A write failed because its file system is full (or a quota or size limit was hit).

    Its text is the message alone (no `[Errno 28]` prefix); `errno` is still set.
    """

    def __init__(self, code, message):
        super().__init__(message)
        self.errno = code


def safe_name(text):
    """`text` as part of a file name: lower case, every character but letters and digits as `_`
    (`"tiny.keras"` -> `"tiny_keras"`)."""
    return "".join(c if c.isalnum() else "_" for c in text.lower())


def partial_path(path):
    """A fresh temporary name beside `path`: `.<name>.partial-<pid>-<token>`."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.partial-{os.getpid()}-{secrets.token_hex(4)}")


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(folder):
    """Removes the temporaries of dead processes in `folder`; returns their names."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL_PATTERN.match(entry.name)
        if not match or _process_alive(int(match.group("pid"))):
            continue
        _remove(entry.path)
        removed.append(entry.name)
    return removed


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _disk_full_cause(error):
    """The errno of a full disk somewhere in `error`'s chain, else None.

    h5py and TensorFlow report ENOSPC inside their own messages or exception
    types, so the text is read as well as the errno.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            return error.errno
        text = str(error)
        if "No space left on device" in text or "errno = 28" in text or "[Errno 28]" in text:
            return errno.ENOSPC
        if "Disk quota exceeded" in text:
            return errno.EDQUOT
        error = error.__cause__ or error.__context__
    return None


def disk_full_error(error, path):
    """A `DiskFullError` for `path` if `error` came from a full disk, else None."""
    code = _disk_full_cause(error)
    if code is None:
        return None
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    return DiskFullError(
        code,
        f"no space left on the device of {folder} while writing {os.path.basename(path)} "
        f"({os.strerror(code)}); free some space or choose another folder. Nothing was written.",
    )


def check_free_space(path, needed_bytes):
    """Raises `DiskFullError` unless `path`'s folder has `needed_bytes` free.

    HDF5 (under Keras `save_weights`) cannot fail cleanly on a full disk: its
    file, once a write has failed, crashes the process (SIGSEGV) when it is
    closed or collected. HDF5 writers therefore check the room they need
    before they start, and never reach that state.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DiskFullError(
            errno.ENOSPC,
            f"no space left on the device of {folder} for {os.path.basename(path)}: it needs about "
            f"{needed_bytes / 1e6:.1f} MB and {free / 1e6:.1f} MB are free; free some space or choose "
            "another folder. Nothing was written.",
        )


@contextlib.contextmanager
def full_disk_as_one_error(path):
    """Turns a full-disk failure inside the block, however the library reports
    it, into one `DiskFullError` about `path`; other failures pass unchanged."""
    try:
        yield
    except Exception as error:
        full = disk_full_error(error, path)
        if full is not None:
            raise full from error
        raise


@contextlib.contextmanager
def partial_folder(path):
    """Yields a new empty folder `.<name>.partial-<pid>-<token>` beside `path`.

    The folder is removed when the block ends, whatever happens; a full disk
    inside the block becomes a `DiskFullError`. Use it for multi-file work
    (a SavedModel, a checkpoint) that must not outlive its process.
    """
    folder = partial_path(path)
    remove_stale_partials(os.path.dirname(folder))
    try:
        with full_disk_as_one_error(path):
            os.mkdir(folder)
            yield folder
    finally:
        _remove(folder)


def check_replaceable(what, destination, marker):
    """Refuses a `destination` folder that a run could not replace: one that exists and is not a
    folder, or holds files but not `marker` (a file name an earlier run of the same tool wrote),
    so that a mistyped folder of someone's own files is never removed.

    Raises:
        ValueError: naming `what` (the flag), the folder and the fix.
    """
    destination = os.fspath(destination)
    if not os.path.lexists(destination):
        return
    if not os.path.isdir(destination) or os.path.islink(destination):
        raise ValueError(f"{what} {destination!r} exists and is not a folder; choose a new folder name.")
    entries = os.listdir(destination)
    if entries and marker not in entries:
        raise ValueError(
            f"{what} {destination!r} holds other files ({len(entries)}) and no {marker}: it is not an earlier "
            "result of this tool, so it is not replaced; choose a new or empty folder."
        )


def replace_folder(folder, destination, marker, what="the output folder"):
    """Moves the finished `folder` to `destination`, replacing an earlier result there
    (`check_replaceable`). The earlier result is moved aside first and deleted last, so a
    failure midway leaves one of the two results whole.
    """
    destination = os.fspath(destination)
    check_replaceable(what, destination, marker)
    aside = None
    if os.path.lexists(destination):
        aside = partial_path(destination)
        os.replace(destination, aside)
    try:
        os.replace(folder, destination)
    except BaseException:
        if aside is not None:
            os.replace(aside, destination)
        raise
    if aside is not None:
        _remove(aside)
    return destination


def write_atomically(path, write, keep_name=False, size_hint=None):
    """Calls `write(temporary path)` in `path`'s folder, then renames it to `path`.

    `keep_name=True` is for writers that insist on the final file name's
    extension (Keras wants `.weights.h5` or `.keras`): the temporary is then a
    file of `path`'s own name inside a temporary folder. `size_hint` (bytes)
    checks the free space first, for writers that must not meet a full disk
    (see `check_free_space`). If `write` fails, the temporary is removed and
    an existing `path` is left as it was; an error about the temporary names
    `path` instead.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_partials(folder)
    if size_hint is not None:
        check_free_space(path, size_hint)
    temp = partial_path(path)
    target = temp
    try:
        with full_disk_as_one_error(path), errors_about(temp, path):
            if keep_name:
                os.mkdir(temp)
                target = os.path.join(temp, os.path.basename(path))
            write(target)
            os.replace(target, path)
    finally:
        _remove(temp)
    return path


@contextlib.contextmanager
def errors_about(temp, path):
    """Turns an `OSError` about the temporary `temp` (or a file inside it) raised in the
    block into one about `path`, the destination the user named: the hidden name means
    nothing to them."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        named = os.fspath(error.filename) if error.filename is not None else ""
        if not named or not os.path.abspath(named).startswith(os.path.abspath(temp)):
            raise
        raise OSError(error.errno, f"cannot write {path!r}: {error.strerror or error}") from error


def write_bytes_atomically(path, content):
    """Writes `content` (bytes) to `path` through a temporary file and a rename."""

    def write(temp):
        with open(temp, "wb") as file:
            file.write(content)

    return write_atomically(path, write)


def write_text_atomically(path, text):
    """Writes `text` (UTF-8) to `path` through a temporary file and a rename."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def json_text(data):
    """`data` as indented JSON text (numpy scalars as numbers), ending in a newline."""
    return json.dumps(data, indent=2, default=float) + "\n"


def write_json_atomically(path, data):
    """Writes `data` as indented JSON (numpy scalars as numbers) to `path`, atomically."""
    # Serialised before anything touches the disk: a bad value leaves no file.
    return write_text_atomically(path, json_text(data))


def write_csv_atomically(path, rows, columns=None):
    """Writes `rows` (dicts) as CSV to `path`, atomically.

    `columns` defaults to every key of every row, in first-seen order; a row
    without a column leaves its cell empty.
    """
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))

    def write(temp):
        with open(temp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)

    return write_atomically(os.fspath(path), write)


def _overlap(output, given):
    """How `output` would harm the input `given`: `"is"`, `"inside"` or None."""
    if not os.path.lexists(given):
        return None
    real_output, real_input = os.path.realpath(output), os.path.realpath(given)
    if real_output == real_input:
        return "is"
    with contextlib.suppress(OSError):
        if os.path.exists(output) and os.path.samefile(output, given):  # a hard link
            return "is"
    if os.path.isdir(real_input) and real_output.startswith(real_input.rstrip(os.sep) + os.sep):
        return "inside"
    return None


def check_not_inputs(named_outputs, named_inputs):
    """Refuses an output that is one of the run's inputs, or lies inside an input folder.

    Args:
        named_outputs, named_inputs: `(what, path)` pairs (`("--report", "r.json")`,
            `("--calib-dir", "photos/")`); None paths are skipped.

    Raises:
        ValueError: naming both and the fix. A run would otherwise overwrite its
            own model, labels or weights, or add files to a folder it reads
            (and read them back next time).
    """
    for what, output in named_outputs:
        if output is None:
            continue
        for source, given in named_inputs:
            if given is None:
                continue
            overlap = _overlap(os.fspath(output), os.fspath(given))
            if overlap == "is":
                raise ValueError(
                    f"{what} {os.fspath(output)!r} is the input {source} {os.fspath(given)!r}: writing it would "
                    "destroy the input. Choose another name for the output."
                )
            if overlap == "inside":
                raise ValueError(
                    f"{what} {os.fspath(output)!r} lies inside the input folder {source} {os.fspath(given)!r}: "
                    "the run would add files to what it reads. Write it outside that folder."
                )


def check_output_paths(*named_paths, inputs=()):
    """Refuses destinations that cannot be written, before any long work starts.

    Args:
        *named_paths: `(what, path)` pairs, e.g. `("--report", "r.json")`;
            a None path is skipped.
        inputs: `(what, path)` pairs of what the run reads (a model, labels,
            image folders): no output may be one of them or lie inside one.

    Raises:
        ValueError: a path is an input or inside one, an existing folder, its
            folder is missing or not writable, or two of them name the same
            file (one output would replace the other).
    """
    check_not_inputs(named_paths, inputs)
    seen = {}
    for what, path in named_paths:
        if path is None:
            continue
        path = os.fspath(path)
        if os.path.isdir(path):
            raise ValueError(f"{what} {path!r} is an existing folder; give a file name inside it.")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"{what} {path!r}: the folder {folder!r} does not exist; create it first.")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {path!r}: the folder {folder!r} is not writable; choose another.")
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {what} both name {path!r}: one would overwrite the other. "
                "Give them different file names."
            )
        seen[key] = what


def check_output_folder(what, folder, inputs=()):
    """Creates `folder` if needed and checks that files can be written in it.

    `inputs` are `(what, path)` pairs of what the run reads: the folder may be
    none of them, nor lie inside one.

    Raises:
        ValueError: it is an input or inside one, a file, cannot be created,
            or is not writable.
    """
    folder = os.fspath(folder)
    check_not_inputs([(what, folder)], inputs)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{what} {folder!r} is a file, not a folder; choose a folder name.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{what} {folder!r} cannot be created ({error.strerror}); choose another.") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {folder!r} is not writable; choose another folder.")
    return folder


class OutputBusyError(OSError):
    """Another live process is writing the same output now."""


def lock_path(path):
    """The lock file of destination `path`: `.<name>.lock` beside it."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.lock")


@contextlib.contextmanager
def output_lock(path, what="the output"):
    """Holds the lock of destination `path` for the block, or refuses at once.

    Two runs writing one destination would interleave their files (the model of
    one, the card of the other); the second run is refused with one line instead
    of waiting, since it would redo the first one's work. The lock is `flock` on
    `.<name>.lock` beside `path`, released by the kernel when its process dies,
    so a killed run never leaves a stale lock; the file itself is removed when
    the block ends.

    Raises:
        OutputBusyError: another process holds the lock (its pid is named).
    """
    lock = lock_path(path)
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise OutputBusyError(
                errno.EBUSY,
                f"{what} {os.fspath(path)!r} is being written by another run now (pid {holder}); "
                "wait for it to finish or choose another name.",
            ) from None
        try:
            same = os.fstat(descriptor).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(descriptor)  # removed by the run that released it: lock the new one
    try:
        with contextlib.suppress(OSError):  # the pid only names the holder; a full disk must not stop the run here
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock)
        os.close(descriptor)


class ResultFiles:
    """The files of one result (a model, its card, its report), written together or not at all.

        with ResultFiles({"--output": "m.tflite", "--report": "m.json"}) as result:
            result.write_bytes("m.tflite", content)
            check(result.path("m.tflite"))          # the new file, under its temporary name
            result.write_json("m.json", report)
        # here both are in place; after an exception neither is, and older ones are intact

    Entering locks every destination (`output_lock`: a second run writing one of
    them is refused), so no other run's file can end up beside this run's.
    Each file is written to a temporary name beside its destination; when the
    block ends without an exception, every file written is renamed into place,
    the first destination last (a reader who sees the new model sees its new
    card). An exception, Ctrl-C included, removes the temporaries and leaves
    the destinations as they were.
    """

    def __init__(self, destinations):
        self._named = {os.fspath(path): what for what, path in _pairs(destinations) if path is not None}
        self._temps = {}
        self._stack = None

    def __enter__(self):
        with contextlib.ExitStack() as stack:
            for path, what in sorted(self._named.items()):
                stack.enter_context(output_lock(path, what))
            for folder in {os.path.dirname(os.path.abspath(path)) for path in self._named}:
                remove_stale_partials(folder)
            stack.callback(self._remove_temporaries)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, kind, error, trace):
        try:
            if kind is None:
                self._commit()
        finally:
            self._stack.close()
        return False

    def path(self, destination):
        """The temporary name the file for `destination` is written under (and read back from)."""
        destination = os.fspath(destination)
        if destination not in self._named:
            raise ValueError(f"{destination!r} is not one of this result's files {sorted(self._named)}.")
        if destination not in self._temps:
            self._temps[destination] = partial_path(destination)
        return self._temps[destination]

    def write(self, destination, write):
        """Calls `write(temporary path)` for `destination`; a full disk or an error about the
        temporary is reported about `destination`."""
        temp = self.path(destination)
        with full_disk_as_one_error(destination), errors_about(temp, destination):
            write(temp)
        return destination

    def write_bytes(self, destination, content):
        def write(temp):
            with open(temp, "wb") as file:
                file.write(content)

        return self.write(destination, write)

    def write_text(self, destination, text):
        return self.write_bytes(destination, text.encode("utf-8"))

    def write_json(self, destination, data):
        return self.write_text(destination, json_text(data))

    def _commit(self):
        missing = [path for path in self._named if path not in self._temps or not os.path.exists(self._temps[path])]
        if missing:
            raise RuntimeError(f"result files {missing} were never written")  # a bug in the caller
        for destination in reversed(list(self._named)):
            temp = self._temps[destination]
            with full_disk_as_one_error(destination), errors_about(temp, destination):
                os.replace(temp, destination)

    def _remove_temporaries(self):
        for temp in self._temps.values():
            _remove(temp)


def _pairs(destinations):
    """`(what, path)` pairs from a dict `{what: path}` or an iterable of pairs."""
    return destinations.items() if isinstance(destinations, dict) else destinations


def benchmark_result_paths(folder, stem, chart=True):
    """`(what, path)` of the files a benchmark writes into `folder` (`write_benchmark_result`):
    `<stem>.json`, `.csv`, `.png` (with a chart) and `.md`, its results page."""
    suffixes = (".json", ".csv", ".png", ".md") if chart else (".json", ".csv", ".md")
    return [(f"--output-dir's {stem}{suffix}", os.path.join(os.fspath(folder), stem + suffix)) for suffix in suffixes]


def write_benchmark_result(folder, stem, data, rows, page, plot=None):
    """Writes a benchmark's result into `folder` as one (`ResultFiles`): `<stem>.json` (`data`),
    `<stem>.csv` (`rows`, dicts), `<stem>.png` (`plot(path)`, when given) and `<stem>.md` (`page`, the
    results page of `tables.results_page`, which names the chart `<stem>.png`).

    Returns:
        The paths written, in that order.
    """
    named = benchmark_result_paths(folder, stem, chart=plot is not None)
    paths = [path for _, path in named]
    with ResultFiles(named) as result:
        result.write_json(paths[0], data)
        result.write(paths[1], lambda temp: write_csv_atomically(temp, rows))
        if plot is not None:
            result.write(paths[2], plot)
        result.write_text(paths[-1], page)
    return paths
