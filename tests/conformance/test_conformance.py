"""The conformance suite over every target in tests/conformance/targets/ and the plug-in example.

Coverage is part of the suite: a registered kind without a target fails here, so a new
connector cannot ship without running the suite.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

import pytest

from crmhub.connectors.registry import GROUP, available_kinds, load_registry
from crmhub.testing import ConformanceTarget, ConnectorConformance

from .targets import kind_of, load_targets

TARGETS = load_targets()
PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin-connector"


class TestConformance(ConnectorConformance):
    """Every test of the suite, once per target."""

    @pytest.fixture(params=sorted(TARGETS.factories))
    def target(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConformanceTarget]:
        target = TARGETS.factories[request.param](tmp_path)
        yield target
        target.close()


def test_every_target_module_loads() -> None:
    problems = "\n".join(f"{name}:\n{why}" for name, why in TARGETS.broken.items())
    assert not TARGETS.broken, f"target modules that cannot be loaded:\n{problems}"


def test_every_registered_kind_has_a_target(tmp_path_factory: pytest.TempPathFactory) -> None:
    registered = set(available_kinds())
    covered = {
        kind_of(factory, tmp_path_factory.mktemp(target_id))
        for target_id, factory in TARGETS.factories.items()
    }
    missing, unknown = sorted(registered - covered), sorted(covered - registered)
    assert not missing, f"registered kinds without a conformance target: {missing}"
    assert not unknown, f"targets of kinds that are not registered: {unknown}"
    assert set(load_registry()) == registered, "every registered kind must also load"


def _plugin_target_module() -> ModuleType:
    """The plug-in's own target (it lives in its tests, not in its package)."""
    path = PLUGIN / "tests" / "jsonl_target.py"
    spec = importlib.util.spec_from_file_location("crmhub_jsonl_conformance_target", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestPluginConnector(ConnectorConformance):
    """The out-of-tree example, loaded through an entry point as an installed plug-in would be."""

    @pytest.fixture
    def target(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[ConformanceTarget]:
        monkeypatch.syspath_prepend(str(PLUGIN / "src"))
        ep = EntryPoint("jsonl", "crmhub_jsonl.connector:JsonLinesConnector", GROUP)
        connector_class = load_registry(eps=[ep])["jsonl"]
        target = _plugin_target_module().JsonLinesTarget(tmp_path, connector_class)
        yield target
        target.close()


BROKEN_EXPECTED = {
    "TestSkipsTheBoundary": "test_incremental_resume_loses_no_change",
    "TestSavesTheFinalState": "test_incremental_resumes_after_a_crash_between_batches",
    "TestRepeatsABatch": "test_full_read_returns_exactly_the_seeded_rows",
    "TestReportsOutOfOrder": "test_write_applies_then_is_unchanged",
    "TestDropsBadLines": "test_bad_row_is_rejected_and_good_rows_read",
    "TestLogsItsToken": "test_no_secret_in_logs_or_errors",
    "TestShowsItsToken": "test_no_secret_in_logs_or_errors",
}
"""Each deliberately broken variant of the example and a test of the suite that must catch it."""


def test_suite_fails_broken_connectors(tmp_path: Path) -> None:
    report = tmp_path / "broken.xml"
    command = [sys.executable, "-m", "pytest", "tests/broken_connectors.py", "-q"]
    command += ["-p", "no:cacheprovider", "-c", "pyproject.toml", f"--junitxml={report}"]
    subprocess.run(command, cwd=PLUGIN, capture_output=True, timeout=300, check=False)
    failed = {
        (case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))
        for case in ET.parse(report).iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }
    missed = {cls: test for cls, test in BROKEN_EXPECTED.items() if (cls, test) not in failed}
    assert not missed, f"the suite passed connectors that are broken: {missed}"
