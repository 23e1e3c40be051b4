"""The `sql` connector: any database SQLAlchemy reaches, one table or SELECT per source.

Driver exceptions never leave this module: each is mapped to a crmhub error with one line a
person can act on (wrong password, host down, unknown database, missing table), and the
password is removed from every message even if a driver were to echo it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn

from crmhub.connectors.base import (
    Batch,
    Capability,
    CheckResult,
    Connector,
    RowResult,
    RowStatus,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
    join_key,
)
from crmhub.connectors.sql.config import SqlConfig
from crmhub.connectors.sql.streams import (
    Source,
    StreamReader,
    check_columns,
    coerce_value,
    column_type_for,
    reflect_source,
    values_equal,
)
from crmhub.errors import (
    AuthError,
    ConnectorError,
    RetryableError,
    SourceContractError,
    SourceUnavailableError,
)

log = logging.getLogger(__name__)

# (pattern in the driver message, error class, what to tell the user); first match wins.
_ERROR_RULES: tuple[tuple[re.Pattern[str], type[ConnectorError], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cls, what)
    for p, cls, what in (
        (
            r"password authentication failed|access denied for user|no password supplied|"
            r"role \S+ does not exist|authentication failed|is not permitted to log in",
            AuthError,
            "login refused: check the user and the password",
        ),
        (
            r"database \S+ does not exist|unknown database",
            SourceUnavailableError,
            "unknown database",
        ),
        (
            r"connection refused|could not translate host|name or service not known|"
            r"can't connect|timeout expired|timed out|no route to host|"
            r"unable to open database file",
            SourceUnavailableError,
            "cannot reach the database",
        ),
        (
            r"no such table|relation \S+ does not exist|table \S+ doesn't exist|"
            r"no such column|column \S+ does not exist|unknown column",
            SourceContractError,
            "table or column not found",
        ),
        (
            r"server closed the connection|lost connection|gone away|connection reset",
            RetryableError,
            "connection lost",
        ),
    )
)


class SqlConnector(Connector):
    """Reads a table or query incrementally and writes chosen columns back by key."""

    kind: ClassVar[str] = "sql"
    config_model: ClassVar[type[SqlConfig]] = SqlConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ, Capability.INCREMENTAL, Capability.WRITE, Capability.AUTH}
    )

    def __init__(self, config: SqlConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.config: SqlConfig = config
        self._engine: sa.Engine | None = None

    def check(self) -> CheckResult:
        """Connect, run `SELECT 1` and look at the stream; a failure is one readable line."""
        try:
            with self._connection() as conn:
                conn.execute(sa.select(sa.literal(1))).scalar_one()
                source = self._source(conn)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(
            ok=True, message=f"{self.config.stream!r}: {len(source.columns)} columns"
        )

    def discover(self) -> list[StreamSpec]:
        """The single stream with its key, cursor and reflected columns."""
        with self._connection() as conn:
            source = self._source(conn)
        cfg = self.config
        return [StreamSpec(cfg.stream, cfg.key_columns, cfg.cursor, source.columns)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Stream batches after `state`, holding one open server-side cursor throughout."""
        self._check_stream(stream)
        cfg = self.config
        with self._connection() as conn:
            reader = StreamReader(self._source(conn), cfg.key_columns, cfg.cursor, cfg.batch_size)
            yield from reader.read(conn, state)

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Update (or, in upsert mode, insert) the given columns by key in one transaction."""
        self._check_stream(stream)
        cfg = self.config
        if cfg.target_table is None:
            raise SourceContractError(
                "write-back from a query source needs 'write_table'", source=self.name
            )
        with self._translated():
            writer = TableWriter(self._get_engine(), cfg, self.name)
            return writer.write(rows)

    def close(self) -> None:
        """Dispose of the connection pool."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _source(self, conn: sa.Connection) -> Source:
        try:
            source = reflect_source(conn, self.config)
        except sa.exc.NoSuchTableError:
            raise SourceContractError(self._missing_table(conn), source=self.name) from None
        try:
            check_columns(source, self.config)
        except SourceContractError as exc:
            raise SourceContractError(str(exc), source=self.name) from None
        return source

    def _missing_table(self, conn: sa.Connection) -> str:
        table, schema = self.config.table, self.config.db_schema
        where = f" in schema {schema!r}" if schema else ""
        names = sorted(sa.inspect(conn).get_table_names(schema=schema))
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        return f"table {table!r} not found{where}; tables are: {shown or '(none)'}"

    def _check_stream(self, stream: str) -> None:
        if stream != self.config.stream:
            raise SourceContractError(
                f"unknown stream {stream!r}; this source has only {self.config.stream!r}",
                source=self.name,
            )

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        with self._translated(), self._get_engine().connect() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLAlchemy/driver errors raised inside into crmhub errors."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise self._translate(exc) from None

    def _get_engine(self) -> sa.Engine:
        if self._engine is None:
            url = sa.make_url(self.config.url)
            self._require_sqlite_file(url)
            if self.config.password is not None:
                secret = self.config.password.resolve().get_secret_value()
                url = url.set(password=secret)
            self._engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        return self._engine

    def _require_sqlite_file(self, url: sa.URL) -> None:
        """SQLite would silently create a missing file; a silo that is not there is an error."""
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return
        if not database.startswith("file:") and not Path(database).is_file():
            raise SourceUnavailableError(f"database file not found: {database}", source=self.name)

    def _translate(self, exc: sa.exc.SQLAlchemyError) -> ConnectorError:
        """One line naming what went wrong and where, without the password."""
        detail = _first_line(str(getattr(exc, "orig", None) or exc))
        secret = self._engine.url.password if self._engine is not None else None
        if secret:
            detail = detail.replace(str(secret), "***")
        where = sa.make_url(self.config.url).render_as_string(hide_password=True)
        for pattern, cls, what in _ERROR_RULES:
            if pattern.search(detail):
                return cls(f"{what} ({detail}) [{where}]", source=self.name)
        fallback: type[ConnectorError] = SourceContractError
        if isinstance(exc, sa.exc.OperationalError):
            fallback = SourceUnavailableError
        return fallback(f"{type(exc).__name__}: {detail} [{where}]", source=self.name)


def _first_line(message: str) -> str:
    """The most telling line of a driver message (PostgreSQL puts it after 'FATAL:')."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "FATAL:" in line:
            return line[line.index("FATAL:") + 6 :].strip()
    return re.sub(r"\s+", " ", lines[0]) if lines else "unknown error"


@dataclass
class _Planned:
    """One checked row: key values bound as the key columns' types, values coerced."""

    index: int
    upsert: Upsert
    key: tuple[Any, ...] | None
    values: dict[str, Any]


@dataclass(frozen=True)
class _Op:
    """A statement to run for one row: update (changed columns only) or insert."""

    index: int
    kind: str
    columns: tuple[str, ...]
    params: dict[str, Any]


@dataclass(frozen=True)
class _Rejected:
    """A row the database refused, by its input position."""

    index: int
    reason: str


class TableWriter:
    """Write-back into one table: read the current values first, then touch only what differs.

    Everything happens in one transaction; runs of rows that change the same columns go to the
    database as one executemany, in input order, so a later row for the same key wins.
    """

    def __init__(self, engine: sa.Engine, config: SqlConfig, source: str) -> None:
        self.engine, self.config, self.source = engine, config, source
        self.key = config.key_columns

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Apply `rows` and report each one, in order."""
        table = self._ensure_columns(self._reflect(), rows)
        results: dict[int, RowResult] = {}
        planned = []
        for index, row in enumerate(rows):
            try:
                planned.append(self._plan(index, row, table))
            except ValueError as exc:
                results[index] = _result(row, RowStatus.REJECTED, str(exc))
        with self.engine.begin() as conn:
            current = self._fetch_current(conn, table, planned)
            ops = [op for plan in planned if (op := self._decide(plan, current, results))]
            for reject in self._apply(conn, table, ops):
                results[reject.index] = _result(
                    rows[reject.index], RowStatus.REJECTED, reject.reason
                )
        log.info("wrote %d rows to %s: %s", len(rows), table.name, _summary(results))
        return WriteReport([results[i] for i in range(len(rows))])

    def _reflect(self) -> sa.Table:
        """The write table with its column types (for coercing and binding values)."""
        name, schema = self.config.target_table, self.config.db_schema
        assert name is not None
        inspector = sa.inspect(self.engine)
        if not inspector.has_table(name, schema=schema):
            raise SourceContractError(f"write table {name!r} not found", source=self.source)
        # MySQL reflection reads SHOW CREATE TABLE and leaves a quoted name's `` doubled.
        fix = (lambda n: n.replace("``", "`")) if self.engine.dialect.name == "mysql" else str
        columns = inspector.get_columns(name, schema=schema)
        return sa.Table(
            name,
            sa.MetaData(),
            *(sa.Column(fix(c["name"]), c["type"]) for c in columns),
            schema=schema,
        )

    def _ensure_columns(self, table: sa.Table, rows: Sequence[Upsert]) -> sa.Table:
        """ALTER TABLE ADD COLUMN for each missing write column, when the config allows it."""
        missing = [c for c in self.config.write_columns or () if c not in table.c]
        if not (missing and self.config.add_missing_columns):
            return table
        with self.engine.begin() as conn:
            table_sql = conn.dialect.identifier_preparer.format_table(table)
            for name in missing:
                type_ = column_type_for([r.fields.get(name) for r in rows])
                spec = CreateColumn(sa.Column(name, type_)).compile(dialect=conn.dialect)
                # the dialect's preparer quoted both names and doubled any % for the driver
                conn.exec_driver_sql(f"ALTER TABLE {table_sql} ADD COLUMN {spec}")
                log.info("added column %r to table %r", name, table.name)
        return self._reflect()

    def _plan(self, index: int, row: Upsert, table: sa.Table) -> _Planned:
        """Check a row's columns and key, coerce its values; ValueError says why not."""
        allowed = self.config.write_columns
        for name in row.fields:
            if name in self.key:
                raise ValueError(f"key column {name!r} cannot be written")
            if allowed is not None and name not in allowed:
                raise ValueError(f"column {name!r} is not in write_columns {allowed}")
            if name not in table.c:
                raise ValueError(f"table {table.name!r} has no column {name!r}")
        values = {n: coerce_value(v, table.c[n]) for n, v in row.fields.items()}
        return _Planned(index, row, self._key_values(row.external_id, table), values)

    def _key_values(self, external_id: str | None, table: sa.Table) -> tuple[Any, ...] | None:
        if external_id is None:
            return None
        parts = external_id.split("|") if len(self.key) > 1 else [external_id]
        if len(parts) != len(self.key):
            raise ValueError(f"external id {external_id!r} does not have {len(self.key)} parts")
        return tuple(coerce_value(p, table.c[k]) for p, k in zip(parts, self.key, strict=True))

    def _fetch_current(
        self, conn: sa.Connection, table: sa.Table, planned: list[_Planned]
    ) -> dict[str, dict[str, Any]]:
        """Stored values of the rows' keys and fields, by source id, as the driver returns them."""
        keys = list({p.key for p in planned if p.key is not None})
        names = [*self.key, *sorted({n for p in planned for n in p.values})]
        raw = [sa.type_coerce(table.c[n], sa.types.NullType()) for n in names]
        key_cols = [table.c[k] for k in self.key]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            where = (
                key_cols[0].in_([k[0] for k in chunk])
                if len(key_cols) == 1
                else sa.tuple_(*key_cols).in_(chunk)
            )
            for row in conn.execute(sa.select(*raw).where(where)):
                found[join_key(row[: len(self.key)])] = dict(zip(names, row, strict=True))
        return found

    def _decide(
        self, plan: _Planned, current: dict[str, dict[str, Any]], results: dict[int, RowResult]
    ) -> _Op | None:
        """Compare with the stored row; record the row's outcome and return what to run."""
        row = plan.upsert
        stored = current.get(join_key(plan.key)) if plan.key is not None else None
        if stored is None:
            if self.config.write_mode != "upsert":
                reason = f"no row with key {'|'.join(self.key)}={row.external_id!r}"
                results[plan.index] = _result(row, RowStatus.REJECTED, reason)
                return None
            results[plan.index] = _result(row, RowStatus.APPLIED)
            keys = dict(zip(self.key, plan.key, strict=True)) if plan.key is not None else {}
            if plan.key is not None:
                current[join_key(plan.key)] = {**keys, **plan.values}
            return _Op(plan.index, "insert", (*keys, *plan.values), {**keys, **plan.values})
        changed = {n: v for n, v in plan.values.items() if not values_equal(stored.get(n), v)}
        if not changed:
            results[plan.index] = _result(row, RowStatus.UNCHANGED)
            return None
        stored.update(changed)
        results[plan.index] = _result(row, RowStatus.APPLIED)
        assert plan.key is not None
        keys = dict(zip(self.key, plan.key, strict=True))
        return _Op(plan.index, "update", tuple(changed), {**keys, **changed})

    def _apply(self, conn: sa.Connection, table: sa.Table, ops: list[_Op]) -> list[_Rejected]:
        """Run the ops in order, one executemany per run of ops with the same shape.

        When the database refuses a run (a value too long, a NOT NULL column left empty), the
        run is repeated row by row, each in a savepoint, so only the refused rows are rejected.
        """
        rejected: list[_Rejected] = []
        for (kind, columns), group in groupby(ops, key=lambda op: (op.kind, op.columns)):
            run = list(group)
            stmt = self._statement(table, kind, columns)
            try:
                with conn.begin_nested():
                    conn.execute(stmt, [_positional(op, columns, self.key) for op in run])
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                rejected += self._apply_one_by_one(conn, stmt, run)
        return rejected

    def _apply_one_by_one(self, conn: sa.Connection, stmt: Any, run: list[_Op]) -> list[_Rejected]:
        rejected = []
        for op in run:
            try:
                with conn.begin_nested():
                    conn.execute(stmt, _positional(op, op.columns, self.key))
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                reason = f"refused by the database: {_first_line(str(exc.orig))}"
                rejected.append(_Rejected(op.index, reason))
        return rejected

    def _statement(self, table: sa.Table, kind: str, columns: tuple[str, ...]) -> Any:
        """UPDATE/INSERT with numbered bind names, so no identifier is ever a bind name."""
        values = {
            table.c[c]: sa.bindparam(f"v{i}", type_=table.c[c].type) for i, c in enumerate(columns)
        }
        if kind == "insert":
            return sa.insert(table).values(values)
        where = [
            table.c[k] == sa.bindparam(f"k{i}", type_=table.c[k].type)
            for i, k in enumerate(self.key)
        ]
        return sa.update(table).where(*where).values(values)


def _positional(op: _Op, columns: tuple[str, ...], key: tuple[str, ...]) -> dict[str, Any]:
    params = {f"v{i}": op.params[c] for i, c in enumerate(columns)}
    if op.kind == "update":
        params.update({f"k{i}": op.params[k] for i, k in enumerate(key)})
    return params


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)


def _summary(results: dict[int, RowResult]) -> str:
    counts = {s.value: sum(1 for r in results.values() if r.status is s) for s in RowStatus}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
