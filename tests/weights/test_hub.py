"""weights="imagenet" end to end against a local HTTP server: the hub's URL, download, digest checks, cache."""

import hashlib
import http.server
import os
import re
import socket
import threading

import numpy as np
import pytest

from conftest import make_reference, reference_logits
from swiftformer_keras import SwiftFormer, SwiftFormerS, SwiftFormerXS
from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.weights import hub
from swiftformer_keras.weights.keras_files import saved_attention_of

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


def _cache_files():
    folder = hub.cache_dir()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


WEB_PAGE = b"<!DOCTYPE html>\n<html><body>Welcome to our mirror</body></html>\n"


def test_default_url_is_the_hugging_face_hub(monkeypatch):
    monkeypatch.delenv(hub.BASE_URL_ENV, raising=False)
    assert hub.hub_url("XS") == "https://huggingface.co" + XS_PATH
    assert hub.hub_url("L3").endswith("/MBZUAI/swiftformer-l3/resolve/main/pytorch_model.bin")


def test_imagenet_download_convert_cache_and_reuse(server, xs_hub_file, images):
    reference, body = xs_hub_file
    sha = hashlib.sha256(body).hexdigest()
    server.files[XS_PATH] = (body, {"X-Linked-Etag": f'"{sha}"'})

    model = SwiftFormerXS(weights="imagenet", classifier_activation=None)
    expected = reference_logits(reference, images["square"])
    assert np.abs(np.asarray(model(images["square"])) - expected).max() <= 1e-4
    assert server.requests == [XS_PATH]  # fetched once, from the mirror
    assert _cache_files() == [
        "swiftformer_xs_imagenet_v1.weights.h5",
        "swiftformer_xs_model.safetensors",
    ]
    assert saved_attention_of(os.path.join(hub.cache_dir(), _cache_files()[0])) == "softmax"

    server.close()  # the cache is used from now on, offline
    backbone = SwiftFormerXS(weights="imagenet", include_top=False, pooling="avg")
    head = model.get_layer("classifier")
    np.testing.assert_allclose(np.asarray(head(backbone(images["square"]))), expected, atol=1e-4)
    assert server.requests == [XS_PATH]


def test_torch_pickle_hub_file_needs_no_torch_import(server, images, tmp_path):
    """S, L1 and L3 are published as pytorch_model.bin."""
    import torch

    reference = make_reference("S", "softmax", seed=4)
    path = tmp_path / "pytorch_model.bin"
    torch.save(reference.state_dict(), str(path))
    server.files[S_PATH] = (path.read_bytes(), {})
    model = SwiftFormerS(weights="imagenet", classifier_activation=None)
    expected = reference_logits(reference, images["square"])
    assert np.abs(np.asarray(model(images["square"])) - expected).max() <= 1e-4


def test_announced_checksum_mismatch_is_refused(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {"X-Linked-Etag": '"' + "0" * 64 + '"'})
    with pytest.raises(ValueError, match="Checksum mismatch .*expected sha256 0000"):
        SwiftFormerXS(weights="imagenet")
    assert _cache_files() == []


def test_pinned_checksum_mismatch_is_refused(server, xs_hub_file, monkeypatch):
    pinned = hub.HUB_FILES["XS"]._replace(sha256="f" * 64)
    monkeypatch.setitem(hub.HUB_FILES, "XS", pinned)
    server.files[XS_PATH] = (xs_hub_file[1], {})
    with pytest.raises(ValueError, match="Checksum mismatch"):
        SwiftFormerXS(weights="imagenet")
    assert _cache_files() == []


def test_pinned_checksum_match_is_accepted(server, xs_hub_file, monkeypatch):
    pinned = hub.HUB_FILES["XS"]._replace(sha256=hashlib.sha256(xs_hub_file[1]).hexdigest())
    monkeypatch.setitem(hub.HUB_FILES, "XS", pinned)
    server.files[XS_PATH] = (xs_hub_file[1], {})
    SwiftFormerXS(weights="imagenet")
    assert len(_cache_files()) == 2


def test_interrupted_download_leaves_nothing_in_the_cache(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {})
    server.truncate = True
    with pytest.raises(OSError, match="interrupted"):
        SwiftFormerXS(weights="imagenet")
    assert _cache_files() == []


def test_offline_error_says_which_file_to_fetch_and_where(monkeypatch, tmp_path, xs_hub_file):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(hub.BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(OSError) as error:
        SwiftFormerXS(weights="imagenet")
    message = str(error.value)
    expected_place = os.path.join(hub.cache_dir(), "swiftformer_xs_model.safetensors")
    assert f"http://127.0.0.1:{port}{XS_PATH}" in message
    assert expected_place in message and hub.BASE_URL_ENV in message
    assert _cache_files() == []
    # Following the message's advice works without a network.
    os.makedirs(hub.cache_dir(), exist_ok=True)
    with open(expected_place, "wb") as file:
        file.write(xs_hub_file[1])
    assert SwiftFormerXS(weights="imagenet").count_params() > 3_475_360


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
        SwiftFormer(variant, weights="imagenet")
    assert server.url in str(error.value) and hub.BASE_URL_ENV in str(error.value)
    assert _cache_files() == []
    if variant == "XS":  # once the mirror is fixed, the real file is fetched
        server.files[path] = (xs_hub_file[1], {})
        SwiftFormerXS(weights="imagenet")
        assert len(_cache_files()) == 2


def test_a_damaged_cached_checkpoint_is_named_with_what_to_do(server, xs_hub_file):
    source = os.path.join(hub.cache_dir(), "swiftformer_xs_model.safetensors")
    os.makedirs(hub.cache_dir())
    with open(source, "wb") as file:
        file.write(WEB_PAGE)
    with pytest.raises(ValueError, match=f"cached file {re.escape(repr(source))} .*Delete it") as error:
        SwiftFormerXS(weights="imagenet")
    assert "\n" not in str(error.value)
    assert server.requests == [] and _cache_files() == ["swiftformer_xs_model.safetensors"]
    os.remove(source)  # as the message says
    server.files[XS_PATH] = (xs_hub_file[1], {})
    SwiftFormerXS(weights="imagenet")


def test_a_damaged_converted_file_in_the_cache_is_named_with_what_to_do(server, xs_hub_file):
    server.files[XS_PATH] = (xs_hub_file[1], {})
    SwiftFormerXS(weights="imagenet")
    converted = os.path.join(hub.cache_dir(), "swiftformer_xs_imagenet_v1.weights.h5")
    with open(converted, "r+b") as file:
        file.truncate(1000)
    with pytest.raises(ValueError, match=f"cached file {re.escape(repr(converted))} .*Delete it"):
        SwiftFormerXS(weights="imagenet")
    os.remove(converted)
    SwiftFormerXS(weights="imagenet")  # converted again from the cached checkpoint, offline
    assert server.requests == [XS_PATH]


def test_the_hub_files_are_the_variant_tables():
    assert set(hub.HUB_FILES) == set(VARIANTS)
    for name, entry in hub.HUB_FILES.items():
        assert entry._asdict() == VARIANTS[name]["hub"]
