"""A fresh run sets aside only a folder of face_vae's own checkpoints; a damaged checkpoint is one sentence."""

from pathlib import Path

import pytest

from face_vae import cli
from tests.conftest import FAST_TRAIN, error_line

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false", "data.image_size=32"]


def test_a_folder_of_the_users_is_refused_before_any_work_and_left_where_it_is(workdir, capsys):
    mine = workdir / "mydocs"
    mine.mkdir()
    (mine / "thesis.txt").write_text("three years")
    line = error_line(capsys, "train", [*NO_TRACKING, "checkpoints_dir=mydocs"])
    assert "checkpoints_dir=mydocs holds files that are not a face_vae run's (thesis.txt)" in line
    assert "Nothing was moved." in line
    assert (mine / "thesis.txt").read_text() == "three years"
    assert sorted(path.name for path in workdir.iterdir()) == ["mydocs"], "no data prepared, nothing moved"


@pytest.mark.parametrize("where", [".", "..", "/"])
def test_the_current_folder_and_those_above_it_are_refused(workdir, capsys, where):
    line = error_line(capsys, "train", [*NO_TRACKING, f"checkpoints_dir={where}"])
    assert f"checkpoints_dir={where} is the current folder or holds it" in line


def test_earlier_runs_are_set_aside_under_names_that_never_collide(workdir, capsys):
    cli.run("train", NO_TRACKING)
    stamp = (workdir / "checkpoints" / "run.json").read_text()
    taken = workdir / f"checkpoints.previous-{__import__('json').loads(stamp)['started']}"
    taken.mkdir()  # the name the earlier run would be set aside under is taken
    (taken / "keep.txt").write_text("kept")
    cli.run("train", NO_TRACKING)
    assert (taken / "keep.txt").read_text() == "kept"
    aside = [path for path in workdir.glob("checkpoints.previous-*") if path != taken]
    assert len(aside) == 1 and (aside[0] / "run.json").read_text() == stamp
    assert "moved them to" in capsys.readouterr().err


@pytest.mark.parametrize("name, content", [("last.ckpt", b"garbage bytes, not a zip"), ("best.ckpt", None)])
def test_a_damaged_checkpoint_is_one_sentence_saying_which_file_and_what_to_do(workdir, capsys, name, content):
    cli.run("train", NO_TRACKING)
    path = workdir / "checkpoints" / name
    path.write_bytes(content if content is not None else path.read_bytes()[: path.stat().st_size // 2])
    line = error_line(capsys, "train", [*NO_TRACKING, "resume=true", "trainer.max_epochs=2"])
    assert line.startswith(f"error: checkpoints/{name} is damaged (truncated or overwritten") and "resume=false" in line


def test_a_damaged_checkpoint_names_the_earlier_run_that_can_be_resumed(workdir, capsys):
    cli.run("train", NO_TRACKING)
    cli.run("train", NO_TRACKING)  # the first run is set aside
    (workdir / "checkpoints" / "last.ckpt").write_bytes(b"\x00" * 100)
    earlier = next(Path(workdir).glob("checkpoints.previous-*")).name
    line = error_line(capsys, "train", [*NO_TRACKING, "resume=true", "trainer.max_epochs=2"])
    assert f"checkpoints_dir={earlier} resume=true" in line


def test_every_problem_found_before_training_is_reported_at_once(workdir, capsys):
    (workdir / "mydocs").mkdir()
    (workdir / "mydocs" / "thesis.txt").write_text("three years")
    (workdir / "models" / "vae.pt").mkdir(parents=True)  # a folder where the model file should go
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        cli.run("train", [*NO_TRACKING, "checkpoints_dir=mydocs", "model_file=models/vae.pt"])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and "Traceback" not in err
    assert "error: 2 problems, nothing was run:" in err
    assert "- model_file=models/vae.pt is a folder" in err
    assert "- checkpoints_dir=mydocs holds files that are not a face_vae run's (thesis.txt)" in err
    assert sorted(path.name for path in workdir.iterdir()) == ["models", "mydocs"], "nothing prepared"


def test_another_projects_lightning_checkpoints_are_refused_and_left_where_they_are(workdir, capsys):
    theirs = workdir / "lightning_logs"
    theirs.mkdir()
    for name in ("epoch=3-step=100.ckpt", "last.ckpt"):
        (theirs / name).write_bytes(b"their weights")
    line = error_line(capsys, "train", [*NO_TRACKING, "checkpoints_dir=lightning_logs"])
    assert "checkpoints_dir=lightning_logs holds checkpoints that no face_vae run recorded" in line
    assert "Nothing was moved." in line
    assert sorted(path.name for path in workdir.iterdir()) == ["lightning_logs"]
    assert (theirs / "last.ckpt").read_bytes() == b"their weights"


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", '{"started": 3}'])
def test_a_damaged_run_json_is_one_sentence_for_a_fresh_run_and_for_resume(workdir, capsys, content):
    cli.run("train", NO_TRACKING)
    (workdir / "checkpoints" / "run.json").write_text(content)
    line = error_line(capsys, "train", NO_TRACKING)
    assert "checkpoints/run.json is damaged" in line and "Nothing was moved." in line
    line = error_line(capsys, "train", [*NO_TRACKING, "resume=true"])
    assert "checkpoints/run.json is damaged" in line and "without resume=true" in line


def test_earlier_runs_set_aside_are_kept_within_the_bound_and_each_deletion_is_said(workdir, capsys):
    (workdir / "checkpoints.previous-19990101-000000").mkdir()  # not a run's folder: never deleted
    (workdir / "checkpoints.previous-19990101-000000" / "notes.txt").write_text("mine")
    for _ in range(4):
        cli.run("train", [*NO_TRACKING, "keep_previous_runs=2"])
    aside = sorted(path.name for path in workdir.glob("checkpoints.previous-*"))
    assert len(aside) == 3 and "checkpoints.previous-19990101-000000" in aside, "the newest 2 runs and the user's"
    assert capsys.readouterr().err.count("beyond keep_previous_runs=2") == 1
