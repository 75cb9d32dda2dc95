"""The DVC pipeline notices a change in the code a stage runs: every module that decides a stage's result (the
models, the data, the callbacks, the hardware choices, the stage itself and what it shares) lies under one of its
`deps`, so `dvc repro` never reports "up to date" on stale metrics after such a change."""

from pathlib import Path

import pytest
import yaml

from face_vae.core import hooks, settings
from tests.unit.test_import_layers import GRAPH, PACKAGE

ROOT = PACKAGE.parent
# What decides the weights or the scores; tracking, storage, download, the attribute classifier and the CLI only record
# or move them. Prepare's crops depend on the data code alone (its stage imports shared helpers that reach the models,
# which do not touch them).
DECIDES = ("face_vae.core", "face_vae.callbacks", "face_vae.hardware", "face_vae.stages",
           "face_vae.evaluation", "face_vae.core.config")  # fmt: skip
DECIDES_PREPARE = (
    "face_vae.core.data",
    "face_vae.data",
    "face_vae.core.settings",
    "face_vae.core.prepare",
    "face_vae.stages.settings",
)


# Reached without an import statement: the extras configs/extras.yaml names (imported when a config is composed), the
# modules of the hooks they add, and the modules found by name (networks, priors, data sources).
EXTRAS = yaml.safe_load((PACKAGE / "configs" / "extras.yaml").read_text(encoding="utf-8"))
BY_NAME_PACKAGES = ("face_vae.core.models.nets", "face_vae.core.models.priors", "face_vae.core.data.sources",
                    "face_vae.data.sources")  # fmt: skip
BY_NAME = tuple(f"{package}." for package in BY_NAME_PACKAGES)


DATA_HOOKS = ("before_prepare", "fetch_data")
STAGE_HOOKS = {"prepare": DATA_HOOKS, "train": ("training", *DATA_HOOKS), "evaluate": DATA_HOOKS}


def _reached(stage: str) -> set[str]:
    start = settings.RUNS[stage]
    hooked = [path.rsplit(".", 1)[0] for name in STAGE_HOOKS[stage] for path in hooks.HOOKS[name]]
    seen, todo = set(), [start, *EXTRAS, *hooked, *(name for name in GRAPH if name.startswith(BY_NAME))]
    while todo:
        name = todo.pop()
        if name in seen or name not in GRAPH:
            continue
        seen.add(name)
        todo += GRAPH[name]
    return seen


def _path(module: str) -> Path:
    relative = Path(*module.split("."))
    return relative.with_suffix(".py") if (ROOT / relative.with_suffix(".py")).is_file() else relative / "__init__.py"


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate"])
def test_every_module_that_decides_a_stages_result_is_one_of_its_deps(stage):
    deps = [ROOT / dep for dep in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]]
    decides = DECIDES_PREPARE if stage == "prepare" else DECIDES
    modules = {name for name in _reached(stage) if name.startswith(decides)}
    assert len(modules) > 5, "the graph was read"
    uncovered = sorted(name for name in modules if not any((ROOT / _path(name)).is_relative_to(dep) for dep in deps))
    assert not uncovered, f"dvc.yaml's {stage} stage does not depend on {uncovered}"
