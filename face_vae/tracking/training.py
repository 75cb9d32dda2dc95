"""MLflow in a Lightning training run: the logger with every param, and the trained model at the end."""

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import mlflow
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

from face_vae.core.errors import first_line
from face_vae.serving.face_generator import log_face_generator
from face_vae.tracking import registry
from face_vae.tracking.provenance import git_state

log = logging.getLogger(__name__)


RETRY_S = 60.0  # how often a logger whose server stopped answering tries it again


class PatientLogger(MLFlowLogger):
    """Lightning's MLFlowLogger that outlives its server: when a call fails (a server stopped, a network
    gone), it warns once, keeps the metrics in `backlog` (JSON lines, beside the checkpoints) and lets
    training go on; it tries the server again every minute and at the end, sends what it kept when it answers,
    and tags the run `face_vae.logging_interrupted`. Images and figures are skipped while it is down."""

    def __init__(self, *args, backlog: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.backlog = Path(backlog)
        # Lightning ends the run when fitting ends; the prior fit and the model's logging come after, so a
        # successful end waits for `end` (a run stopped in between is KILLED, not FINISHED without its model).
        self.ended = False
        self.down_since: float | None = None
        self.last_try = 0.0

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.down_since is None:
            send = super().log_metrics
            self.guarded(lambda: send(metrics, step), "metrics")
        if self.down_since is not None:
            self._keep(metrics, step)
            if time.monotonic() - self.last_try > RETRY_S:
                self.send_backlog()

    def guarded(self, call: Callable[[], object], what: str) -> bool:
        """Run an MLflow `call`; False (after one warning) when the server does not answer or is known down."""
        if self.down_since is not None:
            return False
        try:
            call()
            return True
        except Exception as error:  # pylint: disable=broad-exception-caught  # requests, MLflow, OS errors alike
            self.down_since, self.last_try = time.time(), time.monotonic()
            log.warning(
                "The MLflow server stopped answering while logging %s (%s): training goes on; its metrics are "
                "kept in %s and sent when the server answers again.",
                what,
                first_line(error)[:200],
                self.backlog,
            )
            return False

    def send_backlog(self) -> bool:
        """Send the kept metrics and tag the run; True when the server answers (nothing is kept any more)."""
        from mlflow.entities import Metric

        self.last_try = time.monotonic()
        if self.down_since is None:
            return True
        lines = self.backlog.read_text(encoding="utf-8").splitlines() if self.backlog.is_file() else []
        kept = [Metric(**json.loads(line)) for line in lines]
        try:
            for start in range(0, len(kept), 1000):  # MLflow takes at most 1,000 metrics per call
                self.experiment.log_batch(self.run_id, metrics=kept[start : start + 1000])
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.down_since))
            self.experiment.set_tag(self.run_id, "face_vae.logging_interrupted", f"from {since}, metrics sent later")
        except Exception:  # pylint: disable=broad-exception-caught  # still down: keep them
            return False
        self.backlog.unlink(missing_ok=True)
        self.down_since = None
        log.info("The MLflow server answers again: sent the %d metrics kept meanwhile.", len(kept))
        return True

    def _keep(self, metrics: Mapping[str, float], step: int | None) -> None:
        stamp = int(time.time() * 1000)
        self.backlog.parent.mkdir(parents=True, exist_ok=True)
        with open(self.backlog, "a", encoding="utf-8") as file:
            for key, value in metrics.items():
                if not isinstance(value, str):
                    file.write(json.dumps({"key": key, "value": float(value), "timestamp": stamp, "step": step or 0}))
                    file.write("\n")

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        if status == "success" and not self.ended:
            return  # the stage calls end() once the model is saved and logged
        if self.down_since is not None and not self.send_backlog():
            log.warning(
                "The MLflow server still does not answer: the run's last metrics stay in %s, and the run is "
                "not marked finished.",
                self.backlog,
            )
            return
        end = super().finalize
        self.guarded(lambda: end(status), "the end of the run")

    def end(self, status: str = "success") -> None:
        """End the run: `success` when the stage's last step is done, KILLED or FAILED when it stopped."""
        self.ended = True
        self.finalize(status)


def training_logger(  # pylint: disable=too-many-arguments  # the run's identity, then what it logs first
    experiment: str,
    uri: str,
    params: dict[str, str],
    config_yaml: str,
    backlog: Path,
    run_id: str | None = None,
    asynchronous: bool = False,
    parent_run_id: str | None = None,
) -> PatientLogger:
    """A Lightning MLFlowLogger at `uri` for `experiment`, with `params` and the config (`config_yaml`)
    logged, that keeps its metrics in `backlog` while the server does not answer; `run_id` continues an
    earlier run (resume), which keeps its first params. `asynchronous`: metric calls return at once (MLflow's
    own background logging), so a fast GPU step never waits on them."""
    mlflow.set_tracking_uri(uri)
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else None  # a sweep's child run
    logger = PatientLogger(
        experiment_name=experiment,
        tracking_uri=uri,
        run_id=run_id,
        synchronous=not asynchronous,
        backlog=backlog,
        tags=tags,
    )
    if run_id is None:
        logger.log_hyperparams(params)
        commit, _ = git_state()
        logger.experiment.set_tag(logger.run_id, "mlflow.source.git.commit", commit)
        logger.experiment.log_text(logger.run_id, config_yaml, "config.yaml")
        _log_data_input(logger, params)
    log.info("MLflow: experiment %s, run %s at %s.", experiment, logger.run_id, uri)
    return logger


def _log_data_input(logger: MLFlowLogger, params: Mapping[str, str]) -> None:
    """The data as the run's dataset input (the Datasets column and tab of MLflow's UI): its kind, where it came from
    and a digest that changes with its contents (data.dvc's md5, or the prepared folder's fingerprint, which follows
    a folder's names, sizes and times)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    digest = params.get("data_dvc_md5") or params.get("prepared_data_md5")
    if not digest:
        return
    where = json.dumps({"uri": params.get("data_source") or params.get("data.source_dir") or "unknown"})
    dataset = Dataset(name=params.get("data.kind", "data"), digest=digest, source_type="local", source=where)
    context = InputTag(key="mlflow.data.context", value="training")
    logger.experiment.log_inputs(logger.run_id, datasets=[DatasetInput(dataset, [context])])


def log_trained_model(
    logger: MLFlowLogger, model_file: Path, files: list[Path], classifier_file: Path | None = None
) -> str:
    """Log the trained model as the pyfunc `face_generator` (its model file: decoder, prior and sizes, and the
    attribute classifier of its codes when given; served with `mlflow models serve`), and `files` (the saved
    model and checkpoints) as artifacts; return the logged model's URI."""
    mlflow.set_experiment(experiment_id=logger.experiment_id)  # the fluent API checks they match
    with mlflow.start_run(run_id=logger.run_id):
        model_uri = log_face_generator(model_file, classifier_file)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="files")
    return model_uri


def register_trained_model(logger: MLFlowLogger, model_uri: str, tracking_uri: str, name: str) -> str | None:
    """Register the logged face_generator `model_uri` as a new version of `name`, tagged with the commit and the
    data's hashes the run logged; its number (None when the registry refused: the warning says how to retry)."""
    params = logger.experiment.get_run(logger.run_id).data.params
    tags = {key: params[key] for key in ("git_commit", "prepared_data_md5", "data_dvc_md5") if key in params}
    # What the registry shows of the data: data=synthetic marks a smoke model, which evaluate never promotes.
    tags["trained_on"] = params.get("data.kind", "unknown")
    return registry.register(tracking_uri, model_uri, name, tags | {"mlflow_run_id": logger.run_id})
