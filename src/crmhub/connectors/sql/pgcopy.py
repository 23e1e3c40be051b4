"""The PostgreSQL fast path: `COPY (SELECT ...) TO STDOUT` straight into columnar batches.

The server renders each value as the text the record's JSON payload would show (ISO dates,
`T` between date and time, `+HH:MM` offsets, decimals as text), polars parses the CSV stream,
and integers and booleans become typed columns. Records read from the batch as dicts carry the
same Python values as the cursor path (converters), so incremental bookkeeping is unchanged.
Column types without an exact text rendering (floats, intervals, JSON, arrays, ...) make the
stream use the cursor path instead.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa

from crmhub.connectors.base import RecordFrame

_TEXT = {25, 1043, 1042, 19}
_INT = {20, 21, 23}
_SECONDS = 'YYYY-MM-DD"T"HH24:MI:SS'
_FRACTION = (
    "CASE WHEN mod(extract(microseconds FROM {c})::bigint, 1000000) <> 0 "
    "THEN to_char({c}, '.US') ELSE '' END"
)
_RENDER: dict[int, tuple[str, str, Callable[[Any], Any] | None]] = {
    16: ("{c}", "bool", None),
    1700: ("{c}::text", "decimal", Decimal),
    1082: ("to_char({c}, 'YYYY-MM-DD')", "text", date.fromisoformat),
    1114: (f"to_char({{c}}, '{_SECONDS}') || {_FRACTION}", "text", datetime.fromisoformat),
    1184: (
        f"to_char({{c}}, '{_SECONDS}') || {_FRACTION} || to_char({{c}}, 'TZH:TZM')",
        "text",
        datetime.fromisoformat,
    ),
    2950: ("{c}::text", "text", uuid.UUID),
}
"""OID -> (SQL rendering of column {c}, kind in the frame, text -> Python value)."""


class CopyPlan:
    """How each selected column is rendered, parsed and turned back into a Python value."""

    def __init__(self, names: tuple[str, ...], oids: list[int]) -> None:
        self.names = names
        self.oids = oids

    @classmethod
    def probe(cls, conn: sa.Connection, stmt: sa.Select[Any]) -> CopyPlan | None:
        """The plan for `stmt`'s columns, None when one has a type without a fast rendering."""
        sql, params = _compile(conn, stmt)
        with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(f"SELECT * FROM ({sql}) crmhub_probe LIMIT 0", params)
            description = cursor.description or []
        oids = [column.type_code for column in description]
        if any(oid not in _TEXT | _INT and oid not in _RENDER for oid in oids):
            return None
        return cls(tuple(column.name for column in description), oids)

    def copy_sql(self, conn: sa.Connection, stmt: sa.Select[Any]) -> tuple[str, dict[str, Any]]:
        """`COPY (the statement with rendered columns) TO STDOUT` and its parameters."""
        quote = conn.dialect.identifier_preparer.quote
        columns = []
        for name, oid in zip(self.names, self.oids, strict=True):
            template = _RENDER[oid][0] if oid in _RENDER else "{c}"
            column = f"crmhub_src.{quote(name)}"
            columns.append(f"{template.format(c=column)} AS {quote(name)}")
        sql, params = _compile(conn, stmt)
        select = f"SELECT {', '.join(columns)} FROM ({sql}) crmhub_src"
        return f"COPY ({select}) TO STDOUT (FORMAT csv)", params

    def to_frame(self, data: bytes) -> RecordFrame:
        """Parse one batch of COPY CSV into a frame of JSON-ready columns."""
        schema = dict.fromkeys(self.names, pl.String)
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            new_columns=list(self.names),
            schema=schema,
            raise_if_empty=False,
        )
        casts = []
        converters: dict[str, Callable[[Any], Any]] = {}
        for name, oid in zip(self.names, self.oids, strict=True):
            kind = "int" if oid in _INT else _RENDER[oid][1] if oid in _RENDER else "text"
            if kind == "int":
                casts.append(pl.col(name).cast(pl.Int64))
            elif kind == "bool":
                casts.append(pl.col(name) == "t")
            if oid in _RENDER and _RENDER[oid][2] is not None:
                converters[name] = _RENDER[oid][2]  # type: ignore[assignment]
        frame = frame.with_columns(casts) if casts else frame
        for name, oid in zip(self.names, self.oids, strict=True):
            if oid == 1700:
                frame = frame.with_columns(_decimal_text(frame[name]))
        return RecordFrame(frame, converters)


def read_batches(
    conn: sa.Connection, stmt: sa.Select[Any], plan: CopyPlan, batch_size: int
) -> Iterator[RecordFrame]:
    """Stream `stmt` with COPY, `batch_size` rows a frame, holding one batch at a time."""
    sql, params = plan.copy_sql(conn, stmt)
    buffer = bytearray()
    rows = 0
    with (
        conn.connection.driver_connection.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(sql, params) as copy,
    ):
        for data in copy:  # one COPY message per row
            buffer += data
            rows += 1
            if rows == batch_size:
                yield plan.to_frame(bytes(buffer))
                buffer.clear()
                rows = 0
    if rows:
        yield plan.to_frame(bytes(buffer))


def _decimal_text(column: pl.Series) -> pl.Series:
    """Numeric text as `str(Decimal)` shows it: tiny values use an exponent (rare, so looped)."""
    tiny = column.str.contains(r"^-?0\.0{6,}").fill_null(False)
    if not tiny.any():
        return column
    values = column.to_list()
    for at in tiny.arg_true().to_list():
        values[at] = str(Decimal(values[at]))
    return pl.Series(column.name, values, dtype=pl.String)


def _compile(conn: sa.Connection, stmt: sa.Select[Any]) -> tuple[str, dict[str, Any]]:
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)
