"""Reading PyTorch SwiftFormer checkpoints and mapping them onto Keras variables.

Three key layouts are in circulation; all are renamed to one canonical layout
(the official one, with `attn.Proj` spelled `attn.proj`) and then mapped onto
Keras variable paths, transposing as they go:

- official (Amshaker/SwiftFormer): `patch_embed.0.weight`, `network.0.1.dwconv.weight`,
  `network.1.proj.weight` (downsampling), `norm`, `head`, `dist_head`; often
  wrapped in `{"model": ...}` with optimizer state beside it.
- Hugging Face transformers: `swiftformer.patch_embed.patch_embedding.0.weight`,
  `swiftformer.encoder.network.0.blocks.1.depth_wise_conv.weight`, ...
- timm: `stem.0.weight`, `stages.0.blocks.1.dwconv.weight`,
  `stages.1.downsample.proj.weight`, `layer_scale.gamma`, `head_dist`.
"""

import argparse
import os
import pickle
import re
import zipfile

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from swiftformer_keras.weights import torch_zip

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"

# The attention formulation each layout's published weights were trained with.
LAYOUT_ATTENTION = {"official": "l2", "timm": "l2", "hf": "softmax"}

_BATCH_NORM_MODULES = {"norm", "norm1", "bn1", "bn2"}
_BATCH_NORM_PARAMS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
_STEM_MODULES = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2"}
KERAS_SUFFIXES = (".weights.h5", ".keras", ".h5")

# The shape of every canonical key: the stem, a block of a stage (even
# network index), a downsampling (odd index), or the final norm and heads,
# each followed by its module and parameter names. Whatever indexes keys
# later relies on this.
_CANONICAL_KEY = re.compile(
    r"(?:patch_embed\.\d+|network\.\d*[02468]\.\d+|network\.\d*[13579]|norm|head|dist_head)(?:\.\w+)+",
    re.ASCII,
)
_LAYOUT_EXAMPLES = {
    "official": "network.0.1.dwconv.weight",
    "hf": "swiftformer.encoder.network.0.blocks.1.depth_wise_conv.weight",
    "timm": "stages.0.blocks.1.dwconv.weight",
}


def read_state_dict(path):
    """Reads a PyTorch checkpoint into `{key: float32 numpy array}`.

    `.safetensors` files are read with `safetensors.numpy` (no torch needed).
    Pickled files (`.pth`, `.pt`, `.bin`) in PyTorch's zip format are read
    by `torch_zip` without PyTorch; pre-1.6 pickles with
    `torch.load(weights_only=True)`. Neither executes code from the file.
    Wrappers such as `{"model": state_dict, "optimizer": ...}` are unwrapped.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(
            f"{path!r} is a folder, not a checkpoint file; give the path of the .pth, .pt, .bin or .safetensors file."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path!r}.")
    if path.endswith(SAFETENSORS_SUFFIX):
        state = _read_safetensors(path)
    elif path.endswith(TORCH_SUFFIXES):
        state = _read_torch(path)
    elif path.endswith(KERAS_SUFFIXES):
        raise ValueError(
            f"{path!r} is already a Keras weights file; it needs no conversion: pass it to the "
            "model builders as weights=... directly."
        )
    else:
        raise ValueError(
            f"Unrecognised checkpoint type: {path!r}. A PyTorch checkpoint is a .pth, .pt, .bin or .safetensors file."
        )
    return _unwrap(state, path)


def check_checkpoint_file(path, name=None):
    """Checks cheaply that `path` has the format its name (or `name`) promises.

    A `.safetensors` file must have a valid header, a `.pth`/`.pt`/`.bin`
    file must be a torch.save zip or pickle. Raises `ValueError` otherwise,
    e.g. for the HTML page a misconfigured mirror answers with.
    """
    name = os.fspath(name or path)
    if name.endswith(SAFETENSORS_SUFFIX):
        try:
            with safe_open(path, framework="numpy") as file:
                file.keys()
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"it is not a safetensors file ({error}{_looks_like_html(path)})") from error
    elif name.endswith(TORCH_SUFFIXES):
        if not (torch_zip.is_torch_zip(path) or _starts_like_a_pickle(path)):
            raise ValueError(f"it is not a PyTorch checkpoint{_looks_like_html(path)}")


def _starts_like_a_pickle(path):
    with open(path, "rb") as file:
        return file.read(1) == pickle.PROTO  # torch.save's format before PyTorch 1.6


def _looks_like_html(path):
    """A hint for the error message when `path` holds markup (a mirror's error page) rather than data."""
    with open(path, "rb") as file:
        start = file.read(64).lstrip()
    return "; it looks like a web page" if start.startswith(b"<") else ""


def _read_safetensors(path):
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path!r} is not a readable safetensors file ({error}).") from error


def _read_torch(path):
    with open(path, "rb") as file:
        magic = file.read(2)
    if magic == b"PK":  # the zip format of torch.save since PyTorch 1.6
        try:
            return torch_zip.load(path)
        except (zipfile.BadZipFile, KeyError, EOFError, pickle.UnpicklingError, ValueError) as error:
            raise ValueError(
                f"Could not read the PyTorch checkpoint {path!r}: {error}. The file is truncated "
                "or damaged; download it again."
            ) from error
    if not _starts_like_a_pickle(path):
        raise ValueError(
            f"{path!r} is not a PyTorch checkpoint (neither torch.save's zip format nor its older "
            f"pickle format{_looks_like_html(path)}). Check the path, or download the file again."
        )
    return _read_legacy_torch(path)


def _read_legacy_torch(path):
    """Pre-1.6 pickles need PyTorch itself; `weights_only=True` keeps it safe."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{path!r} is not a zip-format PyTorch checkpoint; reading it needs PyTorch: "
            "pip install 'swiftformer-keras[torch]'."
        ) from error
    # DeiT-style training scripts (the official one among them) store their
    # argparse.Namespace beside the weights; it is plain data.
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError...
        text = str(error)
        # torch's own message advises weights_only=False, i.e. running code
        # from the file; only the reason it gives is passed on.
        if "weights_only" in text:
            reason = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\.\s|\n\n|$)", text, re.S)
            detail = " ".join(reason.group(1).split()) if reason else "objects other than tensors"
            raise ValueError(
                f"{path!r} is an old-format PyTorch pickle that holds more than tensors ({detail}); it "
                "is not loaded, because that could run code from the file. If you trust it, load it with "
                "torch and save only its state dict: torch.save(state_dict, 'weights.pth')."
            ) from error
        raise ValueError(
            f"Could not read the PyTorch checkpoint {path!r}: {' '.join(text.split()) or type(error).__name__}. "
            "The file is truncated or damaged; download it again."
        ) from error


def _unwrap(state, path):
    for wrapper in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{path!r} holds no state dict (found {type(state).__name__}).")
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ValueError(f"{path!r}: key {key!r} is not a string; a state dict maps parameter names to tensors.")
        if hasattr(value, "detach"):  # a torch.Tensor
            value = value.detach().cpu().float().numpy() if value.is_floating_point() else value.numpy()
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path!r}: entry {key!r} is a {type(value).__name__}, not a tensor.")
        arrays[key] = value
    return arrays


def detect_layout(state):
    """Returns `"official"`, `"hf"` or `"timm"` from the checkpoint's key names."""
    keys = [k.removeprefix("module.") for k in state]
    if any(k.startswith("swiftformer.") for k in keys):
        return "hf"
    if any(k.startswith("stages.") for k in keys):
        return "timm"
    if any(k.startswith("network.") for k in keys):
        return "official"
    sample = ", ".join(sorted(state)[:3])
    raise ValueError(
        f"Not a SwiftFormer checkpoint: no official (network.*), Hugging Face "
        f"(swiftformer.*) or timm (stages.*) keys; first keys: {sample}."
    )


def to_canonical(state, layout):
    """Renames the keys of an official, Hugging Face or timm state dict to the
    canonical (official) layout.

    Raises `ValueError` naming the first key that does not have the shape of
    a SwiftFormer key in that layout.
    """
    renamed = {}
    for original, value in state.items():
        key = original.removeprefix("module.")
        if layout == "hf":
            key = key.removeprefix("swiftformer.")
            key = key.replace("patch_embed.patch_embedding.", "patch_embed.")
            key = re.sub(r"^encoder\.network\.(\d+)\.blocks\.", r"network.\1.", key)
            key = re.sub(r"^encoder\.network\.", "network.", key)
            key = key.replace("depth_wise_conv", "dwconv").replace("point_wise_conv", "pwconv")
        elif layout == "timm":
            key = re.sub(r"^stem\.", "patch_embed.", key)
            key = re.sub(r"^head_dist\.", "dist_head.", key)
            key = re.sub(r"\.(layer_scale(?:_[12])?)\.gamma$", r".\1", key)
            match = re.match(r"^stages\.(\d+)\.(blocks|downsample)\.(.*)$", key)
            if match:
                stage, part, rest = int(match.group(1)), match.group(2), match.group(3)
                key = f"network.{2 * stage}.{rest}" if part == "blocks" else f"network.{2 * stage - 1}.{rest}"
        elif layout != "official":
            raise ValueError(f"Unknown checkpoint layout {layout!r}.")
        key = key.replace("attn.Proj.", "attn.proj.")
        if not _CANONICAL_KEY.fullmatch(key):
            raise ValueError(
                f"Checkpoint entry {original!r} is not a SwiftFormer key of the {layout} layout (like "
                f"{_LAYOUT_EXAMPLES[layout]!r}); the file holds another model or is damaged."
            )
        if key in renamed:
            raise ValueError(f"Two checkpoint keys map to {key!r}; the file mixes layouts.")
        renamed[key] = value
    return renamed


def detect_architecture(canonical):
    """Returns `(depths, widths)` of a canonical state dict."""
    depths, widths = [], []
    for stage in range(4):
        prefix = f"network.{2 * stage}."
        blocks = {int(k[len(prefix) :].split(".")[0]) for k in canonical if k.startswith(prefix)}
        if not blocks:
            raise ValueError(f"The checkpoint has no blocks for stage {stage} ({prefix}*).")
        missing = sorted(set(range(max(blocks) + 1)) - blocks)
        if missing:
            raise ValueError(
                f"The checkpoint has block {max(blocks)} of stage {stage} but no entry "
                f"{f'{prefix}{missing[0]}.*'!r}; it is incomplete."
            )
        depths.append(max(blocks) + 1)
        candidates = (f"{prefix}0.norm.weight", f"{prefix}0.local_representation.norm.weight")
        key = next((k for k in candidates if k in canonical), None)
        if key is None:
            raise ValueError(
                f"The checkpoint has no entry {candidates[0]!r} (nor {candidates[1]!r}), which gives the "
                f"width of stage {stage}; it is incomplete."
            )
        if np.ndim(canonical[key]) != 1:
            raise ValueError(
                f"The checkpoint entry {key!r} has shape {np.shape(canonical[key])}; a BatchNorm weight is 1-D."
            )
        widths.append(int(np.shape(canonical[key])[0]))
    return tuple(depths), tuple(widths)


def keras_architecture(keras_state):
    """Returns `(depths, widths)` of a SwiftFormer from its `{keras variable path: array}`."""
    depths, widths = [], []
    for stage in range(4):
        blocks = {int(m.group(1)) for m in (re.match(rf"stage{stage}_block(\d+)/", p) for p in keras_state) if m}
        first = [
            v
            for p, v in keras_state.items()
            if re.fullmatch(rf"stage{stage}_block0/(?:local_representation/)?dwconv/bias", p)
        ]
        if not blocks or not first:
            raise ValueError(f"The Keras weights have no blocks for stage {stage} (stage{stage}_block*/).")
        depths.append(max(blocks) + 1)
        widths.append(int(np.shape(first[0])[0]))
    return tuple(depths), tuple(widths)


def _keras_module(canonical_module):
    """Maps a canonical module path (dots) to a Keras layer path (slashes)."""
    parts = canonical_module.split(".")
    if parts[0] == "patch_embed" and len(parts) == 2 and parts[1] in _STEM_MODULES:
        return "stem/" + _STEM_MODULES[parts[1]]
    if parts[0] == "network" and len(parts) >= 3:
        index = int(parts[1])
        if index % 2 == 0:
            return "/".join([f"stage{index // 2}_block{parts[2]}", *parts[3:]])
        return "/".join([f"downsample{(index + 1) // 2}", *parts[2:]])
    if canonical_module in ("head", "dist_head"):
        return f"classifier/{canonical_module}"
    if canonical_module == "norm":
        return "norm"
    return None


def _convert_tensor(module, param, value, key):
    """Transposes one tensor from PyTorch to Keras layout; returns (name, array)."""
    leaf = module.rsplit("/", 1)[-1]
    if param in ("layer_scale", "layer_scale_1", "layer_scale_2"):
        return "gamma", value.reshape(-1)
    if param == "w_g":
        return "w_g", value
    if leaf in _BATCH_NORM_MODULES:
        if param not in _BATCH_NORM_PARAMS:
            raise ValueError(f"Unexpected BatchNorm entry {key!r}.")
        return _BATCH_NORM_PARAMS[param], value
    if param == "bias":
        return "bias", value
    if param != "weight":
        raise ValueError(f"Unexpected checkpoint entry {key!r}.")
    if value.ndim == 4:
        if leaf == "dwconv":  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            return "kernel", value.transpose(2, 3, 0, 1)
        return "kernel", value.transpose(2, 3, 1, 0)  # (O, I, kh, kw) -> (kh, kw, I, O)
    if value.ndim == 2:
        if module.startswith("classifier/"):
            return "kernel", value.T  # Linear (O, I) -> Dense (I, O)
        return "kernel", value.T[None, None]  # Linear (O, I) -> 1x1 Conv2D (1, 1, I, O)
    raise ValueError(f"Unexpected shape {value.shape} for {key!r}.")


def canonical_to_keras(canonical):
    """Maps a canonical state dict onto `{keras variable path: array}`.

    `num_batches_tracked` counters are bookkeeping and are dropped; any other
    key that does not map raises a `ValueError` naming it.
    """
    state = {}
    for key, value in canonical.items():
        if key.endswith("num_batches_tracked"):
            continue
        module_key, param = key.rsplit(".", 1)
        module = _keras_module(module_key)
        if module is None:
            raise ValueError(f"Checkpoint entry {key!r} has no counterpart in the Keras model.")
        if param.startswith("layer_scale"):
            module = f"{module}/{param}"
        name, array = _convert_tensor(module, param, np.asarray(value, dtype=np.float32), key)
        state[f"{module}/{name}"] = np.ascontiguousarray(array)
    return state


def keras_to_checkpoint(keras_state, template):
    """The inverse of `canonical_to_keras`: a PyTorch state dict shaped like `template`.

    Args:
        keras_state: `{keras variable path: array}` of a SwiftFormer.
        template: a state dict of the PyTorch model to fill (any layout,
            e.g. `transformers_model.state_dict()`); only its keys and
            shapes are used.

    Returns:
        `{key: float32 array}` for every tensor of `template` (its
        `num_batches_tracked` counters copied as they are).

    Raises:
        ValueError: a template tensor has no Keras variable, or a Keras
            variable is left over: the two models differ.
    """
    layout = detect_layout(template)
    result, used = {}, set()
    for key, value in template.items():
        if key.endswith("num_batches_tracked"):
            result[key] = np.asarray(value)
            continue
        shape = tuple(value.shape)
        (canonical_key,) = to_canonical({key: None}, layout)
        # The forward mapping applied to element indices says where each
        # element of the Keras array goes, so the inverse cannot drift from it.
        ((path, positions),) = canonical_to_keras({canonical_key: np.arange(np.prod(shape)).reshape(shape)}).items()
        if path not in keras_state:
            raise ValueError(f"The Keras model has no variable {path!r} for the checkpoint entry {key!r}.")
        array = np.asarray(keras_state[path], dtype=np.float32)
        if array.shape != positions.shape:
            raise ValueError(
                f"{path!r} has shape {array.shape} in the Keras model but the checkpoint entry {key!r} "
                f"needs {positions.shape}: the two models differ."
            )
        flat = np.empty(array.size, np.float32)
        flat[positions.ravel().astype(np.int64)] = array.ravel()
        result[key] = flat.reshape(shape)
        used.add(path)
    unused = sorted(set(keras_state) - used)
    if unused:
        raise ValueError(
            f"{len(unused)} Keras variables have no place in the checkpoint, first {unused[0]!r}: "
            "the two models differ."
        )
    return result


def load_torch_checkpoint(path):
    """Reads a PyTorch checkpoint of any layout.

    Returns `(keras_state, layout, (depths, widths))`.
    """
    raw = read_state_dict(path)
    layout = detect_layout(raw)
    canonical = to_canonical(raw, layout)
    architecture = detect_architecture(canonical)
    return canonical_to_keras(canonical), layout, architecture
