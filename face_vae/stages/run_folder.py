"""A training run's checkpoints folder: which run it belongs to (run.json), what resuming it may change, and how
a fresh run moves an earlier one aside. Only files a face_vae run writes are ever moved."""

import json
import logging
import os
import time
import uuid
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import atomic
from face_vae.callbacks.checkpoints import RunIdentity
from face_vae.config import flat_values
from face_vae.errors import UserError, listed

log = logging.getLogger(__name__)
RUN_ID_FILE = "mlflow_run_id.txt"
UNSENT_METRICS_FILE = "unsent_metrics.jsonl"  # kept while the MLflow server does not answer
IDENTITY_FILE = "run.json"  # which run the checkpoints belong to: every checkpoint records the same id
RUN_CONFIG_FILE = "run_config.yaml"  # the resolved config of the run that writes the checkpoints
RESUMES_FILE = "resumes.txt"
RUN_FILES = {IDENTITY_FILE, RUN_CONFIG_FILE, RUN_ID_FILE, UNSENT_METRICS_FILE, RESUMES_FILE}
FIXED_ON_RESUME = ("model", "data", "seed")  # what the weights, the optimiser state and the data order depend on
SPEED_ONLY = {"model.compile", "data.num_workers"}  # may change on resume


def foreign_files(checkpoints_dir: Path) -> str | None:
    """Why a fresh run may not use `checkpoints_dir` (it sets the folder aside whole, and a user's folder is not
    ours to move), or None: it must be empty, new, or hold only a face_vae run's files."""
    try:
        atomic.refuse_current_or_above(checkpoints_dir, "checkpoints_dir")
    except UserError as error:
        return str(error)
    folder = Path(os.path.abspath(checkpoints_dir))
    if folder.exists() and not folder.is_dir():
        return f"checkpoints_dir={checkpoints_dir} is a file: choose a folder, e.g. checkpoints_dir=checkpoints."
    foreign = sorted(path.name for path in folder.iterdir() if not _a_run_file(path.name)) if folder.is_dir() else []
    if not foreign:
        return None
    return (
        f"checkpoints_dir={checkpoints_dir} holds files that are not a face_vae run's ({listed(foreign)}), and a "
        "fresh run sets that folder aside: choose an empty or new checkpoints_dir. Nothing was moved."
    )


def _a_run_file(name: str) -> bool:
    """A file a face_vae run writes in its checkpoints folder (checkpoints, the run's files, their temp copies)."""
    return name in RUN_FILES or name.endswith((".ckpt", ".ckpt.tmp")) or (name.startswith(".") and ".tmp" in name)


def set_aside_earlier_run(checkpoints_dir: Path) -> None:
    """Move the checkpoints of an earlier run out of the way of a fresh one (nothing is deleted): left in place,
    they would look like this run's, and resume=true would continue them under this run's config."""
    if not checkpoints_dir.is_dir() or not any(checkpoints_dir.iterdir()):
        return
    earlier = read_identity(checkpoints_dir)
    stamp = earlier.get("started") or time.strftime("%Y%m%d-%H%M%S", time.localtime(checkpoints_dir.stat().st_mtime))
    folder = Path(os.path.abspath(checkpoints_dir))
    aside = folder.with_name(f"{folder.name}.previous-{stamp}")
    for number in range(2, 1000):  # a name taken by an earlier set-aside run gets a number
        if not aside.exists():
            break
        aside = folder.with_name(f"{folder.name}.previous-{stamp}-{number}")
    checkpoints_dir.rename(aside)
    log.warning(
        "%s held an earlier run's checkpoints: moved them to %s (resume that run with checkpoints_dir=%s "
        "resume=true).",
        checkpoints_dir,
        aside,
        aside,
    )


def identity(checkpoints_dir: Path) -> dict[str, str]:
    """This run's identity: the one checkpoints_dir/run.json records (resume), or a new one (written with the
    run's files when fitting starts)."""
    return read_identity(checkpoints_dir) or {"run": uuid.uuid4().hex, "started": time.strftime("%Y%m%d-%H%M%S")}


def read_identity(checkpoints_dir: Path) -> dict[str, str]:
    """What checkpoints_dir/run.json says ({} when it is absent or unreadable)."""
    try:
        return json.loads((checkpoints_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return {}


def resume_checkpoint(checkpoints_dir: Path) -> str:
    """checkpoints_dir/last.ckpt, when it was written by the run the folder describes (run.json)."""
    last = checkpoints_dir / "last.ckpt"
    if not last.is_file():
        raise UserError(f"resume=true but there is no {last}: train without resume=true first.")
    written_by = read_checkpoint(last).get(RunIdentity.KEY, {}).get("run")
    if (checkpoints_dir / "best.ckpt").is_file():  # read at the end of the run: a damaged one would cost the run
        read_checkpoint(checkpoints_dir / "best.ckpt")
    described = read_identity(checkpoints_dir).get("run")
    if written_by != described:
        writer = f"run {written_by}" if written_by else "a run that recorded no identity"
        raise UserError(
            f"{last} was written by {writer}, not by run {described} that {checkpoints_dir / IDENTITY_FILE} "
            "describes: resume from the folder that run wrote, or train from scratch without resume=true."
        )
    log.info("Resuming from %s.", last)
    return str(last)


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents; a damaged file (truncated, overwritten) said in one sentence with what to do."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise ValueError("no weights in it")
        return checkpoint
    except Exception as error:  # pylint: disable=broad-exception-caught  # torch.load raises many kinds here
        earlier = sorted(Path(path).parent.parent.glob(f"{Path(path).parent.name}.previous-*"))
        other = f", or resume an earlier run with checkpoints_dir={earlier[-1]} resume=true" if earlier else ""
        raise UserError(
            f"{path} is damaged (truncated or overwritten: it is not a readable checkpoint): start fresh with "
            f"resume=false (the folder is set aside, nothing is deleted){other}."
        ) from error


def check_same_architecture(checkpoint_path: str, module: L.LightningModule) -> None:
    """Refuse to resume from a checkpoint of another architecture, naming the weights that differ."""
    saved = read_checkpoint(Path(checkpoint_path))["state_dict"]
    wanted = module.state_dict()
    differ = sorted(
        name
        for name in saved.keys() | wanted.keys()
        if name not in saved or name not in wanted or saved[name].shape != wanted[name].shape
    )
    if differ:
        raise UserError(
            f"{checkpoint_path} was trained with another model config ({listed(differ, 4)} differ): resume with the "
            "config it was trained with, or train from scratch without resume=true."
        )


def changes_on_resume(cfg: DictConfig, checkpoints_dir: Path) -> str:
    """Refuse to resume with other model, data or seed values than the run that wrote the checkpoint;
    return the other values that changed (epochs, precision, ...) as 'key: old -> new; ...'."""
    saved_file = checkpoints_dir / RUN_CONFIG_FILE
    if not saved_file.is_file():
        raise UserError(f"resume=true but there is no {saved_file} (the run's config): train without resume=true.")
    saved, now = flat_values(OmegaConf.load(saved_file)), flat_values(cfg)
    changed = {key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key)}
    fixed = sorted(key for key in changed if key.split(".")[0] in FIXED_ON_RESUME and key not in SPEED_ONLY)
    if fixed:
        shown = ", ".join(f"{key}={saved.get(key)!r} (now {now.get(key)!r})" for key in fixed[:3])
        raise UserError(
            f"resume=true continues a run trained with {shown}{' and more' if len(fixed) > 3 else ''}: resume with "
            "the same model, data and seed values, or train from scratch without resume=true."
        )
    return "; ".join(f"{key}: {saved.get(key)} -> {now.get(key)}" for key in sorted(changed) if key != "resume")


def count_resume(checkpoints_dir: Path) -> int:
    """How many times this run has been resumed, this time included (counted in a file beside the checkpoints)."""
    counter = checkpoints_dir / RESUMES_FILE
    count = int(counter.read_text()) + 1 if counter.is_file() else 1
    counter.write_text(str(count))
    return count


def read_run_id(checkpoints_dir: Path) -> str | None:
    """The MLflow run that wrote the checkpoints, so that a resumed run logs into it."""
    path = checkpoints_dir / RUN_ID_FILE
    return path.read_text().strip() if path.is_file() else None
