"""One MLflow run per call of a command that does not train (infer, evaluate, reconstruct, interpolate)."""

from pathlib import Path

from face_vae.errors import UserError
from face_vae.tracking.provenance import git_state


def log_stage_run(  # pylint: disable=too-many-arguments  # the run's store, then what it logs
    uri: str, experiment: str, params: dict, metrics: dict[str, float], files: list[Path] = (), model_id: str = ""
) -> None:
    """One MLflow run for an `infer` or `evaluate` call: params with the git commit, metrics, files; with a
    `model_id` (MLflow 3's logged model), the metrics are linked to that model too."""
    import mlflow
    from mlflow.exceptions import MlflowException

    commit, dirty = git_state()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        with mlflow.start_run():
            mlflow.set_tag("mlflow.source.git.commit", commit)
            mlflow.log_params({**params, "git_commit": commit, "git_dirty": dirty})
            mlflow.log_metrics(metrics, **({"model_id": model_id} if model_id else {}))
            for path in files:
                mlflow.log_artifact(str(path), artifact_path="faces")
    except (MlflowException, OSError) as error:  # the command's own files are written by now
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(
            f"The results are written, but MLflow at {uri} could not log the run ({first}): run again once the "
            "server works, or with tracking.enabled=false."
        ) from error
