"""Writing files so that a failure never leaves a partial one behind.

Every file the project writes goes through `write_atomically`: the content is
written to a temporary name in the destination folder, then renamed. The
temporary name is `.<name>.partial-<pid>-<token>`: hidden, recognisable, and
never ending in the final extension, so `*.tflite` or `*.weights.h5` never
match a half-written file. A temporary left by a killed process (kill -9,
power loss) is removed by the next write in that folder, once its process is
gone. Files get the permissions a plain `open(path, "w")` gives under the
current umask. A full disk ends in one `DiskFullError` naming the file and the
folder, with nothing left behind.
"""

import contextlib
import errno
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


def write_atomically(path, write, keep_name=False, size_hint=None):
    """Calls `write(temporary path)` in `path`'s folder, then renames it to `path`.

    `keep_name=True` is for writers that insist on the final file name's
    extension (Keras wants `.weights.h5` or `.keras`): the temporary is then a
    file of `path`'s own name inside a temporary folder. `size_hint` (bytes)
    checks the free space first, for writers that must not meet a full disk
    (see `check_free_space`). If `write` fails, the temporary is removed and
    an existing `path` is left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_partials(folder)
    if size_hint is not None:
        check_free_space(path, size_hint)
    temp = partial_path(path)
    target = temp
    try:
        with full_disk_as_one_error(path):
            if keep_name:
                os.mkdir(temp)
                target = os.path.join(temp, os.path.basename(path))
            write(target)
            os.replace(target, path)
    finally:
        _remove(temp)
    return path


def write_bytes_atomically(path, content):
    """Writes `content` (bytes) to `path` through a temporary file and a rename."""

    def write(temp):
        with open(temp, "wb") as file:
            file.write(content)

    return write_atomically(path, write)


def write_text_atomically(path, text):
    """Writes `text` (UTF-8) to `path` through a temporary file and a rename."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, data):
    """Writes `data` as indented JSON (numpy scalars as numbers) to `path`, atomically."""
    import json

    # Serialised before anything touches the disk: a bad value leaves no file.
    return write_text_atomically(path, json.dumps(data, indent=2, default=float) + "\n")


def write_csv_atomically(path, rows, columns=None):
    """Writes `rows` (dicts) as CSV to `path`, atomically.

    `columns` defaults to every key of every row, in first-seen order; a row
    without a column leaves its cell empty.
    """
    import csv

    columns = list(columns or dict.fromkeys(key for row in rows for key in row))

    def write(temp):
        with open(temp, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)

    return write_atomically(os.fspath(path), write)


def check_output_paths(*named_paths):
    """Refuses destinations that cannot be written, before any long work starts.

    Args:
        *named_paths: `(what, path)` pairs, e.g. `("--report", "r.json")`;
            a None path is skipped.

    Raises:
        ValueError: a path is an existing folder, its folder is missing or
            not writable, or two of them name the same file (one output
            would replace the other).
    """
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


def check_output_folder(what, folder):
    """Creates `folder` if needed and checks that files can be written in it.

    Raises:
        ValueError: it is a file, cannot be created, or is not writable.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{what} {folder!r} is a file, not a folder; choose a folder name.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{what} {folder!r} cannot be created ({error.strerror}); choose another.") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {folder!r} is not writable; choose another folder.")
    return folder
