"""The connector registry: entry points, `module:Class` types and plug-in verification.

Broken plug-ins are real installed distributions: a `*.dist-info` folder with an
`entry_points.txt` and a module, put on `sys.path`, found by `importlib.metadata` itself.
"""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from crmhub.connectors.registry import (
    GROUP,
    available_kinds,
    load_registry,
    resolve_kind,
    verify_connector,
)
from crmhub.connectors.sql import SqlConnector
from crmhub.errors import RegistryError

PLUGIN_MODULE = """
from __future__ import annotations
from typing import Literal
from crmhub.connectors.base import Capability, Connector, ConnectorConfig

class GoodConfig(ConnectorConfig):
    type: Literal["good"]

class Good(Connector):
    kind = "good"
    config_model = GoodConfig
    capabilities = frozenset({Capability.READ})
    def check(self): ...
    def discover(self): ...
    def read(self, stream, state): ...

class WrongKind(Good):
    kind = "other"

class NoWrite(Good):
    kind = "nowrite"
    capabilities = frozenset({Capability.READ, Capability.WRITE})

class NoRead(Connector):
    kind = "noread"
    config_model = GoodConfig
    capabilities = frozenset({Capability.READ})
    def check(self): ...
    def discover(self): ...

class BadConfig(Good):
    kind = "badconfig"
    config_model = dict

class ReservedConfig(Good):
    kind = "reserved"
    class config_model(ConnectorConfig):
        trust: int = 1

class NotAConnector:
    kind = "plain"
"""

BROKEN = [
    ("wrongkind", "WrongKind", "kind 'other' differs from its entry-point name 'wrongkind'"),
    ("nowrite", "NoWrite", "declares 'write' but does not override `write()`"),
    ("noread", "NoRead", "does not implement read"),
    ("badconfig", "BadConfig", "`config_model` is not a subclass of"),
    ("reserved", "ReservedConfig", "defines hub-level keys ['trust']"),
    ("plain", "NotAConnector", "not a subclass of crmhub.connectors.base.Connector"),
    ("missing", "DoesNotExist", "cannot load connector 'missing'"),
]


def install_plugin(root: Path, dist: str, entries: dict[str, str], module: str) -> None:
    """Write a minimal installed distribution `dist` 1.0 with `entries` into `root`."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(PLUGIN_MODULE))


def plugin_eps(dist: str) -> list[EntryPoint]:
    return [ep for ep in entry_points(group=GROUP) if ep.dist and ep.dist.name == dist]


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution `brokenplug` registering one good and many broken kinds."""
    entries = {kind: f"brokenplug_mod:{cls}" for kind, cls, _ in BROKEN}
    install_plugin(
        tmp_path, "brokenplug", {"good": "brokenplug_mod:Good", **entries}, "brokenplug_mod"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "brokenplug"


def test_sql_is_installed_and_resolves_by_name_and_by_path() -> None:
    assert "sql" in available_kinds()
    assert resolve_kind("sql") is SqlConnector
    assert resolve_kind("crmhub.connectors.sql.connector:SqlConnector") is SqlConnector


def test_unknown_kind_is_named() -> None:
    with pytest.raises(RegistryError, match=r"unknown connector type 'sqll'"):
        resolve_kind("sqll")
    assert "sql" in available_kinds()


def test_bad_dotted_path_names_it() -> None:
    with pytest.raises(RegistryError, match=r"cannot load connector class .nopkg\.mod:Cls."):
        resolve_kind("nopkg.mod:Cls")


def test_a_good_plugin_loads(broken_plugin: str) -> None:
    good = [ep for ep in plugin_eps(broken_plugin) if ep.name == "good"]
    registry = load_registry(good)
    assert list(registry) == ["good"]
    assert resolve_kind("good").kind == "good"


@pytest.mark.parametrize(("kind", "cls", "message"), BROKEN)
def test_a_broken_plugin_is_rejected_naming_class_and_distribution(
    broken_plugin: str, kind: str, cls: str, message: str
) -> None:
    with pytest.raises(RegistryError) as info:
        resolve_kind(kind)
    text = str(info.value)
    assert message in text
    assert "distribution brokenplug 1.0" in text
    assert cls in text


def test_load_registry_stops_at_a_broken_plugin(broken_plugin: str) -> None:
    with pytest.raises(RegistryError, match="brokenplug"):
        load_registry(plugin_eps(broken_plugin))


def test_a_kind_registered_by_two_distributions_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path / "a", "plug_a", {"good": "mod_a:Good"}, "mod_a")
    install_plugin(tmp_path / "b", "plug_b", {"good": "mod_b:Good"}, "mod_b")
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    eps = plugin_eps("plug_a") + plugin_eps("plug_b")
    with pytest.raises(RegistryError, match="registered twice: by distribution plug_"):
        load_registry(eps)
    with pytest.raises(RegistryError, match="registered twice"):
        resolve_kind("good", eps)


def test_verify_connector_accepts_the_sql_connector() -> None:
    assert verify_connector(SqlConnector, "sql", "distribution crmhub") is SqlConnector
