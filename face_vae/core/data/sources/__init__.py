"""Data sources by name. `data=NAME` chooses the source registered as NAME (its `KIND`); `prepare` asks it for the
prepared crops of each split, and the model file records its name.

A new dataset is one module in this folder (a `Source` subclass with its own KIND) and its config,
face_vae/configs/data/NAME.yaml, which starts from the keys every source shares (`defaults: [base, _self_]`) and sets
`kind: NAME`. No command changes: they all read faces through the prepared crops.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from face_vae.core.by_name import registered

SOURCES: dict[str, type["Source"]] = {}
# Where a source is looked for by name: this package, and those the extras add (face_vae/data/settings.py).
PACKAGES = [__name__]


class Source:
    """Where the faces of `data=KIND` come from, and how each split's crops are written."""

    KIND = ""  # data.kind of the config that chooses it
    image_size: int

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            SOURCES[cls.KIND] = cls

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> "Source":
        """The source the `data` group describes (its resolved keys)."""
        raise NotImplementedError

    def recipe(self) -> dict:
        """Everything that decides the prepared bytes (JSON): a change in any of it means preparing again."""
        raise NotImplementedError

    def contents(self) -> dict:
        """What the source holds now (a folder's names, sizes and times): prepared crops of another content are
        rebuilt in the same place. {} for a source whose recipe says it all."""
        return {}

    def missing_file(self) -> Path | None:
        """A file the source needs and lacks (the caller fetches it: DVC, a download), or None."""
        return None

    def write(self, prepared_dir: Path) -> dict[str, int]:
        """Write each split's crops (face_vae.core.data.face_crops' format) into `prepared_dir`; return the count per
        split."""
        raise NotImplementedError


def source_for(data: Mapping[str, Any]) -> Source:
    """The source of the `data` group, found by its `kind` among the modules of PACKAGES."""
    advice = "set data.kind to one of them, or add its module to face_vae/core/data/sources/"
    return registered(SOURCES, str(data["kind"]), PACKAGES, "data source", advice).from_settings(data)
