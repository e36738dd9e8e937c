"""The ImageNet checkpoints on the Hugging Face hub: where they are, the cache, the download.

`weights="imagenet"` (or another name of `weights.published`) fetches the
published checkpoint of a variant from the hub (or a mirror named by
`SWIFTFORMER_WEIGHTS_URL`) into `$KERAS_HOME/models/swiftformer/` (default
`~/.keras`), where its conversion to Keras is cached beside it
(`weights.sources`). Which file each variant has, at which revision and with
which digest, is a fact of the table of published weights
(`weights.published.WEIGHT_SOURCES`). Every file is written to a temporary
name and renamed into place, so an interrupted download never leaves a
partial file in the cache.
"""

import hashlib
import os
import re
import urllib.error
import urllib.request

from tqdm.auto import tqdm

from swiftformer_keras.utils.files import write_atomically
from swiftformer_keras.weights import checkpoints

BASE_URL_ENV = "SWIFTFORMER_WEIGHTS_URL"
DEFAULT_BASE_URL = "https://huggingface.co"
CACHE_SUBDIR = os.path.join("models", "swiftformer")
# Bump when the conversion changes, so that stale converted files are not reused
# (2: the converted file records its source's evaluation crop).
CONVERSION_VERSION = 2


def cache_dir():
    """The folder holding downloaded and converted weights."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, CACHE_SUBDIR)


def hub_url(source, variant):
    """The download URL of a variant's checkpoint in `source` (a `published.WeightSource`),
    at its pinned revision; mirror-aware."""
    entry = source.files[variant]
    base = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{entry.repo}/resolve/{entry.revision}/{entry.filename}"


def cached_checkpoint_path(source, variant):
    """Where the cache keeps a variant's downloaded hub file of `source`."""
    return os.path.join(cache_dir(), f"swiftformer_{variant.lower()}_{source.name}_{source.files[variant].filename}")


def cached_conversion_path(source, variant):
    """Where the cache keeps the Keras `.weights.h5` converted from a variant's hub file of `source`."""
    return os.path.join(cache_dir(), f"swiftformer_{variant.lower()}_{source.name}_v{CONVERSION_VERSION}.weights.h5")


def fetch_checkpoint(source, variant):
    """Returns the local path of a variant's checkpoint of `source` (a `published.WeightSource`),
    downloading it into the cache unless it is already there and intact."""
    entry = source.files[variant]
    path = cached_checkpoint_path(source, variant)
    if os.path.exists(path):
        if entry.sha256 is None or sha256_of(path) == entry.sha256:
            return path
        os.remove(path)
    url = hub_url(source, variant)
    what = f"the {source.name} weights of SwiftFormer-{variant}"

    def check_format(temp):
        # With no sha256 pinned or announced, this is all that stands between
        # a mirror's error page and the cache.
        try:
            checkpoints.check_checkpoint_file(temp, name=entry.filename)
        except ValueError as error:
            raise ValueError(
                f"{url} did not send a checkpoint: {error}. Nothing was kept. If {BASE_URL_ENV} names "
                "a mirror, it must serve the file itself at <repo>/resolve/<revision>/<file>."
            ) from error

    try:
        download(url, path, entry.sha256, check=check_format)
    except urllib.error.HTTPError as error:
        raise OSError(
            f"Could not download {what}: {url} answered HTTP {error.code} {error.reason}. "
            f"If {BASE_URL_ENV} names a mirror, it must serve <repo>/resolve/<revision>/<file>; "
            f"or put the file at {path} yourself."
        ) from error
    except urllib.error.URLError as error:
        raise OSError(
            f"Could not download {what} from {url} ({getattr(error, 'reason', error)}). "
            f"If this machine is offline, fetch that file elsewhere and put it at {path}, or set "
            f"{BASE_URL_ENV} to a mirror that serves <repo>/resolve/<revision>/<file>, or pass "
            f"weights='/path/to/{entry.filename}'."
        ) from error
    return path


def sha256_of(path, chunk_size=1 << 20):
    """The sha256 hex digest of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _announced_sha256(headers):
    """The sha256 that a Hugging Face-style server announces for a file, if any."""
    for name in ("X-Linked-Etag", "ETag"):
        value = (headers.get(name) or "").strip().strip('"').removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
    return None


def download(url, path, sha256=None, timeout=60, chunk_size=1 << 16, check=None):
    """Downloads `url` to `path` atomically, with a progress bar.

    The file is verified against `sha256` (or, when None, against the digest
    the server announces), against its announced length, and by `check`
    (called with the complete temporary file; it raises `ValueError` to
    refuse it); only a complete, verified file is renamed into place. Raises
    `urllib.error.URLError` when the server cannot be reached, `OSError` for
    an interrupted transfer and `ValueError` for a checksum mismatch or a file
    `check` refuses.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "swiftformer-keras"})

    def fetch(temp):
        with open(temp, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            expected_sha = sha256 or _announced_sha256(response.headers)
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            digest, received = hashlib.sha256(), 0
            with tqdm(total=length, unit="B", unit_scale=True, desc=os.path.basename(path)) as bar:
                while True:
                    try:
                        chunk = response.read(chunk_size)
                    except Exception as error:  # http.client.IncompleteRead, resets
                        raise OSError(f"Download of {url} was interrupted ({error}).") from error
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if length is not None and received != length:
            raise OSError(
                f"Download of {url} was interrupted: got {received} of {length} bytes. Nothing was kept; try again."
            )
        if expected_sha and digest.hexdigest() != expected_sha:
            raise ValueError(
                f"Checksum mismatch for {url}: expected sha256 {expected_sha}, got "
                f"{digest.hexdigest()}. The file was discarded; the mirror may serve a "
                "different or corrupted file."
            )
        if check is not None:
            check(temp)

    return write_atomically(path, fetch)
