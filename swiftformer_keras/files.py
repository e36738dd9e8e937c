"""Writing files so that a failure never leaves a partial one behind."""

import os
import tempfile


def write_atomically(path, write, suffix=""):
    """Calls `write(temporary path)` in `path`'s folder, then renames it to `path`.

    `suffix` ends the temporary name, for writers that insist on one (Keras
    wants `.weights.h5` or `.keras`). If `write` fails, the temporary file is
    removed and an existing `path` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=folder, suffix=".tmp" + suffix)
    os.close(handle)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def write_bytes_atomically(path, content):
    """Writes `content` (bytes) to `path` through a temporary file and a rename."""

    def write(temp):
        with open(temp, "wb") as file:
            file.write(content)

    return write_atomically(path, write)


def write_json_atomically(path, data):
    """Writes `data` as indented JSON (numpy scalars as numbers) to `path`, atomically."""
    import json

    def write(temp):
        with open(temp, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, default=float)
            file.write("\n")

    return write_atomically(os.fspath(path), write, ".json")


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

    return write_atomically(os.fspath(path), write, ".csv")
