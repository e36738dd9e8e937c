"""Published weights end to end against a local HTTP server: the hub's URLs at pinned revisions, the
download, digest checks (pinned and announced), the cache, both generations by name.

The timm files are made by timm's own `swiftformer_*` models (`conftest.timm_hub_file`), saved as timm's
hub holds them; the MBZUAI files by the transformers reference, as that hub holds them.
"""

import dataclasses
import hashlib
import http.server
import os
import re
import socket
import threading

import numpy as np
import pytest

from conftest import make_reference, reference_logits, timm_hub_file
from swiftformer_keras import SwiftFormer, SwiftFormerS, SwiftFormerXS
from swiftformer_keras.utils.images import recorded_crop_pct
from swiftformer_keras.weights import hub, published
from swiftformer_keras.weights.keras_files import saved_attention_of

TIMM = published.WEIGHT_SOURCES["imagenet_timm"]
MBZUAI = published.WEIGHT_SOURCES["imagenet_mbzuai"]
TIMM_XS_PATH = "/timm/swiftformer_xs.dist_in1k/resolve/ac0196f198e58c82183a67f5f5c0952421b3e6ac/model.safetensors"
TIMM_S_PATH = "/timm/swiftformer_s.dist_in1k/resolve/main/model.safetensors"
XS_PATH = "/MBZUAI/swiftformer-xs/resolve/main/model.safetensors"
S_PATH = "/MBZUAI/swiftformer-s/resolve/main/pytorch_model.bin"


class _Server:
    """Serves in-memory files on 127.0.0.1, the way the hub does.

    `files[path] = (body, headers)`; `truncate` sends only half of the body
    while announcing all of it, then closes the connection.
    """

    def __init__(self):
        self.files, self.requests, self.truncate = {}, [], False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.path not in server.files:
                    self.send_error(404)
                    return
                body, headers = server.files[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if server.truncate else body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch, tmp_path):
    served = _Server()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(hub.BASE_URL_ENV, served.url)
    yield served
    served.close()


@pytest.fixture(scope="module")
def xs_hub_file(tmp_path_factory):
    """A Hugging Face-layout XS checkpoint (first-release attention) as bytes."""
    from safetensors.torch import save_file

    reference = make_reference("XS", "softmax", seed=3)
    path = tmp_path_factory.mktemp("hub") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    return reference, path.read_bytes()


@pytest.fixture(scope="module")
def timm_xs_file(tmp_path_factory, images):
    """timm's own swiftformer_xs saved as timm's hub file, as bytes, and its logits on images["square"]."""
    path, logits = timm_hub_file("XS", tmp_path_factory.mktemp("timm"), images["square"], seed=5)
    with open(path, "rb") as file:
        return logits, file.read()


def _pin(monkeypatch, source, variant, sha256):
    """Replaces the pinned digest of `source`'s `variant` file, for this test."""
    files = dict(source.files)
    files[variant] = dataclasses.replace(files[variant], sha256=sha256)
    pinned = dataclasses.replace(source, files=files)
    monkeypatch.setitem(published.WEIGHT_SOURCES, source.name, pinned)


def _cache_files():
    folder = hub.cache_dir()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


WEB_PAGE = b"<!DOCTYPE html>\n<html><body>Welcome to our mirror</body></html>\n"


def test_default_urls_are_the_hugging_face_hub_at_pinned_revisions(monkeypatch):
    monkeypatch.delenv(hub.BASE_URL_ENV, raising=False)
    assert hub.hub_url(TIMM, "XS") == "https://huggingface.co" + TIMM_XS_PATH
    assert (
        hub.hub_url(TIMM, "L3") == "https://huggingface.co/timm/swiftformer_l3.dist_in1k/resolve/main/model.safetensors"
    )
    assert hub.hub_url(MBZUAI, "XS") == "https://huggingface.co" + XS_PATH
    assert hub.hub_url(MBZUAI, "L3").endswith("/MBZUAI/swiftformer-l3/resolve/main/pytorch_model.bin")


def test_imagenet_is_timms_current_generation_downloaded_verified_converted_and_cached(
    server, timm_xs_file, images, monkeypatch
):
    """timm's file, pinned by revision and by its real digest, which the test's own file cannot have:
    pinned to the test file's digest it is fetched, converted and gives timm's logits."""
    expected, body = timm_xs_file
    assert len(body) == 13_957_760  # the size of timm's real XS file: the same tensors, names and dtypes
    server.files[TIMM_XS_PATH] = (body, {})
    with pytest.raises(ValueError, match=f"Checksum mismatch .*expected sha256 {TIMM.files['XS'].sha256}"):
        SwiftFormerXS(weights="imagenet")
    assert _cache_files() == []

    _pin(monkeypatch, TIMM, "XS", hashlib.sha256(body).hexdigest())
    keras_model = SwiftFormerXS(weights="imagenet", classifier_activation=None)
    assert np.abs(np.asarray(keras_model(images["square"])) - expected).max() <= 1e-4
    assert _cache_files() == [
        "swiftformer_xs_imagenet_timm_model.safetensors",
        "swiftformer_xs_imagenet_timm_v2.weights.h5",
    ]
    converted = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_timm_v2.weights.h5")
    assert saved_attention_of(converted) == "l2"
    assert recorded_crop_pct(converted) == pytest.approx(0.95)  # timm's evaluation crop, for every tool

    server.close()  # the cache is used from now on, offline, under either name
    again = SwiftFormerXS(weights="imagenet_timm", classifier_activation=None)
    np.testing.assert_array_equal(np.asarray(again(images["square"])), np.asarray(keras_model(images["square"])))
    assert server.requests == [TIMM_XS_PATH, TIMM_XS_PATH]


def test_timm_files_without_a_pinned_digest_are_checked_against_the_announced_one(server, images, tmp_path):
    path, expected = timm_hub_file("S", tmp_path, images["square"], seed=6)
    body = open(path, "rb").read()
    server.files[TIMM_S_PATH] = (body, {"X-Linked-Etag": '"' + "0" * 64 + '"'})
    with pytest.raises(ValueError, match="Checksum mismatch .*expected sha256 0000"):
        SwiftFormerS(weights="imagenet")
    server.files[TIMM_S_PATH] = (body, {"X-Linked-Etag": f'"{hashlib.sha256(body).hexdigest()}"'})
    keras_model = SwiftFormerS(weights="imagenet", classifier_activation=None)
    assert np.abs(np.asarray(keras_model(images["square"])) - expected).max() <= 1e-4


def test_the_first_generation_download_convert_cache_and_reuse(server, xs_hub_file, images):
    reference, body = xs_hub_file
    sha = hashlib.sha256(body).hexdigest()
    server.files[XS_PATH] = (body, {"X-Linked-Etag": f'"{sha}"'})

    model = SwiftFormerXS(weights="imagenet_mbzuai", classifier_activation=None)
    expected = reference_logits(reference, images["square"])
    assert np.abs(np.asarray(model(images["square"])) - expected).max() <= 1e-4
    assert server.requests == [XS_PATH]  # fetched once, from the mirror
    assert _cache_files() == [
        "swiftformer_xs_imagenet_mbzuai_model.safetensors",
        "swiftformer_xs_imagenet_mbzuai_v2.weights.h5",
    ]
    converted = os.path.join(hub.cache_dir(), _cache_files()[1])
    assert saved_attention_of(converted) == "softmax" and recorded_crop_pct(converted) == pytest.approx(0.875)

    server.close()  # the cache is used from now on, offline
    backbone = SwiftFormerXS(weights="imagenet_mbzuai", include_top=False, pooling="avg")
    head = model.get_layer("classifier")
    np.testing.assert_allclose(np.asarray(head(backbone(images["square"]))), expected, atol=1e-4)
    assert server.requests == [XS_PATH]


def test_torch_pickle_hub_file_needs_no_torch_import(server, images, tmp_path):
    """MBZUAI's S, L1 and L3 are published as pytorch_model.bin."""
    import torch

    reference = make_reference("S", "softmax", seed=4)
    path = tmp_path / "pytorch_model.bin"
    torch.save(reference.state_dict(), str(path))
    server.files[S_PATH] = (path.read_bytes(), {})
    model = SwiftFormerS(weights="imagenet_mbzuai", classifier_activation=None)
    expected = reference_logits(reference, images["square"])
    assert np.abs(np.asarray(model(images["square"])) - expected).max() <= 1e-4


def test_announced_checksum_mismatch_is_refused(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {"X-Linked-Etag": '"' + "0" * 64 + '"'})
    with pytest.raises(ValueError, match="Checksum mismatch .*expected sha256 0000"):
        SwiftFormerXS(weights="imagenet_mbzuai")
    assert _cache_files() == []


def test_pinned_checksum_mismatch_is_refused(server, xs_hub_file, monkeypatch):
    _pin(monkeypatch, MBZUAI, "XS", "f" * 64)
    server.files[XS_PATH] = (xs_hub_file[1], {})
    with pytest.raises(ValueError, match="Checksum mismatch"):
        SwiftFormerXS(weights="imagenet_mbzuai")
    assert _cache_files() == []


def test_interrupted_download_leaves_nothing_in_the_cache(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {})
    server.truncate = True
    with pytest.raises(OSError, match="interrupted"):
        SwiftFormerXS(weights="imagenet_mbzuai")
    assert _cache_files() == []


def test_offline_error_says_which_file_to_fetch_and_where(monkeypatch, tmp_path, timm_xs_file, images):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(hub.BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(OSError) as error:
        SwiftFormerXS(weights="imagenet")
    message = str(error.value)
    expected_place = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_timm_model.safetensors")
    assert message.startswith("Could not download the imagenet_timm weights of SwiftFormer-XS")
    assert f"http://127.0.0.1:{port}{TIMM_XS_PATH}" in message
    assert expected_place in message and hub.BASE_URL_ENV in message and "\n" not in message
    assert _cache_files() == []
    # Following the message's advice works without a network, once the file is the pinned one.
    _pin(monkeypatch, TIMM, "XS", hashlib.sha256(timm_xs_file[1]).hexdigest())
    os.makedirs(hub.cache_dir(), exist_ok=True)
    with open(expected_place, "wb") as file:
        file.write(timm_xs_file[1])
    model = SwiftFormerXS(weights="imagenet", classifier_activation=None)
    assert np.abs(np.asarray(model(images["square"])) - timm_xs_file[0]).max() <= 1e-4


@pytest.mark.parametrize(
    "variant, path, message",
    [
        ("XS", XS_PATH, "not a safetensors file"),
        ("S", S_PATH, "not a PyTorch checkpoint"),
    ],
)
def test_a_mirror_that_answers_with_a_web_page_caches_nothing(server, xs_hub_file, variant, path, message):
    server.files[path] = (WEB_PAGE, {})
    with pytest.raises(ValueError, match=f"{message}.*web page.*Nothing was kept") as error:
        SwiftFormer(variant, weights="imagenet_mbzuai")
    assert server.url in str(error.value) and hub.BASE_URL_ENV in str(error.value)
    assert _cache_files() == []
    if variant == "XS":  # once the mirror is fixed, the real file is fetched
        server.files[path] = (xs_hub_file[1], {})
        SwiftFormerXS(weights="imagenet_mbzuai")
        assert len(_cache_files()) == 2


def test_a_damaged_cached_checkpoint_is_named_with_what_to_do(server, xs_hub_file):
    source = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_mbzuai_model.safetensors")
    os.makedirs(hub.cache_dir())
    with open(source, "wb") as file:
        file.write(WEB_PAGE)
    with pytest.raises(ValueError, match=f"cached file {re.escape(repr(source))} .*Delete it") as error:
        SwiftFormerXS(weights="imagenet_mbzuai")
    assert "\n" not in str(error.value)
    assert server.requests == [] and _cache_files() == [os.path.basename(source)]
    os.remove(source)  # as the message says
    server.files[XS_PATH] = (xs_hub_file[1], {})
    SwiftFormerXS(weights="imagenet_mbzuai")


def test_a_damaged_converted_file_in_the_cache_is_named_with_what_to_do(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {})
    SwiftFormerXS(weights="imagenet_mbzuai")
    converted = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_mbzuai_v2.weights.h5")
    with open(converted, "r+b") as file:
        file.truncate(1000)
    with pytest.raises(ValueError, match=f"cached file {re.escape(repr(converted))} .*Delete it"):
        SwiftFormerXS(weights="imagenet_mbzuai")
    os.remove(converted)
    SwiftFormerXS(weights="imagenet_mbzuai")  # converted again from the cached checkpoint, offline
    assert server.requests == [XS_PATH]


def test_a_conversion_cached_by_an_older_release_is_not_taken_for_either_generation(server, xs_hub_file):
    """Before both generations were named, `weights="imagenet"` cached MBZUAI's conversion as
    swiftformer_xs_imagenet_v1.weights.h5: a file that must not pass for timm's weights now."""
    os.makedirs(hub.cache_dir())
    stale = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_v1.weights.h5")
    with open(stale, "wb") as file:
        file.write(b"an older release's conversion")
    with pytest.raises(OSError, match="imagenet_timm weights of SwiftFormer-XS"):
        SwiftFormerXS(weights="imagenet")  # nothing served: it looks for timm's file, not the stale one
