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
