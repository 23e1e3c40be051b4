"""Find golden customers by phone, e-mail or name, and return their 360 view.

A caller types a value the way it is at hand ("(718) 436-4217", "John.Smith+news@Gmail.com",
"Bill Smith"); the golden-record DB stores whatever each source wrote. Both sides go through the
normalisers matching uses (`crmhub.matching.normalize`), so a lookup finds exactly the values
matching would consider equal. The normalised values live in ``golden_lookup_key`` (migration
0004), keyed by (kind, key, golden_id): a lookup is one probe of that key joined to
``golden_customer``, then one indexed read of the customer's source records.

Keys come from every source record of each active golden customer *and* from the golden record
itself, so a phone that lost survivorship (an old number a source still has) finds the customer
too. Only active customers have keys; `refresh_lookup_keys` drops the keys of ids a merge
retired, and the lookup query keeps to active rows as well.

Names are keyed as "<first given name, nickname made formal> <last name>" ("Bill J. Smith" ->
"william smith"); a typed name is tried with every split into given names and last name, and in
"last first" order, so middle names, double last names and "Smith Bill" find the record.

This module imports only the standard library at import time: it is re-exported by
``crmhub.golden_record``, which light modules (golden ids for ``crmhub dedupe``) import too, and
the CLI command should not pay for pandas before it needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.errors import CrmhubError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import sqlalchemy as sa

__all__ = [
    "KEY_TABLE",
    "KINDS",
    "CustomerView",
    "LookupQueryError",
    "SourceView",
    "lookup",
    "lookup_keys",
    "query_keys",
    "refresh_lookup_keys",
]

KEY_TABLE = "golden_lookup_key"
KINDS = ("phone", "email", "name")

_VALUE_COLUMNS = ("first_name", "last_name", "email", "phone")
_IDS = "crmhub_lookup_ids"
_CHUNK = 200_000
"""Rows normalised at a time by a refresh: a whole million-customer DB at once would not fit
comfortably in memory as Python objects."""


class LookupQueryError(CrmhubError, ValueError):
    """A lookup value that cannot be a key: no value at all, an invalid phone, a lone word."""


@dataclass(frozen=True)
class SourceView:
    """One source record of a golden customer, as the source last sent it."""

    source: str
    stream: str
    source_id: str
    fields: dict[str, str | None]
    deleted: bool


@dataclass(frozen=True)
class CustomerView:
    """A golden customer with every source record it was built from: the "360 view".

    `matched` names the kinds of the query that found this customer ("phone", "email",
    "name"); results are ordered by how many of them matched.
    """

    golden_id: str
    fields: dict[str, str | None]
    version: int
    updated_at: datetime | str | None
    matched: tuple[str, ...]
    sources: tuple[SourceView, ...]


# --- lookup ----------------------------------------------------------------------------------


def lookup(
    engine: sa.Engine,
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    default_region: str = "US",
    limit: int = 10,
) -> list[CustomerView]:
    """Active golden customers with the given phone, e-mail or name, best match first.

    Args:
        engine: the golden-record database (migrated to 0004 or later).
        phone: a phone number in any notation; national numbers are read in `default_region`.
        email: an e-mail address in any case, with or without a "+tag".
        name: "First Last", "First Middle Last", "Last First" or "Last, First".
        default_region: region of phone numbers without a country code (the hub's
            ``matching.default_region``, so the query is read like the stored numbers).
        limit: at most this many customers.

    Returns:
        Customers any given value matched, those matching more of them first, then by id;
        an empty list when none did.

    Raises:
        LookupQueryError: no value was given, or a given value normalises to nothing (an
            invalid phone number, not an e-mail address, a name without first and last name);
            such a query could never match, and saying so beats an empty answer.
    """
    keys = query_keys(phone=phone, email=email, name=name, default_region=default_region)
    with engine.connect() as conn:
        found = _find(conn, keys, limit)
        if not found:
            return []
        sources = _sources(conn, [row[0] for row in found])
    return [
        CustomerView(
            golden_id=row[0],
            fields=dict(zip(CANONICAL_FIELDS, row[1 : 1 + len(CANONICAL_FIELDS)], strict=True)),
            version=int(row[-4]),
            updated_at=row[-3],
            matched=tuple(kind for kind in KINDS if kind in str(row[-1]).split(",")),
            sources=tuple(sources.get(row[0], ())),
        )
        for row in found
    ]


def query_keys(
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
    default_region: str = "US",
) -> list[tuple[str, str]]:
    """The (kind, key) pairs a lookup probes for: the query run through matching's normalisers.

    Raises:
        LookupQueryError: as `lookup` does.
    """
    if phone is None and email is None and name is None:
        raise LookupQueryError("give a phone number, an e-mail address or a name to look up")
    keys: list[tuple[str, str]] = []
    if phone is not None:
        key = _phone_key(phone, default_region.upper())
        if key is None:
            raise LookupQueryError(
                f"{phone!r} is not a valid phone number (national numbers are read as "
                f"{default_region.upper()})"
            )
        keys.append(("phone", key))
    if email is not None:
        key = _email_key(email)
        if key is None:
            raise LookupQueryError(f"{email!r} is not an e-mail address")
        keys.append(("email", key))
    if name is not None:
        names = _name_keys(name)
        if not names:
            raise LookupQueryError(f"{name!r}: a name lookup needs a first and a last name")
        keys.extend(("name", key) for key in names)
    return keys


# One query value goes through the one-value normalisers (`normalize_value`): the same result as
# the column normalisers the build used, in microseconds instead of milliseconds.


def _phone_key(phone: str, region: str) -> str | None:
    from crmhub.matching.normalize_value import phone_value

    return phone_value(phone, region)


def _email_key(email: str) -> str | None:
    from crmhub.matching.normalize_value import email_value

    return email_value(email)


@lru_cache(maxsize=4096)
def _name_keys(name: str) -> tuple[str, ...]:
    """Every name key the typed `name` may stand for (see the module docstring).

    "Last, First" is split by `normalize_name_columns` exactly as a stored record with the
    whole name in one field is; otherwise the words are tried as given names then last name,
    and the other way round.
    """
    from crmhub.matching.normalize import canonical_first_name, normalize_name_columns
    from crmhub.matching.normalize_value import formal_first_name, name_value

    if "," in name:
        first, last = normalize_name_columns(_series([""]), _series([name]))
        given, surname = _first(first), _first(last)
        if given is None or surname is None:
            return ()
        formal = _first(canonical_first_name(_series([given.split(" ", 1)[0]])))
        return (f"{formal} {surname}",)
    words = (name_value(name) or "").split()
    if len(words) < 2:
        return ()
    first_word, second_word = formal_first_name(words[0]), formal_first_name(words[1])
    keys = [f"{first_word} {' '.join(words[k:])}" for k in range(1, len(words))]
    keys.append(f"{second_word} {words[0]}")  # "Smith Bill"
    return tuple(dict.fromkeys(keys))


def _series(values: Sequence[str]) -> pd.Series:
    import pandas as pd

    return pd.Series(list(values), dtype=object)


def _first(values: pd.Series) -> str | None:
    value = values.iloc[0]
    return value if isinstance(value, str) else None


def _find(conn: sa.Connection, keys: Sequence[tuple[str, str]], limit: int) -> list[Any]:
    """Golden rows whose keys match, with the matched kinds, best first: one indexed SELECT.

    Each (kind, key) is an equality on the key table's primary key, so PostgreSQL probes the
    index (a bitmap OR for several keys) and SQLite does one index search per key.
    """
    import sqlalchemy as sa

    params: dict[str, Any] = {"limit": int(limit)}
    probes = []
    for i, (kind, key) in enumerate(keys):
        params[f"k{i}"], params[f"v{i}"] = kind, key
        probes.append(f"(kind = :k{i} AND key = :v{i})")
    golden = ", ".join(f"g.{name}" for name in CANONICAL_FIELDS)
    sql = (
        f"SELECT g.golden_id, {golden}, g.version, g.updated_at, m.hits, m.kinds "
        f"FROM (SELECT golden_id, count(DISTINCT kind) AS hits, {_kinds_expr(conn)} AS kinds "
        f"FROM {KEY_TABLE} WHERE {' OR '.join(probes)} GROUP BY golden_id) m "
        "JOIN golden_customer g ON g.golden_id = m.golden_id "
        "WHERE g.status = 'active' ORDER BY m.hits DESC, g.golden_id LIMIT :limit"
    )
    return list(conn.execute(sa.text(sql), params).all())


def _kinds_expr(conn: sa.Connection) -> str:
    if conn.dialect.name == "postgresql":
        return "string_agg(DISTINCT kind, ',')"
    return "group_concat(DISTINCT kind)"


def _sources(conn: sa.Connection, golden_ids: Sequence[str]) -> dict[str, list[SourceView]]:
    """Every source record of `golden_ids` (customer_xref's golden_id index): one SELECT."""
    import sqlalchemy as sa

    values = ", ".join(f"r.{name}" for name in CANONICAL_FIELDS)
    query = sa.text(
        f"SELECT x.golden_id, x.source, x.stream, x.source_id, r.deleted, {values} "
        "FROM customer_xref x JOIN source_record r ON r.id = x.record_id "
        "WHERE x.golden_id IN :ids ORDER BY x.golden_id, x.source, x.stream, x.source_id"
    ).bindparams(sa.bindparam("ids", expanding=True))
    out: dict[str, list[SourceView]] = {}
    for row in conn.execute(query, {"ids": list(golden_ids)}):
        out.setdefault(row[0], []).append(
            SourceView(
                source=row[1],
                stream=row[2],
                source_id=row[3],
                deleted=bool(row[4]),
                fields=dict(zip(CANONICAL_FIELDS, row[5:], strict=True)),
            )
        )
    return out


# --- keys ------------------------------------------------------------------------------------


def lookup_keys(values: pd.DataFrame, *, default_region: str = "US") -> pl.DataFrame:
    """The distinct (golden_id, kind, key) rows of `values`, a whole column at a time.

    Args:
        values: one row per golden record or source record, columns golden_id, first_name,
            last_name, email, phone (raw texts, None when missing).
        default_region: region of national phone numbers (the hub's matching setting).

    Returns:
        A polars frame golden_id, kind, key without nulls or duplicates.
    """
    import polars as pl

    from crmhub.matching.normalize import (
        canonical_first_name,
        normalize_email,
        normalize_name_columns,
        normalize_phone,
    )
    from crmhub.matching.normalize_core import to_polars

    ids = to_polars(values["golden_id"])
    phone = to_polars(normalize_phone(values["phone"], default_region=default_region))
    email = to_polars(normalize_email(values["email"]))
    first, last = normalize_name_columns(values["first_name"], values["last_name"])
    given = to_polars(first).str.split_exact(" ", 1).struct.field("field_0")
    formal = to_polars(canonical_first_name(given.to_pandas(use_pyarrow_extension_array=False)))
    name = pl.select(pl.concat_str(pl.lit(formal), pl.lit(to_polars(last)), separator=" "))
    frames = [
        pl.DataFrame({"golden_id": ids, "key": key}).select(
            "golden_id", pl.lit(kind).alias("kind"), "key"
        )
        for kind, key in (("phone", phone), ("email", email), ("name", name.to_series()))
    ]
    return pl.concat(frames).drop_nulls().unique(maintain_order=True)


def refresh_lookup_keys(
    conn: sa.Connection,
    golden_ids: Sequence[str] | None = None,
    *,
    default_region: str = "US",
) -> int:
    """Recompute the lookup keys of `golden_ids` (None: every customer); returns keys written.

    Call it in the transaction that changed the golden records, with every id the change
    touched: created, updated, merged survivors and retired ids (their keys are dropped, only
    active customers get keys), and ids whose source records moved. Keys come from the golden
    record and all its source records, normalised column-wise; they are written with COPY on
    PostgreSQL and executemany on SQLite.

    The first call on an empty key table refreshes every customer whatever `golden_ids` says,
    so the sync after the upgrade to migration 0004 fills the table for the existing DB.
    """
    if golden_ids is not None and not _has_keys(conn):
        golden_ids = None
    if golden_ids is None:
        conn.exec_driver_sql(f"DELETE FROM {KEY_TABLE}")
        where = ""
    else:
        ids = sorted(set(golden_ids))
        if not ids:
            return 0
        _fill_ids(conn, ids)
        conn.exec_driver_sql(
            f"DELETE FROM {KEY_TABLE} WHERE golden_id IN (SELECT golden_id FROM {_IDS})"
        )
        where = f" AND g.golden_id IN (SELECT golden_id FROM {_IDS})"
    import polars as pl

    frames = [lookup_keys(chunk, default_region=default_region) for chunk in _values(conn, where)]
    if not frames:
        return 0
    # in key order, so the primary key index fills left to right instead of at random places
    keys = pl.concat(frames).unique().sort("kind", "key", "golden_id")
    _insert_keys(conn, keys)
    return keys.height


def _has_keys(conn: sa.Connection) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {KEY_TABLE} LIMIT 1").first() is not None


def _values(conn: sa.Connection, where: str) -> Iterator[pd.DataFrame]:
    """Raw key fields of the active golden records in `where` and of their source records.

    Read in chunks through a server-side cursor on PostgreSQL, so a full refresh never holds
    every row in memory.
    """
    import pandas as pd

    member_columns = ", ".join(f"r.{name}" for name in _VALUE_COLUMNS)
    sql = (
        f"SELECT g.golden_id, {', '.join(f'g.{name}' for name in _VALUE_COLUMNS)} "
        f"FROM golden_customer g WHERE g.status = 'active'{where} "
        f"UNION ALL SELECT g.golden_id, {member_columns} FROM golden_customer g "
        "JOIN customer_xref x ON x.golden_id = g.golden_id "
        f"JOIN source_record r ON r.id = x.record_id WHERE g.status = 'active'{where}"
    )
    # plain DBAPI tuples: building a frame from SQLAlchemy rows costs more than normalising it
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="crmhub_lookup_values")  # type: ignore[union-attr]
    else:
        cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_CHUNK):
            yield pd.DataFrame.from_records(rows, columns=["golden_id", *_VALUE_COLUMNS])
    finally:
        cursor.close()


def _fill_ids(conn: sa.Connection, ids: list[str]) -> None:
    """The golden ids of a partial refresh in a temporary table, to join instead of IN lists."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_IDS}")
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {_IDS} (golden_id varchar(32) PRIMARY KEY) ON COMMIT DROP"
        )
        dbapi = conn.connection.driver_connection
        with (
            dbapi.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY {_IDS} (golden_id) FROM STDIN") as copy,
        ):
            for golden_id in ids:
                copy.write_row((golden_id,))
        conn.exec_driver_sql(f"ANALYZE {_IDS}")
        return
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {_IDS} (golden_id TEXT PRIMARY KEY)")
    conn.exec_driver_sql(f"DELETE FROM {_IDS}")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {_IDS} VALUES (?)", [(g,) for g in ids])
    cursor.close()


def _insert_keys(conn: sa.Connection, keys: pl.DataFrame) -> None:
    if keys.is_empty():
        return
    into = f"{KEY_TABLE} (golden_id, kind, key)"
    frame = keys.select("golden_id", "kind", "key")
    if conn.dialect.name == "postgresql":
        from crmhub.golden_record.bulk import _copy_rows

        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cursor:  # type: ignore[union-attr]
            _copy_rows(cursor, into, frame)
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT INTO {into} VALUES (?, ?, ?)", frame.iter_rows())
    finally:
        cursor.close()
