"""Classes found by the name a config or a model file gives: networks, priors and data sources."""

import importlib
import pkgutil
from collections.abc import Sequence
from typing import TypeVar

from face_vae.core.errors import UserError

Found = TypeVar("Found")


def registered(known: dict[str, Found], name: str, packages: Sequence[str], what: str, advice: str) -> Found:
    """`known[name]`, after importing every module of `packages` (where each registers itself) when it is not known
    yet; a UserError naming the known ones and `advice` when no module registers it. Only those packages' modules
    are imported (the core's own, and those an extra adds): a name can choose a class, never code to run."""
    for package in packages if name not in known else ():
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{module.name}")
    if name not in known:
        raise UserError(f"There is no {what} named {name!r} (known: {', '.join(sorted(known))}): {advice}.")
    return known[name]
