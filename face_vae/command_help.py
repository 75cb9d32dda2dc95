"""`COMMAND --help` and the command list: each command's keys with their defaults and comments, group by group, read
from the settings classes (face_vae/core/settings.py and the extras') and the YAML presets, without composing: `--help`
stays instant."""

import dataclasses
from collections.abc import Iterable

import yaml

from face_vae.core import config, settings


def command_names() -> list[str]:
    """The commands, as face_vae/core/settings.py and the extras register them."""
    return sorted(settings.COMMANDS)


def command_summary(command: str) -> str:
    """What the command does, in a sentence: its settings class's docstring."""
    return " ".join(settings.COMMANDS[command].__doc__.split())


def _groups(settings_class: type) -> list[tuple[str, str]]:
    """(group, default option) of each entry in a settings class's defaults list."""
    defaults = getattr(settings_class, "__dataclass_fields__", {}).get("defaults")
    entries = defaults.default_factory() if defaults else []
    return [(group, option) for entry in entries if entry != "_self_" for group, option in entry.items()]


def config_help(command: str, overrides: Iterable[str] = ()) -> str:
    """The keys of `command` with their defaults and comments, group by group, read from the settings
    classes and the YAML files (no compose: `--help` stays instant). A `group=choice` among `overrides` shows
    that choice's keys (`train model/prior=normal --help`)."""
    chosen = dict(word.split("=", 1) for word in overrides if "=" in word and "." not in word.split("=", 1)[0])
    keys = "\n".join(_field_lines(settings.COMMANDS[command]))
    sections = [f"Keys of {command} (override as KEY=VALUE):\n{keys}"]
    return "\n\n".join(sections + _group_sections(_groups(settings.COMMANDS[command]), chosen))


def _group_sections(groups: list[tuple[str, str]], chosen: dict[str, str], parent: str = "") -> list[str]:
    """A section per group, each followed by the groups inside its chosen option (model=vae has model/prior)."""
    sections = []
    for name, default in groups:
        group = parent + name
        choice = chosen.get(group, default)
        classes = settings.GROUPS.get(group, {})
        files = {path.stem: path for path in (config.CONFIG_DIR / group).glob("*.yaml")}
        if choice in classes:
            lines = _field_lines(classes[choice])
        elif choice not in files:
            lines = [f"  (no option '{choice}' in this group)"]
        else:
            lines = [f"  {line}" for line in files[choice].read_text(encoding="utf-8").splitlines() if line.strip()]
        sections.append(
            f"Group {group} ({'chosen' if choice != default else 'default'} {choice}; choose with "
            f"{group}={'|'.join(sorted(classes.keys() | files.keys()))}; "
            f"override as {group.replace('/', '.')}.KEY=VALUE):\n" + "\n".join(lines)
        )
        sections += _group_sections(_groups(classes.get(choice)), chosen, f"{group}/")
    return sections


def _field_lines(settings_class: type, indent: str = "  ") -> list[str]:
    """`key: default # comment` for each field (nested settings indented under their key); groups left out."""
    lines = []
    defaults = settings_class()
    for field in dataclasses.fields(settings_class):
        value = getattr(defaults, field.name)
        if field.name in (*settings.group_fields(), "defaults"):
            continue  # a group: listed under its own heading; a defaults list: Hydra's
        comment = f" # {field.metadata['comment']}" if field.metadata.get("comment") else ""
        if dataclasses.is_dataclass(value):
            lines += [f"{indent}{field.name}:{comment}", *_field_lines(type(value), indent + "  ")]
        else:
            shown = yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("\n...\n").strip()
            lines.append(f"{indent}{field.name}: {shown}{comment}")
    return lines
