"""Config of the `sql` connector: one table or query of any database SQLAlchemy can reach.

The password never sits in the URL (where logs, errors and `repr()` would show it): it comes from
a `SecretRef` and is put into the URL only when the engine is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from crmhub.config.secrets import SecretRef
from crmhub.connectors.base import ConnectorConfig, KeyColumns

QUERY_STREAM = "query"
"""Stream name used when the source is a `query` and no `stream_name` is given."""


class SqlConfig(ConnectorConfig):
    """One stream read from a table (or a SELECT) and optionally written back by key.

    Exactly one of `table` and `query` is given. Identifiers (`table`, `db_schema`, columns) are
    always quoted by SQLAlchemy, never pasted into SQL, so a strange name is only ever a name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL without a password, e.g. sqlite:///silos/a.db")
    password: SecretRef | None = None
    table: str | None = None
    db_schema: str | None = None
    query: str | None = None
    stream_name: str | None = None
    key: KeyColumns
    cursor: str | None = None
    batch_size: int = Field(10_000, ge=1)
    write_table: str | None = None
    write_columns: list[str] | None = None
    add_missing_columns: bool = False
    write_mode: Literal["update", "upsert"] = "update"

    @field_validator("url", mode="after")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        """Reject inline passwords and anchor relative SQLite paths at the config file."""
        try:
            url = sa.make_url(value)
        except (sa.exc.ArgumentError, ValueError):
            raise ValueError(
                "not a valid SQLAlchemy URL (expected e.g. postgresql+psycopg://user@host/db "
                "or sqlite:///path/to/file.db)"
            ) from None
        if url.password:
            raise ValueError(
                "the URL contains a password; remove it from the URL and give "
                "'password: {env: NAME}' (or {file: path}) instead"
            )
        return _anchor_sqlite(url, (info.context or {}).get("base_dir"))

    @field_validator("query", mode="after")
    @classmethod
    def _check_query(cls, value: str | None) -> str | None:
        """Accept one SELECT (or WITH ... SELECT); it is wrapped as a sub-query when read."""
        if value is None:
            return None
        text = value.strip().rstrip(";").strip()
        first_word = text.split(None, 1)[0].lower() if text else ""
        if first_word not in {"select", "with"}:
            raise ValueError("query must be a single SELECT statement")
        return text

    @model_validator(mode="after")
    def _check_source(self) -> SqlConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and self.db_schema is not None and self.write_table is None:
            raise ValueError("'db_schema' applies to 'table' or 'write_table', not to 'query'")
        if self.add_missing_columns and not self.write_columns:
            raise ValueError("'add_missing_columns' needs 'write_columns' naming the columns")
        return self

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The key as a tuple, whether the config gave one column or several."""
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    @property
    def stream(self) -> str:
        """The one stream this source offers: `stream_name`, else the table, else `query`."""
        return self.stream_name or self.table or QUERY_STREAM

    @property
    def target_table(self) -> str | None:
        """Table that write-back updates: `write_table`, else the read table (None for a query)."""
        return self.write_table or self.table


def _anchor_sqlite(url: sa.URL, base_dir: str | None) -> str:
    """Make `sqlite:///rel/path.db` relative to the config file rather than the working dir."""
    database = url.database or ""
    is_relative_file = (
        url.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    )
    if is_relative_file and base_dir:
        url = url.set(database=str(Path(base_dir) / database))
    return url.render_as_string(hide_password=False)
