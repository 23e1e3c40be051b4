"""One module per connector kind, each exposing `TARGETS = [(test id, factory(tmp_path))]`.

`load_targets()` imports every module here; a module that cannot be imported is reported by
its own failing test instead of stopping the collection of every other kind.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crmhub.testing import ConformanceTarget

TargetFactory = Callable[[Path], ConformanceTarget]


@dataclass
class Targets:
    """Every target found (id -> factory) and the modules that failed to load (name -> why)."""

    factories: dict[str, TargetFactory] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)


def load_targets() -> Targets:
    """Import each target module of this package and gather its TARGETS."""
    found = Targets()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        name = f"{__name__}.{info.name}"
        try:
            entries = importlib.import_module(name).TARGETS
        except Exception:  # any import error of one kind must not hide the other kinds
            found.broken[name] = traceback.format_exc(limit=-3)
            continue
        for target_id, factory in entries:
            if target_id in found.factories:
                found.broken[name] = f"target id {target_id!r} is used twice"
            found.factories[target_id] = factory
    return found


def kind_of(factory: TargetFactory, tmp_path: Path) -> str:
    """The connector kind a factory's targets cover, building one only when unavoidable."""
    inner = factory.func if isinstance(factory, functools.partial) else factory
    kind = getattr(inner, "kind", None)
    if isinstance(kind, str):
        return kind
    target = factory(tmp_path)
    try:
        return target.kind
    finally:
        target.close()
