"""crmhub's conformance suite, run on this connector: a subclass and a `target` fixture."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from crmhub.testing import ConnectorConformance

from jsonl_target import JsonLinesTarget


class TestJsonLinesConformance(ConnectorConformance):
    @pytest.fixture
    def target(self, tmp_path: Path) -> Iterator[JsonLinesTarget]:
        target = JsonLinesTarget(tmp_path)
        yield target
        target.close()
