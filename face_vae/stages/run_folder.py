"""A training run's checkpoints folder: which run it belongs to (run.json), what resuming it may change, and how
a fresh run moves an earlier one aside. Only files a face_vae run writes are ever moved."""

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import file_guards
from face_vae.callbacks.checkpoints import RunIdentity
from face_vae.core.config import compose, flat_values, words_given
from face_vae.core.errors import UserError, listed

log = logging.getLogger(__name__)
RUN_ID_FILE = "mlflow_run_id.txt"
UNSENT_METRICS_FILE = "unsent_metrics.jsonl"  # kept while the MLflow server does not answer
IDENTITY_FILE = "run.json"  # which run the checkpoints belong to: every checkpoint records the same id
RUN_CONFIG_FILE = "run_config.yaml"  # the resolved config of the run that writes the checkpoints
RESUMES_FILE = "resumes.txt"
CHOICES_FILE = (
    "run_choices.json"  # the group options the run chose (data=folder, model/prior=normal): resume reuses them
)
RUN_FILES = {IDENTITY_FILE, RUN_CONFIG_FILE, RUN_ID_FILE, UNSENT_METRICS_FILE, RESUMES_FILE, CHOICES_FILE}
# Not taken from the saved config on resume: this machine's (runtime), the stores' URIs (masked there: their
# credentials come with this call) and this call's own switches.
NOT_RESTORED = ("runtime", "tracking.uri", "tracking.local_uri", "debug", "resume", "force")
FIXED_ON_RESUME = ("model", "data", "seed")  # what the weights, the optimiser state and the data order depend on
SPEED_ONLY = {"model.compile", "data.num_workers"}  # may change on resume
GROUP_NAMES = {"data", "model", "model/prior", "model/net", "callbacks", "tracking", "storage", "runtime", "trainer"}


def foreign_files(checkpoints_dir: Path) -> str | None:
    """Why a fresh run may not use `checkpoints_dir` (it sets the folder aside whole, and a user's folder is not
    ours to move), or None: it must be empty, new, or hold only a face_vae run's files."""
    try:
        file_guards.refuse_current_or_above(checkpoints_dir, "checkpoints_dir")
    except UserError as error:
        return str(error)
    folder = Path(os.path.abspath(checkpoints_dir))
    if folder.exists() and not folder.is_dir():
        return f"checkpoints_dir={checkpoints_dir} is a file: choose a folder, e.g. checkpoints_dir=checkpoints."
    foreign = sorted(path.name for path in folder.iterdir() if not _a_run_file(path.name)) if folder.is_dir() else []
    if foreign:
        return (
            f"checkpoints_dir={checkpoints_dir} holds files that are not a face_vae run's ({listed(foreign)}), and a "
            "fresh run sets that folder aside: choose an empty or new checkpoints_dir. Nothing was moved."
        )
    checkpoints = sorted(path.name for path in folder.glob("*.ckpt")) if folder.is_dir() else []
    if checkpoints and (folder / IDENTITY_FILE).is_file() and not read_identity(folder):
        return (
            f"{checkpoints_dir}/{IDENTITY_FILE} is damaged (not the JSON a face_vae run writes), so the checkpoints "
            "beside it cannot be told from another project's: move that folder away or choose another "
            "checkpoints_dir. Nothing was moved."
        )
    if checkpoints and not read_identity(folder):
        return (
            f"checkpoints_dir={checkpoints_dir} holds checkpoints that no face_vae run recorded "
            f"({listed(checkpoints)}, no {IDENTITY_FILE} beside them: another project's?), and a fresh run sets "
            "that folder aside: choose an empty or new checkpoints_dir. Nothing was moved."
        )
    return None


def _a_run_file(name: str) -> bool:
    """A file a face_vae run writes in its checkpoints folder (checkpoints, the run's files, their temp copies)."""
    return name in RUN_FILES or name.endswith((".ckpt", ".ckpt.tmp")) or (name.startswith(".") and ".tmp" in name)


def set_aside_earlier_run(checkpoints_dir: Path, keep: int) -> None:
    """Move the checkpoints of an earlier run out of the way of a fresh one: left in place, they would look like
    this run's, and resume=true would continue them under this run's config. Of the folders set aside, the newest
    `keep` stay; older ones are deleted, each named (only folders a face_vae run wrote)."""
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
    _remove_beyond(folder, keep)


def _remove_beyond(folder: Path, keep: int) -> None:
    """Delete the set-aside runs of `folder` beyond the newest `keep` (by when each run started); a folder that
    holds anything a run does not write, or no run.json, is left alone."""
    ours = [
        aside
        for aside in folder.parent.glob(f"{folder.name}.previous-*")
        if aside.is_dir() and read_identity(aside) and all(_a_run_file(path.name) for path in aside.iterdir())
    ]
    ours.sort(key=lambda aside: (read_identity(aside).get("started", ""), aside.stat().st_mtime), reverse=True)
    for old in ours[keep:]:
        shutil.rmtree(old)
        log.warning("Deleted %s, an earlier run's checkpoints beyond keep_previous_runs=%d.", old, keep)


def identity(checkpoints_dir: Path) -> dict[str, str]:
    """This run's identity: the one checkpoints_dir/run.json records (resume), or a new one (written with the
    run's files when fitting starts)."""
    return read_identity(checkpoints_dir) or {"run": uuid.uuid4().hex, "started": time.strftime("%Y%m%d-%H%M%S")}


def read_identity(checkpoints_dir: Path) -> dict[str, str]:
    """What checkpoints_dir/run.json says ({} when it is absent or unreadable)."""
    try:
        recorded = json.loads((checkpoints_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    ok = isinstance(recorded, dict) and isinstance(recorded.get("run"), str)
    return {key: str(value) for key, value in recorded.items()} if ok else {}


def resume_checkpoint(checkpoints_dir: Path) -> str:
    """checkpoints_dir/last.ckpt, when it was written by the run the folder describes (run.json)."""
    last = checkpoints_dir / "last.ckpt"
    if not last.is_file():
        raise UserError(f"resume=true but there is no {last}: train without resume=true first.")
    written_by = read_checkpoint(last).get(RunIdentity.KEY, {}).get("run")
    if (checkpoints_dir / "best.ckpt").is_file():  # read at the end of the run: a damaged one would cost the run
        read_checkpoint(checkpoints_dir / "best.ckpt")
    described = read_identity(checkpoints_dir).get("run")
    if described is None and (checkpoints_dir / IDENTITY_FILE).exists():
        raise UserError(
            f"{checkpoints_dir / IDENTITY_FILE} is damaged (not the JSON a face_vae run writes), so {last} cannot be "
            "told from another run's: move that folder away and train from scratch without resume=true."
        )
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


def group_choices(words: list[str]) -> list[str]:
    """The words among `words` that choose a group's option (`data=folder`, `model/prior=normal`, `trainer=gpu`)."""
    return [word for word in words if "=" in word and word.split("=", 1)[0] in GROUP_NAMES]


def with_saved_config(cfg: DictConfig, checkpoints_dir: Path) -> DictConfig:
    """The config of the run `checkpoints_dir` holds (its run_config.yaml and group choices), with only the values
    given on this command line over it: `train resume=true` needs no other word. A given value that the run cannot
    change (model, data, seed) is refused afterwards by `changes_on_resume`, which names it."""
    saved_file = checkpoints_dir / RUN_CONFIG_FILE
    if not saved_file.is_file():
        return cfg  # changes_on_resume says what is missing
    given = words_given("train")
    chosen_here = {word.split("=", 1)[0] for word in group_choices(given)}
    try:
        choices = [word for word in json.loads((checkpoints_dir / CHOICES_FILE).read_text()) if isinstance(word, str)]
    except (OSError, ValueError, TypeError):
        choices = []  # a folder written before the choices were kept: the defaults
    restored = compose("train", [*[word for word in choices if word.split("=", 1)[0] not in chosen_here], *given])
    set_here = [word.split("=", 1)[0].lstrip("+~").replace("/", ".") for word in given if "=" in word]
    for key, value in flat_values(OmegaConf.load(saved_file)).items():
        if any(key == done or key.startswith(f"{done}.") for done in (*NOT_RESTORED, *set_here)):
            continue
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(restored, parent_key, default=None) if parent_key else restored
        if not isinstance(parent, DictConfig) or leaf not in parent:
            continue
        if not OmegaConf.is_interpolation(parent, leaf):  # one that follows another key (`${checkpoints_dir}`) stays so
            OmegaConf.update(restored, key, value, merge=False)
    log.info("resume=true: continuing with the config saved in %s, and the values given here.", saved_file)
    return restored


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
