"""What other applications need to read the golden-record DB: id resolution and a reader login.

Apps keep golden ids; a merge retires one of them. `resolve_golden_id` follows the public
`golden_id_map` view, so a stored id always leads to the customer it became. `grant_reader`
creates the PostgreSQL login such apps should use: it can SELECT the public views and nothing
else, so billing or a call-centre screen can never write to, or depend on, the hub's tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crmhub.errors import CrmhubError

if TYPE_CHECKING:
    from psycopg import Cursor

PUBLIC_VIEWS: tuple[str, ...] = (
    "golden_customers",
    "customer_sources",
    "customer_360",
    "golden_history",
    "golden_id_map",
)
"""The documented views other applications read; a reader login may SELECT these only."""

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""Lower-case unquoted PostgreSQL identifiers: usable as-is in connection strings and psql."""

_MAX_CHAIN = 64


class ReaderError(CrmhubError):
    """A golden id or a reader login request that cannot be served; the message says why."""


@dataclass(frozen=True)
class ReaderGrant:
    """What `grant_reader` did, for the CLI to report."""

    name: str
    schema: str
    created: bool
    views: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def resolve_golden_id(engine: sa.Engine, golden_id: str) -> str | None:
    """The active golden id `golden_id` resolves to now (itself when it is active).

    None when no golden record ever had this id, or when its merge chain ends at no active
    record (which crmhub never writes; see `merge_chain` to tell the two apart).
    """
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT active_golden_id FROM golden_id_map WHERE golden_id = :g"),
            {"g": golden_id},
        ).scalar_one_or_none()


def merge_chain(engine: sa.Engine, golden_id: str) -> list[str]:
    """`golden_id` and every id it was merged into, in order; empty when the id is unknown.

    Read from the `golden_id_map` view like an app would; a cycle or an over-long chain (never
    written by crmhub) ends the walk instead of looping.
    """
    chain: list[str] = []
    query = sa.text("SELECT merged_into FROM golden_id_map WHERE golden_id = :g")
    with engine.connect() as conn:
        current: str | None = golden_id
        while current is not None and current not in chain and len(chain) <= _MAX_CHAIN:
            row = conn.execute(query, {"g": current}).one_or_none()
            if row is None:
                break
            chain.append(current)
            current = row.merged_into
    return chain


def grant_reader(engine: sa.Engine, name: str, password: str) -> ReaderGrant:
    """Create or update PostgreSQL login `name` that can SELECT the public views, nothing else.

    Runs in one transaction and checks the result before committing: the role must be able to
    read every public view and must hold no privilege on any table or sequence of the hub's
    schema, nor CREATE on it; otherwise nothing is changed. The password is sent as a SCRAM
    verifier computed by libpq (like psql's ``\\password``), so the clear text never reaches
    the server or its statement log.

    Raises:
        ReaderError: SQLite, an invalid name, an existing role that is more than a reader, a
            missing view, or a privilege the database user lacks.
    """
    if engine.dialect.name == "sqlite":
        raise ReaderError(
            "SQLite has no logins; give the reading application read-only access to the "
            "database file instead (e.g. open it with sqlite:///file:crmhub.db?mode=ro&uri=true)"
        )
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        raise ReaderError(
            f"reader logins need PostgreSQL through psycopg, not {engine.dialect.name}"
            f"+{engine.dialect.driver}"
        )
    check_role_name(name)
    if not password:
        raise ReaderError(f"give role {name} a non-empty password")
    import psycopg

    try:
        with engine.begin() as conn:
            return _grant(conn, name, password)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReaderError(f"cannot set up reader role {name}: {first}") from None
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0]
        raise ReaderError(f"cannot set up reader role {name}: {first}") from None


def check_role_name(name: str) -> None:
    """Refuse names that would need quoting or that PostgreSQL reserves, before any SQL."""
    if not ROLE_NAME.fullmatch(name):
        raise ReaderError(
            f"invalid role name {name!r}: use lower-case letters, digits (not first) and _, "
            "at most 63 characters"
        )
    if name.startswith("pg_") or name in ("public", "none", "current_user", "session_user"):
        raise ReaderError(f"role name {name!r} is reserved by PostgreSQL")


def _grant(conn: sa.Connection, name: str, password: str) -> ReaderGrant:
    from psycopg import sql

    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    schema, database, me = _row(cursor, "SELECT current_schema(), current_database(), current_user")
    if schema is None:
        raise ReaderError("no schema in the search_path of the hub's connection")
    views = _views(cursor, schema)
    role = sql.Identifier(name)
    existing = _existing_role(cursor, name, me, schema)
    verifier = dbapi.pgconn.encrypt_password(password.encode(), name.encode()).decode()
    notes: list[str] = []
    if existing:
        cursor.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(verifier))
        )
    else:
        cursor.execute(
            sql.SQL(
                "CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
            ).format(role, sql.Literal(verifier))
        )
    target = sql.Identifier(schema)
    for statement in (
        "REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        "REVOKE CREATE ON SCHEMA {s} FROM {r}",
        "GRANT USAGE ON SCHEMA {s} TO {r}",
    ):
        cursor.execute(sql.SQL(statement).format(s=target, r=role))
    cursor.execute(
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier(schema, v) for v in views), role
        )
    )
    if _public_can_create(cursor, schema):
        # the pre-PostgreSQL-15 default on schema public: every role, readers too, may create
        cursor.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(target))
        notes.append(f"revoked CREATE on schema {schema} from PUBLIC (the old default)")
    if not _row(cursor, "SELECT has_database_privilege(%s, current_database(), 'CONNECT')", name)[
        0
    ]:
        cursor.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role)
        )
    # apps can then write SELECT * FROM customer_360 without knowing the hub's schema
    cursor.execute(
        sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path = {}").format(
            role, sql.Identifier(database), target
        )
    )
    _verify(cursor, name, schema, views)
    return ReaderGrant(name, schema, not existing, views, notes)


def _views(cursor: Cursor[Any], schema: str) -> tuple[str, ...]:
    found = {
        row[0]
        for row in cursor.execute(
            "SELECT viewname FROM pg_views WHERE schemaname = %s", (schema,)
        ).fetchall()
    }
    missing = [v for v in PUBLIC_VIEWS if v not in found]
    if missing:
        raise ReaderError(
            f"schema {schema} lacks the view(s) {', '.join(missing)}: run crmhub db upgrade first"
        )
    return PUBLIC_VIEWS


def _existing_role(cursor: Cursor[Any], name: str, me: str, schema: str) -> bool:
    """Whether `name` exists; refuse to touch a role that is, or could become, more than a reader.

    Updating (a new password, views added by an upgrade) is meant for a role this function
    created; turning an admin or an owner into a reader would break whatever uses it.
    """
    if name == me:
        raise ReaderError(f"role {name} is the user the hub connects as; choose another name")
    row = cursor.execute(
        "SELECT r.oid, r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
        "OR r.rolbypassrls, EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid), "
        "EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) "
        "OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspowner = r.oid) "
        "FROM pg_roles r WHERE r.rolname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return False
    _, powerful, member, owner = row
    if powerful or member or owner:
        what = "has admin attributes" if powerful else "is a member of other roles"
        what = "owns database objects" if owner else what
        raise ReaderError(
            f"role {name} already exists and {what}; a reader must not: choose a new name"
        )
    return True


def _public_can_create(cursor: Cursor[Any], schema: str) -> bool:
    query = (
        "SELECT EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a "
        "WHERE n.nspname = %s AND a.grantee = 0 AND a.privilege_type = 'CREATE')"
    )
    return bool(_row(cursor, query, schema)[0])


def _verify(cursor: Cursor[Any], name: str, schema: str, views: tuple[str, ...]) -> None:
    """Check the grants as PostgreSQL sees them; any excess privilege rolls everything back."""
    problems = [
        f"{relation} ({kind})"
        for relation, kind in cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %(s)s AND ("
            "(c.relkind IN ('r', 'p', 'f', 'm') AND ("
            "has_table_privilege(%(r)s, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,"
            "REFERENCES,TRIGGER') "
            "OR has_any_column_privilege(%(r)s, c.oid, 'SELECT,INSERT,UPDATE,REFERENCES'))) "
            "OR (c.relkind = 'S' AND has_sequence_privilege(%(r)s, c.oid, 'USAGE,SELECT,UPDATE')) "
            "OR (c.relkind = 'v' AND has_table_privilege(%(r)s, c.oid, "
            "'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')) "
            "OR (c.relkind = 'v' AND c.relname = ANY(%(v)s) "
            "AND NOT has_table_privilege(%(r)s, c.oid, 'SELECT')))",
            {"s": schema, "r": name, "v": list(views)},
        ).fetchall()
    ]
    can_create = _row(cursor, "SELECT has_schema_privilege(%s, %s, 'CREATE')", name, schema)[0]
    if can_create:
        problems.append(f"schema {schema} (CREATE)")
    if problems:
        raise ReaderError(
            f"role {name} would still have access beyond the views: {', '.join(problems)} "
            "(granted to PUBLIC?); nothing was changed"
        )


def _row(cursor: Cursor[Any], query: str, *params: Any) -> tuple[Any, ...]:
    """The one row of a catalogue query (these always return exactly one)."""
    row = cursor.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)
