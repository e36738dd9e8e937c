"""Calibration images: found recursively, non-images counted, preprocessed as at inference."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from swiftformer_keras.lite import calibration as calib
from swiftformer_keras.utils.images import load_image, preprocess_input


def _photo(path, size=(48, 40), seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = np.random.default_rng(seed).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    made = [
        _photo(str(root / "a.jpg"), seed=1),
        _photo(str(root / "nested" / "deeper" / "b.PNG"), seed=2),
        _photo(str(root / "nested" / "c.jpeg"), seed=3),
    ]
    (root / "notes.txt").write_text("not an image")
    (root / "nested" / "labels.csv").write_text("a,b")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / ".hidden.jpg").write_bytes(b"")
    return root, made


def test_find_images_is_recursive_sorted_and_counts_other_files(photos):
    root, made = photos
    paths, skipped = calib.find_images(root)
    assert [os.path.relpath(p, root) for p in paths] == [
        "a.jpg",
        "broken.jpg",
        os.path.join("nested", "c.jpeg"),
        os.path.join("nested", "deeper", "b.PNG"),
    ]
    assert skipped == 2  # notes.txt and labels.csv; hidden files are ignored


def test_load_images_matches_the_inference_transform_and_skips_unreadable_by_name(photos, capsys):
    root, made = photos
    paths, _ = calib.find_images(root)
    images, kept, unreadable = calib.load_images(paths, (32, 32), crop_pct=0.875)
    assert list(unreadable) == [str(root / "broken.jpg")] and str(root / "broken.jpg") not in kept
    assert "cannot identify image file" in unreadable[str(root / "broken.jpg")]
    assert capsys.readouterr().err.count(f"warning: skipped an unreadable image: {root / 'broken.jpg'}: ") == 1
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.float32
    expected = preprocess_input(load_image(kept[0], 32, resize=round(32 / 0.875)))
    np.testing.assert_allclose(images[0], expected, atol=1e-6)
    # crop_pct=1.0: the shorter side is resized straight to the input size.
    full, _, _ = calib.load_images(kept[:1], (32, 32), crop_pct=1.0)
    np.testing.assert_allclose(full[0], preprocess_input(load_image(kept[0], 32, resize=32)), atol=1e-6)
    with pytest.raises(ValueError, match="crop_pct"):
        calib.load_images(kept, (32, 32), crop_pct=1.5)


def test_sample_images_is_seeded_and_reports_what_it_used(photos):
    root, _ = photos
    first, info = calib.sample_images(root, 10, (32, 32), seed=3)
    again, _ = calib.sample_images(root, 10, (32, 32), seed=3)
    np.testing.assert_array_equal(first, again)
    used = info.pop("paths")
    assert {**info, "unreadable": list(info["unreadable"])} == {
        "found": 4,
        "used": 3,
        "non_image_files": 2,
        "unreadable": [str(root / "broken.jpg")],
    }
    # The images returned, in their order: each one is the file it names.
    assert len(used) == 3 and str(root / "broken.jpg") not in used
    np.testing.assert_array_equal(first, calib.load_images(used, (32, 32))[0])
    two, info = calib.sample_images(root, 2, (32, 32), seed=3)
    assert len(two) + len(info["unreadable"]) == 2


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a directory"):
        calib.find_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    message = r"holds no \.jpg/\.jpeg/\.png/\.bmp/\.gif/\.webp files \(1 other files skipped\)"
    with pytest.raises(ValueError, match=message):
        calib.find_images(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"junk")
    with pytest.raises(ValueError, match="could be read"):
        calib.sample_images(tmp_path / "bad", 5, (32, 32))
    with pytest.raises(ValueError, match="at least 1"):
        calib.sample_images(tmp_path / "bad", 0, (32, 32))


def test_random_images_are_seeded_noise_of_the_right_shape():
    noise = calib.random_images(3, (64, 32), seed=1)
    assert noise.shape == (3, 64, 32, 3) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, calib.random_images(3, (64, 32), seed=1))
    assert abs(float(noise.std()) - 1.0) < 0.05


def test_truncated_oversized_and_16_bit_images_in_a_calibration_folder(tmp_path, monkeypatch):
    from swiftformer_keras.utils import images as imagenet_utils

    root = tmp_path / "calib"
    good = _photo(str(root / "good.jpg"), size=(64, 64))
    buffer = io.BytesIO()
    Image.open(good).save(buffer, "JPEG")
    (root / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    Image.new("RGB", (400, 400), (10, 20, 30)).save(root / "huge.png")
    Image.fromarray(np.full((64, 64), 30000, np.uint16)).save(root / "gray16.png")
    # A small threshold stands in for a real decompression bomb (which would take ~1 GB).
    monkeypatch.setattr(imagenet_utils, "MAX_IMAGE_PIXELS", 300 * 300)
    paths, _ = calib.find_images(root)
    images, kept, unreadable = calib.load_images(paths, (32, 32), crop_pct=1.0)
    assert sorted(os.path.basename(p) for p in unreadable) == ["huge.png", "truncated.jpg"]
    assert sorted(os.path.basename(p) for p in kept) == ["good.jpg", "gray16.png"]
    gray = images[[os.path.basename(p) for p in kept].index("gray16.png")]
    # 30000 of 65535 is mid-grey (117 of 255), not white.
    np.testing.assert_allclose(gray, preprocess_input(np.full((32, 32, 3), 117, np.uint8)), atol=1e-5)


def test_a_folder_of_symlinked_folders_is_followed_once(photos, tmp_path):
    root, _ = photos
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "photos").symlink_to(root, target_is_directory=True)
    (linked / "loop").symlink_to(linked, target_is_directory=True)  # a link to its own parent
    paths, _ = calib.find_images(linked)
    direct, _ = calib.find_images(root)
    assert [os.path.basename(p) for p in paths] == [os.path.basename(p) for p in direct]
    assert all(p.startswith(str(linked / "photos")) for p in paths)


@pytest.mark.parametrize(
    "layout, names, expected",
    [
        ({"cat": 2, "dog": 1}, ["airplane", "cat", "dog"], [1, 1, 2]),  # matched by name, not numbered 0, 0, 1
        ({"cat": 1, "dog": 1, "n01": 1}, None, None),  # no names: 3 folders for 2 classes cannot be numbered
        ({"b": 1, "a": 1}, None, [0, 1]),  # no names, one folder per class: sorted, as training numbers them
        ({"n02": 1, "n01": 1}, ["tench", "goldfish"], [0, 1]),  # no folder is a name (wnids): numbered
    ],
)
def test_class_folders_are_matched_to_the_models_class_names(tmp_path, layout, names, expected):
    paths = []
    for folder, count in layout.items():
        (tmp_path / folder).mkdir()
        for index in range(count):
            paths.append(str(tmp_path / folder / f"{index}.png"))
            open(paths[-1], "wb").close()
    labels = calib.class_labels(sorted(paths), tmp_path, names, num_classes=len(names) if names else 2)
    assert (labels is None and expected is None) or labels.tolist() == expected


def test_class_folders_that_are_partly_not_class_names_are_refused(tmp_path):
    for folder in ("cat", "kitten"):
        (tmp_path / folder).mkdir()
        open(tmp_path / folder / "0.png", "wb").close()
    with pytest.raises(ValueError, match=r"The class folders \['kitten'\] .* are not class names of the model"):
        calib.class_labels(
            [str(tmp_path / "cat" / "0.png"), str(tmp_path / "kitten" / "0.png")], tmp_path, ["airplane", "cat"], 2
        )
