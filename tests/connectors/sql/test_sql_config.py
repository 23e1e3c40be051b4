"""SqlConfig validation: table-driven invalid configs, path anchoring, no inline passwords."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.sql import SqlConfig

VALID: dict[str, Any] = {"type": "sql", "url": "sqlite:///silo.db", "table": "t", "key": "id"}

INVALID_CONFIGS = [
    ({"url": "postgresql://bob:s3cr3t-pw@db/crm"}, "url", "use|give 'password: {env: NAME}'"),
    ({"url": "not a url"}, "url", "not a valid SQLAlchemy URL"),
    ({"query": "SELECT 1"}, "", "exactly one of 'table' or 'query'"),
    ({"table": None}, "", "exactly one of 'table' or 'query'"),
    ({"table": None, "query": "DELETE FROM t"}, "query", "single SELECT"),
    ({"key": []}, "key", "at least one column"),
    ({"batch_size": 0}, "batch_size", "greater than or equal to 1"),
    ({"add_missing_columns": True}, "", "needs 'write_columns'"),
    ({"write_mode": "insert"}, "write_mode", "'update' or 'upsert'"),
    ({"mapping": {}}, "mapping", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "field", "message"), INVALID_CONFIGS)
def test_invalid_configs_are_rejected_with_a_fix(
    change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        SqlConfig.model_validate({**VALID, **change})
    error = info.value.errors()[0]
    assert ".".join(map(str, error["loc"])) == field
    assert any(part in error["msg"] for part in message.split("|"))


def test_inline_password_never_appears_in_the_error() -> None:
    with pytest.raises(ValidationError) as info:
        SqlConfig.model_validate({**VALID, "url": "postgresql://bob:s3cr3t-pw@db/crm"})
    assert "s3cr3t-pw" not in str(info.value)
    assert "password: {env: NAME}" in str(info.value)


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = SqlConfig.model_validate(
        {**VALID, "url": "sqlite:///silos/accounting.db"}, context={"base_dir": str(tmp_path)}
    )
    assert config.url == f"sqlite:///{tmp_path}/silos/accounting.db"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////abs/path.db", "sqlite://", "postgresql+psycopg://u@h:5432/db"],
)
def test_other_urls_are_kept(url: str, tmp_path: Path) -> None:
    config = SqlConfig.model_validate({**VALID, "url": url}, context={"base_dir": str(tmp_path)})
    assert config.url == url


def test_stream_name_key_and_write_table_defaults() -> None:
    config = SqlConfig.model_validate({**VALID, "key": ["a", "b"]})
    assert (config.stream, config.key_columns, config.target_table) == ("t", ("a", "b"), "t")
    query = SqlConfig.model_validate({**VALID, "table": None, "query": "select 1 as id;"})
    assert (query.stream, query.query, query.target_table) == ("query", "select 1 as id", None)
    named = SqlConfig.model_validate({**VALID, "stream_name": "customers", "write_table": "w"})
    assert (named.stream, named.target_table) == ("customers", "w")


def test_password_reference_is_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNTING_DB_PASSWORD", "p4ss-w0rd")
    config = SqlConfig.model_validate({**VALID, "password": {"env": "ACCOUNTING_DB_PASSWORD"}})
    assert "p4ss-w0rd" not in repr(config)
