"""The parts of the fit (the runs themselves: test_train.py)."""

import keras
import numpy as np

from conftest import make_reference, write_checkpoint
from swiftformer_keras.training import loop
from swiftformer_keras.training.config import TrainConfig


def test_fine_tuning_keeps_the_backbone_and_makes_a_new_head(small_cifar, tmp_path):
    reference = make_reference("XS", "l2")
    checkpoint = write_checkpoint(reference, "official", str(tmp_path))
    config = TrainConfig(data=small_cifar[0], output=str(tmp_path / "run"), weights=checkpoint, variant="XS")
    student = loop.build_student(config, classes=4)
    stem = reference.state_dict()["swiftformer.patch_embed.patch_embedding.0.weight"].numpy()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(student.get_layer("stem").conv1.kernel), stem.transpose(2, 3, 1, 0)
    )
    assert student.output_shape == (None, 4)


def test_precision_auto_is_float32_on_the_cpu():
    assert loop._dtype_policy("auto") == "float32"
    assert loop._dtype_policy("bfloat16") == "mixed_bfloat16"
