"""Where a run resumes, read from a run folder alone (resumed runs: test_train.py)."""

import os

import pytest

from swiftformer_keras.training import resume


def _fake_run(folder, complete_epochs=(1, 2), incomplete_epochs=(3,)):
    """A run folder's checkpoints (empty files) and metrics, for the resume logic alone."""
    checkpoints = folder / "checkpoints"
    for epoch in (*complete_epochs, *incomplete_epochs):
        names = ("model.weights.h5", "optimizer.npz") if epoch in complete_epochs else ("model.weights.h5",)
        os.makedirs(checkpoints / f"epoch-{epoch:04d}")
        for name in names:
            (checkpoints / f"epoch-{epoch:04d}" / name).write_bytes(b"")
    rows = "epoch,loss,val_top1\n0,1.5,0.3\n1,1.2,0.6\n2,1.1,0.5\n"
    (folder / "metrics.csv").write_text(rows)
    return checkpoints / "state.json"


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "is missing"),
        ("", "is not valid JSON"),
        ('{"epoch": 2, "checkp', "is not valid JSON"),
        ('{"epoch": 2}', "does not name"),
        ('"epoch-0002"', "does not name"),
        ('{"epoch": 3, "checkpoint": "epoch-0003", "best_val_top1": 0.5}', "not an intact checkpoint"),
        ('{"epoch": 4, "checkpoint": "epoch-0004", "best_val_top1": 0.5}', "not an intact checkpoint"),
    ],
)
def test_a_broken_state_file_falls_back_to_the_newest_intact_checkpoint(tmp_path, capsys, content, problem):
    state = _fake_run(tmp_path)
    if content is not None:
        state.write_text(content)
    point = resume.resume_point(str(tmp_path))
    assert point == {"epoch": 2, "checkpoint": "epoch-0002", "best_val_top1": 0.6}
    printed = capsys.readouterr().out
    assert str(state) in printed and problem in printed and "epoch-0002" in printed


def test_a_broken_state_file_without_any_checkpoint_is_a_clear_error(tmp_path):
    state = _fake_run(tmp_path, complete_epochs=())
    state.write_text('{"epoch": 2}')
    with pytest.raises(ValueError, match=f"{state}.*no intact checkpoint.*new --output folder"):
        resume.resume_point(str(tmp_path))
    state.unlink()
    assert resume.resume_point(str(tmp_path)) is None  # nothing to resume: a fresh run
