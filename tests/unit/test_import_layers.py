"""The layers' import rules, checked on every import statement of the package (so that they cannot rot)."""

import ast
import importlib
from pathlib import Path

import pytest

from face_vae.core import settings

PACKAGE = Path(__file__).resolve().parents[2] / "face_vae"
importlib.import_module("face_vae.core.config")  # which adds the extras (configs/extras.yaml) to the registry
COMMANDS = set(settings.COMMANDS)
# The core's own commands (prepare, train, infer) sit at the stages' level: they read the config.
CORE_COMMANDS = {module for module in settings.RUNS.values() if module.startswith("face_vae.core.")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The face_vae modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("face_vae")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("face_vae"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return found


GRAPH = {name: _imports(path, set(_modules())) for name, path in _modules().items()}


def test_the_graph_is_read_from_the_real_package():
    assert "face_vae.core.models.model_file" in GRAPH["face_vae.stages.shared"]
    assert (
        "face_vae.stages.run_folder" in GRAPH["face_vae.stages.train_hooks"]
    ), "from-imports of submodules are resolved"
    assert COMMANDS >= {"train", "infer", "download", "prepare"}


@pytest.mark.parametrize(
    "package", ["face_vae.core.models.nets", "face_vae.core.data.sources", "face_vae.data.sources"]
)
def test_networks_and_data_sources_are_reached_by_name_only(package):
    """A new network or dataset is one module in its folder: no other code names a network's or a source's module
    (they are found by the name the config or the model file gives)."""
    members = {name for name in GRAPH if name.startswith(f"{package}.")}
    assert members, f"{package} has modules"
    offenders = {name: sorted(GRAPH[name] & members) for name in GRAPH if name not in members and GRAPH[name] & members}
    assert not offenders


def test_no_module_imports_a_command_stage():
    """An extra's command is not a library: what two of them share lives in stages/shared.py or below, or in the core
    (whose commands' steps, such as prepared_data, the extras reuse)."""
    stages = {module for module in settings.RUNS.values() if module.startswith("face_vae.stages.")}
    assert "face_vae.stages.evaluate" in stages
    offenders = {name: sorted(GRAPH[name] & stages) for name in GRAPH if GRAPH[name] & stages}
    assert not offenders


def test_the_core_imports_nothing_else_of_face_vae():
    """face_vae/core/ (networks, priors, the model file, data sources, crops, the DataModule) is what a person copies
    for a new model: it imports only itself, so it works with every other folder of the package deleted."""
    core = {name for name in GRAPH if name.startswith("face_vae.core")}
    assert {"face_vae.core.models.model_file", "face_vae.core.data.sources.celeba"} <= core, "the graph holds the core"
    offenders = {
        name: sorted(target for target in GRAPH[name] if not target.startswith("face_vae.core"))
        for name in core
        if any(not target.startswith("face_vae.core") for target in GRAPH[name])
    }
    assert not offenders


@pytest.mark.parametrize("layer", ["face_vae.core", "face_vae.models", "face_vae.data", "face_vae.evaluation"])
def test_models_data_and_evaluation_import_nothing_from_tracking_storage_stages_or_the_edge(layer):
    upper = ("face_vae.tracking", "face_vae.storage", "face_vae.stages", "face_vae.cli", "face_vae.core.config")
    offenders = {
        name: sorted(target for target in targets if target.startswith(upper))
        for name, targets in GRAPH.items()
        if name.startswith(layer) and name not in CORE_COMMANDS and any(target.startswith(upper) for target in targets)
    }
    assert not offenders


def test_tracking_and_storage_import_no_stage_and_not_the_edge():
    offenders = {
        name: sorted(targets)
        for name, targets in GRAPH.items()
        if name.startswith(("face_vae.tracking", "face_vae.storage"))
        and any(target.startswith(("face_vae.stages", "face_vae.cli")) for target in targets)
    }
    assert not offenders


def test_there_are_no_import_cycles():
    def cycle_from(start: str, path: list[str], seen: set[str]) -> list[str] | None:
        for target in GRAPH.get(path[-1], ()):
            if target == start:
                return [*path, target]
            if target not in seen and target in GRAPH:
                seen.add(target)
                found = cycle_from(start, [*path, target], seen)
                if found:
                    return found
        return None

    cycles = [cycle for name in GRAPH if (cycle := cycle_from(name, [name], set()))]
    assert not cycles, cycles[0]


def _third_party_imports(path: Path) -> set[str]:
    """The top-level packages a file imports (omegaconf, hydra, torch, ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_stages_and_the_config_edge_touch_omegaconf_or_hydra():
    """Below the stages, code takes plain values and settings objects, never a DictConfig."""
    # face_vae.sweep is the CLI edge's too: it expands `train -m` overrides and composes each combination; the core's
    # settings register the settings classes in Hydra's ConfigStore and type its after-compose hooks.
    edge = ("face_vae.stages", "face_vae.cli", "face_vae.core.config", "face_vae.core.settings", "face_vae.sweep",
            "face_vae.core.hooks", *CORE_COMMANDS)  # fmt: skip
    offenders = {
        name: sorted(_third_party_imports(path) & {"omegaconf", "hydra"})
        for name, path in _modules().items()
        if not name.startswith(edge) and _third_party_imports(path) & {"omegaconf", "hydra"}
    }
    assert not offenders
    assert "omegaconf" in _third_party_imports(PACKAGE / "stages" / "shared.py"), "the check reads real imports"


def test_the_models_and_data_import_no_serving_code():
    """Training works with face_vae/serving/ deleted: the random stream faces are drawn from is the models' own
    (face_vae/core/models/face_vae_stream.py), and the export copies it."""
    offenders = {
        name: sorted(target for target in targets if target.startswith("face_vae.serving"))
        for name, targets in GRAPH.items()
        if name.startswith(("face_vae.core", "face_vae.models", "face_vae.data"))
        and any(target.startswith("face_vae.serving") for target in targets)
    }
    assert not offenders
    assert "face_vae.core.models.face_vae_stream" in GRAPH["face_vae.core.models.sampling"]
