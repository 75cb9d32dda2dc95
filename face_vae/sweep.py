"""`train -m key=a,b other=c,d`: Hydra's sweep grammar under the compose API, one training per combination.

Each combination is composed first (a bad value in any stops the sweep before the first run), then trained in
turn with its own model file and checkpoints under `sweeps/<stamp>/<number>/`, as a child run under one parent
MLflow run. At the end a table ranks the runs by their best validation loss and names the best.
"""

import itertools
import logging
import sys
import time
from pathlib import Path

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf

from face_vae.config import compose
from face_vae.errors import UserError

log = logging.getLogger(__name__)


def combinations(overrides: list[str]) -> list[list[str]]:
    """Every combination of the sweep's values (`key=a,b`, `key=range(1,4)`, `key=choice(a,b)`), as override lists."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise UserError(f"Bad sweep override: {str(error).strip().splitlines()[0]}") from error
    choices = [
        (
            [f"{item.get_key_element()}={value}" for value in item.sweep_string_iterator()]
            if item.is_sweep_override()
            else [item.input_line]
        )
        for item in parsed
    ]
    return [list(combination) for combination in itertools.product(*choices)]


def run_sweep(overrides: list[str], run_one) -> None:
    """Train each combination of `overrides` with `run_one(words)` (the CLI's run), under one parent MLflow run."""
    grid = combinations(overrides)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for number, words in enumerate(grid, start=1):
        folder = Path("sweeps") / stamp / str(number)
        own = [f"model_file={folder / 'vae.pt'}", f"checkpoints_dir={folder / 'checkpoints'}"]
        words = own + words  # the user's model_file or checkpoints_dir, when given, wins
        compose("train", words)  # every combination checked before the first one trains
        runs.append((words, folder))
    log.info("Sweep of %d runs: models and checkpoints in sweeps/%s/.", len(runs), stamp)
    parent = _parent_run(runs[0][0], overrides, stamp)
    results = []
    for number, (words, folder) in enumerate(runs, start=1):
        chosen = [word for word in words[2:] if word in _swept(grid)]
        log.info("Sweep run %d/%d: %s", number, len(runs), " ".join(chosen) or "(no swept value)")
        try:
            run_one([*words, *([f"tracking.parent_run_id={parent[1]}"] if parent else [])])
            results.append((_best_val_loss(folder / "checkpoints"), number, " ".join(chosen)))
        except SystemExit as stop:  # a user error ends one run (its line is printed), not the sweep
            results.append((float("nan"), number, f"{' '.join(chosen)} (failed, exit {stop.code})"))
    _print_ranking(results, stamp)
    if parent:
        client, run_id = parent
        ranked = sorted((result for result in results if result[0] == result[0]), key=lambda result: result[0])
        if ranked:
            client.set_tag(run_id, "best_run", f"{ranked[0][1]}: {ranked[0][2]}")
            client.log_metric(run_id, "best_loss_val", ranked[0][0])
        client.set_terminated(run_id, "FINISHED" if len(ranked) == len(results) else "FAILED")


def _swept(grid: list[list[str]]) -> set[str]:
    """The words that differ between combinations (what names a run in the table)."""
    return {word for combination in grid for word in combination if any(word not in other for other in grid)}


def _parent_run(words: list[str], overrides: list[str], stamp: str):
    """(MLflow client, parent run id), or None with tracking off."""
    cfg = compose("train", words)
    if not cfg.tracking.enabled:
        return None
    from mlflow import MlflowClient

    from face_vae.tracking.server import tracking_uri

    uri = tracking_uri(OmegaConf.to_object(cfg.tracking))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(cfg.tracking.experiment)
    run = client.create_run(experiment_id, run_name=f"sweep-{stamp}", tags={"face_vae.sweep": " ".join(overrides)})
    log.info("MLflow: the sweep's parent run %s at %s.", run.info.run_id, uri)
    return client, run.info.run_id


def _best_val_loss(checkpoints_dir: Path) -> float:
    """The best validation loss the run's checkpoint callback recorded (NaN when it recorded none)."""
    try:
        checkpoint = torch.load(checkpoints_dir / "last.ckpt", map_location="cpu", weights_only=True)
        states = [state for key, state in checkpoint["callbacks"].items() if "Checkpoint" in key]
        return float(states[0]["best_model_score"])
    except (OSError, KeyError, IndexError, TypeError, ValueError, RuntimeError):
        return float("nan")


def _print_ranking(results: list[tuple[float, int, str]], stamp: str) -> None:
    ranked = sorted(results, key=lambda result: (result[0] != result[0], result[0]))  # NaN (failed) last
    lines = [
        f"\nSweep sweeps/{stamp}: {len(results)} runs ranked by best validation loss (loss_val)",
        f"{'rank':>4}  {'run':>3}  {'loss_val':>12}  overrides",
    ]
    lines += [f"{rank:>4}  {number:>3}  {loss:>12.4f}  {words}" for rank, (loss, number, words) in enumerate(ranked, 1)]
    if ranked and ranked[0][0] == ranked[0][0]:
        lines.append(f"Best: run {ranked[0][1]} ({ranked[0][2]}): sweeps/{stamp}/{ranked[0][1]}/vae.pt")
    print("\n".join(lines), file=sys.stdout)
