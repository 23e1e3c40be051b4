"""Connector kinds, found through the entry-point group `crmhub.connectors`.

A plug-in distribution registers its class in its own pyproject (`[project.entry-points.
"crmhub.connectors"] mykind = "mypkg.connector:MyConnector"`), or a hub config names a class
directly with `type: mypkg.connector:MyConnector`. Each class is checked when it is loaded, in
the manner of pluggy's `_verify_hook`, so a broken plug-in fails at start-up with the class and
distribution named, not halfway through a sync.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from crmhub.connectors.base import Capability, Connector, ConnectorConfig
from crmhub.errors import RegistryError

GROUP = "crmhub.connectors"

RESERVED_FIELDS = frozenset(
    {"type", "mapping", "trust", "writeback", "stream", "enabled", "schema_drift"}
)
"""Hub-level keys of a source block; a config model may only define `type` among them."""

_CAPABILITY_METHODS = {Capability.READ: "read", Capability.WRITE: "write"}


def load_registry(eps: Iterable[EntryPoint] | None = None) -> dict[str, type[Connector]]:
    """Every installed connector kind, each loaded and verified.

    Args:
        eps: entry points to load instead of the installed ones (for tools and tests).

    Raises:
        RegistryError: a plug-in cannot be imported, or breaks the connector contract.
    """
    eps = list(entry_points(group=GROUP) if eps is None else eps)
    registry: dict[str, type[Connector]] = {}
    origins: dict[str, str] = {}
    for ep in eps:
        origin = _distribution(ep)
        if ep.name in registry:
            raise RegistryError(
                f"connector kind {ep.name!r} is registered twice: by {origins[ep.name]} and by "
                f"{origin}; uninstall one of them"
            )
        registry[ep.name] = _load(ep)
        origins[ep.name] = origin
    return registry


def resolve_kind(type_string: str, eps: Iterable[EntryPoint] | None = None) -> type[Connector]:
    """The connector class for a config's `type`: a kind name or `package.module:Class`.

    Only the named plug-in is imported, so one broken plug-in does not stop the others.
    """
    if ":" in type_string:
        return _load_dotted(type_string)
    eps = list(entry_points(group=GROUP) if eps is None else eps)
    matches = [ep for ep in eps if ep.name == type_string]
    if not matches:
        raise RegistryError(
            f"unknown connector type {type_string!r}: no installed kind has that name "
            "(see available_kinds(), or give 'package.module:Class')"
        )
    if len(matches) > 1:
        load_registry(matches)  # raises, naming both distributions
    return _load(matches[0])


@dataclass(frozen=True)
class InstalledKind:
    """One installed connector kind, for listings such as `crmhub connectors`."""

    name: str
    capabilities: frozenset[Capability]
    class_path: str
    origin: str


def installed_kinds(eps: Iterable[EntryPoint] | None = None) -> list[InstalledKind]:
    """Every installed kind, loaded and verified, sorted by name.

    Raises:
        RegistryError: a plug-in cannot be imported or breaks the contract.
    """
    eps = list(entry_points(group=GROUP) if eps is None else eps)
    origins = {ep.name: _distribution(ep).removeprefix("distribution ") for ep in eps}
    return [
        InstalledKind(name, cls.capabilities, ep_value, origins[name])
        for name, cls, ep_value in sorted(
            (name, cls, f"{cls.__module__}:{cls.__qualname__}")
            for name, cls in load_registry(eps).items()
        )
    ]


def available_kinds(eps: Iterable[EntryPoint] | None = None) -> list[str]:
    """Names of the installed kinds, sorted, without importing any plug-in (for messages)."""
    eps = entry_points(group=GROUP) if eps is None else eps
    return sorted({ep.name for ep in eps})


def verify_connector(cls: Any, kind: str | None, origin: str) -> type[Connector]:
    """Check `cls` keeps the connector contract; `kind` is the name it is registered under.

    Raises:
        RegistryError: naming the class, its origin and the first broken rule.
    """
    problems = list(_problems(cls, kind))
    if problems:
        raise RegistryError(
            f"connector class {_qualname(cls)} (from {origin}) is not usable: "
            + "; ".join(problems)
        )
    return typing.cast(type[Connector], cls)


def _problems(cls: Any, kind: str | None) -> Iterable[str]:
    """Every rule `cls` breaks, first the ones that make the later checks meaningless."""
    if not (inspect.isclass(cls) and issubclass(cls, Connector)):
        yield "it is not a subclass of crmhub.connectors.base.Connector"
        return
    declared = getattr(cls, "kind", None)
    if not isinstance(declared, str) or not declared:
        yield "it does not set the class attribute `kind`"
    elif kind is not None and declared != kind:
        yield f"its kind {declared!r} differs from its entry-point name {kind!r}"
    yield from _config_problems(getattr(cls, "config_model", None))
    yield from _capability_problems(cls)


def _config_problems(model: Any) -> Iterable[str]:
    if not (inspect.isclass(model) and issubclass(model, ConnectorConfig)):
        yield "`config_model` is not a subclass of crmhub.connectors.base.ConnectorConfig"
        return
    clashes = sorted(RESERVED_FIELDS.intersection(model.model_fields) - {"type"})
    if clashes:
        yield f"`config_model` defines hub-level keys {clashes}; rename those fields"


def _capability_problems(cls: type[Connector]) -> Iterable[str]:
    capabilities = getattr(cls, "capabilities", None)
    if not isinstance(capabilities, frozenset) or not all(
        isinstance(c, Capability) for c in capabilities
    ):
        yield "`capabilities` is not a frozenset of crmhub.connectors.base.Capability"
        return
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        yield f"it does not implement {missing}"
    if Capability.INCREMENTAL in capabilities and Capability.READ not in capabilities:
        yield "it declares 'incremental' without 'read'"
    for capability, method in _CAPABILITY_METHODS.items():
        if capability in capabilities and getattr(cls, method) is getattr(Connector, method):
            yield f"it declares {capability.value!r} but does not override `{method}()`"


def _load(ep: EntryPoint) -> type[Connector]:
    origin = _distribution(ep)
    try:
        cls = ep.load()
    except Exception as exc:  # a plug-in's import can fail in any way; name it and stop
        raise RegistryError(
            f"cannot load connector {ep.name!r} = {ep.value!r} from {origin}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return verify_connector(cls, ep.name, origin)


def _load_dotted(type_string: str) -> type[Connector]:
    module_name, _, attr = type_string.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(
            f"cannot load connector class {type_string!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return verify_connector(cls, None, f"module {module_name}")


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return f"entry point {ep.name!r} (no distribution)"
    return f"distribution {dist.name} {dist.version}"


def _qualname(cls: Any) -> str:
    if inspect.isclass(cls):
        return f"{cls.__module__}.{cls.__qualname__}"
    return repr(cls)
