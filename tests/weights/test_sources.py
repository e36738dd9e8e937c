"""weights="imagenet" end to end against a local HTTP server, and weight files."""

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
from swiftformer_keras.weights import sources as weights
from swiftformer_keras.models.architecture import variant_config
from swiftformer_keras.models.builders import build_swiftformer

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
    monkeypatch.setenv(weights.BASE_URL_ENV, served.url)
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
    folder = weights.cache_dir()
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_default_url_is_the_hugging_face_hub(monkeypatch):
    monkeypatch.delenv(weights.BASE_URL_ENV, raising=False)
    assert weights.hub_url("XS") == "https://huggingface.co" + XS_PATH
    assert weights.hub_url("L3").endswith("/MBZUAI/swiftformer-l3/resolve/main/pytorch_model.bin")


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
    assert weights.saved_attention_of(os.path.join(weights.cache_dir(), _cache_files()[0])) == "softmax"

    server.close()  # the cache is used from now on, offline
    backbone = SwiftFormerXS(weights="imagenet", include_top=False, pooling="avg")
    head = model.get_layer("classifier")
    np.testing.assert_allclose(
        np.asarray(head(backbone(images["square"]))), expected, atol=1e-4
    )
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
    pinned = weights.HUB_FILES["XS"]._replace(sha256="f" * 64)
    monkeypatch.setitem(weights.HUB_FILES, "XS", pinned)
    server.files[XS_PATH] = (xs_hub_file[1], {})
    with pytest.raises(ValueError, match="Checksum mismatch"):
        SwiftFormerXS(weights="imagenet")
    assert _cache_files() == []


def test_pinned_checksum_match_is_accepted(server, xs_hub_file, monkeypatch):
    pinned = weights.HUB_FILES["XS"]._replace(sha256=hashlib.sha256(xs_hub_file[1]).hexdigest())
    monkeypatch.setitem(weights.HUB_FILES, "XS", pinned)
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
    monkeypatch.setenv(weights.BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(OSError) as error:
        SwiftFormerXS(weights="imagenet")
    message = str(error.value)
    expected_place = os.path.join(weights.cache_dir(), "swiftformer_xs_model.safetensors")
    assert f"http://127.0.0.1:{port}{XS_PATH}" in message
    assert expected_place in message and weights.BASE_URL_ENV in message
    assert _cache_files() == []
    # Following the message's advice works without a network.
    os.makedirs(weights.cache_dir(), exist_ok=True)
    with open(expected_place, "wb") as file:
        file.write(xs_hub_file[1])
    assert SwiftFormerXS(weights="imagenet").count_params() > 3_475_360


def test_imagenet_argument_errors(server):
    with pytest.raises(ValueError, match="classes=1000, got classes=10"):
        SwiftFormerXS(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="trained with attention='softmax'"):
        SwiftFormerXS(weights="imagenet", attention="l2")
    with pytest.raises(ValueError, match="only for the variants"):
        SwiftFormer({"depths": (1, 1, 1, 1), "widths": (8, 8, 8, 8)}, weights="imagenet")
    with pytest.raises(ValueError, match="3 input channels"):
        SwiftFormerXS(weights="imagenet", input_shape=(224, 224, 1))
    with pytest.raises(ValueError, match="no such file"):
        SwiftFormerXS(weights="/nonexistent/file.pth")
    assert server.requests == []


def test_weights_h5_round_trip_and_wrong_variant(tmp_path, images):
    model = build_swiftformer("XS", classifier_activation=None, attention="token_softmax")
    path = str(tmp_path / "xs.weights.h5")
    weights.save_weights_atomically(model, path, attention="token_softmax")
    loaded = SwiftFormerXS(weights=path, classifier_activation=None)
    np.testing.assert_allclose(np.asarray(loaded(images["square"])), np.asarray(model(images["square"])), atol=1e-6)
    assert weights.model_attention(loaded) == "token_softmax"
    with pytest.raises(ValueError, match="holds 290 variables but SwiftFormer-S has 345"):
        SwiftFormerS(weights=path)


def test_weights_h5_of_same_structure_but_other_widths_is_refused(tmp_path):
    other = build_swiftformer({"depths": (3, 3, 6, 4), "widths": (32, 64, 96, 128)})
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    with pytest.raises(ValueError, match="does not match SwiftFormer-XS"):
        SwiftFormerXS(weights=path)


def test_truncated_weights_h5_is_refused(tmp_path):
    path = tmp_path / "xs.weights.h5"
    build_swiftformer("XS").save_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="not a readable .weights.h5"):
        SwiftFormerXS(weights=str(path))


TINY = {"depths": (2, 1, 3, 1), "widths": (8, 16, 24, 32)}


def _distinct_values(model, seed=0):
    """Every variable re-drawn, BatchNorm statistics included, so that a misplaced one shows."""
    import keras

    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


@pytest.mark.parametrize("kwargs", [{"classes": 5}, {"include_top": False}, {"include_top": False, "features": True}])
def test_weights_h5_is_read_from_where_keras_writes_it(tmp_path, kwargs):
    config = variant_config(TINY)
    model = build_swiftformer(config, input_shape=(64, 64, 3), **kwargs)
    expected = _distinct_values(model)
    path = str(tmp_path / "saved.weights.h5")
    model.save_weights(path)
    state = weights.read_keras_weights_file(path, config)
    assert list(state) == list(expected)
    assert all(np.array_equal(state[k], expected[k]) and state[k].dtype == np.float32 for k in expected)


@pytest.mark.parametrize("kwargs", [{"classes": 5}, {"include_top": False}])
def test_a_written_weights_h5_loads_in_keras(tmp_path, kwargs):
    import warnings

    import keras

    config = variant_config(TINY)
    expected = _distinct_values(build_swiftformer(config, input_shape=(64, 64, 3), **kwargs))
    path = str(tmp_path / "written.weights.h5")
    weights.write_keras_weights_file(expected, config, path, attention="softmax")
    assert weights.saved_attention_of(path) == "softmax" and os.listdir(tmp_path) == ["written.weights.h5"]
    model = build_swiftformer(config, input_shape=(64, 64, 3), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras only warns where it skips a variable
        model.load_weights(path)
    assert all(np.array_equal(keras.ops.convert_to_numpy(v), expected[v.path]) for v in model.weights)


def test_a_written_weights_h5_must_fill_the_model_exactly(tmp_path):
    config = variant_config(TINY)
    state = _distinct_values(build_swiftformer(config, classes=5))
    path = str(tmp_path / "out.weights.h5")
    missing = {k: v for k, v in state.items() if k != "stage2_block1/norm/beta"}
    with pytest.raises(ValueError, match="does not fill the model variable 'stage2_block1/norm/beta'"):
        weights.write_keras_weights_file(missing, config, path)
    with pytest.raises(ValueError, match="1 entries the model does not use, first 'stage9_block0/x'"):
        weights.write_keras_weights_file({**state, "stage9_block0/x": np.zeros(3)}, config, path)
    wrong = {**state, "stem/conv1/bias": np.zeros(5, "float32")}
    with pytest.raises(ValueError, match="'stem/conv1/bias' has shape \\(5,\\) in the checkpoint but \\(4,\\)"):
        weights.write_keras_weights_file(wrong, config, path)
    assert os.listdir(tmp_path) == []


def test_a_bfloat16_weights_h5_is_read_as_float32(tmp_path):
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        model = build_swiftformer(TINY, classes=5)
    finally:
        keras.config.set_dtype_policy(previous)
    path = str(tmp_path / "bf16.weights.h5")
    model.save_weights(path)
    state = weights.read_keras_weights_file(path, variant_config(TINY))
    for variable in model.weights:
        expected = keras.ops.convert_to_numpy(keras.ops.cast(variable, "float32"))
        assert state[variable.path].dtype == np.float32 and np.array_equal(state[variable.path], expected)


def test_weight_files_are_converted_and_read_without_building_a_model(tmp_path, monkeypatch):
    """weights checks files against architecture.variable_shapes, not against a twin model."""
    import keras

    from conftest import write_checkpoint

    source = write_checkpoint(make_reference("XS", "l2"), "official", str(tmp_path))
    destination = str(tmp_path / "xs.weights.h5")

    def no_model(*args, **kwargs):
        raise AssertionError("a Keras model was built")

    monkeypatch.setattr(keras, "Model", no_model)
    weights.convert_to_keras_weights(source, destination)
    resolved = weights.resolve_weights(destination, variant_config("XS"), True, 1000, None)
    assert len(resolved.state) == 290 and resolved.attention == "l2"


def test_keras_file_weights_and_attention(tmp_path, images):
    model = build_swiftformer("XS", classifier_activation=None, attention="softmax")
    path = str(tmp_path / "xs.keras")
    model.save(path)
    loaded = SwiftFormerXS(weights=path, include_top=False, pooling="avg")
    assert weights.model_attention(loaded) == "softmax"
    pooled = model.get_layer("avg_pool").output
    import keras

    expected = keras.Model(model.input, pooled)(images["square"])
    np.testing.assert_allclose(np.asarray(loaded(images["square"])), np.asarray(expected), atol=1e-6)


def test_keras_file_that_is_not_a_swiftformer_is_refused(tmp_path):
    import keras

    path = str(tmp_path / "dense.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match="not a SwiftFormer"):
        SwiftFormerXS(weights=path)


WEB_PAGE = b"<!DOCTYPE html>\n<html><body>Welcome to our mirror</body></html>\n"


@pytest.mark.parametrize("variant, path, message", [
    ("XS", XS_PATH, "not a safetensors file"),
    ("S", S_PATH, "not a PyTorch checkpoint"),
])
def test_a_mirror_that_answers_with_a_web_page_caches_nothing(server, xs_hub_file, variant, path, message):
    server.files[path] = (WEB_PAGE, {})
    with pytest.raises(ValueError, match=f"{message}.*web page.*Nothing was kept") as error:
        SwiftFormer(variant, weights="imagenet")
    assert server.url in str(error.value) and weights.BASE_URL_ENV in str(error.value)
    assert _cache_files() == []
    if variant == "XS":  # once the mirror is fixed, the real file is fetched
        server.files[path] = (xs_hub_file[1], {})
        SwiftFormerXS(weights="imagenet")
        assert len(_cache_files()) == 2


def test_a_damaged_cached_checkpoint_is_named_with_what_to_do(server, xs_hub_file):
    source = os.path.join(weights.cache_dir(), "swiftformer_xs_model.safetensors")
    os.makedirs(weights.cache_dir())
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
    converted = os.path.join(weights.cache_dir(), "swiftformer_xs_imagenet_v1.weights.h5")
    with open(converted, "r+b") as file:
        file.truncate(1000)
    with pytest.raises(ValueError, match=f"cached file {re.escape(repr(converted))} .*Delete it"):
        SwiftFormerXS(weights="imagenet")
    os.remove(converted)
    SwiftFormerXS(weights="imagenet")  # converted again from the cached checkpoint, offline
    assert server.requests == [XS_PATH]


def test_weights_that_name_a_folder_or_an_unknown_type(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a file"):
        SwiftFormerXS(weights=str(tmp_path))
    other = tmp_path / "w.npz"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match=r"Unrecognised checkpoint type.*\.weights\.h5, \.keras, \.pth"):
        SwiftFormerXS(weights=str(other))


def test_load_keras_model_file_says_what_is_wrong_with_the_file(tmp_path):
    import zipfile

    import keras

    with pytest.raises(ValueError, match="absent.keras' does not exist"):
        weights.load_keras_model_file(tmp_path / "absent.keras")
    with pytest.raises(ValueError, match="is a folder, not a .keras file"):
        weights.load_keras_model_file(tmp_path)
    text = tmp_path / "model.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="model.keras' exists but is not a Keras .keras model .it is not a zip"):
        weights.load_keras_model_file(text)
    empty = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "x")
    with pytest.raises(ValueError, match="empty.keras' exists but is not a Keras .keras model .it has no config.json"):
        weights.load_keras_model_file(empty)
    good = tmp_path / "dense.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(good)
    assert weights.load_keras_model_file(good).output_shape == (None, 2)


def test_keras_model_and_teacher_files_are_checked_by_load_keras_model_file(tmp_path):
    """conversion --keras-model and train --teacher used to say 'File not found' for a file that exists."""
    import types

    from swiftformer_keras.lite import pipeline as conversion
    from swiftformer_keras.training import loop as training

    text = tmp_path / "model.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        conversion.load_keras_model(keras_model=str(text))
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        training.build_training_model(types.SimpleNamespace(teacher=str(text), label_smoothing=0.0), None, 10)
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        SwiftFormerXS(weights=str(text))
