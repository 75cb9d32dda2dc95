"""The CLI edge: compose the config, run the stage, turn user errors into one printed line."""

import importlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from omegaconf import DictConfig

from face_vae import credentials
from face_vae.command_help import command_names, command_summary, config_help
from face_vae.core import settings
from face_vae.core.config import compose, flat_values
from face_vae.core.errors import Terminated, UserError
from face_vae.core.progress import is_terminal


def main(argv: list[str] | None = None) -> None:
    """`face-vae COMMAND [KEY=VALUE ...]` (and `python commands.py ...`): one fire command per command that
    face_vae/core/settings.py and the extras register; flags after a command are answered or refused before fire runs
    anything (`answer_flags`)."""
    import fire

    commands = {name: _command(name) for name in command_names()}
    answer_flags(sys.argv[1:] if argv is None else argv, commands)
    fire.Fire(commands, command=argv)


def _command(name: str) -> Callable[..., None]:
    def command(*overrides: str) -> None:
        run(name, overrides)

    command.__name__ = name
    # fire lists the commands with this line; `COMMAND --help` (answer_flags) builds the keys only when asked.
    command.__doc__ = command_summary(name)
    return command


def run(command: str, overrides: Iterable[object]) -> None:
    """Run `command` with Hydra `overrides`; exit 1 with one line on a UserError.

    With `debug=true` in the config it re-raises instead, to show the traceback.
    """
    words = [str(word) for word in overrides]
    _show_progress_messages()
    _stop_cleanly_on_sigterm()
    cfg = None
    try:
        cfg = compose(command, words)
        # A cold start (imports, a new MLflow store) takes tens of seconds: say at once that work has begun.
        logging.getLogger("face_vae").info("Starting %s: loading torch and the libraries it needs...", command)
        # The stage (torch, Lightning, MLflow) is imported only once the config has been checked.
        stage = importlib.import_module(settings.RUNS[command])
        if not cfg.get("debug"):
            _quiet_library_noise()
        stage.run(cfg)
    except UserError as error:
        if _debug(cfg, words):
            raise
        print(f"error: {credentials.mask_text(error)}", file=sys.stderr)  # a library's words may quote a URL
        sys.exit(1)
    except KeyboardInterrupt:
        if _debug(cfg, words):
            raise
        _say_stopped(command, "Ctrl-C")
        sys.exit(130)
    except Terminated as stop:
        if _debug(cfg, words):
            raise
        _say_stopped(command, "SIGTERM (a kill or a scheduler's stop)")
        sys.exit(stop.code)


def _say_stopped(command: str, by: str) -> None:
    # Every writer renames a finished file into place, and the next run removes a stopped run's temporary files.
    print(
        f"error: {command} stopped by {by}; nothing half-written is used by the next run "
        "(train: resume=true continues from the last checkpoint).",
        file=sys.stderr,
    )


def _stop_cleanly_on_sigterm() -> None:
    """SIGTERM (`kill`, a scheduler's stop) as an exception: temporary files are removed and worker processes
    stopped on the way out, as on Ctrl-C, instead of being left behind. Lightning installs its own handler while
    it trains."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise Terminated(128 + signum)


def _debug(cfg: DictConfig | None, words: list[str]) -> bool:
    """Whether the user asked for tracebacks: `debug=true` (or True, 1), read from the config when it composed."""
    if cfg is not None:
        return bool(cfg.get("debug"))
    return any(word.lower() in ("debug=true", "debug=1") for word in words)


# Library messages that tell our users nothing they can act on; `debug=true` shows them all. Each with why.
NOISE_WARNINGS = (
    # Lightning's own internals call a torch API that torch deprecated; nothing for a user to change.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # bf16 is our deliberate choice on CPUs with native bfloat16; the summary's size estimate is all it affects.
    r"Precision bf16-mixed is not supported by the model summary",
    # Only on resume=true now (a fresh run's folder is empty, an earlier run's set aside): there the folder
    # holds the run's own checkpoints, which is the point of resuming.
    r"Checkpoint directory .* exists and is not empty",
    # ThroughputMonitor (configs/callbacks/default.yaml) logs images/s; its FLOPs figure needs a count we do not make.
    r"When using the `ThroughputMonitor`, you need to define a `flops_per_batch`",
    # torch.export's weight packer (model exporters use it) about tensors it packs one by one; nothing to change.
    r"No complete tensor found in the group",
)
NOISE_LINES = (
    "💡 Tip:",  # Lightning advertising its cloud products on every run
    "`Trainer(limit_train_batches=1.0)` was configured",  # 1.0 is the config's default, written out explicitly
    "`Trainer(limit_val_batches=1.0)` was configured",
)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(NOISE_LINES)


def _quiet_library_noise() -> None:
    """Filter NOISE_WARNINGS and NOISE_LINES out of this process's output (Lightning's handlers exist by now)."""
    for pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(existing, _DropNoise) for existing in handler.filters):
                handler.addFilter(_DropNoise())


def _show_progress_messages() -> None:
    """Print face_vae's INFO messages on the current stderr (Lightning and MLflow have their own)."""
    logger = logging.getLogger("face_vae")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # A library that configures the root logger (basicConfig) would print every message a second time.
    logger.propagate = False
    if not is_terminal():  # MLflow's download bar redraws with carriage returns: junk in a log file
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


HELP_FLAGS = ("-h", "--help")
SWEEP_FLAGS = ("-m", "--multirun")  # `train -m key=a,b ...`: face_vae/sweep.py


def answer_flags(argv: list[str], commands: Iterable[str]) -> None:
    """Answer or refuse the flags after a command before anything runs: fire would run the command first and
    only then show help or complain about a word it could not use.

    `COMMAND ... --help` (or `-h`) prints that command's help with the group choices among the words applied;
    `COMMAND ... --cfg job` prints the composed config; `train -m KEY=A,B ...` runs a sweep; any other word that
    starts with `-` is refused in one sentence. Each exits without running the command. Without a command, fire
    answers (`--help` lists them).
    """
    if not argv or argv[0] not in commands:
        return
    command, words = argv[0], argv[1:]
    if not any(word.startswith("-") for word in words):
        return
    if any(word in HELP_FLAGS for word in words):
        _print_help(command, [word for word in words if not word.startswith("-")])
        sys.exit(0)
    if command == "train" and words[0] in SWEEP_FLAGS and not any(word.startswith("-") for word in words[1:]):
        from face_vae.sweep import run_sweep

        _show_progress_messages()
        try:
            run_sweep(words[1:], lambda overrides: run("train", overrides))
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    asks_config = _without_cfg_job(words)
    if asks_config is not None and not any(word.startswith("-") for word in asks_config):
        _print_config(command, asks_config)
        sys.exit(0)
    remaining = asks_config or words
    unknown = next(word for word in remaining if word.startswith("-"))
    following = remaining[remaining.index(unknown) + 1 :]
    print(
        f"error: {command} does not take '{unknown}': give settings as KEY=VALUE words (e.g. {command} "
        f"{_example_word(command, unknown, following)}), one run at a time; see `python commands.py {command} --help`. "
        "Nothing was run.",
        file=sys.stderr,
    )
    sys.exit(1)


def _example_word(command: str, flag: str, following: list[str]) -> str:
    """The KEY=VALUE word a flag such as `--seed 3` meant, when the command has that key; else one of its keys."""
    try:
        keys = flat_values(compose(command, []))
    except UserError:
        keys = {}
    name = flag.lstrip("-").split("=", 1)[0].replace("-", "_")
    key = next((key for key in keys if name and (key == name or key.endswith(f".{name}"))), None)
    if key is None:
        return "trainer.max_epochs=1" if "trainer.max_epochs" in keys else "seed=1" if "seed" in keys else "debug=true"
    given = flag.split("=", 1)[1] if "=" in flag else following[0] if following and "=" not in following[0] else None
    return f"{key}={given if given is not None else keys[key]}"


def _without_cfg_job(words: list[str]) -> list[str] | None:
    """The words without Hydra's `--cfg job` (or `--cfg=job`), or None when they do not hold it."""
    for index, word in enumerate(words):
        if word == "--cfg=job":
            return words[:index] + words[index + 1 :]
        if word == "--cfg" and words[index + 1 : index + 2] == ["job"]:
            return words[:index] + words[index + 2 :]
    return None


def _print_help(command: str, overrides: list[str]) -> None:
    program = f"python {Path(sys.argv[0]).name}" if sys.argv[0].endswith(".py") else Path(sys.argv[0]).name
    print(f"Usage: {program} {command} [KEY=VALUE ...]\n\n{command_summary(command)}\n")
    print(config_help(command, overrides))


def _print_config(command: str, overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    try:
        print(OmegaConf.to_yaml(compose(command, overrides)), end="")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
