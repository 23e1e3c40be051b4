"""RestConfig validation: table-driven invalid configs, each naming the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.config.loader import load_hub
from crmhub.connectors.registry import resolve_kind
from crmhub.connectors.rest import RestConfig, RestConnector
from crmhub.connectors.rest.config import parse_duration
from crmhub.errors import ConfigError

STREAM: dict[str, Any] = {"name": "customers", "path": "/customers", "primary_key": "id"}
VALID: dict[str, Any] = {"type": "rest", "base_url": "https://api.example.com/v1"}


def with_stream(**changes: Any) -> dict[str, Any]:
    return {**VALID, "streams": [{**STREAM, **changes}]}


INVALID_CONFIGS = [
    ({**VALID, "streams": []}, "streams", "at least 1 item"),
    ({**VALID}, "streams", "Field required"),
    ({**with_stream(), "base_url": "api.example.com"}, "base_url", "http(s) URL"),
    ({**with_stream(), "base_url": "https://u:pw@api.example.com"}, "base_url", "use 'auth'"),
    ({**with_stream(), "base_url": "https://a.example.com?k=1"}, "base_url", "stream's params"),
    ({**with_stream(), "headers": {"Authorization": "Bearer x"}}, "headers", "use 'auth'"),
    ({**with_stream(), "timeout": 0}, "timeout", "positive seconds"),
    ({**with_stream(), "rate_limit": {}}, "rate_limit", "'per_second' and/or 'per_minute'"),
    ({**with_stream(), "retry": {"statuses": [200]}}, "retry.statuses", "400-599"),
    ({**with_stream(), "auth": {"type": "apikey"}}, "auth", "api_key"),
    (
        {**with_stream(), "auth": {"type": "bearer", "token": "plain-text"}},
        "auth.bearer.token",
        "valid dictionary",
    ),
    ({**with_stream(), "writeback": {}}, "writeback", "Extra inputs are not permitted"),
    (with_stream(primary_key=[]), "streams.0.primary_key", "at least one column"),
    (with_stream(pagination={"type": "pages"}), "streams.0.pagination", "page_number"),
    (with_stream(pagination={"type": "cursor"}), "streams.0.pagination.cursor.cursor_path", ""),
    (
        with_stream(pagination={"type": "offset", "limit": 0}),
        "streams.0.pagination.offset.limit",
        "greater than or equal to 1",
    ),
    (
        with_stream(incremental={"cursor_field": "updated_at"}),
        "streams.0.incremental",
        "exactly one of 'param'",
    ),
    (
        with_stream(
            incremental={"cursor_field": "u", "param": "since", "header": "If-Modified-Since"}
        ),
        "streams.0.incremental",
        "exactly one of 'param'",
    ),
    (
        with_stream(incremental={"cursor_field": "u", "param": "s", "lookback": "soon"}),
        "streams.0.incremental.lookback",
        "'5m', '2h' or 'PT5M'",
    ),
    (
        with_stream(incremental={"cursor_field": "u", "param": "s", "format": "rfc"}),
        "streams.0.incremental.format",
        "'iso', 'epoch', 'epoch_ms' or 'http_date'",
    ),
    (with_stream(write={"path": "/c/{id"}), "streams.0.write.path", "unbalanced brace"),
    (with_stream(write={"path": "/c/{}"}), "streams.0.write.path", "must name a field"),
    (with_stream(write={"path": "/c", "method": "DELETE"}), "streams.0.write.method", "PATCH"),
    (with_stream(write={"path": "/c", "body": {}}), "streams.0.write.body", "sends nothing"),
    (
        with_stream(write={"path": "/c/{external_id}", "batch_size": 50}),
        "streams.0.write",
        "fixed path",
    ),
    (
        with_stream(write={"path": "/c/{external_id}", "batch_key": "items"}),
        "streams.0.write",
        "need batch_size > 1",
    ),
    (with_stream(name="my customers"), "streams.0.name", "should match pattern"),
    ({**VALID, "streams": [STREAM, STREAM]}, "", "must be unique"),
]


@pytest.mark.parametrize(("block", "field", "message"), INVALID_CONFIGS)
def test_invalid_configs_name_the_field_and_the_fix(
    block: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RestConfig.model_validate(block)
    errors = info.value.errors()
    located = [e for e in errors if ".".join(map(str, e["loc"])) == field]
    assert located, [e["loc"] for e in errors]
    assert message in located[0]["msg"]


def test_minimal_config_and_defaults() -> None:
    config = RestConfig.model_validate(with_stream(pagination="link_header"))
    stream = config.streams[0]
    assert config.base_url == "https://api.example.com/v1"
    assert stream.pagination.type == "link_header"
    assert stream.record_selector == "$"
    assert stream.key_fields == ("id",)
    assert config.api_name == "api.example.com"
    default = RestConfig.model_validate(with_stream()).streams[0]
    assert default.pagination.type == "none"


def test_incremental_defaults_follow_the_carrier() -> None:
    header = {"cursor_field": "updated_at", "header": "If-Modified-Since", "lookback": "5m"}
    config = RestConfig.model_validate(with_stream(incremental=header))
    incremental = config.streams[0].incremental
    assert incremental is not None
    assert (incremental.value_format, incremental.lookback) == ("http_date", 300.0)
    param = {"cursor_field": "updated_at", "param": "updated_since"}
    incremental = RestConfig.model_validate(with_stream(incremental=param)).streams[0].incremental
    assert incremental is not None and incremental.value_format == "iso"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (300, 300.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("PT1H30M", 5400.0),
        ("P1D", 86400.0),
        ("250ms", 0.25),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_registered_under_rest_with_all_capabilities() -> None:
    assert resolve_kind("rest") is RestConnector
    assert {c.value for c in RestConnector.capabilities} == {
        "read",
        "incremental",
        "write",
        "auth",
        "retry",
    }


def test_hub_yaml_typo_is_reported_with_line_and_suggestion(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(
        "sources:\n"
        "  crm:\n"
        "    type: rest\n"
        "    base_url: https://api.example.com\n"
        "    streams:\n"
        "      - name: customers\n"
        "        path: /customers\n"
        "        primary_key: id\n"
        "        record_selectr: data.items\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_hub(tmp_path / "hub.yaml")
    text = str(info.value)
    assert "hub.yaml:9" in text
    assert "sources.crm.streams[0].record_selectr: unknown field" in text
    assert "did you mean 'record_selector'?" in text


def test_example_config_loads() -> None:
    hub = load_hub(Path(__file__).parents[3] / "examples" / "rest.yaml")
    config = hub.sources["crm"].connector_config
    assert isinstance(config, RestConfig)
    assert {s.name for s in config.streams} >= {"customers"}
