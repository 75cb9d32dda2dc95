"""`train -m key=a,b other=c,d`: Hydra's sweep grammar under the compose API, one training per combination.

Each combination is composed first (a bad value in any stops the sweep before the first run), then trained in
turn with its own model file and checkpoints under `sweeps/<stamp>/<number>/`, as a child run under one parent
MLflow run. At the end a table ranks the runs by their best validation loss and names the best.
"""

import itertools
import logging
import math
import sys
import time
from pathlib import Path

from hydra import initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf

from face_vae.core.config import CONFIG_DIR, compose
from face_vae.core.errors import UserError
from face_vae.credentials import mask_text

log = logging.getLogger(__name__)
MAX_RUNS = 1_000  # each is composed and checked before the first trains: more would wait minutes in silence
STOPPED = (130, 143)  # the CLI's exit codes for Ctrl-C and SIGTERM: they stop the sweep, not one run
OWN_PER_RUN = ("model_file", "checkpoints_dir")  # every run writes its own, under sweeps/<stamp>/<n>/


def combinations(overrides: list[str]) -> list[list[str]]:
    """Every combination of the sweep's values (`key=a,b`, `key=range(1,4)`, `key=choice(a,b)`, `group=glob(*)`), as
    override lists, by Hydra's own parser and BasicSweeper; a key given twice, a key each run sets itself, a sweep
    only an optimizer can run (`interval`), or more than MAX_RUNS runs is refused before any is listed."""
    try:
        # glob(...) lists a config group's options: the parser needs Hydra's config loader over our configs.
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
            parsed = parser.parse_overrides(overrides)
            _refuse_what_cannot_run(parsed)
            return BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]
    except HydraException as error:
        raise UserError(f"Bad sweep override: {mask_text(str(error).strip().splitlines()[0])}") from error


def _refuse_what_cannot_run(parsed: list) -> None:
    keys = [item.get_key_element() for item in parsed]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise UserError(
            f"{', '.join(twice)} given twice in the sweep (only the last word would count, and runs labelled by the "
            "first would train the same values): give each key once, e.g. seed=1,2,3,4."
        )
    given = sorted(set(keys) & set(OWN_PER_RUN))
    if given:
        raise UserError(
            f"train -m gives every run its own {' and '.join(OWN_PER_RUN)} under sweeps/<stamp>/<n>/ (one given to all "
            f"would be overwritten run after run): leave out {', '.join(given)}, and copy the best run's vae.pt after."
        )
    intervals = [item.input_line for item in parsed if item.is_interval_sweep()]
    if intervals:
        raise UserError(
            f"{', '.join(intervals)}: an interval is searched by an optimizer (Optuna, Ax), which train -m does not "
            "run; list the values instead, e.g. model.optimizer.lr=0.001,0.003,0.01 (or range(...))."
        )
    counts = {
        item.input_line: sum(1 for _ in itertools.islice(item.sweep_string_iterator(), MAX_RUNS + 1))
        for item in parsed
        if item.is_sweep_override()  # counted lazily: `range(0,10**8)` is never listed
    }
    empty = [line for line, count in counts.items() if count == 0]
    if empty:
        raise UserError(
            f"{', '.join(empty)} sweeps no value (glob(...) matches a config group's options, e.g. "
            "model/prior=glob(*); a range needs its start below its stop): give each swept key at least one value."
        )
    if math.prod(counts.values()) > MAX_RUNS:
        raise UserError(f"The sweep has more than {MAX_RUNS:,} runs: sweep fewer values, or run several sweeps.")


def run_sweep(overrides: list[str], run_one) -> None:
    """Train each combination of `overrides` with `run_one(words)` (the CLI's run), under one parent MLflow run."""
    grid = combinations(overrides)
    log.info("Checking the sweep's %d combinations before the first run.", len(grid))
    for words in grid:
        compose("train", words)  # every combination checked before the first one trains (or a folder is made)
    stamp = _new_sweep_folder()
    runs = []
    for number, words in enumerate(grid, start=1):
        folder = Path("sweeps") / stamp / str(number)
        runs.append(([f"model_file={folder / 'vae.pt'}", f"checkpoints_dir={folder / 'checkpoints'}", *words], folder))
    log.info("Sweep of %d runs: models and checkpoints in sweeps/%s/.", len(runs), stamp)
    parent = _parent_run(runs[0][0], overrides, stamp)
    results = []
    for number, (words, folder) in enumerate(runs, start=1):
        chosen = [word for word in words[2:] if word in _swept(grid)]
        log.info("Sweep run %d/%d: %s", number, len(runs), " ".join(chosen) or "(no swept value)")
        try:
            run_one([*words, *([f"tracking.parent_run_id={parent[1]}"] if parent else [])])
            results.append((_best_val_loss(folder / "checkpoints", parent), number, " ".join(chosen)))
        except SystemExit as stop:  # a user error ends one run (its line is printed), not the sweep
            results.append((float("nan"), number, f"{' '.join(chosen)} (failed, exit {stop.code})"))
            if stop.code in STOPPED:  # Ctrl-C or SIGTERM: the whole sweep stops, with what it has
                _print_ranking(results, stamp)
                _end_parent(parent, results, "KILLED")
                raise
    _print_ranking(results, stamp)
    ranked = _end_parent(parent, results, "FINISHED")
    if len(ranked) < len(results):
        raise UserError(
            f"{len(results) - len(ranked)} of the sweep's {len(results)} runs failed (the table says which)."
        )


def _end_parent(parent, results: list[tuple[float, int, str]], status: str) -> list[tuple[float, int, str]]:
    """The runs that finished, best first; the parent MLflow run tagged with the best and ended."""
    ranked = sorted((result for result in results if result[0] == result[0]), key=lambda result: result[0])
    if parent:
        client, run_id = parent
        if ranked:
            client.set_tag(run_id, "best_run", f"{ranked[0][1]}: {ranked[0][2]}")
            client.log_metric(run_id, "best_loss_val", ranked[0][0])
        client.set_terminated(run_id, status if len(ranked) == len(results) or status != "FINISHED" else "FAILED")
    return ranked


def _new_sweep_folder() -> str:
    """A stamp whose sweeps/<stamp>/ this sweep creates itself: two sweeps started in the same second get two."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for number in range(1, 1000):
        name = stamp if number == 1 else f"{stamp}-{number}"
        try:
            (Path("sweeps") / name).mkdir(parents=True)
            return name
        except FileExistsError:
            continue
    raise UserError(f"sweeps/ already holds 999 sweeps stamped {stamp}: move some away.")


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
    run = client.create_run(
        experiment_id, run_name=f"sweep-{stamp}", tags={"face_vae.sweep": mask_text(" ".join(overrides))}
    )
    log.info("MLflow: the sweep's parent run %s at %s.", run.info.run_id, uri)
    return client, run.info.run_id


def _best_val_loss(checkpoints_dir: Path, parent) -> float:
    """The run's best validation loss: from its MLflow run (the child's `loss_val` history) when it logged one, else
    from what its checkpoint callback recorded (tracking off); NaN when neither has it."""
    # Only once a child has run (in this process, so torch is loaded): checking a sweep stays light.
    import torch  # pylint: disable=import-outside-toplevel

    from face_vae.stages.run_folder import RUN_ID_FILE  # pylint: disable=import-outside-toplevel

    run_id_file = checkpoints_dir / RUN_ID_FILE
    if parent and run_id_file.is_file():
        client = parent[0]
        try:
            history = client.get_metric_history(run_id_file.read_text(encoding="utf-8").strip(), "loss_val")
            if history:
                return min(metric.value for metric in history)
        except Exception:  # pylint: disable=broad-exception-caught  # a server gone quiet: the checkpoint knows too
            log.warning("MLflow did not answer for %s: its loss comes from its checkpoint.", checkpoints_dir.parent)
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
