"""Every shipped example config is valid, so users can start from any of them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from crmhub.config.loader import load_hub

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path: Path) -> None:
    hub = load_hub(path)
    assert hub.sources


def test_demo_config_is_valid(tmp_path: Path) -> None:
    demo = resources.files("crmhub.config").joinpath("demo/hub.yaml").read_text(encoding="utf-8")
    (tmp_path / "hub.yaml").write_text(demo, encoding="utf-8")
    hub = load_hub(tmp_path / "hub.yaml")
    assert set(hub.sources) == {"accounting", "sales", "credit", "marketing"}


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2
